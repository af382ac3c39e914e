"""Regression metrics: ``MeanAbsoluteError``, ``MeanSquaredError`` (or its root) and
``R2Score``, with scikit-learn's semantics.

Their statistics are sums (of absolute or squared errors, of the targets and of their
squares) and counts, so batches and ranks add up exactly. Multi-output data (``[N, K]``) is
averaged uniformly over the outputs, as scikit-learn's ``multioutput="uniform_average"``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _core
from .._tensor import tensor
from ..errors import InvalidValueError, ShapeError
from ._base import Metric

__all__ = ["MeanAbsoluteError", "MeanSquaredError", "R2Score"]


def _pair(preds: np.ndarray, target: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    if preds.shape != target.shape:
        # A model's [N, 1] output for [N] targets is the usual case: accept it.
        if preds.ndim == target.ndim + 1 and preds.shape[-1] == 1:
            preds = preds.reshape(target.shape)
        else:
            raise ShapeError(
                f"{what}: preds and target must have the same shape, got {preds.shape} and "
                f"{target.shape}"
            )
    if preds.dtype.kind not in "fiub" or target.dtype.kind not in "fiub":
        raise InvalidValueError(f"{what}: preds and target must be numeric")
    return preds.astype(np.float64), target.astype(np.float64)


class MeanAbsoluteError(Metric):
    """The mean of ``|preds - target|`` over every element."""

    higher_is_better = False

    def _state_size(self) -> int:
        return 2

    def _batch_state(self, preds: np.ndarray, target: np.ndarray) -> np.ndarray:
        p, t = _pair(preds, target, "MeanAbsoluteError")
        return np.array([np.abs(p - t).sum(), float(p.size)])

    def _value(self, state: np.ndarray) -> float:
        return float(state[0] / state[1])

    def _count(self, state: np.ndarray) -> float:
        return float(state[1])


class MeanSquaredError(Metric):
    """The mean of ``(preds - target) ** 2`` over every element; ``squared=False`` gives its
    square root (RMSE)."""

    higher_is_better = False

    def __init__(
        self, squared: bool = True, world: Any = None, sync_on_compute: bool = True
    ) -> None:
        self.squared = bool(squared)
        super().__init__(world, sync_on_compute)

    def _state_size(self) -> int:
        return 2

    def _batch_state(self, preds: np.ndarray, target: np.ndarray) -> np.ndarray:
        p, t = _pair(preds, target, "MeanSquaredError")
        d = p - t
        return np.array([(d * d).sum(), float(p.size)])

    def _value(self, state: np.ndarray) -> float:
        mse = float(state[0] / state[1])
        return mse if self.squared else math.sqrt(mse)

    def _count(self, state: np.ndarray) -> float:
        return float(state[1])

    def __repr__(self) -> str:
        return f"MeanSquaredError(squared={self.squared})"


class R2Score(Metric):
    """The coefficient of determination ``1 - SS_res / SS_tot`` per output, averaged over
    ``num_outputs`` outputs (``multioutput="uniform_average"``, ``"variance_weighted"`` or
    ``"raw_values"``, a tensor). A constant target gives 1.0 for a perfect fit and 0.0
    otherwise (scikit-learn's ``force_finite=True``). Statistics per output: the count, the
    sums of targets and of their squares, and the residual sum of squares."""

    def __init__(
        self,
        num_outputs: int = 1,
        multioutput: str = "uniform_average",
        world: Any = None,
        sync_on_compute: bool = True,
    ) -> None:
        if isinstance(num_outputs, bool) or not isinstance(num_outputs, int) or num_outputs < 1:
            raise InvalidValueError(f"R2Score: num_outputs must be an int >= 1, got {num_outputs}")
        if multioutput not in ("uniform_average", "variance_weighted", "raw_values"):
            raise InvalidValueError(
                "R2Score: multioutput must be 'uniform_average', 'variance_weighted' or "
                f"'raw_values', got {multioutput!r}"
            )
        self.num_outputs, self.multioutput = num_outputs, multioutput
        super().__init__(world, sync_on_compute)

    def _state_size(self) -> int:
        return 1 + 3 * self.num_outputs

    def _batch_state(self, preds: np.ndarray, target: np.ndarray) -> np.ndarray:
        p, t = _pair(preds, target, "R2Score")
        k = self.num_outputs
        if t.ndim == 1 and k == 1:
            p, t = p[:, None], t[:, None]
        if t.ndim != 2 or t.shape[1] != k:
            raise ShapeError(
                f"R2Score: expected targets of shape [N] or [N, {k}] (num_outputs={k}), got "
                f"{t.shape}"
            )
        r = p - t
        return np.concatenate(
            [[float(t.shape[0])], t.sum(axis=0), (t * t).sum(axis=0), (r * r).sum(axis=0)]
        )

    def _value(self, state: np.ndarray) -> Any:
        k = self.num_outputs
        n = state[0]
        s, s2, ss_res = state[1 : 1 + k], state[1 + k : 1 + 2 * k], state[1 + 2 * k :]
        ss_tot = np.maximum(s2 - s * s / n, 0.0)
        scores = np.ones(k)
        ok = ss_tot > 0
        scores[ok] = 1.0 - ss_res[ok] / ss_tot[ok]
        scores[~ok & (ss_res > 0)] = 0.0
        if self.multioutput == "raw_values":
            return tensor(scores, dtype=_core.float64)
        if self.multioutput == "variance_weighted" and ss_tot.sum() > 0:
            return float((scores * ss_tot).sum() / ss_tot.sum())
        return float(scores.mean())

    def _count(self, state: np.ndarray) -> float:
        return float(state[0])

    def __repr__(self) -> str:
        return f"R2Score(num_outputs={self.num_outputs}, multioutput={self.multioutput!r})"
