"""``dm.linalg`` LU family (``lu_factor``, ``lu_factor_ex``, ``lu``, ``lu_solve``),
``solve_ex``, ``matrix_exp``, ``tensorinv``, ``tensorsolve`` and ``vander`` against NumPy
references (a hand-written partial-pivoting LU with LAPACK's 1-based int32 pivots), with
float64 finite-difference gradients and the typed errors."""

# Matrices keep their mathematical and PyTorch names (A, B, L, U, P, LU, ...).
# ruff: noqa: N803, N806

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising import linalg as LA
from democratising.errors import DTypeError, InvalidValueError, LinAlgError, ShapeError
from democratising.linalg._extras import __all__ as EXTRAS
from helpers import assert_close, gradcheck, to_numpy

RNG = np.random.default_rng(0)


def _t(a: Any, dtype: Any = dm.float64, grad: bool = False) -> dm.Tensor:
    t = dm.tensor(np.array(a), dtype=dtype)
    return t.requires_grad_(True) if grad else t


def _getrf_ref(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Textbook LU with partial pivoting of one matrix, LAPACK's conventions."""
    a = a.astype(np.float64).copy()
    m, n = a.shape
    piv, info = [], 0
    for j in range(min(m, n)):
        p = j + int(np.argmax(np.abs(a[j:, j])))
        piv.append(p + 1)
        a[[j, p]] = a[[p, j]]
        if a[j, j] == 0:
            info = info or j + 1
            continue
        a[j + 1 :, j] /= a[j, j]
        a[j + 1 :, j + 1 :] -= np.outer(a[j + 1 :, j], a[j, j + 1 :])
    return a, np.array(piv, dtype=np.int32), info


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3), (2, 3, 3), (2, 1, 4, 2)])
def test_lu_factor_ex_matches_reference(shape: tuple[int, ...]) -> None:
    a = RNG.standard_normal(shape)
    LU, piv, info = LA.lu_factor_ex(_t(a))
    assert piv.dtype == dm.int32 and info.dtype == dm.int32
    assert tuple(piv.shape) == (*shape[:-2], min(shape[-2:]))
    assert tuple(info.shape) == shape[:-2]
    flat = a.reshape(-1, *shape[-2:])
    lus, pivs = to_numpy(LU).reshape(flat.shape), to_numpy(piv).reshape(len(flat), -1)
    for k, m in enumerate(flat):
        ref_lu, ref_piv, ref_info = _getrf_ref(m)
        np.testing.assert_allclose(lus[k], ref_lu, rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(pivs[k], ref_piv)
        assert ref_info == 0
    assert not to_numpy(info).any()


def test_lu_factor_against_scipy() -> None:
    sla = pytest.importorskip("scipy.linalg")
    a = RNG.standard_normal((5, 5))
    LU, piv = LA.lu_factor(_t(a))
    ref_lu, ref_piv = sla.lu_factor(a)
    assert_close(LU, ref_lu, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(to_numpy(piv), ref_piv + 1)  # SciPy's pivots are 0-based


def test_lu_factor_singular_and_float32() -> None:
    LU, piv, info = LA.lu_factor_ex(_t([[1.0, 2.0], [2.0, 4.0]]))
    assert_close(LU, np.array([[2.0, 4.0], [0.5, 0.0]]))
    assert to_numpy(piv).tolist() == [2, 2] and int(info.item()) == 2
    _, piv0, info0 = LA.lu_factor_ex(_t(np.zeros((3, 3))))
    assert to_numpy(piv0).tolist() == [1, 2, 3] and int(info0.item()) == 1
    with pytest.raises(LinAlgError, match=r"U\[2,2\] is zero"):
        LA.lu_factor(_t([[1.0, 2.0], [2.0, 4.0]]))
    with pytest.raises(LinAlgError, match="is zero"):
        LA.lu_factor_ex(_t(np.zeros((2, 2))), check_errors=True)
    a = RNG.standard_normal((3, 3)).astype(np.float32)
    LU32, _ = LA.lu_factor(_t(a, dm.float32))
    assert LU32.dtype == dm.float32
    assert_close(LU32, _getrf_ref(a)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3), (2, 3, 3), (0, 3), (3, 0)])
