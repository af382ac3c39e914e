"""``backends.openmp``: the engine's CPU threads are a Rust (rayon) pool, not OpenMP, so the
query answers False; ``democratising.set_num_threads`` sets the pool's size."""

from __future__ import annotations


def is_available() -> bool:
    return False
