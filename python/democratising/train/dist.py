"""Distributed awareness without a dependency: ``democratising.distributed`` is optional (it
needs mpi4py), so it is looked up lazily and its absence means a single process."""

from __future__ import annotations

from ..data import _world_info

__all__ = ["is_main_process", "world"]


def world() -> tuple[int, int]:
    """``(world_size, rank)``; ``(1, 0)`` unless ``democratising.distributed`` is initialised."""
    return _world_info() or (1, 0)


def is_main_process() -> bool:
    """Rank 0 is the one that logs, prints and writes checkpoints."""
    return world()[1] == 0
