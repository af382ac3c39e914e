"""A sane ceiling on ``RAYON_NUM_THREADS`` before the engine's thread pool starts.

Rayon reads the variable once, when its pool is first used, and starts that many threads: a
typo such as ``RAYON_NUM_THREADS=100000`` would start thousands of threads (and run out of
memory or ``can't start new thread``). More threads than a few per core never help a compute
pool, so a larger request is lowered to that ceiling with a warning. Imported by the package
before anything can touch the pool."""

from __future__ import annotations

import os
import warnings

#: Threads per available core beyond which a request is lowered.
PER_CORE_LIMIT = 4
ENV = "RAYON_NUM_THREADS"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def limit_requested_threads() -> None:
    """Lowers ``$RAYON_NUM_THREADS`` to ``PER_CORE_LIMIT`` x the cores this process may use."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return
    try:
        requested = int(raw)
    except ValueError:
        warnings.warn(
            f"{ENV}={raw!r} is not a whole number; ignoring it (one thread per core)",
            RuntimeWarning,
            stacklevel=3,
        )
        del os.environ[ENV]
        return
    ceiling = PER_CORE_LIMIT * _cores()
    if requested > ceiling:
        warnings.warn(
            f"{ENV}={requested} is more than {PER_CORE_LIMIT} threads per core on this "
            f"machine ({_cores()} cores); using {ceiling}",
            RuntimeWarning,
            stacklevel=3,
        )
        os.environ[ENV] = str(ceiling)


limit_requested_threads()
