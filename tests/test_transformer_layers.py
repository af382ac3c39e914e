"""Transformer layers (``MultiheadAttention``, ``TransformerEncoderLayer``/``Encoder``,
``TransformerDecoderLayer``/``Decoder``, ``Transformer``), ``RMSNorm``/``F.rms_norm`` and weight
tying, against a NumPy reference written here, with PyTorch's ``state_dict`` keys, gradient flow,
a float64 finite-difference check and typed shape errors."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.checkpoint import load_checkpoint, load_file, save_checkpoint, save_file
from democratising.errors import DTypeError, ShapeError
from democratising.nn import functional as F
from helpers import assert_close, gradcheck, to_numpy

Params = dict[str, np.ndarray]

# ---- NumPy reference -------------------------------------------------------------------------


def f64(a: Any, requires_grad: bool = False) -> dm.Tensor:
    return dm.tensor(np.asarray(a, dtype=np.float64), dtype=dm.float64, requires_grad=requires_grad)


def params_of(module: nn.Module) -> Params:
    return {k: to_numpy(v).astype(np.float64) for k, v in module.state_dict().items()}


def sub(p: Params, prefix: str) -> Params:
    return {k[len(prefix) + 1 :]: v for k, v in p.items() if k.startswith(prefix + ".")}


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def additive(mask: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """MHA's convention: a boolean mask is True where attention is NOT allowed."""
    if mask is None:
        return None
    return np.where(mask, -np.inf, 0.0) if mask.dtype == np.bool_ else mask.astype(np.float64)


