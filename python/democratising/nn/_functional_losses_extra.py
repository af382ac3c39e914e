"""More of PyTorch's functional losses, re-exported from ``nn.functional``: the Gaussian and
Poisson negative log-likelihoods, the hinge/soft-margin family, the multi-class and multi-label
margin losses, the triplet loss with a custom distance and the CTC loss. Each is a composite of
engine ops, so autograd differentiates it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Callable, Optional, Union

import numpy as np

from .. import _core
from .._core import Tensor
from .._tensor import tensor as _tensor
from .._tensor_extra import _takes_tensor
from ..errors import (
    ArgumentTypeError,
    DTypeError,
    IndexOutOfRangeError,
    InvalidValueError,
    ShapeError,
)
from .functional import (
    _autocast_f32,
    _check_triplet,
    _reduce,
    _takes_positional_legacy_reduction,
    _triplet_loss,
    _warn_legacy,
    pairwise_distance,
)

__all__ = [
    "ctc_loss",
    "gaussian_nll_loss",
    "hinge_embedding_loss",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "poisson_nll_loss",
    "soft_margin_loss",
    "triplet_margin_with_distance_loss",
]

_REDUCTIONS = ("mean", "sum", "none")


class _LabelOutOfRangeError(IndexOutOfRangeError, RuntimeError):
    """A class label or blank index outside ``[0, C)``: PyTorch raises ``RuntimeError`` for
    these losses, so a program catching that still catches it."""


def _check_reduction(reduction: str) -> None:
    """PyTorch's error for an unknown ``reduction``, raised before any work is done."""
    if reduction not in _REDUCTIONS:
        raise InvalidValueError(f"{reduction} is not a valid value for reduction")


def _broadcasts_to(target: Tensor, input: Tensor, name: str) -> None:
    """PyTorch's rule for the elementwise losses computed into an input-shaped result: the
    target must broadcast to the input's shape."""
    try:
        shape = np.broadcast_shapes(tuple(input.shape), tuple(target.shape))
    except ValueError:
        shape = None
    if shape != tuple(input.shape):
        raise ShapeError(
            f"{name}: target shape {tuple(target.shape)} does not broadcast to the input shape "
            f"{tuple(input.shape)}"
        )


# ---- likelihoods -------------------------------------------------------------------------------


