"""Session 26 fixes of custom ``autograd.Function``, ``autograd.grad``, ``gradcheck`` and
``func.vmap`` beyond the fuzz's own cases (tests/test_fnfuzz_s26.py). Expected values are
PyTorch 2.x results on CPU, held as constants."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import numpy as np
import pytest

import democratising as dm

_X = [0.5, -1.0, 2.0]


def _t(values: Any, requires_grad: bool = False) -> dm.Tensor:
    return dm.tensor(values, dtype=dm.float64, requires_grad=requires_grad)


class _Exp(dm.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
        (y,) = ctx.saved_tensors
        return g * y


class _Sigmoid(dm.autograd.Function):
    """Saves its output from ``setup_context``."""

    @staticmethod
    def forward(x: dm.Tensor) -> dm.Tensor:
        return 1 / (1 + (-x).exp())

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        ctx.save_for_backward(output)

    @staticmethod
    def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
        (s,) = ctx.saved_tensors
        return g * s * (1 - s)


class _SinCos(dm.autograd.Function):
    """Two outputs, both saved (they share one graph node)."""

    @staticmethod
    def forward(ctx: Any, x: dm.Tensor) -> tuple[dm.Tensor, dm.Tensor]:
        s, c = x.sin(), x.cos()
        ctx.save_for_backward(s, c)
        return s, c

    @staticmethod
    def backward(ctx: Any, gs: dm.Tensor, gc_: dm.Tensor) -> dm.Tensor:
        s, c = ctx.saved_tensors
        return gs * c - gc_ * s


class _MaskMul(dm.autograd.Function):
    """Saves an output marked non-differentiable: a constant for the higher-order graph."""

    @staticmethod
    def forward(ctx: Any, x: dm.Tensor) -> tuple[dm.Tensor, dm.Tensor]:
        m = (x > 0).to(x.dtype)
        ctx.mark_non_differentiable(m)
        ctx.save_for_backward(x, m)
        return x * x * m, m

    @staticmethod
    def backward(ctx: Any, g: dm.Tensor, gm: dm.Tensor) -> dm.Tensor:
        x, m = ctx.saved_tensors
        return g * m * x * 2


class _SavesIntermediate(dm.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
        c = x.cos()
        ctx.save_for_backward(c)
        return x.sin()

    @staticmethod
    def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
        (c,) = ctx.saved_tensors
        return g * c


def test_triple_backward_through_saved_output() -> None:
    x = _t(_X, True)
    (g,) = dm.autograd.grad(_Exp.apply(x).sum(), x, create_graph=True)
    (gg,) = dm.autograd.grad(g.sum(), x, create_graph=True)
    (ggg,) = dm.autograd.grad(gg.sum(), x)
    np.testing.assert_allclose(ggg.numpy(), np.exp(_X))


def test_double_backward_setup_context_saved_output() -> None:
    x = _t(_X, True)
    (g,) = dm.autograd.grad(_Sigmoid.apply(x).sum(), x, create_graph=True)
    (gg,) = dm.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(
        g.detach().numpy(), [0.2350037122015945, 0.19661193324148185, 0.10499358540350662]
    )
    np.testing.assert_allclose(
        gg.numpy(), [-0.05755679485232075, 0.09085774767294841, -0.07996250105615312]
    )


def test_double_backward_multi_output_saved_outputs() -> None:
    x = _t(_X, True)
    s, c = _SinCos.apply(x)
    (g,) = dm.autograd.grad((s * 2 + c).sum(), x, create_graph=True)
    (gg,) = dm.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(
        g.detach().numpy(), [1.2757395851765425, 1.922075596544176, -1.7415910999199666]
    )
    np.testing.assert_allclose(
        gg.numpy(), [-1.8364336390987788, 1.1426396637476532, -1.402448017104221]
    )


def test_double_backward_saved_non_differentiable_output_is_constant() -> None:
    x = _t(_X, True)
    y, m = _MaskMul.apply(x)
    assert not m.requires_grad
    (g,) = dm.autograd.grad(y.sum(), x, create_graph=True)
    (gg,) = dm.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(g.detach().numpy(), [1.0, 0.0, 4.0])
    np.testing.assert_allclose(gg.numpy(), [2.0, 0.0, 2.0])


def test_backward_create_graph_then_backward_of_grad() -> None:
    x = _t([0.5, -1.0], True)
    _Exp.apply(x).sum().backward(create_graph=True)
    x.grad.sum().backward()
    np.testing.assert_allclose(x.grad.detach().numpy(), [3.2974425414002564, 0.7357588823428847])


def test_saved_intermediate_still_refuses_create_graph() -> None:
    x = _t(_X, True)
    (g,) = dm.autograd.grad(_SavesIntermediate.apply(x).sum(), x)
    np.testing.assert_allclose(g.numpy(), np.cos(_X))
    with pytest.raises(dm.errors.AutogradError, match="not differentiable"):
        dm.autograd.grad(_SavesIntermediate.apply(x).sum(), x, create_graph=True)


@pytest.mark.parametrize("create_graph", [False, True])
def test_function_saving_output_frees_without_gc(create_graph: bool) -> None:
    """No reference cycle: inputs, outputs and ctx die by reference counting alone."""
    refs: list[weakref.ref[dm.Tensor]] = []
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            x = _t(_X, True)
            (g,) = dm.autograd.grad(_Exp.apply(x).sum(), x, create_graph=create_graph)
            if create_graph:
                dm.autograd.grad(g.sum(), x)
            refs.append(weakref.ref(x))
            del x, g
        assert sum(r() is not None for r in refs) == 0
    finally:
        if was_enabled:
            gc.enable()


def test_non_differentiable_returned_input_under_no_grad_is_alias() -> None:
    class P(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            ctx.mark_non_differentiable(x)
            return x

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            return g

    x = _t([1.0, 2.0], True)
    with dm.no_grad():
        y = P.apply(x)
    assert y is not x
    assert not y.requires_grad
    y[0] = 5.0  # an alias: the same memory
    assert float(x[0]) == 5.0


def test_mark_dirty_not_returned_raises_without_grad() -> None:
    class T(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            x.mul_(3)
            ctx.mark_dirty(x)
            return x * 1

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            return g * 3

    with pytest.raises(dm.errors.AutogradError, match="marked as dirty"):
        T.apply(_t([1.0, 2.0]))


def test_setup_context_binds_defaults_with_positional_and_keyword_calls() -> None:
    seen: list[tuple[int, tuple[bool, ...]]] = []

    class S(dm.autograd.Function):
        @staticmethod
        def forward(x: dm.Tensor, k: float = 3.0, b: float = 1.0) -> dm.Tensor:
            return x * k + b

        @staticmethod
        def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
            seen.append((len(inputs), ctx.needs_input_grad))
            ctx.k = inputs[1]

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> tuple[Any, ...]:
            return g * ctx.k, None, None

    x = _t([1.0, 2.0], True)
    np.testing.assert_allclose(S.apply(x).detach().numpy(), [4.0, 7.0])
    np.testing.assert_allclose(S.apply(x, 2.0).detach().numpy(), [3.0, 5.0])
    y = S.apply(x, b=0.0)
    y.sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), [3.0, 6.0])
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    assert seen == [(3, (True, False, False))] * 3


def test_old_style_forward_defaults_are_not_bound() -> None:
    lengths: list[int] = []

    class Old(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor, k: float = 3.0) -> dm.Tensor:
            lengths.append(len(ctx.needs_input_grad))
            return x * k

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            return g * 3.0

    x = _t([1.0, 2.0], True)
    Old.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    assert lengths == [1]


def test_once_differentiable_double_backward_still_raises() -> None:
    class Sq(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @dm.autograd.function.once_differentiable
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            (x,) = ctx.saved_tensors
            return 2 * x * g

    x = _t([1.0, 2.0], True)
    go = dm.ones(2, dtype=dm.float64, requires_grad=True)
    (g,) = dm.autograd.grad(Sq.apply(x), x, go, create_graph=True)
    assert g.requires_grad
    with pytest.raises(dm.errors.AutogradError, match="once_differentiable"):
        g.sum().backward()
    # As PyTorch: no path to the incoming gradient, so allow_unused gives None.
    (g,) = dm.autograd.grad(Sq.apply(x), x, go, create_graph=True)
    assert dm.autograd.grad(g.sum(), go, allow_unused=True) == (None,)


def test_gradcheck_without_differentiable_outputs_checks_zero_numerical() -> None:
    x = _t([1.0, 2.0], True)
    assert not dm.autograd.gradcheck(lambda a: (a.detach() * 3,), (x,), raise_exception=False)
    assert dm.autograd.gradcheck(lambda a: (a.detach() * 0,), (x,))


def test_gradcheck_mixed_outputs_forward_ad_and_failure_index() -> None:
    x = _t([1.0, 2.0], True)
    assert dm.autograd.gradcheck(
        lambda a: (a.detach() * 3, a * 2), (x,), check_forward_ad=True, raise_exception=False
    )

    # Output indices count only the outputs that require grad, as in PyTorch.
    class Wrong(dm.autograd.Function):  # a wrong backward, on the second tensor output
        @staticmethod
        def forward(ctx: Any, a: dm.Tensor) -> dm.Tensor:
            return a * 2

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            return g * 3

    with pytest.raises(dm.autograd.GradcheckError, match="output 0 with respect to input 0"):
        dm.autograd.gradcheck(lambda a: (a.detach() * 3, Wrong.apply(a)), (x,))


def test_grad_batched_materialized_zeros_require_grad_under_create_graph() -> None:
    x = _t([1.0, 2.0], True)
    z = _t([1.0, 2.0], True)
    gos = dm.eye(2, dtype=dm.float64)
    gx, gz = dm.autograd.grad(
        x * x, [x, z], gos, is_grads_batched=True, materialize_grads=True, create_graph=True
    )
    np.testing.assert_allclose(gx.detach().numpy(), [[2.0, 0.0], [0.0, 4.0]])
    assert gz.requires_grad
    _, gz = dm.autograd.grad((x * x).sum(), [x, z], materialize_grads=True)
    assert not gz.requires_grad


def test_vmap_inplace_into_captured_view_raises() -> None:
    acc = _t([0.0, 0.0])
    with pytest.raises(RuntimeError, match="in place"):
        dm.func.vmap(lambda a: acc[0:2].add_(a))(dm.ones(3, 2, dtype=dm.float64))


def test_vmap_legal_aliasing_is_not_refused() -> None:
    acc = _t([1.0, 2.0])
    out = dm.func.vmap(lambda a: (a + 1, acc))(dm.ones(3, 2, dtype=dm.float64))
    np.testing.assert_allclose(out[1].numpy(), [[1.0, 2.0]] * 3)
    # An in-place write into a mapped input changes each entry's own slice.
    x = _t([[1.0, 2.0], [3.0, 4.0]])
    r = dm.func.vmap(lambda a: a.mul_(2))(x)
    np.testing.assert_allclose(r.numpy(), [[2.0, 4.0], [6.0, 8.0]])
    np.testing.assert_allclose(x.numpy(), [[2.0, 4.0], [6.0, 8.0]])
