"""nn.utils.parametrize / parametrizations, the hook-based weight_norm / spectral_norm, fusion,
get_total_norm / clip_grads_with_norm_, skip_init, stateless and dm.func.functional_call."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from tests.helpers import assert_close, gradcheck

import democratising as dm
from democratising.nn.utils import parametrizations as PS
from democratising.nn.utils import parametrize as P

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning")


class Symmetric(dm.nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).transpose(-1, -2)

    def right_inverse(self, a):
        return a.triu()


class Scale(dm.nn.Module):
    def forward(self, x):
        return x * 2.0

    def right_inverse(self, y):
        return y / 2.0


def _np(t):
    return t.detach().numpy()


def test_register_parametrization_keys_property_and_grad():
    lin = dm.nn.Linear(3, 3)
    w = lin.weight
    P.register_parametrization(lin, "weight", Symmetric())
    assert type(lin).__name__ == "ParametrizedLinear"
    assert P.is_parametrized(lin) and P.is_parametrized(lin, "weight")
    assert not P.is_parametrized(lin, "bias")
    assert P.type_before_parametrizations(lin) is dm.nn.Linear
    assert list(lin.state_dict()) == ["bias", "parametrizations.weight.original"]
    orig = lin.parametrizations.weight.original
    assert orig is w  # same Parameter object
    np.testing.assert_allclose(_np(lin.weight), np.triu(_np(w)) + np.triu(_np(w), 1).T)
    x = dm.randn(4, 3)
    lin(x).sum().backward()
    # d/dA of sum(x @ sym(A).T): G = ones^T x summed; triu gets G + G^T off diagonal.
    g = np.ones((4, 3)).T @ _np(x)
    want = np.triu(g) + np.triu(g.T, 1)
    np.testing.assert_allclose(_np(orig.grad), want, rtol=1e-5, atol=1e-5)


def test_recomputed_on_access_and_cached():
    lin = dm.nn.Linear(2, 2)
    P.register_parametrization(lin, "weight", Scale())
    a, b = lin.weight, lin.weight
    assert a is not b
    with P.cached():
        c, d = lin.weight, lin.weight
        assert c is d
    assert lin.weight is not c


def test_assign_uses_right_inverse_and_chain():
    lin = dm.nn.Linear(2, 2)
    P.register_parametrization(lin, "weight", Scale())
    P.register_parametrization(lin, "weight", Scale())
    assert len(lin.parametrizations.weight) == 2
    lin.weight = dm.ones(2, 2)
    assert_close(lin.parametrizations.weight.original, dm.full((2, 2), 0.25))
    assert_close(lin.weight, dm.ones(2, 2))


def test_gradcheck_through_parametrization():
    class SymNoInverse(dm.nn.Module):
        def forward(self, x):
            return x.triu() + x.triu(1).transpose(-1, -2)

    def fn(a):
        mod = dm.nn.Module()
        mod.register_buffer("w", a)
        P.register_parametrization(mod, "w", SymNoInverse())
        P.register_parametrization(mod, "w", Scale())
        return mod.w

    gradcheck(fn, [dm.randn(3, 3, dtype=dm.float64, requires_grad=True)])


def test_state_dict_round_trip_and_remove():
    a = dm.nn.Linear(3, 2)
    P.register_parametrization(a, "weight", Scale())
    b = dm.nn.Linear(3, 2)
    P.register_parametrization(b, "weight", Scale())
    b.load_state_dict(a.state_dict())
    assert_close(b.weight, a.weight)
    expected = _np(a.weight)
    orig = a.parametrizations.weight.original
    P.remove_parametrizations(a, "weight")
    assert type(a) is dm.nn.Linear and "parametrizations" not in a._modules
    assert a.weight is orig
    np.testing.assert_allclose(_np(a.weight), expected)
    P.remove_parametrizations(b, "weight", leave_parametrized=False)
    np.testing.assert_allclose(_np(b.weight), expected / 2)
    with pytest.raises(ValueError):
        P.remove_parametrizations(b, "weight")


def test_register_errors():
    lin = dm.nn.Linear(2, 3)
    with pytest.raises(ValueError):
        P.register_parametrization(lin, "nope", Scale())

    class Shrink(dm.nn.Module):
        def forward(self, x):
            return x[:1]

    with pytest.raises(ValueError):
        P.register_parametrization(lin, "weight", Shrink())
    P.register_parametrization(lin, "weight", Shrink(), unsafe=True)
    assert tuple(lin.weight.shape) == (1, 2)


def test_deepcopy_parametrized():
    lin = dm.nn.Linear(2, 2)
    P.register_parametrization(lin, "weight", Scale())
    with pytest.raises(RuntimeError):
        pickle.dumps(lin)
    c = copy.deepcopy(lin)
    assert_close(c.weight, lin.weight)
    c.parametrizations.weight.original.data = dm.zeros(2, 2)
    assert float(lin.weight.abs().sum()) > 0


@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_parametrization(dim):
    conv = dm.nn.Conv2d(3, 4, 3)
    w0 = _np(conv.weight)
    PS.weight_norm(conv, dim=dim)
    keys = list(conv.state_dict())
    assert keys == [
        "bias",
        "parametrizations.weight.original0",
        "parametrizations.weight.original1",
    ]
    g = conv.parametrizations.weight.original0
    if dim is None:
        assert tuple(g.shape) == ()
        np.testing.assert_allclose(_np(g), np.linalg.norm(w0), rtol=1e-5)
    else:
        axes = tuple(d for d in range(4) if d != dim)
        np.testing.assert_allclose(
            _np(g), np.sqrt((w0**2).sum(axis=axes, keepdims=True)), rtol=1e-5
        )
    np.testing.assert_allclose(_np(conv.weight), w0, rtol=1e-5, atol=1e-6)


def test_weight_norm_loads_old_hook_keys():
    old = dm.nn.utils.weight_norm(dm.nn.Linear(4, 3))
    new = PS.weight_norm(dm.nn.Linear(4, 3))
    keys = new.load_state_dict(old.state_dict())
    assert keys.missing_keys == [] and keys.unexpected_keys == []
    assert_close(new.parametrizations.weight.original0, old.weight_g)
    assert_close(new.weight, old.weight_v * old.weight_g / old.weight_v.norm(dim=1, keepdim=True))
    x = dm.randn(2, 4)
    assert_close(new(x), old(x), rtol=1e-5, atol=1e-6)


def test_weight_norm_optimizer_step_changes_g_and_v():
    lin = PS.weight_norm(dm.nn.Linear(4, 3))
    g0 = _np(lin.parametrizations.weight.original0).copy()
    v0 = _np(lin.parametrizations.weight.original1).copy()
    opt = dm.optim.SGD(lin.parameters(), lr=0.1)
    lin(dm.randn(5, 4)).pow(2).sum().backward()
    opt.step()
    assert not np.allclose(_np(lin.parametrizations.weight.original0), g0)
    assert not np.allclose(_np(lin.parametrizations.weight.original1), v0)
    g, v = lin.parametrizations.weight.original0, lin.parametrizations.weight.original1
    want = _np(v) * _np(g) / np.linalg.norm(_np(v), axis=1, keepdims=True)
    np.testing.assert_allclose(_np(lin.weight), want, rtol=1e-5)


def test_weight_norm_gradcheck():
    wn = PS._WeightNorm(0)
    g = dm.rand(3, 1, dtype=dm.float64) + 0.5
    v = dm.randn(3, 4, dtype=dm.float64)
    gradcheck(lambda a, b: wn(a, b), [g.requires_grad_(), v.requires_grad_()])


def test_spectral_norm_parametrization():
    lin = PS.spectral_norm(dm.nn.Linear(5, 3))
    assert list(lin.state_dict()) == [
        "bias",
        "parametrizations.weight.original",
        "parametrizations.weight.0._u",
        "parametrizations.weight.0._v",
    ]
    for _ in range(20):
        lin(dm.randn(2, 5))
    s = np.linalg.svd(_np(lin.weight), compute_uv=False)
    np.testing.assert_allclose(s[0], 1.0, rtol=1e-4)
    u = _np(lin.parametrizations.weight[0]._u).copy()
    lin.eval()
    lin(dm.randn(2, 5))
    np.testing.assert_array_equal(_np(lin.parametrizations.weight[0]._u), u)
    lin.train()
    lin(dm.randn(2, 5)).sum().backward()
    assert lin.parametrizations.weight.original.grad is not None
    ct = PS.spectral_norm(dm.nn.ConvTranspose2d(3, 5, 2))
    assert tuple(ct.parametrizations.weight[0]._u.shape) == (5,)
    with pytest.raises(ValueError):
        PS.spectral_norm(dm.nn.Linear(2, 2), n_power_iterations=0)


def test_old_weight_norm_and_remove():
    lin = dm.nn.Linear(4, 3)
    w0 = _np(lin.weight)
    with pytest.warns(FutureWarning):
        dm.nn.utils.weight_norm(lin)
    assert list(lin.state_dict()) == ["bias", "weight_g", "weight_v"]
    np.testing.assert_allclose(_np(lin.weight_g), np.linalg.norm(w0, axis=1, keepdims=True))
    with dm.no_grad():
        lin.weight_g.mul_(2.0)
    x = dm.randn(2, 4)
    out = lin(x)
    np.testing.assert_allclose(_np(out), _np(x) @ (2 * w0).T + _np(lin.bias), rtol=1e-5)
    out.sum().backward()
    assert lin.weight_g.grad is not None and lin.weight_v.grad is not None
    with pytest.raises(RuntimeError):
        dm.nn.utils.weight_norm(lin)
    dm.nn.utils.remove_weight_norm(lin)
    assert list(lin.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(_np(lin.weight), 2 * w0, rtol=1e-5)
    with pytest.raises(ValueError):
        dm.nn.utils.remove_weight_norm(lin)


def test_old_spectral_norm_and_remove():
    lin = dm.nn.utils.spectral_norm(dm.nn.Linear(5, 4))
    assert list(lin.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    for _ in range(30):
        lin(dm.randn(1, 5))
    s = np.linalg.svd(_np(lin.weight), compute_uv=False)
    np.testing.assert_allclose(s[0], 1.0, rtol=1e-4)
    lin(dm.randn(1, 5)).sum().backward()
    assert lin.weight_orig.grad is not None
    dm.nn.utils.remove_spectral_norm(lin)
    assert list(lin.state_dict()) == ["bias", "weight"]
    with pytest.raises(ValueError):
        dm.nn.utils.remove_spectral_norm(lin)


@pytest.mark.parametrize("bias", [True, False])
def test_fuse_conv_bn_eval(bias):
    conv = dm.nn.Conv2d(3, 4, 3, bias=bias)
    bn = dm.nn.BatchNorm2d(4)
    bn(conv(dm.randn(8, 3, 6, 6)))  # non-trivial running stats
    with dm.no_grad():
        bn.weight.copy_(dm.rand(4) + 0.5)
        bn.bias.copy_(dm.randn(4))
    conv.eval()
    bn.eval()
    fused = dm.nn.utils.fuse_conv_bn_eval(conv, bn)
    x = dm.randn(2, 3, 6, 6)
    assert_close(fused(x), bn(conv(x)), rtol=1e-4, atol=1e-5)
    assert fused is not conv and isinstance(fused.weight, dm.nn.Parameter)
    with pytest.raises(AssertionError):
        dm.nn.utils.fuse_conv_bn_eval(conv.train(), bn)


def test_fuse_conv_transpose_and_linear_bn():
    ct = dm.nn.ConvTranspose2d(3, 4, 2).eval()
    bn = dm.nn.BatchNorm2d(4)
    bn(ct(dm.randn(4, 3, 5, 5)))
    bn.eval()
    fused = dm.nn.utils.fuse_conv_bn_eval(ct, bn, transpose=True)
    x = dm.randn(2, 3, 5, 5)
    assert_close(fused(x), bn(ct(x)), rtol=1e-4, atol=1e-5)
    lin = dm.nn.Linear(3, 4).eval()
    bn1 = dm.nn.BatchNorm1d(4)
    bn1(lin(dm.randn(8, 3)))
    bn1.eval()
    fl = dm.nn.utils.fuse_linear_bn_eval(lin, bn1)
    x = dm.randn(5, 3)
    assert_close(fl(x), bn1(lin(x)), rtol=1e-4, atol=1e-5)


def test_get_total_norm_and_clip_grads_with_norm():
    a, b = dm.tensor([3.0, 0.0]), dm.tensor([[4.0]])
    assert_close(dm.nn.utils.get_total_norm([a, b]), dm.tensor(5.0))
    assert_close(dm.nn.utils.get_total_norm([a, b], norm_type=1), dm.tensor(7.0))
    assert_close(dm.nn.utils.get_total_norm([a, b], norm_type="inf"), dm.tensor(4.0))
    assert float(dm.nn.utils.get_total_norm([])) == 0.0
    with pytest.raises(RuntimeError):
        dm.nn.utils.get_total_norm([dm.tensor([float("inf")])], error_if_nonfinite=True)
    p = dm.nn.Parameter(dm.zeros(2))
    p.grad = dm.tensor([3.0, 4.0])
    total = dm.nn.utils.get_total_norm([p.grad])
    assert dm.nn.utils.clip_grads_with_norm_([p], 1.0, total) is None
    np.testing.assert_allclose(_np(p.grad), [0.6, 0.8], rtol=1e-5)
    dm.nn.utils.clip_grads_with_norm_(p, 100.0, total)
    np.testing.assert_allclose(_np(p.grad), [0.6, 0.8], rtol=1e-5)


def test_skip_init():
    lin = dm.nn.utils.skip_init(dm.nn.Linear, 3, 2)
    assert isinstance(lin, dm.nn.Linear) and tuple(lin.weight.shape) == (2, 3)

    class NoDevice(dm.nn.Module):
        def __init__(self, n):
            super().__init__()

    with pytest.raises(RuntimeError):
        dm.nn.utils.skip_init(NoDevice, 3)


def test_functional_call_leaves_module_unchanged():
    lin = dm.nn.Linear(2, 2)
    w_before = lin.weight
    w0 = _np(lin.weight).copy()
    w = dm.eye(2)
    b = dm.zeros(2)
    x = dm.tensor([[1.0, 2.0]])
    out = dm.func.functional_call(lin, {"weight": w, "bias": b}, (x,))
    assert_close(out, x)
    assert lin.weight is w_before
    np.testing.assert_array_equal(_np(lin.weight), w0)
    out2 = dm.nn.utils.stateless.functional_call(lin, ({"weight": w}), x)
    assert_close(out2, x + lin.bias)
    out3 = dm.func.functional_call(lin, ({"weight": w}, {"bias": b}), x)
    assert_close(out3, x)

    class Boom(dm.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = dm.nn.Parameter(dm.ones(1))

        def forward(self, x):
            raise KeyError("boom")

    m = Boom()
    p = m.w
    with pytest.raises(KeyError):
        dm.func.functional_call(m, {"w": dm.zeros(1)}, dm.ones(1))
    assert m.w is p
    with pytest.raises(RuntimeError):
        dm.func.functional_call(lin, {"weight": w}, x, strict=True)
    with pytest.raises(ValueError):
        dm.func.functional_call(lin, ({"weight": w}, {"weight": w}), x)


def test_functional_call_gradients_and_tied_weights():
    lin = dm.nn.Linear(2, 1)
    w = dm.randn(1, 2, requires_grad=True)
    x = dm.randn(3, 2)
    dm.func.functional_call(lin, {"weight": w}, x).sum().backward()
    np.testing.assert_allclose(_np(w.grad), _np(x).sum(0, keepdims=True), rtol=1e-5)
    assert lin.weight.grad is None

    seq = dm.nn.Sequential(dm.nn.Linear(2, 2, bias=False), dm.nn.Linear(2, 2, bias=False))
    seq[1].weight = seq[0].weight
    e = dm.eye(2)
    assert_close(dm.func.functional_call(seq, {"0.weight": e}, x), x)
    out = dm.func.functional_call(seq, {"0.weight": e}, x, tie_weights=False)
    assert_close(out, x @ seq[1].weight.T)


def test_func_grad_and_value():
    x = dm.tensor([1.0, 2.0])
    g = dm.func.grad(lambda t: (t**3).sum())(x)
    np.testing.assert_allclose(_np(g), [3.0, 12.0])
    gg = dm.func.grad(lambda t: dm.func.grad(lambda s: (s**3).sum())(t).sum())(x)
    np.testing.assert_allclose(_np(gg), [6.0, 12.0])
    (ga, gb), (val, aux) = dm.func.grad_and_value(
        lambda a, b: ((a * b).sum(), "aux"), argnums=(0, 1), has_aux=True
    )(x, dm.tensor([5.0, 7.0]))
    np.testing.assert_allclose(_np(ga), [5.0, 7.0])
    np.testing.assert_allclose(_np(gb), [1.0, 2.0])
    assert float(val) == 19.0 and aux == "aux"
    with pytest.raises(ValueError):
        dm.func.grad(lambda t: t * 2)(x)


def _qr_positive(w):
    q, r = np.linalg.qr(w)
    return q * np.sign(np.diag(r))


@pytest.mark.parametrize("shape", [(4, 4), (5, 3), (3, 5)])
@pytest.mark.parametrize("omap", [None, "matrix_exp", "cayley", "householder"])
def test_orthogonal_trivialization(shape, omap):
    lin = dm.nn.Linear(shape[1], shape[0]).double()
    w0 = _np(lin.weight).copy()
    PS.orthogonal(lin, orthogonal_map=omap)
    assert list(lin.state_dict()) == [
        "bias",
        "parametrizations.weight.original",
        "parametrizations.weight.0.base",
    ]
    w = _np(lin.weight)
    tall = shape[0] >= shape[1]
    want = _qr_positive(w0) if tall else _qr_positive(w0.T).T
    np.testing.assert_allclose(w, want, atol=1e-12)
    np.testing.assert_allclose(_np(lin.parametrizations.weight.original), -np.eye(*shape), atol=0)
    opt = dm.optim.SGD(lin.parameters(), lr=0.1)
    lin(dm.randn(4, shape[1], dtype=dm.float64)).pow(2).sum().backward()
    assert lin.parametrizations.weight.original.grad is not None
    opt.step()
    w = _np(lin.weight)
    assert not np.allclose(w, want)
    gram = w.T @ w if tall else w @ w.T
    np.testing.assert_allclose(gram, np.eye(min(shape)), atol=1e-10)


def test_orthogonal_without_trivialization_and_errors():
    lin = dm.nn.Linear(3, 5).double()
    w0 = _np(lin.weight).copy()
    PS.orthogonal(lin, orthogonal_map="householder", use_trivialization=False)
    assert list(lin.state_dict()) == ["bias", "parametrizations.weight.original"]
    np.testing.assert_allclose(_np(lin.weight), _qr_positive(w0), atol=1e-12)
    sq = dm.nn.Linear(3, 3).double()
    PS.orthogonal(sq, orthogonal_map="cayley", use_trivialization=False)
    np.testing.assert_allclose(_np(sq.weight.T @ sq.weight), np.eye(3), atol=1e-12)
    with pytest.raises(NotImplementedError):
        sq.weight = dm.eye(3, dtype=dm.float64)  # a Cayley map cannot be inverted
    with pytest.raises(ValueError):
        PS.orthogonal(dm.nn.Linear(2, 2), orthogonal_map="qr")
    with pytest.raises(ValueError):
        PS.orthogonal(dm.nn.PReLU(3))


def test_orthogonal_primitives():
    from democratising.nn import parametrizations as PM

    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 4, 4)) * 3
    a = a - a.transpose(0, 2, 1)
    vals, vecs = np.linalg.eig(a)
    want = np.real(vecs @ (np.exp(vals)[..., None] * np.linalg.inv(vecs)))
    np.testing.assert_allclose(_np(PM._matrix_exp(dm.tensor(a))), want, atol=1e-12)
    x = rng.standard_normal((5, 3))
    r_and_v, tau = PM._geqrf(dm.tensor(x))
    q = _np(PM._householder_product(r_and_v, tau))
    np.testing.assert_allclose(q @ np.triu(_np(r_and_v))[:3], x, atol=1e-12)
    np.testing.assert_allclose(q.T @ q, np.eye(3), atol=1e-12)
    gradcheck(PM._matrix_exp, [dm.tensor(rng.standard_normal((3, 3)), requires_grad=True)])
    gradcheck(
        PM._householder_product,
        [
            dm.tensor(rng.standard_normal((4, 2)), requires_grad=True),
            dm.tensor(rng.random(2) + 0.5, requires_grad=True),
        ],
    )
