"""``democratising.cpu.amp``: PyTorch's older spellings ``torch.cpu.amp.autocast`` and
``torch.cpu.amp.GradScaler``, the ``"cpu"`` forms of ``democratising.amp``'s."""

from __future__ import annotations

from typing import Optional

from . import _core
from .amp import autocast as _autocast
from .amp.grad_scaler import GradScaler as _GradScaler

__all__ = ["GradScaler", "autocast"]


class autocast(_autocast):  # noqa: N801 - PyTorch's name
    """``torch.cpu.amp.autocast(enabled=True, dtype=torch.bfloat16, cache_enabled=True)``:
    ``autocast("cpu", ...)``."""

    def __init__(
        self,
        enabled: bool = True,
        dtype: Optional[_core.dtype] = None,
        cache_enabled: Optional[bool] = None,
    ) -> None:
        super().__init__("cpu", dtype, enabled, cache_enabled)


#: ``torch.cpu.amp.GradScaler(init_scale, growth_factor, backoff_factor, growth_interval,
#: enabled)``: ``democratising.amp``'s scaler itself, whose device defaults to the CPU.
GradScaler = _GradScaler
