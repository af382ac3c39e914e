"""``autograd.graph``: saved-tensor hooks, ``save_on_cpu``, ``register_multi_grad_hook``, the
``autograd`` submodules importable by name, and binary ops keeping only what backward reads."""

import numpy as np
import pytest
from democratising.autograd.graph import (
    disable_saved_tensors_hooks,
    register_multi_grad_hook,
    save_on_cpu,
    saved_tensors_hooks,
)

import democratising as dm


def test_autograd_submodules_import_by_name():
    import democratising.autograd.functional as functional
    from democratising.autograd.function import Function
    from democratising.autograd.grad_mode import no_grad
    from democratising.autograd.gradcheck import gradcheck

    assert functional.jacobian is dm.autograd.functional.jacobian
    assert Function is dm.autograd.Function and no_grad is dm.no_grad
    assert gradcheck is dm.autograd.gradcheck


def test_pack_and_unpack_run_on_each_saved_tensor_and_gradients_are_right():
    packed, unpacked = [], []

    def pack(t):
        packed.append(tuple(t.shape))
        return ("mine", t.clone())

    def unpack(p):
        unpacked.append(p[0])
        return p[1]

    a = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = dm.tensor([4.0, 5.0, 6.0], requires_grad=True)
    with saved_tensors_hooks(pack, unpack):
        y = (a * b).sin()
    assert packed == [(3,), (3,), (3,)]  # a and b for mul, a * b for sin
    y.sum().backward()
    assert unpacked == ["mine"] * 3
    x = np.array([1.0, 2.0, 3.0]) * np.array([4.0, 5.0, 6.0])
    np.testing.assert_allclose(a.grad.numpy(), np.cos(x) * [4, 5, 6], rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), np.cos(x) * [1, 2, 3], rtol=1e-6)


def test_hooks_nest_and_apply_only_inside_the_context():
    seen = []
    a = dm.ones(2, requires_grad=True)
    with saved_tensors_hooks(lambda t: seen.append("outer") or t, lambda t: t):
        with saved_tensors_hooks(lambda t: seen.append("inner") or t, lambda t: t):
            (a * a).sum()
        (a * a).sum()
    (a * a).sum()
    assert seen == ["inner", "inner", "outer", "outer"]


def test_hook_errors_reach_the_caller_with_their_own_type():
    class PackError(Exception):
        pass

    def bad(t):
        raise PackError("no room")

    a = dm.ones(2, requires_grad=True)
    with pytest.raises(PackError, match="no room"):
        with saved_tensors_hooks(bad, lambda p: p):
            a * a
    # The failed context left no hooks behind.
    (a * a).sum().backward()
    assert a.grad.tolist() == [2.0, 2.0]

    with saved_tensors_hooks(lambda t: 0, lambda p: "not a tensor"):
        y = a * a
    with pytest.raises(TypeError, match="must return a Tensor"):
        y.sum().backward()
    with saved_tensors_hooks(lambda t: 0, lambda p: dm.ones(3)):
        y = a * a
    with pytest.raises(dm.DemocratisingError, match="shape"):
        y.sum().backward()


def test_hooks_that_keep_the_tensor_still_catch_an_in_place_change():
    c = dm.ones(3, requires_grad=True) * 1
    with saved_tensors_hooks(lambda t: t, lambda t: t):
        y = c.sin()
    c.add_(1.0)
    with pytest.raises(dm.DemocratisingError, match="modified by an in-place operation"):
        y.sum().backward()


def test_save_on_cpu_gives_the_same_gradients_and_keeps_copies():
    dm.manual_seed(0)
    x = dm.randn(4, 3, requires_grad=True)
    w = dm.randn(3, 2, requires_grad=True)
    (x @ w).tanh().sum().backward()
    expected = (x.grad.clone(), w.grad.clone())
    x.grad = w.grad = None
    with save_on_cpu(pin_memory=True):
        h = x @ w
        y = h.tanh()
    h.add_(1.0)  # the saved copy is not the tensor: no version error, the old values are used
    y.sum().backward()
    assert dm.equal(x.grad, expected[0]) and dm.equal(w.grad, expected[1])


def test_disable_saved_tensors_hooks_refuses_new_hooks():
    with disable_saved_tensors_hooks("not in this region"):
        with pytest.raises(RuntimeError, match="not in this region"):
            with saved_tensors_hooks(lambda t: t, lambda t: t):
                pass
    with saved_tensors_hooks(lambda t: t, lambda t: t):
        pass

    @disable_saved_tensors_hooks("decorated")
    def region():
        with saved_tensors_hooks(lambda t: t, lambda t: t):
            pass

    with pytest.raises(RuntimeError, match="decorated"):
        region()


def test_register_multi_grad_hook_all_and_any():
    p = dm.ones(2, requires_grad=True)
    q = dm.ones(2, requires_grad=True)
    calls = []
    handle = register_multi_grad_hook(
        [p, q], lambda gs: calls.append([None if g is None else g.tolist() for g in gs])
    )
    (p * 3).sum().backward()
    (p * 3 + q).sum().backward()
    handle.remove()
    (p * 3).sum().backward()
    assert calls == [[[3.0, 3.0], None], [[3.0, 3.0], [1.0, 1.0]]]

    firsts = []
    register_multi_grad_hook([p, q], lambda g: firsts.append(g.tolist()), mode="any")
    (p * 2 + q * 5).sum().backward()
    assert len(firsts) == 1 and firsts[0] in ([2.0, 2.0], [5.0, 5.0])
    with pytest.raises(ValueError, match="mode"):
        register_multi_grad_hook([p], print, mode="some")


def test_add_keeps_neither_operand_and_mul_only_what_it_reads():
    """What an op saves is what an in-place change after forward trips over."""
    w = dm.ones(3, requires_grad=True)

    def backward_after_change(op, change):
        h = dm.ones(3) * 2
        k = dm.ones(3) * 3
        y = op(h, k)
        change(h, k)
        y.sum().backward()

    backward_after_change(lambda h, k: h + w, lambda h, k: h.add_(1))
    backward_after_change(lambda h, k: w - h, lambda h, k: h.add_(1))
    # Only `a`'s gradient is needed: `k` is read, `a * 1` is not kept.
    a = dm.ones(3, requires_grad=True)
    backward_after_change(lambda h, k: (a * 1 + h) * k, lambda h, k: h.add_(1))
    with pytest.raises(dm.DemocratisingError, match="in-place"):
        backward_after_change(lambda h, k: (a * 1) * k, lambda h, k: k.add_(1))
    with pytest.raises(dm.DemocratisingError, match="in-place"):
        backward_after_change(lambda h, k: h * w, lambda h, k: h.add_(1))
    assert a.grad.tolist() == [3.0, 3.0, 3.0]
