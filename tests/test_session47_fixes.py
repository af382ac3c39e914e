"""Anomaly mode naming the forward call behind any backward error (not only NaN), and
``matmul`` refusing operands of two dtypes as PyTorch does (no silent promotion)."""

from __future__ import annotations

import pytest

import democratising as dm


def test_anomaly_names_the_forward_call_of_an_input_changed_in_place() -> None:
    """The classic use of ``detect_anomaly``: which op's saved input was changed in place."""
    a = dm.randn(3, requires_grad=True)
    with dm.autograd.detect_anomaly():
        b = a.sigmoid()  # saves its output, changed below
        b.mul_(2)
        with pytest.raises(RuntimeError) as info:
            b.sum().backward()
    message = str(info.value)
    assert "Traceback of forward call that caused the error" in message
    assert "b = a.sigmoid()" in message and "test_session47_fixes.py" in message
    # Outside anomaly mode the error is the same, without a traceback.
    b = a.sigmoid()
    b.mul_(2)
    with pytest.raises(RuntimeError) as info:
        b.sum().backward()
    assert "Traceback of forward call" not in str(info.value)


def test_anomaly_keeps_a_custom_backward_error_type() -> None:
    """A user's exception from a custom ``Function.backward`` keeps its type under anomaly mode."""

    class Fails(dm.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[no-untyped-def]
            return x * 2

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            raise KeyError("from the user's backward")

    x = dm.ones(2, requires_grad=True)
    with dm.autograd.detect_anomaly():
        y = Fails.apply(x)  # the line the second note names
        with pytest.raises(KeyError, match="from the user's backward") as info:
            y.sum().backward()
    notes = info.value.__notes__
    assert notes[0] == "(raised in a custom Function's backward during backward)"
    assert notes[1].startswith("Error detected in") and "y = Fails.apply(x)" in notes[1]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (dm.float32, dm.float64),
        (dm.float32, dm.int64),
        (dm.float32, dm.float16),
        (dm.int64, dm.float64),
    ],
)
def test_matmul_refuses_two_dtypes(a: dm.dtype, b: dm.dtype) -> None:
    x, y = dm.ones(2, 3, dtype=a), dm.ones(3, 2, dtype=b)
    for f in (lambda: x @ y, lambda: dm.matmul(x, y), lambda: x.mm(y)):
        with pytest.raises(dm.DTypeError, match="same dtype") as info:
            f()
        assert isinstance(info.value, RuntimeError)  # as PyTorch's error
        assert info.value.op == "matmul"
    with pytest.raises(dm.DTypeError):
        dm.ones(3, dtype=a) @ dm.ones(3, dtype=b)
    with pytest.raises(dm.DTypeError):
        dm.ones(4, 2, 3, dtype=a).bmm(dm.ones(4, 3, 2, dtype=b))


def test_matmul_of_one_dtype_and_autocast_still_work() -> None:
    assert (dm.ones(2, 3, dtype=dm.int64) @ dm.ones(3, 2, dtype=dm.int64)).tolist() == [[3, 3]] * 2
    x, w = dm.ones(2, 3), dm.ones(3, 2, dtype=dm.bfloat16)
    with dm.autocast("cpu", dtype=dm.bfloat16):
        assert (x @ w).dtype == dm.bfloat16


def test_number_first_true_division_divides_the_number_itself() -> None:
    u = dm.tensor([1, 2, 3], dtype=dm.uint8)
    for f in (dm.div, dm.true_divide, dm.divide):
        assert f(-2, u).tolist() == pytest.approx([-2.0, -1.0, -2 / 3])
    assert dm.div(300, dm.tensor([1, 2, 3], dtype=dm.int8)).tolist() == [300.0, 150.0, 100.0]
    # with a rounding mode the number is an integer operand, wrapped as PyTorch's (254)
    assert dm.div(-2, u, rounding_mode="floor").tolist() == [254, 127, 84]


