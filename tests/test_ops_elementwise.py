"""Elementwise binary and unary ops against NumPy, type promotion, and float64 gradchecks."""

from __future__ import annotations

import math
import operator
from typing import Callable

import numpy as np
import pytest

import democratising as dm
from helpers import assert_close, gradcheck

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])
_lgamma = np.vectorize(math.lgamma, otypes=[np.float64])
RNG = np.random.default_rng(0)

BINARY: dict[str, tuple[Callable[..., dm.Tensor], Callable[..., np.ndarray]]] = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
    "pow": (lambda a, b: a**b, np.power),
    "maximum": (dm.maximum, np.maximum),
    "minimum": (dm.minimum, np.minimum),
    "remainder": (lambda a, b: a % b, np.remainder),
    "floor_divide": (lambda a, b: a // b, np.floor_divide),
    "add_method": (lambda a, b: a.add(b), np.add),
    "sub_method": (lambda a, b: a.sub(b), np.subtract),
    "mul_fn": (dm.mul, np.multiply),
    "div_fn": (dm.div, np.divide),
}

COMPARE: dict[str, tuple[Callable[..., dm.Tensor], Callable[..., np.ndarray]]] = {
    "eq": (lambda a, b: a == b, np.equal),
    "ne": (lambda a, b: a != b, np.not_equal),
    "lt": (lambda a, b: a < b, np.less),
    "le": (lambda a, b: a <= b, np.less_equal),
    "gt": (lambda a, b: a > b, np.greater),
    "ge": (lambda a, b: a >= b, np.greater_equal),
}

SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((2, 1, 4), (3, 1)),
    ((), (3,)),
    ((5,), ()),
    ((), ()),
    ((0, 3), (3,)),
    ((2, 0), (1, 1)),
]


