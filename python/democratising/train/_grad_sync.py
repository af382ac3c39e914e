"""Data-parallel training of a plain model. Under a world of several ranks the trainer gives each
rank its shard of the data; a model that does not synchronise itself (no
``DistributedDataParallel`` wrapper, which averages gradients during backward) would then train
one model per rank, each on part of the data, and rank 0 would save its own. So the trainer does
what the wrapper would: every rank starts from rank 0's parameters and buffers, gradients are
averaged across ranks before each optimizer step (one all-reduce per dtype), and rank 0's
buffers (BatchNorm's running statistics) are shared at every epoch's end, so that evaluation
and checkpoints agree on every rank."""

from __future__ import annotations

from typing import Any, Optional

from .. import _core, _ranks
from .._core import Tensor
from .._grad_mode import no_grad
from ..sparse._coo import dense_parts


def _syncs_itself(model: Any) -> bool:
    """Whether ``model`` (or a module inside it) is a data-parallel wrapper, which averages
    the gradients itself."""
    modules = model.modules() if callable(getattr(model, "modules", None)) else [model]
    return any(callable(getattr(m, "all_reduce_gradients", None)) for m in modules)


class GradientSync:
    """Keeps a plain model's copies on the ranks of ``world`` equal (see the module doc)."""

    def __init__(self, world: Any, model: Any) -> None:
        self.world, self.model = world, model

    @staticmethod
    def for_trainer(world: Any, world_size: int, model: Any) -> Optional[GradientSync]:
        """The synchroniser a trainer needs: ``None`` in one process or for a model that
        synchronises itself."""
        if world_size <= 1 or _syncs_itself(model):
            return None
        world = world if world is not None else _ranks.current()
        if world is None or not all(hasattr(world, f) for f in ("all_reduce", "broadcast")):
            return None
        return GradientSync(world, model)

    def start(self) -> None:
        """Every rank's parameters and buffers set to rank 0's."""
        self._from_rank0(self.model.parameters())
        self.share_buffers()

    def share_buffers(self) -> None:
        """Every rank's buffers set to rank 0's."""
        self._from_rank0(dense_parts(self.model.buffers()))

    def _from_rank0(self, tensors: Any) -> None:
        with no_grad():
            for t in tensors:
                self.world.broadcast(t, 0)

    def average(self, params: list[Tensor]) -> None:
        """Each gradient replaced by its mean over the ranks. A parameter with a gradient on
        some ranks only gets zeros where it has none (as a wrapper's unused parameters), so
        every rank steps the same parameters; one with none anywhere keeps ``None``."""
        present = _core.Tensor([0.0 if p.grad is None else 1.0 for p in params])
        self.world.all_reduce(present, "max")
        by_dtype: dict[Any, list[Tensor]] = {}
        with no_grad():
            for p, anywhere in zip(params, present.tolist()):
                if not anywhere:
                    continue
                if p.grad is None:
                    p.grad = _core.zeros(tuple(p.shape), dtype=p.dtype, device=p.device)
                by_dtype.setdefault(p.grad.dtype, []).append(p.grad)
            for grads in by_dtype.values():
                flat = _core.cat([g.reshape(-1) for g in grads])
                self.world.all_reduce(flat, "mean")
                offset = 0
                for g in grads:
                    g.copy_(flat[offset : offset + g.numel()].view(g.shape))
                    offset += g.numel()
