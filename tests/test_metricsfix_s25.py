"""Regression tests for the metric bugs the session-25 differential fuzz found
(``tests/test_metricsfuzz_s25.py``): R2Score's cancelling ``SS_tot`` (large offsets, constant
targets, batch and rank merging), R2 of one sample, Perplexity's overflow, the ``average``
default of the task wrappers, whole-numbered binary logits and NaN scores in AUROC. The
references are NumPy formulas or constants; no torch and no scikit-learn."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import democratising as dm
from democratising.errors import InvalidValueError
from democratising.metrics import (
    AUROC,
    Accuracy,
    F1Score,
    Metric,
    Perplexity,
    Precision,
    R2Score,
    Recall,
)


def _r2_raw(preds: np.ndarray, target: np.ndarray) -> np.ndarray:
    """R^2 per output, two-pass (deviations from the mean), scikit-learn's definition."""
    ss_res = ((preds - target) ** 2).sum(axis=0)
    ss_tot = ((target - target.mean(axis=0)) ** 2).sum(axis=0)
    return 1.0 - ss_res / ss_tot


# ---- R2Score: cancellation ------------------------------------------------------------------


@pytest.mark.parametrize("batch", [3, 1, 2])
def test_r2_large_offset_whatever_the_batching(batch: int) -> None:
    target = np.array([1e9, 1e9 + 2, 1e9 + 4])
    preds = np.array([1e9 + 1, 1e9 + 2, 1e9 + 3])
    m = R2Score()
    for i in range(0, 3, batch):
        m.update(preds[i : i + batch], target[i : i + batch])
    assert m.compute() == pytest.approx(0.75, rel=1e-12)


def test_r2_matches_two_pass_numpy_with_a_large_offset() -> None:
    rng = np.random.default_rng(0)
    target = rng.standard_normal((257, 3)) * [1.0, 5.0, 0.1] + [1e8, -3e7, 5e6]
    preds = target + rng.standard_normal((257, 3)) * 0.5
    want = _r2_raw(preds, target)
    ss_tot = ((target - target.mean(axis=0)) ** 2).sum(axis=0)
    raw = R2Score(num_outputs=3, multioutput="raw_values")
    uniform = R2Score(num_outputs=3)
    weighted = R2Score(num_outputs=3, multioutput="variance_weighted")
    for lo, hi in ((0, 1), (1, 50), (50, 51), (51, 200), (200, 257)):  # uneven batches
        for m in (raw, uniform, weighted):
            m.update(preds[lo:hi], target[lo:hi])
    np.testing.assert_allclose(raw.compute().numpy(), want, rtol=1e-9)
    assert uniform.compute() == pytest.approx(want.mean(), rel=1e-9)
    assert weighted.compute() == pytest.approx((want * ss_tot).sum() / ss_tot.sum(), rel=1e-9)


def test_r2_constant_target_is_exactly_zero_or_one_across_batches() -> None:
    target = np.full(10, 0.1)
    imperfect, perfect = R2Score(), R2Score()
    for lo, hi in ((0, 3), (3, 4), (4, 10)):
        imperfect.update(target[lo:hi] + 0.5, target[lo:hi])
        perfect.update(target[lo:hi], target[lo:hi])
    assert imperfect.compute() == 0.0
    assert perfect.compute() == 1.0
    assert R2Score()(np.full(7, 1e9 + 0.5), np.full(7, 1e9 + 0.25)) == 0.0
    # One output constant, the other not: the constant one scores 0.0 in the raw values.
    t = np.stack([np.full(4, 0.3), np.arange(4.0)], axis=1)
    p = t + np.array([0.1, 0.0])
    got = R2Score(num_outputs=2, multioutput="raw_values")(p, t).numpy()
    assert got.tolist() == [0.0, 1.0]


