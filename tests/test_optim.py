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


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("momentum", [0.0, 0.5])
@pytest.mark.parametrize("maximize", [False, True])
def test_fused_rmsprop_matches_reference(centered: bool, momentum: float, maximize: bool) -> None:
    lr, alpha, eps, wd = 0.01, 0.9, 1e-8, 0.05
    p0 = np.random.default_rng(6).normal(size=(3, 5))
    grads = _grads(7, 5, p0.shape)
    kw = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=wd, momentum=momentum)
    got = _run(RMSprop, dict(kw, centered=centered, maximize=maximize), p0, grads)
    p, sq, ga, buf = p0.copy(), np.zeros_like(p0), np.zeros_like(p0), np.zeros_like(p0)
    for g in grads:
        g = (-g if maximize else g) + wd * p
        sq = sq * alpha + (1 - alpha) * g * g
        if centered:
            ga = ga * alpha + (1 - alpha) * g
            avg = np.sqrt(sq - ga * ga) + eps
        else:
            avg = np.sqrt(sq) + eps
        if momentum:
            buf = buf * momentum + g / avg
            p = p - lr * buf
        else:
            p = p - lr * g / avg
    np.testing.assert_allclose(got, p, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("maximize", [False, True])
def test_fused_adagrad_matches_reference(maximize: bool) -> None:
    lr, decay, wd, init, eps = 0.1, 0.05, 0.02, 0.3, 1e-10
    p0 = np.random.default_rng(8).normal(size=(6,))
    grads = _grads(9, 5, p0.shape)
    kw = dict(lr=lr, lr_decay=decay, weight_decay=wd, initial_accumulator_value=init, eps=eps)
    got = _run(Adagrad, dict(kw, maximize=maximize), p0, grads)
    p, s = p0.copy(), np.full_like(p0, init)
    for t, g in enumerate(grads, 1):
        g = (-g if maximize else g) + wd * p
        s = s + g * g
        p = p - (lr / (1 + (t - 1) * decay)) * g / (np.sqrt(s) + eps)
    np.testing.assert_allclose(got, p, rtol=1e-12, atol=1e-14)


def test_rmsprop_and_adagrad_are_one_engine_call_per_group(monkeypatch) -> None:
    calls: list[str] = []
    for name in ("_rmsprop_step", "_adagrad_step"):
        real = getattr(dm._core, name)
        monkeypatch.setattr(
            dm._core, name, lambda *a, _n=name, _r=real, **k: (calls.append(_n), _r(*a, **k))[1]
        )
    ps = [dm.randn(3, requires_grad=True) for _ in range(4)]
    for p in ps:
        p.grad = dm.ones(3)
    RMSprop(ps, lr=0.1).step()
    Adagrad(ps, lr=0.1).step()
    assert calls == ["_rmsprop_step", "_adagrad_step"]


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


# ---- load_state_dict validation --------------------------------------------------------------


def _stepped(cls: type = Adam, **kw: object) -> tuple[list[dm.Tensor], object]:
    dm.manual_seed(0)
    params = [dm.randn(3, 4, requires_grad=True), dm.randn(4, requires_grad=True)]
    opt = cls([{"params": params[:1]}, {"params": params[1:], "lr": 0.5}], **kw)
    for _ in range(2):
        for p in params:
            p.grad = dm.ones(p.shape)
        opt.step()
    return params, opt


def _snapshot(opt: object) -> tuple[list[dict], dict]:
    sd = opt.state_dict()  # type: ignore[attr-defined]
    state = {
        (i, k): (v.numpy().copy() if isinstance(v, dm.Tensor) else v)
        for i, st in sd["state"].items()
        for k, v in st.items()
    }
    return sd["param_groups"], state


def _bad_state_dicts() -> dict[str, tuple[object, type, str]]:
    _, src = _stepped()
    sd = src.state_dict()  # type: ignore[attr-defined]

    def edit(fn: object) -> dict:
        import copy

        d = copy.deepcopy({"param_groups": sd["param_groups"], "state": dict(sd["state"])})
        d["state"] = {k: dict(v) for k, v in sd["state"].items()}
        fn(d)  # type: ignore[operator]
        return d

    return {
        "not_a_dict": ([1, 2], ValueError, "must be a dict"),
        "no_state_key": ({"param_groups": sd["param_groups"]}, KeyError, r"lacks \['state'\]"),
        "one_group_too_many": (
            edit(lambda d: d["param_groups"].append(dict(d["param_groups"][0]))),
            ValueError,
            "3 parameter groups, the optimizer 2",
        ),
        "group_size": (
            edit(lambda d: d["param_groups"][0].update(params=[0, 5])),
            ValueError,
            "parameter group 0 has 2 parameters",
        ),
        "group_missing_lr": (
            edit(lambda d: d["param_groups"][1].pop("lr")),
            KeyError,
            r"parameter group 1 of the loaded state dict lacks \['lr'\]",
        ),
        "lr_string": (
            edit(lambda d: d["param_groups"][0].update(lr="0.1")),
            ValueError,
            "'lr' must be a finite number",
        ),
        "lr_negative": (
            edit(lambda d: d["param_groups"][0].update(lr=-1.0)),
            ValueError,
            "'lr' must be >= 0",
        ),
        "betas_out_of_range": (
            edit(lambda d: d["param_groups"][0].update(betas=(5.0, 0.9))),
            ValueError,
            r"'betas' must lie in \[0, 1\)",
        ),
        "amsgrad_not_bool": (
            edit(lambda d: d["param_groups"][0].update(amsgrad="yes")),
            ValueError,
            "'amsgrad' must be a bool",
        ),
        "state_without_step": (
            edit(lambda d: d["state"][0].pop("step")),
            KeyError,
            r"state of parameter 0: missing keys \['step'\]",
        ),
        "state_unknown_key": (
            edit(lambda d: d["state"][1].update(momentum_buffer=dm.zeros(4))),
            KeyError,
            "unexpected keys",
        ),
        "state_for_unknown_param": (
            edit(lambda d: d["state"].update({7: d["state"][0]})),
            KeyError,
            "state for parameter 7",
        ),
        "state_wrong_shape": (
            edit(lambda d: d["state"][0].update(exp_avg=dm.zeros(4, 3))),
            ValueError,
            r"'exp_avg' has shape \(4, 3\), the parameter \(3, 4\)",
        ),
        "step_negative": (
            edit(lambda d: d["state"][0].update(step=-1)),
            ValueError,
            "'step' must be an int >= 0",
        ),
        "moment_not_a_tensor": (
            edit(lambda d: d["state"][0].update(exp_avg=[1, 2])),
            ValueError,
            "must be a tensor",
        ),
    }


@pytest.mark.parametrize("case", sorted(_bad_state_dicts()))
def test_load_state_dict_validates_and_changes_nothing(case: str) -> None:
    """Problems used to surface later, inside step() (``KeyError: 'step'``, a TypeError for a
    string lr); now load_state_dict refuses them up front with a typed error."""
    bad, exc, match = _bad_state_dicts()[case]
    params, opt = _stepped()
    before = _snapshot(opt)
    with pytest.raises(exc, match=match) as e:
        opt.load_state_dict(bad)  # type: ignore[attr-defined]
    assert isinstance(e.value, dm.DemocratisingError)
    after = _snapshot(opt)
    assert before[0] == after[0] and before[1].keys() == after[1].keys()
    for k in before[1]:
        np.testing.assert_array_equal(before[1][k], after[1][k])
    for p in params:  # still steps
        p.grad = dm.ones(p.shape)
    opt.step()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("cls", "kw"),
    [
        (SGD, {"lr": 0.1, "momentum": 0.9}),
        (Adam, {"amsgrad": True}),
        (AdamW, {}),
        (RMSprop, {"momentum": 0.5, "centered": True}),
        (Adagrad, {}),
    ],
)
def test_valid_state_dicts_round_trip(cls: type, kw: dict) -> None:
    params, opt = _stepped(cls, **kw)
    sd = opt.state_dict()  # type: ignore[attr-defined]
    dm.manual_seed(1)
    fresh_params = [dm.randn(3, 4, requires_grad=True), dm.randn(4, requires_grad=True)]
    fresh = cls([{"params": fresh_params[:1]}, {"params": fresh_params[1:]}], **kw)
    fresh.load_state_dict(sd)
    assert _snapshot(fresh)[0] == _snapshot(opt)[0]
    for p, q in zip(params, fresh_params):
        p.grad = dm.ones(p.shape)
        q.grad = dm.ones(q.shape)
    opt.step()  # type: ignore[attr-defined]
    fresh.step()
    a, b = _snapshot(opt)[1], _snapshot(fresh)[1]
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
