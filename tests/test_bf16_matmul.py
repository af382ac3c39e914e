"""bfloat16 matrix products (the AMX or AVX512-BF16 kernel where the CPU has one and the
product is big enough, widening to float32 elsewhere): float32 accumulation rounded once,
for odd sizes, transposed and batched operands, empty dims, linear layers and their gradients
under autocast."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F

rng = np.random.default_rng(0)


def bf16(shape: tuple[int, ...]) -> dm.Tensor:
    return dm.tensor(rng.standard_normal(shape).astype(np.float32)).bfloat16()


def check(got: dm.Tensor, want: np.ndarray) -> None:
    assert got.dtype == dm.bfloat16
    scale = max(np.abs(want).max(), 1.0)
    np.testing.assert_allclose(got.detach().float().numpy(), want, atol=8e-3 * scale)


@pytest.mark.parametrize(
    "mnk",
    [
        (1, 1, 1),
        (9, 33, 17),
        (40, 100, 129),
        (64, 64, 64),
        (300, 70, 1000),
        (257, 520, 520),  # the bfloat16 kernel, where the CPU has one
        (1100, 520, 129),  # the same with an odd k
    ],
)
def test_matches_float32_on_odd_sizes(mnk: tuple[int, int, int]) -> None:
    m, n, k = mnk
    a, b = bf16((m, k)), bf16((k, n))
    want = a.float().numpy() @ b.float().numpy()
    check(a @ b, want)
    check(a @ b.t().contiguous().t(), want)
    check(a.t().contiguous().t() @ b, want)


def test_batched_broadcast_and_empty() -> None:
    a, b = bf16((3, 2, 7, 40)), bf16((40, 9))
    check(a @ b, a.float().numpy() @ b.float().numpy())
    a, b = bf16((3, 7, 40)), bf16((3, 40, 9))
    check(a @ b, a.float().numpy() @ b.float().numpy())
    assert tuple((bf16((0, 5)) @ bf16((5, 3))).shape) == (0, 3)
    z = bf16((4, 0)) @ bf16((0, 3))
    assert tuple(z.shape) == (4, 3) and np.all(z.float().numpy() == 0)


def test_linear_and_its_gradients_under_autocast() -> None:
    x = dm.tensor(rng.standard_normal((33, 64)).astype(np.float32), requires_grad=True)
    w = dm.tensor(rng.standard_normal((48, 64)).astype(np.float32), requires_grad=True)
    with dm.autocast("cpu", dtype=dm.bfloat16):
        y = F.linear(x, w)
    assert y.dtype == dm.bfloat16
    xb, wb = x.detach().bfloat16().float().numpy(), w.detach().bfloat16().float().numpy()
    check(y, xb @ wb.T)
    y.float().sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.ones((33, 48)) @ wb, rtol=2e-2, atol=5e-2)
    np.testing.assert_allclose(w.grad.numpy(), np.ones((48, 33)) @ xb, rtol=2e-2, atol=5e-2)
