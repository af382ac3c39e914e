"""PyTorch's ``torch.testing``: ``assert_close`` (with PyTorch's default tolerances per dtype,
its recursion through sequences and mappings and its error messages, so that a test suite
written against ``torch.testing`` runs and fails the same way), ``make_tensor`` (PyTorch's
value ranges per dtype) and the deprecated ``assert_allclose``.

>>> import democratising as dm
>>> dm.testing.assert_close(dm.tensor([1.0, 2.0]), dm.tensor([1.0, 2.0 + 1e-7]))
"""

from __future__ import annotations

import collections.abc
import contextlib
import dataclasses
import math
import warnings
from typing import Any, Callable, NoReturn, Optional, Union

import numpy as np

from . import _core
from .errors import ArgumentTypeError, InvalidValueError

__all__ = ["assert_allclose", "assert_close", "make_tensor"]

Msg = Optional[Union[str, Callable[[str], str]]]

#: PyTorch's default ``(rtol, atol)`` per dtype; every other dtype compares exactly.
_DTYPE_PRECISIONS: dict[Any, tuple[float, float]] = {
    _core.float16: (0.001, 1e-5),
    _core.bfloat16: (0.016, 1e-5),
    _core.float32: (1.3e-6, 1e-5),
    _core.float64: (1e-7, 1e-7),
}

#: The dtype whose tolerances a Python number compares with (PyTorch's table).
_NUMBER_DTYPES: dict[type, Any] = {int: _core.int64, float: _core.float64}


class _ComparisonError(Exception):
    """A comparison's failure: the exception type and message to raise, and where in the
    nested inputs it happened (``id``), so ``msg=`` can replace or wrap the message."""

    def __init__(self, type: type[Exception], msg: str, *, id: tuple[Any, ...] = ()) -> None:
        super().__init__(msg)
        self.type = type
        self.msg = msg
        self.id = id

    def to_error(self, msg: Msg = None) -> Exception:
        if not isinstance(msg, str):
            generated = self.msg
            if self.id:
                where = "".join(str([item]) for item in self.id)
                generated += f"\n\nThe failure occurred for item {where}"
            msg = msg(generated) if callable(msg) else generated
        return self.type(msg)


class _UnsupportedInputsError(Exception):
    """This kind of pair cannot take these inputs: try the next kind."""


def _default_tolerances(
    *dtypes: Any, precisions: Optional[dict[Any, tuple[float, float]]] = None
) -> tuple[float, float]:
    """The loosest default tolerances of ``dtypes`` (as PyTorch's ``default_tolerances``)."""
    table = precisions or _DTYPE_PRECISIONS
    rtols, atols = zip(*[table.get(dtype, (0.0, 0.0)) for dtype in dtypes])
    return max(rtols), max(atols)


def _get_tolerances(
    *dtypes: Any, rtol: Optional[float], atol: Optional[float], id: tuple[Any, ...]
) -> tuple[float, float]:
    # Both or neither: atol=0 alone would still pass through rtol's default, surprisingly.
    if (rtol is None) ^ (atol is None):
        raise _ComparisonError(
            ValueError,
            "Both 'rtol' and 'atol' must be either specified or omitted, "
            f"but got no {'rtol' if rtol is None else 'atol'}.",
            id=id,
        )
    if rtol is not None and atol is not None:
        return rtol, atol
    return _default_tolerances(*dtypes)


def _mismatch_msg(
    *,
    identifier: str,
    extra: Optional[str],
    abs_diff: Any,
    abs_diff_idx: Optional[tuple[int, ...]],
    atol: float,
    rel_diff: Any,
    rel_diff_idx: Optional[tuple[int, ...]],
    rtol: float,
) -> str:
    """PyTorch's layout: header, the extra line, then the greatest differences."""
    equality = rtol == 0 and atol == 0

    def diff_line(kind: str, diff: Any, idx: Optional[tuple[int, ...]], tol: float) -> str:
        if idx is None:
            line = f"{kind.title()} difference: {diff}"
        else:
            line = f"Greatest {kind} difference: {diff} at index {idx}"
        if not equality:
            line += f" (up to {tol} allowed)"
        return line + "\n"

    msg = f"{identifier} are not {'equal' if equality else 'close'}!\n\n"
    if extra:
        msg += f"{extra.strip()}\n"
    msg += diff_line("absolute", abs_diff, abs_diff_idx, atol)
    msg += diff_line("relative", rel_diff, rel_diff_idx, rtol)
    return msg.strip()


