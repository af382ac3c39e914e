"""The seed guide's ``DistributedDataLoader(dataset).batch_size(32).num_workers(4).build()``.

``build()`` returns a ``DataLoader`` over this rank's share of the dataset, drawn by
``democratising.data.DistributedSampler`` (or an identical fallback here when that class is
missing). Each pass over the loader starts a new epoch, so the shuffle changes every epoch the
same way on all ranks without a ``set_epoch`` call; ``set_epoch(e)`` still pins it."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized
from typing import Any, Callable, Optional

import numpy as np

from ..data import DataLoader
from .world import World


class _FallbackDistributedSampler:
    """PyTorch's ``DistributedSampler`` rules: shuffle with ``seed + epoch``, pad by repeating
    from the start (or trim with ``drop_last``) to a multiple of the world size, then take
    every ``num_replicas``-th index starting at ``rank``."""

    def __init__(
        self,
        dataset: Sized,
        num_replicas: int,
        rank: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, seed, drop_last, 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = n // num_replicas
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            idx = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            idx = np.arange(n)
        if self.total_size > n:
            idx = np.resize(idx, self.total_size)  # repeats from the start
        idx = idx[: self.total_size]
        return iter(idx[self.rank :: self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


def _sampler_class() -> Callable[..., Any]:
    from .. import data

    return getattr(data, "DistributedSampler", _FallbackDistributedSampler)


class DistributedLoader(DataLoader):
    """A ``DataLoader`` whose sampler is distributed; every iteration advances the epoch."""

    def __init__(self, dataset: Any, sampler: Any, **kwargs: Any) -> None:
        super().__init__(dataset, sampler=sampler, **kwargs)
        self.distributed_sampler = sampler
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Pins the epoch used by the next pass (later passes count up from it)."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[Any]:
        self.distributed_sampler.set_epoch(self.epoch)
        self.epoch += 1
        return super().__iter__()


class DistributedDataLoader:
    """Builder: ``DistributedDataLoader(dataset).batch_size(32).num_workers(4).build()``.

    ``batch_size`` is per rank: the global batch is ``batch_size * world.size()``."""

    def __init__(self, dataset: Any, world: Optional[World] = None) -> None:
        self._dataset, self._world = dataset, world
        self._batch_size, self._num_workers = 1, 0
        self._shuffle, self._seed, self._drop_last = True, 0, False
        self._collate_fn: Optional[Callable[[list[Any]], Any]] = None

    @classmethod
    def new(cls, dataset: Any, world: Optional[World] = None) -> DistributedDataLoader:
        """The seed's ``DistributedDataLoader::new(dataset)``."""
        return cls(dataset, world)

    def batch_size(self, n: int) -> DistributedDataLoader:
        self._batch_size = n
        return self

    def num_workers(self, k: int) -> DistributedDataLoader:
        self._num_workers = k
        return self

    def shuffle(self, on: bool = True) -> DistributedDataLoader:
        self._shuffle = on
        return self

    def seed(self, s: int) -> DistributedDataLoader:
        self._seed = s
        return self

    def drop_last(self, on: bool = True) -> DistributedDataLoader:
        self._drop_last = on
        return self

    def collate_fn(self, fn: Callable[[list[Any]], Any]) -> DistributedDataLoader:
        self._collate_fn = fn
        return self

    def world(self, world: World) -> DistributedDataLoader:
        self._world = world
        return self

    def build(self) -> DistributedLoader:
        world = self._world if self._world is not None else World.init()
        sampler = _sampler_class()(
            self._dataset,
            num_replicas=world.size(),
            rank=world.rank(),
            shuffle=self._shuffle,
            seed=self._seed,
            drop_last=self._drop_last,
        )
        return DistributedLoader(
            self._dataset,
            sampler,
            batch_size=self._batch_size,
            num_workers=self._num_workers,
            collate_fn=self._collate_fn,
            drop_last=self._drop_last,
        )
