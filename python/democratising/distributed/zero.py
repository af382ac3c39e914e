"""ZeRO stage 1 and 2 over MPI, compressed gradient reduction and the deterministic mode.

Layout. The trainable parameters (one float dtype, on the CPU) are laid out back to back, in
reverse registration order (about the order backward produces their gradients), in one flat
NumPy buffer padded at its end to a multiple of the world size ``W``, and cut into buckets of
about ``bucket_cap_mb`` (a multiple of ``W`` elements; a large parameter spans several). Each
bucket is split into ``W`` equal blocks and rank ``r`` owns block ``r`` of every bucket. Each
parameter becomes a ``Parameter`` over its slice of the flat buffer (set once, at
construction), so an in-place all-gather of a bucket *is* the update of its parameters: no
copy and no Python loop per parameter.

Gradients. A post-accumulate-grad hook packs each gradient (divided by ``W``) into its
buckets' send buffers the moment it is final and drops ``p.grad``; a full bucket starts a
non-blocking ``Ireduce_scatter_block`` at once, so communication overlaps the rest of
backward (as DDP's all-reduce). Stage 1 keeps a full-size gradient buffer and reduce-scatters
each bucket in place (the owned block lands at the bucket's start). Stage 2 keeps only a shard
gradient buffer (``W`` times smaller than the model) that receives the owned blocks, and packs
into staging buffers of at most ``STAGE2_BUCKET_BYTES``: a bucket's buffer returns to a pool
of ``STAGING_BUFFERS`` as soon as its reduce-scatter completes (more are allocated while many
buckets are in flight, and freed when they are done). Stage 0 (plain DDP with ``comm_dtype``
or ``deterministic``) all-gathers the reduced blocks back into a full gradient buffer that the
parameters' ``.grad`` view.

Optimizer. ``ZeroOptimizer`` builds the user's optimizer class again over *segments*: 1-D
tensors viewing the owned part of each parameter (in the flat parameter buffer) with ``.grad``
viewing the shard gradient buffer. Every elementwise optimizer of ``democratising.optim`` then
steps exactly what it would step on the full parameter, one fused call per group; an in-place
``Iallgather`` per bucket (all in flight together) then hands every rank the new weights.
Communication per step: reduce-scatter + all-gather = the volume of one all-reduce. Muon,
SparseAdam and Adafactor need whole parameters (matrices, rows): they are sharded by whole
parameters, each owned by one rank, which gets the all-gathered reduced gradient and broadcasts
what it stepped.
LBFGS (all parameters coupled in each step) is refused.

``comm_dtype="bfloat16"|"float16"`` packs each send buffer to 16 bits (bfloat16 by
round-to-nearest-even of the float32 bits) and replaces the reduce-scatter by an
``Ialltoall`` of the packed blocks followed by a float32 sum of the ``W`` blocks each rank
owns: half the bytes on the wire. ``deterministic=True`` uses the same all-to-all, and sums the
``W`` partial gradients in a fixed binary tree; each backward pass is one of ``partitions``
fixed micro-batches, and a rank's micro-batch gradients are first summed in the same tree, so
the sum — and the weights — do not depend on the number of ranks (see docs/distributed.md)."""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

import numpy as np

from .. import _core
from .._core import Tensor
from ..errors import DistributedError, InvalidValueError
from ..nn.module import Module
from ..nn.parameter import Parameter
from ..optim.optimizer import Optimizer
from ._reducer import GradRound
from .reduce_op import ReduceOp
from .world import World

_FLOAT = {"float32": np.float32, "float64": np.float64}
#: Optimizers whose update of a parameter needs all of it (Muon orthogonalises matrices,
#: SparseAdam steps whole rows, Adafactor factors a matrix's second moment into row and column
#: statistics and scales by the parameter's RMS): ZeRO shards them by whole parameters instead
#: of flat blocks.
_WHOLE_PARAMETER = ("Muon", "SparseAdam", "Adafactor")
#: LBFGS couples all parameters in every step (dot products over all of them, a line search
#: through a closure): it cannot be sharded.
_UNSHARDABLE = ("LBFGS",)
COMM_DTYPES = ("bfloat16", "float16")
#: ZeRO-2 reduces gradients in buckets of at most this many bytes, through a pool of
#: ``STAGING_BUFFERS`` reused staging buffers: all the gradient memory a rank keeps besides
#: its shard.
STAGE2_BUCKET_BYTES = 4 * 2**20
STAGING_BUFFERS = 2


def _dtype_name(t: Tensor) -> str:
    return str(t.dtype).replace("democratising.", "")


# ---- 16-bit packing ---------------------------------------------------------------------------


def pack16(src: np.ndarray, comm_dtype: str, out: np.ndarray) -> None:
    """``src`` (float32/float64) rounded to ``comm_dtype``, written as raw ``uint16`` words into
    ``out``. bfloat16 rounds to nearest even (NaN stays NaN, overflow becomes inf)."""
    if comm_dtype == "float16":
        out.view(np.float16)[...] = src
        return
    bits = np.ascontiguousarray(src, dtype=np.float32).view(np.uint32)
    rounded = bits + (np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1)))
    words = (rounded >> np.uint32(16)).astype(np.uint16)
    nan = np.isnan(src)
    if nan.any():
        words[nan] = 0x7FC0
    out[...] = words


def unpack16(words: np.ndarray, comm_dtype: str) -> np.ndarray:
    """Raw ``uint16`` words of ``comm_dtype`` widened exactly to float32."""
    if comm_dtype == "float16":
        return words.view(np.float16).astype(np.float32)
    return (words.astype(np.uint32) << np.uint32(16)).view(np.float32)


def tree_sum(rows: Sequence[np.ndarray], out: np.ndarray) -> None:
    """``out`` = the sum of ``rows`` in a fixed balanced binary tree (adjacent pairs first),
    so that a sum split into aligned power-of-two sub-trees gives the same bits."""
    level = [np.asarray(r, dtype=out.dtype) for r in rows]
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            nxt.append(level[i] + level[i + 1])
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    out[...] = level[0]


def _power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


