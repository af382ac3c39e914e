"""``democratising.amp``: mixed precision (``autocast``) and dynamic loss scaling
(``GradScaler``)."""

from .autocast_mode import (
    autocast,
    get_autocast_dtype,
    is_autocast_available,
    is_autocast_enabled,
)
from .grad_scaler import GradScaler

__all__ = [
    "GradScaler",
    "autocast",
    "get_autocast_dtype",
    "is_autocast_available",
    "is_autocast_enabled",
]

from .custom_autocast import custom_bwd, custom_fwd

__all__ += ["custom_bwd", "custom_fwd"]
