"""``democratising.data``: datasets and batching."""

from __future__ import annotations

import math
import os
import queue
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence, Sized
from typing import Any, Callable, Optional

import numpy as np

from . import _core, _ranks
from ._core import Tensor


class Dataset:
    """Map-style dataset: implement ``__len__`` and ``__getitem__``."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError


class TensorDataset(Dataset):
    """Samples are the ``index``-th rows of tensors that share their first dimension."""

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            from .errors import ShapeError

            raise ShapeError(f"size mismatch between tensors: {[tuple(t.shape) for t in tensors]}")
        self.tensors = tensors

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)


class Subset(Dataset):
    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset, self.indices = dataset, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Any:
        return self.dataset[self.indices[i]]


#: Most loader threads one ``DataLoader`` may start; more only exhausts the machine.
MAX_NUM_WORKERS = 256


def _check_pcg64_state(st: Any) -> None:
    """A NumPy ``PCG64`` bit-generator state, checked field by field (NumPy itself accepts
    some out-of-range values) and then by NumPy on a scratch generator."""
    if not isinstance(st, Mapping) or set(st) != {
        "bit_generator",
        "state",
        "has_uint32",
        "uinteger",
    }:
        raise ValueError(
            "loader 'rng' must be a PCG64 state {bit_generator, state, has_uint32, uinteger}"
        )
    if st["bit_generator"] != "PCG64":
        raise ValueError(f"loader 'rng' must be a PCG64 state, not {st['bit_generator']!r}")
    inner = st["state"]
    if not isinstance(inner, Mapping) or set(inner) != {"state", "inc"}:
        raise ValueError("loader 'rng' state must hold 'state' and 'inc'")

    def uint(v: Any, bits: int) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**bits

    if not (uint(inner["state"], 128) and uint(inner["inc"], 128)):
        raise ValueError("loader 'rng' state and inc must be unsigned 128-bit ints")
    if st["has_uint32"] not in (0, 1) or isinstance(st["has_uint32"], float):
        raise ValueError("loader 'rng' has_uint32 must be 0 or 1")
    if not uint(st["uinteger"], 32):
        raise ValueError("loader 'rng' uinteger must be an unsigned 32-bit int")
    try:
        np.random.PCG64().state = dict(st)  # type: ignore[assignment]
    except (TypeError, ValueError, OverflowError, KeyError) as e:
        raise ValueError(f"loader 'rng' is not a valid PCG64 state: {e}") from e


def _global_seed() -> int:
    """A seed drawn from democratising's global generator, so that ``dm.manual_seed`` fixes
    every shuffle that is not given its own ``seed`` (PyTorch's ``RandomSampler`` draws one
    from the global generator the same way)."""
    return int(_core.randint(0, 2**62, (1,)).item())


def random_split(
    dataset: Dataset, lengths: Sequence[float], seed: Optional[int] = None
) -> list[Subset]:
    """Splits into non-overlapping subsets (lengths as counts or fractions). The permutation
    comes from ``seed`` or, without one, from the global generator (``dm.manual_seed``), like
    PyTorch's default ``generator``."""
    n = len(dataset)
    if all(0 <= x <= 1 for x in lengths) and abs(sum(lengths) - 1) < 1e-6 and sum(lengths) != n:
        counts = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
    else:
        counts = [int(x) for x in lengths]
    if sum(counts) != n:
        raise ValueError(f"sum of input lengths {sum(counts)} does not equal dataset length {n}")
    perm = np.random.default_rng(_global_seed() if seed is None else seed).permutation(n)
    out, start = [], 0
    for c in counts:
        out.append(Subset(dataset, perm[start : start + c].tolist()))
        start += c
    return out


# NumPy dtypes the engine stores as they are; others are converted by ``tensor``.
_ENGINE_DTYPES = frozenset(
    np.dtype(t) for t in (np.float64, np.float32, np.float16, np.int64, np.int32, np.bool_)
)


def _numpy_to_tensor(array: np.ndarray) -> Tensor:
    """A NumPy batch as a tensor with its dtype kept where the engine has it (float64 stays
    float64, like ``torch.as_tensor``); other integer types widen to int64."""
    if array.dtype.kind in "OSUV":  # objects, strings, void: no tensor dtype
        raise TypeError(f"default_collate: cannot collate NumPy arrays of dtype {array.dtype}")
    if array.dtype in _ENGINE_DTYPES:
        return _core.from_numpy(np.ascontiguousarray(array))
    from ._tensor import tensor

    return tensor(array)


