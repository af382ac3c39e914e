"""Tensor creation, NumPy/DLPack interop, conversions and dtypes."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm
from helpers import assert_close, to_numpy

# ---- dm.tensor and dtype inference -------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        (1.5, dm.float32),
        ([1.0, 2.0], dm.float32),
        ([[1, 2], [3, 4]], dm.int64),
        (7, dm.int64),
        (True, dm.bool),
        ([True, False], dm.bool),
        ([1, 2.5], dm.float32),
        (np.array([1.0, 2.0]), dm.float64),
        (np.array([1.0, 2.0], dtype=np.float32), dm.float32),
        (np.array([1, 2], dtype=np.int32), dm.int32),
        (np.array([1, 2], dtype=np.int64), dm.int64),
        (np.array([1, 2], dtype=np.float16), dm.float16),
        (np.array([True]), dm.bool),
        (np.float64(2.5), dm.float64),
        (np.int32(3), dm.int32),
    ],
)
def test_tensor_dtype_inference(data: Any, dtype: dm.dtype) -> None:
    t = dm.tensor(data)
    assert t.dtype == dtype
    assert_close(t, np.asarray(data))


def test_tensor_shapes_and_values() -> None:
    t = dm.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3)
    assert t.ndim == 2
    assert t.numel() == 6
    assert t.size() == (2, 3)
    assert t.size(1) == 3
    assert t.size(-2) == 2
    assert t.stride() == (3, 1)
    assert t.is_contiguous()
    assert t.device == dm.Device("cpu")
    assert str(t.device) == "cpu"
    s = dm.tensor(3.25)
    assert s.shape == () and s.ndim == 0 and s.numel() == 1
    assert dm.tensor([]).shape == (0,)
    assert dm.tensor([[], []]).shape == (2, 0)


def test_tensor_copies_its_input() -> None:
    a = np.arange(4.0)
    t = dm.tensor(a)
    a[0] = 100.0
    assert t[0].item() == 0.0
    u = dm.tensor(t)
    t[1] = 50.0
    assert u[1].item() == 1.0


def test_tensor_options() -> None:
    t = dm.tensor([1, 2], dtype=dm.float64, requires_grad=True)
    assert t.dtype == dm.float64 and t.requires_grad and t.is_leaf
    assert dm.tensor([1.0], device="cpu").device == dm.Device.cpu()
    assert dm.tensor([1], dtype="float32").dtype == dm.float32
    assert dm.tensor([1], dtype=np.float64).dtype == dm.float64
    with pytest.raises(dm.DTypeError):
        dm.tensor([1, 2], requires_grad=True)


def test_tolist_and_item() -> None:
    assert dm.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert dm.tensor([1.5, -2.0]).tolist() == [1.5, -2.0]
    assert dm.tensor([True, False]).tolist() == [True, False]
    assert dm.tensor([0.5], dtype=dm.float16).tolist() == [0.5]
    assert dm.tensor([0.5], dtype=dm.bfloat16).tolist() == [0.5]
    i = dm.tensor(3).item()
    assert i == 3 and isinstance(i, int)
    f = dm.tensor([2.5]).item()
    assert f == 2.5 and isinstance(f, float)
    b = dm.tensor(True).item()
    assert b is True
    assert dm.tensor(7.0).tolist() == 7.0
    assert float(dm.tensor(1.5)) == 1.5 and int(dm.tensor(4)) == 4
    with pytest.raises(ValueError):
        dm.tensor([1.0, 2.0]).item()


# ---- factories ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("fn", "value"), [(dm.zeros, 0.0), (dm.ones, 1.0)], ids=["zeros", "ones"])
def test_zeros_ones(fn: Callable[..., dm.Tensor], value: float) -> None:
    for args in [(2, 3), ((2, 3),), ([2, 3],)]:
        t = fn(*args)
        assert t.dtype == dm.float32
        assert_close(t, np.full((2, 3), value, dtype=np.float32))
    assert fn(()).shape == ()
    assert fn(0, 4).shape == (0, 4)
    t = fn(2, dtype=dm.int32)
    assert t.dtype == dm.int32 and t.tolist() == [int(value)] * 2
    assert fn(3, requires_grad=True).requires_grad
    with pytest.raises(ValueError):
        fn(-1, 2)


def test_full_empty() -> None:
    assert_close(dm.full((2, 2), 7.5), np.full((2, 2), 7.5, dtype=np.float32))
    assert dm.full((2, 2), 7.5).dtype == dm.float32
    assert dm.full((2,), 7).dtype == dm.int64
    assert dm.full((2,), True).dtype == dm.bool
    assert dm.full((3,), 2, dtype=dm.float64).tolist() == [2.0, 2.0, 2.0]
    e = dm.empty(3, 4, dtype=dm.float64)
    assert e.shape == (3, 4) and e.dtype == dm.float64


def test_arange() -> None:
    assert_close(dm.arange(5), np.arange(5), check_dtype=dm.int64)
    assert_close(dm.arange(2, 9, 3), np.arange(2, 9, 3), check_dtype=dm.int64)
    assert_close(dm.arange(5, 0, -1), np.arange(5, 0, -1))
    assert_close(dm.arange(1, 2, 0.25), np.arange(1, 2, 0.25), check_dtype=dm.float32)
    assert_close(dm.arange(0.0, 1.0, 0.1), np.arange(0.0, 1.0, 0.1), atol=1e-6)
    assert dm.arange(4, dtype=dm.float64).dtype == dm.float64
    assert dm.arange(3, 3).shape == (0,)


def test_linspace_eye() -> None:
    assert_close(dm.linspace(0, 1, 5), np.linspace(0, 1, 5), check_dtype=dm.float32)
    assert_close(dm.linspace(-3, 3, 7, dtype=dm.float64), np.linspace(-3, 3, 7))
    assert_close(dm.linspace(2, 2, 1), np.array([2.0]))
    assert dm.linspace(0, 1, 0).shape == (0,)
    assert_close(dm.eye(3), np.eye(3))
    assert_close(dm.eye(2, 4), np.eye(2, 4))
    assert_close(dm.eye(3, 2, dtype=dm.int64), np.eye(3, 2, dtype=np.int64))


def test_random_factories() -> None:
    dm.manual_seed(1)
    u = dm.rand(20000)
    un = u.numpy()
    assert u.dtype == dm.float32
    assert un.min() >= 0.0 and un.max() < 1.0
    assert abs(un.mean() - 0.5) < 0.02
    n = dm.randn(20000, dtype=dm.float64).numpy()
    assert abs(n.mean()) < 0.05 and abs(n.std() - 1.0) < 0.05
    r = dm.randint(3, 8, (1000,))
    rn = r.numpy()
    assert r.dtype == dm.int64 and rn.min() == 3 and rn.max() == 7
    r2 = dm.randint(4, (2, 3))
    assert r2.shape == (2, 3) and r2.numpy().max() < 4
    p = dm.randperm(50)
    assert p.dtype == dm.int64
    assert sorted(p.tolist()) == list(range(50))
    assert p.tolist() != list(range(50))
    assert dm.rand(2, 3).shape == (2, 3) and dm.randn((4,)).shape == (4,)


@pytest.mark.parametrize(
    "make",
    [
        lambda: dm.rand(5),
        lambda: dm.randn(2, 3),
        lambda: dm.randint(0, 100, (6,)),
        lambda: dm.randperm(10),
        lambda: dm.rand_like(dm.zeros(4)),
        lambda: dm.randn_like(dm.zeros(4)),
    ],
    ids=["rand", "randn", "randint", "randperm", "rand_like", "randn_like"],
)
def test_manual_seed_reproducible(make: Callable[[], dm.Tensor]) -> None:
    dm.manual_seed(1234)
    a = make().tolist()
    b = make().tolist()
    dm.manual_seed(1234)
    assert make().tolist() == a
    assert make().tolist() == b
    assert a != b
    dm.manual_seed(4321)
    assert make().tolist() != a


def test_rng_state_roundtrip() -> None:
    dm.manual_seed(7)
    state = dm.get_rng_state()
    a = dm.randn(5).tolist()
    dm.set_rng_state(state)
    assert dm.randn(5).tolist() == a


def test_like_factories() -> None:
    base = dm.ones(2, 3, dtype=dm.float64)
    for fn in (dm.zeros_like, dm.ones_like, dm.rand_like, dm.randn_like, dm.empty_like):
        t = fn(base)
        assert t.shape == (2, 3) and t.dtype == dm.float64
        assert not t.requires_grad
    assert_close(dm.zeros_like(base), np.zeros((2, 3)))
    assert_close(dm.ones_like(base), np.ones((2, 3)))
    assert dm.zeros_like(dm.ones(2, dtype=dm.int32)).dtype == dm.int32
    assert dm.ones_like(base, dtype=dm.float32).dtype == dm.float32
    assert dm.zeros_like(base, requires_grad=True).requires_grad
    assert_close(dm.full_like(base, 3.0), np.full((2, 3), 3.0))


# ---- NumPy and DLPack ---------------------------------------------------------------------------


@pytest.mark.parametrize("np_dtype", [np.float32, np.float64, np.int64, np.int32, np.float16])
def test_from_numpy_shares_memory(np_dtype: type) -> None:
    a = np.arange(6).astype(np_dtype).reshape(2, 3)
    t = dm.from_numpy(a)
    assert t.shape == (2, 3)
    a[0, 1] = 42
    assert t[0, 1].item() == 42
    t[1, 2] = -7
    assert a[1, 2] == -7


def test_from_numpy_non_contiguous_and_bool() -> None:
    a = np.arange(12.0).reshape(3, 4)
    t = dm.from_numpy(a.T)
    assert t.shape == (4, 3)
    assert_close(t, a.T)
    a[2, 1] = -1.0
    assert t[1, 2].item() == -1.0
    b = dm.from_numpy(np.array([True, False]))
    assert b.dtype == dm.bool and b.tolist() == [True, False]
    s = dm.from_numpy(a[::2, 1::2])
    assert_close(s, a[::2, 1::2])
    with pytest.raises(TypeError):
        dm.from_numpy([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("np_dtype", "dtype"),
    [
        (np.uint8, dm.uint8),
        (np.int8, dm.int8),
        (np.int16, dm.int16),
        (np.dtype(">i2"), dm.int16),
        (np.uint16, dm.int32),
        (np.uint32, dm.int64),
        (np.uint64, dm.int64),
    ],
)
def test_from_numpy_keeps_or_widens_integer_dtypes(np_dtype: Any, dtype: dm.dtype) -> None:
    # An image decoded as uint8 is the usual case: `from_numpy(img).float() / 255` must work.
    a = np.array([[0, 1, 2], [3, 100, 127]], dtype=np_dtype)[:, ::-1]
    t = dm.from_numpy(a)
    assert t.dtype == dtype and t.tolist() == a.tolist()
    assert dm.from_numpy(np.zeros((0, 3), np_dtype)).shape == (0, 3)
    assert_close(dm.from_numpy(a).float() / 255, a.astype(np.float32) / 255)


def test_from_numpy_refuses_uint64_values_int64_cannot_hold() -> None:
    assert dm.from_numpy(np.array([2**63 - 1], np.uint64)).tolist() == [2**63 - 1]
    with pytest.raises(dm.DTypeError, match="2\\*\\*63"):
        dm.from_numpy(np.array([1, 2**63], np.uint64))
    with pytest.raises(dm.DTypeError, match="<U1"):
        dm.from_numpy(np.array(["a"]))


def test_numpy_shares_memory() -> None:
    t = dm.arange(6.0).reshape(2, 3)
    n = t.numpy()
    assert n.dtype == np.float32 and n.shape == (2, 3)
    n[0, 0] = 42.0
    assert t[0, 0].item() == 42.0
    t[1, 1] = -3.0
    assert n[1, 1] == -3.0
    v = t.T.numpy()
    np.testing.assert_array_equal(v, n.T)
    with pytest.raises(RuntimeError):
        dm.ones(2, requires_grad=True).numpy()
    assert_close(dm.ones(2, requires_grad=True).detach(), np.ones(2))
    assert dm.tensor([1, 2], dtype=dm.int32).numpy().dtype == np.int32


def test_dlpack_roundtrip() -> None:
    t = dm.arange(6.0).reshape(2, 3)
    a = np.from_dlpack(t)
    np.testing.assert_array_equal(a, np.arange(6.0, dtype=np.float32).reshape(2, 3))
    t[0, 0] = 9.0
    assert a[0, 0] == 9.0
    assert t.__dlpack_device__() == (1, 0)
    src = np.arange(4, dtype=np.int64)
    u = dm.from_dlpack(src)
    assert u.dtype == dm.int64
    src[2] = 77
    assert u[2].item() == 77
    capsule = t.__dlpack__()
    assert type(capsule).__name__ == "PyCapsule"
    back = dm.from_dlpack(np.from_dlpack(t.T))
    assert back.shape == (3, 2)
    assert_close(back, to_numpy(t).T)


# ---- dtype conversions --------------------------------------------------------------------------


def test_low_precision_casts() -> None:
    x = dm.tensor([1.0, 1.0 / 3.0, 65504.0, 1e-3])
    h = x.half()
    assert h.dtype == dm.float16
    assert_close(h, np.array([1.0, 1.0 / 3.0, 65504.0, 1e-3], dtype=np.float16))
    assert dm.tensor([70000.0]).half().float().item() == float("inf")
    b = x.bfloat16()
    assert b.dtype == dm.bfloat16
    assert b.float().tolist()[:2] == [1.0, 0.333984375]
    assert b.float().tolist()[2] == 65536.0
    assert x.to(dm.float16).dtype == dm.float16
    assert x.to(dtype=dm.bfloat16).to(dm.float32).dtype == dm.float32
    with pytest.raises(dm.DTypeError):
        b.numpy()
    assert h.numpy().dtype == np.float16


def test_int_float_bool_casts() -> None:
    x = dm.tensor([-1.7, 0.0, 2.9])
    assert x.long().tolist() == [-1, 0, 2]
    assert x.int().dtype == dm.int32
    assert x.bool().tolist() == [True, False, True]
    assert x.double().dtype == dm.float64
    assert dm.tensor([True, False]).float().tolist() == [1.0, 0.0]
    assert dm.tensor([3, 4]).float().dtype == dm.float32
    y = x.to(dm.float32, copy=True)
    y[0] = 5.0
    assert x[0].item() == pytest.approx(-1.7)
    assert x.to("cpu").dtype == dm.float32
    assert x.cpu().tolist() == x.tolist()


def test_repr() -> None:
    assert repr(dm.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "requires_grad=True" in repr(dm.ones(2, requires_grad=True))
    assert "float64" in repr(dm.ones(1, dtype=dm.float64))
