"""``F.pad(mode="constant")`` as one engine op: NumPy's values for pads on one to three dims,
crops mixed with pads, every dtype, values, non-contiguous and empty inputs; the gradient is
the middle of the output gradient (float64 gradcheck, second order)."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from helpers import assert_close, gradcheck

RNG = np.random.default_rng(5)


def _np_pad(x: np.ndarray, pads: list[int], value: float) -> np.ndarray:
    """PyTorch's pad order (last dim first) with NumPy, negative amounts cropping."""
    for i in range(len(pads) // 2):
        ax = x.ndim - 1 - i
        lo, hi = pads[2 * i], pads[2 * i + 1]
        sl = [slice(None)] * x.ndim
        sl[ax] = slice(max(-lo, 0), x.shape[ax] - max(-hi, 0))
        x = x[tuple(sl)]
        width = [(0, 0)] * x.ndim
        width[ax] = (max(lo, 0), max(hi, 0))
        x = np.pad(x, width, constant_values=value)
    return x


@pytest.mark.parametrize(
    "pads", [[1, 1], [0, 2], [1, 2, 3, 0], [2, 1, 0, 0, 1, 1], [-1, 2], [1, -2, -1, 1]]
)
@pytest.mark.parametrize("value", [0.0, -1.5])
def test_matches_numpy(pads: list[int], value: float) -> None:
    x = RNG.standard_normal((2, 3, 4, 5))
    got = F.pad(dm.tensor(x), pads, value=value)
    np.testing.assert_array_equal(got.numpy(), _np_pad(x, pads, value))


@pytest.mark.parametrize(
    "dtype", [dm.float32, dm.float64, dm.float16, dm.bfloat16, dm.int64, dm.int32, dm.bool]
)
def test_every_dtype(dtype: dm.dtype) -> None:
    x = RNG.integers(0, 3, (3, 4))
    y = F.pad(dm.tensor(x).to(dtype), [1, 2, 2, 1])
    assert y.dtype == dtype
    want = np.pad(x, [(2, 1), (1, 2)])
    np.testing.assert_array_equal(
        y.to(dm.int64).numpy(), want.astype(bool) if dtype == dm.bool else want
    )


def test_non_contiguous_and_empty_inputs() -> None:
    x = RNG.standard_normal((4, 6))
    np.testing.assert_array_equal(
        F.pad(dm.tensor(x).t(), [1, 1]).numpy(), np.pad(x.T, [(0, 0), (1, 1)])
    )
    e = F.pad(dm.zeros(0, 3), [1, 1, 2, 0])
    assert tuple(e.shape) == (2, 5)
    np.testing.assert_array_equal(e.numpy(), np.zeros((2, 5)))


def test_gradient_is_the_middle() -> None:
    x = dm.tensor(RNG.standard_normal((2, 3, 4)), dtype=dm.float64, requires_grad=True)
    gradcheck(lambda t: F.pad(t, [1, 2, 0, 1], value=3.0), [x])
    gradcheck(lambda t: F.pad(t, [-1, 2]) ** 2, [x])
    g = RNG.standard_normal((2, 4, 7))
    F.pad(x, [1, 2, 0, 1]).backward(dm.tensor(g))
    assert x.grad is not None and x.grad.is_contiguous()
    assert_close(x.grad, g[:, 0:3, 1:5])
    y = dm.tensor(RNG.standard_normal((3,)), dtype=dm.float64, requires_grad=True)
    (gy,) = dm.autograd.grad((F.pad(y, [1, 1]) ** 3).sum(), [y], create_graph=True)
    (ggy,) = dm.autograd.grad(gy.sum(), [y])
    assert_close(ggy, 6 * y.detach().numpy())


def test_zero_pad_module_and_too_many_pads() -> None:
    x = dm.randn(1, 2, 3, 3)
    assert tuple(dm.nn.ZeroPad2d(1)(x).shape) == (1, 2, 5, 5)
    with pytest.raises(ValueError):
        F.pad(dm.ones(3), [1, 1, 1, 1])


def test_second_backward_and_crop_only_copies() -> None:
    x = dm.ones((2, 3), requires_grad=True)
    y = F.pad(x, (1, 1))
    y.sum().backward()
    y.sum().backward()  # the node keeps no tensor: a second backward works, as PyTorch's
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0))
    z = dm.zeros(2, 3)
    c = F.pad(z, (-1, 0))  # only a crop: still a copy, as PyTorch's
    c[0, 0] = 5.0
    assert z[0, 1].item() == 0.0
