"""Classification metrics: ``Accuracy`` (top-k), ``Precision``, ``Recall``, ``F1Score`` (micro,
macro, weighted, per class, binary) and ``ConfusionMatrix``, with scikit-learn's semantics.

Every one of them but top-k accuracy keeps one statistic: the ``num_classes x num_classes``
confusion matrix (rows the true class, columns the predicted one, as scikit-learn's), from
which precision, recall and F1 follow exactly, whatever the batching or the number of ranks.
A ratio with a zero denominator is 0 (scikit-learn's ``zero_division=0``); ``"macro"``
averages over the classes that occur in the targets or the predictions (scikit-learn's
default labels), ``"weighted"`` weighs each class by its support.

torchmetrics' ``task=`` is accepted, as keyword or first argument: ``"binary"`` means two
classes (and, for precision, recall and F1, the positive class's value); ``"multiclass"``
needs ``num_classes`` and, as torchmetrics' task wrappers, makes ``average`` default to
``"micro"`` (without ``task`` it defaults to ``"macro"``).
"""

from __future__ import annotations

import enum
import numbers
from typing import Any, Optional, Union

import numpy as np

from .. import _core
from .._tensor import tensor
from ..errors import ArgumentTypeError, InvalidValueError, ShapeError
from ._base import Metric, same_length
from ._inputs import class_scores, labels_of, target_labels

__all__ = ["Accuracy", "ConfusionMatrix", "F1Score", "Precision", "Recall"]

AVERAGES = ("micro", "macro", "weighted", "none", "binary")


def _check_num_classes(num_classes: Any, what: str) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise InvalidValueError(f"{what}: num_classes must be an int >= 2, got {num_classes!r}")
    if num_classes < 2:
        raise InvalidValueError(f"{what}: num_classes must be >= 2, got {num_classes}")
    return int(num_classes)


TASKS = ("binary", "multiclass")


def _resolve_task(task: Optional[str], num_classes: Any, what: str) -> Any:
    """torchmetrics' ``task=`` (``Accuracy(task="multiclass", num_classes=10)``) as the number
    of classes it implies: ``"binary"`` is two classes, ``"multiclass"`` needs
    ``num_classes``; without a task the arguments stand as given."""
    if task is None:
        return num_classes
    if task not in TASKS:
        raise InvalidValueError(
            f"{what}: task must be 'binary' or 'multiclass', got {task!r}"
            + (" (multilabel metrics are not supported)" if task == "multilabel" else "")
        )
    if task == "binary":
        if num_classes not in (None, 2):
            raise InvalidValueError(
                f"{what}: task='binary' has 2 classes, got num_classes={num_classes}"
            )
        return 2
    if num_classes is None:
        raise InvalidValueError(f"{what}: task='multiclass' needs num_classes")
    return num_classes


def _check_threshold(threshold: Any, what: str) -> float:
    """torchmetrics' check: the threshold applies to probabilities, so one outside ``[0, 1]``
    would make every prediction the same class, silently."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise ArgumentTypeError(f"{what}: threshold must be a float in [0, 1], got {threshold!r}")
    if not 0.0 <= threshold <= 1.0:
        raise InvalidValueError(f"{what}: threshold must be a float in [0, 1], got {threshold!r}")
    return float(threshold)


class _Default(enum.Enum):
    """The default of ``average``: ``"micro"`` under torchmetrics' ``task=`` (its task
    wrappers' default), ``"macro"`` without one (scikit-learn's usual choice here)."""

    AVERAGE = "micro with task=, else macro"

    def __repr__(self) -> str:
        return "'micro' with task= else 'macro'"


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den`` is 0 (scikit-learn's ``zero_division=0``)."""
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


