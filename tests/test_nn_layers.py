"""Fused layers against NumPy references, with float64 finite-difference gradient checks."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.nn import functional as F

RNG = np.random.default_rng(0)


def fd_check(fn: Callable[..., dm.Tensor], arrays: list[np.ndarray], eps: float = 1e-6) -> None:
    """Compares autograd gradients of sum(fn(*xs) * w) with central differences (float64)."""
    xs = [dm.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    w = RNG.normal(size=out.shape)
    (out * dm.tensor(w)).sum().backward()
    for i, a in enumerate(arrays):
        num = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            plus, minus = [x.copy() for x in arrays], [x.copy() for x in arrays]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            fp = (fn(*[dm.tensor(p) for p in plus]).numpy() * w).sum()
            fm = (fn(*[dm.tensor(m) for m in minus]).numpy() * w).sum()
            num[idx] = (fp - fm) / (2 * eps)
        np.testing.assert_allclose(xs[i].grad.numpy(), num, rtol=1e-5, atol=1e-7)


def conv_ref(x, w, b, stride, pad, dil, groups):  # type: ignore[no-untyped-def]
    n, _c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[0]), (pad[1], pad[1])))
    ho = (h + 2 * pad[0] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + 2 * pad[1] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, ho, wo))
    og = o // groups
    for oc in range(o):
        g = oc // og
        for i in range(ho):
            for j in range(wo):
                ys, xs = i * stride[0], j * stride[1]
                patch = xp[:, g * cg : (g + 1) * cg, ys : ys + dil[0] * kh : dil[0]][
                    ..., xs : xs + dil[1] * kw : dil[1]
                ]
                out[:, oc, i, j] = (patch * w[oc]).sum(axis=(1, 2, 3))
        if b is not None:
            out[:, oc] += b[oc]
    return out


@pytest.mark.parametrize(
    "stride,pad,dil,groups", [((1, 1), (0, 0), (1, 1), 1), ((2, 1), (1, 2), (1, 2), 2)]
)
def test_conv2d_matches_reference_and_gradcheck(stride, pad, dil, groups) -> None:  # type: ignore[no-untyped-def]
    x = RNG.normal(size=(2, 4, 6, 7))
    w = RNG.normal(size=(6, 4 // groups, 3, 2))
    b = RNG.normal(size=(6,))
    got = F.conv2d(dm.tensor(x), dm.tensor(w), dm.tensor(b), stride, pad, dil, groups)
    np.testing.assert_allclose(got.numpy(), conv_ref(x, w, b, stride, pad, dil, groups), rtol=1e-10)
    xs, ws, bs = x[:1, :, :5, :5], w, b
    fd_check(lambda a, c, d: F.conv2d(a, c, d, stride, pad, dil, groups), [xs, ws, bs])


def test_conv2d_float32_and_errors() -> None:
    layer = nn.Conv2d(1, 3, 3, padding=1)
    y = layer(dm.randn(2, 1, 8, 8))
    assert y.shape == (2, 3, 8, 8) and y.dtype == dm.float32
    with pytest.raises(dm.ShapeError):
        layer(dm.randn(2, 2, 8, 8))
    with pytest.raises(dm.ShapeError):
        layer(dm.randn(8, 8))


def test_pooling_matches_reference_and_gradcheck() -> None:
    x = RNG.normal(size=(2, 3, 6, 5))
    got = F.max_pool2d(dm.tensor(x), 2).numpy()
    ref = x[:, :, :6, :4].reshape(2, 3, 3, 2, 2, 2).max(axis=(3, 5))
    np.testing.assert_allclose(got, ref)
    got = F.avg_pool2d(dm.tensor(x), 2).numpy()
    np.testing.assert_allclose(got, x[:, :, :6, :4].reshape(2, 3, 3, 2, 2, 2).mean(axis=(3, 5)))
    a = F.adaptive_avg_pool2d(dm.tensor(x), (1, 1)).numpy()
    np.testing.assert_allclose(a[..., 0, 0], x.mean(axis=(2, 3)))
    small = x[:1, :2, :4, :4]
    fd_check(lambda t: F.max_pool2d(t, 2, 1, padding=1), [small])
    fd_check(lambda t: F.avg_pool2d(t, 3, 2, padding=1, count_include_pad=False), [small])
    fd_check(lambda t: F.adaptive_avg_pool2d(t, (3, 2)), [small])


def test_batchnorm_train_eval_running_stats_and_gradcheck() -> None:
    bn = nn.BatchNorm2d(3).double()
    x = RNG.normal(size=(4, 3, 2, 2)) * 2 + 1
    y = bn(dm.tensor(x)).detach().numpy()
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(y, (x - mu) / np.sqrt(var + 1e-5), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * mu.ravel(), rtol=1e-9)
    unbiased = x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * unbiased, rtol=1e-9)
    assert bn.num_batches_tracked.item() == 1
    assert "num_batches_tracked" in bn.state_dict()
    bn.eval()
    ye = bn(dm.tensor(x)).detach().numpy()
    rm, rv = bn.running_mean.numpy(), bn.running_var.numpy()
    ref = (x - rm[None, :, None, None]) / np.sqrt(rv[None, :, None, None] + 1e-5)
    np.testing.assert_allclose(ye, ref, rtol=1e-9)
    w, b = RNG.normal(size=3), RNG.normal(size=3)
    fd_check(lambda t, ww, bb: F.batch_norm(t, None, None, ww, bb, True, 0.1, 1e-5), [x, w, b])


def test_layernorm_matches_reference_and_gradcheck() -> None:
    x = RNG.normal(size=(3, 4, 5))
    w, b = RNG.normal(size=(5,)), RNG.normal(size=(5,))
    got = F.layer_norm(dm.tensor(x), 5, dm.tensor(w), dm.tensor(b)).numpy()
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    np.testing.assert_allclose(got, (x - mu) / np.sqrt(var + 1e-5) * w + b, rtol=1e-9)
    fd_check(lambda t, ww, bb: F.layer_norm(t, [5], ww, bb), [x[:2], w, b])
    assert nn.LayerNorm(5)(dm.randn(2, 5)).shape == (2, 5)


def test_fused_cross_entropy_options_and_gradcheck() -> None:
    x = RNG.normal(size=(5, 4))
    t = np.array([0, 3, -100, 1, 2])
    wt = np.abs(RNG.normal(size=4)) + 0.5
    for red in ("mean", "sum", "none"):
        got = F.cross_entropy(
            dm.tensor(x), dm.tensor(t), dm.tensor(wt), reduction=red, label_smoothing=0.2
        )
        logp = x - np.log(np.exp(x).sum(1, keepdims=True))
        keep = t != -100
        tk = np.where(keep, t, 0)
        nll = -logp[np.arange(5), tk] * wt[tk] * keep
        smooth = -(logp * wt).sum(1) * keep
        if red == "mean":
            denom = (wt[tk] * keep).sum()
            ref = 0.8 * nll.sum() / denom + 0.2 / 4 * smooth.sum() / denom
        elif red == "sum":
            ref = 0.8 * nll.sum() + 0.05 * smooth.sum()
        else:
            ref = 0.8 * nll + 0.05 * smooth
        np.testing.assert_allclose(got.numpy(), ref, rtol=1e-10)
    fd_check(lambda a: F.cross_entropy(a, dm.tensor(t), dm.tensor(wt), label_smoothing=0.1), [x])
    with pytest.raises(IndexError, match="9"):
        F.cross_entropy(dm.tensor(x), dm.tensor([0, 1, 9, 0, 0]))


def test_embedding_and_multihead_attention_shapes_and_grads() -> None:
    emb = nn.Embedding(10, 4, padding_idx=0)
    idx = dm.tensor([[1, 0, 3], [9, 9, 2]])
    out = emb(idx)
    assert out.shape == (2, 3, 4)
    out.sum().backward()
    g = emb.weight.grad.numpy()
    assert np.all(g[0] == 0) and g[9].sum() == pytest.approx(8.0)
    with pytest.raises(IndexError):
        emb(dm.tensor([10]))
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    assert list(mha.state_dict()) == [
        "in_proj_weight",
        "in_proj_bias",
        "out_proj.weight",
        "out_proj.bias",
    ]
    q = dm.randn(3, 5, 8, requires_grad=True)
    y, w = mha(q, q, q)
    assert y.shape == (3, 5, 8) and w.shape == (3, 5, 5)
    np.testing.assert_allclose(w.detach().numpy().sum(-1), 1.0, rtol=1e-5)
    y.sum().backward()
    assert q.grad.shape == (3, 5, 8)


def test_small_cnn_trains_on_digits() -> None:
    pytest.importorskip("sklearn")
    dm.manual_seed(0)
    x, y = dm.datasets.digits()
    order = dm.tensor(np.random.default_rng(0).permutation(1797))
    x, y = x.reshape(-1, 1, 8, 8)[order], y[order]
    xtr, ytr, xte, yte = x[:1400], y[:1400], x[1400:], y[1400:]
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dense(32 * 2 * 2, 10),
    )
    opt = dm.optim.Adam(model.parameters(), 3e-3)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(15):
        perm = dm.randperm(1400)
        for s in range(0, 1400, 64):
            i = perm[s : s + 64]
            loss = loss_fn(model(xtr[i]), ytr[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with dm.no_grad():
        acc = (model(xte).argmax(1) == yte).float().mean().item()
    assert acc > 0.93


def test_gelu_and_erf_at_zero_terminate() -> None:
    """Regression: erf's series looped forever at exactly 0 (so did GELU)."""
    np.testing.assert_allclose(dm.tensor([0.0, -0.0]).erf().numpy(), [0.0, 0.0])
    np.testing.assert_allclose(dm.tensor([0.0]).gelu().numpy(), [0.0])


