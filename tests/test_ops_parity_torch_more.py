"""PyTorch parity of a few elementwise and shape ops found by differential testing against
torch 2.15: bool input of ``deg2rad``/``rad2deg``, a Python number as the first operand of the
arithmetic free functions, integer powers with negative tensor exponents and bool powers,
``chunk``/``split`` of an empty dim, and where the gradient of ``max``/``min``/``maximum``/
``minimum``/``fmax``/``fmin`` goes when there are NaNs. Expected values were taken from
torch."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm

NAN = float("nan")


def _grads(fn, *values: list[float]) -> list[list[float]]:
    """The gradients of ``sum(fn(*xs))`` with respect to each of ``xs``."""
    xs = [dm.tensor(v, requires_grad=True) for v in values]
    fn(*xs).sum().backward()
    return [x.grad.tolist() for x in xs]


# ---- deg2rad / rad2deg of bool ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "scale"), [("deg2rad", math.pi / 180.0), ("rad2deg", 180.0 / math.pi)]
)
def test_deg2rad_rad2deg_of_bool_give_float(name: str, scale: float) -> None:
    x = dm.tensor([True, False])
    for out in (getattr(dm, name)(x), getattr(x, name)()):
        assert out.dtype == dm.float32
        np.testing.assert_allclose(out.numpy(), [scale, 0.0], rtol=1e-6)
    with pytest.raises(dm.DTypeError):  # a float result cannot go back into a bool tensor
        getattr(x, f"{name}_")()


# ---- a Python number first -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "dtype", "expected"),
    [
        (lambda t: dm.remainder(5, t), dm.int64, [2, -1]),
        (lambda t: dm.remainder(2.5, t), dm.float32, [2.5, -0.5]),
        (lambda t: dm.remainder(-5, t.float()), dm.float32, [1.0, -2.0]),
        (lambda t: dm.remainder(5, t.to(dm.int32)), dm.int32, [2, -1]),
        (lambda t: dm.sub(5, t), dm.int64, [2, 8]),
        (lambda t: dm.sub(5, t, alpha=2), dm.int64, [-1, 11]),
        (lambda t: dm.add(5, t, alpha=2), dm.int64, [11, -1]),
        (lambda t: dm.add(input=5, other=t), dm.int64, [8, 2]),
        (lambda t: dm.add(True, t), dm.int64, [4, -2]),
        (lambda t: dm.mul(2, t), dm.int64, [6, -6]),
        (lambda t: dm.mul(2.5, t.to(dm.float16)), dm.float16, [7.5, -7.5]),
        (lambda t: dm.div(5, t, rounding_mode="floor"), dm.int64, [1, -2]),
        (lambda t: dm.div(5, t, rounding_mode="trunc"), dm.int64, [1, -1]),
        (lambda t: dm.floor_divide(5, t), dm.int64, [1, -2]),
        (lambda t: dm.multiply(5, t), dm.int64, [15, -15]),
        (lambda t: dm.subtract(5, t, alpha=2), dm.int64, [-1, 11]),
        (lambda t: dm.divide(5, t, rounding_mode="floor"), dm.int64, [1, -2]),
        (lambda t: dm.pow(2, t.abs()), dm.int64, [8, 8]),
    ],
)
def test_a_number_first_as_pytorch(call, dtype, expected) -> None:
    out = call(dm.tensor([3, -3]))
    assert out.dtype == dtype
    assert out.tolist() == expected


@pytest.mark.parametrize("name", ["div", "true_divide", "divide"])
def test_true_division_of_a_number_gives_float(name: str) -> None:
    out = getattr(dm, name)(5, dm.tensor([3, -3]))
    assert out.dtype == dm.float32
    np.testing.assert_allclose(out.numpy(), [5 / 3, -5 / 3], rtol=1e-6)


def test_bool_number_first_keeps_bool() -> None:
    assert dm.add(True, dm.tensor([True, False])).tolist() == [True, True]
    assert dm.mul(True, dm.tensor([True, False])).dtype == dm.bool


def test_a_number_first_is_differentiable() -> None:
    (g,) = _grads(lambda x: dm.remainder(5, x), [3.0, -3.0])
    assert g == [-1.0, 2.0]  # -floor(5 / x)
    (g,) = _grads(lambda x: dm.div(5, x), [3.0, -3.0])
    np.testing.assert_allclose(g, [-5 / 9, -5 / 9], rtol=1e-6)
    (g,) = _grads(lambda x: dm.sub(1, x, alpha=2), [3.0, -3.0])
    assert g == [-2.0, -2.0]


def test_a_number_first_is_refused_where_pytorch_refuses_it() -> None:
    t = dm.tensor([3, -3])
    with pytest.raises(dm.DTypeError, match="Subtraction"):
        dm.sub(True, t)
    with pytest.raises(dm.DTypeError, match="Subtraction"):
        dm.subtract(2.5, dm.tensor([True, False]))
    for name in ("fmod", "atan2", "maximum", "eq", "lt"):
        with pytest.raises(TypeError, match="must be Tensor"):
            getattr(dm, name)(5, t)
    with pytest.raises(TypeError, match="must be Tensor"):
        dm.add("a", t)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be Tensor"):
        dm.multiply([1], t)  # type: ignore[arg-type]


# ---- integer and bool powers -----------------------------------------------------------------


def test_a_number_to_integer_tensor_powers() -> None:
    assert (2 ** dm.tensor([-1, 2])).tolist() == [0, 4]
    assert dm.pow(2, dm.tensor([-1, 2])).tolist() == [0, 4]
    assert (1 ** dm.tensor([-1, -2])).tolist() == [1, 1]
    assert ((-1) ** dm.tensor([-1, -2, -3])).tolist() == [-1, 1, -1]
    assert (0 ** dm.tensor([-1, 0])).tolist() == [0, 1]
    assert (True ** dm.tensor([-1, 2])).tolist() == [1, 1]
    assert (False ** dm.tensor([-1, 2])).tolist() == [0, 0]
    out = 5 ** dm.tensor([3, -3])
    assert out.dtype == dm.int64 and out.tolist() == [125, 0]


def test_integer_tensor_to_integer_tensor_powers() -> None:
    base = dm.tensor([1, -1, 2, 0, -2, 3])
    exponent = dm.tensor([-1, -1, -1, -1, -3, 2])
    assert (base**exponent).tolist() == [1, -1, 0, 0, 0, 9]
    assert base.pow(exponent).tolist() == [1, -1, 0, 0, 0, 9]
    assert (dm.tensor([2, 1]) ** dm.tensor(-1)).tolist() == [0, 1]  # a 0-d exponent
    out = dm.tensor([2, 1], dtype=dm.int32) ** dm.tensor([-1, -1])
    assert out.dtype == dm.int64 and out.tolist() == [0, 1]
    assert (dm.tensor([True, False]) ** dm.tensor([2, -1])).tolist() == [1, 0]
    x = dm.tensor([2, 1])
    x **= dm.tensor([-1, -1])
    assert x.tolist() == [0, 1]
    assert dm.tensor([2, 1]).pow_(dm.tensor([-1, -1])).tolist() == [0, 1]


def test_a_negative_number_exponent_of_integers_still_raises() -> None:
    with pytest.raises(dm.InvalidValueError):
        dm.tensor([1, 2]) ** -1
    with pytest.raises(RuntimeError):
        dm.tensor([1, 2]).pow(-1)
    with pytest.raises(RuntimeError):
        dm.tensor([True, False]) ** -1


def test_bool_tensor_to_a_bool_power() -> None:
    x = dm.tensor([True, False])
    out = x**True
    assert out.dtype == dm.bool and out.tolist() == [True, False]
    assert out is not x
    out = x.pow(False)
    assert out.dtype == dm.bool and out.tolist() == [True, True]
    assert (x**2).dtype == dm.int64 and (x**2).tolist() == [1, 0]
    with pytest.raises(dm.DTypeError):  # PyTorch has no bool ** bool tensor either
        x ** dm.tensor([True, True])
    with pytest.raises(dm.DTypeError):
        True**x


def test_float_powers_are_unchanged() -> None:
    (g,) = _grads(lambda x: x**2 + 2.0**x, [1.0, -2.0])
    np.testing.assert_allclose(g, [2 + 2 * math.log(2), -4 + 0.25 * math.log(2)], rtol=1e-6)
    np.testing.assert_allclose(
        (dm.tensor([2.0, 4.0]) ** dm.tensor([-1, 2])).numpy(), [0.5, 16.0], rtol=1e-6
    )


# ---- chunk / split of an empty dim -----------------------------------------------------------


def test_chunk_of_an_empty_dim_gives_chunks_empty_pieces() -> None:
    assert [c.shape for c in dm.empty(0, 3).chunk(2)] == [(0, 3), (0, 3)]
    assert [c.shape for c in dm.chunk(dm.empty(0, 3), 1)] == [(0, 3)]
    assert [c.shape for c in dm.empty(3, 0).chunk(3, dim=1)] == [(3, 0)] * 3
    assert [c.shape for c in dm.empty(0, 3).chunk(2, -2)] == [(0, 3), (0, 3)]
    assert [c.shape for c in dm.empty(0).chunk(3)] == [(0,)] * 3
    assert [c.shape for c in dm.ones(5, 2).chunk(3)] == [(2, 2), (2, 2), (1, 2)]
    with pytest.raises(RuntimeError, match="greater than 0"):
        dm.empty(0, 3).chunk(0)


def test_split_of_an_empty_dim_gives_one_empty_piece() -> None:
    assert [c.shape for c in dm.empty(0, 3).split(2)] == [(0, 3)]
    assert [c.shape for c in dm.split(dm.empty(0, 3), 1)] == [(0, 3)]
    assert [c.shape for c in dm.empty(0, 3).split(0)] == [(0, 3)]
    assert [c.shape for c in dm.empty(3, 0).split(2, dim=1)] == [(3, 0)]
    assert [c.shape for c in dm.empty(0, 3).split([0, 0])] == [(0, 3), (0, 3)]
    assert [c.shape for c in dm.ones(4, 2).split([1, 3])] == [(1, 2), (3, 2)]
    with pytest.raises(RuntimeError, match="split_size can only be 0"):
        dm.empty(3, 3).split(0)
    with pytest.raises(IndexError):
        dm.ones(2).split(1, 3)


def test_empty_pieces_are_differentiable() -> None:
    x = dm.zeros(0, 3, requires_grad=True)
    a, b = x.chunk(2)
    (a.sum() + b.sum()).backward()
    assert x.grad is not None and x.grad.shape == (0, 3)


# ---- gradients of the extremes with NaN ------------------------------------------------------


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1.0, NAN, 3.0], [0.0, 1.0, 0.0]),
        ([NAN, 1.0, NAN], [0.5, 0.0, 0.5]),
        ([NAN, NAN], [0.5, 0.5]),
        ([[1.0, NAN], [NAN, 3.0]], [[0.0, 0.5], [0.5, 0.0]]),
    ],
)
def test_max_min_send_the_gradient_to_the_nans(name: str, values, expected) -> None:
    x = dm.tensor(values, requires_grad=True)
    out = getattr(x, name)()
    assert out.shape == () and math.isnan(out.item())
    out.backward()
    assert x.grad.tolist() == expected


def test_max_min_without_nan_are_unchanged() -> None:
    inf = float("inf")
    for values, name, value, expected in [
        ([1.0, inf, -inf], "max", inf, [0.0, 1.0, 0.0]),
        ([1.0, inf, -inf], "min", -inf, [0.0, 0.0, 1.0]),
        ([-inf, -inf], "max", -inf, [0.5, 0.5]),
        ([3.0, 1.0, 3.0], "max", 3.0, [0.5, 0.0, 0.5]),
    ]:
        x = dm.tensor(values, requires_grad=True)
        out = getattr(x, name)()
        assert out.item() == value
        out.backward()
        assert x.grad.tolist() == expected
    x = dm.tensor([0.1, 0.7, 0.7, 0.7], requires_grad=True)
    assert x.max().item() == x.detach().max().item()  # exactly the engine's value
    assert dm.max(x).item() == np.float32(0.7)


def test_max_min_in_half_precision_with_nan() -> None:
    for dtype in (dm.float16, dm.bfloat16):
        x = dm.tensor([1.0, NAN, 3.0], dtype=dtype, requires_grad=True)
        out = x.max()
        assert out.dtype == dtype
        out.backward()
        assert x.grad.float().tolist() == [0.0, 1.0, 0.0]


def test_max_with_a_dim_and_amax_route_nan_gradients() -> None:
    # The engine's amax shares the gradient among the elements equal to the result, a NaN
    # result among the NaNs, as max() does (PyTorch's amax alone spreads NaN everywhere).
    (g,) = _grads(lambda x: x.amax(), [1.0, NAN, 3.0])
    assert g == [0.0, 1.0, 0.0]
    x = dm.tensor([[1.0, NAN, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    x.max(1).values.sum().backward()
    assert x.grad.tolist() == [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]


A = [1.0, NAN, 3.0, NAN, 2.0]
B = [NAN, 2.0, 1.0, NAN, 2.0]


@pytest.mark.parametrize(
    ("fn", "ga", "gb"),
    [
        (dm.maximum, [1.0, 1.0, 1.0, 1.0, 0.5], [1.0, 1.0, 0.0, 1.0, 0.5]),
        (dm.minimum, [1.0, 1.0, 0.0, 1.0, 0.5], [1.0, 1.0, 1.0, 1.0, 0.5]),
        (lambda a, b: a.max(b), [1.0, 1.0, 1.0, 1.0, 0.5], [1.0, 1.0, 0.0, 1.0, 0.5]),
        (lambda a, b: dm.min(a, b), [1.0, 1.0, 0.0, 1.0, 0.5], [1.0, 1.0, 1.0, 1.0, 0.5]),
        (dm.fmax, [1.0, 0.0, 1.0, 1.0, 0.5], [0.0, 1.0, 0.0, 0.0, 0.5]),
        (dm.fmin, [1.0, 0.0, 0.0, 1.0, 0.5], [0.0, 1.0, 1.0, 0.0, 0.5]),
    ],
)
def test_elementwise_extremes_with_nan_grads(fn, ga, gb) -> None:
    assert _grads(fn, A, B) == [ga, gb]


def test_maximum_values_and_broadcast_with_nan() -> None:
    a = dm.tensor([[1.0, NAN, 3.0], [float("inf"), -float("inf"), NAN]], requires_grad=True)
    b = dm.tensor([NAN, 3.0, -float("inf")], requires_grad=True)
    out = dm.maximum(a, b)
    np.testing.assert_array_equal(
        out.detach().numpy(), np.maximum(a.detach().numpy(), b.detach().numpy())
    )
    (out * dm.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).sum().backward()
    assert a.grad.tolist() == [[1.0, 2.0, 3.0], [4.0, 0.0, 6.0]]
    assert b.grad.tolist() == [5.0, 7.0, 6.0]
    with dm.no_grad():
        assert not dm.maximum(a, b).requires_grad
    assert dm.maximum(dm.tensor([1, 5]), dm.tensor([3, 2])).tolist() == [3, 5]


@pytest.mark.parametrize(
    ("p", "kwargs", "expected"),
    [
        (float("inf"), {}, [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]),
        (float("inf"), {"dim": 1}, [[0.0, 0.0, 0.0], [0.5, -0.5, 0.0]]),
        (-float("inf"), {"dim": 1, "keepdim": True}, [[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]]),
    ],
)
def test_inf_norm_gradient_is_zero_in_a_slice_with_nan(p: float, kwargs, expected) -> None:
    x = dm.tensor([[1.0, NAN, 3.0], [3.0, -3.0, 1.0]], requires_grad=True)
    out = x.norm(p, **kwargs)
    values = out.detach().numpy().ravel()
    assert math.isnan(values[0])
    if values.size > 1:  # the slice without NaN keeps its norm
        assert values[-1] == (3.0 if p > 0 else 1.0)
    out.nan_to_num().sum().backward()
    assert x.grad.tolist() == expected


def test_inf_norm_values_match_numpy() -> None:
    a = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    x = dm.tensor(a, requires_grad=True)
    np.testing.assert_array_equal(x.norm(float("inf"), dim=1).detach().numpy(), np.abs(a).max(1))
    np.testing.assert_array_equal(x.norm(-float("inf")).detach().numpy(), np.abs(a).min())
    with dm.no_grad():
        assert x.norm(float("inf")).item() == np.abs(a).max()
