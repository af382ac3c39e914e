"""SELU, CELU, Softshrink, Hardshrink, Tanhshrink, Threshold, RReLU, Softmax2d and the in-place
functional activations (``F.relu_``...): values against NumPy formulas, gradients against
finite differences, in-place writes, reprs and typed errors."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import nn
from helpers import assert_close, gradcheck, to_numpy

ALPHA = 1.6732632423543772848170429916717
SCALE = 1.0507009873554804934193349852946

# Away from every kink the checks below use (0, ±0.5, ±1, 0.3), for finite differences.
VALUES = np.array([[-2.5, -1.3, -0.7, -0.2], [0.1, 0.45, 0.8, 2.2], [-0.05, 1.6, -3.1, 0.65]])


def _x(requires_grad: bool = False) -> dm.Tensor:
    return dm.tensor(VALUES, dtype=dm.float64, requires_grad=requires_grad)


def _selu(x: np.ndarray) -> np.ndarray:
    return SCALE * np.where(x > 0, x, ALPHA * (np.exp(x) - 1))


def _celu(x: np.ndarray, a: float) -> np.ndarray:
    return np.maximum(x, 0) + np.minimum(0, a * (np.exp(x / a) - 1))


REFERENCES: list[tuple[str, Callable[[dm.Tensor], dm.Tensor], Callable[[np.ndarray], np.ndarray]]]
REFERENCES = [
    ("selu", F.selu, _selu),
    ("celu", lambda t: F.celu(t, 0.7), lambda x: _celu(x, 0.7)),
    (
        "celu_neg_alpha",
        lambda t: F.celu(t, alpha=-1.5),
        lambda x: np.where(x > 0, x, -1.5 * np.expm1(x / -1.5)),
    ),
    (
        "softshrink",
        lambda t: F.softshrink(t, 1.0),
        lambda x: np.where(x > 1, x - 1, np.where(x < -1, x + 1, 0.0)),
    ),
    ("hardshrink", F.hardshrink, lambda x: np.where(np.abs(x) > 0.5, x, 0.0)),
    ("tanhshrink", F.tanhshrink, lambda x: x - np.tanh(x)),
    ("threshold", lambda t: F.threshold(t, 0.3, -4.0), lambda x: np.where(x > 0.3, x, -4.0)),
    ("rrelu_eval", lambda t: F.rrelu(t, 0.1, 0.3), lambda x: np.where(x >= 0, x, 0.2 * x)),
]


@pytest.mark.parametrize("name,fn,ref", REFERENCES, ids=[r[0] for r in REFERENCES])
def test_values_match_numpy(
    name: str, fn: Callable[[dm.Tensor], dm.Tensor], ref: Callable[[np.ndarray], np.ndarray]
) -> None:
    out = fn(_x())
    assert out.dtype == dm.float64 and out.shape == VALUES.shape
    assert_close(out, ref(VALUES), rtol=1e-12, atol=1e-12)
    # float32 stays float32; a non-contiguous input gives the transposed result
    x32 = dm.tensor(VALUES, dtype=dm.float32)
    assert fn(x32).dtype == dm.float32
    assert_close(fn(x32.t()), ref(VALUES).T.astype(np.float32), rtol=1e-5, atol=1e-6)
    assert fn(dm.zeros(0, 4)).shape == (0, 4)


@pytest.mark.parametrize("name,fn,ref", REFERENCES, ids=[r[0] for r in REFERENCES])
def test_gradients_match_finite_differences(
    name: str, fn: Callable[[dm.Tensor], dm.Tensor], ref: Callable[[np.ndarray], np.ndarray]
) -> None:
    gradcheck(fn, [_x(True)])


def test_selu_constants_keep_a_standard_normal_standardised() -> None:
    dm.manual_seed(0)
    y = to_numpy(F.selu(dm.randn(200_000, dtype=dm.float64)))
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1.0) < 0.01


def test_rrelu_training_draws_slopes_from_the_seeded_generator() -> None:
    x = dm.tensor(-np.linspace(0.5, 3.0, 1000), dtype=dm.float64)
    dm.manual_seed(7)
    a = F.rrelu(x, 0.1, 0.3, training=True)
    dm.manual_seed(7)
    b = nn.RReLU(0.1, 0.3)(x)  # a layer trains by default
    assert_close(a, to_numpy(b), rtol=0, atol=0)
    slopes = to_numpy(a) / to_numpy(x)
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3
    assert len(np.unique(slopes)) > 900  # one draw per element
    assert abs(slopes.mean() - 0.2) < 0.01
    pos = dm.tensor([0.0, 0.5, 2.0], dtype=dm.float64)
    assert_close(F.rrelu(pos, training=True), to_numpy(pos), rtol=0, atol=0)
    # eval mode: the mean slope, no randomness
    layer = nn.RReLU(0.1, 0.3).eval()
    assert_close(layer(x), 0.2 * to_numpy(x), rtol=1e-12, atol=0)


def test_rrelu_training_gradient_is_the_drawn_slope() -> None:
    def fn(t: dm.Tensor) -> dm.Tensor:
        dm.manual_seed(3)
        return F.rrelu(t, training=True)

    gradcheck(fn, [_x(True)])
    x = _x(True)
    dm.manual_seed(3)
    y = F.rrelu(x, training=True)
    (g,) = dm.autograd.grad(y.sum(), [x])
    expected = np.where(VALUES >= 0, 1.0, to_numpy(y) / VALUES)
    assert_close(g, expected, rtol=1e-12, atol=1e-12)


def test_softmax2d_normalises_over_channels() -> None:
    rng = np.random.default_rng(0)
    v = rng.standard_normal((2, 3, 4, 5))
    e = np.exp(v - v.max(axis=1, keepdims=True))
    expected = e / e.sum(axis=1, keepdims=True)
    assert_close(nn.Softmax2d()(dm.tensor(v)), expected, rtol=1e-12, atol=1e-12)
    assert_close(nn.Softmax2d()(dm.tensor(v[0])), expected[0], rtol=1e-12, atol=1e-12)
    gradcheck(nn.Softmax2d(), [dm.tensor(v, requires_grad=True)])
    for bad in (dm.zeros(2, 3), dm.zeros(1, 2, 3, 4, 5)):
        with pytest.raises(dm.ShapeError, match="expected input to be 3D or 4D"):
            nn.Softmax2d()(bad)


INPLACE = [
    ("relu_", F.relu_, (), lambda x: np.maximum(x, 0)),
    ("elu_", F.elu_, (0.5,), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x))),
    ("leaky_relu_", F.leaky_relu_, (0.2,), lambda x: np.where(x > 0, x, 0.2 * x)),
    ("hardtanh_", F.hardtanh_, (-0.5, 1.0), lambda x: np.clip(x, -0.5, 1.0)),
    ("selu_", F.selu_, (), _selu),
    ("celu_", F.celu_, (2.0,), lambda x: _celu(x, 2.0)),
    ("threshold_", F.threshold_, (0.3, 9.0), lambda x: np.where(x > 0.3, x, 9.0)),
    ("rrelu_", F.rrelu_, (0.2, 0.4), lambda x: np.where(x >= 0, x, 0.3 * x)),
]


@pytest.mark.parametrize("name,fn,args,ref", INPLACE, ids=[r[0] for r in INPLACE])
def test_inplace_functionals_write_into_their_input(
    name: str,
    fn: Callable[..., dm.Tensor],
    args: tuple[float, ...],
    ref: Callable[[np.ndarray], np.ndarray],
) -> None:
    x = _x()
    out = fn(x, *args)
    assert out is x
    assert_close(x, ref(VALUES), rtol=1e-12, atol=1e-12)
    # under autograd the result is a new tensor with the same values and a gradient
    leaf = _x(True)
    y = fn(leaf, *args)
    assert_close(y, ref(VALUES), rtol=1e-12, atol=1e-12)
    assert y.requires_grad
    assert_close(leaf, VALUES, rtol=0, atol=0)


def test_inplace_flags_of_functions_and_layers() -> None:
    for call in (
        lambda t: F.selu(t, inplace=True),
        lambda t: F.celu(t, 1.0, True),
        lambda t: F.threshold(t, 0.0, 1.0, True),
        lambda t: F.rrelu(t, inplace=True),
        nn.SELU(inplace=True),
        nn.CELU(inplace=True),
        nn.Threshold(0.0, 1.0, inplace=True),
        nn.RReLU(inplace=True),
    ):
        x = _x()
        assert call(x) is x
        assert not np.allclose(to_numpy(x), VALUES)
    x = _x()
    assert F.selu(x) is not x
    assert_close(x, VALUES, rtol=0, atol=0)


def test_layers_match_their_functions() -> None:
    x = _x()
    pairs = [
        (nn.SELU(), F.selu(x)),
        (nn.CELU(0.7), F.celu(x, 0.7)),
        (nn.Softshrink(1.0), F.softshrink(x, 1.0)),
        (nn.Hardshrink(), F.hardshrink(x)),
        (nn.Tanhshrink(), F.tanhshrink(x)),
        (nn.Threshold(0.3, -4.0), F.threshold(x, 0.3, -4.0)),
        (nn.RReLU(0.1, 0.3).eval(), F.rrelu(x, 0.1, 0.3)),
    ]
    for layer, expected in pairs:
        assert_close(layer(x), to_numpy(expected), rtol=0, atol=0)
        assert layer.state_dict() == {}


def test_reprs_match_pytorch() -> None:
    assert repr(nn.SELU()) == "SELU()"
    assert repr(nn.SELU(True)) == "SELU(inplace=True)"
    assert repr(nn.CELU()) == "CELU(alpha=1.0)"
    assert repr(nn.CELU(2.0, True)) == "CELU(alpha=2.0, inplace=True)"
    assert repr(nn.Softshrink()) == "Softshrink(0.5)"
    assert repr(nn.Hardshrink(0.3)) == "Hardshrink(0.3)"
    assert repr(nn.Tanhshrink()) == "Tanhshrink()"
    assert repr(nn.Threshold(0.1, 20)) == "Threshold(threshold=0.1, value=20)"
    assert repr(nn.Threshold(0.1, 20, True)) == "Threshold(threshold=0.1, value=20, inplace=True)"
    assert repr(nn.RReLU()) == "RReLU(lower=0.125, upper=0.3333333333333333)"
    assert repr(nn.RReLU(0.1, 0.3, True)) == "RReLU(lower=0.1, upper=0.3, inplace=True)"
    assert repr(nn.Softmax2d()) == "Softmax2d()"


def test_bad_arguments_raise_typed_errors() -> None:
    x = _x()
    with pytest.raises(dm.InvalidValueError, match="alpha cannot be 0"):
        F.celu(x, 0.0)
    with pytest.raises(dm.InvalidValueError, match="lambda must be greater or equal to 0"):
        F.softshrink(x, -0.1)
    with pytest.raises(dm.InvalidValueError, match="Lower bound"):
        F.rrelu(x, 0.5, 0.1)
    with pytest.raises(dm.InvalidValueError, match="Lower bound"):
        nn.RReLU(0.5, 0.1)(x)
    with pytest.raises(ValueError, match="min_val cannot be greater"):
        F.hardtanh_(x, 1.0, -1.0)
    for fn in (F.selu, F.tanhshrink, F.hardshrink, F.relu_):
        with pytest.raises(TypeError, match="must be Tensor"):
            fn(VALUES)
    with pytest.raises(TypeError, match="threshold_\\(\\): argument 'input'"):
        F.threshold_(VALUES, 0.0, 0.0)


def test_functions_are_exported_like_pytorchs() -> None:
    import inspect

    assert str(inspect.signature(F.rrelu)) == (
        "(input: 'Tensor', lower: 'float' = 0.125, upper: 'float' = 0.3333333333333333, "
        "training: 'bool' = False, inplace: 'bool' = False) -> 'Tensor'"
    )
    assert list(inspect.signature(F.threshold).parameters) == [
        "input",
        "threshold",
        "value",
        "inplace",
    ]
    from democratising.nn.modules.activation import SELU, Softmax2d

    assert SELU is nn.SELU and Softmax2d is nn.Softmax2d
