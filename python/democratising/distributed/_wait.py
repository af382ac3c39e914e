"""Waiting on non-blocking MPI requests with a deadline.

A blocking MPI call whose peer died or skipped the collective hangs for ever. Every collective
here is started non-blocking and polled with ``Testall`` instead. The job is aborted
(``COMM_WORLD.Abort``), because MPI offers no way to cancel a collective that the other ranks
may still be inside, when the deadline passes (naming the ranks that never arrived) or when a
peer has said goodbye (``_peers``) and the collective still has not completed after a short
grace period (naming the rank that left). A collective that completes at once costs one
``Testall`` and nothing else."""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Optional

from .. import _launcher
from . import _peers

#: Seconds a collective may wait when neither ``World.init(timeout=)`` nor the environment says.
DEFAULT_TIMEOUT = _launcher.DEFAULT_TIMEOUT
TIMEOUT_ENV = _launcher.TIMEOUT_ENV

# MPI only progresses a collective while its ranks are inside MPI calls, so a rank that sleeps
# stalls its peers too. Poll flat out briefly, then yield the core between polls (no added
# latency, but an oversubscribed peer can run), and only sleep once a wait has lasted long
# enough that a peer is clearly busy elsewhere (a slow rank, a checkpoint on rank 0).
_SPIN_SECONDS = 1e-3
_YIELD_SECONDS = 1.0
_SLEEP = 1e-3
# How often a waiting rank reads its peers' notes (only once the spin phase is over).
_POLL_PEERS = 0.01


def _note_after(timeout: float) -> float:
    """How long a rank waits before telling its peers where it waits: the larger of 1 s and a
    tenth of the timeout, at most a third of it (3 minutes by default: rare in a healthy
    job, yet early enough to be reported when the timeout strikes)."""
    return min(max(1.0, timeout / 10), timeout / 3)


def resolve_timeout(timeout: Optional[float | timedelta]) -> float:
    """``timeout`` seconds (or a ``timedelta``, as PyTorch's ``init_process_group`` takes), else
    ``$DEMOCRATISING_DIST_TIMEOUT``, else 30 minutes; ``<= 0`` or ``inf`` waits for ever.
    Raises ``DistributedError`` for NaN or a variable that is not a number, naming it."""
    if isinstance(timeout, timedelta):
        timeout = timeout.total_seconds()
    if timeout is None:
        env = _launcher.env_timeout()
        return DEFAULT_TIMEOUT if env is None else env
    return _launcher.parse_timeout(timeout, "timeout")


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


def _ranks(rs: Sequence[int]) -> str:
    return ("rank " if len(rs) == 1 else "ranks ") + ", ".join(map(str, rs))


def _missing(peers: Optional[_peers.Peers], where: Any, rank: int, size: int) -> str:
    """Who never arrived at the collective ``where`` (from the peers' "waiting" notes)."""
    if peers is None or where is None:
        return ""
    key, seq, name = where
    peers.poll()
    here = peers.waiting_in(key, seq) | {rank}
    parts = []
    for r in range(size):
        if r in here:
            continue
        if r in peers.left:
            parts.append(f"rank {r} never arrived (it has exited)")
        elif r in peers.waiting:  # a note about another collective, maybe an old one
            parts.append(
                f"rank {r} never arrived (its last note: waiting in {peers.waiting[r][2]})"
            )
        else:
            parts.append(f"rank {r} never arrived")
    return (
        f"; collective #{seq} on {name!r}: {'; '.join(parts)} ({_ranks(sorted(here))} waited)"
        if parts
        else ""
    )


def wait_all(
    requests: Sequence[Any],
    what: str,
    timeout: float,
    rank: int,
    size: int,
    where: Optional[tuple[int, int, str]] = None,
) -> None:
    """Waits for every request; aborts the job when ``timeout`` seconds pass first, or when a
    peer has exited. ``where`` (world key, collective number, world name) identifies the
    collective in the notes exchanged with the peers."""
    from mpi4py import MPI

    reqs = [r for r in requests if r is not None]
    if not reqs or MPI.Request.Testall(reqs):
        return
    peers = _peers.current() if size > 1 and where is not None else None
    start = time.monotonic()
    deadline = start + timeout
    note_at = start + _note_after(timeout)
    next_poll = start + _SPIN_SECONDS
    while not MPI.Request.Testall(reqs):
        now = time.monotonic()
        if peers is not None and now >= next_poll:
            next_poll = now + _POLL_PEERS
            peers.poll()
            if now >= note_at and where is not None:  # (where is set whenever peers is)
                note_at = math.inf
                peers.say_waiting(where[0], where[1], what)
            if peers.left:
                gone = sorted(peers.left)
                if now >= max(start, min(peers.left.values())) + _peers.GRACE_SECONDS:
                    abort(
                        f"democratising.distributed: {_ranks(gone)} exited before joining "
                        f"{what} (rank {rank} of {size} waited {now - start:.1f} s); "
                        "aborting the job"
                    )
        if now >= deadline:
            abort(
                f"democratising.distributed: {what} timed out after {timeout:g} s on rank "
                f"{rank} of {size}{_missing(peers, where, rank, size)}; aborting the job "
                f"(another rank probably crashed, hung, or did not call "
                f"{what.split(' ')[0]}). Raise the limit with World.init(timeout=...) or "
                f"${TIMEOUT_ENV}."
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
