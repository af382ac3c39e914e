"""Regression tests for PyTorch-parity defects in ``democratising.data`` (audit 15)."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import democratising as dm
from democratising import data
from democratising.data import DataLoader, WeightedRandomSampler

_Pair = collections.namedtuple("_Pair", "a b")


def test_batch_size_none_with_drop_last_is_rejected() -> None:
    with pytest.raises(ValueError, match="drop_last"):
        DataLoader(list(range(4)), batch_size=None, drop_last=True)


def test_batch_size_none_converts_numpy_samples_to_tensors() -> None:
    items = [np.array([1, 2], dtype=np.int64), np.float32(3.0)]
    first, second = list(DataLoader(items, batch_size=None))
    assert isinstance(first, dm.Tensor) and first.tolist() == [1, 2]
    assert isinstance(second, dm.Tensor) and second.shape == () and second.dtype == dm.float32


def test_batch_size_none_converts_iterable_dataset_samples() -> None:
    class Stream(dm.data.IterableDataset):
        def __iter__(self):  # type: ignore[no-untyped-def]
            return iter([{"x": np.array([0.5])}])

    (batch,) = list(DataLoader(Stream(), batch_size=None))
    assert isinstance(batch["x"], dm.Tensor) and batch["x"].dtype == dm.float64


def test_default_convert_recurses_and_keeps_scalars_zero_dim() -> None:
    out = data.default_convert({"a": np.array([1.5]), "s": "text", "n": [np.int64(2)]})
    assert out["s"] == "text"
    assert out["a"].tolist() == [1.5] and out["a"].dtype == dm.float64
    assert out["n"][0].shape == () and out["n"][0].item() == 2
    pair = data.default_convert(_Pair(np.array([1]), 3))
    assert isinstance(pair, _Pair) and pair.a.tolist() == [1] and pair.b == 3
    assert dm.utils.data.default_convert is data.default_convert


def test_weighted_sampler_rejects_non_1d_weights() -> None:
    with pytest.raises(ValueError, match="1d"):
        WeightedRandomSampler([[1.0, 1.0]], 4)


def test_weighted_sampler_bad_weights_are_runtime_errors_like_pytorch() -> None:
    with pytest.raises(RuntimeError):
        WeightedRandomSampler([-1.0, 1.0, 1.0], 4)
    with pytest.raises(RuntimeError):
        WeightedRandomSampler([1.0, 1.0, 1.0], 4, replacement=False)
