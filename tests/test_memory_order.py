"""Elementwise ops over dense permuted operands (a transpose, channels-last) run in memory
order and keep their operands' layout, as PyTorch's; and float16 casts through F16C."""

import numpy as np
import pytest

import democratising as dm
from democratising.autograd import gradcheck

RNG = np.random.default_rng(43)


def _t(*shape, dtype=np.float32):
    return dm.tensor(RNG.standard_normal(shape).astype(dtype))


UNARY = [dm.exp, dm.relu, dm.tanh, dm.sigmoid, dm.abs, dm.neg, dm.sqrt, dm.sign]


@pytest.mark.parametrize("op", UNARY, ids=lambda f: f.__name__)
def test_unary_on_a_transpose_keeps_its_strides_and_values(op):
    x = _t(5, 7)
    xt = x.t()
    with np.errstate(invalid="ignore"):
        want = op(dm.tensor(xt.numpy().copy())).numpy()
    got = op(xt)
    assert got.shape == (7, 5)
    assert got.stride() == xt.stride() == (1, 7)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, equal_nan=True)
    assert got.data_ptr() != x.data_ptr()


def test_binary_same_permutation_and_numbers():
    a, b = _t(4, 6, 3), _t(4, 6, 3)
    pa, pb = a.permute(2, 0, 1), b.permute(2, 0, 1)
    ref_a, ref_b = a.numpy().transpose(2, 0, 1), b.numpy().transpose(2, 0, 1)
    for got, want in [
        (pa + pb, ref_a + ref_b),
        (pa * pb, ref_a * ref_b),
        (pa - 2, ref_a - 2),
        (3.0 / (pa.abs() + 1), 3.0 / (np.abs(ref_a) + 1)),
        (pa * dm.tensor(2.5), ref_a * 2.5),
        (pa + dm.ones(1, 1, 1), ref_a + 1),
        (pa > pb, ref_a > ref_b),
        (dm.maximum(pa, pb), np.maximum(ref_a, ref_b)),
    ]:
        assert got.stride() == pa.stride()
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


def test_number_promotion_is_kept_in_memory_order():
    x = dm.arange(12, dtype=dm.int32).reshape(3, 4).t()
    assert (x * 2).dtype == dm.int32
    assert (x * 0.5).dtype == dm.float32
    np.testing.assert_array_equal((x * 2).numpy(), np.arange(12).reshape(3, 4).T * 2)


def test_mixed_layouts_and_broadcasts_stay_row_major():
    x, y = _t(6, 6), _t(6, 6)
    got = x.t() + y
    assert got.is_contiguous()
    np.testing.assert_allclose(got.numpy(), x.numpy().T + y.numpy(), rtol=1e-6)
    row = _t(6)
    got = x.t() * row
    np.testing.assert_allclose(got.numpy(), x.numpy().T * row.numpy(), rtol=1e-6)


def test_channels_last_survives_elementwise_ops():
    x = _t(2, 3, 4, 5).to(memory_format=dm.channels_last)
    for y in (dm.relu(x), x * 2 + 1, dm.sigmoid(x) * x):
        assert y.is_contiguous(memory_format=dm.channels_last)
        assert not y.is_contiguous()
    np.testing.assert_allclose(dm.relu(x).numpy(), np.maximum(x.numpy(), 0))


def test_result_is_its_own_tensor_and_takes_in_place_ops():
    x = _t(3, 4)
    y = dm.exp(x.t())
    assert y._base is None and not y._is_view()
    assert x.t()._base.data_ptr() == x.data_ptr()
    y.add_(1)
    np.testing.assert_allclose(y.numpy(), np.exp(x.numpy().T) + 1, rtol=1e-6)
    np.testing.assert_allclose(y.reshape(-1).numpy(), (np.exp(x.numpy().T) + 1).reshape(-1), 1e-6)


def test_gradients_through_permuted_operands():
    a = _t(3, 4, dtype=np.float64).requires_grad_()
    b = _t(3, 4, dtype=np.float64).requires_grad_()
    assert gradcheck(lambda p, q: dm.tanh(p.t()) * q.t() + dm.exp(p.t()) * 0.5, (a, b))
    out = dm.sigmoid(a.t()) * b.t()
    out.sum().backward()
    assert a.grad.shape == (3, 4)
    s = 1 / (1 + np.exp(-a.detach().numpy()))
    np.testing.assert_allclose(a.grad.numpy(), s * (1 - s) * b.detach().numpy(), rtol=1e-10)


