"""``democratising.linalg`` against NumPy (float32/float64, batched, transposed and empty
inputs), float64 finite-difference gradients of every differentiable function, the typed
errors, and the ``torch``-level aliases."""

# Matrices keep their mathematical and PyTorch names (A, B, L, Q, R, U, S, Vh, gA, ...).
# ruff: noqa: N803, N806

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm
from democratising import linalg as LA
from helpers import assert_close, gradcheck, to_numpy

RNG = np.random.default_rng(0)
DTYPES = [(dm.float32, 1e-4), (dm.float64, 1e-10)]


def _t(a: np.ndarray, dtype: Any = dm.float64, grad: bool = False) -> dm.Tensor:
    t = dm.tensor(np.ascontiguousarray(a), dtype=dtype)
    return t.requires_grad_(True) if grad else t


def _wellcond(*shape: int) -> np.ndarray:
    """Random square matrices with a dominant diagonal (invertible, well conditioned)."""
    n = shape[-1]
    return RNG.standard_normal(shape) + 2 * n**0.5 * np.eye(n)


def _spd(*shape: int) -> np.ndarray:
    x = RNG.standard_normal(shape)
    return x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1])


def _transposed(a: np.ndarray, dtype: Any) -> dm.Tensor:
    """``a`` as a non-contiguous tensor (a transpose of its transpose's copy)."""
    t = _t(np.swapaxes(a, -1, -2), dtype).transpose(-2, -1)
    assert not t.is_contiguous()
    return t


@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_inverse_determinants_against_numpy(dtype: Any, tol: float) -> None:
    a = _wellcond(2, 3, 4, 4)
    for A in (_t(a, dtype), _transposed(a, dtype)):
        assert_close(LA.inv(A), np.linalg.inv(a), rtol=tol * 10, atol=tol * 10, check_dtype=dtype)
        assert_close(LA.det(A), np.linalg.det(a), rtol=tol * 10, atol=tol)
        sign, logabs = LA.slogdet(A)
        s_np, l_np = np.linalg.slogdet(a)
        assert_close(sign, s_np)
        assert_close(logabs, l_np, rtol=tol, atol=tol)
        assert_close(dm.logdet(A), np.log(np.linalg.det(a)), rtol=tol * 10, atol=tol)
    assert tuple(LA.inv(_t(np.zeros((0, 3, 3)), dtype)).shape) == (0, 3, 3)
    assert tuple(LA.det(_t(np.zeros((0, 3, 3)), dtype)).shape) == (0,)
    assert LA.slogdet(_t(a[0, 0], dtype)).logabsdet.ndim == 0


@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_solves_against_numpy(dtype: Any, tol: float) -> None:
    a, b = _wellcond(2, 4, 4), RNG.standard_normal((3, 2, 4, 2))
    assert_close(LA.solve(_t(a, dtype), _t(b, dtype)), np.linalg.solve(a, b), rtol=tol * 100)
    assert_close(
        LA.solve(_transposed(a, dtype), _t(b[0], dtype)), np.linalg.solve(a, b[0]), rtol=tol * 100
    )
    v = RNG.standard_normal((2, 4))  # a batch of vectors: A's shape but the last dimension
    assert_close(
        LA.solve(_t(a, dtype), _t(v, dtype)),
        np.linalg.solve(a, v[..., None])[..., 0],
        rtol=tol * 100,
    )
    xl = LA.solve(_t(a, dtype), _t(b[0].swapaxes(-1, -2), dtype), left=False)
    assert_close(xl, b[0].swapaxes(-1, -2) @ np.linalg.inv(a), rtol=tol * 100, atol=tol * 10)
    lower = np.tril(a)
    x = LA.solve_triangular(_t(a, dtype), _t(b[0], dtype), upper=False)
    assert_close(x, np.linalg.solve(lower, b[0]), rtol=tol * 100, atol=tol * 10)
    unit = np.triu(a, 1) + np.eye(4)
    x = LA.solve_triangular(_t(a, dtype), _t(b[0], dtype), upper=True, unitriangular=True)
    assert_close(x, np.linalg.solve(unit, b[0]), rtol=tol * 100, atol=tol * 10)
    x = LA.solve_triangular(_t(a, dtype), _t(b[0].swapaxes(-1, -2), dtype), upper=True, left=False)
    assert_close(
        x, b[0].swapaxes(-1, -2) @ np.linalg.inv(np.triu(a)), rtol=tol * 100, atol=tol * 10
    )
    # A zero on the diagonal: inf/NaN as a triangular solve gives, not an error.
    z = np.triu(a)
    z[..., 1, 1] = 0
    assert not np.isfinite(
        to_numpy(LA.solve_triangular(_t(z, dtype), _t(b[0], dtype), upper=True))
    ).all()


