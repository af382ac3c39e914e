"""``democratising train`` end to end in subprocesses: output, checkpoints, resume, config
files and overrides, errors, the progress bar on a terminal, and ``--version``."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm
from democratising.checkpoint import Checkpoint, load_file
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
    ck = tmp_path / "runs" / "digits" / "version_0" / "checkpoints"
    assert (
        r.stdout.splitlines()[-1]
        == f"Checkpoint: {ck.relative_to(tmp_path)}/epoch_0002.safetensors"
    )
    assert sorted(p.name for p in ck.iterdir()) == [
        "epoch_0001.safetensors",
        "epoch_0002.safetensors",
    ]
    r = _cli("train", "--resume", "last", "--epochs", "3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rel = ck.relative_to(tmp_path)
    assert f"Resumed from {rel}/epoch_0002.safetensors at epoch 2" in r.stdout
    assert r.stdout.splitlines()[-1] == f"Checkpoint: {rel}/epoch_0003.safetensors"
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
    bars = b"".join(chunks).decode(errors="replace")
    assert "epoch 1/1" in bars and "validation" in bars  # a bar for each
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
    assert "Epoch 1/1:" in r.stdout and (tmp_path / "runs" / "digits" / "version_0").is_dir()


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
    assert "DistributedDataParallel(\n  world=2, buckets=1" in r.stdout
    ck = tmp_path / "runs" / "digits" / "version_0" / "checkpoints"
    assert [p.name for p in ck.iterdir()] == ["epoch_0001.safetensors"]
    assert not (tmp_path / "runs" / "digits" / "version_1").exists()  # rank 0 made the folder


# ---- untrusted checkpoints and bad values: one line, exit status 2 ---------------------------


@pytest.fixture(scope="module")
def cli_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint written by ``democratising train`` (CLI defaults, one epoch)."""
    cwd = tmp_path_factory.mktemp("cli_source")
    r = _cli("train", "--epochs", "1", cwd=cwd)
    assert r.returncode == 0, r.stderr
    return cwd / "runs" / "digits" / "version_0" / "checkpoints" / "epoch_0001.safetensors"


def _edited(src: Path, dst: Path, edit: Callable[[Checkpoint], Any]) -> Path:
    """``src`` edited and saved with a valid checksum, as anyone can write one."""
    ck = Checkpoint.load(src)
    edit(ck)
    ck.save(dst)
    return dst


def test_resume_never_lets_the_checkpoint_choose_paths(
    cli_checkpoint: Path, tmp_path: Path
) -> None:
    """A crafted checkpoint whose saved config names another directory and keep_last=1 once
    made ``--resume`` overwrite and delete ``epoch_*`` files there. Run settings now come from
    the command line, the config file and the defaults only."""
    victim = tmp_path / "victim"
    victim.mkdir()
    for i in range(1, 5):
        (victim / f"epoch_{i:04d}.safetensors").write_bytes(b"precious")
    run = tmp_path / "run"
    run.mkdir()

    def evil(ck: Checkpoint) -> None:
        ck.extra["trainer"]["config"].update(
            checkpoint_dir=str(victim), keep_last=1, num_epochs=4, batch_size=8
        )

    _edited(cli_checkpoint, run / "evil.safetensors", evil)
    r = _cli("train", "--resume", "evil.safetensors", "--epochs", "2", cwd=run)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in victim.iterdir()) == [
        f"epoch_{i:04d}.safetensors" for i in range(1, 5)
    ]
    assert all(p.read_bytes() == b"precious" for p in victim.iterdir())
    # A file outside a run folder starts a new run folder for what it continues.
    ck = run / "runs" / "digits" / "version_0" / "checkpoints"
    assert sorted(p.name for p in ck.iterdir()) == ["epoch_0002.safetensors"]
    assert "Epoch 2/2:" in r.stdout and "Epoch 3/" not in r.stdout
    assert "Note: the checkpoint's run used other settings for batch_size" in r.stdout
    assert str(victim) not in r.stdout + r.stderr


