"""PyTorch's ``out=`` keyword for the free functions written in Python (``dm.cumsum(x, 0,
out=buf)``, ``dm.max(x, 1, out=(values, indices))``): code ported from PyTorch passes it, and
a ``TypeError`` for an unknown keyword would be the only difference. The function runs as
usual, then its result is written into ``out`` (resized to the result's shape) and ``out`` is
returned, with PyTorch's rules: the result's dtype must be castable to ``out``'s, and nothing
here is differentiable."""

from __future__ import annotations

import builtins
import functools
import inspect
from collections.abc import Callable
from typing import Any

from . import _core
from ._core import Tensor
from .errors import ArgumentTypeError, AutogradError, DeviceError, DTypeError

# The package-level functions that take ``out=`` in PyTorch and are Python functions here
# (the engine's free functions and ``_functional_ops``' forwarders handle a tensor ``out``
# already; ``max``/``min`` are listed for PyTorch's ``out=(values, indices)``).
OUT_NAMES: tuple[str, ...] = (
    # elementwise
    "frac", "sgn", "exp2", "sinh", "cosh", "deg2rad", "rad2deg", "fix", "signbit",
    "nan_to_num", "log10", "logit", "sinc", "isposinf", "isneginf", "fmod", "fmax", "fmin",
    "atan2", "arctan2", "copysign", "logaddexp", "logaddexp2", "hypot", "greater", "less",
    "xlogy", "nextafter", "float_power", "heaviside", "subtract", "multiply", "divide", "lerp",
    "where", "addcmul", "addcdiv", "clamp_min", "clamp_max", "ldexp", "bitwise_and",
    "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift", "bitwise_right_shift",
    "gcd", "lcm", "i0", "polygamma",
    # reductions and scans
    "prod", "nansum", "nanmean", "cumsum", "cumprod", "logcumsumexp", "quantile",
    "nanquantile", "norm", "max", "min", "sort", "topk", "kthvalue", "median", "nanmedian", "mode",
    "cummax", "cummin", "aminmax", "msort", "histc", "histogram", "diff", "renorm",
    # products
    "bmm", "mv", "outer", "ger", "addmm", "baddbmm", "addmv", "addr", "cross", "kron",
    "tensordot", "inner",
    # joins, selections and searches
    "hstack", "vstack", "dstack", "column_stack", "concat", "concatenate", "masked_select",
    "take", "take_along_dim", "tril", "triu", "diag", "searchsorted", "bucketize",
    "narrow_copy",
)  # fmt: skip

# The factories that take ``out=`` in PyTorch: ``out``'s dtype and device then rule (a
# ``dtype=`` that differs is an error), so ``dm.zeros(2, out=int_buf)`` makes int64 zeros.
FACTORY_OUT_NAMES: tuple[str, ...] = (
    "zeros", "ones", "empty", "full", "arange", "linspace", "logspace", "eye",
)  # fmt: skip


# The reductions and scans whose ``dtype=`` PyTorch takes from ``out`` when none is given:
# the input is cast first, so ``sum([1.5, 2.75], out=int64)`` is 1 + 2 = 3.
_DTYPE_FROM_OUT = frozenset({"sum", "prod", "nansum", "cumsum", "cumprod"})


def dtype_from_out(name: str, out: Any, kwargs: dict[str, Any]) -> None:
    """Sets ``kwargs["dtype"]`` to ``out``'s dtype for the functions that take it so."""
    if name in _DTYPE_FROM_OUT and isinstance(out, Tensor) and kwargs.get("dtype") is None:
        kwargs["dtype"] = out.dtype


def _refuse_grad(name: str, t: Tensor) -> None:
    """PyTorch's refusal of ``out=`` where the result would need a gradient."""
    if t.requires_grad and _core.is_grad_enabled():
        raise AutogradError(
            f"{name}(): functions with out=... arguments don't support automatic "
            "differentiation, but one of the arguments requires grad."
        )


def write(name: str, result: Any, out: Any) -> Tensor:
    """``result`` copied into the tensor ``out`` (resized when its shape differs)."""
    from ._functional_aliases import can_cast

    if not isinstance(out, Tensor):
        raise ArgumentTypeError(
            f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}"
        )
    if not isinstance(result, Tensor):  # a Python number (a 0-d result made plain)
        result = _core.full((), result, device=out.device)
    _refuse_grad(name, result)
    if not can_cast(result.dtype, out.dtype):
        raise DTypeError(
            f"result type {result.dtype} can't be cast to the desired output type {out.dtype}"
        )
    if tuple(out.shape) != tuple(result.shape):
        out.resize_(*result.shape)
    out.copy_(result.detach())
    return out


