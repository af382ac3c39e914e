"""Classic PyTorch training programs, run on democratising (differential testing, s21b).

Each ``program_*`` is written against a ``torch``-like module, the way tutorials write it, and
is called here with ``democratising``. The same functions, called with real PyTorch 2.15 from
identical NumPy-made initial weights and data, gave the numbers in ``EXPECTED`` at the end of
this file (the suite has no torch). Covered: WGAN-GP (a gradient penalty through
``autograd.grad(create_graph=True)``), a BatchNorm ResNet with AdamW + OneCycleLR /
CosineAnnealingWarmRestarts, packed bidirectional LSTMs, knowledge distillation, gradient
accumulation with clipping, bfloat16 autocast and GradScaler, a U-Net, depthwise convolutions
with tied weights and custom ``autograd.Function``s, ``MultiheadAttention`` masks, param
groups + ReduceLROnPlateau + EMA/SWA, resuming from a state_dict, a user-written optimizer and
scheduler, gradient checkpointing, data pipelines (collate_fn, samplers, ``batch_size=None``)
and ``IterableDataset`` streams read by several workers."""

from __future__ import annotations

import gc
import io
import itertools
import math
import threading
from collections import namedtuple
from typing import Any

import numpy as np
import pytest

import democratising as dm
from helpers import numpy_init, to_np

# ---- shared helpers --------------------------------------------------------------------------


def close(actual: Any, key: str, rtol: float = 1e-4, atol: float = 1e-6) -> None:
    """``actual`` matches PyTorch's recorded ``EXPECTED[key]``."""
    np.testing.assert_allclose(
        np.asarray(actual, np.float64), np.asarray(EXPECTED[key], np.float64), rtol=rtol, atol=atol
    )


# ---- (1) WGAN-GP: gradient penalty through a LeakyReLU critic --------------------------------


def program_wgan_gp(torch: Any, opt_name: str) -> dict[str, Any]:
    nn = torch.nn
    rng = np.random.default_rng(1)
    real_all = (rng.standard_normal((64, 2)) * 0.5 + np.array([2.0, -1.0])).astype(np.float32)
    noise_all = rng.standard_normal((6, 16, 4)).astype(np.float32)
    alpha_all = rng.random((6, 16, 1)).astype(np.float32)
    gen = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
    critic = nn.Sequential(
        nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1)
    )
    numpy_init(torch, gen, 2)
    numpy_init(torch, critic, 3)
    if opt_name == "adam":
        opt_d = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))
        opt_g = torch.optim.Adam(gen.parameters(), lr=1e-3, betas=(0.5, 0.9))
    else:
        opt_d = torch.optim.RMSprop(critic.parameters(), lr=5e-4)
        opt_g = torch.optim.RMSprop(gen.parameters(), lr=5e-4)
    d_losses, g_losses, gps = [], [], []
    first_grad = None
    for it in range(6):
        real = torch.tensor(real_all[(it * 16) % 64 : (it * 16) % 64 + 16])
        z = torch.tensor(noise_all[it])
        for p in critic.parameters():
            p.requires_grad = True
        opt_d.zero_grad()
        fake = gen(z).detach()
        alpha = torch.tensor(alpha_all[it])
        interp = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        d_interp = critic(interp)
        grads = torch.autograd.grad(
            outputs=d_interp,
            inputs=interp,
            grad_outputs=torch.ones_like(d_interp),
            create_graph=True,
            retain_graph=True,
            only_inputs=True,
        )[0]
        gp = ((grads.norm(2, dim=1) - 1) ** 2).mean()
        d_loss = critic(fake).mean() - critic(real).mean() + 10.0 * gp
        d_loss.backward()
        if first_grad is None:
            first_grad = to_np(critic[2].weight.grad)[:2]
        opt_d.step()
        d_losses.append(d_loss.item())
        gps.append(gp.item())
        for p in critic.parameters():  # freeze the critic for the generator step
            p.requires_grad = False
        opt_g.zero_grad()
        g_loss = -critic(gen(z)).mean()
        g_loss.backward()
        opt_g.step()
        g_losses.append(g_loss.item())
    frozen_grad = critic[0].weight.grad
    return {
        "d": d_losses,
        "g": g_losses,
        "gp": gps,
        "grad": first_grad,
        "gen_w": to_np(gen[2].weight),
        "frozen_grad": to_np(frozen_grad),
    }


@pytest.mark.parametrize("opt_name", ["adam", "rmsprop"])
def test_wgan_gp(opt_name: str) -> None:
    r = program_wgan_gp(dm, opt_name)
    for k in ("d", "g", "gp", "gen_w"):
        close(r[k], f"wgan_{opt_name}_{k}")
    close(r["grad"], f"wgan_{opt_name}_grad")
    # The critic's gradients are not touched by the generator step (requires_grad=False).
    close(r["frozen_grad"], f"wgan_{opt_name}_frozen_grad")


# ---- (2) ResNet: BatchNorm2d, AdamW param groups, OneCycleLR / warm restarts, train/eval -----


def program_resnet(torch: Any, sched: str) -> dict[str, Any]:
    nn = torch.nn
    F = torch.nn.functional  # noqa: N806 (PyTorch code spells it F)

    class BasicBlock(nn.Module):
        def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.shortcut = nn.Sequential()
            if stride != 1 or in_planes != planes:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes),
                )

        def forward(self, x: Any) -> Any:
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += self.shortcut(x)
            return F.relu(out)

    class ResNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(3, 8, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(8)
            self.layer1 = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 8, 1))
            self.layer2 = nn.Sequential(BasicBlock(8, 16, 2), BasicBlock(16, 16, 1))
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(16, 3)

        def forward(self, x: Any) -> Any:
            x = F.relu(self.bn1(self.conv1(x)))
            x = self.layer2(self.layer1(x))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    rng = np.random.default_rng(5)
    xs = rng.standard_normal((40, 3, 8, 8)).astype(np.float32)
    ys = rng.integers(0, 3, 40)
    model = ResNet()
    numpy_init(torch, model, 7)
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim == 1]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 5e-2}, {"params": no_decay, "weight_decay": 0.0}],
        lr=3e-3,
        betas=(0.9, 0.99),
    )
    epochs, steps = 3, 5
    if sched == "onecycle":
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=1e-2, epochs=epochs, steps_per_epoch=steps
        )
    else:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            opt, T_0=4, T_mult=2, eta_min=1e-5
        )
    crit = nn.CrossEntropyLoss()
    losses, lrs, moms, evals = [], [], [], []
    for ep in range(epochs):
        model.train()
        for i in range(steps):
            xb = torch.tensor(xs[i * 8 : (i + 1) * 8])
            yb = torch.tensor(ys[i * 8 : (i + 1) * 8])
            opt.zero_grad(set_to_none=True)
            loss = crit(model(xb), yb)
            loss.backward()
            opt.step()
            if sched == "onecycle":
                scheduler.step()
            else:
                scheduler.step(ep + i / steps)  # the fractional-epoch form
            losses.append(loss.item())
            lrs.append(scheduler.get_last_lr()[0])
            moms.append(opt.param_groups[0]["betas"][0])
        model.eval()
        with torch.no_grad():
            evals.append(crit(model(torch.tensor(xs[:16])), torch.tensor(ys[:16])).item())
    sd = model.state_dict()
    return {
        "losses": losses,
        "lrs": lrs,
        "moms": moms,
        "evals": evals,
        "rm": to_np(sd["layer2.0.bn1.running_mean"]),
        "rv": to_np(sd["layer2.0.bn1.running_var"]),
        "nbt": int(sd["bn1.num_batches_tracked"].item()),
    }


@pytest.mark.parametrize("sched", ["onecycle", "cawr"])
def test_resnet_batchnorm_adamw_schedulers(sched: str) -> None:
    r = program_resnet(dm, sched)
    for k in ("losses", "evals", "rm", "rv"):
        close(r[k], f"resnet_{sched}_{k}")
    close(r["lrs"], f"resnet_{sched}_lrs", rtol=1e-10, atol=1e-12)
    close(r["moms"], f"resnet_{sched}_moms", rtol=1e-10, atol=1e-12)
    assert r["nbt"] == 15


# ---- (3) packed variable-length sequences: Embedding(padding_idx=0), (bi)LSTM/GRU ------------


def program_packed(torch: Any, cell: str, bidir: bool, layers: int) -> dict[str, Any]:
    nn = torch.nn
    rnn_utils = torch.nn.utils.rnn
    rng = np.random.default_rng(11)
    lengths = np.array([5, 2, 7, 3, 7, 1])
    toks = np.zeros((6, 7), np.int64)
    for i, n in enumerate(lengths):
        toks[i, :n] = rng.integers(1, 12, n)
    ys = rng.integers(0, 3, 6)

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(12, 6, padding_idx=0)
            self.rnn = getattr(nn, cell)(
                6, 5, num_layers=layers, batch_first=True, bidirectional=bidir
            )
            self.fc = nn.Linear(5 * (2 if bidir else 1), 3)

        def forward(self, x: Any, lens: Any) -> Any:
            packed = rnn_utils.pack_padded_sequence(
                self.emb(x), lens, batch_first=True, enforce_sorted=False
            )
            out, h = self.rnn(packed)
            if cell == "LSTM":
                h = h[0]
            padded, out_lens = rnn_utils.pad_packed_sequence(out, batch_first=True)
            feat = torch.cat([h[-2], h[-1]], dim=1) if bidir else h[-1]
            return self.fc(feat), padded, out_lens

    m = Classifier()
    numpy_init(torch, m, 3)
    with torch.no_grad():
        m.emb.weight[0].fill_(0)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    x, lens = torch.tensor(toks), torch.tensor(lengths)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        logits, padded, out_lens = m(x, lens)
        loss = nn.functional.cross_entropy(logits, torch.tensor(ys)) + 0.1 * padded.pow(2).mean()
        loss.backward()
        pad_grad = to_np(m.emb.weight.grad[0])
        opt.step()
        losses.append(loss.item())
    return {
        "losses": losses,
        "padded_row": to_np(padded[1]),
        "out_lens": to_np(out_lens),
        "pad_grad": pad_grad,
        "emb0": to_np(m.emb.weight[0]),
        "shape": tuple(padded.shape),
    }


@pytest.mark.parametrize(
    ("cell", "bidir", "layers"), [("LSTM", True, 2), ("GRU", True, 2), ("GRU", False, 1)]
)
def test_packed_rnn_classifier(cell: str, bidir: bool, layers: int) -> None:
    r = program_packed(dm, cell, bidir, layers)
    key = f"packed_{cell}_{bidir}"
    close(r["losses"], key + "_losses")
    close(r["padded_row"], key + "_padded_row")
    # the padded tail of the length-2 sequence is exactly 0; the padding row never learns
    assert np.all(r["padded_row"][2:] == 0.0)
    np.testing.assert_array_equal(r["out_lens"], [5, 2, 7, 3, 7, 1])
    np.testing.assert_array_equal(r["pad_grad"], 0.0)
    np.testing.assert_array_equal(r["emb0"], 0.0)
    assert r["shape"] == (6, 7, 10 if bidir else 5)


