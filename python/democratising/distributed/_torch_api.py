"""``torch.distributed``'s function names over ``World`` (MPI): ``init_process_group``,
``destroy_process_group``, ``get_rank``, ``all_reduce(tensor, op)``, ``broadcast``,
``barrier``, ``all_gather``... and ``nn.parallel.DistributedDataParallel``'s signature.

Whatever ``backend`` a program asks for (``"nccl"``, ``"gloo"``, ``"mpi"``), the collectives
run over MPI: launch with ``mpirun -n N python train.py`` instead of ``torchrun``. The
torchrun variables ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE`` are set
from the MPI launcher's own when ``democratising`` is imported (see ``export_torchrun_env``),
because programs read them before they call ``init_process_group``."""

from __future__ import annotations

import importlib.util
import os
import time
from datetime import timedelta
from typing import Any, Callable, Optional, Union

import numpy as np

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad
from .._torchrun_env import export_torchrun_env
from ..errors import DistributedError, DTypeError, ShapeError
from ..nn.module import Module
from . import _buffers, _wait
from .ddp import DistributedDataParallel
from .reduce_op import ReduceOp
from .world import World, _check_op_dtype, _check_tensor

#: ``torch.distributed``'s names, which ``democratising.distributed`` re-exports as they are
#: (``TorchDistributedDataParallel`` it installs as ``nn.parallel.DistributedDataParallel``).
__all__ = [
    "GroupMember",
    "ProcessGroup",
    "Work",
    "all_gather",
    "all_gather_into_tensor",
    "all_gather_object",
    "all_reduce",
    "all_to_all",
    "all_to_all_single",
    "barrier",
    "broadcast",
    "broadcast_object_list",
    "destroy_process_group",
    "gather",
    "gather_object",
    "get_backend",
    "get_global_rank",
    "get_group_rank",
    "get_local_rank",
    "get_process_group_ranks",
    "group",
    "init_process_group",
    "irecv",
    "is_available",
    "is_gloo_available",
    "is_initialized",
    "is_mpi_available",
    "is_nccl_available",
    "isend",
    "monitored_barrier",
    "new_group",
    "recv",
    "reduce",
    "reduce_scatter",
    "reduce_scatter_tensor",
    "scatter",
    "scatter_object_list",
    "send",
]

_state: dict[str, Any] = {"backend": None}


def is_available() -> bool:
    """Whether distributed training can run here: mpi4py is importable."""
    return importlib.util.find_spec("mpi4py") is not None


is_mpi_available = is_available


def is_nccl_available() -> bool:
    """False: there is no NCCL backend (``backend="nccl"`` runs over MPI)."""
    return False


def is_gloo_available() -> bool:
    """False: there is no Gloo backend (``backend="gloo"`` runs over MPI)."""
    return False


def init_process_group(
    backend: Optional[str] = None,
    init_method: Optional[str] = None,
    timeout: Optional[Union[timedelta, float]] = None,
    world_size: int = -1,
    rank: int = -1,
    store: Any = None,
    group_name: str = "",
    pg_options: Any = None,
    device_id: Any = None,
) -> None:
    """Starts the MPI world (``World.init``). Any ``backend`` runs over MPI; ``world_size`` and
    ``rank``, when given, must agree with what MPI says (``DistributedError`` otherwise:
    the launcher decides them here). Needs mpi4py (``DistributedError`` saying how to install
    it). ``init_method``/``store``/``pg_options``/``device_id`` are accepted and unused."""
    del init_method, store, group_name, pg_options, device_id
    if backend is not None and str(backend).split(":")[0].lower() not in (
        "mpi",
        "nccl",
        "gloo",
        "cpu",
        "cuda",
        "undefined",
    ):
        raise DistributedError(f"unknown backend {backend!r}: use 'mpi', 'nccl' or 'gloo'")
    if is_initialized():
        raise DistributedError("trying to initialize the default process group twice!")
    if not is_available():
        raise DistributedError(
            f"init_process_group(backend={backend!r}) runs over MPI here and needs mpi4py: "
            "`pip install mpi4py mpich`, then launch with `mpirun -n N python script.py`"
        )
    seconds = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
    world = World.init(seconds)
    if world_size not in (-1, None) and int(world_size) != world.size():
        raise DistributedError(
            f"init_process_group(world_size={world_size}) but MPI started {world.size()} ranks"
        )
    if rank not in (-1, None) and int(rank) != world.rank():
        raise DistributedError(f"init_process_group(rank={rank}) but MPI says {world.rank()}")
    export_torchrun_env()
    for name, value in (("RANK", world.rank()), ("WORLD_SIZE", world.size())):
        os.environ.setdefault(name, str(value))
    _state["backend"] = "mpi"


