"""Known divergences of ``democratising.data`` from ``torch.utils.data``, found by a
differential check against PyTorch 2.x (CPU) in session 25. Each test states PyTorch's
documented behaviour (checked there, written here as constants) and is
``xfail(strict=True)``: fixing the bug makes it pass, and strictness then asks for the marker
to be removed."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

import democratising as dm
from democratising.data import (
    ConcatDataset,
    DataLoader,
    IterableDataset,
    Subset,
    TensorDataset,
    get_worker_info,
)


class _BoomError(Exception):
    """A dataset's own error, to check it reaches the caller as it is."""


def _rows(loader: DataLoader) -> list[Any]:
    """Every batch's first field as a list (TensorDataset batches are ``[x, ...]``)."""
    return [b[0].tolist() for b in loader]


# ---- the TensorDataset fast path bypasses overridden methods ----------------------------------


class _ScaledTensorDataset(TensorDataset):
    """A TensorDataset with a per-sample transform: the usual way to add augmentation."""

    def __getitem__(self, index: Any) -> tuple[Any, ...]:
        (x,) = super().__getitem__(index)
        return (x * 100,)


def test_tensordataset_subclass_getitem_is_used_by_the_loader() -> None:
    ds = _ScaledTensorDataset(dm.tensor([1, 2, 3, 4]))
    assert ds[0][0].item() == 100
    # PyTorch: [[100, 200], [300, 400]] (its fetcher calls ds[i] for every index)
    assert _rows(DataLoader(ds, batch_size=2)) == [[100, 200], [300, 400]]


def test_tensordataset_subclass_getitem_through_random_split() -> None:
    ds = _ScaledTensorDataset(dm.tensor([1, 2, 3, 4]))
    # PyTorch: [[100, 200]]
    assert _rows(DataLoader(Subset(ds, [0, 1]), batch_size=2)) == [[100, 200]]


def test_tensordataset_subclass_getitems_is_used_by_the_loader() -> None:
    class Negated(TensorDataset):
        def __getitems__(self, indices: list[int]) -> list[tuple[Any, ...]]:
            return [(self.tensors[0][i] * -1,) for i in indices]

    # PyTorch: [[-1, -2], [-3, -4]] (its fetcher calls __getitems__ with the batch)
    assert _rows(DataLoader(Negated(dm.tensor([1, 2, 3, 4])), batch_size=2)) == [
        [-1, -2],
        [-3, -4],
    ]


def test_subset_subclass_overrides_are_not_silently_bypassed() -> None:
    class Shifted(Subset):
        def __getitem__(self, i: Any) -> Any:
            (x,) = super().__getitem__(i)
            return (x + 1000,)

        def __getitems__(self, indices: list[Any]) -> list[Any]:
            return [self[i] for i in indices]

    ds = Shifted(TensorDataset(dm.tensor([1, 2, 3, 4])), [3, 2])
    # PyTorch: [[1004, 1003]]
    assert _rows(DataLoader(ds, batch_size=2)) == [[1004, 1003]]


def test_subset_subclass_overriding_only_getitem() -> None:
    class Shifted(Subset):
        def __getitem__(self, i: Any) -> Any:
            return self.dataset[self.indices[i]] + 1000

    # PyTorch refuses the class (NotImplementedError: override __getitems__ too); using
    # the override would be as good. Silently skipping it is not.
    try:
        ds = Shifted([0, 10, 20, 30], [3, 2])
    except NotImplementedError:
        return
    assert [b.tolist() for b in DataLoader(ds, batch_size=2)] == [[1030, 1020]]


# ---- Subset's cached index array goes stale --------------------------------------------------


def test_subset_indices_changed_in_place_reach_the_loader() -> None:
    sub = Subset(TensorDataset(dm.tensor([10, 20, 30, 40])), [0, 1])
    loader = DataLoader(sub, batch_size=2)
    assert _rows(loader) == [[10, 20]]
    sub.indices[0] = 3
    assert sub[0][0].item() == 40
    # PyTorch: [[40, 20]]
    assert _rows(loader) == [[40, 20]]
    sub.indices.append(2)  # active-learning style growth of a labelled pool
    # PyTorch: [[40, 20], [30]]
    assert _rows(loader) == [[40, 20], [30]]


# ---- index values the fast path reinterprets -------------------------------------------------


def test_float_indices_are_rejected_not_truncated() -> None:
    ds = TensorDataset(dm.tensor([0, 10, 20, 30]))
    with pytest.raises(IndexError):
        ds[1.7]  # type: ignore[index]
    # PyTorch: IndexError (only integers ... are valid indices); here [[10, 20]]
    with pytest.raises((IndexError, TypeError)):
        list(DataLoader(ds, batch_size=2, sampler=[1.7, 2.9]))


def test_subset_with_2d_indices_keeps_their_rows() -> None:
    sub = Subset(TensorDataset(dm.tensor([0, 10, 20, 30])), [[0, 1], [2, 3]])
    assert sub[1][0].tolist() == [20, 30]
    # PyTorch: [[[0, 10]], [[20, 30]]]; here the flattened positions 0 and 1: [[0], [10]]
    assert _rows(DataLoader(sub, batch_size=1)) == [[[0, 10]], [[20, 30]]]


# ---- worker errors ---------------------------------------------------------------------------


class _FailsAtThree:
    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int) -> int:
        if i == 3:
            raise _BoomError(i)
        return i


def _drain(it: Any, steps: int = 10) -> list[Any]:
    """Calls ``next`` past errors, as a loop that skips a bad sample does."""
    out: list[Any] = []
    for _ in range(steps):
        try:
            out.append(next(it).tolist())
        except _BoomError:
            out.append("E")
        except StopIteration:
            out.append("S")
            break
    return out


