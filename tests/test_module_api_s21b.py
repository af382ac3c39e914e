"""nn.Module API parity with PyTorch (session 21b differential tests): ``state_dict``'s
``_metadata``, global module hooks, PyTorch's always-present hook tables, the deprecated
``register_backward_hook``, ``Parameter()``/deepcopy, ``to_empty``. Expected values were
taken from PyTorch 2.x runs of the same programs."""

from __future__ import annotations

import copy
import importlib
from collections import OrderedDict
from typing import Any

import pytest

import democratising as dm
from democratising import nn
from democratising.nn.module import Module

# PyTorch's paths, made at import time (so typed ``Any`` here).
MM: Any = importlib.import_module("democratising.nn.modules.module")
UTILS: Any = importlib.import_module("democratising.nn.modules.utils")


def test_state_dict_metadata_holds_each_module_version() -> None:
    m = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU()))
    sd = m.state_dict()
    assert dict(sd._metadata) == {  # type: ignore[attr-defined]
        "": {"version": 1},
        "0": {"version": 1},
        "1": {"version": 1},
        "1.0": {"version": 1},
    }
    assert dict(m.state_dict(prefix="a.b.")._metadata) == {  # type: ignore[attr-defined]
        "a.b": {"version": 1},
        "a.b.0": {"version": 1},
        "a.b.1": {"version": 1},
        "a.b.1.0": {"version": 1},
    }

    class V(nn.Module):
        _version = 3

        def __init__(self) -> None:
            super().__init__()
            self.l = nn.Linear(1, 1)

        def get_extra_state(self) -> Any:  # the hooked path of state_dict records it too
            return 0

        def set_extra_state(self, state: Any) -> None:
            pass

    assert dict(V().state_dict()._metadata) == {  # type: ignore[attr-defined]
        "": {"version": 3},
        "l": {"version": 1},
    }


def test_load_passes_the_saved_metadata_to_each_module() -> None:
    m = nn.Linear(2, 1)
    sd = m.state_dict()
    sd._metadata[""]["version"] = 7  # type: ignore[attr-defined]
    seen: list[dict[str, Any]] = []
    m.register_load_state_dict_pre_hook(lambda mod, s, prefix, meta, *a: seen.append(dict(meta)))
    m.load_state_dict(sd)
    m.load_state_dict(dict(sd))  # a plain dict has no metadata: an empty one
    m.load_state_dict(sd, assign=True)
    assert seen == [{"version": 7}, {}, {"version": 7, "assign_to_params_buffers": True}]


def test_load_one_element_1d_value_into_0d_buffer() -> None:
    m = nn.BatchNorm1d(3)
    sd = m.state_dict()
    sd["num_batches_tracked"] = dm.tensor([5])  # older checkpoints saved scalars as (1,)
    r = m.load_state_dict(sd)
    assert repr(r) == "<All keys matched successfully>"
    assert m.num_batches_tracked.shape == () and int(m.num_batches_tracked) == 5
    sd["num_batches_tracked"] = dm.tensor([5, 6])
    with pytest.raises(RuntimeError, match="size mismatch for num_batches_tracked"):
        m.load_state_dict(sd)


def test_global_forward_hooks_run_for_every_module_and_uninstall() -> None:
    plain = Module.__call__
    mm = MM
    log: list[str] = []
    h = mm.register_module_forward_hook(lambda mod, a, o: log.append(type(mod).__name__))
    h2 = mm.register_module_forward_pre_hook(lambda mod, a: log.append("pre:" + type(mod).__name__))
    m = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    try:
        m(dm.ones(1, 2))
    finally:
        h.remove()
        h2.remove()
    assert log == ["pre:Sequential", "pre:Linear", "Linear", "pre:ReLU", "ReLU", "Sequential"]
    assert Module.__call__ is plain  # no global hook left: the plain call again
    m(dm.ones(1, 2))
    assert len(log) == 6


def test_global_forward_pre_hook_replaces_args_and_always_call_runs_on_error() -> None:
    mm = MM
    h = mm.register_module_forward_pre_hook(lambda mod, a: (a[0] * 2,))
    try:
        assert nn.Identity()(dm.ones(1)).tolist() == [2.0]
    finally:
        h.remove()
    assert nn.Identity()(dm.ones(1)).tolist() == [1.0]

    class Boom(nn.Module):
        def forward(self, x: Any) -> Any:
            raise ValueError("b")

    log: list[Any] = []
    h = mm.register_module_forward_hook(lambda mod, a, o: log.append(("g", o)), always_call=True)
    try:
        with pytest.raises(ValueError):
            Boom()(dm.ones(1))
    finally:
        h.remove()
    assert log == [("g", None)]


