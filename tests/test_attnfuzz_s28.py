"""Fixed-seed fuzz of ``F.scaled_dot_product_attention``, ``nn.MultiheadAttention`` and the
transformer layers/stacks against NumPy references written here (PyTorch's semantics: a
boolean SDPA mask is True where attention is allowed, a boolean MHA mask True where it is not;
a fully masked row gives zeros in SDPA and NaN weights in MHA's ``need_weights`` path).

The cases are drawn once from seeded generators (random shapes, dtypes, masks and options),
so every run checks the same ones; each compares outputs and input/mask gradients (SDPA, with
an analytic NumPy backward) or runs a float64 finite-difference check (MHA, layers). The same
cases were compared side by side with PyTorch 2.15 when they were written. No torch import."""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.errors import DemocratisingError, DTypeError, InvalidValueError, ShapeError
from democratising.nn import functional as F
from democratising.nn.attention import multi_head_attention_forward
from helpers import gradcheck, to_numpy

Params = dict[str, np.ndarray]


def _dm(a: np.ndarray, dtype: Any = dm.float64, requires_grad: bool = False) -> dm.Tensor:
    """``a`` as a tensor: boolean arrays stay boolean, the rest take ``dtype``."""
    if a.dtype == np.bool_:
        return dm.tensor(a)
    return dm.tensor(a.astype(np.float64), dtype=dtype, requires_grad=requires_grad)


def _tol(dtype: Any) -> dict[str, float]:
    return {"rtol": 1e-10, "atol": 1e-10} if dtype == dm.float64 else {"rtol": 2e-4, "atol": 2e-4}


def _close(got: Optional[dm.Tensor], want: np.ndarray, dtype: Any, what: str) -> None:
    assert got is not None, f"{what}: no value"
    arr = to_numpy(got).astype(np.float64)
    assert arr.shape == want.shape, f"{what}: shape {arr.shape} != {want.shape}"
    np.testing.assert_allclose(arr, want, equal_nan=True, err_msg=what, **_tol(dtype))


def _reduce_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The gradient of a broadcast operand: ``g`` summed back to ``shape``."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def _safe_softmax(s: np.ndarray) -> np.ndarray:
    """Softmax over the last dim; a row that is all ``-inf`` gives zeros (PyTorch's SDPA)."""
    dead = np.all(s == -np.inf, axis=-1, keepdims=True)
    s = np.where(dead, 0.0, s)
    with np.errstate(invalid="ignore"):  # +inf or NaN scores give NaN, as in PyTorch
        e = np.exp(s - s.max(-1, keepdims=True))
        return np.where(dead, 0.0, e / e.sum(-1, keepdims=True))


def _plain_softmax(s: np.ndarray) -> np.ndarray:
    """Softmax without the dead-row rule: a fully masked row is NaN (MHA with weights)."""
    with np.errstate(invalid="ignore"):
        e = np.exp(s - s.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)


# ---- F.scaled_dot_product_attention ----------------------------------------------------------


