"""Bugs found by the session-25 differential fuzz of the functional autograd APIs against
PyTorch (CPU, float64). Each test holds PyTorch's result as a constant and is an
``xfail(strict=True)`` until the bug is fixed, so a fix shows up as an XPASS to flip."""

from __future__ import annotations

from typing import Any

import numpy as np

import democratising as dm
from democratising import func as fx

_BUG_NESTED = (
    "func transforms keep a graph only when their own differentiated inputs require grad "
    "(func.py grad_and_value/_run_on_fresh_inputs/_jac `outer`), so an outer transform over "
    "another argument or a captured tensor sees zero"
)


def _t(values: list[float], grad: bool = False) -> dm.Tensor:
    return dm.tensor(np.array(values, dtype=np.float64), dtype=dm.float64, requires_grad=grad)


def _np(t: dm.Tensor) -> np.ndarray:
    return np.asarray(t.detach().numpy())


X = [0.3, 0.5]
Y = [0.7, 0.2]
W = [1.5, -2.0]
# d/dw of sum_i d/da_i sin(a_i w_i) = cos(a w) - a w sin(a w), at a = X, w = W (PyTorch).
CLOSURE_MIXED = [0.7047126120026233, -0.30116867893975674]
# d/dw sum((d/da sum tanh(a w))^2) at a = X, w = W (PyTorch).
PENALTY = [1.2573656608294153, 0.36911656905926127]


def _f(x: dm.Tensor, y: dm.Tensor) -> dm.Tensor:
    return (x.sin() * y).sum()


def test_grad_of_grad_over_other_argnum_gives_mixed_partial() -> None:
    inner = fx.grad(_f, argnums=1)
    got = fx.grad(lambda x, y: inner(x, y).sum(), argnums=0)(_t(X), _t(Y))
    np.testing.assert_allclose(_np(got), [0.955336489125606, 0.8775825618903728], rtol=1e-12)


def test_jacrev_of_jacrev_over_other_argnum() -> None:
    got = fx.jacrev(fx.jacrev(_f, argnums=1), argnums=0)(_t(X), _t(Y))
    want = [[0.955336489125606, 0.0], [0.0, 0.8775825618903728]]
    np.testing.assert_allclose(_np(got), want, rtol=1e-12, atol=1e-15)


def test_grad_through_inner_grad_of_captured_tensor() -> None:
    x = _t(X)

    def penalty(w: dm.Tensor) -> dm.Tensor:
        return (fx.grad(lambda a: (a * w).tanh().sum())(x) ** 2).sum()

    np.testing.assert_allclose(_np(fx.grad(penalty)(_t(W))), PENALTY, rtol=1e-12)


def test_autograd_through_func_grad_of_parameter() -> None:
    """A gradient penalty written with func.grad must stay attached to a model parameter."""
    w = _t(W, grad=True)
    penalty = (fx.grad(lambda a: (a * w).tanh().sum())(_t(X)) ** 2).sum()
    (g,) = dm.autograd.grad(penalty, w)
    np.testing.assert_allclose(_np(g), PENALTY, rtol=1e-12)


def test_grad_through_inner_vjp_jvp_jacrev_of_captured_tensor() -> None:
    x = _t(X)
    ones = _t([1.0, 1.0])

    def via_vjp(w: dm.Tensor) -> dm.Tensor:
        return fx.vjp(lambda a: (a * w).sin(), x)[1](ones)[0].sum()

    def via_jvp(w: dm.Tensor) -> dm.Tensor:
        return fx.jvp(lambda a: (a * w).sin(), (x,), (ones,))[1].sum()

    def via_jacrev(w: dm.Tensor) -> dm.Tensor:
        return fx.jacrev(lambda a: (a * w).sin())(x).sum()

    for fn in (via_vjp, via_jvp, via_jacrev):
        np.testing.assert_allclose(_np(fx.grad(fn)(_t(W))), CLOSURE_MIXED, rtol=1e-12)


def test_grad_through_vmapped_per_sample_grads_of_captured_tensor() -> None:
    xs = dm.tensor(np.array([[0.3, 0.5], [0.1, 0.2]]), dtype=dm.float64)

    def total(w: dm.Tensor) -> dm.Tensor:
        return fx.vmap(fx.grad(lambda a: (a * w).sin().sum()))(xs).sum()

    want = [1.6710679700676256, 0.46412497813966813]
    np.testing.assert_allclose(_np(fx.grad(total)(_t(W))), want, rtol=1e-12)


_BUG_POW0 = (
    "pow_grads (rust/core/src/ops/binary.rs) masks e*x^(e-1) with masked_fill(e == 0) after "
    "computing 0 * 0^-1, so the double backward multiplies 0 by inf: NaN"
)


def test_hessian_of_polynomial_with_constant_term_at_zero() -> None:
    c = _t([1.0, 2.0, 3.0])

    def poly(x: dm.Tensor) -> dm.Tensor:
        return c[0] * x**0 + c[1] * x**1 + c[2] * x**2

    x0 = dm.tensor(0.0, dtype=dm.float64)
    assert float(fx.hessian(poly)(x0)) == 6.0
    assert float(dm.autograd.functional.hessian(poly, x0)) == 6.0


def test_second_derivative_of_pow_zero_at_zero() -> None:
    x = _t([0.0, 1.0], grad=True)
    (g,) = dm.autograd.grad((x**0).sum(), x, create_graph=True)
    (gg,) = dm.autograd.grad(g.sum(), x, materialize_grads=True)
    np.testing.assert_array_equal(_np(gg), [0.0, 0.0])


_BUG_XLOGY = (
    "xlogy/xlog1py (python/democratising/_math_functions.py, special.py) give d/dx at x == 0 "
    "through a detached slope, dropping the mixed second derivative 1/y"
)


def test_xlogy_second_derivative_at_zero() -> None:
    x = _t([0.0, 0.5], grad=True)
    (g,) = dm.autograd.grad(dm.xlogy(x, x + 1.0).sum(), x, create_graph=True)
    (gg,) = dm.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(_np(gg), [2.0, 1.1111111111111112], rtol=1e-12)


def test_xlog1py_second_derivative_at_zero() -> None:
    x = _t([0.0, 0.5], grad=True)
    (g,) = dm.autograd.grad(dm.special.xlog1py(x, x).sum(), x, create_graph=True)
    (gg,) = dm.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(_np(gg), [2.0, 1.1111111111111112], rtol=1e-12)


class _AddOne(dm.autograd.Function):
    """In place ``x += 1`` with a deliberately different backward (2 g), marked dirty."""

    @staticmethod
    def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
        x.add_(1.0)
        ctx.mark_dirty(x)
        return x

    @staticmethod
    def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
        return g * 2


def test_mark_dirty_rebases_the_input_itself() -> None:
    x0 = _t([0.3, -1.0], grad=True)
    x = x0 * 1.0
    y = _AddOne.apply(x)
    assert y is x
    (g,) = dm.autograd.grad((x * x).sum(), x0)  # through the custom backward: 2 * 2 * x
    np.testing.assert_allclose(_np(g), [5.2, 0.0], rtol=1e-12)


def test_second_backward_through_graph_without_saved_tensors() -> None:
    a = _t([1.0, 2.0], grad=True)
    out = (a + 1).sum()
    out.backward()
    out.backward()
    np.testing.assert_array_equal(_np(a.grad), [2.0, 2.0])
