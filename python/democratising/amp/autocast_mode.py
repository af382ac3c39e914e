"""``autocast``: mixed-precision regions (a thread-local mode of the engine)."""

from __future__ import annotations

import copy
import functools
import threading
import warnings
from typing import Any, Callable, Optional, TypeVar

from .. import _core
from ..errors import DeviceError, DTypeError, InvalidValueError

F = TypeVar("F", bound=Callable[..., Any])

__all__ = [
    "autocast",
    "clear_autocast_cache",
    "get_autocast_cpu_dtype",
    "get_autocast_dtype",
    "get_autocast_gpu_dtype",
    "is_autocast_available",
    "is_autocast_cache_enabled",
    "is_autocast_cpu_enabled",
    "is_autocast_enabled",
    "set_autocast_cache_enabled",
    "set_autocast_cpu_dtype",
    "set_autocast_cpu_enabled",
    "set_autocast_dtype",
    "set_autocast_enabled",
]

#: PyTorch's default autocast dtype per device type (``torch.get_autocast_dtype``).
_DEVICE_DEFAULT_DTYPE = {"cpu": _core.bfloat16, "cuda": _core.float16}


class _Regions(threading.local):
    """This thread's open regions: per device kind, the dtype each one set (enabled or not),
    innermost last. The engine holds only the running dtype (``None`` when disabled), but
    ``get_autocast_dtype`` answers as PyTorch's: a disabled region keeps its dtype."""

    def __init__(self) -> None:
        self.dtypes: dict[str, list[_core.dtype]] = {"cpu": [], "cuda": []}
        #: ``set_autocast_dtype`` outside any region: the device's dtype from then on.
        self.defaults: dict[str, _core.dtype] = {}
        #: ``set_autocast_cache_enabled`` / a region's ``cache_enabled``.
        self.cache_enabled = True


_REGIONS = _Regions()


def _region_dtype(kind: str) -> _core.dtype:
    """The innermost open ``kind`` region's dtype, else the device's default."""
    regions = _REGIONS.dtypes[kind]
    return regions[-1] if regions else _default_dtype(kind)


def _default_dtype(kind: str) -> _core.dtype:
    """The device's dtype outside regions: ``set_autocast_dtype``'s, else PyTorch's."""
    return _REGIONS.defaults.get(kind, _DEVICE_DEFAULT_DTYPE[kind])


def _device_kind(device_type: str) -> Optional[str]:
    """``"cpu"``/``"cuda"`` for a device string such as ``"cuda:0"``, else ``None``."""
    kind, _, index = device_type.partition(":")
    if kind in _DEVICE_DEFAULT_DTYPE and (not index or index.isdigit()):
        return kind
    return None


def is_autocast_available(device_type: str) -> bool:
    """Whether ``autocast`` supports ``device_type`` (``torch.amp.is_autocast_available``):
    ``"cpu"`` and ``"cuda"``, the device types the engine runs on."""
    if not isinstance(device_type, str):
        raise InvalidValueError(f"Expected `device_type` of type `str`, got: `{type(device_type)}`")
    return _device_kind(device_type) is not None


