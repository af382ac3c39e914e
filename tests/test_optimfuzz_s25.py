"""Session 25 differential fuzz of the optimizers, LR schedulers and gradient utilities against
PyTorch (CPU). Each test encodes PyTorch's result (constants computed with torch 2.x) for a
divergence the fuzz found; they are strict xfails until the package or engine is fixed."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

import democratising as dm

# Two steps of gradients for a (3, 2) parameter.
_G1 = np.full((3, 2), 0.5)
_G2 = np.array([[-1.0, 0.5], [0.25, 2.0], [-0.75, 1.5]])

#: The (3, 2) parameter ``tensor(arange(6).reshape(2, 3) / 10).t()`` (float64, transposed, so
#: not contiguous) after the steps ``_G1`` then ``_G2``, as torch.optim computes them.
_TORCH_NONCONTIGUOUS = {
    "SGD": (
        {"lr": 0.1, "momentum": 0.9},
        [[0.0050000000000000044, 0.155], [-0.019999999999999997, 0.105], [0.18, 0.255]],
    ),
    "Adam": (
        {"lr": 0.1},
        [
            [-0.06338964575943465, 0.10000000400000063],
            [-0.09321795952253766, 0.21156235354894445],
            [0.12477018322482686, 0.30822189092269436],
        ],
    ),
    "AdamW": (
        {"lr": 0.1},
        [
            [-0.06328964576143464, 0.0995003039980006],
            [-0.09331785952453765, 0.21086275354694442],
            [0.12447038322282686, 0.30732239092069435],
        ],
    ),
    "RMSprop": (
        {"lr": 0.1},
        [
            [-0.10467691808866286, -1.4088809045058768],
            [-1.3490129744218298, -1.5704277150335881],
            [0.03333344074071143, -1.449157735692482],
        ],
    ),
    "Adagrad": (
        {"lr": 0.1},
        [
            [-0.010557280888008419, 0.12928932191134523],
            [-0.04472135952199579, 0.20298575001017272],
            [0.18320502944455364, 0.30513167022094867],
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(_TORCH_NONCONTIGUOUS))
def test_fused_optimizers_step_non_contiguous_params(name: str) -> None:
    kwargs, expected = _TORCH_NONCONTIGUOUS[name]
    base = np.arange(6, dtype=np.float64).reshape(2, 3) / 10
    p = dm.tensor(base).t().detach().requires_grad_()
    assert not p.is_contiguous()
    opt = getattr(dm.optim, name)([p], **kwargs)
    for g in (_G1, _G2):
        p.grad = dm.tensor(g)
        opt.step()
    np.testing.assert_allclose(p.detach().numpy(), np.array(expected), rtol=1e-12, atol=1e-15)


def test_adam_steps_after_loading_non_contiguous_state() -> None:
    p = dm.ones(3, 2, dtype=dm.float64).requires_grad_()
    opt = dm.optim.Adam([p], lr=0.1)
    p.grad = dm.tensor(_G2)
    opt.step()
    sd = opt.state_dict()
    for key in ("exp_avg", "exp_avg_sq"):
        sd["state"][0][key] = sd["state"][0][key].t().contiguous().t()
    opt2 = dm.optim.Adam([p], lr=0.1)
    opt2.load_state_dict(sd)
    p.grad = dm.tensor(_G1)
    opt2.step()
    expected = [
        [1.126633702629097, 0.8000000040000006],
        [0.8034818038591954, 0.8169402477023616],
        [1.1144520514115495, 0.8128936063734923],
    ]
    np.testing.assert_allclose(p.detach().numpy(), np.array(expected), rtol=1e-12)


#: (optimizer, constructor kwargs, group key deleted from the saved state dict, the value
#: torch's ``__setstate__`` gives it, the parameter after one step before and one after the
#: load). The source optimizer is built with the same kwargs less the deleted key.
_ADAM_AFTER = [0.8067820404774624, 1.0633896465279251]
_RMSPROP_AFTER = [-0.4490129744218298, 1.1046769780084778]
_MISSING_KEY_CASES: list[tuple[str, dict[str, Any], str, Any, list[float]]] = [
    ("Adam", {"lr": 0.1, "amsgrad": True}, "amsgrad", False, _ADAM_AFTER),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, "nesterov", False, [0.88, 0.99]),
    ("RMSprop", {"lr": 0.1, "centered": True}, "centered", False, _RMSPROP_AFTER),
    ("RMSprop", {"lr": 0.1, "momentum": 0.5}, "momentum", 0, _RMSPROP_AFTER),
    ("SGD", {"lr": 0.1, "maximize": True}, "maximize", False, [0.9249999999999999, 0.9]),
]


@pytest.mark.parametrize(("name", "kwargs", "key", "default", "expected"), _MISSING_KEY_CASES)
def test_load_state_dict_fills_missing_group_keys_with_torch_defaults(
    name: str, kwargs: dict[str, Any], key: str, default: Any, expected: list[float]
) -> None:
    p = dm.ones(2, dtype=dm.float64).requires_grad_()
    source_kwargs = {k: v for k, v in kwargs.items() if k != key}
    if key == "nesterov":
        source_kwargs = {"lr": 0.1, "momentum": 0.9}
    source = getattr(dm.optim, name)([p], **source_kwargs)
    p.grad = dm.tensor([0.5, -1.0], dtype=dm.float64)
    source.step()
    sd = source.state_dict()
    del sd["param_groups"][0][key]
    opt = getattr(dm.optim, name)([p], **kwargs)
    opt.load_state_dict(sd)
    assert opt.param_groups[0][key] == default
    p.grad = dm.tensor([0.25, 2.0], dtype=dm.float64)
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), np.array(expected), rtol=1e-12)


def test_lbfgs_state_dict_layout_matches_torch() -> None:
    x = dm.tensor([0.5, -1.5, 2.0], dtype=dm.float64).requires_grad_()
    opt = dm.optim.LBFGS([x], max_iter=3)

    def closure() -> dm.Tensor:
        opt.zero_grad()
        loss = (x * x).sum() * 0.5 + (x[0] - 1.0) ** 4
        loss.backward()
        return loss

    opt.step(closure)
    opt.step(closure)
    st = opt.state_dict()["state"][0]
    torch_keys = ["func_evals", "n_iter", "al", "d", "t", "old_dirs", "old_stps", "ro"]
    torch_keys += ["H_diag", "prev_flat_grad", "prev_loss"]
    assert list(st) == torch_keys
    assert len(st["al"]) == 100
    assert isinstance(st["H_diag"], dm.Tensor) and st["H_diag"].dtype == dm.float64
    assert all(isinstance(r, dm.Tensor) for r in st["ro"])


def test_clip_grad_norm_warns_on_empty_generator() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        total = dm.nn.utils.clip_grad_norm_((p for p in []), 1.0)
    assert float(total) == 0.0
    assert any(
        issubclass(w.category, UserWarning) and "empty generator" in str(w.message) for w in caught
    )
