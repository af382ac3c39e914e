"""Fused optimizer steps against NumPy transcriptions of PyTorch's update rules."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
from democratising.optim import SGD, Adagrad, Adam, AdamW, RMSprop


def _grads(seed: int, n: int, shape: tuple[int, ...]) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for _ in range(n)]


def _run(opt_cls: type, kwargs: dict, p0: np.ndarray, grads: list[np.ndarray]) -> np.ndarray:
    p = dm.tensor(p0, requires_grad=True)
    opt = opt_cls([p], **kwargs)
    for g in grads:
        p.grad = dm.tensor(g)
        opt.step()
    return p.detach().numpy()


@pytest.mark.parametrize("amsgrad", [False, True])
@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_matches_reference(amsgrad: bool, decoupled: bool) -> None:
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.99, 1e-8, 0.1
    p = np.random.default_rng(0).normal(size=(3, 4))
    grads = _grads(1, 6, p.shape)
    cls = AdamW if decoupled else Adam
    got = _run(
        cls, dict(lr=lr, betas=(b1, b2), eps=eps, weight_decay=wd, amsgrad=amsgrad), p, grads
    )
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    vmax = np.zeros_like(p)
    for t, g in enumerate(grads, 1):
        if decoupled:
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
        m = m + (1 - b1) * (g - m)
        v = v * b2 + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        denom = np.sqrt(vmax if amsgrad else v) / np.sqrt(1 - b2**t) + eps
        p = p - (lr / (1 - b1**t)) * m / denom
    np.testing.assert_allclose(got, p, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_matches_reference(nesterov: bool) -> None:
    lr, mom, wd = 0.05, 0.9, 0.01
    damp = 0.0 if nesterov else 0.1
    p = np.random.default_rng(2).normal(size=(5,))
    grads = _grads(3, 5, p.shape)
    kw = dict(lr=lr, momentum=mom, dampening=damp, weight_decay=wd, nesterov=nesterov)
    got = _run(SGD, kw, p, grads)
    buf = None
    for g in grads:
        d = g + wd * p
        buf = d.copy() if buf is None else buf * mom + (1 - damp) * d
        p = p - lr * (d + mom * buf if nesterov else buf)
    np.testing.assert_allclose(got, p, rtol=1e-12)


def test_rmsprop_and_adagrad_match_reference() -> None:
    p0 = np.random.default_rng(4).normal(size=(4,))
    grads = _grads(5, 4, p0.shape)
    got = _run(RMSprop, dict(lr=0.01, alpha=0.9, momentum=0.5, centered=True), p0, grads)
    p, sq, ga, buf = p0.copy(), np.zeros(4), np.zeros(4), np.zeros(4)
    for g in grads:
        sq = sq * 0.9 + 0.1 * g * g
        ga = ga * 0.9 + 0.1 * g
        buf = buf * 0.5 + g / (np.sqrt(sq - ga * ga) + 1e-8)
        p = p - 0.01 * buf
    np.testing.assert_allclose(got, p, rtol=1e-10)
    got = _run(Adagrad, dict(lr=0.1, lr_decay=0.01), p0, grads)
    p, s = p0.copy(), np.zeros(4)
    for t, g in enumerate(grads, 1):
        s = s + g * g
        p = p - (0.1 / (1 + (t - 1) * 0.01)) * g / (np.sqrt(s) + 1e-10)
    np.testing.assert_allclose(got, p, rtol=1e-10)


def test_param_groups_lr_is_editable_and_skips_params_without_grad() -> None:
    a = dm.tensor([1.0], requires_grad=True)
    b = dm.tensor([1.0], requires_grad=True)
    opt = SGD([{"params": [a], "lr": 0.5}, {"params": [b]}], lr=0.1)
    a.grad = dm.tensor([1.0])
    opt.param_groups[0]["lr"] = 0.25
    opt.step()
    assert a.item() == pytest.approx(0.75) and b.item() == 1.0
    with pytest.raises(ValueError):
        SGD([a], lr=-1.0)


def test_adam_with_zero_gradients_stays_finite_for_many_steps() -> None:
    p = dm.tensor([1.0, 2.0], requires_grad=True)
    opt = Adam([p], lr=1e-3)
    for _ in range(200):
        p.grad = dm.zeros(2)
        opt.step()
    assert np.isfinite(p.detach().numpy()).all()
