"""``DistributedDataParallel``: data-parallel training over MPI.

Construction checks that every rank built the same model (else ``DistributedError`` on every
rank) and copies rank 0's parameters and buffers to the others. After that each
``loss.backward()`` returns with gradients averaged over the ranks: bucketed ``Iallreduce``s
start during backward as gradients become final, and an end-of-backward callback of the engine
waits for them (see ``_reducer``), so communication overlaps with the rest of backward. The
optimizer is then used exactly as in single-process training: nothing wraps or replaces its
``step``. A parameter that gets no gradient in a backward pass on some ranks is synchronised at
its end too (those ranks contribute zero, or the gradient accumulated before); one that no rank
produced a gradient for keeps ``.grad`` None on every rank, as with PyTorch's DDP (so weight
decay and momentum leave it alone, as in one process)."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Optional, Union

from .._core import Tensor
from ..errors import ArgumentTypeError, DistributedError, InvalidValueError
from ..nn.module import Module
from ..sparse._coo import dense_parts
from . import _buffers
from ._fingerprint import describe, verify_same_model
from ._reducer import GradientReducer
from .reduce_op import ReduceOp
from .world import World
from .zero import ZeroOptimizer, ZeroReducer, replace_parameters, stage_check

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
    backward overwrites it, so ``clone()`` a gradient you want to keep.

    ``zero_stage=1`` shards the optimizer state over the ranks and ``2`` the gradients too
    (see ``zero``): wrap the optimizer with ``ddp.shard_optimizer(opt)``. ``comm_dtype``
    (``"bfloat16"``/``"float16"``) sends gradients in 16 bits. ``deterministic=True`` makes
    the weights bitwise independent of the number of ranks: each backward is one of
    ``partitions`` fixed micro-batches (``partitions / world size`` backward passes per rank
    and step), reduced in a fixed tree."""

    def __init__(
        self,
        module: Module,
        world: Optional[World] = None,
        bucket_cap_mb: float = 25.0,
        broadcast_buffers: bool = True,
        gradient_as_bucket_view: bool = True,
        zero_stage: int = 0,
        comm_dtype: Optional[str] = None,
        deterministic: bool = False,
        partitions: Optional[int] = None,
    ) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise ArgumentTypeError(
                f"DistributedDataParallel wraps an nn.Module, got {type(module)}"
            )
        if bucket_cap_mb <= 0:
            raise InvalidValueError(f"bucket_cap_mb must be positive, got {bucket_cap_mb}")
        stage_check(zero_stage, comm_dtype)
        self.zero_stage = int(zero_stage)
        self.comm_dtype = comm_dtype
        self.deterministic = bool(deterministic)
        self.module = module
        world = world if world is not None else World.init()
        self.world = world
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.broadcast_buffers = broadcast_buffers
        named = list(module.named_parameters())
        entries = describe(named, module.named_buffers())
        zero = bool(zero_stage or comm_dtype or deterministic)  # the ZeRO reducer's options
        settings = {
            "bucket_cap_mb": self.bucket_cap_mb,
            "zero_stage": self.zero_stage,
            "comm_dtype": comm_dtype,
            "deterministic": self.deterministic,
            "partitions": partitions,
        }
        verify_same_model(world, entries, type(self).__name__, extra=settings)
        # Own communicator: DDP's collectives never interleave with the user's on `world`.
        self._comm = world.dup("ddp") if world.size() > 1 else world
        self.broadcast_parameters(0)
        trainable = [p for _, p in named if p.requires_grad]
        names = [n for n, p in named if p.requires_grad]
        cap = int(self.bucket_cap_mb * 2**20)
        self.reducer: Union[GradientReducer, ZeroReducer]
        if zero:
            self.reducer = ZeroReducer(
                trainable,
                names,
                self._comm,
                zero_stage,
                cap,
                comm_dtype,
                deterministic,
                partitions,
            )
            # The parameters now live in the reducer's flat buffer (same names, same order).
            replace_parameters(module, trainable, self.reducer.params)
            self.reducer.register_hooks()
        else:
            self.reducer = GradientReducer(
                trainable, names, self._comm, cap, gradient_as_bucket_view
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
            bufs = dense_parts(self.module.buffers())
            if bufs:
                broadcast_tensors(self._comm, bufs, 0, "DDP buffer broadcast")
        return self.module(*args, **kwargs)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """The module's ``zero_grad``; with ``zero_stage`` 1/2 also drops the reduced gradients
        the shards hold (as ``ZeroOptimizer.zero_grad`` does)."""
        super().zero_grad(set_to_none)
        if isinstance(self.reducer, ZeroReducer) and self.reducer.stage >= 1:
            self.reducer.clear_gradients(set_to_none)

    def finish_gradient_synchronization(self) -> list[str]:
        """Completes a gradient synchronisation left open by a backward pass that raised
        half-way (a no-op otherwise: backward completes it at its end). Returns the names of
        the parameters that got no gradient in that pass."""
        return self.reducer.finish()

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        """Backward passes inside accumulate gradients locally with no communication; the
        first backward after the block synchronises the accumulated sum (gradient
        accumulation at the cost of one all-reduce per optimizer step). Not with
        ``deterministic=True``, where each backward pass is one micro-batch already."""
        if self.deterministic:
            raise DistributedError(
                "no_sync() does not apply with deterministic=True: each backward pass is one "
                f"of the fixed micro-batches ({self.micro_batches} per rank and step)"
            )
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
        tensors = list(self.module.parameters()) + dense_parts(self.module.buffers())
        broadcast_tensors(self._comm, tensors, root, "broadcast_parameters")

    def shard_optimizer(self, optimizer: Any) -> ZeroOptimizer:
        """``optimizer`` (built over ``self.parameters()``) sharded for ``zero_stage`` 1/2."""
        return ZeroOptimizer(optimizer, self)

    @property
    def micro_batches(self) -> int:
        """Backward passes per rank and optimizer step: ``partitions / world size`` with
        ``deterministic=True``, else 1."""
        r = self.reducer
        return r.leaves_per_rank if isinstance(r, ZeroReducer) else 1

    def memory_bytes(self) -> dict[str, int]:
        """Bytes this rank holds between steps for parameters and gradient buffers."""
        r = self.reducer
        if isinstance(r, ZeroReducer):
            return r.memory()
        params = sum(p.numel() * p.element_size() for p in self.module.parameters())
        return {"parameters": params, "gradients": sum(b for _, b, _ in r.stats())}

    def bucket_stats(self) -> list[tuple[int, int, str]]:
        """``(parameters, bytes, dtype)`` of each gradient bucket, in launch order."""
        return self.reducer.stats()

    def extra_repr(self) -> str:
        zero = f", zero_stage={self.zero_stage}" if self.zero_stage else ""
        return (
            f"world={self.world.size()}, buckets={len(self.reducer.buckets)}, "
            f"bucket_cap_mb={self.bucket_cap_mb:g}{zero}"
        )
