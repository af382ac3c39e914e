"""``dm.optim`` against PyTorch 2.15's ``torch.optim``: update trajectories (values recorded
from torch in float64), bad-input messages, ``state_dict`` layout (``step`` and the other
per-parameter scalars as 0-d tensors, group keys in torch's order), load-mismatch messages and
the warning for a set of parameters. No torch import: the expected values are hard-coded."""

from __future__ import annotations

import copy
import re
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising import optim

TARGET = [0.3, 0.1, -0.2]


def _quartic_steps(name: str, kw: dict[str, Any], steps: int = 6) -> np.ndarray:
    """``steps`` steps on ``sum((p - target)^4) + 0.5 sum(p^2)`` from ``[1, -2, 0.5]``."""
    p = dm.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    t = dm.tensor(np.array(TARGET))
    opt = getattr(optim, name)([p], **kw)
    for _ in range(steps):
        opt.zero_grad()
        d = p - t
        ((d * d * d * d).sum() + (p * p).sum() * 0.5).backward()
        opt.step()
    return p.detach().numpy()


# (optimizer, kwargs, parameters after 6 steps in torch 2.15, float64)
TORCH_TRAJECTORIES = [
    ("Adam", dict(lr=0.1, amsgrad=True, weight_decay=0.1),
     [0.44322843762956526, -1.4179651715487174, -0.02308669145458052]),
    ("AdamW", dict(lr=0.1, betas=(0.8, 0.9), amsgrad=True),
     [0.4506498399470027, -1.4099324385869096, -0.0005953094450334012]),
    ("NAdam", dict(lr=0.1, decoupled_weight_decay=True, weight_decay=0.1),
     [0.5760901923194994, -1.4762781031387282, 0.1380473592784346]),
    ("RAdam", dict(lr=0.1, weight_decay=0.1),
     [0.2232782629244431, -1.2569179541653621, -0.06442388447277438]),
    ("RMSprop", dict(lr=0.05, centered=True, momentum=0.5, alpha=0.9),
     [0.24554176829848773, -1.0806153414474096, -0.06540782855748757]),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1),
     [-0.14496205440757007, 0.27112368981786084, -0.2587180224278042]),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.5),
     [0.7127467025110105, -1.6757449980927237, 0.23730598104010453]),
    ("ASGD", dict(lr=0.05, t0=2, lambd=0.01),
     [0.5947660846014774, -0.033596924230212585, 0.1960057504902691]),
    ("Rprop", dict(lr=0.05, etas=(0.4, 1.3)),
     [0.36219849999999987, -1.3621984999999999, -0.13780150000000005]),
    ("Adadelta", dict(lr=0.5, rho=0.8),
     [0.9926686825149481, -1.9926491727089768, 0.49267868981456003]),
    ("Adamax", dict(lr=0.1, weight_decay=0.1),
     [0.5540116154882135, -1.4929527846740225, 0.09444848153345789]),
]  # fmt: skip


@pytest.mark.parametrize("name,kw,want", TORCH_TRAJECTORIES, ids=[c[0] for c in TORCH_TRAJECTORIES])
def test_trajectory_matches_torch_float64(name: str, kw: dict[str, Any], want: list[float]) -> None:
    np.testing.assert_allclose(_quartic_steps(name, kw), want, rtol=1e-12, atol=1e-14)


def _p() -> Any:
    return dm.nn.Parameter(dm.ones(2, 2))


