"""``optim.Adafactor`` against a NumPy implementation of PyTorch's algorithm: factored second
moments for 2-d and 3-d parameters, an unfactored 1-d one, weight decay, ``maximize``,
param groups, ``state_dict`` round trips and the hyperparameter checks."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import democratising as dm
from democratising.errors import ShapeError


def _reference(params, grads, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, wd=0.0):
    """PyTorch's Adafactor update (``torch.optim.adafactor._single_tensor_adafactor``)."""
    ps = [p.copy() for p in params]
    state = []
    for p in ps:
        if p.ndim > 1:
            state.append([np.zeros((*p.shape[:-1], 1)), np.zeros((*p.shape[:-2], 1, p.shape[-1]))])
        else:
            state.append([np.zeros(p.shape)])
    eps1 = np.finfo(np.float64).eps if eps[0] is None else eps[0]
    for t, gs in enumerate(grads, start=1):
        for p, g, st in zip(ps, gs, state):
            b2 = t**beta2_decay
            rho = min(lr, 1 / np.sqrt(t))
            alpha = max(eps[1], np.sqrt(np.mean(p * p))) * rho
            if wd:
                p *= 1 - lr * wd
            if g.ndim > 1:
                row, col = st
                row += b2 * ((g * g).mean(-1, keepdims=True) - row)
                col += b2 * ((g * g).mean(-2, keepdims=True) - col)
                var = (row @ col) / np.maximum(row.mean(-2, keepdims=True), eps1)
            else:
                st[0] += b2 * (g * g - st[0])
                var = st[0].copy()
            u = g / np.sqrt(np.maximum(var, eps1 * eps1))
            denom = max(1.0, np.sqrt(np.mean(u * u)) / d)
            p -= alpha / denom * u
    return ps


def _setup(seed: int = 0, steps: int = 5):
    rng = np.random.default_rng(seed)
    shapes = [(5,), (3, 4), (2, 3, 4)]
    params = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(steps)]
    return params, grads


def _run(params, grads, **kw):
    ps = [dm.tensor(p, requires_grad=True) for p in params]
    opt = dm.optim.Adafactor(ps, **kw)
    for gs in grads:
        for p, g in zip(ps, gs):
            p.grad = dm.tensor(g)
        opt.step()
    return ps, opt


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"lr": 0.05, "weight_decay": 0.1},
        {"lr": 0.3, "beta2_decay": -0.5, "eps": (1e-6, 1e-2), "d": 1.5},
    ],
)
def test_matches_reference(kw):
    params, grads = _setup()
    ps, _ = _run(params, grads, **kw)
    ref_kw = {k: v for k, v in kw.items() if k != "weight_decay"}
    want = _reference(params, grads, wd=kw.get("weight_decay", 0.0), **ref_kw)
    for p, w in zip(ps, want):
        np.testing.assert_allclose(p.detach().numpy(), w, rtol=1e-10, atol=1e-12)


def test_maximize_and_groups():
    params, grads = _setup(1, 3)
    ps = [dm.tensor(p, requires_grad=True) for p in params]
    opt = dm.optim.Adafactor(
        [{"params": ps[:1], "lr": 0.2}, {"params": ps[1:]}], lr=0.05, maximize=True
    )
    for gs in grads:
        for p, g in zip(ps, gs):
            p.grad = dm.tensor(g)
        opt.step()
    neg = [[-g for g in gs] for gs in grads]
    want = _reference(params[:1], [gs[:1] for gs in neg], lr=0.2)
    want += _reference(params[1:], [gs[1:] for gs in neg], lr=0.05)
    for p, w in zip(ps, want):
        np.testing.assert_allclose(p.detach().numpy(), w, rtol=1e-10, atol=1e-12)


def test_state_and_state_dict_round_trip():
    params, grads = _setup(2, 4)
    ps, opt = _run(params, grads[:2], lr=0.05)
    st = opt.state[ps[2]]
    assert list(st) == ["step", "row_var", "col_var"]
    assert tuple(st["row_var"].shape) == (2, 3, 1) and tuple(st["col_var"].shape) == (2, 1, 4)
    assert list(opt.state[ps[0]]) == ["step", "variance"]
    saved = opt.state_dict()
    assert saved["param_groups"][0]["eps"] == (None, 1e-3)
    assert saved["param_groups"][0]["beta2_decay"] == -0.8
    clone = [dm.tensor(p.detach().numpy().copy(), requires_grad=True) for p in ps]
    opt2 = dm.optim.Adafactor(clone, lr=0.05)
    opt2.load_state_dict(copy.deepcopy(saved))  # PyTorch's state_dict aliases the state too
    for a, b in ((ps, opt), (clone, opt2)):
        for gs in grads[2:]:
            for p, g in zip(a, gs):
                p.grad = dm.tensor(g)
            b.step()
    for p, q in zip(ps, clone):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=0, atol=0)
    want = _reference(params, grads, lr=0.05)
    for p, w in zip(ps, want):
        np.testing.assert_allclose(p.detach().numpy(), w, rtol=1e-10, atol=1e-12)


def test_load_rejects_bad_factored_shape():
    params, grads = _setup(3, 1)
    _, opt = _run(params, grads, lr=0.05)
    saved = opt.state_dict()
    saved["state"][1]["row_var"] = dm.zeros(3, 4)
    fresh = dm.optim.Adafactor([dm.tensor(p, requires_grad=True) for p in params])
    with pytest.raises(ShapeError):
        fresh.load_state_dict(saved)
    assert not fresh.state


def test_float32_uses_its_epsilon():
    rng = np.random.default_rng(4)
    p0, g = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    p = dm.tensor(p0.astype(np.float32), requires_grad=True)
    p.grad = dm.tensor(g.astype(np.float32))
    dm.optim.Adafactor([p]).step()
    want = _reference([p0], [[g]], eps=(float(np.finfo(np.float32).eps), 1e-3))[0]
    np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kw",
    [{"lr": -1.0}, {"beta2_decay": 0.5}, {"eps": (-1.0, 1e-3)}, {"eps": (None, -1.0)},
     {"d": 0.5}, {"weight_decay": -0.1}],
)  # fmt: skip
def test_invalid_hyperparameters(kw):
    with pytest.raises(ValueError):
        dm.optim.Adafactor([dm.zeros(2, requires_grad=True)], **kw)


def test_no_grad_param_is_skipped():
    p = dm.ones(3, requires_grad=True)
    opt = dm.optim.Adafactor([p])
    opt.step()
    assert not opt.state and p.detach().numpy().tolist() == [1.0, 1.0, 1.0]
