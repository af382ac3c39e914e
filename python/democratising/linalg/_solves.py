"""Inverses, determinants and linear solves: ``inv``/``inv_ex``, ``det``, ``slogdet``,
``logdet``, ``solve``, ``solve_triangular``, ``pinv`` and ``lstsq``. Forwards run on NumPy's
LAPACK; each backward is written in engine ops (solves inside it go through the same host
path):

- ``inv``: ``gA = -X^T G X^T`` with ``X = A^-1``;
- ``det``: ``gA = g * cof(A)``, the cofactor matrix (the adjugate's transpose) taken from the
  SVD, so singular matrices get their (finite) gradient too; a graph-building backward
  (``create_graph``) uses ``det(A) A^-T`` in engine ops, or the cofactor polynomial where
  ``A`` is singular;
- ``slogdet``: ``gA = g * A^-T``;
- ``solve``: ``gB = A^-T G``, ``gA = -gB X^T`` (summed over broadcast batch dimensions);
- ``solve_triangular``: the same, restricted to the triangle that is read;
- ``pinv``: the closed form for a matrix of constant rank,
  ``-X^T G X^T + (I - A X) G^T X X^T + X^T X G^T (I - X A)``."""

# Matrices keep their mathematical and PyTorch names (A, B, L, Q, R, U, S, Vh, gA, ...).
# ruff: noqa: N803, N806

from __future__ import annotations

import math
from typing import Any, Optional, Union

import numpy as np

from .. import _core
from .._core import Tensor
from .._function import Function, FunctionCtx
from .._tensor_extra import where
from ..errors import InvalidValueError, ShapeError
from . import _common as c


class _Inv(Function):
    @staticmethod
    def forward(ctx: FunctionCtx, A: Tensor) -> Tensor:
        why = "The input matrix is singular (an exact zero pivot), so it has no inverse."
        X = c.to_tensor(c.lapack("linalg.inv", np.linalg.inv, c.host(A), why), A)
        ctx.save_for_backward(X)
        return X

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> Tensor:  # type: ignore[override]
        (X,) = ctx.saved_tensors
        Xt = c.mT(X)
        return -(Xt @ g @ Xt)


@c.autocast_fp32
@c.in_float32
def inv(A: Tensor) -> Tensor:
    """The inverse of square matrices (``torch.linalg.inv``); ``LinAlgError`` if one is
    singular."""
    c.check_matrix("linalg.inv", A, square=True)
    return _Inv.apply(A)


@c.autocast_fp32
@c.in_float32
def inv_ex(A: Tensor, *, check_errors: bool = False) -> c.InvExResult:
    """``(inverse, info)``: ``info`` (int32, per matrix) is 0 where the inverse exists and
    positive where the matrix is singular (then its inverse is NaN), unless ``check_errors``."""
    c.check_matrix("linalg.inv_ex", A, square=True)
    a = c.host(A)
    flat = a.reshape(math.prod(a.shape[:-2]), *a.shape[-2:])  # -1 is ambiguous for 0 x 0
    info = np.zeros(len(flat), dtype=np.int32)
    try:
        np.linalg.inv(flat)
    except np.linalg.LinAlgError:
        for i, m in enumerate(flat):
            if np.isnan(m).any():  # NaN out (the inverse's own rule), not a singular matrix
                continue
            try:
                np.linalg.inv(m)
            except np.linalg.LinAlgError:
                info[i] = 1 + int(np.argmin(np.abs(np.diag(np.linalg.qr(m, mode="r")))))
    info = info.reshape(a.shape[:-2])  # type: ignore[assignment]
    if check_errors and info.any():
        return c.InvExResult(inv(A), c.to_tensor(info, A, _core.int32))
    if not info.any():
        out = _Inv.apply(A)
    else:
        good = c.to_tensor(info == 0, A, _core.bool).unsqueeze(-1).unsqueeze(-1)
        safe = _core.where(good, A, c.eye_like(A.shape[-1], A))  # keeps the graph to A
        nan = _core.full(tuple(A.shape), float("nan"), dtype=A.dtype, device=A.device)
        out = _core.where(good, _Inv.apply(safe), nan)
    return c.InvExResult(out, c.to_tensor(info, A, _core.int32))


