"""Softmax and cross-entropy over short rows (at most 64 classes), which the engine computes
sixteen rows at a time, against NumPy: every row length, ragged row counts, -inf entries."""

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F

RNG = np.random.default_rng(7)


def _log_softmax(a: np.ndarray) -> np.ndarray:
    m = a.max(-1, keepdims=True)
    m = np.where(np.isneginf(m), 0.0, m)
    return (a - m) - np.log(np.exp(a - m).sum(-1, keepdims=True))


@pytest.mark.parametrize("c", [1, 2, 5, 16, 21, 33, 64, 65])
@pytest.mark.parametrize("rows", [1, 15, 17, 4099])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_and_log_softmax_of_short_rows(c, rows, dtype):
    a = (RNG.standard_normal((rows, c)) * 4).astype(dtype)
    if c > 2:
        a[0, 1] = -np.inf
    x = dm.tensor(a)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    want = _log_softmax(a.astype(np.float64))
    np.testing.assert_allclose(F.log_softmax(x, -1).numpy(), want, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(F.softmax(x, -1).numpy(), np.exp(want), rtol=rtol, atol=1e-7)


def test_softmax_of_all_neg_inf_short_rows_is_nan_as_pytorch():
    x = dm.full((3, 5), float("-inf"))
    assert np.isnan(F.softmax(x, -1).numpy()).all()


@pytest.mark.parametrize("c", [3, 21, 64])
def test_cross_entropy_short_rows_with_image_layout(c):
    logits = RNG.standard_normal((3, c, 5, 7)).astype(np.float64)
    labels = RNG.integers(0, c, (3, 5, 7))
    labels[0, 0, 0] = -100
    x = dm.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, dm.tensor(labels), reduction="sum")
    lp = _log_softmax(np.moveaxis(logits, 1, -1))
    keep = labels != -100
    picked = np.take_along_axis(lp, np.where(keep, labels, 0)[..., None], -1)[..., 0]
    np.testing.assert_allclose(loss.item(), -(picked * keep).sum(), rtol=1e-12)
    loss.backward()
    onehot = np.eye(c)[np.where(keep, labels, 0)] * keep[..., None]
    want = np.moveaxis(np.exp(lp) * keep[..., None] - onehot, -1, 1)
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-10, atol=1e-12)
