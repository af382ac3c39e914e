"""``democratising.accelerator``: PyTorch's device-agnostic queries. The only accelerator
this engine drives is CUDA, so these answer from ``democratising.cuda``."""

from __future__ import annotations

from typing import Any, Optional

from . import cuda
from ._core import Device

__all__ = [
    "current_accelerator",
    "current_device_index",
    "device_count",
    "is_available",
    "set_device_index",
    "synchronize",
]

_current = [0]


def is_available() -> bool:
    """Whether an accelerator (a usable CUDA device) is present."""
    return cuda.is_available()


def current_accelerator(check_available: bool = False) -> Optional[Device]:
    """``device("cuda")`` when CUDA is usable, else None (PyTorch's answer without an
    accelerator). ``check_available`` is accepted: the result is already checked."""
    del check_available
    return Device("cuda") if cuda.is_available() else None


def device_count() -> int:
    return cuda.device_count()


def current_device_index() -> int:
    return _current[0]


def set_device_index(device: Any) -> None:
    """Records the default device index (tensors still go where ``to()`` sends them)."""
    index = device if isinstance(device, int) else (Device(str(device)).index or 0)
    _current[0] = int(index)


set_device_idx = set_device_index


def synchronize(device: Any = None) -> None:
    """Waits for queued work on the accelerator; nothing to wait for without one."""
    if cuda.is_available():
        cuda.synchronize(device)
