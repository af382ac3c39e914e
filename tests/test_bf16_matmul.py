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
    scale = max(float(np.abs(want).max(initial=0.0)), 1.0)
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


@pytest.mark.parametrize(
    "rows_in_out",
    [
        (1, 1, 1),
        (33, 64, 48),  # widened to float32
        (300, 129, 70),
        (512, 256, 520),  # the bfloat16 kernel, where the CPU has one
        (0, 256, 520),
        (7, 0, 5),
    ],
)
def test_linear_with_bias_adds_in_float32_and_rounds_once(
    rows_in_out: tuple[int, int, int],
) -> None:
    rows, n_in, n_out = rows_in_out
    x, w = bf16((rows, n_in)), bf16((n_out, n_in))
    b = (bf16((n_out,)).float() * 10).bfloat16().requires_grad_()
    x.requires_grad_()
    w.requires_grad_()
    y = F.linear(x, w, b)
    want = x.detach().float().numpy() @ w.detach().float().numpy().T + b.detach().float().numpy()
    check(y, want)
    # The bias rides the product's float32 sums: one rounding, so a bias far larger than the
    # product still keeps the product's contribution to the bf16 ulp of the sum.
    g = bf16((rows, n_out))
    y.backward(g)
    gn = g.float().numpy()
    scale = max(float(np.abs(gn).sum(0).max(initial=0.0)), 1.0)
    np.testing.assert_allclose(b.grad.float().numpy(), gn.sum(0), atol=1e-2 * scale)
    assert b.grad.dtype == dm.bfloat16 and tuple(w.grad.shape) == (n_out, n_in)
    check(x.grad, gn @ w.detach().float().numpy())


def test_linear_with_a_transposed_weight_and_3d_input() -> None:
    x = bf16((4, 128, 256))
    w = bf16((256, 512)).t()  # a [512, 256] view with strides swapped
    b = bf16((512,))
    want = x.float().numpy() @ w.float().numpy().T + b.float().numpy()
    check(F.linear(x, w, b), want)


@pytest.mark.parametrize("offset", [0, 1, 16, 32])
@pytest.mark.parametrize("mnk", [(64, 40, 96), (96, 17, 33), (32, 65, 128)])
def test_operands_at_any_offset_and_layout(offset: int, mnk: tuple[int, int, int]) -> None:
    # `a` at any alignment, with whole or partial 32-blocks of rows and k (AMX packs it a
    # block of rows at a time; the AVX512-BF16 kernel reads a row-major `a` in place); `b`
    # is packed from rows, from columns (a transposed weight) or element by element
    # (neither dim contiguous).
    m, n, k = mnk
    a = bf16((m * k + offset,))[offset:].reshape(m, k)
    an = a.float().numpy()
    b_rows = bf16((k, n))
    b_cols = bf16((n, k)).t()
    b_step = bf16((k, 2 * n))[:, ::2]
    for b in (b_rows, b_cols, b_step):
        check(a @ b, an @ b.float().numpy())
    w = bf16((n, k))
    bias = bf16((n,))
    check(F.linear(a, w, bias), an @ w.float().numpy().T + bias.float().numpy())


def test_nan_and_inf_pass_through_the_rounding() -> None:
    a, b = bf16((64, 64)), bf16((64, 48))
    an = a.float().numpy()
    an[3, 5] = np.nan
    an[7, :] = np.inf
    got = (dm.tensor(an).bfloat16() @ b).float().numpy()
    assert np.isnan(got[3]).all()
    with np.errstate(invalid="ignore"):
        want = an @ b.float().numpy()
    assert np.array_equal(np.isposinf(got[7]), np.isposinf(want[7]))
    rest = [i for i in range(64) if i not in (3, 7)]
    np.testing.assert_allclose(got[rest], want[rest], atol=8e-3 * np.abs(want[rest]).max())


def test_subnormal_results_round_as_float32_does() -> None:
    # The kernels round 32 sums per instruction where none is subnormal; a row holding one
    # (here a subnormal bias over zero sums) is rounded exactly, not flushed to zero.
    bias = np.full(48, 1e-39, dtype=np.float32)
    bias[::3] = -3e-40
    bias[1] = 1.5
    want = dm.tensor(bias).bfloat16()
    x, w = dm.zeros(64, 64).bfloat16(), bf16((48, 64))
    got = F.linear(x, w, want)
    assert got.shape == (64, 48)
    np.testing.assert_array_equal(
        got.float().numpy(), np.broadcast_to(want.float().numpy(), (64, 48))
    )
    assert (got.float().numpy()[:, 0] != 0).all()
