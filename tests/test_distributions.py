"""``dm.distributions``: closed-form log-densities, entropies and KL divergences, sampling
statistics, reparameterised gradients (finite differences), validation errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
from democratising.distributions import (
    Bernoulli,
    Categorical,
    Normal,
    Uniform,
    kl_divergence,
)
from helpers import gradcheck, to_numpy


def _f64(x: object, grad: bool = False) -> dm.Tensor:
    return dm.tensor(x, dtype=dm.float64, requires_grad=grad)


def test_normal_closed_forms() -> None:
    loc, scale = np.array([0.0, 1.5, -2.0]), np.array([1.0, 0.5, 3.0])
    d = Normal(_f64(loc), _f64(scale))
    v = np.array([0.3, 1.0, 4.0])
    want = -((v - loc) ** 2) / (2 * scale**2) - np.log(scale) - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(to_numpy(d.log_prob(_f64(v))), want, rtol=1e-12)
    np.testing.assert_allclose(
        to_numpy(d.entropy()), 0.5 + 0.5 * np.log(2 * np.pi) + np.log(scale), rtol=1e-12
    )
    np.testing.assert_allclose(to_numpy(d.mean), loc)
    np.testing.assert_allclose(to_numpy(d.stddev), scale)
    np.testing.assert_allclose(to_numpy(d.variance), scale**2)
    erf = np.vectorize(math.erf)
    np.testing.assert_allclose(
        to_numpy(d.cdf(_f64(v))), 0.5 * (1 + erf((v - loc) / (scale * np.sqrt(2)))), rtol=1e-6
    )
    np.testing.assert_allclose(to_numpy(d.icdf(d.cdf(_f64(v)))), v, rtol=1e-5)
    assert d.batch_shape == (3,) and d.event_shape == ()
    assert Normal(0.0, 1.0).batch_shape == ()
    assert Normal(dm.zeros(2, 1), dm.ones(3)).batch_shape == (2, 3)


def test_normal_sampling_statistics_and_shapes() -> None:
    dm.manual_seed(0)
    d = Normal(_f64([1.0, -3.0]), _f64([2.0, 0.5]))
    s = d.sample((20000,))
    assert s.shape == (20000, 2) and not s.requires_grad
    np.testing.assert_allclose(to_numpy(s).mean(0), [1.0, -3.0], atol=0.05)
    np.testing.assert_allclose(to_numpy(s).std(0), [2.0, 0.5], rtol=0.03)
    dm.manual_seed(4)
    a = to_numpy(d.sample())
    dm.manual_seed(4)
    np.testing.assert_array_equal(a, to_numpy(d.sample()))


def test_normal_rsample_gradients_flow_to_the_parameters() -> None:
    loc, scale = _f64([0.5, -1.0], grad=True), _f64([1.5, 0.3], grad=True)

    def f(loc: dm.Tensor, scale: dm.Tensor) -> dm.Tensor:
        dm.manual_seed(11)  # the same eps on every evaluation
        return Normal(loc, scale).rsample((3,))

    gradcheck(f, [loc, scale])
    assert not Normal(loc, scale).sample().requires_grad
    assert Normal(loc, scale).rsample().requires_grad
    gradcheck(lambda m, s: Normal(m, s).log_prob(_f64([0.1, 0.2])), [loc, scale])
    gradcheck(lambda m, s: Normal(m, s).entropy(), [loc, scale])


def test_bernoulli() -> None:
    p = np.array([0.2, 0.5, 0.9])
    for d in (Bernoulli(probs=_f64(p)), Bernoulli(logits=_f64(np.log(p / (1 - p))))):
        for v in (0.0, 1.0):
            want = np.log(p) if v else np.log1p(-p)
            np.testing.assert_allclose(to_numpy(d.log_prob(_f64([v] * 3))), want, rtol=1e-6)
        np.testing.assert_allclose(
            to_numpy(d.entropy()), -(p * np.log(p) + (1 - p) * np.log1p(-p)), rtol=1e-6
        )
        np.testing.assert_allclose(to_numpy(d.mean), p, rtol=1e-6)
        np.testing.assert_allclose(to_numpy(d.variance), p * (1 - p), rtol=1e-6)
    dm.manual_seed(0)
    s = to_numpy(Bernoulli(probs=_f64(p)).sample((20000,)))
    assert set(np.unique(s)) <= {0.0, 1.0}
    np.testing.assert_allclose(s.mean(0), p, atol=0.02)
    logits = _f64([0.3, -1.2], grad=True)
    gradcheck(lambda lg: Bernoulli(logits=lg).log_prob(_f64([1.0, 0.0])), [logits])


def test_categorical() -> None:
    probs = np.array([[0.1, 0.2, 0.7], [0.5, 0.5, 0.0]])
    d = Categorical(probs=_f64(probs * 3))  # unnormalised on purpose
    np.testing.assert_allclose(to_numpy(d.probs), probs, rtol=1e-12)
    assert d.batch_shape == (2,) and d.event_shape == ()
    lp = to_numpy(d.log_prob(dm.tensor([2, 0])))
    np.testing.assert_allclose(lp, np.log([0.7, 0.5]), rtol=1e-6)
    ent = -np.sum(np.where(probs > 0, probs * np.log(np.where(probs > 0, probs, 1)), 0), -1)
    np.testing.assert_allclose(to_numpy(d.entropy()), ent, rtol=1e-6)
    dm.manual_seed(1)
    s = to_numpy(d.sample((30000,)))
    assert s.shape == (30000, 2) and s.dtype == np.int64
    np.testing.assert_allclose(np.bincount(s[:, 0], minlength=3) / 30000, probs[0], atol=0.015)
    assert not (s[:, 1] == 2).any()
    logits = np.array([1.0, -0.5, 2.0])
    dl = Categorical(logits=_f64(logits))
    np.testing.assert_allclose(
        to_numpy(dl.log_prob(dm.tensor(2))), logits[2] - np.log(np.exp(logits).sum()), rtol=1e-12
    )
    assert dl.sample().shape == () and dl.sample((4, 5)).shape == (4, 5)
    assert int(dl.mode.item()) == 2
    lg = _f64([0.2, -0.3, 0.9], grad=True)
    gradcheck(lambda x: Categorical(logits=x).log_prob(dm.tensor([0, 2])), [lg])
    gradcheck(lambda x: Categorical(logits=x).entropy(), [lg])


def test_uniform() -> None:
    d = Uniform(_f64([0.0, -1.0]), _f64([2.0, 3.0]))
    np.testing.assert_allclose(to_numpy(d.log_prob(_f64([1.0, 0.0]))), -np.log([2.0, 4.0]))
    np.testing.assert_allclose(to_numpy(d.entropy()), np.log([2.0, 4.0]))
    np.testing.assert_allclose(to_numpy(d.mean), [1.0, 1.0])
    np.testing.assert_allclose(to_numpy(d.variance), np.array([4.0, 16.0]) / 12)
    dm.manual_seed(2)
    s = to_numpy(d.sample((10000,)))
    assert (s >= [0.0, -1.0]).all() and (s < [2.0, 3.0]).all()
    lo, hi = _f64([0.0], grad=True), _f64([2.0], grad=True)

    def f(lo: dm.Tensor, hi: dm.Tensor) -> dm.Tensor:
        dm.manual_seed(3)
        return Uniform(lo, hi).rsample((2,))

    gradcheck(f, [lo, hi])
    outside = Uniform(0.0, 1.0, validate_args=False).log_prob(dm.tensor([2.0]))
    assert to_numpy(outside)[0] == -np.inf


def test_kl_divergences_match_closed_forms() -> None:
    p, q = Normal(_f64([0.0, 1.0]), _f64([1.0, 2.0])), Normal(_f64([1.0, 0.0]), _f64([2.0, 1.0]))
    want = np.log([2.0, 0.5]) + (np.array([1.0, 4.0]) + 1.0) / (2 * np.array([4.0, 1.0])) - 0.5
    np.testing.assert_allclose(to_numpy(kl_divergence(p, q)), want, rtol=1e-12)
    pb, qb = Bernoulli(probs=_f64(0.3)), Bernoulli(probs=_f64(0.6))
    want_b = 0.3 * np.log(0.3 / 0.6) + 0.7 * np.log(0.7 / 0.4)
    np.testing.assert_allclose(to_numpy(kl_divergence(pb, qb)), want_b, rtol=1e-6)
    pc, qc = Categorical(probs=_f64([0.2, 0.8, 0.0])), Categorical(probs=_f64([0.5, 0.25, 0.25]))
    want_c = 0.2 * np.log(0.2 / 0.5) + 0.8 * np.log(0.8 / 0.25)
    np.testing.assert_allclose(to_numpy(kl_divergence(pc, qc)), want_c, rtol=1e-6)
    assert to_numpy(kl_divergence(Uniform(0.0, 2.0), Uniform(0.0, 1.0))) == np.inf
    with pytest.raises(NotImplementedError):
        kl_divergence(p, pb)


def test_validation_errors() -> None:
    with pytest.raises(ValueError, match="scale"):
        Normal(0.0, -1.0)
    with pytest.raises(ValueError, match="probs"):
        Bernoulli(probs=1.5)
    with pytest.raises(ValueError, match="not both"):
        Bernoulli(probs=0.5, logits=0.0)
    with pytest.raises(ValueError, match="not both"):
        Categorical()
    with pytest.raises(ValueError, match="support"):
        Bernoulli(probs=0.5).log_prob(dm.tensor(0.5))
    with pytest.raises(ValueError, match="support"):
        Categorical(probs=dm.tensor([0.5, 0.5])).log_prob(dm.tensor(2))
    with pytest.raises(ValueError, match="support"):
        Uniform(0.0, 1.0).log_prob(dm.tensor(1.5))
    with pytest.raises(ValueError, match="low"):
        Uniform(1.0, 0.0)
    assert Normal(0.0, -1.0, validate_args=False).batch_shape == ()
