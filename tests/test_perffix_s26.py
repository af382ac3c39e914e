"""Session 26 perf fixes keep their exact semantics: ``topk``/``kthvalue`` by partition agree
with a stable full sort (ties by position, NaN largest, ``-0.0`` tied with ``0.0``),
``binary_cross_entropy_with_logits`` with one log1p, ``F.pad`` by slice assignment,
``EmbeddingBag`` sums by slot adds, and ``group_norm``'s affine on flat rows."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
from democratising import _tensor_extra
from democratising.nn import functional as F


def _stable_order(a: np.ndarray, descending: bool) -> np.ndarray:
    """Reference: stable sort positions along the last axis, NaN largest, -0.0 == 0.0."""
    nan = np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, bool)
    vals = np.where(nan, 0, a).astype(np.float64) + 0.0
    key = -vals if descending else vals
    rank = ~nan if descending else nan  # NaN group first when descending, last otherwise
    return np.lexsort((key, rank), axis=-1)


@pytest.fixture(params=[0, 10**9], ids=["partition", "full-sort"])
def threshold(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(_tensor_extra, "_FULL_SORT_BELOW", request.param)
    return request.param


@pytest.mark.parametrize("kind", ["normal", "ties", "nan", "int"])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_matches_stable_sort(threshold: int, kind: str, largest: bool) -> None:
    rng = np.random.default_rng(5)
    if kind == "int":
        a = rng.integers(-3, 4, (6, 40)).astype(np.int64)
    elif kind == "ties":
        a = rng.integers(-2, 3, (6, 40)).astype(np.float32)
        a[a == 0] = -0.0
    else:
        a = rng.standard_normal((6, 40)).astype(np.float32)
    if kind == "nan":
        a[rng.random(a.shape) < 0.3] = np.nan
        a[rng.random(a.shape) < 0.1] = -np.nan
        a[rng.random(a.shape) < 0.1] = np.inf
    order = _stable_order(a, largest)
    for k in (0, 1, 5, 17, 40):
        res = dm.topk(dm.from_numpy(a.copy()), k, largest=largest)
        np.testing.assert_array_equal(res.indices.numpy(), order[:, :k])
        np.testing.assert_array_equal(res.values.numpy(), np.take_along_axis(a, order[:, :k], 1))
    # along dim 0 too (a moved axis)
    res = dm.topk(dm.from_numpy(a.copy()), 3, dim=0, largest=largest)
    np.testing.assert_array_equal(res.indices.numpy(), _stable_order(a.T, largest)[:, :3].T)


def test_topk_gradient_is_the_gather(threshold: int) -> None:
    a = np.array([[3.0, 1.0, 3.0, np.nan, 2.0, 3.0]], dtype=np.float32)
    x = dm.from_numpy(a.copy()).requires_grad_(True)
    res = dm.topk(x, 3)
    assert res.indices.tolist() == [[3, 0, 2]]
    res.values.backward(dm.tensor([[1.0, 2.0, 4.0]]))
    assert x.grad.tolist() == [[2.0, 0.0, 4.0, 1.0, 0.0, 0.0]]


def test_topk_empty_and_scalar(threshold: int) -> None:
    e = dm.zeros(0, 5)
    assert tuple(dm.topk(e, 2).values.shape) == (0, 2)
    assert tuple(dm.topk(dm.zeros(3, 0), 0).indices.shape) == (3, 0)
    s = dm.topk(dm.tensor(4.0), 1)
    assert s.values.item() == 4.0 and s.indices.item() == 0


@pytest.mark.parametrize("kind", ["normal", "ties", "nan"])
def test_kthvalue_matches_stable_sort(threshold: int, kind: str) -> None:
    rng = np.random.default_rng(9)
    a = (
        rng.integers(-2, 3, (5, 3000)).astype(np.float64)
        if kind == "ties"
        else rng.standard_normal((5, 3000))
    )
    if kind == "nan":
        a[rng.random(a.shape) < 0.4] = np.nan
    order = _stable_order(a, False)
    x = dm.from_numpy(a.copy()).requires_grad_(True)
    for k in (1, 2, 1500, 2999, 3000):
        res = dm.kthvalue(x, k)
        np.testing.assert_array_equal(res.indices.numpy(), order[:, k - 1])
        np.testing.assert_array_equal(res.values.detach().numpy(), a[np.arange(5), order[:, k - 1]])
    kept = dm.kthvalue(x, 7, dim=1, keepdim=True)
    assert tuple(kept.values.shape) == (5, 1)
    kept.values.sum().backward()
    expected = np.zeros_like(a)
    expected[np.arange(5), order[:, 6]] = 1.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def _bce_reference(
    x: np.ndarray, y: np.ndarray, pw: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loss, d loss / dx and the size of the gradient's two terms, in float64 from the
    textbook formulas (no cancellation inside a term)."""
    sp_neg = np.logaddexp(0.0, -x)  # softplus(-x)
    sp_pos = np.logaddexp(0.0, x)
    neg_term = pw * y / (1.0 + np.exp(x))  # pw y sigmoid(-x)
    pos_term = (1 - y) / (1.0 + np.exp(-x))  # (1 - y) sigmoid(x)
    return pw * y * sp_neg + (1 - y) * sp_pos, pos_term - neg_term, pos_term + neg_term


