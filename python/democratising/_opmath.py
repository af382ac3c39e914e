"""Half-precision ops computed in float32 and rounded once, as PyTorch's "opmath": an op
written as several engine ops would otherwise round every intermediate to bfloat16/float16
(``F.selu`` of bfloat16 was 1 ulp off on 6% of the values, ``addcmul`` with a ``value`` lost
everything to cancellation). Only ``_core`` is imported here, so any module can use it."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Callable

from . import _core
from ._core import Tensor

_HALF = (_core.float16, _core.bfloat16)


def in_float32(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Runs ``fn`` on float32 copies of half-precision tensor arguments (positional or
    keyword) and casts its tensor results back to the arguments' promoted half type (casts are
    differentiable, so gradients flow in the input's dtype)."""

    def widen(a: Any) -> Any:
        return a.float() if isinstance(a, Tensor) and a.dtype in _HALF else a

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        operands = [*args, *kwargs.values()]
        half = next((a.dtype for a in operands if isinstance(a, Tensor) and a.dtype in _HALF), None)
        if half is None:
            return fn(*args, **kwargs)
        half = _promoted_half(operands, half)
        out = fn(*map(widen, args), **{k: widen(v) for k, v in kwargs.items()})
        return out if half is None else _cast_back(out, half)

    return run


def _promoted_half(args: Sequence[Any], half: Any) -> Any:
    """The half dtype the results of an op on the tensors among ``args`` are cast back to, by
    PyTorch's promotion (dimensioned tensors first, 0-d ones only raising the kind): ``None``
    when that gives float32 or float64 (a float32 argument, or float16 with bfloat16)."""
    tensors = [a for a in args if isinstance(a, Tensor)]
    if len(tensors) < 2:
        return half
    from ._functional_aliases import _combine, promote_types  # (lazy: it imports linalg)

    tiers: list[Any] = [None, None]  # dimensioned, 0-d
    for t in tensors:
        tier = 0 if t.ndim else 1
        tiers[tier] = t.dtype if tiers[tier] is None else promote_types(tiers[tier], t.dtype)
    out = _combine(tiers[0], tiers[1])
    return out if out in _HALF else None


def _cast_back(out: Any, dtype: Any) -> Any:
    if isinstance(out, Tensor):
        return out.to(dtype) if out.dtype == _core.float32 else out
    if isinstance(out, tuple):
        vals = [_cast_back(o, dtype) for o in out]
        return type(out)(*vals) if hasattr(out, "_fields") else tuple(vals)
    return out
