"""``democratising.cuda`` on any machine: the queries never fail, importing loads no CUDA
library, and without a GPU the calls that need one raise ``DeviceError`` saying why."""

from __future__ import annotations

import subprocess
import sys

import pytest

import democratising as dm
import democratising.cuda as cuda


def test_queries_are_consistent() -> None:
    n = cuda.device_count()
    assert isinstance(n, int) and n >= 0
    assert cuda.is_available() == (n > 0)
    assert (cuda.unavailable_reason() is None) == (n > 0)
    assert cuda.memory_allocated() >= 0 and cuda.memory_reserved() >= cuda.memory_allocated()
    assert cuda.max_memory_allocated() >= 0
    assert cuda.empty_cache() is None


@pytest.mark.skipif(cuda.is_available(), reason="this machine has a CUDA device")
def test_without_a_gpu_device_calls_raise_device_error() -> None:
    assert cuda.device_count() == 0 and not cuda.is_available()
    assert cuda.memory_allocated(0) == 0 and cuda.memory_reserved("cuda:0") == 0
    for call in (lambda: cuda.get_memory_info(0), cuda.synchronize):
        with pytest.raises(dm.DeviceError, match="CUDA is not available"):
            call()
    with pytest.raises(dm.DeviceError):
        dm._core._cuda_load_all_kernels(0)


@pytest.mark.skipif(cuda.is_available(), reason="this machine has a CUDA device")
def test_without_a_gpu_streams_events_and_pinning_say_why() -> None:
    assert cuda.Event().query()  # an unrecorded event is complete, as in PyTorch
    cuda.Event().synchronize()
    for call in (cuda.Stream, cuda.current_stream, cuda.Event().record):
        with pytest.raises(dm.DeviceError, match="CUDA is not available"):
            call()
    x = dm.ones(2)
    assert x.pin_memory() is x and not x.is_pinned()  # nothing to pin for
    with pytest.raises(RuntimeError, match="enable_timing"):
        cuda.Event().elapsed_time(cuda.Event())
    with cuda.stream(None):  # a None stream changes nothing
        pass
    from democratising.data import DataLoader, TensorDataset

    ds = TensorDataset(dm.randn(4, 2))
    with pytest.warns(UserWarning, match="no accelerator is found"):
        loader = DataLoader(ds, batch_size=2, pin_memory=True)
    assert [b[0].is_pinned() for b in loader] == [False, False]


def test_pytorch_memory_and_seeding_spellings_answer_on_any_machine() -> None:
    stats = cuda.memory_stats()
    assert stats["allocated_bytes.all.current"] == cuda.memory_allocated()
    assert stats["reserved_bytes.all.peak"] == cuda.max_memory_reserved() >= 0
    assert cuda.reset_peak_memory_stats() is None and cuda.reset_max_memory_allocated() is None
    assert cuda.OutOfMemoryError is dm.OutOfMemoryError
    dm.manual_seed(7)
    assert cuda.initial_seed() == dm.initial_seed() == 7
    state = cuda.get_rng_state()
    a = dm.rand(3)
    cuda.set_rng_state(state)
    assert dm.rand(3).tolist() == a.tolist()
    with cuda.device(None):  # no index: changes nothing
        assert cuda.current_device() == 0


@pytest.mark.skipif(cuda.is_available(), reason="this machine has a CUDA device")
def test_without_a_gpu_selecting_a_device_says_why() -> None:
    with pytest.raises(dm.DeviceError, match="cannot select CUDA device 1"):
        with cuda.device(1):
            pass
    assert cuda.current_device() == 0
    with pytest.raises(dm.DeviceError):
        cuda.mem_get_info()
    with pytest.raises(dm.DeviceError, match="no CUDA device 0"):
        cuda.get_device_name(0)


def test_device_arguments() -> None:
    assert cuda._index(None) == 0 and cuda._index(2) == 2 and cuda._index("cuda:1") == 1
    assert cuda._index(dm.Device.cuda(3)) == 3
    with pytest.raises(ValueError, match="expected a CUDA device"):
        cuda._index("cpu")


def test_importing_loads_no_cuda_library() -> None:
    code = (
        "import democratising, democratising.cuda\n"
        "maps = open('/proc/self/maps').read()\n"
        "print(any(n in maps for n in ('libcuda.so', 'libnvrtc')))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False", r.stderr


def test_kernel_table_is_well_formed() -> None:
    table = dm._core._cuda_kernel_table()
    names = [n for _, n, _ in table]
    assert len(names) == len(set(names)) > 200
    families = "elementwise reduce softmax attention rnn conv pool norm random index optim amp"
    families = families.split()
    assert {f for f, _, _ in table} == set(families)
    assert all(p > 0 for _, _, p in table)
