"""Every op on CUDA against the CPU backend, forward and backward. Runs where a GPU exists;
skips elsewhere, except with DEMOCRATISING_REQUIRE_GPU=1 (GPU CI), where no GPU is a failure.
The CPU emulation (test_cuda_kernels.py) checks the kernels' logic on every machine; this
suite checks the real device path: NVRTC at run time, the driver, dispatch and copies."""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm
import democratising.cuda as cuda
import democratising.nn.functional as F

REQUIRE_GPU = os.environ.get("DEMOCRATISING_REQUIRE_GPU") == "1"


@pytest.fixture(autouse=True)
def _gpu() -> None:
    if cuda.is_available():
        return
    why = f"no CUDA device: {cuda.unavailable_reason()}"
    if REQUIRE_GPU:
        pytest.fail(f"{why} (DEMOCRATISING_REQUIRE_GPU=1)")
    pytest.skip(why)


def test_every_kernel_compiles_loads_and_matches_the_table_on_the_device() -> None:
    assert dm._core._cuda_load_all_kernels(0) == len(dm._core._cuda_kernel_table())


def test_peak_memory_restarts_and_device_blocks_restore() -> None:
    x = dm.ones(1 << 18, device="cuda")
    y = dm.ones(1 << 18, device="cuda")
    del y
    cuda.reset_peak_memory_stats()
    assert cuda.max_memory_allocated() == cuda.memory_allocated()
    assert cuda.memory_stats()["reserved_bytes.all.peak"] == cuda.memory_reserved()
    free, total = cuda.mem_get_info(0)
    assert 0 < free <= total
    last = cuda.device_count() - 1
    with cuda.device(last):
        assert cuda.current_device() == last
    assert cuda.current_device() == 0
    del x


def test_memory_queries_and_the_caching_allocator() -> None:
    free, total = cuda.get_memory_info(0)
    assert 0 < free <= total
    info = cuda.get_memory_info("cuda:0")
    assert info.total == total and 0 < info.free <= info.total
    devices = dm.Device.cuda_all()
    assert devices == [dm.Device.cuda(i) for i in range(cuda.device_count())]
    before = cuda.memory_allocated()
    x = dm.ones(1 << 20, device="cuda")
    assert cuda.memory_allocated() >= before + 4 * (1 << 20)
    del x
    assert cuda.memory_allocated() == before
    assert cuda.memory_reserved() >= 4 * (1 << 20)
    cuda.empty_cache()
    cuda.synchronize()
    assert cuda.memory_reserved() == cuda.memory_allocated()


rng = np.random.default_rng(0)


def randn(*shape: int) -> dm.Tensor:
    return dm.tensor(rng.standard_normal(shape).astype(np.float32))


def pos(*shape: int) -> dm.Tensor:
    return randn(*shape).abs() + 0.1


