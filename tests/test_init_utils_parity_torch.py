"""Parity of ``nn.init``, layers' ``reset_parameters`` and ``nn.utils`` with PyTorch 2.15, found
by differential testing. Expected values were read off PyTorch (hard-coded: no torch here); the
random initialisers are checked by their bounds and statistics, as the generators differ."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import democratising as dm
from democratising.nn import init


def _np(t: dm.Tensor) -> np.ndarray:
    return np.asarray(t.detach().numpy(), dtype=np.float64)


# ---- nn.init ------------------------------------------------------------------------------


_DEPRECATED = [
    ("uniform", ()),
    ("normal", ()),
    ("constant", (0.5,)),
    ("eye", ()),
    ("xavier_uniform", ()),
    ("xavier_normal", ()),
    ("kaiming_uniform", ()),
    ("kaiming_normal", ()),
    ("orthogonal", ()),
    ("sparse", (0.5,)),
]


@pytest.mark.parametrize(("name", "args"), _DEPRECATED)
def test_deprecated_init_names_warn_and_fill_in_place(name: str, args: tuple) -> None:
    """PyTorch keeps ``nn.init.uniform`` & co.: a FutureWarning, then the ``_`` version."""
    t = dm.nn.Parameter(dm.zeros(6, 4))
    with pytest.warns(FutureWarning, match=f"`nn.init.{name}` is now deprecated"):
        out = getattr(init, name)(t, *args)
    assert out is t
    assert getattr(init, name).__name__ == name
    assert t.requires_grad and t.grad_fn is None
    assert np.count_nonzero(_np(t)) > 0


def test_deprecated_dirac_and_generator_passthrough() -> None:
    w = dm.zeros(4, 4, 3)
    with pytest.warns(FutureWarning):
        init.dirac(w, 2)
    assert _np(w).sum() == 4.0  # (PyTorch: 4 ones, two per group)
    a, b = dm.empty(3, 5), dm.empty(3, 5)
    with pytest.warns(FutureWarning):
        init.uniform(a, generator=dm.Generator().manual_seed(3))
        init.uniform(b, generator=dm.Generator().manual_seed(3))
    assert np.array_equal(_np(a), _np(b))


def test_calculate_gain_values_and_int_for_linear() -> None:
    # PyTorch 2.15 values; 'linear'/'conv*'/'sigmoid' give the int 1.
    gains = {
        "linear": 1,
        "conv2d": 1,
        "conv_transpose3d": 1,
        "sigmoid": 1,
        "tanh": 5.0 / 3,
        "relu": math.sqrt(2.0),
        "leaky_relu": 1.4141428569978354,
        "selu": 0.75,
    }
    for nl, g in gains.items():
        assert init.calculate_gain(nl) == pytest.approx(g, rel=1e-15)
    assert type(init.calculate_gain("linear")) is int
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(1.3867504905630728)
    assert init.calculate_gain("leaky_relu", 3) == pytest.approx(0.4472135954999579)
    with pytest.raises(ValueError, match="negative_slope True not a valid number"):
        init.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError, match="Unsupported nonlinearity foo"):
        init.calculate_gain("foo")


def test_fan_in_and_fan_out() -> None:
    f = init._calculate_fan_in_and_fan_out
    assert f(dm.empty(3, 4)) == (4, 3)
    assert f(dm.empty(3, 4, 5)) == (20, 15)
    assert f(dm.empty(3, 4, 5, 6)) == (120, 90)
    assert f(dm.empty(0, 3)) == (3, 0)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        f(dm.empty(5))


def test_trunc_normal_refuses_integer_tensors() -> None:
    """PyTorch raises (normal_ is not implemented for Long); it used to fill cast samples."""
    with pytest.raises(TypeError, match="floating point"):
        init.trunc_normal_(dm.zeros(3, 3, dtype=dm.int64))
    with pytest.raises(TypeError):
        init.normal_(dm.zeros(3, dtype=dm.int64))


def test_random_initialisers_statistics() -> None:
    dm.manual_seed(0)
    # Reference statistics from PyTorch 2.15 on the same shapes (bounds exact, std to ~1%).
    w = init.kaiming_uniform_(dm.empty(300, 400), a=math.sqrt(5))
    assert np.abs(_np(w)).max() <= 0.05 and _np(w).std() == pytest.approx(0.0288, rel=0.02)
    w = init.xavier_uniform_(dm.empty(64, 32, 3, 3), gain=2.0)
    assert np.abs(_np(w)).max() <= 0.16667 and _np(w).std() == pytest.approx(0.0960, rel=0.02)
    w = init.kaiming_normal_(dm.empty(300, 400), mode="fan_out", nonlinearity="relu")
    assert _np(w).std() == pytest.approx(0.0816, rel=0.02)
    w = init.trunc_normal_(dm.empty(300, 400))
    assert -2.0 <= _np(w).min() and _np(w).max() <= 2.0
    assert _np(w).std() == pytest.approx(0.8796, rel=0.02)
    w = init.trunc_normal_(dm.empty(300, 400), 0.0, 1.0, -0.5, 0.3)
    assert _np(w).mean() == pytest.approx(-0.095, abs=0.005)
    assert _np(w).std() == pytest.approx(0.2284, rel=0.02)
    w = init.orthogonal_(dm.empty(400, 300), 2.0)
    assert np.allclose(_np(w).T @ _np(w), 4.0 * np.eye(300), atol=1e-4)
    w = init.sparse_(dm.empty(300, 400), 0.3)
    assert ((_np(w) == 0).sum(axis=0) == 90).all()


# ---- reset_parameters -----------------------------------------------------------------------


_LAYERS = [
    # (class, args, kwargs, {parameter: PyTorch's bound of U(-b, b)})
    ("Linear", (500, 300), {}, {"weight": 1 / math.sqrt(500), "bias": 1 / math.sqrt(500)}),
    ("Bilinear", (40, 50, 60), {}, {"weight": 1 / math.sqrt(40), "bias": 1 / math.sqrt(40)}),
    ("Conv1d", (8, 16, 3), {"bias": False}, {"weight": 1 / math.sqrt(24)}),
    (
        "Conv2d",
        (32, 64, 3),
        {"groups": 4},
        {"weight": 1 / math.sqrt(72), "bias": 1 / math.sqrt(72)},
    ),
    (
        "ConvTranspose2d",
        (32, 64, 3),
        {"groups": 4},
        {"weight": 1 / math.sqrt(144), "bias": 1 / math.sqrt(144)},
    ),
    ("Conv3d", (4, 8, 3), {}, {"weight": 1 / math.sqrt(108), "bias": 1 / math.sqrt(108)}),
    ("ConvTranspose3d", (4, 8, 3), {}, {"weight": 1 / math.sqrt(216), "bias": 1 / math.sqrt(216)}),
    ("RNN", (10, 200), {"num_layers": 2}, {"": 1 / math.sqrt(200)}),
    ("LSTM", (10, 200), {"proj_size": 50, "bidirectional": True}, {"": 1 / math.sqrt(200)}),
    ("GRU", (10, 200), {"bias": False}, {"": 1 / math.sqrt(200)}),
    ("RNNCell", (10, 200), {}, {"": 1 / math.sqrt(200)}),
    ("LSTMCell", (10, 200), {}, {"": 1 / math.sqrt(200)}),
    ("GRUCell", (10, 200), {}, {"": 1 / math.sqrt(200)}),
]


@pytest.mark.parametrize(("cls", "args", "kwargs", "bounds"), _LAYERS)
def test_reset_parameters_redraws_uniform_in_place(
    cls: str, args: tuple, kwargs: dict, bounds: dict
) -> None:
    """PyTorch's layers have ``reset_parameters``; loops calling it used to do nothing here."""
    m = getattr(dm.nn, cls)(*args, **kwargs)
    params = dict(m.named_parameters())
    with dm.no_grad():
        for p in params.values():
            p.fill_(7.0)
    assert m.reset_parameters() is None
    for name, p in m.named_parameters():
        assert p is params[name] and p.requires_grad and p.grad_fn is None
        bound = bounds.get(name, bounds.get(""))
        a = _np(p)
        assert np.abs(a).max() <= bound * (1 + 1e-6), name
        if a.size >= 500:  # U(-b, b) has std b/√3; its extremes come close to b
            assert a.std() == pytest.approx(bound / math.sqrt(3), rel=0.08), name
            assert np.abs(a).max() > 0.9 * bound, name


