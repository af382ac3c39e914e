"""Top-level functional aliases (dm.conv2d, dm.layer_norm, dm.kl_div, ...), window functions,
dtype promotion queries, scalar_tensor and rsub."""

from __future__ import annotations

import math

import numpy as np
import pytest
from tests.helpers import assert_close, gradcheck

import democratising as dm
import democratising.nn.functional as F


def _np(t):
    return t.detach().numpy()


def test_same_signature_aliases():
    x = dm.randn(2, 3, 6)
    w = dm.randn(4, 3, 3)
    assert_close(dm.conv1d(x, w, None, 1, 1), F.conv1d(x, w, None, 1, 1))
    x2, w2 = dm.randn(1, 3, 5, 5), dm.randn(4, 3, 3, 3)
    assert_close(dm.conv2d(x2, w2, stride=2), F.conv2d(x2, w2, stride=2))
    wt = dm.randn(3, 2, 3)
    assert_close(dm.conv_transpose1d(x, wt, None, 2), F.conv_transpose1d(x, wt, None, 2))
    wt2 = dm.randn(3, 2, 2, 2)
    assert_close(dm.conv_transpose2d(x2, wt2), F.conv_transpose2d(x2, wt2))
    a, b = dm.randn(4, 5), dm.randn(4, 5)
    na, nb = _np(a), _np(b)
    cos = (na * nb).sum(1) / (np.linalg.norm(na, axis=1) * np.linalg.norm(nb, axis=1))
    np.testing.assert_allclose(_np(dm.cosine_similarity(a, b)), cos, rtol=1e-5)
    np.testing.assert_allclose(
        _np(dm.pairwise_distance(a, b)), np.linalg.norm(na - nb + 1e-6, axis=1), rtol=1e-5
    )
    xp = dm.randn(2, 3)
    pw = dm.tensor([0.25])
    np.testing.assert_allclose(
        _np(dm.prelu(xp, pw)), np.where(_np(xp) > 0, _np(xp), 0.25 * _np(xp)), rtol=1e-6
    )


def test_dropout_train_flag():
    x = dm.ones(1000)
    assert_close(dm.dropout(x, 0.5, False), x)
    y = _np(dm.dropout(x, 0.5, True))
    assert set(np.unique(y)).issubset({0.0, 2.0}) and 300 < (y == 0).sum() < 700


def test_embedding_weight_first_padding_and_scale_grad():
    w = dm.randn(6, 3, dtype=dm.float64, requires_grad=True)
    idx = dm.tensor([[1, 2, 2], [3, 2, 0]])
    out = dm.embedding(w, idx)
    np.testing.assert_array_equal(_np(out), _np(w)[_np(idx)])
    (out * dm.arange(3.0, dtype=dm.float64)).sum().backward()
    want = np.zeros((6, 3))
    for r, c in np.ndindex(2, 3):
        want[_np(idx)[r, c]] += np.arange(3.0)
    np.testing.assert_allclose(_np(w.grad), want)
    w.grad = None
    dm.embedding(w, idx, 2, True).sum().backward()
    counts = np.bincount(_np(idx).ravel(), minlength=6)
    want = np.zeros((6, 3))
    for i in _np(idx).ravel():
        if i != 2:
            want[i] += 1.0 / counts[i]
    np.testing.assert_allclose(_np(w.grad), want)


