"""``torch.sparse``: sparse COO tensors and their products with dense ones.

``sparse_coo_tensor(indices, values, size)`` (also ``dm.sparse_coo_tensor``) or
``dense.to_sparse()`` makes one; ``sparse.mm`` (``dm.spmm``, ``dm.mm``, ``dm.matmul``, ``@``)
multiplies it into a dense matrix, differentiably in both operands' values."""

from __future__ import annotations

from typing import Any

from .. import _core
from .._core import Tensor
from .._tensor_extra import _dim
from ..errors import DTypeError, InvalidValueError
from ._coo import SparseTensor, _long, matmul, mm, sparse_coo_tensor, to_sparse

__all__ = [
    "DoubleTensor",
    "FloatTensor",
    "LongTensor",
    "SparseTensor",
    "addmm",
    "log_softmax",
    "matmul",
    "mm",
    "softmax",
    "sparse_coo_tensor",
    "sum",
    "to_sparse",
]


def addmm(
    mat: Tensor, mat1: SparseTensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1
) -> Tensor:
    """``beta * mat + alpha * (mat1 @ mat2)`` for a sparse ``mat1`` (``torch.sparse.addmm``);
    with ``beta`` 0 ``mat`` is not read (its NaN and inf are ignored, as PyTorch's)."""
    product = mm(mat1, mat2)
    product = product if alpha == 1 else product * alpha
    if beta == 0:
        return product + _core.zeros(mat.shape, dtype=mat.dtype, device=mat.device)
    return (mat if beta == 1 else mat * beta) + product


def sum(input: SparseTensor, dim: Any = None, dtype: Any = None) -> Any:
    """Every element (a dense 0-d tensor), or over ``dim`` (``torch.sparse.sum``)."""
    return input.sum(dim, dtype=dtype)


def softmax(input: SparseTensor, dim: int, dtype: Any = None) -> SparseTensor:
    """Softmax along ``dim`` over the stored entries only, the others read as ``-inf``
    (``torch.sparse.softmax``): each group of entries sharing their other coordinates sums
    to 1; the result stores the same coordinates (coalesced)."""
    return _normalised(input, dim, dtype, log=False)


def log_softmax(input: SparseTensor, dim: int, dtype: Any = None) -> SparseTensor:
    """``log(softmax(input, dim))`` over the stored entries (``torch.sparse.log_softmax``)."""
    return _normalised(input, dim, dtype, log=True)


def _normalised(input: SparseTensor, dim: int, dtype: Any, log: bool) -> SparseTensor:
    if not isinstance(input, SparseTensor):
        raise DTypeError(f"sparse softmax expects a sparse tensor, got {type(input).__name__}")
    n = input.sparse_dim()
    d = _dim(input, dim)  # type: ignore[arg-type]
    if d >= n:
        raise InvalidValueError(f"sparse softmax: dim must be a sparse dim (one of the first {n})")
    s = input.coalesce()
    values = s._vals if dtype is None else s._vals.to(dtype)
    if not values.dtype.is_floating_point:
        raise DTypeError(f"sparse softmax expects floating-point values, got {values.dtype}")
    # Entries sharing every coordinate but ``d`` form one group.
    unique, _, group = s._unique_coordinates([k for k in range(n) if k != d])
    groups, at = len(unique), _long(group, values.device)
    dense = tuple(values.shape[1:])  # (a hybrid tensor's entries normalise elementwise)
    empty = _core.zeros((groups, *dense), dtype=values.dtype, device=values.device)
    spread = at.reshape(-1, *([1] * len(dense))).expand(values.shape)
    top = empty.scatter_reduce(0, spread, values.detach(), "amax", include_self=False)
    shifted = values - top[at]
    total = empty.index_add(0, at, shifted.exp())
    out = shifted - total.log()[at] if log else shifted.exp() / total[at]
    return SparseTensor(s._idx, out, s._shape, True)


def _legacy(dtype_name: str) -> Any:
    dtype = getattr(_core, dtype_name)

    def make(*args: Any) -> SparseTensor:
        """``(indices, values[, size])``, or a size (``(2, 3)``, ``()``): an empty tensor."""
        if len(args) >= 2 and not isinstance(args[0], int):
            indices, values, *size = args
            # (Tensor values keep their dtype, as PyTorch 2's legacy constructors.)
            kind = None if isinstance(values, Tensor) else dtype
            return sparse_coo_tensor(indices, values, size[0] if size else None, dtype=kind)
        shape = args[0] if len(args) == 1 and not isinstance(args[0], int) else args
        return sparse_coo_tensor(tuple(shape), None, dtype=dtype)

    make.__doc__ = (
        f"The legacy ``torch.sparse.*Tensor(indices, values, size)``: a {dtype_name} sparse COO "
        "tensor (``sparse_coo_tensor``)."
    )
    return make


FloatTensor = _legacy("float32")
DoubleTensor = _legacy("float64")
LongTensor = _legacy("int64")