def is_initialized() -> bool:
    """True between ``init_process_group`` (or ``World.init()``) and
    ``destroy_process_group``."""
    return World.current() is not None and not _state.get("destroyed", False)


def destroy_process_group(group: Any = None) -> None:
    """Marks the default group destroyed (so ``is_initialized()`` is False and collectives
    refuse). MPI itself stays up until the process exits: it cannot be started twice. Given
    a ``new_group``, frees its communicator instead (collective over its members)."""
    if isinstance(group, ProcessGroup):
        if group.world is not None and group.world.comm != group.world._MPI.COMM_WORLD:
            group.world.barrier()
            group.world.comm.Free()
        group.world = None
        return
    if World.current() is not None:
        World.current().barrier()  # type: ignore[union-attr]
    _state["destroyed"] = True
    _state["backend"] = None


def _world() -> World:
    w = World.current()
    if w is None or _state.get("destroyed", False):
        raise DistributedError(
            "Default process group has not been initialized, please make sure to call "
            "init_process_group."
        )
    return w


def get_backend(group: Any = None) -> str:
    del group
    _world()
    return "mpi"


def get_local_rank() -> int:
    return _world().local_rank()


class Work:
    """What ``async_op=True`` returns: the collective already finished (MPI's calls here
    complete before returning), so ``wait()`` returns at once."""

    def wait(self, timeout: Any = None) -> bool:
        del timeout
        return True

    def is_completed(self) -> bool:
        return True


class _P2PWork(Work):
    """What ``isend``/``irecv`` return: ``wait()`` waits for the message (aborting the job
    after the world's timeout, as every wait here) and, for a receive into a staged copy,
    writes it into the tensor."""

    def __init__(
        self, world: World, request: Any, what: str, finish: Optional[Callable[[], None]]
    ) -> None:
        self._world, self._request, self._what, self._finish = world, request, what, finish
        self._done = False

    def wait(self, timeout: Any = None) -> bool:
        del timeout
        if not self._done:
            w = self._world
            # Not ``World.wait``: that numbers the world's collectives, which a message
            # between two ranks is not.
            try:
                _wait.wait_all([self._request], self._what, w.timeout, w.rank(), w.size())
            except Exception as e:
                if type(e).__module__.startswith("mpi4py"):  # MPI's bare error code
                    raise DistributedError(
                        f"{self._what} failed in MPI ({e}): a receive buffer smaller than the "
                        "message sent, or a dtype that differs between the ranks?"
                    ) from e
                raise
            self._done = True
            if self._finish is not None:
                self._finish()
        return True

    def is_completed(self) -> bool:
        if not self._done and self._request.Test():
            self.wait()
        return self._done


class ProcessGroup:
    """A group of ranks that ``new_group`` made: collectives given ``group=`` run over its own
    MPI communicator. Rank arguments (``src``, ``dst``) stay global ranks, as in PyTorch."""

    def __init__(self, world: Optional[World], ranks: list[int]) -> None:
        self.world = world  # None on a rank outside the group
        self.ranks = ranks

    def rank(self) -> int:
        """This process's rank in the group (-1 outside it)."""
        return -1 if self.world is None else self.world.rank()

    def size(self) -> int:
        return len(self.ranks)

    def __repr__(self) -> str:
        return f"ProcessGroup(ranks={self.ranks})"


class GroupMember:
    """``dist.GroupMember.WORLD`` (also ``dist.group.WORLD``): the default group, spelt
    ``None`` as every ``group=`` argument accepts it."""

    WORLD: Optional[ProcessGroup] = None
    NON_GROUP_MEMBER = -100


#: ``dist.group.WORLD``, as in PyTorch.
group = GroupMember


