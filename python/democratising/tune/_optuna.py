"""The Optuna side of ``democratising.tune``: the pruning callback (Optuna's Lightning
integration, for ``Trainer``), storages from a string, and samplers and pruners by name.

Optuna is the optional extra ``tune``; it is imported here, when first used, never by
``import democratising``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

from .._extras import require
from ..errors import InvalidValueError
from ..train.callbacks import Callback
from ._trial import missing_monitor

__all__ = ["PruningCallback", "make_pruner", "make_sampler", "make_storage", "optuna"]


def optuna() -> Any:
    """The ``optuna`` module, or ``MissingExtraError`` naming the ``tune`` extra."""
    return require("optuna", "tune", "democratising.tune's Optuna search (tune.run)")


class PruningCallback(Callback):
    """Reports ``monitor`` (e.g. ``"val_accuracy"``) to an Optuna ``trial`` after every epoch,
    at step = the epoch number, and stops the trial with ``optuna.TrialPruned`` when the
    study's pruner says so, as ``optuna_integration.PyTorchLightningPruningCallback`` does for
    Lightning. A ``monitor`` the epoch did not record is a ``ConfigError`` (also a
    ``KeyError``): a misspelt name would otherwise never prune."""

    def __init__(self, trial: Any, monitor: str) -> None:
        self.trial, self.monitor = trial, monitor
        self.pruned_epoch: Optional[int] = None

    def on_epoch_end(self, trainer: Any, metrics: dict[str, Any]) -> Optional[bool]:
        if self.monitor not in metrics:
            raise missing_monitor("PruningCallback", self.monitor, metrics)
        epoch = int(metrics["epoch"])
        self.trial.report(float(metrics[self.monitor]), step=epoch)
        if self.trial.should_prune():
            self.pruned_epoch = epoch
            raise optuna().TrialPruned(f"pruned at epoch {epoch}")
        return None


def make_storage(spec: Any) -> Any:
    """An Optuna storage from ``spec``: ``None`` (in memory), a storage object (as is), an RDB
    URL (``"sqlite:///tune.db"``), or a journal file (``"journal:PATH"`` or a plain path):
    ``JournalStorage`` over a file, which processes on one machine or a shared file system
    use together (file locks), with no database."""
    if spec is None or not isinstance(spec, (str, Path)):
        return spec
    text = str(spec)
    if "://" in text:
        return text
    path = Path(text[len("journal:") :] if text.startswith("journal:") else text)
    path.parent.mkdir(parents=True, exist_ok=True)
    opt = optuna()
    try:
        from optuna.storages.journal import JournalFileBackend

        backend = JournalFileBackend(str(path))
    except ImportError:  # Optuna 3.x
        backend = opt.storages.JournalFileStorage(str(path))
    return opt.storages.JournalStorage(backend)


def make_sampler(search: Any, space: Any, seed: Optional[int]) -> Any:
    """``"tpe"`` (default), ``"random"``, ``"grid"`` (the space's grid), or a sampler."""
    if not isinstance(search, str):
        return search
    samplers = optuna().samplers
    name = search.lower()
    if name == "tpe":
        return samplers.TPESampler(seed=seed)
    if name == "random":
        return samplers.RandomSampler(seed=seed)
    if name == "grid":
        return samplers.GridSampler(space.optuna_grid(), seed=seed)
    raise InvalidValueError(
        f"search must be 'tpe', 'random', 'grid' or an Optuna sampler, got {search!r}"
    )


def make_pruner(pruner: Any, startup_trials: int = 2, warmup_epochs: int = 0) -> Any:
    """``"median"`` (default: ``MedianPruner``), ``"hyperband"``, ``None``/``"none"``, or a
    pruner object."""
    if pruner is not None and not isinstance(pruner, str):
        return pruner
    pruners = optuna().pruners
    name = "none" if pruner is None else pruner.lower()
    if name == "median":
        return pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=warmup_epochs)
    if name == "hyperband":
        return pruners.HyperbandPruner()
    if name == "none":
        return pruners.NopPruner()
    raise InvalidValueError(
        f"pruner must be 'median', 'hyperband', 'none' or an Optuna pruner, got {pruner!r}"
    )
