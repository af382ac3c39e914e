"""``DistributedDataParallel``: data-parallel training over MPI.

Construction checks that every rank built the same model (else ``DistributedError`` on every
rank) and copies rank 0's parameters and buffers to the others. After that each
``loss.backward()`` returns with gradients averaged over the ranks: bucketed ``Iallreduce``s
start during backward as gradients become final, and an end-of-backward callback of the engine
waits for them (see ``_reducer``), so communication overlaps with the rest of backward. The
optimizer is then used exactly as in single-process training: nothing wraps or replaces its
``step``. A parameter that gets no gradient in a backward pass is synchronised at its end too
(as zero, or as the gradient accumulated before)."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional, Union

from .._core import Tensor
from ..errors import DistributedError
from ..nn.module import Module
from . import _buffers
from ._fingerprint import describe, verify_same_model
from ._reducer import GradientReducer
from .reduce_op import ReduceOp
from .world import World

_live: weakref.WeakSet[DistributedDataParallel] = weakref.WeakSet()


def finish_all_gradient_synchronizations() -> None:
    """Completes the open gradient synchronisation of every DDP model in this process. Backward
    does this at its end; this is for a backward pass that failed half-way."""
    for ddp in list(_live):
        ddp.finish_gradient_synchronization()


def broadcast_tensors(world: World, tensors: list[Tensor], root: int, what: str) -> None:
    """Overwrites ``tensors`` with rank ``root``'s values: one non-blocking broadcast per
    tensor, straight into its memory, all in flight together."""
    if world.size() == 1 or not tensors:
        return
    world._check_root(root)
    requests, write_backs = [], []
    for t in tensors:
        arr, wb = _buffers.staged(t)
        requests.append(world.comm.Ibcast(arr, root=root))
        if wb is not None:
            write_backs.append(wb)
    world.wait(requests, f"{what} ({len(tensors)} tensors from rank {root})")
    for wb in write_backs:
        wb()


class DistributedDataParallel(Module):
    """Wraps ``module`` for data-parallel training; call it like the module.

    ``bucket_cap_mb``: size of the gradient buckets (bigger: fewer, larger messages; smaller:
    earlier overlap). ``broadcast_buffers``: copy rank 0's buffers (BatchNorm running stats)
    to all ranks before each training forward, as PyTorch does. ``gradient_as_bucket_view``:
    after synchronisation ``p.grad`` is a view of the bucket (no copy); the next synchronised
    backward overwrites it, so ``clone()`` a gradient you want to keep."""

    def __init__(
        self,
        module: Module,
        world: Optional[World] = None,
        bucket_cap_mb: float = 25.0,
        broadcast_buffers: bool = True,
        gradient_as_bucket_view: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps an nn.Module, got {type(module)}")
        if bucket_cap_mb <= 0:
            raise ValueError(f"bucket_cap_mb must be positive, got {bucket_cap_mb}")
        self.module = module
        world = world if world is not None else World.init()
        self.world = world
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.broadcast_buffers = broadcast_buffers
        named = list(module.named_parameters())
        entries = describe(named, module.named_buffers())
        verify_same_model(world, entries, type(self).__name__, extra=self.bucket_cap_mb)
        # Own communicator: DDP's collectives never interleave with the user's on `world`.
        self._comm = world.dup("ddp") if world.size() > 1 else world
        self.broadcast_parameters(0)
        trainable = [(n, p) for n, p in named if p.requires_grad]
        self.reducer = GradientReducer(
            [p for _, p in trainable],
            [n for n, _ in trainable],
            self._comm,
            int(self.bucket_cap_mb * 2**20),
            gradient_as_bucket_view,
        )
        if world.size() > 1:
            self.reducer.register_hooks()
        _live.add(self)

    # ---- training ----------------------------------------------------------------------------

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        missing = self.reducer.pending_names()
        if missing is not None:
            self.reducer.finish()  # keep the ranks' collectives matched, then say why
            unreached = f" (no gradient had reached {missing[:8]})" if missing else ""
            raise DistributedError(
                "the previous backward pass stopped before its gradient synchronisation "
                f"finished{unreached}, so any optimizer step since used unsynchronised "
                "gradients. After a backward that raised, call "
                "ddp.finish_gradient_synchronization() before stepping."
            )
        if self.broadcast_buffers and self.training:
            bufs = list(self.module.buffers())
            if bufs:
                broadcast_tensors(self._comm, bufs, 0, "DDP buffer broadcast")
        return self.module(*args, **kwargs)

    def finish_gradient_synchronization(self) -> list[str]:
        """Completes a gradient synchronisation left open by a backward pass that raised
        half-way (a no-op otherwise: backward completes it at its end). Returns the names of
        the parameters that got no gradient in that pass."""
        return self.reducer.finish()

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes inside accumulate gradients locally with no communication; the
        first backward after the block synchronises the accumulated sum (gradient
        accumulation at the cost of one all-reduce per optimizer step)."""
        self.reducer.finish()
        previous = self.reducer.enabled
        self.reducer.enabled = False
        try:
            yield
        finally:
            self.reducer.enabled = previous

    def all_reduce_gradients(self, op: Union[ReduceOp, str] = ReduceOp.Mean) -> None:
        """Reduces every gradient across ranks now. After a synchronised backward the
        gradients already hold the mean, so ``Mean`` costs nothing (the seed's loop calls it
        after every backward); use it with ``Max``/``Min`` on gradients accumulated inside
        ``no_sync()``."""
        self.reducer.all_reduce(ReduceOp.parse(op))

    def broadcast_parameters(self, root: int = 0) -> None:
        """Copies rank ``root``'s parameters and buffers to every rank (in place)."""
        tensors = list(self.module.parameters()) + list(self.module.buffers())
        broadcast_tensors(self._comm, tensors, root, "broadcast_parameters")

    def bucket_stats(self) -> list[tuple[int, int, str]]:
        """``(parameters, bytes, dtype)`` of each gradient bucket, in launch order."""
        return self.reducer.stats()

    def extra_repr(self) -> str:
        return (
            f"world={self.world.size()}, buckets={len(self.reducer.buckets)}, "
            f"bucket_cap_mb={self.bucket_cap_mb:g}"
        )
