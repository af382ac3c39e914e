"""Products and views written over engine ops (so they run on any device and differentiate
through autograd as they are): ``cross``, ``vecdot``, ``diagonal``, ``matrix_power``,
``multi_dot`` (its multiplication order chosen by the classic matrix-chain dynamic
programme) and ``householder_product`` (LAPACK's ``orgqr``, one rank-1 update per
reflector)."""

# Matrices keep their mathematical and PyTorch names (A, B, L, Q, R, U, S, Vh, gA, ...).
# ruff: noqa: N803, N806

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

from .. import _core
from .._core import Tensor
from .._tensor_extra import _AUTOCAST_ELIGIBLE, broadcast_tensors
from ..errors import (
    ArgumentTypeError,
    DTypeError,
    IndexOutOfRangeError,
    InvalidValueError,
    ShapeError,
)
from . import _common as c
from ._solves import inv


def cross(input: Tensor, other: Tensor, *, dim: int = -1) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (``torch.linalg.cross``); batch
    dimensions broadcast."""
    c.check_same_dtype("linalg.cross", "input", input, "other", other)
    a, b = _broadcast(input, other)
    if not -a.ndim <= dim < a.ndim:  # (taking it modulo ndim would cross along another dim)
        if a.ndim == 0:
            raise IndexOutOfRangeError(f"Dimension specified as {dim} but tensor has no dimensions")
        raise IndexOutOfRangeError(
            f"Dimension out of range (expected to be in range of [{-a.ndim}, {a.ndim - 1}], "
            f"but got {dim})"
        )
    d = dim % a.ndim
    if a.shape[d] != 3:
        raise ShapeError(
            f"linalg.cross: inputs dimension {dim} must have length 3. Got shapes "
            f"{tuple(input.shape)} and {tuple(other.shape)}"
        )

    def part(t: Tensor, i: int) -> Tensor:
        return t.narrow(d, i, 1)

    x = part(a, 1) * part(b, 2) - part(a, 2) * part(b, 1)
    y = part(a, 2) * part(b, 0) - part(a, 0) * part(b, 2)
    z = part(a, 0) * part(b, 1) - part(a, 1) * part(b, 0)
    return _core.cat([x, y, z], d)


def _broadcast(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    x, y = broadcast_tensors(a, b)
    return x, y


def cross_legacy(input: Tensor, other: Tensor, dim: Optional[int] = None) -> Tensor:
    """``torch.cross``: without ``dim``, the first dimension of length 3."""
    if dim is None:
        a, _ = _broadcast(input, other)
        dim = next((i for i, s in enumerate(a.shape) if s == 3), -1)
    return cross(input, other, dim=dim)


def vecdot(x: Tensor, y: Tensor, *, dim: int = -1) -> Tensor:
    """The dot product of vectors along ``dim`` (``torch.linalg.vecdot``); broadcasts."""
    low = _core._get_autocast()
    if low is not None and isinstance(x, Tensor) and isinstance(y, Tensor):
        # On PyTorch's autocast lower-precision list, as matmul.
        x, y = (t.to(low) if t.dtype in _AUTOCAST_ELIGIBLE else t for t in (x, y))
    c.check_same_dtype("linalg.vecdot", "x", x, "y", y)
    out = (x * y).sum(dim)
    return out if out.dtype == x.dtype or not x.is_floating_point() else out.to(x.dtype)


def diagonal(A: Tensor, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """The ``offset``-th diagonal of the matrices in dims ``dim1``/``dim2``, as the last
    dimension (``torch.linalg.diagonal``): a view, as in PyTorch."""
    return diagonal_of(A, offset, dim1, dim2)


def diagonal_of(A: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """``torch.diagonal`` (defaults ``dim1=0, dim2=1``): the engine's strided view, so writes
    through it reach ``A`` and its gradient flows back to the diagonal."""
    return A.diagonal(offset, dim1, dim2)


def matrix_power(A: Tensor, n: int) -> Tensor:
    """``A`` multiplied by itself ``n`` times (``torch.linalg.matrix_power``): the identity
    for 0, powers of ``inv(A)`` for negative ``n``; by repeated squaring."""
    if isinstance(A, Tensor) and not A.dtype.is_floating_point and n >= 0:
        # Integer matrices have non-negative powers (products only), as in PyTorch.
        c.check_matrix("linalg.matrix_power", A.float(), square=True)
    else:
        c.check_matrix("linalg.matrix_power", A, square=True)
    if not isinstance(n, int):
        raise ArgumentTypeError(f"linalg.matrix_power: n must be an int, got {type(n).__name__}")
    if n == 0:
        eye = c.eye_like(A.shape[-1], A)
        power = eye.expand(A.shape).contiguous()
        return power + 0.0 * A if A.dtype.is_floating_point else power
    base = inv(A) if n < 0 else A
    k = abs(n)
    result: Optional[Tensor] = None
    while k:
        if k & 1:
            result = base if result is None else result @ base
        k >>= 1
        if k:
            base = base @ base
    assert result is not None
    return result


def _chain_order(dims: Sequence[int]) -> list[list[int]]:
    """The split table of the cheapest parenthesisation of matrices ``dims[i] x dims[i+1]``."""
    n = len(dims) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = -1
            for k in range(i, j):
                q = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if cost[i][j] < 0 or q < cost[i][j]:
                    cost[i][j], split[i][j] = q, k
    return split


def multi_dot(tensors: Sequence[Tensor]) -> Tensor:
    """The product of a chain of matrices in the cheapest order (``torch.linalg.multi_dot``);
    the first may be a 1-D row vector and the last a 1-D column vector."""
    ts = list(tensors)
    if len(ts) < 2:
        raise InvalidValueError("multi_dot(): expected at least 2 tensors but got " + str(len(ts)))
    for i, t in enumerate(ts):
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(f"multi_dot(): expected Tensors, got {type(t).__name__}")
        if t.dtype != ts[0].dtype:  # (PyTorch multiplies integers too, but never promotes)
            raise DTypeError(
                "multi_dot(): all tensors must have be the same dtype but tensor 0 is "
                f"{ts[0].dtype} and tensor {i} {t.dtype}"
            )
    first_vec, last_vec = ts[0].ndim == 1, ts[-1].ndim == 1
    if first_vec:
        ts[0] = ts[0].unsqueeze(0)
    if last_vec:
        ts[-1] = ts[-1].unsqueeze(-1)
    for i, t in enumerate(ts):
        if t.ndim != 2:
            raise ShapeError(
                f"multi_dot(): tensor {i} must be 2D"
                + (" (or 1D as the first or last)" if i in (0, len(ts) - 1) else "")
                + f" but got {t.ndim}D"
            )
    for i in range(len(ts) - 1):
        if ts[i].shape[1] != ts[i + 1].shape[0]:
            raise ShapeError(
                f"multi_dot(): tensors {i} and {i + 1} with shapes {tuple(ts[i].shape)} and "
                f"{tuple(ts[i + 1].shape)} cannot be multiplied"
            )
    dims = [ts[0].shape[0], *(t.shape[1] for t in ts)]
    split = _chain_order(dims)

    def product(i: int, j: int) -> Tensor:
        if i == j:
            return ts[i]
        k = split[i][j]
        return product(i, k) @ product(k + 1, j)

    out = product(0, len(ts) - 1)
    if first_vec:
        out = out.squeeze(0)
    if last_vec:
        out = out.squeeze(-1)
    return out


@c.autocast_fp32
@c.in_float32
def householder_product(A: Tensor, tau: Tensor) -> Tensor:
    """The first ``n`` columns of ``H_1 ... H_k`` with ``H_i = I - tau_i v_i v_i^T``
    (``torch.linalg.householder_product``, LAPACK's ``orgqr``): ``v_i`` is column ``i`` of
    ``A`` below the diagonal, with an implicit 1 on it. Written in engine ops, so gradients
    reach ``A`` and ``tau``."""
    c.check_matrix("linalg.householder_product", A)
    c.check_float("linalg.householder_product", tau)
    m, n = A.shape[-2], A.shape[-1]
    k = tau.shape[-1] if tau.ndim else -1
    if m < n:
        raise ShapeError(
            f"linalg.householder_product: A must have at least as many rows as columns, got {m}x{n}"
        )
    if tau.ndim != A.ndim - 1 or k > n or tuple(tau.shape[:-1]) != tuple(A.shape[:-2]):
        raise ShapeError(
            f"linalg.householder_product: tau must have shape {(*A.shape[:-2], 'k')} with "
            f"k <= {n}, got {tuple(tau.shape)}"
        )
    if A.dtype != tau.dtype:
        raise DTypeError(
            f"linalg.householder_product: A ({A.dtype}) and tau ({tau.dtype}) must share a dtype"
        )
    rows = _core.arange(m, dtype=_core.int64, device=A.device)
    Q = c.eye_like(m, A).expand(*A.shape[:-2], m, m)
    for i in range(k):
        # v: zeros above row i, 1 at row i, A's column i below it.
        below = (rows > i).to(A.dtype)
        v = A[..., :, i] * below + (rows == i).to(A.dtype)
        Qv = (Q @ v.unsqueeze(-1)).squeeze(-1)
        Q = Q - (Qv * tau[..., i : i + 1]).unsqueeze(-1) * v.unsqueeze(-2)
    return Q[..., :, :n]


def orgqr(input: Tensor, tau: Tensor) -> Tensor:
    """``torch.orgqr``: ``linalg.householder_product``."""
    return householder_product(input, tau)
