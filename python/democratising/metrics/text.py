"""Language-model metrics: ``Perplexity``, the exponential of the mean negative log-likelihood
of the target tokens under the predicted distribution (logits), ``exp(cross-entropy)``.

Statistics: the summed negative log-likelihood (in float64, from a stable log-softmax) and
the number of tokens counted."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from ..errors import ShapeError
from ._base import Metric
from ._inputs import class_scores, target_labels

__all__ = ["Perplexity"]


class Perplexity(Metric):
    """``exp(mean(-log softmax(logits)[target]))`` over every token; ``preds`` are logits
    ``[N, C]`` or ``[B, T, C]`` (classes last, as language models give them) for targets
    ``[N]`` or ``[B, T]``; tokens equal to ``ignore_index`` are left out."""

    higher_is_better = False

    def __init__(
        self, ignore_index: Optional[int] = None, world: Any = None, sync_on_compute: bool = True
    ) -> None:
        self.ignore_index = ignore_index
        super().__init__(world, sync_on_compute)

    def _state_size(self) -> int:
        return 2

    def _batch_state(self, preds: np.ndarray, target: np.ndarray) -> np.ndarray:
        # Classes last, as a language model's [B, T, V] logits: move them to axis 1. The shape
        # check comes first, so that its message shows the shapes as the caller gave them.
        if preds.ndim != target.ndim + 1 or preds.shape[:-1] != target.shape:
            raise ShapeError(
                f"Perplexity: logits of shape {preds.shape} do not fit targets of shape "
                f"{target.shape} (expected [N, C] logits for [N] targets, or [B, T, C] for "
                "[B, T], classes last)"
            )
        p = np.moveaxis(preds, -1, 1) if preds.ndim > 2 else preds
        scores = class_scores(p, target, "Perplexity")
        scores, tgt = target_labels(
            target, scores, scores.shape[1], self.ignore_index, "Perplexity"
        )
        if tgt.size == 0:
            return np.zeros(2)
        top = scores.max(axis=1, keepdims=True)
        logz = top[:, 0] + np.log(np.exp(scores - top).sum(axis=1))
        nll = logz - scores[np.arange(tgt.size), tgt]
        return np.array([nll.sum(), float(tgt.size)])

    def _value(self, state: np.ndarray) -> float:
        # A mean NLL past ~709.78 overflows a float64: inf, as torch.exp, not OverflowError.
        try:
            return math.exp(state[0] / state[1])
        except OverflowError:
            return math.inf

    def _count(self, state: np.ndarray) -> float:
        return float(state[1])

    def __repr__(self) -> str:
        return f"Perplexity(ignore_index={self.ignore_index})"
