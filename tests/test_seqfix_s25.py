"""Regression tests for the session-25 sequence fixes: SDPA broadcasting a size-1 dim -3
without ``enable_gqa``, ``F.embedding`` keeping ``inf`` rows with ``padding_idx`` /
``scale_grad_by_freq`` (the gradient scaled by a hook), packed RNNs freezing finished
sequences with ``where`` (no ``inf * 0``), and ``generate_square_subsequent_mask`` following
the default dtype. Expected values are NumPy computations or constants taken from PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from democratising.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import democratising as dm
import democratising.nn.functional as F

# ---- scaled_dot_product_attention -----------------------------------------------------------


def _np_sdpa(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``softmax(q k^T / sqrt(E)) v`` with NumPy broadcasting of the leading dims."""
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    return (scores / scores.sum(-1, keepdims=True)) @ v


def _arrays(*shapes: tuple[int, ...]) -> list[np.ndarray]:
    rng = np.random.default_rng(25)
    return [rng.standard_normal(s) for s in shapes]


@pytest.mark.parametrize(
    ("qs", "ks"),
    [
        ((2, 4, 5), (1, 6, 5)),  # 3-D: dim -3 is a batch dim
        ((3, 2, 4, 5), (3, 1, 6, 5)),  # one key/value head for two query heads
        ((3, 1, 4, 5), (3, 2, 6, 5)),  # one query head for two key/value heads
    ],
)
def test_sdpa_broadcasts_a_size_one_dim_minus_3(qs: tuple[int, ...], ks: tuple[int, ...]) -> None:
    qn, kn, vn = _arrays(qs, ks, ks)
    q, k, v = (dm.tensor(a, dtype=dm.float64, requires_grad=True) for a in (qn, kn, vn))
    out = F.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(out.detach().numpy(), _np_sdpa(qn, kn, vn), rtol=1e-10)
    # The gradient of a broadcast operand sums over the broadcast dim, as with expand.
    shape = np.broadcast_shapes(qs[:-2], ks[:-2])
    weights = dm.tensor(_arrays(out.shape)[0])
    (out * weights).sum().backward()
    qe, ke, ve = (t.detach().clone().requires_grad_(True) for t in (q, k, v))
    expanded = F.scaled_dot_product_attention(
        qe.expand((*shape, *qs[-2:])), ke.expand((*shape, *ks[-2:])), ve.expand((*shape, *ks[-2:]))
    )
    (expanded * weights).sum().backward()
    for a, b in ((q, qe), (k, ke), (v, ve)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_sdpa_routes_only_broadcasting_heads_to_the_composite() -> None:
    q, k1, k2 = (dm.tensor(a) for a in _arrays((1, 4, 3, 8), (1, 1, 5, 8), (1, 2, 5, 8)))
    applies = F._fused_attention_applies
    assert applies(q, k2, k2, None, True)  # GQA stays fused
    assert applies(q, k1, k1, None, True)
    assert applies(q, q, q, None, False)
    assert not applies(q, k1, k1, None, False)  # PyTorch broadcasts: the composite does
    # With enable_gqa a single key head serves every query head: the same as broadcasting.
    np.testing.assert_allclose(
        F.scaled_dot_product_attention(q, k1, k1, enable_gqa=True).numpy(),
        F.scaled_dot_product_attention(q, k1, k1).numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


def test_sdpa_heads_that_cannot_broadcast_still_suggest_gqa() -> None:
    q, k = (dm.tensor(a) for a in _arrays((1, 4, 3, 8), (1, 2, 5, 8)))
    with pytest.raises(dm.ShapeError, match="enable_gqa"):
        F.scaled_dot_product_attention(q, k, k)
    q3, k3 = (dm.tensor(a) for a in _arrays((2, 4, 5), (3, 6, 5)))
    with pytest.raises(dm.ShapeError):
        F.scaled_dot_product_attention(q3, k3, k3)


# ---- Embedding ------------------------------------------------------------------------------


def _table(rows: list[list[float]]) -> dm.Tensor:
    return dm.tensor(np.array(rows, dtype=np.float32), requires_grad=True)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"padding_idx": 0},
        {"padding_idx": 1},
        {"scale_grad_by_freq": True},
        {"padding_idx": -2, "scale_grad_by_freq": True},
    ],
)
def test_embedding_returns_rows_as_stored(kwargs: dict) -> None:
    w = _table([[np.inf, 1.0], [-np.inf, np.nan], [2.0, 3.0]])
    out = F.embedding(dm.tensor([[0, 1], [2, 1]]), w, **kwargs)
    got = out.detach().numpy()
    want = w.detach().numpy()[[[0, 1], [2, 1]]]
    np.testing.assert_array_equal(got, want)  # inf stays inf, NaN stays NaN


