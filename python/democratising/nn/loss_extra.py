"""More of PyTorch's loss modules (``GaussianNLLLoss``, ``PoissonNLLLoss``, the hinge and
margin losses, ``TripletMarginWithDistanceLoss``, ``CTCLoss``), over the functionals in
``nn._functional_losses_extra``. Their constructors are PyTorch's signatures, the deprecated
``size_average``/``reduce`` arguments in PyTorch's places where it has them."""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, Optional, Union

from .._core import Tensor
from ..errors import InvalidValueError, ShapeError
from . import _functional_losses_extra as FX
from .functional import _takes_positional_legacy_reduction
from .layers import PairwiseDistance
from .loss import NLLLoss, _check_triplet_margin, _Loss, _reduction
from .module import Module

__all__ = [
    "CTCLoss",
    "GaussianNLLLoss",
    "HingeEmbeddingLoss",
    "MultiLabelMarginLoss",
    "MultiLabelSoftMarginLoss",
    "MultiMarginLoss",
    "NLLLoss2d",
    "PoissonNLLLoss",
    "SoftMarginLoss",
    "TripletMarginWithDistanceLoss",
]


class _TorchSignatureLoss(_Loss):
    """A loss whose ``__init__`` has PyTorch's signature itself (legacy arguments in PyTorch's
    places where it has them, written out or added by ``_takes_positional_legacy_reduction``),
    so ``_Loss`` does not add keyword-only ``size_average``/``reduce``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super(_Loss, cls).__init_subclass__(**kwargs)


class GaussianNLLLoss(_TorchSignatureLoss):
    """Gaussian negative log-likelihood of ``target`` under mean ``input`` and variance
    ``var`` (see ``F.gaussian_nll_loss``)."""

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.full, self.eps = full, eps

    def forward(self, input: Tensor, target: Tensor, var: Union[Tensor, float]) -> Tensor:
        return FX.gaussian_nll_loss(input, target, var, self.full, self.eps, self.reduction)


class PoissonNLLLoss(_TorchSignatureLoss):
    """Poisson negative log-likelihood of ``target`` (see ``F.poisson_nll_loss``)."""

    def __init__(
        self,
        log_input: bool = True,
        full: bool = False,
        size_average: Optional[bool] = None,
        eps: float = 1e-8,
        reduce: Optional[bool] = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=_reduction(size_average, reduce, reduction))
        self.log_input, self.full, self.eps = log_input, full, eps

    def forward(self, log_input: Tensor, target: Tensor) -> Tensor:
        return FX.poisson_nll_loss(
            log_input, target, self.log_input, self.full, eps=self.eps, reduction=self.reduction
        )


class HingeEmbeddingLoss(_TorchSignatureLoss):
    """``input`` where ``target`` is 1, ``max(0, margin - input)`` where it is -1."""

    @_takes_positional_legacy_reduction
    def __init__(self, margin: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.margin = margin

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FX.hinge_embedding_loss(input, target, self.margin, reduction=self.reduction)


class _ReductionOnlyLoss(_TorchSignatureLoss):
    """A loss whose only arguments are PyTorch's reduction ones: the subclass names its
    functional as ``_loss``."""

    _loss: Callable[..., Tensor]

    @_takes_positional_legacy_reduction
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return type(self)._loss(input, target, reduction=self.reduction)


class SoftMarginLoss(_ReductionOnlyLoss):
    """``log(1 + exp(-target * input))`` for ``±1`` targets."""

    _loss = staticmethod(FX.soft_margin_loss)


class MultiLabelSoftMarginLoss(_TorchSignatureLoss):
    """Per-class logistic loss averaged over classes; ``weight`` (per class) is a buffer."""

    @_takes_positional_legacy_reduction
    def __init__(self, weight: Optional[Tensor] = None, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self.register_buffer("weight", weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FX.multilabel_soft_margin_loss(input, target, self.weight, reduction=self.reduction)


class MultiMarginLoss(_TorchSignatureLoss):
    """Multi-class hinge loss (``p`` of 1 or 2); ``weight`` (per class) is a buffer."""

    @_takes_positional_legacy_reduction
    def __init__(
        self,
        p: int = 1,
        margin: float = 1.0,
        weight: Optional[Tensor] = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        if p not in (1, 2):
            raise InvalidValueError("only p == 1 and p == 2 supported")
        if weight is not None and weight.ndim != 1:
            raise ShapeError(
                "MultiMarginLoss: expected weight to be None or 1D tensor, got "
                f"{weight.ndim}D instead"
            )
        self.register_buffer("weight", weight)
        self.p, self.margin = p, margin

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return FX.multi_margin_loss(
            input, target, self.p, self.margin, self.weight, reduction=self.reduction
        )


class MultiLabelMarginLoss(_ReductionOnlyLoss):
    """Multi-label hinge loss over ``-1``-padded lists of target classes."""

    _loss = staticmethod(FX.multilabel_margin_loss)


class TripletMarginWithDistanceLoss(_TorchSignatureLoss):
    """Triplet loss with a custom ``distance_function`` (a ``PairwiseDistance()`` submodule by
    default, as in PyTorch)."""

    def __init__(
        self,
        *,
        distance_function: Optional[Callable[[Tensor, Tensor], Tensor]] = None,
        margin: float = 1.0,
        swap: bool = False,
        reduction: str = "mean",
    ) -> None:
        super().__init__(reduction=reduction)
        _check_triplet_margin("TripletMarginWithDistanceLoss", margin)
        self.distance_function: Union[Module, Callable[[Tensor, Tensor], Tensor]] = (
            distance_function if distance_function is not None else PairwiseDistance()
        )
        self.margin, self.swap = margin, swap

    def forward(self, anchor: Tensor, positive: Tensor, negative: Tensor) -> Tensor:
        return FX.triplet_margin_with_distance_loss(
            anchor,
            positive,
            negative,
            distance_function=self.distance_function,
            margin=self.margin,
            swap=self.swap,
            reduction=self.reduction,
        )


class CTCLoss(_TorchSignatureLoss):
    """Connectionist temporal classification loss (see ``F.ctc_loss``)."""

    def __init__(
        self, blank: int = 0, reduction: str = "mean", zero_infinity: bool = False
    ) -> None:
        super().__init__(reduction=reduction)
        self.blank, self.zero_infinity = blank, zero_infinity

    def forward(
        self,
        log_probs: Tensor,
        targets: Tensor,
        input_lengths: Tensor,
        target_lengths: Tensor,
    ) -> Tensor:
        return FX.ctc_loss(
            log_probs,
            targets,
            input_lengths,
            target_lengths,
            self.blank,
            self.reduction,
            self.zero_infinity,
        )


class NLLLoss2d(NLLLoss):
    """PyTorch's deprecated name of ``NLLLoss`` (which takes ``[N, C, H, W]`` inputs itself);
    it warns as PyTorch does."""

    @functools.wraps(NLLLoss.__init__)  # ``NLLLoss``'s constructor (and signature), warning first
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        warnings.warn(
            "`NLLLoss2d` has been deprecated. Please use `NLLLoss` instead as a drop-in "
            "replacement.",
            FutureWarning,
            stacklevel=2,
        )
        super().__init__(*args, **kwargs)