def ref_mha(
    query: np.ndarray,
    key: np.ndarray,
    value: np.ndarray,
    p: Params,
    nhead: int,
    attn_mask: Optional[np.ndarray] = None,
    key_padding_mask: Optional[np.ndarray] = None,
    is_causal: bool = False,
    add_zero_attn: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Multi-head attention on ``[L, N, E]`` inputs, one batch element and one head at a time;
    returns the output ``[L, N, E]`` and the per-head weights ``[N, H, L, S]``."""
    length, batch, e = query.shape
    d = e // nhead
    if "in_proj_weight" in p:
        wq, wk, wv = np.split(p["in_proj_weight"], 3)
    else:
        wq, wk, wv = p["q_proj_weight"], p["k_proj_weight"], p["v_proj_weight"]
    bq, bk, bv = np.split(p["in_proj_bias"], 3) if "in_proj_bias" in p else (0.0, 0.0, 0.0)
    out = np.zeros((length, batch, e))
    weights = []
    for n in range(batch):
        q = query[:, n] @ wq.T + bq
        k = key[:, n] @ wk.T + bk
        v = value[:, n] @ wv.T + bv
        extra = 0
        if "bias_k" in p:
            k = np.vstack([k, p["bias_k"].reshape(1, e)])
            v = np.vstack([v, p["bias_v"].reshape(1, e)])
            extra += 1
        heads = np.zeros((length, e))
        per_head = []
        for h in range(nhead):
            sl = slice(h * d, (h + 1) * d)
            kh, vh = k[:, sl], v[:, sl]
            if add_zero_attn:
                kh, vh = np.vstack([kh, np.zeros((1, d))]), np.vstack([vh, np.zeros((1, d))])
            s_len = kh.shape[0]
            scores = q[:, sl] @ kh.T / math.sqrt(d)
            m = np.zeros((length, s_len))
            n_real = s_len - extra - int(add_zero_attn)
            if attn_mask is not None:
                am = attn_mask if attn_mask.ndim == 2 else attn_mask[n * nhead + h]
                m[:, : am.shape[-1]] += additive(am)  # type: ignore[operator]
            if is_causal:
                m += np.where(np.triu(np.ones((length, s_len), dtype=bool), 1), -np.inf, 0.0)
            if key_padding_mask is not None:
                m[:, :n_real] += additive(key_padding_mask[n])[None, :]  # type: ignore[index]
            a = softmax(scores + m)
            per_head.append(a)
            heads[:, sl] = a @ vh
        weights.append(per_head)
        out[:, n] = heads @ p["out_proj.weight"].T + p.get("out_proj.bias", 0.0)
    return out, np.asarray(weights)


def layer_norm(x: np.ndarray, p: Params, prefix: str, eps: float = 1e-5) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * p[prefix + ".weight"] + p.get(prefix + ".bias", 0.0)


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def ff(x: np.ndarray, p: Params, act: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    h = act(x @ p["linear1.weight"].T + p["linear1.bias"])
    return h @ p["linear2.weight"].T + p["linear2.bias"]


def ref_encoder_layer(
    x: np.ndarray,
    p: Params,
    nhead: int,
    norm_first: bool,
    mask: Optional[np.ndarray] = None,
    kpm: Optional[np.ndarray] = None,
    act: Callable[[np.ndarray], np.ndarray] = relu,
) -> np.ndarray:
    """``[S, N, E]`` through one post-norm (or pre-norm) encoder layer."""

    def sa(y: np.ndarray) -> np.ndarray:
        return ref_mha(y, y, y, sub(p, "self_attn"), nhead, mask, kpm)[0]

    if norm_first:
        x = x + sa(layer_norm(x, p, "norm1"))
        return x + ff(layer_norm(x, p, "norm2"), p, act)
    x = layer_norm(x + sa(x), p, "norm1")
    return layer_norm(x + ff(x, p, act), p, "norm2")


def ref_decoder_layer(
    x: np.ndarray,
    mem: np.ndarray,
    p: Params,
    nhead: int,
    norm_first: bool,
    tgt_mask: Optional[np.ndarray] = None,
    memory_mask: Optional[np.ndarray] = None,
    tgt_kpm: Optional[np.ndarray] = None,
    mem_kpm: Optional[np.ndarray] = None,
) -> np.ndarray:
    def sa(y: np.ndarray) -> np.ndarray:
        return ref_mha(y, y, y, sub(p, "self_attn"), nhead, tgt_mask, tgt_kpm)[0]

    def ca(y: np.ndarray) -> np.ndarray:
        return ref_mha(y, mem, mem, sub(p, "multihead_attn"), nhead, memory_mask, mem_kpm)[0]

    if norm_first:
        x = x + sa(layer_norm(x, p, "norm1"))
        x = x + ca(layer_norm(x, p, "norm2"))
        return x + ff(layer_norm(x, p, "norm3"), p, relu)
    x = layer_norm(x + sa(x), p, "norm1")
    x = layer_norm(x + ca(x), p, "norm2")
    return layer_norm(x + ff(x, p, relu), p, "norm3")


RNG = np.random.default_rng(0)


def randn(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape)


def padding_mask(batch: int, length: int) -> np.ndarray:
    """A boolean key padding mask (True = padding) that leaves every row some key."""
    m = np.zeros((batch, length), dtype=bool)
    for n in range(batch):
        m[n, length - n :] = n > 0
    return m


def bf(x: np.ndarray, batch_first: bool) -> np.ndarray:
    """``[L, N, E]`` as the module takes it."""
    return x.transpose(1, 0, 2) if batch_first else x


# ---- MultiheadAttention ----------------------------------------------------------------------


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
def test_mha_matches_reference_with_masks(batch_first: bool, need_weights: bool) -> None:
    dm.manual_seed(1)
    mha = nn.MultiheadAttention(8, 2, batch_first=batch_first).double().eval()
    p = params_of(mha)
    q, kv = randn(4, 3, 8), randn(5, 3, 8)
    attn_mask = RNG.standard_normal((4, 5))
    kpm = padding_mask(3, 5)
    out, w = mha(
        f64(bf(q, batch_first)),
        f64(bf(kv, batch_first)),
        f64(bf(kv, batch_first)),
        key_padding_mask=dm.tensor(kpm),
        attn_mask=f64(attn_mask),
        need_weights=need_weights,
    )
    exp, exp_w = ref_mha(q, kv, kv, p, 2, attn_mask, kpm)
    assert_close(out, bf(exp, batch_first), rtol=1e-9, atol=1e-10)
    if need_weights:
        assert_close(w, exp_w.mean(1), rtol=1e-9, atol=1e-10)
    else:
        assert w is None


def test_mha_weights_per_head_and_unbatched() -> None:
    dm.manual_seed(2)
    mha = nn.MultiheadAttention(6, 3).double()
    p = params_of(mha)
    q, kv = randn(4, 1, 6), randn(3, 1, 6)
    out, w = mha(f64(q), f64(kv), f64(kv), average_attn_weights=False)
    exp, exp_w = ref_mha(q, kv, kv, p, 3)
    assert_close(out, exp, rtol=1e-9, atol=1e-10)
    assert_close(w, exp_w, rtol=1e-9, atol=1e-10)
    # unbatched [L, E] inputs and a [S] padding mask
    kpm = np.array([False, True, False])
    out, w = mha(f64(q[:, 0]), f64(kv[:, 0]), f64(kv[:, 0]), key_padding_mask=dm.tensor(kpm))
    exp, exp_w = ref_mha(q, kv, kv, p, 3, key_padding_mask=kpm[None])
    assert_close(out, exp[:, 0], rtol=1e-9, atol=1e-10)
    assert_close(w, exp_w.mean(1)[0], rtol=1e-9, atol=1e-10)
    out2, w2 = mha(f64(q[:, 0]), f64(kv[:, 0]), f64(kv[:, 0]), need_weights=False)
    assert w2 is None and out2.shape == (4, 6)


def test_mha_bool_masks_are_true_where_masked_out() -> None:
    """MHA's boolean masks mean "masked out" (the opposite of SDPA's): a bool mask gives the
    same result as the float mask with -inf at its True entries, on both code paths."""
    dm.manual_seed(3)
    mha = nn.MultiheadAttention(8, 4).double()
    p = params_of(mha)
    x = randn(5, 2, 8)
    causal = np.triu(np.ones((5, 5), dtype=bool), 1)
    exp = ref_mha(x, x, x, p, 4, attn_mask=causal)[0]
    for need_weights in (False, True):
        as_bool = mha(
            f64(x), f64(x), f64(x), attn_mask=dm.tensor(causal), need_weights=need_weights
        )
        as_float = mha(
            f64(x), f64(x), f64(x), attn_mask=f64(additive(causal)), need_weights=need_weights
        )
        assert_close(as_bool[0], exp, rtol=1e-9, atol=1e-10)
        assert_close(as_float[0], exp, rtol=1e-9, atol=1e-10)
    # a bool key padding mask merged with a float attn_mask, and a float one with a bool mask
    kpm = padding_mask(2, 5)
    fmask = RNG.standard_normal((5, 5))
    exp = ref_mha(x, x, x, p, 4, attn_mask=fmask, key_padding_mask=kpm)[0]
    got = mha(f64(x), f64(x), f64(x), attn_mask=f64(fmask), key_padding_mask=dm.tensor(kpm))[0]
    assert_close(got, exp, rtol=1e-9, atol=1e-10)
    exp = ref_mha(x, x, x, p, 4, attn_mask=causal, key_padding_mask=additive(kpm))[0]
    got = mha(
        f64(x),
        f64(x),
        f64(x),
        attn_mask=dm.tensor(causal),
        key_padding_mask=f64(additive(kpm)),
        need_weights=False,
    )[0]
    assert_close(got, exp, rtol=1e-9, atol=1e-10)


def test_mha_3d_attn_mask_per_batch_and_head() -> None:
    dm.manual_seed(4)
    mha = nn.MultiheadAttention(4, 2, batch_first=True).double()
    p = params_of(mha)
    q, kv = randn(3, 2, 4), randn(6, 2, 4)
    mask = RNG.random((2 * 2, 3, 6)) < 0.3
    mask[..., 0] = False  # every row keeps a key
    for need_weights in (False, True):
        got = mha(
            f64(bf(q, True)),
            f64(bf(kv, True)),
            f64(bf(kv, True)),
            attn_mask=dm.tensor(mask),
            need_weights=need_weights,
        )[0]
        assert_close(got, bf(ref_mha(q, kv, kv, p, 2, attn_mask=mask)[0], True), 1e-9, 1e-10)


def test_mha_is_causal_with_and_without_mask() -> None:
    dm.manual_seed(5)
    mha = nn.MultiheadAttention(4, 2).double()
    p = params_of(mha)
    x = randn(5, 2, 4)
    exp = ref_mha(x, x, x, p, 2, is_causal=True)[0]
    causal = nn.Transformer.generate_square_subsequent_mask(5, dtype=dm.float64)
    for need_weights in (False, True):
        got = mha(
            f64(x), f64(x), f64(x), attn_mask=causal, is_causal=True, need_weights=need_weights
        )
        assert_close(got[0], exp, rtol=1e-9, atol=1e-10)
        # The hint alone is refused, as in PyTorch: it describes a mask, it is not one.
        with pytest.raises(RuntimeError, match="Need attn_mask"):
            mha(f64(x), f64(x), f64(x), is_causal=True, need_weights=need_weights)


def test_mha_kdim_vdim_bias_kv_and_zero_attn() -> None:
    dm.manual_seed(6)
    mha = nn.MultiheadAttention(6, 2, kdim=3, vdim=5, add_bias_kv=True, add_zero_attn=True).double()
    assert list(mha.state_dict()) == [
        "q_proj_weight",
        "k_proj_weight",
        "v_proj_weight",
        "in_proj_bias",
        "bias_k",
        "bias_v",
        "out_proj.weight",
        "out_proj.bias",
    ]
    assert mha.in_proj_weight is None and mha.k_proj_weight.shape == (6, 3)
    assert mha.bias_k.shape == (1, 1, 6) and mha.v_proj_weight.shape == (6, 5)
    p = params_of(mha)
    q, k, v = randn(4, 2, 6), randn(3, 2, 3), randn(3, 2, 5)
    kpm = padding_mask(2, 3)
    mask = RNG.standard_normal((4, 3))
    exp, exp_w = ref_mha(q, k, v, p, 2, mask, kpm, add_zero_attn=True)
    for need_weights in (False, True):
        out, w = mha(
            f64(q),
            f64(k),
            f64(v),
            key_padding_mask=dm.tensor(kpm),
            attn_mask=f64(mask),
            need_weights=need_weights,
        )
        assert_close(out, exp, rtol=1e-9, atol=1e-10)
    assert w is not None and w.shape == (2, 4, 5)
    assert_close(w, exp_w.mean(1), rtol=1e-9, atol=1e-10)


def test_mha_without_bias_and_init() -> None:
    dm.manual_seed(7)
    mha = nn.MultiheadAttention(16, 4, bias=False)
    assert list(mha.state_dict()) == ["in_proj_weight", "out_proj.weight"]
    assert mha.in_proj_bias is None and mha.out_proj.bias is None
    mha = nn.MultiheadAttention(16, 4)
    w = to_numpy(mha.in_proj_weight)
    bound = math.sqrt(6.0 / (16 + 48))  # xavier_uniform on [3E, E]
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert np.all(to_numpy(mha.in_proj_bias) == 0) and np.all(to_numpy(mha.out_proj.bias) == 0)
    assert isinstance(mha.out_proj, nn.Linear)
    assert (mha.embed_dim, mha.num_heads, mha.head_dim) == (16, 4, 4)
    assert (mha.kdim, mha.vdim, mha._qkv_same_embed_dim) == (16, 16, True)
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)


def test_mha_uses_scaled_dot_product_attention_without_weights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``need_weights=False`` goes through ``F.scaled_dot_product_attention`` (PyTorch's keyword
    arguments); ``need_weights=True`` computes the weights itself."""
    calls: list[dict[str, Any]] = []
    real = F.scaled_dot_product_attention

    def spy(q: dm.Tensor, k: dm.Tensor, v: dm.Tensor, **kwargs: Any) -> dm.Tensor:
        calls.append(dict(kwargs, shapes=(tuple(q.shape), tuple(k.shape), tuple(v.shape))))
        return real(q, k, v, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    mha = nn.MultiheadAttention(8, 2, dropout=0.5).eval()
    x = dm.randn(3, 2, 8)
    mha(x, x, x, need_weights=False)
    assert len(calls) == 1
    assert calls[0]["shapes"] == ((2, 2, 3, 4),) * 3
    assert calls[0]["attn_mask"] is None and calls[0]["dropout_p"] == 0.0
    assert calls[0]["is_causal"] is False
    mha.train()
    causal = nn.Transformer.generate_square_subsequent_mask(3)
    mha(x, x, x, need_weights=False, attn_mask=causal, is_causal=True)
    assert calls[1]["dropout_p"] == 0.5 and calls[1]["is_causal"] is True
    assert calls[1]["attn_mask"] is None  # the hint stands for the mask, as in PyTorch
    kpm = dm.tensor(padding_mask(2, 3))
    mha(x, x, x, need_weights=False, key_padding_mask=kpm)
    mask = calls[2]["attn_mask"]
    assert mask.dtype == dm.float32 and mask.shape == (2, 2, 1, 3)  # float: -inf = masked
    assert np.isneginf(to_numpy(mask)[1, :, 0, 2]).all() and not calls[2]["is_causal"]
    mha(x, x, x, need_weights=True)
    assert len(calls) == 3


def test_mha_dropout_in_training_only() -> None:
    dm.manual_seed(8)
    mha = nn.MultiheadAttention(8, 2, dropout=0.5)
    x = dm.randn(4, 2, 8)
    a = to_numpy(mha(x, x, x)[0])
    b = to_numpy(mha(x, x, x)[0])
    assert not np.allclose(a, b)
    mha.eval()
    np.testing.assert_array_equal(to_numpy(mha(x, x, x)[0]), to_numpy(mha(x, x, x)[0]))


def test_mha_shape_and_dtype_errors() -> None:
    mha = nn.MultiheadAttention(8, 2)
    x = dm.randn(3, 2, 8)
    with pytest.raises(ShapeError, match="embedding dimension of 8"):
        mha(dm.randn(3, 2, 6), x, x)
    with pytest.raises(ShapeError, match="4-D query"):
        mha(dm.randn(1, 3, 2, 8), x, x)
    with pytest.raises(ShapeError, match="key and value to be 3-D"):
        mha(x, dm.randn(3, 8), dm.randn(3, 8))
    with pytest.raises(ShapeError, match="2-D attn_mask"):
        mha(x, x, x, attn_mask=dm.zeros(3, 4))
    with pytest.raises(ShapeError, match="3-D attn_mask"):
        mha(x, x, x, attn_mask=dm.zeros(2, 3, 3))
    with pytest.raises(ShapeError, match="key_padding_mask shape"):
        mha(x, x, x, key_padding_mask=dm.zeros(2, 4, dtype=dm.bool))
    with pytest.raises(ShapeError, match="does not match value"):
        mha(x, dm.randn(3, 2, 8), dm.randn(4, 2, 8))
    with pytest.raises(DTypeError, match="bool and floating"):
        mha(x, x, x, attn_mask=dm.zeros(3, 3, dtype=dm.int64))
    assert issubclass(ShapeError, ValueError)


# ---- encoder and decoder layers --------------------------------------------------------------

ENCODER_LAYER_KEYS = [
    "self_attn.in_proj_weight",
    "self_attn.in_proj_bias",
    "self_attn.out_proj.weight",
    "self_attn.out_proj.bias",
    "linear1.weight",
    "linear1.bias",
    "linear2.weight",
    "linear2.bias",
    "norm1.weight",
    "norm1.bias",
    "norm2.weight",
    "norm2.bias",
]

DECODER_LAYER_KEYS = [
    "self_attn.in_proj_weight",
    "self_attn.in_proj_bias",
    "self_attn.out_proj.weight",
    "self_attn.out_proj.bias",
    "multihead_attn.in_proj_weight",
    "multihead_attn.in_proj_bias",
    "multihead_attn.out_proj.weight",
    "multihead_attn.out_proj.bias",
    "linear1.weight",
    "linear1.bias",
    "linear2.weight",
    "linear2.bias",
    "norm1.weight",
    "norm1.bias",
    "norm2.weight",
    "norm2.bias",
    "norm3.weight",
    "norm3.bias",
]


def test_state_dict_keys_match_pytorch() -> None:
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16)
    assert list(layer.state_dict()) == ENCODER_LAYER_KEYS
    assert [n for n, _ in layer.named_children()] == [
        "self_attn",
        "linear1",
        "dropout",
        "linear2",
        "norm1",
        "norm2",
        "dropout1",
        "dropout2",
    ]
    assert layer.self_attn.in_proj_weight.shape == (24, 8)
    assert layer.linear1.weight.shape == (16, 8) and layer.linear2.weight.shape == (8, 16)
    dec = nn.TransformerDecoderLayer(8, 2, dim_feedforward=16)
    assert list(dec.state_dict()) == DECODER_LAYER_KEYS
    assert [n for n, _ in dec.named_children()][-3:] == ["dropout1", "dropout2", "dropout3"]
    enc = nn.TransformerEncoder(layer, 2)
    assert list(enc.state_dict()) == [
        f"layers.{i}.{k}" for i in range(2) for k in ENCODER_LAYER_KEYS
    ]
    model = nn.Transformer(8, 2, 2, 1, 16)
    expected = (
        [f"encoder.layers.{i}.{k}" for i in range(2) for k in ENCODER_LAYER_KEYS]
        + ["encoder.norm.weight", "encoder.norm.bias"]
        + [f"decoder.layers.0.{k}" for k in DECODER_LAYER_KEYS]
        + ["decoder.norm.weight", "decoder.norm.bias"]
    )
    assert list(model.state_dict()) == expected
    no_bias = nn.TransformerEncoderLayer(8, 2, 16, bias=False)
    assert list(no_bias.state_dict()) == [
        "self_attn.in_proj_weight",
        "self_attn.out_proj.weight",
        "linear1.weight",
        "linear2.weight",
        "norm1.weight",
        "norm2.weight",
    ]


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_layer_matches_reference(norm_first: bool, batch_first: bool) -> None:
    dm.manual_seed(10)
    layer = nn.TransformerEncoderLayer(
        8, 2, dim_feedforward=12, dropout=0.1, batch_first=batch_first, norm_first=norm_first
    )
    layer.double().eval()
    p = params_of(layer)
    x = randn(5, 3, 8)
    mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=dm.float64)
    kpm = padding_mask(3, 5)
    got = layer(f64(bf(x, batch_first)), src_mask=mask, src_key_padding_mask=dm.tensor(kpm))
    exp = ref_encoder_layer(x, p, 2, norm_first, to_numpy(mask), kpm)
    assert_close(got, bf(exp, batch_first), rtol=1e-9, atol=1e-10)
    got = layer(f64(bf(x, batch_first)))
    assert_close(got, bf(ref_encoder_layer(x, p, 2, norm_first), batch_first), 1e-9, 1e-10)
    got = layer(f64(bf(x, batch_first)), src_mask=mask, is_causal=True)
    exp = ref_encoder_layer(x, p, 2, norm_first, to_numpy(mask))
    assert_close(got, bf(exp, batch_first), rtol=1e-9, atol=1e-10)


