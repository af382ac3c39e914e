"""Abort the whole MPI job on an uncaught exception.

Without this a rank that dies leaves its peers blocked in the next collective until their
timeout. ``python -m mpi4py script.py`` does the same; ``World.init()`` installs this hook too,
so ``mpirun -n N python script.py`` and ``mpirun -n N democratising ...`` behave alike."""

from __future__ import annotations

import sys
import time
import traceback
from types import TracebackType
from typing import Any, Optional

_installed = False


def _abort_after(
    exc_type: type[BaseException],
    exc: BaseException,
    tb: Optional[TracebackType],
    previous: Any,
) -> None:
    from mpi4py import MPI

    try:
        previous(exc_type, exc, tb)
    except Exception:
        traceback.print_exception(exc_type, exc, tb)
    if issubclass(exc_type, SystemExit):
        return
    rank = MPI.COMM_WORLD.Get_rank()
    sys.stderr.write(
        f"democratising.distributed: uncaught {exc_type.__name__} on rank {rank}; "
        "aborting every rank of the job\n"
    )
    sys.stderr.flush()
    sys.stdout.flush()
    time.sleep(0.5)  # let the launcher forward the traceback before every process is killed
    MPI.COMM_WORLD.Abort(1)


def install_abort_on_exception() -> None:
    """Chains ``sys.excepthook`` to ``COMM_WORLD.Abort(1)`` (exceptions in other threads are
    left alone: a dying helper thread does not stop the main one)."""
    global _installed
    if _installed:
        return
    _installed = True
    prev_sys = sys.excepthook

    def sys_hook(
        exc_type: type[BaseException], exc: BaseException, tb: Optional[TracebackType]
    ) -> None:
        _abort_after(exc_type, exc, tb, prev_sys)

    sys.excepthook = sys_hook
