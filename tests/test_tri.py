"""``tril`` / ``triu`` as one engine op: NumPy's values for every dtype, diagonal (inside,
on and past both edges, huge), batched, non-contiguous and empty inputs, wide and tall
matrices, the rows split over threads; the gradient is the same cut (float64 gradcheck,
second order)."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
from helpers import assert_close, gradcheck

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("shape", [(4, 4), (3, 7), (7, 3), (2, 3, 5, 6), (1, 1), (0, 3), (3, 0)])
@pytest.mark.parametrize("diagonal", [-9, -2, -1, 0, 1, 3, 9])
def test_matches_numpy(shape: tuple[int, ...], diagonal: int) -> None:
    x = RNG.standard_normal(shape)
    t = dm.tensor(x)
    np.testing.assert_array_equal(t.tril(diagonal).numpy(), np.tril(x, diagonal))
    np.testing.assert_array_equal(dm.triu(t, diagonal=diagonal).numpy(), np.triu(x, diagonal))


@pytest.mark.parametrize(
    "dtype", [dm.float32, dm.float64, dm.float16, dm.bfloat16, dm.int64, dm.int32, dm.bool]
)
def test_every_dtype_keeps_its_dtype(dtype: dm.dtype) -> None:
    x = RNG.integers(1, 5, (5, 6))
    t = dm.tensor(x).to(dtype)
    for upper in (False, True):
        y = t.triu(1) if upper else t.tril(-1)
        assert y.dtype == dtype
        want = np.triu(x, 1) if upper else np.tril(x, -1)
        np.testing.assert_array_equal(
            y.to(dm.int64).numpy(), want.astype(bool) if dtype == dm.bool else want
        )


def test_huge_diagonals_and_non_contiguous_input() -> None:
    x = RNG.standard_normal((6, 5))
    t = dm.tensor(x)
    np.testing.assert_array_equal(t.tril(2**62).numpy(), x)
    np.testing.assert_array_equal(t.triu(2**62).numpy(), np.zeros_like(x))
    np.testing.assert_array_equal(t.tril(-(2**70)).numpy(), np.zeros_like(x))
    tt = t.t()  # [5, 6], not contiguous
    np.testing.assert_array_equal(tt.triu(1).numpy(), np.triu(x.T, 1))
    np.testing.assert_array_equal(t[:, ::2].tril().numpy(), np.tril(x[:, ::2]))


def test_large_batched_split_over_threads() -> None:
    x = RNG.standard_normal((4, 300, 257)).astype(np.float32)
    t = dm.tensor(x)
    np.testing.assert_array_equal(t.tril(5).numpy(), np.tril(x, 5))
    np.testing.assert_array_equal(t.triu(-7).numpy(), np.triu(x, -7))


def test_gradient_is_the_same_cut() -> None:
    x = dm.tensor(RNG.standard_normal((2, 4, 5)), dtype=dm.float64, requires_grad=True)
    gradcheck(lambda t: t.tril(1), [x])
    gradcheck(lambda t: t.triu(-1) * t, [x])
    g = RNG.standard_normal((2, 4, 5))
    x.grad = None
    x.triu(2).backward(dm.tensor(g))
    assert x.grad is not None
    assert_close(x.grad, np.triu(g, 2))
    # Second order: the backward is itself recorded.
    y = dm.tensor(RNG.standard_normal((3, 3)), dtype=dm.float64, requires_grad=True)
    (gy,) = dm.autograd.grad((y.tril() ** 2).sum(), [y], create_graph=True)
    (ggy,) = dm.autograd.grad(gy.sum(), [y])
    assert_close(ggy, 2 * np.tril(np.ones((3, 3))))


def test_errors() -> None:
    with pytest.raises(dm.ShapeError):
        dm.tril(dm.ones(3))
    with pytest.raises(TypeError):
        dm.triu(dm.ones(3, 3), 1.5)  # type: ignore[arg-type]