# (optimizer, bad kwargs, torch's ValueError text)
BAD_INPUT = [
    ("SGD", dict(lr=-1), "Invalid learning rate: -1"),
    ("SGD", dict(lr=0.1, momentum=-1), "Invalid momentum value: -1"),
    ("SGD", dict(lr=0.1, weight_decay=-1), "Invalid weight_decay value: -1"),
    ("SGD", dict(lr=0.1, nesterov=True), "Nesterov momentum requires a momentum and zero "
     "dampening"),
    ("Adam", dict(lr=-1), "Invalid learning rate: -1"),
    ("Adam", dict(eps=-1), "Invalid epsilon value: -1"),
    ("Adam", dict(betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
    ("Adam", dict(betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
    ("Adam", dict(weight_decay=-1), "Invalid weight_decay value: -1"),
    ("AdamW", dict(betas=(-0.1, 0.9)), "Invalid beta parameter at index 0: -0.1"),
    ("AdamW", dict(eps=-1), "Invalid epsilon value: -1"),
    ("Adagrad", dict(lr_decay=-1), "Invalid lr_decay value: -1"),
    ("Adagrad", dict(initial_accumulator_value=-1), "Invalid initial_accumulator_value value: -1"),
    ("Adagrad", dict(eps=-1), "Invalid epsilon value: -1"),
    ("RMSprop", dict(lr=-1), "Invalid learning rate: -1"),
    ("RMSprop", dict(eps=-1), "Invalid epsilon value: -1"),
    ("RMSprop", dict(momentum=-1), "Invalid momentum value: -1"),
    ("RMSprop", dict(weight_decay=-1), "Invalid weight_decay value: -1"),
    ("RMSprop", dict(alpha=-1), "Invalid alpha value: -1"),
    ("ASGD", dict(lambd=-1), "Invalid lambd value: -1"),
    ("ASGD", dict(alpha=-0.5), "Invalid alpha value: -0.5"),
]  # fmt: skip


@pytest.mark.parametrize("name,kw,message", BAD_INPUT)
def test_bad_hyperparameters_raise_torchs_value_error(
    name: str, kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        getattr(optim, name)([_p()], **kw)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "ASGD", "NAdam"])
def test_tensor_lr_with_several_values_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=r"^Tensor lr must be 1-element$"):
        getattr(optim, name)([_p()], lr=dm.tensor([0.1, 0.2]))


def test_bad_params_raise_torchs_type_errors() -> None:
    with pytest.raises(TypeError, match=r"^optimizer can only optimize Tensors, but one of the "):
        optim.SGD([1.0, 2.0], lr=0.1)
    opt = optim.SGD([_p()], lr=0.1)
    with pytest.raises(TypeError, match=r"^param_group must be a dict, but got <class 'list'>$"):
        opt.add_param_group([_p()])  # type: ignore[arg-type]


def test_set_of_parameters_warns_as_torch() -> None:
    with pytest.warns(FutureWarning, match="ordering of tensors in sets"):
        optim.SGD({_p()}, lr=0.1)


def _trained(name: str, kw: dict[str, Any], steps: int) -> tuple[Any, Any]:
    p = dm.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    opt = getattr(optim, name)([p], **kw)
    for _ in range(steps):
        opt.zero_grad()
        (p * p * p * p).sum().backward()
        opt.step()
    return p, opt


@pytest.mark.parametrize(
    "name,scalars",
    [("Adam", ()), ("SGD", None), ("NAdam", ("mu_product",)), ("ASGD", ("eta", "mu"))],
)
def test_state_dict_holds_step_and_scalars_as_0d_tensors(name: str, scalars: Any) -> None:
    p, opt = _trained(name, dict(lr=0.01, momentum=0.9) if name == "SGD" else dict(lr=0.01), 3)
    st = opt.state_dict()["state"][0]
    if scalars is None:  # SGD keeps no step, as torch
        assert list(st) == ["momentum_buffer"]
        return
    step = st["step"]
    assert isinstance(step, dm.Tensor) and step.dim() == 0 and step.dtype == dm.float32
    assert step.item() == 3.0
    for key in scalars:
        v = st[key]
        assert isinstance(v, dm.Tensor) and v.dim() == 0 and v.dtype == dm.float64
        assert v.item() == opt.state[p][key]  # the exact Python float
    # The live state keeps Python numbers (no device read per step).
    assert isinstance(opt.state[p]["step"], int)


@pytest.mark.parametrize("name", ["Adam", "NAdam", "ASGD", "RAdam", "Adagrad"])
def test_reloaded_state_dict_continues_bit_for_bit(name: str) -> None:
    kw: dict[str, Any] = dict(lr=0.01, t0=2) if name == "ASGD" else dict(lr=0.01)
    p1, o1 = _trained(name, kw, 5)
    p2, o2 = _trained(name, kw, 5)
    sd = copy.deepcopy(o2.state_dict())
    o2 = getattr(optim, name)([p2], **kw)
    o2.load_state_dict(sd)
    for p, o in ((p1, o1), (p2, o2)):
        for _ in range(10):
            o.zero_grad()
            (p * p * p * p).sum().backward()
            o.step()
    np.testing.assert_array_equal(p1.detach().numpy(), p2.detach().numpy())
    assert isinstance(o2.state[p2]["step"], int) and o2.state[p2]["step"] == 15


# torch 2.15's ``defaults`` key order (the order of ``param_groups[i]`` and ``state_dict()``)
GROUP_KEYS = {
    "Adadelta": "lr rho eps weight_decay maximize capturable foreach differentiable",
    "NAdam": "lr betas eps weight_decay momentum_decay decoupled_weight_decay maximize foreach "
    "capturable differentiable",
    "RAdam": "lr betas eps weight_decay maximize foreach capturable decoupled_weight_decay "
    "differentiable",
    "Rprop": "lr etas step_sizes foreach maximize differentiable capturable",
    "Adam": "lr betas eps weight_decay amsgrad maximize foreach capturable differentiable fused "
    "decoupled_weight_decay",
}


@pytest.mark.parametrize("name", sorted(GROUP_KEYS))
def test_group_keys_in_torchs_order(name: str) -> None:
    opt = getattr(optim, name)([_p()])
    keys = [k for k in opt.state_dict()["param_groups"][0] if k != "params"]
    assert keys == GROUP_KEYS[name].split()


def test_load_mismatched_groups_raises_torchs_value_errors() -> None:
    a, b = _p(), _p()
    sd = optim.SGD([a, b], lr=0.1, momentum=0.9).state_dict()
    two = optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1)
    with pytest.raises(
        ValueError, match=r"^loaded state dict has a different number of parameter groups"
    ):
        two.load_state_dict(sd)
    one = optim.SGD([a], lr=0.1, momentum=0.9)
    with pytest.raises(
        ValueError,
        match=r"^loaded state dict contains a parameter group that doesn't match the size of "
        r"optimizer's group",
    ):
        one.load_state_dict(sd)


def test_custom_optimizer_state_dict_keeps_its_own_values() -> None:
    """A user's optimizer keeps its ``step`` as it stores it (an int), as torch does; only the
    built-ins, whose counts torch keeps as tensors, give 0-d tensors."""

    class Plain(optim.Optimizer):
        def __init__(self, params: Any, lr: float = 0.1) -> None:
            super().__init__(params, dict(lr=lr))

        def step(self, closure: Any = None) -> None:
            with dm.no_grad():
                for g in self.param_groups:
                    for p in g["params"]:
                        if p.grad is not None:
                            self.state[p]["step"] = self.state[p].get("step", 0) + 1
                            p.sub_(p.grad * g["lr"])

    p = _p()
    opt = Plain([p])
    (p * p).sum().backward()
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), np.full((2, 2), 0.8))
    sd = opt.state_dict()
    assert sd["state"][0] == {"step": 1} and isinstance(sd["state"][0]["step"], int)


