"""Loss functions against PyTorch 2.15's behaviour (NumPy references): class losses over
``(N, C, d1, ...)`` with class weights, a single sample ``(C,)``, label smoothing bounds,
probability targets with ``ignore_index``, and the value checks of the elementwise losses."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F

rng = np.random.default_rng(15)


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    z = x - x.max(axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis, keepdims=True))


def _weighted_nll(lp: np.ndarray, t: np.ndarray, w: np.ndarray, reduction: str) -> np.ndarray:
    """``lp`` ``(N, C, d...)``, ``t`` ``(N, d...)`` with -100 ignored."""
    valid = t != -100
    safe = np.where(valid, t, 0)
    picked = np.take_along_axis(lp, safe[:, None], 1)[:, 0]
    rw = w[safe] * valid
    losses = -picked * rw
    if reduction == "mean":
        return losses.sum() / rw.sum()
    return losses.sum() if reduction == "sum" else losses


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 4, 3, 2)])
def test_weighted_class_losses_over_spatial_dims(reduction: str, shape: tuple) -> None:
    x = rng.standard_normal(shape)
    t = rng.integers(0, shape[1], (shape[0], *shape[2:]))
    t.flat[1] = -100
    w = rng.uniform(0.5, 2.0, shape[1])
    want = _weighted_nll(_log_softmax(x, 1), t, w, reduction)
    got = F.cross_entropy(dm.tensor(x), dm.tensor(t), weight=dm.tensor(w), reduction=reduction)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)
    lp = dm.tensor(_log_softmax(x, 1))
    got = F.nll_loss(lp, dm.tensor(t), weight=dm.tensor(w), reduction=reduction)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)


def test_spatial_cross_entropy_with_smoothing_and_no_targets_left() -> None:
    x = dm.tensor(rng.standard_normal((2, 3, 4)), requires_grad=True)
    loss = F.cross_entropy(x, dm.full((2, 4), -100).long(), label_smoothing=0.1)
    loss.backward()
    assert np.isnan(loss.item())
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3, 4)))


def test_spatial_target_of_the_wrong_shape_raises() -> None:
    x = dm.zeros(3, 4, 2, 5)
    with pytest.raises(dm.ShapeError):
        F.cross_entropy(x, dm.zeros(3, 2, 4).long())
    with pytest.raises(dm.ShapeError):
        F.nll_loss(x, dm.zeros(3, 5, 2).long())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target", [np.array(2), np.array([2])])
def test_single_sample_loss_is_0d(reduction: str, target: np.ndarray) -> None:
    x = np.array([0.5, -1.0, 2.0, 0.1])
    want = -_log_softmax(x, 0)[2]
    for got in (
        F.cross_entropy(dm.tensor(x), dm.tensor(target), reduction=reduction),
        F.nll_loss(dm.tensor(_log_softmax(x, 0)), dm.tensor(target), reduction=reduction),
    ):
        assert tuple(got.shape) == ()
        np.testing.assert_allclose(got.item(), want, rtol=1e-12)
    with pytest.raises(ValueError):
        F.cross_entropy(dm.tensor(x), dm.tensor([1, 2]))


def test_label_smoothing_bounds_as_pytorch() -> None:
    x, t = dm.tensor(rng.standard_normal((4, 3))), dm.tensor([0, 2, 1, 1])
    # A negative smoothing is no smoothing; above 1 is an error PyTorch raises as RuntimeError.
    assert F.cross_entropy(x, t, label_smoothing=-0.2).item() == F.cross_entropy(x, t).item()
    with pytest.raises(RuntimeError):
        F.cross_entropy(x, t, label_smoothing=1.5)


def test_probability_targets_reject_a_non_negative_ignore_index() -> None:
    x, p = dm.zeros(2, 3), dm.full((2, 3), 1 / 3)
    with pytest.raises(RuntimeError, match="ignore_index"):
        F.cross_entropy(x, p, ignore_index=0)
    np.testing.assert_allclose(F.cross_entropy(x, p, ignore_index=-1).item(), np.log(3))


@pytest.mark.parametrize("delta", [0.0, -1.0])
def test_huber_rejects_non_positive_delta(delta: float) -> None:
    with pytest.raises(RuntimeError, match="delta"):
        F.huber_loss(dm.zeros(3), dm.ones(3), delta=delta)


def test_smooth_l1_negative_beta_is_a_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="beta"):
        F.smooth_l1_loss(dm.zeros(3), dm.ones(3), beta=-1.0)


def test_kl_div_negative_target_is_nan() -> None:
    # PyTorch's xlogy(t, t): a negative target gives NaN, a zero one contributes 0.
    inp = dm.tensor([-1.0, -2.0, -0.5])
    got = F.kl_div(inp, dm.tensor([0.5, -0.1, 0.6]), reduction="none").numpy()
    assert np.isnan(got[1]) and np.isfinite(got[[0, 2]]).all()
    zero = F.kl_div(inp, dm.tensor([0.0, 0.4, 0.6]), reduction="none").numpy()
    assert zero[0] == 0.0


def test_bce_target_gradient_is_unclamped() -> None:
    x = dm.tensor([0.0, 1.0, 0.5])
    y = dm.tensor([0.0, 1.0, 1.0], requires_grad=True)
    F.binary_cross_entropy(x, y, reduction="sum").backward()
    np.testing.assert_array_equal(y.grad.numpy(), [np.inf, -np.inf, 0.0])


def test_triplet_inputs_need_the_same_number_of_dims() -> None:
    with pytest.raises(dm.ShapeError):
        F.triplet_margin_loss(dm.zeros(4, 3), dm.zeros(4, 3), dm.zeros(3))


@pytest.mark.parametrize("through_log_softmax", [True, False])
def test_nll_loss_mean_over_all_ignored_targets_is_nan_with_zero_gradient(
    through_log_softmax: bool,
) -> None:
    x = dm.randn(3, 4, requires_grad=True)
    logp = x.log_softmax(1) if through_log_softmax else x
    loss = F.nll_loss(logp, dm.tensor([-100, -100, -100]))
    loss.backward()
    assert np.isnan(loss.item())
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((3, 4), np.float32))
