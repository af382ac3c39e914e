"""Non-reentrant activation checkpoint (``use_reentrant=False``) built on saved-tensor hooks,
as PyTorch's: the forward keeps its real graph and drops what its ops save, the backward
recomputes it. Parameters the function is not given are real graph leaves, so
``autograd.grad``, ``create_graph`` and ``retain_graph`` behave exactly as without
checkpointing. Expected values come from the uncheckpointed run (PyTorch 2.x gives the same;
its values for the small Linear case are pasted)."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

import numpy as np
import pytest
from democratising.autograd.graph import save_on_cpu

import democratising as dm
import democratising.nn.functional as F
from democratising import nn
from democratising.utils.checkpoint import checkpoint


def _ck(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return checkpoint(fn, *args, use_reentrant=False, **kwargs)


def _plain(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return fn(*args, **kwargs)


def _critic(seed: int = 0) -> nn.Sequential:
    dm.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 8), nn.GELU(), nn.Linear(8, 1))


def _np(t: Any) -> Any:
    return None if t is None else t.detach().numpy().copy()


def _same(a: list[Any], b: list[Any]) -> None:
    assert len(a) == len(b)
    for u, v in zip(a, b):
        assert (u is None) == (v is None)
        if u is not None:
            np.testing.assert_allclose(v, u, rtol=1e-12, atol=1e-14)


def test_grad_wrt_input_leaves_unused_parameters_grad_none() -> None:
    lin = nn.Linear(3, 1)
    with dm.no_grad():
        lin.weight.copy_(dm.tensor([[0.5, -1.0, 2.0]]))
        lin.bias.fill_(0.25)
    x = dm.ones(2, 3, requires_grad=True)
    (gx,) = dm.autograd.grad(_ck(lin, x).sum(), x)
    assert gx.tolist() == [[0.5, -1.0, 2.0]] * 2
    assert lin.weight.grad is None and lin.bias.grad is None  # PyTorch: None (was [[2, 2, 2]])


def test_grad_wrt_parameters_not_passed_as_arguments() -> None:
    lin = nn.Linear(3, 1)
    x = dm.ones(2, 3, requires_grad=True)
    gw, gb = dm.autograd.grad(_ck(lin, x).sum(), list(lin.parameters()))
    assert gw.tolist() == [[2.0, 2.0, 2.0]] and gb.tolist() == [2.0]  # PyTorch's values
    assert x.grad is None and lin.weight.grad is None


@pytest.mark.parametrize("how", ["backward", "grad_x", "grad_params"])
def test_first_order_matches_plain_run(how: str) -> None:
    results = []
    for run in (_plain, _ck):
        c = _critic().double()
        dm.manual_seed(1)
        x = dm.randn(4, 5, dtype=dm.float64, requires_grad=True)
        y = run(c, x).pow(2).sum()
        params = list(c.parameters())
        if how == "backward":
            y.backward()
            got = [x.grad, *(p.grad for p in params)]
        elif how == "grad_x":
            got = [*dm.autograd.grad(y, x), *(p.grad for p in params)]
        else:
            got = [*dm.autograd.grad(y, params), x.grad]
        results.append([_np(t) for t in got])
    _same(*results)
    if how == "grad_x":
        assert all(g is None for g in results[1][1:])


def test_wgan_gradient_penalty_parameter_grads_match_plain_run() -> None:
    """The parameter gradients of ``critic(x) + penalty(d critic / dx)`` through a
    checkpointed critic: before, they had one extra d critic / dp (the recomputation's
    nested backward accumulated it)."""
    results = []
    for run in (_plain, _ck):
        c = _critic().double()
        dm.manual_seed(2)
        real, fake = dm.randn(6, 5, dtype=dm.float64), dm.randn(6, 5, dtype=dm.float64)
        eps = dm.rand(6, 1, dtype=dm.float64)
        x = (eps * real + (1 - eps) * fake).requires_grad_(True)
        out = run(c, x)
        (g,) = dm.autograd.grad(out.sum(), x, create_graph=True)
        penalty = ((g.norm(2, dim=1) - 1) ** 2).mean()
        (out.mean() + 10 * penalty).backward()
        results.append([_np(x.grad), *(_np(p.grad) for p in c.parameters())])
    _same(*results)


def test_dropout_inside_is_bit_identical_to_plain_run() -> None:
    def block(t: dm.Tensor, w: dm.Tensor) -> dm.Tensor:
        return F.dropout(dm.tanh(t @ w), 0.5, True).sum(1)

    results = []
    for run in (_plain, _ck):
        dm.manual_seed(3)
        x = dm.randn(6, 4, requires_grad=True)
        w = dm.randn(4, 5, requires_grad=True)
        y = run(block, x, w)
        after = dm.randn(6)  # the recomputation leaves the RNG stream where it was
        (y * after).sum().backward()
        results.append([_np(t) for t in (y, after, x.grad, w.grad)])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_nested_checkpoints_under_create_graph_match_plain_run() -> None:
    results = []
    for run in (_plain, _ck):
        c = _critic().double()
        inner = nn.Sequential(*list(c.children())[:2])
        outer = nn.Sequential(*list(c.children())[2:])
        x = dm.linspace(-1, 1, 20, dtype=dm.float64).reshape(4, 5).requires_grad_(True)
        y = run(lambda t, i=inner, o=outer, r=run: o(r(i, t)).sin(), x)
        (g,) = dm.autograd.grad(y.sum(), x, create_graph=True)
        (g.pow(2).sum() + y.sum()).backward()
        results.append([_np(x.grad), *(_np(p.grad) for p in c.parameters())])
    _same(*results)


def test_block_called_twice_in_one_graph() -> None:
    results = []
    for run in (_plain, _ck):
        dm.manual_seed(4)
        lin = nn.Linear(5, 5).double()
        x = dm.randn(3, 5, dtype=dm.float64, requires_grad=True)
        block = lambda t, lin=lin: dm.tanh(lin(t))  # noqa: E731
        h = run(block, x)
        h2 = run(block, h * 0.5)
        (h2 * h).sum().backward()
        results.append([_np(t) for t in (x.grad, lin.weight.grad, lin.bias.grad)])
    _same(*results)


def test_retain_graph_two_backwards_and_a_third_raises() -> None:
    results = []
    for run in (_plain, _ck):
        c = _critic().double()
        x = dm.linspace(0, 1, 10, dtype=dm.float64).reshape(2, 5).requires_grad_(True)
        y = run(c, x).pow(2).sum()
        (gx,) = dm.autograd.grad(y, x, retain_graph=True)
        y.backward(retain_graph=True)
        y.backward()
        results.append([_np(gx), _np(x.grad), *(_np(p.grad) for p in c.parameters())])
        with pytest.raises(dm.DemocratisingError, match="second time"):
            y.backward()
    _same(*results)
    np.testing.assert_allclose(results[1][1], 2 * results[1][0])


def test_outputs_kwargs_and_non_tensor_values() -> None:
    x = dm.tensor([0.5, -1.0, 2.0], requires_grad=True)
    out = _ck(lambda a, k=1.0: (a * k, 7, a.argmax(), {"s": a.sin()}, None), x, k=3.0)
    assert out[1] == 7 and out[2].item() == 2 and out[4] is None
    (out[0].sum() + out[3]["s"].sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 + np.cos([0.5, -1.0, 2.0]), rtol=1e-6)


def test_recompute_under_autocast_and_save_on_cpu_matches_plain_run() -> None:
    results = []
    for run in (_plain, _ck):
        dm.manual_seed(5)
        lin = nn.Linear(8, 8)
        x = dm.randn(4, 8, requires_grad=True)
        with save_on_cpu(), dm.autocast("cpu", dtype=dm.bfloat16):
            y = run(lambda t, lin=lin: lin(t).relu(), x).float().sum()
        with save_on_cpu():
            y.backward()
        results.append([_np(t) for t in (x.grad, lin.weight.grad, lin.bias.grad)])
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_a_recomputation_that_differs_is_an_error() -> None:
    calls = [0]

    def unstable(a: dm.Tensor) -> dm.Tensor:
        calls[0] += 1
        return (a[: 3 if calls[0] == 1 else 2] * 2).sin().sum()

    y = _ck(unstable, dm.randn(4, requires_grad=True))
    with pytest.raises(dm.AutogradError, match="different metadata"):
        y.backward()
    with pytest.raises(ValueError, match="determinism_check"):
        _ck(unstable, dm.randn(4), determinism_check="shapes")


def test_an_input_changed_in_place_before_backward_is_an_error() -> None:
    x = dm.randn(3, requires_grad=True)
    h = x * 1
    y = _ck(lambda a: (a * 2).sin(), h)  # sin saves a * 2, not the input itself
    with dm.no_grad():
        h.add_(1)
    with pytest.raises(dm.AutogradError, match="modified by an inplace operation"):
        y.sum().backward()


def test_early_stop_skips_what_follows_the_last_saved_tensor() -> None:
    calls: list[str] = []

    def f(a: dm.Tensor) -> dm.Tensor:
        calls.append("start")
        h = a.sin()  # saves a: the recomputation stops in here
        calls.append("sin")
        out = h + 1  # saves nothing
        calls.append("end")
        return out

    x = dm.randn(3, requires_grad=True)
    _ck(f, x).sum().backward()
    assert calls == ["start", "sin", "end", "start"]
    calls.clear()
    _ck(f, x, early_stop=False).sum().backward()
    assert calls == ["start", "sin", "end"] * 2
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.cos(x.detach().numpy()), rtol=1e-6)


def test_context_fn_wraps_forward_and_recomputation() -> None:
    seen: list[str] = []

    @contextmanager
    def mark(name: str) -> Iterator[None]:
        seen.append(name)
        yield

    x = dm.randn(3, requires_grad=True)
    y = _ck(lambda a: a.exp(), x, context_fn=lambda: (mark("forward"), mark("recompute")))
    assert seen == ["forward"]
    y.sum().backward()
    assert seen == ["forward", "recompute"]
    with pytest.raises(ValueError, match="context_fn"):
        checkpoint(lambda a: a.exp(), x, use_reentrant=True, context_fn=lambda: (None, None))


def test_backward_entering_through_an_escaped_intermediate() -> None:
    kept: dict[str, dm.Tensor] = {}

    def f(a: dm.Tensor) -> dm.Tensor:
        kept["h"] = a.sin()
        return kept["h"] * a

    x = dm.tensor([0.3, 1.2], dtype=dm.float64, requires_grad=True)
    y = _ck(f, x)
    kept["h"].exp().sum().backward()  # not through y's node: recomputed on first unpack
    np.testing.assert_allclose(x.grad.numpy(), np.exp(np.sin([0.3, 1.2])) * np.cos([0.3, 1.2]))
    assert y.requires_grad


def test_output_kept_on_its_module_is_collected_and_a_live_graph_survives() -> None:
    def make() -> nn.Linear:
        m = nn.Linear(4, 4)
        m.out = _ck(m, dm.randn(2, 4, requires_grad=True))
        return m

    refs = [weakref.ref(make()) for _ in range(20)]
    gc.collect()
    assert sum(r() is not None for r in refs) <= 2

    m = nn.Linear(4, 4)
    x = dm.randn(2, 4, requires_grad=True)
    z = _ck(lambda t, m=m: m(t).relu() * 2, x).sum()
    del m
    gc.collect()
    z.backward()
    assert x.grad is not None and x.grad.shape == (2, 4)


_KEPT_SCRIPT = """
import sys
import democratising as dm
from democratising import nn
from democratising.utils.checkpoint import checkpoint

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

dm.manual_seed(0)
model = nn.Sequential(*[m for _ in range(12) for m in (nn.Linear(512, 512), nn.GELU())])
x = dm.randn(2048, 512, requires_grad=True)
base = rss()
out = checkpoint(model, x, use_reentrant=False) if sys.argv[1] == "ckpt" else model(x)
print(rss() - base)
out.sum().backward()
"""


def test_checkpointed_forward_keeps_fewer_bytes_alive() -> None:
    """Resident memory held after the forward of 12 Linear+GELU layers on 4 MiB activations
    (each layer saves two: about 96 MiB plainly); checkpointed, only the segment's input and
    output stay (plus allocator slack), each run in a fresh process."""

    def kept(mode: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", _KEPT_SCRIPT, mode], capture_output=True, text=True, check=True
        )
        return int(out.stdout.strip())

    plain, ckpt = kept("plain"), kept("ckpt")
    assert plain > 64 * 2**20, plain
    assert ckpt < plain * 0.4, (plain, ckpt)
