"""PyTorch's ``device=``/``dtype=`` constructor arguments and ``inplace=`` flags, shared by
the layers."""

from __future__ import annotations

from typing import Any

from .. import _core
from .._core import Tensor
from .._tensor_extra import _check_cast
from ..errors import DTypeError


def to_factory(module: Any, device: Any = None, dtype: Any = None) -> None:
    """Moves/converts a freshly built layer's parameters and floating buffers, as PyTorch's
    ``factory_kwargs`` do (parameters are drawn in float32 on the CPU first, so a seed gives
    the same values whatever the target)."""
    if dtype is not None and not (isinstance(dtype, _core.dtype) and dtype.is_floating_point):
        # A DTypeError (a TypeError) as every other dtype mistake, so one except catches them.
        raise DTypeError(f"layers take floating-point dtypes only, got {dtype!r}")
    kwargs = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
    if kwargs:
        module.to(**kwargs)


def inplace_result(x: Tensor, out: Tensor, inplace: bool) -> Tensor:
    """``out``, written into ``x`` (and ``x`` returned) when ``inplace`` asks for it, as
    PyTorch's ``inplace=True`` layers do. When autograd records through ``x`` the result
    stays a new tensor: the values are the same, and the engine's graph keeps what backward
    needs (PyTorch would modify ``x`` there too, which only differs for code that reads
    ``x`` again afterwards expecting the activation)."""
    if not inplace or (x.requires_grad and _core.is_grad_enabled()):
        return out
    # A float result never goes into an integer tensor (F.silu(int64, inplace=True)).
    _check_cast(out, x)
    x.copy_(out)
    return x
