"""Strided convolutions on the CPU split each input row into its column phases, so that im2col
and col2im stay row copies: every stride, odd and even widths, dilation, padding and groups must
still equal a direct NumPy convolution, forward and backward (and the transposed convolution,
whose forward is col2im), in float64."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising.nn import functional as F

RNG = np.random.default_rng(11)

Pair = tuple[int, int]


def conv_ref(x: np.ndarray, w: np.ndarray, stride: Pair, pad: Pair, dil: Pair, groups: int):  # type: ignore[no-untyped-def]
    """Direct cross-correlation by loops over the kernel taps."""
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    ho = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    og = o // groups
    y = np.zeros((n, o, ho, wo))
    for grp, ki, kj in itertools.product(range(groups), range(kh), range(kw)):
        r0, c0 = ki * dil[0], kj * dil[1]
        xs = xp[
            :,
            grp * cg : (grp + 1) * cg,
            r0 : r0 + stride[0] * (ho - 1) + 1 : stride[0],
            c0 : c0 + stride[1] * (wo - 1) + 1 : stride[1],
        ]
        wk = w[grp * og : (grp + 1) * og, :, ki, kj]
        y[:, grp * og : (grp + 1) * og] += np.einsum("nchw,oc->nohw", xs, wk)
    return y


def conv_transpose_ref(y: np.ndarray, w: np.ndarray, stride: Pair, pad: Pair, out_pad: Pair):  # type: ignore[no-untyped-def]
    """Transposed convolution by scattering every input pixel's kernel-weighted copy."""
    n, _, h, wd = y.shape
    _, o, kh, kw = w.shape
    full_h = (h - 1) * stride[0] + kh + out_pad[0]
    full_w = (wd - 1) * stride[1] + kw + out_pad[1]
    out = np.zeros((n, o, full_h, full_w))
    for ki, kj in itertools.product(range(kh), range(kw)):
        contrib = np.einsum("nchw,co->nohw", y, w[:, :, ki, kj])
        out[
            :,
            :,
            ki : ki + stride[0] * (h - 1) + 1 : stride[0],
            kj : kj + stride[1] * (wd - 1) + 1 : stride[1],
        ] += contrib
    return out[:, :, pad[0] : full_h - pad[0], pad[1] : full_w - pad[1]]


def check_against(ref: Any, op: Any, args: list[np.ndarray]) -> None:
    """``op`` over tensors of ``args`` equals ``ref`` over the arrays, and so does each input's
    gradient of a random weighting of the output: ``ref`` is linear in every argument, so a
    directional difference along a random probe is exact up to rounding."""
    tensors = [dm.tensor(a, requires_grad=True) for a in args]
    out = op(*tensors)
    want = ref(*args)
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-10, atol=1e-10)
    g = RNG.standard_normal(want.shape)
    (out * dm.tensor(g)).sum().backward()
    for i, t in enumerate(tensors):
        probe = RNG.standard_normal(args[i].shape)
        moved = ref(*[a + probe if j == i else a for j, a in enumerate(args)])
        numeric = ((moved - want) * g).sum()
        np.testing.assert_allclose((t.grad.numpy() * probe).sum(), numeric, rtol=1e-9)


CASES = [
    # (c, h, w, k, stride, padding, dilation, groups); c * kw / groups >= 32 builds the
    # patches as rows from a channels-last copy (`cpu/im2row.rs`), else as columns.
    (4, 8, 8, (4, 4), (2, 2), (1, 1), (1, 1), 1),
    (4, 9, 7, (4, 4), (2, 2), (1, 1), (1, 1), 1),
    (4, 7, 9, (3, 3), (1, 3), (1, 0), (1, 1), 2),
    (4, 10, 11, (3, 2), (3, 2), (0, 2), (1, 1), 1),
    (4, 9, 13, (3, 3), (2, 2), (2, 1), (2, 2), 2),
    (4, 6, 5, (2, 3), (2, 1), (0, 1), (1, 2), 1),
    (4, 5, 16, (1, 4), (1, 4), (0, 0), (1, 1), 1),
    (16, 9, 7, (4, 4), (2, 2), (1, 1), (1, 1), 1),
    (16, 8, 8, (4, 4), (2, 2), (1, 1), (1, 1), 1),
    (32, 7, 10, (3, 3), (1, 2), (2, 0), (2, 1), 2),
    (24, 6, 9, (2, 5), (3, 1), (1, 2), (1, 1), 3),
    (40, 5, 5, (3, 3), (1, 1), (0, 0), (1, 1), 1),
    (40, 7, 6, (1, 1), (2, 2), (0, 0), (1, 1), 1),  # 1x1 kernels keep the columns
]


@pytest.mark.parametrize("c,h,w,k,stride,pad,dil,groups", CASES)
def test_strided_conv_matches_direct_convolution(c, h, w, k, stride, pad, dil, groups) -> None:  # type: ignore[no-untyped-def]
    n, o = 3, 6
    x = RNG.standard_normal((n, c, h, w))
    wt_np = RNG.standard_normal((o, c // groups, *k))

    def ref(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        return conv_ref(x, w, stride, pad, dil, groups)

    def op(x: dm.Tensor, w: dm.Tensor) -> dm.Tensor:
        return F.conv2d(x, w, stride=stride, padding=pad, dilation=dil, groups=groups)

    check_against(ref, op, [x, wt_np])


@pytest.mark.parametrize(
    "h,w,stride,pad,out_pad",
    [
        (4, 4, (2, 2), (1, 1), (0, 0)),
        (5, 3, (2, 3), (1, 0), (1, 2)),
        (3, 6, (3, 2), (0, 1), (2, 1)),
    ],
)
@pytest.mark.parametrize("c,o", [(5, 3), (6, 40)])  # 40 output channels: patches as rows
def test_strided_conv_transpose_matches_scatter(c, o, h, w, stride, pad, out_pad) -> None:  # type: ignore[no-untyped-def]
    n, k = 2, (4, 3)
    y = RNG.standard_normal((n, c, h, w))
    w_np = RNG.standard_normal((c, o, *k))

    def ref(y: np.ndarray, w: np.ndarray) -> np.ndarray:
        return conv_transpose_ref(y, w, stride, pad, out_pad)

    def op(y: dm.Tensor, w: dm.Tensor) -> dm.Tensor:
        return F.conv_transpose2d(y, w, stride=stride, padding=pad, output_padding=out_pad)

    check_against(ref, op, [y, w_np])
