"""The interpolating modes of ``F.interpolate`` (``linear``, ``bilinear``, ``trilinear``,
``bicubic``, their ``antialias=True`` forms, and ``area``): each spatial dim is resized by one
matrix of interpolation weights (``[n_out, n_in]``, built in NumPy from PyTorch's source-index
rule) applied with the engine's matmul, so the result is differentiable and its gradient is the
transposed resize."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from .. import _core
from .._core import Tensor
from .._tensor import tensor as _tensor
from ..errors import InvalidValueError

#: The cubic convolution coefficient PyTorch's bicubic mode uses.
_CUBIC_A = -0.75

#: Modes and the spatial dims they resize (``[N, C, *spatial]``).
SPATIAL_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


def _source(n_in: int, n_out: int, scale: Optional[float], align_corners: bool) -> np.ndarray:
    """Each output position's fractional source coordinate (PyTorch's
    ``area_pixel_compute_source_index``, before any clamping)."""
    dst = np.arange(n_out, dtype=np.float64)
    if align_corners:
        step = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        return dst * step
    step = 1.0 / scale if scale is not None and scale > 0 else n_in / n_out
    return (dst + 0.5) * step - 0.5


def _linear_weights(n_in: int, n_out: int, scale: Optional[float], align: bool) -> np.ndarray:
    """Linear interpolation as a ``[n_out, n_in]`` matrix: two neighbours per row, the
    source coordinate clamped at 0 as PyTorch clamps it."""
    src = np.maximum(_source(n_in, n_out, scale, align), 0.0)
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    w = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(w, (rows, lo), 1.0 - frac)
    np.add.at(w, (rows, hi), frac)
    return w


def _cubic_weights(n_in: int, n_out: int, scale: Optional[float], align: bool) -> np.ndarray:
    """Cubic convolution (``a = -0.75``) as a ``[n_out, n_in]`` matrix: four neighbours per
    row, indices past the edges clamped to it (their weights added there)."""
    src = _source(n_in, n_out, scale, align)
    base = np.floor(src)
    t = src - base
    a = _CUBIC_A

    def near(x: np.ndarray) -> np.ndarray:  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: np.ndarray) -> np.ndarray:  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    coeffs = [far(t + 1), near(t), near(1 - t), far(2 - t)]
    w = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    for k, c in enumerate(coeffs):
        idx = np.clip(base.astype(np.int64) - 1 + k, 0, n_in - 1)
        np.add.at(w, (rows, idx), c)
    return w


def _area_weights(n_in: int, n_out: int) -> np.ndarray:
    """``mode="area"`` (PyTorch's adaptive average pooling) as a ``[n_out, n_in]`` matrix: output
    ``i`` averages inputs ``floor(i * n_in / n_out)`` up to ``ceil((i + 1) * n_in / n_out)``."""
    w = np.zeros((n_out, n_in))
    for i in range(n_out):
        start = (i * n_in) // n_out
        end = -((-(i + 1) * n_in) // n_out)
        w[i, start:end] = 1.0 / (end - start)
    return w


def _triangle(x: np.ndarray) -> np.ndarray:
    """The antialiased bilinear filter."""
    x = np.abs(x)
    return np.where(x < 1.0, 1.0 - x, 0.0)


def _keys_cubic(x: np.ndarray) -> np.ndarray:
    """The antialiased bicubic filter: Keys' cubic with ``a = -0.5`` (PyTorch uses it for
    ``antialias=True`` where plain bicubic uses ``a = -0.75``)."""
    a = -0.5
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.where(x < 1.0, near, np.where(x < 2.0, far, 0.0))


def _antialias_weights(
    n_in: int,
    n_out: int,
    scale: Optional[float],
    align: bool,
    interp_size: int,
    kernel: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """PyTorch's antialiased resize (``_compute_weights_aa``) as a ``[n_out, n_in]`` matrix:
    when shrinking, the filter is stretched by the scale so every input contributes; each row's
    taps are those within the filter's support, normalised to sum to 1."""
    if align:
        step = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:
        step = 1.0 / scale if scale is not None and scale > 0 else n_in / n_out
    support = interp_size * 0.5 * step if step >= 1.0 else interp_size * 0.5
    invscale = 1.0 / step if step >= 1.0 else 1.0
    w = np.zeros((n_out, n_in))
    for i in range(n_out):
        center = step * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        taps = kernel((np.arange(lo, hi) - center + 0.5) * invscale)
        total = taps.sum()
        w[i, lo:hi] = taps / total if total != 0.0 else taps
    return w