def test_leaky_relu_elu_softplus_modules_match_numpy() -> None:
    x = np.linspace(-3, 3, 13).astype(np.float64)
    t = dm.tensor(x).requires_grad_()
    cases = [
        (nn.LeakyReLU(0.2), np.where(x > 0, x, 0.2 * x), np.where(x > 0, 1.0, 0.2)),
        (nn.ELU(0.5), np.where(x > 0, x, 0.5 * np.expm1(x)), np.where(x > 0, 1.0, 0.5 * np.exp(x))),
        (nn.Softplus(2.0), np.log1p(np.exp(2 * x)) / 2, 1 / (1 + np.exp(-2 * x))),
    ]
    for module, want, dwant in cases:
        t.grad = None
        y = module(t)
        np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-12, atol=1e-12)
        y.sum().backward()
        np.testing.assert_allclose(t.grad.numpy(), dwant, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(F.leaky_relu(t, 0.2).detach().numpy(), cases[0][1])
    np.testing.assert_allclose(F.elu(t, 0.5).detach().numpy(), cases[1][1])
    assert "negative_slope=0.2" in repr(nn.LeakyReLU(0.2))


@pytest.mark.parametrize("with_nan", [False, True])
def test_max_pool_2x2_picks_the_first_maximum_with_ties_and_nans(with_nan: bool) -> None:
    """The 2x2/stride-2 fast path: values and gradient routing equal a row-major scan that
    keeps the first maximum (a NaN beats numbers, and a later NaN beats an earlier one), as
    PyTorch's CPU kernel (`val > max || isnan(val)`)."""
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, (2, 3, 8, 11)).astype(np.float32)  # many ties; odd width
    if with_nan:
        x[rng.random(x.shape) < 0.05] = np.nan
    t = dm.tensor(x).requires_grad_()
    y = F.max_pool2d(t, 2)
    g = rng.standard_normal(tuple(y.shape)).astype(np.float32)
    y.backward(dm.tensor(g))
    want, want_grad = np.zeros(tuple(y.shape), np.float32), np.zeros_like(x)
    for a, b, i, j in np.ndindex(*want.shape):
        best = None
        for p, q in [
            (2 * i, 2 * j),
            (2 * i, 2 * j + 1),
            (2 * i + 1, 2 * j),
            (2 * i + 1, 2 * j + 1),
        ]:
            v, cur = x[a, b, p, q], None if best is None else x[a, b, best[0], best[1]]
            if cur is None or v > cur or np.isnan(v):
                best = (p, q)
        assert best is not None
        want[a, b, i, j] = x[a, b, best[0], best[1]]
        want_grad[a, b, best[0], best[1]] += g[a, b, i, j]
    np.testing.assert_array_equal(y.detach().numpy(), want)
    np.testing.assert_allclose(t.grad.numpy(), want_grad)