# ---- (4) knowledge distillation: KL(log_target) * T^2 + label-smoothed CE --------------------


def program_kd(torch: Any, temp: float, alpha: float, log_target: bool) -> dict[str, Any]:
    nn = torch.nn
    F = torch.nn.functional  # noqa: N806 (PyTorch code spells it F)
    rng = np.random.default_rng(21)
    xs = rng.standard_normal((48, 10)).astype(np.float32)
    ys = rng.integers(0, 5, 48)
    teacher = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 5))
    student = nn.Sequential(nn.Linear(10, 8), nn.GELU(), nn.Linear(8, 5))
    numpy_init(torch, teacher, 1)
    numpy_init(torch, student, 2)
    teacher.eval()
    opt = torch.optim.SGD(
        student.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4
    )
    ce = nn.CrossEntropyLoss(label_smoothing=0.1)
    kl = nn.KLDivLoss(reduction="batchmean", log_target=log_target)
    losses, softs = [], []
    for i in range(6):
        sl = slice((i % 3) * 16, (i % 3) * 16 + 16)
        xb, yb = torch.tensor(xs[sl]), torch.tensor(ys[sl])
        with torch.no_grad():
            t_logits = teacher(xb)
        s_logits = student(xb)
        s_log = F.log_softmax(s_logits / temp, dim=-1)
        target = (
            F.log_softmax(t_logits / temp, dim=-1)
            if log_target
            else F.softmax(t_logits / temp, dim=-1)
        )
        soft = F.kl_div(s_log, target, reduction="batchmean", log_target=log_target) * temp * temp
        soft_module = kl(s_log, target) * temp**2
        loss = alpha * soft + (1 - alpha) * ce(s_logits, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        softs.append([soft.item(), soft_module.item()])
    a = torch.tensor(rng.standard_normal((4, 5)).astype(np.float32))
    b = torch.tensor(rng.standard_normal((4, 5)).astype(np.float32))
    tgt = torch.tensor(np.array([0, 4, -100, 2]))
    w = torch.tensor(np.array([1.0, 2.0, 0.5, 1.0, 3.0], np.float32))
    return {
        "losses": losses,
        "softs": softs,
        "kl_sum": F.kl_div(
            F.log_softmax(a, 1), F.log_softmax(b, 1), reduction="sum", log_target=True
        ).item(),
        "ce_ls_w": to_np(F.cross_entropy(a, tgt, weight=w, label_smoothing=0.2, reduction="none")),
        "ce_ls_w_mean": F.cross_entropy(a, tgt, weight=w, label_smoothing=0.2).item(),
        "ce_prob": F.cross_entropy(a, F.softmax(b, 1), weight=w, label_smoothing=0.1).item(),
    }


@pytest.mark.parametrize(("temp", "alpha", "log_target"), [(4.0, 0.7, True), (2.0, 0.5, False)])
def test_knowledge_distillation(temp: float, alpha: float, log_target: bool) -> None:
    r = program_kd(dm, temp, alpha, log_target)
    key = f"kd_{log_target}"
    close(r["losses"], key + "_losses")
    close(r["softs"], key + "_softs")
    for k in ("kl_sum", "ce_ls_w", "ce_ls_w_mean", "ce_prob"):
        close(r[k], f"kd_{k}")


# ---- (5) gradient accumulation + clip_grad_norm_ + autocast(bfloat16) + GradScaler -----------


def program_accum(torch: Any, mode: str, accum: int) -> dict[str, Any]:
    nn = torch.nn
    rng = np.random.default_rng(8)
    xs = rng.standard_normal((36, 12)).astype(np.float32)
    ys = rng.integers(0, 4, 36)
    model = nn.Sequential(nn.Linear(12, 24), nn.LayerNorm(24), nn.ReLU(), nn.Linear(24, 4))
    numpy_init(torch, model, 9)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=2)
    crit = nn.CrossEntropyLoss()
    losses, norms, scales, dtypes = [], [], [], []
    opt.zero_grad()
    for i in range(12):
        xb = torch.tensor(xs[i * 3 : (i + 1) * 3])
        yb = torch.tensor(ys[i * 3 : (i + 1) * 3])
        with torch.autocast(device_type="cpu", dtype=torch.bfloat16, enabled=mode == "bf16"):
            out = model(xb)
            loss = crit(out, yb) / accum
        dtypes.append((out.dtype, loss.dtype))
        scaler.scale(loss).backward()
        losses.append(loss.item() * accum)
        if (i + 1) % accum == 0:
            scaler.unscale_(opt)
            norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5).item())
            scaler.step(opt)
            scaler.update()
            scales.append(scaler.get_scale())
            opt.zero_grad(set_to_none=True)
    return {
        "losses": losses,
        "norms": norms,
        "scales": scales,
        "dtypes": dtypes,
        "w": to_np(model[3].weight),
        "param_dtype": model[0].weight.dtype,
    }


@pytest.mark.parametrize("mode", ["fp32", "bf16"])
def test_accumulation_clipping_autocast_scaler(mode: str) -> None:
    r = program_accum(dm, mode, 3)
    tol = 1e-4 if mode == "fp32" else 2e-3  # PyTorch's bfloat16 run, to bfloat16 accuracy
    close(r["losses"], f"accum_{mode}_losses", rtol=tol)
    close(r["norms"], f"accum_{mode}_norms", rtol=tol)
    close(r["w"], f"accum_{mode}_w", rtol=tol, atol=1e-4)
    # growth_interval=2: the scale doubles every second (finite) step, as PyTorch's
    assert r["scales"] == [1024.0, 2048.0, 2048.0, 4096.0]
    low = dm.bfloat16 if mode == "bf16" else dm.float32
    assert set(r["dtypes"]) == {(low, dm.float32)}
    assert r["param_dtype"] == dm.float32


def program_scaler_skip(torch: Any) -> dict[str, Any]:
    """An inf input makes every gradient non-finite: the step is skipped and the scale backs
    off; finite steps grow it again after ``growth_interval``."""
    m = torch.nn.Linear(3, 1)
    numpy_init(torch, m, 1)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    sc = torch.amp.GradScaler(
        "cpu", init_scale=4.0, growth_factor=2.0, backoff_factor=0.25, growth_interval=2
    )
    scales, ws = [], []
    for i in range(6):
        x = np.array([[1.0, 2.0, 3.0]], np.float32)
        if i == 2:
            x[0, 0] = np.inf
        opt.zero_grad()
        sc.scale(m(torch.tensor(x)).sum()).backward()
        sc.unscale_(opt)
        sc.step(opt)
        sc.update()
        scales.append(sc.get_scale())
        ws.append(to_np(m.weight)[0])
    return {"scales": scales, "w": ws, "sd": dict(sc.state_dict())}


def test_grad_scaler_skips_and_backs_off() -> None:
    r = program_scaler_skip(dm)
    assert r["scales"] == EXPECTED["scaler_scales"]
    close(r["w"], "scaler_w")
    np.testing.assert_array_equal(r["w"][2], r["w"][1])  # the skipped step
    assert r["sd"] == EXPECTED["scaler_sd"]


# ---- (6) U-Net: MaxPool2d, bilinear F.interpolate / ConvTranspose2d, F.pad, torch.cat skips --


def program_unet(torch: Any, up: str) -> dict[str, Any]:
    nn = torch.nn
    F = torch.nn.functional  # noqa: N806 (PyTorch code spells it F)

    class DoubleConv(nn.Module):
        def __init__(self, i: int, o: int) -> None:
            super().__init__()
            self.double_conv = nn.Sequential(
                nn.Conv2d(i, o, 3, padding=1, bias=False),
                nn.BatchNorm2d(o),
                nn.ReLU(inplace=True),
                nn.Conv2d(o, o, 3, padding=1, bias=False),
                nn.BatchNorm2d(o),
                nn.ReLU(inplace=True),
            )

        def forward(self, x: Any) -> Any:
            return self.double_conv(x)

    class Up(nn.Module):
        def __init__(self, i: int, skip: int, o: int) -> None:
            super().__init__()
            if up == "transpose":
                self.up = nn.ConvTranspose2d(i, i // 2, kernel_size=2, stride=2)
                i //= 2
            self.conv = DoubleConv(i + skip, o)

        def forward(self, x1: Any, x2: Any) -> Any:
            if up == "transpose":
                x1 = self.up(x1)
            else:
                x1 = F.interpolate(x1, scale_factor=2, mode="bilinear", align_corners=False)
            dy = x2.size()[2] - x1.size()[2]
            dx = x2.size()[3] - x1.size()[3]
            x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
            return self.conv(torch.cat([x2, x1], dim=1))

    class UNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inc = DoubleConv(2, 4)
            self.down1 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(4, 8))
            self.down2 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(8, 16))
            self.up1 = Up(16, 8, 8)
            self.up2 = Up(8, 4, 4)
            self.outc = nn.Conv2d(4, 1, kernel_size=1)

        def forward(self, x: Any) -> Any:
            x1 = self.inc(x)
            x2 = self.down1(x1)
            x = self.up1(self.down2(x2), x2)
            return self.outc(self.up2(x, x1))

    rng = np.random.default_rng(4)
    x = torch.tensor(rng.standard_normal((4, 2, 10, 10)).astype(np.float32))  # 10 -> 5 -> 2: pads
    y = torch.tensor((rng.random((4, 1, 10, 10)) > 0.5).astype(np.float32))
    net = UNet()
    numpy_init(torch, net, 6)
    # eps=1e-4: with the default 1e-8 RMSprop's first step turns float32 noise in near-zero
    # gradients into full-size updates, and no two libraries would agree.
    opt = torch.optim.RMSprop(net.parameters(), lr=1e-3, weight_decay=1e-8, momentum=0.9, eps=1e-4)
    crit = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([1.5]))
    losses = []
    for _ in range(4):
        net.train()
        opt.zero_grad()
        pred = net(x)
        loss = crit(pred, y)
        probs = torch.sigmoid(pred)
        inter = (probs * y).sum(dim=(2, 3))
        union = probs.sum(dim=(2, 3)) + y.sum(dim=(2, 3))
        dice = 1 - ((2 * inter + 1) / (union + 1)).mean()
        (loss + dice).backward()
        opt.step()
        losses.append([loss.item(), dice.item()])
    net.eval()
    with torch.no_grad():
        out = net(x)
    return {"losses": losses, "out": to_np(out[0, 0, :3, :3]), "shape": tuple(out.shape)}


@pytest.mark.parametrize("up", ["bilinear", "transpose"])
def test_unet(up: str) -> None:
    r = program_unet(dm, up)
    close(r["losses"], f"unet_{up}_losses")
    close(r["out"], f"unet_{up}_out", atol=1e-5)
    assert r["shape"] == (4, 1, 10, 10)


# ---- (7) depthwise-separable convs, tied weights, custom autograd.Functions -------------------


