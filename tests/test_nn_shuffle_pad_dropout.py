"""PixelShuffle/PixelUnshuffle/ChannelShuffle, Dropout1d/Dropout3d/AlphaDropout/
FeatureAlphaDropout, Bilinear and the 1-d/3-d/circular padding layers: NumPy references,
gradients, batched and unbatched inputs, reprs, state_dict and typed errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import nn
from helpers import assert_close, gradcheck, to_numpy

SELU_SAT = 1.7580993408473766  # -SELU's saturation value


def _ref_pixel_shuffle(x: np.ndarray, r: int) -> np.ndarray:
    *lead, c, h, w = x.shape
    out = np.empty((*lead, c // (r * r), h * r, w * r), dtype=x.dtype)
    for ch in range(c):
        oc, rem = divmod(ch, r * r)
        i, j = divmod(rem, r)
        out[..., oc, i::r, j::r] = x[..., ch, :, :]
    return out


def _ref_channel_shuffle(x: np.ndarray, g: int) -> np.ndarray:
    c = x.shape[1]
    k = c // g
    order = [gi * k + ki for ki in range(k) for gi in range(g)]
    return x[:, order]


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# ---- shuffles --------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 8, 3, 4), (8, 3, 4), (2, 1, 12, 2, 3), (0, 4, 2, 2)])
def test_pixel_shuffle_and_unshuffle_match_numpy_and_invert(shape: tuple[int, ...]) -> None:
    v = np.arange(math.prod(shape), dtype=np.float64).reshape(shape)
    r = 2
    out = F.pixel_shuffle(dm.tensor(v), r)
    expected = _ref_pixel_shuffle(v, r)
    assert out.shape == expected.shape
    assert_close(out, expected, rtol=0, atol=0)
    assert_close(F.pixel_unshuffle(out, r), v, rtol=0, atol=0)
    assert_close(nn.PixelShuffle(r)(dm.tensor(v)), expected, rtol=0, atol=0)
    assert_close(nn.PixelUnshuffle(r)(dm.tensor(expected)), v, rtol=0, atol=0)


def test_shuffles_keep_dtype_take_non_contiguous_inputs_and_have_gradients() -> None:
    v = np.arange(2 * 9 * 2 * 3).reshape(2, 9, 3, 2)
    x = dm.tensor(v).transpose(2, 3)  # (2, 9, 2, 3), not contiguous
    out = F.pixel_shuffle(x, 3)
    assert out.dtype == dm.int64
    assert_close(out, _ref_pixel_shuffle(v.transpose(0, 1, 3, 2), 3), rtol=0, atol=0)
    assert F.channel_shuffle(x, 3).dtype == dm.int64
    t = dm.tensor(_rand(2, 8, 2, 2), requires_grad=True)
    gradcheck(lambda a: F.pixel_shuffle(a, 2), [t])
    gradcheck(lambda a: F.pixel_unshuffle(a, 2), [t])
    gradcheck(lambda a: F.channel_shuffle(a, 4), [t])


@pytest.mark.parametrize("shape,groups", [((2, 6, 3), 2), ((1, 6, 1, 1, 2), 3), ((4, 3, 2), 3)])
def test_channel_shuffle_matches_numpy(shape: tuple[int, ...], groups: int) -> None:
    v = np.arange(math.prod(shape), dtype=np.float64).reshape(shape)
    expected = _ref_channel_shuffle(v, groups)
    assert_close(F.channel_shuffle(dm.tensor(v), groups), expected, rtol=0, atol=0)
    assert_close(nn.ChannelShuffle(groups)(dm.tensor(v)), expected, rtol=0, atol=0)
    assert F.channel_shuffle(dm.zeros(0, 6, 1), 3).shape == (0, 6, 1)


def test_shuffle_errors_are_typed() -> None:
    with pytest.raises(dm.ShapeError, match="at least 3 dimensions"):
        F.pixel_shuffle(dm.zeros(8, 1), 2)
    with pytest.raises(dm.InvalidValueError, match="positive upscale_factor"):
        F.pixel_shuffle(dm.zeros(8, 1, 1), 0)
    with pytest.raises(dm.ShapeError, match="divisible by the square"):
        F.pixel_shuffle(dm.zeros(6, 1, 1), 2)
    with pytest.raises(dm.ShapeError, match="height to be divisible"):
        F.pixel_unshuffle(dm.zeros(1, 3, 4), 2)
    with pytest.raises(dm.ShapeError, match="width to be divisible"):
        F.pixel_unshuffle(dm.zeros(1, 4, 3), 2)
    with pytest.raises(dm.ShapeError, match="> 2 dims"):
        F.channel_shuffle(dm.zeros(1, 6), 2)
    with pytest.raises(dm.InvalidValueError, match="must be positive"):
        F.channel_shuffle(dm.zeros(1, 6, 1), 0)
    with pytest.raises(dm.ShapeError, match="divisible by groups"):
        F.channel_shuffle(dm.zeros(1, 6, 1), 4)
    with pytest.raises(TypeError, match="must be Tensor"):
        F.pixel_shuffle(np.zeros((4, 1, 1)), 2)


def test_shuffle_reprs() -> None:
    assert repr(nn.PixelShuffle(2)) == "PixelShuffle(upscale_factor=2)"
    assert repr(nn.PixelUnshuffle(3)) == "PixelUnshuffle(downscale_factor=3)"
    assert repr(nn.ChannelShuffle(2)) == "ChannelShuffle(groups=2)"
    assert nn.PixelShuffle(2).state_dict() == {}


# ---- dropout ---------------------------------------------------------------------------------


def _channels_dropped(out: np.ndarray, x: np.ndarray, p: float, channel_axes: int) -> np.ndarray:
    """Checks each channel is all-zero or all ``x / (1 - p)``; returns the kept flags."""
    flat_out = out.reshape(*out.shape[:channel_axes], -1)
    flat_x = x.reshape(*x.shape[:channel_axes], -1)
    kept = np.all(np.isclose(flat_out, flat_x / (1 - p)), axis=-1)
    dropped = np.all(flat_out == 0, axis=-1)
    assert np.all(kept | dropped)
    return kept


@pytest.mark.parametrize(
    "fn,shape,channel_axes",
    [
        (F.dropout1d, (20, 30, 5), 2),
        (F.dropout1d, (40, 5), 1),
        (F.dropout3d, (10, 20, 2, 3, 2), 2),
        (F.dropout3d, (40, 2, 3, 2), 1),
    ],
)
def test_channel_dropouts_zero_whole_channels(fn, shape, channel_axes) -> None:  # type: ignore[no-untyped-def]
    x = np.abs(_rand(*shape)) + 0.5
    dm.manual_seed(0)
    out = fn(dm.tensor(x), 0.3)
    assert out.shape == shape
    kept = _channels_dropped(to_numpy(out), x, 0.3, channel_axes)
    assert 0.5 < kept.mean() < 0.9
    dm.manual_seed(0)
    assert_close(fn(dm.tensor(x), 0.3), to_numpy(out), rtol=0, atol=0)  # seeded
    # eval mode and p=0 give the input back; p=1 gives zeros
    t = dm.tensor(x)
    assert fn(t, 0.3, training=False) is t and fn(t, 0.0) is t
    assert np.all(to_numpy(fn(t, 1.0)) == 0)


def test_channel_dropout_gradients_layers_and_inplace() -> None:
    x = dm.tensor(_rand(3, 4, 5), requires_grad=True)

    def drop(t: dm.Tensor) -> dm.Tensor:
        dm.manual_seed(1)
        return F.dropout1d(t, 0.5)

    gradcheck(drop, [x])
    layer = nn.Dropout1d(0.5)
    dm.manual_seed(1)
    assert_close(layer(x), to_numpy(drop(x)), rtol=0, atol=0)
    layer.eval()
    assert layer(x) is x
    with pytest.raises(dm.ShapeError, match="Expected 2D or 3D input"):
        layer(dm.zeros(2, 3, 4, 5))  # the input check applies in eval mode too
    y = dm.tensor(_rand(3, 4, 5))
    dm.manual_seed(2)
    assert F.dropout1d(y, 0.5, inplace=True) is y
    assert (to_numpy(y) == 0).any()
    z = dm.tensor(_rand(2, 3, 2, 2, 2))
    assert nn.Dropout3d(0.5, inplace=True)(z) is z


def test_channel_dropout_errors_and_warnings() -> None:
    with pytest.raises(dm.ShapeError, match="dropout1d: Expected 2D or 3D input"):
        F.dropout1d(dm.zeros(3), 0.5)
    with pytest.raises(dm.ShapeError, match="received a 4D input"):
        F.dropout1d(dm.zeros(1, 2, 3, 4), training=False)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout3d(dm.zeros(1, 2, 3, 4), 1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout1d(-0.1)
    with pytest.warns(UserWarning, match="Received a 3-D input to dropout3d"):
        out = F.dropout3d(dm.ones(30, 4, 5), 0.5)
    _channels_dropped(to_numpy(out), np.ones((30, 4, 5)), 0.5, 1)  # channels along dim 0


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_alpha_dropout_formula_and_statistics(p: float) -> None:
    dm.manual_seed(0)
    x = dm.randn(200_000, dtype=dm.float64)
    out = to_numpy(F.alpha_dropout(x, p, training=True))
    a = 1.0 / math.sqrt((SELU_SAT**2 * p + 1) * (1 - p))
    xs = to_numpy(x)
    kept = np.isclose(out, a * (xs + SELU_SAT * p))
    dropped = np.isclose(out, a * SELU_SAT * (p - 1))
    assert np.all(kept | dropped)
    assert abs(dropped.mean() - p) < 0.01
    assert abs(out.mean()) < 0.01 and abs(out.std() - 1) < 0.01  # SELU's fixed point kept


def test_feature_alpha_dropout_drops_whole_channels() -> None:
    p = 0.4
    x = np.abs(_rand(50, 20, 3, 2)) + 0.1
    dm.manual_seed(0)
    out = to_numpy(F.feature_alpha_dropout(dm.tensor(x), p, True))
    a = 1.0 / math.sqrt((SELU_SAT**2 * p + 1) * (1 - p))
    dropped = np.isclose(out, a * SELU_SAT * (p - 1)).reshape(50, 20, -1)
    kept = np.isclose(out, a * (x + SELU_SAT * p)).reshape(50, 20, -1)
    assert np.all(dropped.all(-1) | kept.all(-1))
    assert 0.3 < dropped.all(-1).mean() < 0.5
    with pytest.raises(dm.ShapeError, match="at least 2 dimensions"):
        F.feature_alpha_dropout(dm.ones(3), 0.5, True)


def test_alpha_dropouts_edge_cases_gradients_and_layers() -> None:
    t = dm.tensor(_rand(4, 3))
    for fn in (F.alpha_dropout, F.feature_alpha_dropout):
        assert fn(t) is t  # training defaults to False
        assert fn(t, 0.0, True) is t
        assert np.all(to_numpy(fn(t, 1.0, True)) == 0)
        assert fn(dm.zeros(0, 3), 0.5, True).shape == (0, 3)
        with pytest.raises(ValueError, match="between 0 and 1"):
            fn(t, 1.5, True)
        with pytest.raises(dm.DTypeError):
            fn(dm.ones(2, 3, dtype=dm.int64), 0.5, True)
        x = dm.tensor(_rand(4, 3), requires_grad=True)

        def drop(v: dm.Tensor, fn=fn) -> dm.Tensor:  # type: ignore[no-untyped-def]
            dm.manual_seed(5)
            return fn(v, 0.3, True)

        gradcheck(drop, [x])
    layer = nn.AlphaDropout(0.3)
    dm.manual_seed(5)
    expected = to_numpy(F.alpha_dropout(t, 0.3, True))
    dm.manual_seed(5)
    assert_close(layer(t), expected, rtol=0, atol=0)
    assert nn.AlphaDropout(0.3).eval()(t) is t
    y = nn.FeatureAlphaDropout(0.5, inplace=True)(t)
    assert y is not t  # PyTorch's layer ignores inplace
    z = dm.tensor(_rand(4, 3))
    assert F.alpha_dropout(z, 0.5, True, inplace=True) is z


def test_dropout_reprs() -> None:
    assert repr(nn.Dropout1d()) == "Dropout1d(p=0.5, inplace=False)"
    assert repr(nn.Dropout3d(0.2, True)) == "Dropout3d(p=0.2, inplace=True)"
    assert repr(nn.AlphaDropout()) == "AlphaDropout(p=0.5, inplace=False)"
    assert repr(nn.FeatureAlphaDropout(0.1)) == "FeatureAlphaDropout(p=0.1, inplace=False)"


# ---- bilinear --------------------------------------------------------------------------------


def _ref_bilinear(
    x1: np.ndarray, x2: np.ndarray, w: np.ndarray, b: np.ndarray | None
) -> np.ndarray:
    y = np.einsum("...i,oij,...j->...o", x1, w, x2)
    return y if b is None else y + b


@pytest.mark.parametrize("lead", [(5,), (2, 3), (), (0,)])
def test_bilinear_matches_numpy(lead: tuple[int, ...]) -> None:
    x1, x2 = _rand(*lead, 4, seed=1), _rand(*lead, 3, seed=2)
    w, b = _rand(5, 4, 3, seed=3), _rand(5, seed=4)
    out = F.bilinear(dm.tensor(x1), dm.tensor(x2), dm.tensor(w), dm.tensor(b))
    assert out.shape == (*lead, 5)
    assert_close(out, _ref_bilinear(x1, x2, w, b), rtol=1e-12, atol=1e-12)
    no_bias = F.bilinear(dm.tensor(x1), dm.tensor(x2), dm.tensor(w))
    assert_close(no_bias, _ref_bilinear(x1, x2, w, None), rtol=1e-12, atol=1e-12)


def test_bilinear_gradients_and_non_contiguous_inputs() -> None:
    args = [
        dm.tensor(a, requires_grad=True)
        for a in (
            _rand(3, 4, seed=1),
            _rand(3, 2, seed=2),
            _rand(5, 4, 2, seed=3),
            _rand(5, seed=4),
        )
    ]
    gradcheck(F.bilinear, args)
    x1 = dm.tensor(_rand(4, 3, seed=5)).t()
    x2 = dm.tensor(_rand(3, 2, seed=6))
    w = dm.tensor(_rand(5, 4, 2, seed=3))
    expected = _ref_bilinear(
        _rand(4, 3, seed=5).T, _rand(3, 2, seed=6), _rand(5, 4, 2, seed=3), None
    )
    assert_close(F.bilinear(x1, x2, w), expected, rtol=1e-12, atol=1e-12)


def test_bilinear_layer_parameters_init_and_repr() -> None:
    dm.manual_seed(0)
    layer = nn.Bilinear(16, 3, 40)
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert layer.weight.shape == (40, 16, 3) and layer.bias.shape == (40,)
    bound = 1 / math.sqrt(16)
    for p in (layer.weight, layer.bias):
        v = to_numpy(p)
        assert v.min() >= -bound and v.max() <= bound and v.max() - v.min() > bound
    assert repr(layer) == "Bilinear(in1_features=16, in2_features=3, out_features=40, bias=True)"
    x1, x2 = dm.randn(7, 16), dm.randn(7, 3)
    expected = _ref_bilinear(
        to_numpy(x1), to_numpy(x2), to_numpy(layer.weight), to_numpy(layer.bias)
    )
    assert_close(layer(x1, x2), expected, rtol=1e-4, atol=1e-5)
    plain = nn.Bilinear(2, 3, 4, bias=False, dtype=dm.float64)
    assert list(plain.state_dict()) == ["weight"] and plain.bias is None
    assert plain.weight.dtype == dm.float64
    assert repr(plain).endswith("bias=False)")
    y = plain(dm.randn(2, dtype=dm.float64), dm.randn(3, dtype=dm.float64))
    assert y.shape == (4,)
    y.sum().backward()
    assert plain.weight.grad is not None and plain.weight.grad.shape == (4, 2, 3)


def test_bilinear_shape_errors() -> None:
    w, b = dm.zeros(4, 2, 3), dm.zeros(4)
    cases = [
        ((dm.zeros(5, 2), dm.zeros(1, 3), w, b), "batch dimensions do not match"),
        ((dm.zeros(5, 2), dm.zeros(5, 4), w, b), "input2 size does not match"),
        ((dm.zeros(5, 3), dm.zeros(5, 3), w, b), "input1 size does not match"),
        ((dm.zeros(5, 2), dm.zeros(5, 3), w, dm.zeros(3)), "bias size does not match"),
        ((dm.zeros(5, 2), dm.zeros(3), w, b), "input dimensions do not match"),
        ((dm.zeros(5, 2), dm.zeros(5, 3), dm.zeros(4, 6), b), "three-dimensional"),
    ]
    for args, message in cases:
        with pytest.raises(dm.ShapeError, match=message):
            F.bilinear(*args)


# ---- padding ---------------------------------------------------------------------------------

PADS = [
    ("ConstantPad1d", ((1, 2), 3.5), (2, 3, 4), {"mode": "constant", "constant_values": 3.5}),
    (
        "ConstantPad3d",
        ((1, 2, 0, 1, 2, 1), -1.0),
        (3, 2, 3, 4),
        {"mode": "constant", "constant_values": -1.0},
    ),
    ("ZeroPad1d", (2,), (3, 4), {"mode": "constant"}),
    ("ZeroPad3d", (1,), (1, 2, 2, 3, 4), {"mode": "constant"}),
    ("ReflectionPad1d", ((2, 1),), (2, 3, 4), {"mode": "reflect"}),
    ("ReflectionPad3d", ((1, 2, 1, 0, 2, 1),), (2, 3, 3, 4), {"mode": "reflect"}),
    ("ReplicationPad1d", ((2, 3),), (3, 4), {"mode": "edge"}),
    ("ReplicationPad3d", ((1, 2, 1, 0, 2, 3),), (1, 2, 3, 3, 4), {"mode": "edge"}),
    ("CircularPad1d", ((1, 2),), (2, 3, 4), {"mode": "wrap"}),
    ("CircularPad2d", ((1, 2, 2, 1),), (3, 3, 4), {"mode": "wrap"}),
    ("CircularPad3d", ((1, 2, 1, 0, 2, 1),), (1, 2, 3, 3, 4), {"mode": "wrap"}),
]


def _np_pad(v: np.ndarray, padding: tuple[int, ...], kwargs: dict) -> np.ndarray:  # type: ignore[type-arg]
    widths = [(0, 0)] * v.ndim
    for i in range(len(padding) // 2):
        widths[v.ndim - 1 - i] = (padding[2 * i], padding[2 * i + 1])
    return np.pad(v, widths, **kwargs)


@pytest.mark.parametrize("name,args,shape,np_kwargs", PADS, ids=[p[0] for p in PADS])
def test_padding_layers_match_numpy_pad(name, args, shape, np_kwargs) -> None:  # type: ignore[no-untyped-def]
    layer = getattr(nn, name)(*args)
    v = _rand(*shape)
    out = layer(dm.tensor(v))
    assert_close(out, _np_pad(v, layer.padding, np_kwargs), rtol=0, atol=0)
    assert out.dtype == dm.float64 and layer.state_dict() == {}
    gradcheck(layer, [dm.tensor(v, requires_grad=True)])
    # non-contiguous input
    t = dm.tensor(np.swapaxes(v, -1, -2).copy()).transpose(-1, -2)
    assert_close(layer(t), _np_pad(v, layer.padding, np_kwargs), rtol=0, atol=0)


def test_padding_layers_store_padding_like_pytorch_and_print_it() -> None:
    assert nn.ConstantPad1d(2, 3.5).padding == (2, 2)
    assert nn.ReflectionPad3d(1).padding == (1,) * 6
    assert nn.CircularPad2d((1, 2, 3, 4)).padding == (1, 2, 3, 4)
    assert nn.ZeroPad3d(1).value == 0.0
    assert repr(nn.ConstantPad1d(2, 3.5)) == "ConstantPad1d(padding=(2, 2), value=3.5)"
    assert repr(nn.ConstantPad3d((1, 2, 3, 4, 5, 6), 1)) == (
        "ConstantPad3d(padding=(1, 2, 3, 4, 5, 6), value=1)"
    )
    assert repr(nn.ReflectionPad1d(2)) == "ReflectionPad1d((2, 2))"
    assert repr(nn.ReplicationPad1d((1, 2))) == "ReplicationPad1d((1, 2))"
    assert repr(nn.ZeroPad1d(2)) == "ZeroPad1d((2, 2))"
    assert repr(nn.ZeroPad3d(1)) == "ZeroPad3d((1, 1, 1, 1, 1, 1))"
    assert repr(nn.CircularPad3d(1)) == "CircularPad3d((1, 1, 1, 1, 1, 1))"
    from democratising.nn.modules.padding import CircularPad1d

    assert CircularPad1d is nn.CircularPad1d


def test_padding_errors() -> None:
    with pytest.raises(dm.ShapeError, match="expected 2D or 3D input"):
        nn.CircularPad1d(1)(dm.zeros(3))
    with pytest.raises(dm.ShapeError, match="expected 4D or 5D input"):
        nn.CircularPad3d(1)(dm.zeros(3, 3, 3))
    with pytest.raises(ValueError, match="Padding size should be less than"):
        nn.ReflectionPad1d(3)(dm.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="needs a 2-D or 3-D input"):
        nn.ReplicationPad1d(1)(dm.zeros(1, 2, 3, 4))
    with pytest.raises(ValueError, match="expected an int or"):
        nn.ZeroPad3d((1, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nn.ConstantPad3d(1, 0.0)(dm.zeros(0, 1, 1, 1)).shape == (0, 3, 3, 3)
