"""Engine behaviours settled in session 27, with PyTorch 2.15's values as constants: powers by
the numbers PyTorch computes without ``pow`` take those forms' edge values, and an integer has
no negative power on any backend."""

from __future__ import annotations

import math

import pytest

import democratising as dm

_X = [-math.inf, -0.0, -1.0, 0.0, 4.0, math.nan]


def _same(got: list[float], want: list[float]) -> bool:
    """Equal element by element, NaN matching NaN and the sign of a zero or infinity kept."""
    return all(
        (math.isnan(g) and math.isnan(w)) or (g == w and math.copysign(1, g) == math.copysign(1, w))
        for g, w in zip(got, want)
    )


@pytest.mark.parametrize("dtype", [dm.float32, dm.float64])
@pytest.mark.parametrize(
    ("exponent", "want"),
    [
        (0.5, [math.nan, -0.0, math.nan, 0.0, 2.0, math.nan]),  # sqrt
        (-0.5, [math.nan, -math.inf, math.nan, math.inf, 0.5, math.nan]),  # 1 / sqrt
        (2.0, [math.inf, 0.0, 1.0, 0.0, 16.0, math.nan]),
        (3.0, [-math.inf, -0.0, -1.0, 0.0, 64.0, math.nan]),
        (-1.0, [-0.0, -math.inf, -1.0, math.inf, 0.25, math.nan]),
        (-2.0, [0.0, math.inf, 1.0, math.inf, 0.0625, math.nan]),
        (1.5, [math.inf, 0.0, math.nan, 0.0, 8.0, math.nan]),  # pow itself
    ],
)
def test_pow_by_a_number_edge_values(dtype: dm.dtype, exponent: float, want: list[float]) -> None:
    x = dm.tensor(_X, dtype=dtype)
    assert _same((x**exponent).tolist(), want)
    assert _same(dm.pow(x, exponent).tolist(), want)


def test_pow_by_a_number_on_a_strided_view() -> None:
    x = dm.arange(12.0).reshape(3, 4).t()
    assert (x**0.5).tolist() == x.sqrt().tolist()
    assert (x**-1.0)[1:].tolist() == x[1:].reciprocal().tolist()


def test_pow_by_a_number_keeps_its_gradient() -> None:
    x = dm.tensor([1.0, 4.0, 9.0], dtype=dm.float64, requires_grad=True)
    (x**0.5).sum().backward()
    assert x.grad.tolist() == [0.5, 0.25, 1.0 / 6.0]


def test_integer_to_a_negative_number_raises() -> None:
    with pytest.raises(ValueError, match="negative integer powers"):
        dm.tensor([5, 2]) ** -3
    # A tensor of exponents takes PyTorch's integer results instead (1 / b**-e truncated).
    assert (dm.tensor([5, 2, 1, -1]) ** dm.tensor([2, -1, -3, -3])).tolist() == [25, 0, 1, -1]
