"""Sequence models against PyTorch: the fixes from differential testing (``MultiheadAttention``'s
``repr``, PyTorch's error types for RNN dtype and cell state mismatches, ``unpad_sequence``/
``unpack_sequence``/``invert_permutation``, ``PackedSequence`` dtype shorthands) and values
PyTorch 2.x computed for the same deterministic weights (recurrent layers with projections,
packed GRU, ReLU RNN, CTC and sequence cross entropy)."""

from __future__ import annotations

import numpy as np
import pytest
from democratising.nn.utils.rnn import (
    PackedSequence,
    invert_permutation,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
    unpack_sequence,
    unpad_sequence,
)

import democratising as dm
from democratising import nn
from democratising.nn import functional as F
from helpers import to_numpy


def _det(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Deterministic values in [-0.5, 0.5] (the generator of the PyTorch reference values)."""
    n = int(np.prod(shape))
    return (np.sin(np.arange(n) * 0.7 + seed) * 0.5).reshape(shape).astype(np.float32)


def _fill(m: nn.Module) -> None:
    """Every ``state_dict`` entry, in order, set to ``_det`` with its index as the seed."""
    m.load_state_dict(
        {k: dm.tensor(_det(tuple(v.shape), i)) for i, (k, v) in enumerate(m.state_dict().items())}
    )


# ---- reprs -------------------------------------------------------------------------------------


def test_multihead_attention_repr_is_pytorchs() -> None:
    assert repr(nn.MultiheadAttention(8, 2, batch_first=True)) == (
        "MultiheadAttention(\n"
        "  (out_proj): NonDynamicallyQuantizableLinear(in_features=8, out_features=8, bias=True)\n"
        ")"
    )
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    assert "(self_attn): MultiheadAttention(\n    (out_proj): NonDynamically" in repr(layer)
    assert isinstance(layer.self_attn.out_proj, nn.Linear)


# ---- error types -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_rnn_input_dtype_mismatch_raises_value_error_like_pytorch(kind: str) -> None:
    m = getattr(nn, kind)(3, 4).double()
    with pytest.raises(ValueError, match=r"RNN input dtype .*float32.* does not match weight"):
        m(dm.zeros(2, 1, 3))
    with pytest.raises(dm.DTypeError):
        m(dm.zeros(2, 1, 3, dtype=dm.int64))
    out, _ = m(dm.zeros(2, 1, 3, dtype=dm.float64))
    assert out.dtype == dm.float64


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cell_state_and_input_size_errors_name_the_mismatch(kind: str) -> None:
    cell = getattr(nn, kind)(5, 7)

    def state(batch: int, hidden: int) -> object:
        h = dm.zeros(batch, hidden)
        return (h, h) if kind == "LSTMCell" else h

    with pytest.raises(dm.ShapeError, match="hidden0 has inconsistent hidden_size: got 8"):
        cell(dm.zeros(3, 5), state(3, 8))
    with pytest.raises(dm.ShapeError, match="Input batch size 3 doesn't match hidden0 batch"):
        cell(dm.zeros(3, 5), state(4, 7))
    with pytest.raises(dm.ShapeError, match="inconsistent input_size: got 6 expected 5"):
        cell(dm.zeros(3, 6))
    with pytest.raises(RuntimeError):  # PyTorch's type for all three
        cell(dm.zeros(3, 6))


# ---- nn.utils.rnn ------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_first", [False, True])
def test_unpad_sequence_inverts_pad_sequence(batch_first: bool) -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((n, 2)).astype(np.float32) for n in (3, 1, 4)]
    seqs = [dm.tensor(a, requires_grad=True) for a in arrays]
    padded = pad_sequence(seqs, batch_first=batch_first)
    shape = tuple(padded.shape)
    back = unpad_sequence(padded, dm.tensor([3, 1, 4]), batch_first=batch_first)
    assert tuple(padded.shape) == shape  # left as it was (PyTorch transposes it in place)
    assert [tuple(b.shape) for b in back] == [(3, 2), (1, 2), (4, 2)]
    for b, a in zip(back, arrays):
        np.testing.assert_array_equal(to_numpy(b), a)
    sum(((i + 1) * b).sum() for i, b in enumerate(back)).backward()
    for i, s in enumerate(seqs):
        np.testing.assert_array_equal(to_numpy(s.grad), np.full(s.shape, i + 1.0, np.float32))
    with pytest.raises(dm.ShapeError):
        unpad_sequence(padded, [3, 1], batch_first=batch_first)
    with pytest.raises(dm.ShapeError):
        unpad_sequence(padded, [3, 1, 5], batch_first=batch_first)


def test_unpack_sequence_and_invert_permutation() -> None:
    arrays = [np.arange(n, dtype=np.float32).reshape(n, 1) + 10 * n for n in (2, 4, 1)]
    packed = pack_sequence([dm.tensor(a) for a in arrays], enforce_sorted=False)
    back = unpack_sequence(packed)
    assert len(back) == 3
    for b, a in zip(back, arrays):
        np.testing.assert_array_equal(to_numpy(b), a)
    assert packed.sorted_indices.tolist() == [1, 0, 2]
    assert invert_permutation(packed.sorted_indices).tolist() == packed.unsorted_indices.tolist()
    assert invert_permutation(dm.tensor([2, 0, 3, 1])).tolist() == [1, 3, 0, 2]
    assert invert_permutation(None) is None
    with pytest.raises(ValueError, match="not a permutation"):
        invert_permutation(dm.tensor([0, 0, 1]))


def test_packed_sequence_built_from_sorted_indices_alone_inverts_them() -> None:
    packed = pack_sequence([dm.ones(1, 2), 2 * dm.ones(3, 2)], enforce_sorted=False)
    rebuilt = PackedSequence(packed.data, packed.batch_sizes, packed.sorted_indices)
    assert rebuilt.unsorted_indices.tolist() == [1, 0]
    padded, lengths = pad_packed_sequence(rebuilt, batch_first=True)
    assert lengths.tolist() == [1, 3]
    np.testing.assert_array_equal(to_numpy(padded[:, :, 0]), [[1, 0, 0], [2, 2, 2]])
    assert PackedSequence(packed.data, packed.batch_sizes).unsorted_indices is None
    assert type(rebuilt.double()) is PackedSequence


def test_packed_sequence_dtype_shorthands_convert_data_only() -> None:
    packed = pack_sequence([dm.ones(3, 2), dm.ones(1, 2)])
    assert packed.double().data.dtype == dm.float64
    assert packed.double().float().data.dtype == dm.float32
    assert packed.long().data.dtype == dm.int64
    assert packed.half().data.dtype == dm.float16
    assert packed.double().batch_sizes.dtype == dm.int64
    assert packed.is_pinned() is False


# ---- values from PyTorch -----------------------------------------------------------------------


def test_bidirectional_two_layer_lstm_with_projection_matches_pytorch() -> None:
    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, batch_first=True)
    _fill(m)
    out, (h, c) = m(dm.tensor(_det((2, 3, 3), 10)))
    assert tuple(out.shape) == (2, 3, 4) and tuple(h.shape) == (4, 2, 2)
    assert tuple(c.shape) == (4, 2, 4)
    np.testing.assert_allclose(
        to_numpy(out[:, -1]),
        [[-0.164486, 0.085827, -0.150857, 0.100388], [-0.164486, 0.085826, -0.150855, 0.100384]],
        atol=2e-6,
    )
    np.testing.assert_allclose(
        to_numpy(h[:, 0]),
        [[-0.10693, 0.040461], [-0.088811, 0.011748], [-0.164486, 0.085827], [-0.273719, 0.16885]],
        atol=2e-6,
    )
    np.testing.assert_allclose(
        to_numpy(c[3]),
        [
            [-0.437619, -0.582218, -0.419611, 0.079134],
            [-0.437642, -0.582204, -0.419625, 0.079152],
        ],
        atol=2e-6,
    )


def test_gru_on_unsorted_packed_batch_and_relu_rnn_match_pytorch() -> None:
    x = dm.tensor(_det((2, 3, 3), 10))
    gru = nn.GRU(3, 4, batch_first=True)
    _fill(gru)
    _, h = gru(pack_padded_sequence(x, [2, 3], batch_first=True, enforce_sorted=False))
    np.testing.assert_allclose(
        to_numpy(h[0]),
        [[0.475169, 0.38241, -0.056861, -0.03214], [0.209095, 0.56266, 0.089035, -0.135637]],
        atol=2e-6,
    )
    rnn = nn.RNN(3, 4, nonlinearity="relu")
    _fill(rnn)
    np.testing.assert_allclose(
        to_numpy(rnn(x)[1][0]),
        [[0.206405, 0, 0, 0], [1.085558, 0, 0, 0], [1.050017, 0, 0, 0]],
        atol=2e-6,
    )


def test_ctc_and_sequence_cross_entropy_match_pytorch() -> None:
    log_probs = dm.tensor(_det((6, 2, 4), 3)).log_softmax(2)
    targets = dm.tensor([[1, 2, 1], [3, 0, 0]])
    ctc = F.ctc_loss(log_probs, targets, (6, 5), (3, 1), reduction="none")
    np.testing.assert_allclose(to_numpy(ctc), [3.683611, 3.76637], rtol=1e-5)
    logits = dm.tensor(_det((2, 4, 3), 5))  # (N, C, T)
    y = dm.tensor([[0, -100, 3], [2, 1, -100]])
    per_step = F.cross_entropy(logits, y, label_smoothing=0.1, reduction="none")
    np.testing.assert_allclose(
        to_numpy(per_step), [[1.77785, 0.0, 1.385395], [1.951276, 1.780349, 0.0]], rtol=1e-5
    )
    loss = nn.CrossEntropyLoss(label_smoothing=0.1)(logits, y)
    np.testing.assert_allclose(loss.item(), 1.7237177, rtol=1e-5)


# ---- TransformerEncoder: PyTorch's nested-tensor inference result ------------------------------


def _encoder(batch_first: bool = True, norm_first: bool = False, nhead: int = 2) -> nn.Module:
    dm.manual_seed(0)
    layer = nn.TransformerEncoderLayer(
        8, nhead, 16, dropout=0.0, batch_first=batch_first, norm_first=norm_first
    )
    enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8))
    with dm.no_grad():
        enc.norm.bias.fill_(0.25)
    return enc


def test_encoder_inference_zeros_end_padding_like_pytorchs_nested_path() -> None:
    enc = _encoder()
    assert enc.use_nested_tensor
    x = dm.tensor(_det((2, 4, 8), 1))
    kpm = dm.tensor([[False, False, False, False], [False, False, True, True]])
    trained = to_numpy(enc(x, src_key_padding_mask=kpm))  # training mode: no fast path
    enc.eval()
    with dm.no_grad():
        out = to_numpy(enc(x, src_key_padding_mask=kpm))
        # a float mask (-inf at padding) is the same mask
        as_float = dm.zeros(2, 4).masked_fill(kpm, float("-inf"))
        np.testing.assert_allclose(to_numpy(enc(x, src_key_padding_mask=as_float)), out)
    np.testing.assert_allclose(out[1, 2:], np.full((2, 8), 0.25), atol=1e-6)  # norm(0) = bias
    valid = ~to_numpy(kpm)
    np.testing.assert_allclose(out[valid], trained[valid], rtol=1e-5, atol=1e-6)
    assert np.abs(trained[1, 2:] - 0.25).max() > 1e-2  # computed values while training


def test_encoder_keeps_padded_outputs_where_pytorch_has_no_fast_path() -> None:
    x = dm.tensor(_det((2, 4, 8), 1))
    kpm = dm.tensor([[False, False, False, False], [False, False, True, True]])
    enc = _encoder().eval()
    out = to_numpy(enc(x, src_key_padding_mask=kpm))  # gradients enabled: no fast path
    assert np.abs(out[1, 2:] - 0.25).max() > 1e-2
    with dm.no_grad():
        mid = dm.tensor([[False, False, False, False], [True, False, False, True]])
        assert np.abs(to_numpy(enc(x, src_key_padding_mask=mid))[1, 0] - 0.25).max() > 1e-2
        masked = to_numpy(enc(x, mask=dm.zeros(4, 4), src_key_padding_mask=kpm))
        assert np.abs(masked[1, 2:] - 0.25).max() > 1e-2
    for kwargs in ({"batch_first": False}, {"norm_first": True}, {"nhead": 1}):
        assert not _encoder(**kwargs).use_nested_tensor
    off = nn.TransformerEncoder(_encoder().layers[0], 1, enable_nested_tensor=False)
    assert not off.use_nested_tensor


def test_module_list_repr_collapses_runs_of_equal_entries_as_pytorch():
    ml = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)])
    # torch 2.15 prints exactly this.
    assert repr(ml) == (
        "ModuleList(\n"
        "  (0-1): 2 x Linear(in_features=2, out_features=2, bias=True)\n"
        "  (2): ReLU()\n"
        "  (3): Linear(in_features=2, out_features=2, bias=True)\n"
        ")"
    )
    assert repr(nn.ModuleList()) == "ModuleList()"
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 3, enable_nested_tensor=False)
    assert "(0-2): 3 x TransformerEncoderLayer(\n" in repr(enc)
