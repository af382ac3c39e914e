"""CUDA devices and memory, PyTorch style: ``dm.cuda.is_available()``, ``device_count()``,
``get_memory_info(i)``, ``memory_allocated()``, ``memory_reserved()``, ``empty_cache()``,
``synchronize()``, and streams and events (``Stream``, ``Event``, ``stream()``; see
``_cuda_streams``).

Importing this module never needs CUDA: the driver is loaded on the first query, and on a
machine without one the queries answer ``False`` / ``0`` while calls that need a device
raise ``DeviceError`` saying why. Kernels are compiled at first use by NVRTC, found in a CUDA
toolkit or in the ``nvidia-cuda-nvrtc-cu12`` and ``nvidia-cuda-runtime-cu12`` wheels (whose
paths this module registers with the engine).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from . import _core
from ._core import Device
from .errors import ArgumentTypeError, DeviceError, InvalidValueError, OutOfMemoryError

__all__ = [
    "DeviceProperties",
    "Event",
    "MemoryInfo",
    "OutOfMemoryError",
    "Stream",
    "StreamContext",
    "current_device",
    "current_stream",
    "default_stream",
    "device",
    "device_count",
    "empty_cache",
    "get_device_name",
    "get_device_properties",
    "get_memory_info",
    "get_rng_state",
    "get_rng_state_all",
    "initial_seed",
    "is_available",
    "is_bf16_supported",
    "manual_seed",
    "manual_seed_all",
    "max_memory_allocated",
    "max_memory_reserved",
    "mem_get_info",
    "memory_allocated",
    "memory_reserved",
    "memory_stats",
    "reset_max_memory_allocated",
    "reset_peak_memory_stats",
    "seed",
    "seed_all",
    "set_device",
    "set_rng_state",
    "set_rng_state_all",
    "set_stream",
    "stream",
    "synchronize",
    "unavailable_reason",
]


def _nvidia_wheel_dir(name: str) -> Path | None:
    """``site-packages/nvidia/<name>`` of an installed NVIDIA wheel, without importing it."""
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        return None
    for root in (spec.submodule_search_locations or []) if spec else []:
        d = Path(root) / name
        if d.is_dir():
            return d
    return None


def _register_wheels() -> None:
    nvrtc = _nvidia_wheel_dir("cuda_nvrtc")
    runtime = _nvidia_wheel_dir("cuda_runtime")
    cublas = _nvidia_wheel_dir("cublas")
    lib = nvrtc / "lib" / "libnvrtc.so.12" if nvrtc else None
    include = runtime / "include" if runtime else None
    blas = cublas / "lib" if cublas else None
    _core._cuda_add_search_paths(
        str(lib) if lib and lib.is_file() else None,
        str(include) if include and include.is_dir() else None,
        str(blas) if blas and blas.is_dir() else None,
    )


_register_wheels()


def _index(device: int | str | Device | None) -> int:
    """The CUDA ordinal of ``device`` (None means device 0, the current one)."""
    if device is None:
        return 0
    if isinstance(device, bool):
        raise ArgumentTypeError(f"expected a CUDA device index, got {device!r}")
    if isinstance(device, int):
        if device < 0:
            raise InvalidValueError(f"CUDA device index must be >= 0, got {device}")
        return device
    d = device if isinstance(device, Device) else Device(device)
    if d.type != "cuda":
        raise InvalidValueError(f"expected a CUDA device, got {d}")
    return d.index or 0


def is_available() -> bool:
    """Whether at least one CUDA device can be used."""
    return _core._cuda_is_available()


def device_count() -> int:
    """The number of CUDA devices (0 without an NVIDIA driver)."""
    return _core._cuda_device_count()


def unavailable_reason() -> str | None:
    """Why CUDA cannot be used on this machine, or None when it can."""
    return _core._cuda_unavailable_reason()


class MemoryInfo(NamedTuple):
    """Free and total bytes of one device's memory (a tuple, as PyTorch's ``mem_get_info``,
    with the seed's ``.free`` / ``.total`` names)."""

    free: int
    total: int


