"""Sorting, searching, counting and statistics ops against PyTorch 2.15: every expected value
below was produced by running the same call under PyTorch (the suite does not import torch).
Covers NaN placement, ties, empty and 0-d inputs, and the result dtypes and shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm

nan, inf = math.nan, math.inf


def _eq(t: dm.Tensor, expected: list, dtype: object = None) -> None:
    """``t`` equals ``expected`` (NaN equal to NaN), with ``dtype`` when given."""
    got = t.detach().numpy()
    np.testing.assert_allclose(got, np.asarray(expected, dtype=got.dtype), rtol=1e-6, atol=1e-6)
    if dtype is not None:
        assert t.dtype == dtype


# ---- unique / unique_consecutive -------------------------------------------------------------


def test_unique_nan_values_are_distinct() -> None:
    # torch.unique(tensor([nan, 1, nan, 1]), return_inverse=True, return_counts=True)
    values, inverse, counts = dm.unique(
        dm.tensor([nan, 1.0, nan, 1.0]), return_inverse=True, return_counts=True
    )
    _eq(values, [1.0, nan, nan])
    _eq(inverse, [1, 0, 2, 0], dm.int64)
    _eq(counts, [2, 1, 1], dm.int64)
    _eq(dm.unique(dm.tensor([inf, -inf, nan, inf])), [-inf, inf, nan])


def test_unique_of_0d_keeps_a_0d_inverse() -> None:
    # torch.unique(tensor(5.), return_inverse=True, return_counts=True):
    # (tensor([5.]), tensor(0), tensor([1]))
    values, inverse, counts = dm.unique(dm.tensor(5.0), return_inverse=True, return_counts=True)
    assert tuple(values.shape) == (1,) and tuple(counts.shape) == (1,)
    assert tuple(inverse.shape) == () and inverse.item() == 0
    _, inv = dm.tensor(7).unique(return_inverse=True)
    assert tuple(inv.shape) == ()


def test_unique_dim_out_of_range_raises() -> None:
    # torch: IndexError "Dimension out of range" / "tensor has no dimensions"
    with pytest.raises(IndexError):
        dm.unique(dm.tensor([3.0, 1.0]), dim=1)
    with pytest.raises(IndexError):
        dm.unique(dm.tensor([3.0, 1.0]), dim=-2)
    with pytest.raises(IndexError):
        dm.unique(dm.tensor(5.0), dim=0)
    # the in-range negative dim still works
    _eq(dm.unique(dm.tensor([[2, 1], [0, 5], [2, 1]]), dim=-2), [[0, 5], [2, 1]])


def test_unique_with_empty_unselected_dim_raises() -> None:
    # torch: RuntimeError "There are 0 sized dimensions, and they aren't selected"
    with pytest.raises(dm.ShapeError):
        dm.unique(dm.zeros(2, 0), dim=0)
    with pytest.raises(dm.ShapeError):
        dm.unique_consecutive(dm.zeros(2, 0), dim=0)
    # torch.unique(zeros(0, 2), dim=0): empty (0, 2) values
    assert tuple(dm.unique(dm.zeros(0, 2), dim=0).shape) == (0, 2)


def test_unique_consecutive_nan_runs_are_distinct() -> None:
    # torch.unique_consecutive(tensor([nan, nan, 1, 1]), return_inverse=True, return_counts=True)
    values, inverse, counts = dm.unique_consecutive(
        dm.tensor([nan, nan, 1.0, 1.0]), return_inverse=True, return_counts=True
    )
    _eq(values, [nan, nan, 1.0])
    _eq(inverse, [0, 1, 2, 2], dm.int64)
    _eq(counts, [1, 1, 2], dm.int64)


def test_unique_consecutive_of_empty_along_dim() -> None:
    # torch.unique_consecutive(tensor([]), return_inverse=True, return_counts=True, dim=0)
    values, inverse, counts = dm.unique_consecutive(
        dm.zeros(0), return_inverse=True, return_counts=True, dim=0
    )
    assert tuple(values.shape) == (0,) and values.dtype == dm.float32
    assert tuple(inverse.shape) == (0,) and inverse.dtype == dm.int64
    assert tuple(counts.shape) == (0,) and counts.dtype == dm.int64
    assert tuple(dm.unique_consecutive(dm.zeros(0, dtype=dm.int64), dim=-1).shape) == (0,)


# ---- counting --------------------------------------------------------------------------------


def test_bincount_of_empty_input_with_weights_is_int64() -> None:
    # torch.bincount(tensor([], dtype=long), tensor([]), minlength=6): tensor([0]*6) int64
    for wdtype in (dm.float32, dm.float64, dm.int64):
        out = dm.bincount(dm.zeros(0, dtype=dm.int64), dm.zeros(0, dtype=wdtype), minlength=6)
        _eq(out, [0] * 6, dm.int64)
    # non-empty: float32 weights stay float32, others become float64
    out = dm.bincount(dm.tensor([0, 1, 1, 3]), dm.tensor([0.5, 1.0, 2.0, 4.0], dtype=dm.float16))
    _eq(out, [0.5, 3.0, 0.0, 4.0], dm.float64)


def test_histc_and_histogram_counts() -> None:
    # torch.histc(tensor([1., 2, 2, 3, 10, -1]), 4, 0, 4)
    _eq(dm.histc(dm.tensor([1.0, 2, 2, 3, 10, -1]), 4, 0, 4), [0.0, 1.0, 2.0, 1.0], dm.float32)
    hist, edges = dm.histogram(dm.tensor([1.0, 2, 2, 3, 10, -1]), 3, range=(0.0, 4.0))
    # torch.histogram(..., 3, range=(0., 4.))
    _eq(hist, [1.0, 2.0, 1.0])
    _eq(edges, [0.0, 4 / 3, 8 / 3, 4.0])


# ---- medians, modes, quantiles ---------------------------------------------------------------


def test_nanmedian_of_empty_integer_tensor() -> None:
    # torch.nanmedian(tensor([], dtype=long)) == -9223372036854775808 (NaN cast to int64);
    # int32: -2147483648; bool: True
    assert dm.nanmedian(dm.zeros(0, dtype=dm.int64)).item() == -(2**63)
    assert dm.nanmedian(dm.zeros(0, dtype=dm.int32)).item() == -(2**31)
    assert dm.nanmedian(dm.zeros(0, dtype=dm.bool)).item() is True
    assert math.isnan(dm.nanmedian(dm.zeros(0)).item())


def test_median_nanmedian_mode_pick_the_same_elements_as_torch() -> None:
    m = dm.tensor([[1.0, 3.0, 3.0, 2.0], [2.0, 2.0, -1.0, 0.0], [5.0, 1.0, 1.0, 1.0]])
    values, indices = dm.median(m, 1)  # lower median; torch's indices
    _eq(values, [2.0, 0.0, 1.0])
    _eq(indices, [3, 3, 2], dm.int64)
    # torch.nanmedian(tensor([[nan, 2., 1., 2.], [nan, nan, 1., nan]]), 1)
    values, indices = dm.nanmedian(dm.tensor([[nan, 2.0, 1.0, 2.0], [nan, nan, 1.0, nan]]), 1)
    _eq(values, [2.0, 1.0])
    _eq(indices, [1, 2], dm.int64)
    assert math.isnan(dm.nanmedian(dm.tensor([nan, nan]), 0).values.item())


def test_mode_picks_smallest_most_frequent_and_its_last_index() -> None:
    values, indices = dm.mode(dm.tensor([[3, 1, 3, 1, 2], [0, 0, 5, 5, 5]]), 1)
    _eq(values, [1, 5], dm.int64)
    _eq(indices, [3, 4], dm.int64)


@pytest.mark.parametrize(
    ("interpolation", "expected"),
    [
        ("linear", [[1.4, -0.7], [3.0, 0.5], [3.0, 0.875]]),
        ("lower", [[1.0, -1.0], [3.0, 0.0], [3.0, 0.0]]),
        ("higher", [[2.0, 0.0], [3.0, 1.0], [3.0, 1.0]]),
        ("midpoint", [[1.5, -0.5], [3.0, 0.5], [3.0, 0.5]]),
        ("nearest", [[1.0, -1.0], [3.0, 1.0], [3.0, 1.0]]),
    ],
)
def test_nanquantile_interpolations(interpolation: str, expected: list) -> None:
    x = dm.tensor([[1.0, 3.0, 3.0, 2.0, 7.0], [2.0, nan, -1.0, 0.0, 1.0]])
    q = dm.tensor([0.1, 0.5, 0.625])
    _eq(dm.nanquantile(x, q, 1, interpolation=interpolation), expected)


def test_cov_rejects_bool() -> None:
    # torch: "cov(): bool dtype is not supported for input"
    with pytest.raises(dm.DTypeError):
        dm.cov(dm.tensor([[True, False], [False, True]]))


def test_cov_with_both_weights() -> None:
    m = dm.tensor([[1.0, 3.0, 3.0, 2.0], [2.0, 2.0, -1.0, 0.0], [5.0, 1.0, 1.0, 1.0]])
    out = dm.cov(
        m,
        correction=0,
        fweights=dm.tensor([1, 2, 3, 1]),
        aweights=dm.tensor([0.25, 0.75, 1.25, 1.75]),
    )
    expected = [[0.2830, -0.1486, -0.2331], [-0.1486, 1.4816, 0.2806], [-0.2331, 0.2806, 0.5327]]
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-4)


# ---- ordering --------------------------------------------------------------------------------


def test_topk_of_0d_returns_the_element() -> None:
    # torch.topk(tensor(2.5), 0) and topk(tensor(2.5), 1): (tensor(2.5), tensor(0))
    for k in (0, 1):
        for largest in (True, False):
            values, indices = dm.topk(dm.tensor(2.5), k, largest=largest)
            assert tuple(values.shape) == () and values.item() == 2.5
            assert tuple(indices.shape) == () and indices.item() == 0
    values, indices = dm.tensor(3).topk(1, dim=-1)
    assert values.dtype == dm.int64 and values.item() == 3
    with pytest.raises(IndexError):
        dm.topk(dm.tensor(2.5), 2)


def test_sort_nan_placement_and_stable_ties() -> None:
    x = dm.tensor([3.0, nan, 1.0, -inf, nan, inf, 1.0])
    values, indices = dm.sort(x, descending=True, stable=True)
    _eq(values, [nan, nan, inf, 3.0, 1.0, 1.0, -inf])
    _eq(indices, [1, 4, 5, 0, 2, 6, 3], dm.int64)
    values, indices = dm.sort(x, stable=True)
    _eq(values, [-inf, 1.0, 1.0, 3.0, inf, nan, nan])
    _eq(indices, [3, 2, 6, 0, 5, 1, 4], dm.int64)


def test_cummax_cummin_indices_on_ties_and_nan() -> None:
    values, indices = dm.cummax(dm.tensor([1.0, 3, 1, 3, nan, 5, 0]), 0)
    _eq(values, [1.0, 3, 3, 3, nan, nan, nan])
    _eq(indices, [0, 1, 1, 3, 4, 4, 4], dm.int64)
    values, indices = dm.cummin(dm.tensor([1.0, 3, 1, 3, 0, 3, 0]), 0)
    _eq(values, [1.0, 1, 1, 1, 0, 0, 0])
    _eq(indices, [0, 0, 2, 2, 4, 4, 6], dm.int64)


def test_searchsorted_with_sorter_right() -> None:
    out = dm.searchsorted(
        dm.tensor([5.0, 1, 3, 2, 2]),
        dm.tensor([2.0, 3, 6]),
        sorter=dm.tensor([1, 4, 3, 2, 0]),
        side="right",
    )
    _eq(out, [3, 4, 5], dm.int64)


def test_descending_sort_and_topk_at_the_integer_minimum() -> None:
    # torch.sort(tensor([-2**63, 0, 5, 2**63 - 1, -2**63, -1]), descending=True, stable=True)
    lo, hi = -(2**63), 2**63 - 1
    values, indices = dm.sort(dm.tensor([lo, 0, 5, hi, lo, -1]), descending=True, stable=True)
    assert values.tolist() == [hi, 5, 0, -1, lo, lo]
    assert indices.tolist() == [3, 2, 1, 5, 0, 4]
    # torch.topk(tensor([-2**31, 0, 5, 2**31 - 1, -2**31], dtype=int32), 3)
    x = dm.tensor([-(2**31), 0, 5, 2**31 - 1, -(2**31)], dtype=dm.int32)
    values, indices = dm.topk(x, 3)
    assert values.dtype == dm.int32 and values.tolist() == [2**31 - 1, 5, 0]
    assert indices.tolist() == [3, 2, 1]
    # booleans: True first, ties stable
    assert dm.argsort(dm.tensor([False, True, False, True]), descending=True).tolist() == [
        1,
        3,
        0,
        2,
    ]


def test_histogramdd_counts_edges_and_density() -> None:
    x = dm.tensor([[0.0, 1], [1, 1], [2, 0], [2, 2]])
    # torch.histogramdd(x, [2, 3])
    hist, edges = dm.histogramdd(x, [2, 3])
    _eq(hist, [[0.0, 1.0, 0.0], [1.0, 1.0, 1.0]], dm.float32)
    assert isinstance(edges, tuple) and len(edges) == 2
    _eq(edges[0], [0.0, 1.0, 2.0])
    _eq(edges[1], [0.0, 2 / 3, 4 / 3, 2.0])
    # torch.histogramdd(x, 2, range=[0., 1., 0., 4.], weight=tensor([1., 2, 3, 4]), density=True)
    hist, edges = dm.histogramdd(
        x, 2, range=[0.0, 1.0, 0.0, 4.0], weight=dm.tensor([1.0, 2, 3, 4]), density=True
    )
    _eq(hist, [[1 / 3, 0.0], [2 / 3, 0.0]])
    _eq(edges[1], [0.0, 2.0, 4.0])
    # torch.histogramdd(x, [tensor([0., 1, 3]), tensor([0., 2])])
    hist, _ = dm.histogramdd(x, [dm.tensor([0.0, 1, 3]), dm.tensor([0.0, 2])])
    _eq(hist, [[1.0], [3.0]])
    # torch.histogramdd(tensor([[1., 1], [1, 1]]), 2): a single value widens by 0.5 each way
    hist, edges = dm.histogramdd(dm.tensor([[1.0, 1], [1, 1]]), 2)
    _eq(hist, [[0.0, 0.0], [0.0, 2.0]])
    _eq(edges[0], [0.5, 1.0, 1.5])


def test_histogramdd_rejects_bad_input() -> None:
    x = dm.tensor([[0.0, 1], [1, 1]])
    with pytest.raises(dm.ShapeError):  # torch: needs at least 2 dimensions
        dm.histogramdd(dm.tensor([1.0, 2.0]), 2)
    with pytest.raises(dm.DTypeError):
        dm.histogramdd(dm.tensor([[1, 2]]), 2)
    with pytest.raises(dm.ShapeError):  # one bin count per dim
        dm.histogramdd(x, [2, 2, 2])
    with pytest.raises(dm.ShapeError):  # 2 * D range values
        dm.histogramdd(x, 2, range=[0.0, 1.0])
    with pytest.raises(dm.InvalidValueError):
        dm.histogramdd(x, 0)


def test_diff_prepend_append_bool_and_short_dims_like_torch() -> None:
    x = dm.tensor([1.0, 3.0, 6.0, 10.0])
    got = dm.diff(x, prepend=dm.tensor([0.0]), append=dm.tensor([20.0]))
    assert got.tolist() == [1.0, 2.0, 3.0, 4.0, 10.0]
    assert dm.diff(dm.tensor([True, False, False])).tolist() == [True, False]
    assert tuple(dm.diff(x, 5).shape) == (0,) and dm.diff(x, 0) is not x  # (a copy, as PyTorch)
    with pytest.raises(ValueError, match="non-negative"):
        dm.diff(x, -1)
    with pytest.raises(ValueError, match="one-dimensional"):
        dm.diff(dm.tensor(1.0))
    assert dm.isclose(dm.tensor(1.0), dm.tensor(1.5)).item() is False  # 0-d crashed


def test_var_std_past_the_count_and_the_unbiased_overload() -> None:
    """torch 2.15 divides by max(0, N - correction): inf, NaN for a constant row; a lone bool
    is ``unbiased`` (``var(True)`` is 0-d), not dim 1."""
    x = dm.tensor([[1.0, 3.0, 3.0, 2.0]])
    assert dm.var(x, 1, correction=5).tolist() == [math.inf]
    assert x.std(correction=10).item() == math.inf
    assert math.isnan(dm.tensor([[2.0, 2.0]]).var(1, correction=2).item())
    assert dm.var(x, True).shape == () and dm.var(x, True).item() == pytest.approx(0.9166667)
    assert x.var(False).item() == pytest.approx(0.6875)
