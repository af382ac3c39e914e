"""Autograd semantics: backward options, accumulation, grad modes, hooks, in-place rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import democratising as dm
from helpers import assert_close, gradcheck


def _leaf(values: list[float], dtype: dm.dtype = dm.float32) -> dm.Tensor:
    return dm.tensor(values, dtype=dtype, requires_grad=True)


def test_backward_scalar_and_gradient_argument() -> None:
    x = _leaf([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    assert x.grad is not None
    assert_close(x.grad, np.array([2.0, 4.0, 6.0]))
    y = _leaf([1.0, 2.0, 3.0])
    (y * 2).backward(dm.tensor([1.0, 0.1, 0.01]))
    assert y.grad is not None
    assert_close(y.grad, np.array([2.0, 0.2, 0.02]))
    with pytest.raises(dm.DemocratisingError, match="scalar"):
        (y * 2).backward()
    with pytest.raises(dm.ShapeError):
        (y * 2).backward(dm.ones(4))
    with pytest.raises(RuntimeError):
        dm.ones(2).sum().backward()


def test_retain_graph() -> None:
    x = _leaf([1.0, 2.0])
    z = (x.exp() * x).sum()
    z.backward(retain_graph=True)
    z.backward()
    assert x.grad is not None
    expected = 2 * (np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0])))
    assert_close(x.grad, expected, rtol=1e-5)
    with pytest.raises(dm.DemocratisingError) as info:
        z.backward()
    assert isinstance(info.value, RuntimeError)
    assert "second time" in str(info.value) or "retain_graph" in str(info.value)


def test_gradients_accumulate_over_backward_calls() -> None:
    x = _leaf([1.0, -2.0])
    (3 * x).sum().backward()
    (x * x).sum().backward()
    assert x.grad is not None
    assert_close(x.grad, np.array([3 + 2.0, 3 - 4.0]))
    x.grad = None
    (x * 5).sum().backward()
    assert_close(x.grad, np.array([5.0, 5.0]))
    x.grad.zero_()
    assert_close(x.grad, np.zeros(2))


def test_shared_subexpression_and_broadcast_grads() -> None:
    a = dm.tensor(np.arange(6.0).reshape(2, 3), dtype=dm.float64, requires_grad=True)
    b = _leaf([1.0, 2.0, 3.0], dm.float64)
    c = a * b
    (c + c * c).sum().backward()
    an, bn = np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0, 3.0])
    assert a.grad is not None and b.grad is not None
    assert_close(a.grad, bn + 2 * an * bn**2)
    assert_close(b.grad, (an + 2 * an**2 * bn).sum(0))


def test_no_grad_and_enable_grad() -> None:
    x = _leaf([1.0, 2.0])
    with dm.no_grad():
        y = x * 2
        assert not dm.is_grad_enabled()
        with dm.enable_grad():
            z = x * 2
            assert dm.is_grad_enabled()
        assert not dm.is_grad_enabled()
    assert dm.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    assert z.requires_grad and z.grad_fn is not None

    @dm.no_grad()
    def f(t: dm.Tensor) -> dm.Tensor:
        return t * 2

    @dm.no_grad
    def g(t: dm.Tensor) -> dm.Tensor:
        return t * 2

    assert not f(x).requires_grad and not g(x).requires_grad
    assert g.__name__ == "g"
    assert dm.is_grad_enabled()

    with dm.no_grad():

        @dm.enable_grad()
        def h(t: dm.Tensor) -> dm.Tensor:
            return t * 2

        assert h(x).requires_grad

    with dm.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert dm.is_grad_enabled()


def test_grad_mode_restored_after_exception() -> None:
    with pytest.raises(KeyError), dm.no_grad():
        raise KeyError("boom")
    assert dm.is_grad_enabled()


def test_detach_and_requires_grad_() -> None:
    x = _leaf([1.0, 2.0])
    d = x.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    d[0] = 10.0  # shares memory
    assert x[0].item() == 10.0
    y = (x * 2).detach() * x
    y.sum().backward()
    assert x.grad is not None
    assert_close(x.grad, np.array([20.0, 4.0]))
    t = dm.ones(2)
    assert t.requires_grad_() is t
    assert t.requires_grad
    t.requires_grad_(False)
    assert not t.requires_grad
    t.requires_grad = True
    assert t.requires_grad
    with pytest.raises(dm.DemocratisingError):
        (x * 2).requires_grad_(False)


def test_leaf_and_grad_fn() -> None:
    x = _leaf([1.0, 2.0])
    y = x * 2
    assert x.is_leaf and x.grad_fn is None
    assert not y.is_leaf and y.grad_fn is not None
    assert "Mul" in y.grad_fn.name()
    assert dm.ones(2).is_leaf
    s = (y + 1).sum()
    assert s.grad_fn is not None and len(s.grad_fn.next_functions) == 1
    assert "grad_fn=" in repr(y)


def test_register_hook_modifies_gradient() -> None:
    x = _leaf([1.0, 2.0, 3.0])
    seen: list[np.ndarray] = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    x.register_hook(lambda g: g * 10)
    (x * 2).sum().backward()
    assert x.grad is not None
    assert_close(x.grad, np.full(3, 20.0))
    np.testing.assert_allclose(seen[0], np.full(3, 2.0))

    a = _leaf([1.0, 1.0])
    b = a * 3
    b.register_hook(lambda g: g + 1)
    (b * b).sum().backward()
    assert a.grad is not None
    assert_close(a.grad, (2 * 3.0 + 1) * 3 * np.ones(2))

    c = _leaf([1.0])
    handle = c.register_hook(lambda g: g * 100)
    handle.remove()
    (c * 2).sum().backward()
    assert c.grad is not None and c.grad.item() == 2.0
    with pytest.raises(dm.DemocratisingError):
        dm.ones(2).register_hook(lambda g: g)


def test_hook_exception_propagates() -> None:
    x = _leaf([1.0])

    def bad(g: dm.Tensor) -> dm.Tensor:
        raise ValueError("hook failed")

    x.register_hook(bad)
    with pytest.raises(Exception, match="hook failed"):
        (x * 2).sum().backward()


def test_gradcheck_detects_a_wrong_gradient() -> None:
    # Sanity check of the helper itself: a hook doubling the gradient must be caught.
    def doubled(t: dm.Tensor) -> dm.Tensor:
        out = t * 1.0
        if out.requires_grad:
            out.register_hook(lambda g: g * 2)
        return out

    x = dm.tensor([0.5, -1.0], dtype=dm.float64, requires_grad=True)
    with pytest.raises(AssertionError):
        gradcheck(doubled, [x])


def test_retain_grad_on_non_leaf() -> None:
    a = _leaf([1.0, 2.0])
    b = a * 3
    b.retain_grad()
    c = a * 3
    (b * b + c).sum().backward()
    assert b.grad is not None
    assert_close(b.grad, 2 * 3 * np.array([1.0, 2.0]))
    assert c.grad is None
    with pytest.raises(dm.DemocratisingError):
        dm.ones(1).retain_grad()


def test_a_node_reached_only_by_no_gradient_still_lets_its_inputs_run() -> None:
    """A backward that returns None for an input that needs a gradient (a custom Function,
    a fused loss routing past a node) must not stall the nodes behind it."""

    class Drop(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, a: dm.Tensor) -> dm.Tensor:
            return a * 1

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> None:
            return None

    x = _leaf([1.0, 2.0, 3.0])
    h = x * 2
    a = h * 2  # reached only by Drop's None
    (Drop.apply(a).sum() + h.sum()).backward()
    assert x.grad is not None
    assert_close(x.grad, np.array([2.0, 2.0, 2.0]))


def test_autograd_grad() -> None:
    a = _leaf([1.0, 2.0])
    b = _leaf([3.0, 4.0])
    ga, gb = dm.autograd.grad((a * b).sum(), [a, b])
    assert ga is not None and gb is not None
    assert_close(ga, np.array([3.0, 4.0]))
    assert_close(gb, np.array([1.0, 2.0]))
    assert a.grad is None and b.grad is None  # .grad is untouched
    (g,) = dm.autograd.grad(a * 2, a, grad_outputs=dm.tensor([1.0, -1.0]))
    assert g is not None
    assert_close(g, np.array([2.0, -2.0]))
    unused = _leaf([0.0])
    with pytest.raises(dm.DemocratisingError):
        dm.autograd.grad((a * 2).sum(), [a, unused])
    res = dm.autograd.grad((a * 2).sum(), [a, unused], allow_unused=True)
    assert res[1] is None
    out = (a * a).sum()
    dm.autograd.grad(out, [a], retain_graph=True)
    (g2,) = dm.autograd.grad(out, [a])
    assert g2 is not None
    assert_close(g2, np.array([2.0, 4.0]))


def test_inplace_on_leaf_requiring_grad_raises() -> None:
    x = _leaf([1.0, 2.0])
    for op in (
        lambda: x.add_(1.0),
        lambda: x.mul_(2.0),
        lambda: x.zero_(),
        lambda: x.fill_(3.0),
        lambda: x.clamp_(0.0, 1.0),
        lambda: x.copy_(dm.ones(2)),
        lambda: x.__setitem__(0, 5.0),
    ):
        with pytest.raises(dm.DemocratisingError) as info:
            op()
        assert isinstance(info.value, RuntimeError)
        assert "leaf" in str(info.value)
    with dm.no_grad():
        x.add_(1.0)
        x[1] = 0.0
    assert_close(x, np.array([2.0, 0.0]))
    assert x.requires_grad and x.is_leaf


def test_inplace_on_saved_tensor_then_backward_raises() -> None:
    for make in (lambda e: e.sin(), lambda e: e * e, lambda e: e @ e, lambda e: e**3):
        x = _leaf([1.0, 2.0])
        e = x * 1.0
        out = make(e)
        e.mul_(2.0)  # e was saved for backward
        with pytest.raises(dm.DemocratisingError, match="in-place") as info:
            out.sum().backward()
        assert isinstance(info.value, RuntimeError)
    x = _leaf([1.0, 2.0])
    s = x.softmax(0)  # softmax saves its output
    s.add_(1.0)
    with pytest.raises(dm.DemocratisingError, match="in-place"):
        (s * 1.0).sum().backward()
    # exp, sigmoid and tanh save their output (as PyTorch's): changing it trips the check,
    # changing their input is harmless
    for op in ("exp", "sigmoid", "tanh"):
        e = _leaf([1.0, 2.0]) * 1.0
        out = getattr(e, op)()
        out.mul_(2.0)
        with pytest.raises(dm.DemocratisingError, match="in-place"):
            out.sum().backward()
        x = _leaf([1.0, 2.0])
        e = x * 1.0
        out = getattr(e, op)()
        e.mul_(2.0)
        out.sum().backward()
        expected = {"exp": np.exp, "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "tanh": np.tanh}
        y = expected[op](np.array([1.0, 2.0]))
        d = {"exp": y, "sigmoid": y * (1 - y), "tanh": 1 - y * y}[op]
        np.testing.assert_allclose(x.grad.numpy(), d, rtol=1e-6)
    # log_softmax saved its output, not its input: modifying the input is harmless
    y = _leaf([1.0, 2.0])
    e = y * 1.0
    out = e.log_softmax(0)
    e.mul_(2.0)
    out.sum().backward()
    assert y.grad is not None
    p = np.exp([1.0, 2.0]) / np.exp([1.0, 2.0]).sum()
    assert_close(y.grad, 1 - 2 * p, atol=1e-6)


def test_inplace_ops_on_non_leaf_have_correct_gradients() -> None:
    def chain(x: dm.Tensor) -> dm.Tensor:
        e = x * 2.0
        e += x
        e -= 1.0
        e *= x
        e /= 2.0
        e.clamp_(-5.0, 5.0)
        e.add_(x, alpha=3.0)
        return e

    x = dm.tensor([0.3, -0.7, 1.1], dtype=dm.float64, requires_grad=True)
    gradcheck(chain, [x])

    y = _leaf([1.0, 2.0])
    buf = dm.zeros(2)
    buf.add_(y)
    buf.mul_(y)
    assert buf.requires_grad
    buf.sum().backward()
    assert y.grad is not None
    assert_close(y.grad, np.array([2.0, 4.0]))


def _view_inplace_cases() -> dict[str, Any]:
    def slice_imul(x: dm.Tensor) -> dm.Tensor:
        e = x * 1.0
        e[1:] *= 3.0
        return e * e

    def select_mul_(x: dm.Tensor) -> dm.Tensor:
        e = x * 2.0
        e[0].mul_(5.0)
        return e * 1.0

    def strided_add_(x: dm.Tensor) -> dm.Tensor:
        e = x * 1.0
        e.view(-1)[::2].add_(x.view(-1)[1::2])
        return e.exp()

    def column_copy_(x: dm.Tensor, y: dm.Tensor) -> dm.Tensor:
        e = x * 1.0
        e[:, 1].copy_(y)
        return e * x

    def transposed_clamp_(x: dm.Tensor) -> dm.Tensor:
        e = x * 1.0
        e.T[0].clamp_(-0.5, 0.5)
        return e

    def view_used_after(x: dm.Tensor, y: dm.Tensor) -> dm.Tensor:
        e = x * 1.0
        v = e[0]
        v += y
        v *= 2.0
        return e.sum(0) + v

    def narrow_mul_tensor(x: dm.Tensor, y: dm.Tensor) -> dm.Tensor:
        e = x.sin()  # (sin saves its input; exp saves its output, which this would modify)
        e.narrow(1, 1, 2).mul_(y)
        e[0, :2].zero_()
        return e

    def nested_setitem(x: dm.Tensor) -> dm.Tensor:
        e = x * 1.0
        e[0][1] = 7.0
        return e * x

    return {
        "slice_imul": (slice_imul, [(3, 4)]),
        "select_mul_": (select_mul_, [(3, 4)]),
        "strided_add_": (strided_add_, [(3, 4)]),
        "column_copy_": (column_copy_, [(3, 4), (3,)]),
        "transposed_clamp_": (transposed_clamp_, [(3, 4)]),
        "view_used_after": (view_used_after, [(3, 4), (4,)]),
        "narrow_mul_tensor": (narrow_mul_tensor, [(3, 4), (3, 2)]),
        "nested_setitem": (nested_setitem, [(3, 4)]),
    }


@pytest.mark.parametrize("name", list(_view_inplace_cases()))
def test_inplace_on_views_of_non_leaf_tensors(name: str) -> None:
    fn, shapes = _view_inplace_cases()[name]
    rng = np.random.default_rng(5)
    inputs = [
        dm.tensor(rng.standard_normal(s), dtype=dm.float64, requires_grad=True) for s in shapes
    ]
    gradcheck(fn, inputs)


def test_inplace_on_views_rules() -> None:
    x = _leaf([1.0, 2.0, 3.0])
    with pytest.raises(dm.DemocratisingError, match="leaf"):
        x[0].mul_(2.0)  # a view of a leaf that requires grad
    e = x * 1.0
    with pytest.raises(dm.DemocratisingError, match="view"):
        e.expand(2, 3).mul_(2.0)  # overlapping elements
    base = dm.ones(4)
    base[1:3].mul_(dm.tensor([2.0, 3.0], requires_grad=True))
    assert base.requires_grad and base.tolist() == [1.0, 2.0, 3.0, 1.0]
    with dm.no_grad():
        x[0].mul_(5.0)
    assert x.tolist() == [5.0, 2.0, 3.0] and x.is_leaf


def test_inplace_fill_and_copy_cut_or_route_history() -> None:
    x = _leaf([1.0, 2.0])
    e = x * 2.0
    e.fill_(3.0)
    (e * x).sum().backward()
    assert x.grad is not None
    assert_close(x.grad, np.array([3.0, 3.0]))
    y = _leaf([1.0, 2.0])
    f = y * 2.0
    f.copy_(y * y)
    f.sum().backward()
    assert y.grad is not None
    assert_close(y.grad, np.array([2.0, 4.0]))


def test_copy_into_itself() -> None:
    x = _leaf([1.0, 2.0])
    e = x * 3.0
    e.copy_(e)  # used to deadlock on the tensor's own autograd lock
    e[0].copy_(e[0])
    e.sum().backward()
    assert x.grad is not None
    assert_close(x.grad, np.array([3.0, 3.0]))


def test_integer_tensors_cannot_require_grad() -> None:
    for make in (
        lambda: dm.tensor([1, 2]).requires_grad_(),
        lambda: dm.ones(2, dtype=dm.int64, requires_grad=True),
        lambda: dm.tensor([True]).requires_grad_(),
        lambda: setattr(dm.tensor([1], dtype=dm.int32), "requires_grad", True),
    ):
        with pytest.raises(dm.DTypeError) as info:
            make()
        assert isinstance(info.value, TypeError)


def test_grad_flows_through_dtype_casts() -> None:
    x = dm.tensor([1.0, 2.0], dtype=dm.float64, requires_grad=True)
    y = x.float() * dm.tensor([3.0, 4.0])
    y.sum().backward()
    assert x.grad is not None and x.grad.dtype == dm.float64
    assert_close(x.grad, np.array([3.0, 4.0]))
    assert not x.long().requires_grad


def test_matmul_gradcheck() -> None:
    rng = np.random.default_rng(3)

    def leaf(*shape: int) -> dm.Tensor:
        return dm.tensor(rng.standard_normal(shape), dtype=dm.float64, requires_grad=True)

    gradcheck(lambda a, b: a @ b, [leaf(3, 4), leaf(4, 2)])
    gradcheck(lambda a, b: a @ b, [leaf(2, 3, 4), leaf(4, 2)])
    gradcheck(lambda a, b: dm.matmul(a, b), [leaf(4), leaf(4, 3)])
    gradcheck(lambda a, b: a.T @ b, [leaf(4, 3), leaf(4)])


def test_a_leaf_hook_fires_once_with_the_summed_gradient() -> None:
    """A leaf used twice: its hook sees the whole gradient once (PyTorch), and what the hook
    returns is what reaches ``.grad``."""
    w = dm.tensor([1.0, 2.0], requires_grad=True)
    seen: list[list[float]] = []
    w.register_hook(lambda g: seen.append(g.tolist()))
    (w * w + w).sum().backward()
    assert seen == [[3.0, 5.0]]
    v = dm.tensor([1.0, 2.0], requires_grad=True)
    v.register_hook(lambda g: g * 0.5)
    (v * 3 + v).sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), [2.0, 2.0])


def test_a_view_taken_before_its_base_changed_in_place_has_its_history_regenerated() -> None:
    """The view's recorded history predates the write: as PyTorch's, the view is regenerated
    from its base's current history (AsStridedBackward0), so the gradient counts the in-place
    op (values checked against PyTorch 2.15). Views taken after it, and writes through the view
    itself, give PyTorch's gradients too."""
    x = dm.ones(3, requires_grad=True)
    y = x * 1
    z = y[1:]
    y.mul_(2)
    z.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 2.0, 2.0])
    assert z.grad_fn.name() == "AsStridedBackward0"
    x = dm.ones(3, requires_grad=True)
    y = x * 1
    z = y[1:]
    y[1] = 0.0
    (z * z).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 2.0])
    x = dm.ones(2, 3, requires_grad=True)
    y = x * 1
    z = y.t()[::2]
    y.exp_()
    (z * z).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[14.7781, 0, 14.7781]] * 2, rtol=1e-5)
    x = dm.ones(3, requires_grad=True)
    y = x * 1
    y.mul_(2)
    y[1:].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 2.0, 2.0])
    x = dm.ones(3, requires_grad=True)
    y = x * 1
    z = y[1:]
    z.mul_(3)
    z.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 3.0, 3.0])
    x = dm.ones(3, requires_grad=True)
    y = x * 1
    y[1:].mul_(3)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 3.0, 3.0])


