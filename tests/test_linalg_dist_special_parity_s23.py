"""``dm.linalg``, ``dm.distributions`` and ``dm.special`` where a side-by-side run against
PyTorch 2.15 found them to differ. Expected values are NumPy/SciPy references or numbers
PyTorch printed (mpmath where PyTorch itself is off: noted at the value)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
from democratising import distributions as D
from democratising.errors import DTypeError


def _np(t: dm.Tensor) -> np.ndarray:
    return np.array(t.detach().numpy(), copy=True)


def _grad(fn, values: list[float]) -> np.ndarray:  # type: ignore[no-untyped-def]
    x = dm.tensor(values, dtype=dm.float64, requires_grad=True)
    fn(x).sum().backward()
    return _np(x.grad)


# ---- dm.linalg ----------------------------------------------------------------------------

_A = np.array([[2.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 4.0]])


@pytest.mark.parametrize(
    "call",
    [
        lambda a, b: dm.linalg.solve(a, b),
        lambda a, b: dm.linalg.solve_ex(a, b),
        lambda a, b: dm.linalg.lstsq(a, b),
        lambda a, b: dm.linalg.lu_solve(*dm.linalg.lu_factor(a), b),
        lambda a, b: dm.linalg.cross(a, b),
        lambda a, b: dm.linalg.vecdot(a, b),
        lambda a, b: dm.linalg.multi_dot([a, b]),
    ],
)
def test_solvers_and_products_do_not_promote_between_operands(call) -> None:  # type: ignore[no-untyped-def]
    # PyTorch: "linalg.solve: Expected A and B to have the same dtype, but found A of type
    # Double and B of type Float instead" (a RuntimeError), and the like for the others.
    a = dm.tensor(_A, dtype=dm.float64)
    b = dm.tensor(_A, dtype=dm.float32)
    with pytest.raises(DTypeError, match="dtype"):
        call(a, b)
    with pytest.raises(RuntimeError):
        call(a, b)
    np.testing.assert_allclose(_np(dm.linalg.solve(a, a)), np.eye(3), atol=1e-12)  # same dtypes


def test_multi_dot_multiplies_integer_matrices() -> None:
    a = np.arange(4).reshape(2, 2)
    v = np.array([1, -1])
    got = dm.linalg.multi_dot([dm.tensor(a), dm.tensor(a), dm.tensor(v)])
    assert got.dtype == dm.int64
    np.testing.assert_array_equal(_np(got), a @ a @ v)


def test_vector_norm_ord_zero_counts_and_is_differentiable() -> None:
    x = dm.tensor([math.nan, 0.0, math.inf, -2.0], requires_grad=True)
    out = dm.linalg.vector_norm(x, 0)
    assert out.item() == 3.0  # PyTorch: tensor(3., grad_fn=<LinalgVectorNormBackward0>)
    assert out.requires_grad
    out.backward()
    np.testing.assert_array_equal(_np(x.grad), np.zeros(4))
    rows = dm.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 5.0]])
    np.testing.assert_array_equal(_np(dm.linalg.vector_norm(rows, 0, dim=1)), [2.0, 1.0])


# ---- dm.distributions ---------------------------------------------------------------------


def test_has_enumerate_support_on_every_distribution() -> None:
    assert D.Normal(0.0, 1.0).has_enumerate_support is False
    assert D.Gamma(dm.tensor([1.0]), dm.tensor([1.0])).has_enumerate_support is False
    assert D.Bernoulli(probs=dm.tensor([0.3])).has_enumerate_support is True
    assert D.Categorical(logits=dm.zeros(3)).has_enumerate_support is True
    binomial = D.Binomial(3, probs=dm.tensor([0.5, 0.2]))
    assert binomial.has_enumerate_support is True
    np.testing.assert_array_equal(
        _np(binomial.enumerate_support(expand=False)).ravel(), [0, 1, 2, 3]
    )


def test_categorical_log_prob_rejects_non_integer_values() -> None:
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    d = D.Categorical(logits=dm.tensor(logits))
    with pytest.raises(ValueError, match="support"):
        d.log_prob(dm.tensor([1.5]))
    np.testing.assert_allclose(_np(d.log_prob(dm.tensor([1.0, 3.0]))), logits[[1, 3]], rtol=1e-6)
    lenient = D.Categorical(logits=dm.tensor(logits), validate_args=False)
    np.testing.assert_allclose(_np(lenient.log_prob(dm.tensor([1.5]))), logits[[1]], rtol=1e-6)


# ---- dm.special ---------------------------------------------------------------------------


def test_bessel_j_float32_keeps_relative_precision_near_zero() -> None:
    x = np.float32([0.001, 0.01, 0.1, 0.5, 0.999])
    # scipy.special.j1 / j0 of those float32 values; PyTorch: 4.9999997e-04 at 0.001 (the
    # quadrature gave 5.0005596e-04).
    j1 = [0.0004999999612487194, 0.004999937388505898, 0.04993752677850804, 0.24226845767487387]
    j0 = [0.9999997499999919, 0.9999750001573672, 0.9975015619916272, 0.938469807240813]
    t = dm.tensor(x)
    np.testing.assert_allclose(_np(dm.special.bessel_j1(t))[:4], j1, rtol=2e-6)
    np.testing.assert_allclose(_np(dm.special.bessel_j0(t))[:4], j0, rtol=2e-6)
    np.testing.assert_allclose(_np(dm.special.bessel_j1(t))[4], 0.4397252802992071, rtol=2e-6)
    assert _np(dm.special.bessel_j1(-t))[0] == -_np(dm.special.bessel_j1(t))[0]


def test_bessel_j_float64_at_points_where_pytorch_is_less_precise() -> None:
    # mpmath.besselj: PyTorch gives -0.17759678121 and 0.04347274584 here.
    x = dm.tensor([5.0, 10.0, 1e10], dtype=dm.float64)
    np.testing.assert_allclose(
        _np(dm.special.bessel_j0(x))[[0, 2]],
        [-0.177596771314338304347, 2.17559175024689172686e-06],
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        _np(dm.special.bessel_j1(x))[1], 0.0434727461688614366698, rtol=1e-12
    )


def test_modified_bessel_i_float32_near_the_top_of_the_range() -> None:
    # PyTorch: i0, i1 -> inf; i0e, i1e -> 2.3032942e-20 at 3e38 (sqrt(2 pi x) overflowed).
    x = dm.tensor([3e38, -3e38])
    assert _np(dm.special.i0(x)).tolist() == [math.inf, math.inf]
    assert _np(dm.special.i1(x)).tolist() == [math.inf, -math.inf]
    np.testing.assert_allclose(_np(dm.special.i0e(x)), [2.3032943e-20] * 2, rtol=1e-5)
    np.testing.assert_allclose(_np(dm.special.i1e(x)), [2.3032943e-20, -2.3032943e-20], rtol=1e-5)


@pytest.mark.parametrize(
    ("name", "points", "slopes"),
    [
        # The derivative at the switch between two formulas (clamp's zero gradient there).
        ("i0", [20.0, -20.0], [42454973.385127775, -42454973.385127775]),  # I1(20)
        ("i0e", [20.0], [0.08750622218328867 - 0.089780311884826]),  # i1e - i0e
        (
            "bessel_j0",
            [1.0, -1.0, 25.0],
            [-0.44005058574493355, 0.44005058574493355, 0.1253502495802898],
        ),
        ("bessel_j1", [1.0], [0.7651976865579665 - 0.44005058574493355]),  # J0 - J1 / x
        ("log_ndtr", [0.0], [2.0 / math.sqrt(2.0 * math.pi)]),
        ("erfcx", [8.0], [-0.008616507881417546]),  # 2 x erfcx(x) - 2 / sqrt(pi)
        ("modified_bessel_k0", [20.0], [-5.883057969557038e-10]),  # -K1(20)
    ],
)
def test_special_functions_are_differentiable_at_their_switch_points(
    name: str, points: list[float], slopes: list[float]
) -> None:
    got = _grad(getattr(dm.special, name), points)
    np.testing.assert_allclose(got, slopes, rtol=1e-6)


def test_xlog1py_gradient_in_x_where_x_is_zero() -> None:
    # PyTorch: d/dx xlog1py(0, y) = log1p(y) (0 where y <= -1, inf at inf), d/dy = 0.
    y = dm.tensor([0.5, 2.0, -1.0, -2.0, math.inf, 1.0], dtype=dm.float64)
    x = dm.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 3.0], dtype=dm.float64, requires_grad=True)
    out = dm.special.xlog1py(x, y)
    np.testing.assert_array_equal(_np(out)[:5], np.zeros(5))
    out.sum().backward()
    want = [np.log1p(0.5), np.log1p(2.0), 0.0, 0.0, math.inf, np.log1p(1.0)]
    np.testing.assert_allclose(_np(x.grad), want, rtol=1e-15)
    row = dm.tensor([[0.0, 1.0]], dtype=dm.float64, requires_grad=True)
    dm.special.xlog1py(row, dm.tensor([[2.0], [3.0]], dtype=dm.float64)).sum().backward()
    np.testing.assert_allclose(_np(row.grad), [[np.log(12.0), np.log(12.0)]], rtol=1e-15)


def test_entr_gradient_at_and_below_zero() -> None:
    # PyTorch: tensor([inf, -0.3069, nan, nan]) for x = [0, 0.5, -1, nan].
    got = _grad(dm.special.entr, [0.0, 0.5, -1.0, math.nan])
    assert got[0] == math.inf
    np.testing.assert_allclose(got[1], -(1.0 + math.log(0.5)), rtol=1e-15)
    assert np.isnan(got[2]) and np.isnan(got[3])
    np.testing.assert_array_equal(_np(dm.special.entr(dm.tensor([0.0, -1.0]))), [0.0, -math.inf])


def test_bessel_y_matches_mpmath() -> None:
    # mpmath.bessely; PyTorch's float64 values are within ~5e-7 of these (torch.special).
    x = dm.tensor([1e-8, 0.5, 2.0, 10.0, 24.9, 30.0, 1e5], dtype=dm.float64)
    y0 = [-11.80077387717953, -0.44451873350670656, 0.5103756726497451, 0.055671167283599395]
    y0 += [-0.13649918399676522, -0.11729573168666403, 0.001846766158865064]
    y1 = [-63661977.236758195, -1.471472392670243, -0.10703243154093754, 0.24901542420695388]
    y1 += [-0.08600255759555425, 0.08442557066174723, 0.0017192103500882562]
    np.testing.assert_allclose(_np(dm.special.bessel_y0(x)), y0, rtol=1e-12)
    np.testing.assert_allclose(_np(dm.special.bessel_y1(x)), y1, rtol=1e-12)
    np.testing.assert_allclose(_np(dm.special.bessel_y0(x.float())), y0, rtol=2e-5)
    np.testing.assert_allclose(_np(dm.special.bessel_y1(x.float())), y1, rtol=2e-5)
    # PyTorch: -inf at 0, NaN below 0 and at NaN (it also reads NaN at inf, where the limit is 0).
    edge = dm.tensor([0.0, -1.0, math.nan, math.inf])
    for fn in (dm.special.bessel_y0, dm.special.bessel_y1):
        got = _np(fn(edge))
        assert got[0] == -math.inf and np.isnan(got[1]) and np.isnan(got[2]) and got[3] == 0.0
    assert dm.special.bessel_y0(dm.tensor([1, 2])).dtype == dm.float32
    # d/dx Y0 = -Y1 (PyTorch: 0.1070 at 2).
    np.testing.assert_allclose(
        _grad(dm.special.bessel_y0, [2.0, 30.0]), [0.10703243154093754, -0.08442557066174723]
    )
