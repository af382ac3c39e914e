"""``World``: the MPI job as seen from one rank (mpi4py's ``COMM_WORLD``), with tensor
collectives that work in place on the tensors' memory and never wait past a timeout."""

from __future__ import annotations

import itertools
import pickle
import zlib
from datetime import timedelta
from typing import Any, Optional, Union

import numpy as np

from .. import _core, _ranks
from .._core import Tensor
from ..errors import ArgumentTypeError, DistributedError, DTypeError
from . import _buffers, _peers, _wait
from .reduce_op import ReduceOp

_current: Optional[World] = None
# Keys of the worlds duplicated from COMM_WORLD's: dup() is collective and called in the same
# order on every rank, so the same world has the same key everywhere.
_keys = itertools.count(1)


def _import_mpi() -> Any:
    try:
        from mpi4py import MPI
    except ImportError as e:  # pragma: no cover - exercised only without mpi4py
        raise DistributedError(
            "democratising.distributed needs mpi4py and an MPI library: "
            "`pip install mpi4py mpich` (or build mpi4py against your cluster's MPI, see "
            "docs/distributed.md)"
        ) from e
    return MPI


class World:
    """One rank's handle on the job. Build it with ``World.init()``; every collective must be
    called by every rank in the same order, as with MPI itself."""

    def __init__(
        self,
        comm: Any,
        timeout: Optional[float] = None,
        name: str = "world",
        key: Optional[int] = None,
    ) -> None:
        mpi = _import_mpi()
        self.comm = comm
        self.name = name
        self._timeout = _wait.resolve_timeout(timeout)
        # Worlds over COMM_WORLD and its duplicates get a key and number their collectives, so
        # that ranks can tell each other where they wait (see _peers); others (a user's own
        # sub-communicator) only get the timeout.
        self._key = key
        self._seq = 0
        self._parent: Optional[World] = None
        self._rank = comm.Get_rank()
        self._size = comm.Get_size()
        self._local: Optional[tuple[int, int]] = None
        self._dups: dict[str, World] = {}
        self._MPI = mpi

    # ---- construction ------------------------------------------------------------------------

    @classmethod
    def init(cls, timeout: Optional[Union[float, timedelta]] = None) -> World:
        """The world of ``COMM_WORLD`` (initialising MPI on first use; later calls return the
        same object, updating its timeout when one is given). ``timeout`` is the number of
        seconds (or a ``timedelta``) a collective may wait before the job is aborted (default
        30 minutes or ``$DEMOCRATISING_DIST_TIMEOUT``). With more than one rank an uncaught
        exception aborts the whole job, and so does a rank that exits while the others still
        wait in a collective (after a grace period of a few seconds), so no rank is left
        waiting for a dead peer. A bad ``timeout`` or ``$DEMOCRATISING_DIST_TIMEOUT`` raises
        ``DistributedError`` before MPI is initialised."""
        global _current
        seconds = _wait.resolve_timeout(timeout)
        mpi = _import_mpi()
        if _current is None:
            world = cls(mpi.COMM_WORLD, seconds, key=0)
            if world.size() > 1:
                from .. import _launcher

                _launcher.install_abort_hook()
                side, req = mpi.COMM_WORLD.Idup()
                world.wait(req, "World.init (duplicating COMM_WORLD)")
                _peers.start(side, mpi)
            _current = world
            # The layers below this package (data, amp, train) learn of the job from _ranks.
            _ranks.register(world)
        elif timeout is not None:
            _current.timeout = timeout
        return _current

    @classmethod
    def current(cls) -> Optional[World]:
        """The initialised world, or ``None`` before ``World.init()``."""
        return _current

    def dup(self, name: str) -> World:
        """A world over a duplicate communicator, so that (say) DDP's in-flight gradient
        reductions can never be matched against a user's collective. Collective on first
        call for each ``name``; later calls return the same world (MPI has a limited supply of
        communicators, and models built in a loop must not use them up)."""
        w = self._dups.get(name)
        if w is None:
            comm, req = self.comm.Idup()
            self.wait(req, f"dup ({name!r})")
            key = None if self._key is None else next(_keys)
            w = self._dups[name] = World(comm, self.timeout, name, key)
            w._local, w._parent = self._local, self
        return w

    @property
    def timeout(self) -> float:
        """Seconds a collective may wait before the job is aborted (shared with the worlds
        ``dup`` made from this one)."""
        return self._parent.timeout if self._parent is not None else self._timeout

    @timeout.setter
    def timeout(self, seconds: Optional[Union[float, timedelta]]) -> None:
        if self._parent is not None:
            self._parent.timeout = seconds
        else:
            self._timeout = _wait.resolve_timeout(seconds)

    # ---- topology ----------------------------------------------------------------------------

    def rank(self) -> int:
        return self._rank

    def size(self) -> int:
        return self._size

    def is_main(self) -> bool:
        """True on rank 0, the rank that usually logs and writes checkpoints."""
        return self._rank == 0

    def _local_info(self) -> tuple[int, int]:
        if self._local is None:
            node = self.comm.Split_type(self._MPI.COMM_TYPE_SHARED, key=self._rank)
            self._local = (node.Get_rank(), node.Get_size())
            node.Free()
        return self._local

    def local_rank(self) -> int:
        """This rank's index among the ranks on the same node (shared-memory split): the GPU
        to use on multi-GPU nodes. Collective on first call."""
        return self._local_info()[0]

    def local_size(self) -> int:
        """How many ranks share this node. Collective on first call."""
        return self._local_info()[1]

    # ---- plumbing ----------------------------------------------------------------------------

    def wait(self, requests: Any, what: str) -> None:
        """Waits for non-blocking requests, aborting the job after ``self.timeout`` seconds."""
        reqs = requests if isinstance(requests, (list, tuple)) else [requests]
        self._seq += 1
        where = None if self._key is None else (self._key, self._seq, self.name)
        _wait.wait_all(reqs, what, self.timeout, self._rank, self._size, where)

    def abort(self, message: str, errorcode: int = 1) -> None:
        """Prints ``message`` and ends every rank of the job."""
        _wait.abort(f"democratising.distributed (rank {self._rank}): {message}", errorcode)

    def any_rank(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any rank (a logical OR; collective):
        how ``GradScaler`` makes every rank skip the same steps. The flag travels in the
        agreement all-reduce itself, so a rank that called another collective raises
        ``DistributedError`` everywhere instead of corrupting memory, at no extra cost."""
        if self._size == 1:
            return bool(flag)
        return bool(self._agree("any_rank", 1 if flag else 0))

    def _all_reduce_array(self, arr: np.ndarray, op: ReduceOp, what: str) -> np.ndarray:
        mpi_op = op.mpi_op(is_bool=arr.dtype == np.bool_)
        if self._size > 1:
            self.wait(self.comm.Iallreduce(self._MPI.IN_PLACE, arr, op=mpi_op), what)
        return arr

    # ---- tensor collectives ------------------------------------------------------------------

    def barrier(self) -> None:
        """Returns once every rank has called it. It is the agreement all-reduce itself (an
        all-reduce synchronises like a barrier), so a rank in another collective makes every
        rank raise ``DistributedError`` rather than one of them returning early."""
        self._agree("barrier")

    def all_reduce(self, tensor: Tensor, op: Union[ReduceOp, str] = ReduceOp.Sum) -> Tensor:
        """Combines ``tensor`` across ranks in place (and returns it)."""
        _check_tensor(tensor, "all_reduce")
        op = ReduceOp.parse(op)
        _check_op_dtype(op, tensor)
        what = f"all_reduce ({op.name}, shape {tuple(tensor.shape)}, {tensor.dtype})"
        self._agree(what)
        arr, write_back = _buffers.staged(tensor)
        self._all_reduce_array(arr, op, what)
        if op is ReduceOp.Mean:
            np.multiply(arr, 1.0 / self._size, out=arr, casting="unsafe")
        if write_back is not None:
            write_back()
        return tensor

    def broadcast(self, tensor: Tensor, root: int = 0) -> Tensor:
        """Overwrites ``tensor`` on every rank with rank ``root``'s value (in place)."""
        _check_tensor(tensor, "broadcast")
        self._check_root(root)
        what = f"broadcast (root {root}, shape {tuple(tensor.shape)}, {tensor.dtype})"
        self._agree(what)
        arr, write_back = _buffers.staged(tensor)
        if self._size > 1:
            self.wait(self.comm.Ibcast(arr, root=root), what)
        if write_back is not None:
            write_back()
        return tensor

    def all_gather(self, tensor: Tensor, stack: bool = False) -> Union[list[Tensor], Tensor]:
        """Every rank's ``tensor`` (same shape and dtype on all ranks), as a list indexed by
        rank, or stacked along a new first dimension with ``stack=True``."""
        _check_tensor(tensor, "all_gather")
        what = f"all_gather (shape {tuple(tensor.shape)}, {tensor.dtype})"
        self._agree(what)
        arr, _ = _buffers.staged(tensor)
        out = np.empty((self._size, *arr.shape), dtype=arr.dtype)
        if self._size > 1:
            self.wait(self.comm.Iallgather(arr, out), what)
        else:
            out[0] = arr
        stacked = _core.from_numpy(out)
        if _buffers._dtype_name(tensor) != _buffers._dtype_name(stacked):
            stacked = stacked.to(tensor.dtype)
        if tensor.device.type != "cpu":
            stacked = stacked.to(tensor.device)
        return stacked if stack else [stacked[i] for i in range(self._size)]

    # ---- Python objects ----------------------------------------------------------------------

    def all_gather_object(self, obj: Any) -> list[Any]:
        """Every rank's picklable ``obj``, indexed by rank (the agreement all-reduce, then two
        non-blocking collectives: the sizes, then the bytes). Unpickles what peers send: use
        within one trusted job only."""
        if self._size == 1:
            return [obj]
        self._agree("all_gather_object")
        return self._gather_objects(obj)

    def _gather_objects(self, obj: Any) -> list[Any]:
        """``all_gather_object`` without the agreement (which uses it to report a mismatch)."""
        data = np.frombuffer(pickle.dumps(obj), dtype=np.uint8)
        sizes = np.zeros(self._size, dtype=np.int64)
        self.wait(
            self.comm.Iallgather(np.array([data.size], dtype=np.int64), sizes),
            "all_gather_object (sizes)",
        )
        displs = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        out = np.empty(int(sizes.sum()), dtype=np.uint8)
        self.wait(
            self.comm.Iallgatherv(data, [out, (sizes, displs), self._MPI.BYTE]),
            "all_gather_object",
        )
        return [
            pickle.loads(out[d : d + s].tobytes()) for d, s in zip(displs.tolist(), sizes.tolist())
        ]

    def broadcast_object(self, obj: Any, root: int = 0) -> Any:
        """Rank ``root``'s picklable ``obj`` on every rank."""
        self._check_root(root)
        if self._size == 1:
            return obj
        self._agree(f"broadcast_object (root {root})")
        data = np.frombuffer(pickle.dumps(obj), dtype=np.uint8) if self._rank == root else None
        n = np.array([0 if data is None else data.size], dtype=np.int64)
        self.wait(self.comm.Ibcast(n, root=root), "broadcast_object (size)")
        buf = np.array(data, copy=True) if data is not None else np.empty(int(n[0]), np.uint8)
        self.wait(self.comm.Ibcast(buf, root=root), "broadcast_object")
        return obj if self._rank == root else pickle.loads(buf.tobytes())

    def _agree(self, what: str, value: int = 0) -> int:
        """Raises ``DistributedError`` on every rank unless all ranks entered the same
        collective (``what`` names the operation, op or root, shape and dtype); returns the
        maximum of ``value`` over the ranks. MPI itself does not check: mismatched buffers
        silently mix garbage into the result, crash, or fail with an opaque MPI error. One
        all-reduce (max) of three int64: a checksum of ``what``, its negation (their max and
        min agree only when every rank sent the same one) and ``value``. Every collective of
        a ``World`` starts with it, always with this same buffer, so any two of them match."""
        if self._size == 1:
            return value
        sig = zlib.crc32(what.encode())
        arr = np.array([sig, -sig, value], dtype=np.int64)
        self.wait(self.comm.Iallreduce(self._MPI.IN_PLACE, arr, op=self._MPI.MAX), what)
        if arr[0] == -arr[1]:
            return int(arr[2])
        # Every rank saw the same maximum and minimum, so all of them are here: safe to gather.
        calls = self._gather_objects(what)
        detail = "; ".join(f"rank {r}: {c}" for r, c in enumerate(calls))
        raise DistributedError(
            f"ranks called different collectives or passed tensors of different shapes or "
            f"dtypes ({detail}); every rank must call the same collective with a tensor of the "
            "same shape and dtype"
        )

    def _check_root(self, root: int) -> None:
        if isinstance(root, bool) or not isinstance(root, (int, np.integer)):
            raise ArgumentTypeError(f"root must be a rank number (int), got {type(root).__name__}")
        if not 0 <= root < self._size:
            raise DistributedError(f"root rank {root} is out of range for a world of {self._size}")

    def __repr__(self) -> str:
        t = "inf" if self.timeout == float("inf") else f"{self.timeout:g}s"
        return f"World(rank={self._rank}, size={self._size}, timeout={t})"


def _check_op_dtype(op: ReduceOp, tensor: Tensor) -> None:
    """PyTorch's rules: a mean needs floating point, a bitwise op integers or bools."""
    if op is ReduceOp.Mean and not tensor.dtype.is_floating_point:
        raise DTypeError(f"ReduceOp.Mean needs a floating-point tensor, got {tensor.dtype}")
    if op.bitwise and (tensor.dtype.is_floating_point or tensor.dtype.is_complex):
        raise DTypeError(f"ReduceOp.{op.name} needs an integer or bool tensor, got {tensor.dtype}")


def _check_tensor(tensor: Any, what: str) -> None:
    """A clear ``TypeError`` for a non-tensor (rather than an ``AttributeError`` from inside)."""
    if not isinstance(tensor, Tensor):
        raise ArgumentTypeError(
            f"World.{what} takes a democratising Tensor, got {type(tensor).__name__}"
        )