# ---- layout -----------------------------------------------------------------------------------


class _Bucket:
    """A run of whole parameters in the flat buffer, padded to ``W`` equal blocks."""

    def __init__(self, index: int, start: int) -> None:
        self.index, self.start = index, start
        self.slots: list[tuple[int, int, int]] = []  # (parameter, flat offset, numel)
        self.numel = 0  # padded
        self.block = 0
        self.shard_start = 0  # where this bucket's owned block sits in the shard buffer
        self.pending = 0
        self.send: Optional[np.ndarray] = None
        self.packed: Optional[np.ndarray] = None
        self.recv: Optional[np.ndarray] = None
        self.request: Any = None
        self.send_base: Optional[np.ndarray] = None
        self.done = False

    @property
    def stop(self) -> int:
        return self.start + self.numel


class Segment:
    """The part of parameter ``param`` that this rank owns: elements ``[start, start+length)``
    of the flattened parameter, at ``flat`` in the flat buffer and ``shard`` in the shard
    gradient buffer."""

    __slots__ = ("flat", "length", "param", "shard", "start")

    def __init__(self, param: int, start: int, length: int, flat: int, shard: int) -> None:
        self.param, self.start, self.length, self.flat, self.shard = (
            param,
            start,
            length,
            flat,
            shard,
        )