@pytest.mark.parametrize("cin,groups", [(1, 1), (16, 1), (16, 2)])
def test_conv2d_gradients_over_sample_runs_match_the_reference(cin: int, groups: int) -> None:
    """Batch of 9 (split into per-thread runs), few and many kernel rows (the two weight-
    gradient layouts), groups: forward and all three gradients against the reference's."""
    x = RNG.normal(size=(9, cin, 7, 6))
    w = RNG.normal(size=(8, cin // groups, 3, 3))
    b = RNG.normal(size=(8,))
    xt, wt, bt = (dm.tensor(a).requires_grad_() for a in (x, w, b))
    y = F.conv2d(xt, wt, bt, 1, 1, 1, groups)
    want = conv_ref(x, w, b, (1, 1), (1, 1), (1, 1), groups)
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-10, atol=1e-10)
    gy = RNG.normal(size=want.shape)
    y.backward(dm.tensor(gy))
    # The adjoints by finite differences of the (linear) reference in a few random directions.
    for t, base, args in ((xt, x, "x"), (wt, w, "w"), (bt, b, "b")):
        d = RNG.normal(size=base.shape)
        plus = {"x": x, "w": w, "b": b}
        plus[args] = base + d
        lin = conv_ref(plus["x"], plus["w"], plus["b"], (1, 1), (1, 1), (1, 1), groups) - want
        np.testing.assert_allclose((t.grad.numpy() * d).sum(), (lin * gy).sum(), rtol=1e-9)


@pytest.mark.parametrize(
    "shape,pad,dil",
    [
        ((3, 5, 9, 21), (1, 2), (2, 1)),
        ((2, 2, 4, 3), (2, 0), (1, 1)),
        ((2, 3, 30, 40), (0, 0), (1, 3)),
    ],
)
def test_conv2d_stride_one_rows_of_every_width(shape, pad, dil) -> None:  # type: ignore[no-untyped-def]
    """Stride 1 copies each output row's in-bounds span as one block (spilling into the next
    row while it can): short and long rows, rows cut by padding, dilation, the last rows."""
    x = RNG.normal(size=shape)
    w = RNG.normal(size=(4, shape[1], 3, 3))
    xt, wt = dm.tensor(x).requires_grad_(), dm.tensor(w).requires_grad_()
    y = F.conv2d(xt, wt, None, 1, pad, dil, 1)
    want = conv_ref(x, w, None, (1, 1), pad, dil, 1)
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-10, atol=1e-10)
    gy = RNG.normal(size=want.shape)
    y.backward(dm.tensor(gy))
    for t, base, which in ((xt, x, "x"), (wt, w, "w")):
        d = RNG.normal(size=base.shape)
        xs, ws = (x + d, w) if which == "x" else (x, w + d)
        lin = conv_ref(xs, ws, None, (1, 1), pad, dil, 1) - want
        np.testing.assert_allclose((t.grad.numpy() * d).sum(), (lin * gy).sum(), rtol=1e-9)


