"""nn.Module machinery bugs found by the session-25 differential check against PyTorch (CPU).

Each test encodes PyTorch's result (taken from torch 2.x as constants) and is marked
``xfail(strict=True)`` until the bug it names is fixed: then it passes, strict xfail fails,
and the marker is removed.
"""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict
from typing import Any

import pytest

import democratising as dm
from democratising import nn


def test_load_from_state_dict_override_without_super_is_honoured() -> None:
    class Transposed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(dm.zeros(2, 2))

        def _load_from_state_dict(self, sd: Any, prefix: str, *rest: Any) -> None:
            with dm.no_grad():  # a custom (transposed) layout; the default copy is skipped
                self.weight.copy_(sd[prefix + "weight"].t())

    m = Transposed()
    keys = m.load_state_dict({"weight": dm.tensor([[1.0, 2.0], [3.0, 4.0]])})
    assert m.weight.tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert keys.missing_keys == [] and keys.unexpected_keys == []


def test_load_from_state_dict_noop_override_loads_nothing() -> None:
    class Frozen(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(dm.zeros(2))
            self.b = nn.Parameter(dm.zeros(2))

        def _load_from_state_dict(self, *args: Any) -> None:
            pass

    m = Frozen()
    keys = m.load_state_dict({"weight": dm.ones(2)}, strict=False)
    assert m.weight.tolist() == [0.0, 0.0]
    assert keys.missing_keys == [] and keys.unexpected_keys == []


def test_save_to_state_dict_override_is_called() -> None:
    class Scaled(nn.Linear):
        def _save_to_state_dict(self, dest: Any, prefix: str, keep_vars: bool) -> None:
            super()._save_to_state_dict(dest, prefix, keep_vars)  # type: ignore[misc]
            dest[prefix + "scale"] = dm.tensor(2.0)

    m = nn.Sequential(Scaled(1, 1))
    assert list(m.state_dict()) == ["0.weight", "0.bias", "0.scale"]


def test_apply_override_is_called_by_casts() -> None:
    class Cached(nn.Linear):
        def __init__(self) -> None:
            super().__init__(1, 1)
            self.cache = dm.ones(1)  # a plain tensor attribute the module moves itself

        def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
            self.cache = fn(self.cache)
            return super()._apply(fn, *args, **kwargs)  # type: ignore[misc]

    m = Cached().double()
    assert m.cache.dtype == dm.float64
    assert m.weight.dtype == dm.float64


def test_instance_norm_tracked_loads_checkpoint_without_num_batches_tracked() -> None:
    m = nn.InstanceNorm1d(3, track_running_stats=True)
    keys = m.load_state_dict(OrderedDict(running_mean=dm.zeros(3), running_var=dm.ones(3)))
    assert keys.missing_keys == [] and keys.unexpected_keys == []
    assert int(m.num_batches_tracked) == 0


def test_batch_norm_version_2_checkpoint_missing_num_batches_tracked_is_missing() -> None:
    m = nn.BatchNorm1d(3)
    sd = m.state_dict()  # its _metadata says version 2
    del sd["num_batches_tracked"]
    keys = m.load_state_dict(sd, strict=False)
    assert keys.missing_keys == ["num_batches_tracked"]
    with pytest.raises(RuntimeError, match="Missing key"):
        m.load_state_dict(sd)


def test_non_strict_size_mismatch_error_lists_only_the_mismatch() -> None:
    m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    sd = m.state_dict()
    sd["0.weight"] = dm.zeros(3, 3)
    del sd["1.bias"]
    with pytest.raises(RuntimeError) as info:
        m.load_state_dict(sd, strict=False)
    assert "Missing key" not in str(info.value)
    assert "size mismatch for 0.weight" in str(info.value)


def test_module_zero_grad_keeps_grad_tensor() -> None:
    m = nn.Linear(1, 1)
    m(dm.ones(1, 1)).sum().backward()
    g = m.weight.grad
    m.zero_grad(set_to_none=False)
    assert m.weight.grad is g
    assert g.tolist() == [[0.0]]


def test_backward_pre_hook_none_grad_still_runs_full_hook() -> None:
    m = nn.Linear(2, 2)
    a = dm.ones(1, 2, requires_grad=True)
    log: list[Any] = []
    m.register_full_backward_pre_hook(lambda mod, go: (None,))
    m.register_full_backward_hook(lambda mod, gi, go: log.append((gi[0].tolist(), go)))
    m(a).sum().backward()
    assert log == [([[0.0, 0.0]], (None,))]
    assert a.grad is not None and a.grad.tolist() == [[0.0, 0.0]]


def test_sequential_accepts_none_child() -> None:
    s = nn.Sequential(nn.ReLU(), None)
    assert list(s._modules) == ["0", "1"]
    assert [n for n, _ in s.named_children()] == ["0"]


def test_module_get_name() -> None:
    assert nn.Linear(1, 1)._get_name() == "Linear"  # type: ignore[attr-defined]


def test_module_to_rejects_surplus_arguments() -> None:
    with pytest.raises(TypeError):
        nn.Linear(1, 1).to("cpu", dm.float64, dm.float32)


def test_deepcopy_uninitialized_lazy_module() -> None:
    m = copy.deepcopy(nn.LazyLinear(3))
    m(dm.ones(1, 2))
    assert tuple(m.weight.shape) == (3, 2)
    assert type(m).__name__ == "Linear"


def test_pickle_uninitialized_lazy_module() -> None:
    m = pickle.loads(pickle.dumps(nn.LazyLinear(3)))
    m(dm.ones(1, 2))
    assert tuple(m.weight.shape) == (3, 2)
