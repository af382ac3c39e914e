"""``copy.deepcopy`` / ``copy.copy`` of tensors, parameters, modules and state dicts (the usual
way to keep a best model or an EMA copy)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import democratising as dm
from democratising import nn, optim


def test_deepcopy_of_a_leaf_owns_its_data_and_keeps_grad_and_flags() -> None:
    t = dm.tensor([1.0, 2.0], requires_grad=True)
    (t * t).sum().backward()
    d = copy.deepcopy(t)
    assert type(d) is dm.Tensor and d.is_leaf and d.requires_grad
    np.testing.assert_array_equal(d.grad.numpy(), [2.0, 4.0])
    with dm.no_grad():
        d.fill_(0.0)
        d.grad.fill_(0.0)
    np.testing.assert_array_equal(t.detach().numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(t.grad.numpy(), [2.0, 4.0])


def test_deepcopy_of_a_result_is_refused_like_pytorch() -> None:
    t = dm.ones(2, requires_grad=True)
    with pytest.raises(dm.DemocratisingError, match="graph leaves"):
        copy.deepcopy(t * 2)


def test_copy_shares_data_and_keeps_the_class() -> None:
    t = dm.ones(3)
    c = copy.copy(t)
    assert c is not t
    c.add_(1.0)
    np.testing.assert_array_equal(t.numpy(), [2.0, 2.0, 2.0])
    p = nn.Parameter(dm.ones(2))
    assert type(copy.copy(p)) is nn.Parameter and copy.copy(p).requires_grad


def test_deepcopy_of_a_parameter_stays_a_parameter() -> None:
    p = nn.Parameter(dm.ones(2), requires_grad=False)
    d = copy.deepcopy(p)
    assert type(d) is nn.Parameter and not d.requires_grad


def test_deepcopy_of_a_model_is_independent_and_equal() -> None:
    dm.manual_seed(0)
    m = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(8, 3)
    )
    best = copy.deepcopy(m)
    x = dm.randn(2, 1, 4, 4)
    m.eval()
    best.eval()
    np.testing.assert_array_equal(m(x).detach().numpy(), best(x).detach().numpy())
    assert [k for k, _ in best.named_parameters()] == [k for k, _ in m.named_parameters()]
    opt = optim.SGD(m.parameters(), lr=0.1)
    m.train()
    m(x).sum().backward()
    opt.step()
    assert not np.array_equal(
        m.state_dict()["4.weight"].numpy(), best.state_dict()["4.weight"].numpy()
    )
    sd = copy.deepcopy(best.state_dict())
    m.load_state_dict(sd)
    m.eval()
    np.testing.assert_array_equal(m(x).detach().numpy(), best(x).detach().numpy())
