"""PyTorch's stacking, splitting, creation and product functions written in Python over the
engine's differentiable ops (cat, narrow, index_select, reshape, matmul, flip, ...), so that
gradients flow where PyTorch's do: ``hstack``/``vstack``/``dstack``/``column_stack``/
``row_stack``, ``atleast_1d/2d/3d``, ``hsplit``/``vsplit``/``dsplit``, ``rot90``,
``block_diag``, ``cartesian_prod``, ``combinations``, ``diag_embed``, ``diagflat``,
``vander``, ``kron``, ``inner``, ``vdot``, ``addbmm``/``baddbmm``/``addmv``/``addr``,
``chain_matmul``, ``select``, ``narrow_copy``, ``take``, ``aminmax``, the trapezoid rules;
and the index builders ``tril_indices``/``triu_indices``/``unravel_index``/``argwhere``
(int64 results, no gradient). ``METHODS`` holds the ``Tensor`` methods PyTorch has of these
names, merged into ``_tensor_extra.METHODS``."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any, Callable, NamedTuple, Optional, Union

import numpy as np

from . import _core
from ._core import Tensor
from ._tensor_extra import (
    _autocast_disabled,
    _dim,
    _flat_positions,
    _host,
    _index,
    _not_tensor,
    _takes_tensor,
    broadcast_shapes,
    flip,
    meshgrid,
)
from ._tensor_more import _inplace_of, _result_dtype, cumprod, movedim, tensor_split
from .errors import (
    ArgumentTypeError,
    DTypeError,
    IndexOutOfRangeError,
    InvalidValueError,
    OutOfMemoryError,
    ShapeError,
)

_Number = Union[int, float, bool]


class AminmaxResult(NamedTuple):
    """``(min, max)`` of ``aminmax``."""

    min: Tensor
    max: Tensor


# ---- helpers ---------------------------------------------------------------------------------


def _tensor_list(op: str, tensors: Any) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise ArgumentTypeError(f"{op}(): argument 'tensors' must be a tuple or list of Tensors")
    out = list(tensors)
    for v in out:
        if not isinstance(v, Tensor):
            raise ArgumentTypeError(f"{op}(): expected Tensor elements, got {type(v).__name__}")
    if not out:
        raise ShapeError(f"{op}(): expected a non-empty list of Tensors")
    return out


def _promoted(ts: Sequence[Tensor]) -> list[Tensor]:
    """The tensors cast to their common (promoted) dtype."""
    dtype = _result_dtype(*ts)
    return [v.to(dtype) for v in ts]


def _unpack(tensors: tuple[Any, ...]) -> tuple[list[Tensor], bool]:
    """``f(a, b)`` and ``f([a, b])`` alike; the flag says whether one bare tensor came."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        return list(tensors[0]), False
    for v in tensors:
        if not isinstance(v, Tensor):
            raise ArgumentTypeError(f"expected Tensor arguments, got {type(v).__name__}")
    return list(tensors), len(tensors) == 1


# ---- at least n dims, stacking ---------------------------------------------------------------


def _atleast(tensors: tuple[Any, ...], fix: Callable[[Tensor], Tensor]) -> Any:
    ts, single = _unpack(tensors)
    out = tuple(fix(v) for v in ts)
    return out[0] if single else out


def _as_2d(v: Tensor) -> Tensor:
    return v.reshape(1, -1) if v.ndim < 2 else v


def _as_3d(v: Tensor) -> Tensor:
    if v.ndim == 0:
        return v.reshape(1, 1, 1)
    if v.ndim == 1:
        return v.reshape(1, -1, 1)
    return v.unsqueeze(-1) if v.ndim == 2 else v


def atleast_1d(*tensors: Any) -> Any:
    """Each tensor with at least one dim (0-d become shape ``(1,)``); one tensor in, one out,
    else a tuple."""
    return _atleast(tensors, lambda v: v.reshape(1) if v.ndim == 0 else v)


def atleast_2d(*tensors: Any) -> Any:
    """Each tensor with at least two dims (``(n,)`` becomes ``(1, n)``)."""
    return _atleast(tensors, _as_2d)


