"""Adadelta, Adamax, NAdam, RAdam, ASGD, Rprop, SparseAdam, Muon and LBFGS against NumPy
transcriptions of the update rules in PyTorch's ``torch.optim`` documentation, step by step in
float64, with two parameter groups, weight decay, ``maximize``, skipped parameters (no
gradient), ``state_dict`` round trips (also through checkpoints) and PyTorch's errors."""

from __future__ import annotations

import inspect
import math
import os
import re
from typing import Any, Callable, Optional

import numpy as np
import pytest

import democratising as dm
from democratising import optim
from democratising.checkpoint import load_checkpoint, save_checkpoint
from democratising.errors import InvalidValueError, StateDictError

Array = np.ndarray
State = dict[str, Any]

# ---- NumPy references: one step of one parameter (state ``st`` starts empty) -----------------


def _prep(g: Array, p: Array, h: dict[str, Any]) -> Array:
    """``-g`` when maximizing; L2 weight decay added (the coupled form)."""
    g = -g if h.get("maximize") else g
    wd = h.get("weight_decay", 0.0)
    if wd and not h.get("decoupled_weight_decay"):
        g = g + wd * p
    return g


def ref_adadelta(st: State, p: Array, g: Array, h: dict[str, Any]) -> Array:
    g = _prep(g, p, h)
    st.setdefault("v", np.zeros_like(p))
    st.setdefault("u", np.zeros_like(p))
    rho, eps = h["rho"], h["eps"]
    st["v"] = rho * st["v"] + (1 - rho) * g * g
    delta = np.sqrt(st["u"] + eps) / np.sqrt(st["v"] + eps) * g
    st["u"] = rho * st["u"] + (1 - rho) * delta * delta
    return p - h["lr"] * delta


def ref_adamax(st: State, p: Array, g: Array, h: dict[str, Any]) -> Array:
    g = _prep(g, p, h)
    t = st["t"] = st.get("t", 0) + 1
    m, u = st.get("m", np.zeros_like(p)), st.get("u", np.zeros_like(p))
    b1, b2 = h["betas"]
    m = b1 * m + (1 - b1) * g
    u = np.maximum(b2 * u, np.abs(g) + h["eps"])
    st["m"], st["u"] = m, u
    return p - h["lr"] / (1 - b1**t) * m / u


def ref_nadam(st: State, p: Array, g: Array, h: dict[str, Any]) -> Array:
    lr, wd, psi = h["lr"], h.get("weight_decay", 0.0), h["momentum_decay"]
    if wd and h.get("decoupled_weight_decay"):
        p = p * (1 - lr * wd)
    g = _prep(g, p, h)
    t = st["t"] = st.get("t", 0) + 1
    b1, b2 = h["betas"]
    mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
    prod = st["prod"] = st.get("prod", 1.0) * mu
    m = st["m"] = b1 * st.get("m", np.zeros_like(p)) + (1 - b1) * g
    v = st["v"] = b2 * st.get("v", np.zeros_like(p)) + (1 - b2) * g * g
    denom = np.sqrt(v / (1 - b2**t)) + h["eps"]
    p = p - lr * (1 - mu) / (1 - prod) * g / denom
    return p - lr * mu_next / (1 - prod * mu_next) * m / denom


def ref_radam(st: State, p: Array, g: Array, h: dict[str, Any]) -> Array:
    lr, wd = h["lr"], h.get("weight_decay", 0.0)
    if wd and h.get("decoupled_weight_decay"):
        p = p * (1 - lr * wd)
    g = _prep(g, p, h)
    t = st["t"] = st.get("t", 0) + 1
    b1, b2 = h["betas"]
    m = st["m"] = b1 * st.get("m", np.zeros_like(p)) + (1 - b1) * g
    v = st["v"] = b2 * st.get("v", np.zeros_like(p)) + (1 - b2) * g * g
    m_hat = m / (1 - b1**t)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho_t <= 5:
        return p - lr * m_hat
    ell = math.sqrt(1 - b2**t) / (np.sqrt(v) + h["eps"])
    r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    return p - lr * m_hat * ell * r


def ref_asgd(st: State, p: Array, g: Array, h: dict[str, Any]) -> Array:
    g = _prep(g, p, h)
    lr, lambd = h["lr"], h["lambd"]
    t = st["t"] = st.get("t", 0) + 1
    eta, mu = st.get("eta", lr), st.get("mu", 1.0)
    p = p * (1 - lambd * eta) - eta * g
    ax = st.get("ax", np.zeros_like(p))
    st["ax"] = ax + mu * (p - ax) if mu != 1 else p.copy()
    st["eta"] = lr / (1 + lambd * lr * t) ** h["alpha"]
    st["mu"] = 1 / max(1, t - h["t0"])
    return p


