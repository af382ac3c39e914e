"""Waiting on non-blocking MPI requests with a deadline.

A blocking MPI call whose peer died or skipped the collective hangs for ever. Every collective
here is started non-blocking and polled with ``Testall`` instead; when the deadline passes the
whole job is aborted (``COMM_WORLD.Abort``) with a message naming the operation, because MPI
offers no way to cancel a collective that the other ranks may still be inside."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, Optional

#: Seconds a collective may wait when neither ``World.init(timeout=)`` nor the environment says.
DEFAULT_TIMEOUT = 1800.0
TIMEOUT_ENV = "DEMOCRATISING_DIST_TIMEOUT"

# MPI only progresses a collective while its ranks are inside MPI calls, so a rank that sleeps
# stalls its peers too. Poll flat out briefly, then yield the core between polls (no added
# latency, but an oversubscribed peer can run), and only sleep once a wait has lasted long
# enough that a peer is clearly busy elsewhere (a slow rank, a checkpoint on rank 0).
_SPIN_SECONDS = 1e-3
_YIELD_SECONDS = 1.0
_SLEEP = 1e-3


def resolve_timeout(timeout: Optional[float]) -> float:
    """``timeout`` seconds, else ``$DEMOCRATISING_DIST_TIMEOUT``, else 30 minutes; ``<= 0`` or
    ``inf`` waits for ever."""
    if timeout is None:
        env = os.environ.get(TIMEOUT_ENV, "").strip()
        timeout = float(env) if env else DEFAULT_TIMEOUT
    timeout = float(timeout)
    return math.inf if timeout <= 0 else timeout


def abort(message: str, errorcode: int = 1) -> None:
    """Prints ``message`` and ends every rank of the job (never returns)."""
    from mpi4py import MPI

    sys.stdout.flush()
    sys.stderr.write(f"\n{message}\n")
    sys.stderr.flush()
    # The launcher forwards our output asynchronously and Abort kills every process at once:
    # give it a moment to drain the pipe, or the message naming the failure can be lost.
    time.sleep(0.5)
    MPI.COMM_WORLD.Abort(errorcode)


def wait_all(requests: Sequence[Any], what: str, timeout: float, rank: int, size: int) -> None:
    """Waits for every request; aborts the job when ``timeout`` seconds pass first."""
    from mpi4py import MPI

    reqs = [r for r in requests if r is not None]
    if not reqs or MPI.Request.Testall(reqs):
        return
    start = time.monotonic()
    deadline = start + timeout
    while not MPI.Request.Testall(reqs):
        now = time.monotonic()
        if now >= deadline:
            abort(
                f"democratising.distributed: {what} timed out after {timeout:g} s on rank "
                f"{rank} of {size}; aborting the job (another rank probably crashed, hung, or "
                f"did not call {what.split(' ')[0]}). Raise the limit with "
                f"World.init(timeout=...) or ${TIMEOUT_ENV}."
            )
        waited = now - start
        if waited > _YIELD_SECONDS:
            time.sleep(_SLEEP)
        elif waited > _SPIN_SECONDS:
            os.sched_yield()


def test_all(requests: Sequence[Any]) -> bool:
    """Drives MPI progress on in-flight requests without blocking (MPICH and Open MPI only
    progress non-blocking collectives from inside MPI calls)."""
    from mpi4py import MPI

    reqs = [r for r in requests if r is not None]
    return not reqs or bool(MPI.Request.Testall(reqs))
