"""Regressions from fuzzing ``dm.nn`` layers, losses and ``nn.functional`` with bad input
(zero sizes, wrong ranks, empty batches, non-tensor targets) against PyTorch: each once
panicked in the engine, raised a raw internal exception, or returned a result where PyTorch
raises. Expected values are NumPy formulas or numbers PyTorch gave for the same call."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F


def _x(*shape: int) -> dm.Tensor:
    return dm.arange(int(np.prod(shape)), dtype=dm.float32).reshape(shape) / 7 - 1


# ---- transposed convolution with no output channels: a Rust panic before -----------------


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_transpose_with_no_output_channels_is_a_shape_error(nd: int) -> None:
    layer = getattr(dm.nn, f"ConvTranspose{nd}d")(3, 0, 2)
    with pytest.raises(dm.ShapeError, match="no output channels"):
        layer(_x(2, 3, *(4,) * nd))
    # The layer is left usable: a well-formed layer of the same kind still runs.
    ok = getattr(dm.nn, f"ConvTranspose{nd}d")(3, 2, 2)
    assert tuple(ok(_x(2, 3, *(4,) * nd)).shape) == (2, 2, *(5,) * nd)


def test_conv_transpose2d_functional_zero_weight_dim() -> None:
    with pytest.raises(dm.ShapeError):
        F.conv_transpose2d(_x(2, 0, 4, 4), dm.zeros(0, 0, 2, 2))


# ---- Unflatten: dim % ndim picked another dim, and divided by zero on a 0-d input ---------


@pytest.mark.parametrize("dim", [3, 4, -4])
def test_unflatten_dim_out_of_range(dim: int) -> None:
    with pytest.raises(IndexError, match="out of range"):
        dm.nn.Unflatten(dim, (2, 2))(_x(3, 4, 5))


def test_unflatten_zero_dim_input() -> None:
    with pytest.raises(dm.IndexOutOfRangeError):
        dm.nn.Unflatten(0, (1,))(dm.tensor(1.0))


@pytest.mark.parametrize(
    ("dim", "sizes", "want"),
    [(1, (2, 2), (3, 2, 2, 5)), (-2, (2, -1), (3, 2, 2, 5)), (-1, (5, 1), (3, 4, 5, 1))],
)
def test_unflatten_valid_dims(dim: int, sizes: tuple[int, ...], want: tuple[int, ...]) -> None:
    x = _x(3, 4, 5)
    y = dm.nn.Unflatten(dim, sizes)(x)
    np.testing.assert_array_equal(y.numpy(), x.numpy().reshape(want))


# ---- class-index losses given a non-tensor target: an AttributeError before ---------------


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
@pytest.mark.parametrize("target", [np.int64(2), 2, [0, 1, 2, 3]])
def test_class_loss_non_tensor_target_is_a_type_error(loss, target) -> None:
    with pytest.raises(TypeError, match=r"'target' .* must be Tensor"):
        loss(_x(4, 5), target)


# ---- fractional max pooling: empty batch, bad kernel/output sizes --------------------------


@pytest.mark.parametrize(("nd", "out"), [(2, 3), (3, 2)])
def test_fractional_max_pool_empty_batch(nd: int, out: int) -> None:
    layer = getattr(dm.nn, f"FractionalMaxPool{nd}d")(2, output_size=out, return_indices=True)
    x = dm.zeros(0, 3, *(6,) * nd, requires_grad=True)
    y, idx = layer(x)
    assert tuple(y.shape) == tuple(idx.shape) == (0, 3, *(out,) * nd)
    assert idx.dtype == dm.int64
    y.sum().backward()
    assert tuple(x.grad.shape) == tuple(x.shape)


@pytest.mark.parametrize(("kernel", "out"), [(0, 3), (-1, 3), (2, -1)])
def test_fractional_max_pool_bad_sizes(kernel: int, out: int) -> None:
    with pytest.raises(dm.InvalidValueError, match="kernel_size must be >= 1"):
        dm.nn.FractionalMaxPool2d(kernel, output_size=out)(_x(2, 3, 8, 8))


# ---- adaptive 3-D pools: an empty channel/spatial dim returned garbage --------------------


@pytest.mark.parametrize("fn", [F.adaptive_avg_pool3d, F.adaptive_max_pool3d])
@pytest.mark.parametrize("shape", [(2, 3, 4, 4, 0), (2, 0, 4, 4, 4), (3, 0, 4, 4)])
def test_adaptive_pool3d_empty_non_batch_dim(fn, shape: tuple[int, ...]) -> None:
    with pytest.raises(dm.ShapeError, match="non-zero size"):
        fn(dm.zeros(shape), 2)


def test_adaptive_max_pool3d_indices_empty_batch() -> None:
    y, idx = F.adaptive_max_pool3d(dm.zeros(0, 3, 4, 4, 4), 2, return_indices=True)
    assert tuple(y.shape) == tuple(idx.shape) == (0, 3, 2, 2, 2)
    y, idx = F.adaptive_max_pool3d(_x(1, 1, 2, 2, 2), 1, return_indices=True)
    assert y.item() == pytest.approx(_x(8).numpy().max()) and idx.item() == 7


# ---- AdaptiveLogSoftmaxWithLoss took float targets (truncated) ----------------------------


@pytest.mark.parametrize("dtype", [dm.float32, dm.bool])
def test_adaptive_log_softmax_non_integer_target(dtype) -> None:
    asm = dm.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [4, 8])
    with pytest.raises(dm.DTypeError, match="class indices"):
        asm(_x(4, 8), dm.tensor([0.0, 1.0, 5.0, 9.0]).to(dtype))
    out = asm(_x(4, 8), dm.tensor([0, 1, 5, 9]))
    assert tuple(out.output.shape) == (4,)


# ---- pair losses broadcast across ranks where PyTorch raises ------------------------------


_COSINE_BAD = [
    ((5,), (4, 5), (4,)),
    ((1, 4, 5), (4, 5), (4,)),
    ((4, 5), (4, 5), ()),
    ((4, 5), (4, 5), (4, 1)),
]


@pytest.mark.parametrize(("s1", "s2", "st"), _COSINE_BAD)
def test_cosine_embedding_loss_rank_mismatch(s1, s2, st) -> None:
    with pytest.raises(dm.ShapeError, match="cosine_embedding_loss"):
        F.cosine_embedding_loss(_x(*s1), _x(*s2), dm.ones(st))


def test_cosine_embedding_loss_values() -> None:
    a = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], np.float32)
    b = np.array([[-1.0, 0.5, 1.0], [1.0, 1.0, -2.0]], np.float32)
    t = np.array([1.0, -1.0], np.float32)
    cos = (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))
    want = np.where(t == 1, 1 - cos, np.maximum(cos - 0.1, 0))
    got = F.cosine_embedding_loss(dm.tensor(a), dm.tensor(b), dm.tensor(t), 0.1, reduction="none")
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)
    one = F.cosine_embedding_loss(dm.tensor(a[0]), dm.tensor(b[0]), dm.tensor(t[0]))
    assert one.item() == pytest.approx(float(want[0]), rel=1e-5)


@pytest.mark.parametrize(
    ("s1", "s2", "st"), [((4,), (1, 4), (4,)), ((4,), (4,), ()), ((4, 1), (4,), (4,))]
)
def test_margin_ranking_loss_rank_mismatch(s1, s2, st) -> None:
    with pytest.raises(dm.ShapeError, match="margin_ranking_loss"):
        F.margin_ranking_loss(_x(*s1), _x(*s2), dm.ones(st))


def test_margin_ranking_loss_values() -> None:
    x1 = np.array([0.5, -1.0, 2.0, 0.0], np.float32)
    x2 = np.array([1.0, 0.5, -1.0, 0.0], np.float32)
    t = np.array([1.0, -1.0, -1.0, 1.0], np.float32)
    want = np.maximum(-t * (x1 - x2) + 0.2, 0).mean()
    got = dm.nn.MarginRankingLoss(margin=0.2)(dm.tensor(x1), dm.tensor(x2), dm.tensor(t))
    assert got.item() == pytest.approx(float(want), rel=1e-6)


# ---- layer_norm with a negative normalized_shape: a bare OverflowError before -------------


def test_layer_norm_negative_normalized_shape() -> None:
    with pytest.raises(dm.ShapeError, match="normalized_shape"):
        F.layer_norm(_x(2, 3), (-1,))
    y = F.layer_norm(_x(2, 3), (3,))
    x = _x(2, 3).numpy()
    want = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-4, atol=1e-5)


# ---- nn.functional given a non-tensor input: an AttributeError from inside before ----------


@pytest.mark.parametrize(
    ("fn", "args"),
    [
        (F.conv3d, (dm.ones(1, 1, 1, 1, 1),)),
        (F.conv_transpose3d, (dm.ones(1, 1, 1, 1, 1),)),
        (F.max_pool3d, (2,)),
        (F.avg_pool3d, (2,)),
        (F.adaptive_avg_pool3d, (2,)),
        (F.adaptive_max_pool3d, (2,)),
        (F.unfold, (2,)),
        (F.fold, ((4, 4), 2)),
        (F.fractional_max_pool2d, (2, 3)),
        (F.fractional_max_pool3d, (2, 2)),
    ],
)
@pytest.mark.parametrize("bad", [None, [1.0, 2.0]])
def test_functional_non_tensor_input_is_a_type_error(fn, args, bad) -> None:
    with pytest.raises(TypeError, match=r"argument 'input' \(position 1\) must be Tensor"):
        fn(bad, *args)


# ---- nn.init: bad ranges were accepted, a 0-d trunc_normal_ failed ------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda t: dm.nn.init.uniform_(t, a=1.0, b=0.0),
        lambda t: dm.nn.init.normal_(t, std=-1.0),
        lambda t: dm.nn.init.trunc_normal_(t, a=2.0, b=-2.0),
    ],
)
def test_init_bad_range_is_an_error(call) -> None:
    with pytest.raises(dm.InvalidValueError):
        call(dm.zeros(3, 4))


@pytest.mark.parametrize("shape", [(), (5,), (3, 4)])
def test_trunc_normal_any_rank(shape: tuple[int, ...]) -> None:
    t = dm.zeros(shape)
    dm.nn.init.trunc_normal_(t, std=1.0, a=-0.5, b=0.5)
    values = t.numpy()
    assert values.shape == shape
    assert np.all(np.abs(values) <= 0.5)


# ---- LSTMCell given a one-tensor hx tuple: an unpacking ValueError before ----------------


@pytest.mark.parametrize("n", [1, 3])
def test_lstm_cell_hx_wrong_length(n: int) -> None:
    cell = dm.nn.LSTMCell(3, 4)
    with pytest.raises(dm.ShapeError, match="hx to hold 2 tensors"):
        cell(dm.zeros(2, 3), (dm.zeros(2, 4),) * n)
    h, c = cell(dm.zeros(2, 3), (dm.zeros(2, 4), dm.zeros(2, 4)))
    assert tuple(h.shape) == tuple(c.shape) == (2, 4)


# ---- engine: transposed convolutions of empty inputs, in-place ops on empty NumPy data ----


def test_conv_transpose_of_empty_inputs_follows_pytorch() -> None:
    # Output sizes in signed arithmetic (an empty batch still has a size), as PyTorch's.
    assert F.conv_transpose1d(dm.zeros(0, 3, 0), dm.zeros(3, 4, 2)).shape == (0, 4, 1)
    assert F.conv_transpose3d(dm.zeros(0, 3, 0, 0, 0), dm.zeros(3, 4, 2, 2, 2)).shape == (
        0,
        4,
        1,
        1,
        1,
    )
    assert F.conv_transpose2d(dm.zeros(0, 3, 4, 4), dm.zeros(3, 4, 2, 2)).shape == (0, 4, 5, 5)
    with pytest.raises(dm.ShapeError, match="empty spatial size"):
        F.conv_transpose2d(dm.zeros(2, 3, 0, 0), dm.zeros(3, 4, 2, 2))


def test_empty_numpy_arrays_take_in_place_ops() -> None:
    # NumPy 2 gives empty arrays zero strides; an empty tensor has no element to share.
    a = np.zeros((0, 3), np.float32)
    assert dm.tensor(a).add_(1).shape == (0, 3)
    assert F.relu_(dm.from_numpy(a)).shape == (0, 3)
    assert dm.nn.init.normal_(dm.from_numpy(a.copy())).shape == (0, 3)
    assert dm.from_numpy(a).stride() == (3, 1)
