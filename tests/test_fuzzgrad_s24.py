"""Autograd differential-fuzz findings (session 24), expected values taken from PyTorch 2.x.

Each test encodes PyTorch's result for a confirmed mismatch; they are strict xfails until the
named code is fixed, so a fix shows up as an XPASS.
"""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
from democratising.utils.checkpoint import checkpoint


def _f64(v: list, grad: bool = True) -> dm.Tensor:
    return dm.tensor(v, dtype=dm.float64, requires_grad=grad)


def test_retain_grad_follows_in_place_update() -> None:
    # PyTorch moves retain_grad to the tensor's new version after an in-place op.
    x = _f64([1.0, 2.0, 3.0])
    y = x * 2
    y.retain_grad()
    y.mul_(3)
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [72.0, 144.0, 216.0])
    np.testing.assert_allclose(y.grad.numpy(), [12.0, 24.0, 36.0])
    assert y.retains_grad


def test_cat_of_empty_tensors_keeps_requires_grad() -> None:
    x = dm.zeros(0, requires_grad=True)
    y = dm.zeros(0, requires_grad=True)
    c = dm.cat([x, y])
    assert c.requires_grad
    c.sum().backward()
    assert x.grad is not None and tuple(x.grad.shape) == (0,)


def test_cat_skipped_empty_gets_empty_grad() -> None:
    e = dm.zeros(0, requires_grad=True)
    o = dm.ones(2, 3, requires_grad=True)
    dm.cat([e, o]).sum().backward()
    assert e.grad is not None and tuple(e.grad.shape) == (0,)


def test_hook_applies_to_second_order_gradient_through_saved_output() -> None:
    # (sqrt keeps its output, as PyTorch's: the double backward runs through the output's
    # node and its hook)
    x = _f64([0.5, 2.0])
    h = x.sqrt()
    h.register_hook(lambda g: g * 2)
    (g,) = dm.autograd.grad((h * h * h).sum(), x, create_graph=True)
    (g2,) = dm.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(g.detach().numpy(), [2.1213203435596433, 4.2426406871192865])
    np.testing.assert_allclose(g2.numpy(), [4.242640687119284, 2.121320343559642])


@pytest.mark.xfail(
    strict=True,
    reason=(
        "clamp backward (rust/core/src/ops) builds a graph on x under create_graph; "
        "PyTorch's where(mask, g, 0) does not (hardtanh/relu6 share the op and must keep it)"
    ),
)
def test_clamp_first_order_grad_is_constant() -> None:
    x = _f64([0.5, -2.0])
    (g,) = dm.autograd.grad(x.clamp(-1, 1).sum(), x, create_graph=True)
    assert not g.requires_grad


def test_view_used_after_base_in_place() -> None:
    x = _f64([[1.0, 2.0], [3.0, 4.0]])
    y = x * 1
    w = y.T[0]
    y.mul_(2)
    (w * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[6.0, 0.0], [6.0, 0.0]])


def test_double_backward_through_in_place_on_view() -> None:
    x = _f64([1.0, 2.0, 3.0, 4.0])
    y = x * 1
    y[::2].mul_(3)
    (g,) = dm.autograd.grad((y**2).sum(), x, create_graph=True)
    (g2,) = dm.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(g.detach().numpy(), [18.0, 4.0, 54.0, 8.0])
    np.testing.assert_allclose(g2.numpy(), [18.0, 2.0, 18.0, 2.0])


def test_checkpoint_non_reentrant_double_backward() -> None:
    x = _f64([1.0, 2.0])
    y = checkpoint(lambda a: (a**3).sum(), x, use_reentrant=False)
    (g,) = dm.autograd.grad(y, x, create_graph=True)
    (g2,) = dm.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(g2.numpy(), [6.0, 12.0])


def test_backward_inputs_on_retained_non_leaf_counts_once() -> None:
    x = _f64([1.0, 2.0])
    h = x * 3
    h.retain_grad()
    (h * h).sum().backward(inputs=[h, x])
    np.testing.assert_allclose(h.grad.numpy(), [6.0, 12.0])
    np.testing.assert_allclose(x.grad.numpy(), [18.0, 36.0])


def test_detach_in_place_on_view_raises() -> None:
    x = _f64([1.0, 2.0, 3.0])
    v = (x * 2)[1:]
    with pytest.raises(RuntimeError):
        v.detach_()


def test_is_view_and_detach_of_a_plain_view() -> None:
    x = dm.zeros(3)
    v = x[1:]
    assert v._is_view() and not x._is_view() and not v.detach()._is_view()
    with pytest.raises(RuntimeError, match="views in-place"):
        v.detach_()
    d = v.detach()
    assert d.detach_() is d