def program_custom(torch: Any) -> dict[str, Any]:
    nn = torch.nn
    F = torch.nn.functional  # noqa: N806 (PyTorch code spells it F)
    seen: dict[str, Any] = {"needs": []}

    class ClampedExp(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, scale: float) -> Any:
            y = torch.exp(x.clamp(max=3.0)) * scale
            ctx.save_for_backward(x, y)
            return y

        @staticmethod
        def backward(ctx: Any, grad_out: Any) -> Any:
            x, y = ctx.saved_tensors
            seen["needs"].append(tuple(ctx.needs_input_grad))
            gx = grad_out * y * (x <= 3.0).float() if ctx.needs_input_grad[0] else None
            return gx, None

    class SortDesc(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            vals, idx = x.sort(dim=-1, descending=True)
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(idx)
            return vals, idx

        @staticmethod
        def backward(ctx: Any, gv: Any, gi: Any) -> Any:
            (idx,) = ctx.saved_tensors
            seen["gi_zero"] = gi is None or float(gi.abs().sum()) == 0.0
            return torch.zeros_like(gv).scatter(-1, idx, gv)

    class DSConv(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
            super().__init__()
            self.depthwise = nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False)
            self.pointwise = nn.Conv2d(cin, cout, 1)
            self.bn = nn.BatchNorm2d(cout)

        def forward(self, x: Any) -> Any:
            return F.relu6(self.bn(self.pointwise(self.depthwise(x))))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 6, 3, padding=1)
            self.b1 = DSConv(6, 12, stride=2)
            self.b2 = DSConv(12, 12)
            self.mult = nn.Conv2d(12, 24, 3, padding=1, groups=12)  # depth multiplier 2
            self.head = nn.Linear(24, 4)

        def forward(self, x: Any) -> Any:
            x = self.mult(self.b2(self.b1(self.stem(x))))
            return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))

    class TiedAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Embedding(10, 6)
            self.proj = nn.Linear(6, 6)
            self.decoder = nn.Linear(6, 10, bias=False)
            self.decoder.weight = self.encoder.weight

        def forward(self, tok: Any) -> Any:
            return self.decoder(torch.tanh(self.proj(self.encoder(tok))))

    rng = np.random.default_rng(31)
    xs = rng.standard_normal((8, 3, 8, 8)).astype(np.float32)
    ys = rng.integers(0, 4, 8)
    toks = torch.tensor(rng.integers(0, 10, (4, 5)))
    net = Net()
    numpy_init(torch, net, 1)
    ae = TiedAE()
    numpy_init(torch, ae, 2)
    opt = torch.optim.Adam(list(net.parameters()) + list(ae.parameters()), lr=1e-2)
    losses = []
    for _ in range(4):
        opt.zero_grad()
        logits = net(torch.tensor(xs))
        e = ClampedExp.apply(logits, 0.5)
        vals, _ = SortDesc.apply(logits)
        loss = F.cross_entropy(logits, torch.tensor(ys)) + 0.01 * e.mean() + 0.1 * vals[:, 0].mean()
        loss2 = F.cross_entropy(ae(toks).reshape(-1, 10), toks.reshape(-1))
        (loss + loss2).backward()
        opt.step()
        losses.append([loss.item(), loss2.item()])
    _, idx = SortDesc.apply(torch.tensor(np.ones((2, 3), np.float32), requires_grad=True))
    return {
        "losses": losses,
        "needs": seen["needs"],
        "gi_zero": seen["gi_zero"],
        "tied": ae.decoder.weight is ae.encoder.weight,
        "n_ae": len(list(ae.parameters())),
        "ae_keys": list(ae.state_dict().keys()),
        "idx_rg": idx.requires_grad,
        "dw": to_np(net.b1.depthwise.weight)[0, 0],
    }


def test_depthwise_tied_custom_function() -> None:
    r = program_custom(dm)
    close(r["losses"], "custom_losses")
    close(r["dw"], "custom_dw")
    assert r["needs"] == [(True, False)] * 4
    assert r["gi_zero"] and r["tied"] and not r["idx_rg"]
    assert r["n_ae"] == 3  # the tied matrix counts once
    assert r["ae_keys"] == ["encoder.weight", "proj.weight", "proj.bias", "decoder.weight"]


# ---- (8) MultiheadAttention: key_padding_mask + attn_mask (bool / float / 3-D) ---------------


def program_mha(torch: Any, mask_kind: str, batch_first: bool, avg: bool) -> dict[str, Any]:
    nn = torch.nn
    rng = np.random.default_rng(41)
    b, tgt_len, src_len, embed, heads = 3, 4, 5, 8, 2
    q = rng.standard_normal((b, tgt_len, embed)).astype(np.float32)
    kv = rng.standard_normal((b, src_len, embed)).astype(np.float32)
    kpm = np.zeros((b, src_len), bool)
    kpm[0, 3:] = True
    kpm[2, 4] = True
    am = np.triu(np.ones((tgt_len, src_len), bool), 2)
    mha = nn.MultiheadAttention(embed, heads, batch_first=batch_first)
    numpy_init(torch, mha, 3)
    head = nn.Linear(embed, 2)
    numpy_init(torch, head, 4)
    opt = torch.optim.SGD(list(mha.parameters()) + list(head.parameters()), lr=0.1)

    def tt(a: np.ndarray) -> Any:
        return torch.tensor(a if batch_first else np.ascontiguousarray(np.swapaxes(a, 0, 1)))

    if mask_kind == "bool":
        kp, at = torch.tensor(kpm), torch.tensor(am)
    elif mask_kind == "float":
        kp = torch.tensor(np.where(kpm, -np.inf, 0.0).astype(np.float32))
        noise = 0.1 * rng.standard_normal((tgt_len, src_len))
        at = torch.tensor((np.where(am, -1e9, 0.0) + noise).astype(np.float32))
    else:  # a per-head 3-D boolean mask
        kp = torch.tensor(kpm)
        at = torch.tensor(np.broadcast_to(am, (b * heads, tgt_len, src_len)).copy())
    losses = []
    for _ in range(3):
        opt.zero_grad()
        out, w = mha(
            tt(q), tt(kv), tt(kv), key_padding_mask=kp, attn_mask=at, average_attn_weights=avg
        )
        if not batch_first:
            out = out.transpose(0, 1)
        loss = head(out).pow(2).mean() + w.mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    _, no_w = mha(tt(q), tt(kv), tt(kv), key_padding_mask=kp, need_weights=False)
    return {"losses": losses, "w": to_np(w), "no_w": no_w is None}


@pytest.mark.parametrize(
    ("mask_kind", "batch_first", "avg"),
    [("bool", True, True), ("float", True, True), ("3d", False, False)],
)
def test_multihead_attention_masks(mask_kind: str, batch_first: bool, avg: bool) -> None:
    r = program_mha(dm, mask_kind, batch_first, avg)
    key = f"mha_{mask_kind}"
    close(r["losses"], key + "_losses")
    close(r["w"], key + "_w", atol=1e-6)
    assert r["no_w"]
    w = r["w"] if avg else r["w"].mean(axis=1)
    np.testing.assert_array_equal(w[0, :, 3:], 0.0)  # padded keys get no attention
    np.testing.assert_array_equal(w[:, 0, 2:], 0.0)  # nor masked positions


# ---- (9) param groups + add_param_group, ReduceLROnPlateau, EMA / SWA (AveragedModel) --------


def _mlp_bn(torch: Any) -> Any:
    nn = torch.nn
    # no bias before BatchNorm: its gradient is 0 up to float noise, which Adam would amplify
    m = nn.Sequential(nn.Linear(6, 12, bias=False), nn.BatchNorm1d(12), nn.ReLU(), nn.Linear(12, 3))
    numpy_init(torch, m, 13)
    return m


def _batch(i: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(100 + i)
    return rng.standard_normal((8, 6)).astype(np.float32), rng.integers(0, 3, 8)


def program_groups_plateau_ema(torch: Any, opt_name: str) -> dict[str, Any]:
    F = torch.nn.functional  # noqa: N806 (PyTorch code spells it F)
    swa_utils = torch.optim.swa_utils
    m = _mlp_bn(torch)
    base = [p for n, p in m.named_parameters() if not n.startswith("3.")]
    if opt_name == "sgd":
        opt = torch.optim.SGD([{"params": base}], lr=0.05, momentum=0.9)
    else:
        opt = torch.optim.Adam([{"params": base, "lr": 1e-2}], lr=1e-3, amsgrad=True)
    # the head joins later with its own lr (the fine-tuning pattern)
    head_lr = 0.2 if opt_name == "sgd" else 5e-2
    opt.add_param_group({"params": m[3].parameters(), "lr": head_lr, "weight_decay": 1e-3})
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, mode="min", factor=0.5, patience=1, threshold=0.05, cooldown=1, min_lr=[1e-3, 1e-2]
    )
    ema = swa_utils.AveragedModel(m, multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.9))
    swa = swa_utils.AveragedModel(m)
    xv, yv = _batch(7)
    losses, lrs = [], []
    for ep in range(8):
        m.train()
        x, y = _batch(ep % 3)
        opt.zero_grad()
        loss = F.cross_entropy(m(torch.tensor(x)), torch.tensor(y))
        loss.backward()
        opt.step()
        ema.update_parameters(m)
        swa.update_parameters(m)
        losses.append(loss.item())
        m.eval()
        with torch.no_grad():
            val = F.cross_entropy(m(torch.tensor(xv)), torch.tensor(yv)).item()
        plateau.step(val)
        lrs.append([g["lr"] for g in opt.param_groups])
    ema.eval()
    with torch.no_grad():
        ema_out = ema(torch.tensor(xv))
    swa_utils.update_bn([(torch.tensor(_batch(i)[0]),) for i in range(3)], swa)
    swa.eval()
    with torch.no_grad():
        swa_out = swa(torch.tensor(xv))
    return {
        "losses": losses,
        "lrs": lrs,
        "ema_out": to_np(ema_out),
        "swa_out": to_np(swa_out),
        "swa_rm": to_np(swa.module[1].running_mean),
        "n_averaged": int(ema.state_dict()["n_averaged"].item()),
        "best": plateau.best,
        "num_bad": plateau.num_bad_epochs,
    }


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_param_groups_plateau_ema_swa(opt_name: str) -> None:
    r = program_groups_plateau_ema(dm, opt_name)
    key = f"groups_{opt_name}"
    for k in ("losses", "ema_out", "swa_out", "swa_rm", "best"):
        close(r[k], f"{key}_{k}")
    close(r["lrs"], f"{key}_lrs", rtol=1e-12, atol=0)
    assert r["n_averaged"] == 8
    assert r["num_bad"] == EXPECTED[f"{key}_num_bad"]