class autocast:  # noqa: N801 - PyTorch's name
    """Inside the block matmul/linear/conv run in ``dtype`` (float16 or bfloat16, float32
    accumulation) while softmax, losses, norms and reductions run in float32.

    As ``torch.autocast(device_type, dtype=None, enabled=True, cache_enabled=None)``:
    ``dtype=None`` means the device's default (bfloat16 for ``"cpu"``, float16 for
    ``"cuda"``; float16 when no ``device_type`` is given, the seed's default); any other dtype
    warns and disables the region; ``"cuda"`` without CUDA warns and disables it, so a CUDA
    script runs on the CPU in float32 as under PyTorch. ``cache_enabled`` sets
    ``is_autocast_cache_enabled()`` inside the region and has no other effect (the engine
    keeps no cast-weight cache). The engine's mode covers every device:
    a ``"cpu"`` region also casts CUDA tensors' ops."""

    def __init__(
        self,
        device_type: Optional[str] = None,
        dtype: Optional[_core.dtype] = None,
        enabled: bool = True,
        cache_enabled: Optional[bool] = None,
    ) -> None:
        if isinstance(device_type, _core.dtype) and dtype is None:
            device_type, dtype = None, device_type  # the seed's `autocast(dm.bfloat16)`
        self._cache_enabled = cache_enabled
        self._prev_cache: list[bool] = []
        if device_type is not None and not is_autocast_available(device_type):
            raise DeviceError(f"User specified an unsupported autocast device_type '{device_type}'")
        kind = _device_kind(device_type) if device_type is not None else None
        self.device_type = device_type or "cpu"
        self._kind = kind or "cpu"
        if dtype is None:
            # PyTorch's: the device's current autocast dtype (an enclosing region's) when the
            # region is built; the seed's float16 when no device is named.
            dtype = _region_dtype(kind) if kind is not None else _core.float16
        elif not isinstance(dtype, _core.dtype):
            raise DTypeError(f"autocast dtype must be a dtype, got {type(dtype).__name__}")
        self.dtype = dtype
        #: A "cuda" region without CUDA governs no device here: the engine's one mode (which
        #: an enclosing "cpu" region may have set) is left as it is, as PyTorch's per-device
        #: state leaves CPU ops alone.
        self._sets_mode = not (kind == "cuda" and not _core._cuda_is_available())
        if enabled and kind == "cuda" and not _core._cuda_is_available():
            warnings.warn(
                "CUDA is not available or torch_xla is imported. Disabling autocast.",
                UserWarning,
                stacklevel=2,
            )
            enabled = False
        elif enabled and dtype not in (_core.float16, _core.bfloat16):
            name = (kind or "cpu").upper()
            warnings.warn(
                f"In {name} autocast, but the target dtype is not supported. Disabling "
                f"autocast.\n{name} Autocast only supports dtypes of bfloat16, float16 "
                f"currently (got {dtype}).",
                UserWarning,
                stacklevel=2,
            )
            enabled = False
        self.enabled = bool(enabled)
        self._prev: list[Optional[_core.dtype]] = []

    def __enter__(self) -> autocast:
        if self._sets_mode:
            self._prev.append(_core._set_autocast(self.dtype if self.enabled else None))
        else:
            self._prev.append(_core._get_autocast())
        _REGIONS.dtypes[self._kind].append(self.dtype)
        self._prev_cache.append(_REGIONS.cache_enabled)
        if self._cache_enabled is not None:
            _REGIONS.cache_enabled = bool(self._cache_enabled)
        return self

    def __exit__(self, *exc: object) -> None:
        _REGIONS.cache_enabled = self._prev_cache.pop()
        _REGIONS.dtypes[self._kind].pop()
        _core._set_autocast(self._prev.pop())

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            # A fresh region per call: threads and recursion never share the saved state.
            region = copy.copy(self)
            region._prev = []
            region._prev_cache = []
            with region:
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def is_autocast_enabled(device_type: Optional[str] = None) -> bool:
    """Whether ops run under autocast here (``torch.is_autocast_enabled(device_type)``). The
    engine has one mode for every device, so ``device_type`` is only checked."""
    if device_type is not None and not is_autocast_available(device_type):
        raise DeviceError(f"unsupported autocast device_type '{device_type}'")
    return _core._get_autocast() is not None


def get_autocast_dtype(device_type: Optional[str] = None) -> Optional[_core.dtype]:
    """The dtype autocast runs ops in. Without ``device_type``: ``None`` outside a region
    (the seed's query); with it, as ``torch.get_autocast_dtype``: the innermost open region's
    dtype for that device, even a disabled region's (``autocast(enabled=False)`` inherits the
    enclosing one's; ``autocast(dtype=float32)`` warns, disables and reports float32), else
    the dtype ops run in, else the device's default (bfloat16 for ``"cpu"``, float16 for
    ``"cuda"``)."""
    current = _core._get_autocast()
    if device_type is None:
        return current
    kind = _device_kind(device_type) if isinstance(device_type, str) else None
    if kind is None:
        raise DeviceError(f"unsupported autocast device_type '{device_type}'")
    regions = _REGIONS.dtypes[kind]
    if regions:
        return regions[-1]
    return current if current is not None else _default_dtype(kind)