def atleast_3d(*tensors: Any) -> Any:
    """Each tensor with at least three dims (``(n,)`` becomes ``(1, n, 1)``, ``(m, n)``
    becomes ``(m, n, 1)``)."""
    return _atleast(tensors, _as_3d)


def hstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenation along dim 1 (dim 0 for 1-D tensors) of the ``atleast_1d`` tensors."""
    ts = _promoted([v.reshape(1) if v.ndim == 0 else v for v in _tensor_list("hstack", tensors)])
    return _core.cat(ts, 0 if ts[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenation along dim 0 of the ``atleast_2d`` tensors."""
    return _core.cat(_promoted([_as_2d(v) for v in _tensor_list("vstack", tensors)]), 0)


def row_stack(tensors: Sequence[Tensor]) -> Tensor:
    """Alias of ``vstack``."""
    return vstack(tensors)


def dstack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenation along dim 2 of the ``atleast_3d`` tensors."""
    return _core.cat(_promoted([_as_3d(v) for v in _tensor_list("dstack", tensors)]), 2)


def column_stack(tensors: Sequence[Tensor]) -> Tensor:
    """Concatenation along dim 1, 0-d and 1-D tensors first made columns ``(n, 1)``."""
    ts = [v.reshape(-1, 1) if v.ndim < 2 else v for v in _tensor_list("column_stack", tensors)]
    return _core.cat(_promoted(ts), 1)


# ---- splitting -------------------------------------------------------------------------------


def _split(op: str, x: Tensor, spec: Any, dim: int, need: int) -> tuple[Tensor, ...]:
    if x.ndim < need:
        raise ShapeError(
            f"torch.{op} requires a tensor with at least {need} dimension, but got a tensor "
            f"with {x.ndim} dimensions!"
        )
    if isinstance(spec, int) and not isinstance(spec, bool):
        if spec <= 0 or x.shape[dim] % spec:
            raise ShapeError(
                f"torch.{op} attempted to split along dimension {dim}, but the size of the "
                f"dimension {x.shape[dim]} is not divisible by the split_size {spec}!"
            )
    return tensor_split(x, spec, dim)


def _split_spec(op: str, either: Any, sections: Any, indices: Any) -> Any:
    """The one split given: positionally, or by PyTorch's keywords ``sections=`` (a count)
    or ``indices=`` (where to split)."""
    given = [v for v in (either, sections, indices) if v is not None]
    if len(given) != 1:
        raise ArgumentTypeError(
            f"{op}() takes exactly one of indices_or_sections, sections and indices"
        )
    return given[0]


def _directional_split(
    op: str, dim: Callable[[Tensor], int], ndim: int, doc: str
) -> Callable[..., tuple[Tensor, ...]]:
    """``hsplit``/``vsplit``/``dsplit``: ``tensor_split`` along ``dim(x)`` of a tensor of at
    least ``ndim`` dims, the split given positionally or by PyTorch's ``sections=`` or
    ``indices=``."""

    def split(
        x: Tensor,
        indices_or_sections: Union[int, Sequence[int], None] = None,
        *,
        sections: Optional[int] = None,
        indices: Optional[Sequence[int]] = None,
    ) -> tuple[Tensor, ...]:
        spec = _split_spec(op, indices_or_sections, sections, indices)
        return _split(op, x, spec, dim(x), ndim)

    split.__name__ = split.__qualname__ = op
    split.__doc__ = doc
    return _takes_tensor(split)


hsplit = _directional_split(
    "hsplit",
    lambda x: 0 if x.ndim == 1 else 1,
    1,
    "``tensor_split`` along dim 1 (dim 0 for 1-D); a number of sections must divide it.",
)
vsplit = _directional_split(
    "vsplit", lambda x: 0, 2, "``tensor_split`` along dim 0 of a tensor of at least 2 dims."
)
dsplit = _directional_split(
    "dsplit", lambda x: 2, 3, "``tensor_split`` along dim 2 of a tensor of at least 3 dims."
)


# ---- rearranging, building -------------------------------------------------------------------


@_takes_tensor
def rot90(x: Tensor, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:
    """Rotation by ``k`` quarter turns in the plane of ``dims``, from the first towards the
    second."""
    dims = list(dims)
    if len(dims) != 2:
        raise ShapeError(f"expected total rotation dims == 2, but got dims = {len(dims)}")
    if x.ndim < 2:
        raise ShapeError(f"expected total dims >= 2, but got total dims = {x.ndim}")
    d0, d1 = _dim(x, dims[0]), _dim(x, dims[1])
    if d0 == d1:
        raise ShapeError(
            f"expected rotation dims to be different, but got dim0 = {d0} and dim1 = {d1}"
        )
    k %= 4
    if k == 1:
        return flip(x, [d1]).transpose(d0, d1)
    if k == 2:
        return flip(x, [d0, d1])
    if k == 3:
        return flip(x, [d0]).transpose(d0, d1)
    return x.clone()


def block_diag(*tensors: Tensor) -> Tensor:
    """The block-diagonal matrix of the given 0-d, 1-D (one row) or 2-D blocks."""
    for v in tensors:
        if not isinstance(v, Tensor):
            raise ArgumentTypeError(
                f"block_diag(): expected Tensor arguments, got {type(v).__name__}"
            )
        if v.ndim > 2:
            raise ShapeError(
                "torch.block_diag: Input tensors must have 2 or fewer dimensions. "
                f"Input has {v.ndim} dimensions"
            )
    if not tensors:
        return _core.zeros(1, 0)
    # The dtype from the blocks as given, before the 0-d ones become rows: PyTorch's
    # result_type, where a 0-d tensor ranks below dimensioned ones.
    dtype = _result_dtype(*tensors)
    blocks = [(v.reshape(1, -1) if v.ndim < 2 else v).to(dtype) for v in tensors]
    width = sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        r, c = b.shape
        parts = [
            _core.zeros(r, left, dtype=b.dtype, device=b.device),
            b,
            _core.zeros(r, width - left - c, dtype=b.dtype, device=b.device),
        ]
        rows.append(_core.cat(parts, 1))
        left += c
    return _core.cat(rows, 0)


def cartesian_prod(*tensors: Tensor) -> Tensor:
    """All tuples of one element from each 1-D tensor, as rows (itertools.product order);
    a single tensor comes back as it is."""
    for v in tensors:
        if not isinstance(v, Tensor) or v.ndim != 1:
            raise ShapeError("Expect a 1D vector, but got shape " + str(getattr(v, "shape", v)))
    if len(tensors) == 1:
        return tensors[0]
    if len({v.dtype for v in tensors}) > 1:
        raise DTypeError("cartesian_prod expects all tensors to have the same dtype")
    grids = meshgrid(*tensors, indexing="ij")
    return _core.stack([g.reshape(-1) for g in grids], 1)


@_takes_tensor
def combinations(x: Tensor, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The length-``r`` combinations of the elements of a 1-D tensor, as rows (as
    ``itertools.combinations``, or ``combinations_with_replacement``)."""
    if x.ndim != 1:
        raise ShapeError(f"Expect a 1D vector, but got shape {tuple(x.shape)}")
    if r < 0:
        raise InvalidValueError(f"Expect a non-negative number, but got {r}")
    if r == 0:
        return _core.zeros(0, dtype=x.dtype, device=x.device)
    n = x.shape[0]
    count = math.comb(n + r - 1, r) if with_replacement else math.comb(n, r)
    if count * r > 1 << 31:  # (itertools builds them one tuple at a time: hours, then no memory)
        raise OutOfMemoryError(
            f"combinations: {count} combinations of {r} of {n} elements is too many to build"
        )
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    idx = np.array(list(pick(range(x.shape[0]), r)), dtype=np.int64).reshape(-1, r)
    cols = [x.index_select(0, _index(idx[:, j], x)) for j in range(r)]
    return _core.stack(cols, 1)


