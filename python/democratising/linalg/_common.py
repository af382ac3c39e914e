"""Shared plumbing of ``democratising.linalg``: argument checks (floating dtypes, square
matrices), the NumPy round trip (half types computed in float32, CUDA tensors through the
host), batched-matrix helpers written in differentiable engine ops, and the result tuples."""

# Matrices keep their mathematical and PyTorch names (A, B, L, Q, R, U, S, Vh, gA, ...).
# ruff: noqa: N802

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Callable, NamedTuple

import numpy as np

from .. import _core
from .._core import Tensor
from .._opmath import _HALF, in_float32  # noqa: F401 - re-exported for the linalg modules
from .._tensor_extra import _autocast_disabled, _autocast_fp32, _host
from ..errors import ArgumentTypeError, DTypeError, LinAlgError, ShapeError

__all__ = ["LinAlgError"]


_FLOAT = (_core.float32, _core.float64)


def check_float(op: str, *tensors: Tensor) -> None:
    """``DTypeError`` unless every tensor is floating point (PyTorch rejects integers)."""
    for t in tensors:
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(f"{op}: expected a Tensor, got {type(t).__name__}")
        if not t.dtype.is_floating_point:
            raise DTypeError(
                f"{op}: Expected a floating point tensor as input. Got {t.dtype} (the linear "
                "algebra functions support float32 and float64; half types compute in float32)"
            )


def check_matrix(op: str, a: Tensor, name: str = "A", square: bool = False) -> None:
    """``ShapeError`` unless ``a`` is a (batch of) matrix (square if asked)."""
    check_float(op, a)
    if a.ndim < 2:
        raise ShapeError(
            f"{op}: {name} must have at least 2 dimensions (a batch of matrices), got shape "
            f"{tuple(a.shape)}"
        )
    if square and a.shape[-1] != a.shape[-2]:
        raise ShapeError(
            f"{op}: {name} must be batches of square matrices, but they are "
            f"{a.shape[-2]} by {a.shape[-1]} matrices"
        )


def check_same_dtype(op: str, first: str, a: Tensor, second: str, b: Tensor) -> None:
    """``DTypeError`` unless ``a`` and ``b`` share a dtype: PyTorch's solvers and products do
    not promote between their operands (a float64 ``A`` with a float32 ``B`` is an error)."""
    for name, t in ((first, a), (second, b)):
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(f"{op}: {name} must be a Tensor, got {type(t).__name__}")
    if a.dtype != b.dtype:
        raise DTypeError(
            f"{op}: Expected {first} and {second} to have the same dtype, but found {first} of "
            f"type {a.dtype} and {second} of type {b.dtype} instead"
        )


