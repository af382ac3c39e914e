"""DLPack exchange on the CPU: NumPy (and PyTorch, when installed) both ways without a copy,
views keeping their strides and offset, every engine dtype (bfloat16 included), lifetimes in
both directions, and typed errors. The CUDA half runs in test_cuda_parity.py on the emulated
device."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import democratising as dm
from democratising.errors import ArgumentTypeError, AutogradError, DTypeError


def test_numpy_reads_and_writes_a_tensor_in_place() -> None:
    t = dm.arange(12).reshape(3, 4).float()
    a = np.from_dlpack(t)
    a[1, 2] = -7.0
    assert t[1, 2].item() == -7.0
    assert a.shape == (3, 4) and a.dtype == np.float32


def test_views_keep_their_strides_and_offset() -> None:
    base = dm.arange(24.0).reshape(4, 6)
    for view in (base.t(), base[1:, 2:5], base[:, ::2], base[2]):
        np.testing.assert_array_equal(np.from_dlpack(view), view.numpy())
        np.testing.assert_array_equal(dm.from_dlpack(view.numpy()).numpy(), view.numpy())


def test_a_numpy_array_is_shared_and_kept_alive() -> None:
    x = np.arange(6, dtype=np.float64).reshape(2, 3)[:, 1:]
    t = dm.from_dlpack(x)
    t.add_(1.0)
    np.testing.assert_array_equal(x, [[2.0, 3.0], [5.0, 6.0]])
    del x
    gc.collect()
    np.testing.assert_array_equal(t.numpy(), [[2.0, 3.0], [5.0, 6.0]])


def test_an_exported_tensor_outlives_the_tensor() -> None:
    t = dm.arange(5.0) * 2
    a = np.from_dlpack(t)
    del t
    gc.collect()
    _ = [dm.ones(5) for _ in range(10)]  # reuse freed memory if it were freed
    np.testing.assert_array_equal(a, [0.0, 2.0, 4.0, 6.0, 8.0])


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16", "int64", "int32", "bool"])
def test_every_dtype_round_trips_through_numpy(dtype: str) -> None:
    src = np.array([[1, 0, 3], [4, 5, 0]]).astype(dtype)
    t = dm.from_dlpack(src)
    assert t.dtype == getattr(dm, dtype)
    np.testing.assert_array_equal(np.from_dlpack(t), src)


def test_capsules_and_empty_tensors() -> None:
    cap = dm.tensor([1.0, 2.0]).__dlpack__()
    t = dm.from_dlpack(cap)
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])
    with pytest.raises(ArgumentTypeError, match="unconsumed DLPack capsule"):
        dm.from_dlpack(cap)
    assert np.from_dlpack(dm.zeros(0, 3)).shape == (0, 3)
    assert dm.from_dlpack(np.zeros((2, 0))).shape == (2, 0)


def test_read_only_numpy_memory_is_copied_not_shared() -> None:
    r = np.arange(3.0)
    r.flags.writeable = False
    t = dm.from_dlpack(r)
    t.add_(1.0)
    np.testing.assert_array_equal(r, [0.0, 1.0, 2.0])


def test_errors() -> None:
    with pytest.raises(AutogradError, match="requires grad"):
        np.from_dlpack(dm.ones(2, requires_grad=True))
    with pytest.raises(DTypeError, match="unsupported DLPack dtype"):
        dm.from_dlpack(np.arange(3, dtype=np.uint16))
    with pytest.raises(TypeError, match="__dlpack__"):
        dm.from_dlpack([1, 2, 3])
    with pytest.raises(BufferError, match="requested DLPack device"):
        dm.ones(2).__dlpack__(dl_device=(2, 0))


def test_copy_true_exports_a_copy() -> None:
    t = dm.zeros(3)
    a = np.from_dlpack(t, copy=True)  # NumPy asks the producer for a copy
    a[0] = 1.0
    assert t[0].item() == 0.0


def test_pytorch_both_ways_including_bfloat16() -> None:
    torch = pytest.importorskip("torch")
    t = dm.arange(6).reshape(2, 3).float()
    pt = torch.from_dlpack(t)
    pt[0, 0] = 50
    assert t[0, 0].item() == 50.0
    x = torch.arange(8, dtype=torch.bfloat16).reshape(2, 4)[:, 1:3]
    d = dm.from_dlpack(x)
    assert d.dtype == dm.bfloat16
    d.mul_(2)
    assert x.float().tolist() == [[2.0, 4.0], [10.0, 12.0]]
    z = torch.zeros(3)
    dm.as_tensor(z).add_(5)
    assert z.tolist() == [5.0, 5.0, 5.0]
