"""Defects from the hardening audit (issue 13, items 4, 6, 7 (threads), 9 and 11): each test
failed before its fix. Bool bytes from NumPy, integer overflow, numerics, in-place writes into
expanded views, negative gather indices, optimizer parameters, and the messages users see."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising.errors import (
    DemocratisingError,
    DTypeError,
    IndexOutOfRangeError,
    InvalidValueError,
    OverflowValueError,
    ShapeError,
)

# ---- item 4: NumPy bool arrays whose bytes are not 0/1 ----------------------------------------


def _odd_bools() -> np.ndarray:
    return np.array([2, 0, 1, 255], np.uint8).view(bool)


def test_from_numpy_normalises_bool_bytes() -> None:
    t = dm.from_numpy(_odd_bools())
    assert t.sum().item() == 3
    assert (~t).tolist() == [False, True, False, False]
    assert t.long().tolist() == [1, 0, 1, 1]
    x = dm.arange(4.0)
    assert x[t].tolist() == [0.0, 2.0, 3.0]


def test_tensor_normalises_bool_bytes() -> None:
    assert dm.tensor(_odd_bools()).long().tolist() == [1, 0, 1, 1]
    strided = np.array([2, 7, 0, 7, 1, 7], np.uint8).view(bool)[::2]
    assert dm.from_numpy(strided).int().tolist() == [1, 0, 1]


def test_clean_bool_arrays_still_share_memory() -> None:
    b = np.array([True, False, True])
    t = dm.from_numpy(b)
    b[1] = True
    assert t.tolist() == [True, True, True]


# ---- item 6: integers are exact or raise ------------------------------------------------------


def test_integer_arange_is_exact() -> None:
    big = 2**53
    assert dm.arange(big + 1, big + 4).tolist() == [big + 1, big + 2, big + 3]
    assert dm.arange(2**62, 2**62 + 5).tolist() == [2**62 + i for i in range(5)]
    assert dm.arange(10, 0, -3).tolist() == [10, 7, 4, 1]
    assert dm.arange(-(2**63), -(2**63) + 2**62 * 3, 2**62).tolist() == [
        -(2**63),
        -(2**62),
        0,
    ]
    assert dm.arange(3, dtype=dm.float32).tolist() == [0.0, 1.0, 2.0]
    assert dm.arange(0).numel() == 0
    with pytest.raises(OverflowValueError):
        dm.arange(2**31 - 2, 2**31 + 2, dtype=dm.int32)


@pytest.mark.parametrize(
    "make",
    [
        lambda: dm.tensor([2**63]),
        lambda: dm.tensor([-(2**63) - 1]),
        lambda: dm.tensor([2**64 - 1]),
        lambda: dm.tensor([1, 2**70]),
        lambda: dm.tensor(np.array([2**64 - 1], np.uint64)),
        lambda: dm.tensor([2**40], dtype=dm.int32),
        lambda: dm.tensor(np.array([2**40]), dtype="int32"),
        lambda: dm.tensor([1e30], dtype=dm.int64),
        lambda: dm.tensor([float("nan")], dtype=dm.int32),
        lambda: dm.tensor([1]) + 2**64,
        lambda: dm.full((2,), 2**40, dtype=dm.int32),
        lambda: dm.full((2,), 1e6, dtype=dm.float16),
        lambda: dm.full((2,), float("inf"), dtype=dm.int64),
        lambda: dm.zeros(2, dtype=dm.int32).fill_(2**40),
        lambda: dm.zeros(2, dtype=dm.int32).masked_fill(dm.ones(2, dtype=dm.bool), 2**31),
    ],
)
def test_values_that_do_not_fit_raise(make) -> None:
    with pytest.raises(OverflowValueError) as e:
        make()
    # One class for every case: NumPy's OverflowError and PyTorch's RuntimeError.
    assert isinstance(e.value, OverflowError) and isinstance(e.value, RuntimeError)


def test_integer_arithmetic_wraps_a_number_beyond_the_dtype() -> None:
    """As PyTorch (``int32 + 2**40`` adds 0): the number is wrapped into the tensor's dtype."""
    assert (dm.tensor([1], dtype=dm.int32) + 2**40).tolist() == [1]
    assert (dm.tensor([1], dtype=dm.int32) * -(2**33)).tolist() == [0]


def test_indexed_assignment_checks_the_range() -> None:
    t = dm.zeros(3, dtype=dm.int32)
    with pytest.raises(OverflowValueError):
        t[0] = 2**40
    t[0] = 2**31 - 1
    assert t.tolist() == [2**31 - 1, 0, 0]


