"""Autograd API parity with PyTorch 2.15: expected values were produced by running the same
programs on torch (hard-coded here; the test suite has no torch)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising.errors import ArgumentTypeError, AutogradError, InvalidValueError


def _np(t: Any) -> np.ndarray:
    return np.asarray(t.detach().tolist())


def _close(t: Any, expected: Any) -> None:
    np.testing.assert_allclose(_np(t), np.asarray(expected), rtol=1e-5, atol=1e-6)


# ---- autograd.grad ----------------------------------------------------------------------------


def test_grad_materialize_grads_zero_fills_unused_inputs() -> None:
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    z = dm.tensor([3.0], requires_grad=True)
    gx, gz = dm.autograd.grad((x * 2).sum(), [x, z], materialize_grads=True)
    _close(gx, [2.0, 2.0])
    _close(gz, [0.0])


def test_grad_materialize_grads_with_allow_unused_false_raises() -> None:
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    z = dm.tensor([3.0], requires_grad=True)
    with pytest.raises(ValueError, match="allow_unused"):
        dm.autograd.grad((x * 2).sum(), [x, z], allow_unused=False, materialize_grads=True)


def test_grad_unused_input_still_raises_by_default() -> None:
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    z = dm.tensor([3.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        dm.autograd.grad((x * 2).sum(), [x, z])


def test_grad_is_grads_batched_stacks_one_vjp_per_row() -> None:
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    y = x**3
    gos = dm.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 3.0]])
    (g,) = dm.autograd.grad(y, x, grad_outputs=gos, is_grads_batched=True)
    _close(g, [[3.0, 0.0], [0.0, 12.0], [6.0, 36.0]])  # torch
    # the graph is freed after the last row, as after one plain call
    with pytest.raises(RuntimeError):
        dm.autograd.grad(y, x, grad_outputs=gos, is_grads_batched=True)


def test_grad_is_grads_batched_hessian_rows() -> None:
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    (g,) = dm.autograd.grad((x**3).sum(), x, create_graph=True)
    (h,) = dm.autograd.grad(g, x, grad_outputs=dm.eye(2), is_grads_batched=True)
    _close(h, [[6.0, 0.0], [0.0, 12.0]])  # torch


def test_grad_accepts_only_inputs_keyword() -> None:
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    (g,) = dm.autograd.grad(outputs=(x * 2).sum(), inputs=(x,), only_inputs=True)
    _close(g, [2.0, 2.0])


def test_grad_empty_inputs_raises() -> None:
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="cannot be empty"):
        dm.autograd.grad((x * 2).sum(), [])


def test_grad_repeated_input_gets_the_same_gradient() -> None:
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    z = dm.tensor([3.0, 4.0], requires_grad=True)
    g1, g2, g3 = dm.autograd.grad((x * z).sum(), (x, z, x))
    _close(g1, [3.0, 4.0])  # torch
    _close(g2, [1.0, 2.0])
    _close(g3, [3.0, 4.0])


def test_autograd_backward_empty_inputs_raises() -> None:
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="cannot be empty"):
        dm.autograd.backward((x * x).sum(), inputs=[])


# ---- grad modes -------------------------------------------------------------------------------


def test_inference_mode_false_enables_grad_inside_no_grad() -> None:
    with dm.no_grad():
        with dm.inference_mode(False):
            assert dm.is_grad_enabled()  # torch: True
        assert not dm.is_grad_enabled()
    assert dm.is_grad_enabled()


def test_inference_mode_false_nested_in_inference_mode() -> None:
    x = dm.ones(2, requires_grad=True)
    with dm.inference_mode():
        assert dm.is_inference_mode_enabled()
        with dm.inference_mode(False):
            assert not dm.is_inference_mode_enabled()  # torch: False, True
            assert dm.is_grad_enabled()
            assert (x * 2).requires_grad
        assert dm.is_inference_mode_enabled() and not dm.is_grad_enabled()
    assert not dm.is_inference_mode_enabled() and dm.is_grad_enabled()


def test_grad_mode_clone() -> None:
    assert isinstance(dm.no_grad().clone(), dm.no_grad)
    with dm.inference_mode().clone():
        assert dm.is_inference_mode_enabled()
    with dm.set_grad_enabled(True).clone():  # (like the constructor, clone sets the mode)
        assert dm.is_grad_enabled()
    with dm.no_grad():
        with dm.enable_grad().clone():
            assert dm.is_grad_enabled()
    assert dm.is_grad_enabled()


def test_autograd_namespace_has_torch_modules() -> None:
    assert dm.autograd.grad_mode.no_grad is dm.no_grad
    assert dm.autograd.inference_mode is dm.inference_mode
    assert dm.autograd.function.Function is dm.autograd.Function
    dm.autograd.set_multithreading_enabled(True)


def test_set_detect_anomaly_is_function_and_context_manager() -> None:
    with dm.autograd.set_detect_anomaly(True):
        assert dm.autograd.is_anomaly_enabled()
    assert not dm.autograd.is_anomaly_enabled()
    dm.autograd.set_detect_anomaly(True, check_nan=False)
    assert dm.autograd.is_anomaly_enabled() and not dm.autograd.is_anomaly_check_nan_enabled()
    dm.autograd.set_detect_anomaly(False)
    assert not dm.autograd.is_anomaly_enabled() and dm.autograd.is_anomaly_check_nan_enabled()


def test_detect_anomaly_decorator_and_check_nan() -> None:
    @dm.autograd.detect_anomaly(check_nan=False)
    def f() -> tuple[bool, bool]:
        return dm.autograd.is_anomaly_enabled(), dm.autograd.is_anomaly_check_nan_enabled()

    assert f() == (True, False)
    assert not dm.autograd.is_anomaly_enabled()


# ---- custom Function --------------------------------------------------------------------------


def test_function_set_materialize_grads_false_passes_none() -> None:
    calls: list[tuple[bool, bool]] = []

    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> tuple[dm.Tensor, dm.Tensor]:
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx: Any, ga: Any, gb: Any) -> Any:
            calls.append((ga is None, gb is None))
            r: Any = 0
            if ga is not None:
                r = r + ga * 2
            if gb is not None:
                r = r + gb * 3
            return r

    x = dm.tensor([1.0, 2.0], requires_grad=True)
    _, b = F.apply(x)
    b.sum().backward()
    _close(x.grad, [3.0, 3.0])
    assert calls == [(True, False)]  # torch


def test_function_multi_output_materialized_zeros() -> None:
    seen: list[Any] = []

    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> tuple[dm.Tensor, dm.Tensor]:
            return x * 2, x * 3

        @staticmethod
        def backward(ctx: Any, ga: dm.Tensor, gb: dm.Tensor) -> dm.Tensor:
            seen.append((ga.tolist(), gb.tolist()))
            return ga * 2 + gb * 3

    x = dm.tensor([1.0, 2.0], requires_grad=True)
    _, b = F.apply(x)
    b.sum().backward()
    _close(x.grad, [3.0, 3.0])
    assert seen == [([0.0, 0.0], [1.0, 1.0])]


def test_function_mark_dirty() -> None:
    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            return g * 2

    a = dm.tensor([1.0, 2.0], requires_grad=True)
    x = a * 1
    y = F.apply(x)
    (y * y).sum().backward()
    _close(a.grad, [8.0, 16.0])  # torch
    assert x.tolist() == [2.0, 4.0]
    with pytest.raises(RuntimeError, match="leaf"):
        F.apply(dm.tensor([1.0, 2.0], requires_grad=True))


def test_function_once_differentiable() -> None:
    once = dm.autograd.function.once_differentiable

    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @once
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = dm.tensor([1.0, 2.0], requires_grad=True)
    F.apply(x).sum().backward()
    _close(x.grad, [2.0, 4.0])
    (g,) = dm.autograd.grad(F.apply(x).sum(), x, create_graph=True)
    assert not g.requires_grad  # torch: False
    with pytest.raises(RuntimeError):
        g.sum().backward()


def test_function_setup_context() -> None:
    class F(dm.autograd.Function):
        @staticmethod
        def forward(x: dm.Tensor, k: float) -> dm.Tensor:
            return x * x * k

        @staticmethod
        def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
            x, k = inputs
            ctx.save_for_backward(x)
            ctx.k = k

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> tuple[dm.Tensor, None]:
            (x,) = ctx.saved_tensors
            return 2 * x * g * ctx.k, None

    x = dm.tensor([1.0, 2.0], requires_grad=True)
    F.apply(x, 3.0).sum().backward()
    _close(x.grad, [6.0, 12.0])


def test_function_setup_context_double_backward() -> None:
    class F(dm.autograd.Function):
        @staticmethod
        def forward(x: dm.Tensor) -> dm.Tensor:
            return x**3

        @staticmethod
        def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
            ctx.save_for_backward(inputs[0])

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            (x,) = ctx.saved_tensors
            return 3 * x**2 * g

    x = dm.tensor([1.0, 2.0], requires_grad=True)
    (g,) = dm.autograd.grad(F.apply(x).sum(), x, create_graph=True)
    (g2,) = dm.autograd.grad(g.sum(), x)
    _close(g, [3.0, 12.0])
    _close(g2, [6.0, 12.0])


class _Sq(dm.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: dm.Tensor, scale: float = 1.0) -> dm.Tensor:
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x * x * scale

    @staticmethod
    def backward(ctx: Any, g: dm.Tensor) -> tuple[dm.Tensor, None]:
        (x,) = ctx.saved_tensors
        return 2 * x * g * ctx.scale, None


def test_function_apply_keyword_arguments() -> None:
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    y = _Sq.apply(x=x)  # torch 2.15 accepts keywords
    _close(y, [1.0, 4.0])
    y.sum().backward()
    _close(x.grad, [2.0, 4.0])
    x.grad = None
    _Sq.apply(x, scale=3.0).sum().backward()
    _close(x.grad, [6.0, 12.0])
    with pytest.raises(TypeError):
        _Sq.apply(x, nope=1)


def test_function_backward_may_return_extra_nones() -> None:
    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            return x * 2

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> tuple[Any, ...]:
            return g * 2, None, None

    x = dm.tensor([1.0, 2.0], requires_grad=True)
    F.apply(x).sum().backward()
    _close(x.grad, [2.0, 2.0])


def test_function_backward_extra_tensor_raises() -> None:
    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            return x * 2

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> tuple[Any, ...]:
            return g * 2, g

    x = dm.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        F.apply(x).sum().backward()


def test_function_save_for_backward_rejects_non_tensors() -> None:
    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            ctx.save_for_backward(3)
            return x * 2

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            return g

    with pytest.raises(ArgumentTypeError, match="save_for_backward can only save"):
        F.apply(dm.tensor([1.0], requires_grad=True))


def test_function_non_tensor_output_gets_none_grad() -> None:
    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> tuple[dm.Tensor, int]:
            return x * 2, 7

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor, g2: Any) -> dm.Tensor:
            assert g2 is None
            return g * 2

    x = dm.tensor([1.0, 2.0], requires_grad=True)
    a, k = F.apply(x)
    a.sum().backward()
    assert k == 7
    _close(x.grad, [2.0, 2.0])


def test_function_vjp_alias() -> None:
    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            return x * 2

        @staticmethod
        def vjp(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            return g * 2

    x = dm.tensor([1.0, 2.0], requires_grad=True)
    F.apply(x).sum().backward()
    _close(x.grad, [2.0, 2.0])

    class Both(F):
        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            return g

    with pytest.raises(AutogradError, match="both"):
        Both.apply(x).sum().backward()


def test_function_mark_non_differentiable_float_output() -> None:
    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> tuple[dm.Tensor, dm.Tensor]:
            a, b = x * 2, x * 3
            ctx.mark_non_differentiable(b)
            return a, b

        @staticmethod
        def backward(ctx: Any, ga: dm.Tensor, gb: dm.Tensor) -> dm.Tensor:
            return ga * 2

    a, b = F.apply(dm.tensor([1.0, 3.0], requires_grad=True))
    assert a.requires_grad and not b.requires_grad


# ---- torch.func -------------------------------------------------------------------------------

X0 = [1.0, 2.0, 3.0]
Y0 = [0.5, -1.0, 2.0]


def test_func_vjp() -> None:
    out, fn = dm.func.vjp(lambda x: x**2, dm.tensor(X0))
    _close(out, [1.0, 4.0, 9.0])
    (g,) = fn(dm.tensor(Y0))
    _close(g, [1.0, -4.0, 12.0])
    assert not out.requires_grad and not g.requires_grad
    out, fn, aux = dm.func.vjp(lambda x: (x**2, x.sum()), dm.tensor(X0), has_aux=True)
    _close(aux, 6.0)
    (gx, gy) = dm.func.vjp(lambda x, y: x**2, dm.tensor(X0), dm.tensor(Y0))[1](dm.ones(3))
    _close(gx, [2.0, 4.0, 6.0])
    _close(gy, [0.0, 0.0, 0.0])
    with pytest.raises(ValueError):
        fn(dm.ones(2))


def test_func_jvp() -> None:
    out, t = dm.func.jvp(lambda x: x**2, (dm.tensor(X0),), (dm.tensor(Y0),))
    _close(out, [1.0, 4.0, 9.0])
    _close(t, [1.0, -4.0, 12.0])
    (o1, o2), (t1, t2) = dm.func.jvp(
        lambda x, y: (x * y, x.exp()),
        (dm.tensor(X0), dm.tensor(Y0)),
        (dm.ones(3), dm.tensor(Y0)),
    )
    _close(o1, [0.5, -2.0, 6.0])
    _close(o2, [2.7182817, 7.3890562, 20.085537])
    _close(t1, [1.0, -3.0, 8.0])  # torch
    _close(t2, [2.7182817, 7.3890562, 20.085537])
    _, t = dm.func.jvp(lambda x: x * 3, (dm.tensor(X0),), (dm.tensor(Y0),))
    _close(t, [1.5, -3.0, 6.0])
    _, t = dm.func.jvp(lambda x: dm.ones(2), (dm.tensor(X0),), (dm.tensor(Y0),))
    _close(t, [0.0, 0.0])
    with pytest.raises(ValueError):
        dm.func.jvp(lambda x: x, (dm.tensor(X0),), (dm.ones(2),))
    with pytest.raises(TypeError):
        dm.func.jvp(lambda x: x, dm.tensor(X0), dm.tensor(Y0))


def test_func_jacrev_jacfwd_structures() -> None:
    _close(dm.func.jacrev(lambda x: x**2)(dm.tensor(X0)), np.diag([2.0, 4.0, 6.0]))
    _close(dm.func.jacfwd(lambda x: x**2)(dm.tensor(X0)), np.diag([2.0, 4.0, 6.0]))
    (jx, jy), (sx, sy) = dm.func.jacrev(lambda x, y: (x * y, x.sum()), argnums=(0, 1))(
        dm.tensor(X0), dm.tensor(Y0)
    )
    _close(jx, np.diag(Y0))
    _close(jy, np.diag(X0))
    _close(sx, [1.0, 1.0, 1.0])
    _close(sy, [0.0, 0.0, 0.0])
    j2, s2 = dm.func.jacrev(lambda x: (x * 2, x.sum()))(dm.tensor(X0))
    _close(j2, np.diag([2.0, 2.0, 2.0]))
    _close(s2, [1.0, 1.0, 1.0])
    j, aux = dm.func.jacrev(lambda x: (x**2, x.sum()), has_aux=True)(dm.tensor(X0))
    _close(j, np.diag([2.0, 4.0, 6.0]))
    _close(aux, 6.0)
    assert tuple(dm.func.jacrev(lambda x: x @ x.T)(dm.ones(2, 3)).shape) == (2, 2, 2, 3)
    assert not dm.func.jacrev(lambda z: z**3)(dm.tensor(X0)).requires_grad


def test_func_hessian() -> None:
    _close(dm.func.hessian(lambda x: (x**3).sum())(dm.tensor(X0)), np.diag([6.0, 12.0, 18.0]))
    (hxx, hxy), (hyx, hyy) = dm.func.hessian(lambda x, y: (x**2 * y).sum(), argnums=(0, 1))(
        dm.tensor(X0), dm.tensor(Y0)
    )
    _close(hxx, np.diag([1.0, -2.0, 4.0]))  # torch
    _close(hxy, np.diag([2.0, 4.0, 6.0]))
    _close(hyx, np.diag([2.0, 4.0, 6.0]))
    _close(hyy, np.zeros((3, 3)))
    assert tuple(dm.func.hessian(lambda x: x**3)(dm.tensor(X0)).shape) == (3, 3, 3)


def test_func_grad_of_jacrev_nests() -> None:
    g = dm.func.grad(lambda x: dm.func.jacrev(lambda z: z**3)(x).sum())(dm.tensor(X0))
    _close(g, [6.0, 12.0, 18.0])


def test_func_jac_bad_argnums() -> None:
    with pytest.raises(InvalidValueError):
        dm.func.jacrev(lambda x: x, argnums=3)(dm.tensor(X0))


class _Keep(dm.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
        ctx.save_for_backward(x)
        return x * 2

    @staticmethod
    def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
        (x,) = ctx.saved_tensors
        return g * x


def test_function_saved_tensor_modified_in_place_raises() -> None:
    a = dm.tensor([1.0, 2.0], requires_grad=True)
    x = a * 1
    y = _Keep.apply(x)
    x.add_(1)  # torch: RuntimeError (modified by an inplace operation)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    # a change through a view of the saved tensor counts too, as in PyTorch
    x = a * 1
    y = _Keep.apply(x)
    x[1:].mul_(3)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_function_saved_tensor_unmodified_backward_twice() -> None:
    a = dm.tensor([1.0, 2.0], requires_grad=True)
    y = _Keep.apply(a * 1).sum()
    y.backward(retain_graph=True)
    y.backward()
    _close(a.grad, [2.0, 4.0])
    s = dm.tensor(3.0, requires_grad=True)  # a 0-d saved tensor
    _Keep.apply(s).backward()
    _close(s.grad, 3.0)


def test_once_differentiable_double_backward_refused_when_grad_has_graph() -> None:
    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @dm.autograd.function.once_differentiable
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = dm.tensor([1.0, 2.0], requires_grad=True)
    (g,) = dm.autograd.grad((F.apply(x) * x).sum(), x, create_graph=True)
    _close(g, [3.0, 12.0])  # torch
    assert g.requires_grad
    with pytest.raises(RuntimeError, match="once_differentiable"):
        g.sum().backward()


def test_function_mark_dirty_leaf_allowed_under_no_grad() -> None:
    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            return g * 2

    a = dm.tensor([1.0, 2.0], requires_grad=True)
    with dm.no_grad():
        y = F.apply(a)
    _close(y, [2.0, 4.0])  # torch


def test_backward_inputs_single_tensor_detach_and_hook_handle_context() -> None:
    """torch 2.15: ``backward(inputs=x)`` fills ``x.grad`` only ([3, 4] here), ``inputs=[]``
    raises, ``detach_()`` makes a leaf in place, a hook handle is a context manager."""
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    z = dm.tensor([3.0, 4.0], requires_grad=True)
    (x * z).sum().backward(inputs=x)
    assert x.grad.tolist() == [3.0, 4.0] and z.grad is None
    with pytest.raises(ValueError, match="cannot be empty"):
        (x * z).sum().backward(inputs=[])
    y = x * 2
    assert y.detach_() is y and y.is_leaf and not y.requires_grad and y.grad_fn is None
    x.grad = None
    with x.register_hook(lambda g: g * 10):
        (x * 1).sum().backward()
    (x * 1).sum().backward()
    assert x.grad.tolist() == [11.0, 11.0]
