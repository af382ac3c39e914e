"""``backends.cudnn``: flags kept for PyTorch programs; the engine does not use cuDNN."""

from __future__ import annotations

#: Settable; no effect (no cuDNN here).
enabled: bool = True
#: Settable; no effect (no autotuner: kernels are chosen by shape, the same every run).
benchmark: bool = False
#: Settable; no effect (results are already reproducible for a device and thread count).
deterministic: bool = False
#: Settable; no effect (no TF32 convolutions).
allow_tf32: bool = True


def is_available() -> bool:
    """False: the engine's CUDA path does not use cuDNN."""
    return False


def version() -> None:
    """None: no cuDNN is loaded."""
    return None