def test_values_that_fit_are_exact() -> None:
    big = 2**53 + 1
    assert dm.full((2,), big).tolist() == [big, big]
    assert dm.zeros(1, dtype=dm.int64).fill_(big).item() == big
    assert dm.tensor([2**63 - 1]).item() == 2**63 - 1
    assert dm.tensor(np.array([2**63 - 1], np.uint64)).item() == 2**63 - 1
    assert dm.full((1,), -(2**31), dtype=dm.int32).item() == -(2**31)
    assert (dm.tensor([3], dtype=dm.int32) + 4).dtype == dm.int32
    assert dm.full((1,), float("-inf"), dtype=dm.float16).item() == float("-inf")


def test_comparing_int32_with_a_big_int_wraps_it_as_pytorch() -> None:
    t = dm.tensor([0, 5], dtype=dm.int32)
    # 2**40 wrapped to int32 is 0, and PyTorch compares with that (torch 2.15: [True, False]).
    assert (t == 2**40).tolist() == [True, False]
    assert (t < 2**40).tolist() == [False, False]
    assert (t > 2**40).tolist() == [False, True]


def test_casting_a_tensor_keeps_wrapping() -> None:
    # Explicit casts of existing tensors follow C (as NumPy's astype and PyTorch's .to).
    assert dm.tensor([2**40 + 3]).to(dm.int32).item() == 3


# ---- item 7: thread requests ------------------------------------------------------------------


def test_huge_rayon_thread_request_is_lowered() -> None:
    env = dict(os.environ, RAYON_NUM_THREADS="100000")
    code = (
        "import democratising as dm;"
        "print(dm._core._system_info()['rayon_threads']);"
        "print((dm.ones(300, 300) @ dm.ones(300, 300)).sum().item())"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    threads, total = r.stdout.split()
    assert int(threads) <= 4 * len(os.sched_getaffinity(0))
    assert float(total) == 300.0**3
    assert "RAYON_NUM_THREADS=100000" in r.stderr


# ---- item 9: numerics and acceptance ----------------------------------------------------------


def test_logsumexp_with_infinities() -> None:
    inf = float("inf")
    assert dm.tensor([inf, 1.0]).logsumexp(0).item() == inf
    assert dm.tensor([inf, -inf]).logsumexp(0).item() == inf
    assert dm.tensor([-inf, -inf]).logsumexp(0).item() == -inf
    assert np.isnan(dm.tensor([inf, float("nan")]).logsumexp(0).item())
    rows = dm.tensor([[inf, 1.0], [0.0, 0.0]], dtype=dm.float64).logsumexp(1)
    assert rows.tolist() == [inf, np.log(2.0)]


def test_optimizer_refuses_duplicate_parameters() -> None:
    p = dm.nn.Parameter(dm.zeros(2))
    with pytest.warns(UserWarning, match="duplicate parameters"):  # PyTorch warns; kept once
        assert dm.optim.SGD([p, p], lr=0.1).param_groups[0]["params"] == [p]
    with pytest.raises(ValueError, match="more than one parameter group"):
        dm.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def test_optimizer_refuses_non_leaf_tensors() -> None:
    w = dm.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="non-leaf"):
        dm.optim.Adam([w * 2], lr=0.1)


@pytest.mark.parametrize(
    "write",
    [
        lambda t: t.add_(1),
        lambda t: t.mul_(2),
        lambda t: t.copy_(dm.ones(4, 3)),
        lambda t: t.__setitem__(slice(None), dm.ones(3)),
    ],
)
def test_in_place_write_into_an_expanded_view_raises(write) -> None:
    base = dm.zeros(1, 3)
    with pytest.raises(InvalidValueError, match="single memory location"):
        write(base.expand(4, 3))
    assert base.tolist() == [[0.0, 0.0, 0.0]]
    # A constant is let through, as PyTorch's `fill_`/`zero_`/`x[...] = number` do
    # (tests/test_session49_fixes.py).
    base.expand(4, 3).fill_(1)
    assert base.tolist() == [[1.0, 1.0, 1.0]]


def test_in_place_on_ordinary_views_still_works() -> None:
    base = dm.zeros(2, 3)
    base[:, 1].add_(1)
    base.t().mul_(2)
    assert base.tolist() == [[0.0, 2.0, 0.0], [0.0, 2.0, 0.0]]
    one = dm.zeros(1, 3).expand(1, 3)
    one.add_(1)  # a size-1 dim with stride 0 holds one element per location
    assert one.tolist() == [[1.0, 1.0, 1.0]]


