"""``torch.sparse``: sparse COO tensors and their products with dense ones.

``sparse_coo_tensor(indices, values, size)`` (also ``dm.sparse_coo_tensor``) or
``dense.to_sparse()`` makes one; ``sparse.mm`` (``dm.spmm``, ``dm.mm``, ``dm.matmul``, ``@``)
multiplies it into a dense matrix, differentiably in both operands' values."""

from __future__ import annotations

from typing import Any

from .. import _core
from .._core import Tensor
from ._coo import SparseTensor, matmul, mm, sparse_coo_tensor, to_sparse

__all__ = [
    "DoubleTensor",
    "FloatTensor",
    "LongTensor",
    "SparseTensor",
    "addmm",
    "matmul",
    "mm",
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