def test_global_backward_hooks_run_before_the_modules_own() -> None:
    mm = MM
    log: list[str] = []
    m = nn.Linear(2, 1)
    m.register_full_backward_hook(lambda mod, gi, go: log.append("own"))
    m.register_full_backward_pre_hook(lambda mod, go: log.append("ownpre"))
    h1 = mm.register_module_full_backward_hook(lambda mod, gi, go: log.append("g"))
    h2 = mm.register_module_full_backward_pre_hook(lambda mod, go: log.append("gpre"))
    x = dm.ones(1, 2, requires_grad=True)
    try:
        m(x).sum().backward()
    finally:
        h1.remove()
        h2.remove()
    m(x).sum().backward()
    assert log == ["gpre", "ownpre", "g", "own", "ownpre", "own"]


def test_forward_hook_added_by_a_pre_hook_runs_in_the_same_call() -> None:
    m = nn.Identity()
    log: list[str] = []
    m.register_forward_pre_hook(
        lambda mod, a: mod.register_forward_hook(lambda *_: log.append("late"))
    )
    m(dm.ones(1))
    assert log == ["late"]


def test_hook_tables_exist_and_clearing_them_unregisters() -> None:
    m = nn.Linear(2, 2)
    assert isinstance(m._forward_hooks, OrderedDict) and len(m._forward_hooks) == 0
    assert isinstance(m._load_state_dict_post_hooks, OrderedDict)
    log: list[int] = []
    h = m.register_forward_hook(lambda *a: log.append(1))
    assert h.id in m._forward_hooks
    m._forward_hooks.clear()
    m(dm.ones(1, 2))
    assert log == []
    m.register_buffer("a", dm.zeros(1), persistent=False)
    assert m._non_persistent_buffers_set == {"a"}
    m._non_persistent_buffers_set.discard("a")
    assert "a" in m.state_dict()
    with pytest.raises(AttributeError, match="no attribute '_nothing'"):
        m._nothing  # noqa: B018


def test_register_backward_hook_runs_as_the_full_hook() -> None:
    m = nn.Linear(2, 1)
    log: list[Any] = []
    with pytest.warns(FutureWarning, match="register_full_backward_hook"):
        m.register_backward_hook(lambda mod, gi, go: log.append((len(gi), go[0].tolist())))
    m(dm.ones(1, 2, requires_grad=True)).sum().backward()
    assert log == [(1, [[1.0]])]


def test_private_load_pre_hook_without_module() -> None:
    m = nn.Linear(1, 1)
    seen: list[str] = []
    m._register_load_state_dict_pre_hook(lambda sd, prefix, *a: seen.append(prefix))
    m._register_load_state_dict_pre_hook(
        lambda mod, sd, prefix, *a: seen.append(type(mod).__name__), with_module=True
    )
    m.load_state_dict(m.state_dict())
    assert seen == ["", "Linear"]


def test_parameter_without_data_is_empty() -> None:
    p = nn.Parameter()
    assert isinstance(p, nn.Parameter) and p.shape == (0,) and p.requires_grad


def test_deepcopy_of_a_model_drops_grads_keeps_ties() -> None:
    m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    m[1].weight = m[0].weight
    m(dm.ones(1, 2)).sum().backward()
    c = copy.deepcopy(m)
    assert c[1].weight is c[0].weight and c[0].weight is not m[0].weight
    assert all(p.grad is None for p in c.parameters())
    assert all(p.grad is not None for p in m.parameters())
    assert c[0].weight.tolist() == m[0].weight.tolist()
    opt = dm.optim.SGD(c.parameters(), lr=0.1)
    before = c[0].weight.tolist()
    opt.step()  # no backward yet on the copy: nothing to step
    assert c[0].weight.tolist() == before


def test_to_empty_keeps_parameter_objects_shapes_and_dtypes() -> None:
    m = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)).double()
    w = m[0].weight
    assert m.to_empty(device="cpu") is m
    assert m[0].weight is w and w.shape == (3, 2) and w.dtype == dm.float64
    assert m[1].running_mean.dtype == dm.float64
    assert m[1].num_batches_tracked.dtype == dm.int64


