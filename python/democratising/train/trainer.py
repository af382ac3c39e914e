"""``Trainer``: the seed's training loop with its "Training Features" switched on by config.

It runs forward/backward/step like the seed's basic loop and adds, each only when configured,
gradient accumulation (the loss divided by ``accumulation_steps``, as in the seed), gradient
clipping, mixed precision (``democratising.amp``), LR schedulers stepped per epoch or per batch,
callbacks, a progress bar, and checkpoints that resume bit-identically. The hot loop does
nothing else per batch, which keeps it within a few percent of a hand-written loop.

A checkpoint is untrusted input and restores state only (model, optimizer, scheduler, scaler,
RNG, loader position, history, epoch, callback counters): run settings, paths above all, come
from the ``TrainingConfig`` the trainer was built with. ``load_checkpoint`` validates every
part of a file before applying any, so a bad file raises ``CheckpointError`` and changes
nothing (``_resume``).
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Callable, NoReturn, Optional, Union

import numpy as np

from .. import _core, _ranks, _threads
from .._core import Tensor
from .._grad_mode import no_grad
from .._nested import map_tensors
from .._safetensors import CheckpointFileNotFoundError
from .._tensor import tensor
from ..checkpoint import Checkpoint, save_checkpoint
from ..data import DataLoader, Dataset, DistributedSampler, TensorDataset, random_split
from ..errors import ArgumentTypeError, CheckpointError, InvalidValueError
from . import _hooks, _progress, _rundir, _writer
from . import memory as _memory
from ._extend import check_extension, refresh_function_of_step
from ._grad_sync import GradientSync
from ._monitor import check_metrics, infer_mode
from ._resume import ResumePlan, Snapshot, check_resume, config_differences
from .callbacks import (
    Callback,
    MetricsLogger,
    ModelCheckpoint,
    _is_num,
    latest_checkpoint,
    overrides,
)
from .config import ConfigError, TrainingConfig

__all__ = ["Trainer", "train_with_config"]

PathLike = Union[str, "os.PathLike[str]"]
DataLike = Union[DataLoader, Dataset, Iterable[Any]]


def _load_amp(dtype_name: str) -> tuple[Callable[[], Any], Any]:
    """``(autocast factory, GradScaler or None)`` from ``democratising.amp``, imported lazily
    because that module is optional; a clear error if AMP is asked for but missing."""
    try:
        amp = importlib.import_module("democratising.amp")
        autocast, grad_scaler = amp.autocast, amp.GradScaler
    except (ImportError, AttributeError) as e:
        raise ConfigError(
            f"amp={dtype_name!r} needs democratising.amp (autocast and GradScaler), which is "
            "not available in this installation; set amp = None to train in float32"
        ) from e
    dtype = getattr(_core, dtype_name)
    # float16 needs loss scaling against underflow; bfloat16 has float32's range and does not.
    scaler = grad_scaler() if dtype_name == "float16" else None
    return (lambda: autocast(dtype=dtype)), scaler


def _name_checkpoint(err: CheckpointError, path: PathLike) -> None:
    """Puts the file into a resume error that does not name it: ``ckpt_path="last"`` and a
    folder pick the file themselves, and "size mismatch for 0.weight" alone does not say that
    the newest run was another model's."""
    name = os.fspath(path)
    if err.args and isinstance(err.args[0], str) and name not in err.args[0]:
        err.args = (f"cannot resume from {name}: {err.args[0]}", *err.args[1:])


def _settings_hint(err: CheckpointError, path: PathLike, differ: list[str]) -> None:
    """Says why a checkpoint does not fit when its run used other settings: the settings come
    from the current config, never the file, so resuming an SGD run with the default config
    reads "checkpoint holds SGD state, cannot load it into Adam" and needs the run's config."""
    # Only the settings that decide what state the file must hold (not, say, the model's
    # shape, which no setting explains) make the hint worth giving.
    if not {"optimizer", "scheduler", "amp"} & set(differ):
        return
    if not err.args or not isinstance(err.args[0], str):
        return
    hint = (
        f"; the checkpoint's run used other settings for {', '.join(differ)}: resume it with them"
    )
    saved = Path(path).parent.parent / "config.toml"  # a run folder's version_N/checkpoints/
    if Path(path).parent.name == _rundir.CHECKPOINTS and saved.is_file():
        hint += f" (they are in {saved})"
    err.args = (err.args[0] + hint, *err.args[1:])


def _split_batch(batch: Any) -> tuple[tuple[Any, ...], Any]:
    """``(x, y)`` or ``(x1, ..., xn, y)``: every element but the last goes to the model."""
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return tuple(batch[:-1]), batch[-1]
    hint = ""
    if isinstance(batch, (tuple, list)) and len(batch) == 1:
        # fit(x) or a TensorDataset(x): inputs without a target.
        hint = (
            "; each batch holds one item (inputs without a target): pass (x, y) tensors, "
            "or a Dataset/DataLoader that yields (inputs, target)"
        )
    elif isinstance(batch, (Tensor, np.ndarray)):
        # fit([x, y]) or fit(x) iterates the list/tensor itself: each "batch" is one tensor.
        hint = (
            "; the data given to fit() yields single tensors: pass a Dataset, a DataLoader "
            "or an (x, y) tuple of tensors"
        )
    raise ArgumentTypeError(
        "a batch must be a tuple (inputs..., target); subclass Trainer and override "
        f"compute_loss for other layouts (got {type(batch).__name__}){hint}"
    )


def _is_class_target(out: Any, target: Any) -> bool:
    return (
        isinstance(out, Tensor)
        and isinstance(target, Tensor)
        and out.ndim == 2
        and target.ndim == 1
        and not target.dtype.is_floating_point
        and target.dtype != _core.bool
    )


class _LastFlag:
    """Iterates ``batches`` one ahead, so that ``last`` is already ``True`` while the final
    batch is processed. Gradient accumulation over a loader without ``len()`` needs it: the
    last group may be shorter than ``accumulation_steps``, and it must average over the
    batches it has (as with ``len()``) and end with a synchronising backward under DDP."""

    def __init__(self, batches: Iterable[Any]) -> None:
        self._batches = batches
        self.last = False

    def __iter__(self) -> Any:
        it = iter(self._batches)
        try:
            nxt = next(it)
        except StopIteration:
            return
        while True:
            cur = nxt
            try:
                nxt = next(it)
            except StopIteration:
                self.last = True
                yield cur
                return
            yield cur


#: Under MPI, the ranks agree on a Ctrl-C every this many optimizer steps (and at epoch ends).
_SIGINT_SYNC_STEPS = 16


class _InterruptedError(Exception):
    """Raised inside the loop once a Ctrl-C was asked for and the current step is done."""