def test_norm_aliases_aten_order():
    x = dm.randn(4, 6, 3)
    g, b = dm.rand(3) + 0.5, dm.randn(3)
    nx = _np(x)
    mu, var = nx.mean(-1, keepdims=True), nx.var(-1, keepdims=True)
    want = (nx - mu) / np.sqrt(var + 1e-5) * _np(g) + _np(b)
    np.testing.assert_allclose(_np(dm.layer_norm(x, [3], g, b)), want, rtol=1e-4, atol=1e-5)
    assert_close(dm.group_norm(x, 2), F.group_norm(x, 2))
    rm, rv = dm.randn(6), dm.rand(6) + 0.5
    wb, bb = dm.rand(6), dm.randn(6)
    out = dm.batch_norm(x, wb, bb, rm, rv, False, 0.1, 1e-5, True)
    ref = (nx - _np(rm)[:, None]) / np.sqrt(_np(rv)[:, None] + 1e-5) * _np(wb)[:, None]
    np.testing.assert_allclose(_np(out), ref + _np(bb)[:, None], rtol=1e-4, atol=1e-5)
    with pytest.raises(TypeError):
        dm.batch_norm(x, wb, bb, rm, rv)  # every ATen argument is required


def test_losses_integer_reduction():
    a = dm.randn(4, 5, dtype=dm.float64)
    t = dm.rand(4, 5, dtype=dm.float64)
    na, nt = _np(a), _np(t)
    pw = dm.tensor([2.0], dtype=dm.float64)
    sig = 1 / (1 + np.exp(-na))
    ref = -(2.0 * nt * np.log(sig) + (1 - nt) * np.log(1 - sig))
    for r, f in [(0, lambda v: v), (1, np.mean), (2, np.sum)]:
        got = dm.binary_cross_entropy_with_logits(a, t, None, pw, r)
        np.testing.assert_allclose(_np(got), f(ref), rtol=1e-9)
        kl = dm.kl_div(a, t, r)
        np.testing.assert_allclose(_np(kl), f(nt * (np.log(nt) - na)), rtol=1e-9)
    np.testing.assert_allclose(_np(dm.kl_div(a, a, 2, log_target=True)), 0.0, atol=1e-12)
    x1, x2 = dm.randn(6, dtype=dm.float64), dm.randn(6, dtype=dm.float64)
    y = dm.tensor([1.0, -1.0, 1.0, 1.0, -1.0, -1.0], dtype=dm.float64)
    ref = np.maximum(0, -_np(y) * (_np(x1) - _np(x2)) + 0.3)
    np.testing.assert_allclose(_np(dm.margin_ranking_loss(x1, x2, y, 0.3, 2)), ref.sum())
    an, po, ne = (dm.randn(3, 4, dtype=dm.float64) for _ in range(3))
    d = lambda u, v: np.linalg.norm(_np(u) - _np(v) + 1e-6, axis=-1)  # noqa: E731
    ref = np.maximum(d(an, po) - d(an, ne) + 1.0, 0)
    np.testing.assert_allclose(_np(dm.triplet_margin_loss(an, po, ne, reduction=0)), ref)
    c1, c2 = dm.randn(3, 4, dtype=dm.float64), dm.randn(3, 4, dtype=dm.float64)
    yc = dm.tensor([1.0, -1.0, 1.0], dtype=dm.float64)
    cos = (_np(c1) * _np(c2)).sum(1) / (
        np.linalg.norm(_np(c1), axis=1) * np.linalg.norm(_np(c2), axis=1)
    )
    ref = np.where(_np(yc) > 0, 1 - cos, np.maximum(0, cos))
    np.testing.assert_allclose(_np(dm.cosine_embedding_loss(c1, c2, yc)), ref.mean(), rtol=1e-6)
    with pytest.raises(ValueError):
        dm.kl_div(a, t, 3)
    with pytest.raises(ValueError):
        dm.kl_div(a, t, "mean")


def test_loss_alias_gradcheck():
    a = dm.randn(3, 4, dtype=dm.float64, requires_grad=True)
    t = dm.rand(3, 4, dtype=dm.float64)
    gradcheck(lambda x: dm.binary_cross_entropy_with_logits(x, t, None, None, 1), [a])