def _np_sdpa(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: Optional[np.ndarray],
    causal: bool,
    scale: Optional[float],
    gout: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Forward and backward of SDPA in float64: ``(out, dq, dk, dv, dmask)``; keys/values with
    fewer heads (dim -3) serve consecutive groups of query heads (``enable_gqa``)."""
    k0, v0 = k, v
    if q.ndim >= 3 and k.shape[-3] != q.shape[-3] and k.shape[-3] != 1:
        k = np.repeat(k, q.shape[-3] // k.shape[-3], axis=-3)
        v = np.repeat(v, q.shape[-3] // v.shape[-3], axis=-3)
    f = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = np.matmul(q, np.swapaxes(k, -1, -2)) * f
    ln, sn = q.shape[-2], k.shape[-2]
    if causal:
        s = np.where(np.tril(np.ones((ln, sn), dtype=bool)), s, -np.inf)
    if mask is not None:
        s = s + (np.where(mask, 0.0, -np.inf) if mask.dtype == np.bool_ else mask)
    p = _safe_softmax(s)
    out = np.matmul(p, v)
    gout = np.broadcast_to(gout, out.shape)
    dv = np.matmul(np.swapaxes(p, -1, -2), gout)
    dp = np.matmul(gout, np.swapaxes(v, -1, -2))
    ds = p * (dp - np.sum(dp * p, axis=-1, keepdims=True))
    dq = np.matmul(ds, k) * f
    dk = np.matmul(np.swapaxes(ds, -1, -2), q) * f

    def ungroup(g: np.ndarray, like: np.ndarray) -> np.ndarray:
        if g.ndim >= 3 and g.shape[-3] != like.shape[-3] and like.shape[-3] != 1:
            rep = g.shape[-3] // like.shape[-3]
            g = g.reshape(*g.shape[:-3], like.shape[-3], rep, *g.shape[-2:]).sum(axis=-3)
        return _reduce_to(g, like.shape)

    dmask = None if mask is None else _reduce_to(ds, mask.shape)
    return out, _reduce_to(dq, q.shape), ungroup(dk, k0), ungroup(dv, v0), dmask


def _sdpa_cases() -> list[dict[str, Any]]:
    """60 random SDPA calls: 2- to 4-D inputs, L != S, bool/float masks of every rank that
    broadcasts (some rows fully masked), ``is_causal``, ``scale``, GQA, empty batches,
    transposed (non-contiguous) inputs, float32 and float64."""
    rng = np.random.default_rng(2028)
    cases = []
    for i in range(60):
        nd = int(rng.integers(2, 5))
        ln, sn = int(rng.integers(1, 7)), int(rng.integers(1, 7))
        e, ev = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        b = 0 if i % 15 == 7 else int(rng.integers(1, 3))
        h = int(rng.integers(1, 5))
        hk = h
        if nd == 4 and rng.random() < 0.4:
            hk = int(rng.choice([d for d in range(1, h + 1) if h % d == 0]))
        batch = {2: (), 3: (b,), 4: (b, h)}[nd]
        kv_batch = {2: (), 3: (b,), 4: (b, hk)}[nd]
        causal = bool(rng.random() < 0.25)
        mask = None
        if not causal and rng.random() < 0.7:
            full = [*list(batch), ln, sn]
            rank = int(rng.integers(2, len(full) + 1))
            shape = full[-rank:]
            shape = [1 if (j < rank - 2 and rng.random() < 0.4) else n for j, n in enumerate(shape)]
            if rng.random() < 0.25:
                shape[-2] = 1
            if rng.random() < 0.5:
                mask = rng.random(shape) < 0.7
                if rng.random() < 0.4:  # some rows with every key masked out
                    mask &= rng.random([*shape[:-1], 1]) < 0.6
            else:
                mask = rng.standard_normal(shape)
                if rng.random() < 0.4:
                    mask = np.where(rng.random(shape) < 0.35, -np.inf, mask)
        cases.append(
            {
                "q": rng.standard_normal((*batch, ln, e)),
                "k": rng.standard_normal((*kv_batch, sn, e)),
                "v": rng.standard_normal((*kv_batch, sn, ev)),
                "gout": rng.standard_normal((*batch, ln, ev)),
                "mask": mask,
                "causal": causal,
                "scale": float(rng.uniform(0.2, 2.0)) if rng.random() < 0.3 else None,
                "gqa": hk != h,
                "transposed": bool(rng.random() < 0.3),
                "dtype": dm.float64 if rng.random() < 0.5 else dm.float32,
                "mask_grad": bool(
                    mask is not None and mask.dtype != np.bool_ and rng.random() < 0.5
                ),
            }
        )
    return cases


_SDPA = _sdpa_cases()


@pytest.mark.parametrize("i", range(len(_SDPA)))
def test_sdpa_fuzz_matches_numpy_forward_and_gradients(i: int) -> None:
    c = _SDPA[i]
    dt = c["dtype"]
    cast = np.float64 if dt == dm.float64 else np.float32

    def leaf(a: np.ndarray) -> tuple[dm.Tensor, dm.Tensor]:
        """The tensor that gets the gradient and the view passed in (a transposed copy seen
        through ``transpose``, so a non-contiguous input, when the case asks)."""
        a = a.astype(cast)
        if c["transposed"]:
            base = _dm(np.ascontiguousarray(np.swapaxes(a, -1, -2)), dt, True)
            return base, base.transpose(-1, -2)
        base = _dm(a, dt, True)
        return base, base

    (bq, q), (bk, k), (bv, v) = leaf(c["q"]), leaf(c["k"]), leaf(c["v"])
    mask_np = c["mask"]
    mask = None
    if mask_np is not None:
        mask = _dm(mask_np.astype(cast) if mask_np.dtype != np.bool_ else mask_np, dt)
        if c["mask_grad"]:
            mask.requires_grad_(True)
    out = F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask, is_causal=c["causal"], scale=c["scale"], enable_gqa=c["gqa"]
    )
    assert out.dtype == dt
    (out * _dm(c["gout"], dt)).sum().backward()
    as64 = [
        None if a is None else (a if a.dtype == np.bool_ else a.astype(cast).astype(np.float64))
        for a in (c["q"], c["k"], c["v"], mask_np)
    ]
    ref = _np_sdpa(*as64[:3], as64[3], c["causal"], c["scale"], c["gout"])
    _close(out, ref[0], dt, "out")
    for name, base, want in (("dq", bq, ref[1]), ("dk", bk, ref[2]), ("dv", bv, ref[3])):
        got = base.grad
        assert got is not None, name
        if c["transposed"]:
            got = got.transpose(-1, -2)
        _close(got, want, dt, name)
    if c["mask_grad"]:
        assert mask is not None and ref[4] is not None
        _close(mask.grad, ref[4], dt, "dmask")


def test_sdpa_fully_masked_rows_give_zeros_for_bool_and_float_masks() -> None:
    """PyTorch 2.15's SDPA: a row with every key masked out is zeros (not NaN), whether the
    mask is boolean or ``-inf``, with zero gradients through it."""
    rng = np.random.default_rng(3)
    q, k, v = (rng.standard_normal((2, 3, 4)) for _ in range(3))
    allowed = np.array([[True, False, True], [False, False, False], [True, True, True]])
    for mask in (_dm(allowed), _dm(np.where(allowed, 0.0, -np.inf))):
        tq = _dm(q, requires_grad=True)
        out = F.scaled_dot_product_attention(tq, _dm(k), _dm(v), attn_mask=mask)
        np.testing.assert_array_equal(to_numpy(out)[:, 1], 0.0)
        out.sum().backward()
        assert tq.grad is not None
        np.testing.assert_array_equal(to_numpy(tq.grad)[:, 1], 0.0)
        assert np.isfinite(to_numpy(tq.grad)).all()


@pytest.mark.parametrize("what", ["nan_key", "pos_inf_mask"])
def test_sdpa_propagates_nan_like_torch(what: str) -> None:
    rng = np.random.default_rng(5)
    q, k, v = (rng.standard_normal((1, 3, 4)) for _ in range(3))
    mask = None
    if what == "nan_key":
        k[0, 1, 0] = np.nan
    else:
        mask = np.zeros((3, 3))
        mask[0, 0] = np.inf
    ref = _np_sdpa(q, k, v, mask, False, None, np.ones((1, 3, 4)))[0]
    got = F.scaled_dot_product_attention(
        _dm(q), _dm(k), _dm(v), attn_mask=None if mask is None else _dm(mask)
    )
    assert np.isnan(ref).any()
    np.testing.assert_array_equal(np.isnan(to_numpy(got)), np.isnan(ref))


def test_sdpa_gqa_key_and_value_head_counts_may_differ() -> None:
    rng = np.random.default_rng(6)
    q, k = rng.standard_normal((1, 4, 3, 4)), rng.standard_normal((1, 2, 5, 4))
    v = rng.standard_normal((1, 1, 5, 4))  # one value head, two key heads
    got = F.scaled_dot_product_attention(_dm(q), _dm(k), _dm(v), enable_gqa=True)
    kk, vv = np.repeat(k, 2, axis=1), np.repeat(v, 4, axis=1)
    _close(got, _np_sdpa(q, kk, vv, None, False, None, np.ones((1, 4, 3, 4)))[0], dm.float64, "o")


# ---- nn.MultiheadAttention -------------------------------------------------------------------


def _additive(mask: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """MHA's convention: boolean True = not allowed (``-inf``), float added as is."""
    if mask is None:
        return None
    return np.where(mask, -np.inf, 0.0) if mask.dtype == np.bool_ else mask.astype(np.float64)


def _pad_col(m: Optional[np.ndarray]) -> Optional[np.ndarray]:
    return None if m is None else np.concatenate([m, np.zeros((*m.shape[:-1], 1))], -1)


def _np_mha(
    query: np.ndarray,
    key: np.ndarray,
    value: np.ndarray,
    p: Params,
    nhead: int,
    *,
    batch_first: bool = False,
    add_zero_attn: bool = False,
    key_padding_mask: Optional[np.ndarray] = None,
    attn_mask: Optional[np.ndarray] = None,
    need_weights: bool = True,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """PyTorch's MultiheadAttention forward in float64 over its ``state_dict`` ``p``."""
    batched = query.ndim == 3
    if not batched:
        query, key, value = query[:, None], key[:, None], value[:, None]
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask[None]
    elif batch_first:
        query, key, value = (np.swapaxes(t, 0, 1) for t in (query, key, value))
    ln, n, e = query.shape
    d = e // nhead
    if "in_proj_weight" in p:
        wq, wk, wv = np.split(p["in_proj_weight"], 3)
    else:
        wq, wk, wv = p["q_proj_weight"], p["k_proj_weight"], p["v_proj_weight"]
    bq, bk, bv = np.split(p["in_proj_bias"], 3) if "in_proj_bias" in p else (0.0, 0.0, 0.0)
    q, k, v = query @ wq.T + bq, key @ wk.T + bk, value @ wv.T + bv
    kpm, am = _additive(key_padding_mask), _additive(attn_mask)
    causal_only = is_causal and kpm is None and not need_weights
    if causal_only:
        am = None
    if am is not None and am.ndim == 2:
        am = am[None]
    if "bias_k" in p:
        k = np.concatenate([k, np.broadcast_to(p["bias_k"], (1, n, e))])
        v = np.concatenate([v, np.broadcast_to(p["bias_v"], (1, n, e))])
        am, kpm = _pad_col(am), _pad_col(kpm)
    q = q.reshape(ln, n * nhead, d).transpose(1, 0, 2)
    k = k.reshape(k.shape[0], n * nhead, d).transpose(1, 0, 2)
    v = v.reshape(v.shape[0], n * nhead, d).transpose(1, 0, 2)
    if add_zero_attn:
        k = np.concatenate([k, np.zeros((n * nhead, 1, d))], 1)
        v = np.concatenate([v, np.zeros((n * nhead, 1, d))], 1)
        am, kpm = _pad_col(am), _pad_col(kpm)
    sn = k.shape[1]
    if kpm is not None:
        kpm_h = np.repeat(kpm[:, None, None, :], nhead, axis=1).reshape(n * nhead, 1, sn)
        am = kpm_h if am is None else am + kpm_h
    s = (q / math.sqrt(d)) @ np.swapaxes(k, 1, 2)
    if am is not None:
        s = s + am
    if causal_only:
        s = np.where(np.tril(np.ones((ln, sn), dtype=bool)), s, -np.inf)
    w = _plain_softmax(s) if need_weights else _safe_softmax(s)
    o = (w @ v).transpose(1, 0, 2).reshape(ln, n, e) @ p["out_proj.weight"].T
    o = o + p.get("out_proj.bias", 0.0)
    weights = None
    if need_weights:
        weights = w.reshape(n, nhead, ln, sn)
        weights = weights.mean(1) if average_attn_weights else weights
        if not batched:
            weights = weights[0]
    if not batched:
        o = o[:, 0]
    elif batch_first:
        o = np.swapaxes(o, 0, 1)
    return o, weights


def _expected_mha_keys(e: int, kdim: int, vdim: int, bias: bool, bias_kv: bool) -> Params:
    """PyTorch's ``state_dict`` keys and shapes for these options, in its order."""
    keys: dict[str, tuple[int, ...]] = {}
    if kdim == e and vdim == e:
        keys["in_proj_weight"] = (3 * e, e)
    else:
        keys.update(q_proj_weight=(e, e), k_proj_weight=(e, kdim), v_proj_weight=(e, vdim))
    if bias:
        keys["in_proj_bias"] = (3 * e,)
    if bias_kv:
        keys.update(bias_k=(1, 1, e), bias_v=(1, 1, e))
    keys["out_proj.weight"] = (e, e)
    if bias:
        keys["out_proj.bias"] = (e,)
    return {k: np.zeros(s) for k, s in keys.items()}


def _mha_cases() -> list[dict[str, Any]]:
    """40 random MHA modules and calls: batch_first or not, unbatched inputs, kdim/vdim,
    bias=False, add_bias_kv, add_zero_attn, bool/float padding masks, 2-D and 3-D attention
    masks, need_weights, per-head weights, a causal hint with its mask, self-attention."""
    rng = np.random.default_rng(3128)
    cases = []
    for _ in range(40):
        h = int(rng.integers(1, 4))
        e = h * int(rng.integers(1, 4))
        kdim = int(rng.integers(1, 6)) if rng.random() < 0.3 else e
        vdim = int(rng.integers(1, 6)) if rng.random() < 0.3 else e
        opts = {
            "bias": bool(rng.random() < 0.7),
            "add_bias_kv": bool(rng.random() < 0.3),
            "add_zero_attn": bool(rng.random() < 0.3),
            "batch_first": bool(rng.random() < 0.5),
            "dropout": float(rng.choice([0.0, 0.4])),  # checked in eval mode
        }
        batched = rng.random() < 0.8
        n, ln, sn = int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 5))
        self_attn = kdim == e and vdim == e and rng.random() < 0.3
        sn = ln if self_attn else sn

        def shape(
            length: int,
            width: int,
            n: int = n,
            batched: bool = batched,
            bf: bool = opts["batch_first"],
        ) -> tuple[int, ...]:
            if not batched:
                return (length, width)
            return (n, length, width) if bf else (length, n, width)

        query = rng.standard_normal(shape(ln, e))
        kpm = am = None
        if rng.random() < 0.45:
            ks = (n, sn) if batched else (sn,)
            kpm = rng.random(ks) < 0.3 if rng.random() < 0.5 else rng.standard_normal(ks)
        if rng.random() < 0.5:
            ams = (ln, sn) if rng.random() < 0.6 else ((n if batched else 1) * h, ln, sn)
            am = rng.random(ams) < 0.3 if rng.random() < 0.5 else rng.standard_normal(ams)
        causal = ln == sn and am is None and rng.random() < 0.3
        if causal:
            am = np.triu(np.ones((ln, sn), dtype=bool), 1)
        need_weights = bool(rng.random() < 0.5)
        if need_weights:  # keep every row attending somewhere: MHA's weights path gives NaN
            if kpm is not None and kpm.dtype == np.bool_:
                kpm[..., 0] = False
            if am is not None and am.dtype == np.bool_:
                am[..., 0] = False
        cases.append(
            {
                "e": e,
                "h": h,
                "kdim": kdim,
                "vdim": vdim,
                "opts": opts,
                "query": query,
                "key": query if self_attn else rng.standard_normal(shape(sn, kdim)),
                "value": query if self_attn else rng.standard_normal(shape(sn, vdim)),
                "kpm": kpm,
                "am": am,
                "causal": causal,
                "need_weights": need_weights,
                "average": bool(rng.random() < 0.5),
                "dtype": dm.float64 if rng.random() < 0.5 else dm.float32,
                "seed": int(rng.integers(0, 2**31)),
            }
        )
    return cases


