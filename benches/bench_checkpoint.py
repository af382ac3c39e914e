"""Training stall per checkpoint: background (``async_checkpoint``) against synchronous writes.

Run: ``.venv/bin/python benches/bench_checkpoint.py [--mb 100] [--repeats 5] [--dir DIR]``
(not a test; prints a table). Issue 20's target: a background checkpoint stalls training for at
most 10% of a synchronous write's time, for a 100 MB model.

What is measured, on a model of one ``Linear(n, n)`` layer of about ``--mb`` MB trained with SGD
(no optimizer state, so the checkpoint is the model's size):

* sync write: ``Trainer.save_checkpoint`` as the epoch-end callback does it without
  ``async_checkpoint`` (state to host, SHA-256, temp file, fsync, rename, directory fsync);
* stall: what the training thread spends in the checkpoint call at a step boundary with
  ``async_checkpoint=True`` (copy to host memory and handing the write to the thread), the
  previous write finished;
* in ``fit``: the time per checkpoint added to a run of ``--steps`` steps that checkpoints
  every ``--every`` steps, against the same run without checkpoints (the writer competes
  with training for the CPU cores, so this is the honest end-to-end figure).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import democratising as dm
from democratising import nn
from democratising.data import TensorDataset
from democratising.train import Trainer, TrainingConfig
from democratising.train.config import OptimizerConfig


def _model(n: int) -> nn.Module:
    dm.manual_seed(0)
    return nn.Sequential(nn.Linear(n, n, bias=False))


def _data(n: int, samples: int) -> TensorDataset:
    rng = np.random.default_rng(0)
    x = dm.from_numpy(rng.standard_normal((samples, n)).astype(np.float32))
    y = dm.from_numpy(rng.integers(0, n, samples).astype(np.int64))
    return TensorDataset(x, y)


def _trainer(n: int, folder: Path, background: bool, **kw: object) -> Trainer:
    cfg = TrainingConfig(
        batch_size=4,
        optimizer=OptimizerConfig.SGD(),
        learning_rate=1e-3,
        checkpoint_dir=str(folder),
        async_checkpoint=background,
        verbose=False,
        progress=False,
        model_summary=False,
        **kw,  # type: ignore[arg-type]
    )
    return Trainer(_model(n), cfg)


def write_times(n: int, folder: Path, repeats: int) -> tuple[list[float], list[float], int]:
    """``(sync seconds, background stall seconds, file bytes)`` per checkpoint."""
    data = _data(n, 8)
    sync_t = _trainer(n, folder / "sync", background=False, num_epochs=1)
    sync_t.fit(data)  # builds the loader, optimizer, scheduler: a checkpoint is complete
    bg_t = _trainer(n, folder / "bg", background=True, num_epochs=1)
    bg_t.fit(data)
    sync, stall = [], []
    for i in range(repeats):
        path = folder / "sync" / f"epoch_{i:04d}.safetensors"
        t0 = time.perf_counter()
        sync_t._write_checkpoint([path])
        sync.append(time.perf_counter() - t0)
        bg_path = folder / "bg" / f"epoch_{i:04d}.safetensors"
        t0 = time.perf_counter()
        bg_t._write_checkpoint([bg_path])
        stall.append(time.perf_counter() - t0)
        bg_t._writer.wait()  # the next measurement starts with no write in flight
    size = (folder / "sync" / "epoch_0000.safetensors").stat().st_size
    return sync, stall, size


def fit_overhead(n: int, folder: Path, steps: int, every: int) -> dict[str, float]:
    """Seconds per checkpoint added to ``fit`` (sync and background) over no checkpoints."""
    data = _data(n, 4 * steps)
    out = {}
    for label, kw in (
        ("none", dict(checkpoint_every_n_steps=None, checkpoint_every=10**6)),
        ("sync", dict(checkpoint_every_n_steps=every, checkpoint_every=10**6)),
        ("background", dict(checkpoint_every_n_steps=every, checkpoint_every=10**6)),
    ):
        t = _trainer(
            n,
            folder / f"fit_{label}",
            background=label == "background",
            num_epochs=1,
            keep_last=2,
            **kw,
        )
        t0 = time.perf_counter()
        t.fit(data)
        out[label] = time.perf_counter() - t0
    count = steps // every
    return {
        "none": out["none"],
        "sync": (out["sync"] - out["none"]) / count,
        "background": (out["background"] - out["none"]) / count,
        "count": float(count),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=100.0, help="model size in MB (float32)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--every", type=int, default=4)
    ap.add_argument("--dir", default=None, help="where to write (default: a temp folder)")
    args = ap.parse_args()
    n = int((args.mb * 1e6 / 4) ** 0.5)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        sync, stall, size = write_times(n, folder, args.repeats)
        fit = fit_overhead(n, folder, args.steps, args.every)
    ms = statistics.median(sync) * 1e3
    st = statistics.median(stall) * 1e3
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores; Linear({n}, {n})"
    )
    print(f"checkpoint file: {size / 1e6:.1f} MB (median of {args.repeats})")
    print("| measure | time (ms) | vs sync write |")
    print("| ------- | --------: | ------------: |")
    print(f"| synchronous write | {ms:.1f} | 1.00x |")
    print(f"| background: stall at the step | {st:.1f} | {st / ms:.3f}x |")
    print(
        f"| fit, per checkpoint, sync ({int(fit['count'])} checkpoints in {args.steps} steps) "
        f"| {fit['sync'] * 1e3:.1f} | {fit['sync'] * 1e3 / ms:.2f}x |"
    )
    print(
        f"| fit, per checkpoint, background | {fit['background'] * 1e3:.1f} "
        f"| {fit['background'] * 1e3 / ms:.2f}x |"
    )
    print(f"fit without checkpoints: {fit['none']:.2f} s for {args.steps} steps")
    print(f"sync samples (ms): {[round(s * 1e3, 1) for s in sync]}")
    print(f"stall samples (ms): {[round(s * 1e3, 1) for s in stall]}")


if __name__ == "__main__":
    main()
