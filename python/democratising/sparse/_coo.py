"""Sparse COO tensors (``torch.sparse_coo_tensor``): the coordinates of the stored entries
(``indices``, ``sparse_dim x nnz``) and their values (``nnz x dense dims``). Graph code keeps an
adjacency matrix this way and multiplies it into dense features (``torch.sparse.mm``); the
product, ``to_dense`` and the arithmetic are composed of the engine's differentiable index
ops, so gradients reach the dense operand and the values."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from .. import _core
from .._core import Tensor
from .._pytorch_compat import Size, as_tensor
from .._tensor_compat_more import sparse_coo
from ..errors import DTypeError, IndexOutOfRangeError, InvalidValueError, ShapeError


class SparseTensor:
    """A sparse COO tensor; make one with ``sparse_coo_tensor`` or ``Tensor.to_sparse()``.
    Duplicate coordinates are summed (``coalesce()`` does it once, sorting them)."""

    __slots__ = ("_coalesced", "_idx", "_shape", "_vals")

    is_sparse = True
    is_sparse_csr = False
    layout = sparse_coo

    def __init__(self, indices: Tensor, values: Tensor, size: tuple[int, ...], coalesced: bool):
        self._idx, self._vals, self._shape, self._coalesced = indices, values, size, coalesced

    # ---- what it holds -----------------------------------------------------------------------

    @property
    def shape(self) -> Any:
        return Size(self._shape)

    def size(self, dim: Optional[int] = None) -> Any:
        return self.shape if dim is None else self._shape[dim]

    def dim(self) -> int:
        return len(self._shape)

    @property
    def ndim(self) -> int:
        return len(self._shape)

    def numel(self) -> int:
        return math.prod(self._shape)

    def __len__(self) -> int:
        return self._shape[0]

    @property
    def dtype(self) -> Any:
        return self._vals.dtype

    @property
    def device(self) -> Any:
        return self._vals.device

    def sparse_dim(self) -> int:
        return int(self._idx.shape[0])

    def dense_dim(self) -> int:
        return self._vals.ndim - 1

    def _nnz(self) -> int:
        return int(self._vals.shape[0])

    def is_coalesced(self) -> bool:
        return self._coalesced

    def _indices(self) -> Tensor:
        return self._idx

    def _values(self) -> Tensor:
        return self._vals

    def indices(self) -> Tensor:
        self._check_coalesced("indices")
        return self._idx

    def values(self) -> Tensor:
        self._check_coalesced("values")
        return self._vals

    def _check_coalesced(self, what: str) -> None:
        if not self._coalesced:
            raise InvalidValueError(
                f"Cannot get {what} on an uncoalesced tensor, please call .coalesce() first"
            )

    # ---- autograd ----------------------------------------------------------------------------

    @property
    def requires_grad(self) -> bool:
        return bool(self._vals.requires_grad)

    def requires_grad_(self, requires_grad: bool = True) -> SparseTensor:
        self._vals.requires_grad_(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return bool(self._vals.is_leaf)

    @property
    def grad(self) -> Optional[SparseTensor]:
        """The gradient of a leaf: at its own coordinates (PyTorch's is sparse too)."""
        g = self._vals.grad
        return None if g is None else SparseTensor(self._idx, g, self._shape, self._coalesced)

    def detach(self) -> SparseTensor:
        return self._with(self._vals.detach())

    def clone(self) -> SparseTensor:
        return SparseTensor(self._idx.clone(), self._vals.clone(), self._shape, self._coalesced)

    def _with(self, values: Tensor) -> SparseTensor:
        """The same coordinates holding ``values``."""
        return SparseTensor(self._idx, values, self._shape, self._coalesced)

    # ---- conversions -------------------------------------------------------------------------

    def coalesce(self) -> SparseTensor:
        """Coordinates sorted (row-major) and each stored once, duplicates' values summed."""
        if self._coalesced:
            return self
        sparse_shape = self._shape[: self.sparse_dim()]
        idx = self._idx.numpy()
        flat = np.ravel_multi_index(tuple(idx), sparse_shape) if idx.size else idx[0]
        unique, inverse = np.unique(flat, return_inverse=True)
        coords = np.stack(np.unravel_index(unique, sparse_shape)) if unique.size else idx[:, :0]
        dense = tuple(self._vals.shape[1:])
        summed = _core.zeros((len(unique), *dense), dtype=self.dtype, device=self.device).index_add(
            0, _long(inverse.reshape(-1), self.device), self._vals
        )
        return SparseTensor(_long(coords, self.device), summed, self._shape, True)

    def to_dense(self) -> Tensor:
        """The dense tensor (stored duplicates summed), differentiable in the values."""
        out = _core.zeros(self._shape, dtype=self.dtype, device=self.device)
        if self._nnz() == 0:
            return out + 0 * self._vals.sum()  # (keeps the values' graph)
        return out.index_put(tuple(self._idx.unbind(0)), self._vals, accumulate=True)

    def to_sparse(self, sparse_dim: Optional[int] = None) -> SparseTensor:
        if sparse_dim is not None and sparse_dim != self.sparse_dim():
            return self.to_dense().to_sparse(sparse_dim)  # type: ignore[no-any-return]
        return self

    def to(self, *args: Any, **kwargs: Any) -> SparseTensor:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``: the values converted, the
        coordinates moved with them."""
        values = self._vals.to(*args, **kwargs)
        indices = self._idx if values.device == self._idx.device else self._idx.to(values.device)
        return SparseTensor(indices, values, self._shape, self._coalesced)

    def cpu(self) -> SparseTensor:
        return self.to("cpu")

    def cuda(self, device: Any = None) -> SparseTensor:
        return self.to("cuda" if device is None else device)

    def float(self) -> SparseTensor:
        return self.to(_core.float32)

    def double(self) -> SparseTensor:
        return self.to(_core.float64)

    def half(self) -> SparseTensor:
        return self.to(_core.float16)

    def type_as(self, other: Any) -> SparseTensor:
        return self.to(other.dtype)

    # ---- shape -------------------------------------------------------------------------------

    def transpose(self, dim0: int, dim1: int) -> SparseTensor:
        """Two sparse dims swapped (their coordinate rows)."""
        n = self.sparse_dim()
        d0, d1 = dim0 % max(self.ndim, 1), dim1 % max(self.ndim, 1)
        if d0 >= n or d1 >= n:
            raise InvalidValueError(
                "transpose: sparse tensors swap sparse dims only (got dims "
                f"{dim0} and {dim1} of {n} sparse dims)"
            )
        order = list(range(n))
        order[d0], order[d1] = order[d1], order[d0]
        shape = list(self._shape)
        shape[d0], shape[d1] = shape[d1], shape[d0]
        return SparseTensor(self._idx[order], self._vals, tuple(shape), False)

    def t(self) -> SparseTensor:
        if self.ndim > 2:
            raise ShapeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D")
        return self if self.ndim < 2 else self.transpose(0, 1)

    # ---- products and arithmetic ---------------------------------------------------------

    def mm(self, mat2: Tensor) -> Tensor:
        return mm(self, mat2)

    def matmul(self, other: Tensor) -> Tensor:
        if isinstance(other, Tensor) and other.ndim == 1:
            return mm(self, other.unsqueeze(1)).squeeze(1)
        return mm(self, other)

    def __matmul__(self, other: Any) -> Any:
        return self.matmul(other) if isinstance(other, Tensor) else NotImplemented

    def __rmatmul__(self, other: Any) -> Any:
        if not isinstance(other, Tensor):
            return NotImplemented
        if other.ndim == 1:
            return mm(self.t(), other.unsqueeze(1)).squeeze(1)
        return mm(self.t(), other.mT).mT

    def __mul__(self, other: Any) -> Any:
        if isinstance(other, SparseTensor):
            return (self.to_dense() * other.to_dense()).to_sparse(self.sparse_dim())
        if isinstance(other, Tensor) and other.ndim > 0:
            # The dense operand's entries at the stored coordinates (PyTorch's sparse * dense).
            at = other.expand(self._shape)[tuple(self._idx.unbind(0))]
            return self._with(self._vals * at)
        if isinstance(other, (Tensor, int, float)):
            return self._with(self._vals * other)
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Any:
        if isinstance(other, (Tensor, int, float)) and not (
            isinstance(other, Tensor) and other.ndim > 0
        ):
            return self._with(self._vals / other)
        return NotImplemented

    def __neg__(self) -> SparseTensor:
        return self._with(-self._vals)

    def __add__(self, other: Any) -> Any:
        if isinstance(other, SparseTensor):
            if other._shape != self._shape:
                raise ShapeError(
                    f"add: expected sizes to match, got {list(self._shape)} and "
                    f"{list(other._shape)}"
                )
            indices = _core.cat([self._idx, other._idx.to(self._idx.device)], 1)
            values = _core.cat([self._vals, other._vals.to(self._vals.device)], 0)
            return SparseTensor(indices, values, self._shape, False).coalesce()
        if isinstance(other, Tensor):
            return self.to_dense() + other
        return NotImplemented

    def __radd__(self, other: Any) -> Any:
        return other + self.to_dense() if isinstance(other, Tensor) else NotImplemented

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, (SparseTensor, Tensor)):
            return self + (-other)
        return NotImplemented

    def __rsub__(self, other: Any) -> Any:
        return other - self.to_dense() if isinstance(other, Tensor) else NotImplemented

    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Any:
        """Every element (a dense 0-d tensor), or over ``dim``: sparse while a sparse dim is
        left, as PyTorch's ``torch.sparse.sum``."""
        if dim is None:
            total = self._vals.sum()
            return total if dtype is None else total.to(dtype)
        out = self.to_dense().sum(dim, keepdim=keepdim)
        out = out if dtype is None else out.to(dtype)
        return out.to_sparse() if out.ndim else out

    def __repr__(self) -> str:
        pad = " " * len("tensor(")
        idx = repr(self._idx).replace("\n", "\n" + pad + " " * len("indices="))
        vals = repr(self._vals).replace("\n", "\n" + pad + " " * len("values="))
        return (
            f"tensor(indices={idx},\n{pad}values={vals},\n{pad}size={self._shape}, "
            f"nnz={self._nnz()}, layout={sparse_coo})"
        )


def _long(values: Any, device: Any) -> Tensor:
    return _core.from_numpy(np.ascontiguousarray(values, dtype=np.int64)).to(device)


def mm(sparse: SparseTensor, dense: Tensor) -> Tensor:
    """``sparse @ dense`` for a 2-D sparse matrix (``torch.sparse.mm``/``torch.spmm``): each
    stored entry scales a row of ``dense`` and adds it into its row of the result."""
    if not isinstance(sparse, SparseTensor):
        raise DTypeError(f"sparse.mm: expected a sparse first operand, got {type(sparse).__name__}")
    if not isinstance(dense, Tensor):
        raise DTypeError(f"sparse.mm: expected a dense second operand, got {type(dense).__name__}")
    if sparse.ndim != 2 or sparse.dense_dim() != 0 or dense.ndim != 2:
        raise ShapeError(
            f"sparse.mm: expects a 2-D sparse matrix and a 2-D dense one, got shapes "
            f"{list(sparse.shape)} and {list(dense.shape)}"
        )
    (n, k), (k2, m) = sparse.shape, dense.shape
    if k != k2:
        raise ShapeError(f"mat1 and mat2 shapes cannot be multiplied ({n}x{k} and {k2}x{m})")
    if sparse.dtype != dense.dtype:
        raise DTypeError(
            f"expected mat1 and mat2 to have the same dtype, but got: {sparse.dtype} != "
            f"{dense.dtype}"
        )
    rows, cols = sparse._idx.to(dense.device).unbind(0)
    scaled = dense.index_select(0, cols) * sparse._vals.unsqueeze(1)
    out = _core.zeros((n, m), dtype=dense.dtype, device=dense.device)
    return out.index_add(0, rows, scaled)


def sparse_coo_tensor(
    indices: Any,
    values: Any,
    size: Optional[Any] = None,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    check_invariants: Optional[bool] = None,
    is_coalesced: Optional[bool] = None,
) -> SparseTensor:
    """A sparse COO tensor with entries ``values[j]`` at ``indices[:, j]`` (``sparse_dim x
    nnz`` integers); ``size`` defaults to the smallest that holds every coordinate. The
    coordinates are checked against ``size`` (``IndexOutOfRangeError``), as PyTorch does."""
    del check_invariants  # (always checked: a coordinate out of range is never kept)
    vals = as_tensor(values, dtype=dtype)
    if device is not None:
        vals = vals.to(device)
    idx = as_tensor(indices).to(vals.device)
    if idx.dtype not in (_core.int64, _core.int32) or idx.ndim != 2:
        raise DTypeError(
            "sparse_coo_tensor: indices must be a 2-D (sparse_dim x nnz) integer tensor, got "
            f"{idx.dtype} of shape {list(idx.shape)}"
        )
    idx = idx.to(_core.int64)
    if vals.ndim == 0 or vals.shape[0] != idx.shape[1]:
        raise ShapeError(
            f"sparse_coo_tensor: number of dimensions must be sparse_dim ({idx.shape[1]} values "
            f"expected for {idx.shape[1]} indices) but got values of shape {list(vals.shape)}"
        )
    coords = idx.numpy()
    if coords.size and coords.min() < 0:
        raise IndexOutOfRangeError("sparse_coo_tensor: found negative index in indices")
    extent = tuple(int(v) + 1 for v in coords.max(axis=1)) if coords.size else (0,) * len(coords)
    shape = extent + tuple(vals.shape[1:]) if size is None else tuple(int(n) for n in size)
    _check_size(shape, extent, coords.shape[0], tuple(vals.shape[1:]))
    if requires_grad:
        vals = vals.detach().requires_grad_(True)
    return SparseTensor(idx, vals, shape, bool(is_coalesced))


def _check_size(
    shape: tuple[int, ...], extent: tuple[int, ...], sparse_dim: int, dense: tuple[int, ...]
) -> None:
    if len(shape) != sparse_dim + len(dense) or shape[sparse_dim:] != dense:
        raise ShapeError(
            f"sparse_coo_tensor: size {list(shape)} does not fit {sparse_dim} sparse dims and "
            f"values of dense shape {list(dense)}"
        )
    for d, (n, need) in enumerate(zip(shape, extent)):
        if need > n:
            raise IndexOutOfRangeError(
                f"sparse_coo_tensor: size is inconsistent with indices: for dim {d}, size is "
                f"{n} but found index {need - 1}"
            )


def to_sparse(x: Tensor, sparse_dim: Optional[int] = None) -> SparseTensor:
    """``x``'s non-zero entries as a coalesced sparse COO tensor; with ``sparse_dim`` the
    leading dims are sparse and the rest of each entry is kept dense."""
    n = x.ndim if sparse_dim is None else int(sparse_dim)
    if not 0 <= n <= x.ndim:
        raise InvalidValueError(f"to_sparse: sparse_dim must be in [0, {x.ndim}], got {n}")
    nonzero = x != 0
    if n < x.ndim:
        nonzero = nonzero.any(dim=tuple(range(n, x.ndim)))
    idx = nonzero.nonzero().t() if n else _core.zeros((0, 1), dtype=_core.int64)
    values = x[tuple(idx.unbind(0))] if n else x.unsqueeze(0)
    return SparseTensor(idx.contiguous(), values, tuple(x.shape), True)


def install(cls: type) -> None:
    """``Tensor.to_sparse``/``to_sparse_coo``."""
    from .._tensor_extra import _as_method

    cls.to_sparse = cls.to_sparse_coo = _as_method(to_sparse)  # type: ignore[attr-defined]
