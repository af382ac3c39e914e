"""Elementwise ops over views whose last dim is strided (transposed, stepped, flipped-by-
index, expanded): the CPU maps copy such an operand into order once (tiled) and run their
contiguous loops. Every combination of operand layouts is checked against NumPy, for
one-, two- and three-input maps, float, integer and boolean results, large and empty."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

import democratising as dm
from helpers import assert_close

RNG = np.random.default_rng(7)


def _layouts(shape: tuple[int, int, int]) -> dict[str, Callable[[np.ndarray], dm.Tensor]]:
    """Ways to present an array of ``shape`` as a democratising view (with its NumPy twin)."""
    return {
        "contiguous": lambda a: dm.tensor(a),
        "transposed": lambda a: dm.tensor(np.ascontiguousarray(a.transpose(0, 2, 1))).transpose(
            1, 2
        ),
        "stepped": lambda a: dm.tensor(np.repeat(a, 2, axis=2))[:, :, ::2],
        "permuted": lambda a: dm.tensor(np.ascontiguousarray(a.transpose(2, 1, 0))).permute(
            2, 1, 0
        ),
    }


SHAPE = (3, 5, 7)
LAYOUTS = list(_layouts(SHAPE))


@pytest.mark.parametrize("la", LAYOUTS)
@pytest.mark.parametrize("lb", [*LAYOUTS, "row", "column", "number"])
def test_binary_ops_over_every_pair_of_layouts(la: str, lb: str) -> None:
    a = RNG.standard_normal(SHAPE)
    ta = _layouts(SHAPE)[la](a)
    if lb == "row":
        b = RNG.standard_normal((1, 1, SHAPE[2]))
        tb = dm.tensor(b)
    elif lb == "column":
        b = RNG.standard_normal((SHAPE[0], SHAPE[1], 1))
        tb = dm.tensor(b)
    elif lb == "number":
        b = np.float64(1.5)
        tb = 1.5
    else:
        b = RNG.standard_normal(SHAPE)
        tb = _layouts(SHAPE)[lb](b)
    assert_close(ta + tb, a + b, atol=1e-12)
    assert_close(ta * tb, a * b, atol=1e-12)
    assert_close(tb - ta if lb != "number" else 1.5 - ta, b - a, atol=1e-12)
    assert np.array_equal((ta > tb).numpy(), a > b)
    assert_close(dm.where(ta > 0, ta, tb), np.where(a > 0, a, b), atol=1e-12)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_unary_integer_and_bool_maps_on_strided_views(layout: str) -> None:
    a = RNG.standard_normal(SHAPE)
    t = _layouts(SHAPE)[layout](a)
    assert_close(t.exp(), np.exp(a), rtol=1e-12)
    ai = RNG.integers(-50, 50, SHAPE)
    ti = _layouts(SHAPE)[layout](ai)
    assert np.array_equal((ti * 3 + ti).numpy(), ai * 3 + ai)
    assert np.array_equal((ti // 7).numpy(), ai // 7)
    mask = _layouts(SHAPE)[layout](ai > 0)
    assert np.array_equal((mask & ~mask.transpose(1, 2).transpose(1, 2)).numpy(), np.zeros(SHAPE))
    assert np.array_equal(dm.where(mask, ti, -ti).numpy(), np.where(ai > 0, ai, -ai))


def test_large_transposed_operands_split_over_threads() -> None:
    a = RNG.standard_normal((300, 500)).astype(np.float32)
    b = RNG.standard_normal((500, 300)).astype(np.float32)
    ta, tb = dm.tensor(a), dm.tensor(b)
    assert_close(ta * 2.0 + tb.t(), a * 2.0 + b.T, rtol=1e-6)
    assert_close(ta.t()[::3] - 1.0, a.T[::3] - 1.0, rtol=1e-6)
    assert_close(dm.where(ta.t() > 0, tb, ta.t()), np.where(a.T > 0, b, a.T), rtol=1e-6)


def test_gradients_through_strided_operands() -> None:
    a = dm.tensor(RNG.standard_normal((4, 6)), requires_grad=True)
    b = dm.tensor(RNG.standard_normal((6, 4)), requires_grad=True)
    (a * b.t() + a[:, ::2].repeat_interleave(2, 1)).sum().backward()
    assert a.grad is not None and b.grad is not None
    assert_close(b.grad, a.detach().numpy().T)
    stepped = np.zeros((4, 6))
    stepped[:, ::2] = 2.0  # each picked element is repeated twice
    assert_close(a.grad, b.detach().numpy().T + stepped)


def test_empty_and_size_one_last_dims() -> None:
    e = dm.zeros(0, 4).t()
    assert tuple((e + 1.0).shape) == (4, 0)
    a = RNG.standard_normal((5, 1, 3))
    t = dm.tensor(np.ascontiguousarray(a.transpose(2, 1, 0))).permute(2, 1, 0)
    assert_close(t + t, 2 * a)
    c = dm.tensor(RNG.standard_normal((4, 1))).expand(4, 3).t()
    assert_close(c * 2.0, c.numpy() * 2.0)