def _tri_indices(lower: bool, row: int, col: int, offset: int, dtype: Any, device: Any) -> Tensor:
    if row < 0 or col < 0:
        raise InvalidValueError(f"row must be non-negative, got {row}; col, got {col}")
    if dtype not in (_core.int64, _core.int32):
        raise DTypeError(f"tril_indices/triu_indices: dtype must be int64 or int32, got {dtype}")
    rr, cc = np.indices((row, col))
    keep = (cc - rr <= offset) if lower else (cc - rr >= offset)
    out = np.stack([rr[keep], cc[keep]]).astype(np.int64).reshape(2, -1)
    device = _core.get_default_device() if device is None else device  # (set_default_device)
    return _core.from_numpy(np.ascontiguousarray(out)).to(dtype).to(device)


def _tri_indices_function(name: str, lower: bool, doc: str) -> Callable[..., Tensor]:
    """Builds ``tril_indices`` or ``triu_indices``: one PyTorch signature for both, which differ
    only in the triangle ``_tri_indices`` keeps."""

    def indices(
        row: int,
        col: int,
        offset: int = 0,
        *,
        dtype: Any = None,
        device: Any = None,
        layout: Any = None,
    ) -> Tensor:
        return _tri_indices(lower, row, col, offset, dtype or _core.int64, device)

    indices.__name__ = indices.__qualname__ = name
    indices.__doc__ = doc
    return indices