def test_encoder_layer_activations_and_unbatched() -> None:
    dm.manual_seed(11)
    x = randn(4, 1, 8)
    for act, ref in (("gelu", gelu), (F.gelu, gelu), ("relu", relu), (nn.ReLU(), relu)):
        layer = nn.TransformerEncoderLayer(8, 4, 16, dropout=0.0, activation=act).double()
        got = layer(f64(x[:, 0]))  # unbatched [S, E]
        exp = ref_encoder_layer(x, params_of(layer), 4, False, act=ref)[:, 0]
        assert_close(got, exp, rtol=1e-9, atol=1e-10)
    layer = nn.TransformerEncoderLayer(8, 4, 16, activation=lambda t: t.tanh())
    assert layer(dm.randn(4, 2, 8)).shape == (4, 2, 8)
    with pytest.raises(RuntimeError, match="relu/gelu"):
        nn.TransformerEncoderLayer(8, 4, activation="swish")


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_matches_reference(norm_first: bool) -> None:
    dm.manual_seed(12)
    layer = nn.TransformerDecoderLayer(8, 2, 12, norm_first=norm_first).double().eval()
    p = params_of(layer)
    tgt, mem = randn(4, 2, 8), randn(6, 2, 8)
    tgt_mask = np.triu(np.ones((4, 4), dtype=bool), 1)
    mem_mask = RNG.standard_normal((4, 6))
    tgt_kpm, mem_kpm = padding_mask(2, 4), padding_mask(2, 6)
    got = layer(
        f64(tgt),
        f64(mem),
        tgt_mask=dm.tensor(tgt_mask),
        memory_mask=f64(mem_mask),
        tgt_key_padding_mask=dm.tensor(tgt_kpm),
        memory_key_padding_mask=dm.tensor(mem_kpm),
    )
    exp = ref_decoder_layer(tgt, mem, p, 2, norm_first, tgt_mask, mem_mask, tgt_kpm, mem_kpm)
    assert_close(got, exp, rtol=1e-9, atol=1e-10)
    got = layer(f64(tgt), f64(mem), tgt_is_causal=True, tgt_mask=dm.tensor(tgt_mask))
    exp = ref_decoder_layer(tgt, mem, p, 2, norm_first, tgt_mask)
    assert_close(got, exp, rtol=1e-9, atol=1e-10)