def test_reset_parameters_embedding_and_affine_layers() -> None:
    e = dm.nn.Embedding(1000, 64, padding_idx=-2)
    w = e.weight
    with dm.no_grad():
        w.fill_(7.0)
    e.reset_parameters()
    assert e.weight is w
    assert np.all(_np(w)[998] == 0.0)
    assert _np(w).std() == pytest.approx(1.0, rel=0.03)
    for m in (
        dm.nn.LayerNorm((8, 16)),
        dm.nn.GroupNorm(4, 64),
        dm.nn.RMSNorm(16),
        dm.nn.LayerNorm(16, bias=False),
    ):
        with dm.no_grad():
            for p in m.parameters():
                p.fill_(3.0)
        m.reset_parameters()
        assert np.all(_np(m.weight) == 1.0)
        if m._parameters.get("bias") is not None:
            assert np.all(_np(m.bias) == 0.0)
    p = dm.nn.PReLU(5, 0.1)
    with dm.no_grad():
        p.weight.fill_(3.0)
    p.reset_parameters()
    assert np.allclose(_np(p.weight), 0.1)


def test_reset_parameters_of_lazy_layers_waits_for_the_size() -> None:
    for m in (dm.nn.LazyLinear(5), dm.nn.LazyConv2d(5, 3)):
        m.reset_parameters()  # PyTorch: a no-op while the parameters are placeholders
        assert m.has_uninitialized_params()
    m = dm.nn.LazyLinear(5)
    m(dm.ones(2, 400))
    with dm.no_grad():
        m.weight.fill_(7.0)
    m.reset_parameters()
    assert np.abs(_np(m.weight)).max() <= 0.05