_MHA = _mha_cases()


def _load_random(module: nn.Module, seed: int, dtype: Any) -> Params:
    """Fills every ``state_dict`` entry with random numbers (loaded the way a converted PyTorch
    checkpoint is); returns them in float64, rounded through ``dtype``."""
    rng = np.random.default_rng(seed)
    cast = np.float64 if dtype == dm.float64 else np.float32
    sd = {
        k: (0.5 * rng.standard_normal(tuple(v.shape))).astype(cast)
        for k, v in module.state_dict().items()
    }
    module.load_state_dict({k: _dm(v, dtype) for k, v in sd.items()})
    return {k: v.astype(np.float64) for k, v in sd.items()}


@pytest.mark.parametrize("i", range(len(_MHA)))
def test_mha_fuzz_matches_numpy(i: int) -> None:
    c = _MHA[i]
    dt, o = c["dtype"], c["opts"]
    cast = np.float64 if dt == dm.float64 else np.float32
    mha = nn.MultiheadAttention(c["e"], c["h"], kdim=c["kdim"], vdim=c["vdim"], dtype=dt, **o)
    want = _expected_mha_keys(c["e"], c["kdim"], c["vdim"], o["bias"], o["add_bias_kv"])
    got_sd = mha.state_dict()
    assert list(got_sd) == list(want)
    assert all(tuple(got_sd[k].shape) == want[k].shape for k in want)
    p = _load_random(mha, c["seed"], dt)
    mha.eval()  # dropout off
    x = [c[n].astype(cast).astype(np.float64) for n in ("query", "key", "value")]
    kpm, am = c["kpm"], c["am"]
    kpm = (
        None
        if kpm is None
        else (kpm if kpm.dtype == np.bool_ else kpm.astype(cast).astype(np.float64))
    )
    am = (
        None if am is None else (am if am.dtype == np.bool_ else am.astype(cast).astype(np.float64))
    )
    out, weights = mha(
        *(_dm(a, dt) for a in x),
        key_padding_mask=None if kpm is None else _dm(kpm, dt),
        attn_mask=None if am is None else _dm(am, dt),
        need_weights=c["need_weights"],
        average_attn_weights=c["average"],
        is_causal=c["causal"],
    )
    ref_out, ref_w = _np_mha(
        *x,
        p,
        c["h"],
        batch_first=o["batch_first"],
        add_zero_attn=o["add_zero_attn"],
        key_padding_mask=kpm,
        attn_mask=am,
        need_weights=c["need_weights"],
        average_attn_weights=c["average"],
        is_causal=c["causal"],
    )
    assert out.dtype == dt
    _close(out, ref_out, dt, "attn_output")
    if ref_w is None:
        assert weights is None
    else:
        _close(weights, ref_w, dt, "attn_weights")


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("i", [3, 11, 22, 37])
def test_mha_fuzz_gradients_float64(i: int, need_weights: bool) -> None:
    """Finite differences through every input and weight of a few fuzz cases (the functional
    form, so the weights are inputs), on both attention paths."""
    c = _MHA[i]
    o = c["opts"]
    mha = nn.MultiheadAttention(
        c["e"], c["h"], kdim=c["kdim"], vdim=c["vdim"], dtype=dm.float64, **o
    )
    p = _load_random(mha, c["seed"], dm.float64)
    names = list(p)
    batched = c["query"].ndim == 3
    kpm, am = c["kpm"], c["am"]
    if kpm is not None and kpm.dtype == np.bool_:
        kpm = kpm.copy()
        kpm[..., 0] = False  # no fully masked row (its NaN weights have no derivative)
    if am is not None and am.dtype == np.bool_:
        am = am.copy()
        am[..., 0] = False

    def fn(q: dm.Tensor, k: dm.Tensor, v: dm.Tensor, *w: dm.Tensor) -> dm.Tensor:
        ps = dict(zip(names, w))
        if batched and o["batch_first"]:
            q, k, v = (t.transpose(0, 1) for t in (q, k, v))
        out, weights = multi_head_attention_forward(
            q,
            k,
            v,
            c["e"],
            c["h"],
            ps.get("in_proj_weight"),
            ps.get("in_proj_bias"),
            ps.get("bias_k"),
            ps.get("bias_v"),
            o["add_zero_attn"],
            0.0,
            ps["out_proj.weight"],
            ps.get("out_proj.bias"),
            training=False,
            key_padding_mask=None if kpm is None else _dm(kpm),
            need_weights=need_weights,
            attn_mask=None if am is None else _dm(am),
            use_separate_proj_weight="in_proj_weight" not in ps,
            q_proj_weight=ps.get("q_proj_weight"),
            k_proj_weight=ps.get("k_proj_weight"),
            v_proj_weight=ps.get("v_proj_weight"),
        )
        return out if weights is None else dm.cat([out.reshape(-1), weights.reshape(-1)])

    inputs = [_dm(c[n], requires_grad=True) for n in ("query", "key", "value")]
    gradcheck(fn, inputs + [_dm(p[n], requires_grad=True) for n in names], atol=1e-6)


