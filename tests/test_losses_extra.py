"""The extra losses (``nn.loss_extra`` and ``nn._functional_losses_extra``) against hand-written
NumPy references: values under every reduction, weights, the legacy reduction flags, gradients
by finite differences, module reprs/state_dicts, and the typed errors for bad input."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import nn
from helpers import assert_close, gradcheck

RNG = np.random.default_rng(1234)
REDUCTIONS = ("none", "sum", "mean")


def _reduce(x: np.ndarray, reduction: str) -> np.ndarray:
    return {"none": x, "sum": np.sum(x), "mean": np.mean(x)}[reduction]


def _t(a: np.ndarray, **kwargs: object) -> dm.Tensor:
    return dm.tensor(a, **kwargs)  # type: ignore[arg-type]


def _leaf(a: np.ndarray) -> dm.Tensor:
    return dm.tensor(a, dtype=dm.float64, requires_grad=True)


# ---- Gaussian NLL --------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gaussian_nll_matches_numpy_for_each_var_shape(reduction: str) -> None:
    x, t = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 3))
    var = RNG.random((4, 3)) + 0.2
    for v, v_np in (
        (var, var),  # heteroscedastic
        (var[:, 0], var[:, :1]),  # one dimension fewer: one variance per row
        (var[:, :1], var[:, :1]),  # trailing size-1 dimension
        (var[:1], var[:1]),  # one mismatched dimension of size 1
    ):
        for full in (False, True):
            want = 0.5 * (np.log(v_np) + (x - t) ** 2 / v_np)
            if full:
                want = want + 0.5 * math.log(2 * math.pi)
            got = F.gaussian_nll_loss(_t(x), _t(t), _t(v), full, reduction=reduction)
            assert_close(got, _reduce(np.broadcast_to(want, x.shape), reduction), rtol=1e-10)
    got = nn.GaussianNLLLoss(reduction=reduction)(_t(x), _t(t), 0.5)
    assert_close(got, _reduce(0.5 * (np.log(0.5) + (x - t) ** 2 / 0.5), reduction))


def test_gaussian_nll_clamps_var_with_a_straight_through_gradient() -> None:
    x, t = np.array([1.5, -1.0, 0.5]), np.zeros(3)
    v = _leaf(np.array([1e-9, 2.0, 3.0]))
    F.gaussian_nll_loss(_t(x), _t(t), v, eps=1e-6, reduction="sum").backward()
    vc = np.array([1e-6, 2.0, 3.0])  # the clamped variance, gradient as if unclamped
    assert_close(v.grad, 0.5 * (1 / vc - x**2 / vc**2), rtol=1e-8)
    gradcheck(
        lambda a, b, s: F.gaussian_nll_loss(a, b, s, full=True),
        [_leaf(RNG.standard_normal((3, 2))), _leaf(RNG.standard_normal((3, 2))),
         _leaf(RNG.random(3) + 0.5)],
    )  # fmt: skip


def test_gaussian_nll_rejects_bad_var() -> None:
    x = dm.randn(4, 3)
    with pytest.raises(dm.InvalidValueError, match="negative"):
        F.gaussian_nll_loss(x, x, -dm.ones(4, 3))
    with pytest.raises(ValueError, match="negative"):
        F.gaussian_nll_loss(x, x, -1.0)
    for bad in (dm.ones(3), dm.ones(1, 1), dm.ones(4, 3, 1)):
        with pytest.raises(dm.ShapeError, match="incorrect size"):
            F.gaussian_nll_loss(x, x, bad)
    with pytest.raises(dm.InvalidValueError):
        F.gaussian_nll_loss(x, x, dm.ones(4, 3), reduction="bad")
    with pytest.raises(TypeError, match="must be Tensor"):
        F.gaussian_nll_loss([1.0], x, dm.ones(4, 3))  # type: ignore[arg-type]


# ---- Poisson NLL ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_poisson_nll_matches_numpy(reduction: str) -> None:
    x = RNG.standard_normal((3, 4))
    t = np.array([[0.0, 1.0, 2.0, 5.0], [3.0, 0.0, 1.0, 7.0], [1.0, 4.0, 0.0, 2.0]])
    stirling = np.where(
        t > 1, t * np.log(np.maximum(t, 1)) - t + 0.5 * np.log(2 * np.pi * np.maximum(t, 1)), 0
    )
    want = np.exp(x) - t * x
    assert_close(F.poisson_nll_loss(_t(x), _t(t), reduction=reduction), _reduce(want, reduction))
    got = F.poisson_nll_loss(_t(x), _t(t), full=True, reduction=reduction)
    assert_close(got, _reduce(want + stirling, reduction))
    rate = np.abs(x) + 0.1
    want = rate - t * np.log(rate + 1e-8) + stirling
    got = nn.PoissonNLLLoss(log_input=False, full=True, reduction=reduction)(_t(rate), _t(t))
    assert_close(got, _reduce(want, reduction))


def test_poisson_nll_legacy_flags_gradients_and_errors() -> None:
    x, t = RNG.standard_normal(5), RNG.poisson(2.0, 5).astype(np.float64)
    summed = F.poisson_nll_loss(_t(x), _t(t), reduction="sum")
    assert_close(F.poisson_nll_loss(_t(x), _t(t), True, False, False), summed.numpy())
    assert F.poisson_nll_loss(_t(x), _t(t), reduce=False).shape == (5,)
    assert nn.PoissonNLLLoss(True, False, False).reduction == "sum"
    assert nn.PoissonNLLLoss(reduce=False).reduction == "none"
    params = list(inspect.signature(F.poisson_nll_loss).parameters)
    assert params == [
        "input", "target", "log_input", "full", "size_average", "eps", "reduce", "reduction"
    ]  # fmt: skip
    target = _t(np.array([0.0, 1.0, 3.0, 6.0]), dtype=dm.float64, requires_grad=True)
    gradcheck(lambda a: F.poisson_nll_loss(a, target.detach(), full=True), [_leaf(x[:4])])
    gradcheck(lambda a: F.poisson_nll_loss(a, target.detach(), False), [_leaf(np.abs(x[:4]) + 0.5)])
    F.poisson_nll_loss(_t(x[:4]), target, full=True, reduction="sum").backward()
    assert np.isfinite(target.grad.numpy()).all()  # the dropped Stirling terms stay finite
    with pytest.raises(dm.InvalidValueError):
        F.poisson_nll_loss(_t(x), _t(t), reduction="avg")
    with pytest.raises(dm.ShapeError):
        F.poisson_nll_loss(_t(x), _t(t[:3]))


# ---- hinge embedding and soft margin -------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_hinge_embedding_and_soft_margin_match_numpy(reduction: str) -> None:
    x = RNG.standard_normal((3, 4)) * 2
    y = np.sign(RNG.standard_normal((3, 4)))
    want = np.where(y == 1, x, np.maximum(0, 0.7 - x))
    got = F.hinge_embedding_loss(_t(x), _t(y), 0.7, reduction=reduction)
    assert_close(got, _reduce(want, reduction))
    assert_close(nn.HingeEmbeddingLoss(0.7, reduction=reduction)(_t(x), _t(y)), got.numpy())
    y0 = y.copy()
    y0[0, 0] = 0.0  # neither 1 nor -1: PyTorch adds both terms
    want0 = want.copy()
    want0[0, 0] = x[0, 0] + max(0.0, 0.7 - x[0, 0])
    assert_close(F.hinge_embedding_loss(_t(x), _t(y0), 0.7, reduction="none"), want0)
    want = np.log1p(np.exp(-y * x))
    assert_close(F.soft_margin_loss(_t(x), _t(y), reduction=reduction), _reduce(want, reduction))
    assert_close(nn.SoftMarginLoss(reduction=reduction)(_t(x), _t(y)), _reduce(want, reduction))


def test_hinge_and_soft_margin_gradients_flags_and_errors() -> None:
    x = RNG.standard_normal(6) + 0.05
    y = _t(np.array([1.0, -1.0, 1.0, -1.0, -1.0, 1.0]), dtype=dm.float64)
    gradcheck(lambda a: F.hinge_embedding_loss(a, y, 0.5), [_leaf(x)])
    gradcheck(lambda a: F.soft_margin_loss(a, y), [_leaf(x)])
    assert F.soft_margin_loss(_t(x), y, None, False).shape == (6,)
    assert F.hinge_embedding_loss(_t(x), y, 1.0, False).shape == ()
    assert nn.SoftMarginLoss(size_average=False).reduction == "sum"
    big = F.soft_margin_loss(dm.tensor([-1000.0]), dm.tensor([1.0]))
    assert big.item() == pytest.approx(1000.0)  # no overflow
    with pytest.raises(dm.ShapeError):
        F.soft_margin_loss(_t(x), _t(np.ones((2, 6))))
    with pytest.raises(dm.InvalidValueError):
        F.hinge_embedding_loss(_t(x), y, reduction="bad")
    with pytest.raises(TypeError):
        F.soft_margin_loss(x, y)  # type: ignore[arg-type]


# ---- multi-label soft margin ---------------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_soft_margin_matches_numpy(reduction: str) -> None:
    x = RNG.standard_normal((4, 5))
    y = (RNG.random((4, 5)) > 0.5).astype(np.float64)
    w = RNG.random(5) + 0.5
    sig = 1 / (1 + np.exp(-x))
    per = -(y * np.log(sig) + (1 - y) * np.log(1 - sig))
    got = F.multilabel_soft_margin_loss(_t(x), _t(y), reduction=reduction)
    assert_close(got, _reduce(per.mean(1), reduction))
    module = nn.MultiLabelSoftMarginLoss(_t(w), reduction=reduction)
    assert_close(module(_t(x), _t(y)), _reduce((per * w).mean(1), reduction))
    assert list(module.state_dict()) == ["weight"]
    assert list(nn.MultiLabelSoftMarginLoss().state_dict()) == []
    unbatched = F.multilabel_soft_margin_loss(_t(x[0]), _t(y[0]), reduction="none")
    assert_close(unbatched, per[0].mean())


def test_multilabel_soft_margin_gradients_and_errors() -> None:
    y = _t((RNG.random((3, 4)) > 0.5).astype(np.float64))
    w = _t(RNG.random(4) + 0.5, dtype=dm.float64)
    gradcheck(
        lambda a: F.multilabel_soft_margin_loss(a, y, w), [_leaf(RNG.standard_normal((3, 4)))]
    )
    assert F.multilabel_soft_margin_loss(dm.randn(3, 4), y.float(), None, False).shape == ()
    with pytest.raises(dm.ShapeError):
        F.multilabel_soft_margin_loss(dm.randn(3, 4), dm.ones(3, 5))


# ---- multi-class margin --------------------------------------------------------------------------


def _multi_margin_ref(
    x: np.ndarray, y: np.ndarray, p: int, margin: float, w: np.ndarray | None
) -> np.ndarray:
    n, c = x.shape
    out = np.zeros(n)
    for i in range(n):
        for j in range(c):
            if j != y[i]:
                h = max(0.0, margin - x[i, y[i]] + x[i, j]) ** p
                out[i] += h * (1.0 if w is None else w[y[i]])
    return out / c


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_matches_numpy(reduction: str, p: int) -> None:
    x = RNG.standard_normal((5, 4))
    y = np.array([0, 3, 1, 1, 2])
    w = RNG.random(4) + 0.5
    for weight in (None, w):
        want = _reduce(_multi_margin_ref(x, y, p, 0.8, weight), reduction)
        wt = None if weight is None else _t(weight)
        got = F.multi_margin_loss(_t(x), _t(y), p, 0.8, wt, reduction=reduction)
        assert_close(got, want)
        assert_close(nn.MultiMarginLoss(p, 0.8, wt, reduction=reduction)(_t(x), _t(y)), want)
    one = F.multi_margin_loss(_t(x[1]), _t(np.array(3)), p, reduction="none")
    assert_close(one, _multi_margin_ref(x[1:2], y[1:2], p, 1.0, None)[0])


def test_multi_margin_gradients_modules_and_errors() -> None:
    y = _t(np.array([0, 3, 1]))
    w = _t(RNG.random(4) + 0.5, dtype=dm.float64)
    gradcheck(lambda a: F.multi_margin_loss(a, y, 2, 0.9, w), [_leaf(RNG.standard_normal((3, 4)))])
    gradcheck(lambda a: F.multi_margin_loss(a, y, 1, 0.9), [_leaf(RNG.standard_normal((3, 4)))])
    empty = F.multi_margin_loss(dm.zeros(0, 4), dm.zeros(0, dtype=dm.int64), reduction="none")
    assert empty.shape == (0,)
    assert F.multi_margin_loss(dm.randn(3, 4), y, 1, 1.0, None, False).shape == ()
    module = nn.MultiMarginLoss(weight=dm.ones(4))
    assert list(module.state_dict()) == ["weight"] and repr(module) == "MultiMarginLoss()"
    x = dm.randn(3, 4)
    with pytest.raises(dm.InvalidValueError, match="p == 1"):
        F.multi_margin_loss(x, y, p=3)
    with pytest.raises(ValueError, match="p == 1"):
        nn.MultiMarginLoss(p=3)
    with pytest.raises(dm.ShapeError):
        nn.MultiMarginLoss(weight=dm.ones(2, 2))
    with pytest.raises(dm.ShapeError, match="one-dimensional"):
        F.multi_margin_loss(x, y, weight=dm.ones(2, 2))
    with pytest.raises(dm.ShapeError, match="inconsistent weight"):
        F.multi_margin_loss(x, y, weight=dm.ones(3))
    with pytest.raises(dm.IndexOutOfRangeError, match="out of range"):
        F.multi_margin_loss(x, dm.tensor([0, 4, 1]))
    with pytest.raises(dm.IndexOutOfRangeError):
        F.multi_margin_loss(x, dm.tensor([0, -1, 1]))
    with pytest.raises(dm.ShapeError, match="target tensor should be 1-D"):
        F.multi_margin_loss(x, dm.tensor([0, 1]))
    with pytest.raises(dm.DTypeError):
        F.multi_margin_loss(x, dm.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(dm.ShapeError, match="non-empty vector or matrix"):
        F.multi_margin_loss(dm.randn(1, 3, 4), y)


# ---- multi-label margin --------------------------------------------------------------------------


def _multilabel_margin_ref(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    n, c = x.shape
    out = np.zeros(n)
    for i in range(n):
        listed = []
        for j in y[i]:
            if j == -1:
                break
            listed.append(int(j))
        for j in listed:
            for k in range(c):
                if k not in listed:
                    out[i] += max(0.0, 1.0 - (x[i, j] - x[i, k]))
    return out / c


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_matches_numpy(reduction: str) -> None:
    x = RNG.standard_normal((4, 5))
    # -1 ends each list (what follows is ignored); a repeated class counts twice, as in PyTorch
    y = np.array([[0, 3, -1, 0, 1], [1, -1, 2, 2, 2], [0, 1, 2, 3, 4], [4, 4, -1, -1, -1]])
    want = _reduce(_multilabel_margin_ref(x, y), reduction)
    assert_close(F.multilabel_margin_loss(_t(x), _t(y), reduction=reduction), want)
    assert_close(nn.MultiLabelMarginLoss(reduction=reduction)(_t(x), _t(y)), want)
    one = F.multilabel_margin_loss(_t(x[0]), _t(y[0]), reduction="none")
    assert_close(one, _multilabel_margin_ref(x[:1], y[:1])[0])


def test_multilabel_margin_gradients_and_errors() -> None:
    y = _t(np.array([[0, 2, -1, 1], [3, -1, 0, 0]]))
    gradcheck(lambda a: F.multilabel_margin_loss(a, y), [_leaf(RNG.standard_normal((2, 4)))])
    assert F.multilabel_margin_loss(dm.randn(2, 4), y, None, False).shape == (2,)
    assert nn.MultiLabelMarginLoss(size_average=False).reduction == "sum"
    x = dm.randn(2, 4)
    with pytest.raises(dm.IndexOutOfRangeError, match="out of range"):
        F.multilabel_margin_loss(x, dm.tensor([[0, 4, -1, 0], [1, -1, 0, 0]]))
    with pytest.raises(dm.IndexOutOfRangeError):
        F.multilabel_margin_loss(x, dm.tensor([[0, -2, -1, 0], [1, -1, 0, 0]]))
    with pytest.raises(dm.IndexOutOfRangeError):  # checked after the first -1 too, as PyTorch
        F.multilabel_margin_loss(x, dm.tensor([[0, -1, 7, 0], [1, -1, 0, 0]]))
    with pytest.raises(dm.ShapeError, match="inconsistent target size"):
        F.multilabel_margin_loss(x, dm.tensor([[0, -1, 0], [1, -1, 0]]))
    with pytest.raises(dm.DTypeError):
        F.multilabel_margin_loss(x, y.float())


# ---- triplet margin with distance ----------------------------------------------------------------


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_triplet_margin_with_distance_matches_numpy(reduction: str) -> None:
    a, p, n = (RNG.standard_normal((5, 3)) for _ in range(3))

    def dist(u: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.sqrt(((u - v + 1e-6) ** 2).sum(-1))

    for swap in (False, True):
        d_neg = np.minimum(dist(a, n), dist(p, n)) if swap else dist(a, n)
        want = _reduce(np.maximum(dist(a, p) - d_neg + 1.0, 0), reduction)
        got = F.triplet_margin_with_distance_loss(
            _t(a), _t(p), _t(n), swap=swap, reduction=reduction
        )
        assert_close(got, want)
        module = nn.TripletMarginWithDistanceLoss(swap=swap, reduction=reduction)
        assert_close(module(_t(a), _t(p), _t(n)), want)

    def l1(u: dm.Tensor, v: dm.Tensor) -> dm.Tensor:
        return (u - v).abs().sum(-1)

    want = _reduce(np.maximum(np.abs(a - p).sum(1) - np.abs(a - n).sum(1) + 0.5, 0), reduction)
    module = nn.TripletMarginWithDistanceLoss(distance_function=l1, margin=0.5, reduction=reduction)
    assert_close(module(_t(a), _t(p), _t(n)), want)


def test_triplet_margin_with_distance_module_gradients_and_errors() -> None:
    module = nn.TripletMarginWithDistanceLoss()
    assert (
        repr(module)
        == "TripletMarginWithDistanceLoss(\n  (distance_function): PairwiseDistance()\n)"
    )
    assert list(module.state_dict()) == []
    assert "distance_function" in inspect.signature(F.triplet_margin_with_distance_loss).parameters
    assert inspect.signature(nn.TripletMarginWithDistanceLoss).parameters["margin"].kind == (
        inspect.Parameter.KEYWORD_ONLY
    )
    a, p, n = (_leaf(RNG.standard_normal((4, 3))) for _ in range(3))
    gradcheck(lambda u, v, w: F.triplet_margin_with_distance_loss(u, v, w, margin=2.0), [a, p, n])
    with pytest.raises(dm.InvalidValueError, match="greater than 0"):
        nn.TripletMarginWithDistanceLoss(margin=0.0)
    with pytest.raises(ValueError):
        F.triplet_margin_with_distance_loss(a, p, n, margin=-1.0)
    with pytest.raises(dm.ShapeError, match="same number of dimensions"):
        F.triplet_margin_with_distance_loss(a, p, n[0])
    with pytest.raises(dm.InvalidValueError):
        F.triplet_margin_with_distance_loss(a, p, n, reduction="bad")


# ---- CTC -----------------------------------------------------------------------------------------


def _ctc_ref(lp: np.ndarray, target: list[int], length: int, blank: int) -> float:
    """-log p(target | lp[:length]) by the plain forward dynamic programme."""
    ext = [blank]
    for label in target:
        ext += [label, blank]
    alpha = np.full(len(ext), -np.inf)
    alpha[0] = 0.0  # before the first frame
    for t in range(length):
        new = np.full(len(ext), -np.inf)
        for s in range(len(ext)):
            terms = [alpha[s]]
            if s >= 1:
                terms.append(alpha[s - 1])
            if s >= 2 and ext[s] != ext[s - 2]:
                terms.append(alpha[s - 2])
            new[s] = np.logaddexp.reduce(terms) + lp[t, ext[s]]
        alpha = new
    ends = [alpha[-1]] + ([alpha[-2]] if target else [])
    return float(-np.logaddexp.reduce(ends))


def _log_softmax(x: np.ndarray) -> np.ndarray:
    return (
        x
        - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True))
        - x.max(-1, keepdims=True)
    )


CTC_T, CTC_N, CTC_C = 9, 4, 5
CTC_LOGITS = RNG.standard_normal((CTC_T, CTC_N, CTC_C))
CTC_TARGETS = np.array([[1, 2, 2, 0], [3, 1, 4, 4], [2, 2, 2, 2], [4, 0, 0, 0]])
CTC_IN = np.array([9, 7, 6, 3])
CTC_TL = np.array([3, 4, 4, 1])  # sample 2 ("2222" in 6 frames) has no alignment


def _ctc_refs(blank: int = 0, targets: np.ndarray = CTC_TARGETS) -> np.ndarray:
    lp = _log_softmax(CTC_LOGITS)
    return np.array(
        [_ctc_ref(lp[:, i], list(targets[i, : CTC_TL[i]]), CTC_IN[i], blank) for i in range(CTC_N)]
    )


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_matches_a_numpy_dynamic_programme(reduction: str, zero_infinity: bool) -> None:
    ref = _ctc_refs()
    assert np.isinf(ref[2]) and np.isfinite(ref[[0, 1, 3]]).all()
    if zero_infinity:
        ref = np.where(np.isinf(ref), 0.0, ref)
    want = {"none": ref, "sum": ref.sum(), "mean": (ref / np.maximum(CTC_TL, 1)).mean()}
    lp = F.log_softmax(_t(CTC_LOGITS), -1)
    got = F.ctc_loss(lp, _t(CTC_TARGETS), _t(CTC_IN), _t(CTC_TL), 0, reduction, zero_infinity)
    assert_close(got, want[reduction], rtol=1e-10)
    module = nn.CTCLoss(reduction=reduction, zero_infinity=zero_infinity)
    assert_close(module(lp, _t(CTC_TARGETS), _t(CTC_IN), _t(CTC_TL)), want[reduction])


def test_ctc_target_layouts_blank_and_unbatched() -> None:
    lp = F.log_softmax(_t(CTC_LOGITS), -1)
    want = _ctc_refs()
    flat = np.concatenate([CTC_TARGETS[i, : CTC_TL[i]] for i in range(CTC_N)])
    got = F.ctc_loss(lp, _t(flat), list(CTC_IN), tuple(CTC_TL), reduction="none")
    assert_close(got, want, rtol=1e-10)
    moved = np.where(CTC_TARGETS == 0, 3, np.where(CTC_TARGETS == 3, 0, CTC_TARGETS))
    got = F.ctc_loss(lp, _t(moved), _t(CTC_IN), _t(CTC_TL), blank=3, reduction="none")
    assert_close(got, _ctc_refs(3, moved), rtol=1e-10)
    one = F.ctc_loss(lp[:, 0], _t(CTC_TARGETS[0, :3]), dm.tensor(9), dm.tensor(3), reduction="none")
    assert one.shape == () and one.item() == pytest.approx(want[0], rel=1e-10)
    # an empty target over no frames costs nothing; a label over no frames is impossible
    got = F.ctc_loss(lp, _t(CTC_TARGETS), [0, 4, 0, 2], [0, 0, 1, 1], reduction="none")
    ref = _log_softmax(CTC_LOGITS)
    assert_close(
        got,
        [0.0, _ctc_ref(ref[:, 1], [], 4, 0), np.inf, _ctc_ref(ref[:, 3], [4], 2, 0)],
        rtol=1e-10,
    )
    f32 = F.ctc_loss(lp.float(), _t(CTC_TARGETS), _t(CTC_IN), _t(CTC_TL), reduction="none")
    assert f32.dtype == dm.float32
    assert_close(f32, want, rtol=1e-5)


def test_non_contiguous_inputs_and_empty_batches() -> None:
    x = RNG.standard_normal((4, 5))
    xt = _t(np.ascontiguousarray(x.T)).t()  # a transposed view of the same values
    assert not xt.is_contiguous()
    y = np.array([0, 4, 2, 2])
    assert_close(F.multi_margin_loss(xt, _t(y)), _multi_margin_ref(x, y, 1, 1.0, None).mean())
    z = np.array([[0, 3, -1, 0, 1], [1, -1, 2, 2, 2], [0, 1, 2, 3, 4], [4, 4, -1, -1, -1]])
    assert_close(F.multilabel_margin_loss(xt, _t(z)), _multilabel_margin_ref(x, z).mean())
    ntc = F.log_softmax(_t(np.ascontiguousarray(CTC_LOGITS.transpose(1, 0, 2))), -1)
    lp = ntc.transpose(0, 1)  # [T, N, C] as a view of an [N, T, C] tensor
    assert not lp.is_contiguous()
    got = F.ctc_loss(lp, _t(CTC_TARGETS), _t(CTC_IN), _t(CTC_TL), reduction="none")
    assert_close(got, _ctc_refs(), rtol=1e-10)
    empty = dm.zeros(0, 3)
    assert F.soft_margin_loss(empty, empty, reduction="sum").item() == 0.0
    assert F.hinge_embedding_loss(empty, empty, reduction="none").shape == (0, 3)
    assert F.multilabel_soft_margin_loss(empty, empty, reduction="none").shape == (0,)
    assert F.multilabel_margin_loss(empty, empty.long(), reduction="none").shape == (0,)
    assert F.gaussian_nll_loss(empty, empty, dm.ones(0), reduction="none").shape == (0, 3)


def test_ctc_gradients() -> None:
    lp = _log_softmax(RNG.standard_normal((4, 2, 3)))
    targets, in_len, tg_len = _t(np.array([[1, 2], [1, 1]])), [4, 3], [2, 2]
    gradcheck(lambda x: F.ctc_loss(x, targets, in_len, tg_len), [_leaf(lp)])
    gradcheck(lambda x: F.ctc_loss(x, targets, in_len, tg_len, reduction="none"), [_leaf(lp)])
    logits = _leaf(RNG.standard_normal((4, 2, 3)))
    gradcheck(
        lambda z: F.ctc_loss(F.log_softmax(z, -1), targets, in_len, [2, 1], reduction="sum"),
        [logits],
    )
    # zero_infinity: the impossible sample ("11" needs 3 frames, has 2) gives no gradient
    x = _leaf(lp)
    F.ctc_loss(x, targets, [4, 2], tg_len, reduction="sum", zero_infinity=True).backward()
    assert np.all(x.grad.numpy()[:, 1] == 0) and np.abs(x.grad.numpy()[:, 0]).sum() > 0


def test_ctc_module_and_errors() -> None:
    module = nn.CTCLoss(blank=2, zero_infinity=True)
    assert repr(module) == "CTCLoss()" and list(module.state_dict()) == []
    assert (module.blank, module.reduction, module.zero_infinity) == (2, "mean", True)
    assert nn.modules.loss.CTCLoss is nn.CTCLoss
    lp = F.log_softmax(dm.randn(5, 2, 4), -1)
    tg = dm.tensor([[1, 2, 0], [3, 3, 3]])
    ok = ([5, 4], [2, 3])
    with pytest.raises(dm.InvalidValueError, match="at most 5"):
        F.ctc_loss(lp, tg, [6, 4], ok[1])
    with pytest.raises(dm.ShapeError, match="at least 4"):
        F.ctc_loss(lp, tg, ok[0], [2, 4])
    with pytest.raises(dm.InvalidValueError, match="at least 0"):
        F.ctc_loss(lp, tg, ok[0], [2, -1])
    with pytest.raises(dm.InvalidValueError, match="at least 0"):
        F.ctc_loss(lp, tg, [5, -1], ok[1])
    with pytest.raises(dm.IndexOutOfRangeError, match="blank"):
        F.ctc_loss(lp, tg, *ok, blank=4)
    with pytest.raises(dm.ShapeError, match="input_lengths must be of size batch_size"):
        F.ctc_loss(lp, tg, [5, 4, 3], ok[1])
    with pytest.raises(dm.ShapeError, match="target_lengths must be of size batch_size"):
        F.ctc_loss(lp, tg, ok[0], [2, 3, 1])
    with pytest.raises(dm.ShapeError, match="size 5 at dimension 0"):
        F.ctc_loss(lp, dm.tensor([1, 2, 3, 3]), *ok)
    with pytest.raises(dm.ShapeError, match="1 to 2 dimensions"):
        F.ctc_loss(lp, tg.unsqueeze(0), *ok)
    with pytest.raises(dm.IndexOutOfRangeError):
        F.ctc_loss(lp, dm.tensor([[1, 7, 0], [3, 3, 3]]), *ok)
    with pytest.raises(dm.DTypeError, match="integral"):
        F.ctc_loss(lp, tg, dm.tensor([5.0, 4.0]), ok[1])
    with pytest.raises(dm.DTypeError):
        F.ctc_loss(lp.long(), tg, *ok)
    with pytest.raises(dm.ShapeError, match="must not be empty"):
        F.ctc_loss(lp[:, :0], tg[:0], [], [])
    with pytest.raises(dm.InvalidValueError):
        F.ctc_loss(lp, tg, *ok, reduction="bad")
    with pytest.raises(ValueError, match="reduction"):
        nn.CTCLoss(reduction="bad")


# ---- signatures, legacy flags and module paths ---------------------------------------------------


def test_signatures_and_legacy_flags_follow_pytorch() -> None:
    def names(fn: object) -> list[str]:
        return list(inspect.signature(fn).parameters)  # type: ignore[arg-type]

    assert names(F.multi_margin_loss) == [
        "input", "target", "p", "margin", "weight", "size_average", "reduce", "reduction"
    ]  # fmt: skip
    assert names(nn.MultiLabelSoftMarginLoss) == ["weight", "size_average", "reduce", "reduction"]
    assert names(nn.HingeEmbeddingLoss) == ["margin", "size_average", "reduce", "reduction"]
    assert names(F.gaussian_nll_loss) == ["input", "target", "var", "full", "eps", "reduction"]
    assert names(nn.GaussianNLLLoss) == ["full", "eps", "reduction"]
    assert names(nn.CTCLoss) == ["blank", "reduction", "zero_infinity"]
    assert names(F.ctc_loss) == [
        "log_probs", "targets", "input_lengths", "target_lengths",
        "blank", "reduction", "zero_infinity",
    ]  # fmt: skip
    assert nn.HingeEmbeddingLoss(1.0, False).reduction == "sum"
    assert nn.MultiLabelSoftMarginLoss(None, None, False).reduction == "none"
    assert nn.MultiMarginLoss(size_average=True, reduce=True).reduction == "mean"
    for name in ("GaussianNLLLoss", "PoissonNLLLoss", "HingeEmbeddingLoss", "SoftMarginLoss",
                 "MultiLabelSoftMarginLoss", "MultiMarginLoss", "MultiLabelMarginLoss",
                 "TripletMarginWithDistanceLoss", "CTCLoss"):  # fmt: skip
        cls = getattr(nn, name)
        assert name in nn.__all__ and getattr(nn.modules.loss, name) is cls
        assert isinstance(cls(), nn.modules.loss._Loss) and repr(cls()).startswith(name)