def test_default_init_of_attention_and_transformer() -> None:
    # PyTorch: xavier_uniform_ on in_proj_weight (3E, E) / separate q/k/v; biases zero.
    m = dm.nn.MultiheadAttention(256, 8, kdim=100, vdim=50)
    assert np.abs(_np(m.k_proj_weight)).max() <= math.sqrt(6 / 356)
    assert _np(m.k_proj_weight).std() == pytest.approx(0.0752, rel=0.03)
    assert np.all(_np(m.in_proj_bias) == 0.0)
    t = dm.nn.Transformer(64, 4, 1, 1, 128)
    lin = t.encoder.layers[0].linear1.weight  # Transformer: xavier_uniform_ on every matrix
    assert np.abs(_np(lin)).max() <= math.sqrt(6 / 192) and np.abs(_np(lin)).max() > 0.16


# ---- nn.utils -----------------------------------------------------------------------------


def test_nn_utils_submodules_import_as_in_pytorch() -> None:
    from democratising.nn.utils.clip_grad import clip_grad_norm_, clip_grad_value_
    from democratising.nn.utils.convert_parameters import parameters_to_vector
    from democratising.nn.utils.fusion import fuse_conv_bn_eval
    from democratising.nn.utils.init import skip_init
    from democratising.nn.utils.memory_format import convert_conv2d_weight_memory_format

    assert clip_grad_norm_ is dm.nn.utils.clip_grad_norm_
    assert clip_grad_value_ is dm.nn.utils.clip_grad_value_
    assert parameters_to_vector is dm.nn.utils.parameters_to_vector
    assert fuse_conv_bn_eval is dm.nn.utils.fuse_conv_bn_eval
    assert skip_init is dm.nn.utils.skip_init
    assert convert_conv2d_weight_memory_format is dm.nn.utils.convert_conv2d_weight_memory_format


