"""DataLoader (threaded prefetch, determinism, resumable shuffling) and DistributedSampler."""

from __future__ import annotations

import math
import threading
import time
from typing import Any, NamedTuple

import numpy as np
import pytest

import democratising as dm
from democratising import _ranks
from democratising.data import (
    DataLoader,
    Dataset,
    DistributedSampler,
    TensorDataset,
    default_collate,
    random_split,
)
from helpers import FakeWorld


def _dataset(n: int = 50) -> TensorDataset:
    return TensorDataset(dm.arange(2 * n).reshape(n, 2).float(), dm.arange(n))


def _labels(loader: DataLoader) -> list[list[int]]:
    return [b[-1].tolist() for b in loader]


class _SlowDataset(Dataset):
    """Items take a random, index-dependent time, so out-of-order completion is likely."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.threads: set[str] = set()

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> Any:
        self.threads.add(threading.current_thread().name)
        time.sleep(((i * 7919) % 5) * 2e-4)
        return dm.tensor([float(i)]), i


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_workers_preserve_order_and_match_single_threaded(workers: int) -> None:
    ds = _dataset(53)
    ref = _labels(DataLoader(ds, 8, shuffle=True, seed=7))
    got = _labels(DataLoader(ds, 8, shuffle=True, seed=7, num_workers=workers))
    assert got == ref
    slow = _SlowDataset(40)
    batches = list(DataLoader(slow, 4, num_workers=workers))
    assert [b[1].tolist() for b in batches] == [list(range(i, i + 4)) for i in range(0, 40, 4)]
    assert all(name.startswith("dm-loader") for name in slow.threads)


def test_seeded_shuffle_is_reproducible_and_differs_per_epoch() -> None:
    ds = _dataset(40)
    a, b = DataLoader(ds, 10, shuffle=True, seed=1), DataLoader(ds, 10, shuffle=True, seed=1)
    e1a, e1b = _labels(a), _labels(b)
    assert e1a == e1b
    e2a = _labels(a)
    assert e2a != e1a
    assert sorted(i for b in e2a for i in b) == list(range(40))
    assert _labels(DataLoader(ds, 10, shuffle=True, seed=2)) != e1a


def test_state_dict_resumes_the_shuffle_order() -> None:
    ds = _dataset(30)
    a = DataLoader(ds, 7, shuffle=True, seed=3)
    _labels(a)
    saved = a.state_dict()
    expected = [_labels(a), _labels(a)]
    b = DataLoader(ds, 7, shuffle=True, seed=99)
    b.load_state_dict(saved)
    assert [_labels(b), _labels(b)] == expected


def _pcg(**changes: Any) -> dict[str, Any]:
    state = DataLoader(_dataset(4), 2, shuffle=True, seed=1).state_dict()["rng"]
    inner = {**state["state"], **changes.pop("inner", {})}
    return {**state, "state": inner, **changes}


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ({}, "'rng' entry"),
        ([1], "'rng' entry"),
        ({"rng": 5}, "PCG64 state"),
        ({"rng": _pcg(bit_generator="MT19937")}, "not 'MT19937'"),
        ({"rng": _pcg(inner={"state": -1})}, "unsigned 128-bit"),
        ({"rng": _pcg(inner={"inc": 2**200})}, "unsigned 128-bit"),
        ({"rng": _pcg(inner={"inc": "x"})}, "unsigned 128-bit"),
        ({"rng": _pcg(has_uint32=5)}, "has_uint32 must be 0 or 1"),
        ({"rng": _pcg(uinteger=2**40)}, "uinteger"),
    ],
)
def test_bad_loader_state_is_refused_and_changes_nothing(state: Any, match: str) -> None:
    loader = DataLoader(_dataset(30), 7, shuffle=True, seed=3)
    before = loader.state_dict()
    with pytest.raises(ValueError, match=match):
        loader.load_state_dict(state)
    with pytest.raises(ValueError, match=match):
        DataLoader.check_state_dict(state)
    assert loader.state_dict() == before


def test_num_workers_is_capped() -> None:
    with pytest.raises(ValueError, match=r"num_workers must be in \[0, 256\]"):
        DataLoader(_dataset(4), 2, num_workers=100_000)
    assert DataLoader(_dataset(4), 2, num_workers=256).num_workers == 256


def test_drop_last_len_and_subset_fast_path() -> None:
    ds = _dataset(23)
    assert len(DataLoader(ds, 5)) == 5 and len(DataLoader(ds, 5, drop_last=True)) == 4
    assert [len(b) for b in _labels(DataLoader(ds, 5, drop_last=True, num_workers=2))] == [5] * 4
    train, _ = random_split(ds, [0.6, 0.4], seed=0)
    assert [i for b in _labels(DataLoader(train, 4)) for i in b] == train.indices


def test_worker_errors_propagate_and_early_break_does_not_hang() -> None:
    class Broken(Dataset):
        def __len__(self) -> int:
            return 20

        def __getitem__(self, i: int) -> Any:
            if i == 9:
                raise KeyError("bad sample 9")
            return dm.tensor([float(i)])

    it = iter(DataLoader(Broken(), 4, num_workers=2))
    assert next(it).shape == (4, 1)
    assert next(it).shape == (4, 1)
    with pytest.raises(KeyError, match="bad sample 9"):
        next(it)
    for i, _ in enumerate(DataLoader(_SlowDataset(200), 2, num_workers=2)):
        if i == 3:
            break


def test_invalid_arguments() -> None:
    ds = _dataset(4)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, 2, shuffle=True, sampler=DistributedSampler(ds, 2, 0))
    with pytest.raises(ValueError):
        DataLoader(ds, 2, num_workers=-1)
    with pytest.raises(ValueError, match="rank"):
        DistributedSampler(ds, num_replicas=2, rank=2)


@pytest.mark.parametrize("replicas", [2, 3, 4])
@pytest.mark.parametrize("n", [1, 10, 11, 12, 13])
@pytest.mark.parametrize("shuffle", [False, True])
def test_distributed_sampler_partitions_exactly(replicas: int, n: int, shuffle: bool) -> None:
    ds = list(range(n))
    parts = [
        list(DistributedSampler(ds, replicas, r, shuffle=shuffle, seed=5)) for r in range(replicas)
    ]
    per_rank = math.ceil(n / replicas)
    assert all(len(p) == per_rank for p in parts)
    flat = [i for p in parts for i in p]
    assert set(flat) == set(range(n))  # cover
    # PyTorch's order: the (shuffled) indices padded from their start, dealt round-robin.
    base = np.random.default_rng(5).permutation(n).tolist() if shuffle else list(range(n))
    padded = (base * math.ceil(per_rank * replicas / n))[: per_rank * replicas]
    assert parts == [padded[r::replicas] for r in range(replicas)]
    if n % replicas == 0:  # disjoint when no padding is needed
        assert len(set(flat)) == len(flat)
    else:
        assert len(flat) - len(set(flat)) == per_rank * replicas - n


@pytest.mark.parametrize("replicas", [2, 3, 4])
def test_distributed_sampler_drop_last_is_disjoint(replicas: int) -> None:
    ds = list(range(11))
    parts = [list(DistributedSampler(ds, replicas, r, drop_last=True)) for r in range(replicas)]
    flat = [i for p in parts for i in p]
    assert len(flat) == len(set(flat)) == (11 // replicas) * replicas
    assert all(len(p) == 11 // replicas for p in parts)


def test_set_epoch_reshuffles_consistently_across_ranks() -> None:
    ds = list(range(20))
    samplers = [DistributedSampler(ds, 2, r, seed=1) for r in range(2)]
    first = [list(s) for s in samplers]
    for s in samplers:
        s.set_epoch(1)
    second = [list(s) for s in samplers]
    assert first != second
    for parts in (first, second):
        assert sorted(parts[0] + parts[1]) == list(range(20))


def test_loader_with_distributed_sampler() -> None:
    ds = _dataset(10)
    sampler = DistributedSampler(ds, num_replicas=3, rank=1, shuffle=False)
    loader = DataLoader(ds, 2, sampler=sampler, num_workers=2)
    assert len(loader) == 2
    assert _labels(loader) == [[1, 4], [7, 0]]
    loader.set_epoch(3)
    assert sampler.epoch == 3


def test_sampler_defaults_come_from_the_registered_world(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_ranks, "_group", None)
    s = DistributedSampler(range(4))
    assert (s.num_replicas, s.rank) == (1, 0)
    _ranks.register(FakeWorld(4, 3))  # what World.init() does
    s = DistributedSampler(range(10), shuffle=False)
    assert (s.num_replicas, s.rank, list(s)) == (4, 3, [3, 7, 1])
    assert DistributedSampler(range(10), rank=0).num_replicas == 4
    _ranks.register(None)
    s = DistributedSampler(range(10))
    assert (s.num_replicas, s.rank) == (1, 0)


def test_persistent_workers_are_reused_and_released() -> None:
    import gc

    ds = _SlowDataset(12)
    before = set(threading.enumerate())  # Thread objects: idents are reused
    loader = DataLoader(ds, 3, num_workers=2, persistent_workers=True)
    first = _labels(loader)
    ids = set(threading.enumerate()) - before
    assert len(ids) == 2
    assert _labels(loader) == first  # a second epoch on the same threads
    assert set(threading.enumerate()) - before == ids
    # Two iterators at once (the second gets its own threads) and an abandoned epoch.
    assert [a[1].tolist() for a, _ in zip(loader, loader)] == first
    it = iter(loader)
    next(it)
    del it
    assert _labels(loader) == first
    once = _labels(DataLoader(ds, 3, num_workers=2, persistent_workers=False))
    assert once == first
    del loader
    gc.collect()
    deadline = time.monotonic() + 5
    while (set(threading.enumerate()) - before) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not (set(threading.enumerate()) - before)


# ---- default_collate (PyTorch's semantics) ---------------------------------------------------


class _Items(Dataset):
    """A map-style dataset over a list of ready-made samples."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> Any:
        return self.items[i]


