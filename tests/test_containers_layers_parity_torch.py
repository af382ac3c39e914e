"""Containers and small layers against PyTorch 2.15: the expected values were printed by
torch (hard-coded here; the suite has no torch)."""

from __future__ import annotations

import warnings
from collections import OrderedDict

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import nn

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]], dtype=np.float32)


# --- F.softmax / log_softmax / softmin take PyTorch's ``_stacklevel`` third positional --------


def test_softmax_positional_stacklevel_and_implicit_dim() -> None:
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        out = F.softmax(dm.tensor(X), None, 5)
    expected = [
        [0.17529039084911346, 0.03911257162690163, 0.785597026348114],
        [0.7361246943473816, 0.16425162553787231, 0.09962364286184311],
    ]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)


def test_log_softmax_positional_stacklevel_then_dtype() -> None:
    out = F.log_softmax(dm.tensor(X), 1, 3, dm.float64)
    assert out.dtype == dm.float64
    expected = [
        [-1.7413112966571571, -3.241311296657157, -0.24131129665715703],
        [-0.30635571222914665, -1.8063557122291467, -2.3063557122291467],
    ]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    kw = F.log_softmax(dm.tensor(X), 1, _stacklevel=5, dtype=dm.float64)
    np.testing.assert_allclose(kw.numpy(), expected, rtol=1e-6)


def test_softmin_third_positional_is_stacklevel_not_dtype() -> None:
    out = F.softmin(dm.tensor(X), 0, 3, dm.float64)
    assert out.dtype == dm.float64
    expected = [
        [0.7310585786300049, 0.7310585786300049, 0.07585818002124356],
        [0.2689414213699951, 0.2689414213699951, 0.9241418199787566],
    ]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    assert F.softmax(dm.tensor(X), dim=1, dtype=dm.float64).dtype == dm.float64


# --- Hardtanh: the deprecated ``min_value``/``max_value`` names and torch's bound check -------


def test_hardtanh_deprecated_keywords_warn_and_apply() -> None:
    with pytest.warns(FutureWarning, match="`min_value` is deprecated"):
        m = nn.Hardtanh(min_value=-0.5)
    np.testing.assert_allclose(m(dm.tensor(X)).numpy(), [[0.5, -0.5, 1.0], [1.0, 0.0, -0.5]])
    with pytest.warns(FutureWarning, match="`max_value` is deprecated"):
        assert repr(nn.Hardtanh(max_value=2.0)) == "Hardtanh(min_val=-1.0, max_val=2.0)"


@pytest.mark.parametrize("lo,hi", [(1.0, 0.0), (1.0, 1.0)])
def test_hardtanh_rejects_max_not_above_min(lo: float, hi: float) -> None:
    # PyTorch asserts ``max_val > min_val`` (equal bounds are refused too).
    with pytest.raises(ValueError, match=rf"max_val \({hi}\) must be greater than min_val"):
        nn.Hardtanh(lo, hi)
    assert repr(nn.ReLU6(inplace=True)) == "ReLU6(inplace=True)"


# --- padding errors are RuntimeErrors in PyTorch (and still ValueErrors here) ---------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.ZeroPad1d((1, 1, 1)),
        lambda: nn.ConstantPad2d((1, 1, 1), 0.5),
        lambda: nn.ReflectionPad3d((1,) * 7),
    ],
)
def test_pad_module_bad_length_is_runtime_error(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError, match="Padding length must be divisible by 2"):
        make()
    with pytest.raises(ValueError):
        make()


def test_pad_shape_errors_are_runtime_errors() -> None:
    x = dm.ones(1, 2, 3)
    with pytest.raises(RuntimeError, match="Padding size should be less than"):
        nn.ReflectionPad1d(3)(x)
    with pytest.raises(RuntimeError, match="wrapping around more than once"):
        nn.CircularPad1d(4)(x)
    with pytest.raises(RuntimeError):
        nn.ZeroPad1d(-2)(x)
    with pytest.raises(RuntimeError, match="divisible by 2"):
        F.pad(x, (1, 1, 1))
    with pytest.raises(RuntimeError):
        nn.ReflectionPad1d(1)(dm.ones(1, 1, 2, 3))  # 4-D input to a 1-d reflection pad


def test_negative_padding_values() -> None:
    x = dm.tensor([[[1.0, 2.0, 3.0]]])
    np.testing.assert_array_equal(nn.ReflectionPad1d((2, -1))(x).numpy(), [[[3, 2, 1, 2]]])
    np.testing.assert_array_equal(nn.CircularPad1d((-1, 2))(x).numpy(), [[[2, 3, 2, 3]]])
    np.testing.assert_array_equal(nn.ZeroPad1d((-1, 2))(x).numpy(), [[[2, 3, 0, 0]]])


