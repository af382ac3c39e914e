"""The added ``dm.distributions``: closed-form densities, entropies and moments against
hand-written NumPy/math formulas (and SciPy where available), sample moments over 10^5 draws,
reparameterised gradients (finite differences at a fixed seed), transforms and their
log-Jacobians, batch/event/sample shapes, ``expand``, the KL registry and argument validation."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm
import democratising.distributions as D
from democratising.errors import InvalidValueError
from helpers import gradcheck, to_numpy

N = 100_000
lgamma = np.vectorize(math.lgamma)
EULER = 0.5772156649015329


def _f64(x: Any, grad: bool = False) -> dm.Tensor:
    return dm.tensor(x, dtype=dm.float64, requires_grad=grad)


def _np(t: dm.Tensor) -> np.ndarray:
    return to_numpy(t).astype(np.float64)


def _digamma(x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Digamma as the central difference of ``math.lgamma`` (accurate to ~1e-9 here)."""
    return (lgamma(x + h) - lgamma(x - h)) / (2 * h)


A = np.array([0.5, 1.5, 3.0])
B = np.array([1.0, 2.0, 0.7])
V = np.array([0.3, 1.2, 2.5])


def _close(t: dm.Tensor, want: Any, rtol: float = 1e-9, atol: float = 1e-12) -> None:
    got = _np(t)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)


# ----------------------------------------------------------------------------- closed forms


def test_exponential_laplace_cauchy_gumbel_closed_forms() -> None:
    rate = A
    d = D.Exponential(_f64(rate))
    _close(d.log_prob(_f64(V)), np.log(rate) - rate * V)
    _close(d.entropy(), 1 - np.log(rate))
    _close(d.mean, 1 / rate)
    _close(d.variance, 1 / rate**2)
    _close(d.cdf(_f64(V)), 1 - np.exp(-rate * V))
    _close(d.icdf(d.cdf(_f64(V))), V, rtol=1e-9)

    d = D.Laplace(_f64(A), _f64(B))
    _close(d.log_prob(_f64(V)), -np.log(2 * B) - np.abs(V - A) / B)
    _close(d.entropy(), 1 + np.log(2 * B))
    _close(d.variance, 2 * B**2)
    _close(d.stddev, np.sqrt(2) * B)
    cdf = np.where(V < A, 0.5 * np.exp((V - A) / B), 1 - 0.5 * np.exp(-(V - A) / B))
    _close(d.cdf(_f64(V)), cdf)
    _close(d.icdf(_f64(cdf)), V, rtol=1e-9)

    d = D.Cauchy(_f64(A), _f64(B))
    _close(d.log_prob(_f64(V)), -np.log(np.pi * B * (1 + ((V - A) / B) ** 2)))
    _close(d.entropy(), np.log(4 * np.pi * B))
    _close(d.cdf(_f64(V)), np.arctan((V - A) / B) / np.pi + 0.5)
    assert np.isnan(_np(d.mean)).all() and np.isinf(_np(d.variance)).all()
    _close(d.mode, A)

    d = D.Gumbel(_f64(A), _f64(B))
    z = (V - A) / B
    _close(d.log_prob(_f64(V)), -np.log(B) - z - np.exp(-z))
    _close(d.entropy(), np.log(B) + 1 + EULER)
    _close(d.mean, A + B * EULER)
    _close(d.variance, (np.pi * B) ** 2 / 6)
    _close(d.cdf(_f64(V)), np.exp(-np.exp(-z)))


def test_lognormal_halfnormal_studentt_closed_forms() -> None:
    d = D.LogNormal(_f64(A), _f64(B))
    assert isinstance(d, D.TransformedDistribution)
    want = -np.log(V * B * np.sqrt(2 * np.pi)) - (np.log(V) - A) ** 2 / (2 * B**2)
    _close(d.log_prob(_f64(V)), want)
    _close(d.mean, np.exp(A + B**2 / 2))
    _close(d.mode, np.exp(A - B**2))
    _close(d.variance, (np.exp(B**2) - 1) * np.exp(2 * A + B**2))
    _close(d.entropy(), A + 0.5 + 0.5 * np.log(2 * np.pi * B**2))
    erf = np.vectorize(math.erf)
    _close(d.cdf(_f64(V)), 0.5 * (1 + erf((np.log(V) - A) / (B * np.sqrt(2)))), rtol=1e-7)

    d = D.HalfNormal(_f64(B))
    _close(d.log_prob(_f64(V)), np.log(np.sqrt(2 / np.pi) / B) - V**2 / (2 * B**2))
    _close(d.mean, B * np.sqrt(2 / np.pi))
    _close(d.variance, B**2 * (1 - 2 / np.pi))
    _close(d.entropy(), 0.5 * np.log(np.pi * B**2 / 2) + 0.5)
    _close(d.cdf(_f64(V)), erf(V / (B * np.sqrt(2))), rtol=1e-7)

    df = np.array([0.8, 1.5, 5.0])
    d = D.StudentT(_f64(df), _f64(A), _f64(B))
    y = (V - A) / B
    want = (
        lgamma((df + 1) / 2)
        - lgamma(df / 2)
        - 0.5 * np.log(df * np.pi)
        - np.log(B)
        - (df + 1) / 2 * np.log1p(y**2 / df)
    )
    _close(d.log_prob(_f64(V)), want)
    _close(d.mean, [np.nan, A[1], A[2]])
    _close(d.variance, [np.nan, np.inf, B[2] ** 2 * 5 / 3])
    lbeta = lgamma(df / 2) + math.lgamma(0.5) - lgamma((df + 1) / 2)
    ent = (
        np.log(B)
        + (df + 1) / 2 * (_digamma((df + 1) / 2) - _digamma(df / 2))
        + 0.5 * np.log(df)
        + lbeta
    )
    _close(d.entropy(), ent, rtol=1e-7)


