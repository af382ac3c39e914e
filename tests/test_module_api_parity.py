"""nn.Module API parity with PyTorch, checked by differential testing (values and messages
hard-coded from torch 2.15): the parameter containers and ``Sequential``'s errors."""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import democratising as dm
from democratising import nn


def test_parameter_list_holds_non_tensors_as_plain_attributes() -> None:
    pl = nn.ParameterList([dm.ones(2), "abc", 3, None])
    assert [type(x).__name__ for x in pl] == ["Parameter", "str", "int", "NoneType"]
    assert list(pl.state_dict()) == ["0"]
    assert repr(pl) == (
        "ParameterList(\n"
        f"    (0): Parameter containing: [{dm.float32} of size 2]\n"
        "    (1): Object of type: str\n"
        "    (2): Object of type: int\n"
        "    (3): Object of type: NoneType\n"
        ")"
    )


def test_parameter_list_ops_match_pytorch() -> None:
    pl = nn.ParameterList([dm.ones(2)])
    pl.append(dm.zeros(3)).extend([dm.ones(1)])
    pl += [dm.ones(4)]
    assert len(pl) == 4 and tuple(pl[-1].shape) == (4,)
    assert isinstance(pl[1], nn.Parameter) and pl[1].requires_grad
    assert list(pl.state_dict()) == ["0", "1", "2", "3"]
    s = pl[::2]
    assert isinstance(s, nn.ParameterList) and len(s) == 2 and s[1] is pl[2]
    assert list(s.state_dict()) == ["0", "1"]
    pl[0] = dm.full((2,), 5.0)
    assert isinstance(pl[0], nn.Parameter) and pl[0].tolist() == [5.0, 5.0]
    with pytest.raises(IndexError, match="index -5 is out of range"):
        pl[-5]
    with pytest.raises(TypeError, match=r"ParameterList\.extend should be called with an iterable"):
        pl.extend(dm.ones(2))
    with pytest.raises(RuntimeError, match=r"ParameterList should not be called\."):
        pl(1)
    # Assigning a non-tensor over a parameter is refused, as Module.__setattr__ does.
    with pytest.raises(TypeError):
        pl[0] = "x"
    assert [x for x in dir(pl) if x.isdigit()] == []


def test_parameter_list_in_module_state_and_copies() -> None:
    m = nn.Module()
    m.pl = nn.ParameterList([dm.ones(2)])
    m.pl.append(dm.zeros(2))
    m.load_state_dict({"pl.0": dm.full((2,), 3.0), "pl.1": dm.full((2,), 4.0)})
    assert [p.tolist() for p in m.pl] == [[3.0, 3.0], [4.0, 4.0]]
    assert [n for n, _ in m.named_parameters()] == ["pl.0", "pl.1"]
    p = m.pl[0]
    m.double()
    assert m.pl[0] is p and m.pl[0].dtype == dm.float64
    c = copy.deepcopy(nn.ParameterList([dm.ones(1), "x"]))
    assert len(c) == 2 and c[1] == "x" and list(c.state_dict()) == ["0"]


def test_parameter_dict_repr_uses_tensor_type_names() -> None:
    pd = nn.ParameterDict(OrderedDict(a=nn.Parameter(dm.ones(2)), b=dm.ones(2, 3)))
    assert repr(pd) == (
        "ParameterDict(\n"
        "    (a): Parameter containing: [torch.FloatTensor of size 2]\n"
        "    (b): Parameter containing: [torch.FloatTensor of size 2x3]\n"
        ")"
    )
    one = nn.ParameterDict({"a": dm.ones(2, dtype=dm.float64)})
    assert repr(one) == "ParameterDict(  (a): Parameter containing: [torch.DoubleTensor of size 2])"
    mixed = nn.ParameterDict(OrderedDict(a=dm.ones(2), s="hi"))
    assert list(mixed.state_dict()) == ["a"] and mixed["s"] == "hi"
    assert repr(mixed).endswith("    (s): Object of type: str\n)")


