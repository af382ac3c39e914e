"""``torch.sparse``: sparse COO tensors and their products with dense ones.

``sparse_coo_tensor(indices, values, size)`` (also ``dm.sparse_coo_tensor``) or
``dense.to_sparse()`` makes one; ``sparse.mm`` (``dm.spmm``, ``dm.mm``, ``dm.matmul``, ``@``)
multiplies it into a dense matrix, differentiably in both operands' values."""

from __future__ import annotations

from typing import Any, Optional

from .._core import Tensor
from ._coo import SparseTensor, mm, sparse_coo_tensor, to_sparse

__all__ = [
    "DoubleTensor",
    "FloatTensor",
    "LongTensor",
    "SparseTensor",
    "addmm",
    "mm",
    "sparse_coo_tensor",
    "sum",
    "to_sparse",
]


def addmm(
    mat: Tensor, mat1: SparseTensor, mat2: Tensor, *, beta: float = 1, alpha: float = 1
) -> Tensor:
    """``beta * mat + alpha * (mat1 @ mat2)`` for a sparse ``mat1`` (``torch.sparse.addmm``)."""
    product = mm(mat1, mat2)
    return (mat if beta == 1 else mat * beta) + (product if alpha == 1 else product * alpha)


def sum(input: SparseTensor, dim: Any = None, dtype: Any = None) -> Any:
    """Every element (a dense 0-d tensor), or over ``dim`` (``torch.sparse.sum``)."""
    return input.sum(dim, dtype=dtype)


def _legacy(dtype_name: str) -> Any:
    from .. import _core

    dtype = getattr(_core, dtype_name)

    def make(indices: Any, values: Any, size: Optional[Any] = None) -> SparseTensor:
        return sparse_coo_tensor(indices, values, size, dtype=dtype)

    make.__doc__ = (
        f"The legacy ``torch.sparse.*Tensor(indices, values, size)``: a {dtype_name} sparse COO "
        "tensor (``sparse_coo_tensor``)."
    )
    return make


FloatTensor = _legacy("float32")
DoubleTensor = _legacy("float64")
LongTensor = _legacy("int64")
