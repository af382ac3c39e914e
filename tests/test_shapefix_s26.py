"""Follow-ups to the session-26 shape/search fixes (``test_shapefuzz_s26.py``): the neighbouring
cases of each fix, with PyTorch's (CPU, 2.x) results as constants."""

from __future__ import annotations

import pytest

import democratising as dm
import democratising.nn as dnn

# ---- repeat/tile: a fresh row-major tensor, gradients summed over the copies ------------------


def test_repeat_of_transposed_with_unit_counts_is_contiguous_copy() -> None:
    x = dm.arange(6.0).reshape(2, 3).t()
    y = x.repeat(1, 1)
    assert y.is_contiguous() and y.stride() == (2, 1)  # PyTorch: contiguous, not x's (1, 3)
    assert y.data_ptr() != x.data_ptr()
    assert y.tolist() == x.tolist()


def test_repeat_of_zero_dim_with_no_counts_is_a_copy() -> None:
    x = dm.tensor(2.0)
    y = x.repeat(())
    assert y.shape == () and y.item() == 2.0 and y.data_ptr() != x.data_ptr()


def test_repeat_gradient_sums_the_copies() -> None:
    w = dm.tensor([[1.0], [2.0]], requires_grad=True)
    y = w.repeat(2, 3)
    assert tuple(y.shape) == (4, 3)
    (y * dm.arange(12.0).reshape(4, 3)).sum().backward()
    assert w.grad is not None and w.grad.tolist() == [[24.0], [42.0]]  # rows 0+2 and 1+3


# ---- no-op paths: copies that keep the graph --------------------------------------------------


@pytest.mark.parametrize(
    "op",
    [
        lambda w: dm.flip(w, ()),
        lambda w: dm.cumsum(w[:1], 0),
        lambda w: dm.cumprod(w[:1], 0),
        lambda w: dm.logcumsumexp(w[:1], 0),
        lambda w: dm.diff(w, 0),
        lambda w: dm.roll(w, (0, 3), (0, 0)),
    ],
)
def test_no_op_result_of_leaf_is_a_non_leaf_copy(op: object) -> None:
    w = dm.ones(3, requires_grad=True)
    y = op(w)  # type: ignore[operator]
    assert not y.is_leaf and y.data_ptr() != w.data_ptr()
    y.mul_(3)  # allowed on a copy, as in PyTorch (an error on the leaf itself)
    y.sum().backward()
    assert w.grad is not None and w.grad.tolist()[: y.numel()] == [3.0] * y.numel()


def test_roll_without_dims_by_the_size_is_a_copy() -> None:
    x = dm.arange(6.0).reshape(2, 3)
    y = dm.roll(x, 6)
    y[0, 0] = 99.0
    assert x[0, 0].item() == 0.0 and tuple(y.shape) == (2, 3)


def test_ravel_of_contiguous_tensor_stays_a_view() -> None:
    x = dm.arange(6.0).reshape(2, 3)
    assert dm.ravel(x).data_ptr() == x.data_ptr()  # PyTorch: contiguous().view(-1)
    y = dm.ravel(x.t())
    assert y.tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0] and y.stride() == (1,)


# ---- argument checks --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "logcumsumexp"])
def test_scans_of_zero_dim_take_dims_0_and_minus_1_only(name: str) -> None:
    x = dm.tensor(2.0)
    fn = getattr(dm, name)
    assert fn(x, 0).shape == () and fn(x, -1).shape == ()
    with pytest.raises(IndexError, match="Dimension out of range"):
        fn(x, -2)


def test_unflatten_of_zero_dim_is_an_index_error() -> None:
    # PyTorch: IndexError "Dimension specified as 0 but tensor has no dimensions".
    with pytest.raises(IndexError, match="no dimensions"):
        dm.unflatten(dm.tensor(1.0), 0, (1,))


