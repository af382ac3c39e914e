"""``cupy.cuda.nccl`` over MPI for the emulated device: the communicator reads the memory
behind a "device" pointer (host memory there) and all-reduces it with ``MPI.COMM_WORLD``.
Every call is logged in ``CALLS``; ``FAKE_NCCL_FAIL=1`` makes ``allReduce`` fail as NCCL
would."""

from __future__ import annotations

import ctypes
import os
from typing import Any

import numpy as np

NCCL_SUM, NCCL_PROD, NCCL_MAX, NCCL_MIN, NCCL_AVG = 0, 1, 2, 3, 4
NCCL_FLOAT16, NCCL_FLOAT32, NCCL_FLOAT64, NCCL_BFLOAT16 = 6, 7, 8, 9
_NUMPY = {NCCL_FLOAT32: np.float32, NCCL_FLOAT64: np.float64, NCCL_FLOAT16: np.float16}
_UID = tuple(range(128))

CALLS: list[tuple[Any, ...]] = []


class NcclError(RuntimeError):
    pass


def get_unique_id() -> tuple[int, ...]:
    CALLS.append(("get_unique_id",))
    return _UID


class NcclCommunicator:
    def __init__(self, ndev: int, comm_id: tuple[int, ...], rank: int) -> None:
        from mpi4py import MPI

        if tuple(comm_id) != _UID:
            raise NcclError("invalid unique id: the group did not share rank 0's")
        self.mpi = MPI.COMM_WORLD
        if ndev != self.mpi.Get_size() or rank != self.mpi.Get_rank():
            raise NcclError(f"rank {rank} of {ndev} does not match MPI")
        CALLS.append(("init", ndev, rank))

    def allReduce(  # noqa: N802 - CuPy's name
        self, sendbuf: int, recvbuf: int, count: int, datatype: int, op: int, stream: int
    ) -> None:
        from mpi4py import MPI

        if os.environ.get("FAKE_NCCL_FAIL") == "1":
            raise NcclError("NCCL_ERROR_UNHANDLED_CUDA_ERROR: unhandled cuda error")
        CALLS.append(("allReduce", sendbuf, recvbuf, count, datatype, op, stream))
        dtype = np.dtype(_NUMPY[datatype])
        raw = (ctypes.c_char * (count * dtype.itemsize)).from_address(recvbuf)
        buf = np.frombuffer(raw, dtype=dtype)
        mpi_op = {NCCL_SUM: MPI.SUM, NCCL_PROD: MPI.PROD, NCCL_MAX: MPI.MAX, NCCL_MIN: MPI.MIN}
        self.mpi.Allreduce(MPI.IN_PLACE, buf, op=mpi_op[op])

    def abort(self) -> None:
        CALLS.append(("abort",))
