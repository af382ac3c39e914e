"""Regression metrics: ``MeanAbsoluteError``, ``MeanSquaredError`` (or its root) and
``R2Score``, with scikit-learn's semantics.

The errors' statistics are sums and counts, so batches and ranks add up exactly; ``R2Score``
keeps means and squared deviations, which merge (Chan's formulas) rather than add.
Multi-output data (``[N, K]``) is averaged uniformly over the outputs, as scikit-learn's
``multioutput="uniform_average"``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .. import _core
from .._tensor import tensor
from ..errors import ArgumentTypeError, InvalidValueError, ShapeError
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
    otherwise (scikit-learn's ``force_finite=True``); fewer than two samples give NaN with a
    warning, as scikit-learn.

    Statistics per output: the count, the mean of the targets (a reference target plus a
    shift), the sum of their squared deviations from it (``SS_tot``) and the residual sum of
    squares. The sum of squares minus ``sum ** 2 / n`` would cancel for targets far from zero
    (``1e9 + [0, 2, 4]``) and leave a rounding residue for a constant one, so each batch's
    deviations are taken from its own mean (shifted by its first target, which makes a
    constant target's exactly 0) and batches and ranks merge with Chan's parallel formulas."""

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

    # The state: [count, reference (k), mean - reference (k), SS_tot (k), SS_res (k)]; the
    # mean is kept as a reference target plus a small shift, so that two means far from zero
    # subtract exactly (Sterbenz) when batches merge.
    def _state_size(self) -> int:
        return 1 + 4 * self.num_outputs

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
        n = t.shape[0]
        out = np.empty(1 + 4 * k)
        if n == 0:
            out.fill(0.0)
            return out
        r = p - t
        d = t - t[0]  # exact for nearby targets, and exactly 0 for a constant one
        shift = d.sum(axis=0) / n
        d -= shift
        out[0] = n
        out[1 : 1 + k] = t[0]
        out[1 + k : 1 + 2 * k] = shift
        out[1 + 2 * k : 1 + 3 * k] = np.einsum("ij,ij->j", d, d)
        out[1 + 3 * k :] = np.einsum("ij,ij->j", r, r)
        return out

    def _merge(self, state: np.ndarray, batch: np.ndarray) -> np.ndarray:
        """Chan et al.'s pairwise update: the mean moves by the count-weighted difference
        ``delta`` of the two means, ``SS_tot`` gains ``delta ** 2 * na * nb / n`` (0 when the
        means agree); ``state``'s reference stays."""
        na, nb = float(state[0]), float(batch[0])
        if nb == 0:
            return state
        if na == 0:
            return batch.copy()
        k, n = self.num_outputs, na + nb
        ref, shift = state[1 : 1 + k], state[1 + k : 1 + 2 * k]
        delta = (batch[1 : 1 + k] - ref) + (batch[1 + k : 1 + 2 * k] - shift)
        out = state + batch
        out[1 : 1 + k] = ref
        out[1 + k : 1 + 2 * k] = shift + delta * (nb / n)
        out[1 + 2 * k : 1 + 3 * k] += delta * delta * (na * nb / n)
        return out

    def _synced(self, state: np.ndarray) -> np.ndarray:
        """Every rank's state gathered exactly by one all-reduce (each rank fills its own row
        of zeros), then merged in rank order, so that every rank gets the same value."""
        w = self._world()
        if w is None:
            return state
        if not hasattr(w, "rank"):
            raise ArgumentTypeError(f"R2Score: the world {w!r} has no rank()")
        rows = np.zeros((int(w.size()), state.size))
        rows[int(w.rank())] = state
        gathered = super()._synced(rows.reshape(-1)).reshape(rows.shape)
        merged = np.zeros_like(state)
        for row in gathered:
            merged = self._merge(merged, row)
        return merged

    def _value(self, state: np.ndarray) -> Any:
        k = self.num_outputs
        if state[0] < 2:
            warnings.warn(
                "R2Score: R^2 is not defined for fewer than two samples; the result is NaN",
                UserWarning,
                stacklevel=3,
            )
            if self.multioutput == "raw_values":
                return tensor(np.full(k, math.nan), dtype=_core.float64)
            return math.nan
        ss_tot, ss_res = state[1 + 2 * k : 1 + 3 * k], state[1 + 3 * k :]
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
