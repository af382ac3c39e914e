"""PyTorch's top-level spellings of linear-algebra functions and their ``Tensor`` methods:
``dm.det``, ``dm.logdet``, ``dm.slogdet``, ``dm.inverse``, ``dm.cholesky``, ``dm.qr``,
``dm.svd``, ``dm.pinverse``, ``dm.matrix_power``, ``dm.cross``, ``dm.diagonal`` and
``dm.orgqr`` (with ``torch``'s older signatures where they differ from ``torch.linalg``),
and the same names as methods (``A.det()``, ``A.inverse()``, ``A.orgqr(tau)``, ...)."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from .._core import Tensor
from .._tensor_extra import _as_method
from ._decompositions import cholesky_legacy, qr_legacy, svd_legacy
from ._products import cross_legacy, diagonal_of, matrix_power, orgqr
from ._solves import det, inv, logdet, pinverse, slogdet


def inverse(input: Tensor) -> Tensor:
    """``torch.inverse``: ``linalg.inv``."""
    return inv(input)


def _input_first(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``fn`` with its first argument named ``input``, as torch's top-level spelling has it
    (``torch.det(input=A)``; ``torch.linalg.det`` keeps ``A``)."""

    def alias(input: Tensor, *args: Any, **kwargs: Any) -> Any:
        return fn(input, *args, **kwargs)

    first, *rest = inspect.signature(fn).parameters.values()
    alias.__signature__ = inspect.signature(fn).replace(  # type: ignore[attr-defined]
        parameters=[first.replace(name="input"), *rest]
    )
    alias.__doc__ = fn.__doc__
    return _named(alias, name)


def _named(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    fn.__name__ = fn.__qualname__ = name
    return fn


#: name -> function, as ``dm.<name>`` and ``Tensor.<name>``.
ALIASES: dict[str, Callable[..., Any]] = {
    "det": _input_first(det, "det"),
    "logdet": _input_first(logdet, "logdet"),
    "slogdet": _input_first(slogdet, "slogdet"),
    "inverse": inverse,
    "cholesky": _named(cholesky_legacy, "cholesky"),
    "qr": _named(qr_legacy, "qr"),
    "svd": _named(svd_legacy, "svd"),
    "pinverse": pinverse,
    "matrix_power": _input_first(matrix_power, "matrix_power"),
    "cross": _named(cross_legacy, "cross"),
    "diagonal": _input_first(diagonal_of, "diagonal"),
    "orgqr": orgqr,
}


def install(cls: type) -> None:
    """Adds the methods, unless the engine already defines one of that name."""
    for name, fn in ALIASES.items():
        if name not in vars(cls):
            setattr(cls, name, _as_method(fn))
