"""The interpolating modes of ``F.interpolate`` (``linear``, ``bilinear``, ``trilinear``,
``bicubic``): each spatial dim is resized by one matrix of interpolation weights
(``[n_out, n_in]``, built in NumPy from PyTorch's source-index rule) applied with the engine's
matmul, so the result is differentiable and its gradient is the transposed resize."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .._core import Tensor
from .._tensor import tensor as _tensor

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


def resize(
    x: Tensor,
    mode: str,
    out_sizes: list[int],
    scales: list[Optional[float]],
    align_corners: bool,
) -> Tensor:
    """``x`` (``[N, C, *spatial]``) resized to ``out_sizes`` with the interpolating ``mode``,
    one spatial dim at a time (the modes are separable)."""
    weights = _cubic_weights if mode == "bicubic" else _linear_weights
    out = x
    for i, (n_out, s) in enumerate(zip(out_sizes, scales)):
        dim = 2 + i
        n_in = out.shape[dim]
        if n_in == n_out and s in (None, 1.0):
            continue
        w = _tensor(weights(n_in, n_out, s, align_corners)).to(x.dtype).to(x.device)
        # Move the resized dim last, contract it with the weights, move it back.
        moved = out.transpose(dim, -1)
        out = (moved @ w.t()).transpose(dim, -1)
    return out