def _cofactor(a: np.ndarray) -> np.ndarray:
    """The cofactor matrix of each matrix (``d det(A) / dA``), singular ones included, from
    ``A = U S V^T``: ``det(U) det(V) U diag(prod_{j != i} s_j) V^T``."""
    n = a.shape[-1]
    if n == 0 or a.size == 0:
        return np.zeros_like(a)
    if not np.isfinite(a).all():  # det is NaN/inf there, and so is its gradient
        return np.full_like(a, np.nan)
    u, s, vt = np.linalg.svd(a)
    others = np.repeat(s[..., None, :], n, axis=-2)
    idx = np.arange(n)
    others[..., idx, idx] = 1.0
    p = np.prod(others, axis=-1)
    sign = np.linalg.det(u) * np.linalg.det(vt)
    return (sign[..., None, None] * (u * p[..., None, :])) @ vt


def _singular_mask(a: np.ndarray) -> np.ndarray:
    """Which matrices are singular to working precision (``s_min <= n eps s_max``), where
    ``det(A) A^-T`` would lose the cofactor: those take the polynomial form."""
    n = a.shape[-1]
    finite = np.isfinite(a).all(axis=(-2, -1))
    # (LAPACK's SVD never ends on some infinite matrices: those take zeros, then count as not
    # singular, their determinant's gradient being non-finite anyway)
    s = np.linalg.svd(np.where(finite[..., None, None], a, 0), compute_uv=False)
    return np.asarray((s[..., -1] <= n * np.finfo(a.dtype).eps * s[..., 0]) & finite)


def _cofactor_poly(A: Tensor) -> Tensor:
    """``cof(A)``, a polynomial in ``A``, in differentiable ops (Faddeev-LeVerrier: ``n - 1``
    matmuls, ``adj(A) = (-1)^(n+1) M_n``): exact derivatives of every order at singular
    matrices too, whatever their rank (an SVD-based form fails at repeated singular
    values)."""
    n = A.shape[-1]
    eye = c.eye_like(n, A)
    M = eye.expand(A.shape)  # M_1 = I
    for k in range(1, n):
        AM = A @ M
        coef = c.diag_part(AM).sum(-1) / -k  # c_(n-k) = -tr(A M_k) / k
        M = AM + coef.unsqueeze(-1).unsqueeze(-1) * eye
    return c.mT(M if n % 2 else -M)


def _det_grad_graph(A: Tensor, det: Tensor, g: Tensor) -> Tensor:
    """``g * cof(A)`` in differentiable ops, for a backward that builds a graph
    (``create_graph=True``): ``det(A) A^-T`` where ``A`` is invertible, the cofactor
    polynomial where it is singular (the inverse on a stand-in there, so no inf reaches
    ``where``)."""
    a = c.host(A)
    gs = g.unsqueeze(-1).unsqueeze(-1)
    if a.size == 0 or not np.isfinite(a).all():  # nothing to differentiate, or NaN anyway
        return gs * c.to_tensor(_cofactor(a), A)
    sing = _singular_mask(a)
    if sing.all():
        return gs * _cofactor_poly(A)
    mask = c.to_tensor(sing, A, _core.bool).unsqueeze(-1).unsqueeze(-1)
    safe = _core.where(mask, c.eye_like(A.shape[-1], A), A) if sing.any() else A
    regular = (g * det).unsqueeze(-1).unsqueeze(-1) * c.mT(_Inv.apply(safe))
    if not sing.any():
        return regular
    return _core.where(mask, gs * _cofactor_poly(A), regular)


