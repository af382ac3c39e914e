"""PyTorch's top-level spellings of functional ops (``torch.conv2d``, ``torch.layer_norm``,
``torch.kl_div``, ... with the ATen signatures: losses take an integer ``reduction``), the
window functions (``hann_window``, ...), the dtype-promotion queries (``result_type``,
``promote_types``, ``can_cast``), ``scalar_tensor``, ``rsub``, the deprecated end-inclusive
``range`` and ``cholesky_solve``/``cholesky_inverse``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

import numpy as np

from . import _core
from ._core import Tensor
from ._tensor import tensor as _tensor
from ._tensor_extra import _can_cast
from ._tensor_methods_torch import triangular_solve
from .errors import ArgumentTypeError, DTypeError, InvalidValueError, ShapeError
from .nn import functional as F

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_max_pool1d",
    "alias_copy",
    "alpha_dropout",
    "alpha_dropout_",
    "avg_pool1d",
    "bartlett_window",
    "batch_norm",
    "bilinear",
    "binary_cross_entropy_with_logits",
    "blackman_window",
    "can_cast",
    "celu",
    "celu_",
    "channel_shuffle",
    "cholesky_inverse",
    "cholesky_solve",
    "conj_physical",
    "conj_physical_",
    "constant_pad_nd",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_tbc",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "cosine_embedding_loss",
    "cosine_similarity",
    "ctc_loss",
    "dropout",
    "dropout_",
    "embedding",
    "feature_alpha_dropout",
    "feature_alpha_dropout_",
    "group_norm",
    "hamming_window",
    "hann_window",
    "hinge_embedding_loss",
    "instance_norm",
    "kaiser_window",
    "kl_div",
    "layer_norm",
    "lu",
    "lu_solve",
    "lu_unpack",
    "margin_ranking_loss",
    "max_pool1d",
    "max_pool1d_with_indices",
    "max_pool2d",
    "max_pool3d",
    "native_channel_shuffle",
    "pairwise_distance",
    "pdist",
    "pixel_shuffle",
    "pixel_unshuffle",
    "poisson_nll_loss",
    "prelu",
    "promote_types",
    "range",
    "real",
    "result_type",
    "rms_norm",
    "rrelu",
    "rrelu_",
    "rsub",
    "scalar_tensor",
    "selu",
    "selu_",
    "slice_copy",
    "threshold",
    "threshold_",
    "triangular_solve",
    "triplet_margin_loss",
    "unsafe_split_with_sizes",
]

# The functions whose top-level signature is the functional one.
conv1d = F.conv1d
conv2d = F.conv2d
conv_transpose1d = F.conv_transpose1d
conv_transpose2d = F.conv_transpose2d
cosine_similarity = F.cosine_similarity
pairwise_distance = F.pairwise_distance
prelu = F.prelu
conv3d = F.conv3d
conv_transpose3d = F.conv_transpose3d
bilinear = F.bilinear
pdist = F.pdist
pixel_shuffle = F.pixel_shuffle
pixel_unshuffle = F.pixel_unshuffle
channel_shuffle = F.channel_shuffle
native_channel_shuffle = F.native_channel_shuffle
conv_tbc = F.conv_tbc
rms_norm = F.rms_norm
avg_pool1d = F.avg_pool1d
adaptive_avg_pool1d = F.adaptive_avg_pool1d
max_pool1d = F.max_pool1d
max_pool2d = F.max_pool2d
max_pool3d = F.max_pool3d

_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _reduction(reduction: int) -> str:
    """ATen's integer reduction (0 none, 1 mean, 2 sum) as the functional API's string."""
    if isinstance(reduction, bool) or reduction not in _REDUCTIONS:
        raise InvalidValueError(f"{reduction} is not a valid value for reduction")
    return _REDUCTIONS[reduction]


def dropout(input: Tensor, p: float, train: bool) -> Tensor:
    """``torch.dropout``: ``F.dropout(input, p, training=train)``."""
    return F.dropout(input, p, train)


def max_pool1d_with_indices(
    input: Tensor,
    kernel_size: Union[int, Sequence[int]],
    stride: Optional[Union[int, Sequence[int]]] = None,
    padding: Union[int, Sequence[int]] = 0,
    dilation: Union[int, Sequence[int]] = 1,
    ceil_mode: bool = False,
) -> tuple[Tensor, Tensor]:
    """``torch.max_pool1d_with_indices``: ``F.max_pool1d(..., return_indices=True)``."""
    return F.max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)  # type: ignore[no-any-return]


def adaptive_max_pool1d(
    input: Tensor, output_size: Union[int, Sequence[int]]
) -> tuple[Tensor, Tensor]:
    """``torch.adaptive_max_pool1d``: the values and their indices (always both)."""
    return F.adaptive_max_pool1d(input, output_size, True)  # type: ignore[no-any-return]


def dropout_(input: Tensor, p: float, train: bool) -> Tensor:
    """``torch.dropout_``: ``dropout`` in place, returning ``input``."""
    return F.dropout(input, p, train, inplace=True)


def alpha_dropout_(input: Tensor, p: float, train: bool) -> Tensor:
    """``torch.alpha_dropout_``: ``alpha_dropout`` in place, returning ``input``."""
    return F.alpha_dropout(input, p, train, inplace=True)


def feature_alpha_dropout_(input: Tensor, p: float, train: bool) -> Tensor:
    """``torch.feature_alpha_dropout_``: ``feature_alpha_dropout`` in place."""
    return F.feature_alpha_dropout(input, p, train, inplace=True)


def alpha_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    """``torch.alpha_dropout``: ``F.alpha_dropout(input, p, training=train)``."""
    return F.alpha_dropout(input, p, train)


def feature_alpha_dropout(input: Tensor, p: float, train: bool) -> Tensor:
    """``torch.feature_alpha_dropout``: ``F.feature_alpha_dropout(input, p, training=train)``."""
    return F.feature_alpha_dropout(input, p, train)


def selu(input: Tensor) -> Tensor:
    """``torch.selu``: ``F.selu``."""
    return F.selu(input)


def selu_(input: Tensor) -> Tensor:
    """``torch.selu_``: ``F.selu`` in place, returning ``input``."""
    return F.selu(input, inplace=True)


def celu(input: Tensor, alpha: float = 1.0) -> Tensor:
    """``torch.celu``: ``F.celu``."""
    return F.celu(input, alpha)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """``torch.celu_``: ``F.celu`` in place, returning ``input``."""
    return F.celu(input, alpha, inplace=True)


def threshold(input: Tensor, threshold: float, value: float) -> Tensor:
    """``torch.threshold``: ``input`` where it is above ``threshold``, else ``value``."""
    return F.threshold(input, threshold, value)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """``torch.threshold_``: ``threshold`` in place, returning ``input``."""
    return F.threshold(input, threshold, value, inplace=True)


def rrelu(
    input: Tensor,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    generator: Any = None,
) -> Tensor:
    """``torch.rrelu``: ``F.rrelu`` (the global generator draws the slopes)."""
    if generator is not None:
        raise ArgumentTypeError("rrelu(): a generator argument is not supported here")
    return F.rrelu(input, lower, upper, training)


def rrelu_(
    input: Tensor,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    generator: Any = None,
) -> Tensor:
    """``torch.rrelu_``: ``rrelu`` in place, returning ``input``."""
    if generator is not None:
        raise ArgumentTypeError("rrelu_(): a generator argument is not supported here")
    return F.rrelu(input, lower, upper, training, inplace=True)


def constant_pad_nd(input: Tensor, pad: Sequence[int], value: float = 0) -> Tensor:
    """``torch.constant_pad_nd``: ``F.pad(input, pad, value=value)``."""
    return F.pad(input, pad, "constant", value)


def instance_norm(
    input: Tensor,
    weight: Optional[Tensor],
    bias: Optional[Tensor],
    running_mean: Optional[Tensor],
    running_var: Optional[Tensor],
    use_input_stats: bool,
    momentum: float,
    eps: float,
    cudnn_enabled: bool,
) -> Tensor:
    """``torch.instance_norm`` (ATen's order: weight and bias first, every argument
    required): ``F.instance_norm``; ``cudnn_enabled`` changes nothing here."""
    del cudnn_enabled
    return F.instance_norm(
        input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps
    )


def hinge_embedding_loss(
    input: Tensor, target: Tensor, margin: float = 1.0, reduction: int = 1
) -> Tensor:
    """``torch.hinge_embedding_loss`` (integer ``reduction``)."""
    return F.hinge_embedding_loss(input, target, margin, reduction=_reduction(reduction))


def poisson_nll_loss(
    input: Tensor, target: Tensor, log_input: bool, full: bool, eps: float, reduction: int
) -> Tensor:
    """``torch.poisson_nll_loss`` (every argument required; integer ``reduction``)."""
    return F.poisson_nll_loss(
        input, target, log_input, full, eps=eps, reduction=_reduction(reduction)
    )


def ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Union[Tensor, Sequence[int]],
    target_lengths: Union[Tensor, Sequence[int]],
    blank: int = 0,
    reduction: int = 1,
    zero_infinity: bool = False,
) -> Tensor:
    """``torch.ctc_loss`` (integer ``reduction``)."""
    return F.ctc_loss(
        log_probs,
        targets,
        input_lengths,
        target_lengths,
        blank,
        reduction=_reduction(reduction),
        zero_infinity=zero_infinity,
    )


def embedding(
    weight: Tensor,
    indices: Tensor,
    padding_idx: int = -1,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """``torch.embedding``: the rows of ``weight`` at ``indices`` (note the order, weight
    first). A negative ``padding_idx`` means none, as in ATen; the row at a non-negative one
    gets no gradient. ``scale_grad_by_freq`` divides each row's gradient by how often it occurs
    in ``indices``. ``sparse`` asks PyTorch for a sparse gradient; here it is dense (same
    values)."""
    del sparse
    out = F.embedding(indices, weight, padding_idx if padding_idx >= 0 else None)
    if scale_grad_by_freq and out.requires_grad:
        idx = np.asarray(indices.detach().cpu()).astype(np.int64)
        counts = np.bincount(idx.reshape(-1), minlength=weight.shape[0]) if idx.size else idx
        inv = 1.0 / counts[idx] if idx.size else np.zeros(idx.shape)
        s = _tensor(inv[..., None], dtype=out.dtype, device=out.device)
        out = out * s + (out * (1 - s)).detach()  # value unchanged, gradient scaled by s
    return out


def layer_norm(
    input: Tensor,
    normalized_shape: Union[int, Sequence[int]],
    weight: Optional[Tensor] = None,
    bias: Optional[Tensor] = None,
    eps: float = 1e-05,
    cudnn_enable: bool = True,
) -> Tensor:
    """``torch.layer_norm``: ``F.layer_norm``; ``cudnn_enable`` changes nothing here."""
    del cudnn_enable
    return F.layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(
    input: Tensor,
    num_groups: int,
    weight: Optional[Tensor] = None,
    bias: Optional[Tensor] = None,
    eps: float = 1e-05,
    cudnn_enabled: bool = True,
) -> Tensor:
    """``torch.group_norm``: ``F.group_norm``; ``cudnn_enabled`` changes nothing here."""
    del cudnn_enabled
    return F.group_norm(input, num_groups, weight, bias, eps)


def batch_norm(
    input: Tensor,
    weight: Optional[Tensor],
    bias: Optional[Tensor],
    running_mean: Optional[Tensor],
    running_var: Optional[Tensor],
    training: bool,
    momentum: float,
    eps: float,
    cudnn_enabled: bool,
) -> Tensor:
    """``torch.batch_norm`` (ATen's argument order: weight and bias before the running
    statistics, every argument required): ``F.batch_norm``."""
    del cudnn_enabled
    return F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Tensor,
    weight: Optional[Tensor] = None,
    pos_weight: Optional[Tensor] = None,
    reduction: int = 1,
) -> Tensor:
    """``torch.binary_cross_entropy_with_logits`` (``pos_weight`` before the integer
    ``reduction``)."""
    return F.binary_cross_entropy_with_logits(
        input, target, weight, reduction=_reduction(reduction), pos_weight=pos_weight
    )


def kl_div(
    input: Tensor, target: Tensor, reduction: int = 1, *, log_target: bool = False
) -> Tensor:
    """``torch.kl_div`` (integer ``reduction``; 1 is the mean over all elements)."""
    return F.kl_div(input, target, reduction=_reduction(reduction), log_target=log_target)


def margin_ranking_loss(
    input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, reduction: int = 1
) -> Tensor:
    """``torch.margin_ranking_loss`` (integer ``reduction``)."""
    return F.margin_ranking_loss(input1, input2, target, margin, reduction=_reduction(reduction))


def triplet_margin_loss(
    anchor: Tensor,
    positive: Tensor,
    negative: Tensor,
    margin: float = 1.0,
    p: float = 2.0,
    eps: float = 1e-06,
    swap: bool = False,
    reduction: int = 1,
) -> Tensor:
    """``torch.triplet_margin_loss`` (integer ``reduction``)."""
    return F.triplet_margin_loss(
        anchor, positive, negative, margin, p, eps, swap, reduction=_reduction(reduction)
    )


def cosine_embedding_loss(
    input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0, reduction: int = 1
) -> Tensor:
    """``torch.cosine_embedding_loss`` (integer ``reduction``)."""
    return F.cosine_embedding_loss(input1, input2, target, margin, reduction=_reduction(reduction))


# ---- windows -------------------------------------------------------------------------------


def _window(
    name: str,
    window_length: int,
    periodic: bool,
    formula: Callable[[np.ndarray, int], np.ndarray],
    dtype: Any,
    device: Any,
    requires_grad: bool,
) -> Tensor:
    """A window of ``window_length`` points from ``formula(n, m)`` (``n = 0..m-1``, computed in
    float64), symmetric or, if ``periodic``, the first ``window_length`` of ``m + 1`` points;
    PyTorch's checks on the length and the (floating-point) dtype."""
    dtype = _core._default_dtype() if dtype is None else dtype
    if not dtype.is_floating_point:
        raise DTypeError(f"{name} expects floating point dtypes, got: {dtype}")
    if window_length < 0:
        raise InvalidValueError(
            f"{name} requires non-negative window_length, got window_length={window_length}"
        )
    if window_length <= 1:
        arr = np.ones(window_length)
    else:
        n_points = window_length + 1 if periodic else window_length
        arr = formula(np.arange(n_points, dtype=np.float64), n_points)[:window_length]
    return _tensor(arr, dtype=dtype, device=device, requires_grad=requires_grad)


