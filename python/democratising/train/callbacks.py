"""Trainer callbacks: the protocol, the seed's ``EarlyStopping``, ``ModelCheckpoint``, an LR
logger and a CSV/JSONL metrics logger.

Why a protocol with no-op defaults: the trainer calls only the hooks a callback overrides, so
an unused per-batch hook costs nothing per batch. ``state_dict``/``load_state_dict`` let a
callback's counters survive a resume (they are stored inside the trainer's checkpoint), and
``check_state_dict`` validates such state, which comes from a file, before a resume applies
anything. A callback's state is counters and values, never paths: where a callback writes is
decided by its constructor, not by a checkpoint.
"""

from __future__ import annotations

import csv
import difflib
import json
import math
import numbers
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from .. import _ranks
from .._core import Tensor
from .._state_match import match_prefix
from ..errors import ArgumentTypeError, DemocratisingError, FileIOError, InvalidValueError
from ._monitor import callback_mode

if TYPE_CHECKING:
    from .trainer import Trainer

__all__ = [
    "Callback",
    "EarlyStopping",
    "LRLogger",
    "MetricsLogger",
    "ModelCheckpoint",
    "MonitorError",
    "latest_checkpoint",
]

PathLike = Union[str, "os.PathLike[str]"]


class MonitorError(DemocratisingError, KeyError):
    """A callback monitors a metric the epoch did not report (a misspelt ``monitor=``). A
    ``KeyError``, as it is about a name; raised at the first epoch's end rather than letting
    the callback watch another metric in its place."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


def _missing_metric(who: str, monitor: str, metrics: Mapping[str, Any]) -> MonitorError:
    names = sorted(metrics)
    close = difflib.get_close_matches(monitor, names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return MonitorError(f"{who} monitors {monitor!r}, which is not among the metrics {names}{hint}")


class Callback:
    """Base class; override any hook. ``on_epoch_end`` returning ``True`` stops training after
    that epoch. Callbacks run in ascending ``order`` (checkpointing last, so it saves what the
    others updated)."""

    order: int = 0

    def on_train_begin(self, trainer: Trainer) -> None:
        """Before the first epoch of ``fit`` (after a resume has been restored)."""

    def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
        """Before epoch ``epoch`` (0-based) starts."""

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict[str, Any]) -> None:
        """After every batch; ``logs`` holds ``loss`` (float), ``size`` and ``step``."""

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, Any]) -> Optional[bool]:
        """After an epoch's metrics are recorded; return ``True`` to stop."""
        return None

    def on_train_end(self, trainer: Trainer) -> None:
        """After the last epoch (or an early stop)."""

    def state_dict(self) -> dict[str, Any]:
        """State to store in trainer checkpoints (tensors and JSON-like values)."""
        return {}

    def check_state_dict(self, state: Any, trainer: Trainer) -> dict[str, Any]:
        """Validates ``state`` read from a checkpoint (untrusted) without changing anything,
        and returns it as ``load_state_dict`` should receive it; raises ``ValueError`` or
        ``TypeError`` naming the problem. The default only requires a dict."""
        if not isinstance(state, Mapping):
            raise ArgumentTypeError(f"callback state must be a dict, got {type(state).__name__}")
        return dict(state)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores what ``state_dict`` returned."""


def _fresh_run(trainer: Any) -> bool:
    """Whether ``fit`` starts a new run (epoch 0, nothing resumed): then a callback's counters
    start again, as Keras' do, so one callback object passed to several runs (the trials of a
    search) does not carry one run's best into the next. A resumed or continued run keeps the
    state its checkpoint (or the previous ``fit``) left."""
    return getattr(trainer, "epoch", 0) == 0 and getattr(trainer, "resumed_from", None) is None


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def overrides(cb: Callback, hook: str) -> bool:
    """Whether ``cb`` (the instance, not just its class) implements ``hook``."""
    return getattr(getattr(cb, hook), "__func__", None) is not getattr(Callback, hook)


# ---- early stopping --------------------------------------------------------------------------


def _count(name: str, value: Any, what: str) -> int:
    """``value`` as an int; ``ArgumentTypeError`` for a float, bool or string (1.5 epochs)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be {what}, got {type(value).__name__}")
    return int(value)


