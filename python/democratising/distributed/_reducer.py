"""The gradient reducer behind ``DistributedDataParallel``.

Parameters are packed, in reverse registration order (roughly the order backward produces
their gradients), into flat buckets of about ``bucket_cap_mb``. A post-accumulate-grad hook
copies each gradient into its bucket (pre-divided by the world size) the moment it is final;
when a bucket is full, and all buckets before it have been started, a non-blocking
``Iallreduce`` starts on it while backward goes on computing earlier layers. Buckets always
start in index order so that every rank issues the same collectives in the same order.

The first hook of a backward pass also queues an end-of-backward callback with the engine
(``autograd.queue_callback``). When backward has delivered its last gradient, the callback
completes the round: it packs the gradient of any parameter that got none in this pass (zeros,
or the gradient accumulated earlier), starts the buckets still waiting for it, waits for all of
them and points each ``p.grad`` at its slice of the bucket (no copy). With the buckets it
max-reduces one flag per parameter (did this rank contribute a gradient?), so a parameter that
no rank produced a gradient for keeps ``.grad`` None on every rank, as with PyTorch's DDP. So
``loss.backward()`` returns with synchronised gradients, as in PyTorch, and the optimizer is
used unchanged.

Buckets are NumPy arrays in host memory, except when every parameter is on one CUDA device and
the GPU transport (``_gpu_comm.gpu_transport``) is NCCL (CuPy installed) or a CUDA-aware MPI:
then they are device tensors that NCCL, or MPI through the CUDA Array Interface, reduces in
place, and gradients never leave the GPU."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Optional

import numpy as np

from .. import _core, autograd
from .._core import Device, Tensor
from .._grad_mode import no_grad
from ..errors import DistributedError
from . import _buffers
from ._gpu_comm import NcclComm, gpu_transport
from .reduce_op import ReduceOp
from .world import World

_BUCKET_DTYPE = {"float32": np.float32, "float64": np.float64}


class _DeviceBuffer:
    """A device bucket as mpi4py sees it: only the CUDA Array Interface, so a CUDA-aware MPI
    reads and writes the memory in place."""

    def __init__(self, t: Tensor) -> None:
        self._t = t

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        return self._t.__cuda_array_interface__


class _Bucket:
    """One flat buffer and the parameter slots that live in it."""

    def __init__(self, index: int, dtype: Any) -> None:
        self.index, self.dtype = index, dtype
        self.slots: list[int] = []  # parameter indices
        self.offsets: list[int] = []
        self.numel = 0
        self.buffer = np.empty(0, dtype=dtype)
        self.pending = 0
        self.request: Any = None

    @property
    def nbytes(self) -> int:
        return self.numel * np.dtype(self.dtype).itemsize

    def add(self, slot: int, numel: int) -> None:
        self.slots.append(slot)
        self.offsets.append(self.numel)
        self.numel += numel

    def allocate(self) -> None:
        self.buffer = np.zeros(self.numel, dtype=self.dtype)

    def allocate_on(self, device: Device) -> None:
        dt = getattr(_core, np.dtype(self.dtype).name)
        self.buffer = _core.zeros(self.numel, dtype=dt, device=device)


def build_buckets(params: Sequence[Tensor], cap_bytes: int) -> list[_Bucket]:
    """Buckets in reverse parameter order, one dtype per bucket, closed once ``cap_bytes`` full."""
    buckets: list[_Bucket] = []
    open_by_dtype: dict[Any, _Bucket] = {}
    for i in reversed(range(len(params))):
        p = params[i]
        dtype = _BUCKET_DTYPE.get(_buffers._dtype_name(p), np.float32)
        b = open_by_dtype.get(dtype)
        if b is None:
            b = open_by_dtype[dtype] = _Bucket(len(buckets), dtype)
            buckets.append(b)
        b.add(i, p.numel())
        if b.nbytes >= cap_bytes:
            del open_by_dtype[dtype]
    for b in buckets:
        b.allocate()
    return buckets


def _grad_array(g: Tensor) -> np.ndarray:
    """A NumPy view (possibly strided) of a gradient, converting only when NumPy can't see it."""
    g = g.detach()
    if g.device.type != "cpu":
        g = g.cpu()
    if _buffers._dtype_name(g) not in _BUCKET_DTYPE:
        g = g.float()
    return np.asarray(g.numpy())