def get_memory_info(device: int | str | Device | None = None) -> MemoryInfo:
    """``(free, total)`` bytes of device memory, from the driver."""
    return MemoryInfo(*_core._cuda_get_memory_info(_index(device)))


def memory_allocated(device: int | str | Device | None = None) -> int:
    """Bytes of device memory held by tensors (0 on a device never used)."""
    return _core._cuda_memory_allocated(_index(device))


def max_memory_allocated(device: int | str | Device | None = None) -> int:
    """The peak of :func:`memory_allocated`."""
    return _core._cuda_max_memory_allocated(_index(device))


def memory_reserved(device: int | str | Device | None = None) -> int:
    """Bytes obtained from the driver by the caching allocator: allocated plus cached."""
    return _core._cuda_memory_reserved(_index(device))


def max_memory_reserved(device: int | str | Device | None = None) -> int:
    """The peak of :func:`memory_reserved`."""
    return _core._cuda_max_memory_reserved(_index(device))


def reset_peak_memory_stats(device: int | str | Device | None = None) -> None:
    """Starts the peaks (:func:`max_memory_allocated`, :func:`max_memory_reserved`) again
    from the current values, to measure one phase of a program."""
    _core._cuda_reset_peak_memory_stats(_index(device))


def reset_max_memory_allocated(device: int | str | Device | None = None) -> None:
    """PyTorch's older spelling of :func:`reset_peak_memory_stats`."""
    reset_peak_memory_stats(device)


def memory_stats(device: int | str | Device | None = None) -> dict[str, int]:
    """The caching allocator's counters under PyTorch's key names (current and peak bytes
    held by tensors and obtained from the driver)."""
    i = _index(device)
    return {
        "allocated_bytes.all.current": _core._cuda_memory_allocated(i),
        "allocated_bytes.all.peak": _core._cuda_max_memory_allocated(i),
        "reserved_bytes.all.current": _core._cuda_memory_reserved(i),
        "reserved_bytes.all.peak": _core._cuda_max_memory_reserved(i),
    }


def mem_get_info(device: int | str | Device | None = None) -> tuple[int, int]:
    """``(free, total)`` bytes, as ``torch.cuda.mem_get_info`` (see :func:`get_memory_info`)."""
    return tuple(get_memory_info(device))  # type: ignore[return-value]


def empty_cache() -> None:
    """Returns cached, unused device memory to the driver (a no-op without CUDA)."""
    _core._cuda_empty_cache()


def synchronize(device: int | str | Device | None = None) -> None:
    """Waits for all work queued on ``device``; ``DeviceError`` without CUDA."""
    _core._cuda_synchronize(_index(device))


# ---- PyTorch's seeding and device-selection spellings ----------------------------------------
# One global generator serves every device here, so the CUDA seeding calls seed it.


def manual_seed(seed: int) -> None:
    """Seeds the global generator, which also drives random ops on CUDA tensors."""
    _core.manual_seed(int(seed))


def manual_seed_all(seed: int) -> None:
    """As :func:`manual_seed`: one generator serves all devices."""
    _core.manual_seed(int(seed))


def seed() -> None:
    """Seeds the global generator from the operating system's entropy."""
    _core.manual_seed(int.from_bytes(os.urandom(8), "little") >> 1)


seed_all = seed

_current_device = [0]


def current_device() -> int:
    """The index recorded by :func:`set_device` (0 by default)."""
    return _current_device[0]


def set_device(device: int | str | Device) -> None:
    """Records the default CUDA index; ``DeviceError`` if there is no such device. Tensors
    still go where ``.to()``/``device=`` send them (``"cuda"`` means device 0)."""
    _current_device[0] = _existing(device, "cannot select")


def _existing(device: int | str | Device | None, failed: str) -> int:
    """The index of ``device``; ``DeviceError`` ("``failed`` CUDA device i: why") when this
    machine has no such device."""
    index = _index(device)
    count = device_count()
    if not 0 <= index < count:
        reason = unavailable_reason() or f"{count} CUDA device(s)"
        raise DeviceError(f"{failed} CUDA device {index}: {reason}")
    return index


