"""``grad_fn`` names as PyTorch spells them: built-in nodes carry the overload digit
(``MulBackward0``), a custom Function's node is ``<Class>Backward``."""

import re

import democratising as dm


def test_builtin_nodes_carry_the_digit() -> None:
    x = dm.ones(2, requires_grad=True)
    y = x * 2
    assert y.grad_fn.name() == "MulBackward0"
    assert repr(y) == "tensor([2., 2.], grad_fn=<MulBackward0>)"
    assert re.fullmatch(r"<MulBackward0 object at 0x[0-9a-f]+>", repr(y.grad_fn))
    assert (x + 1).grad_fn.name() == "AddBackward0"
    assert x.exp().grad_fn.name() == "ExpBackward0"
    assert y.sum().grad_fn.name() == "SumBackward0"
    assert y.grad_fn.next_functions[0][0].name() == "torch::autograd::AccumulateGrad"


def test_custom_function_node_is_named_after_its_class() -> None:
    class Square(dm.autograd.Function):
        @staticmethod
        def forward(ctx, a):  # type: ignore[no-untyped-def]
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            (a,) = ctx.saved_tensors
            return 2 * a * g

    x = dm.tensor([3.0], requires_grad=True)
    z = Square.apply(x)
    assert z.grad_fn.name() == "SquareBackward"
    assert repr(z) == "tensor([9.], grad_fn=<SquareBackward>)"
    z.sum().backward()
    assert x.grad.tolist() == [6.0]