def test_worker_error_does_not_end_the_epoch_without_workers() -> None:
    """The reference: with ``num_workers=0`` the epoch goes on after the error (as PyTorch)."""
    it = iter(DataLoader(_FailsAtThree(), batch_size=1))
    assert _drain(it) == [[0], [1], [2], "E", [4], [5], "S"]


def test_worker_error_does_not_end_the_epoch() -> None:
    it = iter(DataLoader(_FailsAtThree(), batch_size=1, num_workers=2))
    # PyTorch: [[0], [1], [2], 'E', [4], [5], 'S'] (as with num_workers=0)
    assert _drain(it) == [[0], [1], [2], "E", [4], [5], "S"]


def test_stream_worker_error_does_not_end_the_other_workers() -> None:
    class Stream(IterableDataset):
        def __iter__(self) -> Any:
            info = get_worker_info()
            wid = 0 if info is None else info.id
            for i in range(4):
                if wid == 0 and i == 1:
                    raise _BoomError(i)
                yield dm.tensor(wid * 10 + i)

    it = iter(DataLoader(Stream(), batch_size=None, num_workers=2))
    # PyTorch: worker 0 ends at its error, worker 1's stream goes on
    assert _drain(it, 12) == [0, 10, "E", 11, 12, 13, "S"]


# ---- worker seeds ----------------------------------------------------------------------------


class _SeedProbe:
    def __len__(self) -> int:
        return 4

    def __getitem__(self, i: int) -> bool:
        info = get_worker_info()
        return info is not None and dm.initial_seed() == info.seed


def test_initial_seed_in_a_worker_is_the_worker_seed() -> None:
    # PyTorch documents torch.initial_seed() in a worker as get_worker_info().seed
    got = [b.tolist() for b in DataLoader(_SeedProbe(), batch_size=1, num_workers=2)]
    assert got == [[True]] * 4


def test_manual_seed_in_a_worker_leaves_the_main_initial_seed() -> None:
    dm.manual_seed(0)

    def reseed(worker_id: int) -> None:
        dm.manual_seed(123 + worker_id)

    list(DataLoader([1, 2], num_workers=1, worker_init_fn=reseed))
    # PyTorch: 0 (a worker's manual_seed is its own)
    assert dm.initial_seed() == 0


def test_generator_fixes_the_worker_seeds() -> None:
    class Seeds:
        def __len__(self) -> int:
            return 2

        def __getitem__(self, i: int) -> int:
            info = get_worker_info()
            assert info is not None
            return info.seed

    runs = []
    for global_seed in (0, 1):
        dm.manual_seed(global_seed)
        gen = dm.Generator().manual_seed(42)
        loader = DataLoader(Seeds(), batch_size=None, num_workers=2, generator=gen)
        runs.append([int(s) for s in loader])
    # PyTorch: the loader's generator draws the workers' base seed
    assert runs[0] == runs[1]


# ---- shuffling generators --------------------------------------------------------------------


def _order(loader: DataLoader) -> list[int]:
    return [int(x) for b in loader for x in b.tolist()]


def test_int_generator_still_reshuffles_every_epoch() -> None:
    loader = DataLoader(list(range(10)), batch_size=5, shuffle=True, generator=42)
    first, second = _order(loader), _order(loader)
    assert sorted(first) == list(range(10))
    # DataLoader's docstring, and PyTorch with a generator: epochs differ
    assert first != second


def test_loader_sampler_carries_the_generator() -> None:
    def sampler_order() -> list[int]:
        loader = DataLoader(list(range(20)), shuffle=True, generator=dm.Generator().manual_seed(7))
        return list(loader.sampler)

    # PyTorch: loader.sampler is RandomSampler(dataset, generator=generator)
    assert sampler_order() == sampler_order()


# ---- timeout ---------------------------------------------------------------------------------


def test_timeout_raises_when_a_worker_is_too_slow() -> None:
    release = threading.Event()

    class Slow:
        def __len__(self) -> int:
            return 1

        def __getitem__(self, i: int) -> int:
            release.wait(2.0)
            return i

    start = time.monotonic()
    try:
        # PyTorch: RuntimeError("DataLoader timed out after 0.2 seconds")
        with pytest.raises(RuntimeError):
            list(DataLoader(Slow(), num_workers=1, timeout=0.2))
        assert time.monotonic() - start < 1.5
    finally:
        release.set()


# ---- persistent stream workers ---------------------------------------------------------------


def test_persistent_stream_workers_initialise_once() -> None:
    calls: list[int] = []

    class Stream(IterableDataset):
        def __iter__(self) -> Any:
            info = get_worker_info()
            assert info is not None
            return iter(range(info.id, 4, info.num_workers))

    loader = DataLoader(
        Stream(), batch_size=2, num_workers=2, persistent_workers=True, worker_init_fn=calls.append
    )
    for _ in range(3):
        list(loader)
    # PyTorch: 2 (each persistent worker runs worker_init_fn once)
    assert len(calls) == 2


# ---- small API gaps --------------------------------------------------------------------------


def test_concat_dataset_cumsum() -> None:
    # PyTorch: ConcatDataset.cumsum(sequences) -> [2, 3]
    assert ConcatDataset.cumsum([[1, 2], [3]]) == [2, 3]  # type: ignore[attr-defined]


def test_subset_keeps_its_indices_object() -> None:
    indices = (2, 0)
    # PyTorch keeps `indices` as given
    assert Subset([10, 20, 30], indices).indices is indices  # type: ignore[arg-type]
