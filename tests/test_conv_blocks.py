"""Convolutions whose outputs are small (4x4, 1x1) stack several samples side by side into one
GEMM on the CPU: the values and all three gradients must equal a direct NumPy convolution for
batch sizes that leave a partial last block, with groups, and the float64 gradients must pass
finite differences."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
from democratising.nn import functional as F
from helpers import gradcheck

RNG = np.random.default_rng(5)


def conv_ref(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int, groups: int
) -> np.ndarray:
    """Direct convolution (cross-correlation) by loops over the output."""
    n, _, h, wd = x.shape
    o, cg, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    og = o // groups
    y = np.zeros((n, o, ho, wo)) + b[None, :, None, None]
    for oc in range(o):
        grp = oc // og
        xs = xp[:, grp * cg : (grp + 1) * cg]
        for i in range(ho):
            for j in range(wo):
                patch = xs[:, :, i * stride : i * stride + k, j * stride : j * stride + k]
                y[:, oc, i, j] += (patch * w[oc]).sum(axis=(1, 2, 3))
    return y


@pytest.mark.parametrize("n", [1, 37])
@pytest.mark.parametrize("hw,k,stride,pad", [(4, 4, 2, 1), (4, 4, 1, 0), (1, 1, 1, 0)])
@pytest.mark.parametrize("groups", [1, 2])
def test_small_outputs_match_direct_convolution(n, hw, k, stride, pad, groups) -> None:  # type: ignore[no-untyped-def]
    c, o = 4, 6
    x = RNG.standard_normal((n, c, hw, hw))
    w = RNG.standard_normal((o, c // groups, k, k))
    b = RNG.standard_normal(o)
    xt, wt, bt = (dm.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(xt, wt, bt, stride=stride, padding=pad, groups=groups)
    want = conv_ref(x, w, b, stride, pad, groups)
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-10, atol=1e-10)
    gy = RNG.standard_normal(want.shape)
    (y * dm.tensor(gy)).sum().backward()
    # The input and weight gradients against a directional finite difference of the
    # reference along a random probe (the loss is linear in each, so this is exact to rounding).
    for t, a in ((xt, x), (wt, w)):
        probe = RNG.standard_normal(a.shape)
        eps = 1e-6
        if t is xt:
            plus = conv_ref(x + eps * probe, w, b, stride, pad, groups)
        else:
            plus = conv_ref(x, w + eps * probe, b, stride, pad, groups)
        numeric = ((plus - want) * gy).sum() / eps
        np.testing.assert_allclose((t.grad.numpy() * probe).sum(), numeric, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bt.grad.numpy(), gy.sum(axis=(0, 2, 3)), rtol=1e-10)


def test_stacked_blocks_gradcheck() -> None:
    x = dm.tensor(RNG.standard_normal((5, 2, 4, 4)), requires_grad=True)
    w = dm.tensor(RNG.standard_normal((3, 2, 4, 4)), requires_grad=True)
    b = dm.tensor(RNG.standard_normal(3), requires_grad=True)
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), [x, w, b])
    xt = dm.tensor(RNG.standard_normal((5, 3, 1, 1)), requires_grad=True)
    wt = dm.tensor(RNG.standard_normal((3, 2, 4, 4)), requires_grad=True)
    gradcheck(lambda x, w: F.conv_transpose2d(x, w), [xt, wt])  # a GAN generator's first layer
