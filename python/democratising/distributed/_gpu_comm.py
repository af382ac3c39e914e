"""How ``DistributedDataParallel`` reduces gradients that live on a GPU.

Three transports, chosen once per model (``gpu_transport``):

* ``nccl``: NCCL through CuPy (``cupy.cuda.nccl``), the default whenever CuPy is installed
  (``pip install 'democratising[cuda12]'``). One communicator per process group and device,
  bootstrapped the ChainerMN way: rank 0 creates the NCCL unique id and the group broadcasts
  it over MPI. Each all-reduce is queued on a dedicated communication stream after an event
  recorded on the engine's stream, so it overlaps the rest of backward; at the end of backward
  the engine's stream waits on the reductions' events, so the optimizer's kernels follow them
  with no host synchronisation.
* ``mpi``: a CUDA-aware MPI reads and writes the device buckets in place (the default when the
  MPI says it is CUDA-aware and CuPy is absent).
* ``host``: the buckets are staged through host memory (works with any MPI).

``DEMOCRATISING_GPU_COMM=nccl|mpi|host`` overrides the choice; asking for ``nccl`` without
CuPy raises a ``DistributedError`` naming the extra to install. An NCCL failure raises a
``DistributedError`` naming the rank and NCCL's message; a reduction that has not completed
within the world's timeout aborts the job (checked one step later, when the host would wait
for it anyway, so a healthy step never waits on the device)."""

from __future__ import annotations

import os
import time
from typing import Any, Optional

from .. import _core
from .._core import Tensor
from ..errors import DistributedError
from ._buffers import _dtype_name
from .reduce_op import ReduceOp
from .world import World

TRANSPORT_ENV = "DEMOCRATISING_GPU_COMM"
TRANSPORTS = ("nccl", "mpi", "host")
INSTALL_HINT = "pip install 'democratising[cuda12]' (it brings cupy-cuda12x)"


def cuda_aware_mpi() -> bool:
    """Whether the MPI library may be handed device memory (explicit opt-in or the MPI's own
    CUDA switch; there is no portable query)."""
    v = os.environ.get("DEMOCRATISING_CUDA_AWARE_MPI")
    if v is not None:
        return v.strip().lower() not in ("", "0", "false", "no")
    ompi = os.environ.get("OMPI_MCA_opal_cuda_support", "").strip().lower()
    return ompi in ("1", "true", "yes") or os.environ.get("MPIR_CVAR_ENABLE_GPU") == "1"


def cupy_with_nccl() -> Optional[Any]:
    """The ``cupy`` module when it is installed with NCCL support, else None (CuPy raises more
    than ImportError when its CUDA libraries are missing)."""
    try:
        import cupy
        from cupy.cuda import nccl  # noqa: F401 - only whether it imports
    except Exception:
        return None
    return cupy


def gpu_transport() -> str:
    """``"nccl"``, ``"mpi"`` or ``"host"``: ``$DEMOCRATISING_GPU_COMM`` when set, else NCCL
    when CuPy is installed, else CUDA-aware MPI when the MPI is, else host staging."""
    raw = os.environ.get(TRANSPORT_ENV, "")
    choice = raw.strip().lower()
    if choice:
        if choice not in TRANSPORTS:
            raise DistributedError(
                f"{TRANSPORT_ENV}={raw!r}: expected one of {', '.join(TRANSPORTS)}"
            )
        if choice == "nccl" and cupy_with_nccl() is None:
            raise DistributedError(
                f"{TRANSPORT_ENV}=nccl needs CuPy with NCCL, which is not installed: "
                f"{INSTALL_HINT}; or set {TRANSPORT_ENV}=mpi (CUDA-aware MPI) or host"
            )
        return choice
    if cupy_with_nccl() is not None:
        return "nccl"
    return "mpi" if cuda_aware_mpi() else "host"


class NcclWork:
    """One queued NCCL reduction: the event recorded after it on the communication stream."""

    def __init__(self, done: Any, what: str) -> None:
        self.done, self.what = done, what

    def completed(self) -> bool:
        return bool(self.done.done)


