"""One trial: a fresh model trained with a config, returning its monitored metric each epoch.

Shared by the built-in searches and the Optuna integration. Every trial starts from the same
seed (so trials differ by their hyperparameters only), writes no run folder or checkpoint
unless the config asks, and gets its own copies of the metric objects."""

from __future__ import annotations

import copy
import difflib
import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .. import _core
from ..train.callbacks import Callback
from ..train.config import ConfigError, TrainingConfig
from ..train.trainer import Trainer, _resolve_data

__all__ = ["MonitorNotRecordedError", "TrialResult", "call_model_fn", "train_trial"]


class MonitorNotRecordedError(ConfigError, KeyError):
    """The search's monitored metric is not among a trial's metrics (a misspelt ``monitor=``,
    or a ``val_`` metric without validation data). Every trial would fail the same way, so a
    search stops at once rather than recording each trial as failed. A ``KeyError`` too, as
    the pruning callbacks raised before."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


def missing_monitor(who: str, monitor: str, names: Any) -> MonitorNotRecordedError:
    """The error for ``monitor`` missing from the recorded ``names``, with a close match."""
    names = sorted(names)
    close = difflib.get_close_matches(monitor, names, n=1)
    if close:
        hint = f"; did you mean {close[0]!r}?"
    elif monitor.startswith("val_") and not any(n.startswith("val_") for n in names):
        hint = "; give validation data for val_ metrics"
    else:
        hint = ""
    return MonitorNotRecordedError(
        f"{who} monitors {monitor!r}, which is not among the metrics {names}{hint}"
    )


@dataclass
class TrialResult:
    """One trial: its number, parameters, final monitored value (``None`` if it failed), state
    (``"complete"``, ``"pruned"`` or ``"failed"``), the epochs it trained and its history."""

    number: int
    params: dict[str, Any]
    value: Optional[float]
    state: str
    epochs: int = 0
    history: dict[str, list[Any]] = field(default_factory=dict)
    error: Optional[str] = None


def call_model_fn(model_fn: Callable[..., Any], config: TrainingConfig) -> Any:
    """``model_fn(config)``, or ``model_fn()`` for a factory that takes no argument."""
    try:
        sig = inspect.signature(model_fn)
        required = [
            p
            for p in sig.parameters.values()
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        takes_config = bool(required) or any(
            p.kind is p.VAR_POSITIONAL for p in sig.parameters.values()
        )
    except (TypeError, ValueError):  # a builtin without a signature
        takes_config = False
    return model_fn(config) if takes_config else model_fn()


def split_data(data: Any, config: TrainingConfig) -> tuple[Any, Any]:
    """``(train, val)`` as ``train_with_config`` reads ``data``."""
    return _resolve_data(data, config)


def train_trial(
    config: TrainingConfig,
    model_fn: Callable[..., Any],
    train: Any,
    val: Any,
    monitor: str,
    callbacks: Sequence[Callback] = (),
    loss_fn: Optional[Callable[[Any, Any], Any]] = None,
    metrics: Optional[Mapping[str, Any]] = None,
) -> tuple[float, dict[str, list[Any]]]:
    """Trains a new model with ``config``; returns the monitored metric of the last epoch and
    the history. ``ConfigError`` when the metric is never recorded."""
    _core.manual_seed(config.seed)
    model = call_model_fn(model_fn, config)
    trainer = Trainer(
        model,
        config,
        loss_fn=loss_fn,
        callbacks=list(callbacks),
        metrics=copy.deepcopy(dict(metrics)) if metrics else None,
    )
    history = trainer.fit(train, val)
    values = history.get(monitor)
    if not values:
        raise missing_monitor("the search", monitor, history)
    value = float(values[-1])
    if math.isnan(value):
        value = math.nan
    return value, history


def trial_config(base: TrainingConfig) -> TrainingConfig:
    """``base`` as a trial runs it: quiet, no run folder, no progress bar, no summary."""
    return base.with_overrides(
        ["verbose=false", "progress=false", "model_summary=false", "runs_dir=none"]
    )
