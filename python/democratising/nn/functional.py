"""``democratising.nn.functional``: the functional form of the layers and losses."""

from __future__ import annotations

from typing import Optional

from .. import _core
from .._core import Tensor
from ..errors import DTypeError, IndexOutOfRangeError, ShapeError

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(x: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return x.mean()
    if reduction == "sum":
        return x.sum()
    if reduction == "none":
        return x
    raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def linear(input: Tensor, weight: Tensor, bias: Optional[Tensor] = None) -> Tensor:
    """``input @ weight.T + bias`` (one fused engine op)."""
    return _core._linear(input, weight, bias)


def relu(input: Tensor) -> Tensor:
    return input.relu()


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    return input.gelu(approximate=approximate)


def silu(input: Tensor) -> Tensor:
    return input.silu()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def sigmoid(input: Tensor) -> Tensor:
    return input.sigmoid()


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return input.softplus(beta=beta, threshold=threshold)


def softmax(input: Tensor, dim: int = -1) -> Tensor:
    return input.softmax(dim)


def log_softmax(input: Tensor, dim: int = -1) -> Tensor:
    return input.log_softmax(dim)


def dropout(input: Tensor, p: float = 0.5, training: bool = True) -> Tensor:
    """Zeroes elements with probability ``p`` and scales the rest by ``1/(1-p)``."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    mask = (_core.rand(*input.shape) >= p).to(input.dtype)
    return input * mask * (0.0 if p == 1.0 else 1.0 / (1.0 - p))


def _check_targets(input: Tensor, target: Tensor, ignore_index: int) -> None:
    if target.dtype.is_floating_point:
        raise DTypeError(
            f"expected class-index targets of an integer dtype, got {target.dtype} "
            "(float targets mean class probabilities, which are not supported here)"
        )
    n = input.shape[0] if input.ndim > 1 else 1
    if target.ndim != input.ndim - 1 or (input.ndim > 1 and target.shape[0] != n):
        raise ShapeError(
            f"expected target of shape {(n,) if input.ndim > 1 else ()} for input of shape "
            f"{tuple(input.shape)}, got {tuple(target.shape)}"
        )
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    t = target.numpy()
    bad = t[(t != ignore_index) & ((t < 0) | (t >= c))]
    if bad.size:
        raise IndexOutOfRangeError(
            f"target label {int(bad.flat[0])} is out of bounds for {c} classes"
        )


def nll_loss(
    input: Tensor,
    target: Tensor,
    weight: Optional[Tensor] = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` ``[N, C]`` for labels ``[N]``."""
    _check_targets(input, target, ignore_index)
    if input.ndim == 1:
        input, target = input.unsqueeze(0), target.unsqueeze(0)
    valid = target != ignore_index
    safe = target.masked_fill(valid.logical_not(), 0)
    picked = -input.gather(1, safe.unsqueeze(1)).squeeze(1)
    w = valid.to(input.dtype)
    if weight is not None:
        w = w * weight.index_select(0, safe)
    losses = picked * w
    if reduction == "mean":
        return losses.sum() / w.sum()
    return _reduce(losses, reduction)


def cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Optional[Tensor] = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Softmax cross-entropy over class indices, with PyTorch's ``label_smoothing``."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    logp = input.log_softmax(1 if input.ndim > 1 else 0)
    nll = nll_loss(logp, target, weight, ignore_index, reduction)
    if label_smoothing == 0.0:
        return nll
    lp = logp if logp.ndim > 1 else logp.unsqueeze(0)
    tg = target if target.ndim > 0 else target.unsqueeze(0)
    c = lp.shape[1]
    valid = (tg != ignore_index).to(lp.dtype)
    per_class = lp if weight is None else lp * weight
    smooth = -per_class.sum(dim=1) * valid
    if reduction == "mean":
        if weight is None:
            denom = valid.sum()
        else:
            denom = (weight.index_select(0, tg.masked_fill((tg == ignore_index), 0)) * valid).sum()
        smooth = smooth.sum() / denom
    else:
        smooth = _reduce(smooth, reduction)
    return nll * (1.0 - label_smoothing) + smooth * (label_smoothing / c)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    _same_shape(input, target, "mse_loss")
    return _reduce((input - target).square(), reduction)


def l1_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    _same_shape(input, target, "l1_loss")
    return _reduce((input - target).abs(), reduction)


def huber_loss(
    input: Tensor,
    target: Tensor,
    reduction: str = "mean",
    delta: float = 1.0,
) -> Tensor:
    _same_shape(input, target, "huber_loss")
    d = (input - target).abs()
    quad = d.clamp(max=delta)
    return _reduce(0.5 * quad * quad + delta * (d - quad), reduction)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Optional[Tensor] = None,
    reduction: str = "mean",
    pos_weight: Optional[Tensor] = None,
) -> Tensor:
    """Stable ``-[y log sigmoid(x) + (1-y) log(1-sigmoid(x))]``."""
    _same_shape(input, target, "binary_cross_entropy_with_logits")
    log_sig = -(-input).softplus()  # log sigmoid(x)
    log_one_minus = -input.softplus()  # log(1 - sigmoid(x))
    pos = target * log_sig
    if pos_weight is not None:
        pos = pos * pos_weight
    loss = -(pos + (1 - target) * log_one_minus)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def _same_shape(a: Tensor, b: Tensor, name: str) -> None:
    if tuple(a.shape) != tuple(b.shape):
        raise ShapeError(
            f"{name}: input shape {tuple(a.shape)} and target shape {tuple(b.shape)} differ"
        )