def _number(name: str, value: Any) -> float:
    """``value`` as a float; ``ArgumentTypeError`` for a bool or string."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a number, got {type(value).__name__}")
    return float(value)


class EarlyStopping(Callback):
    """The seed's early stopping: ``step(model, loss)`` returns ``True`` once the loss has failed
    to beat the best by more than ``min_delta`` for ``patience`` steps in a row, and keeps a
    copy of the best model's ``state_dict`` for ``restore_best_model``.

    As a trainer callback it reads ``monitor`` every epoch (``val_loss``; without validation
    data a ``val_`` metric is read as the training metric of that name, ``loss``; a metric the
    epoch does not report raises ``MonitorError``), and with ``restore_best`` loads the best
    weights back when training ends. ``mode`` (``"min"`` or ``"max"``) defaults to ``"max"``
    for accuracy-like names (accuracy, F1, AUROC, precision, recall, R², IoU) and to ``"min"``
    for anything else.
    """

    def __init__(
        self,
        patience: int,
        min_delta: float = 0.0,
        restore_best: bool = True,
        monitor: str = "val_loss",
        mode: Optional[str] = None,
        verbose: bool = True,
    ) -> None:
        patience = _count("patience", patience, "an int (epochs)")
        if patience < 0:  # 0: stop at the first step that does not improve (Keras's default)
            raise InvalidValueError(f"patience must be >= 0, got {patience}")
        min_delta = _number("min_delta", min_delta)
        if not (min_delta >= 0 and math.isfinite(min_delta)):
            raise InvalidValueError(f"min_delta must be a finite number >= 0, got {min_delta}")
        mode = callback_mode(monitor, mode)
        self.patience, self.min_delta, self.restore_best = patience, min_delta, restore_best
        self.monitor, self.mode, self.verbose = monitor, mode, verbose
        self.counter = 0
        self.best_loss = math.inf
        self.best_model_state: Optional[dict[str, Any]] = None
        self.best_epoch: Optional[int] = None
        self.stopped_epoch: Optional[int] = None
        self._watched = monitor

    def reset(self) -> None:
        """Forgets the best value, the counter and the kept weights (a new run)."""
        self.counter = 0
        self.best_loss = math.inf
        self.best_model_state = None
        self.best_epoch = None
        self.stopped_epoch = None
        self._watched = self.monitor

    def on_train_begin(self, trainer: Trainer) -> None:
        if _fresh_run(trainer):
            self.reset()

    def step(self, model: Any, loss: float) -> bool:
        """Records one loss; ``True`` means stop. (In ``mode="max"`` the value is negated.)"""
        value = float(loss) if self.mode == "min" else -float(loss)
        if value < self.best_loss - self.min_delta:
            self.best_loss = value
            self.counter = 0
            # A deep copy: the live tensors keep changing as training goes on.
            self.best_model_state = {k: v.clone() for k, v in model.state_dict().items()}
            return False
        self.counter += 1
        return self.counter >= self.patience

    @property
    def best_score(self) -> float:
        """The best monitored value so far, as reported (``best_loss`` holds it negated in
        ``mode="max"``); inf (-inf in ``mode="max"``) before any step."""
        return self.best_loss if self.mode == "min" else -self.best_loss

    def restore_best_model(self, model: Any) -> None:
        """Loads the best ``state_dict`` seen so far into ``model`` (no-op before any step)."""
        if self.best_model_state is not None:
            model.load_state_dict(self.best_model_state)

    # ---- as a callback -----------------------------------------------------------------------

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, Any]) -> Optional[bool]:
        key = self.monitor
        if key not in metrics:
            # Without validation data, "val_loss" is watched as "loss" (the same for any
            # val_ metric); anything else is a misspelt name, which must not silently watch
            # the training loss instead (in mode="max" that keeps the worst weights).
            train_key = key[4:] if key.startswith("val_") else None
            has_val = any(k.startswith("val_") for k in metrics)
            if has_val or train_key not in metrics:
                raise _missing_metric("EarlyStopping", key, metrics)
            key = train_key
        self._watched = key
        stop = self.step(trainer.model, metrics[key])
        if self.counter == 0:  # just improved
            self.best_epoch = int(metrics["epoch"])
        if stop:
            self.stopped_epoch = int(metrics["epoch"])
            if self.verbose:
                trainer.log(
                    f"Early stopping at epoch {self.stopped_epoch}: {key} has not improved "
                    f"for {self.patience} epochs (best epoch {self.best_epoch})"
                )
        return stop

    def on_train_end(self, trainer: Trainer) -> None:
        if self.restore_best and self.best_model_state is not None:
            self.restore_best_model(trainer.model)
            if self.verbose:
                best = self.best_loss if self.mode == "min" else -self.best_loss
                at = f" of epoch {self.best_epoch}" if self.best_epoch is not None else ""
                watched = self._watched
                trainer.log(
                    f"EarlyStopping: restored the best weights{at} ({watched} = {best:.4g})"
                )

    def state_dict(self) -> dict[str, Any]:
        return {
            "counter": self.counter,
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "best_model_state": self.best_model_state,
        }

    def check_state_dict(self, state: Any, trainer: Trainer) -> dict[str, Any]:
        """Counters of the right types, and a best model that fits ``trainer.model`` (its keys
        adapted to a ``module.`` wrapper layout, as checkpoints are)."""
        state = super().check_state_dict(state, trainer)
        counter, best, epoch = state.get("counter"), state.get("best_loss"), state.get("best_epoch")
        if not _is_int(counter) or not 0 <= counter <= 2**31 - 1:
            raise InvalidValueError(f"EarlyStopping 'counter' must be an int >= 0, got {counter!r}")
        if not _is_num(best) or math.isnan(best):
            raise InvalidValueError(f"EarlyStopping 'best_loss' must be a number, got {best!r}")
        if epoch is not None and (not _is_int(epoch) or epoch < 0):
            raise InvalidValueError(
                f"EarlyStopping 'best_epoch' must be an int >= 0, got {epoch!r}"
            )
        saved = state.get("best_model_state")
        if saved is not None:
            if not isinstance(saved, Mapping):
                raise ArgumentTypeError(
                    "EarlyStopping 'best_model_state' must be a dict of tensors"
                )
            own = trainer.model.state_dict()
            saved = match_prefix(saved, own.keys())
            if set(saved) != set(own):
                raise InvalidValueError(
                    "EarlyStopping 'best_model_state' does not match the model: missing "
                    f"{sorted(set(own) - set(saved))[:5]}, unexpected "
                    f"{sorted(map(str, set(saved) - set(own)))[:5]}"
                )
            for k, t in saved.items():
                if not isinstance(t, Tensor) or tuple(t.shape) != tuple(own[k].shape):
                    raise InvalidValueError(
                        f"EarlyStopping 'best_model_state' {k!r} is not a tensor of shape "
                        f"{tuple(own[k].shape)}"
                    )
        return {
            "counter": counter,
            "best_loss": best,
            "best_epoch": epoch,
            "best_model_state": saved,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.counter = int(state["counter"])
        self.best_loss = float(state["best_loss"])
        self.best_epoch = state.get("best_epoch")
        self.best_model_state = state.get("best_model_state")


# ---- checkpointing ---------------------------------------------------------------------------

#: ``epoch_0003.safetensors`` after 3 epochs; ``epoch_0003_step_450.safetensors`` when a run
#: was interrupted (Ctrl-C) after 3 epochs and 450 optimizer steps in all.
_EPOCH_FILE = re.compile(r"^epoch_(\d+)(?:_step_(\d+))?\.safetensors$")


def _order_key(name: str) -> Optional[tuple[int, int]]:
    """``(epochs, step)`` of a checkpoint file name (step -1 for an epoch's end), or ``None``."""
    m = _EPOCH_FILE.match(name)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)) if m.group(2) is not None else -1