def test_gather_and_scatter_add_refuse_negative_indices() -> None:
    x = dm.arange(5.0)
    with pytest.raises(IndexOutOfRangeError, match="-1"):
        x.gather(0, dm.tensor([-1]))
    with pytest.raises(IndexOutOfRangeError):
        dm.gather(x, 0, dm.tensor([0, -5]))
    with pytest.raises(IndexOutOfRangeError):
        dm.zeros(5).scatter_add(0, dm.tensor([-1]), dm.ones(1))
    assert x.gather(0, dm.tensor([4, 0])).tolist() == [4.0, 0.0]


# ---- item 11: messages ------------------------------------------------------------------------


def test_unknown_dtypes_are_named_as_dtypes() -> None:
    with pytest.raises(DTypeError, match="float8"):
        dm.tensor([1.0], dtype="float8")
    with pytest.raises(DTypeError, match="complex64"):
        dm.tensor([1.0], dtype=np.complex64)
    with pytest.raises(DTypeError, match="float8"):
        dm.ones(2).to("float8")
    with pytest.raises(dm.DeviceError):
        dm.ones(2).to("cuda:x")


def test_slices_past_the_machine_word_clamp() -> None:
    x = dm.arange(5.0)
    assert x[-(10**20) : 10**20].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert x[10**20 :].numel() == 0
    assert x[: -(10**20)].numel() == 0
    assert x[:: 10**20].tolist() == [0.0]


def test_negative_geometry_is_a_typed_error() -> None:
    with pytest.raises(InvalidValueError, match="padding"):
        dm.nn.Conv2d(1, 1, 3, padding=-1)
    with pytest.raises(InvalidValueError, match="stride"):
        dm.nn.Conv2d(1, 1, 3, stride=0)
    with pytest.raises(InvalidValueError, match="padding"):
        dm.nn.Conv1d(1, 1, 3, padding=-2)
    x, w = dm.randn(1, 1, 5, 5), dm.randn(1, 1, 3, 3)
    with pytest.raises(InvalidValueError, match="padding"):
        F.conv2d(x, w, padding=-1)
    with pytest.raises(InvalidValueError, match="kernel_size"):
        F.max_pool2d(x, 0)
    with pytest.raises(InvalidValueError, match="stride"):
        F.avg_pool2d(x, 2, stride=-1)


def test_numbers_where_a_tensor_is_required() -> None:
    with pytest.raises(TypeError, match=r"tril\(\): argument 'input'.*not int"):
        dm.tril(5)
    with pytest.raises(TypeError, match="Tensor"):
        dm.sort(3.0)
    with pytest.raises(TypeError, match="__dlpack__"):
        dm.from_dlpack(5)


# The seven call patterns in which NumPy's own ValueError escaped.
@pytest.mark.parametrize(
    "call",
    [
        lambda x: dm.repeat_interleave(x, dm.tensor([1, 2]), dim=0),
        lambda x: dm.repeat_interleave(x, -1),
        lambda x: dm.masked_select(x, dm.ones(5, dtype=dm.bool)),
        lambda x: dm.broadcast_tensors(x, dm.randn(5)),
        lambda x: dm.isclose(x, dm.randn(5)),
        lambda x: dm.allclose(x, dm.randn(5)),
        lambda x: F.cosine_similarity(x, dm.randn(5, 4)),
        lambda x: dm.tensor([[1, 2], [3]]),
        lambda x: dm.tensor(["a", "b"]),
    ],
)
def test_numpy_errors_do_not_leak(call) -> None:
    with pytest.raises(DemocratisingError) as e:
        call(dm.randn(3, 4))
    assert isinstance(e.value, (ShapeError, InvalidValueError, DTypeError))


def test_normalize_with_p_zero_counts_nonzeros() -> None:
    x = dm.tensor([[3.0, 0.0, 4.0]])
    assert F.normalize(x, p=0).tolist() == [[1.5, 0.0, 2.0]]
    assert dm.broadcast_shapes((3, 1), (1, 4)) == (3, 4)


# ---- review follow-ups: the same rules through every entry point ------------------------------


def test_numpy_scalars_follow_the_python_number_rules() -> None:
    i32 = dm.tensor([1, 2], dtype=dm.int32)
    # arithmetic wraps the number into int32, as PyTorch: 2**40 + 5 is 5 there
    assert (i32 + np.int64(2**40 + 5)).tolist() == [6, 7]
    assert (i32 == np.int64(2**40)).tolist() == [False, False]
    assert (i32 + np.int32(3)).tolist() == [4, 5]
    assert (i32 + np.int64(3)).dtype == dm.int32
    assert (dm.ones(2) * np.float64(2.5)).tolist() == [2.5, 2.5]
    # A one-element array is an array, not a scalar: it broadcasts with its own shape.
    assert tuple((dm.ones(3) + np.array([[5.0]])).shape) == (1, 3)
    t = dm.zeros(2, dtype=dm.int32)
    with pytest.raises(OverflowValueError):
        t[0] = np.int64(2**40 + 5)


