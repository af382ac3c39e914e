"""The constructor shared by PyTorch's older per-device ``autocast`` spellings
(``torch.cpu.amp.autocast`` and ``torch.cuda.amp.autocast``)."""

from __future__ import annotations

from typing import Callable, Optional

from . import _core
from .amp import autocast as _autocast


class _LegacyAutocast(_autocast):
    """``torch.<device>.amp.autocast(enabled, dtype, cache_enabled)``: ``autocast(device,
    ...)`` with the older spelling's argument order, one definition for every device."""

    #: The device the subclass's spelling names (``torch.cpu`` or ``torch.cuda``).
    _legacy_device = "cpu"

    def __init__(
        self,
        enabled: bool = True,
        dtype: Optional[_core.dtype] = None,
        cache_enabled: Optional[bool] = None,
    ) -> None:
        if self._legacy_enabled is not None:
            enabled = self._legacy_enabled(enabled)
        super().__init__(self._legacy_device, dtype, enabled, cache_enabled)

    #: ``enabled``, or False where the device cannot run here (a subclass says so; ``None``:
    #: the device always runs, and construction, once per step, pays no call for it).
    _legacy_enabled: Optional[Callable[[bool], bool]] = None
