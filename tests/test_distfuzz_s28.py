"""Session-28 fuzz of ``democratising.distributions`` against PyTorch: the base-class
``cdf``/``icdf``/``enumerate_support`` (NotImplementedError, as PyTorch, not AttributeError),
pathwise ``rsample`` gradients against finite differences under a fixed seed, unbiased implicit
(gamma-family) gradients, sampler moments, and closed forms of less common KL pairs and of the
Kumaraswamy/HalfCauchy families. Constants were computed with ``torch.distributions`` (float64)."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm

D = dm.distributions


def _t(a: Any, grad: bool = False) -> dm.Tensor:
    return dm.tensor(np.asarray(a, dtype=np.float64), dtype=dm.float64, requires_grad=grad)


def _close(x: dm.Tensor, expected: Any, rtol: float = 1e-9, atol: float = 1e-12) -> None:
    np.testing.assert_allclose(x.detach().numpy(), np.asarray(expected), rtol=rtol, atol=atol)


@pytest.mark.parametrize(
    ("make", "method"),
    [
        (lambda: D.Gamma(_t([1.0]), _t([1.0])), "icdf"),
        (lambda: D.Beta(_t([1.0]), _t([2.0])), "cdf"),
        (lambda: D.StudentT(_t([3.0])), "cdf"),
        (lambda: D.Poisson(_t([1.0])), "cdf"),
        (lambda: D.MultivariateNormal(_t([0.0, 0.0]), _t(np.eye(2))), "cdf"),
        (lambda: D.Independent(D.Normal(_t([0.0]), _t([1.0])), 1), "icdf"),
        (lambda: D.Normal(_t([0.0]), _t([1.0])), "enumerate_support"),
    ],
)
def test_missing_cdf_icdf_enumerate_raise_not_implemented(
    make: Callable[[], Any], method: str
) -> None:
    d = make()
    assert hasattr(d, method)
    with pytest.raises(NotImplementedError):
        if method == "enumerate_support":
            d.enumerate_support()
        else:
            getattr(d, method)(_t([0.5]))


def test_transformed_cdf_of_base_without_cdf_raises_not_implemented() -> None:
    d = D.RelaxedBernoulli(_t(0.5), _t([0.3]))
    with pytest.raises(NotImplementedError):
        d.cdf(_t([0.5]))


def test_kumaraswamy_closed_forms() -> None:
    k = D.Kumaraswamy(_t([0.5, 2.0]), _t([1.5, 0.7]))
    _close(k.entropy(), [-0.6593568997616617, -0.3721618953051282], rtol=1e-7)
    _close(k.log_prob(_t([0.3, 0.9])), [-0.0824254086015343, 0.729331083009882], rtol=1e-7)
    _close(k.mean, [0.2285714285714285, 0.7308570430993646], rtol=1e-7)
    _close(k.variance, [0.05857761286332713, 0.054083276669700475], rtol=1e-7)


def test_kumaraswamy_mode_is_the_closed_form_and_nan_below_one() -> None:
    # PyTorch 2.x returns NaN for every mode (log1p(-c0) of c0 > 1): the closed form is
    # ((a - 1) / (a b - 1)) ** (1 / a) for a, b >= 1, undefined when either is below 1.
    a = np.array([0.7, 2.0, 3.0, 1.5])
    b = np.array([2.0, 2.0, 0.5, 1.5])
    got = D.Kumaraswamy(_t(a), _t(b)).mode.numpy()
    assert np.isnan(got[0]) and np.isnan(got[2])
    i = [1, 3]
    want = ((a[i] - 1) / (a[i] * b[i] - 1)) ** (1 / a[i])
    np.testing.assert_allclose(got[i], want, rtol=1e-12)


def test_half_cauchy_closed_forms() -> None:
    h = D.HalfCauchy(_t([0.5, 2.0]))
    _close(h.log_prob(_t([0.3, 0.0])), [-0.06592022447747026, -1.1447298858494])
    _close(h.cdf(_t([0.3, 0.0])), [0.34404173924526127, 0.0])
    _close(h.entropy(), [1.1447298858494, 2.5310242469692907])
    with pytest.raises(ValueError):
        h.log_prob(_t([-0.1, 1.0]))


def test_discrete_modes() -> None:
    _close(D.NegativeBinomial(_t([0.5, 3.0, 10.0]), _t([0.2, 0.7, 0.5])).mode, [0.0, 4.0, 9.0])
    _close(D.Binomial(_t([3.0, 5.0, 10.0]), _t([0.5, 0.7, 0.0])).mode, [2.0, 4.0, 0.0])


@pytest.mark.parametrize(
    ("name", "pair", "expected"),
    [
        (
            "gamma-gumbel",
            lambda: (
                D.Gamma(_t([0.5, 2.0]), _t([1.5, 0.7])),
                D.Gumbel(_t([0.3, -1.0]), _t([1.2, 2.0])),
            ),
            [1.5544651952991602, 0.894216905332213],
        ),
        (
            "continuous-bernoulli-exponential",
            lambda: (
                D.ContinuousBernoulli(_t([0.2, 0.5, 0.9])),
                D.Exponential(_t([1.5, 0.7, 3.0])),
            ),
            [0.252970625361917, 0.7066749439387324, 1.0906599873916896],
        ),
        (
            "pareto-normal",
            lambda: (
                D.Pareto(_t([1.0, 2.0]), _t([3.0, 5.0])),
                D.Normal(_t([0.3, -1.0]), _t([1.2, 2.0])),
            ),
            [1.6269557120000706, 2.9117097789721065],
        ),
        (
            "uniform-beta",
            lambda: (
                D.Uniform(_t([0.1, 0.2]), _t([0.8, 0.5])),
                D.Beta(_t([0.5, 2.0]), _t([1.5, 0.7])),
            ),
            [0.6830294705519444, 1.9803649390749447],
        ),
        (
            "lowrank-mvn",
            lambda: (
                D.LowRankMultivariateNormal(_t([0.3, -1.0]), _t([[1.2], [0.4]]), _t([0.5, 0.7])),
                D.MultivariateNormal(_t([0.0, 1.0]), _t([[2.0, 0.5], [0.5, 1.0]])),
            ),
            2.4896098357468563,
        ),
    ],
)
def test_kl_less_common_pairs(name: str, pair: Callable[[], Any], expected: Any) -> None:
    p, q = pair()
    _close(D.kl_divergence(p, q), expected, rtol=1e-8)


def test_kl_unregistered_pair_raises_not_implemented() -> None:
    with pytest.raises(NotImplementedError):
        D.kl_divergence(D.Binomial(10, _t([0.2])), D.Poisson(_t([1.5])))


_PATHWISE = {
    "normal": (lambda a, b: D.Normal(a, b), [[0.3, -1.0], [1.2, 0.7]]),
    "laplace": (lambda a, b: D.Laplace(a, b), [[0.3, -1.0], [1.2, 0.7]]),
    "gumbel": (lambda a, b: D.Gumbel(a, b), [[0.3, -1.0], [1.2, 0.7]]),
    "uniform": (lambda a, b: D.Uniform(a, b), [[0.3, -1.0], [1.2, 0.7]]),
    "exponential": (lambda r: D.Exponential(r), [[0.3, 2.0]]),
    "half_cauchy": (lambda s: D.HalfCauchy(s), [[0.3, 2.0]]),
    "weibull": (lambda a, b: D.Weibull(a, b), [[0.4, 2.5], [1.2, 0.7]]),
    "pareto": (lambda a, b: D.Pareto(a, b), [[0.4, 2.5], [1.2, 0.7]]),
    "kumaraswamy": (lambda a, b: D.Kumaraswamy(a, b), [[0.4, 2.5], [1.2, 0.7]]),
    "continuous_bernoulli": (lambda p: D.ContinuousBernoulli(p), [[0.2, 0.7]]),
    "relaxed_bernoulli": (lambda t, p: D.RelaxedBernoulli(t, p), [[0.5, 1.5], [0.2, 0.7]]),
    "mvn_scale_tril": (
        lambda m, s: D.MultivariateNormal(m, scale_tril=s, validate_args=False),
        [[0.3, -1.0], [[1.2, 0.0], [0.4, 0.7]]],
    ),
    "lowrank_mvn": (
        lambda m, w, d: D.LowRankMultivariateNormal(m, w, d),
        [[0.3, -1.0], [[1.2], [0.4]], [0.5, 0.7]],
    ),
}


@pytest.mark.parametrize("name", sorted(_PATHWISE))
def test_rsample_gradient_is_the_pathwise_derivative(name: str) -> None:
    """Autograd through ``rsample`` equals the finite difference of the draw with the same
    noise (same seed), parameter by parameter."""
    make, raw = _PATHWISE[name]
    ps = [np.asarray(p, dtype=np.float64) for p in raw]
    params = [_t(p, grad=True) for p in ps]
    dm.manual_seed(123)
    x = make(*params).rsample((3,))
    w = np.random.default_rng(1).normal(size=tuple(x.shape))
    (x * _t(w)).sum().backward()
    h = 1e-6
    for i, p in enumerate(ps):
        fd = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            vals = []
            for s in (1.0, -1.0):
                q = [pp.copy() for pp in ps]
                q[i][idx] += s * h
                dm.manual_seed(123)
                with dm.no_grad():
                    vals.append(float((make(*[_t(v) for v in q]).rsample((3,)).numpy() * w).sum()))
            fd[idx] = (vals[0] - vals[1]) / (2 * h)
        grad = params[i].grad
        assert grad is not None
        np.testing.assert_allclose(grad.numpy(), fd, rtol=1e-4, atol=1e-5)


def test_normal_rsample_gradient_is_noise() -> None:
    loc, scale = _t([0.3, -1.0], grad=True), _t([1.2, 0.7], grad=True)
    dm.manual_seed(7)
    x = D.Normal(loc, scale).rsample((5,))
    x.sum().backward()
    eps = (x.detach().numpy() - np.array([0.3, -1.0])) / np.array([1.2, 0.7])
    np.testing.assert_allclose(loc.grad.numpy(), [5.0, 5.0])
    np.testing.assert_allclose(scale.grad.numpy(), eps.sum(0), rtol=1e-12)


@pytest.mark.parametrize(
    "name",
    ["gamma", "beta", "dirichlet", "inverse_gamma", "chi2"],
)
def test_implicit_rsample_gradient_is_unbiased(name: str) -> None:
    """The gamma-family draws use implicit reparameterisation: the mean of the pathwise
    gradients of 200k draws matches the gradient of the analytic mean."""
    makes: dict[str, tuple[Callable[..., Any], list[list[float]], np.ndarray]] = {
        "gamma": (lambda a, b: D.Gamma(a, b), [[0.4, 2.5], [1.2, 0.7]], np.ones(2)),
        "beta": (lambda a, b: D.Beta(a, b), [[0.4, 2.5], [1.2, 0.7]], np.ones(2)),
        "dirichlet": (lambda a: D.Dirichlet(a), [[0.4, 2.5, 1.3]], np.array([1.0, -2.0, 0.5])),
        "inverse_gamma": (lambda a, b: D.InverseGamma(a, b), [[3.4, 2.5], [1.2, 0.7]], np.ones(2)),
        "chi2": (lambda k: D.Chi2(k), [[0.8, 2.5]], np.ones(2)),
    }
    make, raw, w = makes[name]
    params = [_t(p, grad=True) for p in raw]
    dm.manual_seed(0)
    (make(*params).rsample((200_000,)).mean(0) * _t(w)).sum().backward()
    ref = [_t(p, grad=True) for p in raw]
    (make(*ref).mean * _t(w)).sum().backward()
    for p, r in zip(params, ref):
        np.testing.assert_allclose(p.grad.numpy(), r.grad.numpy(), rtol=0.02, atol=0.01)


def _moments(dist: Any, n: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    x = dist.sample((n,)).numpy().astype(np.float64)
    return x.mean(0), x.var(0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: D.Poisson(_t([0.5, 20.0, 200.0])),
        lambda: D.Binomial(_t([10.0, 3.0]), _t([0.2, 0.7])),
        lambda: D.NegativeBinomial(_t([10.0, 3.0]), _t([0.2, 0.7])),
        lambda: D.Geometric(_t([0.2, 0.7])),
        lambda: D.Gamma(_t([0.3, 2.5]), _t([1.0, 2.0])),
        lambda: D.Beta(_t([0.3, 2.5]), _t([1.0, 2.0])),
        lambda: D.StudentT(_t([5.0, 9.0]), _t([0.0, 1.0]), _t([1.0, 2.0])),
        lambda: D.FisherSnedecor(_t([5.0, 9.0]), _t([10.0, 12.0])),
        lambda: D.Kumaraswamy(_t([1.0, 2.0]), _t([0.7, 2.0])),
        lambda: D.ContinuousBernoulli(_t([0.2, 0.5, 0.7])),
        lambda: D.Multinomial(5, _t([0.2, 0.3, 0.5])),
        lambda: D.LowRankMultivariateNormal(_t([0.0, 1.0]), _t([[1.0], [0.5]]), _t([1.0, 2.0])),
    ],
)
def test_sampler_moments(make: Callable[[], Any]) -> None:
    dm.manual_seed(11)
    dist = make()
    n = 200_000
    m, v = _moments(dist, n)
    mean, var = dist.mean.numpy(), dist.variance.numpy()
    assert np.all(np.abs(m - mean) <= 5 * np.sqrt(var / n))
    np.testing.assert_allclose(v, var, rtol=0.05)


def test_von_mises_circular_moment() -> None:
    def i0i1(k: float) -> float:
        terms = [(k / 2) ** (2 * m) / math.factorial(m) ** 2 for m in range(60)]
        terms1 = [
            (k / 2) ** (2 * m + 1) / (math.factorial(m) * math.factorial(m + 1)) for m in range(60)
        ]
        return sum(terms1) / sum(terms)

    dm.manual_seed(3)
    loc, kappa = np.array([0.0, 1.0, 3.0]), np.array([0.5, 4.0, 20.0])
    x = D.VonMises(_t(loc), _t(kappa)).sample((200_000,)).numpy()
    assert np.all((x >= -math.pi) & (x < math.pi))
    c = np.cos(x - loc).mean(0)
    want = np.array([i0i1(k) for k in kappa])
    np.testing.assert_allclose(c, want, atol=0.01)
    np.testing.assert_allclose(np.sin(x - loc).mean(0), 0.0, atol=0.01)


def test_set_default_validate_args_round_trip() -> None:
    with pytest.raises(ValueError):
        D.Normal(_t(0.0), _t(-1.0))
    D.Distribution.set_default_validate_args(False)
    try:
        d = D.Normal(_t(0.0), _t(-1.0))
        assert not d._validate_args
        assert np.isnan(d.log_prob(_t(0.5)).item())
        D.Beta(_t(1.0), _t(1.0)).log_prob(_t(2.0))  # out of support: no raise
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        D.Beta(_t(1.0), _t(1.0)).log_prob(_t(2.0))


@pytest.mark.parametrize("sample_shape", [(), (3,), (2, 3)])
def test_sample_shapes_with_broadcast_parameters(sample_shape: tuple[int, ...]) -> None:
    cases = [
        (D.Gamma(_t(np.ones((3, 1))), _t(np.ones((1, 4)))), (3, 4)),
        (D.Dirichlet(_t(np.ones((3, 5)))), (3, 5)),
        (D.Multinomial(4, _t(np.full((2, 3), 1 / 3))), (2, 3)),
        (D.LKJCholesky(3, _t([1.0, 2.0])), (2, 3, 3)),
        (D.Kumaraswamy(_t(np.ones((3, 1))), _t(np.ones((1, 4)))), (3, 4)),
        (D.HalfCauchy(_t(np.ones((2, 1)))).expand((4, 2, 3)), (4, 2, 3)),
    ]
    for dist, shape in cases:
        assert tuple(dist.sample(sample_shape).shape) == sample_shape + shape


def test_corr_cholesky_transform_matches_pytorch() -> None:
    t = D.CorrCholeskyTransform()
    x = _t([0.3, -1.2, 0.8])
    y = t(x)
    _close(
        y,
        [
            [1.0, 0.0, 0.0],
            [0.2913126124515909, 0.9566279119002483, 0.0],
            [-0.8336546070121552, 0.36673831415055014, 0.41294431239747265],
        ],
    )
    _close(t.log_abs_det_jacobian(x, y), -2.451255575290681)
    _close(t.inv(y), [0.3, -1.2, 0.8], rtol=1e-10)
    x2 = _t([0.3, -1.2, 0.8, 0.1, 2.0, -0.5])
    _close(t.log_abs_det_jacobian(x2, t(x2)), -6.686459586567414)
    assert t.forward_shape((5, 6)) == (5, 4, 4) and t.inverse_shape((5, 4, 4)) == (5, 6)
    with pytest.raises(ValueError):
        t.forward_shape((5,))
    assert t != D.CorrCholeskyTransform() and t.bijective
    assert bool(
        D.constraints.corr_cholesky.check(
            t(_t(np.random.default_rng(0).normal(size=(7, 10))))
        ).all()
    )


def test_corr_cholesky_transform_gradient_and_registry() -> None:
    x = _t([0.3, -1.2, 0.8], grad=True)
    t = D.transform_to(D.constraints.corr_cholesky)
    assert isinstance(t, D.CorrCholeskyTransform)
    assert isinstance(D.biject_to(D.constraints.corr_cholesky), D.CorrCholeskyTransform)
    t.log_abs_det_jacobian(x, t(x)).backward()
    assert x.grad is not None and np.all(np.isfinite(x.grad.numpy()))
    # d/dx of the log-Jacobian by central differences
    h = 1e-6
    base = np.array([0.3, -1.2, 0.8])
    fd = []
    for i in range(3):
        e = np.zeros(3)
        e[i] = h
        up, dn = _t(base + e), _t(base - e)
        fd.append(
            (t.log_abs_det_jacobian(up, t(up)).item() - t.log_abs_det_jacobian(dn, t(dn)).item())
            / (2 * h)
        )
    np.testing.assert_allclose(x.grad.numpy(), fd, rtol=1e-5, atol=1e-7)


def test_lower_cholesky_and_positive_definite_transforms() -> None:
    m = _t([[0.5, 9.0], [-0.3, -1.0]])
    low = D.LowerCholeskyTransform()
    _close(low(m), [[1.6487212707001282, 0.0], [-0.3, 0.36787944117144233]])
    _close(low.inv(low(m)), [[0.5, 0.0], [-0.3, -1.0]])
    pd = D.PositiveDefiniteTransform()
    _close(
        pd(m),
        [[2.7182818284590455, -0.4946163812100384], [-0.4946163812100384, 0.2253352832366127]],
    )
    _close(pd.inv(pd(m)), [[0.5, 0.0], [-0.3, -1.0]], rtol=1e-10)
    assert low == D.LowerCholeskyTransform() and not low.bijective
    assert low.domain.event_dim == 2 and low.codomain.event_dim == 2
    with pytest.raises(NotImplementedError):
        low.log_abs_det_jacobian(m, low(m))
    assert isinstance(D.transform_to(D.constraints.lower_cholesky), D.LowerCholeskyTransform)
    assert isinstance(D.transform_to(D.constraints.positive_definite), D.PositiveDefiniteTransform)
    x = _t(np.random.default_rng(2).normal(size=(4, 3, 3)))
    assert bool(D.constraints.lower_cholesky.check(low(x)).all())
    assert bool(D.constraints.positive_definite.check(pd(x)).all())


def test_reshape_transform() -> None:
    t = D.ReshapeTransform((6,), (2, 3))
    x = _t(np.arange(24.0).reshape(4, 6))
    y = t(x)
    assert tuple(y.shape) == (4, 2, 3)
    _close(t.inv(y), np.arange(24.0).reshape(4, 6))
    _close(t.log_abs_det_jacobian(x, y), np.zeros(4))
    assert t.forward_shape((5, 6)) == (5, 2, 3) and t.inverse_shape((5, 2, 3)) == (5, 6)
    assert t.domain.event_dim == 1 and t.codomain.event_dim == 2 and t.bijective
    with pytest.raises(ValueError):
        D.ReshapeTransform((3,), (2,))
    with pytest.raises(ValueError):
        t.forward_shape((5, 7))
    base = D.Independent(D.Normal(_t(np.zeros(6)), _t(np.ones(6))), 1)
    td = D.TransformedDistribution(base, [t])
    assert tuple(td.event_shape) == (2, 3) and tuple(td.sample((5,)).shape) == (5, 2, 3)
    _close(td.log_prob(y), base.log_prob(x))


def test_cumulative_distribution_transform() -> None:
    normal = D.Normal(_t([0.0, 1.0]), _t([1.0, 2.0]))
    t = D.CumulativeDistributionTransform(normal)
    x = _t([0.5, -1.0])
    y = t(x)
    _close(y, normal.cdf(x))
    _close(t.inv(y), [0.5, -1.0], rtol=1e-10)
    _close(t.log_abs_det_jacobian(x, y), normal.log_prob(x))
    assert t.sign == 1 and t.bijective and t.domain is normal.support
    assert t.codomain.event_dim == 0


def test_identity_transform_is_exported() -> None:
    x = _t([1.0, -2.0])
    _close(D.identity_transform(x), [1.0, -2.0])
    assert isinstance(D.identity_transform, D.ComposeTransform)


def _gpd() -> Any:
    return D.GeneralizedPareto(
        _t([0.5, -1.0, 0.0, 2.0]), _t([2.0, 0.5, 1.0, 1.5]), _t([0.3, -0.4, 0.0, 1.2])
    )


def test_generalized_pareto_closed_forms() -> None:
    g = _gpd()
    v = _t([1.5, -0.5, 0.7, 3.0])
    _close(g.log_prob(v), [-1.298782264185633, -0.0730912550890408, -0.7, -1.4830739937620492])
    _close(
        g.cdf(v), [0.3724131061138255, 0.721145199073066, 0.5034146962085905, 0.3872646838740338]
    )
    _close(
        g.icdf(_t([0.1, 0.5, 0.9, 0.99])),
        [0.7140866495212669, -0.6973228540689989, 2.302585092994046, 314.7358039386973],
    )
    _close(g.mean, [3.357142857142857, -0.6428571428571428, 1.0, np.nan])
    _close(g.variance, [20.408163265306126, 0.07086167800453516, 1.0, np.nan])
    _close(g.entropy(), [1.9931471805599452, -0.09314718055994531, 1.0, 2.6054651081081643])
    _close(g.mode, [0.5, -1.0, 0.0, 2.0])
    _close(g.icdf(g.cdf(v)), [1.5, -0.5, 0.7, 3.0], rtol=1e-9)
    # exponential limit: concentration 0 is Exponential(1 / scale) shifted by loc
    e = D.GeneralizedPareto(_t(1.0), _t(2.0), _t(0.0))
    _close(e.log_prob(_t([1.5, 4.0])), D.Exponential(_t(0.5)).log_prob(_t([0.5, 3.0])))


def test_generalized_pareto_support_and_validation() -> None:
    g = D.GeneralizedPareto(_t(0.0), _t(1.0), _t([-0.5, 0.5]))
    assert g.has_rsample and tuple(g.batch_shape) == (2,) and tuple(g.event_shape) == ()
    with pytest.raises(ValueError):
        g.log_prob(_t([2.5, 1.0]))  # above loc - scale / concentration = 2 for -0.5
    with pytest.raises(ValueError):
        g.log_prob(_t([-0.1, 1.0]))  # below loc
    with pytest.raises(ValueError):
        D.GeneralizedPareto(_t(0.0), _t(-1.0), _t(0.5))
    assert tuple(g.expand((3, 2)).sample((4,)).shape) == (4, 3, 2)
    assert tuple(D.GeneralizedPareto(0.0, 1.0, 0.5).batch_shape) == ()


def test_generalized_pareto_rsample_moments_and_gradient() -> None:
    loc, scale, conc = (
        _t([0.5, -1.0], grad=True),
        _t([2.0, 0.5], grad=True),
        _t([0.2, -0.4], grad=True),
    )
    g = D.GeneralizedPareto(loc, scale, conc)
    dm.manual_seed(4)
    x = g.rsample((200_000,))
    mean, var = g.mean.detach().numpy(), g.variance.detach().numpy()
    m = x.detach().numpy().mean(0)
    assert np.all(np.abs(m - mean) <= 5 * np.sqrt(var / 200_000))
    x.mean(0).sum().backward()
    # d E[x] / d(loc, scale, conc) = 1, 1 / (1 - c), scale / (1 - c)^2
    c = np.array([0.2, -0.4])
    np.testing.assert_allclose(loc.grad.numpy(), [1.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(scale.grad.numpy(), 1 / (1 - c), rtol=0.02)
    np.testing.assert_allclose(conc.grad.numpy(), np.array([2.0, 0.5]) / (1 - c) ** 2, rtol=0.05)


def test_gamma_cdf_concentration_gradient_matches_high_precision() -> None:
    # dP(a, x)/da from mpmath (40 digits); PyTorch's float64 gamma gradients are only good to
    # about 1e-5 here, this package's to about 1e-9.
    a = _t([0.4, 2.5, 5.0, 30.0], grad=True)
    x = _t([0.3, 1.7, 20.0, 28.0])
    D.Gamma(a, _t(1.0)).cdf(x).sum().backward()
    want = [
        -0.8294227193830437,
        -0.26654260855002465,
        -2.6217707922167135e-05,
        -0.07049269276012013,
    ]
    np.testing.assert_allclose(a.grad.numpy(), want, rtol=1e-8)
