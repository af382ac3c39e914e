"""Tensor methods written in Python on top of the engine's differentiable ops: PyTorch names
users bring along (``sort``, ``topk``, ``norm``, ``cumsum``, ``flip``, ``repeat``, ``triu``,
``new_zeros``, in-place ``exp_`` ...), installed as methods of the extension's ``Tensor`` type
(``_install``, at import) and typed in ``_core.pyi``; the free functions among them are also
``dm.sort``, ``dm.norm``, ... Gradients flow through the engine ops they are made of (gather,
index_select, cat, narrow, expand, where, ...); index computations (sort orders) use NumPy."""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import numbers
import operator
import warnings
from collections.abc import Iterator, Sequence
from typing import Any, Callable, NamedTuple, Optional, TypeVar, Union

import numpy as np

from . import _core
from ._core import Tensor
from ._int_args import int_tuple
from ._memory_format import contiguous_format
from .errors import (
    ArgumentTypeError,
    DTypeError,
    IndexOutOfRangeError,
    InvalidValueError,
    OutOfMemoryError,
    ShapeError,
)

_Size = Union[int, Sequence[int]]


class SortResult(NamedTuple):
    """``(values, indices)`` of ``sort``."""

    values: Tensor
    indices: Tensor


class TopkResult(NamedTuple):
    """``(values, indices)`` of ``topk``."""

    values: Tensor
    indices: Tensor


class KthvalueResult(NamedTuple):
    """``(values, indices)`` of ``kthvalue``."""

    values: Tensor
    indices: Tensor


_F = TypeVar("_F", bound=Callable[..., Any])


def _takes_tensor(fn: _F) -> _F:
    """``dm.tril(5)`` raises PyTorch's ``TypeError`` naming the argument, instead of an
    ``AttributeError`` from deep inside the function. The first argument is checked whether
    it is passed by position or by name (a parameter called ``x`` is shown as ``input``)."""
    params = inspect.signature(fn).parameters
    first = next(iter(params))
    shown = "input" if first == "x" else first
    # PyTorch's argument parser also takes ``input=`` for the first argument and NumPy's
    # ``axis=``/``keepdims=`` for ``dim=``/``keepdim=``; map them to this function's names.
    aliases = {
        alias: name
        for alias, name in (("input", first), ("axis", "dim"), ("keepdims", "keepdim"))
        if name in params and alias not in params and alias != name
    }

    @functools.wraps(fn)
    def checked(*args: Any, **kwargs: Any) -> Any:
        for alias, name in aliases.items() if kwargs else ():
            if alias in kwargs:
                if name in kwargs or (name == first and args):
                    raise ArgumentTypeError(
                        f"{fn.__name__}() got multiple values for argument '{alias}'"
                    )
                kwargs[name] = kwargs.pop(alias)
        x = args[0] if args else kwargs.get(first, Tensor)
        if not isinstance(x, Tensor) and x is not Tensor:  # (Tensor: not given, fn says so)
            raise ArgumentTypeError(
                f"{fn.__name__}(): argument '{shown}' (position 1) must be Tensor, not "
                f"{type(x).__name__}"
            )
        return fn(*args, **kwargs)

    return checked  # type: ignore[return-value]


def _not_tensor(op: str, arg: str, value: object) -> ArgumentTypeError:
    """PyTorch's ``TypeError`` for a non-tensor ``arg`` of ``op``: the ops here check their
    tensor arguments first, so that no ``AttributeError`` comes from inside them."""
    return ArgumentTypeError(f"{op}(): argument '{arg}' must be Tensor, not {type(value).__name__}")


# ---- autocast policies of PyTorch's CPU lists (for the ops written here in Python) -------------

#: The dtypes autocast casts (float64 is not eligible, as in PyTorch: it stays float64).
_AUTOCAST_ELIGIBLE = (_core.float16, _core.bfloat16, _core.float32)


