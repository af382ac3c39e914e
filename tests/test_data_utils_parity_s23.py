"""Parity of ``democratising.data`` and ``democratising.nn.utils`` with PyTorch 2.15's
``torch.utils.data`` and ``torch.nn.utils``: batch structure, lengths, split sizes, clipped
gradients and the built-in exception classes PyTorch raises. Every expected value and error
class below was checked by running PyTorch on the same inputs (torch is not imported here)."""

from __future__ import annotations

import collections
import multiprocessing.context
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.utils import data as D

# ---- datasets: PyTorch's assert-based checks are AssertionErrors ----------------------------


def test_tensor_dataset_size_mismatch_is_an_assertion_error() -> None:
    with pytest.raises(AssertionError, match="ize mismatch"):
        D.TensorDataset(dm.arange(4), dm.ones(3))
    with pytest.raises(ValueError):  # still democratising's ShapeError
        D.TensorDataset(dm.arange(4), dm.ones(3))


def test_tensor_dataset_without_tensors_is_an_index_error() -> None:
    with pytest.raises(IndexError):
        D.TensorDataset()


def test_concat_dataset_checks_are_assertion_errors() -> None:
    with pytest.raises(AssertionError, match="empty iterable"):
        D.ConcatDataset([])

    class Stream(D.IterableDataset):
        def __iter__(self) -> Any:
            return iter(range(2))

    with pytest.raises(AssertionError, match="does not support IterableDataset"):
        D.ConcatDataset([Stream()])


def test_chain_dataset_of_map_style_is_an_assertion_error() -> None:
    chain = D.ChainDataset([range(2)])
    with pytest.raises(AssertionError, match="only supports IterableDataset"):
        list(chain)
    with pytest.raises(AssertionError, match="only supports IterableDataset"):
        len(chain)


def test_iterable_dataset_iter_is_abstract() -> None:
    class NoIter(D.IterableDataset):
        pass

    with pytest.raises(TypeError, match="abstract"):
        NoIter()
    with pytest.raises(TypeError, match="abstract"):
        D.IterableDataset()

    class Stream(D.IterableDataset):
        def __iter__(self) -> Any:
            return iter([1, 2])

        def __len__(self) -> int:
            return 2

    s = Stream()
    assert list(s) == [1, 2]
    assert not isinstance([], D.IterableDataset)  # no structural subclassing
    with pytest.raises(NotImplementedError):  # PyTorch's inherited Dataset.__getitem__ error
        s[0]
    chained = s + Stream()
    assert type(chained).__name__ == "ChainDataset"
    assert (list(chained), len(chained)) == ([1, 2, 1, 2], 4)


def test_random_sampler_of_empty_dataset_is_a_zero_division_error() -> None:
    with pytest.raises(ZeroDivisionError):
        list(D.RandomSampler(range(0), num_samples=3))


# ---- DataLoader arguments and attributes ------------------------------------------------------


def test_persistent_workers_needs_workers() -> None:
    with pytest.raises(ValueError, match="persistent_workers option needs num_workers > 0"):
        D.DataLoader(range(3), persistent_workers=True)
    assert D.DataLoader(range(3)).persistent_workers is False
    assert (
        D.DataLoader(range(3), num_workers=1, persistent_workers=False).persistent_workers is False
    )
    loader = D.DataLoader(range(6), batch_size=4, num_workers=2, persistent_workers=True)
    assert [b.tolist() for b in loader] == [[0, 1, 2, 3], [4, 5]]
    assert [b.tolist() for b in loader] == [[0, 1, 2, 3], [4, 5]]


@pytest.mark.parametrize(
    "attr", ["batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers"]
)
def test_batching_attributes_are_frozen_after_init(attr: str) -> None:
    loader = D.DataLoader(range(10), batch_size=3)
    with pytest.raises(
        ValueError, match=f"{attr} attribute should not be set after DataLoader is initialized"
    ):
        setattr(loader, attr, None)


def test_other_attributes_can_still_be_set() -> None:
    loader = D.DataLoader(range(4), batch_size=2)
    loader.collate_fn = lambda b: sum(b)  # as in PyTorch, allowed after init
    loader.timeout = 5
    assert list(loader) == [1, 5]


def test_multiprocessing_context_checks() -> None:
    with pytest.raises(ValueError, match="num_workers > 0"):
        D.DataLoader(range(3), multiprocessing_context="spawn")
    loader = D.DataLoader(range(3), num_workers=2, multiprocessing_context="spawn")
    assert isinstance(loader.multiprocessing_context, multiprocessing.context.BaseContext)
    assert loader.multiprocessing_context.get_start_method() == "spawn"
    assert D.DataLoader(range(3)).multiprocessing_context is None
    with pytest.raises(ValueError, match="valid start method"):
        D.DataLoader(range(3), num_workers=2, multiprocessing_context="nope")
    with pytest.raises(TypeError, match="valid context object"):
        D.DataLoader(range(3), num_workers=2, multiprocessing_context=5)


