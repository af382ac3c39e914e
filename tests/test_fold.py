"""``F.unfold``/``F.fold`` (and ``nn.Unfold``/``nn.Fold``): a NumPy im2col reference over
kernel, dilation, padding and stride, figures PyTorch 2.15 gives, float64 gradients, the
adjoint relation, unbatched inputs and PyTorch's shape errors."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from helpers import gradcheck


def unfold_np(x: np.ndarray, k: tuple, d: tuple, p: tuple, s: tuple) -> np.ndarray:
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    cols = np.zeros((n, c, k[0], k[1], oh, ow))
    for i in range(k[0]):
        for j in range(k[1]):
            r0, c0 = i * d[0], j * d[1]
            cols[:, :, i, j] = xp[:, :, r0 : r0 + s[0] * oh : s[0], c0 : c0 + s[1] * ow : s[1]]
    return cols.reshape(n, c * k[0] * k[1], oh * ow)


CASES = [
    ((2, 3, 5, 6), (2, 3), (1, 2), (1, 1), (2, 1)),
    ((1, 2, 7, 7), (3, 3), (1, 1), (0, 0), (1, 1)),
    ((2, 1, 6, 4), (2, 2), (2, 1), (1, 0), (1, 2)),
]


@pytest.mark.parametrize(("shape", "k", "d", "p", "s"), CASES)
def test_unfold_matches_im2col_and_fold_is_its_adjoint(
    shape: tuple[int, ...],
    k: tuple[int, int],
    d: tuple[int, int],
    p: tuple[int, int],
    s: tuple[int, int],
) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    got = F.unfold(dm.tensor(x), k, d, p, s)
    want = unfold_np(x, k, d, p, s)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)
    # <unfold(x), y> == <x, fold(y)>: fold is unfold's adjoint.
    y = rng.standard_normal(want.shape)
    folded = F.fold(dm.tensor(y), shape[2:], k, d, p, s).numpy()
    np.testing.assert_allclose((want * y).sum(), (x * folded).sum(), rtol=1e-10)


def test_figures_from_pytorch_and_gradients() -> None:
    x = dm.arange(2 * 3 * 5 * 6, dtype=dm.float64).reshape(2, 3, 5, 6)
    u = F.unfold(x, (2, 3), dilation=(1, 2), padding=1, stride=(2, 1))
    assert tuple(u.shape) == (2, 18, 12)
    weights = dm.arange(u.numel(), dtype=dm.float64).reshape(u.shape)
    assert u.sum().item() == 26850.0 and (u * weights).sum().item() == 7804890.0
    f = F.fold(u, (5, 6), (2, 3), dilation=(1, 2), padding=1, stride=(2, 1))
    weights = dm.arange(f.numel(), dtype=dm.float64).reshape(f.shape)
    assert (f * weights).sum().item() == 3212850.0
    leaf = dm.tensor(np.random.default_rng(1).standard_normal((1, 2, 4, 5)), requires_grad=True)
    gradcheck(lambda t: F.unfold(t, 2, padding=1, stride=2), [leaf])
    cols = dm.tensor(np.random.default_rng(2).standard_normal((1, 8, 12)), requires_grad=True)
    gradcheck(lambda t: F.fold(t, (4, 5), 2, stride=1), [cols])


def test_modules_unbatched_inputs_and_errors() -> None:
    x = dm.ones(2, 4, 4)
    cols = dm.nn.Unfold(2, stride=2)(x)
    assert tuple(cols.shape) == (8, 4)
    np.testing.assert_array_equal(dm.nn.Fold((4, 4), 2, stride=2)(cols).numpy(), x.numpy())
    # Overlapping blocks add up: each pixel counts the blocks that cover it.
    counts = F.fold(F.unfold(dm.ones(1, 1, 3, 3), 2), (3, 3), 2).numpy()[0, 0]
    np.testing.assert_array_equal(counts, [[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    with pytest.raises(ValueError, match="sliding blocks"):
        F.unfold(dm.ones(1, 1, 2, 2), 3)
    with pytest.raises(ValueError, match="divisible"):
        F.fold(dm.ones(1, 7, 4), (3, 3), 2)
    with pytest.raises(ValueError, match="sliding blocks"):
        F.fold(dm.ones(1, 4, 5), (3, 3), 2)
    with pytest.raises(ValueError, match="kernel_size"):
        F.unfold(dm.ones(1, 1, 4, 4), 0)
