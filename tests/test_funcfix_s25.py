"""Regression tests for the session-25 fixes to the functional transforms (``func``) and to
``xlogy``/``special.xlog1py``:

* a transform keeps its graph whenever grad mode is on and its output reaches a tensor
  requiring grad other than its own inputs (another argument, a captured tensor, an outer
  transform's input), so nesting and plain autograd see through it, and its results require
  grad exactly where PyTorch's do;
* the derivative of ``xlogy``/``xlog1py`` at ``x == 0`` keeps its graph in ``y``, so the
  second derivatives there are PyTorch's.

Expected values are closed forms evaluated with NumPy (and requires_grad flags as PyTorch 2.x
gives them)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising import func as fx

X = np.array([0.3, 0.5])
Y = np.array([0.7, 0.2])
W = np.array([1.5, -2.0])


def _t(values: Any, grad: bool = False) -> dm.Tensor:
    return dm.tensor(np.asarray(values, dtype=np.float64), dtype=dm.float64, requires_grad=grad)


def _np(t: dm.Tensor) -> np.ndarray:
    return np.asarray(t.detach().numpy())


def _f(x: dm.Tensor, y: dm.Tensor) -> dm.Tensor:
    return (x.sin() * y).sum()


def _tanh_penalty_grad(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """d/dw sum((d/da sum tanh(a w))^2) = d/dw sum((w sech^2(a w))^2)."""
    s2 = 1.0 / np.cosh(a * w) ** 2
    g = w * s2
    dg_dw = s2 - 2.0 * w * a * s2 * np.tanh(a * w)
    return 2.0 * g * dg_dw


# ---- nesting over another argument ----------------------------------------------------------


def test_grad_of_grad_over_another_argument() -> None:
    inner = fx.grad(_f, argnums=1)  # sin(x), differentiable in x
    got = fx.grad(lambda x, y: inner(x, y).sum(), argnums=0)(_t(X), _t(Y))
    np.testing.assert_allclose(_np(got), np.cos(X), rtol=1e-12)


def test_jacrev_of_jacrev_over_another_argument() -> None:
    got = fx.jacrev(fx.jacrev(_f, argnums=1), argnums=0)(_t(X), _t(Y))
    np.testing.assert_allclose(_np(got), np.diag(np.cos(X)), rtol=1e-12, atol=1e-15)


def test_hessian_block_over_two_arguments() -> None:
    got = fx.jacfwd(fx.jacrev(_f, argnums=0), argnums=1)(_t(X), _t(Y))
    np.testing.assert_allclose(_np(got), np.diag(np.cos(X)), rtol=1e-12, atol=1e-15)


# ---- nesting over a captured tensor -----------------------------------------------------------


def test_grad_through_inner_grad_of_a_captured_tensor() -> None:
    x = _t(X)

    def penalty(w: dm.Tensor) -> dm.Tensor:
        return (fx.grad(lambda a: (a * w).tanh().sum())(x) ** 2).sum()

    np.testing.assert_allclose(_np(fx.grad(penalty)(_t(W))), _tanh_penalty_grad(X, W), rtol=1e-12)


def test_gradient_penalty_on_a_module_parameter_reaches_it() -> None:
    """A WGAN-GP style penalty written with ``func.grad`` trains the critic's parameter."""
    w = dm.nn.Parameter(_t(W))
    penalty = (fx.grad(lambda a: (a * w).tanh().sum())(_t(X)) ** 2).sum()
    assert penalty.requires_grad
    penalty.backward()
    np.testing.assert_allclose(_np(w.grad), _tanh_penalty_grad(X, W), rtol=1e-12)


@pytest.mark.parametrize("via", ["vjp", "jvp", "jacrev", "jacfwd", "linearize", "vmap_grad"])
def test_grad_through_inner_transforms_of_a_captured_tensor(via: str) -> None:
    x = _t(X)
    ones = _t([1.0, 1.0])

    def inner(w: dm.Tensor) -> dm.Tensor:
        def fn(a: dm.Tensor) -> dm.Tensor:
            return (a * w).sin()

        if via == "vjp":
            return fx.vjp(fn, x)[1](ones)[0]
        if via == "jvp":
            return fx.jvp(fn, (x,), (ones,))[1]
        if via == "linearize":
            return fx.linearize(fn, x)[1](ones)
        if via == "vmap_grad":
            return fx.vmap(fx.grad(lambda a: fn(a).sum()))(x.reshape(1, 2))[0]
        jac = fx.jacrev if via == "jacrev" else fx.jacfwd
        return jac(fn)(x).sum(0)

    # d/dw_i of w_i cos(a_i w_i) = cos(a w) - a w sin(a w)
    want = np.cos(X * W) - X * W * np.sin(X * W)
    got = fx.grad(lambda w: inner(w).sum())(_t(W))
    np.testing.assert_allclose(_np(got), want, rtol=1e-12)


