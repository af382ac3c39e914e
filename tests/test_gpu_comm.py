"""How DDP picks the transport for gradients on a GPU (``distributed._gpu_comm``): NCCL when
CuPy is installed, CUDA-aware MPI, or host staging, overridden by
``DEMOCRATISING_GPU_COMM``; asking for NCCL without CuPy names the extra to install. The NCCL
path itself runs end to end in test_distributed.py (two ranks on the emulated device, with
the stand-in CuPy of tests/mpi/fake_cupy)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from democratising.distributed import _gpu_comm
from democratising.errors import DistributedError

FAKE_CUPY = Path(__file__).parent / "mpi" / "fake_cupy"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in (
        _gpu_comm.TRANSPORT_ENV,
        "DEMOCRATISING_CUDA_AWARE_MPI",
        "OMPI_MCA_opal_cuda_support",
        "MPIR_CVAR_ENABLE_GPU",
    ):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def _with_cupy(mp: pytest.MonkeyPatch, present: bool) -> None:
    mp.setattr(_gpu_comm, "cupy_with_nccl", lambda: object() if present else None)


@pytest.mark.parametrize(
    ("cupy", "env", "want"),
    [
        (False, {}, "host"),
        (False, {"DEMOCRATISING_CUDA_AWARE_MPI": "1"}, "mpi"),
        (False, {"OMPI_MCA_opal_cuda_support": "true"}, "mpi"),
        (False, {"MPIR_CVAR_ENABLE_GPU": "1"}, "mpi"),
        (True, {}, "nccl"),
        (True, {"DEMOCRATISING_CUDA_AWARE_MPI": "1"}, "nccl"),
        (True, {"DEMOCRATISING_GPU_COMM": "mpi"}, "mpi"),
        (True, {"DEMOCRATISING_GPU_COMM": " Host "}, "host"),
        (False, {"DEMOCRATISING_GPU_COMM": "host"}, "host"),
    ],
)
def test_the_default_and_the_override(
    clean_env: pytest.MonkeyPatch, cupy: bool, env: dict[str, str], want: str
) -> None:
    _with_cupy(clean_env, cupy)
    for k, v in env.items():
        clean_env.setenv(k, v)
    assert _gpu_comm.gpu_transport() == want


def test_nccl_without_cupy_names_the_extra(clean_env: pytest.MonkeyPatch) -> None:
    _with_cupy(clean_env, False)
    clean_env.setenv(_gpu_comm.TRANSPORT_ENV, "nccl")
    with pytest.raises(DistributedError, match=r"democratising\[cuda12\].*cupy-cuda12x"):
        _gpu_comm.gpu_transport()


def test_an_unknown_transport_is_refused(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(_gpu_comm.TRANSPORT_ENV, "gloo")
    with pytest.raises(DistributedError, match="expected one of nccl, mpi, host"):
        _gpu_comm.gpu_transport()


def test_cupy_is_found_only_with_its_nccl_module(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "cupy" or m.startswith("cupy.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if "fake_cupy" not in p])
    assert _gpu_comm.cupy_with_nccl() is None  # not installed in the test environment
    monkeypatch.syspath_prepend(str(FAKE_CUPY))
    cupy = _gpu_comm.cupy_with_nccl()
    assert cupy is not None and cupy.cuda.nccl.NCCL_SUM == 0
    for name in [m for m in sys.modules if m == "cupy" or m.startswith("cupy.")]:
        monkeypatch.delitem(sys.modules, name)


def test_nccl_comm_without_cupy_is_a_distributed_error(clean_env: pytest.MonkeyPatch) -> None:
    _with_cupy(clean_env, False)
    with pytest.raises(DistributedError, match="cupy-cuda12x"):
        _gpu_comm.NcclComm(object(), 0)  # type: ignore[arg-type]