class _Det(Function):
    @staticmethod
    def forward(ctx: FunctionCtx, A: Tensor) -> Tensor:
        a = c.host(A)
        with np.errstate(invalid="ignore"):  # NaN input: NaN out, as PyTorch, silently
            det = np.array(np.linalg.det(a))
        det[c.nan_matrices(a)] = np.nan  # a NaN pivot reads as 0 to NumPy's LU
        out = c.to_tensor(det, A)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(A, out)  # an input and the output: twice differentiable
        return out

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> Tensor:  # type: ignore[override]
        A, det = ctx.saved_tensors
        if _core.is_grad_enabled():  # create_graph: a backward that is differentiable itself
            return _det_grad_graph(A, det, g)
        # The cofactor from the SVD on the host: one LAPACK call, singular matrices included.
        return g.unsqueeze(-1).unsqueeze(-1) * c.to_tensor(_cofactor(c.host(A)), A)


@c.in_float32
def det(A: Tensor) -> Tensor:
    """The determinant of square matrices (``torch.linalg.det``); differentiable, singular
    matrices included."""
    c.check_matrix("linalg.det", A, square=True)
    return _Det.apply(A)


class _Slogdet(Function):
    @staticmethod
    def forward(ctx: FunctionCtx, A: Tensor) -> tuple[Tensor, Tensor]:
        a = c.host(A)
        with np.errstate(invalid="ignore"):  # NaN input: NaN out, as PyTorch, silently
            sign, logabs = (np.array(v) for v in np.linalg.slogdet(a))
        nan = c.nan_matrices(a)
        sign[nan], logabs[nan] = 0.0, np.nan  # PyTorch's (0, nan), not a zero pivot's -inf
        ctx.save_for_backward(A)
        # ``sign`` stays in the graph (its gradient is zero), so that, as in PyTorch, it
        # requires grad and ``sign.sum().backward()`` works.
        return c.to_tensor(np.asarray(sign), A), c.to_tensor(np.asarray(logabs), A)

    @staticmethod
    def backward(ctx: FunctionCtx, g_sign: Tensor, g_logabs: Tensor) -> Tensor:  # type: ignore[override]
        (A,) = ctx.saved_tensors
        if c.unused(g_logabs):  # only ``sign`` was used: no inverse needed
            return c.zeros(A.shape, A)
        return g_logabs.unsqueeze(-1).unsqueeze(-1) * c.mT(inv(A))


@c.in_float32
def slogdet(A: Tensor) -> c.SlogdetResult:
    """``(sign, logabsdet)`` of square matrices (``torch.linalg.slogdet``): ``det = sign *
    exp(logabsdet)``, without over- or underflow; ``sign`` is 0 for singular matrices."""
    c.check_matrix("linalg.slogdet", A, square=True)
    return c.SlogdetResult(*_Slogdet.apply(A))


def logdet(A: Tensor) -> Tensor:
    """``log(det(A))`` (``torch.logdet``): NaN where the determinant is negative, -inf where it
    is zero."""
    c.check_matrix("logdet", A, square=True)
    sign, logabs = slogdet(A)
    # As PyTorch's: NaN (and no gradient) where the determinant is negative.
    return where(sign < 0, math.nan, logabs)


def _is_vector_rhs(A: Tensor, B: Tensor) -> bool:
    """PyTorch's rule: ``B`` is a (batch of) vector(s) if it is 1-D, or has ``A``'s shape but
    its last dimension."""
    return B.ndim == 1 or (B.ndim == A.ndim - 1 and tuple(B.shape) == tuple(A.shape[:-1]))


class _Solve(Function):
    @staticmethod
    def forward(ctx: FunctionCtx, A: Tensor, B: Tensor) -> Tensor:
        a, b = c.host(A), c.host(B)
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        a = np.broadcast_to(a, (*batch, *a.shape[-2:]))
        b = np.broadcast_to(b, (*batch, *b.shape[-2:]))
        why = "The solver failed because the input matrix is singular."
        X = c.to_tensor(c.lapack("linalg.solve", np.linalg.solve, a, why, b), A)
        ctx.save_for_backward(A, X)
        ctx.shapes = (tuple(A.shape), tuple(B.shape))  # type: ignore[attr-defined]
        return X

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> tuple[Optional[Tensor], Optional[Tensor]]:  # type: ignore[override]
        A, X = ctx.saved_tensors
        a_shape, b_shape = ctx.shapes  # type: ignore[attr-defined]
        gB = _Solve.apply(c.mT(A), g)
        gA = -(gB @ c.mT(X)) if ctx.needs_input_grad[0] else None
        return (
            None if gA is None else c.sum_to(gA, a_shape),
            c.sum_to(gB, b_shape) if ctx.needs_input_grad[1] else None,
        )


