"""Regressions found by the session-24 differential fuzz of indexing, views and shape ops.

Expected values are PyTorch 2.x's (CPU), computed once and written here as constants.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm

_NAN_INF = [1.0, math.nan, math.inf]
_BOOL_SCALAR = (
    "rust/python/src/indexing.rs apply_basic: a 0-d bool index is counted as consuming a dim"
)


def _nonleaf() -> dm.Tensor:
    """A non-leaf tensor holding nan and inf, so that autograd's in-place path is taken."""
    return dm.tensor(_NAN_INF, requires_grad=True) * 1


@pytest.mark.parametrize("how", ["zero_", "fill_", "fill_tensor", "view_zero_"])
def test_fill_and_zero_on_nonleaf_overwrite_nan_and_inf(how: str) -> None:
    y = _nonleaf()
    if how == "zero_":
        y.zero_()
        expect = [0.0, 0.0, 0.0]
    elif how == "fill_":
        y.fill_(2.0)
        expect = [2.0, 2.0, 2.0]
    elif how == "fill_tensor":
        y.fill_(dm.tensor(2.0))
        expect = [2.0, 2.0, 2.0]
    else:
        y[1:].zero_()
        expect = [1.0, 0.0, 0.0]
    assert y.tolist() == expect


def test_fill_on_nonleaf_gradient_is_zero_where_filled() -> None:
    """The part of fill_ that works today: gradient flows only through unfilled elements."""
    x = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    y[1:].zero_()
    (y * y).sum().backward()
    assert x.grad.tolist() == [2.0, 0.0, 0.0]


def test_bool_scalar_with_ellipsis_selects_the_right_dim() -> None:
    x = dm.arange(6).reshape(2, 3)
    y = x[True, ..., 1]
    assert tuple(y.shape) == (1, 2)
    assert y.tolist() == [[1, 4]]


@pytest.mark.parametrize(
    ("key", "shape", "values"),
    [
        ((False, 0, 1), (0,), []),
        ((slice(None), True, 1), (2, 1), [[1], [4]]),
    ],
)
def test_bool_scalar_does_not_count_as_an_index(key: tuple, shape: tuple, values: list) -> None:
    x = dm.arange(6).reshape(2, 3)
    y = x[key]
    assert tuple(y.shape) == shape
    assert y.tolist() == values


def test_setitem_with_bool_scalar_and_full_int_key() -> None:
    y = dm.zeros(2, 3, dtype=dm.int64)
    y[True, 1, 2] = 5
    assert y.tolist() == [[0, 0, 0], [0, 0, 5]]


def test_bool_scalar_cases_that_already_work() -> None:
    x = dm.arange(6).reshape(2, 3)
    assert x[True, 0].tolist() == [[0, 1, 2]]
    assert tuple(x[True].shape) == (1, 2, 3)
    assert x[None, 1, True].tolist() == [[[3, 4, 5]]]


def test_index_put_duplicate_indices_value_gradient() -> None:
    x = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = dm.tensor([10.0, 20.0], requires_grad=True)
    y = (x * 1).index_put_((dm.tensor([[1, 0], [1, 0]]),), v, accumulate=False)
    (y * dm.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert y.tolist() == [20.0, 10.0, 3.0]
    assert x.grad.tolist() == [0.0, 0.0, 3.0]
    assert v.grad.tolist() == [4.0, 2.0]


def test_index_copy_duplicate_indices_source_gradient() -> None:
    x = dm.zeros(3, requires_grad=True)
    s = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.index_copy(0, dm.tensor([0, 0, 1]), s)
    (y * dm.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert s.grad.tolist() == [1.0, 1.0, 2.0]


def test_index_put_accumulate_duplicates() -> None:
    x = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = dm.tensor([10.0, 20.0], requires_grad=True)
    y = (x * 1).index_put_((dm.tensor([[1, 0], [1, 0]]),), v, accumulate=True)
    (y * dm.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert y.tolist() == [41.0, 22.0, 3.0]
    assert x.grad.tolist() == [1.0, 2.0, 3.0]
    assert v.grad.tolist() == [4.0, 2.0]


def test_searchsorted_batched_with_no_values() -> None:
    out = dm.searchsorted(dm.zeros(3, 5), dm.zeros(3, 0))
    assert tuple(out.shape) == (3, 0)
    assert out.dtype == dm.int64


def test_cat_of_empty_tensors_promotes_dtype() -> None:
    out = dm.cat([dm.zeros(0, dtype=dm.float16), dm.zeros(0)], -1)
    assert out.dtype == dm.float32
    assert tuple(out.shape) == (0,)


def test_view_inplace_through_transpose_select_reaches_base() -> None:
    x = dm.tensor(np.arange(1.0, 10.0).reshape(3, 3), requires_grad=True)
    y = x * 1
    y.t()[1].unsqueeze(0).sub_(1.0)
    (y * y).sum().backward()
    assert y.tolist() == [[1.0, 1.0, 3.0], [4.0, 4.0, 6.0], [7.0, 7.0, 9.0]]
    assert x.grad.tolist() == [[2.0, 2.0, 6.0], [8.0, 8.0, 12.0], [14.0, 14.0, 18.0]]


@pytest.mark.parametrize("requires_grad", [False, True])
def test_diag_of_vector_with_nan_and_negatives(requires_grad: bool) -> None:
    x = dm.tensor([math.nan, -1.0, 2.0], requires_grad=requires_grad)
    out = np.asarray(dm.diag(x, 1).detach().numpy())
    expect = np.array(
        [
            [0.0, math.nan, 0.0, 0.0],
            [0.0, 0.0, -1.0, 0.0],
            [0.0, 0.0, 0.0, 2.0],
            [0.0, 0.0, 0.0, 0.0],
        ]
    )
    np.testing.assert_array_equal(out, expect)
    zeros = expect == 0
    assert not np.signbit(out[zeros]).any()


def test_diag_embed_of_vector_with_nan() -> None:
    out = np.asarray(dm.diag_embed(dm.tensor([math.nan, -1.0, 2.0]), 1).numpy())
    assert np.isnan(out[0, 1])
    assert np.isnan(out).sum() == 1
    assert not np.signbit(out[out == 0]).any()


@pytest.mark.parametrize("reduce", [None, "multiply"])
def test_scatter_keeps_negative_zero(reduce: str | None) -> None:
    x = dm.tensor([1.0, 2.0])
    kw = {} if reduce is None else {"reduce": reduce}
    out = np.asarray(x.scatter(0, dm.tensor([0, 1]), dm.tensor([-0.0, -0.0]), **kw).numpy())
    assert out.tolist() == [0.0, 0.0]
    assert np.signbit(out).all()


def test_inplace_on_empty_view_of_nonleaf() -> None:
    y = dm.ones(2, 0, requires_grad=True) * 1
    y[:, ::2].add_(1.0)
    assert tuple(y.shape) == (2, 0)