def test_fliplr_flipud_on_enough_dims_still_flip() -> None:
    x = dm.arange(4.0).reshape(2, 2)
    assert dm.fliplr(x).tolist() == [[1.0, 0.0], [3.0, 2.0]]
    assert dm.flipud(dm.arange(3.0)).tolist() == [2.0, 1.0, 0.0]


def test_broadcast_shapes_mixes_ints_lists_and_sizes() -> None:
    assert dm.broadcast_shapes(3, [2, 1]) == (2, 3)
    assert dm.broadcast_shapes(dm.ones(2, 1).shape, 3) == (2, 3)
    with pytest.raises(RuntimeError, match=r"\(3,\), \(2,\)"):
        dm.broadcast_shapes(3, 2)


def test_tensordot_dims_as_tensors() -> None:
    a, b = dm.arange(6.0).reshape(2, 3), dm.arange(6.0).reshape(3, 2)
    assert dm.tensordot(a, b, dm.tensor([[1], [0]])).tolist() == [[10.0, 13.0], [28.0, 40.0]]
    assert dm.tensordot(a, b, dm.tensor([1])).tolist() == [[10.0, 13.0], [28.0, 40.0]]
    c = dm.arange(6.0).reshape(2, 3)
    assert dm.tensordot(a, c, dm.tensor([[0, 1], [0, 1]])).item() == 55.0
    with pytest.raises(TypeError):  # PyTorch: "must be tuple of ints, but found ... float"
        dm.tensordot(a, b, ([1.5], [0]))
    with pytest.raises(RuntimeError, match="size 2 in first dimension"):
        dm.tensordot(a, b, dm.ones(3, 1, dtype=dm.int64))


# ---- dtypes -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (dm.tensor([1, 2]), dm.tensor(5.0, dtype=dm.float64), dm.float64),  # (a kind up)
        (dm.tensor([True]), dm.tensor(3), dm.int64),
        (dm.tensor([1.0], dtype=dm.float16), dm.tensor(2.0), dm.float16),
    ],
)
def test_block_diag_result_type(first: dm.Tensor, second: dm.Tensor, expected: object) -> None:
    assert dm.block_diag(first, second).dtype == expected


@pytest.mark.parametrize(
    ("value", "dtype", "bins", "expected"),
    [
        # The bin in the half dtype's own arithmetic (edges rounded to it).
        (-0.62939453125, "float16", 6, [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]),
        (-1.1640625, "bfloat16", 4, [0.0, 1.0, 0.0, 0.0]),
    ],
)
def test_histc_half_dtypes_bin_like_torch(
    value: float, dtype: str, bins: int, expected: list[float]
) -> None:
    x = dm.tensor([value]).to(getattr(dm, dtype))
    assert dm.histc(x, bins).float().tolist() == expected


def test_histc_maximum_goes_to_last_bin_and_outside_values_are_dropped() -> None:
    x = dm.tensor([0.0, 1.0, 2.0, 3.0, 4.0, -1.0, 5.0, float("nan")])
    assert dm.histc(x, 4, 0, 4).tolist() == [1.0, 1.0, 1.0, 2.0]


# ---- nn.init / weight_norm --------------------------------------------------------------------


@pytest.mark.parametrize("fn", ["orthogonal_", "sparse_"])
def test_random_init_of_empty_int_tensor_is_a_no_op(fn: str) -> None:
    t = dm.zeros(0, 4, dtype=dm.int64)  # PyTorch: nothing drawn, nothing refused
    args = (0.5,) if fn == "sparse_" else ()
    assert getattr(dnn.init, fn)(t, *args) is t


def test_weight_norm_dim_minus_one_is_still_the_whole_tensor() -> None:
    conv = dnn.Conv1d(2, 3, 4)
    dnn.utils.parametrizations.weight_norm(conv, dim=-1)
    assert conv.parametrizations.weight.original0.shape == ()


def test_weight_norm_dim_out_of_range_is_an_index_error() -> None:
    with pytest.raises(IndexError):
        dnn.utils.parametrizations.weight_norm(dnn.Conv1d(2, 3, 4), dim=-4)