class NcclComm:
    """An NCCL communicator for one process group on one device, with its communication
    stream. ``for_world`` returns the group's communicator, creating it on first use."""

    def __init__(self, world: World, device: int) -> None:
        cupy = cupy_with_nccl()
        if cupy is None:
            raise DistributedError(f"NCCL needs CuPy, which is not installed: {INSTALL_HINT}")
        self.cupy, self.nccl = cupy, cupy.cuda.nccl
        self.world, self.device = world, device
        self.rank, self.size = world.rank(), world.size()
        with cupy.cuda.Device(device):
            uid = self.nccl.get_unique_id() if self.rank == 0 else None
            uid = world.broadcast_object(uid, root=0)
            try:
                self.comm = self.nccl.NcclCommunicator(self.size, uid, self.rank)
            except self.nccl.NcclError as e:
                raise self._error("creating the NCCL communicator", e) from e
            self.stream = cupy.cuda.Stream(non_blocking=True)
            self.engine_stream = cupy.cuda.ExternalStream(_core._cuda_stream_handle(device))
        #: The previous round's reductions and what they were (checked before the next).
        self._in_flight: tuple[list[NcclWork], str] = ([], "")

    @classmethod
    def for_world(cls, world: World, device: int) -> NcclComm:
        comms: dict[int, NcclComm] = world.__dict__.setdefault("_nccl_comms", {})
        if device not in comms:
            comms[device] = cls(world, device)
        return comms[device]

    def _error(self, doing: str, e: BaseException) -> DistributedError:
        return DistributedError(
            f"rank {self.rank} of {self.size}: NCCL failed {doing} on cuda:{self.device}: {e}"
        )

    def all_reduce(self, t: Tensor, op: ReduceOp) -> NcclWork:
        """Queues an in-place all-reduce of the contiguous device tensor ``t`` on the
        communication stream, after the work the engine has queued so far."""
        cuda, nccl = self.cupy.cuda, self.nccl
        with cuda.Device(self.device):
            ready = cuda.Event(disable_timing=True)
            ready.record(self.engine_stream)
            self.stream.wait_event(ready)
            ptr = int(t.__cuda_array_interface__["data"][0])
            what = f"all_reduce of {t.numel()} {t.dtype}"
            try:
                self.comm.allReduce(
                    ptr, ptr, t.numel(), _nccl_dtype(nccl, t), _nccl_op(nccl, op), self.stream.ptr
                )
            except nccl.NcclError as e:
                raise self._error(what, e) from e
            done = cuda.Event(disable_timing=True)
            done.record(self.stream)
        return NcclWork(done, what)

    def wait(self, works: list[NcclWork], what: str) -> None:
        """Makes the engine's stream wait for ``works`` (no host synchronisation), after
        checking that the previous round's reductions have completed within the timeout."""
        self._check_in_flight()
        with self.cupy.cuda.Device(self.device):
            for w in works:
                self.engine_stream.wait_event(w.done)
        self._in_flight = (list(works), what)

    def _check_in_flight(self) -> None:
        """Waits (host side) for the previous round; aborts the job past the timeout."""
        works, what = self._in_flight
        if not works or all(w.completed() for w in works):
            return
        timeout = self.world.timeout
        start = time.monotonic()
        while not all(w.completed() for w in works):
            if time.monotonic() - start > timeout:
                pending = next(w.what for w in works if not w.completed())
                try:
                    self.comm.abort()
                finally:
                    self.world.abort(
                        f"{what} over NCCL ({pending}) did not complete within "
                        f"{timeout:g} s on rank {self.rank} of {self.size}; aborting the job "
                        "(another rank probably crashed or hung). Raise the limit with "
                        "World.init(timeout=...)."
                    )
            time.sleep(1e-4)


#: NCCL's name of each engine dtype it can reduce.
_NCCL_DTYPES = {
    "float32": "NCCL_FLOAT32",
    "float64": "NCCL_FLOAT64",
    "float16": "NCCL_FLOAT16",
    "bfloat16": "NCCL_BFLOAT16",
}


def _nccl_dtype(nccl: Any, t: Tensor) -> Any:
    key = _NCCL_DTYPES.get(_dtype_name(t), "")
    if not hasattr(nccl, key):
        raise DistributedError(f"NCCL cannot reduce {t.dtype} tensors")
    return getattr(nccl, key)


def _nccl_op(nccl: Any, op: ReduceOp) -> Any:
    """NCCL's operation; ``Mean`` is a sum of values the caller divided by the world size."""
    return {
        ReduceOp.Sum: nccl.NCCL_SUM,
        ReduceOp.Mean: nccl.NCCL_SUM,
        ReduceOp.Max: nccl.NCCL_MAX,
        ReduceOp.Min: nccl.NCCL_MIN,
    }[op]
