"""Autograd API parity sweep (session 23): custom Functions, tensor and Module hooks, grad
modes, anomaly detection, torch.func.vmap. Every expected value and error class below was
produced by running the same program on PyTorch 2.15 (the suite has no torch)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import democratising as dm


def _close(t: Any, expected: Any) -> None:
    np.testing.assert_allclose(
        np.asarray(t.detach().tolist()), np.asarray(expected), rtol=1e-5, atol=1e-6
    )


def _leaf(values: Any) -> dm.Tensor:
    return dm.tensor(values, dtype=dm.float32, requires_grad=True)


# ---- custom Function: gradients returned by backward -------------------------------------------


def _returning(grad: Any) -> type:
    """A Function (x * 2) whose backward returns ``grad(g)``."""

    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, a: dm.Tensor) -> dm.Tensor:
            return a * 2

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> Any:
            return grad(g)

    return F


def test_function_gradient_with_broadcast_shape_is_summed_back() -> None:
    # torch sums a gradient the input broadcasts to (validate_outputs' sum_to).
    a = _leaf([1.0, 2.0])
    _returning(lambda g: dm.ones(1, 2)).apply(a).sum().backward()
    _close(a.grad, [1.0, 1.0])
    b = _leaf([[1.0, 2.0]])
    _returning(lambda g: dm.ones(3, 2)).apply(b).sum().backward()
    _close(b.grad, [[3.0, 3.0]])
    c = dm.ones(3, 1, requires_grad=True)
    _returning(lambda g: dm.ones(3, 4)).apply(c).sum().backward()
    _close(c.grad, [[4.0], [4.0], [4.0]])


@pytest.mark.parametrize("grad", [[1.0, 1.0, 1.0], 2.0])
def test_function_gradient_of_incompatible_shape_raises(grad: Any) -> None:
    a = _leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="expected shape compatible with \\[2\\]"):
        _returning(lambda g: dm.tensor(grad)).apply(a).sum().backward()


def test_function_gradient_of_other_float_dtype_is_cast() -> None:
    a = _leaf([1.0, 2.0])
    _returning(lambda g: g.double() * 2).apply(a).sum().backward()
    assert a.grad.dtype == dm.float32
    _close(a.grad, [2.0, 2.0])


def test_function_gradient_for_non_tensor_input_raises() -> None:
    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, a: dm.Tensor, k: float) -> dm.Tensor:
            return a * k

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> Any:
            return g, g

    a = _leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="at position 2, but the corresponding forward input"):
        F.apply(a, 2.0).sum().backward()


def test_function_multi_output_gradients_and_materialised_zeros() -> None:
    calls: list[Any] = []

    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, a: dm.Tensor) -> Any:
            return a * 2, a * 3

        @staticmethod
        def backward(ctx: Any, g1: dm.Tensor, g2: dm.Tensor) -> dm.Tensor:
            calls.append((g1.tolist(), g2.tolist()))
            return g1 * 2 + g2 * 3

    a = _leaf([1.0, 2.0])
    u, v = F.apply(a)
    (u.sum() + 10 * v.sum()).backward()
    _close(a.grad, [32.0, 32.0])
    assert calls == [([1.0, 1.0], [10.0, 10.0])]
    b = _leaf([1.0, 2.0])
    calls.clear()
    F.apply(b)[1].sum().backward()
    _close(b.grad, [3.0, 3.0])
    assert calls == [([0.0, 0.0], [1.0, 1.0])]


def test_function_needs_input_grad_in_forward_and_backward() -> None:
    seen: list[tuple[bool, ...]] = []

    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, a: dm.Tensor, b: dm.Tensor, c: int) -> dm.Tensor:
            seen.append(tuple(ctx.needs_input_grad))
            return a * b

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> Any:
            seen.append(tuple(ctx.needs_input_grad))
            return g, g, None

    a = _leaf([1.0, 2.0])
    F.apply(a, dm.tensor([3.0, 4.0]), 5).sum().backward()
    assert seen == [(True, False, False), (True, False, False)]
    _close(a.grad, [1.0, 1.0])


# ---- custom Function: ctx methods --------------------------------------------------------------


def test_mark_dirty_of_a_non_input_warns_and_proceeds() -> None:
    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            y = x * 2
            ctx.mark_dirty(y)
            return y

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            return g * 2

    a = _leaf([3.0])
    with pytest.warns(UserWarning, match="not an input"):
        y = F.apply(a)
    assert y.requires_grad
    _close(y, [6.0])
    y.sum().backward()
    _close(a.grad, [2.0])


def test_mark_dirty_of_a_non_tensor_raises_runtime_error() -> None:
    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            ctx.mark_dirty(3)
            return x * 2

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            return g

    with pytest.raises(RuntimeError, match="argument 0 is of type int"):
        F.apply(_leaf([1.0]))


# ---- anomaly detection -------------------------------------------------------------------------


class _NanBackward(dm.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
        return x * 1

    @staticmethod
    def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
        return g * float("nan")


def test_detect_anomaly_raises_on_nan_from_custom_backward() -> None:
    a = _leaf([1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with dm.autograd.detect_anomaly():
            with pytest.raises(RuntimeError, match="'_NanBackwardBackward' returned nan values"):
                _NanBackward.apply(a).sum().backward()


def test_nan_from_custom_backward_passes_without_check_nan() -> None:
    a = _leaf([1.0])
    with dm.autograd.detect_anomaly(check_nan=False):
        _NanBackward.apply(a).sum().backward()
    assert np.isnan(a.grad.item())
    b = _leaf([1.0])
    _NanBackward.apply(b).sum().backward()
    assert np.isnan(b.grad.item())


# ---- grad modes --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [1, 0, None, 1.0, "yes"])
def test_set_grad_enabled_takes_only_bool(mode: Any) -> None:
    before = dm.is_grad_enabled()
    with pytest.raises(TypeError, match="must be bool"):
        dm.set_grad_enabled(mode)
    assert dm.is_grad_enabled() == before


def test_grad_mode_decorators_and_function_form() -> None:
    @dm.no_grad
    def bare() -> bool:
        return dm.is_grad_enabled()

    @dm.set_grad_enabled(False)
    def off() -> bool:
        return dm.is_grad_enabled()

    @dm.enable_grad()
    def on() -> bool:
        return dm.is_grad_enabled()

    assert [bare(), off(), dm.is_grad_enabled()] == [False, False, True]
    with dm.no_grad():
        assert on() is True
    dm.set_grad_enabled(False)
    try:
        assert dm.is_grad_enabled() is False
    finally:
        dm.set_grad_enabled(True)
    with dm.set_grad_enabled(False):
        assert dm.is_grad_enabled() is False
    assert dm.is_grad_enabled() is True


# ---- tensor hooks ------------------------------------------------------------------------------


def test_tensor_hooks_chain_and_retain_grad_sees_hooked_grad() -> None:
    a = _leaf([1.0, 2.0])
    seen: list[Any] = []
    a.register_hook(lambda g: (seen.append(("h1", g.tolist())), g + 1)[1])
    a.register_hook(lambda g: (seen.append(("h2", g.tolist())), g * 2)[1])
    (a * 3).sum().backward()
    _close(a.grad, [8.0, 8.0])
    assert seen == [("h1", [3.0, 3.0]), ("h2", [4.0, 4.0])]
    for hook_first in (True, False):
        x = _leaf([1.0, 2.0])
        b = x * 2
        if hook_first:
            b.register_hook(lambda g: g * 100)
            b.retain_grad()
        else:
            b.retain_grad()
            b.register_hook(lambda g: g * 100)
        (b * 3).sum().backward()
        _close(x.grad, [600.0, 600.0])
        _close(b.grad, [300.0, 300.0])


# ---- Module hooks ------------------------------------------------------------------------------


def test_regular_and_full_backward_hooks_cannot_be_mixed() -> None:
    m = dm.nn.Linear(2, 2)
    m.register_full_backward_hook(lambda mod, gi, go: None)
    with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks"):
        m.register_backward_hook(lambda mod, gi, go: None)
    m2 = dm.nn.Linear(2, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # democratising warns of the deprecation here
        m2.register_backward_hook(lambda mod, gi, go: None)
    with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks"):
        m2.register_full_backward_hook(lambda mod, gi, go: None)
    m2.register_full_backward_pre_hook(lambda mod, go: None)  # pre hooks are not counted


class _ThreeInputs(dm.nn.Module):
    def forward(self, a: dm.Tensor, b: dm.Tensor, c: Any) -> dm.Tensor:
        return a * 2


def test_full_backward_hook_materialises_zeros_for_tensor_inputs_without_grad() -> None:
    m = _ThreeInputs()
    seen: list[Any] = []
    m.register_full_backward_hook(
        lambda mod, gi, go: seen.append([None if g is None else g.tolist() for g in gi])
    )
    a = _leaf([2.0])
    b = _leaf([3.0, 4.0])  # requires grad, unused
    c = dm.tensor([1, 2])  # an integer tensor
    m(a, b, c).sum().backward()
    assert seen == [[[2.0], [0.0, 0.0], [0, 0]]]
    _close(b.grad, [0.0, 0.0])
    seen.clear()
    m(_leaf([2.0]), dm.tensor([3.0]), 2.0).sum().backward()
    assert seen == [[[2.0], [0.0], None]]


def test_full_backward_pre_hook_and_prepend_order() -> None:
    m = dm.nn.Linear(2, 2)
    with dm.no_grad():
        m.weight.copy_(dm.tensor([[1.0, 2.0], [3.0, 4.0]]))
    order: list[int] = []
    m.register_full_backward_pre_hook(lambda mod, g: order.append(1))
    m.register_full_backward_pre_hook(
        lambda mod, g: (order.append(2), (g[0] * 2,))[1], prepend=True
    )
    m.register_full_backward_hook(lambda mod, gi, go: order.append(3))
    m.register_full_backward_hook(lambda mod, gi, go: order.append(4), prepend=True)
    x = _leaf([[1.0, 1.0]])
    m(x).sum().backward()
    assert order == [2, 1, 4, 3]
    _close(x.grad, [[8.0, 12.0]])
    _close(m.weight.grad, [[2.0, 2.0], [2.0, 2.0]])


# ---- torch.func.vmap ---------------------------------------------------------------------------


def test_vmap_out_dims_none_refuses_a_batched_output() -> None:
    x = dm.tensor([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="can not return a BatchedTensor when out_dim is None"):
        dm.func.vmap(lambda a: (a * 2, a.sum()), out_dims=(0, None))(x)
    w = dm.tensor([5.0, float("nan")])
    out, same = dm.func.vmap(lambda a, b: (a * b, b * 2), in_dims=(0, None), out_dims=(0, None))(
        x, w
    )
    _close(out[:, 0], [5.0, 15.0])
    assert same.tolist()[0] == 10.0 and np.isnan(same.tolist()[1])


# ---- gradcheck ---------------------------------------------------------------------------------


def test_gradcheck_without_inputs_requiring_grad_message() -> None:
    x = dm.tensor([1.0, 2.0], dtype=dm.float64)
    with pytest.raises(ValueError, match="but none of them have requires_grad=True"):
        dm.autograd.gradcheck(lambda a: a * 2, (x,))