def _resolve_group(group: Any) -> ProcessGroup:
    """A non-default ``group=`` argument, checked (``get_rank``/``get_world_size`` take it)."""
    if not isinstance(group, ProcessGroup):
        raise DistributedError(
            f"group must be None, dist.group.WORLD or new_group()'s, got {group!r}"
        )
    return group


def _resolve(group: Any) -> tuple[World, Optional[list[int]]]:
    """The world a ``group=`` argument names, and its global ranks (None: the default)."""
    if group is None or group is GroupMember.WORLD:
        return _world(), None
    if isinstance(group, ProcessGroup):
        if group.world is None:
            raise DistributedError(
                f"this rank ({_world().rank()}) is not a member of {group!r}: only its members "
                "may use it"
            )
        return group.world, group.ranks
    raise DistributedError(f"group must be None, dist.group.WORLD or new_group()'s, got {group!r}")


def _local(ranks: Optional[list[int]], rank: Optional[int], what: str) -> Optional[int]:
    """A global rank argument as a rank of the group."""
    if ranks is None or rank is None:
        return rank
    if rank not in ranks:
        raise DistributedError(f"{what}: rank {rank} is not a member of the group {ranks}")
    return ranks.index(rank)


def _root(
    w: World, ranks: Optional[list[int]], global_rank: int, group_rank: Optional[int], what: str
) -> int:
    """``src``/``dst`` (a global rank) or ``group_src``/``group_dst`` as a rank of ``w``."""
    root = group_rank if group_rank is not None else _local(ranks, global_rank, what)
    assert root is not None
    w._check_root(root)
    return root


def _done(async_op: bool) -> Optional[Work]:
    return Work() if async_op else None


def _flat(t: Tensor, what: str) -> tuple[np.ndarray, Optional[Callable[[], None]]]:
    """``t``'s values as a flat array MPI reads or writes (its memory when possible)."""
    _check_tensor(t, what)
    arr, write_back = _buffers.staged(t)
    return arr.reshape(-1), write_back


def _finish_reduction(arr: np.ndarray, op: ReduceOp, size: int) -> None:
    if op is ReduceOp.Mean:
        np.multiply(arr, 1.0 / size, out=arr, casting="unsafe")


def _mpi_type(arr: np.ndarray) -> Any:
    from mpi4py.util.dtlib import from_numpy_dtype

    return from_numpy_dtype(arr.dtype)


def all_reduce(
    tensor: Tensor, op: Any = ReduceOp.SUM, group: Any = None, async_op: bool = False
) -> Optional[Work]:
    """Combines ``tensor`` over all ranks, in place."""
    _resolve(group)[0].all_reduce(tensor, ReduceOp.parse(op))
    return _done(async_op)


def reduce(
    tensor: Tensor,
    dst: int = 0,
    op: Any = ReduceOp.SUM,
    group: Any = None,
    async_op: bool = False,
    group_dst: Optional[int] = None,
) -> Optional[Work]:
    """Rank ``dst`` receives the combination (here every rank does: an all-reduce)."""
    w, ranks = _resolve(group)
    _root(w, ranks, dst, group_dst, "reduce")
    w.all_reduce(tensor, ReduceOp.parse(op))
    return _done(async_op)


def broadcast(
    tensor: Tensor,
    src: int = 0,
    group: Any = None,
    async_op: bool = False,
    group_src: Optional[int] = None,
) -> Optional[Work]:
    """Overwrites ``tensor`` on every rank with rank ``src``'s, in place."""
    w, ranks = _resolve(group)
    w.broadcast(tensor, _root(w, ranks, src, group_src, "broadcast"))
    return _done(async_op)


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> Optional[Work]:
    del device_ids
    _resolve(group)[0].barrier()
    return _done(async_op)


def monitored_barrier(
    group: Any = None,
    timeout: Optional[Union[timedelta, float]] = None,
    wait_all_ranks: bool = False,
) -> None:
    """A barrier that gives up after ``timeout`` (default: the world's). As every wait here,
    it then ends the job naming the ranks that never arrived (MPI cannot cancel a collective
    that other ranks may still be inside, so raising would leave them waiting)."""
    del wait_all_ranks
    w = _resolve(group)[0]
    if timeout is None:
        w.barrier()
        return
    before = w.timeout
    w.timeout = timeout  # (shared with the worlds dup() made: restored below)
    try:
        w.barrier()
    finally:
        w.timeout = before


