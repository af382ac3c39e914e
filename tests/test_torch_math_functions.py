"""PyTorch's elementwise math functions and aliases (``democratising._math_functions``):
values against NumPy (float32/float64/integer inputs, broadcasting, transposed views, empty
tensors), dtype promotion, NaN and signed-zero rules, gradients against finite differences,
the ``Tensor`` methods and in-place forms, and typed errors for bad input."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm
from helpers import assert_close, gradcheck

RNG = np.random.default_rng(5)
A = RNG.standard_normal((3, 4))
B = RNG.standard_normal((3, 4))
UNIT = RNG.uniform(-0.95, 0.95, (3, 4))
POS = RNG.uniform(0.1, 2.0, (3, 4))


def leaf(a: Any) -> dm.Tensor:
    return dm.tensor(np.asarray(a, dtype=np.float64), dtype=dm.float64, requires_grad=True)


def t32(a: Any) -> dm.Tensor:
    return dm.tensor(np.asarray(a, dtype=np.float32))


# ---- aliases ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ref", "data"),
    [
        ("absolute", np.abs, A),
        ("negative", np.negative, A),
        ("fix", np.trunc, A * 3),
        ("arccos", np.arccos, UNIT),
        ("arcsin", np.arcsin, UNIT),
        ("arctan", np.arctan, A * 5),
        ("arccosh", np.arccosh, 1 + POS * 3),
        ("arcsinh", np.arcsinh, A * 5),
        ("arctanh", np.arctanh, UNIT),
        ("deg2rad", np.deg2rad, A * 90),
        ("rad2deg", np.rad2deg, A),
        ("exp2", np.exp2, A * 3),
        ("sinc", np.sinc, np.concatenate([A, np.zeros((3, 1))], 1)),
    ],
)
def test_unary_functions_match_numpy_and_methods(
    name: str, ref: Callable[..., Any], data: np.ndarray
) -> None:
    fn = getattr(dm, name)
    for dtype, rtol in ((dm.float32, 2e-5), (dm.float64, 1e-10)):
        x = dm.tensor(data, dtype=dtype)
        assert_close(fn(x), ref(data), rtol=rtol, atol=rtol, check_dtype=dtype)
        assert_close(getattr(x, name)(), ref(data), rtol=rtol, atol=rtol)
    xt = dm.tensor(data.T.copy()).transpose(0, 1)  # non-contiguous view of the same values
    assert not xt.is_contiguous()
    assert_close(fn(xt), ref(data), rtol=2e-5, atol=2e-5)
    assert fn(dm.zeros(0, 3)).shape == (0, 3)


@pytest.mark.parametrize(
    "name", ["arcsin", "arctan", "arcsinh", "arctanh", "deg2rad", "exp2", "sinc"]
)
def test_unary_functions_of_integers_give_the_default_float(name: str) -> None:
    out = getattr(dm, name)(dm.tensor([0, 1, -1]))
    assert out.dtype == dm.float32
    ref = {"sinc": np.sinc, "exp2": np.exp2, "deg2rad": np.deg2rad}
    f = ref.get(name, getattr(np, name))
    with np.errstate(divide="ignore"):
        expected = f(np.array([0, 1, -1], dtype=np.float64))
    assert_close(out, expected, rtol=1e-6)
    fixed = dm.fix(dm.tensor([3, -2]))
    assert fixed.dtype == dm.int64 and fixed.tolist() == [3, -2]


def test_inverse_functions_are_accurate_at_extremes() -> None:
    big = np.array([1e20, -1e20, 1e-10, 0.0], dtype=np.float32)
    assert_close(dm.arcsinh(t32(big)), np.arcsinh(big.astype(np.float64)), rtol=1e-6)
    xs = np.array([1.0, 1.5, 2.0, 3.0, 1e20], dtype=np.float32)
    assert_close(dm.arccosh(t32(xs)), np.arccosh(xs.astype(np.float64)), rtol=1e-6)
    assert_close(dm.arcsin(t32([1.0, -1.0])), [math.pi / 2, -math.pi / 2], rtol=1e-6)


def test_binary_aliases() -> None:
    x, y = dm.tensor(A), dm.tensor(B)
    assert_close(dm.multiply(x, y), A * B)
    assert_close(dm.subtract(x, y, alpha=2), A - 2 * B)
    assert_close(x.subtract(3), A - 3)
    assert_close(dm.divide(x, y), A / B, rtol=1e-10)
    q = dm.divide(dm.tensor([7, -7, 7]), dm.tensor([2, 2, -2]), rounding_mode="floor")
    assert q.dtype == dm.int64 and q.tolist() == [3, -4, -4]
    assert dm.divide(t32([7.5, -7.5]), 2, rounding_mode="trunc").tolist() == [3.0, -3.0]
    for name, ref in [
        ("greater", np.greater),
        ("greater_equal", np.greater_equal),
        ("less", np.less),
        ("less_equal", np.less_equal),
        ("not_equal", np.not_equal),
    ]:
        assert_close(getattr(dm, name)(x, y), ref(A, B))
        assert_close(getattr(x, name)(0.0), ref(A, 0.0))


def test_concat_swap_transpose_and_msort() -> None:
    a, b = dm.tensor(A), dm.tensor(B)
    assert_close(dm.concat([a, b]), np.concatenate([A, B]))
    assert_close(dm.concat((a, b), dim=1), np.concatenate([A, B], 1))
    assert_close(dm.concatenate([a, b], axis=-1), np.concatenate([A, B], -1))
    c = dm.tensor(RNG.standard_normal((2, 3, 4)))
    assert_close(dm.swapaxes(c, 0, 2), np.swapaxes(c.numpy(), 0, 2))
    assert_close(dm.swapdims(c, 1, -1), np.swapaxes(c.numpy(), 1, -1))
    assert_close(c.swapdims(0, 1), np.swapaxes(c.numpy(), 0, 1))
    assert_close(dm.t(a), A.T)
    assert dm.t(dm.tensor([1, 2])).tolist() == [1, 2]
    with pytest.raises(dm.ShapeError):
        dm.t(c)
    assert_close(dm.msort(a), np.sort(A, axis=0))
    assert_close(a.msort(), np.sort(A, axis=0))


def test_positive_returns_its_input_and_refuses_bool() -> None:
    x = dm.tensor(A)
    assert dm.positive(x) is x
    with pytest.raises(dm.DTypeError):
        dm.positive(dm.tensor([True]))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("absolute", A),
        ("negative", A),
        ("arctan", A),
        ("arcsinh", A),
        ("arcsin", UNIT),
        ("arccos", UNIT),
        ("arctanh", UNIT),
        ("arccosh", 1.5 + POS),
        ("deg2rad", A),
        ("rad2deg", A),
        ("exp2", A),
        ("sinc", A),
    ],
)
def test_unary_gradients(name: str, data: np.ndarray) -> None:
    gradcheck(getattr(dm, name), [leaf(data)])


def test_sinc_is_one_with_zero_gradient_at_zero() -> None:
    x = leaf([0.0, 0.5])
    y = dm.sinc(x)
    assert y.tolist()[0] == 1.0
    y.sum().backward()
    assert x.grad.tolist()[0] == 0.0


# ---- binary composites -----------------------------------------------------------------------


def test_logaddexp2_hypot_and_ldexp_match_numpy() -> None:
    x, y = dm.tensor(A), dm.tensor(B)
    assert_close(dm.logaddexp2(x, y), np.logaddexp2(A, B), rtol=1e-12)
    assert_close(x.logaddexp2(y[0]), np.logaddexp2(A, B[0]), rtol=1e-12)
    inf = t32([math.inf, -math.inf, 1e30])
    assert_close(dm.logaddexp2(inf, inf), [math.inf, -math.inf, 1e30 + 1], rtol=1e-6)
    assert_close(dm.hypot(x, y), np.hypot(A, B), rtol=1e-12)
    big = t32([3e30, 0.0, math.inf])
    assert_close(dm.hypot(big, t32([4e30, 0.0, math.nan])), [5e30, 0.0, math.inf], rtol=1e-6)
    e = dm.tensor([[1, -2, 3, 0]])
    assert_close(dm.ldexp(x, e), np.ldexp(A, np.array([[1, -2, 3, 0]])), rtol=1e-12)
    assert dm.ldexp(dm.tensor([1, 2]), dm.tensor([3, 1])).dtype == dm.float32
    with pytest.raises(dm.DTypeError):
        dm.hypot(dm.tensor([3]), dm.tensor([4]))
    with pytest.raises(dm.DTypeError):
        dm.logaddexp2(dm.tensor([3]), dm.tensor([4]))
    with pytest.raises(TypeError):
        dm.hypot(x, 2.0)  # type: ignore[arg-type]


def test_fmax_fmin_take_the_number_over_nan() -> None:
    a = np.array([np.nan, 1.0, np.nan, -0.5, 2.0])
    b = np.array([2.0, np.nan, np.nan, 0.5, -3.0])
    assert_close(dm.fmax(dm.tensor(a), dm.tensor(b)), np.fmax(a, b))
    assert_close(dm.fmin(dm.tensor(a), dm.tensor(b)), np.fmin(a, b))
    out = dm.fmax(dm.tensor([1, 5]), dm.tensor([3.5, 2.0]))
    assert out.dtype == dm.float32 and out.tolist() == [3.5, 5.0]
    assert dm.fmin(dm.tensor([1, 5]), dm.tensor([3, 2])).tolist() == [1, 2]
    assert_close(dm.tensor(A).fmax(dm.tensor(B)), np.fmax(A, B))


def test_copysign_uses_the_sign_bit_and_promotes() -> None:
    a = np.array([1.0, -2.0, 3.0, -0.0, 4.0])
    b = np.array([-0.0, 0.0, -1.0, 1.0, -math.inf])
    assert_close(dm.copysign(dm.tensor(a), dm.tensor(b)), np.copysign(a, b))
    assert np.signbit(dm.copysign(dm.tensor([1.0]), -0.0).numpy()).all()
    out = dm.copysign(dm.tensor([1, 2]), dm.tensor([-1, 1]))
    assert out.dtype == dm.float32 and out.tolist() == [-1.0, 2.0]


def test_xlogy_follows_pytorchs_zero_and_nan_rules() -> None:
    x = np.array([0.0, 0.0, 1.0, 2.0, 0.0])
    y = np.array([0.0, np.nan, 0.0, 3.0, 5.0])
    assert_close(dm.xlogy(dm.tensor(x), dm.tensor(y)), [0.0, np.nan, -np.inf, 2 * np.log(3), 0])
    assert_close(dm.xlogy(2.0, dm.tensor([1.0, np.e])), [0.0, 2.0], rtol=1e-6)
    assert_close(dm.xlogy(dm.tensor([1, 2]), 4), np.array([1, 2]) * np.log(4), rtol=1e-6)
    assert dm.xlogy(dm.tensor([1, 2]), dm.tensor([1, 2])).dtype == dm.float32
    assert_close(dm.tensor(POS).xlogy(dm.tensor(B**2)), POS * np.log(B**2), rtol=1e-12)
    with pytest.raises(TypeError):
        dm.xlogy(1.0, 2.0)  # type: ignore[arg-type]


def test_float_power_computes_in_float64() -> None:
    x = dm.tensor([1.5, 2.0], dtype=dm.float32)
    out = dm.float_power(x, 2)
    assert out.dtype == dm.float64 and out.tolist() == [2.25, 4.0]
    assert dm.float_power(2, dm.tensor([1, 3])).tolist() == [2.0, 8.0]
    assert dm.float_power(dm.tensor([4]), dm.tensor([0.5])).tolist() == [2.0]
    y = dm.tensor([2.0, 3.0], dtype=dm.float64)
    assert y.float_power_(2) is y and y.tolist() == [4.0, 9.0]
    with pytest.raises(dm.DTypeError):
        x.float_power_(2)


@pytest.mark.parametrize(
    ("name", "first", "second"),
    [
        ("logaddexp2", A, B),
        ("hypot", A, B),
        ("fmax", A, B),
        ("fmin", A, B),
        ("copysign", A, B),
        ("xlogy", A, POS),
        ("float_power", POS, B),
        ("ldexp", A, B),
        ("multiply", A, B),
        ("subtract", A, B),
        ("divide", A, POS),
    ],
)
def test_binary_gradients(name: str, first: np.ndarray, second: np.ndarray) -> None:
    gradcheck(getattr(dm, name), [leaf(first), leaf(second)])


def test_broadcast_gradients_and_logit() -> None:
    gradcheck(dm.hypot, [leaf(A), leaf(B[0])])
    gradcheck(lambda a, b: dm.xlogy(a, b), [leaf(A[:, :1]), leaf(POS)])
    p = RNG.uniform(0.05, 0.95, (3, 4))
    gradcheck(dm.logit, [leaf(p)])
    gradcheck(lambda a: dm.logit(a, 0.2), [leaf(p)])


def test_logit_matches_the_formula_with_and_without_eps() -> None:
    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    with np.errstate(divide="ignore"):
        expected = np.log(p / (1 - p))
    assert_close(dm.logit(dm.tensor(p)), expected, rtol=1e-12)
    c = np.clip(p, 0.05, 0.95)
    assert_close(dm.tensor(p).logit(0.05), np.log(c / (1 - c)), rtol=1e-12)
    assert dm.logit(dm.tensor([0, 1])).dtype == dm.float32


# ---- tests of values and host-computed ops ---------------------------------------------------


def test_sign_and_infinity_tests() -> None:
    v = np.array([1.0, -1.0, 0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan], dtype=np.float32)
    x = dm.tensor(v)
    assert_close(dm.signbit(x), np.signbit(v))
    assert_close(x.signbit(), np.signbit(v))
    assert_close(dm.isposinf(x), np.isposinf(v))
    assert_close(dm.isneginf(x), np.isneginf(v))
    assert dm.isposinf(dm.tensor([1, 2])).tolist() == [False, False]
    assert dm.signbit(dm.tensor([-1, 0, 3])).tolist() == [True, False, False]
    assert dm.signbit(dm.tensor([True, False])).tolist() == [False, False]
    assert dm.isreal(x).dtype == dm.bool and bool(dm.isreal(x).all())
    assert dm.signbit(dm.tensor(-0.0)).shape == ()
    assert dm.is_complex(x) is False
    assert dm.is_nonzero(dm.tensor([[2.0]])) and not dm.is_nonzero(dm.tensor(0))
    assert dm.tensor([0.5]).is_nonzero()
    with pytest.raises(dm.ShapeError):
        dm.is_nonzero(dm.tensor([1, 2]))
    with pytest.raises(dm.ShapeError):
        dm.is_nonzero(dm.zeros(0))


def test_heaviside() -> None:
    x = np.array([-1.5, 0.0, 2.0, 0.0])
    vals = np.array([0.5, 0.25, 0.5, 0.75])
    assert_close(dm.heaviside(dm.tensor(x), dm.tensor(vals)), np.heaviside(x, vals))
    assert dm.heaviside(dm.tensor([-2, 0, 3]), dm.tensor([7])).tolist() == [0, 7, 1]
    with pytest.raises(dm.DTypeError):
        dm.heaviside(dm.tensor([1.0]), dm.tensor([1]))


def test_frexp_splits_into_mantissa_and_int32_exponent() -> None:
    v = np.array([0.0, 1.0, -3.5, 1e-3, 1e30], dtype=np.float32)
    m, e = dm.frexp(dm.tensor(v))
    rm, re = np.frexp(v)
    assert_close(m, rm, check_dtype=dm.float32)
    assert e.dtype == dm.int32 and e.tolist() == re.tolist()
    r = dm.tensor(v).frexp()
    assert r.mantissa.shape == (5,) and r.exponent.shape == (5,)
    with pytest.raises(dm.DTypeError):
        dm.frexp(dm.tensor([1]))


def test_gcd_lcm_on_integers() -> None:
    a = RNG.integers(-30, 30, (4, 5))
    b = RNG.integers(-30, 30, (5,))
    assert_close(dm.gcd(dm.tensor(a), dm.tensor(b)), np.gcd(a, b))
    assert_close(dm.lcm(dm.tensor(a), dm.tensor(b)), np.lcm(a, b))
    out = dm.gcd(dm.tensor([12, 18], dtype=dm.int32), dm.tensor([8, 12], dtype=dm.int32))
    assert out.dtype == dm.int32 and out.tolist() == [4, 6]
    assert dm.gcd(dm.tensor([4], dtype=dm.int32), dm.tensor([6])).dtype == dm.int64
    x = dm.tensor([4, 9])
    assert x.lcm_(dm.tensor([6, 6])) is x and x.tolist() == [12, 18]
    with pytest.raises(dm.DTypeError):
        dm.gcd(dm.tensor([1.0]), dm.tensor([2.0]))
    with pytest.raises(dm.DTypeError):
        dm.lcm(dm.tensor([True]), dm.tensor([True]))


def test_bitwise_ops_on_integers_and_bools() -> None:
    a = RNG.integers(-100, 100, (3, 4))
    b = RNG.integers(-100, 100, (4,))
    ta, tb = dm.tensor(a), dm.tensor(b)
    assert_close(dm.bitwise_and(ta, tb), a & b)
    assert_close(dm.bitwise_or(ta, tb), a | b)
    assert_close(dm.bitwise_xor(ta, tb), a ^ b)
    assert_close(dm.bitwise_not(ta), ~a)
    assert_close(ta.bitwise_and(7), a & 7)
    assert_close(dm.bitwise_or(5, ta), 5 | a)
    p, q = np.array([True, True, False]), np.array([True, False, False])
    out = dm.bitwise_xor(dm.tensor(p), dm.tensor(q))
    assert out.dtype == dm.bool and out.tolist() == (p ^ q).tolist()
    assert dm.bitwise_not(dm.tensor(p)).tolist() == (~p).tolist()
    i32 = dm.tensor([6, 3], dtype=dm.int32)
    assert dm.bitwise_and(i32, 3).dtype == dm.int32
    assert dm.bitwise_and(i32, dm.tensor([3, 3])).dtype == dm.int64
    with pytest.raises(dm.DTypeError):
        dm.bitwise_and(dm.tensor([1.0]), dm.tensor([1.0]))
    with pytest.raises(dm.DTypeError):
        dm.bitwise_or(ta, 1.5)
    with pytest.raises(dm.DTypeError):
        dm.bitwise_not(dm.tensor([1.0]))
    x = dm.tensor([12, 10])
    assert x.bitwise_xor_(dm.tensor([4, 2])) is x and x.tolist() == [8, 8]


def test_shifts_match_pytorch_including_out_of_range_amounts() -> None:
    a = np.array([1, -8, 8, 5, -1])
    s = np.array([2, 1, 1, 0, 3])
    assert_close(dm.bitwise_left_shift(dm.tensor(a), dm.tensor(s)), a << s)
    assert_close(dm.bitwise_right_shift(dm.tensor(a), dm.tensor(s)), a >> s)
    far = dm.tensor([70, 70])
    assert dm.bitwise_left_shift(dm.tensor([3, -3]), far).tolist() == [0, 0]
    assert dm.bitwise_right_shift(dm.tensor([3, -3]), far).tolist() == [0, -1]
    i32 = dm.tensor([1], dtype=dm.int32)
    assert dm.bitwise_left_shift(i32, 4).dtype == dm.int32
    assert i32.bitwise_left_shift(4).tolist() == [16]


def test_nextafter_steps_one_ulp() -> None:
    for dtype, npd in ((dm.float32, np.float32), (dm.float64, np.float64)):
        a = np.array([0.0, 1.0, -1.0, 2.0], dtype=npd)
        b = np.array([1.0, 2.0, -2.0, 0.0], dtype=npd)
        out = dm.nextafter(dm.tensor(a, dtype=dtype), dm.tensor(b, dtype=dtype))
        assert out.dtype == dtype
        np.testing.assert_array_equal(out.numpy(), np.nextafter(a, b))
    with pytest.raises(dm.DTypeError):
        dm.nextafter(dm.tensor([1]), dm.tensor([2]))


@pytest.mark.parametrize("dtype", [dm.float16, dm.bfloat16])
def test_half_precision_inputs_keep_their_dtype(dtype: dm.dtype) -> None:
    v = np.array([-1.5, -0.0, 0.25, 3.0])
    x = dm.tensor(v).to(dtype)
    assert dm.signbit(x).tolist() == [True, True, False, False]
    m, e = dm.frexp(x)
    assert m.dtype == dtype and e.tolist() == np.frexp(v)[1].tolist()
    h = dm.hypot(x, x)
    assert h.dtype == dtype
    assert_close(h.float(), np.hypot(v, v), rtol=1e-2, atol=1e-2)
    assert dm.deg2rad(x).dtype == dtype and dm.logit(x).dtype == dtype


def test_host_ops_carry_no_gradient() -> None:
    x = leaf(A)
    for out in (dm.signbit(x), dm.frexp(x).mantissa, dm.isposinf(x)):
        assert not out.requires_grad
    assert dm.nextafter(x, x).requires_grad  # PyTorch's: the identity for x (session 44)


# ---- in-place forms --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "ref"),
    [
        ("deg2rad_", (), np.deg2rad),
        ("rad2deg_", (), np.rad2deg),
        ("hypot_", (B,), lambda a: np.hypot(a, B)),
        ("copysign_", (B,), lambda a: np.copysign(a, B)),
        ("xlogy_", (POS,), lambda a: a * np.log(POS)),
        ("ldexp_", (np.ones((3, 4)),), lambda a: a * 2),
        ("fix_", (), np.trunc),
        ("negative_", (), np.negative),
        ("absolute_", (), np.abs),
        ("arctan_", (), np.arctan),
        ("sinc_", (), np.sinc),
        ("multiply_", (B,), lambda a: a * B),
        ("subtract_", (B,), lambda a: a - B),
        ("divide_", (POS,), lambda a: a / POS),
        ("greater_", (B,), lambda a: (a > B).astype(np.float64)),
    ],
)
def test_inplace_forms_write_into_the_tensor(
    name: str, args: tuple[Any, ...], ref: Callable[..., Any]
) -> None:
    x = dm.tensor(A)
    out = getattr(x, name)(*[dm.tensor(a) for a in args])
    assert out is x
    assert_close(x, ref(A), rtol=1e-12)
    w = dm.tensor(A, requires_grad=True)
    with dm.no_grad():
        getattr(w, name)(*[dm.tensor(a) for a in args])
    assert_close(w, ref(A), rtol=1e-12)


def test_inplace_refuses_a_float_result_in_an_integer_tensor() -> None:
    with pytest.raises(dm.DTypeError):
        dm.tensor([1, 2]).deg2rad_()
    with pytest.raises(dm.DTypeError):
        dm.tensor([1, 2]).copysign_(dm.tensor([-1, 1]))


def test_arguments_are_checked() -> None:
    with pytest.raises(TypeError, match="input"):
        dm.deg2rad([1.0])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        dm.fmax(dm.tensor([1.0]), 2.0)  # type: ignore[arg-type]
    # bool input gives the default float dtype, as in PyTorch (no error).
    assert dm.deg2rad(dm.tensor([True])).dtype == dm.float32
