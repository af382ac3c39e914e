"""Regression tests for the session 25 optimizer fuzz fixes: group keys a saved state dict lacks
take the values PyTorch's ``__setstate__`` gives them, LBFGS keeps its state in PyTorch's
layout (and still loads our older dicts), and ``clip_grad_norm_`` warns on an empty generator.
The expected values were read from PyTorch 2.x's sources and runs."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising.errors import InvalidValueError, StateDictError


def _param() -> dm.Tensor:
    return dm.ones(2, dtype=dm.float64).requires_grad_()


# ---- group keys missing from a saved state dict -------------------------------------------------

#: (optimizer, live constructor kwargs, deleted key, the value PyTorch's ``__setstate__`` gives).
_FILLED: list[tuple[str, dict[str, Any], str, Any]] = [
    ("SGD", {"momentum": 0.9, "nesterov": True}, "nesterov", False),
    ("SGD", {"maximize": True}, "maximize", False),
    ("SGD", {"foreach": True}, "foreach", None),
    ("SGD", {}, "fused", False),  # PyTorch's SGD.__setstate__: False, not the ctor's None
    ("Adam", {"amsgrad": True}, "amsgrad", False),
    ("Adam", {"maximize": True}, "maximize", False),
    ("Adam", {"decoupled_weight_decay": True}, "decoupled_weight_decay", False),
    ("Adam", {"fused": False}, "fused", None),
    ("AdamW", {}, "decoupled_weight_decay", True),
    ("RMSprop", {"momentum": 0.5}, "momentum", 0),
    ("RMSprop", {"centered": True}, "centered", False),
    ("RMSprop", {"maximize": True}, "maximize", False),
    ("Adagrad", {"maximize": True}, "maximize", False),
    ("Adagrad", {"foreach": True}, "foreach", None),
    ("Adadelta", {"maximize": True}, "maximize", False),
    ("Adamax", {"maximize": True}, "maximize", False),
    ("ASGD", {"maximize": True}, "maximize", False),
    ("Rprop", {"maximize": True}, "maximize", False),
    ("NAdam", {"decoupled_weight_decay": True}, "decoupled_weight_decay", False),
    ("RAdam", {"decoupled_weight_decay": True}, "decoupled_weight_decay", False),
    ("RAdam", {"maximize": True}, "maximize", False),
    ("Adafactor", {"foreach": True}, "foreach", None),
    ("SparseAdam", {"maximize": True}, "maximize", False),
    ("LBFGS", {"maximize": True}, "maximize", False),
]


@pytest.mark.parametrize(("name", "kwargs", "key", "value"), _FILLED)
def test_missing_group_key_takes_pytorch_setstate_value(
    name: str, kwargs: dict[str, Any], key: str, value: Any
) -> None:
    p = _param()
    cls = getattr(dm.optim, name)
    sd = cls([p], **kwargs).state_dict()
    del sd["param_groups"][0][key]
    opt = cls([p], **kwargs)
    opt.load_state_dict(sd)
    got = opt.param_groups[0][key]
    assert got == value and type(got) is type(value)
    # The other keys are the saved ones, and the saved dict itself is left alone.
    assert key not in sd["param_groups"][0]
    assert set(opt.param_groups[0]) == set(cls([p], **kwargs).param_groups[0])


def test_filled_value_is_what_the_step_uses() -> None:
    # Live SGD maximises, the saved group does not say: PyTorch descends (maximize=False).
    p = _param()
    sd = dm.optim.SGD([p], lr=0.1).state_dict()
    del sd["param_groups"][0]["maximize"]
    opt = dm.optim.SGD([p], lr=0.1, maximize=True)
    opt.load_state_dict(sd)
    p.grad = dm.tensor([0.5, -1.0], dtype=dm.float64)
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), [0.95, 1.1], rtol=0, atol=1e-15)


def test_adamw_loading_an_adam_dict_stays_decoupled() -> None:
    # PyTorch's AdamW.__setstate__ sets decoupled_weight_decay=True whatever was saved.
    p = _param()
    sd = dm.optim.Adam([p], lr=0.1, weight_decay=0.5).state_dict()
    assert sd["param_groups"][0]["decoupled_weight_decay"] is False
    opt = dm.optim.AdamW([p], lr=0.1, weight_decay=0.5)
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["decoupled_weight_decay"] is True
    p.grad = dm.tensor([0.5, 0.5], dtype=dm.float64)
    opt.step()
    # decoupled: p * (1 - lr * wd), then the first bias-corrected Adam step lr * g / (|g| + eps)
    want = 1.0 * (1 - 0.1 * 0.5) - 0.1 * 0.5 / (0.5 + 1e-8)
    np.testing.assert_allclose(p.detach().numpy(), [want, want], rtol=1e-14)


def test_user_subclass_takes_its_builtin_base_values() -> None:
    class MySGD(dm.optim.SGD):
        pass

    p = _param()
    sd = MySGD([p], lr=0.1).state_dict()
    del sd["param_groups"][0]["maximize"]
    opt = MySGD([p], lr=0.1, maximize=True)
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["maximize"] is False


def test_user_optimizer_keeps_its_live_optional_keys() -> None:
    # No PyTorch __setstate__ to follow for a user's own class: the live value stays.
    class Mine(dm.optim.Optimizer):
        def __init__(self, params: Any) -> None:
            super().__init__(params, {"lr": 0.1, "maximize": True})

        def _update(self, group: dict[str, Any]) -> None:
            pass

    p = _param()
    sd = Mine([p]).state_dict()
    del sd["param_groups"][0]["maximize"]
    opt = Mine([p])
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["maximize"] is True
    del sd["param_groups"][0]["lr"]
    with pytest.raises(StateDictError, match="lacks \\['lr'\\]"):
        opt.load_state_dict(sd)


@pytest.mark.parametrize(
    ("name", "key"),
    [("SGD", "lr"), ("Adam", "betas"), ("RMSprop", "alpha"), ("Adafactor", "maximize")],
)
def test_keys_pytorch_does_not_fill_are_still_required(name: str, key: str) -> None:
    # (PyTorch's Adafactor.__setstate__ fills only 'foreach': its step reads group["maximize"].)
    p = _param()
    cls = getattr(dm.optim, name)
    opt = cls([p])
    sd = opt.state_dict()
    del sd["param_groups"][0][key]
    before = dict(opt.param_groups[0])
    with pytest.raises(StateDictError, match=f"lacks \\['{key}'\\]"):
        opt.load_state_dict(sd)
    assert opt.param_groups[0] == before  # nothing applied


# ---- LBFGS state layout -----------------------------------------------------------------------

_TORCH_KEYS = ["func_evals", "n_iter", "al", "d", "t", "old_dirs", "old_stps", "ro", "H_diag"]
_TORCH_KEYS += ["prev_flat_grad", "prev_loss"]


def _lbfgs(dtype: Any = dm.float64, coupled: bool = False, **kw: Any) -> tuple[dm.Tensor, Any, Any]:
    """``x``, an LBFGS over it and a closure; ``coupled`` adds ``(x1 x2)^2``, which takes
    more iterations to minimise."""
    x = dm.tensor([0.5, -1.5, 2.0], dtype=dtype).requires_grad_()
    opt = dm.optim.LBFGS([x], **kw)

    def closure() -> dm.Tensor:
        opt.zero_grad()
        loss = (x * x).sum() * 0.5 + (x[0] - 1.0) ** 4
        if coupled:
            loss = loss + (x[1] * x[2]) ** 2
        loss.backward()
        return loss

    return x, opt, closure


def test_lbfgs_state_matches_pytorch_values() -> None:
    # PyTorch 2.x, same problem: al [2.5, None, None, None], ro [1.96], H_diag 1.0,
    # n_iter 2, func_evals 4, prev_loss 1.7818877551020407.
    x, opt, closure = _lbfgs(max_iter=3, history_size=4)
    opt.step(closure)
    opt.step(closure)
    st = opt.state_dict()["state"][0]
    assert list(st) == _TORCH_KEYS
    assert st["n_iter"] == 2 and st["func_evals"] == 4
    al = st["al"]
    assert len(al) == 4 and al[1:] == [None, None, None]
    assert isinstance(al[0], dm.Tensor) and al[0].dim() == 0 and al[0].item() == pytest.approx(2.5)
    assert [r.item() for r in st["ro"]] == pytest.approx([1.96])
    assert all(r.dim() == 0 and r.dtype == dm.float64 for r in st["ro"])
    assert isinstance(st["H_diag"], dm.Tensor) and st["H_diag"].dtype == dm.float64
    assert st["H_diag"].item() == pytest.approx(1.0)
    assert st["prev_loss"] == pytest.approx(1.7818877551020407)
    np.testing.assert_allclose(x.detach().numpy(), [0.5, 0.0, 0.0], atol=1e-15)


def test_lbfgs_al_appears_when_the_two_loop_first_runs() -> None:
    # One iteration per step: the first never runs the two-loop (no 'al', H_diag the int 1,
    # as PyTorch); the second adds 'al', history_size long, after the other keys.
    _, opt, closure = _lbfgs(dm.float32, max_iter=1)
    opt.step(closure)
    st = opt.state_dict()["state"][0]
    assert "al" not in st and st["H_diag"] == 1 and type(st["H_diag"]) is int
    opt.step(closure)
    st = opt.state_dict()["state"][0]
    assert list(st) == [k for k in _TORCH_KEYS if k != "al"] + ["al"]
    assert len(st["al"]) == 100 and sum(a is not None for a in st["al"]) == len(st["ro"]) == 1
    assert st["ro"][0].dtype == dm.float32 and st["H_diag"].dtype == dm.float32


def test_lbfgs_loads_older_float_layout_and_continues_the_same() -> None:
    x, opt, closure = _lbfgs(coupled=True, max_iter=4)
    opt.step(closure)
    start = x.detach().clone()
    sd = opt.state_dict()
    st = sd["state"][0]
    assert len(st["ro"]) == 3
    # The layout this package saved before: numbers for ro and H_diag, no 'al'.
    old = {k: v for k, v in st.items() if k != "al"}
    old["ro"] = [r.item() for r in st["ro"]]
    old["H_diag"] = st["H_diag"].item()
    ends = []
    for state in (st, old):
        y, o, c = _lbfgs(coupled=True, max_iter=4)
        with dm.no_grad():
            y.copy_(start)
        o.load_state_dict({"state": {0: state}, "param_groups": sd["param_groups"]})
        loaded = o.state[y]
        assert all(isinstance(r, dm.Tensor) and r.dim() == 0 for r in loaded["ro"])
        assert isinstance(loaded["H_diag"], dm.Tensor)
        o.step(c)
        assert o.state[y]["n_iter"] == 8
        ends.append(y.detach().numpy())
    np.testing.assert_array_equal(ends[0], ends[1])
    assert not np.array_equal(ends[0], start.numpy())


def test_lbfgs_loads_al_and_casts_scalars_to_the_param_dtype() -> None:
    _, opt, closure = _lbfgs(max_iter=3)
    opt.step(closure)
    sd = opt.state_dict()
    st = sd["state"][0]
    st["al"] = [dm.tensor(0.25), None, 0.5]
    st["ro"] = [dm.tensor(r.item(), dtype=dm.float32) for r in st["ro"]]
    x, new, _ = _lbfgs(max_iter=3)
    new.load_state_dict(sd)
    loaded = new.state[x]
    assert loaded["al"][1] is None
    assert [a.item() for a in (loaded["al"][0], loaded["al"][2])] == [0.25, 0.5]
    assert all(a.dtype == dm.float64 for a in loaded["al"] if a is not None)
    assert all(r.dtype == dm.float64 for r in loaded["ro"])


@pytest.mark.parametrize("bad", [1.0, ["x"], [True]])
def test_lbfgs_rejects_a_malformed_al(bad: Any) -> None:
    _, opt, closure = _lbfgs(max_iter=3)
    opt.step(closure)
    sd = opt.state_dict()
    sd["state"][0]["al"] = bad
    with pytest.raises(InvalidValueError, match="al"):
        _lbfgs(max_iter=3)[1].load_state_dict(sd)


# ---- clip_grad_norm_ on an empty generator ---------------------------------------------------


def _caught(fn: Any) -> tuple[Any, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    return out, caught


def _empty_warnings(caught: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    return [w for w in caught if "empty generator" in str(w.message)]


def test_clip_grad_norm_warns_on_an_empty_generator_only() -> None:
    total, caught = _caught(lambda: dm.nn.utils.clip_grad_norm_((p for p in []), 1.0))
    (w,) = _empty_warnings(caught)
    assert w.category is UserWarning and w.filename == __file__
    assert str(w.message) == "`parameters` is an empty generator, no gradient clipping will occur."
    assert float(total) == 0.0
    # An empty list, or a generator that yields parameters, does not warn (as PyTorch).
    p = dm.ones(3).requires_grad_()
    p.grad = dm.full((3,), 4.0)
    for params in ([], (q for q in [p]), p):
        _, caught = _caught(lambda ps=params: dm.nn.utils.clip_grad_norm_(ps, 1.0))
        assert not _empty_warnings(caught)
    np.testing.assert_allclose(p.grad.numpy(), np.full(3, 1 / np.sqrt(3)), rtol=1e-5)


def test_clip_grad_norm_alias_warns_and_clip_grad_value_does_not() -> None:
    _, caught = _caught(lambda: dm.nn.utils.clip_grad_norm((p for p in []), 1.0))
    assert {w.category for w in caught} >= {FutureWarning, UserWarning}
    assert len(_empty_warnings(caught)) == 1
    # PyTorch's clip_grad_value_ has no such warning.
    _, caught = _caught(lambda: dm.nn.utils.clip_grad_value_((p for p in []), 1.0))
    assert not caught
