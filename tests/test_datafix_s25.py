"""Regression tests for the session-25 data-layer fixes (``tests/test_datafuzz_s25.py`` holds
the fuzz findings themselves): the ``TensorDataset`` fast path kept for the plain classes and
every kind of ``Subset`` indices, generators that advance between epochs, per-thread
``initial_seed``, worker errors and timeouts. Expected values are PyTorch 2.x's, checked there
and written as constants."""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising import data
from democratising.data import (
    DataLoader,
    IterableDataset,
    RandomSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    get_worker_info,
)


def _rows(loader: DataLoader) -> list[Any]:
    return [b[0].tolist() for b in loader]


def _td() -> TensorDataset:
    return TensorDataset(dm.tensor([0, 10, 20, 30, 40]))


# ---- the fast path: kept for the plain classes, same batches as PyTorch's fetcher -------------


def test_fast_path_is_taken_for_plain_classes_only() -> None:
    ds = _td()
    idx = np.array([4, 0])
    assert data._gather(ds, idx) is not None
    assert data._gather(Subset(Subset(ds, [4, 3]), [1, 0]), np.array([1, 0])) is not None

    class Plain(TensorDataset):  # a subclass that changes nothing still takes it
        pass

    assert data._gather(Plain(dm.tensor([1, 2])), [1, 0]) is not None

    class Scaled(TensorDataset):
        def __getitem__(self, index: Any) -> tuple[Any, ...]:
            return tuple(t * 2 for t in super().__getitem__(index))

    assert data._gather(Scaled(dm.tensor([1, 2])), [1, 0]) is None
    assert data._gather(Subset(Scaled(dm.tensor([1, 2])), [1, 0]), [0]) is None


@pytest.mark.parametrize(
    ("indices", "expected"),
    [
        (dm.tensor([4, 0, 2]), [[40, 0], [20]]),
        (np.array([4, 0, 2]), [[40, 0], [20]]),
        (range(1, 4), [[10, 20], [30]]),
        ((3, 1), [[30, 10]]),
        ([-1, -2], [[40, 30]]),
    ],
)
def test_subset_indices_of_every_kind(indices: Any, expected: list[Any]) -> None:
    sub = Subset(_td(), indices)
    assert sub.indices is indices  # kept as given, as PyTorch's
    assert _rows(DataLoader(sub, batch_size=2)) == expected


def test_subset_errors_and_nesting_match_pytorch() -> None:
    with pytest.raises(IndexError):
        list(DataLoader(Subset(_td(), [0, 7]), batch_size=2))
    with pytest.raises(IndexError):
        list(DataLoader(Subset(_td(), [0, 1]), batch_size=2, sampler=[0, 5]))
    nested = Subset(Subset(_td(), [4, 3, 2]), [2, 0])
    assert _rows(DataLoader(nested, batch_size=2)) == [[20, 40]]


def test_numpy_indices_changed_in_place_reach_the_loader() -> None:
    indices = np.array([0, 1])
    loader = DataLoader(Subset(_td(), indices), batch_size=2)
    assert _rows(loader) == [[0, 10]]
    indices[0] = 4
    assert _rows(loader) == [[40, 10]]


def test_sampler_keys_that_are_not_plain_ints() -> None:
    assert _rows(DataLoader(_td(), batch_size=2, sampler=np.array([3, 1]))) == [[30, 10]]
    assert _rows(DataLoader(_td(), batch_size=2, sampler=[dm.tensor(1), dm.tensor(3)])) == [
        [10, 30]
    ]
    with pytest.raises(IndexError):  # PyTorch: IndexError, not a truncation to [10, 20]
        list(DataLoader(_td(), batch_size=2, sampler=np.array([1.0, 2.0])))


def test_subset_subclass_overriding_only_getitems() -> None:
    class Doubled(Subset):
        def __getitems__(self, indices: list[Any]) -> list[Any]:
            return [(self.dataset[self.indices[i]][0] * 2,) for i in indices]

    assert _rows(DataLoader(Doubled(_td(), [1, 2]), batch_size=2)) == [[20, 40]]


# ---- constructor details -----------------------------------------------------------------------


def test_drop_last_must_be_a_bool_when_batching() -> None:
    with pytest.raises(ValueError, match="drop_last"):
        DataLoader(_td(), drop_last=None)  # type: ignore[arg-type]
    DataLoader(_td(), batch_size=None, drop_last=None)  # type: ignore[arg-type]  # as PyTorch


def test_pin_memory_attribute_keeps_the_value_given() -> None:
    with pytest.warns(UserWarning) if not dm.cuda.is_available() else nullcontext():
        loader = DataLoader(_td(), pin_memory=True)
    assert loader.pin_memory is True
    assert _rows(loader) == [[0], [10], [20], [30], [40]]


def test_concat_dataset_cumsum_with_an_empty_part() -> None:
    assert data.ConcatDataset.cumsum([[1, 2], [3], []]) == [2, 3, 3]