def test_mha_converted_checkpoint_gives_identical_outputs_in_both_dtypes() -> None:
    """One float32 checkpoint loaded into float32 and float64 modules: the same numbers up to
    float32 rounding, and ``state_dict`` round-trips exactly."""
    c = _MHA[5]
    o = c["opts"]
    m32 = nn.MultiheadAttention(c["e"], c["h"], kdim=c["kdim"], vdim=c["vdim"], **o)
    p = _load_random(m32, 7, dm.float32)
    m64 = nn.MultiheadAttention(
        c["e"], c["h"], kdim=c["kdim"], vdim=c["vdim"], dtype=dm.float64, **o
    )
    m64.load_state_dict({k: dm.tensor(v.astype(np.float32)) for k, v in p.items()})
    assert all(t.dtype == dm.float64 for t in m64.state_dict().values())
    for k, v in m32.state_dict().items():
        np.testing.assert_array_equal(to_numpy(v), p[k].astype(np.float32))
    m32.eval()
    m64.eval()
    x = [c[n] for n in ("query", "key", "value")]
    a = m32(*(_dm(t, dm.float32) for t in x))[0]
    b = m64(*(_dm(t) for t in x))[0]
    np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=1e-4, atol=1e-4)


# ---- transformer layers and stacks -----------------------------------------------------------


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