def test_encoder_stack_clones_layers_and_applies_norm() -> None:
    dm.manual_seed(13)
    layer = nn.TransformerEncoderLayer(8, 2, 12, dropout=0.0)
    enc = nn.TransformerEncoder(layer, 3, norm=nn.LayerNorm(8)).double()
    assert isinstance(enc.layers, nn.ModuleList) and len(enc.layers) == 3
    assert enc.layers[0] is not layer and enc.layers[0] is not enc.layers[1]
    w0, w1 = enc.layers[0].linear1.weight, enc.layers[1].linear1.weight
    assert w0 is not w1 and np.array_equal(to_numpy(w0), to_numpy(w1))  # deep copies
    with dm.no_grad():
        enc.layers[1].linear1.weight.add_(1.0)
    assert not np.array_equal(to_numpy(w0), to_numpy(w1))
    p = params_of(enc)
    x = randn(5, 2, 8)
    mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=dm.float64)
    kpm = padding_mask(2, 5)
    exp = x
    for i in range(3):
        exp = ref_encoder_layer(exp, sub(p, f"layers.{i}"), 2, False, to_numpy(mask), kpm)
    exp = layer_norm(exp, p, "norm")
    got = enc(f64(x), mask=mask, src_key_padding_mask=dm.tensor(kpm))
    assert_close(got, exp, rtol=1e-9, atol=1e-10)
    assert (enc.num_layers, enc.enable_nested_tensor, enc.mask_check) == (3, True, True)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_full_transformer_matches_reference(batch_first: bool, norm_first: bool) -> None:
    dm.manual_seed(14)
    model = nn.Transformer(
        d_model=8,
        nhead=2,
        num_encoder_layers=2,
        num_decoder_layers=2,
        dim_feedforward=12,
        batch_first=batch_first,
        norm_first=norm_first,
    )
    model.double().eval()
    p = params_of(model)
    src, tgt = randn(6, 3, 8), randn(4, 3, 8)
    src_kpm, tgt_kpm = padding_mask(3, 6), padding_mask(3, 4)
    tgt_mask = nn.Transformer.generate_square_subsequent_mask(4, dtype=dm.float64)
    mem_mask = np.zeros((4, 6), dtype=bool)
    mem_mask[0, 3:] = True
    got = model(
        f64(bf(src, batch_first)),
        f64(bf(tgt, batch_first)),
        tgt_mask=tgt_mask,
        memory_mask=dm.tensor(mem_mask),
        src_key_padding_mask=dm.tensor(src_kpm),
        tgt_key_padding_mask=dm.tensor(tgt_kpm),
        memory_key_padding_mask=dm.tensor(src_kpm),
    )
    mem = src
    for i in range(2):
        mem = ref_encoder_layer(mem, sub(p, f"encoder.layers.{i}"), 2, norm_first, None, src_kpm)
    mem = layer_norm(mem, p, "encoder.norm")
    out = tgt
    for i in range(2):
        out = ref_decoder_layer(
            out,
            mem,
            sub(p, f"decoder.layers.{i}"),
            2,
            norm_first,
            to_numpy(tgt_mask),
            mem_mask,
            tgt_kpm,
            src_kpm,
        )
    out = layer_norm(out, p, "decoder.norm")
    assert_close(got, bf(out, batch_first), rtol=1e-9, atol=1e-10)


