"""PyTorch's elementwise math functions and aliases written in Python over the engine's ops,
installed as free functions (``dm.hypot``) and, where PyTorch has them, as ``Tensor`` methods
(``METHODS``, merged into ``_tensor_extra.METHODS``) with their in-place forms: the aliases
(``absolute``, ``arccos``... of the engine's ``acos``..., ``exp2``, ``negative``,
``multiply``, ``divide``, ``greater``..., ``concat``, ``swapaxes``, ``t``, ``msort``,
``fix``), the differentiable composites (``deg2rad``, ``logaddexp2``, ``hypot``,
``fmax``/``fmin``, ``sinc``, ``copysign``, ``xlogy``, ``float_power``, ``ldexp``, ``logit``)
and the tests and integer ops, whose values NumPy computes on the host where the engine has
no op (``signbit``, ``frexp``, ``gcd``/``lcm``, the ``bitwise_*`` ops, ``nextafter``): they
carry no gradient, as in PyTorch (``nextafter`` passes its input's, as PyTorch's does), and a
CUDA input's result comes back on its device. Dtypes
follow PyTorch's promotion; integer inputs of float-valued functions give the default float
dtype."""

from __future__ import annotations

import builtins
import functools
import math
from collections.abc import Sequence
from typing import Any, Callable, Literal, NamedTuple, Optional, Union, cast

import numpy as np

from . import _core, _functional_ops
from ._core import Tensor
from ._function import Function, FunctionCtx
from ._opmath import in_float32
from ._tensor_extra import (
    _float_test,
    _from_host,
    _host,
    _inplace_source,
    _takes_tensor,
    broadcast_shapes,
)
from ._tensor_more import _inplace_of, _result_dtype
from .errors import (
    ArgumentTypeError,
    DTypeError,
    IndexOutOfRangeError,
    InvalidValueError,
    ShapeError,
)

_Number = Union[int, float, bool]
_Operand = Union[Tensor, int, float, bool]


class FrexpResult(NamedTuple):
    """``(mantissa, exponent)`` of ``frexp``."""

    mantissa: Tensor
    exponent: Tensor


# ---- helpers ---------------------------------------------------------------------------------


def _float_of(dtype: Any) -> Any:
    """``dtype`` if floating, else the default float dtype (PyTorch's int -> float rule)."""
    return dtype if dtype.is_floating_point else _core._default_dtype()


def _like(v: _Operand, dtype: Any, device: Any) -> Tensor:
    """``v`` as a tensor of ``dtype`` (a Python number becomes a 0-d tensor on ``device``)."""
    if isinstance(v, Tensor):
        return v.to(dtype)
    return _core.full((), v, dtype=dtype, device=device)


def _check_other(op: str, other: Any, numbers: bool = True) -> None:
    allowed: tuple[type, ...] = (Tensor, int, float, bool) if numbers else (Tensor,)
    if not isinstance(other, allowed):
        raise ArgumentTypeError(
            f"{op}(): argument 'other' must be Tensor, not {type(other).__name__}"
        )


def _device_of(*operands: Any) -> Any:
    for v in operands:
        if isinstance(v, Tensor):
            return v.device
    return None


# ---- aliases ---------------------------------------------------------------------------------


def _unary_alias(name: str, target: str) -> Callable[[Tensor], Tensor]:
    """Builds ``name(x)``, PyTorch's other spelling of the ``Tensor.<target>`` method, with its
    own name (shown in errors and as a method) and docstring: one body for the whole family."""

    def alias(x: Tensor) -> Tensor:
        return getattr(x, target)()  # type: ignore[no-any-return]

    alias.__name__ = alias.__qualname__ = name
    alias.__doc__ = f"Alias of ``{target}``."
    return _takes_tensor(alias)


def _binary_alias(name: str, target: str) -> Callable[[Tensor, _Operand], Tensor]:
    """Builds ``name(x, other)``, PyTorch's other spelling of the ``Tensor.<target>`` method
    (arithmetic and comparisons), as ``_unary_alias`` does for one operand."""

    def alias(x: Tensor, other: _Operand) -> Tensor:
        return getattr(x, target)(other)  # type: ignore[no-any-return]

    alias.__name__ = alias.__qualname__ = name
    alias.__doc__ = f"Alias of ``{target}``."
    return _takes_tensor(alias)


absolute = _unary_alias("absolute", "abs")
arccos = _unary_alias("arccos", "acos")
arcsin = _unary_alias("arcsin", "asin")
arctan = _unary_alias("arctan", "atan")
arccosh = _unary_alias("arccosh", "acosh")
arcsinh = _unary_alias("arcsinh", "asinh")
arctanh = _unary_alias("arctanh", "atanh")
negative = _unary_alias("negative", "neg")