def ref_rprop(st: State, p: Array, g: Array, h: dict[str, Any]) -> Array:
    g = _prep(g, p, h)
    etaminus, etaplus = h["etas"]
    prev = st.get("prev", np.zeros_like(p))
    size = st.get("size", np.full_like(p, h["lr"]))
    s = np.sign(g * prev)
    size = np.clip(
        size * np.where(s > 0, etaplus, np.where(s < 0, etaminus, 1.0)), *h["step_sizes"]
    )
    g = np.where(s < 0, 0.0, g)
    st["prev"], st["size"] = g, size
    return p - np.sign(g) * size


def ref_sparse_adam(st: State, p: Array, g: Array, h: dict[str, Any]) -> Array:
    """PyTorch's rule for a sparse gradient listing the rows of ``g`` that are not all zero."""
    g = _prep(g, p, h)
    rows = np.any(g != 0, axis=1)
    t = st["t"] = st.get("t", 0) + 1
    m, v = st.setdefault("m", np.zeros_like(p)), st.setdefault("v", np.zeros_like(p))
    b1, b2 = h["betas"]
    m[rows] += (g[rows] - m[rows]) * (1 - b1)
    v[rows] += (g[rows] ** 2 - v[rows]) * (1 - b2)
    p = p.copy()
    size = h["lr"] * math.sqrt(1 - b2**t) / (1 - b1**t)
    p[rows] -= size * m[rows] / (np.sqrt(v[rows]) + h["eps"])
    return p


def ref_newton_schulz(
    g: Array, coeffs: tuple[float, float, float], steps: int, eps: float
) -> Array:
    a, b, c = coeffs
    tall = g.shape[0] > g.shape[1]
    x = g.T if tall else g
    x = x / max(np.linalg.norm(x), eps)
    for _ in range(steps):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if tall else x


def ref_muon(st: State, p: Array, g: Array, h: dict[str, Any]) -> Array:
    mom = h["momentum"]
    buf = st["buf"] = mom * st.get("buf", np.zeros_like(p)) + (1 - mom) * g
    update = g + mom * (buf - g) if h["nesterov"] else buf
    o = ref_newton_schulz(update, h["ns_coefficients"], h["ns_steps"], h["eps"])
    rows, cols = p.shape
    adjust = h.get("adjust_lr_fn")
    ratio = 0.2 * math.sqrt(max(rows, cols)) if adjust == "match_rms_adamw" else None
    ratio = math.sqrt(max(1, rows / cols)) if ratio is None else ratio
    return p * (1 - h["lr"] * h["weight_decay"]) - h["lr"] * ratio * o


# ---- the problem: two groups, three 2-D parameters, some steps without a gradient ------------

SHAPES = [(3, 4), (5, 2), (4, 3)]
GROUP_OF = [0, 1, 1]
STEPS = 8


def _start() -> list[Array]:
    rng = np.random.default_rng(7)
    return [rng.normal(size=s) for s in SHAPES]


def _grads() -> list[list[Optional[Array]]]:
    """Per step, per parameter; ``None`` = no gradient; some rows zero (SparseAdam)."""
    rng = np.random.default_rng(11)
    out: list[list[Optional[Array]]] = []
    for step in range(STEPS):
        row: list[Optional[Array]] = []
        for i, s in enumerate(SHAPES):
            g = rng.normal(size=s)
            g[(step + i) % s[0]] = 0.0
            row.append(None if (i == 2 and step == 3) else g)
        out.append(row)
    return out


def _build(cls: type, defaults: dict[str, Any], second: dict[str, Any], ps: list[dm.Tensor]) -> Any:
    groups = [{"params": [ps[0]]}, {"params": ps[1:], **second}]
    return cls(groups, **defaults)


