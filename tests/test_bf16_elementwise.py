"""bfloat16 elementwise arithmetic and unary ops compute each element in float32 and round once
(in one pass, without float32 copies of the operands): the results must equal widening the
tensors first, bit for bit, over broadcasting, non-contiguous views and mixed float32 operands."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F

rng = np.random.default_rng(11)


def bf16(*shape: int) -> dm.Tensor:
    return dm.tensor(rng.standard_normal(shape).astype(np.float32) * 3).bfloat16()


def same_bits(got: dm.Tensor, want: dm.Tensor) -> None:
    assert got.dtype == want.dtype and tuple(got.shape) == tuple(want.shape)
    np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())


OPS: dict[str, Callable[[dm.Tensor, dm.Tensor], dm.Tensor]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


@pytest.mark.parametrize("op", sorted(OPS))
def test_bfloat16_arithmetic_rounds_once(op: str) -> None:
    f = OPS[op]
    a, b = bf16(5, 1, 7), bf16(3, 7)
    same_bits(f(a, b), f(a.float(), b.float()).bfloat16())  # broadcast
    at, c = bf16(7, 5).t(), bf16(5, 7)  # non-contiguous
    same_bits(f(at, c), f(at.float(), c.float()).bfloat16())
    x32 = dm.tensor(rng.standard_normal((4, 6)).astype(np.float32))
    y = bf16(4, 6)
    same_bits(f(x32, y), f(x32, y.float()))  # float32 with bfloat16 promotes to float32
    same_bits(f(y, x32), f(y.float(), x32))
    empty = bf16(0, 3)
    assert tuple(f(empty, empty).shape) == (0, 3)


def test_bfloat16_in_place_add_and_nan_inf() -> None:
    a, b = bf16(64), bf16(64)
    want = (a.float() + b.float()).bfloat16()
    a.add_(b)
    same_bits(a, want)
    special = dm.tensor([float("nan"), float("inf"), -float("inf"), 1.0]).bfloat16()
    out = (special * special).float().numpy()
    assert np.isnan(out[0]) and out[1] == np.inf and out[2] == np.inf and out[3] == 1.0


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: F.gelu(x, approximate="tanh"),
        F.gelu,
        F.silu,
    ],
)
def test_bfloat16_unary_forward_and_backward_round_once(
    fn: Callable[[dm.Tensor], dm.Tensor],
) -> None:
    x = bf16(3, 50)
    same_bits(fn(x), fn(x.float()).bfloat16())
    xg = x.clone().requires_grad_()
    g = bf16(3, 50)
    fn(xg).backward(g)
    x32 = x.float().requires_grad_()
    fn(x32).backward(g.float())
    assert xg.grad is not None and x32.grad is not None
    # The bfloat16 backward rounds g * f'(x) once; float32's is that product unrounded.
    same_bits(xg.grad, x32.grad.bfloat16())


@pytest.mark.parametrize(
    ("name", "derivative"),
    [("tanh", lambda y: 1 - y * y), ("exp", lambda y: y), ("sigmoid", lambda y: y * (1 - y))],
)
def test_bfloat16_output_saving_unary_backward_reads_the_rounded_output(
    name: str, derivative: Callable[[dm.Tensor], dm.Tensor]
) -> None:
    """exp, tanh and sigmoid save their (bfloat16) output, as PyTorch's: the backward is
    g * f'(y) in float32 from that rounded output, rounded once (PyTorch's bits)."""
    x = bf16(3, 50)
    y = getattr(x, name)()
    same_bits(y, getattr(x.float(), name)().bfloat16())
    xg = x.clone().requires_grad_()
    g = bf16(3, 50)
    getattr(xg, name)().backward(g)
    assert xg.grad is not None
    same_bits(xg.grad, (g.float() * derivative(y.float())).bfloat16())


@pytest.mark.parametrize(
    ("shape", "dim"), [((37, 129), -1), ((4, 300, 70), 1), ((600, 200), -1), ((0, 5), -1)]
)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_bfloat16_softmax_rounds_once_and_differentiates(
    shape: tuple[int, ...], dim: int, name: str
) -> None:
    fn = getattr(F, name)
    rng = np.random.default_rng(3)
    x = dm.tensor(rng.standard_normal(shape).astype(np.float32) * 3).bfloat16()
    a = x.detach().requires_grad_()
    y = fn(a, dim=dim)
    assert y.dtype == dm.bfloat16
    # Computed in float32 on the widened values and rounded once: the same bits as widening
    # the whole tensor first.
    same_bits(y.detach(), fn(x.float(), dim=dim).bfloat16())
    g = dm.tensor(rng.standard_normal(shape).astype(np.float32)).bfloat16()
    y.backward(g)
    yn, gn = y.detach().float().numpy(), g.float().numpy()
    if name == "softmax":
        want = yn * (gn - (gn * yn).sum(axis=dim, keepdims=True))
    else:
        want = gn - np.exp(yn) * gn.sum(axis=dim, keepdims=True)
    assert a.grad.dtype == dm.bfloat16
    np.testing.assert_allclose(a.grad.float().numpy(), want, atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize(
    ("shape", "normalized", "affine"),
    [((37, 129), (129,), True), ((4, 30, 70), (30, 70), True), ((600, 200), (200,), False)],
)
def test_bfloat16_layer_norm_matches_the_widened_computation_bit_for_bit(
    shape: tuple[int, ...], normalized: tuple[int, ...], affine: bool
) -> None:
    rng = np.random.default_rng(4)

    def draw(s: tuple[int, ...]) -> dm.Tensor:
        return dm.tensor(rng.standard_normal(s).astype(np.float32) * 3 + 1).bfloat16()

    x, g = draw(shape), draw(shape)
    w, b = (draw(normalized), draw(normalized)) if affine else (None, None)
    # bfloat16 leaves, and their float32 twins holding the same values.
    low = [t.detach().requires_grad_() if t is not None else None for t in (x, w, b)]
    wide = [t.float().requires_grad_() if t is not None else None for t in (x, w, b)]
    y = F.layer_norm(low[0], normalized, low[1], low[2], 1e-5)
    y32 = F.layer_norm(wide[0], normalized, wide[1], wide[2], 1e-5)
    assert y.dtype == dm.bfloat16
    same_bits(y.detach(), y32.detach().bfloat16())
    y.backward(g)
    y32.backward(g.float())
    for a, a32 in zip(low, wide):
        if a is not None:
            same_bits(a.grad, a32.grad.bfloat16())


def test_bfloat16_layer_norm_of_a_view_and_an_in_place_change() -> None:
    x = bf16(50, 40).t()
    same_bits(F.layer_norm(x, (50,)), F.layer_norm(x.float(), (50,)).bfloat16())
    h = bf16(4, 8).requires_grad_() * 1
    y = F.layer_norm(h, (8,))
    h.add_(1)  # the bfloat16 input the backward reads changed after the forward
    with pytest.raises(dm.errors.AutogradError):
        y.sum().backward()


@pytest.mark.parametrize(
    ("shape", "training", "weights"),
    [
        ((8, 3, 5, 7), True, "bf16"),
        ((16, 4), True, "f32"),
        ((6, 5, 33), False, "f32"),
        ((5, 2, 3, 3), True, None),
    ],
)
def test_bfloat16_batch_norm_matches_the_widened_computation_bit_for_bit(
    shape: tuple[int, ...], training: bool, weights: str | None
) -> None:
    rng = np.random.default_rng(5)

    def draw(s: tuple[int, ...]) -> dm.Tensor:
        return dm.tensor(rng.standard_normal(s).astype(np.float32) * 3 + 1).bfloat16()

    c = shape[1]
    x, g = draw(shape), draw(shape)
    w, b = (draw((c,)), draw((c,))) if weights else (None, None)
    if weights == "f32":
        w, b = w.float(), b.float()

    def leaf(t: dm.Tensor | None, dtype: dm.dtype | None = None) -> dm.Tensor | None:
        return None if t is None else t.to(dtype or t.dtype).detach().requires_grad_()

    low = [leaf(x), leaf(w), leaf(b)]
    wide = [leaf(x, dm.float32), leaf(w, dm.float32), leaf(b, dm.float32)]
    stats = dm.tensor(rng.standard_normal(c).astype(np.float32))
    var = dm.tensor(rng.uniform(0.5, 2.0, c).astype(np.float32))
    rm, rv, rm32, rv32 = stats.clone(), var.clone(), stats.clone(), var.clone()
    y = F.batch_norm(low[0], rm, rv, low[1], low[2], training, 0.1, 1e-5)
    y32 = F.batch_norm(wide[0], rm32, rv32, wide[1], wide[2], training, 0.1, 1e-5)
    assert y.dtype == dm.bfloat16
    same_bits(y.detach(), y32.detach().bfloat16())
    # The running statistics see the same float32 batch statistics.
    same_bits(rm, rm32)
    same_bits(rv, rv32)
    y.backward(g)
    y32.backward(g.float())
    for a, a32 in zip(low, wide):
        if a is not None:
            same_bits(a.grad, a32.grad.to(a.dtype))


def test_bfloat16_batch_norm_keeps_its_input_and_sees_an_in_place_change() -> None:
    h = bf16(6, 3, 4).requires_grad_() * 1
    y = F.batch_norm(h, None, None, training=True)
    h.add_(1)
    with pytest.raises(dm.errors.AutogradError):
        y.sum().backward()


@pytest.mark.parametrize(("shape", "groups"), [((4, 6, 5, 5), 3), ((3, 8, 17), 8), ((2, 4), 1)])
def test_bfloat16_group_norm_is_the_widened_computation(
    shape: tuple[int, ...], groups: int
) -> None:
    x, g = bf16(*shape), bf16(*shape)
    a, a32 = x.detach().requires_grad_(), x.float().requires_grad_()
    # Without an affine, one rounding of the float32 result: the same bits.
    y, y32 = F.group_norm(a, groups), F.group_norm(a32, groups)
    assert y.dtype == dm.bfloat16
    same_bits(y.detach(), y32.detach().bfloat16())
    y.backward(g)
    y32.backward(g.float())
    same_bits(a.grad, a32.grad.bfloat16())
    # The per-channel affine rounds after the normalisation: within bfloat16's precision.
    c = shape[1]
    w, b = bf16(c), bf16(c)
    got = F.group_norm(x, groups, w, b).float().numpy()
    want = F.group_norm(x.float(), groups, w.float(), b.float()).numpy()
    np.testing.assert_allclose(got, want, rtol=2e-2, atol=5e-2)


@pytest.mark.parametrize("shape", [(300, 2048), (7, 5), (2, 0), (4, 3, 130)])
def test_bfloat16_sum_over_leading_dims_is_the_widened_sum_rounded_once(
    shape: tuple[int, ...],
) -> None:
    x = bf16(*shape)
    dims = tuple(range(len(shape) - 1))
    got = x.sum(dims)
    assert got.dtype == dm.bfloat16
    same_bits(got, x.float().sum(dims).bfloat16())
    want = x.float().numpy().astype(np.float64).sum(axis=dims)
    np.testing.assert_allclose(got.float().numpy(), want, rtol=1e-2, atol=1e-1)
