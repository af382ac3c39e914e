"""Engine semantics checked against PyTorch in session 22 (values below are PyTorch 2.15's):
dtype objects that are singletons, half-precision comparisons with Python numbers, exact float
floor division, reductions in the dtype asked for, and the odd operands PyTorch accepts."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import democratising as dm

DTYPES = [dm.float32, dm.float64, dm.float16, dm.bfloat16, dm.int32, dm.int64, dm.bool]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_each_dtype_is_one_object(dtype: dm.dtype) -> None:
    x = dm.zeros(2, dtype=dtype)
    assert x.dtype is dtype and x[0].dtype is dtype
    assert pickle.loads(pickle.dumps(dtype)) is dtype and copy.deepcopy(dtype) is dtype


def test_default_and_autocast_dtypes_are_the_module_objects() -> None:
    assert dm.get_default_dtype() is dm.float32
    with dm.autocast("cpu", dtype=dm.bfloat16):
        assert dm.get_autocast_dtype("cpu") is dm.bfloat16


@pytest.mark.parametrize("dtype", [dm.float16, dm.bfloat16], ids=str)
def test_half_tensors_compare_with_python_numbers_in_their_own_precision(dtype: dm.dtype) -> None:
    t = dm.full((1,), 0.1, dtype=dtype)
    assert (t == 0.1).item() and not (t != 0.1).item()
    assert not (t < 0.1).item() and (t >= 0.1).item() and t.eq(0.1).item()
    assert (t == dm.tensor(0.1, dtype=dm.float64)).item()  # a 0-d tensor is a number too
    assert (dm.tensor([3.0], dtype=dtype) == dm.tensor([3])).item()


def test_float_floor_division_is_exact_as_python_s() -> None:
    assert (dm.tensor([1.0]) // 0.1).item() == 9.0
    assert dm.floor_divide(dm.tensor([-1.0]), float("inf")).item() == -1.0
    assert dm.tensor([1.0]).div(0.1, rounding_mode="floor").item() == 9.0
    rng = np.random.default_rng(0)
    a = np.round(rng.uniform(-10, 10, 2000), 1)
    b = np.round(rng.uniform(-3, 3, 2000), 1)
    b[b == 0] = 0.7
    got = (dm.tensor(a) // dm.tensor(b)).numpy()
    np.testing.assert_array_equal(got, [x // y for x, y in zip(a.tolist(), b.tolist())])
    # `//` and `%` agree: a == (a // b) * b + a % b
    ta, tb = dm.tensor(a), dm.tensor(b)
    np.testing.assert_allclose(((ta // tb) * tb + ta % tb).numpy(), a, atol=1e-9)
    zero = dm.tensor([1.0, -1.0, 0.0]) // 0.0
    assert zero[0].item() == float("inf") and zero[1].item() == float("-inf")
    assert np.isnan(zero[2].item())
    assert str(dm.tensor([-0.5]) // 2.0) == str(dm.tensor([-1.0]))
    assert np.signbit((dm.tensor([-0.5]) // float("inf")).numpy()).tolist() == [True]


def test_sum_returns_the_dtype_asked_for() -> None:
    x = dm.tensor([1.5, 2.0])
    assert x.sum(dtype=dm.int32).dtype is dm.int32 and x.sum(dtype=dm.int32).item() == 3
    b = dm.tensor([[0, 2], [0, 0]]).sum(0, dtype=dm.bool)
    assert b.dtype is dm.bool and b.tolist() == [False, True]
    assert dm.tensor([1, 2], dtype=dm.int32).sum().dtype is dm.int64  # (no dtype: int64)


def test_odd_operands_pytorch_accepts() -> None:
    x = dm.tensor([1.0, 2.0], dtype=dm.float16)
    assert x.to(None).dtype is dm.float16 and x.to(None, dm.float32).dtype is dm.float32
    assert (x == "a") is False and (x != "a") is True
    i = dm.tensor([3, 1, 2])
    c = i.clamp(min=np.float32(2.5))
    assert c.dtype is dm.float32 and c.tolist() == [3.0, 2.5, 2.5]
    assert i.clamp(min=np.int64(2)).tolist() == [3, 2, 2]


def test_cat_promotes_with_the_legacy_empty_tensor() -> None:
    # `acc = torch.tensor([])` then `acc = torch.cat([acc, preds])`: float32, as in PyTorch.
    preds = dm.tensor([[1, 2]])
    out = dm.cat([dm.tensor([]), preds])
    assert out.dtype is dm.float32 and out.shape == (1, 2) and out.tolist() == [[1.0, 2.0]]
    assert dm.cat([dm.tensor([1, 2]), dm.tensor([])]).dtype is dm.float32


def test_add_with_alpha_keeps_an_integer_or_bool_result_type() -> None:
    b = dm.tensor([True, False])
    r = dm.add(b, b, alpha=2)
    assert r.dtype is dm.bool and r.tolist() == [True, False]
    i = dm.tensor([1, 2], dtype=dm.int32)
    r = dm.add(i, b, alpha=2)
    assert r.dtype is dm.int32 and r.tolist() == [3, 2]
    assert dm.sub(i, i, alpha=2).tolist() == [-1, -2]


@pytest.mark.parametrize(
    "t",
    [
        dm.tensor(3.5),
        dm.tensor(True),
        dm.arange(6).reshape(2, 3),
        dm.arange(12.0).reshape(3, 4).T,  # a strided view
        dm.tensor([[True, False]]),
        dm.zeros(2, 0, 3),
        dm.tensor([0.1], dtype=dm.float16),
        dm.ones(2, dtype=dm.bfloat16),
    ],
    ids=["f32-0d", "bool-0d", "int", "view", "bool", "empty", "f16", "bf16"],
)
def test_tolist_builds_the_numbers_numpy_would(t: dm.Tensor) -> None:
    want = (t.float() if t.dtype in (dm.float16, dm.bfloat16) else t).numpy().tolist()
    got = t.tolist()
    assert got == want and type(got) is type(want)