def all_gather(
    tensor_list: list[Tensor], tensor: Tensor, group: Any = None, async_op: bool = False
) -> Optional[Work]:
    """Fills ``tensor_list[r]`` with rank ``r``'s ``tensor`` (equal shapes on all ranks)."""
    w = _resolve(group)[0]
    if len(tensor_list) != w.size():
        raise DistributedError(
            f"all_gather: tensor_list has {len(tensor_list)} tensors for {w.size()} ranks"
        )
    gathered = w.all_gather(tensor)
    assert isinstance(gathered, list)
    for out, value in zip(tensor_list, gathered):
        out.copy_(value)
    return _done(async_op)


def all_gather_into_tensor(
    output_tensor: Tensor, input_tensor: Tensor, group: Any = None, async_op: bool = False
) -> Optional[Work]:
    """``output_tensor`` = every rank's ``input_tensor`` concatenated in rank order (along the
    first dimension, or stacked: any shape with ``size`` times the elements)."""
    w = _resolve(group)[0]
    src, _ = _flat(input_tensor, "all_gather_into_tensor")
    out, write_back = _flat(output_tensor, "all_gather_into_tensor")
    if out.size != src.size * w.size() or out.dtype != src.dtype:
        raise ShapeError(
            f"all_gather_into_tensor: the output needs {w.size()} x {src.size} elements of "
            f"{input_tensor.dtype}, got {tuple(output_tensor.shape)} of {output_tensor.dtype}"
        )
    what = f"all_gather_into_tensor ({src.size} elements, {input_tensor.dtype})"
    w._agree(what)
    if w.size() == 1:
        out[...] = src
    else:
        w.wait(w.comm.Iallgather(src, out), what)
    if write_back is not None:
        write_back()
    return _done(async_op)


def _reduce_scatter(w: World, out: Tensor, send: np.ndarray, op: ReduceOp, what: str) -> None:
    """Sums (or ``op``s) ``send`` over the ranks; rank ``r`` keeps block ``r`` in ``out``."""
    recv, write_back = _flat(out, what)
    if send.size != recv.size * w.size() or send.dtype != recv.dtype:
        raise ShapeError(
            f"{what}: the input needs {w.size()} x {recv.size} elements of {out.dtype} (the "
            f"output's), got {send.size} of {send.dtype}"
        )
    _check_op_dtype(op, out)
    what = f"{what} ({op.name}, {recv.size} elements, {out.dtype})"
    w._agree(what)
    if w.size() == 1:
        recv[...] = send
    else:
        mpi_op = op.mpi_op(is_bool=send.dtype == np.bool_)
        w.wait(w.comm.Ireduce_scatter_block(send, recv, op=mpi_op), what)
    _finish_reduction(recv, op, w.size())
    if write_back is not None:
        write_back()


def reduce_scatter_tensor(
    output: Tensor, input: Tensor, op: Any = ReduceOp.SUM, group: Any = None, async_op: bool = False
) -> Optional[Work]:
    """Combines ``input`` over the ranks and leaves rank ``r`` the ``r``-th of ``size`` equal
    chunks (along the first dimension) in ``output``."""
    w = _resolve(group)[0]
    send, _ = _flat(input, "reduce_scatter_tensor")
    _reduce_scatter(w, output, send, ReduceOp.parse(op), "reduce_scatter_tensor")
    return _done(async_op)


def reduce_scatter(
    output: Tensor,
    input_list: list[Tensor],
    op: Any = ReduceOp.SUM,
    group: Any = None,
    async_op: bool = False,
) -> Optional[Work]:
    """``output`` = the combination over the ranks of their ``input_list[r]`` on rank ``r``."""
    w = _resolve(group)[0]
    if len(input_list) != w.size():
        raise DistributedError(
            f"reduce_scatter: input_list has {len(input_list)} tensors for {w.size()} ranks"
        )
    parts = [_flat(t, "reduce_scatter")[0] for t in input_list]
    send = np.concatenate(parts) if parts else np.empty(0)
    _reduce_scatter(w, output, send, ReduceOp.parse(op), "reduce_scatter")
    return _done(async_op)


