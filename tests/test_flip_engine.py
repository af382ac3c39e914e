"""``flip`` as one engine op: NumPy's values for every subset of dims of 1- to 4-d tensors, every
dtype, non-contiguous and empty inputs, rows split over threads; the gradient flips back
(float64 gradcheck, second order)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import democratising as dm
from helpers import assert_close, gradcheck

RNG = np.random.default_rng(11)


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (2, 1, 3, 5)])
def test_every_subset_of_dims_matches_numpy(shape: tuple[int, ...]) -> None:
    x = RNG.standard_normal(shape)
    t = dm.tensor(x)
    for k in range(len(shape) + 1):
        for dims in itertools.combinations(range(len(shape)), k):
            got = t.flip(dims)
            np.testing.assert_array_equal(got.numpy(), np.flip(x, dims) if dims else x)
            neg = tuple(d - len(shape) for d in dims)
            np.testing.assert_array_equal(dm.flip(t, neg).numpy(), got.numpy())


@pytest.mark.parametrize(
    "dtype", [dm.float32, dm.float64, dm.float16, dm.bfloat16, dm.int64, dm.int32, dm.bool]
)
def test_every_dtype(dtype: dm.dtype) -> None:
    x = RNG.integers(0, 4, (3, 5))
    t = dm.tensor(x).to(dtype)
    y = t.flip(1)
    assert y.dtype == dtype
    np.testing.assert_array_equal(
        y.to(dm.int64).numpy(), np.flip(x.astype(bool) if dtype == dm.bool else x, 1)
    )


def test_non_contiguous_empty_and_large() -> None:
    x = RNG.standard_normal((6, 7))
    np.testing.assert_array_equal(dm.tensor(x).t().flip(0).numpy(), np.flip(x.T, 0))
    np.testing.assert_array_equal(dm.tensor(x)[:, ::2].flip(1).numpy(), np.flip(x[:, ::2], 1))
    e = dm.zeros(0, 3).flip(0, 1)
    assert tuple(e.shape) == (0, 3)
    big = RNG.standard_normal((64, 3, 32, 33)).astype(np.float32)
    np.testing.assert_array_equal(dm.tensor(big).flip(3).numpy(), np.flip(big, 3))
    np.testing.assert_array_equal(dm.tensor(big).flip((0, 2)).numpy(), np.flip(big, (0, 2)))


def test_result_owns_its_memory() -> None:
    t = dm.tensor([1.0, 2.0, 3.0])
    y = t.flip(0)
    t[0] = 10.0
    np.testing.assert_array_equal(y.numpy(), [3.0, 2.0, 1.0])


def test_gradient_flips_back() -> None:
    x = dm.tensor(RNG.standard_normal((2, 3, 4)), dtype=dm.float64, requires_grad=True)
    gradcheck(lambda t: t.flip((0, 2)), [x])
    gradcheck(lambda t: t.flip(1) * t, [x])
    g = RNG.standard_normal((2, 3, 4))
    x.flip(2).backward(dm.tensor(g))
    assert x.grad is not None
    assert_close(x.grad, np.flip(g, 2))
    y = dm.tensor(RNG.standard_normal(5), dtype=dm.float64, requires_grad=True)
    (gy,) = dm.autograd.grad((y.flip(0) * y).sum(), [y], create_graph=True)
    (ggy,) = dm.autograd.grad((gy * gy).sum(), [y])
    yv = y.detach().numpy()
    assert_close(gy, 2 * np.flip(yv))  # d/dy sum(flip(y) * y) = 2 flip(y)
    assert_close(ggy, 8 * yv)  # d/dy sum(4 flip(y)^2) = 8 y


def test_repeated_dim_is_refused() -> None:
    with pytest.raises(ValueError, match="multiple times"):
        dm.ones(2, 3).flip(0, -2)
