"""``democratising.metrics``: streaming evaluation metrics with the names and semantics of
torchmetrics and scikit-learn.

Each metric has ``update(preds, target)`` (a batch: democratising tensors, NumPy arrays or
lists), ``compute()`` (the value over every batch since ``reset()``) and ``reset()``; calling
it updates and returns the batch's own value. Metrics keep sufficient statistics rather than
predictions (AUROC alone keeps its scores), and under ``democratising.distributed`` a
``compute()`` sums the statistics of every rank with one all-reduce, so every rank gets the
metric of the whole dataset. ``Trainer(model, metrics={"f1": F1Score(num_classes=10)})``
evaluates them on the validation data every epoch (``val_f1``).

* ``classification``: ``Accuracy`` (top-k), ``Precision``, ``Recall``, ``F1Score``,
  ``ConfusionMatrix``;
* ``auroc``: ``AUROC`` (binary, multiclass one-vs-rest);
* ``regression``: ``MeanAbsoluteError``, ``MeanSquaredError``, ``R2Score``;
* ``text``: ``Perplexity``.
"""

from __future__ import annotations

from ._base import Metric
from .auroc import AUROC
from .classification import Accuracy, ConfusionMatrix, F1Score, Precision, Recall
from .regression import MeanAbsoluteError, MeanSquaredError, R2Score
from .text import Perplexity

__all__ = [
    "AUROC",
    "Accuracy",
    "ConfusionMatrix",
    "F1Score",
    "MeanAbsoluteError",
    "MeanSquaredError",
    "Metric",
    "Perplexity",
    "Precision",
    "R2Score",
    "Recall",
]