_ACTS: dict[str, tuple[Any, Callable[[np.ndarray], np.ndarray]]] = {
    "relu": ("relu", lambda x: np.maximum(x, 0.0)),
    "gelu": ("gelu", _gelu),
    "fn_gelu": (F.gelu, _gelu),
    "module_relu": (nn.ReLU(), lambda x: np.maximum(x, 0.0)),
    "tanh": (dm.tanh, np.tanh),
}


def _sub(p: Params, prefix: str) -> Params:
    return {k[len(prefix) + 1 :]: v for k, v in p.items() if k.startswith(prefix + ".")}


def _np_ln(x: np.ndarray, p: Params, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    y = (x - mu) / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps) * p["weight"]
    return y + p.get("bias", 0.0)


def _np_lin(x: np.ndarray, p: Params) -> np.ndarray:
    return x @ p["weight"].T + p.get("bias", 0.0)


def _np_layer(
    x: np.ndarray,
    mem: Optional[np.ndarray],
    p: Params,
    cfg: dict[str, Any],
    masks: dict[str, Optional[np.ndarray]],
) -> np.ndarray:
    """One encoder (``mem`` None) or decoder layer, post- or pre-norm."""
    act, eps, h, bf = _ACTS[cfg["act"]][1], cfg["eps"], cfg["h"], cfg["batch_first"]

    def attend(name: str, y: np.ndarray, kv: np.ndarray, am: Any, kpm: Any) -> np.ndarray:
        sp = _sub(p, name)
        out = _np_mha(
            y, kv, kv, sp, h, batch_first=bf, key_padding_mask=kpm, attn_mask=am, need_weights=False
        )
        return out[0]

    blocks: list[Callable[[np.ndarray], np.ndarray]] = [
        lambda y: attend("self_attn", y, y, masks["self"], masks["self_kpm"])
    ]
    if mem is not None:
        blocks.append(lambda y: attend("multihead_attn", y, mem, masks["mem"], masks["mem_kpm"]))
    blocks.append(lambda y: _np_lin(act(_np_lin(y, _sub(p, "linear1"))), _sub(p, "linear2")))
    for j, block in enumerate(blocks, 1):
        norm = _sub(p, f"norm{j}")
        x = (
            x + block(_np_ln(x, norm, eps))
            if cfg["norm_first"]
            else _np_ln(x + block(x), norm, eps)
        )
    return x


