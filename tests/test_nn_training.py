"""Modules, losses and optimizers end to end: the seed MLP trains on digits."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.data import DataLoader, TensorDataset, random_split
from democratising.optim import SGD, Adam, AdamW


def test_sequential_builder_and_state_dict_keys() -> None:
    m = nn.Sequential().add(nn.Dense(4, 3)).add(nn.ReLU()).add(nn.Dense(3, 2)).build()
    assert list(m.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert m[0].weight.shape == (3, 4)
    assert m.num_parameters() == 4 * 3 + 3 + 3 * 2 + 2
    m2 = nn.Sequential(nn.Dense(4, 3), nn.ReLU(), nn.Dense(3, 2))
    m2.load_state_dict(m.state_dict())
    x = dm.randn(5, 4)
    np.testing.assert_allclose(m(x).detach().numpy(), m2(x).detach().numpy())
    with pytest.raises(dm.ShapeError):
        nn.Dense(4, 4).load_state_dict({"weight": dm.zeros(3, 4), "bias": dm.zeros(4)})
    with pytest.raises(KeyError):
        m2.load_state_dict({"0.weight": dm.zeros(3, 4)})


def test_dense_default_init_bounds() -> None:
    dm.manual_seed(0)
    d = nn.Dense(100, 50)
    bound = 1 / math.sqrt(100)
    w = d.weight.detach().numpy()
    assert w.min() >= -bound and w.max() <= bound and w.std() > bound / 3


def test_cross_entropy_matches_numpy_and_rejects_bad_labels() -> None:
    logits = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float64)
    labels = np.array([0, 4, 2, 1, 3, 3])
    x = dm.tensor(logits, requires_grad=True)
    loss = nn.CrossEntropyLoss()(x, dm.tensor(labels))
    lse = np.log(np.exp(logits).sum(1))
    ref = (lse - logits[np.arange(6), labels]).mean()
    assert loss.item() == pytest.approx(ref, rel=1e-10)
    loss.backward()
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    p[np.arange(6), labels] -= 1
    np.testing.assert_allclose(x.grad.numpy(), p / 6, rtol=1e-9)
    with pytest.raises(IndexError, match="7"):
        nn.CrossEntropyLoss()(x, dm.tensor([0, 7, 0, 0, 0, 0]))
    with pytest.raises(dm.DTypeError):
        nn.CrossEntropyLoss()(x, dm.tensor([0.0] * 6))


def test_label_smoothing_and_ignore_index() -> None:
    logits = np.random.default_rng(1).normal(size=(4, 3))
    labels = np.array([0, 2, -100, 1])
    loss = nn.functional.cross_entropy(
        dm.tensor(logits), dm.tensor(labels), ignore_index=-100, label_smoothing=0.1
    )
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    keep = labels != -100
    nll = -logp[keep, labels[keep]].mean()
    smooth = -logp[keep].sum(1).mean() / 3
    assert loss.item() == pytest.approx(0.9 * nll + 0.1 * smooth, rel=1e-6)


def test_sgd_momentum_and_adam_first_steps_match_reference() -> None:
    p = dm.tensor([1.0, -2.0], requires_grad=True)
    opt = SGD([p], lr=0.1, momentum=0.9)
    for _ in range(2):
        opt.zero_grad()
        (p * p).sum().backward()
        opt.step()
    # step 1: g=[2,-4], p=[0.8,-1.6]; step 2: g=[1.6,-3.2], buf=0.9*[2,-4]+g=[3.4,-6.8]
    np.testing.assert_allclose(p.detach().numpy(), [0.8 - 0.34, -1.6 + 0.68], rtol=1e-6)

    q = dm.tensor([1.0, -2.0], requires_grad=True)
    adam = Adam([q], lr=0.01)
    (q * q).sum().backward()
    adam.step()
    # first Adam step moves each coordinate by lr * sign(grad) (up to eps).
    np.testing.assert_allclose(q.detach().numpy(), [0.99, -1.99], rtol=1e-5)
    w = dm.tensor([1.0], requires_grad=True)
    adamw = AdamW([w], lr=0.1, weight_decay=0.5)
    w.grad = dm.tensor([0.0])
    adamw.step()
    np.testing.assert_allclose(w.detach().numpy(), [1.0 * (1 - 0.1 * 0.5)], rtol=1e-6)
    sd = adam.state_dict()
    assert sd["param_groups"][0]["lr"] == 0.01 and sd["state"][0]["step"] == 1


def test_seed_mlp_reaches_97_percent_on_digits() -> None:
    pytest.importorskip("sklearn")
    dm.manual_seed(0)
    x, y = dm.datasets.digits()
    assert tuple(x.shape) == (1797, 64) and y.dtype == dm.int64
    train, val = random_split(TensorDataset(x, y), [0.8, 0.2], seed=0)
    ti, vi = dm.tensor(train.indices), dm.tensor(val.indices)
    loader = DataLoader(TensorDataset(x[ti], y[ti]), batch_size=32, shuffle=True, seed=0)
    model = nn.Sequential().add(nn.Dense(64, 128)).add(nn.ReLU()).add(nn.Dense(128, 10)).build()
    opt = Adam(model.parameters(), 0.001)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(25):
        for xb, yb in loader:
            loss = loss_fn.forward(model(xb), yb)
            model.zero_grad()
            loss.backward()
            opt.step()
    with dm.no_grad():
        acc = (model(x[vi]).argmax(dim=1) == y[vi]).float().mean().item()
    assert acc >= 0.97
