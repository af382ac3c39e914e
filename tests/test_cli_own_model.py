"""``democratising train --model pkg.module:factory --data pkg.module:factory`` (issue 17,
point 8): the user's model and data with the same config, resume, AMP and MPI options."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MODULE = """
import democratising as dm
import democratising.nn.functional as F
from democratising import nn
from democratising.data import TensorDataset


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self(x), y)


def build_model():
    return Classifier()


def plain_model():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def data():
    x = dm.randn(200, 4)  # the command seeds the generator (config seed) first
    return TensorDataset(x, (x.sum(dim=1) > 0).long())


def broken():
    raise RuntimeError("no GPU here")
"""


def _cli(*args: str, cwd: Path, mpi: int = 0) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "democratising.cli", "train", *args]
    if mpi:
        mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent))
        if mpiexec is None:
            pytest.skip("no mpiexec next to the interpreter")
        pytest.importorskip("mpi4py")
        cmd = [mpiexec, "-n", str(mpi), *cmd]
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "mymod.py").write_text(MODULE)
    return tmp_path


def test_own_model_and_data_train_resume_and_name_the_run(project: Path) -> None:
    spec = ["--model", "mymod:build_model", "--data", "mymod:data"]
    r = _cli(*spec, "--epochs", "2", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "mymod:data: 160 train / 40 validation" in r.stdout
    assert "Classifier" in r.stdout and "Epoch 2/2:" in r.stdout
    ck = "runs/build_model/version_0/checkpoints"
    assert r.stdout.splitlines()[-1] == f"Checkpoint: {ck}/epoch_0002.safetensors"
    r = _cli(*spec, "--epochs", "3", "--resume", "last", cwd=project)
    assert r.returncode == 0, r.stderr
    assert f"Resumed from {ck}/epoch_0002.safetensors at epoch 2" in r.stdout
    assert "Epoch 3/3:" in r.stdout


def test_own_plain_model_with_config_overrides_and_amp(project: Path) -> None:
    (project / "run.toml").write_text("batch_size = 50\n")
    r = _cli(
        "--model",
        "mymod:plain_model",
        "--data",
        "mymod:data",
        "--config",
        "run.toml",
        "--set",
        "amp=bf16",
        "--epochs",
        "1",
        "--name",
        "bf16-try",
        cwd=project,
    )
    assert r.returncode == 0, r.stderr
    assert "accuracy = " in r.stdout  # the default CrossEntropyLoss and class targets
    cfg = (project / "runs/bf16-try/version_0/config.toml").read_text()
    assert 'amp = "bfloat16"' in cfg and "batch_size = 50" in cfg


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--model", "nosuch:build", "--data", "mymod:data"], "cannot import 'nosuch'"),
        (["--model", "mymod:nosuch", "--data", "mymod:data"], "'mymod' has no 'nosuch'"),
        (["--model", "mymod:broken", "--data", "mymod:data"], "RuntimeError: no GPU here"),
        (["--data", "mymod:data"], "needs --model"),
    ],
)
def test_factory_errors_are_one_usage_line(project: Path, args: list[str], needle: str) -> None:
    r = _cli(*args, "--epochs", "1", cwd=project)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_own_model_under_mpiexec_two_ranks(project: Path) -> None:
    r = _cli(
        "--model", "mymod:build_model", "--data", "mymod:data", "--epochs", "1", cwd=project, mpi=2
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("Epoch 1/1:") == 1 and "DistributedDataParallel(\n  world=2" in r.stdout
    assert (project / "runs/build_model/version_0/checkpoints/epoch_0001.safetensors").exists()