tril_indices = _tri_indices_function(
    "tril_indices",
    True,
    """The ``(2, N)`` coordinates of the lower triangle of a ``row x col`` matrix (on and
    below diagonal ``offset``), in row-major order.""",
)
triu_indices = _tri_indices_function(
    "triu_indices",
    False,
    """The ``(2, N)`` coordinates of the upper triangle of a ``row x col`` matrix (on and
    above diagonal ``offset``), in row-major order.""",
)


@_takes_tensor
def diag_embed(x: Tensor, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices (in dims ``dim1``, ``dim2`` of the result) whose diagonal ``offset`` holds the
    last dim of ``x``; differentiable."""
    nd = x.ndim + 1
    d1, d2 = dim1 % nd if -nd <= dim1 < nd else None, dim2 % nd if -nd <= dim2 < nd else None
    if d1 is None or d2 is None:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-nd}, {nd - 1}])")
    if d1 == d2:
        raise ShapeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    v = x.reshape(1) if x.ndim == 0 else x
    n = v.shape[-1]
    m = n + abs(offset)
    padded = _core.cat([v, _core.zeros(*v.shape[:-1], 1, dtype=v.dtype, device=v.device)], -1)
    idx = np.full((m, m), n, dtype=np.int64)
    k = np.arange(n)
    idx[k + max(-offset, 0), k + max(offset, 0)] = k
    out = padded.index_select(-1, _index(idx.reshape(-1), x))
    out = out.reshape(*v.shape[:-1], m, m)
    return movedim(out, [nd - 2, nd - 1], [d1, d2]) if nd >= 2 else out


@_takes_tensor
def diagflat(x: Tensor, offset: int = 0) -> Tensor:
    """The 2-D matrix with the flattened ``x`` on diagonal ``offset``."""
    return diag_embed(x.reshape(-1), offset)


@_takes_tensor
def vander(x: Tensor, N: Optional[int] = None, increasing: bool = False) -> Tensor:  # noqa: N803
    """The Vandermonde matrix of a 1-D tensor: columns ``x**(N-1), ..., x**0`` (or increasing);
    integer inputs give int64, as PyTorch's cumprod does."""
    if x.ndim != 1:
        raise ShapeError("x must be a one-dimensional tensor.")
    n = x.shape[0] if N is None else N
    if n < 0:
        raise InvalidValueError("N must be non-negative.")
    dtype = x.dtype if x.dtype.is_floating_point else _core.int64
    if n == 0:
        return _core.zeros(x.shape[0], 0, dtype=dtype, device=x.device)
    ones = _core.ones(x.shape[0], 1, dtype=dtype, device=x.device)
    cols = [ones]
    if n > 1:
        cols.append(x.to(dtype).unsqueeze(1).expand(x.shape[0], n - 1))
    out = cumprod(_core.cat(cols, 1), 1)
    return out if increasing else flip(out, [1])


def unravel_index(indices: Tensor, shape: Union[int, Sequence[int]]) -> tuple[Tensor, ...]:
    """The coordinates (int64 tensors shaped like ``indices``) that the flat ``indices`` have
    in a tensor of ``shape``; negative indices count from the end."""
    if not isinstance(indices, Tensor):
        raise ArgumentTypeError(f"expected 'indices' to be a tensor, got {type(indices).__name__}")
    if indices.dtype.is_floating_point or indices.dtype == _core.bool:
        raise DTypeError(f"expected 'indices' to be an integer tensor, got {indices.dtype}")
    dims = (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)
    if any(s < 0 for s in dims):
        raise InvalidValueError("'shape' cannot have negative values, but got " + str(dims))
    total = int(np.prod(dims, dtype=np.int64))
    flat = np.asarray(_host(indices), dtype=np.int64)
    if flat.size and (flat.min() < -total or flat.max() >= total):
        raise IndexOutOfRangeError(f"'indices' must be in range [{-total}, {total - 1}]")
    flat = np.where(flat < 0, flat + total, flat)
    coords = np.unravel_index(flat, dims) if dims else ()
    return tuple(_index(c, indices).reshape(tuple(indices.shape)) for c in coords)


@_takes_tensor
def kron(x: Tensor, other: Tensor) -> Tensor:
    """The Kronecker product (shapes multiply dim by dim, the smaller rank padded with
    leading 1s); differentiable."""
    a, b = _promoted([x, other])
    nd = max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + tuple(a.shape)
    sb = (1,) * (nd - b.ndim) + tuple(b.shape)
    ea = a.reshape([s for p in sa for s in (p, 1)])
    eb = b.reshape([s for p in sb for s in (1, p)])
    return (ea * eb).reshape([p * q for p, q in zip(sa, sb)])


@_takes_tensor
def inner(x: Tensor, other: Tensor) -> Tensor:
    """Sum of products over the last dims (a 0-d operand multiplies); shape
    ``x.shape[:-1] + other.shape[:-1]``."""
    if x.ndim == 0 or other.ndim == 0:
        return x * other
    if x.shape[-1] != other.shape[-1]:
        raise ShapeError(
            f"inner() the last dimension must match on both input tensors but got shapes "
            f"{tuple(x.shape)} and {tuple(other.shape)}"
        )
    if x.dtype != other.dtype:
        raise DTypeError(
            f"inner(): both inputs should have same dtype, got {x.dtype} and {other.dtype}"
        )
    lead_a, lead_b, k = x.shape[:-1], other.shape[:-1], x.shape[-1]
    # (Explicit row counts: `-1` cannot be inferred when `k` is 0, a sum of no products.)
    rows_a, rows_b = math.prod(lead_a), math.prod(lead_b)
    out = x.reshape(rows_a, k).matmul(other.reshape(rows_b, k).transpose(0, 1))
    return out.reshape((*lead_a, *lead_b))


@_takes_tensor
def vdot(x: Tensor, other: Tensor) -> Tensor:
    """The dot product of two 1-D tensors of one dtype (real: same as ``dot``)."""
    if x.ndim != 1 or other.ndim != 1:
        raise ShapeError(f"1D tensors expected, but got {x.ndim}D and {other.ndim}D tensors")
    if x.dtype != other.dtype:
        raise DTypeError(
            f"vdot : expected both vectors to have same dtype, but found {x.dtype} and "
            f"{other.dtype}"
        )
    if x.shape[0] != other.shape[0]:
        raise ShapeError(
            f"inconsistent tensor size: vdot of {x.shape[0]} and {other.shape[0]} elements"
        )
    # In the operands' dtype, as PyTorch's (vdot is on no CPU autocast list): ``sum`` widens
    # a low dtype under autocast and an integer one to int64.
    out = (x * other).sum()
    return out if out.dtype == x.dtype else out.to(x.dtype)


def _scaled_add(
    x: Tensor,
    prod: Tensor,
    beta: _Number,
    alpha: _Number,
    op: str,
    autocast: bool = False,
    same_dtype: bool = True,
) -> Tensor:
    """``beta * x + alpha * prod`` (``x`` ignored when ``beta`` is 0, NaN included). With
    ``autocast`` (the ops on PyTorch's low-precision autocast list: ``addmm``, ``baddbmm``,
    ``addbmm``), an autocast region casts ``x`` to the product's low dtype, so the result stays
    low as PyTorch's does."""
    if (
        autocast
        and _core._get_autocast() is not None
        and prod.dtype in (_core.float16, _core.bfloat16)
        and x.dtype in (_core.float16, _core.bfloat16, _core.float32)
    ):
        x = x.to(prod.dtype)
    if same_dtype and x.dtype != prod.dtype:
        # As PyTorch: the input is not promoted to the product's dtype (nor the other way).
        raise DTypeError(
            f"{op}: self and the matrices must have the same dtype, got {x.dtype} and {prod.dtype}"
        )
    for v in (beta, alpha):
        if isinstance(v, float) and not prod.dtype.is_floating_point:
            raise DTypeError(f"{op}: for integral input tensors, beta and alpha must be integers")
    scaled = prod if alpha == 1 else prod * alpha
    _broadcast(x, scaled, op)
    if beta == 0:
        return scaled
    return (x if beta == 1 else x * beta) + scaled


def _broadcast(x: Tensor, prod: Tensor, op: str) -> None:
    shape = broadcast_shapes(x.shape, prod.shape)
    if tuple(shape) != tuple(prod.shape):
        raise ShapeError(
            f"{op}: the input of shape {tuple(x.shape)} does not broadcast to the product's "
            f"shape {tuple(prod.shape)}"
        )


def _need(op: str, name: str, t: Tensor, nd: int) -> None:
    if not isinstance(t, Tensor):
        raise _not_tensor(op, name, t)
    if t.ndim != nd:
        raise ShapeError(f"{op}: {name} must be a {nd}D tensor, got {t.ndim}D")


def _batch_products(op: str, batch1: Tensor, batch2: Tensor) -> Tensor:
    """``batch1[b] @ batch2[b]`` for every ``b``, once both are checked to be 3-D batches: the
    product ``baddbmm`` adds as it is and ``addbmm`` summed over the batch."""
    _need(op, "batch1", batch1, 3)
    _need(op, "batch2", batch2, 3)
    return batch1.matmul(batch2)


@_takes_tensor
def baddbmm(
    x: Tensor, batch1: Tensor, batch2: Tensor, *, beta: _Number = 1, alpha: _Number = 1
) -> Tensor:
    """``beta * x + alpha * (batch1 @ batch2)`` for 3-D batches."""
    prods = _batch_products("baddbmm", batch1, batch2)
    return _scaled_add(x, prods, beta, alpha, "baddbmm", autocast=True)


@_takes_tensor
def addbmm(
    x: Tensor, batch1: Tensor, batch2: Tensor, *, beta: _Number = 1, alpha: _Number = 1
) -> Tensor:
    """``beta * x + alpha * sum_b(batch1[b] @ batch2[b])`` for 3-D batches."""
    prods = _batch_products("addbmm", batch1, batch2)
    # (autocast runs sum in float32: the batch sum goes back to the products' dtype)
    return _scaled_add(x, prods.sum(0).to(prods.dtype), beta, alpha, "addbmm", autocast=True)


@_takes_tensor
def addmv(x: Tensor, mat: Tensor, vec: Tensor, *, beta: _Number = 1, alpha: _Number = 1) -> Tensor:
    """``beta * x + alpha * (mat @ vec)``."""
    _need("addmv", "mat", mat, 2)
    _need("addmv", "vec", vec, 1)
    with _autocast_disabled():  # (not on PyTorch's autocast list: it runs in its inputs' dtype)
        prod = mat.matmul(vec)
    return _scaled_add(x, prod, beta, alpha, "addmv")


@_takes_tensor
def addr(x: Tensor, vec1: Tensor, vec2: Tensor, *, beta: _Number = 1, alpha: _Number = 1) -> Tensor:
    """``beta * x + alpha * outer(vec1, vec2)``."""
    _need("addr", "vec1", vec1, 1)
    _need("addr", "vec2", vec2, 1)
    prod = vec1.unsqueeze(1) * vec2.unsqueeze(0)
    return _scaled_add(x, prod, beta, alpha, "addr", same_dtype=False)  # (promotes, as PyTorch)


def chain_matmul(*matrices: Tensor) -> Tensor:
    """The product of 2-D matrices left to right (PyTorch's deprecated ``chain_matmul``)."""
    if not matrices:
        raise ShapeError("chain_matmul(): Expected one or more matrices")
    for m in matrices:
        _need("chain_matmul", "matrices", m, 2)
    if len(matrices) == 1:
        return matrices[0].clone()
    out = matrices[0]
    for m in matrices[1:]:
        out = out.matmul(m)
    return out


@_takes_tensor
def select(x: Tensor, dim: int, index: int) -> Tensor:
    """Element ``index`` of dimension ``dim``, that dimension removed (as ``x.select``)."""
    return x.select(dim, index)


@_takes_tensor
def narrow_copy(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """A copy (not a view) of ``x.narrow(dim, start, length)``."""
    return x.narrow(dim, start, length).clone()


@_takes_tensor
def take(x: Tensor, index: Tensor) -> Tensor:
    """The elements of the flattened ``x`` at ``index`` (int64; negative counts from the
    end), shaped like ``index``; differentiable in ``x``."""
    if not isinstance(index, Tensor):
        raise _not_tensor("take", "index", index)
    if index.dtype != _core.int64:
        raise DTypeError(f"take(): Expected a long tensor for index, but got {index.dtype}")
    n = x.numel()
    idx = _flat_positions(index, n, end=".")
    idx = np.where(idx < 0, idx + n, idx)
    return x.reshape(-1).index_select(0, _index(idx, x)).reshape(tuple(index.shape))


@_takes_tensor
def argwhere(x: Tensor) -> Tensor:
    """The ``(N, ndim)`` int64 coordinates of the nonzero elements (as ``nonzero()``)."""
    return x.nonzero()


@_takes_tensor
def aminmax(x: Tensor, *, dim: Optional[int] = None, keepdim: bool = False) -> AminmaxResult:
    """``(amin, amax)`` over all elements or ``dim``; differentiable as ``amin``/``amax``."""
    if dim is None:
        if x.numel() == 0:
            raise InvalidValueError(
                "aminmax(): cannot compute aminmax over an empty dimension as the operation "
                "has no identity."
            )
        lo, hi = x.amin(), x.amax()
        if keepdim:
            lo, hi = lo.reshape([1] * x.ndim), hi.reshape([1] * x.ndim)
        return AminmaxResult(lo, hi)
    d = _dim(x, dim)
    if x.ndim == 0:
        return AminmaxResult(x.clone(), x.clone())
    if x.shape[d] == 0:
        raise IndexOutOfRangeError(  # (PyTorch's IndexError)
            f"aminmax(): Expected reduction dim {d} to have non-zero size."
        )
    return AminmaxResult(x.amin(d, keepdim), x.amax(d, keepdim))


# ---- trapezoid rule --------------------------------------------------------------------------


def _trapezoid_parts(
    op: str, y: Tensor, x: Optional[Tensor], dx: Optional[_Number], dim: int
) -> tuple[Tensor, Any, int]:
    """The pairwise means of ``y`` along ``dim`` and the spacings to weight them with."""
    if not isinstance(y, Tensor):
        raise _not_tensor(op, "y", y)
    if x is not None and dx is not None:
        raise InvalidValueError(f"{op}(): pass either x or dx, not both")
    d = _dim(y, dim)
    if y.ndim == 0:  # PyTorch's IndexError: there is no dim to integrate along
        raise IndexOutOfRangeError(
            f"{op}(): Dimension specified as {dim} but tensor has no dimensions"
        )
    n = y.shape[d]
    dtype = y.dtype if y.dtype.is_floating_point else _core._default_dtype()
    if x is not None and not isinstance(x, Tensor):
        dx, x = x, None  # trapz(y, dx) by position (PyTorch's overload)
    if isinstance(x, Tensor):
        dtype = _result_dtype(y, x)
        dtype = dtype if dtype.is_floating_point else _core._default_dtype()
    yf = y.to(dtype)
    lo, hi = yf.narrow(d, 0, max(n - 1, 0)), yf.narrow(d, min(1, n), max(n - 1, 0))
    mid = (lo + hi) * 0.5
    if x is None:
        return mid, 1.0 if dx is None else dx, d
    xf = x.to(dtype)
    if xf.ndim == 1:
        if xf.shape[0] != n:
            raise ShapeError(
                f"{op}: There must be one `x` value for each sample point, got {xf.shape[0]} "
                f"x values for {n} samples"
            )
        spacing = xf[1:] - xf[:-1] if n > 1 else xf[:0]
        spacing = spacing.reshape([-1 if i == d else 1 for i in range(y.ndim)])
    else:
        dxd = _dim(xf, dim)
        k = xf.shape[dxd]
        spacing = xf.narrow(dxd, min(1, k), max(k - 1, 0)) - xf.narrow(dxd, 0, max(k - 1, 0))
    return mid, spacing, d


def trapezoid(
    y: Tensor, x: Optional[Tensor] = None, *, dx: Optional[_Number] = None, dim: int = -1
) -> Tensor:
    """The trapezoid-rule integral of ``y`` along ``dim``, with sample points ``x`` or
    spacing ``dx`` (default 1); differentiable."""
    mid, spacing, d = _trapezoid_parts("trapezoid", y, x, dx, dim)
    return (mid * spacing).sum(d)


def trapz(
    y: Tensor, x: Optional[Tensor] = None, *, dx: Optional[_Number] = None, dim: int = -1
) -> Tensor:
    """Alias of ``trapezoid``."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(
    y: Tensor, x: Optional[Tensor] = None, *, dx: Optional[_Number] = None, dim: int = -1
) -> Tensor:
    """The running trapezoid-rule integral of ``y`` along ``dim`` (one element fewer)."""
    mid, spacing, d = _trapezoid_parts("cumulative_trapezoid", y, x, dx, dim)
    return (mid * spacing).cumsum(d)


# ---- registration ----------------------------------------------------------------------------

_OUT_OF_PLACE = (
    hsplit,
    vsplit,
    dsplit,
    rot90,
    diag_embed,
    diagflat,
    kron,
    inner,
    vdot,
    addbmm,
    baddbmm,
    addmv,
    addr,
    narrow_copy,
    take,
    argwhere,
    aminmax,
)
_IN_PLACE = (addbmm, baddbmm, addmv, addr)

#: name -> function(tensor, ...), installed as ``Tensor`` methods by ``_tensor_extra._install``.
METHODS: dict[str, Callable[..., Any]] = {f.__name__: f for f in _OUT_OF_PLACE}
METHODS.update({f"{f.__name__}_": _inplace_of(f) for f in _IN_PLACE})

__all__ = [
    "addbmm",
    "addmv",
    "addr",
    "aminmax",
    "argwhere",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "baddbmm",
    "block_diag",
    "cartesian_prod",
    "chain_matmul",
    "column_stack",
    "combinations",
    "cumulative_trapezoid",
    "diag_embed",
    "diagflat",
    "dsplit",
    "dstack",
    "hsplit",
    "hstack",
    "inner",
    "kron",
    "narrow_copy",
    "rot90",
    "row_stack",
    "select",
    "take",
    "trapezoid",
    "trapz",
    "tril_indices",
    "triu_indices",
    "unravel_index",
    "vander",
    "vdot",
    "vsplit",
    "vstack",
]