# name -> (inputs, op). Each op runs on CPU and CUDA copies of the inputs; outputs and the
# gradients of float inputs are compared.
OPS: dict[str, tuple[Callable[[], list[Any]], Callable[..., dm.Tensor]]] = {
    "add_broadcast": (lambda: [randn(5, 1, 7), randn(3, 1)], lambda a, b: a + b),
    "sub": (lambda: [randn(33), randn(33)], lambda a, b: a - b),
    "mul_strided": (lambda: [randn(31, 33), randn(33, 31)], lambda a, b: a * b.t()),
    "div": (lambda: [randn(33), pos(33)], lambda a, b: a / b),
    "pow": (lambda: [pos(33), randn(33)], lambda a, b: a**b),
    "maximum": (lambda: [randn(33), randn(33)], dm.maximum),
    "compare": (lambda: [randn(33), randn(33)], lambda a, b: (a < b).float() * a),
    "where": (lambda: [randn(33), randn(33)], lambda a, b: dm.where(a > 0, a, b)),
    "exp": (lambda: [randn(1025)], lambda a: a.exp()),
    "log": (lambda: [pos(1025)], lambda a: a.log()),
    "sqrt": (lambda: [pos(31)], lambda a: a.sqrt()),
    "tanh": (lambda: [randn(31)], lambda a: a.tanh()),
    "sigmoid": (lambda: [randn(31)], lambda a: a.sigmoid()),
    "relu": (lambda: [randn(31)], lambda a: a.relu()),
    "gelu": (lambda: [randn(31)], F.gelu),
    "silu": (lambda: [randn(31)], F.silu),
    "softplus": (lambda: [randn(31)], F.softplus),
    "erf": (lambda: [randn(31)], lambda a: a.erf()),
    "erfinv": (lambda: [randn(31).tanh()], lambda a: a.erfinv()),
    "hardsigmoid": (lambda: [randn(31) * 4.0], F.hardsigmoid),
    "hardswish": (lambda: [randn(31) * 4.0], F.hardswish),
    "tan": (lambda: [randn(31).tanh()], lambda a: a.tan()),
    "asin": (lambda: [randn(31).tanh() * 0.9], lambda a: a.asin()),
    "atan": (lambda: [randn(31)], lambda a: a.atan()),
    "acosh": (lambda: [pos(31) + 1.0], lambda a: a.acosh()),
    "erfc": (lambda: [randn(31)], lambda a: a.erfc()),
    "lgamma": (lambda: [pos(31)], lambda a: a.lgamma()),
    "digamma": (lambda: [pos(31)], lambda a: a.digamma()),
    "sinh": (lambda: [randn(31)], lambda a: a.sinh()),
    "cosh": (lambda: [randn(31)], lambda a: a.cosh()),
    "log10": (lambda: [pos(31)], lambda a: a.log10()),
    "mish": (lambda: [randn(31)], F.mish),
    "polygamma": (lambda: [pos(31)], lambda a: a.polygamma(1)),
    "clamp": (lambda: [randn(31)], lambda a: a.clamp(-0.5, 0.5)),
    "sum": (lambda: [randn(3, 1025)], lambda a: a.sum(-1)),
    "mean_dim0": (lambda: [randn(33, 5)], lambda a: a.mean(0)),
    "amax": (lambda: [randn(3, 33)], lambda a: a.amax(-1)),
    "argmax": (lambda: [randn(3, 33)], lambda a: a.argmax(-1).float()),
    "var": (lambda: [randn(4, 33)], lambda a: a.var(-1)),
    "logsumexp": (lambda: [randn(4, 33)], lambda a: a.logsumexp(-1)),
    "softmax": (lambda: [randn(4, 1025)], lambda a: a.softmax(-1)),
    "log_softmax": (lambda: [randn(4, 33)], lambda a: a.log_softmax(-1)),
    "softmax_dim1": (lambda: [randn(3, 7, 70)], lambda a: a.softmax(1)),
    "log_softmax_dim0": (lambda: [randn(5, 3, 4)], lambda a: a.log_softmax(0)),
    "tril": (lambda: [randn(3, 5, 4)], lambda a: a.tril(-1)),
    "triu": (lambda: [randn(4, 6)], lambda a: a.triu(2)),
    "flip": (lambda: [randn(3, 4, 5)], lambda a: a.flip((0, 2))),
    "constant_pad": (lambda: [randn(2, 3, 4)], lambda a: F.pad(a, [1, 2, -1, 1], value=0.5)),
    "cross_entropy": (
        lambda: [randn(6, 33), dm.tensor([1, 0, 32, -100, 5, 5]).long()],
        lambda x, t: F.cross_entropy(x, t, label_smoothing=0.1),
    ),
    "cross_entropy_sum_weighted": (
        lambda: [randn(5, 7), dm.tensor([1, 0, 6, 2, 2]).long(), randn(7).abs()],
        lambda x, t, w: F.cross_entropy(x, t, weight=w, reduction="sum", ignore_index=2),
    ),
    "cross_entropy_none": (
        lambda: [randn(5, 7), dm.tensor([1, 0, 6, 2, 2]).long()],
        lambda x, t: F.cross_entropy(x, t, reduction="none"),
    ),
    "nll_after_log_softmax": (
        lambda: [randn(6, 33), dm.tensor([1, 0, 32, -100, 5, 5]).long(), randn(33).abs()],
        lambda x, t, w: F.nll_loss(F.log_softmax(x, dim=1), t, weight=w),
    ),
    "nll_loss_none": (
        lambda: [randn(5, 7), dm.tensor([1, 0, 6, 2, 2]).long()],
        lambda x, t: F.nll_loss(x, t, reduction="none", ignore_index=2),
    ),
    "matmul": (lambda: [randn(2, 5, 33), randn(33, 7)], lambda a, b: a @ b),
    "linear": (lambda: [randn(4, 9), randn(5, 9), randn(5)], F.linear),
    "conv2d_bias_dilated": (
        lambda: [randn(2, 3, 8, 7), randn(4, 3, 2, 3), randn(4)],
        lambda x, w, b: F.conv2d(x, w, b, padding=(1, 0), dilation=2),
    ),
    "conv2d": (
        lambda: [randn(2, 4, 7, 6), randn(6, 2, 3, 3)],
        lambda x, w: F.conv2d(x, w, stride=2, padding=1, groups=2),
    ),
    "conv_transpose2d": (
        lambda: [randn(2, 4, 5, 6), randn(4, 3, 3, 3), randn(6)],
        lambda x, w, b: F.conv_transpose2d(
            x, w, b, stride=2, padding=1, output_padding=1, groups=2
        ),
    ),
    "max_pool2d": (lambda: [randn(2, 3, 9, 8)], lambda x: F.max_pool2d(x, 3, 2, 1)),
    "avg_pool2d": (lambda: [randn(2, 3, 9, 8)], lambda x: F.avg_pool2d(x, 3, 2, 1)),
    "layer_norm": (
        lambda: [randn(5, 33), randn(33), randn(33)],
        lambda x, w, b: F.layer_norm(x, [33], w, b),
    ),
    "batch_norm": (
        lambda: [randn(4, 3, 5, 7), randn(3), randn(3)],
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
    ),
    "embedding": (
        lambda: [dm.tensor([3, 0, 3, 7]).long(), randn(11, 33)],
        F.embedding,
    ),
    "gather": (
        lambda: [randn(4, 9, 3), dm.tensor(rng.integers(0, 9, (4, 5, 3))).long()],
        lambda x, i: x.gather(1, i),
    ),
    "index_select": (
        lambda: [randn(4, 9), dm.tensor([8, 0, 0]).long()],
        lambda x, i: x.index_select(1, i),
    ),
    "scatter_add": (
        lambda: [randn(4, 6, 3), dm.tensor(rng.integers(0, 6, (4, 5, 3))).long(), randn(4, 5, 3)],
        lambda x, i, s: x.scatter_add(1, i, s),
    ),
    "to_half_and_back": (lambda: [randn(33, 31)], lambda x: x.t().half().float()),
    # View backwards (zeros of the input's shape, then the gradient written into the view)
    # and ops composed of them must create those zeros on the gradient's device.
    "narrow_select_slice": (
        lambda: [randn(5, 7)],
        lambda x: x.narrow(1, 2, 3).sum() * x.select(0, 1).sum() + x[::2, 1:].sum(),
    ),
    "composites": (
        lambda: [randn(4, 6)],
        lambda x: (
            x.topk(2).values.sum()
            + x.cumsum(1).sum()
            + x.roll(1, 1)[0].sum()
            + x[:, :4].diag().sum()
            + x.prod(1).sum()
        ),
    ),
    "lstm": (lambda: [randn(5, 3, 4)], lambda x: _lstm(x)),
    "gru": (lambda: [randn(5, 3, 4)], lambda x: _recurrent(x, "GRU")),
    "rnn_relu": (lambda: [randn(5, 3, 4)], lambda x: _recurrent(x, "RNN")),
    "lstm_cell": (lambda: [randn(3, 4)], lambda x: _lstm_cell(x)),
    # Fused attention: odd lengths, several key tiles, GQA, masks, dropout (seeded: the same
    # Philox mask on both devices) and a single query.
    "sdpa_causal_gqa": (
        lambda: [randn(2, 4, 17, 8), randn(2, 2, 17, 8), randn(2, 2, 17, 8)],
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True),
    ),
    "sdpa_bool_mask_long": (
        lambda: [randn(2, 3, 9, 16), randn(2, 3, 300, 16), randn(2, 3, 300, 8)],
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=_BOOL_MASK.to(q.device)),
    ),
    "sdpa_float_mask_dropout": (
        lambda: [randn(1, 2, 33, 80), randn(1, 2, 40, 80), randn(1, 2, 40, 24)],
        lambda q, k, v: _seeded_sdpa(q, k, v),
    ),
    "sdpa_one_query": (
        lambda: [randn(3, 1, 64), randn(3, 5, 64), randn(3, 5, 64)],
        F.scaled_dot_product_attention,
    ),
}

