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


@pytest.mark.parametrize("shape", [(1_000_000,), (100_000, 4)])
@pytest.mark.parametrize("reverse", [False, True])
def test_float32_cumsum_runs_in_float64_as_pytorch_cpu(
    shape: tuple[int, ...], reverse: bool
) -> None:
    # A float32 running sum drifted by ~1% over a million elements (and a 50k-way softmax's
    # cumsum ended above 1, which breaks top-p sampling).
    x = dm.full(shape, 0.1)
    out = (x.flip(0).cumsum(0).flip(0) if reverse else x.cumsum(0)).numpy()
    want = np.cumsum(np.full(shape, np.float32(0.1), dtype=np.float64), axis=0)
    if reverse:
        want = np.flip(np.cumsum(np.flip(want[:1].repeat(shape[0], 0), 0), axis=0), 0)
    np.testing.assert_allclose(out, want.astype(np.float32), rtol=1e-6)
    p = dm.randn(50257).softmax(0)
    assert p.cumsum(0)[-1].item() <= 1.0 + 1e-6


def test_float32_cumsum_backward_also_runs_in_float64() -> None:
    x = dm.full((200_000,), 1.0, requires_grad=True)
    (x.cumsum(0) * 0.1).sum().backward()
    # d/dx_i = 0.1 * (n - i): the reverse running sum of the gradient.
    np.testing.assert_allclose(x.grad.numpy()[:3], [20000.0, 19999.9, 19999.8], rtol=1e-6)
