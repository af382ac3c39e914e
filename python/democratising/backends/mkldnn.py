"""``backends.mkldnn``: oneDNN is not used (the engine's CPU kernels are its own), so
``is_available()`` answers False; ``enabled``, which ported programs set, is remembered and
changes nothing."""

from __future__ import annotations

enabled: bool = True


def is_available() -> bool:
    return False
