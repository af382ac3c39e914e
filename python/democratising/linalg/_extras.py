"""More of ``torch.linalg`` for real matrices: the LU family (``lu_factor``, ``lu_factor_ex``,
``lu``, ``lu_solve``), ``solve_ex``, ``matrix_exp``, ``tensorinv``, ``tensorsolve`` and
``vander``.

The LU factorisation (partial pivoting, as LAPACK's ``getrf``: pivots are 1-based int32 row
swaps, ``info`` is the 1-based index of the first zero pivot) runs in NumPy on the host,
vectorised over the batch. ``lu`` has PyTorch's backward (square, wide and tall matrices),
written in engine ops; ``lu_factor`` packs ``L`` and ``U`` with differentiable ops, and
``lu_solve`` is a composite of triangular solves, so gradients reach ``LU`` and ``B``.
``matrix_exp`` is scaling and squaring over a degree-18 Taylor polynomial, all matmuls, so it
is differentiable (to any order) through autograd."""

# Matrices keep their mathematical and PyTorch names (A, B, L, U, P, LU, gA, ...).
# ruff: noqa: N803, N806

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple, Optional

import numpy as np

from .. import _core
from .._core import Tensor
from .._function import Function, FunctionCtx
from ..errors import DTypeError, InvalidValueError, LinAlgError, ShapeError
from . import _common as c
from ._solves import _is_vector_rhs, inv, solve, solve_triangular

__all__ = [
    "lu",
    "lu_factor",
    "lu_factor_ex",
    "lu_solve",
    "matrix_exp",
    "solve_ex",
    "tensorinv",
    "tensorsolve",
    "vander",
]


class LUFactorResult(NamedTuple):
    LU: Tensor
    pivots: Tensor


class LUFactorExResult(NamedTuple):
    LU: Tensor
    pivots: Tensor
    info: Tensor


class LUResult(NamedTuple):
    P: Tensor
    L: Tensor
    U: Tensor


class SolveExResult(NamedTuple):
    result: Tensor
    info: Tensor


# ---- the host factorisation ----------------------------------------------------------------


