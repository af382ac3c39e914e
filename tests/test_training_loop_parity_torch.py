"""Training-loop plumbing as a PyTorch user writes it (optimizer construction and state,
custom optimizers, optimizer hooks, collation errors), checked against values and behaviour
read from PyTorch 2.15."""

from __future__ import annotations

import pickle
from typing import Any, Callable, Optional

import numpy as np
import pytest

import democratising as dm
from democratising.data import DataLoader, default_collate


def _leaf(*values: float) -> dm.Tensor:
    return dm.tensor(list(values), requires_grad=True)


class _Mine(dm.optim.Optimizer):
    """The custom optimizer of PyTorch's tutorials: its own ``step`` reads ``self.state[p]``
    before anything was stored there."""

    def __init__(self, params: Any, lr: float = 0.1, momentum: float = 0.5) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum))

    @dm.no_grad()
    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:
        loss = None
        if closure is not None:
            with dm.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["buf"] = dm.zeros_like(p)
                state["step"] += 1
                state["buf"].mul_(group["momentum"]).add_(p.grad)
                p.add_(state["buf"], alpha=-group["lr"])
        return loss


# ---- construction ----------------------------------------------------------------------------


def test_repr_matches_pytorch_layout() -> None:
    opt = _Mine([{"params": [_leaf(0.0)]}, {"params": [_leaf(0.0)], "lr": 0.5}], momentum=0)
    # PyTorch 2.15's repr of the same optimizer, byte for byte.
    expected = (
        "_Mine (\nParameter Group 0\n    lr: 0.1\n    momentum: 0\n\n"
        "Parameter Group 1\n    lr: 0.5\n    momentum: 0\n)"
    )
    assert repr(opt) == expected