def test_grad_accumulates_in_place_like_pytorch() -> None:
    """A second backward adds into the existing ``.grad`` in place (PyTorch's AccumulateGrad): a
    held reference, or a ``.grad`` set to a view of a flat buffer, sees the sum; a gradient the
    engine hands to two leaves (both inputs of an addition) is copied for the second, so the
    in-place sums never leak from one leaf into the other."""
    x = dm.ones(3, requires_grad=True)
    y = dm.ones(3, requires_grad=True)
    (x + y).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0, 4.0])
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0, 1.0])
    held = x.grad
    (x * 2).sum().backward()
    np.testing.assert_array_equal(held.numpy(), [6.0, 6.0, 6.0])

    flat = dm.zeros(5)
    w = dm.ones(3, requires_grad=True)
    w.grad = flat[1:4]
    (w * 2).sum().backward()
    np.testing.assert_array_equal(flat.numpy(), [0.0, 2.0, 2.0, 2.0, 0.0])


# ---- gradient sums in place -------------------------------------------------------------------
# The engine adds a tensor's later gradient contributions into its first one in place, and a
# view's gradient into its base's running sum, whenever nothing else holds that sum. These
# check the sums stay right where something does hold it, or a view overlaps another.


def test_split_views_sum_into_one_gradient_in_any_order() -> None:
    x = _leaf(list(np.arange(12.0)))
    h = x * 1.0
    q, k, v = h.reshape(3, 4).split(1, dim=0)
    w = dm.tensor(np.arange(4.0, dtype=np.float32))
    (v.sum() * 5 + (q * w).sum() + k.sum() * 2 + (q * q).sum()).backward()
    base = np.arange(12.0).reshape(3, 4)
    want = np.concatenate([np.arange(4.0) + 2 * base[0], [2.0] * 4, [5.0] * 4])
    assert_close(x.grad, want)


