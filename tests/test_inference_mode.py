"""``inference_mode``: nothing recorded (not even under a nested ``enable_grad``), inference
tensors that say so and refuse in-place writes outside the mode, as PyTorch's."""

from __future__ import annotations

import pytest

import democratising as dm
from democratising import nn


def test_tensors_made_inside_are_inference_tensors() -> None:
    x = dm.ones(3, requires_grad=True)
    with dm.inference_mode():
        y = x * 2
        view = y[1:]
        assert dm.is_inference_mode_enabled() and not dm.is_grad_enabled()
    assert y.is_inference() and view.is_inference() and dm.is_inference(y)
    assert not y.requires_grad and y.grad_fn is None
    assert not x.is_inference() and not (x * 2).is_inference()
    assert not y.clone().is_inference()  # a clone made outside is a normal tensor
    assert y.detach().is_inference()
    with dm.no_grad():
        assert not dm.ones(2).is_inference()


def test_enable_grad_inside_records_nothing() -> None:
    x = dm.ones(3, requires_grad=True)
    with dm.inference_mode():
        with dm.enable_grad():
            assert dm.is_grad_enabled()  # the switch is on, as in PyTorch ...
            z = x * 2
        assert not z.requires_grad  # ... but no graph is recorded
        with dm.inference_mode(False):
            w = x * 2
            assert not dm.is_inference_mode_enabled()
    assert w.requires_grad and not w.is_inference()
    assert dm.is_grad_enabled() and not dm.is_inference_mode_enabled()


def test_in_place_write_outside_the_mode_is_refused() -> None:
    with dm.inference_mode():
        y = dm.zeros(3)
        y.add_(1.0)  # inside: allowed
    for write in (lambda: y.add_(1.0), lambda: y.mul_(2.0), lambda: y.copy_(dm.ones(3))):
        with pytest.raises(RuntimeError, match="inference tensor"):
            write()
    with pytest.raises(RuntimeError, match="inference tensor"):
        y[0] = 5.0
    with dm.no_grad(), pytest.raises(RuntimeError, match="inference tensor"):
        y.zero_()
    assert y.tolist() == [1.0, 1.0, 1.0]  # nothing was written
    c = y.clone()
    c.add_(1.0)
    assert c.tolist() == [2.0, 2.0, 2.0]


def test_outputs_of_an_inference_pass_are_used_normally() -> None:
    dm.manual_seed(0)
    model = nn.Linear(4, 3)
    x = dm.randn(5, 4)
    with dm.inference_mode():
        out = model(x)
    expected = model(x).detach()
    assert dm.allclose(out, expected)
    assert out.argmax(1).tolist() == expected.argmax(1).tolist()
    assert dm.allclose(out.softmax(-1).sum(-1), dm.ones(5))
    # Outside the mode the model trains as before, an inference tensor as a constant input.
    loss = (model(x) * out).sum()
    loss.backward()
    assert model.weight.grad is not None and model.weight.grad.shape == (3, 4)


def test_decorator_forms() -> None:
    @dm.inference_mode
    def bare(t: dm.Tensor) -> dm.Tensor:
        return t * 3

    @dm.inference_mode()
    def called(t: dm.Tensor) -> dm.Tensor:
        return t * 3

    x = dm.ones(2, requires_grad=True)
    for f in (bare, called):
        r = f(x)
        assert r.is_inference() and not r.requires_grad
    assert not dm.is_inference_mode_enabled()