def test_r2_calling_returns_the_batch_value_and_accumulates() -> None:
    rng = np.random.default_rng(1)
    t = rng.standard_normal(40) + 1e7
    p = t + rng.standard_normal(40)
    m = R2Score()
    assert m(p[:20], t[:20]) == pytest.approx(_r2_raw(p[:20], t[:20]), rel=1e-9)
    assert m(p[20:], t[20:]) == pytest.approx(_r2_raw(p[20:], t[20:]), rel=1e-9)
    assert m.compute() == pytest.approx(_r2_raw(p, t), rel=1e-9)
    m.update(p[:0], t[:0])  # an empty batch changes nothing
    assert m.compute() == pytest.approx(_r2_raw(p, t), rel=1e-9)
    m.reset()
    m.update(dm.tensor(p[:10]), dm.tensor(t[:10]))
    assert m.compute() == pytest.approx(_r2_raw(p[:10], t[:10]), rel=1e-9)


# ---- R2Score across ranks ---------------------------------------------------------------------


class _GatherByAllReduce:
    """Rank ``rank`` of a two-rank world whose other rank holds the metric ``other``: its
    ``all_reduce`` adds what that rank contributes (its state in its own row of zeros)."""

    def __init__(self, other: Metric, rank: int) -> None:
        self.other, self.my_rank, self.reduces = other, rank, 0

    def rank(self) -> int:
        return self.my_rank

    def size(self) -> int:
        return 2

    def all_reduce(self, t: dm.Tensor, op: str = "sum") -> dm.Tensor:
        assert op == "sum"
        self.reduces += 1
        state = self.other._state
        rows = np.zeros((2, state.size))
        rows[1 - self.my_rank] = state
        t.copy_(t + dm.from_numpy(rows.reshape(-1)))
        return t


@pytest.mark.parametrize("rank", [0, 1])
def test_r2_merges_the_ranks_with_one_all_reduce(rank: int) -> None:
    rng = np.random.default_rng(2)
    t = rng.standard_normal((60, 2)) + np.array([1e9, 4.0])
    p = t + rng.standard_normal((60, 2)) * 0.3
    other = R2Score(num_outputs=2, multioutput="raw_values")
    other.update(p[30:], t[30:])
    world = _GatherByAllReduce(other, rank)
    mine = R2Score(num_outputs=2, multioutput="raw_values", world=world)
    mine.update(p[:10], t[:10])
    mine.update(p[10:30], t[10:30])
    want = _r2_raw(p, t)
    np.testing.assert_allclose(mine.compute().numpy(), want, rtol=1e-9)
    np.testing.assert_allclose(mine.compute().numpy(), want, rtol=1e-9)  # state untouched
    assert world.reduces == 2  # one all-reduce per compute
    local = R2Score(num_outputs=2, multioutput="raw_values", world=world, sync_on_compute=False)
    local.update(p[:30], t[:30])
    np.testing.assert_allclose(local.compute().numpy(), _r2_raw(p[:30], t[:30]), rtol=1e-9)


def test_r2_constant_target_split_over_ranks() -> None:
    other = R2Score()
    other.update(np.full(5, 0.6), np.full(5, 0.1))
    mine = R2Score(world=_GatherByAllReduce(other, 0))
    mine.update(np.full(3, 0.6), np.full(3, 0.1))
    assert mine.compute() == 0.0


# ---- R2Score of fewer than two samples ----------------------------------------------------------


def test_r2_of_one_sample_is_nan_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="fewer than two samples"):
        assert math.isnan(R2Score()(np.array([1.0]), np.array([2.0])))
    m = R2Score()
    with pytest.warns(UserWarning, match="fewer than two samples"):
        m.update(np.array([1.0]), np.array([2.0]))
        assert math.isnan(m.compute())
    m.update(np.array([3.0]), np.array([4.0]))  # two samples: defined (and no warning)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert m.compute() == pytest.approx(1.0 - 2.0 / 2.0)
    raw = R2Score(num_outputs=2, multioutput="raw_values")
    with pytest.warns(UserWarning, match="fewer than two samples"):
        got = raw(np.array([[1.0, 2.0]]), np.array([[0.0, 0.0]])).numpy()
    assert got.shape == (2,) and np.isnan(got).all()


# ---- Perplexity ---------------------------------------------------------------------------------


def test_perplexity_overflow_is_inf() -> None:
    m = Perplexity()
    assert m(np.array([[1000.0, 0.0]]), np.array([1])) == math.inf
    assert m.compute() == math.inf
    # Just under exp's float64 limit it is still finite: mean NLL of 700.
    near = Perplexity()(np.array([[700.0, 0.0]]), np.array([1]))
    assert near == pytest.approx(math.exp(700.0), rel=1e-12)


