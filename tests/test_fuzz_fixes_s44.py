"""Fixes from session 44's differential fuzz of linear algebra, special functions and the
docs: NaN pivots, empty matrices, ``vector_norm(dim=())``, ``nextafter``'s gradient, the
incomplete gamma function for large ``a``, PyTorch's exception types and the thread-count
warning under MPI. Reference values are SciPy's (``scipy.special.gammainc``), written out."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import democratising as dm
from democratising import _threads

NAN = float("nan")


def test_a_nan_on_the_pivot_gives_nan_not_a_singular_matrix():
    m = dm.tensor([[NAN, 1.0], [1.0, 1.0]])
    assert math.isnan(dm.linalg.det(m).item())
    sign, logabs = dm.linalg.slogdet(m)
    assert sign.item() == 0.0 and math.isnan(logabs.item())
    assert math.isnan(dm.logdet(m).item())
    assert dm.linalg.inv(m).isnan().all()
    assert dm.linalg.solve(m, dm.ones(2)).isnan().all()
    assert dm.linalg.matrix_power(m, -1).isnan().all()
    inverse, info = dm.linalg.inv_ex(m)
    assert inverse.isnan().all() and info.item() == 0
    # The other matrices of a batch are solved as usual; a singular one still raises.
    batch = dm.stack([m, dm.tensor([[2.0, 0.0], [0.0, 4.0]])])
    out = dm.linalg.inv(batch)
    assert out[0].isnan().all()
    np.testing.assert_allclose(out[1].numpy(), [[0.5, 0.0], [0.0, 0.25]])
    with pytest.raises(dm.linalg.LinAlgError):
        dm.linalg.inv(dm.stack([m, dm.zeros(2, 2)]))


def test_empty_matrices():
    inverse, info = dm.linalg.inv_ex(dm.zeros(2, 0, 0))
    assert inverse.shape == (2, 0, 0) and info.tolist() == [0, 0]
    assert dm.linalg.cond(dm.zeros(0, 0)).item() == 0.0
    assert dm.linalg.cond(dm.zeros(2, 0, 0), "fro").tolist() == [0.0, 0.0]
    y = dm.zeros(0, 3)
    assert dm.trapezoid(y, dm.zeros(0, 3), dim=0).tolist() == [0.0, 0.0, 0.0]
    assert dm.cumulative_trapezoid(y, dm.zeros(0, 3), dim=0).shape == (0, 3)


def test_vector_norm_of_no_dims_reduces_everything():
    x = dm.tensor([[3.0, 4.0], [0.0, 0.0]])
    assert dm.linalg.vector_norm(x, dim=()).shape == ()
    assert dm.linalg.vector_norm(x, dim=(), keepdim=True).shape == (1, 1)
    assert dm.linalg.vector_norm(x, dim=[]).item() == 5.0


def test_pytorch_exception_types():
    with pytest.raises(IndexError, match="no dimensions"):
        dm.trapezoid(dm.tensor(2.0))
    with pytest.raises(TypeError):
        dm.linalg.vector_norm(dm.ones(3), "fro")


def test_nextafter_passes_the_gradient_to_its_input():
    a = dm.tensor([1.0, 2.0], requires_grad=True)
    b = dm.tensor([[2.0], [0.0]], requires_grad=True)
    out = dm.nextafter(a, b)
    assert out.requires_grad and out.shape == (2, 2)
    ga, gb = dm.autograd.grad(out.sum(), [a, b])
    assert ga.tolist() == [2.0, 2.0] and gb.tolist() == [[0.0], [0.0]]
    assert out[0, 0].item() == np.nextafter(np.float32(1.0), np.float32(2.0))


@pytest.mark.parametrize(
    ("a", "x", "p"),
    [
        (1e6, 1e6, 0.5001329807608725),
        (1e7, 1e7, 0.5000420522087237),
        (1e8, 0.9999e8, 0.15865525352814386),
        (5e4, 5.1e4, 0.9999955880607448),
    ],
)
def test_incomplete_gamma_for_large_a(a, x, p):
    at = dm.tensor([a, 3.0], dtype=dm.float64)
    xt = dm.tensor([x, 2.0], dtype=dm.float64, requires_grad=True)
    got = dm.special.gammainc(at, xt)
    np.testing.assert_allclose(got.tolist(), [p, 0.32332358381693654], rtol=1e-10)
    np.testing.assert_allclose(
        dm.special.gammaincc(at, xt).tolist(), [1 - p, 0.6766764161830636], rtol=1e-8
    )
    np.testing.assert_allclose(dm.igammac(at, xt).tolist()[0], 1 - p, rtol=1e-8)
    # d/dx P(a, x) is the gamma density, for the large a too.
    (g,) = dm.autograd.grad(got.sum(), [xt])
    density = math.exp((a - 1) * math.log(x) - x - math.lgamma(a))
    np.testing.assert_allclose(g.tolist()[0], density, rtol=1e-6)


def test_thread_warning_only_when_fewer_threads_are_possible(monkeypatch):
    monkeypatch.setattr(_threads, "_cores", lambda: 2)
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "4")
    monkeypatch.setenv(_threads.ENV, "1")  # one thread each is already the least there is
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _threads.default_for_ranks()
    monkeypatch.setenv(_threads.ENV, "2")
    with pytest.warns(RuntimeWarning, match="threads outnumber cores"):
        _threads.default_for_ranks()


def test_a_nan_off_the_pivot_still_gives_all_nan():
    m = dm.tensor([[NAN, 1.0], [2.0, 3.0]])
    assert dm.linalg.inv(m).isnan().all()
    assert dm.linalg.solve(m, dm.ones(2)).isnan().all()


def test_upper_incomplete_gamma_gradient_for_large_a():
    a = dm.tensor([5e4, 1e6], dtype=dm.float64)
    x = dm.tensor([5e4, 1e6], dtype=dm.float64, requires_grad=True)
    (g,) = dm.autograd.grad(dm.special.gammaincc(a, x).sum(), [x])
    # -density of Gamma(a) at x = a (PyTorch: -0.0017841, -0.00039894).
    want = [-math.exp((v - 1) * math.log(v) - v - math.lgamma(v)) for v in (5e4, 1e6)]
    np.testing.assert_allclose(g.tolist(), want, rtol=1e-6)
