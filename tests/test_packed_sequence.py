"""``nn.utils.rnn`` packing and the recurrent layers on a ``PackedSequence``: each sequence's
outputs and final state equal running that sequence alone, unpadded (the definition of
packing), for LSTM/GRU/RNN, several layers, both directions and an unsorted batch."""

from __future__ import annotations

import numpy as np
import pytest
from democratising.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
)

import democratising as dm
from democratising import nn
from helpers import to_numpy


def test_pack_and_pad_round_trip() -> None:
    seqs = [dm.tensor([[1.0], [2.0], [3.0]]), dm.tensor([[4.0]]), dm.tensor([[5.0], [6.0]])]
    padded = pad_sequence(seqs, batch_first=True)
    packed = pack_padded_sequence(padded, [3, 1, 2], batch_first=True, enforce_sorted=False)
    assert isinstance(packed, PackedSequence)
    assert packed.batch_sizes.tolist() == [3, 2, 1]
    assert packed.data.reshape(-1).tolist() == [1.0, 5.0, 4.0, 2.0, 6.0, 3.0]
    back, lengths = pad_packed_sequence(packed, batch_first=True)
    assert lengths.tolist() == [3, 1, 2]
    np.testing.assert_array_equal(to_numpy(back), to_numpy(padded))
    longer, _ = pad_packed_sequence(packed, total_length=5, padding_value=-1.0)
    assert longer.shape == (5, 3, 1) and longer[4, 0, 0].item() == -1.0
    same = pack_sequence(seqs, enforce_sorted=False)
    assert same.data.reshape(-1).tolist() == packed.data.reshape(-1).tolist()
    with pytest.raises(ValueError, match="enforce_sorted"):
        pack_padded_sequence(padded, [3, 1, 2], batch_first=True)
    with pytest.raises(ValueError, match="greater than 0"):
        pack_padded_sequence(padded, [3, 0, 2], batch_first=True, enforce_sorted=False)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_layers_on_packed_batches_match_each_sequence_alone(
    kind: str, bidirectional: bool
) -> None:
    dm.manual_seed(0)
    rnn = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=bidirectional, batch_first=True)
    lengths = [2, 5, 3]
    seqs = [dm.randn(n, 3, dtype=dm.float64) for n in lengths]
    rnn.double()
    padded = pad_sequence(seqs, batch_first=True)
    packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
    out, state = rnn(packed)
    assert isinstance(out, PackedSequence)
    h_n = state[0] if kind == "LSTM" else state
    unpacked, got_lengths = pad_packed_sequence(out, batch_first=True)
    assert got_lengths.tolist() == lengths
    for b, seq in enumerate(seqs):
        alone, alone_state = rnn(seq.unsqueeze(0))
        alone_h = alone_state[0] if kind == "LSTM" else alone_state
        n = lengths[b]
        np.testing.assert_allclose(to_numpy(unpacked[b, :n]), to_numpy(alone[0]), atol=1e-12)
        np.testing.assert_array_equal(to_numpy(unpacked[b, n:]), 0.0)
        np.testing.assert_allclose(to_numpy(h_n[:, b]), to_numpy(alone_h[:, 0]), atol=1e-12)


def test_packed_input_takes_hx_in_batch_order_and_backpropagates() -> None:
    dm.manual_seed(1)
    lstm = nn.LSTM(2, 3)
    x = dm.randn(4, 2, 2, requires_grad=True)  # [T, B, C]
    h0, c0 = dm.randn(1, 2, 3), dm.randn(1, 2, 3)
    packed = pack_padded_sequence(x, dm.tensor([2, 4]), enforce_sorted=False)
    out, (h_n, _) = lstm(packed, (h0, c0))
    _, (h_alone, _) = lstm(x[:2, :1], (h0[:, :1], c0[:, :1]))
    np.testing.assert_allclose(to_numpy(h_n[:, 0]), to_numpy(h_alone[:, 0]), atol=1e-6)
    pad_packed_sequence(out)[0].sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(to_numpy(x.grad[2:, 0]), 0.0)  # past the first one's end