def _run_dm(
    cls: type,
    defaults: dict[str, Any],
    second: dict[str, Any],
    steps: int = STEPS,
    resume_at: Optional[int] = None,
    via: Optional[Callable[[Any, Any, list[dm.Tensor]], None]] = None,
) -> list[Array]:
    """The parameters after ``steps`` steps; with ``resume_at``, the optimizer and parameters
    are rebuilt from a state dict (``via`` moves it) after that many steps."""
    ps = [dm.tensor(a, requires_grad=True) for a in _start()]
    opt = _build(cls, defaults, second, ps)
    grads = _grads()
    for k in range(steps):
        if k == resume_at:
            fresh = [dm.tensor(p.detach().numpy().copy(), requires_grad=True) for p in ps]
            new = _build(cls, defaults, second, fresh)
            if via is None:
                new.load_state_dict(_deep_copy(opt.state_dict()))
            else:
                via(opt, new, ps)
            ps, opt = fresh, new
        opt.zero_grad()
        for p, g in zip(ps, grads[k]):
            if g is not None:
                p.grad = dm.tensor(g)
        opt.step()
    return [p.detach().numpy() for p in ps]


def _deep_copy(value: Any) -> Any:
    """A state dict whose tensors are copies (the live optimizer keeps updating its own)."""
    if isinstance(value, dm.Tensor):
        return value.clone()
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_deep_copy(v) for v in value)
    return value


def _run_ref(
    ref: Callable[[State, Array, Array, dict[str, Any]], Array],
    hyper: dict[str, Any],
    second: dict[str, Any],
) -> list[Array]:
    ps = _start()
    hs = [hyper, {**hyper, **second}]
    states: list[State] = [{} for _ in ps]
    for row in _grads():
        for i, g in enumerate(row):
            if g is not None:
                ps[i] = ref(states[i], ps[i], g, hs[GROUP_OF[i]])
    return ps


# (class, reference, PyTorch's defaults, second group's overrides)
CASES: dict[str, tuple[type, Callable[..., Array], dict[str, Any], dict[str, Any]]] = {
    "Adadelta": (
        optim.Adadelta,
        ref_adadelta,
        dict(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0),
        dict(lr=0.5, rho=0.8),
    ),
    "Adamax": (
        optim.Adamax,
        ref_adamax,
        dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
        dict(lr=0.05, betas=(0.8, 0.9)),
    ),
    "NAdam": (
        optim.NAdam,
        ref_nadam,
        dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3),
        dict(lr=0.05, momentum_decay=0.1),
    ),
    "RAdam": (
        optim.RAdam,
        ref_radam,
        dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
        # beta2 = 0.9 leaves the un-rectified phase (rho_t > 5) at step 6
        dict(lr=0.05, betas=(0.8, 0.9)),
    ),
    "ASGD": (
        optim.ASGD,
        ref_asgd,
        dict(lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0),
        # t0 = 2: averaging (mu != 1) starts within the run
        dict(lr=0.1, lambd=0.05, t0=2),
    ),
    "Rprop": (
        optim.Rprop,
        ref_rprop,
        dict(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50)),
        dict(lr=0.1, etas=(0.3, 1.5), step_sizes=(0.05, 0.2)),
    ),
    "SparseAdam": (
        optim.SparseAdam,
        ref_sparse_adam,
        dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8),
        dict(lr=0.05, betas=(0.8, 0.9)),
    ),
    "Muon": (
        optim.Muon,
        ref_muon,
        dict(
            lr=1e-3,
            weight_decay=0.1,
            momentum=0.95,
            nesterov=True,
            ns_coefficients=(3.4445, -4.775, 2.0315),
            eps=1e-7,
            ns_steps=5,
            adjust_lr_fn=None,
        ),
        dict(lr=0.02, nesterov=False, adjust_lr_fn="match_rms_adamw", ns_steps=3),
    ),
}
NO_WEIGHT_DECAY = {"Rprop", "SparseAdam"}
FUSED_RULES = {"Adadelta", "Adamax", "NAdam", "RAdam", "ASGD", "Rprop"}
NO_MAXIMIZE = {"Muon"}


def _variants() -> list[Any]:
    out = []
    for name in CASES:
        out.append(pytest.param(name, {}, id=f"{name}-defaults"))
        if name not in NO_WEIGHT_DECAY:
            out.append(pytest.param(name, {"weight_decay": 0.05}, id=f"{name}-weight_decay"))
        if name not in NO_MAXIMIZE:
            out.append(pytest.param(name, {"maximize": True}, id=f"{name}-maximize"))
    for name in ("NAdam", "RAdam"):
        kw = {"weight_decay": 0.05, "decoupled_weight_decay": True}
        out.append(pytest.param(name, kw, id=f"{name}-decoupled"))
    return out


