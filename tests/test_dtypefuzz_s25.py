"""Dtype rules where democratising differed from PyTorch 2.x (CPU), found by a differential
fuzz in session 25 (binary/in-place ops across all dtype pairs, scalars and 0-d tensors,
reductions, casts, creation, ``out=``) and fixed since. Each test states PyTorch's result as a
constant."""

from __future__ import annotations

from typing import Callable

import pytest

import democratising as dm

# What PyTorch raises for a dtype it refuses: RuntimeError (NotImplementedError is one) or,
# in this project, DTypeError (a TypeError) / a ValueError subclass.
_REFUSED = (TypeError, RuntimeError, ValueError)


# ---- add/sub with a float alpha: alpha must not take part in type promotion -----------------


def test_add_float_alpha_keeps_half_dtype() -> None:
    # torch.add(ones(2, f16), ones(2, i32), alpha=1.5) -> tensor([2.5, 2.5], dtype=float16)
    r = dm.add(dm.ones(2, dtype=dm.float16), dm.ones(2, dtype=dm.int32), alpha=1.5)
    assert r.dtype == dm.float16
    assert r.tolist() == [2.5, 2.5]


def test_sub_float_alpha_keeps_bfloat16_dtype() -> None:
    # torch.sub(ones(2, bf16), tensor([1, 2]), alpha=0.5) -> tensor([0.5, 0.0], dtype=bfloat16)
    r = dm.sub(dm.ones(2, dtype=dm.bfloat16), dm.tensor([1, 2]), alpha=0.5)
    assert r.dtype == dm.bfloat16
    assert r.tolist() == [0.5, 0.0]


def test_sub_bool_tensor_with_alpha_raises() -> None:
    # torch.sub(x, bool_tensor, alpha=2) raises "Subtraction ... with a bool tensor".
    with pytest.raises(_REFUSED):
        dm.sub(dm.tensor([1.0, 2.0]), dm.tensor([True, False]), alpha=2)


@pytest.mark.parametrize("inplace", [False, True])
def test_add_bool_tensor_with_alpha_minus_one(inplace: bool) -> None:
    # torch: tensor([1., 2.]).add(tensor([True, False]), alpha=-1) -> tensor([0., 2.])
    x = dm.tensor([1.0, 2.0])
    b = dm.tensor([True, False])
    r = x.add_(b, alpha=-1) if inplace else x.add(b, alpha=-1)
    assert r.tolist() == [0.0, 2.0]


# ---- in-place subtraction of a bool number on float32/float64 -------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("as_tensor", [False, True])
def test_inplace_sub_bool_number_raises(dtype: str, as_tensor: bool) -> None:
    # torch: x -= True and x.sub_(tensor(True)) raise "Subtraction ... with a bool tensor";
    # dm already raises for float16/bfloat16/int and for the out-of-place x - True.
    x = dm.tensor([1.0, 2.0], dtype=getattr(dm, dtype))
    with pytest.raises(_REFUSED):
        x.sub_(dm.tensor(True) if as_tensor else True)


# ---- addcmul / addcdiv: compute in the promoted dtype of all three operands -----------------


def test_addcmul_multiplies_in_result_dtype() -> None:
    # torch.addcmul(zeros(1), bf16 7.25, bf16 7.25) -> [52.5625] (float32 product)
    r = dm.addcmul(
        dm.zeros(1),
        dm.tensor([7.25], dtype=dm.bfloat16),
        dm.tensor([7.25], dtype=dm.bfloat16),
    )
    assert r.dtype == dm.float32
    assert r.tolist() == [52.5625]


def test_addcdiv_divides_in_result_dtype() -> None:
    # torch.addcdiv(zeros(1), f16 1.0, f16 3.0) -> [0.3333333432674408] (float32 quotient)
    r = dm.addcdiv(
        dm.zeros(1), dm.tensor([1.0], dtype=dm.float16), dm.tensor([3.0], dtype=dm.float16)
    )
    assert r.tolist() == [0.3333333432674408]


def test_addcmul_int32_with_bool_factors_stays_int32() -> None:
    # torch.addcmul(ones(2, i32), ones(2, bool), ones(2, bool), value=2) -> int32 [3, 3]
    b = dm.ones(2, dtype=dm.bool)
    r = dm.addcmul(dm.ones(2, dtype=dm.int32), b, b, value=2)
    assert r.dtype == dm.int32
    assert r.tolist() == [3, 3]


# ---- float16 out-of-range numbers: setitem gives inf in PyTorch -----------------------------


def test_float16_setitem_out_of_range_gives_inf() -> None:
    # torch: t = zeros(2, f16); t[0] = 1e6 -> tensor([inf, 0.])
    t = dm.zeros(2, dtype=dm.float16)
    t[0] = 1e6
    assert t.tolist() == [float("inf"), 0.0]


@pytest.mark.parametrize(
    "fn",
    [
        lambda t: t.fill_(70000),
        lambda t: t.masked_fill(dm.tensor([True, False]), 70000),
    ],
    ids=["fill_", "masked_fill"],
)
def test_float16_fill_out_of_range_raises(fn: Callable[[dm.Tensor], object]) -> None:
    # torch: "value cannot be converted to type c10::Half without overflow"
    with pytest.raises(_REFUSED):
        fn(dm.zeros(2, dtype=dm.float16))


# ---- reductions / clamp that PyTorch accepts -------------------------------------------------


def test_sum_into_integer_out() -> None:
    # torch.sum(tensor([1.5, 2.75]), 0, out=zeros((), int64)) -> tensor(3) (casts input first)
    o = dm.zeros((), dtype=dm.int64)
    dm.sum(dm.tensor([1.5, 2.75]), 0, out=o)
    assert o.item() == 3


def test_clamp_bool_with_int_bounds_promotes() -> None:
    # torch.clamp(tensor([True, False]), min=-2, max=3) -> tensor([1, 0]) (int64)
    r = dm.clamp(dm.tensor([True, False]), min=-2, max=3)
    assert r.dtype == dm.int64
    assert r.tolist() == [1, 0]


def test_bitwise_not_out() -> None:
    # torch.bitwise_not(tensor([1, -2]), out=o) -> o == [-2, 1]
    o = dm.zeros(2, dtype=dm.int64)
    dm.bitwise_not(dm.tensor([1, -2]), out=o)
    assert o.tolist() == [-2, 1]


# ---- calls PyTorch refuses but democratising computes ---------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        lambda: abs(dm.tensor([True, False])),
        lambda: +dm.tensor([True, False]),
        lambda: dm.frac(dm.tensor([1, 2])),
        lambda: dm.argmax(dm.tensor([True, False])),
        lambda: dm.cumsum(dm.tensor([1.0, 2.0]), 0, dtype=dm.bool),
        lambda: dm.linspace(0, 1, 5, dtype=dm.bool),
        lambda: dm.norm(dm.tensor([3, 4])),
    ],
    ids=[
        "abs_bool",
        "pos_bool",
        "frac_int",
        "argmax_bool",
        "cumsum_to_bool",
        "linspace_bool",
        "norm_int",
    ],
)
def test_refused_dtype_combinations_raise(fn: Callable[[], object]) -> None:
    with pytest.raises(_REFUSED):
        fn()
