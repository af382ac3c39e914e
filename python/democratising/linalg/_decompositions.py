"""Factorisations: ``cholesky``/``cholesky_ex``, ``qr``, ``eigh``/``eigvalsh`` and
``svd``/``svdvals``, forwards on NumPy's LAPACK, backwards in engine ops (real matrices):

- ``cholesky`` (``A = L L^T``): ``P = Phi(L^T G)`` (lower triangle, diagonal halved),
  ``S = L^-T P L^-1``, ``gA = (S + S^T) / 2``;
- ``qr`` (``m >= n``): ``M = R gR^T - gQ^T Q``, ``gA = (gQ + Q sym_lower(M)) R^-T``; for
  ``m < n`` the trailing columns ``Y = Q R2`` are handled as a product, the leading square
  block as above;
- ``eigh``: ``gA = V (diag(gL) + F o (V^T gV)) V^T`` with ``F_ij = 1 / (l_j - l_i)``;
- ``svd``: ``gA = U [(F o (U^T gU - gU^T U)) S + S (F o (V^T gV - gV^T V)) + diag(gS)] V^T
  + (I - U U^T) gU S^-1 V^T + U S^-1 gV^T (I - V V^T)`` with ``F_ij = 1 / (s_j^2 - s_i^2)``.

As in PyTorch, eigenvector and singular-vector gradients are only defined for distinct
eigen/singular values (repeated ones give inf/NaN), and are gauge-invariant for real inputs
only through losses that do not depend on the vectors' signs."""

# Matrices keep their mathematical and PyTorch names (A, B, L, Q, R, U, S, Vh, gA, ...).
# ruff: noqa: N803, N806

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .. import _core
from .._core import Tensor
from .._function import Function, FunctionCtx
from ..errors import AutogradError, InvalidValueError
from . import _common as c
from ._solves import solve_triangular


def _first_failing_minor(m: np.ndarray) -> int:
    """The order of the smallest leading minor of ``m`` that is not positive-definite
    (bisection: once one fails, every larger one does)."""
    lo, hi = 1, m.shape[-1]
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            np.linalg.cholesky(m[:mid, :mid])
            lo = mid + 1
        except np.linalg.LinAlgError:
            hi = mid
    return lo


