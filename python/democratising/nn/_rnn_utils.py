"""``nn.utils.rnn.pad_sequence``: PyTorch's helper for batching sequences of different
lengths (collate functions use it). ``pack_padded_sequence`` and ``PackedSequence`` are not
provided: the recurrent layers here take padded batches."""

from __future__ import annotations

from collections.abc import Sequence

from .. import _core
from .._core import Tensor
from ..errors import ShapeError
from . import functional as F

__all__ = ["pad_sequence"]


def pad_sequence(
    sequences: Sequence[Tensor],
    batch_first: bool = False,
    padding_value: float = 0.0,
    padding_side: str = "right",
) -> Tensor:
    """Stacks tensors of shape ``[L_i, *]`` into ``[L_max, B, *]`` (``[B, L_max, *]`` with
    ``batch_first``), filling with ``padding_value`` on the ``padding_side``; differentiable."""
    if padding_side not in ("right", "left"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    seqs = list(sequences)
    if not seqs:
        raise ValueError("pad_sequence: received an empty list of sequences")
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
