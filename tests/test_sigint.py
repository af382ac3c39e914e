"""Ctrl-C (issue 17, point 3): the first SIGINT finishes the current step, writes a checkpoint
and says how to resume (``Trainer.fit`` then raises ``KeyboardInterrupt``; the CLI exits with
130); a resume continues bit for bit; a second SIGINT stops at once without a torn file; the
same under ``mpiexec -n 2``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising.checkpoint import Checkpoint
from democratising.data import TensorDataset
from democratising.nn import Dense, ReLU, Sequential
from democratising.train import Callback, Trainer, TrainingConfig


class _CtrlC(Callback):
    """Sends this process SIGINT after batch ``batch`` of epoch ``epoch`` (0-based)."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.at, self.epoch = (epoch, batch), -1

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        self.epoch = epoch

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict[str, Any]) -> None:
        if (self.epoch, batch) == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def _data() -> TensorDataset:
    dm.manual_seed(0)
    x = dm.randn(96, 4)
    return TensorDataset(x, (x.sum(dim=1) > 0).long())


def _model() -> Sequential:
    dm.manual_seed(1)
    return Sequential(Dense(4, 8), ReLU(), Dense(8, 2))


def _weights(m: Sequential) -> dict[str, np.ndarray]:
    return {k: np.array(v.numpy()) for k, v in m.state_dict().items()}


def test_trainer_saves_at_the_step_and_a_resume_matches_an_uninterrupted_run(
    tmp_path: Path,
) -> None:
    def cfg() -> TrainingConfig:
        return TrainingConfig(
            num_epochs=3,
            batch_size=16,
            verbose=False,
            runs_dir=str(tmp_path / "runs"),
            scheduler=dm.train.SchedulerConfig.OneCycle(),
        )

    straight = _model()
    Trainer(straight, cfg()).fit(_data())

    lines: list[str] = []
    t = Trainer(_model(), cfg(), callbacks=[_CtrlC(epoch=1, batch=2)], log=lines.append)
    # Python's own handler, or SIG_IGN where the test runner was started in the background.
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        t.fit(_data())
    assert t.interrupted and t.interrupt_checkpoint is not None
    assert signal.getsignal(signal.SIGINT) is before  # put back
    # 1 epoch of 6 optimizer steps (96 samples, batches of 16), then 3 steps of epoch 2.
    assert t.interrupt_checkpoint.name == "epoch_0001_step_9.safetensors"
    assert Checkpoint.load(t.interrupt_checkpoint).epoch == 1

    resumed = _model()
    r = Trainer(resumed, cfg())
    r.fit(_data(), ckpt_path="last")
    assert r.resumed_from == t.interrupt_checkpoint and r.run_dir == t.run_dir
    assert r.history["epoch"] == [1, 2, 3]
    a, b = _weights(straight), _weights(resumed)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_trainer_without_a_checkpoint_folder_stops_and_says_nothing_was_saved(
    capsys: pytest.CaptureFixture[str],
) -> None:
    t = Trainer(_model(), TrainingConfig(num_epochs=2, batch_size=16), callbacks=[_CtrlC(0, 0)])
    with pytest.raises(KeyboardInterrupt):
        t.fit(_data())
    out = capsys.readouterr().out
    assert "Interrupted: finishing the current step" in out
    assert "nothing was saved" in out and t.interrupt_checkpoint is None


def _exe() -> list[str]:
    exe = Path(sys.executable).parent / "democratising"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "democratising.cli"]


def _start(cmd: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cmd,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=dict(os.environ, RAYON_NUM_THREADS="1"),
    )


def _wait_for_epoch(proc: subprocess.Popen[str]) -> list[str]:
    """Reads stdout until the first epoch line (the run is under way)."""
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line)
        if line.startswith("Epoch 1/"):
            return seen
    proc.kill()
    pytest.fail("no epoch line: " + "".join(seen))


def _all_checkpoints_load(root: Path) -> list[Path]:
    files = sorted(root.rglob("*.safetensors"))
    for f in files:
        Checkpoint.load(f)
    assert not [p for p in root.rglob("*.tmp")], "a temp file was left behind"
    return files


ARGS = ["train", "--epochs", "500", "--set", "batch_size=8"]


def test_cli_first_ctrl_c_saves_says_how_to_resume_and_exits_130(tmp_path: Path) -> None:
    proc = _start([*_exe(), *ARGS], tmp_path)
    _wait_for_epoch(proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    line = next(ln for ln in out.splitlines() if ln.startswith("Saved "))
    path = line.split()[1].rstrip(";")
    assert (
        f"resume with: democratising train --epochs 500 --set batch_size=8 --resume {path}" in line
    )
    assert Checkpoint.load(tmp_path / path).epoch >= 1
    _all_checkpoints_load(tmp_path / "runs")
    r = subprocess.run(
        [*_exe(), "train", "--resume", "last", "--epochs", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert f"Resumed from {path}" in r.stdout


def test_cli_second_ctrl_c_stops_at_once_without_a_torn_file(tmp_path: Path) -> None:
    proc = _start([*_exe(), *ARGS], tmp_path)
    _wait_for_epoch(proc)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    _all_checkpoints_load(tmp_path / "runs")


MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(MPIEXEC is None, reason="needs mpiexec next to the interpreter")
def test_mpiexec_two_ranks_ctrl_c_saves_once_and_all_ranks_stop(tmp_path: Path) -> None:
    pytest.importorskip("mpi4py")
    assert MPIEXEC is not None
    proc = _start([MPIEXEC, "-n", "2", *_exe(), *ARGS], tmp_path)
    _wait_for_epoch(proc)
    proc.send_signal(signal.SIGINT)  # mpiexec forwards it to every rank
    out, err = proc.communicate(timeout=90)
    assert proc.returncode == 130, (out[-2000:], err[-2000:])
    assert "aborting" not in err and "Traceback" not in err
    assert out.count("Saved ") == 1 and "resume with: mpirun -n 2 democratising train" in out
    files = _all_checkpoints_load(tmp_path / "runs")
    assert any("_step_" in f.name or f.name.startswith("epoch_") for f in files)
    assert not (tmp_path / "runs/digits/version_1").exists()
