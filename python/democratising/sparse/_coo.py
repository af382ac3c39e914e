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
from .._int_args import int_tuple
from .._pytorch_compat import Size, as_tensor
from .._tensor_compat_more import sparse_coo
from .._tensor_extra import _dim
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
        """The gradient of a leaf: sparse, at its coordinates (each once: a duplicate's values
        each received the whole gradient at that coordinate)."""
        g = self._vals.grad
        if g is None:
            return None
        if self._coalesced:
            return SparseTensor(self._idx, g, self._shape, True)
        _, first, _ = self._unique_coordinates()
        at = _long(first, self.device)
        return SparseTensor(
            self._idx.index_select(1, at), g.index_select(0, at), self._shape, False
        )

    @property
    def _version(self) -> int:
        """The values' version counter (``save_for_backward`` checks it)."""
        return int(self._vals._version)

    def _unique_coordinates(
        self, dims: Optional[list[int]] = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The distinct coordinates over the sparse ``dims`` (all of them by default), as flat
        positions, ascending; the first entry holding each; and each entry's one."""
        dims = list(range(self.sparse_dim())) if dims is None else dims
        idx = self._idx.cpu().numpy()[dims]
        shape = [self._shape[d] for d in dims]
        flat = np.ravel_multi_index(tuple(idx), shape) if idx.size else idx.sum(0)
        unique, first, inverse = np.unique(flat, return_index=True, return_inverse=True)
        return unique, first, inverse.reshape(-1)

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
        unique, _, inverse = self._unique_coordinates()
        sparse_shape = self._shape[: self.sparse_dim()]
        coords = np.stack(np.unravel_index(unique, sparse_shape)).reshape(len(sparse_shape), -1)
        dense = tuple(self._vals.shape[1:])
        summed = _core.zeros((len(unique), *dense), dtype=self.dtype, device=self.device).index_add(
            0, _long(inverse, self.device), self._vals
        )
        return SparseTensor(_long(coords, self.device), summed, self._shape, True)

    def to_dense(self) -> Tensor:
        """The dense tensor (stored duplicates summed), differentiable in the values."""
        if self.sparse_dim() == 0:  # every entry is the whole (dense) tensor
            return self._vals.sum(0, dtype=self.dtype)
        out = _core.zeros(self._shape, dtype=self.dtype, device=self.device)
        if self._nnz() == 0:
            # (keeps the values' graph: a loss through it still reaches them)
            return out + 0 * self._vals.sum() if self._vals.requires_grad else out
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
        d0, d1 = _dim(self, dim0), _dim(self, dim1)  # type: ignore[arg-type]
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

    def matmul(self, other: Any) -> Any:
        return matmul(self, other)

    def __matmul__(self, other: Any) -> Any:
        return matmul(self, other) if isinstance(other, (Tensor, SparseTensor)) else NotImplemented

    def __rmatmul__(self, other: Any) -> Any:
        return matmul(other, self) if isinstance(other, Tensor) else NotImplemented

    def __mul__(self, other: Any) -> Any:
        if isinstance(other, SparseTensor):
            return self._intersect(other)
        if isinstance(other, Tensor) and other.ndim > 0:
            # The dense operand's entries at the stored coordinates (PyTorch's sparse * dense).
            at = other.expand(self._shape)[tuple(self._idx.unbind(0))]
            return self._with(self._vals * at)
        if isinstance(other, (Tensor, int, float)):
            return self._with(self._vals * other)
        return NotImplemented

    __rmul__ = __mul__

    def _intersect(self, other: SparseTensor) -> SparseTensor:
        """The elementwise product of two sparse tensors: stored where both store."""
        if other._shape != self._shape or other.sparse_dim() != self.sparse_dim():
            raise ShapeError(
                "mul: expected sparse tensors of one size and sparse dims, got "
                f"{list(self._shape)} ({self.sparse_dim()} sparse) and {list(other._shape)} "
                f"({other.sparse_dim()} sparse)"
            )
        a, b = self.coalesce(), other.coalesce()
        fa, fb = a._unique_coordinates()[0], b._unique_coordinates()[0]
        _, ia, ib = np.intersect1d(fa, fb, assume_unique=True, return_indices=True)
        ia, ib = _long(ia, self.device), _long(ib, self.device)
        values = a._vals.index_select(0, ia) * b._vals.index_select(0, ib).to(self.device)
        return SparseTensor(a._idx.index_select(1, ia), values, self._shape, True)

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
        if keepdim:
            out = self.to_dense().sum(dim, keepdim=True)
            return out if dtype is None else out.to(dtype)
        nd, n = self.ndim, self.sparse_dim()
        asked = int_tuple(dim)
        dims = {_dim(self, d) for d in asked}  # type: ignore[arg-type]
        if len(dims) != len(asked):
            raise InvalidValueError(f"sum: a dim appears multiple times in {list(asked)}")
        values = self._vals if dtype is None else self._vals.to(dtype)
        dense_dims = [d - n + 1 for d in sorted(dims) if d >= n]
        if dense_dims:
            values = values.sum(dense_dims)
        kept = [d for d in range(n) if d not in dims]
        if not kept:  # every sparse dim reduced: a dense result
            return values.sum(0)
        shape = tuple(self._shape[d] for d in range(nd) if d not in dims)
        return SparseTensor(self._idx[kept], values, shape, False).coalesce()

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


def mm(mat1: Any, mat2: Any) -> Any:
    """``mat1 @ mat2`` for 2-D matrices, one or both sparse (``torch.sparse.mm``,
    ``torch.spmm``): dense unless both are sparse."""
    for m in (mat1, mat2):
        if not isinstance(m, (Tensor, SparseTensor)):
            raise DTypeError(f"sparse.mm: expected tensors, got {type(m).__name__}")
        if m.ndim != 2:
            raise ShapeError(f"sparse.mm: expects 2-D matrices, got shape {list(m.shape)}")
    if isinstance(mat1, SparseTensor) and isinstance(mat2, SparseTensor):
        return _spmm(mat1, mat2.to_dense()).to_sparse()
    if isinstance(mat1, SparseTensor):
        return _spmm(mat1, mat2)
    if isinstance(mat2, SparseTensor):
        return _spmm(mat2.t(), mat1.mT).mT
    raise DTypeError("sparse.mm: expected a sparse operand")


def _spmm(sparse: SparseTensor, dense: Tensor) -> Tensor:
    """A 2-D sparse matrix times a dense one: each stored entry scales a row of ``dense``
    and adds it into its row of the result."""
    if sparse.dense_dim() != 0:
        raise ShapeError("sparse.mm: a hybrid sparse tensor (with dense dims) is not a matrix")
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
    values: Any = None,
    size: Optional[Any] = None,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
    check_invariants: Optional[bool] = None,
    is_coalesced: Optional[bool] = None,
) -> SparseTensor:
    """A sparse COO tensor with entries ``values[j]`` at ``indices[:, j]`` (``sparse_dim x
    nnz`` integers); ``size`` defaults to the smallest that holds every coordinate. Given a
    size alone (``sparse_coo_tensor((2, 3))``), an empty one. The
    coordinates are checked against ``size`` (``IndexOutOfRangeError``), as PyTorch does."""
    del check_invariants  # (always checked: a coordinate out of range is never kept)
    if values is None:  # sparse_coo_tensor(size): an empty tensor of that size
        shape = tuple(int(n) for n in indices)
        empty_idx = _core.zeros((len(shape), 0), dtype=_core.int64)
        empty = _core.zeros((0,), dtype=dtype or _core._default_dtype())
        return sparse_coo_tensor(
            empty_idx, empty, shape, device=device, requires_grad=requires_grad
        )
    vals = as_tensor(values, dtype=dtype)
    if device is not None:
        vals = vals.to(device)
    idx = as_tensor(indices).to(vals.device)
    if idx.numel() == 0 and idx.ndim == 1:  # ([], []): no coordinates of one sparse dim
        idx = idx.reshape(1, 0)
    if idx.ndim != 2 or (idx.dtype.is_floating_point and idx.numel()):
        raise DTypeError(
            "sparse_coo_tensor: indices must be a 2-D (sparse_dim x nnz) integer tensor, got "
            f"{idx.dtype} of shape {list(idx.shape)}"
        )
    idx = idx.to(_core.int64)
    if vals.ndim == 0 or vals.shape[0] != idx.shape[1]:
        raise ShapeError(
            f"sparse_coo_tensor: {idx.shape[1]} coordinates but values of shape "
            f"{list(vals.shape)} (their first dim counts the entries)"
        )
    coords = idx.cpu().numpy()
    if coords.size and coords.min() < 0:
        raise IndexOutOfRangeError("sparse_coo_tensor: found negative index in indices")
    extent = tuple(int(v) + 1 for v in coords.max(axis=1)) if coords.size else (0,) * len(coords)
    shape = extent + tuple(vals.shape[1:]) if size is None else tuple(int(n) for n in size)
    _check_size(shape, extent, coords.shape[0], tuple(vals.shape[1:]))
    if requires_grad and not vals.requires_grad:
        vals = vals.detach().requires_grad_(True)  # (a new leaf: not the caller's tensor)
    # (PyTorch counts no entry or one as coalesced.)
    coalesced = bool(is_coalesced) or idx.shape[1] <= 1
    return SparseTensor(idx, vals, shape, coalesced)


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
    if not (0 < n <= x.ndim or n == x.ndim == 0):
        raise InvalidValueError(f"to_sparse: sparse_dim must be in [1, {x.ndim}], got {n}")
    nonzero = x != 0
    if n < x.ndim:
        nonzero = nonzero.any(dim=tuple(range(n, x.ndim)))
    idx = nonzero.nonzero().t() if n else _core.zeros((0, 1), dtype=_core.int64)
    values = x[tuple(idx.unbind(0))] if n else x.unsqueeze(0)
    return SparseTensor(idx.contiguous(), values, tuple(x.shape), True)


