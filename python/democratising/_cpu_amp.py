"""``democratising.cpu.amp``: PyTorch's older spellings ``torch.cpu.amp.autocast`` and
``torch.cpu.amp.GradScaler``, the ``"cpu"`` forms of ``democratising.amp``'s."""

from __future__ import annotations

from typing import Any, Optional

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


class GradScaler(_GradScaler):
    """``torch.cpu.amp.GradScaler(...)``: the scaler of ``democratising.amp`` on the CPU."""

    def __init__(
        self,
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            init_scale, growth_factor, backoff_factor, growth_interval, enabled, device="cpu"
        )