def test_lu_reconstructs(shape: tuple[int, ...]) -> None:
    a = RNG.standard_normal(shape)
    P, L, U = LA.lu(_t(a))
    m, n = shape[-2:]
    k = min(m, n)
    assert tuple(P.shape) == (*shape[:-2], m, m)
    assert tuple(L.shape) == (*shape[:-2], m, k) and tuple(U.shape) == (*shape[:-2], k, n)
    p, lo, up = to_numpy(P), to_numpy(L), to_numpy(U)
    np.testing.assert_allclose(p @ lo @ up, a, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np.tril(lo), lo)
    np.testing.assert_allclose(np.triu(up), up)
    if k:
        np.testing.assert_allclose(np.diagonal(lo, axis1=-2, axis2=-1), 1.0)
        assert np.all(np.abs(lo) <= 1.0 + 1e-12)  # partial pivoting
    np.testing.assert_allclose(p.sum(-1), 1.0)
    np.testing.assert_allclose(p.sum(-2), 1.0)


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3), (2, 3, 3)])
def test_lu_gradients(shape: tuple[int, ...]) -> None:
    a = RNG.standard_normal(shape)
    gradcheck(lambda A: LA.lu(A).L, [_t(a, grad=True)])
    gradcheck(lambda A: LA.lu(A).U, [_t(a, grad=True)])
    gradcheck(lambda A: LA.lu_factor(A).LU, [_t(a, grad=True)])
    P, _, _ = LA.lu(_t(a, grad=True))
    assert not P.requires_grad


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("adjoint", [False, True])
def test_lu_solve(left: bool, adjoint: bool) -> None:
    a = RNG.standard_normal((2, 4, 4)) + 4 * np.eye(4)
    b = RNG.standard_normal((2, 4, 3) if left else (2, 3, 4))
    LU, piv = LA.lu_factor(_t(a))
    X = LA.lu_solve(LU, piv, _t(b), left=left, adjoint=adjoint)
    op = np.swapaxes(a, -1, -2) if adjoint else a
    ref = (
        np.linalg.solve(op, b)
        if left
        else np.swapaxes(np.linalg.solve(np.swapaxes(op, -1, -2), np.swapaxes(b, -1, -2)), -1, -2)
    )
    assert_close(X, ref, rtol=1e-9, atol=1e-10)
    gradcheck(
        lambda LUx, B: LA.lu_solve(LUx, piv, B, left=left, adjoint=adjoint),
        [_t(to_numpy(LU), grad=True), _t(b, grad=True)],
    )


def test_lu_solve_errors() -> None:
    LU, piv = LA.lu_factor(_t(RNG.standard_normal((3, 3))))
    with pytest.raises(ShapeError, match="Incompatible shapes"):
        LA.lu_solve(LU, piv, _t(np.ones((2, 3))))
    with pytest.raises(InvalidValueError, match="int32"):
        LA.lu_solve(LU, piv.to(dm.int64), _t(np.ones((3, 1))))
    with pytest.raises(ShapeError):
        LA.lu_solve(_t(np.ones((2, 3))), piv, _t(np.ones((2, 1))))


def test_solve_ex() -> None:
    a = RNG.standard_normal((2, 3, 3)) + 3 * np.eye(3)
    b = RNG.standard_normal((2, 3))
    X, info = LA.solve_ex(_t(a), _t(b))
    assert_close(X, np.linalg.solve(a, b[..., None])[..., 0], rtol=1e-10)
    assert info.dtype == dm.int32 and to_numpy(info).tolist() == [0, 0]
    s = np.stack([np.array([[1.0, 2.0], [2.0, 4.0]]), np.diag([1.0, 2.0])])
    X, info = LA.solve_ex(_t(s), _t(np.ones((2, 2))))
    assert to_numpy(info).tolist() == [2, 0]
    got = to_numpy(X)
    assert np.isnan(got[0]).all()
    np.testing.assert_allclose(got[1], [1.0, 0.5])
    with pytest.raises(LinAlgError, match="singular"):
        LA.solve_ex(_t(s), _t(np.ones((2, 2))), check_errors=True)
    gradcheck(
        lambda A, B: LA.solve_ex(A, B, left=False).result,
        [_t(a, grad=True), _t(RNG.standard_normal((2, 4, 3)), grad=True)],
    )


def _expm_taylor(a: np.ndarray, terms: int = 60) -> np.ndarray:
    out, term = np.eye(a.shape[-1]), np.eye(a.shape[-1])
    for k in range(1, terms):
        term = term @ a / k
        out = out + term
    return out