def test_matmul_with_a_transposed_operand_of_4k_pitch_matches_numpy() -> None:
    """x @ W.t() with 1024 inputs takes the pre-transposed GEMM path."""
    x = RNG.normal(size=(96, 1024)).astype(np.float32)
    w = RNG.normal(size=(80, 1024)).astype(np.float32)
    got = (dm.tensor(x) @ dm.tensor(w).t()).numpy()
    np.testing.assert_allclose(got, x @ w.T, rtol=2e-4, atol=2e-3)
    got = F.linear(dm.tensor(x), dm.tensor(w)).numpy()
    np.testing.assert_allclose(got, x @ w.T, rtol=2e-4, atol=2e-3)


@pytest.mark.parametrize(
    "kw",
    [{}, {"weight": True}, {"label_smoothing": 0.2}, {"reduction": "sum"}, {"reduction": "none"}],
)
def test_cross_entropy_with_class_probabilities(kw: dict) -> None:  # type: ignore[type-arg]
    """Float targets of the input's shape are class probabilities (PyTorch): reference
    ``-sum_c w_c t_c log_softmax(x)_c``, mean over samples, and a finite-difference gradcheck."""
    x = RNG.normal(size=(5, 4))
    t = RNG.random(size=(5, 4))
    t /= t.sum(1, keepdims=True)
    w = RNG.random(size=4)
    args = dict(kw)
    if args.pop("weight", False):
        args["weight"] = dm.tensor(w)
    got = F.cross_entropy(dm.tensor(x), dm.tensor(t), **args)
    ls = args.get("label_smoothing", 0.0)
    tt = t * (1 - ls) + ls / 4
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    per = -(logp * tt * (w if "weight" in args else 1.0)).sum(1)
    want = {"mean": per.mean(), "sum": per.sum(), "none": per}[args.get("reduction", "mean")]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)
    fd_check(lambda a: F.cross_entropy(a, dm.tensor(t), **args), [x])


def test_cross_entropy_probability_targets_must_match_the_input_shape() -> None:
    with pytest.raises(dm.ShapeError, match="probability"):
        F.cross_entropy(dm.randn(3, 4), dm.rand(3, 5))
