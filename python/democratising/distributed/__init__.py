"""``democratising.distributed``: data-parallel training over MPI (mpi4py).

Launch one process per rank, e.g. ``mpiexec -n 4 python -m mpi4py train.py``::

    from democratising import distributed as dist

    world = dist.World.init()
    model = dist.DistributedDataParallel(make_model(), world)
    opt = Adam(model.parameters(), 1e-3)
    loader = dist.DistributedDataLoader(dataset).batch_size(32).build()
    for x, y in loader:
        opt.zero_grad()
        loss_fn(model(x), y).backward()   # gradients averaged over ranks during backward
        opt.step()

Importing this package does not import mpi4py; ``World.init()`` does. See
docs/distributed.md for launching, hostfiles and using a cluster's own MPI."""

from __future__ import annotations

from typing import Any, Optional

from .. import _launcher
from ..errors import DistributedError
from .data_parallel import DataParallel
from .ddp import DistributedDataParallel
from .ddp import finish_all_gradient_synchronizations as finish_gradient_synchronization
from .loader import DistributedDataLoader, DistributedLoader
from .model import DistributedModel, DistributedStrategy
from .reduce_op import ReduceOp
from .sync_batchnorm import SyncBatchNorm, convert_sync_batchnorm
from .world import World
from .zero import ZeroOptimizer

__all__ = [
    "DataParallel",
    "DistributedDataLoader",
    "DistributedDataParallel",
    "DistributedError",
    "DistributedLoader",
    "DistributedModel",
    "DistributedStrategy",
    "ReduceOp",
    "SyncBatchNorm",
    "World",
    "ZeroOptimizer",
    "all_reduce_found_inf",
    "convert_sync_batchnorm",
    "current_world",
    "finish_gradient_synchronization",
    "get_rank",
    "get_world_size",
    "init_if_launched",
    "launched_with_mpi",
]


def current_world() -> Optional[World]:
    """The initialised ``World``, or ``None``."""
    return World.current()


def get_rank(group: Any = None) -> int:
    """This process's rank (0 when not initialised); with a ``new_group``, its rank in that
    group (-1 outside it), as ``torch.distributed.get_rank(group)``."""
    if group is not None:
        return _torch_api._resolve_group(group).rank()
    w = World.current()
    return 0 if w is None else w.rank()


def get_world_size(group: Any = None) -> int:
    """The number of ranks (1 when not initialised), or of a ``new_group``'s."""
    if group is not None:
        return _torch_api._resolve_group(group).size()
    w = World.current()
    return 1 if w is None else w.size()


def launched_with_mpi() -> bool:
    """True when this process was started by ``mpiexec``/``mpirun``/``srun`` (judged from the
    launcher's environment variables, without initialising MPI)."""
    return _launcher.launched()


def init_if_launched(timeout: Optional[float] = None) -> Optional[World]:
    """``World.init(timeout)`` when launched by an MPI launcher, else ``None``: lets one script
    (or the CLI) run both as a single process and under ``mpirun``."""
    return World.init(timeout) if launched_with_mpi() else None


def all_reduce_found_inf(flag: bool, world: Optional[World] = None) -> bool:
    """True on every rank when any rank found an inf/NaN gradient, so that ``GradScaler``
    skips the same steps everywhere (otherwise the replicas' parameters diverge; the scaler
    does this itself through the world ``World.init()`` registered)."""
    w = world if world is not None else World.current()
    if w is None or w.size() == 1:
        return bool(flag)
    return w.any_rank(flag)


# ---- torch.distributed's names (init_process_group, all_reduce, ...) over the same World ----
from . import _torch_api  # noqa: E402 - after World, which they use
from ._torch_api import *  # noqa: E402, F403 - the names its __all__ lists

__all__ += _torch_api.__all__


def _fill_nn_parallel() -> None:
    """``nn.parallel``'s PyTorch names, set from above (``nn`` never imports this package)."""
    from ..nn import parallel
    from ._torch_api import TorchDistributedDataParallel

    parallel._installed.update(
        DistributedDataParallel=TorchDistributedDataParallel,
        DataParallel=DataParallel,
        SyncBatchNorm=SyncBatchNorm,
    )


_fill_nn_parallel()
