"""Convolution, pooling, resampling and GAN-layer parity cases found by the session-28
differential fuzz against PyTorch.

Expected values are PyTorch 2.x's (recorded from torch, which these tests do not import) or
NumPy references. ``xfail(strict=True)`` marks a case democratising still gets wrong (the fix
is outside the files this fuzz owned), so the marker must go once the behaviour is fixed.
"""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F


def _f64(a: np.ndarray, requires_grad: bool = False) -> dm.Tensor:
    return dm.tensor(np.asarray(a, dtype=np.float64), dtype=dm.float64, requires_grad=requires_grad)


# ---- conv_transpose3d ----


@pytest.mark.parametrize("stride", [1, 2, (2, 1, 3)])
def test_conv_transpose3d_empty_batch(stride: object) -> None:
    # A strided depth used to reshape with -1, which an empty batch cannot determine.
    x = dm.randn(0, 2, 3, 4, 5, requires_grad=True)
    w = dm.randn(2, 3, 2, 2, 2, requires_grad=True)
    y = F.conv_transpose3d(x, w, stride=stride)
    s = (stride,) * 3 if isinstance(stride, int) else stride
    want = tuple((n - 1) * si + 2 for n, si in zip((3, 4, 5), s))
    assert tuple(y.shape) == (0, 3, *want)
    y.sum().backward()
    assert tuple(x.grad.shape) == (0, 2, 3, 4, 5)
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros((2, 3, 2, 2, 2), np.float32))


def test_conv_transpose3d_module_empty_batch_with_output_size() -> None:
    m = dm.nn.ConvTranspose3d(1, 1, (1, 3, 1), stride=(2, 2, 1), padding=(0, 0, 1))
    y = m(dm.randn(0, 1, 4, 7, 4), output_size=[7, 15, 2])
    assert tuple(y.shape) == (0, 1, 7, 15, 2)


# ---- interpolate: a spatial dim whose size the resize keeps ----


def test_antialias_keeps_same_size_dim_bilinear() -> None:
    # (3, 2) * (1.5, 1.3) -> (4, 2): PyTorch copies the width; the height is antialiased.
    x = _f64(np.arange(6.0).reshape(1, 1, 3, 2) ** 2)
    got = F.interpolate(x, scale_factor=(1.5, 1.3), mode="bilinear", antialias=True)
    want = [[0.0, 1.0], [2.0, 5.0], [6.0, 11.66666667], [14.0, 22.33333333]]
    np.testing.assert_allclose(got.numpy()[0, 0], want, atol=1e-7)


def test_antialias_keeps_same_size_dim_bicubic() -> None:
    x = _f64(np.arange(6.0).reshape(1, 1, 3, 2) ** 2)
    got = F.interpolate(x, scale_factor=(1.5, 1.3), mode="bicubic", antialias=True)
    want = [
        [-0.26315789, 0.47368421],
        [1.17647059, 3.82352941],
        [5.79405034, 11.54462243],
        [14.67833698, 23.26695842],
    ]
    np.testing.assert_allclose(got.numpy()[0, 0], want, atol=1e-7)


@pytest.mark.parametrize("align_corners", [None, False, True])
def test_linear_modes_copy_same_size_dims(align_corners: object) -> None:
    # 3 * 1.3 floors to 3: every linear mode copies such a dim whatever the scale factor.
    rng = np.random.RandomState(0)
    for mode, shape in (
        ("linear", (1, 2, 3)),
        ("bilinear", (2, 1, 3, 3)),
        ("trilinear", (1, 1, 3, 3, 3)),
    ):
        a = rng.randn(*shape)
        got = F.interpolate(_f64(a), scale_factor=1.3, mode=mode, align_corners=align_corners)
        np.testing.assert_allclose(got.numpy(), a, atol=1e-12)


def test_trilinear_resamples_only_the_changed_dim() -> None:
    # (2, 2, 2) * (1.5, 1.3, 1.3) -> (3, 2, 2): only depth changes (PyTorch's values).
    x = _f64(np.arange(8.0).reshape(1, 1, 2, 2, 2) ** 2)
    got = F.interpolate(x, scale_factor=(1.5, 1.3, 1.3), mode="trilinear")
    want = [0.0, 1.0, 4.0, 9.0, 8.0, 13.0, 20.0, 29.0, 16.0, 25.0, 36.0, 49.0]
    np.testing.assert_allclose(got.numpy().reshape(-1), want, atol=1e-12)


def test_plain_bicubic_still_resamples_same_size_dims() -> None:
    # Unlike the other modes, PyTorch's plain bicubic kernel resamples at the given scale.
    x = _f64([[[[0.0, 1.0, 4.0], [9.0, 16.0, 25.0], [36.0, 49.0, 64.0]]]])
    got = F.interpolate(x, scale_factor=1.3, mode="bicubic")
    want = [
        [-0.64968572, -0.49884192, 1.11987401],
        [2.74922362, 5.26627366, 10.49855901],
        [20.43507656, 26.56569601, 37.31647070],
    ]
    np.testing.assert_allclose(got.numpy()[0, 0], want, atol=1e-7)