def test_convert_conv_weight_memory_format() -> None:
    m = dm.nn.Sequential(dm.nn.Conv2d(3, 4, 3), dm.nn.Linear(3, 3), dm.nn.ConvTranspose2d(4, 2, 3))
    w = m[0].weight
    before = _np(w).copy()
    assert dm.nn.utils.convert_conv2d_weight_memory_format(m, dm.channels_last) is m
    # PyTorch 2.15's strides after the conversion.
    assert m[0].weight.stride() == (27, 1, 9, 3)
    assert m[2].weight.stride() == (18, 1, 6, 2)
    assert m[1].weight.stride() == (3, 1)
    assert m[0].weight is w and np.array_equal(_np(w), before)
    assert tuple(m[0](dm.randn(1, 3, 5, 5)).shape) == (1, 4, 3, 3)
    c = dm.nn.Conv3d(3, 4, 3)
    dm.nn.utils.convert_conv3d_weight_memory_format(c, dm.channels_last_3d)
    assert c.weight.stride() == (81, 1, 27, 9, 3)


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3)])
@pytest.mark.parametrize("omap", [None, "matrix_exp", "cayley", "householder"])
@pytest.mark.parametrize("triv", [True, False])
def test_orthogonal_parametrization_every_map(
    shape: tuple[int, int], omap: object, triv: bool
) -> None:
    """Registered names as PyTorch's, and the weight orthogonal, for every map; it used to
    depend on ``Tensor.diagonal(dim1=, dim2=)``."""
    m = dm.nn.Linear(shape[1], shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dm.nn.utils.parametrizations.orthogonal(m, orthogonal_map=omap, use_trivialization=triv)
    assert sorted(k for k, _ in m.named_parameters()) == [
        "bias",
        "parametrizations.weight.original",
    ]
    buffers = sorted(k for k, _ in m.named_buffers())
    assert buffers == (["parametrizations.weight.0.base"] if triv else [])
    w = _np(m.weight)
    q = w @ w.T if shape[0] <= shape[1] else w.T @ w
    assert np.allclose(q, np.eye(q.shape[0]), atol=1e-4)
    x = dm.randn(2, shape[1])
    m(x).sum().backward()
    assert m.parametrizations.weight.original.grad is not None


def test_transfer_parametrizations_and_params() -> None:
    """PyTorch's ``parametrize.transfer_parametrizations_and_params``: same parametrizations on
    the target, sharing the originals; a missing parameter is created."""
    pz = dm.nn.utils.parametrize

    class Symm(dm.nn.Module):
        def forward(self, x: dm.Tensor) -> dm.Tensor:
            return x.triu() + x.triu(1).transpose(-1, -2)

    w = np.random.RandomState(0).randn(4, 4).astype(np.float32)
    a, b = dm.nn.Linear(4, 4), dm.nn.Linear(4, 4)
    with dm.no_grad():
        a.weight.copy_(dm.tensor(w))
    pz.register_parametrization(a, "weight", Symm())
    assert pz.transfer_parametrizations_and_params(a, b) is b
    assert type(b).__name__ == "ParametrizedLinear"
    names = sorted(k for k, _ in b.named_parameters())
    assert names == ["bias", "parametrizations.weight.original"]
    assert b.parametrizations.weight.original is a.parametrizations.weight.original
    assert np.allclose(_np(b.weight), np.triu(w) + np.triu(w, 1).T)

    c, d = dm.nn.Linear(4, 4), dm.nn.Linear(4, 4)
    dm.nn.utils.parametrizations.weight_norm(c)
    pz.transfer_parametrizations_and_params(c, d, "weight")
    assert sorted(k for k, _ in d.named_parameters()) == [
        "bias",
        "parametrizations.weight.original0",
        "parametrizations.weight.original1",
    ]
    assert np.allclose(_np(c.weight), _np(d.weight))

    e = dm.nn.Module()
    pz.transfer_parametrizations_and_params(a, e)
    assert sorted(k for k, _ in e.named_parameters()) == ["parametrizations.weight.original"]
    assert np.allclose(_np(e.weight), _np(a.weight))
    assert pz.transfer_parametrizations_and_params(dm.nn.Linear(2, 2), b) is b


# ---- nn.utils.prune -------------------------------------------------------------------------


def _pruned_linear() -> dm.nn.Linear:
    m = dm.nn.Linear(4, 6)
    with dm.no_grad():
        m.weight.copy_(dm.tensor(np.random.RandomState(0).randn(6, 4).astype(np.float32)))
        m.bias.copy_(dm.arange(6.0) - 2.5)
    return m


def test_prune_module_imports_as_in_pytorch() -> None:
    import democratising.nn.utils.prune as prune_mod

    from democratising.nn.utils import prune

    assert prune is prune_mod
    for name in (
        "BasePruningMethod",
        "PruningContainer",
        "Identity",
        "RandomUnstructured",
        "L1Unstructured",
        "RandomStructured",
        "LnStructured",
        "CustomFromMask",
        "identity",
        "random_unstructured",
        "l1_unstructured",
        "random_structured",
        "ln_structured",
        "custom_from_mask",
        "global_unstructured",
        "remove",
        "is_pruned",
    ):
        assert hasattr(prune, name), name


def test_l1_unstructured_reparametrizes_as_pytorch() -> None:
    prune = dm.nn.utils.prune
    m = _pruned_linear()
    w = _np(m.weight).copy()
    assert prune.l1_unstructured(m, "weight", amount=0.3) is m
    # PyTorch 2.15: the same names, state_dict keys and a float32 mask.
    assert sorted(k for k, _ in m.named_parameters()) == ["bias", "weight_orig"]
    assert sorted(k for k, _ in m.named_buffers()) == ["weight_mask"]
    assert sorted(m.state_dict()) == ["bias", "weight_mask", "weight_orig"]
    assert m.weight_mask.dtype == dm.float32 and prune.is_pruned(m)
    expected = np.ones(24)
    expected[np.argsort(np.abs(w).reshape(-1))[:7]] = 0  # round(0.3 * 24) smallest |w|
    assert np.array_equal(_np(m.weight_mask), expected.reshape(6, 4))
    assert np.allclose(_np(m.weight), w * expected.reshape(6, 4))
    x = dm.tensor(np.random.RandomState(2).randn(3, 4).astype(np.float32))
    m(x).sum().backward()
    # the gradient reaches the original through the mask: zero where pruned
    assert np.array_equal(_np(m.weight_orig.grad) == 0, expected.reshape(6, 4) == 0)


def test_iterative_and_structured_pruning_and_remove() -> None:
    prune = dm.nn.utils.prune
    m = _pruned_linear()
    orig = m.weight
    prune.l1_unstructured(m, "weight", amount=0.25)
    prune.l1_unstructured(m, "weight", amount=0.5)
    prune.ln_structured(m, "weight", amount=1, n=2, dim=0)
    # PyTorch 2.15's mask for this weight: the second step prunes half of what is left.
    torch_mask = [
        [1.0, 0.0, 1.0, 1.0],
        [1.0, 1.0, 1.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0, 0.0],
    ]
    assert _np(m.weight_mask).tolist() == torch_mask
    hooks = [h for h, _ in m._forward_pre_hooks.values()]
    assert len(hooks) == 1 and isinstance(hooks[0], prune.PruningContainer)
    assert [type(h).__name__ for h in hooks[0]] == [
        "L1Unstructured",
        "L1Unstructured",
        "LnStructured",
    ]
    prune.remove(m, "weight")
    assert m.weight is orig and isinstance(m.weight, dm.nn.Parameter)
    assert sorted(k for k, _ in m.named_parameters()) == ["bias", "weight"]
    assert not prune.is_pruned(m) and not list(m.named_buffers())
    assert np.array_equal(_np(m.weight) == 0, np.array(torch_mask) == 0)
    with pytest.raises(ValueError, match="has to be pruned before pruning can be removed"):
        prune.remove(m, "weight")


def test_ln_structured_norms_and_random_pruning_counts() -> None:
    prune = dm.nn.utils.prune
    c = np.random.RandomState(1).randn(4, 3, 2, 2).astype(np.float32)

    def conv() -> dm.nn.Conv2d:
        m = dm.nn.Conv2d(3, 4, 2)
        with dm.no_grad():
            m.weight.copy_(dm.tensor(c))
        return m

    # PyTorch 2.15: kept channels (per-channel sums of the mask) for each (n, dim).
    cases = {
        (1, 0): [[4.0] * 3, [0.0] * 3, [0.0] * 3, [4.0] * 3],
        (2, 1): [[0.0, 0.0, 4.0]] * 4,
        (float("inf"), 0): [[4.0] * 3, [0.0] * 3, [0.0] * 3, [4.0] * 3],
        ("fro", 0): [[4.0] * 3, [0.0] * 3, [0.0] * 3, [4.0] * 3],
        (float("-inf"), 1): [[4.0, 0.0, 0.0]] * 4,
    }
    for (n, dim), expected in cases.items():
        m = prune.ln_structured(conv(), "weight", amount=0.5, n=n, dim=dim)
        assert _np(m.weight_mask.sum(dim=(2, 3))).tolist() == expected, (n, dim)
    dm.manual_seed(0)
    m = prune.random_unstructured(_pruned_linear(), "weight", amount=0.5)
    assert int((_np(m.weight_mask) == 0).sum()) == 12
    m = prune.random_structured(conv(), "weight", amount=2, dim=1)
    assert int((_np(m.weight_mask.sum(dim=(0, 2, 3))) > 0).sum()) == 1
    prune.random_structured(m, "weight", amount=1, dim=1)
    assert int((_np(m.weight_mask.sum(dim=(0, 2, 3))) > 0).sum()) == 0


def test_global_unstructured_custom_mask_and_errors() -> None:
    prune = dm.nn.utils.prune
    a = _pruned_linear()
    b = dm.nn.Conv2d(3, 4, 2)
    with dm.no_grad():
        b.weight.copy_(dm.tensor(np.random.RandomState(1).randn(4, 3, 2, 2).astype(np.float32)))
    params = [(a, "weight"), (b, "weight")]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=20)
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=0.5)
    # PyTorch 2.15: 20 of 72, then half of the 52 left: 46 pruned in all.
    pruned = int((_np(a.weight_mask) == 0).sum() + (_np(b.weight_mask) == 0).sum())
    assert pruned == 46
    allw = np.concatenate([_np(a.weight_orig).ravel(), _np(b.weight_orig).ravel()])
    kept = np.concatenate([_np(a.weight_mask).ravel(), _np(b.weight_mask).ravel()]) == 1
    assert np.abs(allw[kept]).min() > np.abs(allw[~kept]).max()

    m = _pruned_linear()
    mask = dm.tensor(np.arange(24).reshape(6, 4) % 3 != 0)
    prune.custom_from_mask(m, "weight", mask)
    assert m.weight_mask.dtype == dm.float32
    assert np.array_equal(_np(m.weight_mask), (np.arange(24).reshape(6, 4) % 3 != 0) * 1.0)

    for bad, exc in (
        (lambda: prune.l1_unstructured(_pruned_linear(), "weight", amount=1.5), ValueError),
        (lambda: prune.l1_unstructured(_pruned_linear(), "weight", amount=-1), ValueError),
        (lambda: prune.l1_unstructured(_pruned_linear(), "weight", amount="a"), TypeError),
        (lambda: prune.ln_structured(_pruned_linear(), "bias", 1, 1, 0), ValueError),
        (lambda: prune.ln_structured(_pruned_linear(), "weight", 1, 1, 3), IndexError),
        (
            lambda: prune.global_unstructured(
                [(_pruned_linear(), "weight")], prune.RandomStructured, amount=1
            ),
            TypeError,
        ),
    ):
        with pytest.raises(exc):
            bad()
    m = _pruned_linear()
    with pytest.raises(ValueError, match="should be smaller than the number of parameters"):
        prune.l1_unstructured(m, "weight", amount=100)
    assert sorted(k for k, _ in m.named_parameters()) == ["bias", "weight"]  # rolled back


