"""Issue 20: exact mid-epoch resume, resume_from="auto", background checkpoint writes,
retention and disk-space checks (in one process; the launcher's MPI jobs are in
tests/test_launch.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.checkpoint import Checkpoint
from democratising.data import DataLoader, TensorDataset, default_collate
from democratising.errors import CheckpointError
from democratising.train import Callback, Trainer, TrainingConfig, _writer
from democratising.train._rundir import candidates
from democratising.train.config import SchedulerConfig

N, FEATURES, CLASSES, BATCH, EPOCHS = 40, 8, 3, 4, 3


def _data() -> TensorDataset:
    rng = np.random.default_rng(7)
    x = dm.from_numpy(rng.standard_normal((N, FEATURES)).astype(np.float32))
    y = dm.from_numpy(rng.integers(0, CLASSES, N).astype(np.int64))
    return TensorDataset(x, y)


def _model() -> nn.Module:
    dm.manual_seed(3)
    # Dropout draws from the global RNG every step: a resume must restore it exactly.
    return nn.Sequential(
        nn.Linear(FEATURES, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, CLASSES)
    )


def _config(ckpt: Optional[Path], **kw: Any) -> TrainingConfig:
    settings: dict[str, Any] = dict(
        num_epochs=EPOCHS,
        batch_size=BATCH,
        learning_rate=0.05,
        shuffle=True,
        num_workers=2,
        seed=11,
        verbose=False,
        progress=False,
        model_summary=False,
        scheduler=SchedulerConfig.StepLR(step_size=4, gamma=0.9, interval="batch"),
    )
    if ckpt is not None:
        settings.update(checkpoint_dir=str(ckpt))
    settings.update(kw)
    return TrainingConfig(**settings)


def _weights(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: np.array(v.detach().numpy(), copy=True) for k, v in model.state_dict().items()}


class _CrashError(Exception):
    pass


class _CrashAt(Callback):
    """Raises after the optimizer step ``step`` (as a killed process would stop there)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict[str, Any]) -> None:
        if trainer.global_step >= self.step:
            raise _CrashError(f"crash at step {trainer.global_step}")


