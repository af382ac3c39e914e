"""Parity of ``dm.distributions`` with ``torch.distributions`` (expected values computed with
PyTorch 2.x and hard-coded; the suite does not import torch): ``expand``/``support``/
``enumerate_support`` on the original families, support validation, ``Gamma.cdf``, the KL
registry, transform constraints, and ``Weibull``/``Pareto``/``Kumaraswamy``/``HalfCauchy``/
``NegativeBinomial``/``Multinomial``."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
import democratising.distributions as D
from democratising.distributions import transforms as T

INF = math.inf
NAN = math.nan


def f64(*values: float) -> dm.Tensor:
    return dm.tensor(list(values), dtype=dm.float64)


def close(t: dm.Tensor, expected: list[float], tol: float = 1e-6) -> None:
    got = np.asarray(t.detach().numpy(), dtype=np.float64).reshape(-1)
    np.testing.assert_allclose(got, np.asarray(expected), rtol=tol, atol=tol, equal_nan=True)


# --- expand / support / enumerate_support on Normal, Uniform, Bernoulli, Categorical ---------


@pytest.mark.parametrize(
    "make",
    [
        lambda: D.Normal(dm.zeros(3), dm.ones(3)),
        lambda: D.Uniform(dm.zeros(3), dm.ones(3)),
        lambda: D.Bernoulli(probs=dm.full((3,), 0.3)),
        lambda: D.Bernoulli(logits=dm.zeros(3)),
        lambda: D.Categorical(logits=dm.zeros(3, 4)),
    ],
)
def test_expand_original_families(make):
    d = make()
    e = d.expand((5, 3))
    assert e.batch_shape == (5, 3)
    assert tuple(e.sample((2,)).shape) == (2, 5, 3)
    value = d.sample()
    np.testing.assert_allclose(
        e.log_prob(value).numpy(), np.broadcast_to(d.log_prob(value).numpy(), (5, 3))
    )
    assert d.batch_shape == (3,)  # the original is untouched


def test_supports_and_enumerate_support():
    assert D.Normal(0.0, 1.0).support == "Real()"
    assert D.Bernoulli(0.3).support == "Boolean()"
    assert (
        D.Categorical(logits=dm.zeros(3)).support == "IntegerInterval(lower_bound=0, upper_bound=2)"
    )
    b = D.Bernoulli(probs=dm.full((2, 3), 0.3))
    assert b.param_shape == (2, 3)
    assert tuple(b.enumerate_support().shape) == (2, 2, 3)
    assert tuple(b.enumerate_support(expand=False).shape) == (2, 1, 1)
    c = D.Categorical(logits=dm.zeros(2, 4))
    sup = c.enumerate_support()
    assert tuple(sup.shape) == (4, 2) and sup.dtype == dm.int64
    np.testing.assert_array_equal(sup[:, 0].numpy(), [0, 1, 2, 3])
    assert tuple(c.enumerate_support(expand=False).shape) == (4, 1)


# --- Uniform boundary, icdf; support validation -----------------------------------------------


def test_uniform_closed_support_and_icdf():
    u = D.Uniform(0.0, 2.0, validate_args=True)
    # PyTorch: the upper bound is in the support (no error) but has zero density.
    assert u.log_prob(dm.tensor(2.0)).item() == -INF
    close(u.icdf(dm.tensor([0.25, 0.5])), [0.5, 1.0])
    with pytest.raises(ValueError):
        u.cdf(dm.tensor(-1.0))


@pytest.mark.parametrize(
    "make",
    [
        lambda: D.Normal(0.0, 1.0, validate_args=True),
        lambda: D.Laplace(0.0, 1.0, validate_args=True),
        lambda: D.Cauchy(0.0, 1.0, validate_args=True),
        lambda: D.Gumbel(0.0, 1.0, validate_args=True),
        lambda: D.StudentT(3.0, validate_args=True),
    ],
)
def test_nan_value_out_of_real_support(make):
    with pytest.raises(ValueError):
        make().log_prob(dm.tensor(NAN))


@pytest.mark.parametrize(
    "make",
    [
        lambda: D.Exponential(1.0, validate_args=True),
        lambda: D.HalfNormal(1.0, validate_args=True),
        lambda: D.Gamma(1.0, 1.0, validate_args=True),
    ],
)
def test_cdf_validates_value(make):
    with pytest.raises(ValueError):
        make().cdf(dm.tensor(-1.0))


def test_probs_to_logits_clamps_with_finfo_eps():
    close(
        D.Bernoulli(probs=dm.tensor([0.0, 0.3, 1.0])).logits,
        [-15.94238472, -0.84729785, 15.94238472],
        1e-5,
    )


# --- Gamma.cdf -------------------------------------------------------------------------------


def test_gamma_cdf_and_gradients():
    x = f64(0.3, 1.7, 4.0).requires_grad_()
    rate = f64(1.0, 0.5, 2.0).requires_grad_()
    cdf = D.Gamma(f64(0.5, 2.0, 3.0), rate).cdf(x)
    close(cdf, [0.56142197, 0.20928238, 0.98624603])
    cdf.sum().backward()
    close(x.grad, [0.76309058, 0.18165135, 0.02146961])
    close(rate.grad, [0.22892717, 0.61761458, 0.04293922])
    close(D.Chi2(f64(3.0, 5.0)).cdf(f64(1.0, 7.0)), [0.19874804, 0.77935969])
    close(D.Gamma(f64(2.0), f64(1.0)).cdf(f64(0.0, INF)), [0.0, 1.0])


# --- kl_divergence registry -----------------------------------------------------------------

KL_CASES = {
    "normal_laplace": (
        lambda: D.Normal(f64(0.3, -1.0), f64(1.2, 0.7)),
        lambda: D.Laplace(f64(0.1, 0.5), f64(0.9, 2.0)),
        [0.06511419, 1.0780501],
    ),
    "laplace_normal": (
        lambda: D.Laplace(f64(0.3, -1.0), f64(1.2, 0.7)),
        lambda: D.Normal(f64(0.1, 0.5), f64(0.9, 2.0)),
        [0.74057842, 0.67936348],
    ),
    "gumbel_gumbel": (
        lambda: D.Gumbel(f64(0.3, -1.0), f64(1.2, 0.7)),
        lambda: D.Gumbel(f64(0.1, 0.5), f64(0.9, 2.0)),
        [0.08033483, 0.81119956],
    ),
    "cauchy_cauchy": (
        lambda: D.Cauchy(f64(0.3, -1.0), f64(1.2, 0.7)),
        lambda: D.Cauchy(f64(0.1, 0.5), f64(0.9, 2.0)),
        [0.02964869, 0.53272689],
    ),
    "exp_gamma": (
        lambda: D.Exponential(f64(1.5, 0.4)),
        lambda: D.Gamma(f64(2.0, 0.7), f64(1.0, 3.0)),
        [1.05481255, 5.17727043],
    ),
    "gamma_normal": (
        lambda: D.Gamma(f64(2.0, 0.7), f64(1.0, 3.0)),
        lambda: D.Normal(f64(0.1, 0.5), f64(0.9, 2.0)),
        [2.69932532, 2.13444893],
    ),
    "beta_gamma": (
        lambda: D.Beta(f64(2.0, 0.7), f64(1.0, 3.0)),
        lambda: D.Gamma(f64(2.0, 0.7), f64(1.0, 3.0)),
        [1.35981385, 0.0447257],
    ),
    "uniform_normal": (
        lambda: D.Uniform(f64(0.1, -1.0), f64(0.5, 2.0)),
        lambda: D.Normal(f64(0.1, 0.5), f64(0.9, 2.0)),
        [1.76279056, 0.60722343],
    ),
    "uniform_beta": (
        lambda: D.Uniform(f64(-0.5, 0.2), f64(0.8, 0.8)),
        lambda: D.Beta(f64(2.0, 2.0), f64(3.0, 3.0)),
        [INF, 0.30905527],
    ),
    "geom_geom": (
        lambda: D.Geometric(f64(0.3, 0.8)),
        lambda: D.Geometric(f64(0.5, 0.1)),
        [0.27427626, 1.70342219],
    ),
    "binom_binom": (
        lambda: D.Binomial(f64(5.0, 6.0), f64(0.3, 0.3)),
        lambda: D.Binomial(f64(5.0, 5.0), f64(0.4, 0.4)),
        [0.10800427, INF],
    ),
    "halfnormal": (
        lambda: D.HalfNormal(f64(1.0, 2.0)),
        lambda: D.HalfNormal(f64(1.5, 0.5)),
        [0.12768733, 6.11370564],
    ),
    "lognormal": (
        lambda: D.LogNormal(f64(0.3, -1.0), f64(1.2, 0.7)),
        lambda: D.LogNormal(f64(0.1, 0.5), f64(0.9, 2.0)),
        [0.12589817, 0.89232212],
    ),
    "pareto_pareto": (
        lambda: D.Pareto(f64(1.0, 3.0), f64(2.0, 2.0)),
        lambda: D.Pareto(f64(2.0, 2.0), f64(3.0, 3.0)),
        [INF, 1.31093022],
    ),
    "pareto_normal": (
        lambda: D.Pareto(f64(1.0, 3.0), f64(3.0, 1.5)),
        lambda: D.Normal(f64(0.1, 0.5), f64(0.9, 2.0)),
        [2.25169648, INF],
    ),
    "normal_exp": (
        lambda: D.Normal(f64(0.0, 1.0), f64(1.0, 1.0)),
        lambda: D.Exponential(f64(1.0, 2.0)),
        [INF, INF],
    ),
    "bern_poisson": (
        lambda: D.Bernoulli(f64(0.3, 0.9)),
        lambda: D.Poisson(f64(1.0, 2.0)),
        [0.3891357, 1.05108456],
    ),
    "onehot": (
        lambda: D.OneHotCategorical(logits=f64(0.1, 0.5, -1.0)),
        lambda: D.OneHotCategorical(logits=f64(1.0, 0.0, 0.0)),
        [0.24065071],
    ),
}


@pytest.mark.parametrize("name", sorted(KL_CASES))
def test_kl_registered_pairs(name):
    p, q, expected = KL_CASES[name]
    close(D.kl_divergence(p(), q()), expected, 1e-6)


def test_kl_binomial_smaller_p_count_not_implemented():
    p = D.Binomial(4, probs=dm.tensor(0.3))
    q = D.Binomial(5, probs=dm.tensor(0.4))
    with pytest.raises(NotImplementedError):
        D.kl_divergence(p, q)


def test_kl_lognormal_vs_pareto_not_implemented():
    with pytest.raises(NotImplementedError):
        D.kl_divergence(D.LogNormal(0.0, 1.0), D.Pareto(1.0, 2.0))


# --- transform constraints --------------------------------------------------------------------


def test_transform_domains_follow_event_dims():
    a = T.AffineTransform(dm.ones(3), dm.ones(3), event_dim=1)
    assert a.domain == a.codomain == "IndependentConstraint(Real(), 1)"
    assert T.AffineTransform(0.0, 2.0).domain == "Real()"
    assert T.SoftmaxTransform().domain == "IndependentConstraint(Real(), 1)"
    assert T.AbsTransform().codomain == "GreaterThan(lower_bound=0.0)"
    c = T.ComposeTransform([T.ExpTransform(), a])
    assert c.domain == "IndependentConstraint(Real(), 1)"
    assert c.codomain == "IndependentConstraint(Real(), 1)"
    base = D.Normal(dm.zeros(2, 3), dm.ones(2, 3))
    assert D.TransformedDistribution(base, [a]).support == "IndependentConstraint(Real(), 1)"
    assert (
        D.TransformedDistribution(base, [T.ExpTransform()]).support
        == "GreaterThan(lower_bound=0.0)"
    )


# --- added families ---------------------------------------------------------------------------

NEW = {
    "weibull": (
        lambda: D.Weibull(f64(1.0, 2.0, 0.5), f64(1.5, 0.8, 3.0)),
        [0.5, 1.5, 3.0],
        {
            "lp": [-0.29466187, -1.6531722, -210.62472159],
            "mean": [0.90274529, 2.26600619, 0.44648976],
            "var": [0.37569028, 8.15861982, 0.02633322],
            "ent": [0.78694011, 1.77198682, -0.40694903],
            "mode": [0.48074986, NAN, 0.43679023],
            "cdf": [0.2978115, 0.54815581, 1.0],
        },
    ),
    "pareto": (
        lambda: D.Pareto(f64(0.4, 1.0, 0.2), f64(3.0, 2.5, 1.5)),
        [0.5, 1.5, 3.0],
        {
            "lp": [1.12232882, -0.50283715, -4.75522248],
            "mean": [0.6, 1.66666667, 0.6],
            "var": [0.12, 2.22222222, INF],
            "ent": [-0.68156969, 0.48370927, -0.34823635],
            "mode": [0.4, 1.0, 0.2],
            "cdf": [0.488, 0.63711263, 0.98278674],
        },
    ),
    "kumaraswamy": (
        lambda: D.Kumaraswamy(f64(2.0, 0.8, 3.0), f64(1.5, 2.0, 4.0)),
        [0.125, 0.375, 0.75],
        {
            "lp": [-0.98870343, 0.05686101, 0.26564699],
            "mean": [0.58904862, 0.27350427, 0.53406593],
            "var": [0.05302172, 0.05217954, 0.03035799],
            "ent": [-0.1250928, -0.34500363, -0.34601776],
            # ((a - 1) / (a b - 1)) ** (1 / a) (PyTorch's expression gives NaN here).
            "mode": [math.sqrt(0.5), NAN, (2 / 11) ** (1 / 3)],
            "cdf": [0.02334571, 0.70436123, 0.8882913],
        },
    ),
    "halfcauchy": (
        lambda: D.HalfCauchy(f64(1.0, 2.0, 0.5)),
        [0.5, 1.5, 3.0],
        {
            "lp": [-0.67472626, -1.59101699, -3.36935344],
            "mean": [INF, INF, INF],
            "var": [INF, INF, INF],
            "ent": [1.83787707, 2.53102425, 1.14472989],
            "mode": [0.0, 0.0, 0.0],
            "cdf": [0.29516724, 0.40966553, 0.89486309],
        },
    ),
    "negbinom": (
        lambda: D.NegativeBinomial(f64(3.0, 1.5, 10.0), probs=f64(0.3, 0.6, 0.1)),
        [0.0, 2.0, 3.0],
        {
            "lp": [-1.07002483, -1.76747869, -2.56773289],
            "mean": [1.28571429, 2.25, 1.11111111],
            "var": [1.83673469, 5.625, 1.2345679],
            "mode": [0.0, 0.0, 1.0],
        },
    ),
}


@pytest.mark.parametrize("name", sorted(NEW))
def test_added_family_values(name):
    make, value, expected = NEW[name]
    d = make()
    v = f64(*value)
    close(d.log_prob(v), expected["lp"])
    close(d.mean, expected["mean"])
    close(d.variance, expected["var"])
    close(d.mode, expected["mode"])
    if "ent" in expected:
        close(d.entropy(), expected["ent"])
    if "cdf" in expected:
        close(d.cdf(v), expected["cdf"])
        back = d.icdf(d.cdf(v)).numpy()
        keep = np.asarray(expected["cdf"]) < 1 - 1e-9  # a saturated cdf has no inverse
        np.testing.assert_allclose(back[keep], np.asarray(value)[keep], rtol=1e-5)
    e = d.expand((4, 3))
    assert e.batch_shape == (4, 3) and tuple(e.mean.shape) == (4, 3)
    assert tuple(e.sample((2,)).shape) == (2, 4, 3)


def test_negative_binomial_logits():
    d = D.NegativeBinomial(f64(2.0, 0.5), logits=f64(-0.3, 1.2))
    close(d.log_prob(f64(0.0, 4.0)), [-1.10871049, -3.08145331])


@pytest.mark.parametrize(
    "make, mean, var",
    [
        (lambda: D.Weibull(2.0, 1.5), None, None),
        (lambda: D.Pareto(1.0, 5.0), None, None),
        (lambda: D.Kumaraswamy(2.0, 3.0), None, None),
        (lambda: D.NegativeBinomial(4.0, probs=0.4), None, None),
    ],
)
def test_added_family_sample_moments(make, mean, var):
    dm.manual_seed(0)
    d = make()
    s = d.sample((20000,)).numpy().astype(np.float64)
    m, v = float(d.mean.item()), float(d.variance.item())
    assert abs(s.mean() - m) < 5 * math.sqrt(v / 20000) + 1e-3
    assert abs(s.var() - v) < 0.1 * v


def test_added_family_rsample_gradients():
    dm.manual_seed(0)
    scale = dm.tensor(2.0, requires_grad=True)
    conc = dm.tensor(1.5, requires_grad=True)
    D.Weibull(scale, conc).rsample((20000,)).mean().backward()
    # d mean / d scale = Gamma(1 + 1/k) = 0.9027...; d mean / dk = -scale Γ(1+1/k) ψ(1+1/k) / k²
    assert abs(scale.grad.item() - math.gamma(1 + 1 / 1.5)) < 0.03
    x, h = 1 + 1 / 1.5, 1e-6
    digamma = (math.lgamma(x + h) - math.lgamma(x - h)) / (2 * h)
    dk = -2.0 * math.gamma(x) * digamma / 1.5**2
    assert conc.grad is not None and abs(conc.grad.item() - dk) < 0.03


@pytest.mark.parametrize(
    "make",
    [
        lambda: D.Weibull(-1.0, 1.0, validate_args=True),
        lambda: D.Pareto(1.0, -1.0, validate_args=True),
        lambda: D.Kumaraswamy(1.0, 0.0, validate_args=True),
        lambda: D.HalfCauchy(-1.0, validate_args=True),
        lambda: D.NegativeBinomial(-1.0, probs=0.5, validate_args=True),
        lambda: D.NegativeBinomial(1.0, probs=1.0, validate_args=True),
    ],
)
def test_added_family_bad_parameters(make):
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize(
    "make, value",
    [
        (lambda: D.Weibull(1.0, 1.0, validate_args=True), -1.0),
        (lambda: D.Pareto(2.0, 1.0, validate_args=True), 1.0),
        (lambda: D.Kumaraswamy(2.0, 1.0, validate_args=True), 1.5),
        (lambda: D.HalfCauchy(1.0, validate_args=True), -1.0),
        (lambda: D.NegativeBinomial(1.0, probs=0.5, validate_args=True), 0.5),
    ],
)
def test_added_family_value_out_of_support(make, value):
    with pytest.raises(ValueError):
        make().log_prob(dm.tensor(value))


def test_multinomial():
    d = D.Multinomial(6, probs=f64(0.2, 0.3, 0.5))
    assert d.batch_shape == () and d.event_shape == (3,)
    close(d.log_prob(f64(1.0, 2.0, 3.0)), [-2.0024805])
    close(d.entropy(), [2.79065675])
    close(d.variance, [0.96, 1.26, 1.5])
    close(d.mean, [1.2, 1.8, 3.0])
    logits = D.Multinomial(6, logits=f64(0.2, 0.3, 0.5).log())
    close(logits.log_prob(f64(1.0, 2.0, 3.0)), [-2.0024805])
    dm.manual_seed(0)
    s = D.Multinomial(10, probs=dm.tensor([0.2, 0.3, 0.5])).sample((20000,)).numpy()
    assert s.shape == (20000, 3) and (s.sum(-1) == 10).all()
    np.testing.assert_allclose(s.mean(0), [2.0, 3.0, 5.0], atol=0.05)
    np.testing.assert_allclose(s.var(0), [1.6, 2.1, 2.5], atol=0.2)
    e = D.Multinomial(4, probs=dm.tensor([[0.2, 0.8]])).expand((3, 1))
    assert e.batch_shape == (3, 1) and tuple(e.sample((2,)).shape) == (2, 3, 1, 2)
    with pytest.raises(ValueError):
        D.Multinomial(2, probs=dm.tensor([0.5, 0.5]), validate_args=True).log_prob(
            dm.tensor([2.0, 1.0])
        )
    with pytest.raises(TypeError):
        D.Multinomial(2.0, probs=dm.tensor([0.5, 0.5]))  # type: ignore[arg-type]


def test_continuous_bernoulli():
    d = D.ContinuousBernoulli(probs=f64(0.2, 0.4995, 0.9))
    v = f64(0.3, 0.5, 0.8)
    close(d.log_prob(v), [0.19842802, -1.7e-07, 0.46553313])
    close(d.mean, [0.38801419, 0.49983333, 0.66988039])
    close(d.variance, [0.0758978, 0.08333332, 0.06650886])
    close(d.entropy(), [-0.07641445, -1.7e-07, -0.17963112])
    close(d.cdf(v), [0.45366139, 0.5, 0.59994327])
    close(d.icdf(f64(0.1, 0.5, 0.7)), [0.05623736, 0.5, 0.85884241])
    logits = D.ContinuousBernoulli(logits=f64(-1.0, 0.001, 3.0))
    close(logits.log_prob(v), [0.15867515, -4e-08, 0.54968147])
    assert tuple(d.expand((4, 3)).rsample((2,)).shape) == (2, 4, 3)
    with pytest.raises(ValueError):
        D.ContinuousBernoulli(probs=dm.tensor([1.5]), validate_args=True)
    with pytest.raises(ValueError):
        D.ContinuousBernoulli(probs=0.3, validate_args=True).log_prob(dm.tensor(1.5))
    # rsample inverts the cdf: gradients reach probs and match d mean / d probs.
    dm.manual_seed(0)
    p = dm.tensor([0.2, 0.7], requires_grad=True)
    D.ContinuousBernoulli(probs=p).rsample((20000,)).mean(0).sum().backward()
    np.testing.assert_allclose(p.grad.numpy(), [0.4744, 0.3830], atol=0.02)


def test_von_mises():
    d = D.VonMises(f64(1.0, -2.5, 0.0), f64(2.0, 0.5, 5.0))
    close(d.log_prob(f64(0.5, 3.0, -0.2)), [-0.90670549, -1.54509187, -0.24222596])
    close(d.variance, [0.30222534, 0.75750038, 0.10661688])
    close(d.mean, [1.0, -2.5, 0.0])
    dm.manual_seed(0)
    s = D.VonMises(dm.tensor([1.0, -2.5]), dm.tensor([2.0, 0.5])).sample((20000,)).numpy()
    assert s.shape == (20000, 2) and s.min() >= -math.pi and s.max() <= math.pi
    z = np.exp(1j * s).mean(0)
    np.testing.assert_allclose(np.angle(z), [1.0, -2.5], atol=0.05)
    np.testing.assert_allclose(1 - np.abs(z), [0.30222534, 0.75750038], atol=0.02)
    with pytest.raises(ValueError):
        D.VonMises(0.0, -1.0, validate_args=True)


def test_kl_continuous_bernoulli_pairs():
    p = D.ContinuousBernoulli(f64(0.2, 0.7))
    close(D.kl_divergence(p, D.ContinuousBernoulli(f64(0.6, 0.4995))), [0.12866151, 0.02952592])
    beta = D.Beta(f64(2.0, 0.7), f64(1.0, 3.0))
    close(D.kl_divergence(beta, D.ContinuousBernoulli(f64(0.6, 0.3))), [0.13241038, 0.46785941])
    normal = D.Normal(f64(0.1, 0.5), f64(0.9, 2.0))
    close(D.kl_divergence(p, normal), [0.98804801, 1.65213367])
    close(D.kl_divergence(D.Normal(0.0, 1.0), p), [INF])  # shaped like p.loc, as PyTorch


def _lowrank() -> D.LowRankMultivariateNormal:
    loc = dm.tensor([[0.1, -0.3, 0.5], [1.0, 0.0, -1.0]], dtype=dm.float64)
    w = dm.tensor(
        [[[1.0, 0.5], [-0.2, 0.3], [0.4, -1.0]], [[0.3, 0.1], [0.2, 0.2], [0.0, 1.0]]],
        dtype=dm.float64,
    )
    diag = dm.tensor([[1.0, 0.5, 2.0], [0.3, 0.7, 1.1]], dtype=dm.float64)
    return D.LowRankMultivariateNormal(loc, w, diag)


def test_low_rank_multivariate_normal():
    d = _lowrank()
    assert d.batch_shape == (2,) and d.event_shape == (3,)
    x = dm.tensor([[0.2, 0.1, -0.4], [0.5, 0.5, 0.5]], dtype=dm.float64)
    close(d.log_prob(x), [-3.67008579, -3.60830665])
    close(d.entropy(), [4.96672852, 4.01873231])
    close(d.variance, [2.25, 0.63, 3.16, 0.4, 0.78, 2.1])
    close(
        d.precision_matrix[0],
        [
            *(0.44637849, 0.0473842, 0.019824),
            *(0.0473842, 1.71646843, 0.20791026),
            *(0.019824, 0.20791026, 0.3420849),
        ],
    )
    close(
        d.scale_tril[1],
        [0.63245553, 0.0, 0.0, 0.12649111, 0.87407094, 0.0, 0.15811388, 0.20593294, 1.42568988],
    )
    np.testing.assert_allclose(
        (d.covariance_matrix @ d.precision_matrix).numpy(),
        np.broadcast_to(np.eye(3), (2, 3, 3)),
        atol=1e-10,
    )
    e = d.expand((4, 2))
    assert e.batch_shape == (4, 2) and tuple(e.rsample((5,)).shape) == (5, 4, 2, 3)
    np.testing.assert_allclose(
        e.log_prob(x).numpy(), np.broadcast_to(d.log_prob(x).numpy(), (4, 2))
    )
    with pytest.raises(ValueError):
        D.LowRankMultivariateNormal(dm.zeros(3), dm.zeros(3, 1), -dm.ones(3), validate_args=True)
    with pytest.raises(ValueError):
        D.LowRankMultivariateNormal(dm.zeros(3), dm.zeros(2, 1), dm.ones(3))


def test_low_rank_sample_moments_and_gradient():
    dm.manual_seed(0)
    w = np.array([[1.0, 0.5], [-0.2, 0.3], [0.4, -1.0]])
    diag = np.array([1.0, 0.5, 2.0])
    d = D.LowRankMultivariateNormal(dm.tensor([0.1, -0.3, 0.5]), dm.tensor(w), dm.tensor(diag))
    s = d.sample((20000,)).numpy().astype(np.float64)
    np.testing.assert_allclose(s.mean(0), [0.1, -0.3, 0.5], atol=0.05)
    np.testing.assert_allclose(np.cov(s.T), w @ w.T + np.diag(diag), atol=0.15)
    loc = dm.zeros(3, requires_grad=True)
    D.LowRankMultivariateNormal(loc, dm.tensor(w), dm.tensor(diag)).rsample((4,)).sum().backward()
    np.testing.assert_allclose(loc.grad.numpy(), [4.0, 4.0, 4.0])


def test_kl_low_rank_pairs():
    d = _lowrank()
    q = D.LowRankMultivariateNormal(
        f64(0.0, 0.0, 0.0), f64(0.5, 0.5, 0.5).unsqueeze(-1), f64(1.0, 1.0, 1.0)
    )
    mvn = D.MultivariateNormal(
        f64(0.2, 0.0, 0.1),
        dm.tensor([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 1.5]], dtype=dm.float64),
    )
    close(D.kl_divergence(d, q), [0.90275211, 1.36931976])
    close(D.kl_divergence(mvn, d), [0.39728178, 2.47354833])
    close(D.kl_divergence(d, mvn), [0.49287529, 1.01948909])


def test_fisher_snedecor():
    d = D.FisherSnedecor(f64(1.5, 3.0, 5.0), f64(5.0, 3.0, 10.0))
    close(d.log_prob(f64(0.5, 1.2, 2.5)), [-0.73608101, -1.33949965, -2.36878094])
    close(d.mean, [1.66666667, 3.0, 1.25])
    close(d.mode, [NAN, 0.2, 0.5])
    close(d.variance, [16.66666667, NAN, 1.35416667])
    dm.manual_seed(0)
    df2 = dm.tensor(12.0, requires_grad=True)
    f = D.FisherSnedecor(dm.tensor(5.0), df2)
    s = f.rsample((20000,))
    assert abs(float(s.mean().item()) - 1.2) < 0.03
    s.mean().backward()
    assert abs(df2.grad.item() - (-0.02)) < 0.005  # d/d df2 of df2 / (df2 - 2)
    with pytest.raises(ValueError):
        D.FisherSnedecor(-1.0, 2.0, validate_args=True)


@pytest.mark.parametrize(
    "make",
    [
        lambda: D.Gamma(1.5, 1.0),
        lambda: D.Beta(2.0, 1.0),
        lambda: D.Chi2(3.0),
        lambda: D.StudentT(3.0),
        lambda: D.FisherSnedecor(3.0, 5.0),
        lambda: D.VonMises(0.0, 1.0),
        lambda: D.Gamma(dm.tensor(1.5), dm.tensor(1.0)),
    ],
)
def test_scalar_parameter_sample_shapes(make):
    # Host-side samplers used to return shape (1,) for 0-d parameters.
    d = make()
    assert tuple(d.sample().shape) == ()
    assert tuple(d.sample((3,)).shape) == (3,)
    assert tuple(d.sample((2, 3)).shape) == (2, 3)


def test_lkj_cholesky_log_prob_and_shapes():
    row2 = np.array([-0.28, 0.48, 0.96 * math.sqrt(0.75)])
    row2 /= np.linalg.norm(row2)
    v = dm.tensor(np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], row2]))
    d = D.LKJCholesky(3, f64(0.5, 1.0, 3.0))
    close(d.log_prob(v), [-2.34636122, -1.81945614, -1.88206655])
    assert d.batch_shape == (3,) and d.event_shape == (3, 3)
    assert tuple(d.sample((2,)).shape) == (2, 3, 3, 3)
    e = d.expand((4, 3))
    assert tuple(e.sample().shape) == (4, 3, 3, 3)
    np.testing.assert_allclose(
        e.log_prob(v).numpy(), np.broadcast_to(d.log_prob(v).numpy(), (4, 3))
    )
    with pytest.raises(ValueError):
        D.LKJCholesky(1)
    with pytest.raises(ValueError):
        D.LKJCholesky(3, -1.0, validate_args=True)
    with pytest.raises(ValueError):
        D.LKJCholesky(2, validate_args=True).log_prob(dm.eye(2) * 2)


@pytest.mark.parametrize("dim, eta", [(3, 1.0), (4, 2.0), (5, 0.5)])
def test_lkj_cholesky_sample_marginals(dim, eta):
    # Each off-diagonal correlation is 2 Beta(b, b) - 1 with b = eta - 1 + dim / 2, whose
    # variance is 1 / (2 b + 1) (PyTorch's sampler misses this for rows >= 2).
    dm.manual_seed(0)
    chol = D.LKJCholesky(dim, eta).sample((20000,)).numpy().astype(np.float64)
    np.testing.assert_allclose((chol**2).sum(-1), 1.0, atol=1e-5)
    assert np.allclose(np.triu(chol, 1), 0.0)
    corr = chol @ np.swapaxes(chol, -1, -2)
    want = 1 / (2 * (eta - 1 + dim / 2) + 1)
    for i in range(dim):
        for j in range(i + 1, dim):
            assert abs(corr[:, i, j].mean()) < 0.02
            assert abs(corr[:, i, j].var() - want) < 0.08 * want


# --- gradients of lazily derived parameters ---------------------------------------------------


def test_entropy_gradient_survives_a_prior_sample():
    # ``sample`` runs under no_grad; the derived ``probs`` it computes first is cached and used
    # to be cached without a graph, so an entropy bonus (RL) got a zero gradient.
    logits = dm.tensor([[0.1, 0.5, -0.3]], requires_grad=True)
    c = D.Categorical(logits=logits)
    c.sample()
    c.entropy().sum().backward()
    close(logits.grad, [0.0329, -0.1397, 0.1068], 1e-4)
    bl = dm.tensor([0.3], requires_grad=True)
    b = D.Bernoulli(logits=bl)
    b.sample()
    b.entropy().sum().backward()
    close(bl.grad, [-0.0733], 1e-4)
    gl = dm.tensor([0.3, -1.0], dtype=dm.float64, requires_grad=True)
    g = D.Geometric(logits=gl)
    g.sample()
    g.entropy().sum().backward()
    close(gl.grad, [-0.63292193, -0.85153355])
    tril = dm.tensor([[1.0, 0.0], [0.5, 2.0]], requires_grad=True)
    m = D.MultivariateNormal(dm.zeros(2), scale_tril=tril)
    with dm.no_grad():
        _ = m.covariance_matrix  # first use (and cache) under no_grad
    m.covariance_matrix.sum().backward()
    assert tril.grad is not None


def test_one_hot_straight_through():
    logits = dm.tensor([[0.1, 0.5, -0.3]], dtype=dm.float64, requires_grad=True)
    d = D.OneHotCategoricalStraightThrough(logits=logits)
    assert d.has_rsample
    s = d.rsample((5,))
    assert tuple(s.shape) == (5, 1, 3)
    np.testing.assert_allclose(s.detach().numpy().sum(-1), 1.0)
    (s * f64(1.0, 2.0, 3.0)).sum().backward()
    close(logits.grad, [-1.41635146, 0.24593302, 1.17041843])


# --- more transforms and families -------------------------------------------------------------


def test_softplus_stick_breaking_independent_transforms():
    x = f64(0.3, -1.2, 2.0)
    sp = T.SoftplusTransform()
    y = sp(x)
    close(y, [0.85435524, 0.26328247, 2.12692801])
    close(sp.log_abs_det_jacobian(x, y), [-0.55435524, -1.46328247, -0.12692801])
    close(sp.inv(y), [0.3, -1.2, 2.0])
    sb = T.StickBreakingTransform()
    y = sb(x)
    close(y, [0.31032244, 0.09026917, 0.52795716, 0.07145123])
    close(sb.log_abs_det_jacobian(x, y), [-6.85258297])
    close(sb.inv(y), [0.3, -1.2, 2.0])
    assert sb.forward_shape((4, 3)) == (4, 4) and sb.inverse_shape((4, 4)) == (4, 3)
    assert (sb.domain, sb.codomain) == ("IndependentConstraint(Real(), 1)", "Simplex()")
    it = T.IndependentTransform(T.ExpTransform(), 1)
    xs = dm.tensor([[0.1, 0.2], [0.3, -0.4]], dtype=dm.float64)
    close(it.log_abs_det_jacobian(xs, it(xs)), [0.3, -0.1])
    assert it.domain == "IndependentConstraint(Real(), 1)"
    assert it.codomain == "IndependentConstraint(GreaterThan(lower_bound=0.0), 1)"
    close(T.identity_transform(x), [0.3, -1.2, 2.0])


def test_inverse_gamma():
    d = D.InverseGamma(f64(0.8, 3.0, 5.0), f64(1.0, 2.0, 0.5))
    v = f64(0.5, 1.2, 0.1)
    close(d.log_prob(v), [-0.90439475, -1.00965853, 2.17172082])
    close(d.mean, [INF, 1.0, 0.125])
    close(d.mode, [0.55555556, 0.5, 0.08333333])
    close(d.variance, [INF, 1.0, 0.00520833])
    close(d.entropy(), [2.6890751, 0.69515702, -1.55179936])
    close(d.cdf(v), [0.09429, 0.7659955, 0.44049329])
    dm.manual_seed(0)
    conc = dm.tensor(6.0, requires_grad=True)
    s = D.InverseGamma(conc, dm.tensor(2.0)).rsample((20000,))
    assert abs(float(s.mean().item()) - 0.4) < 0.01
    s.mean().backward()
    assert abs(conc.grad.item() - (-2 / 25)) < 0.005  # d/da of rate / (a - 1)
    with pytest.raises(ValueError):
        D.InverseGamma(1.0, 1.0, validate_args=True).log_prob(dm.tensor(-1.0))


def test_logistic_normal():
    d = D.LogisticNormal(f64(0.2, -0.5), f64(1.0, 0.7))
    assert d.batch_shape == () and d.event_shape == (3,)
    close(d.log_prob(f64(0.3, 0.5, 0.2)), [-0.08417133])
    s = d.rsample((4,))
    assert tuple(s.shape) == (4, 3)
    np.testing.assert_allclose(s.detach().numpy().sum(-1), 1.0)
    scalar = D.LogisticNormal(0.0, 1.0)
    assert scalar.batch_shape == () and scalar.event_shape == (2,)