class _SigintGuard:
    """While ``fit`` runs (in the main thread): the first SIGINT only sets ``requested`` and
    says so, so that the loop can finish its step and save; a second raises
    ``KeyboardInterrupt`` at once (checkpoints are written to a temp file and renamed, so
    this never leaves a torn file)."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.requested = False
        self._say = say
        self._old: Any = None
        self._installed = False

    def __enter__(self) -> _SigintGuard:
        if threading.current_thread() is threading.main_thread():
            try:
                self._old = signal.signal(signal.SIGINT, self._handle)
                self._installed = True
            except ValueError:  # not the main interpreter
                pass
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            self.restore()
            raise KeyboardInterrupt
        self.requested = True
        self._say(
            "Interrupted: finishing the current step, then saving a checkpoint "
            "(press Ctrl-C again to stop at once)"
        )

    def restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._old)
            self._installed = False

    def __exit__(self, *exc: Any) -> None:
        self.restore()


def _numpy_parts(output: Any) -> list[np.ndarray]:
    """A prediction (a tensor, or a tuple/list of them) as NumPy arrays, to send to rank 0."""
    items = output if isinstance(output, (tuple, list)) else [output]
    parts = []
    for t in items:
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(
                "predict under several ranks gathers tensors (or tuples of tensors); a "
                f"prediction was {type(t).__name__}"
            )
        t = t.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if t.dtype in (_core.bfloat16, _core.float16):
            t = t.float()
        parts.append(np.array(t.numpy(), copy=True))
    return parts


def _concat_outputs(out: list[Any]) -> Any:
    """Per-batch outputs joined along dimension 0 (tuples/lists joined element by element)."""
    if not out:
        return []
    if isinstance(out[0], (tuple, list)):
        return tuple(_core.cat([o[k] for o in out], 0) for k in range(len(out[0])))
    return _core.cat(out, 0)


def _unpadded_count(loader: Any) -> Optional[int]:
    """How many of this rank's samples are the dataset's own when ``loader`` is sharded by a
    padding ``DistributedSampler`` (rank ``r`` holds positions ``r, r + n, ...`` of the padded
    order, the padding last); ``None`` when nothing is padded."""
    sampler = getattr(loader, "sampler", None)
    if not isinstance(sampler, DistributedSampler) or sampler.drop_last:
        return None
    total = len(sampler.dataset)
    if sampler.total_size <= total:
        return None
    replicas, rank = sampler.num_replicas, sampler.rank
    return max(0, min(sampler.num_samples, -(-(total - rank) // replicas)))


def _batch_size_of(batch: Any) -> int:
    """The first dimension of the first tensor in ``batch`` (1 if there is none)."""
    if isinstance(batch, Tensor):
        return int(batch.shape[0]) if batch.ndim else 1
    if isinstance(batch, (tuple, list)):
        for b in batch:
            n = _batch_size_of(b)
            if n:
                return n
    if isinstance(batch, dict):
        for b in batch.values():
            return _batch_size_of(b)
    return 1


def _as_config(config: Any) -> Optional[TrainingConfig]:
    """A ``TrainingConfig``, or what describes one: a dict of its fields or a TOML/JSON path."""
    if config is None or isinstance(config, TrainingConfig):
        return config
    if isinstance(config, Mapping):
        return TrainingConfig.from_dict(config)
    if isinstance(config, (str, os.PathLike)):
        return TrainingConfig.from_file(config)
    raise ArgumentTypeError(
        "config must be a TrainingConfig (or a dict of its fields, or a .toml/.json path), "
        f"got {type(config).__name__}"
    )


def _as_callbacks(callbacks: Any) -> list[Callback]:
    """The callbacks as a list; one callback alone is accepted, as Lightning does."""
    if isinstance(callbacks, Callback):
        return [callbacks]
    if callbacks is None:
        return []
    if not isinstance(callbacks, Iterable) or isinstance(callbacks, (str, bytes)):
        raise ArgumentTypeError(
            f"callbacks must be a list of callbacks, got {type(callbacks).__name__}"
        )
    out = list(callbacks)
    for cb in out:
        if isinstance(cb, type):
            raise ArgumentTypeError(
                f"callbacks holds the class {cb.__name__}, not an instance: "
                f"write {cb.__name__}(...)"
            )
        if not isinstance(cb, Callback):
            # The trainer calls every hook and sorts by ``order``: say so now, not with an
            # AttributeError from inside fit().
            hooks = ("on_train_begin", "on_epoch_begin", "on_batch_end", "on_epoch_end")
            complete = all(callable(getattr(cb, h, None)) for h in (*hooks, "on_train_end"))
            if not complete or not hasattr(cb, "order"):
                raise ArgumentTypeError(
                    f"callbacks holds {cb!r} ({type(cb).__name__}), which is not a Callback: "
                    "subclass democratising.train.Callback and override the hooks you need"
                )
    return out


def _one_of(name: str, value: Any, alias: str, alias_value: Any) -> Any:
    """``value`` or its alias (Lightning's keyword), refusing both at once."""
    if alias_value is None:
        return value
    if value is not None:
        raise ArgumentTypeError(f"give {name} or {alias}, not both")
    return alias_value


def _no_batches(what: str) -> NoReturn:
    """An evaluation over no batches has no loss: a loss of 0 would be the best a monitor
    (EarlyStopping, ModelCheckpoint, ReduceLROnPlateau) ever saw. Training refuses an empty
    loader the same way."""
    raise InvalidValueError(
        f"Trainer: the {what} data yielded no batches; check that the dataset is not empty "
        "and holds at least one batch (batch_size, drop_last)"
    )


def _len_or_none(loader: Any) -> Optional[int]:
    """The number of batches, or ``None`` for a stream: a ``DataLoader`` always has
    ``__len__``, but over an ``IterableDataset`` without one it raises ``TypeError``."""
    try:
        return len(loader)
    except TypeError:
        return None


class _DefaultLoss:
    """The loss a ``Trainer`` without ``loss_fn`` uses, chosen from the first batch
    (``nn.loss.default_loss_for``: cross entropy, ``MSELoss`` for float targets of a
    single-output model). The choice then replaces this object on the trainer, so later
    batches call the chosen loss directly."""

    def __init__(self, trainer: Trainer) -> None:
        self._trainer = trainer

    def __call__(self, out: Any, target: Any) -> Tensor:
        from ..nn.loss import default_loss_for

        fn = default_loss_for(out, target)
        self._trainer.loss_fn = fn
        return fn(out, target)


class Trainer:
    """Trains ``model`` as ``config`` says; ``fit(train, val)`` fills ``self.history``.

    ``loss_fn`` defaults to ``CrossEntropyLoss`` (``MSELoss`` when the first batch has float
    targets and the model one output, see ``_DefaultLoss``); ``optimizer``/``scheduler``
    default to the ones ``config`` describes. ``history`` maps each metric (``loss``, ``accuracy``,
    ``val_loss``, ``val_accuracy``, ``lr``, ``throughput`` in samples/s, ``time``) to one value
    per epoch; ``metrics`` (``{"f1": F1Score(num_classes=10)}``, see ``democratising.metrics``)
    are computed by ``evaluate``/``test`` and on the validation data every epoch (``val_f1``).
    Under ``democratising.distributed`` (detected, or given as ``world`` with
    ``rank()``/``size()``) only rank 0 prints and writes files, and datasets are sharded with a
    ``DistributedSampler``; a model without a ``DistributedDataParallel`` wrapper still trains
    as one model: the trainer starts every rank from rank 0's weights and averages the
    gradients across ranks before each step (``_grad_sync``).

    Keyword ``settings`` are ``TrainingConfig`` fields (or Lightning's names: ``max_epochs``,
    ``lr``, ``accumulate_grad_batches``, ``gradient_clip_val``, ``precision``,
    ``default_root_dir``...) applied over ``config``: ``Trainer(model, max_epochs=3)``. A model
    that defines ``training_step``/``validation_step``/``test_step``/``predict_step`` or
    ``configure_optimizers`` is driven by them (see ``_hooks``).

    Ctrl-C during ``fit``: the current optimizer step finishes, a checkpoint is written (to the
    run's checkpoint folder, when there is one), a line says how to resume, ``interrupted``
    becomes ``True`` and ``fit`` raises ``KeyboardInterrupt`` (so a script does not go on with
    a half-trained model; ``democratising train`` exits with status 130). A second Ctrl-C
    stops at once.
    """

    def __init__(
        self,
        model: Any,
        config: Optional[TrainingConfig] = None,
        loss_fn: Optional[Callable[[Any, Any], Tensor]] = None,
        callbacks: Sequence[Callback] = (),
        optimizer: Any = None,
        scheduler: Any = None,
        scheduler_interval: Optional[str] = None,
        log: Callable[[str], None] = print,
        world: Any = None,
        metrics: Optional[Mapping[str, Any]] = None,
        **settings: Any,
    ) -> None:
        if not callable(getattr(model, "parameters", None)):
            raise ArgumentTypeError(
                f"Trainer trains an nn.Module (something with parameters()), got "
                f"{type(model).__name__}"
            )
        if loss_fn is not None and not callable(loss_fn):
            raise ArgumentTypeError(
                f"loss_fn must be callable, got {type(loss_fn).__name__}; "
                "pass callbacks by keyword: Trainer(model, config, callbacks=[...])"
            )
        config = _as_config(config)
        callbacks = _as_callbacks(callbacks)
        self.config = cfg = _hooks.apply_settings(config, settings)
        cfg.validate()
        self.device = _core.Device(cfg.device) if isinstance(cfg.device, str) else cfg.device
        self._on_cpu = self.device.type == "cpu"
        if not self._on_cpu:
            model.to(self.device)
        self.model = model
        self.loss_fn: Callable[[Any, Any], Tensor] = (
            _DefaultLoss(self) if loss_fn is None else loss_fn
        )
        configure = _hooks.find_hook(model, "configure_optimizers")
        if optimizer is None and configure is not None:
            optimizer, hook_sched, hook_interval = _hooks.parse_optimizers(configure())
            if scheduler is None and hook_sched is not None:
                scheduler = hook_sched
                scheduler_interval = scheduler_interval or hook_interval
        if optimizer is None:
            optimizer = cfg.optimizer.build(model.parameters(), cfg.learning_rate)
        # ZeRO (a DistributedDataParallel(..., zero_stage=1|2) model): shard the optimizer.
        self.optimizer = optimizer = _memory.prepare_zero(model, optimizer, cfg.zero_stage)
        self._steps = {
            name: _hooks.find_hook(model, f"{name}_step")
            for name in ("training", "validation", "test", "predict")
        }
        # DDP's no_sync() skips the all-reduce on micro-batches that do not end a group.
        self._no_sync = getattr(model, "no_sync", None) if cfg.accumulation_steps > 1 else None
        self.scheduler = scheduler
        self._scheduler_interval = scheduler_interval
        self._autocast: Optional[Callable[[], Any]] = None
        self.scaler: Any = None
        if cfg.amp is not None:
            self._autocast, self.scaler = _load_amp(cfg.amp)
        cbs = list(callbacks)
        #: Metrics ``evaluate`` computes besides the loss (``val_<name>`` during ``fit``).
        self.metrics = check_metrics(metrics)
        #: ``"min"`` or ``"max"``: which way ``config.monitor`` improves.
        self.monitor_mode = infer_mode(cfg.monitor or "val_loss", cfg.monitor_mode, self.metrics)
        self._checkpointer: Optional[ModelCheckpoint] = None
        self._metrics_logger: Optional[MetricsLogger] = None
        if cfg.checkpoint_dir is not None or cfg.runs_dir is not None:
            # Without checkpoint_dir the folder is the run's, known once fit() starts.
            where = cfg.checkpoint_dir if cfg.checkpoint_dir is not None else "checkpoints"
            self._checkpointer = ModelCheckpoint(
                where,
                cfg.checkpoint_every,
                cfg.keep_last,
                cfg.monitor,
                self.monitor_mode,
                keep_best=cfg.keep_best,
            )
            cbs.append(self._checkpointer)
        if cfg.runs_dir is not None:
            self._metrics_logger = MetricsLogger("metrics.csv")
            cbs.append(self._metrics_logger)
        self.callbacks = sorted(cbs, key=lambda c: c.order)
        self._batch_callbacks = [c for c in self.callbacks if overrides(c, "on_batch_end")]
        self._world = world
        if world is not None:  # e.g. democratising.distributed.World.init()
            self.world_size, self.rank = int(world.size()), int(world.rank())
        else:
            self.world_size, self.rank = _ranks.world_size(), _ranks.rank()
        self.is_main = self.rank == 0
        # A plain model under several ranks: the trainer keeps the ranks' copies equal.
        self._grad_sync = GradientSync.for_trainer(world, self.world_size, model)
        self._log = log
        self.epoch = 0  # epochs completed
        self.global_step = 0  # optimizer steps taken
        self.history: dict[str, list[Any]] = {}
        self.stop_training = False
        self.train_loader: Any = None
        #: This run's folder (``runs_dir/run_name/version_N``), once ``fit`` has made it.
        self.run_dir: Optional[Path] = None
        #: Whether the last ``fit`` was stopped by Ctrl-C, and the checkpoint it then wrote.
        self.interrupted = False
        self.interrupt_checkpoint: Optional[Path] = None
        #: How to resume, shown after Ctrl-C; ``{path}`` is the checkpoint (the CLI sets its own).
        self.resume_hint = "fit(..., ckpt_path={path!r})"
        self.resumed_from: Optional[Path] = None
        self._resumed_config: Optional[dict[str, Any]] = None
        self._scheduler_end: Optional[int] = None  # extend_schedule = "hold": stop here
        self._steps_per_epoch = 1
        self._resume_partial: Optional[dict[str, Any]] = None  # a mid-epoch checkpoint's place
        self._partial_state: Optional[dict[str, Any]] = None  # what an interrupt save records
        self._guard: Optional[_SigintGuard] = None
        self._log_file: Any = None
        self._early_log: list[str] = []
        #: Writes checkpoints in the background (``async_checkpoint``); one write in flight.
        self._writer = _writer.CheckpointWriter()
        #: ``progress.json`` for ``democratising launch`` (rank 0, only under the launcher).
        self._notes: Optional[_progress.ProgressNotes] = None

    # ---- public API ------------------------------------------------------------------------

    def log(self, message: str) -> None:
        """Prints on rank 0 when ``config.verbose`` (and appends to the run's ``train.log``)."""
        if self.is_main and self._log_file is not None:
            self._log_file.write(message + "\n")
            self._log_file.flush()
        elif self.is_main and self.config.runs_dir is not None and len(self._early_log) < 1000:
            self._early_log.append(message)  # written to train.log once the folder exists
        if self.is_main and self.config.verbose:
            self._log(message)

    def fit(
        self,
        train_loader: Optional[DataLike] = None,
        val_loader: Optional[DataLike] = None,
        resume_from: Optional[PathLike] = None,
        allow_unverified: bool = False,
        ckpt_path: Optional[PathLike] = None,
        *,
        train_dataloaders: Optional[DataLike] = None,
        val_dataloaders: Optional[DataLike] = None,
    ) -> dict[str, list[Any]]:
        """Trains until ``config.num_epochs`` epochs are complete (counting epochs restored from
        ``resume_from``) or a callback stops it; returns ``self.history``. ``train_loader`` and
        ``val_loader`` (API.md's names) take DataLoaders, datasets or ``(x, y)`` tensors;
        ``train_dataloaders``/``val_dataloaders`` are Lightning's names for them. A
        ``resume_from`` file without its checksum is refused unless ``allow_unverified``.
        ``ckpt_path`` is Lightning's name for ``resume_from``; ``"last"`` means the newest
        complete checkpoint of the newest run (under ``runs_dir``, ``checkpoint_dir`` or
        ``runs/``)."""
        train_loader = _one_of("train_loader", train_loader, "train_dataloaders", train_dataloaders)
        val_loader = _one_of("val_loader", val_loader, "val_dataloaders", val_dataloaders)
        if train_loader is None:
            raise ArgumentTypeError(
                "Trainer.fit() needs the training data: fit(train_loader, val_loader)"
            )
        if ckpt_path is not None:
            if resume_from is not None:
                raise InvalidValueError("give resume_from or ckpt_path, not both")
            resume_from = ckpt_path
        loader, val = self._setup_fit(train_loader, val_loader, resume_from, allow_unverified)
        return self._run_fit(loader, val)

    # ---- the history by key: ``train_with_config`` returns the trainer, and a user who reads
    # its result as ``fit``'s (``result["loss"]``) gets the same lists.

    def __getitem__(self, metric: str) -> list[Any]:
        """``trainer["loss"]`` is ``trainer.history["loss"]``."""
        return self.history[metric]

    def __contains__(self, metric: object) -> bool:
        return metric in self.history

    def keys(self) -> Any:
        """The metrics recorded in ``history``."""
        return self.history.keys()

    def find_last_checkpoint(self) -> Optional[Path]:
        """What ``ckpt_path="last"`` resumes: the newest complete checkpoint of the newest run
        under ``runs_dir`` (or ``runs/``), or in ``checkpoint_dir``."""
        cfg = self.config
        roots = [cfg.runs_dir if cfg.runs_dir is not None else "runs"]
        if cfg.checkpoint_dir is not None:
            roots.append(cfg.checkpoint_dir)
        return _rundir.find_last(*roots, on_skip=self._skip_note)

    def _skip_note(self, path: Path, problem: str) -> None:
        self._say(f"Skipping checkpoint {path}: {problem}; trying the previous one")

    def _find_auto(self) -> Optional[Path]:
        """``resume_from="auto"``: the newest checkpoint of ``checkpoint_dir`` (else of the
        newest ``runs_dir/run_name/version_N``) that loads, or ``None`` to start fresh. Rank 0
        chooses (saying which newer files it skipped as corrupt or torn) and tells the others,
        so every rank resumes from the same file."""
        if self.world_size > 1:
            w = self._world if self._world is not None else _ranks.current()
            if w is not None and hasattr(w, "broadcast_object"):
                found = self._pick_auto() if self.is_main else None
                chosen = w.broadcast_object(None if found is None else os.fspath(found))
                return None if chosen is None else Path(chosen)
        return self._pick_auto()

    def _pick_auto(self) -> Optional[Path]:
        cfg = self.config
        if cfg.checkpoint_dir is not None:
            roots = [Path(cfg.checkpoint_dir)]
        elif cfg.runs_dir is not None:
            roots = _rundir.version_checkpoint_dirs(Path(cfg.runs_dir) / cfg.run_name)
        else:
            roots = []
        for path in _rundir.candidates(roots):
            problem = _rundir.load_problem(path)
            if problem is None:
                return path
            self._skip_note(path, problem)
        self.log("resume_from='auto': no complete checkpoint found, starting fresh")
        return None

    def resolve_resume(self, path: PathLike) -> Path:
        """``"last"``, a directory (its newest checkpoint) or a file, as the file to load."""
        if os.fspath(path) == "last":
            found = self.find_last_checkpoint()
            if found is None:
                cfg = self.config
                where = cfg.runs_dir if cfg.runs_dir is not None else "runs"
                extra = f" or {cfg.checkpoint_dir}" if cfg.checkpoint_dir is not None else ""
                raise CheckpointFileNotFoundError(
                    f"'last': no complete checkpoint under {where}/{extra}"
                )
            return found
        p = Path(path)
        if (p / "index.json").is_file():  # a sharded (ZeRO) checkpoint is a directory
            return p
        if p.is_dir():
            found = latest_checkpoint(p)
            if found is None and (p / _rundir.CHECKPOINTS).is_dir():
                # A run folder (runs/digits/version_0), as the CLI prints and the docs resume.
                found = _rundir.find_last(p / _rundir.CHECKPOINTS, on_skip=self._skip_note)
            if found is None:  # a run name (runs/digits): its versions; or a runs root
                found = _rundir.find_last(
                    *_rundir.version_checkpoint_dirs(p), p, on_skip=self._skip_note
                )
            if found is None:
                raise CheckpointFileNotFoundError(
                    f"no epoch_NNNN.safetensors checkpoint in {p} (nor in its checkpoints/ "
                    "or version_N/checkpoints/ folders)"
                )
            return found
        return p

    def _setup_fit(
        self,
        train_data: DataLike,
        val_data: Optional[DataLike],
        resume_from: Optional[PathLike],
        allow_unverified: bool = False,
    ) -> tuple[Any, Any]:
        """Everything before the first epoch: loaders, scheduler, and the resume (or the
        seed). The CLI calls it separately so that a bad checkpoint is a usage error."""
        cfg = self.config
        self.train_loader = loader = self._loader(train_data, train=True)
        val_loader = self._loader(val_data, train=False) if val_data is not None else None
        if val_loader is not None and self.world_size <= 1 and _len_or_none(val_loader) == 0:
            _no_batches("validation")  # now, not after the first epoch's training
        self._ensure_scheduler(_len_or_none(loader))
        if cfg.checkpoint_every_n_steps is not None and _memory.zero_stage_of(self.model):
            raise ConfigError(
                "checkpoint_every_n_steps is not supported under ZeRO (zero_stage > 0), whose "
                "checkpoints are written by every rank at epoch ends; use checkpoint_every"
            )
        if self.is_main and self._notes is None:
            self._notes = _progress.ProgressNotes.from_env()
        if resume_from is not None and os.fspath(resume_from) == "auto":
            path = self._find_auto()
        else:
            path = self.resolve_resume(resume_from) if resume_from is not None else None
        if path is not None:
            self.load_checkpoint(path, allow_unverified=allow_unverified)
            saved = (self._resumed_config or {}).get("num_epochs")
            if self.epoch >= cfg.num_epochs:
                self.log(
                    f"The checkpoint's run already completed {self.epoch} epochs and "
                    f"num_epochs = {cfg.num_epochs}: nothing to train; ask for more epochs "
                    "(num_epochs, or --epochs on the command line) to continue it"
                )
            else:
                refresh_function_of_step(self)
                line = check_extension(
                    self, self._steps_per_epoch, saved if isinstance(saved, int) else None
                )
                if line:
                    self.log(line)
        elif self.epoch == 0:
            _core.manual_seed(cfg.seed)
        self._open_run_dir(path)
        return loader, val_loader

    def _open_run_dir(self, resumed: Optional[Path]) -> None:
        """The run's own folder: the resumed run's, or a new ``version_N`` (rank 0 only);
        points the checkpoint and metrics callbacks and the log file into it."""
        cfg = self.config
        ckpt = self._checkpointer
        if cfg.runs_dir is None:
            if ckpt is not None and self.is_main and resumed is None:
                others = [p for p in ckpt.dir.glob("epoch_*.safetensors")]
                if others:
                    self.log(
                        f"Note: {ckpt.dir} already holds {len(others)} checkpoint(s) of another "
                        "run; files of the same epochs are replaced (pruning only removes this "
                        "run's own); set runs_dir for a folder per run"
                    )
            return
        if not self.is_main:
            return
        run = _rundir.run_dir_of(resumed) if resumed is not None else None
        if run is None:
            run = _rundir.new_version_dir(cfg.runs_dir, cfg.run_name)
        self.run_dir = run
        if ckpt is not None and cfg.checkpoint_dir is None:
            ckpt.dir = run / _rundir.CHECKPOINTS
        if self._metrics_logger is not None:
            self._metrics_logger.path = run / "metrics.csv"
        cfg.save(run / "config.toml")
        if self._log_file is None:
            self._log_file = open(run / "train.log", "a", encoding="utf-8")
            self._log_file.writelines(line + "\n" for line in self._early_log)
            self._early_log.clear()
        self.log(f"Run folder: {run}")

    def _run_fit(self, loader: Any, val_loader: Any) -> dict[str, list[Any]]:
        """The epochs, after ``_setup_fit``."""
        self.interrupted = False
        self.interrupt_checkpoint = None
        try:
            with _SigintGuard(self._say) as guard:
                self._guard = guard
                history = self._epochs(loader, val_loader)
            self._writer.wait()  # the last checkpoint is on disk (or its failure raised)
            return history
        except _InterruptedError:
            self._writer.wait()
            path = self.interrupt_checkpoint
            if path is not None:
                hint = self.resume_hint.format(path=os.fspath(path))
                self._say(f"Saved {path}; resume with: {hint}")
            else:
                self._say(
                    "Stopped without a checkpoint (no checkpoint_dir or runs_dir is set); "
                    "nothing was saved"
                )
            raise KeyboardInterrupt from None
        finally:
            self._writer.wait(raise_error=False)  # (success waited above; an error is on its way)
            self._guard = None
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    def _say(self, message: str) -> None:
        """Like ``log``, but also when ``verbose`` is off: Ctrl-C handling must be seen."""
        if not self.is_main:
            return
        if self.config.verbose:
            self.log(message)
        else:
            print(message, file=sys.stderr, flush=True)

    def _epochs(self, loader: Any, val_loader: Any) -> dict[str, list[Any]]:
        cfg = self.config
        self.stop_training = False
        self.model.train()
        self.optimizer.zero_grad()
        if self._grad_sync is not None:
            self._grad_sync.start()
        if cfg.model_summary and self.epoch < cfg.num_epochs:
            for line in _hooks.model_summary(self.model, self.optimizer):
                self.log(line)
            self.log(f"Compute: {_threads.describe()}")
            for line in _memory.describe_for_trainer(self, loader):
                self.log(line)
        for cb in self.callbacks:
            cb.on_train_begin(self)
        while self.epoch < cfg.num_epochs and not self.stop_training:
            epoch = self.epoch
            if hasattr(loader, "set_epoch"):
                loader.set_epoch(epoch)
            for cb in self.callbacks:
                cb.on_epoch_begin(self, epoch)
            metrics: dict[str, Any] = {"epoch": epoch + 1}
            # The rate the epoch started with, as Lightning's LearningRateMonitor and Keras
            # log it: after the epoch a per-batch schedule has already moved to the next one's.
            lr = float(self.optimizer.param_groups[0]["lr"])
            metrics.update(self._train_epoch(loader, epoch))
            if self._grad_sync is not None:
                self._grad_sync.share_buffers()
            metrics["lr"] = lr
            if val_loader is not None:
                evaluated = self.evaluate(val_loader).items()
                # Numbers only: a confusion matrix is for evaluate(), not the history.
                metrics.update({f"val_{k}": v for k, v in evaluated if _is_num(v)})
            self._epoch_scheduler_step(metrics)
            self.epoch = epoch + 1
            for k, v in metrics.items():
                self.history.setdefault(k, []).append(v)
            self.log(self._format(metrics))
            for cb in self.callbacks:
                if cb.on_epoch_end(self, metrics):
                    self.stop_training = True
            if self._guard is not None and self.epoch < cfg.num_epochs:
                asked = self._guard.requested
                if self.world_size > 1:
                    asked = self._any_rank(asked)
                if asked:  # Ctrl-C during validation or the epoch's end: stop here
                    self._save_epoch_end()
                    raise _InterruptedError
        for cb in self.callbacks:
            cb.on_train_end(self)
        return self.history

    def evaluate(self, data: DataLike, _hook: str = "validation") -> dict[str, Any]:
        """Mean loss (and accuracy for class-index targets) over ``data``, without gradients,
        in eval mode, and every metric of ``self.metrics`` (reset first, updated with each
        batch's outputs and targets, computed over every rank); with a model's
        ``validation_step``, the mean of what it returns."""
        loader = self._loader(data, train=False)
        step = self._steps.get(_hook)
        if step is not None:
            return self._evaluate_hook(loader, step, _hook)
        was_training = self.model.training
        self.model.eval()
        total, correct, seen, classes = 0.0, 0, 0, True
        bar = self._progress(loader, _hook)
        metric_objects = list(self.metrics.values())
        for m in metric_objects:
            m.reset()
        # Under MPI the sampler pads the last shards with repeated samples: leave them out, so
        # that the loss and the metrics count every sample of the dataset exactly once.
        limit = _unpadded_count(loader)
        try:
            with no_grad():
                for batch in loader:
                    if bar is not None:
                        bar.update(1)
                    loss, out, target = _hooks.loss_triple(self.compute_loss(batch))
                    if out is None and metric_objects:
                        raise ArgumentTypeError(
                            "Trainer.evaluate: the metrics need compute_loss() to return "
                            "(loss, outputs, targets), not the loss alone"
                        )
                    if limit is not None and isinstance(target, Tensor):
                        keep = limit - seen
                        if keep <= 0:
                            continue
                        if keep < int(target.shape[0]) and isinstance(out, Tensor):
                            out, target = out[:keep], target[:keep]
                            with self._amp_context():
                                loss = self.loss_fn(out, target)
                    for m in metric_objects:
                        m.update(out, target)
                    n = int(target.shape[0]) if isinstance(target, Tensor) else 1
                    total += float(loss.item()) * n
                    seen += n
                    if classes and _is_class_target(out, target):
                        correct += int((out.argmax(dim=1) == target).sum().item())
                    else:
                        classes = False
        finally:
            self.model.train(was_training)
            if bar is not None:
                bar.close()
        g_total, g_correct, g_seen = self._global_sums([total, correct, seen])
        if not g_seen:
            _no_batches(_hook)
        out_metrics: dict[str, Any] = {"loss": g_total / g_seen}
        if classes and g_seen:
            out_metrics["accuracy"] = g_correct / g_seen
        out_metrics.update(self._compute_metrics())
        return out_metrics

    def _compute_metrics(self) -> dict[str, Any]:
        """Every metric's value, over every rank (the trainer's world, when it was given one
        and the metric has none of its own)."""
        out = {}
        for name, m in self.metrics.items():
            if (
                self._world is not None
                and getattr(m, "world", False) is None
                and hasattr(self._world, "all_reduce")
            ):
                m.world = self._world
            out[name] = m.compute()
        return out

    def _evaluate_hook(self, loader: Any, step: Callable[..., Any], hook: str) -> dict[str, float]:
        """The sample-weighted mean of every number ``<hook>_step(batch, i)`` returns."""
        was_training = self.model.training
        self.model.eval()
        sums: dict[str, float] = {}
        seen = 0
        bar = self._progress(loader, hook)
        try:
            with no_grad():
                for i, batch in enumerate(loader):
                    with self._amp_context():
                        values = _hooks.metrics_of(step(self._batch_to_device(batch), i))
                    n = _batch_size_of(batch)
                    for k, v in values.items():
                        sums[k] = sums.get(k, 0.0) + v * n
                    seen += n
                    if bar is not None:
                        bar.update(1)
        finally:
            self.model.train(was_training)
            if bar is not None:
                bar.close()
        keys = sorted(sums)
        totals = self._global_sums([sums[k] for k in keys] + [seen])
        g_seen = totals[-1]
        if not g_seen:
            _no_batches(hook)
        return {k: v / g_seen for k, v in zip(keys, totals[:-1])}

    def test(self, data: DataLike) -> dict[str, Any]:
        """Metrics over ``data`` from the model's ``test_step`` (else as ``evaluate``)."""
        return self.evaluate(data, _hook="test" if self._steps.get("test") else "validation")

    def predict(self, data: DataLike, concat: bool = False) -> Any:
        """The model's ``predict_step(batch, i)`` (else ``model(*inputs)``) for every batch
        of ``data``, without gradients, in eval mode: a list with one output per batch, or
        with ``concat=True`` the outputs concatenated along the first dimension (a tensor, or
        a tuple of tensors for a model that returns several).

        Under ``democratising.distributed`` each rank predicts its shard of a dataset and rank
        0 gets every sample's prediction in the dataset's order (the sampler's padding
        dropped), batched as one process would batch them, as CPU tensors; the other ranks get
        ``None``. The outputs must then be tensors (or tuples/lists of tensors)."""
        loader = self._loader(data, train=False)
        step = self._steps.get("predict")
        was_training = self.model.training
        self.model.eval()
        out = []
        try:
            with no_grad(), self._amp_context():
                for i, batch in enumerate(loader):
                    if step is not None:
                        out.append(step(self._batch_to_device(batch), i))
                    else:
                        if isinstance(batch, (tuple, list)) and len(batch) >= 2:
                            inputs, _ = self._to_device(batch)
                        elif isinstance(batch, (tuple, list)) and len(batch) == 1:
                            # DataLoader(TensorDataset(x)) yields [x]: the inputs alone.
                            inputs = tuple(self._batch_to_device(batch))
                        else:
                            inputs = (self._batch_to_device(batch),)
                        out.append(self.model(*inputs))
        finally:
            self.model.train(was_training)
        sampler = getattr(loader, "sampler", None)
        if self.world_size > 1 and isinstance(sampler, DistributedSampler):
            return self._gather_predictions(sampler, out, concat)
        return _concat_outputs(out) if concat else out

    def _gather_predictions(self, sampler: Any, out: list[Any], concat: bool) -> Any:
        """Every rank's predictions on rank 0, put back in the dataset's order (one
        all-gather of ``(indices, arrays)``)."""
        w = self._world if self._world is not None else _ranks.current()
        if w is None or not hasattr(w, "all_gather_object"):
            raise ArgumentTypeError(
                "predict under a world of several ranks needs its all_gather_object "
                "(democratising.distributed.World has one)"
            )
        indices = list(sampler)
        local = [_numpy_parts(o) for o in out]
        width = len(local[0]) if local else -1
        if any(len(parts) != width for parts in local):
            raise ArgumentTypeError("predict: every batch must give the same number of outputs")
        arrays = [np.concatenate([p[k] for p in local]) for k in range(max(width, 0))]
        several_here = bool(out) and isinstance(out[0], (tuple, list))
        gathered = w.all_gather_object((indices, arrays, several_here))
        if not self.is_main:
            return None
        total = len(sampler.dataset)
        nonempty = [g for g in gathered if g[1]]
        if not nonempty:
            return _concat_outputs([]) if concat else []
        several = nonempty[0][2]
        columns = []
        for k in range(len(nonempty[0][1])):
            first = nonempty[0][1][k]
            full = np.empty((total, *first.shape[1:]), dtype=first.dtype)
            for idx, arrs, _ in nonempty:
                full[np.asarray(idx, dtype=np.int64)] = arrs[k]  # padding rewrites equal values
            columns.append(_core.from_numpy(np.ascontiguousarray(full)))
        if concat:
            return tuple(columns) if several else columns[0]
        bs = self.config.batch_size
        batches = []
        for start in range(0, total, bs):
            parts = [c[start : start + bs] for c in columns]
            batches.append(tuple(parts) if several else parts[0])
        return batches

    def _batch_to_device(self, batch: Any) -> Any:
        """Every tensor in ``batch`` (tuples, lists, dicts) on the trainer's device."""
        if self._on_cpu:
            return batch
        return map_tensors(batch, lambda t: t.to(self.device))

    def compute_loss(self, batch: Any) -> tuple[Tensor, Any, Any]:
        """``(loss, outputs, targets)`` for one batch; override for custom batch layouts (an
        override may return the loss alone, a tensor or a dict with ``"loss"``: the epoch's
        accuracy and metrics then need the outputs and targets, and are left out)."""
        inputs, target = self._to_device(batch)
        with self._amp_context():
            out = self.model(*inputs)
            loss = self.loss_fn(out, target)
        return loss, out, target

    # ---- checkpoints -----------------------------------------------------------------------

    def save_checkpoint(self, path: PathLike, **extra: Any) -> None:
        """Writes everything a resume needs, atomically (only call it on the main rank); it
        returns once the file is on disk (a background write in flight is finished first).
        ``CheckpointError`` before anything is written when the disk cannot hold it."""
        self._writer.wait()
        from ..distributed.sharded_checkpoint import is_sharded_target

        if is_sharded_target(self.model, self.optimizer):
            self._save_sharded(path, **extra)
            return
        snap = _writer.snapshot(self._checkpoint(**extra), copy=False)  # written right here
        _writer.check_space(path, snap.nbytes)
        snap.write(path)

    def _write_checkpoint(
        self, paths: Sequence[Path], after: Optional[Callable[[list[Path]], None]] = None
    ) -> None:
        """The checkpoint callback's write: the state at this step to every path of ``paths``,
        in the background with ``async_checkpoint`` (the state is copied to host memory now;
        one write in flight; a failure is raised at a later step or at the end of ``fit``),
        then ``after(paths)`` once the files are on disk."""
        from ..distributed.sharded_checkpoint import is_sharded_target

        step = self.global_step

        def done(written: list[Path]) -> None:
            if after is not None:
                after(written)
            if self._notes is not None:
                self._notes.checkpoint(written[0], step)

        targets = [Path(p) for p in paths]
        if is_sharded_target(self.model, self.optimizer):
            for p in targets:
                self.save_checkpoint(p)
            done(targets)
            return
        self._writer.poll()  # the previous write's failure, if it failed
        snap = _writer.snapshot(self._checkpoint(), copy=self.config.async_checkpoint)
        _writer.check_space(
            targets[0], snap.nbytes * len(targets), reserved=self._writer.pending_bytes
        )
        if self.config.async_checkpoint:
            self._writer.submit(snap, targets, done)
            return
        for p in targets:
            snap.write(p)
        done(targets)

    def _checkpoint(self, **extra: Any) -> Checkpoint:
        """Everything a resume needs, as a ``Checkpoint`` (the tensors still the live ones)."""
        loader_state = None
        if self.train_loader is not None and hasattr(self.train_loader, "state_dict"):
            loader_state = self.train_loader.state_dict()
        partial = self._partial_state
        if partial is not None:  # mid-epoch: the loader as it was when the epoch began
            loader_state = partial["loader"]
            partial = {k: v for k, v in partial.items() if k != "loader"}
        last_loss = self.history.get("loss", [None])[-1] if self.history else None
        trainer_state = {
            "global_step": self.global_step,
            "history": self.history,
            "loader": loader_state,
            "callbacks": {self._cb_key(i, c): c.state_dict() for i, c in self._indexed()},
            "config": self.config.to_dict(),
            "partial": partial,
        }
        return Checkpoint._capture(
            dict(self.model.state_dict()),
            self.optimizer.state_dict(),
            self.optimizer,
            self.scheduler,
            self.scaler,
            self.epoch,
            last_loss,
            {"trainer": trainer_state, **extra},
        )

    def _save_sharded(self, path: PathLike, **extra: Any) -> None:
        """Under ZeRO: every rank writes its shard (``distributed.sharded_checkpoint``)."""
        ckpt = self._checkpoint(**extra)
        save_checkpoint(
            path,
            model=self.model,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            scaler=self.scaler,
            epoch=ckpt.epoch,
            loss=ckpt.loss,
            **ckpt.extra,
        )

    def load_checkpoint(self, path: PathLike, allow_unverified: bool = False) -> dict[str, Any]:
        """Restores a ``save_checkpoint`` file: model, optimizer, scheduler, scaler, RNG, epoch,
        history, the training loader's shuffling state and callback state.

        Every part is validated before any is applied; a bad file raises ``CheckpointError``
        naming the problem and leaves the trainer, its model, optimizer, scheduler and the
        global RNG as they were. A file without its checksum is refused unless
        ``allow_unverified``. The run's settings (``self.config``: paths, epochs, ...) are never
        taken from the file; when the file's run used different settings, one line says so.
        A checkpoint of a ``DistributedDataParallel`` model (``module.`` keys) loads into a
        plain model and the reverse.
        """
        path = self.resolve_resume(path)
        try:
            plan: ResumePlan = check_resume(self, path, allow_unverified)
        except CheckpointError as e:
            _name_checkpoint(e, path)
            raise
        snapshot = Snapshot.take(self)
        try:
            info = plan.checkpoint.restore(self.model, self.optimizer, self.scheduler, self.scaler)
            plan.apply(self)
        except Exception as e:
            snapshot.restore(self)
            if isinstance(e, CheckpointError):
                _name_checkpoint(e, path)
                _settings_hint(e, path, config_differences(plan.config, self.config))
                raise
            raise CheckpointError(f"restoring {os.fspath(path)!r} failed: {e}") from e
        self.resumed_from = Path(path)
        self._resumed_config = plan.config
        self._resume_partial = plan.partial
        where = f"epoch {self.epoch}"
        if plan.partial is not None:
            where += f", batch {plan.partial['batch']} of epoch {self.epoch + 1}"
        self.log(f"Resumed from {os.fspath(path)} at {where}")
        differ = config_differences(plan.config, self.config)
        if differ:
            self.log(
                f"Note: the checkpoint's run used other settings for {', '.join(differ)}; "
                "continuing with the current ones"
            )
        return info

    # ---- internals -------------------------------------------------------------------------

    def _indexed(self) -> list[tuple[int, Callback]]:
        return list(enumerate(self.callbacks))

    @staticmethod
    def _cb_key(i: int, cb: Callback) -> str:
        return f"{i}:{type(cb).__name__}"

    def _loader(self, data: DataLike, train: bool) -> Any:
        """Datasets (and ``(x, y)`` tensor tuples) become ``DataLoader``s built from the config;
        anything else iterable is used as given."""
        cfg = self.config
        if isinstance(data, Tensor):
            # Iterated as given, each row would be a "batch" (predict(x) ran per sample).
            data = TensorDataset(data)
        elif isinstance(data, tuple) and data and all(isinstance(t, Tensor) for t in data):
            data = TensorDataset(*data)
        if (
            isinstance(data, tuple)
            and data
            and any(isinstance(t, np.ndarray) for t in data)
            and all(isinstance(t, (np.ndarray, Tensor)) and t.ndim >= 1 for t in data)
            and len({int(t.shape[0]) for t in data}) == 1
        ):
            # Iterated as given, each array would be one "batch": say how to convert instead.
            raise ArgumentTypeError(
                "fit() got NumPy arrays; convert them to tensors first: "
                "(dm.from_numpy(x), dm.from_numpy(y)), or TensorDataset of those"
            )
        if not isinstance(data, Dataset):
            return data
        if train and hasattr(data, "__len__") and len(data) == 0:
            # (A shuffling sampler would refuse it first, in the sampler's own words.)
            _no_batches("training")
        sampler, shuffle = None, cfg.shuffle and train
        if self.world_size > 1:
            sampler = DistributedSampler(
                data, self.world_size, self.rank, shuffle=shuffle, seed=cfg.seed
            )
            shuffle = False
        return DataLoader(
            data,
            batch_size=cfg.batch_size,
            shuffle=shuffle,
            drop_last=cfg.drop_last and train,
            num_workers=cfg.num_workers,
            seed=cfg.seed,
            sampler=sampler,
        )

    def _ensure_scheduler(self, batches_per_epoch: Optional[int]) -> None:
        cfg = self.config
        if batches_per_epoch is None:  # an iterable without len(): one step per epoch known
            if cfg.scheduler is not None and cfg.scheduler.step_interval == "batch":
                raise ConfigError(
                    "a per-batch scheduler needs the number of batches: give fit() a "
                    "DataLoader or another iterable with len()"
                )
            batches_per_epoch = cfg.accumulation_steps
        steps = max(1, math.ceil(batches_per_epoch / cfg.accumulation_steps))
        self._steps_per_epoch = steps
        if self.scheduler is None and cfg.scheduler is not None:
            self.scheduler = cfg.scheduler.build(
                self.optimizer, cfg.num_epochs, steps, cfg.learning_rate
            )
        if self._scheduler_interval is None:
            if cfg.scheduler is not None:
                self._scheduler_interval = cfg.scheduler.step_interval
            else:
                batchy = type(self.scheduler).__name__ == "OneCycleLR"
                self._scheduler_interval = "batch" if batchy else "epoch"
        self._plateau = type(self.scheduler).__name__ == "ReduceLROnPlateau"
        if self._plateau:
            self._scheduler_interval = "epoch"

    def _epoch_scheduler_step(self, metrics: dict[str, Any]) -> None:
        if self.scheduler is None or self._scheduler_interval != "epoch":
            return
        if self._plateau:
            self.scheduler.step(metrics.get("val_loss", metrics["loss"]))
        else:
            self._scheduler_step()

    def _amp_context(self) -> Any:
        return self._autocast() if self._autocast is not None else contextlib.nullcontext()

    def _to_device(self, batch: Any) -> tuple[tuple[Any, ...], Any]:
        inputs, target = _split_batch(batch)
        if not self._on_cpu:
            inputs = tuple(x.to(self.device) if isinstance(x, Tensor) else x for x in inputs)
            target = target.to(self.device) if isinstance(target, Tensor) else target
        return inputs, target

    def _progress(self, loader: Any, epoch: Union[int, str]) -> Any:
        """A bar over the batches, only when someone is watching (stderr is a terminal):
        tqdm's when it is installed, else a plain one (``_bar.TextBar``); ``epoch`` is the
        training epoch, or the name of an evaluation (``"validation"``)."""
        if not (self.config.progress and self.config.verbose and self.is_main):
            return None
        try:
            if not sys.stderr.isatty():
                return None
        except (AttributeError, ValueError):
            return None
        total = _len_or_none(loader)
        if isinstance(epoch, str):
            desc = epoch
        else:
            desc = f"epoch {epoch + 1}/{self.config.num_epochs}"
        try:
            from tqdm import tqdm
        except ImportError:
            from ._bar import TextBar

            return TextBar(total, desc)
        return tqdm(total=total, desc=desc, leave=False, unit="batch")

    def _optimizer_step(self) -> None:
        cfg, opt = self.config, self.optimizer
        if self._grad_sync is not None:
            self._grad_sync.average([p for g in opt.param_groups for p in g["params"]])
        if self.scaler is not None:
            if cfg.max_grad_norm is not None:
                self.scaler.unscale_(opt)
                _memory.clip_gradients(self.model, opt, cfg.max_grad_norm)
            self.scaler.step(opt)
            self.scaler.update()
        else:
            if cfg.max_grad_norm is not None:
                _memory.clip_gradients(self.model, opt, cfg.max_grad_norm)
            opt.step()
        opt.zero_grad()
        self.global_step += 1
        if self.scheduler is not None and self._scheduler_interval == "batch":
            self._scheduler_step()

    def _rescale_grads(self, factor: float) -> None:
        """Multiplies the accumulated gradients by ``factor`` (before the scaler unscales them,
        which commutes): a group whose losses were divided by more batches than it had."""
        if factor == 1:
            return
        with no_grad():
            for group in self.optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad.mul_(factor)

    def _scheduler_step(self, *args: Any) -> None:
        end = self._scheduler_end
        if end is not None and getattr(self.scheduler, "last_epoch", 0) >= end:
            return  # extend_schedule = "hold": the schedule has ended, its last rate stays
        self.scheduler.step(*args)

    def _train_epoch(self, loader: Any, epoch: int) -> dict[str, float]:
        acc_steps = self.config.accumulation_steps
        n_batches = _len_or_none(loader)
        bar = self._progress(loader, epoch)
        batch_cbs, scaler = self._batch_callbacks, self.scaler
        total, count, seen, correct, classes = 0.0, 0, 0, 0, True
        pending = 0  # batches whose gradients are accumulated but not yet applied
        # Where a mid-epoch (Ctrl-C) checkpoint would send the loader back to.
        epoch_start = loader.state_dict() if hasattr(loader, "state_dict") else None
        training_step = self._steps.get("training")
        guard, multi = self._guard, self.world_size > 1
        start = time.perf_counter()
        batches: Any = loader
        skip = 0
        resumed, self._resume_partial = self._resume_partial, None
        every_n, notes = self.config.checkpoint_every_n_steps, self._notes
        per_step = every_n is not None or notes is not None or self.config.async_checkpoint
        if resumed is not None:  # a mid-epoch checkpoint: continue after its last batch
            skip = int(resumed["batch"])
            total, count, seen, correct = resumed["sums"]
            classes = bool(resumed["classes"])
            start -= float(resumed["elapsed"])
            if isinstance(loader, DataLoader):  # skips the batches without loading them
                batches = loader.iter_from(skip)
            else:
                batches = itertools.islice(iter(loader), skip, None)
            if bar is not None:
                bar.update(skip)
        ahead: Optional[_LastFlag] = None
        if n_batches is None and acc_steps > 1:
            # A stream: one batch of look-ahead says which batch ends its last, shorter group.
            batches = ahead = _LastFlag(batches)
        divisor = acc_steps

        def save_here() -> Optional[Path]:
            """The mid-epoch checkpoint after batch ``i`` (``checkpoint_every_n_steps``, Ctrl-C)."""
            sums = [total, count, seen, correct]
            return self._save_mid_epoch(
                epoch_start, i + 1, sums, classes, time.perf_counter() - start
            )

        for i, batch in enumerate(batches, skip):
            if training_step is not None:
                with self._amp_context():
                    loss = _hooks.loss_of(
                        training_step(self._batch_to_device(batch), i), "training_step"
                    )
                out = target = None
                classes = False
            else:
                loss, out, target = _hooks.loss_triple(self.compute_loss(batch))
            divisor = acc_steps
            if n_batches is not None and acc_steps > 1:
                group_start = i - i % acc_steps
                # The last, shorter group of an epoch averages over the batches it has.
                divisor = min(acc_steps, n_batches - group_start)
            scaled = loss / divisor if divisor != 1 else loss
            pending += 1
            end = pending == divisor or (ahead is not None and ahead.last)
            sync = end or self._no_sync is None
            with contextlib.nullcontext() if sync else self._no_sync():  # type: ignore[misc]
                (scaler.scale(scaled) if scaler is not None else scaled).backward()
            if end:
                if pending != divisor:  # a stream's last group: see _LastFlag
                    self._rescale_grads(divisor / pending)
                self._optimizer_step()
                pending = 0
            value = loss.item()
            if isinstance(target, Tensor):
                n = int(target.shape[0])
            else:
                n = _batch_size_of(batch) if training_step is not None or target is None else 1
            total += value
            count += 1
            seen += n
            if classes:
                if out is not None and _is_class_target(out, target):
                    correct += int((out.detach().argmax(dim=1) == target).sum().item())
                else:
                    classes = False
            if bar is not None:
                bar.update(1)
                if count % 10 == 0 or count == 1:
                    rate = seen / max(time.perf_counter() - start, 1e-9)
                    postfix = {"loss": f"{total / count:.4f}", "samples/s": f"{rate:,.0f}"}
                    bar.set_postfix(postfix, refresh=count == 1)
            if batch_cbs:
                logs = {"loss": value, "size": n, "step": self.global_step}
                for cb in batch_cbs:
                    cb.on_batch_end(self, i, logs)
            if per_step and pending == 0:
                self._writer.poll()  # a background write's failure surfaces here
                if notes is not None:
                    notes.step(self.global_step, epoch)
                if every_n is not None and self.global_step % every_n == 0:
                    save_here()
            if guard is not None and pending == 0:
                asked = guard.requested
                if multi:
                    # Every rank must stop after the same step: agree every few steps (one
                    # all-reduce costs ~10 us, too much for every small step).
                    asked = self.global_step % _SIGINT_SYNC_STEPS == 0 and self._any_rank(asked)
                if asked:
                    if bar is not None:
                        bar.close()
                    self._save_interrupted(save_here)
                    raise _InterruptedError
        if pending:  # a loader that yielded fewer batches than its len(): apply what is left
            self._rescale_grads(divisor / pending)
            self._optimizer_step()
        elapsed = time.perf_counter() - start
        if bar is not None:
            bar.close()
        g_total, g_count, g_seen, g_correct = self._global_sums([total, count, seen, correct])
        if g_count == 0 and skip == 0:
            # An epoch of no batches has no loss: a mistake (an empty dataset, or fewer
            # samples than batch_size with drop_last=True) worth stopping on, not a loss of 0.
            raise InvalidValueError(
                "Trainer.fit: the training loader yielded no batches; check that the dataset "
                "is not empty and holds at least one batch (batch_size, drop_last)"
            )
        metrics = {"loss": g_total / max(g_count, 1)}
        if classes and g_seen:
            metrics["accuracy"] = g_correct / g_seen
        metrics["throughput"] = g_seen / elapsed if elapsed > 0 else float("inf")
        metrics["time"] = elapsed
        return metrics

    def _any_rank(self, flag: bool) -> bool:
        w = self._world if self._world is not None else _ranks.current()
        if w is None or not hasattr(w, "any_rank"):
            return flag
        return bool(w.any_rank(flag))

    def _save_epoch_end(self) -> None:
        """After Ctrl-C between epochs: the epoch's checkpoint (written now unless the
        checkpoint callback just wrote it)."""
        self.interrupted = True
        ckpt = self._checkpointer or next(
            (c for c in self.callbacks if isinstance(c, ModelCheckpoint)), None
        )
        if ckpt is None or not self.is_main or _memory.zero_stage_of(self.model):
            return  # (under ZeRO only the epoch-end checkpoints, written by every rank)
        name = f"epoch_{self.epoch:04d}.safetensors"
        if ckpt.last_path is not None and ckpt.last_path.name == name:
            self.interrupt_checkpoint = ckpt.last_path
        else:
            self.interrupt_checkpoint = ckpt.save(self, name)

    def _save_interrupted(self, save_here: Callable[[], Optional[Path]]) -> None:
        """After Ctrl-C: a checkpoint at this step (rank 0, into the run's checkpoint folder,
        written by ``save_here``) that a resume continues from the next batch of this epoch."""
        self.interrupted = True
        path = save_here()
        if path is not None:
            self.interrupt_checkpoint = path

    def _save_mid_epoch(
        self,
        loader_state: Any,
        batch: int,
        sums: list[float],
        classes: bool,
        elapsed: float,
    ) -> Optional[Path]:
        """A checkpoint at this step (rank 0, into the run's checkpoint folder) that a resume
        continues from the next batch of this epoch: ``checkpoint_every_n_steps`` and
        Ctrl-C write it."""
        ckpt = self._checkpointer or next(
            (c for c in self.callbacks if isinstance(c, ModelCheckpoint)), None
        )
        if ckpt is None or not self.is_main or _memory.zero_stage_of(self.model):
            return None  # (under ZeRO only the epoch-end checkpoints, written by every rank)
        self._partial_state = {
            "batch": batch,
            "sums": [float(v) for v in sums],
            "classes": bool(classes),
            "elapsed": float(elapsed),
            "loader": loader_state,
        }
        try:
            name = f"epoch_{self.epoch:04d}_step_{self.global_step}.safetensors"
            return ckpt.save(self, name)
        finally:
            self._partial_state = None

    def _global_sums(self, values: list[float]) -> list[float]:
        """Sums per-rank counters over all ranks, so that every rank reports metrics of the
        whole dataset rather than of its shard."""
        if self.world_size <= 1:
            return values
        w = self._world if self._world is not None else _ranks.current()
        if w is None or not hasattr(w, "all_reduce"):
            return values
        t = tensor(values, dtype=_core.float64)
        w.all_reduce(t, "sum")
        return [float(v) for v in t.tolist()]

    def _format(self, m: dict[str, Any]) -> str:
        parts = [f"Epoch {m['epoch']}/{self.config.num_epochs}: loss = {m['loss']:.4f}"]
        if "accuracy" in m:
            parts.append(f"accuracy = {m['accuracy'] * 100:.2f}%")
        if "val_loss" in m:
            parts.append(f"val_loss = {m['val_loss']:.4f}")
        if "val_accuracy" in m:
            parts.append(f"val_accuracy = {m['val_accuracy'] * 100:.2f}%")
        for k, v in m.items():  # what a model's validation_step returned besides its loss
            if k.startswith("val_") and k not in ("val_loss", "val_accuracy") and _is_num(v):
                parts.append(f"{k} = {v:.4g}")
        parts.append(f"lr = {m['lr']:.3g}")
        parts.append(f"throughput = {m['throughput']:,.0f} samples/s")
        return "  ".join(parts)


def train_with_config(
    model: Any,
    data: Any,
    config: Optional[TrainingConfig] = None,
    loss_fn: Optional[Callable[[Any, Any], Tensor]] = None,
    callbacks: Sequence[Callback] = (),
    resume_from: Optional[PathLike] = None,
    allow_unverified: bool = False,
) -> Trainer:
    """The seed's ``train_with_config(model, data, config)``; returns the ``Trainer`` (its
    ``history`` holds the metrics).

    ``data`` is one of: a ``(train, val)`` pair (each a ``Dataset``, ``DataLoader``, ``(x, y)``
    tensor pair, or ``val=None``); a ``Dataset``, of which ``config.val_fraction`` is held out
    for validation (``random_split`` seeded with ``config.seed``); a ``DataLoader`` (no
    validation); or an ``(x, y)`` pair of tensors, treated as one dataset.
    """
    # A dict of fields or a .toml/.json path, as Trainer takes (not an AttributeError later).
    config = _as_config(config) or TrainingConfig()
    train, val = _resolve_data(data, config)
    trainer = Trainer(model, config, loss_fn=loss_fn, callbacks=callbacks)
    trainer.fit(train, val, resume_from=resume_from, allow_unverified=allow_unverified)
    return trainer


def _resolve_data(data: Any, config: TrainingConfig) -> tuple[Any, Any]:
    arrays = (
        isinstance(data, tuple)
        and bool(data)
        and all(isinstance(t, (Tensor, np.ndarray)) for t in data)
    )
    if isinstance(data, tuple) and len(data) == 2 and not arrays:
        return data[0], data[1]
    if arrays and any(isinstance(t, np.ndarray) for t in data):
        # Else (x, y) of arrays would be read as (train, val), each "batch" one row.
        raise ArgumentTypeError(
            "the data is a tuple of NumPy arrays; convert them to tensors first: "
            "(dm.from_numpy(x), dm.from_numpy(y)), or TensorDataset of those"
        )
    if arrays:
        data = TensorDataset(*data)
    if isinstance(data, Dataset) and config.val_fraction > 0:
        train, val = random_split(data, [1 - config.val_fraction, config.val_fraction], config.seed)
        return train, val
    return data, None