def test_transformer_init_and_custom_parts() -> None:
    dm.manual_seed(15)
    model = nn.Transformer(16, 4, 1, 1, 32)
    assert (model.d_model, model.nhead, model.batch_first) == (16, 4, False)
    assert isinstance(model.encoder.norm, nn.LayerNorm) and isinstance(
        model.decoder.norm, nn.LayerNorm
    )
    w = to_numpy(model.encoder.layers[0].linear1.weight)  # xavier_uniform on [32, 16]
    bound = math.sqrt(6.0 / (16 + 32))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32), 1)
    custom = nn.Transformer(16, 4, custom_encoder=enc, num_decoder_layers=1, dim_feedforward=32)
    assert custom.encoder is enc and "encoder.norm.weight" not in custom.state_dict()
    out = custom(dm.randn(5, 2, 16), dm.randn(3, 2, 16))
    assert out.shape == (3, 2, 16)
    # unbatched
    assert model(dm.randn(5, 16), dm.randn(3, 16)).shape == (3, 16)


def test_generate_square_subsequent_mask() -> None:
    m = nn.Transformer.generate_square_subsequent_mask(4)
    assert m.dtype == dm.float32 and m.shape == (4, 4)
    exp = np.where(np.triu(np.ones((4, 4), dtype=bool), 1), -np.inf, 0.0)
    np.testing.assert_array_equal(to_numpy(m), exp)
    assert nn.Transformer.generate_square_subsequent_mask(3, dtype=dm.float64).dtype == dm.float64
    assert nn.Transformer.generate_square_subsequent_mask(3, device="cpu").shape == (3, 3)


