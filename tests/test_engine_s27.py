"""Engine behaviours settled in session 27, with PyTorch 2.15's values as constants: powers by
the numbers PyTorch computes without ``pow`` take those forms' edge values, and an integer has
no negative power on any backend."""

from __future__ import annotations

import math

import numpy as np
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


# ---- running sums and products: one engine pass (session 27) ---------------------------------


def _views() -> list[tuple[str, dm.Tensor, np.ndarray]]:
    """Contiguous, transposed, sliced-with-steps, expanded and empty inputs with their values."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4, 5))
    base = dm.tensor(a)
    return [
        ("contiguous", base, a),
        ("transposed", base.transpose(0, 2), a.transpose(2, 1, 0)),
        ("stepped", base[:, ::2, 1:], a[:, ::2, 1:]),
        ("expanded", dm.tensor(a[:1]).expand(3, 4, 5), np.broadcast_to(a[:1], (3, 4, 5))),
        ("empty", dm.zeros(3, 0, 5, dtype=dm.float64), np.zeros((3, 0, 5))),
    ]


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_cumsum_and_cumprod_match_numpy_on_views(dim: int) -> None:
    for name, t, a in _views():
        assert np.allclose(t.cumsum(dim).numpy(), np.cumsum(a, axis=dim)), name
        assert np.allclose(t.cumprod(dim).numpy(), np.cumprod(a, axis=dim)), name
        assert t.cumsum(dim).shape == a.shape


@pytest.mark.parametrize(
    ("dtype", "want"),
    [
        (dm.int32, dm.int64),
        (dm.bool, dm.int64),
        (dm.int64, dm.int64),
        (dm.float16, dm.float16),
        (dm.bfloat16, dm.bfloat16),
    ],
)
def test_scan_dtypes(dtype: dm.dtype, want: dm.dtype) -> None:
    x = dm.tensor([[1, 0, 1], [1, 1, 1]]).to(dtype)
    assert x.cumsum(1).dtype == want and x.cumsum(1).tolist() == [[1, 1, 2], [1, 2, 3]]
    assert x.cumprod(1).dtype == want and x.cumprod(1).tolist() == [[1, 0, 0], [1, 1, 1]]


def test_int64_scans_wrap_like_pytorch() -> None:
    big = 2**62
    assert dm.tensor([big, big]).cumsum(0).tolist() == [big, -(2**63)]
    wrapped = (3**41 + 2**63) % 2**64 - 2**63  # 3**41 in two's complement int64
    assert dm.tensor([3] * 41).cumprod(0)[-1].item() == wrapped
    assert dm.tensor([2**40, 2**40]).cumprod(0).tolist() == [2**40, 0]


def test_half_scans_accumulate_in_float32() -> None:
    # 2048 + 1 is not a float16 value, but a float32 accumulator carries the running sum on.
    x = dm.ones(4100, dtype=dm.float16)
    assert x.cumsum(0)[-1].item() == 4100.0
    assert dm.full((300,), 1.01, dtype=dm.bfloat16).cumprod(0)[-1].item() == pytest.approx(
        1.0078125**300, rel=1e-2
    )


def test_scans_of_zero_dim_and_bad_dims() -> None:
    assert dm.tensor(3.0).cumsum(0).item() == 3.0 and dm.tensor(3.0).cumprod(-1).item() == 3.0
    with pytest.raises(IndexError):
        dm.ones(2, 3).cumsum(2)


def test_cumsum_gradient_is_the_reverse_running_sum() -> None:
    x = dm.tensor(np.random.default_rng(1).standard_normal((3, 4)), requires_grad=True)
    w = dm.tensor(np.random.default_rng(2).standard_normal((3, 4)))
    (x.cumsum(1) * w).sum().backward()
    assert np.allclose(x.grad.numpy(), np.flip(np.cumsum(np.flip(w.numpy(), 1), 1), 1))
    assert x.cumsum(1).grad_fn.name() == "CumsumBackward0"
    assert dm.autograd.gradcheck(lambda t: t.cumsum(0), (x,))
    assert dm.autograd.gradgradcheck(lambda t: (t.cumsum(1) ** 2).cumsum(0), (x,))


def test_cumprod_with_zeros_keeps_its_exact_gradient() -> None:
    x = dm.tensor([[2.0, 0.0, 3.0, 0.5], [0.0, 0.0, 1.5, 2.0]], requires_grad=True)
    x.cumprod(1).sum().backward()
    # d/dx_i sum_k prod_{j<=k} x_j, counted by hand for the first row: [1+0+0+0, 2+6+3, 0, 0]
    assert x.grad[0].tolist() == [1.0, 2.0 + 6.0 + 3.0, 0.0, 0.0]
    assert x.grad[1].tolist() == [1.0, 0.0, 0.0, 0.0]
    with dm.no_grad():
        assert x.cumprod(1).tolist() == [[2.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