def _cholesky_host(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(L, info)``; ``info`` is 0, or the order of the failing minor (then ``L`` is 0)."""
    if a.size == 0:
        # 0x0 matrices (or an empty batch): reshape(-1, 0, 0) cannot infer the batch size.
        return np.zeros_like(a), np.zeros(a.shape[:-2], dtype=np.int32)
    flat = a.reshape(-1, *a.shape[-2:])
    info = np.zeros(len(flat), dtype=np.int32)
    try:
        out = np.linalg.cholesky(flat)
    except np.linalg.LinAlgError:
        out = np.zeros_like(flat)
        for i, m in enumerate(flat):
            try:
                out[i] = np.linalg.cholesky(m)
            except np.linalg.LinAlgError:
                info[i] = _first_failing_minor(m)
    # LAPACK lets a NaN through; PyTorch's factorisation fails at the first NaN pivot.
    nan_pivot = np.isnan(np.diagonal(out, axis1=-2, axis2=-1))
    for i in np.flatnonzero(nan_pivot.any(-1)):
        info[i] = 1 + int(np.argmax(nan_pivot[i]))
        out[i] = 0
    return out.reshape(a.shape), info.reshape(a.shape[:-2])


class _Cholesky(Function):
    @staticmethod
    def forward(ctx: FunctionCtx, A: Tensor, info_out: list[np.ndarray]) -> Tensor:
        L, info = _cholesky_host(c.host(A))
        info_out.append(info)
        out = c.to_tensor(L, A)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (L,) = ctx.saved_tensors
        P = c.mT(L) @ g.tril()
        P = P.tril() - 0.5 * c.diag_embed(c.diag_part(P))
        T = solve_triangular(c.mT(L), P, upper=True)
        S = solve_triangular(L, T, upper=False, left=False)
        return 0.5 * (S + c.mT(S)), None


def _cholesky(op: str, A: Tensor, upper: bool, check: bool) -> tuple[Tensor, Tensor]:
    c.check_matrix(op, A, square=True)
    infos: list[np.ndarray] = []
    # The upper factor reads the upper triangle: the lower factor of the transpose, transposed.
    L = _Cholesky.apply(c.mT(A) if upper else A, infos)
    info = infos[0]
    if check and info.any():
        where = c.where_batch(op, info != 0, A.shape[:-2])
        order = int(info.reshape(-1)[np.flatnonzero(info.reshape(-1))[0]])
        raise c.LinAlgError(
            f"{where}The factorization could not be completed because the input is not "
            f"positive-definite (the leading minor of order {order} is not positive-definite)."
        )
    return (c.mT(L) if upper else L), c.to_tensor(info, A, _core.int32)


@c.autocast_fp32
@c.in_float32
def cholesky(A: Tensor, *, upper: bool = False) -> Tensor:
    """The Cholesky factor ``L`` (``A = L L^T``; ``U = L^T`` if ``upper``) of symmetric
    positive-definite matrices (``torch.linalg.cholesky``), reading the lower triangle (the
    upper one if ``upper``);
    ``LinAlgError`` if one is not positive-definite."""
    return _cholesky("linalg.cholesky", A, upper, True)[0]


@c.autocast_fp32
@c.in_float32
def cholesky_ex(
    A: Tensor, *, upper: bool = False, check_errors: bool = False
) -> c.CholeskyExResult:
    """``(L, info)``: ``info`` (int32) is 0, or the order of the leading minor that is not
    positive-definite (that matrix's ``L`` is then zeros), unless ``check_errors``."""
    return c.CholeskyExResult(*_cholesky("linalg.cholesky_ex", A, upper, check_errors))


def _sym_lower(M: Tensor) -> Tensor:
    """The symmetric matrix with ``M``'s lower triangle."""
    low = M.tril(-1)
    return low + c.mT(low) + c.diag_embed(c.diag_part(M))


def _qr_back_tall(Q: Tensor, R: Tensor, gQ: Tensor, gR: Tensor) -> Tensor:
    M = R @ c.mT(gR) - c.mT(gQ) @ Q
    b = gQ + Q @ _sym_lower(M)
    return solve_triangular(c.mT(R), b, upper=False, left=False)


class _QR(Function):
    @staticmethod
    def forward(ctx: FunctionCtx, A: Tensor, mode: str) -> tuple[Tensor, Tensor]:
        a = c.host(A)
        if mode == "r":
            R = np.linalg.qr(a, mode="r")
            Q = c.zeros((0,), A)
            ctx.mark_non_differentiable(Q)
        else:
            q, R = np.linalg.qr(a, mode=mode)  # type: ignore[call-overload]
            Q = c.to_tensor(q, A)
        Rt = c.to_tensor(R, A)  # type: ignore[arg-type]
        ctx.save_for_backward(A, Q, Rt)
        ctx.mode = mode  # type: ignore[attr-defined]
        return Q, Rt

    @staticmethod
    def backward(ctx: FunctionCtx, gQ: Tensor, gR: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        A, Q, R = ctx.saved_tensors
        m, n = A.shape[-2], A.shape[-1]
        mode = ctx.mode  # type: ignore[attr-defined]
        if mode == "r":
            raise AutogradError(
                "The derivative of linalg.qr depends on Q, which is not computed when "
                "mode='r'. Please use linalg.qr(A, mode='reduced') if you are going to "
                "differentiate through linalg.qr."
            )
        if mode == "complete" and m > n:
            raise AutogradError(
                "The QR decomposition is not differentiable when mode='complete' and nrows > ncols."
            )
        if m >= n:
            return _qr_back_tall(Q, R, gQ, gR), None
        Y = A.narrow(-1, m, n - m)
        gR1, gR2 = gR.narrow(-1, 0, m), gR.narrow(-1, m, n - m)
        gX = _qr_back_tall(Q, R.narrow(-1, 0, m), gQ + Y @ c.mT(gR2), gR1)
        return _core.cat([gX, Q @ gR2], -1), None


@c.autocast_fp32
@c.in_float32
def qr(A: Tensor, mode: str = "reduced") -> c.QRResult:
    """``(Q, R)`` with ``A = Q R`` (``torch.linalg.qr``): ``mode`` ``"reduced"`` (``Q`` is
    ``m x k``, ``k = min(m, n)``), ``"complete"`` (``Q`` is ``m x m``) or ``"r"`` (``Q`` empty)."""
    if mode not in ("reduced", "complete", "r"):
        raise InvalidValueError(
            f"qr received unrecognized mode '{mode}' but expected one of 'reduced' (default), "
            "'r', or 'complete'"
        )
    c.check_matrix("linalg.qr", A)
    return c.QRResult(*_QR.apply(A, mode))


def _eigh_host(op: str, a: np.ndarray, uplo: str, vectors: bool = True) -> Any:
    """NumPy's ``eigh`` (``eigvalsh`` without ``vectors``); a matrix holding NaN or inf is
    PyTorch's ``LinAlgError`` (LAPACK fails to converge), not NumPy's error."""
    read = np.tril(a) if uplo == "L" else np.triu(a)  # (the other triangle is not read)
    if not np.isfinite(read).all():
        bad = ~np.isfinite(read).all(axis=(-2, -1))
        raise c.LinAlgError(
            c.where_batch(op, bad, a.shape[:-2]) + "The algorithm failed to converge because "
            "the input matrix is ill-conditioned or has too many repeated eigenvalues."
        )
    fn = np.linalg.eigh if vectors else np.linalg.eigvalsh
    return fn(a, UPLO=uplo)  # type: ignore[operator]


class _Eigh(Function):
    @staticmethod
    def forward(ctx: FunctionCtx, A: Tensor, uplo: str) -> tuple[Tensor, Tensor]:
        w, v = _eigh_host("linalg.eigh", c.host(A), uplo)
        L, V = c.to_tensor(w, A), c.to_tensor(v, A)
        ctx.save_for_backward(L, V)
        return L, V

    @staticmethod
    def backward(ctx: FunctionCtx, gL: Tensor, gV: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        L, V = ctx.saved_tensors
        inner = c.diag_embed(gL)
        if not c.unused(gV):
            E = L.unsqueeze(-2) - L.unsqueeze(-1)  # E_ij = l_j - l_i
            n = L.shape[-1]
            off = 1.0 - c.eye_like(n, L)
            F = off / (E + c.eye_like(n, L))
            # Only the skew part of V^T gV moves an orthogonal V; keeping just it makes gA
            # symmetric, as PyTorch's (the input is taken to be symmetric).
            M = c.mT(V) @ gV
            inner = inner + F * ((M - c.mT(M)) * 0.5)
        return V @ inner @ c.mT(V), None


def _uplo(op: str, UPLO: str) -> str:
    if UPLO not in ("L", "U"):
        raise InvalidValueError(f"{op}: UPLO must be 'L' or 'U', got {UPLO!r}")
    return UPLO


@c.autocast_fp32
@c.in_float32
def eigh(A: Tensor, UPLO: str = "L") -> c.EighResult:
    """``(eigenvalues, eigenvectors)`` of symmetric matrices, eigenvalues ascending
    (``torch.linalg.eigh``), reading the ``UPLO`` triangle."""
    c.check_matrix("linalg.eigh", A, square=True)
    return c.EighResult(*_Eigh.apply(A, _uplo("linalg.eigh", UPLO)))


@c.autocast_fp32
@c.in_float32
def eigvalsh(A: Tensor, UPLO: str = "L") -> Tensor:
    """The eigenvalues of symmetric matrices, ascending (``torch.linalg.eigvalsh``)."""
    c.check_matrix("linalg.eigvalsh", A, square=True)
    uplo = _uplo("linalg.eigvalsh", UPLO)
    if A.requires_grad and _core.is_grad_enabled():
        return _Eigh.apply(A, uplo)[0]
    return c.to_tensor(_eigh_host("linalg.eigvalsh", c.host(A), uplo, vectors=False), A)


def _svd_host(a: np.ndarray, full: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m, n = a.shape[-2], a.shape[-1]
    if a.size == 0:  # NumPy's gufunc refuses empty matrices
        k = min(m, n)
        ur, vc = (m if full else k), (n if full else k)
        batch = a.shape[:-2]
        eye_u = np.broadcast_to(np.eye(m, ur, dtype=a.dtype), (*batch, m, ur))
        eye_v = np.broadcast_to(np.eye(vc, n, dtype=a.dtype), (*batch, vc, n))
        return eye_u.copy(), np.zeros((*batch, k), dtype=a.dtype), eye_v.copy()
    return c.np_svd("linalg.svd", a, full_matrices=full)


class _SVD(Function):
    @staticmethod
    def forward(ctx: FunctionCtx, A: Tensor, full: bool) -> tuple[Tensor, Tensor, Tensor]:
        u, s, vh = _svd_host(c.host(A), full)
        U, S, Vh = c.to_tensor(u, A), c.to_tensor(s, A), c.to_tensor(vh, A)
        ctx.save_for_backward(A, U, S, Vh)
        return U, S, Vh

    @staticmethod
    def backward(ctx: FunctionCtx, gU: Tensor, gS: Tensor, gVh: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        A, U, S, Vh = ctx.saved_tensors
        m, n = A.shape[-2], A.shape[-1]
        k = S.shape[-1]
        # With full_matrices the extra columns are not unique: only the first k count.
        U, gU = U.narrow(-1, 0, k), gU.narrow(-1, 0, k)
        Vh, gVh = Vh.narrow(-2, 0, k), gVh.narrow(-2, 0, k)
        inner = c.diag_embed(gS)
        has_u, has_v = not c.unused(gU), not c.unused(gVh)
        if not (has_u or has_v):
            return U @ inner @ Vh, None
        V, gV = c.mT(Vh), c.mT(gVh)
        S2 = S * S
        eye = c.eye_like(k, S)
        F = (1.0 - eye) / (S2.unsqueeze(-2) - S2.unsqueeze(-1) + eye)
        Sd = S.unsqueeze(-2)  # multiplies columns: X * Sd = X diag(S)
        inv_s = S.reciprocal().unsqueeze(-2)
        gA_extra = None
        if has_u:
            UtgU = c.mT(U) @ gU
            inner = inner + (F * (UtgU - c.mT(UtgU))) * Sd
            if m > k:
                proj = gU - U @ UtgU
                gA_extra = (proj * inv_s) @ Vh
        if has_v:
            VtgV = c.mT(V) @ gV
            inner = inner + c.mT(Sd) * (F * (VtgV - c.mT(VtgV)))
            if n > k:
                proj = gV - V @ VtgV  # (I - V V^T) gV, n x k
                term = U @ c.mT(proj * inv_s)
                gA_extra = term if gA_extra is None else gA_extra + term
        gA = U @ inner @ Vh
        return (gA if gA_extra is None else gA + gA_extra), None


@c.autocast_fp32
@c.in_float32
def svd(A: Tensor, full_matrices: bool = True, *, driver: Optional[str] = None) -> c.SVDResult:
    """``(U, S, Vh)`` with ``A = U diag(S) Vh``, singular values descending
    (``torch.linalg.svd``); ``full_matrices`` makes ``U`` ``m x m`` and ``Vh`` ``n x n``
    (gradients use their first ``min(m, n)`` columns). ``driver`` (CUDA-only in PyTorch) is
    accepted and ignored."""
    del driver
    c.check_matrix("linalg.svd", A)
    return c.SVDResult(*_SVD.apply(A, full_matrices))


@c.autocast_fp32
@c.in_float32
def svdvals(A: Tensor, *, driver: Optional[str] = None) -> Tensor:
    """The singular values, descending (``torch.linalg.svdvals``); differentiable
    (``gA = U diag(gS) Vh``) even where they repeat."""
    del driver
    c.check_matrix("linalg.svdvals", A)
    if A.requires_grad and _core.is_grad_enabled():
        return _SVD.apply(A, False)[1]
    return c.to_tensor(_svd_host(c.host(A), False)[1], A)


# ---- torch.* spellings (older signatures) ----


def cholesky_legacy(input: Tensor, upper: bool = False) -> Tensor:
    """``torch.cholesky(input, upper=False)``."""
    return cholesky(input, upper=upper)


def qr_legacy(input: Tensor, some: bool = True) -> c.QRResult:
    """``torch.qr(input, some=True)``: reduced, or complete if not ``some``."""
    return qr(input, "reduced" if some else "complete")


@c.autocast_fp32
def svd_legacy(input: Tensor, some: bool = True, compute_uv: bool = True) -> c.TorchSVDResult:
    """``torch.svd``: ``(U, S, V)`` with ``V`` (not ``Vh``), reduced unless ``some=False``;
    without ``compute_uv`` ``U`` and ``V`` are zeros."""
    if not compute_uv:
        S = svdvals(input)
        m, n = input.shape[-2], input.shape[-1]
        batch = tuple(input.shape[:-2])
        # As PyTorch's: square zero U and V whatever ``some`` says.
        return c.TorchSVDResult(c.zeros((*batch, m, m), input), S, c.zeros((*batch, n, n), input))
    U, S, Vh = svd(input, full_matrices=not some)
    return c.TorchSVDResult(U, S, c.mT(Vh))
