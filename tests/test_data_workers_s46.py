"""DataLoader behaviours PyTorch users rely on: generic dataset classes, lazy unshuffled
order, a copy of the dataset per worker, ``worker_init_fn`` seeding that leaves the main
streams alone, strict float collation, ``len(iter(loader))`` and per-epoch workers."""

from __future__ import annotations

import random
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising import data as D


def test_dataset_and_sampler_classes_are_subscriptable() -> None:
    class Pairs(D.Dataset[tuple[dm.Tensor, int]]):
        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int) -> tuple[dm.Tensor, int]:
            return dm.ones(1) * i, i

    class Every(D.Sampler[int]):
        def __iter__(self) -> Any:
            return iter([1, 0])

    assert [y.tolist() for _, y in D.DataLoader(Pairs(), batch_size=2, sampler=Every())] == [[1, 0]]
    for cls in (D.DataLoader, D.Subset, D.ConcatDataset, D.IterableDataset, D.TensorDataset):
        assert cls[int] is not None


class _Endless(D.Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


@pytest.mark.parametrize("n", [10**12, sys.maxsize])
def test_unshuffled_order_is_lazy(n: int) -> None:
    assert next(iter(D.DataLoader(_Endless(n), batch_size=4))).tolist() == [0, 1, 2, 3]
    assert next(iter(D.DataLoader(_Endless(n), batch_size=None))) == 0


class _Records(D.Dataset):
    """Opens its file on first use, as datasets over a large file do."""

    def __init__(self, path: Path, n: int) -> None:
        self.path, self.n = path, n
        self.f: Any = None

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        if self.f is None:
            self.f = open(self.path, "rb", buffering=0)
        self.f.seek(i * 64)
        return struct.unpack("<i", self.f.read(64)[:4])[0]


def test_each_worker_opens_its_own_file(tmp_path: Path) -> None:
    path, n = tmp_path / "rec.bin", 600
    path.write_bytes(b"".join(struct.pack("<i", i) + bytes(60) for i in range(n)))
    ds = _Records(path, n)
    for _ in range(2):
        got = [x for b in D.DataLoader(ds, batch_size=8, num_workers=3) for x in b.tolist()]
        assert got == list(range(n))
    assert ds.f is None  # the workers' copies opened the file, not the loader's dataset


def test_worker_init_fn_seeding_leaves_the_main_streams_alone() -> None:
    def seed_worker(worker_id: int) -> None:
        s = dm.initial_seed() % 2**32
        np.random.seed(s)
        random.seed(s)

    np.random.seed(0)
    random.seed(0)
    expected = (np.random.rand(), random.random())
    np.random.seed(0)
    random.seed(0)
    for _ in range(3):
        loader = D.DataLoader(
            list(range(8)), batch_size=2, num_workers=2, worker_init_fn=seed_worker
        )
        assert [b.tolist() for b in loader] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert (np.random.rand(), random.random()) == expected


@pytest.mark.parametrize("bad", ["2.5", b"3", None, "a", [2.0]])
def test_default_collate_refuses_non_numbers_among_floats(bad: Any) -> None:
    with pytest.raises(TypeError):
        D.default_collate([1.0, bad])
    assert D.default_collate([1.0, 2, np.float32(3.0), True]).tolist() == [1.0, 2.0, 3.0, 1.0]


@pytest.mark.parametrize("workers", [0, 2])
def test_len_of_an_epoch_iterator(workers: int) -> None:
    loader = D.DataLoader(list(range(10)), batch_size=3, num_workers=workers)
    it = iter(loader)
    assert len(it) == 4
    assert [b.tolist() for b in it][-1] == [9]


def test_workers_start_each_epoch_unless_persistent() -> None:
    calls: list[int] = []
    loader = D.DataLoader(list(range(4)), batch_size=2, num_workers=2, worker_init_fn=calls.append)
    assert loader.persistent_workers is False
    for _ in range(3):
        list(loader)
    assert sorted(calls) == [0, 0, 0, 1, 1, 1]
    calls.clear()
    kept = D.DataLoader(
        list(range(4)),
        batch_size=2,
        num_workers=2,
        worker_init_fn=calls.append,
        persistent_workers=True,
    )
    for _ in range(3):
        list(kept)
    assert sorted(calls) == [0, 1]
