"""``torch.distributed``'s names over MPI (issue 18, point 5): a torchrun-style program runs
under ``mpiexec -n 2`` with only its import changed; the torchrun variables come from MPI."""

from __future__ import annotations

import pytest

import democratising as dm
from democratising import _torchrun_env
from democratising.distributed import _torch_api
from test_distributed import needs_mpi, run_mpi


@needs_mpi
def test_a_torchrun_style_program_runs_under_mpiexec() -> None:
    job = run_mpi(2, "torch_style.py", via_mpi4py=False)
    assert job.returncode == 0, job
    assert "torch-style ok on 2 ranks" in job.stdout, job


def test_torchrun_variables_come_from_the_mpi_launcher() -> None:
    env = {"PMI_RANK": "3", "PMI_SIZE": "4", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "2"}
    _torchrun_env.export_torchrun_env(env)
    assert (env["RANK"], env["WORLD_SIZE"], env["LOCAL_RANK"], env["LOCAL_WORLD_SIZE"]) == (
        "3",
        "4",
        "1",
        "2",
    )
    openmpi = {
        "OMPI_COMM_WORLD_RANK": "1",
        "OMPI_COMM_WORLD_SIZE": "2",
        "OMPI_COMM_WORLD_LOCAL_RANK": "1",
        "RANK": "7",  # already set: kept
    }
    _torchrun_env.export_torchrun_env(openmpi)
    assert (openmpi["RANK"], openmpi["WORLD_SIZE"], openmpi["LOCAL_RANK"]) == ("7", "2", "1")
    plain: dict[str, str] = {}
    _torchrun_env.export_torchrun_env(plain)
    assert plain == {}


def test_collectives_before_init_say_so() -> None:
    if dm.distributed.is_initialized():
        pytest.skip("a world is already initialised in this process")
    with pytest.raises(dm.DistributedError, match="init_process_group"):
        dm.distributed.all_reduce(dm.ones(1))
    with pytest.raises(dm.DistributedError, match="init_process_group"):
        dm.distributed.barrier()
    with pytest.raises(dm.DistributedError, match="unknown backend"):
        dm.distributed.init_process_group(backend="carrier-pigeon")
    assert not dm.distributed.is_nccl_available()
    assert _torch_api.Work().wait()


def test_nn_parallel_names() -> None:
    from democratising.nn.parallel import DataParallel, DistributedDataParallel

    assert not isinstance(dm.nn.Linear(2, 2), DistributedDataParallel)
    assert isinstance(DataParallel(dm.nn.Linear(2, 2)), DataParallel)


def test_nn_data_parallel_loads_the_distributed_layer_on_first_use() -> None:
    import subprocess
    import sys

    code = (
        "import sys, democratising as torch\n"
        "assert 'democratising.distributed' not in sys.modules\n"
        "m = torch.nn.DataParallel(torch.nn.Linear(2, 2))\n"
        "assert isinstance(m, torch.nn.DataParallel) and m(torch.randn(3, 2)).shape == (3, 2)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


@needs_mpi
def test_split_size_mismatch_short_receive_and_zero_clipping() -> None:
    job = run_mpi(2, "edge_s46.py", via_mpi4py=False)
    assert job.returncode == 0, job
    assert "distributed edges ok" in job.stdout, job