def test_same_size_copy_gradient_matches_unit_scale() -> None:
    # The copied width contributes an identity to the gradient: the same gradient as with a
    # width scale of exactly 1.
    a = np.random.RandomState(1).randn(1, 1, 4, 3)
    g = _f64(np.random.RandomState(2).randn(1, 1, 8, 3))
    grads = []
    for scale in ((2.0, 1.3), (2.0, 1.0)):
        x = _f64(a, requires_grad=True)
        F.interpolate(x, scale_factor=scale, mode="bilinear", antialias=True).backward(g)
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-12)
    assert np.abs(grads[0]).sum() > 0


def test_nearest_2d_same_and_double_size_shortcuts() -> None:
    x = _f64([[[[0.0, 1.0, 4.0], [9.0, 16.0, 25.0], [36.0, 49.0, 64.0]]]])
    got = F.interpolate(x, scale_factor=(1.3, 2.3), mode="nearest")
    want = [
        [0.0, 0.0, 1.0, 1.0, 4.0, 4.0],
        [9.0, 9.0, 16.0, 16.0, 25.0, 25.0],
        [36.0, 36.0, 49.0, 49.0, 64.0, 64.0],
    ]
    np.testing.assert_array_equal(got.numpy()[0, 0], want)


def test_nearest_1d_keeps_floor_rule() -> None:
    # PyTorch's 1-d (and 3-d) nearest forward has no shortcut: floor(i / 1.3) = 0, 0, 1.
    got = F.interpolate(_f64([[[0.0, 1.0, 2.0]]]), scale_factor=1.3, mode="nearest")
    np.testing.assert_array_equal(got.numpy().reshape(-1), [0.0, 0.0, 1.0])


def test_adaptive_avg_pool2d_zero_output_size() -> None:
    assert tuple(F.adaptive_avg_pool2d(dm.randn(1, 1, 4, 4), 0).shape) == (1, 1, 0, 0)


# ---- grid_sample ----


@pytest.mark.parametrize("spatial", [2, 3])
def test_grid_sample_nearest_gives_grid_zero_gradient(spatial: int) -> None:
    rng = np.random.RandomState(0)
    x = _f64(rng.randn(1, 2, *(4,) * spatial), requires_grad=True)
    grid = _f64(rng.uniform(-1, 1, size=(1, *(3,) * spatial, spatial)), requires_grad=True)
    y = F.grid_sample(x, grid, mode="nearest", align_corners=False)
    y.sum().backward()
    assert grid.grad is not None
    np.testing.assert_array_equal(grid.grad.numpy(), np.zeros(grid.shape))
    # Every output sample reads one input element: the input's gradient counts the reads.
    assert x.grad.numpy().sum() == pytest.approx(float(np.prod(y.shape)))


def test_grid_sample_nearest_without_grad_is_unchanged() -> None:
    x = _f64(np.arange(16.0).reshape(1, 1, 4, 4))
    grid = _f64([[[[-1.0, -1.0], [1.0, 1.0]]]])
    y = F.grid_sample(x, grid, mode="nearest", align_corners=True)
    assert not y.requires_grad
    np.testing.assert_array_equal(y.numpy().reshape(-1), [0.0, 15.0])


# ---- fractional max pooling ----


def test_fractional_max_pool3d_needs_one_spare_element() -> None:
    # PyTorch's 3-d kernel: outputT + poolSizeT - 1 < inputT (RuntimeError there).
    x = dm.randn(1, 1, 6, 6, 6)
    with pytest.raises(ValueError, match="too large relative to input time 6"):
        F.fractional_max_pool3d(x, (1, 1, 1), output_size=(6, 3, 3))
    with pytest.raises(ValueError, match="too large relative to input height 6"):
        F.fractional_max_pool3d(x, (1, 2, 1), output_size=(4, 5, 3))
    assert tuple(F.fractional_max_pool3d(x, 1, output_size=5).shape) == (1, 1, 5, 5, 5)


def test_fractional_max_pool2d_allows_window_at_the_edge() -> None:
    # The 2-d kernel checks outputH + poolSizeH - 1 <= inputH: equality is fine.
    x = dm.randn(1, 1, 6, 6)
    assert tuple(F.fractional_max_pool2d(x, 1, output_size=6).shape) == (1, 1, 6, 6)
    with pytest.raises(ValueError, match="too large"):
        F.fractional_max_pool2d(x, 2, output_size=6)


# ---- max pooling over NaNs ----


@pytest.mark.parametrize("kernel", [2, 3])
def test_max_pool2d_gradient_goes_to_the_reported_nan(kernel: int) -> None:
    plane = np.array([0.0, np.nan, 1.0, np.nan, np.nan, -1.0, 2.0, np.nan, np.nan])
    x = _f64(plane[: kernel * kernel].reshape(1, 1, kernel, kernel), requires_grad=True)
    values, indices = F.max_pool2d(x, kernel, return_indices=True)
    values.sum().backward()
    want = np.zeros(kernel * kernel)
    want[int(indices.numpy().reshape(-1)[0])] = 1.0
    np.testing.assert_array_equal(x.grad.numpy().reshape(-1), want)
