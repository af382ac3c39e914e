"""What the other ranks are doing, told on a private duplicate of ``COMM_WORLD``.

Two kinds of tiny point-to-point notes, never sent on the fast path:

- **goodbye**: an ``atexit`` handler (registered by ``World.init()``) tells every peer that this
  rank is ending. ``sys.exit`` never reaches ``sys.excepthook``, so without it a rank that
  leaves early (any exit status) leaves its peers waiting the whole collective timeout. A rank
  that sees a goodbye while waiting keeps polling for a short grace period (the leaver may have
  finished this very collective an instant earlier) and then aborts the job naming the rank.
- **waiting**: a rank that has waited a while in collective #k of a communicator says so, so
  that when a collective times out the message names the ranks that never arrived.

All ranks of every ``World`` that takes part are ``COMM_WORLD`` ranks (``World.init()`` and the
worlds ``dup()`` makes from it), so one channel serves them all."""

from __future__ import annotations

import atexit
import time
from typing import Any, Optional

_BYE_TAG = 1
_WAITING_TAG = 2
#: How long a waiting rank keeps polling after a peer's goodbye before aborting the job.
GRACE_SECONDS = 2.0
#: How long ``goodbye`` lets its notes drain before the process goes on exiting.
_GOODBYE_DRAIN = 1.0


class Peers:
    """This rank's end of the channel."""

    def __init__(self, comm: Any, mpi: Any) -> None:
        self.comm = comm
        self.MPI = mpi
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        #: rank -> ``time.monotonic()`` when its goodbye was received
        self.left: dict[int, float] = {}
        #: rank -> its latest "waiting" note: (communicator key, collective number, what)
        self.waiting: dict[int, tuple[int, int, str]] = {}
        self._sends: list[tuple[Any, bytearray]] = []
        self._status = mpi.Status()
        self._said_goodbye = False

    def _send(self, payload: bytes, tag: int) -> None:
        for r in range(self.size):
            if r != self.rank and r not in self.left:
                buf = bytearray(payload)
                req = self.comm.Isend([buf, self.MPI.BYTE], dest=r, tag=tag)
                self._sends.append((req, buf))
        self._reap()

    def _reap(self) -> None:
        if self._sends:
            self._sends = [(q, b) for q, b in self._sends if not q.Test()]

    def poll(self) -> None:
        """Receives every note that has arrived."""
        mpi, st = self.MPI, self._status
        while self.comm.Iprobe(mpi.ANY_SOURCE, mpi.ANY_TAG, st):
            src, tag, n = st.Get_source(), st.Get_tag(), st.Get_count(mpi.BYTE)
            buf = bytearray(max(n, 1))
            self.comm.Recv([buf, n, mpi.BYTE], source=src, tag=tag)
            if tag == _BYE_TAG:
                self.left.setdefault(src, time.monotonic())
            elif tag == _WAITING_TAG:
                key, seq, what = buf[:n].decode("utf-8", "replace").split(" ", 2)
                self.waiting[src] = (int(key), int(seq), what)
        self._reap()

    def say_waiting(self, key: int, seq: int, what: str) -> None:
        """Tells the peers this rank has been waiting in collective ``seq`` of world ``key``."""
        self._send(f"{key} {seq} {what[:200]}".encode(), _WAITING_TAG)

    def waiting_in(self, key: int, seq: int) -> set[int]:
        """The peers whose latest note says they wait in collective ``seq`` of world ``key``."""
        return {r for r, (k, s, _) in self.waiting.items() if (k, s) == (key, seq)}

    def goodbye(self) -> None:
        """Tells every peer that this rank is ending (at exit; best effort, never raises)."""
        if self._said_goodbye:
            return
        self._said_goodbye = True
        try:
            if self.MPI.Is_finalized():
                return
            self.poll()  # do not write to ranks that have already gone
            self._send(b"", _BYE_TAG)
            deadline = time.monotonic() + _GOODBYE_DRAIN
            while self._sends and time.monotonic() < deadline:
                self._reap()
                time.sleep(1e-3)
        except Exception:
            pass


_peers: Optional[Peers] = None


def start(comm: Any, mpi: Any) -> Peers:
    """Opens the channel on ``comm`` (a duplicate of ``COMM_WORLD`` that nothing else uses) and
    registers the goodbye at exit."""
    global _peers
    _peers = Peers(comm, mpi)
    atexit.register(_peers.goodbye)
    return _peers


def current() -> Optional[Peers]:
    """The channel, once ``World.init()`` opened it (only with more than one rank)."""
    return _peers