@_takes_tensor
def gaussian_nll_loss(
    input: Tensor,
    target: Tensor,
    var: Union[Tensor, float],
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> Tensor:
    """``0.5 * (log(var) + (input - target)² / var)`` (plus ``0.5 log(2π)`` when ``full``).
    ``var`` has the input's shape, or one dimension fewer (one variance per row), or a single
    mismatched dimension of size 1; it is clamped to ``eps`` with the gradient passing straight
    through, as PyTorch's in-place ``no_grad`` clamp does."""
    if isinstance(var, (int, float)) and not isinstance(var, bool):
        if var < 0:
            raise InvalidValueError("var has negative entry/entries")
        var = _core.full(tuple(input.shape), float(var), dtype=input.dtype, device=input.device)
    elif not isinstance(var, Tensor):
        raise ArgumentTypeError(
            f"gaussian_nll_loss: var must be a Tensor or float, not {type(var)}"
        )
    elif bool((var < 0).any()):
        raise InvalidValueError("var has negative entry/entries")
    in_shape, var_shape = tuple(input.shape), tuple(var.shape)
    if var_shape != in_shape:
        if in_shape[:-1] == var_shape:
            var = var.unsqueeze(-1)
        elif not (
            len(in_shape) == len(var_shape)
            and sum(v for i, v in zip(in_shape, var_shape) if i != v) == 1
        ):
            raise ShapeError(
                f"var is of incorrect size: {var_shape} for an input of size {in_shape}"
            )
    if reduction not in _REDUCTIONS:
        raise InvalidValueError(f"{reduction} is not valid")
    var = var + (var.clamp(min=eps) - var).detach()
    loss = 0.5 * (var.log() + (input - target).square() / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


@_takes_tensor
def poisson_nll_loss(
    input: Tensor,
    target: Tensor,
    log_input: bool = True,
    full: bool = False,
    size_average: Optional[bool] = None,
    eps: float = 1e-8,
    reduce: Optional[bool] = None,
    reduction: str = "mean",
) -> Tensor:
    """Poisson negative log-likelihood: ``exp(input) - target * input`` when ``log_input``,
    else ``input - target * log(input + eps)``; ``full`` adds Stirling's approximation
    ``t log t - t + 0.5 log(2π t)`` of ``log(t!)`` where the target is above 1."""
    if size_average is not None or reduce is not None:
        reduction = _warn_legacy(size_average, reduce, 3)  # (past ``_takes_tensor``)
    _check_reduction(reduction)
    input, target = _autocast_f32(input, target)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        big = target > 1
        t = _core.where(big, target, 1.0)  # finite logs (and gradients) where it is dropped
        stirling = t * t.log() - t + 0.5 * (2 * math.pi * t).log()
        loss = loss + _core.where(big, stirling, 0.0)
    return _reduce(loss, reduction)


# ---- hinge and soft-margin losses ------------------------------------------------------------


@_takes_tensor
@_takes_positional_legacy_reduction
def hinge_embedding_loss(
    input: Tensor, target: Tensor, margin: float = 1.0, reduction: str = "mean"
) -> Tensor:
    """``input`` where ``target`` is 1, ``max(0, margin - input)`` where it is -1 (PyTorch
    adds both terms for any other target value)."""
    _check_reduction(reduction)
    input, target = _autocast_f32(input, target)
    # ``relu`` rather than ``clamp(min=0)``: PyTorch passes no gradient at the hinge's kink.
    margin_term = (margin - input).relu()
    # Scalar zeros, as PyTorch's zeros_like: ``input * 0.0`` is NaN where the input is infinite.
    loss = _core.where(target != 1, margin_term, 0.0) + _core.where(target != -1, input, 0.0)
    return _reduce(loss, reduction)


@_takes_tensor
@_takes_positional_legacy_reduction
def soft_margin_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """``log(1 + exp(-target * input))``, computed as a softplus (stable for large margins)."""
    _check_reduction(reduction)
    _broadcasts_to(target, input, "soft_margin_loss")
    # (``-input * target``, as PyTorch's: a bool target cannot be negated)
    return _reduce((-input * target).softplus(), reduction)


@_takes_tensor
@_takes_positional_legacy_reduction
def multilabel_soft_margin_loss(
    input: Tensor, target: Tensor, weight: Optional[Tensor] = None, reduction: str = "mean"
) -> Tensor:
    """Per-class binary cross-entropy on logits, optionally ``weight``-ed per class, averaged
    over the last (class) dimension: one loss per sample."""
    _check_reduction(reduction)
    log_sig = -(-input).softplus()  # log sigmoid(x)
    log_one_minus = -input.softplus()  # log sigmoid(-x)
    loss = -(target * log_sig + (1 - target) * log_one_minus)
    if weight is not None:
        loss = loss * weight
    c = input.shape[-1] if input.ndim else 1
    return _reduce(loss.sum(-1) / c if input.ndim else loss, reduction)


# ---- multi-class and multi-label margin losses ---------------------------------------------------


def _as_rows(input: Tensor, target: Tensor, name: str) -> Tensor:
    """``input`` as ``[N, C]`` rows (PyTorch's "non-empty vector or matrix with optional 0-dim
    batch size"), with the target's dtype and shape checked."""
    if input.ndim > 2 or (input.ndim == 2 and input.shape[0] != 0 and input.shape[1] == 0):
        raise ShapeError(
            "Expected non-empty vector or matrix with optional 0-dim batch size, but got: "
            f"{list(input.shape)}"
        )
    if target.dtype != _core.int64:
        raise DTypeError(f"{name}: expected target of dtype int64, got {target.dtype}")
    if not input.is_floating_point():
        raise DTypeError(f"{name}: expected a floating point input, got {input.dtype}")
    if input.ndim < 2:
        return input.reshape(1, -1)
    return input


@_takes_tensor
@_takes_positional_legacy_reduction
def multi_margin_loss(
    input: Tensor,
    target: Tensor,
    p: int = 1,
    margin: float = 1.0,
    weight: Optional[Tensor] = None,
    reduction: str = "mean",
) -> Tensor:
    """Multi-class hinge loss: ``sum_{j != y} max(0, margin - x[y] + x[j])^p * weight[y] / C``
    per sample, for ``input`` ``[N, C]`` (or ``[C]``) and class indices ``target`` ``[N]``."""
    _check_reduction(reduction)
    if p not in (1, 2):
        raise InvalidValueError("only p == 1 and p == 2 supported")
    if weight is not None and weight.ndim != 1:
        raise ShapeError("weight must be one-dimensional")
    x = _as_rows(_autocast_f32(input)[0], target, "multi_margin_loss")
    n, c = x.shape
    if target.ndim > 1 or target.numel() != n:
        raise ShapeError(
            "multi_margin_loss: target tensor should be 1-D with size equal to the number of "
            f"input samples (batch size). Expected target size [{n}], but got "
            f"{list(target.shape)}. Input has shape {list(input.shape)}."
        )
    if weight is not None and weight.numel() != c:
        raise ShapeError(f"inconsistent weight size, expected {c} but got {list(weight.shape)}")
    labels = target.reshape(n)
    if n and bool(((labels < 0) | (labels >= c)).any()):
        raise _LabelOutOfRangeError("target out of range")
    idx = labels.reshape(n, 1)
    z = (margin - x.gather(1, idx) + x).relu()  # no gradient at the kink, as in PyTorch
    h = z if p == 1 else z * z
    others = _core.arange(c, device=x.device).reshape(1, c) != idx
    h = _core.where(others, h, 0.0)
    if weight is not None:
        h = h * weight.to(dtype=x.dtype).index_select(0, labels).reshape(n, 1)
    loss = h.sum(1) / c
    if input.ndim < 2 and target.ndim == 0:
        loss = loss.reshape(())
    return _reduce(loss, reduction)


@_takes_tensor
@_takes_positional_legacy_reduction
def multilabel_margin_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """Multi-label hinge loss: ``sum_{j in targets} sum_{k not in targets}
    max(0, 1 - (x[j] - x[k])) / C`` per sample. ``target`` has the input's shape and lists
    each sample's class indices, ended by the first ``-1`` (PyTorch's padding)."""
    _check_reduction(reduction)
    x = _as_rows(_autocast_f32(input)[0], target, "multilabel_margin_loss")
    n, c = x.shape
    if tuple(target.shape) != tuple(input.shape):
        raise ShapeError(
            f"inconsistent target size: {list(target.shape)} for input of size {list(input.shape)}"
        )
    labels = np.asarray(target.detach().cpu().numpy(), dtype=np.int64).reshape(n, c)
    if labels.size and (labels.min() < -1 or labels.max() >= c):
        raise _LabelOutOfRangeError("argument #2 'target' is out of range")
    listed = np.cumprod(labels != -1, axis=1).astype(bool)  # the entries before the first -1
    rows = np.broadcast_to(np.arange(n)[:, None], labels.shape)
    counts = np.zeros((n, c), dtype=np.float64)  # how often class j is listed in row i
    np.add.at(counts, (rows[listed], labels[listed]), 1.0)
    others = (counts == 0).astype(np.float64)
    weights = counts[:, :, None] * others[:, None, :]
    pair_weight = _tensor(weights, dtype=x.dtype, device=x.device)
    pair = _core.from_numpy(weights > 0).to(x.device)
    z = 1.0 - x.reshape(n, c, 1) + x.reshape(n, 1, c)
    # As PyTorch's kernel (``if (z > 0) sum += z``), a pair adds its hinge only where it is
    # positive (no gradient at the kink, a NaN one adds nothing) and only for a listed/unlisted
    # pair: the others' hinges are dropped, not multiplied by 0 (inf * 0 is NaN).
    hinge = _core.where(pair & (z > 0), z, 0.0)
    loss = (hinge * pair_weight).sum((1, 2)) / c
    if input.ndim < 2:
        loss = loss.reshape(())
    if reduction == "mean" and n == 0:
        return loss.sum()  # PyTorch's kernel sums nothing and gives 0, not the mean's NaN
    return _reduce(loss, reduction)


# ---- triplet loss with a custom distance ---------------------------------------------------------


@_takes_tensor
def triplet_margin_with_distance_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    *,
    distance_function: Optional[Callable[[Tensor, Tensor], Tensor]] = None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """``max(d(a, p) - d(a, n) + margin, 0)`` with ``d`` = ``distance_function`` (default
    ``pairwise_distance``); ``swap`` uses ``min(d(a, n), d(p, n))`` as the negative distance."""
    _check_reduction(reduction)
    _check_triplet(anchor, positive, negative, margin)
    dist = pairwise_distance if distance_function is None else _tensor_valued(distance_function)
    return _triplet_loss(anchor, positive, negative, dist, margin, swap, reduction)


def _tensor_valued(
    distance_function: Callable[[Tensor, Tensor], Tensor],
) -> Callable[[Tensor, Tensor], Tensor]:
    """``distance_function`` refusing a non-tensor result with a ``TypeError`` that names it
    (a float from ``lambda a, b: 1.0`` would otherwise fail deep inside as an
    ``AttributeError``)."""

    def dist(a: Tensor, b: Tensor) -> Tensor:
        d = distance_function(a, b)
        if not isinstance(d, Tensor):
            name = getattr(distance_function, "__name__", type(distance_function).__name__)
            raise ArgumentTypeError(
                f"triplet_margin_with_distance_loss: distance_function {name} must return a "
                f"Tensor of distances, got {type(d).__name__}"
            )
        return d

    return dist


# ---- connectionist temporal classification -------------------------------------------------------

#: Stands in for log(0) in the CTC recursion: finite, so logsumexp's gradient never sees
#: ``-inf - -inf``; a total log-likelihood below half of it means "no alignment".
_CTC_NEG = -1e30


def _lengths(lengths: Union[Tensor, Sequence[int], int], name: str) -> np.ndarray:
    """A batch of lengths (tensor, sequence or int) as a 1-d int64 array."""
    if isinstance(lengths, Tensor):
        if lengths.is_floating_point() or lengths.dtype == _core.bool:
            raise DTypeError(f"{name} must be integral")
        return np.asarray(lengths.detach().cpu().numpy(), dtype=np.int64).reshape(-1)
    values = np.asarray(lengths)
    if values.dtype.kind not in "iu":
        raise DTypeError(f"{name} must be integral")
    return values.astype(np.int64).reshape(-1)


def _ctc_labels(
    targets: Tensor, target_lengths: np.ndarray, n: int, c: int, blank: int
) -> np.ndarray:
    """The targets as ``[N, S_max]`` labels (blank past each target's length), from a padded
    ``[N, S]`` tensor or the 1-d concatenation of every target."""
    if targets.ndim not in (1, 2):
        raise ShapeError(
            f"Expected 1 to 2 dimensions, but got {targets.ndim}-dimensional tensor for "
            "argument #2 'targets'"
        )
    values = np.asarray(targets.detach().cpu().numpy()).astype(np.int64)
    s_max = int(target_lengths.max()) if n else 0
    labels = np.full((n, s_max), blank, dtype=np.int64)
    if targets.ndim == 2:
        if values.shape[0] != n:
            raise ShapeError(
                f"Expected tensor to have size {n} at dimension 0, but got size "
                f"{values.shape[0]} for argument #2 'targets'"
            )
        if values.shape[1] < s_max:
            raise ShapeError(
                f"Expected tensor to have size at least {s_max} at dimension 1, but got size "
                f"{values.shape[1]} for argument #2 'targets'"
            )
        for i, length in enumerate(target_lengths):
            labels[i, :length] = values[i, :length]
    else:
        total = int(target_lengths.sum())
        if values.shape[0] != total:
            raise ShapeError(
                f"Expected tensor to have size {total} at dimension 0, but got size "
                f"{values.shape[0]} for argument #2 'targets'"
            )
        offsets = np.concatenate([[0], np.cumsum(target_lengths)])
        for i, length in enumerate(target_lengths):
            labels[i, :length] = values[offsets[i] : offsets[i] + length]
    if labels.size and (labels.min() < 0 or labels.max() >= c):
        raise _LabelOutOfRangeError(f"ctc_loss: target labels must be in [0, {c}), got {labels}")
    return labels


@_takes_tensor
def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Union[Tensor, Sequence[int]],
    target_lengths: Union[Tensor, Sequence[int]],
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """Connectionist temporal classification loss: ``-log`` of the total probability of every
    alignment of each target to its input frames. ``log_probs`` is ``[T, N, C]`` (or ``[T, C]``
    unbatched) log-probabilities; ``targets`` padded ``[N, S]`` or the 1-d concatenation of
    the targets. ``"mean"`` divides each loss by its target length, then averages over the
    batch; ``zero_infinity`` replaces impossible alignments' infinite losses (and their
    gradients) by zero. Computed by the forward algorithm in log space, vectorised over the
    batch and the extended label sequence, one step per frame."""
    _check_reduction(reduction)
    if not log_probs.is_floating_point():
        raise DTypeError(f"ctc_loss expects floating point log_probs, got {log_probs.dtype}")
    if log_probs.ndim not in (2, 3):
        raise ShapeError(f"ctc_loss expects log_probs of 2 or 3 dims, got {log_probs.ndim}")
    if log_probs.numel() == 0:
        raise ShapeError("log_probs tensor must not be empty")
    unbatched = log_probs.ndim == 2
    lp = log_probs.unsqueeze(1) if unbatched else log_probs
    if lp.dtype not in (_core.float32, _core.float64):
        lp = lp.float()
    t_max, n, c = lp.shape
    if not 0 <= blank < c:
        raise _LabelOutOfRangeError("blank must be in label range")
    in_len = _lengths(input_lengths, "input_lengths")
    tg_len = _lengths(target_lengths, "target_lengths")
    if in_len.size != n:
        raise ShapeError("input_lengths must be of size batch_size")
    if tg_len.size != n:
        raise ShapeError("target_lengths must be of size batch_size")
    for name, lengths in (("input_lengths", in_len), ("target_lengths", tg_len)):
        if lengths.min() < 0:
            raise InvalidValueError(
                f"Expected {name} to have value at least 0, but got value {lengths.min()}"
            )
    if in_len.max() > t_max:
        raise InvalidValueError(
            f"Expected input_lengths to have value at most {t_max}, but got value {in_len.max()}"
        )
    labels = _ctc_labels(targets, tg_len, n, c, blank)

    # The extended sequence: blank, l1, blank, l2, ..., blank; a state may skip the blank
    # before it when its label differs from the one two states back.
    width = 2 * labels.shape[1] + 1
    ext = np.full((n, width), blank, dtype=np.int64)
    ext[:, 1::2] = labels
    skip = np.zeros((n, width), dtype=bool)
    skip[:, 2:] = ext[:, 2:] != ext[:, :-2]
    dev, dt = lp.device, lp.dtype
    index = _tensor(np.ascontiguousarray(np.broadcast_to(ext, (t_max, n, width))), device=dev)
    emit = lp.gather(2, index).clamp(min=_CTC_NEG)  # [T, N, width]
    can_skip = _tensor(skip, device=dev)
    neg = _core.full((n, 2), _CTC_NEG, dtype=dt, device=dev)
    start = np.full((n, width), _CTC_NEG)
    start[:, 0] = 0.0  # "before the first frame": the empty prefix
    alpha = _tensor(start, dtype=dt, device=dev)
    for t in range(int(in_len.max())):
        step1 = _core.cat([neg[:, :1], alpha], 1)[:, :width]
        step2 = _core.where(can_skip, _core.cat([neg, alpha], 1)[:, :width], _CTC_NEG)
        new = _core.stack([alpha, step1, step2]).logsumexp(0) + emit[t]
        active = in_len > t
        if active.all():
            alpha = new
        else:
            alpha = _core.where(_tensor(active.reshape(n, 1), device=dev), new, alpha)

    ends = np.stack([2 * tg_len, np.maximum(2 * tg_len - 1, 0)], 1)
    finals = alpha.gather(1, _tensor(ends, device=dev))
    has_label = _tensor(np.stack([tg_len >= 0, tg_len > 0], 1), device=dev)
    log_likelihood = _core.where(has_label, finals, _CTC_NEG).logsumexp(1)
    possible = log_likelihood > _CTC_NEG / 2
    loss = _core.where(possible, -log_likelihood, 0.0 if zero_infinity else math.inf)
    loss = loss.to(dtype=log_probs.dtype)
    if reduction == "mean":
        divisor = _tensor(np.maximum(tg_len, 1), dtype=loss.dtype, device=dev)
        return (loss / divisor).mean()
    if reduction == "sum":
        return loss.sum()
    return loss.reshape(()) if unbatched else loss