def test_empty_and_single_element_permuted_tensors():
    e = dm.zeros(0, 3).t()
    assert dm.exp(e).shape == (3, 0)
    one = dm.ones(1, 1).t()
    assert (one + one).shape == (1, 1)


@pytest.mark.parametrize("shape", [(7,), (1000, 33), (3, 4, 5)])
def test_float16_casts_match_numpy(shape):
    values = RNG.standard_normal(shape).astype(np.float32) * 3e4
    values.reshape(-1)[:3] = [np.inf, -np.inf, 65519.0]
    h = dm.tensor(values).to(dm.float16)
    np.testing.assert_array_equal(h.numpy(), values.astype(np.float16))
    np.testing.assert_array_equal(h.float().numpy(), values.astype(np.float16).astype(np.float32))
    if len(shape) > 1:
        np.testing.assert_array_equal(
            h.transpose(0, -1).float().numpy(),
            values.astype(np.float16).astype(np.float32).swapaxes(0, -1),
        )
    nan = dm.tensor([float("nan")]).half()
    assert np.isnan(nan.float().item())


def test_leaf_grad_keeps_the_leafs_layout_whatever_order_backward_ran_in():
    # PyTorch's layout contract: `.grad` of a contiguous leaf is contiguous (``view`` works),
    # even when every op of the backward kept a transpose's strides.
    b = dm.arange(12.0).reshape(3, 4).requires_grad_()
    (b.t() * b.t()).sum().backward()
    assert b.grad.stride() == (4, 1)
    np.testing.assert_allclose(b.grad.view(-1).numpy(), 2 * np.arange(12.0))
    (dm.maximum(b.t(), b.t() * 0.5)).mean().backward()  # accumulates into the same .grad
    assert b.grad.is_contiguous()
    # A channels-last leaf's gradient is channels-last.
    w = _t(2, 3, 4, 5).to(memory_format=dm.channels_last).requires_grad_()
    (w * w).sum().backward()
    assert w.grad.is_contiguous(memory_format=dm.channels_last)
    np.testing.assert_allclose(w.grad.numpy(), 2 * w.detach().numpy(), rtol=1e-6)
    # A transposed-layout leaf whose gradient came out row-major gets the leaf's strides.
    p = _t(4, 3).t().detach().requires_grad_()
    (p * dm.ones(3, 4)).sum().backward()
    assert p.grad.stride() == p.stride()
    # Under create_graph the first gradient is recorded and still row-major for a contiguous leaf.
    q = dm.arange(6.0).reshape(2, 3).requires_grad_()
    (q.t() * q.t()).sum().backward(create_graph=True)
    assert q.grad.is_contiguous() and q.grad.requires_grad


def test_float64_to_bfloat16_rounds_as_pytorch():
    # To the nearest float32, then the nearest bfloat16 (PyTorch's route); the `half` crate's
    # own conversion rounded the first value down to -0.609375.
    x = dm.tensor([-0.6113285415306722, 0.172363382653768, 1.0 + 2**-8 + 2**-40], dtype=dm.float64)
    assert x.to(dm.bfloat16).tolist() == [-0.61328125, 0.1728515625, 1.0]


def test_gradient_of_a_sum_through_a_transposed_op_is_contiguous():
    # `autograd.grad` (and hooks) see the gradient as computed: the sum's expanded gradient
    # times the transposed output keeps the transpose's order, which the transpose's own
    # backward turns back into row-major, as in PyTorch.
    x = dm.tensor(RNG.standard_normal((4, 6)), requires_grad=True)
    (g,) = dm.autograd.grad(x.t().exp().sum(), x)
    assert g.is_contiguous()
    np.testing.assert_allclose(g.view(-1).numpy(), np.exp(x.detach().numpy()).reshape(-1))
    (g,) = dm.autograd.grad(x.t().sigmoid().mean(), x)
    assert g.is_contiguous()
    y = dm.tensor(RNG.standard_normal((2, 3, 4, 5)), requires_grad=True)
    (g,) = dm.autograd.grad(y.permute(0, 2, 3, 1).pow(2).sum(), y)
    assert g.is_contiguous()
    np.testing.assert_allclose(g.numpy(), 2 * y.detach().numpy())