_BOOL_MASK = dm.tensor(rng.random((2, 1, 9, 300)) > 0.3)
_FLOAT_MASK = dm.tensor(rng.standard_normal((33, 40)).astype(np.float32))


def _seeded_sdpa(q: dm.Tensor, k: dm.Tensor, v: dm.Tensor) -> dm.Tensor:
    dm.manual_seed(3)
    mask = _FLOAT_MASK.to(q.device)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.3)


def _lstm(x: dm.Tensor) -> dm.Tensor:
    """A 2-layer bidirectional LSTM with the same weights on either device."""
    dm.manual_seed(1)
    m = dm.nn.LSTM(4, 6, num_layers=2, bidirectional=True)
    return m.to(x.device)(x)[0]


def _recurrent(x: dm.Tensor, kind: str) -> dm.Tensor:
    """A bidirectional GRU, or a 2-layer ReLU RNN, with the same weights on either device."""
    dm.manual_seed(2)
    if kind == "GRU":
        m: dm.nn.Module = dm.nn.GRU(4, 5, bidirectional=True, batch_first=True)
    else:
        m = dm.nn.RNN(4, 5, num_layers=2, nonlinearity="relu")
    out, h_n = m.to(x.device)(x)
    return out.sum(-1) + h_n.sum()


def _lstm_cell(x: dm.Tensor) -> dm.Tensor:
    """Three steps of an LSTMCell (the fused op over one step each)."""
    dm.manual_seed(4)
    cell = dm.nn.LSTMCell(4, 6).to(x.device)
    hc = None
    for _ in range(3):
        hc = cell(x, hc)
    return hc[0] + hc[1]


@pytest.mark.parametrize("name", sorted(OPS))
def test_op_matches_cpu(name: str) -> None:
    make, op = OPS[name]
    cpu = make()
    for t in cpu:
        if t.dtype.is_floating_point:
            t.requires_grad_()
    gpu = [t.detach().cuda().requires_grad_(t.requires_grad) for t in cpu]
    want, got = op(*cpu), op(*gpu)
    assert got.device.type == "cuda"
    np.testing.assert_allclose(
        got.detach().cpu().numpy(), want.detach().numpy(), rtol=1e-4, atol=1e-5
    )
    if not want.requires_grad:
        return
    g = randn(*want.shape)
    want.backward(g)
    got.backward(g.cuda())
    for c, d in zip(cpu, gpu):
        if c.grad is None:
            assert d.grad is None
        else:
            assert d.grad.device.type == "cuda"
            np.testing.assert_allclose(d.grad.cpu().numpy(), c.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_fused_optimizer_steps_match_cpu() -> None:
    from democratising.optim import (
        ASGD,
        SGD,
        Adadelta,
        Adagrad,
        Adam,
        Adamax,
        NAdam,
        RAdam,
        RMSprop,
        Rprop,
    )

    for make in (
        lambda p: Adadelta(p, lr=0.5, weight_decay=0.1),
        lambda p: Adamax(p, lr=0.05, maximize=True),
        lambda p: NAdam(p, lr=0.05, weight_decay=0.1, decoupled_weight_decay=True),
        lambda p: RAdam(p, lr=0.05, betas=(0.8, 0.9), weight_decay=0.1),
        lambda p: ASGD(p, lr=0.1, lambd=0.05, t0=1, weight_decay=0.1),
        lambda p: Rprop(p, lr=0.1, etas=(0.4, 1.3), maximize=True),
        lambda p: Adam(p, lr=1e-2, weight_decay=0.1, amsgrad=True),
        lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        lambda p: RMSprop(p, lr=1e-2, momentum=0.5, centered=True, weight_decay=0.1),
        lambda p: RMSprop(p, lr=1e-2, maximize=True),
        lambda p: Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.1),
        lambda p: Adagrad(p, lr=0.1, initial_accumulator_value=0.5, maximize=True),
    ):
        w_cpu = randn(1025).requires_grad_()
        w_gpu = w_cpu.detach().cuda().requires_grad_()
        opts = [make([w_cpu]), make([w_gpu])]
        for _ in range(7):  # RAdam rectifies from its sixth step with betas (0.8, 0.9)
            g = randn(1025)
            w_cpu.grad, w_gpu.grad = g, g.cuda()
            for o in opts:
                o.step()
        np.testing.assert_allclose(
            w_gpu.detach().cpu().numpy(), w_cpu.detach().numpy(), rtol=1e-5, atol=1e-6
        )


