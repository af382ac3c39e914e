"""``dm.data`` against PyTorch 2.15's ``torch.utils.data``: every expected value below was
produced by running the same program on torch (no torch import here)."""

from __future__ import annotations

import collections
import warnings
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising.data import (
    ConcatDataset,
    DataLoader,
    Dataset,
    DistributedSampler,
    StackDataset,
    Subset,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    random_split,
)


class _Keyed(Dataset):
    """A map-style dataset keyed by strings: torch passes the sampler's keys as they are."""

    table = {"a": 1, "b": 2, "c": 3}

    def __len__(self) -> int:
        return 3

    def __getitem__(self, key: Any) -> tuple[str, int]:
        return type(key).__name__, self.table[key]


class _KeyType(Dataset):
    def __len__(self) -> int:
        return 3

    def __getitem__(self, key: Any) -> str:
        return type(key).__name__


class _Batched(Dataset):
    """``__getitems__`` marks its samples, so a test sees which path the loader took."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, i: int) -> tuple[str, int]:
        return ("one", i)

    def __getitems__(self, indices: list[int]) -> list[tuple[str, int]]:
        return [("many", i) for i in indices]


# ---- the fetcher: keys as given, __getitems__ for a batch ------------------------------------


def test_loader_passes_string_and_tuple_keys_as_they_are() -> None:
    # torch: [[('str', 'str'), tensor([1, 2])], [('str',), tensor([3])]]
    batches = list(DataLoader(_Keyed(), sampler=["a", "b", "c"], batch_size=2))
    assert [b[0] for b in batches] == [("str", "str"), ("str",)]
    assert [b[1].tolist() for b in batches] == [[1, 2], [3]]
    by_batch = list(DataLoader(_Keyed(), batch_sampler=[["a", "b"], ["c"]]))
    assert [b[1].tolist() for b in by_batch] == [[1, 2], [3]]
    # torch: [['tuple', 'tuple']] (a batch of strings stays the list of them)
    assert list(DataLoader(_KeyType(), batch_size=2, sampler=[(0, 1), (1, 2)])) == [
        ["tuple", "tuple"]
    ]


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"shuffle": True}, {"num_workers": 1}, {"sampler": [2, 0, 1]}],
)
def test_loader_gives_datasets_python_ints(kwargs: dict[str, Any]) -> None:
    batches = list(DataLoader(_KeyType(), batch_size=2, **kwargs))
    assert [k for b in batches for k in b] == ["int", "int", "int"]
    assert list(DataLoader(_KeyType(), batch_size=None, **kwargs)) == ["int", "int", "int"]


def test_loader_fetches_a_batch_through_getitems() -> None:
    # torch: [('many', 0), ('many', 1)] for both, through Subset.__getitems__ for the second
    (first, *_) = DataLoader(_Batched(), batch_size=2, collate_fn=lambda b: b)
    assert first == [("many", 0), ("many", 1)]
    (sub, *_) = DataLoader(Subset(_Batched(), [5, 6]), batch_size=2, collate_fn=lambda b: b)
    assert sub == [("many", 5), ("many", 6)]
    # A single sample (batch_size=None) goes through __getitem__, as in torch.
    # (default_convert makes the tuple a list, as torch's does.)
    assert next(iter(DataLoader(_Batched(), batch_size=None))) == ["one", 0]


def test_subset_getitems_matches_torch() -> None:
    assert Subset(list(range(10, 20)), [3, 1, 5]).__getitems__([0, 2]) == [13, 15]
    assert Subset(_Batched(), [5, 6]).__getitems__([1, 0]) == [("many", 6), ("many", 5)]
    rows = Subset(TensorDataset(dm.arange(5)), [4, 2]).__getitems__([0, 1])
    assert [r[0].item() for r in rows] == [4, 2] and rows[0][0].shape == ()
    assert Subset(_Keyed(), ["c", "a"])[0] == ("str", 3)  # keys are not forced to int
    stack = StackDataset(_Batched(), list(range(10)))
    assert stack.__getitems__([1, 2]) == [(("many", 1), 1), (("many", 2), 2)]


# ---- random_split ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "lengths", "expected", "empty"),
    [
        (1, [0.5, 0.5], [1, 0], [1]),  # sums to 1: fractions, though also valid counts
        (10, [1], [10], []),
        (11, [0.5, 0.5], [6, 5], []),
        (10, [0.33, 0.33, 0.34], [4, 3, 3], []),
        (7, [0.1, 0.1, 0.8], [1, 1, 5], []),
        (13, [0.2] * 5, [3, 3, 3, 2, 2], []),
        (3, [0.1, 0.1, 0.1, 0.7], [1, 0, 0, 2], [1, 2]),
        (10, [3, 7], [3, 7], []),
        # torch raises here (the sum is 1.0000000000000002); dm takes them as fractions:
        # floors 3, 5, 1 and the remainder to the first split
        (10, [0.34, 0.56, 0.1], [4, 5, 1], []),
    ],
)
def test_random_split_lengths_match_torch(
    n: int, lengths: list[float], expected: list[int], empty: list[int]
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parts = random_split(range(n), lengths, generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == expected
    assert sorted(i for p in parts for i in p.indices) == list(range(n))
    messages = [str(w.message) for w in caught]
    assert messages == [
        f"Length of split at index {i} is 0. This might result in an empty dataset." for i in empty
    ]


def test_random_split_rejects_what_torch_rejects() -> None:
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(range(10), [0.5, 0.4])
    with pytest.raises(ValueError, match="Sum of input lengths does not equal"):
        random_split(range(10), [3, 8])
    with pytest.raises(ValueError, match="Fraction at index 0 is not between 0 and 1"):
        random_split(range(10), [1.5, -0.5])
    with pytest.raises(TypeError, match="integer counts"):  # torch: randperm's TypeError
        random_split(range(10), [2.5, 7.5])
    with pytest.raises(ValueError, match="non-negative"):  # torch gives overlapping subsets
        random_split(range(10), [3, -3, 10])


def test_random_split_is_deterministic_under_a_generator() -> None:
    a = [p.indices for p in random_split(range(10), [0.5, 0.5], dm.Generator().manual_seed(4))]
    b = [p.indices for p in random_split(range(10), [0.5, 0.5], dm.Generator().manual_seed(4))]
    assert a == b and sorted(a[0] + a[1]) == list(range(10))


# ---- default_collate / default_convert ------------------------------------------------------


def test_collate_keeps_defaultdicts_and_list_subclasses() -> None:
    class Tagged(list):  # type: ignore[type-arg]
        tag = "kept"

    batch = [collections.defaultdict(int, a=1), collections.defaultdict(int, a=2)]
    out = default_collate(batch)  # torch: defaultdict(int, {'a': tensor([1, 2])})
    assert type(out) is collections.defaultdict and out.default_factory is int
    assert out["a"].tolist() == [1, 2] and out["a"].dtype == dm.int64
    rows = default_collate([Tagged([1, 2.0]), Tagged([3, 4.0])])
    assert type(rows) is Tagged and rows.tag == "kept"
    assert rows[0].dtype == dm.int64 and rows[1].dtype == dm.float64
    conv = default_convert(collections.defaultdict(list, a=np.arange(2)))
    assert type(conv) is collections.defaultdict and conv.default_factory is list
    assert conv["a"].tolist() == [0, 1] and conv["a"].dtype == dm.int64


def test_collate_string_fields_come_back_as_tuples() -> None:
    # torch: [('a', 'b'), tensor([1, 2])]
    names, ids = default_collate([("a", 1), ("b", 2)])
    assert names == ("a", "b") and ids.tolist() == [1, 2]
    assert default_collate([{"s": "a"}, {"s": "b"}]) == {"s": ["a", "b"]}


def test_collate_ragged_shapes_name_the_entries_like_torch() -> None:
    # torch: RuntimeError "stack expects each tensor to be equal size, but got [2] at entry 0
    # and [3] at entry 1" (the same for NumPy arrays, which torch converts first)
    for batch in ([np.zeros(2), np.zeros(2), np.zeros(3)], [dm.zeros(2), dm.zeros(2), dm.zeros(3)]):
        with pytest.raises(RuntimeError, match=r"but got \[2\] at entry 0 and \[3\] at entry 2"):
            default_collate(batch)
    with pytest.raises(RuntimeError, match=r"\[2\] at entry 0 and \[1, 1\] at entry 1"):
        default_collate([dm.zeros(2), dm.zeros(1, 1)])


# ---- DataLoader arguments -------------------------------------------------------------------


def test_prefetch_factor_follows_torch() -> None:
    ds = list(range(4))
    with pytest.raises(ValueError, match="prefetch_factor option could only be specified"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(ds, num_workers=1, prefetch_factor=-1)
    assert DataLoader(ds).prefetch_factor is None
    assert DataLoader(ds, num_workers=2).prefetch_factor == 2
    loader = DataLoader(ds, batch_size=2, num_workers=2, prefetch_factor=3)
    assert loader.prefetch_factor == 3
    assert [b.tolist() for b in loader] == [[0, 1], [2, 3]]


# ---- samplers and datasets ------------------------------------------------------------------


def test_weighted_sampler_weights_and_errors_match_torch() -> None:
    s = WeightedRandomSampler([1, 2], 4)
    assert isinstance(s.weights, dm.Tensor) and s.weights.dtype == dm.float64
    assert s.weights.tolist() == [1.0, 2.0]
    for bad in ([float("nan"), 1.0], [], [1.0, -1.0], [0.0, 0.0]):  # torch: RuntimeError
        with pytest.raises(RuntimeError):
            WeightedRandomSampler(bad, 2)
    draws = list(WeightedRandomSampler([1, 3], 4000, generator=dm.Generator().manual_seed(0)))
    assert set(draws) == {0, 1} and abs(np.mean(draws) - 0.75) < 0.05


@pytest.mark.parametrize(
    ("n", "replicas", "drop_last", "expected"),
    [
        (10, 3, False, [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]),
        (10, 3, True, [[0, 3, 6], [1, 4, 7], [2, 5, 8]]),
        (11, 4, False, [[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 0]]),
        (11, 4, True, [[0, 4], [1, 5], [2, 6], [3, 7]]),
        (3, 4, False, [[0], [1], [2], [0]]),
        (3, 4, True, [[], [], [], []]),
        (5, 8, False, [[0], [1], [2], [3], [4], [0], [1], [2]]),
    ],
)
def test_distributed_sampler_index_sets_match_torch(
    n: int, replicas: int, drop_last: bool, expected: list[list[int]]
) -> None:
    got = [
        DistributedSampler(range(n), replicas, r, shuffle=False, drop_last=drop_last)
        for r in range(replicas)
    ]
    assert [list(s) for s in got] == expected
    assert [len(s) for s in got] == [len(e) for e in expected]


def test_concat_dataset_negative_indices_match_torch() -> None:
    c = ConcatDataset([list(range(3)), [], list(range(10, 12)), list(range(20, 24))])
    assert c.cumulative_sizes == [3, 3, 5, 9]
    expected = [0, 1, 2, 10, 11, 20, 21, 22, 23]
    assert [c[i] for i in range(-len(c), len(c))] == expected * 2
    with pytest.raises(ValueError, match="absolute value of index"):
        c[-10]


class _Plain(Dataset):
    """A user dataset (not a ``TensorDataset``): samples are ``10 * i``."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return 10 * i