def test_int_numbers_wrap_to_the_integer_dtype_of_the_op() -> None:
    u = dm.tensor([1, 2, 3], dtype=dm.uint8)
    assert (u & ~1).tolist() == [0, 2, 2]
    assert (dm.tensor([1, -2, 3], dtype=dm.int32) & 0xFFFFFFFF).tolist() == [1, -2, 3]
    assert (dm.tensor([1, 2, 3], dtype=dm.int8) ^ 0xFF).tolist() == [-2, -3, -4]
    assert (0xFF ^ dm.tensor([1, 2, 3], dtype=dm.int8)).tolist() == [-2, -3, -4]
    assert dm.bitwise_left_shift(dm.tensor([1], dtype=dm.uint8), -1).tolist() == [0]
    assert dm.add(300, dm.tensor([1, 2, 3], dtype=dm.int8)).tolist() == [45, 46, 47]
    v = u.clone()
    v &= ~1
    assert v.tolist() == [0, 2, 2]


def test_clamp_min_and_max_of_integers_with_numbers_beyond_the_dtype() -> None:
    u = dm.tensor([1, 2, 3], dtype=dm.uint8)
    assert u.clamp_min(-1).tolist() == [1, 2, 3]
    assert u.clamp_max(300).tolist() == [1, 2, 3]
    assert dm.clamp_max(u, 1000).tolist() == [1, 2, 3]
    assert dm.tensor([1, 2, 3], dtype=dm.int8).clamp_min(-200).tolist() == [1, 2, 3]
    assert u.clamp_min(2).tolist() == [2, 2, 3] and u.clamp_max(2).tolist() == [1, 2, 2]


def test_products_with_an_input_of_another_dtype_raise() -> None:
    f32, f64 = dm.zeros(2, 4), dm.ones(2, 4, dtype=dm.float64)
    with pytest.raises(dm.DTypeError):
        dm.inner(dm.randn(2, 3), dm.randn(4, 3, dtype=dm.float64))
    with pytest.raises(dm.DTypeError):
        dm.addmm(f32, dm.ones(2, 3, dtype=dm.float64), dm.ones(3, 4, dtype=dm.float64))
    with pytest.raises(dm.DTypeError):
        dm.baddbmm(f32[None], dm.ones(1, 2, 3).double(), dm.ones(1, 3, 4).double())
    with pytest.raises(dm.DTypeError):
        dm.addbmm(f32, dm.ones(1, 2, 3).double(), dm.ones(1, 3, 4).double())
    with pytest.raises(dm.DTypeError):
        dm.addmv(dm.zeros(2), dm.ones(2, 3).double(), dm.ones(3).double())
    # one dtype throughout works; addr promotes as PyTorch's
    assert dm.addmm(f64, dm.ones(2, 3).double(), dm.ones(3, 4).double()).dtype == dm.float64
    assert dm.addr(dm.zeros(2, 2), dm.ones(2).double(), dm.ones(2).double()).dtype == dm.float64
    assert dm.inner(dm.tensor(2.0, dtype=dm.float64), dm.ones(2)).tolist() == [2.0, 2.0]
    with dm.autocast("cpu", dtype=dm.bfloat16):
        with pytest.raises(dm.DTypeError):  # a float64 input is not autocast, as PyTorch
            dm.addmm(f64, dm.ones(2, 3), dm.ones(3, 4))
        assert dm.addmm(f32, dm.ones(2, 3), dm.ones(3, 4)).dtype == dm.bfloat16
        assert dm.addmv(dm.zeros(2), dm.ones(2, 3), dm.ones(3)).dtype == dm.float32


def test_fmod_by_a_bool_and_bool_scatter_multiply() -> None:
    assert dm.fmod(dm.tensor([5, 7]), True).tolist() == [0, 0]
    t = dm.tensor([True, True])
    out = t.scatter(0, dm.tensor([0]), dm.tensor([False]), reduce="multiply")
    assert out.dtype == dm.bool and out.tolist() == [False, True]