def test_nn_embedding_keeps_an_inf_padding_row() -> None:
    emb = dm.nn.Embedding(3, 2, padding_idx=0)
    with dm.no_grad():
        emb.weight.copy_(dm.tensor([[np.inf, 1.0], [2.0, 3.0], [4.0, 5.0]]))
    assert emb(dm.tensor([0, 2])).tolist() == [[np.inf, 1.0], [4.0, 5.0]]


def test_embedding_gradient_is_scaled_and_the_padding_row_zero() -> None:
    w = _table([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    idx = dm.tensor([0, 1, 1, 2, 1])
    out = F.embedding(idx, w, padding_idx=2, scale_grad_by_freq=True)
    out.backward(dm.tensor(np.arange(10.0, dtype=np.float32).reshape(5, 2)))
    # Row 0 once: [0, 1]; row 1 three times: ([2, 3] + [4, 5] + [8, 9]) / 3; row 2 padding.
    np.testing.assert_allclose(w.grad.numpy(), [[0.0, 1.0], [14 / 3, 17 / 3], [0.0, 0.0]])


def test_embedding_padding_row_gradient_stays_zero_under_an_inf_gradient() -> None:
    # PyTorch skips the padding row: an inf upstream gradient gives 0 there, not NaN.
    w = _table([[0.0, 0.0], [1.0, 1.0]])
    out = F.embedding(dm.tensor([0, 1, 0]), w, padding_idx=0, scale_grad_by_freq=True)
    out.backward(dm.tensor(np.full((3, 2), np.inf, dtype=np.float32)))
    assert w.grad.tolist() == [[0.0, 0.0], [np.inf, np.inf]]


def test_embedding_padding_double_backward() -> None:
    # PyTorch: d/dg sum(grad_w^2) for grad_w = embedding_backward(g) with padding row 0.
    w = _table([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    out = F.embedding(dm.tensor([0, 1, 1, 2]), w, padding_idx=0)
    g = dm.tensor(np.arange(8.0, dtype=np.float32).reshape(4, 2), requires_grad=True)
    (gw,) = dm.autograd.grad(out, w, g, create_graph=True)
    assert gw.tolist() == [[0.0, 0.0], [6.0, 8.0], [6.0, 7.0]]
    (gg,) = dm.autograd.grad((gw * gw).sum(), g)
    assert gg.tolist() == [[0.0, 0.0], [12.0, 16.0], [12.0, 16.0], [12.0, 14.0]]


def test_embedding_with_grad_disabled_needs_no_hook() -> None:
    w = _table([[np.inf, 1.0], [2.0, 3.0]])
    with dm.no_grad():
        out = F.embedding(dm.tensor([0, 1]), w, padding_idx=0, scale_grad_by_freq=True)
    assert not out.requires_grad
    assert out.tolist() == [[np.inf, 1.0], [2.0, 3.0]]


# ---- packed sequences -----------------------------------------------------------------------


def _overflowing_relu_rnn(num_layers: int) -> dm.nn.RNN:
    rnn = dm.nn.RNN(1, 1, num_layers=num_layers, nonlinearity="relu", bias=False)
    state = {"weight_ih_l0": dm.tensor([[1.0]]), "weight_hh_l0": dm.tensor([[1e20]])}
    for layer in range(1, num_layers):
        state[f"weight_ih_l{layer}"] = dm.tensor([[1.0]])
        state[f"weight_hh_l{layer}"] = dm.tensor([[1.0]])
    rnn.load_state_dict(state)
    return rnn


def _overflow_input() -> dm.Tensor:
    # The second sequence has length 1: its (discarded) second step is 1e20 * 1e19 = inf.
    x = np.array([[[0.0], [1e19]], [[0.0], [0.0]], [[0.0], [0.0]]], dtype=np.float32)
    return dm.tensor(x, requires_grad=True)


def test_packed_rnn_ignores_an_overflowing_step_after_the_end() -> None:
    # Constants from PyTorch 2.x (float32): the short sequence keeps h = 1e19 in both layers,
    # and every gradient stays finite.
    rnn = _overflowing_relu_rnn(2)
    x = _overflow_input()
    out, h_n = rnn(pack_padded_sequence(x, [3, 1]))
    big = float(np.float32(1e19))
    assert out.data.tolist() == [[0.0], [big], [0.0], [0.0]]
    assert h_n.tolist() == [[[0.0], [big]], [[0.0], [big]]]
    (out.data.sum() + h_n.sum()).backward()
    assert x.grad.tolist() == [[[0.0], [3.0]], [[0.0], [0.0]], [[0.0], [0.0]]]
    grads = [p.grad.tolist() for p in rnn.parameters()]
    want = [[[2.9999998842007716e19]], [[0.0]], [[1.9999999961012896e19]], [[0.0]]]
    np.testing.assert_allclose(np.array(grads).reshape(-1), np.array(want).reshape(-1))


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_packed_run_matches_each_sequence_run_alone(mode: str) -> None:
    dm.manual_seed(7)
    net = getattr(dm.nn, mode)(3, 4, num_layers=2, bidirectional=True)
    lengths = [5, 3, 1]
    x = dm.tensor(np.random.default_rng(1).standard_normal((5, 3, 3)), dtype=dm.float32)
    with dm.no_grad():
        out, h_n = net(pack_padded_sequence(x, lengths))
    padded, got_lengths = pad_packed_sequence(out)
    assert got_lengths.tolist() == lengths
    h_n = h_n if isinstance(h_n, tuple) else (h_n,)
    for b, n in enumerate(lengths):
        with dm.no_grad():
            alone, h_alone = net(x[:n, b : b + 1])
        h_alone = h_alone if isinstance(h_alone, tuple) else (h_alone,)
        np.testing.assert_allclose(padded[:n, b].numpy(), alone[:, 0].numpy(), atol=1e-6)
        assert not padded[n:, b].numpy().any()  # pad_packed_sequence pads with zeros
        for h, ha in zip(h_n, h_alone):
            np.testing.assert_allclose(h[:, b].numpy(), ha[:, 0].numpy(), atol=1e-6)


# ---- Transformer ----------------------------------------------------------------------------


@pytest.mark.parametrize("default", [dm.float32, dm.float64])
def test_square_subsequent_mask_dtype(default: dm.dtype) -> None:
    old = dm.get_default_dtype()
    dm.set_default_dtype(default)
    try:
        mask = dm.nn.Transformer.generate_square_subsequent_mask(3)
        half = dm.nn.Transformer.generate_square_subsequent_mask(2, dtype=dm.float16)
    finally:
        dm.set_default_dtype(old)
    assert mask.dtype == default
    assert mask.tolist() == [[0.0, -np.inf, -np.inf], [0.0, 0.0, -np.inf], [0.0, 0.0, 0.0]]
    assert half.dtype == dm.float16
    assert half.tolist() == [[0.0, -np.inf], [0.0, 0.0]]
