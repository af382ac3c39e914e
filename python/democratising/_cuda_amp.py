"""``democratising.cuda.amp``: PyTorch's older spellings ``torch.cuda.amp.autocast`` and
``torch.cuda.amp.GradScaler``. As in PyTorch, on a machine without CUDA both warn and
disable themselves, so a CUDA mixed-precision script runs on the CPU in float32."""

from __future__ import annotations

import warnings

from . import _core
from ._amp_legacy import _LegacyAutocast
from .amp.grad_scaler import GradScaler as _GradScaler

__all__ = ["GradScaler", "autocast"]


def _cuda_enabled(enabled: bool, message: str, stacklevel: int = 3) -> bool:
    """``enabled``, unless CUDA is not available: then ``False``, with PyTorch's warning
    ``message`` pointing at the caller's constructor call (``stacklevel`` frames up)."""
    if enabled and not _core._cuda_is_available():
        warnings.warn(message, UserWarning, stacklevel=stacklevel)
        return False
    return enabled


class autocast(_LegacyAutocast):  # noqa: N801 - PyTorch's name
    """``torch.cuda.amp.autocast(enabled=True, dtype=torch.float16, cache_enabled=True)``:
    ``autocast("cuda", ...)``; disabled, with a warning, when CUDA is not available."""

    _legacy_device = "cuda"

    @staticmethod
    def _legacy_enabled(enabled: bool) -> bool:
        return _cuda_enabled(
            enabled, "CUDA is not available or torch_xla is imported. Disabling autocast.", 4
        )


class GradScaler(_GradScaler):
    """``torch.cuda.amp.GradScaler(...)``: the scaler of ``democratising.amp``; disabled,
    with a warning, when CUDA is not available (then ``scale`` returns the loss unchanged and
    ``step`` just steps), as PyTorch's does."""

    def __init__(
        self,
        init_scale: float = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ) -> None:
        enabled = _cuda_enabled(
            enabled, "torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling."
        )
        super().__init__(
            init_scale, growth_factor, backoff_factor, growth_interval, enabled, device="cuda"
        )
