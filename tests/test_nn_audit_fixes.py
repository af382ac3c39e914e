"""Audit fixes in ``nn``: container mutation (``Sequential``/``ModuleList``/``ModuleDict``),
``Module.__setattr__`` type checks, ``state_dict`` of shared submodules, ``load_state_dict``'s
``assign``, full backward (pre-)hooks, ``Module.type`` and argument checks in BCE and group
norm. Expected values are PyTorch 2.x's for the same code."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import nn
from democratising.errors import (
    ArgumentTypeError,
    AutogradError,
    IndexOutOfRangeError,
    InvalidValueError,
    ShapeError,
)


def names(container: nn.Module) -> list[str]:
    return [type(m).__name__ for m in container]


def four() -> list[nn.Module]:
    return [nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.ELU()]


# ---- Sequential --------------------------------------------------------------------------------


def test_sequential_setitem_replaces_in_place_negative_index():
    seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    new = nn.Linear(2, 3)
    seq[-1] = new
    assert seq[1] is new
    assert list(seq._modules) == ["0", "1"]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert seq(dm.ones(1, 2)).shape == (1, 3)


def test_sequential_index_errors_match_pytorch():
    seq = nn.Sequential(*four()[:3])
    with pytest.raises(IndexError, match="index 5 is out of range"):
        seq[5]
    with pytest.raises(IndexError, match="index -4 is out of range"):
        seq[-4]
    with pytest.raises(IndexOutOfRangeError, match="index 3 is out of range"):
        seq[3] = nn.ReLU()
    with pytest.raises(IndexError, match="index 5 is out of range"):
        del seq[5]
    with pytest.raises(TypeError, match=r"cannot assign 'int' as child module '0'"):
        seq[0] = 3
    assert names(seq) == ["ReLU", "Tanh", "Sigmoid"]


def test_sequential_delitem_renumbers():
    seq = nn.Sequential(*four())
    del seq[0]
    assert list(seq._modules) == ["0", "1", "2"]
    assert names(seq) == ["Tanh", "Sigmoid", "ELU"]
    seq = nn.Sequential(*four())
    del seq[1:3]
    assert list(seq._modules) == ["0", "1"]
    assert names(seq) == ["ReLU", "ELU"]


def test_sequential_named_children_renumber_after_delete_and_setitem_keeps_name():
    seq = nn.Sequential(OrderedDict(a=nn.ReLU(), b=nn.Tanh(), c=nn.GELU()))
    seq[1] = nn.ELU()
    assert list(seq._modules) == ["a", "b", "c"]
    assert names(seq) == ["ReLU", "ELU", "GELU"]
    del seq[0]
    assert list(seq._modules) == ["0", "1"]  # PyTorch renumbers named children too
    seq.append(nn.ReLU())
    assert list(seq._modules) == ["0", "1", "2"]


def test_sequential_pop_insert_extend():
    seq = nn.Sequential(*four())
    popped = seq.pop(1)
    assert type(popped).__name__ == "Tanh"
    assert names(seq) == ["ReLU", "Sigmoid", "ELU"]
    assert type(seq.pop(-1)).__name__ == "ELU"
    assert list(seq._modules) == ["0", "1"]
    assert seq.insert(1, nn.GELU()) is seq
    assert names(seq) == ["ReLU", "GELU", "Sigmoid"]
    seq.insert(-1, nn.Tanh())
    assert names(seq) == ["ReLU", "GELU", "Tanh", "Sigmoid"]
    seq.insert(4, nn.ELU())  # == len: appends
    assert names(seq)[-1] == "ELU"
    assert list(seq._modules) == ["0", "1", "2", "3", "4"]
    with pytest.raises(IndexError, match="Index out of range: 10"):
        seq.insert(10, nn.ReLU())
    with pytest.raises(IndexError, match="Index out of range: -10"):
        seq.insert(-10, nn.ReLU())
    with pytest.raises(TypeError):
        seq.insert(0, 3)
    with pytest.raises(IndexError, match="index 20 is out of range"):
        seq.pop(20)
    assert seq.extend([nn.ReLU()]) is seq
    assert len(seq) == 6


def test_sequential_pop_slice_and_operators():
    seq = nn.Sequential(*four())
    part = seq.pop(slice(1, 3))
    assert isinstance(part, nn.Sequential)
    assert names(part) == ["Tanh", "Sigmoid"]
    assert names(seq) == ["ReLU", "ELU"]
    both = seq + nn.Sequential(nn.GELU())
    assert names(both) == ["ReLU", "ELU", "GELU"]
    assert list(both._modules) == ["0", "1", "2"]
    with pytest.raises(ValueError, match="supports only objects of Sequential class"):
        seq + nn.ModuleList([nn.ReLU()])
    assert list((seq * 2)._modules) == ["0", "1", "2", "3"]
    assert (2 * seq)[2] is seq[0]
    one = nn.Sequential(nn.ReLU())
    one *= 3
    assert list(one._modules) == ["0", "1", "2"]
    one += nn.Sequential(nn.Tanh())
    assert names(one)[-1] == "Tanh"
    with pytest.raises(ValueError, match="Non-positive multiplication factor 0"):
        seq * 0
    with pytest.raises(TypeError, match="unsupported operand"):
        seq * 1.5


# ---- ModuleList --------------------------------------------------------------------------------


def test_modulelist_setitem_delitem_pop():
    ml = nn.ModuleList(four())
    ml[-1] = nn.GELU()
    assert names(ml) == ["ReLU", "Tanh", "Sigmoid", "GELU"]
    del ml[1:3]
    assert names(ml) == ["ReLU", "GELU"]
    assert list(ml._modules) == ["0", "1"]
    ml = nn.ModuleList(four())
    assert type(ml.pop(-2)).__name__ == "Sigmoid"
    assert list(ml._modules) == ["0", "1", "2"]
    assert names(ml) == ["ReLU", "Tanh", "ELU"]
    part = ml.pop(slice(0, 2))
    assert isinstance(part, nn.ModuleList) and names(part) == ["ReLU", "Tanh"]
    assert names(ml) == ["ELU"]
    ml[0] = None
    assert list(ml._modules.items()) == [("0", None)]


def test_modulelist_errors():
    ml = nn.ModuleList(four())
    with pytest.raises(IndexError, match="index 5 is out of range"):
        ml[5] = nn.ReLU()
    with pytest.raises(IndexError, match="index -5 is out of range"):
        ml[-5]
    with pytest.raises(TypeError, match=r"cannot assign 'int' as child module '0'"):
        ml[0] = 3
    with pytest.raises(TypeError, match="int is not a Module subclass"):
        ml.append(3)
    with pytest.raises(TypeError, match=r"ModuleList\.extend should be called with an iterable"):
        ml.extend(3)
    assert len(ml) == 4


def test_modulelist_insert_add_state_dict():
    ml = nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 2)])
    ml.insert(1, nn.Linear(1, 3))
    assert [m.out_features for m in ml] == [1, 3, 2]
    assert list(ml.state_dict())[:4] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert tuple(ml.state_dict()["1.weight"].shape) == (3, 1)
    ml.insert(-1, nn.Linear(1, 4))
    assert [m.out_features for m in ml] == [1, 3, 4, 2]
    combined = ml + nn.ModuleList([nn.ReLU()])
    assert isinstance(combined, nn.ModuleList) and len(combined) == 5 and len(ml) == 4


# ---- ModuleDict --------------------------------------------------------------------------------


def test_moduledict_pop_update_clear_del():
    md = nn.ModuleDict({"a": nn.ReLU(), "b": nn.Tanh()})
    assert type(md.pop("a")).__name__ == "ReLU"
    assert list(md.keys()) == ["b"]
    with pytest.raises(KeyError):
        md.pop("zz")
    md.update([("c", nn.ELU()), ["d", nn.GELU()]])
    md.update({"b": nn.ReLU()})
    assert list(md.keys()) == ["b", "c", "d"]
    assert type(md["b"]).__name__ == "ReLU"
    md.update(nn.ModuleDict({"e": nn.Sigmoid()}))
    assert list(md) == ["b", "c", "d", "e"]
    del md["c"]
    assert list(md) == ["b", "d", "e"]
    md.clear()
    assert len(md) == 0
    assert nn.ModuleDict([("x", nn.ReLU())])["x"].__class__.__name__ == "ReLU"


def test_moduledict_errors():
    md = nn.ModuleDict()
    with pytest.raises(TypeError, match=r"ModuleDict\.update should be called with an iterable"):
        md.update(3)
    with pytest.raises(ValueError, match="element #0 has length 1; 2 is required"):
        md.update([("c",)])
    with pytest.raises(TypeError, match="element #0 should be Iterable"):
        md.update([3])
    with pytest.raises(TypeError, match="int is not a Module subclass"):
        md["x"] = 3
    assert len(md) == 0


# ---- Module.__setattr__ ------------------------------------------------------------------------


class _Holder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(dm.zeros(2))
        self.sub = nn.Linear(1, 1)
        self.register_buffer("buf", dm.zeros(2))


def test_assigning_tensor_to_parameter_raises():
    m = _Holder()
    with pytest.raises(
        TypeError,
        match=r"cannot assign 'torch.FloatTensor' as parameter 'w' "
        r"\(torch.nn.Parameter or None expected\)",
    ):
        m.w = dm.zeros(2)
    assert isinstance(m.w, nn.Parameter)
    assert [n for n, _ in m.named_parameters()] == ["w", "sub.weight", "sub.bias"]
    m.w = None
    assert m.w is None and "w" in m._parameters
    assert [n for n, _ in m.named_parameters()] == ["sub.weight", "sub.bias"]
    m.w = nn.Parameter(dm.ones(3))
    assert tuple(m.w.shape) == (3,)


def test_assigning_non_module_to_submodule_raises():
    m = _Holder()
    with pytest.raises(ArgumentTypeError, match=r"cannot assign 'int' as child module 'sub'"):
        m.sub = 3
    assert isinstance(m.sub, nn.Linear)
    m.sub = None
    assert m.sub is None and "sub" in m._modules
    m.sub = nn.ReLU()
    assert isinstance(m.sub, nn.ReLU)


def test_buffer_accepts_tensor_and_rejects_other():
    m = _Holder()
    m.buf = dm.ones(4)
    assert m._buffers["buf"].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert list(m.state_dict()) == ["w", "buf", "sub.weight", "sub.bias"]
    with pytest.raises(TypeError, match=r"cannot assign 'int' as buffer 'buf'"):
        m.buf = 3
    m.buf = None
    assert m.buf is None


def test_register_parameter_rejects_plain_tensor():
    m = nn.Module()
    with pytest.raises(TypeError, match=r"cannot assign 'torch\.FloatTensor' object to parameter"):
        m.register_parameter("p", dm.zeros(1))
    assert "p" not in m._parameters and "p" not in m.__dict__


# ---- state_dict of a shared submodule ----------------------------------------------------------


def test_state_dict_lists_every_path_to_shared_module():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, lin)
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    assert len(list(seq.parameters())) == 2
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert [n for n, _ in seq.named_modules()] == ["", "0"]
    assert [n for n, _ in seq.named_modules(remove_duplicate=False)] == ["", "0", "1"]
    assert [n for n, _ in seq.named_parameters(remove_duplicate=False)] == [
        "0.weight",
        "0.bias",
        "1.weight",
        "1.bias",
    ]


def test_load_state_dict_of_shared_module():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, lin)
    sd = {k: dm.full(tuple(v.shape), 3.0) for k, v in seq.state_dict().items()}
    assert seq.load_state_dict(sd) == ([], [])
    assert lin.weight.tolist() == [[3.0, 3.0], [3.0, 3.0]]
    other = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    assert other.load_state_dict(seq.state_dict()) == ([], [])
    # and the shared model loads a state_dict of an unshared one
    sd2 = {k: v * 2 for k, v in other.state_dict().items()}
    seq.load_state_dict(sd2)
    assert lin.bias.tolist() == [6.0, 6.0]
    missing = {k: v for k, v in sd2.items() if not k.startswith("1.")}
    with pytest.raises(RuntimeError, match=r"1\.weight"):
        seq.load_state_dict(missing)


# ---- load_state_dict(assign=) ------------------------------------------------------------------


def test_load_state_dict_assign():
    lin = nn.Linear(2, 1)
    old = lin.weight
    lin.weight.requires_grad_(False)
    new_w = dm.tensor([[5.0, 6.0]], dtype=dm.float64)
    new_b = dm.tensor([7.0], dtype=dm.float64)
    lin.load_state_dict({"weight": new_w, "bias": new_b}, assign=True)
    assert lin.weight is not old
    assert isinstance(lin.weight, nn.Parameter) and isinstance(lin.bias, nn.Parameter)
    assert lin.weight.dtype == dm.float64  # assign keeps the loaded tensor's dtype
    assert lin.weight.tolist() == [[5.0, 6.0]]
    assert lin.weight.requires_grad is False and lin.bias.requires_grad is True
    assert old.tolist() != [[5.0, 6.0]]
    lin2 = nn.Linear(2, 1)
    keep = lin2.weight
    lin2.load_state_dict({"weight": dm.ones(1, 2), "bias": dm.zeros(1)}, assign=False)
    assert lin2.weight is keep and keep.tolist() == [[1.0, 1.0]]
    bn = nn.BatchNorm1d(2)
    sd = {k: v.clone() + 1 for k, v in bn.state_dict().items()}
    bn.load_state_dict(sd, assign=True)
    assert bn.running_mean.tolist() == [1.0, 1.0]
    with pytest.raises(ShapeError, match="size mismatch for weight"):
        nn.Linear(2, 1).load_state_dict({"weight": dm.ones(2, 2), "bias": dm.ones(1)}, assign=True)


# ---- full backward hooks -----------------------------------------------------------------------


def _lin() -> nn.Linear:
    lin = nn.Linear(3, 2)
    with dm.no_grad():
        lin.weight.copy_(dm.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
        lin.bias.copy_(dm.tensor([0.5, -0.5]))
    return lin


def _values(t):
    return None if t is None else np.round(t.detach().numpy().reshape(-1), 4).tolist()


def test_full_backward_hook_sees_grad_input_and_grad_output():
    lin = _lin()
    log = []
    handle = lin.register_full_backward_hook(
        lambda m, gi, go: log.append((m, [_values(g) for g in gi], [_values(g) for g in go]))
    )
    x = dm.tensor([[1.0, 1.0, 1.0]], requires_grad=True)
    (lin(x) * dm.tensor([[1.0, 2.0]])).sum().backward()
    assert log == [(lin, [[9.0, 12.0, 15.0]], [[1.0, 2.0]])]
    assert x.grad.tolist() == [[9.0, 12.0, 15.0]]
    log.clear()
    lin(dm.tensor([[1.0, 1.0, 1.0]])).sum().backward()  # no input requires grad
    assert log == [(lin, [None], [[1.0, 1.0]])]
    handle.remove()
    log.clear()
    lin(x).sum().backward()
    assert log == []


def test_full_backward_hook_replaces_grad_input():
    lin = _lin()
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0] * 10,))
    x = dm.tensor([[1.0, 1.0, 1.0]], requires_grad=True)
    lin(x).sum().backward()
    assert x.grad.tolist() == [[50.0, 70.0, 90.0]]
    assert lin.weight.grad.tolist() == [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]


def test_full_backward_pre_hook_replaces_grad_output():
    lin = _lin()
    lin.register_full_backward_pre_hook(lambda m, go: (go[0] * 0 + 1,))
    x = dm.tensor([[1.0, 1.0, 1.0]], requires_grad=True)
    (lin(x) * 7).sum().backward()
    assert x.grad.tolist() == [[5.0, 7.0, 9.0]]
    assert lin.weight.grad.tolist() == [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]


def test_full_backward_hook_several_inputs_and_outputs():
    class Two(nn.Module):
        def forward(self, a, k, b):
            return a * b * k, a + b

    log = []
    two = Two()
    two.register_full_backward_hook(
        lambda m, gi, go: log.append(([_values(g) for g in gi], [_values(g) for g in go]))
    )
    a = dm.tensor([1.0, 2.0], requires_grad=True)
    b = dm.tensor([3.0, 4.0], requires_grad=True)
    out, _ = two(a, 2.0, b)
    out.sum().backward()
    assert log == [([[6.0, 8.0], None, [2.0, 4.0]], [[1.0, 1.0], None])]
    assert a.grad.tolist() == [6.0, 8.0] and b.grad.tolist() == [2.0, 4.0]


def test_full_backward_hook_order_and_double_backward():
    seq = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 1))
    order = []
    for i, m in enumerate(seq):
        m.register_full_backward_hook(lambda m, gi, go, i=i: order.append(i))
    seq(dm.ones(2, 3, requires_grad=True)).sum().backward()
    assert order == [2, 1, 0]

    class Sq(nn.Module):
        def forward(self, x):
            return x * x

    calls = []
    sq = Sq()
    sq.register_full_backward_hook(lambda m, gi, go: calls.append(1))
    x = dm.tensor([3.0], requires_grad=True)
    (g,) = dm.autograd.grad(sq(x).sum(), x, create_graph=True)
    assert g.tolist() == [6.0] and len(calls) == 1
    (g2,) = dm.autograd.grad(g.sum(), x)
    assert g2.tolist() == [2.0] and len(calls) == 1
    with dm.no_grad():
        assert sq(x).requires_grad is False


def test_full_backward_hook_bad_results_raise():
    lin = nn.Linear(2, 2)
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with pytest.raises(
        RuntimeError, match="invalid number of grad_input, got 2, but expected 1"
    ) as info:
        lin(dm.ones(1, 2, requires_grad=True)).sum().backward()
    assert isinstance(info.value, AutogradError)

    def shrink(m, gi, go):
        return (gi[0].sum(),)

    lin2 = nn.Linear(2, 2)
    lin2.register_full_backward_hook(shrink)
    with pytest.raises(RuntimeError, match="hook 'shrink' has changed the size of value"):
        lin2(dm.ones(1, 2, requires_grad=True)).sum().backward()


# ---- Module.type, BCE, group norm --------------------------------------------------------------


def test_module_type_casts_parameters_and_buffers():
    bn = nn.BatchNorm1d(2)
    w = bn.weight
    assert bn.type(dm.float64) is bn
    assert bn.weight is w and w.dtype == dm.float64
    assert bn.running_mean.dtype == dm.float64
    assert bn.num_batches_tracked.dtype == dm.float64  # as PyTorch: every tensor is cast
    bn.type("torch.FloatTensor")
    assert bn.weight.dtype == dm.float32


@pytest.mark.parametrize("bad", [1.5, -0.5, float("nan")])
def test_bce_rejects_input_outside_unit_interval(bad):
    x = dm.tensor([bad, 0.2])
    y = dm.tensor([1.0, 0.0])
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        F.binary_cross_entropy(x, y)
    with pytest.raises(InvalidValueError):
        nn.BCELoss()(x, y)


def test_bce_accepts_bounds():
    loss = F.binary_cross_entropy(dm.tensor([0.0, 1.0, 0.5]), dm.tensor([0.0, 1.0, 1.0]))
    assert loss.item() == pytest.approx(0.6931471805599453 / 3, rel=1e-6)


@pytest.mark.parametrize("groups", [0, -2])
def test_group_norm_rejects_non_positive_groups(groups):
    with pytest.raises(ValueError, match=f"Expected num groups to be greater than 0, got {groups}"):
        F.group_norm(dm.ones(2, 4, 3), groups)
    with pytest.raises(InvalidValueError):
        nn.GroupNorm(groups, 4)