@pytest.mark.parametrize("pw", [None, 2.5])
def test_bce_with_logits_values_and_gradient(pw: float | None) -> None:
    x64 = np.array([-40.0, -25.0, -20.0, -3.0, -1e-30, 0.0, 0.5, 3.0, 20.0, 25.0, 40.0])
    for y_val in (0.0, 0.3, 1.0):
        y64 = np.full_like(x64, y_val)
        ref_loss, ref_grad, size = _bce_reference(x64, y64, 1.0 if pw is None else pw)
        x = dm.from_numpy(x64.copy()).requires_grad_(True)
        pos_weight = None if pw is None else dm.tensor([pw], dtype=dm.float64)
        loss = F.binary_cross_entropy_with_logits(
            x, dm.from_numpy(y64), reduction="none", pos_weight=pos_weight
        )
        loss.sum().backward()
        np.testing.assert_allclose(loss.detach().numpy(), ref_loss, rtol=4e-16, atol=0)
        err = np.abs(x.grad.numpy() - ref_grad)
        assert (err <= 4e-16 * size).all(), (y_val, err / size)


def test_bce_with_logits_infinities_and_weight() -> None:
    # (x = inf with y = 1 is 0 * inf = NaN, in PyTorch too)
    x = dm.tensor([math.inf, -math.inf, 30.0, -30.0], requires_grad=True)
    y = dm.tensor([0.0, 1.0, 1.0, 0.0])
    loss = F.binary_cross_entropy_with_logits(x, y, weight=dm.tensor([2.0] * 4), reduction="none")
    expected = [math.inf, math.inf, 2 * math.exp(-30.0), 2 * math.exp(-30.0)]
    np.testing.assert_allclose(loss.tolist(), expected, rtol=1e-6)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.tolist(), [2.0, -2.0, -expected[2], expected[3]], rtol=1e-6)
    # the gradient at exactly 0 is sigmoid(0) - y
    z = dm.zeros(2, requires_grad=True)
    F.binary_cross_entropy_with_logits(z, dm.tensor([0.0, 1.0]), reduction="sum").backward()
    assert z.grad.tolist() == [0.5, -0.5]


