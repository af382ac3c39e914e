"""``set_default_device`` / ``get_default_device`` / ``with dm.Device(...):`` on a machine
without CUDA (the device side runs in test_cuda_parity.py, on the emulated device too)."""

from __future__ import annotations

import pytest

import democratising as dm

CPU = dm.Device("cpu")


def test_the_default_is_the_cpu_and_can_be_set_to_it() -> None:
    assert dm.get_default_device() == CPU
    dm.set_default_device("cpu")
    assert dm.get_default_device() == CPU and dm.zeros(2).device == CPU
    dm.set_default_device(None)
    assert dm.get_default_device() == CPU


def test_a_device_block_restores_the_default() -> None:
    with dm.Device("cpu") as d:
        assert d == CPU and dm.randn(2).device == CPU
    assert dm.get_default_device() == CPU


@pytest.mark.skipif(dm.cuda.is_available(), reason="checks the machine without CUDA")
def test_a_missing_cuda_device_is_refused_at_once_and_changes_nothing() -> None:
    with pytest.raises(dm.DeviceError, match="cuda"):
        dm.set_default_device("cuda")
    with pytest.raises(dm.DeviceError):
        with dm.Device("cuda:0"):
            pass
    assert dm.get_default_device() == CPU and dm.zeros(1).device == CPU


def test_bad_device_names_are_typed_errors() -> None:
    with pytest.raises((ValueError, dm.DeviceError)):
        dm.set_default_device("tpu")
    with pytest.raises(TypeError):
        dm.set_default_device(3.5)  # type: ignore[arg-type]
    assert dm.get_default_device() == CPU