def test_causal_mask_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    """``TransformerEncoder`` with ``is_causal=None`` passes ``is_causal=True`` to its layers
    exactly when the mask is the causal mask (float or boolean)."""
    seen: list[bool] = []
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0)
    enc = nn.TransformerEncoder(layer, 1)
    inner = enc.layers[0]
    real = inner.forward

    def spy(
        src: dm.Tensor,
        src_mask: Any = None,
        src_key_padding_mask: Any = None,
        is_causal: bool = False,
    ) -> dm.Tensor:
        seen.append(is_causal)
        return real(src, src_mask, src_key_padding_mask, is_causal)

    monkeypatch.setattr(inner, "forward", spy)
    x = dm.randn(4, 2, 8)
    enc(x, mask=nn.Transformer.generate_square_subsequent_mask(4))
    enc(x, mask=dm.tensor(np.triu(np.ones((4, 4), dtype=bool), 1)))
    enc(x, mask=dm.zeros(4, 4))
    enc(x)
    enc(x, mask=dm.zeros(4, 4), is_causal=False)
    assert seen == [True, True, False, False, False]


def test_transformer_shape_errors() -> None:
    model = nn.Transformer(8, 2, 1, 1, 16)
    with pytest.raises(ShapeError, match="batch number"):
        model(dm.randn(5, 2, 8), dm.randn(3, 3, 8))
    with pytest.raises(ShapeError, match="d_model"):
        model(dm.randn(5, 2, 8), dm.randn(3, 2, 6))
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    with pytest.raises(ShapeError, match="embedding dimension"):
        layer(dm.randn(5, 2, 4))
    with pytest.raises(ShapeError, match="attn_mask"):
        layer(dm.randn(5, 2, 8), src_mask=dm.zeros(4, 4))


# ---- gradients -------------------------------------------------------------------------------


def test_gradients_reach_every_parameter() -> None:
    dm.manual_seed(16)
    model = nn.Transformer(8, 2, 2, 2, 12, dropout=0.1, batch_first=True)
    src, tgt = dm.randn(2, 5, 8), dm.randn(2, 3, 8)
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    out = model(src, tgt, tgt_mask=mask, src_key_padding_mask=dm.tensor(padding_mask(2, 5)))
    out.sum().backward()
    names = [n for n, _ in model.named_parameters()]
    assert len(names) == len(model.state_dict())
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        g = to_numpy(p.grad)
        assert np.isfinite(g).all(), name
    mha = nn.MultiheadAttention(6, 2, kdim=4, vdim=5, add_bias_kv=True)
    q = dm.randn(3, 2, 6, requires_grad=True)
    y, w = mha(q, dm.randn(4, 2, 4), dm.randn(4, 2, 5))
    (y.sum() + w.sum()).backward()
    assert q.grad is not None
    for name, p in mha.named_parameters():
        assert p.grad is not None and np.isfinite(to_numpy(p.grad)).all(), name


