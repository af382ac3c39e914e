"""Trainer overhead against a hand-written loop, and DataLoader throughput with 0 and 2 worker
threads. Run: ``.venv/bin/python benches/bench_trainer.py`` (not a test; prints a table).

Why these numbers: on a model as small as the seed MLP, every microsecond of Python the
trainer adds per batch shows up directly; the target is under 5% over the bare loop.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from typing import Any, Callable

import numpy as np

import democratising as dm
from democratising.data import DataLoader, Dataset, TensorDataset
from democratising.nn import CrossEntropyLoss, Dense, ReLU, Sequential
from democratising.optim import Adam
from democratising.train import Trainer, TrainingConfig


def _mlp() -> Sequential:
    dm.manual_seed(0)
    return Sequential().add(Dense(64, 128)).add(ReLU()).add(Dense(128, 10)).build()


def bare_loop(data: TensorDataset, epochs: int) -> float:
    """The seed's basic training loop, as a user would write it."""
    model = _mlp()
    optimizer, loss_fn = Adam(model.parameters(), 1e-3), CrossEntropyLoss()
    loader = DataLoader(data, batch_size=32, shuffle=True, seed=0)
    t0 = time.perf_counter()
    for _ in range(epochs):
        epoch_loss, batches = 0.0, 0
        for xb, yb in loader:
            loss = loss_fn.forward(model(xb), yb)
            model.zero_grad()
            loss.backward()
            optimizer.step()
            epoch_loss += loss.item()
            batches += 1
    return time.perf_counter() - t0


def trainer_loop(data: TensorDataset, epochs: int) -> float:
    """The same training through ``Trainer.fit`` (which also tracks accuracy/throughput)."""
    model = _mlp()
    loader = DataLoader(data, batch_size=32, shuffle=True, seed=0)
    trainer = Trainer(model, TrainingConfig(num_epochs=epochs, verbose=False, progress=False))
    t0 = time.perf_counter()
    trainer.fit(loader)
    return time.perf_counter() - t0


class PerSample(Dataset):
    """A map-style dataset doing per-item NumPy work (normalise + noise), as augmentation does."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> Any:
        rng = np.random.default_rng(i)
        img = (self.x[i] - self.x[i].mean()) / (self.x[i].std() + 1e-6)
        img = img + rng.normal(0, 0.01, size=img.shape).astype(np.float32)
        return dm.from_numpy(img.astype(np.float32)), int(self.y[i])


class SlowStorage(Dataset):
    """Wraps a dataset and adds 1 ms of waiting per sample batch, as a read from network
    storage or an image decoder in C would: time that does not hold the GIL."""

    def __init__(self, base: TensorDataset, batch: int) -> None:
        self.base, self.batch = base, batch

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> Any:
        if i % self.batch == 0:
            time.sleep(1e-3)
        return self.base[i]


def loader_rate(make: Callable[[], DataLoader], min_time: float = 0.5) -> float:
    """Batches per second over whole epochs, best of several."""
    rates = []
    for _ in range(5):
        loader, n, t0 = make(), 0, time.perf_counter()
        while time.perf_counter() - t0 < min_time:
            for _ in loader:
                n += 1
        rates.append(n / (time.perf_counter() - t0))
    return max(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    load_before = os.getloadavg()[0]
    x, y = dm.datasets.digits()
    data = TensorDataset(x, y)
    bare_loop(data, 1), trainer_loop(data, 1)  # warm-up
    bare, trn = [], []
    for _ in range(args.repeats):  # interleaved, so drifting machine load hits both alike
        bare.append(bare_loop(data, args.epochs))
        trn.append(trainer_loop(data, args.epochs))
    b, t = min(bare), min(trn)
    batches = args.epochs * len(DataLoader(data, 32))
    print(
        f"date: {time.strftime('%Y-%m-%d')}; {platform.machine()}, {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}; democratising {dm.__version__}"
    )
    print()
    print(f"Seed MLP (64-128-10) on digits (1,797 samples), batch 32, Adam, {args.epochs} epochs;")
    print(f"best and median of {args.repeats} interleaved runs")
    print(
        "| loop        | ms / epoch (best) | ms / epoch (median) | µs / batch | overhead (best) |"
    )
    print(
        "| ----------- | ----------------: | ------------------: | ---------: | --------------: |"
    )
    for name, v, all_v in (("bare loop", b, bare), ("Trainer.fit", t, trn)):
        med = statistics.median(all_v)
        print(
            f"| {name:<11} | {v / args.epochs * 1e3:17.2f} | {med / args.epochs * 1e3:19.2f} "
            f"| {v / batches * 1e6:10.1f} | {100 * (v / b - 1):+14.1f}% |"
        )
    print()

    rng = np.random.default_rng(0)
    big = TensorDataset(dm.randn(60000, 784), dm.randint(0, 10, (60000,)))
    px = rng.random((4096, 784), dtype=np.float32)
    per_sample = PerSample(px, rng.integers(0, 10, 4096))
    cases = [
        ("digits TensorDataset, batch 32", data, 32),
        ("60000x784 TensorDataset, batch 256", big, 256),
        ("per-sample NumPy Dataset, batch 64", per_sample, 64),
        ("digits + 1 ms I/O wait/batch, batch 32", SlowStorage(data, 32), 32),
    ]
    print("DataLoader batches/s (shuffle=True; best of 5)")
    print("| dataset                                   | workers=0 | workers=2 | ratio |")
    print("| ----------------------------------------- | --------: | --------: | ----: |")
    for name, ds, bs in cases:
        r0 = loader_rate(lambda ds=ds, bs=bs: DataLoader(ds, bs, shuffle=True, seed=0))
        r2 = loader_rate(
            lambda ds=ds, bs=bs: DataLoader(ds, bs, shuffle=True, seed=0, num_workers=2)
        )
        print(f"| {name:<41} | {r0:9,.0f} | {r2:9,.0f} | {r2 / r0:4.2f}x |")
    print()
    print(f"Load average (1 min) before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