def default_collate(batch: list[Any]) -> Any:
    """Merges a list of samples into a batch, recursively, like PyTorch's ``default_collate``:
    tensors and NumPy arrays are stacked, Python ints/floats/bools become int64/float64/bool
    tensors, strings and bytes stay a list, mappings and (named) tuples/lists are collated
    field by field. Tuples stay tuples, to match the ``TensorDataset`` fast path."""
    elem = batch[0]
    elem_type: Any = type(elem)  # rebuilt around the collated fields (dict, list, OrderedDict...)
    if isinstance(elem, Tensor):
        return _core.stack(batch)
    if isinstance(elem, (str, bytes)):  # before NumPy: np.str_ and np.bytes_ are strings too
        return batch
    if isinstance(elem, np.ndarray):
        return _numpy_to_tensor(np.stack(batch))
    if isinstance(elem, np.generic):  # NumPy scalars keep their dtype, like torch.as_tensor
        return _numpy_to_tensor(np.array(batch))
    if isinstance(elem, float):
        # Not ``tensor(batch)``: that rounds Python floats to float32 first.
        return _core.from_numpy(np.array(batch, dtype=np.float64))
    if isinstance(elem, int):  # bool is an int: ``tensor`` infers bool or int64
        from ._tensor import tensor

        return tensor(batch)
    if isinstance(elem, Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return elem_type(collated)
        except TypeError:  # a mapping type that cannot be built from a dict
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, Sequence):
        sizes = {len(e) for e in batch}
        if len(sizes) > 1:  # zip() would silently drop the extra fields
            raise RuntimeError(
                "default_collate: each element in list of batch should be of equal size, "
                f"got sizes {sorted(sizes)}"
            )
        columns = [default_collate(list(field)) for field in zip(*batch)]
        try:
            return elem_type(columns)
        except TypeError:  # a sequence type that cannot be built from a list
            return columns
    raise TypeError(
        "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        f"found {elem_type}"
    )