def test_encoder_layer_float64_gradcheck() -> None:
    dm.manual_seed(17)
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0).double()
    kpm = dm.tensor(np.array([[False, False, True], [False, False, False]]))
    mask = dm.tensor(np.array([[0.0, -1.0, 0.5], [0.0, 0.0, 0.0], [0.3, 0.0, -0.2]]))
    names = [
        "self_attn.in_proj_weight",
        "self_attn.out_proj.weight",
        "linear1.weight",
        "norm1.weight",
    ]
    params = [f64(to_numpy(layer.state_dict()[n]), requires_grad=True) for n in names]

    def fn(x: dm.Tensor, *ps: dm.Tensor) -> dm.Tensor:
        for n, t in zip(names, ps):
            *path, leaf = n.split(".")
            owner = layer
            for part in path:
                owner = getattr(owner, part)
            owner._parameters[leaf] = t
        return layer(x, src_mask=mask, src_key_padding_mask=kpm)

    x = f64(randn(3, 2, 4), requires_grad=True)
    gradcheck(fn, [x, *params])
    gradcheck(fn, [f64(randn(3, 2, 4), requires_grad=True), *params], seed=1)


def test_mha_float64_gradcheck_both_paths() -> None:
    dm.manual_seed(18)
    mha = nn.MultiheadAttention(4, 2).double()
    kpm = dm.tensor(np.array([[False, True, False], [False, False, False]]))
    q = f64(randn(2, 2, 4), requires_grad=True)
    kv = f64(randn(3, 2, 4), requires_grad=True)
    for need_weights in (False, True):

        def out(a: dm.Tensor, b: dm.Tensor, nw: bool = need_weights) -> dm.Tensor:
            return mha(a, b, b, key_padding_mask=kpm, need_weights=nw)[0]

        gradcheck(out, [q, kv])
    gradcheck(lambda a, b: mha(a, b, b)[1], [q, kv])


# ---- RMSNorm, gelu(tanh), silu ---------------------------------------------------------------


def test_rms_norm_matches_reference() -> None:
    x = randn(2, 3, 4)
    w = RNG.standard_normal((3, 4))
    exp = x / np.sqrt((x**2).mean(axis=(1, 2), keepdims=True) + 1e-6) * w
    assert_close(F.rms_norm(f64(x), (3, 4), f64(w), eps=1e-6), exp, rtol=1e-10, atol=1e-12)
    eps32 = float(np.finfo(np.float32).eps)
    exp = x / np.sqrt((x**2).mean(-1, keepdims=True) + eps32)
    assert_close(F.rms_norm(dm.tensor(x, dtype=dm.float32), 4), exp, rtol=1e-5, atol=1e-6)
    eps64 = float(np.finfo(np.float64).eps)
    exp = x / np.sqrt((x**2).mean(-1, keepdims=True) + eps64)
    assert_close(F.rms_norm(f64(x), [4]), exp, rtol=1e-12, atol=1e-12)
    half = F.rms_norm(dm.tensor(x, dtype=dm.float16), 4)
    assert half.dtype == dm.float16
    assert_close(half.float(), exp, rtol=1e-2, atol=1e-2)
    with pytest.raises(ShapeError, match="normalized_shape"):
        F.rms_norm(f64(x), 3)
    with pytest.raises(ShapeError, match="weight"):
        F.rms_norm(f64(x), 4, f64(np.ones(3)))


def test_rms_norm_module() -> None:
    m = nn.RMSNorm(4)
    assert list(m.state_dict()) == ["weight"] and m.eps is None
    np.testing.assert_array_equal(to_numpy(m.weight), np.ones(4, dtype=np.float32))
    assert "eps=None" in repr(m) and "elementwise_affine=True" in repr(m)
    m2 = nn.RMSNorm([2, 4], eps=1e-3, elementwise_affine=False).double()
    assert list(m2.state_dict()) == [] and m2.weight is None
    x = randn(3, 2, 4)
    exp = x / np.sqrt((x**2).mean(axis=(1, 2), keepdims=True) + 1e-3)
    assert_close(m2(f64(x)), exp, rtol=1e-10, atol=1e-12)
    m = nn.RMSNorm(4, eps=1e-5).double()
    with dm.no_grad():
        m.weight.copy_(f64([1.0, 2.0, 3.0, 4.0]))
    exp = x / np.sqrt((x**2).mean(-1, keepdims=True) + 1e-5) * np.array([1.0, 2.0, 3.0, 4.0])
    assert_close(m(f64(x)), exp, rtol=1e-10, atol=1e-12)
    gradcheck(lambda a, w: F.rms_norm(a, 4, w, 1e-5), [f64(x, True), f64(RNG.random(4), True)])


def test_gelu_tanh_and_silu() -> None:
    x = randn(3, 5)
    t = f64(x)
    tanh_ref = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    assert_close(F.gelu(t, approximate="tanh"), tanh_ref, rtol=1e-10, atol=1e-12)
    assert_close(F.gelu(t), gelu(x), rtol=1e-10, atol=1e-12)
    assert_close(F.silu(t), x / (1 + np.exp(-x)), rtol=1e-10, atol=1e-12)
    gradcheck(lambda a: F.gelu(a, approximate="tanh"), [f64(x, True)])
    gradcheck(F.silu, [f64(x, True)])


# ---- weight tying ----------------------------------------------------------------------------


class TinyLM(nn.Module):
    """Embedding and output head sharing one weight (GPT-2 style)."""

    def __init__(self, vocab: int = 7, dim: int = 4, tie: bool = True) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab, dim)
        self.block = nn.Linear(dim, dim)
        self.head = nn.Linear(dim, vocab, bias=False)
        if tie:
            self.head.weight = self.wte.weight

    def forward(self, idx: dm.Tensor) -> dm.Tensor:
        return self.head(self.block(self.wte(idx)).tanh())