def program_resume(torch: Any, opt_name: str, split: int = 3) -> dict[str, Any]:
    """Six steps straight, versus ``split`` steps, a save/load into fresh objects, and the rest."""
    F = torch.nn.functional  # noqa: N806 (PyTorch code spells it F)
    sched = torch.optim.lr_scheduler

    def make() -> tuple[Any, Any, Any]:
        m = _mlp_bn(torch)
        if opt_name == "adamw":
            opt = torch.optim.AdamW(m.parameters(), lr=1e-2, weight_decay=0.1)
        elif opt_name == "sgd":
            opt = torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True)
        else:
            opt = torch.optim.RMSprop(m.parameters(), lr=1e-2, momentum=0.5, centered=True)
        s = sched.SequentialLR(
            opt,
            [sched.LinearLR(opt, 0.1, total_iters=2), sched.CosineAnnealingLR(opt, T_max=6)],
            milestones=[2],
        )
        return m, opt, s

    def train(m: Any, opt: Any, s: Any, start: int, stop: int) -> list[float]:
        out = []
        for i in range(start, stop):
            x, y = _batch(i)
            opt.zero_grad()
            loss = F.cross_entropy(m(torch.tensor(x)), torch.tensor(y))
            loss.backward()
            opt.step()
            s.step()
            out.append(loss.item())
        return out

    straight = train(*make(), 0, 6)
    m1, opt1, s1 = make()
    first = train(m1, opt1, s1, 0, split)
    buf = io.BytesIO()
    torch.save({"model": m1.state_dict(), "opt": opt1.state_dict(), "sch": s1.state_dict()}, buf)
    buf.seek(0)
    ck = torch.load(buf)
    m2, opt2, s2 = make()
    m2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["opt"])
    s2.load_state_dict(ck["sch"])
    second = train(m2, opt2, s2, split, 6)
    return {"straight": straight, "resumed": first + second, "lr": s2.get_last_lr()}


@pytest.mark.parametrize("opt_name", ["adamw", "sgd", "rmsprop"])
def test_resume_mid_training_is_identical(opt_name: str) -> None:
    r = program_resume(dm, opt_name)
    assert r["resumed"] == r["straight"]  # bit for bit, as in PyTorch
    close(r["straight"], f"resume_{opt_name}")
    close(r["lr"], f"resume_{opt_name}_lr", rtol=1e-12, atol=0)


# ---- (10) a user-written Optimizer subclass and LRScheduler subclasses ----------------------


def program_custom_opt(torch: Any) -> dict[str, Any]:
    nn = torch.nn
    F = torch.nn.functional  # noqa: N806 (PyTorch code spells it F)

    class MySGDW(torch.optim.Optimizer):
        def __init__(
            self, params: Any, lr: float = 1e-2, momentum: float = 0.9, weight_decay: float = 0.0
        ) -> None:
            defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay)
            super().__init__(params, defaults)

        @torch.no_grad()
        def step(self, closure: Any = None) -> Any:
            loss = None
            if closure is not None:
                with torch.enable_grad():
                    loss = closure()
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state[p]
                    if len(state) == 0:
                        state["step"] = 0
                        state["momentum_buffer"] = torch.clone(p.grad).detach()
                    else:
                        state["momentum_buffer"].mul_(group["momentum"]).add_(p.grad, alpha=1.0)
                    state["step"] += 1
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                    p.add_(state["momentum_buffer"], alpha=-group["lr"])
            return loss

    class WarmupCosine(torch.optim.lr_scheduler._LRScheduler):
        def __init__(self, optimizer: Any, warmup: int, total: int, last_epoch: int = -1) -> None:
            self.warmup, self.total = warmup, total
            super().__init__(optimizer, last_epoch)

        def get_lr(self) -> list[float]:
            e = self.last_epoch
            if e < self.warmup:
                return [b * (e + 1) / self.warmup for b in self.base_lrs]
            prog = (e - self.warmup) / max(1, self.total - self.warmup)
            return [b * 0.5 * (1 + math.cos(math.pi * prog)) for b in self.base_lrs]

    class Poly(torch.optim.lr_scheduler.LRScheduler):
        def __init__(self, optimizer: Any, power: float, total: int) -> None:
            self.power, self.total = power, total
            super().__init__(optimizer)

        def get_lr(self) -> list[float]:
            frac = 1 - min(self.last_epoch, self.total) / self.total
            return [b * frac**self.power for b in self.base_lrs]

    rng = np.random.default_rng(3)
    x = torch.tensor(rng.standard_normal((16, 5)).astype(np.float32))
    y = torch.tensor(rng.standard_normal((16, 1)).astype(np.float32))
    m = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1))
    numpy_init(torch, m, 2)
    opt = MySGDW(
        [{"params": m[0].parameters()}, {"params": m[2].parameters(), "lr": 0.05}],
        lr=0.1,
        weight_decay=0.01,
    )
    sch = WarmupCosine(opt, warmup=3, total=8)
    losses, lrs = [], [list(sch.get_last_lr())]
    for _ in range(8):

        def closure() -> Any:
            opt.zero_grad()
            loss = F.mse_loss(m(x), y)
            loss.backward()
            return loss

        losses.append(opt.step(closure).item())
        sch.step()
        lrs.append(list(sch.get_last_lr()))
    opt2 = torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=1.0)
    poly = Poly(opt2, power=2.0, total=5)
    poly_lrs = []
    for _ in range(6):
        opt2.step()
        poly.step()
        poly_lrs.append(poly.get_last_lr()[0])
    sd = opt.state_dict()
    return {
        "losses": losses,
        "lrs": lrs,
        "poly": poly_lrs,
        "steps": [sd["state"][i]["step"] for i in range(4)],
        "params": [g["params"] for g in sd["param_groups"]],
        "initial_lr": [g["initial_lr"] for g in opt.param_groups],
    }


def test_custom_optimizer_and_scheduler_subclasses() -> None:
    r = program_custom_opt(dm)
    close(r["losses"], "custom_opt_losses")
    close(r["lrs"], "custom_opt_lrs", rtol=1e-12, atol=0)
    close(r["poly"], "custom_opt_poly", rtol=1e-12, atol=0)
    assert r["steps"] == [8, 8, 8, 8]
    assert r["params"] == [[0, 1], [2, 3]]
    assert r["initial_lr"] == [0.1, 0.05]


# ---- (11) gradient checkpointing (use_reentrant both ways), checkpoint_sequential ------------


def program_ckpt(torch: Any, reentrant: bool) -> dict[str, Any]:
    nn = torch.nn
    F = torch.nn.functional  # noqa: N806 (PyTorch code spells it F)
    cp = torch.utils.checkpoint

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln = nn.LayerNorm(8)
            self.fc1 = nn.Linear(8, 16)
            self.fc2 = nn.Linear(16, 8)

        def forward(self, x: Any, scale: float = 1.0) -> Any:
            return x + scale * self.fc2(F.gelu(self.fc1(self.ln(x))))

    class Net(nn.Module):
        def __init__(self, use_ckpt: bool) -> None:
            super().__init__()
            self.bn = nn.BatchNorm1d(8)
            self.blocks = nn.ModuleList([Block() for _ in range(3)])
            self.head = nn.Linear(8, 2)
            self.use_ckpt = use_ckpt

        def forward(self, x: Any) -> Any:
            x = self.bn(x)
            for b in self.blocks:
                x = (
                    cp.checkpoint(b, x, 0.5, use_reentrant=reentrant)
                    if self.use_ckpt
                    else b(x, 0.5)
                )
            return self.head(x)

    rng = np.random.default_rng(2)
    xs = rng.standard_normal((6, 8)).astype(np.float32)
    ys = torch.tensor(rng.integers(0, 2, 6))
    res: dict[str, Any] = {}
    for use in (False, True):
        m = Net(use)
        numpy_init(torch, m, 5)
        opt = torch.optim.Adam(m.parameters(), lr=1e-2)
        losses = []
        for _ in range(3):
            opt.zero_grad()
            loss = F.cross_entropy(m(torch.tensor(xs)), ys)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        res[f"losses_{use}"] = losses
        res[f"nbt_{use}"] = int(m.bn.num_batches_tracked.item())  # BN ran once per step
    seq = nn.Sequential(*[nn.Sequential(nn.Linear(8, 8), nn.Tanh()) for _ in range(4)])
    numpy_init(torch, seq, 9)
    x = torch.tensor(xs, requires_grad=True)
    out = cp.checkpoint_sequential(seq, 2, x, use_reentrant=reentrant)
    out.sum().backward()
    res["seq_gx"] = to_np(x.grad)[0]
    return res


@pytest.mark.parametrize("reentrant", [False, True])
def test_gradient_checkpointing(reentrant: bool) -> None:
    r = program_ckpt(dm, reentrant)
    assert r["losses_True"] == r["losses_False"]
    close(r["losses_True"], "ckpt_losses")
    close(r["seq_gx"], "ckpt_seq_gx")
    assert r["nbt_True"] == r["nbt_False"] == 3


# ---- (12) data: collate_fn padding, default_collate/convert, random_split, samplers ----------

_Point = namedtuple("_Point", ["x", "y"])


class _Items(dm.data.Dataset):
    """Samples of every kind a dataset returns: arrays, ints, floats, strings, tuples."""

    def __len__(self) -> int:
        return 5

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {
            "x": np.full((2,), i, np.float32),
            "y": i,
            "f": i / 2,
            "name": f"s{i}",
            "t": (np.int64(i), [i, i + 1]),
            "p": _Point(np.float32(i), i),
        }


def test_batch_size_none_turns_tuples_into_lists_like_torch() -> None:
    """PyTorch's ``default_convert`` returns a plain tuple as a list ("backwards
    compatibility"), so ``batch[0] = batch[0].to(device)`` works on a ``batch_size=None``
    sample; namedtuples keep their type. (Found by these programs; torch: ``['one', 0]``.)"""

    class Pairs(dm.data.Dataset):
        def __len__(self) -> int:
            return 3

        def __getitem__(self, i: int) -> tuple[Any, int]:
            return np.float32(i), i

    first = next(iter(dm.data.DataLoader(Pairs(), batch_size=None)))
    assert isinstance(first, list) and len(first) == 2
    assert isinstance(first[0], dm.Tensor) and first[0].dtype == dm.float32
    first[0] = first[0] * 2  # a list can be updated in place
    sample = next(iter(dm.data.DataLoader(_Items(), batch_size=None)))
    assert isinstance(sample["t"], list) and isinstance(sample["t"][0], dm.Tensor)
    assert sample["t"][1] == [0, 1]  # a list's Python ints stay
    assert type(sample["p"]) is _Point and isinstance(sample["p"].x, dm.Tensor)
    assert dm.data.default_convert(("a", np.int64(3)))[0] == "a"


def test_default_collate_structures_like_torch() -> None:
    (batch, *_) = dm.data.DataLoader(_Items(), batch_size=2)
    assert batch["x"].shape == (2, 2) and batch["x"].dtype == dm.float32
    assert batch["y"].tolist() == [0, 1] and batch["y"].dtype == dm.int64
    assert batch["f"].dtype == dm.float64 and batch["name"] == ["s0", "s1"]
    assert isinstance(batch["t"], list) and batch["t"][0].dtype == dm.int64
    assert [t.tolist() for t in batch["t"][1]] == [[0, 1], [1, 2]]
    assert type(batch["p"]) is _Point and batch["p"].x.dtype == dm.float32