def _epoch_files(directory: Path) -> list[tuple[tuple[int, int], Path]]:
    if not directory.is_dir():
        return []
    found = []
    for p in directory.iterdir():
        key = _order_key(p.name)
        if key is not None:
            found.append((key, p))
    return sorted(found)


def latest_checkpoint(directory: PathLike) -> Optional[Path]:
    """The newest ``epoch_NNNN[_step_S].safetensors`` in ``directory``, or ``None``."""
    files = _epoch_files(Path(directory))
    return files[-1][1] if files else None


class ModelCheckpoint(Callback):
    """Saves a resumable trainer checkpoint (model, optimizer, scheduler, scaler, epoch, RNG,
    loader and callback state) to ``dir/epoch_NNNN.safetensors`` every ``every`` epochs,
    atomically via ``democratising.checkpoint``; keeps only the newest ``keep_last`` of them.
    With ``monitor`` (e.g. ``"val_loss"``) it also writes ``dir/best.safetensors`` whenever the
    metric improves (``mode`` ``"min"`` or ``"max"``; by default ``"max"`` for accuracy-like
    names, as ``EarlyStopping``). ``keep_best`` keeps the ``keep_best``
    epoch files with the best ``monitor`` values (``val_loss``, else ``loss``, when ``monitor``
    is unset) besides the newest ``keep_last`` (then 1 when not given). Only rank 0 writes.

    Pruning deletes only files this callback wrote (in this run, or in the run it resumed: the
    names are part of its state), never another run's checkpoints in the same directory.
    ``last_path`` is the newest file it wrote."""

    order = 100

    def __init__(
        self,
        dir: Optional[PathLike] = None,
        every: Optional[int] = 1,
        keep_last: Optional[int] = None,
        monitor: Optional[str] = None,
        mode: Optional[str] = None,
        keep_best: Optional[int] = None,
        *,
        dirpath: Optional[PathLike] = None,
        every_n_epochs: Optional[int] = None,
    ) -> None:
        # ``dirpath``/``every_n_epochs``: Lightning's names for ``dir``/``every``.
        if dirpath is not None:
            if dir is not None:
                raise ArgumentTypeError("ModelCheckpoint: give dir or dirpath, not both")
            dir = dirpath
        if dir is None:
            raise ArgumentTypeError("ModelCheckpoint needs the directory to write to: dir=")
        if not isinstance(dir, (str, os.PathLike)):
            raise ArgumentTypeError(
                f"ModelCheckpoint: dir must be a str or os.PathLike, got {type(dir).__name__}"
            )
        if every_n_epochs is not None:
            every = every_n_epochs
        for name, value in (("every", every), ("keep_last", keep_last), ("keep_best", keep_best)):
            if value is not None:
                _count(f"ModelCheckpoint: {name}", value, "an int or None")
        if every is not None and every < 1:
            raise InvalidValueError(f"every must be >= 1 or None, got {every}")
        if keep_last is not None and keep_last < 1:
            raise InvalidValueError(f"keep_last must be >= 1 or None, got {keep_last}")
        mode = callback_mode("val_loss" if monitor is None else monitor, mode)
        if keep_best is not None and keep_best < 1:
            raise InvalidValueError(f"keep_best must be >= 1 or None, got {keep_best}")
        if keep_best is not None and keep_last is None:
            keep_last = 1  # the newest file always stays, so that a resume continues
        self.keep_best = keep_best
        #: The monitored value of each epoch file this run wrote (for ``keep_best``).
        self.scores: dict[str, float] = {}
        self.dir, self.every, self.keep_last = Path(dir), every, keep_last
        self.monitor, self.mode = monitor, mode
        self.best: Optional[float] = None
        self.last_path: Optional[Path] = None
        self.best_path: Optional[Path] = None
        #: Names of the epoch files this run wrote, oldest first: the only ones pruned.
        self.written: list[str] = []

    def on_train_begin(self, trainer: Trainer) -> None:
        if _fresh_run(trainer):
            # A new run: its own best, and only its own files pruned (see ``_fresh_run``).
            self.best, self.last_path, self.best_path = None, None, None
            self.scores, self.written = {}, []
        # The folder is made before the first epoch: a path that cannot be one (a file in the
        # way, no permission) fails now, not after an epoch of training has been spent.
        if trainer.is_main:
            self._make_dir()

    def _make_dir(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            from ..checkpoint import CheckpointWriteError

            why = e.strerror or str(e)
            if isinstance(e, (FileExistsError, NotADirectoryError)):
                why += " (a file is in the way)"
            err = CheckpointWriteError(
                f"ModelCheckpoint cannot create its folder {os.fspath(self.dir)!r}: {why}"
            )
            err.errno = e.errno
            raise err from e

    def _improved(self, value: float) -> bool:
        if self.best is None or math.isnan(self.best):
            return not math.isnan(value)
        return value < self.best if self.mode == "min" else value > self.best

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, Any]) -> Optional[bool]:
        epoch = int(metrics["epoch"])
        best = False
        if self.monitor is not None:
            if self.monitor not in metrics:
                raise _missing_metric("ModelCheckpoint", self.monitor, metrics)
            value = float(metrics[self.monitor])
            if self._improved(value):
                self.best, best = value, True
        periodic = self.every is not None and epoch % self.every == 0
        # Under ZeRO every rank writes its shard of each checkpoint (a directory).
        zero = int(getattr(trainer.model, "zero_stage", 0) or 0) > 0
        if not (trainer.is_main or zero) or not (periodic or best):
            return None
        self._make_dir()
        also = []
        if best:
            self.best_path = self.dir / "best.safetensors"
            also.append(self.best_path)
        if periodic:
            name = f"epoch_{epoch:04d}.safetensors"
            if self.keep_best is not None:
                key = self.monitor or ("val_loss" if "val_loss" in metrics else "loss")
                if key in metrics and not math.isnan(float(metrics[key])):
                    self.scores[name] = float(metrics[key])
            self.save(trainer, name, also=also)
        elif also:
            write = getattr(trainer, "_write_checkpoint", None)
            if write is None:
                trainer.save_checkpoint(also[0])
            else:
                write([also[0]])
        return None

    def save(self, trainer: Trainer, name: str, also: Sequence[Path] = ()) -> Path:
        """Writes ``dir/name`` (a checkpoint of this run; the same bytes to each of ``also``)
        and records it as this run's own; older ones are pruned once it is on disk. With
        ``async_checkpoint`` the file is written in the background."""
        self._make_dir()
        if name in self.written:
            self.written.remove(name)
        self.written.append(name)  # before saving: the file's own state lists it
        self.last_path = self.dir / name
        write = getattr(trainer, "_write_checkpoint", None)
        if write is None:  # a trainer-like object of the user's
            trainer.save_checkpoint(self.last_path)
            for extra in also:
                trainer.save_checkpoint(extra)
            self._prune()
        else:
            write([self.last_path, *also], after=lambda paths: self._prune())
        return self.last_path

    def _prune(self) -> None:
        """Keeps the newest ``keep_last`` of this run's own files (an interrupted run's
        mid-epoch file counts as one); other files in the directory are left alone."""
        if self.keep_last is None:
            return
        own = sorted(self.written, key=lambda n: _order_key(n) or (-1, -1))
        keep = set(own[max(0, len(own) - self.keep_last) :])
        if self.keep_best is not None:
            scored = [n for n in own if n in self.scores]
            ranked = sorted(scored, key=lambda n: self.scores[n], reverse=self.mode == "max")
            keep.update(ranked[: self.keep_best])
        for name in [n for n in own if n not in keep]:
            self.scores.pop(name, None)
            path = self.dir / name
            try:
                if path.is_dir():  # a sharded (ZeRO) checkpoint: rank 0 removes it
                    if _ranks.rank() == 0:
                        shutil.rmtree(path)
                else:
                    path.unlink()
            except FileNotFoundError:
                pass
            self.written.remove(name)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "written": list(self.written), "scores": dict(self.scores)}

    def check_state_dict(self, state: Any, trainer: Trainer) -> dict[str, Any]:
        """Only the best monitored value: the directory and retention come from the
        constructor, never from a checkpoint."""
        state = super().check_state_dict(state, trainer)
        best = state.get("best")
        if best is not None and not _is_num(best):
            raise InvalidValueError(
                f"ModelCheckpoint 'best' must be a number or None, got {best!r}"
            )
        written = state.get("written", [])
        if not isinstance(written, list) or len(written) > 100_000:
            raise InvalidValueError("ModelCheckpoint 'written' must be a list of file names")
        for name in written:
            # Bare checkpoint names only: a file never makes pruning reach another folder.
            if not isinstance(name, str) or _order_key(name) is None:
                raise InvalidValueError(
                    f"ModelCheckpoint 'written' holds {name!r}, not an epoch_NNNN file name"
                )
        scores = state.get("scores", {})
        if not isinstance(scores, Mapping) or not all(
            isinstance(k, str) and k in written and _is_num(v) for k, v in scores.items()
        ):
            raise InvalidValueError(
                "ModelCheckpoint 'scores' must map written file names to numbers"
            )
        out: dict[str, Any] = {"best": best, "written": list(written)}
        if scores:
            out["scores"] = dict(scores)
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state.get("best")
        self.written = list(state.get("written", []))
        self.scores = {k: float(v) for k, v in state.get("scores", {}).items()}