def test_clamp_and_where_check_integer_ranges() -> None:
    i32 = dm.tensor([1, 2], dtype=dm.int32)
    with pytest.raises(OverflowValueError):
        i32.clamp(min=2**40 + 5)
    with pytest.raises(OverflowValueError):
        dm.where(dm.tensor([False, False]), i32, 2**40 + 5)
    with pytest.raises(OverflowValueError):
        dm.tensor([1, 2]).clamp(min=2**70)
    assert i32.clamp(min=2).tolist() == [2, 2]
    assert dm.ones(2).clamp(max=1e300).tolist() == [1.0, 1.0]


def test_integer_sub_and_scaled_add_keep_the_dtype() -> None:
    assert dm.tensor([5]).sub(3).tolist() == [2]
    assert dm.tensor([5]).sub(3).dtype == dm.int64
    t = dm.tensor([5], dtype=dm.int32)
    t -= 3
    assert t.tolist() == [2] and t.dtype == dm.int32
    assert dm.tensor([5]).add(dm.tensor([2]), alpha=2).tolist() == [9]
    assert dm.tensor([5.0]).add(dm.tensor([2.0]), alpha=0.5).tolist() == [6.0]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (lambda: dm.tensor([0]), [1.0, 1.0, 1.0]),
        (lambda: dm.tensor([True, False, True, False]), [1.0, 1.0, 1.0]),
        (lambda: (slice(None), dm.tensor([1])), [0.0, 1.0, 0.0]),
        (lambda: (dm.tensor([0, 1]), dm.tensor([1, 2])), [0.0, 1.0, 1.0]),
    ],
)
def test_advanced_index_writes_of_a_number_into_an_expanded_view(key, expected) -> None:  # type: ignore[no-untyped-def]
    # PyTorch writes a number through any key (each shared location once); a tensor of
    # values is refused.
    base = dm.zeros(1, 3)
    base.expand(4, 3)[key()] = 1.0
    assert base.tolist() == [expected]
    with pytest.raises(InvalidValueError, match="single memory location"):
        base.expand(4, 3)[key()] = dm.ones(())


@pytest.mark.parametrize("layer", ["Conv1d", "Conv2d"])
def test_conv_layers_refuse_zero_groups_with_a_value_error(layer: str) -> None:
    import democratising.nn as nn

    with pytest.raises(ValueError, match="groups must be a positive integer"):
        getattr(nn, layer)(4, 4, 3, groups=0)


def test_a_float_dtype_holds_its_largest_value_and_no_more() -> None:
    # As in PyTorch: a finite number beyond the dtype's largest value fails; the value fits.
    f32max = float(np.finfo(np.float32).max)
    assert dm.full((), f32max, dtype=dm.float32).item() == f32max
    assert dm.full((1,), 65504.0, dtype=dm.float16).tolist() == [65504.0]
    assert dm.full((1,), -65504.0, dtype=dm.float16).tolist() == [-65504.0]
    with pytest.raises(OverflowValueError):
        dm.full((1,), 65505.0, dtype=dm.float16)
    with pytest.raises(OverflowValueError):
        dm.full((1,), 1e39, dtype=dm.float32)
    with pytest.raises(OverflowValueError):
        dm.full((1,), f32max, dtype=dm.bfloat16)  # beyond bfloat16's largest, 3.39e38
    assert dm.full((1,), float("inf"), dtype=dm.float16).tolist() == [float("inf")]


def test_scatter_add_gives_a_src_larger_than_the_index_a_gradient_of_its_shape() -> None:
    # PyTorch allows index.size(d) <= src.size(d): src entries the index does not reach get a
    # zero gradient, and the gradient has src's shape.
    src = dm.tensor(np.arange(15, dtype=np.float64).reshape(3, 5), requires_grad=True)
    index = dm.tensor([[0, 1, 2, 0, 1]])
    out = dm.zeros(3, 5, dtype=dm.float64).scatter_add(0, index, src)
    w = dm.tensor(np.arange(15, dtype=np.float64).reshape(3, 5) + 1)
    (out * w).sum().backward()
    want = np.zeros((3, 5))
    want[0] = w.numpy()[[0, 1, 2, 0, 1], np.arange(5)]
    np.testing.assert_array_equal(src.grad.numpy(), want)