class _Point(NamedTuple):
    x: Any
    label: Any


def test_collate_dicts_of_tensors_and_strings() -> None:
    items = [{"x": dm.tensor([float(i), 0.0]), "name": f"s{i}"} for i in range(5)]
    batches = list(DataLoader(_Items(items), 2))
    assert [sorted(b) for b in batches] == [["name", "x"]] * 3
    assert batches[0]["x"].shape == (2, 2) and batches[0]["x"][:, 0].tolist() == [0.0, 1.0]
    assert [b["name"] for b in batches] == [["s0", "s1"], ["s2", "s3"], ["s4"]]


def test_collate_stacks_numpy_arrays_and_keeps_their_dtype() -> None:
    f64 = [np.full((2, 3), i, dtype=np.float64) for i in range(4)]
    out = default_collate(f64)
    assert isinstance(out, dm.Tensor) and out.dtype == dm.float64 and out.shape == (4, 2, 3)
    np.testing.assert_array_equal(out.numpy(), np.stack(f64))
    assert default_collate([np.zeros(2, np.float32)] * 3).dtype == dm.float32
    assert default_collate([np.arange(2, dtype=np.int32)] * 3).dtype == dm.int32
    assert default_collate([np.arange(2, dtype=np.uint8)] * 3).dtype == dm.uint8
    assert default_collate([np.arange(2, dtype=np.uint16)] * 3).dtype == dm.int32  # widened
    scalars = default_collate([np.float32(1.5), np.float32(2.5)])
    assert scalars.dtype == dm.float32 and scalars.tolist() == [1.5, 2.5]
    with pytest.raises(TypeError, match="dtype"):
        default_collate([np.array(["a", "b"])] * 2)


