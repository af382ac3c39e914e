"""Functional losses and activations against PyTorch 2.15: gradients at the
kinks as PyTorch 2.15 gives them, prelu's 0-d shape, triplet margin, one_hot of an empty tensor."""

import numpy as np
import pytest

import democratising as dm
from democratising.nn import functional as F


def _grad(fn, values):
    x = dm.tensor(np.array(values, dtype=np.float32), requires_grad=True)
    fn(x).sum().backward()
    return x.grad.numpy()


@pytest.mark.parametrize(
    ("fn", "expected"),
    [  # torch.autograd on [-3, -1, 0, 1, 3, 6]
        (F.relu6, [0, 0, 0, 1, 1, 0]),
        (F.hardtanh, [0, 0, 1, 0, 0, 0]),
        (F.hardsigmoid, [0, 1 / 6, 1 / 6, 1 / 6, 0, 0]),
        (F.hardswish, [0, 1 / 6, 0.5, 5 / 6, 1, 1]),
    ],
)
def test_no_gradient_at_the_clamp_bounds(fn, expected) -> None:
    got = _grad(fn, [-3.0, -1.0, 0.0, 1.0, 3.0, 6.0])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_prelu_gradient_at_zero_and_0d_shape() -> None:
    x = dm.tensor(np.array([0.0, 1.0, -2.0], dtype=np.float32), requires_grad=True)
    w = dm.tensor(np.array([0.25], dtype=np.float32), requires_grad=True)
    F.prelu(x, w).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.25, 1.0, 0.25])  # torch
    np.testing.assert_allclose(w.grad.numpy(), [-2.0])
    assert F.prelu(dm.tensor(-2.0), w).shape == ()


def test_margin_losses_no_gradient_at_the_kink() -> None:
    a = dm.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    b = dm.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    F.margin_ranking_loss(a, b, dm.tensor(np.array([1.0, -1.0], dtype=np.float32))).backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 0.0])
    u = dm.tensor(np.array([[1.0, 0.0]], dtype=np.float32), requires_grad=True)
    v = dm.tensor(np.array([[0.0, 1.0]], dtype=np.float32))
    F.cosine_embedding_loss(u, v, dm.tensor(np.array([-1.0], dtype=np.float32))).backward()
    np.testing.assert_array_equal(u.grad.numpy(), [[0.0, 0.0]])


@pytest.mark.parametrize("margin", [0.0, -1.0])
def test_triplet_margin_loss_refuses_non_positive_margin(margin: float) -> None:
    x = dm.zeros(2, 3)
    with pytest.raises(ValueError, match="greater than 0"):
        F.triplet_margin_loss(x, x, x, margin=margin)


def test_one_hot_of_empty_tensor_needs_num_classes() -> None:
    empty = dm.tensor(np.zeros((0,), dtype=np.int64))
    with pytest.raises(RuntimeError, match="empty tensor"):
        F.one_hot(empty)
    assert F.one_hot(empty, 3).shape == (0, 3)


def test_pairwise_distance_p0_takes_part_in_autograd() -> None:
    x = dm.tensor(np.array([[1.0, 2.0]], dtype=np.float32), requires_grad=True)
    out = F.pairwise_distance(x, dm.zeros(1, 2), p=0.0)
    out.sum().backward()
    np.testing.assert_array_equal(out.detach().numpy(), [2.0])
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.0]])


@pytest.mark.parametrize("fn", [F.relu6, F.hardtanh, F.hardsigmoid, F.hardswish, F.mish])
def test_inplace_activations_write_into_their_input(fn):
    x = dm.tensor([-4.0, 0.0, 2.0, 7.0])
    want = fn(x.clone()).numpy()
    assert fn(x, inplace=True) is x
    np.testing.assert_allclose(x.numpy(), want)


def test_hard_activation_reprs_are_pytorchs():
    # torch: Hardswish(), Hardsigmoid() even with inplace=True; ReLU6(inplace=True).
    assert repr(dm.nn.Hardswish(inplace=True)) == "Hardswish()"
    assert repr(dm.nn.Hardsigmoid(inplace=True)) == "Hardsigmoid()"
    assert repr(dm.nn.ReLU6(inplace=True)) == "ReLU6(inplace=True)"
    assert not isinstance(dm.nn.Hardsigmoid(), dm.nn.Hardswish)