class ZeroReducer(GradRound):
    """Flat parameter/gradient buffers and the per-backward gradient round of one model."""

    def __init__(
        self,
        params: Sequence[Tensor],
        names: Sequence[str],
        world: World,
        stage: int,
        bucket_cap_bytes: int,
        comm_dtype: Optional[str] = None,
        deterministic: bool = False,
        partitions: Optional[int] = None,
    ) -> None:
        self.world, self.stage = world, int(stage)
        self.names = list(names)
        self.comm_dtype = comm_dtype
        self.deterministic = bool(deterministic)
        size, rank = world.size(), world.rank()
        self.size, self.rank = size, rank
        if not params:
            raise DistributedError("ZeRO needs at least one trainable parameter")
        dtypes = {_dtype_name(p) for p in params}
        devices = {p.device.type for p in params}
        if len(dtypes) != 1 or next(iter(dtypes)) not in _FLOAT or devices != {"cpu"}:
            raise DistributedError(
                "zero_stage/comm_dtype/deterministic need every trainable parameter on the CPU "
                f"in one of float32/float64 (got dtypes {sorted(dtypes)} on {sorted(devices)}); "
                "AMP keeps float32 master weights, so autocast works"
            )
        self.dtype = _FLOAT[next(iter(dtypes))]
        if self.deterministic:
            parts = size if partitions is None else int(partitions)
            if not _power_of_two(size) or not _power_of_two(parts) or parts % size:
                raise DistributedError(
                    f"deterministic=True needs a power-of-two world size (got {size}) and a "
                    f"power-of-two number of partitions that it divides (got {parts})"
                )
            self.partitions = parts
            self.leaves_per_rank = parts // size
        else:
            self.partitions = size
            self.leaves_per_rank = 1
        # ---- layout: parameters back to back (reverse registration order), cut into buckets
        # of ``cap`` elements (a multiple of the world size; a parameter may span buckets);
        # only the end of the last bucket is padding.
        item = np.dtype(self.dtype).itemsize
        if self.stage == 2:  # small buckets: the staging buffers are all a rank keeps
            bucket_cap_bytes = min(int(bucket_cap_bytes), STAGE2_BUCKET_BYTES)
        cap = max(size, (max(1, int(bucket_cap_bytes)) // item) // size * size)
        self.offsets: list[int] = [0] * len(params)
        used = 0
        for i in reversed(range(len(params))):
            self.offsets[i] = used
            used += params[i].numel()
        self.used = used
        self.total = -(-used // size) * size
        self.buckets: list[_Bucket] = []
        for start in range(0, self.total, cap):
            b = _Bucket(len(self.buckets), start)
            b.numel = min(cap, self.total - start)
            b.block = b.numel // size
            b.shard_start = sum(x.block for x in self.buckets)
            self.buckets.append(b)
        self.pieces: list[list[_Bucket]] = [[] for _ in params]
        for i in reversed(range(len(params))):
            off, n = self.offsets[i], params[i].numel()
            if n == 0:
                continue
            for b in self.buckets[off // cap : (off + n - 1) // cap + 1]:
                b.slots.append((i, off, n))
                self.pieces[i].append(b)
        self.shard_numel = sum(b.block for b in self.buckets)
        # ---- the flat parameter buffer: parameters become views of it
        self.flat = np.zeros(self.total, dtype=self.dtype)
        self.params: list[Tensor] = []
        for i, p in enumerate(params):
            off, n = self.offsets[i], p.numel()
            view = self.flat[off : off + n].reshape(tuple(p.shape))
            view[...] = np.asarray(p.detach().numpy())
            self.params.append(Parameter(_core.from_numpy(view), requires_grad=True))
        # Stage 2's staging buffers (bucket-sized, reused; see ``_acquire``).
        self._pool: list[np.ndarray] = []
        self._pool_size = 0
        # Stage 1 reduce-scatters each bucket in place: the owned block lands at the start of
        # the bucket's (persistent, full-size) buffer, so no separate shard buffer is needed.
        self._in_place = self.stage == 1 and not self.deterministic and comm_dtype is None
        # ---- owned segments (``shard``: where the segment's gradient is in ``grad_buffer``)
        self.segments: list[Segment] = []
        # (parameter, start, stop) of each segment in the owned blocks laid end to end
        # (bucket order: ``_carry``'s layout)
        self._ranges: list[tuple[int, int, int]] = []
        for b in self.buckets:
            lo = b.start + rank * b.block
            hi = lo + b.block
            base = b.start if self._in_place else b.shard_start
            for i, off, n in b.slots:
                a, z = max(lo, off), min(hi, off + n)
                if a < z:
                    self.segments.append(Segment(i, a - off, z - a, a, base + a - lo))
                    self._ranges.append((i, b.shard_start + a - lo, b.shard_start + z - lo))
        # ---- gradient buffers
        self.shard_grad = np.zeros(0 if self._in_place else self.shard_numel, dtype=self.dtype)
        self.full_grad: Optional[np.ndarray] = None
        if self.stage <= 1 and not self.deterministic:
            self.full_grad = np.zeros(self.total, dtype=self.dtype)  # persistent send buffers
        self._grad_views: list[Optional[Tensor]] = [None] * len(self.params)
        if self.stage == 0:
            if self.full_grad is None:
                self.full_grad = np.zeros(self.total, dtype=self.dtype)
            for i, p in enumerate(self.params):
                off = self.offsets[i]
                v = self.full_grad[off : off + p.numel()].reshape(tuple(p.shape))
                self._grad_views[i] = _core.from_numpy(v)
        #: The buffer the segments' gradients view, and this rank's owned blocks of it.
        grad_buffer = self.full_grad if self._in_place else self.shard_grad
        assert grad_buffer is not None
        self.grad_buffer: np.ndarray = grad_buffer
        self.owned_grads: list[np.ndarray] = (
            [self.grad_buffer[b.start : b.start + b.block] for b in self.buckets]
            if self._in_place
            else [self.shard_grad]
        )
        # deterministic mode: the current micro-batch's gradient and the tree of finished ones
        self._leaf: Optional[np.ndarray] = None
        self._total: Optional[np.ndarray] = None
        self._stack: list[tuple[int, np.ndarray]] = []
        self._leaves = 0
        self.enabled = True  # False inside no_sync()
        self.round_open = False
        self.fresh = False
        # Which parameters got a gradient: this rank's contribution since the last reduction
        # (max-reduced with the gradients, so every rank learns which ones some rank
        # produced), and the gradients the buffers hold since the last clear (stages 1 and 2:
        # a parameter no rank produced a gradient for keeps none, as in PyTorch).
        self._used = np.zeros(len(self.params), dtype=np.uint8)
        self._partial = False  # some backward since the last reduction missed a parameter
        self._ones = np.ones(len(self.params), dtype=np.uint8)
        self._used_all = np.ones(len(self.params), dtype=np.uint8)  # the reduced flags
        self._used_request: Any = None
        self.present = np.zeros(len(self.params), dtype=bool)
        # ``present.any()`` and ``present.all()``, kept as Python bools for the per-step checks
        self.any_present = False
        self.all_present = False
        # Stages 1/2: a parameter ``present`` since the last zero_grad keeps its reduced
        # gradient in the owned blocks and the next reduction adds to it: ``_carry`` keeps
        # those blocks while a reduction that overwrites them is in flight. Parameters of a
        # whole-parameter optimizer are ``engine_held``: their ``.grad`` views the gathered
        # gradient, so backward itself accumulates into it (as in DDP) and nothing is carried.
        self.engine_held = np.zeros(len(self.params), dtype=bool)
        self._carry: Optional[np.ndarray] = None
        #: Set by ``ZeroOptimizer``: stages 1/2 have no gradients for any other optimizer.
        self.sharded = False
        #: Called after each completed reduction (a ZeroOptimizer over whole parameters
        #: gathers the gradients of the parameters it owns there).
        self.after_round: list[Callable[[], None]] = []
        self._ready = [False] * len(self.params)
        self._next = 0
        self._handles: list[Any] = []
        self._scale = 1.0 / size
        mpi = world._MPI
        self._mpi = mpi
        self._sum = mpi.SUM if mpi is not None else None

    # ---- hooks -------------------------------------------------------------------------------

    def _on_grad_ready(self, i: int) -> None:
        if not self._mark_ready(i, self.finish):
            return
        self._pack(i)
        if self.deterministic:
            return
        for b in self.pieces[i]:
            b.pending -= 1
        self._launch_ready()
        self._poll()

    def _open_round(self) -> None:
        super()._open_round()
        for b in self.buckets:
            b.done = False
        if self.stage >= 1 and self._carry is None and self.any_present:
            keep = self.present & ~self.engine_held
            if keep.any():
                # Packing (stage 1) or the reduction (stage 2) overwrites the owned blocks:
                # keep the gradient accumulated so far, added back in ``_finalize``.
                carry = np.concatenate([self.owned_block(b) for b in self.buckets])
                if not keep.all():
                    for i, lo, hi in self._ranges:
                        if not keep[i]:
                            carry[lo:hi] = 0
                self._carry = carry
        if self.deterministic:
            self._leaf = np.zeros(self.total, dtype=self.dtype)

    def _send_buffer(self, b: _Bucket) -> np.ndarray:
        if self._total is not None:
            return self._total[b.start : b.stop]
        if self.full_grad is not None:
            return self.full_grad[b.start : b.stop]
        if b.send is None:
            b.send = self._acquire(b)
        return b.send

    def _acquire(self, b: _Bucket) -> np.ndarray:
        """A staging buffer for bucket ``b`` (stage 2): a free one from the pool (after
        finishing the buckets whose reduce-scatter is done), else a temporary one, freed when
        its bucket is done (waiting instead would stall backward on the slowest rank)."""
        if not self._pool:
            self._poll()
        if self._pool:
            base = self._pool.pop()
        else:
            base = np.empty(self.buckets[0].numel, dtype=self.dtype)
            self._pool_size += 1
        buf = base[: b.numel]
        if b.stop > self.used:  # the padding at the end of the last bucket
            buf[self.used - b.start :] = 0
        b.send_base = base
        return buf

    def _release(self, b: _Bucket) -> None:
        if b.send_base is not None:
            if len(self._pool) < STAGING_BUFFERS:
                self._pool.append(b.send_base)
            else:
                self._pool_size -= 1
            b.send_base = None
        b.send = None

    def _pack(self, i: int) -> None:
        p = self.params[i]
        n = p.numel()
        off = self.offsets[i]
        g = p.grad
        if self.deterministic:
            assert self._leaf is not None
            if g is not None:
                self._leaf[off : off + n] = np.asarray(g.detach().numpy()).reshape(-1)
        else:
            src = None if g is None else np.asarray(g.detach().numpy()).reshape(-1)
            for b in self.pieces[i]:
                lo, hi = max(off, b.start), min(off + n, b.stop)
                dst = self._send_buffer(b)[lo - b.start : hi - b.start]
                if src is None:
                    dst.fill(0)
                else:
                    np.multiply(src[lo - off : hi - off], self._scale, out=dst, casting="unsafe")
        if g is not None:
            p.grad = None  # the engine's gradient is in the bucket now: free it

    def _launch_ready(self) -> None:
        while self._next < len(self.buckets) and self.buckets[self._next].pending == 0:
            self._launch(self.buckets[self._next])
            self._next += 1

    def _launch(self, b: _Bucket) -> None:
        send = self._send_buffer(b)
        if self._in_place:
            if self.size > 1:
                mpi = self._mpi
                b.request = self.world.comm.Ireduce_scatter_block(mpi.IN_PLACE, send, op=self._sum)
            return
        if self.comm_dtype is None and not self.deterministic:
            recv = self.shard_grad[b.shard_start : b.shard_start + b.block]
            if self.size == 1:
                recv[...] = send
                return
            b.request = self.world.comm.Ireduce_scatter_block(send, recv, op=self._sum)
            return
        # all-to-all of (possibly 16-bit) blocks; each rank sums the blocks it owns
        if self.comm_dtype is not None:
            b.packed = np.empty(b.numel, dtype=np.uint16)
            pack16(send, self.comm_dtype, b.packed)
            b.recv = np.empty((self.size, b.block), dtype=np.uint16)
            src = b.packed
        else:
            b.packed = None
            b.recv = np.empty((self.size, b.block), dtype=self.dtype)
            src = send
        if self.size == 1:
            b.recv[...] = src.reshape(1, -1)
        else:
            b.request = self.world.comm.Ialltoall(src, b.recv)

    def _poll(self) -> None:
        """Finishes the launched buckets whose communication is done (stage 2 frees their
        send buffers here, during backward)."""
        for b in self.buckets[: self._next]:
            if b.request is not None and not b.done and b.request.Test():
                b.request = None
                self._finalize(b)

    def _finalize(self, b: _Bucket) -> None:
        out = self.shard_grad[b.shard_start : b.shard_start + b.block]
        if b.recv is not None:
            rows = (
                [unpack16(r, self.comm_dtype) for r in b.recv]
                if self.comm_dtype is not None
                else list(b.recv)
            )
            if self.deterministic:
                tree_sum(rows, out)
                np.multiply(out, 1.0 / self.partitions, out=out)
            else:
                out[...] = 0
                for r in rows:
                    out += r
            b.recv = b.packed = None
        if self._carry is not None:
            mine = self.owned_block(b)
            mine += self._carry[b.shard_start : b.shard_start + b.block]
        self._release(b)  # stage 2: the staging buffer goes back to the pool
        b.done = True

    def _complete(self) -> None:
        mb = sum(b.numel for b in self.buckets) * np.dtype(self.dtype).itemsize / 2**20
        kind = "reduce_scatter" if self.comm_dtype is None else f"{self.comm_dtype} all_to_all"
        requests = [b.request for b in self.buckets if b.request is not None]
        if self._used_request is not None:
            requests.append(self._used_request)
            self._used_request = None
        self.world.wait(
            requests, f"ZeRO gradient {kind} ({len(self.buckets)} buckets, {mb:.2f} MiB)"
        )
        for b in self.buckets:
            b.request = None
            if not b.done:
                self._finalize(b)
        if self.stage == 0:
            self._gather_gradients()
        self.round_open = False

    def _gather_gradients(self) -> None:
        """Stage 0: every rank gets the full reduced gradient (rounded to ``comm_dtype`` when
        compressing, so that all replicas see the same values)."""
        assert self.full_grad is not None
        requests = []
        keep: list[tuple[np.ndarray, _Bucket]] = []
        for b in self.buckets:
            mine = self.shard_grad[b.shard_start : b.shard_start + b.block]
            dst = self.full_grad[b.start : b.stop]
            if self.comm_dtype is not None:
                words = np.empty(b.block, dtype=np.uint16)
                pack16(mine, self.comm_dtype, words)
                everything = np.empty(b.numel, dtype=np.uint16)
                if self.size == 1:
                    everything[...] = words
                else:
                    requests.append(self.world.comm.Iallgather(words, everything))
                keep.append((everything, b))
            elif self.size == 1:
                dst[...] = mine
            else:
                requests.append(self.world.comm.Iallgather(mine, dst))
        if requests:
            self.world.wait(requests, f"ZeRO gradient all_gather ({len(requests)} buckets)")
        for everything, b in keep:
            self.full_grad[b.start : b.stop] = unpack16(everything, str(self.comm_dtype))
        for i, p in enumerate(self.params):
            p.grad = self._grad_views[i]
        if not self._used_all.all():  # no rank produced these: no gradient, as in PyTorch
            for i in np.flatnonzero(self._used_all == 0).tolist():
                self.params[i].grad = None

    # ---- public ------------------------------------------------------------------------------

    def finish(self) -> list[str]:
        """Completes an open round (a no-op otherwise); returns the names of the parameters
        that received no gradient in it."""
        if not self.round_open:
            return []
        missing = [i for i, r in enumerate(self._ready) if not r]
        if missing:
            if not self._partial:  # the backwards before this one (deterministic) had all
                self._used.fill(1 if self._leaves else 0)
                self._partial = True
            # A gradient accumulated inside no_sync() counts as this rank's contribution.
            for i in range(len(self.params)):
                if self._ready[i] or self.params[i].grad is not None:
                    self._used[i] = 1
        for b in self.buckets:
            for i, _, _ in b.slots:
                if not self._ready[i]:
                    self._ready[i] = True
                    self._pack(i)
            b.pending = 0
        if self.deterministic:
            self._push_leaf()
            if self._leaves < self.leaves_per_rank:
                self.round_open = False
                return [self.names[i] for i in missing]
            self._leaves = 0
            self._total = self._stack.pop()[1]  # the send buffers of this reduction
            self._stack.clear()
            try:
                for b in self.buckets:
                    self._launch(b)
                self._next = len(self.buckets)
                self._launch_used()
                self._complete()
            finally:
                self._total = None
        else:
            self._launch_ready()
            self._launch_used()
            self._complete()
        self._carry = None
        if self.stage >= 1:
            if self._used_all.all():
                self.present.fill(True)
                self.all_present = self.any_present = True
            else:
                np.logical_or(self.present, self._used_all, out=self.present)
                self.all_present = bool(self.present.all())
                self.any_present = self.all_present or bool(self.present.any())
        if self._partial:
            self._used.fill(0)
            self._partial = False
        self.fresh = True
        for fn in self.after_round:
            fn()
        if self.stage >= 1 and not self.sharded:
            raise DistributedError(
                f"zero_stage={self.stage} reduces the gradients into shards that only a "
                "ZeroOptimizer steps (the parameters' .grad stays None, so a plain optimizer "
                "would train nothing): wrap the optimizer with opt = ddp.shard_optimizer(opt) "
                "before the first backward"
            )
        return [self.names[i] for i in missing]

    def _launch_used(self) -> None:
        """Max-reduces the per-parameter "got a gradient" flags into ``_used_all`` (launched
        after every bucket, so in the same order on every rank)."""
        local = self._used if self._partial else self._ones
        if self.size > 1:
            self._used_request = self.world.comm.Iallreduce(local, self._used_all, op=self._mpi.MAX)
        elif local is not self._ones or not self._used_all.all():
            self._used_all[...] = local

    def clear_gradients(
        self, set_to_none: bool = True, indices: Optional[np.ndarray] = None
    ) -> None:
        """What ``zero_grad`` means for the sharded gradients of the parameters ``indices``
        (default: all): none held any more (the next reduction overwrites them), or, without
        ``set_to_none``, zero."""
        if indices is None:
            if set_to_none:
                self.present[:] = False
                self.any_present = self.all_present = False
            else:
                for g in self.owned_grads:
                    g.fill(0)
            return
        if set_to_none:
            self.present[indices] = False
            self.all_present = False
            self.any_present = bool(self.present.any())
            return
        chosen = np.zeros(len(self.params), dtype=bool)
        chosen[indices] = True
        for seg in self.segments:
            if chosen[seg.param]:
                self.grad_buffer[seg.shard : seg.shard + seg.length] = 0

    def _push_leaf(self) -> None:
        """Adds this micro-batch's gradient to the binary tree of the rank's micro-batches."""
        assert self._leaf is not None
        node, level = self._leaf, 0
        self._leaf = None
        self._leaves += 1
        while self._stack and self._stack[-1][0] == level:
            _, left = self._stack.pop()
            np.add(left, node, out=left)
            node, level = left, level + 1
        self._stack.append((level, node))
        if self._leaves == self.leaves_per_rank and len(self._stack) != 1:
            raise DistributedError("deterministic reduction: unbalanced micro-batch tree")

    def all_reduce(self, op: ReduceOp) -> None:
        self.finish()
        if op is ReduceOp.Mean and (self.fresh or self.size == 1):
            return
        raise DistributedError(
            f"all_reduce_gradients({op}) is not available with zero_stage/comm_dtype/"
            "deterministic: backward already reduced the gradients (mean)"
        )

    def pending_names(self) -> Optional[list[str]]:
        if not self.round_open:
            return None
        return [self.names[i] for i, r in enumerate(self._ready) if not r]

    def stats(self) -> list[tuple[int, int, str]]:
        item = np.dtype(self.dtype).itemsize
        return [(len(b.slots), b.numel * item, np.dtype(self.dtype).name) for b in self.buckets]

    def owned_block(self, b: _Bucket) -> np.ndarray:
        """This rank's reduced gradient block of bucket ``b``."""
        if self._in_place:
            assert self.full_grad is not None
            return self.full_grad[b.start : b.start + b.block]
        return self.shard_grad[b.shard_start : b.shard_start + b.block]

    def gather_gradients_into(self, out: np.ndarray) -> None:
        """Every rank's reduced gradient blocks, all-gathered into ``out`` (flat layout)."""
        requests = []
        for b in self.buckets:
            mine, dst = self.owned_block(b), out[b.start : b.stop]
            if self.size == 1:
                dst[...] = mine
            else:
                requests.append(self.world.comm.Iallgather(mine, dst))
        if requests:
            self.world.wait(requests, "ZeRO gradient all_gather (whole-parameter optimizer)")

    def gather_parameters(self) -> None:
        """After the owners stepped their blocks: an in-place all-gather per bucket (all in
        flight together) gives every rank every updated parameter."""
        if self.size == 1:
            return
        mpi = self._mpi
        requests = [
            self.world.comm.Iallgather(mpi.IN_PLACE, self.flat[b.start : b.stop])
            for b in self.buckets
        ]
        mb = self.total * np.dtype(self.dtype).itemsize / 2**20
        self.world.wait(requests, f"ZeRO parameter all_gather ({mb:.2f} MiB)")

    def memory(self) -> dict[str, int]:
        """Bytes this rank holds for parameters and gradients between steps."""
        item = np.dtype(self.dtype).itemsize
        grads = self.shard_grad.nbytes + self._pool_size * self.buckets[0].numel * item
        if self.full_grad is not None:
            grads += self.full_grad.nbytes
        return {"parameters": self.total * item, "gradients": grads}


# ---- the optimizer ------------------------------------------------------------------------


class ZeroOptimizer(Optimizer):
    """Shards ``optimizer``'s state over the ranks of a ZeRO ``DistributedDataParallel``.

    Build it from an optimizer created over ``ddp.parameters()`` (after wrapping):
    ``opt = ZeroOptimizer(Adam(ddp.parameters(), lr=1e-3), ddp)`` or ``ddp.shard_optimizer(...)``.
    It builds the same optimizer class with the same groups and hyperparameters over this
    rank's segments; ``step()`` steps them and all-gathers the new weights. ``param_groups``
    are the segment groups (edit ``lr`` there, as schedulers do); ``state_dict()`` (collective)
    returns the full, consolidated state in the wrapped optimizer's format and
    ``load_state_dict`` takes one and keeps this rank's part, so a state saved at any rank
    count loads at any other. ``clip_grad_norm_`` clips with the global norm over all shards."""

    def __init__(self, optimizer: Optimizer, ddp: Any) -> None:
        reducer = getattr(ddp, "reducer", None)
        if not isinstance(reducer, ZeroReducer) or reducer.stage < 1:
            raise DistributedError(
                "ZeroOptimizer needs a DistributedDataParallel with zero_stage 1 or 2"
            )
        cls = type(optimizer)
        if cls.__name__ in _UNSHARDABLE:
            raise InvalidValueError(
                f"{cls.__name__} couples all parameters in each step (dot products over all "
                "of them and a line search), so ZeRO cannot shard it; use zero_stage=0"
            )
        self.optimizer = optimizer
        self.ddp = ddp
        self.reducer = reducer
        #: Whole-parameter mode: each parameter is owned (stepped, its state kept) by one rank.
        self.whole = cls.__name__ in _WHOLE_PARAMETER
        index = {id(p): i for i, p in enumerate(reducer.params)}
        by_param: dict[int, list[Segment]] = {}
        for s in reducer.segments:
            by_param.setdefault(s.param, []).append(s)
        self._order: list[int] = []  # DDP parameter index of each optimizer index
        for g in optimizer.param_groups:
            for p in g["params"]:
                i = index.get(id(p))
                if i is None:
                    raise DistributedError(
                        "ZeroOptimizer: the optimizer holds a tensor that is not a trainable "
                        "parameter of the ZeRO model; build the optimizer from ddp.parameters() "
                        "after wrapping the model"
                    )
                self._order.append(i)
        # Each parameter remembers this optimizer, which holds its gradient (``.grad`` stays
        # None under ZeRO), so ``nn.utils.clip_grad_norm_(model.parameters(), ...)`` clips
        # through it instead of finding no gradient to clip.
        ref = weakref.ref(self)
        for g in optimizer.param_groups:
            for p in g["params"]:
                try:
                    p._zero_optimizer = ref
                except AttributeError:  # (a plain tensor takes no attribute: clip with ours)
                    pass
        self._owner = self._assign_owners() if self.whole else []
        # The parameters this optimizer holds (None: all of the model's).
        held = sorted(set(self._order))
        self._idx: Optional[np.ndarray] = (
            None if len(held) == len(reducer.params) else np.array(held, dtype=np.int64)
        )
        if self.whole:
            reducer.engine_held[held] = True
        self._full: Optional[np.ndarray] = None
        self._full_views: list[tuple[Tensor, Tensor, int]] = []  # whole mode: (param, grad, i)
        self._segs: list[list[tuple[Segment, Tensor]]] = []
        # Flat mode: (parameter, segment, its gradient: a view of the shard). A segment's
        # ``.grad`` is that view while ``reducer.present`` says the parameter has a gradient,
        # else None; ``_applied`` is what the segments show now (see ``_sync_segments``).
        self._seg_grads: list[tuple[int, Tensor, Tensor]] = []
        self._applied = np.zeros(len(reducer.params), dtype=bool)
        self._applied_all = False
        groups = []
        k = 0
        for g in optimizer.param_groups:
            segs: list[Tensor] = []
            for _ in g["params"]:
                i = self._order[k]
                mine = []
                if self.whole:
                    if self._owner[k] == reducer.rank:
                        q = reducer.params[i]
                        n = q.numel()
                        mine.append((Segment(i, 0, n, reducer.offsets[i], -1), q))
                        segs.append(q)
                else:
                    for s in by_param.get(i, []):
                        t = _core.from_numpy(reducer.flat[s.flat : s.flat + s.length])
                        t.requires_grad_(True)
                        buf = reducer.grad_buffer
                        grad = _core.from_numpy(buf[s.shard : s.shard + s.length])
                        self._seg_grads.append((i, t, grad))
                        mine.append((s, t))
                        segs.append(t)
                self._segs.append(mine)
                k += 1
            hyper = {key: v for key, v in g.items() if key != "params"}
            groups.append({**hyper, "params": segs})
        if self.whole:
            reducer.after_round.append(self._gather_owned_gradients)
        else:
            reducer.after_round.append(self._sync_segments)
            self._sync_segments()
        self.inner = cls.__new__(cls)
        Optimizer.__init__(self.inner, [{"params": []}], dict(optimizer.defaults))
        self.inner.param_groups = []
        for g in groups:
            self.inner.param_groups.append(g)
        for name, v in vars(optimizer).items():
            if name not in ("param_groups", "state", "defaults"):
                setattr(self.inner, name, v)
        self.defaults = self.inner.defaults
        self._step_supports_amp_scaling = cls._step_supports_amp_scaling
        # (the built-in optimizers' steps leave p.grad scaled: the scaler unscales it first)
        self._amp_unscale_grads_first = getattr(cls, "_amp_unscale_grads_first", False)
        reducer.sharded = True

    # The inner optimizer is the one that steps: keep its groups and AMP scale in one place.
    @property  # type: ignore[override]
    def param_groups(self) -> list[dict[str, Any]]:
        return self.inner.param_groups

    @param_groups.setter
    def param_groups(self, value: list[dict[str, Any]]) -> None:
        if hasattr(self, "inner"):
            self.inner.param_groups = value

    @property  # type: ignore[override]
    def state(self) -> dict[Tensor, dict[str, Any]]:
        return self.inner.state

    @state.setter
    def state(self, value: dict[Tensor, dict[str, Any]]) -> None:
        if hasattr(self, "inner"):
            self.inner.state = value

    @property  # type: ignore[override]
    def _grad_scale(self) -> float:
        return self.inner._grad_scale

    @_grad_scale.setter
    def _grad_scale(self, value: float) -> None:
        self.inner._grad_scale = value

    @property
    def zero_wrapped(self) -> Optimizer:
        """The optimizer this one shards (its state stays empty; checkpoints check against
        it)."""
        return self.optimizer

    @property
    def wrapped_type(self) -> str:
        """The class name of the sharded optimizer (what a checkpoint records)."""
        return type(self.optimizer).__name__

    def _assign_owners(self) -> list[int]:
        """Whole-parameter mode: largest parameters first, each to the least loaded rank (the
        same answer on every rank)."""
        ps = self.reducer.params
        sizes = [ps[i].numel() for i in self._order]
        load = [0] * self.reducer.size
        owner = [0] * len(sizes)
        for k in sorted(range(len(sizes)), key=lambda k: (-sizes[k], k)):
            r = min(range(len(load)), key=lambda r: (load[r], r))
            owner[k] = r
            load[r] += sizes[k]
        return owner

    def _gather_owned_gradients(self) -> None:
        """After each reduction (whole-parameter mode): all-gather the reduced gradient and
        point the owned parameters' ``.grad`` at it."""
        red = self.reducer
        if self._full is None:
            self._full = np.zeros(red.total, dtype=red.dtype)
        red.gather_gradients_into(self._full)
        if not self._full_views:  # (made once: ``_full`` is reused by every round)
            for i in self._order:
                off, q = red.offsets[i], red.params[i]
                arr = self._full[off : off + q.numel()].reshape(tuple(q.shape))
                self._full_views.append((q, _core.from_numpy(arr), i))
        # Every parameter of this optimizer (not only the owned ones) gets its gradient: the
        # next backward accumulates into these views, as into DDP's.
        present = red.present
        for q, grad, i in self._full_views:
            q.grad = grad if present[i] else None  # (None: no rank produced a gradient)

    def _sync_segments(self) -> None:
        """Flat mode: gives each segment its gradient view, or None when no rank produced a
        gradient for its parameter since the last ``zero_grad``. Only when that pattern
        changed: in the usual step every parameter has a gradient, and this is one compare."""
        red = self.reducer
        if red.all_present and self._applied_all:
            return
        present = red.present
        if np.array_equal(present, self._applied):
            return
        for i, t, grad in self._seg_grads:
            t.grad = grad if present[i] else None
        self._applied = present.copy()
        self._applied_all = red.all_present

    def _has_gradients(self) -> bool:
        """Whether any parameter of this optimizer has a gradient (the same on every rank)."""
        red = self.reducer
        if self._idx is None or not red.any_present:
            return red.any_present
        return bool(red.present[self._idx].any())

    def _owned_grads(self) -> list[np.ndarray]:
        if not self._has_gradients():
            return []  # zero_grad() since the last backward: nothing to clip
        if not self.whole:
            return [g for g in self.reducer.owned_grads if g.size]
        if self._full is None:
            return []
        return [self._full[s.flat : s.flat + s.length] for segs in self._segs for s, _ in segs]

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        self.reducer.finish()
        if closure is None and not self._has_gradients():
            # No gradient since zero_grad() on any rank (the same answer everywhere): like a
            # plain optimizer whose parameters all have .grad None, do nothing.
            return None
        if not self.whole:
            self._sync_segments()
        loss = self.inner.step(closure)
        if self.whole:
            self._broadcast_owned()
        else:
            self.reducer.gather_parameters()
        return loss

    def _broadcast_owned(self) -> None:
        """Whole-parameter mode: each owner broadcasts the parameters it stepped (one
        non-blocking broadcast per parameter, all in flight together)."""
        red = self.reducer
        if red.size == 1:
            return
        requests = []
        for k, i in enumerate(self._order):
            off, n = red.offsets[i], red.params[i].numel()
            requests.append(red.world.comm.Ibcast(red.flat[off : off + n], root=self._owner[k]))
        red.world.wait(requests, f"ZeRO parameter broadcast ({len(requests)} parameters)")

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drops the gradients: the shard's (so the next backward starts afresh and a step
        before it does nothing; the segments' ``.grad`` become None at the next ``step``),
        and any local ones accumulated inside ``no_sync()``. Without ``set_to_none`` they are
        zeroed instead."""
        red = self.reducer
        red.clear_gradients(set_to_none, self._idx)
        for i in self._order:
            p = red.params[i]
            g = p.grad
            if g is None:
                continue
            if set_to_none:
                p.grad = None
            else:  # in place, as a plain optimizer's (whole mode: views of the gathered ones)
                if g.requires_grad:
                    p.grad = g = g.detach()
                g.zero_()

    def clip_grad_norm_(self, max_norm: float, norm_type: float = 2.0) -> Tensor:
        """Clips the (sharded) gradients with the norm of the whole gradient, computed over all
        ranks; returns that norm."""
        self.reducer.finish()
        if not self.whole:
            self._sync_segments()
        blocks = self._owned_grads()
        world = self.reducer.world
        if math.isinf(norm_type):
            local = np.array([max((float(np.abs(g).max()) for g in blocks), default=0.0)])
            world._all_reduce_array(local, ReduceOp.Max, "ZeRO gradient norm")
            total = float(local[0])
        else:
            local = np.zeros(1, dtype=np.float64)
            for g in blocks:
                for i in range(0, g.size, 1 << 20):  # float64 sums, 8 MiB at a time
                    part = np.abs(g[i : i + (1 << 20)].astype(np.float64))
                    local[0] += float(np.sum(part * part if norm_type == 2.0 else part**norm_type))
            world._all_reduce_array(local, ReduceOp.Sum, "ZeRO gradient norm")
            total = float(local[0]) ** (1.0 / norm_type)
        coef = float(max_norm) / (total + 1e-6)
        if coef < 1.0:
            for g in blocks:
                np.multiply(g, coef, out=g, casting="unsafe")
        return _core.from_numpy(np.array(total, dtype=np.float32))

    # ---- state -------------------------------------------------------------------------------

    def shard_state(self) -> dict[int, list[tuple[int, int, dict[str, Any]]]]:
        """This rank's state: per optimizer index, ``(start, length, {key: value})`` per owned
        segment (1-D NumPy arrays for elementwise tensors, Python values otherwise)."""
        out: dict[int, list[tuple[int, int, dict[str, Any]]]] = {}
        for k, segs in enumerate(self._segs):
            for s, t in segs:
                st = self.inner.state.get(t)
                if not st:
                    continue
                entry: dict[str, Any] = {}
                for key, v in st.items():
                    if isinstance(v, Tensor) and v.dim() >= 1 and v.numel() == s.length:
                        entry[key] = np.array(v.detach().numpy(), copy=True).reshape(-1)
                    elif isinstance(v, Tensor):
                        entry[key] = ("tensor0", float(v.item()), _dtype_name(v))
                    else:
                        entry[key] = v
                out.setdefault(k, []).append((s.start, s.length, entry))
        return out

    def _param_shapes(self) -> list[tuple[tuple[int, ...], Any]]:
        ps = self.reducer.params
        return [(tuple(ps[i].shape), self.reducer.dtype) for i in self._order]

    def group_state(self) -> list[dict[str, Any]]:
        """The wrapped optimizer's ``param_groups`` as its ``state_dict`` gives them."""
        groups, n = [], 0
        for g, user in zip(self.inner.param_groups, self.optimizer.param_groups):
            packed = {k: v for k, v in g.items() if k != "params"}
            packed["params"] = list(range(n, n + len(user["params"])))
            n += len(user["params"])
            groups.append(packed)
        return groups

    def state_dict(self) -> dict[str, Any]:
        """The full optimizer state (collective: every rank must call it)."""
        from ..optim.optimizer import exported_state

        parts = self.reducer.world.all_gather_object(self.shard_state())
        state = assemble_state(parts, self._param_shapes())
        return {
            # As a plain optimizer's: `step` and the other scalars as 0-d tensors.
            "state": {k: exported_state(self.inner, st) for k, st in state.items()},
            "param_groups": self.group_state(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Loads a full state (any rank count wrote it) and keeps this rank's part."""
        from ..optim._state_check import prepare

        groups, state = prepare(self.optimizer, state_dict)
        users = [p for g in self.optimizer.param_groups for p in g["params"]]
        new: dict[Tensor, dict[str, Any]] = {}
        for k, segs in enumerate(self._segs):
            full = state.get(users[k])
            if not full:
                continue
            for s, t in segs:
                st: dict[str, Any] = {}
                for key, v in full.items():
                    if (
                        isinstance(v, Tensor)
                        and tuple(v.shape) == tuple(users[k].shape)
                        and v.dim() > 0
                    ):
                        arr = np.asarray(v.detach().cpu().numpy()).reshape(-1)
                        part = np.array(arr[s.start : s.start + s.length], copy=True)
                        st[key] = _core.from_numpy(part.reshape(tuple(t.shape))).to(
                            dtype=users[k].dtype
                        )
                    elif isinstance(v, Tensor):
                        st[key] = v.detach().clone()
                    else:
                        st[key] = v
                new[t] = st
        for live, saved in zip(self.inner.param_groups, groups):
            params = live["params"]
            live.clear()
            live.update({k: v for k, v in saved.items() if k != "params"})
            live["params"] = params
        self.inner.state = new

    def __repr__(self) -> str:
        return f"ZeroOptimizer(stage={self.reducer.stage}, {self.optimizer!r})"


def assemble_state(
    parts: Sequence[dict[int, list[tuple[int, int, dict[str, Any]]]]],
    shapes: Sequence[tuple[tuple[int, ...], Any]],
) -> dict[int, dict[str, Any]]:
    """Full per-parameter optimizer state from the segments of every rank (checks that each
    parameter with state is covered exactly once)."""
    out: dict[int, dict[str, Any]] = {}
    pieces: dict[int, list[tuple[int, int, dict[str, Any]]]] = {}
    for part in parts:
        for k, segs in part.items():
            pieces.setdefault(int(k), []).extend(segs)
    for k, segs in sorted(pieces.items()):
        shape, dtype = shapes[k]
        numel = int(np.prod(shape)) if shape else 1
        segs.sort(key=lambda x: x[0])
        pos = 0
        for start, length, _ in segs:
            if start != pos:
                raise DistributedError(f"optimizer state of parameter {k} is not fully covered")
            pos = start + length
        if pos != numel:
            raise DistributedError(f"optimizer state of parameter {k} is not fully covered")
        entry: dict[str, Any] = {}
        for key, v in segs[0][2].items():
            if isinstance(v, np.ndarray):
                full = np.concatenate([np.asarray(s[2][key]) for s in segs]).astype(dtype)
                entry[key] = _core.from_numpy(full.reshape(shape))
            elif isinstance(v, tuple) and len(v) == 3 and v[0] == "tensor0":
                entry[key] = _core.from_numpy(np.array(v[1], dtype=np.dtype(v[2])))
            else:
                entry[key] = v
        out[k] = entry
    return out


def replace_parameters(module: Module, old: Sequence[Tensor], new: Sequence[Tensor]) -> None:
    """Points every module slot holding ``old[i]`` at ``new[i]`` (registration order kept)."""
    swap = {id(o): n for o, n in zip(old, new)}
    for m in module.modules():
        for name, p in list(m._parameters.items()):
            if p is not None and id(p) in swap:
                m._parameters[name] = swap[id(p)]


def state_bytes(optimizer: Union[Optimizer, ZeroOptimizer]) -> int:
    """Bytes of tensor state an optimizer holds on this rank."""
    n = 0
    for st in optimizer.state.values():
        for v in st.values():
            if isinstance(v, Tensor):
                n += v.numel() * v.element_size()
    return n


def stage_check(zero_stage: int, comm_dtype: Optional[str]) -> None:
    if zero_stage not in (0, 1, 2):
        raise InvalidValueError(f"zero_stage must be 0, 1 or 2, got {zero_stage!r}")
    if comm_dtype is not None and comm_dtype not in COMM_DTYPES:
        raise InvalidValueError(
            f"comm_dtype must be None, 'bfloat16' or 'float16', got {comm_dtype!r}"
        )


__all__ = ["ZeroOptimizer", "ZeroReducer", "pack16", "tree_sum", "unpack16"]
