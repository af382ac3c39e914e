"""Regressions for the session-24 Python fixes (pyfix2) not covered by the fuzz files.

Expected values are PyTorch 2.x's (CPU), computed once and written here as constants."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising.linalg import _common as linalg_common


def _signs(t: dm.Tensor) -> list[bool]:
    return np.signbit(np.asarray(t.detach().numpy())).ravel().tolist()


# ---- diag / diag_embed -----------------------------------------------------------------------


def test_diag_negative_offset_with_inf_and_gradient() -> None:
    x = dm.tensor([math.inf, -2.0], requires_grad=True)
    y = dm.diag(x, -1)
    assert y.tolist() == [[0.0, 0.0, 0.0], [math.inf, 0.0, 0.0], [0.0, -2.0, 0.0]]
    assert not any(_signs(y)[i] for i in (0, 1, 2, 4, 5, 6, 8))
    (y * dm.arange(9.0).reshape(3, 3)).sum().backward()
    assert x.grad.tolist() == [3.0, 7.0]


def test_diag_of_int_and_bool_vectors() -> None:
    assert dm.diag(dm.tensor([1, 2]), 1).tolist() == [[0, 1, 0], [0, 0, 2], [0, 0, 0]]
    assert dm.diag(dm.tensor([True, False])).tolist() == [[True, False], [False, False]]


def test_linalg_diag_helpers_do_not_spread_nan() -> None:
    v = dm.tensor([[math.nan, -1.0], [2.0, math.inf]])
    out = np.asarray(linalg_common.diag_embed(v).numpy())
    assert np.isnan(out).sum() == 1 and np.isnan(out[0, 0, 0])
    assert out[1].tolist() == [[2.0, 0.0], [0.0, math.inf]]
    assert not np.signbit(out[out == 0]).any()
    m = dm.tensor([[1.0, math.inf], [math.nan, -0.0]])
    part = linalg_common.diag_part(m)
    assert part.tolist() == [1.0, 0.0]
    assert _signs(part) == [False, True]


# ---- searchsorted ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seq", "values"),
    [((0, 5), (0, 3)), ((3, 0), (3, 2)), ((2, 3, 0), (2, 3, 4)), ((2, 0), (2, 0))],
)
def test_searchsorted_batched_empty_shapes(seq: tuple, values: tuple) -> None:
    out = dm.searchsorted(dm.zeros(seq), dm.zeros(values), out_int32=True)
    assert tuple(out.shape) == values
    assert out.dtype == dm.int32
    assert not np.asarray(out.numpy()).any()


# ---- index_put / put / index_copy / scatter with repeated indices --------------------------------


def test_index_put_two_index_tensors_repeated_position_gradients() -> None:
    w = dm.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    x = dm.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    v = dm.tensor([7.0, 8.0, 9.0], requires_grad=True)
    y = x.index_put((dm.tensor([0, 0, 1]), dm.tensor([1, 1, 2])), v)
    (y * w).sum().backward()
    assert y.tolist() == [[1.0, 8.0, 3.0], [4.0, 5.0, 9.0]]
    assert x.grad.tolist() == [[1.0, 0.0, 3.0], [4.0, 5.0, 0.0]]
    assert v.grad.tolist() == [2.0, 2.0, 6.0]


def test_put_repeated_positions_gradients() -> None:
    x = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    s = dm.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x.put(dm.tensor([[0, 0], [2, -1]]), s)
    (y * dm.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert y.tolist() == [2.0, 2.0, 4.0]
    assert x.grad.tolist() == [0.0, 2.0, 0.0]
    assert s.grad.tolist() == [[1.0, 1.0], [3.0, 3.0]]


def test_index_copy_along_dim1_repeated_and_0d() -> None:
    x = dm.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    s = dm.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x.index_copy(1, dm.tensor([2, 2]), s)
    (y * dm.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).sum().backward()
    assert y.tolist() == [[1.0, 2.0, 2.0], [4.0, 5.0, 4.0]]
    assert x.grad.tolist() == [[1.0, 2.0, 0.0], [4.0, 5.0, 0.0]]
    assert s.grad.tolist() == [[3.0, 3.0], [6.0, 6.0]]
    a = dm.tensor(1.0, requires_grad=True)
    b = dm.tensor(3.0, requires_grad=True)
    z = a.index_copy(0, dm.tensor(0), b)
    (z * 2).backward()
    assert (z.item(), a.grad.item(), b.grad.item()) == (3.0, 0.0, 2.0)


def test_scatter_repeated_targets_give_every_src_its_gradient() -> None:
    w = dm.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    x = dm.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    s = dm.tensor([[7.0, 8.0, 9.0], [10.0, 11.0, 12.0]], requires_grad=True)
    y = x.scatter(0, dm.tensor([[1, 0, 1], [1, 1, 0]]), s)
    (y * w).sum().backward()
    assert y.tolist() == [[1.0, 8.0, 12.0], [10.0, 11.0, 9.0]]
    assert x.grad.tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]
    assert s.grad.tolist() == [[4.0, 2.0, 6.0], [4.0, 5.0, 3.0]]


def test_scatter_value_and_int_keep_last_write() -> None:
    out = dm.tensor([1.0, 2.0, 3.0]).scatter(0, dm.tensor([0, 1]), -0.0)
    assert _signs(out) == [True, True, False]
    assert dm.tensor([1, 2, 3]).scatter(0, dm.tensor([0, 0]), dm.tensor([5, 6])).tolist() == [
        6,
        2,
        3,
    ]


# ---- signed zeros through scatter_reduce / index_reduce ------------------------------------------


@pytest.mark.parametrize(
    ("reduce", "include_self", "values", "signs"),
    [
        ("prod", True, [-0.0, -0.0, 0.0, 0.0], [True, True, False, False]),
        ("prod", False, [-0.0, -0.0, -0.0, 0.0], [True, True, True, False]),
        ("amax", True, [1.0, 2.0, -0.0, 0.0], [False, False, True, False]),
        ("amax", False, [-0.0, -0.0, -0.0, -0.0], [True, True, True, True]),
        ("amin", False, [-0.0, -0.0, -0.0, -0.0], [True, True, True, True]),
    ],
)
def test_scatter_reduce_negative_zero(
    reduce: str, include_self: bool, values: list, signs: list
) -> None:
    x = dm.tensor([1.0, 2.0, -0.0, 0.0])
    out = x.scatter_reduce(
        0, dm.tensor([0, 1, 2, 3, 3]), dm.tensor([-0.0] * 5), reduce, include_self=include_self
    )
    assert out.tolist() == values
    assert _signs(out) == signs


def test_index_reduce_prod_negative_zero() -> None:
    x = dm.tensor([[1.0, -0.0], [2.0, 0.0]])
    src = dm.tensor([[-0.0, -0.0], [-0.0, 1.0]])
    out = x.index_reduce(0, dm.tensor([0, 0]), src, "prod", include_self=False)
    assert out.tolist() == [[0.0, -0.0], [2.0, 0.0]]
    assert _signs(out) == [False, True, False, False]


# ---- 3-d max pools: the gradient of a tie goes to the first maximum ----------------------


def test_max_pool3d_padded_dilated_ties_match_torch() -> None:
    x = dm.tensor(np.zeros((1, 1, 3, 1, 1)), requires_grad=True)
    F.max_pool3d(x, (3, 1, 1), stride=1, padding=(1, 0, 0)).sum().backward()
    assert x.grad.numpy().ravel().tolist() == [2.0, 1.0, 0.0]
    x = dm.tensor(np.zeros((1, 1, 2, 1, 1)), requires_grad=True)
    y = F.max_pool3d(x, (2, 1, 1), padding=(1, 0, 0), dilation=(3, 1, 1))
    assert y.tolist() == [[[[[-math.inf]]]]]


def test_max_pool3d_nan_gradient_goes_to_last_nan() -> None:
    a = np.array([1.0, math.nan, 2.0, math.nan]).reshape(1, 1, 4, 1, 1)
    x = dm.tensor(a, requires_grad=True)
    y = F.max_pool3d(x, (4, 1, 1))
    y.sum().backward()
    assert math.isnan(y.item())
    assert x.grad.numpy().ravel().tolist() == [0.0, 0.0, 0.0, 1.0]


def test_adaptive_max_pool3d_overlapping_windows_ties() -> None:
    x = dm.tensor(np.zeros((1, 1, 3, 1, 1)), requires_grad=True)
    F.adaptive_max_pool3d(x, (2, 1, 1)).sum().backward()
    assert x.grad.numpy().ravel().tolist() == [1.0, 1.0, 0.0]


# ---- half-precision norms ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [dm.float16, dm.bfloat16])
def test_half_norms_accumulate_in_float32(dtype: dm.dtype) -> None:
    x = dm.tensor(np.array([[300.0, 400.0], [3.0, 4.0]])).to(dtype)
    for out in (
        x.norm(dim=1),
        dm.linalg.vector_norm(x, dim=1),
        dm.linalg.norm(x, dim=1),
        x.requires_grad_(True).norm(dim=1),
    ):
        assert out.dtype == dtype
        np.testing.assert_allclose(out.detach().float().numpy(), [500.0, 5.0], rtol=4e-3)
    x = x.detach()
    np.testing.assert_allclose(
        x.norm(p=3, dim=1).float().numpy(), [449.75 if dtype == dm.float16 else 450.0, 4.5], 4e-3
    )
    np.testing.assert_allclose(
        F.pairwise_distance(x, -x, p=3).float().numpy(), [899.5, 8.9921875], rtol=4e-3
    )
    np.testing.assert_allclose(F.pdist(x).float().numpy(), [494.9], rtol=4e-3)
    np.testing.assert_allclose(
        dm.linalg.matrix_norm(x).float().numpy(), math.sqrt(250025.0), rtol=4e-3
    )


def test_float16_norm_gradient_and_overflowing_row() -> None:
    x = dm.tensor(np.array([[300.0, 400.0], [60000.0, 60000.0]])).half().requires_grad_(True)
    n = x.norm(dim=1)
    assert n.float().tolist()[1] == math.inf
    n[0].backward()
    np.testing.assert_allclose(x.grad.float().numpy()[0], [0.6, 0.8], rtol=2e-3)
    # An infinite norm divides to 0 (PyTorch), not inf + (inf - inf) = nan.
    c = F.cosine_similarity(x.detach(), x.detach(), dim=1).float().tolist()
    assert c[1] == 0.0


def test_cosine_similarity_zero_row_keeps_straight_through_gradient() -> None:
    a = dm.tensor([[0.0, 0.0], [1.0, 2.0]], requires_grad=True)
    b = dm.tensor([[1.0, 1.0], [2.0, 1.0]])
    out = F.cosine_similarity(a, b)
    np.testing.assert_allclose(out.detach().numpy(), [0.0, 0.8], rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [[70710680.0, 70710680.0], [0.24, -0.12]], rtol=1e-5)


# ---- pdist p=inf ------------------------------------------------------------------------------


def test_pdist_inf_ties_and_empty_columns() -> None:
    a = [[0.5, 2.0, -1.0], [0.5, -1.0, -4.0], [1.0, 1.0, 1.0], [0.5, 2.0, -1.0]]
    x = dm.tensor(np.array(a), requires_grad=True)
    y = F.pdist(x, math.inf)
    assert y.detach().tolist() == [3.0, 2.0, 0.0, 5.0, 3.0, 2.0]
    (y * dm.arange(1.0, 7.0)).sum().backward()
    assert x.grad.tolist() == [
        [0.0, 1.0, -1.0],
        [0.0, -6.0, -10.0],
        [0.0, 0.0, 12.0],
        [0.0, 5.0, -1.0],
    ]
    assert F.pdist(dm.zeros(3, 0), math.inf).tolist() == [0.0, 0.0, 0.0]


def test_pdist_inf_double_backward() -> None:
    x = dm.tensor([[0.5, 2.0, -1.0], [0.5, -1.0, -4.0]], requires_grad=True)
    (g,) = dm.autograd.grad(F.pdist(x, math.inf).sum(), x, create_graph=True)
    assert g.tolist() == [[0.0, 1.0, 1.0], [0.0, -1.0, -1.0]]


# ---- hinge / multilabel margin losses with non-finite scores ----------------------------


def test_hinge_embedding_loss_infinite_input_gradient() -> None:
    x = dm.tensor([math.inf, -math.inf, 1.0, 0.5, 2.0, 0.3], requires_grad=True)
    y = dm.tensor([1.0, -1.0, -1.0, 1.0, -1.0, 0.5])
    out = F.hinge_embedding_loss(x, y, reduction="none")
    assert out.tolist() == [math.inf, math.inf, 0.0, 0.5, 0.0, 1.0]
    out.sum().backward()
    assert x.grad.tolist() == [1.0, -1.0, 0.0, 1.0, 0.0, 0.0]


def test_multilabel_margin_loss_nan_hinges_add_nothing() -> None:
    x = dm.tensor(
        np.array([[math.nan, 1.0, 2.0], [1.0, math.nan, 2.0], [1.0, 2.0, 3.0], [0.5, 0.5, 0.5]]),
        requires_grad=True,
    )
    t = dm.tensor(np.array([[0, -1, 1], [0, 2, -1], [2, 1, 0], [0, 0, 1]]))
    out = F.multilabel_margin_loss(x, t, reduction="none")
    np.testing.assert_allclose(out.detach().numpy(), [0.0, 0.0, 0.0, 1.0])
    out.sum().backward()
    np.testing.assert_allclose(
        x.grad.numpy(),
        [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [-2 / 3, -1 / 3, 1.0]],
        rtol=1e-6,
    )


def test_multilabel_margin_loss_infinite_score_gradient() -> None:
    x = dm.tensor(
        np.array([[math.inf, 1.0, 2.0], [-math.inf, 1.0, 2.0], [1.0, 2.0, 3.0]]),
        requires_grad=True,
    )
    t = dm.tensor(np.array([[0, -1, 1], [1, -1, 0], [2, 0, -1]]))
    F.multilabel_margin_loss(x, t, reduction="sum").backward()
    np.testing.assert_allclose(
        x.grad.numpy(),
        [[0.0, 0.0, 0.0], [0.0, -1 / 3, 1 / 3], [-1 / 3, 1 / 3, 0.0]],
        rtol=1e-6,
    )