def test_overlapping_views_and_a_retained_base_gradient() -> None:
    x = _leaf([1.0, 2.0, 3.0, 4.0, 5.0])
    h = x * 1.0
    h.retain_grad()
    a, b = h[1:4], h[2:]
    seen: list[np.ndarray] = []
    h.register_hook(lambda g: seen.append(g.numpy().copy()))
    (a.sum() * 2 + b.sum() * 3 + h.sum()).backward()
    want = np.array([1.0, 3.0, 6.0, 6.0, 4.0])
    assert_close(h.grad, want)
    assert_close(x.grad, want)
    np.testing.assert_allclose(seen[0], want)


def test_a_gradient_the_user_holds_is_not_added_into() -> None:
    x = _leaf([1.0, 2.0])
    h = x * 1.0
    held: list[dm.Tensor] = []
    y = h * 3.0
    y.register_hook(lambda g: held.append(g) or None)
    (y.sum() + h.sum()).backward()
    assert_close(held[0], np.array([1.0, 1.0]))
    assert_close(x.grad, np.array([4.0, 4.0]))


def test_split_gradients_still_build_a_graph_under_create_graph() -> None:
    x = _leaf([1.0, 2.0, 3.0, 4.0], dm.float64)
    q, k = (x * x).split(2)
    (g,) = dm.autograd.grad((q * k).sum(), x, create_graph=True)
    # d/dx sum(x0^2 x2^2 + x1^2 x3^2) = [2 x0 x2^2, 2 x1 x3^2, 2 x2 x0^2, 2 x3 x1^2]
    assert_close(g, np.array([18.0, 64.0, 6.0, 32.0]))
    g.sum().backward()
    # the derivative of that sum: [2 x2^2 + 4 x0 x2, 2 x3^2 + 4 x1 x3, 4 x0 x2 + 2 x0^2, ...]
    assert_close(x.grad, np.array([30.0, 64.0, 14.0, 40.0]))
