"""Non-reentrant activation checkpointing (``use_reentrant=False``, saved-tensor hooks) in the
flows users run: the Trainer (AMP, accumulation, clipping), DDP with ``no_sync``, Transformer
encoders, recurrent layers, BatchNorm, ``no_grad`` inference, nesting, and its memory saving.

Each flow is compared with the same run without checkpointing: dropout masks are replayed from
the saved RNG state, so results must be bit-identical. Constants marked "torch" were computed
with ``torch.utils.checkpoint.checkpoint(..., use_reentrant=False)`` on the same inputs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.train import OptimizerConfig, Trainer, TrainingConfig
from democratising.utils.checkpoint import checkpoint

Arrays = dict[str, np.ndarray]


def _state(m: nn.Module) -> Arrays:
    return {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}


def _grads(m: nn.Module) -> Arrays:
    return {k: p.grad.numpy().copy() for k, p in m.named_parameters() if p.grad is not None}


def _same(a: Arrays, b: Arrays) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def _counting(m: nn.Module) -> list[int]:
    """Counts the calls of ``m.forward`` (a recomputation is a second call)."""
    calls = [0]
    inner = m.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return inner(*args, **kwargs)

    object.__setattr__(m, "forward", forward)
    return calls


# ---- Trainer: checkpointed model, same losses and weights bit for bit ------------------------


def _mlp(drop: float = 0.2) -> nn.Sequential:
    dm.manual_seed(0)
    return nn.Sequential(
        nn.Linear(6, 16),
        nn.Tanh(),
        nn.Dropout(drop),
        nn.Linear(16, 16),
        nn.GELU(),
        nn.Linear(16, 3),
    )


def _fit(segments: Any, **kw: Any) -> tuple[list[float], Arrays, int]:
    """Three epochs of four batches; also how often the first layer ran (recomputations)."""
    model = _mlp()
    if segments:
        model.enable_checkpointing(segments)
    calls = _counting(model[0])
    dm.manual_seed(1)
    x, y = dm.randn(32, 6), dm.randint(0, 3, (32,))
    cfg = TrainingConfig(
        device="cpu",
        optimizer=OptimizerConfig.SGD(),
        learning_rate=0.1,
        batch_size=8,
        num_epochs=3,
        val_fraction=0.0,
        verbose=False,
        progress=False,
        model_summary=False,
        **kw,
    )
    return Trainer(model, cfg).fit((x, y))["loss"], _state(model), calls[0]


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"amp": "bfloat16"},
        {"amp": "float16"},
        {"accumulation_steps": 2},
        {"max_grad_norm": 0.05},
    ],
    ids=["plain", "bf16", "fp16-scaler", "accumulate", "clip"],
)
@pytest.mark.parametrize("segments", [True, 2])
def test_trainer_with_checkpointing_matches_plain_run(kw: dict[str, Any], segments: Any) -> None:
    plain_loss, plain_state, plain_calls = _fit(False, **kw)
    loss, state, calls = _fit(segments, **kw)
    assert plain_calls == 12 and calls == 24  # every training step recomputed once
    assert loss == plain_loss and len(loss) == 3
    assert _same(state, plain_state)


def test_autocast_and_grad_scaler_inside_checkpointed_blocks() -> None:
    """bf16 autocast is recorded at the forward and replayed by the recomputation, even when
    the backward runs outside autocast (as it should); GradScaler unscales the same grads."""
    results = []
    for ck in (False, True):
        model = _mlp().enable_checkpointing(ck)
        opt = dm.optim.SGD(model.parameters(), lr=0.1)
        scaler = dm.amp.GradScaler(init_scale=256.0)
        dm.manual_seed(3)
        x = dm.randn(8, 6)
        for _ in range(2):
            opt.zero_grad()
            with dm.amp.autocast(dtype=dm.bfloat16):
                out = model(x)
            assert out.dtype == dm.bfloat16
            scaler.scale(out.float().pow(2).mean()).backward()
            scaler.step(opt)
            scaler.update()
        results.append((_state(model), scaler.get_scale()))
    assert _same(results[0][0], results[1][0]) and results[0][1] == results[1][1]


# ---- DistributedDataParallel (world of one) with no_sync --------------------------------------

_DDP = """
import numpy as np, democratising as dm
from democratising import nn, distributed as dist
w = dist.World.init(timeout=20)
assert w.size() == 1
def run(ck):
    dm.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 8), nn.Tanh(),
                      nn.Linear(8, 2))
    if ck:
        m.enable_checkpointing(3)
    ddp = dist.DistributedDataParallel(m, w, bucket_cap_mb=1e-4)
    opt = dm.optim.SGD(ddp.parameters(), lr=0.1)
    dm.manual_seed(5)
    xs = [dm.randn(3, 4) for _ in range(4)]
    for i in range(2):
        opt.zero_grad()
        with ddp.no_sync():
            (ddp(xs[2 * i]) ** 2).mean().backward()
        (ddp(xs[2 * i + 1]) ** 2).mean().backward()
        opt.step()
    return {k: v.numpy().copy() for k, v in m.state_dict().items()}
