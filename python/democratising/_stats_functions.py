"""PyTorch's statistics functions written in Python over the engine's ops: the differentiable
``cov``, ``corrcoef``, ``quantile``/``nanquantile`` (sort + gather + lerp, all five
interpolation modes), ``nanmedian``, ``mode`` and ``renorm``; and the counting functions
``histc``, ``histogram``, ``bincount``, ``isin`` and ``unique_consecutive``, whose values NumPy
computes on the host (no gradient, as in PyTorch; a CUDA input's result comes back on its
device). Which element a selection picks (sort orders, most frequent values) is decided on the
host too, and the values are then gathered with the engine's differentiable ``gather``.
``METHODS`` holds the ``Tensor`` methods PyTorch has of these names, merged into
``_tensor_extra.METHODS``."""

from __future__ import annotations

import builtins
import math
import numbers
from collections.abc import Sequence
from typing import Any, Callable, NamedTuple, Optional, Union

import numpy as np

from . import _core
from ._core import Tensor
from ._math_functions import _from_host
from ._tensor_extra import _autocast_fp32, _dim, _host, _index, _takes_tensor, norm
from ._tensor_more import (
    MedianResult,
    _empty_in_graph,
    _empty_median,
    _inplace_of,
    _no_bool_median,
    _result_dtype,
    movedim,
)
from .errors import ArgumentTypeError, DTypeError, InvalidValueError, ShapeError

_Number = Union[int, float, bool]
_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


class ModeResult(NamedTuple):
    """``(values, indices)`` of ``mode``."""

    values: Tensor
    indices: Tensor


class HistogramResult(NamedTuple):
    """``(hist, bin_edges)`` of ``histogram``."""

    hist: Tensor
    bin_edges: Tensor


# ---- helpers ---------------------------------------------------------------------------------


def _np_dtype(dtype: Any) -> Any:
    return {_core.float64: np.float64, _core.float16: np.float16}.get(dtype, np.float32)


def _rows(x: Tensor, dim: Optional[int]) -> tuple[Tensor, list[int], int]:
    """``x`` as ``(B, n)`` rows along ``dim`` (all elements when ``None``), the lead shape
    and the normalised dim."""
    if dim is None:
        return x.reshape(1, -1), [], 0
    d = _dim(x, dim)
    if x.ndim == 0:
        return x.reshape(1, 1), [], 0
    moved = movedim(x, d, -1)
    lead = list(moved.shape[:-1])
    return moved.reshape(math.prod(lead), x.shape[d]), lead, d  # (-1 is ambiguous for n = 0)


# ---- quantiles and medians -------------------------------------------------------------------


