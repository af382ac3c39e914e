"""Session 31's differential review against PyTorch: an in-place change under atan2's
backward, GradScaler.step without gradients, second backwards through nodes that keep no
activation."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm


@pytest.mark.parametrize("which", [0, 1])
def test_atan2_input_changed_in_place_raises_instead_of_a_wrong_gradient(which: int) -> None:
    x = dm.tensor([0.5, 1.0, 2.0], requires_grad=True)
    h = x * 1
    args = [h, dm.ones(3)] if which == 0 else [dm.ones(3), h]
    y = dm.atan2(*args)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_atan2_gradient_unchanged_without_in_place_writes() -> None:
    x = dm.tensor([0.5, 1.0, 2.0], requires_grad=True)
    o = dm.tensor([1.0, -2.0, 0.5], requires_grad=True)
    dm.atan2(x, o).sum().backward()
    xv, ov = np.array([0.5, 1.0, 2.0]), np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(x.grad.numpy(), ov / (xv**2 + ov**2), rtol=1e-6)
    np.testing.assert_allclose(o.grad.numpy(), -xv / (xv**2 + ov**2), rtol=1e-6)


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
@pytest.mark.parametrize("unscale_first", [False, True])
def test_grad_scaler_step_without_any_gradient_raises(optimizer: str, unscale_first: bool) -> None:
    # PyTorch: "No inf checks were recorded for this optimizer." (a forgotten backward)
    w = dm.tensor([1.0], requires_grad=True)
    opt = dm.optim.SGD([w], lr=0.1) if optimizer == "sgd" else dm.optim.RMSprop([w], lr=0.1)
    scaler = dm.amp.GradScaler()
    scaler.scale(dm.tensor(1.0))
    if unscale_first:
        scaler.unscale_(opt)
    with pytest.raises(ValueError, match="No inf checks were recorded"):
        scaler.step(opt)
    assert w.tolist() == [1.0]


def test_grad_scaler_step_with_gradients_still_steps() -> None:
    w = dm.tensor([1.0], requires_grad=True)
    opt = dm.optim.SGD([w], lr=0.1)
    scaler = dm.amp.GradScaler(init_scale=4.0)
    scaler.scale((w * 2).sum()).backward()
    scaler.step(opt)
    scaler.update()
    assert w.tolist() == pytest.approx([0.8])
