"""Program benchmark (issue 16): everyday PyTorch training programs, democratising against
PyTorch eager, milliseconds per training step.

Each program is written once against a namespace ``lib`` (``torch`` or ``democratising``,
which mirrors PyTorch's API), in the style of the public program it stands for, and trained on
synthetic data drawn by NumPy with the same seed for both frameworks:

* ``classifier``: PyTorch examples' MNIST CNN (2 conv + max-pool + dropout + 2 linear,
  log-softmax + NLL), Adadelta (lr 1.0), batch 64 of 28x28 images;
* ``vae``: PyTorch examples' VAE (784-400-20 encoder, 20-400-784 decoder, BCE + KL), Adam,
  batch 128;
* ``lstm_classifier``: PyTorch examples' MNIST RNN (``nn.LSTM(28, 64, batch_first=True)`` over
  the 28 rows, last output -> BatchNorm1d -> dropout -> Linear(64, 32) -> ReLU -> dropout ->
  Linear(32, 10)), Adadelta (lr 0.1), batch 64. The original's ``Dropout2d`` on a 2-D input is
  ``Dropout`` here (PyTorch deprecates ``Dropout2d`` on 2-D inputs);
* ``time_sequence``: PyTorch examples' time-sequence prediction (two ``nn.LSTMCell(51)``
  unrolled in Python over sine waves, float64), 97 waves of 999 steps. The original trains with
  LBFGS, whose ``step`` evaluates the model up to 20 times; here one Adam step, so a step is one
  forward and one backward;
* ``word_lm``: PyTorch examples' word language model (Embedding(10000, 200) + 2-layer
  LSTM(200, 200, dropout 0.2) + Linear(200, 10000), log-softmax + NLL, untied weights), bptt 35,
  batch 20, the hidden state carried (detached) from step to step, gradient clipping at 0.25 and
  the example's hand-written SGD update (lr 20);
* ``dcgan``: PyTorch examples' DCGAN at 32x32 (ConvTranspose2d generator with BatchNorm2d,
  Conv2d discriminator with BatchNorm2d and LeakyReLU, widths 32, nz 100, BCE, Adam(2e-4,
  betas (0.5, 0.999))), batch 64; a step is the discriminator's update (real and fake) and the
  generator's;
* ``char_mlp``: makemore's MLP (context of 16 characters built with ``roll`` and ``cat`` in a
  Python loop, Embedding(28, 64), Linear(1024, 64) + Tanh + Linear(64, 27)), AdamW, batch 32;
* ``char_gru``: makemore's RNN with its GRU cell (three ``Linear`` over ``cat([x, h])``, unrolled
  in Python over 16 characters, ``stack`` of the hiddens), AdamW, batch 32.

Every (framework, program) pair runs in its own subprocess, as in ``bench_train.py`` (whose
worker driver, thread pinning and timing this file imports): the frameworks alternate program by
program, and each round swaps which goes first. A step's time is the best batch mean of several
timed batches of steps after a warm-up (``bench_train.best_time``); no step reads its loss back.

Usage (PyTorch comes from ``.bench-venv``; ``make bench`` runs this file)::

    env PYTHONPATH=$PWD/python .bench-venv/bin/python benches/bench_programs.py
    ... benches/bench_programs.py --only lstm_classifier word_lm --budget 0.5 --rounds 2
    ... benches/bench_programs.py --tiny --budget 0.05      # shrunk models, a quick check
    ... benches/bench_programs.py --worker democratising --case vae   # one worker, JSON out
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

import bench_train as bt

FRAMEWORKS = ("democratising", "torch")
WARMUP_S = 1.0  # warm-up: WARMUP_STEPS steps, or fewer when they take longer than this

Sizes = dict[str, int]
Step = Callable[[], Any]  # one training step; returns the loss tensor


# ----------------------------------------------------------------------------- data


def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def char_words(s: Sizes) -> tuple[np.ndarray, np.ndarray]:
    """makemore's CharDataset rows for random words: x starts with 0, y ends with -1s."""
    r = rng()
    block = s["block"]
    x = np.zeros((s["batch"], block), np.int64)
    y = np.full((s["batch"], block), -1, np.int64)
    for i in range(s["batch"]):
        n = int(r.integers(3, block))
        ix = r.integers(1, s["vocab"], n)
        x[i, 1 : 1 + n] = ix
        y[i, :n] = ix
        y[i, n] = 0
    return x, y