def _quantile(
    op: str,
    x: Tensor,
    q: Union[float, Tensor],
    dim: Optional[int],
    keepdim: bool,
    interpolation: str,
    ignore_nan: bool,
) -> Tensor:
    if x.dtype not in (_core.float32, _core.float64):
        raise DTypeError(f"{op}() input tensor must be either float or double dtype")
    if interpolation not in _INTERPOLATIONS:
        raise InvalidValueError(
            f"{op}() interpolation must be one of linear, lower, higher, midpoint or nearest. "
            f"Got {interpolation}"
        )
    if isinstance(q, Tensor):
        if q.ndim > 1:
            raise ShapeError(f"{op}() q must be a scalar or 1D tensor")
        if q.dtype != x.dtype:
            raise DTypeError(f"{op}() q tensor must be same dtype as the input tensor")
        qs = np.asarray(_host(q), dtype=_np_dtype(x.dtype)).reshape(-1)
        q_shape: Optional[int] = None if q.ndim == 0 else qs.shape[0]
    elif isinstance(q, (int, float)) and not isinstance(q, bool):
        qs, q_shape = np.asarray([q], dtype=np.float64), None
    else:
        raise ArgumentTypeError(
            f"{op}(): argument 'q' must be float or Tensor, not {type(q).__name__}"
        )
    if ((qs < 0) | (qs > 1)).any() or np.isnan(qs).any():
        raise InvalidValueError(f"{op}() q values must be in the range [0, 1]")
    if x.numel() == 0:
        raise ShapeError(f"{op}() input tensor must be non-empty")
    rows, lead, d = _rows(x, dim)
    n = rows.shape[1]
    srt = rows.sort(-1).values  # NaN last
    nan = np.isnan(_host(rows))
    npd = _np_dtype(x.dtype)
    qv = qs.astype(npd).astype(np.float64)  # q rounded to x's dtype, ranks in float64 (as torch)
    if ignore_nan:
        last = (n - nan.sum(1, keepdims=True) - 1).astype(np.float64)
        ranks = qv[None, :] * last
        ranks = np.where(ranks < 0, 0.0, ranks)
    else:
        ranks = np.broadcast_to(qv[None, :] * float(n - 1), (rows.shape[0], qs.shape[0]))
        ranks = np.where(nan.any(1, keepdims=True), float(n - 1), ranks)
    if interpolation == "lower":
        ranks = np.floor(ranks)
    elif interpolation == "higher":
        ranks = np.ceil(ranks)
    elif interpolation == "nearest":
        ranks = np.round(ranks)  # half to even, as PyTorch's round
    below = ranks.astype(np.int64)
    out = srt.gather(1, _index(below, x))
    if interpolation in ("linear", "midpoint"):
        above = srt.gather(1, _index(np.ceil(ranks).astype(np.int64), x))
        w = np.full(ranks.shape, 0.5, npd) if interpolation == "midpoint" else ranks - below
        wt = _from_host(w.astype(npd), x.dtype, x.device)
        span = above - out
        out = _core.where(wt < 0.5, out + wt * span, above - span * (1 - wt))
    out = out.transpose(0, 1).reshape(qs.shape[0], *lead)  # (Q, *reduced)
    if keepdim:
        if dim is None:
            out = out.reshape(qs.shape[0], *([1] * x.ndim))
        elif x.ndim:
            out = out.unsqueeze(1 + d)
    return out if q_shape is not None else out.reshape(tuple(out.shape[1:]))


def _quantile_function(name: str, ignore_nan: bool, doc: str) -> Callable[..., Tensor]:
    """Builds ``quantile`` or ``nanquantile``: one PyTorch signature for both, which differ only
    in whether ``_quantile`` skips NaN."""

    def quantile_of(
        x: Tensor,
        q: Union[float, Tensor],
        dim: Optional[int] = None,
        keepdim: bool = False,
        *,
        interpolation: str = "linear",
    ) -> Tensor:
        if _core._get_autocast() is not None:  # on PyTorch's autocast float32 list
            out: Tensor = _autocast_fp32(
                _quantile, name, x, q, dim, keepdim, interpolation, ignore_nan=ignore_nan
            )
            return out
        return _quantile(name, x, q, dim, keepdim, interpolation, ignore_nan=ignore_nan)

    quantile_of.__name__ = quantile_of.__qualname__ = name
    quantile_of.__doc__ = doc
    return _takes_tensor(quantile_of)


quantile = _quantile_function(
    "quantile",
    False,
    """The ``q``-th quantiles of ``x`` (all elements, or along ``dim``), NaN where a lane has a
    NaN; a 1-D ``q`` adds a leading dim. Differentiable (the gradient reaches the one or two
    sorted elements the result interpolates).""",
)
nanquantile = _quantile_function(
    "nanquantile", True, """``quantile`` ignoring NaN (NaN only for lanes that are all NaN)."""
)


