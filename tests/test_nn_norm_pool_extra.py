"""Instance norm, local response norm, max unpooling, power-average pooling, the max pools'
``*_with_indices`` spellings and ``EmbeddingBag``: NumPy references, gradients, layers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import nn
from democratising.errors import DTypeError, IndexOutOfRangeError, InvalidValueError, ShapeError
from helpers import assert_close, gradcheck, to_numpy

RNG = np.random.default_rng(7)


def _leaf(a: np.ndarray) -> dm.Tensor:
    return dm.tensor(a, dtype=dm.float64, requires_grad=True)


# ---- instance norm ----


def _np_instance_norm(x: np.ndarray, w: np.ndarray | None, b: np.ndarray | None, eps: float):
    axes = tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if w is not None:
        y = y * w.reshape(shape)
    if b is not None:
        y = y + b.reshape(shape)
    return y


@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 3), (1, 2, 2, 3, 2)])
def test_instance_norm_matches_numpy(shape: tuple[int, ...]) -> None:
    x = RNG.standard_normal(shape) * 3 + 1
    w, b = RNG.standard_normal(shape[1]), RNG.standard_normal(shape[1])
    got = F.instance_norm(dm.tensor(x), weight=dm.tensor(w), bias=dm.tensor(b), eps=1e-3)
    assert_close(got, _np_instance_norm(x, w, b, 1e-3), rtol=1e-10, atol=1e-10)
    plain = F.instance_norm(dm.tensor(x, dtype=dm.float32))
    assert plain.dtype == dm.float32
    assert_close(plain, _np_instance_norm(x, None, None, 1e-5), rtol=1e-4, atol=1e-4)


def test_instance_norm_running_stats_update_and_eval() -> None:
    x = RNG.standard_normal((3, 4, 6))
    rm0, rv0 = RNG.standard_normal(4), RNG.uniform(0.5, 2.0, 4)
    rm, rv = dm.tensor(rm0), dm.tensor(rv0)
    F.instance_norm(dm.tensor(x), rm, rv, momentum=0.2)
    means = x.mean(axis=2).mean(axis=0)
    unbiased = x.var(axis=2, ddof=1).mean(axis=0)
    assert_close(rm, 0.8 * rm0 + 0.2 * means, rtol=1e-12, atol=1e-12)
    assert_close(rv, 0.8 * rv0 + 0.2 * unbiased, rtol=1e-12, atol=1e-12)
    got = F.instance_norm(dm.tensor(x), rm, rv, use_input_stats=False, eps=1e-4)
    want = (x - to_numpy(rm)[None, :, None]) / np.sqrt(to_numpy(rv)[None, :, None] + 1e-4)
    assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_instance_norm_gradients() -> None:
    x = _leaf(RNG.standard_normal((2, 3, 4)))
    w, b = _leaf(RNG.standard_normal(3)), _leaf(RNG.standard_normal(3))
    gradcheck(lambda x, w, b: F.instance_norm(x, weight=w, bias=b), [x, w, b])


def test_instance_norm_errors() -> None:
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm(dm.randn(2, 3, 1))
    with pytest.raises(DTypeError):
        F.instance_norm(dm.ones(2, 3, 4, dtype=dm.int64))
    with pytest.raises(InvalidValueError):
        F.instance_norm(dm.randn(2, 3, 4), use_input_stats=False)
    with pytest.raises(ShapeError):
        F.instance_norm(dm.randn(2, 3, 4), weight=dm.ones(4))
    with pytest.raises(TypeError, match="must be Tensor"):
        F.instance_norm([1.0, 2.0])


def test_instance_norm_layers_state_repr_and_modes() -> None:
    m = nn.InstanceNorm2d(3)
    assert repr(m) == (
        "InstanceNorm2d(3, eps=1e-05, momentum=0.1, affine=False, bias=False, "
        "track_running_stats=False)"
    )
    assert list(m.state_dict()) == []
    t = nn.InstanceNorm1d(4, affine=True, track_running_stats=True)
    keys = ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert list(t.state_dict()) == keys
    assert_close(t.weight, np.ones(4))
    assert_close(t.bias, np.zeros(4))
    assert list(nn.InstanceNorm3d(2, affine=True, bias=False).state_dict()) == ["weight"]
    x = RNG.standard_normal((2, 4, 5))
    t(dm.tensor(x, dtype=dm.float32))  # training: batch statistics, running stats updated
    assert_close(t.running_mean, 0.1 * x.mean(axis=2).mean(axis=0), rtol=1e-5, atol=1e-6)
    assert int(t.num_batches_tracked.item()) == 0  # as PyTorch: instance norm does not count
    t.eval()
    got = t(dm.tensor(x, dtype=dm.float32))
    rm, rv = to_numpy(t.running_mean), to_numpy(t.running_var)
    want = (x - rm[None, :, None]) / np.sqrt(rv[None, :, None] + 1e-5)
    assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_instance_norm_layer_unbatched_noncontiguous_empty_and_checks() -> None:
    m = nn.InstanceNorm2d(3, affine=True)
    x = dm.randn(3, 4, 5)
    assert_close(m(x), to_numpy(m(x.unsqueeze(0)))[0], rtol=1e-6, atol=1e-6)
    xt = dm.randn(2, 3, 5, 4).transpose(2, 3)
    assert not xt.is_contiguous()
    assert_close(m(xt), _np_instance_norm(to_numpy(xt), None, None, 1e-5), rtol=1e-4, atol=1e-5)
    assert tuple(m(dm.randn(0, 3, 4, 4)).shape) == (0, 3, 4, 4)
    with pytest.raises(ShapeError, match="expected 3D or 4D input"):
        m(dm.randn(2, 3, 4, 5, 6))
    with pytest.raises(ShapeError, match="num_features"):
        m(dm.randn(2, 5, 4, 4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nn.InstanceNorm1d(3)(dm.randn(2, 5, 4))
    assert any("does not match num_features" in str(w.message) for w in caught)


# ---- local response norm ----


def _np_lrn(x: np.ndarray, size: int, alpha: float, beta: float, k: float) -> np.ndarray:
    c = x.shape[1]
    out = np.empty_like(x)
    for ch in range(c):
        lo, hi = ch - size // 2, ch + (size - 1) // 2
        window = [j for j in range(lo, hi + 1) if 0 <= j < c]
        s = sum(x[:, j] ** 2 for j in window)
        out[:, ch] = x[:, ch] / (k + alpha * s / size) ** beta
    return out


@pytest.mark.parametrize("size", [1, 2, 3, 4, 9])
@pytest.mark.parametrize("shape", [(2, 6, 5), (2, 6, 3, 4), (1, 5, 2, 2, 3)])
def test_local_response_norm_matches_numpy(size: int, shape: tuple[int, ...]) -> None:
    x = RNG.standard_normal(shape)
    got = F.local_response_norm(dm.tensor(x), size, alpha=0.5, beta=0.7, k=2.0)
    assert_close(got, _np_lrn(x, size, 0.5, 0.7, 2.0), rtol=1e-10, atol=1e-12)


def test_local_response_norm_gradient_layer_and_errors() -> None:
    x = _leaf(RNG.standard_normal((2, 5, 3)))
    gradcheck(lambda x: F.local_response_norm(x, 3, alpha=0.4, beta=0.8, k=1.0), [x])
    m = nn.LocalResponseNorm(2)
    assert repr(m) == "LocalResponseNorm(2, alpha=0.0001, beta=0.75, k=1.0)"
    assert list(m.state_dict()) == []
    y = RNG.standard_normal((2, 4, 3, 3)).astype(np.float32)
    assert_close(m(dm.tensor(y)), _np_lrn(y.astype(np.float64), 2, 1e-4, 0.75, 1.0), rtol=1e-5)
    assert tuple(F.local_response_norm(dm.randn(0, 3, 4), 2).shape) == (0, 3, 4)
    with pytest.raises(ValueError, match="3D or higher"):
        F.local_response_norm(dm.randn(3, 4), 2)
    with pytest.raises(DTypeError):
        F.local_response_norm(dm.ones(2, 3, 4, dtype=dm.int64), 2)


# ---- max unpooling ----


def _np_unpool(x: np.ndarray, idx: np.ndarray, out_hw: tuple[int, ...]) -> np.ndarray:
    n = len(out_hw)
    lead = x.shape[: x.ndim - n]
    planes_x = x.reshape(-1, int(np.prod(x.shape[x.ndim - n :])))
    planes_i = idx.reshape(planes_x.shape)
    out = np.zeros((planes_x.shape[0], int(np.prod(out_hw))))
    for p in range(out.shape[0]):
        for v, i in zip(planes_x[p], planes_i[p]):
            out[p, i] = v
    return out.reshape((*lead, *out_hw))


def test_max_unpool2d_inverts_max_pool2d() -> None:
    x = RNG.standard_normal((2, 3, 4, 6))
    vals, idx = F.max_pool2d(dm.tensor(x), 2, return_indices=True)
    got = F.max_unpool2d(vals, idx, 2)
    assert tuple(got.shape) == (2, 3, 4, 6)
    assert_close(got, _np_unpool(to_numpy(vals), to_numpy(idx), (4, 6)))
    kept = to_numpy(got) != 0  # the pooled maxima sit where they came from
    assert kept.sum() == vals.numel()
    np.testing.assert_array_equal(to_numpy(got)[kept], x[kept])
    # an odd input size: ``output_size`` restores it (given alone or with batch and channels)
    y = RNG.standard_normal((1, 2, 5, 5))
    v5, i5 = F.max_pool2d(dm.tensor(y), 2, return_indices=True)
    for size in [(5, 5), [1, 2, 5, 5]]:
        back = F.max_unpool2d(v5, i5, 2, output_size=size)
        assert_close(back, _np_unpool(to_numpy(v5), to_numpy(i5), (5, 5)))
    layer = nn.MaxUnpool2d(2)
    assert_close(layer(v5[0], i5[0], output_size=(5, 5)), _np_unpool(
        to_numpy(v5[0]), to_numpy(i5[0]), (5, 5)))  # fmt: skip


def test_max_unpool1d_with_stride_padding_unbatched_and_layer() -> None:
    x = RNG.standard_normal((3, 9))
    vals, idx = F.max_pool1d(dm.tensor(x), 3, stride=2, padding=1, return_indices=True)
    got = F.max_unpool1d(vals, idx, 3, stride=2, padding=1)
    assert tuple(got.shape) == (3, (vals.shape[-1] - 1) * 2 + 3 - 2)
    assert_close(got, _np_unpool(to_numpy(vals), to_numpy(idx), (got.shape[-1],)))
    layer = nn.MaxUnpool1d(3, stride=2, padding=1)
    assert repr(layer) == "MaxUnpool1d(kernel_size=(3,), stride=(2,), padding=(1,))"
    assert_close(layer(vals, idx, output_size=[9]), _np_unpool(to_numpy(vals), to_numpy(idx), (9,)))
    assert repr(nn.MaxUnpool2d(2, 1, (0, 1))) == (
        "MaxUnpool2d(kernel_size=(2, 2), stride=(1, 1), padding=(0, 1))"
    )


def test_max_unpool_gradient_gathers_at_every_index() -> None:
    v = _leaf(RNG.standard_normal((2, 2, 3)))
    idx = dm.tensor(np.array([[[0, 3, 5], [1, 1, 4]]] * 2), dtype=dm.int64)  # a repeated index
    g = RNG.standard_normal((2, 2, 6))
    out = F.max_unpool1d(v, idx, 2)
    (gv,) = dm.autograd.grad((out * dm.tensor(g)).sum(), [v])
    assert_close(gv, np.take_along_axis(g, to_numpy(idx), axis=-1))
    x2 = _leaf(RNG.standard_normal((1, 2, 2, 2)))
    i2 = dm.tensor(np.array([[[[0, 3], [9, 14]], [[5, 6], [10, 15]]]]), dtype=dm.int64)
    gradcheck(lambda x: F.max_unpool2d(x, i2, 2), [x2])


def test_max_unpool_errors() -> None:
    vals, idx = F.max_pool2d(dm.randn(1, 2, 4, 4), 2, return_indices=True)
    with pytest.raises(ValueError, match="invalid output_size"):
        F.max_unpool2d(vals, idx, 2, output_size=(6, 4))
    with pytest.raises(ValueError, match="2 or 4 elements"):
        F.max_unpool2d(vals, idx, 2, output_size=(1, 4, 4))
    with pytest.raises(DTypeError):
        F.max_unpool2d(vals, idx.int(), 2)
    with pytest.raises(IndexOutOfRangeError):
        F.max_unpool2d(vals, idx + 100, 2)
    with pytest.raises(ShapeError):
        F.max_unpool2d(vals, idx[..., :1], 2)
    with pytest.raises(ShapeError):
        F.max_unpool2d(vals.reshape(-1), idx.reshape(-1), 2)


# ---- power-average pooling ----


def _np_lp_pool2d(x: np.ndarray, p: float, k: tuple[int, int], s: tuple[int, int]) -> np.ndarray:
    oh = (x.shape[-2] - k[0]) // s[0] + 1
    ow = (x.shape[-1] - k[1]) // s[1] + 1
    out = np.empty((*x.shape[:-2], oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = x[..., i * s[0] : i * s[0] + k[0], j * s[1] : j * s[1] + k[1]]
            out[..., i, j] = (win**p).sum(axis=(-2, -1)) ** (1.0 / p)
    return out


@pytest.mark.parametrize("p", [1.0, 2, 1.5, 3.0])
def test_lp_pool_matches_numpy(p: float) -> None:
    x = np.abs(RNG.standard_normal((2, 3, 5, 6))) + 0.1
    got = F.lp_pool2d(dm.tensor(x), p, (2, 3), stride=(1, 2))
    assert_close(got, _np_lp_pool2d(x, p, (2, 3), (1, 2)), rtol=1e-10, atol=1e-12)
    got1 = F.lp_pool1d(dm.tensor(x[0]), p, 3)  # unbatched [C, L] rows
    want1 = _np_lp_pool2d(x[0][:, None, :], p, (1, 3), (1, 3))[:, 0]
    assert_close(got1, want1, rtol=1e-10, atol=1e-12)


def test_lp_pool_signs_inf_gradients_layers_and_errors() -> None:
    x = RNG.standard_normal((1, 2, 4, 4))
    # p = 1 on signed values: the signed window sum (PyTorch's sign * relu(|.|) keeps it)
    want = _np_lp_pool2d(x, 1, (2, 2), (2, 2))
    assert (want < 0).any()
    assert_close(F.lp_pool2d(dm.tensor(x), 1, 2), want, rtol=1e-10, atol=1e-12)
    assert_close(
        F.lp_pool2d(dm.tensor(x), float("inf"), 2),
        np.abs(x).reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5)),
    )
    xp = _leaf(np.abs(RNG.standard_normal((1, 2, 4, 5))) + 0.5)
    gradcheck(lambda x: F.lp_pool2d(x, 2.5, 2, stride=1), [xp])
    gradcheck(lambda x: F.lp_pool1d(x.flatten(2), 3, 4, stride=3, ceil_mode=True), [xp])
    assert (
        repr(nn.LPPool2d(2, 3))
        == "LPPool2d(norm_type=2, kernel_size=3, stride=None, ceil_mode=False)"
    )
    assert repr(nn.LPPool1d(1.5, 3, 2)) == (
        "LPPool1d(norm_type=1.5, kernel_size=3, stride=2, ceil_mode=False)"
    )
    y = np.abs(RNG.standard_normal((2, 3, 4, 4))) + 0.1
    assert_close(nn.LPPool2d(2, 2)(dm.tensor(y)), _np_lp_pool2d(y, 2, (2, 2), (2, 2)))
    with pytest.raises(ValueError, match="non-zero"):
        F.lp_pool2d(dm.tensor(y), 0, 2)


# ---- the ``*_with_indices`` spellings ----


def test_with_indices_aliases_always_return_indices() -> None:
    x = dm.randn(2, 3, 7, 6)
    for alias, pool, args in (
        (F.max_pool2d_with_indices, F.max_pool2d, (3, 2, 1)),
        (F.adaptive_max_pool2d_with_indices, F.adaptive_max_pool2d, ((3, 4),)),
    ):
        v, i = alias(x, *args)
        v2, i2 = pool(x, *args, return_indices=True)
        assert_close(v, to_numpy(v2))
        np.testing.assert_array_equal(to_numpy(i), to_numpy(i2))
    x1 = dm.randn(2, 3, 9)
    for alias, pool, args in (
        (F.max_pool1d_with_indices, F.max_pool1d, (2,)),
        (F.adaptive_max_pool1d_with_indices, F.adaptive_max_pool1d, (4,)),
    ):
        v, i = alias(x1, *args, return_indices=False)
        v2, i2 = pool(x1, *args, return_indices=True)
        assert_close(v, to_numpy(v2))
        np.testing.assert_array_equal(to_numpy(i), to_numpy(i2))


# ---- embedding bag ----


def _np_bags(
    idx: np.ndarray,
    w: np.ndarray,
    offsets: list[int],
    mode: str,
    psw: np.ndarray | None = None,
    padding_idx: int | None = None,
    include_last: bool = False,
) -> np.ndarray:
    ends = offsets[1:] if include_last else [*offsets[1:], len(idx)]
    starts = offsets[:-1] if include_last else offsets
    out = np.zeros((len(starts), w.shape[1]))
    for b, (s, e) in enumerate(zip(starts, ends)):
        rows = [
            w[idx[j]] * (1.0 if psw is None else psw[j])
            for j in range(s, e)
            if idx[j] != padding_idx
        ]
        if rows:
            stack = np.stack(rows)
            out[b] = {"sum": stack.sum(0), "mean": stack.mean(0), "max": stack.max(0)}[mode]
    return out


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_matches_numpy(mode: str) -> None:
    w = RNG.standard_normal((7, 3))
    idx = np.array([0, 2, 1, 3, 3, 6, 4, 5])
    offsets = [0, 2, 2, 5]
    got = F.embedding_bag(dm.tensor(idx), dm.tensor(w), dm.tensor(offsets), mode=mode)
    assert_close(got, _np_bags(idx, w, offsets, mode))
    got = F.embedding_bag(
        dm.tensor(idx), dm.tensor(w), dm.tensor(offsets), mode=mode, padding_idx=3
    )
    assert_close(got, _np_bags(idx, w, offsets, mode, padding_idx=3))
    last = [0, 3, 3, 8]
    got = F.embedding_bag(
        dm.tensor(idx), dm.tensor(w), dm.tensor(last, dtype=dm.int32), mode=mode,
        include_last_offset=True, padding_idx=-1,
    )  # fmt: skip
    assert_close(got, _np_bags(idx, w, last, mode, padding_idx=6, include_last=True))
    two_d = np.array([[0, 1, 2], [5, 5, 3]])
    got = F.embedding_bag(dm.tensor(two_d), dm.tensor(w), mode=mode)
    assert_close(got, _np_bags(two_d.reshape(-1), w, [0, 3], mode))


def test_embedding_bag_per_sample_weights_and_gradients() -> None:
    w0 = RNG.standard_normal((6, 2))
    idx = dm.tensor([0, 2, 2, 5, 1])
    offsets = dm.tensor([0, 3])
    psw0 = RNG.standard_normal(5)
    got = F.embedding_bag(
        idx, dm.tensor(w0), offsets, mode="sum", per_sample_weights=dm.tensor(psw0)
    )
    assert_close(got, _np_bags(to_numpy(idx), w0, [0, 3], "sum", psw=psw0))
    w, psw = _leaf(w0), _leaf(psw0)
    gradcheck(
        lambda w, p: F.embedding_bag(idx, w, offsets, mode="sum", per_sample_weights=p), [w, psw]
    )
    for mode in ("mean", "max"):
        gradcheck(lambda w, m=mode: F.embedding_bag(idx, w, offsets, mode=m, padding_idx=2), [w])
    (g,) = dm.autograd.grad(F.embedding_bag(idx, w, offsets, padding_idx=2).sum(), [w])
    assert_close(g[2], np.zeros(2))  # the padding row gets no gradient


def test_embedding_bag_empty_bags_and_errors() -> None:
    w = dm.randn(4, 3)
    empty = dm.tensor(np.zeros(0, np.int64))
    for mode in ("sum", "mean", "max"):
        assert_close(F.embedding_bag(empty, w, dm.tensor([0, 0]), mode=mode), np.zeros((2, 3)))
    assert tuple(F.embedding_bag(dm.tensor([1, 2]), w, empty).shape) == (0, 3)
    i = dm.tensor([0, 1, 2])
    with pytest.raises(ValueError, match="offsets has to be None"):
        F.embedding_bag(i.reshape(1, 3), w, dm.tensor([0]))
    with pytest.raises(ValueError, match="offsets has to be a 1D Tensor"):
        F.embedding_bag(i, w)
    with pytest.raises(ValueError, match="offsets\\[0\\] has to be 0"):
        F.embedding_bag(i, w, dm.tensor([1]))
    with pytest.raises(IndexOutOfRangeError):
        F.embedding_bag(i, w, dm.tensor([0, 5]))
    with pytest.raises(IndexOutOfRangeError):
        F.embedding_bag(dm.tensor([0, 4]), w, dm.tensor([0]))
    with pytest.raises(IndexOutOfRangeError):
        F.embedding_bag(i, w, dm.tensor([0]), padding_idx=4)
    with pytest.raises(ValueError, match="mode has to be one of"):
        F.embedding_bag(i, w, dm.tensor([0]), mode="min")
    with pytest.raises(InvalidValueError, match="per_sample_weights"):
        F.embedding_bag(i, w, dm.tensor([0]), per_sample_weights=dm.ones(3))
    with pytest.raises(ShapeError):
        F.embedding_bag(i, w, dm.tensor([0]), mode="sum", per_sample_weights=dm.ones(2))
    with pytest.raises(DTypeError):
        F.embedding_bag(dm.tensor([0.0, 1.0]), w, dm.tensor([0]))
    with pytest.raises(ShapeError):
        F.embedding_bag(i.reshape(1, 1, 3), w)


def test_embedding_bag_layer() -> None:
    dm.manual_seed(0)
    m = nn.EmbeddingBag(400, 50, mode="sum", padding_idx=1)
    assert repr(m) == "EmbeddingBag(400, 50, mode='sum', padding_idx=1)"
    assert repr(nn.EmbeddingBag(5, 3)) == "EmbeddingBag(5, 3, mode='mean')"
    assert list(m.state_dict()) == ["weight"]
    wt = to_numpy(m.weight)
    assert_close(m.weight[1], np.zeros(50))
    assert abs(wt.mean()) < 0.02 and abs(wt.std() - 1.0) < 0.02  # N(0, 1)
    x = dm.tensor([[3, 1, 7], [2, 2, 0]])
    assert_close(m(x), _np_bags(to_numpy(x).reshape(-1), wt, [0, 3], "sum", padding_idx=1))
    psw = dm.rand(2, 3)
    want = _np_bags(to_numpy(x).reshape(-1), wt, [0, 3], "sum", to_numpy(psw).reshape(-1), 1)
    assert_close(m(x, per_sample_weights=psw), want, rtol=1e-5, atol=1e-5)
    pre = dm.randn(4, 2)
    frozen = nn.EmbeddingBag.from_pretrained(pre, mode="max")
    assert not frozen.weight.requires_grad and frozen.mode == "max"
    assert nn.EmbeddingBag.from_pretrained(pre, freeze=False).weight.requires_grad
    assert_close(frozen(dm.tensor([0, 3, 1]), dm.tensor([0, 1])), _np_bags(
        np.array([0, 3, 1]), to_numpy(pre), [0, 1], "max"))  # fmt: skip
    with pytest.raises(ValueError):
        nn.EmbeddingBag(3, 2, mode="prod")
    pre_big = dm.tensor([[3.0, 4.0], [0.3, 0.4]])
    capped = nn.EmbeddingBag.from_pretrained(pre_big, max_norm=1.0, mode="sum")
    assert_close(capped(dm.tensor([0, 1]), dm.tensor([0])), [[0.9, 1.2]])  # PyTorch's values
    assert_close(capped.weight, [[0.6, 0.8], [0.3, 0.4]])  # row 0 renormalised in place
    with pytest.raises(ValueError, match="max mode does not support scaling"):
        nn.EmbeddingBag(3, 2, scale_grad_by_freq=True, mode="max")(dm.tensor([[0, 1]]))
