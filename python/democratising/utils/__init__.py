"""``democratising.utils``: training utilities (gradient checkpointing)."""

from . import checkpoint

__all__ = ["checkpoint"]
