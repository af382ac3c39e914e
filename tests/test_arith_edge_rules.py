"""PyTorch's edge rules of arithmetic and reductions: a float alpha on integer tensors, bool
subtraction, any/all over empty or no dims, and flat regions that pass no gradient even when
the incoming gradient is infinite."""

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F


def test_float_alpha_on_integer_tensors_is_refused() -> None:
    a, b = dm.tensor([1, 2]), dm.tensor([1, 1])
    for call in (
        lambda: a.add(b, alpha=0.5),
        lambda: a.sub(b, alpha=0.5),
        lambda: dm.add(a, b, alpha=0.5),
        lambda: a.clone().add_(b, alpha=1.5),
    ):
        with pytest.raises(RuntimeError, match="alpha"):
            call()
    assert a.add(b, alpha=2).tolist() == [3, 4]
    assert dm.ones(2).add(dm.ones(2), alpha=0.5).tolist() == [1.5, 1.5]
    assert a.add(dm.tensor([0.5, 0.5]), alpha=0.5).tolist() == [1.25, 2.25]


def test_subtracting_a_bool_tensor_is_refused() -> None:
    m = dm.tensor([True, False])
    for call in (lambda: dm.tensor([1, 2]) - m, lambda: dm.tensor([1, 2]) - True, lambda: m - m):
        with pytest.raises(dm.DTypeError, match="bool"):
            call()
    assert (1 - m.long()).tolist() == [0, 1]
    assert (~m).tolist() == [False, True]


def test_any_all_over_empty_and_no_dims() -> None:
    e = dm.zeros(0, 3)
    assert e.all(0).tolist() == [True] * 3 and e.any(0).tolist() == [False] * 3
    assert dm.zeros(2, 0).all(1, keepdim=True).tolist() == [[True], [True]]
    assert dm.zeros(0, 2).any(1).shape == (0,)
    x = dm.tensor([[1.0, 0.0], [2.0, 3.0]])
    assert x.all(dim=()).tolist() == [[True, False], [True, True]]
    assert x.all(1).tolist() == [False, True] and x.any(0).tolist() == [True, True]


@pytest.mark.parametrize(
    "f",
    [
        lambda x: x.relu().sqrt(),
        lambda x: F.relu6(x).sqrt(),
        lambda x: F.hardtanh(x, 0.0, 5.0).sqrt(),
        lambda x: x.clamp(min=0.0).sqrt(),
    ],
)
def test_a_flat_region_passes_no_infinite_gradient(f) -> None:  # type: ignore[no-untyped-def]
    x = dm.tensor([-1.0, 0.0, 4.0], requires_grad=True)
    f(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 0.25])


def test_a_leaky_relu_of_slope_zero_multiplies_its_gradient_as_pytorch() -> None:
    # Not a mask in PyTorch either: inf * 0 is NaN there.
    x = dm.tensor([-1.0, 0.0, 4.0], requires_grad=True)
    F.leaky_relu(x, 0.0).sqrt().sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [np.nan, np.nan, 0.25])


def test_maximum_loser_gets_zero_of_an_infinite_gradient() -> None:
    x = dm.tensor([-1.0, 0.0, 4.0], requires_grad=True)
    dm.maximum(x, dm.zeros(3)).sqrt().sum().backward()
    g = x.grad.numpy()
    assert g[0] == 0.0 and np.isinf(g[1]) and g[2] == 0.25
    y = dm.tensor([1.0, 0.0], requires_grad=True)
    dm.minimum(y, dm.zeros(2)).neg().sqrt().sum().backward()
    assert y.grad.numpy()[0] == 0.0


def test_cat_and_stack_write_into_out() -> None:
    a, b = dm.ones(2, 3), dm.zeros(2, 3)
    out = dm.empty(4, 3)
    view = out[:2]
    assert dm.cat([a, b], out=out) is out
    assert out.sum().item() == 6.0 and view.sum().item() == 6.0  # written in place
    grown = dm.empty(0)
    assert dm.stack([a, b], 1, out=grown) is grown and grown.shape == (2, 2, 3)
    wide = dm.zeros(4, 3, dtype=dm.float64)
    dm.cat([a, b], out=wide)
    assert wide.dtype == dm.float64 and wide.sum().item() == 6.0
    with pytest.raises(dm.DTypeError):
        dm.cat([a, b], out=dm.zeros(4, 3, dtype=dm.int64))
    with pytest.raises(dm.AutogradError):
        dm.cat([a.clone().requires_grad_(), b], out=dm.zeros(4, 3))