# ---- loggers ---------------------------------------------------------------------------------


class LRLogger(Callback):
    """Records the learning rate of every parameter group each epoch (or, with
    ``every="batch"``, after every batch) in ``self.lrs`` as ``(step, [lr, ...])``; with
    ``verbose`` it also logs them."""

    def __init__(self, every: str = "epoch", verbose: bool = False) -> None:
        if every not in ("epoch", "batch"):
            raise InvalidValueError(f"every must be 'epoch' or 'batch', got {every!r}")
        self.every, self.verbose = every, verbose
        self.lrs: list[tuple[int, list[float]]] = []
        if every == "batch":  # only then a per-batch hook, so epoch logging costs nothing
            self.on_batch_end = self._on_batch  # type: ignore[method-assign]

    def _record(self, trainer: Trainer, step: int) -> None:
        lrs = [float(g["lr"]) for g in trainer.optimizer.param_groups]
        self.lrs.append((step, lrs))
        if self.verbose:
            trainer.log(f"lr at {self.every} {step}: " + ", ".join(f"{lr:.3e}" for lr in lrs))

    def _on_batch(self, trainer: Trainer, batch: int, logs: dict[str, Any]) -> None:
        self._record(trainer, int(logs["step"]))

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, Any]) -> Optional[bool]:
        if self.every == "epoch":
            self._record(trainer, int(metrics["epoch"]))
        return None


