"""``democratising.linalg`` (also ``dm.linalg``): PyTorch's ``torch.linalg`` for real
matrices, batched over leading dimensions and differentiable.

The factorisations, inverses and solves run on NumPy's LAPACK on the CPU (float32 and
float64; float16/bfloat16 inputs compute in float32 and return their own dtype), with
backwards written in engine ops. CUDA tensors compute through the host: the matrices are
copied to the CPU, factorised there and the results copied back (the products, norms and
views run on the device). Errors: ``ShapeError`` for non-square or non-matrix inputs,
``DTypeError`` for integer ones, ``LinAlgError`` for singular (``inv``, ``solve``) or
non-positive-definite (``cholesky``) matrices. Complex tensors and the general (non-symmetric)
eigendecomposition are not provided."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Optional

from .._functional_ops import matmul  # type: ignore[attr-defined]
from ..errors import LinAlgError
from ._decompositions import cholesky, cholesky_ex, eigh, eigvalsh, qr, svd, svdvals
from ._norms import cond, matrix_norm, norm, vector_norm
from ._products import cross, diagonal, householder_product, matrix_power, multi_dot, vecdot
from ._solves import (
    det,
    inv,
    inv_ex,
    lstsq,
    matrix_rank,
    pinv,
    slogdet,
    solve,
    solve_triangular,
)

__all__ = [
    "LinAlgError",
    "cholesky",
    "cholesky_ex",
    "cond",
    "cross",
    "det",
    "diagonal",
    "eigh",
    "eigvalsh",
    "householder_product",
    "inv",
    "inv_ex",
    "lstsq",
    "matmul",
    "matrix_norm",
    "matrix_power",
    "matrix_rank",
    "multi_dot",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "solve_triangular",
    "svd",
    "svdvals",
    "vecdot",
    "vector_norm",
]

from . import _extras
from ._extras import *  # noqa: F403 - the names its __all__ lists

__all__ += _extras.__all__


def _input_keyword(fn: Callable[..., Any], second: Optional[str] = None) -> Callable[..., Any]:
    """``fn`` also taking its first argument as ``input=`` (and, given ``second``, its second
    as that keyword): the names PyTorch's bindings accept besides the documented ``A``
    (``torch.linalg.cholesky(input=A)``, ``torch.linalg.lstsq(input=A, b=B)``)."""
    first, *rest = inspect.signature(fn).parameters
    renames = {"input": first, **({second: rest[0]} if second else {})}

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        for alias, name in renames.items():
            if alias in kwargs and name not in kwargs:
                kwargs[name] = kwargs.pop(alias)
        return fn(*args, **kwargs)

    return call


for _name, _second in (
    ("norm", None),
    ("vector_norm", None),
    ("matrix_norm", None),
    ("cholesky", None),
    ("cholesky_ex", None),
    ("eigh", None),
    ("eigvalsh", None),
    ("pinv", None),
    ("matrix_rank", None),
    ("matrix_power", None),
    ("matrix_exp", None),
    ("cond", None),
    ("tensorinv", None),
    ("tensorsolve", None),
    ("solve_triangular", None),
    ("householder_product", None),
    ("lstsq", "b"),
):
    globals()[_name] = _input_keyword(globals()[_name], _second)