class DataLoader:
    """Iterates a dataset in batches; ``TensorDataset`` batches are gathered with one index op.

    With ``num_workers=k > 0``, batches are built ahead of time by ``k`` background threads (the
    engine releases the GIL on large ops) and yielded in sampler order, so the batches are the
    same, bit for bit, as with ``num_workers=0``. Datasets whose ``__getitem__`` draws random
    numbers should derive them from the index to keep that guarantee. Threads pay off when
    building a batch waits without the GIL (file or network reads, decoding in C); in-memory
    ``TensorDataset`` batches are one index op, fastest with ``num_workers=0``. The threads
    are kept between epochs unless ``persistent_workers=False``; up to ``prefetch_factor``
    batches per worker are built ahead.

    ``seed`` makes shuffling reproducible: the loader owns a NumPy generator that advances once
    per epoch; ``state_dict()``/``load_state_dict()`` save and restore it so that a resumed run
    sees the same order as an uninterrupted one. Without ``seed``, each shuffled epoch draws its
    seed from the global generator, as PyTorch's ``RandomSampler`` does: epochs differ, and
    ``dm.manual_seed`` makes the whole sequence reproducible.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        num_workers: int = 0,
        seed: Optional[int] = None,
        collate_fn: Optional[Callable[[list[Any]], Any]] = None,
        sampler: Optional[Any] = None,
        prefetch_factor: int = 2,
        persistent_workers: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if not 0 <= num_workers <= MAX_NUM_WORKERS:
            raise ValueError(
                f"num_workers must be in [0, {MAX_NUM_WORKERS}] (each is a thread), "
                f"got {num_workers}"
            )
        if prefetch_factor < 1:
            raise ValueError(f"prefetch_factor must be positive, got {prefetch_factor}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.drop_last, self.num_workers, self.collate_fn = drop_last, num_workers, collate_fn
        self.sampler, self.prefetch_factor, self.seed = sampler, prefetch_factor, seed
        self.persistent_workers = persistent_workers
        self._pool: Optional[_WorkerPool] = None
        # The loader's own shuffling generator; ``None``: one per epoch from the global one.
        self._rng: Optional[np.random.Generator] = (
            None if seed is None else np.random.default_rng(seed)
        )

    def _order(self) -> np.ndarray:
        if self.sampler is not None:
            return np.asarray(list(iter(self.sampler)), dtype=np.int64)
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        rng = self._rng if self._rng is not None else np.random.default_rng(_global_seed())
        return rng.permutation(n)

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Forwards to the sampler (``DistributedSampler`` reshuffles per epoch)."""
        if self.sampler is not None and hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def state_dict(self) -> dict[str, Any]:
        """The shuffling generator's state (JSON-able), for bit-identical resumption; ``None``
        without ``seed``, where the order follows the global generator's state instead."""
        return {"rng": None if self._rng is None else self._rng.bit_generator.state}

    @staticmethod
    def check_state_dict(state: Any) -> None:
        """``ValueError`` naming the problem unless ``state`` is what ``state_dict`` returns:
        ``{"rng": None}`` or ``{"rng": <a PCG64 state>}``. Checks without changing anything,
        so a resume can validate every part of a checkpoint before applying any."""
        if not isinstance(state, Mapping) or "rng" not in state:
            raise ValueError("a DataLoader state must be a dict with an 'rng' entry")
        if state["rng"] is not None:
            _check_pcg64_state(state["rng"])

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores ``state_dict()``'s result; ``ValueError`` (and no change) if malformed."""
        self.check_state_dict(state)
        if state["rng"] is None:
            self._rng = None
            return
        rng = np.random.default_rng()
        rng.bit_generator.state = dict(state["rng"])
        self._rng = rng

    def _batches(self) -> list[np.ndarray]:
        order = self._order()
        out = [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        if self.drop_last and out and len(out[-1]) < self.batch_size:
            out.pop()
        return out

    def _fetch(self, idx: np.ndarray) -> Any:
        base = self.dataset
        while isinstance(base, Subset) and self.collate_fn is None:  # random_split output
            idx = np.asarray(base.indices, dtype=np.int64)[idx]
            base = base.dataset
        if isinstance(base, TensorDataset) and self.collate_fn is None:
            it = _core.from_numpy(np.ascontiguousarray(idx, dtype=np.int64))
            return tuple(t[it] for t in base.tensors)
        items = [self.dataset[int(i)] for i in idx]
        return (self.collate_fn or default_collate)(items)

    def __iter__(self) -> Iterator[Any]:
        batches = self._batches()  # drawn now, so shuffling state advances like num_workers=0
        if self.num_workers == 0:
            return (self._fetch(idx) for idx in batches)
        pool = self._pool
        if pool is not None and pool.pid != os.getpid():  # threads do not survive fork()
            pool = self._pool = None
        if not self.persistent_workers or (pool is not None and pool.busy):
            return _prefetch(self._fetch, batches, self.num_workers, self.prefetch_factor)
        if pool is None:
            pool = self._pool = _WorkerPool(self.num_workers, self.prefetch_factor)
            weakref.finalize(self, pool.close)
        return pool.run(self._fetch, batches)


class _WorkerPool:
    """``workers`` daemon threads that build batches ahead of the consumer, in order.

    Worker ``w`` builds batches ``w, w + workers, ...`` of an epoch into its own bounded queue
    (``depth`` deep) and the consumer reads the queues round-robin, so order is preserved with
    one queue hand-off per batch. The threads outlive an epoch because starting threads costs
    milliseconds on a busy machine, more than a small epoch takes. Each epoch has a generation
    number: a consumer that stops early bumps it, the workers drop that epoch's remaining
    batches, and results of an old generation are discarded.

    The fetch function travels with each epoch's task, so between epochs the threads hold no
    reference to the ``DataLoader``: an unused loader is collected and its threads end.
    """

    def __init__(self, workers: int, depth: int) -> None:
        self.workers = workers
        self._tasks: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in range(workers)]
        self._results: list[queue.Queue[Any]] = [queue.Queue(depth) for _ in range(workers)]
        self._gen = 0
        self.busy = False
        self.pid = os.getpid()
        for w in range(workers):
            name = f"dm-loader-{w}"
            threading.Thread(target=self._work, args=(w,), name=name, daemon=True).start()

    def _work(self, w: int) -> None:
        while True:
            task = self._tasks[w].get()
            if task is None:
                return
            gen, batches, fetch = task
            del task
            for j in range(w, len(batches), self.workers):
                if self._gen != gen:
                    break
                try:
                    item, ok = (gen, True, fetch(batches[j])), True
                except BaseException as e:  # handed to the consumer, raised there
                    item, ok = (gen, False, e), False
                self._results[w].put(item)
                del item
                if not ok:
                    break
            del fetch, batches

    def run(self, fetch: Callable[[np.ndarray], Any], batches: list[np.ndarray]) -> _Epoch:
        """Starts an epoch now (so a second iterator sees the pool busy) and returns its
        iterator."""
        return _Epoch(self, fetch, batches, close_pool=False)

    def close(self) -> None:
        self._gen += 1
        for t in self._tasks:
            t.put(None)


