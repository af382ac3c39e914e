"""PyTorch's ``torch.utils.data`` samplers and ``DataLoader`` arguments (issue 18, point 1):
samplers are consumed lazily, and ``Subset`` batches cost their own size."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import numpy as np
import pytest
from democratising.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    random_split,
)

import democratising as dm


def _ds(n: int) -> TensorDataset:
    return TensorDataset(dm.arange(n).float().reshape(n, 1), dm.arange(n))


def test_a_huge_random_sampler_yields_its_first_batch_at_once() -> None:
    ds = _ds(1000)
    sampler = RandomSampler(ds, replacement=True, num_samples=int(1e10))
    assert len(sampler) == int(1e10)
    for workers in (0, 2):
        t = time.perf_counter()
        it = iter(DataLoader(ds, batch_size=32, sampler=sampler, num_workers=workers))
        x, y = next(it)
        assert time.perf_counter() - t < 0.5
        assert x.shape == (32, 1) and int(y.max().item()) < 1000
        del it


def test_sampler_order_and_lengths() -> None:
    ds = _ds(10)
    assert list(SequentialSampler(ds)) == list(range(10))
    dm.manual_seed(0)
    perm = list(RandomSampler(ds))
    assert sorted(perm) == list(range(10)) and len(RandomSampler(ds)) == 10
    dm.manual_seed(0)
    assert list(RandomSampler(ds)) == perm  # the global generator decides
    more = list(RandomSampler(ds, num_samples=25, generator=np.random.default_rng(1)))
    assert len(more) == 25 and Counter(more[:20]) == Counter(list(range(10)) * 2)
    draws = list(RandomSampler(ds, replacement=True, num_samples=5000, generator=3))
    assert len(draws) == 5000 and set(draws) == set(range(10))
    assert list(RandomSampler(ds, generator=7)) == list(RandomSampler(ds, generator=7))
    with pytest.raises(ValueError, match="num_samples"):
        RandomSampler(ds, num_samples=0)
    with pytest.raises(TypeError, match="replacement"):
        RandomSampler(ds, replacement=1)  # type: ignore[arg-type]


def test_subset_random_and_weighted_samplers() -> None:
    idx = [3, 5, 7, 11]
    got = list(SubsetRandomSampler(idx, generator=0))
    assert sorted(got) == idx and len(SubsetRandomSampler(idx)) == 4
    w = [0.0, 1.0, 3.0]
    draws = list(WeightedRandomSampler(w, 20000, generator=np.random.default_rng(0)))
    freq = np.bincount(draws, minlength=3) / len(draws)
    np.testing.assert_allclose(freq, [0.0, 0.25, 0.75], atol=0.02)
    once = list(WeightedRandomSampler(dm.tensor([1.0, 1.0, 0.0, 2.0]), 3, replacement=False))
    assert sorted(once) == [0, 1, 3]
    with pytest.raises(ValueError):
        WeightedRandomSampler([1.0, 0.0], 2, replacement=False)
    with pytest.raises(ValueError):
        WeightedRandomSampler([-1.0, 2.0], 2)
    big = WeightedRandomSampler([1.0, 2.0], int(1e12))
    assert next(iter(big)) in (0, 1)


def test_batch_sampler_and_the_batch_sampler_argument() -> None:
    bs = BatchSampler(SequentialSampler(range(10)), 4, drop_last=False)
    assert list(bs) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and len(bs) == 3
    assert len(BatchSampler(range(10), 4, True)) == 2
    loader = DataLoader(_ds(10), batch_sampler=BatchSampler(range(10), 3, True))
    assert [b[1].tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert len(loader) == 3
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(_ds(4), batch_size=2, batch_sampler=[[0, 1]])
    with pytest.raises(ValueError, match="batch_size"):
        BatchSampler(range(3), 0, False)


def test_loader_takes_pytorchs_arguments() -> None:
    ds = _ds(10)
    seen: list[int] = []
    lock = threading.Lock()

    def init(worker_id: int) -> None:
        with lock:
            seen.append(worker_id)

    loader = DataLoader(
        ds,
        4,
        False,
        None,
        None,
        2,
        None,
        True,
        True,
        timeout=0,
        worker_init_fn=init,
        persistent_workers=True,
        prefetch_factor=3,
    )
    assert [b[1].tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert sorted(seen) == [0, 1]
    assert isinstance(loader.sampler, SequentialSampler)
    assert isinstance(loader.batch_sampler, BatchSampler)
    dm.manual_seed(3)
    a = [b[1].tolist() for b in DataLoader(ds, 5, shuffle=True)]
    dm.manual_seed(3)
    assert [b[1].tolist() for b in DataLoader(ds, 5, shuffle=True)] == a
    g = [b[1].tolist() for b in DataLoader(ds, 5, shuffle=True, generator=np.random.default_rng(4))]
    assert sorted(i for b in g for i in b) == list(range(10))


def test_custom_sampler_and_no_batching() -> None:
    class Evens(Sampler):
        def __init__(self, n: int) -> None:
            self.n = n

        def __iter__(self) -> Any:
            return iter(range(0, self.n, 2))

        def __len__(self) -> int:
            return (self.n + 1) // 2

    ds = _ds(9)
    for workers in (0, 2):
        loader = DataLoader(ds, 2, sampler=Evens(9), num_workers=workers, drop_last=True)
        assert [b[1].tolist() for b in loader] == [[0, 2], [4, 6]] and len(loader) == 2
    single = list(DataLoader(ds, batch_size=None, sampler=Evens(5)))
    assert [int(y.item()) for _, y in single] == [0, 2, 4]
    assert len(DataLoader(ds, batch_size=None)) == 9


def test_iterable_dataset_is_batched_as_it_streams() -> None:
    class Stream(IterableDataset):
        def __iter__(self) -> Any:
            for i in range(7):
                yield {"x": dm.tensor([float(i)]), "i": i}

    batches = list(DataLoader(Stream(), batch_size=3))
    assert [b["i"].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(list(DataLoader(Stream(), batch_size=3, drop_last=True))) == 2
    with pytest.raises(ValueError, match="IterableDataset"):
        DataLoader(Stream(), shuffle=True)


def test_concat_dataset() -> None:
    c = ConcatDataset([_ds(3), _ds(2)])
    assert len(c) == 5 and int(c[3][1].item()) == 0 and int(c[-1][1].item()) == 1
    with pytest.raises(IndexError):
        c[5]
    assert [b[1].tolist() for b in DataLoader(c, 5)] == [[0, 1, 2, 0, 1]]


def test_subset_keeps_its_indices_and_batches_through_the_fast_path() -> None:
    ds = _ds(100)
    sub = Subset(ds, range(10, 20))
    assert sub.indices == range(10, 20)  # kept as given, as PyTorch's
    assert [b[1].tolist() for b in DataLoader(sub, 4)] == [
        [10, 11, 12, 13],
        [14, 15, 16, 17],
        [18, 19],
    ]
    nested = Subset(sub, [9, 0])
    assert [b[1].tolist() for b in DataLoader(nested, 2)] == [[19, 10]]
    sub.indices = [1, 2]  # the loader reads the current indices
    assert [b[1].tolist() for b in DataLoader(sub, 2)] == [[1, 2]]


def test_subset_batches_cost_their_size_not_the_subsets() -> None:
    n = 200_000
    full = TensorDataset(dm.randn(n, 4), dm.arange(n))
    train, _ = random_split(full, [0.5, 0.5], seed=0)
    direct = TensorDataset(dm.randn(n // 2, 4), dm.arange(n // 2))

    def first_batches(ds: Dataset) -> float:
        loader = DataLoader(ds, 16)
        it = iter(loader)
        next(it)
        t = time.perf_counter()
        for _ in range(200):
            next(it)
        return time.perf_counter() - t

    # Before the fix each batch converted all 100k indices (~40x slower); allow noise.
    assert first_batches(train) < 4 * first_batches(direct) + 0.02


def test_random_split_takes_a_generator() -> None:
    ds = _ds(20)
    a = [s.indices for s in random_split(ds, [0.5, 0.5], np.random.default_rng(1))]
    b = [s.indices for s in random_split(ds, [0.5, 0.5], generator=np.random.default_rng(1))]
    assert a == b
    assert [s.indices for s in random_split(ds, [10, 10], 5)] == [
        s.indices for s in random_split(ds, [10, 10], seed=5)
    ]

    class TorchStyle:
        def initial_seed(self) -> int:
            return 42

    c = [s.indices for s in random_split(ds, [0.5, 0.5], TorchStyle())]
    assert c == [s.indices for s in random_split(ds, [0.5, 0.5], seed=42)]


def test_early_break_with_a_lazy_sampler_and_workers_reuses_the_pool() -> None:
    ds = _ds(50)
    loader = DataLoader(ds, 5, sampler=RandomSampler(ds, generator=0), num_workers=2)
    for i, _ in enumerate(loader):
        if i == 1:
            break
    assert sorted(i for b in loader for i in b[1].tolist()) == list(range(50))


def test_a_failing_sampler_raises_and_leaves_the_loader_usable() -> None:
    class Flaky(Sampler):
        def __init__(self) -> None:
            self.fail = True

        def __iter__(self) -> Any:
            yield 0
            if self.fail:
                raise RuntimeError("sampler broke")
            yield 1

        def __len__(self) -> int:
            return 2

    sampler = Flaky()
    loader = DataLoader(_ds(4), 1, sampler=sampler, num_workers=2)
    with pytest.raises(RuntimeError, match="sampler broke"):
        list(loader)
    sampler.fail = False
    assert [b[1].tolist() for b in loader] == [[0], [1]]