def gather(
    tensor: Tensor,
    gather_list: Optional[list[Tensor]] = None,
    dst: int = 0,
    group: Any = None,
    async_op: bool = False,
    group_dst: Optional[int] = None,
) -> Optional[Work]:
    """Rank ``dst`` receives every rank's ``tensor`` into ``gather_list`` (indexed by rank);
    the others pass no list."""
    w, ranks = _resolve(group)
    root = _root(w, ranks, dst, group_dst, "gather")
    src, _ = _flat(tensor, "gather")
    here = w.rank() == root
    if here and (gather_list is None or len(gather_list) != w.size()):
        raise DistributedError(f"gather: rank {dst} needs a gather_list of {w.size()} tensors")
    what = f"gather (dst {root}, {src.size} elements, {tensor.dtype})"
    w._agree(what)
    out = np.empty((w.size(), src.size), dtype=src.dtype) if here else None
    if w.size() == 1:
        assert out is not None
        out[0] = src
    else:
        w.wait(w.comm.Igather(src, out, root=root), what)
    if here:
        assert gather_list is not None and out is not None
        for r, t in enumerate(gather_list):
            _copy_into(t, out[r], "gather")
    return _done(async_op)


def scatter(
    tensor: Tensor,
    scatter_list: Optional[list[Tensor]] = None,
    src: int = 0,
    group: Any = None,
    async_op: bool = False,
    group_src: Optional[int] = None,
) -> Optional[Work]:
    """Rank ``r`` receives rank ``src``'s ``scatter_list[r]`` into ``tensor``."""
    w, ranks = _resolve(group)
    root = _root(w, ranks, src, group_src, "scatter")
    recv, write_back = _flat(tensor, "scatter")
    here = w.rank() == root
    send = None
    if here:
        if scatter_list is None or len(scatter_list) != w.size():
            raise DistributedError(
                f"scatter: rank {src} needs a scatter_list of {w.size()} tensors"
            )
        send = np.stack([_flat(t, "scatter")[0] for t in scatter_list])
        if send.shape[1] != recv.size or send.dtype != recv.dtype:
            raise ShapeError(
                f"scatter: each tensor of scatter_list must have {recv.size} elements of "
                f"{tensor.dtype}, as the output"
            )
    what = f"scatter (src {root}, {recv.size} elements, {tensor.dtype})"
    w._agree(what)
    if w.size() == 1:
        assert send is not None
        recv[...] = send[0]
    else:
        w.wait(w.comm.Iscatter(send, recv, root=root), what)
    if write_back is not None:
        write_back()
    return _done(async_op)


def _all_to_all(
    w: World, send: np.ndarray, scounts: list[int], recv: np.ndarray, rcounts: list[int], what: str
) -> None:
    if len(scounts) != w.size() or len(rcounts) != w.size():
        raise DistributedError(f"{what}: give one split per rank ({w.size()})")
    if sum(scounts) != send.size or sum(rcounts) != recv.size:
        raise ShapeError(
            f"{what}: the splits add up to {sum(scounts)} sent and {sum(rcounts)} received "
            f"elements, but the tensors hold {send.size} and {recv.size}"
        )
    if send.dtype != recv.dtype:
        raise DTypeError(f"{what}: input and output dtypes differ ({send.dtype}, {recv.dtype})")
    what = f"{what} ({send.dtype})"
    w._agree(what)
    if w.size() == 1:
        recv[...] = send
        return
    # What each rank sends here must be what this rank expects from it: MPI would silently
    # truncate a longer message or leave a shorter one's room unwritten.
    sent_here = np.empty(w.size(), dtype=np.int64)
    w.wait(w.comm.Ialltoall(np.asarray(scounts, dtype=np.int64), sent_here), what)
    expected = np.asarray(rcounts, dtype=np.int64)
    mismatch = not np.array_equal(sent_here, expected)
    if w._agree(f"{what} split sizes", int(mismatch)):
        raise DistributedError(
            f"{what}: the split sizes disagree between ranks: "
            + (
                f"rank {w.rank()} expects {expected.tolist()} elements from ranks 0.. but they "
                f"send it {sent_here.tolist()}"
                if mismatch
                else "another rank expects other amounts than the ranks send it"
            )
        )
    sd = np.concatenate([[0], np.cumsum(scounts)[:-1]]).astype(np.int64)
    rd = np.concatenate([[0], np.cumsum(rcounts)[:-1]]).astype(np.int64)
    t = _mpi_type(send)
    w.wait(w.comm.Ialltoallv([send, (scounts, sd), t], [recv, (rcounts, rd), t]), what)