# --- containers: behaviours checked against torch -------------------------------------------


def _seq() -> nn.Sequential:
    return nn.Sequential(OrderedDict([("a", nn.Linear(4, 4)), ("b", nn.ReLU()), ("c", nn.Tanh())]))


def test_sequential_names_after_edits_match_torch() -> None:
    assert list(_seq()[1:]._modules) == ["b", "c"]
    s = _seq()
    del s[1]
    assert list(s._modules) == ["0", "1"]  # torch renumbers after a delete
    assert list(_seq().append(nn.ReLU())._modules) == ["a", "b", "c", "3"]
    assert list((_seq() + _seq())._modules) == ["0", "1", "2", "3", "4", "5"]
    s = _seq()
    s.pop(0)
    assert list(s._modules) == ["0", "1"]  # pop goes through ``del`` and renumbers too
    assert list(s.state_dict()) == []
    s2 = _seq()
    s2[0] = nn.Linear(4, 2)
    assert list(s2._modules) == ["a", "b", "c"]
    assert list(s2.state_dict()) == ["a.weight", "a.bias"]
    with pytest.raises(ValueError, match="Non-positive multiplication factor 0"):
        _seq() * 0
    with pytest.raises(IndexError, match="index -4 is out of range"):
        _seq()[-4]


def test_module_and_parameter_dicts_match_torch() -> None:
    m = nn.ModuleDict({"b": nn.Linear(1, 1), "a": nn.ReLU()})
    m.update([("c", nn.Tanh()), ("a", nn.Sigmoid())])
    assert [(k, type(v).__name__) for k, v in m.items()] == [
        ("b", "Linear"),
        ("a", "Sigmoid"),
        ("c", "Tanh"),
    ]
    with pytest.raises(TypeError, match=r"module name should be a string\. Got int"):
        m[1] = nn.ReLU()  # type: ignore[index]
    with pytest.raises(ValueError, match="element #0 has length 1; 2 is required"):
        m.update([("a",)])  # type: ignore[list-item]
    p = nn.ParameterDict({"b": dm.ones(2), "c": "x"})
    assert type(p["b"]).__name__ == "Parameter"
    assert list(p.state_dict()) == ["b"]
    pl = nn.ParameterList([dm.ones(2), 3, "s"])
    assert [type(v).__name__ for v in pl] == ["Parameter", "int", "str"]
    assert "(1): Object of type: int" in repr(pl)
    with pytest.raises(TypeError, match="cannot assign 'int' as parameter '0'"):
        pl[0] = 3


def test_add_module_name_checks_match_torch() -> None:
    m = nn.Module()
    with pytest.raises(KeyError, match=r'contain "\.", got: a\.b'):
        m.add_module("a.b", nn.ReLU())
    with pytest.raises(KeyError, match='be empty string ""'):
        m.add_module("", nn.ReLU())
    m.foo = 1
    with pytest.raises(KeyError, match="attribute 'foo' already exists"):
        m.add_module("foo", nn.ReLU())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m.add_module("x", None)
    assert m._modules["x"] is None


# --- ``inplace=True`` overwrites a non-leaf input under autograd, as in PyTorch ----------------