@pytest.mark.parametrize(("name", "extra"), _variants())
def test_matches_reference(name: str, extra: dict[str, Any]) -> None:
    cls, ref, defaults, second = CASES[name]
    got = _run_dm(cls, {**defaults, **extra}, second)
    want = _run_ref(ref, {**defaults, **extra}, second)
    # The fused element-wise rules follow PyTorch's formulas operation for operation.
    tol = 1e-12 if name in FUSED_RULES else 1e-6
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol)
    start = _start()
    assert all(not np.array_equal(g, s) for g, s in zip(got, start))


@pytest.mark.parametrize("name", list(CASES))
def test_defaults_are_pytorchs(name: str) -> None:
    cls, _, defaults, _ = CASES[name]
    opt = cls([dm.zeros(2, 3, requires_grad=True)])
    for k, v in defaults.items():
        assert opt.defaults[k] == v, k
    if name not in NO_MAXIMIZE:
        assert opt.defaults["maximize"] is False


@pytest.mark.parametrize("name", list(CASES))
def test_state_dict_round_trip_continues_identically(name: str) -> None:
    cls, _, defaults, second = CASES[name]
    straight = _run_dm(cls, defaults, second)
    resumed = _run_dm(cls, defaults, second, resume_at=4)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["NAdam", "ASGD", "Rprop", "Muon"])
def test_checkpoint_round_trip(name: str, tmp_path: Any) -> None:
    cls, _, defaults, second = CASES[name]
    path = os.path.join(tmp_path, "opt.safetensors")

    def via(old: Any, new: Any, ps: list[dm.Tensor]) -> None:
        save_checkpoint(path, optimizer=old, epoch=1)
        load_checkpoint(path, optimizer=new)

    straight = _run_dm(cls, defaults, second)
    resumed = _run_dm(cls, defaults, second, resume_at=3, via=via)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)


def test_state_keys_follow_pytorch() -> None:
    expected = {
        "Adadelta": ["step", "square_avg", "acc_delta"],
        "Adamax": ["step", "exp_avg", "exp_inf"],
        "NAdam": ["step", "mu_product", "exp_avg", "exp_avg_sq"],
        "RAdam": ["step", "exp_avg", "exp_avg_sq"],
        "ASGD": ["step", "eta", "mu", "ax"],
        "Rprop": ["step", "prev", "step_size"],
        "SparseAdam": ["step", "exp_avg", "exp_avg_sq"],
        "Muon": ["momentum_buffer"],
    }
    for name, keys in expected.items():
        p = dm.ones(2, 2, dtype=dm.float64, requires_grad=True)
        opt = CASES[name][0]([p])
        p.grad = dm.ones(2, 2, dtype=dm.float64)
        opt.step()
        assert list(opt.state_dict()["state"][0]) == keys, name


def test_asgd_average_matches_reference() -> None:
    cls, ref, defaults, second = CASES["ASGD"]
    ps = [dm.tensor(a, requires_grad=True) for a in _start()]
    opt = _build(cls, defaults, second, ps)
    states: list[State] = [{} for _ in ps]
    hs = [defaults, {**defaults, **second}]
    want = _start()
    for row in _grads():
        for i, g in enumerate(row):
            ps[i].grad = None if g is None else dm.tensor(g)
            if g is not None:
                want[i] = ref(states[i], want[i], g, hs[GROUP_OF[i]])
        opt.step()
    for p, st in zip(ps, states):
        np.testing.assert_allclose(opt.state[p]["ax"].numpy(), st["ax"], rtol=1e-9, atol=1e-12)
        assert opt.state[p]["eta"] == pytest.approx(st["eta"], rel=1e-12)
        assert opt.state[p]["mu"] == pytest.approx(st["mu"], rel=1e-12)


def test_sparse_adam_leaves_rows_without_gradient() -> None:
    p0 = np.arange(12.0).reshape(4, 3)
    p = dm.tensor(p0, requires_grad=True)
    opt = optim.SparseAdam([p], lr=0.1)
    g = np.zeros((4, 3))
    g[1] = [1.0, 0.0, -2.0]  # row 1 updates everywhere, its zero element too
    p.grad = dm.tensor(g)
    opt.step()
    out = p.detach().numpy()
    np.testing.assert_array_equal(out[[0, 2, 3]], p0[[0, 2, 3]])
    np.testing.assert_allclose(out[1], p0[1] - 0.1 * np.sign(g[1]), atol=1e-6)
    assert np.all(opt.state[p]["exp_avg"].numpy()[[0, 2, 3]] == 0)