def test_matrix_exp_values() -> None:
    a = RNG.standard_normal((4, 4)) * 0.7
    assert_close(LA.matrix_exp(_t(a)), _expm_taylor(a), rtol=1e-12, atol=1e-13)
    s = RNG.standard_normal((3, 5, 5)) * 4
    s = s + np.swapaxes(s, -1, -2)  # symmetric, large norm: exercises the squaring
    w, v = np.linalg.eigh(s)
    ref = (v * np.exp(w)[..., None, :]) @ np.swapaxes(v, -1, -2)
    got = to_numpy(LA.matrix_exp(_t(s)))
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
    assert_close(LA.matrix_exp(_t([[0.0, 1.0], [0.0, 0.0]])), np.array([[1.0, 1.0], [0.0, 1.0]]))
    th = 0.3
    rot = LA.matrix_exp(_t([[0.0, -th], [th, 0.0]]))
    assert_close(rot, np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]]))
    e32 = LA.matrix_exp(_t(a, dm.float32))
    assert e32.dtype == dm.float32
    assert_close(e32, _expm_taylor(a), rtol=1e-5, atol=1e-5)
    assert tuple(LA.matrix_exp(_t(np.zeros((2, 0, 0)))).shape) == (2, 0, 0)


def test_matrix_exp_gradients_and_errors() -> None:
    gradcheck(LA.matrix_exp, [_t(RNG.standard_normal((3, 3)), grad=True)])
    gradcheck(LA.matrix_exp, [_t(RNG.standard_normal((2, 3, 3)) * 3, grad=True)], rtol=1e-3)
    with pytest.raises(ShapeError, match="square"):
        LA.matrix_exp(_t(np.ones((2, 3))))
    with pytest.raises(DTypeError):
        LA.matrix_exp(dm.ones(2, 2, dtype=dm.int64))


def test_tensorinv() -> None:
    a = RNG.standard_normal((4, 6, 8, 3))
    got = LA.tensorinv(_t(a), ind=2)
    ref = np.linalg.inv(a.reshape(24, 24)).reshape(8, 3, 4, 6)
    assert_close(got, ref, rtol=1e-9, atol=1e-10)
    assert_close(LA.tensorinv(_t(np.diag([2.0, 4.0])), ind=1), np.diag([0.5, 0.25]))
    gradcheck(lambda A: LA.tensorinv(A, ind=1), [_t(RNG.standard_normal((6, 2, 3)), grad=True)])
    with pytest.raises(InvalidValueError, match="strictly positive"):
        LA.tensorinv(_t(np.ones((2, 2))), ind=0)
    with pytest.raises(ShapeError, match=r"but got 6 != 2"):
        LA.tensorinv(_t(np.ones((2, 3, 2))), ind=1)


def test_tensorsolve() -> None:
    a = RNG.standard_normal((2, 3, 6))
    b = RNG.standard_normal((2, 3))
    x = LA.tensorsolve(_t(a), _t(b))
    assert tuple(x.shape) == (6,)
    assert_close(x, np.linalg.solve(a.reshape(6, 6), b.reshape(6)), rtol=1e-9)
    a2 = RNG.standard_normal((6, 2, 3))
    x2 = LA.tensorsolve(_t(a2), _t(b), dims=(0,))
    np.testing.assert_allclose(np.tensordot(np.moveaxis(a2, 0, -1), to_numpy(x2), 1), b)
    gradcheck(lambda A, B: LA.tensorsolve(A, B), [_t(a, grad=True), _t(b, grad=True)])
    with pytest.raises(ShapeError, match="18 != 5"):
        LA.tensorsolve(_t(np.ones((2, 3, 6))), _t(np.ones(5)))


def test_vander() -> None:
    x = np.array([1.0, 2.0, -3.0])
    assert_close(LA.vander(_t(x)), np.vander(x, increasing=True))
    xb = RNG.standard_normal((2, 3))
    got = LA.vander(_t(xb), N=5)
    assert tuple(got.shape) == (2, 3, 5)
    assert_close(got, np.stack([np.vander(r, 5, increasing=True) for r in xb]), rtol=1e-12)
    ints = LA.vander(dm.tensor([1, 2, 3]), N=2)
    assert ints.dtype == dm.int64 and to_numpy(ints).tolist() == [[1, 1], [1, 2], [1, 3]]
    gradcheck(lambda t: LA.vander(t, N=4), [_t(np.array([0.0, 0.5, -1.2]), grad=True)])
    with pytest.raises(ValueError, match="N must be greater than 1"):
        LA.vander(_t(x), N=1)
    with pytest.raises(ShapeError):
        LA.vander(_t(1.0))


def test_exported_names() -> None:
    assert len(EXTRAS) == 9
    for name in EXTRAS:
        assert name in LA.__all__ and callable(getattr(dm.linalg, name))
