"""Loss modules; each is also callable as ``loss_fn.forward(pred, target)`` like the seed."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional

from .._core import Tensor
from . import functional as F
from .module import Module


class _Loss(Module):
    _reductions: tuple[str, ...] = ("mean", "sum", "none")

    def __init_subclass__(cls, **kwargs: object) -> None:
        # Every loss takes PyTorch's deprecated ``size_average=``/``reduce=`` keywords (old
        # programs write ``nn.MSELoss(size_average=False)`` for a summed loss).
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = F._takes_legacy_reduction(cls.__dict__["__init__"])  # type: ignore[method-assign]

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in self._reductions:
            raise ValueError(f"reduction must be one of {self._reductions}, got {reduction!r}")
        self.reduction = reduction

    def forward_amp(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss under autocast (the seed's ``loss_fn.forward_amp``): computed in float32
        from low-precision predictions."""
        from ..amp import autocast

        with autocast():
            return self.forward(input, target)


_Loss.__init__ = F._takes_legacy_reduction(_Loss.__init__)  # type: ignore[method-assign]


class CrossEntropyLoss(_Loss):
    def __init__(
        self,
        weight: Optional[Tensor] = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(reduction)
        self.weight, self.ignore_index, self.label_smoothing = weight, ignore_index, label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(
            input, target, self.weight, self.ignore_index, self.reduction, self.label_smoothing
        )


class NLLLoss(_Loss):
    def __init__(
        self, weight: Optional[Tensor] = None, ignore_index: int = -100, reduction: str = "mean"
    ) -> None:
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(_Loss):
    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, self.reduction)


class _OneOptionLoss(_Loss):
    """A loss with one option besides ``reduction``, after it in PyTorch's constructor as in its
    functional ``_fn(input, target, reduction, option)``: the subclass spells the constructor,
    and the option is kept under the functional's name for it (``HuberLoss.delta``)."""

    _fn: Callable[[Tensor, Tensor, str, Any], Tensor]
    _option: str

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        params = list(inspect.signature(cls._fn).parameters)
        cls._option = params[params.index("reduction") + 1]

    def __init__(self, reduction: str, option: Any) -> None:
        super().__init__(reduction)
        setattr(self, self._option, option)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return self._fn(input, target, self.reduction, getattr(self, self._option))


class HuberLoss(_OneOptionLoss):
    _fn = staticmethod(F.huber_loss)

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction, delta)


class BCEWithLogitsLoss(_Loss):
    def __init__(
        self,
        weight: Optional[Tensor] = None,
        reduction: str = "mean",
        pos_weight: Optional[Tensor] = None,
    ) -> None:
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, self.reduction, self.pos_weight
        )


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities; ``weight`` is a buffer, as in PyTorch."""

    def __init__(self, weight: Optional[Tensor] = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.register_buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, self.reduction)


class SmoothL1Loss(_OneOptionLoss):
    _fn = staticmethod(F.smooth_l1_loss)

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction, beta)


class KLDivLoss(_OneOptionLoss):
    """KL divergence of log-probability ``input`` from ``target``; ``"batchmean"`` gives the
    mathematical KL (``"mean"`` also divides by the number of classes)."""

    _reductions = ("mean", "batchmean", "sum", "none")
    _fn = staticmethod(F.kl_div)

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(reduction, log_target)


class _PairMarginLoss(_Loss):
    """A loss of two inputs and a ``±1`` target with a ``margin`` (PyTorch's constructor for
    both): ``forward`` is ``_fn(input1, input2, target, margin, reduction)``."""

    _fn: Callable[[Tensor, Tensor, Tensor, float, str], Tensor]

    def __init__(self, margin: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return self._fn(input1, input2, target, self.margin, self.reduction)


class MarginRankingLoss(_PairMarginLoss):
    _fn = staticmethod(F.margin_ranking_loss)


class CosineEmbeddingLoss(_PairMarginLoss):
    _fn = staticmethod(F.cosine_embedding_loss)


class TripletMarginLoss(_Loss):
    def __init__(
        self,
        margin: float = 1.0,
        p: float = 2.0,
        eps: float = 1e-6,
        swap: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction)
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return F.triplet_margin_loss(
            anchor, positive, negative, self.margin, self.p, self.eps, self.swap, self.reduction
        )