def _tfm_cases() -> list[dict[str, Any]]:
    """30 random layers/stacks: encoder/decoder layer, TransformerEncoder/Decoder (1-2 layers,
    optional final norm), Transformer; norm_first, activations (strings, a function, a module,
    a non-ReLU/GELU callable), bias=False, layer_norm_eps, batch_first, unbatched inputs, bool
    and float masks of every kind, causal masks flagged ``is_causal``/``tgt_is_causal``."""
    rng = np.random.default_rng(4228)
    kinds = ["enc_layer", "dec_layer", "encoder", "decoder", "transformer"]
    cases = []
    for i in range(30):
        h = int(rng.choice([1, 2]))
        cfg = {
            "kind": kinds[i % len(kinds)],
            "h": h,
            "e": h * int(rng.integers(1, 4)),
            "ff": int(rng.integers(1, 7)),
            "act": str(rng.choice(list(_ACTS))),
            "eps": float(rng.choice([1e-5, 1e-3, 0.1])),
            "batch_first": bool(rng.random() < 0.5),
            "norm_first": bool(rng.random() < 0.5),
            "bias": bool(rng.random() < 0.7),
            "layers": int(rng.integers(1, 3)),
            "final_norm": bool(rng.random() < 0.5),
            "batched": bool(rng.random() < 0.85),
            "dtype": dm.float64 if rng.random() < 0.5 else dm.float32,
            "seed": int(rng.integers(0, 2**31)),
        }
        n, sn, tn = int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 5))

        def shape(length: int, n: int = n, c: dict = cfg) -> tuple[int, ...]:
            if not c["batched"]:
                return (length, c["e"])
            return (n, length, c["e"]) if c["batch_first"] else (length, n, c["e"])

        def kpm(length: int, n: int = n, c: dict = cfg) -> Optional[np.ndarray]:
            if rng.random() < 0.55:
                return None
            s = (n, length) if c["batched"] else (length,)
            m = rng.random(s) < 0.3
            m[..., 0] = False  # every query keeps a key
            return m if rng.random() < 0.5 else np.where(m, -np.inf, rng.standard_normal(s))

        def amask(rows: int, cols: int, n: int = n, c: dict = cfg) -> tuple[Any, bool]:
            r = rng.random()
            if r < 0.35:
                return None, False
            if r < 0.6 and rows == cols:
                m = np.triu(np.ones((rows, cols), dtype=bool), 1)
                return (m if rng.random() < 0.5 else np.where(m, -np.inf, 0.0)), True
            s = (
                (rows, cols)
                if rng.random() < 0.7
                else ((n if c["batched"] else 1) * c["h"], rows, cols)
            )
            if rng.random() < 0.5:
                m = rng.random(s) < 0.3
                m[..., 0] = False
                return m, False
            return rng.standard_normal(s), False

        src_mask, src_causal = amask(sn, sn)
        tgt_mask, tgt_causal = amask(tn, tn)
        mem_mask, _ = amask(tn, sn)
        cfg.update(
            src=rng.standard_normal(shape(sn)),
            tgt=rng.standard_normal(shape(tn)),
            src_mask=src_mask,
            src_causal=src_causal and rng.random() < 0.5,
            tgt_mask=tgt_mask,
            tgt_causal=tgt_causal and rng.random() < 0.5,
            mem_mask=mem_mask,
            src_kpm=kpm(sn),
            tgt_kpm=kpm(tn),
            mem_kpm=kpm(sn),
        )
        cases.append(cfg)
    return cases


_TFM = _tfm_cases()


def _build(c: dict[str, Any], dtype: Any) -> nn.Module:
    act = _ACTS[c["act"]][0]
    kw = {
        "dim_feedforward": c["ff"],
        "dropout": 0.3,  # run in eval mode: no effect
        "activation": act,
        "layer_norm_eps": c["eps"],
        "batch_first": c["batch_first"],
        "norm_first": c["norm_first"],
        "bias": c["bias"],
        "dtype": dtype,
    }
    e, h, kind = c["e"], c["h"], c["kind"]
    norm = nn.LayerNorm(e, dtype=dtype) if c["final_norm"] else None
    if kind == "enc_layer":
        return nn.TransformerEncoderLayer(e, h, **kw)
    if kind == "dec_layer":
        return nn.TransformerDecoderLayer(e, h, **kw)
    if kind == "encoder":
        return nn.TransformerEncoder(nn.TransformerEncoderLayer(e, h, **kw), c["layers"], norm)
    if kind == "decoder":
        return nn.TransformerDecoder(nn.TransformerDecoderLayer(e, h, **kw), c["layers"], norm)
    return nn.Transformer(e, h, c["layers"], 3 - c["layers"], **kw)


def _np_model(c: dict[str, Any], p: Params, x: dict[str, Any]) -> np.ndarray:
    kind = c["kind"]
    enc_masks = {"self": x["src_mask"], "self_kpm": x["src_kpm"]}
    dec_masks = {
        "self": x["tgt_mask"],
        "self_kpm": x["tgt_kpm"],
        "mem": x["mem_mask"],
        "mem_kpm": x["mem_kpm"],
    }

    def stack(
        prefix: str, y: np.ndarray, mem: Optional[np.ndarray], masks: dict, n: int
    ) -> np.ndarray:
        for j in range(n):
            y = _np_layer(y, mem, _sub(p, f"{prefix}layers.{j}"), c, masks)
        norm = _sub(p, f"{prefix}norm")
        return _np_ln(y, norm, 1e-5 if kind != "transformer" else c["eps"]) if norm else y

    if kind == "enc_layer":
        return _np_layer(x["src"], None, p, c, enc_masks)
    if kind == "dec_layer":
        return _np_layer(x["tgt"], x["src"], p, c, dec_masks)
    if kind == "encoder":
        return stack("", x["src"], None, enc_masks, c["layers"])
    if kind == "decoder":
        return stack("", x["tgt"], x["src"], dec_masks, c["layers"])
    memory = stack("encoder.", x["src"], None, enc_masks, c["layers"])
    return stack("decoder.", x["tgt"], memory, dec_masks, 3 - c["layers"])


def _call(model: nn.Module, c: dict[str, Any], t: dict[str, Any]) -> dm.Tensor:
    kind = c["kind"]
    if kind in ("enc_layer", "encoder"):
        mask_name = "src_mask" if kind == "enc_layer" else "mask"
        return model(
            t["src"],
            **{mask_name: t["src_mask"]},
            src_key_padding_mask=t["src_kpm"],
            is_causal=c["src_causal"] if kind == "enc_layer" else (c["src_causal"] or None),
        )
    dec = {
        "tgt_mask": t["tgt_mask"],
        "memory_mask": t["mem_mask"],
        "tgt_key_padding_mask": t["tgt_kpm"],
        "memory_key_padding_mask": t["mem_kpm"],
        "tgt_is_causal": c["tgt_causal"] if kind == "dec_layer" else (c["tgt_causal"] or None),
    }
    if kind in ("dec_layer", "decoder"):
        return model(t["tgt"], t["src"], **dec)
    return model(
        t["src"],
        t["tgt"],
        src_mask=t["src_mask"],
        src_key_padding_mask=t["src_kpm"],
        src_is_causal=c["src_causal"] or None,
        **dec,
    )


