"""Confirmed mismatches from the session-24 differential fuzz of ``democratising.linalg``,
``democratising.special`` and ``democratising.distributions`` against PyTorch (CPU).

Each test encodes the correct result (PyTorch's value, checked against mpmath where PyTorch's
own accuracy was in doubt) and is marked ``xfail(strict=True)`` until the cause named in its
reason is fixed; a fix then turns the xfail into an unexpected pass, which fails the run.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
import democratising.distributions as D
import democratising.linalg as LA
import democratising.special as S


def test_zeta_float32_large_x_is_not_nan() -> None:
    """``zeta(x, q)`` for a large ``x`` is dominated by ``q ** -x``; float32 gave NaN."""
    x = dm.tensor([39.824501037597656, 100.0, 130.2510223388672])
    q = dm.tensor([0.8260946273803711, 2.0, 0.2737324833869934])
    got = S.zeta(x, q).numpy().astype(np.float64)
    want = np.array([2014.869384765625, 7.888609052210118e-31, math.inf])
    np.testing.assert_allclose(got, want, rtol=1e-5)


@pytest.mark.parametrize(("value", "dtype"), [(-1e-8, dm.float32), (-1e-20, dm.float64)])
def test_ndtri_negative_probability_is_nan(value: float, dtype: dm.dtype) -> None:
    """A probability below 0 has no quantile: PyTorch answers NaN."""
    assert math.isnan(S.ndtri(dm.tensor([value], dtype=dtype)).tolist()[0])


@pytest.mark.parametrize(
    ("value", "dtype", "want"),
    [(1e-40, dm.float32, -13.310921669006348), (1e-310, dm.float64, -37.663060331949524)],
)
def test_ndtri_subnormal_probability(value: float, dtype: dm.dtype, want: float) -> None:
    """The normal quantile of a subnormal probability (PyTorch's value, mpmath agrees)."""
    got = S.ndtri(dm.tensor([value], dtype=dtype)).tolist()[0]
    assert got == pytest.approx(want, rel=1e-6)


def test_bessel_y0_y1_float32_subnormal() -> None:
    """``Y0(x) ~ (2/pi)(ln(x/2) + gamma)`` at ``x = 1e-40``; ``Y1`` overflows to ``-inf``."""
    x = dm.tensor([1e-40])
    assert S.bessel_y0(x).tolist()[0] == pytest.approx(-58.70865249633789, rel=1e-5)
    assert S.bessel_y1(x).tolist()[0] == -math.inf


def test_gammaln_relative_precision_near_roots() -> None:
    """``lgamma`` near its zeros at 1 and 2 (values from mpmath; PyTorch matches them)."""
    x = dm.tensor([0.9999999, 1.0000001, 2.0000001, 1.9999999], dtype=dm.float64)
    want = np.array(
        [
            5.7721574684441928e-8,
            -5.7721558299185071e-8,
            4.2278436665324979e-8,
            -4.2278430309861298e-8,
        ]
    )
    np.testing.assert_allclose(S.gammaln(x).numpy(), want, rtol=1e-12)


_Q_TINY = 3.1448999835323846e-11  # mpmath, 50 digits


def test_gammaincc_tiny_shape_precision() -> None:
    """``Q(1e-8, 1)``: PyTorch gives 2.1938394014828178e-09 (mpmath 2.19383936640e-09)."""
    got = S.gammaincc(dm.tensor([1e-8], dtype=dm.float64), dm.tensor([1.0], dtype=dm.float64))
    assert got.tolist()[0] == pytest.approx(2.19383936640e-09, rel=1e-10, abs=0.0)
    # Q(1.61e-10, 1.07), from mpmath (PyTorch's is 1.8e-6 off): no 1 - P cancellation.
    got = S.gammaincc(dm.tensor([1.61e-10], dtype=dm.float64), dm.tensor([1.07], dtype=dm.float64))
    assert got.tolist()[0] == pytest.approx(_Q_TINY, rel=1e-12, abs=0.0)


def test_cholesky_of_empty_matrix() -> None:
    """PyTorch returns an empty factor (and zero info) for 0x0 matrices."""
    assert LA.cholesky(dm.zeros(0, 0)).shape == (0, 0)
    factor, info = LA.cholesky_ex(dm.zeros(2, 0, 0))
    assert factor.shape == (2, 0, 0)
    assert info.tolist() == [0, 0]


@pytest.mark.parametrize(
    ("shape", "order", "want"),
    [((2, 0, 0), 1, [0.0, 0.0]), ((3, 0), 1, 0.0), ((0, 3), math.inf, 0.0)],
)
def test_matrix_norm_max_orders_on_empty(
    shape: tuple[int, ...], order: float, want: object
) -> None:
    """PyTorch's ``matrix_norm`` with ``ord=1`` or ``inf`` is 0 on an empty matrix."""
    assert LA.matrix_norm(dm.zeros(shape), ord=order).tolist() == want


def test_vector_norm_negative_order_on_empty_raises() -> None:
    """PyTorch raises: a negative-order norm has no identity on an empty input."""
    with pytest.raises((RuntimeError, ValueError)):
        LA.vector_norm(dm.zeros(0), ord=-1)


def test_continuous_bernoulli_cdf_at_infinity() -> None:
    """The cdf is 0 below the support and 1 above it, infinities included."""
    dist = D.ContinuousBernoulli(probs=dm.tensor(0.3), validate_args=False)
    got = dist.cdf(dm.tensor([math.inf, -math.inf, 2.0, -1.0])).tolist()
    assert got == [1.0, 0.0, 1.0, 0.0]
