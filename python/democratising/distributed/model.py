"""The seed guide's ``DistributedModel(module, world, DistributedStrategy.DataParallel)``:
``DistributedDataParallel`` plus the seed loop's ``forward``/``backward``/``step`` methods.

The seed's loop (``backward``, ``all_reduce_gradients(Mean)``, ``step`` on rank 0,
``broadcast_parameters(0)``) works as written; since ``backward`` already averages the
gradients, ``all_reduce_gradients(Mean)`` costs nothing there, and stepping on every rank
(no broadcast) gives the same parameters with less traffic."""

from __future__ import annotations

from enum import Enum
from typing import Any, Callable, Optional

from .._core import Tensor
from ..errors import DistributedError, InvalidValueError
from ..nn.loss import default_loss_for
from ..nn.module import Module
from .ddp import DistributedDataParallel
from .world import World


class DistributedStrategy(Enum):
    """How the model is split across ranks. Only data parallelism exists so far."""

    DataParallel = "data_parallel"


class DistributedModel(DistributedDataParallel):
    """``forward((x, y))`` returns ``loss_fn(module(x), y)``, as the seed's
    ``model.forward(&batch)`` does; without ``loss_fn`` the loss is the ``Trainer``'s default,
    chosen from the first batch (cross entropy; ``MSELoss`` for float targets of a
    single-output model). Any other call is the wrapped module's ``forward``.
    ``optimizer``: what ``step()`` steps."""

    def __init__(
        self,
        module: Module,
        world: Optional[World] = None,
        strategy: DistributedStrategy = DistributedStrategy.DataParallel,
        optimizer: Optional[Any] = None,
        loss_fn: Optional[Callable[[Tensor, Tensor], Tensor]] = None,
        bucket_cap_mb: float = 25.0,
        **kwargs: Any,
    ) -> None:
        strategy = _strategy(strategy)
        super().__init__(module, world, bucket_cap_mb, **kwargs)
        self.strategy = strategy
        self.optimizer = optimizer
        self.loss_fn = loss_fn

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs:
            batch = args[0]
            if isinstance(batch, (tuple, list)) and len(batch) == 2:
                x, y = batch
                if self.loss_fn is not None:
                    return self.loss_fn(super().forward(x), y)
                if isinstance(x, Tensor) and isinstance(y, Tensor):
                    out = super().forward(x)
                    self.loss_fn = default_loss_for(out, y)
                    return self.loss_fn(out, y)
        return super().forward(*args, **kwargs)

    def backward(self, loss: Tensor, retain_graph: bool = False) -> None:
        """``loss.backward()``; returns with gradients averaged over the ranks."""
        loss.backward(retain_graph=retain_graph)

    def step(self, optimizer: Optional[Any] = None) -> None:
        """One optimizer step (``backward`` has already averaged the gradients): of
        ``optimizer`` when given (then it is also kept for later calls), else of the one
        passed when building the model."""
        if optimizer is not None:
            self.optimizer = optimizer
        if self.optimizer is None:
            raise DistributedError(
                "DistributedModel.step() needs an optimizer: pass optimizer= when building it "
                "or call model.step(optimizer)"
            )
        self.optimizer.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        if self.optimizer is not None:
            self.optimizer.zero_grad(set_to_none)
        super().zero_grad(set_to_none)


def _strategy(strategy: Any) -> DistributedStrategy:
    """A ``DistributedStrategy`` or its name (``"DataParallel"``, ``"data_parallel"``)."""
    if isinstance(strategy, DistributedStrategy):
        return strategy
    if isinstance(strategy, str):
        key = strategy.replace("_", "").lower()
        for member in DistributedStrategy:
            if key == member.name.lower():
                return member
    names = [m.name for m in DistributedStrategy]
    raise InvalidValueError(
        f"unsupported distributed strategy {strategy!r}; use DistributedStrategy.{names[0]}"
        f" (one of {names})"
    )