def _scalar_mismatch_msg(actual: Any, expected: Any, *, rtol: float, atol: float) -> str:
    abs_diff = abs(actual - expected)
    rel_diff = float("inf") if expected == 0 else abs_diff / abs(expected)
    return _mismatch_msg(
        identifier="Scalars",
        extra=f"Expected {expected} but got {actual}.",
        abs_diff=abs_diff,
        abs_diff_idx=None,
        atol=atol,
        rel_diff=rel_diff,
        rel_diff_idx=None,
        rtol=rtol,
    )


def _numpy(t: _core.Tensor) -> np.ndarray:
    """The values as NumPy (bfloat16 widened to float32, which holds it exactly)."""
    t = t.detach().cpu()
    if t.dtype == _core.bfloat16:
        t = t.float()
    return np.asarray(t)


def _round_to(values: Any, dtype: Any) -> Any:
    """``values`` rounded to ``dtype``, so a difference comes out as PyTorch computes it (in
    the tensors' own dtype; NumPy has every other float dtype)."""
    if dtype == _core.bfloat16:
        wide = np.asarray(values, dtype=np.float32)
        return _numpy(_core.from_numpy(wide.reshape(-1)).to(_core.bfloat16)).reshape(wide.shape)
    return values


def _isclose(
    actual: _core.Tensor, expected: _core.Tensor, rtol: float, atol: float, equal_nan: bool
) -> np.ndarray:
    """PyTorch's ``isclose``, each step rounded to the tensors' dtype as PyTorch computes it:
    equal, or both NaN with ``equal_nan``, or a finite ``|a - e| <= atol + |rtol * e|``."""
    a, e = _numpy(actual), _numpy(expected)
    floating = actual.dtype.is_floating_point
    if not floating:
        a, e = a.astype(np.int64), e.astype(np.int64)
    close = np.asarray(a == e)
    if equal_nan and floating:
        close = close | (np.isnan(a) & np.isnan(e))
    if rtol == 0 and atol == 0:
        return close
    dtype = actual.dtype
    scalar = np.float32 if dtype == _core.bfloat16 else (lambda v: v)
    with np.errstate(all="ignore"):
        allowed = _round_to(atol + _round_to(np.abs(scalar(rtol) * e), dtype), dtype)
        error = _round_to(np.abs(a - e), dtype)
        return close | (np.isfinite(error) & (error <= allowed))


