"""PyTorch's remaining indexing and scatter ops, written in Python over the engine's
differentiable ops: ``index_put``/``index_put_``, ``masked_scatter``/``masked_scatter_``,
``put``/``put_``, ``scatter_reduce``/``scatter_reduce_``, ``select_scatter``,
``slice_scatter``, ``diagonal_scatter`` and
``ndimension``; ``METHODS`` is merged into ``_tensor_extra.METHODS`` (so installed on ``Tensor``)
and the free functions are also ``dm.index_put``, ``dm.masked_scatter``, ...

Which element goes where is worked out on the host with NumPy: the flat positions an index
addresses (NumPy's advanced indexing of ``arange(numel)`` follows PyTorch's rules), the winners
of ``amax``/``amin``. The values then move through engine ops (``index_select``,
``scatter_add``, ``where``, ``cat``), so gradients flow to the tensor written into and to the
values written, as in PyTorch. Bad indices raise ``IndexOutOfRangeError``, index tensors of
the wrong dtype and mismatched value dtypes ``DTypeError``, shapes that do not fit
``ShapeError``, bad options ``InvalidValueError``."""

from __future__ import annotations

import builtins
import warnings
from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

import numpy as np

from . import _core
from ._core import Tensor
from ._tensor_extra import (
    _dim,
    _flat_positions,
    _host,
    _index,
    _inplace_source,
    _takes_tensor,
    broadcast_shapes,
)
from ._tensor_more import _as_1d, _flat_targets, _narrow_to, _scatter_targets, scatter
from .errors import (
    ArgumentTypeError,
    DTypeError,
    IndexOutOfRangeError,
    IndexTypeError,
    InvalidValueError,
    ShapeError,
)

_INDEX_DTYPES = (_core.int64, _core.int32)

# ---- helpers ---------------------------------------------------------------------------------


def _positions(x: Tensor) -> np.ndarray:
    """The flat position of each element of ``x``, shaped like ``x``."""
    return np.arange(x.numel(), dtype=np.int64).reshape(tuple(x.shape))


def _reshaped(t: Tensor, shape: Sequence[int]) -> Tensor:
    return t.reshape(tuple(shape)) if len(shape) else t.reshape(())


def _write(x: Tensor, pos: np.ndarray, values: Tensor, accumulate: bool = False) -> Tensor:
    """A copy of ``x`` with ``values`` (a 1-D tensor) written at the flat positions ``pos``
    (added there with ``accumulate``; else, for a repeated position, the last value wins)."""
    pos = pos.reshape(-1)
    if pos.size == 0:
        return x.clone()
    flat = x.reshape(-1)
    if accumulate:
        out = flat.scatter_add(0, _index(pos, x), values)
    else:
        # The engine's index_put (as ``t[idx] = v``): its backward gives each of a repeated
        # position's values that position's gradient, as PyTorch does.
        out = flat.clone()
        out[_index(pos, x)] = values
    return _reshaped(out, tuple(x.shape))


def _tensor_arg(v: Any, op: str, name: str) -> Tensor:
    if not isinstance(v, Tensor):
        raise ArgumentTypeError(f"{op}(): argument '{name}' must be Tensor, not {type(v).__name__}")
    return v


def _same_dtype(x: Tensor, v: Tensor, op: str, name: str) -> None:
    if v.dtype != x.dtype:
        raise DTypeError(
            f"{op}(): expected self and {name} to have the same dtype, got {x.dtype} and {v.dtype}"
        )


