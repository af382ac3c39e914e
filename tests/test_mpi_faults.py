"""Ranks that fail or leave early end the whole MPI job within seconds, naming the rank (issue 13).

Each MPI case runs ``mpiexec -n 2`` (one case 3) with a hard timeout, so a hang fails the test
instead of the suite; the workers live in ``tests/mpi/early.py`` and print ``FAILING <time>``
when they fail, from which the time the job took to end after the failure is measured."""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import pytest

from democratising import _launcher
from democratising.distributed import _wait
from democratising.errors import DistributedError
from test_distributed import MPI_DIR, MPIEXEC, Job, _is_open_mpi, needs_mpi, run_mpi

HARD_TIMEOUT = 45.0
#: The job must end this soon after the failure (the survivors' collective timeout is 60 s).
ENDS_WITHIN = 10.0


def _ended_after_failure(job: Job, ended: float) -> float:
    """Seconds from the worker's ``FAILING`` stamp to ``ended``, both on ``time.monotonic()``
    (CLOCK_MONOTONIC is one clock for every process on the host; a CI sandbox once stepped the
    wall clock by 22 s mid-job). The job's own duration bounds it from above."""
    m = re.search(r"FAILING (\d+\.\d+)", job.stdout)
    assert m is not None, job
    return min(ended - float(m.group(1)), job.seconds)


def _run_timed(n: int, *args: str, via_mpi4py: bool = False) -> tuple[Job, float]:
    job = run_mpi(n, "early.py", *args, via_mpi4py=via_mpi4py, timeout=HARD_TIMEOUT)
    return job, _ended_after_failure(job, time.monotonic())


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "democratising"
    return [str(script)] if script.exists() else [sys.executable, "-m", "democratising.cli"]


def _run_mpmd(
    rank_args: list[list[str]], cwd: Path, extra_env: Optional[dict[str, str]] = None
) -> Job:
    """``mpiexec -n 1 CMD0 : -n 1 CMD1 ...`` with a hard timeout (kills the process group)."""
    assert MPIEXEC is not None
    cmd = [MPIEXEC] + (["--allow-run-as-root", "--oversubscribe"] if _is_open_mpi() else [])
    for i, args in enumerate(rank_args):
        cmd += ([":"] if i else []) + ["-n", "1", *args]
    env = dict(os.environ, RAYON_NUM_THREADS="1", OMP_NUM_THREADS="1")
    env.pop("DEMOCRATISING_DIST_TIMEOUT", None)
    env.update(extra_env or {})
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(cwd),
        start_new_session=True,
    )  # fmt: skip
    try:
        out, err = proc.communicate(timeout=HARD_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"MPI job {rank_args} hung for {HARD_TIMEOUT:.0f} s:\n{err[-3000:]}")
    return Job(proc.returncode, out, err, time.monotonic() - start)


# ---- no MPI needed ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "rank", "size"),
    [
        ({}, None, None),
        ({"PMI_RANK": "1", "PMI_SIZE": "2"}, 1, 2),  # MPICH / Intel MPI (Hydra)
        ({"OMPI_COMM_WORLD_RANK": "3", "OMPI_COMM_WORLD_SIZE": "4"}, 3, 4),  # Open MPI
        ({"PMIX_RANK": "0", "SLURM_PROCID": "0", "SLURM_STEP_NUM_TASKS": "8"}, 0, 8),  # srun
        ({"PMIX_RANK": "2"}, 2, None),  # PMIx without the size in the environment
    ],
)
def test_launcher_reads_rank_and_size_from_the_environment(
    env: dict[str, str], rank: Optional[int], size: Optional[int]
) -> None:
    assert _launcher.launched(env) is bool(env)
    assert (_launcher.rank(env), _launcher.size(env)) == (rank, size)
    assert _launcher.multi_rank(env) is (bool(env) and (size is None or size > 1))
    assert not _launcher.multi_rank({"PMI_RANK": "0", "PMI_SIZE": "1"})


