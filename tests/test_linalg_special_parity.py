"""``dm.linalg`` and ``dm.special`` where a differential run against PyTorch 2.15 found them
to differ: the values here are NumPy/SciPy references or numbers PyTorch printed."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
from democratising.errors import InvalidValueError
from helpers import gradcheck


def _np(t: dm.Tensor) -> np.ndarray:
    return np.array(t.detach().numpy(), copy=True)


# ---- dm.linalg ----------------------------------------------------------------------------


def test_pinv_hermitian_keeps_the_sign_of_negative_eigenvalues() -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 4, 4))
    a = a + np.swapaxes(a, -1, -2)  # symmetric, indefinite
    got = dm.linalg.pinv(dm.tensor(a), hermitian=True)
    np.testing.assert_allclose(_np(got), np.linalg.pinv(a), rtol=1e-9, atol=1e-10)
    low_rank = np.array([[2.0, 0.0, 0.0], [0.0, -3.0, 0.0], [0.0, 0.0, 0.0]])
    got = dm.linalg.pinv(dm.tensor(low_rank), hermitian=True)
    np.testing.assert_allclose(_np(got), np.diag([0.5, -1.0 / 3.0, 0.0]), atol=1e-12)


def test_logdet_is_nan_without_gradient_where_the_determinant_is_negative() -> None:
    a = dm.tensor(-np.eye(3), requires_grad=True)
    out = dm.logdet(a)
    assert math.isnan(out.item())
    out.backward()
    np.testing.assert_array_equal(_np(a.grad), np.zeros((3, 3)))
    b = dm.tensor(np.diag([2.0, 3.0, 0.5]), requires_grad=True)
    dm.logdet(b).backward()
    np.testing.assert_allclose(_np(b.grad), np.diag([0.5, 1 / 3.0, 2.0]), rtol=1e-12)


@pytest.mark.parametrize("p", [1, -1, math.inf, -math.inf, "fro", "nuc"])
def test_cond_of_a_singular_matrix_is_inf(p: object) -> None:
    sing = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]])
    good = np.array([[2.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 4.0]])
    got = _np(dm.linalg.cond(dm.tensor(np.stack([sing, good])), p))
    assert got[0] == math.inf
    np.testing.assert_allclose(got[1], np.linalg.cond(good, p), rtol=1e-12)


def test_torch_svd_without_uv_returns_square_zero_factors() -> None:
    u, s, v = dm.svd(dm.tensor(np.ones((2, 4, 3))), compute_uv=False)
    assert tuple(u.shape) == (2, 4, 4) and tuple(v.shape) == (2, 3, 3)
    assert not _np(u).any() and not _np(v).any()
    np.testing.assert_allclose(_np(s), np.linalg.svd(np.ones((2, 4, 3)), compute_uv=False))


def test_matrix_power_of_integer_matrices() -> None:
    a = np.array([[1, 2], [3, 4]], dtype=np.int64)
    for n in (0, 1, 3):
        got = dm.linalg.matrix_power(dm.tensor(a), n)
        assert got.dtype == dm.int64
        np.testing.assert_array_equal(_np(got), np.linalg.matrix_power(a, n))
    with pytest.raises(TypeError):  # negative powers need an inverse: floats only
        dm.linalg.matrix_power(dm.tensor(a), -1)


def test_householder_product_rebuilds_q_from_geqrf() -> None:
    rng = np.random.default_rng(1)
    for a in (rng.standard_normal((5, 3)), rng.standard_normal((4, 4))):
        h, tau = np.linalg.qr(a, mode="raw")  # LAPACK geqrf: reflectors (transposed) and tau
        q = np.linalg.qr(a)[0]
        got = dm.linalg.householder_product(dm.tensor(np.ascontiguousarray(h.T)), dm.tensor(tau))
        np.testing.assert_allclose(_np(got), q, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(
            _np(dm.orgqr(dm.tensor(np.ascontiguousarray(h.T)), dm.tensor(tau))), q, atol=1e-12
        )
    # Fewer reflectors than columns, batched: PyTorch's values.
    refl = dm.tensor([[[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]]] * 2)
    t = dm.tensor([[1.5], [0.5]])
    got = _np(dm.linalg.householder_product(refl, t))
    np.testing.assert_allclose(got[0], [[-0.5, -0.75], [-0.75, 0.625], [-3.0, -1.5]], atol=1e-6)
    np.testing.assert_allclose(got[1], [[0.5, -0.25], [-0.25, 0.875], [-1.0, -0.5]], atol=1e-6)


def test_householder_product_gradients_and_errors() -> None:
    rng = np.random.default_rng(2)
    refl = dm.tensor(rng.standard_normal((2, 4, 3)), requires_grad=True)
    tau = dm.tensor(rng.uniform(0.5, 1.5, (2, 2)), requires_grad=True)
    gradcheck(dm.linalg.householder_product, [refl, tau])
    with pytest.raises(dm.ShapeError):
        dm.linalg.householder_product(dm.ones(3, 4), dm.ones(2))
    with pytest.raises(dm.ShapeError):
        dm.linalg.householder_product(dm.ones(4, 3), dm.ones(4))


def test_vector_norm_inf_over_an_empty_dimension_raises_a_runtime_error() -> None:
    x = dm.zeros(0, 3)
    with pytest.raises(InvalidValueError):
        dm.linalg.vector_norm(x, math.inf)
    with pytest.raises(RuntimeError):
        dm.linalg.vector_norm(x, -math.inf, dim=0)
    assert tuple(dm.linalg.vector_norm(x, math.inf, dim=1).shape) == (0,)


def test_matrix_norm_2_of_empty_matrices_is_zero() -> None:
    x = dm.zeros(2, 0, 3)
    for ord in (2, "nuc"):
        np.testing.assert_array_equal(_np(dm.linalg.matrix_norm(x, ord)), [0.0, 0.0])


def test_linalg_error_is_a_runtime_error() -> None:
    assert issubclass(dm.linalg.LinAlgError, RuntimeError)
    with pytest.raises(dm.linalg.LinAlgError):
        dm.linalg.inv(dm.tensor([[1.0, 2.0], [2.0, 4.0]]))
    # Non-finite input to an SVD-based function: PyTorch's LinAlgError, not NumPy's ValueError.
    bad = dm.tensor([[math.nan, 1.0], [1.0, 2.0]])
    for fn in (dm.linalg.svdvals, dm.linalg.pinv, dm.linalg.matrix_rank, dm.linalg.cond):
        with pytest.raises(dm.linalg.LinAlgError):
            fn(bad)
    a = dm.tensor([[math.nan, 1.0], [1.0, 2.0]], requires_grad=True)
    assert math.isnan(dm.linalg.det(a).item())


# ---- dm.special -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [dm.float32, dm.float64])
def test_erf_erfc_ndtr_at_infinity(dtype: dm.dtype) -> None:
    x = dm.tensor([math.inf, -math.inf, 0.0], dtype=dtype)
    np.testing.assert_array_equal(_np(dm.special.erf(x)), [1.0, -1.0, 0.0])
    np.testing.assert_array_equal(_np(dm.special.erfc(x)), [0.0, 2.0, 1.0])
    np.testing.assert_array_equal(_np(dm.special.ndtr(x)), [1.0, 0.0, 0.5])
    np.testing.assert_allclose(
        _np(dm.special.log_ndtr(x)), [0.0, -math.inf, math.log(0.5)], rtol=1e-6
    )


def test_log_ndtr_far_left_tail_stays_finite() -> None:
    # PyTorch's float64 values (float32 gives -inf at -30 without the asymptotic series).
    x = np.array([-30.0, -12.0, -10.5, -40.0, -200.0])
    want = [-454.3212439563, -75.4106730016, -58.4041870611, -804.6084420138, -20006.2172808982]
    got64 = _np(dm.special.log_ndtr(dm.tensor(x)))
    np.testing.assert_allclose(got64, want, rtol=1e-9)
    got32 = _np(dm.special.log_ndtr(dm.tensor(x, dtype=dm.float32)))
    np.testing.assert_allclose(got32, want, rtol=1e-6)
    t = dm.tensor([-30.0, -10.5, -3.0], dtype=dm.float64, requires_grad=True)
    gradcheck(dm.special.log_ndtr, [t])


def test_ndtri_keeps_precision_in_the_tails() -> None:
    # PyTorch: ndtri(1e-7) = -5.1993375 (float32); scipy for the rest.
    got = dm.special.ndtri(dm.tensor([1e-7], dtype=dm.float32)).item()
    assert abs(got - -5.1993375) < 1e-5
    p = np.array([1e-300, 1e-30, 1e-7, 0.01, 0.3, 0.5, 0.9, 1 - 1e-12])
    want = [-37.0470962994, -11.4640246884, -5.1993375822, -2.3263478740]
    want += [-0.5244005127, 0.0, 1.2815515655, 7.0344869100]
    np.testing.assert_allclose(_np(dm.special.ndtri(dm.tensor(p))), want, rtol=2e-7, atol=1e-12)
    edges = _np(dm.special.ndtri(dm.tensor([0.0, 1.0, -0.1, 1.1, math.nan])))
    np.testing.assert_array_equal(edges[:2], [-math.inf, math.inf])
    assert np.isnan(edges[2:]).all()
    t = dm.tensor([1e-9, 0.02, 0.4, 0.97], dtype=dm.float64, requires_grad=True)
    gradcheck(dm.special.ndtri, [t], eps=1e-12, rtol=1e-4)


def test_xlog1py_accepts_a_python_number_as_input() -> None:
    y = dm.tensor([0.5, 2.0])
    np.testing.assert_allclose(
        _np(dm.special.xlog1py(2.0, y)), 2.0 * np.log1p([0.5, 2.0]), rtol=1e-6
    )
    np.testing.assert_allclose(
        _np(dm.special.xlog1py(y, 1.0)), np.array([0.5, 2.0]) * np.log(2.0), rtol=1e-6
    )
    got = dm.special.xlog1py(dm.tensor([1, 2]), 1.0)  # integers promote, as PyTorch's
    assert got.dtype == dm.float32
    np.testing.assert_allclose(_np(got), [np.log(2.0), 2 * np.log(2.0)], rtol=1e-6)


def test_polygamma_nan_and_poles() -> None:
    x = dm.tensor([math.nan, 0.0, -1.0, -3.0, 1.0])
    for n, pole in ((1, math.inf), (2, -math.inf), (3, math.inf)):
        got = _np(dm.special.polygamma(n, x))
        assert np.isnan(got[0])
        np.testing.assert_array_equal(got[1:4], [pole] * 3)
    np.testing.assert_allclose(_np(dm.special.polygamma(2, x))[4], -2.4041138, rtol=1e-6)
    np.testing.assert_array_equal(_np(dm.polygamma(1, x))[:2], [math.nan, math.inf])


@pytest.mark.parametrize("name", ["i0", "i0e", "i1", "i1e"])
@pytest.mark.parametrize("dtype", [dm.float32, dm.float64])
def test_modified_bessel_matches_scipy(name: str, dtype: dm.dtype) -> None:
    sp = pytest.importorskip("scipy.special")
    x = np.concatenate([np.linspace(-40.0, 40.0, 161), np.geomspace(1e-6, 80.0, 50), [0.0]])
    got = _np(getattr(dm.special, name)(dm.tensor(x, dtype=dtype))).astype(np.float64)
    want = getattr(sp, name)(
        x.astype(np.float32 if dtype == dm.float32 else np.float64).astype(np.float64)
    )
    np.testing.assert_allclose(got, want, rtol=2e-6 if dtype == dm.float32 else 1e-13, atol=1e-300)


def test_modified_bessel_values_and_gradients() -> None:
    # PyTorch: i0e(-2) = 0.3085083, i1(-2) = -1.5906369, i1e(-2) = -0.2152692, i0(2) = 2.2795853.
    x = dm.tensor([-2.0])
    assert abs(dm.special.i0e(x).item() - 0.3085083) < 1e-6
    assert abs(dm.special.i1(x).item() - -1.5906369) < 1e-6
    assert abs(dm.special.i1e(x).item() - -0.2152692) < 1e-6
    assert abs(dm.special.i0(-x).item() - 2.2795853) < 1e-6
    assert dm.special.i0(dm.tensor([3])).dtype == dm.float32  # integers promote
    # torch.special's other spellings of the same functions.
    assert dm.special.modified_bessel_i0(-x).item() == dm.special.i0(-x).item()
    assert dm.special.modified_bessel_i1(x).item() == dm.special.i1(x).item()
    for point in (-25.0, -3.0, 0.0, 0.5, 19.0, 21.0):  # one at a time: their scales differ
        t = dm.tensor([point], dtype=dm.float64, requires_grad=True)
        for name in ("i0", "i0e", "i1", "i1e") if point else ("i0", "i1", "i1e"):
            gradcheck(getattr(dm.special, name), [t])


def test_erfcx_and_spherical_bessel_j0() -> None:
    # PyTorch: erfcx at -1, 0, 1, 8, 30, 1e10, inf, -inf.
    x = dm.tensor([-1.0, 0.0, 1.0, 8.0, 30.0, 1e10, math.inf, -math.inf])
    want = [5.0089802742, 1.0, 0.42758358, 0.06998516, 0.018795888871, 5.6418958e-11, 0.0, math.inf]
    np.testing.assert_allclose(_np(dm.special.erfcx(x)), want, rtol=1e-6)
    t = dm.tensor([-2.0, 0.3, 7.9, 8.1, 25.0], dtype=dm.float64, requires_grad=True)
    gradcheck(dm.special.erfcx, [t])
    y = dm.tensor([0.0, 1e-3, -2.0, math.inf, -math.inf, 1e10], dtype=dm.float64)
    want = [1.0, 0.99999983333, 0.45464871, 0.0, 0.0, -4.8750602e-11]
    np.testing.assert_allclose(_np(dm.special.spherical_bessel_j0(y)), want, rtol=1e-7)
    s = dm.tensor([0.0, 0.7, -3.0], dtype=dm.float64, requires_grad=True)
    gradcheck(dm.special.spherical_bessel_j0, [s])


def test_entr_of_nan_is_nan() -> None:
    got = _np(dm.special.entr(dm.tensor([math.nan, 0.0, -1.0, 1e10])))
    assert np.isnan(got[0]) and got[1] == 0.0 and got[2] == -math.inf
    np.testing.assert_allclose(got[3], -2.3026e11, rtol=1e-4)


def test_entr_of_integers_promotes() -> None:
    got = dm.special.entr(dm.tensor([0, 1, 2]))
    assert got.dtype == dm.float32
    np.testing.assert_allclose(_np(got), [0.0, 0.0, -2 * math.log(2)], rtol=1e-6)


def test_zeta_matches_pytorch() -> None:
    # PyTorch 2.15's float64 values (Cephes' Hurwitz zeta).
    x = [2.0, 3.0, 1.0, 0.5, 4.5, 2.0, 3.0, 1.5, 2.0, 2.5, 2.0, 30.0, 1.0001, 3.0, math.inf, 7.0]
    q = [1.0, 2.0, 1.0, 1.0, -1.5, 0.0, -2.0, 1e-3, 1e4, 0.3, -2.5, 2.0, 1.0, -3.5, 1.0, 50.0]
    want = [
        1.6449340668482266,
        0.2020569031595943,
        math.inf,
        math.nan,
        math.nan,
        math.inf,
        math.inf,
        31625.386966911916,
        0.00010000500016666666,
        21.069239202247726,
        9.539246644989124,
        9.313274324196682e-10,
        10000.57722294754,
        0.03077841066051345,
        1.0,
        1.1321592839497643e-11,
    ]
    got = _np(dm.special.zeta(dm.tensor(x, dtype=dm.float64), dm.tensor(q, dtype=dm.float64)))
    np.testing.assert_allclose(got, want, rtol=1e-13)
    # Numbers for either argument, broadcasting, integer promotion.
    np.testing.assert_allclose(
        _np(dm.special.zeta(2.0, dm.tensor([1.0, 2.5]))), [1.6449341, 0.49035776], rtol=1e-6
    )
    np.testing.assert_allclose(
        _np(dm.special.zeta(dm.tensor([2.0, 4.0]), 1.0)), [1.6449341, 1.0823232], rtol=1e-6
    )
    grid = dm.special.zeta(
        dm.tensor([[2.0], [3.0]], dtype=dm.float64), dm.tensor([1.0, 2.0, 3.0], dtype=dm.float64)
    )
    assert tuple(grid.shape) == (2, 3)
    assert dm.special.zeta(dm.tensor([2, 3]), dm.tensor([1, 2])).dtype == dm.float32


def test_zeta_gradient_in_q() -> None:
    # PyTorch: d/dq sum zeta([2, 3, 4.5], q) at q = [0.7, 2, 5] (= -x zeta(x + 1, q)).
    q = dm.tensor([0.7, 2.0, 5.0], dtype=dm.float64, requires_grad=True)
    dm.special.zeta(dm.tensor([2.0, 3.0, 4.5], dtype=dm.float64), q).sum().backward()
    np.testing.assert_allclose(_np(q.grad), [-6.4350e00, -2.4697e-01, -1.0948e-03], rtol=1e-4)


def test_eigh_eigenvector_gradient_is_symmetric_as_pytorchs() -> None:
    a = dm.tensor(
        [[2.0, 1.0, 0.5], [1.0, 3.0, -1.0], [0.5, -1.0, 1.0]], dtype=dm.float64, requires_grad=True
    )
    w = dm.tensor([[1.0, -2.0, 0.5], [0.3, 0.7, -1.1], [2.0, 0.1, 0.4]], dtype=dm.float64)
    ((dm.linalg.eigh(a).eigenvectors ** 2) * w).sum().backward()  # invariant to the signs of V
    want = [
        [0.4148176635, 0.4473306995, 0.0535076664],
        [0.4473306995, -0.3162762292, 0.3652171352],
        [0.0535076664, 0.3652171352, -0.0985414343],
    ]
    np.testing.assert_allclose(_np(a.grad), want, rtol=1e-8)


def test_diagonal_of_a_vector_raises_index_error() -> None:
    with pytest.raises(IndexError):
        dm.linalg.diagonal(dm.ones(3))
    with pytest.raises(IndexError):
        dm.diagonal(dm.ones(3))


def test_slogdet_sign_requires_grad_with_zero_gradient() -> None:
    sing = dm.tensor([[1.0, 2.0], [2.0, 4.0]], requires_grad=True)
    sign, logabs = dm.linalg.slogdet(sing)
    assert sign.requires_grad and logabs.requires_grad
    sign.sum().backward()  # no inverse of the singular matrix is needed
    np.testing.assert_array_equal(_np(sing.grad), np.zeros((2, 2)))
    a = dm.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=dm.float64, requires_grad=True)
    sign, logabs = dm.slogdet(a)
    (sign * logabs).backward()
    np.testing.assert_allclose(_np(a.grad), np.linalg.inv([[2.0, 1.0], [1.0, 3.0]]).T, rtol=1e-12)


# PyTorch 2.15's values at x = -1, -0.5, 0, 0.3, 1, 1.5, -2, NaN (n = 2.7 truncates to 2).
_POLY_X = [-1.0, -0.5, 0.0, 0.3, 1.0, 1.5, -2.0, math.nan]
_POLY_CASES = [
    ("chebyshev_polynomial_t", 10, [1.0, -0.5, -1.0, 0.99552, 1.0, 7563.5, 262087.0, math.nan]),
    ("chebyshev_polynomial_u", 3, [-4.0, 1.0, 0.0, -0.984, 4.0, 21.0, -56.0, math.nan]),
    ("chebyshev_polynomial_v", 2.7, [5.0, 1.0, -1.0, -1.24, 1.0, 5.0, 19.0, math.nan]),
    ("chebyshev_polynomial_w", 10, [1.0, 0.0, -1.0, 1.12434, 21.0, 24476.0, 413403.0, math.nan]),
    (
        "hermite_polynomial_h",
        10,
        [8224.0, 22591.0, -30240.0, -6173.85249, 8224.0, -85401.0, 200416.0, math.nan],
    ),
    ("hermite_polynomial_he", 3, [2.0, 1.375, 0.0, -0.873, -2.0, -1.125, -2.0, math.nan]),
    (
        "laguerre_polynomial_l",
        3,
        [5.66667, 2.89583, 1.0, 0.2305, -0.66667, -0.6875, 14.33333, math.nan],
    ),
    (
        "legendre_polynomial_p",
        10,
        [1.0, -0.18823, -0.24609, 0.25148, 1.0, 2897.28153, 96060.51953, math.nan],
    ),
    ("shifted_chebyshev_polynomial_t", 3, [-99.0, -26.0, -1.0, 0.944, 1.0, 26.0, -485.0, math.nan]),
    ("hermite_polynomial_h", -1, [0.0] * 8),
    ("legendre_polynomial_p", 0, [1.0] * 8),
]


@pytest.mark.parametrize(("name", "n", "want"), _POLY_CASES)
def test_orthogonal_polynomials_match_pytorch(name: str, n: float, want: list[float]) -> None:
    got = _np(getattr(dm.special, name)(dm.tensor(_POLY_X, dtype=dm.float64), n))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_orthogonal_polynomials_take_a_tensor_degree() -> None:
    x = dm.tensor([0.3, 0.5])
    got = dm.special.chebyshev_polynomial_t(x, dm.tensor([2.0, 3.0]))
    np.testing.assert_allclose(_np(got), [-0.82, -1.0], rtol=1e-6)
    np.testing.assert_allclose(
        _np(dm.special.chebyshev_polynomial_t(0.3, dm.tensor([2.0, 3.0]))),
        [-0.82, -0.792],
        rtol=1e-6,
    )
    assert dm.special.legendre_polynomial_p(dm.tensor([1, 2]), 3).dtype == dm.float32
    grid = dm.special.laguerre_polynomial_l(dm.tensor([[0.3], [0.6]]), dm.tensor([1.0, 2.0, 5.0]))
    assert tuple(grid.shape) == (2, 3)


def test_orthogonal_polynomial_degree_edges() -> None:
    x = dm.tensor([0.3, 0.3, 0.3], dtype=dm.float64)
    n = dm.tensor([math.nan, math.inf, -math.inf], dtype=dm.float64)
    np.testing.assert_array_equal(_np(dm.special.hermite_polynomial_h(x, n)), [0.0, 0.0, 0.0])
    with pytest.raises(InvalidValueError):
        dm.special.legendre_polynomial_p(x, 1e7)


def test_incomplete_gamma_matches_scipy_and_pytorch_edges() -> None:
    sp = pytest.importorskip("scipy.special")
    a = np.array([0.5, 1.0, 2.0, 5.0, 10.0, 100.0, 100.0, 1e-3, 50.0, 1000.0, 1000.0, 7.5])
    x = np.array([0.3, 1.0, 0.5, 9.0, 3.0, 90.0, 120.0, 1e-3, 200.0, 990.0, 1100.0, 7.5])
    ta, tx = dm.tensor(a), dm.tensor(x)
    np.testing.assert_allclose(_np(dm.special.gammainc(ta, tx)), sp.gammainc(a, x), rtol=1e-11)
    np.testing.assert_allclose(_np(dm.special.gammaincc(ta, tx)), sp.gammaincc(a, x), rtol=1e-11)
    got32 = dm.special.gammainc(dm.tensor(a, dtype=dm.float32), dm.tensor(x, dtype=dm.float32))
    assert got32.dtype == dm.float32
    np.testing.assert_allclose(_np(got32), sp.gammainc(a, x), rtol=2e-6)
    # PyTorch's (Cephes') edges.
    ea = dm.tensor([0.0, 0.0, 1.0, 3.0, -1.0, 1.0, math.inf, math.inf, math.nan])
    ex = dm.tensor([1.0, 0.0, 0.0, math.inf, 1.0, -1.0, 1.0, math.inf, 1.0])
    want = [1.0, math.nan, 0.0, 1.0, math.nan, math.nan, 0.0, math.nan, math.nan]
    np.testing.assert_array_equal(_np(dm.special.gammainc(ea, ex)), want)
    want_c = [0.0, math.nan, 1.0, 0.0, math.nan, math.nan, 1.0, math.nan, math.nan]
    np.testing.assert_array_equal(_np(dm.special.gammaincc(ea, ex)), want_c)


def test_incomplete_gamma_gradient_in_x() -> None:
    a = dm.tensor([0.5, 2.0, 5.0, 30.0], dtype=dm.float64)
    x = dm.tensor([0.3, 4.0, 2.0, 35.0], dtype=dm.float64, requires_grad=True)
    dm.special.gammainc(a, x).sum().backward()
    av, xv = np.array([0.5, 2.0, 5.0, 30.0]), np.array([0.3, 4.0, 2.0, 35.0])
    density = np.exp((av - 1) * np.log(xv) - xv - np.array([math.lgamma(v) for v in av]))
    np.testing.assert_allclose(_np(x.grad), density, rtol=1e-8)


@pytest.mark.parametrize(
    ("name", "ref"),
    [
        ("modified_bessel_k0", "k0"),
        ("modified_bessel_k1", "k1"),
        ("scaled_modified_bessel_k0", "k0e"),
        ("scaled_modified_bessel_k1", "k1e"),
    ],
)
def test_modified_bessel_k_matches_scipy(name: str, ref: str) -> None:
    sp = pytest.importorskip("scipy.special")
    x = np.concatenate([np.geomspace(1e-8, 700.0, 200), [1e-4, 19.99, 20.0, 20.01]])
    got = _np(getattr(dm.special, name)(dm.tensor(x)))
    np.testing.assert_allclose(got, getattr(sp, ref)(x), rtol=1e-13)
    got32 = _np(getattr(dm.special, name)(dm.tensor(x[x < 80], dtype=dm.float32)))
    np.testing.assert_allclose(
        got32, getattr(sp, ref)(x[x < 80].astype(np.float32).astype(np.float64)), rtol=2e-6
    )
    edges = _np(getattr(dm.special, name)(dm.tensor([0.0, -1.0, math.nan])))
    assert edges[0] == math.inf and np.isnan(edges[1:]).all()
    for point in (1e-5, 0.3, 4.2, 25.0):  # steps relative to the point: K0 ~ -ln x, K1 ~ 1/x
        t = dm.tensor([point], dtype=dm.float64, requires_grad=True)
        gradcheck(getattr(dm.special, name), [t], eps=point * 1e-5)


@pytest.mark.parametrize(("name", "ref"), [("bessel_j0", "j0"), ("bessel_j1", "j1")])
def test_bessel_j_matches_scipy(name: str, ref: str) -> None:
    sp = pytest.importorskip("scipy.special")
    x = np.concatenate(
        [np.linspace(-60.0, 60.0, 241), np.geomspace(1e-8, 1e4, 100), [24.99, 25.01]]
    )
    got = _np(getattr(dm.special, name)(dm.tensor(x)))
    np.testing.assert_allclose(got, getattr(sp, ref)(x), rtol=1e-12, atol=1e-14)
    x32 = x.astype(np.float32)
    got32 = _np(getattr(dm.special, name)(dm.tensor(x32)))
    np.testing.assert_allclose(got32, getattr(sp, ref)(x32.astype(np.float64)), atol=2e-6)
    assert _np(getattr(dm.special, name)(dm.tensor([math.inf])))[0] == 0.0
    # PyTorch: J0(1) = 0.7651976866, J1(-1) = -0.4400505857.
    one = dm.tensor([1.0, -1.0], dtype=dm.float64)
    want = [0.7651976866, 0.7651976866] if name == "bessel_j0" else [0.4400505857, -0.4400505857]
    np.testing.assert_allclose(_np(getattr(dm.special, name)(one)), want, rtol=1e-9)
    t = dm.tensor([-4.2, 1e-4, 0.3, 2.5, 30.0], dtype=dm.float64, requires_grad=True)
    gradcheck(getattr(dm.special, name), [t])


def test_engine_erf_and_erfc_at_infinity():
    for dtype in (dm.float32, dm.float64):
        x = dm.tensor([float("inf"), -float("inf")], dtype=dtype)
        assert x.erf().tolist() == [1.0, -1.0]  # torch: tensor([ 1., -1.])
        assert dm.erfc(x).tolist() == [0.0, 2.0]  # torch: tensor([0., 2.])


def test_norm_nuc_is_the_sum_of_singular_values():
    a = np.random.default_rng(0).standard_normal((3, 4))
    x = dm.tensor(a)
    np.testing.assert_allclose(dm.norm(x, "nuc").item(), np.linalg.norm(a, "nuc"), rtol=1e-12)
    assert x.norm(p="nuc", keepdim=True).shape == (1, 1)  # torch: torch.Size([1, 1])
    assert dm.norm(dm.tensor(np.ones((2, 3, 4))), "nuc", dim=(1, 2)).shape == (2,)


def test_i0_at_the_top_level_and_as_a_method():
    x = dm.tensor([0.0, 1.0, 2.0])
    want = [1.0, 1.2660658, 2.2795853]  # torch.i0
    np.testing.assert_allclose(dm.i0(x).numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(x.i0().numpy(), want, rtol=1e-6)
