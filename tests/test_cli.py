"""``democratising train`` end to end in subprocesses: output, checkpoints, resume, config
files and overrides, errors, the progress bar on a terminal, and ``--version``."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import democratising as dm
from democratising.checkpoint import load_file
from democratising.cli import main


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "democratising.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _model_tensors(path: Path) -> dict[str, np.ndarray]:
    return {k: np.array(v.numpy()) for k, v in load_file(path).items() if k.startswith("model.")}


def test_train_prints_epochs_writes_checkpoints_and_resumes(tmp_path: Path) -> None:
    r = _cli("train", "--epochs", "2", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "digits: 1438 train / 359 validation samples" in lines
    epochs = [line for line in lines if line.startswith("Epoch ")]
    assert [e.split(":")[0] for e in epochs] == ["Epoch 1/2", "Epoch 2/2"]
    assert all("loss = " in e and "accuracy = " in e and "samples/s" in e for e in epochs)
    assert r.stderr == ""  # no progress bar without a terminal
    ck = tmp_path / "checkpoints"
    assert sorted(p.name for p in ck.iterdir()) == [
        "epoch_0001.safetensors",
        "epoch_0002.safetensors",
    ]
    r = _cli("train", "--resume", "checkpoints", "--epochs", "3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Resumed from checkpoints/epoch_0002.safetensors at epoch 2" in r.stdout
    assert "Epoch 3/3:" in r.stdout and "Epoch 2/3" not in r.stdout
    # Resuming reproduces the uninterrupted run bit for bit.
    r = _cli("train", "--epochs", "3", "--checkpoint-dir", "straight", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    a = _model_tensors(ck / "epoch_0003.safetensors")
    b = _model_tensors(tmp_path / "straight" / "epoch_0003.safetensors")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_config_file_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text(
        'num_epochs = 5\nbatch_size = 64\nkeep_last = 1\n[optimizer]\nname = "sgd"\n'
        "momentum = 0.9\n"
    )
    r = _cli(
        "train",
        "--config",
        "run.toml",
        "--set",
        "num_epochs=2",
        "--set",
        "learning_rate=0.05",
        "--set",
        "scheduler.name=StepLR",
        "--set",
        "scheduler.step_size=1",
        "--set",
        "scheduler.gamma=0.5",
        "--checkpoint-dir",
        "out",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "Epoch 2/2" in r.stdout and "lr = 0.05 " in r.stdout and "lr = 0.025 " in r.stdout
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["epoch_0002.safetensors"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "batch_sise=4"], "did you mean 'batch_size'"),
        (["--set", "num_epochs"], "key=value"),
        (["--config", "nope.toml"], "cannot read config file"),
        (["--resume", "missing"], "no such file"),
        (["--data", "cifar"], "digits"),
        (["--set", "device=cuda:7", "--epochs", "1"], "cuda:7"),
    ],
)
def test_errors_exit_2_with_a_message(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert main(["train", *args]) == 2
    finally:
        os.chdir(cwd)
    assert message in capsys.readouterr().err


def test_bench_rejects_unknown_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["bench", "--bogus"])
    assert e.value.code == 2
    assert "--bogus" in capsys.readouterr().err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"democratising {dm.__version__}"
    assert main([]) == 2
    assert "train" in capsys.readouterr().err


def test_progress_bar_shows_on_a_terminal(tmp_path: Path) -> None:
    pty = pytest.importorskip("pty")
    fcntl = pytest.importorskip("fcntl")
    termios = pytest.importorskip("termios")
    pytest.importorskip("tqdm")
    master, slave = pty.openpty()
    # A fresh pty is 0 columns wide, and tqdm draws nothing in 0 columns.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "democratising.cli", "train", "--epochs", "1"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    out, _ = proc.communicate(timeout=120)
    os.close(master)
    assert proc.returncode == 0
    assert "epoch 1/1" in b"".join(chunks).decode(errors="replace")
    assert "Epoch 1/1:" in out


def test_demo_module_is_the_train_command(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "democratising.demo", "--epochs", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "Epoch 1/1:" in r.stdout and (tmp_path / "checkpoints").is_dir()


def test_mpirun_two_ranks_train_data_parallel(tmp_path: Path) -> None:
    pytest.importorskip("mpi4py")
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if not mpiexec.exists():
        pytest.skip("no mpiexec next to the interpreter")
    exe = Path(sys.executable).parent / "democratising"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "democratising.cli"]
    r = subprocess.run(
        [str(mpiexec), "-n", "2", *cmd, "train", "--epochs", "1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("Epoch 1/1:") == 1  # only rank 0 prints
    assert "DistributedDataParallel(world=2" in r.stdout
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["epoch_0001.safetensors"]