def test_softmax_and_vector_norm_refuse_a_wrong_dtype_argument() -> None:
    x = dm.tensor([1.0, 2.0, 3.0])
    with pytest.raises(dm.DTypeError):
        dm.nn.functional.softmax(x, 0, dtype=dm.int64)
    with pytest.raises(dm.DTypeError):
        dm.nn.functional.log_softmax(x, 0, dtype=dm.int64)
    for f in (dm.softmax, dm.log_softmax, dm.special.softmax, dm.special.log_softmax):
        with pytest.raises(dm.DTypeError):
            f(x, 0, dtype=dm.int32)
    with pytest.raises(dm.DTypeError):
        x.softmax(0, dtype=dm.int32)
    assert x.log_softmax(0, dtype=dm.float64).dtype == dm.float64
    with pytest.raises(dm.DTypeError):
        dm.linalg.matrix_norm(dm.ones(2, 2, dtype=dm.float64), dtype=dm.float32)
    assert dm.nn.functional.softmax(x, 0, dtype=dm.float64).dtype == dm.float64
    with pytest.raises(dm.DTypeError):
        dm.linalg.vector_norm(dm.ones(3, dtype=dm.float64), dtype=dm.float32)
    with pytest.raises(dm.DTypeError):
        dm.linalg.vector_norm(x, dtype=dm.int64)
    with pytest.raises(dm.DTypeError):
        dm.linalg.vector_norm(dm.ones(3, dtype=dm.bfloat16), dtype=dm.float16)
    assert dm.linalg.vector_norm(x, dtype=dm.float64).dtype == dm.float64


def test_int_arithmetic_wraps_a_number_beyond_the_dtype_but_factories_refuse_it() -> None:
    t = dm.tensor([1, 2, 3], dtype=dm.int8)
    assert (t + 300).tolist() == [45, 46, 47] and (t + 300).dtype == dm.int8
    assert (dm.tensor([1, -2, 3], dtype=dm.int32) * 2**40).tolist() == [0, 0, 0]
    assert (t // 300).tolist() == [0, 0, 0]
    # comparisons take the number wrapped too, as PyTorch's (300 is 44 in int8, 511 is 255)
    assert (dm.tensor([1, -2, 100], dtype=dm.int8) < 300).tolist() == [True, True, False]
    assert (dm.tensor([1, 2, 255], dtype=dm.uint8) == 511).tolist() == [False, False, True]
    # a power, alpha and numbers beyond 64 bits are refused, as PyTorch refuses them
    u8 = dm.tensor([2, 3], dtype=dm.uint8)
    for bad in (
        lambda: u8**256,
        lambda: u8.pow(257),
        lambda: dm.sub(t, t, alpha=300),
        lambda: dm.add(u8, 1, alpha=300),
        lambda: dm.add(2**70, t),
        lambda: t | 2**64,
        lambda: 2**64 | t,
    ):
        with pytest.raises(OverflowError):
            bad()
    assert (t / 256).tolist() == pytest.approx([1 / 256, 2 / 256, 3 / 256])
    u = t.clone()
    u.add_(300)
    assert u.tolist() == [45, 46, 47]
    with pytest.raises(OverflowError):
        t.fill_(300)
    with pytest.raises(OverflowError):
        dm.full((2,), 300, dtype=dm.int8)


def test_scatter_add_refuses_a_src_of_another_dtype() -> None:
    with pytest.raises(dm.DTypeError, match=r"src\.dtype"):
        dm.zeros(3).scatter_add(0, dm.tensor([0, 0]), dm.tensor([1.5, 2.5], dtype=dm.float64))
    out = dm.zeros(3).scatter_add(0, dm.tensor([0, 0]), dm.tensor([1.5, 2.5]))
    assert out.tolist() == [4.0, 0.0, 0.0]


def test_inplace_arithmetic_on_a_non_leaf_shows_its_own_node() -> None:
    """``y += 1`` prints ``grad_fn=<AddBackward0>`` as PyTorch's (it showed ExpandBackward0)."""
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y += 1
    assert y.grad_fn.name() == "AddBackward0" and "AddBackward0" in repr(y)
    y.mul_(3)
    assert y.grad_fn.name() == "MulBackward0"
    (y * y).sum().backward()
    assert x.grad.tolist() == [36.0, 54.0]  # d/dx (3(x + 1))**2 = 18 (x + 1)
    z = x * 1
    z.add_(dm.ones(1))  # broadcast operand: the node still gives z its gradient
    z.sum().backward()
    assert x.grad.tolist() == [37.0, 55.0]