def _reference() -> dict[str, np.ndarray]:
    model = _model()
    Trainer(model, _config(None)).fit(_data())
    return _weights(model)


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    return _reference()


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("background", [False, True])
def test_killed_at_random_steps_and_resumed_gives_bitwise_the_same_weights(
    tmp_path: Path, reference: dict[str, np.ndarray], background: bool
) -> None:
    """Crashes after steps 7, 13 and 26 (mid-epoch, 10 batches an epoch); each time a new
    process-like start (new model, new trainer) resumes with resume_from="auto"."""
    ckpt = tmp_path / "ck"
    crashes = [7, 13, 26]
    for crash in [*crashes, None]:
        model = _model()
        cbs = [_CrashAt(crash)] if crash is not None else []
        cfg = _config(ckpt, checkpoint_every_n_steps=3, async_checkpoint=background)
        trainer = Trainer(model, cfg, callbacks=cbs)
        if crash is None:
            trainer.fit(_data(), resume_from="auto")
        else:
            with pytest.raises(_CrashError):
                trainer.fit(_data(), resume_from="auto")
    assert trainer.resumed_from is not None
    assert trainer.resumed_from.name == "epoch_0002_step_24.safetensors"
    assert trainer.global_step == EPOCHS * (N // BATCH)
    _assert_same(_weights(model), reference)


def test_mid_epoch_resume_restores_the_grad_scaler(tmp_path: Path) -> None:
    """float16 autocast with a GradScaler (its scale and growth tracker change per step)."""
    kw: dict[str, Any] = dict(amp="float16", num_epochs=2)
    model = _model()
    Trainer(model, _config(None, **kw)).fit(_data())
    want = _weights(model)
    ckpt = tmp_path / "ck"
    with pytest.raises(_CrashError):
        cfg = _config(ckpt, checkpoint_every_n_steps=3, **kw)
        Trainer(_model(), cfg, callbacks=[_CrashAt(14)]).fit(_data())
    model = _model()
    trainer = Trainer(model, _config(ckpt, checkpoint_every_n_steps=3, **kw))
    trainer.fit(_data(), resume_from="auto")
    assert trainer.resumed_from is not None and trainer.resumed_from.name.endswith(
        "_12.safetensors"
    )
    assert trainer.scaler is not None
    _assert_same(_weights(model), want)


_EXIT_SCRIPT = r"""
import sys, time
from pathlib import Path
import numpy as np
import democratising as dm
from democratising import nn
from democratising.data import TensorDataset
from democratising.train import Trainer, TrainingConfig, _writer

real = _writer.Snapshot.write
def slow(self, path):
    time.sleep(0.5)
    real(self, path)
_writer.Snapshot.write = slow
cfg = TrainingConfig(num_epochs=1, checkpoint_dir=sys.argv[1], async_checkpoint=True,
                     verbose=False, progress=False, model_summary=False)
trainer = Trainer(nn.Linear(4, 2), cfg)
x = dm.from_numpy(np.zeros((8, 4), dtype=np.float32))
trainer._setup_fit(TensorDataset(x, dm.from_numpy(np.zeros(8, dtype=np.int64))), None, None)
trainer._write_checkpoint([Path(sys.argv[1]) / "epoch_0007.safetensors"])
print("SUBMITTED", flush=True)
"""


def test_the_process_waits_for_a_write_in_flight_at_exit(tmp_path: Path) -> None:
    script = tmp_path / "exit.py"
    script.write_text(_EXIT_SCRIPT)
    ckpt = tmp_path / "ck"
    ckpt.mkdir()
    r = subprocess.run(
        [sys.executable, str(script), str(ckpt)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0 and "SUBMITTED" in r.stdout, r.stderr
    Checkpoint.load(ckpt / "epoch_0007.safetensors")  # written after the script's last line


def test_auto_without_a_checkpoint_starts_fresh(
    tmp_path: Path, reference: dict[str, np.ndarray]
) -> None:
    model = _model()
    trainer = Trainer(model, _config(tmp_path / "empty"))
    trainer.fit(_data(), resume_from="auto")
    assert trainer.resumed_from is None
    _assert_same(_weights(model), reference)


def test_corrupt_newest_checkpoint_is_reported_and_the_previous_one_used(
    tmp_path: Path, reference: dict[str, np.ndarray]
) -> None:
    ckpt = tmp_path / "ck"
    with pytest.raises(_CrashError):
        cfg = _config(ckpt, checkpoint_every_n_steps=4)
        Trainer(_model(), cfg, callbacks=[_CrashAt(9)]).fit(_data())
    files = candidates([ckpt])
    assert [f.name for f in files[:2]] == [
        "epoch_0000_step_8.safetensors",
        "epoch_0000_step_4.safetensors",
    ]
    raw = bytearray(files[0].read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte in the tensor data
    files[0].write_bytes(bytes(raw))
    said: list[str] = []
    model = _model()
    trainer = Trainer(model, _config(ckpt, verbose=True), log=said.append)
    trainer.fit(_data(), resume_from="auto")
    assert trainer.resumed_from == files[1]
    skipped = [s for s in said if s.startswith("Skipping checkpoint")]
    assert len(skipped) == 1 and "epoch_0000_step_8" in skipped[0], said
    assert "corrupt" in skipped[0] or "checksum" in skipped[0].lower(), skipped
    _assert_same(_weights(model), reference)


def test_a_failed_background_write_is_raised_at_the_next_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def failing(self: _writer.Snapshot, path: Any) -> None:
        calls.append(time.monotonic())
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_writer.Snapshot, "write", failing)
    seen: list[int] = []

    class Steps(Callback):
        def on_batch_end(self, trainer: Trainer, batch: int, logs: dict[str, Any]) -> None:
            seen.append(trainer.global_step)

    cfg = _config(tmp_path / "ck", checkpoint_every_n_steps=2, async_checkpoint=True)
    trainer = Trainer(_model(), cfg, callbacks=[Steps()])
    with pytest.raises(CheckpointError, match=r"background failed.*No space left"):
        trainer.fit(_data())
    assert len(calls) == 1  # raised at a following step, before a second write started
    assert 2 < max(seen) <= 4


def test_the_writer_is_awaited_at_the_end_of_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = _writer.Snapshot.write

    def slow(self: _writer.Snapshot, path: Any) -> None:
        time.sleep(0.3)
        real(self, path)

    monkeypatch.setattr(_writer.Snapshot, "write", slow)
    ckpt = tmp_path / "ck"
    trainer = Trainer(_model(), _config(ckpt, num_epochs=1, async_checkpoint=True))
    trainer.fit(_data())
    assert not trainer._writer.busy
    Checkpoint.load(ckpt / "epoch_0001.safetensors")  # complete when fit returned


def test_not_enough_disk_space_is_an_error_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 5000, 5000))
    ckpt = tmp_path / "ck"
    trainer = Trainer(_model(), _config(ckpt, num_epochs=1))
    with pytest.raises(CheckpointError, match=r"not enough disk space.*nothing was written"):
        trainer.fit(_data())
    assert not any(ckpt.iterdir()) if ckpt.exists() else True


def test_keep_last_and_keep_best(tmp_path: Path) -> None:
    ckpt = tmp_path / "ck"
    losses = iter([0.5, 0.2, 0.9, 0.8, 0.7, 0.6])

    class FakeMetric(Callback):
        order = 50  # before the checkpointer (order 100)

        def on_epoch_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
            metrics["val_loss"] = next(losses)

    cfg = _config(ckpt, num_epochs=6, keep_last=2, keep_best=1, monitor="val_loss")
    Trainer(_model(), cfg, callbacks=[FakeMetric()]).fit(_data())
    names = sorted(p.name for p in ckpt.iterdir())
    # newest two (epochs 5, 6), the best (epoch 2, val_loss 0.2), and best.safetensors
    assert names == [
        "best.safetensors",
        "epoch_0002.safetensors",
        "epoch_0005.safetensors",
        "epoch_0006.safetensors",
    ]


def test_dataloader_iter_from_skips_without_loading(tmp_path: Path) -> None:
    fetched: list[int] = []

    class Recorded(TensorDataset):
        def __getitem__(self, i: Any) -> Any:
            fetched.append(int(i))
            return super().__getitem__(i)

    ds = _data()
    data = Recorded(*ds.tensors)
    kw: dict[str, Any] = dict(batch_size=4, shuffle=True, seed=5, num_workers=2)
    full = DataLoader(data, collate_fn=default_collate, **kw)
    part = DataLoader(data, collate_fn=default_collate, **kw)
    want = [b[0].numpy().copy() for b in full][3:]
    fetched.clear()
    got = [b[0].numpy().copy() for b in part.iter_from(3)]
    assert len(got) == len(want) and all(np.array_equal(a, b) for a, b in zip(got, want))
    assert len(fetched) == N - 3 * 4
    assert full.state_dict() == part.state_dict()


# ---- SIGKILL during background writes ---------------------------------------------------------

_WRITER_SCRIPT = r"""
import sys
import numpy as np
import democratising as dm
from democratising import nn
from democratising.data import TensorDataset
from democratising.train import Trainer, TrainingConfig

ckpt = sys.argv[1]
dm.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 2048), nn.ReLU(), nn.Linear(2048, 2))  # ~0.5 MB
x = dm.from_numpy(np.random.default_rng(0).standard_normal((256, 64)).astype(np.float32))
y = dm.from_numpy(np.zeros(256, dtype=np.int64))
cfg = TrainingConfig(
    num_epochs=1000, batch_size=32, checkpoint_dir=ckpt, checkpoint_every_n_steps=1,
    async_checkpoint=True, keep_last=2, verbose=False, progress=False, model_summary=False,
)
trainer = Trainer(model, cfg)
print("READY", flush=True)
trainer.fit(TensorDataset(x, y), resume_from="auto")
"""


def test_sigkill_during_background_writes_never_leaves_a_torn_newest_checkpoint(
    tmp_path: Path,
) -> None:
    script = tmp_path / "writer.py"
    script.write_text(_WRITER_SCRIPT)
    ckpt = tmp_path / "ck"
    rng = np.random.default_rng(int(os.environ.get("DEMOCRATISING_TEST_SEED", "20")))
    env = dict(os.environ, RAYON_NUM_THREADS="1", OMP_NUM_THREADS="1")
    steps, torn = [], 0
    for _ in range(20):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(ckpt)], stdout=subprocess.PIPE, env=env, text=True
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "READY"
            deadline = time.monotonic() + 20
            # Wait for the first new checkpoint, then kill at a random moment after it.
            before = {p.name for p in ckpt.glob("*.safetensors")} if ckpt.exists() else set()
            while time.monotonic() < deadline:
                now = {p.name for p in ckpt.glob("*.safetensors")} if ckpt.exists() else set()
                if now - before:
                    break
                time.sleep(0.01)
            time.sleep(float(rng.uniform(0.0, 0.15)))
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(timeout=20)
        torn += len(list(ckpt.glob(".*.tmp")))  # a write the kill interrupted
        newest = candidates([ckpt])[0]
        ck = Checkpoint.load(newest)  # the newest complete file always loads
        steps.append(ck.extra["trainer"]["global_step"])
    assert steps == sorted(steps) and steps[-1] > steps[0], steps  # each run resumed
    assert torn >= 3, f"only {torn} of 20 kills hit a write in flight"
