"""The random creation functions (``rand``, ``randn``, ``randint``, ``randperm``) with
PyTorch's ``generator=``: the draws come from that ``dm.Generator`` instead of the global
generator, so a seeded generator gives the same tensors whatever else consumed random
numbers. Without ``generator`` they are the engine's functions, called directly; ``randint``
and ``randperm`` also take PyTorch's ``requires_grad``/``layout``/``pin_memory`` (and
``randperm`` its ``dtype`` and ``device``), which the engine's functions lack; all four take
``out=``."""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional

from . import _core
from ._core import Tensor
from .errors import AutogradError, DTypeError, InvalidValueError

_CPU = _core.Device("cpu")


def _with_generator(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` taking the keyword-only ``generator=`` and ``out=`` as well."""

    @functools.wraps(fn)
    def draw(*args: Any, generator: Any = None, out: Optional[Tensor] = None, **kwargs: Any) -> Any:
        if out is not None:
            dtype = kwargs.pop("dtype", None)
            return _into(
                out,
                lambda d: draw(*args, generator=generator, dtype=d, **kwargs),
                dtype,
                fn.__name__,
            )
        if generator is None:
            return fn(*args, **kwargs)
        from ._tensor_more import _generator_scope  # (lazy: it imports the package's methods)

        with _generator_scope(generator, fn.__name__):
            return fn(*args, **kwargs)

    return draw


def _into(out: Tensor, make: Callable[[Any], Tensor], dtype: Any, name: str) -> Tensor:
    """PyTorch's ``out=``: the draw made in ``out``'s dtype and written into ``out`` (resized
    to the draw's shape), which is returned."""
    if dtype is not None and dtype != out.dtype:
        raise DTypeError(
            f"{name}: dtype {dtype} does not match dtype of out parameter ({out.dtype})"
        )
    if out.requires_grad:
        raise AutogradError(
            f"{name}(): functions with out=... arguments don't support automatic "
            "differentiation, but one of the arguments requires grad."
        )
    result = make(out.dtype).to(out.device)
    if tuple(out.shape) != tuple(result.shape):
        out.resize_(*result.shape)
    out.copy_(result)
    return out


rand = _with_generator(_core.rand)
randn = _with_generator(_core.randn)
_randint = _with_generator(_core.randint)
_randperm = _with_generator(_core.randperm)


def _finish(out: Tensor, requires_grad: bool) -> Tensor:
    # (an integer tensor asked to require grad raises the engine's error, as PyTorch's does)
    return out.requires_grad_() if requires_grad else out


#: The values each dtype holds, for ``randint``'s bounds (int64's the engine checks itself).
_RANGES = {
    "bool": (0, 1),
    "uint8": (0, 255),
    "int8": (-128, 127),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "float16": (-65504, 65504),
}


def check_randint_range(low: Any, high: Any, dtype: Any) -> None:
    """PyTorch's error for draws that ``dtype`` cannot hold (``randint(10, (2,),
    dtype=bool)``, ``randint(2**40, (2,), dtype=int32)``), which would otherwise wrap."""
    name = getattr(dtype, "name", None)
    if name not in _RANGES or not all(type(v) is int for v in (low, high)) or low >= high:
        return
    lo, hi = _RANGES[name]
    if low < lo:
        raise InvalidValueError(f"randint: from ({low}) is out of bounds for {name}")
    if high - 1 > hi:
        raise InvalidValueError(f"randint: to - 1 ({high - 1}) is out of bounds for {name}")


def _randint_bounds(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """``(low, high)`` of a ``randint`` call: ``(high, size)`` or ``(low, high, size)``,
    positionally or by keyword (``None`` where the call does not say)."""
    nums = list(args if kwargs.get("size") is not None else args[:-1])
    low, high = kwargs.get("low"), kwargs.get("high")
    if high is None and low is None:
        if len(nums) == 1:
            low, high = 0, nums[0]
        elif len(nums) == 2:
            low, high = nums
    elif high is None:
        high = nums[0] if len(nums) == 1 else None
    elif low is None:
        low = nums[0] if len(nums) == 1 else 0
    return low, high


@functools.wraps(_core.randint)
def randint(
    *args: Any,
    generator: Any = None,
    out: Optional[Tensor] = None,
    requires_grad: bool = False,
    layout: Any = None,
    pin_memory: bool = False,
    **kwargs: Any,
) -> Tensor:
    del layout, pin_memory  # (strided, the only layout; pinning is the allocator's business)
    dtype = kwargs.get("dtype") if out is None else (kwargs.get("dtype") or out.dtype)
    if dtype is not None:
        check_randint_range(*_randint_bounds(args, kwargs), dtype)
    if out is not None:
        dtype = kwargs.pop("dtype", None)
        return _into(
            out, lambda d: _randint(*args, generator=generator, dtype=d, **kwargs), dtype, "randint"
        )
    return _finish(_randint(*args, generator=generator, **kwargs), requires_grad)


#: dtype name -> the largest ``n`` whose permutation it holds exactly (PyTorch's limits; it
#: checks no bfloat16 limit).
_PERM_LIMITS = {
    "float16": 2049,
    "float32": 2**24 + 1,
    "float64": 2**53 + 1,
    "uint8": 2**8,
    "int8": 2**7,
    "int16": 2**15,
    "int32": 2**31,
}


def check_randperm_dtype(n: int, dtype: Any) -> None:
    """PyTorch's refusals of a ``randperm`` dtype: bool, and a dtype that cannot hold
    ``0..n-1`` exactly (``randperm(5000, dtype=float16)`` would repeat values)."""
    name = getattr(dtype, "name", None)
    if name == "bool":
        raise DTypeError('"randperm" not implemented for bool')
    limit = _PERM_LIMITS.get(name)  # type: ignore[arg-type]
    if limit is not None and n > limit:
        raise InvalidValueError(f"randperm: n cannot be greater than {limit} for {name}")


def randperm(
    n: int,
    *,
    generator: Any = None,
    out: Optional[Tensor] = None,
    dtype: Optional[_core.dtype] = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    """A random permutation of ``0..n-1``, int64 unless ``dtype`` says otherwise, with
    PyTorch's keywords (``torch.randperm(n, dtype=torch.int32, device=...)``)."""
    del layout, pin_memory  # (strided, the only layout; pinning is the allocator's business)
    if out is not None:
        return _into(out, lambda d: randperm(n, generator=generator, dtype=d), dtype, "randperm")
    if dtype is not None:
        check_randperm_dtype(n, dtype)
    perm = _randperm(n, generator=generator)
    if dtype is not None and dtype != perm.dtype:
        perm = perm.to(dtype)
    if device is None:
        device = _core.get_default_device()  # (the CPU unless `set_default_device` changed it)
    if device != _CPU:
        perm = perm.to(device)
    return _finish(perm, requires_grad)
