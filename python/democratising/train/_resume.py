"""Resuming a ``Trainer`` from a checkpoint: validate everything, then apply, or roll back.

Why a plan: a checkpoint is untrusted input. ``check_resume`` reads the file and checks every
piece of trainer metadata (epoch, step, history, loader and callback state) against the live
trainer before anything changes; ``Checkpoint.restore`` checks the model, optimizer, scheduler
and scaler parts the same way. Only then is the plan applied, and should an unchecked part (a
user callback's own ``load_state_dict``) still fail, the ``Snapshot`` taken beforehand puts the
trainer back. The file never chooses run settings: its saved config is only compared, so the
trainer can say that the run it continues used other settings.
"""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from .. import _core
from ..checkpoint import Checkpoint
from ..data import DataLoader
from ..errors import CheckpointError
from ._validate import MAX_COUNT

if TYPE_CHECKING:
    from .callbacks import Callback
    from .config import TrainingConfig
    from .trainer import Trainer

__all__ = ["ResumePlan", "Snapshot", "check_resume", "config_differences"]

PathLike = Union[str, "os.PathLike[str]"]

#: Most optimizer steps a checkpoint may record.
MAX_STEPS = 2**62
#: Settings that change what training computes; differences are worth a note on resume.
_NOTED = (
    "learning_rate",
    "batch_size",
    "optimizer",
    "scheduler",
    "accumulation_steps",
    "max_grad_norm",
    "amp",
    "seed",
    "shuffle",
    "drop_last",
    "val_fraction",
)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass
class ResumePlan:
    """A checkpoint whose every part has been validated against a trainer."""

    checkpoint: Checkpoint
    epoch: int
    global_step: int
    history: dict[str, list[Any]]
    loader: Optional[dict[str, Any]]
    callbacks: list[tuple[Callback, dict[str, Any]]] = field(default_factory=list)
    config: Optional[dict[str, Any]] = None
    #: A mid-epoch (Ctrl-C) checkpoint's place: batches done, running sums, elapsed time.
    partial: Optional[dict[str, Any]] = None

    def apply(self, trainer: Trainer) -> None:
        """The trainer-side state (``Checkpoint.restore`` does model, optimizer, ...)."""
        trainer.epoch = self.epoch
        trainer.global_step = self.global_step
        trainer.history = {k: list(v) for k, v in self.history.items()}
        if self.loader is not None and hasattr(trainer.train_loader, "load_state_dict"):
            trainer.train_loader.load_state_dict(self.loader)
        for cb, state in self.callbacks:
            cb.load_state_dict(state)


def check_resume(trainer: Trainer, path: PathLike, allow_unverified: bool = False) -> ResumePlan:
    """Reads ``path`` and validates its trainer metadata; ``CheckpointError`` naming the key."""
    # (a sharded ZeRO directory is consolidated by ``Checkpoint.load``, at any rank count)
    ckpt = Checkpoint.load(path, allow_unverified=allow_unverified)
    where = os.fspath(path)

    def bad(key: str, problem: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {where!r}: metadata {key!r} {problem}")

    epoch = 0 if ckpt.epoch is None else ckpt.epoch
    if not _is_int(epoch) or not 0 <= epoch <= MAX_COUNT:
        raise bad("epoch", f"must be an int in [0, {MAX_COUNT}], got {epoch!r}")
    state = ckpt.extra.get("trainer")
    if state is None:  # a plain save_checkpoint file: model and optimizer only
        state = {}
    if not isinstance(state, Mapping):
        raise bad("trainer", f"must be a dict, got {type(state).__name__}")
    step = state.get("global_step", 0)
    if not _is_int(step) or not 0 <= step <= MAX_STEPS:
        raise bad("trainer.global_step", f"must be an int in [0, 2**62], got {step!r}")
    history = _check_history(state.get("history"), bad)
    loader = state.get("loader")
    if loader is not None:
        try:
            DataLoader.check_state_dict(loader)
        except ValueError as e:
            if isinstance(trainer.train_loader, DataLoader) or not isinstance(loader, Mapping):
                raise bad("trainer.loader", f"is invalid: {e}") from e
        loader = dict(loader)
    saved_cbs = state.get("callbacks")
    if saved_cbs is None:
        saved_cbs = {}
    if not isinstance(saved_cbs, Mapping):
        raise bad("trainer.callbacks", f"must be a dict, got {type(saved_cbs).__name__}")
    callbacks = []
    for i, cb in enumerate(trainer.callbacks):
        key = trainer._cb_key(i, cb)
        if key not in saved_cbs:
            continue
        try:
            callbacks.append((cb, cb.check_state_dict(saved_cbs[key], trainer)))
        except (ValueError, TypeError, KeyError) as e:
            raise bad(f"trainer.callbacks.{key}", f"is invalid: {e}") from e
    config = state.get("config")
    if config is not None and not isinstance(config, Mapping):
        raise bad("trainer.config", f"must be a dict, got {type(config).__name__}")
    partial = _check_partial(state.get("partial"), bad)
    return ResumePlan(
        ckpt,
        epoch,
        step,
        history,
        loader,
        callbacks,
        None if config is None else dict(config),
        partial,
    )


def _check_partial(partial: Any, bad: Any) -> Optional[dict[str, Any]]:
    """``{"batch": n >= 1, "sums": [4 numbers], "classes": bool, "elapsed": s}`` or ``None``."""
    if partial is None:
        return None
    if not isinstance(partial, Mapping):
        raise bad("trainer.partial", f"must be a dict, got {type(partial).__name__}")
    batch, sums = partial.get("batch"), partial.get("sums")
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= MAX_COUNT:
        raise bad("trainer.partial.batch", f"must be an int in [1, {MAX_COUNT}], got {batch!r}")
    if (
        not isinstance(sums, (list, tuple))
        or len(sums) != 4
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in sums)
    ):
        raise bad("trainer.partial.sums", "must be a list of 4 numbers")
    classes, elapsed = partial.get("classes"), partial.get("elapsed", 0.0)
    if not isinstance(classes, bool):
        raise bad("trainer.partial.classes", f"must be a bool, got {classes!r}")
    if not isinstance(elapsed, (int, float)) or isinstance(elapsed, bool) or not elapsed >= 0:
        raise bad("trainer.partial.elapsed", f"must be a number >= 0, got {elapsed!r}")
    total, count, seen, correct = (float(v) for v in sums)
    return {
        "batch": batch,
        "sums": [total, int(count), int(seen), int(correct)],
        "classes": classes,
        "elapsed": float(elapsed),
    }


