"""``democratising.cpu``: PyTorch's ``torch.cpu`` (the CPU "device module": always available,
one device, nothing to synchronise) and its older ``torch.cpu.amp`` spellings."""

from __future__ import annotations

import sys

__all__ = ["current_device", "device_count", "is_available", "synchronize"]


def is_available() -> bool:
    """Always ``True``: the CPU is always there."""
    return True


def device_count() -> int:
    """One CPU device, as PyTorch counts it."""
    return 1


def current_device() -> str:
    """``"cpu"``, as ``torch.cpu.current_device()``."""
    return "cpu"


def synchronize(device: object = None) -> None:
    """Nothing to wait for: CPU work is done when the call that started it returns."""
    del device


def _install_amp() -> None:
    """``democratising.cpu.amp`` (``torch.cpu.amp``) as a submodule of this module."""
    from . import _cpu_amp

    sys.modules[__name__ + ".amp"] = _cpu_amp
    globals()["amp"] = _cpu_amp


_install_amp()