class _Epoch:
    """Iterator over one epoch of a ``_WorkerPool``: yields batches in order, raises a
    worker's exception in its place, and, if dropped early (``break``, an exception, garbage
    collection), tells the workers to stop and empties their queues so the pool is reusable."""

    def __init__(
        self,
        pool: _WorkerPool,
        fetch: Callable[[np.ndarray], Any],
        batches: list[np.ndarray],
        close_pool: bool,
    ) -> None:
        pool.busy = True
        pool._gen += 1
        self.pool, self.gen, self.n, self.j = pool, pool._gen, len(batches), 0
        self.fetch: Optional[Callable[[np.ndarray], Any]] = fetch  # keeps the loader alive
        self.close_pool, self.finished = close_pool, False
        for t in pool._tasks:
            t.put((self.gen, batches, fetch))

    def __iter__(self) -> _Epoch:
        return self

    def __next__(self) -> Any:
        if self.j >= self.n or self.finished:
            self.close()
            raise StopIteration
        q = self.pool._results[self.j % self.pool.workers]
        while True:
            g, ok, value = q.get()
            if g == self.gen:  # older generations are leftovers of an abandoned epoch
                break
        self.j += 1
        if not ok:
            self.close()
            raise value
        return value

    def close(self) -> None:
        if self.finished:
            return
        self.finished, pool = True, self.pool
        if self.j < self.n or self.close_pool:
            pool._gen += 1  # the workers drop the rest of this epoch...
            for q in pool._results:  # ...and any waiting to put into a full queue wakes up
                while True:
                    try:
                        q.get_nowait()
                    except queue.Empty:
                        break
        pool.busy = False
        self.fetch = None
        if self.close_pool:
            pool.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to clean up
            pass


def _prefetch(
    fetch: Callable[[np.ndarray], Any], batches: list[np.ndarray], workers: int, depth: int
) -> _Epoch:
    """A one-epoch pool: for a second concurrent iterator, or ``persistent_workers=False``."""
    return _Epoch(_WorkerPool(workers, depth), fetch, batches, close_pool=True)


# ---- distributed sampling --------------------------------------------------------------------


class DistributedSampler:
    """Gives each of ``num_replicas`` processes a disjoint slice of the dataset, exactly like
    PyTorch's: shuffle with ``seed + epoch`` (call ``set_epoch`` every epoch), then pad by
    repeating indices from the start (or, with ``drop_last``, trim the tail) so that every rank
    gets ``ceil(len / num_replicas)`` samples and stays in lock-step, then take every
    ``num_replicas``-th index from ``rank``. ``num_replicas`` and ``rank`` default to the
    world ``democratising.distributed.World.init()`` registered (one process, rank 0, before
    that)."""

    def __init__(
        self,
        dataset: Sized,
        num_replicas: Optional[int] = None,
        rank: Optional[int] = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None:
            num_replicas = _ranks.world_size()
        if rank is None:
            rank = _ranks.rank()
        if num_replicas < 1:
            raise ValueError(f"num_replicas must be positive, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise ValueError(
                f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]"
            )
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, seed, drop_last, 0
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            pad = self.total_size - len(indices)
            if pad <= len(indices):
                indices += indices[:pad]
            elif indices:
                indices += (indices * math.ceil(pad / len(indices)))[:pad]
        else:
            indices = indices[: self.total_size]
        assert len(indices) == self.total_size
        return iter(indices[self.rank : self.total_size : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch mixed into the shuffle seed, so every epoch has a new order that
        every rank agrees on."""
        self.epoch = epoch
