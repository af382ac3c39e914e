"""``democratising.version``: what PyTorch's ``torch.version`` tells an environment report
(``print(torch.version.cuda)``). ``cuda`` is the major.minor of the CUDA runtime package the
engine loads its GPU libraries from (``nvidia-cuda-runtime-cu12``), or ``None`` without one;
there is no ROCm build (``hip`` is ``None``)."""

from __future__ import annotations

from importlib import metadata
from typing import Optional

__all__ = ["__version__", "cuda", "debug", "git_version", "hip"]


def _cuda_runtime() -> Optional[str]:
    try:
        full = metadata.version("nvidia-cuda-runtime-cu12")
    except metadata.PackageNotFoundError:
        return None
    return ".".join(full.split(".")[:2])


def _engine_version() -> str:
    from . import __version__ as v

    return str(v)


__version__: str = _engine_version()
cuda: Optional[str] = _cuda_runtime()
hip: Optional[str] = None
debug: bool = False
git_version: str = "unknown"
