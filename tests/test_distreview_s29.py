"""Regressions from the session-29 review of the distributions package against PyTorch (the
constants were computed with PyTorch's float64 implementations, or in closed form)."""

from __future__ import annotations

import math

import pytest

import democratising as dm
import democratising.distributions as D
from democratising.errors import ShapeError

_C = [[2.0, 0.5], [0.5, 1.0]]
_L = [[1.0, 0.0], [0.3, 1.2]]
# PyTorch's KL(W(df, C) || W(6, scale_tril=L)) and the reverse, unbatched, for df = 4 and 5.
_KL_PQ = [1.2766421787707496, 1.0730364474233292]
_KL_QP = [1.3629883214849134, 1.052969278894979]


def _f64(x: object) -> dm.Tensor:
    return dm.tensor(x, dtype=dm.float64)


def test_transformed_cdf_validates_the_base_value_shape() -> None:
    # PyTorch checks the inverse-transformed value against the base before its ``cdf``, so a bad
    # shape is a ValueError even where the base has no ``cdf`` (here ``Independent``).
    d = D.LogisticNormal(dm.zeros(3), dm.ones(3), validate_args=True)
    with pytest.raises(ShapeError, match="right-most size"):
        d.cdf(dm.tensor([1.0]))
    rb = D.RelaxedBernoulli(dm.tensor(0.5), probs=dm.tensor([0.2, 0.4, 0.6]), validate_args=True)
    with pytest.raises(ValueError, match="broadcastable"):
        rb.cdf(dm.full((6,), 0.5))


def test_transformed_cdf_still_computes_valid_values() -> None:
    d = D.LogNormal(dm.tensor([0.0, 1.0]), dm.tensor([1.0, 2.0]), validate_args=True)
    got = d.cdf(dm.tensor([1.0, math.e])).tolist()
    assert got == pytest.approx([0.5, 0.5], abs=1e-6)


def test_wishart_number_df_with_batched_matrices() -> None:
    # A number ``df`` is expanded to the matrices' batch (PyTorch's stays 0-d and its
    # ``mean``/``mode``/``variance`` fail to reshape it).
    cov = _f64([_C, [[1.0, 0.0], [0.0, 3.0]]])
    w = D.Wishart(5.0, covariance_matrix=cov)
    assert tuple(w.batch_shape) == (2,)
    assert tuple(w.df.shape) == (2,)
    flat = [v for m in w.mean.tolist() for row in m for v in row]
    assert flat == pytest.approx([10.0, 2.5, 2.5, 5.0, 5.0, 0.0, 0.0, 15.0])
    # mode = (df - p - 1) cov; variance_ij = df (c_ij^2 + c_ii c_jj)
    flat = [v for m in w.mode.tolist() for row in m for v in row]
    assert flat == pytest.approx([4.0, 1.0, 1.0, 2.0, 2.0, 0.0, 0.0, 6.0])
    flat = [v for m in w.variance.tolist() for row in m for v in row]
    assert flat == pytest.approx([40.0, 11.25, 11.25, 10.0, 10.0, 15.0, 15.0, 90.0])
    assert tuple(w.rsample((3,)).shape) == (3, 2, 2, 2)


def test_wishart_accepts_nested_list_matrices() -> None:
    w = D.Wishart(4, covariance_matrix=[[1, 0], [0, 1]])
    assert w.mean.dtype == dm.get_default_dtype()
    assert w.mean.tolist() == [[4.0, 0.0], [0.0, 4.0]]


def test_wishart_kl_batched_equals_unbatched_per_element() -> None:
    q = D.Wishart(_f64(6.0), scale_tril=_f64(_L))
    for i, df in enumerate((4.0, 5.0)):
        p = D.Wishart(_f64(df), covariance_matrix=_f64(_C))
        assert D.kl_divergence(p, q).item() == pytest.approx(_KL_PQ[i], rel=1e-10)
        assert D.kl_divergence(q, p).item() == pytest.approx(_KL_QP[i], rel=1e-10)
    pb = D.Wishart(_f64([4.0, 5.0]), covariance_matrix=_f64(_C))
    assert D.kl_divergence(pb, q).tolist() == pytest.approx(_KL_PQ, rel=1e-10)
    assert D.kl_divergence(q, pb).tolist() == pytest.approx(_KL_QP, rel=1e-10)


def test_gamma_cdf_promotes_to_the_value_dtype() -> None:
    # float32 parameters and a float64 value: PyTorch's ``gammainc`` promotes to float64.
    x = _f64(3.0)
    got = D.Chi2(4.0).cdf(x)
    assert got.dtype == dm.float64
    assert got.item() == pytest.approx(1 - 2.5 * math.exp(-1.5), rel=1e-12)
    g = D.Gamma(dm.tensor([2.0, 3.0]), dm.tensor([1.0, 0.5])).cdf(_f64([1.5, 2.0]))
    assert g.dtype == dm.float64
    assert g.tolist() == pytest.approx([0.4421745996289252, 0.08030139707139418], rel=1e-6)
    # Matching dtypes are unchanged.
    assert D.Gamma(dm.tensor(2.0), dm.tensor(1.0)).cdf(dm.tensor(1.5)).dtype == dm.float32


@pytest.mark.parametrize(
    ("make", "x", "expected"),
    [
        (lambda: D.Gamma(dm.tensor(2.0), dm.tensor(1.0)), 1.5, math.log(1.5) - 1.5),
        (lambda: D.Chi2(4.0), 3.0, math.log(3.0) - 1.5 - 2 * math.log(2.0)),
        (lambda: D.HalfCauchy(1.0), 0.5, math.log(2 / math.pi / 1.25)),
        (lambda: D.Uniform(0.0, 2.0), 1.0, -math.log(2.0)),
    ],
)
def test_log_prob_keeps_the_parameter_dtype(make: object, x: float, expected: float) -> None:
    # PyTorch's Gamma/HalfCauchy take the value in the parameters' dtype, and Uniform's density
    # is in its bounds' dtype: float32 parameters and a float64 value give float32.
    d = make()  # type: ignore[operator]
    got = d.log_prob(_f64([x, x]))
    assert got.dtype == dm.float32
    assert got.tolist() == pytest.approx([expected, expected], rel=1e-6)