INPLACE_CASES = [
    (
        lambda y: nn.ReLU(inplace=True)(y),
        [[1.0, 0.0, 4.0], [3.0, 0.0, 0.0]],
        [[4.0, 0.0, 16.0], [12.0, 0.0, 0.0]],
    ),
    (
        lambda y: nn.LeakyReLU(0.2, inplace=True)(y),
        [[1.0, -0.4, 4.0], [3.0, 0.0, -0.2]],
        [[4.0, -0.32, 16.0], [12.0, 0.0, -0.16]],
    ),
    (
        lambda y: nn.ELU(inplace=True)(y),
        [[1.0, -0.864665, 4.0], [3.0, 0.0, -0.632121]],
        [[4.0, -0.468079, 16.0], [12.0, 0.0, -0.930177]],
    ),
    (
        lambda y: nn.Hardtanh(-0.5, 1.5, inplace=True)(y),
        [[1.0, -0.5, 1.5], [1.5, 0.0, -0.5]],
        [[4.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
    ),
    (
        lambda y: nn.Threshold(0.5, 7.0, inplace=True)(y),
        [[1.0, 7.0, 4.0], [3.0, 7.0, 7.0]],
        [[4.0, 0.0, 16.0], [12.0, 0.0, 0.0]],
    ),
    (
        lambda y: nn.Hardswish(inplace=True)(y),
        [[0.666667, -0.333333, 4.0], [3.0, 0.0, -0.333333]],
        [[2.222222, 0.222222, 16.0], [12.0, 0.0, -0.222222]],
    ),
    (F.relu_, [[1.0, 0.0, 4.0], [3.0, 0.0, 0.0]], [[4.0, 0.0, 16.0], [12.0, 0.0, 0.0]]),
    (
        lambda y: F.relu(y, inplace=True),
        [[1.0, 0.0, 4.0], [3.0, 0.0, 0.0]],
        [[4.0, 0.0, 16.0], [12.0, 0.0, 0.0]],
    ),
    (
        lambda y: F.hardtanh(y, -0.5, 1.5, True),
        [[1.0, -0.5, 1.5], [1.5, 0.0, -0.5]],
        [[4.0, 0.0, 0.0], [0.0, 0.0, 0.0]],
    ),
    (
        lambda y: F.mish(y, inplace=True),
        [[0.865098, -0.252501, 3.997413], [2.986535, 0.0, -0.303401]],
        [[3.630078, 0.109439, 16.060528], [12.198287, 0.0, -0.071866]],
    ),
    (
        lambda y: F.hardsigmoid(y, inplace=True),
        [[0.666667, 0.166667, 1.0], [1.0, 0.5, 0.333333]],
        [[0.444444, 0.111111, 0.0], [0.0, 0.333333, 0.222222]],
    ),
    (
        lambda y: F.elu_(y, 0.5),
        [[1.0, -0.432332, 4.0], [3.0, 0.0, -0.31606]],
        [[4.0, -0.11702, 16.0], [12.0, 0.0, -0.232544]],
    ),
    (
        lambda y: F.celu(y, 2.0, True),
        [[1.0, -1.264241, 4.0], [3.0, 0.0, -0.786939]],
        [[4.0, -1.860353, 16.0], [12.0, 0.0, -1.90921]],
    ),
]


@pytest.mark.parametrize("call,values,grad", INPLACE_CASES)
def test_inplace_activation_overwrites_non_leaf_under_autograd(call, values, grad) -> None:  # type: ignore[no-untyped-def]
    x = dm.tensor(X, requires_grad=True)
    y = x * 2
    out = call(y)
    assert out is y
    np.testing.assert_allclose(y.detach().numpy(), values, atol=1e-5)
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), grad, atol=1e-5)


def test_inplace_on_leaf_or_without_grad() -> None:
    # A leaf that requires grad cannot be overwritten (PyTorch raises; here a new tensor).
    leaf = dm.tensor(X, requires_grad=True)
    out = nn.ReLU(inplace=True)(leaf)
    assert out is not leaf and out.requires_grad
    np.testing.assert_array_equal(leaf.detach().numpy(), X)
    with dm.no_grad():
        y = dm.tensor(X)
        assert nn.ELU(inplace=True)(y) is y
        assert F.hardtanh(y, -0.5, 0.5, inplace=True) is y
    np.testing.assert_allclose(y.numpy(), [[0.5, -0.5, 0.5], [0.5, 0.0, -0.3934693]], atol=1e-6)


def test_inplace_dropout_overwrites_non_leaf_under_autograd() -> None:
    x = dm.ones(4, 5, requires_grad=True)
    y = x * 1.0
    assert nn.Dropout(0.5, inplace=True)(y) is y
    (y * 3).sum().backward()
    kept = y.detach().numpy() != 0
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, 6.0, 0.0))


def test_feature_and_alpha_dropout_inplace_overwrite_non_leaf_under_autograd() -> None:
    """torch 2.15: ``F.dropout2d(y, .5, True, True) is y`` for a non-leaf that requires grad,
    with the same mask as the out-of-place call under the same seed."""
    w = dm.ones(2, 3, 4, 4, requires_grad=True)
    dm.manual_seed(0)
    a = F.dropout2d(w * 1, 0.5, True, False)
    y = w * 1
    dm.manual_seed(0)
    b = F.dropout2d(y, 0.5, True, True)
    assert b is y and bool((a == b).all())
    b.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), a.detach().numpy())  # the kept channels, * 2
    y = dm.ones(5, 4, requires_grad=True) * 1
    assert F.alpha_dropout(y, 0.3, True, True) is y
    y = dm.ones(5, 4, requires_grad=True) * 1
    assert dm.nn.AlphaDropout(0.3, inplace=True)(y) is not y  # torch's layer ignores inplace
