"""``democratising.cpu.amp``: PyTorch's older spellings ``torch.cpu.amp.autocast`` and
``torch.cpu.amp.GradScaler``, the ``"cpu"`` forms of ``democratising.amp``'s."""

from __future__ import annotations

from ._amp_legacy import _LegacyAutocast
from .amp.grad_scaler import GradScaler as _GradScaler

__all__ = ["GradScaler", "autocast"]


class autocast(_LegacyAutocast):  # noqa: N801 - PyTorch's name
    """``torch.cpu.amp.autocast(enabled=True, dtype=torch.bfloat16, cache_enabled=True)``:
    ``autocast("cpu", ...)``."""

    _legacy_device = "cpu"


#: ``torch.cpu.amp.GradScaler(init_scale, growth_factor, backoff_factor, growth_interval,
#: enabled)``: ``democratising.amp``'s scaler itself, whose device defaults to the CPU.
GradScaler = _GradScaler