# ---- the average default of the task wrappers ---------------------------------------------------


@pytest.mark.parametrize("cls", [Precision, Recall, F1Score])
def test_average_defaults_to_micro_with_task_and_macro_without(cls: type) -> None:
    preds, target = np.array([2, 0, 2, 1]), np.array([1, 1, 2, 0])
    with_task = cls(task="multiclass", num_classes=3)
    assert with_task.average == "micro"
    assert with_task(preds, target) == pytest.approx(0.25)
    plain = cls(num_classes=3)
    assert plain.average == "macro"
    # Per class: precision [0, 0, 1/2], recall [0, 0, 1], F1 [0, 0, 2/3].
    macro = {Precision: 1 / 6, Recall: 1 / 3, F1Score: 2 / 9}[cls]
    assert plain(preds, target) == pytest.approx(macro)
    explicit = cls(task="multiclass", num_classes=3, average="macro")
    assert explicit(preds, target) == pytest.approx(macro)
    assert cls(task="multiclass", num_classes=3, average=None).average == "none"
    assert cls(task="binary").average == "binary"


def test_positional_task_sets_the_default_too() -> None:
    # torchmetrics' F1Score("binary"): the task given as the first argument.
    m = F1Score("binary")
    assert m.average == "binary" and m.task == "binary"
    assert m(np.array([0.2, 0.9, 0.7]), np.array([0, 1, 0])) == pytest.approx(2 / 3)


# ---- binary float predictions -------------------------------------------------------------------


def test_binary_whole_numbered_logits_are_thresholded() -> None:
    assert Accuracy(task="binary")(np.array([-2.0, 3.0, 1.0]), np.array([0, 1, 1])) == 1.0
    # sigmoid(0) = 0.5 is not above the threshold 0.5.
    assert F1Score(task="binary")(np.array([-2.0, 3.0, 0.0]), np.array([0, 1, 0])) == 1.0
    assert Accuracy(num_classes=2)(dm.tensor([-5.0, 4.0]), dm.tensor([0, 1])) == 1.0
    # Float labels 0./1. of two classes threshold to themselves.
    assert Precision(num_classes=2, average="binary")(
        np.array([1.0, 0.0, 1.0, 1.0]), np.array([1, 0, 0, 1])
    ) == pytest.approx(2 / 3)
    # Without two classes, whole-numbered floats stay labels.
    assert Accuracy(num_classes=3)(np.array([0.0, 2.0, 1.0]), np.array([0, 2, 2])) == (
        pytest.approx(2 / 3)
    )
    with pytest.raises(InvalidValueError, match="label -2"):
        Accuracy()(np.array([-2.0, 1.0]), np.array([0, 1]))


# ---- AUROC with NaN scores ----------------------------------------------------------------------


def test_auroc_refuses_nan_scores() -> None:
    with pytest.raises(InvalidValueError, match="NaN"):
        AUROC()(np.array([0.1, np.nan, 0.7]), np.array([0, 1, 1]))
    with pytest.raises(InvalidValueError, match="NaN"):  # even in the unused column of [N, 2]
        AUROC()(np.array([[np.nan, 0.2], [0.5, 0.5]]), np.array([1, 0]))
    m = AUROC(num_classes=3)
    with pytest.raises(InvalidValueError, match="NaN"):
        m.update(np.array([[0.2, np.nan, 0.5], [0.1, 0.2, 0.7]]), np.array([0, 2]))
    assert m.update_count == 0  # nothing was kept
    with pytest.raises(InvalidValueError, match=r"\+inf"):
        m.update(np.array([[0.2, np.inf, 0.5], [0.1, 0.2, 0.7]]), np.array([0, 2]))
    # -inf logits (a masked class) have a softmax: accepted.
    logits = np.array([[2.0, -np.inf, 0.0], [0.0, 1.0, -np.inf], [-1.0, 0.0, 3.0]])
    assert AUROC(num_classes=3)(logits, np.array([0, 1, 2])) == 1.0
