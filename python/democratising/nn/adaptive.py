"""``nn.AdaptiveLogSoftmaxWithLoss``: the adaptive softmax of Grave et al. (2016) for large
vocabularies. Frequent classes (below ``cutoffs[0]``) sit in a head softmax beside one entry
per cluster of rarer ones; each cluster has its own smaller softmax behind a projection
whose width shrinks by ``div_value`` per cluster. Parameter names, shapes and results are
PyTorch's, so its ``state_dict`` loads as is; written over differentiable ops, so autograd
needs no backward of its own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .. import _core
from .._core import Tensor
from ..errors import DTypeError, IndexOutOfRangeError, InvalidValueError, ShapeError
from . import functional as F
from .containers import ModuleList, Sequential
from .layers import Linear
from .module import Module

__all__ = ["AdaptiveLogSoftmaxWithLoss"]


def _indices(a: np.ndarray, device: Any) -> Tensor:
    """An int64 index tensor on ``device`` from NumPy."""
    return _core.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).to(device)


class _ASMoutput(NamedTuple):
    """``forward``'s result: each row's target log-probability and their negated mean."""

    output: Tensor
    loss: Tensor


class AdaptiveLogSoftmaxWithLoss(Module):
    """``AdaptiveLogSoftmaxWithLoss(in_features, n_classes, cutoffs, div_value=4.0,
    head_bias=False)``: ``forward(input, target)`` gives ``(output, loss)``; ``log_prob``
    the full ``[N, n_classes]`` log-probabilities, ``predict`` the most likely class."""

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        cutoffs: Sequence[int],
        div_value: float = 4.0,
        head_bias: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        cutoffs = list(cutoffs)
        if not cutoffs:
            raise InvalidValueError("cutoffs should be a sequence of length larger than 0")
        if (
            cutoffs != sorted(cutoffs)
            or len(set(cutoffs)) != len(cutoffs)
            or any(int(c) != c for c in cutoffs)
            or min(cutoffs) <= 0
            or max(cutoffs) > n_classes - 1
        ):
            raise InvalidValueError(
                "cutoffs should be a sequence of unique, positive integers sorted in an "
                "increasing order, where each value is between 1 and n_classes-1"
            )
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = [int(c) for c in cutoffs] + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        kw = {"device": device, "dtype": dtype}
        self.head = Linear(in_features, self.head_size, bias=head_bias, **kw)
        self.tail = ModuleList(
            Sequential(
                Linear(in_features, int(in_features // div_value ** (i + 1)), bias=False, **kw),
                Linear(
                    int(in_features // div_value ** (i + 1)),
                    self.cutoffs[i + 1] - self.cutoffs[i],
                    bias=False,
                    **kw,
                ),
            )
            for i in range(self.n_clusters)
        )

    def reset_parameters(self) -> None:
        self.head.reset_parameters()
        for projection in self.tail:
            for layer in projection:
                layer.reset_parameters()

    def _batched(self, input: Tensor, what: str) -> tuple[Tensor, bool]:
        if input.ndim not in (1, 2) or input.shape[-1] != self.in_features:
            raise ShapeError(
                f"AdaptiveLogSoftmaxWithLoss.{what}(): expected input of shape "
                f"[N, {self.in_features}] or [{self.in_features}], got {list(input.shape)}"
            )
        return (input, True) if input.ndim == 2 else (input.unsqueeze(0), False)

    def forward(self, input_: Tensor, target_: Tensor) -> _ASMoutput:
        # PyTorch names them ``input_`` and ``target_``; keyword calls port unchanged.
        input, target = input_, target_
        if target.ndim == 1:
            if input.ndim != 2 or input.shape[0] != target.shape[0]:
                raise ShapeError(
                    "AdaptiveLogSoftmaxWithLoss: a 1-d target of shape "
                    f"{list(target.shape)} needs a 2-d input with as many rows, got "
                    f"{list(input.shape)}"
                )
        elif target.ndim == 0:
            if input.ndim != 1:
                raise ShapeError(
                    "AdaptiveLogSoftmaxWithLoss: a 0-d target needs a 1-d input, got "
                    f"{list(input.shape)}"
                )
        else:
            raise ShapeError(
                "AdaptiveLogSoftmaxWithLoss: 0-d or 1-d target expected, multi-target not "
                f"supported (got shape {list(target.shape)})"
            )
        x, batched = self._batched(input, "forward")
        raw = np.asarray(target.detach().cpu().numpy())
        if raw.dtype.kind not in "iu":
            # A float target would be truncated to class indices without a word; PyTorch's
            # gather rejects it.
            raise DTypeError(
                "AdaptiveLogSoftmaxWithLoss: expected a target of class indices (int64), got "
                f"{target.dtype}"
            )
        labels = raw.astype(np.int64).reshape(-1)
        if labels.size and (labels.min() < 0 or labels.max() >= self.n_classes):
            raise IndexOutOfRangeError(
                f"Target values should be in [0, {self.n_classes - 1}], but values in range "
                f"[{labels.min()}, {labels.max()}] were found"
            )
        # The head entry each row reads: its own class in the shortlist, else its cluster's.
        cluster = np.searchsorted(self.cutoffs, labels, side="right")
        head_index = np.where(cluster == 0, labels, self.shortlist_size + cluster - 1)
        head_logprob = F.log_softmax(self.head(x), dim=1)
        gather = _indices(head_index.reshape(-1, 1), x.device)
        output = head_logprob.gather(1, gather).squeeze(1)
        for i in range(1, self.n_clusters + 1):
            rows = np.flatnonzero(cluster == i)
            if rows.size == 0:
                continue
            index = _indices(rows, x.device)
            relative = labels[rows] - self.cutoffs[i - 1]
            cluster_logprob = F.log_softmax(self.tail[i - 1](x.index_select(0, index)), dim=1)
            local = cluster_logprob.gather(1, _indices(relative.reshape(-1, 1), x.device))
            output = output.index_add(0, index, local.squeeze(1))
        loss = (-output).mean()
        return _ASMoutput(output if batched else output.squeeze(0), loss)

    def _full_log_prob(self, x: Tensor, head_output: Tensor) -> Tensor:
        """``[N, n_classes]``: the head's shortlist, then each cluster's log-probabilities
        plus its head entry."""
        head_logprob = F.log_softmax(head_output, dim=1)
        parts = [head_logprob[:, : self.shortlist_size]]
        for i, projection in enumerate(self.tail):
            cluster_logprob = F.log_softmax(projection(x), dim=1)
            parts.append(cluster_logprob + head_logprob[:, self.shortlist_size + i].unsqueeze(1))
        return _core.cat(parts, 1)

    def log_prob(self, input: Tensor) -> Tensor:
        """Log-probabilities of every class, ``[N, n_classes]`` (``[n_classes]`` unbatched)."""
        x, batched = self._batched(input, "log_prob")
        out = self._full_log_prob(x, self.head(x))
        return out if batched else out.squeeze(0)

    def predict(self, input: Tensor) -> Tensor:
        """The most likely class of each row: the head's argmax when it is a shortlist class
        (no cluster is evaluated), else the argmax of the full log-probabilities."""
        x, batched = self._batched(input, "predict")
        head_output = self.head(x)
        out = head_output.argmax(dim=1)
        outside = (out >= self.shortlist_size).cpu().numpy()
        if outside.any():
            rows = _indices(np.flatnonzero(outside), x.device)
            full = self._full_log_prob(x.index_select(0, rows), head_output.index_select(0, rows))
            out = out.index_copy(0, rows, full.argmax(dim=1))
        return out if batched else out.squeeze(0)
