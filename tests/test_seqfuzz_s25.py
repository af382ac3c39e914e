"""Known divergences from PyTorch in the sequence and embedding modules, found by a differential
fuzz against PyTorch 2.x (CPU) in session 25 (RNN/LSTM/GRU and cells, packed sequences,
MultiheadAttention, scaled_dot_product_attention, the transformer layers, Embedding and
EmbeddingBag). Each test states PyTorch's result as a constant and is ``xfail(strict=True)``:
fixing the bug makes it pass, and strictness then asks for the marker to be removed."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F

# ---- scaled_dot_product_attention -----------------------------------------------------------

# torch.nn.functional.scaled_dot_product_attention(q, k, v) for the inputs below.
_SDPA_BROADCAST = [
    [[2.018855571746826, 3.0188558101654053], [2.0942025184631348, 3.0942025184631348]],
    [[2.1692492961883545, 3.1692492961883545], [2.2437596321105957, 3.2437593936920166]],
]


def test_sdpa_broadcasts_size_one_batch_of_3d_keys() -> None:
    # PyTorch broadcasts the leading dims (matmul rules); here the fused op reads dim -3 as
    # heads and raises "2 query heads but 1 key/value heads (pass enable_gqa=True)".
    q = dm.tensor(np.arange(8.0, dtype=np.float32).reshape(2, 2, 2) / 10)
    k = dm.tensor(np.arange(6.0, dtype=np.float32).reshape(1, 3, 2) / 10)
    v = dm.tensor(np.arange(6.0, dtype=np.float32).reshape(1, 3, 2))
    out = F.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(out.numpy(), _SDPA_BROADCAST, rtol=1e-5)


def test_sdpa_broadcasts_size_one_head_dim() -> None:
    q = dm.tensor(np.arange(8.0, dtype=np.float32).reshape(1, 2, 2, 2) / 10)
    k = dm.tensor(np.arange(6.0, dtype=np.float32).reshape(1, 1, 3, 2) / 10)
    out = F.scaled_dot_product_attention(q, k, k * 10)
    np.testing.assert_allclose(out.numpy(), [_SDPA_BROADCAST], rtol=1e-5)


# ---- Embedding ------------------------------------------------------------------------------


def _inf_table() -> dm.Tensor:
    w = dm.tensor(np.array([[0.0, 0.0], [np.inf, 1.0], [2.0, 3.0]], dtype=np.float32))
    w.requires_grad_(True)
    return w


@pytest.mark.parametrize("kwargs", [{"padding_idx": 0}, {"scale_grad_by_freq": True}])
def test_embedding_keeps_inf_rows(kwargs: dict) -> None:
    # PyTorch: [[inf, 1.0], [2.0, 3.0]]; here [[nan, 1.0], [2.0, 3.0]].
    out = F.embedding(dm.tensor([1, 2]), _inf_table(), **kwargs)
    assert out.tolist() == [[np.inf, 1.0], [2.0, 3.0]]


def test_embedding_padding_row_keeps_its_values() -> None:
    # The padding row is returned as stored (PyTorch: [[inf, 1.0]]), only its gradient is zero.
    w = dm.tensor(np.array([[np.inf, 1.0], [2.0, 3.0]], dtype=np.float32))
    w.requires_grad_(True)
    out = F.embedding(dm.tensor([0]), w, padding_idx=0)
    assert out.tolist() == [[np.inf, 1.0]]


# ---- packed sequences -----------------------------------------------------------------------


def test_packed_relu_rnn_final_state_of_short_sequence() -> None:
    # The step after a sequence's end is computed and blended away arithmetically; when it
    # overflows, inf * 0 poisons the kept state. PyTorch: h_n = [[[0.0], [1e19 (float32)]]].
    rnn = dm.nn.RNN(1, 1, nonlinearity="relu", bias=False)
    rnn.load_state_dict(
        {
            "weight_ih_l0": dm.tensor([[1.0]]),
            "weight_hh_l0": dm.tensor([[1e20]]),
        }
    )
    x = dm.tensor(np.array([[[0.0], [1e19]], [[0.0], [0.0]], [[0.0], [0.0]]], dtype=np.float32))
    packed = dm.nn.utils.rnn.pack_padded_sequence(x, [3, 1])
    _, h_n = rnn(packed)
    np.testing.assert_array_equal(
        h_n.detach().numpy(), np.array([[[0.0], [1e19]]], dtype=np.float32)
    )


# ---- Transformer ----------------------------------------------------------------------------


def test_square_subsequent_mask_follows_default_dtype() -> None:
    # PyTorch builds it with torch.full, so under set_default_dtype(float64) it is float64.
    old = dm.get_default_dtype()
    dm.set_default_dtype(dm.float64)
    try:
        mask = dm.nn.Transformer.generate_square_subsequent_mask(3)
    finally:
        dm.set_default_dtype(old)
    assert mask.dtype == dm.float64
