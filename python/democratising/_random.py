"""The random creation functions (``rand``, ``randn``, ``randint``, ``randperm``) with
PyTorch's ``generator=``: the draws come from that ``dm.Generator`` instead of the global
generator, so a seeded generator gives the same tensors whatever else consumed random
numbers. Without ``generator`` they are the engine's functions, called directly."""

from __future__ import annotations

import functools
from typing import Any, Callable

from . import _core


def _with_generator(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` taking a keyword-only ``generator=`` as well."""

    @functools.wraps(fn)
    def draw(*args: Any, generator: Any = None, **kwargs: Any) -> Any:
        if generator is None:
            return fn(*args, **kwargs)
        from ._tensor_more import _generator_scope  # (lazy: it imports the package's methods)

        with _generator_scope(generator, fn.__name__):
            return fn(*args, **kwargs)

    return draw


rand = _with_generator(_core.rand)
randn = _with_generator(_core.randn)
randint = _with_generator(_core.randint)
randperm = _with_generator(_core.randperm)