def test_captured_leaf_sharing_the_inputs_storage_is_seen() -> None:
    """A captured leaf made from the input's own data is still another tensor."""
    x = _t(X)
    w = x.detach().requires_grad_(True)
    g = fx.grad(lambda a: (a.sin() * w).sum())(x)  # cos(x) * w
    assert g.requires_grad
    (gw,) = dm.autograd.grad(g.sum(), w)
    np.testing.assert_allclose(_np(gw), np.cos(X), rtol=1e-12)
    assert not x.requires_grad and w.requires_grad


def test_graph_with_shared_subgraphs_is_walked_once() -> None:
    """2**40 paths through 40 shared nodes: the walk must remember visited nodes."""
    x = _t(X)

    def doubled(w: dm.Tensor) -> Any:
        def fn(a: dm.Tensor) -> dm.Tensor:
            y = a.sin() * w
            for _ in range(40):
                y = y + y
            return y.sum()

        return fx.grad(fn)(x)

    w = _t(W, grad=True)
    g = doubled(w)  # 2**40 cos(x) w
    assert g.requires_grad
    (gw,) = dm.autograd.grad(g.sum(), w)
    np.testing.assert_allclose(_np(gw), 2.0**40 * np.cos(X), rtol=1e-12)
    assert not doubled(_t(W)).requires_grad


# ---- results require grad exactly where PyTorch's do ----------------------------------------


def test_results_are_detached_without_a_tensor_requiring_grad_outside() -> None:
    x = _t(X)
    assert not fx.grad(lambda a: a.sin().sum())(x).requires_grad
    out, vjp_fn = fx.vjp(lambda a: a.sin(), x)
    assert not out.requires_grad and not vjp_fn(_t([1.0, 1.0]))[0].requires_grad
    assert not fx.jacrev(lambda a: a.sin())(x).requires_grad
    assert not any(t.requires_grad for t in fx.jvp(lambda a: a.sin(), (x,), (_t([1.0, 1.0]),)))
    assert not fx.hessian(lambda a: a.sin().sum())(x).requires_grad


def test_grad_mode_off_detaches_the_results() -> None:
    w = _t(W, grad=True)
    with dm.no_grad():
        assert not fx.grad(lambda a: (a * w).tanh().sum())(_t(X)).requires_grad
        assert not fx.grad(lambda a: a.sin().sum())(_t(X, grad=True)).requires_grad
        assert not fx.vjp(lambda a: (a * w).sin(), _t(X))[0].requires_grad
        assert not fx.jacrev(lambda a: (a * w).sin())(_t(X)).requires_grad


def test_only_results_depending_on_the_captured_tensor_require_grad() -> None:
    w = _t(W, grad=True)
    x = _t(X)
    # the gradient 2a does not depend on w, the value does
    g, value = fx.grad_and_value(lambda a: (a**2).sum() + w.sum())(x)
    assert not g.requires_grad and value.requires_grad
    np.testing.assert_allclose(_np(g), 2 * X, rtol=1e-12)
    # aux follows its own dependence, as PyTorch's
    _, aux = fx.grad(lambda a: (a.sin().sum(), w * 2), has_aux=True)(x)
    assert aux.requires_grad
    _, aux = fx.grad(lambda a: ((a * w).sum(), a * 2), has_aux=True)(x)
    assert not aux.requires_grad
    # of two arguments, only the one requiring grad attaches its gradient
    xr = _t(X, grad=True)
    ga, gb = fx.grad(lambda a, b: (a.sin() + b.sin()).sum(), argnums=(0, 1))(xr, x)
    assert ga.requires_grad and not gb.requires_grad
    # a tangent requiring grad attaches the product, not the primal output
    primal, tangent = fx.jvp(lambda a: a.sin(), (x,), (_t([1.0, 1.0], grad=True),))
    assert not primal.requires_grad and tangent.requires_grad