class Accuracy(Metric):
    """The share of samples whose target is among the ``top_k`` highest scores (``top_k=1``:
    the arg-max, or the given labels). ``preds`` are ``[N, C, ...]`` scores (logits or
    probabilities), labels of the target's shape, or binary probabilities/logits (positive
    above ``threshold``). ``num_classes``, when given, is checked against every label.
    Statistics: the number correct and the number seen."""

    def __init__(
        self,
        top_k: Any = 1,
        num_classes: Optional[int] = None,
        threshold: float = 0.5,
        ignore_index: Optional[int] = None,
        world: Any = None,
        sync_on_compute: bool = True,
        task: Optional[str] = None,
    ) -> None:
        if isinstance(top_k, str) and task is None:  # torchmetrics' Accuracy("multiclass", ...)
            top_k, task = 1, top_k
        num_classes = _resolve_task(task, num_classes, "Accuracy")
        self.task = task
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise InvalidValueError(f"Accuracy: top_k must be an int >= 1, got {top_k!r}")
        if num_classes is not None:
            _check_num_classes(num_classes, "Accuracy")
            if top_k > num_classes:
                raise InvalidValueError(
                    f"Accuracy: top_k={top_k} is more than num_classes={num_classes}"
                )
        self.top_k, self.num_classes = top_k, num_classes
        self.threshold, self.ignore_index = _check_threshold(threshold, "Accuracy"), ignore_index
        super().__init__(world, sync_on_compute)

    def _state_size(self) -> int:
        return 2

    def _batch_state(self, preds: np.ndarray, target: np.ndarray) -> np.ndarray:
        same_length(preds, target, "Accuracy")
        if self.top_k == 1:
            pred, tgt = labels_of(
                preds, target, self.num_classes, "Accuracy", self.threshold, self.ignore_index
            )
            return np.array([float(np.sum(pred == tgt)), float(tgt.size)])
        scores = class_scores(preds, target, "Accuracy")
        if self.num_classes is not None and scores.shape[1] != self.num_classes:
            # As the top-1 path: scores of another width are a different model's, not labels.
            raise ShapeError(
                f"Accuracy: scores have {scores.shape[1]} classes, expected "
                f"num_classes={self.num_classes}"
            )
        scores, tgt = target_labels(
            target, scores, self.num_classes or scores.shape[1], self.ignore_index, "Accuracy"
        )
        if self.top_k > scores.shape[1]:
            raise ShapeError(
                f"Accuracy: top_k={self.top_k} needs at least that many classes, the scores "
                f"have {scores.shape[1]}"
            )
        if tgt.size == 0:
            return np.zeros(2)
        top = np.argpartition(-scores, self.top_k - 1, axis=1)[:, : self.top_k]
        hit = np.any(top == tgt[:, None], axis=1)
        return np.array([float(hit.sum()), float(tgt.size)])

    def _value(self, state: np.ndarray) -> float:
        return float(state[0] / state[1])

    def _count(self, state: np.ndarray) -> float:
        return float(state[1])

    def __repr__(self) -> str:
        return f"Accuracy(top_k={self.top_k}, num_classes={self.num_classes})"


class _ConfusionBased(Metric):
    """Metrics computed from the confusion matrix of ``num_classes`` classes."""

    _name = ""

    def __init__(
        self,
        num_classes: Any = None,
        average: Union[str, _Default, None] = _Default.AVERAGE,
        threshold: float = 0.5,
        ignore_index: Optional[int] = None,
        world: Any = None,
        sync_on_compute: bool = True,
        task: Optional[str] = None,
    ) -> None:
        what = type(self).__name__
        if isinstance(num_classes, str) and task is None:  # torchmetrics' F1Score("binary")
            num_classes, task = None, num_classes
        self.task = task
        if average is _Default.AVERAGE:
            average = "micro" if task is not None else "macro"
        self.num_classes = _check_num_classes(_resolve_task(task, num_classes, what), what)
        # torchmetrics' binary metrics are those of the positive class, whatever ``average``.
        avg = "binary" if task == "binary" else ("none" if average is None else average)
        if avg not in AVERAGES:
            raise InvalidValueError(
                f"{what}: average must be one of 'micro', 'macro', 'weighted', 'binary' or "
                f"None, got {average!r}"
            )
        if avg == "binary" and self.num_classes != 2:
            raise InvalidValueError(
                f"{what}: average='binary' needs num_classes=2, got {self.num_classes}"
            )
        self.average, self.ignore_index = avg, ignore_index
        self.threshold = _check_threshold(threshold, what)
        super().__init__(world, sync_on_compute)

    def _state_size(self) -> int:
        return self.num_classes * self.num_classes

    def _batch_state(self, preds: np.ndarray, target: np.ndarray) -> np.ndarray:
        what = type(self).__name__
        same_length(preds, target, what)
        pred, tgt = labels_of(
            preds, target, self.num_classes, what, self.threshold, self.ignore_index
        )
        c = self.num_classes
        return np.bincount(tgt * c + pred, minlength=c * c).astype(np.float64)

    def _count(self, state: np.ndarray) -> float:
        return float(state.sum())

    def _matrix(self, state: np.ndarray) -> np.ndarray:
        return state.reshape(self.num_classes, self.num_classes)

    def _per_class(self, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
        raise InvalidValueError(f"{type(self).__name__} has no per-class value")

    def _value(self, state: np.ndarray) -> Any:
        cm = self._matrix(state)
        tp = np.diag(cm)
        fp = cm.sum(axis=0) - tp
        fn = cm.sum(axis=1) - tp
        if self.average == "micro":
            return float(self._per_class(tp.sum(), fp.sum(), fn.sum()))
        scores = self._per_class(tp, fp, fn)
        if self.average == "binary":
            return float(scores[1])
        if self.average == "none":
            return tensor(scores, dtype=_core.float64)
        support = cm.sum(axis=1)
        if self.average == "weighted":
            total = support.sum()
            return float((scores * support).sum() / total) if total else 0.0
        present = (support + cm.sum(axis=0)) > 0  # in the targets or the predictions
        return float(scores[present].mean()) if present.any() else 0.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_classes={self.num_classes}, average={self.average!r})"


