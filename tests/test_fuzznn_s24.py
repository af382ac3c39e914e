"""Regressions found by the session-24 differential fuzz of ``nn.functional`` against PyTorch.

Every expected value below was produced by PyTorch 2.x on the CPU for the same inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F


def _leaf(values: object, dtype: object = None) -> dm.Tensor:
    t = dm.tensor(np.asarray(values, dtype=np.float64))
    if dtype is not None:
        t = t.to(dtype)
    return t.requires_grad_(True)


def test_max_pool3d_gradient_goes_to_first_tied_maximum() -> None:
    x = _leaf(np.zeros((1, 1, 2, 1, 1)))
    F.max_pool3d(x, (2, 1, 1)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [1.0, 0.0])


def test_adaptive_max_pool3d_gradient_goes_to_first_tied_maximum() -> None:
    x = _leaf(np.zeros((1, 1, 2, 1, 1)))
    F.adaptive_max_pool3d(x, 1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [1.0, 0.0])


def test_max_pool2d_gradient_with_ties_matches_torch() -> None:
    """The 2-d pool already routes a tie's gradient to one element (the 3-d one must agree)."""
    x = _leaf(np.zeros((1, 2, 1)))
    F.max_pool2d(x, (2, 1)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [1.0, 0.0])


def test_normalize_float16_does_not_overflow() -> None:
    x = dm.tensor(np.array([[300.0, 1.0], [300.0, 2.0]])).half()
    out = F.normalize(x, dim=0).float().numpy().ravel()
    np.testing.assert_allclose(out, [0.70703125, 0.44726562, 0.70703125, 0.89453125], rtol=2e-3)


def test_float16_norm_cosine_similarity_pairwise_distance() -> None:
    x = dm.tensor(np.array([[300.0, 400.0], [3.0, 4.0]])).half()
    np.testing.assert_allclose(x.norm(dim=1).float().numpy(), [500.0, 5.0], rtol=2e-3)
    np.testing.assert_allclose(
        F.cosine_similarity(x, x, dim=1).float().numpy(), [1.0, 1.0], rtol=2e-3
    )
    np.testing.assert_allclose(
        F.pairwise_distance(x, -x).float().numpy(), [1000.0, 10.0], rtol=2e-3
    )


def test_pdist_inf_gradient_with_ties() -> None:
    x = _leaf([[0.5, 2.0, -1.0], [0.5, -1.0, -4.0]])
    out = F.pdist(x, p=math.inf)
    np.testing.assert_array_equal(out.detach().numpy(), [3.0])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0, 1.0], [0.0, -1.0, -1.0]])


def test_hinge_embedding_loss_infinite_input() -> None:
    x = dm.tensor(np.array([math.inf, -math.inf, 1.0, math.nan]))
    y = dm.tensor(np.array([1.0, -1.0, -1.0, 1.0]))
    out = F.hinge_embedding_loss(x, y, reduction="none").numpy()
    np.testing.assert_array_equal(out, [math.inf, math.inf, 0.0, math.nan])


def test_multilabel_margin_loss_infinite_score() -> None:
    x = dm.tensor(np.array([[math.inf, 1.0, 2.0], [-math.inf, 1.0, 2.0], [1.0, 2.0, 3.0]]))
    t = dm.tensor(np.array([[0, -1, 1], [1, -1, 0], [2, 0, -1]]))
    out = F.multilabel_margin_loss(x, t, reduction="none").numpy()
    np.testing.assert_allclose(out, [0.0, 2.0 / 3.0, 2.0 / 3.0], rtol=1e-6)


def test_conv_transpose_output_size_zero_raises() -> None:
    """PyTorch's reference path refuses an output size of 0 ("Output size is too small"; its
    float32 oneDNN path returns an empty tensor instead, for some shapes)."""
    with pytest.raises(RuntimeError, match="too small"):
        F.conv_transpose2d(dm.ones(8, 1, 2, 4), dm.ones(1, 2, 1, 1), padding=1)
    with pytest.raises(RuntimeError, match="too small"):
        F.conv_transpose3d(dm.ones(2, 1, 2, 3, 4), dm.ones(1, 3, 1, 1, 1), padding=1)
    with pytest.raises(ValueError):  # a negative output size too
        F.conv_transpose2d(dm.ones(1, 1, 2, 2), dm.ones(1, 1, 1, 1), padding=2)


def test_nll_loss_ignored_row_with_infinite_log_prob() -> None:
    lp = dm.tensor(np.array([[-math.inf, -math.inf], [-0.5, -1.0]]))
    t = dm.tensor(np.array([1, 0]))
    assert F.nll_loss(lp, t, ignore_index=1, reduction="sum").item() == 0.5
    assert F.nll_loss(lp, t, ignore_index=1).item() == 0.5
    none = F.nll_loss(lp, t, ignore_index=1, reduction="none").numpy()
    np.testing.assert_array_equal(none, [0.0, 0.5])