def _ref_window(kind, n, periodic, **kw):
    if n == 0:
        return np.zeros(0)
    if n == 1:
        return np.ones(1)
    m = n + 1 if periodic else n
    k = np.arange(m)
    if kind == "hann":
        w = 0.5 - 0.5 * np.cos(2 * np.pi * k / (m - 1))
    elif kind == "hamming":
        w = kw.get("alpha", 0.54) - kw.get("beta", 0.46) * np.cos(2 * np.pi * k / (m - 1))
    elif kind == "blackman":
        w = np.blackman(m)
    elif kind == "bartlett":
        w = np.bartlett(m)
    else:
        w = np.kaiser(m, kw.get("beta", 12.0))
    return w[:n]


@pytest.mark.parametrize("kind", ["hann", "hamming", "blackman", "bartlett", "kaiser"])
@pytest.mark.parametrize("n", [0, 1, 2, 7, 16])
@pytest.mark.parametrize("periodic", [True, False])
def test_windows(kind, n, periodic):
    fn = getattr(dm, f"{kind}_window")
    got = fn(n, periodic, dtype=dm.float64)
    assert got.dtype == dm.float64 and tuple(got.shape) == (n,)
    np.testing.assert_allclose(_np(got), _ref_window(kind, n, periodic), atol=1e-12)


def test_window_defaults_and_errors():
    w = dm.hann_window(8)
    assert w.dtype == dm.float32 and not w.requires_grad
    np.testing.assert_allclose(_np(w), _ref_window("hann", 8, True), atol=1e-6)
    assert dm.hann_window(4, requires_grad=True).requires_grad
    np.testing.assert_allclose(
        _np(dm.hamming_window(6, False, 0.5, 0.5, dtype=dm.float64)),
        _ref_window("hamming", 6, False, alpha=0.5, beta=0.5),
    )
    np.testing.assert_allclose(
        _np(dm.kaiser_window(9, beta=5.0, dtype=dm.float64)),
        _ref_window("kaiser", 9, True, beta=5.0),
    )
    with pytest.raises(TypeError):
        dm.hann_window(4, dtype=dm.int64)
    with pytest.raises(ValueError):
        dm.bartlett_window(-1)


def test_promote_types_and_can_cast():
    assert dm.promote_types(dm.int32, dm.float16) == dm.float16
    assert dm.promote_types(dm.float16, dm.bfloat16) == dm.float32
    assert dm.promote_types(dm.bool, dm.int32) == dm.int32
    assert dm.promote_types(dm.int64, dm.int32) == dm.int64
    assert dm.promote_types(dm.float64, dm.float32) == dm.float64
    assert dm.can_cast(dm.int64, dm.float16)
    assert dm.can_cast(dm.int64, dm.int32)
    assert not dm.can_cast(dm.float32, dm.int64)
    assert not dm.can_cast(dm.int32, dm.bool)
    assert dm.can_cast(dm.bool, dm.bool)
    with pytest.raises(TypeError):
        dm.promote_types("float32", dm.int32)


def test_result_type_matches_arithmetic():
    dtypes = [dm.bool, dm.int32, dm.int64, dm.float16, dm.float32, dm.float64]
    for a in dtypes:
        for b in dtypes:
            for sa, sb in [((2,), ()), ((), (2,)), ((2,), (2,)), ((), ())]:
                x, y = dm.zeros(sa, dtype=a), dm.zeros(sb, dtype=b)
                assert dm.result_type(x, y) == (x + y).dtype, (a, b, sa, sb)
    assert dm.result_type(dm.zeros(2, dtype=dm.int32), 2.5) == dm.float32
    assert dm.result_type(dm.zeros(2, dtype=dm.int32), 2) == dm.int32
    assert dm.result_type(dm.zeros((), dtype=dm.int64), dm.zeros(2, dtype=dm.float16)) == (
        dm.float16
    )
    assert dm.result_type(dm.zeros(2, dtype=dm.bool), 3) == dm.int64
    assert dm.result_type(1, 2.0) == dm.float32
    assert dm.result_type(True, False) == dm.bool


