"""Issue 20: ``democratising launch`` relaunches failed ``mpiexec`` jobs, which resume from the
newest complete checkpoint and end with the weights of a run never stopped.

Every job runs under a hard timeout (the launcher's process group is killed), so a hang fails
the test instead of the suite. The worker is ``tests/mpi/resilient.py``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

from democratising import launch as L
from democratising.checkpoint import Checkpoint
from democratising.train._rundir import candidates
from test_distributed import MPI_DIR, MPIEXEC, needs_mpi

HARD_TIMEOUT = 150.0
SCRIPT = str(MPI_DIR / "resilient.py")


def _launch(
    *args: str, cwd: Path, sigint_once: Optional[Path] = None
) -> subprocess.CompletedProcess[str]:
    """Runs the launcher; with ``sigint_once``, sends it SIGINT once that folder holds a
    checkpoint (training is under way)."""
    cmd = [sys.executable, "-m", "democratising.cli", "launch", *args]
    env = dict(os.environ, RAYON_NUM_THREADS="1", OMP_NUM_THREADS="1")
    env.pop("DEMOCRATISING_DIST_TIMEOUT", None)
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        if sigint_once is not None:
            deadline = time.monotonic() + HARD_TIMEOUT / 2
            while time.monotonic() < deadline and proc.poll() is None:
                if sigint_once.is_dir() and any(sigint_once.glob("epoch_*")):
                    break
                time.sleep(0.05)
            time.sleep(0.3)
            proc.send_signal(signal.SIGINT)  # Ctrl-C reaches the launcher only
        out, err = proc.communicate(timeout=HARD_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"launch {args} hung for {HARD_TIMEOUT:.0f} s:\n{err[-4000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _weights(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


@needs_mpi
def test_five_sigkills_at_random_steps_end_with_the_uninterrupted_weights(tmp_path: Path) -> None:
    ref = _launch(
        "-n", "2", "--max-restarts", "0", "--log-dir", str(tmp_path / "ref_logs"), "--",
        SCRIPT, str(tmp_path / "ref_ck"), str(tmp_path / "ref.npz"), "",
        cwd=tmp_path,
    )  # fmt: skip
    assert ref.returncode == 0, ref.stderr[-3000:]
    assert "finished after 1 attempt" in ref.stderr
    seed = int(os.environ.get("DEMOCRATISING_TEST_SEED", "20"))
    rng = np.random.default_rng(seed)
    ranks = [int(r) for r in rng.integers(0, 2, 5)]
    deltas = [int(d) for d in rng.integers(5, 10, 5)]  # steps after each resume point
    plan = ",".join(f"{a}:{r}:{d}" for a, (r, d) in enumerate(zip(ranks, deltas)))
    job = _launch(
        "-n", "2", "--max-restarts", "5", "--log-dir", str(tmp_path / "logs"), "--",
        SCRIPT, str(tmp_path / "ck"), str(tmp_path / "out.npz"), plan,
        cwd=tmp_path,
    )  # fmt: skip
    err = job.stderr
    assert job.returncode == 0, f"plan {plan} (seed {seed}):\n{err[-5000:]}"
    failed = re.findall(r"attempt (\d+) failed: rank (\d) was killed by signal 9 \(SIGKILL\)", err)
    assert [(int(a), int(r)) for a, r in failed] == [(a + 1, r) for a, r in enumerate(ranks)], err
    lost = re.findall(r"work lost: at least (\d+) optimizer step\(s\), from step (\d+)", err)
    assert len(lost) == 5, err
    assert "finished after 6 attempt" in err
    got, want = _weights(tmp_path / "out.npz"), _weights(tmp_path / "ref.npz")
    assert int(got["step"]) == int(want["step"]) == 4 * 12
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=f"{k} (plan {plan})")
    # each attempt's rank reports are kept
    report = json.loads((tmp_path / f"logs/attempt_0/rank_{ranks[0]}.json").read_text())
    assert report["signal"] == 9


@needs_mpi
def test_the_same_failure_twice_without_progress_stops_the_launcher(tmp_path: Path) -> None:
    job = _launch(
        "-n", "2", "--max-restarts", "5", "--log-dir", str(tmp_path / "logs"), "--",
        SCRIPT, str(tmp_path / "ck"), str(tmp_path / "out.npz"), "raise",
        cwd=tmp_path,
    )  # fmt: skip
    err = job.stderr
    assert job.returncode != 0
    assert err.count("attempt 1 failed: rank 1 raised RuntimeError") == 1, err[-4000:]
    assert "attempt 2 failed: rank 1 raised RuntimeError" in err
    assert "RuntimeError: the data on rank 1 is broken" in err
    assert "failed the same way twice without writing a new checkpoint" in err
    assert "attempt 3" not in err and not (tmp_path / "logs/attempt_2").exists()


@needs_mpi
def test_ctrl_c_stops_every_rank_without_relaunching_and_keeps_the_checkpoints(
    tmp_path: Path,
) -> None:
    ck = tmp_path / "ck"
    job = _launch(
        "-n", "2", "--max-restarts", "3", "--log-dir", str(tmp_path / "logs"), "--",
        SCRIPT, str(ck), str(tmp_path / "out.npz"), "", "400",
        cwd=tmp_path, sigint_once=ck,
    )  # fmt: skip
    err = job.stderr
    assert job.returncode == L.EXIT_INTERRUPTED, err[-4000:]
    assert "stopped by Ctrl-C" in err and "relaunching" not in err
    assert re.search(r"Saved \S+; resume with", err), err[-3000:]  # the trainer's last save
    assert not (tmp_path / "logs/attempt_1").exists()
    assert not (tmp_path / "out.npz").exists()  # it was stopped, not finished
    Checkpoint.load(candidates([ck])[0])  # the newest checkpoint is complete


@needs_mpi
def test_train_command_launch_form(tmp_path: Path) -> None:
    env = dict(os.environ, RAYON_NUM_THREADS="1", OMP_NUM_THREADS="1")
    r = subprocess.run(
        [sys.executable, "-m", "democratising.cli", "train", "-n", "2", "--max-restarts", "1",
         "--epochs", "1", "--set", "checkpoint_every_n_steps=10", "--log-dir", "logs"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=HARD_TIMEOUT,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    assert "finished after 1 attempt" in r.stderr
    assert r.stdout.count("Epoch 1/1") == 1  # rank 0 prints
    ck = tmp_path / "runs/digits/version_0/checkpoints"
    assert (ck / "epoch_0001.safetensors").exists()
    assert any("_step_" in p.name for p in ck.iterdir())
    assert json.loads((tmp_path / "logs/attempt_0/progress.json").read_text())["step"] > 0


# ---- no MPI needed ------------------------------------------------------------------------------


def _fake_mpiexec(tmp_path: Path, banner: str) -> str:
    fake = tmp_path / "mpiexec"
    fake.write_text(f"#!/bin/sh\necho '{banner}'\n")
    fake.chmod(0o755)
    return str(fake)


def test_mpi_flavour_and_the_flags_for_each(tmp_path: Path) -> None:
    ompi = _fake_mpiexec(tmp_path, "mpiexec (Open MPI) 4.1.5")
    assert L.mpi_flavour(ompi) == "openmpi"
    hydra = tmp_path / "h"
    hydra.mkdir()
    mpich = _fake_mpiexec(hydra, "HYDRA build details:")
    assert L.mpi_flavour(mpich) == "mpich"
    cmd = L.build_command(ompi, "openmpi", 2, ["s.py", "a"], tmp_path, hostfile="hosts")
    assert cmd[:5] == [ompi, "-n", "2", "--hostfile", "hosts"]
    assert "-x" in cmd and L.RESTART_ENV in cmd
    assert cmd[-3:] == [sys.executable, "s.py", "a"]
    cmd = L.build_command(mpich, "mpich", 2, ["-m", "pkg", "x"], tmp_path, hostfile="hosts")
    assert cmd[:5] == [mpich, "-n", "2", "-f", "hosts"] and "-x" not in cmd
    assert cmd[-4:] == [sys.executable, "-m", "pkg", "x"]


def test_train_launch_form_strips_the_launcher_flags() -> None:
    argv = ["train", "-n", "2", "--max-restarts=3", "--epochs", "2", "--resume", "x", "-n4"]
    assert L.strip_launch_flags(argv) == ["train", "--epochs", "2", "--resume", "x"]
    assert L.strip_launch_flags(argv, ("--resume",)) == ["train", "--epochs", "2"]


def test_diagnose_picks_the_first_rank_to_fail(tmp_path: Path) -> None:
    tb = [
        "Traceback (most recent call last):",
        '  File "x.py", line 3, in <module>',
        "    boom()",
        "ValueError: bad value",
        "democratising: uncaught ValueError on rank 1 of 2; aborting every rank of the job",
    ]
    for rank, code, sig, when, tail in ((0, -15, 15, 20.0, []), (1, 1, None, 10.0, tb)):
        (tmp_path / f"rank_{rank}.json").write_text(
            json.dumps({"rank": rank, "returncode": code, "signal": sig, "time": when,
                        "stderr_tail": tail})
        )  # fmt: skip
    f = L.diagnose(tmp_path, 1)
    assert (f.rank, f.returncode, f.signal) == (1, 1, None)
    assert f.lines[-1] == "ValueError: bad value" and "boom()" in f.lines[-2]
    assert f.describe().startswith("rank 1 exited with status 1:")


@pytest.mark.skipif(MPIEXEC is None, reason="needs mpiexec")
def test_launch_usage_errors(tmp_path: Path) -> None:
    from democratising.cli import main

    assert main(["launch", "--", "x.py"]) == 2  # no -n
    assert main(["launch", "-n", "2"]) == 2  # no script
