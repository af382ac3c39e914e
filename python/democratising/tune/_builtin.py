"""The built-in searches, which need no extra: every point of a grid, or points drawn at
random, each trained as a trial; optionally a median rule stops a trial whose monitored metric
is worse, at some epoch, than the median of the finished trials at that epoch (as Optuna's
``MedianPruner``, but on the epoch's value rather than the trial's best so far; NaN values are
left out of the median, as Optuna leaves out its failed trials)."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from ..train.callbacks import Callback
from ._trial import missing_monitor

__all__ = ["MedianStopper", "TrialPrunedError"]


class TrialPrunedError(Exception):
    """Raised from a trial's epoch end when the median rule stops it."""

    def __init__(self, epoch: int) -> None:
        super().__init__(f"pruned at epoch {epoch}")
        self.epoch = epoch


class MedianStopper(Callback):
    """Stops the trial (raises ``TrialPrunedError``) when, after ``warmup_epochs`` epochs and once
    ``startup_trials`` trials have finished, its value at an epoch is worse than the median of
    the finished trials' values at that epoch."""

    def __init__(
        self,
        monitor: str,
        maximize: bool,
        finished: list[list[float]],
        startup_trials: int = 2,
        warmup_epochs: int = 0,
    ) -> None:
        self.monitor, self.maximize, self.finished = monitor, maximize, finished
        self.startup_trials, self.warmup_epochs = startup_trials, warmup_epochs
        self.values: list[float] = []

    def on_epoch_end(self, trainer: Any, metrics: dict[str, Any]) -> Optional[bool]:
        if self.monitor not in metrics:
            raise missing_monitor("the search", self.monitor, metrics)
        value = float(metrics[self.monitor])
        self.values.append(value)
        epoch = len(self.values)
        if epoch <= self.warmup_epochs or len(self.finished) < self.startup_trials:
            return None
        others = [
            v[epoch - 1] for v in self.finished if len(v) >= epoch and not math.isnan(v[epoch - 1])
        ]
        if not others:
            return None
        median = float(np.median(others))
        worse = value < median if self.maximize else value > median
        if math.isnan(value) or worse:
            raise TrialPrunedError(epoch)
        return None
