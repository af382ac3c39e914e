"""More PyTorch tensor methods written in Python over the engine's differentiable ops, merged
into ``_tensor_extra.METHODS`` (and so installed on ``Tensor`` the same way) and typed in
``_core.pyi``: the optimizer helpers ``addcmul``/``addcdiv``, ``clamp_min``/``clamp_max``, the
index ops ``index_fill``/``index_add``/``index_copy``/``scatter``/``take_along_dim``, the scans
``cumprod``/``cummax``/``cummin``/``logcumsumexp``, the reductions ``median``/``nansum``/
``nanmean``/``count_nonzero``/``dist``, ``fmod``, ``sinh``/``cosh`` (argument checks around
the engine's table ops), ``logaddexp``,
``nan_to_num``, the reshapes ``movedim``/``unflatten``/``tensor_split``/``sum_to_size``/
``ravel``, ``atan2``/``arctan2``, the random fills ``bernoulli_``/``exponential_``, and their
in-place forms; plus the free functions ``var_mean``, ``std_mean``, ``searchsorted``,
``bucketize`` and ``cdist`` (PyTorch has no method of those names), and, in place of the
engine's methods (``OVERRIDES``), ``round`` with PyTorch's ``decimals``, ``pow``/``**`` with its
integer powers and ``chunk``/``split`` of an empty dim. ``PROPERTIES`` holds ``nbytes`` and
``itemsize``. The extension calls ``_bitwise`` (integer ``&``/``|``/``^``/``~``) and
``_zero_d_bool_key`` (``tensor(5)[True]``) for what its operators and indexing leave out.

Values stay on the engine's differentiable ops (gather, scatter_add, index_select, where, cat,
narrow, exp/log), so gradients flow where PyTorch's do; what only decides *which* element goes
where (sort orders, the winner among duplicate indices, search positions) is computed on the
host with NumPy, as ``sort`` does. Bad indices raise ``IndexError``, shapes that do not fit
``ShapeError``, wrong dtypes ``DTypeError`` (both also ``RuntimeError``, as in PyTorch)."""

from __future__ import annotations

import builtins
import functools
import inspect
import math
import operator
from collections.abc import Sequence
from typing import Any, Callable, NamedTuple, Optional, Union

import numpy as np

from . import _core
from ._core import Tensor
from ._int_args import int_tuple
from ._opmath import in_float32
from ._tensor_extra import (
    _autocast_fp32,
    _autocast_promote,
    _dim,
    _fill_shared,
    _fills_shared,
    _from_host,
    _host,
    _index,
    _inplace_source,
    _not_tensor,
    _sizes,
    _takes_tensor,
    _write_inplace,
    broadcast_shapes,
    lerp,
    norm,
    tril,
    triu,
)
from .autograd_graph import modified_inplace
from .errors import (
    ArgumentTypeError,
    DTypeError,
    IndexOutOfRangeError,
    InvalidValueError,
    OutOfMemoryError,
    ShapeError,
)

_Number = Union[int, float, bool]
_Dims = Union[int, Sequence[int]]


class MedianResult(NamedTuple):
    """``(values, indices)`` of ``median(dim)``."""

    values: Tensor
    indices: Tensor


class CummaxResult(NamedTuple):
    """``(values, indices)`` of ``cummax`` and ``cummin``."""

    values: Tensor
    indices: Tensor


# ---- helpers ---------------------------------------------------------------------------------


def _is_float(t: Any) -> bool:
    return isinstance(t, Tensor) and t.dtype.is_floating_point


def _probe(v: Any) -> Any:
    """A zero-size stand-in of ``v`` that promotes like it (0-d tensors stay 0-d)."""
    if isinstance(v, Tensor):
        return _core.zeros((0,) if v.ndim else (), dtype=v.dtype)
    if isinstance(v, (bool, int, float)):  # (its kind promotes, not its value: no overflow)
        return type(v)(0)
    return v


def _result_dtype(*operands: Any) -> Any:
    """The dtype PyTorch's type promotion gives ``operands`` (tensors and Python numbers)."""
    out = _probe(operands[0])
    for v in operands[1:]:
        out = out + _probe(v)
    return out.dtype if isinstance(out, Tensor) else None