# ----------------------------------------------------------------------------- programs
#
# Each builder takes the framework's namespace and the sizes, and returns one training step.


def digits_step(lib: Any, model: Any, lr: float, s: Sizes) -> Step:
    """The MNIST examples' training step: Adadelta, log-softmax outputs, NLL loss."""
    model.train()
    opt = lib.optim.Adadelta(model.parameters(), lr=lr)
    r = rng()
    x = lib.from_numpy(r.standard_normal((s["batch"], 1, 28, 28), dtype=np.float32))
    y = lib.from_numpy(r.integers(0, 10, s["batch"]))

    def step() -> Any:
        opt.zero_grad()
        loss = lib.nn.functional.nll_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def classifier(lib: Any, s: Sizes) -> Step:
    nn, F = lib.nn, lib.nn.functional  # noqa: N806 - PyTorch programs call it F

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(1, s["c1"], 3, 1)
            self.conv2 = nn.Conv2d(s["c1"], s["c2"], 3, 1)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(12 * 12 * s["c2"], s["hidden"])
            self.fc2 = nn.Linear(s["hidden"], 10)

        def forward(self, x: Any) -> Any:
            x = F.relu(self.conv1(x))
            x = F.relu(self.conv2(x))
            x = F.max_pool2d(x, 2)
            x = self.dropout1(x)
            x = lib.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = self.dropout2(x)
            return F.log_softmax(self.fc2(x), dim=1)

    return digits_step(lib, Net(), 1.0, s)


def vae(lib: Any, s: Sizes) -> Step:
    nn, F = lib.nn, lib.nn.functional  # noqa: N806 - PyTorch programs call it F
    hidden, latent = s["hidden"], s["latent"]

    class VAE(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = nn.Linear(784, hidden)
            self.fc21 = nn.Linear(hidden, latent)
            self.fc22 = nn.Linear(hidden, latent)
            self.fc3 = nn.Linear(latent, hidden)
            self.fc4 = nn.Linear(hidden, 784)

        def encode(self, x: Any) -> tuple[Any, Any]:
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu: Any, logvar: Any) -> Any:
            std = lib.exp(0.5 * logvar)
            return mu + lib.randn_like(std) * std

        def decode(self, z: Any) -> Any:
            return lib.sigmoid(self.fc4(F.relu(self.fc3(z))))

        def forward(self, x: Any) -> tuple[Any, Any, Any]:
            mu, logvar = self.encode(x.view(-1, 784))
            return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    model = VAE()
    opt = lib.optim.Adam(model.parameters(), lr=1e-3)
    images = (rng().random((s["batch"], 1, 28, 28)) > 0.8).astype(np.float32)
    x = lib.from_numpy(images)

    def step() -> Any:
        opt.zero_grad()
        recon, mu, logvar = model(x)
        bce = F.binary_cross_entropy(recon, x.view(-1, 784), reduction="sum")
        kld = -0.5 * lib.sum(1 + logvar - mu.pow(2) - logvar.exp())
        loss = bce + kld
        loss.backward()
        opt.step()
        return loss

    return step


def lstm_classifier(lib: Any, s: Sizes) -> Step:
    nn, F = lib.nn, lib.nn.functional  # noqa: N806 - PyTorch programs call it F
    hidden = s["hidden"]

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(input_size=28, hidden_size=hidden, batch_first=True)
            self.batchnorm = nn.BatchNorm1d(hidden)
            self.dropout1 = nn.Dropout(0.25)
            self.dropout2 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(hidden, 32)
            self.fc2 = nn.Linear(32, 10)

        def forward(self, x: Any) -> Any:
            output, _ = self.rnn(x.reshape(-1, 28, 28))
            output = self.batchnorm(output[:, -1, :])
            output = F.relu(self.fc1(self.dropout1(output)))
            output = self.fc2(self.dropout2(output))
            return F.log_softmax(output, dim=1)

    return digits_step(lib, Net(), 0.1, s)