def test_gamma_chi2_beta_dirichlet_closed_forms() -> None:
    d = D.Gamma(_f64(A), _f64(B))
    want = A * np.log(B) + (A - 1) * np.log(V) - B * V - lgamma(A)
    _close(d.log_prob(_f64(V)), want)
    _close(d.mean, A / B)
    _close(d.variance, A / B**2)
    _close(d.mode, np.maximum((A - 1) / B, 0))
    _close(d.entropy(), A - np.log(B) + lgamma(A) + (1 - A) * _digamma(A), rtol=1e-7)

    d = D.Chi2(_f64(B))
    assert isinstance(d, D.Gamma)
    k = B
    want = (k / 2 - 1) * np.log(V) - V / 2 - k / 2 * np.log(2) - lgamma(k / 2)
    _close(d.log_prob(_f64(V)), want)
    _close(d.df, k)
    _close(d.mean, k)
    _close(d.variance, 2 * k)

    x = np.array([0.1, 0.5, 0.9])
    d = D.Beta(_f64(A), _f64(B))
    lbeta = lgamma(A) + lgamma(B) - lgamma(A + B)
    _close(d.log_prob(_f64(x)), (A - 1) * np.log(x) + (B - 1) * np.log1p(-x) - lbeta)
    _close(d.mean, A / (A + B))
    _close(d.variance, A * B / ((A + B) ** 2 * (A + B + 1)))
    ent = lbeta - (A - 1) * _digamma(A) - (B - 1) * _digamma(B) + (A + B - 2) * _digamma(A + B)
    _close(d.entropy(), ent, rtol=1e-7)
    _close(D.Beta(_f64([3.0, 0.5]), _f64([2.0, 0.5])).mode, [2 / 3, 1.0])

    c = np.array([[0.5, 1.5, 3.0], [2.0, 2.0, 2.0]])
    p = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    d = D.Dirichlet(_f64(c))
    assert d.batch_shape == (2,) and d.event_shape == (3,)
    c0 = c.sum(-1)
    want = ((c - 1) * np.log(p)).sum(-1) + lgamma(c0) - lgamma(c).sum(-1)
    _close(d.log_prob(_f64(p)), want)
    _close(d.mean, c / c0[:, None])
    _close(d.variance, c * (c0[:, None] - c) / (c0[:, None] ** 2 * (c0[:, None] + 1)))
    ent = lgamma(c).sum(-1) - lgamma(c0) - (3 - c0) * _digamma(c0) - ((c - 1) * _digamma(c)).sum(-1)
    _close(d.entropy(), ent, rtol=1e-7)


def test_scipy_reference() -> None:
    st = pytest.importorskip("scipy.stats")
    _close(D.Gamma(_f64(A), _f64(B)).entropy(), st.gamma(A, scale=1 / B).entropy(), rtol=1e-9)
    _close(D.Beta(_f64(A), _f64(B)).entropy(), st.beta(A, B).entropy(), rtol=1e-9)
    df = np.array([0.8, 1.5, 5.0])
    _close(D.StudentT(_f64(df), _f64(A), _f64(B)).entropy(), st.t(df, A, B).entropy(), rtol=1e-9)
    _close(D.StudentT(_f64(df), _f64(A), _f64(B)).log_prob(_f64(V)), st.t(df, A, B).logpdf(V))
    _close(D.Gumbel(_f64(A), _f64(B)).log_prob(_f64(V)), st.gumbel_r(A, B).logpdf(V))
    _close(D.HalfNormal(_f64(B)).entropy(), st.halfnorm(scale=B).entropy(), rtol=1e-9)
    k = np.array([0.0, 1.0, 4.0])
    _close(D.Poisson(_f64(A)).log_prob(_f64(k)), st.poisson(A).logpmf(k))
    _close(D.Binomial(5, _f64([0.2, 0.5, 0.9])).entropy(), st.binom(5, [0.2, 0.5, 0.9]).entropy())
    c = np.array([0.5, 1.5, 3.0])
    _close(D.Dirichlet(_f64(c)).entropy(), st.dirichlet(c).entropy(), rtol=1e-9)