# ---- Muon ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(6, 4), (3, 7), (5, 5)])
def test_newton_schulz_matches_reference(shape: tuple[int, int]) -> None:
    from democratising.optim.muon import zeropower_via_newtonschulz

    g = np.random.default_rng(3).normal(size=shape)
    coeffs = (3.4445, -4.775, 2.0315)
    got = zeropower_via_newtonschulz(dm.tensor(g), coeffs, 5, 1e-7).numpy()
    np.testing.assert_allclose(got, ref_newton_schulz(g, coeffs, 5, 1e-7), rtol=1e-9, atol=1e-12)
    # an approximate U Vᵀ: singular values pushed into roughly [0.6, 1.2]
    sv = np.linalg.svd(got, compute_uv=False)
    assert sv.min() > 0.5 and sv.max() < 1.25


def test_muon_refuses_non_2d_parameters() -> None:
    with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
        optim.Muon([dm.zeros(3, requires_grad=True)])
    opt = optim.Muon([dm.zeros(2, 2, requires_grad=True)])
    with pytest.raises(ValueError, match=r"size: \(2, 2, 2\)"):
        opt.add_param_group({"params": [dm.zeros(2, 2, 2, requires_grad=True)]})
    assert len(opt.param_groups) == 1


# ---- LBFGS --------------------------------------------------------------------------------


def _rosenbrock_np(x: Array) -> tuple[float, Array]:
    a, b = x
    f = (1 - a) ** 2 + 100 * (b - a * a) ** 2
    return f, np.array([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])


def _lbfgs_run(x0: Array, steps: int, **kw: Any) -> tuple[list[Array], list[float], Any, dm.Tensor]:
    x = dm.tensor(x0, requires_grad=True)
    opt = optim.LBFGS([x], **kw)

    def closure() -> dm.Tensor:
        opt.zero_grad()
        a, b = x[0], x[1]
        loss = (1 - a) ** 2 + 100 * (b - a * a) ** 2
        loss.backward()
        return loss

    xs, losses = [], []
    for _ in range(steps):
        losses.append(float(opt.step(closure).item()))
        xs.append(x.detach().numpy().copy())
    return xs, losses, opt, x


def ref_lbfgs(x: Array, iters: int, lr: float, history: int) -> list[Array]:
    """Fixed-step L-BFGS (two-loop recursion, ``H0 = yᵀs/yᵀy``, first step
    ``lr · min(1, 1/‖g‖₁)``); the iterates after each iteration."""
    ss: list[Array] = []
    ys: list[Array] = []
    out = []
    prev = None
    for k in range(iters):
        _, g = _rosenbrock_np(x)
        if k == 0:
            d, h0 = -g, 1.0
        else:
            y, s = g - prev[0], prev[1]
            if y @ s > 1e-10:
                ss, ys = [*ss, s][-history:], [*ys, y][-history:]
                h0 = (y @ s) / (y @ y)
            q = -g
            alphas = []
            for s_i, y_i in zip(reversed(ss), reversed(ys)):
                alphas.append((s_i @ q) / (y_i @ s_i))
                q = q - alphas[-1] * y_i
            r = h0 * q
            for s_i, y_i, a_i in zip(ss, ys, reversed(alphas)):
                r = r + s_i * (a_i - (y_i @ r) / (y_i @ s_i))
            d = r
        t = min(1.0, 1.0 / np.abs(g).sum()) * lr if k == 0 else lr
        prev = (g, t * d)
        x = x + t * d
        out.append(x)
    return out


X0 = np.array([-1.2, 1.0])


@pytest.mark.parametrize("history", [100, 2])
def test_lbfgs_two_loop_matches_reference(history: int) -> None:
    want = ref_lbfgs(X0, 6, lr=0.05, history=history)
    # one iteration per step() (the history carries across calls) ...
    xs, _, _, _ = _lbfgs_run(X0, 6, lr=0.05, max_iter=1, history_size=history)
    for g, w in zip(xs, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-9)
    # ... and six iterations within one step()
    xs, losses, opt, x = _lbfgs_run(X0, 1, lr=0.05, max_iter=6, history_size=history)
    np.testing.assert_allclose(xs[0], want[-1], rtol=1e-6, atol=1e-9)
    assert losses[0] == pytest.approx(_rosenbrock_np(X0)[0])  # the first closure's loss
    st = opt.state[x]
    assert st["n_iter"] == 6 and st["func_evals"] == 6
    assert len(st["old_dirs"]) == len(st["ro"]) <= history