def test_parameter_dict_dict_methods() -> None:
    # A plain dict is read in sorted key order, an OrderedDict in its own (as PyTorch's).
    assert list(nn.ParameterDict({"b": dm.ones(1), "a": dm.ones(1)})) == ["a", "b"]
    assert list(nn.ParameterDict(OrderedDict(b=dm.ones(1), a=dm.ones(1)))) == ["b", "a"]
    pd = nn.ParameterDict({"a": dm.ones(2)})
    pd["b"] = dm.zeros(3)
    pd.update([("c", dm.ones(1))])
    assert list(pd.keys()) == ["a", "b", "c"] and "a" in pd and len(pd) == 3
    assert list(pd.state_dict()) == ["a", "b", "c"] and isinstance(pd["b"], nn.Parameter)
    assert isinstance(pd.pop("a"), nn.Parameter) and list(pd) == ["b", "c"]
    assert pd.get("zz", 5) == 5 and list(reversed(pd)) == ["c", "b"]
    c = pd.copy()
    assert isinstance(c, nn.ParameterDict) and c["b"] is pd["b"]
    assert pd.setdefault("d", dm.ones(1)) is pd["d"]
    assert pd.popitem()[0] == "d" and list(pd) == ["b", "c"]
    assert list(pd.fromkeys(["x", "y"], dm.ones(1))) == ["x", "y"]
    a, b = nn.ParameterDict({"a": dm.ones(2)}), nn.ParameterDict({"b": dm.ones(2)})
    assert list(a | b) == ["a", "b"]
    a |= b
    assert list(a) == ["a", "b"]
    del a["a"]
    assert list(a.state_dict()) == ["b"]
    a.clear()
    assert len(a) == 0 and list(a.state_dict()) == []
    with pytest.raises(AttributeError, match="'ParameterDict' object has no attribute 'x'"):
        a["x"]
    with pytest.raises(TypeError, match="not a string \\(type is 'int'\\)"):
        a[0]
    with pytest.raises(KeyError):
        a.popitem()
    with pytest.raises(TypeError, match="should be called with an iterable"):
        a.update(3)
    with pytest.raises(ValueError, match="element #0 has length 3; 2 is required"):
        a.update([("a", dm.ones(1), 3)])
    with pytest.raises(RuntimeError, match=r"ParameterDict should not be called\."):
        a(1)


def test_parameter_dict_pickles() -> None:
    pd = nn.ParameterDict(OrderedDict(a=dm.ones(1), s=3))
    c = pickle.loads(pickle.dumps(pd))
    assert list(c) == ["a", "s"] and c["s"] == 3 and list(c.state_dict()) == ["a"]
    np.testing.assert_array_equal(c["a"].detach().numpy(), np.ones(1, np.float32))


def test_containers_refuse_non_modules_in_pytorch_words() -> None:
    with pytest.raises(TypeError, match=r"^int is not a Module subclass$"):
        nn.Sequential(3)
    with pytest.raises(TypeError, match=r"^int is not a Module subclass$"):
        nn.Sequential().append(3)


# ---- Module itself (need the nn/module.py change proposed with these tests) -------------------


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 3)
        self.register_buffer("scale", dm.ones(3))
        self.register_buffer("tmp", dm.zeros(3), persistent=False)
        self.register_parameter("bias2", None)

    def forward(self, x: dm.Tensor) -> dm.Tensor:
        return self.fc(x) * self.scale


@pytest.mark.parametrize(
    ("register", "error", "message"),
    [
        (
            lambda m: m.register_parameter("a.b", nn.Parameter(dm.ones(1))),
            KeyError,
            'parameter name can\'t contain "."',
        ),
        (
            lambda m: m.register_parameter("", nn.Parameter(dm.ones(1))),
            KeyError,
            'parameter name can\'t be empty string ""',
        ),
        (
            lambda m: m.register_parameter("scale", nn.Parameter(dm.ones(1))),
            KeyError,
            "attribute 'scale' already exists",
        ),
        (
            lambda m: m.register_parameter(1, nn.Parameter(dm.ones(1))),
            TypeError,
            "parameter name should be a string. Got int",
        ),
        (
            lambda m: m.register_buffer("a.b", dm.ones(1)),
            KeyError,
            'buffer name can\'t contain "."',
        ),
        (lambda m: m.register_buffer("fc", dm.ones(1)), KeyError, "attribute 'fc' already exists"),
        (
            lambda m: m.register_buffer("q", 3),
            TypeError,
            "cannot assign 'int' object to buffer 'q' (torch Tensor or None required)",
        ),
        (
            lambda m: m.add_module("a.b", nn.ReLU()),
            KeyError,
            'module name can\'t contain ".", got: a.b',
        ),
        (lambda m: m.add_module("", nn.ReLU()), KeyError, 'module name can\'t be empty string ""'),
        (lambda m: m.add_module("scale", nn.ReLU()), KeyError, "attribute 'scale' already exists"),
    ],
)
def test_registration_checks_names_as_pytorch(register, error, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error) as info:
        register(_Net())
    assert info.value.args[0] == message