def test_tied_weight_is_one_parameter() -> None:
    dm.manual_seed(20)
    m = TinyLM()
    assert m.head.weight is m.wte.weight
    names = [n for n, _ in m.named_parameters()]
    assert names == ["wte.weight", "block.weight", "block.bias"]
    assert len(list(m.parameters())) == 3 and m.num_parameters() == 7 * 4 + 4 * 4 + 4
    dup = [n for n, _ in m.named_parameters(remove_duplicate=False)]
    assert dup == ["wte.weight", "block.weight", "block.bias", "head.weight"]
    assert list(m.state_dict()) == ["wte.weight", "block.weight", "block.bias", "head.weight"]
    np.testing.assert_array_equal(
        to_numpy(m.state_dict()["wte.weight"]), to_numpy(m.state_dict()["head.weight"])
    )


def test_tied_weight_gradient_sums_both_uses_and_optimizer_updates_it_once() -> None:
    dm.manual_seed(21)
    tied = TinyLM()
    untied = TinyLM(tie=False)
    untied.load_state_dict(tied.state_dict())
    idx = dm.tensor([[1, 2, 3], [4, 5, 6]])
    target = dm.tensor([[2, 3, 4], [5, 6, 0]])
    for m in (tied, untied):
        F.cross_entropy(m(idx).reshape(-1, 7), target.reshape(-1)).backward()
    g_wte, g_head, g_tied = untied.wte.weight.grad, untied.head.weight.grad, tied.wte.weight.grad
    assert g_wte is not None and g_head is not None and g_tied is not None
    g = to_numpy(g_wte) + to_numpy(g_head)
    np.testing.assert_allclose(to_numpy(g_tied), g, rtol=1e-5, atol=1e-6)
    before = to_numpy(tied.wte.weight)
    opt = dm.optim.SGD(tied.parameters(), lr=0.1)
    assert len(opt.param_groups[0]["params"]) == 3
    opt.step()
    np.testing.assert_allclose(to_numpy(tied.wte.weight), before - 0.1 * g, rtol=1e-5, atol=1e-6)
    assert tied.head.weight is tied.wte.weight
    np.testing.assert_array_equal(to_numpy(tied.head.weight), to_numpy(tied.wte.weight))
    adam = dm.optim.Adam(tied.parameters(), lr=1e-2)
    for _ in range(3):
        adam.zero_grad()
        F.cross_entropy(tied(idx).reshape(-1, 7), target.reshape(-1)).backward()
        adam.step()
    assert tied.head.weight is tied.wte.weight


def test_tied_load_state_dict_fills_both() -> None:
    m = TinyLM()
    sd = {k: dm.full(tuple(v.shape), 0.5) for k, v in m.state_dict().items()}
    result = m.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert m.head.weight is m.wte.weight
    np.testing.assert_array_equal(to_numpy(m.head.weight), np.full((7, 4), 0.5, np.float32))
    # a state_dict saved from an untied model with the key under the second name only
    sd = {k: v for k, v in TinyLM(tie=False).state_dict().items() if k != "wte.weight"}
    keys = m.load_state_dict(sd, strict=False)
    assert keys.missing_keys == ["wte.weight"]
    np.testing.assert_array_equal(to_numpy(m.wte.weight), to_numpy(sd["head.weight"]))


def test_tying_survives_to_deepcopy_and_checkpoints(tmp_path: Path) -> None:
    dm.manual_seed(22)
    m = TinyLM()
    m.double()
    assert m.head.weight is m.wte.weight and m.wte.weight.dtype == dm.float64
    m.float()
    assert m.head.weight is m.wte.weight and len(list(m.parameters())) == 3
    c = copy.deepcopy(m)
    assert c.head.weight is c.wte.weight and c.wte.weight is not m.wte.weight
    opt = dm.optim.Adam(m.parameters(), lr=1e-2)
    idx = dm.tensor([[1, 2, 3]])
    m(idx).sum().backward()
    opt.step()
    save_checkpoint(tmp_path / "ck.safetensors", model=m, optimizer=opt, epoch=1)
    fresh = TinyLM()
    opt2 = dm.optim.Adam(fresh.parameters(), lr=1e-2)
    info = load_checkpoint(tmp_path / "ck.safetensors", model=fresh, optimizer=opt2)
    assert info["epoch"] == 1
    assert fresh.head.weight is fresh.wte.weight
    np.testing.assert_array_equal(to_numpy(fresh.wte.weight), to_numpy(m.wte.weight))
    np.testing.assert_array_equal(to_numpy(fresh(idx)), to_numpy(m(idx)))
    fresh(idx).sum().backward()
    opt2.step()
    assert fresh.head.weight is fresh.wte.weight
    np.testing.assert_array_equal(to_numpy(fresh.head.weight), to_numpy(fresh.wte.weight))
    save_file(m.state_dict(), tmp_path / "w.safetensors")
    other = TinyLM()
    other.load_state_dict(load_file(tmp_path / "w.safetensors"))
    assert other.head.weight is other.wte.weight
    np.testing.assert_array_equal(to_numpy(other.head.weight), to_numpy(m.wte.weight))


# ---- PyTorch parity (skipped unless torch is importable) -------------------------------------


def test_loads_a_pytorch_encoder_layer_state_dict() -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = torch.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, norm_first=True).double().eval()
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, norm_first=True).double().eval()
    assert list(ref.state_dict()) == list(layer.state_dict())
    layer.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    x = randn(5, 2, 8)
    kpm = padding_mask(2, 5)
    with torch.no_grad():
        exp = ref(torch.from_numpy(x), src_key_padding_mask=torch.from_numpy(kpm)).numpy()
    assert_close(layer(f64(x), src_key_padding_mask=dm.tensor(kpm)), exp, rtol=1e-9, atol=1e-10)
    t = torch.nn.Transformer(8, 2, 1, 1, 16)
    assert list(t.state_dict()) == list(nn.Transformer(8, 2, 1, 1, 16).state_dict())