class device:  # noqa: N801 - PyTorch's name
    """``with dm.cuda.device(1):`` selects a CUDA index for the block (as :func:`set_device`)
    and restores the previous one after it; ``None`` or a negative index changes nothing."""

    def __init__(self, device: int | str | Device | None) -> None:
        self.idx = -1 if device is None else _index(device)
        self.prev = -1

    def __enter__(self) -> device:
        self.prev = current_device()
        if self.idx >= 0:
            set_device(self.idx)
        return self

    def __exit__(self, *exc: object) -> None:
        _current_device[0] = self.prev


def initial_seed() -> int:
    """The seed of the one generator that serves every device (:func:`dm.initial_seed`)."""
    from ._random_more import initial_seed as _initial_seed

    return _initial_seed()


def get_rng_state(device: int | str | Device = "cuda") -> _core.Tensor:
    """The state of the one generator that serves every device (random tensors are drawn on
    the host and moved), as ``dm.get_rng_state()``."""
    del device
    from .random import get_rng_state as state

    return state()


def set_rng_state(new_state: _core.Tensor, device: int | str | Device = "cuda") -> None:
    """Restores a state from :func:`get_rng_state` (a tensor, or the older list of words)."""
    del device
    from .random import set_rng_state as restore

    restore(new_state)


def get_rng_state_all() -> list[_core.Tensor]:
    """One state per CUDA device (``torch.cuda.get_rng_state_all``, as checkpointing code
    saves it): each is the one generator's state, since it serves every device; ``[]``
    without a device."""
    return [get_rng_state(i) for i in range(device_count())]


def set_rng_state_all(new_states: Sequence[_core.Tensor]) -> None:
    """Restores states from :func:`get_rng_state_all` (the one generator takes the first; an
    empty list, saved on a machine without CUDA, changes nothing)."""
    for state in list(new_states)[:1]:
        set_rng_state(state)


def get_device_name(device: int | str | Device | None = None) -> str:
    """A readable name of a CUDA device (the driver's name is not exposed by the engine);
    ``DeviceError`` saying why when there is no such device, as PyTorch raises."""
    return f"CUDA device {_existing(device, 'no')}"


def is_bf16_supported(including_emulation: bool = True) -> bool:
    """bfloat16 works wherever CUDA does (the engine converts where the GPU lacks it)."""
    del including_emulation
    return is_available()


def _install_amp() -> None:
    """``democratising.cuda.amp`` (``torch.cuda.amp``) as a submodule of this module, and
    ``cuda.random`` (``torch.cuda.random``: the generator functions)."""
    import sys

    from . import _cuda_amp
    from ._module_paths import path_module

    sys.modules[__name__ + ".amp"] = _cuda_amp
    globals()["amp"] = _cuda_amp
    generator = (
        "get_rng_state",
        "get_rng_state_all",
        "set_rng_state",
        "set_rng_state_all",
        "manual_seed",
        "manual_seed_all",
        "seed",
        "seed_all",
        "initial_seed",
    )
    globals()["random"] = path_module(
        __name__ + ".random",
        {name: globals()[name] for name in generator},
        "PyTorch's ``torch.cuda.random`` path.",
    )


_install_amp()


class DeviceProperties(NamedTuple):
    """What ``get_device_properties`` can say: the device's name (as ``get_device_name``) and
    its total memory in bytes, from the driver."""

    name: str
    total_memory: int


def get_device_properties(device: int | str | Device | None = None) -> DeviceProperties:
    """``torch.cuda.get_device_properties(i)``: ``.name`` and ``.total_memory``; ``DeviceError``
    without CUDA."""
    index = _index(device)
    return DeviceProperties(get_device_name(index), get_memory_info(index).total)


# Streams and events (at the end: the module uses `_index` above).
from ._cuda_streams import (  # noqa: E402
    Event,
    Stream,
    StreamContext,
    current_stream,
    default_stream,
    set_stream,
    stream,
)
