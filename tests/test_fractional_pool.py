"""Fractional max pooling against a loop-by-loop NumPy reference of PyTorch's kernel (window
starts ``int((i + u) * alpha) - int(u * alpha)``, the last window flush with the end; the 2-d
kernels read the samples as (width, height)), with gradients, indices and typed errors."""

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising.autograd import gradcheck


def _starts(u: np.float32, size: int, out: int, k: int) -> list[int]:
    if out == 1:
        return [size - k]
    alpha = np.float32(size - k) / np.float32(out - 1)
    s = [int((np.float32(i) + u) * alpha) - int(u * alpha) for i in range(out - 1)]
    return [*s, size - k]


def _reference_2d(a: np.ndarray, u: np.ndarray, k: tuple[int, int], out: tuple[int, int]):
    n, c, h, w = a.shape
    y = np.zeros((n, c, *out), a.dtype)
    idx = np.zeros((n, c, *out), np.int64)
    for b in range(n):
        for p in range(c):
            rows = _starts(u[b, p, 1], h, out[0], k[0])
            cols = _starts(u[b, p, 0], w, out[1], k[1])
            for i, r in enumerate(rows):
                for j, q in enumerate(cols):
                    win = a[b, p, r : r + k[0], q : q + k[1]]
                    at = np.unravel_index(np.argmax(win), win.shape)
                    y[b, p, i, j] = win[at]
                    idx[b, p, i, j] = (r + at[0]) * w + q + at[1]
    return y, idx


@pytest.mark.parametrize(
    ("shape", "k", "out"), [((2, 3, 9, 11), (3, 3), (4, 5)), ((1, 2, 10, 10), (2, 3), (5, 1))]
)
def test_2d_matches_the_reference_kernel(shape, k, out):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shape).astype(np.float32)
    u = rng.random((shape[0], shape[1], 2)).astype(np.float32)
    y, idx = F.fractional_max_pool2d(
        dm.tensor(a), k, output_size=out, return_indices=True, _random_samples=dm.tensor(u)
    )
    ry, ridx = _reference_2d(a, u, k, out)
    np.testing.assert_array_equal(y.numpy(), ry)
    np.testing.assert_array_equal(idx.numpy(), ridx)
    # The indices are flat in-plane positions, as max_unpool2d takes them.
    flat = a.reshape(shape[0], shape[1], -1)
    got = np.take_along_axis(flat, idx.numpy().reshape(shape[0], shape[1], -1), 2)
    np.testing.assert_array_equal(got, ry.reshape(shape[0], shape[1], -1))


def test_3d_and_unbatched_inputs_and_the_layers():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 2, 6, 7, 8)).astype(np.float32)
    u = dm.tensor(rng.random((2, 2, 3)).astype(np.float32))
    y, idx = F.fractional_max_pool3d(
        dm.tensor(a), 2, output_size=(3, 4, 5), return_indices=True, _random_samples=u
    )
    assert y.shape == idx.shape == (2, 2, 3, 4, 5)
    flat = a.reshape(2, 2, -1)
    np.testing.assert_array_equal(
        np.take_along_axis(flat, idx.numpy().reshape(2, 2, -1), 2), y.numpy().reshape(2, 2, -1)
    )
    assert F.fractional_max_pool2d(dm.randn(3, 8, 8), 2, output_size=4).shape == (3, 4, 4)
    layer = dm.nn.FractionalMaxPool2d(3, output_ratio=0.5)
    assert repr(layer) == "FractionalMaxPool2d()"
    assert layer.output_ratio == (0.5, 0.5) and layer.kernel_size == (3, 3)
    assert layer(dm.randn(1, 2, 10, 10)).shape == (1, 2, 5, 5)
    out, ind = dm.nn.FractionalMaxPool3d(2, output_size=3, return_indices=True)(
        dm.randn(1, 1, 6, 6, 6)
    )
    assert out.shape == ind.shape == (1, 1, 3, 3, 3) and ind.dtype == dm.int64


def test_draws_follow_manual_seed_and_gradients_pass_finite_differences():
    x = dm.randn(2, 2, 7, 7)
    dm.manual_seed(3)
    a = F.fractional_max_pool2d(x, 2, output_ratio=(0.6, 0.6))
    dm.manual_seed(3)
    b = F.fractional_max_pool2d(x, 2, output_ratio=(0.6, 0.6))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    u = dm.rand(1, 2, 2, dtype=dm.float64)
    x64 = dm.randn(1, 2, 6, 6, dtype=dm.float64, requires_grad=True)
    assert gradcheck(
        lambda t: F.fractional_max_pool2d(t, 2, output_size=3, _random_samples=u), (x64,)
    )


def test_bad_arguments_raise_typed_errors():
    with pytest.raises(ValueError, match="either an output size"):
        dm.nn.FractionalMaxPool2d(2)
    with pytest.raises(ValueError, match="only one of"):
        dm.nn.FractionalMaxPool2d(2, output_size=2, output_ratio=0.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        dm.nn.FractionalMaxPool2d(2, output_ratio=1.5)
    with pytest.raises(dm.ShapeError, match="too large"):
        F.fractional_max_pool2d(dm.randn(1, 1, 4, 4), 3, output_size=3)
    u = dm.rand(3, 1, 2)  # a larger batch of samples: the first rows are used, as PyTorch's
    np.testing.assert_array_equal(
        F.fractional_max_pool2d(dm.ones(1, 1, 4, 4), 2, output_size=2, _random_samples=u).numpy(),
        np.ones((1, 1, 2, 2)),
    )
    layer = dm.nn.FractionalMaxPool2d(2, output_size=2, _random_samples=u)
    assert list(layer.state_dict()) == ["_random_samples"]
    assert list(dm.nn.FractionalMaxPool2d(2, output_size=2).state_dict()) == []
    with pytest.raises(dm.ShapeError, match="_random_samples"):
        F.fractional_max_pool2d(
            dm.randn(1, 1, 4, 4), 2, output_size=2, _random_samples=dm.rand(1, 2, 2)
        )
    with pytest.raises(dm.ShapeError):
        F.fractional_max_pool2d(dm.randn(4, 4), 2, output_size=2)
