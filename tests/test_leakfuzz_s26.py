"""Reference cycles that run through Python callables held by the Rust autograd engine.

Each test builds, N times, an object graph that is garbage once the loop drops it but whose
cycle passes through a hook or backward closure stored inside the engine (``Arc`` closures
capturing ``Py<PyAny>``). The engine keeps each such callable in a slot held with the tensor
or node it belongs to, and a tensor (or ``grad_fn``) object shows those slots to CPython's
cycle collector when it is the only handle to that tensor and node (session 27): tensor and
post-accumulate hooks, custom Functions' contexts, checkpoint closures, node hooks and node
metadata are collected. A callable still reachable through the engine (a live graph downstream,
a second handle) is never shown, so the collector cannot free what a later backward will call:
the last tests keep such graphs alive across ``gc.collect()`` and run them.
The first test is a steady per-step leak of a training loop, fixed in Python (session 26).
The tests count survivors with weak references after ``gc.collect()``: deterministic, no
RSS noise, and generous (a leak keeps all N alive, a fix keeps none).
"""

from __future__ import annotations

import gc
import weakref
from typing import Any, Callable

import democratising as dm
from democratising import nn
from democratising.utils.checkpoint import checkpoint

N = 30
# A fix frees every one; allow a few stragglers so that unrelated caching cannot flip a test.
MAX_ALIVE = 3


class _Holder:
    """A plain Python object with a ``__dict__``, standing for any user-side owner."""

    t: Any
    o: Any


def _survivors(make: Callable[[], object]) -> int:
    """How many of ``N`` objects built by ``make`` are still alive after a full collection."""
    refs = [weakref.ref(make()) for _ in range(N)]
    gc.collect()
    return sum(r() is not None for r in refs)


def _live_tensors() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, dm.Tensor))


def test_multi_grad_hook_per_step_does_not_grow() -> None:
    lin = nn.Linear(8, 8)
    x = dm.randn(4, 8)

    def step() -> None:
        out = lin(x)
        dm.autograd.graph.register_multi_grad_hook((out,), lambda grads: None)
        out.sum().backward()
        lin.zero_grad()

    step()  # warm-up
    before = _live_tensors()
    for _ in range(N):
        step()
    assert _live_tensors() - before <= MAX_ALIVE


