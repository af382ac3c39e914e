"""Tensor creation, type promotion and indexing against PyTorch 2.15: the expected values were
computed with torch and are hard-coded here (the test suite does not depend on torch)."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm

# ---- bitwise operators: & | ^ ~ on integer tensors are bitwise, as in PyTorch ---------------


@pytest.mark.parametrize(
    ("expr", "dtype", "values"),
    [
        # torch: tensor([6]) & tensor([3]) -> tensor([2]) (the engine's logical & gave True)
        (lambda: dm.tensor([6]) & dm.tensor([3]), dm.int64, [2]),
        (lambda: dm.tensor([6]) | dm.tensor([3]), dm.int64, [7]),
        (lambda: dm.tensor([6]) ^ dm.tensor([3]), dm.int64, [5]),
        (lambda: dm.tensor([True]) & 1, dm.int64, [1]),
        (lambda: dm.tensor([True]) & True, dm.bool, [True]),
        (lambda: dm.tensor([6]) & True, dm.int64, [0]),
        (lambda: 1 & dm.tensor([3]), dm.int64, [1]),
        (lambda: True | dm.tensor([2]), dm.int64, [3]),
        (lambda: dm.tensor([6], dtype=dm.int32) ^ 3, dm.int32, [5]),
        (lambda: dm.tensor([True]) ^ dm.tensor([3]), dm.int64, [2]),
        (lambda: ~dm.tensor([5], dtype=dm.int32), dm.int32, [-6]),
        (lambda: ~dm.tensor([5, -1]), dm.int64, [-6, 0]),
        (lambda: ~dm.tensor([True, False]), dm.bool, [False, True]),
        (lambda: dm.tensor([True, False]) | dm.tensor([False, False]), dm.bool, [True, False]),
        (lambda: dm.tensor([True, True]) ^ dm.tensor([True, False]), dm.bool, [False, True]),
    ],
)
def test_bitwise_operators_match_torch(expr, dtype, values) -> None:  # type: ignore[no-untyped-def]
    out = expr()
    assert out.dtype == dtype
    assert out.tolist() == values


def test_bitwise_operators_reject_floats_like_torch() -> None:
    # torch: NotImplementedError "bitwise_and_cpu" not implemented for 'Float' (a RuntimeError);
    # ~float: TypeError "~ (operator.invert) is only implemented on integer and Boolean-type".
    with pytest.raises(RuntimeError):
        dm.tensor([1.0]) & 1
    with pytest.raises(RuntimeError):
        dm.tensor([6]) | 1.5
    with pytest.raises(RuntimeError):
        dm.tensor([True]) & dm.tensor([1.0])
    with pytest.raises(TypeError):
        ~dm.tensor([1.0])


def test_inplace_bitwise_still_in_place() -> None:
    x = dm.tensor([6, 5])
    view = x[:]
    x &= 3
    assert x.tolist() == [2, 1] and view.tolist() == [2, 1]
    m = dm.tensor([True, False])
    m |= dm.tensor([False, True])
    assert m.tolist() == [True, True] and m.dtype == dm.bool


# ---- asarray ---------------------------------------------------------------------------------


def test_asarray_shares_numpy_memory_unless_copy() -> None:
    a = np.arange(3.0)
    t = dm.asarray(a)
    assert t.dtype == dm.float64
    t[0] = 9.0
    assert a.tolist() == [9.0, 1.0, 2.0]
    c = dm.asarray(a, copy=True)
    c[1] = 7.0
    assert a.tolist() == [9.0, 1.0, 2.0]


@pytest.mark.parametrize(
    ("obj", "kwargs", "dtype", "values"),
    [
        (3.5, {}, dm.float32, 3.5),
        ([1, 2.5], {}, dm.float32, [1.0, 2.5]),
        ([1, 2], {}, dm.int64, [1, 2]),
        (np.float64(2), {}, dm.float64, 2.0),
        (np.arange(3, dtype=np.int32), {}, dm.int32, [0, 1, 2]),
        (np.arange(3, dtype=np.int32), {"dtype": dm.float64}, dm.float64, [0.0, 1.0, 2.0]),
        ([True, False], {}, dm.bool, [True, False]),
    ],
)
def test_asarray_values_and_dtypes(obj, kwargs, dtype, values) -> None:  # type: ignore[no-untyped-def]
    out = dm.asarray(obj, **kwargs)
    assert out.dtype == dtype
    assert out.tolist() == values


def test_asarray_of_tensor_aliases_and_keeps_requires_grad() -> None:
    x = dm.ones(2, requires_grad=True)
    assert dm.asarray(x) is x  # torch 2.15: requires_grad defaults to obj's
    assert dm.asarray(x * 2).grad_fn is not None
    assert not dm.asarray(x, requires_grad=False).requires_grad
    y = dm.asarray(dm.ones(2), requires_grad=True)
    assert y.requires_grad and y.is_leaf
    z = dm.asarray(x, dtype=dm.float64)  # torch: a detached conversion
    assert z.dtype == dm.float64 and not z.requires_grad and z.grad_fn is None
    w = dm.asarray(x, copy=True)
    assert w is not x and not w.requires_grad
    w[0] = 5.0
    assert x.tolist() == [1.0, 1.0]
    base = dm.zeros(3)
    dm.asarray(base)[1] = 4.0
    assert base.tolist() == [0.0, 4.0, 0.0]


def test_asarray_copy_false_raises_where_it_must_copy() -> None:
    # torch: ValueError "can't alias arbitrary sequence into a tensor." / "... with dtype ..."
    with pytest.raises(ValueError, match="alias"):
        dm.asarray([1, 2], copy=False)
    with pytest.raises(ValueError, match="alias"):
        dm.asarray(dm.ones(2), dtype=dm.int64, copy=False)
    with pytest.raises(ValueError, match="alias"):
        dm.asarray(np.arange(3), dtype=dm.float32, copy=False)


# ---- *_like take PyTorch's keyword `input` ---------------------------------------------------


def test_like_functions_accept_input_keyword() -> None:
    x = dm.tensor([1.0, 2.0])
    assert dm.ones_like(input=x).tolist() == [1.0, 1.0]
    assert dm.zeros_like(input=x, dtype=dm.int64).tolist() == [0, 0]
    assert dm.full_like(input=x, fill_value=3).tolist() == [3.0, 3.0]
    assert dm.empty_like(input=x).shape == (2,)
    assert dm.rand_like(input=x).shape == (2,)
    assert dm.randn_like(input=x).dtype == dm.float32


# ---- repeated indices ------------------------------------------------------------------------


def test_setitem_repeated_index_gradient_matches_torch() -> None:
    # torch gives every repeat its target's gradient (v.grad [1., 1., 3.]); x gets zero where
    # it was overwritten.
    x = dm.zeros(5, requires_grad=True)
    v = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    y[dm.tensor([0, 0, 2])] = v
    (y * (dm.arange(5.0) + 1)).sum().backward()
    assert y.tolist() == [2.0, 0.0, 3.0, 0.0, 0.0]
    assert x.grad.tolist() == [0.0, 2.0, 0.0, 4.0, 5.0]
    assert v.grad.tolist() == [1.0, 1.0, 3.0]


def test_index_put_accumulate_repeats_match_torch() -> None:
    out = dm.zeros(5).index_put_((dm.tensor([0, 0, 1, 3, 3, 3]),), dm.tensor(1.0), accumulate=True)
    assert out.tolist() == [2.0, 1.0, 0.0, 3.0, 0.0]
    x = dm.zeros(5, requires_grad=True)
    v = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.clone().index_put_((dm.tensor([0, 0, 2]),), v * 1, accumulate=True)
    (y * (dm.arange(5.0) + 1)).sum().backward()
    assert y.tolist() == [3.0, 0.0, 3.0, 0.0, 0.0]
    assert x.grad.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert v.grad.tolist() == [1.0, 1.0, 3.0]
    # x[idx] += 1 does not accumulate repeats (torch: [1., 1., 0., 1., 0.])
    z = dm.zeros(5)
    z[dm.tensor([0, 0, 1, 3, 3, 3])] += 1
    assert z.tolist() == [1.0, 1.0, 0.0, 1.0, 0.0]


# ---- dtype inference from NumPy scalars inside lists -------------------------------------------


@pytest.mark.parametrize(
    ("data", "dtype", "values"),
    [
        # torch: a NumPy float64 joins the promotion (float64); Python floats take the default
        ([np.float64(1.5), np.float64(2)], dm.float64, [1.5, 2.0]),
        ([np.float64(1.5), 2.0], dm.float64, [1.5, 2.0]),
        ([np.float64(1), 2], dm.float64, [1.0, 2.0]),
        ([[np.float64(1)], [2.0]], dm.float64, [[1.0], [2.0]]),
        ([np.array([1.0]), np.array([2.0])], dm.float64, [[1.0], [2.0]]),
        ((np.float64(0.1),), dm.float64, [0.1]),
        ([np.float32(1.5), 2.0], dm.float32, [1.5, 2.0]),
        ([np.float16(1.5), 2.0], dm.float32, [1.5, 2.0]),
        ([1.5, 2.0], dm.float32, [1.5, 2.0]),
        ([np.int32(1), 2], dm.int64, [1, 2]),
        ([np.int32(1), 2.5], dm.float32, [1.0, 2.5]),
        ([dm.tensor(1.0, dtype=dm.float64), 2.0], dm.float64, [1.0, 2.0]),
    ],
)
def test_tensor_dtype_inference_from_numpy_scalars(data, dtype, values) -> None:  # type: ignore[no-untyped-def]
    out = dm.tensor(data)
    assert out.dtype == dtype
    assert out.tolist() == values


def test_tensor_numpy_float64_under_float64_default() -> None:
    old = dm.get_default_dtype()
    dm.set_default_dtype(dm.float64)
    try:
        assert dm.tensor([1.5]).dtype == dm.float64
        assert dm.tensor([np.float32(1.5)]).dtype == dm.float32
    finally:
        dm.set_default_dtype(old)
    assert dm.tensor([1.5]).dtype == dm.float32


# ---- a bool scalar indexing a 0-d tensor; leading size-1 dims of an assigned value ------------


@pytest.mark.parametrize(
    ("key", "shape", "values"),
    [
        (True, (1,), [5]),  # torch: tensor(5)[True] -> tensor([5])
        (False, (0,), []),
        ((None, True), (1, 1), [[5]]),
        ((True, None), (1, 1), [[5]]),
        (np.bool_(True), (1,), [5]),
    ],
)
def test_zero_d_bool_scalar_index_matches_torch(key, shape, values) -> None:  # type: ignore[no-untyped-def]
    out = dm.tensor(5)[key]
    assert out.shape == shape and out.tolist() == values


def test_zero_d_bool_mask_matches_torch() -> None:
    x = dm.tensor(5)
    assert x[x > 3].tolist() == [5] and x[x > 6].shape == (0,)
    assert x[dm.tensor(True)].shape == (1,)
    x[x > 3] = 7
    assert x.item() == 7
    x[True] = 8
    assert x.item() == 8
    x[False] = 9
    assert x.item() == 8
    with pytest.raises(IndexError):
        dm.tensor(5)[0]


def test_zero_d_bool_index_gradients_match_torch() -> None:
    x = dm.tensor(3.0, requires_grad=True)
    (x[True] * 2).sum().backward()
    assert x.grad.item() == 2.0
    x = dm.tensor(3.0, requires_grad=True)
    v = dm.tensor(4.0, requires_grad=True)
    z = x * 1
    z[True] = v * 3
    (z * 2).backward()
    assert (x.grad.item(), v.grad.item(), z.item()) == (0.0, 6.0, 12.0)


def test_setitem_drops_leading_ones_of_value_like_torch() -> None:
    x = dm.zeros(3, 4)
    x[0] = dm.ones(1, 4)
    x[1:3] = dm.full((1, 1, 4), 2.0)
    assert x.tolist() == [[1.0] * 4, [2.0] * 4, [2.0] * 4]
    y = dm.arange(24).reshape(2, 3, 4)
    y[0, 0] = dm.tensor([[1, 2, 3, 4]])
    assert y[0, 0].tolist() == [1, 2, 3, 4]
    # torch: RuntimeError for a value that does not fit once its leading 1s are dropped
    with pytest.raises(RuntimeError):
        x[0] = dm.ones(2, 4)
    with pytest.raises(RuntimeError):
        x[0] = dm.ones(1, 2, 4)


def test_setitem_leading_ones_gradient_matches_torch() -> None:
    a = dm.zeros(3, 4, requires_grad=True)
    b = dm.arange(4.0).reshape(1, 4).requires_grad_()
    c = a * 1
    c[1] = b * 2
    (c * (dm.arange(12.0).reshape(3, 4) + 1)).sum().backward()
    assert c.tolist() == [[0.0] * 4, [0.0, 2.0, 4.0, 6.0], [0.0] * 4]
    assert a.grad.tolist() == [[1.0, 2.0, 3.0, 4.0], [0.0] * 4, [9.0, 10.0, 11.0, 12.0]]
    assert b.grad.tolist() == [[10.0, 12.0, 14.0, 16.0]]


# ---- randperm / randint keywords -------------------------------------------------------------


def test_randperm_takes_torch_keywords() -> None:
    p = dm.randperm(5, dtype=dm.int32, device="cpu", requires_grad=False, pin_memory=False)
    assert p.dtype == dm.int32 and sorted(p.tolist()) == [0, 1, 2, 3, 4]
    f = dm.randperm(4, dtype=dm.float32, requires_grad=True)
    assert f.dtype == dm.float32 and f.requires_grad and f.is_leaf
    assert sorted(f.tolist()) == [0.0, 1.0, 2.0, 3.0]
    assert dm.randperm(0, dtype=dm.int32).shape == (0,)
    g1 = dm.randperm(10, generator=dm.Generator().manual_seed(3), dtype=dm.int32)
    g2 = dm.randperm(10, generator=dm.Generator().manual_seed(3))
    assert g1.tolist() == g2.tolist()
    # torch: RuntimeError "Only Tensors of floating point and complex dtype can require gradients"
    with pytest.raises(RuntimeError):
        dm.randperm(4, requires_grad=True)


def test_randint_takes_requires_grad() -> None:
    assert not dm.randint(0, 5, (2,), requires_grad=False).requires_grad
    r = dm.randint(0, 5, (3,), dtype=dm.float32, requires_grad=True)
    assert r.requires_grad and r.dtype == dm.float32
    assert dm.randint(5, size=(2,), pin_memory=False).shape == (2,)
    with pytest.raises(RuntimeError):
        dm.randint(0, 5, (2,), requires_grad=True)


# ---- empty_strided ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "stride"),
    [
        ((2, 3), (3, 1)),
        ((2, 3), (1, 2)),
        ((2, 3, 4, 5), (60, 1, 15, 3)),
        ((2, 1), (1, 1)),
        ((), ()),
    ],
)
def test_empty_strided_dense_layouts_match_torch(size, stride) -> None:  # type: ignore[no-untyped-def]
    t = dm.empty_strided(size, stride)
    assert t.shape == size and t.stride() == stride and t.dtype == dm.float32


def test_empty_strided_options_and_errors() -> None:
    t = dm.empty_strided((2, 3, 4, 5), (60, 1, 15, 3), dtype=dm.float64, requires_grad=True)
    assert t.is_contiguous(memory_format=dm.channels_last)
    assert t.dtype == dm.float64 and t.requires_grad and t.is_leaf
    # torch: RuntimeError "dimensionality of sizes (2) must match dimensionality of strides (1)"
    with pytest.raises(RuntimeError, match="dimensionality"):
        dm.empty_strided((2, 3), (1,))