def test_inputs_keep_their_flags_and_the_function_sees_leaves_requiring_grad() -> None:
    x = _t(X)
    seen: list[bool] = []

    def fn(a: dm.Tensor) -> dm.Tensor:
        seen.append(a.requires_grad and a.is_leaf)
        return a.sin().sum()

    fx.grad(fn)(x)
    _, vjp_fn = fx.vjp(lambda a: fn(a) * _t(W, grad=True).sum(), x)
    assert seen == [True, True] and not x.requires_grad
    vjp_fn(_t(1.0))  # the kept graph can be used again
    np.testing.assert_allclose(_np(vjp_fn(_t(1.0))[0]), np.cos(X) * W.sum(), rtol=1e-12)


# ---- xlogy / xlog1py second derivatives at x == 0 -------------------------------------------


@pytest.mark.parametrize("name", ["xlogy", "xlog1py"])
def test_second_derivative_at_zero_keeps_the_mixed_term(name: str) -> None:
    """d²/dx² of x log(x + 1) = 2/(1 + x) - x/(1 + x)² (xlogy(x, x + 1) = xlog1py(x, x))."""
    x = _t([0.0, 0.5], grad=True)
    out = dm.xlogy(x, x + 1.0) if name == "xlogy" else dm.special.xlog1py(x, x)
    (g,) = dm.autograd.grad(out.sum(), x, create_graph=True)
    xs = np.array([0.0, 0.5])
    np.testing.assert_allclose(_np(g), np.log1p(xs) + xs / (1 + xs), rtol=1e-12)
    (gg,) = dm.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(_np(gg), 2 / (1 + xs) - xs / (1 + xs) ** 2, rtol=1e-12)


@pytest.mark.parametrize("name", ["xlogy", "xlog1py"])
def test_mixed_second_derivative_at_zero(name: str) -> None:
    x = _t([0.0, 0.5, 0.0], grad=True)
    y = _t([2.0, 3.0, 0.5], grad=True)
    fn = dm.xlogy if name == "xlogy" else dm.special.xlog1py
    (gx,) = dm.autograd.grad(fn(x, y).sum(), x, create_graph=True)
    (gxy,) = dm.autograd.grad(gx.sum(), y)
    shift = 0.0 if name == "xlogy" else 1.0
    np.testing.assert_allclose(_np(gxy), 1.0 / (shift + np.array([2.0, 3.0, 0.5])), rtol=1e-12)
    (gy,) = dm.autograd.grad(fn(x, y).sum(), y, create_graph=True)  # x/(shift + y)
    (gyx,) = dm.autograd.grad(gy.sum(), x)
    np.testing.assert_allclose(_np(gyx), _np(gxy), rtol=1e-12)


@pytest.mark.parametrize("name", ["xlogy", "xlog1py"])
def test_zero_times_log_of_infinity_stays_zero_with_grad(name: str) -> None:
    x = _t([0.0, 0.0, 2.0], grad=True)
    y = _t([math.inf, 3.0, math.inf], grad=True)
    fn = dm.xlogy if name == "xlogy" else dm.special.xlog1py
    out = fn(x, y)
    np.testing.assert_array_equal(_np(out), [0.0, 0.0, math.inf])
    gx, gy = dm.autograd.grad(out.sum(), (x, y))
    log = np.log if name == "xlogy" else np.log1p
    np.testing.assert_allclose(_np(gx), [math.inf, log(3.0), math.inf])
    np.testing.assert_array_equal(_np(gy), [0.0, 0.0, 0.0])


def test_xlogy_broadcast_second_derivative() -> None:
    x = _t([[0.0], [1.0]], grad=True)
    y = _t([3.0, 1.0, 0.5], grad=True)
    (gx,) = dm.autograd.grad(dm.xlogy(x, y).sum(), x, create_graph=True)
    np.testing.assert_allclose(_np(gx), [[np.log([3.0, 1.0, 0.5]).sum()]] * 2, rtol=1e-12)
    (gxy,) = dm.autograd.grad(gx.sum(), y)
    np.testing.assert_allclose(_np(gxy), 2.0 / np.array([3.0, 1.0, 0.5]), rtol=1e-12)