@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_decompositions_against_numpy(dtype: Any, tol: float) -> None:
    spd = _spd(2, 4, 4)
    assert_close(LA.cholesky(_t(spd, dtype)), np.linalg.cholesky(spd), rtol=tol * 10, atol=tol)
    assert_close(
        LA.cholesky(_transposed(spd, dtype), upper=True),
        np.swapaxes(np.linalg.cholesky(spd), -1, -2),
        rtol=tol * 10,
        atol=tol,
    )
    w, v = np.linalg.eigh(spd)
    got = LA.eigh(_t(spd, dtype))
    assert_close(got.eigenvalues, w, rtol=tol * 10)
    assert_close(LA.eigvalsh(_t(spd, dtype), UPLO="U"), w, rtol=tol * 10)
    assert_close(abs(got.eigenvectors), abs(v), rtol=tol * 1e3, atol=tol * 100)
    for shape in ((2, 5, 3), (2, 3, 5)):
        a = RNG.standard_normal(shape)
        for mode in ("reduced", "complete"):
            q, r = LA.qr(_t(a, dtype), mode=mode)
            qn, rn = np.linalg.qr(a, mode=mode)
            assert_close(q, qn, rtol=tol * 100, atol=tol * 100)
            assert_close(r, rn, rtol=tol * 100, atol=tol * 100)
        q, r = LA.qr(_t(a, dtype), mode="r")
        assert tuple(q.shape) == (0,)
        assert_close(r, np.linalg.qr(a, mode="r"), rtol=tol * 100, atol=tol * 100)
        for full in (True, False):
            U, S, Vh = LA.svd(_transposed(a, dtype), full_matrices=full)
            un, sn, vhn = np.linalg.svd(a, full_matrices=full)
            assert_close(S, sn, rtol=tol * 10, atol=tol)
            assert tuple(U.shape) == un.shape and tuple(Vh.shape) == vhn.shape
            k = min(shape[-2:])
            rebuilt = to_numpy(U)[..., :k] * to_numpy(S)[..., None, :] @ to_numpy(Vh)[..., :k, :]
            np.testing.assert_allclose(rebuilt, a, rtol=tol * 100, atol=tol * 100)
        assert_close(LA.svdvals(_t(a, dtype)), np.linalg.svd(a, compute_uv=False), rtol=tol * 10)
    assert tuple(LA.svd(_t(np.zeros((0, 3, 2)), dtype)).U.shape) == (0, 3, 3)
    assert tuple(LA.eigh(_t(np.zeros((0, 3, 3)), dtype)).eigenvalues.shape) == (0, 3)


