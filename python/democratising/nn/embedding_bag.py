"""``F.embedding_bag`` and the layer ``EmbeddingBag``: the sum, mean or max of bags of
embedding rows, without materialising the per-index embeddings' layout (a composite of
``index_select``, ``index_add`` and a masked ``max`` over engine tensors)."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad
from .._tensor_extra import _takes_tensor
from ..errors import (
    DTypeError,
    IndexOutOfRangeError,
    InvalidValueError,
    ShapeError,
    _AssertedValueError,
)
from . import functional as F
from ._factory import to_factory
from ._layer_common import _changed_options
from .module import Module
from .sparse import Embedding, _table

__all__ = ["EmbeddingBag", "embedding_bag"]

_MODES = ("sum", "mean", "max")


def _host_ints(t: Tensor, what: str) -> np.ndarray:
    if t.dtype not in (_core.int64, _core.int32):
        raise DTypeError(f"embedding_bag: {what} must be int64 or int32, got {t.dtype}")
    return np.asarray(t.detach().cpu().numpy(), dtype=np.int64)


def _bag_bounds(
    offsets: np.ndarray, length: int, include_last_offset: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Each bag's ``[start, end)`` in the flat input, as PyTorch reads ``offsets``."""
    if offsets.size and offsets[0] != 0:
        raise InvalidValueError(
            "offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start "
            f"from position 0. However, got {int(offsets[0])}"
        )
    if offsets.size and offsets[-1] > length:
        raise IndexOutOfRangeError(
            f"offsets[-1] can not be greater than input's length {length} but got "
            f"offsets[-1] of {int(offsets[-1])}"
        )
    if np.any(np.diff(offsets) < 0):
        raise InvalidValueError(f"embedding_bag: offsets must not decrease, got {offsets.tolist()}")
    if include_last_offset:
        if offsets.size == 0:
            raise InvalidValueError("include_last_offset: number of offset should be at least 1")
        return offsets[:-1], offsets[1:]
    if offsets.size == 0:
        return offsets, offsets
    return offsets, np.append(offsets[1:], length)


@_takes_tensor
def embedding_bag(
    input: Tensor,
    weight: Tensor,
    offsets: Optional[Tensor] = None,
    max_norm: Optional[float] = None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights: Optional[Tensor] = None,
    include_last_offset: bool = False,
    padding_idx: Optional[int] = None,
) -> Tensor:
    """``[B, embedding_dim]``: the ``mode`` ("sum", "mean" or "max") of the rows of ``weight``
    in each bag. A 2-D ``input [B, L]`` is ``B`` bags of ``L`` indices (``offsets`` must then be
    ``None``); a 1-D ``input`` is split into bags starting at ``offsets`` (with
    ``include_last_offset`` the last offset ends the last bag). ``per_sample_weights`` (same
    shape as ``input``, ``mode="sum"`` only) scales each row; indices equal to ``padding_idx``
    are left out of their bag; an empty bag gives zeros. Gradients reach ``weight`` and
    ``per_sample_weights``. ``max_norm`` first rescales, in place and without gradient, every
    row the input refers to whose ``norm_type`` norm exceeds it (as ``F.embedding``);
    ``scale_grad_by_freq`` divides each row's gradient by its count in the whole input (not
    with ``mode="max"``). ``sparse`` is accepted and gives a dense gradient."""
    del sparse
    if per_sample_weights is not None and tuple(input.shape) != tuple(per_sample_weights.shape):
        raise ShapeError(
            f"embedding_bag: If per_sample_weights ({tuple(per_sample_weights.shape)}) is not "
            f"None, then it must have the same shape as the input ({tuple(input.shape)})"
        )
    if weight.ndim != 2:
        raise ShapeError(f"weight has to be a 2D Tensor, but got Tensor of dimension {weight.ndim}")
    if input.ndim == 2:
        if offsets is not None:
            raise InvalidValueError(
                "if input is 2D, then offsets has to be None, as input is treated is a "
                "mini-batch of fixed length sequences. However, found offsets of type "
                f"{type(offsets)}"
            )
        rows, width = input.shape
        flat_offsets = np.arange(rows, dtype=np.int64) * width
        include_last_offset = False
        idx = _host_ints(input, "input").reshape(-1)
    elif input.ndim == 1:
        if offsets is None:
            raise InvalidValueError("offsets has to be a 1D Tensor but got None")
        if offsets.ndim != 1:
            raise ShapeError("offsets has to be a 1D Tensor")
        flat_offsets = _host_ints(offsets, "offsets")
        idx = _host_ints(input, "input")
    else:
        raise ShapeError(
            f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.ndim}"
        )
    if mode not in _MODES:
        raise InvalidValueError("mode has to be one of sum, mean or max")
    if mode == "max" and scale_grad_by_freq:
        raise InvalidValueError("max mode does not support scaling the gradient by the frequency")
    if per_sample_weights is not None and mode != "sum":
        raise InvalidValueError(
            "embedding_bag: per_sample_weights was not None. per_sample_weights is only "
            f"supported for mode='sum' (got mode='{mode}')"
        )
    if per_sample_weights is not None and per_sample_weights.dtype != weight.dtype:
        raise DTypeError(
            f"embedding_bag: per_sample_weights ({per_sample_weights.dtype}) must have the "
            f"weight's dtype ({weight.dtype})"
        )
    n_rows, dim = weight.shape
    if padding_idx is not None:
        if not -n_rows <= padding_idx < n_rows:
            raise IndexOutOfRangeError(
                f"padding_idx must be within the number of embeddings, {-n_rows} through "
                f"{n_rows - 1}, but got {padding_idx}"
            )
        padding_idx %= n_rows
    bad = (idx < 0) | (idx >= n_rows)
    if bad.any():
        at = int(np.argmax(bad))
        raise IndexOutOfRangeError(
            f"Index {at} of input takes value {int(idx[at])} which is not in the valid range "
            f"[0, {n_rows})"
        )
    starts, ends = _bag_bounds(flat_offsets, idx.size, include_last_offset)
    if max_norm is not None:  # after every check, so that bad input leaves weight untouched
        F._embedding_renorm(weight, idx, max_norm, norm_type)
    # PyTorch counts each row over the whole input, padding and all
    freq = np.bincount(idx, minlength=n_rows) if scale_grad_by_freq else None
    bags = len(starts)
    bag_of = np.repeat(np.arange(bags), ends - starts)
    # the bags are consecutive runs of the input, so their entries are one range
    position = np.arange(starts[0], ends[-1], dtype=np.int64) if bags else np.zeros(0, np.int64)
    if padding_idx is not None:
        keep = idx[position] != padding_idx
        bag_of, position = bag_of[keep], position[keep]
    return _reduce_bags(weight, idx, per_sample_weights, mode, bags, dim, bag_of, position, freq)