_TFM_INPUTS = ("src", "tgt", "src_mask", "tgt_mask", "mem_mask", "src_kpm", "tgt_kpm", "mem_kpm")


@pytest.mark.parametrize("i", range(len(_TFM)))
def test_transformer_fuzz_matches_numpy(i: int) -> None:
    c = _TFM[i]
    dt = c["dtype"]
    cast = np.float64 if dt == dm.float64 else np.float32
    model = _build(c, dt)
    p = _load_random(model, c["seed"], dt)
    model.eval()
    x = {
        k: None
        if c[k] is None
        else (c[k] if c[k].dtype == np.bool_ else c[k].astype(cast).astype(np.float64))
        for k in _TFM_INPUTS
    }
    t = {k: None if v is None else _dm(v, dt) for k, v in x.items()}
    out = _call(model, c, t)
    assert out.dtype == dt
    _close(out, _np_model(c, p, x), dt, "output")


@pytest.mark.parametrize("i", [0, 1, 7, 13, 24])
def test_transformer_fuzz_gradients_float64(i: int) -> None:
    """Finite differences through the inputs; the parameters' gradients against a float32 run
    of the same case (same weights) as a cross-check of the two dtypes' backward passes."""
    c = _TFM[i]
    model = _build(c, dm.float64)
    p = _load_random(model, c["seed"], dm.float32)  # float32-exact weights, loaded as float64
    model.load_state_dict({k: _dm(v) for k, v in p.items()})
    model.eval()
    masks = {
        k: None if c[k] is None else _dm(c[k].astype(np.float32).astype(np.float64))
        for k in _TFM_INPUTS[2:]
    }
    seqs = ["src"] if c["kind"] in ("enc_layer", "encoder") else ["src", "tgt"]

    def fn(*xs: dm.Tensor) -> dm.Tensor:
        return _call(model, c, {**masks, "src": None, "tgt": None, **dict(zip(seqs, xs))})

    gradcheck(fn, [_dm(c[n].astype(np.float32), requires_grad=True) for n in seqs], atol=1e-6)

    model32 = _build(c, dm.float32)
    model32.load_state_dict({k: _dm(v, dm.float32) for k, v in p.items()})
    model32.eval()
    grads = {}
    for m, dt in ((model, dm.float64), (model32, dm.float32)):
        ts = {k: None if v is None else _dm(to_numpy(v), dt) for k, v in masks.items()}
        ts.update({n: _dm(c[n].astype(np.float32), dt) for n in seqs})
        out = _call(m, c, ts)
        wave = np.cos(np.arange(math.prod(out.shape)) * 0.7).reshape(tuple(out.shape))
        (out * _dm(wave, dt)).sum().backward()
        grads[dt] = {k: to_numpy(v.grad) for k, v in m.named_parameters() if v.grad is not None}
    assert set(grads[dm.float64]) == set(grads[dm.float32]) == set(dict(model.named_parameters()))
    for k, g in grads[dm.float64].items():
        np.testing.assert_allclose(grads[dm.float32][k], g, rtol=1e-3, atol=1e-3, err_msg=k)


@pytest.mark.parametrize("mask_check", [True, False])
@pytest.mark.parametrize("final_norm", [True, False])
def test_encoder_nested_path_zeroes_padding_in_inference(
    mask_check: bool, final_norm: bool
) -> None:
    """PyTorch's nested-tensor path (eval, no gradient, qualifying layer, padding mask, no
    ``mask``) returns zeros (then ``norm``) at padded steps and the plain stack's numbers
    elsewhere; with ``mask_check=False`` it keeps the first unpadded-count steps of each
    sequence wherever the padding is."""
    c = {"act": "relu", "eps": 1e-5, "h": 2, "batch_first": True, "norm_first": False}
    layer = nn.TransformerEncoderLayer(4, 2, 5, 0.1, batch_first=True, dtype=dm.float64)
    norm = nn.LayerNorm(4, dtype=dm.float64) if final_norm else None
    enc = nn.TransformerEncoder(layer, 2, norm, enable_nested_tensor=True, mask_check=mask_check)
    assert enc.use_nested_tensor
    p = _load_random(enc, 11, dm.float64)
    enc.eval()
    x = np.random.default_rng(12).standard_normal((3, 4, 4))
    kpm = np.array(
        [[False, False, True, True], [False, False, False, False], [False, True, False, True]]
    )
    with dm.no_grad():
        got = to_numpy(enc(_dm(x), src_key_padding_mask=_dm(kpm)))
    if mask_check:  # row 2 is not end padding: PyTorch skips the nested path
        dropped = np.zeros_like(kpm)
        used = kpm
    else:
        kept = (~kpm).sum(1, keepdims=True)
        dropped = np.arange(4)[None] >= kept
        used = dropped
    masks = {"self": None, "self_kpm": used}
    y = x
    for j in range(2):
        y = _np_layer(y, None, _sub(p, f"layers.{j}"), c, masks)
    if not mask_check:
        y = np.where(dropped[..., None], 0.0, y)
    if final_norm:
        y = _np_ln(y, _sub(p, "norm"), 1e-5)
    np.testing.assert_allclose(got, y, rtol=1e-10, atol=1e-10)


# ---- errors ----------------------------------------------------------------------------------


def _mha42() -> nn.MultiheadAttention:
    return nn.MultiheadAttention(4, 2)


_X = dm.ones(3, 2, 4)
_Y = dm.ones(5, 2, 4)
_Q = dm.ones(2, 3, 4)  # SDPA: [N, L, E] queries, [N, S, E] keys
_K = dm.ones(2, 5, 4)