def test_collate_python_numbers_like_pytorch() -> None:
    ints, floats = default_collate([1, 2, 3]), default_collate([0.1, 2.5])
    bools = default_collate([True, False])
    assert ints.dtype == dm.int64 and ints.tolist() == [1, 2, 3]
    assert floats.dtype == dm.float64 and floats.tolist() == [0.1, 2.5]  # not rounded to f32
    assert bools.dtype == dm.bool and bools.tolist() == [True, False]


def test_collate_namedtuples_keep_their_type() -> None:
    items = [_Point(np.array([i, i], dtype=np.float32), i) for i in range(4)]
    (batch,) = list(DataLoader(_Items(items), 4))
    assert isinstance(batch, _Point)
    assert batch.x.shape == (4, 2) and batch.x.dtype == dm.float32
    assert batch.label.dtype == dm.int64 and batch.label.tolist() == [0, 1, 2, 3]


def test_collate_nested_tuples_of_dicts_and_lists() -> None:
    items = [(dm.tensor([float(i)]), {"y": i, "w": [0.5 * i, 1.0]}) for i in range(3)]
    x, meta = default_collate(items)
    assert x.shape == (3, 1)
    assert meta["y"].tolist() == [0, 1, 2]
    assert isinstance(meta["w"], list) and len(meta["w"]) == 2
    assert meta["w"][0].tolist() == [0.0, 0.5, 1.0] and meta["w"][1].dtype == dm.float64
    # Tuples become lists (as in PyTorch) and lists stay lists, whatever the dataset type.
    assert isinstance(default_collate([(1, 2), (3, 4)]), list)
    assert isinstance(default_collate([[1, 2], [3, 4]]), list)


