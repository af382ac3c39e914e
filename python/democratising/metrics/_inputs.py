"""Turning what a model gives (logits, probabilities, scores, labels) into class labels, the
common first step of the classification metrics; typed errors for shapes and label ranges."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..errors import InvalidValueError, ShapeError

__all__ = ["check_labels", "class_scores", "integral", "labels_of", "target_labels"]


def integral(a: np.ndarray, name: str, what: str) -> np.ndarray:
    """``a`` as int64 labels; ``InvalidValueError`` when it holds non-integers."""
    if a.dtype.kind in "iub":
        return a.astype(np.int64, copy=False)
    if a.dtype.kind == "f":
        if a.size and not np.all(np.isfinite(a) & (a == np.round(a))):
            raise InvalidValueError(f"{what}: {name} must hold integer class labels")
        return a.astype(np.int64)
    raise InvalidValueError(f"{what}: {name} must be numeric, got dtype {a.dtype}")


def check_labels(labels: np.ndarray, num_classes: Optional[int], name: str, what: str) -> None:
    """``InvalidValueError`` naming the first label outside ``[0, num_classes)``."""
    if labels.size == 0:
        return
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or (num_classes is not None and hi >= num_classes):
        bad = lo if lo < 0 else hi
        top = f"{num_classes - 1}" if num_classes is not None else "..."
        raise InvalidValueError(
            f"{what}: {name} holds the label {bad}, outside [0, {top}]"
            + (f" (num_classes={num_classes})" if num_classes is not None else "")
        )


def class_scores(preds: np.ndarray, target: np.ndarray, what: str) -> np.ndarray:
    """``preds`` with one more dimension than ``target`` (classes on axis 1, as PyTorch puts
    them) as a 2-D ``[samples, classes]`` array in float64."""
    if preds.ndim != target.ndim + 1 or preds.shape[:1] + preds.shape[2:] != target.shape:
        raise ShapeError(
            f"{what}: scores of shape {preds.shape} do not fit targets of shape {target.shape} "
            "(expected [N, C, ...] scores for [N, ...] targets)"
        )
    p = np.moveaxis(preds, 1, -1) if preds.ndim > 2 else preds
    return np.asarray(p, dtype=np.float64).reshape(-1, preds.shape[1])


def target_labels(
    target: np.ndarray,
    paired: np.ndarray,
    num_classes: Optional[int],
    ignore_index: Optional[int],
    what: str,
) -> tuple[np.ndarray, np.ndarray]:
    """``(paired, target labels)``: ``target`` as flat int64 labels checked against
    ``num_classes``, those equal to ``ignore_index`` dropped together with their rows of
    ``paired`` (the predictions or scores, one row per target label)."""
    tgt = integral(target.reshape(-1), "target", what)
    if ignore_index is not None:
        keep = tgt != ignore_index
        paired, tgt = paired[keep], tgt[keep]
    check_labels(tgt, num_classes, "target", what)
    return paired, tgt


def labels_of(
    preds: np.ndarray,
    target: np.ndarray,
    num_classes: Optional[int],
    what: str,
    threshold: float = 0.5,
    ignore_index: Optional[int] = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(predicted labels, target labels)``, flat int64, from:

    * scores ``[N, C, ...]`` for targets ``[N, ...]``: the arg-max class;
    * labels of the target's shape (integers, or integer-valued floats unless there are two
      classes);
    * for two classes (``num_classes=2``, or unknown and non-integer floats), float
      probabilities or logits of the target's shape: positive above ``threshold`` (values
      outside ``[0, 1]`` are logits and go through a sigmoid).

    Labels are checked against ``num_classes``; targets equal to ``ignore_index`` are
    dropped with their predictions."""
    if target.ndim == 0:
        target = target.reshape(1)
        preds = preds.reshape((1, *preds.shape)) if preds.ndim <= 1 else preds
    if preds.ndim == target.ndim + 1:
        scores = class_scores(preds, target, what)
        if num_classes is not None and scores.shape[1] != num_classes:
            raise ShapeError(
                f"{what}: scores have {scores.shape[1]} classes, expected num_classes={num_classes}"
            )
        pred = (
            scores.argmax(axis=1).astype(np.int64)
            if scores.shape[0]
            else np.zeros(0, dtype=np.int64)
        )
        # Scores name the classes: a target label past them (labels 1..10 for 10 logits) can
        # never be predicted, and would read as a silently low score, not as the data error.
        num_classes = scores.shape[1] if num_classes is None else num_classes
        if scores.shape[1] == 1 and target.size and target.max() > 0:
            raise ShapeError(
                f"{what}: scores of one column name a single class; for binary logits or "
                "probabilities pass them in the target's shape (preds.squeeze(1))"
            )
    elif preds.shape == target.shape:
        flat = preds.reshape(-1)
        # Two classes: float preds are always probabilities or logits (as torchmetrics' binary
        # metrics), even whole-numbered logits such as [-2., 3., 1.]; labels 0./1. threshold
        # to themselves. Otherwise whole-numbered floats are labels.
        if flat.dtype.kind == "f" and (
            num_classes == 2 or (flat.size and not np.all(flat == np.round(flat)))
        ):
            if num_classes not in (None, 2):
                raise InvalidValueError(
                    f"{what}: preds of the target's shape hold non-integer values; for "
                    f"num_classes={num_classes} give labels or [N, C] scores"
                )
            p = flat.astype(np.float64)
            if np.any((p < 0) | (p > 1)):
                p = 1.0 / (1.0 + np.exp(-p))
            pred = (p > threshold).astype(np.int64)
        else:
            pred = integral(flat, "preds", what)
    else:
        raise ShapeError(
            f"{what}: preds of shape {preds.shape} do not fit target of shape {target.shape} "
            "(give labels of the target's shape, or [N, C, ...] scores)"
        )
    pred, tgt = target_labels(target, pred, num_classes, ignore_index, what)
    check_labels(pred, num_classes, "preds", what)
    return pred, tgt
