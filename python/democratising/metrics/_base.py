"""The ``Metric`` base class every metric of ``democratising.metrics`` derives from.

Why sufficient statistics: a metric adds each batch into a few sums (a confusion matrix, a
count and a total...), so memory does not grow with the dataset and ranks combine their
shards with one all-reduce of those sums packed into a single float64 vector. ``compute()``
reduces a copy, never the metric's own state, so it may be called repeatedly (collectively,
by every rank, when a world of more than one rank is active). AUROC, which needs every score,
overrides the packing and gathers its scores instead; R2Score, whose means and squared
deviations merge rather than add (``_merge``), gathers every rank's state in its one
all-reduce.
"""

from __future__ import annotations

import abc
import copy
import math
import warnings
from typing import Any

import numpy as np

from .. import _core, _ranks
from .._core import Tensor
from .._tensor_extra import _host
from ..errors import ArgumentTypeError, ShapeError

__all__ = ["Metric", "to_numpy"]


def to_numpy(x: Any, name: str) -> np.ndarray:
    """A NumPy view or copy of a democratising ``Tensor``, a NumPy array, a number or a (nested)
    list; tensors are detached and moved to the CPU (bfloat16/float16 read as float32)."""
    if isinstance(x, Tensor):
        return np.asarray(_host(x))
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch.Tensor
        return np.asarray(x.detach().cpu().numpy())
    if isinstance(x, (int, float, list, tuple, np.generic)):
        try:
            return np.asarray(x)
        except ValueError:
            # NumPy's "inhomogeneous shape" message names no argument: say which one is ragged.
            raise ShapeError(
                f"{name} is a ragged nested list (rows of different lengths); give every row "
                "the same length, or a tensor"
            ) from None
    raise ArgumentTypeError(
        f"{name} must be a democratising Tensor, a NumPy array or a list, got {type(x).__name__}"
    )


def same_length(preds: np.ndarray, target: np.ndarray, what: str) -> None:
    if preds.shape[:1] != target.shape[:1]:
        raise ShapeError(
            f"{what}: preds and target must hold the same number of samples, got shapes "
            f"{preds.shape} and {target.shape}"
        )


class Metric(abc.ABC):
    """Accumulates ``update(preds, target)`` batch by batch; ``compute()`` gives the value over
    everything seen since the last ``reset()``; calling the metric (``metric(preds, target)``)
    updates it and returns the value of that batch alone, as torchmetrics does.

    ``world`` (an object with ``size()`` and ``all_reduce(tensor, op)``, such as
    ``democratising.distributed.World``) makes ``compute()`` sum the statistics of every rank;
    without it the world ``World.init()`` registered is used, when there is one of more than
    one rank. ``sync_on_compute=False`` keeps each rank's own value."""

    #: Whether a larger value is better (``Trainer`` and ``tune`` infer ``mode`` from it).
    higher_is_better: bool = True

    def __init__(self, world: Any = None, sync_on_compute: bool = True) -> None:
        self.world = world
        self.sync_on_compute = sync_on_compute
        self._state = np.zeros(self._state_size(), dtype=np.float64)
        self._updates = 0

    # ---- to override ---------------------------------------------------------------------

    @abc.abstractmethod
    def _state_size(self) -> int:
        """How many float64 statistics the metric keeps."""

    @abc.abstractmethod
    def _batch_state(self, preds: np.ndarray, target: np.ndarray) -> np.ndarray:
        """The batch's statistics, shaped like ``self._state``."""

    @abc.abstractmethod
    def _value(self, state: np.ndarray) -> Any:
        """The metric from (summed) statistics."""

    @abc.abstractmethod
    def _count(self, state: np.ndarray) -> float:
        """How many samples ``state`` holds (0: ``compute`` warns and returns NaN)."""

    def _empty_value(self) -> Any:
        return math.nan

    def _merge(self, state: np.ndarray, batch: np.ndarray) -> np.ndarray:
        """``state`` with ``batch``'s statistics added (sums add; ``R2Score`` overrides it to
        merge means and squared deviations)."""
        return state + batch

    # ---- the public API ------------------------------------------------------------------

    def update(self, preds: Any, target: Any) -> None:
        """Adds a batch: ``preds`` (logits, probabilities, scores or predicted labels, as the
        metric says) and ``target``. An empty batch changes nothing."""
        p = to_numpy(preds, "preds")
        t = to_numpy(target, "target")
        self._state = self._merge(self._state, self._batch_state(p, t))
        self._updates += 1

    def reset(self) -> None:
        """Forgets everything seen."""
        self._state = np.zeros_like(self._state)
        self._updates = 0

    def compute(self) -> Any:
        """The metric over every batch since ``reset()`` (and over every rank, see the class).
        With no sample seen it warns and returns NaN (a confusion matrix: zeros)."""
        state = self._synced(self._state.copy())
        if self._count(state) == 0:
            warnings.warn(
                f"{type(self).__name__}.compute() was called before any sample was seen "
                "(no update, or only empty batches); the result is not defined",
                UserWarning,
                stacklevel=2,
            )
            return self._empty_value()
        return self._value(state)

    def __call__(self, preds: Any, target: Any) -> Any:
        p = to_numpy(preds, "preds")
        t = to_numpy(target, "target")
        batch = self._batch_state(p, t)
        self._state = self._merge(self._state, batch)
        self._updates += 1
        return self._value(batch) if self._count(batch) else self._empty_value()

    def forward(self, preds: Any, target: Any) -> Any:
        """torchmetrics' name for calling the metric."""
        return self(preds, target)

    def clone(self) -> Metric:
        """A fresh copy with the same settings and state."""
        return copy.deepcopy(self)

    @property
    def update_count(self) -> int:
        """How many ``update`` calls since ``reset()``."""
        return self._updates

    # ---- distributed ---------------------------------------------------------------------

    def _world(self) -> Any:
        if not self.sync_on_compute:
            return None
        w = self.world if self.world is not None else _ranks.current()
        if w is None or int(w.size()) <= 1:
            return None
        return w

    def _synced(self, state: np.ndarray) -> np.ndarray:
        """``state`` summed over the ranks with one all-reduce (``state`` itself alone)."""
        w = self._world()
        if w is None:
            return state
        if not hasattr(w, "all_reduce"):
            raise ArgumentTypeError(
                f"{type(self).__name__}: the world {w!r} has no all_reduce(tensor, op)"
            )
        t = _core.from_numpy(np.ascontiguousarray(state))
        w.all_reduce(t, "sum")
        return np.array(t.numpy(), dtype=np.float64, copy=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
