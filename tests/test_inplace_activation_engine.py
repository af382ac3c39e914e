"""The engine's in-place ReLU / leaky ReLU (the backward reads the output left in the tensor,
no copy of the input), split/chunk/unbind returning tuples, and grad mode reaching the
engine's thread pool after ``set_num_threads``."""

import numpy as np
import pytest

import democratising as dm
import democratising.nn as nn
import democratising.nn.functional as F


def _x(seed: int = 0, shape: tuple = (4, 6)) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def test_relu_inplace_writes_and_differentiates():
    xn = _x()
    x = dm.tensor(xn, requires_grad=True)
    y = x * 3.0
    out = y.relu_()
    assert out is y
    assert y.grad_fn is not None and "Relu" in y.grad_fn.name()
    np.testing.assert_allclose(y.detach().numpy(), np.maximum(3 * xn, 0))
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.maximum(3 * xn, 0) * 3 * (xn > 0))


@pytest.mark.parametrize("slope", [0.0, 0.2])
def test_leaky_relu_inplace_matches_out_of_place(slope):
    xn = _x(1)
    a = dm.tensor(xn, requires_grad=True)
    b = dm.tensor(xn, requires_grad=True)
    ya = F.leaky_relu(a * 1.0, slope, inplace=True)
    yb = F.leaky_relu(b * 1.0, slope)
    np.testing.assert_allclose(ya.detach().numpy(), yb.detach().numpy())
    (ya**2).sum().backward()
    (yb**2).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy())


def test_leaky_relu_negative_slope_inplace_is_still_right():
    # The output's sign no longer tells the input's: the functional form clones instead, and
    # the engine method refuses it under autograd.
    xn = _x(2)
    x = dm.tensor(xn, requires_grad=True)
    y = x * 1.0
    F.leaky_relu_(y, -0.5)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.where(xn > 0, 1.0, -0.5))
    with pytest.raises(ValueError, match="negative slope"):
        (x * 1.0).leaky_relu_(-0.5)


def test_relu_inplace_gradcheck_float64():
    xn = _x(3) + 0.05  # away from the kink
    x = dm.tensor(xn, dtype=dm.float64, requires_grad=True)
    assert dm.autograd.gradcheck(lambda t: (t * 1.0).relu_() * t, (x,))


def test_saved_output_modified_after_relu_inplace_raises():
    x = dm.tensor(_x(4), requires_grad=True)
    y = x * 1.0
    y.relu_()
    y.add_(1.0)
    with pytest.raises(dm.AutogradError, match="modified by an in-place"):
        y.sum().backward()


def test_relu_inplace_on_a_view_rebases_the_base():
    xn = _x(5)
    x = dm.tensor(xn, requires_grad=True)
    y = x * 1.0
    y[:, :3].relu_()
    y.sum().backward()
    want = np.ones_like(xn)
    want[:, :3] = xn[:, :3] > 0
    np.testing.assert_allclose(x.grad.numpy(), want)


def test_relu_module_inplace_and_leaf_rules():
    x = dm.tensor([-1.0, 2.0])
    out = nn.ReLU(inplace=True)(x)
    assert out is x and x.tolist() == [0.0, 2.0]
    leaf = dm.tensor([-1.0, 2.0], requires_grad=True)
    r = F.relu(leaf, inplace=True)  # PyTorch refuses; here a new tensor, the leaf unchanged
    assert r.tolist() == [0.0, 2.0] and leaf.tolist() == [-1.0, 2.0]
    m = nn.LeakyReLU(0.1, inplace=True)
    z = dm.tensor([-1.0, 2.0])
    assert m(z) is z
    np.testing.assert_allclose(z.numpy(), [-0.1, 2.0], rtol=1e-6)
    with dm.no_grad():
        w = leaf * 1.0
        assert F.relu_(w) is w and w.tolist() == [0.0, 2.0]


def test_relu_inplace_integer_tensor():
    x = dm.tensor([-3, 0, 4])
    x.relu_()
    assert x.tolist() == [0, 0, 4] and x.dtype == dm.int64


def test_splits_are_tuples():
    a = dm.arange(6.0)
    for parts in (a.split(2), a.split([1, 5]), a.chunk(3), a.unbind(), dm.zeros(0).chunk(2)):
        assert isinstance(parts, tuple)
    assert [p.tolist() for p in dm.split(a, 4)] == [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0]]
    assert isinstance(dm.chunk(a, 2), tuple) and isinstance(dm.unbind(a.view(2, 3), 1), tuple)


def test_grad_mode_reaches_the_thread_pool_after_set_num_threads():
    before = dm.get_num_threads()
    x = dm.randn(300, 300, requires_grad=True)
    try:
        (x @ x).sum()  # starts the engine's pool
        dm.set_num_threads(max(1, before) + 1)  # now work runs in a pool of its own
        with dm.no_grad():
            outs = [x * 2.0, x.exp(), x @ x, x**2.0]
        assert not any(o.requires_grad for o in outs)
        with dm.autocast("cpu", dtype=dm.bfloat16):
            assert (x @ x).dtype == dm.bfloat16
        assert (x @ x).dtype == dm.float32 and (x * 2.0).requires_grad
    finally:
        dm.set_num_threads(before)