def test_dropout_keeps_the_expected_fraction_and_scales() -> None:
    x = dm.ones(1 << 16, device="cuda")
    y = F.dropout(x, 0.25, training=True).cpu().numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)


def test_amp_unscale_finds_inf_on_the_device() -> None:
    g = dm.tensor([1.0, float("inf")]).cuda()
    assert dm._core._amp_unscale([g], 0.5, True)


# ---- dtypes -------------------------------------------------------------------------------

# name -> op over float inputs; each runs in every float dtype on CPU and CUDA.
DTYPE_OPS: dict[str, tuple[Callable[[], list[dm.Tensor]], Callable[..., dm.Tensor]]] = {
    "add_mul": (lambda: [randn(4, 33), randn(33)], lambda a, b: a * b + a),
    "exp_tanh": (lambda: [randn(65)], lambda a: a.exp() - a.tanh()),
    "sum_mean": (lambda: [randn(3, 65)], lambda a: a.sum(-1) + a.mean(0).sum()),
    "softmax": (lambda: [randn(4, 33)], lambda a: a.softmax(-1)),
    "softmax_dim0": (lambda: [randn(5, 3, 4)], lambda a: a.softmax(0)),
    "matmul": (lambda: [randn(3, 17), randn(17, 5)], lambda a, b: a @ b),
    "conv2d": (lambda: [randn(2, 3, 6, 6), randn(4, 3, 3, 3)], lambda x, w: F.conv2d(x, w)),
    "layer_norm": (lambda: [randn(3, 16)], lambda x: F.layer_norm(x, [16])),
    "max_pool": (lambda: [randn(2, 2, 6, 6)], lambda x: F.max_pool2d(x, 2)),
    "sdpa": (
        lambda: [randn(2, 2, 9, 8), randn(2, 2, 9, 8), randn(2, 2, 9, 8)],
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
    ),
}
TOLERANCE = {"float64": 1e-10, "float32": 1e-4, "float16": 2e-2, "bfloat16": 6e-2}


@pytest.mark.parametrize("dtype", ["float64", "float16", "bfloat16"])
@pytest.mark.parametrize("name", sorted(DTYPE_OPS))
def test_op_matches_cpu_in_every_float_dtype(name: str, dtype: str) -> None:
    make, op = DTYPE_OPS[name]
    dt = getattr(dm, dtype)
    cpu = [t.to(dt) for t in make()]
    want = op(*cpu)
    got = op(*[t.cuda() for t in cpu])
    assert got.dtype == want.dtype and got.device.type == "cuda"
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(got.cpu().float().numpy(), want.float().numpy(), rtol=tol, atol=tol)


def test_bfloat16_attention_gradients_match_cpu() -> None:
    """bfloat16 attention: the CPU's bfloat16 kernels against the device's (which widen)."""
    data = [randn(2, 4, 17, 8), randn(2, 2, 17, 8), randn(2, 2, 17, 8)]
    weight = randn(2, 4, 17, 8)
    grads = []
    for dev in ("cpu", "cuda"):
        ts = [t.to(dm.bfloat16).to(dev).requires_grad_() for t in data]
        out = F.scaled_dot_product_attention(*ts, is_causal=True, enable_gqa=True)
        assert out.dtype == dm.bfloat16
        (out.float() * weight.to(dev)).sum().backward()
        grads.append([t.grad.cpu().float().numpy() for t in ts])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=5e-2, atol=3e-2)


# ---- devices, modules, training ------------------------------------------------------------


def test_tensors_move_between_devices_and_mixing_them_is_an_error() -> None:
    x = randn(3, 4)
    g = x.to("cuda")
    assert g.device == dm.Device.cuda(0) and g.is_cuda and not x.is_cuda
    assert g.to("cuda:0") is g or g.to("cuda:0").device == g.device
    np.testing.assert_array_equal(g.cpu().numpy(), x.numpy())
    np.testing.assert_array_equal(dm.zeros(2, 3, device="cuda").cpu().numpy(), np.zeros((2, 3)))
    assert (g * 2.0).device == g.device and float((g.sum() * 0).item()) == 0.0
    with pytest.raises(dm.DeviceError, match="same device"):
        _ = g + x
    with pytest.raises(TypeError, match=r"Tensor\.cpu\(\)"):
        g.numpy()
    if cuda.device_count() > 1:
        h = g.to("cuda:1")
        assert h.device == dm.Device.cuda(1)
        np.testing.assert_array_equal(h.cpu().numpy(), x.numpy())
    assert "device='cuda:0'" in repr(g)


def test_bad_labels_raise_index_error_on_the_device() -> None:
    x = randn(3, 5).cuda()
    with pytest.raises(IndexError, match="7"):
        F.cross_entropy(x, dm.tensor([0, 7, 1]).long().cuda())


def _mlp() -> dm.nn.Module:
    from democratising import nn

    dm.manual_seed(0)
    return nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5))


def _cnn() -> dm.nn.Module:
    from democratising import nn

    dm.manual_seed(0)
    return nn.Sequential(
        # No conv bias before the norm: its gradient is ~0 and Adam would amplify rounding noise.
        nn.Conv2d(1, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 5),
    )


