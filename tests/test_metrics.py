"""``democratising.metrics`` against scikit-learn on random data (to 1e-6), fed in uneven
batches as tensors and as NumPy arrays, with the edge cases: a class never predicted, a
class absent everywhere, empty batches, ``compute()`` before any update, typed errors, and
the one all-reduce that combines ranks (a fake two-rank world here; a real ``mpiexec`` job in
tests/test_trainer_eval.py)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

import democratising as dm
from democratising.errors import (
    ArgumentTypeError,
    DemocratisingError,
    InvalidValueError,
    ShapeError,
)
from democratising.metrics import (
    AUROC,
    Accuracy,
    ConfusionMatrix,
    F1Score,
    MeanAbsoluteError,
    MeanSquaredError,
    Metric,
    Perplexity,
    Precision,
    R2Score,
    Recall,
)

TOL = 1e-6
C = 5


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _feed(metric: Metric, preds: np.ndarray, target: np.ndarray, as_tensor: bool) -> Any:
    """Uneven batches (with an empty one) as tensors or arrays; returns ``compute()``."""
    cuts = [0, 7, 7, 40, 41, len(target)]
    for a, b in zip(cuts, cuts[1:]):
        p, t = preds[a:b], target[a:b]
        if as_tensor:
            metric.update(dm.tensor(p), dm.tensor(t))
        else:
            metric.update(p, t)
    return metric.compute()


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    target = rng.integers(0, C, 120)
    logits = rng.standard_normal((120, C)).astype(np.float32)
    logits[np.arange(120), target] += rng.random(120).astype(np.float32)  # better than chance
    return logits, target


@pytest.mark.parametrize("as_tensor", [True, False], ids=["tensor", "numpy"])
@pytest.mark.parametrize("average", ["micro", "macro", "weighted"])
def test_precision_recall_f1_equal_sklearn(
    data: tuple[np.ndarray, np.ndarray], average: str, as_tensor: bool
) -> None:
    logits, target = data
    pred = logits.argmax(axis=1)
    for cls, ref in ((Precision, skm.precision_score), (Recall, skm.recall_score),
                     (F1Score, skm.f1_score)):  # fmt: skip
        got = _feed(cls(num_classes=C, average=average), logits, target, as_tensor)
        want = ref(target, pred, average=average, zero_division=0)
        assert got == pytest.approx(want, abs=TOL), (cls.__name__, average)


def test_per_class_and_binary_averages(data: tuple[np.ndarray, np.ndarray]) -> None:
    logits, target = data
    pred = logits.argmax(axis=1)
    got = _feed(F1Score(num_classes=C, average=None), logits, target, True)
    np.testing.assert_allclose(got.numpy(), skm.f1_score(target, pred, average=None), atol=TOL)
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 90)
    prob = np.clip(y * 0.3 + rng.random(90) * 0.7, 0, 1)
    for cls, ref in ((Precision, skm.precision_score), (Recall, skm.recall_score),
                     (F1Score, skm.f1_score)):  # fmt: skip
        m = cls(num_classes=2, average="binary")
        assert _feed(m, prob, y, False) == pytest.approx(ref(y, prob > 0.5), abs=TOL)
    # Logits of the positive class (values outside [0, 1]) go through a sigmoid.
    logit = np.log(prob + 1e-9) - np.log(1 - prob + 1e-9)
    m = F1Score(num_classes=2, average="binary")
    assert _feed(m, logit * 3, y, True) == pytest.approx(skm.f1_score(y, prob > 0.5), abs=TOL)


def test_a_class_never_predicted_and_one_absent_everywhere() -> None:
    target = np.array([0, 0, 1, 1, 2, 2, 2, 1])
    pred = np.array([0, 1, 1, 1, 0, 0, 1, 1])  # class 2 never predicted; 3 absent everywhere
    for average in ("micro", "macro", "weighted"):
        for cls, ref in ((Precision, skm.precision_score), (Recall, skm.recall_score),
                         (F1Score, skm.f1_score)):  # fmt: skip
            m = cls(num_classes=4, average=average)
            m.update(pred, target)
            want = ref(target, pred, average=average, zero_division=0)
            assert m.compute() == pytest.approx(want, abs=TOL), (cls.__name__, average)
    m = Precision(num_classes=4, average=None)
    m.update(pred, target)
    np.testing.assert_allclose(
        m.compute().numpy(),
        skm.precision_score(target, pred, labels=range(4), average=None, zero_division=0),
    )


@pytest.mark.parametrize("normalize", [None, "true", "pred", "all"])
def test_confusion_matrix_equals_sklearn(
    data: tuple[np.ndarray, np.ndarray], normalize: Any
) -> None:
    logits, target = data
    got = _feed(ConfusionMatrix(num_classes=C, normalize=normalize), logits, target, True)
    want = skm.confusion_matrix(target, logits.argmax(1), labels=range(C), normalize=normalize)
    assert got.dtype == (dm.int64 if normalize is None else dm.float64)
    np.testing.assert_allclose(got.numpy(), want, atol=TOL)


@pytest.mark.parametrize("as_tensor", [True, False], ids=["tensor", "numpy"])
def test_accuracy_top_k_equals_sklearn(
    data: tuple[np.ndarray, np.ndarray], as_tensor: bool
) -> None:
    logits, target = data
    acc = _feed(Accuracy(), logits, target, as_tensor)
    assert acc == pytest.approx(skm.accuracy_score(target, logits.argmax(1)), abs=TOL)
    for k in (2, 3):
        got = _feed(Accuracy(top_k=k, num_classes=C), logits, target, as_tensor)
        want = skm.top_k_accuracy_score(target, logits, k=k, labels=range(C))
        assert got == pytest.approx(want, abs=TOL)
    labels = Accuracy()
    labels.update(logits.argmax(1), target)  # labels rather than scores
    assert labels.compute() == pytest.approx(acc, abs=TOL)
    # Calling the metric returns the batch's value and accumulates.
    m = Accuracy()
    first = m(logits[:10], target[:10])
    assert first == pytest.approx(skm.accuracy_score(target[:10], logits[:10].argmax(1)))
    m(logits[10:], target[10:])
    assert m.compute() == pytest.approx(acc, abs=TOL)


def test_auroc_binary_and_multiclass_equal_sklearn(data: tuple[np.ndarray, np.ndarray]) -> None:
    logits, target = data
    probs = _softmax(logits.astype(np.float64))
    want = skm.roc_auc_score(target, probs, multi_class="ovr")
    assert _feed(AUROC(num_classes=C), logits, target, True) == pytest.approx(want, abs=TOL)
    assert _feed(AUROC(num_classes=C), probs, target, False) == pytest.approx(want, abs=TOL)
    weighted = skm.roc_auc_score(target, probs, multi_class="ovr", average="weighted")
    got = _feed(AUROC(num_classes=C, average="weighted"), probs, target, False)
    assert got == pytest.approx(weighted, abs=TOL)
    per_class = _feed(AUROC(num_classes=C, average=None), probs, target, False)
    for c in range(C):
        assert per_class.numpy()[c] == pytest.approx(
            skm.roc_auc_score(target == c, probs[:, c]), abs=TOL
        )
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200)
    score = np.round(y * 0.5 + rng.random(200), 1)  # many ties
    want_b = skm.roc_auc_score(y, score)
    assert _feed(AUROC(), score, y, True) == pytest.approx(want_b, abs=TOL)
    two = np.stack([-score, score], axis=1)  # [N, 2] logits: the softmax's column 1
    assert _feed(AUROC(num_classes=2), two, y, False) == pytest.approx(want_b, abs=TOL)


def test_auroc_with_one_class_missing_warns() -> None:
    m = AUROC()
    m.update(np.array([0.1, 0.7]), np.array([1, 1]))
    with pytest.warns(UserWarning, match="one class only"):
        assert math.isnan(m.compute())
    mc = AUROC(num_classes=3)
    probs = _softmax(np.random.default_rng(0).standard_normal((6, 3)))
    mc.update(probs, np.array([0, 1, 0, 1, 0, 1]))  # class 2 has no positive
    with pytest.warns(UserWarning, match=r"classes \[2\]"):
        got = mc.compute()
    y = np.array([0, 1, 0, 1, 0, 1])
    want = np.mean([skm.roc_auc_score(y == c, probs[:, c]) for c in (0, 1)])
    assert got == pytest.approx(want, abs=TOL)


@pytest.mark.parametrize("as_tensor", [True, False], ids=["tensor", "numpy"])
def test_regression_metrics_equal_sklearn(as_tensor: bool) -> None:
    rng = np.random.default_rng(5)
    y = rng.standard_normal(100) * 3 + 1
    p = y + rng.standard_normal(100)
    assert _feed(MeanAbsoluteError(), p, y, as_tensor) == pytest.approx(
        skm.mean_absolute_error(y, p), abs=TOL
    )
    assert _feed(MeanSquaredError(), p, y, as_tensor) == pytest.approx(
        skm.mean_squared_error(y, p), abs=TOL
    )
    assert _feed(MeanSquaredError(squared=False), p, y, as_tensor) == pytest.approx(
        math.sqrt(skm.mean_squared_error(y, p)), abs=TOL
    )
    assert _feed(R2Score(), p, y, as_tensor) == pytest.approx(skm.r2_score(y, p), abs=TOL)
    y2 = rng.standard_normal((100, 3)) * [1, 5, 0.1]
    p2 = y2 + rng.standard_normal((100, 3)) * 0.5
    for mo in ("uniform_average", "variance_weighted"):
        got = _feed(R2Score(num_outputs=3, multioutput=mo), p2, y2, as_tensor)
        assert got == pytest.approx(skm.r2_score(y2, p2, multioutput=mo), abs=TOL)
    raw = _feed(R2Score(num_outputs=3, multioutput="raw_values"), p2, y2, as_tensor)
    np.testing.assert_allclose(raw.numpy(), skm.r2_score(y2, p2, multioutput="raw_values"))
    const = R2Score()
    const.update(np.array([2.0, 2.0]), np.array([2.0, 2.0]))
    assert const.compute() == 1.0  # sklearn's force_finite
    # A model's [N, 1] output for [N] targets.
    m = MeanSquaredError()
    m.update(dm.tensor(p[:, None]), dm.tensor(y))
    assert m.compute() == pytest.approx(skm.mean_squared_error(y, p), abs=TOL)


def test_perplexity_is_exp_of_log_loss() -> None:
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((4, 9, 6))
    target = rng.integers(0, 6, (4, 9))
    m = Perplexity()
    for b in range(4):
        m.update(dm.tensor(logits[b : b + 1]), dm.tensor(target[b : b + 1]))
    flat_p = _softmax(logits.reshape(-1, 6))
    want = math.exp(skm.log_loss(target.reshape(-1), flat_p, labels=range(6)))
    assert m.compute() == pytest.approx(want, rel=TOL)
    ign = Perplexity(ignore_index=0)
    ign.update(logits, target)
    keep = target.reshape(-1) != 0
    want = math.exp(skm.log_loss(target.reshape(-1)[keep], flat_p[keep], labels=range(6)))
    assert ign.compute() == pytest.approx(want, rel=TOL)
    # Against the library's own cross-entropy.
    ce = dm.nn.functional.cross_entropy(
        dm.tensor(logits.reshape(-1, 6)), dm.tensor(target.reshape(-1))
    )
    assert Perplexity()(logits, target) == pytest.approx(math.exp(ce.item()), rel=1e-5)


def test_compute_before_update_and_reset() -> None:
    for m in (Accuracy(), F1Score(num_classes=3), MeanSquaredError(), R2Score(), Perplexity(),
              AUROC()):  # fmt: skip
        with pytest.warns(UserWarning, match="before any sample"):
            assert math.isnan(m.compute())
    cm = ConfusionMatrix(num_classes=3)
    with pytest.warns(UserWarning):
        assert cm.compute().tolist() == [[0] * 3] * 3
    m = Accuracy()
    m.update(np.zeros((0, 3)), np.zeros(0, dtype=np.int64))  # only an empty batch
    with pytest.warns(UserWarning):
        assert math.isnan(m.compute())
    m.update(np.array([1, 2]), np.array([1, 1]))
    assert m.compute() == 0.5 and m.update_count == 2
    m.reset()
    assert m.update_count == 0
    m.update(np.array([1]), np.array([1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert m.compute() == 1.0


def test_typed_errors() -> None:
    with pytest.raises(ShapeError, match="same number of samples"):
        Accuracy().update(np.zeros((4, 3)), np.zeros(5, dtype=np.int64))
    with pytest.raises(ShapeError, match="4 classes, expected num_classes=3"):
        F1Score(num_classes=3).update(np.zeros((2, 4)), np.array([0, 1]))
    with pytest.raises(InvalidValueError, match=r"label 3, outside \[0, 2\]"):
        Precision(num_classes=3).update(np.array([0, 1]), np.array([0, 3]))
    with pytest.raises(InvalidValueError, match="label -1"):
        Accuracy().update(np.array([0, 1]), np.array([0, -1]))
    with pytest.raises(InvalidValueError, match="integer class labels"):
        Recall(num_classes=3).update(np.array([0, 1]), np.array([0.5, 1.0]))
    with pytest.raises(InvalidValueError, match="average must be"):
        F1Score(num_classes=3, average="samples")
    with pytest.raises(InvalidValueError, match="num_classes=2"):
        F1Score(num_classes=3, average="binary")
    with pytest.raises(InvalidValueError, match="num_classes must be"):
        ConfusionMatrix(num_classes=1)
    with pytest.raises(ShapeError, match="same shape"):
        MeanSquaredError().update(np.zeros(3), np.zeros(4))
    with pytest.raises(ShapeError, match="num_outputs=1"):
        R2Score().update(np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ArgumentTypeError, match="NumPy array"):
        Accuracy().update("abc", np.zeros(1))
    with pytest.raises(InvalidValueError, match="top_k"):
        Accuracy(top_k=0)
    assert issubclass(ShapeError, DemocratisingError)


class _TwoRankWorld:
    """Rank 0 of a two-rank world whose other rank holds ``other`` (statistics of another
    metric): ``all_reduce`` adds them, once; ``all_gather_object`` pairs with its scores."""

    def __init__(self, other: Metric) -> None:
        self.other, self.reduces = other, 0

    def rank(self) -> int:
        return 0

    def size(self) -> int:
        return 2

    def all_reduce(self, t: dm.Tensor, op: str = "sum") -> dm.Tensor:
        assert op == "sum"
        self.reduces += 1
        t.copy_(t + dm.from_numpy(self.other._state.copy()))
        return t

    def all_gather_object(self, obj: Any) -> list[Any]:
        other = self.other
        scores = np.concatenate(other._scores)  # type: ignore[attr-defined]
        return [obj, (scores, np.concatenate(other._targets))]  # type: ignore[attr-defined]


def test_compute_sums_the_ranks_with_one_all_reduce(data: tuple[np.ndarray, np.ndarray]) -> None:
    logits, target = data
    half = len(target) // 2
    for make, ref in (
        (lambda w: F1Score(num_classes=C, average="macro", world=w),
         lambda p, t: skm.f1_score(t, p.argmax(1), average="macro")),
        (lambda w: Accuracy(world=w), lambda p, t: skm.accuracy_score(t, p.argmax(1))),
        (lambda w: AUROC(num_classes=C, world=w),
         lambda p, t: skm.roc_auc_score(t, _softmax(p.astype(np.float64)), multi_class="ovr")),
    ):  # fmt: skip
        other = make(None)
        other.update(logits[half:], target[half:])
        world = _TwoRankWorld(other)
        mine = make(world)
        mine.update(logits[:half], target[:half])
        want = ref(logits, target)
        assert mine.compute() == pytest.approx(want, abs=TOL)
        assert mine.compute() == pytest.approx(want, abs=TOL)  # the local state is untouched
        if not isinstance(mine, AUROC):
            assert world.reduces == 2  # one all-reduce per compute
        local = make(world)
        local.sync_on_compute = False
        local.update(logits[:half], target[:half])
        assert local.compute() == pytest.approx(ref(logits[:half], target[:half]), abs=TOL)