def test_loader_lengths_and_two_epochs() -> None:
    ds = D.TensorDataset(dm.arange(10.0), dm.arange(10))
    cases = [
        ({"batch_size": 3}, 4, [3, 3, 3, 1]),
        ({"batch_size": 3, "drop_last": True}, 3, [3, 3, 3]),
        ({"batch_size": 4, "num_workers": 2}, 3, [4, 4, 2]),
        ({"batch_size": 2, "sampler": [9, 1, 3]}, 2, [2, 1]),
        ({"batch_sampler": [[1, 2], [5], [0, 9, 3]]}, 3, [2, 1, 3]),
    ]
    for kwargs, length, sizes in cases:
        loader = D.DataLoader(ds, **kwargs)
        assert len(loader) == length
        for _ in range(2):
            batches = list(loader)
            assert [type(b) for b in batches] == [list] * length
            assert [b[0].shape[0] for b in batches] == sizes
            assert [b[1].dtype for b in batches] == [dm.int64] * length
    assert [b[1].tolist() for b in D.DataLoader(ds, batch_size=2, sampler=[9, 1, 3])] == [
        [9, 1],
        [3],
    ]


# ---- collation --------------------------------------------------------------------------------


def test_default_collate_structures() -> None:
    P = collections.namedtuple("P", "x y")
    out = D.default_collate([P(1, "a"), P(2, "b")])
    assert type(out) is P and out.x.tolist() == [1, 2] and out.y == ("a", "b")
    out = D.default_collate(
        [{"a": (1, 2.5), "b": np.float32(1)}, {"a": (3, 4.5), "b": np.float32(2)}]
    )
    assert isinstance(out["a"], list)
    assert (out["a"][0].dtype, out["a"][0].tolist()) == (dm.int64, [1, 3])
    assert (out["a"][1].dtype, out["a"][1].tolist()) == (dm.float64, [2.5, 4.5])
    assert (out["b"].dtype, out["b"].tolist()) == (dm.float32, [1.0, 2.0])
    out = D.default_collate([np.array(1.5), np.array(2.5)])
    assert (out.dtype, tuple(out.shape), out.tolist()) == (dm.float64, (2,), [1.5, 2.5])
    assert D.default_collate(["a", "b"]) == ["a", "b"]
    out = D.default_collate([True, False])
    assert (out.dtype, out.tolist()) == (dm.bool, [True, False])
    converted = D.default_convert((np.int32(1), [np.arange(2)]))
    assert isinstance(converted, list) and converted[0].dtype == dm.int32
    assert converted[1][0].tolist() == [0, 1]


def test_default_collate_int_overflow_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        D.default_collate([2**63, 1])
    with pytest.raises(ValueError):
        D.default_collate([-(2**63) - 1, 1])
    assert D.default_collate([2**63 - 1, -(2**63)]).tolist() == [2**63 - 1, -(2**63)]


def test_default_collate_shape_mismatch_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        D.default_collate([dm.ones(2), dm.zeros(3)])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        D.default_collate([np.zeros(2), np.zeros(3)])


# ---- random_split and samplers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "lengths", "sizes"),
    [
        (10, [3, 7], [3, 7]),
        (10, [0.3, 0.7], [3, 7]),
        (10, [0.33, 0.33, 0.34], [4, 3, 3]),
        (7, [0.5, 0.5], [4, 3]),
        (10, [0.25] * 4, [3, 3, 2, 2]),
    ],
)
def test_random_split_sizes(n: int, lengths: list[float], sizes: list[int]) -> None:
    parts = D.random_split(range(n), lengths, generator=dm.Generator().manual_seed(0))
    assert [len(p) for p in parts] == sizes
    assert sorted(i for p in parts for i in p.indices) == list(range(n))
    again = D.random_split(range(n), lengths, generator=dm.Generator().manual_seed(0))
    assert [p.indices for p in parts] == [p.indices for p in again]