def test_import_under_a_launcher_installs_the_hook_without_importing_mpi4py() -> None:
    code = (
        "import sys, democratising; "
        "print('mpi4py' in sys.modules, sys.excepthook is not sys.__excepthook__)"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    for extra, want in (({"PMI_RANK": "0", "PMI_SIZE": "2"}, "False True"), ({}, "False False")):
        out = subprocess.run(
            [sys.executable, "-c", code], env={**base, **extra}, capture_output=True, text=True,
            timeout=HARD_TIMEOUT,
        )  # fmt: skip
        assert out.returncode == 0 and out.stdout.split() == want.split(), out


@pytest.mark.parametrize("value", ["abc", "nan", "-nan", "1e400x", ""])
def test_dist_timeout_variable_is_validated(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMOCRATISING_DIST_TIMEOUT", value)
    if value == "":  # unset in effect: the default
        assert _wait.resolve_timeout(None) == _wait.DEFAULT_TIMEOUT
        return
    with pytest.raises(DistributedError, match=r"DEMOCRATISING_DIST_TIMEOUT.*seconds"):
        _wait.resolve_timeout(None)
    assert _wait.resolve_timeout(5) == 5.0  # an explicit timeout does not read the variable


@pytest.mark.parametrize(("value", "want"), [("2.5", 2.5), ("0", math.inf), ("-1", math.inf)])
def test_dist_timeout_variable_values(
    value: str, want: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEMOCRATISING_DIST_TIMEOUT", value)
    assert _wait.resolve_timeout(None) == want


def test_nan_timeout_argument_is_rejected() -> None:
    with pytest.raises(DistributedError, match="timeout"):
        _wait.resolve_timeout(float("nan"))


def test_world_init_names_a_bad_timeout_variable() -> None:
    """Rejected before MPI is initialised, with the variable's name (it was a bare
    ``ValueError: could not convert string to float``)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    code = "from democratising import distributed as d; d.World.init()"
    out = subprocess.run(
        [sys.executable, "-c", code], env={**base, "DEMOCRATISING_DIST_TIMEOUT": "abc"},
        capture_output=True, text=True, timeout=HARD_TIMEOUT,
    )  # fmt: skip
    assert out.returncode == 1, out
    assert "DistributedError" in out.stderr and "DEMOCRATISING_DIST_TIMEOUT='abc'" in out.stderr


# ---- MPI jobs -----------------------------------------------------------------------------


@needs_mpi
@pytest.mark.parametrize("via_mpi4py", [True, False], ids=["python-m-mpi4py", "plain-python"])
def test_exception_before_world_init_ends_the_job(via_mpi4py: bool) -> None:
    job, after = _run_timed(2, "raise_before_init", via_mpi4py=via_mpi4py)
    assert job.returncode != 0, job
    assert "deliberate failure before World.init on rank 1" in job.stderr, job
    assert "uncaught RuntimeError on rank 1 of 2" in job.stderr, job
    assert after < ENDS_WITHIN, job


@needs_mpi
@pytest.mark.parametrize("code", [1, 0])
def test_exit_after_init_ends_the_job_naming_the_rank(code: int) -> None:
    """A ``sys.exit`` never reaches ``sys.excepthook``: the leaving rank's goodbye does it,
    even for status 0 while the peer still waits in a collective."""
    job, after = _run_timed(2, "exit_after_init", str(code))
    assert job.returncode != 0, job
    assert "rank 1 exited before joining all_reduce" in job.stderr, job
    assert after < ENDS_WITHIN, job


@needs_mpi
def test_exit_after_init_under_mpi4py_ends_the_job() -> None:
    job, after = _run_timed(2, "exit_after_init", "3", via_mpi4py=True)
    # mpi4py turns rank 1's sys.exit(3) into MPI_Abort(3): the job's status is rank 1's code.
    assert job.returncode == 3, job
    # MPICH names the aborting rank on stderr, but its launcher may tear the job down before
    # that line is forwarded (seen on a loaded machine); when a line arrives, it names rank 1.
    assert "rank 1" in job.stderr or not job.stderr.strip(), job
    assert after < ENDS_WITHIN, job


@needs_mpi
def test_rank_that_finished_its_collectives_may_leave_first() -> None:
    job = run_mpi(2, "early.py", "finish_early", via_mpi4py=False, timeout=HARD_TIMEOUT)
    assert job.returncode == 0 and "finish_early ok" in job.stdout, job
    assert "exited before joining" not in job.stderr, job


@needs_mpi
def test_cli_error_after_world_init_ends_the_job() -> None:
    job, after = _run_timed(2, "cli_after_init")
    assert job.returncode != 0, job
    assert "democratising train: rank 1 of 2 failed with exit status 2" in job.stderr, job
    assert "/nonexistent/early" in job.stderr, job
    assert after < ENDS_WITHIN, job


@needs_mpi
@pytest.mark.parametrize("bad", ["data", "resume", "argument"])
def test_cli_error_on_one_rank_ends_the_job(bad: str, tmp_path: Path) -> None:
    """``mpiexec -n 1 democratising train ... : -n 1 democratising train <bad>``: rank 1 errors
    out before ``World.init``, rank 0 waits in MPI_Init; the job must end, naming rank 1."""
    (tmp_path / "bad.safetensors").write_bytes(b"not a checkpoint at all")
    good = [*_cli(), "train", "--data", "digits", "--epochs", "1"]
    wrong, said = {
        "data": (["--data", "mnist:/nonexistent"], "nonexistent"),
        "resume": (["--resume", "bad.safetensors"], "safetensors"),
        "argument": (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    }[bad]
    job = _run_mpmd([good, [*_cli(), "train", "--epochs", "1", *wrong]], tmp_path)
    assert job.returncode != 0, job
    assert "democratising train: rank 1 of 2 failed with exit status" in job.stderr, job
    assert said in job.stderr, job
    assert job.seconds < 25, job  # start-up included; rank 0 alone would train for longer


@needs_mpi
@pytest.mark.parametrize("code", ["1", "end"], ids=["sys-exit-1", "script-ends"])
def test_exit_before_world_init_ends_the_job_naming_the_rank(code: str) -> None:
    """Rank 1 leaves after ``import democratising`` but before ``World.init`` (no exception, so
    no excepthook) while rank 0 calls ``World.init`` and an all_reduce: rank 1's at-exit join
    starts MPI, pairs with rank 0, says goodbye, and rank 0 aborts naming it."""
    job, after = _run_timed(2, "exit_before_init", code)
    assert job.returncode != 0, job
    assert "rank 1 exited before joining all_reduce" in job.stderr, job
    assert after < ENDS_WITHIN, job


@needs_mpi
@pytest.mark.parametrize("via_mpi4py", [False, True], ids=["plain-python", "python-m-mpi4py"])
def test_ranks_that_never_use_mpi_still_exit_cleanly(via_mpi4py: bool) -> None:
    job = run_mpi(2, "early.py", "no_mpi", via_mpi4py=via_mpi4py, timeout=HARD_TIMEOUT)
    assert job.returncode == 0, job
    assert "no_mpi ok 0" in job.stdout and "no_mpi ok 1" in job.stdout, job  # lines may interleave
    assert "exited before joining" not in job.stderr, job
    assert job.seconds < 15, job  # start-up included


@needs_mpi
def test_exit_join_gives_up_when_no_peer_starts_mpi() -> None:
    """Rank 0 ends without its at-exit handlers, so nobody pairs with rank 1's at-exit
    MPI_Init: it must exit after the collective timeout (2 s here) rather than hang."""
    worker = [sys.executable, str(MPI_DIR / "early.py"), "exit_alone"]
    job = _run_mpmd([worker, worker], MPI_DIR, {"DEMOCRATISING_DIST_TIMEOUT": "2"})
    after = _ended_after_failure(job, time.monotonic())
    assert job.returncode != 0, job
    assert "Timeout (0:00:02)!" in job.stderr and "join_at_exit" in job.stderr, job
    assert after < ENDS_WITHIN, job


@needs_mpi
def test_abort_hook_gives_up_when_no_peer_starts_mpi() -> None:
    """Rank 0 ends without MPI (and without its at-exit join), so nobody pairs with the failing
    rank's MPI_Init: it must exit after the collective timeout (2 s here) rather than hang."""
    worker = [sys.executable, str(MPI_DIR / "early.py"), "raise_alone"]
    job = _run_mpmd([worker, worker], MPI_DIR, {"DEMOCRATISING_DIST_TIMEOUT": "2"})
    after = _ended_after_failure(job, time.monotonic())
    assert job.returncode != 0, job
    assert "deliberate failure on rank 1, with no peer in MPI_Init" in job.stderr, job
    assert "it starts it now to reach the others, waiting at most 2 s for them" in job.stderr
    assert "Timeout (0:00:02)!" in job.stderr, job  # faulthandler's watchdog ended the wait
    assert after < ENDS_WITHIN, job


@needs_mpi
def test_timeout_names_the_rank_that_never_arrived() -> None:
    job = run_mpi(3, "early.py", "timeout_names_missing", via_mpi4py=False, timeout=HARD_TIMEOUT)
    assert job.returncode != 0, job
    assert "barrier timed out after 1.5 s on rank" in job.stderr, job
    assert "rank 2 never arrived" in job.stderr, job
    assert "rank 0 never arrived" not in job.stderr and "rank 1 never" not in job.stderr, job


@needs_mpi
def test_cli_bad_timeout_variable_is_a_usage_error_on_every_rank(tmp_path: Path) -> None:
    cmd = [*_cli(), "train", "--epochs", "1"]
    job = _run_mpmd([cmd, cmd], tmp_path, {"DEMOCRATISING_DIST_TIMEOUT": "abc"})
    assert job.returncode == 2, job
    assert "Traceback" not in job.stderr, job
    assert "democratising train: error: DEMOCRATISING_DIST_TIMEOUT='abc'" in job.stderr, job
    assert job.seconds < 25, job