@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_pinv_lstsq_rank_against_numpy(dtype: Any, tol: float) -> None:
    a = RNG.standard_normal((2, 5, 3))
    assert_close(LA.pinv(_t(a, dtype)), np.linalg.pinv(a), rtol=tol * 100, atol=tol * 100)
    low = a[0] @ np.diag([1.0, 1.0, 0.0]) @ RNG.standard_normal((3, 3))  # rank 2
    assert_close(
        LA.pinv(_t(low, dtype)), np.linalg.pinv(low, rcond=1e-6), rtol=tol * 1e3, atol=tol * 1e3
    )
    assert int(LA.matrix_rank(_t(low, dtype)).item()) == 2
    assert LA.matrix_rank(_t(a, dtype)).dtype == dm.int64
    assert int(LA.matrix_rank(_t(low, dtype), atol=1e3).item()) == 0
    spd = _spd(4, 4)
    assert_close(
        LA.pinv(_t(spd, dtype), hermitian=True), np.linalg.inv(spd), rtol=tol * 100, atol=tol * 10
    )
    b = RNG.standard_normal((2, 5, 2))
    res = LA.lstsq(_t(a, dtype), _t(b, dtype), driver="gelsd")
    sol, resid, _, _ = np.linalg.lstsq(a[1], b[1], rcond=None)
    assert_close(res.solution[1], sol, rtol=tol * 100, atol=tol * 100)
    assert_close(res.residuals[1], resid, rtol=tol * 100, atol=tol * 100)
    assert res.rank.tolist() == [3, 3]
    assert_close(res.singular_values, np.linalg.svd(a, compute_uv=False), rtol=tol * 10)
    default = LA.lstsq(_t(a, dtype), _t(b, dtype))  # gelsy: no residuals, no singular values
    assert tuple(default.residuals.shape) == (0,) and tuple(default.singular_values.shape) == (0,)
    v = LA.lstsq(_t(a, dtype), _t(b[..., 0], dtype)).solution
    assert tuple(v.shape) == (2, 3)