@pytest.mark.parametrize(
    ("kw", "steps", "tol"),
    [
        (dict(line_search_fn="strong_wolfe"), 5, 1e-4),
        (dict(lr=0.1, max_iter=100), 10, 1e-3),
    ],
)
def test_lbfgs_minimises_rosenbrock(kw: dict[str, Any], steps: int, tol: float) -> None:
    xs, losses, _, _ = _lbfgs_run(X0, steps, **kw)
    np.testing.assert_allclose(xs[-1], [1.0, 1.0], atol=tol)
    assert _rosenbrock_np(xs[-1])[0] < 1e-6 < losses[0]


def test_lbfgs_strong_wolfe_steps_satisfy_the_conditions() -> None:
    from democratising.optim.lbfgs import _strong_wolfe

    x = np.array([-1.2, 1.0])
    f0, g0 = _rosenbrock_np(x)
    d = -g0
    gtd = float(g0 @ d)

    def phi(a: float) -> tuple[float, dm.Tensor, float]:
        f, g = _rosenbrock_np(x + a * d)
        return f, dm.tensor(g), float(g @ d)

    for start in (1.0, 1e-4, 1e-2):
        d_max = float(np.abs(d).max())
        f, g, a, evals = _strong_wolfe(phi, start, f0, dm.tensor(g0), gtd, d_max, 1e-9)
        assert f <= f0 + 1e-4 * a * gtd
        assert abs(float(g.numpy() @ d)) <= 0.9 * abs(gtd)
        assert 1 <= evals <= 25 and a > 0


def test_lbfgs_state_dict_and_checkpoint_round_trip(tmp_path: Any) -> None:
    kw: dict[str, Any] = dict(line_search_fn="strong_wolfe", max_iter=3, history_size=4)
    straight, _, _, _ = _lbfgs_run(X0, 4, **kw)
    _, _, opt, x = _lbfgs_run(X0, 2, **kw)
    for route in ("state_dict", "checkpoint"):
        y = dm.tensor(x.detach().numpy().copy(), requires_grad=True)
        new = optim.LBFGS([y], **kw)
        if route == "state_dict":
            new.load_state_dict(_deep_copy(opt.state_dict()))
        else:
            path = os.path.join(tmp_path, "lbfgs.safetensors")
            save_checkpoint(path, optimizer=opt)
            load_checkpoint(path, optimizer=new)

        def closure(y: dm.Tensor = y, new: Any = new) -> dm.Tensor:
            new.zero_grad()
            loss = (1 - y[0]) ** 2 + 100 * (y[1] - y[0] * y[0]) ** 2
            loss.backward()
            return loss

        for _ in range(2):
            new.step(closure)
        np.testing.assert_array_equal(y.detach().numpy(), straight[-1])