class GradRound:
    """Per-parameter gradient hooks feeding a per-backward "round" (DDP's and ZeRO's reducers)."""

    params: list[Tensor]
    _handles: list[Any]
    _ready: list[bool]
    fresh: bool
    enabled: bool
    round_open: bool
    buckets: Any
    _next: int

    def register_hooks(self) -> None:
        for i, p in enumerate(self.params):
            self._handles.append(p.register_post_accumulate_grad_hook(self._make_hook(i)))

    def remove_hooks(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _make_hook(self, i: int) -> Callable[[Tensor], None]:
        def hook(_: Tensor) -> None:
            self._on_grad_ready(i)

        return hook

    def _on_grad_ready(self, i: int) -> None:
        raise NotImplementedError

    def _open_round(self) -> None:
        """Starts a round: no gradient ready yet, every bucket waiting for all its slots."""
        self.round_open = True
        self._ready = [False] * len(self.params)
        self._next = 0
        for b in self.buckets:
            b.pending = len(b.slots)
            b.request = None

    def finish(self) -> list[str]:
        raise NotImplementedError

    def _mark_ready(self, i: int, end_of_backward: Callable[[], Any]) -> bool:
        """Marks parameter ``i``'s gradient ready, opening a round (with ``end_of_backward``
        queued) if none is open; False when reduction is off."""
        self.fresh = False
        if not self.enabled:
            return False
        if self.round_open and self._ready[i]:
            # A round left open by an earlier backward pass (one that raised before its
            # end-of-backward callback ran): complete it, keeping this parameter's new local sum.
            local = self.params[i].grad
            self.finish()
            self.params[i].grad = local
        if not self.round_open:
            self._open_round()
            autograd.queue_callback(end_of_backward)
        self._ready[i] = True
        return True


class GradientReducer(GradRound):
    """Owns the buckets and the per-backward "round" state of one DDP model."""

    def __init__(
        self,
        params: Sequence[Tensor],
        names: Sequence[str],
        world: World,
        bucket_cap_bytes: int,
        gradient_as_bucket_view: bool = True,
    ) -> None:
        self.params, self.names, self.world = list(params), list(names), world
        self.as_view = gradient_as_bucket_view
        self.buckets = build_buckets(self.params, max(1, int(bucket_cap_bytes)))
        devices = {p.device for p in self.params}
        only = next(iter(devices)) if len(devices) == 1 else None
        #: How the gradients travel: "cpu" (host parameters), or for parameters on one CUDA
        #: device "nccl", "mpi" (CUDA-aware) or "host" (staged).
        self.transport = gpu_transport() if only is not None and only.type == "cuda" else "cpu"
        #: The CUDA device the buckets live on, or None for host buckets.
        self.device: Optional[Device] = only if self.transport in ("nccl", "mpi") else None
        self._nccl: Optional[NcclComm] = None
        if self.device is not None:
            for b in self.buckets:
                b.allocate_on(self.device)
            if self.transport == "nccl" and world.size() > 1:
                self._nccl = NcclComm.for_world(world, self.device.index or 0)
        # Per parameter, 1 when this rank contributed a gradient to the round, summed over the
        # ranks so that a parameter no rank produced a gradient for keeps ``.grad`` None on
        # every rank (PyTorch's DDP) rather than a zero that weight decay or momentum would
        # step. Host buckets carry the flags at the end of the last bucket (launched last, once
        # they are known: no extra message); device buckets all-reduce them separately.
        self._used = np.ones(len(self.params), dtype=np.uint8)
        self._used_known = False  # False: every parameter got a gradient this round
        self._used_request: Any = None
        self._flags: Optional[np.ndarray] = None
        self._flag_bucket: Optional[_Bucket] = None
        if self.device is None and self.buckets:
            last = self._flag_bucket = self.buckets[-1]
            last.buffer = np.zeros(last.numel + len(self.params), dtype=last.dtype)
            self._flags = last.buffer[last.numel :]
        self.location: dict[int, tuple[_Bucket, int]] = {}
        # Per parameter, computed once (backward runs these hooks every step): its slice of
        # the bucket shaped like the parameter, whether NumPy sees its gradients as they are
        # (the engine gives a leaf's gradient the leaf's dtype and device), and the tensor
        # that views the slice and becomes ``p.grad`` after each reduction.
        self._slices: list[Any] = [np.empty(0)] * len(self.params)
        self._direct: list[bool] = [False] * len(self.params)
        self._views: list[Optional[Tensor]] = [None] * len(self.params)
        for b in self.buckets:
            for slot, off in zip(b.slots, b.offsets):
                p = self.params[slot]
                self.location[slot] = (b, off)
                view = b.buffer[off : off + p.numel()].reshape(tuple(p.shape))
                self._slices[slot] = view
                if self.device is not None:
                    # Device bucket: the slice is already a tensor on the parameter's device.
                    self._direct[slot] = _buffers._dtype_name(p) == np.dtype(b.dtype).name
                    if self.as_view and self._direct[slot]:
                        self._views[slot] = view
                    continue
                self._direct[slot] = (
                    _buffers._dtype_name(p) == np.dtype(b.dtype).name and p.device.type == "cpu"
                )
                if self.as_view and self._direct[slot]:
                    self._views[slot] = _core.from_numpy(view)
        self.enabled = True  # False inside no_sync()
        self.round_open = False
        self.fresh = False  # grads hold a completed hook-driven Mean and nothing since
        self._ready = [False] * len(self.params)
        self._next = 0
        self._handles: list[Any] = []
        self._scale = 1.0 / world.size()

    # ---- hooks -------------------------------------------------------------------------------

    def _on_grad_ready(self, i: int) -> None:
        if not self._mark_ready(i, self._end_of_backward):
            return
        b, off = self.location[i]
        self._pack(i, b, off, self._scale)
        b.pending -= 1
        self._launch_ready(ReduceOp.Mean)
        if self._next < len(self.buckets):
            self._progress()

    def _end_of_backward(self) -> None:
        """Run by the engine once the backward pass that opened the round has delivered every
        gradient: completes the round (waits for the buckets, fills in parameters that got no
        gradient)."""
        self.finish()

    # ---- round mechanics ---------------------------------------------------------------------

    def _pack(self, i: int, b: _Bucket, off: int, scale: float) -> None:
        dst = self._slices[i]
        g = self.params[i].grad
        if self.device is not None:
            with no_grad():
                if g is None:
                    dst.zero_()
                else:
                    src = g.detach()
                    dst.copy_(src if scale == 1.0 else src * scale)
            return
        if g is None:
            dst.fill(0)
            return
        src = np.asarray(g) if self._direct[i] and not g.requires_grad else _grad_array(g)
        if scale == 1.0:
            np.copyto(dst, src, casting="unsafe")
        else:
            np.multiply(src, scale, out=dst, casting="unsafe")

    def _launch_ready(self, op: ReduceOp) -> None:
        mpi = self.world._MPI
        size = self.world.size()
        while self._next < len(self.buckets) and self.buckets[self._next].pending == 0:
            b = self.buckets[self._next]
            if b is self._flag_bucket:
                assert self._flags is not None
                if self._used_known:
                    np.copyto(self._flags, self._used, casting="unsafe")
                else:
                    self._flags.fill(1)
            if self._nccl is not None:
                b.request = self._nccl.all_reduce(b.buffer, op)
            elif size > 1 and self.device is not None:
                _core._cuda_synchronize(self.device.index or 0)  # MPI reads the memory next
                mpi_type = mpi.DOUBLE if b.dtype == np.float64 else mpi.FLOAT
                buf = [_DeviceBuffer(b.buffer), mpi_type]
                b.request = self.world.comm.Iallreduce(mpi.IN_PLACE, buf, op=op.mpi_op())
            elif size > 1:
                b.request = self.world.comm.Iallreduce(mpi.IN_PLACE, b.buffer, op=op.mpi_op())
            self._next += 1

    def _progress(self) -> None:
        from ._wait import test_all

        if self._nccl is None:  # NCCL progresses on its own stream
            test_all([b.request for b in self.buckets[: self._next]])

    def _complete(self) -> None:
        mb = sum(b.nbytes for b in self.buckets) / 2**20
        what = f"DDP gradient all_reduce ({len(self.buckets)} buckets, {mb:.2f} MiB)"
        requests = [b.request for b in self.buckets]
        if self._nccl is not None:
            self._nccl.wait([r for r in requests if r is not None], what)
            requests = []
        if self._used_request is not None:
            requests.append(self._used_request)
            self._used_request = None
        if requests:
            self.world.wait(requests, what)
        for b in self.buckets:
            b.request = None
            self._unpack(b)
        self.round_open = False

    def _unpack(self, b: _Bucket) -> None:
        for slot in b.slots:
            p, view = self.params[slot], self._views[slot]
            if view is not None:
                p.grad = view
            elif self.device is not None:
                p.grad = self._slices[slot].clone().to(dtype=p.dtype)
            else:
                g = _core.from_numpy(np.array(self._slices[slot], copy=True))
                p.grad = g if self._direct[slot] else g.to(device=p.device, dtype=p.dtype)

    # ---- public ------------------------------------------------------------------------------

    def finish(self) -> list[str]:
        """Completes an open round (a no-op otherwise); returns the names of the parameters
        that received no gradient in it. Backward runs it at its end; an explicit call is
        needed only after a backward pass that failed half-way."""
        if not self.round_open:
            return []
        missing = [i for i, r in enumerate(self._ready) if not r]
        used = self._used
        if missing:
            used.fill(1)
            for i in missing:
                # A gradient accumulated earlier (inside no_sync()) is this rank's contribution.
                if self.params[i].grad is None:
                    used[i] = 0
            self._used_known = True
        for b in self.buckets[self._next :]:
            for slot, off in zip(b.slots, b.offsets):
                if not self._ready[slot]:
                    self._ready[slot] = True
                    self._pack(slot, b, off, self._scale)
            b.pending = 0
        self._launch_ready(ReduceOp.Mean)
        if self._flags is None and self.world.size() > 1:
            # Device buckets: the flags travel on their own (after every bucket: the same
            # order on every rank).
            if not self._used_known:
                used.fill(1)
            mpi = self.world._MPI
            self._used_request = self.world.comm.Iallreduce(mpi.IN_PLACE, used, op=mpi.MAX)
        self._used_known = False
        self._complete()
        flags = self._flags if self._flags is not None else used
        if not flags.all():  # no rank produced a gradient for these: .grad stays None
            for i in np.flatnonzero(flags == 0).tolist():
                self.params[i].grad = None
        self.fresh = True
        return [self.names[i] for i in missing]

    def all_reduce(self, op: ReduceOp) -> None:
        """Reduces the current gradients with ``op`` now (the seed's explicit
        ``all_reduce_gradients``). Right after a synchronised backward the gradients already
        hold the mean, so ``Mean`` is a no-op and ``Sum`` a local rescale."""
        self.finish()
        size = self.world.size()
        if size == 1:
            return
        if self.fresh:
            self.fresh = False
            if op is ReduceOp.Mean:
                return
            if op is ReduceOp.Sum:
                for b in self.buckets:
                    if self.device is not None:
                        with no_grad():
                            b.buffer.mul_(float(size))
                    else:
                        np.multiply(b.buffer, float(size), out=b.buffer)
                    self._unpack(b)
                return
            raise DistributedError(
                f"all_reduce_gradients({op}): the gradients were already averaged during "
                "backward; run backward inside ddp.no_sync() to reduce local gradients with "
                "Max or Min"
            )
        scale = self._scale if op is ReduceOp.Mean else 1.0
        self._open_round()
        for b in self.buckets:
            for slot, off in zip(b.slots, b.offsets):
                self._pack(slot, b, off, scale)
            b.pending = 0
        self._launch_ready(op)
        self._complete()

    def stats(self) -> list[tuple[int, int, str]]:
        """``(parameters, bytes, dtype)`` per bucket, in launch order."""
        return [(len(b.slots), b.nbytes, np.dtype(b.dtype).name) for b in self.buckets]

    def pending_names(self) -> Optional[list[str]]:
        if not self.round_open:
            return None
        return [self.names[i] for i, r in enumerate(self._ready) if not r]