def test_scalar_tensor_and_rsub():
    s = dm.scalar_tensor(3)
    assert s.dim() == 0 and s.dtype == dm.float32 and float(s) == 3.0
    assert dm.scalar_tensor(True).dtype == dm.float32
    assert dm.scalar_tensor(2, dtype=dm.int64).dtype == dm.int64
    x = dm.tensor([1.0, 2.0], dtype=dm.float64, requires_grad=True)
    out = dm.rsub(x, 5.0, 2)
    np.testing.assert_allclose(_np(out), [3.0, 1.0])
    out.sum().backward()
    np.testing.assert_allclose(_np(x.grad), [-2.0, -2.0])
    y = dm.tensor([10.0, 20.0], dtype=dm.float64)
    np.testing.assert_allclose(_np(dm.rsub(x, y)), [9.0, 18.0])
    assert dm.rsub(dm.tensor([1, 2]), 2.5).dtype == dm.float32
    assert math.isclose(float(dm.rsub(dm.tensor(1.0), 0.0)), -1.0)


# ---- vmap (loop-based) --------------------------------------------------------------------


def test_vmap_maps_and_stacks_like_a_loop() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    got = dm.vmap(lambda a, b: (a * b).sum())(dm.tensor(x), dm.tensor(y))
    np.testing.assert_allclose(got.numpy(), (x * y).sum(1), rtol=1e-12)
    w = rng.standard_normal(3)
    got = dm.vmap(dm.dot, in_dims=(0, None))(dm.tensor(x), dm.tensor(w))
    np.testing.assert_allclose(got.numpy(), x @ w, rtol=1e-12)
    assert dm.vmap(lambda a: a.sum(), in_dims=1)(dm.tensor(x)).shape == (3,)
    assert dm.vmap(lambda a: a * 2, out_dims=1)(dm.tensor(x)).shape == (3, 5)
    pair = dm.vmap(lambda a: (a.sum(), a * 0))(dm.tensor(x))
    assert pair[0].shape == (5,) and pair[1].shape == (5, 3)
    assert dm.vmap(dm.vmap(lambda a: a * a))(dm.randn(2, 3, 4)).shape == (2, 3, 4)
    both = {"a": dm.tensor(x), "b": dm.tensor(y)}
    assert dm.vmap(lambda d: d["a"] + d["b"])(both).shape == (5, 3)


def test_vmap_of_grad_gives_per_sample_gradients() -> None:
    from democratising.func import functional_call, grad

    dm.manual_seed(0)
    model = dm.nn.Linear(3, 1)
    params = {k: v.detach() for k, v in model.named_parameters()}
    x, y = dm.randn(4, 3), dm.randn(4, 1)

    def loss(p: dict, xi: dm.Tensor, yi: dm.Tensor) -> dm.Tensor:
        return ((functional_call(model, p, (xi.unsqueeze(0),)) - yi) ** 2).mean()

    per_sample = dm.vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    assert per_sample["weight"].shape == (4, 1, 3)
    for i in range(4):
        model.zero_grad()
        loss(dict(model.named_parameters()), x[i], y[i]).backward()
        np.testing.assert_allclose(
            per_sample["weight"][i].numpy(), model.weight.grad.numpy(), rtol=1e-5, atol=1e-7
        )


def test_vmap_errors() -> None:
    from democratising.errors import InvalidValueError, ShapeError

    with pytest.raises(ShapeError):
        dm.vmap(lambda a, b: a + b)(dm.zeros(2, 3), dm.zeros(3, 3))
    with pytest.raises(InvalidValueError):
        dm.vmap(lambda a: a, in_dims=(0, 0))(dm.zeros(2))
    with pytest.raises(InvalidValueError):
        dm.vmap(lambda a: a, in_dims=None)(dm.zeros(2))
    with pytest.raises(ShapeError):
        dm.vmap(lambda a: a, in_dims=2)(dm.zeros(2, 2))
    with pytest.raises(InvalidValueError):
        dm.vmap(lambda a: a, randomness="sometimes")