def test_samplers() -> None:
    assert sorted(D.RandomSampler(range(5), generator=dm.Generator().manual_seed(0))) == [
        0,
        1,
        2,
        3,
        4,
    ]
    assert len(list(D.RandomSampler(range(5), num_samples=12))) == 12
    drawn = list(D.RandomSampler(range(5), replacement=True, num_samples=20))
    assert len(drawn) == 20 and all(isinstance(i, int) and 0 <= i < 5 for i in drawn)
    assert sorted(D.SubsetRandomSampler([5, 7, 9])) == [5, 7, 9]
    assert set(D.WeightedRandomSampler([0, 1, 0, 2], 50)) <= {1, 3}
    assert sorted(D.WeightedRandomSampler([1, 1, 0, 2], 3, replacement=False)) == [0, 1, 3]
    assert list(D.BatchSampler(range(7), 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(D.BatchSampler(range(7), 3, True)) == 2
    with pytest.raises(ValueError):
        D.RandomSampler(range(5), num_samples=0)
    with pytest.raises(TypeError):
        D.RandomSampler(range(5), replacement=1)
    with pytest.raises(ValueError):
        D.BatchSampler(range(7), 0, False)
    assert D.get_worker_info() is None


# ---- nn.utils ---------------------------------------------------------------------------------

_G0 = [[3.0, -4.0], [1.0, 2.0]]
_G1 = [0.5, -12.0]


@pytest.mark.parametrize(
    ("norm_type", "total", "g1"),
    [
        (2.0, 13.20037841796875, [0.03787769749760628, -0.909064769744873]),
        (1.0, 22.5, [0.02222222089767456, -0.5333333015441895]),
        ("inf", 12.0, [0.0416666641831398, -0.9999999403953552]),
        (0.5, 106.45024108886719, [0.004697030410170555, -0.11272872984409332]),
    ],
)
def test_clip_grad_norm_values(norm_type: Any, total: float, g1: list[float]) -> None:
    ps = [dm.zeros(2, 2, requires_grad=True), dm.zeros(2, requires_grad=True)]
    ps[0].grad, ps[1].grad = dm.tensor(_G0), dm.tensor(_G1)
    out = nn.utils.clip_grad_norm_(ps, 1.0, norm_type)
    assert out.dtype == dm.float32 and tuple(out.shape) == ()
    np.testing.assert_allclose(out.item(), total, rtol=1e-6)
    np.testing.assert_allclose(ps[1].grad.tolist(), g1, rtol=1e-6)


def test_clip_grad_norm_mixed_dtypes_scales_in_the_norms_dtype() -> None:
    p = dm.zeros(1, dtype=dm.float16, requires_grad=True)
    p.grad = dm.tensor([3.0], dtype=dm.float16)
    q = dm.zeros(1, dtype=dm.float64, requires_grad=True)
    q.grad = dm.tensor([4.0], dtype=dm.float64)
    total = nn.utils.clip_grad_norm_([p, q], 1.0)
    assert (total.dtype, total.item()) == (dm.float64, 5.0)
    # PyTorch: 3 * (1 / (5 + 1e-6)) rounded once to float16 (not 3 * float16(0.2)).
    assert p.grad.dtype == dm.float16 and p.grad.item() == 0.60009765625
    assert q.grad.item() == pytest.approx(0.799999840000032, rel=1e-12)


def test_clip_grad_norm_nonfinite() -> None:
    p = dm.zeros(2, requires_grad=True)
    p.grad = dm.tensor([1.0, float("nan")])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)


def test_clip_grads_with_norm_needs_a_tensor_norm() -> None:
    p = dm.zeros(2, requires_grad=True)
    p.grad = dm.tensor([3.0, 4.0])
    with pytest.raises(TypeError):
        nn.utils.clip_grads_with_norm_([p], 1.0, 5.0)  # type: ignore[arg-type]
    nn.utils.clip_grads_with_norm_([p], 1.0, dm.tensor(5.0))
    np.testing.assert_allclose(p.grad.tolist(), [0.59999988, 0.79999984], rtol=1e-6)


def test_pad_sequence_takes_the_first_sequences_dtype() -> None:
    rnn = nn.utils.rnn
    out = rnn.pad_sequence([dm.ones(2), dm.full((3,), 0.1, dtype=dm.float64)])
    assert out.dtype == dm.float32 and tuple(out.shape) == (3, 2)
    np.testing.assert_allclose(out.tolist(), [[1.0, 0.1], [1.0, 0.1], [0.0, 0.1]], rtol=1e-6)
    out = rnn.pad_sequence([dm.arange(2), dm.full((1,), 2.7)])
    assert (out.dtype, out.tolist()) == (dm.int64, [[0, 2], [1, 0]])
    with pytest.raises(RuntimeError):
        rnn.pad_sequence([dm.tensor(1.0), dm.tensor(2.0)])


def test_pack_padded_sequence_needs_1d_lengths() -> None:
    rnn = nn.utils.rnn
    with pytest.raises(RuntimeError, match="1D"):
        rnn.pack_padded_sequence(dm.ones(5, 3), dm.tensor([[5, 3, 1]]))
    with pytest.raises(IndexError):
        rnn.pack_padded_sequence(dm.ones(5, 3), dm.tensor([[3, 5, 1]]), enforce_sorted=False)
    packed = rnn.pack_padded_sequence(dm.ones(5, 3), dm.tensor([3, 5, 1]), enforce_sorted=False)
    assert packed.batch_sizes.tolist() == [3, 2, 2, 1, 1]
    assert packed.sorted_indices.tolist() == [1, 0, 2]
