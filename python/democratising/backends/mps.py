"""``backends.mps``: Apple GPUs are not supported; both queries answer False."""

from __future__ import annotations


def is_available() -> bool:
    return False


def is_built() -> bool:
    return False