def time_sequence(lib: Any, s: Sizes) -> Step:
    nn = lib.nn
    hidden = s["hidden"]

    class Sequence(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm1 = nn.LSTMCell(1, hidden)
            self.lstm2 = nn.LSTMCell(hidden, hidden)
            self.linear = nn.Linear(hidden, 1)

        def forward(self, input: Any) -> Any:
            outputs = []
            h_t = lib.zeros(input.size(0), hidden, dtype=lib.double)
            c_t = lib.zeros(input.size(0), hidden, dtype=lib.double)
            h_t2 = lib.zeros(input.size(0), hidden, dtype=lib.double)
            c_t2 = lib.zeros(input.size(0), hidden, dtype=lib.double)
            for input_t in input.split(1, dim=1):
                h_t, c_t = self.lstm1(input_t, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                outputs += [self.linear(h_t2)]
            return lib.cat(outputs, dim=1)

    # generate_sine_wave.py's data: shifted sine waves, float64
    r = rng()
    period, length = 20, s["length"] + 1
    t = np.arange(length) + r.integers(-4 * period, 4 * period, s["batch"]).reshape(-1, 1)
    data = np.sin(t / 1.0 / period).astype(np.float64)
    x, y = lib.from_numpy(data[:, :-1].copy()), lib.from_numpy(data[:, 1:].copy())
    model = Sequence()
    model.double()
    criterion = nn.MSELoss()
    opt = lib.optim.Adam(model.parameters(), lr=0.01)

    def step() -> Any:
        opt.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def word_lm(lib: Any, s: Sizes) -> Step:
    nn, F = lib.nn, lib.nn.functional  # noqa: N806 - PyTorch programs call it F
    ntoken, ninp, nlayers, bptt, batch = s["vocab"], s["hidden"], 2, s["bptt"], s["batch"]
    lr, clip = 20.0, 0.25

    class RNNModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.drop = nn.Dropout(0.2)
            self.encoder = nn.Embedding(ntoken, ninp)
            self.rnn = nn.LSTM(ninp, ninp, nlayers, dropout=0.2)
            self.decoder = nn.Linear(ninp, ntoken)
            nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
            nn.init.zeros_(self.decoder.bias)
            nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

        def forward(self, input: Any, hidden: Any) -> tuple[Any, Any]:
            emb = self.drop(self.encoder(input))
            output, hidden = self.rnn(emb, hidden)
            decoded = self.decoder(self.drop(output)).view(-1, ntoken)
            return F.log_softmax(decoded, dim=1), hidden

    model = RNNModel()
    model.train()
    criterion = nn.NLLLoss()
    segments = 4
    corpus = rng().integers(0, ntoken, (segments * bptt + 1, batch))  # batchify()'s layout
    source = lib.from_numpy(corpus)
    weight = next(model.parameters())
    state: dict[str, Any] = {
        "i": 0,
        "hidden": (
            weight.new_zeros(nlayers, batch, ninp),
            weight.new_zeros(nlayers, batch, ninp),
        ),
    }

    def step() -> Any:
        i = state["i"]
        state["i"] = (i + bptt) % (segments * bptt)
        data, targets = source[i : i + bptt], source[i + 1 : i + 1 + bptt].reshape(-1)
        model.zero_grad()
        hidden = tuple(h.detach() for h in state["hidden"])  # repackage_hidden
        output, state["hidden"] = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
        return loss

    return step


def dcgan(lib: Any, s: Sizes) -> Step:
    nn = lib.nn
    nz, ngf, ndf, nc, batch = s["nz"], s["width"], s["width"], 3, s["batch"]

    def weights_init(m: Any) -> None:
        classname = m.__class__.__name__
        if classname.find("Conv") != -1:
            nn.init.normal_(m.weight.data, 0.0, 0.02)
        elif classname.find("BatchNorm") != -1:
            nn.init.normal_(m.weight.data, 1.0, 0.02)
            nn.init.constant_(m.bias.data, 0)

    net_g = nn.Sequential(  # nz -> 4x4 -> 8x8 -> 16x16 -> 32x32
        nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),
        nn.BatchNorm2d(ngf * 4),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf * 2),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ngf),
        nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
        nn.Tanh(),
    )
    net_d = nn.Sequential(  # 32x32 -> 16x16 -> 8x8 -> 4x4 -> 1
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 2),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
        nn.BatchNorm2d(ndf * 4),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False),
        nn.Sigmoid(),
    )
    net_g.apply(weights_init)
    net_d.apply(weights_init)
    criterion = nn.BCELoss()
    opt_d = lib.optim.Adam(net_d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = lib.optim.Adam(net_g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = lib.from_numpy(rng().uniform(-1, 1, (batch, nc, 32, 32)).astype(np.float32))

    def step() -> Any:
        # (1) Update D: maximize log(D(x)) + log(1 - D(G(z)))
        net_d.zero_grad()
        label = lib.full((batch,), 1.0)
        err_d_real = criterion(net_d(real).view(-1), label)
        err_d_real.backward()
        fake = net_g(lib.randn(batch, nz, 1, 1))
        label.fill_(0.0)
        err_d_fake = criterion(net_d(fake.detach()).view(-1), label)
        err_d_fake.backward()
        opt_d.step()
        # (2) Update G: maximize log(D(G(z)))
        net_g.zero_grad()
        label.fill_(1.0)
        err_g = criterion(net_d(fake).view(-1), label)
        err_g.backward()
        opt_g.step()
        return err_g

    return step


def char_step(lib: Any, model: Any, s: Sizes) -> Step:
    """makemore's training step over one batch of words (AdamW with its defaults)."""
    opt = lib.optim.AdamW(
        model.parameters(), lr=5e-4, weight_decay=0.01, betas=(0.9, 0.99), eps=1e-8
    )
    x_np, y_np = char_words(s)
    x, y = lib.from_numpy(x_np), lib.from_numpy(y_np)

    def step() -> Any:
        _, loss = model(x, y)
        model.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    return step


def char_mlp(lib: Any, s: Sizes) -> Step:
    nn, F = lib.nn, lib.nn.functional  # noqa: N806 - PyTorch programs call it F
    vocab, block, n_embd, n_embd2 = s["vocab"], s["block"], s["embd"], s["embd2"]

    class MLP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte = nn.Embedding(vocab + 1, n_embd)  # the extra token is <BLANK>
            self.mlp = nn.Sequential(
                nn.Linear(block * n_embd, n_embd2), nn.Tanh(), nn.Linear(n_embd2, vocab)
            )

        def forward(self, idx: Any, targets: Any = None) -> tuple[Any, Any]:
            embs = []
            for _ in range(block):
                embs.append(self.wte(idx))
                idx = lib.roll(idx, 1, 1)
                idx[:, 0] = vocab
            logits = self.mlp(lib.cat(embs, -1))
            loss = F.cross_entropy(
                logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1
            )
            return logits, loss

    return char_step(lib, MLP(), s)


def char_gru(lib: Any, s: Sizes) -> Step:
    nn, F = lib.nn, lib.nn.functional  # noqa: N806 - PyTorch programs call it F
    vocab, n_embd, n_embd2 = s["vocab"], s["embd"], s["embd2"]

    class GRUCell(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.xh_to_z = nn.Linear(n_embd + n_embd2, n_embd2)
            self.xh_to_r = nn.Linear(n_embd + n_embd2, n_embd2)
            self.xh_to_hbar = nn.Linear(n_embd + n_embd2, n_embd2)

        def forward(self, xt: Any, hprev: Any) -> Any:
            xh = lib.cat([xt, hprev], dim=1)
            r = F.sigmoid(self.xh_to_r(xh))
            xhr = lib.cat([xt, r * hprev], dim=1)
            hbar = F.tanh(self.xh_to_hbar(xhr))
            z = F.sigmoid(self.xh_to_z(xh))
            return (1 - z) * hprev + z * hbar

    class RNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.start = nn.Parameter(lib.zeros(1, n_embd2))
            self.wte = nn.Embedding(vocab, n_embd)
            self.cell = GRUCell()
            self.lm_head = nn.Linear(n_embd2, vocab)

        def forward(self, idx: Any, targets: Any = None) -> tuple[Any, Any]:
            b, t = idx.size()
            emb = self.wte(idx)
            hprev = self.start.expand((b, -1))
            hiddens = []
            for i in range(t):
                hprev = self.cell(emb[:, i, :], hprev)
                hiddens.append(hprev)
            logits = self.lm_head(lib.stack(hiddens, 1))
            loss = F.cross_entropy(
                logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1
            )
            return logits, loss

    return char_step(lib, RNN(), s)


@dataclass(frozen=True)
class Program:
    label: str
    build: Callable[[Any, Sizes], Step]
    sizes: Sizes
    tiny: Sizes  # shrunk sizes: the smoke test and --tiny
    target: float = 1.0  # the minimum ratio (PyTorch step time / ours)


CHAR = {"vocab": 27, "block": 16, "embd": 64, "embd2": 64, "batch": 32}
CHAR_TINY = {"vocab": 7, "block": 5, "embd": 4, "embd2": 6, "batch": 3}
PROGRAMS: dict[str, Program] = {
    "classifier": Program(
        "MNIST classifier (2 conv + dropout + 2 linear)",
        classifier,
        {"batch": 64, "c1": 32, "c2": 64, "hidden": 128},
        {"batch": 2, "c1": 2, "c2": 3, "hidden": 4},
    ),
    "vae": Program(
        "VAE (MLP encoder/decoder)",
        vae,
        {"batch": 128, "hidden": 400, "latent": 20},
        {"batch": 2, "hidden": 8, "latent": 2},
    ),
    "lstm_classifier": Program(
        "LSTM classifier (LSTM(28, 64) + BatchNorm1d)",
        lstm_classifier,
        {"batch": 64, "hidden": 64},
        {"batch": 3, "hidden": 4},
        target=1.5,
    ),
    "time_sequence": Program(
        "time-sequence prediction (2 LSTMCell(51), float64)",
        time_sequence,
        {"batch": 97, "length": 999, "hidden": 51},
        {"batch": 2, "length": 4, "hidden": 3},
    ),
    "word_lm": Program(
        "word language model (2-layer LSTM, vocab 10k)",
        word_lm,
        {"vocab": 10000, "hidden": 200, "bptt": 35, "batch": 20},
        {"vocab": 50, "hidden": 4, "bptt": 3, "batch": 2},
        target=1.5,
    ),
    "dcgan": Program(
        "DCGAN 32x32 (ConvTranspose2d + BatchNorm2d)",
        dcgan,
        {"nz": 100, "width": 32, "batch": 64},
        {"nz": 3, "width": 2, "batch": 2},
    ),
    "char_mlp": Program("char-level MLP (makemore)", char_mlp, CHAR, CHAR_TINY),
    "char_gru": Program("char-level GRU (makemore, unrolled)", char_gru, CHAR, CHAR_TINY),
}
GEOMEAN_TARGET = 1.5

#: Workarounds a program needed to run on democratising (shown under the table); empty when
#: every program runs as PyTorch would.
WORKAROUNDS: dict[str, str] = {}


# ----------------------------------------------------------------------------- worker


def load_framework(name: str, threads: int) -> Any:
    if name == "torch":
        import torch

        torch.set_num_threads(threads)
        return torch
    import democratising  # rayon reads RAYON_NUM_THREADS, set by the driver

    return democratising


def run_program(
    name: str, program: str, threads: int, budget_s: float, tiny: bool = False
) -> bt.Result:
    """One framework's ms/step on one program (warm-up first), and its last loss."""
    version = bt.import_framework(name)
    lib = load_framework(name, threads)
    lib.manual_seed(0)
    spec = PROGRAMS[program]
    train_step = spec.build(lib, spec.tiny if tiny else spec.sizes)
    last: list[Any] = [None]

    def step() -> None:
        last[0] = train_step()

    start = time.perf_counter()
    for _ in range(bt.WARMUP_STEPS):
        step()
        if time.perf_counter() - start > WARMUP_S:
            break
    timing = bt.best_time(step, lambda: None, budget_s)
    loss = float(last[0].item())
    return {"framework": name, "version": version, "program": program, **timing, "loss": loss}


# ----------------------------------------------------------------------------- report

Results = dict[tuple[str, str], bt.Result]


def report(results: Results, versions: dict[str, str], threads: int) -> str:
    lines = [
        f"date: {datetime.date.today().isoformat()}; {platform.processor() or platform.machine()},"
        f" {os.cpu_count()} logical CPUs; Python {platform.python_version()}; threads: {threads}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"engine: {bt.engine_build()}",
        "",
        "Training step (forward, loss, backward, optimizer), ms/step (lower is better); ratio is"
        " PyTorch's time over democratising's (> 1: democratising is faster)",
    ]
    rows, ratios = [], []
    for program, spec in PROGRAMS.items():
        dm_us, t_us = (bt.us_of(results, fw, program) for fw in FRAMEWORKS)
        if dm_us is None and t_us is None:
            continue
        # PyTorch's step time over democratising's (> 1: democratising is faster)
        ratio = None if dm_us is None or t_us is None else t_us / dm_us
        verdict = "—" if ratio is None else bt.yes_no(ratio >= spec.target)
        if ratio is not None:
            ratios.append(ratio)
        name = spec.label + (" (*)" if program in WORKAROUNDS else "")
        rows.append(
            [
                name,
                bt.fmt(None if dm_us is None else dm_us / 1e3, 2),
                bt.fmt(None if t_us is None else t_us / 1e3, 2),
                bt.speed(t_us, dm_us),
                f">= {spec.target:g}x",
                verdict,
            ]
        )
    if ratios:
        geomean = math.exp(statistics.fmean(math.log(r) for r in ratios))
        verdict = bt.yes_no(geomean >= GEOMEAN_TARGET) if len(ratios) == len(PROGRAMS) else "—"
        row = ["geometric mean", "", "", f"{geomean:.2f}x", f">= {GEOMEAN_TARGET:g}x", verdict]
        rows.append(row)
    header = ["program", "democratising ms/step", "PyTorch ms/step", "ratio", "target", "verdict"]
    lines.append(bt.markdown_table(header, rows, left=1))
    lines += [f"(*) {PROGRAMS[p].label}: {note}" for p, note in WORKAROUNDS.items()]
    lines += bt.spread_note(results, "program")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- driver


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget", type=float, default=1.0, help="timed seconds per program")
    parser.add_argument("--rounds", type=int, default=1, help="repeat, keep the fastest round")
    parser.add_argument("--only", choices=tuple(PROGRAMS), nargs="+")
    parser.add_argument("--tiny", action="store_true", help="shrunk models (a quick check)")
    parser.add_argument("--json", type=Path, help="also write the raw results to this file")
    parser.add_argument("--worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=tuple(PROGRAMS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker is not None:
        res = run_program(args.worker, args.case, args.threads, args.budget, args.tiny)
        print(json.dumps(res))
        return

    available = [fw for fw in FRAMEWORKS if bt.importable(fw)]
    programs = args.only or list(PROGRAMS)
    load_before = bt.load_average()
    results: Results = {}
    versions: dict[str, str] = {}
    for rnd in range(args.rounds):
        for i, program in enumerate(programs):
            order = available if (rnd + i) % 2 == 0 else available[::-1]
            for fw in order:
                print(f"round {rnd + 1}: {fw:14} {program}", file=sys.stderr, flush=True)
                cmd = ["--worker", fw, "--case", program, "--budget", str(args.budget)]
                res = bt.run_worker(cmd + ["--tiny"] * args.tiny, args.threads, Path(__file__))
                if res is None:
                    continue
                versions[fw] = res["version"]
                prev = results.get((fw, program))
                if prev is None or res["us"] < prev["us"]:
                    results[(fw, program)] = res
    if args.json is not None:
        args.json.write_text(
            json.dumps({"programs": list(results.values()), "threads": args.threads})
        )
    print(report(results, versions, args.threads))
    missing = [fw for fw in FRAMEWORKS if fw not in available]
    if missing:
        print(f"Not importable, columns skipped: {', '.join(missing)}")
    print(f"Load average (1 min) before / after: {load_before} / {bt.load_average()}")


if __name__ == "__main__":
    main()