@c.autocast_fp32
@c.in_float32
def solve(A: Tensor, B: Tensor, *, left: bool = True) -> Tensor:
    """The solution ``X`` of ``A X = B`` (``X A = B`` if not ``left``) for square ``A``
    (``torch.linalg.solve``); ``B`` of shape ``(*, n)`` is a batch of vectors, ``(*, n, k)``
    a batch of matrices; batch dimensions broadcast. ``LinAlgError`` if ``A`` is singular."""
    c.check_matrix("linalg.solve", A, square=True)
    c.check_float("linalg.solve", B)
    c.check_same_dtype("linalg.solve", "A", A, "B", B)
    vector = _is_vector_rhs(A, B)
    if vector:
        rows = B.shape[-1]
    else:
        rows = -1 if B.ndim < 2 else B.shape[-2] if left else B.shape[-1]
    if rows != A.shape[-1]:
        raise ShapeError(
            f"linalg.solve: incompatible shapes of A {tuple(A.shape)} and B {tuple(B.shape)}"
        )
    if vector:
        return _Solve.apply(A if left else c.mT(A), B.unsqueeze(-1)).squeeze(-1)
    if left:
        return _Solve.apply(A, B)
    return c.mT(_Solve.apply(c.mT(A), c.mT(B)))


def _triangular_host(a: np.ndarray, b: np.ndarray, upper: bool, unit: bool) -> np.ndarray:
    """``A^-1 B`` for triangular ``A`` (only its triangle read), batched: LAPACK's general
    solve, or substitution when a zero on the diagonal makes it singular (then inf/NaN, as
    a triangular solve gives)."""
    n = a.shape[-1]
    t = np.triu(a) if upper else np.tril(a)
    if unit:
        idx = np.arange(n)
        t = t.copy()
        t[..., idx, idx] = 1.0
    try:
        return np.linalg.solve(t, b)
    except np.linalg.LinAlgError:
        pass
    x = np.zeros(np.broadcast_shapes(t.shape[:-2], b.shape[:-2]) + b.shape[-2:], dtype=b.dtype)
    order = range(n - 1, -1, -1) if upper else range(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in order:
            acc = b[..., i, :] - np.einsum("...j,...jk->...k", t[..., i, :], x)
            x[..., i, :] = acc / t[..., i, i, None]
    return x


class _SolveTriangular(Function):
    @staticmethod
    def forward(ctx: FunctionCtx, A: Tensor, B: Tensor, upper: bool, unit: bool) -> Tensor:
        X = c.to_tensor(_triangular_host(c.host(A), c.host(B), upper, unit), A)
        ctx.save_for_backward(A, X)
        ctx.flags = (upper, unit, tuple(A.shape), tuple(B.shape))  # type: ignore[attr-defined]
        return X

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        A, X = ctx.saved_tensors
        upper, unit, a_shape, b_shape = ctx.flags  # type: ignore[attr-defined]
        gB = _SolveTriangular.apply(c.mT(A), g, not upper, unit)
        gA = None
        if ctx.needs_input_grad[0]:
            full = -(gB @ c.mT(X))
            shift = int(unit)
            gA = c.sum_to(full.triu(shift) if upper else full.tril(-shift), a_shape)
        return gA, c.sum_to(gB, b_shape), None, None


@c.in_float32
def solve_triangular(
    A: Tensor, B: Tensor, *, upper: bool, left: bool = True, unitriangular: bool = False
) -> Tensor:
    """The solution of ``A X = B`` (``X A = B`` if not ``left``) for triangular ``A``
    (``torch.linalg.solve_triangular``): only the ``upper`` or lower triangle of ``A`` is
    read, and with ``unitriangular`` its diagonal is taken to be ones. ``B`` is ``(*, n, k)``
    (``(*, k, n)`` if not ``left``); batch dimensions broadcast."""
    c.check_matrix("linalg.solve_triangular", A, square=True)
    c.check_matrix("linalg.solve_triangular", B, name="B")
    n = A.shape[-1]
    if (B.shape[-2] if left else B.shape[-1]) != n:
        raise ShapeError(
            f"linalg.solve_triangular: incompatible shapes of A {tuple(A.shape)} and B "
            f"{tuple(B.shape)} (left={left})"
        )
    if left:
        return _SolveTriangular.apply(A, B, upper, unitriangular)
    return c.mT(_SolveTriangular.apply(c.mT(A), c.mT(B), not upper, unitriangular))


def _tolerances(
    op: str, A: Tensor, atol: Any, rtol: Any, rcond: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's ``atol``/``rtol`` rule: ``rtol`` defaults to ``eps * max(m, n)`` when neither
    is given, and to 0 when only a positive ``atol`` is; the legacy ``rcond`` is ``rtol``."""
    if rcond is not None:
        if rtol is not None:
            raise InvalidValueError(f"{op}: give rtol or rcond, not both")
        rtol = rcond

    def value(v: Any) -> np.ndarray:
        return c.host(v) if isinstance(v, Tensor) else np.asarray(0.0 if v is None else v)

    if rtol is None:
        positive_atol = atol is not None and bool(np.any(value(atol) > 0))
        rtol = 0.0 if positive_atol else c.eps(A) * max(A.shape[-2], A.shape[-1])
    return value(atol), value(rtol)


def _pinv_host(a: np.ndarray, atol: np.ndarray, rtol: np.ndarray, hermitian: bool) -> np.ndarray:
    if a.size == 0:
        return np.zeros((*a.shape[:-2], a.shape[-1], a.shape[-2]), dtype=a.dtype)
    if hermitian:
        w, v = np.linalg.eigh(a)
        s = np.abs(w)  # the singular values, for the cut-off; the inverse keeps w's sign
    else:
        u, s, vt = c.np_svd("linalg.pinv", a, full_matrices=False)
    smax = s.max(axis=-1, keepdims=True)
    tol = np.maximum(atol[..., None], rtol[..., None] * smax)
    with np.errstate(divide="ignore"):
        inv_s = np.where(s > tol, 1.0 / (w if hermitian else s), 0.0).astype(a.dtype)
    if hermitian:
        return (v * inv_s[..., None, :]) @ np.swapaxes(v, -1, -2)
    return (np.swapaxes(vt, -1, -2) * inv_s[..., None, :]) @ np.swapaxes(u, -1, -2)


class _Pinv(Function):
    @staticmethod
    def forward(
        ctx: FunctionCtx, A: Tensor, atol: np.ndarray, rtol: np.ndarray, hermitian: bool
    ) -> Tensor:
        X = c.to_tensor(_pinv_host(c.host(A), atol, rtol, hermitian), A)
        ctx.save_for_backward(A, X)
        return X

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> tuple[Any, ...]:  # type: ignore[override]
        A, X = ctx.saved_tensors
        m, n = A.shape[-2], A.shape[-1]
        Xt, gt = c.mT(X), c.mT(g)
        left = c.eye_like(m, A) - A @ X  # I - A X  (m x m)
        right = c.eye_like(n, A) - X @ A  # I - X A  (n x n)
        gA = -(Xt @ g @ Xt) + left @ gt @ (X @ Xt) + (Xt @ X) @ gt @ right
        return gA, None, None, None


@c.in_float32
def pinv(
    A: Tensor,
    rcond: Optional[float] = None,
    hermitian: bool = False,
    *,
    atol: Union[float, Tensor, None] = None,
    rtol: Union[float, Tensor, None] = None,
) -> Tensor:
    """The Moore-Penrose pseudo-inverse (``torch.linalg.pinv``): singular values at most
    ``max(atol, rtol * largest)`` count as zero. Differentiable where the rank is constant."""
    c.check_matrix("linalg.pinv", A, square=hermitian)
    at, rt = _tolerances("linalg.pinv", A, atol, rtol, rcond)
    return _Pinv.apply(A, at, rt, hermitian)


@c.autocast_fp32
def pinverse(input: Tensor, rcond: float = 1e-15) -> Tensor:
    """``torch.pinverse``: ``linalg.pinv`` with ``rcond`` as the relative tolerance."""
    return pinv(input, rtol=rcond)


@c.autocast_fp32
@c.in_float32
def lstsq(
    A: Tensor, B: Tensor, rcond: Optional[float] = None, *, driver: Optional[str] = None
) -> c.LstsqResult:
    """``(solution, residuals, rank, singular_values)`` of ``min ||A X - B||`` (``torch.linalg.
    lstsq``). The solution is the minimum-norm one, ``pinv(A, rtol=rcond) @ B`` (PyTorch's
    default ``gelsy`` driver returns a basic solution instead where ``A`` is rank-deficient);
    ``residuals`` (squared, per column) when ``m > n``, ``A`` has full rank and the driver is
    not ``gelsy``; ``rank`` unless the driver is ``gels``; ``singular_values`` for ``gelsd``
    and ``gelss``; the others are empty tensors."""
    drv = "gelsy" if driver is None else driver
    if drv not in ("gels", "gelsy", "gelsd", "gelss"):
        raise InvalidValueError(
            "linalg.lstsq: driver must be one of 'gels', 'gelsy', 'gelsd', 'gelss' "
            f"(got {driver!r})"
        )
    c.check_matrix("linalg.lstsq", A)
    c.check_float("linalg.lstsq", B)
    c.check_same_dtype("linalg.lstsq", "input", A, "other", B)
    vector = _is_vector_rhs(A, B)
    Bm = B.unsqueeze(-1) if vector else B
    if Bm.ndim < 2 or Bm.shape[-2] != A.shape[-2]:
        raise ShapeError(
            f"linalg.lstsq: A {tuple(A.shape)} and B {tuple(B.shape)} need the same number of rows"
        )
    X = pinv(A, rtol=rcond) @ Bm
    empty = c.zeros((0,), A)
    m, n = A.shape[-2], A.shape[-1]
    rank = _rank(A, None, rcond, False) if drv != "gels" else c.zeros((0,), A, _core.int64)
    residuals = empty
    if m > n and drv != "gelsy":
        full = rank if drv != "gels" else _rank(A, None, rcond, False)
        if bool((full == n).all().item()):
            residuals = ((A @ X - Bm) ** 2).sum(-2)
            residuals = residuals.squeeze(-1) if vector else residuals
    sv = empty
    if drv in ("gelsd", "gelss"):
        sv = c.to_tensor(c.np_svd("linalg.lstsq", c.host(A), compute_uv=False), A)
    return c.LstsqResult(X.squeeze(-1) if vector else X, residuals, rank, sv)


def _rank(A: Tensor, atol: Any, rtol: Any, hermitian: bool, rcond: Any = None) -> Tensor:
    at, rt = _tolerances("linalg.matrix_rank", A, atol, rtol, rcond)
    a = c.host(A)
    if a.size == 0:
        return c.zeros(a.shape[:-2], A, _core.int64)
    if hermitian:
        s = np.abs(np.linalg.eigvalsh(a))
    else:
        s = c.np_svd("linalg.matrix_rank", a, compute_uv=False)
    tol = np.maximum(at[..., None], rt[..., None] * s.max(axis=-1, keepdims=True))
    return c.to_tensor((s > tol).sum(-1).astype(np.int64), A, _core.int64)


def matrix_rank(
    A: Tensor,
    tol: Optional[float] = None,
    hermitian: bool = False,
    *,
    atol: Union[float, Tensor, None] = None,
    rtol: Union[float, Tensor, None] = None,
) -> Tensor:
    """The numerical rank (int64): the number of singular values above
    ``max(atol, rtol * largest)`` (``torch.linalg.matrix_rank``; the legacy ``tol`` is
    ``atol``)."""
    c.check_matrix("linalg.matrix_rank", A, square=hermitian)
    if tol is not None:
        atol, rtol = tol, 0.0 if rtol is None else rtol
    return _rank(A, atol, rtol, hermitian)