def test_register_buffer_persistence_can_change() -> None:
    m = _Net()
    m.register_buffer("tmp", dm.zeros(3), persistent=True)
    assert list(m.state_dict()) == ["scale", "tmp", "fc.weight", "fc.bias"]


def test_plain_attributes_before_init_and_modules_refused() -> None:
    class Early(nn.Module):
        def __init__(self) -> None:
            self.n = 3
            super().__init__()

    assert Early().n == 3

    class Bad(nn.Module):
        def __init__(self) -> None:
            self.w = nn.Parameter(dm.ones(1))

    with pytest.raises(
        AttributeError, match=r"cannot assign parameters before Module\.__init__\(\) call"
    ):
        Bad()


def test_get_parameter_buffer_and_set_submodule() -> None:
    m = _Net()
    assert m.get_parameter("fc.weight") is m.fc.weight
    assert m.get_buffer("scale") is m.scale
    with pytest.raises(AttributeError, match=r"^Linear has no attribute `zz`$"):
        m.get_parameter("fc.zz")
    with pytest.raises(AttributeError, match=r"^`scale` is not an nn\.Parameter$"):
        m.get_parameter("scale")
    with pytest.raises(AttributeError, match=r"^`weight` is not a buffer$"):
        m.get_buffer("fc.weight")
    m.set_submodule("b", nn.ReLU())
    m.set_submodule("fc", nn.Tanh())
    assert [n for n, _ in m.named_children()] == ["fc", "b"] and isinstance(m.fc, nn.Tanh)
    with pytest.raises(AttributeError, match=r"^_Net has no attribute `c`$"):
        m.set_submodule("c", nn.ReLU(), strict=True)
    with pytest.raises(AttributeError, match=r"^_Net has no attribute `a`$"):
        m.set_submodule("a.b", nn.ReLU())
    with pytest.raises(ValueError, match="Cannot set the submodule without a target name!"):
        m.set_submodule("", nn.ReLU())


def test_children_yield_a_shared_module_once_and_dir_lists_registered_names() -> None:
    m = _Net()
    m.act = nn.ReLU()
    m.again = m.act
    assert [n for n, _ in m.named_children()] == ["fc", "act"]
    assert len(list(m.children())) == 2
    d = dir(m)
    assert all(k in d for k in ("fc", "scale", "tmp", "bias2", "forward", "training"))


def test_repr_puts_multi_line_extra_repr_and_children_on_their_own_lines() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def extra_repr(self) -> str:
            return "k=3\nsecond=line"

    class Leaf(nn.Module):
        def extra_repr(self) -> str:
            return "a=1\nb=2"

    assert repr(Leaf()) == "Leaf(\n  a=1\n  b=2\n)"
    assert repr(Block()) == (
        "Block(\n  k=3\n  second=line\n  (lin): Linear(in_features=2, out_features=2, bias=True)\n)"
    )


def test_train_calls_children_train_and_checks_mode() -> None:
    class FrozenNorm(nn.Module):
        def train(self, mode: bool = True) -> FrozenNorm:
            return super().train(False)  # e.g. batch-norm statistics kept frozen

    m = nn.Sequential(nn.Linear(1, 1), FrozenNorm())
    assert m.train() is m and m[0].training and not m[1].training
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        m.train("x")  # type: ignore[arg-type]