a, b = run(False), run(True)
assert all(np.array_equal(a[k], b[k]) for k in a)
print("ddp ok")
"""


def test_ddp_world_of_one_with_checkpointed_model_and_no_sync() -> None:
    """In a subprocess: ``World.init`` registers a process-wide world."""
    proc = subprocess.run([sys.executable, "-c", _DDP], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "ddp ok" in proc.stdout, proc.stderr[-2000:]


# ---- Transformer encoder ---------------------------------------------------------------------


def _encoder() -> nn.TransformerEncoder:
    dm.manual_seed(0)
    layer = nn.TransformerEncoderLayer(
        d_model=8, nhead=2, dim_feedforward=16, dropout=0.2, batch_first=True
    )
    return nn.TransformerEncoder(layer, num_layers=3)


def _enc_run(enc: nn.Module, train: bool = True) -> tuple[np.ndarray, np.ndarray, Arrays]:
    enc.train(train)
    dm.manual_seed(7)
    x = dm.randn(2, 5, 8, requires_grad=True)
    y = enc(x)
    (y * y).sum().backward()
    return y.detach().numpy().copy(), x.grad.numpy().copy(), _grads(enc)


@pytest.mark.parametrize("train", [True, False], ids=["dropout", "eval"])
def test_encoder_checkpointed_whole_and_nested_is_bit_identical(train: bool) -> None:
    """The whole encoder checkpointed (positional call), and nested: the encoder and a
    checkpointed function around it; dropout 0.2 must replay the same masks."""
    ref = _enc_run(_encoder(), train)
    enc = _encoder().enable_checkpointing()
    calls = _counting(enc)
    got = _enc_run(enc, train)
    assert calls[0] == 2  # forward + recomputation
    nested = _encoder().enable_checkpointing()

    class Outer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nested

        def forward(self, x: dm.Tensor) -> dm.Tensor:
            return checkpoint(self.enc, x * 1.0, use_reentrant=False)

    got2 = _enc_run(Outer(), train)
    for out in (got, got2):
        assert np.array_equal(out[0], ref[0]) and np.array_equal(out[1], ref[1])
        assert _same({k.removeprefix("enc."): v for k, v in out[2].items()}, ref[2])


def test_encoder_layers_each_checkpointed_recompute_in_backward() -> None:
    enc = _encoder()
    counts = []
    for layer in enc.layers:
        layer.enable_checkpointing()
        counts.append(_counting(layer))
    ref = _enc_run(_encoder())
    got = _enc_run(enc)
    assert np.array_equal(got[0], ref[0]) and _same(got[2], ref[2])
    assert [c[0] for c in counts] == [2, 2, 2]


def test_keyword_call_of_checkpointed_module_is_still_correct() -> None:
    """Whatever the kwargs path does, gradients stay those of the plain module."""
    dm.manual_seed(0)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
    mask = nn.Transformer.generate_square_subsequent_mask(5)
    x = dm.randn(2, 5, 8, requires_grad=True)
    layer(x, src_mask=mask).sum().backward()
    ref = x.grad.numpy().copy()
    x.grad = None
    layer.enable_checkpointing()(x, src_mask=mask).sum().backward()
    assert np.array_equal(x.grad.numpy(), ref)


def test_no_grad_inference_runs_once_without_machinery() -> None:
    enc = _encoder().enable_checkpointing()
    calls = _counting(enc)
    enc.eval()
    x = dm.randn(2, 5, 8, requires_grad=True)
    with dm.no_grad():
        y = enc(x)
    assert calls[0] == 1 and y.grad_fn is None and not y.requires_grad
    fn_calls = [0]

    def f(t: dm.Tensor) -> dm.Tensor:
        fn_calls[0] += 1
        return (t * 2).sin()

    with dm.no_grad():
        z = checkpoint(f, x, use_reentrant=False)
    assert fn_calls[0] == 1 and z.grad_fn is None


def test_nested_checkpoints_backward_and_double_backward() -> None:
    def inner(t: dm.Tensor) -> dm.Tensor:
        return (t.exp() * 3).tanh()

    def outer(t: dm.Tensor) -> dm.Tensor:
        return checkpoint(inner, t.sin(), use_reentrant=False).cos() * t

    def plain(t: dm.Tensor) -> dm.Tensor:
        return inner(t.sin()).cos() * t

    x = dm.tensor([0.3, -1.2, 0.7, 2.0], requires_grad=True)
    (g,) = dm.autograd.grad(plain(x).sum(), x, create_graph=True)
    (gg,) = dm.autograd.grad(g.sum(), x)
    (g2,) = dm.autograd.grad(checkpoint(outer, x, use_reentrant=False).sum(), x, create_graph=True)
    (gg2,) = dm.autograd.grad(g2.sum(), x)
    assert np.array_equal(g.detach().numpy(), g2.detach().numpy())
    np.testing.assert_allclose(gg2.numpy(), gg.numpy(), rtol=1e-6, atol=1e-6)


# ---- recurrent layers and BatchNorm ----------------------------------------------------------


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_recurrent_layer_with_dropout_inside_checkpoint(kind: str) -> None:
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((2, 5, 3)).astype(np.float32)
    out = []
    for ck in (False, True):
        dm.manual_seed(0)
        r = getattr(nn, kind)(3, 4, num_layers=2, batch_first=True, dropout=0.3)
        x = dm.tensor(xs, requires_grad=True)
        dm.manual_seed(1)

        def f(t: dm.Tensor, r: nn.Module = r) -> dm.Tensor:
            return r(t)[0]

        y = checkpoint(f, x, use_reentrant=False) if ck else f(x)
        (y**2).sum().backward()
        out.append((y.detach().numpy().copy(), x.grad.numpy().copy(), _grads(r)))
    (a, b) = out
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and _same(a[2], b[2])


def test_lstm_module_checkpointed_with_tuple_output_and_state() -> None:
    out = []
    for ck in (False, True):
        dm.manual_seed(0)
        r = nn.LSTM(3, 4, batch_first=True).enable_checkpointing(ck)
        calls = _counting(r)
        dm.manual_seed(1)
        x = dm.randn(2, 5, 3, requires_grad=True)
        h = (dm.zeros(1, 2, 4), dm.zeros(1, 2, 4))
        y, (_, c) = r(x, h)
        (y.sum() + c.sum()).backward()
        assert calls[0] == (2 if ck else 1)
        out.append((x.grad.numpy().copy(), _grads(r)))
    assert np.array_equal(out[0][0], out[1][0]) and _same(out[0][1], out[1][1])


def _bn_step(ck: bool) -> tuple[nn.BatchNorm1d, np.ndarray]:
    lin, bn = nn.Linear(4, 4), nn.BatchNorm1d(4, momentum=0.5)
    with dm.no_grad():
        lin.weight.copy_(dm.eye(4) * 0.5)
        lin.bias.zero_()
    seq = nn.Sequential(lin, bn, nn.ReLU())
    x = dm.tensor(np.arange(24, dtype=np.float32).reshape(6, 4) / 7.0, requires_grad=True)
    y = checkpoint(seq, x, use_reentrant=False) if ck else seq(x)
    y.sum().backward()
    return bn, x.grad.numpy().copy()


def test_batchnorm_in_checkpoint_updates_running_stats_twice_as_torch() -> None:
    """torch (use_reentrant=False) reruns BatchNorm's forward in the recomputation, so the
    running stats move twice and num_batches_tracked is 2; we match it (the gradients are
    those of the plain run: the recomputation uses batch statistics)."""
    plain, g_plain = _bn_step(False)
    bn, g = _bn_step(True)
    assert plain.num_batches_tracked.item() == 1 and bn.num_batches_tracked.item() == 2
    torch_once = [0.35714, 0.39286, 0.42857, 0.46429]  # torch, plain forward
    torch_ckpt = [0.53571, 0.58929, 0.64286, 0.69643]  # torch, checkpointed
    np.testing.assert_allclose(plain.running_mean.numpy(), torch_once, atol=1e-5)
    np.testing.assert_allclose(bn.running_mean.numpy(), torch_ckpt, atol=1e-5)
    np.testing.assert_array_equal(g, g_plain)


def test_batchnorm_eval_and_no_grad_in_checkpointed_sequential() -> None:
    dm.manual_seed(0)
    s = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3)).enable_checkpointing(2)
    s.eval()
    s(dm.randn(4, 3, requires_grad=True)).sum().backward()
    assert s[1].num_batches_tracked.item() == 0
    s.train()
    with dm.no_grad():
        y = s(dm.randn(4, 3))
    assert s[1].num_batches_tracked.item() == 1 and y.grad_fn is None


# ---- memory: peak RSS of a deep MLP step -----------------------------------------------------

_MEM = """
import sys, democratising as dm
from democratising import nn

def status_kb(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key))

dm.manual_seed(0)
layers = []
for _ in range(24):
    layers += [nn.Linear(256, 256), nn.ReLU()]
m = nn.Sequential(*layers)
if sys.argv[1] == "1":
    m.enable_checkpointing()
x = dm.randn(2048, 256)
opt = dm.optim.SGD(m.parameters(), lr=1e-3)
# The peak is reset after import (an import-time peak would hide the step's), then read back.
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
before = status_kb("VmRSS:")
for _ in range(2):
    opt.zero_grad()
    (m(x) ** 2).mean().backward()
    opt.step()
print(status_kb("VmHWM:") - before)
"""


@pytest.mark.skipif(
    not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux's peak-RSS reset"
)
def test_checkpointing_lowers_peak_rss_of_a_deep_mlp_step() -> None:
    """Fresh processes, peak RSS reset after import; about 48 MiB of saved activations without."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_MEM), flag],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag in ("0", "1")
    ]
    grown = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err[-2000:]
        grown.append(int(out.split()[-1]) / 1024)  # MiB
    plain, ckpt = grown
    assert plain > 25 and ckpt < 0.7 * plain, grown  # measured: about 66 and 39 MiB