def _unravel(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def _tensor_mismatch_msg(
    actual: _core.Tensor, expected: _core.Tensor, matches: np.ndarray, *, rtol: float, atol: float
) -> str:
    """PyTorch's message: the mismatch count and the greatest differences among mismatches."""
    numel = matches.size
    mismatches = numel - int(matches.sum())
    extra = f"Mismatched elements: {mismatches} / {numel} ({mismatches / numel:.1%})"
    a, e = _numpy(actual).reshape(-1), _numpy(expected).reshape(-1)
    ok = matches.reshape(-1)
    with np.errstate(all="ignore"):
        if actual.dtype.is_floating_point:
            abs_diff = _round_to(np.abs(a - e), actual.dtype)
            abs_diff[ok] = 0
            rel_diff = _round_to(abs_diff / np.abs(e), actual.dtype)
        else:
            # Integers and bools: PyTorch widens to int64, and divides in float32.
            abs_diff = np.abs(a.astype(np.int64) - e.astype(np.int64))
            abs_diff[ok] = 0
            rel_diff = abs_diff.astype(np.float32) / np.abs(e.astype(np.int64)).astype(np.float32)
    rel_diff[ok] = 0
    abs_idx, rel_idx = int(np.argmax(abs_diff)), int(np.argmax(rel_diff))
    return _mismatch_msg(
        identifier="Tensor-likes",
        extra=extra,
        abs_diff=abs_diff[abs_idx].item(),
        abs_diff_idx=_unravel(abs_idx, matches.shape),
        atol=atol,
        rel_diff=float(rel_diff[rel_idx]),
        rel_diff_idx=_unravel(rel_idx, matches.shape),
        rtol=rtol,
    )


@dataclasses.dataclass(frozen=True)
class _Options:
    """``assert_close``'s keyword options, passed down as one value to every pair, which
    reads those that apply to its kind of input."""

    allow_subclasses: bool
    rtol: Optional[float]
    atol: Optional[float]
    equal_nan: bool
    check_device: bool
    check_dtype: bool
    check_layout: bool
    check_stride: bool


class _Pair:
    """Two inputs to compare, and where they sit in the nested inputs. A subclass's
    ``__init__(actual, expected, id, options)`` raises ``_UnsupportedInputsError`` for inputs
    it does not take."""

    def __init__(self, actual: Any, expected: Any, id: tuple[Any, ...]) -> None:
        self.actual = actual
        self.expected = expected
        self.id = id

    def fail(self, type: type[Exception], msg: str) -> NoReturn:
        raise _ComparisonError(type, msg, id=self.id)

    def compare(self) -> None:
        raise NotImplementedError  # (abstract: every pair below defines it)


class _NonePair(_Pair):
    def __init__(self, actual: Any, expected: Any, id: tuple[Any, ...], options: _Options) -> None:
        if not (actual is None or expected is None):
            raise _UnsupportedInputsError
        super().__init__(actual, expected, id)

    def compare(self) -> None:
        if not (self.actual is None and self.expected is None):
            self.fail(AssertionError, f"None mismatch: {self.actual} is not {self.expected}")


class _BooleanPair(_Pair):
    def __init__(self, actual: Any, expected: Any, id: tuple[Any, ...], options: _Options) -> None:
        if not all(isinstance(x, (bool, np.bool_)) for x in (actual, expected)):
            raise _UnsupportedInputsError
        super().__init__(bool(actual), bool(expected), id)

    def compare(self) -> None:
        if self.actual is not self.expected:
            self.fail(AssertionError, f"Booleans mismatch: {self.actual} is not {self.expected}")


class _NumberPair(_Pair):
    def __init__(self, actual: Any, expected: Any, id: tuple[Any, ...], options: _Options) -> None:
        kinds = (int, float, complex, np.number)
        if not all(isinstance(x, kinds) for x in (actual, expected)):
            raise _UnsupportedInputsError
        actual, expected = (x.item() if isinstance(x, np.number) else x for x in (actual, expected))
        super().__init__(actual, expected, id)
        # (a bool meeting an int compares as an int; complex uses float64's tolerances)
        dtypes = [_NUMBER_DTYPES.get(type(x), _core.float64) for x in (actual, expected)]
        dtypes = [
            _core.int64 if isinstance(x, bool) else d for x, d in zip((actual, expected), dtypes)
        ]
        self.rtol, self.atol = _get_tolerances(*dtypes, rtol=options.rtol, atol=options.atol, id=id)
        self.equal_nan = options.equal_nan
        self.check_dtype = options.check_dtype

    def compare(self) -> None:
        actual, expected = self.actual, self.expected
        if self.check_dtype and type(actual) is not type(expected):
            self.fail(
                AssertionError,
                f"The (d)types do not match: {type(actual)} != {type(expected)}.",
            )
        if actual == expected:
            return
        if self.equal_nan and _isnan(actual) and _isnan(expected):
            return
        abs_diff = abs(actual - expected)
        if _isfinite(abs_diff) and abs_diff <= self.atol + self.rtol * abs(expected):
            return
        self.fail(
            AssertionError, _scalar_mismatch_msg(actual, expected, rtol=self.rtol, atol=self.atol)
        )


def _isnan(x: Any) -> bool:
    return math.isnan(x.real) or math.isnan(x.imag) if isinstance(x, complex) else math.isnan(x)


def _isfinite(x: Any) -> bool:
    return (
        math.isfinite(x.real) and math.isfinite(x.imag)
        if isinstance(x, complex)
        else math.isfinite(x)
    )


def _shape_str(shape: tuple[int, ...]) -> str:
    return f"democratising.Size({list(shape)})"


class _TensorLikePair(_Pair):
    """Two tensors, or two NumPy arrays (PyTorch takes any two inputs of directly related
    types that ``as_tensor`` accepts)."""

    def __init__(self, actual: Any, expected: Any, id: tuple[Any, ...], options: _Options) -> None:
        related = isinstance(actual, type(expected)) or isinstance(expected, type(actual))
        exact = type(actual) is type(expected)
        if not related or (not options.allow_subclasses and not exact):
            raise _UnsupportedInputsError
        actual, expected = (self._to_tensor(x) for x in (actual, expected))
        super().__init__(actual, expected, id)
        self.rtol, self.atol = _get_tolerances(
            actual.dtype, expected.dtype, rtol=options.rtol, atol=options.atol, id=id
        )
        self.equal_nan = options.equal_nan
        self.check_device = options.check_device
        self.check_dtype = options.check_dtype
        # (every tensor here is strided: check_layout has nothing to tell apart)
        self.check_stride = options.check_stride

    @staticmethod
    def _to_tensor(x: Any) -> _core.Tensor:
        if isinstance(x, _core.Tensor):
            return x
        try:
            return _as_tensor(x)
        except Exception:
            raise _UnsupportedInputsError from None

    def _mismatch(self, name: str, actual: Any, expected: Any) -> NoReturn:
        self.fail(
            AssertionError,
            f"The values for attribute '{name}' do not match: {actual} != {expected}.",
        )

    def compare(self) -> None:
        actual, expected = self.actual, self.expected
        if tuple(actual.shape) != tuple(expected.shape):
            self._mismatch("shape", _shape_str(actual.shape), _shape_str(expected.shape))
        if self.check_stride and actual.stride() != expected.stride():
            self._mismatch("stride()", actual.stride(), expected.stride())
        if self.check_device and actual.device != expected.device:
            self._mismatch("device", actual.device, expected.device)
        if self.check_dtype and actual.dtype != expected.dtype:
            self._mismatch("dtype", actual.dtype, expected.dtype)
        actual, expected = actual.detach(), expected.detach()
        if actual.device != expected.device:
            actual, expected = actual.cpu(), expected.cpu()
        if actual.dtype != expected.dtype:
            dtype = _as_dm().promote_types(actual.dtype, expected.dtype)
            actual, expected = actual.to(dtype), expected.to(dtype)
        self._compare_values(actual, expected)

    def _compare_values(self, actual: _core.Tensor, expected: _core.Tensor) -> None:
        matches = _isclose(actual, expected, self.rtol, self.atol, self.equal_nan)
        if matches.all():
            return
        if matches.ndim == 0:
            msg = _scalar_mismatch_msg(
                actual.item(), expected.item(), rtol=self.rtol, atol=self.atol
            )
        else:
            msg = _tensor_mismatch_msg(actual, expected, matches, rtol=self.rtol, atol=self.atol)
        self.fail(AssertionError, msg)


def _as_dm() -> Any:
    """The package (imported lazily: this module is imported while the package loads)."""
    import democratising

    return democratising


def _as_tensor(x: Any) -> _core.Tensor:
    return _as_dm().as_tensor(x)


_PAIR_TYPES = (_NonePair, _BooleanPair, _NumberPair, _TensorLikePair)


def _originate_pairs(
    actual: Any, expected: Any, id: tuple[Any, ...], options: _Options
) -> list[_Pair]:
    """The pairs to compare: sequences (not strings) and mappings are walked item by item."""
    seq = collections.abc.Sequence
    if (
        isinstance(actual, seq)
        and isinstance(expected, seq)
        and not isinstance(actual, str)
        and not isinstance(expected, str)
    ):
        if len(actual) != len(expected):
            raise _ComparisonError(
                AssertionError,
                f"The length of the sequences mismatch: {len(actual)} != {len(expected)}",
                id=id,
            )
        pairs: list[_Pair] = []
        for i in range(len(actual)):
            pairs.extend(_originate_pairs(actual[i], expected[i], (*id, i), options))
        return pairs
    mapping = collections.abc.Mapping
    if isinstance(actual, mapping) and isinstance(expected, mapping):
        actual_keys, expected_keys = set(actual.keys()), set(expected.keys())
        if actual_keys != expected_keys:
            raise _ComparisonError(
                AssertionError,
                "The keys of the mappings do not match:\n"
                f"Missing keys in the actual mapping: {sorted(expected_keys - actual_keys)}\n"
                f"Additional keys in the actual mapping: {sorted(actual_keys - expected_keys)}",
                id=id,
            )
        keys: Any = actual_keys
        with contextlib.suppress(Exception):  # (sorted when it can be: the first failure is stable)
            keys = sorted(keys)
        pairs = []
        for key in keys:
            pairs.extend(_originate_pairs(actual[key], expected[key], (*id, key), options))
        return pairs
    for pair_type in _PAIR_TYPES:
        try:
            return [pair_type(actual, expected, id, options)]
        except _UnsupportedInputsError:
            continue
    raise _ComparisonError(
        TypeError,
        "No comparison pair was able to handle inputs of type "
        f"{type(actual)} and {type(expected)}.",
        id=id,
    )


def assert_close(
    actual: Any,
    expected: Any,
    *,
    allow_subclasses: bool = True,
    rtol: Optional[float] = None,
    atol: Optional[float] = None,
    equal_nan: bool = False,
    check_device: bool = True,
    check_dtype: bool = True,
    check_layout: bool = True,
    check_stride: bool = False,
    msg: Msg = None,
) -> None:
    """PyTorch's ``torch.testing.assert_close``: raise ``AssertionError`` unless ``actual`` and
    ``expected`` are close, ``|actual - expected| <= atol + rtol * |expected|`` elementwise
    (infinities only equal to themselves, NaNs equal only with ``equal_nan``).

    Tensors (and NumPy arrays) must also agree in shape, and unless switched off in device and
    dtype; without ``rtol``/``atol`` (give both or neither) the dtype's default tolerances apply
    (float16 1e-3/1e-5, bfloat16 1.6e-2/1e-5, float32 1.3e-6/1e-5, float64 1e-7/1e-7, exact for
    integers and bools). Python numbers compare as int64/float64; sequences and mappings are
    compared item by item. ``msg`` replaces the message, or (a callable) rewrites it. Inputs no
    comparison takes (a tensor against a number, say) raise ``TypeError``; a lone ``rtol`` or
    ``atol`` raises ``ValueError``."""
    __tracebackhide__ = True  # (pytest: the failure points at the caller)
    options = _Options(
        allow_subclasses=allow_subclasses,
        rtol=rtol,
        atol=atol,
        equal_nan=equal_nan,
        check_device=check_device,
        check_dtype=check_dtype,
        check_layout=check_layout,
        check_stride=check_stride,
    )
    try:
        pairs = _originate_pairs(actual, expected, (), options)
    except _ComparisonError as meta:
        raise meta.to_error() from None
    for pair in pairs:
        try:
            pair.compare()
        except _ComparisonError as meta:
            raise meta.to_error(msg) from None


def assert_allclose(
    actual: Any,
    expected: Any,
    rtol: Optional[float] = None,
    atol: Optional[float] = None,
    equal_nan: bool = True,
    msg: str = "",
) -> None:
    """PyTorch's deprecated ``torch.testing.assert_allclose`` (``FutureWarning``): non-tensors
    become tensors (``expected`` in ``actual``'s dtype), dtypes are not checked, NaNs are equal
    by default, and the default tolerances are its older, looser ones."""
    warnings.warn(
        "`dm.testing.assert_allclose()` is deprecated (as `torch.testing.assert_allclose()` "
        "since 1.12). Please use `dm.testing.assert_close()` instead: it checks dtypes, and "
        "treats NaNs as unequal unless equal_nan=True.",
        FutureWarning,
        stacklevel=2,
    )
    dm = _as_dm()
    if not isinstance(actual, _core.Tensor):
        actual = dm.tensor(actual)
    if not isinstance(expected, _core.Tensor):
        expected = dm.tensor(expected, dtype=actual.dtype)
    if rtol is None and atol is None:
        rtol, atol = _default_tolerances(
            actual.dtype,
            expected.dtype,
            precisions={
                _core.float16: (1e-3, 1e-3),
                _core.float32: (1e-4, 1e-5),
                _core.float64: (1e-5, 1e-8),
            },
        )
    assert_close(
        actual,
        expected,
        rtol=rtol,
        atol=atol,
        equal_nan=equal_nan,
        check_device=True,
        check_dtype=False,
        check_stride=False,
        msg=msg or None,
    )


def make_tensor(
    *shape: Union[int, tuple[int, ...], list[int]],
    dtype: Any,
    device: Any,
    low: Optional[float] = None,
    high: Optional[float] = None,
    requires_grad: bool = False,
    noncontiguous: bool = False,
    exclude_zero: bool = False,
    memory_format: Any = None,
) -> _core.Tensor:
    """PyTorch's ``torch.testing.make_tensor``: a tensor of ``shape`` with values drawn
    uniformly from ``[low, high)``; by default ``[0, 2)`` for bool, ``[-9, 10)`` for integers
    and ``[-9, 9)`` for floats, and bounds outside the dtype's finite range are clamped to it.
    ``noncontiguous`` gives a strided view (when there are two or more elements);
    ``exclude_zero`` replaces zeros by 1 (bool, integers) or the dtype's ``finfo.tiny``."""
    dm = _as_dm()
    integral = (dm.bool, dm.uint8, dm.int8, dm.int16, dm.int32, dm.int64)
    floating = (dm.float16, dm.bfloat16, dm.float32, dm.float64)

    def bounds(
        lowest: float, highest: float, default_low: float, default_high: float
    ) -> tuple[Any, Any]:
        lo = low if low is not None else default_low
        hi = high if high is not None else default_high
        if any(isinstance(v, float) and math.isnan(v) for v in (lo, hi)):
            raise InvalidValueError(
                f"`low` and `high` cannot be NaN, but got low={lo} and high={hi}"
            )
        if lo == hi and dtype in floating:
            warnings.warn(
                "Passing `low==high` to `make_tensor` for floating types is deprecated "
                "(as in PyTorch since 2.1). Use `dm.full(...)` instead.",
                FutureWarning,
                stacklevel=3,
            )
        elif lo >= hi:
            raise InvalidValueError(f"`low` must be less than `high`, but got {lo} >= {hi}")
        elif hi < lowest or lo >= highest:
            raise InvalidValueError(
                f"The value interval specified by `low` and `high` is [{lo}, {hi}), "
                f"but {dtype} only supports [{lowest}, {highest})"
            )
        lo, hi = min(max(lo, lowest), highest), min(max(hi, lowest), highest)
        return (math.ceil(lo), math.ceil(hi)) if dtype in integral else (lo, hi)

    if len(shape) == 1 and isinstance(shape[0], collections.abc.Sequence):
        shape = tuple(shape[0])
    dims = tuple(int(s) for s in shape)  # type: ignore[arg-type]
    if noncontiguous and memory_format is not None:
        raise InvalidValueError(
            "The parameters `noncontiguous` and `memory_format` are mutually exclusive, "
            f"but got noncontiguous={noncontiguous} and memory_format={memory_format}"
        )
    if requires_grad and dtype in integral:
        raise InvalidValueError(
            "`requires_grad=True` is not supported for boolean and integral dtypes, "
            f"but got dtype={dtype}"
        )
    noncontiguous = noncontiguous and math.prod(dims) > 1
    if noncontiguous:
        dims = (*dims[:-1], 2 * dims[-1])

    if dtype == dm.bool:
        lo, hi = bounds(0, 2, 0, 2)
        result = dm.randint(lo, hi, dims, dtype=dm.bool, device=device)
    elif dtype in integral:
        info = dm.iinfo(dtype)
        lo, hi = bounds(info.min, info.max + (1 if dtype != dm.int64 else 0), -9, 10)
        result = dm.randint(lo, hi, dims, dtype=dtype, device=device)
    elif dtype in floating:
        info = dm.finfo(dtype)
        lo, hi = bounds(info.min, info.max, -9, 9)
        result = dm.empty(dims, dtype=dtype, device=device)
        if hi - lo >= info.max:  # (the width would overflow: draw half of it and double)
            result.uniform_(lo / 2, hi / 2).mul_(2)
        else:
            result.uniform_(lo, hi)
    else:
        raise ArgumentTypeError(
            f"The requested dtype '{dtype}' is not supported by make_tensor(): it makes "
            "bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32 and float64 tensors"
        )

    if noncontiguous:
        result = result[..., 1::2]
    elif memory_format is not None:
        result = result.clone(memory_format=memory_format)
    if exclude_zero:
        zero = result == 0
        if bool(zero.any()):
            result[zero] = 1 if dtype in integral else dm.finfo(dtype).tiny
    if dtype in floating:
        result.requires_grad_(requires_grad)
    return result