@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_norms_against_numpy(dtype: Any, tol: float) -> None:
    a = RNG.standard_normal((2, 4, 3))
    A = _t(a, dtype)
    for ord in ("fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2):
        assert_close(LA.matrix_norm(A, ord), np.linalg.norm(a, ord, axis=(-2, -1)), rtol=tol * 10)
        got = LA.matrix_norm(A, ord, dim=(0, 2), keepdim=True)
        assert_close(got, np.linalg.norm(a, ord, axis=(0, 2), keepdims=True), rtol=tol * 10)
    for ord in (2, 1, 3.5, 0, math.inf, -math.inf, -1):
        assert_close(LA.vector_norm(A, ord, dim=-1), np.linalg.norm(a, ord, axis=-1), rtol=tol * 10)
    assert_close(LA.vector_norm(A), np.linalg.norm(a.ravel()), rtol=tol * 10)
    assert tuple(LA.vector_norm(A, keepdim=True).shape) == (1, 1, 1)
    assert_close(
        LA.vector_norm(A, 1, dim=(0, 2), keepdim=True),
        np.abs(a).sum((0, 2), keepdims=True),
        rtol=tol * 10,
    )
    assert_close(LA.norm(A), np.linalg.norm(a.ravel()), rtol=tol * 10)
    assert_close(LA.norm(A[0], "nuc"), np.linalg.norm(a[0], "nuc"), rtol=tol * 10)
    assert_close(LA.norm(A, 3, dim=1), np.linalg.norm(a, 3, axis=1), rtol=tol * 10)
    assert_close(LA.norm(A, None, dim=(1, 2)), np.linalg.norm(a, axis=(1, 2)), rtol=tol * 10)
    sq = _wellcond(2, 3, 3)
    for p in (None, 2, -2, "fro", 1, math.inf):
        assert_close(LA.cond(_t(sq, dtype), p), np.linalg.cond(sq, p), rtol=tol * 100)


@pytest.mark.parametrize("dtype,tol", DTYPES)
def test_products_against_numpy(dtype: Any, tol: float) -> None:
    x, y = RNG.standard_normal((2, 4, 3)), RNG.standard_normal((4, 3))
    assert_close(LA.cross(_t(x, dtype), _t(y, dtype)), np.cross(x, y), rtol=tol * 10, atol=tol)
    xt = RNG.standard_normal((3, 5))
    assert_close(
        dm.cross(_t(xt, dtype), _t(xt[::-1].copy(), dtype)),
        np.cross(xt, xt[::-1], axis=0),
        rtol=tol * 10,
        atol=tol,
    )
    assert_close(LA.vecdot(_t(x, dtype), _t(y, dtype)), (x * y).sum(-1), rtol=tol * 10)
    m = RNG.standard_normal((2, 3, 4))
    for off in (-2, -1, 0, 1, 3, 5):
        assert_close(LA.diagonal(_t(m, dtype), offset=off), np.diagonal(m, off, -2, -1), rtol=tol)
    assert_close(dm.diagonal(_t(m, dtype), 1, 0, 2), np.diagonal(m, 1, 0, 2), rtol=tol)
    assert_close(_transposed(m, dtype).diagonal(), np.diagonal(m), rtol=tol)
    sq = _wellcond(2, 3, 3)
    for n in (0, 1, 2, 5, -1, -3):
        assert_close(
            LA.matrix_power(_t(sq, dtype), n),
            np.linalg.matrix_power(sq, n),
            rtol=tol * 1e3,
            atol=tol * 10,
        )
    ms = [RNG.standard_normal(s) for s in ((4,), (4, 10), (10, 2), (2, 6), (6,))]
    assert_close(LA.multi_dot([_t(v, dtype) for v in ms]), np.linalg.multi_dot(ms), rtol=tol * 100)


# ---- float64 finite-difference gradients ----

G = 1e-6


def _grad(fn: Callable[..., dm.Tensor], *arrays: np.ndarray) -> None:
    gradcheck(fn, [_t(a, grad=True) for a in arrays], eps=G, atol=1e-5, rtol=1e-4)


def test_gradients_inverse_det_solve() -> None:
    a = _wellcond(2, 3, 3)
    _grad(LA.inv, a)
    _grad(LA.det, a)
    _grad(lambda A: LA.slogdet(A).logabsdet, a)
    _grad(dm.logdet, _spd(2, 3, 3))
    singular = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.5, -1.0, 2.0]])
    _grad(LA.det, singular)  # the adjugate: finite where the inverse is not
    b = RNG.standard_normal((2, 2, 3, 2))  # batch broadcast against A
    _grad(LA.solve, a, b)
    _grad(LA.solve, a[0], RNG.standard_normal(3))
    _grad(lambda A, B: LA.solve(A, B, left=False), a, RNG.standard_normal((2, 2, 3)))
    for upper in (True, False):
        for unit in (True, False):
            _grad(
                lambda A, B, u=upper, t=unit: LA.solve_triangular(A, B, upper=u, unitriangular=t),
                a,
                b[0],
            )
    _grad(lambda A, B: LA.solve_triangular(A, B, upper=True, left=False), a, b[0].swapaxes(-1, -2))
    _grad(lambda A: LA.inv_ex(A).inverse, a)


def test_gradients_decompositions() -> None:
    x = RNG.standard_normal((2, 3, 3))
    spd = lambda X: X @ X.mT + 3 * dm.eye(3, dtype=dm.float64)  # noqa: E731
    _grad(lambda X: LA.cholesky(spd(X)), x)
    _grad(lambda X: LA.cholesky(spd(X), upper=True), x)
    for shape in ((4, 3), (3, 3), (3, 5)):
        a = RNG.standard_normal((2, *shape))
        _grad(lambda A: LA.qr(A).Q, a)
        _grad(lambda A: LA.qr(A).R, a)
    _grad(lambda A: LA.qr(A, mode="complete").R, RNG.standard_normal((3, 5)))
    sym = lambda X: X + X.mT  # noqa: E731
    _grad(lambda X: LA.eigh(sym(X)).eigenvalues, x)
    _grad(lambda X: LA.eigvalsh(sym(X)), x)
    _grad(lambda X: LA.eigh(sym(X)).eigenvectors ** 2, x)  # sign-invariant
    for shape in ((4, 3), (3, 3), (3, 5)):
        a = RNG.standard_normal((2, *shape))
        _grad(LA.svdvals, a)
        _grad(lambda A: LA.svd(A, full_matrices=False).U ** 2, a)
        _grad(lambda A: LA.svd(A, full_matrices=False).Vh ** 2, a)

        def rebuilt(A: dm.Tensor) -> dm.Tensor:
            U, S, Vh = LA.svd(A, full_matrices=False)
            return (U * S.unsqueeze(-2)) @ Vh

        _grad(rebuilt, a)
        _grad(lambda A: LA.svd(A).S, a)
        _grad(LA.pinv, a)
        _grad(lambda A, B: LA.lstsq(A, B).solution, a, RNG.standard_normal((2, shape[0], 2)))


