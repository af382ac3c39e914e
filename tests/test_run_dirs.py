"""Run folders (issue 17, point 1): every run writes into its own ``runs/<name>/version_N/``,
``ckpt_path="last"`` / ``--resume last`` finds the newest run's newest complete checkpoint,
pruning touches only the run's own files, and the final line names the run's own newest
checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import democratising as dm
from democratising.checkpoint import Checkpoint
from democratising.data import TensorDataset
from democratising.nn import Dense, ReLU, Sequential
from democratising.train import ModelCheckpoint, Trainer, TrainingConfig


def _data() -> TensorDataset:
    dm.manual_seed(0)
    x = dm.randn(64, 4)
    return TensorDataset(x, (x.sum(dim=1) > 0).long())


def _model() -> Sequential:
    dm.manual_seed(1)
    return Sequential(Dense(4, 8), ReLU(), Dense(8, 2))


def _cfg(tmp: Path, **kw: object) -> TrainingConfig:
    base: dict[str, object] = {
        "num_epochs": 2,
        "batch_size": 16,
        "verbose": False,
        "runs_dir": str(tmp / "runs"),
        "run_name": "exp",
    }
    base.update(kw)
    return TrainingConfig(**base)  # type: ignore[arg-type]


def _names(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def test_each_fit_gets_its_own_version_folder(tmp_path: Path) -> None:
    a = Trainer(_model(), _cfg(tmp_path, num_epochs=3, keep_last=2))
    a.fit(_data())
    b = Trainer(_model(), _cfg(tmp_path, num_epochs=1, keep_last=2))
    b.fit(_data())
    assert a.run_dir == tmp_path / "runs" / "exp" / "version_0"
    assert b.run_dir == tmp_path / "runs" / "exp" / "version_1"
    # The second, shorter run neither overwrote nor pruned the first one's files.
    assert _names(a.run_dir / "checkpoints") == ["epoch_0002.safetensors", "epoch_0003.safetensors"]
    assert _names(b.run_dir / "checkpoints") == ["epoch_0001.safetensors"]
    for run in (a.run_dir, b.run_dir):
        assert {"config.toml", "metrics.csv", "train.log", "checkpoints"} <= set(_names(run))
    assert TrainingConfig.from_file(a.run_dir / "config.toml").num_epochs == 3
    log = (a.run_dir / "train.log").read_text()  # written even with verbose=False
    assert "Run folder: " in log and "Epoch 3/3: loss = " in log
    assert len((a.run_dir / "metrics.csv").read_text().splitlines()) == 1 + 3


def test_ckpt_path_last_resumes_the_newest_run_in_its_own_folder(tmp_path: Path) -> None:
    Trainer(_model(), _cfg(tmp_path, num_epochs=3)).fit(_data())
    time.sleep(0.02)  # mtime order
    Trainer(_model(), _cfg(tmp_path, num_epochs=1)).fit(_data())
    t = Trainer(_model(), _cfg(tmp_path, num_epochs=2))
    t.fit(_data(), ckpt_path="last")
    # version_1 (the newest) continued from its epoch 1, in its own folder; no version_2.
    assert t.resumed_from == tmp_path / "runs/exp/version_1/checkpoints/epoch_0001.safetensors"
    assert t.run_dir == tmp_path / "runs" / "exp" / "version_1"
    assert t.history["epoch"] == [1, 2]
    assert not (tmp_path / "runs" / "exp" / "version_2").exists()


def test_last_skips_a_torn_newest_file(tmp_path: Path) -> None:
    t = Trainer(_model(), _cfg(tmp_path))
    t.fit(_data())
    ck = tmp_path / "runs/exp/version_0/checkpoints"
    (ck / "epoch_0003.safetensors").write_bytes(b"torn")
    assert t.find_last_checkpoint() == ck / "epoch_0002.safetensors"


def test_last_without_any_checkpoint_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no complete checkpoint under"):
        Trainer(_model(), _cfg(tmp_path)).fit(_data(), ckpt_path="last")


def test_pruning_in_a_shared_checkpoint_dir_touches_only_own_files(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    for i in (5, 6, 7):  # another run's, with higher epoch numbers
        (shared / f"epoch_{i:04d}.safetensors").write_bytes(b"other run")
    lines: list[str] = []
    cfg = TrainingConfig(num_epochs=3, batch_size=16, checkpoint_dir=str(shared), keep_last=1)
    Trainer(_model(), cfg, log=lines.append).fit(_data())
    assert _names(shared) == [f"epoch_{i:04d}.safetensors" for i in (3, 5, 6, 7)]
    assert any("already holds 3 checkpoint(s) of another run" in ln for ln in lines)


def test_model_checkpoint_state_lists_only_checkpoint_names(tmp_path: Path) -> None:
    cb = ModelCheckpoint(tmp_path)
    t = Trainer(_model(), TrainingConfig(verbose=False))
    with pytest.raises(ValueError, match="not an epoch_NNNN file name"):
        cb.check_state_dict({"best": None, "written": ["../../etc/passwd"]}, t)
    assert cb.check_state_dict({"best": None}, t) == {"best": None, "written": []}


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "democratising.cli", "train", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_two_runs_in_one_folder_never_touch_each_other(tmp_path: Path) -> None:
    r1 = _cli("--epochs", "4", cwd=tmp_path)
    r2 = _cli("--epochs", "1", cwd=tmp_path)
    assert r1.returncode == 0 and r2.returncode == 0, r1.stderr + r2.stderr
    v0 = tmp_path / "runs/digits/version_0/checkpoints"
    v1 = tmp_path / "runs/digits/version_1/checkpoints"
    # keep_last = 3 is the CLI default, with or without a config file
    assert _names(v0) == [f"epoch_{i:04d}.safetensors" for i in (2, 3, 4)]
    assert _names(v1) == ["epoch_0001.safetensors"]
    assert (
        r2.stdout.splitlines()[-1]
        == "Checkpoint: runs/digits/version_1/checkpoints/epoch_0001.safetensors"
    )
    # --epochs 0: nothing written and the final line says so, not another run's file.
    r3 = _cli("--epochs", "0", cwd=tmp_path)
    assert r3.returncode == 0, r3.stderr
    assert r3.stdout.splitlines()[-1] == "No checkpoint written (no epoch was trained)"


def test_cli_defaults_are_the_same_with_and_without_a_config_file(tmp_path: Path) -> None:
    import argparse

    from democratising.train.command import _config, add_arguments

    (tmp_path / "run.toml").write_text("batch_size = 64\n")
    p = argparse.ArgumentParser()
    add_arguments(p)
    plain = _config(p.parse_args([]), "digits")
    filed = _config(p.parse_args(["--config", str(tmp_path / "run.toml")]), "digits")
    assert (plain.num_epochs, plain.keep_last, plain.runs_dir) == (20, 3, "runs")
    assert (filed.num_epochs, filed.keep_last, filed.runs_dir) == (20, 3, "runs")
    assert filed.batch_size == 64


def test_cli_resuming_a_finished_run_says_so(tmp_path: Path) -> None:
    assert _cli("--epochs", "1", cwd=tmp_path).returncode == 0
    r = _cli("--epochs", "1", "--resume", "last", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "already completed 1 epochs and num_epochs = 1: nothing to train" in r.stdout
    assert "Epoch " not in r.stdout
    assert r.stdout.splitlines()[-1].endswith("version_0/checkpoints/epoch_0001.safetensors")
    assert Checkpoint.load(tmp_path / "runs/digits/version_0/checkpoints/epoch_0001.safetensors")
    assert not os.path.exists(tmp_path / "runs/digits/version_1")
