"""Custom ``autograd.Function`` against PyTorch (session 28): ``save_for_backward`` honours
the saved-tensor hooks in force at ``apply`` (pack then, unpack at the first read of
``ctx.saved_tensors``: torch unpacks at each read, dm keeps the result as its engine does for
built-in ops, so a second backward through ``checkpoint`` works), so
``checkpoint(use_reentrant=False)`` drops and recomputes what a Function saves; reading saved
tensors after the graph is freed raises. Expected values were checked side by side with torch
2.x (or are the plain-op equivalents)."""

from __future__ import annotations

import contextlib
import gc
import math
import weakref
from typing import Any

import pytest
from democratising.autograd.graph import save_on_cpu, saved_tensors_hooks

import democratising as dm


def _cube(log: list[Any]) -> type[dm.autograd.Function]:
    """x ** 3, saving its input and its output; forward works on a detached input, so no op
    in it saves anything (only ``save_for_backward`` reaches the hooks)."""

    class Cube(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            log.append("fwd")
            y = x.detach() ** 3
            ctx.save_for_backward(x, y)
            return y

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            x, _y = ctx.saved_tensors
            log.append("bwd")
            return 3 * x * x * g

    return Cube


def _close(a: list[float], b: list[float], tol: float = 1e-5) -> bool:
    return len(a) == len(b) and all(math.isclose(p, q, abs_tol=tol) for p, q in zip(a, b))


def test_pack_at_apply_unpack_at_first_read() -> None:
    log: list[Any] = []

    class Sq(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            ctx.save_for_backward(x)
            return x.detach() * x.detach()

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            (a,) = ctx.saved_tensors
            (b,) = ctx.saved_tensors
            return a * g + b * g

    def pack(t: dm.Tensor) -> Any:
        log.append(("pack", tuple(t.shape)))
        return ("box", t)

    def unpack(p: Any) -> dm.Tensor:
        log.append("unpack")
        return p[1]

    x = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with saved_tensors_hooks(pack, unpack):
        y = Sq.apply(x)
    log.append("after forward")
    y.sum().backward()
    # torch: [('pack', (3,)), 'after forward', 'unpack', 'unpack'] (dm: unpacked once)
    assert log == [("pack", (3,)), "after forward", "unpack"]
    assert x.grad.tolist() == [2.0, 4.0, 6.0]


def test_no_pack_without_graph_and_none_slots_kept() -> None:
    packs: list[Any] = []

    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            ctx.save_for_backward(None, x)
            return x.detach() * 2

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            a, b = ctx.saved_tensors
            assert a is None and tuple(b.shape) == (2,)
            return g * 2

    with saved_tensors_hooks(lambda t: packs.append(t) or t, lambda t: t):
        F.apply(dm.tensor([1.0, 2.0]))  # no input requires grad: nothing is saved
        assert packs == []
        x = dm.tensor([1.0, 2.0], requires_grad=True)
        y = F.apply(x)
    assert len(packs) == 1  # the None is not packed
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_saved_output_is_packed_as_returned() -> None:
    seen: list[Any] = []

    class Exp(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            y = x.detach().exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            (y,) = ctx.saved_tensors
            return y * g

    def pack(t: dm.Tensor) -> dm.Tensor:
        seen.append((t.requires_grad, t.grad_fn.name() if t.grad_fn is not None else None))
        return t

    x = dm.tensor([0.0, 1.0], requires_grad=True)
    with saved_tensors_hooks(pack, lambda t: t):
        y = Exp.apply(x)
    assert seen == [(True, "ExpBackward")]  # torch: the output, with its grad_fn
    (gx,) = dm.autograd.grad(y.sum(), x, create_graph=True)
    gx.sum().backward()  # d2/dx2 exp = exp, through the re-attached saved output
    assert _close(x.grad.tolist(), [1.0, math.e])


def test_save_on_cpu_first_order() -> None:
    cube = _cube([])
    x = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with save_on_cpu():
        y = cube.apply(x)
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 12.0, 27.0]


def _exp() -> type[dm.autograd.Function]:
    class Exp(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            y = x.detach().exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            (y,) = ctx.saved_tensors
            return y * g

    return Exp


@pytest.mark.parametrize("which", ["cube", "exp"])
def test_detaching_hooks_keep_the_saved_history(which: str) -> None:
    """A hook that returns a copy without graph (like an offload): as in PyTorch, the
    create_graph pass still differentiates through the saved input (its history) and the
    saved output (this Function's node)."""
    fn = _cube([]) if which == "cube" else _exp()
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    with saved_tensors_hooks(lambda t: t.detach().clone(), lambda t: t):
        y = fn.apply(x)
    (gx,) = dm.autograd.grad(y.sum(), x, create_graph=True)
    gx.sum().backward()
    want = [6.0, 12.0] if which == "cube" else [math.e, math.exp(2.0)]  # torch
    assert _close(x.grad.tolist(), want)


def test_identity_hooks_double_backward() -> None:
    cube = _cube([])
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    with saved_tensors_hooks(lambda t: t, lambda t: t):
        y = cube.apply(x)
    (gx,) = dm.autograd.grad(y.sum(), x, create_graph=True)
    gx.sum().backward()
    assert x.grad.tolist() == [6.0, 12.0]  # 6x


def test_version_check_only_without_hooks() -> None:
    cube = _cube([])
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    y = cube.apply(h)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    # torch checks no version through hooks: the new values are used
    h = x * 1
    with saved_tensors_hooks(lambda t: t, lambda t: t):
        y = cube.apply(h)
    h.add_(1)
    y.sum().backward()
    assert x.grad.tolist() == [12.0, 27.0]


def test_unpack_hook_must_return_tensor() -> None:
    cube = _cube([])
    x = dm.tensor([1.0], requires_grad=True)
    with saved_tensors_hooks(lambda t: t, lambda t: 3):
        y = cube.apply(x)
    with pytest.raises(TypeError, match="unpack_hook expected to be a Tensor"):
        y.sum().backward()


def test_checkpoint_drops_and_recomputes_function_saves() -> None:
    log: list[Any] = []
    cube = _cube(log)
    refs: list[Any] = []

    def seg(a: dm.Tensor) -> dm.Tensor:
        h = a.sin()
        refs.append(weakref.ref(h))
        return cube.apply(h).cos()

    x = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = dm.utils.checkpoint.checkpoint(seg, x, use_reentrant=False)
    gc.collect()
    assert refs[0]() is None  # the Function's saved input was dropped
    log.append("after forward")
    out.sum().backward()
    # torch: ['fwd', 'after forward', 'fwd', 'bwd'] (recomputed for the backward)
    assert log == ["fwd", "after forward", "fwd", "bwd"]
    got = x.grad.tolist()
    x.grad = None
    seg(x).sum().backward()
    assert _close(got, x.grad.tolist())
    assert _close(got, [-0.64409, 0.70499, 0.00017])  # torch


def test_checkpoint_double_backward_and_two_reads() -> None:
    cube = _cube([])

    def seg(a: dm.Tensor) -> dm.Tensor:
        return cube.apply(a.sin()).cos()

    x = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = dm.utils.checkpoint.checkpoint(seg, x, use_reentrant=False)
    (gx,) = dm.autograd.grad(out.sum(), x, create_graph=True)
    gx.sum().backward()
    assert _close(x.grad.tolist(), [-0.9143, 0.1168, -0.0058], tol=1e-4)  # torch

    class Twice(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, a: dm.Tensor) -> dm.Tensor:
            ctx.save_for_backward(a)
            return a.detach() * 2

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            (a,) = ctx.saved_tensors
            (b,) = ctx.saved_tensors
            return g * 2 + (a - b)

    x.grad = None
    dm.utils.checkpoint.checkpoint(
        lambda a: Twice.apply(a * 1), x, use_reentrant=False
    ).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_saved_tensors_after_backward() -> None:
    box: dict[str, Any] = {}

    class F(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            ctx.save_for_backward(x)
            box["ctx"] = ctx
            return x * 2

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            return g * 2

    x = dm.tensor([1.0, 2.0], requires_grad=True)
    y = F.apply(x)
    y.sum().backward(retain_graph=True)
    assert [tuple(t.shape) for t in box["ctx"].saved_tensors] == [(2,)]
    y = F.apply(x)
    y.sum().backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        box["ctx"].saved_tensors  # noqa: B018 (the read raises)


def test_function_node_keeps_no_input_alive() -> None:
    refs: list[Any] = []

    class Double(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor, k: float) -> dm.Tensor:
            ctx.k = k
            return x.detach() * k

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> tuple[Any, None]:
            return g * ctx.k, None

    x = dm.tensor([1.0, 2.0], requires_grad=True)
    h = x.sin()
    refs.append(weakref.ref(h))
    y = Double.apply(h, 3.0)
    del h
    gc.collect()
    assert refs[0]() is None  # (the graph keeps edges, not the input tensor)
    y.sum().backward()
    assert _close(x.grad.tolist(), [3 * math.cos(1.0), 3 * math.cos(2.0)])


def test_errors_match_torch() -> None:
    class NoForward(dm.autograd.Function):
        pass

    with pytest.raises(NotImplementedError, match="You must implement the forward function"):
        NoForward.apply(dm.tensor([1.0]))

    class BadShape(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            return x * 2

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            return dm.ones(3, 4)

    with pytest.raises(
        RuntimeError,
        match=r"Function BadShapeBackward returned an invalid gradient at index 0 - got "
        r"\[3, 4\] but expected shape compatible with \[2\]",
    ):
        BadShape.apply(dm.tensor([1.0, 2.0], requires_grad=True)).sum().backward()

    class TooFew(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor, y: dm.Tensor) -> dm.Tensor:
            return x * y

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> list[dm.Tensor]:
            return [g, g]  # a list is one gradient, as in torch

    with pytest.raises(RuntimeError, match=r"incorrect number of gradients \(expected 2, got 1\)"):
        a, b = dm.tensor([1.0], requires_grad=True), dm.tensor([2.0], requires_grad=True)
        TooFew.apply(a, b).sum().backward()


def _functions() -> dict[str, type[dm.autograd.Function]]:
    class Two(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor, w: dm.Tensor) -> tuple[dm.Tensor, dm.Tensor]:
            a = x.detach() * w.detach()
            b = (x.detach() * 2).sin()
            ctx.save_for_backward(x, w, b)
            return a, b

        @staticmethod
        def backward(ctx: Any, ga: dm.Tensor, gb: dm.Tensor) -> tuple[dm.Tensor, dm.Tensor]:
            x, w, _b = ctx.saved_tensors
            return ga * w + gb * 2 * (2 * x).cos(), ga * x

    class Dirty(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> dm.Tensor:
            x.mul_(3)
            ctx.mark_dirty(x)
            ctx.save_for_backward(x)
            return x

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            (y,) = ctx.saved_tensors
            return g * 3 + 0 * y

    class NonDiff(dm.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: dm.Tensor) -> tuple[dm.Tensor, dm.Tensor]:
            y = x.detach() * x.detach()
            m = (x.detach() > 1.5).float()
            ctx.mark_non_differentiable(m)
            ctx.save_for_backward(x, m)
            return y, m

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor, gm: dm.Tensor) -> dm.Tensor:
            x, m = ctx.saved_tensors
            return 2 * x * g * (1 + m)

    return {"Cube": _cube([]), "Exp": _exp(), "Two": Two, "Dirty": Dirty, "NonDiff": NonDiff}


def _program(fn: Any, name: str, a: dm.Tensor, w: dm.Tensor) -> dm.Tensor:
    if name == "Two":
        p, q = fn.apply(a.sin(), w * 1)
        return (p * q).sum() + p.exp().sum()
    if name == "NonDiff":
        y, m = fn.apply(a.sin())
        return (y * y).sum() + m.sum()
    if name == "Dirty":
        return (fn.apply(a.sin() * 1) ** 2).sum()
    return fn.apply(a.sin()).cos().sum()


# torch 2.x: grads of (a, w) for the first order; of |grad|^2 through create_graph
_EXPECTED = {
    "Cube": ([-0.0665, -0.6441, 0.705], [0.076, 1.1778, 0.1648]),
    "Exp": ([-1.416, -0.918, 0.6326], [1.0763, -3.6779, 2.4835]),
    "Two": (
        [4.5047, -0.3949, -0.185, 1.3765, 1.3887, 2.0229],
        [29.287, 0.8183, -3.2582, 40.0258, 0.7851, 4.5169],
    ),
    "Dirty": ([7.5732, 8.1837, -6.8112], [147.3062, -122.602, 160.276]),
    "NonDiff": ([0.3868, 1.2877, -1.2515], [1.4799, 1.2233, 2.5437]),
}


@pytest.mark.parametrize("name", list(_EXPECTED))
@pytest.mark.parametrize("mode", ["none", "identity", "clone", "cpu", "checkpoint"])
@pytest.mark.parametrize("create_graph", [False, True])
def test_hooks_and_checkpoint_match_torch(name: str, mode: str, create_graph: bool) -> None:
    fn = _functions()[name]
    a = dm.tensor([0.5, 1.0, 2.0], requires_grad=True)
    w = dm.tensor([1.5, -0.5, 0.25], requires_grad=True)
    if mode == "checkpoint":
        loss = dm.utils.checkpoint.checkpoint(
            lambda a, w: _program(fn, name, a, w), a, w, use_reentrant=False
        )
    else:
        hooks: Any = {
            "none": contextlib.nullcontext(),
            "identity": saved_tensors_hooks(lambda t: t, lambda t: t),
            "clone": saved_tensors_hooks(lambda t: t.detach().clone(), lambda t: t),
            "cpu": save_on_cpu(),
        }[mode]
        with hooks:
            loss = _program(fn, name, a, w)
    if create_graph:
        ga, gw = dm.autograd.grad(loss, (a, w), create_graph=True, allow_unused=True)
        total = ga.pow(2).sum()
        if gw is not None:
            total = total + gw.pow(2).sum()
        total.backward()
    else:
        loss.backward()
    got = a.grad.tolist() + (w.grad.tolist() if w.grad is not None else [])
    assert _close(got, _EXPECTED[name][create_graph], tol=2e-3)


def test_save_for_forward_in_setup_context() -> None:
    class Double(dm.autograd.Function):
        @staticmethod
        def forward(x: dm.Tensor) -> dm.Tensor:
            return x * 2

        @staticmethod
        def setup_context(ctx: Any, inputs: tuple[Any, ...], output: dm.Tensor) -> None:
            ctx.save_for_forward(inputs[0], None)
            assert ctx.saved_for_forward[0] is inputs[0]
            with pytest.raises(TypeError, match="save_for_forward expects all arguments"):
                ctx.save_for_forward(3)

        @staticmethod
        def backward(ctx: Any, g: dm.Tensor) -> dm.Tensor:
            return g * 2

        @staticmethod
        def jvp(ctx: Any, t: dm.Tensor) -> dm.Tensor:
            return t * 2

    x = dm.tensor([1.0, 2.0], requires_grad=True)
    Double.apply(x).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]
    _, tangent = dm.func.jvp(Double.apply, (x.detach(),), (dm.ones(2),))
    assert tangent.tolist() == [2.0, 2.0]
