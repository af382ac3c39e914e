"""The error bridge between the engine and Python: an exception raised by user code that the
engine calls (a hook, a custom ``Function.backward``) reaches the caller as itself, and every
error the glue raises is a class of ``democratising.errors``."""

from __future__ import annotations

import traceback

import numpy as np
import pytest

import democratising as dm
from democratising.errors import ArgumentTypeError, AutogradError, DemocratisingError


class UserError(Exception):
    pass


def test_tensor_hook_exception_keeps_type_and_traceback() -> None:
    x = dm.randn(3, requires_grad=True)

    def hook(g: dm.Tensor) -> None:
        raise UserError("from the hook")

    x.register_hook(hook)
    with pytest.raises(UserError, match="from the hook") as e:
        (x * 2).sum().backward()
    frames = [f.name for f in traceback.extract_tb(e.value.__traceback__)]
    assert "hook" in frames
    assert any("tensor hook" in n for n in getattr(e.value, "__notes__", []))


def test_custom_function_backward_exception_keeps_type() -> None:
    class Twice(dm.autograd.Function):
        @staticmethod
        def forward(ctx, a):  # type: ignore[no-untyped-def]
            return a * 2

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            raise KeyError("missing")

    y = dm.randn(2, requires_grad=True)
    with pytest.raises(KeyError) as e:
        Twice.apply(y).sum().backward()
    assert e.value.args == ("missing",)
    assert any("custom Function" in n for n in getattr(e.value, "__notes__", []))


def test_post_accumulate_hook_exception_keeps_type() -> None:
    p = dm.randn(2, requires_grad=True)

    def hook(t: dm.Tensor) -> None:
        raise ZeroDivisionError("post")

    p.register_post_accumulate_grad_hook(hook)
    with pytest.raises(ZeroDivisionError, match="post"):
        (p * 3).sum().backward()


def test_engine_errors_inside_backward_stay_engine_errors() -> None:
    x = dm.randn(2, requires_grad=True)
    x.register_hook(lambda g: "not a tensor")
    with pytest.raises(AutogradError, match="must return None or a Tensor"):
        (x * 1).sum().backward()


@pytest.mark.parametrize(
    "call",
    [
        lambda: len(dm.tensor(1.0)),
        lambda: iter(dm.tensor(1.0)),
        lambda: dm.from_numpy([1, 2]),
        lambda: dm.tensor([1.5]).__index__(),
        lambda: f"{dm.ones(2):.3f}",
        lambda: dm.randint(1, 2, 3, 4),
    ],
)
def test_glue_type_errors_are_in_the_hierarchy(call) -> None:
    with pytest.raises(ArgumentTypeError) as e:
        call()
    assert isinstance(e.value, TypeError) and isinstance(e.value, DemocratisingError)


def test_glue_value_and_autograd_errors_are_in_the_hierarchy() -> None:
    with pytest.raises(DemocratisingError):
        dm.ones(2).div(dm.ones(2), rounding_mode="round")
    with pytest.raises(DemocratisingError):
        dm.ones(2).clamp()
    with pytest.raises(AutogradError):
        dm.ones(2, requires_grad=True).numpy()
    assert isinstance(np.asarray(dm.ones(2)), np.ndarray)


def test_queue_callback_runs_once_after_the_last_gradient() -> None:
    a, b = dm.randn(3, requires_grad=True), dm.randn(3, requires_grad=True)
    seen: list[str] = []

    def at_end() -> None:
        # Every leaf's .grad is final when the callback runs.
        seen.append(f"end a={a.grad is not None} b={b.grad is not None}")

    def hook(t: dm.Tensor) -> None:
        seen.append("hook")
        if len(seen) == 1:
            dm.autograd.queue_callback(at_end)

    a.register_post_accumulate_grad_hook(hook)
    b.register_post_accumulate_grad_hook(hook)
    (a * b).sum().backward()
    assert seen == ["hook", "hook", "end a=True b=True"]
    seen.clear()
    (a + b).sum().backward()  # a new pass: the callback was consumed
    assert seen == ["hook", "hook", "end a=True b=True"]


def test_queue_callback_outside_backward_raises() -> None:
    with pytest.raises(AutogradError, match="during the backward pass"):
        dm.autograd.queue_callback(lambda: None)


def test_queue_callback_exception_propagates() -> None:
    x = dm.randn(2, requires_grad=True)

    def boom() -> None:
        raise UserError("in callback")

    x.register_hook(lambda g: dm.autograd.queue_callback(boom))
    with pytest.raises(UserError, match="in callback"):
        (x * 2).sum().backward()
    # The queue closed with the failed pass: the next backward runs cleanly.
    y = dm.randn(2, requires_grad=True)
    (y * 2).sum().backward()
    assert y.grad is not None
