"""``DataParallel``: runs the module on CPU devices, prefixes state_dict keys like PyTorch, converts
BatchNorm to SyncBatchNorm, and refuses CUDA devices with a clear DeviceError here."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.distributed import DataParallel, SyncBatchNorm


def test_cpu_data_parallel_matches_the_module_and_trains() -> None:
    dm.manual_seed(0)
    inner = nn.Sequential(nn.Dense(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dense(8, 2))
    model = DataParallel(inner, ["cpu"])
    x = dm.randn(6, 4)
    np.testing.assert_array_equal(model(x).detach().numpy(), inner(x).detach().numpy())
    assert all(k.startswith("module.") for k in model.state_dict())
    opt = dm.optim.SGD(model.parameters(), lr=0.1)
    before = inner[0].weight.detach().numpy().copy()
    model(x).square().mean().backward()
    opt.step()
    assert not np.array_equal(before, inner[0].weight.detach().numpy())
    model.convert_sync_batchnorm()
    assert isinstance(model.module[1], SyncBatchNorm)


def test_cuda_devices_raise_device_error_without_a_gpu() -> None:
    if dm.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(dm.DeviceError):
        DataParallel(nn.Dense(2, 2), [0, 1])
    with pytest.raises(dm.DeviceError):
        dm.Device.cuda_all()
