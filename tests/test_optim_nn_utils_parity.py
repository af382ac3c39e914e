"""PyTorch parity of LBFGS (``maximize``, reloading a diverged run, the strong Wolfe line
search's evaluation count), ``add_param_group``'s argument name, ``clip_grad_norm_`` (dtype,
``-inf``, ``0``), ``vector_to_parameters``'s type check, ``always_call`` forward hooks and the
integer defaults of SGD/Adam/RMSprop/Adagrad. Expected values were produced by PyTorch 2.15."""

from __future__ import annotations

import inspect
import math
import warnings
from typing import Any, Optional

import numpy as np
import pytest

import democratising as dm
from democratising import nn, optim
from democratising.errors import InvalidValueError

# ---- LBFGS ----------------------------------------------------------------------------------


def _lbfgs_quartic(
    line_search_fn: Optional[str], maximize: bool, steps: int = 10
) -> tuple[list[float], list[float], dict[str, Any]]:
    """``q(w) = wᵀAw + Σw⁴ - Σw`` minimised (or ``-q`` maximised) from a fixed start."""
    w = dm.tensor([1.5, -0.5, 0.3], requires_grad=True)
    opt = optim.LBFGS([w], lr=0.5, max_iter=4, line_search_fn=line_search_fn, maximize=maximize)
    a = dm.tensor([[3.0, 0.5, 0.1], [0.5, 2.0, 0.2], [0.1, 0.2, 1.0]])

    def closure() -> dm.Tensor:
        opt.zero_grad()
        q = (w @ (a @ w)) + (w**4).sum() - w.sum()
        loss = -q if maximize else q
        loss.backward()
        return loss

    losses = [float(opt.step(closure).item()) for _ in range(steps)]
    return w.detach().numpy().tolist(), losses, opt.state[w]


# PyTorch 2.15: final w, first three returned losses, func_evals, n_iter (both maximize values).
_TORCH_LBFGS = {
    None: ([0.12384739, 0.1775087, 0.35932472], [10.453099, 0.21375704, -0.34305659], 25, 25),
    "strong_wolfe": (
        [0.12385742, 0.17750297, 0.35932431],
        [10.453099, 0.21375704, -0.34305659],
        56,
        25,
    ),
}


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("maximize", [False, True])
def test_lbfgs_maximize_matches_torch(line_search_fn: Optional[str], maximize: bool) -> None:
    w, losses, state = _lbfgs_quartic(line_search_fn, maximize)
    want_w, want_losses, evals, n_iter = _TORCH_LBFGS[line_search_fn]
    np.testing.assert_allclose(w, want_w, atol=1e-6)
    sign = -1.0 if maximize else 1.0  # the closure's own loss is returned
    np.testing.assert_allclose(losses[:3], [sign * x for x in want_losses], rtol=1e-5)
    assert (state["func_evals"], state["n_iter"]) == (evals, n_iter)


