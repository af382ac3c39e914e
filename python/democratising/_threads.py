"""The engine's thread count, settled before its thread pool starts.

Rayon reads ``RAYON_NUM_THREADS`` once, when its pool is first used. Two things are fixed here,
on import, before anything can touch the pool:

* a sane ceiling: a typo such as ``RAYON_NUM_THREADS=100000`` would start thousands of
  threads, so a request beyond a few per core is lowered with a warning;
* MPI ranks sharing a node: each rank would start one thread per core and the node would run
  ranks x cores threads (measured: 4-6x slower steps). Under ``mpirun`` each rank defaults to
  ``cores on the node / ranks on the node`` (the local size that Open MPI and MPICH put in the
  environment), and an explicit count that oversubscribes the cores gets a warning.

``dm.set_num_threads`` changes the count later."""

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


#: Environment variables that hold the number of MPI ranks on this node (Open MPI, MPICH/Hydra
#: and Intel MPI, Slurm's PMI).
LOCAL_SIZE_VARS = ("OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "PMI_LOCAL_SIZE")


def local_ranks() -> int:
    """The number of MPI ranks on this node (1 outside MPI)."""
    for var in LOCAL_SIZE_VARS:
        raw = os.environ.get(var, "").strip()
        if raw.isdigit() and int(raw) > 0:
            return int(raw)
    return 1


def default_for_ranks() -> None:
    """Without ``RAYON_NUM_THREADS``, gives each of the node's MPI ranks its share of the cores;
    with it, warns when the ranks' threads together exceed the cores."""
    ranks, cores = local_ranks(), _cores()
    if ranks <= 1:
        return
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        os.environ[ENV] = str(max(1, cores // ranks))
        return
    # One thread is the fewest there is: more ranks than cores is the user's choice, and
    # unsetting the variable would change nothing.
    if raw.isdigit() and int(raw) > max(1, cores // ranks):
        warnings.warn(
            f"{ENV}={raw} with {ranks} MPI ranks on this node runs {int(raw) * ranks} threads "
            f"on {cores} cores; steps slow down when threads outnumber cores (unset it to give "
            f"each rank {max(1, cores // ranks)})",
            RuntimeWarning,
            stacklevel=3,
        )


def describe() -> str:
    """One line for logs: the engine's threads, and the MPI ranks sharing this node."""
    from . import _core

    line = f"{_core.get_num_threads()} threads"
    ranks = local_ranks()
    if ranks > 1:
        line += f" per rank ({ranks} ranks on this node, {_cores()} cores)"
    return line


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


#: The inter-op count a program set (``set_num_interop_threads``), once.
_INTEROP: list[int] = []


def get_num_interop_threads() -> int:
    """PyTorch's inter-op thread count: the one set, else one per available core. The engine
    runs ops one after another, each over its intra-op pool (``get_num_threads``), so the
    count is recorded for programs that read it back; it changes no computation."""
    return _INTEROP[0] if _INTEROP else _cores()


def set_num_interop_threads(num: int) -> None:
    """Sets the inter-op count, once per process (PyTorch's rule: a second call raises
    ``RuntimeError``); the count must be positive."""
    from .errors import InvalidValueError

    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise InvalidValueError(f"Expected positive number of threads, got {num!r}")
    if _INTEROP:
        raise RuntimeError(
            "Error: cannot set number of interop threads after parallel work has started or "
            "set_num_interop_threads called"
        )
    _INTEROP.append(num)


limit_requested_threads()
default_for_ranks()