def _plain_window(
    name: str, formula: Callable[[np.ndarray, int], np.ndarray], doc: str
) -> Callable[..., Tensor]:
    """Builds ``name``, a window function with PyTorch's signature for the windows that have
    no shape parameter (Hann, Blackman, Bartlett), each with its own formula and docstring."""

    def window(
        window_length: int,
        periodic: bool = True,
        *,
        dtype: Any = None,
        layout: Any = None,
        device: Any = None,
        requires_grad: bool = False,
    ) -> Tensor:
        del layout
        return _window(name, window_length, periodic, formula, dtype, device, requires_grad)

    window.__name__ = window.__qualname__ = name
    window.__doc__ = doc
    return window


hann_window = _plain_window(
    "hann_window",
    lambda n, m: 0.5 - 0.5 * np.cos(2 * math.pi * n / (m - 1)),
    """The Hann window ``0.5 - 0.5 cos(2 pi n / (m - 1))`` (``torch.hann_window``); periodic
    by default, for spectral analysis. ``layout``: strided, the only one there is.""",
)


def hamming_window(
    window_length: int,
    periodic: bool = True,
    alpha: float = 0.54,
    beta: float = 0.46,
    *,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """The Hamming window ``alpha - beta cos(2 pi n / (m - 1))`` (``torch.hamming_window``)."""
    del layout
    return _window(
        "hamming_window",
        window_length,
        periodic,
        lambda n, m: alpha - beta * np.cos(2 * math.pi * n / (m - 1)),
        dtype,
        device,
        requires_grad,
    )


blackman_window = _plain_window(
    "blackman_window",
    lambda n, m: (
        0.42 - 0.5 * np.cos(2 * math.pi * n / (m - 1)) + 0.08 * np.cos(4 * math.pi * n / (m - 1))
    ),
    """The Blackman window ``0.42 - 0.5 cos(2 pi n/(N-1)) + 0.08 cos(4 pi n/(N-1))``
    (``torch.blackman_window``).""",
)


bartlett_window = _plain_window(
    "bartlett_window",
    lambda n, m: 1 - np.abs(2 * n / (m - 1) - 1),
    """The Bartlett (triangular) window ``1 - |2n / (m - 1) - 1|``
    (``torch.bartlett_window``).""",
)


def kaiser_window(
    window_length: int,
    periodic: bool = True,
    beta: float = 12.0,
    *,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """The Kaiser window ``I0(beta sqrt(1 - ((n - a) / a)^2)) / I0(beta)``, ``a = (N-1)/2``
    (``torch.kaiser_window``)."""
    del layout

    def formula(n: np.ndarray, m: int) -> np.ndarray:
        a = (m - 1) / 2
        return np.i0(beta * np.sqrt(np.clip(1 - ((n - a) / a) ** 2, 0, None))) / np.i0(beta)

    return _window("kaiser_window", window_length, periodic, formula, dtype, device, requires_grad)


# ---- dtype promotion -----------------------------------------------------------------------

#: The integer dtypes, narrowest first (uint8 and int8 hold neither the other: int16 both).
_INT_RANK = {"uint8": 1, "int8": 2, "int16": 3, "int32": 4, "int64": 5}
_FLOAT_RANK = {"float16": 1, "bfloat16": 1, "float32": 2, "float64": 3}


def _check_dtype(d: Any) -> None:
    if not isinstance(d, _core.dtype):
        raise ArgumentTypeError(f"expected a dtype, got {type(d).__name__}")


def promote_types(type1: _core.dtype, type2: _core.dtype) -> _core.dtype:
    """The smallest dtype both ``type1`` and ``type2`` convert to without leaving their kind
    (``torch.promote_types``): bool < integers < floating point; ``float16`` with
    ``bfloat16`` gives ``float32``."""
    _check_dtype(type1)
    _check_dtype(type2)
    a, b = type1.name, type2.name
    if a == b:
        return type1
    if a == "bool":
        return type2
    if b == "bool":
        return type1
    if a in _INT_RANK and b in _INT_RANK:
        if {a, b} == {"uint8", "int8"}:
            return _core.int16
        return type1 if _INT_RANK[a] > _INT_RANK[b] else type2
    if a in _INT_RANK:
        return type2
    if b in _INT_RANK:
        return type1
    ra, rb = _FLOAT_RANK[a], _FLOAT_RANK[b]
    if ra == rb:  # float16 and bfloat16
        return _core.float32
    return type1 if ra > rb else type2


def can_cast(from_: _core.dtype, to: _core.dtype) -> bool:
    """Whether PyTorch's casting rules allow ``from_`` to ``to`` (``torch.can_cast``): not
    floating point to integer, nor anything but bool to bool."""
    _check_dtype(from_)
    _check_dtype(to)
    return _can_cast(from_, to)


def _combine(higher: Optional[_core.dtype], lower: Optional[_core.dtype]) -> Optional[_core.dtype]:
    """PyTorch's ``combine_categories``: a lower-priority operand (a 0-d tensor under a
    dimensioned one, a Python number under either) counts only if it is of a higher kind."""
    if higher is None:
        return lower
    if lower is None or higher.is_floating_point:
        return higher
    if higher.name == "bool" or lower.is_floating_point:
        return promote_types(higher, lower)
    return higher


def _operand_dtype(x: Any) -> _core.dtype:
    """A Python number's dtype as an operand: bool, int64, or the default float dtype."""
    if isinstance(x, bool):
        return _core.bool
    if isinstance(x, int):
        return _core.int64
    if isinstance(x, float):
        return _core._default_dtype()
    raise ArgumentTypeError(
        f"result_type() expects tensors or Python numbers, got {type(x).__name__}"
    )


def result_type(tensor1: Union[Tensor, float], tensor2: Union[Tensor, float]) -> _core.dtype:
    """The dtype an arithmetic op on ``tensor1`` and ``tensor2`` (tensors or Python numbers)
    returns (``torch.result_type``): dimensioned tensors decide, then 0-d tensors, then
    numbers, each only raising the kind (bool < integer < floating point)."""
    tiers: list[Optional[_core.dtype]] = [None, None, None]  # dimensioned, 0-d, numbers
    for x in (tensor1, tensor2):
        if isinstance(x, Tensor):
            tier, d = (0 if x.dim() > 0 else 1), x.dtype
        else:
            tier, d = 2, _operand_dtype(x)
        cur = tiers[tier]
        tiers[tier] = d if cur is None else promote_types(cur, d)
    out = _combine(tiers[0], _combine(tiers[1], tiers[2]))
    assert out is not None
    return out


def scalar_tensor(
    s: Union[bool, float],
    *,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: Optional[bool] = None,
) -> Tensor:
    """A 0-d tensor holding ``s``, of the default float dtype unless ``dtype`` is given
    (``torch.scalar_tensor``: even an int or bool gives a float tensor)."""
    del layout, pin_memory
    if isinstance(s, Tensor):
        raise ArgumentTypeError("scalar_tensor(): argument 's' must be a Number, not Tensor")
    return _tensor(s, dtype=_core._default_dtype() if dtype is None else dtype, device=device)


def rsub(input: Tensor, other: Union[Tensor, float], alpha: float = 1) -> Tensor:
    """``other - alpha * input`` (``torch.rsub``: subtraction with the operands swapped)."""
    return other - (input if alpha == 1 else input * alpha)  # type: ignore[no-any-return]


def cholesky_solve(input: Tensor, input2: Tensor, upper: bool = False) -> Tensor:
    """The solution ``X`` of ``A X = input`` for ``A = L L^T`` given its Cholesky factor
    ``L = input2`` (``upper``: ``A = U^T U``), by two triangular solves (differentiable,
    batched). Under autocast it runs in float32, as PyTorch's."""
    if _core._get_autocast() is not None:
        from ._tensor_extra import _autocast_fp32

        return _autocast_fp32(cholesky_solve, input, input2, upper)  # type: ignore[no-any-return]
    from .linalg import solve_triangular

    if input.dtype != input2.dtype:  # (PyTorch's: a float64 right side is not narrowed)
        raise DTypeError(
            f"cholesky_solve: Expected b and A to have the same dtype, but found b of type "
            f"{input.dtype} and A of type {input2.dtype} instead."
        )
    factor = input2
    if upper:
        y = solve_triangular(factor.mT, input, upper=False)
        return solve_triangular(factor, y, upper=True)
    y = solve_triangular(factor, input, upper=False)
    return solve_triangular(factor.mT, y, upper=True)


def cholesky_inverse(input: Tensor, upper: bool = False) -> Tensor:
    """The inverse of ``A = L L^T`` (``upper``: ``U^T U``) from its Cholesky factor
    ``input`` (in float32 under autocast, as PyTorch's)."""
    if _core._get_autocast() is not None:
        from ._tensor_extra import _autocast_fp32

        return _autocast_fp32(cholesky_inverse, input, upper)  # type: ignore[no-any-return]
    if input.dim() < 2 or input.shape[-1] != input.shape[-2]:
        raise ShapeError(
            "cholesky_inverse(): expected a (batch of) square matrices, got shape "
            f"{list(input.shape)}"
        )
    eye = _core.eye(input.shape[-1], dtype=input.dtype).to(input.device)
    return cholesky_solve(eye.expand(input.shape), input, upper)


def real(input: Tensor) -> Tensor:
    """``torch.real``: the tensor itself (tensors are real)."""
    return input


def conj_physical(input: Tensor) -> Tensor:
    """``torch.conj_physical``: the tensor itself for a real tensor, as PyTorch returns."""
    return input


def conj_physical_(input: Tensor) -> Tensor:
    """``torch.conj_physical_``: nothing to do on a real tensor; returns ``input``."""
    return input


def unsafe_split_with_sizes(
    input: Tensor, split_sizes: Sequence[int], dim: int = 0
) -> tuple[Tensor, ...]:
    """``torch.unsafe_split_with_sizes``: ``split_with_sizes`` (no aliasing is unsafe here)."""
    return tuple(input.split_with_sizes(split_sizes, dim))


def alias_copy(input: Tensor) -> Tensor:
    """``torch.alias_copy``: a contiguous copy of ``input``."""
    from ._memory_format import contiguous_format

    return input.clone(memory_format=contiguous_format)


def slice_copy(
    input: Tensor,
    dim: int = 0,
    start: Optional[int] = None,
    end: Optional[int] = None,
    step: int = 1,
) -> Tensor:
    """``torch.slice_copy``: ``input[..., start:end:step, ...]`` along ``dim`` as a contiguous
    copy."""
    from ._memory_format import contiguous_format

    if step <= 0:
        raise InvalidValueError(f"slice_copy(): slice step must be positive, got {step}")
    d = dim + input.dim() if dim < 0 else dim
    index = (slice(None),) * d + (slice(start, end, step),)
    return input[index].clone(memory_format=contiguous_format)


def lu(A: Tensor, pivot: bool = True, get_infos: bool = False) -> tuple[Tensor, ...]:  # noqa: N803 - PyTorch's name
    """``torch.lu`` (deprecated there): ``linalg.lu_factor`` (``LU, pivots``), or with
    ``get_infos`` ``linalg.lu_factor_ex`` (``LU, pivots, infos``)."""
    from . import linalg

    if get_infos:
        return tuple(linalg.lu_factor_ex(A, pivot=pivot))
    return tuple(linalg.lu_factor(A, pivot=pivot))


def lu_solve(b: Tensor, LU_data: Tensor, LU_pivots: Tensor) -> Tensor:  # noqa: N803 - PyTorch's names
    """``torch.lu_solve`` (deprecated there; note ``b`` first): ``linalg.lu_solve``."""
    from . import linalg

    return linalg.lu_solve(LU_data, LU_pivots, b)


def lu_unpack(
    LU_data: Tensor,  # noqa: N803 - PyTorch's names
    LU_pivots: Tensor,  # noqa: N803
    unpack_data: bool = True,
    unpack_pivots: bool = True,
) -> Any:
    """``torch.lu_unpack``: ``(P, L, U)`` with ``A = P @ L @ U`` from ``lu_factor``'s packed
    ``LU`` (``m x n``) and 1-based pivots (row ``i`` swapped with ``pivots[i] - 1``, in order).
    ``L`` is ``m x k`` unit lower, ``U`` ``k x n`` upper (``k = min(m, n)``), ``P`` ``m x m``;
    a part not asked for is an empty tensor. Differentiable in ``LU_data``."""
    from .linalg._extras import LUResult

    if LU_data.dim() < 2:
        raise ShapeError(
            f"lu_unpack(): expected LU_data of at least 2 dims, got shape {list(LU_data.shape)}"
        )
    m, n = LU_data.shape[-2], LU_data.shape[-1]
    k = min(m, n)
    batch = tuple(LU_data.shape[:-2])
    empty = _core.zeros(0, dtype=LU_data.dtype).to(LU_data.device)
    low, up = empty, empty
    if unpack_data:
        eye = _core.eye(m, k, dtype=LU_data.dtype).to(LU_data.device)
        low = LU_data[..., :, :k].tril(-1) + eye
        up = LU_data[..., :k, :].triu()
    perm_matrix = empty
    if unpack_pivots:
        piv = np.asarray(LU_pivots.detach().cpu().numpy(), dtype=np.int64).reshape(-1, k)
        if piv.shape[0] != int(np.prod(batch, dtype=np.int64)):
            raise ShapeError(
                f"lu_unpack(): LU_pivots of shape {list(LU_pivots.shape)} do not match LU_data "
                f"of shape {list(LU_data.shape)}"
            )
        mats = np.zeros((piv.shape[0], m, m))
        for b, row in enumerate(piv):
            perm = np.arange(m)
            for i, j in enumerate(row):
                if not 1 <= j <= m:
                    raise InvalidValueError(f"lu_unpack(): pivot {j} is out of range 1..{m}")
                perm[i], perm[j - 1] = perm[j - 1], perm[i]
            mats[b, perm, np.arange(m)] = 1.0
        perm_matrix = _tensor(
            mats.reshape(*batch, m, m), dtype=LU_data.dtype, device=LU_data.device
        )
    return LUResult(perm_matrix, low, up)


def _range(
    start: float,
    end: float,
    step: float = 1,
    *,
    dtype: Optional[_core.dtype] = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``torch.range`` (deprecated there): ``start, start + step, ...`` up to and *including*
    ``end``; the default float dtype unless ``dtype`` is given, whatever the arguments' types."""
    if step == 0:
        raise InvalidValueError("range(): step must be nonzero")
    if (end - start) * step < 0:
        raise InvalidValueError(
            f"range(): upper bound and lower bound inconsistent with step sign "
            f"(start={start}, end={end}, step={step})"
        )
    n = math.floor((end - start) / step) + 1
    values = start + np.arange(n, dtype=np.float64) * step
    out = _tensor(values, dtype=dtype if dtype is not None else _core._default_dtype())
    if device is not None:
        out = out.to(device)
    return out.requires_grad_(requires_grad) if requires_grad else out


_range.__name__ = _range.__qualname__ = "range"
# PyTorch's name; assigned last so that nothing above sees the builtin shadowed.
globals()["range"] = _range