def _inplace_of(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """The in-place form ``name_`` of ``fn``, with ``fn``'s signature: the result is written
    into the tensor (``copy_``, so under ``dm.no_grad()`` it works on a leaf that requires
    grad, as optimizers use it) and the tensor returned. The result must fit the tensor's
    shape (``ShapeError``) and be castable to its dtype (``DTypeError``), as in PyTorch."""

    def method(x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        src, args = _inplace_source(x, args, kwargs)
        return _write_inplace(x, fn(src, *args, **kwargs), fn.__name__)

    method.__name__ = method.__qualname__ = f"{fn.__name__}_"
    method.__doc__ = f"In-place ``{fn.__name__}``: writes the result into this tensor."
    method.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    return method


def _index_vector(index: Any, op: str) -> np.ndarray:
    """The values of a 0-d or 1-D integer index tensor, as an int64 NumPy vector."""
    if not isinstance(index, Tensor):
        raise _not_tensor(op, "index", index)
    if index.dtype not in (_core.int64, _core.int32):
        raise DTypeError(f"{op}(): Expected dtype int64 for index, got {index.dtype}")
    if index.ndim > 1:
        raise ShapeError(f"{op}(): Index is supposed to be a vector, got {index.ndim}-D")
    # (A copy: a backward built from it must see the index as it is now, whatever later
    # writes into ``index`` do.)
    return np.array(_host(index), dtype=np.int64).reshape(-1)


def _check_range(idx: np.ndarray, n: int, dim: int, op: str, wrap: bool = False) -> np.ndarray:
    lo = -n if wrap else 0
    bad = idx[(idx < lo) | (idx >= n)]
    if bad.size:  # (an IndexError and a RuntimeError: PyTorch raises either, by op)
        raise IndexOutOfRangeError(
            f"{op}(): index {int(bad[0])} is out of bounds for dimension {dim} with size {n}"
        )
    return idx % n if (wrap and n) else idx


def _along(v: np.ndarray, ndim: int, d: int) -> np.ndarray:
    """The vector ``v`` shaped to broadcast along dim ``d`` of an ``ndim``-D tensor."""
    return v.reshape(tuple(-1 if i == d else 1 for i in range(ndim)))


def _value_tensor(x: Tensor, value: Any, op: str) -> Tensor:
    """A fill value as a 0-d tensor of ``x``'s dtype (a 0-d tensor stays differentiable)."""
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ShapeError(
                f"{op} only supports a 0-dimensional value tensor, but got tensor with "
                f"{value.ndim} dimension(s)"
            )
        return value.to(x.dtype)
    return _core.full((), value, dtype=x.dtype, device=x.device)


def _source_check(x: Tensor, d: int, k: int, source: Tensor, op: str) -> None:
    """``source`` has ``x``'s dims and dtype, with ``k`` entries (the index's length) in dim
    ``d`` (``index_add``, ``index_copy``)."""
    if not isinstance(source, Tensor):
        raise _not_tensor(op, "source", source)
    if source.dtype != x.dtype:
        raise DTypeError(
            f"{op}(): self ({x.dtype}) and source ({source.dtype}) must have the same dtype"
        )
    want = tuple(k if i == d else s for i, s in enumerate(x.shape))
    if tuple(source.shape) != want:
        raise ShapeError(
            f"{op}(): source of shape {tuple(source.shape)} does not fit: expected {want} "
            f"(self {tuple(x.shape)} with {k} indices along dim {d})"
        )


def _as_1d(*ts: Any) -> list[Any]:
    """0-d tensors viewed as 1-element vectors (PyTorch treats them so in index ops)."""
    return [t.reshape(1) if isinstance(t, Tensor) and t.ndim == 0 else t for t in ts]


# ---- arithmetic ------------------------------------------------------------------------------


def _check_value(op: str, value: Any, *ts: Any) -> None:
    if isinstance(value, float) and not builtins.any(_is_float(t) for t in ts):
        raise DTypeError(
            f"{op}: for integral input tensors, argument value must not be a floating point "
            f"number (got {value})"
        )


@_takes_tensor
@in_float32  # half types: one rounding, as PyTorch's (value * t1 * t2 could cancel x exactly)
def addcmul(x: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: _Number = 1) -> Tensor:
    """``x + value * tensor1 * tensor2`` (broadcasting; differentiable in all three)."""
    _check_value("addcmul", value, x, tensor1, tensor2)
    tensor1, tensor2 = _in_result_type(x, tensor1, tensor2)
    prod = tensor1 * tensor2
    return x + (prod if value == 1 else prod * value)


def _in_result_type(x: Tensor, t1: Tensor, t2: Tensor) -> tuple[Tensor, Tensor]:
    """``t1`` and ``t2`` in the result type of all three operands, as PyTorch computes
    ``addcmul``/``addcdiv`` (a bfloat16 product of float32 data would round early)."""
    if not isinstance(t2, Tensor) or x.dtype == t1.dtype == t2.dtype:
        return t1, t2
    # Promoted tier by tier (dimensioned tensors, then 0-d ones), then combined: pair by pair,
    # int + 0-d float64 would make float64 what a float32 third operand keeps float32.
    dims = [t.detach().reshape(-1)[:0] for t in (x, t1, t2) if t.ndim > 0]
    zeros = [t.detach() for t in (x, t1, t2) if t.ndim == 0]
    tiers = [functools.reduce(operator.add, g) for g in (dims, zeros) if g]
    dt = functools.reduce(operator.add, tiers).dtype
    return t1.to(dt), t2.to(dt)


@_takes_tensor
@in_float32  # half types: one rounding, as PyTorch's
def addcdiv(x: Tensor, tensor1: Tensor, tensor2: Tensor, *, value: _Number = 1) -> Tensor:
    """``x + value * tensor1 / tensor2`` (broadcasting; differentiable in all three)."""
    if not (_is_float(tensor1) or _is_float(tensor2)):
        raise DTypeError(
            "addcdiv: integer division with addcdiv is not supported: use "
            "x + value * tensor1.div(tensor2, rounding_mode=...) instead"
        )
    _check_value("addcdiv", value, x, tensor1, tensor2)
    tensor1, tensor2 = _in_result_type(x, tensor1, tensor2)
    quot = tensor1 / tensor2
    return x + (quot if value == 1 else quot * value)


@_takes_tensor
def clamp_min(x: Tensor, min: Union[_Number, Tensor]) -> Tensor:
    """``max(x, min)`` elementwise; NaN in either stays NaN. The gradient: with a number
    ``min``, to ``x`` only where ``x > min`` (not at a tie, nor at NaN), as PyTorch's and
    ``clamp``'s; with a tensor ``min``, ``maximum``'s (half each at a tie), as PyTorch's."""
    if isinstance(min, Tensor):
        return x.maximum(min)
    if not x.dtype.is_floating_point:
        return x.clamp(min=min)  # a number beyond the integer dtype's range leaves x alone
    return _core.where(x > min, x, _core.where(x != x, x.detach(), min))


@_takes_tensor
def clamp_max(x: Tensor, max: Union[_Number, Tensor]) -> Tensor:
    """``min(x, max)`` elementwise; NaN in either stays NaN. The gradient: with a number
    ``max``, to ``x`` only where ``x < max`` (not at a tie, nor at NaN), as PyTorch's and
    ``clamp``'s; with a tensor ``max``, as ``clamp_min``'s with a tensor."""
    if isinstance(max, Tensor):
        return x.minimum(max)
    if not x.dtype.is_floating_point:
        return x.clamp(max=max)
    return _core.where(x < max, x, _core.where(x != x, x.detach(), max))


@_takes_tensor
def sgn(x: Tensor) -> Tensor:
    """The sign (``-1``, ``0``, ``1``) of each element: ``sign`` for real tensors; a bool
    tensor is its own sign, as in PyTorch."""
    return x.clone() if x.dtype == _core.bool else x.sign()


@_takes_tensor
def fmod(x: Tensor, other: Union[_Number, Tensor]) -> Tensor:
    """C's remainder: ``x - trunc(x / other) * other``, with the sign of ``x`` (``remainder``
    has the sign of ``other``). Exact: for floats the engine's remainder of ``|x|`` by
    ``|other|``; for integers (where ``-x`` overflows at the minimum) ``remainder`` less
    ``other`` where its sign differs from ``x``'s."""
    dtype = _result_dtype(x, other)
    if isinstance(other, bool):
        other = int(other)  # (arithmetic below: a bool number cannot be subtracted)
    if x.dtype != dtype:
        x = x.to(dtype)
    if not dtype.is_floating_point:
        if isinstance(other, Tensor) and other.dtype != dtype:
            other = other.to(dtype)
        r = x.remainder(other)
        if isinstance(other, Tensor):
            off = (r != 0) & ((r < 0) != (x < 0))
        else:  # (r has the sign of the number `other`: one test each)
            off = (r > 0) & (x < 0) if other > 0 else (r < 0) & (x > 0)
        return _core.where(off, r - other, r)
    sx = _core.where(x < 0, -1, 1).to(dtype)
    mag: Any
    if isinstance(other, Tensor):
        other = other.to(dtype)
        mag = other * _core.where(other < 0, -1, 1).to(dtype)
    else:
        mag = abs(other)
    return sx * (x * sx).remainder(mag)


@_takes_tensor
def sinh(x: Tensor) -> Tensor:
    """Hyperbolic sine, the engine's unary op (libm's value rounded once, so bfloat16 results
    are PyTorch's; the gradient ``cosh(x)`` has no cancellation near 0)."""
    return _core._unary(x, "sinh")


@_takes_tensor
def cosh(x: Tensor) -> Tensor:
    """Hyperbolic cosine, the engine's unary op (gradient ``sinh(x)``)."""
    return _core._unary(x, "cosh")


@_takes_tensor
def logaddexp(x: Tensor, other: Union[Tensor, _Number]) -> Tensor:
    """``log(exp(x) + exp(other))`` without overflow: ``hi + log1p(exp(lo - hi))``; the
    gradient is each input's softmax weight (half each at ties), and infinities of equal
    sign give that infinity."""
    dtype = _result_dtype(x, other)
    if not dtype.is_floating_point:  # (PyTorch: no integer or bool kernel)
        raise DTypeError(f"logaddexp: not implemented for {dtype}")
    wide = _core.float32 if dtype in (_core.float16, _core.bfloat16) else dtype
    a = x.to(wide)  # (half: float32 inside, rounded once, as PyTorch)
    if isinstance(other, Tensor):
        b = other.to(wide)
    else:  # (a number is rounded to the result's dtype first)
        b = _core.full((), other, dtype=dtype, device=x.device).to(wide)
    first = (a >= b).detach()
    hi, lo = _core.where(first, a, b), _core.where(first, b, a)
    gap = _core.where(hi.isinf() & (lo == hi), 0.0, lo - hi)  # inf - inf would be nan
    out = hi + gap.exp().log1p()
    return out if wide == dtype else out.to(dtype)


@_takes_tensor
def nan_to_num(
    x: Tensor,
    nan: float = 0.0,
    posinf: Optional[float] = None,
    neginf: Optional[float] = None,
) -> Tensor:
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (by default the
    dtype's largest and lowest finite values); gradient 1 where the value is kept, else 0."""
    if not x.dtype.is_floating_point:
        return x.clone()
    from ._pytorch_compat import finfo  # (lazy: that module installs methods at import)

    info = finfo(x.dtype)
    hi = info.max if posinf is None else posinf
    lo = info.min if neginf is None else neginf

    def fill(v: float) -> Tensor:  # (via float64: full() rejects float32's max as overflow)
        return _core.full((), v, dtype=_core.float64, device=x.device).to(x.dtype)

    out = _core.where(x != x, fill(nan), x)
    out = _core.where(x == math.inf, fill(hi), out)
    return _core.where(x == -math.inf, fill(lo), out)


@_takes_tensor
def dist(x: Tensor, other: Tensor, p: float = 2) -> Tensor:
    """The ``p``-norm of ``x - other`` (broadcasting), as a 0-d tensor."""
    return norm(x - other, p)


def _float_pair(op: str, x: Tensor, other: Any) -> tuple[Tensor, Tensor]:
    """``x`` and ``other`` broadcast together and cast to their promoted floating dtype
    (integers and bools promote to float32), both differentiable."""
    if not isinstance(other, Tensor):
        raise _not_tensor(op, "other", other)
    if x.device != other.device:
        from .errors import DeviceError

        raise DeviceError(
            f"{op}(): expected all tensors to be on the same device, but found {x.device} and "
            f"{other.device}"
        )
    dtype = _result_dtype(x, other)
    if not dtype.is_floating_point:
        dtype = _core.float32
    shape = broadcast_shapes(x.shape, other.shape)
    return x.to(dtype).expand(shape), other.to(dtype).expand(shape)


@_takes_tensor
def atan2(x: Tensor, other: Tensor) -> Tensor:
    """The angle of the point ``(other, x)``: ``arctan(x / other)`` in the right quadrant, in
    ``[-pi, pi]``, with signed zeros and infinities handled as NumPy's ``arctan2`` (which
    computes the values). The gradient is ``other / (x^2 + other^2)`` for ``x`` and
    ``-x / (x^2 + other^2)`` for ``other`` (0 at the origin, as PyTorch's), itself
    differentiable."""
    a, b = _float_pair("atan2", x, other)
    host = np.float32 if a.dtype in (_core.float16, _core.bfloat16) else None
    va, vb = _host(a), _host(b)
    if host is not None:
        va, vb = va.astype(host), vb.astype(host)
    angle = np.ascontiguousarray(np.arctan2(va, vb))
    out = _from_host(angle.reshape(a.shape), a.dtype, a.device)
    if not (_core.is_grad_enabled() and (a.requires_grad or b.requires_grad)):
        return out

    # The backward reads ``a`` and ``b`` (views of the inputs): an in-place change of either
    # since this forward raises, as a saved tensor's does, instead of a wrong gradient.
    versions = (a._version, b._version)

    def backward(grad: Tensor) -> list[Any]:
        for t, v in zip((a, b), versions):
            if t._version != v:
                raise modified_inplace("an input saved by atan2", t, v)
        r2 = a * a + b * b
        zero = r2 == 0
        recip = _core.where(zero, 0.0, 1.0 / _core.where(zero, 1.0, r2))
        return [grad * b * recip, -(grad * a * recip)]

    return _core._record_function(out, [a, b], backward, differentiable=True)


@_takes_tensor
def arctan2(x: Tensor, other: Tensor) -> Tensor:
    """Alias of ``atan2``."""
    return atan2(x, other)


_CDIST_MODES = (
    "use_mm_for_euclid_dist_if_necessary",
    "use_mm_for_euclid_dist",
    "donot_use_mm_for_euclid_dist",
)


def _cdist_uses_mm(mode: str, rows1: int, rows2: int) -> bool:
    """PyTorch's rule for Euclidean distances by matrix product: always with
    ``use_mm_for_euclid_dist``, with the default mode once either side has more than 25 rows."""
    if mode == "use_mm_for_euclid_dist":
        return True
    return mode == "use_mm_for_euclid_dist_if_necessary" and (rows1 > 25 or rows2 > 25)


def _euclidean_by_matmul(x1: Tensor, x2: Tensor) -> Tensor:
    """``sqrt(|a|^2 + |b|^2 - 2 a.b)`` for every pair of rows, as one matrix product of the
    rows extended by their squared norms (PyTorch's ``_euclidean_dist``): one GEMM instead of
    a ``P x R x M`` tensor of differences, at the price of cancellation for near rows (a
    square that cancels to zero or below gives a distance of 0 and a zero gradient)."""
    n1 = x1.square().sum(-1, keepdim=True)
    n2 = x2.square().sum(-1, keepdim=True)
    one1 = _core.full(tuple(n1.shape), 1.0, dtype=n1.dtype, device=n1.device)
    one2 = _core.full(tuple(n2.shape), 1.0, dtype=n2.dtype, device=n2.device)
    left = _core.cat([x1 * -2.0, n1, one1], -1)
    right = _core.cat([x2, one2, n2], -1)
    squared = left.matmul(right.transpose(-1, -2))
    positive = squared > 0
    return _core.where(positive, _core.where(positive, squared, 1.0).sqrt(), 0.0)


def cdist(x1: Tensor, x2: Tensor, p: float = 2.0, compute_mode: str = _CDIST_MODES[0]) -> Tensor:
    """The ``p``-norm distance between each row of ``x1`` (``B x P x M``) and each row of
    ``x2`` (``B x R x M``), as ``B x P x R`` (batch dims broadcast; 2-D inputs give
    ``P x R``). For ``p=2`` with more than 25 rows on either side (``compute_mode``'s default,
    or always with ``"use_mm_for_euclid_dist"``) it is PyTorch's matrix-product form (see
    ``_euclidean_by_matmul``); otherwise, and with ``"donot_use_mm_for_euclid_dist"``, it is
    computed from the differences directly. Differentiable, with PyTorch's gradient
    conventions: zero where a distance or a coordinate difference is zero. (For ``p=inf``
    coordinates tied for the largest difference share the gradient equally, as ``amax`` does;
    PyTorch gives each of them all of it.) Under autocast it runs in float32, as PyTorch's (its
    float32 list), so a bfloat16 embedding meets a float32 parameter there."""
    for name, t in (("x1", x1), ("x2", x2)):
        if not isinstance(t, Tensor):
            raise _not_tensor("cdist", name, t)
    if _core._get_autocast() is not None:
        out: Tensor = _autocast_fp32(cdist, x1, x2, p, compute_mode)
        return out
    if compute_mode not in _CDIST_MODES:
        raise InvalidValueError(f"{compute_mode} is not a valid value for compute_mode")
    for name, t in (("X1", x1), ("X2", x2)):
        if t.ndim < 2:
            raise ShapeError(f"cdist only supports at least 2D tensors, {name} got: {t.ndim}D")
        if not t.dtype.is_floating_point:
            raise DTypeError(f"cdist only supports floating-point dtypes, {name} got: {t.dtype}")
    if x1.dtype != x2.dtype:
        raise DTypeError(f"cdist: expected both inputs of one dtype, got {x1.dtype} and {x2.dtype}")
    if x1.shape[-1] != x2.shape[-1]:
        raise ShapeError(
            f"X1 and X2 must have the same number of columns. X1: {x1.shape[-1]} X2: {x2.shape[-1]}"
        )
    p = float(p)
    if not p >= 0:
        raise InvalidValueError("cdist only supports non-negative p values")
    batch = broadcast_shapes(tuple(x1.shape[:-2]), tuple(x2.shape[:-2]))
    (rows1, m), rows2 = x1.shape[-2:], x2.shape[-2]
    if p == 2 and m > 0 and _cdist_uses_mm(compute_mode, rows1, rows2):
        return _euclidean_by_matmul(x1.expand(*batch, rows1, m), x2.expand(*batch, rows2, m))
    a = x1.expand(*batch, rows1, m).unsqueeze(-2)  # B x P x 1 x M
    b = x2.expand(*batch, rows2, m).unsqueeze(-3)  # B x 1 x R x M
    mag = (a - b).abs()  # B x P x R x M
    if m == 0:  # (a sum over no features: zeros, in the graph as in PyTorch)
        return mag.sum(-1)
    if p == 0:
        # The count of differing coordinates, joined to the graph with a zero gradient.
        joined = _core.where(mag.isfinite(), mag, 0.0) * 0.0
        return ((mag != 0).to(x1.dtype) + joined).sum(-1)
    if p == 1:
        return mag.sum(-1)
    if p == math.inf:
        # Every coordinate tied for the largest difference gets the whole gradient (PyTorch).
        from .nn.functional import _InfDistance

        return _InfDistance.apply(a - b)
    # |d|^p with no gradient where d == 0 (0^(p-1) is inf for p < 1), then the p-th root
    # with none where the distance is 0 (its derivative there is inf).
    flat = mag == 0
    powed = _core.where(flat, 0.0, _core.where(flat, 1.0, mag) ** p)
    total = powed.sum(-1)
    none = total == 0
    safe = _core.where(none, 1.0, total)
    root = safe.sqrt() if p == 2 else safe ** (1.0 / p)
    return _core.where(none, 0.0, root)


#: The engine's ``Tensor.round`` (half to even, no ``decimals``), which ``_round`` extends.
_ENGINE_ROUND: Callable[[Tensor], Tensor] = getattr(Tensor.round, "_engine", Tensor.round)


def _round(self: Tensor, *, decimals: int = 0) -> Tensor:
    """Rounds to the nearest integer, halves to even; with ``decimals``, to that many decimal
    places (to tens, hundreds... when negative), as PyTorch's ``round(decimals=)``:
    ``round(x * 10**d) / 10**d`` (``round(x / 10**-d) * 10**-d``), which overflows to inf
    where ``x * 10**d`` does. The gradient is 0."""
    if isinstance(decimals, bool) or not isinstance(decimals, int):
        raise ArgumentTypeError(
            f"round(): argument 'decimals' must be int, not {type(decimals).__name__}"
        )
    if decimals == 0:
        return _ENGINE_ROUND(self)
    if not self.dtype.is_floating_point:
        raise DTypeError(f"round with decimals is not implemented for {self.dtype}")
    half = self.dtype if self.dtype in (_core.float16, _core.bfloat16) else None
    x = self if half is None else self.float()  # (PyTorch's opmath: x * 10**d in float32)
    if decimals > 0:
        scale = 10.0**decimals
        out = _ENGINE_ROUND(x * scale) / scale
    else:
        scale = 10.0 ** (-decimals)
        out = _ENGINE_ROUND(x / scale) * scale
    return out if half is None else out.to(half)


_round.__name__ = _round.__qualname__ = "round"
_round._engine = _ENGINE_ROUND  # type: ignore[attr-defined]


# ---- integer powers --------------------------------------------------------------------------

_ENGINE_POW: Callable[[Tensor, Any], Tensor] = getattr(Tensor.pow, "_engine", Tensor.pow)
_ENGINE_RPOW: Callable[[Tensor, Any], Tensor] = getattr(Tensor.__rpow__, "_engine", Tensor.__rpow__)


def _pow_fallback(base: Any, exponent: Any) -> Optional[Tensor]:
    """PyTorch's result for the integer powers the engine refuses, or ``None`` where PyTorch
    refuses them too. A bool tensor to a Python bool is itself (``True``) or all true
    (``False``). An integer (or bool) base to a *tensor* of integer exponents with negative
    entries: ``b ** e`` for ``e < 0`` is ``1`` for ``b == 1``, ``±1`` by the parity of ``e``
    for ``b == -1`` and ``0`` otherwise (the integer part of ``1 / b ** -e``). A negative
    Python number as the exponent still raises, as in PyTorch."""
    if isinstance(base, Tensor) and base.dtype == _core.bool and isinstance(exponent, bool):
        if exponent:
            return base.clone()
        return _core.full(tuple(base.shape), True, dtype=_core.bool, device=base.device)
    if not isinstance(exponent, Tensor) or exponent.dtype.is_floating_point:
        return None
    if (isinstance(base, Tensor) and base.dtype.is_floating_point) or isinstance(base, float):
        return None
    dtype = _result_dtype(base, exponent)
    if dtype == _core.bool or not bool((exponent < 0).any()):
        return None
    device = exponent.device
    if isinstance(base, Tensor):
        b = base.to(dtype)
    else:
        b = _core.full((), base, dtype=dtype, device=device)
    e = exponent.to(dtype)
    zero = _core.full((), 0, dtype=dtype, device=device)
    negative = _core.where((b == 1) | (b == -1), _ENGINE_POW(b, e.remainder(2)), zero)
    return _core.where(e < 0, negative, _ENGINE_POW(b, e.clamp(min=0)))


def _engine_or_fallback(
    engine: Callable[..., Tensor], a: Any, b: Any, base: Any, exponent: Any
) -> Tensor:
    """``engine(a, b)`` (the engine's ``pow`` or ``__rpow__``), or, where the engine refuses
    integer or bool operands, PyTorch's ``base ** exponent`` from ``_pow_fallback``."""
    try:
        return engine(a, b)
    except (InvalidValueError, DTypeError):
        out = _pow_fallback(base, exponent)
        if out is None:
            raise
        return out


def _pow(self: Tensor, exponent: Any) -> Tensor:
    """``self ** exponent`` elementwise, differentiable in both. Integer and bool operands
    follow PyTorch where the engine refuses them (``_pow_fallback``)."""
    return _engine_or_fallback(_ENGINE_POW, self, exponent, self, exponent)


def _dunder_pow(self: Tensor, other: Any, modulo: Any = None, /) -> Tensor:
    """``self ** other`` (three-argument ``pow`` is not supported: ``modulo`` is ignored)."""
    return _pow(self, other)


def _rpow(self: Tensor, other: Any, modulo: Any = None, /) -> Tensor:
    """``other ** self`` for a Python number ``other`` (``2 ** t``), as ``_pow``."""
    return _engine_or_fallback(_ENGINE_RPOW, self, other, other, self)


_pow.__name__ = _pow.__qualname__ = "pow"
_dunder_pow.__name__ = _dunder_pow.__qualname__ = "__pow__"
_rpow.__name__ = _rpow.__qualname__ = "__rpow__"
_pow._engine = _ENGINE_POW  # type: ignore[attr-defined]
_rpow._engine = _ENGINE_RPOW  # type: ignore[attr-defined]


# ---- splits of an empty dim ------------------------------------------------------------------

_ENGINE_CHUNK: Callable[..., tuple[Tensor, ...]] = getattr(Tensor.chunk, "_engine", Tensor.chunk)
_ENGINE_SPLIT: Callable[..., tuple[Tensor, ...]] = getattr(Tensor.split, "_engine", Tensor.split)


def _chunk(self: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """``chunks`` pieces of (nearly) equal length along ``dim``, the last one shorter (fewer
    pieces when the length does not divide so). A dim of length 0 gives ``chunks`` empty
    pieces, as in PyTorch (the engine gives none)."""
    out = _ENGINE_CHUNK(self, chunks, dim)
    if not out:  # only for a dim of length 0; bad arguments have raised
        if chunks > 1 << 32:  # a list that long (hundreds of bytes a tensor) cannot be built
            raise OutOfMemoryError(f"chunk: cannot make {chunks} empty pieces")
        return tuple(self.narrow(dim, 0, 0) for _ in range(chunks))
    return out


def _split(self: Tensor, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """``split(size, dim)`` (equal pieces, the last smaller) or ``split([sizes], dim)``. A dim
    of length 0 split by a size gives one empty piece, as in PyTorch (the engine gives none;
    a size of 0 is only allowed there)."""
    size = split_size
    whole = isinstance(size, int) and not isinstance(size, bool) and size >= 0
    if whole and isinstance(dim, int) and -self.ndim <= dim < self.ndim:
        n = self.shape[dim]
        if n == 0:
            return (self.narrow(dim, 0, 0),)
        if size == 0:
            raise InvalidValueError(
                f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}"
            )
    if isinstance(size, (list, tuple)) and builtins.any(isinstance(v, int) and v < 0 for v in size):
        raise InvalidValueError(
            f"split_with_sizes expects split_sizes have only non-negative entries, but got "
            f"split_sizes={list(size)}"
        )
    return _ENGINE_SPLIT(self, size, dim)


_chunk.__name__ = _chunk.__qualname__ = "chunk"
_split.__name__ = _split.__qualname__ = "split"
_chunk._engine = _ENGINE_CHUNK  # type: ignore[attr-defined]
_split._engine = _ENGINE_SPLIT  # type: ignore[attr-defined]


# ---- reductions ------------------------------------------------------------------------------


def _sum_kw(dim: Optional[_Dims], keepdim: bool, dtype: Any) -> dict[str, Any]:
    kw: dict[str, Any] = {"keepdim": keepdim, "dtype": dtype}
    if dim is not None:
        kw["dim"] = dim
    return kw


@_takes_tensor
def nansum(
    x: Tensor, dim: Optional[_Dims] = None, keepdim: bool = False, *, dtype: Any = None
) -> Tensor:
    """``sum`` with NaN counted as zero (their gradient is 0); the result in ``dtype`` when
    given (the engine's sum widens an int32 or bool ``dtype`` to int64)."""
    if x.dtype.is_floating_point:
        x = _core.where(x.isnan(), 0.0, x)
    out = x.sum(**_sum_kw(dim, keepdim, dtype))
    if dtype is not None:
        from ._tensor import _resolve_dtype  # (lazy, as this module's other uses of it)

        want = _resolve_dtype(dtype)
        if out.dtype != want:
            out = out.to(want)
    return out


@_takes_tensor
def nanmean(
    x: Tensor, dim: Optional[_Dims] = None, keepdim: bool = False, *, dtype: Any = None
) -> Tensor:
    """The mean of the non-NaN elements (NaN where all are NaN); floating-point input and
    ``dtype`` only."""
    if not x.dtype.is_floating_point:
        raise DTypeError(
            f"nanmean(): expected input to have floating point dtype but got {x.dtype}"
        )
    if dtype is not None and not dtype.is_floating_point:
        raise DTypeError(
            "nanmean(): could not infer output dtype. Optional dtype must be either a floating "
            f"point or complex dtype. Got: {dtype}"
        )
    count = (~x.isnan()).sum(**_sum_kw(dim, keepdim, None))
    return nansum(x, dim, keepdim, dtype=dtype) / count


@_takes_tensor
def count_nonzero(x: Tensor, dim: Optional[_Dims] = None, *dims: int) -> Tensor:
    """The number of non-zero elements (over ``dim``, or the dims given positionally as the
    method takes them: ``x.count_nonzero(0, 1)``), as int64."""
    if dims:
        if not isinstance(dim, int):
            raise ArgumentTypeError("count_nonzero(): dims given positionally must be ints")
        dim = (dim, *dims)
    return (x != 0).sum(**_sum_kw(dim, False, None))


def _spread_and_mean_function(
    spread: Callable[..., Tensor], name: str, doc: str
) -> Callable[..., tuple[Tensor, Tensor]]:
    """Builds ``var_mean`` or ``std_mean``: one PyTorch signature for both, which differ only
    in the spread (``Tensor.var`` or ``Tensor.std``) paired with the mean."""

    def spread_and_mean(
        x: Tensor,
        dim: Optional[_Dims] = None,
        unbiased: Optional[bool] = None,
        keepdim: bool = False,
        *,
        correction: Optional[float] = None,
    ) -> tuple[Tensor, Tensor]:
        if isinstance(dim, bool):  # a bool in place of ``dim`` is the older ``unbiased``
            dim, unbiased = None, dim
        return spread(x, dim, unbiased, keepdim, correction=correction), x.mean(dim, keepdim)

    spread_and_mean.__name__ = spread_and_mean.__qualname__ = name
    spread_and_mean.__doc__ = doc
    return _takes_tensor(spread_and_mean)


var_mean = _spread_and_mean_function(
    Tensor.var,
    "var_mean",
    """``(var, mean)`` over ``dim``; ``var_mean(x, False)`` is the older ``unbiased`` form.""",
)
std_mean = _spread_and_mean_function(
    Tensor.std,
    "std_mean",
    """``(std, mean)`` over ``dim``; ``std_mean(x, False)`` is the older ``unbiased`` form.""",
)


def _median_index(a: np.ndarray, axis: int) -> np.ndarray:
    """Per lane along ``axis``: the index of the lower median (stable among ties), or of the
    first NaN where there is one (PyTorch's median propagates NaN)."""
    n = a.shape[axis]
    order = np.argsort(a, axis=axis, kind="stable")
    idx = np.take(order, [(n - 1) // 2], axis=axis)
    if a.dtype.kind == "f":
        nan = np.isnan(a)
        first_nan = np.expand_dims(np.argmax(nan, axis=axis), axis)
        idx = np.where(nan.any(axis=axis, keepdims=True), first_nan, idx)
    return idx


def _no_bool_median(op: str, x: Tensor) -> None:
    """PyTorch has no bool kernel for ``median``/``nanmedian`` (only an empty tensor's
    whole-tensor median, which needs none, is allowed)."""
    if x.dtype == _core.bool:
        raise DTypeError(f"\"{op}\" not implemented for 'Bool'")


def _empty_median(x: Tensor) -> Tensor:
    """PyTorch's ``median()``/``nanmedian()`` of no elements: NaN cast to the dtype (the
    lowest integer for integer dtypes, True for bool)."""
    fill: Any = math.nan
    if x.dtype == _core.bool:
        fill = True
    elif not x.dtype.is_floating_point:
        fill = int(np.iinfo(_host(x).dtype).min)
    return _core.full((), fill, dtype=x.dtype, device=x.device)


def _empty_in_graph(out: Tensor, x: Tensor, name: str) -> Tensor:
    """``out``, the value a reduction gives for an empty ``x``, joined to ``x``'s graph with a
    zero gradient as PyTorch's is (so ``backward`` through it still reaches ``x``)."""
    if not (x.requires_grad and _core.is_grad_enabled()):
        return out
    zeros = _core.zeros(x.shape, dtype=x.dtype, device=x.device)
    return _core._record_function(out, [x], lambda g: g * zeros, differentiable=True, name=name)


@_takes_tensor
def median(x: Tensor, dim: Optional[int] = None, keepdim: bool = False) -> Any:
    """``median()``: the lower median of all elements (NaN if any is NaN, and for an empty
    tensor), whose gradient is shared evenly by the elements equal to it; ``median(dim)``:
    ``(values, indices)`` along ``dim``, the gradient going to the chosen element."""
    if dim is None:
        flat = x.reshape(-1)
        if flat.shape[0] == 0:
            return _empty_in_graph(_empty_median(x), x, "MedianBackward")
        _no_bool_median("median", x)
        v = flat.gather(0, _index(_median_index(_host(flat), 0), x)).reshape(())
        if not (v.requires_grad and _core.is_grad_enabled()):
            return v
        same = (x.isnan() if bool(v.isnan()) else x == v).detach()
        share = same.to(x.dtype) / int(same.sum())
        return _core._record_function(v, [x], lambda g: g * share, differentiable=True)
    d = _dim(x, dim)
    if x.ndim and x.shape[d] == 0:
        raise IndexError(f"median(): Expected reduction dim {d} to have non-zero size.")
    _no_bool_median("median", x)
    if x.ndim == 0:
        return MedianResult(x.clone(), _core.zeros((), dtype=_core.int64, device=x.device))
    idx = _index(_median_index(_host(x), d), x)
    values = x.gather(d, idx)
    if not keepdim:
        values, idx = values.squeeze(d), idx.squeeze(d)
    return MedianResult(values, idx)


# ---- scans -----------------------------------------------------------------------------------


def _scan(x: Tensor, d: int, combine: Callable[[Tensor, Tensor], Tensor], pad: float) -> Tensor:
    """Inclusive scan of ``combine`` along dim ``d`` in log2(n) steps of shifted operands
    (``pad`` fills the shifted-in places: ``combine``'s identity). A dim of size 0 or 1 has
    nothing to combine: the result is still a copy, as PyTorch's."""
    n = x.shape[d]
    if n <= 1:
        return x.clone()
    k = 1
    while k < n:
        shape = tuple(k if i == d else s for i, s in enumerate(x.shape))
        filler = _core.full(shape, pad, dtype=x.dtype, device=x.device)
        x = combine(x, _core.cat([filler, x.narrow(d, 0, n - k)], d))
        k *= 2
    return x


@_takes_tensor
def cumprod(x: Tensor, dim: int, *, dtype: Any = None) -> Tensor:
    """Running products along ``dim`` (integer and bool input in int64, as PyTorch);
    differentiable, exact at zeros."""
    from ._tensor_extra import refuse_bool_scan

    refuse_bool_scan("cumprod", dtype)
    if dtype is not None:
        x = x.to(dtype)
    elif not x.dtype.is_floating_point:
        x = x.to(_core.int64)
    d = _dim(x, dim)
    if not (x.requires_grad and _core.is_grad_enabled()):
        return _core._scan(x, d, prod=True)  # one engine pass (halves run in float32)
    if x.ndim == 0:
        return x.clone()
    # With a gradient: a log-depth scan of products, exact at zeros through its own graph.
    if x.dtype in (_core.float16, _core.bfloat16):  # (running products in float32, as PyTorch)
        return _scan(x.float(), d, lambda a, b: a * b, 1).to(x.dtype)
    return _scan(x, d, lambda a, b: a * b, 1)


@_takes_tensor
def logcumsumexp(x: Tensor, dim: int) -> Tensor:
    """``log(cumsum(exp(x)))`` along ``dim``, computed stably (a scan of ``logaddexp``)."""
    if not x.dtype.is_floating_point:  # (PyTorch: no integer or bool kernel)
        raise DTypeError(f"logcumsumexp: not implemented for {x.dtype}")
    d = _dim(x, dim)
    if x.ndim == 0:
        return x.clone()
    return _scan(x, d, logaddexp, -math.inf)


def _cum_extreme(x: Tensor, dim: int, largest: bool) -> CummaxResult:
    d = _dim(x, dim)
    if x.ndim == 0:
        return CummaxResult(x.clone(), _core.zeros((), dtype=_core.int64, device=x.device))
    a = _host(x)
    run = (np.maximum if largest else np.minimum).accumulate(a, axis=d)
    hit = a == run  # ties move the index to the latest, as PyTorch's
    if a.dtype.kind == "f":
        hit |= np.isnan(a)  # and NaN, once seen, stays (with the index of the latest NaN)
    pos = np.where(hit, _along(np.arange(a.shape[d]), a.ndim, d), 0)
    idx = _index(np.maximum.accumulate(pos, axis=d) if pos.size else pos, x)
    return CummaxResult(x.gather(d, idx), idx)


@_takes_tensor
def cummax(x: Tensor, dim: int) -> CummaxResult:
    """Running maximum along ``dim`` and where it was found (the latest index among ties)."""
    return _cum_extreme(x, dim, True)


@_takes_tensor
def cummin(x: Tensor, dim: int) -> CummaxResult:
    """Running minimum along ``dim`` and where it was found (the latest index among ties)."""
    return _cum_extreme(x, dim, False)


# ---- index ops -------------------------------------------------------------------------------


@_takes_tensor
def index_fill(x: Tensor, dim: int, index: Tensor, value: Union[_Number, Tensor]) -> Tensor:
    """A copy with the entries ``index`` of dimension ``dim`` set to ``value`` (a number or a
    0-d tensor, which gets their gradient); negative indices count from the end."""
    d = _dim(x, dim)
    n = x.shape[d] if x.ndim else 1
    idx = _check_range(_index_vector(index, "index_fill"), n, d, "index_fill", wrap=True)
    keep = np.zeros(n, dtype=bool)
    keep[idx] = True
    mask = _core.from_numpy(_along(keep, max(x.ndim, 1), d)).to(x.device)
    if x.ndim == 0:
        mask = mask.reshape(())
    return _core.where(mask, _value_tensor(x, value, "index_fill"), x)


@_takes_tensor
def index_add(x: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha: _Number = 1) -> Tensor:
    """A copy with ``alpha * source`` added to the entries ``index`` of dimension ``dim``
    (repeated indices accumulate); differentiable in ``x`` and ``source``."""
    d = _dim(x, dim)
    idx = _index_vector(index, "index_add")
    x1, source1 = _as_1d(x, source)
    _source_check(x1, d, idx.size, source1, "index_add")
    _check_range(idx, x1.shape[d], d, "index_add")
    if alpha != 1:
        source1 = source1 * alpha
    # Whole slices added at the index (an accumulating index_put), not a scatter_add over an
    # index as large as ``source``.
    out = x1._put_along("index_add", d, _index(idx, x), source1)
    return out.reshape(()) if x.ndim == 0 else out


@_takes_tensor
def index_copy(x: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """A copy with the entries ``index`` of dimension ``dim`` replaced by ``source``'s (for a
    repeated index the last one wins); differentiable in ``x`` and ``source``. Under autocast
    ``x`` and ``source`` of different float dtypes are promoted to the wider one, as
    PyTorch's autocast promote list does (``index_copy_`` is not on it, and stays strict)."""
    if isinstance(source, Tensor) and source.dtype != x.dtype:
        x, source = _autocast_promote(x, source)
    return _index_copy(x, dim, index, source)


def _index_copy(x: Tensor, dim: int, index: Tensor, source: Tensor) -> Tensor:
    """``index_copy`` with ``source`` of ``x``'s dtype (``DTypeError`` otherwise)."""
    d = _dim(x, dim)
    idx = _index_vector(index, "index_copy")
    x1, source1 = _as_1d(x, source)
    _source_check(x1, d, idx.size, source1, "index_copy")
    n = x1.shape[d]
    _check_range(idx, n, d, "index_copy")
    # The engine's index_put (as ``t[..., idx] = source``): the last repeat wins, and its
    # backward gives every source row the gradient at its index, repeated or not (PyTorch).
    out = x1.clone()
    out[(slice(None),) * d + (_index(idx, x),)] = source1
    return out.reshape(()) if x.ndim == 0 else out


_index_copy.__name__ = _index_copy.__qualname__ = "index_copy"  # (its in-place method's name)


def _scatter_targets(x: Tensor, d: int, index: Tensor, src: Optional[Tensor], op: str) -> Any:
    """Checks ``scatter``'s index against ``x`` (and ``src``) and returns the index's values."""
    if index.dtype not in (_core.int64, _core.int32):
        raise DTypeError(f"{op}(): Expected dtype int64 for index, got {index.dtype}")
    if index.ndim != x.ndim:
        raise ShapeError(
            f"{op}(): Index tensor must have the same number of dimensions as self tensor "
            f"({index.ndim} vs {x.ndim})"
        )
    for i, (ni, nx) in enumerate(zip(index.shape, x.shape)):
        if i != d and ni > nx:
            raise ShapeError(
                f"{op}(): Expected index {tuple(index.shape)} to be smaller than self "
                f"{tuple(x.shape)} apart from dimension {d}"
            )
    if src is not None:
        if src.ndim != index.ndim:
            raise ShapeError(
                f"{op}(): Index tensor must have the same number of dimensions as src tensor "
                f"({index.ndim} vs {src.ndim})"
            )
        if builtins.any(ni > ns for ni, ns in zip(index.shape, src.shape)):
            raise ShapeError(
                f"{op}(): Expected index {tuple(index.shape)} to be smaller than src "
                f"{tuple(src.shape)}"
            )
    idx = np.asarray(_host(index), dtype=np.int64)
    _check_range(idx.reshape(-1), x.shape[d], d, op)
    return idx


def _flat_targets(x: Tensor, d: int, idx: np.ndarray) -> np.ndarray:
    """The flat position in ``x`` that each of ``scatter``'s (checked) indices writes to."""
    coords: list[Any] = list(np.indices(idx.shape, sparse=True))
    coords[d] = idx
    full: Any = tuple(np.broadcast_arrays(*coords))
    return np.ravel_multi_index(full, tuple(x.shape)).reshape(-1)


def _narrow_to(t: Tensor, shape: Sequence[int]) -> Tensor:
    for i, s in enumerate(shape):
        if t.shape[i] != s:
            t = t.narrow(i, 0, s)
    return t


def _mask(flat: np.ndarray, like: Tensor) -> Tensor:
    m = np.zeros(like.numel(), dtype=bool)
    m[flat] = True
    return _core.from_numpy(m.reshape(tuple(like.shape))).to(like.device)


@_takes_tensor
def scatter(
    x: Tensor,
    dim: int,
    index: Tensor,
    src: Union[Tensor, _Number, None] = None,
    value: Optional[_Number] = None,
    *,
    reduce: Optional[str] = None,
) -> Tensor:
    """A copy with ``src[i][j]`` (or the number ``value``) written at ``[index[i][j]][j]``
    (for ``dim=0``; likewise along any dim); where an index repeats, the last write (in
    row-major order) wins. ``reduce="add"``/``"multiply"`` combine with the present values
    instead. Differentiable in ``x`` and ``src``."""
    if src is not None and not isinstance(src, Tensor):
        src, value = None, src  # scatter(dim, index, 2.0)
    if (src is None) == (value is None):
        raise ArgumentTypeError(
            "scatter(): give exactly one of src (a tensor) and value (a number)"
        )
    if reduce not in (None, "add", "multiply"):
        raise InvalidValueError(
            f"scatter(): reduce argument must be either 'add' or 'multiply', got {reduce!r}"
        )
    if not isinstance(index, Tensor):
        raise _not_tensor("scatter", "index", index)
    if src is not None and src.dtype != x.dtype:
        raise DTypeError(
            f"scatter(): Expected self.dtype to be equal to src.dtype ({x.dtype} vs {src.dtype})"
        )
    d = _dim(x, dim)
    x1, index1, src1 = _as_1d(x, index, src)
    idx = _scatter_targets(x1, d, index1, src1, "scatter")
    if idx.size == 0:
        return x.clone()
    fill: Any = value
    part = (
        _narrow_to(src1, idx.shape)
        if src1 is not None
        else _core.full(idx.shape, fill, dtype=x.dtype, device=x.device)
    )
    same = index1.dtype == _core.int64 and index1.device == x.device
    full_index = index1 if same else _index(idx, x)  # (no second copy of the index)
    if reduce == "add":
        out = x1.scatter_add(d, full_index, part)
        return out.reshape(()) if x.ndim == 0 else out
    if reduce is None:
        # The last write in row-major order wins; the backward gives every src element the
        # gradient at its target, repeated or not (PyTorch's grad.gather), and the written
        # positions none back to ``x``. The engine's scatter takes an index of ``x``'s shape
        # outside ``d``; a smaller one is written through index_put at the flat targets.
        if builtins.all(n == m for i, (n, m) in enumerate(zip(idx.shape, x1.shape)) if i != d):
            out = x1._put_along("scatter", d, full_index, part)
            return out.reshape(()) if x.ndim == 0 else out
        out = x1.reshape(-1).clone()
        out[_index(_flat_targets(x1, d, idx), x)] = part.reshape(-1)
        return out.reshape(tuple(x.shape))
    flat = _flat_targets(x1, d, idx)
    # The occurrences of each target in row-major order: rank 0, 1, ... (NumPy, stable sort).
    order = np.argsort(flat, kind="stable")
    starts = np.r_[True, flat[order][1:] != flat[order][:-1]]
    rank = np.empty(flat.size, dtype=np.int64)
    rank[order] = np.arange(flat.size) - np.maximum.accumulate(
        np.where(starts, np.arange(flat.size), 0)
    )
    # -0.0 is the additive identity that keeps every value, -0.0 included (+0.0 would
    # turn a placed -0.0 into +0.0).
    nz: Any = -0.0 if x.dtype.is_floating_point else 0
    zero = _core.full(tuple(x1.shape), nz, dtype=x.dtype, device=x.device)

    def placed(sel: np.ndarray) -> Tensor:
        """``part``'s selected elements at their targets (zero elsewhere)."""
        if sel.all():
            return zero.scatter_add(d, full_index, part)
        keep = _core.from_numpy(sel.reshape(idx.shape)).to(x.device)
        return zero.scatter_add(d, full_index, _core.where(keep, part, nz))

    # multiply: one round per rank, each with distinct targets
    out = x1
    one = True if x.dtype == _core.bool else 1  # (a bool tensor multiplies as logical and)
    for r in range(int(rank.max()) + 1):
        sel = rank == r
        out = out * _core.where(_mask(flat[sel], x1), placed(sel), one)
    return out.reshape(()) if x.ndim == 0 else out


def _scatter_add(x: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """``scatter_add`` with a ``src`` larger than ``index`` narrowed to it first, so that its
    gradient has ``src``'s shape (zero past the index)."""
    if (
        isinstance(src, Tensor)
        and isinstance(index, Tensor)
        and src.ndim == index.ndim
        and builtins.all(i <= s for i, s in zip(index.shape, src.shape))
    ):
        src = _narrow_to(src, index.shape)
    return x.scatter_add(dim, index, src)


_scatter_add.__name__ = "scatter_add"


@_takes_tensor
def take_along_dim(x: Tensor, indices: Tensor, dim: Optional[int] = None) -> Tensor:
    """The values at ``indices`` along ``dim`` (of the flattened tensor when ``dim`` is None),
    ``x`` and ``indices`` broadcast against each other in the other dims; a gather."""
    if not isinstance(indices, Tensor):
        raise ArgumentTypeError(
            f"take_along_dim(): argument 'indices' must be Tensor, not {indices!r}"
        )
    if dim is None:  # (PyTorch wraps no indices here: a negative one raises)
        return x.reshape(-1).gather(0, indices.reshape(-1))
    if x.ndim != indices.ndim:
        raise ShapeError(
            "take_along_dim(): input and indices should have the same number of dimensions, "
            f"but got {x.ndim} dimensions for input, and {indices.ndim} dimensions for indices"
        )
    d = _dim(x, dim)
    if x.ndim == 0:
        return x.gather(0, indices)
    xs = list(x.shape)
    xs[d] = indices.shape[d]
    shape = broadcast_shapes(xs, indices.shape)
    x_shape = tuple(x.shape[d] if i == d else s for i, s in enumerate(shape))
    # A negative index counts from the end, as in PyTorch. (PyTorch takes every index modulo
    # the size; one out of [-size, size) still raises here rather than wrap silently.)
    n = x.shape[d]
    wrapped = _core.where(indices < 0, indices + n, indices)
    try:
        return x.expand(x_shape).gather(d, wrapped.expand(shape))
    except IndexOutOfRangeError:  # (its message would show the wrapped index)
        raise IndexOutOfRangeError(
            f"take_along_dim(): an index is out of range [{-n}, {n}) for dimension {d}"
        ) from None


def _fill_diagonal(x: Tensor, fill_value: _Number, wrap: bool = False) -> Tensor:
    if x.ndim < 2:
        raise ShapeError(f"fill_diagonal_: dimensions must larger than 1, got {x.ndim}")
    if x.ndim > 2 and len(set(x.shape)) != 1:
        raise ShapeError(
            f"fill_diagonal_: all dimensions of input must be of equal length, got {tuple(x.shape)}"
        )
    keep = np.zeros(tuple(x.shape), dtype=bool)
    np.fill_diagonal(keep, True, wrap=wrap)
    mask = _core.from_numpy(keep).to(x.device)
    return _core.where(mask, _value_tensor(x, fill_value, "fill_diagonal_"), x)


_fill_diagonal.__name__ = "fill_diagonal"


# ---- shape -----------------------------------------------------------------------------------


@_takes_tensor
def ravel(x: Tensor) -> Tensor:
    """The elements as a contiguous 1-D tensor: a view of a contiguous tensor, else a copy
    (PyTorch's ``contiguous().view(-1)``; ``reshape`` would keep a strided 1-D view)."""
    return x.contiguous().reshape(-1)


@_takes_tensor
def sum_to_size(x: Tensor, *size: Any, **kwargs: Any) -> Tensor:
    """Summed down to ``size`` (also ``size=``), which must broadcast to this tensor's shape
    (the reverse of ``expand``: the gradient reduction of broadcasting)."""
    if kwargs:
        if set(kwargs) != {"size"} or size:
            raise ArgumentTypeError(f"sum_to_size() got unexpected arguments {sorted(kwargs)}")
        size = (kwargs["size"],)
    want = _sizes(size)
    lead = x.ndim - len(want)
    if lead < 0 or builtins.any(w not in (s, 1) for w, s in zip(want, tuple(x.shape)[lead:])):
        raise ShapeError(f"size {list(want)} is not expandable to size {list(x.shape)}")
    if lead:
        x = x.sum(tuple(range(lead)))
    dims = tuple(i for i, (w, s) in enumerate(zip(want, x.shape)) if w == 1 and s != 1)
    return x.sum(dims, keepdim=True) if dims else x


@_takes_tensor
def tensor_split(
    x: Tensor,
    indices_or_sections: Union[int, Sequence[int], Tensor, None] = None,
    dim: int = 0,
    *,
    sections: Optional[int] = None,
    indices: Optional[Sequence[int]] = None,
    tensor_indices_or_sections: Optional[Tensor] = None,
) -> tuple[Tensor, ...]:
    """Views along ``dim``: ``sections`` parts (the first ``n % sections`` one longer), or the
    parts between the given indices (Python slice bounds: negative ones count from the end).
    PyTorch's keyword spellings (``sections=``, ``indices=``, ``tensor_indices_or_sections=``)
    name the same argument."""
    given = [
        v
        for v in (indices_or_sections, sections, indices, tensor_indices_or_sections)
        if v is not None
    ]
    if len(given) != 1:
        raise ArgumentTypeError(
            "tensor_split() takes exactly one of indices_or_sections, sections, indices and "
            f"tensor_indices_or_sections (got {len(given)})"
        )
    indices_or_sections = given[0]
    if x.ndim == 0:
        raise ShapeError(
            "tensor_split expected at least a 1-dimensional tensor, but got a tensor with 0 dims"
        )
    d = _dim(x, dim)
    n = x.shape[d]
    spec: Any = indices_or_sections
    if isinstance(spec, Tensor):
        if spec.dtype != _core.int64:
            raise DTypeError(
                "tensor_split expected tensor_indices_or_sections to have dtype of long, but "
                f"got {spec.dtype}"
            )
        if spec.ndim > 1:
            raise ShapeError(
                "tensor_split expected tensor_indices_or_sections to be a zero-dimensional or "
                f"one-dimensional tensor, but got a tensor with {spec.ndim} dims"
            )
        spec = int(spec.item()) if spec.ndim == 0 else [int(v) for v in spec.tolist()]
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        k = int(spec)
        if k <= 0:
            raise InvalidValueError(f"number of sections must be larger than 0, got {k}")
        size, extra = divmod(n, k)
        lengths = [size + 1] * extra + [size] * (k - extra)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int).tolist()
        spans = list(zip(starts, lengths))
    else:
        bounds = [None, *(int(i) for i in spec), None]
        spans = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            start, stop, _ = slice(a, b).indices(n)
            spans.append((start, max(stop - start, 0)))
    return tuple(x.narrow(d, min(s, n), ln) for s, ln in spans)


@_takes_tensor
def movedim(x: Tensor, source: _Dims, destination: _Dims) -> Tensor:
    """The dims ``source`` moved to positions ``destination``, the others keeping their
    order (a view)."""
    src, dst = list(int_tuple(source)), list(int_tuple(destination))
    if len(src) != len(dst):
        raise InvalidValueError(
            f"movedim: Invalid source or destination dims: source ({src} dims) should contain "
            f"the same number of dims as destination ({dst} dims)"
        )
    src = [_dim(x, s) for s in src]
    dst = [_dim(x, s) for s in dst]
    for name, dims in (("source", src), ("destination", dst)):
        if len(set(dims)) != len(dims):
            raise InvalidValueError(f"movedim: repeated dim in `{name}` ({dims})")
    if x.ndim == 0:
        return x
    order = [i for i in range(x.ndim) if i not in src]
    for dd, ss in sorted(zip(dst, src)):
        order.insert(dd, ss)
    return x.permute(order)


@_takes_tensor
def moveaxis(x: Tensor, source: _Dims, destination: _Dims) -> Tensor:
    """Alias of ``movedim`` (NumPy's name)."""
    return movedim(x, source, destination)


@_takes_tensor
def unflatten(x: Tensor, dim: int, sizes: Sequence[int]) -> Tensor:
    """Dim ``dim`` split into ``sizes`` (one of them may be -1, inferred); a view."""
    if x.ndim == 0:  # (PyTorch's IndexError: a 0-d tensor has no dim to split)
        raise IndexOutOfRangeError(f"Dimension specified as {dim} but tensor has no dimensions")
    d = _dim(x, dim)
    sizes = [int(s) for s in sizes]
    if not sizes:
        raise InvalidValueError("unflatten: sizes must be non-empty")
    n = x.shape[d] if x.ndim else 1
    unknown = [i for i, s in enumerate(sizes) if s == -1]
    if len(unknown) > 1:
        raise InvalidValueError("unflatten: only one dimension can be inferred")
    known = math.prod(s for s in sizes if s != -1)
    if unknown:
        if known == 0 or n % known:
            raise ShapeError(
                f"unflatten: Provided sizes {sizes} don't multiply up to the size of dim {d} "
                f"({n}) in the input tensor"
            )
        sizes[unknown[0]] = n // known
    elif known != n or builtins.any(s < 0 for s in sizes):
        raise ShapeError(
            f"unflatten: Provided sizes {sizes} don't multiply up to the size of dim {d} "
            f"({n}) in the input tensor"
        )
    shape = tuple(x.shape)
    return x.reshape((*shape[:d], *sizes, *shape[d + 1 :]))


# ---- random fills ----------------------------------------------------------------------------


def _generator_scope(generator: Any, op: str) -> Any:
    import contextlib

    if generator is None:
        return contextlib.nullcontext()
    from ._pytorch_compat import Generator  # (lazy: that module installs methods at import)

    if not isinstance(generator, Generator):
        raise ArgumentTypeError(f"{op}(): generator must be a dm.Generator, not {generator!r}")
    return generator._active()


def bernoulli_(x: Tensor, p: Union[float, Tensor] = 0.5, *, generator: Any = None) -> Tensor:
    """Fills with 1 (probability ``p``, a number or a tensor broadcast to this one) or 0.
    Uniforms come from ``dm.rand`` (``dm.manual_seed``) or ``generator``."""
    from ._tensor import bernoulli  # (lazy: that module builds on this one's package)

    with _generator_scope(generator, "bernoulli_"):
        if isinstance(p, Tensor):
            # (an integer or bool ``p`` is refused by ``bernoulli``, as PyTorch's)
            sample = bernoulli(p.detach().expand(x.shape).contiguous())
        else:
            sample = bernoulli(x, float(p))
    x.copy_(sample)
    return x


def exponential_(x: Tensor, lambd: float = 1.0, *, generator: Any = None) -> Tensor:
    """Fills with samples of the exponential distribution of rate ``lambd``
    (``-log(1 - u) / lambd``, ``u`` uniform from ``dm.rand`` or ``generator``)."""
    if not x.dtype.is_floating_point:
        raise DTypeError(f"exponential_ not implemented for {x.dtype}: needs a float tensor")
    if not lambd > 0:
        raise InvalidValueError(f"exponential_ expects lambda > 0.0, but found lambda={lambd}")
    udtype = _core.float64 if x.dtype == _core.float64 else _core.float32
    with _generator_scope(generator, "exponential_"):
        u = _core.rand(x.shape, dtype=udtype, device=x.device)
    x.copy_((-u).log1p() * (-1.0 / lambd))
    return x


# ---- sorted search (free functions; no gradient) ---------------------------------------------


def _search(seq: np.ndarray, values: np.ndarray, side: Any) -> np.ndarray:
    """PyTorch's binary search along the last axis of ``seq`` (one row, or one per row of
    ``values``), run for all values at once. Written out rather than ``np.searchsorted``,
    which orders NaN last: here as in PyTorch a step moves right unless the middle value is
    ``>=`` (``>`` for ``side="right"``) the one sought, so NaN on either side moves right."""
    n = seq.shape[-1]
    if values.size == 0 or n == 0:
        return np.zeros(values.shape, dtype=np.int64)
    rows = seq.reshape(-1, n)
    sought = values.reshape(-1)
    row = np.repeat(np.arange(rows.shape[0]), sought.size // rows.shape[0])
    lo = np.zeros(sought.size, dtype=np.int64)
    hi = np.full(sought.size, n, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        while (active := lo < hi).any():
            mid = (lo + hi) >> 1
            middle = rows[row, np.minimum(mid, n - 1)]
            stop = (middle > sought) if side == "right" else (middle >= sought)
            lo = np.where(active & ~stop, mid + 1, lo)
            hi = np.where(active & stop, mid, hi)
    return lo.reshape(values.shape)


@_takes_tensor
def searchsorted(
    sorted_sequence: Tensor,
    input: Union[Tensor, _Number],
    *,
    out_int32: bool = False,
    right: bool = False,
    side: Optional[str] = None,
    sorter: Optional[Tensor] = None,
) -> Tensor:
    """For each value of ``input``, the index at which it would be inserted into the
    innermost dim of ``sorted_sequence`` to keep it sorted (before equal values, or after
    them with ``right=True``/``side="right"``); int64 (int32 with ``out_int32``)."""
    if side not in (None, "left", "right"):
        raise InvalidValueError(
            f"torch.searchsorted(): side can only be 'left' or 'right', got {side!r}"
        )
    if side == "left" and right:
        raise InvalidValueError(
            "torch.searchsorted(): side and right can't be set to opposites, got side of left "
            "while right was True"
        )
    how = "right" if (right or side == "right") else "left"
    seq = _host(sorted_sequence)
    if sorter is not None:
        if tuple(sorter.shape) != tuple(sorted_sequence.shape):
            raise ShapeError(
                "torch.searchsorted(): boundary and sorter must have the same size, but got "
                f"boundary tensor {list(sorted_sequence.shape)} and sorter tensor "
                f"{list(sorter.shape)}"
            )
        order = np.asarray(_host(sorter), dtype=np.int64)
        n = seq.shape[-1] if seq.ndim else 1
        if order.size and (order.min() < 0 or order.max() >= n):
            # (an IndexError, and the RuntimeError PyTorch raises)
            raise IndexOutOfRangeError("torch.searchsorted(): sorter index out of range")
        seq = np.take_along_axis(seq, order, axis=-1)
    is_scalar = not isinstance(input, Tensor)
    values = _host(input) if isinstance(input, Tensor) else np.asarray(input)
    if seq.ndim == 0:
        raise ShapeError("torch.searchsorted(): boundaries tensor should have at least 1 dim")
    if seq.ndim > 1 and (
        is_scalar or values.ndim != seq.ndim or values.shape[:-1] != seq.shape[:-1]
    ):
        raise ShapeError(
            "torch.searchsorted(): boundaries tensor should be 1 dimension or the first N-1 "
            "dimensions of boundaries tensor and input value tensor must match, but we got "
            f"boundaries tensor {list(seq.shape)} and input value tensor "
            f"{list(values.shape)}"
        )
    out = np.asarray(_search(seq, values, how), dtype=np.int32 if out_int32 else np.int64)
    res = _core.from_numpy(np.ascontiguousarray(out)).reshape(out.shape)  # (0-d stays 0-d)
    return res.to(sorted_sequence.device)


def bucketize(
    input: Union[Tensor, _Number],
    boundaries: Tensor,
    *,
    out_int32: bool = False,
    right: bool = False,
) -> Tensor:
    """The bucket of each value of ``input`` among the sorted 1-D ``boundaries``: ``i`` with
    ``boundaries[i-1] < v <= boundaries[i]`` (``<=``/``<`` with ``right=True``)."""
    if not isinstance(boundaries, Tensor):
        raise _not_tensor("bucketize", "boundaries", boundaries)
    if boundaries.ndim != 1:
        raise ShapeError(f"boundaries tensor must be 1 dimension, but got dim({boundaries.ndim})")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


# ---- properties ------------------------------------------------------------------------------


def _nbytes(self: Tensor) -> int:
    """The bytes the elements take: ``numel() * element_size()``."""
    return self.numel() * self.element_size()


def _itemsize(self: Tensor) -> int:
    """Bytes per element (``element_size()``)."""
    return self.element_size()


#: name -> property, installed on ``Tensor`` next to ``METHODS``.
PROPERTIES: dict[str, property] = {
    "nbytes": property(_nbytes, doc=_nbytes.__doc__),
    "itemsize": property(_itemsize, doc=_itemsize.__doc__),
}

_OUT_OF_PLACE = (
    addcmul,
    addcdiv,
    clamp_min,
    clamp_max,
    sgn,
    fmod,
    sinh,
    cosh,
    logaddexp,
    nan_to_num,
    dist,
    atan2,
    arctan2,
    nansum,
    nanmean,
    count_nonzero,
    median,
    cumprod,
    logcumsumexp,
    cummax,
    cummin,
    index_fill,
    index_add,
    index_copy,
    scatter,
    take_along_dim,
    ravel,
    sum_to_size,
    tensor_split,
    movedim,
    moveaxis,
    unflatten,
)

_IN_PLACE = (
    addcmul,
    addcdiv,
    lerp,
    clamp_min,
    clamp_max,
    index_fill,
    index_add,
    _index_copy,
    scatter,
    _scatter_add,
    tril,
    triu,
    nan_to_num,
    _fill_diagonal,
    atan2,
)

# ---- asarray ---------------------------------------------------------------------------------


def _is_buffer(obj: Any) -> bool:
    """Whether ``obj`` is a plain buffer-protocol object (not a tensor, array or sequence)."""
    if isinstance(obj, (Tensor, np.ndarray, list, tuple, str, int, float)):
        return False
    try:
        memoryview(obj)
    except TypeError:
        return False
    return True


def asarray(
    obj: Any,
    *,
    dtype: Any = None,
    device: Any = None,
    copy: Optional[bool] = None,
    requires_grad: Optional[bool] = None,
) -> Tensor:
    """``torch.asarray``: ``obj`` (a tensor, a NumPy array or scalar, another library's tensor,
    a nested sequence or a number) as a tensor. It shares memory with ``obj`` where dtype and
    device allow and ``copy`` is not ``True``; ``copy=False`` raises ``InvalidValueError`` where
    sharing is impossible. ``requires_grad`` defaults to ``obj``'s (a tensor converted to
    another dtype or device, or copied, is detached first, as in PyTorch)."""
    from ._pytorch_compat import as_tensor
    from ._tensor import tensor

    if isinstance(obj, np.generic):
        obj = np.asarray(obj)
    if _is_buffer(obj):
        # PyTorch reads a buffer-protocol object (bytearray, array.array, memoryview) in
        # place: as ``dtype`` when given, else in its own item format, sharing its memory.
        if dtype is not None:
            from ._tensor import frombuffer

            obj, dtype = frombuffer(obj, dtype=dtype), None
        else:
            obj = np.asarray(memoryview(obj))
    if not isinstance(obj, Tensor) and (isinstance(obj, np.ndarray) or hasattr(obj, "__dlpack__")):
        if copy and isinstance(obj, np.ndarray):
            obj, copy = as_tensor(np.array(obj, copy=True)), None  # (a private copy to wrap)
        else:
            obj = as_tensor(obj)
    if not isinstance(obj, Tensor):
        if copy is False:
            raise InvalidValueError("asarray(): can't alias arbitrary sequence into a tensor")
        out = tensor(obj, dtype=dtype, device=device)
        return out.requires_grad_() if requires_grad else out
    new_dtype = dtype is not None and dtype != obj.dtype
    new_device = device is not None and obj.device != _core.Device(str(device))
    if new_dtype or new_device:
        if copy is False:
            what = f"dtype {obj.dtype} into dtype {dtype}" if new_dtype else f"device {device}"
            raise InvalidValueError(f"asarray(): can't alias tensor with {what}")
        out = obj.detach().to(dtype=dtype or obj.dtype, device=device or obj.device)
    elif copy:
        out = obj.detach().clone()
    elif requires_grad is None or builtins.bool(requires_grad) == obj.requires_grad:
        return obj
    else:
        out = obj.detach()
    return out.requires_grad_() if requires_grad else out


# ---- empty_strided ---------------------------------------------------------------------------


def empty_strided(
    size: Sequence[int],
    stride: Sequence[int],
    *,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    pin_memory: bool = False,
) -> Tensor:
    """``torch.empty_strided``: an uninitialised tensor of ``size`` laid out with ``stride``,
    made as an ``empty`` tensor of the dims ordered by decreasing stride, permuted back (so a
    dense layout such as channels-last or a transpose comes out with exactly those strides).
    Strides no dense layout has (gaps, overlaps) get the dense layout of that dim order: the
    data is undefined either way."""
    del layout, pin_memory  # (strided, the only layout; pinning is the allocator's business)
    shape, strides = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(shape) != len(strides):
        raise ShapeError(
            f"empty_strided(): dimensionality of sizes ({len(shape)}) must match dimensionality "
            f"of strides ({len(strides)})"
        )
    if builtins.any(s < 0 for s in strides):
        raise InvalidValueError(f"empty_strided(): strides must be non-negative, got {strides}")
    order = sorted(range(len(shape)), key=lambda d: (-strides[d], d))
    base = _core.empty(tuple(shape[d] for d in order), dtype=dtype, device=device)
    out = base.permute(tuple(order.index(d) for d in range(len(shape)))) if shape else base
    return out.requires_grad_() if requires_grad else out


# ---- bitwise operators ---------------------------------------------------------------------


def _bitwise(name: str, *args: Any) -> Tensor:
    """``&``, ``|``, ``^``, ``~`` beyond two bool operands (which the engine's operators
    handle as logical ops): PyTorch's ``bitwise_*`` of integer tensors in the promoted dtype
    (floats raise ``DTypeError``). The extension calls it (registered as ``"bitwise"``)."""
    from . import _math_functions

    return getattr(_math_functions, name)(*args)  # type: ignore[no-any-return]


# ---- indexing: PyTorch's readings the engine lacks ---------------------------------------------


def _scalar_bool(k: Any) -> bool:
    if isinstance(k, Tensor):
        return k.ndim == 0 and k.dtype == _core.bool
    return isinstance(k, (builtins.bool, np.bool_))


def _zero_d_bool_key(x: Tensor, key: Any) -> Optional[tuple[Tensor, tuple[Any, ...]]]:
    """For a 0-d ``x`` indexed by one bool scalar (``True``, ``False``, a 0-d bool tensor such
    as ``x > 0``), which the engine rejects: ``x`` as a 1-element view and the key with that
    bool as a 1-element mask, PyTorch's meaning (``tensor(5)[True]`` is ``tensor([5])``);
    ``None`` for any other key. The extension calls it (as ``"zero_d_bool_key"``) only after
    its own indexing of a 0-d tensor failed."""
    parts = list(key) if isinstance(key, tuple) else [key]
    at = [i for i, k in enumerate(parts) if _scalar_bool(k)]
    if x.ndim != 0 or len(at) != 1:
        return None
    k = parts[at[0]]
    mask = k.reshape(1) if isinstance(k, Tensor) else _core.from_numpy(np.array([bool(k)]))
    parts[at[0]] = mask.to(x.device)
    return x.unsqueeze(0), tuple(parts)


#: name -> method replacing the engine's method of that name on ``Tensor`` (which
#: ``_tensor_extra._install`` leaves alone), installed below: ``round`` with ``decimals``,
#: ``pow``/``**`` with PyTorch's integer powers and ``chunk``/``split`` of an empty dim.
OVERRIDES: dict[str, Callable[..., Any]] = {
    "round": _round,
    "pow": _pow,
    "__pow__": _dunder_pow,
    "__rpow__": _rpow,
    "chunk": _chunk,
    "split": _split,
}
for _name, _method in OVERRIDES.items():
    setattr(Tensor, _name, _method)

#: name -> function(tensor, ...), merged into ``_tensor_extra.METHODS``.
METHODS: dict[str, Callable[..., Any]] = {f.__name__: f for f in _OUT_OF_PLACE}
METHODS.update({f"{f.__name__}_": _inplace_of(f) for f in _IN_PLACE})
METHODS.update({"bernoulli_": bernoulli_, "exponential_": exponential_})
_index_fill_ = METHODS["index_fill_"]


def index_fill_(x: Tensor, dim: int, index: Tensor, value: Union[_Number, Tensor]) -> Tensor:
    """In-place ``index_fill``; also into an expanded view, as PyTorch allows."""
    if _fills_shared(x, value):
        index_fill(x, dim, index, value)  # the out-of-place op's checks
        mask = index_fill(
            _core.zeros(*x.shape, dtype=_core.bool, device=x.device), dim, index, True
        )
        return _fill_shared(x, mask, value)
    return _index_fill_(x, dim, index, value)


METHODS["index_fill_"] = index_fill_
