"""``AUROC``: the area under the ROC curve, binary or multiclass one-vs-rest (scikit-learn's
``roc_auc_score``, ``multi_class="ovr"``).

The one metric here that is not a sum: the area depends on the ranking of every score, so it
keeps the scores and targets it is given (float64 and int64, 16 bytes a sample) and, across
ranks, gathers them. The area is computed exactly, as the Mann-Whitney statistic with tied
scores sharing their average rank, which is the trapezoidal area under the ROC curve.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Optional

import numpy as np

from .. import _core
from .._tensor import tensor
from ..errors import ArgumentTypeError, InvalidValueError, ShapeError
from ._base import Metric, same_length, to_numpy
from ._inputs import check_labels, class_scores, integral
from .classification import _resolve_task

__all__ = ["AUROC", "binary_auroc"]


def binary_auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """The area under the ROC curve of ``scores`` for the boolean labels ``positive`` (NaN
    when one of the two classes is missing)."""
    n_pos = int(positive.sum())
    n_neg = int(positive.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return math.nan
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based, ties share their mean
    ranks = average_rank[inverse.reshape(-1)]
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _has_nan(a: np.ndarray) -> bool:
    """Whether ``a`` holds a NaN; its sum (one pass, no mask) is NaN first."""
    return bool(np.isnan(a.sum())) and bool(np.isnan(a).any())


class AUROC(Metric):
    """The area under the ROC curve.

    * Binary (``num_classes`` ``None`` or 2): ``preds`` are scores of the positive class
      ``[N]`` (probabilities or logits: any monotone score), or ``[N, 2]`` scores of which
      the second column is used (through a softmax when they are logits).
    * Multiclass (``num_classes=C``): ``preds`` are ``[N, C]`` probabilities, or logits (any
      value outside ``[0, 1]``), which go through a softmax; each class against the rest, then
      ``average="macro"`` (the plain mean), ``"weighted"`` (by the classes' support) or
      ``None`` (a tensor, one area per class).

    A class with no positive or no negative sample has no area: it is left out of the
    average with a warning (the result is NaN if no class has one)."""

    def __init__(
        self,
        num_classes: Any = None,
        average: Optional[str] = "macro",
        world: Any = None,
        sync_on_compute: bool = True,
        task: Optional[str] = None,
    ) -> None:
        if isinstance(num_classes, str) and task is None:  # torchmetrics' AUROC("binary")
            num_classes, task = None, num_classes
        num_classes = _resolve_task(task, num_classes, "AUROC")
        self.task = task
        if num_classes is not None and (
            isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2
        ):
            raise InvalidValueError(f"AUROC: num_classes must be an int >= 2, got {num_classes!r}")
        if average not in ("macro", "weighted", None, "none"):
            raise InvalidValueError(
                f"AUROC: average must be 'macro', 'weighted' or None, got {average!r}"
            )
        self.num_classes = num_classes
        self.average = "none" if average is None else average
        self._scores: list[np.ndarray] = []
        self._targets: list[np.ndarray] = []
        super().__init__(world, sync_on_compute)

    @property
    def _binary(self) -> bool:
        return self.num_classes is None or self.num_classes == 2

    # The statistics are the scores themselves: the packed-sum machinery is not used.
    def _state_size(self) -> int:
        return 0

    def _batch_state(self, preds: np.ndarray, target: np.ndarray) -> np.ndarray:
        return np.zeros(0)

    def _count(self, state: np.ndarray) -> float:
        return float(sum(t.size for t in self._targets))

    def _value(self, state: np.ndarray) -> Any:
        return self._area(*self._gathered())

    def _prepare(self, preds: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
        p = to_numpy(preds, "preds")
        scores, tgt = self._scores_of(p, to_numpy(target, "target"))
        if _has_nan(scores):
            # A NaN has no rank: scikit-learn refuses it rather than scoring it as a tie.
            raise InvalidValueError(
                "AUROC: preds hold NaN scores"
                if _has_nan(p)
                else "AUROC: logits with +inf (or a row of only -inf) have no softmax"
            )
        if self._binary and scores.ndim == 2:
            return scores[:, 1].copy(), tgt
        return scores, tgt

    def _scores_of(self, p: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(float64 scores, int64 targets)``: ``[N]`` scores of the positive class, or
        ``[N, C]`` probabilities (through a softmax when they are logits)."""
        same_length(p, t, "AUROC")
        tgt = integral(t.reshape(-1), "target", "AUROC")
        if self._binary and p.ndim == t.ndim:
            if p.shape != t.shape:
                raise ShapeError(f"AUROC: preds {p.shape} and target {t.shape} differ in shape")
            check_labels(tgt, 2, "target", "AUROC")
            return p.reshape(-1).astype(np.float64), tgt
        scores = class_scores(p, t, "AUROC")
        classes = self.num_classes or 2
        if scores.shape[1] != classes:
            raise ShapeError(
                f"AUROC: scores have {scores.shape[1]} classes, expected {classes} (num_classes)"
            )
        check_labels(tgt, classes, "target", "AUROC")
        if scores.size and np.any((scores < 0) | (scores > 1)):
            top = scores.max(axis=1, keepdims=True)
            with np.errstate(invalid="ignore"):  # -inf logits are fine; +inf ones give NaN
                e = np.exp(scores - top)
                scores = e / e.sum(axis=1, keepdims=True)
        return scores, tgt

    def update(self, preds: Any, target: Any) -> None:
        scores, tgt = self._prepare(preds, target)
        if tgt.size:
            self._scores.append(scores)
            self._targets.append(tgt)
        self._updates += 1

    def __call__(self, preds: Any, target: Any) -> Any:
        scores, tgt = self._prepare(preds, target)
        self._updates += 1
        if not tgt.size:
            return math.nan
        self._scores.append(scores)
        self._targets.append(tgt)
        return self._area(scores, tgt)

    def reset(self) -> None:
        self._scores, self._targets = [], []
        self._updates = 0

    def _gathered(self) -> tuple[np.ndarray, np.ndarray]:
        width = () if self._binary else (int(self.num_classes or 2),)
        scores = np.concatenate(self._scores) if self._scores else np.zeros((0, *width), np.float64)
        targets = np.concatenate(self._targets) if self._targets else np.zeros(0, np.int64)
        w = self._world()
        if w is None:
            return scores, targets
        if not hasattr(w, "all_gather_object"):
            raise ArgumentTypeError(
                f"AUROC: the world {w!r} has no all_gather_object to gather the scores"
            )
        parts = w.all_gather_object((scores, targets))
        return np.concatenate([s for s, _ in parts]), np.concatenate([t for _, t in parts])

    def compute(self) -> Any:
        scores, targets = self._gathered()
        if targets.size == 0:
            warnings.warn(
                "AUROC.compute() was called before any sample was seen; the result is not defined",
                UserWarning,
                stacklevel=2,
            )
            return math.nan
        return self._area(scores, targets)

    def _area(self, scores: np.ndarray, targets: np.ndarray) -> Any:
        if self._binary:
            area = binary_auroc(scores, targets == 1)
            if math.isnan(area):
                warnings.warn(
                    "AUROC: the targets hold one class only; the area is not defined (NaN)",
                    UserWarning,
                    stacklevel=3,
                )
            return area
        classes = int(self.num_classes or 2)
        areas = np.array([binary_auroc(scores[:, c], targets == c) for c in range(classes)])
        if self.average == "none":
            return tensor(areas, dtype=_core.float64)
        ok = ~np.isnan(areas)
        if not ok.all():
            missing = [int(c) for c in np.flatnonzero(~ok)]
            warnings.warn(
                f"AUROC: classes {missing} have no positive or no negative sample and are "
                "left out of the average",
                UserWarning,
                stacklevel=3,
            )
        if not ok.any():
            return math.nan
        if self.average == "weighted":
            support = np.bincount(targets, minlength=classes).astype(np.float64)
            return float((areas[ok] * support[ok]).sum() / support[ok].sum())
        return float(areas[ok].mean())

    def __repr__(self) -> str:
        return f"AUROC(num_classes={self.num_classes}, average={self.average!r})"