_ERRORS: dict[str, tuple[Callable[[], Any], type]] = {
    "embed_dim not divisible": (lambda: nn.MultiheadAttention(5, 2), ValueError),
    "zero heads": (lambda: nn.TransformerEncoderLayer(4, 0), ValueError),
    "layer embed not divisible": (lambda: nn.TransformerDecoderLayer(6, 4), ValueError),
    "bad activation": (lambda: nn.TransformerEncoderLayer(4, 2, activation="tanh"), RuntimeError),
    "2-D attn_mask shape": (lambda: _mha42()(_X, _Y, _Y, attn_mask=dm.zeros(3, 4)), ShapeError),
    "3-D attn_mask shape": (lambda: _mha42()(_X, _Y, _Y, attn_mask=dm.zeros(2, 3, 5)), ShapeError),
    "4-D attn_mask": (lambda: _mha42()(_X, _Y, _Y, attn_mask=dm.zeros(2, 2, 3, 5)), ShapeError),
    "kpm shape": (
        lambda: _mha42()(_X, _Y, _Y, key_padding_mask=dm.zeros(2, 4, dtype=dm.bool)),
        ShapeError,
    ),
    "kpm rank": (
        lambda: _mha42()(_X, _Y, _Y, key_padding_mask=dm.zeros(5, dtype=dm.bool)),
        ShapeError,
    ),
    "int attn_mask": (
        lambda: _mha42()(_X, _Y, _Y, attn_mask=dm.zeros(3, 5, dtype=dm.int64)),
        DTypeError,
    ),
    "int kpm": (
        lambda: _mha42()(_X, _Y, _Y, key_padding_mask=dm.zeros(2, 5, dtype=dm.int64)),
        DTypeError,
    ),
    "query width": (lambda: _mha42()(dm.ones(3, 2, 5), _Y, _Y), ShapeError),
    "key batch": (lambda: _mha42()(_X, dm.ones(5, 3, 4), dm.ones(5, 3, 4)), ShapeError),
    "key/value length": (lambda: _mha42()(_X, _Y, dm.ones(4, 2, 4)), ShapeError),
    "mixed ranks": (lambda: _mha42()(_X[:, 0], _Y, _Y), ShapeError),
    "4-D query": (lambda: _mha42()(_X[None], _Y[None], _Y[None]), ShapeError),
    "int query": (lambda: _mha42()(*(dm.ones(3, 2, 4, dtype=dm.int64),) * 3), DTypeError),
    "layer src_mask": (
        lambda: nn.TransformerEncoderLayer(4, 2, 8)(_X, src_mask=dm.zeros(3, 2)),
        ShapeError,
    ),
    "layer int kpm": (
        lambda: nn.TransformerEncoderLayer(4, 2, 8)(
            _X, src_key_padding_mask=dm.zeros(2, 3, dtype=dm.int32)
        ),
        DTypeError,
    ),
    "decoder memory width": (
        lambda: nn.TransformerDecoderLayer(4, 2, 8)(_X, dm.ones(5, 2, 3)),
        ShapeError,
    ),
    "decoder memory_mask": (
        lambda: nn.TransformerDecoderLayer(4, 2, 8)(_X, _Y, memory_mask=dm.zeros(3, 4)),
        ShapeError,
    ),
    "transformer batch": (lambda: nn.Transformer(4, 2, 1, 1, 8)(_X, dm.ones(5, 3, 4)), ShapeError),
    "transformer width": (lambda: nn.Transformer(4, 2, 1, 1, 8)(_X, dm.ones(5, 2, 3)), ShapeError),
    "transformer batched src, unbatched tgt": (
        lambda: nn.Transformer(4, 2, 1, 1, 8)(_X, dm.ones(5, 4)),
        ShapeError,
    ),
    "negative mask size": (
        lambda: nn.Transformer.generate_square_subsequent_mask(-1),
        InvalidValueError,
    ),
    "sdpa mask and is_causal": (
        lambda: F.scaled_dot_product_attention(
            _X, _X, _X, attn_mask=dm.ones(3, 3, dtype=dm.bool), is_causal=True
        ),
        ValueError,
    ),
    "sdpa mask shape": (
        lambda: F.scaled_dot_product_attention(_Q, _K, _K, attn_mask=dm.ones(3, 4)),
        ShapeError,
    ),
    "sdpa int mask": (
        lambda: F.scaled_dot_product_attention(_Q, _K, _K, attn_mask=dm.ones(3, 5, dtype=dm.int64)),
        DTypeError,
    ),
    "sdpa dtypes": (lambda: F.scaled_dot_product_attention(_Q, _K.double(), _K), DTypeError),
    "sdpa int inputs": (
        lambda: F.scaled_dot_product_attention(*(dm.ones(2, 3, 4, dtype=dm.int64),) * 3),
        DTypeError,
    ),
    "sdpa features": (
        lambda: F.scaled_dot_product_attention(_Q, dm.ones(2, 5, 3), _K),
        ShapeError,
    ),
    "sdpa gqa heads": (
        lambda: F.scaled_dot_product_attention(
            dm.ones(1, 3, 2, 4), dm.ones(1, 2, 5, 4), dm.ones(1, 2, 5, 4), enable_gqa=True
        ),
        ShapeError,
    ),
    "sdpa heads without gqa": (
        lambda: F.scaled_dot_product_attention(
            dm.ones(1, 4, 2, 4), dm.ones(1, 2, 5, 4), dm.ones(1, 2, 5, 4)
        ),
        ShapeError,
    ),
    "sdpa 1-D": (
        lambda: F.scaled_dot_product_attention(dm.ones(4), dm.ones(5, 4), dm.ones(5, 4)),
        ShapeError,
    ),
}


@pytest.mark.parametrize("name", list(_ERRORS))
def test_errors_are_typed(name: str) -> None:
    """Each bad call raises the project's typed error (or PyTorch's built-in one), a subclass
    of the built-in exception PyTorch raises there, never a panic."""
    fn, exc = _ERRORS[name]
    with pytest.raises(exc) as info:
        fn()
    assert isinstance(info.value, Exception)
    if exc is not RuntimeError:
        assert isinstance(info.value, DemocratisingError), type(info.value)