def test_lbfgs_multi_parameter_and_missing_grad() -> None:
    """Two parameters form one flat vector; a parameter the loss ignores counts as gradient 0."""
    a = dm.tensor(np.array([3.0, -1.0]), requires_grad=True)
    b = dm.tensor(np.array([[2.0]]), requires_grad=True)
    unused = dm.tensor(np.array([5.0]), requires_grad=True)
    opt = optim.LBFGS([a, b, unused], line_search_fn="strong_wolfe")

    def closure() -> dm.Tensor:
        opt.zero_grad()
        loss = ((a - 1.0) ** 2).sum() + 3 * ((b + 2.0) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(a.detach().numpy(), [1.0, 1.0], atol=1e-4)
    np.testing.assert_allclose(b.detach().numpy(), [[-2.0]], atol=1e-4)
    assert unused.detach().numpy()[0] == 5.0


# ---- errors -------------------------------------------------------------------------------


def _p() -> list[dm.Tensor]:
    return [dm.zeros(2, 2, requires_grad=True)]


@pytest.mark.parametrize(
    ("cls", "kw", "message"),
    [
        (optim.Adadelta, dict(lr=-1), "Invalid learning rate: -1"),
        (optim.Adadelta, dict(rho=1.5), "Invalid rho value: 1.5"),
        (optim.Adadelta, dict(eps=-1e-6), "Invalid epsilon value: -1e-06"),
        (optim.Adadelta, dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
        (optim.Adadelta, dict(differentiable=True), "differentiable=True is not supported"),
        (optim.Adamax, dict(lr=-1), "Invalid learning rate: -1"),
        (optim.Adamax, dict(betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
        (optim.NAdam, dict(momentum_decay=-1), "Invalid momentum_decay value: -1"),
        (optim.NAdam, dict(betas=(0.9, 1.0)), "Invalid beta parameter at index 1: 1.0"),
        (optim.RAdam, dict(eps=-1), "Invalid epsilon value: -1"),
        (optim.RAdam, dict(weight_decay=-1), "Invalid weight_decay value: -1"),
        (optim.ASGD, dict(lr=-0.5), "Invalid learning rate: -0.5"),
        (optim.ASGD, dict(weight_decay=-1), "Invalid weight_decay value: -1"),
        (optim.Rprop, dict(etas=(1.5, 1.2)), "Invalid eta values: 1.5, 1.2"),
        (optim.Rprop, dict(lr=-1), "Invalid learning rate: -1"),
        (optim.SparseAdam, dict(betas=(-0.1, 0.9)), "Invalid beta parameter at index 0: -0.1"),
        (optim.SparseAdam, dict(eps=-1), "Invalid epsilon value: -1"),
        (optim.LBFGS, dict(lr=-1), "Invalid learning rate: -1"),
        (optim.LBFGS, dict(line_search_fn="armijo"), "only 'strong_wolfe' is supported"),
        (optim.LBFGS, dict(history_size=0), "Invalid history_size value: 0"),
        (optim.Muon, dict(lr=-1), "Invalid learning rate: -1"),
        (optim.Muon, dict(adjust_lr_fn="bogus"), "Adjust learning rate function bogus"),
        (optim.Muon, dict(ns_coefficients=(1.0, 2.0)), "exactly 3 values"),
    ],
)
def test_bad_hyperparameters_raise_value_error(cls: type, kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cls(_p(), **kw)


def test_lbfgs_errors() -> None:
    ps = [dm.zeros(2, requires_grad=True), dm.zeros(3, requires_grad=True)]
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        optim.LBFGS([{"params": [ps[0]]}, {"params": [ps[1]]}])
    opt = optim.LBFGS(ps)
    with pytest.raises(TypeError, match="requires a closure"):
        opt.step()
    st = {
        "state": {0: {"d": dm.zeros(4, dtype=dm.float32)}},
        "param_groups": opt.state_dict()["param_groups"],
    }
    with pytest.raises(ValueError, match=r"expected \(5,\)"):
        opt.load_state_dict(st)
    st["state"] = {0: {"n_iter": -1}}
    with pytest.raises(InvalidValueError, match="'n_iter' must be an int"):
        opt.load_state_dict(st)


def test_load_state_dict_checks_the_new_optimizers_state() -> None:
    p = dm.ones(2, 2, dtype=dm.float64, requires_grad=True)
    opt = optim.Adamax([p])
    p.grad = dm.ones(2, 2, dtype=dm.float64)
    opt.step()
    sd = _deep_copy(opt.state_dict())
    del sd["state"][0]["exp_inf"]
    with pytest.raises(StateDictError, match="exp_inf"):
        opt.load_state_dict(sd)
    q = dm.ones(2, 2, dtype=dm.float64, requires_grad=True)
    nadam = optim.NAdam([q])
    q.grad = dm.ones(2, 2, dtype=dm.float64)
    nadam.step()
    sd = _deep_copy(nadam.state_dict())
    sd["state"][0]["mu_product"] = "x"
    with pytest.raises(InvalidValueError, match="mu_product"):
        nadam.load_state_dict(sd)
    sd["state"][0]["mu_product"] = dm.tensor(0.5)  # PyTorch's 0-d tensors are read as numbers
    sd["state"][0]["step"] = dm.tensor(1.0)
    nadam.load_state_dict(sd)
    assert nadam.state[q]["mu_product"] == 0.5 and nadam.state[q]["step"] == 1
    assert isinstance(nadam.state[q]["step"], int)


def test_grad_none_parameters_are_skipped_and_zero_grad_clears() -> None:
    a = dm.ones(2, 2, requires_grad=True)
    b = dm.ones(2, 2, requires_grad=True)
    for cls in (optim.Adadelta, optim.Adamax, optim.NAdam, optim.RAdam, optim.ASGD, optim.Rprop):
        opt = cls([a, b])
        a.grad = dm.ones(2, 2)
        opt.step()
        assert b not in opt.state or not opt.state[b]
        assert np.all(b.detach().numpy() == 1.0)
        opt.zero_grad()
        assert a.grad is None


# ---- CUDA: the same steps on the device (skipped without one) --------------------------------


def _cuda_makers() -> list[Any]:
    return [
        pytest.param(lambda ps: optim.Adadelta(ps, lr=0.5, weight_decay=0.1), id="Adadelta"),
        pytest.param(lambda ps: optim.Adamax(ps, lr=0.05, maximize=True), id="Adamax"),
        pytest.param(lambda ps: optim.NAdam(ps, lr=0.05, weight_decay=0.1), id="NAdam"),
        pytest.param(lambda ps: optim.RAdam(ps, lr=0.05, betas=(0.8, 0.9)), id="RAdam"),
        pytest.param(lambda ps: optim.ASGD(ps, lr=0.1, lambd=0.05, t0=1), id="ASGD"),
        pytest.param(lambda ps: optim.Rprop(ps, lr=0.1), id="Rprop"),
        pytest.param(lambda ps: optim.SparseAdam(ps, lr=0.05), id="SparseAdam"),
        pytest.param(lambda ps: optim.Muon(ps, lr=0.05), id="Muon"),
    ]


@pytest.mark.parametrize("make", _cuda_makers())
def test_cuda_steps_match_cpu(make: Callable[[list[dm.Tensor]], Any]) -> None:
    if not dm.cuda.is_available():
        pytest.skip("no CUDA device")
    rng = np.random.default_rng(5)
    w0 = rng.normal(size=(33, 17)).astype(np.float32)
    w_cpu = dm.tensor(w0, requires_grad=True)
    w_gpu = dm.tensor(w0).cuda().requires_grad_()
    opts = [make([w_cpu]), make([w_gpu])]
    for k in range(7):
        g = rng.normal(size=w0.shape).astype(np.float32)
        g[k::5] = 0.0
        w_cpu.grad, w_gpu.grad = dm.tensor(g), dm.tensor(g).cuda()
        for o in opts:
            o.step()
    assert w_gpu.device.type == "cuda"
    np.testing.assert_allclose(
        w_gpu.detach().cpu().numpy(), w_cpu.detach().numpy(), rtol=1e-4, atol=1e-5
    )
    state = opts[1].state[w_gpu]
    assert all(v.device.type == "cuda" for v in state.values() if isinstance(v, dm.Tensor))


def test_cuda_lbfgs_matches_cpu() -> None:
    if not dm.cuda.is_available():
        pytest.skip("no CUDA device")
    results = []
    for to_device in (False, True):
        x = dm.tensor(X0)
        x = (x.cuda() if to_device else x).requires_grad_()
        opt = optim.LBFGS([x], line_search_fn="strong_wolfe", max_iter=10)

        def closure(x: dm.Tensor = x, opt: Any = opt) -> dm.Tensor:
            opt.zero_grad()
            loss = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] * x[0]) ** 2
            loss.backward()
            return loss

        for _ in range(3):
            opt.step(closure)
        results.append(x.detach().cpu().numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-9, atol=1e-12)


def test_docs_examples_run() -> None:
    """The python blocks of docs/optimizers.md run (that page is not in test_docs's list)."""
    page = os.path.join(os.path.dirname(__file__), "..", "docs", "optimizers.md")
    blocks = re.findall(r"^```python\n(.*?)^```", open(page).read(), re.S | re.M)
    assert len(blocks) == 3
    for source in blocks:
        exec(compile(source, "docs/optimizers.md", "exec"), {})


def test_adam_decoupled_weight_decay_is_adamw() -> None:
    # PyTorch 2.15: Adam(decoupled_weight_decay=True) steps as AdamW, whose defaults say so.
    def run(make: Any) -> np.ndarray:
        w = dm.nn.Parameter(dm.tensor([1.0, -2.0, 0.5]))
        opt = make([w])
        for _ in range(4):
            opt.zero_grad()
            (w * w * w).sum().backward()
            opt.step()
        return w.detach().numpy()

    adamw = run(lambda ps: dm.optim.AdamW(ps, lr=0.1, weight_decay=0.3))
    decoupled = run(
        lambda ps: dm.optim.Adam(ps, lr=0.1, weight_decay=0.3, decoupled_weight_decay=True)
    )
    coupled = run(lambda ps: dm.optim.Adam(ps, lr=0.1, weight_decay=0.3))
    np.testing.assert_array_equal(adamw, decoupled)
    assert not np.allclose(adamw, coupled)
    p = dm.nn.Parameter(dm.ones(1))
    assert dm.optim.AdamW([p]).defaults["decoupled_weight_decay"] is True
    assert dm.optim.Adam([p]).defaults["decoupled_weight_decay"] is False
    assert "decoupled_weight_decay" not in inspect.signature(dm.optim.AdamW).parameters