def test_collate_fn_padding_and_samplers() -> None:
    data = dm.utils.data
    seqs = [[3, 1, 4], [1], [5, 9, 2, 6], [5, 3]]

    def collate(batch: list[Any]) -> Any:
        lens = dm.tensor([len(s) for s in batch])
        return dm.nn.utils.rnn.pad_sequence([dm.tensor(s) for s in batch], batch_first=True), lens

    padded, lens = next(iter(data.DataLoader(seqs, batch_size=3, collate_fn=collate)))
    assert padded.tolist() == [[3, 1, 4, 0], [1, 0, 0, 0], [5, 9, 2, 6]]
    assert lens.tolist() == [3, 1, 4]
    # torch: random_split's fractions hand the remainder out round-robin
    for fracs, sizes in (([0.33, 0.33, 0.34], [4, 3, 3]), ([0.5, 0.25, 0.25], [6, 2, 2])):
        parts = data.random_split(range(10), fracs, generator=dm.Generator().manual_seed(0))
        assert [len(p) for p in parts] == sizes
        assert sorted(i for p in parts for i in p) == list(range(10))
    # class-balanced sampling: zero-weight items are never drawn
    s = list(data.WeightedRandomSampler([0.0, 1.0, 3.0, 0.0], 400, replacement=True))
    counts = np.bincount(s, minlength=4)
    assert len(s) == 400 and counts[0] == counts[3] == 0 and 200 < counts[2] < 360
    assert sorted(data.WeightedRandomSampler([1.0, 1.0, 2.0, 0.5, 1.0], 5, False)) == [
        0,
        1,
        2,
        3,
        4,
    ]


# ---- (13) IterableDataset with num_workers: one stream per worker, round-robin --------------


class _Sharded(dm.data.IterableDataset):
    """Shards itself by ``get_worker_info()`` (PyTorch's documented pattern 1)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self) -> Any:
        info = dm.data.get_worker_info()
        wid, nw = (0, 1) if info is None else (info.id, info.num_workers)
        for i in range(wid, self.n, nw):
            yield {"i": i, "w": wid}


class _Range(dm.data.IterableDataset):
    """``range(start, end)``, split between the workers in contiguous blocks."""

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end

    def __iter__(self) -> Any:
        info = dm.data.get_worker_info()
        s, e = self.start, self.end
        if info is not None:
            per = math.ceil((self.end - self.start) / info.num_workers)
            s = self.start + info.id * per
            e = min(s + per, self.end)
        return iter(range(s, e))


def test_iterable_dataset_workers_stream_round_robin_like_torch() -> None:
    """Found by these programs: the loader used to read an ``IterableDataset`` in the main
    thread whatever ``num_workers`` was (``get_worker_info()`` None, ``worker_init_fn`` never
    run), so batch order and contents differed from PyTorch's. Expected values: torch 2.15."""
    dl = dm.data.DataLoader
    got = [(b["i"].tolist(), b["w"].tolist()) for b in dl(_Sharded(11), 2, num_workers=3)]
    assert got == [
        ([0, 3], [0, 0]),
        ([1, 4], [1, 1]),
        ([2, 5], [2, 2]),
        ([6, 9], [0, 0]),
        ([7, 10], [1, 1]),
        ([8], [2]),  # each worker batches its own stream: short batches at each one's end
    ]
    assert [b.tolist() for b in dl(_Range(3, 10), batch_size=2, num_workers=2)] == [
        [3, 4],
        [7, 8],
        [5, 6],
        [9],
    ]
    assert [int(b["i"]) for b in dl(_Sharded(7), batch_size=None, num_workers=2)] == list(range(7))
    assert [b.tolist() for b in dl(_Range(3, 10), batch_size=2)] == [[3, 4], [5, 6], [7, 8], [9]]


def test_iterable_dataset_workers_copy_run_init_fn_and_duplicate_unsharded() -> None:
    class Unsharded(dm.data.IterableDataset):
        def __iter__(self) -> Any:
            return iter(range(5))

    dl = dm.data.DataLoader
    # torch documents it: a dataset that does not shard is read once per worker
    assert [b.tolist() for b in dl(Unsharded(), batch_size=2, num_workers=2)] == [
        [0, 1], [0, 1], [2, 3], [2, 3], [4], [4]
    ]  # fmt: skip
    dropped = dl(Unsharded(), batch_size=2, num_workers=3, drop_last=True)
    assert [b.tolist() for b in dropped] == [[0, 1]] * 3 + [[2, 3]] * 3

    def init_fn(worker_id: int) -> None:  # PyTorch's documented pattern 2, on top of 1
        info = dm.data.get_worker_info()
        ds = info.dataset
        per = math.ceil((10 - 3) / info.num_workers)
        ds.start = 3 + worker_id * per
        ds.end = min(ds.start + per, 10)

    ds = _Range(3, 10)
    got = [int(b) for b in dl(ds, batch_size=None, num_workers=2, worker_init_fn=init_fn)]
    assert sorted(got) == [3, 4, 9]  # torch: both shardings apply, on the worker's copy
    assert (ds.start, ds.end) == (3, 10)


def test_iterable_dataset_workers_errors_breaks_and_epochs() -> None:
    class Bad(dm.data.IterableDataset):
        def __iter__(self) -> Any:
            info = dm.data.get_worker_info()
            yield 1
            if info is not None and info.id == 1:
                raise ValueError("boom")
            yield 2

    got = []
    with pytest.raises(ValueError, match="boom"):
        for b in dm.data.DataLoader(Bad(), batch_size=1, num_workers=2):
            got.append(b.tolist())
    assert got == [[1], [1], [2]]  # the error comes in its batch's place, as in torch
    loader = dm.data.DataLoader(_Sharded(20), batch_size=2, num_workers=2)
    for i, _ in enumerate(loader):
        if i == 1:
            break
    assert [b["i"].tolist() for b in loader][:4] == [[0, 2], [1, 3], [4, 6], [5, 7]]
    epochs = dm.data.DataLoader(_Sharded(6), 2, num_workers=2, persistent_workers=True)
    for _ in range(2):
        got = [b["i"].tolist() for b in epochs]  # (not in the assert: pytest keeps its parts)
        assert got == [[0, 2], [1, 3], [4], [5]]
    del epochs  # persistent workers live as long as their loader

    class Endless(dm.data.IterableDataset):
        def __iter__(self) -> Any:
            return itertools.count()

    it = iter(dm.data.DataLoader(Endless(), batch_size=4, num_workers=2))
    assert [next(it).tolist() for _ in range(3)] == [[0, 1, 2, 3], [0, 1, 2, 3], [4, 5, 6, 7]]
    del it
    gc.collect()  # the ValueError's traceback above held the first loader's frames
    streams = [t for t in threading.enumerate() if t.name.startswith("dm-stream-")]
    for t in streams:
        t.join(timeout=5)  # dropping the iterator stops its workers
    assert not any(t.is_alive() for t in streams)


# ---- PyTorch 2.15's numbers (written by a script that ran the programs above with torch) -----

