"""``democratising.distributed`` end to end: each test launches real MPI jobs
(``mpiexec -n N python -m mpi4py tests/mpi/<worker>.py``) as subprocesses with a hard timeout,
and checks what they wrote or how they ended. Skipped when mpi4py or mpiexec is missing.

Single-process references (DDP = large-batch training) are computed here, in the test process,
which never initialises MPI itself (forking mpiexec from an MPI process is fragile)."""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest

import democratising as dm
from democratising import distributed as dist
from democratising.data import TensorDataset
from helpers import FakeWorld

MPI_DIR = Path(__file__).parent / "mpi"
HARD_TIMEOUT = 60.0


def _load_common() -> Any:
    spec = importlib.util.spec_from_file_location("mpi_common", MPI_DIR / "common.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


common = _load_common()


def _find_mpiexec() -> Optional[str]:
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return shutil.which("mpiexec", path=search) or shutil.which("mpirun", path=search)


MPIEXEC = _find_mpiexec()
HAVE_MPI4PY = importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(
    MPIEXEC is None or not HAVE_MPI4PY, reason="needs mpi4py and mpiexec (pip install mpi4py mpich)"
)


@functools.cache
def _is_open_mpi() -> bool:
    assert MPIEXEC is not None
    out = subprocess.run([MPIEXEC, "--version"], capture_output=True, text=True, timeout=20)
    return "open mpi" in (out.stdout + out.stderr).lower() or "openrte" in out.stdout.lower()


class Job:
    """A finished MPI job: exit code, output and wall time."""

    def __init__(self, returncode: int, stdout: str, stderr: str, seconds: float) -> None:
        self.returncode, self.stdout, self.stderr, self.seconds = (
            returncode,
            stdout,
            stderr,
            seconds,
        )

    def __repr__(self) -> str:
        return (
            f"Job(rc={self.returncode}, {self.seconds:.1f}s)\n--- stdout\n{self.stdout[-3000:]}"
            f"\n--- stderr\n{self.stderr[-3000:]}"
        )


def run_mpi(
    n: int,
    script: str,
    *args: str,
    via_mpi4py: bool = True,
    hostfile: Optional[Path] = None,
    timeout: float = HARD_TIMEOUT,
    extra_env: Optional[dict[str, str]] = None,
) -> Job:
    """Runs ``script`` on ``n`` ranks; kills the whole process group after ``timeout``."""
    assert MPIEXEC is not None
    cmd = [MPIEXEC]
    if _is_open_mpi():
        cmd += ["--allow-run-as-root", "--oversubscribe"]
    if hostfile is not None:
        cmd += ["--hostfile" if _is_open_mpi() else "-f", str(hostfile)]
    cmd += ["-n", str(n), sys.executable]
    if via_mpi4py:
        cmd += ["-m", "mpi4py"]
    cmd += [str(MPI_DIR / script), *args]
    # One engine thread per rank: the ranks already fill the cores.
    env = dict(os.environ, RAYON_NUM_THREADS="1", OMP_NUM_THREADS="1", **(extra_env or {}))
    env.pop("DEMOCRATISING_DIST_TIMEOUT", None)
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=str(MPI_DIR),
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"MPI job {script} {args} hung for {timeout:.0f} s:\n{err[-3000:]}")
    return Job(proc.returncode, out, err, time.monotonic() - start)


def _load_ranks(out: Path, name: str, n: int) -> list[dict[str, np.ndarray]]:
    return [dict(np.load(out / f"{name}_rank{r}.npz")) for r in range(n)]


def _group(d: dict[str, np.ndarray], group: str) -> dict[str, np.ndarray]:
    return {k.split("/", 1)[1]: v for k, v in d.items() if k.startswith(group + "/")}


# ---- no MPI needed ------------------------------------------------------------------------


def test_loader_builder_chains_its_setters() -> None:
    ds = TensorDataset(dm.arange(10.0))
    builder = dist.DistributedDataLoader(ds)
    assert builder.batch_size(2).shuffle(False).drop_last().seed(3) is builder
    loader = builder.world(FakeWorld(2, 1)).build()  # any object with rank() and size()
    sampler = loader.distributed_sampler
    assert (sampler.num_replicas, sampler.rank, sampler.shuffle) == (2, 1, False)
    assert (sampler.seed, sampler.drop_last, loader.batch_size) == (3, True, 2)
    assert list(sampler) == [1, 3, 5, 7, 9]
    assert [b[0].tolist() for b in loader] == [[1.0, 3.0], [5.0, 7.0]]  # drop_last
    with pytest.raises(TypeError, match="batch_size"):
        dist.DistributedDataLoader(ds).batch_size()


def test_reduce_op_names_and_uninitialised_helpers() -> None:
    op = dist.ReduceOp
    assert op.parse("mean") is op.Mean is op.AVG and op.parse("Sum") is op.SUM
    with pytest.raises(ValueError, match="unknown reduce op"):
        op.parse("median")
    assert dist.current_world() is None and not dist.is_initialized()
    assert (dist.get_rank(), dist.get_world_size()) == (0, 1)
    assert dist.all_reduce_found_inf(True) is True and dist.all_reduce_found_inf(False) is False