def _reduce_bags(
    weight: Tensor,
    idx: np.ndarray,
    per_sample_weights: Optional[Tensor],
    mode: str,
    bags: int,
    dim: int,
    bag_of: np.ndarray,
    position: np.ndarray,
    freq: Optional[np.ndarray] = None,
) -> Tensor:
    """The bags' ``mode`` over the kept entries: entry ``j`` is input position
    ``position[j]`` in bag ``bag_of[j]`` (both in bag order). With ``freq`` (each row's count
    in the input) the gradient reaching a row through an entry is divided by that count."""
    device = weight.device

    def on_device(a: np.ndarray) -> Tensor:
        return _core.from_numpy(np.ascontiguousarray(a, dtype=np.int64)).to(device)

    rows = weight.index_select(0, on_device(idx[position]))
    if freq is not None and rows.requires_grad:
        # a hook, so that the forward values (and per_sample_weights' gradient) are untouched
        inv = _core.from_numpy(1.0 / freq[idx[position]].reshape(-1, 1))
        inv = inv.to(device=device, dtype=weight.dtype)
        rows.register_hook(lambda grad: grad * inv)
    out = _core.zeros(bags, dim, dtype=weight.dtype, device=device)
    if mode == "max":
        if position.size == 0:  # zeros that still lead back to weight, as PyTorch's do
            return out.index_add(0, on_device(bag_of), rows)
        counts = np.bincount(bag_of, minlength=bags)
        widest = int(counts.max())
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        slot = np.arange(position.size) - first[bag_of]  # place of each entry in its bag
        grid = np.zeros((bags, widest), dtype=np.int64)
        grid[bag_of, slot] = np.arange(position.size)
        filled = np.zeros((bags, widest), dtype=bool)
        filled[bag_of, slot] = True
        gathered = rows.index_select(0, on_device(grid.reshape(-1))).reshape(bags, widest, dim)
        empty = _core.from_numpy(np.ascontiguousarray(~filled)).to(device).unsqueeze(-1)
        best = gathered.masked_fill(empty, -math.inf).max(1).values
        has_any = _core.from_numpy(np.ascontiguousarray(counts > 0)).to(device).unsqueeze(-1)
        return best.masked_fill(~has_any, 0.0)
    if per_sample_weights is not None:
        psw = per_sample_weights.reshape(-1).index_select(0, on_device(position))
        rows = rows * psw.unsqueeze(-1)
    counts = np.bincount(bag_of, minlength=bags)
    if _uniform_bags(counts, weight):
        out = _sum_uniform_bags(rows, bags, int(counts[0]), dim)
    else:
        out = out.index_add(0, on_device(bag_of), rows)
    if mode == "mean":
        counts = counts.clip(min=1).astype(np.float64)
        div = _core.from_numpy(counts).to(device=device, dtype=weight.dtype)
        out = out / div.unsqueeze(-1)
    return out


