"""Edge cases of nn.functional found by the session-28 fuzzing, checked against constants taken
from PyTorch 2.x (CPU) and NumPy references: the 2-D nearest resize's same-size and
double-size shortcuts, adaptive pools and ``area`` resizes to an output size of 0, ``pad``
crops that leave nothing, and grouped-query attention with different key and value head
counts."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising.errors import ShapeError


def _f64(a: object, requires_grad: bool = False) -> dm.Tensor:
    return dm.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


# ---- nearest resize --------------------------------------------------------------------------


def test_nearest_2d_doubled_rows_read_half_index_whatever_the_scale() -> None:
    # PyTorch: 3 rows at scale 2.01 give 6 = 2 * 3 rows, read as i >> 1 (floor(i / 2.01)
    # would read 0, 0, 0, 1, 1, 2); 3 columns at 1.1 stay 3 and are copied.
    x = _f64(np.arange(9.0).reshape(1, 1, 3, 3), requires_grad=True)
    y = F.interpolate(x, scale_factor=(2.01, 1.1), mode="nearest")
    want = [[0, 1, 2], [0, 1, 2], [3, 4, 5], [3, 4, 5], [6, 7, 8], [6, 7, 8]]
    np.testing.assert_array_equal(y.detach().numpy()[0, 0], want)
    # The gradient adds each output's weight into the element it read (PyTorch's values).
    (y * _f64(np.arange(18.0).reshape(y.shape))).sum().backward()
    np.testing.assert_array_equal(
        x.grad.numpy()[0, 0], [[3.0, 5.0, 7.0], [15.0, 17.0, 19.0], [27.0, 29.0, 31.0]]
    )


def test_nearest_1d_and_3d_keep_the_floor_rule() -> None:
    # PyTorch's 1-D and 3-D nearest forward has no shortcut: floor(i / 2.01) = 0, 0, 0, 1, 1, 2,
    # and a kept size at scale 1.3 reads floor(i / 1.3) = 0, 0.
    got = F.interpolate(_f64([[[0.0, 1.0, 2.0]]]), scale_factor=2.01, mode="nearest")
    np.testing.assert_array_equal(got.numpy().reshape(-1), [0, 0, 0, 1, 1, 2])
    x3 = _f64(np.arange(8.0).reshape(1, 1, 2, 2, 2))
    got3 = F.interpolate(x3, scale_factor=(2.01, 1.3, 1.0), mode="nearest")
    assert tuple(got3.shape) == (1, 1, 4, 2, 2)
    np.testing.assert_array_equal(
        got3.numpy().reshape(-1), [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 4, 5, 4, 5]
    )


def test_nearest_exact_2d_has_no_shortcut() -> None:
    # 3 columns at scale 1.3 stay 3 but read floor((i + 0.5) / 1.3) = 0, 1, 1 (PyTorch).
    x = _f64(np.arange(9.0).reshape(1, 1, 3, 3))
    got = F.interpolate(x, scale_factor=(2.01, 1.3), mode="nearest-exact")
    want = [[0, 1, 1], [0, 1, 1], [3, 4, 4], [3, 4, 4], [6, 7, 7], [6, 7, 7]]
    np.testing.assert_array_equal(got.numpy()[0, 0], want)


# ---- adaptive pools and area resizes to size 0 -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "shape", "size", "want"),
    [
        ("adaptive_avg_pool1d", (1, 2, 4), 0, (1, 2, 0)),
        ("adaptive_max_pool1d", (1, 2, 4), 0, (1, 2, 0)),
        ("adaptive_avg_pool2d", (1, 2, 4, 4), 0, (1, 2, 0, 0)),
        ("adaptive_avg_pool2d", (1, 2, 4, 4), (0, None), (1, 2, 0, 4)),
        ("adaptive_avg_pool2d", (2, 4, 4), (6, 0), (2, 6, 0)),
        ("adaptive_max_pool2d", (1, 2, 4, 4), (0, 2), (1, 2, 0, 2)),
        ("adaptive_max_pool2d", (2, 4, 4), 0, (2, 0, 0)),
    ],
)
def test_adaptive_pool_to_size_zero_is_empty(
    name: str, shape: tuple[int, ...], size: object, want: tuple[int, ...]
) -> None:
    x = dm.randn(shape, requires_grad=True)
    out = getattr(F, name)(x, size)
    assert tuple(out.shape) == want
    assert out.requires_grad  # in the graph, as PyTorch's result
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(shape))


@pytest.mark.parametrize("name", ["adaptive_max_pool1d", "adaptive_max_pool2d"])
def test_adaptive_max_pool_to_size_zero_returns_empty_int64_indices(name: str) -> None:
    shape = (1, 3, 5) if name.endswith("1d") else (1, 3, 5, 5)
    values, indices = getattr(F, name)(dm.randn(shape), 0, return_indices=True)
    assert tuple(values.shape) == tuple(indices.shape) == (*shape[:2], *(0,) * (len(shape) - 2))
    assert indices.dtype == dm.int64


def test_adaptive_pool_size_zero_still_needs_a_non_empty_input() -> None:
    with pytest.raises(ShapeError, match="non-zero size"):
        F.adaptive_avg_pool2d(dm.randn(1, 2, 0, 4), 0)
    with pytest.raises(ShapeError, match="non-zero size"):
        F.adaptive_max_pool2d(dm.randn(1, 2, 4, 0), (0, 2))


def test_adaptive_pool_negative_size_is_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        F.adaptive_max_pool2d(dm.randn(1, 2, 4, 4), (-1, 2))


@pytest.mark.parametrize(
    ("shape", "kwargs", "want"),
    [
        ((1, 1, 4, 4), {"size": 0}, (1, 1, 0, 0)),
        ((1, 1, 4, 4), {"size": (2, 0)}, (1, 1, 2, 0)),
        ((1, 2, 5), {"scale_factor": 0.1}, (1, 2, 0)),
        ((1, 1, 4, 4, 4), {"size": 0}, (1, 1, 0, 0, 0)),
    ],
)
def test_area_resize_to_size_zero_is_empty(
    shape: tuple[int, ...], kwargs: dict, want: tuple[int, ...]
) -> None:
    assert tuple(F.interpolate(dm.randn(shape), mode="area", **kwargs).shape) == want


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_other_resizes_to_size_zero_still_raise(mode: str) -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        F.interpolate(dm.randn(1, 1, 4, 4), size=(0, 2), mode=mode)


# ---- pad crops that leave nothing -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
@pytest.mark.parametrize("pads", [[-3, 0], [-1, -2], [1, -4], [1, 1, -3, 0]])
def test_reflect_and_replicate_refuse_an_empty_output(mode: str, pads: list[int]) -> None:
    # PyTorch: RuntimeError "input (W: 3) is too small. Calculated output W: 0".
    x = dm.randn(1, 3, 3)
    with pytest.raises(ShapeError, match="too small"):
        F.pad(x, pads, mode=mode)
    with pytest.raises(RuntimeError):
        F.pad(x, pads, mode=mode)


def test_replicate_refuses_an_empty_input_dim() -> None:
    with pytest.raises(ShapeError, match="too small"):
        F.pad(dm.randn(1, 2, 0), [1, 1], mode="replicate")


@pytest.mark.parametrize(
    ("shape", "pads"),
    [((5, 2), [-2, 2]), ((1, 2, 5), [2, -5]), ((1, 2, 3), [-4, 2]), ((2, 1), [-1, 1])],
)
def test_circular_wrap_of_a_dim_cropped_to_nothing_is_refused(
    shape: tuple[int, ...], pads: list[int]
) -> None:
    # PyTorch reads uninitialised memory here; democratising says why, with no NumPy warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ShapeError, match="nothing is left to wrap around"):
            F.pad(dm.randn(shape), pads, mode="circular")


def test_circular_crop_to_nothing_without_wrapping_is_empty() -> None:
    # PyTorch: shapes (1, 2, 0) and (1, 0, 5).
    assert tuple(F.pad(dm.randn(1, 2, 5), [-2, -3], mode="circular").shape) == (1, 2, 0)
    x = _f64(np.arange(9.0).reshape(1, 3, 3))
    assert tuple(F.pad(x, [1, 1, -3, 0], mode="circular").shape) == (1, 0, 5)


def test_circular_wraps_what_the_crop_leaves() -> None:
    # PyTorch's values: crop 3 on the left, then wrap the 2 left over on the right.
    x = _f64(np.arange(10.0).reshape(1, 2, 5))
    got = F.pad(x, [-3, 2], mode="circular")
    np.testing.assert_array_equal(got.numpy(), [[[3, 4, 3, 4], [8, 9, 8, 9]]])


# ---- grouped-query attention with different key and value heads -------------------------------


def _np_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    s = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    w = np.exp(s - s.max(-1, keepdims=True))
    return (w / w.sum(-1, keepdims=True)) @ v


@pytest.mark.parametrize(("hk", "hv"), [(2, 1), (1, 2), (4, 2), (2, 4)])
@pytest.mark.parametrize("batch", [(), (2,)])
def test_gqa_with_different_key_and_value_heads(hk: int, hv: int, batch: tuple[int, ...]) -> None:
    rng = np.random.default_rng(hk * 10 + hv)
    q = rng.standard_normal((*batch, 4, 3, 4))
    k = rng.standard_normal((*batch, hk, 5, 4))
    v = rng.standard_normal((*batch, hv, 5, 4))
    dq, dk, dv = (_f64(a, requires_grad=True) for a in (q, k, v))
    out = F.scaled_dot_product_attention(dq, dk, dv, enable_gqa=True)
    kk, vv = np.repeat(k, 4 // hk, axis=-3), np.repeat(v, 4 // hv, axis=-3)
    np.testing.assert_allclose(out.detach().numpy(), _np_attention(q, kk, vv), atol=1e-12)
    # Gradients: those of the attention on the repeated keys and values, summed back per
    # group (each key head serves 4 // hk query heads).
    g = rng.standard_normal(out.shape)
    out.backward(_f64(g))
    rq, rk, rv = (_f64(a, requires_grad=True) for a in (q, kk, vv))
    F.scaled_dot_product_attention(rq, rk, rv).backward(_f64(g))

    def grouped(grad: np.ndarray, heads: int) -> np.ndarray:
        return grad.reshape(*batch, heads, 4 // heads, 5, 4).sum(-3)

    np.testing.assert_allclose(dq.grad.numpy(), rq.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(dk.grad.numpy(), grouped(rk.grad.numpy(), hk), atol=1e-12)
    np.testing.assert_allclose(dv.grad.numpy(), grouped(rv.grad.numpy(), hv), atol=1e-12)


@pytest.mark.parametrize(("hk", "hv", "match"), [(3, 1, "must divide"), (2, 3, "must divide")])
def test_gqa_head_counts_that_do_not_divide_are_refused(hk: int, hv: int, match: str) -> None:
    q, k, v = dm.randn(1, 4, 3, 4), dm.randn(1, hk, 5, 4), dm.randn(1, hv, 5, 4)
    with pytest.raises(ShapeError, match=match):
        F.scaled_dot_product_attention(q, k, v, enable_gqa=True)


def test_gqa_zero_key_heads_are_refused() -> None:
    q, k, v = dm.randn(1, 4, 3, 4), dm.randn(1, 0, 5, 4), dm.randn(1, 2, 5, 4)
    with pytest.raises(ShapeError, match="greater than 0"):
        F.scaled_dot_product_attention(q, k, v, enable_gqa=True)


# ---- p=inf distances with tied coordinates ----------------------------------------------------


def test_pdist_inf_gives_each_tied_coordinate_the_whole_gradient() -> None:
    # PyTorch: [[0, 0], [-2, -2], [2, 2]] (row 0 ties both coordinates against rows 1 and 2).
    x = _f64([[1.0, 2.0], [0.0, 1.0], [2.0, 3.0]], requires_grad=True)
    F.pdist(x, p=math.inf).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.0], [-2.0, -2.0], [2.0, 2.0]])


def test_pairwise_distance_inf_splits_ties_as_pytorchs_norm() -> None:
    # PyTorch's pairwise_distance is a vector norm, whose inf-norm backward shares a tie.
    a = _f64([[1.0, 2.0], [0.0, 3.0]], requires_grad=True)
    F.pairwise_distance(a, _f64([[0.0, 1.0], [2.0, 2.0]]), p=math.inf, eps=0.0).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [[0.5, 0.5], [-1.0, 0.0]])


def test_cdist_inf_gives_each_tied_coordinate_the_whole_gradient() -> None:
    a = _f64([[1.0, 2.0], [0.0, 3.0]], requires_grad=True)
    b = _f64([[0.0, 1.0], [2.0, 2.0]], requires_grad=True)
    dm.cdist(a, b, p=math.inf).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [[0.0, 1.0], [-1.0, 1.0]])
    np.testing.assert_array_equal(b.grad.numpy(), [[-1.0, -2.0], [2.0, 0.0]])