def test_a_bare_tensor_or_a_set_of_params_is_a_type_error() -> None:
    w = _leaf(1.0, 2.0)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        dm.optim.SGD(w, lr=0.1)
    opt = dm.optim.SGD([w], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        opt.add_param_group({"params": {_leaf(3.0)}})


def test_add_param_group_takes_pytorchs_keyword_and_wants_a_dict() -> None:
    opt = dm.optim.SGD([_leaf(1.0)], lr=0.1)
    opt.add_param_group(param_group={"params": [_leaf(2.0)], "lr": 0.5})
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    with pytest.raises(TypeError, match="param_group must be a dict"):
        opt.add_param_group([_leaf(3.0)])  # type: ignore[arg-type]


def test_named_parameters_keep_their_names() -> None:
    dm.manual_seed(0)
    model = dm.nn.Linear(2, 1)
    opt = dm.optim.Adam(model.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    assert all(isinstance(p, dm.Tensor) for p in opt.param_groups[0]["params"])
    model(dm.ones(1, 2)).sum().backward()
    opt.step()
    sd = opt.state_dict()
    assert sd["param_groups"][0]["param_names"] == ["weight", "bias"]
    assert sd["param_groups"][0]["params"] == [0, 1]
    # Named and unnamed optimizers load each other's state, as in PyTorch.
    plain = dm.optim.Adam(model.parameters(), lr=0.1)
    plain.load_state_dict(sd)
    assert plain.param_groups[0]["param_names"] == ["weight", "bias"]
    assert plain.state[model.weight]["step"] == 1
    named = dm.optim.Adam(model.named_parameters(), lr=0.1)
    named.load_state_dict(dm.optim.Adam(model.parameters(), lr=0.1).state_dict())
    assert named.param_groups[0]["param_names"] == ["weight", "bias"]
    opt.add_param_group({"params": [("extra", _leaf(0.0))]})
    assert opt.param_groups[1]["param_names"] == ["extra"]


def test_named_and_unnamed_params_do_not_mix() -> None:
    opt = dm.optim.SGD([("a", _leaf(1.0))], lr=0.1)
    with pytest.raises(ValueError, match="cannot add param group without names"):
        opt.add_param_group({"params": [_leaf(2.0)]})
    with pytest.raises(ValueError, match="Some param names are missing"):
        opt.add_param_group({"params": [("b", _leaf(2.0)), _leaf(3.0)]})


# ---- zero_grad and state -----------------------------------------------------------------------


def test_zero_grad_without_set_to_none_zeroes_in_place() -> None:
    w = _leaf(1.0, 2.0, 3.0)
    w.sum().backward()
    held = w.grad
    dm.optim.SGD([w], lr=0.1).zero_grad(set_to_none=False)
    assert held.tolist() == [0.0, 0.0, 0.0]  # the gradient a caller holds is the one zeroed
    assert w.grad.tolist() == [0.0, 0.0, 0.0]
    w.sum().backward()
    assert w.grad.tolist() == [1.0, 1.0, 1.0]


def test_custom_optimizer_reads_empty_state_and_round_trips() -> None:
    w = _leaf(1.0, 2.0)
    opt = _Mine([w], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        (w**2).sum().backward()
        opt.step()
    np.testing.assert_allclose(w.detach().numpy(), [0.302, 0.604], rtol=1e-6)  # PyTorch's
    w2 = dm.tensor(w.detach().numpy(), requires_grad=True)
    opt2 = _Mine([w2], lr=0.1)
    opt2.load_state_dict(opt.state_dict())
    (w2**2).sum().backward()
    opt2.step()
    np.testing.assert_allclose(w2.detach().numpy(), [0.1226, 0.2452], rtol=1e-5)  # PyTorch's
    assert opt2.state[w2]["step"] == 4
    assert opt2.state[_leaf(0.0)] == {}  # a defaultdict after loading too


def test_optimizer_pickles_with_a_defaultdict_state() -> None:
    w = _leaf(1.0)
    opt = dm.optim.Adam([w])
    (w * 2).sum().backward()
    opt.step()
    back = pickle.loads(pickle.dumps(opt))
    assert len(back.state) == 1
    assert back.state[_leaf(0.0)] == {}


# ---- hooks -------------------------------------------------------------------------------------


def test_optimizer_hooks_run_in_pytorch_order() -> None:
    w = _leaf(1.0, 2.0)
    log: list[Any] = []
    opt = dm.optim.SGD([w], lr=0.1, momentum=0.9)
    pre = opt.register_step_pre_hook(lambda o, a, k: log.append(("pre", len(a), sorted(k))))
    post = opt.register_step_post_hook(lambda o, a, k: log.append(("post", len(a), sorted(k))))
    opt.register_state_dict_pre_hook(lambda o: log.append("sd_pre"))
    opt.register_state_dict_post_hook(lambda o, sd: {**sd, "extra": 1})
    opt.register_load_state_dict_pre_hook(
        lambda o, sd: {k: v for k, v in sd.items() if k != "extra"}
    )
    opt.register_load_state_dict_post_hook(lambda o: log.append("load_post"))
    opt.register_load_state_dict_post_hook(lambda o: log.append("load_post_first"), prepend=True)
    (w**2).sum().backward()
    opt.step()
    opt.step(closure=None)
    sd = opt.state_dict()
    assert sorted(sd) == ["extra", "param_groups", "state"]
    opt.load_state_dict(sd)
    pre.remove()
    post.remove()
    opt.step()
    # What PyTorch 2.15 records for the same calls.
    assert log == [
        ("pre", 1, []),
        ("post", 1, []),
        ("pre", 1, ["closure"]),
        ("post", 1, ["closure"]),
        "sd_pre",
        "load_post_first",
        "load_post",
    ]


def test_step_hooks_wrap_custom_and_lbfgs_steps_once() -> None:
    w = _leaf(1.0, 2.0)
    log: list[str] = []
    opt = _Mine([w])
    opt.register_step_post_hook(lambda o, a, k: log.append("mine"))
    (w**2).sum().backward()
    opt.step()
    lbfgs = dm.optim.LBFGS([w])
    lbfgs.register_step_post_hook(lambda o, a, k: log.append("lbfgs"))

    def closure() -> dm.Tensor:
        lbfgs.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    lbfgs.step(closure)
    assert log == ["mine", "lbfgs"]


def test_step_pre_hook_may_replace_the_arguments() -> None:
    w = _leaf(1.0)
    opt = dm.optim.SGD([w], lr=0.1)
    calls: list[int] = []

    def closure() -> dm.Tensor:
        calls.append(1)
        opt.zero_grad()
        loss = (w * 3).sum()
        loss.backward()
        return loss

    opt.register_step_pre_hook(lambda o, a, k: (a, {"closure": closure}))
    loss = opt.step()
    assert calls == [1] and loss is not None
    np.testing.assert_allclose(w.detach().numpy(), [0.7], rtol=1e-6)
    opt.register_step_pre_hook(lambda o, a, k: "bad")
    with pytest.raises(RuntimeError, match="must return None or a tuple"):
        opt.step()


# ---- data ----------------------------------------------------------------------------------------


def test_collating_numpy_arrays_of_different_shapes_is_a_shape_error() -> None:
    with pytest.raises(dm.ShapeError, match=r"equal size.*\[\(2,\), \(3,\)\]"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(RuntimeError, match="equal size"):  # PyTorch's type still catches it
        list(DataLoader([np.zeros(2), np.zeros(3)], batch_size=2))