# ---- generators --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda g: RandomSampler(range(8), generator=g),
        lambda g: RandomSampler(range(8), replacement=True, generator=g),
        lambda g: SubsetRandomSampler(list(range(8)), generator=g),
        lambda g: WeightedRandomSampler([1.0] * 8, 8, generator=g),
    ],
)
def test_int_generator_samplers_reshuffle_every_epoch_reproducibly(make: Any) -> None:
    a, b = make(3), make(3)
    epochs_a, epochs_b = [list(a), list(a)], [list(b), list(b)]
    assert epochs_a[0] != epochs_a[1]
    assert epochs_a == epochs_b


def test_initial_seed_generator_restarts_when_its_seed_changes() -> None:
    class Seeded:  # a torch-style generator the samplers can only read the seed of
        def __init__(self, seed: int) -> None:
            self.seed = seed

        def initial_seed(self) -> int:
            return self.seed

    gen = Seeded(3)
    sampler = RandomSampler(range(8), generator=gen)
    first = list(sampler)
    assert list(sampler) != first  # the same seed: the stream goes on
    gen.seed = 4
    assert list(sampler) != first
    gen.seed = 3  # reseeded: the stream starts again
    assert list(sampler) == first


def test_shuffle_order_with_a_generator_is_the_same_with_workers() -> None:
    def order(workers: int) -> list[int]:
        loader = DataLoader(
            list(range(10)),
            batch_size=3,
            shuffle=True,
            generator=dm.Generator().manual_seed(9),
            num_workers=workers,
        )
        return [int(x) for b in loader for x in b.tolist()]

    assert order(0) == order(2)
    assert sorted(order(0)) == list(range(10))


def test_non_persistent_workers_get_new_seeds_every_epoch() -> None:
    class Seeds:
        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int) -> int:
            info = get_worker_info()
            assert info is not None
            return info.seed

    gen = dm.Generator().manual_seed(1)
    loader = DataLoader(
        Seeds(), batch_size=None, num_workers=2, generator=gen, persistent_workers=False
    )
    first, second = [int(s) for s in loader], [int(s) for s in loader]
    assert first[1] == first[0] + 1 and second[1] == second[0] + 1
    assert first != second


# ---- per-thread initial_seed ----------------------------------------------------------------


def test_manual_seed_in_a_worker_is_that_workers_own() -> None:
    dm.manual_seed(5)

    class Probe:
        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int) -> bool:
            info = get_worker_info()
            assert info is not None
            before = dm.initial_seed() == info.seed
            dm.manual_seed(1000 + i)
            return before and dm.initial_seed() == 1000 + i

    got = [bool(b) for b in DataLoader(Probe(), batch_size=None, num_workers=2)]
    assert got == [True, True]
    assert dm.initial_seed() == 5
    assert dm.seed() == dm.initial_seed()


def test_a_plain_thread_shares_the_global_seed() -> None:
    """A thread without a generator of its own draws from the global one: its manual_seed is
    the global one's, as PyTorch's (one generator per process)."""
    thread = threading.Thread(target=dm.manual_seed, args=(77,))
    thread.start()
    thread.join()
    assert dm.initial_seed() == 77


# ---- worker errors and timeouts -------------------------------------------------------------


class _Flaky:
    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int) -> int:
        if i in (1, 3):
            raise KeyError(i)
        return i


def _drain(it: Any) -> list[Any]:
    out: list[Any] = []
    while True:
        try:
            out.append(next(it).tolist())
        except KeyError:
            out.append("E")
        except StopIteration:
            return out


def test_worker_errors_keep_a_persistent_pool_usable() -> None:
    loader = DataLoader(_Flaky(), batch_size=1, num_workers=2)
    expected = [[0], "E", [2], "E", [4], [5]]
    assert _drain(iter(loader)) == expected
    assert _drain(iter(loader)) == expected
    it = iter(loader)
    next(it)
    with pytest.raises(KeyError):
        next(it)
    del it  # dropped after an error: the next epoch is whole
    assert _drain(iter(loader)) == expected


def test_stream_timeout() -> None:
    release = threading.Event()

    class Slow(IterableDataset):
        def __iter__(self) -> Any:
            yield 1
            release.wait(3.0)
            yield 2

    start = time.monotonic()
    try:
        with pytest.raises(RuntimeError, match=r"timed out after 0\.2 seconds"):
            list(DataLoader(Slow(), batch_size=None, num_workers=1, timeout=0.2))
        assert time.monotonic() - start < 2.0
    finally:
        release.set()


def test_persistent_stream_workers_keep_their_dataset_copy() -> None:
    class Counting(IterableDataset):
        def __init__(self) -> None:
            self.epochs = 0

        def __iter__(self) -> Any:
            self.epochs += 1  # on the worker's copy
            yield self.epochs

    ds = Counting()
    kept = DataLoader(ds, batch_size=None, num_workers=1, persistent_workers=True)
    assert [int(x) for x in kept] + [int(x) for x in kept] == [1, 2]
    fresh = DataLoader(ds, batch_size=None, num_workers=1)  # PyTorch's default: fresh copies
    assert [int(x) for x in fresh] + [int(x) for x in fresh] == [1, 1]
    assert ds.epochs == 0
