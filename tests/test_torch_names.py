"""PyTorch spellings that users bring along: ``F.one_hot``, ``dm.autocast``,
``GradScaler("cuda")``, ``load_state_dict``'s named tuple and its ``RuntimeError``."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import nn
from democratising.amp import GradScaler


def test_one_hot_matches_numpy_and_checks_its_input() -> None:
    idx = np.array([[0, 2], [1, 1]])
    got = F.one_hot(dm.tensor(idx), 4)
    assert got.dtype == dm.int64 and got.shape == (2, 2, 4)
    np.testing.assert_array_equal(got.numpy(), np.eye(4, dtype=np.int64)[idx])
    assert F.one_hot(dm.tensor([0, 3])).shape == (2, 4)
    with pytest.raises(dm.IndexOutOfRangeError, match="5"):
        F.one_hot(dm.tensor([5]), 3)
    with pytest.raises(dm.DTypeError):
        F.one_hot(dm.tensor([0.5]))


def test_dm_autocast_is_amp_autocast() -> None:
    with dm.autocast("cpu", dtype=dm.bfloat16):
        y = nn.Linear(3, 2)(dm.randn(4, 3))
    assert y.dtype == dm.bfloat16


def test_grad_scaler_takes_the_device_first_like_torch_amp() -> None:
    if dm.cuda.is_available():
        assert GradScaler("cuda").get_scale() == 2.0**16
    else:  # PyTorch's scaler for a missing CUDA device disables itself, with a warning
        with pytest.warns(UserWarning, match="CUDA is not available"):
            scaler = GradScaler("cuda")
        assert not scaler.is_enabled() and scaler.get_scale() == 1.0
    assert GradScaler().is_enabled()  # the default works on the CPU
    assert GradScaler(device="cpu", init_scale=8.0).get_scale() == 8.0


def test_load_state_dict_reports_keys_and_raises_runtime_error_when_strict() -> None:
    m = nn.Sequential(nn.Linear(2, 2))
    r = m.load_state_dict({"0.weight": dm.zeros(2, 2), "extra": dm.zeros(1)}, strict=False)
    assert r.missing_keys == ["0.bias"] and r.unexpected_keys == ["extra"]
    missing, unexpected = r
    assert (missing, unexpected) == (["0.bias"], ["extra"])
    with pytest.raises(RuntimeError, match=r"Missing key\(s\)"):
        m.load_state_dict({})
    with pytest.raises(KeyError):
        m.load_state_dict({})