def _positive(shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    return RNG.uniform(0.5, 2.0, size=shape).astype(dtype)


def _signed(shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    return (RNG.uniform(0.2, 2.0, size=shape) * RNG.choice([-1, 1], size=shape)).astype(dtype)


def _unit(shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    """Inside ``(-0.45, 0.45)``: twice it stays inside ``(-1, 1)``, where asin/atanh live."""
    return RNG.uniform(-0.45, 0.45, size=shape).astype(dtype)


def _above_half(shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    """Above 0.6: twice it is above 1, where acosh lives."""
    return RNG.uniform(0.6, 2.0, size=shape).astype(dtype)


_SAMPLERS = {"positive": _positive, "signed": _signed, "unit": _unit, "above": _above_half}


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize(("sa", "sb"), SHAPES)
def test_binary_broadcast(name: str, sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    f, ref = BINARY[name]
    a = _positive(sa) if name == "pow" else _signed(sa)
    b = _signed(sb)
    out = f(dm.tensor(a), dm.tensor(b))
    assert out.dtype == dm.float32
    assert_close(out, ref(a, b), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(COMPARE))
@pytest.mark.parametrize(("sa", "sb"), SHAPES[:5])
def test_comparisons(name: str, sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    f, ref = COMPARE[name]
    a = RNG.integers(0, 3, size=sa).astype(np.float32)
    b = RNG.integers(0, 3, size=sb).astype(np.float32)
    out = f(dm.tensor(a), dm.tensor(b))
    assert out.dtype == dm.bool
    assert_close(out, ref(a, b))
    assert_close(f(dm.tensor(a), 1), ref(a, 1))
    assert not out.requires_grad
    assert f(dm.tensor(a, requires_grad=True), dm.tensor(b)).grad_fn is None


def test_logical_ops() -> None:
    a = np.array([True, True, False, False])
    b = np.array([True, False, True, False])
    ta, tb = dm.tensor(a), dm.tensor(b)
    assert_close(ta & tb, a & b)
    assert_close(ta | tb, a | b)
    assert_close(ta ^ tb, a ^ b)
    assert_close(~ta, ~a)
    assert_close(dm.logical_not(dm.tensor([0.0, 2.0])), np.array([True, False]))
    assert_close(ta.logical_and(dm.tensor([1, 0, 1, 0])), a & b)


@pytest.mark.parametrize("name", ["add", "mul", "sub", "div", "maximum"])
def test_binary_non_contiguous(name: str) -> None:
    f, ref = BINARY[name]
    base_a = _signed((4, 6))
    base_b = _signed((6, 8))
    a_view = dm.tensor(base_a).T  # (6, 4), transposed
    b_view = dm.tensor(base_b)[::2, 1::2]  # (3, 4), stepped slice
    assert not a_view.is_contiguous() and not b_view.is_contiguous()
    assert_close(f(a_view[1::2], b_view), ref(base_a.T[1::2], base_b[::2, 1::2]), atol=1e-5)
    col = dm.tensor(base_b)[:, 3:4]  # (6, 1) column broadcast against a transposed view
    assert_close(f(a_view, col), ref(base_a.T, base_b[:, 3:4]), atol=1e-5)
    expanded = dm.tensor(base_b[0, :4]).expand(6, 4)
    assert_close(f(expanded, a_view), ref(np.broadcast_to(base_b[0, :4], (6, 4)), base_a.T))


def test_integer_arithmetic() -> None:
    a = np.array([-7, -3, 0, 5, 9], dtype=np.int64)
    b = np.array([2, 3, 4, -2, 5], dtype=np.int64)
    ta, tb = dm.tensor(a), dm.tensor(b)
    assert_close(ta + tb, a + b, check_dtype=dm.int64)
    assert_close(ta * tb, a * b, check_dtype=dm.int64)
    assert_close(ta // tb, a // b, check_dtype=dm.int64)
    assert_close(ta % tb, a % b, check_dtype=dm.int64)
    assert_close(ta / tb, a / b, check_dtype=dm.float32)
    assert_close(ta**2, a**2, check_dtype=dm.int64)
    assert_close(-ta, -a)
    assert_close(ta.abs(), np.abs(a), check_dtype=dm.int64)
    assert_close(dm.tensor([-3.5, 3.5, -1.0]) % 2, np.array([0.5, 1.5, 1.0]))
    assert_close(dm.tensor([-3.5, 3.5]) // 2, np.array([-2.0, 1.0]))


def test_reverse_operators() -> None:
    a = np.array([1.0, 2.0, 4.0], dtype=np.float32)
    t = dm.tensor(a)
    assert_close(2 + t, 2 + a)
    assert_close(2 - t, 2 - a)
    assert_close(3 * t, 3 * a)
    assert_close(1 / t, 1 / a)
    assert_close(2**t, 2**a)
    assert_close(7 // t, 7 // a)
    assert_close(7 % t, 7 % a)
    assert_close(np.float32(2.0) * t, 2 * a)
    assert_close(t + np.array([1.0, 1.0, 1.0]), a + 1)


def test_operators_leave_lists_and_tuples_to_python() -> None:
    """As PyTorch's: an operator answers NotImplemented for a list or tuple, so Python's own
    meaning applies (sequence repetition through ``__index__``, ``==`` identity)."""
    t = dm.tensor([1.0, 2.0, 3.0])
    with pytest.raises(TypeError):
        operator.add(t, [1.0, 2.0, 3.0])
    with pytest.raises(TypeError):
        operator.sub((1, 2, 3), t)
    with pytest.raises(TypeError):
        operator.lt(t, [3, 0, 1])
    assert [0] * dm.tensor(2) == [0, 0]
    assert (1, 2) * dm.tensor(2) == (1, 2, 1, 2)
    assert (t == [1.0, 2.0, 3.0]) is False
    assert (t != (1.0,)) is True
    # NumPy arrays still count as operands.
    assert_close(t + np.ones(3), np.array([2.0, 3.0, 4.0]))


@pytest.mark.parametrize(
    ("lhs", "rhs", "expected"),
    [
        (dm.tensor([1, 2]), 0.5, dm.float32),
        (dm.tensor([1, 2]), 2, dm.int64),
        (dm.ones(2, dtype=dm.float16), 1.5, dm.float16),
        (dm.ones(2, dtype=dm.bfloat16), 2, dm.bfloat16),
        (dm.ones(2, dtype=dm.int32), dm.ones(2, dtype=dm.int64), dm.int64),
        (dm.ones(2, dtype=dm.int32), 3, dm.int32),
        (dm.ones(2, dtype=dm.int32), dm.ones(2), dm.float32),
        (dm.ones(2), dm.ones(2, dtype=dm.float64), dm.float64),
        (dm.ones(2), dm.tensor(1.0, dtype=dm.float64), dm.float32),
        (dm.ones(2, dtype=dm.int32), dm.tensor(1.0, dtype=dm.float64), dm.float64),
        (dm.ones(2, dtype=dm.float16), dm.ones(2, dtype=dm.bfloat16), dm.float32),
        (dm.ones(2, dtype=dm.float16), dm.ones(2), dm.float32),
        (dm.tensor([True, False]), 1, dm.int64),
        (dm.tensor([True, False]), 1.5, dm.float32),
        (dm.tensor([True, False]), dm.ones(2, dtype=dm.int32), dm.int32),
    ],
)
def test_type_promotion(lhs: dm.Tensor, rhs: object, expected: dm.dtype) -> None:
    assert (lhs + rhs).dtype == expected
    assert (lhs * rhs).dtype == expected
    assert (lhs < rhs).dtype == dm.bool


def test_promotion_values() -> None:
    assert_close(dm.tensor([1, 2]) * 0.5, np.array([0.5, 1.0]))
    h = dm.ones(3, dtype=dm.float16) + 0.25
    assert h.dtype == dm.float16 and h.tolist() == [1.25, 1.25, 1.25]
    assert (dm.tensor([3, 4]) / dm.tensor([2, 2])).dtype == dm.float32


UNARY: dict[
    str, tuple[Callable[[dm.Tensor], dm.Tensor], Callable[[np.ndarray], np.ndarray], str]
] = {
    "neg": (lambda t: -t, np.negative, "signed"),
    "abs": (dm.abs, np.abs, "signed"),
    "exp": (dm.exp, np.exp, "signed"),
    "log": (dm.log, np.log, "positive"),
    "log2": (dm.log2, np.log2, "positive"),
    "log1p": (dm.log1p, np.log1p, "positive"),
    "expm1": (dm.expm1, np.expm1, "signed"),
    "sqrt": (dm.sqrt, np.sqrt, "positive"),
    "rsqrt": (dm.rsqrt, lambda x: 1 / np.sqrt(x), "positive"),
    "square": (dm.square, np.square, "signed"),
    "reciprocal": (dm.reciprocal, np.reciprocal, "signed"),
    "sin": (dm.sin, np.sin, "signed"),
    "cos": (dm.cos, np.cos, "signed"),
    "tanh": (dm.tanh, np.tanh, "signed"),
    "sigmoid": (dm.sigmoid, lambda x: 1 / (1 + np.exp(-x)), "signed"),
    "relu": (dm.relu, lambda x: np.maximum(x, 0), "signed"),
    "gelu": (dm.gelu, lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))), "signed"),
    "gelu_tanh": (
        lambda t: t.gelu(approximate="tanh"),
        lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
        "signed",
    ),
    "silu": (dm.silu, lambda x: x / (1 + np.exp(-x)), "signed"),
    "softplus": (dm.softplus, lambda x: np.log1p(np.exp(x)), "signed"),
    "softplus_beta": (
        lambda t: t.softplus(beta=2.0),
        lambda x: np.log1p(np.exp(2 * x)) / 2,
        "signed",
    ),
    "erf": (dm.erf, _erf, "signed"),
    "sign": (dm.sign, np.sign, "signed"),
    "floor": (dm.floor, np.floor, "signed"),
    "ceil": (dm.ceil, np.ceil, "signed"),
    "round": (dm.round, np.round, "signed"),
    "trunc": (dm.trunc, np.trunc, "signed"),
    "clamp": (lambda t: t.clamp(-0.5, 1.0), lambda x: np.clip(x, -0.5, 1.0), "signed"),
    "clamp_min": (lambda t: t.clamp(min=0.3), lambda x: np.maximum(x, 0.3), "signed"),
    "clamp_max": (lambda t: dm.clamp(t, max=0.3), lambda x: np.minimum(x, 0.3), "signed"),
    "pow_scalar": (lambda t: t**3, lambda x: x**3, "signed"),
    "pow_half": (lambda t: t.pow(0.5), np.sqrt, "positive"),
    "tan": (dm.tan, np.tan, "unit"),
    "asin": (dm.asin, np.arcsin, "unit"),
    "acos": (dm.acos, np.arccos, "unit"),
    "atan": (dm.atan, np.arctan, "signed"),
    "asinh": (dm.asinh, np.arcsinh, "signed"),
    "acosh": (dm.acosh, np.arccosh, "above"),
    "atanh": (dm.atanh, np.arctanh, "unit"),
    "erfc": (dm.erfc, _erfc, "signed"),
    "exp2": (dm.exp2, np.exp2, "signed"),
    "lgamma": (dm.lgamma, _lgamma, "signed"),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(UNARY))
def test_unary(name: str, dtype: type) -> None:
    f, ref, domain = UNARY[name]
    x = _SAMPLERS[domain]((3, 5), dtype) * 2
    out = f(dm.tensor(x))
    assert out.dtype == dm.tensor(x).dtype
    tol = 1e-5 if dtype == np.float32 else 1e-10
    assert_close(out, ref(x.astype(np.float64)), rtol=tol, atol=tol)
    # non-contiguous input, 0-d input and a zero-size input
    xt = x.T[::2]
    assert_close(f(dm.tensor(x).T[::2]), ref(xt.astype(np.float64)), rtol=tol, atol=tol)
    s = f(dm.tensor(x[0, 0]))
    assert s.shape == ()
    assert_close(s, ref(x[0, 0].astype(np.float64)), rtol=tol, atol=tol)
    assert f(dm.zeros(0, 3, dtype=dm.tensor(x).dtype)).shape == (0, 3)


def test_unary_special_values() -> None:
    x = dm.tensor([0.0, -1.0, float("inf"), float("nan")])
    assert_close(x.log(), np.array([-np.inf, np.nan, np.inf, np.nan]))
    assert_close(x.sqrt(), np.array([0.0, np.nan, np.inf, np.nan]))
    assert_close(x.relu(), np.array([0.0, 0.0, np.inf, np.nan]))
    big = dm.tensor([-1000.0, 1000.0])
    assert_close(big.sigmoid(), np.array([0.0, 1.0]))
    assert_close(big.softplus(), np.array([0.0, 1000.0]))
    assert_close(big.silu(), np.array([0.0, 1000.0]))
    assert_close(big.tanh(), np.array([-1.0, 1.0]))


def test_where() -> None:
    c = np.array([[True, False, True], [False, False, True]])
    a = _signed((2, 3))
    b = _signed((3,))
    assert_close(dm.where(dm.tensor(c), dm.tensor(a), dm.tensor(b)), np.where(c, a, b))
    assert_close(dm.where(dm.tensor(c), 1.0, dm.tensor(b)), np.where(c, 1.0, b))
    assert_close(dm.tensor(a).where(dm.tensor(c), 0.0), np.where(c, a, 0.0))
    assert dm.where(dm.tensor(c), dm.ones(2, 3, dtype=dm.float64), 0).dtype == dm.float64
    assert dm.where(dm.tensor(c), dm.tensor(1), dm.tensor(2.5)).dtype == dm.float32


def test_float16_bfloat16_arithmetic() -> None:
    a = np.array([0.5, 1.5, -2.25], dtype=np.float16)
    t = dm.tensor(a)
    assert_close(t * t + t, a * a + a, rtol=1e-3)
    assert (t * t).dtype == dm.float16
    b = dm.tensor([0.5, 1.5, -2.25]).bfloat16()
    r = (b * 2 - 1).exp()
    assert r.dtype == dm.bfloat16
    assert_close(r, np.exp(np.array([0.5, 1.5, -2.25]) * 2 - 1), rtol=1e-2)


# ---- gradients (float64 finite differences) -----------------------------------------------------


def _leaf(x: np.ndarray) -> dm.Tensor:
    return dm.tensor(x.astype(np.float64), requires_grad=True)


GRAD_BINARY: dict[str, Callable[[dm.Tensor, dm.Tensor], dm.Tensor]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a.abs() ** b,
    "maximum": dm.maximum,
    "minimum": dm.minimum,
    "add_alpha": lambda a, b: a.add(b, alpha=-2.5),
}


@pytest.mark.parametrize("name", list(GRAD_BINARY))
@pytest.mark.parametrize(("sa", "sb"), [((3, 4), (3, 4)), ((2, 3), (3,)), ((3, 1), (1, 2))])
def test_binary_gradcheck(name: str, sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    gradcheck(GRAD_BINARY[name], [_leaf(_signed(sa)), _leaf(_signed(sb))])


def test_binary_gradcheck_scalars() -> None:
    x = _leaf(_signed((2, 3)))
    gradcheck(lambda a: a * 3.0 + 1.0, [x])
    gradcheck(lambda a: 2.0 / a - a / 4.0, [x])
    gradcheck(lambda a: 1.0 - a, [x])
    gradcheck(lambda a: 2.0**a, [x])
    gradcheck(lambda a: a**2.5, [_leaf(_positive((2, 3)))])
    gradcheck(lambda a, b: a * b, [x, _leaf(_signed(()))])


GRAD_UNARY = [
    "neg", "abs", "exp", "log", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "relu",
    "gelu", "gelu_tanh", "silu", "softplus", "softplus_beta", "clamp", "clamp_min", "clamp_max",
    "pow_scalar", "log2", "log1p", "expm1", "square", "reciprocal", "erf", "tan", "asin",
    "acos", "atan", "asinh", "acosh", "atanh", "erfc", "exp2", "lgamma",
]  # fmt: skip


@pytest.mark.parametrize("name", GRAD_UNARY)
def test_unary_gradcheck(name: str) -> None:
    f, _, domain = UNARY[name]
    x = _SAMPLERS[domain]((3, 4)) * {"signed": 1.5, "above": 2.0}.get(domain, 1.0)
    if name.startswith("clamp"):
        x = np.array([[-1.2, -0.7, -0.3, 0.1], [0.2, 0.45, 0.8, 1.3], [1.7, -2.0, 0.6, 0.0]])
    gradcheck(f, [_leaf(x)])


def test_where_gradcheck() -> None:
    c = dm.tensor([[True, False, True], [False, True, False]])
    gradcheck(lambda a, b: dm.where(c, a, b), [_leaf(_signed((2, 3))), _leaf(_signed((3,)))])
    gradcheck(lambda a: dm.where(c, a, 0.0), [_leaf(_signed((2, 3)))])


def test_gradient_through_non_contiguous() -> None:
    gradcheck(lambda a, b: a.T * b[::2], [_leaf(_signed((3, 4))), _leaf(_signed((8, 3)))])


def test_gradient_of_repeated_input() -> None:
    x = _leaf(_signed((4,)))
    gradcheck(lambda a: a * a * a + a.exp() * a, [x])


def test_pow_gradient_at_zero_exponent() -> None:
    a = dm.tensor([0.0, 2.0], requires_grad=True)
    (a**0.0).sum().backward()
    assert a.grad is not None
    assert a.grad.tolist() == [0.0, 0.0]
    b = dm.tensor([0.0, 2.0], requires_grad=True)
    (b ** dm.tensor([0.0, 2.0])).sum().backward()
    assert b.grad is not None
    assert b.grad.tolist() == [0.0, 4.0]
    c = dm.tensor([0.0, 1.0], requires_grad=True)
    (0.0**c).sum().backward()  # d/de 0^e is defined as 0 at the base 0
    assert c.grad is not None
    assert c.grad.tolist() == [0.0, 0.0]


def test_maximum_minimum_split_gradient_on_ties() -> None:
    a = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = dm.tensor([1.0, 0.0, 3.0], requires_grad=True)
    dm.maximum(a, b).sum().backward()
    assert a.grad is not None and b.grad is not None
    assert a.grad.tolist() == [0.5, 1.0, 0.5]
    assert b.grad.tolist() == [0.5, 0.0, 0.5]


# ---- matmul -------------------------------------------------------------------------------------

MATMUL_SHAPES = [
    ((3, 4), (4, 5)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((4,), (4,)),
    ((2, 3, 4), (4, 5)),
    ((4,), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)),
    ((1, 3, 4), (7, 4, 2)),
    ((0, 4), (4, 3)),
    ((2, 0), (0, 3)),
]


@pytest.mark.parametrize(("sa", "sb"), MATMUL_SHAPES)
def test_matmul_matches_numpy(sa: tuple[int, ...], sb: tuple[int, ...]) -> None:
    a = RNG.standard_normal(sa)
    b = RNG.standard_normal(sb)
    assert_close(dm.tensor(a) @ dm.tensor(b), a @ b, rtol=1e-10, atol=1e-10)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    out = dm.matmul(dm.tensor(a32), dm.tensor(b32))
    assert out.dtype == dm.float32
    assert_close(out, a @ b, rtol=1e-4, atol=1e-4)


def test_matmul_layouts_and_dtypes() -> None:
    a = RNG.standard_normal((6, 5))
    b = RNG.standard_normal((6, 4))
    assert_close(dm.tensor(a).T @ dm.tensor(b), a.T @ b, atol=1e-10)
    got = dm.tensor(a)[::2, 1:] @ dm.tensor(b)[1::2].T[:, :4]
    assert_close(got, a[::2, 1:] @ b[1::2].T[:, :4], atol=1e-10)
    row = dm.tensor(a[0]).expand(3, 5)
    assert_close(row @ dm.tensor(b[:5]), np.broadcast_to(a[0], (3, 5)) @ b[:5], atol=1e-10)
    big_a = RNG.standard_normal((65, 130)).astype(np.float32)
    big_b = RNG.standard_normal((130, 70)).astype(np.float32)
    ref = big_a.astype(np.float64) @ big_b
    assert_close(dm.tensor(big_a) @ dm.tensor(big_b), ref, rtol=1e-4, atol=1e-3)
    half = dm.tensor(big_a).half() @ dm.tensor(big_b).half()
    assert half.dtype == dm.float16
    assert_close(half, ref, rtol=2e-2, atol=0.1)
    ints = dm.tensor([[1, 2], [3, 4]]) @ dm.tensor([[1], [1]])
    assert ints.dtype == dm.int64 and ints.tolist() == [[3], [7]]
    with pytest.raises(dm.DTypeError, match="same dtype"):  # as PyTorch: no promotion
        dm.tensor([[1, 2]]) @ dm.tensor([[1.5], [1.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erfinv_inverts_erf(dtype: type) -> None:
    x = np.linspace(-0.999, 0.999, 42).astype(dtype).reshape(3, -1)[:, ::2]  # non-contiguous
    y = dm.tensor(np.ascontiguousarray(x)).erfinv()
    assert y.dtype == dm.tensor(x).dtype
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(_erf(y.double().numpy()), x.astype(np.float64), rtol=tol, atol=tol)
    np.testing.assert_array_equal(dm.erfinv(dm.tensor(x)).numpy(), y.numpy())
    assert abs(dm.tensor(0.5, dtype=dm.float64).erfinv().item() - 0.4769362762044699) < 1e-15
    edges = dm.tensor([-1.0, 1.0, 1.5, float("nan")]).erfinv().tolist()
    assert edges[:2] == [-math.inf, math.inf] and all(math.isnan(v) for v in edges[2:])
    assert dm.erfinv(dm.zeros(0, 3)).shape == (0, 3)
    gradcheck(lambda t: t.erfinv(), [_leaf(np.array([[-0.9, -0.3, 0.0], [0.2, 0.6, 0.85]]))])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hardsigmoid_and_hardswish_match_numpy(dtype: type) -> None:
    x = np.linspace(-5.0, 5.0, 42).astype(dtype).reshape(3, -1)[:, ::2]  # non-contiguous
    t = dm.tensor(np.ascontiguousarray(x))
    relu6 = np.clip(x.astype(np.float64) + 3.0, 0.0, 6.0)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(t.hardsigmoid().numpy(), relu6 / 6.0, rtol=tol, atol=tol)
    np.testing.assert_allclose(t.hardswish().numpy(), x * relu6 / 6.0, rtol=tol, atol=tol)
    np.testing.assert_array_equal(dm.nn.functional.hardswish(t).numpy(), t.hardswish().numpy())
    assert dm.hardswish(dm.zeros(0, 3)).shape == (0, 3)
    nan = dm.tensor([float("nan")])
    assert math.isnan(nan.hardswish().item()) and math.isnan(nan.hardsigmoid().item())
    # PyTorch's derivatives at the kinks: hardsigmoid's 1/6 strictly inside (-3, 3);
    # hardswish's 0 up to -3, x/3 + 1/2 below 3, 1 from 3.
    k = dm.tensor([-3.0, 3.0, -3.5, 3.5, 0.0], dtype=dm.float64, requires_grad=True)
    (g,) = dm.autograd.grad(k.hardsigmoid().sum(), k)
    np.testing.assert_allclose(g.numpy(), [0.0, 0.0, 0.0, 0.0, 1.0 / 6.0])
    (g,) = dm.autograd.grad(k.hardswish().sum(), k, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [0.0, 1.0, 0.0, 1.0, 0.5])
    (g2,) = dm.autograd.grad(g.sum(), k)
    np.testing.assert_allclose(g2.numpy(), [0.0, 0.0, 0.0, 0.0, 1.0 / 3.0])
    away = _leaf(np.array([[-4.0, -2.5, -0.7], [0.4, 2.2, 4.5]]))
    gradcheck(lambda a: a.hardswish(), [away])
    gradcheck(lambda a: a.hardsigmoid(), [away])


def test_sign_of_nan_and_zeros_is_zero_as_pytorch() -> None:
    x = dm.tensor([float("nan"), -0.0, 0.0, -2.0, float("inf")], requires_grad=True)
    got = x.sign()
    np.testing.assert_array_equal(got.detach().numpy(), [0.0, 0.0, 0.0, -1.0, 1.0])
    assert not np.signbit(got.detach().numpy()[1])  # +0, as PyTorch's
    x.abs().sum().backward()  # abs's gradient is sign(x): 0 at NaN, not NaN
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0, -1.0, 1.0])
