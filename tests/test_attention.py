"""The fused ``F.scaled_dot_product_attention`` against a NumPy reference: odd lengths (several
key tiles, partial tiles), head dims, causal, boolean/float/broadcast masks, grouped-query
attention, dropout, half dtypes and autocast, empty and non-contiguous inputs; float64
finite-difference gradients; the typed errors. The CUDA kernels are compared with these CPU
kernels in test_cuda_parity.py (on the emulated device in ``make test``)."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import _core
from democratising.errors import AutogradError, DTypeError, ShapeError
from helpers import gradcheck

rng = np.random.default_rng(0)


def reference(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: Optional[np.ndarray] = None,
    causal: bool = False,
    scale: Optional[float] = None,
) -> np.ndarray:
    """softmax(q k^T * scale + mask) v in float64; a fully masked row gives zeros."""
    if q.ndim > 2 and k.shape[-3] != q.shape[-3]:
        rep = q.shape[-3] // k.shape[-3]
        k, v = np.repeat(k, rep, axis=-3), np.repeat(v, rep, axis=-3)
    s = q @ np.swapaxes(k, -1, -2) * (1 / np.sqrt(q.shape[-1]) if scale is None else scale)
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    top = s.max(-1, keepdims=True) if s.shape[-1] else np.zeros((*s.shape[:-1], 1))
    p = np.exp(s - np.where(np.isfinite(top), top, 0))
    den = p.sum(-1, keepdims=True)
    return np.where(den > 0, p / np.where(den > 0, den, 1), 0) @ v


def arrays(*shapes: tuple[int, ...]) -> list[np.ndarray]:
    return [rng.standard_normal(s) for s in shapes]


def sdpa(q: np.ndarray, k: np.ndarray, v: np.ndarray, dtype: str = "float64", **kw) -> np.ndarray:
    t = [dm.tensor(x.astype(dtype)) for x in (q, k, v)]
    return F.scaled_dot_product_attention(*t, **kw).float().numpy().astype(np.float64)


@pytest.mark.parametrize("t", [1, 17, 129])
@pytest.mark.parametrize("e", [8, 40, 64, 80])
@pytest.mark.parametrize("causal", [False, True])
def test_matches_numpy_on_odd_sizes(t: int, e: int, causal: bool) -> None:
    q, k, v = arrays((2, 3, t, e), (2, 3, t, e), (2, 3, t, e))
    want = reference(q, k, v, causal=causal)
    np.testing.assert_allclose(sdpa(q, k, v, is_causal=causal), want, atol=1e-12)
    np.testing.assert_allclose(sdpa(q, k, v, "float32", is_causal=causal), want, atol=2e-5)


def test_queries_and_keys_of_different_lengths_and_value_width() -> None:
    q, k, v = arrays((2, 2, 5, 16), (2, 2, 70, 16), (2, 2, 70, 24))
    for causal in (False, True):
        np.testing.assert_allclose(
            sdpa(q, k, v, is_causal=causal), reference(q, k, v, causal=causal), atol=1e-12
        )


@pytest.mark.parametrize(
    "mask_shape", [(9, 70), (2, 1, 1, 70), (2, 3, 9, 70), (3, 1, 70), (1, 1, 9, 1)]
)
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_masks_broadcast_like_pytorch(mask_shape: tuple[int, ...], kind: str) -> None:
    q, k, v = arrays((2, 3, 9, 8), (2, 3, 70, 8), (2, 3, 70, 8))
    mask = rng.random(mask_shape) > 0.3 if kind == "bool" else rng.standard_normal(mask_shape)
    got = sdpa(q, k, v, attn_mask=dm.tensor(mask))
    np.testing.assert_allclose(got, reference(q, k, v, mask=mask), atol=1e-12)


def test_unbatched_and_three_dim_inputs() -> None:
    q, k, v = arrays((7, 8), (9, 8), (9, 4))
    np.testing.assert_allclose(sdpa(q, k, v), reference(q, k, v), atol=1e-12)
    q, k, v = arrays((3, 7, 8), (3, 9, 8), (3, 9, 4))
    np.testing.assert_allclose(sdpa(q, k, v, is_causal=True), reference(q, k, v, causal=True))


def test_grouped_query_attention_and_scale() -> None:
    q, k, v = arrays((2, 6, 11, 8), (2, 2, 13, 8), (2, 2, 13, 8))
    got = sdpa(q, k, v, enable_gqa=True, scale=0.3)
    np.testing.assert_allclose(got, reference(q, k, v, scale=0.3), atol=1e-12)


def test_fully_masked_rows_give_zeros_and_finite_gradients() -> None:
    q, k, v = (
        dm.tensor(x, requires_grad=True) for x in arrays((1, 2, 4, 8), (1, 2, 6, 8), (1, 2, 6, 8))
    )
    mask = np.ones((4, 6), bool)
    mask[1] = False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=dm.tensor(mask))
    assert np.all(out.detach().numpy()[:, :, 1] == 0)
    out.sum().backward()
    for t in (q, k, v):
        assert np.isfinite(t.grad.numpy()).all()
    assert np.all(q.grad.numpy()[:, :, 1] == 0)


def test_non_contiguous_inputs() -> None:
    base = rng.standard_normal((2, 17, 3, 8))  # [B, L, H, E], viewed as [B, H, L, E]
    t = dm.tensor(base).transpose(1, 2)
    assert not t.is_contiguous()
    want = reference(*(np.swapaxes(base, 1, 2),) * 3, causal=True)
    got = F.scaled_dot_product_attention(t, t, t, is_causal=True).numpy()
    np.testing.assert_allclose(got, want, atol=1e-12)


def _heads(x: dm.Tensor, n: int, h: int) -> list[dm.Tensor]:
    """q, k, v split out of one ``[B, L, 3 * n]`` projection as a transformer does: strided
    ``[B, H, L, n / H]`` views of it."""
    b, t, _ = x.shape
    return [z.reshape(b, t, h, n // h).transpose(1, 2) for z in x.split(n, dim=2)]


@pytest.mark.parametrize("causal", [False, True])
def test_heads_split_from_one_projection_are_read_in_place(causal: bool) -> None:
    x = rng.standard_normal((2, 70, 3 * 12))
    q, k, v = _heads(dm.tensor(x), 12, 3)
    assert not q.is_contiguous()
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    qn, kn, vn = (
        np.swapaxes(x[..., i * 12 : (i + 1) * 12].reshape(2, 70, 3, 4), 1, 2) for i in range(3)
    )
    np.testing.assert_allclose(out.numpy(), reference(qn, kn, vn, causal=causal), atol=1e-12)
    # The output is laid out as the queries are, so merging the heads back is a free view.
    assert out.transpose(1, 2).is_contiguous()
    assert tuple(out.transpose(1, 2).view(2, 70, 12).shape) == (2, 70, 12)


def test_gradcheck_through_heads_split_from_one_projection() -> None:
    (x,) = _leaves((2, 9, 3 * 6))

    def fn(x: dm.Tensor) -> dm.Tensor:
        q, k, v = _heads(x, 6, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return y.transpose(1, 2).reshape(2, 9, 6)

    gradcheck(fn, [x])


def test_strided_gradients_match_contiguous_ones_and_keep_each_input_layout() -> None:
    x = rng.standard_normal((2, 33, 3 * 16))
    xs = dm.tensor(x, requires_grad=True)
    q, k, v = _heads(xs, 16, 4)
    (F.scaled_dot_product_attention(q, k, v, is_causal=True) ** 2).sum().backward()
    leaves = [
        dm.tensor(np.ascontiguousarray(t.detach().numpy()), requires_grad=True) for t in (q, k, v)
    ]
    (F.scaled_dot_product_attention(*leaves, is_causal=True) ** 2).sum().backward()
    want = np.concatenate(
        [np.swapaxes(t.grad.numpy(), 1, 2).reshape(2, 33, 16) for t in leaves], axis=2
    )
    np.testing.assert_allclose(xs.grad.numpy(), want, rtol=1e-12, atol=1e-12)
    # Contiguous leaves get contiguous gradients.
    assert all(t.grad.is_contiguous() for t in leaves)


def test_rows_that_are_not_contiguous_are_copied_first() -> None:
    base = rng.standard_normal((1, 2, 8, 5))  # viewed as [1, 2, 5, 8]: feature stride 5
    t = dm.tensor(base, requires_grad=True)
    q = t.transpose(-1, -2)
    out = F.scaled_dot_product_attention(q, q, q)
    want = reference(*(np.swapaxes(base, -1, -2),) * 3)
    np.testing.assert_allclose(out.detach().numpy(), want, atol=1e-12)
    gradcheck(lambda t: F.scaled_dot_product_attention(*(t.transpose(-1, -2),) * 3), [t])


@pytest.mark.parametrize(
    "shapes",
    [
        ((2, 3, 0, 8), (2, 3, 5, 8), (2, 3, 5, 4)),
        ((2, 3, 4, 8), (2, 3, 0, 8), (2, 3, 0, 4)),
        ((0, 3, 4, 8), (0, 3, 5, 8), (0, 3, 5, 4)),
    ],
)
def test_empty_inputs(shapes: tuple[tuple[int, ...], ...]) -> None:
    ts = [dm.tensor(x, requires_grad=True) for x in arrays(*shapes)]
    out = F.scaled_dot_product_attention(*ts)
    assert tuple(out.shape) == (*shapes[0][:-1], shapes[2][-1])
    assert np.all(out.detach().numpy() == 0)
    out.sum().backward()
    for t, shape in zip(ts, shapes):
        assert tuple(t.grad.shape) == shape


def test_broadcast_batch_dims_use_the_composite() -> None:
    q, k, v = arrays((2, 3, 5, 8), (1, 3, 6, 8), (1, 3, 6, 8))
    got = sdpa(q, k, v)
    np.testing.assert_allclose(got, reference(q, k, v), atol=1e-12)


# ---- gradients ------------------------------------------------------------------------------


def _leaves(*shapes: tuple[int, ...]) -> list[dm.Tensor]:
    return [dm.tensor(x, requires_grad=True) for x in arrays(*shapes)]


@pytest.mark.parametrize("causal", [False, True])
def test_gradcheck_causal_gqa_over_several_tiles(causal: bool) -> None:
    ts = _leaves((1, 4, 5, 3), (1, 2, 70, 3), (1, 2, 70, 2))

    def fn(q: dm.Tensor, k: dm.Tensor, v: dm.Tensor) -> dm.Tensor:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=True)

    gradcheck(fn, ts)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_gradcheck_with_a_mask(kind: str) -> None:
    ts = _leaves((2, 2, 4, 3), (2, 2, 6, 3), (2, 2, 6, 5))
    m = rng.random((2, 1, 4, 6)) > 0.4 if kind == "bool" else rng.standard_normal((4, 6))
    mask = dm.tensor(m)
    gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=mask), ts)


def test_gradcheck_with_dropout_uses_the_forward_mask() -> None:
    ts = _leaves((1, 2, 5, 3), (1, 2, 7, 3), (1, 2, 7, 4))

    def fn(q: dm.Tensor, k: dm.Tensor, v: dm.Tensor) -> dm.Tensor:
        dm.manual_seed(11)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)

    gradcheck(fn, ts)


@pytest.mark.parametrize("e", [16, 40, 80])
def test_fused_gradients_match_the_composite_in_float32(e: int) -> None:
    # Head dims that take each of the kernels' 32-lane, 16-lane and scalar remainder paths.
    shapes = ((2, 4, 130, e), (2, 2, 130, e), (2, 2, 130, e - 4))
    data = arrays(*shapes)
    grads = []
    for fused in (True, False):
        ts = [dm.tensor(x.astype(np.float32), requires_grad=True) for x in data]
        if fused:
            out = _core._scaled_dot_product_attention(*ts, is_causal=True, enable_gqa=True)
        else:
            k, v = (t.repeat_interleave(2, dim=1) for t in ts[1:])
            scores = (ts[0] @ k.transpose(-2, -1)) / float(np.sqrt(e))
            causal = dm.tensor(np.triu(np.ones((130, 130), bool), 1))
            out = scores.masked_fill(causal, float("-inf")).softmax(-1) @ v
        (out * dm.tensor(data[0][..., : e - 4].astype(np.float32))).sum().backward()
        grads.append([t.grad.numpy() for t in ts])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# ---- dropout, dtypes, autocast ---------------------------------------------------------------


def test_dropout_is_seeded_unbiased_and_zeroes_probabilities() -> None:
    q, k, v = (
        dm.tensor(x.astype(np.float32)) for x in arrays((4, 8, 16, 8), (4, 8, 16, 8), (4, 8, 16, 8))
    )
    dm.manual_seed(0)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    dm.manual_seed(0)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    c = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    plain = F.scaled_dot_product_attention(q, k, v).numpy()
    mean = np.mean(
        [F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy() for _ in range(200)], 0
    )
    assert np.abs(mean - plain).mean() < 0.05 * np.abs(plain).mean() + 0.02


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_inputs_compute_in_float32(dtype: str) -> None:
    data = arrays((2, 2, 33, 16), (2, 2, 33, 16), (2, 2, 33, 16))
    ts = [dm.tensor(x).to(getattr(dm, dtype)).requires_grad_() for x in data]
    out = F.scaled_dot_product_attention(*ts, is_causal=True)
    assert out.dtype == getattr(dm, dtype)
    want = reference(*(t.detach().double().numpy() for t in ts), causal=True)
    np.testing.assert_allclose(out.double().detach().numpy(), want, atol=3e-2)
    out.float().sum().backward()
    assert all(t.grad.dtype == getattr(dm, dtype) for t in ts)


def bf16_run(data: list[np.ndarray], dtype: str, seed: int = 0, **kw) -> list[np.ndarray]:
    """Output and gradients of the attention over ``data`` rounded to bfloat16, computed on
    ``dtype`` operands (the bfloat16 kernels, or float32 ones on the same values)."""
    ts = [dm.tensor(x.astype(np.float32)).bfloat16().to(getattr(dm, dtype)) for x in data[:3]]
    ts = [t.requires_grad_() for t in ts]
    dm.manual_seed(seed)
    out = F.scaled_dot_product_attention(*ts, **kw)
    (out.float() * dm.tensor(data[3].astype(np.float32))).sum().backward()
    return [t.detach().float().numpy() for t in (out, *(t.grad for t in ts))]


@pytest.mark.parametrize(
    "q, k, ev, kw",
    [
        ((2, 3, 17, 8), (2, 3, 17, 8), 8, {"is_causal": True}),
        ((1, 2, 129, 64), (1, 2, 129, 64), 64, {"is_causal": True}),
        ((1, 2, 129, 80), (1, 2, 70, 80), 80, {}),
        ((2, 4, 33, 7), (2, 2, 33, 7), 5, {"enable_gqa": True}),
        ((1, 1, 1, 64), (1, 1, 1, 64), 64, {"is_causal": True}),
        ((2, 2, 40, 256), (2, 2, 50, 256), 256, {"scale": 0.3}),
        ((2, 2, 65, 16), (2, 2, 65, 16), 16, {"dropout_p": 0.3}),
        ((3, 9, 16), (3, 9, 16), 16, {"is_causal": True}),
        # Head dims in whole 32s: the AMX forward where the CPU has it.
        ((2, 4, 70, 32), (2, 2, 70, 32), 32, {"enable_gqa": True, "is_causal": True}),
        ((2, 2, 65, 64), (2, 2, 65, 64), 64, {"dropout_p": 0.3}),
        ((1, 2, 50, 32), (1, 2, 130, 32), 96, {"is_causal": True}),
        ((1, 3, 200, 128), (1, 3, 200, 128), 64, {"is_causal": True}),
    ],
)
def test_bfloat16_kernels_match_float32_on_the_same_values(q, k, ev, kw) -> None:
    data = arrays(q, k, (*k[:-1], ev), (*q[:-1], ev))
    got, want = bf16_run(data, "bfloat16", **kw), bf16_run(data, "float32", **kw)
    for name, a, b in zip(("out", "dq", "dk", "dv"), got, want):
        # Probabilities and score gradients are rounded to bfloat16 for the products.
        scale = np.abs(b).max() + 1e-6
        assert np.abs(a - b).max() <= 0.02 * scale, name


@pytest.mark.parametrize("boolean", [True, False])
@pytest.mark.parametrize("e, ev", [(16, 12), (32, 64)])
def test_bfloat16_kernels_apply_broadcast_masks(boolean: bool, e: int, ev: int) -> None:
    data = arrays((2, 3, 37, e), (2, 3, 45, e), (2, 3, 45, ev), (2, 3, 37, ev))
    keep = rng.random((3, 1, 45)) > 0.4
    keep[..., 0] = True
    mask = dm.tensor(keep) if boolean else dm.tensor(np.where(keep, 0.5, -1e4).astype(np.float32))
    got = bf16_run(data, "bfloat16", attn_mask=mask)
    want = bf16_run(data, "float32", attn_mask=mask)
    for a, b in zip(got, want):
        assert np.abs(a - b).max() <= 0.02 * (np.abs(b).max() + 1e-6)


def test_bfloat16_kernels_on_empty_and_strided_inputs() -> None:
    empty = [dm.zeros(2, 2, 0, 8, dtype=dm.bfloat16) for _ in range(3)]
    assert F.scaled_dot_product_attention(*empty).shape == (2, 2, 0, 8)
    q = dm.randn(2, 4, 3, 16, dtype=dm.bfloat16)
    k = dm.zeros(2, 3, 0, 16, dtype=dm.bfloat16)
    out = F.scaled_dot_product_attention(q[:, :3], k, k)
    assert out.shape == (2, 3, 3, 16) and float(out.float().abs().sum()) == 0.0
    # Heads split out of one projection, as in a transformer: transposed, non-contiguous views.
    x = dm.randn(2, 20, 3 * 32, dtype=dm.bfloat16)
    qs, ks, vs = (z.reshape(2, 20, 2, 16).transpose(1, 2) for z in x.split(32, dim=2))
    got = F.scaled_dot_product_attention(qs, ks, vs, is_causal=True).float().numpy()
    want = reference(*(t.double().numpy() for t in (qs, ks, vs)), causal=True)
    np.testing.assert_allclose(got, want, atol=3e-2)


@pytest.mark.parametrize("e", [16, 64])
def test_bfloat16_kernels_read_views_at_an_odd_offset(e: int) -> None:
    # Contiguous views starting one element into their storage: the kernels' word layouts
    # cannot reinterpret them in place and copy instead, with the same results.
    shape = (2, 3, 64, e)  # whole blocks of 32 rows: read in place where that is possible
    n = int(np.prod(shape))
    store = [dm.randn(n + 1, dtype=dm.bfloat16) for _ in range(4)]
    views = [s[1:].reshape(shape).requires_grad_() for s in store[:3]]
    fresh = [v.detach().clone().requires_grad_() for v in views]
    g = store[3][1:].reshape(shape)
    outs = []
    for ts in (views, fresh):
        out = F.scaled_dot_product_attention(*ts, is_causal=True)
        out.backward(g)
        outs.append([out.float().detach().numpy(), *(t.grad.float().numpy() for t in ts)])
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)


def test_autocast_runs_attention_in_the_low_precision_dtype() -> None:
    q, k, v = (
        dm.tensor(x.astype(np.float32)) for x in arrays((2, 2, 9, 8), (2, 2, 9, 8), (2, 2, 9, 8))
    )
    with dm.autocast("cpu", dtype=dm.bfloat16):
        out = F.scaled_dot_product_attention(q, k.bfloat16(), v, is_causal=True)
    assert out.dtype == dm.bfloat16
    want = reference(*(t.double().numpy() for t in (q, k, v)), causal=True)
    np.testing.assert_allclose(out.double().numpy(), want, atol=3e-2)


# ---- errors ---------------------------------------------------------------------------------


def test_errors_are_typed_and_name_the_operands() -> None:
    q, k, v = (dm.tensor(x) for x in arrays((2, 3, 4, 8), (2, 3, 5, 8), (2, 3, 5, 8)))
    with pytest.raises(ShapeError) as e:
        _core._scaled_dot_product_attention(q, k[..., :4], v)
    assert e.value.op == "scaled_dot_product_attention" and (2, 3, 5, 4) in e.value.shapes
    with pytest.raises(ShapeError, match="enable_gqa"):  # (1 head would broadcast, as PyTorch's)
        F.scaled_dot_product_attention(q, k[:, :2], v[:, :2])
    with pytest.raises(ShapeError, match="multiple"):
        F.scaled_dot_product_attention(q, k[:, :2], v[:, :2], enable_gqa=True)
    with pytest.raises(ShapeError, match="broadcast"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=dm.ones(4, 4, dtype=dm.bool))
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=dm.ones(4, 5), is_causal=True)
    with pytest.raises(ValueError, match="dropout_p"):
        F.scaled_dot_product_attention(q, k, v, dropout_p=1.5)
    with pytest.raises(DTypeError):
        F.scaled_dot_product_attention(q.long(), k.long(), v.long())
    with pytest.raises(DTypeError):
        F.scaled_dot_product_attention(q, k.float(), v)
    with pytest.raises(DTypeError, match="attn_mask"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=dm.ones(4, 5, dtype=dm.int64))


def test_inputs_changed_in_place_after_the_forward_are_caught() -> None:
    q, k, v = (
        dm.tensor(x, requires_grad=True) for x in arrays((1, 1, 3, 4), (1, 1, 3, 4), (1, 1, 3, 4))
    )
    kk = k * 1.0
    out = F.scaled_dot_product_attention(q, kk, v)
    kk.add_(1.0)
    with pytest.raises(AutogradError, match="in-place"):
        out.sum().backward()