def _split_mix() -> dm.nn.Module:
    """One projection split three ways and a residual: the gradients of the three views and
    of the input's two uses are summed in place by the engine (on the device, too)."""
    from democratising import nn

    class Mix(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj, self.head = nn.Linear(20, 60), nn.Linear(20, 5)

        def forward(self, x: dm.Tensor) -> dm.Tensor:
            q, k, v = self.proj(x).split(20, dim=1)
            return self.head(q * k + v + x)

    dm.manual_seed(0)
    return Mix()


@pytest.mark.parametrize(
    "make, shape", [(_mlp, (16, 20)), (_cnn, (8, 1, 8, 8)), (_split_mix, (16, 20))]
)
def test_training_steps_match_cpu(make: Callable[[], dm.nn.Module], shape: tuple[int, ...]) -> None:
    from democratising.optim import Adam

    x, y = randn(*shape), dm.tensor(rng.integers(0, 5, shape[0])).long()
    cpu_model, gpu_model = make(), make().to("cuda")
    assert all(p.is_cuda for p in gpu_model.parameters())
    opts = [Adam(cpu_model.parameters(), lr=1e-2), Adam(gpu_model.parameters(), lr=1e-2)]
    for _ in range(3):
        losses = []
        for model, opt, xb, yb in (
            (cpu_model, opts[0], x, y),
            (gpu_model, opts[1], x.cuda(), y.cuda()),
        ):
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[1] == pytest.approx(losses[0], rel=1e-4, abs=1e-5)
    for (name, p), q in zip(cpu_model.state_dict().items(), gpu_model.state_dict().values()):
        np.testing.assert_allclose(q.cpu().numpy(), p.numpy(), rtol=1e-3, atol=1e-5, err_msg=name)


def test_amp_grad_scaler_step_on_the_device() -> None:
    from democratising.amp import GradScaler, autocast
    from democratising.optim import SGD

    model = _mlp().to("cuda")
    opt = SGD(model.parameters(), lr=0.1)
    scaler = GradScaler(init_scale=2.0**8)
    x, y = randn(8, 20).cuda(), dm.tensor(rng.integers(0, 5, 8)).long().cuda()
    before = [p.detach().cpu().numpy().copy() for p in model.parameters()]
    with autocast("cuda", dtype=dm.float16):
        loss = F.cross_entropy(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    after = [p.detach().cpu().numpy() for p in model.parameters()]
    assert all(p.dtype == dm.float32 for p in model.parameters())
    assert any(not np.allclose(a, b) for a, b in zip(before, after))


def test_data_parallel_over_devices_matches_one_device() -> None:
    from democratising.distributed import DataParallel

    devices = list(range(min(cuda.device_count(), 2)))
    model = _mlp()
    ref = _mlp()
    dp = DataParallel(model, devices)
    x, y = randn(10, 20), dm.tensor(rng.integers(0, 5, 10)).long()
    out = dp(x.cuda())
    assert out.device == dm.Device.cuda(0) and out.shape == (10, 5)
    F.cross_entropy(out, y.cuda()).backward()
    F.cross_entropy(ref(x), y).backward()
    for p, q in zip(model.parameters(), ref.parameters()):
        assert p.grad.device == dm.Device.cuda(0)
        np.testing.assert_allclose(p.grad.cpu().numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_memory_statistics_follow_tensors() -> None:
    before = cuda.memory_allocated()
    x = dm.ones(256, 256, device="cuda")
    assert cuda.memory_allocated() >= before + 4 * 256 * 256
    assert cuda.max_memory_allocated() >= cuda.memory_allocated()
    del x
    assert cuda.memory_allocated() == before


def test_dropout_gradient_uses_the_same_mask() -> None:
    x = pos(4096).cuda().requires_grad_()
    y = F.dropout(x, 0.5, training=True)
    y.sum().backward()
    kept = y.detach().cpu().numpy() != 0
    np.testing.assert_allclose(x.grad.cpu().numpy(), np.where(kept, 2.0, 0.0))


def test_indexing_and_assignment_on_the_device() -> None:
    x = randn(5, 4)
    g = x.cuda()
    idx = dm.tensor([3, -1, 0]).long()
    np.testing.assert_array_equal(g[idx.cuda()].cpu().numpy(), x[idx].numpy())
    np.testing.assert_array_equal(g[:, idx.cuda()].cpu().numpy(), x[:, idx].numpy())
    rows = dm.tensor([1, 2]).long()
    x[rows] = 0.5
    g[rows.cuda()] = 0.5
    x[:, 1] = 7.0
    g[:, 1] = 7.0
    x[0] = dm.arange(4.0)
    g[0] = dm.arange(4.0).cuda()
    np.testing.assert_array_equal(g.cpu().numpy(), x.numpy())
    with pytest.raises(IndexError):
        _ = g[dm.tensor([9]).long().cuda()]


def test_cuda_array_interface_describes_device_memory() -> None:
    x = randn(3, 4).cuda()
    cai = x.__cuda_array_interface__
    assert cai["shape"] == (3, 4) and cai["typestr"] == "<f4" and cai["version"] == 3
    assert cai["strides"] is None and cai["data"][0] == x.data_ptr()
    t = x.t()
    assert t.__cuda_array_interface__["strides"] == (4, 16)
    assert not hasattr(randn(2), "__cuda_array_interface__")


class _DevicePeer:
    """A foreign CUDA array as DLPack sees it (standing in for CuPy or PyTorch): it exports a
    capsule of a tensor's memory and records the stream the consumer hands it."""

    def __init__(self, t: dm.Tensor) -> None:
        self.t = t
        self.streams: list[Any] = []

    def __dlpack_device__(self) -> tuple[int, int]:
        return self.t.__dlpack_device__()

    def __dlpack__(self, stream: Any = None, max_version: Any = None) -> Any:
        self.streams.append(stream)
        return self.t.__dlpack__(stream=stream, max_version=max_version)


def test_dlpack_shares_device_memory_both_ways() -> None:
    base = randn(4, 6).cuda()
    for view in (base, base.t(), base[1:, 2:5], base.bfloat16()):
        assert view.__dlpack_device__() == (2, view.device.index or 0)
        peer = _DevicePeer(view)
        got = dm.from_dlpack(peer)
        assert got.device == view.device and got.dtype == view.dtype
        assert got.shape == view.shape and got.stride() == view.stride()
        np.testing.assert_array_equal(got.float().cpu().numpy(), view.float().cpu().numpy())
        # The consumer hands the producer its stream (1: the legacy default stream).
        assert peer.streams == [dm._core._cuda_stream_handle(view.device.index or 0) or 1]
    shared = dm.from_dlpack(base.__dlpack__())  # a capsule directly
    shared.add_(1.0)
    np.testing.assert_array_equal(shared.cpu().numpy(), base.cpu().numpy())
    copied = dm.from_dlpack(base.__dlpack__(copy=True))
    copied.zero_()
    assert base.abs().sum().item() > 0
    with pytest.raises(BufferError):
        base.__dlpack__(dl_device=(1, 0))


def test_streams_and_events_follow_pytorch() -> None:
    s = cuda.Stream()
    assert s == cuda.current_stream() == cuda.default_stream()
    assert s.cuda_stream == dm._core._cuda_stream_handle(0)
    start, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)
    assert start.query()  # never recorded
    with cuda.stream(s):
        start.record()
        y = (randn(256, 256).cuda() @ randn(256, 256).cuda()).relu()
        end.record()
    end.synchronize()
    assert start.query() and end.query() and s.query()
    assert start.elapsed_time(end) >= 0.0
    untimed = cuda.Event()
    untimed.record()
    with pytest.raises(RuntimeError, match="enable_timing"):
        start.elapsed_time(untimed)
    with pytest.raises(RuntimeError, match="recorded"):
        cuda.Event(enable_timing=True).elapsed_time(end)
    s.wait_event(end)
    s.wait_stream(cuda.default_stream())
    ev = s.record_event()
    ev.synchronize()
    s.synchronize()
    assert float(y.sum().item()) >= 0.0
    other = cuda.Stream(1)
    with cuda.stream(other):
        assert cuda.current_stream(1) == other and cuda.current_stream(0) == s
    assert cuda.current_stream(1) == cuda.default_stream(1)


def test_pinned_memory_and_pinning_data_loader() -> None:
    from democratising.data import DataLoader, TensorDataset

    x = dm.arange(12.0).reshape(3, 4)
    p = x.t().pin_memory()
    assert p.is_pinned() and not x.is_pinned() and p.pin_memory() is not None
    np.testing.assert_array_equal(p.numpy(), x.t().numpy())
    np.testing.assert_array_equal(p.to("cuda", non_blocking=True).cpu().numpy(), p.numpy())
    with pytest.raises(dm.DeviceError, match="only CPU tensors"):
        x.cuda().pin_memory()
    ds = TensorDataset(dm.randn(10, 3), dm.arange(10))
    for workers in (0, 2):
        batches = list(DataLoader(ds, batch_size=4, pin_memory=True, num_workers=workers))
        assert len(batches) == 3
        assert all(t.is_pinned() for b in batches for t in b)


def test_dlpack_keeps_device_memory_alive() -> None:
    t = (dm.arange(1000.0) * 3).cuda()
    want = t.cpu().numpy()
    cap = t.__dlpack__()
    del t
    import gc

    gc.collect()
    junk = [dm.ones(1000).cuda() for _ in range(4)]  # would reuse the block were it freed
    got = dm.from_dlpack(cap)
    np.testing.assert_array_equal(got.cpu().numpy(), want)
    del junk


@pytest.mark.parametrize(
    "key",
    [
        "mask",
        "two_adjacent",
        "two_apart",
        "slice_then_index",
        "broadcast_pair",
    ],
)
def test_advanced_indexing_matches_cpu(key: str) -> None:
    x = randn(4, 5, 6).requires_grad_()
    i, j = dm.tensor([3, -1, 0]).long(), dm.tensor([4, 0, 2]).long()
    keys: dict[str, Callable[[Any], Any]] = {
        "mask": lambda d: (x.detach() > 0).to(d),
        "two_adjacent": lambda d: (i.to(d), j.to(d)),
        "two_apart": lambda d: (i.to(d), slice(None), j.to(d)),
        "slice_then_index": lambda d: (slice(1, 3), i.to(d) + 1, j.to(d)),
        "broadcast_pair": lambda d: (i.reshape(3, 1).to(d), j.reshape(1, 3).to(d)),
    }
    g = x.detach().cuda().requires_grad_()
    want, got = x[keys[key]("cpu")], g[keys[key]("cuda")]
    assert got.shape == want.shape
    np.testing.assert_allclose(got.detach().cpu().numpy(), want.detach().numpy())
    w = randn(*want.shape)
    (want * w).sum().backward()
    (got * w.cuda()).sum().backward()
    np.testing.assert_allclose(g.grad.cpu().numpy(), x.grad.numpy(), rtol=1e-6)
    # Assignment through the same key.
    a, b = x.detach().clone(), g.detach().clone()
    a[keys[key]("cpu")] = 0.25
    b[keys[key]("cuda")] = 0.25
    np.testing.assert_array_equal(b.cpu().numpy(), a.numpy())
    with pytest.raises(IndexError):
        _ = g[dm.tensor([0]).long().cuda(), dm.tensor([5]).long().cuda()]


def test_module_cuda_and_cpu_move_parameters_and_buffers() -> None:
    from democratising import nn

    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.LeakyReLU(0.1)).cuda()
    assert all(t.is_cuda for t in [*m.parameters(), *m.buffers()])
    y = m(randn(5, 3).cuda())
    assert y.is_cuda and y.shape == (5, 4)
    m.cpu()
    assert not any(t.is_cuda for t in [*m.parameters(), *m.buffers()])


def test_python_scalars_combine_with_device_tensors() -> None:
    x = randn(33)
    g = x.cuda()
    for name, op in {
        "add": lambda t: t + 1.5,
        "radd": lambda t: 1.5 + t,
        "sub": lambda t: t - 0.25,
        "rsub": lambda t: 0.25 - t,
        "mul": lambda t: t * -3.0,
        "div": lambda t: t / 4.0,
        "rdiv": lambda t: 2.0 / (t.abs() + 1),
        "pow": lambda t: t.abs() ** 1.5,
        "half": lambda t: t.half() * 2.0,
        "int_scale": lambda t: (t > 0).long() * 3,
    }.items():
        want, got = op(x), op(g)
        assert got.device.type == "cuda" and got.dtype == want.dtype, name
        np.testing.assert_allclose(
            got.cpu().float().numpy(), want.float().numpy(), rtol=1e-6, atol=1e-6, err_msg=name
        )
    w = randn(33).requires_grad_()
    wg = w.detach().cuda().requires_grad_()
    (w * 3.0 - 1.0).sum().backward()
    (wg * 3.0 - 1.0).sum().backward()
    np.testing.assert_allclose(wg.grad.cpu().numpy(), w.grad.numpy())


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize(
    "norm",
    [
        lambda x, w: F.layer_norm(x, (4,), w, None),
        lambda x, w: F.batch_norm(x, None, None, w, None, training=True),
        lambda x, w: F.batch_norm(x, dm.zeros(4), dm.ones(4), w, None, training=False),
    ],
)
@pytest.mark.parametrize("modified", ["input", "weight"])
def test_in_place_change_after_a_norm_raises_on_both_backends(norm, device, modified) -> None:
    """The saved-tensor version check is the same on every backend: the norms record their
    backward once, over the backends' primitives (the CUDA path used to compute with the
    changed values silently)."""
    x = randn(3, 4).to(device).requires_grad_()
    w = randn(4).to(device).requires_grad_()
    h, ww = x * 1.0, w * 1.0  # non-leaves, so they may be modified in place
    y = norm(h, ww)
    with dm.no_grad():
        (h if modified == "input" else ww).add_(1.0)
    with pytest.raises(dm.AutogradError, match="modified by an in-place operation"):
        y.sum().backward()


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_error_classes_are_the_same_on_both_backends(device) -> None:
    x = randn(3, 4).to(device)
    with pytest.raises(dm.ShapeError) as info:
        x @ randn(5, 2).to(device)
    assert (info.value.op, info.value.shapes) == ("matmul", ((3, 4), (5, 2)))
    with pytest.raises(dm.ShapeError) as info:
        x + randn(5).to(device)
    assert (info.value.op, info.value.shapes) == ("add", ((3, 4), (5,)))
    with pytest.raises(dm.IndexOutOfRangeError):
        x.gather(1, dm.tensor([[7]]).to(device))
    with pytest.raises(dm.IndexOutOfRangeError):
        F.cross_entropy(x, dm.tensor([0, 1, 9]).to(device))
    with pytest.raises(dm.DTypeError):
        F.layer_norm(dm.ones(2, 4, dtype=dm.int64).to(device), (4,))
    with pytest.raises(dm.ShapeError):
        F.layer_norm(x, (5,))
    with pytest.raises(dm.InvalidValueError):
        x.expand(2, 3, 4).add_(1.0)
    with pytest.raises(dm.IndexOutOfRangeError, match="could not be broadcast"):
        x[dm.tensor([0, 1]).to(device), dm.tensor([0, 1, 2]).to(device)]
    with pytest.raises(dm.IndexOutOfRangeError):
        x[dm.tensor([5]).to(device)]


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_in_place_change_after_cross_entropy_raises_where_the_backward_reads_it(device) -> None:
    """The class weights are read by the backward on both backends, the logits on CUDA (the CPU
    keeps the softmax it computed): a change made in place after the forward raises."""
    x = randn(4, 3).to(device).requires_grad_()
    w = (randn(3).abs() + 0.5).to(device).requires_grad_()
    h, ww = x * 1.0, w * 1.0
    loss = F.cross_entropy(h, dm.tensor([0, 1, 2, 1]).to(device), weight=ww)
    with dm.no_grad():
        ww.add_(1.0)
    with pytest.raises(dm.AutogradError, match="modified by an in-place operation"):
        loss.backward()
    if device == "cuda":
        h2 = x * 1.0
        loss = F.cross_entropy(h2, dm.tensor([0, 1, 2, 1]).to(device))
        with dm.no_grad():
            h2.add_(1.0)
        with pytest.raises(dm.AutogradError, match="modified by an in-place operation"):
            loss.backward()


def test_bench_cuda_cases_run_on_the_device() -> None:
    """benches/bench_cuda.py's cases (shrunk with ``tiny``) build and step on the device, so
    the GPU benchmark runs as written when a GPU is lent. ResNet-18 runs its forward only:
    its backward takes half a minute on the emulated device."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benches"))
    import bench_cuda

    cases = bench_cuda.cases(dm, tiny=True)
    assert any(k.startswith("step ResNet-18") for k in cases)
    assert any(k.startswith("step GPT") for k in cases)
    for name, (step, _) in cases.items():
        if not name.startswith("step ResNet-18"):
            step()
    model = bench_cuda.resnet18(dm.nn, width=2).to("cuda")
    assert model(randn(2, 3, 8, 8).cuda()).shape == (2, 10)
    assert bench_cuda.target_of("step GPT-mid 6L/6H/384 b32") == 1.2


def _second_order(f: Callable[[dm.Tensor], dm.Tensor], x0: np.ndarray, device: str) -> np.ndarray:
    x = dm.tensor(x0, device=device, requires_grad=True)
    (g,) = dm.autograd.grad(f(x).sum(), x, create_graph=True)
    v = dm.tensor(np.linspace(-1.0, 1.0, x0.size).reshape(x0.shape), device=device)
    (h,) = dm.autograd.grad((g * v).sum(), x)
    return h.cpu().numpy()


_LABELS = [2, 0, 3, 1]
SECOND_ORDER: dict[str, Callable[[dm.Tensor], dm.Tensor]] = {
    "cross_entropy": lambda t: F.cross_entropy(
        t.reshape(4, -1)[:, :5], dm.tensor(_LABELS, device=t.device), label_smoothing=0.1
    ),
    "nll_log_softmax": lambda t: F.nll_loss(
        F.log_softmax(t.reshape(4, -1)[:, :5], dim=1), dm.tensor(_LABELS, device=t.device)
    ),
    "conv_pool_norm": lambda t: (
        F.layer_norm(
            F.max_pool2d(
                F.conv2d(t, dm.ones(3, 2, 3, 3, dtype=t.dtype, device=t.device) * 0.2, padding=1), 2
            ),
            (3,),
        )
        ** 2
    ),
    "conv_transpose_avg_pool": lambda t: F.avg_pool2d(
        dm.tanh(
            F.conv_transpose2d(
                t, dm.ones(2, 2, 3, 3, dtype=t.dtype, device=t.device) * 0.1, stride=2
            )
        ),
        2,
    ),
    "attention_batch_norm": lambda t: (
        F.scaled_dot_product_attention(
            F.batch_norm(t, None, None, training=True), t, t, is_causal=True
        )
        ** 2
    ),
}


@pytest.mark.parametrize("name", sorted(SECOND_ORDER))
def test_second_order_gradients_match_cpu(name: str) -> None:
    x0 = np.random.default_rng(3).standard_normal((4, 2, 6, 6))
    f = SECOND_ORDER[name]
    np.testing.assert_allclose(
        _second_order(f, x0, "cuda"), _second_order(f, x0, "cpu"), rtol=1e-6, atol=1e-9
    )


def test_optimizer_built_before_module_cuda_keeps_its_parameters() -> None:
    model = dm.nn.Linear(3, 2)
    w = model.weight
    opt = dm.optim.SGD(model.parameters(), lr=0.5)
    model.cuda()
    assert model.weight is w and w.device.type == "cuda"
    before = w.detach().cpu().numpy().copy()
    model(dm.ones(1, 3, device="cuda")).sum().backward()
    opt.step()
    np.testing.assert_allclose(w.detach().cpu().numpy(), before - 0.5, rtol=1e-6)


def test_default_device_puts_factories_and_layers_on_the_device() -> None:
    cuda0 = dm.Device("cuda:0")
    try:
        dm.set_default_device("cuda")
        assert dm.get_default_device() == cuda0
        assert dm.zeros(2).device == cuda0 and dm.randn(2, 3).device == cuda0
        assert dm.arange(4).device == cuda0 and dm.tensor([1.0, 2.0]).device == cuda0
        layer = dm.nn.Linear(3, 2)
        assert layer.weight.device == cuda0 and layer.bias.device == cuda0
        assert dm.zeros(2, device="cpu").device == dm.Device("cpu")
        with dm.Device("cpu"):
            assert dm.ones(1).device == dm.Device("cpu")
            with dm.Device("cuda:1"):
                assert dm.ones(1).device == dm.Device("cuda:1")
            assert dm.ones(1).device == dm.Device("cpu")
        assert dm.get_default_device() == cuda0
    finally:
        dm.set_default_device(None)
    assert dm.zeros(1).device == dm.Device("cpu")


def test_cpu_index_tensors_index_a_device_tensor() -> None:
    # As PyTorch: `x_cuda[torch.randperm(n)]` (a CPU index) works; the result stays on the device.
    x = dm.arange(6.0).reshape(3, 2)
    xd = x.cuda()
    perm = dm.tensor([2, 0])
    assert xd[perm].device == xd.device and xd[perm].tolist() == x[perm].tolist()
    mask = dm.tensor([True, False, True])
    assert xd[mask].tolist() == x[mask].tolist()
    xd[dm.tensor([1])] = 7.0
    assert xd.cpu()[1].tolist() == [7.0, 7.0]
    with pytest.raises(dm.DeviceError):
        x[perm.cuda()]  # a device index into a CPU tensor is refused, as in PyTorch


def test_type_as_takes_the_other_tensors_device() -> None:
    # PyTorch's type_as names a tensor type, which includes the device.
    x = dm.tensor([1, 2], dtype=dm.int32)
    y = x.type_as(dm.zeros(1, dtype=dm.float64).cuda())
    assert y.is_cuda and y.dtype == dm.float64 and y.cpu().tolist() == [1.0, 2.0]
    back = y.type_as(dm.zeros(1))
    assert back.device == dm.Device("cpu") and back.dtype == dm.float32


def test_index_put_takes_cpu_indices_and_a_cpu_scalar_value() -> None:
    x = dm.zeros(5).cuda()
    x.index_put_((dm.tensor([1, 3]),), dm.tensor(2.0))
    x.index_put_((dm.tensor([4]),), dm.tensor([5.0]).cuda())
    assert x.cpu().tolist() == [0.0, 2.0, 0.0, 2.0, 5.0]


def test_default_device_reaches_tri_indices_and_as_tensor() -> None:
    import numpy as np

    dm.set_default_device("cuda")
    try:
        assert dm.tril_indices(3, 3).is_cuda and dm.triu_indices(2, 3, 1).is_cuda
        a = np.ones(2, dtype=np.float32)
        assert dm.as_tensor(a).is_cuda  # a copy on the default device, as PyTorch's
        assert dm.from_numpy(a).device == dm.Device("cpu")  # from_numpy always shares
    finally:
        dm.set_default_device(None)
    assert dm.as_tensor(a).device == dm.Device("cpu")
