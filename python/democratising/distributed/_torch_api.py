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
from datetime import timedelta
from typing import Any, Optional, Union

from .._core import Tensor
from .._torchrun_env import export_torchrun_env
from ..errors import DistributedError
from ..nn.module import Module
from .ddp import DistributedDataParallel
from .reduce_op import ReduceOp
from .world import World

#: ``torch.distributed``'s names, which ``democratising.distributed`` re-exports as they are
#: (``TorchDistributedDataParallel`` it installs as ``nn.parallel.DistributedDataParallel``).
__all__ = [
    "GroupMember",
    "Work",
    "all_gather",
    "all_gather_object",
    "all_reduce",
    "barrier",
    "broadcast",
    "broadcast_object_list",
    "destroy_process_group",
    "get_backend",
    "get_local_rank",
    "init_process_group",
    "is_available",
    "is_gloo_available",
    "is_initialized",
    "is_mpi_available",
    "is_nccl_available",
    "reduce",
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
    refuse). MPI itself stays up until the process exits: it cannot be started twice."""
    del group
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


class GroupMember:
    """``dist.GroupMember.WORLD``: the default (and only) group."""

    WORLD = None


def _done(async_op: bool) -> Optional[Work]:
    return Work() if async_op else None


def all_reduce(
    tensor: Tensor, op: Any = ReduceOp.SUM, group: Any = None, async_op: bool = False
) -> Optional[Work]:
    """Combines ``tensor`` over all ranks, in place."""
    del group
    _world().all_reduce(tensor, ReduceOp.parse(op))
    return _done(async_op)


def reduce(
    tensor: Tensor, dst: int = 0, op: Any = ReduceOp.SUM, group: Any = None, async_op: bool = False
) -> Optional[Work]:
    """Rank ``dst`` receives the combination (here every rank does: an all-reduce)."""
    del group
    w = _world()
    w._check_root(dst)
    w.all_reduce(tensor, ReduceOp.parse(op))
    return _done(async_op)


def broadcast(
    tensor: Tensor, src: int = 0, group: Any = None, async_op: bool = False
) -> Optional[Work]:
    """Overwrites ``tensor`` on every rank with rank ``src``'s, in place."""
    del group
    _world().broadcast(tensor, src)
    return _done(async_op)


def barrier(group: Any = None, async_op: bool = False, device_ids: Any = None) -> Optional[Work]:
    del group, device_ids
    _world().barrier()
    return _done(async_op)


def all_gather(
    tensor_list: list[Tensor], tensor: Tensor, group: Any = None, async_op: bool = False
) -> Optional[Work]:
    """Fills ``tensor_list[r]`` with rank ``r``'s ``tensor`` (equal shapes on all ranks)."""
    del group
    w = _world()
    if len(tensor_list) != w.size():
        raise DistributedError(
            f"all_gather: tensor_list has {len(tensor_list)} tensors for {w.size()} ranks"
        )
    gathered = w.all_gather(tensor)
    assert isinstance(gathered, list)
    for out, value in zip(tensor_list, gathered):
        out.copy_(value)
    return _done(async_op)


def all_gather_object(object_list: list[Any], obj: Any, group: Any = None) -> None:
    """``object_list[r]`` = rank ``r``'s ``obj`` (pickled between the job's own ranks)."""
    del group
    values = _world().all_gather_object(obj)
    object_list[: len(values)] = values


def broadcast_object_list(object_list: list[Any], src: int = 0, group: Any = None) -> None:
    """Replaces ``object_list``'s items with rank ``src``'s."""
    del group
    object_list[:] = _world().broadcast_object(list(object_list), src)


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
