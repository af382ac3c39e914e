"""``TensorBoardLogger``: a ``Trainer`` callback that writes TensorBoard event files.

Why through the ``tensorboard`` package (the optional extra ``tensorboard``): its own event
writer and protocol buffers make files that TensorBoard reads by construction, with no torch or
TensorFlow. (``democratising.utils.tensorboard.SummaryWriter`` is the dependency-free writer
behind PyTorch's API, for scripts that log by hand.) Every epoch it logs each number the epoch
recorded (``loss``, ``val_loss``, ``val_f1``, ``throughput``...) and the learning rate of every
parameter group at step = the epoch; on request the training loss every ``log_every_n_steps``
optimizer steps (step = the global step) and histograms of the weights (and their gradients).
Only rank 0 writes."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

from .._extras import require
from ..errors import InvalidValueError
from .callbacks import Callback

if TYPE_CHECKING:
    from .trainer import Trainer

__all__ = ["TensorBoardLogger"]

PathLike = Union[str, "os.PathLike[str]"]


def _protos() -> tuple[Any, Any, Any]:
    """``(EventFileWriter, Event, Summary)`` from the ``tensorboard`` package."""
    require("tensorboard", "tensorboard", "TensorBoardLogger")
    writer = require(
        "tensorboard.summary.writer.event_file_writer", "tensorboard", "TensorBoardLogger"
    )
    event_pb2 = require("tensorboard.compat.proto.event_pb2", "tensorboard", "TensorBoardLogger")
    summary_pb2 = require(
        "tensorboard.compat.proto.summary_pb2", "tensorboard", "TensorBoardLogger"
    )
    return writer.EventFileWriter, event_pb2.Event, summary_pb2


def _array(t: Any) -> np.ndarray:
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if str(t.dtype).endswith(("bfloat16", "float16")):
        t = t.float()
    return np.asarray(t.numpy(), dtype=np.float64).reshape(-1)


class TensorBoardLogger(Callback):
    """Writes the run's curves for ``tensorboard --logdir``.

    ``log_dir`` defaults to the run folder's ``tensorboard/`` (``runs_dir`` set), else
    ``runs/tensorboard``. ``histograms=True`` adds ``weights/<name>`` (and ``grads/<name>``
    where a gradient exists) each epoch; ``log_every_n_steps`` adds ``train/loss_step``.
    Needs the ``tensorboard`` package (``pip install 'democratising[tensorboard]'``): a missing
    one raises ``MissingExtraError`` here, not at the end of an epoch."""

    order = 50  # after the metric-changing callbacks, before checkpointing

    def __init__(
        self,
        log_dir: Optional[PathLike] = None,
        histograms: bool = False,
        log_every_n_steps: Optional[int] = None,
        bins: int = 30,
    ) -> None:
        self._writer_cls, self._event, self._summary = _protos()
        if log_every_n_steps is not None and log_every_n_steps < 1:
            raise InvalidValueError(f"log_every_n_steps must be >= 1, got {log_every_n_steps}")
        self.log_dir = Path(log_dir) if log_dir is not None else None
        self.histograms, self.log_every_n_steps, self.bins = histograms, log_every_n_steps, bins
        self._writer: Any = None
        if log_every_n_steps is not None:  # only then a per-batch hook
            self.on_batch_end = self._on_batch  # type: ignore[method-assign]

    # ---- writing ---------------------------------------------------------------------------

    def _open(self, trainer: Trainer) -> Any:
        if self._writer is None:
            if self.log_dir is None:
                run = trainer.run_dir
                self.log_dir = run / "tensorboard" if run is not None else Path("runs/tensorboard")
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._writer = self._writer_cls(str(self.log_dir))
        return self._writer

    def _write(self, step: int, values: list[Any]) -> None:
        event = self._event(wall_time=time.time(), step=int(step))
        event.summary.value.extend(values)
        self._writer.add_event(event)

    def _scalar(self, tag: str, value: float) -> Any:
        return self._summary.Summary.Value(tag=tag, simple_value=float(value))

    def _histogram(self, tag: str, values: np.ndarray) -> Any:
        v = values[np.isfinite(values)]
        if v.size == 0:
            v = np.zeros(1)
        counts, edges = np.histogram(v, bins=self.bins)
        histo = self._summary.HistogramProto(
            min=float(v.min()),
            max=float(v.max()),
            num=float(v.size),
            sum=float(v.sum()),
            sum_squares=float((v * v).sum()),
            bucket_limit=[float(e) for e in edges[1:]],
            bucket=[float(c) for c in counts],
        )
        return self._summary.Summary.Value(tag=tag, histo=histo)

    # ---- callback hooks --------------------------------------------------------------------

    def on_train_begin(self, trainer: Trainer) -> None:
        if trainer.is_main:
            self._open(trainer)

    def _on_batch(self, trainer: Trainer, batch: int, logs: dict[str, Any]) -> None:
        step = int(logs["step"])
        if trainer.is_main and step % int(self.log_every_n_steps or 1) == 0:
            self._open(trainer)
            self._write(step, [self._scalar("train/loss_step", logs["loss"])])

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, Any]) -> Optional[bool]:
        if not trainer.is_main:
            return None
        self._open(trainer)
        epoch = int(metrics["epoch"])
        values = [
            self._scalar(k, v)
            for k, v in metrics.items()
            if k not in ("epoch", "lr") and isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
        groups = trainer.optimizer.param_groups
        values.append(self._scalar("lr", groups[0]["lr"]))
        if len(groups) > 1:
            values += [self._scalar(f"lr/group_{i}", g["lr"]) for i, g in enumerate(groups)]
        if self.histograms:
            for name, p in trainer.model.named_parameters():
                values.append(self._histogram(f"weights/{name}", _array(p)))
                if p.grad is not None:
                    values.append(self._histogram(f"grads/{name}", _array(p.grad)))
        self._write(epoch, values)
        self._writer.flush()
        return None

    def on_train_end(self, trainer: Trainer) -> None:
        self.close()

    def close(self) -> None:
        """Flushes and closes the event file (a later epoch opens a new one)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __getstate__(self) -> dict[str, Any]:  # deep copies (tune's trials) share no file
        state = dict(self.__dict__)
        state["_writer"] = None
        return state