def _inplace(fn: Callable[..., Tensor], name: str) -> Callable[..., Tensor]:
    """The in-place form of ``fn``: the result (which must keep the tensor's shape) is
    written into the tensor, which is returned."""

    def method(x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        src, args = _inplace_source(x, args, kwargs)  # (the graph must not save `x`)
        out = fn(src, *args, **kwargs)
        if tuple(out.shape) != tuple(x.shape):
            raise ShapeError(
                f"{name}(): the result of shape {tuple(out.shape)} does not fit the tensor of "
                f"shape {tuple(x.shape)}"
            )
        x.copy_(out)
        return x

    import inspect

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"In-place ``{fn.__name__}``: writes the result into this tensor."
    method.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    return method


# ---- index_put, put, masked_scatter ----------------------------------------------------------


@_takes_tensor
def index_put(
    input: Tensor,
    indices: Union[tuple[Tensor, ...], list[Tensor]],
    values: Tensor,
    accumulate: bool = False,
) -> Tensor:
    """A copy of ``input`` with ``values`` (broadcast to the indexed shape) written at
    ``input[indices]``, the tuple of index tensors (integer, negative from the end, or bool
    masks) of advanced indexing; ``accumulate=True`` adds them (repeated indices add up), else
    a repeated index keeps the last value. Differentiable in ``input`` and ``values``."""
    if not isinstance(indices, (tuple, list)):
        raise ArgumentTypeError(
            f"index_put(): argument 'indices' must be a tuple of Tensors, not "
            f"{type(indices).__name__}"
        )
    keys = []
    for k, t in enumerate(indices):
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(
                f"index_put(): expected Tensor as element {k} of indices, got {t!r}"
            )
        if t.dtype == _core.uint8:  # PyTorch's legacy byte mask, with its warning
            warnings.warn(
                "indexing with dtype uint8 is now deprecated, please use a dtype bool instead.",
                UserWarning,
                stacklevel=2,
            )
            t = t != 0
        if t.dtype not in (*_INDEX_DTYPES, _core.bool):
            # (an IndexError, as PyTorch's, and a TypeError, as the indexing ``t[f] = v`` raises)
            raise IndexTypeError(
                f"index_put(): tensors used as indices must be long, int, byte or bool tensors, "
                f"got {t.dtype}"
            )
        # (A copy: the backward must see the index as it is now, whatever later writes into
        # ``t`` do.)
        keys.append(np.array(_host(t)))
    values = _tensor_arg(values, "index_put", "values")
    if values.ndim == 0 and values.device != input.device:
        values = values.to(input.device)  # (a 0-d value is a number: any device, as PyTorch)
    _same_dtype(input, values, "index_put", "values")
    used = builtins.sum(k.ndim if k.dtype == np.bool_ else 1 for k in keys)
    if used > input.ndim and not (input.ndim == 0 and used == 1 and keys[0].dtype == np.bool_):
        raise IndexOutOfRangeError(
            f"index_put(): too many indices for tensor of dimension {input.ndim} (got {used})"
        )
    if keys and input.ndim > 0:
        # The engine's index_put: a bool mask is its nonzero positions, one index per dim.
        ints = [i for k in keys for i in (np.nonzero(k) if k.dtype == np.bool_ else (k,))]
        return _index_put_engine(input, ints, values, accumulate)
    try:
        pos = _positions(input)[tuple(keys)]
    except IndexError as e:
        raise IndexOutOfRangeError(f"index_put(): {e}") from None
    shape = tuple(pos.shape)
    if broadcast_shapes(shape, values.shape) != shape:
        raise ShapeError(
            f"index_put(): shape mismatch: value tensor of shape {tuple(values.shape)} cannot be "
            f"broadcast to indexing result of shape {shape}"
        )
    if tuple(values.shape) != shape:
        values = values.expand(shape)
    return _write(input, pos, values.reshape(-1), accumulate)


def _index_put_engine(
    input: Tensor, keys: list[np.ndarray], values: Tensor, accumulate: bool
) -> Tensor:
    """``index_put`` by integer ``keys`` of the leading dims, checked here and run by the
    engine: no flat position per indexed element (an accumulating put of 20000 rows of 1000
    built 20M positions and scattered them one by one)."""
    try:
        shape = (*np.broadcast_shapes(*(k.shape for k in keys)), *input.shape[len(keys) :])
    except ValueError:
        raise IndexOutOfRangeError(
            "index_put(): shape mismatch: indexing tensors could not be broadcast together "
            f"with shapes {[tuple(k.shape) for k in keys]}"
        ) from None
    for d, k in enumerate(keys):
        n = input.shape[d]
        lo, hi = (int(k.min()), int(k.max())) if k.size else (-n, n - 1)
        if lo < -n or hi >= n:
            bad = lo if lo < -n else hi
            raise IndexOutOfRangeError(
                f"index_put(): index {bad} is out of bounds for dimension {d} with size {n}"
            )
    if broadcast_shapes(shape, values.shape) != shape:
        raise ShapeError(
            f"index_put(): shape mismatch: value tensor of shape {tuple(values.shape)} cannot be "
            f"broadcast to indexing result of shape {shape}"
        )
    return input._index_put([_index(k, input) for k in keys], values, accumulate)


@_takes_tensor
def put(input: Tensor, index: Tensor, source: Tensor, accumulate: bool = False) -> Tensor:
    """A copy of ``input`` with the elements of ``source`` written at the positions ``index``
    of the flattened tensor (negative from the end; ``index`` and ``source`` of any shapes with
    as many elements); ``accumulate=True`` adds them instead. Differentiable in ``input`` and
    ``source``."""
    index = _tensor_arg(index, "put", "index")
    source = _tensor_arg(source, "put", "source")
    if index.dtype not in _INDEX_DTYPES:
        raise DTypeError(f"put(): Expected a long tensor for index, but got {index.dtype}")
    _same_dtype(input, source, "put", "source")
    if index.numel() != source.numel():
        raise ShapeError(
            f"put(): Expected source and index to have the same number of elements, but got "
            f"source.numel() = {source.numel()}, index.numel() = {index.numel()}"
        )
    n = input.numel()
    idx = _flat_positions(index, n, prefix="put(): ")
    return _write(input, idx % n if n else idx, source.reshape(-1), accumulate)


@_takes_tensor
def masked_scatter(input: Tensor, mask: Tensor, source: Tensor) -> Tensor:
    """A copy of ``input`` (broadcast with the bool ``mask``) whose elements where ``mask`` is
    true are replaced, in row-major order, by the first elements of ``source``.
    Differentiable in ``input`` and ``source``."""
    mask = _tensor_arg(mask, "masked_scatter", "mask")
    source = _tensor_arg(source, "masked_scatter", "source")
    if mask.dtype != _core.bool:
        raise DTypeError(
            f"masked_scatter_ only supports boolean masks, but got mask with dtype {mask.dtype}"
        )
    _same_dtype(input, source, "masked_scatter", "source")
    shape = broadcast_shapes(input.shape, mask.shape)
    x = input if tuple(input.shape) == shape else input.expand(shape)
    m = np.broadcast_to(np.asarray(_host(mask), dtype=bool), shape).reshape(-1)
    count = int(m.sum())
    if source.numel() < count:
        raise ShapeError(
            f"masked_scatter: number of elements of source ({source.numel()}) < number of ones "
            f"in mask ({count})"
        )
    if count == 0 and source.numel() == 0:
        return x.clone()
    # (With no true element the source's first value stands everywhere, unpicked: its
    # gradient is zeros, as PyTorch's, not None.)
    pick = np.zeros(m.size, dtype=np.int64)
    pick[m] = np.arange(count)
    filled = _reshaped(source.reshape(-1).index_select(0, _index(pick, x)), shape)
    # (1-D to the engine, then reshaped: np.ascontiguousarray makes a 0-d mask 1-D)
    mask_t = _reshaped(_core.from_numpy(np.ascontiguousarray(m)).to(x.device), shape)
    return _core.where(mask_t, filled, x)


# ---- scatter_reduce --------------------------------------------------------------------------

_REDUCES = ("sum", "prod", "mean", "amax", "amin")


def _host_reduce(
    xv: np.ndarray, flat: np.ndarray, sv: np.ndarray, reduce: str, include_self: bool
) -> np.ndarray:
    """``scatter_reduce`` of integer (or bool) values, on the host (no gradient to keep)."""
    hit = np.zeros(xv.size, dtype=bool)
    hit[flat] = True
    ident: dict[str, Any] = {"sum": 0, "mean": 0, "prod": 1}
    if reduce in ident:
        r = xv.copy() if include_self else np.where(hit, ident[reduce], xv).astype(xv.dtype)
    else:
        info = np.iinfo(xv.dtype) if xv.dtype != np.bool_ else None
        edge = (info.min if reduce == "amax" else info.max) if info else reduce == "amin"
        r = xv.copy() if include_self else np.where(hit, edge, xv).astype(xv.dtype)
    op = {"sum": np.add, "mean": np.add, "prod": np.multiply, "amax": np.maximum}
    op.setdefault("amin", np.minimum)
    op[reduce].at(r, flat, sv)
    if reduce == "mean":
        cnt = np.bincount(flat, minlength=xv.size) + (1 if include_self else 0)
        r = np.where(hit, np.floor_divide(r, np.maximum(cnt, 1)), r).astype(xv.dtype)
    return r


@_takes_tensor
def scatter_reduce(
    input: Tensor,
    dim: int,
    index: Tensor,
    src: Tensor,
    reduce: str,
    *,
    include_self: bool = True,
) -> Tensor:
    """A copy of ``input`` in which the elements of ``src`` are reduced into the positions
    ``index`` names along ``dim`` (``out[index[i][j]][j]`` for ``dim=0``), with ``reduce`` one
    of ``"sum"``, ``"prod"``, ``"mean"``, ``"amax"``, ``"amin"``; with ``include_self=False``
    the present values of the positions written to take no part. Integer ``"mean"`` rounds
    down. Differentiable in ``input`` and ``src`` for floating-point tensors (``amax``/``amin``
    share the gradient evenly among ties, as PyTorch)."""
    if reduce not in _REDUCES:
        raise InvalidValueError(
            f"scatter_reduce(): reduce argument must be either sum, prod, mean, amax or amin, "
            f"got {reduce!r}"
        )
    index = _tensor_arg(index, "scatter_reduce", "index")
    src = _tensor_arg(src, "scatter_reduce", "src")
    if index.dtype not in _INDEX_DTYPES:
        raise DTypeError(f"scatter_reduce(): Expected dtype int64 for index, got {index.dtype}")
    _same_dtype(input, src, "scatter_reduce", "src")
    d = _dim(input, dim)
    x1, index1, src1 = _as_1d(input, index, src)
    if index1.numel():
        iv = np.asarray(_host(index1))
        n = x1.shape[d]
        if iv.min() < 0 or iv.max() >= n:
            bad = int(iv[(iv < 0) | (iv >= n)].reshape(-1)[0])
            raise IndexOutOfRangeError(
                f"scatter_reduce(): index {bad} is out of bounds for dimension {d} with size {n}"
            )
    idx = _scatter_targets(x1, d, index1, src1, "scatter_reduce")
    flat = _flat_targets(x1, d, idx)

    def shaped(t: Tensor) -> Tensor:
        return _reshaped(t, tuple(input.shape))

    if idx.size == 0:
        return input.clone()
    part = _narrow_to(src1, idx.shape).reshape(-1)
    if not input.dtype.is_floating_point:
        r = _host_reduce(
            np.asarray(_host(x1)).reshape(-1), flat, np.asarray(_host(part)), reduce, include_self
        )
        out = _core.from_numpy(np.ascontiguousarray(r)).to(input.dtype).to(input.device)
        return shaped(out)
    numel = x1.numel()
    hit = np.zeros(numel, dtype=bool)
    hit[flat] = True
    hit_t = _core.from_numpy(hit).to(input.device)
    xf = x1.reshape(-1)
    if reduce == "prod":
        base = xf if include_self else _core.where(hit_t, 1.0, xf)
        return shaped(scatter(_reshaped(base, x1.shape), d, index1, src1, reduce="multiply"))
    if reduce in ("sum", "mean"):
        base = xf if include_self else _core.where(hit_t, 0.0, xf)
        total = base.scatter_add(0, _index(flat, input), part)
        if reduce == "sum":
            return shaped(total)
        cnt = np.bincount(flat, minlength=numel) + (1 if include_self else 0)
        div = _core.from_numpy(np.maximum(cnt, 1).astype(np.float64)).to(input.dtype)
        return shaped(total / div.to(input.device))
    # amax / amin: the winning value of each position on the host, then the gradient shared
    # evenly among the elements (of src, and input with include_self) that equal it.
    xv = np.asarray(_host(xf), dtype=np.float64)
    sv = np.asarray(_host(part), dtype=np.float64)
    edge = -np.inf if reduce == "amax" else np.inf
    r = xv.copy() if include_self else np.where(hit, edge, xv)
    (np.maximum if reduce == "amax" else np.minimum).at(r, flat, sv)
    rs = r[flat]
    tie_src = (sv == rs) | (np.isnan(sv) & np.isnan(rs))
    tie_self = hit & include_self & ((xv == r) | (np.isnan(xv) & np.isnan(r)))
    k = np.bincount(flat, weights=tie_src.astype(np.float64), minlength=numel) + tie_self
    w_src = np.where(tie_src, 1.0 / np.maximum(k[flat], 1.0), 0.0)
    w_self = np.where(hit, np.where(tie_self, 1.0 / np.maximum(k, 1.0), 0.0), 1.0)

    def tensor(a: np.ndarray, dtype: Any) -> Tensor:
        return _core.from_numpy(np.ascontiguousarray(a)).to(dtype).to(input.device)

    ws, wx = tensor(w_src, input.dtype), tensor(w_self, input.dtype)
    # Summed from -0.0, the identity that keeps a winning -0.0 (+0.0 would flip it).
    zero = _core.full((numel,), -0.0, dtype=input.dtype, device=input.device)
    from_src = zero.scatter_add(0, _index(flat, input), _core.where(ws > 0, part * ws, -0.0))
    from_self = _core.where(wx > 0, xf * wx, -0.0)
    return shaped(from_self + from_src)


# ---- select/slice/diagonal scatter -----------------------------------------------------------


def _embed(x: Tensor, pos: np.ndarray, src: Tensor, op: str, what: str) -> Tensor:
    """``x`` with ``src`` (of ``pos``'s shape, cast to ``x``'s dtype) at the positions
    ``pos``."""
    src = _tensor_arg(src, op, "src")
    if tuple(src.shape) != tuple(pos.shape):
        raise ShapeError(
            f"{op}(): expected src to have a size equal to the {what} of self. src size = "
            f"{list(src.shape)}, {what} size = {list(pos.shape)}"
        )
    if src.dtype != x.dtype:
        src = src.to(x.dtype)
    return _write(x, pos, src.reshape(-1))


def _not_0d(x: Tensor, op: str) -> None:
    if x.ndim == 0:
        raise IndexOutOfRangeError(f"{op}() cannot be applied to a 0-dim tensor")


@_takes_tensor
def select_scatter(input: Tensor, src: Tensor, dim: int, index: int) -> Tensor:
    """A copy of ``input`` with ``input.select(dim, index)`` replaced by ``src`` (of that
    shape). Differentiable in ``input`` and ``src``."""
    _not_0d(input, "select_scatter")
    d = _dim(input, dim)
    n = input.shape[d]
    if not -n <= index < n:
        raise IndexOutOfRangeError(
            f"select_scatter(): index {index} out of range for tensor of size "
            f"{list(input.shape)} at dimension {d}"
        )
    pos = np.take(_positions(input), index % n, axis=d)
    return _embed(input, pos, src, "select_scatter", "slice")


@_takes_tensor
def slice_scatter(
    input: Tensor,
    src: Tensor,
    dim: int = 0,
    start: Optional[int] = None,
    end: Optional[int] = None,
    step: int = 1,
) -> Tensor:
    """A copy of ``input`` with the slice ``start:end:step`` of dim ``dim`` replaced by
    ``src`` (of that slice's shape; bounds clamp as in slicing). Differentiable in ``input``
    and ``src``."""
    _not_0d(input, "slice_scatter")
    if step <= 0:
        raise InvalidValueError(f"slice_scatter(): slice step must be positive, got {step}")
    d = _dim(input, dim)
    pos = _positions(input)[(slice(None),) * d + (slice(start, end, step),)]
    return _embed(input, pos, src, "slice_scatter", "slice")


@_takes_tensor
def diagonal_scatter(
    input: Tensor, src: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1
) -> Tensor:
    """A copy of ``input`` with ``input.diagonal(offset, dim1, dim2)`` replaced by ``src`` (of
    that shape: the other dims, then the diagonal). Differentiable in ``input`` and ``src``."""
    if input.ndim < 2:
        raise ShapeError(f"diagonal_scatter(): needs at least 2 dims, got {input.ndim}")
    d1, d2 = _dim(input, dim1), _dim(input, dim2)
    if d1 == d2:
        raise InvalidValueError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    pos = np.diagonal(_positions(input), offset, d1, d2)
    return _embed(input, pos, src, "diagonal_scatter", "diagonal")


# ---- unfold, ndimension ----------------------------------------------------------------------


@_takes_tensor
def ndimension(input: Tensor) -> int:
    """The number of dims (``dim()``)."""
    return input.ndim


index_put_ = _inplace(index_put, "index_put_")
put_ = _inplace(put, "put_")
masked_scatter_ = _inplace(masked_scatter, "masked_scatter_")
scatter_reduce_ = _inplace(scatter_reduce, "scatter_reduce_")

_AS_METHODS = (
    index_put,
    index_put_,
    put,
    put_,
    masked_scatter,
    masked_scatter_,
    scatter_reduce,
    scatter_reduce_,
    select_scatter,
    slice_scatter,
    diagonal_scatter,
    ndimension,
)
#: name -> function(tensor, ...), merged into ``_tensor_extra.METHODS``.
METHODS: dict[str, Callable[..., Any]] = {f.__name__: f for f in _AS_METHODS}
