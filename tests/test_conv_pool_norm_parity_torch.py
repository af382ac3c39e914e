"""Parity of the CNN layers (convolutions, pools, normalisations) with PyTorch 2.15, found by
differential testing. Expected values come from NumPy references or were computed with torch
and are hard-coded here (the test suite does not import torch)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F


def _adaptive_bounds(length: int, out: int) -> list[tuple[int, int]]:
    return [(i * length // out, -(-(i + 1) * length // out)) for i in range(out)]


def _np_adaptive_avg3d(x: np.ndarray, out: tuple[int, int, int]) -> np.ndarray:
    """PyTorch's adaptive average pool over the last three axes, one window at a time."""
    d, h, w = x.shape[-3:]
    y = np.empty((*x.shape[:-3], *out), dtype=x.dtype)
    for i, (d0, d1) in enumerate(_adaptive_bounds(d, out[0])):
        for j, (h0, h1) in enumerate(_adaptive_bounds(h, out[1])):
            for k, (w0, w1) in enumerate(_adaptive_bounds(w, out[2])):
                y[..., i, j, k] = x[..., d0:d1, h0:h1, w0:w1].mean(axis=(-3, -2, -1))
    return y


def _np_adaptive_avg3d_grad(shape: tuple[int, ...], g: np.ndarray) -> np.ndarray:
    """The input gradient of ``_np_adaptive_avg3d`` for the output gradient ``g``."""
    d, h, w = shape[-3:]
    out = g.shape[-3:]
    dx = np.zeros(shape, dtype=g.dtype)
    for i, (d0, d1) in enumerate(_adaptive_bounds(d, out[0])):
        for j, (h0, h1) in enumerate(_adaptive_bounds(h, out[1])):
            for k, (w0, w1) in enumerate(_adaptive_bounds(w, out[2])):
                size = (d1 - d0) * (h1 - h0) * (w1 - w0)
                dx[..., d0:d1, h0:h1, w0:w1] += g[..., i, j, k, None, None, None] / size
    return dx


@pytest.mark.parametrize(
    ("shape", "out"),
    [
        ((2, 3, 5, 7, 9), (2, 3, 4)),  # no size divides
        ((2, 3, 5, 7, 9), (5, 7, 3)),  # identity on two axes, tiling on the third
        ((3, 5, 7, 6), (2, 3, 4)),  # unbatched, overlapping windows
        ((1, 2, 4, 6, 8), (7, 9, 11)),  # output larger than the input
    ],
)
def test_adaptive_avg_pool3d_matches_windows_and_gradient(shape, out):
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(shape)
    x = dm.tensor(x_np, requires_grad=True)
    y = F.adaptive_avg_pool3d(x, out)
    np.testing.assert_allclose(y.detach().numpy(), _np_adaptive_avg3d(x_np, out), atol=1e-12)
    g = rng.standard_normal(y.shape)
    y.backward(dm.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), _np_adaptive_avg3d_grad(shape, g), atol=1e-12)


def test_adaptive_avg_pool3d_keeps_nan_and_inf_in_their_windows():
    # torch: F.adaptive_avg_pool3d(x, (1, 2, 3)) -> [[nan, 3.0, 3.75], [4.75, 5.5, inf]]; the
    # pooling-matrix product of the 2-D engine op made every cell nan.
    x = np.arange(30, dtype=np.float32).reshape(1, 1, 2, 3, 5) * 0.5 - 3
    x[0, 0, 0, 0, 0] = np.nan
    x[0, 0, 1, 2, 4] = np.inf
    y = dm.nn.AdaptiveAvgPool3d((1, 2, 3))(dm.tensor(x)).numpy()
    want = np.array([[np.nan, 3.0, 3.75], [4.75, 5.5, np.inf]], dtype=np.float32)
    np.testing.assert_allclose(y.reshape(2, 3), want, rtol=1e-6)