# ---- MPI jobs -----------------------------------------------------------------------------


@needs_mpi
def test_single_process_world_without_launcher() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    proc = subprocess.run(
        [sys.executable, str(MPI_DIR / "single.py")],
        capture_output=True,
        text=True,
        timeout=HARD_TIMEOUT,
        cwd=str(MPI_DIR),
        env=env,
    )
    assert proc.returncode == 0 and "single ok" in proc.stdout, proc.stderr


def _check_partition(results: list[dict[str, Any]], n: int, total: int) -> None:
    assert [r["rank"] for r in results] == list(range(n))
    assert all(r["size"] == n for r in results)
    idx = [r["indices"] for r in results]
    per_rank = math.ceil(total / n)
    for key in ("loader_epoch0", "loader_epoch1", "sampler"):
        if key not in idx[0]:
            continue  # democratising.data.DistributedSampler not there: fallback tested above
        parts = [i[key] for i in idx]
        assert all(len(p) == per_rank for p in parts), key
        counts = Counter(x for p in parts for x in p)
        assert set(counts) == set(range(total)), key
        assert sum(c - 1 for c in counts.values()) == per_rank * n - total, key  # padding only
    assert idx[0]["loader_epoch0"] != idx[0]["loader_epoch1"]  # reshuffled each epoch
    for r in range(n):
        assert idx[r]["no_shuffle"] == [(r + k * n) % total for k in range(per_rank)]
    dropped = [i["drop_last"] for i in idx]
    flat = [x for p in dropped for x in p]
    assert len(flat) == len(set(flat))  # disjoint


@needs_mpi
@pytest.mark.parametrize("n", [2, 4])
def test_collectives_sampler_and_loader_partition(n: int, tmp_path: Path) -> None:
    job = run_mpi(n, "collectives.py", str(tmp_path))
    assert job.returncode == 0, job
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(n)]
    _check_partition(results, n, 23)
    assert [r["local_rank"] for r in results] == list(range(n))
    assert all(r["local_size"] == n for r in results)


@needs_mpi
def test_hostfile_with_two_local_slots(tmp_path: Path) -> None:
    hostfile = tmp_path / "hosts"
    hostfile.write_text("localhost slots=2\n" if _is_open_mpi() else "localhost:2\n")
    job = run_mpi(2, "collectives.py", str(tmp_path), hostfile=hostfile)
    assert job.returncode == 0, job
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    _check_partition(results, 2, 23)


SCENARIOS = [  # (name written by ddp_train.py, optimizer, micro-batches per step)
    ("adam_buckets", "adam", 1),
    ("seed_loop", "sgd", 1),
    ("no_sync", "adam", 2),
    ("unused", "sgd", 1),
]


@needs_mpi
@pytest.mark.parametrize("n", [2, 4])
def test_ddp_equals_single_process_large_batch_training(n: int, tmp_path: Path) -> None:
    steps = 4
    job = run_mpi(n, "ddp_train.py", str(tmp_path), str(steps))
    assert job.returncode == 0 and (tmp_path / "done").exists(), job
    for name, optimizer, micro in SCENARIOS:
        ranks = _load_ranks(tmp_path, name, n)
        init = _group(ranks[0], "init")
        for r in range(1, n):  # rank 0's weights were broadcast at construction...
            for k, v in _group(ranks[r], "init").items():
                np.testing.assert_array_equal(v, init[k], err_msg=f"{name} init {k} rank {r}")
            for k, v in _group(ranks[r], "final").items():  # ...and the replicas stay equal
                np.testing.assert_array_equal(v, _group(ranks[0], "final")[k], err_msg=name)
        batches = common.global_batches(steps * micro, common.PER_RANK * n)
        grads, final = common.reference_training(init, batches, optimizer, micro)
        got_grads, got_final = _group(ranks[0], "grad"), _group(ranks[0], "final")
        for k in final:
            np.testing.assert_allclose(
                got_grads[k], grads[k], rtol=1e-5, atol=1e-7, err_msg=f"{name} grad {k}"
            )
            np.testing.assert_allclose(
                got_final[k], final[k], rtol=1e-5, atol=1e-6, err_msg=f"{name} param {k}"
            )


@needs_mpi
@pytest.mark.parametrize("n", [2, 4])
def test_sync_batchnorm_equals_global_batchnorm(n: int) -> None:
    job = run_mpi(n, "syncbn.py")
    assert job.returncode == 0 and "syncbn ok" in job.stdout, job


