"""``nn.utils.rnn``: PyTorch's helpers for batches of sequences of different lengths:
``pad_sequence`` (collate functions use it), ``pack_padded_sequence``/``pack_sequence`` into a
``PackedSequence``, which ``nn.RNN``/``LSTM``/``GRU`` take (each sequence's state stops at its
own last step), and ``pad_packed_sequence`` back. All differentiable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Optional

import numpy as np

from .. import _core
from .._core import Tensor
from ..errors import InvalidValueError, ShapeError
from . import functional as F

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpack_sequence",
    "unpad_sequence",
]


class _LengthsShapeError(ShapeError, IndexError):
    """``lengths`` that are not 1-D (PyTorch raises ``RuntimeError`` or, unsorted, an
    ``IndexError`` from ``index_select``; this is both)."""


def pad_sequence(
    sequences: Sequence[Tensor],
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> Tensor:
    """Stacks tensors of shape ``[L_i, *]`` into ``[L_max, B, *]`` (``[B, L_max, *]`` with
    ``batch_first``), filling with ``padding_value`` on the ``padding_side``; differentiable."""
    if padding_side not in ("right", "left"):
        raise InvalidValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    seqs = list(sequences)
    if not seqs:
        raise InvalidValueError("pad_sequence: received an empty list of sequences")
    for s in seqs:
        if s.ndim == 0:  # PyTorch's RuntimeError, not an accidental IndexError
            raise ShapeError("pad_sequence: every sequence needs a length dimension; got a 0-d one")
    # As PyTorch, the result has the first sequence's dtype; the others are cast to it.
    dtype = seqs[0].dtype
    seqs = [s if s.dtype == dtype else s.to(dtype=dtype) for s in seqs]
    trailing = tuple(seqs[0].shape[1:])
    for s in seqs:
        if tuple(s.shape[1:]) != trailing:
            raise ShapeError(
                f"pad_sequence: trailing dimensions differ: {trailing} and {tuple(s.shape[1:])}"
            )
    longest = max(int(s.shape[0]) for s in seqs)
    padded = []
    for s in seqs:
        extra = longest - int(s.shape[0])
        if extra:
            pads = [0, 0] * len(trailing) + ([0, extra] if padding_side == "right" else [extra, 0])
            s = F.pad(s, tuple(pads), value=padding_value)
        padded.append(s)
    out = _core.stack(padded, 0)
    return out if batch_first else out.transpose(0, 1)


# ---- packed sequences ---------------------------------------------------------------------------


class _PackedFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Optional[Tensor] = None
    unsorted_indices: Optional[Tensor] = None


class PackedSequence(_PackedFields):
    """PyTorch's ``PackedSequence``: the time steps of a batch of sequences sorted by length
    (longest first), concatenated step by step (``data``: ``[sum(lengths), *]``), with the
    number of sequences still running at each step (``batch_sizes``, int64 on the CPU) and
    the permutations to and from the caller's batch order (``None`` when it was sorted).
    Built from ``sorted_indices`` alone, ``unsorted_indices`` is its inverse, as in PyTorch."""

    __slots__ = ()

    def __new__(
        cls,
        data: Tensor,
        batch_sizes: Tensor,
        sorted_indices: Optional[Tensor] = None,
        unsorted_indices: Optional[Tensor] = None,
    ) -> PackedSequence:
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        return self._replace(data=self.data.to(*args, **kwargs))

    def cpu(self) -> PackedSequence:
        return self._replace(data=self.data.cpu())

    def cuda(self, *args: Any, **kwargs: Any) -> PackedSequence:
        return self._replace(data=self.data.cuda(*args, **kwargs))

    @property
    def is_cuda(self) -> bool:
        return bool(self.data.is_cuda)

    def is_pinned(self) -> bool:
        return bool(self.data.is_pinned())

    # PyTorch's dtype shorthands: they convert ``data`` only (``batch_sizes`` stays int64).
    def double(self) -> PackedSequence:
        return self._replace(data=self.data.double())

    def float(self) -> PackedSequence:
        return self._replace(data=self.data.float())

    def half(self) -> PackedSequence:
        return self._replace(data=self.data.half())

    def long(self) -> PackedSequence:
        return self._replace(data=self.data.long())

    def int(self) -> PackedSequence:
        return self._replace(data=self.data.int())


def _lengths_array(lengths: Any) -> np.ndarray:
    if isinstance(lengths, Tensor):
        lengths = lengths.detach().cpu().numpy()
    arr = np.asarray(lengths, dtype=np.int64)
    if arr.ndim != 1:
        raise _LengthsShapeError(
            f"'lengths' argument should be a 1D CPU int64 tensor, but got {arr.ndim}D lengths"
        )
    if arr.size and arr.min() <= 0:
        raise InvalidValueError("Length of all samples has to be greater than 0")
    return arr


def _index(values: np.ndarray, device: Any) -> Tensor:
    t = _core.from_numpy(np.ascontiguousarray(values, dtype=np.int64))
    return t if device is None or device.type == "cpu" else t.to(device)


def pack_padded_sequence(
    input: Tensor, lengths: Any, batch_first: bool = False, enforce_sorted: bool = True
) -> PackedSequence:
    """Packs a padded batch ``[T, B, *]`` (``[B, T, *]`` with ``batch_first``) whose sequence
    ``b`` has ``lengths[b]`` valid steps; differentiable. With ``enforce_sorted`` the lengths
    must be in decreasing order; without it the batch is sorted here and the permutation
    recorded."""
    n = _lengths_array(lengths)
    x = input.transpose(0, 1) if batch_first else input
    if x.ndim < 2 or n.size != x.shape[1]:
        raise ShapeError(
            f"pack_padded_sequence: {n.size} lengths for a batch of "
            f"{x.shape[1] if x.ndim > 1 else 0} sequences"
        )
    if n.size and n.max() > x.shape[0]:
        raise ShapeError(
            f"pack_padded_sequence: a length of {int(n.max())} exceeds the {x.shape[0]} steps"
        )
    if enforce_sorted:
        if np.any(np.diff(n) > 0):
            raise InvalidValueError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                "pack_sequence to sidestep this requirement if you do not need ONNX "
                "exportability."
            )
        order: Optional[np.ndarray] = None
    else:
        order = np.argsort(-n, kind="stable")
        n = n[order]
        x = x.index_select(1, _index(order, x.device))
    steps = int(n[0]) if n.size else 0
    batch_sizes = np.array([(n > t).sum() for t in range(steps)], dtype=np.int64)
    data = _core.cat([x[t, : int(batch_sizes[t])] for t in range(steps)], 0)
    sorted_idx = None if order is None else _index(order, x.device)
    unsorted_idx = None if order is None else _index(np.argsort(order), x.device)
    return PackedSequence(data, _index(batch_sizes, None), sorted_idx, unsorted_idx)


def _padded(sequence: PackedSequence, total_length: Optional[int], padding_value: float
            ) -> tuple[Tensor, np.ndarray]:  # fmt: skip
    """``[T, B, *]`` in sorted order and the sorted lengths."""
    sizes = sequence.batch_sizes.detach().cpu().numpy().astype(np.int64)
    data = sequence.data
    batch = int(sizes[0]) if sizes.size else 0
    steps = len(sizes) if total_length is None else int(total_length)
    if steps < len(sizes):
        raise InvalidValueError(
            f"Expected total_length to be at least the length of the longest sequence "
            f"({len(sizes)}), got {total_length}"
        )
    rows, offset = [], 0
    trailing = tuple(data.shape[1:])
    for t in range(steps):
        bs = int(sizes[t]) if t < len(sizes) else 0
        row = data[offset : offset + bs]
        offset += bs
        if bs < batch:
            fill = _core.full(
                (batch - bs, *trailing), padding_value, dtype=data.dtype, device=data.device
            )
            row = _core.cat([row, fill], 0) if bs else fill
        rows.append(row)
    lengths = np.array([(sizes > b).sum() for b in range(batch)], dtype=np.int64)
    return _core.stack(rows, 0), lengths


def pad_packed_sequence(
    sequence: PackedSequence,
    batch_first: bool = False,
    padding_value: float = 0.0,
    total_length: Optional[int] = None,
) -> tuple[Tensor, Tensor]:
    """The inverse of ``pack_padded_sequence``: ``(padded, lengths)`` in the caller's batch
    order, padded with ``padding_value`` to the longest sequence (or ``total_length``)."""
    out, lengths = _padded(sequence, total_length, padding_value)
    if sequence.unsorted_indices is not None:
        out = out.index_select(1, sequence.unsorted_indices)
        lengths = lengths[sequence.unsorted_indices.detach().cpu().numpy()]
    if batch_first:
        out = out.transpose(0, 1)
    return out, _index(lengths, None)


def pack_sequence(sequences: Sequence[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Packs a list of ``[L_i, *]`` tensors (longest first unless ``enforce_sorted=False``)."""
    lengths = [int(s.shape[0]) for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpad_sequence(
    padded_sequences: Tensor, lengths: Any, batch_first: bool = False
) -> list[Tensor]:
    """The inverse of ``pad_sequence``: the list of ``[L_i, *]`` sequences in a right-padded
    ``[T, B, *]`` batch (``[B, T, *]`` with ``batch_first``); differentiable. Unlike PyTorch's,
    it leaves ``padded_sequences`` as it was (PyTorch transposes it in place)."""
    n = _lengths_array(lengths)
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    if x.ndim < 2 or n.size != x.shape[0]:
        raise ShapeError(
            f"unpad_sequence: {n.size} lengths for a batch of {x.shape[0] if x.ndim else 0} "
            "sequences"
        )
    if n.size and n.max() > x.shape[1]:
        raise ShapeError(
            f"unpad_sequence: a length of {int(n.max())} exceeds the {x.shape[1]} steps"
        )
    return [x[b, : int(length)] for b, length in enumerate(n)]


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The inverse of ``pack_sequence``: the list of ``[L_i, *]`` sequences, in the order they
    were packed; differentiable."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


def invert_permutation(permutation: Optional[Tensor]) -> Optional[Tensor]:
    """The permutation that undoes ``permutation`` (``None`` stays ``None``): how
    ``unsorted_indices`` follows from ``sorted_indices``."""
    if permutation is None:
        return None
    order = permutation.detach().cpu().numpy().astype(np.int64).reshape(-1)
    if np.sort(order).tolist() != list(range(order.size)):
        raise InvalidValueError("invert_permutation: the input is not a permutation")
    return _index(np.argsort(order), permutation.device)