def test_loader_over_subsets_of_a_user_dataset_reads_the_right_samples() -> None:
    # torch: [tensor([13, 11]), tensor([15])] (the Subset's positions, not the parent's)
    sub = Subset(list(range(10, 20)), [3, 1, 5])
    assert [b.tolist() for b in DataLoader(sub, batch_size=2)] == [[13, 11], [15]]
    nested = Subset(Subset(_Plain(100), list(range(50, 100))), [0, 49, 7])
    assert [b.tolist() for b in DataLoader(nested, batch_size=3)] == [[500, 990, 570]]
    train, val = random_split(_Plain(100), [0.8, 0.2], generator=dm.Generator().manual_seed(1))
    for part in (train, val):
        got = [v for b in DataLoader(part, batch_size=16, shuffle=True) for v in b.tolist()]
        assert sorted(got) == sorted(10 * i for i in part.indices)


def test_collate_fn_attribute_and_custom_collate_on_tensor_datasets() -> None:
    ds = TensorDataset(dm.arange(5), dm.arange(5) * 10)
    assert DataLoader(ds).collate_fn is default_collate
    assert DataLoader(ds, batch_size=None).collate_fn is default_convert
    assert DataLoader(ds, batch_sampler=[[0]]).collate_fn is default_collate
    # torch: the custom function sees the samples, a list of (x, y) tuples
    (first, *_) = DataLoader(ds, batch_size=2, collate_fn=lambda b: b)
    assert [(x.item(), y.item()) for x, y in first] == [(0, 0), (1, 10)]
    # The default path (one gather) and an explicit default_collate agree.
    fast = [[t.tolist() for t in b] for b in DataLoader(ds, batch_size=2)]
    slow = [[t.tolist() for t in b] for b in DataLoader(ds, 2, collate_fn=default_collate)]
    assert fast == slow == [[[0, 1], [0, 10]], [[2, 3], [20, 30]], [[4], [40]]]


def test_datasets_without_len_raise_pythons_type_error() -> None:
    class Stream(dm.data.IterableDataset):
        def __iter__(self) -> Any:
            return iter(range(3))

    # torch: TypeError "object of type 'Stream' has no len()", and no __len__ attribute
    assert not hasattr(Stream(), "__len__") and not hasattr(Dataset(), "__len__")
    for make in (Stream, lambda: DataLoader(Stream()), lambda: ConcatDataset([Dataset()])):
        with pytest.raises(TypeError, match=r"object of type '.*' has no len"):
            len(make())  # type: ignore[arg-type]
    with pytest.raises(NotImplementedError, match="should implement __getitem__"):
        Dataset()[0]