def test_adaptive_avg_pool3d_nan_input_gradient_stays_finite():
    x_np = np.zeros((1, 1, 3, 3, 3))
    x_np[0, 0, 1, 1, 1] = np.nan
    x = dm.tensor(x_np, requires_grad=True)
    F.adaptive_avg_pool3d(x, 2).sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    np.testing.assert_allclose(
        x.grad.numpy(), _np_adaptive_avg3d_grad(x_np.shape, np.ones((1, 1, 2, 2, 2)))
    )


def test_max_pool3d_indices_of_nan_windows_follow_torch():
    # torch: an all-NaN 2x2x2 window reports the last NaN (index 7): its scan replaces the
    # maximum at every NaN (``val > max || isnan(val)``).
    x = np.full((1, 1, 2, 2, 2), np.nan, dtype=np.float32)
    values, indices = F.max_pool3d(dm.tensor(x), 2, return_indices=True)
    assert math.isnan(values.item())
    assert indices.item() == 7
    # torch: inf at 1 and NaN at 4 and 6 -> value nan, index 6 (not the inf before them).
    x = np.zeros((1, 1, 2, 2, 2), dtype=np.float32)
    x[0, 0, 0, 0, 1] = np.inf
    x[0, 0, 1, 0, 0] = np.nan
    x[0, 0, 1, 1, 0] = np.nan
    for values, indices in (
        F.max_pool3d(dm.tensor(x), 2, return_indices=True),
        dm.nn.AdaptiveMaxPool3d(1, return_indices=True)(dm.tensor(x)),
    ):
        assert math.isnan(values.item())
        assert indices.item() == 6


def test_max_pool3d_indices_without_nan_are_the_first_maximum():
    # Ties keep the first position in scan order (torch: index 0 for a window of zeros).
    x = np.zeros((1, 1, 2, 2, 2), dtype=np.float32)
    _, indices = F.max_pool3d(dm.tensor(x), 2, return_indices=True)
    assert indices.item() == 0
    x[0, 0, 1, 1, 1] = 2.0
    x[0, 0, 0, 1, 0] = 2.0
    _, indices = F.max_pool3d(dm.tensor(x), 2, return_indices=True)
    assert indices.item() == 2


@pytest.mark.parametrize(
    "layer", [dm.nn.ConvTranspose1d, dm.nn.ConvTranspose2d, dm.nn.ConvTranspose3d]
)
def test_conv_transpose_refuses_string_padding(layer):
    # torch: TypeError "argument 'padding' must be tuple of ints" (at the first forward).
    with pytest.raises(TypeError, match="no 'same'/'valid' padding"):
        layer(3, 4, 3, padding="same")


def test_conv1d_same_even_kernel_with_dilation_matches_torch():
    # torch.nn.Conv1d(1, 1, 4, padding='same', dilation=3, bias=False) with weight [1, 2, 3, 4]
    # on arange(8): total padding 9, 4 on the left and 5 on the right.
    conv = dm.nn.Conv1d(1, 1, 4, padding="same", dilation=3, bias=False)
    with dm.no_grad():
        conv.weight.copy_(dm.tensor([[[1.0, 2.0, 3.0, 4.0]]]))
    y = conv(dm.arange(8.0).reshape(1, 1, 8))
    want = [26.0, 33.0, 42.0, 19.0, 24.0, 30.0, 12.0, 15.0]
    np.testing.assert_allclose(y.detach().numpy().ravel(), want)


def test_batch_norm_cumulative_average_running_stats():
    # torch.nn.BatchNorm1d(2, momentum=None) after the batches [[0, 1], [2, 3]] and
    # [[4, 4], [8, 6]]: running_mean [3.5, 3.5], running_var [5.0, 2.0], 2 batches.
    bn = dm.nn.BatchNorm1d(2, momentum=None)
    bn(dm.tensor([[0.0, 1.0], [2.0, 3.0]]))
    bn(dm.tensor([[4.0, 4.0], [8.0, 6.0]]))
    np.testing.assert_allclose(bn.running_mean.numpy(), [3.5, 3.5])
    np.testing.assert_allclose(bn.running_var.numpy(), [5.0, 2.0])
    assert bn.num_batches_tracked.item() == 2