def test_consume_prefix_in_state_dict_if_present_loads_a_wrapped_models_state() -> None:
    class Wrapper(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = nn.Sequential(nn.Linear(1, 1))

    w = Wrapper()
    sd = w.state_dict()
    UTILS.consume_prefix_in_state_dict_if_present(sd, "module.")
    assert list(sd) == ["0.weight", "0.bias"]
    assert dict(sd._metadata) == {"": {"version": 1}, "0": {"version": 1}}  # type: ignore[attr-defined]
    m = nn.Sequential(nn.Linear(1, 1))
    assert repr(m.load_state_dict(sd)) == "<All keys matched successfully>"
    assert m[0].weight.tolist() == w.module[0].weight.tolist()


def test_global_registration_hooks_see_every_registration() -> None:
    mm = MM
    log: list[Any] = []

    def shape(v: Any) -> Any:
        return None if v is None else tuple(v.shape)

    hp = mm.register_module_parameter_registration_hook(
        lambda m, n, v: log.append(("p", type(m).__name__, n, shape(v)))
    )
    hb = mm.register_module_buffer_registration_hook(
        lambda m, n, v: log.append(("b", type(m).__name__, n, shape(v)))
    )
    hm = mm.register_module_module_registration_hook(
        lambda m, n, v: log.append(("m", type(m).__name__, n, type(v).__name__))
    )
    try:
        s = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
        s.extra = nn.ReLU()
        s[0].register_buffer("zz", None)
        s[0].register_parameter("q", None)  # no hook for an empty parameter slot
        s[1].running_mean = dm.zeros(3)
        s.add_module("k", nn.Tanh())
    finally:
        hp.remove()
        hb.remove()
        hm.remove()
    n = len(log)
    nn.Linear(1, 1)
    assert len(log) == n
    assert log == [  # PyTorch's log of the same program
        ("p", "Linear", "weight", (3, 2)),
        ("p", "Linear", "bias", (3,)),
        ("p", "BatchNorm1d", "weight", (3,)),
        ("p", "BatchNorm1d", "bias", (3,)),
        ("b", "BatchNorm1d", "running_mean", (3,)),
        ("b", "BatchNorm1d", "running_var", (3,)),
        ("b", "BatchNorm1d", "num_batches_tracked", ()),
        ("m", "Sequential", "0", "Linear"),
        ("m", "Sequential", "1", "BatchNorm1d"),
        ("m", "Sequential", "extra", "ReLU"),
        ("b", "Linear", "zz", None),
        ("b", "BatchNorm1d", "running_mean", (3,)),
        ("m", "Sequential", "k", "Tanh"),
    ]


def test_registration_hook_result_is_registered() -> None:
    h = MM.register_module_buffer_registration_hook(
        lambda m, n, v: dm.full((2,), 7.0) if n == "x" else None
    )
    try:
        m = nn.Module()
        m.register_buffer("x", dm.zeros(2))
        m.register_buffer("y", dm.zeros(2))
    finally:
        h.remove()
    assert m.x.tolist() == [7.0, 7.0] and m.y.tolist() == [0.0, 0.0]


def test_deleting_a_buffer_forgets_it() -> None:
    m = nn.Module()
    m.register_buffer("b", dm.zeros(1), persistent=False)
    del m.b
    assert m._non_persistent_buffers_set == set()
    m.b = dm.ones(1)  # a plain attribute now, as in PyTorch
    assert list(m._buffers) == [] and list(m.state_dict()) == [] and "b" in m.__dict__
    del m.b
    m.register_buffer("b", dm.zeros(1))  # persistent again
    assert list(m.state_dict()) == ["b"]


def test_assigning_a_parametrized_buffer_goes_through_right_inverse() -> None:
    class Triple(nn.Module):
        def forward(self, x: Any) -> Any:
            return x * 3

        def right_inverse(self, x: Any) -> Any:
            return x / 3

    m = nn.BatchNorm1d(2)
    nn.utils.parametrize.register_parametrization(m, "running_mean", Triple())
    m.running_mean = dm.full((2,), 6.0)
    assert m.running_mean.tolist() == [6.0, 6.0]
    assert m.parametrizations.running_mean.original.tolist() == [2.0, 2.0]
    assert list(m._buffers) == ["running_var", "num_batches_tracked"]
    assert list(m.state_dict()) == [
        "weight",
        "bias",
        "running_var",
        "num_batches_tracked",
        "parametrizations.running_mean.original",
    ]


def test_a_non_tensor_input_to_a_built_in_layer_is_a_type_error() -> None:
    for layer in (nn.BatchNorm1d(2), nn.ReLU(), nn.Flatten(), nn.LSTM(2, 3)):
        with pytest.raises(TypeError, match="Tensor"):
            layer(None)

    class Mine(nn.Module):
        def forward(self, x):  # type: ignore[no-untyped-def]
            return x.missing_method()

    with pytest.raises(AttributeError):  # a user's own bug stays as it is
        Mine()(dm.ones(1))


def test_batch_norm_records_pytorchs_version_in_the_metadata() -> None:
    sd = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).state_dict()
    assert sd._metadata["1"] == {"version": 2} and sd._metadata["0"] == {"version": 1}