class Precision(_ConfusionBased):
    """``tp / (tp + fp)`` per class (0 for a class never predicted), averaged as ``average``
    says: ``"micro"`` (over all samples: equals accuracy for single-label data; the default
    with ``task="multiclass"``, as torchmetrics' task wrappers), ``"macro"`` (the default
    without ``task``), ``"weighted"`` (by support), ``"binary"`` (class 1 of two; always so
    with ``task="binary"``) or ``None`` (a tensor with one value per class)."""

    def _per_class(self, tp: Any, fp: Any, fn: Any) -> Any:
        return _div(np.asarray(tp, dtype=np.float64), np.asarray(tp + fp, dtype=np.float64))


class Recall(_ConfusionBased):
    """``tp / (tp + fn)`` per class (0 for a class with no sample), averaged as in
    ``Precision``."""

    def _per_class(self, tp: Any, fp: Any, fn: Any) -> Any:
        return _div(np.asarray(tp, dtype=np.float64), np.asarray(tp + fn, dtype=np.float64))


class F1Score(_ConfusionBased):
    """The harmonic mean of precision and recall, ``2 tp / (2 tp + fp + fn)`` per class (0
    where that is 0 / 0), averaged as in ``Precision``."""

    def _per_class(self, tp: Any, fp: Any, fn: Any) -> Any:
        tp = np.asarray(tp, dtype=np.float64)
        return _div(2 * tp, 2 * tp + np.asarray(fp + fn, dtype=np.float64))


class ConfusionMatrix(_ConfusionBased):
    """The ``num_classes x num_classes`` matrix counting samples of true class ``i`` (row)
    predicted as ``j`` (column), as an int64 tensor; ``normalize="true"`` (rows sum to 1),
    ``"pred"`` (columns) or ``"all"`` gives float64 shares (0 for an empty row/column)."""

    higher_is_better = False

    def __init__(
        self,
        num_classes: Any = None,
        normalize: Optional[str] = None,
        threshold: float = 0.5,
        ignore_index: Optional[int] = None,
        world: Any = None,
        sync_on_compute: bool = True,
        task: Optional[str] = None,
    ) -> None:
        if isinstance(num_classes, str) and task is None:
            num_classes, task = None, num_classes
        num_classes = _resolve_task(task, num_classes, "ConfusionMatrix")
        if normalize not in (None, "true", "pred", "all", "none"):
            raise InvalidValueError(
                f"ConfusionMatrix: normalize must be None, 'true', 'pred' or 'all', got "
                f"{normalize!r}"
            )
        self.normalize = None if normalize == "none" else normalize
        super().__init__(num_classes, "macro", threshold, ignore_index, world, sync_on_compute)
        self.task = task

    def _value(self, state: np.ndarray) -> Any:
        cm = self._matrix(state)
        if self.normalize is None:
            return tensor(np.rint(cm).astype(np.int64), dtype=_core.int64)
        if self.normalize == "true":
            out = _div(cm, cm.sum(axis=1, keepdims=True))
        elif self.normalize == "pred":
            out = _div(cm, cm.sum(axis=0, keepdims=True))
        else:
            out = _div(cm, np.asarray(cm.sum()))
        return tensor(out, dtype=_core.float64)

    def _empty_value(self) -> Any:
        return self._value(np.zeros(self.num_classes * self.num_classes))

    def __repr__(self) -> str:
        return f"ConfusionMatrix(num_classes={self.num_classes}, normalize={self.normalize!r})"