def test_pruned_module_trains_and_state_dict_round_trips() -> None:
    prune = dm.nn.utils.prune
    x = dm.tensor(np.random.RandomState(2).randn(3, 4).astype(np.float32))
    a = prune.l1_unstructured(_pruned_linear(), "weight", 0.5)
    b = prune.identity(_pruned_linear(), "weight")
    assert float(b.weight_mask.sum()) == 24.0
    b.load_state_dict(a.state_dict())
    assert np.allclose(_np(a(x)), _np(b(x)))
    opt = dm.optim.SGD(a.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        a(x).pow(2).sum().backward()
        opt.step()
    assert np.all(_np(a.weight)[_np(a.weight_mask) == 0] == 0)
    assert [n for n, _ in a.named_parameters()] == ["bias", "weight_orig"]
    method = prune.L1Unstructured(amount=0.5)
    t = dm.tensor(np.random.RandomState(0).randn(6, 4).astype(np.float32))
    assert int((_np(method.prune(t)) == 0).sum()) == 12


def test_structured_pruning_with_a_negative_dim_prunes_columns() -> None:
    """PyTorch's default ``dim=-1``: half of a Linear(4, 3)'s 4 columns go (it pruned none)."""
    from democratising.nn.utils import prune

    for prune_fn in (
        lambda m: prune.ln_structured(m, "weight", 0.5, n=2, dim=-1),
        lambda m: prune.random_structured(m, "weight", 0.5, dim=-1),
    ):
        layer = dm.nn.Linear(4, 3)
        prune_fn(layer)
        kept = layer.weight_mask.sum(0).tolist()
        assert sorted(kept) == [0.0, 0.0, 3.0, 3.0]
