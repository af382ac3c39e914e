"""Known divergences from PyTorch in the shape, ordering and search ops, found by a seeded
differential fuzz against PyTorch 2.x (CPU) in session 26 (values, dtypes, strides, aliasing,
gradients and error types). Each test states PyTorch's result as a constant. Those still
``xfail(strict=True)`` wait on fixes in the Rust engine: fixing the bug makes one pass, and
strictness then asks for the marker to be removed."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

import democratising as dm

# ---- results that share memory with their input -----------------------------------------------
# PyTorch's repeat/tile/roll/flip/cumsum/... always return a new tensor. Here some paths return
# the input itself or an expand()ed view of it, so a write into the result changes the input.


def test_repeat_of_size_one_dim_is_a_fresh_tensor() -> None:
    x = dm.tensor([1.0])
    y = x.repeat(3)
    y[0] = 5.0
    # PyTorch: y is [5., 1., 1.] with stride (1,), and x is untouched.
    assert y.tolist() == [5.0, 1.0, 1.0]
    assert x.tolist() == [1.0]
    assert y.stride() == (1,)


def test_repeat_result_accepts_in_place_ops() -> None:
    y = dm.tensor([1.0]).repeat(3)
    y.add_(1)  # here: InvalidValueError (more than one element refers to one location)
    assert y.tolist() == [2.0, 2.0, 2.0]


def test_tile_of_column_is_contiguous_copy() -> None:
    x = dm.tensor([[1.0], [2.0]])
    y = dm.tile(x, (1, 3))
    assert y.stride() == (3, 1) and y.is_contiguous()  # PyTorch
    y[0, 0] = 5.0
    assert y.tolist() == [[5.0, 1.0, 1.0], [2.0, 2.0, 2.0]]
    assert x.tolist() == [[1.0], [2.0]]


_NO_OP_RESULTS: dict[str, Callable[[dm.Tensor], dm.Tensor]] = {
    "repeat(1)": lambda x: x.repeat(1),
    "tile((1,))": lambda x: dm.tile(x, (1,)),
    "roll(x, 0)": lambda x: dm.roll(x, 0),
    "roll(x, 4, 0)": lambda x: dm.roll(x, 4, 0),
    "roll(x, (0,), (0,))": lambda x: dm.roll(x, (0,), (0,)),
    "flip(x, ())": lambda x: dm.flip(x, ()),
    "cumsum(x[:1], 0)": lambda x: dm.cumsum(x[:1], 0),
    "cumprod(x[:1], 0)": lambda x: dm.cumprod(x[:1], 0),
    "logcumsumexp(x[:1], 0)": lambda x: dm.logcumsumexp(x[:1], 0),
    "diff(x, 0)": lambda x: dm.diff(x, 0),
    "ravel(x[::2])": lambda x: dm.ravel(x[::2]),
    "sort(x[0]).values": lambda x: dm.sort(x[0]).values,
    "msort(x[0])": lambda x: dm.msort(x[0]),
    "topk(x[0], 1).values": lambda x: dm.topk(x[0], 1).values,
    "kthvalue(x[0], 1).values": lambda x: dm.kthvalue(x[0], 1).values,
}


@pytest.mark.parametrize("name", sorted(_NO_OP_RESULTS))
def test_no_op_result_does_not_alias_input(name: str) -> None:
    x = dm.tensor([1.0, 2.0, 3.0, 4.0])
    y = _NO_OP_RESULTS[name](x)
    y[(0,) * y.ndim] = 99.0
    assert x.tolist() == [1.0, 2.0, 3.0, 4.0]  # PyTorch: every one of these is a copy


def test_roll_by_zero_of_leaf_is_differentiable_copy() -> None:
    w = dm.ones(3, requires_grad=True)
    y = dm.roll(w, 0)
    assert not y.is_leaf  # PyTorch: grad_fn=<RollBackward0>
    y.mul_(2)  # here: in-place on a leaf that requires grad
    y.sum().backward()
    assert w.grad is not None and w.grad.tolist() == [2.0, 2.0, 2.0]


def test_ravel_of_strided_vector_is_contiguous() -> None:
    y = dm.ravel(dm.arange(8.0)[::2])
    assert y.is_contiguous() and y.stride() == (1,)  # PyTorch: contiguous().view(-1)


# ---- dtypes ---------------------------------------------------------------------------------


def test_block_diag_zero_dim_operand_does_not_widen_dtype() -> None:
    out = dm.block_diag(dm.tensor([1.0, 2.0]), dm.tensor(5.0, dtype=dm.float64))
    assert out.dtype == dm.float32  # PyTorch: result_type, where a 0-d tensor ranks lower
    assert out.tolist() == [[1.0, 2.0, 0.0], [0.0, 0.0, 5.0]]


# ---- argument checks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["flatten(-2)", "flatten(0, 1)", "transpose(1, 0)", "swapaxes(0, -2)", "cumsum(1)"],
)
def test_zero_dim_rejects_out_of_range_dim(name: str) -> None:
    x = dm.tensor(1.0)
    ops: dict[str, Callable[[], object]] = {
        "flatten(-2)": lambda: dm.flatten(x, -2),
        "flatten(0, 1)": lambda: dm.flatten(x, 0, 1),
        "transpose(1, 0)": lambda: x.transpose(1, 0),
        "swapaxes(0, -2)": lambda: dm.swapaxes(x, 0, -2),
        "cumsum(1)": lambda: dm.cumsum(x, 1),
    }
    with pytest.raises(IndexError):  # PyTorch: "Dimension out of range (expected ... [-1, 0])"
        ops[name]()


@pytest.mark.parametrize("dims", [(0, 0), (0, -2)])
def test_squeeze_rejects_repeated_dims(dims: tuple[int, int]) -> None:
    with pytest.raises(RuntimeError, match="multiple times"):  # PyTorch's message
        dm.squeeze(dm.ones(1, 4), dims)


@pytest.mark.parametrize(("fn", "shape"), [("fliplr", ()), ("fliplr", (3,)), ("flipud", ())])
def test_fliplr_flipud_need_enough_dims(fn: str, shape: tuple[int, ...]) -> None:
    # PyTorch: RuntimeError "Input must be >= 2-d." (fliplr) / ">= 1-d." (flipud).
    with pytest.raises(RuntimeError, match="Input must be"):
        getattr(dm, fn)(dm.ones(shape))


def test_unflatten_of_zero_dim_raises() -> None:
    with pytest.raises(
        RuntimeError
    ):  # PyTorch: "Dimension specified as 0 but tensor has no dimensions"
        dm.unflatten(dm.tensor(1.0), 0, (1,))


@pytest.mark.parametrize("method", ["expand", "permute"])
def test_shape_methods_need_their_argument(method: str) -> None:
    with pytest.raises(TypeError):  # PyTorch: "missing 1 required positional arguments"
        getattr(dm.tensor(1.0), method)()


def test_masked_fill_value_tensor_must_be_zero_dim() -> None:
    with pytest.raises(RuntimeError, match="0-dimensional"):
        dm.ones(2).masked_fill(dm.tensor([True, False]), dm.ones(1))


def test_broadcast_shapes_takes_ints() -> None:
    assert tuple(dm.broadcast_shapes(3, (2, 1))) == (2, 3)  # PyTorch: torch.Size([2, 3])


def test_tensordot_dims_as_zero_dim_tensor() -> None:
    out = dm.tensordot(dm.ones(2, 3), dm.ones(3, 2), dm.tensor(1))
    assert tuple(out.shape) == (2, 2) and out.tolist() == [[3.0, 3.0], [3.0, 3.0]]


# ---- histc at bin edges ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "dtype", "bins", "expected"),
    [
        (0.8696913123130798, "float32", 2, [0.0, 1.0]),
        (-0.4313860237598419, "float32", 4, [0.0, 0.0, 1.0, 0.0]),
        (0.5309752414047141, "float64", 6, [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]),
    ],
)
def test_histc_single_value_bin(value: float, dtype: str, bins: int, expected: list[float]) -> None:
    # One value: the range is [v - 1, v + 1] and v sits on the middle edge. PyTorch's bin is
    # int((v - lo) * bins / (hi - lo)) in the input dtype.
    x = dm.from_numpy(np.array([value], dtype=dtype))
    assert dm.histc(x, bins, 0, 0).tolist() == expected