def _getrf(a: np.ndarray, pivot: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(LU, pivots, info)`` of a batch of ``(m, n)`` matrices, LAPACK ``getrf``'s
    conventions (1-based int32 pivots, ``info`` the 1-based first zero pivot or 0)."""
    batch, (m, n) = a.shape[:-2], a.shape[-2:]
    k = min(m, n)
    nb = _prod(batch)
    lu_ = np.array(a.reshape(nb, m, n), dtype=np.float64 if a.dtype == np.float64 else np.float32)
    piv = np.tile(np.arange(1, k + 1, dtype=np.int32), (nb, 1))
    info = np.zeros(nb, dtype=np.int32)
    rows = np.arange(nb)
    for j in range(k):
        if pivot:
            p = j + np.argmax(np.abs(lu_[:, j:, j]), axis=1)
            piv[:, j] = p + 1
            swap = p != j
            if swap.any():
                r = rows[swap]
                tmp = lu_[r, j, :].copy()
                lu_[r, j, :] = lu_[r, p[swap], :]
                lu_[r, p[swap], :] = tmp
        d = lu_[:, j, j]
        zero = d == 0
        info[(info == 0) & zero] = j + 1
        safe = np.where(zero, 1.0, d)
        mult = np.where(zero[:, None], lu_[:, j + 1 :, j], lu_[:, j + 1 :, j] / safe[:, None])
        lu_[:, j + 1 :, j] = mult
        lu_[:, j + 1 :, j + 1 :] = (
            lu_[:, j + 1 :, j + 1 :] - mult[:, :, None] * lu_[:, j, None, j + 1 :]
        )
    return (
        lu_.reshape(*batch, m, n),
        piv.reshape(*batch, k),
        info.reshape(batch),
    )


def _perm_matrix(piv: np.ndarray, m: int) -> np.ndarray:
    """``P`` with ``A = P L U`` from 1-based LAPACK row swaps."""
    batch = piv.shape[:-1]
    nb = _prod(batch)
    flat = piv.reshape(nb, piv.shape[-1]) - 1
    perm = np.tile(np.arange(m), (nb, 1))
    rows = np.arange(nb)
    for i in range(flat.shape[1]):
        p = flat[:, i]
        tmp = perm[rows, i].copy()
        perm[rows, i] = perm[rows, p]
        perm[rows, p] = tmp
    P = np.zeros((nb, m, m))
    for b in range(nb):
        P[b, perm[b], np.arange(m)] = 1.0
    return P.reshape(*batch, m, m)


def _unpack(lu_: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m, n = lu_.shape[-2:]
    k = min(m, n)
    L = np.tril(lu_[..., :, :k], -1) + np.eye(m, k, dtype=lu_.dtype)
    U = np.triu(lu_[..., :k, :])
    return L, U


class _LU(Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: FunctionCtx, A: Tensor, lu_: np.ndarray, piv: np.ndarray, pivot: bool
    ) -> tuple[Tensor, Tensor, Tensor]:
        L_np, U_np = _unpack(lu_)
        P = c.to_tensor(_perm_matrix(piv, A.shape[-2]), A)
        L, U = c.to_tensor(L_np, A), c.to_tensor(U_np, A)
        ctx.save_for_backward(P, L, U)
        ctx.pivot = pivot  # type: ignore[attr-defined]
        ctx.mark_non_differentiable(P)
        return P, L, U

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: FunctionCtx, gP: Optional[Tensor], gL: Optional[Tensor], gU: Optional[Tensor]
    ) -> tuple[Optional[Tensor], None, None, None]:
        P, L, U = ctx.saved_tensors
        gA = _lu_backward(
            gL if gL is not None else c.zeros(tuple(L.shape), L),
            gU if gU is not None else c.zeros(tuple(U.shape), U),
            P,
            L,
            U,
            ctx.pivot,  # type: ignore[attr-defined]
        )
        return gA, None, None, None


def _lu_backward(gL: Tensor, gU: Tensor, P: Tensor, L: Tensor, U: Tensor, pivot: bool) -> Tensor:
    """PyTorch's ``linalg_lu_backward`` for real matrices."""
    m, n = L.shape[-2], U.shape[-1]
    k = min(m, n)
    Lt, Ut = c.mT(L), c.mT(U)
    if m == n:
        gA = (Lt @ gL).tril(-1) + (gU @ Ut).triu()
        gA = solve_triangular(Ut, gA, upper=False, left=False)
        gA = solve_triangular(Lt, gA, upper=True, unitriangular=True)
    elif m < n:
        U1 = U.narrow(-1, 0, k)
        gA = Lt @ gL - gU.triu() @ Ut
        gA = solve_triangular(c.mT(U1), gA.tril(-1), upper=False, left=False)
        gA = _core.cat([gA + gU.narrow(-1, 0, k).triu(), gU.narrow(-1, k, n - k)], -1)
        gA = solve_triangular(Lt, gA, upper=True, unitriangular=True)
    else:
        L1 = L.narrow(-2, 0, k)
        gA = gU @ Ut - Lt @ gL.tril(-1)
        gA = solve_triangular(c.mT(L1), gA.triu(), upper=True, unitriangular=True)
        gA = _core.cat([gA + gL.narrow(-2, 0, k).tril(-1), gL.narrow(-2, k, m - k)], -2)
        gA = solve_triangular(Ut, gA, upper=False, left=False)
    return P @ gA if pivot else gA


def _factor(op: str, A: Tensor, pivot: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """``(P, L, U, pivots, info)`` with a graph from ``A`` to ``L`` and ``U``."""
    c.check_matrix(op, A)
    lu_, piv, info = _getrf(c.host(A), pivot)
    P, L, U = _LU.apply(A, lu_, piv, pivot)
    return P, L, U, c.to_tensor(piv, A, _core.int32), c.to_tensor(info, A, _core.int32)


def _pack(L: Tensor, U: Tensor) -> Tensor:
    """``L`` (unit diagonal dropped) and ``U`` in one ``(m, n)`` matrix, differentiably."""
    m, k, n = L.shape[-2], L.shape[-1], U.shape[-1]
    low = L.tril(-1)
    if m >= n:
        pad = c.zeros((*U.shape[:-2], m - k, n), U)
        return low + _core.cat([U, pad], -2)
    pad = c.zeros((*L.shape[:-2], m, n - k), L)
    return _core.cat([low, pad], -1) + U


def _zero_pivot_message(op: str, info: Tensor) -> str:
    flat = np.asarray(info.numpy()).reshape(-1)
    bad = int(np.flatnonzero(flat)[0])
    i = int(flat[bad])
    prefix = c.where_batch(op, flat.reshape(info.shape) != 0, tuple(info.shape))
    return (
        f"{prefix}U[{i},{i}] is zero and using it on lu_solve would result in a division by "
        "zero. If you still want to perform the factorization, consider calling "
        "linalg.lu(A, pivot) or linalg.lu_factor_ex(A, pivot)"
    )


@c.in_float32
def lu_factor_ex(A: Tensor, *, pivot: bool = True, check_errors: bool = False) -> LUFactorExResult:
    """``(LU, pivots, info)``: the LU factorisation with partial pivoting of ``(*, m, n)``
    matrices, ``L`` (unit diagonal implied) and ``U`` packed in ``LU``; ``pivots`` are
    LAPACK's 1-based row swaps (int32) and ``info`` is the 1-based index of the first zero
    pivot (0 if none). With ``check_errors`` a zero pivot raises ``LinAlgError``."""
    _, L, U, piv, info = _factor("linalg.lu_factor_ex", A, pivot)
    if check_errors and bool((info != 0).any()):
        raise LinAlgError(_zero_pivot_message("torch.linalg.lu_factor_ex", info))
    return LUFactorExResult(_pack(L, U), piv, info)


@c.in_float32
def lu_factor(A: Tensor, *, pivot: bool = True) -> LUFactorResult:
    """``(LU, pivots)`` as ``lu_factor_ex``; ``LinAlgError`` if a pivot is zero (a singular
    matrix that ``lu_solve`` could not use)."""
    _, L, U, piv, info = _factor("linalg.lu_factor", A, pivot)
    if bool((info != 0).any()):
        raise LinAlgError(_zero_pivot_message("torch.linalg.lu_factor", info))
    return LUFactorResult(_pack(L, U), piv)


@c.in_float32
def lu(A: Tensor, *, pivot: bool = True) -> LUResult:
    """``(P, L, U)`` with ``A = P L U`` for ``(*, m, n)`` matrices: ``P`` a permutation,
    ``L`` ``(m, k)`` unit lower triangular, ``U`` ``(k, n)`` upper triangular, ``k = min(m,
    n)``. Differentiable (PyTorch's backward)."""
    P, L, U, _, _ = _factor("linalg.lu", A, pivot)
    return LUResult(P, L, U)


def _perm_from_pivots(pivots: Tensor, m: int, like: Tensor) -> Tensor:
    piv = np.asarray(pivots.detach().numpy()).astype(np.int64)
    if piv.size and (piv.min() < 1 or piv.max() > m):
        raise InvalidValueError(f"linalg.lu_solve: pivots must be 1-based row indices in [1, {m}]")
    return c.to_tensor(_perm_matrix(piv, m), like)


@c.in_float32
def lu_solve(
    LU: Tensor, pivots: Tensor, B: Tensor, *, left: bool = True, adjoint: bool = False
) -> Tensor:
    """The solution of ``A X = B`` from ``lu_factor(A)`` (``X A = B`` if not ``left``;
    ``Aᵀ`` in place of ``A`` with ``adjoint``). Differentiable in ``LU`` and ``B``."""
    c.check_matrix("linalg.lu_solve", LU, name="LU", square=True)
    c.check_matrix("linalg.lu_solve", B, name="B")
    c.check_same_dtype("linalg.lu_solve", "LU", LU, "B", B)
    if pivots.dtype != _core.int32:
        raise InvalidValueError(f"linalg.lu_solve: Expected pivots to be int32, got {pivots.dtype}")
    n = LU.shape[-1]
    if tuple(pivots.shape[-1:]) != (n,):
        raise ShapeError(
            f"linalg.lu_solve: Expected pivots of shape (*, {n}), got {tuple(pivots.shape)}"
        )
    if (B.shape[-2] if left else B.shape[-1]) != n:
        eq = "AX = B" if left else "XA = B"
        raise ShapeError(
            f"linalg.lu_solve: Incompatible shapes of A and B for the equation {eq} "
            f"({n}x{n} and {B.shape[-2]}x{B.shape[-1]})"
        )
    P = _perm_from_pivots(pivots, n, LU)
    if not left:
        # X A = B  <=>  Aᵀ Xᵀ = Bᵀ (real matrices): the other orientation, transposed back.
        return c.mT(lu_solve(LU, pivots, c.mT(B), left=True, adjoint=not adjoint))
    eye = c.eye_like(n, LU)
    L = LU.tril(-1) + eye
    U = LU.triu()
    if not adjoint:  # A = P L U:  X = U⁻¹ L⁻¹ Pᵀ B
        Y = solve_triangular(L, c.mT(P) @ B, upper=False, unitriangular=True)
        return solve_triangular(U, Y, upper=True)
    # Aᵀ = Uᵀ Lᵀ Pᵀ:  X = P L⁻ᵀ U⁻ᵀ B
    Y = solve_triangular(c.mT(U), B, upper=False)
    return P @ solve_triangular(c.mT(L), Y, upper=True, unitriangular=True)


@c.in_float32
def solve_ex(
    A: Tensor, B: Tensor, *, left: bool = True, check_errors: bool = False
) -> SolveExResult:
    """``(result, info)``: ``linalg.solve`` that reports singular matrices in ``info``
    (int32, the 1-based first zero pivot of ``A``'s LU, 0 where solvable) instead of raising;
    their ``result`` is NaN. With ``check_errors`` a singular matrix raises ``LinAlgError``."""
    c.check_matrix("linalg.solve_ex", A, square=True)
    c.check_float("linalg.solve_ex", B)
    c.check_same_dtype("linalg.solve_ex", "A", A, "B", B)
    _, _, info_np = _getrf(c.host(A), True)
    info = c.to_tensor(info_np, A, _core.int32)
    if not info_np.any():
        return SolveExResult(solve(A, B, left=left), info)
    if check_errors:
        raise LinAlgError(
            c.where_batch("torch.linalg.solve_ex", info_np != 0, A.shape[:-2])
            + "The solver failed because the input matrix is singular."
        )
    good = c.to_tensor(info_np == 0, A, _core.bool).unsqueeze(-1).unsqueeze(-1)
    safe = _core.where(good, A, c.eye_like(A.shape[-1], A))  # keeps the graph to A
    X = solve(safe, B, left=left)
    mask = c.to_tensor(info_np == 0, A, _core.bool)
    extra = 1 if _is_vector_rhs(A, B) else 2
    mask = mask.reshape(tuple(mask.shape) + (1,) * extra)
    nan = _core.full(tuple(X.shape), float("nan"), dtype=X.dtype, device=X.device)
    return SolveExResult(_core.where(mask, X, nan), info)


_TAYLOR_DEGREE = 18


@c.autocast_off
@c.in_float32
def matrix_exp(A: Tensor) -> Tensor:
    """The matrix exponential ``Σ Aᵏ / k!`` of square matrices (``torch.linalg.matrix_exp``):
    scaling and squaring around a degree-18 Taylor polynomial; differentiable."""
    c.check_matrix("linalg.matrix_exp", A, square=True)
    n = A.shape[-1]
    if A.numel() == 0:
        return A.clone()
    norm = float(np.max(np.abs(c.host(A)).sum(axis=-2)))  # the largest 1-norm in the batch
    s = 0
    if math.isfinite(norm) and norm > 0.5:
        s = math.ceil(math.log2(norm / 0.5))
    X = A / float(2**s) if s else A
    eye = c.eye_like(n, A)
    E = eye
    for k in range(_TAYLOR_DEGREE, 0, -1):  # Horner: I + X/1 (I + X/2 (I + ...))
        E = eye + (X @ E) / float(k)
    for _ in range(s):
        E = E @ E
    return E


def _prod(shape: Sequence[int]) -> int:
    return int(np.prod(shape, dtype=np.int64)) if len(shape) else 1


@c.autocast_fp32
def tensorinv(A: Tensor, ind: int = 2) -> Tensor:
    """The inverse of ``A`` seen as a linear map from its last ``ndim - ind`` dimensions to
    its first ``ind``: the result has shape ``A.shape[ind:] + A.shape[:ind]``."""
    if ind <= 0:
        raise InvalidValueError(f"Expected a strictly positive integer for 'ind', but got {ind}")
    shape = tuple(A.shape)
    left, right = _prod(shape[:ind]), _prod(shape[ind:])
    if left != right:
        raise ShapeError(
            "Expected self to satisfy the requirement prod(self.shape[ind:]) == "
            f"prod(self.shape[:ind]), but got {right} != {left}"
        )
    return inv(A.reshape((left, right))).reshape(shape[ind:] + shape[:ind])


@c.autocast_fp32
def tensorsolve(A: Tensor, B: Tensor, dims: Optional[Sequence[int]] = None) -> Tensor:
    """The ``X`` with ``tensordot(A, X, X.ndim) == B``; ``X`` has shape
    ``A.shape[B.ndim:]``. ``dims`` are dimensions of ``A`` moved to the end first."""
    if dims is not None:
        moved = [d % A.ndim for d in dims]
        rest = [d for d in range(A.ndim) if d not in moved]
        A = A.permute(rest + moved)
    result_shape = tuple(A.shape[B.ndim :])
    result_product = _prod(result_shape)
    other_product = B.numel()
    if result_product != other_product:
        raise ShapeError(
            "Expected self to satisfy the requirement prod(self.shape[other.ndim:]) == "
            f"prod(self.shape[:other.ndim]), but got {result_product} != {other_product}"
        )
    A2 = A.reshape((other_product, result_product))
    return solve(A2, B.reshape((other_product,))).reshape(result_shape)


def vander(x: Tensor, *, N: Optional[int] = None) -> Tensor:
    """The Vandermonde matrix of ``x`` (``(*, n)`` to ``(*, n, N)``): column ``j`` is
    ``x ** j``, increasing powers from ``x ** 0`` (``torch.linalg.vander``)."""
    if x.ndim < 1:
        raise ShapeError("linalg.vander: x must have at least one dimension")
    cols = x.shape[-1] if N is None else N
    if cols <= 1:
        raise InvalidValueError("N must be greater than 1.")
    if x.dtype == _core.bool:
        raise DTypeError(
            "linalg.vander supports floating point, complex, and integer tensors, but got Bool"
        )
    if not x.dtype.is_floating_point and x.dtype != _core.int64:
        x = x.to(_core.int64)  # integer powers in int64, as PyTorch's
    powers = [_core.ones(tuple(x.shape), dtype=x.dtype, device=x.device)]
    for _ in range(cols - 1):
        powers.append(powers[-1] * x)
    return _core.stack(powers, -1)


# ---- randomized low-rank SVD / PCA (Halko, Martinsson & Tropp 2009) --------------------------
# torch.svd_lowrank / torch.pca_lowrank: top-level in PyTorch (not torch.linalg), so exported
# by the package's __init__, not listed in __all__ here.


def _approximate_basis(A: Tensor, q: int, niter: int, M: Optional[Tensor]) -> Tensor:
    """An orthonormal ``(*, m, q)`` basis approximating ``A - M``'s range: a Gaussian sketch
    refined by ``niter`` subspace (power) iterations, re-orthonormalised by QR each step."""
    from .. import _random
    from ._decompositions import qr

    dtype = A.dtype if A.dtype.is_floating_point else _core.float32
    R = _random.randn(A.shape[-1], q, dtype=dtype, device=A.device)
    X = A.matmul(R)
    if M is not None:
        X = X - M.matmul(R)
    Q = qr(X).Q
    for _ in range(niter):
        X = A.mT.matmul(Q)
        if M is not None:
            X = X - M.mT.matmul(Q)
        Q = qr(X).Q
        X = A.matmul(Q)
        if M is not None:
            X = X - M.matmul(Q)
        Q = qr(X).Q
    return Q


def _svd_lowrank(
    A: Tensor, q: int, niter: int, M: Optional[Tensor]
) -> tuple[Tensor, Tensor, Tensor]:
    from ._decompositions import svd

    m, n = A.shape[-2:]
    if M is not None:
        M = M.broadcast_to(tuple(A.shape))
    tall = m >= n
    if not tall:  # work on the tall transpose
        A = A.mT
        M = None if M is None else M.mT
    Q = _approximate_basis(A, q, niter, M)
    B = Q.mT.matmul(A)
    if M is not None:
        B = B - Q.mT.matmul(M)
    U, S, Vh = svd(B, full_matrices=False)
    V = Vh.mT
    U = Q.matmul(U)
    return (U, S, V) if tall else (V, S, U)


def _check_matrix(A: Tensor, op: str) -> None:
    if not isinstance(A, Tensor):
        raise TypeError(f"{op}(): argument 'A' must be Tensor, not {type(A).__name__}")
    if A.ndim < 2:
        raise ShapeError(f"{op}: A must have at least 2 dimensions, got {A.ndim}")
    if not A.dtype.is_floating_point:
        raise DTypeError(f"{op}: expected a floating-point tensor, got {A.dtype}")


def svd_lowrank(
    A: Tensor, q: Optional[int] = 6, niter: Optional[int] = 2, M: Optional[Tensor] = None
) -> tuple[Tensor, Tensor, Tensor]:
    """A rank-``q`` approximate SVD ``(U, S, V)`` of ``A - M`` (``(*, m, n)``; ``M``
    broadcast to it), ``A - M ~ U @ diag(S) @ V.mT``, as ``torch.svd_lowrank``: randomized
    (a Gaussian sketch from the global generator) with ``niter`` subspace iterations;
    exact up to rounding when the rank is at most ``q``. Differentiable (QR and SVD of
    small matrices)."""
    _check_matrix(A, "svd_lowrank")
    q = 6 if q is None else int(q)
    niter = 2 if niter is None else int(niter)
    if q < 1 or niter < 0:
        raise InvalidValueError(
            f"svd_lowrank: need q >= 1 and niter >= 0, got q={q}, niter={niter}"
        )
    return _svd_lowrank(A, q, niter, M)


def pca_lowrank(
    A: Tensor, q: Optional[int] = None, center: bool = True, niter: int = 2
) -> tuple[Tensor, Tensor, Tensor]:
    """Principal components of the rows of ``A`` (``(*, m, n)``), as ``torch.pca_lowrank``:
    ``svd_lowrank`` of ``A`` less its column means (``center=True``) with ``q`` components
    (default ``min(6, m, n)``). ``V[..., :k]`` are the principal directions;
    ``S ** 2 / (m - 1)`` the variances they explain."""
    _check_matrix(A, "pca_lowrank")
    m, n = A.shape[-2:]
    if q is None:
        q = min(6, m, n)
    elif not 0 <= q <= min(m, n):
        raise InvalidValueError(
            f"q(={q}) must be non-negative integer and not greater than min(m, n)={min(m, n)}"
        )
    if not niter >= 0:
        raise InvalidValueError(f"niter(={niter}) must be non-negative integer")
    if not center:
        return _svd_lowrank(A, int(q), int(niter), None)
    C = A.mean(dim=-2, keepdim=True)
    return _svd_lowrank(A - C, int(q), int(niter), None)
