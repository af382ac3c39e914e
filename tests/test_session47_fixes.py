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
        y = Fails.apply(x)
        with pytest.raises(KeyError, match="from the user's backward"):
            y.sum().backward()


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