class MetricsLogger(Callback):
    """Appends each epoch's metrics to a ``.csv`` or ``.jsonl`` file (format from the suffix or
    ``format=``), flushing every line so a crashed run keeps its history. Rank 0 only."""

    def __init__(self, path: PathLike, format: Optional[str] = None) -> None:
        self.path = Path(path)
        fmt = format or self.path.suffix.lstrip(".").lower()
        if fmt not in ("csv", "jsonl"):
            raise InvalidValueError(f"MetricsLogger writes .csv or .jsonl files, got {fmt!r}")
        self.format = fmt
        self._fields: Optional[list[str]] = None

    def on_train_begin(self, trainer: Trainer) -> None:
        # Opened once before the first epoch, so that a path that cannot be written (a folder
        # of that name, no permission) fails before an epoch of training is spent.
        if trainer.is_main:
            self._open("a").close()

    def _open(self, mode: str, **kwargs: Any) -> Any:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self.path.open(mode, **kwargs)
        except OSError as e:
            err = FileIOError(
                f"MetricsLogger cannot write {os.fspath(self.path)!r}: {e.strerror or e}"
            )
            err.errno = e.errno
            raise err from e

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, Any]) -> Optional[bool]:
        if not trainer.is_main:
            return None
        row = {k: v for k, v in metrics.items() if v is None or isinstance(v, (int, float, str))}
        if self.format == "jsonl":
            with self._open("a") as f:
                f.write(json.dumps(row) + "\n")
            return None
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if self._fields is None:
            if fresh:
                self._fields = list(row)
            else:
                with self.path.open(newline="") as f:
                    self._fields = next(csv.reader(f), list(row))
        with self._open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self._fields, extrasaction="ignore")
            if fresh:
                w.writeheader()
            w.writerow(row)
        return None