EXPECTED: dict[str, Any] = {
    "wgan_adam_d": [
        9.057552337646484,
        8.911602020263672,
        9.089083671569824,
        8.985177040100098,
        9.088491439819336,
        8.766005516052246,
    ],
    "wgan_adam_g": [
        0.017343558371067047,
        0.029707403853535652,
        0.021371301263570786,
        0.031687963753938675,
        0.023510795086622238,
        0.024115391075611115,
    ],
    "wgan_adam_gp": [
        0.90181565284729,
        0.887378454208374,
        0.9044543504714966,
        0.8955919742584229,
        0.9036433696746826,
        0.869973361492157,
    ],
    "wgan_adam_gen_w": [
        [
            -0.22378261387348175,
            -0.09585742652416229,
            0.21950772404670715,
            0.14561760425567627,
            -0.23826399445533752,
            -0.09695138782262802,
            -0.23944607377052307,
            0.16096509993076324,
            -0.18876750767230988,
            -0.21568000316619873,
            0.24646280705928802,
            -0.02249780483543873,
            -0.08716321736574173,
            -0.21995186805725098,
            -0.04914158955216408,
            -0.062012068927288055,
        ],
        [
            0.017008770257234573,
            -0.24051596224308014,
            -0.17009668052196503,
            -0.1391465961933136,
            -0.023956971243023872,
            -0.09244823455810547,
            0.06271859258413315,
            -0.10182482749223709,
            0.21082492172718048,
            0.23711352050304413,
            -0.21417683362960815,
            -0.1399129182100296,
            0.03678566962480545,
            0.14131584763526917,
            -0.211934432387352,
            -0.15243665874004364,
        ],
    ],
    "wgan_adam_grad": [
        [
            -0.08292494714260101,
            0.050996799021959305,
            -0.012247860431671143,
            -0.18245813250541687,
            -0.2018980085849762,
            0.005283443257212639,
            0.011730976402759552,
            -0.08269055932760239,
            0.01848001219332218,
            -0.1061541885137558,
            0.04122719168663025,
            -0.0674809142947197,
            0.044671155512332916,
            0.026786617934703827,
            0.011147333309054375,
            -0.34605860710144043,
        ],
        [
            -0.04226314276456833,
            0.026980582624673843,
            -0.005413888022303581,
            -0.09680447727441788,
            -0.1074715256690979,
            0.0037242048420011997,
            0.007023944519460201,
            -0.04406766965985298,
            0.011487842537462711,
            -0.05647117644548416,
            0.02484229952096939,
            -0.034578271210193634,
            0.02336396835744381,
            0.015122396871447563,
            0.008818348869681358,
            -0.18372757732868195,
        ],
    ],
    "wgan_adam_frozen_grad": [
        [0.13946542143821716, 0.2539810240268707],
        [-0.024703362956643105, -0.18624868988990784],
        [0.05824385583400726, 0.17770077288150787],
        [0.04860016703605652, 0.39980241656303406],
        [0.020996175706386566, -0.7186272740364075],
        [-0.07947085797786713, -0.20373497903347015],
        [0.10588537901639938, 0.13242711126804352],
        [-0.054073333740234375, 0.3305675983428955],
        [-0.11367309093475342, -0.24123065173625946],
        [-0.002996772527694702, 1.130801796913147],
        [-0.02096770517528057, -0.2008238285779953],
        [-0.07849293202161789, 0.0022628174629062414],
        [-0.04583645984530449, -0.15877115726470947],
        [0.04155706986784935, 0.03665004298090935],
        [0.052434906363487244, -0.2401561439037323],
        [0.19548805058002472, 1.184209942817688],
    ],
    "wgan_rmsprop_d": [
        9.057552337646484,
        8.64084243774414,
        8.706016540527344,
        8.330028533935547,
        8.531450271606445,
        7.953110694885254,
    ],
    "wgan_rmsprop_g": [
        0.020461469888687134,
        0.03395278379321098,
        0.023997880518436432,
        0.03433821350336075,
        0.024853184819221497,
        0.022034887224435806,
    ],
    "wgan_rmsprop_gp": [
        0.90181565284729,
        0.8586421012878418,
        0.8622254133224487,
        0.8256740570068359,
        0.84185791015625,
        0.7798808813095093,
    ],
    "wgan_rmsprop_gen_w": [
        [
            -0.2131621241569519,
            -0.08208216726779938,
            0.23300184309482574,
            0.16278715431690216,
            -0.2258644700050354,
            -0.08290334045886993,
            -0.22465628385543823,
            0.17595794796943665,
            -0.17503882944583893,
            -0.2033776491880417,
            0.25882208347320557,
            -0.011823014356195927,
            -0.07547686249017715,
            -0.2054789662361145,
            -0.03533652424812317,
            -0.05150355026125908,
        ],
        [
            0.028396248817443848,
            -0.2260909378528595,
            -0.15611781179904938,
            -0.12611621618270874,
            -0.010052029974758625,
            -0.07765903323888779,
            0.07684578001499176,
            -0.0903993546962738,
            0.22665084898471832,
            0.2535562813282013,
            -0.1983409821987152,
            -0.12803691625595093,
            0.048662446439266205,
            0.1560247838497162,
            -0.1971907764673233,
            -0.1415015459060669,
        ],
    ],
    "wgan_rmsprop_grad": [
        [
            -0.08292494714260101,
            0.050996799021959305,
            -0.012247860431671143,
            -0.18245813250541687,
            -0.2018980085849762,
            0.005283443257212639,
            0.011730976402759552,
            -0.08269055932760239,
            0.01848001219332218,
            -0.1061541885137558,
            0.04122719168663025,
            -0.0674809142947197,
            0.044671155512332916,
            0.026786617934703827,
            0.011147333309054375,
            -0.34605860710144043,
        ],
        [
            -0.04226314276456833,
            0.026980582624673843,
            -0.005413888022303581,
            -0.09680447727441788,
            -0.1074715256690979,
            0.0037242048420011997,
            0.007023944519460201,
            -0.04406766965985298,
            0.011487842537462711,
            -0.05647117644548416,
            0.02484229952096939,
            -0.034578271210193634,
            0.02336396835744381,
            0.015122396871447563,
            0.008818348869681358,
            -0.18372757732868195,
        ],
    ],
    "wgan_rmsprop_frozen_grad": [
        [0.07868695259094238, 0.3216676115989685],
        [-0.015059739351272583, -0.3778468668460846],
        [0.026950877159833908, 0.2407987117767334],
        [0.026412948966026306, 0.7063294649124146],
        [0.07428950071334839, -0.440313458442688],
        [-0.038273438811302185, -0.3129889965057373],
        [0.04296986758708954, 0.11914058029651642],
        [-0.09752526134252548, 0.407389760017395],
        [-0.06657131016254425, -0.3255026936531067],
        [-0.0684637725353241, 1.4079116582870483],
        [-0.006570242345333099, -0.31375211477279663],
        [-0.02787720039486885, 0.07839690148830414],
        [0.0017856070771813393, -0.1697666347026825],
        [0.006128375418484211, -0.008192822337150574],
        [0.03413400799036026, -0.3152884840965271],
        [0.10905733704566956, 1.3700464963912964],
    ],
    "resnet_onecycle_losses": [
        0.9359832406044006,
        1.0647625923156738,
        1.1418826580047607,
        0.9840396642684937,
        1.180936574935913,
        0.730717122554779,
        0.931149423122406,
        0.7065611481666565,
        0.47635334730148315,
        0.6346743702888489,
        0.5077704191207886,
        0.6116055846214294,
        0.4833362102508545,
        0.35066962242126465,
        0.4939132034778595,
    ],
    "resnet_onecycle_evals": [1.1306577920913696, 1.1694331169128418, 1.1756783723831177],
    "resnet_onecycle_rm": [
        -0.4717605710029602,
        0.32289600372314453,
        -0.3146684467792511,
        -0.11960534751415253,
        0.4685850739479065,
        -0.024190500378608704,
        0.0711943730711937,
        -0.12107670307159424,
        0.35570386052131653,
        -0.050352782011032104,
        0.7680116891860962,
        0.47156551480293274,
        -0.12608209252357483,
        -0.358247846364975,
        0.2775011360645294,
        -0.7126728892326355,
    ],
    "resnet_onecycle_rv": [
        0.7570399045944214,
        0.511216402053833,
        0.5711031556129456,
        0.5595197677612305,
        0.7668911814689636,
        0.647598922252655,
        0.5508798360824585,
        0.49467965960502625,
        0.6959586143493652,
        0.6832103729248047,
        0.8506773114204407,
        0.7618679404258728,
        0.6972655653953552,
        0.4931356906890869,
        0.5105728507041931,
        0.6291114687919617,
    ],
    "resnet_onecycle_lrs": [
        0.0022072489510780785,
        0.006268100482990309,
        0.009524650565931611,
        0.009944154354509118,
        0.009504846320134737,
        0.008665264698111694,
        0.00750001,
        0.0061126202193628925,
        0.00462637102666975,
        0.0031733221849885125,
        0.00188258346050237,
        0.000868842653195513,
        0.0002221750825254118,
        4e-08,
        0.00022217508252541236,
    ],
    "resnet_onecycle_moms": [
        0.9311744900929366,
        0.8888739533021842,
        0.854951556604879,
        0.8505584586887436,
        0.854951556604879,
        0.8633474064085087,
        0.875,
        0.8888739533021842,
        0.9037365046793212,
        0.9182670512183198,
        0.9311744900929366,
        0.9413119387157997,
        0.947778640289307,
        0.95,
        0.947778640289307,
    ],
    "resnet_cawr_losses": [
        0.9359832406044006,
        1.067526936531067,
        1.1652742624282837,
        0.9307813048362732,
        1.1856703758239746,
        0.5844902992248535,
        0.7733105421066284,
        0.7461125254631042,
        0.5810162425041199,
        0.7903586626052856,
        0.4755610525608063,
        0.6303228139877319,
        0.5514740943908691,
        0.46838873624801636,
        0.6380658149719238,
    ],
    "resnet_cawr_evals": [1.1254044771194458, 1.1638588905334473, 1.188561201095581],
    "resnet_cawr_rm": [
        -0.27389591932296753,
        0.31165415048599243,
        -0.2863803207874298,
        -0.15123426914215088,
        0.3133620023727417,
        0.13363219797611237,
        -0.05702926218509674,
        -0.02833683416247368,
        0.3284514248371124,
        -0.1029694601893425,
        0.7956565618515015,
        0.33508551120758057,
        -0.08945629745721817,
        -0.2668006122112274,
        0.192327082157135,
        -0.4972670078277588,
    ],
    "resnet_cawr_rv": [
        0.6892438530921936,
        0.4338906705379486,
        0.5188789963722229,
        0.48278146982192993,
        0.6103653311729431,
        0.5754758715629578,
        0.4566440284252167,
        0.47187352180480957,
        0.6891268491744995,
        0.6277075409889221,
        0.7236264944076538,
        0.6251195073127747,
        0.7080614566802979,
        0.45522579550743103,
        0.49183252453804016,
        0.5443065762519836,
    ],
    "resnet_cawr_lrs": [
        0.003,
        0.002981594069189731,
        0.0029268294918612546,
        0.00283705475366161,
        0.0027144804065905464,
        0.0025621246378738885,
        0.0023837389521772475,
        0.0021837157971106224,
        0.0019669804065905465,
        0.0017388695252351454,
        0.001505,
        0.0012711304747648547,
        0.0010430195934094538,
        0.0008262842028893777,
        0.0006262610478227528,
    ],
    "resnet_cawr_moms": [0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9],
    "packed_LSTM_True_losses": [
        1.1024987697601318,
        1.0981229543685913,
        1.0938011407852173,
        1.0890955924987793,
    ],
    "packed_LSTM_True_padded_row": [
        [
            -0.050970181822776794,
            -0.026598718017339706,
            -0.01101733185350895,
            0.006136380136013031,
            0.0342974029481411,
            -0.004853217396885157,
            0.05939522758126259,
            -0.04930116608738899,
            -0.05508684739470482,
            -0.031560882925987244,
        ],
        [
            -0.06969676166772842,
            -0.03650965914130211,
            -0.011941315606236458,
            0.012366139329969883,
            0.05043544992804527,
            0.001894391723908484,
            0.03295263275504112,
            -0.02715570293366909,
            -0.04019349813461304,
            -0.01567739062011242,
        ],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    ],
    "packed_GRU_True_losses": [
        1.101560354232788,
        1.0929536819458008,
        1.0856504440307617,
        1.0785540342330933,
    ],
    "packed_GRU_True_padded_row": [
        [
            0.06538709998130798,
            0.004107101820409298,
            -0.017365962266921997,
            -0.07792669534683228,
            -0.004227983299642801,
            0.055324528366327286,
            -0.0019045587396249175,
            -0.038283441215753555,
            -0.047363944351673126,
            0.03735985606908798,
        ],
        [
            0.0936790257692337,
            -0.03401900827884674,
            -0.028363481163978577,
            -0.12793298065662384,
            0.017344150692224503,
            0.01890905201435089,
            -0.0005872648907825351,
            -0.018744226545095444,
            -0.028519567102193832,
            0.04207321256399155,
        ],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
    ],
    "packed_GRU_False_losses": [
        1.0976603031158447,
        1.0886096954345703,
        1.0795297622680664,
        1.070218801498413,
    ],
    "packed_GRU_False_padded_row": [
        [
            0.022372780367732048,
            -0.02412422187626362,
            0.0023319863248616457,
            0.045719850808382034,
            -0.014470105059444904,
        ],
        [
            0.07371845096349716,
            -0.08905429393053055,
            0.11219310015439987,
            0.007808413356542587,
            0.06988083571195602,
        ],
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0],
    ],
    "kd_True_losses": [
        0.4908689260482788,
        0.5157961845397949,
        0.5135175585746765,
        0.4871979355812073,
        0.5094954371452332,
        0.5034587979316711,
    ],
    "kd_True_softs": [
        [0.024797087535262108, 0.024797087535262108],
        [0.02514791116118431, 0.02514791116118431],
        [0.02442868798971176, 0.02442868798971176],
        [0.022477876394987106, 0.022477876394987106],
        [0.021383121609687805, 0.021383121609687805],
        [0.021559065207839012, 0.021559065207839012],
    ],
    "kd_kl_sum": 2.4606246948242188,
    "kd_ce_ls_w": [1.306518316268921, 4.109264850616455, 0.0, 1.20599365234375],
    "kd_ce_ls_w_mean": 1.4715059995651245,
    "kd_ce_prob": 3.7138216495513916,
    "kd_False_losses": [
        0.8017231225967407,
        0.8438870310783386,
        0.8424903154373169,
        0.7926079630851746,
        0.833809494972229,
        0.8238534927368164,
    ],
    "kd_False_softs": [
        [0.02507641538977623, 0.02507641538977623],
        [0.025634154677391052, 0.025634154677391052],
        [0.025705162435770035, 0.025705162435770035],
        [0.023354846984148026, 0.023354846984148026],
        [0.023111820220947266, 0.023111820220947266],
        [0.024854525923728943, 0.024854525923728943],
    ],
    "accum_fp32_losses": [
        1.5521408915519714,
        1.5619145035743713,
        1.1607820987701416,
        1.485088974237442,
        1.0437830686569214,
        1.343321442604065,
        1.4411652982234955,
        1.373576045036316,
        1.182979255914688,
        1.3663926422595978,
        1.291335940361023,
        1.1457120180130005,
    ],
    "accum_fp32_norms": [
        1.0506476163864136,
        1.3071991205215454,
        1.241227626800537,
        1.2151832580566406,
    ],
    "accum_fp32_w": [
        [
            0.18061736226081848,
            -0.14578352868556976,
            0.20840410888195038,
            0.03527139127254486,
            -0.015345344319939613,
            0.13630886375904083,
            0.1142144650220871,
            -0.16227804124355316,
            -0.11440951377153397,
            0.16409224271774292,
            0.16386300325393677,
            0.15513606369495392,
            -0.19120855629444122,
            0.004647973459213972,
            -0.08430467545986176,
            0.012810696847736835,
            -0.1707487255334854,
            0.12155016511678696,
            -0.17422963678836823,
            -0.10578233748674393,
            -0.11373559385538101,
            0.1580052673816681,
            -0.07514359802007675,
            -0.0838971957564354,
        ],
        [
            -0.08572348952293396,
            -0.02879345417022705,
            -0.004615117330104113,
            0.03899582847952843,
            -0.045933324843645096,
            0.09423477202653885,
            0.07762220501899719,
            -0.02642032317817211,
            -0.09968988597393036,
            0.12132515013217926,
            -0.037144944071769714,
            -0.04555688053369522,
            -0.010862469673156738,
            0.13897977769374847,
            0.08208996057510376,
            0.1838417649269104,
            -0.16324281692504883,
            -0.07690033316612244,
            -0.013184498064219952,
            -0.09366899728775024,
            0.1308654397726059,
            -0.18386203050613403,
            -0.11546492576599121,
            0.14120836555957794,
        ],
        [
            -0.17185662686824799,
            0.18912625312805176,
            -0.008855040185153484,
            0.18400441110134125,
            0.10871356725692749,
            0.04477110877633095,
            -0.09310350567102432,
            0.1140429675579071,
            -0.12096607685089111,
            -0.17508159577846527,
            -0.09940607100725174,
            -0.020795168355107307,
            -0.18919186294078827,
            -0.021775467321276665,
            0.028596311807632446,
            0.06391020119190216,
            0.0541551373898983,
            -0.20253223180770874,
            0.10390502214431763,
            -0.178328737616539,
            -0.0032739003654569387,
            -0.18756304681301117,
            -0.03320736810564995,
            -0.14483878016471863,
        ],
        [
            0.16463851928710938,
            0.16053304076194763,
            -0.09612753242254257,
            -0.1605578064918518,
            0.033107608556747437,
            0.029875019565224648,
            0.08063218742609024,
            -0.07732133567333221,
            0.1342364400625229,
            -0.1921786665916443,
            -0.06653009355068207,
            0.17149633169174194,
            -0.13868606090545654,
            -0.1093657910823822,
            0.08226656168699265,
            -0.08542973548173904,
            0.1005091592669487,
            -0.19653676450252533,
            -0.07227962464094162,
            0.13019588589668274,
            0.06475061178207397,
            0.006467876490205526,
            0.10283228009939194,
            -0.17224013805389404,
        ],
    ],
    "accum_bf16_losses": [
        1.5514293909072876,
        1.5612121224403381,
        1.160386472940445,
        1.4868797063827515,
        1.0446920692920685,
        1.3443602621555328,
        1.4397716224193573,
        1.3749808967113495,
        1.184253841638565,
        1.3673072755336761,
        1.2900628745555878,
        1.14887335896492,
    ],
    "accum_bf16_norms": [
        1.043812870979309,
        1.3095804452896118,
        1.240268349647522,
        1.2147282361984253,
    ],
    "accum_bf16_w": [
        [
            0.18068455159664154,
            -0.14573952555656433,
            0.20840758085250854,
            0.035269398242235184,
            -0.015276549383997917,
            0.13635092973709106,
            0.1140170618891716,
            -0.16225476562976837,
            -0.1144101619720459,
            0.1641129106283188,
            0.1630130410194397,
            0.15512533485889435,
            -0.1911516636610031,
            0.004503619857132435,
            -0.08430497348308563,
            0.01281357929110527,
            -0.17076438665390015,
            0.12152543663978577,
            -0.174153134226799,
            -0.10574901103973389,
            -0.11380717903375626,
            0.15800972282886505,
            -0.07518719136714935,
            -0.08380314707756042,
        ],
        [
            -0.08570381253957748,
            -0.028821686282753944,
            -0.004648186266422272,
            0.03898688778281212,
            -0.04594790190458298,
            0.09421920776367188,
            0.07759305089712143,
            -0.026396069675683975,
            -0.09964969754219055,
            0.12130089104175568,
            -0.03714470937848091,
            -0.04550696536898613,
            -0.010871388018131256,
            0.13893954455852509,
            0.08217640966176987,
            0.18382176756858826,
            -0.16321267187595367,
            -0.07682917267084122,
            -0.01318804919719696,
            -0.09366234391927719,
            0.13082703948020935,
            -0.18382889032363892,
            -0.11546873301267624,
            0.14119678735733032,
        ],
        [
            -0.17188304662704468,
            0.18912911415100098,
            -0.008812742307782173,
            0.1839967668056488,
            0.10872174054384232,
            0.04479154199361801,
            -0.09296181797981262,
            0.11402297019958496,
            -0.12110684812068939,
            -0.1750655323266983,
            -0.09939439594745636,
            -0.02070958912372589,
            -0.18923383951187134,
            -0.02174023911356926,
            0.028597921133041382,
            0.06398038566112518,
            0.05414707586169243,
            -0.20266468822956085,
            0.10390538722276688,
            -0.17830969393253326,
            -0.0033021343406289816,
            -0.18758422136306763,
            -0.03321071341633797,
            -0.14486122131347656,
        ],
        [
            0.1646396815776825,
            0.16055729985237122,
            -0.09607437998056412,
            -0.1605760157108307,
            0.03308079391717911,
            0.029858913272619247,
            0.08067937195301056,
            -0.07729984074831009,
            0.1342124491930008,
            -0.19218245148658752,
            -0.06657380610704422,
            0.17149528861045837,
            -0.1386641412973404,
            -0.10938694328069687,
            0.08235176652669907,
            -0.08542261272668839,
            0.10052075982093811,
            -0.19656330347061157,
            -0.0722307562828064,
            0.130178302526474,
            0.06474648416042328,
            0.006468749605119228,
            0.10283195972442627,
            -0.17224913835525513,
        ],
    ],
    "scaler_scales": [4.0, 8.0, 2.0, 2.0, 4.0, 4.0],
    "scaler_w": [
        [-0.08634956181049347, 0.3201506733894348, -0.7108891010284424],
        [-0.18634957075119019, 0.12015067040920258, -1.0108890533447266],
        [-0.18634957075119019, 0.12015067040920258, -1.0108890533447266],
        [-0.2863495647907257, -0.07984933257102966, -1.3108890056610107],
        [-0.38634955883026123, -0.2798493504524231, -1.610888957977295],
        [-0.48634955286979675, -0.47984933853149414, -1.910888910293579],
    ],
    "scaler_sd": {
        "scale": 4.0,
        "growth_factor": 2.0,
        "backoff_factor": 0.25,
        "growth_interval": 2,
        "_growth_tracker": 1,
    },
    "unet_bilinear_losses": [
        [0.8958415389060974, 0.4966830015182495],
        [0.839497983455658, 0.47535425424575806],
        [0.8086108565330505, 0.4595097303390503],
        [0.7739487290382385, 0.43827879428863525],
    ],
    "unet_bilinear_out": [
        [0.1535375565290451, 0.13613125681877136, 0.12867264449596405],
        [0.15939822793006897, 0.15872876346111298, 0.12536266446113586],
        [0.15142029523849487, 0.1742216944694519, 0.14270488917827606],
    ],
    "unet_transpose_losses": [
        [0.8603433966636658, 0.4539978504180908],
        [0.7987666130065918, 0.4305994510650635],
        [0.7540290951728821, 0.4107450842857361],
        [0.7259516716003418, 0.3953430652618408],
    ],
    "unet_transpose_out": [
        [0.1969742476940155, 0.18662813305854797, 0.17385494709014893],
        [0.18425950407981873, 0.2015397697687149, 0.14992476999759674],
        [0.19268016517162323, 0.20502294600009918, 0.16877521574497223],
    ],
    "custom_losses": [
        [1.385746955871582, 2.419207811355591],
        [1.340613842010498, 2.3955740928649902],
        [1.302413821220398, 2.373383045196533],
        [1.2637696266174316, 2.352421760559082],
    ],
    "custom_dw": [
        [-0.2352607399225235, 0.36265042424201965, 0.21149519085884094],
        [-0.10383477061986923, 0.057304903864860535, -0.07397108525037766],
        [-0.08161931484937668, 0.042193859815597534, -0.3091377019882202],
    ],
    "mha_bool_losses": [0.2157287299633026, 0.21120969951152802, 0.2083704173564911],
    "mha_bool_w": [
        [
            [0.40581390261650085, 0.5941861271858215, 0.0, 0.0, 0.0],
            [0.475337952375412, 0.311811625957489, 0.212850421667099, 0.0, 0.0],
            [0.3697851598262787, 0.32365477085113525, 0.30656003952026367, 0.0, 0.0],
            [0.37164729833602905, 0.2863186299800873, 0.34203410148620605, 0.0, 0.0],
        ],
        [
            [0.44050469994544983, 0.5594953298568726, 0.0, 0.0, 0.0],
            [0.25285249948501587, 0.38895857334136963, 0.3581889271736145, 0.0, 0.0],
            [0.21290889382362366, 0.26119616627693176, 0.2953850030899048, 0.230509951710701, 0.0],
            [
                0.2343638837337494,
                0.19227394461631775,
                0.2053399384021759,
                0.20499210059642792,
                0.16303013265132904,
            ],
        ],
        [
            [0.5693122148513794, 0.4306877851486206, 0.0, 0.0, 0.0],
            [0.3409884572029114, 0.2738279700279236, 0.38518357276916504, 0.0, 0.0],
            [
                0.23309698700904846,
                0.29664140939712524,
                0.19093237817287445,
                0.27932924032211304,
                0.0,
            ],
            [0.261191725730896, 0.31252321600914, 0.1814274787902832, 0.244857519865036, 0.0],
        ],
    ],
    "mha_float_losses": [0.21684721112251282, 0.21201632916927338, 0.20898345112800598],
    "mha_float_w": [
        [
            [0.4215708076953888, 0.5784292221069336, 0.0, 0.0, 0.0],
            [0.4774515926837921, 0.30203482508659363, 0.2205134928226471, 0.0, 0.0],
            [0.41832196712493896, 0.3190397024154663, 0.26263827085494995, 0.0, 0.0],
            [0.34048256278038025, 0.2542097866535187, 0.4053076505661011, 0.0, 0.0],
        ],
        [
            [0.4569873809814453, 0.5430126190185547, 0.0, 0.0, 0.0],
            [0.253462016582489, 0.37596046924591064, 0.37057751417160034, 0.0, 0.0],
            [
                0.2514271140098572,
                0.26818323135375977,
                0.26365557312965393,
                0.21673408150672913,
                0.0,
            ],
            [
                0.21392938494682312,
                0.16977299749851227,
                0.24351190030574799,
                0.2245866358280182,
                0.14819903671741486,
            ],
        ],
        [
            [0.5856105089187622, 0.41438955068588257, 0.0, 0.0, 0.0],
            [0.3402431309223175, 0.26335427165031433, 0.39640259742736816, 0.0, 0.0],
            [0.27192747592926025, 0.3007230758666992, 0.1681024432182312, 0.2592470347881317, 0.0],
            [
                0.23894469439983368,
                0.27734866738319397,
                0.21469026803970337,
                0.2690163850784302,
                0.0,
            ],
        ],
    ],
    "mha_3d_losses": [0.21572871506214142, 0.2112097144126892, 0.2083704173564911],
    "mha_3d_w": [
        [
            [
                [0.3247753977775574, 0.6752246022224426, 0.0, 0.0, 0.0],
                [0.5076422691345215, 0.2636922001838684, 0.2286655157804489, 0.0, 0.0],
                [0.42611974477767944, 0.30222922563552856, 0.2716509997844696, 0.0, 0.0],
                [0.3570685386657715, 0.23195381462574005, 0.41097766160964966, 0.0, 0.0],
            ],
            [
                [0.48685240745544434, 0.5131476521492004, 0.0, 0.0, 0.0],
                [0.4430336356163025, 0.35993102192878723, 0.19703534245491028, 0.0, 0.0],
                [0.31345057487487793, 0.34508034586906433, 0.34146904945373535, 0.0, 0.0],
                [0.3862260580062866, 0.3406834304332733, 0.27309057116508484, 0.0, 0.0],
            ],
        ],
        [
            [
                [0.44263067841529846, 0.5573693513870239, 0.0, 0.0, 0.0],
                [0.30118709802627563, 0.36259570717811584, 0.3362171947956085, 0.0, 0.0],
                [
                    0.23442113399505615,
                    0.2711000144481659,
                    0.271300345659256,
                    0.2231784611940384,
                    0.0,
                ],
                [
                    0.24682961404323578,
                    0.1829492151737213,
                    0.2347099781036377,
                    0.21682032942771912,
                    0.1186908707022667,
                ],
            ],
            [
                [0.4383787214756012, 0.5616213083267212, 0.0, 0.0, 0.0],
                [0.2045178860425949, 0.4153214693069458, 0.38016068935394287, 0.0, 0.0],
                [
                    0.19139665365219116,
                    0.25129231810569763,
                    0.319469690322876,
                    0.2378414422273636,
                    0.0,
                ],
                [
                    0.2218981683254242,
                    0.20159867405891418,
                    0.1759698987007141,
                    0.19316387176513672,
                    0.20736940205097198,
                ],
            ],
        ],
        [
            [
                [0.5976523756980896, 0.402347594499588, 0.0, 0.0, 0.0],
                [0.3729468286037445, 0.2896461486816406, 0.33740702271461487, 0.0, 0.0],
                [
                    0.24324272572994232,
                    0.3048080503940582,
                    0.19224147498607635,
                    0.25970780849456787,
                    0.0,
                ],
                [
                    0.26691973209381104,
                    0.24989788234233856,
                    0.23979952931404114,
                    0.2433827966451645,
                    0.0,
                ],
            ],
            [
                [0.540972113609314, 0.4590279459953308, 0.0, 0.0, 0.0],
                [0.30903005599975586, 0.25800976157188416, 0.4329601526260376, 0.0, 0.0],
                [
                    0.2229512333869934,
                    0.2884747385978699,
                    0.18962328135967255,
                    0.2989507019519806,
                    0.0,
                ],
                [
                    0.25546368956565857,
                    0.3751485347747803,
                    0.12305542081594467,
                    0.24633222818374634,
                    0.0,
                ],
            ],
        ],
    ],
    "groups_sgd_losses": [
        1.109078049659729,
        1.0930265188217163,
        1.0703063011169434,
        0.8831090331077576,
        1.0426948070526123,
        1.076139211654663,
        0.8091903924942017,
        0.9810526967048645,
    ],
    "groups_sgd_ema_out": [
        [-0.16626322269439697, 0.7387233972549438, -0.4160808324813843],
        [-0.20125576853752136, 0.4595766067504883, -0.3548520803451538],
        [-0.3040487468242645, 0.7875261306762695, -0.06597502529621124],
        [-0.23452362418174744, 0.5124261379241943, -0.0933624729514122],
        [-0.11435282230377197, 0.739063560962677, -0.08477900922298431],
        [0.08959838002920151, 0.5297659635543823, -0.2809486985206604],
        [-0.29719078540802, 0.6885520815849304, -0.21511223912239075],
        [-0.4735855460166931, 1.112498164176941, -0.3907621502876282],
    ],
    "groups_sgd_swa_out": [
        [-0.16106310486793518, 1.0541045665740967, -0.6572170853614807],
        [-0.3258706331253052, 0.4901539087295532, -0.586861252784729],
        [-0.3914210796356201, 1.1317644119262695, -0.3550780415534973],
        [-0.340010404586792, 0.5993338823318481, -0.21588671207427979],
        [-0.11707431077957153, 1.0391676425933838, -0.27034974098205566],
        [0.11310337483882904, 0.7389225959777832, -0.3926907181739807],
        [-0.4772964119911194, 0.8202553987503052, -0.5460188388824463],
        [-0.711151123046875, 1.4590568542480469, -0.9443928003311157],
    ],
    "groups_sgd_swa_rm": [
        0.2353271245956421,
        -0.11586127430200577,
        -0.0676940530538559,
        -0.0340997651219368,
        0.02960960566997528,
        -0.08255733549594879,
        -0.1340569704771042,
        0.00037906691431999207,
        0.043706078082323074,
        -0.060572363436222076,
        0.12985435128211975,
        0.029128454625606537,
    ],
    "groups_sgd_best": 1.0008127689361572,
    "groups_sgd_lrs": [
        [0.05, 0.2],
        [0.05, 0.2],
        [0.025, 0.1],
        [0.025, 0.1],
        [0.025, 0.1],
        [0.025, 0.1],
        [0.0125, 0.05],
        [0.0125, 0.05],
    ],
    "groups_sgd_num_bad": 0,
    "groups_adam_losses": [
        1.109078049659729,
        1.116041898727417,
        1.1072936058044434,
        0.8332013487815857,
        1.0332179069519043,
        1.091071367263794,
        0.7925077676773071,
        0.9856041669845581,
    ],
    "groups_adam_ema_out": [
        [-0.2862493395805359, 0.6978622674942017, -0.3469013273715973],
        [-0.26353514194488525, 0.46096500754356384, -0.4494647979736328],
        [-0.33689820766448975, 0.8012675046920776, -0.1606624573469162],
        [-0.21612127125263214, 0.5002282857894897, -0.17782318592071533],
        [-0.12010569870471954, 0.738792359828949, -0.21444053947925568],
        [0.01591615378856659, 0.4593997895717621, -0.2528753876686096],
        [-0.26764172315597534, 0.683117687702179, -0.30489346385002136],
        [-0.533160924911499, 1.1561715602874756, -0.5319493412971497],
    ],
    "groups_adam_swa_out": [
        [-0.29405978322029114, 0.953284740447998, -0.5581689476966858],
        [-0.40744200348854065, 0.5221438407897949, -0.6727847456932068],
        [-0.4291608929634094, 1.1481324434280396, -0.46342921257019043],
        [-0.32667404413223267, 0.5990257263183594, -0.30300605297088623],
        [-0.14851896464824677, 1.0123329162597656, -0.4152951240539551],
        [0.022684335708618164, 0.6160275340080261, -0.34613728523254395],
        [-0.43343207240104675, 0.8680888414382935, -0.6243681907653809],
        [-0.7870731353759766, 1.5424469709396362, -1.060697078704834],
    ],
    "groups_adam_swa_rm": [
        0.23797237873077393,
        -0.12083984166383743,
        -0.06305505335330963,
        -0.040862876921892166,
        0.026210710406303406,
        -0.07939033210277557,
        -0.1262395977973938,
        -0.0005857348442077637,
        0.04012361541390419,
        -0.053143344819545746,
        0.13642187416553497,
        0.03681473433971405,
    ],
    "groups_adam_best": 1.0460784435272217,
    "groups_adam_lrs": [
        [0.01, 0.05],
        [0.01, 0.05],
        [0.005, 0.025],
        [0.005, 0.025],
        [0.005, 0.025],
        [0.0025, 0.0125],
        [0.0025, 0.0125],
        [0.0025, 0.0125],
    ],
    "groups_adam_num_bad": 1,
    "resume_adamw": [
        1.109078049659729,
        1.0654648542404175,
        1.0249760150909424,
        1.1703723669052124,
        0.8437065482139587,
        1.3273065090179443,
    ],
    "resume_adamw_lr": [0.0025000000000000014],
    "resume_sgd": [
        1.109078049659729,
        1.0661487579345703,
        1.0270771980285645,
        1.1787506341934204,
        0.8408124446868896,
        1.3314720392227173,
    ],
    "resume_sgd_lr": [0.012500000000000006],
    "resume_rmsprop": [
        1.109078049659729,
        1.0688295364379883,
        1.1400426626205444,
        1.4173481464385986,
        0.8276875019073486,
        1.4465279579162598,
    ],
    "resume_rmsprop_lr": [0.0025000000000000014],
    "custom_opt_losses": [
        1.3143901824951172,
        1.2749749422073364,
        1.1462150812149048,
        0.9651268720626831,
        0.8623502254486084,
        0.8281023502349854,
        0.81653892993927,
        0.8070241212844849,
    ],
    "custom_opt_lrs": [
        [0.03333333333333333, 0.016666666666666666],
        [0.06666666666666667, 0.03333333333333333],
        [0.10000000000000002, 0.05000000000000001],
        [0.1, 0.05],
        [0.09045084971874738, 0.04522542485937369],
        [0.06545084971874737, 0.032725424859373686],
        [0.03454915028125263, 0.017274575140626316],
        [0.009549150281252633, 0.004774575140626317],
        [0.0, 0.0],
    ],
    "custom_opt_poly": [
        0.6400000000000001,
        0.36,
        0.16000000000000003,
        0.03999999999999998,
        0.0,
        0.0,
    ],
    "ckpt_losses": [0.6737803816795349, 0.5942320227622986, 0.5262393355369568],
    "ckpt_seq_gx": [
        0.18394455313682556,
        0.031877871602773666,
        -0.03034747764468193,
        0.11963670700788498,
        0.1775982826948166,
        -0.061072852462530136,
        -0.014172609895467758,
        0.011551005765795708,
    ],
}