@_takes_tensor
def positive(x: Tensor) -> Tensor:
    """``x`` itself; bool tensors raise ``DTypeError`` as in PyTorch."""
    if x.dtype == _core.bool:
        raise DTypeError("The `+` operator, on a bool tensor is not supported.")
    return x


def _number_first(name: str, x: Any, other: Any, **kwargs: Any) -> Optional[Tensor]:
    """``name(x, other)`` for a Python number ``x`` and a tensor ``other``, which PyTorch
    accepts for its arithmetic aliases (``dm.multiply(2, t)``); ``None`` for other operands,
    whose ``TypeError`` ``_takes_tensor`` raises."""
    if isinstance(x, (int, float)) and isinstance(other, Tensor):
        return _functional_ops.number_first(name, x, other, **kwargs)
    return None


def _takes_number_first(target: str) -> Callable[[Callable[..., Tensor]], Callable[..., Tensor]]:
    """``fn`` checked by ``_takes_tensor``, except that a Python number may come first when
    ``other`` is a tensor: then it runs as ``Tensor.<target>`` on the number as a 0-d tensor."""

    def wrap(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
        checked = _takes_tensor(fn)

        @functools.wraps(fn)
        def alias(input: Any, other: Any, **kwargs: Any) -> Tensor:
            out = _number_first(target, input, other, **kwargs)
            return checked(input, other, **kwargs) if out is None else out

        return alias

    return wrap


@_takes_number_first("mul")
def multiply(x: Tensor, other: _Operand) -> Tensor:
    """Alias of ``mul``."""
    return x.mul(other)


@_takes_number_first("sub")
def subtract(x: Tensor, other: _Operand, *, alpha: _Number = 1) -> Tensor:
    """Alias of ``sub``: ``x - alpha * other``."""
    if alpha == 1:
        return x.sub(other)
    return x.sub(other * alpha)


@_takes_number_first("div")
def divide(
    x: Tensor, other: _Operand, *, rounding_mode: Optional[Literal["trunc", "floor"]] = None
) -> Tensor:
    """Alias of ``div`` (``rounding_mode`` ``None``, ``"trunc"`` or ``"floor"``)."""
    return x.div(other, rounding_mode=rounding_mode)


greater = _binary_alias("greater", "gt")
greater_equal = _binary_alias("greater_equal", "ge")
less = _binary_alias("less", "lt")
less_equal = _binary_alias("less_equal", "le")
not_equal = _binary_alias("not_equal", "ne")


def concat(tensors: Sequence[Tensor], dim: int = 0, *, axis: Optional[int] = None) -> Tensor:
    """Alias of ``cat`` (``axis=``, NumPy's name, as PyTorch's parser also takes it)."""
    return _core.cat(list(tensors), dim if axis is None else axis)


def concatenate(tensors: Sequence[Tensor], axis: int = 0, *, dim: Optional[int] = None) -> Tensor:
    """Alias of ``cat`` (NumPy's ``axis`` name; ``dim=`` as PyTorch's parser also takes it)."""
    return _core.cat(list(tensors), axis if dim is None else dim)


@_takes_tensor
def swapaxes(x: Tensor, axis0: int, axis1: int) -> Tensor:
    """Alias of ``transpose``."""
    return x.transpose(axis0, axis1)


@_takes_tensor
def swapdims(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Alias of ``transpose``."""
    return x.transpose(dim0, dim1)


@_takes_tensor
def t(x: Tensor) -> Tensor:
    """The transpose of a tensor of at most 2 dims (0-d and 1-D come back as they are)."""
    if x.ndim > 2:
        raise ShapeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return x.t()


@_takes_tensor
def msort(x: Tensor) -> Tensor:
    """``sort(x, dim=0).values``."""
    return x.sort(0).values


fix = _unary_alias("fix", "trunc")


# ---- differentiable composites ---------------------------------------------------------------


@_takes_tensor
def deg2rad(x: Tensor) -> Tensor:
    """Degrees to radians (integer and bool input give the default float dtype)."""
    return x.to(_float_of(x.dtype)) * (math.pi / 180.0)


@_takes_tensor
def rad2deg(x: Tensor) -> Tensor:
    """Radians to degrees (integer and bool input give the default float dtype)."""
    return x.to(_float_of(x.dtype)) * (180.0 / math.pi)


@_takes_tensor
def exp2(x: Tensor) -> Tensor:
    """``2 ** x`` elementwise: the engine's ``exp2`` (integer and bool input give the default
    float dtype; the engine refuses bool, so it is converted first)."""
    return (x.to(_float_of(x.dtype)) if x.dtype == _core.bool else x).exp2()


def _float_operands(op: str, x: Tensor, other: Any) -> tuple[Tensor, Tensor]:
    """``x`` and ``other`` as tensors of their promoted dtype, made floating."""
    _check_other(op, other)
    dtype = _float_of(_result_dtype(x, other))
    return x.to(dtype), _like(other, dtype, x.device)


@_takes_tensor
def logaddexp2(x: Tensor, other: Tensor) -> Tensor:
    """``log2(2**x + 2**other)`` without overflow (floating inputs; infinities of equal sign
    give them)."""
    _check_other("logaddexp2", other, numbers=False)
    dtype = _result_dtype(x, other)
    if not dtype.is_floating_point:
        raise DTypeError(f"\"logaddexp2\" not implemented for '{dtype}' inputs (floating only)")
    wide = _core.float32 if dtype in (_core.float16, _core.bfloat16) else dtype
    a, b = x.to(wide), other.to(wide)  # (half: float32 inside, rounded once, as PyTorch)
    first = (a >= b).detach()
    hi, lo = _core.where(first, a, b), _core.where(first, b, a)
    gap = _core.where(hi.isinf() & (lo == hi), 0.0, lo - hi)
    out = hi + (2.0**gap).log1p() * (1.0 / math.log(2.0))
    return out if wide == dtype else out.to(dtype)


@_takes_tensor
@in_float32  # half types: the scaled form rounded once, as PyTorch's
def hypot(x: Tensor, other: Tensor) -> Tensor:
    """``sqrt(x**2 + other**2)``, scaled so that it overflows only where the result does
    (floating inputs only, as in PyTorch)."""
    _check_other("hypot", other, numbers=False)
    dtype = _result_dtype(x, other)
    if not dtype.is_floating_point:
        raise DTypeError(f"\"hypot\" not implemented for '{dtype}' inputs (floating only)")
    a, b = x.to(dtype), other.to(dtype)
    m = a.abs().maximum(b.abs()).detach()
    m = _core.where((m == 0) | m.isinf() | (m != m), 1.0, m)
    r = m * ((a / m).square() + (b / m).square()).sqrt()
    inf = a.isinf() | b.isinf()
    return _core.where(inf, math.inf, r)


def _fextreme(op: str, x: Tensor, other: Tensor, pick: Callable[..., Tensor]) -> Tensor:
    _check_other(op, other, numbers=False)
    dtype = _result_dtype(x, other)
    a, b = x.to(dtype), other.to(dtype)
    out = pick(a, b)
    if not dtype.is_floating_point:
        return out
    # Where both are NaN the result is ``a``'s NaN, so the gradient goes to ``input`` (PyTorch).
    return _core.where(b != b, a, _core.where(a != a, b, out))


@_takes_tensor
def fmax(x: Tensor, other: Tensor) -> Tensor:
    """Elementwise maximum, taking the other value where one of them is NaN (NaN only where
    both are)."""
    return _fextreme("fmax", x, other, _core.Tensor.maximum)


@_takes_tensor
def fmin(x: Tensor, other: Tensor) -> Tensor:
    """Elementwise minimum, taking the other value where one of them is NaN (NaN only where
    both are)."""
    return _fextreme("fmin", x, other, _core.Tensor.minimum)


@_takes_tensor
def sinc(x: Tensor) -> Tensor:
    """The normalized sinc ``sin(pi x) / (pi x)``, 1 at 0 (with gradient 0 there). Half
    precision computes in float32 and rounds once (PyTorch's opmath): ``pi * x`` in float16
    loses the phase and overflows."""
    dtype = _float_of(x.dtype)
    xf = x.to(_core.float32 if dtype in (_core.float16, _core.bfloat16) else dtype)
    zero = (xf == 0).detach()
    px = _core.where(zero, 1.0, xf) * math.pi
    out = _core.where(zero, 1.0, px.sin() / px)
    return out if out.dtype == dtype else out.to(dtype)


@_takes_tensor
def copysign(x: Tensor, other: _Operand) -> Tensor:
    """``|x|`` with the sign of ``other`` (signed zeros count; float result); the gradient
    reaches ``x`` only."""
    a, b = _float_operands("copysign", x, other)
    neg = _from_host(np.signbit(_host(b)), _core.bool, b.device)
    shape = broadcast_shapes(a.shape, b.shape)
    mag = a.abs().expand(shape)
    out = _core.where(neg.expand(shape), -mag, mag)
    if b.requires_grad and _core.is_grad_enabled():
        # Joins ``other`` to the graph with a zero gradient, as PyTorch's (whose result
        # requires grad even when only ``other`` does).
        keep = _core.ones(shape, dtype=_core.bool, device=out.device)
        out = _core.where(keep, out, b.expand(shape))
    return out


def xlogy(input: _Operand, other: _Operand) -> Tensor:
    """``input * log(other)``, 0 where ``input`` is 0 unless ``other`` is NaN (either may be a
    number; float result; differentiable in both)."""
    x = input
    if not isinstance(x, Tensor) and not isinstance(other, Tensor):
        raise ArgumentTypeError("xlogy(): at least one of 'input' and 'other' must be a Tensor")
    _check_other("xlogy", other)
    dtype = _float_of(_result_dtype(x, other))
    device = _device_of(x, other)
    a, b = _like(x, dtype, device), _like(other, dtype, device)
    safe = ((a == 0) & (b == b)).detach()
    out = a * _core.where(safe, 1.0, b).log()
    if not a.requires_grad:
        return out
    # Where the product is dropped (x = 0), d/dx is still log(y) for y > 0, as PyTorch's: a
    # term that is exactly 0 in value (also at y = inf) with the derivatives of x * log(y).
    slope_at = (safe & (b > 0)).detach()
    slope = _core.where(slope_at, b, 1.0).log()
    shape = out.shape
    return out + _ZeroProduct.apply(a.expand(shape), slope.expand(shape))


class _ZeroProduct(Function):
    """``x * s`` pinned to 0 in the forward (used where ``x == 0``; a product would give NaN
    for an infinite ``s``), with the product's derivatives: ``s`` in x and ``x`` in s. The
    latter is 0 there but keeps its graph, so the mixed second derivative ``ds/dy`` survives
    (``xlogy``, ``special.xlog1py`` at ``x = 0``, as PyTorch's)."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, s: Tensor) -> Tensor:
        ctx.save_for_backward(x, s)
        return _core.zeros(x.shape, dtype=x.dtype, device=x.device)

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> tuple[Optional[Tensor], Optional[Tensor]]:  # type: ignore[override]
        x, s = cast("tuple[Tensor, Tensor]", ctx.saved_tensors)
        need_x, need_s = ctx.needs_input_grad
        return (g * s if need_x else None), (g * x if need_s else None)


def float_power(input: _Operand, exponent: _Operand) -> Tensor:
    """``x ** exponent`` computed in float64 (either may be a number; differentiable)."""
    x = input
    if not isinstance(x, Tensor) and not isinstance(exponent, Tensor):
        raise ArgumentTypeError(
            "float_power(): at least one of 'input' and 'exponent' must be a Tensor"
        )
    if not isinstance(x, Tensor):
        if not isinstance(x, (int, float, bool)):
            raise ArgumentTypeError(
                f"float_power(): argument 'input' must be Tensor, not {type(x)}"
            )
        return exponent.to(_core.float64).__rpow__(float(x))  # type: ignore[union-attr]
    _check_other("float_power", exponent)
    if isinstance(exponent, Tensor):
        return x.to(_core.float64).pow(exponent.to(_core.float64))
    return x.to(_core.float64).pow(float(exponent))


def _float_power_(x: Tensor, exponent: _Operand) -> Tensor:
    if x.dtype != _core.float64:
        raise DTypeError(
            "the base given to float_power_ has dtype "
            f"{x.dtype} but the operation's result requires dtype float64"
        )
    src, (exponent,) = _inplace_source(x, (exponent,))  # (the graph must not save `x`)
    x.copy_(float_power(src, exponent))
    return x


_float_power_.__name__ = _float_power_.__qualname__ = "float_power_"
_float_power_.__doc__ = "In-place ``float_power`` (this tensor must be float64)."


@_takes_tensor
def ldexp(x: Tensor, other: Tensor) -> Tensor:
    """``x * 2 ** other`` (float result; differentiable in both)."""
    _check_other("ldexp", other, numbers=False)
    dtype = _float_of(_result_dtype(x, other))
    return x.to(dtype) * 2.0 ** other.to(dtype)


@_takes_tensor
def logit(x: Tensor, eps: Optional[float] = None) -> Tensor:
    """``log(x / (1 - x))``, with ``x`` first clamped to ``[eps, 1 - eps]`` when ``eps >= 0``
    is given. Gradients as PyTorch's: NaN outside ``[0, 1]`` without ``eps`` (NaN is added
    there, so the log's slope is NaN too); with it, 0 only where ``x`` is strictly outside
    the bounds (ties and NaN keep theirs; ``x < eps`` gives ``eps`` even when ``eps > 0.5``)."""
    dtype = _float_of(x.dtype)
    z = x.to(_core.float32 if dtype in (_core.float16, _core.bfloat16) else dtype)
    if eps is None or not eps >= 0:  # (None, negative or NaN: no clamp, as in PyTorch)
        z = _core.where((z < 0) | (z > 1), z + math.nan, z)
    else:
        lo = _core.full((), eps, dtype=dtype, device=z.device)  # (bounds in x's dtype)
        lo, hi = lo.to(z.dtype), (1 - lo).to(z.dtype)
        z = _core.where(z < lo, lo, _core.where(z > hi, hi, z))
    out = z.log() - (-z).log1p()
    return out if out.dtype == dtype else out.to(dtype)  # (half: float32 inside, rounded once)


# ---- values computed on the host (no gradient) -----------------------------------------------


@_takes_tensor
def signbit(x: Tensor) -> Tensor:
    """Whether the sign bit is set (true for -0.0 and negative NaN) as a bool tensor."""
    if x.dtype == _core.bool:
        return _core.zeros(x.shape, dtype=_core.bool, device=x.device)
    return _from_host(np.signbit(_host(x)), _core.bool, x.device)


@_takes_tensor
def heaviside(x: Tensor, values: Tensor) -> Tensor:
    """The step function: 0 where ``x < 0``, ``values`` where ``x == 0``, 1 where ``x > 0``
    (both of one dtype, as PyTorch requires; no gradient)."""
    _check_other("heaviside", values, numbers=False)
    if x.dtype != values.dtype:
        raise DTypeError(
            "heaviside is not yet implemented for tensors with different dtypes "
            f"({x.dtype} and {values.dtype})"
        )
    a, v = x.detach(), values.detach()
    step = (a > 0).to(x.dtype)
    return _core.where(a == 0, v, step)


@_takes_tensor
def isposinf(x: Tensor) -> Tensor:
    """Whether each element is ``+inf``."""
    return _float_test(x, lambda t: t.detach() == math.inf)


@_takes_tensor
def isneginf(x: Tensor) -> Tensor:
    """Whether each element is ``-inf``."""
    return _float_test(x, lambda t: t.detach() == -math.inf)


@_takes_tensor
def isreal(x: Tensor) -> Tensor:
    """Whether each element is real: all true (the engine has no complex dtypes)."""
    return _core.ones(x.shape, dtype=_core.bool, device=x.device)


@_takes_tensor
def is_complex(x: Tensor) -> bool:
    """Whether ``x`` has a complex dtype (the engine has none: always ``False``)."""
    return builtins.bool(x.is_complex())


@_takes_tensor
def is_nonzero(x: Tensor) -> bool:
    """Whether the single element of ``x`` is nonzero (other sizes raise ``ShapeError``)."""
    n = x.numel()
    if n == 0:
        raise ShapeError("Boolean value of Tensor with no values is ambiguous")
    if n > 1:
        raise ShapeError("Boolean value of Tensor with more than one value is ambiguous")
    return bool(x.detach().reshape(()).item() != 0)


@_takes_tensor
def frexp(x: Tensor) -> FrexpResult:
    """``(mantissa, exponent)`` with ``x == mantissa * 2 ** exponent`` and
    ``0.5 <= |mantissa| < 1`` (floating input; int32 exponent; no gradient)."""
    if not x.dtype.is_floating_point:
        raise DTypeError(
            f"torch.frexp() only supports floating-point dtypes, but got {x.dtype} as input"
        )
    m, e = np.frexp(_host(x))
    return FrexpResult(_from_host(m, x.dtype, x.device), _from_host(e, _core.int32, x.device))


def _int_operands(op: str, x: Tensor, other: Any, allow_bool: bool) -> tuple[Any, Any, Any]:
    """Host values of ``x`` and ``other`` in their promoted integer (or bool) dtype."""
    _check_other(op, other)
    dtype = _result_dtype(x, other)
    if dtype.is_floating_point or (dtype == _core.bool and not allow_bool):
        raise DTypeError(f"\"{op}\" not implemented for '{dtype}' (integer tensors only)")
    if isinstance(other, float):
        raise DTypeError(f"{op}(): a float 'other' does not fit an integer operation")
    a = _host(x.to(dtype))
    b = _host(other.to(dtype)) if isinstance(other, Tensor) else _number_as(other, dtype, a.dtype)
    return a, b, dtype


def _number_as(value: Any, dtype: Any, np_dtype: Any) -> Any:
    """A Python number for an integer op of ``dtype``: an int wrapped to its width
    (``u8 & ~1``), as PyTorch."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = _functional_ops.wrap_int(value, dtype)
    return np.asarray(value, np_dtype)


@_takes_tensor
def gcd(x: Tensor, other: Tensor) -> Tensor:
    """Elementwise greatest common divisor (non-negative) of integer tensors."""
    _check_other("gcd", other, numbers=False)
    a, b, dtype = _int_operands("gcd", x, other, allow_bool=False)
    return _from_host(np.gcd(a, b), dtype, x.device)


@_takes_tensor
def lcm(x: Tensor, other: Tensor) -> Tensor:
    """Elementwise least common multiple (non-negative) of integer tensors."""
    _check_other("lcm", other, numbers=False)
    a, b, dtype = _int_operands("lcm", x, other, allow_bool=False)
    return _from_host(np.lcm(a, b), dtype, x.device)


def _bitwise(op: str, ufunc: Any, x: _Operand, other: _Operand) -> Tensor:
    if isinstance(x, Tensor):
        a, b, dtype = _int_operands(op, x, other, allow_bool=True)
        return _from_host(ufunc(a, b), dtype, x.device)
    if not isinstance(other, Tensor):
        raise ArgumentTypeError(f"{op}(): argument 'input' must be Tensor, not {type(x).__name__}")
    _check_other(op, x)
    dtype = _result_dtype(other, x)
    if dtype.is_floating_point or isinstance(x, float):
        raise DTypeError(f"\"{op}\" not implemented for '{dtype}' (integer or bool only)")
    b = _host(other.to(dtype))
    return _from_host(ufunc(_number_as(x, dtype, b.dtype), b), dtype, other.device)


def bitwise_and(input: _Operand, other: _Operand) -> Tensor:
    """Elementwise bitwise AND of integer or bool tensors (or one of them a number)."""
    return _bitwise("bitwise_and", np.bitwise_and, input, other)


def bitwise_or(input: _Operand, other: _Operand) -> Tensor:
    """Elementwise bitwise OR of integer or bool tensors (or one of them a number)."""
    return _bitwise("bitwise_or", np.bitwise_or, input, other)


def bitwise_xor(input: _Operand, other: _Operand) -> Tensor:
    """Elementwise bitwise XOR of integer or bool tensors (or one of them a number)."""
    return _bitwise("bitwise_xor", np.bitwise_xor, input, other)


@_takes_tensor
def bitwise_not(x: Tensor) -> Tensor:
    """Elementwise bitwise NOT of an integer or bool tensor (logical NOT for bool)."""
    if x.dtype.is_floating_point:
        raise DTypeError(f"\"bitwise_not\" not implemented for '{x.dtype}'")
    return _from_host(np.invert(_host(x)), x.dtype, x.device)


def _shift(op: str, left: bool, x: _Operand, other: _Operand) -> Tensor:
    def ufunc(a: np.ndarray, s: np.ndarray) -> np.ndarray:
        if a.dtype == np.bool_:
            raise DTypeError(f"\"{op}\" not implemented for 'bool'")
        width = a.dtype.itemsize * 8
        s = np.broadcast_to(s, np.broadcast_shapes(a.shape, np.shape(s)))
        out_of_range = (s < 0) | (s >= width)
        safe = np.where(out_of_range, 0, s).astype(a.dtype)
        if left:
            return np.where(out_of_range, 0, np.left_shift(a, safe)).astype(a.dtype)
        over = np.where(a < 0, -1, 0).astype(a.dtype)
        return np.where(out_of_range, over, np.right_shift(a, safe)).astype(a.dtype)

    return _bitwise(op, ufunc, x, other)


def bitwise_left_shift(input: _Operand, other: _Operand) -> Tensor:
    """``x << other`` elementwise for integer tensors (shifts past the width give 0)."""
    return _shift("bitwise_left_shift", True, input, other)


def bitwise_right_shift(input: _Operand, other: _Operand) -> Tensor:
    """``x >> other`` elementwise (arithmetic) for integer tensors."""
    return _shift("bitwise_right_shift", False, input, other)


@_takes_tensor
def nextafter(x: Tensor, other: Tensor) -> Tensor:
    """The next representable value after ``x`` towards ``other`` in their promoted floating
    dtype (bfloat16 included, stepping its 16-bit pattern). As PyTorch's, its gradient is
    the identity for ``x`` and zero for ``other``."""
    _check_other("nextafter", other, numbers=False)
    dtype = _result_dtype(x, other)
    if not dtype.is_floating_point:
        raise DTypeError(f"\"nextafter\" not implemented for '{dtype}'")
    shape = broadcast_shapes(x.shape, other.shape)  # (PyTorch's error, not NumPy's alone)
    return _NextAfter.apply(x.to(dtype).expand(shape), other.to(dtype).expand(shape))  # type: ignore[no-any-return]


class _NextAfter(Function):
    """``nextafter`` on the host (NumPy's, bfloat16 by its bit pattern), one step away from
    ``x``: the gradient passes to ``x`` unchanged."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, other: Tensor) -> Tensor:
        dtype = x.dtype
        a, b = _host(x), _host(other)
        if dtype == _core.bfloat16:
            return _from_host(_nextafter_bfloat16(a, b), dtype, x.device)
        if dtype == _core.float16:
            a, b = a.astype(np.float16), b.astype(np.float16)
        return _from_host(np.nextafter(a, b), dtype, x.device)

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        return g, _core.zeros(tuple(g.shape), dtype=g.dtype, device=g.device)


def _nextafter_bfloat16(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``nextafter`` of bfloat16 values held as float32 (NumPy has no bfloat16): one step of
    the upper 16 bits, away from zero when moving outwards, as IEEE ``nextafter``."""
    a, b = np.broadcast_arrays(np.asarray(a, np.float32), np.asarray(b, np.float32))
    bits = (a.view(np.uint32) >> 16).astype(np.int64)
    outward = (a < b) == (a > 0)
    step = np.where(outward, bits + 1, bits - 1)
    tiny = np.where(b < 0, 0x8001, 0x0001)  # the smallest subnormal, with ``b``'s sign
    step = np.where(a == 0, tiny, step)
    out = (step.astype(np.uint32) << 16).view(np.float32)
    out = np.where(a == b, b, out)
    return np.where(np.isnan(a) | np.isnan(b), np.float32(np.nan), out).astype(np.float32)


def _gradient_along(f: Tensor, d: int, h: Union[float, np.ndarray], edge_order: int) -> Tensor:
    """The second-order-accurate central difference of ``f`` along ``d`` (NumPy's and
    PyTorch's formulas), with first- or second-order one-sided differences at the edges; ``h``
    is the uniform spacing or the coordinates along ``d``."""
    n = f.shape[d]

    def part(start: int, length: int) -> Tensor:
        return f.narrow(d, start, length)

    def along(c: np.ndarray) -> Tensor:
        # Coefficients for the n - 2 interior points, broadcast along ``d``.
        shape = [1] * f.dim()
        shape[d] = c.shape[0]
        return _core.from_numpy(c.reshape(shape).astype(np.float64)).to(f.dtype).to(f.device)

    if isinstance(h, np.ndarray):
        dx = np.diff(h.astype(np.float64))
        dx1, dx2 = dx[:-1], dx[1:]
        a = -dx2 / (dx1 * (dx1 + dx2))
        b = (dx2 - dx1) / (dx1 * dx2)
        c = dx1 / (dx2 * (dx1 + dx2))
        interior = along(a) * part(0, n - 2) + along(b) * part(1, n - 2) + along(c) * part(2, n - 2)
        if edge_order == 1:
            first = (part(1, 1) - part(0, 1)) / float(dx[0])
            last = (part(n - 1, 1) - part(n - 2, 1)) / float(dx[-1])
        else:
            p, q = float(dx[0]), float(dx[1])
            first = (
                -(2 * p + q) / (p * (p + q)) * part(0, 1)
                + (p + q) / (p * q) * part(1, 1)
                - p / (q * (p + q)) * part(2, 1)
            )
            p, q = float(dx[-2]), float(dx[-1])
            last = (
                q / (p * (p + q)) * part(n - 3, 1)
                - (q + p) / (p * q) * part(n - 2, 1)
                + (2 * q + p) / (q * (p + q)) * part(n - 1, 1)
            )
    else:
        step = float(h)
        interior = (part(2, n - 2) - part(0, n - 2)) / (2 * step)
        if edge_order == 1:
            first = (part(1, 1) - part(0, 1)) / step
            last = (part(n - 1, 1) - part(n - 2, 1)) / step
        else:
            first = (-1.5 * part(0, 1) + 2 * part(1, 1) - 0.5 * part(2, 1)) / step
            last = (0.5 * part(n - 3, 1) - 2 * part(n - 2, 1) + 1.5 * part(n - 1, 1)) / step
    return _core.cat([first, interior, last], d)


def gradient(
    input: Tensor,
    *,
    spacing: Union[float, Sequence[Any], Tensor] = 1,
    dim: Optional[Union[int, Sequence[int]]] = None,
    edge_order: int = 1,
) -> tuple[Tensor, ...]:
    """``torch.gradient``: the derivative estimate of ``input`` along each of ``dim`` (all
    dims by default), one tensor per dim, by central differences inside and one-sided ones of
    order ``edge_order`` (1 or 2) at the edges. ``spacing`` is one number for every dim, one
    per dim, or one 1-d tensor of coordinates per dim. Differentiable in ``input``; an integer
    input gives the default float dtype."""
    if edge_order not in (1, 2):
        raise InvalidValueError(
            f"torch.gradient only supports edge_order=1 and edge_order=2, got {edge_order}"
        )
    ndim = input.dim()
    if dim is None:
        dims = list(builtins.range(ndim))
    elif isinstance(dim, int):
        dims = [dim]
    else:
        dims = list(dim)
    bad = [d for d in dims if not -ndim <= d < ndim]
    if bad:  # (an IndexError, as PyTorch's dim wrapping raises)
        raise IndexOutOfRangeError(
            f"Dimension out of range (expected to be in range of [{-ndim}, {ndim - 1}], "
            f"but got {bad[0]})"
        )
    dims = [d + ndim if d < 0 else d for d in dims]
    if len(set(dims)) != len(dims):
        raise ShapeError(f"gradient(): dim {dim} appears multiple times in the list of dims")
    if input.dtype == _core.bool:  # (PyTorch: bool subtraction is refused)
        raise DTypeError("gradient(): bool input is not supported (its differences need `-`)")
    if isinstance(spacing, (int, float)) and not isinstance(spacing, bool):
        spacings: list[Any] = [float(spacing)] * len(dims)
    elif isinstance(spacing, Tensor) and spacing.dim() == 0:
        spacings = [float(spacing.item())] * len(dims)
    else:
        spacings = list(spacing)  # type: ignore[arg-type]
        if len(spacings) == 1 and len(dims) > 1 and not isinstance(spacings[0], Tensor):
            spacings = spacings * len(dims)
        if len(spacings) != len(dims):
            raise ShapeError(
                f"gradient(): expected spacing to be unspecified, a scalar or a list of length "
                f"{len(dims)} (one per dim), got a list of length {len(spacings)}"
            )
    f = input if input.is_floating_point() else input.to(_core._default_dtype())
    out = []
    for d, h in zip(dims, spacings):
        if f.shape[d] < edge_order + 1:
            raise ShapeError(
                "torch.gradient expected each dimension size to be at least edge_order+1"
            )
        fd = f
        if isinstance(h, Tensor):
            coords = np.asarray(_host(h), dtype=np.float64)  # (bfloat16 too)
            if h.dtype == _core.bool:
                raise DTypeError("gradient(): bool coordinates are not supported")
            if coords.ndim == 0:
                h = float(coords)
            elif coords.shape != (f.shape[d],):
                raise ShapeError(
                    f"gradient(): the coordinates along dim {d} must be a 1-d tensor of "
                    f"{f.shape[d]} values, got shape {list(coords.shape)}"
                )
            else:
                # PyTorch divides by coordinate differences: the result takes the dtype of
                # ``input`` promoted with the coordinates' (integer ones as the default float).
                from ._functional_aliases import promote_types  # (lazy: it imports this one)

                hd = h.dtype if h.dtype.is_floating_point else _core._default_dtype()
                fd = f.to(promote_types(input.dtype, hd))
                h = coords
        out.append(_gradient_along(fd, d, h, edge_order))
    return tuple(out)


# ---- registration ----------------------------------------------------------------------------

# The functions that PyTorch also has as in-place ``Tensor`` methods (``x.arccos_()``...;
# ``float_power_`` is added on its own below).
_IN_PLACE = (
    absolute,
    arccos,
    arcsin,
    arctan,
    arccosh,
    arcsinh,
    arctanh,
    negative,
    multiply,
    subtract,
    divide,
    greater,
    greater_equal,
    less,
    less_equal,
    not_equal,
    fix,
    deg2rad,
    rad2deg,
    hypot,
    sinc,
    copysign,
    xlogy,
    ldexp,
    logit,
    heaviside,
    gcd,
    lcm,
    bitwise_and,
    bitwise_or,
    bitwise_xor,
    bitwise_not,
    bitwise_left_shift,
    bitwise_right_shift,
    nextafter,
)

# The ones it has only as out-of-place methods.
_OUT_OF_PLACE_ONLY = (
    positive,
    swapdims,
    msort,
    logaddexp2,
    fmax,
    fmin,
    float_power,
    signbit,
    isposinf,
    isneginf,
    isreal,
    is_nonzero,
    frexp,
)

_OUT_OF_PLACE = _IN_PLACE + _OUT_OF_PLACE_ONLY

#: name -> function(tensor, ...), installed as ``Tensor`` methods by ``_tensor_extra._install``.
METHODS: dict[str, Callable[..., Any]] = {f.__name__: f for f in _OUT_OF_PLACE}
METHODS.update({f"{f.__name__}_": _inplace_of(f) for f in _IN_PLACE})
METHODS["float_power_"] = _float_power_

# (``Tensor.exp2`` is the engine's own method, from its table of unary ops.)
__all__ = [f.__name__ for f in _OUT_OF_PLACE] + [
    "concat",
    "concatenate",
    "exp2",
    "gradient",
    "is_complex",
    "swapaxes",
    "t",
]