@pytest.mark.parametrize("name,want", [("Adam", 0.8), ("AdamW", 0.7075)])
def test_state_dict_from_before_decoupled_weight_decay_loads(name: str, want: float) -> None:
    """Older PyTorch state dicts lack the group key ``decoupled_weight_decay``; torch loads
    them (AdamW stays decoupled). Values: torch 2.15, lr=0.1, weight_decay=0.5, grads of 1."""
    p = dm.nn.Parameter(dm.ones(2))
    opt = getattr(optim, name)([p], lr=0.1, weight_decay=0.0 if name == "Adam" else 0.5)
    p.grad = dm.ones(2)
    opt.step()
    sd = copy.deepcopy(opt.state_dict())
    del sd["param_groups"][0]["decoupled_weight_decay"]
    fresh = getattr(optim, name)([p], lr=0.1)
    fresh.load_state_dict(sd)
    assert fresh.param_groups[0]["decoupled_weight_decay"] is (name == "AdamW")
    p.grad = dm.ones(2)
    fresh.step()
    np.testing.assert_allclose(p.detach().numpy(), [want, want], rtol=1e-6)


def test_state_dict_with_tensor_lr_loads_into_float_lr_optimizer() -> None:
    """torch keeps a saved ``lr=tensor(0.05)`` as the group's lr (values: torch 2.15)."""
    p = dm.nn.Parameter(dm.ones(2))
    opt = optim.Adam([p], lr=dm.tensor(0.05))
    p.grad = dm.ones(2)
    opt.step()
    sd = copy.deepcopy(opt.state_dict())
    fresh = optim.Adam([p], lr=0.01)
    fresh.load_state_dict(sd)
    lr = fresh.param_groups[0]["lr"]
    assert isinstance(lr, dm.Tensor) and lr.item() == pytest.approx(0.05)
    p.grad = dm.ones(2)
    fresh.step()
    np.testing.assert_allclose(p.detach().numpy(), [0.9, 0.9], rtol=1e-6)
    sd["param_groups"][0]["lr"] = dm.tensor(-1.0)
    with pytest.raises(ValueError, match="must be >= 0"):
        fresh.load_state_dict(sd)


def test_sparse_adam_state_dict_keeps_an_int_step_as_torch() -> None:
    emb = dm.nn.Embedding(4, 2, sparse=True)
    opt = optim.SparseAdam(list(emb.parameters()))
    emb(dm.tensor([0, 1])).sum().backward()
    opt.step()
    step = opt.state_dict()["state"][0]["step"]
    assert step == 1 and isinstance(step, int)