def test_lbfgs_maximize_is_keyword_only_and_kept_in_the_group() -> None:
    params = inspect.signature(optim.LBFGS).parameters
    assert params["maximize"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["maximize"].default is False
    w = dm.zeros(2, requires_grad=True)
    opt = optim.LBFGS([w], maximize=True)
    assert opt.state_dict()["param_groups"][0]["maximize"] is True
    assert "maximize: True" in repr(opt)


def test_lbfgs_maximize_rosenbrock_strong_wolfe_matches_torch() -> None:
    # Maximising -rosenbrock with max_iter=3: the line search's budget is max_eval - evals.
    w = dm.tensor([-1.5, 2.0], requires_grad=True)
    opt = optim.LBFGS([w], max_iter=3, line_search_fn="strong_wolfe", maximize=True)

    def closure() -> dm.Tensor:
        opt.zero_grad()
        loss = -((1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2)
        loss.backward()
        return loss

    for _ in range(6):
        opt.step(closure)
    np.testing.assert_allclose(w.detach().numpy(), [-0.962925, 0.915436], atol=2e-5)
    assert (opt.state[w]["func_evals"], opt.state[w]["n_iter"]) == (18, 11)


def test_lbfgs_old_group_without_maximize_still_steps() -> None:
    # A state dict saved before ``maximize`` existed: its group lacks the key.
    w = dm.tensor([1.0, -1.0], requires_grad=True)
    opt = optim.LBFGS([w], max_iter=2)
    sd = opt.state_dict()
    del sd["param_groups"][0]["maximize"]
    opt.load_state_dict(sd)

    def closure() -> dm.Tensor:
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert float((w**2).sum().item()) < 2.0


def _diverged_lbfgs() -> tuple[dm.Tensor, Any]:
    w = dm.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.LBFGS([w], max_iter=20)

    def closure() -> dm.Tensor:
        opt.zero_grad()
        loss = -(w**2).sum()  # unbounded below
        loss.backward()
        return loss

    for _ in range(8):
        opt.step(closure)
    return w, opt


def test_lbfgs_reloads_a_diverged_state() -> None:
    w, opt = _diverged_lbfgs()
    sd = opt.state_dict()
    assert sd["state"][0]["prev_loss"] == -math.inf  # as PyTorch
    new = optim.LBFGS([w], max_iter=20)
    new.load_state_dict(sd)
    assert new.state[w]["prev_loss"] == -math.inf
    # Non-finite numbers in the other scalar slots load too (PyTorch does not check them).
    sd["state"][0].update(t=math.nan, H_diag=math.inf)
    new.load_state_dict(sd)
    assert math.isnan(new.state[w]["t"]) and new.state[w]["H_diag"] == math.inf


@pytest.mark.parametrize(
    "key, value", [("prev_loss", "x"), ("t", True), ("H_diag", None), ("n_iter", 1.5)]
)
def test_lbfgs_load_still_rejects_wrong_types(key: str, value: Any) -> None:
    w, opt = _diverged_lbfgs()
    sd = opt.state_dict()
    sd["state"][0][key] = value
    with pytest.raises(InvalidValueError, match=key):
        optim.LBFGS([w], max_iter=20).load_state_dict(sd)


def test_add_param_group_argument_is_named_param_group() -> None:
    for cls in (optim.Optimizer, optim.LBFGS, optim.Muon):
        names = list(inspect.signature(cls.add_param_group).parameters)
        assert names == ["self", "param_group"], cls
    m = optim.Muon([dm.zeros(2, 2, requires_grad=True)])
    m.add_param_group(param_group={"params": [dm.zeros(3, 2, requires_grad=True)]})
    assert len(m.param_groups) == 2
    lb = optim.LBFGS([dm.zeros(2, requires_grad=True)])
    with pytest.raises(ValueError, match="per-parameter options"):
        lb.add_param_group(param_group={"params": [dm.zeros(2, requires_grad=True)]})


# ---- clip_grad_norm_ / get_total_norm -------------------------------------------------------

_G1 = np.array([[0.5, -3.0], [0.0, 2.0]])
_G2 = np.array([1e-3, -0.25, 4.0])


def _with_grads(dtypes: tuple[Any, ...], grads: tuple[np.ndarray, ...] = (_G1, _G2)) -> list[Any]:
    ps = []
    for g, dt in zip(grads, dtypes):
        p = dm.zeros(g.shape, dtype=dt, requires_grad=True)
        p.grad = dm.tensor(g, dtype=dt)
        ps.append(p)
    return ps


def _norm_np(norm_type: float) -> float:
    """PyTorch's definition: the norm of the per-gradient norms."""
    flats = [np.abs(_G1.ravel()), np.abs(_G2.ravel())]
    if norm_type == math.inf:
        return max(f.max() for f in flats)
    if norm_type == -math.inf:
        return min(f.min() for f in flats)
    if norm_type == 0:  # the number of gradients with a nonzero entry (PyTorch: 2.0 here)
        return float(sum(bool((f != 0).any()) for f in flats))
    per = [np.sum(f**norm_type) ** (1 / norm_type) for f in flats]
    return float(np.sum(np.array(per) ** norm_type) ** (1 / norm_type))


@pytest.mark.parametrize("norm_type", [2.0, 2, "inf", math.inf, -math.inf, 1, 0.5, 0, 3])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("foreach", [None, True, False])
def test_clip_grad_norm_matches_torch(norm_type: Any, dtype: str, foreach: Any) -> None:
    dt = getattr(dm, dtype)
    ps = _with_grads((dt, dt))
    total = nn.utils.clip_grad_norm_(ps, 1.0, norm_type=norm_type, foreach=foreach)
    want = _norm_np(float(norm_type))
    assert total.dtype == dt
    rtol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(total.item(), want, rtol=rtol)
    coef = min(1.0, 1.0 / (want + 1e-6))
    np.testing.assert_allclose(ps[1].grad.numpy(), _G2 * coef, rtol=rtol * 10)
    same = nn.utils.get_total_norm([p.grad for p in _with_grads((dt, dt))], norm_type)
    np.testing.assert_allclose(same.item(), want, rtol=rtol)


def test_clip_grad_norm_minus_inf_is_the_smallest_magnitude() -> None:
    # PyTorch: 0.0 here (a zero gradient entry), so nothing is scaled (coefficient clamped to 1).
    ps = _with_grads((dm.float32, dm.float32))
    assert nn.utils.clip_grad_norm_(ps, 1.0, norm_type=-math.inf).item() == 0.0
    np.testing.assert_allclose(ps[1].grad.numpy(), _G2, rtol=1e-6)
    # Without the zero: 1e-3, below max_norm 0.5, so no scaling either.
    (p,) = _with_grads((dm.float32,), (_G2,))
    np.testing.assert_allclose(nn.utils.clip_grad_norm_(p, 0.5, norm_type=-math.inf).item(), 1e-3)


def test_clip_grad_norm_mixed_dtypes_and_errors() -> None:
    ps = _with_grads((dm.float32, dm.float64))
    total = nn.utils.clip_grad_norm_(ps, 1.0)
    assert total.dtype == dm.float64 and ps[0].grad.dtype == dm.float32  # PyTorch: float64
    np.testing.assert_allclose(total.item(), _norm_np(2.0), rtol=1e-6)
    (bad,) = _with_grads((dm.float32,), (np.array([np.inf, 1.0]),))
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([bad], 1.0, error_if_nonfinite=True)
    (nan,) = _with_grads((dm.float32,), (np.array([np.nan, 1.0]),))
    assert math.isnan(nn.utils.clip_grad_norm_([nan], 1.0).item())
    assert np.isnan(nan.grad.numpy()).all()  # scaled by the NaN norm, as PyTorch
    none = nn.utils.clip_grad_norm_([dm.zeros(2, requires_grad=True)], 1.0)
    assert none.item() == 0.0 and none.dtype == dm.float32


def test_vector_to_parameters_type_error() -> None:
    with pytest.raises(TypeError, match=r"expected torch\.Tensor, but got: list"):
        nn.utils.vector_to_parameters([1.0], [dm.zeros(1)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="but got: list"):
        nn.utils.parameters_to_vector([[1.0]])  # type: ignore[list-item]
    ps = [dm.zeros(2), dm.zeros(1, 2)]
    nn.utils.vector_to_parameters(dm.tensor([1.0, 2.0, 3.0, 4.0]), ps)
    np.testing.assert_array_equal(nn.utils.parameters_to_vector(ps).numpy(), [1, 2, 3, 4])


# ---- always_call forward hooks --------------------------------------------------------------


def _hook_scenario(where: str) -> list[Any]:
    """The order hooks run in and what they see when ``where`` raises (PyTorch 2.15's log)."""
    log: list[Any] = []

    class M(nn.Module):
        def forward(self, x: dm.Tensor) -> dm.Tensor:
            log.append("fwd")
            if where == "forward":
                raise ValueError("boom")
            return x * 2

    def raiser(exc: Exception) -> Any:
        def hook(*args: Any) -> None:
            raise exc

        return hook

    def total(o: Any) -> Any:
        return o if o is None or isinstance(o, str) else float(o.sum().item())

    m = M()
    if where == "pre":
        m.register_forward_pre_hook(raiser(KeyError("pre")))
    m.register_forward_hook(lambda mod, a, o: log.append(("h1", total(o))))

    def a1(mod: Any, a: Any, o: Any) -> Any:
        log.append(("a1", total(o)))
        return o + 1 if o is not None else "X"

    m.register_forward_hook(a1, always_call=True)
    if where == "hook":
        m.register_forward_hook(raiser(IndexError("hk")))
    m.register_forward_hook(
        lambda mod, a, k, o: log.append(("a2", k, total(o))), always_call=True, with_kwargs=True
    )
    m.register_forward_hook(raiser(OSError("silenced")), always_call=True)
    m.register_forward_hook(lambda mod, a, o: log.append("a3"), always_call=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            log.append(("ret", total(m(dm.ones(2)))))
        except Exception as e:
            log.append(("raised", type(e).__name__))
    log.append(("warned", len(caught)))
    return log


@pytest.mark.parametrize(
    "where, expected",
    [
        ("none", ["fwd", ("h1", 4.0), ("a1", 4.0), ("a2", {}, 6.0), "a3", ("raised", "OSError"),
                  ("warned", 0)]),
        ("forward", ["fwd", ("a1", None), ("a2", {}, "X"), "a3", ("raised", "ValueError"),
                     ("warned", 1)]),
        ("pre", [("a1", None), ("a2", {}, "X"), "a3", ("raised", "KeyError"), ("warned", 1)]),
        ("hook", ["fwd", ("h1", 4.0), ("a1", 4.0), ("a2", {}, 6.0), "a3",
                  ("raised", "IndexError"), ("warned", 1)]),
    ],
)  # fmt: skip
def test_always_call_forward_hooks_match_torch(where: str, expected: list[Any]) -> None:
    assert _hook_scenario(where) == expected


def test_always_call_hook_removed_with_its_handle() -> None:
    m = nn.Linear(2, 2)
    seen: list[int] = []
    h = m.register_forward_hook(lambda *a: seen.append(1), always_call=True)
    h.remove()
    assert not m.__dict__["_forward_hooks_always_called"] and not m.__dict__["_forward_hooks"]
    m.register_forward_pre_hook(lambda mod, a, k: 5, with_kwargs=True)
    with pytest.raises(RuntimeError, match=r"\(new_args, new_kwargs\), but got 5"):
        m(dm.ones(2))
    assert seen == []


# ---- integer defaults (reprs and state_dict text as PyTorch's) ------------------------------

_INT_DEFAULTS = {
    optim.SGD: ("momentum", "dampening", "weight_decay"),
    optim.Adam: ("weight_decay",),
    optim.RMSprop: ("weight_decay", "momentum"),
    optim.Adagrad: ("lr_decay", "weight_decay", "initial_accumulator_value"),
}
_TORCH_GROUP_KEYS = {
    optim.SGD: "lr momentum dampening weight_decay nesterov maximize foreach differentiable fused",
    optim.Adam: "lr betas eps weight_decay amsgrad maximize foreach capturable differentiable "
    "fused decoupled_weight_decay",
    optim.AdamW: "lr betas eps weight_decay amsgrad maximize foreach capturable differentiable "
    "fused decoupled_weight_decay",
    optim.RMSprop: "lr momentum alpha eps centered weight_decay capturable foreach maximize "
    "differentiable",
    optim.Adagrad: "lr lr_decay eps weight_decay initial_accumulator_value foreach maximize "
    "differentiable fused",
}


@pytest.mark.parametrize("cls", list(_TORCH_GROUP_KEYS))
def test_optimizer_defaults_print_as_torch(cls: Any) -> None:
    sig = inspect.signature(cls).parameters
    for name in _INT_DEFAULTS.get(cls, ()):
        assert type(sig[name].default) is int and sig[name].default == 0, name
    w = dm.zeros(2, requires_grad=True)
    opt = cls([w], lr=0.1)
    group = opt.state_dict()["param_groups"][0]
    assert list(group) == [*_TORCH_GROUP_KEYS[cls].split(), "params"]
    for name in _INT_DEFAULTS.get(cls, ()):
        assert f"    {name}: 0\n" in repr(opt)
    w.grad = dm.ones(2)
    opt.step()  # the integer defaults reach the engine as numbers
    assert np.isfinite(w.detach().numpy()).all() and (w.detach().numpy() != 0).all()


def test_deprecated_clip_grad_norm_alias_warns_and_clips() -> None:
    ps = _with_grads((dm.float32, dm.float32))
    with pytest.warns(FutureWarning, match="clip_grad_norm_"):
        total = nn.utils.clip_grad_norm(ps, 1.0)
    np.testing.assert_allclose(total.item(), _norm_np(2.0), rtol=1e-6)
    np.testing.assert_allclose(ps[1].grad.numpy(), _G2 / (_norm_np(2.0) + 1e-6), rtol=1e-5)


def test_vector_to_parameters_shares_the_vector_as_torch() -> None:
    lin = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(lin.parameters())
    assert vec.requires_grad  # the flattening is differentiable; the write-back is not
    nn.utils.vector_to_parameters(vec * 0 + dm.arange(8.0), lin.parameters())
    np.testing.assert_array_equal(lin.bias.detach().numpy(), [6.0, 7.0])
    assert lin.weight.is_leaf and lin.weight.requires_grad
    lin(dm.ones(1, 3)).sum().backward()
    np.testing.assert_array_equal(lin.weight.grad.numpy(), np.ones((2, 3)))
    # PyTorch: the parameters view the vector (a later in-place change shows) in its dtype.
    ps = [dm.zeros(2), dm.zeros(1, 2)]
    v = dm.arange(5, dtype=dm.float64)
    nn.utils.vector_to_parameters(v, ps)
    v.add_(10)
    assert ps[0].dtype == dm.float64
    np.testing.assert_array_equal(ps[1].numpy(), [[12.0, 13.0]])
    with pytest.raises(ValueError):  # too short: ShapeError, PyTorch's RuntimeError
        nn.utils.vector_to_parameters(dm.arange(3.0), [dm.zeros(2), dm.zeros(2)])


# ---- state_dict / load_state_dict hooks (logs as PyTorch 2.15 writes them) -------------------


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(2, 2)
        self.b = nn.Sequential(nn.Linear(2, 1))
        self.register_buffer("tmp", dm.zeros(1), persistent=False)


def test_state_dict_hooks_order_and_edits_match_torch() -> None:
    net, log = _Net(), []
    net.register_state_dict_pre_hook(lambda m, p, kv: log.append(("pre-root", p, kv)))
    net.b.register_state_dict_pre_hook(lambda m, p, kv: log.append(("pre-b", p)))

    def post(m: Any, sd: dict[str, Any], p: str, meta: dict[str, Any]) -> None:
        log.append(("post", type(m).__name__, p, list(sd), sorted(meta)))
        sd[p + "extra"] = dm.ones(1)

    net.b[0].register_state_dict_post_hook(post)
    net.register_state_dict_post_hook(lambda m, sd, p, meta: log.append(("post-root", p, len(sd))))
    keys = list(net.state_dict(prefix="x."))
    assert log == [
        ("pre-root", "x.", False),
        ("pre-b", "x.b."),
        ("post", "Linear", "x.b.0.", ["x.a.weight", "x.a.bias", "x.b.0.weight", "x.b.0.bias"],
         ["version"]),
        ("post-root", "x.", 5),
    ]  # fmt: skip
    assert keys == ["x.a.weight", "x.a.bias", "x.b.0.weight", "x.b.0.bias", "x.b.0.extra"]
    handle = net.register_state_dict_post_hook(lambda *a: 5)
    with pytest.raises(RuntimeError, match="state_dict post-hook must return None"):
        net.state_dict()
    handle.remove()
    assert len(net.state_dict()) == 5


def test_load_state_dict_hooks_rename_and_forgive_as_torch() -> None:
    net, log = _Net(), []
    sd = {k: v.clone() for k, v in net.state_dict().items()}
    old = {("a.old_w" if k == "a.weight" else k): v for k, v in sd.items()}

    def rename(m: Any, sdict: Any, prefix: str, meta: Any, strict: bool, *lists: Any) -> None:
        log.append(("lpre", prefix, strict))  # PyTorch always passes strict=True here
        if prefix + "old_w" in sdict:
            sdict[prefix + "weight"] = sdict.pop(prefix + "old_w")

    net.a.register_load_state_dict_pre_hook(rename)
    keys = net.load_state_dict(old, strict=False)
    assert (keys.missing_keys, keys.unexpected_keys, log) == ([], [], [("lpre", "a.", True)])

    def forgive(m: Any, keys: Any) -> None:
        log.append(("lpost", list(keys.unexpected_keys)))
        keys.unexpected_keys[:] = [k for k in keys.unexpected_keys if not k.endswith("junk")]

    net.b.register_load_state_dict_post_hook(forgive)
    bad = {**old, "b.junk": dm.ones(1), "a.bias": dm.full((2,), 7.0)}
    log.clear()
    keys = net.load_state_dict(bad)  # strict, but the hook forgave the only unexpected key
    assert (keys.missing_keys, keys.unexpected_keys) == ([], [])
    assert log == [("lpre", "a.", True), ("lpost", ["b.junk"])]
    np.testing.assert_array_equal(net.a.bias.detach().numpy(), [7.0, 7.0])
    bad.update({"zzz": dm.ones(1), "a.bias": dm.full((2,), 8.0)})
    log.clear()
    with pytest.raises(RuntimeError, match="zzz"):
        net.load_state_dict(bad)
    # As PyTorch: the root's unexpected keys come first; the values were copied before the check.
    assert log[-1] == ("lpost", ["zzz", "b.junk"])
    np.testing.assert_array_equal(net.a.bias.detach().numpy(), [8.0, 8.0])
    net.a.register_load_state_dict_pre_hook(lambda m, s, *rest: rest[-1].append("custom failure"))
    with pytest.raises(RuntimeError, match="custom failure"):
        net.load_state_dict(bad, strict=False)
    net.register_load_state_dict_post_hook(lambda m, k: 1)
    with pytest.raises(RuntimeError, match="not expected to return new values"):
        nn.Sequential(net).load_state_dict({}, strict=False)


def test_unexpected_keys_in_torch_order() -> None:
    seq = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 1)))
    sd = dict(seq.state_dict())
    extra = {"1.0.zz": dm.ones(1), "0.q": dm.ones(1), "top": dm.ones(1), "1.x": dm.ones(1)}
    given = {**extra, "5.k": dm.ones(1), **sd}
    del given["0.bias"]
    keys = seq.load_state_dict(given, strict=False)
    assert keys.missing_keys == ["0.bias"]
    assert keys.unexpected_keys == ["top", "5.k", "0.q", "1.x", "1.0.zz"]  # PyTorch's order