def test_to_refuses_integer_dtypes_and_forward_missing_message() -> None:
    with pytest.raises(TypeError, match=r"nn\.Module\.to only accepts floating point or complex"):
        _Net().to(dm.int32)
    with pytest.raises(
        NotImplementedError, match=r'^Module \[Module\] is missing the required "forward" function$'
    ):
        nn.Module()(1)


def test_module_compile_returns_none_and_keeps_forward() -> None:
    m = nn.Linear(2, 1)
    assert m.compile(mode="reduce-overhead") is None
    assert tuple(m(dm.ones(3, 2)).shape) == (3, 1)


def test_strict_load_errors_in_pytorch_words() -> None:
    m = _Net()
    sd = m.state_dict()
    sd["scale"] = dm.ones(4)
    del sd["fc.bias"]
    sd["x.y"] = dm.ones(1)
    with pytest.raises(RuntimeError) as info:
        m.load_state_dict(sd)
    assert str(info.value) == (
        "Error(s) in loading state_dict for _Net:\n"
        '\tMissing key(s) in state_dict: "fc.bias". \n'
        '\tUnexpected key(s) in state_dict: "x.y". \n'
        "\tsize mismatch for scale: copying a param with shape (4,) from checkpoint, the shape "
        "in current model is (3,)."
    )
    # A size mismatch fails a non-strict load too (the other values are loaded), as PyTorch.
    sd2 = m.state_dict()
    sd2["scale"] = dm.ones(4)
    sd2["fc.bias"] = dm.full((3,), 7.0)
    with pytest.raises(dm.ShapeError, match="size mismatch for scale"):
        m.load_state_dict(sd2, strict=False)
    assert m.fc.bias.tolist() == [7.0, 7.0, 7.0]
    with pytest.raises(
        TypeError, match=r"Expected state_dict to be dict-like, got <class 'list'>\."
    ):
        m.load_state_dict([1, 2])


def test_load_result_repr_and_casting_copy() -> None:
    m = _Net()
    r = m.load_state_dict(m.state_dict())
    assert repr(r) == str(r) == "<All keys matched successfully>"
    sd = m.state_dict()
    del sd["scale"]
    r = m.load_state_dict(sd, strict=False)
    assert repr(r) == "_IncompatibleKeys(missing_keys=['scale'], unexpected_keys=[])"
    sd = m.state_dict()
    sd["scale"] = dm.full((3,), 2, dtype=dm.int64)
    m.load_state_dict(sd)  # copied with a cast, as copy_
    assert m.scale.dtype == dm.float32 and m.scale.tolist() == [2.0, 2.0, 2.0]


class _WithExtra(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(1, 1)
        self.state = {"n": 1}

    def get_extra_state(self) -> dict[str, int]:
        return self.state

    def set_extra_state(self, state: dict[str, int]) -> None:
        self.state = state


def test_extra_state_is_saved_and_loaded() -> None:
    a, b = _WithExtra(), _WithExtra()
    assert list(a.state_dict()) == ["_extra_state", "lin.weight", "lin.bias"]
    assert next(iter(nn.Sequential(a).state_dict())) == "0._extra_state"
    a.state = {"n": 7}
    b.load_state_dict(a.state_dict())
    assert b.state == {"n": 7}
    sd = a.state_dict()
    del sd["_extra_state"]
    assert b.load_state_dict(sd, strict=False).missing_keys == ["_extra_state"]


def test_load_from_state_dict_override_and_old_state_dict_hook() -> None:
    class Old(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(dm.zeros(2))

        def _load_from_state_dict(self, state_dict, prefix, *args):  # type: ignore[no-untyped-def]
            if prefix + "old_w" in state_dict:
                state_dict[prefix + "w"] = state_dict.pop(prefix + "old_w")
            super()._load_from_state_dict(state_dict, prefix, *args)

    m = nn.Sequential(Old())
    m.load_state_dict({"0.old_w": dm.ones(2)})
    assert m[0].w.tolist() == [1.0, 1.0]

    def hook(module, sd, prefix, local_metadata):  # type: ignore[no-untyped-def]
        sd[prefix + "added"] = dm.ones(1)

    n = _Net()
    n._register_state_dict_hook(hook)
    assert list(n.state_dict()) == ["scale", "fc.weight", "fc.bias", "added"]