def with_out(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``fn`` taking a keyword ``out``: a tensor, or a tuple of tensors for a function that
    returns several (its named-tuple type is kept: ``r.values is out[0]``)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, out: Any = None, **kwargs: Any) -> Any:
        if out is None:
            return fn(*args, **kwargs)
        dtype_from_out(name, out, kwargs)
        result = fn(*args, **kwargs)
        if isinstance(result, tuple):
            if not isinstance(out, (tuple, list)) or len(out) != len(result):
                raise ArgumentTypeError(
                    f"{name}(): argument 'out' must be a tuple of {len(result)} Tensors, "
                    f"not {type(out).__name__}"
                )
            written = [write(name, r, o) for r, o in zip(result, out)]
            return type(result)(*written) if hasattr(result, "_fields") else tuple(written)
        return write(name, result, out)

    return _with_out_in_signature(wrapper, fn)


def _with_out_in_signature(wrapper: Callable[..., Any], fn: Callable[..., Any]) -> Any:
    """``wrapper`` showing ``fn``'s signature with a keyword-only ``out=None`` added (before
    any ``**kwargs``), so ``inspect.signature`` and help() list it."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return wrapper
    if "out" not in sig.parameters:
        params = list(sig.parameters.values())
        at = builtins.next(
            (i for i, p in enumerate(params) if p.kind is inspect.Parameter.VAR_KEYWORD),
            len(params),
        )
        params.insert(at, inspect.Parameter("out", inspect.Parameter.KEYWORD_ONLY, default=None))
        wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    return wrapper


def _factory_into(
    factory: Callable[..., Any], name: str, args: Any, kwargs: dict[str, Any], out: Any
) -> Tensor:
    """``factory(*args, **kwargs)`` made in ``out``'s dtype and on its device, then written
    into ``out`` (resized), with PyTorch's checks."""
    if not isinstance(out, Tensor):
        raise ArgumentTypeError(
            f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}"
        )
    dtype = kwargs.get("dtype")
    if dtype is not None:
        from ._tensor import _resolve_dtype

        if _resolve_dtype(dtype) != out.dtype:
            raise DTypeError(
                f"{name}(): dtype {dtype} does not match dtype of out parameter ({out.dtype})"
            )
    device = kwargs.get("device")
    if device is not None and _core.Device(str(device)).type != out.device.type:
        raise DeviceError(
            f"{name}(): device type {_core.Device(str(device)).type} does not match device "
            f"type of out parameter ({out.device.type})"
        )
    _refuse_grad(name, out)
    requires_grad = kwargs.pop("requires_grad", False)
    result = factory(*args, **{**kwargs, "dtype": out.dtype, "device": out.device})
    # (a leaf that requires grad, allowed under no_grad, comes out without it, as PyTorch's)
    out.requires_grad_(False)
    if tuple(out.shape) != tuple(result.shape):
        out.resize_(*result.shape)
    out.copy_(result)
    return out.requires_grad_() if requires_grad else out


def factory_with_out(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """The factory ``fn`` (``zeros``, ``arange``...) taking a keyword ``out``; without it,
    ``fn`` is called as is."""

    @functools.wraps(fn)
    def wrapper(*args: Any, out: Any = None, **kwargs: Any) -> Any:
        if out is None:
            return fn(*args, **kwargs)
        return _factory_into(fn, name, args, kwargs, out)

    return _with_out_in_signature(wrapper, fn)


def install(namespace: dict[str, Any]) -> None:
    """Replaces each of ``OUT_NAMES`` and ``FACTORY_OUT_NAMES`` in ``namespace`` (the
    package's) by its ``out=`` form."""
    for names, wrap in ((OUT_NAMES, with_out), (FACTORY_OUT_NAMES, factory_with_out)):
        for name in names:
            fn = namespace.get(name)
            if fn is not None and not getattr(fn, "_takes_out", False):
                wrapped = wrap(fn, name)
                wrapped._takes_out = True  # type: ignore[attr-defined]
                namespace[name] = wrapped
