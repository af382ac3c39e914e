"""PyTorch-compatible extras: ``nn.init``, BCE/SmoothL1/KLDiv losses, ``F.pad``, ``F.interpolate``,
normalisation and similarity functions, more activations, ``GroupNorm``, ``Dropout2d``, padding
and upsampling modules, ``ParameterList``/``ParameterDict``. Values are checked against NumPy
references, gradients with float64 finite differences."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.nn import functional as F
from democratising.nn import init
from helpers import assert_close, gradcheck

RNG = np.random.default_rng(7)


def leaf(a: np.ndarray) -> dm.Tensor:
    return dm.tensor(a, dtype=dm.float64, requires_grad=True)


def reduce_np(x: np.ndarray, reduction: str) -> np.ndarray:
    return {"mean": x.mean, "sum": x.sum, "none": lambda: x}[reduction]()


def sigmoid_np(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


# ---- activations -------------------------------------------------------------------------------

# Points closer than 1e-3 to a kink would make finite differences straddle it.
X = RNG.uniform(-5, 5, size=(3, 4))
X[np.abs(X) < 1e-3] = 0.5
X[np.abs(np.abs(X) - 3) < 1e-3] = 2.5

ACTIVATIONS: dict[str, tuple[Callable[[dm.Tensor], dm.Tensor], Callable[..., np.ndarray]]] = {
    "relu6": (F.relu6, lambda x: np.clip(x, 0, 6)),
    "hardtanh": (lambda x: F.hardtanh(x, -2.0, 1.5), lambda x: np.clip(x, -2.0, 1.5)),
    "hardsigmoid": (F.hardsigmoid, lambda x: np.clip(x / 6 + 0.5, 0, 1)),
    "hardswish": (F.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    "mish": (F.mish, lambda x: x * np.tanh(np.log1p(np.exp(x)))),
    "softsign": (F.softsign, lambda x: x / (1 + np.abs(x))),
    "logsigmoid": (F.logsigmoid, lambda x: np.log(sigmoid_np(x))),
    "softmin": (
        lambda x: F.softmin(x, dim=1),
        lambda x: np.exp(-x) / np.exp(-x).sum(1, keepdims=True),
    ),
    "glu": (lambda x: F.glu(x, 1), lambda x: x[:, :2] * sigmoid_np(x[:, 2:])),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_matches_numpy_and_gradcheck(name: str) -> None:
    fn, ref = ACTIVATIONS[name]
    assert_close(fn(dm.tensor(X)), ref(X), rtol=1e-10, atol=1e-12)
    gradcheck(fn, [leaf(X)])


def test_logsigmoid_is_stable_for_large_inputs() -> None:
    got = F.logsigmoid(dm.tensor([-200.0, 200.0], dtype=dm.float64))
    assert_close(got, [-200.0, 0.0])


def test_prelu_shared_and_per_channel() -> None:
    x = RNG.normal(size=(2, 3, 4))
    for w in (np.array([0.2]), np.array([0.1, 0.2, 0.3])):
        expected = np.where(x > 0, x, w.reshape(1, -1, 1) * x)
        assert_close(F.prelu(dm.tensor(x), dm.tensor(w)), expected)
        gradcheck(F.prelu, [leaf(x), leaf(w)])


def test_glu_rejects_an_odd_dimension() -> None:
    with pytest.raises(dm.ShapeError, match="even"):
        F.glu(dm.zeros(2, 3))


def test_activation_modules_forward_and_repr() -> None:
    x = dm.tensor(X)
    assert_close(nn.ReLU6()(x), np.clip(X, 0, 6))
    assert_close(nn.Hardtanh(-0.5, 0.5)(x), np.clip(X, -0.5, 0.5))
    assert_close(nn.Softmin(dim=0)(x), F.softmin(x, 0).numpy())
    assert_close(nn.GLU()(x), F.glu(x, -1).numpy())
    for cls in (nn.Mish, nn.Hardswish, nn.Hardsigmoid, nn.Softsign, nn.LogSigmoid):
        name = cls.__name__.lower()
        assert_close(cls()(x), ACTIVATIONS[name][1](X), rtol=1e-6)
    assert repr(nn.ReLU6()) == "ReLU6()"
    assert repr(nn.ReLU6(inplace=True)) == "ReLU6(inplace=True)"
    assert repr(nn.Hardtanh()) == "Hardtanh(min_val=-1.0, max_val=1.0)"
    assert repr(nn.Softmin(1)) == "Softmin(dim=1)"
    assert repr(nn.GLU()) == "GLU(dim=-1)"


def test_prelu_module_has_a_learnable_weight() -> None:
    m = nn.PReLU(3, init=0.1)
    assert list(m.state_dict()) == ["weight"]
    assert_close(m.weight, np.full(3, 0.1))
    assert repr(m) == "PReLU(num_parameters=3)"
    x = dm.tensor(-np.ones((2, 3, 2), dtype=np.float32))
    m(x).sum().backward()
    assert_close(m.weight.grad, np.full(3, -4.0))


# ---- losses ------------------------------------------------------------------------------------

P = RNG.uniform(0.05, 0.95, size=(4, 3))
T = RNG.uniform(0.0, 1.0, size=(4, 3))
W = RNG.uniform(0.5, 2.0, size=(4, 3))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy(reduction: str) -> None:
    ref = -W * (T * np.log(P) + (1 - T) * np.log(1 - P))
    got = F.binary_cross_entropy(dm.tensor(P), dm.tensor(T), dm.tensor(W), reduction)
    assert_close(got, reduce_np(ref, reduction), rtol=1e-10)
    w = dm.tensor(W)
    gradcheck(lambda p, t: F.binary_cross_entropy(p, t, w, reduction), [leaf(P), leaf(T)])
    loss_fn = nn.BCELoss(weight=w, reduction=reduction)
    assert_close(loss_fn.forward(dm.tensor(P), dm.tensor(T)), reduce_np(ref, reduction))


def test_binary_cross_entropy_clamps_the_log_at_minus_100() -> None:
    got = F.binary_cross_entropy(dm.tensor([0.0, 1.0]), dm.tensor([1.0, 0.0]), reduction="none")
    assert_close(got, [100.0, 100.0])
    assert list(nn.BCELoss(weight=dm.ones(3)).state_dict()) == ["weight"]
    with pytest.raises(ValueError, match="target size"):
        F.binary_cross_entropy(dm.zeros(3), dm.zeros(2))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("beta", [1.0, 0.3, 0.0])
def test_smooth_l1_loss(reduction: str, beta: float) -> None:
    x = RNG.normal(size=(3, 5))
    y = RNG.normal(size=(3, 5))
    d = np.abs(x - y)
    ref = d if beta == 0 else np.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta)
    assert_close(
        F.smooth_l1_loss(dm.tensor(x), dm.tensor(y), reduction, beta), reduce_np(ref, reduction)
    )
    gradcheck(lambda a, b: F.smooth_l1_loss(a, b, reduction, beta), [leaf(x), leaf(y)])
    got = nn.SmoothL1Loss(reduction=reduction, beta=beta)(dm.tensor(x), dm.tensor(y))
    assert_close(got, reduce_np(ref, reduction))


@pytest.mark.parametrize("reduction", ["mean", "batchmean", "sum", "none"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div(reduction: str, log_target: bool) -> None:
    logp = np.log(P)
    q = T.copy()
    q[0, 0] = 0.0  # 0 * log 0 counts as 0
    target = np.log(T) if log_target else q
    prob = np.exp(target) if log_target else q
    with np.errstate(divide="ignore"):
        ref = np.where(prob > 0, prob * (np.log(np.where(prob > 0, prob, 1)) - logp), 0.0)
    expected = ref.sum() / P.shape[0] if reduction == "batchmean" else reduce_np(ref, reduction)
    got = F.kl_div(dm.tensor(logp), dm.tensor(target), reduction, log_target)
    assert_close(got, expected, rtol=1e-10)
    module = nn.KLDivLoss(reduction=reduction, log_target=log_target)
    assert_close(module(dm.tensor(logp), dm.tensor(target)), expected)
    gradcheck(lambda a: F.kl_div(a, dm.tensor(target), reduction, log_target), [leaf(logp)])
    if log_target:
        gradcheck(lambda b: F.kl_div(dm.tensor(logp), b, reduction, True), [leaf(target)])


def test_loss_modules_check_their_reduction() -> None:
    with pytest.raises(ValueError):
        nn.SmoothL1Loss(reduction="batchmean")
    assert nn.KLDivLoss(reduction="batchmean").reduction == "batchmean"


# ---- padding and resampling --------------------------------------------------------------------

IMG = RNG.normal(size=(2, 3, 4, 5))


@pytest.mark.parametrize("pad", [(1, 2), (1, 0, 2, 3), (0, 1, 1, 0, 1, 1)])
def test_constant_pad_matches_numpy(pad: tuple[int, ...]) -> None:
    widths = [(0, 0)] * 4
    for i in range(len(pad) // 2):
        widths[3 - i] = (pad[2 * i], pad[2 * i + 1])
    expected = np.pad(IMG, widths, constant_values=1.5)
    assert_close(F.pad(dm.tensor(IMG), pad, value=1.5), expected)


def test_negative_pads_crop_and_gradients_flow() -> None:
    got = F.pad(dm.tensor(IMG), (-1, 2, 1, -2))
    expected = np.pad(IMG[:, :, :-2, 1:], [(0, 0), (0, 0), (1, 0), (0, 2)])
    assert_close(got, expected)
    x = IMG[:1, :1]
    gradcheck(lambda t: F.pad(t, (-1, 2, 1, -2), value=3.0), [leaf(x)])


@pytest.mark.parametrize(
    "mode,np_mode", [("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")]
)
def test_gather_pad_modes_match_numpy(mode: str, np_mode: str) -> None:
    expected = np.pad(IMG, [(0, 0), (0, 0), (1, 2), (3, 0)], mode=np_mode)
    assert_close(F.pad(dm.tensor(IMG), (3, 0, 1, 2), mode), expected)
    x = IMG[:1, :1, :3, :4]
    gradcheck(lambda t: F.pad(t, (2, 1, 1, 2), mode), [leaf(x)])
    expected_1d = np.pad(IMG[0], [(0, 0), (0, 0), (2, 1)], mode=np_mode)
    assert_close(F.pad(dm.tensor(IMG[0]), (2, 1), mode), expected_1d)


def test_pad_errors() -> None:
    with pytest.raises(ValueError, match="divisible by 2"):
        F.pad(dm.zeros(2, 2), (1,))
    with pytest.raises(ValueError, match="less than the corresponding"):
        F.pad(dm.zeros(1, 2, 3), (3, 0), "reflect")
    with pytest.raises(ValueError, match="value"):
        F.pad(dm.zeros(1, 2, 3), (1, 1), "replicate", value=2.0)
    with pytest.raises(ValueError, match="mode"):
        F.pad(dm.zeros(1, 2, 3), (1, 1), "wrap")


def test_padding_modules() -> None:
    x = dm.tensor(IMG)
    zp = nn.ZeroPad2d((1, 2, 0, 1))
    assert repr(zp) == "ZeroPad2d((1, 2, 0, 1))"
    assert_close(zp(x), np.pad(IMG, [(0, 0), (0, 0), (0, 1), (1, 2)]))
    assert_close(
        nn.ConstantPad2d(1, 2.0)(x),
        np.pad(IMG, [(0, 0), (0, 0), (1, 1), (1, 1)], constant_values=2.0),
    )
    assert_close(nn.ReflectionPad2d(2)(x), np.pad(IMG, [(0, 0), (0, 0), (2, 2), (2, 2)], "reflect"))
    assert_close(nn.ReplicationPad2d(1)(x), np.pad(IMG, [(0, 0), (0, 0), (1, 1), (1, 1)], "edge"))


def test_interpolate_nearest_by_integer_factors() -> None:
    expected = IMG.repeat(2, axis=2).repeat(3, axis=3)
    assert_close(F.interpolate(dm.tensor(IMG), scale_factor=(2, 3)), expected)
    assert_close(F.interpolate(dm.tensor(IMG), size=(8, 15)), expected)
    up = nn.Upsample(scale_factor=2)
    assert repr(up) == "Upsample(scale_factor=2.0, mode='nearest')"
    assert_close(up(dm.tensor(IMG)), IMG.repeat(2, axis=2).repeat(2, axis=3))
    gradcheck(lambda t: F.interpolate(t, scale_factor=2), [leaf(IMG[:1, :1, :2, :3])])


def test_interpolate_nearest_to_any_size_uses_floor_of_scaled_index() -> None:
    got = F.interpolate(dm.tensor(IMG), size=(3, 7))
    rows = np.floor(np.arange(3) * (4 / 3)).astype(int)
    cols = np.minimum(np.floor(np.arange(7) * np.float32(5 / 7)).astype(int), 4)
    assert_close(got, IMG[:, :, rows][:, :, :, cols])
    exact = F.interpolate(dm.tensor(IMG), size=(3, 7), mode="nearest-exact")
    rows = np.floor((np.arange(3) + 0.5) * (4 / 3)).astype(int)
    cols = np.minimum(np.floor((np.arange(7) + 0.5) * (5 / 7)).astype(int), 4)
    assert_close(exact, IMG[:, :, rows][:, :, :, cols])
    with pytest.raises(ValueError, match="mode"):
        F.interpolate(dm.tensor(IMG), scale_factor=2, mode="box")


# ---- normalisation, similarity, distance --------------------------------------------------------

V1 = RNG.normal(size=(4, 5))
V2 = RNG.normal(size=(4, 5))


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0])
def test_normalize(p: float) -> None:
    norm = (np.abs(V1) ** p).sum(1, keepdims=True) ** (1 / p)
    assert_close(F.normalize(dm.tensor(V1), p), V1 / norm, rtol=1e-10)
    gradcheck(lambda t: F.normalize(t, p, dim=0), [leaf(V1)])


def test_normalize_keeps_zero_vectors_finite() -> None:
    x = dm.zeros(2, 3, dtype=dm.float64, requires_grad=True)
    out = F.normalize(x)
    out.sum().backward()
    assert np.all(out.detach().numpy() == 0) and np.all(np.isfinite(x.grad.numpy()))


def test_cosine_similarity_and_module() -> None:
    expected = (V1 * V2).sum(1) / (np.linalg.norm(V1, axis=1) * np.linalg.norm(V2, axis=1))
    assert_close(F.cosine_similarity(dm.tensor(V1), dm.tensor(V2)), expected, rtol=1e-10)
    assert_close(nn.CosineSimilarity(dim=1)(dm.tensor(V1), dm.tensor(V2)), expected)
    gradcheck(lambda a, b: F.cosine_similarity(a, b, dim=-1), [leaf(V1), leaf(V2)])
    row = V2[:1]  # broadcasts against every row of V1
    expected = (V1 * row).sum(1) / (np.linalg.norm(V1, axis=1) * np.linalg.norm(row))
    assert_close(F.cosine_similarity(dm.tensor(V1), dm.tensor(row)), expected)


def test_pairwise_distance() -> None:
    expected = np.linalg.norm(V1 - V2 + 1e-6, axis=-1)
    assert_close(F.pairwise_distance(dm.tensor(V1), dm.tensor(V2)), expected, rtol=1e-10)
    got = nn.PairwiseDistance(p=1.0, keepdim=True)(dm.tensor(V1), dm.tensor(V2))
    assert_close(got, np.abs(V1 - V2 + 1e-6).sum(-1, keepdims=True))
    gradcheck(lambda a, b: F.pairwise_distance(a, b), [leaf(V1), leaf(V2)])


def group_norm_np(x: np.ndarray, groups: int, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    g = x.reshape(x.shape[0], groups, -1)
    g = (g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return g.reshape(x.shape) * w.reshape(shape) + b.reshape(shape)


def test_group_norm_matches_numpy_and_gradcheck() -> None:
    x = RNG.normal(size=(2, 4, 3, 2))
    w, b = RNG.normal(size=4), RNG.normal(size=4)
    got = F.group_norm(dm.tensor(x), 2, dm.tensor(w), dm.tensor(b))
    assert_close(got, group_norm_np(x, 2, w, b), rtol=1e-10, atol=1e-10)
    gradcheck(lambda t, ww, bb: F.group_norm(t, 2, ww, bb), [leaf(x), leaf(w), leaf(b)])
    with pytest.raises(dm.ShapeError, match="divisible"):
        F.group_norm(dm.tensor(x), 3)


@pytest.mark.parametrize("affine", ["both", "weight", "bias", "none"])
def test_fused_group_norm_layouts_dtypes_and_saved_input(affine: str) -> None:
    """The engine's fused group norm: a channels-last view and a 3-D input, the weight or the
    bias alone (gradchecked), bfloat16 input with float32 parameters, float32 under autocast,
    and an in-place change of the input after forward refused by its backward."""
    x = RNG.normal(size=(3, 6, 4, 5))
    w = RNG.normal(size=6) if affine in ("both", "weight") else None
    b = RNG.normal(size=6) if affine in ("both", "bias") else None
    want = group_norm_np(x, 3, np.ones(6) if w is None else w, np.zeros(6) if b is None else b)
    wt = None if w is None else dm.tensor(w)
    bt = None if b is None else dm.tensor(b)
    cl = dm.tensor(x).contiguous(memory_format=dm.channels_last)
    assert_close(F.group_norm(cl, 3, wt, bt), want, rtol=1e-10, atol=1e-10)
    flat = x.reshape(3, 6, 20)
    assert_close(F.group_norm(dm.tensor(flat), 3, wt, bt), want.reshape(3, 6, 20), atol=1e-10)
    params = [leaf(p) for p in (w, b) if p is not None]

    def f(t: dm.Tensor, *ps: dm.Tensor) -> dm.Tensor:
        it = iter(ps)
        return F.group_norm(
            t, 3, next(it) if w is not None else None, next(it) if b is not None else None
        )

    gradcheck(f, [leaf(x[:2, :, :2, :3]), *params])
    w32 = None if wt is None else wt.float()
    b32 = None if bt is None else bt.float()
    y16 = F.group_norm(dm.tensor(x, dtype=dm.bfloat16), 3, w32, b32)
    assert y16.dtype == dm.bfloat16
    assert_close(y16.double(), want, atol=0.1, rtol=0.05)
    with dm.amp.autocast(dtype=dm.bfloat16):
        assert F.group_norm(dm.tensor(x, dtype=dm.bfloat16), 3, w32, b32).dtype == dm.float32
    t = dm.tensor(x, requires_grad=True) * 1
    y = F.group_norm(t, 3, wt, bt)
    t.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.sum().backward()


def test_group_norm_module() -> None:
    m = nn.GroupNorm(2, 4)
    assert [(n, tuple(p.shape)) for n, p in m.named_parameters()] == [
        ("weight", (4,)),
        ("bias", (4,)),
    ]
    assert repr(m) == "GroupNorm(2, 4, eps=1e-05, affine=True, bias=True)"
    x = RNG.normal(size=(3, 4, 5)).astype(np.float32)
    assert_close(m(dm.tensor(x)), group_norm_np(x, 2, np.ones(4), np.zeros(4)), atol=1e-5)
    assert list(nn.GroupNorm(1, 3, affine=False).state_dict()) == []
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(3, 4)


# ---- shape, dropout ----------------------------------------------------------------------------


def test_unflatten() -> None:
    m = nn.Unflatten(1, (2, -1))
    assert repr(m) == "Unflatten(dim=1, unflattened_size=(2, -1))"
    assert m(dm.zeros(3, 8, 5)).shape == (3, 2, 4, 5)
    assert nn.Unflatten(-1, (2, 3))(dm.zeros(4, 6)).shape == (4, 2, 3)


def test_dropout2d_zeroes_whole_channels_in_training_only() -> None:
    dm.manual_seed(0)
    m = nn.Dropout2d(0.5)
    x = dm.ones(8, 16, 3, 3)
    y = m(x).numpy()
    per_channel = y.reshape(8, 16, -1)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))
    dropped = (per_channel == 0).all(-1).mean()
    assert 0.3 < dropped < 0.7
    m.eval()
    assert_close(m(x), np.ones((8, 16, 3, 3)))
    assert repr(m) == "Dropout2d(p=0.5, inplace=False)"
    assert_close(F.dropout2d(x, 1.0), np.zeros((8, 16, 3, 3)))


# ---- parameter containers ----------------------------------------------------------------------


def test_parameter_list_registers_parameters_by_index() -> None:
    pl = nn.ParameterList([dm.zeros(2, 3), nn.Parameter(dm.ones(4))])
    pl.append(dm.zeros(1))
    assert len(pl) == 3 and all(isinstance(p, nn.Parameter) and p.requires_grad for p in pl)
    assert [n for n, _ in pl.named_parameters()] == ["0", "1", "2"]
    assert pl[-1].shape == (1,) and len(pl[1:]) == 2

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.params = nn.ParameterList([dm.zeros(2), dm.zeros(3)])

    model = Model()
    assert list(model.state_dict()) == ["params.0", "params.1"]
    assert repr(nn.ParameterList([dm.zeros(2, 3), dm.zeros(4)])) == (
        "ParameterList(\n"
        "    (0): Parameter containing: [democratising.float32 of size 2x3]\n"
        "    (1): Parameter containing: [democratising.float32 of size 4]\n"
        ")"
    )


def test_parameter_dict_registers_parameters_by_key() -> None:
    pd = nn.ParameterDict({"scale": dm.ones(3), "shift": dm.zeros(3)})
    pd["extra"] = dm.zeros(1)
    assert list(pd) == ["scale", "shift", "extra"] and "scale" in pd and len(pd) == 3
    assert list(pd.state_dict()) == ["scale", "shift", "extra"]
    assert isinstance(pd["scale"], nn.Parameter)
    del pd["extra"]
    assert list(pd.keys()) == ["scale", "shift"]
    (pd["scale"] * 2 + pd["shift"]).sum().backward()
    assert_close(pd["scale"].grad, np.full(3, 2.0))
    assert repr(nn.ParameterDict({"a": dm.zeros(2)})) == (
        "ParameterDict(  (a): Parameter containing: [torch.FloatTensor of size 2])"
    )


# ---- nn.init -----------------------------------------------------------------------------------


def test_calculate_gain_and_fans() -> None:
    assert init.calculate_gain("linear") == 1.0 and init.calculate_gain("conv2d") == 1.0
    assert init.calculate_gain("sigmoid") == 1.0 and init.calculate_gain("tanh") == 5.0 / 3
    assert init.calculate_gain("relu") == math.sqrt(2.0)
    assert init.calculate_gain("leaky_relu") == math.sqrt(2.0 / (1 + 0.01**2))
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2.0 / 1.04)
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="Unsupported"):
        init.calculate_gain("swish")
    assert init._calculate_fan_in_and_fan_out(nn.Linear(3, 5).weight) == (3, 5)
    assert init._calculate_fan_in_and_fan_out(dm.zeros(8, 4, 3, 3)) == (36, 72)
    with pytest.raises(ValueError, match="fewer than 2"):
        init._calculate_fan_in_and_fan_out(dm.zeros(3))


def test_deterministic_initialisers_on_parameters() -> None:
    w = nn.Parameter(dm.randn(3, 4))
    assert init.constant_(w, 0.5) is w and w.requires_grad and w.is_leaf
    assert_close(w, np.full((3, 4), 0.5))
    assert_close(init.ones_(w), np.ones((3, 4)))
    assert_close(init.zeros_(w), np.zeros((3, 4)))
    assert_close(init.eye_(w), np.eye(3, 4))
    (w * 2).sum().backward()  # still a trainable leaf
    assert_close(w.grad, np.full((3, 4), 2.0))
    with pytest.raises(ValueError, match="2 dimensions"):
        init.eye_(dm.zeros(2, 2, 2))
    conv = init.dirac_(dm.zeros(4, 2, 3, 3))
    expected = np.zeros((4, 2, 3, 3))
    expected[0, 0, 1, 1] = expected[1, 1, 1, 1] = 1.0
    assert_close(conv, expected)


BIG = (256, 384)  # fan_in 384, fan_out 256; ~98k samples


def _fill(fn: Callable[..., dm.Tensor], *args: object, **kwargs: object) -> np.ndarray:
    dm.manual_seed(1)
    w = nn.Parameter(dm.zeros(BIG))
    assert fn(w, *args, **kwargs) is w and w.requires_grad
    return w.detach().numpy().astype(np.float64)


def _assert_uniform(v: np.ndarray, lo: float, hi: float) -> None:
    assert lo <= v.min() and v.max() <= hi
    assert v.min() < lo + 0.01 * (hi - lo) and v.max() > hi - 0.01 * (hi - lo)
    width = hi - lo
    assert abs(v.mean() - (lo + hi) / 2) < 0.01 * width
    assert abs(v.std() - width / math.sqrt(12)) < 0.01 * width


def _assert_normal(v: np.ndarray, mean: float, std: float) -> None:
    assert abs(v.mean() - mean) < 0.02 * std
    assert abs(v.std() - std) < 0.02 * std


def test_random_initialisers_follow_pytorch_formulas() -> None:
    fan_in, fan_out = BIG[1], BIG[0]
    _assert_uniform(_fill(init.uniform_, -1.0, 3.0), -1.0, 3.0)
    _assert_normal(_fill(init.normal_, 2.0, 0.5), 2.0, 0.5)
    a = 2.0 * math.sqrt(6.0 / (fan_in + fan_out))
    _assert_uniform(_fill(init.xavier_uniform_, gain=2.0), -a, a)
    _assert_normal(_fill(init.xavier_normal_), 0.0, math.sqrt(2.0 / (fan_in + fan_out)))
    bound = math.sqrt(6.0 / ((1 + 5) * fan_in))  # a=√5: PyTorch's default Linear init
    _assert_uniform(_fill(init.kaiming_uniform_, a=math.sqrt(5)), -bound, bound)
    std = math.sqrt(2.0) / math.sqrt(fan_out)
    _assert_normal(_fill(init.kaiming_normal_, mode="fan_out", nonlinearity="relu"), 0.0, std)
    with pytest.raises(ValueError, match="Mode"):
        init.kaiming_uniform_(dm.zeros(2, 2), mode="fan_avg")


def test_trunc_normal_stays_in_bounds_with_the_truncated_moments() -> None:
    v = _fill(init.trunc_normal_, mean=0.5, std=1.0, a=-1.0, b=1.5)
    assert -1.0 <= v.min() and v.max() <= 1.5
    # Moments of N(0.5, 1) truncated to [-1.5, 1] standard units.
    alpha, beta = -1.5, 1.0

    def pdf(z: float) -> float:
        return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    def cdf(z: float) -> float:
        return (1 + math.erf(z / math.sqrt(2))) / 2

    mass = cdf(beta) - cdf(alpha)
    shift = (pdf(alpha) - pdf(beta)) / mass
    var = 1 + (alpha * pdf(alpha) - beta * pdf(beta)) / mass - shift**2
    assert abs(v.mean() - (0.5 + shift)) < 0.01
    assert abs(v.std() - math.sqrt(var)) < 0.01


def test_orthogonal_gives_orthonormal_rows_or_columns_and_follows_the_seed() -> None:
    tall = init.orthogonal_(nn.Parameter(dm.zeros(6, 4)), gain=2.0).detach().numpy()
    assert_close(dm.tensor(tall.T @ tall), 4.0 * np.eye(4), atol=1e-5)
    conv = init.orthogonal_(dm.zeros(3, 2, 2, 2)).numpy().reshape(3, -1)
    assert_close(dm.tensor(conv @ conv.T), np.eye(3), atol=1e-5)
    dm.manual_seed(5)
    first = init.orthogonal_(dm.zeros(4, 4)).numpy()
    dm.manual_seed(5)
    assert np.array_equal(first, init.orthogonal_(dm.zeros(4, 4)).numpy())


@pytest.mark.parametrize(
    ("call", "name", "arg"),
    [
        (lambda t: F.conv2d(5, dm.ones(1, 1, 1, 1)), "conv2d", "input"),
        (lambda t: F.relu(5), "relu", "input"),
        (lambda t: F.relu(input=5.0), "relu", "input"),
        (lambda t: F.softmax(5, 0), "softmax", "input"),
        (lambda t: F.mse_loss(5, t), "mse_loss", "input"),
        (lambda t: F.cross_entropy(5, t), "cross_entropy", "input"),
        (lambda t: F.dropout(5), "dropout", "input"),
        (lambda t: F.pad(5, (1, 1)), "pad", "input"),
        (lambda t: F.one_hot(5), "one_hot", "tensor"),
        (lambda t: F.layer_norm([1.0, 2.0], (2,)), "layer_norm", "input"),
        (lambda t: F.cosine_similarity(None, t), "cosine_similarity", "x1"),
    ],
)
def test_functional_refuses_a_non_tensor_input_like_pytorch(
    call: Callable[[dm.Tensor], object], name: str, arg: str
) -> None:
    """A Python number where a tensor is required: PyTorch's ``TypeError`` naming the function
    and argument (it was ``AttributeError: 'int' object has no attribute ...``)."""
    with pytest.raises(
        TypeError, match=rf"^{name}\(\): argument '{arg}' \(position 1\) must be Tensor"
    ):
        call(dm.ones(2))


def test_every_public_functional_taking_a_tensor_checks_it() -> None:
    import inspect

    for name in dir(F):
        fn = getattr(F, name)
        if name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != F.__name__:
            continue
        first = next(iter(inspect.signature(fn).parameters.values()), None)
        if first is not None and first.annotation == "Tensor":
            with pytest.raises(TypeError, match="must be Tensor, not int"):
                fn(5, *([None] * (len(inspect.signature(fn).parameters) - 1)))


def test_binary_cross_entropy_gradient_is_finite_at_saturated_probabilities() -> None:
    """PyTorch's backward ``(x - y) / max(x (1 - x), 1e-12)``: a sigmoid saturated to exactly
    0 or 1 gives a large finite gradient, not NaN (the clamped logs' 0 * inf)."""
    x = dm.tensor([0.0, 1.0, 0.25], requires_grad=True)
    y = dm.tensor([1.0, 0.0, 1.0])
    loss = F.binary_cross_entropy(x, y, reduction="sum")
    assert abs(loss.item() - (200.0 - np.log(0.25))) < 1e-4
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1e12, 1e12, -4.0], rtol=1e-6)
