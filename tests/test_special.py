"""The gamma family and ``dm.special`` against SciPy's values (a float64 reference), with
float64 finite-difference gradients, the poles and signed zeros PyTorch defines, and the
functions reached by their torch.special names."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
from democratising.errors import InvalidValueError
from helpers import gradcheck

sp = pytest.importorskip("scipy.special")

# Away from the poles, both sides of zero, small and large arguments.
POINTS = np.array([1e-3, 0.31, 0.77, 1.0, 1.23, 2.5, 7.3, 9.99, 10.01, 30.0, 123.4, -0.4, -2.7])


def _rel(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(got - want) / (1.0 + np.abs(want))))


@pytest.mark.parametrize(
    ("name", "ref"), [("lgamma", sp.gammaln), ("digamma", sp.digamma)], ids=["lgamma", "digamma"]
)
def test_gamma_family_matches_scipy(name: str, ref: object) -> None:
    got = getattr(dm.tensor(POINTS), name)().numpy()
    assert _rel(got, ref(POINTS)) < 1e-13  # type: ignore[operator]
    f32 = getattr(dm, name)(dm.tensor(POINTS.astype(np.float32)))
    assert f32.dtype == dm.float32
    assert _rel(f32.numpy(), ref(POINTS)) < 1e-5  # type: ignore[operator]


@pytest.mark.parametrize("n", [1, 2, 3, 6])
def test_polygamma_matches_scipy(n: int) -> None:
    got = dm.polygamma(n, dm.tensor(POINTS)).numpy()
    assert _rel(got, sp.polygamma(n, POINTS)) < 1e-12
    assert _rel(dm.tensor(POINTS).polygamma(n).numpy(), got) == 0.0


def test_poles_and_zeros_as_pytorch() -> None:
    x = dm.tensor([0.0, -0.0, -1.0, -2.0, math.inf, math.nan], dtype=dm.float64)
    assert x.lgamma().tolist()[:5] == [math.inf] * 5
    assert math.isnan(x.lgamma().tolist()[5])
    d = x.digamma().tolist()
    assert d[0] == -math.inf and d[1] == math.inf
    assert all(math.isnan(v) for v in (d[2], d[3], d[5]))
    assert d[4] == math.inf
    assert dm.tensor([0.0, -1.0]).polygamma(1).tolist() == [math.inf, math.inf]
    assert dm.tensor([0.0, -1.0]).polygamma(2).tolist() == [-math.inf, -math.inf]  # PyTorch's
    assert dm.polygamma(0, x[:1]).item() == -math.inf  # n = 0 is digamma
    with pytest.raises(InvalidValueError):
        dm.polygamma(-1, x)


def test_integer_inputs_compute_in_floating_point_and_empty_inputs_pass() -> None:
    assert dm.tensor([1, 2, 3]).lgamma().dtype == dm.float32
    assert abs(dm.tensor([5]).lgamma().item() - math.log(24.0)) < 1e-5
    empty = dm.zeros(0, 3).digamma()
    assert empty.shape == (0, 3)
    strided = dm.tensor(POINTS[:12].reshape(3, 4)).T[::2]
    assert _rel(strided.digamma().numpy(), sp.digamma(POINTS[:12].reshape(3, 4).T[::2])) < 1e-13


@pytest.mark.parametrize(
    "fn",
    [
        lambda t: t.lgamma(),
        lambda t: t.digamma(),
        lambda t: t.polygamma(2),
        lambda t: dm.special.multigammaln(t + 2.0, 3),
    ],
    ids=["lgamma", "digamma", "polygamma2", "multigammaln"],
)
def test_gamma_family_gradients(fn: object) -> None:
    x = np.random.default_rng(0).uniform(0.3, 3.0, (3, 4))
    gradcheck(fn, [dm.tensor(x, requires_grad=True)])  # type: ignore[arg-type]


def test_lgamma_second_derivative_is_trigamma() -> None:
    t = dm.tensor([0.5, 1.5, 4.0], dtype=dm.float64, requires_grad=True)
    (g,) = dm.autograd.grad(t.lgamma().sum(), t, create_graph=True)
    (h,) = dm.autograd.grad(g.sum(), t)
    np.testing.assert_allclose(g.detach().numpy(), sp.digamma([0.5, 1.5, 4.0]), rtol=1e-13)
    np.testing.assert_allclose(h.numpy(), sp.polygamma(1, [0.5, 1.5, 4.0]), rtol=1e-12)


X = np.array([-3.0, -1.2, -0.3, 0.0, 0.4, 1.7, 2.9, 6.0])


@pytest.mark.parametrize(
    ("name", "ref"),
    [
        ("erfc", sp.erfc),
        ("exp2", sp.exp2),
        ("expit", sp.expit),
        ("ndtr", sp.ndtr),
        ("log_ndtr", sp.log_ndtr),
        ("entr", sp.entr),
        ("gammaln", sp.gammaln),
        ("psi", sp.psi),
        ("expm1", sp.expm1),
        ("erf", sp.erf),
    ],
)
def test_special_namespace_matches_scipy(name: str, ref: object) -> None:
    got = getattr(dm.special, name)(dm.tensor(X)).numpy()
    want = ref(X)  # type: ignore[operator]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)


def test_special_tails_keep_their_precision() -> None:
    far = dm.tensor([10.0, 26.0], dtype=dm.float64)
    np.testing.assert_allclose(dm.special.erfc(far).numpy(), sp.erfc([10.0, 26.0]), rtol=1e-13)
    left = dm.tensor([-30.0, -20.0], dtype=dm.float64)
    np.testing.assert_allclose(
        dm.special.log_ndtr(left).numpy(), sp.log_ndtr([-30.0, -20.0]), rtol=1e-13
    )


def test_special_inverses_and_two_argument_functions() -> None:
    p = np.array([1e-6, 0.1, 0.5, 0.975])
    np.testing.assert_allclose(dm.special.ndtri(dm.tensor(p)).numpy(), sp.ndtri(p), rtol=1e-9)
    x, y = np.array([0.0, 2.0, 1.0, 0.0]), np.array([-1.0, 1e-10, 3.0, math.nan])
    got = dm.special.xlog1py(dm.tensor(x), dm.tensor(y)).numpy()
    np.testing.assert_allclose(got, sp.xlog1py(x, y), rtol=1e-14)
    np.testing.assert_allclose(
        dm.special.multigammaln(dm.tensor([2.5, 3.0], dtype=dm.float64), 3).numpy(),
        [sp.multigammaln(2.5, 3), sp.multigammaln(3.0, 3)],
        rtol=1e-13,
    )
    np.testing.assert_allclose(
        dm.mvlgamma(dm.tensor([2.5], dtype=dm.float64), 2).numpy(),
        [sp.multigammaln(2.5, 2)],
        rtol=1e-13,
    )
    # Below (p - 1) / 2 the lgamma sum, as PyTorch 2.15 (no error).
    assert np.isfinite(dm.special.multigammaln(dm.tensor([0.2]), 3).item())
    with pytest.raises(InvalidValueError):
        dm.special.multigammaln(dm.tensor([2.0]), 0)


def test_xlog1py_and_entr_gradients_stay_finite_where_dropped() -> None:
    a = dm.tensor([0.0, 1.0, 2.0], dtype=dm.float64, requires_grad=True)
    b = dm.tensor([-1.0, 0.5, 2.0], dtype=dm.float64, requires_grad=True)
    dm.special.xlog1py(a, b).sum().backward()
    assert np.isfinite(a.grad.numpy()).all() and np.isfinite(b.grad.numpy()).all()
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 1.0 / 1.5, 2.0 / 3.0], rtol=1e-14)
    rng = np.random.default_rng(1)
    gradcheck(
        lambda u, v: dm.special.xlog1py(u, v),
        [
            dm.tensor(rng.uniform(0.2, 2.0, 5), requires_grad=True),
            dm.tensor(rng.uniform(-0.5, 2.0, 5), requires_grad=True),
        ],
    )
    gradcheck(dm.special.entr, [dm.tensor(rng.uniform(0.2, 2.0, 5), requires_grad=True)])


def test_special_softmax_family_and_dtype_argument() -> None:
    x = dm.randn(3, 5)
    np.testing.assert_allclose(
        dm.special.softmax(x, 1).numpy(), x.softmax(1).numpy(), rtol=1e-6, atol=1e-7
    )
    out = dm.special.log_softmax(x, 0, dtype=dm.float64)
    assert out.dtype == dm.float64
    np.testing.assert_allclose(
        dm.special.logsumexp(x, 1).numpy(), x.logsumexp(1).numpy(), rtol=1e-6
    )
    assert dm.special.round(dm.tensor([1.2345]), decimals=2).item() == pytest.approx(1.23)