def test_gradients_norms_and_products() -> None:
    a = RNG.standard_normal((2, 4, 3))
    for ord in ("fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2):
        _grad(lambda A, o=ord: LA.matrix_norm(A, o), a)
    for ord in (2, 1, 3, -1.5, math.inf):
        _grad(lambda A, o=ord: LA.vector_norm(A, o, dim=-1), a)
    _grad(LA.norm, a)
    # The 2-norm's gradient at 0 is 0 (a subgradient), as PyTorch's.
    z = dm.zeros(3, dtype=dm.float64, requires_grad=True)
    LA.vector_norm(z).backward()
    assert to_numpy(z.grad).tolist() == [0.0, 0.0, 0.0]
    _grad(LA.cross, RNG.standard_normal((2, 3)), RNG.standard_normal(3))
    _grad(LA.vecdot, a, a[0])
    _grad(lambda A: LA.diagonal(A, offset=1), a)
    sq = _wellcond(2, 3, 3)
    _grad(lambda A: LA.matrix_power(A, 3), sq)
    _grad(lambda A: LA.matrix_power(A, -2), sq)
    _grad(
        lambda X, Y, Z: LA.multi_dot([X, Y, Z]),
        RNG.standard_normal(4),
        a[0],
        RNG.standard_normal((3, 2)),
    )


def test_half_precision_computes_in_float32() -> None:
    a = _wellcond(3, 3)
    for dt in (dm.float16, dm.bfloat16):
        A = dm.tensor(a, dtype=dt)
        got = LA.inv(A)
        assert got.dtype == dt
        assert_close(
            got.float(), np.linalg.inv(to_numpy(A.float()).astype(np.float64)), rtol=2e-2, atol=2e-2
        )
        assert LA.svd(A).S.dtype == dt


def test_typed_errors() -> None:
    assert issubclass(LA.LinAlgError, dm.InvalidValueError) and issubclass(
        LA.LinAlgError, RuntimeError
    )
    assert LA.LinAlgError is dm.errors.LinAlgError
    with pytest.raises(dm.ShapeError, match=r"linalg\.inv: A must be batches of square matrices"):
        LA.inv(dm.randn(2, 3))
    with pytest.raises(dm.ShapeError, match="square"):
        LA.det(dm.randn(3, 4))
    with pytest.raises(dm.DTypeError, match="floating point"):
        LA.inv(dm.ones(3, 3, dtype=dm.int64))
    singular = dm.tensor([[[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [2.0, 4.0]]])
    with pytest.raises(LA.LinAlgError, match=r"Batch element \(1,\).*singular"):
        LA.inv(singular)
    with pytest.raises(LA.LinAlgError, match="singular"):
        LA.solve(singular, dm.ones(2, 2))
    with pytest.raises(LA.LinAlgError, match="order 2 is not positive-definite"):
        LA.cholesky(dm.tensor([[1.0, 2.0], [2.0, 1.0]]))
    L, info = LA.cholesky_ex(dm.tensor([[[4.0, 0.0], [0.0, 1.0]], [[1.0, 2.0], [2.0, 1.0]]]))
    assert info.tolist() == [0, 2] and info.dtype == dm.int32
    assert_close(L[0], [[2.0, 0.0], [0.0, 1.0]])
    inv, info = LA.inv_ex(singular)
    assert info.tolist()[0] == 0 and info.tolist()[1] > 0
    assert np.isnan(to_numpy(inv[1])).all()
    with pytest.raises(LA.LinAlgError):
        LA.inv_ex(singular, check_errors=True)
    with pytest.raises(dm.ShapeError):
        LA.solve(dm.randn(3, 3), dm.randn(4))
    with pytest.raises(dm.InvalidValueError, match="unrecognized mode"):
        LA.qr(dm.randn(3, 3), mode="full")
    A = dm.randn(4, 3, dtype=dm.float64, requires_grad=True)
    with pytest.raises(dm.AutogradError, match="mode='r'"):
        LA.qr(A, mode="r").R.sum().backward()


def test_torch_level_aliases() -> None:
    a = _wellcond(2, 3, 3)
    A = _t(a)
    assert_close(dm.det(A), np.linalg.det(a))
    assert_close(A.det(), np.linalg.det(a))
    assert_close(A.inverse(), np.linalg.inv(a), rtol=1e-8)
    assert_close(dm.inverse(A), np.linalg.inv(a), rtol=1e-8)
    sign, logabs = A.slogdet()
    assert_close(sign * logabs.exp(), np.linalg.det(a))
    spd = _spd(3, 3)
    assert_close(dm.cholesky(_t(spd), upper=True), np.linalg.cholesky(spd).T, rtol=1e-8)
    U, S, V = dm.svd(_t(a))
    assert tuple(V.shape) == (2, 3, 3)
    assert_close((U * S.unsqueeze(-2)) @ V.mT, a, rtol=1e-8, atol=1e-10)
    U, S, V = _t(RNG.standard_normal((5, 3))).svd(some=False, compute_uv=False)
    assert tuple(U.shape) == (5, 5) and not to_numpy(U).any()
    Q, _ = dm.qr(_t(RNG.standard_normal((5, 3))), some=False)
    assert tuple(Q.shape) == (5, 5)
    assert_close(dm.pinverse(A), np.linalg.pinv(a), rtol=1e-8)
    assert_close(A.matrix_power(2), a @ a, rtol=1e-10)
    assert LA.matmul is dm.matmul


@pytest.mark.skipif(not dm.cuda.is_available(), reason="needs CUDA")
def test_cuda_through_the_host() -> None:
    a, b = _wellcond(2, 3, 3), RNG.standard_normal((2, 3, 2))
    X = LA.inv(_t(a).to("cuda"))
    assert X.device.type == "cuda"
    assert_close(X.cpu(), np.linalg.inv(a), rtol=1e-8)
    fns: list[Callable[..., dm.Tensor]] = [
        lambda A, B: LA.slogdet(A).logabsdet.sum() + LA.det(A).sum(),
        lambda A, B: LA.solve(A, B).sum() + LA.solve_triangular(A, B, upper=True).sum(),
        lambda A, B: (LA.svd(A).U ** 2).sum() + LA.svdvals(A).sum() + LA.pinv(A).sum(),
        lambda A, B: LA.cholesky(A @ A.mT).sum() + LA.qr(A).R.sum(),
        lambda A, B: LA.eigh(A + A.mT).eigenvalues.sum() + LA.matrix_norm(A, "nuc").sum(),
        lambda A, B: LA.vector_norm(B, 3).sum() + LA.diagonal(A).sum(),
    ]
    for fn in fns:
        grads = []
        for device in ("cpu", "cuda"):
            A, B = (_t(x).to(device).requires_grad_(True) for x in (a, b))
            out = fn(A, B)
            assert out.device.type == device
            out.backward()
            assert A.grad is not None and A.grad.device.type == device
            grads.append((to_numpy(A.grad.cpu()), float(out.item())))
        np.testing.assert_allclose(grads[1][0], grads[0][0], rtol=1e-8, atol=1e-10)
        assert grads[1][1] == pytest.approx(grads[0][1], rel=1e-10)