def _nanmedian_index(a: np.ndarray) -> np.ndarray:
    """Per row of ``a`` (``(B, n)``): the index of the lower median of its non-NaN values
    (stable among ties; the first element when all are NaN)."""
    order = np.argsort(a, axis=1, kind="stable")  # NaN last
    valid = (~np.isnan(a)).sum(1) if a.dtype.kind == "f" else np.full(a.shape[0], a.shape[1])
    pos = np.maximum((valid - 1) // 2, 0)
    return np.take_along_axis(order, pos[:, None], axis=1)


def _pick_along(
    op: str, x: Tensor, dim: int, keepdim: bool, pick: Callable[[np.ndarray], np.ndarray]
) -> tuple[Tensor, Tensor]:
    """``(values, indices)`` of the one element per lane along ``dim`` that ``pick`` chooses
    (from the ``(B, n)`` host lanes, a ``(B, 1)`` index array), the gradient going to it: the
    part ``nanmedian(dim)`` and ``mode`` share."""
    rows, lead, d = _rows(x, dim)
    if rows.shape[1] == 0:
        raise IndexError(f"{op}(): Expected reduction dim {d} to have non-zero size.")
    if op == "nanmedian":
        _no_bool_median(op, x)
    it = _index(pick(_host(rows)), x)
    values = rows.gather(1, it).reshape(lead)
    indices = it.reshape(lead)
    if keepdim and x.ndim:
        values, indices = values.unsqueeze(d), indices.unsqueeze(d)
    return values, indices


@_takes_tensor
def nanmedian(x: Tensor, dim: Optional[int] = None, keepdim: bool = False) -> Any:
    """``nanmedian()``: the lower median of the non-NaN elements (NaN when there are none),
    its gradient shared evenly by the elements equal to it; ``nanmedian(dim)``: ``(values,
    indices)`` along ``dim``, the gradient going to the chosen element."""
    if dim is None:
        flat = x.reshape(-1)
        if flat.shape[0] == 0:
            return _empty_in_graph(_empty_median(x), x, "NanmedianBackward")
        _no_bool_median("nanmedian", x)
        i = _nanmedian_index(_host(flat).reshape(1, -1))
        v = flat.gather(0, _index(i.reshape(1), x)).reshape(())
        if not (_core.is_grad_enabled() and x.requires_grad) or bool((v != v).item()):
            return v
        tie = (flat == v).detach()
        if bool(v.isinf().item()):
            # An infinite median: `flat - flat.detach()` would be inf - inf there; the shares
            # go to the tied elements by a backward of their own.
            weights = tie.to(flat.dtype) / tie.sum().to(flat.dtype)
            return _core._record_function(
                v.detach().clone(), [flat], lambda g: [g * weights], differentiable=True
            )
        # `where`, not `* tie`: a NaN element times 0 would make the whole share NaN.
        moved = _core.where(tie, flat - flat.detach(), _core.zeros((), dtype=flat.dtype))
        share = moved.sum() / tie.sum().to(flat.dtype)
        return v.detach() + share
    return MedianResult(*_pick_along("nanmedian", x, dim, keepdim, _nanmedian_index))


@_takes_tensor
def mode(x: Tensor, dim: int = -1, keepdim: bool = False) -> ModeResult:
    """``(values, indices)``: the most frequent value of each lane along ``dim`` (the
    smallest among equally frequent ones) and the index of its last occurrence; the gradient
    goes to that element."""

    def pick(a: np.ndarray) -> np.ndarray:
        b, n = a.shape
        srt = np.sort(a, axis=1)
        starts = np.ones(srt.shape, dtype=bool)
        starts[:, 1:] = srt[:, 1:] != srt[:, :-1]  # (each NaN is a run of its own)
        run = np.cumsum(starts, axis=1) - 1
        counts = np.bincount((np.arange(b)[:, None] * n + run).reshape(-1), minlength=b * n)
        best_run = np.argmax(counts.reshape(b, n), axis=1)  # the first: the smallest value
        first = np.argmax(run == best_run[:, None], axis=1)
        best = srt[np.arange(b), first]
        where = np.where(a == best[:, None], np.arange(n), -1)
        nan_best = best != best  # an all-NaN lane: its first NaN
        first_nan = np.argmax(a != a, axis=1)
        return np.where(nan_best, first_nan, where.max(axis=1))[:, None].astype(np.int64)

    return ModeResult(*_pick_along("mode", x, dim, keepdim, pick))


# ---- covariance ------------------------------------------------------------------------------


@_takes_tensor
def cov(
    x: Tensor,
    *,
    correction: int = 1,
    fweights: Optional[Tensor] = None,
    aweights: Optional[Tensor] = None,
) -> Tensor:
    """The covariance matrix of the variables in the rows of ``x`` (a 1-D ``x`` is one
    variable: a 0-d result), with frequency and/or observation weights; differentiable."""
    if x.ndim > 2:
        raise ShapeError(f"cov(): expected input to have two or fewer dimensions but got {x.ndim}")
    if x.dtype == _core.bool:
        raise DTypeError("cov(): bool dtype is not supported for input")
    if isinstance(correction, bool) or not isinstance(correction, numbers.Integral):
        raise ArgumentTypeError(
            f"cov(): argument 'correction' must be int, not {type(correction).__name__}"
        )
    dtype = x.dtype if x.dtype.is_floating_point else _core._default_dtype()
    if aweights is not None and aweights.dtype.is_floating_point and aweights.dtype != x.dtype:
        # PyTorch weighs in the promoted dtype (float16 input, float64 weights: float64).
        from ._functional_aliases import promote_types  # (lazy: it imports this module)

        dtype = promote_types(x.dtype, aweights.dtype)
    obs = (x.reshape(1, -1) if x.ndim < 2 else x).to(dtype)
    n = obs.shape[1]
    w: Optional[Tensor] = None
    if fweights is not None:
        if fweights.ndim > 1 or fweights.numel() != n:
            raise ShapeError(f"cov(): expected fweights to have one dimension of size {n}")
        if fweights.dtype.is_floating_point or fweights.dtype == _core.bool:
            raise DTypeError(
                f"cov(): expected fweights to have integral dtype but got {fweights.dtype}"
            )
        if bool((fweights < 0).any().item()):
            raise InvalidValueError("cov(): fweights cannot be negative")
        w = fweights.reshape(-1).to(dtype)
    if aweights is not None:
        if aweights.ndim > 1 or aweights.numel() != n:
            raise ShapeError(f"cov(): expected aweights to have one dimension of size {n}")
        if not aweights.dtype.is_floating_point:
            raise DTypeError(
                f"cov(): expected aweights to have floating point dtype but got {aweights.dtype}"
            )
        if bool((aweights < 0).any().item()):
            raise InvalidValueError("cov(): aweights cannot be negative")
        aw = aweights.reshape(-1).to(dtype)
        w = aw if w is None else w * aw
    if w is None:
        w_sum: Any = float(n)
        avg = obs.sum(1) / w_sum
    else:
        w_sum = w.sum()
        if not bool(w_sum.item()):
            raise InvalidValueError("cov(): weights sum to zero, can't be normalized")
        avg = (obs * w).sum(1) / w_sum
    if w is not None and correction != 0:
        extra = (w * aweights.reshape(-1).to(dtype)).sum() / w_sum if aweights is not None else 1
        norm_factor = w_sum - correction * extra
    else:
        norm_factor = w_sum - correction
    nf = float(norm_factor.item()) if isinstance(norm_factor, Tensor) else float(norm_factor)
    if nf <= 0:  # PyTorch zeroes it in place: +0 (0 * a negative factor is -0: flipped infs)
        norm_factor = 0.0
    centred = obs - avg.unsqueeze(1)
    right = centred * w if w is not None else centred
    c = centred.matmul(right.transpose(0, 1))
    out = c / norm_factor
    return out.reshape(()) if out.numel() == 1 and x.ndim < 2 else out.squeeze()


@_takes_tensor
def corrcoef(x: Tensor) -> Tensor:
    """Pearson correlation coefficients of the variables in the rows of ``x``, clipped to
    ``[-1, 1]``; differentiable."""
    c = cov(x)
    if c.ndim == 0:
        return c / c
    sd = c.diagonal().sqrt()
    c = c / sd.unsqueeze(1)
    c = c / sd.unsqueeze(0)
    return c.clamp(-1.0, 1.0)


@_takes_tensor
def renorm(x: Tensor, p: float, dim: int, maxnorm: float) -> Tensor:
    """Each slice of ``x`` along ``dim`` whose ``p``-norm exceeds ``maxnorm`` scaled down to
    norm ``maxnorm`` (PyTorch's ``maxnorm / (norm + 1e-7)``); differentiable."""
    if not x.dtype.is_floating_point:
        raise DTypeError(f"renorm: expected a floating point tensor, got {x.dtype}")
    if p <= 0:
        raise InvalidValueError(f"renorm: non-positive-norm not supported, got p={p}")
    if maxnorm < 0:
        raise InvalidValueError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    if x.ndim <= 1:
        raise ShapeError(f"renorm: input needs at least 2 dimensions, got {x.ndim} dimensions")
    d = _dim(x, dim)
    others = [i for i in builtins.range(x.ndim) if i != d]
    nrm = norm(x, p, others, True)
    big = (nrm > maxnorm).detach()
    factor = _core.where(big, maxnorm / (nrm + 1e-7), 1.0)
    return x * factor.to(x.dtype)


# ---- counting (NumPy on the host) ------------------------------------------------------------


def _torch_linspace(lo: Any, hi: Any, steps: int, npd: Any) -> np.ndarray:
    """PyTorch's linspace in ``npd``: from both ends towards the middle."""
    lo, hi = npd(lo), npd(hi)
    if steps == 1:
        return np.array([lo], dtype=npd)
    step = (hi - lo) / npd(steps - 1)
    i = np.arange(steps)
    half = steps // 2
    fwd = lo + step * i.astype(npd)
    bwd = hi - step * (steps - 1 - i).astype(npd)
    return np.where(i < half, fwd, bwd).astype(npd)


def _count(a: np.ndarray, edges: np.ndarray, weights: Optional[np.ndarray]) -> np.ndarray:
    """Counts (or weight sums) of ``a`` in ``[edges[i], edges[i+1])``, the last bin closed;
    values outside, and NaN, left out."""
    nb = edges.shape[0] - 1
    keep = (a >= edges[0]) & (a <= edges[-1])
    pos = np.searchsorted(edges, a[keep], side="right") - 1
    pos = np.minimum(pos, nb - 1)
    w = None if weights is None else weights[keep]
    return np.bincount(pos, weights=w, minlength=nb)[:nb]


@_takes_tensor
def histc(x: Tensor, bins: int = 100, min: _Number = 0, max: _Number = 0) -> Tensor:
    """Counts of the elements in ``bins`` equal bins over ``[min, max]`` (the data's range
    when both are 0; outside values ignored), of ``x``'s floating dtype."""
    if not x.dtype.is_floating_point:
        raise DTypeError(f"\"histogram_cpu\" not implemented for '{x.dtype}'")
    if bins <= 0:
        raise InvalidValueError(f"torch.histc: bins must be > 0, but got {bins}")
    npd = _np_dtype(x.dtype)
    a = np.asarray(_host(x), dtype=npd).reshape(-1)
    # The range in float64, as PyTorch's (its edges are then rounded to x's dtype).
    lo, hi = float(min), float(max)
    if lo == hi and a.size:
        lo, hi = float(a.min()), float(a.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InvalidValueError(f"torch.histc: range of [{lo}, {hi}] is not finite")
    if lo > hi:
        raise InvalidValueError("torch.histc: max must be larger than min")
    # PyTorch's bin is int((v - lo) * bins / (hi - lo)), each step rounded to x's dtype (not
    # a search of linspace edges: the two differ for values on an edge); max is in the last.
    rnd = _round_bf16 if x.dtype == _core.bfloat16 else (lambda v: np.asarray(v, dtype=npd))
    lo_t, hi_t = rnd(lo), rnd(hi)
    inside = a[(a >= lo_t) & (a <= hi_t)]  # (NaN is in no bin)
    if hi_t > lo_t:
        with np.errstate(over="ignore", invalid="ignore"):  # (bins past float16's range)
            frac = rnd(rnd(rnd(inside - lo_t) * rnd(bins)) / rnd(hi_t - lo_t))
        frac = np.nan_to_num(frac.astype(np.float64), nan=0.0)
        pos = np.clip(frac, 0, bins - 1).astype(np.int64)
    else:  # (a range too narrow for a half dtype: every value is on the one edge)
        pos = np.zeros(inside.shape, dtype=np.int64)
    counts = np.bincount(pos, minlength=bins)
    return _from_host(counts.astype(npd), x.dtype, x.device)


def _round_bf16(v: Any) -> np.ndarray:
    """float32 values rounded to the nearest bfloat16 (ties to even), kept as float32: the
    rounding after each bfloat16 operation (finite values only)."""
    bits = np.asarray(v, dtype=np.float32).view(np.uint32)
    bits = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) & np.uint32(
        0xFFFF0000
    )
    return bits.view(np.float32)


def histogram(
    input: Tensor,
    bins: Union[int, Tensor] = 100,
    *,
    range: Optional[Sequence[float]] = None,  # (PyTorch's name)
    weight: Optional[Tensor] = None,
    density: bool = False,
) -> HistogramResult:
    """``(hist, bin_edges)``: counts (or ``weight`` sums) of ``x`` in ``bins`` equal bins over
    ``range`` (the data's range by default), or in the bins between the given edges; with
    ``density`` normalised to integrate to 1. Floating tensors only; no gradient."""
    x = input
    if not isinstance(x, Tensor):
        raise ArgumentTypeError(
            f"histogram(): argument 'input' must be Tensor, not {type(x).__name__}"
        )
    if not x.dtype.is_floating_point:
        raise DTypeError(f"torch.histogram: input tensor must be floating point, got {x.dtype}")
    npd = _np_dtype(x.dtype)
    a = np.asarray(_host(x), dtype=npd).reshape(-1)
    if weight is not None:
        if tuple(weight.shape) != tuple(x.shape):
            raise ShapeError("torch.histogram: the weight tensor should have the input's shape")
        if weight.dtype != x.dtype:
            raise DTypeError(
                "torch.histogram: input tensor and weight tensor should have the same dtype"
            )
    wts = None if weight is None else np.asarray(_host(weight), dtype=npd).reshape(-1)
    if isinstance(bins, Tensor) and range is not None:  # (PyTorch has no such overload)
        raise ArgumentTypeError("histogram(): range is given by the bin edges' tensor itself")
    edges = _bin_edges(a, bins, range, x, "torch.histogram")
    ok = ~np.isnan(a)
    hist = _count(a[ok], edges, None if wts is None else wts[ok]).astype(npd)
    if density and edges.shape[0] > 1:
        widths = np.diff(edges)
        hist = (hist / (hist.sum() * widths)).astype(npd)
    return HistogramResult(
        _from_host(hist, x.dtype, x.device), _from_host(edges.astype(npd), x.dtype, x.device)
    )


class HistogramddResult(NamedTuple):
    """``(hist, bin_edges)`` of ``histogramdd``: one tuple of edges per dimension."""

    hist: Tensor
    bin_edges: tuple[Tensor, ...]


def _bin_edges(
    a: np.ndarray,
    bins: Union[int, Tensor],
    span: Optional[Sequence[float]],
    x: Tensor,
    op: str,
) -> np.ndarray:
    """One dimension's bin edges, for ``histogram`` and each dim of ``histogramdd``: the given
    edge tensor, or ``bins`` equal bins over ``span`` (the data's range by default, widened by
    0.5 each way when it is a single value). A count must be an int (as PyTorch,
    ``histogram(x, 2.7)`` is an error, not 2 bins)."""
    npd = _np_dtype(x.dtype)
    if isinstance(bins, Tensor):
        if bins.ndim != 1 or bins.shape[0] < 1:
            raise ShapeError(f"{op}: bins tensor should have one dimension and at least 1 element")
        if bins.shape[0] < 2:  # one edge bounds no bin
            raise InvalidValueError(f"{op}(): bins must be > 0, but got {bins.shape[0] - 1}")
        if bins.dtype != x.dtype:
            raise DTypeError(f"{op}: input tensor and bins tensors should have the same dtype")
        edges = np.asarray(_host(bins), dtype=npd)
        if (np.diff(edges) < 0).any():
            raise InvalidValueError(f"{op}: bin edges must be in increasing order")
        return edges
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise ArgumentTypeError(
            f"{op}(): bins must be an int or a Tensor, not {type(bins).__name__}"
        )
    if int(bins) <= 0:
        raise InvalidValueError(f"{op}(): bins must be > 0, but got {bins}")
    if span is not None:
        lo, hi = npd(span[0]), npd(span[1])
    elif a.size:
        lo, hi = a.min(), a.max()
    else:
        lo, hi = npd(0), npd(1)  # (PyTorch's range for no data)
    if lo > hi:
        raise InvalidValueError(f"{op}: min should not exceed max, but got min {lo} max {hi}")
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InvalidValueError(f"{op}: range of [{lo}, {hi}] is not finite")
    if lo == hi:
        lo, hi = lo - npd(0.5), hi + npd(0.5)
    return _torch_linspace(lo, hi, int(bins) + 1, npd)


def histogramdd(
    input: Tensor,
    bins: Union[int, Sequence[int], Sequence[Tensor]],
    range: Optional[Sequence[float]] = None,  # (PyTorch's name)
    weight: Optional[Tensor] = None,
    density: bool = False,
) -> HistogramddResult:
    """``(hist, bin_edges)`` of the ``D``-dimensional points in the innermost dim of ``x``:
    counts (or ``weight`` sums) in a ``D``-dimensional grid of bins, ``bins`` an int (for
    every dim), one int per dim, or one edge tensor per dim; ``range`` is ``D`` (min, max)
    pairs, flattened. As ``torch.histogramdd``; floating tensors only, no gradient."""
    x = input
    op = "torch.histogramdd"
    if not isinstance(x, Tensor):
        raise ArgumentTypeError(
            f"histogramdd(): argument 'input' must be Tensor, not {type(x).__name__}"
        )
    if x.ndim < 2:
        raise ShapeError(f"{op}: input tensor should have at least 2 dimensions, got {x.ndim}")
    if not x.dtype.is_floating_point:
        raise DTypeError(f"{op}: input tensor must be floating point, got {x.dtype}")
    npd = _np_dtype(x.dtype)
    n_dims = x.shape[-1]
    a = np.asarray(_host(x), dtype=npd).reshape(-1, n_dims)
    per_dim = list(bins) if isinstance(bins, (list, tuple)) else [bins] * n_dims
    if len(per_dim) != n_dims:
        raise ShapeError(
            f"{op}: expected {n_dims} sequences of bin edges for each of the {n_dims} input "
            f"dimensions, but got {len(per_dim)} bin sequences instead"
        )
    if range is not None and len(range) != 2 * n_dims:
        raise ShapeError(
            f"{op}: for a {n_dims}-dimensional histogram, range should have {2 * n_dims} "
            f"elements, but got {len(range)}"
        )
    wts = None
    if weight is not None:
        if tuple(weight.shape) != tuple(x.shape[:-1]):
            raise ShapeError(f"{op}: if weight tensor is provided it should have the input's shape")
        if weight.dtype != x.dtype:
            raise DTypeError(f"{op}: input tensor and weight tensor should have the same dtype")
        wts = np.asarray(_host(weight), dtype=npd).reshape(-1)
    edges = [
        _bin_edges(a[:, i], b, None if range is None else range[2 * i : 2 * i + 2], x, op)
        for i, b in enumerate(per_dim)
    ]
    nbins = [e.shape[0] - 1 for e in edges]
    keep = ~np.isnan(a).any(axis=1)
    for i, e in enumerate(edges):
        keep &= (a[:, i] >= e[0]) & (a[:, i] <= e[-1])
    cells = np.zeros(int(keep.sum()), dtype=np.int64)
    for i, e in enumerate(edges):  # row-major cell number; each dim's last bin is closed
        pos = np.minimum(np.searchsorted(e, a[keep, i], side="right") - 1, max(nbins[i] - 1, 0))
        cells = cells * nbins[i] + pos
    total = math.prod(nbins)
    w = None if wts is None else wts[keep]
    hist = np.bincount(cells, weights=w, minlength=total)[:total].astype(np.float64)
    hist = hist.reshape(nbins)
    if density and total:
        volume = np.ones(nbins)
        for i, e in enumerate(edges):
            shape = [1] * n_dims
            shape[i] = nbins[i]
            volume = volume * np.diff(e.astype(np.float64)).reshape(shape)
        hist = hist / (hist.sum() * volume)
    return HistogramddResult(
        _from_host(hist.astype(npd), x.dtype, x.device),
        tuple(_from_host(e.astype(npd), x.dtype, x.device) for e in edges),
    )


@_takes_tensor
def bincount(x: Tensor, weights: Optional[Tensor] = None, minlength: int = 0) -> Tensor:
    """Counts of each value ``0 .. max(x)`` (at least ``minlength`` of them) of a 1-D
    non-negative integer tensor, or the sums of their ``weights`` (float32 weights give
    float32, others float64)."""
    if x.ndim != 1 or x.dtype.is_floating_point or x.dtype == _core.bool:
        raise DTypeError("bincount only supports 1-d non-negative integral inputs.")
    if minlength < 0:
        raise InvalidValueError("minlength should be >= 0")
    a = np.asarray(_host(x), dtype=np.int64)
    if a.size and a.min() < 0:
        raise InvalidValueError("bincount only supports 1-d non-negative integral inputs.")
    if weights is None or a.size == 0:
        # (PyTorch gives int64 zeros for an empty input even with float weights.)
        return _from_host(np.bincount(a, minlength=minlength), _core.int64, x.device)
    if weights.ndim != 1 or weights.shape[0] != a.shape[0]:
        raise ShapeError("weights should be 1-d and have the same length as input")
    out_dtype = weights.dtype if weights.dtype in (_core.float32, _core.float64) else _core.float64
    w = np.asarray(_host(weights), dtype=np.float64)
    return _from_host(np.bincount(a, weights=w, minlength=minlength), out_dtype, x.device)


def isin(
    elements: Union[Tensor, _Number],
    test_elements: Union[Tensor, _Number],
    *,
    assume_unique: bool = False,
    invert: bool = False,
) -> Tensor:
    """Whether each of ``elements`` is among ``test_elements`` (either may be a number), as a
    bool tensor shaped like ``elements``; ``invert`` negates it."""
    if not isinstance(elements, Tensor) and not isinstance(test_elements, Tensor):
        raise ArgumentTypeError(
            "isin(): at least one of 'elements' and 'test_elements' must be a Tensor"
        )
    for v in (elements, test_elements):
        if not isinstance(v, (Tensor, int, float, bool)):
            raise ArgumentTypeError(
                f"isin(): expected a Tensor or a number, got {type(v).__name__}"
            )
    dtype = _result_dtype(
        *(v for v in (elements, test_elements) if isinstance(v, Tensor)),
        *(v for v in (elements, test_elements) if not isinstance(v, Tensor)),
    )
    device = next(v.device for v in (elements, test_elements) if isinstance(v, Tensor))

    def host(v: Any) -> np.ndarray:
        if isinstance(v, Tensor):
            return _host(v.to(dtype))
        return np.asarray(v)

    found = np.isin(host(elements), host(test_elements), assume_unique=assume_unique, invert=invert)
    return _from_host(found, _core.bool, device)


@_takes_tensor
def unique_consecutive(
    x: Tensor,
    return_inverse: bool = False,
    return_counts: bool = False,
    dim: Optional[int] = None,
) -> Any:
    """``x`` (flattened, or its slices along ``dim``) with runs of equal consecutive values
    collapsed to one; with ``return_inverse`` the run each element fell into, with
    ``return_counts`` each run's length (tuple results as PyTorch's)."""
    if dim is None:
        a = _host(x).reshape(-1)
        keys = a.reshape(-1, 1)
        shape_inv: tuple[int, ...] = tuple(x.shape)
    else:
        d = _dim(x, dim)
        if x.ndim == 0:
            raise IndexError("unique_consecutive(): dim out of range for a 0-d tensor")
        if any(size == 0 for i, size in enumerate(x.shape) if i != d):
            raise ShapeError(
                "unique_consecutive(): there are 0 sized dimensions, and they aren't selected, "
                "so unique cannot be applied"
            )
        moved = np.moveaxis(_host(x), d, 0)
        keys = moved.reshape(moved.shape[0], math.prod(moved.shape[1:]))
        shape_inv = (x.shape[d],)
    m = keys.shape[0]
    if m == 0:
        starts = np.zeros(0, dtype=np.int64)
    else:
        same = keys[1:] == keys[:-1]  # NaN != NaN: each NaN is a run of its own, as in PyTorch
        change = ~np.all(same, axis=1) if keys.shape[1] else np.zeros(m - 1, dtype=bool)
        starts = np.concatenate([[0], np.flatnonzero(change) + 1]).astype(np.int64)
    if dim is None:
        out = x.reshape(-1).index_select(0, _index(starts, x))
    else:
        out = x.index_select(d, _index(starts, x))
    counts = np.diff(np.append(starts, m)).astype(np.int64)
    run = np.repeat(np.arange(starts.shape[0], dtype=np.int64), counts)
    if not (return_inverse or return_counts):
        return out
    result: list[Tensor] = [out]
    if return_inverse:
        result.append(_index(run, x).reshape(shape_inv))
    if return_counts:
        result.append(_index(counts, x))
    return tuple(result)


# ---- registration ----------------------------------------------------------------------------

_OUT_OF_PLACE = (
    cov,
    corrcoef,
    quantile,
    nanquantile,
    nanmedian,
    mode,
    renorm,
    histc,
    histogram,
    bincount,
    unique_consecutive,
)

#: name -> function(tensor, ...), installed as ``Tensor`` methods by ``_tensor_extra._install``.
METHODS: dict[str, Callable[..., Any]] = {f.__name__: f for f in _OUT_OF_PLACE}
METHODS["renorm_"] = _inplace_of(renorm)

__all__ = [f.__name__ for f in _OUT_OF_PLACE] + ["isin", "histogramdd"]