def dense_parts(tensors: Any) -> list[Tensor]:
    """``tensors`` with each sparse one replaced by its values: what a broadcast of module
    buffers writes in place (every rank holds the same coordinates, as the same graph)."""
    return [t._values() if isinstance(t, SparseTensor) else t for t in tensors]


def install(cls: type) -> None:
    """``Tensor.to_sparse``/``to_sparse_coo``."""
    from .._tensor_extra import _as_method

    cls.to_sparse = cls.to_sparse_coo = _as_method(to_sparse)  # type: ignore[attr-defined]


def matmul(a: Any, b: Any) -> Any:
    """``a @ b`` with either side sparse (2-D): a dense result for a dense operand (leading
    batch dims of a dense left operand kept), a sparse one for two sparse matrices."""
    if isinstance(a, SparseTensor):
        if isinstance(b, Tensor) and b.ndim == 1:
            return mm(a, b.unsqueeze(1)).squeeze(1)
        return mm(a, b)
    if not isinstance(a, Tensor) or not isinstance(b, SparseTensor):
        raise DTypeError(f"matmul: unsupported operands {type(a).__name__} and {type(b).__name__}")
    if a.ndim == 1:
        return mm(a.unsqueeze(0), b).squeeze(0)
    rows = mm(a.reshape(-1, a.shape[-1]), b)
    return rows.reshape(*a.shape[:-1], b.shape[1])