def _weights(
    mode: str, n_in: int, n_out: int, scale: Optional[float], align: bool, antialias: bool
) -> np.ndarray:
    """The ``[n_out, n_in]`` resize matrix of one spatial dim for ``mode``."""
    if mode == "area":
        return _area_weights(n_in, n_out)
    if antialias:
        if mode == "bicubic":
            return _antialias_weights(n_in, n_out, scale, align, 4, _keys_cubic)
        return _antialias_weights(n_in, n_out, scale, align, 2, _triangle)
    if mode == "bicubic":
        return _cubic_weights(n_in, n_out, scale, align)
    return _linear_weights(n_in, n_out, scale, align)


def _copies_same_size(mode: str, antialias: bool) -> bool:
    """Whether PyTorch copies a spatial dim whose size the resize keeps, whatever its
    ``scale_factor`` (its separable CPU kernel skips such a dim for the linear modes, ``area``
    and every antialiased mode); plain ``bicubic`` still resamples it at that scale."""
    return mode != "bicubic" or antialias


def _apply_weights(x: Tensor, w: np.ndarray, finite: bool) -> Tensor:
    """``x @ w.T`` over ``x``'s last dim: one GEMM, unless ``x`` may hold a NaN or inf
    (not ``finite``), which the dense product would spread to every output through
    ``0 * nan``; then ``_gather``."""
    if finite:
        wt = _tensor(w).to(x.dtype).to(x.device)
        return x @ wt.t()
    return _gather(x, w)


def _gather(x: Tensor, w: np.ndarray) -> Tensor:
    """``x @ w.T`` reading only the inputs each output weighs: the ``k`` nonzero weights of
    each row (two for linear, four for cubic) as one gather, a product and a sum. As in
    PyTorch, a NaN or inf then reaches only the outputs that read it, forward and backward
    (PyTorch's kernels also read a neighbour whose weight is 0, making ``0 * nan`` there;
    here such an output stays finite). Several times slower than the GEMM on images: kept
    for inputs that need it."""
    nonzero = w != 0
    k = max(int(nonzero.sum(axis=1).max(initial=0)), 1)
    # Per row: its nonzero columns first, in order; a row's spare slots repeat its first
    # column, and their products are replaced by 0 (an inf there would give 0 * inf = nan).
    cols = np.argsort(~nonzero, axis=1, kind="stable")[:, :k]
    spare = np.arange(k)[None, :] >= nonzero.sum(axis=1, keepdims=True)
    cols = np.where(spare, cols[:, :1], cols)
    weights = np.where(spare, 0.0, np.take_along_axis(w, cols, axis=1))
    index = _core.from_numpy(np.ascontiguousarray(cols.reshape(-1), dtype=np.int64))
    gathered = x.index_select(-1, index.to(x.device))
    gathered = gathered.reshape(*x.shape[:-1], w.shape[0], k)
    wt = _tensor(weights).to(x.dtype).to(x.device)
    terms = gathered * wt
    if spare.any():
        terms = _core.where(_core.from_numpy(spare).to(x.device), 0.0, terms)
    return terms.sum(-1)


def resize(
    x: Tensor,
    mode: str,
    out_sizes: list[int],
    scales: list[Optional[float]],
    align_corners: bool,
    antialias: bool = False,
) -> Tensor:
    """``x`` (``[N, C, *spatial]``) resized to ``out_sizes`` with the interpolating ``mode``
    (or ``"area"``, which ignores ``scales`` and ``align_corners``), one spatial dim at a time
    (the modes are separable). ``antialias`` applies to ``bilinear`` and ``bicubic``."""
    if antialias and mode not in ("bilinear", "bicubic"):
        raise InvalidValueError(
            "Anti-alias option is only supported for bilinear and bicubic modes"
        )
    out = x
    # (A finite sum means finite values: one cheap pass instead of an isfinite tensor. On a
    # GPU the check would wait for the device at every call: there the GEMM always runs.)
    finite = x.device.type != "cpu" or bool(x.detach().sum().isfinite())
    # Autocast off: the resize is PyTorch's upsample/pooling kernel, which runs in the input's
    # dtype; under autocast the weights' ``@`` would round a float32 image to bfloat16.
    amp = _core._set_autocast(None)
    try:
        for i, (n_out, s) in enumerate(zip(out_sizes, scales)):
            dim = 2 + i
            n_in = out.shape[dim]
            if n_in == n_out and (s in (None, 1.0) or _copies_same_size(mode, antialias)):
                continue
            w = _weights(mode, n_in, n_out, s, align_corners, antialias)
            out = _apply_weights(out.transpose(dim, -1), w, finite).transpose(dim, -1)
    finally:
        _core._set_autocast(amp)
    return out