def _assert_usage_error(r: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("democratising train: error: "), r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ('{"seed": -1}', ["seed", "[0, 2**64-1]"]),
        ('{"seed": 1e30}', ["seed", "[0, 2**64-1]"]),
        ('{"optimizer": {"name": "adam", "beta1": 5}}', ["optimizer.beta1", "[0, 1)"]),
        ('{"scheduler": {"name": "StepLR", "step_size": 0}}', ["scheduler.step_size", "[1, "]),
        ('{"num_workers": 100000}', ["num_workers", "[0, 256]"]),
        ('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}", ["nested too deeply"]),
    ],
)
def test_bad_config_values_exit_2_with_one_line(
    content: str, needles: list[str], tmp_path: Path
) -> None:
    (tmp_path / "bad.json").write_text(content)
    r = _cli("train", "--config", "bad.json", "--epochs", "1", cwd=tmp_path)
    _assert_usage_error(r, *needles)
    assert not (tmp_path / "runs").exists()


_BAD_PCG64 = {
    "bit_generator": "PCG64",
    "state": {"state": -1, "inc": 1},
    "has_uint32": 0,
    "uinteger": 0,
}

#: The bad-metadata checkpoints of issue 13, each otherwise valid and checksummed.
_BAD_CHECKPOINTS: dict[str, tuple[Callable[[Checkpoint], Any], str]] = {
    "trainer_not_dict": (lambda ck: ck.extra.update(trainer="x"), "'trainer' must be a dict"),
    "bad_history": (
        lambda ck: ck.extra["trainer"].update(history={"loss": 3}),
        "trainer.history.loss",
    ),
    "loader_without_rng": (lambda ck: ck.extra["trainer"].update(loader={}), "trainer.loader"),
    "bad_pcg64_state": (
        lambda ck: ck.extra["trainer"].update(loader={"rng": _BAD_PCG64}),
        "trainer.loader",
    ),
    "config_not_dict": (lambda ck: ck.extra["trainer"].update(config=[1]), "trainer.config"),
    "lr_as_string": (lambda ck: ck.optimizer_state["param_groups"][0].update(lr="0.1"), "'lr'"),
    "negative_epoch": (lambda ck: setattr(ck, "epoch", -1), "'epoch'"),
    "epoch_1e30": (lambda ck: setattr(ck, "epoch", 10**30), "'epoch'"),
}


@pytest.mark.parametrize("case", sorted(_BAD_CHECKPOINTS))
def test_bad_resume_checkpoints_exit_2_with_one_line(
    case: str, cli_checkpoint: Path, tmp_path: Path
) -> None:
    edit, needle = _BAD_CHECKPOINTS[case]
    _edited(cli_checkpoint, tmp_path / "bad.safetensors", edit)
    r = _cli("train", "--resume", "bad.safetensors", "--epochs", "3", cwd=tmp_path)
    _assert_usage_error(r, needle)
    assert not (tmp_path / "runs").exists()


def test_unverified_resume_needs_the_flag(cli_checkpoint: Path, tmp_path: Path) -> None:
    blob = cli_checkpoint.read_bytes()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8 : 8 + n])
    meta = header["__metadata__"]
    del meta["democratising.sha256"]
    doc = json.loads(meta["democratising"])
    del doc["checksum"]
    meta["democratising"] = json.dumps(doc)
    raw = json.dumps(header).encode()
    (tmp_path / "old.safetensors").write_bytes(struct.pack("<Q", len(raw)) + raw + blob[8 + n :])
    r = _cli("train", "--resume", "old.safetensors", "--epochs", "2", cwd=tmp_path)
    _assert_usage_error(r, "unverified", "pass --allow-unverified to load it")
    assert "allow_unverified=True" not in r.stderr
    r = _cli(
        "train", "--resume", "old.safetensors", "--epochs", "2", "--allow-unverified", cwd=tmp_path
    )
    assert r.returncode == 0 and "Epoch 2/2:" in r.stdout, r.stderr
    assert "unverified" in r.stderr


@pytest.mark.parametrize("value", ["abc", "nan"])
def test_bad_dist_timeout_under_a_launcher_exits_2_with_one_line(
    value: str, tmp_path: Path
) -> None:
    """Under MPI (a launcher's environment; one rank, so nothing else to reach) a bad
    ``$DEMOCRATISING_DIST_TIMEOUT`` is a usage error, not a traceback with status 1."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    env = {**base, "PMI_RANK": "0", "PMI_SIZE": "1", "DEMOCRATISING_DIST_TIMEOUT": value}
    r = subprocess.run(
        [sys.executable, "-m", "democratising.cli", "train", "--epochs", "1"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    _assert_usage_error(r, f"DEMOCRATISING_DIST_TIMEOUT={value!r}")