def test_collate_rejects_inconsistent_sizes_and_unknown_types() -> None:
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(RuntimeError, match="equal size"):
        list(DataLoader(_Items([(1, 2.0), (3,)]), 2))
    with pytest.raises(ValueError, match="equal size"):  # ShapeError is a ValueError
        default_collate([dm.zeros(2), dm.zeros(3)])
    with pytest.raises(ValueError, match="same shape"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(TypeError, match="found"):
        default_collate([None, None])


# ---- dm.manual_seed drives unseeded shuffling -----------------------------------------------


@pytest.mark.parametrize("workers", [0, 2])
def test_manual_seed_makes_unseeded_shuffle_reproducible(workers: int) -> None:
    ds = _dataset(30)
    dm.manual_seed(5)
    a = DataLoader(ds, 4, shuffle=True, num_workers=workers)
    a1, a2 = _labels(a), _labels(a)
    assert a1 != a2  # every epoch draws a new order...
    assert sorted(i for b in a2 for i in b) == list(range(30))
    dm.manual_seed(5)
    b = DataLoader(ds, 4, shuffle=True, num_workers=workers)
    assert [_labels(b), _labels(b)] == [a1, a2]  # ...and the sequence repeats after the seed
    dm.manual_seed(6)
    assert _labels(DataLoader(ds, 4, shuffle=True, num_workers=workers)) != a1
    # An unshuffled loader does not consume the global generator.
    dm.manual_seed(5)
    _labels(DataLoader(ds, 4))
    assert _labels(DataLoader(ds, 4, shuffle=True)) == a1


def test_unseeded_loader_state_dict_follows_the_global_generator() -> None:
    ds = _dataset(20)
    a = DataLoader(ds, 5, shuffle=True)
    assert a.state_dict() == {"rng": None}
    seeded = DataLoader(ds, 5, shuffle=True, seed=4)
    a.load_state_dict(seeded.state_dict())  # now shuffles like the seeded loader
    assert _labels(a) == _labels(seeded)
    a.load_state_dict({"rng": None})
    dm.manual_seed(2)
    first = _labels(a)
    dm.manual_seed(2)
    assert _labels(a) == first


def test_random_split_without_seed_follows_manual_seed() -> None:
    ds = _dataset(40)
    dm.manual_seed(11)
    first = [s.indices for s in random_split(ds, [0.5, 0.5])]
    again = [s.indices for s in random_split(ds, [0.5, 0.5])]
    dm.manual_seed(11)
    assert [s.indices for s in random_split(ds, [0.5, 0.5])] == first
    assert again != first
    assert sorted(first[0] + first[1]) == list(range(40))
    seeded = random_split(ds, [20, 20], seed=0)  # an explicit seed ignores the global one
    assert seeded[0].indices == np.random.default_rng(0).permutation(40)[:20].tolist()