def _check_history(history: Any, bad: Any) -> dict[str, list[Any]]:
    """``{metric: [value per epoch]}`` with plain values (numbers, strings, None)."""
    if history is None:
        return {}
    if not isinstance(history, Mapping):
        raise bad("trainer.history", f"must be a dict, got {type(history).__name__}")
    out = {}
    for k, values in history.items():
        if not isinstance(k, str):
            raise bad("trainer.history", f"has a non-string key {k!r}")
        if not isinstance(values, (list, tuple)):
            raise bad(f"trainer.history.{k}", f"must be a list, got {type(values).__name__}")
        if not all(v is None or isinstance(v, (bool, int, float, str)) for v in values):
            raise bad(f"trainer.history.{k}", "must hold only numbers, strings or None")
        out[k] = list(values)
    return out


def config_differences(saved: Optional[Mapping[str, Any]], current: TrainingConfig) -> list[str]:
    """Names of the settings that change training and differ between the checkpoint's run
    and this one (names from a fixed list: nothing from the file is echoed)."""
    if not saved:
        return []
    now = current.to_dict()
    return [k for k in _NOTED if k in saved and saved[k] != now[k]]


@dataclass
class Snapshot:
    """What a resume may change, to put back if applying a validated plan still fails."""

    model: dict[str, Any]
    optimizer: Any
    scheduler: Any
    scaler: Any
    rng: list[int]
    loader: Any
    callbacks: list[tuple[Callback, Any]]
    counters: tuple[int, int, dict[str, list[Any]]]

    @classmethod
    def take(cls, trainer: Trainer) -> Snapshot:
        def state(obj: Any) -> Any:
            return copy.deepcopy(obj.state_dict()) if obj is not None else None

        loader = trainer.train_loader
        return cls(
            model={k: v.clone() for k, v in trainer.model.state_dict().items()},
            optimizer=trainer.optimizer.state_dict(),
            scheduler=state(trainer.scheduler),
            scaler=state(trainer.scaler),
            rng=list(_core.get_rng_state()),
            loader=state(loader) if hasattr(loader, "state_dict") else None,
            callbacks=[(cb, dict(cb.state_dict())) for cb in trainer.callbacks],
            counters=(
                trainer.epoch,
                trainer.global_step,
                {k: list(v) for k, v in trainer.history.items()},
            ),
        )

    def restore(self, trainer: Trainer) -> None:
        """Best effort: each part on its own, so one failure does not keep the rest back."""
        steps: list[Callable[[], Any]] = [
            lambda: trainer.model.load_state_dict(self.model, strict=False),
            lambda: trainer.optimizer.load_state_dict(self.optimizer),
            lambda: _core.set_rng_state(self.rng),
        ]
        if self.scheduler is not None:
            steps.append(lambda: trainer.scheduler.load_state_dict(self.scheduler))
        if self.scaler is not None:
            steps.append(lambda: trainer.scaler.load_state_dict(self.scaler))
        if self.loader is not None:
            steps.append(lambda: trainer.train_loader.load_state_dict(self.loader))
        for cb, st in self.callbacks:
            steps.append(functools.partial(cb.load_state_dict, st))
        for fn in steps:
            try:
                fn()
            except Exception:  # the original failure is what to report
                pass
        trainer.epoch, trainer.global_step, trainer.history = self.counters
        trainer._resume_partial = None
