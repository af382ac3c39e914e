"""Custom autograd Functions and gradient checkpointing."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.autograd import Function
from democratising.utils.checkpoint import checkpoint


class Cube(Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        (x,) = ctx.saved_tensors
        return g * 3 * x * x


def test_custom_function_gradient() -> None:
    x = dm.tensor([1.0, -2.0, 0.5], requires_grad=True)
    y = Cube.apply(x)
    assert y.grad_fn is not None
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.array([1.0, 4.0, 0.25]))


class WrongShape(Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        return x * 2

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        return g.sum()


def test_custom_function_wrong_gradient_shape_is_an_error() -> None:
    x = dm.ones(3, requires_grad=True)
    with pytest.raises(dm.ShapeError):
        WrongShape.apply(x).sum().backward()


def _mlp(depth: int) -> nn.Sequential:
    dm.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Dense(32, 32), nn.Tanh(), nn.Dropout(0.1)]
    return nn.Sequential(*layers)


def test_checkpointed_sequential_gives_identical_gradients() -> None:
    x = dm.randn(16, 32)
    plain, ckpt = _mlp(6), _mlp(6).enable_checkpointing()
    for m in (plain, ckpt):
        dm.manual_seed(1)
        m(x).square().sum().backward()
    for (n, a), (_, b) in zip(plain.named_parameters(), ckpt.named_parameters()):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy(), err_msg=n)


def test_checkpoint_function_gives_input_and_parameter_grads() -> None:
    lin = nn.Dense(4, 4)
    x = dm.randn(3, 4, requires_grad=True)
    checkpoint(lambda t: lin(t).relu(), x).sum().backward()
    gx, gw = x.grad.numpy().copy(), lin.weight.grad.numpy().copy()
    x.grad, lin.weight.grad = None, None
    lin(x).relu().sum().backward()
    np.testing.assert_allclose(gx, x.grad.numpy())
    np.testing.assert_allclose(gw, lin.weight.grad.numpy())


_PEAK_SCRIPT = """
import sys, threading, time
import democratising as dm
from democratising import nn

def rss_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

dm.manual_seed(0)
layers = []
for _ in range(16):
    layers += [nn.Dense(512, 512), nn.GELU()]
model = nn.Sequential(*layers)
if sys.argv[1] == "ckpt":
    model.enable_checkpointing()
x = dm.randn(4096, 512)
# The resident set sampled while forward+backward runs, against the set before it: ru_maxrss
# would start at pytest's own peak (Linux keeps a process's high-water mark across exec).
base, peak, done = rss_kib(), [0], threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], rss_kib())
        time.sleep(0.001)
t = threading.Thread(target=sample)
t.start()
model(x).sum().backward()
done.set()
t.join()
print(max(peak[0], rss_kib()) - base)
"""


def test_checkpointing_lowers_peak_memory() -> None:
    """Peak RSS of forward+backward of a 16-layer MLP on a large batch: checkpointing keeps only
    segment boundaries (about 4 of 32 activations of 8 MiB each: GELU saves its input, so each
    layer keeps two)."""
    import subprocess
    import sys

    def peak(mode: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", _PEAK_SCRIPT, mode], capture_output=True, text=True, check=True
        )
        return int(out.stdout.strip())

    plain, ckpt = peak("plain"), peak("ckpt")
    assert ckpt < plain * 0.6, (plain, ckpt)


def test_recompute_under_autocast_matches_the_plain_backward() -> None:
    """The backward recomputes a segment in the forward's autocast dtype."""
    from democratising.utils.checkpoint import checkpoint

    dm.manual_seed(0)
    lin = dm.nn.Linear(8, 8)
    x = dm.randn(4, 8, requires_grad=True)
    with dm.autocast("cpu", dtype=dm.bfloat16):
        plain = lin(x).float().sum()
    plain.backward()
    want = (x.grad.numpy().copy(), lin.weight.grad.numpy().copy())
    x.grad = None
    lin.weight.grad = None
    with dm.autocast("cpu", dtype=dm.bfloat16):
        ck = checkpoint(lin, x).float().sum()
    ck.backward()
    np.testing.assert_array_equal(x.grad.numpy(), want[0])
    np.testing.assert_array_equal(lin.weight.grad.numpy(), want[1])