def _kind_of(device_type: Any) -> str:
    kind = _device_kind(device_type) if isinstance(device_type, str) else None
    if kind is None:
        raise DeviceError(f"unsupported autocast device_type '{device_type}'")
    return kind


def _governs(kind: str) -> bool:
    """Whether ``kind``'s autocast state drives the engine's one mode: not "cuda" without
    CUDA (as ``autocast("cuda")`` there, it would otherwise cast the CPU's ops)."""
    return not (kind == "cuda" and not _core._cuda_is_available())


def set_autocast_enabled(device_type: Any, enabled: Optional[bool] = None) -> None:
    """Turns autocast on or off for this thread outside a region
    (``torch.set_autocast_enabled(device_type, enabled)``; the old one-argument form means
    "cuda"), in the device's current autocast dtype. "cuda" without CUDA changes nothing."""
    if isinstance(device_type, bool) and enabled is None:
        device_type, enabled = "cuda", device_type
    kind = _kind_of(device_type)
    if _governs(kind):
        _core._set_autocast(get_autocast_dtype(device_type) if enabled else None)


def set_autocast_dtype(device_type: str, dtype: _core.dtype) -> None:
    """Sets the dtype autocast casts to on ``device_type``
    (``torch.set_autocast_dtype``): the innermost open region's (until it closes), else the
    device's from now on; ops switch at once if autocast is on. The engine casts only to
    float16 or bfloat16, so any other dtype raises ``DTypeError``."""
    kind = _kind_of(device_type)
    if dtype not in (_core.float16, _core.bfloat16):
        raise DTypeError(f"autocast casts to float16 or bfloat16 only, got {dtype}")
    regions = _REGIONS.dtypes[kind]
    if regions:
        regions[-1] = dtype
    else:
        _REGIONS.defaults[kind] = dtype
    if _governs(kind) and _core._get_autocast() is not None:
        _core._set_autocast(dtype)


def is_autocast_cache_enabled() -> bool:
    """PyTorch's cast-weight cache flag (``set_autocast_cache_enabled``, a region's
    ``cache_enabled``). The engine caches no casts, so the flag changes no result."""
    return _REGIONS.cache_enabled


def set_autocast_cache_enabled(enabled: bool) -> None:
    _REGIONS.cache_enabled = bool(enabled)


def clear_autocast_cache() -> None:
    """Empties the cast-weight cache: the engine keeps none (each op casts its operands), so
    there is nothing to free."""


# ---- PyTorch's older per-device spellings (deprecated there, still used) ----------------------


def is_autocast_cpu_enabled() -> bool:
    """``torch.is_autocast_cpu_enabled()``: ``is_autocast_enabled("cpu")``."""
    return is_autocast_enabled("cpu")


def get_autocast_cpu_dtype() -> _core.dtype:
    """``torch.get_autocast_cpu_dtype()``: ``get_autocast_dtype("cpu")``."""
    return get_autocast_dtype("cpu")  # type: ignore[return-value]


def get_autocast_gpu_dtype() -> _core.dtype:
    """``torch.get_autocast_gpu_dtype()``: ``get_autocast_dtype("cuda")``."""
    return get_autocast_dtype("cuda")  # type: ignore[return-value]


def set_autocast_cpu_enabled(enabled: bool) -> None:
    """``torch.set_autocast_cpu_enabled(enabled)``: ``set_autocast_enabled("cpu", enabled)``."""
    set_autocast_enabled("cpu", enabled)


def set_autocast_cpu_dtype(dtype: _core.dtype) -> None:
    """``torch.set_autocast_cpu_dtype(dtype)``: ``set_autocast_dtype("cpu", dtype)``."""
    set_autocast_dtype("cpu", dtype)
