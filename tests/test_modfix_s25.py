"""Regression tests for the session-25 ``nn.Module`` machinery fixes: per-module loading and
saving (``_load_from_state_dict`` / ``_save_to_state_dict``), ``_apply``, the norm layers'
``num_batches_tracked`` upgrade, ``zero_grad`` in place, backward pre-hooks returning ``None``,
``Sequential(None)``, ``_get_name``, ``to``'s argument check and lazy placeholders' copies.
Expected values are PyTorch 2.x's (taken from it as constants)."""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict
from typing import Any

import pytest

import democratising as dm
from democratising import nn
from democratising.errors import ShapeError


class _Inner(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(2, 2)
        self.bn = nn.BatchNorm1d(2)


def _nested() -> nn.Sequential:
    return nn.Sequential(_Inner(), nn.Linear(2, 2), _Inner())


def _values(m: nn.Module) -> list[Any]:
    return [t.tolist() for t in m.state_dict().values() if isinstance(t, dm.Tensor)]


def test_missing_and_unexpected_keys_in_pytorch_order() -> None:
    m = _nested()
    sd = dict(m.state_dict())
    for k in ("0.zz", "0.a.q", "zz.y.x", "1.bias.x", "2._extra_state", "top"):
        sd[k] = dm.tensor([1.0])
    del sd["2.bn.running_mean"], sd["0.a.weight"]
    keys = m.load_state_dict(sd, strict=False)
    assert keys.missing_keys == ["0.a.weight", "2.bn.running_mean"]
    assert keys.unexpected_keys == ["zz.y.x", "top", "0.zz", "0.a.q", "1.bias.x", "2._extra_state"]
    with pytest.raises(RuntimeError) as info:
        m.load_state_dict(sd)
    lines = str(info.value).split("\n\t")
    assert lines[1].startswith('Missing key(s) in state_dict: "0.a.weight", "2.bn.running_mean"')
    assert lines[2].startswith('Unexpected key(s) in state_dict: "zz.y.x", "top", "0.zz"')


def test_failed_strict_load_changes_nothing_with_norm_layers_and_extra_state() -> None:
    class Extra(nn.Linear):
        got: list[Any] = []

        def get_extra_state(self) -> Any:
            return {"n": 1}

        def set_extra_state(self, state: Any) -> None:
            self.got.append(state)

    m = nn.Sequential(_nested(), Extra(2, 2))
    before = _values(m)
    sd = OrderedDict(
        (k, v + 1 if isinstance(v, dm.Tensor) and v.dtype.is_floating_point else v)
        for k, v in m.state_dict().items()
    )
    sd["unexpected"] = dm.ones(1)
    with pytest.raises(RuntimeError, match="Unexpected key"):
        m.load_state_dict(sd)
    assert _values(m) == before and Extra.got == []
    del sd["unexpected"]
    assert m.load_state_dict(sd).all_matched()
    assert _values(m) != before and Extra.got == [{"n": 1}]


def test_override_calling_super_sees_the_loaded_values() -> None:
    class Doubled(nn.Linear):
        def _load_from_state_dict(self, *args: Any) -> None:
            super()._load_from_state_dict(*args)
            with dm.no_grad():
                self.weight.mul_(2)

    m = nn.Sequential(Doubled(1, 1))
    keys = m.load_state_dict({"0.weight": dm.tensor([[3.0]]), "0.bias": dm.tensor([1.0])})
    assert keys.all_matched() and m[0].weight.tolist() == [[6.0]]


def test_noop_override_runs_no_pre_hooks_and_reports_nothing() -> None:
    class Frozen(nn.Linear):
        def _load_from_state_dict(self, *args: Any) -> None:
            pass

    m = Frozen(1, 1)
    calls: list[int] = []
    m.register_load_state_dict_pre_hook(lambda *a: calls.append(1))
    assert m.load_state_dict({"x": dm.ones(1)}).all_matched()
    assert calls == []


def test_base_load_from_state_dict_called_directly() -> None:
    lin = nn.Linear(2, 2)
    missing: list[str] = []
    unexpected: list[str] = []
    errors: list[str] = []
    sd = {
        "w.weight": dm.tensor([[1.0, 2.0], [3.0, 4.0]]),
        "w.x": dm.tensor(1.0),
        "w.bias": dm.ones(3),
        "w.c.d": dm.tensor(1.0),
    }
    lin._load_from_state_dict(sd, "w.", {}, True, missing, unexpected, errors)
    assert missing == [] and unexpected == ["w.x", "w.c.d"]
    assert len(errors) == 1 and errors[0].startswith("size mismatch for w.bias")
    assert lin.weight.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_non_strict_size_mismatch_loads_the_rest_then_raises() -> None:
    m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    sd = m.state_dict()
    sd = OrderedDict((k, dm.full(tuple(v.shape), 7.0)) for k, v in sd.items())
    sd["0.weight"] = dm.zeros(3, 3)
    with pytest.raises(ShapeError) as info:
        m.load_state_dict(sd, strict=False)
    assert str(info.value).count("\n\t") == 1
    assert m[1].weight.tolist() == [[7.0, 7.0], [7.0, 7.0]]
    assert m[0].weight.tolist() != [[7.0, 7.0], [7.0, 7.0]]


def test_batch_norm_version_1_or_none_keeps_its_count() -> None:
    bn = nn.BatchNorm1d(2)
    bn.num_batches_tracked.fill_(5)
    sd = bn.state_dict()
    del sd["num_batches_tracked"]
    sd._metadata[""]["version"] = 1  # type: ignore[attr-defined]
    assert bn.load_state_dict(sd).all_matched() and int(bn.num_batches_tracked) == 5
    assert bn.load_state_dict(dict(sd)).all_matched()  # no metadata: version None


def test_instance_norm_version_2_reports_num_batches_tracked_missing() -> None:
    m = nn.InstanceNorm1d(2, track_running_stats=True)
    sd = m.state_dict()
    del sd["num_batches_tracked"]
    assert m.load_state_dict(sd, strict=False).missing_keys == ["num_batches_tracked"]


def test_save_to_state_dict_override_in_a_child_and_keep_vars() -> None:
    class NoBias(nn.Linear):
        def _save_to_state_dict(self, dest: Any, prefix: str, keep_vars: bool) -> None:
            dest[prefix + "w"] = self.weight if keep_vars else self.weight.detach()

    m = nn.Sequential(nn.Linear(1, 1), NoBias(1, 1))
    assert list(m.state_dict()) == ["0.weight", "0.bias", "1.w"]
    assert m.state_dict(keep_vars=True)["1.w"] is m[1].weight
    assert m.state_dict()._metadata["1"] == {"version": 1}  # type: ignore[attr-defined]


def test_apply_override_on_a_child_and_tied_weights() -> None:
    seen: list[Any] = []

    class Tracked(nn.Linear):
        def _apply(self, fn: Any, recurse: bool = True) -> Any:
            seen.append(fn(dm.ones(1)).dtype)
            return super()._apply(fn, recurse)

    a, b = nn.Linear(2, 2), Tracked(2, 2)
    b.weight = a.weight
    m = nn.Sequential(a, b).double()
    assert seen == [dm.float64]
    assert m[0].weight is m[1].weight and m[1].weight.dtype == dm.float64
    m.to_empty(device="cpu", recurse=False)  # this module has none of its own
    assert m[1].bias.dtype == dm.float64


def test_to_accepts_pytorch_forms_only() -> None:
    for args in (("cpu",), (None,), (dm.float64,), ("cpu", dm.float32), ("cpu", dm.float64, False)):
        nn.Linear(1, 1).to(*args)
    assert nn.Linear(1, 1).to(dm.float32, True).weight.dtype == dm.float32
    for bad in ((dm.float64, "cpu"), (dm.float32, dm.float64), ("cpu", "cpu")):
        with pytest.raises(TypeError):
            nn.Linear(1, 1).to(*bad)


def test_zero_grad_in_place_detaches_a_graph_grad() -> None:
    lin = nn.Linear(2, 2)
    x = dm.ones(1, 2, requires_grad=True)
    lin(x).pow(2).sum().backward(create_graph=True)
    g = lin.weight.grad
    assert g is not None and g.grad_fn is not None
    lin.zero_grad(set_to_none=False)
    assert lin.weight.grad is g and g.grad_fn is None and not g.requires_grad
    assert g.tolist() == [[0.0, 0.0], [0.0, 0.0]]


def test_backward_pre_hook_none_for_one_of_two_outputs() -> None:
    class Two(nn.Module):
        def forward(self, x: Any) -> Any:
            return x * 2, x * 3

    t = Two()
    a = dm.ones(2, requires_grad=True)
    log: list[Any] = []
    t.register_full_backward_pre_hook(lambda mod, go: (None, go[1]))
    t.register_full_backward_hook(
        lambda mod, gi, go: log.append((gi[0].tolist(), go[0], go[1].tolist()))
    )
    o1, o2 = t(a)
    (o1.sum() + o2.sum()).backward()
    assert log == [([3.0, 3.0], None, [1.0, 1.0])]
    assert a.grad is not None and a.grad.tolist() == [3.0, 3.0]


def test_sequential_none_slots_and_type_check() -> None:
    s = nn.Sequential(nn.ReLU())
    s.append(None)
    assert len(s) == 2 and list(s._modules) == ["0", "1"]
    assert [n for n, _ in s.named_children()] == ["0"]
    with pytest.raises(TypeError, match="int is not a Module subclass"):
        nn.Sequential(3)


def test_get_name_names_the_repr() -> None:
    class Named(nn.Linear):
        def _get_name(self) -> str:
            return "Renamed"

    assert repr(Named(1, 1)) == "Renamed(in_features=1, out_features=1, bias=True)"


def test_lazy_placeholders_copy_and_pickle() -> None:
    bn = copy.deepcopy(nn.LazyBatchNorm1d())
    bn(dm.ones(4, 3))
    assert tuple(bn.running_mean.shape) == (3,) and type(bn).__name__ == "BatchNorm1d"
    conv = pickle.loads(pickle.dumps(nn.LazyConv1d(2, 1)))
    conv(dm.ones(1, 5, 4))
    assert tuple(conv.weight.shape) == (2, 5, 1)
    p = nn.UninitializedParameter(requires_grad=False)
    assert not copy.deepcopy(p).requires_grad
    assert not pickle.loads(pickle.dumps(p)).requires_grad
    memo: dict[int, Any] = {}
    assert copy.deepcopy(p, memo) is copy.deepcopy(p, memo)


def test_instance_norm_unversioned_running_stats_fail_the_load() -> None:
    m = nn.Sequential(nn.InstanceNorm1d(2))
    sd = {"0.running_mean": dm.zeros(2), "0.running_var": dm.ones(2)}
    for strict in (True, False):
        with pytest.raises(RuntimeError, match=r'buffer\(s\) "0.running_mean" and "0.running_var"'):
            m.load_state_dict(sd, strict=strict)
    versioned = OrderedDict(sd)
    versioned._metadata = {"0": {"version": 2}}  # type: ignore[attr-defined]
    keys = m.load_state_dict(versioned, strict=False)
    assert keys.unexpected_keys == ["0.running_mean", "0.running_var"]