def _autocast_fp32(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` as PyTorch's autocast runs the ops on its float32 list
    (``cdist``, ``grid_sampler``, ...): float16/bfloat16 tensor arguments widened to float32
    and autocast off inside, so the op's own arithmetic is not cast back down. Callers check
    ``_core._get_autocast()`` first: outside a region nothing changes."""
    half = (_core.float16, _core.bfloat16)

    def widen(a: Any) -> Any:
        return a.float() if isinstance(a, Tensor) and a.dtype in half else a

    with _autocast_disabled():
        return fn(*map(widen, args), **{k: widen(v) for k, v in kwargs.items()})


@contextlib.contextmanager
def _autocast_disabled() -> Iterator[None]:
    """Autocast off inside (restored after): for ops PyTorch runs in their inputs' dtype or
    in float32 though written here with autocast-listed ops (matmuls)."""
    prev = _core._set_autocast(None)
    try:
        yield
    finally:
        _core._set_autocast(prev)


def _autocast_promote(*ts: Tensor) -> tuple[Tensor, ...]:
    """The tensors of an op on PyTorch's autocast promote list (``cat``, ``stack``,
    ``index_copy``) under autocast: float16/bfloat16/float32 operands of different dtypes
    cast to the widest (float32, as any two of them promote there); float64 and integer
    operands are left alone, as PyTorch's ``promote_type`` leaves them."""
    eligible = {t.dtype for t in ts if t.dtype in _AUTOCAST_ELIGIBLE}
    if len(eligible) < 2 or _core._get_autocast() is None:
        return ts
    return tuple(t.float() if t.dtype in _AUTOCAST_ELIGIBLE else t for t in ts)


def _dim(x: Tensor, dim: int) -> int:
    """``dim`` wrapped into ``[0, ndim)`` (a 0-d tensor takes 0 and -1, as PyTorch's); out of
    range is the engine's ``IndexOutOfRangeError``, an ``IndexError`` as PyTorch's."""
    n = max(x.ndim, 1)
    if not -n <= dim < n:
        raise IndexOutOfRangeError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})"
        )
    return dim % n


def _sizes(size: tuple[Any, ...]) -> tuple[int, ...]:
    """``f(2, 3)`` and ``f((2, 3))`` alike."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(int(s) for s in size[0])
    return tuple(int(s) for s in size)


def _host(x: Tensor) -> np.ndarray:
    """The values as a NumPy array (half types widened), for index computations."""
    t = x.detach().cpu()
    if t.dtype in (_core.bfloat16, _core.float16):
        t = t.float()
    return t.numpy()


def _from_host(a: Any, dtype: Any, device: Any) -> Tensor:
    """A NumPy result as a tensor of ``dtype`` on ``device``, of its own (not a view, so an
    op's output computed on the host takes in-place changes as any output; 0-d stays 0-d)."""
    arr = np.asarray(a)
    if arr.ndim:
        t = _core.from_numpy(np.ascontiguousarray(arr))
    else:  # (``ascontiguousarray`` makes a 0-d array 1-d)
        t = _core.from_numpy(arr.reshape(1)).reshape(()).clone()
    return t.to(dtype).to(device)


def _flat_positions(index: Tensor, n: int, prefix: str = "", end: str = "") -> np.ndarray:
    """``index`` as int64 host positions into a flattened tensor of ``n`` elements, checked to
    lie in ``[-n, n)`` as ``take`` and ``put`` require (PyTorch words their errors alike but
    for a ``prefix`` and an ``end``)."""
    idx = np.asarray(_host(index), dtype=np.int64).reshape(-1)
    bad = idx[(idx < -n) | (idx >= n)]
    if bad.size:
        raise IndexOutOfRangeError(
            f"{prefix}out of range: tried to access index {int(bad[0])} on a tensor of {n} "
            f"elements{end}"
        )
    return idx


def _index(a: np.ndarray, like: Tensor) -> Tensor:
    return _core.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).to(like.device)


# ---- tests of values -----------------------------------------------------------------------


def _float_test(x: Tensor, test: Callable[[Tensor], Tensor], otherwise: bool = False) -> Tensor:
    """``test(x)`` for a floating-point ``x``, the one kind that holds nan and inf; for integer
    and bool tensors the value tests (``isnan``, ``isinf``, ...) answer ``otherwise`` everywhere."""
    if not x.dtype.is_floating_point:
        fill = _core.ones if otherwise else _core.zeros
        return fill(x.shape, dtype=_core.bool, device=x.device)
    return test(x)


@_takes_tensor
def isnan(x: Tensor) -> Tensor:
    return _float_test(x, lambda t: t != t)


@_takes_tensor
def isinf(x: Tensor) -> Tensor:
    return _float_test(x, lambda t: t.abs() == math.inf)


@_takes_tensor
def isfinite(x: Tensor) -> Tensor:
    # inf - inf and nan - nan are nan
    return _float_test(x, lambda t: (t - t) == 0, otherwise=True)


@_takes_tensor
def equal(x: Tensor, other: Tensor) -> bool:
    """Same shape and the same values."""
    return tuple(x.shape) == tuple(other.shape) and bool((x == other).all())


def _check_close(op: str, x: Tensor, other: Tensor, rtol: float, atol: float) -> None:
    """PyTorch's checks in ``isclose``/``allclose``: one dtype for both (no promotion, so
    ``int64`` against ``float32`` raises), non-negative tolerances, broadcastable shapes."""
    if isinstance(other, Tensor) and other.dtype != x.dtype:
        raise DTypeError(f"{op}: {x.dtype} did not match {other.dtype}")
    if not rtol >= 0:
        raise InvalidValueError(f"rtol must be greater than or equal to zero, but got {rtol}")
    if not atol >= 0:
        raise InvalidValueError(f"atol must be greater than or equal to zero, but got {atol}")
    broadcast_shapes(x.shape, other.shape)


@_takes_tensor
def isclose(
    x: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> Tensor:
    _check_close("isclose", x, other, rtol, atol)
    a, b = _host(x), _host(other)
    return _core.from_numpy(
        np.asarray(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))
    ).to(x.device)


@_takes_tensor
def allclose(
    x: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
) -> bool:
    _check_close("allclose", x, other, rtol, atol)
    return bool(np.allclose(_host(x), _host(other), rtol=rtol, atol=atol, equal_nan=equal_nan))


# ---- ordering ------------------------------------------------------------------------------


@_takes_tensor
def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> SortResult:
    """Sorted values (differentiable: a gather) and their indices; ties keep their order."""
    del stable  # always stable
    d = _dim(x, dim)
    if x.ndim == 0:  # (a copy, as PyTorch's: never the input itself)
        return SortResult(x.clone(), _core.zeros((), dtype=_core.int64, device=x.device))
    a = _host(x)
    if descending and a.dtype.kind == "f":
        # NaN counts as the largest value, as in PyTorch: first when descending (NumPy's
        # argsort of -a would put it last). NaN first, then the values by -a, ties stable;
        # without NaN (the usual case) one stable argsort of -a does it, several times faster.
        nan = np.isnan(a)
        if nan.any():
            order = np.lexsort((np.where(nan, 0, -a), ~nan), axis=d)
        else:
            order = np.argsort(-a, axis=d, kind="stable")
    elif descending:
        # Bitwise not (-a - 1) reverses the order without the overflow of -a at the dtype's
        # minimum; booleans and unsigned integers go through int64 first.
        key = ~(a.astype(np.int64) if a.dtype.kind in "bu" else a)
        order = np.argsort(key, axis=d, kind="stable")
    else:
        order = np.argsort(a, axis=d, kind="stable")
    idx = _index(order, x)
    return SortResult(x.gather(d, idx), idx)


@_takes_tensor
def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    return sort(x, dim, descending, stable).indices


_FULL_SORT_BELOW = 2048  # tensors up to this size ``topk``/``kthvalue`` sort in full


def _order_key(a: np.ndarray, descending: bool) -> np.ndarray:
    """Keys whose ascending stable order is ``sort``'s order of ``a``. Floats with a NaN become
    integers, so that NaN (of either sign) is one value larger than all others (first when
    descending, as in PyTorch) and ``-0.0`` still ties with ``0.0``; descending integers are a
    bitwise not (no overflow at the minimum)."""
    if a.dtype.kind == "f":
        nan = np.isnan(a)
        if not nan.any():
            return -a if descending else a
        bits = a.dtype.itemsize * 8
        canon = np.where(nan, np.asarray(np.nan, a.dtype), a + a.dtype.type(0))
        i = canon.view(np.dtype(f"int{bits}"))
        key = i ^ ((i >> (bits - 1)) & np.asarray((1 << (bits - 1)) - 1, i.dtype))
    elif a.dtype.kind in "bu":
        key = a.astype(np.int64)
    else:
        key = a
    return ~key if descending else key


def _rows(x: Tensor, d: int, descending: bool) -> tuple[np.ndarray, tuple[int, ...]]:
    """The order keys of ``x`` with ``d`` moved last, as ``(rows, n)``, and that moved shape."""
    key = np.moveaxis(_order_key(_host(x), descending), d, -1)
    return key.reshape(math.prod(key.shape[:-1]), key.shape[-1]), key.shape


def _kth_split(key: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``key``, the masks of the keys below and equal to the ``k``-th smallest, and
    how many of the equal ones a stable sort puts within the first ``k``."""
    thr = np.partition(key, k - 1, axis=1)[:, k - 1 : k]
    less, eq = key < thr, key == thr
    return less, eq, k - less.sum(axis=1, keepdims=True)


def _first_k(key: np.ndarray, k: int) -> np.ndarray:
    """Positions ``(rows, k)`` of the first ``k`` of each row in a stable ascending sort of
    ``key``, in that order: a partition and a sort of only the ``k`` selected (O(n + k log k)
    instead of a full sort)."""
    rows = key.shape[0]
    if k == 0:
        return np.empty((rows, 0), np.int64)
    pos = np.argpartition(key, k - 1, axis=1)[:, :k]
    sel = np.take_along_axis(key, pos, axis=1)
    thr = sel[:, k - 1 :]
    if not ((sel == thr).sum(axis=1) == (key == thr).sum(axis=1)).all():
        # Ties straddle the k-th place: they enter by position, as in the stable sort.
        less, eq, need = _kth_split(key, k)
        pos = np.nonzero(less | (eq & (np.cumsum(eq, axis=1) <= need)))[1].reshape(rows, k)
        sel = np.take_along_axis(key, pos, axis=1)
    order = np.lexsort((pos, sel), axis=1)  # by key, ties by position
    return np.take_along_axis(pos, order, axis=1)


def _unrow(pos: np.ndarray, shape: tuple[int, ...], d: int, like: Tensor) -> Tensor:
    """Row positions from ``_rows`` back in ``like``'s layout, as an index tensor."""
    return _index(np.moveaxis(pos.reshape(*shape[:-1], pos.shape[1]), -1, d), like)


@_takes_tensor
def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> TopkResult:
    """The ``k`` largest (or smallest) values along ``dim``, in order, and their indices: the
    first ``k`` of ``sort`` (ties by position, NaN largest), without sorting the rest."""
    del sorted  # always sorted
    d = _dim(x, dim)
    n = x.shape[d] if x.ndim else 1
    if not 0 <= k <= n:
        raise IndexOutOfRangeError(f"topk: k={k} is out of range for a dimension of size {n}")
    if x.ndim == 0:  # PyTorch returns a copy of the element (for k=0 too)
        return TopkResult(x.clone(), _core.zeros((), dtype=_core.int64, device=x.device))
    if x.numel() <= _FULL_SORT_BELOW:  # (a short sort costs less than the NumPy calls saved)
        s = sort(x, d, descending=largest)
        # (Contiguous, as PyTorch's results: a caller may ``view`` them.)
        return TopkResult(
            s.values.narrow(d, 0, k).contiguous(), s.indices.narrow(d, 0, k).contiguous()
        )
    key, shape = _rows(x, d, largest)
    idx = _unrow(_first_k(key, k), shape, d, x)
    return TopkResult(x.gather(d, idx), idx)


@_takes_tensor
def kthvalue(x: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> KthvalueResult:
    """The ``k``-th smallest value along ``dim`` (1-based; NaN counts as the largest) and its
    index, the ``k``-th of a stable ``sort`` (found by a partition); differentiable in the
    value (a gather)."""
    d = _dim(x, dim)
    n = x.shape[d] if x.ndim else 1
    if not 1 <= k <= n:
        raise IndexOutOfRangeError(
            f"kthvalue(): selected number k={k} out of range for dimension {d}"
        )
    if x.ndim == 0 or x.numel() <= _FULL_SORT_BELOW:
        s = sort(x, d)
        if x.ndim == 0:
            return KthvalueResult(s.values, s.indices)
        values = s.values.narrow(d, k - 1, 1).contiguous()
        idx = s.indices.narrow(d, k - 1, 1).contiguous()
        if not keepdim:
            values, idx = values.squeeze(d), idx.squeeze(d)
        return KthvalueResult(values, idx)
    key, shape = _rows(x, d, False)
    _, eq, need = _kth_split(key, k)
    if (eq.sum(axis=1) == 1).all():  # (no ties at the k-th value: the usual case)
        pos = np.argmax(eq, axis=1, keepdims=True)
    else:  # the need-th of the equal keys by position (argmax finds the first True)
        pos = np.argmax(np.cumsum(eq, axis=1) == need, axis=1, keepdims=True)
    idx = _unrow(pos, shape, d, x)
    values = x.gather(d, idx)
    if not keepdim:
        values, idx = values.squeeze(d), idx.squeeze(d)
    return KthvalueResult(values, idx)


# ---- reductions and scans ------------------------------------------------------------------


@_takes_tensor
def norm(
    x: Tensor,
    p: Union[float, str, None] = "fro",
    dim: Optional[_Size] = None,
    keepdim: bool = False,
    dtype: Any = None,
) -> Tensor:
    """Vector p-norm over ``dim`` (all elements by default); ``"fro"`` is the 2-norm.

    A differentiated finite p-norm of a float tensor goes through ``linalg.vector_norm``,
    whose backward is 0 where the norm is 0 (PyTorch's subgradient): the engine's
    ``sqrt``/``pow`` chain would give ``0 * inf = nan`` there."""
    if not x.dtype.is_floating_point:  # (even with ``dtype=``, as PyTorch's)
        raise DTypeError(f"norm: expected a floating point tensor as input, got {x.dtype}")
    if dtype is not None:
        _check_norm_dtype(x.dtype, dtype)
        x = x.to(dtype)
    if dim is None and keepdim and x.ndim:
        # PyTorch keeps every reduced dimension: ``norm(x, keepdim=True)`` is ``(1, 1)`` for a
        # matrix (the matrix p-norms over the last two dims when ``p`` is ``"nuc"``).
        dim = tuple(range(x.ndim)) if p != "nuc" else (-2, -1)
    kw: dict[str, Any] = {"keepdim": keepdim} if dim is not None else {}
    if dim is not None:
        kw["dim"] = dim
    if p in ("fro", None):
        p = 2
    if p == "nuc":
        # The sum of singular values over the last two dims (or ``dim``), as PyTorch's.
        from .linalg import matrix_norm

        return matrix_norm(x, "nuc", (-2, -1) if dim is None else dim, keepdim)
    finite = isinstance(p, (int, float)) and math.isfinite(p) and p != 0
    if finite and x.dtype in (_core.float16, _core.bfloat16):
        # PyTorch sums the powers in float32 and rounds once: squares of float16 overflow
        # past 256, and bfloat16 ones lose bits at every step.
        return norm(x.float(), p, dim, keepdim).to(x.dtype)
    # (p = 0 too: the count of non-zeros is differentiable there, its gradient zero.)
    differentiable = isinstance(p, (int, float)) and math.isfinite(p)
    if differentiable and x.requires_grad and _core.is_grad_enabled():
        from .linalg import vector_norm  # (lazy: linalg builds on the tensor methods)

        return vector_norm(x, float(p), dim, keepdim)  # type: ignore[arg-type]
    if p in (2, 2.0):
        if dim is None and x.dtype in (_core.float32, _core.float64):
            flat = x.reshape(-1)
            if _core._get_autocast() is None:
                return (flat @ flat).sqrt()  # a dot product: no squared temporary, 4x faster
            # Under autocast ``@`` would run in the low dtype; norm is a float32 op in PyTorch.
            return (flat * flat).sum().sqrt()
        return (x * x).sum(**kw).sqrt()
    a = x.abs()
    if p in (math.inf, "inf", -math.inf, "-inf"):
        largest = p in (math.inf, "inf")
        if x.dtype.is_floating_point and x.requires_grad and _core.is_grad_enabled():
            return _inf_norm(a, largest, kw)
        return a.amax(**kw) if largest else a.amin(**kw)
    if p == 0:
        return (x != 0).to(x.dtype).sum(**kw)
    if p == 1:
        return a.sum(**kw)
    pf = float(p)  # type: ignore[arg-type]
    return a.pow(pf).sum(**kw).pow(1.0 / pf)


def _check_norm_dtype(have: Any, want: Any, op: str = "linalg.vector_norm") -> None:
    """PyTorch's rule for a norm's ``dtype=`` (``norm``, ``linalg.vector_norm``,
    ``linalg.matrix_norm``): a floating dtype the input converts to without narrowing
    (float32 -> float64, bfloat16 -> float32; not float64 -> float32 nor bfloat16 ->
    float16)."""
    if not getattr(want, "is_floating_point", False):
        raise DTypeError(f"{op}: dtype should be floating point or complex, but got {want}")
    widens = want == _core.float64 or (
        want == _core.float32 and have in (_core.float16, _core.bfloat16)
    )
    if want != have and not widens:
        raise DTypeError(
            f"{op}: the dtype of the input ({have}) should be convertible without narrowing "
            f"to the specified dtype ({want})"
        )


def _inf_norm(a: Tensor, largest: bool, kw: dict[str, Any]) -> Tensor:
    """The largest (smallest) of ``a = |x|`` with PyTorch's gradient: shared by the ties, and
    0 in a slice with a NaN (its norm is NaN; ``amax`` alone would give NaN gradients)."""
    nan = a.isnan()
    clean = a.masked_fill(nan, -math.inf if largest else math.inf)
    clean = clean.amax(**kw) if largest else clean.amin(**kw)
    nan_out = _core.full((), math.nan, dtype=a.dtype, device=a.device)
    return _core.where(nan.sum(**kw) > 0, nan_out, clean)


def _pairwise(x: Tensor, d: int, op: Callable[[Tensor, Tensor], Tensor], pad: float) -> Tensor:
    """Reduces dim ``d`` to size 1 by combining halves with ``op`` (log2(n) engine ops)."""
    n = x.shape[d]
    while n > 1:
        if n % 2:
            filler = _core.full(
                tuple(1 if i == d else s for i, s in enumerate(x.shape)),
                pad,
                dtype=x.dtype,
                device=x.device,
            )
            x = _core.cat([x, filler], d)
            n += 1
        x = op(x.narrow(d, 0, n // 2), x.narrow(d, n // 2, n // 2))
        n //= 2
    return x


def refuse_bool_scan(name: str, dtype: Any) -> None:
    """A running sum or product into bool is refused, as PyTorch's (a reduction into bool
    is allowed: ``sum(dtype=bool)`` is ``any``)."""
    if dtype == _core.bool:
        raise DTypeError(f"\"{name}\" not implemented for 'Bool'")


def _accumulating(x: Tensor, dtype: Any) -> Tensor:
    """``x`` in the dtype a sum or product accumulates in: ``dtype`` when given, else int64 for
    integer and bool input (PyTorch's rule), else its own."""
    if dtype is not None:
        return x.to(dtype)
    if not x.dtype.is_floating_point and x.dtype != _core.int64:
        return x.to(_core.int64)
    return x


@_takes_tensor
def prod(x: Tensor, dim: Optional[int] = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
    """Product of the elements (over ``dim``); differentiable, exact at zeros. Integer and
    bool input multiply in int64, as in PyTorch; under autocast a half input is multiplied in
    float32 (``prod`` is on PyTorch's autocast float32 list); otherwise a half input is
    multiplied in float32 and rounded once (a running product in bfloat16 drifts: 1.01**300
    came out 9.1 for 10.3)."""
    x = _accumulating(x, dtype)
    if x.dtype in (_core.float16, _core.bfloat16):
        half = x.dtype
        out = prod(x.float(), dim, keepdim)
        return out if _core._get_autocast() is not None else out.to(half)
    if dim is None:
        flat = x.reshape(-1)
        if flat.shape[0] == 0:
            # (an empty product is 1, still in the graph: its input's gradient is empty)
            return _core.ones((), dtype=x.dtype, device=x.device) + flat.sum() * 0
        return _pairwise(flat, 0, lambda a, b: a * b, 1.0).reshape(())
    d = _dim(x, dim)
    if x.ndim == 0:  # (dim 0 or -1 of a 0-d tensor: the element itself, as PyTorch's)
        return x.clone()
    if x.shape[d] == 0:
        shape = tuple(1 if i == d else s for i, s in enumerate(x.shape))
        out = _core.ones(shape, dtype=x.dtype, device=x.device) + x.sum(d, keepdim=True) * 0
    else:
        out = _pairwise(x, d, lambda a, b: a * b, 1.0)
    return out if keepdim else out.squeeze(d)


@_takes_tensor
def cumsum(x: Tensor, dim: int, dtype: Any = None) -> Tensor:
    """Running sums along ``dim`` (one engine pass; its backward is the reverse running sum).
    Integer and bool input add up in int64, as in PyTorch (bool + bool would saturate at
    True); a half tensor accumulates in float32 and rounds each sum once."""
    refuse_bool_scan("cumsum", dtype)
    x = _accumulating(x, dtype)
    return _core._scan(x, _dim(x, dim))


@_takes_tensor
def diff(
    x: Tensor,
    n: int = 1,
    dim: int = -1,
    prepend: Optional[Tensor] = None,
    append: Optional[Tensor] = None,
) -> Tensor:
    """The ``n``-th forward difference along ``dim``, after joining ``prepend``/``append``
    (PyTorch's ``diff``): bool input gives ``!=`` of neighbours, a dim shorter than ``n``
    comes out empty."""
    if x.ndim == 0:
        raise ShapeError("diff expects input to be at least one-dimensional")
    if n < 0:
        raise InvalidValueError(f"order must be non-negative but got {n}")
    d = _dim(x, dim)
    if n == 0:
        return x.clone()  # (PyTorch ignores prepend/append here, and returns a copy)
    parts = [p for p in (prepend, x, append) if p is not None]
    for p in parts:
        if p.ndim != x.ndim:
            raise ShapeError("diff expects prepend or append to be the same dimension as input")
    if len(parts) > 1:
        x = _core.cat(parts, d)
    for _ in range(min(n, x.shape[d])):
        m = x.shape[d] - 1
        hi, lo = x.narrow(d, 1, m), x.narrow(d, 0, m)
        x = hi != lo if x.dtype == _core.bool else hi - lo
    return x


@_takes_tensor
def trace(x: Tensor) -> Tensor:
    if x.ndim != 2:
        raise InvalidValueError(f"trace expects a 2-D tensor, got {x.ndim}-D")
    if x.dtype == _core.bool:  # (PyTorch has no bool kernel; a sum would count the Trues)
        raise DTypeError("\"trace\" not implemented for 'Bool'")
    return diag(x).sum()


# ---- rearranging ---------------------------------------------------------------------------


@_takes_tensor
def flip(x: Tensor, *dims_: Any, dims: Optional[_Size] = None) -> Tensor:
    """``flip(0, 1)``, ``flip((0, 1))`` or ``flip(dims=(0, 1))``, as PyTorch takes them."""
    if dims is None:
        if not dims_:  # (NumPy's flip(x) reverses every axis; PyTorch requires dims)
            raise ArgumentTypeError('flip() missing 1 required positional arguments: "dims"')
        dims = dims_[0] if len(dims_) == 1 else dims_
    seen: set[int] = set()
    for d in int_tuple(dims):
        d = _dim(x, d)
        if d in seen:  # (flipping twice would silently undo it)
            raise InvalidValueError(f"dim {d} appears multiple times in the list of dims")
        seen.add(d)
    return x._flip(sorted(seen))  # (a copy even with nothing to reverse, as PyTorch's)


@_takes_tensor
def fliplr(x: Tensor) -> Tensor:
    """Columns reversed (dim 1); PyTorch's ``RuntimeError`` below 2 dims."""
    if x.ndim < 2:
        raise ShapeError("Input must be >= 2-d.")
    return flip(x, 1)


@_takes_tensor
def flipud(x: Tensor) -> Tensor:
    """Rows reversed (dim 0); PyTorch's ``RuntimeError`` for a 0-d tensor."""
    if x.ndim < 1:
        raise ShapeError("Input must be >= 1-d.")
    return flip(x, 0)


@_takes_tensor
def roll(x: Tensor, shifts: _Size, dims: Optional[_Size] = None) -> Tensor:
    if dims is None:
        return roll(x.reshape(-1), shifts, 0).reshape(x.shape)
    shift_list, dim_list = int_tuple(shifts), int_tuple(dims)
    if len(shift_list) != len(dim_list):
        raise InvalidValueError("roll: shifts and dims must have the same length")
    out = x
    for s, d in zip(shift_list, dim_list):
        d = _dim(out, d)
        n = out.shape[d]
        s = s % n if n else 0
        if s:
            out = _core.cat([out.narrow(d, n - s, s), out.narrow(d, 0, n - s)], d)
    # A shift by 0 (or a multiple of the size) is still a new tensor, as PyTorch's.
    return out.clone() if out is x else out


@_takes_tensor
def repeat(x: Tensor, *sizes: Any, repeats: Any = None) -> Tensor:
    """Tiles the tensor ``sizes[i]`` times along each dim (PyTorch's ``repeat``)."""
    if not sizes and repeats is None:
        raise ArgumentTypeError('repeat() missing 1 required positional arguments: "repeats"')
    reps = _sizes(sizes if repeats is None else (repeats,))
    if len(reps) < x.ndim:
        raise InvalidValueError(
            f"repeat: {len(reps)} repeat counts for a tensor of {x.ndim} dims "
            "(need at least as many)"
        )
    shape = (1,) * (len(reps) - x.ndim) + tuple(x.shape)
    inter = [v for s in shape for v in (1, s)]
    expanded = [v for r, s in zip(reps, shape) for v in (r, s)]
    # Always a fresh row-major copy, as PyTorch's: the expand() is a stride-0 view (with every
    # count 1, a view of ``x`` itself) that a reshape may keep, so a write into the result
    # would reach ``x`` or several elements at once.
    # (Sizes as lists: a 0-d tensor's ``repeat(())`` has none, and ``expand()`` needs one.)
    tiled = x.reshape(inter).expand(expanded).clone(memory_format=contiguous_format)
    return tiled.reshape([r * s for r, s in zip(reps, shape)])


@_takes_tensor
def tile(x: Tensor, *dims_: Any, dims: Optional[_Size] = None) -> Tensor:
    if dims is None:
        if not dims_:
            raise ArgumentTypeError('tile() missing 1 required positional arguments: "dims"')
        dims = dims_[0] if len(dims_) == 1 else dims_
    reps = int_tuple(dims)
    reps = (1,) * (x.ndim - len(reps)) + reps
    if not reps:  # a 0-d tensor tiled by (): itself, copied (PyTorch's)
        return x.clone()
    return repeat(x, *reps)


def _check_alloc(numel: int, dtype: Any, op: str) -> None:
    """``OutOfMemoryError`` when ``numel`` elements (a Python int, so it cannot wrap) could not
    be allocated, before NumPy tries (its failure is an untyped ``MemoryError`` or a crash)."""
    if numel * 8 > 2**62:
        raise OutOfMemoryError(f"{op}: cannot allocate {numel} elements")
    if numel * 8 >= 1 << 30:
        _core.empty([numel], dtype=dtype)  # the engine's checked allocation raises the error


@_takes_tensor
def repeat_interleave(
    x: Tensor,
    repeats: Union[int, Tensor, None] = None,
    dim: Optional[int] = None,
    *,
    output_size: Optional[int] = None,
) -> Tensor:
    """Each element (slice along ``dim``) repeated ``repeats`` times; with ``repeats`` left
    out, ``x`` holds the repeats of ``0, 1, ...`` (``repeat_interleave(tensor([2, 1]))`` is
    ``[0, 0, 1]``), as in PyTorch."""
    if repeats is None:
        if x.ndim > 1 or x.dtype.is_floating_point or x.dtype == _core.bool:
            raise DTypeError(
                "repeat_interleave(repeats): repeats must be a 0-D or 1-D integer tensor, got "
                f"{x.ndim}-D {x.dtype}"
            )
        counts = x.reshape(-1)
        # (the positions in the counts' dtype: int32 counts give int32 indices, as PyTorch's)
        positions = _core.arange(counts.shape[0], dtype=x.dtype, device=x.device)
        return repeat_interleave(positions, counts, 0, output_size=output_size)
    if dim is None:
        x, d = x.reshape(-1), 0
    else:
        d = _dim(x, dim)
    n = x.shape[d]
    r = np.asarray(_host(repeats) if isinstance(repeats, Tensor) else repeats, dtype=np.int64)
    if r.ndim > 1 or (r.ndim == 1 and r.shape[0] not in (1, n)):
        raise ShapeError(
            f"repeat_interleave: repeats must be a number or have {n} entries (the size of "
            f"dim {d}), got shape {r.shape}"
        )
    if r.size and r.min() < 0:
        raise InvalidValueError(f"repeat_interleave: repeats must be >= 0, got {int(r.min())}")
    if r.ndim == 1 and r.shape[0] == 1:
        r = r[0]
    # The output length in Python ints (NumPy's int64 sum wraps, and np.repeat of a wrapped
    # length crashed the process): a result that cannot be allocated is an OutOfMemoryError.
    total = int(r) * n if r.ndim == 0 else sum(int(v) for v in r.tolist())
    _check_alloc(total * (x.numel() // n if n else 0) + total, x.dtype, "repeat_interleave")
    idx = np.repeat(np.arange(n), np.broadcast_to(r, (n,)) if r.ndim == 0 else r)
    if output_size is not None and output_size != idx.shape[0]:
        raise ShapeError(
            f"repeat_interleave: output_size {output_size} does not match the {idx.shape[0]} "
            "elements the repeats give"
        )
    return x.index_select(d, _index(idx, x))


@_takes_tensor
def broadcast_to(x: Tensor, *sizes: Any, size: Any = None) -> Tensor:
    """``x`` expanded to ``size`` (a shape, or its sizes as separate arguments)."""
    if size is None:
        size = sizes[0] if len(sizes) == 1 and not isinstance(sizes[0], int) else sizes
    return x.expand(size)


def _shape_tuple(s: _Size) -> tuple[int, ...]:
    """A shape argument as a tuple: an int (a NumPy one too) is a 1-D shape."""
    if isinstance(s, (int, numbers.Integral)):
        return (int(s),)
    return tuple(s)


def broadcast_shapes(*shapes: _Size) -> tuple[int, ...]:
    """The shape ``shapes`` broadcast to (PyTorch's ``torch.broadcast_shapes``; an int is a
    1-D shape, as there); shapes that do not broadcast raise ``ShapeError`` naming them."""
    as_tuples = [s if isinstance(s, tuple) else _shape_tuple(s) for s in shapes]
    try:
        return tuple(np.broadcast_shapes(*as_tuples))
    except ValueError:
        raise ShapeError(
            f"shapes {', '.join(str(s) for s in as_tuples)} cannot be broadcast together"
        ) from None


def broadcast_tensors(*tensors: Tensor) -> list[Tensor]:
    shape = broadcast_shapes(*(t.shape for t in tensors))
    return [t.expand(shape) for t in tensors]


def logspace(
    start: Any,
    end: Any,
    steps: int,
    base: float = 10.0,
    *,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    """``base ** linspace(start, end, steps)``, as ``torch.logspace``: computed in float64 so
    that the powers round once, then cast to ``dtype`` (the default float dtype if None)."""
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise ArgumentTypeError(f"logspace(): steps must be an int, got {type(steps).__name__}")
    if steps < 0:
        raise InvalidValueError("number of steps must be non-negative")
    target = dtype if dtype is not None else _core._default_dtype()
    if target == _core.bool:
        raise DTypeError("logspace: a range of bool is not supported")
    exponents = np.linspace(float(start), float(end), steps, dtype=np.float64)
    from ._tensor import tensor

    return tensor(
        np.power(float(base), exponents), dtype=target, device=device, requires_grad=requires_grad
    )


def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Tensor, ...]:
    ts = (
        list(tensors[0])
        if len(tensors) == 1 and isinstance(tensors[0], (list, tuple))
        else list(tensors)
    )
    if indexing not in ("ij", "xy"):
        raise InvalidValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    _check_meshgrid_inputs(ts)
    if indexing == "xy" and len(ts) >= 2:
        ts[0], ts[1] = ts[1], ts[0]
    shape = [t.numel() for t in ts]
    out = []
    for i, t in enumerate(ts):
        view = [1] * len(ts)
        view[i] = shape[i]
        out.append(t.reshape(view).expand(shape))
    if indexing == "xy" and len(out) >= 2:
        # "xy" is "ij" of the first two inputs swapped, with the first two outputs swapped back.
        out[0], out[1] = out[1], out[0]
    return tuple(out)


def _check_meshgrid_inputs(ts: list[Tensor]) -> None:
    """PyTorch's checks: a non-empty list of 0-D or 1-D tensors sharing one dtype (the grids
    are views of the inputs, so there is no promotion and no flattening)."""
    if not ts:
        raise InvalidValueError("meshgrid expects a non-empty TensorList")
    for t in ts:
        if t.ndim > 1:
            raise ShapeError(
                f"meshgrid: expected 0D or 1D tensors, got one of shape {tuple(t.shape)}"
            )
    if len({t.dtype for t in ts}) > 1:
        raise DTypeError("meshgrid expects all tensors to have the same dtype")


def _tri(x: Tensor, diagonal: int, upper: bool) -> Tensor:
    if x.ndim < 2:
        raise ShapeError(f"{'triu' if upper else 'tril'} expects at least 2 dims, got {x.ndim}")
    rows, cols = x.shape[-2], x.shape[-1]
    # A diagonal past either edge keeps or drops everything: clamped there (any Python int).
    k = min(max(operator.index(diagonal), -rows - 1), cols + 1)
    return x._tri(k, upper)


@_takes_tensor
def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    return _tri(x, diagonal, True)


@_takes_tensor
def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    return _tri(x, diagonal, False)


@_takes_tensor
def diag(x: Tensor, diagonal: int = 0) -> Tensor:
    """A 1-D tensor to a square matrix with it on the ``diagonal``-th diagonal, or the
    ``diagonal``-th diagonal of a matrix (both differentiable)."""
    k = diagonal
    if x.ndim == 1:
        # An index write, not a multiply by an eye mask: nan/inf must not spread along
        # rows and the off-diagonal zeros must stay +0.0 (PyTorch).
        return _shape_functions.diag_embed(x, k)
    if x.ndim == 2:
        rows, cols = x.shape
        r0, c0 = (0, k) if k >= 0 else (-k, 0)
        length = max(0, min(rows - r0, cols - c0))
        r = _index(np.arange(r0, r0 + length), x)
        c = _index(np.arange(c0, c0 + length), x)
        return x[r, c]
    raise InvalidValueError(f"diag expects a 1-D or 2-D tensor, got {x.ndim}-D")


@_takes_tensor
def outer(x: Tensor, vec2: Tensor) -> Tensor:
    return x.reshape(-1, 1) * vec2.reshape(1, -1)


@_takes_tensor
def masked_select(x: Tensor, mask: Tensor) -> Tensor:
    if mask.dtype != _core.bool:  # (an integer mask would be read as indices)
        raise DTypeError(f"masked_select: expected BoolTensor for mask, got {mask.dtype}")
    a, m = broadcast_tensors(x, mask)
    return a[m]


def where(condition: Tensor, input: Any = None, other: Any = None) -> Any:
    """``where(cond, x, y)`` picks elementwise (differentiable); ``where(cond)`` is
    ``cond.nonzero()`` as a tuple of index tensors, one per dim (PyTorch)."""
    if input is None and other is None:
        return condition.nonzero(as_tuple=True)
    if isinstance(condition, Tensor) and condition.dtype == _core.uint8:
        warnings.warn(
            "where received a uint8 condition tensor. This behavior is deprecated and will be "
            "removed in a future version of PyTorch. Use a boolean condition instead.",
            UserWarning,
            stacklevel=2,
        )
        condition = condition != 0
    return _core.where(condition, input, other)


# ---- small arithmetic --------------------------------------------------------------------


@_takes_tensor
def log10(x: Tensor) -> Tensor:
    """Base-10 logarithm, the engine's unary op: rounded once (``log(x) / ln 10``, as it was
    written before, rounded twice in bfloat16)."""
    return _core._unary(x, "log10")


@_takes_tensor
def frac(x: Tensor) -> Tensor:
    """The fractional part ``x - trunc(x)``; floating input only, as PyTorch's."""
    if not x.dtype.is_floating_point:
        raise DTypeError(f"\"frac\" not implemented for '{x.dtype}'")
    return x - x.trunc()


@_takes_tensor
def lerp(x: Tensor, end: Tensor, weight: Union[float, Tensor]) -> Tensor:
    """``x + weight * (end - x)``, by PyTorch's formula: from ``end`` where ``|weight| >= 0.5``
    (so a weight of 1 gives ``end`` exactly). Half-precision tensors compute in float64 (exact
    there), rounded at the end: PyTorch's fused float32 multiply-add gives the same values."""
    half = x.dtype if x.dtype in (_core.float16, _core.bfloat16) else None
    if half is not None:
        if any(isinstance(v, Tensor) and v.dtype != half for v in (end, weight)):
            half = None  # (mixed dtypes: promotion decides, as before)
        else:
            x = x.double()
            end = end.double() if isinstance(end, Tensor) else end
            # (a number weight is float32 in PyTorch's opmath)
            weight = weight.double() if isinstance(weight, Tensor) else float(np.float32(weight))
    if isinstance(weight, Tensor):
        small = weight.abs() < 0.5
        out = _core.where(small, x + weight * (end - x), end - (end - x) * (1 - weight))
    elif abs(weight) < 0.5:
        out = x + weight * (end - x)
    else:
        out = end - (end - x) * (1 - weight)
    return out if half is None else out.float().to(half)  # (rounded as a float32 result is)


@_takes_tensor
def bmm(x: Tensor, mat2: Tensor) -> Tensor:
    if x.ndim != 3 or mat2.ndim != 3:
        raise InvalidValueError(f"bmm expects two 3-D tensors, got {x.ndim}-D and {mat2.ndim}-D")
    if x.shape[0] != mat2.shape[0] or x.shape[2] != mat2.shape[1]:
        # PyTorch's bmm does not broadcast the batch (matmul does).
        raise ShapeError(
            f"bmm: batch2 of shape {tuple(mat2.shape)} does not fit batch1 of shape "
            f"{tuple(x.shape)}: expected ({x.shape[0]}, {x.shape[2]}, *)"
        )
    return x @ mat2


@_takes_tensor
def mv(x: Tensor, vec: Tensor) -> Tensor:
    """Matrix-vector product. ``mv`` is on PyTorch's CUDA autocast list but not its CPU one:
    under autocast a CPU ``mv`` runs in its operands' dtype (``@`` would cast to the low one)."""
    if x.is_cuda or _core._get_autocast() is None:
        return x @ vec
    with _autocast_disabled():
        return x @ vec


@_takes_tensor
def addmm(
    x: Tensor,
    mat1: Tensor,
    mat2: Tensor,
    beta: Union[int, float] = 1,
    alpha: Union[int, float] = 1,
) -> Tensor:
    """``beta * x + alpha * (mat1 @ mat2)``; with ``beta=0`` ``x`` is ignored (NaN in it does
    not propagate), as in PyTorch."""
    from ._shape_functions import _scaled_add

    if mat1.ndim != 2 or mat2.ndim != 2:
        raise ShapeError(
            f"addmm: mat1 and mat2 must be matrices, got {mat1.ndim}-D and {mat2.ndim}-D"
        )
    return _scaled_add(x, mat1 @ mat2, beta, alpha, "addmm", autocast=True)


# ---- factories from an existing tensor -------------------------------------------------------


def _like(x: Tensor, dtype: Any, device: Any) -> dict[str, Any]:
    return {"dtype": dtype or x.dtype, "device": device or x.device}


def _new_filled(factory: Callable[..., Tensor], name: str) -> Callable[..., Tensor]:
    """Builds ``new_zeros``, ``new_ones`` and ``new_empty``: one PyTorch signature for all, which
    differ only in the ``factory`` (``_core.zeros``...) called at the given sizes."""

    def new(
        x: Tensor,
        *sizes: Any,
        size: Any = None,
        dtype: Any = None,
        device: Any = None,
        requires_grad: bool = False,
    ) -> Tensor:
        if size is None and not sizes:
            raise ArgumentTypeError(f'{name}() missing 1 required positional arguments: "size"')
        shape = _sizes(sizes if size is None else (size,))
        return factory(shape, **_like(x, dtype, device)).requires_grad_(requires_grad)

    new.__name__ = new.__qualname__ = name  # (before ``_takes_tensor``: its errors name it)
    new.__doc__ = (
        f"``{factory.__name__}`` at the given sizes, with ``x``'s dtype and device unless given."
    )
    return _takes_tensor(new)


new_zeros = _new_filled(_core.zeros, "new_zeros")
new_ones = _new_filled(_core.ones, "new_ones")
new_empty = _new_filled(_core.empty, "new_empty")  # (the engine zero-fills)


@_takes_tensor
def new_full(
    x: Tensor,
    size: Sequence[int],
    fill_value: float,
    dtype: Any = None,
    device: Any = None,
    requires_grad: bool = False,
) -> Tensor:
    return _core.full(tuple(size), fill_value, **_like(x, dtype, device)).requires_grad_(
        requires_grad
    )


@_takes_tensor
def new_tensor(
    x: Tensor, data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False
) -> Tensor:
    from ._tensor import tensor

    return tensor(data, **_like(x, dtype, device), requires_grad=requires_grad)


@_takes_tensor
def new(x: Tensor, *args: Any, device: Any = None) -> Tensor:
    """PyTorch's legacy ``x.new(...)``, with ``x``'s dtype and device: ``new()`` an empty
    tensor, ``new(2, 3)`` or ``new(dm.Size([2, 3]))`` one of that size, ``new(data)`` (a list,
    tuple, array or number) that data, ``new(tensor)`` that tensor's data in ``x``'s dtype."""
    like = _like(x, None, device)
    if not args:
        return _core.empty(0, **like)
    if len(args) == 1 and isinstance(args[0], Tensor):
        return args[0].detach().to(**like)
    if all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        return _core.empty(*args, **like)
    if len(args) == 1 and type(args[0]).__name__ == "Size":
        return _core.empty(*args[0], **like)
    if len(args) == 1:
        from ._tensor import tensor

        return tensor(args[0], **like)
    raise ArgumentTypeError(
        f"new(): expected sizes (ints), one Size, or one data argument, got {args!r}"
    )


# ---- in-place forms and initialisers ---------------------------------------------------------


def _any_requires_grad(values: Any) -> bool:
    return any(isinstance(v, Tensor) and v.requires_grad for v in values)


def _inplace_source(
    x: Tensor, args: tuple[Any, ...], kwargs: Optional[dict[str, Any]] = None
) -> tuple[Tensor, tuple[Any, ...]]:
    """What an in-place op computes from: while autograd records and ``x`` or any tensor
    argument requires grad, a clone of ``x`` (also where ``x`` is one of ``args``), so the
    result's graph saves the clone rather than ``x``, which ``copy_`` then overwrites;
    otherwise backward through ``y.exp_()`` on a non-leaf ``y`` fails with "modified by an
    in-place operation", and ``x.atan2_(y)`` differentiates ``y`` at the overwritten ``x``."""
    if not _core.is_grad_enabled():
        return x, args
    if not (
        x.requires_grad
        or _any_requires_grad(args)
        or (kwargs and _any_requires_grad(kwargs.values()))
    ):
        return x, args
    src = x.clone()
    return src, tuple(src if a is x else a for a in args)


def _can_cast(src: Any, dst: Any) -> bool:
    """PyTorch's rule for writing a result back in place: no float into an integer tensor, and
    nothing but bool into a bool tensor."""
    if src.is_floating_point and not dst.is_floating_point:
        return False
    return not (dst == _core.bool and src != _core.bool)


def _check_cast(out: Tensor, x: Tensor, prefix: str = "") -> None:
    """Raises PyTorch's error when ``out`` may not be written into ``x`` (``_can_cast``)."""
    if not _can_cast(out.dtype, x.dtype):
        raise DTypeError(
            f"{prefix}result type {out.dtype} can't be cast to the desired output type {x.dtype}"
        )


def _write_inplace(x: Tensor, out: Tensor, name: str) -> Tensor:
    """The last step of every in-place form ``name_`` (here and in ``_tensor_more``): ``out``
    copied into ``x``, which is returned, once PyTorch's cast rule allows it."""
    _check_cast(out, x, f"{name}_: ")
    if out.grad_fn is not None and out.shape == x.shape and out.dtype == x.dtype:
        # ``x`` takes the op's own node (``y.exp_()`` shows ExpBackward0, as PyTorch's).
        _core._assign(x, out)
    else:
        x.copy_(out)
    return x


def _inplace(name: str) -> Callable[..., Tensor]:
    def method(x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        src, args = _inplace_source(x, args, kwargs)
        return _write_inplace(x, getattr(src, name)(*args, **kwargs), name)

    method.__name__ = f"{name}_"
    method.__doc__ = f"In-place ``{name}``: writes the result into this tensor and returns it."
    return method


# ---- pickling ------------------------------------------------------------------------------


def _reduce(x: Tensor) -> tuple[Any, ...]:
    """``Tensor.__reduce__``: values as a NumPy array plus dtype, device and requires_grad, and
    the instance attributes of a subclass (as PyTorch keeps them). As in PyTorch, a non-leaf
    that requires grad pickles too, and loads as a leaf that requires grad (its graph stays
    behind)."""
    name = str(x.dtype).rsplit(".", 1)[-1]
    args = (type(x), np.array(_host(x)), name, x.requires_grad, str(x.device))
    state = getattr(x, "__dict__", None)
    return (_rebuild, args, dict(state)) if state else (_rebuild, args)


def _rebuild(cls: type, values: np.ndarray, dtype: str, requires_grad: bool, device: str) -> Tensor:
    # Not np.ascontiguousarray: it returns at least 1-d, so a 0-d tensor came back with shape (1,).
    values = values if values.flags.c_contiguous else values.copy(order="C")
    t = _core.from_numpy(values).to(getattr(_core, dtype))
    if device != "cpu":
        t = t.to(device)
    out = t if cls is Tensor else cls(t)
    out.requires_grad_(requires_grad)
    return out


_INPLACE = [
    "exp",
    "exp2",
    "log",
    "log1p",
    "expm1",
    "tan",
    "asin",
    "acos",
    "atan",
    "asinh",
    "acosh",
    "atanh",
    "erf",
    "erfc",
    "erfinv",
    "lgamma",
    "digamma",
    "sqrt",
    "rsqrt",
    "abs",
    "neg",
    "sigmoid",
    "tanh",
    "sin",
    "cos",
    "floor",
    "ceil",
    "round",
    "trunc",
    "reciprocal",
    "square",
    "sign",
    "pow",
    "masked_fill",
    "clip",
    "maximum",
    "minimum",
    "remainder",
    "gelu",
    "silu",
]

#: name -> function(tensor, ...), installed as a method of ``Tensor`` by ``_install``.
METHODS: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (
        isnan,
        isinf,
        isfinite,
        equal,
        isclose,
        allclose,
        sort,
        argsort,
        topk,
        kthvalue,
        norm,
        prod,
        cumsum,
        diff,
        trace,
        flip,
        fliplr,
        flipud,
        roll,
        repeat,
        tile,
        repeat_interleave,
        broadcast_to,
        triu,
        tril,
        diag,
        outer,
        masked_select,
        log10,
        frac,
        lerp,
        bmm,
        mv,
        addmm,
        new_zeros,
        new_ones,
        new_empty,
        new_full,
        new_tensor,
        new,
    )
}
METHODS.update({f"{n}_": _inplace(n) for n in _INPLACE})


def _fills_shared(x: Tensor, value: Any) -> bool:
    """Whether a constant write into ``x`` takes the path for an ``expand``ed view (elements
    sharing memory, which other in-place ops refuse): PyTorch lets ``masked_fill_`` and
    ``index_fill_`` write one there, unless autograd records the write."""
    if x.numel() == 0 or not any(n > 1 and s == 0 for n, s in zip(x.shape, x.stride())):
        return False
    return not (_core.is_grad_enabled() and (x.requires_grad or _any_requires_grad([value])))


def _fill_shared(x: Tensor, mask: Tensor, value: Any) -> Tensor:
    """``value`` written where ``mask`` holds into the expanded view ``x``: a memory location
    is written when any element sharing it is selected."""
    v = (
        value
        if isinstance(value, Tensor)
        else _core.full((), value, dtype=x.dtype, device=x.device)
    )
    _core._fill_shared(x, mask, v)
    return x


_masked_fill_ = METHODS["masked_fill_"]


def masked_fill_(x: Tensor, mask: Tensor, value: Any) -> Tensor:
    """In-place ``masked_fill``; also into an expanded view, as PyTorch allows."""
    if _fills_shared(x, value):
        x.masked_fill(mask, value)  # the out-of-place op's checks of mask and value
        return _fill_shared(x, mask, value)
    return _masked_fill_(x, mask, value)


METHODS["masked_fill_"] = masked_fill_

# More methods (addcmul, index_add, scatter, median, cummax, ...), built on the helpers above.
from . import _tensor_more  # noqa: E402

METHODS.update(_tensor_more.METHODS)

# Random fills (random_, cauchy_, ...) and the scatter ops (index_put, scatter_reduce, ...).
from . import _index_functions, _random_more  # noqa: E402

METHODS.update(_random_more.METHODS)
METHODS.update(_index_functions.METHODS)

# PyTorch's math, shape and statistics methods (hypot, kron, quantile, ...).
from . import _math_functions, _shape_functions, _stats_functions  # noqa: E402

METHODS.update(_math_functions.METHODS)
METHODS.update(_shape_functions.METHODS)
METHODS.update(_stats_functions.METHODS)


def _augmented(target: str) -> Callable[[Tensor, Any], Tensor]:
    """``x op= other`` as PyTorch runs it: in place through ``target`` (so views of ``x`` see
    the new values and an integer tensor rejects a float result), not Python's fallback of
    rebinding ``x`` to a new tensor ``x op other``."""

    def method(x: Tensor, other: Any) -> Tensor:
        return getattr(x, target)(other)

    method.__name__ = method.__qualname__ = f"__i{target.rstrip('_')}__"
    return method


def _shift(left: bool, reflected: bool) -> Callable[[Tensor, Any], Tensor]:
    """``x << n`` / ``x >> n`` (and ``n << x``): ``bitwise_left_shift`` / ``_right_shift``."""

    def method(x: Tensor, other: Any) -> Tensor:
        from . import _math_functions as m

        fn = m.bitwise_left_shift if left else m.bitwise_right_shift
        return fn(other, x) if reflected else fn(x, other)

    return method


def _contains(x: Tensor, element: Any) -> bool:
    """``element in x`` as PyTorch: whether any entry equals ``element`` (a number or a tensor,
    broadcast against ``x``), not Python's fallback of iterating rows and calling ``bool`` on
    each comparison (which fails for tensors of 2 or more dims and answers ``False`` for any
    other object)."""
    if isinstance(element, (Tensor, numbers.Number)):
        return bool((x == element).any().item())
    raise InvalidValueError(
        f"Tensor.__contains__ only supports Tensor or scalar, but you passed in a {type(element)}."
    )


def _array_wrap(
    x: Tensor, array: np.ndarray, context: Any = None, return_scalar: bool = False
) -> Any:
    """A NumPy ufunc applied to a tensor (``np.add(t, 1)``, ``np.sin(t)``) returns a tensor, as
    PyTorch's ``__array_wrap__`` does; a result of a kind the engine cannot hold (complex,
    strings, unsigned integers wider than 16 bits) stays a NumPy array."""
    kind = array.dtype.kind
    if kind not in "bif" and not (kind == "u" and array.dtype.itemsize <= 2):
        return array
    values = array if array.flags.c_contiguous else array.copy(order="C")
    return _core.from_numpy(values)


def _array(x: Tensor, dtype: Any = None, copy: Optional[bool] = None) -> np.ndarray:
    """NumPy's ``__array__`` protocol, as PyTorch's tensors have it: scikit-learn and other
    libraries recognise an array-like by ``hasattr(t, "__array__")`` (``accuracy_score(y,
    preds)`` with tensors). The values, sharing memory as ``numpy()`` does unless ``copy`` or a
    ``dtype`` asks for another array."""
    arr = x.detach().numpy()
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return arr.copy() if copy else arr


def _reversed(x: Tensor) -> Tensor:
    """``reversed(t)`` as PyTorch: ``t.flip(0)`` (a 0-d tensor is itself); the engine type is
    no sequence, so Python would refuse."""
    return x if x.ndim == 0 else x.flip(0)


# Protocols the engine type lacks (``in``, ``reversed``, NumPy ufunc results), augmented
# assignments it leaves to Python's rebinding fallback, and the shifts.
_OPERATORS: dict[str, Callable[..., Any]] = {
    "__contains__": _contains,
    "__reversed__": _reversed,
    "__array_wrap__": _array_wrap,
    "__array__": _array,
    "__ifloordiv__": _augmented("floor_divide_"),
    "__imod__": _augmented("remainder_"),
    "__ipow__": _augmented("pow_"),
    "__iand__": _augmented("bitwise_and_"),
    "__ior__": _augmented("bitwise_or_"),
    "__ixor__": _augmented("bitwise_xor_"),
    "__ilshift__": _augmented("bitwise_left_shift_"),
    "__irshift__": _augmented("bitwise_right_shift_"),
    "__lshift__": _shift(True, False),
    "__rlshift__": _shift(True, True),
    "__rshift__": _shift(False, False),
    "__rrshift__": _shift(False, True),
}


def _as_method(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as a method: the same call, its first parameter named ``self`` (as the stubs and
    ``help`` show it; the free function keeps PyTorch's ``input``-style name)."""

    @functools.wraps(fn)
    def method(self: Tensor, /, *args: Any, **kwargs: Any) -> Any:
        return fn(self, *args, **kwargs)

    sig = inspect.signature(fn)
    first, *rest = sig.parameters.values()
    method.__signature__ = sig.replace(parameters=[first.replace(name="self"), *rest])  # type: ignore[attr-defined]
    return method


def _table_op(name: str) -> Callable[[Tensor], Tensor]:
    """The method of an op of the engine's unary table that has no glue method of its own."""

    def method(self: Tensor) -> Tensor:
        return _core._unary(self, name)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Elementwise ``{name}`` (differentiable)."
    return method


def _install(cls: type) -> None:
    """Makes each of ``METHODS``, and each op of the engine's unary table, a real method of
    the tensor type (ordinary attribute lookup, ``dir``, ``help`` and the stubs all see it),
    and each of ``_tensor_more.PROPERTIES`` a property, unless the engine defines one of that
    name."""
    for name, fn in METHODS.items():
        if name not in vars(cls):
            setattr(cls, name, _as_method(fn))
    for name in _core._unary_names():
        if name not in vars(cls):
            setattr(cls, name, _table_op(name))
    for name, fn in _OPERATORS.items():
        if name not in vars(cls):
            setattr(cls, name, fn)
    for name, prop in _tensor_more.PROPERTIES.items():
        if name not in vars(cls):
            setattr(cls, name, prop)


_install(Tensor)