def all_to_all(
    output_tensor_list: list[Tensor],
    input_tensor_list: list[Tensor],
    group: Any = None,
    async_op: bool = False,
) -> Optional[Work]:
    """Rank ``r`` sends ``input_tensor_list[q]`` to rank ``q``, which receives it into its
    ``output_tensor_list[r]`` (sizes may differ between pairs)."""
    w = _resolve(group)[0]
    ins = [_flat(t, "all_to_all")[0] for t in input_tensor_list]
    send = np.concatenate(ins) if ins else np.empty(0)
    outs = [_flat(t, "all_to_all") for t in output_tensor_list]
    dtype = outs[0][0].dtype if outs else send.dtype
    recv = np.empty(sum(a.size for a, _ in outs), dtype=dtype)
    _all_to_all(w, send, [a.size for a in ins], recv, [a.size for a, _ in outs], "all_to_all")
    pos = 0
    for (arr, _), t in zip(outs, output_tensor_list):
        _copy_into(t, recv[pos : pos + arr.size], "all_to_all")
        pos += arr.size
    return _done(async_op)


def all_to_all_single(
    output: Tensor,
    input: Tensor,
    output_split_sizes: Optional[list[int]] = None,
    input_split_sizes: Optional[list[int]] = None,
    group: Any = None,
    async_op: bool = False,
) -> Optional[Work]:
    """``all_to_all`` over the first dimension of one tensor: chunk ``q`` of ``input`` goes to
    rank ``q`` (equal chunks, or ``input_split_sizes`` rows each); ``output`` receives the
    chunks from every rank in rank order."""
    w = _resolve(group)[0]
    send, _ = _flat(input, "all_to_all_single")
    recv, write_back = _flat(output, "all_to_all_single")
    n = w.size()

    def counts(t: Tensor, flat: np.ndarray, splits: Optional[list[int]]) -> list[int]:
        rows = int(t.shape[0]) if t.dim() > 0 else 1
        per_row = flat.size // rows if rows else 0
        if splits is None:
            if rows % n:
                raise ShapeError(
                    f"all_to_all_single: {rows} rows do not split into {n} equal chunks; "
                    "pass the split sizes"
                )
            return [rows // n * per_row] * n
        return [int(k) * per_row for k in splits]

    _all_to_all(
        w,
        send,
        counts(input, send, input_split_sizes),
        recv,
        counts(output, recv, output_split_sizes),
        "all_to_all_single",
    )
    if write_back is not None:
        write_back()
    return _done(async_op)


def _copy_into(t: Tensor, values: np.ndarray, what: str) -> None:
    """Writes ``values`` into tensor ``t`` (its shape, dtype and device)."""
    _check_tensor(t, what)
    if values.size != t.numel():
        raise ShapeError(f"{what}: {tuple(t.shape)} cannot hold {values.size} elements")
    src = _core.from_numpy(np.ascontiguousarray(values).reshape(tuple(t.shape)))
    with no_grad():
        t.copy_(src.to(device=t.device, dtype=t.dtype))


def _p2p(tensor: Tensor, peer: Optional[int], group: Any, what: str) -> tuple[World, Optional[int]]:
    w, ranks = _resolve(group)
    _check_tensor(tensor, what)
    local = _local(ranks, peer, what)
    if local is not None:
        w._check_root(local)
        if local == w.rank():
            raise DistributedError(f"{what}: a rank cannot send to or receive from itself")
    return w, local


def isend(tensor: Tensor, dst: int, group: Any = None, tag: int = 0) -> Work:
    """Starts sending ``tensor`` to rank ``dst``; ``wait()`` on the result waits for it."""
    w, peer = _p2p(tensor, dst, group, "isend")
    arr, _ = _buffers.staged(tensor)
    what = f"send to rank {dst} (tag {tag}, shape {tuple(tensor.shape)})"
    return _P2PWork(w, w.comm.Isend(arr, dest=peer, tag=tag), what, None)


def irecv(tensor: Tensor, src: Optional[int] = None, group: Any = None, tag: int = 0) -> Work:
    """Starts receiving into ``tensor`` from rank ``src`` (any rank when None)."""
    w, peer = _p2p(tensor, src, group, "irecv")
    arr, write_back = _buffers.staged(tensor)
    source = w._MPI.ANY_SOURCE if peer is None else peer
    what = f"recv from rank {'any' if src is None else src} (tag {tag})"
    return _P2PWork(w, w.comm.Irecv(arr, source=source, tag=tag), what, write_back)


def send(tensor: Tensor, dst: int, group: Any = None, tag: int = 0) -> None:
    """Sends ``tensor`` to rank ``dst`` (returns once it is on its way: MPI's standard send)."""
    isend(tensor, dst, group, tag).wait()


def recv(tensor: Tensor, src: Optional[int] = None, group: Any = None, tag: int = 0) -> int:
    """Receives into ``tensor`` from rank ``src`` (any rank when None); returns the sender."""
    w, peer = _p2p(tensor, src, group, "recv")
    if peer is None:  # any rank: find out which one sends first, then receive from it
        peer = _probe(w, tag)
    arr, write_back = _buffers.staged(tensor)
    what = f"recv from rank {peer} (tag {tag})"
    _P2PWork(w, w.comm.Irecv(arr, source=peer, tag=tag), what, write_back).wait()
    _, ranks = _resolve(group)
    return peer if ranks is None else ranks[peer]


def _probe(w: World, tag: int) -> int:
    """The rank of the first message with ``tag`` waiting for this one (polled, so that the
    world's timeout applies as to every wait)."""
    status = w._MPI.Status()
    deadline = time.monotonic() + w.timeout
    while not w.comm.Iprobe(source=w._MPI.ANY_SOURCE, tag=tag, status=status):
        if time.monotonic() > deadline:
            w.abort(f"recv from any rank (tag {tag}) timed out after {w.timeout:g} s")
        time.sleep(1e-4)
    return int(status.Get_source())


def all_gather_object(object_list: list[Any], obj: Any, group: Any = None) -> None:
    """``object_list[r]`` = rank ``r``'s ``obj`` (pickled between the job's own ranks)."""
    values = _resolve(group)[0].all_gather_object(obj)
    object_list[: len(values)] = values


def gather_object(
    obj: Any,
    object_gather_list: Optional[list[Any]] = None,
    dst: int = 0,
    group: Any = None,
    group_dst: Optional[int] = None,
) -> None:
    """Rank ``dst`` receives every rank's ``obj`` into ``object_gather_list``."""
    w, ranks = _resolve(group)
    root = _root(w, ranks, dst, group_dst, "gather_object")
    if w.rank() == root and (object_gather_list is None or len(object_gather_list) < w.size()):
        raise DistributedError(f"gather_object: rank {dst} needs a list of {w.size()} items")
    values = w.all_gather_object(obj)
    if w.rank() == root:
        assert object_gather_list is not None
        object_gather_list[: len(values)] = values


def broadcast_object_list(
    object_list: list[Any],
    src: int = 0,
    group: Any = None,
    device: Any = None,
    group_src: Optional[int] = None,
) -> None:
    """Replaces ``object_list``'s items with rank ``src``'s."""
    del device
    w, ranks = _resolve(group)
    object_list[:] = w.broadcast_object(list(object_list), _root(w, ranks, src, group_src, "src"))


def scatter_object_list(
    scatter_object_output_list: list[Any],
    scatter_object_input_list: Optional[list[Any]] = None,
    src: int = 0,
    group: Any = None,
    group_src: Optional[int] = None,
) -> None:
    """``scatter_object_output_list[0]`` = rank ``src``'s ``scatter_object_input_list[r]`` on
    rank ``r``."""
    w, ranks = _resolve(group)
    root = _root(w, ranks, src, group_src, "scatter_object_list")
    items = None
    if w.rank() == root:
        if scatter_object_input_list is None or len(scatter_object_input_list) != w.size():
            raise DistributedError(
                f"scatter_object_list: rank {src} needs an input list of {w.size()} items"
            )
        items = list(scatter_object_input_list)
    items = w.broadcast_object(items, root)
    if not scatter_object_output_list:
        raise DistributedError("scatter_object_list: the output list needs one slot")
    scatter_object_output_list[0] = items[w.rank()]


def new_group(
    ranks: Optional[list[int]] = None,
    timeout: Any = None,
    backend: Any = None,
    pg_options: Any = None,
    use_local_synchronization: bool = False,
    group_desc: Optional[str] = None,
    device_id: Any = None,
) -> ProcessGroup:
    """A group of ``ranks`` (default: all) over its own MPI communicator (``MPI_Comm_create``).
    Collective: every rank calls it, with the same ``ranks``, members or not. Outside the group
    the result says ``rank() == -1`` and refuses collectives."""
    del timeout, backend, pg_options, use_local_synchronization, device_id
    w = _world()
    members = list(range(w.size())) if ranks is None else sorted({int(r) for r in ranks})
    bad = [r for r in members if not 0 <= r < w.size()]
    if bad or not members:
        raise DistributedError(
            f"new_group: ranks {bad or members} are not in the world of {w.size()}"
        )
    name = group_desc or f"group{members}"
    w._agree(f"new_group ({members})")
    comm = w.comm
    if w.size() > 1:
        mpi_group = comm.Get_group().Incl(members)
        comm = comm.Create(mpi_group)  # every rank is here (the agreement above): cannot hang
        mpi_group.Free()
    if comm == w._MPI.COMM_NULL:
        return ProcessGroup(None, members)
    sub = World(comm, w.timeout, name)
    sub._parent = w
    return ProcessGroup(sub, members)


def get_process_group_ranks(group: Any) -> list[int]:
    """The global ranks of ``group``."""
    if group is None or group is GroupMember.WORLD:
        return list(range(_world().size()))
    if isinstance(group, ProcessGroup):
        return list(group.ranks)
    raise DistributedError(f"not a process group: {group!r}")


def get_global_rank(group: Any, group_rank: int) -> int:
    """The global rank of ``group_rank`` in ``group``."""
    ranks = get_process_group_ranks(group)
    if not 0 <= group_rank < len(ranks):
        raise DistributedError(f"group rank {group_rank} is not in a group of {len(ranks)}")
    return ranks[group_rank]


def get_group_rank(group: Any, global_rank: int) -> int:
    """The rank in ``group`` of ``global_rank``."""
    ranks = get_process_group_ranks(group)
    if global_rank not in ranks:
        raise DistributedError(f"rank {global_rank} is not in the group {ranks}")
    return ranks.index(global_rank)


class TorchDistributedDataParallel(DistributedDataParallel):
    """``torch.nn.parallel.DistributedDataParallel(module, device_ids=None, ...)``: our
    ``DistributedDataParallel`` over the world ``init_process_group`` started (gradients
    averaged in buckets during backward, ``no_sync()``, ``.module``). ``device_ids`` and
    ``output_device`` are accepted: the module's parameters already say where it runs."""

    def __init__(
        self,
        module: Module,
        device_ids: Optional[list[Any]] = None,
        output_device: Any = None,
        dim: int = 0,
        broadcast_buffers: bool = True,
        process_group: Any = None,
        bucket_cap_mb: Optional[float] = None,
        find_unused_parameters: bool = False,
        check_reduction: bool = False,
        gradient_as_bucket_view: bool = False,
        static_graph: bool = False,
        **kwargs: Any,
    ) -> None:
        del device_ids, output_device, dim, process_group, find_unused_parameters
        del check_reduction, static_graph, kwargs
        super().__init__(
            module,
            _world(),
            bucket_cap_mb=25.0 if bucket_cap_mb is None else bucket_cap_mb,
            broadcast_buffers=broadcast_buffers,
            gradient_as_bucket_view=gradient_as_bucket_view,
        )


TorchDistributedDataParallel.__name__ = "DistributedDataParallel"
TorchDistributedDataParallel.__qualname__ = "DistributedDataParallel"
