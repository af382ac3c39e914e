"""Acceptance checks for API.md's "Devices and memory" and "Distributed" sections, written as a
new user would use them. The MPI cases launch a worker written to ``tmp_path`` through
``test_distributed.run_mpi`` (hard timeout, whole process group killed on a hang)."""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import democratising as dm
from democratising import cuda
from democratising import distributed as dist
from democratising.distributed import _wait
from test_distributed import needs_mpi, run_mpi

# One worker for every MPI case: `python worker.py <case> <dir>` writes <dir>/rank<r>.json
# (files, not stdout: the ranks' printed lines interleave).
WORKER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import democratising as dm
    from democratising.distributed import DistributedError, ReduceOp, World

    world = World.init(timeout=30)
    rank, size = world.rank(), world.size()
    case = sys.argv[1]
    out = {}
    if case == "collectives":
        for op in ("Sum", "Mean", "Max", "Min"):
            t = dm.tensor([rank + 1.0, 2.0])
            out[op] = world.all_reduce(t, getattr(ReduceOp, op)).tolist()
        t = dm.tensor([rank + 10.0])
        world.broadcast(t, root=size - 1)
        out["broadcast"] = t.tolist()
        out["all_gather"] = [g.tolist() for g in world.all_gather(dm.tensor([float(rank)]))]
        try:
            world.all_reduce([1.0, 2.0])
        except TypeError as e:
            out["list"] = str(e)
        try:
            world.broadcast(dm.ones(1), root=0.5)
        except TypeError as e:
            out["root"] = str(e)
    elif case == "mismatch":
        calls = {
            "all_reduce": lambda t: world.all_reduce(t),
            "broadcast": lambda t: world.broadcast(t, 0),
            "all_gather": lambda t: world.all_gather(t),
        }
        for name, call in calls.items():
            try:
                call(dm.ones(2 + rank))
                out[name] = "no error"
            except DistributedError as e:
                out[name] = str(e)
        try:
            world.all_reduce(dm.ones(2, dtype=dm.float32 if rank == 0 else dm.float64))
            out["dtype"] = "no error"
        except DistributedError as e:
            out["dtype"] = str(e)
        # The ranks are still in step: a matching collective afterwards works.
        out["after"] = world.all_reduce(dm.ones(3)).tolist()
    Path(sys.argv[2], f"rank{rank}.json").write_text(json.dumps(out))
    """
)


def _results(tmp_path: Path, n: int, case: str) -> list[dict[str, Any]]:
    script = tmp_path / "acc_c_worker.py"
    script.write_text(WORKER)
    job = run_mpi(n, str(script), case, str(tmp_path), via_mpi4py=False, timeout=60)
    assert job.returncode == 0, job
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(n)]


@needs_mpi
def test_world_collectives_follow_the_documented_reduce_ops(tmp_path: Path) -> None:
    for r in _results(tmp_path, 2, "collectives"):
        assert r["Sum"] == [3.0, 4.0]
        assert r["Mean"] == [1.5, 2.0]
        assert r["Max"] == [2.0, 2.0]
        assert r["Min"] == [1.0, 2.0]
        assert r["broadcast"] == [11.0]
        assert r["all_gather"] == [[0.0], [1.0]]
        # A non-tensor is a TypeError naming what was passed (was an AttributeError).
        assert r["list"] == "World.all_reduce takes a democratising Tensor, got list"
        # A float root reached MPI (mpi4py's TypeError) instead of being named here.
        assert r["root"] == "root must be a rank number (int), got float"


@needs_mpi
def test_mismatched_shapes_or_dtypes_raise_on_every_rank(tmp_path: Path) -> None:
    # MPI mixed mismatched buffers silently (all_reduce, all_gather) or raised an opaque MPI
    # error on one rank only (broadcast); now every rank raises DistributedError.
    for r in _results(tmp_path, 2, "mismatch"):
        for name in ("all_reduce", "broadcast", "all_gather"):
            assert "different shapes or dtypes" in r[name], r
            assert "rank 0:" in r[name] and "shape (2,)" in r[name], r
            assert "rank 1:" in r[name] and "shape (3,)" in r[name], r
        assert "float32" in r["dtype"] and "float64" in r["dtype"], r
        assert r["after"] == [2.0, 2.0, 2.0]


@needs_mpi
def test_single_rank_collectives_are_identities(tmp_path: Path) -> None:
    (r,) = _results(tmp_path, 1, "collectives")
    assert r["Sum"] == [1.0, 2.0] and r["Mean"] == [1.0, 2.0]
    assert r["broadcast"] == [10.0] and r["all_gather"] == [[0.0]]


def test_distributed_error_is_importable_from_the_package() -> None:
    assert dist.DistributedError is dm.DistributedError
    assert "DistributedError" in dist.__all__


@pytest.mark.parametrize("bad", [-1, True])
def test_cuda_queries_reject_a_bad_device_index(bad: Any) -> None:
    # -1 was an OverflowError from the engine's unsigned conversion.
    with pytest.raises((ValueError, TypeError), match="CUDA device index"):
        cuda.get_memory_info(bad)
    with pytest.raises((ValueError, TypeError), match="CUDA device index"):
        cuda.memory_allocated(bad)


def test_data_parallel_takes_pytorchs_device_ids() -> None:
    x = dm.ones(3, 2)
    for dp in (
        dm.nn.DataParallel(dm.nn.Linear(2, 4), device_ids=None),
        dist.DataParallel(dm.nn.Linear(2, 4), []),
    ):
        assert tuple(dp(x).shape) == (3, 4)
    with pytest.raises(TypeError, match="not both"):
        dist.DataParallel(dm.nn.Linear(2, 4), ["cpu"], device_ids=["cpu"])


@pytest.mark.skipif(cuda.is_available(), reason="checks the answers without CUDA")
def test_cuda_without_a_gpu_answers_or_raises_device_error() -> None:
    assert (cuda.is_available(), cuda.device_count()) == (False, 0)
    assert (cuda.memory_allocated(), cuda.memory_reserved()) == (0, 0)
    cuda.empty_cache()
    for call in (lambda: cuda.get_memory_info(0), cuda.synchronize):
        with pytest.raises(dm.DeviceError, match="CUDA"):
            call()
    with pytest.raises(dm.DeviceError):
        dm.nn.DataParallel(dm.nn.Linear(2, 2), device_ids=[0, 1])


def test_world_timeout_takes_a_timedelta_as_init_process_group_does() -> None:
    # World.init(timeout=timedelta(...)) raised "is not a number of seconds".
    assert _wait.resolve_timeout(timedelta(minutes=2)) == 120.0
    assert _wait.resolve_timeout(timedelta(0)) == float("inf")
