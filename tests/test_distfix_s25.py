"""Regression tests for the session-25 distribution fixes: ``constraints`` objects (supports,
``arg_constraints``, transform domains), support validation in ``TransformedDistribution`` and
``MultivariateNormal``, the infinite KL cases, ``Bernoulli.mode``, ``Multinomial``/``Binomial``
argument handling and ``biject_to``/``transform_to``. Expected values were computed with
PyTorch 2.x (CPU, float64) and are hard-coded here."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
import democratising.distributions as D
from democratising.distributions import biject_to, constraints, transform_to
from democratising.distributions import transforms as T


def _t(values: object) -> dm.Tensor:
    return dm.tensor(np.asarray(values, dtype=np.float64))


def _check(c: constraints.Constraint, values: object) -> list[bool]:
    return [bool(v) for v in np.asarray(c.check(_t(values)).numpy()).reshape(-1)]


# --- constraints --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("constraint", "values", "expected"),
    [
        (constraints.real, [1.0, math.nan, -math.inf], [True, False, True]),
        (constraints.positive, [0.0, 1.0, -1.0], [False, True, False]),
        (constraints.nonnegative, [0.0, 1.0, -1.0], [True, True, False]),
        (constraints.unit_interval, [0.0, 1.0, 1.5, -0.1], [True, True, False, False]),
        (constraints.boolean, [0.0, 1.0, 0.5], [True, True, False]),
        (constraints.nonnegative_integer, [0.0, 1.0, 1.5, -1.0, math.inf], [1, 1, 0, 0, 0]),
        (constraints.positive_integer, [0.0, 1.0, 2.5], [False, True, False]),
        (constraints.interval(0.0, 2.0), [0.0, 2.0, 3.0], [True, True, False]),
        (constraints.half_open_interval(0.0, 2.0), [0.0, 2.0, 1.0], [True, False, True]),
        (constraints.greater_than(1.0), [1.0, 2.0], [False, True]),
        (constraints.greater_than_eq(1.0), [1.0, 0.0], [True, False]),
        (constraints.less_than(1.0), [1.0, 0.0], [False, True]),
        (constraints.integer_interval(0, 3), [0.0, 3.0, 4.0, 1.5], [True, True, False, False]),
        (constraints.simplex, [[0.3, 0.7], [0.5, 0.7], [-0.1, 1.1]], [True, False, False]),
        (constraints.real_vector, [[1.0, math.nan], [1.0, 2.0]], [False, True]),
        (constraints.one_hot, [[0.0, 1.0], [1.0, 1.0], [0.5, 0.5]], [True, False, False]),
        (constraints.multinomial(3), [[1.0, 2.0], [2.0, 2.0], [-1.0, 1.0]], [True, False, False]),
        (constraints.independent(constraints.positive, 1), [[1.0, 2.0], [1.0, -1.0]], [1, 0]),
        (
            constraints.lower_cholesky,
            [[[1.0, 0.0], [0.5, 1.0]], [[1.0, 0.2], [0.5, 1.0]], [[1.0, 0.0], [0.5, -1.0]]],
            [True, False, False],
        ),
        (
            constraints.corr_cholesky,
            [[[1.0, 0.0], [0.6, 0.8]], [[1.0, 0.0], [0.5, 1.0]]],
            [True, False],
        ),
        (
            constraints.positive_definite,
            [[[2.0, 0.5], [0.5, 1.0]], [[1.0, 2.0], [2.0, 1.0]]],
            [True, False],
        ),
        # As PyTorch: a batch with an asymmetric matrix reports symmetry only.
        (
            constraints.positive_definite,
            [[[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.3], [0.0, 1.0]]],
            [True, False],
        ),
        (
            constraints.positive_semidefinite,
            [[[1.0, 1.0], [1.0, 1.0]], [[1.0, 2.0], [2.0, 1.0]]],
            [True, False],
        ),
        (
            constraints.symmetric,
            [[[2.0, 0.5], [0.5, 1.0]], [[1.0, 0.3], [0.0, 1.0]]],
            [True, False],
        ),
    ],
)
def test_constraint_check_matches_pytorch(
    constraint: constraints.Constraint, values: object, expected: list[object]
) -> None:
    assert _check(constraint, values) == [bool(e) for e in expected]


def test_constraint_event_dim_discrete_and_names() -> None:
    assert constraints.real.event_dim == 0 and not constraints.real.is_discrete
    assert constraints.simplex.event_dim == 1
    assert constraints.positive_definite.event_dim == 2
    assert constraints.independent(constraints.simplex, 2).event_dim == 3
    assert constraints.nonnegative_integer.is_discrete and constraints.one_hot.is_discrete
    assert repr(constraints.positive) == "GreaterThan(lower_bound=0.0)"
    assert repr(constraints.real_vector) == "IndependentConstraint(Real(), 1)"
    assert (
        repr(constraints.integer_interval(0, 2)) == "IntegerInterval(lower_bound=0, upper_bound=2)"
    )
    # A constraint still equals the name the package used to store as a string.
    assert constraints.unit_interval == "Interval(lower_bound=0.0, upper_bound=1.0)"
    assert constraints.positive != constraints.nonnegative
    assert constraints.greater_than(0.0) == constraints.positive


def test_cat_and_stack_constraints() -> None:
    cat = constraints.cat([constraints.positive, constraints.real], 0, [1, 2])
    assert _check(cat, [-1.0, -1.0, 2.0]) == [False, True, True]
    stack = constraints.stack([constraints.positive, constraints.real], 1)
    got = stack.check(_t([[1.0, -1.0], [-1.0, 2.0]])).numpy()
    np.testing.assert_array_equal(got, np.array([[True, True], [False, True]]))


def test_independent_needs_enough_dimensions() -> None:
    with pytest.raises(ValueError):
        constraints.independent(constraints.real, 2).check(_t([1.0, 2.0]))


def test_distribution_supports_are_constraints() -> None:
    assert _check(D.Normal(0.0, 1.0).support, [1.0, math.nan]) == [True, False]
    cat = D.Categorical(_t([0.2, 0.3, 0.5]))
    assert cat.support == constraints.integer_interval(0, 2)
    assert _check(cat.support, [0.0, 2.0, 3.0, 0.5]) == [True, True, False, False]
    uni = D.Uniform(_t(1.0), _t(2.0))
    assert _check(uni.support, [0.5, 1.0, 2.0]) == [False, True, True]
    assert _check(uni.arg_constraints["low"], [1.5, 2.5]) == [True, False]
    binom = D.Binomial(_t(3.0), _t(0.4))
    assert repr(binom.support) == "IntegerInterval(lower_bound=0, upper_bound=3.0)"
    assert _check(D.Multinomial(3, _t([0.5, 0.5])).support, [[1.0, 2.0], [2.0, 2.0]]) == [1, 0]
    assert isinstance(D.Dirichlet(_t([1.0, 2.0])).support, constraints.Constraint)
    assert D.Exponential(1.0).arg_constraints["rate"] is constraints.positive
    assert D.MultivariateNormal(_t([0.0]), _t([[1.0]])).support.event_dim == 1


def test_transform_domains_are_constraints() -> None:
    assert T.ExpTransform().codomain is constraints.positive
    assert T.SigmoidTransform().codomain is constraints.unit_interval
    assert T.StickBreakingTransform().codomain is constraints.simplex
    assert T.ExpTransform().inv.domain is constraints.positive
    affine = T.AffineTransform(0.0, 2.0, event_dim=1)
    assert affine.domain.event_dim == 1 and affine.codomain == constraints.real_vector
    compose = T.ComposeTransform([T.ExpTransform(), T.AffineTransform(0.0, 2.0, event_dim=1)])
    assert compose.domain == constraints.real_vector


# --- support validation in log_prob -------------------------------------------------------------


def test_transformed_distribution_validates_its_support() -> None:
    sig = D.TransformedDistribution(D.Normal(_t(0.0), _t(1.0)), [T.SigmoidTransform()])
    with pytest.raises(ValueError, match="support"):
        sig.log_prob(_t(1.5))
    got = sig.log_prob(_t([0.25, 0.5])).numpy()
    np.testing.assert_allclose(got, [0.1515634199607081, 0.4673558279152179], rtol=1e-10)
    exp = D.TransformedDistribution(D.Normal(_t(0.0), _t(1.0)), [T.ExpTransform()])
    with pytest.raises(ValueError, match="support"):
        exp.log_prob(_t(0.0))
    got = exp.log_prob(_t([0.5, 2.0])).numpy()
    np.testing.assert_allclose(got, [-0.46601785960382813, -1.8523122207237188], rtol=1e-10)
    base = D.Normal(0.0, 1.0, validate_args=False)
    loose = D.TransformedDistribution(base, [T.ExpTransform()], validate_args=False)
    assert math.isnan(float(loose.log_prob(_t(-1.0)).item()))


def test_relaxed_and_logistic_normal_validate_their_support() -> None:
    rb = D.RelaxedBernoulli(_t(0.5), probs=_t(0.3))
    with pytest.raises(ValueError):
        rb.log_prob(_t(1.5))
    assert float(rb.log_prob(_t(0.2)).item()) == pytest.approx(-0.25279481345134047, rel=1e-9)
    roc = D.RelaxedOneHotCategorical(_t(0.5), probs=_t([0.3, 0.7]))
    with pytest.raises(ValueError):
        roc.log_prob(_t([0.5, 0.7]))
    got = float(roc.log_prob(_t([0.4, 0.6])).item())
    assert got == pytest.approx(-0.7544415484180025, rel=1e-9)
    ln = D.LogisticNormal(_t([0.0, 0.0]), _t([1.0, 1.0]))
    with pytest.raises(ValueError):
        ln.log_prob(_t([0.5, 0.7, 0.1]))
    assert float(ln.log_prob(_t([0.2, 0.3, 0.5])).item()) == pytest.approx(1.2979829150035789)


def test_multivariate_normals_reject_nan_values() -> None:
    mvn = D.MultivariateNormal(_t([0.0, 0.0]), scale_tril=_t([[1.0, 0.0], [0.5, 1.0]]))
    with pytest.raises(ValueError, match="support"):
        mvn.log_prob(_t([math.nan, 0.0]))
    low_rank = D.LowRankMultivariateNormal(_t([0.0, 0.0]), _t([[1.0], [0.5]]), _t([1.0, 1.0]))
    with pytest.raises(ValueError, match="support"):
        low_rank.log_prob(_t([0.0, math.nan]))


def test_mixture_same_family_validates_the_component_support() -> None:
    mix = D.MixtureSameFamily(
        D.Categorical(_t([0.3, 0.7])), D.Gamma(_t([1.0, 2.0]), _t([1.0, 2.0]))
    )
    with pytest.raises(ValueError, match="support"):
        mix.log_prob(_t(-0.5))
    got = mix.log_prob(_t([0.5, 2.0])).numpy()
    np.testing.assert_allclose(got, [-0.36098361931499795, -1.9437353763534457], rtol=1e-10)


def test_discrete_support_rejects_infinity() -> None:
    for d in (D.Poisson(_t(2.0)), D.Geometric(_t(0.3)), D.NegativeBinomial(_t(3.0), _t(0.3))):
        with pytest.raises(ValueError):
            d.log_prob(_t(math.inf))


# --- KL, mode, argument handling ----------------------------------------------------------------


def test_kl_infinite_where_q_has_no_mass() -> None:
    kl = D.kl_divergence(D.Categorical(_t([[0.5, 0.5], [0.0, 1.0]])), D.Categorical(_t([0.0, 1.0])))
    np.testing.assert_array_equal(kl.numpy(), [math.inf, 0.0])
    p = D.OneHotCategorical(_t([0.5, 0.5]))
    assert math.isinf(float(D.kl_divergence(p, D.OneHotCategorical(_t([1.0, 0.0]))).item()))
    got = D.kl_divergence(
        D.Bernoulli(_t([0.0, 1.0, 0.5, 0.5])), D.Bernoulli(_t([0.3, 0.7, 1.0, 0.0]))
    )
    expected = [0.35667494393873245, 0.35667494393873245, math.inf, math.inf]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-7)
    # p without mass where q has none is finite (zero here).
    same = D.kl_divergence(D.Bernoulli(_t([0.0, 1.0])), D.Bernoulli(_t([0.0, 1.0])))
    np.testing.assert_array_equal(same.numpy(), [0.0, 0.0])


def test_bernoulli_mode_is_nan_at_one_half() -> None:
    np.testing.assert_array_equal(
        D.Bernoulli(_t([0.2, 0.5, 0.8])).mode.numpy(), [0.0, math.nan, 1.0]
    )
    np.testing.assert_array_equal(D.Bernoulli(logits=_t([0.0, 1.0])).mode.numpy(), [math.nan, 1.0])


def test_multinomial_rejects_negative_total_count() -> None:
    with pytest.raises(ValueError, match="total_count"):
        D.Multinomial(-1, _t([0.5, 0.5]))
    with pytest.raises(ValueError):  # PyTorch's inner Binomial validates regardless
        D.Multinomial(-1, _t([0.5, 0.5]), validate_args=False)
    D.Distribution.set_default_validate_args(False)
    try:
        D.Multinomial(-1, _t([0.5, 0.5]))
    finally:
        D.Distribution.set_default_validate_args(True)


def test_binomial_param_shape() -> None:
    assert tuple(D.Binomial(_t(3.0), _t([0.2, 0.5])).param_shape) == (2,)
    expanded = D.Binomial(_t(3.0), logits=_t([[0.2, 0.5]])).expand((4, 2))
    assert tuple(expanded.param_shape) == (4, 2)


def test_continuous_bernoulli_checks_probs_only_when_asked() -> None:
    assert D.ContinuousBernoulli(_t(1.2)).batch_shape == ()  # PyTorch clamps silently
    with pytest.raises(ValueError):
        D.ContinuousBernoulli(_t(1.2), validate_args=True)


# --- biject_to / transform_to -------------------------------------------------------------------


@pytest.mark.parametrize(
    "constraint",
    [
        constraints.real,
        constraints.positive,
        constraints.greater_than(1.0),
        constraints.less_than(2.0),
        constraints.unit_interval,
        constraints.interval(-1.0, 1.0),
        constraints.independent(constraints.positive, 1),
    ],
)
def test_biject_to_maps_onto_the_constraint_and_inverts(constraint: constraints.Constraint) -> None:
    x = _t([0.3, -2.0, 1.5])
    for registry in (biject_to, transform_to):
        t = registry(constraint)
        y = t(x)
        assert bool(constraint.check(y).all().item())
        np.testing.assert_allclose(t.inv(y).numpy(), x.numpy(), atol=1e-12)


def test_registry_choices_match_pytorch() -> None:
    assert isinstance(biject_to(constraints.unit_interval), T.SigmoidTransform)
    assert isinstance(biject_to(constraints.simplex), T.StickBreakingTransform)
    assert isinstance(transform_to(constraints.simplex), T.SoftmaxTransform)
    positive = biject_to(constraints.positive)
    assert isinstance(positive, T.ComposeTransform)
    assert isinstance(positive.parts[0], T.ExpTransform)
    y = biject_to(constraints.simplex)(_t([0.1, -0.4]))
    assert bool(constraints.simplex.check(y).item())
    with pytest.raises(NotImplementedError, match="Boolean"):
        biject_to(constraints.boolean)
    with pytest.raises(TypeError):
        biject_to.register(3, lambda c: T.ExpTransform())