class _ClippedLinear(nn.Module):
    """A module that clips its weight's gradient with a bound-method hook (a common idiom)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.lin.weight.register_hook(self._clip)

    def _clip(self, grad: dm.Tensor) -> dm.Tensor:
        return grad.clamp(-1.0, 1.0)

    def forward(self, x: dm.Tensor) -> dm.Tensor:
        return self.lin(x)


def test_module_with_bound_method_param_hook_is_freed() -> None:
    _ClippedLinear()  # warm-up
    before = _live_tensors()
    for _ in range(N):
        m = _ClippedLinear()
        m(dm.randn(2, 8)).sum().backward()
        del m
    # Each leaked module keeps its weight and bias (2 tensors) plus gradients alive.
    assert _live_tensors() - before <= 2 * MAX_ALIVE
    assert _survivors(_ClippedLinear) <= MAX_ALIVE


def test_leaf_tensor_hook_cycle_through_owner_is_freed() -> None:
    def make() -> _Holder:
        h = _Holder()
        h.t = dm.randn(4, requires_grad=True)
        h.t.register_hook(lambda g, h=h: g)
        return h

    assert _survivors(make) <= MAX_ALIVE


def test_parameter_hook_closure_over_module_is_freed() -> None:
    def make() -> nn.Linear:
        lin = nn.Linear(4, 4)
        lin.weight.register_hook(lambda g, lin=lin: g)
        return lin

    assert _survivors(make) <= MAX_ALIVE


class _Tagged(dm.autograd.Function):
    """A custom Function that keeps a Python object on ``ctx`` (as many do: a module, config)."""

    @staticmethod
    def forward(ctx: Any, a: dm.Tensor, owner: Any) -> dm.Tensor:
        ctx.owner = owner
        return a * 2

    @staticmethod
    def backward(ctx: Any, grad: dm.Tensor) -> tuple[dm.Tensor, None]:
        return grad * 2, None


def test_custom_function_ctx_cycle_is_freed() -> None:
    def make() -> nn.Linear:
        m = nn.Linear(4, 4)
        m.out = _Tagged.apply(dm.randn(4, requires_grad=True), m)
        return m

    assert _survivors(make) <= MAX_ALIVE


def test_reentrant_checkpoint_output_kept_on_module_is_freed() -> None:
    def make() -> nn.Linear:
        m = nn.Linear(4, 4)
        m.out = checkpoint(m, dm.randn(2, 4, requires_grad=True), use_reentrant=True)
        return m

    assert _survivors(make) <= MAX_ALIVE


def test_grad_fn_hook_cycle_is_freed() -> None:
    def make() -> _Holder:
        h = _Holder()
        h.o = dm.randn(4, requires_grad=True) * 2
        h.o.grad_fn.register_hook(lambda gi, go, h=h: None)
        return h

    assert _survivors(make) <= MAX_ALIVE


def test_post_accumulate_grad_hook_cycle_is_freed() -> None:
    def make() -> nn.Linear:
        m = nn.Linear(4, 4)
        for p in m.parameters():
            p.register_post_accumulate_grad_hook(lambda p, m=m: None)
        return m

    assert _survivors(make) <= MAX_ALIVE


def test_cycles_without_engine_held_callables_are_freed() -> None:
    """The control: the same shapes with the callable removed or kept on the Python side are
    collected, so the xfails above measure the engine edge and nothing else."""

    def removed_hook() -> nn.Linear:
        m = nn.Linear(4, 4)
        m.weight.register_hook(lambda g, m=m: g).remove()
        return m

    def forward_hook() -> nn.Linear:
        m = nn.Linear(4, 4)
        m.register_forward_hook(lambda mod, i, o, m=m: None)
        m.out = m(dm.randn(2, 4))
        return m

    def attribute_cycle() -> _Holder:
        h = _Holder()
        h.t = dm.randn(4, requires_grad=True)
        h.t.owner = h  # through the tensor's __dict__, which PyTensor does traverse
        return h

    for make in (removed_hook, forward_hook, attribute_cycle):
        assert _survivors(make) <= MAX_ALIVE, make.__name__


def test_hook_handle_kept_on_the_module_does_not_pin_it() -> None:
    """A module that keeps its hooks' handles (to remove them later) is still collected."""

    def make() -> nn.Linear:
        m = nn.Linear(4, 4)
        m.handles = [m.weight.register_hook(lambda g, m=m: g)]
        m.handles.append(m.bias.register_post_accumulate_grad_hook(lambda p, m=m: None))
        return m

    assert _survivors(make) <= MAX_ALIVE


def test_node_metadata_cycle_is_freed() -> None:
    def make() -> _Holder:
        h = _Holder()
        h.o = dm.randn(4, requires_grad=True) * 2
        h.o.grad_fn.metadata["owner"] = h
        return h

    assert _survivors(make) <= MAX_ALIVE


def test_hook_reachable_through_a_live_graph_survives_collection() -> None:
    """The cycle module -> weight -> hook -> module is also reachable from ``out``'s graph:
    the collector must leave it whole, so the backward still calls a working hook."""
    lin = nn.Linear(4, 4)
    seen: list[nn.Linear] = []
    lin.weight.register_hook(lambda g, lin=lin: (seen.append(lin), g)[1])
    lin.weight.register_post_accumulate_grad_hook(lambda p, lin=lin: seen.append(lin))
    out = lin(dm.randn(2, 4))
    del lin
    gc.collect()
    out.sum().backward()
    assert len(seen) == 2 and all(m.in_features == 4 for m in seen)


def test_custom_function_ctx_reachable_downstream_survives_collection() -> None:
    m = nn.Linear(4, 4)
    x = dm.randn(4, requires_grad=True)
    m.out = _Tagged.apply(x, m)
    z = m.out * 3
    node = m.out.grad_fn
    node.metadata["owner"] = m
    calls: list[int] = []
    node.register_hook(lambda gi, go, m=m: calls.append(m.in_features))
    del m, node
    gc.collect()
    z.sum().backward()
    assert calls == [4]
    assert x.grad is not None and dm.allclose(x.grad, dm.full((4,), 6.0))


def test_checkpointed_module_reachable_downstream_survives_collection() -> None:
    m = nn.Linear(4, 4)
    x = dm.randn(2, 4, requires_grad=True)
    m.out = checkpoint(m, x, use_reentrant=True)
    z = m.out.sum()
    del m
    gc.collect()
    z.backward()
    assert x.grad is not None and x.grad.shape == (2, 4)