@needs_mpi
def test_mismatched_models_raise_on_every_rank(tmp_path: Path) -> None:
    job = run_mpi(2, "faults.py", "mismatch", str(tmp_path), timeout=30)
    assert job.returncode == 0, job
    assert job.seconds < 20
    for r in range(2):
        text = (tmp_path / f"mismatch_rank{r}.txt").read_text()
        assert "shape: " in text and "'0.weight' has shape (8, 4) on rank 0 but (9, 4)" in text
        assert "count: " in text and "unused.weight" in text
        assert "dtype: " in text and "float64" in text


@needs_mpi
@pytest.mark.parametrize("via_mpi4py", [True, False], ids=["python-m-mpi4py", "plain-python"])
def test_crashing_rank_ends_the_job(via_mpi4py: bool) -> None:
    # The survivors wait with a 60 s timeout: ending well before it proves the abort.
    job = run_mpi(2, "faults.py", "crash", via_mpi4py=via_mpi4py, timeout=45)
    assert job.returncode != 0, job
    assert "deliberate failure on the last rank" in job.stderr
    assert job.seconds < 20, job


@needs_mpi
@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("timeout", "barrier timed out after 1.5 s on rank 0 of 2"),
        ("timeout_ddp", "DDP gradient all_reduce (1 buckets, 0.00 MiB) timed out after 1.5 s"),
    ],
)
def test_collective_timeout_aborts_naming_the_operation(mode: str, message: str) -> None:
    job = run_mpi(2, "faults.py", mode, timeout=45)
    assert job.returncode != 0, job
    assert message in job.stderr, job
    assert "rank 1 never arrived (rank 0 waited)" in job.stderr, job
    assert job.seconds < 20, job  # rank 1 sleeps 30 s: the abort ended it


def _emulated_cuda_env(**extra: str) -> dict[str, str]:
    from test_cuda_emulator import build

    return {
        "DEMOCRATISING_CUDA_EMULATOR": str(build()),
        "DEMOCRATISING_CUDA_EMULATOR_DEVICES": "2",
        **extra,
    }


#: A stand-in CuPy whose NCCL reduces emulated device memory over MPI.
FAKE_CUPY = str(MPI_DIR / "fake_cupy")


@needs_mpi
@pytest.mark.parametrize(
    ("aware", "transport"),
    [("0", "host"), ("1", "mpi"), ("0", "nccl")],
    ids=["host-buckets", "device-buckets", "nccl"],
)
def test_ddp_with_each_rank_on_its_own_cuda_device(
    tmp_path: Path, aware: str, transport: str
) -> None:
    """Parameters on cuda:0 / cuda:1 (the emulated devices of test_cuda_emulated_device.py):
    DDP reduces their gradients through host buckets, device buckets (CUDA-aware MPI) or NCCL
    (the default once CuPy is installed; here the fake one), and training matches one process
    on the global batch."""
    env = _emulated_cuda_env(DEMOCRATISING_CUDA_AWARE_MPI=aware, EXPECT_TRANSPORT=transport)
    if transport == "nccl":
        env["PYTHONPATH"] = os.pathsep.join([FAKE_CUPY, os.environ.get("PYTHONPATH", "")])
    job = run_mpi(2, "ddp_cuda.py", str(tmp_path), "3", extra_env=env)
    assert job.returncode == 0, job
    ranks = [np.load(tmp_path / f"ddp_cuda_rank{r}.npz") for r in range(2)]
    init = {k[len("init/") :]: ranks[0][k] for k in ranks[0].files if k.startswith("init/")}
    _, want = common.reference_training(init, common.global_batches(3, common.PER_RANK * 2), "sgd")
    for r in ranks:
        for k, v in want.items():
            np.testing.assert_allclose(r[f"final/{k}"], v, rtol=1e-4, atol=1e-6, err_msg=k)


@needs_mpi
@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            "FAKE_NCCL_FAIL",
            r"rank \d of 2: NCCL failed all_reduce of \d+ democratising.float32 on cuda:\d",
        ),
        (
            "FAKE_NCCL_HANG",
            r"over NCCL \(all_reduce of \d+ democratising.float32\) did not complete",
        ),
    ],
    ids=["error", "timeout"],
)
def test_nccl_failures_name_the_rank_and_end_the_job(
    tmp_path: Path, fault: str, message: str
) -> None:
    """An NCCL error raises ``DistributedError`` naming the rank, the operation and NCCL's
    message; a reduction that never completes aborts the job after the world's timeout."""
    env = _emulated_cuda_env(EXPECT_TRANSPORT="nccl", **{fault: "1"})
    env["PYTHONPATH"] = os.pathsep.join([FAKE_CUPY, os.environ.get("PYTHONPATH", "")])
    job = run_mpi(2, "ddp_cuda.py", str(tmp_path), "3", "1.5", extra_env=env, timeout=60)
    assert job.returncode != 0, job
    assert re.search(message, job.stderr), job
    if fault == "FAKE_NCCL_FAIL":
        assert "NCCL_ERROR_UNHANDLED_CUDA_ERROR" in job.stderr, job
        assert "DistributedError" in job.stderr, job
    else:
        assert job.seconds < 40, job
