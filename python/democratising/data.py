"""``democratising.data``: datasets and batching."""

from __future__ import annotations

import importlib
import math
import queue
import threading
from collections.abc import Iterator, Sequence, Sized
from typing import Any, Callable, Optional

import numpy as np

from . import _core
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


def random_split(dataset: Dataset, lengths: Sequence[float], seed: int = 0) -> list[Subset]:
    """Splits into non-overlapping subsets (lengths as counts or fractions), reproducibly."""
    n = len(dataset)
    if all(0 <= x <= 1 for x in lengths) and abs(sum(lengths) - 1) < 1e-6 and sum(lengths) != n:
        counts = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
    else:
        counts = [int(x) for x in lengths]
    if sum(counts) != n:
        raise ValueError(f"sum of input lengths {sum(counts)} does not equal dataset length {n}")
    perm = np.random.default_rng(seed).permutation(n)
    out, start = [], 0
    for c in counts:
        out.append(Subset(dataset, perm[start : start + c].tolist()))
        start += c
    return out


def default_collate(batch: list[Any]) -> Any:
    first = batch[0]
    if isinstance(first, Tensor):
        return _core.stack(batch)
    if isinstance(first, (tuple, list)):
        return type(first)(default_collate(list(items)) for items in zip(*batch))
    if isinstance(first, (int, float, bool, np.number)):
        from ._tensor import tensor

        return tensor(batch)
    return batch


class DataLoader:
    """Iterates a dataset in batches; ``TensorDataset`` batches are gathered with one index op.

    With ``num_workers=k > 0``, batches are built ahead of time by ``k`` background threads (the
    engine releases the GIL on large ops) and yielded in sampler order, so the batches are the
    same, bit for bit, as with ``num_workers=0``. Datasets whose ``__getitem__`` draws random
    numbers should derive them from the index to keep that guarantee.

    ``seed`` makes shuffling reproducible: the loader owns a NumPy generator that advances once
    per epoch; ``state_dict()``/``load_state_dict()`` save and restore it so that a resumed run
    sees the same order as an uninterrupted one.
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
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"num_workers must be non-negative, got {num_workers}")
        if prefetch_factor < 1:
            raise ValueError(f"prefetch_factor must be positive, got {prefetch_factor}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        self.dataset, self.batch_size, self.shuffle = dataset, batch_size, shuffle
        self.drop_last, self.num_workers, self.collate_fn = drop_last, num_workers, collate_fn
        self.sampler, self.prefetch_factor, self.seed = sampler, prefetch_factor, seed
        self._rng = np.random.default_rng(seed)

    def _order(self) -> np.ndarray:
        if self.sampler is not None:
            return np.asarray(list(iter(self.sampler)), dtype=np.int64)
        n = len(self.dataset)
        return self._rng.permutation(n) if self.shuffle else np.arange(n)

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Forwards to the sampler (``DistributedSampler`` reshuffles per epoch)."""
        if self.sampler is not None and hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def state_dict(self) -> dict[str, Any]:
        """The shuffling generator's state (JSON-able), for bit-identical resumption."""
        return {"rng": self._rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._rng.bit_generator.state = state["rng"]

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
        return _prefetch(self._fetch, batches, self.num_workers, self.prefetch_factor)


def _prefetch(
    fetch: Callable[[np.ndarray], Any], batches: list[np.ndarray], workers: int, factor: int
) -> Iterator[Any]:
    """Yields ``fetch(b)`` for every batch, in order, computed ahead by ``workers`` threads.

    Worker ``w`` builds batches ``w, w + workers, ...`` into its own bounded queue (``factor``
    deep) and the consumer reads the queues round-robin: order is preserved with one queue
    hand-off per batch and no shared scheduler. An exception in a worker is raised at the
    position of the batch that failed.
    """
    queues: list[queue.Queue[tuple[bool, Any]]] = [queue.Queue(factor) for _ in range(workers)]
    stop = threading.Event()

    def work(w: int) -> None:
        for j in range(w, len(batches), workers):
            if stop.is_set():
                return
            try:
                item: tuple[bool, Any] = (True, fetch(batches[j]))
            except BaseException as e:  # handed to the consumer, raised there
                item = (False, e)
            queues[w].put(item)
            if not item[0]:
                return

    threads = [
        threading.Thread(target=work, args=(w,), name=f"dm-loader-{w}", daemon=True)
        for w in range(min(workers, len(batches)))
    ]
    for t in threads:
        t.start()
    try:
        for j in range(len(batches)):
            ok, value = queues[j % workers].get()
            if not ok:
                raise value
            yield value
    finally:
        stop.set()
        for q in queues:  # unblock a worker waiting to put into a full queue
            while True:
                try:
                    q.get_nowait()
                except queue.Empty:
                    break


# ---- distributed sampling --------------------------------------------------------------------


def _world_info() -> Optional[tuple[int, int]]:
    """``(world_size, rank)`` from ``democratising.distributed`` when it exists and is
    initialised, else ``None``. Imported lazily: that package is optional (mpi4py)."""
    try:
        dist = importlib.import_module("democratising.distributed")
    except ImportError:
        return None
    try:
        is_init = getattr(dist, "is_initialized", None)
        if callable(is_init) and is_init():
            return int(dist.get_world_size()), int(dist.get_rank())
        world_cls = getattr(dist, "World", None)
        current = getattr(world_cls, "current", None) if world_cls is not None else None
        world = current() if callable(current) else None
        if world is not None:
            return int(world.size()), int(world.rank())
    except Exception:  # a half-initialised backend must not break single-process training
        return None
    return None


class DistributedSampler:
    """Gives each of ``num_replicas`` processes a disjoint slice of the dataset, exactly like
    PyTorch's: shuffle with ``seed + epoch`` (call ``set_epoch`` every epoch), then pad by
    repeating indices from the start (or, with ``drop_last``, trim the tail) so that every rank
    gets ``ceil(len / num_replicas)`` samples and stays in lock-step, then take every
    ``num_replicas``-th index from ``rank``."""

    def __init__(
        self,
        dataset: Sized,
        num_replicas: Optional[int] = None,
        rank: Optional[int] = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None or rank is None:
            size, r = _world_info() or (1, 0)
            num_replicas = size if num_replicas is None else num_replicas
            rank = r if rank is None else rank
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
