"""Norms: ``vector_norm``, ``matrix_norm``, ``norm`` and ``cond``. Vector norms run on engine
ops on any device (a finite ``ord`` has its own backward, ``x |x|^(p-2) / ||x||^(p-1)``,
which is 0 where the norm is 0 as in PyTorch); the spectral and nuclear matrix norms go
through ``svdvals``."""

# Matrices keep their mathematical and PyTorch names (A, B, L, Q, R, U, S, Vh, gA, ...).
# ruff: noqa: N803, N806

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Union

from .._core import Tensor
from .._function import Function, FunctionCtx
from .._int_args import int_tuple
from .._tensor_extra import _check_norm_dtype, where
from ..errors import (
    ArgumentTypeError,
    IndexOutOfRangeError,
    InvalidValueError,
    ShapeError,
)
from . import _common as c
from ._decompositions import svdvals
from ._solves import inv_ex

_Dim = Union[int, Sequence[int], None]
_Ord = Union[float, int, str, None]


def _dims(x: Tensor, dim: _Dim) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(x.ndim))
    dims = int_tuple(dim)
    nd = max(x.ndim, 1)
    for d in dims:
        if not -nd <= d < nd:  # (`%` would quietly reduce some other dim)
            raise IndexOutOfRangeError(
                f"Dimension out of range (expected to be in range of [{-nd}, {nd - 1}], but "
                f"got {d})"
            )
    return tuple(d % nd for d in dims)


class _PNorm(Function):
    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, p: float, dims: tuple[int, ...]) -> Tensor:
        a = x.abs()
        out = a.sum(dim=dims, keepdim=True) if p == 1 else a.pow(p).sum(dim=dims, keepdim=True)
        out = out if p == 1 else out.pow(1.0 / p)
        ctx.save_for_backward(x)  # (not `out`: recomputed, so the backward is differentiable)
        ctx.p, ctx.dims = p, dims  # type: ignore[attr-defined]
        return out

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        p, dims = ctx.p, ctx.dims  # type: ignore[attr-defined]
        if p == 1:
            return g * x.sign(), None, None
        a = x.abs()
        out = (a * a if p == 2 else a.pow(p)).sum(dim=dims, keepdim=True).pow(1.0 / p)
        safe = out.masked_fill(out == 0, 1.0)
        ratio = x / safe if p == 2 else x.sign() * (a / safe).pow(p - 1)
        ratio = ratio.masked_fill(a == 0, 0.0)
        return g * ratio, None, None


