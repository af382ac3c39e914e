"""Session 26 differential fuzz of the custom ``autograd.Function`` API, ``autograd.grad``,
``autograd.functional``, ``func`` and ``gradcheck`` against PyTorch (CPU). Each test encodes
PyTorch's result (constants computed with torch 2.x) for a divergence found by the fuzz; all
are fixed (session 26) and now plain regression tests."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import democratising as dm

_E = math.e


def _t(values: Any, requires_grad: bool = False) -> dm.Tensor:
    return dm.tensor(values, dtype=dm.float64, requires_grad=requires_grad)


class _ScaledSquare(dm.autograd.Function):
    """``forward(x, k=3.0)`` in the ``setup_context`` style: ``k`` has a default."""

    @staticmethod
    def forward(x: dm.Tensor, k: float = 3.0) -> dm.Tensor:
        return x * x * k

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        x, k = inputs
        ctx.save_for_backward(x)
        ctx.k = k

    @staticmethod
    def backward(ctx: Any, g: dm.Tensor) -> tuple[Any, ...]:
        (x,) = ctx.saved_tensors
        return 2 * x * g * ctx.k, None


def test_setup_context_sees_forward_defaults() -> None:
    x = _t([1.0, 2.0, 3.0], True)
    y = _ScaledSquare.apply(x)
    y.sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), [3.0, 12.0, 27.0])
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 12.0, 18.0])


class _Exp(dm.autograd.Function):
    """Saves its output, the usual pattern for exp/sigmoid/tanh-like Functions."""

    @staticmethod
    def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
        (y,) = ctx.saved_tensors
        return g * y


def test_double_backward_through_function_saving_its_output() -> None:
    x = _t([0.0, 1.0], True)
    (g,) = dm.autograd.grad(_Exp.apply(x).sum(), x, create_graph=True)
    (gg,) = dm.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(g.detach().numpy(), [1.0, _E])
    np.testing.assert_allclose(gg.numpy(), [1.0, _E])


class _TripleNotReturned(dm.autograd.Function):
    """Marks its input dirty but returns a different tensor (PyTorch refuses this)."""

    @staticmethod
    def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
        x.mul_(3)
        ctx.mark_dirty(x)
        return x * 1

    @staticmethod
    def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
        return g * 3


def test_mark_dirty_input_not_returned_raises() -> None:
    a = _t([1.0, 2.0], True)
    x = a * 1
    with pytest.raises(RuntimeError, match="marked as dirty"):
        _TripleNotReturned.apply(x)


def test_gradcheck_ignores_a_detached_output() -> None:
    x = _t([1.0, 2.0], True)
    ok = dm.autograd.gradcheck(lambda a: (a * 2, a.detach() * 3), (x,), raise_exception=False)
    assert ok is True


def test_grad_materialized_zeros_require_grad_under_create_graph() -> None:
    x = _t([1.0, 2.0], True)
    z = _t([1.0, 2.0], True)
    gx, gz = dm.autograd.grad((x * x).sum(), [x, z], materialize_grads=True, create_graph=True)
    np.testing.assert_allclose(gx.detach().numpy(), [2.0, 4.0])
    np.testing.assert_allclose(gz.detach().numpy(), [0.0, 0.0])
    assert gz.requires_grad


class _OnceSquare(dm.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    @dm.autograd.function.once_differentiable
    def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
        (x,) = ctx.saved_tensors
        return 2 * x * g


def test_gradgradcheck_once_differentiable_returns_false() -> None:
    x = _t([1.0, 2.0], True)
    assert dm.autograd.gradgradcheck(_OnceSquare.apply, (x,), raise_exception=False) is False


def test_vmap_inplace_into_captured_unbatched_tensor_raises() -> None:
    acc = _t([0.0, 0.0])
    with pytest.raises(RuntimeError):
        dm.func.vmap(lambda x: acc.add_(x))(_t([[1.0, 2.0], [3.0, 4.0]]))


class _PassThroughNonDiff(dm.autograd.Function):
    """Returns its input, marked non-differentiable."""

    @staticmethod
    def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
        ctx.mark_non_differentiable(x)
        return x

    @staticmethod
    def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
        return g


def test_mark_non_differentiable_returned_input_is_detached_alias() -> None:
    x = _t([1.0, 2.0], True)
    y = _PassThroughNonDiff.apply(x)
    assert y is not x
    assert not y.requires_grad
    np.testing.assert_allclose(y.numpy(), [1.0, 2.0])