def _pad_reference(a: np.ndarray, pads: list[int], mode: str) -> np.ndarray:
    width = [(0, 0)] * (a.ndim - len(pads) // 2)
    width += [(pads[2 * i], pads[2 * i + 1]) for i in reversed(range(len(pads) // 2))]
    np_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}
    return np.pad(a, width, mode=np_mode.get(mode, "wrap"))


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("grad", [False, True])
def test_pad_modes(mode: str, grad: bool) -> None:
    rng = np.random.default_rng(2)
    a = rng.standard_normal((2, 3, 5, 6))
    a[0, 0, 0, 0] = np.nan
    for pads in ([1, 2, 0, 0], [2, 0, 1, 3], [0, 0, 4, 1]):
        x = dm.from_numpy(a.copy()).requires_grad_(grad)
        out = F.pad(x, pads, mode=mode)
        np.testing.assert_array_equal(out.detach().numpy(), _pad_reference(a, pads, mode))
        if grad:  # the adjoint: each input element collects the weights of its copies
            w = rng.standard_normal(tuple(out.shape))
            out.backward(dm.from_numpy(w))
            idx = np.arange(1, a.size + 1, dtype=np.float64).reshape(a.shape)
            src = _pad_reference(idx, pads, mode).astype(np.int64).reshape(-1)  # 0: filled
            expected = np.bincount(src, w.reshape(-1), minlength=a.size + 1)[1:]
            np.testing.assert_allclose(x.grad.numpy().reshape(-1), expected, rtol=1e-14)


def test_pad_constant_value_and_crop() -> None:
    x = dm.arange(12.0).reshape(3, 4)
    out = F.pad(x, (-1, 2, 1, -1), value=7.0)
    expected = np.pad(np.arange(12.0).reshape(3, 4)[:2, 1:], ((1, 0), (0, 2)), constant_values=7)
    np.testing.assert_array_equal(out.numpy(), expected)
    assert F.pad(x, (-1, 0)).tolist() == [[1, 2, 3], [5, 6, 7], [9, 10, 11]]


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_embedding_bag_uniform_bags_bitwise(mode: str) -> None:
    """Slot adds from +0.0 in entry order: the same bits as a sequential scatter-add."""
    rng = np.random.default_rng(4)
    w = (rng.standard_normal((30, 6)) * np.exp(rng.standard_normal((30, 6)) * 6)).astype(np.float32)
    w[0] = -0.0
    idx = rng.integers(0, 30, (7, 9))
    idx[0] = 0  # a bag of -0.0 rows sums to +0.0
    emb = dm.nn.EmbeddingBag.from_pretrained(dm.from_numpy(w.copy()), mode=mode, freeze=False)
    out = emb(dm.from_numpy(idx))
    expected = np.zeros((7, 6), np.float32)
    for j in range(9):
        expected = expected + w[idx[:, j]]
    if mode == "mean":
        expected = expected / np.float32(9)
    got = out.detach().numpy()
    np.testing.assert_array_equal(got, expected)
    assert not np.signbit(got[0]).any()
    out.sum().backward()
    counts = np.bincount(idx.reshape(-1), minlength=30).astype(np.float32)
    scale = np.float32(1 / 9) if mode == "mean" else np.float32(1)
    np.testing.assert_allclose(
        emb.weight.grad.numpy(), counts[:, None] * scale * np.ones((1, 6)), rtol=1e-6
    )


def test_group_norm_affine() -> None:
    rng = np.random.default_rng(8)
    a = rng.standard_normal((3, 6, 4, 5))
    w, b = rng.standard_normal(6), rng.standard_normal(6)
    g = a.reshape(3, 2, -1)
    xhat = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)).reshape(
        a.shape
    )
    wt = dm.from_numpy(w.copy()).requires_grad_(True)
    bt = dm.from_numpy(b.copy()).requires_grad_(True)
    out = F.group_norm(dm.from_numpy(a), 2, wt, bt)
    np.testing.assert_allclose(
        out.detach().numpy(), xhat * w[:, None, None] + b[:, None, None], rtol=1e-12, atol=1e-12
    )
    out.backward(dm.from_numpy(xhat))
    np.testing.assert_allclose(wt.grad.numpy(), (xhat * xhat).sum((0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(bt.grad.numpy(), xhat.sum((0, 2, 3)), rtol=1e-12, atol=1e-12)
    assert tuple(F.group_norm(dm.zeros(0, 6, 3, dtype=dm.float64), 3, wt, bt).shape) == (0, 6, 3)