class _CountNonZero(Function):
    """The ``ord=0`` "norm": a count, differentiable with a zero gradient as in PyTorch (so a
    loss built on it still backpropagates to ``x``)."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, dims: tuple[int, ...]) -> Tensor:
        ctx.shape = tuple(x.shape)  # type: ignore[attr-defined]
        return (x != 0).to(x.dtype).sum(dim=dims, keepdim=True)

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        return (g * 0.0).expand(ctx.shape).contiguous(), None  # type: ignore[attr-defined]


def vector_norm(
    x: Tensor,
    ord: Union[float, int] = 2,
    dim: _Dim = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """The vector ``ord``-norm over ``dim`` (every element if ``None``) (``torch.linalg.
    vector_norm``): ``inf``/``-inf`` are the largest/smallest absolute value, 0 counts
    non-zeros, others are ``sum(|x|^ord)^(1/ord)``."""
    c.check_float("linalg.vector_norm", x)
    if isinstance(ord, str):
        raise ArgumentTypeError(f"linalg.vector_norm: ord must be a number, got {ord!r}")
    if dim is not None and not int_tuple(dim):
        dim = None  # PyTorch reads an empty dim list as every dim
    if dtype is not None:
        _check_norm_dtype(x.dtype, dtype)
        x = x.to(dtype)
    if x.dtype in c._HALF and math.isfinite(float(ord)) and ord != 0:
        # PyTorch sums the powers in float32 and rounds once: squares of float16 overflow
        # past 256, and bfloat16 ones lose bits at every step.
        return vector_norm(x.float(), ord, dim, keepdim).to(x.dtype)
    dims = _dims(x, dim)
    scalar = x.ndim == 0
    if scalar:
        x, dims = x.reshape(1), (0,)
    p = float(ord)
    if (abs(p) == math.inf or p < 0) and any(x.shape[d] == 0 for d in dims):
        # PyTorch's RuntimeError: max/min, and the power sum of a negative order, over an
        # empty dimension have no identity.
        raise InvalidValueError(
            f"linalg.vector_norm: cannot compute the {ord} norm over an empty dimension "
            "(the operation has no identity)"
        )
    if p == math.inf:
        out = x.abs().amax(dim=dims, keepdim=True)
    elif p == -math.inf:
        out = x.abs().amin(dim=dims, keepdim=True)
    elif p == 0:
        out = _CountNonZero.apply(x, dims)
    else:
        out = _PNorm.apply(x, p, dims)
    if scalar:
        return out.reshape(())
    if keepdim:
        return out
    if dim is None:
        return out.reshape(())
    return out.squeeze(dims) if dims else out


def _matrix_dims(op: str, A: Tensor, dim: Sequence[int]) -> tuple[int, int]:
    if A.ndim < 2:
        raise ShapeError(f"{op}: The input tensor A must have at least 2 dimensions.")
    d = tuple(dim)
    if len(d) != 2:
        raise InvalidValueError(f"{op}: dim must be a 2-tuple. Got {d}")
    d0, d1 = d[0] % A.ndim, d[1] % A.ndim
    if d0 == d1:
        raise InvalidValueError(f"{op}: dims must be different. Got ({d[0]}, {d[1]})")
    return d0, d1


def matrix_norm(
    A: Tensor,
    ord: _Ord = "fro",
    dim: Sequence[int] = (-2, -1),
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """The matrix norm over the two dimensions ``dim`` (``torch.linalg.matrix_norm``):
    ``"fro"``, ``"nuc"`` (sum of singular values), ``2``/``-2`` (largest/smallest singular
    value), ``1``/``-1`` (max/min column sum of ``|A|``), ``inf``/``-inf`` (max/min row sum)."""
    op = "linalg.matrix_norm"
    c.check_float(op, A)
    d0, d1 = _matrix_dims(op, A, dim)
    if dtype is not None:
        _check_norm_dtype(A.dtype, dtype, op)
        A = A.to(dtype)
    if ord == "fro":
        return vector_norm(A, 2, (d0, d1), keepdim)
    if ord in ("nuc", 2, -2, 2.0, -2.0):
        rest = [i for i in range(A.ndim) if i not in (d0, d1)]
        s = svdvals(A.permute(*rest, d0, d1))
        # An empty matrix's 2-norm is 0, as its nuclear norm (PyTorch's); -2 has no identity.
        top = ord == "nuc" or (ord in (2, 2.0) and s.shape[-1] == 0)
        out = s.sum(-1) if top else s.amax(-1) if ord in (2, 2.0) else s.amin(-1)
        if keepdim:
            out = out.unsqueeze(min(d0, d1)).unsqueeze(max(d0, d1))
        return out
    if ord in (1, -1, math.inf, -math.inf):
        inner, outer = (d0, d1) if ord in (1, -1) else (d1, d0)
        sums = A.abs().sum(dim=inner, keepdim=True)
        if ord in (1, math.inf) and sums.shape[outer] == 0:
            # PyTorch's: the largest sum over no columns (rows) is 0; amax has no identity.
            out = sums.sum(dim=outer, keepdim=True)
        else:
            red = sums.amax if ord in (1, math.inf) else sums.amin
            out = red(dim=outer, keepdim=True)
        return out if keepdim else out.squeeze((d0, d1))
    raise InvalidValueError(f"linalg.matrix_norm: Order {ord} not supported.")


def norm(
    A: Tensor,
    ord: _Ord = None,
    dim: _Dim = None,
    keepdim: bool = False,
    *,
    dtype: Any = None,
) -> Tensor:
    """``torch.linalg.norm``: a vector norm when ``dim`` is an int (or ``A`` is 1-D), a matrix
    norm when ``dim`` is a 2-tuple (or ``A`` is 2-D and ``ord`` is given); without ``ord``
    and ``dim`` the 2-norm of all elements."""
    c.check_float("linalg.norm", A)
    if dim is not None:
        dims = int_tuple(dim)
        if len(dims) == 2:
            return matrix_norm(A, "fro" if ord is None else ord, dims, keepdim, dtype=dtype)
        if len(dims) != 1:
            raise InvalidValueError(f"linalg.norm: dim must be an int or a 2-tuple, got {dim}")
        return vector_norm(A, 2 if ord is None else ord, dims, keepdim, dtype=dtype)  # type: ignore[arg-type]
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if A.ndim == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    if A.ndim == 1:
        return vector_norm(A, ord, None, keepdim, dtype=dtype)  # type: ignore[arg-type]
    raise ShapeError(
        "linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D. "
        f"Got {A.ndim}D."
    )


@c.autocast_fp32
def cond(A: Tensor, p: _Ord = None) -> Tensor:
    """The condition number of matrices in the norm ``p`` (``torch.linalg.cond``): the ratio of
    the extreme singular values for ``None``/``2``/``-2``, else ``norm(A) * norm(inv(A))``."""
    c.check_matrix("linalg.cond", A, square=p not in (None, 2, -2))
    if A.shape[-1] == 0 or A.shape[-2] == 0:  # as PyTorch's: 0 for empty matrices
        return c.zeros(tuple(A.shape[:-2]), A)
    if p in (None, 2, -2):
        s = svdvals(A)
        hi, lo = s.amax(-1), s.amin(-1)
        return hi / lo if p in (None, 2) else lo / hi
    # As PyTorch's: inf (not an error) for singular matrices.
    inverse, info = inv_ex(A)
    singular = (info > 0).unsqueeze(-1).unsqueeze(-1)
    inverse = where(singular, c.eye_like(A.shape[-1], A), inverse)  # no NaN into the norm
    return where(info > 0, math.inf, matrix_norm(A, p) * matrix_norm(inverse, p))
