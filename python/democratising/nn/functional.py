"""``democratising.nn.functional``: the functional form of the layers and losses."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Optional, Union

import numpy as np

from .. import _core
from .._core import Tensor
from .._tensor import tensor as _tensor
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


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    return input.leaky_relu(negative_slope)


def elu(input: Tensor, alpha: float = 1.0) -> Tensor:
    return input.elu(alpha)


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
    if input.is_cuda:
        return _core._dropout(input, p)
    mask = (_core.rand(*input.shape) >= p).to(input.dtype)
    return input * mask * (0.0 if p == 1.0 else 1.0 / (1.0 - p))


def _check_targets(input: Tensor, target: Tensor, ignore_index: int) -> None:
    if target.dtype.is_floating_point:
        raise DTypeError(
            f"expected class-index targets of an integer dtype, got {target.dtype} "
            "(float class probabilities are accepted by cross_entropy only)"
        )
    n = input.shape[0] if input.ndim > 1 else 1
    if target.ndim != input.ndim - 1 or (input.ndim > 1 and target.shape[0] != n):
        raise ShapeError(
            f"expected target of shape {(n,) if input.ndim > 1 else ()} for input of shape "
            f"{tuple(input.shape)}, got {tuple(target.shape)}"
        )
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    t = target.cpu().numpy()
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
    """Softmax cross-entropy against class indices (integer ``target``) or class
    probabilities (float ``target`` of the input's shape), with PyTorch's ``weight``,
    ``ignore_index`` (indices only) and ``label_smoothing``."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {label_smoothing}")
    if not input.dtype.is_floating_point:
        raise DTypeError(
            f"cross_entropy expects floating point logits, got {input.dtype} (use .float())"
        )
    if target.dtype.is_floating_point:
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing)
    if input.ndim == 2 and not target.dtype.is_floating_point:
        # One fused engine kernel (log-sum-exp, smoothing, weights, ignore_index, gradient).
        return _core._cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)
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


def _cross_entropy_probs(
    input: Tensor,
    target: Tensor,
    weight: Optional[Tensor],
    reduction: str,
    label_smoothing: float,
) -> Tensor:
    """Cross-entropy against class probabilities: ``-sum_c w_c * t_c * log_softmax(x)_c`` per
    sample; ``mean`` averages over samples (and spatial positions), as PyTorch does."""
    cdim = 1 if input.ndim > 1 else 0
    index_shape = tuple(input.shape[:cdim]) + tuple(input.shape[cdim + 1 :])
    if tuple(target.shape) == index_shape and tuple(target.shape) != tuple(input.shape):
        raise DTypeError(
            f"class-index targets must be integers, got {target.dtype} (class probabilities "
            f"need a target of the input's shape {tuple(input.shape)})"
        )
    if tuple(target.shape) != tuple(input.shape):
        raise ShapeError(
            f"cross_entropy with class-probability targets expects target of the input's shape "
            f"{tuple(input.shape)}, got {tuple(target.shape)}"
        )
    c = input.shape[cdim]
    logp = input.log_softmax(cdim)
    t = target.to(dtype=logp.dtype)
    if label_smoothing > 0.0:
        t = t * (1.0 - label_smoothing) + label_smoothing / c
    per = logp * t
    if weight is not None:
        shape = [1] * input.ndim
        shape[cdim] = c
        per = per * weight.to(dtype=logp.dtype).reshape(*shape)
    return _reduce(-per.sum(dim=cdim), reduction)


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


def _pair(v: Union[int, Sequence[int]]) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    t = tuple(int(x) for x in v)
    if len(t) != 2:
        raise ValueError(f"expected an int or a pair of ints, got {v!r}")
    return t  # type: ignore[return-value]


def conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Optional[Tensor] = None,
    stride: Union[int, Sequence[int]] = 1,
    padding: Union[int, Sequence[int], str] = 0,
    dilation: Union[int, Sequence[int]] = 1,
    groups: int = 1,
) -> Tensor:
    """2-D convolution (im2col + GEMM in the engine) over ``[N, C, H, W]`` or ``[C, H, W]``."""
    unbatched = input.ndim == 3
    x = input.unsqueeze(0) if unbatched else input
    if isinstance(padding, str):
        if padding == "valid":
            pad = (0, 0)
        elif padding == "same":
            d = _pair(dilation)
            kh, kw = weight.shape[2], weight.shape[3]
            if _pair(stride) != (1, 1) or (d[0] * (kh - 1)) % 2 or (d[1] * (kw - 1)) % 2:
                raise ValueError("padding='same' needs stride 1 and an odd effective kernel here")
            pad = (d[0] * (kh - 1) // 2, d[1] * (kw - 1) // 2)
        else:
            raise ValueError(f"padding must be 'valid', 'same' or ints, got {padding!r}")
    else:
        pad = _pair(padding)
    y = _core._conv2d(x, weight, bias, _pair(stride), pad, _pair(dilation), groups)
    return y.squeeze(0) if unbatched else y


def max_pool2d(
    input: Tensor,
    kernel_size: Union[int, Sequence[int]],
    stride: Optional[Union[int, Sequence[int]]] = None,
    padding: Union[int, Sequence[int]] = 0,
    dilation: Union[int, Sequence[int]] = 1,
    ceil_mode: bool = False,
) -> Tensor:
    k = _pair(kernel_size)
    s = _pair(stride) if stride is not None else k
    return _core._max_pool2d(input, k, s, _pair(padding), _pair(dilation), ceil_mode)


def avg_pool2d(
    input: Tensor,
    kernel_size: Union[int, Sequence[int]],
    stride: Optional[Union[int, Sequence[int]]] = None,
    padding: Union[int, Sequence[int]] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
) -> Tensor:
    k = _pair(kernel_size)
    s = _pair(stride) if stride is not None else k
    return _core._avg_pool2d(input, k, s, _pair(padding), ceil_mode, count_include_pad)


def adaptive_avg_pool2d(input: Tensor, output_size: Union[int, Sequence[int]]) -> Tensor:
    return _core._adaptive_avg_pool2d(input, _pair(output_size))


def layer_norm(
    input: Tensor,
    normalized_shape: Union[int, Sequence[int]],
    weight: Optional[Tensor] = None,
    bias: Optional[Tensor] = None,
    eps: float = 1e-5,
) -> Tensor:
    shape = [normalized_shape] if isinstance(normalized_shape, int) else list(normalized_shape)
    return _core._layer_norm(input, shape, weight, bias, eps)


def batch_norm(
    input: Tensor,
    running_mean: Optional[Tensor],
    running_var: Optional[Tensor],
    weight: Optional[Tensor] = None,
    bias: Optional[Tensor] = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    return _core._batch_norm(
        input, running_mean, running_var, weight, bias, training, momentum, eps
    )


def embedding(input: Tensor, weight: Tensor, padding_idx: Optional[int] = None) -> Tensor:
    """Rows of ``weight`` selected by integer ``input`` (any shape); gradients scatter-add back."""
    if input.dtype.is_floating_point:
        raise DTypeError(f"embedding indices must be integers, got {input.dtype}")
    n = weight.shape[0]
    idx = input.cpu().numpy()
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx[(idx < 0) | (idx >= n)].flat[0]
        raise IndexOutOfRangeError(f"embedding index {int(bad)} is out of range for {n} rows")
    flat = input.reshape(-1)
    out = weight.index_select(0, flat)
    if padding_idx is not None and weight.requires_grad:
        keep = (flat != padding_idx).to(weight.dtype).unsqueeze(1)
        out = out * keep + (out * (1 - keep)).detach()
    return out.reshape(*input.shape, weight.shape[1])


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 ``[..., num_classes]`` with a 1 at each index of integer ``tensor`` (PyTorch's
    ``F.one_hot``); ``num_classes=-1`` takes the largest index + 1."""
    if tensor.dtype.is_floating_point or tensor.dtype == _core.bool:
        raise DTypeError(f"one_hot expects an integer tensor of class indices, got {tensor.dtype}")
    idx = tensor.cpu().numpy().astype(np.int64)
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if num_classes < 0:
        raise ValueError(f"num_classes must be -1 or non-negative, got {num_classes}")
    if idx.size and (idx.min() < 0 or idx.max() >= num_classes):
        bad = idx[(idx < 0) | (idx >= num_classes)].flat[0]
        raise IndexOutOfRangeError(
            f"class index {int(bad)} is out of range for {num_classes} classes"
        )
    out = np.zeros((*idx.shape, num_classes), dtype=np.int64)
    np.put_along_axis(out, idx[..., None], 1, axis=-1)
    return _core.from_numpy(out).to(tensor.device)


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Optional[Tensor] = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    training: bool = True,
) -> Tensor:
    """``softmax(q @ k^T / sqrt(d) + mask) @ v``; boolean masks mark positions to keep."""
    d = query.shape[-1]
    scores = (query @ key.transpose(-2, -1)) * (1.0 / math.sqrt(d))
    if is_causal:
        lq, lk = query.shape[-2], key.shape[-2]
        allowed = _tensor(np.tril(np.ones((lq, lk), dtype=bool))).to(query.device)
        scores = scores.masked_fill(allowed.logical_not(), float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == _core.bool:
            scores = scores.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            scores = scores + attn_mask
    attn = scores.softmax(-1)
    if dropout_p > 0.0:
        attn = dropout(attn, dropout_p, training)
    return attn @ value