def test_discrete_closed_forms() -> None:
    k = np.array([0.0, 1.0, 4.0])
    d = D.Poisson(_f64(A))
    _close(d.log_prob(_f64(k)), k * np.log(A) - A - lgamma(k + 1))
    _close(d.mean, A)
    _close(d.variance, A)
    _close(d.mode, np.floor(A))
    _close(D.Poisson(_f64([0.0])).log_prob(_f64([0.0])), [0.0])

    p = np.array([0.2, 0.5, 1.0])
    d = D.Geometric(_f64(p))
    _close(d.log_prob(_f64(k)), [np.log(0.2), np.log(0.5) * 2, -np.inf])
    _close(d.log_prob(_f64([0.0, 0.0, 0.0])), np.log(p))
    _close(d.mean, 1 / p - 1)
    _close(d.variance, (1 / p - 1) / p)
    q = np.array([0.2, 0.5, 0.9])
    ent = -(q * np.log(q) + (1 - q) * np.log(1 - q)) / q
    _close(D.Geometric(_f64(q)).entropy(), ent)
    _close(D.Geometric(logits=_f64(np.log(q / (1 - q)))).mean, 1 / q - 1)

    n = np.array([5.0, 7.0, 9.0])
    d = D.Binomial(_f64(n), _f64(q))
    comb = lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)
    want = comb + k * np.log(q) + (n - k) * np.log1p(-q)
    _close(d.log_prob(_f64(k)), want)
    logits = np.array([-30.0, 0.5, 40.0])
    d = D.Binomial(_f64(n), logits=_f64(logits))
    pl = 1 / (1 + np.exp(-logits))
    lp = _np(d.log_prob(_f64([0.0, 1.0, 9.0])))
    assert np.isfinite(lp).all()
    np.testing.assert_allclose(lp[0], n[0] * np.log1p(-pl[0]), atol=1e-14)
    _close(d.mean, n * pl)
    _close(d.variance, n * pl * (1 - pl))
    _close(D.Binomial(10, _f64([0.33, 0.5])).mode, [3.0, 5.0])
    with pytest.raises(NotImplementedError):
        D.Binomial(_f64([2.0, 3.0]), _f64([0.5, 0.5])).entropy()

    probs = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    d = D.OneHotCategorical(_f64(probs))
    assert d.batch_shape == (2,) and d.event_shape == (3,)
    _close(d.log_prob(_f64([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])), np.log([0.3, 0.6]))
    _close(d.entropy(), -(probs * np.log(probs)).sum(-1))
    _close(d.mean, probs)
    _close(d.variance, probs * (1 - probs))
    _close(d.mode, [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    assert tuple(d.enumerate_support().shape) == (3, 2, 3)


# ----------------------------------------------------------------------------- sampling


def _moment_cases() -> list[tuple[str, Callable[[], Any]]]:
    return [
        ("exponential", lambda: D.Exponential(_f64(A))),
        ("laplace", lambda: D.Laplace(_f64(A), _f64(B))),
        ("lognormal", lambda: D.LogNormal(_f64([0.1, -0.3]), _f64([0.3, 0.2]))),
        ("halfnormal", lambda: D.HalfNormal(_f64(B))),
        ("gumbel", lambda: D.Gumbel(_f64(A), _f64(B))),
        ("studentt", lambda: D.StudentT(_f64([6.0, 30.0]), _f64([0.5, 1.0]), _f64([1.0, 2.0]))),
        ("gamma", lambda: D.Gamma(_f64(A), _f64(B))),
        ("chi2", lambda: D.Chi2(_f64(B))),
        ("beta", lambda: D.Beta(_f64(A), _f64(B))),
        ("poisson", lambda: D.Poisson(_f64([0.5, 3.0, 30.0]))),
        ("geometric", lambda: D.Geometric(_f64([0.2, 0.5, 0.9]))),
        ("binomial", lambda: D.Binomial(_f64([5.0, 10.0, 40.0]), _f64([0.2, 0.5, 0.9]))),
        ("dirichlet", lambda: D.Dirichlet(_f64([0.5, 1.5, 3.0]))),
        ("onehot", lambda: D.OneHotCategorical(_f64([0.2, 0.3, 0.5]))),
    ]


@pytest.mark.parametrize(("name", "make"), _moment_cases())
def test_sample_moments(name: str, make: Callable[[], Any]) -> None:
    dm.manual_seed(1234)
    d = make()
    s = d.sample((N,))
    assert tuple(s.shape) == (N, *d.batch_shape, *d.event_shape)
    assert not s.requires_grad
    x = _np(s)
    mean, var = _np(d.mean), _np(d.variance)
    np.testing.assert_allclose(x.mean(0), mean, rtol=0.03, atol=0.01 * np.sqrt(var).max())
    rtol = 0.15 if name == "studentt" else 0.05
    np.testing.assert_allclose(x.var(0), var, rtol=rtol, atol=1e-3)
    lp = _np(d.log_prob(s[:100]))
    assert np.isfinite(lp).all()


def test_cauchy_sample_quantiles() -> None:
    dm.manual_seed(0)
    d = D.Cauchy(_f64(1.0), _f64(2.0))
    x = _np(d.sample((N,)))
    qs = np.quantile(x, [0.25, 0.5, 0.75])
    np.testing.assert_allclose(qs, [-1.0, 1.0, 3.0], atol=0.05)


def test_sampling_is_seeded_and_shaped() -> None:
    for make in (
        lambda: D.Gamma(_f64(A), _f64(B)),
        lambda: D.Laplace(_f64(A), _f64(B)),
        lambda: D.Binomial(5, _f64([0.3])),
    ):
        dm.manual_seed(7)
        a = _np(make().sample((4, 2)))
        dm.manual_seed(7)
        b = _np(make().sample((4, 2)))
        np.testing.assert_array_equal(a, b)
    d = D.Exponential(_f64([[1.0, 2.0, 3.0]]))
    assert d.batch_shape == (1, 3) and d.event_shape == ()
    assert tuple(d.sample().shape) == (1, 3)
    assert tuple(d.rsample((2, 5)).shape) == (2, 5, 1, 3)
    assert tuple(d.sample((0,)).shape) == (0, 1, 3)
    assert D.Exponential(2.0).sample((3,)).dtype == dm.float32
    assert D.Gamma(2.0, 1.0).sample((3,)).dtype == dm.float32


def test_positive_samples_stay_in_support() -> None:
    dm.manual_seed(3)
    g = _np(D.Gamma(_f64([0.05, 0.5]), _f64([1.0, 1.0])).sample((10_000,)))
    assert (g > 0).all()
    b = _np(D.Beta(_f64([0.1]), _f64([0.1])).sample((10_000,)))
    assert ((b > 0) & (b < 1)).all()
    s = _np(D.Dirichlet(_f64([[0.3, 0.3, 0.3]])).sample((1000,)))
    np.testing.assert_allclose(s.sum(-1), 1.0, rtol=1e-9)


# ----------------------------------------------------------------------------- gradients


def _seeded(fn: Callable[..., dm.Tensor]) -> Callable[..., dm.Tensor]:
    def run(*args: dm.Tensor) -> dm.Tensor:
        dm.manual_seed(11)
        return fn(*args)

    return run


@pytest.mark.parametrize(
    "make",
    [
        lambda p, q: D.Laplace(p, q),
        lambda p, q: D.Cauchy(p, q),
        lambda p, q: D.Gumbel(p, q),
        lambda p, q: D.LogNormal(p, q),
        lambda p, q: D.StudentT(4.0, p, q),
        lambda p, q: D.Exponential(q),
        lambda p, q: D.HalfNormal(q),
    ],
)
def test_rsample_gradients(make: Callable[..., Any]) -> None:
    p = _f64([0.3, -0.4], grad=True)
    q = _f64([0.8, 1.7], grad=True)
    gradcheck(_seeded(lambda a, b: make(a, b).rsample((3,))), [p, q])
    s = make(p, q).rsample((2,))
    assert s.requires_grad and s.sum().backward() is None


def test_rsample_gradients_relaxed_and_mvn() -> None:
    logits = _f64([0.2, -1.0, 0.5], grad=True)
    temp = _f64(0.7, grad=True)
    gradcheck(_seeded(lambda lg, t: D.RelaxedBernoulli(t, logits=lg).rsample((2,))), [logits, temp])
    gradcheck(
        _seeded(lambda lg, t: D.RelaxedOneHotCategorical(t, logits=lg).rsample((2,))),
        [logits, temp],
    )
    loc = _f64([0.5, -1.0], grad=True)
    tril = _f64([[1.0, 0.0], [0.5, 2.0]], grad=True)
    gradcheck(
        _seeded(lambda m, s: D.MultivariateNormal(m, scale_tril=s.tril()).rsample((3,))),
        [loc, tril],
    )
    cov = _f64([[2.0, 0.3], [0.3, 1.0]], grad=True)
    gradcheck(lambda c: D.MultivariateNormal(loc, (c + c.mT) / 2).log_prob(_f64([0.1, 0.2])), [cov])


def test_log_prob_gradients() -> None:
    a, b = _f64([0.7, 2.0], grad=True), _f64([1.3, 0.6], grad=True)
    x = _f64([0.4, 1.7])
    gradcheck(lambda u, v: D.Gamma(u, v).log_prob(x), [a, b])
    gradcheck(lambda u, v: D.Beta(u, v).log_prob(_f64([0.2, 0.7])), [a, b])
    gradcheck(lambda u, v: D.StudentT(u, 0.5, v).log_prob(x), [a, b])
    gradcheck(lambda u, v: D.Gamma(u, v).entropy(), [a, b])
    gradcheck(lambda u: D.Dirichlet(u).log_prob(_f64([0.3, 0.7])), [a])
    gradcheck(lambda u: D.Poisson(u).log_prob(_f64([0.0, 3.0])), [a])
    gradcheck(lambda u: D.Binomial(6, logits=u).log_prob(_f64([1.0, 4.0])), [a])
    gradcheck(lambda u: D.Geometric(logits=u).log_prob(_f64([1.0, 4.0])), [a])


def test_no_rsample_raises() -> None:
    for d in (
        D.Poisson(2.0),
        D.Binomial(3, 0.5),
        D.Geometric(0.5),
        D.MixtureSameFamily(
            D.Categorical(_f64([0.5, 0.5])), D.Normal(_f64([0.0, 1.0]), _f64([1.0, 1.0]))
        ),
    ):
        assert not d.has_rsample
        with pytest.raises(NotImplementedError):
            d.rsample()
    for d in (D.Gamma(1.0, 1.0), D.Beta(1.0, 2.0), D.Dirichlet(_f64([1.0, 2.0])), D.Chi2(3.0)):
        assert d.has_rsample
    assert D.MultivariateNormal(_f64([0.0]), _f64([[1.0]])).has_rsample


def _grad(fn: Callable[[], dm.Tensor], *params: dm.Tensor) -> list[np.ndarray]:
    for p in params:
        p.grad = None
    fn().backward()
    return [_np(p.grad) for p in params]


def test_gamma_family_implicit_reparameterisation() -> None:
    # d/d(param) of a Monte-Carlo moment equals the derivative of the closed-form moment.
    dm.manual_seed(21)
    a, r = _f64([0.4, 2.5], grad=True), _f64([1.5, 0.8], grad=True)
    ga, gr = _grad(lambda: D.Gamma(a, r).rsample((N,)).mean(0).sum(), a, r)
    av, rv = np.array([0.4, 2.5]), np.array([1.5, 0.8])
    np.testing.assert_allclose(ga, 1 / rv, rtol=0.03)
    np.testing.assert_allclose(gr, -av / rv**2, rtol=0.03)
    (ga2,) = _grad(lambda: D.Gamma(a, r).rsample((N,)).pow(2).mean(0).sum(), a)
    np.testing.assert_allclose(ga2, (2 * av + 1) / rv**2, rtol=0.05)

    c1, c0 = _f64([0.7, 3.0], grad=True), _f64([2.0, 1.2], grad=True)
    g1, g0 = _grad(lambda: D.Beta(c1, c0).rsample((N,)).mean(0).sum(), c1, c0)
    x1, x0 = np.array([0.7, 3.0]), np.array([2.0, 1.2])
    np.testing.assert_allclose(g1, x0 / (x1 + x0) ** 2, rtol=0.05)
    np.testing.assert_allclose(g0, -x1 / (x1 + x0) ** 2, rtol=0.05)

    c = _f64([0.5, 1.5, 3.0], grad=True)
    (gc,) = _grad(lambda: D.Dirichlet(c).rsample((N,)).mean(0)[0], c)
    cv = np.array([0.5, 1.5, 3.0])
    c0s = cv.sum()
    np.testing.assert_allclose(
        gc, [(c0s - cv[0]) / c0s**2, -cv[0] / c0s**2, -cv[0] / c0s**2], rtol=0.05
    )

    df = _f64([4.0], grad=True)
    (gd,) = _grad(lambda: D.Chi2(df).rsample((N,)).mean(), df)
    np.testing.assert_allclose(gd, [1.0], rtol=0.03)
    df = _f64([12.0], grad=True)
    (gt,) = _grad(lambda: D.StudentT(df).rsample((N,)).abs().mean(), df)

    # E|T| = sqrt(df) Gamma((df - 1) / 2) / (sqrt(pi) Gamma(df / 2))
    def e_abs(v: float) -> float:
        return (
            math.sqrt(v)
            * math.exp(math.lgamma((v - 1) / 2) - math.lgamma(v / 2))
            / math.sqrt(math.pi)
        )

    want = (e_abs(12.0 + 1e-5) - e_abs(12.0 - 1e-5)) / 2e-5
    np.testing.assert_allclose(gt, [want], rtol=0.25)


def test_gamma_sample_gradient_matches_inverse_cdf() -> None:
    sp = pytest.importorskip("scipy.special")
    dm.manual_seed(9)
    alpha = np.array([0.05, 0.3, 1.0, 2.5, 10.0, 150.0])
    a = _f64(alpha, grad=True)
    x = D.Gamma(a, _f64(np.ones(6))).rsample((20,))
    x.sum().backward()
    xs = _np(x)
    h = 1e-6 * alpha
    q = sp.gammaincc(alpha, xs)
    num = (sp.gammainccinv(alpha + h, q) - sp.gammainccinv(alpha - h, q)) / (2 * h)
    np.testing.assert_allclose(_np(a.grad), num.sum(0), rtol=1e-5)


# ----------------------------------------------------------------------------- transforms


X = np.array([-2.0, -0.1, 0.5, 3.0])


def _num_ladj(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    h = 1e-6
    return np.log(np.abs((fn(x + h) - fn(x - h)) / (2 * h)))


@pytest.mark.parametrize(
    ("t", "fn", "xs"),
    [
        (D.ExpTransform(), np.exp, X),
        (D.AffineTransform(1.0, -2.0), lambda x: 1.0 - 2.0 * x, X),
        (D.SigmoidTransform(), lambda x: 1 / (1 + np.exp(-x)), X),
        (D.TanhTransform(), np.tanh, X),
        (D.PowerTransform(2.5), lambda x: x**2.5, np.abs(X)),
        (D.PowerTransform(_f64(-1.5)), lambda x: x**-1.5, np.abs(X)),
    ],
)
def test_transforms(t: D.Transform, fn: Callable[[np.ndarray], np.ndarray], xs: np.ndarray) -> None:
    x = _f64(xs)
    y = t(x)
    _close(y, fn(xs), rtol=1e-12)
    _close(t.inv(y), xs, rtol=1e-9, atol=1e-9)
    _close(t.log_abs_det_jacobian(x, y), _num_ladj(fn, xs), rtol=1e-6, atol=1e-7)
    _close(t.inv.log_abs_det_jacobian(y, x), -_num_ladj(fn, xs), rtol=1e-6, atol=1e-7)
    assert t.inv.inv is t
    if isinstance(t, D.AffineTransform):
        return  # constant log-Jacobian: no gradient to check
    xg = _f64(xs, grad=True)
    gradcheck(lambda a: t.log_abs_det_jacobian(a, t(a)), [xg])


def test_tanh_transform_is_stable() -> None:
    t = D.TanhTransform()
    x = _f64([-40.0, 25.0, 40.0])
    ladj = _np(t.log_abs_det_jacobian(x, t(x)))
    want = 2 * (np.log(2) - np.abs(x.numpy()) - np.log1p(np.exp(-2 * np.abs(x.numpy()))))
    np.testing.assert_allclose(ladj, want, rtol=1e-12)
    assert np.isfinite(_np(D.TanhTransform().log_abs_det_jacobian(_f64([90.0]), _f64([1.0]))))


def test_affine_event_dim_compose_softmax_abs() -> None:
    x = _f64([[0.1, 0.2, 0.3], [1.0, -1.0, 2.0]])
    t = D.AffineTransform(_f64([0.0, 1.0, 2.0]), _f64([2.0, -3.0, 0.5]), event_dim=1)
    _close(t.log_abs_det_jacobian(x, t(x)), [np.log(3.0)] * 2)
    c = D.ComposeTransform([D.AffineTransform(0.5, 2.0), D.TanhTransform()])
    xs = X
    y = c(_f64(xs))
    _close(y, np.tanh(0.5 + 2 * xs), rtol=1e-12)
    _close(c.inv(y), xs, rtol=1e-8)
    _close(
        c.log_abs_det_jacobian(_f64(xs), y),
        _num_ladj(lambda v: np.tanh(0.5 + 2 * v), xs),
        rtol=1e-6,
    )
    s = D.SoftmaxTransform()
    sy = s(x)
    _close(sy.sum(-1), [1.0, 1.0])
    _close(s(s.inv(sy)), _np(sy))
    assert s.domain_event_dim == 1 and s.codomain_event_dim == 1
    a = D.AbsTransform()
    _close(a(_f64(X)), np.abs(X))
    assert not a.bijective and D.ExpTransform().bijective
    assert D.ExpTransform() == D.ExpTransform() and D.ExpTransform() != D.TanhTransform()
    cached = D.ExpTransform().with_cache(1)
    y = cached(x)
    assert cached.inv(y) is x


def test_transformed_distribution() -> None:
    base = D.Normal(_f64(A), _f64(B))
    td = D.TransformedDistribution(base, [D.AffineTransform(0.5, 2.0), D.TanhTransform()])
    assert td.batch_shape == (3,) and td.event_shape == ()
    assert td.has_rsample
    y = np.array([-0.5, 0.2, 0.9])
    x = (np.arctanh(y) - 0.5) / 2.0
    normal_lp = -((x - A) ** 2) / (2 * B**2) - np.log(B) - 0.5 * np.log(2 * np.pi)
    want = normal_lp - np.log(2.0) - np.log(1 - y**2)
    _close(td.log_prob(_f64(y)), want, rtol=1e-9)
    erf = np.vectorize(math.erf)
    _close(td.cdf(_f64(y)), 0.5 * (1 + erf((x - A) / (B * np.sqrt(2)))), rtol=1e-7)
    dm.manual_seed(5)
    s = _np(td.sample((1000,)))
    assert s.shape == (1000, 3) and (np.abs(s) <= 1).all()
    flip = D.TransformedDistribution(D.Normal(_f64(0.0), _f64(1.0)), D.AffineTransform(0.0, -1.0))
    _close(flip.cdf(_f64(0.3)), 1 - 0.5 * (1 + math.erf(-0.3 / math.sqrt(2))), rtol=1e-9)
    ex = td.expand((4, 3))
    assert ex.batch_shape == (4, 3) and tuple(ex.sample((2,)).shape) == (2, 4, 3)
    vec = D.TransformedDistribution(
        D.Normal(_f64(np.zeros((2, 3))), _f64(np.ones((2, 3)))), D.SoftmaxTransform()
    )
    assert vec.batch_shape == (2,) and vec.event_shape == (3,)


# ----------------------------------------------------------------------------- multivariate


def _mvn_np_logpdf(x: np.ndarray, loc: np.ndarray, cov: np.ndarray) -> np.ndarray:
    d = x - loc
    sol = np.linalg.solve(cov, d[..., None])[..., 0]
    k = loc.shape[-1]
    return -0.5 * ((d * sol).sum(-1) + k * np.log(2 * np.pi) + np.log(np.linalg.det(cov)))


def test_multivariate_normal() -> None:
    tril = np.array([[1.0, 0.0, 0.0], [0.5, 2.0, 0.0], [-0.3, 0.2, 0.7]])
    cov = tril @ tril.T
    loc = np.array([0.5, -1.0, 2.0])
    x = np.array([[0.1, 0.2, 0.3], [1.0, -3.0, 2.5]])
    want = _mvn_np_logpdf(x, loc, cov)
    for kw in (
        {"covariance_matrix": _f64(cov)},
        {"precision_matrix": _f64(np.linalg.inv(cov))},
        {"scale_tril": _f64(tril)},
    ):
        d = D.MultivariateNormal(_f64(loc), **kw)
        assert d.batch_shape == () and d.event_shape == (3,)
        _close(d.log_prob(_f64(x)), want, rtol=1e-9)
        _close(d.scale_tril, tril, rtol=1e-9, atol=1e-12)
        _close(d.covariance_matrix, cov, rtol=1e-9, atol=1e-12)
        _close(d.precision_matrix, np.linalg.inv(cov), rtol=1e-8, atol=1e-10)
        _close(d.entropy(), 0.5 * np.log(np.linalg.det(2 * np.pi * np.e * cov)), rtol=1e-9)
        _close(d.variance, np.diag(cov), rtol=1e-9)
    dm.manual_seed(2)
    s = _np(D.MultivariateNormal(_f64(loc), scale_tril=_f64(tril)).sample((N,)))
    np.testing.assert_allclose(s.mean(0), loc, atol=0.03)
    np.testing.assert_allclose(np.cov(s.T), cov, atol=0.05)
    batched = D.MultivariateNormal(
        _f64(np.zeros((4, 1, 3))), scale_tril=_f64(np.stack([tril, tril]))
    )
    assert batched.batch_shape == (4, 2) and batched.event_shape == (3,)
    assert tuple(batched.rsample((5,)).shape) == (5, 4, 2, 3)
    assert tuple(batched.log_prob(_f64(x[0])).shape) == (4, 2)
    assert batched.expand((6, 4, 2)).batch_shape == (6, 4, 2)
    with pytest.raises(ValueError):
        D.MultivariateNormal(_f64(loc))
    with pytest.raises(ValueError):
        D.MultivariateNormal(_f64(loc), _f64(cov), scale_tril=_f64(tril))


def test_relaxed_distributions() -> None:
    probs = np.array([0.2, 0.5, 0.9])
    t = 0.5
    d = D.RelaxedBernoulli(_f64(t), probs=_f64(probs))
    y = np.array([0.1, 0.5, 0.95])
    logits = np.log(probs / (1 - probs))
    z = np.log(y / (1 - y))
    diff = logits - z * t
    base_lp = np.log(t) + diff - 2 * np.log1p(np.exp(diff))
    _close(d.log_prob(_f64(y)), base_lp - np.log(y * (1 - y)), rtol=1e-9)
    dm.manual_seed(4)
    s = _np(d.sample((N,)))
    assert ((s > 0) & (s < 1)).all()
    np.testing.assert_allclose((s > 0.5).mean(0), probs, atol=0.01)

    p = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    d = D.RelaxedOneHotCategorical(_f64(0.7), probs=_f64(p))
    assert d.batch_shape == (2,) and d.event_shape == (3,)
    v = p
    k, tt = 3, 0.7
    score = np.log(p) - np.log(v) * tt
    score = score - np.log(np.exp(score).sum(-1, keepdims=True))
    want = score.sum(-1) + math.lgamma(k) + (k - 1) * np.log(tt) - np.log(v).sum(-1)
    _close(d.log_prob(_f64(v)), want, rtol=1e-9)
    dm.manual_seed(6)
    s = _np(D.RelaxedOneHotCategorical(_f64(0.05), probs=_f64(p)).rsample((N,)))
    np.testing.assert_allclose(s.sum(-1), 1.0, rtol=1e-9)
    freq = np.stack([(s.argmax(-1) == i).mean(0) for i in range(3)], -1)
    np.testing.assert_allclose(freq, p, atol=0.01)


def test_mixture_same_family() -> None:
    w = np.array([0.3, 0.7])
    mu, sd = np.array([-1.0, 2.0]), np.array([0.5, 1.5])
    mix = D.MixtureSameFamily(D.Categorical(_f64(w)), D.Normal(_f64(mu), _f64(sd)))
    assert mix.batch_shape == () and mix.event_shape == ()
    pdf = np.exp(-((V[:, None] - mu) ** 2) / (2 * sd**2)) / (sd * np.sqrt(2 * np.pi))
    _close(mix.log_prob(_f64(V)), np.log((pdf * w).sum(-1)), rtol=1e-9)
    mean = (w * mu).sum()
    _close(mix.mean, mean)
    _close(mix.variance, (w * (sd**2 + mu**2)).sum() - mean**2, rtol=1e-9)
    erf = np.vectorize(math.erf)
    cdf = (w * 0.5 * (1 + erf((V[:, None] - mu) / (sd * np.sqrt(2))))).sum(-1)
    _close(mix.cdf(_f64(V)), cdf, rtol=1e-7)
    dm.manual_seed(8)
    s = _np(mix.sample((N,)))
    assert s.shape == (N,)
    np.testing.assert_allclose([s.mean(), s.var()], [mean, _np(mix.variance)], rtol=0.03)
    gmm = D.MixtureSameFamily(
        D.Categorical(_f64(np.ones((4, 2)))),
        D.Independent(D.Normal(_f64(np.zeros((4, 2, 3))), _f64(np.ones((4, 2, 3)))), 1),
    )
    assert gmm.batch_shape == (4,) and gmm.event_shape == (3,)
    assert tuple(gmm.sample((5,)).shape) == (5, 4, 3)
    assert tuple(gmm.log_prob(_f64(np.zeros(3))).shape) == (4,)
    assert tuple(gmm.mean.shape) == (4, 3)
    assert gmm.expand((2, 4)).batch_shape == (2, 4)
    with pytest.raises(ValueError):
        D.MixtureSameFamily(D.Categorical(_f64([0.5, 0.5, 0.0])), D.Normal(_f64(mu), _f64(sd)))
    with pytest.raises(ValueError):
        D.MixtureSameFamily(D.Normal(0.0, 1.0), D.Normal(_f64(mu), _f64(sd)))  # type: ignore[arg-type]


def test_independent_and_expand() -> None:
    base = D.Normal(_f64(np.zeros((2, 3))), _f64(np.ones((2, 3))))
    ind = D.Independent(base, 1)
    assert ind.batch_shape == (2,) and ind.event_shape == (3,)
    v = _f64(np.arange(6.0).reshape(2, 3) / 3)
    _close(ind.log_prob(v), _np(base.log_prob(v)).sum(-1))
    _close(ind.entropy(), _np(base.entropy()).sum(-1))
    assert tuple(ind.sample((4,)).shape) == (4, 2, 3) and ind.has_rsample
    assert D.Independent(base, 2).batch_shape == () and D.Independent(base, 2).event_shape == (2, 3)
    assert ind.expand((5, 2)).batch_shape == (5, 2)
    with pytest.raises(ValueError):
        D.Independent(base, 3)
    e = D.Gamma(_f64([1.0, 2.0]), _f64([1.0, 3.0])).expand((3, 2))
    assert e.batch_shape == (3, 2) and tuple(e.concentration.shape) == (3, 2)
    assert tuple(e.sample((4,)).shape) == (4, 3, 2)
    g = D.Geometric(logits=_f64([0.5])).expand((2, 1))
    assert tuple(g.probs.shape) == (2, 1)
    oh = D.OneHotCategorical(_f64([0.2, 0.8])).expand((3,))
    assert oh.batch_shape == (3,) and tuple(oh.sample().shape) == (3, 2)
    with pytest.raises((ValueError, RuntimeError)):
        D.Exponential(_f64([1.0, 2.0])).expand((3,))


# ----------------------------------------------------------------------------- KL


def test_kl_closed_forms() -> None:
    kl = D.kl_divergence
    _close(kl(D.Exponential(_f64(A)), D.Exponential(_f64(B))), np.log(A / B) + B / A - 1)
    d = np.abs(A - B)
    _close(
        kl(D.Laplace(_f64(A), _f64(B)), D.Laplace(_f64(B), _f64(A))),
        np.log(A / B) + d / A + B / A * np.exp(-d / B) - 1,
    )
    want = (
        (A - B) * _digamma(A)
        - lgamma(A)
        + lgamma(B)
        + B * (np.log(B) - np.log(A))
        + A * (A - B) / B
    )
    _close(kl(D.Gamma(_f64(A), _f64(B)), D.Gamma(_f64(B), _f64(A))), want, rtol=1e-7)
    lb = lambda a, b: lgamma(a) + lgamma(b) - lgamma(a + b)  # noqa: E731
    want = (
        lb(B, A)
        - lb(A, B)
        + (A - B) * _digamma(A)
        + (B - A) * _digamma(B)
        + (B - A + A - B) * _digamma(A + B)
    )
    _close(kl(D.Beta(_f64(A), _f64(B)), D.Beta(_f64(B), _f64(A))), want, rtol=1e-7)
    _close(kl(D.Poisson(_f64(A)), D.Poisson(_f64(B))), A * np.log(A / B) - A + B)
    c1, c2 = np.array([0.5, 1.5, 3.0]), np.array([2.0, 1.0, 0.7])
    s1 = c1.sum()
    want = (
        lgamma(s1)
        - lgamma(c2.sum())
        - (lgamma(c1) - lgamma(c2)).sum()
        + ((c1 - c2) * (_digamma(c1) - _digamma(np.array(s1)))).sum()
    )
    _close(kl(D.Dirichlet(_f64(c1)), D.Dirichlet(_f64(c2))), want, rtol=1e-7)
    ind = kl(
        D.Independent(D.Normal(_f64(A), _f64(B)), 1), D.Independent(D.Normal(_f64(B), _f64(A)), 1)
    )
    _close(ind, _np(kl(D.Normal(_f64(A), _f64(B)), D.Normal(_f64(B), _f64(A)))).sum())
    assert np.allclose(_np(kl(D.Gamma(_f64(A), _f64(B)), D.Gamma(_f64(A), _f64(B)))), 0.0)
    assert isinstance(kl(D.Chi2(_f64(A)), D.Chi2(_f64(B))), dm.Tensor)


def test_kl_mvn() -> None:
    l1 = np.array([[1.0, 0.0], [0.5, 2.0]])
    l2 = np.array([[2.0, 0.0], [-0.3, 0.7]])
    m1, m2 = np.array([0.5, -1.0]), np.array([-0.5, 1.0])
    s1, s2 = l1 @ l1.T, l2 @ l2.T
    inv2 = np.linalg.inv(s2)
    want = 0.5 * (
        np.trace(inv2 @ s1)
        + (m2 - m1) @ inv2 @ (m2 - m1)
        - 2
        + np.log(np.linalg.det(s2) / np.linalg.det(s1))
    )
    p = D.MultivariateNormal(_f64(m1), scale_tril=_f64(l1))
    q = D.MultivariateNormal(_f64(m2), covariance_matrix=_f64(s2))
    _close(D.kl_divergence(p, q), want, rtol=1e-9)
    qb = D.MultivariateNormal(_f64(np.stack([m2, m1])), scale_tril=_f64(l2))
    _close(D.kl_divergence(p, qb)[0], want, rtol=1e-9)
    loc = _f64(m1, grad=True)
    gradcheck(lambda m: D.kl_divergence(D.MultivariateNormal(m, scale_tril=_f64(l1)), q), [loc])


def test_register_kl_and_fallback() -> None:
    class MyExp(D.Exponential):
        pass

    _close(D.kl_divergence(MyExp(_f64(A)), D.Exponential(_f64(B))), np.log(A / B) + B / A - 1)
    _close(D.kl_divergence(D.Normal(0.0, 1.0), D.Normal(0.0, 1.0)), 0.0)

    @D.register_kl(MyExp, MyExp)
    def _mine(p: Any, q: Any) -> dm.Tensor:
        return p.rate * 0 + 42.0

    _close(D.kl_divergence(MyExp(_f64(A)), MyExp(_f64(B))), np.full(3, 42.0))
    _close(D.kl_divergence(D.Exponential(_f64(A)), MyExp(_f64(B))), np.log(A / B) + B / A - 1)
    with pytest.raises(NotImplementedError):
        D.kl_divergence(D.Exponential(1.0), D.Laplace(0.0, 1.0))
    with pytest.raises(TypeError):
        D.register_kl(int, D.Normal)


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "make",
    [
        lambda: D.Exponential(_f64([1.0, -1.0])),
        lambda: D.Laplace(0.0, _f64([0.0])),
        lambda: D.Cauchy(0.0, -1.0),
        lambda: D.Gumbel(0.0, -2.0),
        lambda: D.LogNormal(0.0, -1.0),
        lambda: D.HalfNormal(-1.0),
        lambda: D.StudentT(-1.0),
        lambda: D.Gamma(-1.0, 1.0),
        lambda: D.Gamma(1.0, 0.0),
        lambda: D.Beta(1.0, -1.0),
        lambda: D.Chi2(-3.0),
        lambda: D.Poisson(-1.0),
        lambda: D.Geometric(_f64([0.0])),
        lambda: D.Binomial(2.5, 0.5),
        lambda: D.Binomial(3, 1.5),
        lambda: D.Dirichlet(_f64([1.0, -1.0])),
        lambda: D.MultivariateNormal(_f64([0.0, 0.0]), scale_tril=_f64([[1.0, 1.0], [0.0, 1.0]])),
        lambda: D.MultivariateNormal(_f64([0.0, 0.0]), _f64([[1.0, 2.0], [0.0, 1.0]])),
    ],
)
def test_invalid_parameters_raise(make: Callable[[], Any]) -> None:
    with pytest.raises(InvalidValueError):
        make()


def test_invalid_values_raise_and_validation_can_be_off() -> None:
    with pytest.raises(ValueError):
        D.Exponential(1.0).log_prob(_f64(-1.0))
    with pytest.raises(ValueError):
        D.Poisson(1.0).log_prob(_f64(1.5))
    with pytest.raises(ValueError):
        D.Binomial(3, 0.5).log_prob(_f64(4.0))
    with pytest.raises(ValueError):
        D.Beta(1.0, 1.0).log_prob(_f64(1.5))
    with pytest.raises(ValueError):
        D.OneHotCategorical(_f64([0.5, 0.5])).log_prob(_f64([1.0, 1.0]))
    with pytest.raises(ValueError):
        D.Geometric()
    d = D.Exponential(_f64([-1.0]), validate_args=False)
    assert tuple(d.mean.shape) == (1,)
    lp = D.HalfNormal(1.0, validate_args=False).log_prob(_f64([-1.0, 1.0]))
    assert _np(lp)[0] == -np.inf and np.isfinite(_np(lp)[1])
    assert repr(D.Exponential(2.0)) == "Exponential(rate: 2.0)"
    assert repr(D.LogNormal(0.0, 1.0)) == "LogNormal()"
    assert D.Exponential(1.0).support == "GreaterThanEq(lower_bound=0.0)"
    assert "rate" in D.Exponential.arg_constraints
