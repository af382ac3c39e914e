"""Bugs found by the session-25 differential fuzz of ``democratising.distributions`` against
``torch.distributions`` (CPU). Each test encodes PyTorch's result (recorded as constants, no
torch import); all are fixed now."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
import democratising.distributions as D


def _t(values: object) -> dm.Tensor:
    return dm.tensor(np.asarray(values, dtype=np.float64))


# --- TransformedDistribution.log_prob does not check the value against its support -------------
# torch: ValueError("Expected value argument ... to be within the support ...") for each of these.


def test_transformed_sigmoid_log_prob_outside_support_raises() -> None:
    d = D.TransformedDistribution(D.Normal(0.0, 1.0), [D.SigmoidTransform()])
    with pytest.raises(ValueError):
        d.log_prob(_t(1.5))  # dm returns -112.06 (garbage from logit(1.5) = nan path)


def test_transformed_exp_log_prob_at_zero_raises() -> None:
    d = D.TransformedDistribution(D.Normal(0.0, 1.0), [D.ExpTransform()])
    with pytest.raises(ValueError):
        d.log_prob(_t(0.0))  # support is GreaterThan(0); dm returns nan


def test_relaxed_bernoulli_log_prob_outside_support_raises() -> None:
    d = D.RelaxedBernoulli(_t(0.5), probs=_t(0.3))
    with pytest.raises(ValueError):
        d.log_prob(_t(1.5))  # dm returns 6.43


def test_relaxed_one_hot_categorical_log_prob_off_simplex_raises() -> None:
    d = D.RelaxedOneHotCategorical(_t(0.5), probs=_t([0.3, 0.7]))
    with pytest.raises(ValueError):
        d.log_prob(_t([0.5, 0.7]))  # dm returns -1.14


def test_logistic_normal_log_prob_off_simplex_raises() -> None:
    d = D.LogisticNormal(_t([0.0, 0.0]), _t([1.0, 1.0]))
    with pytest.raises(ValueError):
        d.log_prob(_t([0.5, 0.7, 0.1]))  # dm returns -3696.1


# --- kl_divergence misses the infinite cases when q puts zero mass where p does not -----------


def test_kl_categorical_zero_q_mass_is_inf() -> None:
    kl = D.kl_divergence(D.Categorical(_t([0.5, 0.5])), D.Categorical(_t([0.0, 1.0])))
    assert math.isinf(float(kl.item()))  # torch: inf; dm: 17.33 (-log of the clamp eps)


def test_kl_one_hot_categorical_zero_q_mass_is_inf() -> None:
    p = D.OneHotCategorical(_t([0.5, 0.5]))
    q = D.OneHotCategorical(_t([0.0, 1.0]))
    assert math.isinf(float(D.kl_divergence(p, q).item()))


def test_kl_bernoulli_degenerate_q_is_inf() -> None:
    p = D.Bernoulli(_t([0.0, 1.0, 0.5, 0.5]))
    q = D.Bernoulli(_t([0.3, 0.7, 1.0, 0.0]))
    got = D.kl_divergence(p, q).numpy()
    expected = np.array([0.35667494393873245, 0.35667494393873245, np.inf, np.inf])
    np.testing.assert_allclose(got, expected, rtol=1e-7)  # dm: [.., 17.33, 17.33]


# --- MultivariateNormal.log_prob does not validate the value (NaN is outside Real()) -----------


def test_mvn_log_prob_nan_value_raises() -> None:
    d = D.MultivariateNormal(_t([0.0, 0.0]), scale_tril=_t([[1.0, 0.0], [0.5, 1.0]]))
    with pytest.raises(ValueError):
        d.log_prob(_t([float("nan"), 0.0]))  # dm returns nan


# --- Bernoulli.mode is NaN where probs == 0.5 (PyTorch: the mode is ambiguous) -----------------


def test_bernoulli_mode_at_half_is_nan() -> None:
    got = D.Bernoulli(_t([0.2, 0.5, 0.8])).mode.numpy()
    np.testing.assert_array_equal(got, np.array([0.0, np.nan, 1.0]))  # dm: [0, 0, 1]


# --- Multinomial accepts a negative total_count -------------------------------------------------


def test_multinomial_negative_total_count_raises() -> None:
    with pytest.raises(ValueError):
        D.Multinomial(-1, _t([0.5, 0.5]))  # dm builds it; mean is [-0.5, -0.5]


# --- API gaps -----------------------------------------------------------------------------------


def test_binomial_param_shape() -> None:
    d = D.Binomial(_t(3.0), _t([0.2, 0.5]))
    assert tuple(d.param_shape) == (2,)  # dm: AttributeError


def test_support_is_a_constraint_with_check() -> None:
    # torch: Normal(0, 1).support.check(tensor([1., nan])) -> tensor([True, False]);
    # dm's support is the str "Real()", which has no ``check``.
    got = D.Normal(0.0, 1.0).support.check(_t([1.0, float("nan")]))  # type: ignore[attr-defined]
    np.testing.assert_array_equal(got.numpy(), np.array([True, False]))