def autocast_fp32(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An op on PyTorch's autocast float32 list (``linalg.inv``, ``svd``, ``lstsq``, ...):
    inside an autocast region its float16/bfloat16 tensor arguments are widened to float32
    and it runs with autocast off (its inner matmuls stay float32); outside, one check."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        if _core._get_autocast() is None:
            return fn(*args, **kwargs)
        return _autocast_fp32(fn, *args, **kwargs)

    return run


def autocast_off(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An op on no CPU autocast list that PyTorch runs in its input's dtype though written
    here with matmuls (``matrix_exp``): autocast is off inside, so a float32 input stays
    float32."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        if _core._get_autocast() is None:
            return fn(*args, **kwargs)
        with _autocast_disabled():
            return fn(*args, **kwargs)

    return run


def host(t: Tensor) -> np.ndarray:
    """A NumPy copy of the values (CUDA tensors copied to the host; half types as float32)."""
    return np.array(_host(t), copy=True)


def to_tensor(a: np.ndarray, like: Tensor, dtype: Any = None) -> Tensor:
    """``a`` as a tensor of ``like``'s dtype (or ``dtype``) on ``like``'s device."""
    target = like.dtype if dtype is None else dtype
    if target in _FLOAT:
        a = a.astype(np.float32 if target == _core.float32 else np.float64, copy=False)
    t = _core.from_numpy(np.ascontiguousarray(a))  # at least 1-D
    if a.ndim == 0:
        t = t.reshape(())
    if t.dtype != target:
        t = t.to(target)
    return t if like.device.type == "cpu" else t.to(like.device)


def batch_index(shape: Sequence[int], flat: int) -> tuple[int, ...]:
    """The batch coordinates of the ``flat``-th matrix of a batch of ``shape``."""
    return tuple(int(i) for i in np.unravel_index(flat, tuple(shape))) if shape else ()


def where_batch(op: str, bad: np.ndarray, batch: Sequence[int]) -> str:
    """``"linalg.inv: (Batch element (1, 0)): "``-style prefix naming the first failing matrix."""
    if not batch:
        return f"{op}: "
    first = int(np.flatnonzero(bad.reshape(-1))[0]) if bad.any() else 0
    return f"{op}: (Batch element {batch_index(batch, first)}): "


def lapack(op: str, fn: Callable[..., Any], a: np.ndarray, why: str, *rest: np.ndarray) -> Any:
    """``fn(a, *rest)`` (a batched NumPy LAPACK call); NumPy's error becomes a ``LinAlgError``
    naming the first failing matrix of the batch and ``why`` it failed. ``rest`` share
    ``a``'s batch dimensions."""
    nan = nan_matrices(a)
    if nan.any():
        # PyTorch's result is all NaN for a matrix holding a NaN; NumPy's LAPACK reads one on
        # a pivot as an exact zero (a "singular" error) and elsewhere gives partly finite
        # results. Those matrices are solved as identities and overwritten.
        ok = np.where(nan[..., None, None], np.eye(*a.shape[-2:], dtype=a.dtype), a)
        out = np.array(lapack(op, fn, ok, why, *rest))
        out[nan] = np.nan
        return out
    try:
        return fn(a, *rest)
    except np.linalg.LinAlgError:
        pass
    batch = a.shape[:-2]
    flat = a.reshape(-1, *a.shape[-2:])
    bad = np.zeros(len(flat), dtype=bool)
    for i, m in enumerate(flat):
        try:
            fn(m, *(r.reshape(-1, *r.shape[len(batch) :])[i] for r in rest))
        except np.linalg.LinAlgError:
            bad[i] = True
            break
    raise LinAlgError(where_batch(op, bad, batch) + why)


def nan_matrices(a: np.ndarray) -> np.ndarray:
    """Which matrices of the batch ``a`` hold a NaN (their LAPACK results are NaN)."""
    return np.isnan(a).any(axis=(-2, -1))  # type: ignore[no-any-return]


def np_svd(op: str, a: np.ndarray, **kwargs: Any) -> Any:
    """``np.linalg.svd(a, **kwargs)``; its non-convergence (non-finite input) becomes
    PyTorch's ``LinAlgError`` (a ``RuntimeError``) rather than NumPy's ``ValueError``. A NaN
    raises so, as in PyTorch, before LAPACK sees it; a matrix with an infinity (no NaN) gives
    NaN results, as PyTorch's, where LAPACK's iteration never ended on a 3x3 or larger one."""
    if np.isnan(a).any():
        raise LinAlgError(
            f"{op}: The algorithm failed to converge because the input matrix contained "
            "non-finite values."
        )
    infinite = ~np.isfinite(a).all(axis=(-2, -1))
    if infinite.any():
        # Zero matrices in their place (they converge), then NaN over their results.
        res = np.linalg.svd(np.where(infinite[..., None, None], 0, a), **kwargs)
        if not isinstance(res, tuple):
            out = np.array(res)
            out[infinite] = np.nan
            return out
        parts = [np.array(p) for p in res]
        for p in parts:
            p[infinite] = np.nan
        return type(res)(*parts)
    try:
        return np.linalg.svd(a, **kwargs)
    except np.linalg.LinAlgError:
        raise LinAlgError(
            f"{op}: The algorithm failed to converge because the input matrix contained "
            "non-finite values."
        ) from None


# ---- batched-matrix helpers over engine ops (all differentiable) ----


def mT(a: Tensor) -> Tensor:
    """The transpose of the last two dimensions."""
    return a.transpose(-2, -1)


def unused(g: Tensor) -> bool:
    """Whether the gradient ``g`` of one output may be skipped: all zero and followed by no
    outer derivative. (Forward mode differentiates a backward with respect to a zero ``g``,
    so a ``g`` that requires grad must stay in the graph.)"""
    return not g.requires_grad and not bool(g.ne(0).any().item())


def eye_like(n: int, like: Tensor) -> Tensor:
    return _core.eye(n, dtype=like.dtype, device=like.device)


def diag_embed(v: Tensor) -> Tensor:
    """``(..., n)`` to ``(..., n, n)`` with ``v`` on the diagonal: placed by index, since a
    multiply by an eye mask would spread nan/inf along rows and write -0.0."""
    from .._shape_functions import diag_embed as embed

    return embed(v)


def diag_part(a: Tensor) -> Tensor:
    """The main diagonal of ``(..., n, n)`` matrices, as ``(..., n)``: the diagonal view, so
    nan/inf elsewhere in a matrix do not leak into it (as a masked sum would)."""
    return a.diagonal(0, -2, -1)


def sum_to(g: Tensor, shape: Sequence[int]) -> Tensor:
    """Reduces a broadcast gradient ``g`` back to ``shape``."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(dim=tuple(range(lead)))
    dims = tuple(i for i, s in enumerate(shape) if s == 1 and g.shape[i] != 1)
    if dims:
        g = g.sum(dim=dims, keepdim=True)
    return g


def zeros(shape: Sequence[int], like: Tensor, dtype: Any = None) -> Tensor:
    return _core.zeros(
        tuple(shape), dtype=like.dtype if dtype is None else dtype, device=like.device
    )


def eps(t: Tensor) -> float:
    """Machine epsilon of ``t``'s dtype (float32 for half types, which compute in float32)."""
    return float(np.finfo(np.float64 if t.dtype == _core.float64 else np.float32).eps)


# ---- result tuples, as PyTorch's torch.return_types ----


class SlogdetResult(NamedTuple):
    sign: Tensor
    logabsdet: Tensor


class EighResult(NamedTuple):
    eigenvalues: Tensor
    eigenvectors: Tensor


class QRResult(NamedTuple):
    Q: Tensor
    R: Tensor


class SVDResult(NamedTuple):
    U: Tensor
    S: Tensor
    Vh: Tensor


class TorchSVDResult(NamedTuple):
    """``torch.svd``'s ``(U, S, V)`` (``V``, not ``Vh``)."""

    U: Tensor
    S: Tensor
    V: Tensor


class LstsqResult(NamedTuple):
    solution: Tensor
    residuals: Tensor
    rank: Tensor
    singular_values: Tensor


class CholeskyExResult(NamedTuple):
    L: Tensor
    info: Tensor


class InvExResult(NamedTuple):
    inverse: Tensor
    info: Tensor
