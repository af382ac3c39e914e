"""Loss modules; each is also callable as ``loss_fn.forward(pred, target)`` like the seed."""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable, Optional

from .._core import Tensor
from ..errors import InvalidValueError
from . import functional as F
from .module import Module


def _reduction(
    size_average: Optional[bool], reduce: Optional[bool], reduction: str, stacklevel: int = 3
) -> str:
    """``reduction`` from PyTorch's deprecated flags when either is given, with PyTorch's
    warning (old programs pass them, often by position)."""
    if size_average is None and reduce is None:
        return reduction
    reduction = F._legacy_reduction(size_average, reduce, reduction)
    warnings.warn(
        "size_average and reduce args will be deprecated, please use "
        f"reduction='{reduction}' instead.",
        UserWarning,
        stacklevel=stacklevel,
    )
    return reduction


def _check_triplet_margin(name: str, margin: float) -> None:
    """PyTorch refuses a non-positive margin when a triplet loss is built: the check of
    ``TripletMarginLoss`` and ``TripletMarginWithDistanceLoss``."""
    if margin <= 0:
        raise InvalidValueError(
            f"{name}: expected margin to be greater than 0, got {margin} instead"
        )


class _Loss(Module):
    """PyTorch's loss base, with its constructor: programs subclass it for their own losses
    (``super().__init__(reduction=...)`` or ``super().__init__(size_average, reduce,
    reduction)``)."""

    _reductions: tuple[str, ...] = ("mean", "sum", "none")

    def __init_subclass__(cls, **kwargs: object) -> None:
        # Every loss of this package takes PyTorch's deprecated ``size_average=``/``reduce=``
        # keywords (old programs write ``nn.MSELoss(size_average=False)`` for a summed loss); a
        # constructor that spells them itself (in PyTorch's positions) is left as written, and
        # so is a program's own subclass (whose ``__init__`` may have no ``reduction`` at all).
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or not cls.__module__.startswith("democratising."):
            return
        params = inspect.signature(init).parameters
        if "reduction" in params and "size_average" not in params:
            cls.__init__ = F._takes_legacy_reduction(init)  # type: ignore[method-assign]

    def __init__(
        self,
        size_average: Optional[bool] = None,
        reduce: Optional[bool] = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        reduction = _reduction(size_average, reduce, reduction, stacklevel=4)
        if reduction not in self._reductions:
            raise InvalidValueError(
                f"reduction must be one of {self._reductions}, got {reduction!r}"
            )
        self.reduction = reduction

    def forward_amp(self, input: Tensor, target: Tensor) -> Tensor:
        """The loss under autocast (the seed's ``loss_fn.forward_amp``): computed in float32
        from low-precision predictions."""
        from ..amp import autocast

        with autocast():
            return self.forward(input, target)


class _WeightedLoss(_Loss):
    """PyTorch's base of the losses with a per-class ``weight`` (a buffer, so ``state_dict``
    and ``.to()`` carry it); programs subclass it, e.g. a focal loss calling
    ``super().__init__(weight, reduction=reduction)``."""

    def __init__(
        self,
        weight: Optional[Tensor] = None,
        size_average: Optional[bool] = None,
        reduce: Optional[bool] = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=_reduction(size_average, reduce, reduction, stacklevel=4))
        self.register_buffer("weight", weight)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy over class logits; ``weight`` (per class) is a buffer, as in PyTorch."""

    def __init__(
        self,
        weight: Optional[Tensor] = None,
        size_average: Optional[bool] = None,
        ignore_index: int = -100,
        reduce: Optional[bool] = None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(weight, reduction=_reduction(size_average, reduce, reduction))
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(
            input,
            target,
            self.weight,
            ignore_index=self.ignore_index,
            reduction=self.reduction,
            label_smoothing=self.label_smoothing,
        )


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities; ``weight`` (per class) is a buffer."""

    def __init__(
        self,
        weight: Optional[Tensor] = None,
        size_average: Optional[bool] = None,
        ignore_index: int = -100,
        reduce: Optional[bool] = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, reduction=_reduction(size_average, reduce, reduction))
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(
            input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction
        )


class _PlainLoss(_Loss):
    """A loss whose only option is the reduction: PyTorch's ``_Loss`` constructor, legacy
    flags by position first."""

    def __init__(
        self,
        size_average: Optional[bool] = None,
        reduce: Optional[bool] = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=_reduction(size_average, reduce, reduction))


class MSELoss(_PlainLoss):
    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_PlainLoss):
    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class _OneOptionLoss(_Loss):
    """A loss with one option besides ``reduction``, after it in PyTorch's constructor as in its
    functional ``_fn(input, target, reduction, option)``: the subclass spells the constructor,
    and the option is kept under the functional's name for it (``HuberLoss.delta``)."""

    _fn: Callable[..., Tensor]
    _option: str

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        params = list(inspect.signature(cls._fn).parameters)
        cls._option = params[params.index("reduction") + 1]

    def __init__(self, reduction: str, option: Any) -> None:
        super().__init__(reduction=reduction)
        setattr(self, self._option, option)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        option = {self._option: getattr(self, self._option)}
        return self._fn(input, target, reduction=self.reduction, **option)


