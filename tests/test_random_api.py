"""PyTorch's random-number API over the engine's draws (``democratising._random_more`` and the
``generator=`` of the ``*_like`` factories): reproducibility under ``dm.manual_seed`` and with
a ``dm.Generator`` (which leaves the global stream alone), the statistics of 10^5 samples
against the distributions' (NumPy computes the sample moments), dtypes and shapes, PyTorch's
overload and bound rules, and typed errors for bad parameters."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm

N = 100_000


def host(t: dm.Tensor) -> np.ndarray:
    return t.detach().cpu().to(dm.float64).numpy() if t.dtype != dm.bool else t.numpy()


# ---- seeds -----------------------------------------------------------------------------------


def test_manual_seed_is_remembered_by_initial_seed() -> None:
    dm.manual_seed(1234)
    assert dm.initial_seed() == 1234
    dm.manual_seed(-1)  # wraps to unsigned 64 bits, as PyTorch's
    assert dm.initial_seed() == 2**64 - 1


def test_seed_is_fresh_and_reseeds() -> None:
    a = dm.seed()
    assert isinstance(a, int) and dm.initial_seed() == a
    first = host(dm.rand(5))
    dm.manual_seed(a)
    np.testing.assert_array_equal(host(dm.rand(5)), first)
    assert dm.seed() != a  # 63 random bits: a repeat would be a broken entropy source


# ---- generator= on every drawing function: reproducible, global stream untouched -----------


def _draws() -> dict[str, Callable[[Any], dm.Tensor]]:
    x = dm.zeros(4, 3)
    xi = dm.zeros(4, 3, dtype=dm.int64)
    return {
        "normal_tt": lambda g: dm.normal(dm.zeros(4, 3), dm.ones(3), generator=g),
        "normal_tf": lambda g: dm.normal(dm.zeros(4, 3), 2.0, generator=g),
        "normal_ft": lambda g: dm.normal(1.0, dm.ones(4, 3), generator=g),
        "normal_ff": lambda g: dm.normal(1.0, 2.0, (4, 3), generator=g),
        "poisson": lambda g: dm.poisson(dm.tensor([0.5, 3.0, 40.0, 1e4]), generator=g),
        "rand_like": lambda g: dm.rand_like(x, generator=g),
        "randn_like": lambda g: dm.randn_like(x, generator=g),
        "randint_like": lambda g: dm.randint_like(x, 3, 100, generator=g),
        "uniform_": lambda g: dm.zeros(4, 3).uniform_(-2, 3, generator=g),
        "normal_": lambda g: dm.zeros(4, 3).normal_(1, 2, generator=g),
        "random_": lambda g: xi.clone().random_(-5, 7, generator=g),
        "cauchy_": lambda g: dm.zeros(4, 3).cauchy_(generator=g),
        "log_normal_": lambda g: dm.zeros(4, 3).log_normal_(generator=g),
        "geometric_": lambda g: dm.zeros(4, 3).geometric_(0.3, generator=g),
    }


@pytest.mark.parametrize("name", sorted(_draws()))
def test_generator_reproducible_and_global_untouched(name: str) -> None:
    draw = _draws()[name]
    dm.manual_seed(7)
    expected_global = host(dm.rand(6))
    dm.manual_seed(7)
    a = host(draw(dm.Generator().manual_seed(99)))
    np.testing.assert_array_equal(host(dm.rand(6)), expected_global)  # global stream as before
    dm.rand(13)  # other draws in between change nothing
    b = host(draw(dm.Generator().manual_seed(99)))
    np.testing.assert_array_equal(a, b)
    c = host(draw(dm.Generator().manual_seed(100)))
    assert not np.array_equal(a, c)
    # the generator advances: its second draw differs from its first
    g = dm.Generator().manual_seed(99)
    draw(g)
    assert not np.array_equal(host(draw(g)), a)


@pytest.mark.parametrize("name", sorted(_draws()))
def test_manual_seed_reproducible(name: str) -> None:
    draw = _draws()[name]
    dm.manual_seed(21)
    a = host(draw(None))
    dm.manual_seed(21)
    np.testing.assert_array_equal(host(draw(None)), a)
    dm.manual_seed(22)
    assert not np.array_equal(host(draw(None)), a)


def test_generator_must_be_a_generator() -> None:
    with pytest.raises(TypeError):
        dm.normal(0.0, 1.0, (2,), generator=42)
    with pytest.raises(TypeError):
        dm.zeros(2).uniform_(generator="g")


def test_uniform_matches_the_engine_draws() -> None:
    dm.manual_seed(3)
    u = host(dm.rand(5))
    dm.manual_seed(3)
    np.testing.assert_allclose(host(dm.zeros(5).uniform_(2, 4)), 2 + 2 * u, rtol=1e-6)


# ---- statistics ------------------------------------------------------------------------------


def _moments(t: dm.Tensor) -> tuple[float, float]:
    a = host(t).reshape(-1)
    return float(a.mean()), float(a.var())


def test_normal_overloads_statistics() -> None:
    dm.manual_seed(0)
    m, v = _moments(dm.normal(2.0, 3.0, (N,)))
    assert abs(m - 2) < 0.05 and abs(v - 9) < 0.2
    mean = dm.tensor(np.repeat([[-1.0], [4.0]], N // 2, axis=1))
    s = dm.normal(mean, 0.5)
    a = host(s)
    assert abs(a[0].mean() + 1) < 0.02 and abs(a[1].mean() - 4) < 0.02
    assert abs(a.var(axis=1) - 0.25).max() < 0.01
    std = dm.tensor(np.tile([0.0, 1.0, 2.0], N // 3))
    b = host(dm.normal(1.0, std)).reshape(-1, 3)
    np.testing.assert_array_equal(b[:, 0], 1.0)  # std 0: exactly the mean
    np.testing.assert_allclose(b.var(axis=0)[1:], [1.0, 4.0], rtol=0.05)


@pytest.mark.parametrize("rate", [0.0, 0.3, 4.0, 9.9, 10.0, 37.5, 2500.0])
def test_poisson_statistics(rate: float) -> None:
    dm.manual_seed(5)
    k = host(dm.poisson(dm.full((N,), rate)))
    np.testing.assert_array_equal(k, np.round(k))
    assert k.min() >= 0
    se = math.sqrt(max(rate, 1e-9) / N)
    assert abs(k.mean() - rate) < 5 * se + 1e-12
    assert abs(k.var() - rate) < 0.05 * rate + 1e-12


def test_poisson_small_rate_frequencies() -> None:
    dm.manual_seed(6)
    k = host(dm.poisson(dm.full((N,), 1.5)))
    freq = np.bincount(k.astype(np.int64), minlength=6)[:6] / N
    pmf = [math.exp(-1.5) * 1.5**j / math.factorial(j) for j in range(6)]
    np.testing.assert_allclose(freq, pmf, atol=0.006)


def test_in_place_fills_statistics() -> None:
    dm.manual_seed(8)
    m, v = _moments(dm.zeros(N).uniform_(-1, 3))
    assert abs(m - 1) < 0.02 and abs(v - 16 / 12) < 0.02
    m, v = _moments(dm.zeros(N, dtype=dm.float64).normal_(-2, 0.5))
    assert abs(m + 2) < 0.01 and abs(v - 0.25) < 0.01
    ln = np.log(host(dm.zeros(N).log_normal_(0.5, 0.25)))
    assert abs(ln.mean() - 0.5) < 0.005 and abs(ln.var() - 0.0625) < 0.003
    c = host(dm.zeros(N).cauchy_(1.0, 2.0))
    q1, med, q3 = np.percentile(c, [25, 50, 75])  # quartiles of Cauchy: median -/+ sigma
    assert abs(med - 1) < 0.05 and abs(q1 + 1) < 0.08 and abs(q3 - 3) < 0.08
    g = host(dm.zeros(N).geometric_(0.25))
    assert g.min() >= 1 and np.array_equal(g, np.round(g))
    assert abs(g.mean() - 4) < 0.06 and abs(g.var() - 12) < 0.5  # (1-p)/p^2
    r = host(dm.zeros(N, dtype=dm.int64).random_(-3, 5))
    assert r.min() == -3 and r.max() == 4
    np.testing.assert_allclose(np.bincount((r + 3).astype(np.int64)) / N, 1 / 8, atol=0.006)


# ---- shapes, dtypes, overload rules ------------------------------------------------------------


def test_normal_shapes_and_dtypes() -> None:
    assert dm.normal(dm.zeros(2, 1), dm.ones(3)).shape == (2, 3)
    assert dm.normal(0.0, 1.0, (2, 3)).dtype == dm.float32
    assert dm.normal(0.0, 1.0, [2, 3], dtype=dm.float64).dtype == dm.float64
    assert dm.normal(2.0, dm.ones(3, dtype=dm.float64)).dtype == dm.float64
    assert dm.normal(dm.ones(3, dtype=dm.float64), dm.ones(3)).dtype == dm.float64
    assert dm.normal(dm.zeros(0), 1.0).shape == (0,)
    assert dm.normal(1.0, 0.0, (0,)).shape == (0,)
    t = dm.normal(0.0, 1.0, (2,), requires_grad=True)
    assert t.requires_grad and t.is_leaf
    nc = dm.zeros(3, 2).t()  # non-contiguous mean
    assert dm.normal(nc, 1.0).shape == (2, 3)


def test_normal_out() -> None:
    out = dm.empty(4)
    dm.manual_seed(2)
    r = dm.normal(dm.zeros(4), 1.0, out=out)
    dm.manual_seed(2)
    assert r is out
    np.testing.assert_array_equal(host(out), host(dm.randn(4)))
    with pytest.warns(UserWarning, match="resized"):  # (PyTorch's deprecated resize)
        assert dm.normal(dm.zeros(4), 1.0, out=dm.empty(5)).shape == (4,)


def test_normal_and_poisson_gradients_are_zero_as_in_pytorch() -> None:
    mean = dm.zeros(3, dtype=dm.float64, requires_grad=True)
    std = dm.ones(3, dtype=dm.float64, requires_grad=True)
    y = dm.normal(mean, std)
    assert y.requires_grad
    (y * y).sum().backward()
    np.testing.assert_array_equal(host(mean.grad), 0.0)
    np.testing.assert_array_equal(host(std.grad), 0.0)
    rate = dm.full((2,), 3.0, requires_grad=True)
    k = dm.poisson(rate)
    assert k.requires_grad
    k.sum().backward()
    np.testing.assert_array_equal(host(rate.grad), 0.0)


def test_poisson_keeps_dtype_shape() -> None:
    r = dm.full((2, 3), 2.0, dtype=dm.float64).t()
    k = dm.poisson(r)
    assert k.dtype == dm.float64 and k.shape == (3, 2)
    assert dm.poisson(dm.zeros(0)).shape == (0,)
    np.testing.assert_array_equal(host(dm.poisson(dm.zeros(5))), 0.0)


def test_random_bounds_rules() -> None:
    dm.manual_seed(4)
    x = dm.zeros(20_000)
    a = host(x.random_(3))  # one argument: the upper bound
    assert set(np.unique(a)) == {0.0, 1.0, 2.0}
    b = host(x.random_(3, None))  # from 3 up to 2**24 for float32
    assert b.min() >= 3 and b.max() <= 2**24 and b.max() > 2**23
    c = host(x.random_())
    assert c.min() >= 0 and c.max() <= 2**24 and c.max() > 2**23
    i = dm.zeros(20_000, dtype=dm.int64).random_()
    assert i.min().item() >= 0 and i.max().item() > 2**62
    j = dm.zeros(20_000, dtype=dm.int32).random_(-5, 5)
    assert j.dtype == dm.int32 and j.min().item() == -5 and j.max().item() == 4
    bb = dm.zeros(1000, dtype=dm.bool).random_()
    assert 0 < host(bb).mean() < 1
    full = host(dm.zeros(1000, dtype=dm.int64).random_(-(2**63), None))
    assert full.min() < -(2**60) and full.max() > 2**60
    assert dm.zeros(0).random_(5).shape == (0,)


def test_geometric_on_integers_and_log_normal_shape() -> None:
    g = dm.zeros(2, 3, dtype=dm.int64).geometric_(0.5)
    assert g.dtype == dm.int64 and g.min().item() >= 1
    t = dm.zeros(3, 4).t()
    assert t.log_normal_() is t and host(t).min() > 0


def test_like_generators_keep_dtype_and_shape() -> None:
    g = dm.Generator().manual_seed(1)
    x = dm.zeros(2, 3, dtype=dm.float64)
    assert dm.rand_like(x, generator=g).dtype == dm.float64
    assert dm.randn_like(x, dtype=dm.float32, generator=g).dtype == dm.float32
    r = dm.randint_like(x, 10, generator=g)
    assert r.shape == (2, 3) and r.dtype == dm.float64 and host(r).max() < 10


def test_uniform_normal_keep_working_on_leaves_and_return_self() -> None:
    w = dm.zeros(3, requires_grad=True)
    with dm.no_grad():
        assert w.uniform_(-0.1, 0.1) is w
        assert w.normal_() is w
    assert w.requires_grad


# ---- bad input ---------------------------------------------------------------------------------


def test_bad_parameters_raise_typed_errors() -> None:
    with pytest.raises(dm.InvalidValueError):
        dm.normal(dm.zeros(2), dm.tensor([-1.0, 1.0]))
    with pytest.raises(dm.InvalidValueError):
        dm.normal(0.0, -1.0, (2,))
    with pytest.raises(dm.InvalidValueError):
        dm.normal(dm.zeros(2), -0.5)
    with pytest.raises(dm.DTypeError):
        dm.normal(dm.zeros(2, dtype=dm.int64), 1.0)
    with pytest.raises(TypeError):
        dm.normal(0.0, 1.0)  # two numbers need a size
    with pytest.raises(dm.ShapeError):
        dm.normal(dm.zeros(2), dm.ones(3))
    with pytest.raises(dm.InvalidValueError):
        dm.poisson(dm.tensor([1.0, -1.0]))
    with pytest.raises(dm.InvalidValueError):
        dm.poisson(dm.tensor([float("nan")]))
    with pytest.raises(dm.InvalidValueError):
        dm.poisson(dm.tensor([float("inf")]))
    with pytest.raises(dm.DTypeError):
        dm.poisson(dm.tensor([1, 2]))
    with pytest.raises(TypeError):
        dm.poisson([1.0])  # type: ignore[arg-type]
    x = dm.zeros(3)
    with pytest.raises(dm.InvalidValueError):
        x.uniform_(2, 1)
    with pytest.raises(dm.InvalidValueError):
        x.normal_(0, -1)
    with pytest.raises(dm.InvalidValueError):
        x.random_(5, 5)
    with pytest.raises(dm.InvalidValueError):
        dm.zeros(3, dtype=dm.int32).random_(0, 2**33)
    with pytest.raises(dm.InvalidValueError):
        dm.zeros(3, dtype=dm.bool).random_(-1, 1)
    with pytest.raises(dm.InvalidValueError):
        x.cauchy_(0, 0)
    with pytest.raises(dm.InvalidValueError):
        x.log_normal_(0, 0)
    for p in (0.0, 1.0, 1.5):
        with pytest.raises(dm.InvalidValueError):
            x.geometric_(p)
    with pytest.raises(dm.DTypeError):
        dm.zeros(3, dtype=dm.int64).cauchy_()
    with pytest.raises(dm.DTypeError):
        dm.zeros(3, dtype=dm.int64).log_normal_()