def test_half_products_accumulate_in_float32() -> None:
    # 1.01 is 1.0078125 in bfloat16; its 300th power is 10.33 (10.3125 once rounded).
    x = dm.full((300,), 1.01).to(dm.bfloat16)
    assert x.prod().item() == 10.3125 and x.prod().dtype == dm.bfloat16
    assert x.cumprod(0)[-1].item() == 10.3125
    h = dm.full((2, 300), 1.01).to(dm.float16)
    np.testing.assert_allclose(h.prod(1).float().numpy(), [1.0097656**300] * 2, rtol=2e-3)


def test_relu_saves_its_output_as_pytorch() -> None:
    # The input may change in place after the forward (the backward reads the output)...
    x = dm.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    b = x * 1
    c = b.relu()
    b.add_(1)
    c.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0]
    # ...but not the output, which the backward reads.
    y = dm.tensor([-1.0, 2.0], requires_grad=True).relu()
    F.dropout(y, 0.5, training=True, inplace=True)
    with pytest.raises(dm.AutogradError, match="in-place"):
        y.sum().backward()
    # and second derivatives still flow through it
    z = dm.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    (g,) = dm.autograd.grad(z.relu().pow(2).sum(), z, create_graph=True)
    (h,) = dm.autograd.grad(g.sum(), z)
    assert g.tolist() == [0.0, 0.0, 4.0] and h.tolist() == [0.0, 0.0, 2.0]


def test_log_softmax_keeps_precision_with_large_logits() -> None:
    x = dm.tensor([[1000.0, 1000.0, -1000.0]])
    got = F.log_softmax(x, -1).numpy()
    np.testing.assert_allclose(got[0, :2], [-np.log(2)] * 2, rtol=1e-7)
    assert dm.logsumexp(x, -1).item() == pytest.approx(1000.0 + np.log(2), rel=1e-7)


def test_xlogy_gradient_in_x_at_zero_is_log_y() -> None:
    x = dm.tensor([0.0, 0.0, 0.0, 1.0], dtype=dm.float64, requires_grad=True)
    y = dm.tensor([2.0, 0.0, -1.0, 3.0], dtype=dm.float64)
    r = dm.xlogy(x, y)
    assert r.tolist()[:3] == [0.0, 0.0, 0.0]
    r.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [np.log(2.0), 0.0, 0.0, np.log(3.0)])


def test_strided_copies_match_numpy() -> None:
    a = np.arange(24.0, dtype=np.float32).reshape(2, 3, 4)
    b = -a
    ta, tb = dm.from_numpy(a.copy()), dm.from_numpy(b.copy())
    np.testing.assert_array_equal(dm.stack([ta, tb], -1).numpy(), np.stack([a, b], -1))
    np.testing.assert_array_equal(
        dm.cat([ta.transpose(0, 2), tb.transpose(0, 2)], 1).numpy(),
        np.concatenate([a.transpose(2, 1, 0), b.transpose(2, 1, 0)], 1),
    )
    x = dm.zeros(4, 5)
    x.t()[1:4:2] = dm.ones(2, 4) * 3  # a strided destination, rows of stride 5
    want = np.zeros((4, 5), np.float32)
    want.T[1:4:2] = 3
    np.testing.assert_array_equal(x.numpy(), want)


def test_int_and_index_conversions_as_python() -> None:
    assert int(dm.tensor(2**62 + 1)) == 2**62 + 1  # exact, not through a float
    assert int(dm.tensor(-2.7)) == -2 and int(dm.tensor(True)) == 1
    assert int(dm.tensor(3e20, dtype=dm.float64)) == 300000000000000000000
    assert [0, 1, 2][dm.tensor(True)] == 1 and list(range(dm.tensor(3))) == [0, 1, 2]
    with pytest.raises(ValueError):
        int(dm.tensor(float("nan")))
    with pytest.raises(OverflowError):
        int(dm.tensor(float("inf")))
    with pytest.raises(TypeError):
        [1][dm.tensor(0.0)]


def test_short_lists_keep_their_inference() -> None:
    assert dm.tensor([1.0, 2.0]).dtype == dm.float32
    assert dm.tensor([1, 2]).dtype == dm.int64
    assert dm.tensor([True, False]).dtype == dm.bool
    assert dm.tensor([1, 2.5]).dtype == dm.float32
    assert dm.tensor([0.1]).item() == dm.tensor([0.1], dtype=dm.float64).float().item()
    with pytest.raises(OverflowError):
        dm.tensor([2**70])
    dm.set_default_dtype(dm.float64)
    try:
        assert dm.tensor([1.5]).dtype == dm.float64
    finally:
        dm.set_default_dtype(dm.float32)