class HuberLoss(_OneOptionLoss):
    _fn = staticmethod(F.huber_loss)

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction, delta)


class BCEWithLogitsLoss(_WeightedLoss):
    """Binary cross-entropy on logits; ``weight`` and ``pos_weight`` are buffers, as in
    PyTorch (``state_dict`` and ``.to()`` carry them)."""

    def __init__(
        self,
        weight: Optional[Tensor] = None,
        size_average: Optional[bool] = None,
        reduce: Optional[bool] = None,
        reduction: str = "mean",
        pos_weight: Optional[Tensor] = None,
    ) -> None:
        super().__init__(weight, reduction=_reduction(size_average, reduce, reduction))
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy_with_logits(
            input, target, self.weight, reduction=self.reduction, pos_weight=self.pos_weight
        )


class BCELoss(_WeightedLoss):
    """Binary cross-entropy on probabilities; ``weight`` is a buffer, as in PyTorch."""

    def __init__(
        self,
        weight: Optional[Tensor] = None,
        size_average: Optional[bool] = None,
        reduce: Optional[bool] = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(weight, reduction=_reduction(size_average, reduce, reduction))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class SmoothL1Loss(_OneOptionLoss):
    _fn = staticmethod(F.smooth_l1_loss)

    def __init__(
        self,
        size_average: Optional[bool] = None,
        reduce: Optional[bool] = None,
        reduction: str = "mean",
        beta: float = 1.0,
    ) -> None:
        super().__init__(_reduction(size_average, reduce, reduction), beta)


class KLDivLoss(_OneOptionLoss):
    """KL divergence of log-probability ``input`` from ``target``; ``"batchmean"`` gives the
    mathematical KL (``"mean"`` also divides by the number of classes)."""

    _reductions = ("mean", "batchmean", "sum", "none")
    _fn = staticmethod(F.kl_div)

    def __init__(
        self,
        size_average: Optional[bool] = None,
        reduce: Optional[bool] = None,
        reduction: str = "mean",
        log_target: bool = False,
    ) -> None:
        super().__init__(_reduction(size_average, reduce, reduction), log_target)


class _PairMarginLoss(_Loss):
    """A loss of two inputs and a ``±1`` target with a ``margin`` (PyTorch's constructor for
    both): ``forward`` is ``_fn(input1, input2, target, margin, reduction)``."""

    _fn: Callable[..., Tensor]

    def __init__(
        self,
        margin: float = 0.0,
        size_average: Optional[bool] = None,
        reduce: Optional[bool] = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=_reduction(size_average, reduce, reduction))
        self.margin = margin

    def forward(self, input1: Tensor, input2: Tensor, target: Tensor) -> Tensor:
        return self._fn(input1, input2, target, margin=self.margin, reduction=self.reduction)


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
        size_average: Optional[bool] = None,
        reduce: Optional[bool] = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=_reduction(size_average, reduce, reduction))
        _check_triplet_margin("TripletMarginLoss", margin)
        self.margin, self.p, self.eps, self.swap = margin, p, eps, swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        options = (self.margin, self.p, self.eps, self.swap)  # the functional's order
        return F.triplet_margin_loss(anchor, positive, negative, *options, reduction=self.reduction)


def default_loss_for(out: Any, target: Any) -> Callable[[Any, Any], Tensor]:
    """The loss a training loop without ``loss_fn`` uses (the ``Trainer``, the seed's
    ``DistributedModel.forward((x, y))``), chosen from one batch: cross entropy, except for
    float targets of a single-output model (``[N]`` or ``[N, 1]``), where cross entropy over one
    class is 0 whatever the weights, so regression would silently learn nothing: those get
    ``MSELoss`` (row by row for ``[N, 1]`` outputs against ``[N]`` targets, not an ``[N, N]``
    broadcast)."""
    if not (
        isinstance(out, Tensor)
        and isinstance(target, Tensor)
        and target.dtype.is_floating_point
        and (out.ndim == 1 or (out.ndim == 2 and int(out.shape[1]) == 1))
    ):
        return CrossEntropyLoss()
    mse = MSELoss()
    if out.ndim == 2 and target.ndim == 1:

        def flat_mse(o: Tensor, t: Tensor) -> Tensor:
            return mse(o.reshape(t.shape), t)

        return flat_mse
    return mse
