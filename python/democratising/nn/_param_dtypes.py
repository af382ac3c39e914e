"""PyTorch's dtype rule for a layer's parameters and statistics: the input's own dtype, or
float32 under a float16/bfloat16 input (mixed precision). A float64 input into a float32
norm layer is refused, as there, rather than quietly promoting everything after it."""

from __future__ import annotations

from typing import Optional

from .. import _core
from .._core import Tensor
from ..errors import DTypeError

_HALF = (_core.float16, _core.bfloat16)


def check_param_dtypes(op: str, input: Tensor, *params: Optional[Tensor]) -> None:
    """Raises ``DTypeError`` (also a RuntimeError) when a parameter breaks the rule."""
    dt = input.dtype
    if not dt.is_floating_point:
        return
    for p in params:
        if p is None or p.dtype == dt or (p.dtype == _core.float32 and dt in _HALF):
            continue
        raise DTypeError(
            f"{op}: expected a parameter of the input's dtype {dt}"
            f"{' (or float32)' if dt in _HALF else ''}, but found {p.dtype}; convert the "
            "input or the module (module.to(dtype))"
        )
