"""``democratising.backends``: PyTorch's backend switches (``backends.cudnn.benchmark``,
``backends.cuda.matmul.allow_tf32``, ``backends.mps.is_available()``...) as settable flags.

Ported programs set these at start-up; here they are accepted and remembered but change
nothing: the engine has no cuDNN, TF32 or autotuning paths to switch (its kernels are
deterministic for a given device and thread count)."""

from . import cuda, cudnn, mkldnn, mps, openmp

__all__ = ["cuda", "cudnn", "mkldnn", "mps", "openmp"]
