"""``custom_fwd`` and ``custom_bwd``: decorators for the ``forward``/``backward`` of a custom
``autograd.Function`` under ``autocast`` (PyTorch's ``torch.amp.custom_fwd``/``custom_bwd``)."""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

from .. import _core
from .._core import Tensor
from ..errors import InvalidValueError
from .autocast_mode import _governs, _kind_of, autocast, get_autocast_dtype, is_autocast_enabled

__all__ = ["custom_bwd", "custom_fwd"]


def _check_device_type(device_type: object) -> None:
    if not isinstance(device_type, str):
        raise InvalidValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")


def _cast(value: Any, dtype: _core.dtype) -> Any:
    """``value`` with every floating tensor except float64 ones cast to ``dtype``, through
    lists, tuples and dicts (PyTorch's ``torch.amp.autocast_mode._cast``)."""
    if isinstance(value, Tensor):
        eligible = value.is_floating_point() and value.dtype != _core.float64
        return value.to(dtype) if eligible else value
    if isinstance(value, (str, bytes)):
        return value
    if isinstance(value, dict):
        return {_cast(k, dtype): _cast(v, dtype) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cast(v, dtype) for v in value)
    return value


def custom_fwd(
    fwd: Optional[Callable[..., Any]] = None,
    *,
    device_type: str,
    cast_inputs: Optional[_core.dtype] = None,
) -> Any:
    """Decorates a custom Function's ``forward``. Without ``cast_inputs`` it runs in the
    caller's autocast state; with ``cast_inputs``, inside an autocast region its floating
    inputs (not float64 ones) are cast to ``cast_inputs`` and it runs with autocast disabled.
    The state is stored on ``ctx`` for ``custom_bwd``."""
    _check_device_type(device_type)
    if fwd is None:
        return functools.partial(custom_fwd, device_type=device_type, cast_inputs=cast_inputs)

    @functools.wraps(fwd)
    def decorate_fwd(*args: Any, **kwargs: Any) -> Any:
        ctx = args[0]
        ctx._dtype = get_autocast_dtype()
        if cast_inputs is None:
            ctx._fwd_used_autocast = is_autocast_enabled()
            return fwd(*args, **kwargs)
        # The region of ``device_type`` decides, as PyTorch's: a "cuda" Function run on a
        # machine without CUDA sees no autocast there and casts nothing.
        in_autocast = is_autocast_enabled() and _governs(_kind_of(device_type))
        ctx._fwd_used_autocast = False
        if in_autocast:
            with autocast(device_type=device_type, enabled=False):
                return fwd(*_cast(args, cast_inputs), **_cast(kwargs, cast_inputs))
        return fwd(*args, **kwargs)

    return decorate_fwd


def custom_bwd(bwd: Optional[Callable[..., Any]] = None, *, device_type: str) -> Any:
    """Decorates a custom Function's ``backward`` so that it runs with the autocast state
    (enabled or not, and its dtype) that the ``custom_fwd``-decorated forward ran with."""
    _check_device_type(device_type)
    if bwd is None:
        return functools.partial(custom_bwd, device_type=device_type)

    @functools.wraps(bwd)
    def decorate_bwd(*args: Any, **kwargs: Any) -> Any:
        ctx = args[0]
        # The engine's one mode, restored as it was (not re-derived from `device_type`, which
        # would disable a "cuda" region on a machine without CUDA).
        with autocast(enabled=ctx._fwd_used_autocast, dtype=ctx._dtype):
            return bwd(*args, **kwargs)

    return decorate_bwd