_MAX_UNIFORM_BAG = 64  # widest bag summed by slot adds (one engine op per slot)


def _uniform_bags(counts: np.ndarray, weight: Tensor) -> bool:
    """Whether every bag holds the same, small number of entries (a 2-D input without
    padding), so that the bags are the rows of a ``[bags, count, dim]`` view."""
    return (
        counts.size > 0
        and 0 < int(counts[0]) <= _MAX_UNIFORM_BAG
        and bool((counts == counts[0]).all())
        and weight.dtype.is_floating_point
    )


def _sum_uniform_bags(rows: Tensor, bags: int, count: int, dim: int) -> Tensor:
    """The bags' sums as ``count`` adds of ``[bags, dim]`` slices, in entry order from ``+0.0``:
    bit for bit ``index_add``'s sums (``-0.0`` alone sums to ``+0.0`` there too), at a tenth of
    its cost; the backward is slice gradients, not another scatter."""
    grid = rows.reshape(bags, count, dim)
    out = grid.select(1, 0) + 0.0
    for slot in range(1, count):
        out = out + grid.select(1, slot)
    return out


class EmbeddingBag(Module):
    """``weight [num_embeddings, embedding_dim]`` initialised N(0, 1) (row ``padding_idx``
    zero), reduced per bag by ``F.embedding_bag`` with the layer's ``mode``; PyTorch's
    signature and ``repr``."""

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        max_norm: Optional[float] = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        _weight: Optional[Tensor] = None,
        include_last_offset: bool = False,
        padding_idx: Optional[int] = None,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        """``max_norm`` renormalises the referenced rows in place on each call;
        ``scale_grad_by_freq`` divides each row's gradient by its count in the input (refused
        by ``forward`` with ``mode="max"``, as in PyTorch); ``sparse=True`` gives dense
        gradients."""
        super().__init__()
        if mode not in _MODES:
            raise InvalidValueError("mode has to be one of sum, mean or max")
        if padding_idx is not None:
            if padding_idx > 0 and padding_idx >= num_embeddings:
                raise _AssertedValueError("padding_idx must be within num_embeddings")
            if padding_idx < 0:
                if padding_idx < -num_embeddings:
                    raise _AssertedValueError("padding_idx must be within num_embeddings")
                padding_idx += num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.mode, self.sparse = scale_grad_by_freq, mode, sparse
        self.include_last_offset, self.padding_idx = include_last_offset, padding_idx
        self.weight = _table(
            num_embeddings,
            embedding_dim,
            padding_idx,
            _weight,
            "Shape of weight does not match num_embeddings and embedding_dim",
        )
        to_factory(self, device, dtype)

    def reset_parameters(self) -> None:
        """Redraws ``weight`` from N(0, 1), row ``padding_idx`` zero."""
        with no_grad():
            self.weight.normal_()
        self._fill_padding_idx_with_zero()

    # One helper for both lookup tables (the same ``weight``/``padding_idx``).
    _fill_padding_idx_with_zero = Embedding._fill_padding_idx_with_zero

    def forward(
        self,
        input: Tensor,
        offsets: Optional[Tensor] = None,
        per_sample_weights: Optional[Tensor] = None,
    ) -> Tensor:
        return embedding_bag(
            input,
            self.weight,
            offsets,
            self.max_norm,
            self.norm_type,
            self.scale_grad_by_freq,
            self.mode,
            self.sparse,
            per_sample_weights,
            self.include_last_offset,
            self.padding_idx,
        )

    def extra_repr(self) -> str:
        options = (("max_norm", None), ("norm_type", 2), ("scale_grad_by_freq", False))
        s = f"{self.num_embeddings!r}, {self.embedding_dim!r}"
        s += _changed_options(self, options, use_repr=True) + f", mode={self.mode!r}"
        return s + _changed_options(self, (("padding_idx", None),), use_repr=True)

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Tensor,
        freeze: bool = True,
        max_norm: Optional[float] = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        include_last_offset: bool = False,
        padding_idx: Optional[int] = None,
    ) -> EmbeddingBag:
        """An ``EmbeddingBag`` whose weight is the 2-D ``embeddings`` (shared, not copied),
        frozen unless ``freeze=False`` (PyTorch)."""
        if embeddings.ndim != 2:
            raise ShapeError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = embeddings.shape
        bag = cls(
            rows,
            cols,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            mode=mode,
            sparse=sparse,
            _weight=embeddings,
            include_last_offset=include_last_offset,
            padding_idx=padding_idx,
        )
        bag.weight.requires_grad = not freeze
        return bag
