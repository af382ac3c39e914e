"""The seed guide's ``DistributedDataLoader(dataset).batch_size(32).num_workers(4).build()``.

``build()`` returns a ``DataLoader`` over this rank's share of the dataset, drawn by
``democratising.data.DistributedSampler``. Each pass over the loader starts a new epoch, so
the shuffle changes every epoch the same way on all ranks without a ``set_epoch`` call;
``set_epoch(e)`` still pins it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable, Optional

from .._chain import chained
from ..data import DataLoader, DistributedSampler
from .world import World


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

    ``batch_size`` is per rank: the global batch is ``batch_size * world.size()``. The settings
    may also be given as ``DataLoader``-style keywords, ``DistributedDataLoader(ds,
    batch_size=32)``, and the builder may be iterated without ``build()``: it then builds once
    and iterates that loader, so the shuffle still changes every epoch."""

    def __init__(
        self,
        dataset: Any,
        world: Optional[World] = None,
        *,
        batch_size: int = 1,
        num_workers: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        collate_fn: Optional[Callable[[list[Any]], Any]] = None,
    ) -> None:
        self._dataset, self._world = dataset, world
        self._batch_size, self._num_workers = batch_size, num_workers
        self._shuffle, self._seed, self._drop_last = shuffle, seed, drop_last
        self._collate_fn = collate_fn
        self._loader: Optional[DistributedLoader] = None
        self._built_with: Optional[tuple[Any, ...]] = None

    @classmethod
    def new(cls, dataset: Any, world: Optional[World] = None) -> DistributedDataLoader:
        """The seed's ``DistributedDataLoader::new(dataset)``."""
        return cls(dataset, world)

    # The seed's chained setters: each stores its value and returns the builder.
    batch_size = chained("_batch_size")
    num_workers = chained("_num_workers")
    shuffle = chained("_shuffle", default=True)
    seed = chained("_seed")
    drop_last = chained("_drop_last", default=True)
    collate_fn = chained("_collate_fn")
    world = chained("_world")

    def build(self) -> DistributedLoader:
        world = self._world if self._world is not None else World.init()
        sampler = DistributedSampler(
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

    def _settings(self) -> tuple[Any, ...]:
        return (
            self._world,
            self._batch_size,
            self._num_workers,
            self._shuffle,
            self._seed,
            self._drop_last,
            self._collate_fn,
        )

    def _built(self) -> DistributedLoader:
        """The loader iterating the builder uses: built once, rebuilt if a setting changed."""
        settings = self._settings()
        if self._loader is None or self._built_with != settings:
            self._loader, self._built_with = self.build(), settings
        return self._loader

    def __iter__(self) -> Iterator[Any]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())
