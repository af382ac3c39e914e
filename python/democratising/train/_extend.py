"""Resuming with more epochs than the checkpoint's run had: what happens to its schedule.

Why this exists: a OneCycle, cosine, linear or polynomial schedule built for the old run has
that run's length. Run further as is, OneCycle raises ``Tried to step 691 times``, and cosine
silently climbs back up to the base rate. So a resume that would run such a schedule past its
end asks the user to choose (``TrainingConfig.extend_schedule``, ``--extend`` on the command
line) and says in one line what it did:

- ``"stretch"``: the schedule as if the run had been this long from the start, at the step
  reached (the learning rate moves to where the longer schedule is at this point);
- ``"hold"``: the schedule ends where it ended; its final rate is kept for the added epochs;
- ``"restart"``: a new schedule of the same kind over the added epochs.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import TYPE_CHECKING, Any, Optional

from .config import ConfigError

if TYPE_CHECKING:
    from .trainer import Trainer

__all__ = ["LENGTH_ATTR", "check_extension", "refresh_function_of_step"]

#: The schedulers with a length, and the attribute that holds it (in scheduler steps).
LENGTH_ATTR = {
    "OneCycleLR": "total_steps",
    "CosineAnnealingLR": "T_max",
    "LinearLR": "total_iters",
    "PolynomialLR": "total_iters",
}
#: The config field that makes a schedule as long as the run when ``None``.
_RUN_LENGTH_FIELD = {
    "CosineAnnealingLR": "T_max",
    "LinearLR": "total_iters",
    "PolynomialLR": "total_iters",
}


def _lr(trainer: Trainer) -> float:
    return float(trainer.optimizer.param_groups[0]["lr"])


def _rebuild(trainer: Trainer, epochs: int, steps_per_epoch: int) -> Any:
    """A fresh scheduler of the config's kind whose length is ``epochs`` of this run."""
    cfg = trainer.config
    sched_cfg = cfg.scheduler
    if sched_cfg is None:
        raise ConfigError(
            "extend_schedule = 'stretch' or 'restart' rebuilds the schedule from "
            "TrainingConfig.scheduler, but this trainer was given its scheduler object; "
            "use extend_schedule = 'hold', or pass a scheduler built for the new length"
        )
    name = type(trainer.scheduler).__name__
    length_field = _RUN_LENGTH_FIELD.get(name)
    if length_field is not None and hasattr(sched_cfg, length_field):
        sched_cfg = dataclasses.replace(sched_cfg, **{length_field: None})  # type: ignore[type-var]
    # The chainable rules start from the current rate: begin from the base rate again.
    for group in trainer.optimizer.param_groups:
        if "initial_lr" in group:
            group["lr"] = group["initial_lr"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sched_cfg.build(trainer.optimizer, epochs, steps_per_epoch, cfg.learning_rate)


def refresh_function_of_step(trainer: Trainer) -> None:
    """After a resume: a scheduler whose rate is a function of the step alone (``LambdaLR``)
    sets the rate from this run's function at the step reached, so that a warm-up + cosine
    written as a function of ``--steps`` stretches from the first resumed step on, not one
    step late (the checkpoint's optimizer state holds the old run's last rate). With the same
    function the rate is the saved one, bit for bit."""
    sched = trainer.scheduler
    if getattr(sched, "rate_is_function_of_step", False) and sched.last_epoch >= 0:
        sched._set_lrs(sched._next_lrs())


def check_extension(
    trainer: Trainer, steps_per_epoch: int, saved_epochs: Optional[int]
) -> Optional[str]:
    """After a resume: if the remaining epochs would run a length-bound schedule past its end,
    applies ``config.extend_schedule`` and returns the line to log, or raises ``ConfigError``
    naming the choices when none was made. ``saved_epochs`` is the checkpoint's run length
    (``None`` if unknown): a schedule that run already meant to outlive (a warm-up
    ``LinearLR``) is left alone."""
    sched, cfg = trainer.scheduler, trainer.config
    name = type(sched).__name__
    attr = LENGTH_ATTR.get(name)
    if sched is None or attr is None or trainer.epoch >= cfg.num_epochs:
        return None
    end = int(getattr(sched, attr))
    per_epoch = steps_per_epoch if trainer._scheduler_interval == "batch" else 1
    unit = "step" if trainer._scheduler_interval == "batch" else "epoch"
    done = int(sched.last_epoch)
    partial = trainer._resume_partial
    if partial is not None and trainer._scheduler_interval == "batch":
        # A mid-epoch checkpoint: its epoch's first optimizer steps are already taken.
        done_in_epoch = -(-int(partial["batch"]) // cfg.accumulation_steps)
    else:
        done_in_epoch = 0
    final = done + (cfg.num_epochs - trainer.epoch) * per_epoch - done_in_epoch
    if final <= end:
        return None
    if saved_epochs is not None and name != "OneCycleLR":
        old_final = done + (saved_epochs - trainer.epoch) * per_epoch - done_in_epoch
        if old_final > end:  # the old run ran past the end too: its design, not a resume's
            return None
    mode = cfg.extend_schedule
    added = cfg.num_epochs - trainer.epoch
    if mode is None:
        raise ConfigError(
            f"resuming at epoch {trainer.epoch} with num_epochs = {cfg.num_epochs} would run "
            f"the {name} schedule ({end} {unit}s, fitted to the checkpoint's run) past its "
            f"end; choose extend_schedule = 'stretch' (re-spread it over all "
            f"{cfg.num_epochs} epochs), 'hold' (keep its final learning rate for the "
            f"{added} added epochs) or 'restart' (a new {name} over the {added} added epochs)"
        )
    before = _lr(trainer)
    if mode == "hold":
        trainer._scheduler_end = end
        return (
            f"Schedule: {name} ended after {end} {unit}s; holding its final learning rate "
            f"for the {added} added epochs (extend_schedule = 'hold')"
        )
    if mode == "stretch":
        new = _rebuild(trainer, cfg.num_epochs, steps_per_epoch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(done):  # fast-forward to the step reached
                new.step()
        trainer.scheduler = new
        return (
            f"Schedule: {name} stretched from {end} to {getattr(new, attr)} {unit}s "
            f"({cfg.num_epochs} epochs, extend_schedule = 'stretch'); learning rate "
            f"{before:.3g} -> {_lr(trainer):.3g} at {unit} {done}"
        )
    new = _rebuild(trainer, added, steps_per_epoch)
    trainer.scheduler = new
    return (
        f"Schedule: a new {name} over the {added} added epochs ({getattr(new, attr)} "
        f"{unit}s, extend_schedule = 'restart'); learning rate {before:.3g} -> "
        f"{_lr(trainer):.3g}"
    )
