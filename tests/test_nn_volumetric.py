"""Volumetric (3-D) layers: ``F.conv3d``/``nn.Conv3d``, ``F.conv_transpose3d``/
``nn.ConvTranspose3d``, the 3-D max/average/adaptive pools and ``nn.BatchNorm3d``, checked
against direct NumPy loops, float64 finite differences and PyTorch's reprs and state dicts."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.errors import InvalidValueError, ShapeError
from democratising.nn import functional as F
from helpers import assert_close, gradcheck

Trip = tuple[int, int, int]


def t64(a: np.ndarray, grad: bool = False) -> dm.Tensor:
    return dm.tensor(a, dtype=dm.float64, requires_grad=grad)


def conv3d_ref(
    x: np.ndarray, w: np.ndarray, b: Optional[np.ndarray], s: Trip, p: Trip, d: Trip, groups: int
) -> np.ndarray:
    """Direct 3-D cross-correlation: a sum over kernel offsets of strided input views."""
    n, _, *size = x.shape
    o, cg, *k = w.shape
    xp = np.pad(x, [(0, 0), (0, 0)] + [(q, q) for q in p])
    out = [(size[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(3)]
    y = np.zeros((n, o, *out))
    og = o // groups
    for g in range(groups):
        xg, wg = xp[:, g * cg : (g + 1) * cg], w[g * og : (g + 1) * og]
        for a in range(k[0]):
            for bb in range(k[1]):
                for cc in range(k[2]):
                    view = xg[
                        :,
                        :,
                        a * d[0] : a * d[0] + s[0] * (out[0] - 1) + 1 : s[0],
                        bb * d[1] : bb * d[1] + s[1] * (out[1] - 1) + 1 : s[1],
                        cc * d[2] : cc * d[2] + s[2] * (out[2] - 1) + 1 : s[2],
                    ]
                    y[:, g * og : (g + 1) * og] += np.einsum(
                        "ncdhw,oc->nodhw", view, wg[:, :, a, bb, cc]
                    )
    if b is not None:
        y += b.reshape(1, -1, 1, 1, 1)
    return y


def conv_transpose3d_ref(
    x: np.ndarray, w: np.ndarray, s: Trip, p: Trip, op: Trip, d: Trip, groups: int
) -> np.ndarray:
    """Direct scatter: input cell ``j`` adds ``x[j] * w[k]`` at output ``j * s + k * d - p``."""
    n, c, *size = x.shape
    _, og, *k = w.shape
    full = [(size[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1 + op[i] for i in range(3)]
    y = np.zeros((n, og * groups, *full))
    cg = c // groups
    for g in range(groups):
        for i0 in range(size[0]):
            for i1 in range(size[1]):
                for i2 in range(size[2]):
                    v = x[:, g * cg : (g + 1) * cg, i0, i1, i2]
                    contrib = np.einsum("nc,cokmj->nokmj", v, w[g * cg : (g + 1) * cg])
                    for a in range(k[0]):
                        for bb in range(k[1]):
                            for cc in range(k[2]):
                                y[
                                    :,
                                    g * og : (g + 1) * og,
                                    i0 * s[0] + a * d[0],
                                    i1 * s[1] + bb * d[1],
                                    i2 * s[2] + cc * d[2],
                                ] += contrib[:, :, a, bb, cc]
    out = [full[i] - 2 * p[i] for i in range(3)]
    return y[:, :, p[0] : p[0] + out[0], p[1] : p[1] + out[1], p[2] : p[2] + out[2]]


def pool_len(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def max_pool3d_ref(x: np.ndarray, k: Trip, s: Trip, p: Trip, d: Trip, ceil: bool) -> np.ndarray:
    size = x.shape[2:]
    out = [pool_len(size[i], k[i], s[i], p[i], d[i], ceil) for i in range(3)]
    y = np.empty((*x.shape[:2], *out))
    for o in np.ndindex(*out):
        idx = []
        for i in range(3):
            cells = [o[i] * s[i] - p[i] + j * d[i] for j in range(k[i])]
            idx.append([c for c in cells if 0 <= c < size[i]])
        y[(..., *o)] = x[:, :, idx[0]][:, :, :, idx[1]][..., idx[2]].max(axis=(2, 3, 4))
    return y


def avg_pool3d_ref(
    x: np.ndarray, k: Trip, s: Trip, p: Trip, ceil: bool, include: bool, div: Optional[int]
) -> np.ndarray:
    size = x.shape[2:]
    out = [pool_len(size[i], k[i], s[i], p[i], 1, ceil) for i in range(3)]
    y = np.empty((*x.shape[:2], *out))
    for o in np.ndindex(*out):
        lo = [o[i] * s[i] - p[i] for i in range(3)]
        hi = [min(lo[i] + k[i], size[i] + p[i]) for i in range(3)]
        inside = [(max(lo[i], 0), min(hi[i], size[i])) for i in range(3)]
        total = x[:, :, slice(*inside[0]), slice(*inside[1]), slice(*inside[2])].sum(axis=(2, 3, 4))
        if div is not None:
            count = float(div)
        elif include:
            count = float(np.prod([hi[i] - lo[i] for i in range(3)]))
        else:
            count = float(np.prod([b - a for a, b in inside]))
        y[(..., *o)] = total / count
    return y


def adaptive_ref(x: np.ndarray, out: Trip, reduce: Any) -> np.ndarray:
    size = x.shape[2:]
    y = np.empty((*x.shape[:2], *out))
    for o in np.ndindex(*out):
        sl = tuple(
            slice(o[i] * size[i] // out[i], math.ceil((o[i] + 1) * size[i] / out[i]))
            for i in range(3)
        )
        y[(..., *o)] = reduce(x[(slice(None), slice(None), *sl)], axis=(2, 3, 4))
    return y


RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    "shape,wshape,s,p,d,groups",
    [
        ((2, 2, 3, 4, 5), (3, 2, 2, 3, 2), (1, 1, 1), (0, 0, 0), (1, 1, 1), 1),
        ((1, 4, 5, 6, 7), (6, 2, 2, 3, 2), (2, 1, 2), (1, 0, 2), (2, 1, 1), 2),
        ((2, 3, 7, 5, 4), (3, 1, 3, 1, 2), (3, 2, 1), (2, 1, 1), (1, 2, 2), 3),
    ],
)
def test_conv3d_matches_direct_loop(shape, wshape, s, p, d, groups) -> None:  # type: ignore[no-untyped-def]
    x, w, b = (
        RNG.standard_normal(shape),
        RNG.standard_normal(wshape),
        RNG.standard_normal(wshape[0]),
    )
    got = F.conv3d(t64(x), t64(w), t64(b), s, p, d, groups)
    assert_close(got, conv3d_ref(x, w, b, s, p, d, groups), rtol=1e-10, atol=1e-10)
    no_bias = F.conv3d(t64(x), t64(w), None, s, p, d, groups)
    assert_close(no_bias, conv3d_ref(x, w, None, s, p, d, groups), rtol=1e-10, atol=1e-10)


def test_conv3d_unbatched_same_and_valid() -> None:
    x, w = RNG.standard_normal((2, 4, 5, 6)), RNG.standard_normal((3, 2, 2, 3, 4))
    got = F.conv3d(t64(x), t64(w), padding="valid")
    assert_close(got, conv3d_ref(x[None], w, None, (1,) * 3, (0,) * 3, (1,) * 3, 1)[0])
    same = F.conv3d(t64(x), t64(w), padding="same", dilation=(1, 1, 2))
    # PyTorch's "same": total padding d * (k - 1), the odd element on the far side
    xp = np.pad(x, [(0, 0), (0, 1), (1, 1), (3, 3)])
    ref = conv3d_ref(xp[None], w, None, (1,) * 3, (0,) * 3, (1, 1, 2), 1)[0]
    assert same.shape == (3, 4, 5, 6)
    assert_close(same, ref, rtol=1e-10, atol=1e-10)
    with pytest.raises(InvalidValueError, match="strided"):
        F.conv3d(t64(x), t64(w), padding="same", stride=2)
    with pytest.raises(InvalidValueError, match="padding string"):
        F.conv3d(t64(x), t64(w), padding="full")


def test_conv3d_bad_shapes() -> None:
    w = t64(RNG.standard_normal((3, 2, 2, 2, 2)))
    with pytest.raises(ShapeError, match="4-D"):
        F.conv3d(t64(RNG.standard_normal((2, 4, 4))), w)
    with pytest.raises(ShapeError, match="channels"):
        F.conv3d(t64(RNG.standard_normal((1, 3, 4, 4, 4))), w)
    with pytest.raises(ShapeError, match="5-D weight"):
        F.conv3d(t64(RNG.standard_normal((1, 2, 4, 4, 4))), w[0])
    with pytest.raises(ShapeError, match="larger"):
        F.conv3d(t64(RNG.standard_normal((1, 2, 1, 4, 4))), w)


def test_conv3d_gradcheck() -> None:
    x = t64(RNG.standard_normal((1, 2, 4, 3, 4)), grad=True)
    w = t64(RNG.standard_normal((2, 1, 2, 2, 2)), grad=True)
    b = t64(RNG.standard_normal(2), grad=True)
    gradcheck(lambda x, w, b: F.conv3d(x, w, b, (2, 1, 1), (1, 0, 1), (1, 2, 1), 2), [x, w, b])


def test_conv3d_non_contiguous_input_and_empty_batch() -> None:
    x = RNG.standard_normal((2, 5, 4, 3, 2))
    w = RNG.standard_normal((2, 2, 2, 2, 2))
    xt = t64(x).permute(0, 4, 2, 3, 1)  # [2, 2, 4, 3, 5], a strided view
    ref = conv3d_ref(x.transpose(0, 4, 2, 3, 1), w, None, (1,) * 3, (1,) * 3, (1,) * 3, 1)
    assert_close(F.conv3d(xt, t64(w), padding=1), ref, rtol=1e-10, atol=1e-10)
    empty = F.conv3d(dm.zeros((0, 2, 3, 3, 3), dtype=dm.float64), t64(w))
    assert empty.shape == (0, 2, 2, 2, 2)
    empty_t = F.conv_transpose3d(dm.zeros((0, 2, 3, 3, 3), dtype=dm.float64), t64(w))
    assert empty_t.shape == (0, 2, 4, 4, 4)
    assert F.max_pool3d(dm.zeros((0, 2, 3, 3, 3)), 2).shape == (0, 2, 1, 1, 1)
    assert F.avg_pool3d(dm.zeros((0, 2, 3, 3, 3)), 2).shape == (0, 2, 1, 1, 1)
    assert F.adaptive_avg_pool3d(dm.zeros((0, 2, 3, 3, 3)), 2).shape == (0, 2, 2, 2, 2)


@pytest.mark.parametrize(
    "shape,wshape,s,p,op,d,groups",
    [
        ((2, 2, 3, 2, 3), (2, 3, 2, 2, 3), (1, 1, 1), (0, 0, 0), (0, 0, 0), (1, 1, 1), 1),
        ((1, 4, 3, 4, 2), (4, 1, 3, 2, 2), (2, 1, 3), (1, 0, 1), (1, 0, 2), (1, 2, 1), 2),
        ((2, 2, 2, 3, 3), (2, 2, 2, 3, 2), (3, 2, 1), (1, 1, 0), (2, 0, 0), (2, 1, 2), 1),
    ],
)
def test_conv_transpose3d_matches_scatter(shape, wshape, s, p, op, d, groups) -> None:  # type: ignore[no-untyped-def]
    x, w = RNG.standard_normal(shape), RNG.standard_normal(wshape)
    b = RNG.standard_normal(wshape[1] * groups)
    got = F.conv_transpose3d(t64(x), t64(w), t64(b), s, p, op, groups, d)
    ref = conv_transpose3d_ref(x, w, s, p, op, d, groups) + b.reshape(1, -1, 1, 1, 1)
    assert_close(got, ref, rtol=1e-10, atol=1e-10)


def test_conv_transpose3d_is_the_adjoint_of_conv3d() -> None:
    s, p, d, groups = (2, 1, 2), (1, 1, 0), (1, 2, 1), 2
    x = RNG.standard_normal((2, 4, 5, 6, 5))
    w = RNG.standard_normal((6, 2, 3, 2, 2))
    cx = F.conv3d(t64(x), t64(w), None, s, p, d, groups)
    y = RNG.standard_normal(tuple(cx.shape))
    # the output padding that restores x's size
    op = tuple(
        x.shape[2 + i] - ((y.shape[2 + i] - 1) * s[i] - 2 * p[i] + d[i] * (w.shape[2 + i] - 1) + 1)
        for i in range(3)
    )
    ty = F.conv_transpose3d(t64(y), t64(w), None, s, p, op, groups, d)
    assert ty.shape == x.shape
    lhs = float((cx.numpy() * y).sum())
    rhs = float((x * ty.numpy()).sum())
    assert lhs == pytest.approx(rhs, rel=1e-10)


def test_conv_transpose3d_gradcheck_and_unbatched() -> None:
    x = t64(RNG.standard_normal((2, 2, 3, 2)), grad=True)
    w = t64(RNG.standard_normal((2, 2, 2, 2, 1)), grad=True)
    gradcheck(lambda x, w: F.conv_transpose3d(x, w, None, 2, (1, 0, 0), (1, 0, 0)), [x, w])
    y = F.conv_transpose3d(x, w, stride=2)
    one, zero = (1, 1, 1), (0, 0, 0)
    xa, wa = x.detach().numpy()[None], w.detach().numpy()
    ref = conv_transpose3d_ref(xa, wa, (2, 2, 2), zero, zero, one, 1)[0]
    assert_close(y, ref, rtol=1e-10, atol=1e-10)
    with pytest.raises(ShapeError, match="channels"):
        F.conv_transpose3d(t64(RNG.standard_normal((1, 3, 2, 2, 2))), w)


@pytest.mark.parametrize(
    "shape,k,s,p,d,ceil",
    [
        ((2, 3, 5, 6, 7), (2, 2, 2), (2, 2, 2), (0, 0, 0), (1, 1, 1), False),
        ((1, 2, 7, 6, 5), (3, 3, 3), (2, 2, 2), (1, 1, 1), (1, 1, 1), True),
        ((2, 2, 8, 6, 5), (3, 2, 2), (2, 3, 1), (1, 1, 0), (2, 1, 2), True),
        ((1, 2, 8, 6, 5), (2, 3, 2), (3, 2, 2), (0, 1, 1), (3, 1, 1), False),
    ],
)
def test_max_pool3d_matches_direct_loop(shape, k, s, p, d, ceil) -> None:  # type: ignore[no-untyped-def]
    x = RNG.standard_normal(shape)
    got = F.max_pool3d(t64(x), k, s, p, d, ceil)
    assert_close(got, max_pool3d_ref(x, k, s, p, d, ceil), rtol=0, atol=0)
    layer = nn.MaxPool3d(k, s, p, d, ceil_mode=ceil)
    assert_close(layer(t64(x)), max_pool3d_ref(x, k, s, p, d, ceil), rtol=0, atol=0)


def test_max_pool3d_unbatched_default_stride_gradcheck_and_errors() -> None:
    x = RNG.standard_normal((2, 4, 5, 3))
    ref = max_pool3d_ref(x[None], (2, 2, 2), (2, 2, 2), (0,) * 3, (1,) * 3, False)[0]
    assert_close(F.max_pool3d(t64(x), 2), ref)
    xt = t64(RNG.permutation(60).reshape(1, 1, 3, 4, 5).astype(np.float64) / 7, grad=True)
    gradcheck(lambda x: F.max_pool3d(x, (2, 3, 2), (1, 2, 2), (1, 1, 0), ceil_mode=True), [xt])
    vals, idx = F.max_pool3d(t64(x), 2, return_indices=True)
    assert_close(vals, ref)
    assert idx.dtype == dm.int64 and idx.shape == vals.shape
    picked = np.take_along_axis(x.reshape(2, -1), idx.numpy().reshape(2, -1), 1)
    assert_close(t64(picked.reshape(vals.shape)), ref)
    assert_close(nn.MaxPool3d(2, return_indices=True)(t64(x))[0], ref)
    with pytest.raises(InvalidValueError, match="half"):
        F.max_pool3d(t64(x), 2, padding=2)
    with pytest.raises(ShapeError, match="4-D"):
        F.max_pool3d(t64(x[0]), 2)


@pytest.mark.parametrize(
    "shape,k,s,p,ceil,include,div",
    [
        ((2, 3, 5, 6, 7), (2, 2, 2), (2, 2, 2), (0, 0, 0), False, True, None),
        ((1, 2, 7, 6, 5), (3, 3, 3), (2, 2, 2), (1, 1, 1), True, True, None),
        ((1, 2, 7, 6, 5), (3, 3, 3), (2, 2, 2), (1, 1, 1), True, False, None),
        ((2, 2, 7, 6, 5), (3, 2, 4), (2, 3, 1), (1, 1, 2), True, False, None),
        ((1, 2, 7, 6, 5), (3, 2, 4), (2, 3, 3), (1, 1, 2), True, True, 5),
        ((1, 2, 5, 4, 6), (2, 3, 2), (1, 1, 1), (1, 1, 1), False, True, None),
    ],
)
def test_avg_pool3d_matches_direct_loop(shape, k, s, p, ceil, include, div) -> None:  # type: ignore[no-untyped-def]
    x = RNG.standard_normal(shape)
    ref = avg_pool3d_ref(x, k, s, p, ceil, include, div)
    assert_close(F.avg_pool3d(t64(x), k, s, p, ceil, include, div), ref, rtol=1e-12, atol=1e-12)
    layer = nn.AvgPool3d(k, s, p, ceil, include, div)
    assert_close(layer(t64(x)), ref, rtol=1e-12, atol=1e-12)


def test_avg_pool3d_unbatched_gradcheck_and_errors() -> None:
    x = RNG.standard_normal((2, 5, 4, 3))
    ref = avg_pool3d_ref(x[None], (2,) * 3, (2,) * 3, (0,) * 3, False, True, None)[0]
    assert_close(F.avg_pool3d(t64(x), 2), ref)
    xt = t64(RNG.standard_normal((1, 1, 4, 3, 4)), grad=True)
    gradcheck(lambda x: F.avg_pool3d(x, (2, 3, 2), (2, 1, 2), (1, 1, 0), True, False), [xt])
    with pytest.raises(InvalidValueError, match="divisor"):
        F.avg_pool3d(t64(x), 2, divisor_override=0)
    with pytest.raises(InvalidValueError, match="half"):
        F.avg_pool3d(t64(x), 2, padding=(0, 2, 0))


@pytest.mark.parametrize(
    "shape,out",
    [((2, 3, 7, 6, 5), (3, 4, 2)), ((2, 3, 4, 6, 5), (7, 8, 9)), ((1, 2, 5, 5, 5), (1, 1, 1))],
)
def test_adaptive_pools_match_direct_loop(shape, out) -> None:  # type: ignore[no-untyped-def]
    x = RNG.standard_normal(shape)
    assert_close(F.adaptive_avg_pool3d(t64(x), out), adaptive_ref(x, out, np.mean), rtol=1e-12)
    assert_close(F.adaptive_max_pool3d(t64(x), out), adaptive_ref(x, out, np.max), rtol=0)
    assert_close(nn.AdaptiveAvgPool3d(out)(t64(x)), adaptive_ref(x, out, np.mean), rtol=1e-12)
    assert_close(nn.AdaptiveMaxPool3d(out)(t64(x)), adaptive_ref(x, out, np.max), rtol=0)


def test_adaptive_pools_unbatched_none_gradcheck_and_errors() -> None:
    x = RNG.standard_normal((2, 5, 4, 3))
    out = F.adaptive_avg_pool3d(t64(x), (2, None, 2))
    assert_close(out, adaptive_ref(x[None], (2, 4, 2), np.mean)[0], rtol=1e-12)
    assert_close(F.adaptive_max_pool3d(t64(x), 2), adaptive_ref(x[None], (2,) * 3, np.max)[0])
    xt = t64(RNG.standard_normal((1, 1, 5, 3, 4)), grad=True)
    gradcheck(lambda x: F.adaptive_avg_pool3d(x, (3, 2, 3)), [xt])
    gradcheck(lambda x: F.adaptive_max_pool3d(x, (2, 2, 3)), [xt])
    vals, idx = F.adaptive_max_pool3d(t64(x), 2, return_indices=True)
    assert_close(vals, adaptive_ref(x[None], (2,) * 3, np.max)[0])
    picked = np.take_along_axis(x.reshape(2, -1), idx.numpy().reshape(2, -1), 1)
    assert_close(t64(picked.reshape(vals.shape)), vals.numpy())
    assert nn.AdaptiveMaxPool3d(2, return_indices=True)(t64(x))[1].dtype == dm.int64
    with pytest.raises(ShapeError, match="4-D"):
        F.adaptive_avg_pool3d(t64(x[0]), 2)


def test_conv3d_module_init_state_dict_and_repr() -> None:
    m = nn.Conv3d(4, 6, (3, 2, 1), stride=2, padding=1, groups=2, bias=False, dilation=(1, 2, 1))
    assert repr(m) == (
        "Conv3d(4, 6, kernel_size=(3, 2, 1), stride=(2, 2, 2), padding=(1, 1, 1), "
        "dilation=(1, 2, 1), groups=2, bias=False)"
    )
    assert list(m.state_dict()) == ["weight"]
    assert m.weight.shape == (6, 2, 3, 2, 1)
    big = nn.Conv3d(8, 64, 3)
    assert repr(big) == "Conv3d(8, 64, kernel_size=(3, 3, 3), stride=(1, 1, 1))"
    assert list(big.state_dict()) == ["weight", "bias"]
    bound = 1 / math.sqrt(8 * 27)
    w, b = big.weight.detach().numpy(), big.bias.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(b).max() <= bound
    assert dm.nn.modules.conv.Conv3d is nn.Conv3d
    assert dm.nn.modules.batchnorm.BatchNorm3d is nn.BatchNorm3d
    assert dm.nn.modules.pooling.MaxPool3d is nn.MaxPool3d


def test_conv3d_module_forward_and_padding_modes() -> None:
    m = nn.Conv3d(2, 3, (2, 3, 2), padding=1, dtype=dm.float64)
    x = RNG.standard_normal((2, 2, 3, 4, 5))
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    assert_close(m(t64(x)), conv3d_ref(x, w, b, (1,) * 3, (1,) * 3, (1,) * 3, 1), rtol=1e-10)
    assert_close(m(t64(x[0])), conv3d_ref(x[:1], w, b, (1,) * 3, (1,) * 3, (1,) * 3, 1)[0])
    for mode, np_mode in (("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")):
        r = nn.Conv3d(2, 3, 3, padding=1, padding_mode=mode, dtype=dm.float64)
        assert repr(r).endswith(f"padding=(1, 1, 1), padding_mode={mode})")
        xp = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1), (1, 1)], mode=np_mode)
        rw, rb = r.weight.detach().numpy(), r.bias.detach().numpy()
        ref = conv3d_ref(xp, rw, rb, (1, 1, 1), (0, 0, 0), (1, 1, 1), 1)
        assert_close(r(t64(x)), ref, rtol=1e-10, atol=1e-10)
    same = nn.Conv3d(2, 3, 2, padding="same")
    assert repr(same) == "Conv3d(2, 3, kernel_size=(2, 2, 2), stride=(1, 1, 1), padding=same)"
    assert same(dm.randn(1, 2, 3, 4, 5)).shape == (1, 3, 3, 4, 5)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv3d(2, 3, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="divisible"):
        nn.Conv3d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv3d(2, 3, 3, padding_mode="mirror")


def test_conv3d_module_gradients() -> None:
    m = nn.Conv3d(2, 2, 2, stride=(1, 2, 1), dtype=dm.float64)
    x = t64(RNG.standard_normal((1, 2, 3, 4, 3)), grad=True)
    w = t64(m.weight.detach().numpy(), grad=True)
    gradcheck(lambda x, w: F.conv3d(x, w, m.bias.detach(), (1, 2, 1)), [x, w])
    m(x).sum().backward()
    assert m.weight.grad is not None and m.weight.grad.shape == (2, 2, 2, 2, 2)
    assert m.bias.grad is not None
    assert_close(m.bias.grad, np.full(2, 2 * 2 * 2.0))


def test_conv_transpose3d_module() -> None:
    kw: dict[str, Any] = dict(stride=2, padding=1, output_padding=1, groups=2, bias=False)
    m = nn.ConvTranspose3d(4, 6, (3, 2, 1), dilation=(1, 2, 1), **kw)
    assert repr(m) == (
        "ConvTranspose3d(4, 6, kernel_size=(3, 2, 1), stride=(2, 2, 2), padding=(1, 1, 1), "
        "dilation=(1, 2, 1), output_padding=(1, 1, 1), groups=2, bias=False)"
    )
    assert list(m.state_dict()) == ["weight"] and m.weight.shape == (4, 3, 3, 2, 1)
    plain = nn.ConvTranspose3d(2, 3, 2, stride=2, dtype=dm.float64)
    assert repr(plain) == "ConvTranspose3d(2, 3, kernel_size=(2, 2, 2), stride=(2, 2, 2))"
    assert list(plain.state_dict()) == ["weight", "bias"] and plain.bias.shape == (3,)
    x = RNG.standard_normal((1, 2, 2, 3, 2))
    w, b = plain.weight.detach().numpy(), plain.bias.detach().numpy()
    ref = conv_transpose3d_ref(x, w, (2,) * 3, (0,) * 3, (1, 0, 1), (1,) * 3, 1)
    y = plain(t64(x), output_size=(5, 6, 5))
    assert_close(y, ref + b.reshape(1, -1, 1, 1, 1), rtol=1e-10, atol=1e-10)
    with pytest.raises(ShapeError, match="output size"):
        plain(t64(x), output_size=(7, 6, 5))
    with pytest.raises(ValueError, match="zeros"):
        nn.ConvTranspose3d(2, 3, 2, padding_mode="reflect")


def test_pool_module_reprs_and_stride_default() -> None:
    assert repr(nn.MaxPool3d(3)) == (
        "MaxPool3d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False)"
    )
    assert repr(nn.MaxPool3d((3, 2, 1), stride=2, padding=1, dilation=2, ceil_mode=True)) == (
        "MaxPool3d(kernel_size=(3, 2, 1), stride=2, padding=1, dilation=2, ceil_mode=True)"
    )
    assert repr(nn.AvgPool3d(3)) == "AvgPool3d(kernel_size=3, stride=3, padding=0)"
    avg = nn.AvgPool3d(3, 2, 1, True, False, 3)
    assert repr(avg) == "AvgPool3d(kernel_size=3, stride=2, padding=1)"
    assert avg.divisor_override == 3 and not avg.count_include_pad
    assert repr(nn.AdaptiveAvgPool3d((2, None, 3))) == "AdaptiveAvgPool3d(output_size=(2, None, 3))"
    assert repr(nn.AdaptiveMaxPool3d(2)) == "AdaptiveMaxPool3d(output_size=2)"
    assert nn.MaxPool3d(2).state_dict() == {} and nn.AvgPool3d(2).state_dict() == {}


def test_batch_norm3d() -> None:
    bn = nn.BatchNorm3d(3, dtype=dm.float64)
    want = (
        "BatchNorm3d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"
    )
    assert repr(bn) == want
    keys = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert list(bn.state_dict()) == keys
    x = RNG.standard_normal((2, 3, 2, 3, 4)) * 2 + 1
    y = bn(t64(x))
    mean = x.mean(axis=(0, 2, 3, 4), keepdims=True)
    var = x.var(axis=(0, 2, 3, 4), keepdims=True)
    assert_close(y, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-10, atol=1e-10)
    unbiased = x.var(axis=(0, 2, 3, 4), ddof=1)
    assert_close(bn.running_var, 0.9 + 0.1 * unbiased, rtol=1e-10)
    assert_close(bn.running_mean, 0.1 * mean.reshape(-1), rtol=1e-10)
    bn.eval()
    ev = bn(t64(x))
    rm, rv = bn.running_mean.numpy(), bn.running_var.numpy()
    assert_close(ev, (x - rm.reshape(1, -1, 1, 1, 1)) / np.sqrt(rv.reshape(1, -1, 1, 1, 1) + 1e-5))
    with pytest.raises(ShapeError, match="5-D"):
        bn(t64(x[0]))
    with pytest.raises(ShapeError, match="channels"):
        bn(t64(x[:, :2]))


def test_sequential_volumetric_network_trains() -> None:
    dm.manual_seed(0)
    net = nn.Sequential(
        nn.Conv3d(1, 2, 3, padding=1),
        nn.BatchNorm3d(2),
        nn.ReLU(),
        nn.MaxPool3d(2),
        nn.ConvTranspose3d(2, 1, 2, stride=2),
        nn.AdaptiveAvgPool3d(1),
    )
    x = dm.randn(2, 1, 4, 4, 4)
    out = net(x)
    assert out.shape == (2, 1, 1, 1, 1)
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
