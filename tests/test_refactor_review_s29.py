"""Regression tests from the review of session 29's refactors (DataLoader pools, load_state_dict,
lazy modules, legacy amp spellings, extra_repr tails). Expected values are PyTorch's, written
down as constants."""

from __future__ import annotations

import collections
import gc
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.data import DataLoader, Dataset, IterableDataset


class _FailingAt3(Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> Any:
        if i == 3:
            raise ValueError(i)
        return np.float32(i)


class _StreamFailing(IterableDataset):
    def __iter__(self) -> Iterator[int]:
        yield 0
        raise KeyError(1)


def _settle() -> None:
    gc.collect()
    time.sleep(0.2)
    gc.collect()


@pytest.mark.parametrize(
    ("dataset", "kwargs"),
    [
        (_FailingAt3(), {"batch_size": 1}),
        (_FailingAt3(), {"batch_size": 2}),
        (_FailingAt3(), {"batch_size": None}),
        (_StreamFailing(), {"batch_size": None}),
    ],
)
def test_persistent_loader_with_unconsumed_worker_error_is_collected(
    dataset: Any, kwargs: dict[str, Any]
) -> None:
    # An epoch abandoned while a worker's error waits in the pool's queue: that error's
    # traceback must not keep the DataLoader (and so its worker threads) alive.
    _settle()
    before = threading.active_count()
    loader = DataLoader(dataset, num_workers=2, persistent_workers=True, **kwargs)
    it = iter(loader)
    next(it)
    time.sleep(0.2)  # the workers reach the failing item
    del it
    ref = weakref.ref(loader)
    del loader
    _settle()
    assert ref() is None
    deadline = time.monotonic() + 5.0
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before  # (other tests' threads may end meanwhile)


def test_worker_error_still_raised_with_its_traceback_lines() -> None:
    loader = DataLoader(_FailingAt3(), batch_size=2, num_workers=2)
    it = iter(loader)
    assert next(it).tolist() == [0.0, 1.0]
    with pytest.raises(ValueError) as info:
        next(it)
    assert any(entry.name == "__getitem__" for entry in info.traceback)
    assert next(it).tolist() == [4.0, 5.0]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "Embedding(5, 3)"),
        (
            {"padding_idx": 0, "max_norm": 1.0, "norm_type": 3.0, "scale_grad_by_freq": True},
            "Embedding(5, 3, padding_idx=0, max_norm=1.0, norm_type=3.0, scale_grad_by_freq=True)",
        ),
        # PyTorch writes a fixed "sparse=True" for any non-False value.
        ({"sparse": True}, "Embedding(5, 3, sparse=True)"),
        ({"sparse": 1}, "Embedding(5, 3, sparse=True)"),
        (
            {"sparse": 0, "scale_grad_by_freq": 0},
            "Embedding(5, 3, scale_grad_by_freq=0, sparse=True)",
        ),
    ],
)
def test_embedding_repr_as_pytorch(kwargs: dict[str, Any], expected: str) -> None:
    assert repr(nn.Embedding(5, 3, **kwargs)) == expected


def test_batchnorm_version1_state_keeps_count_for_subclass_override() -> None:
    # The upgrade now runs inside the base step: an override still sees the old layout
    # before super() and the kept count after it (PyTorch's order).
    log: list[Any] = []

    class MyBN(nn.BatchNorm1d):
        def _load_from_state_dict(self, sd: Any, prefix: str, meta: Any, *rest: Any) -> None:
            log.append(("before", prefix + "num_batches_tracked" in sd, meta.get("version")))
            super()._load_from_state_dict(sd, prefix, meta, *rest)
            log.append(("after", int(self.num_batches_tracked.item())))

    m = nn.Sequential(MyBN(2))
    sd = m.state_dict()
    del sd["0.num_batches_tracked"]
    sd._metadata["0"]["version"] = 1  # type: ignore[attr-defined]
    m[0].num_batches_tracked.fill_(7)
    keys = m.load_state_dict(sd)
    assert keys.missing_keys == [] and keys.unexpected_keys == []
    assert log == [("before", False, 1), ("after", 7)]


def test_instance_norm_unversioned_running_stats_fail_even_non_strict() -> None:
    m = nn.InstanceNorm1d(3)
    sd = collections.OrderedDict(running_mean=dm.zeros(3), running_var=dm.ones(3))
    with pytest.raises(RuntimeError, match='Unexpected running stats buffer\\(s\\) "running_mean"'):
        m.load_state_dict(sd, strict=False)
    sd._metadata = {"": {"version": 1}}  # type: ignore[attr-defined]
    keys = m.load_state_dict(sd, strict=False)
    assert keys.unexpected_keys == ["running_mean", "running_var"]


@pytest.mark.parametrize(
    ("make", "shape", "out_shape"),
    [
        (lambda: nn.LazyConv1d(4, 3), (3, 8), [4, 6]),
        (
            lambda: nn.LazyConv2d(4, (3, 2), stride=2, padding=1, groups=2),
            (2, 6, 8, 8),
            [2, 4, 4, 5],
        ),
        (lambda: nn.LazyConv3d(4, 2), (3, 4, 4, 4), [4, 3, 3, 3]),
        (lambda: nn.LazyConvTranspose1d(4, 3, output_padding=1, stride=2), (2, 3, 8), [2, 4, 18]),
        (lambda: nn.LazyConvTranspose3d(4, 2), (3, 3, 3, 3), [4, 4, 4, 4]),
    ],
)
def test_lazy_conv_infers_channels_batched_or_not(make: Any, shape: Any, out_shape: Any) -> None:
    m = make()
    out = m(dm.randn(shape))
    assert list(out.shape) == out_shape
    assert m.in_channels == (shape[1] if len(shape) == len(m.kernel_size) + 2 else shape[0])
    assert not type(m).__name__.startswith("Lazy")  # it became ``cls_to_become``


def test_lazy_conv_rejects_wrong_rank_with_pytorch_message() -> None:
    with pytest.raises(ValueError, match=r"Expected 4D \(unbatched\) or 5D \(batched\) input to "):
        nn.LazyConvTranspose3d(4, 2)(dm.randn((3, 3, 3)))


def test_legacy_grad_scaler_argument_orders() -> None:
    s = dm.amp.GradScaler("cpu", 8.0, 3.0, 0.25, 10, True)
    assert (s.get_scale(), s.get_growth_factor(), s.get_backoff_factor()) == (8.0, 3.0, 0.25)
    assert s.get_growth_interval() == 10 and s.is_enabled()
    c = dm.cpu.amp.GradScaler(8.0, 3.0, 0.25, 10, True)
    assert (c.get_scale(), c.get_growth_factor(), c.get_growth_interval()) == (8.0, 3.0, 10)
    with pytest.raises(TypeError):
        dm.amp.GradScaler("cpu", 8.0, 3.0, 0.25, 10, True, 7)


def test_legacy_cpu_autocast_argument_order() -> None:
    a = dm.cpu.amp.autocast(False, dm.float16, False)
    assert (a.device_type, a.dtype, a.enabled) == ("cpu", dm.float16, False)
    with dm.cpu.amp.autocast():
        assert dm.is_autocast_enabled("cpu")
