"""Cross-entropy over ``(N, C, d1, ...)`` logits runs with the classes down dim 1 (the engine's
``[N, C, S]`` column kernel, no permute to rows): values against a NumPy reference for every
option, float64 finite-difference gradients (first and second order), layouts, empty inputs
and half precision."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F


def reference(x, t, weight=None, ignore_index=-100, reduction="mean", smoothing=0.0):
    """PyTorch's cross-entropy over class dim 1, in float64 NumPy."""
    x = np.asarray(x, dtype=np.float64)
    c = x.shape[1]
    m = x.max(axis=1, keepdims=True)
    lp = x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    w = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    counted = t != ignore_index
    safe = np.where(counted, t, 0)
    picked = np.take_along_axis(lp, safe[:, None], axis=1)[:, 0]
    wt = w[safe] * counted
    nll = -picked * wt
    wshape = (1, c) + (1,) * (x.ndim - 2)
    smooth = -(lp * w.reshape(wshape)).sum(axis=1) * counted
    loss = (1 - smoothing) * nll + smoothing / c * smooth
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / wt.sum()


def data(shape, seed=0, ignore=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3
    t = rng.integers(0, shape[1], (shape[0], *shape[2:]))
    if ignore:
        t[rng.random(t.shape) < 0.3] = -100
    return x, t


@pytest.mark.parametrize("shape", [(2, 5, 7), (3, 4, 6, 5), (2, 3, 2, 3, 4), (1, 21, 130)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_values_match_numpy(shape, reduction, smoothing, weighted):
    x, t = data(shape, ignore=True)
    w = np.linspace(0.5, 2.0, shape[1]) if weighted else None
    got = F.cross_entropy(
        dm.tensor(x, dtype=dm.float32),
        dm.tensor(t),
        weight=None if w is None else dm.tensor(w, dtype=dm.float32),
        reduction=reduction,
        label_smoothing=smoothing,
    )
    want = reference(x, t, w, reduction=reduction, smoothing=smoothing)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_gradients_match_finite_differences(reduction, smoothing):
    x, t = data((2, 4, 3, 2), seed=1, ignore=True)
    t[0, 0, 0] = 1  # at least one counted position
    w = dm.tensor(np.linspace(0.5, 2.0, 4))
    target = dm.tensor(t)

    def f(x):
        return F.cross_entropy(x, target, weight=w, reduction=reduction, label_smoothing=smoothing)

    xt = dm.tensor(x, requires_grad=True)
    assert dm.autograd.gradcheck(f, (xt,))
    assert dm.autograd.gradgradcheck(f, (xt,))


def test_gradient_matches_rows_form():
    """The column kernel's gradient equals the one of the same loss over rows ``[N*S, C]``."""
    x, t = data((3, 6, 5, 4), seed=2, ignore=True)
    a = dm.tensor(x, requires_grad=True)
    F.cross_entropy(a, dm.tensor(t), label_smoothing=0.1).backward()
    b = dm.tensor(x, requires_grad=True)
    rows = b.movedim(1, -1).reshape(-1, 6)
    F.cross_entropy(rows, dm.tensor(t).reshape(-1), label_smoothing=0.1).backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6, atol=1e-7)


def test_non_contiguous_and_channels_last_inputs():
    x, t = data((2, 3, 4, 5), seed=3)
    want = reference(x, t, reduction="none")
    base = dm.tensor(x, dtype=dm.float64)
    cl = base.contiguous(memory_format=dm.channels_last)
    transposed = dm.tensor(np.ascontiguousarray(x.transpose(0, 1, 3, 2))).transpose(2, 3)
    for v in (cl, transposed, dm.tensor(np.concatenate([x, x], 3))[..., :5]):
        got = F.cross_entropy(v, dm.tensor(t), reduction="none")
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


def test_big_batch_runs_over_threads():
    """Above the parallel threshold each image's block runs as its own task."""
    x, t = data((8, 21, 16, 16), seed=4, ignore=True)
    got = F.cross_entropy(dm.tensor(x, dtype=dm.float64), dm.tensor(t), label_smoothing=0.05)
    np.testing.assert_allclose(got.item(), reference(x, t, smoothing=0.05), rtol=1e-12)


def test_empty_inputs():
    for shape in [(0, 3, 4), (2, 3, 0), (2, 3, 0, 5)]:
        x = dm.zeros(shape, requires_grad=True)
        t = dm.zeros((shape[0], *shape[2:]), dtype=dm.int64)
        none = F.cross_entropy(x, t, reduction="none")
        assert none.shape == (shape[0], *shape[2:])
        assert F.cross_entropy(x, t, reduction="sum").item() == 0.0
        assert np.isnan(F.cross_entropy(x, t).item())  # 0 / 0 as in PyTorch
        F.cross_entropy(x, t, reduction="sum").backward()
        assert x.grad.shape == shape


def test_half_precision_and_bad_labels():
    x, t = data((2, 5, 3, 3), seed=5)
    got = F.cross_entropy(dm.tensor(x).to(dm.bfloat16), dm.tensor(t))
    assert got.dtype == dm.bfloat16
    np.testing.assert_allclose(float(got), reference(x, t), rtol=2e-2)
    t[1, 2, 2] = 5
    with pytest.raises(IndexError, match="5 is out of bounds"):
        F.cross_entropy(dm.tensor(x), dm.tensor(t))
    with pytest.raises(ValueError):
        F.cross_entropy(dm.tensor(x), dm.tensor(t[:, :2]))


def test_engine_rejects_mismatched_column_targets():
    with pytest.raises(ValueError):
        dm._core._cross_entropy(dm.zeros(2, 3, 4), dm.zeros(2, 5).long(), None, -100, "mean", 0.0)
    with pytest.raises(ValueError):  # nll_loss keeps its rows-only kernel
        dm._core._cross_entropy(
            dm.zeros(2, 3, 4), dm.zeros(2, 4).long(), None, -100, "mean", 0.0, log_probs=True
        )


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)])
def test_double_backward_when_nothing_is_counted_is_zero(shape):
    """All targets ignored: the mean is NaN and its gradient 0, with create_graph too."""
    x = dm.zeros(shape, dtype=dm.float64, requires_grad=True)
    t = dm.full((shape[0], *shape[2:]), -100, dtype=dm.int64)
    (g,) = dm.autograd.grad(F.cross_entropy(x, t), [x], create_graph=True)
    assert g.abs().sum().item() == 0.0


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4)])
def test_double_backward_keeps_half_dtypes(shape):
    x = dm.randn(*shape).to(dm.bfloat16).requires_grad_()
    t = dm.zeros((shape[0], *shape[2:]), dtype=dm.int64)
    (g,) = dm.autograd.grad(F.cross_entropy(x, t), [x], create_graph=True)
    assert g.dtype == dm.bfloat16


def test_float32_totals_over_many_positions():
    x, t = data((1, 3, 200000), seed=6)
    w = np.array([0.3, 1.7, 0.9])
    got = F.cross_entropy(
        dm.tensor(x, dtype=dm.float32), dm.tensor(t), weight=dm.tensor(w, dtype=dm.float32)
    )
    np.testing.assert_allclose(got.item(), reference(x, t, w), rtol=2e-6)


def test_spatial_weight_takes_any_shape_of_c_values():
    x, t = data((2, 3, 4), seed=7)
    w = np.array([0.5, 1.0, 2.0])
    want = reference(x, t, w)
    got = F.cross_entropy(dm.tensor(x), dm.tensor(t), weight=dm.tensor(w).reshape(1, 3))
    np.testing.assert_allclose(got.item(), want, rtol=1e-12)
    with pytest.raises(dm.ShapeError) as info:
        F.cross_entropy(dm.zeros(2, 3, 4, 5), dm.zeros(2, 4, 5).long(), weight=dm.ones(2))
    assert info.value.shapes == ((2, 3, 4, 5), (2, 4, 5), (2,))
    with pytest.raises(dm.ShapeError) as info:
        F.nll_loss(dm.zeros(2, 3, 4, 5), dm.zeros(2, 4, 5).long(), weight=dm.ones(2))
    assert (info.value.op, info.value.shapes) == ("nll_loss", ((2, 3, 4, 5), (2, 4, 5), (2,)))
    got = F.nll_loss(dm.tensor(x), dm.tensor(t), weight=dm.tensor(w).reshape(3, 1))
    assert np.isfinite(got.item())


@pytest.mark.parametrize("columns", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_confident_predictions_keep_their_small_loss(columns, smoothing):
    """(m - x_t) + ln(s): the loss of a confident prediction is not rounded at the magnitude
    of the largest logit (lse - x_t lost 0.2% of 9.08e-5 for logits [10, 0, 0])."""
    rows = np.array([[10.0, 0.0, 0.0], [30.0, 20.0, 0.0], [-50.0, -60.0, -70.0]])
    want = reference(rows, np.zeros(3, dtype=np.int64), reduction="none", smoothing=smoothing)
    x = dm.tensor(rows, dtype=dm.float32)
    t = dm.zeros(3, dtype=dm.int64)
    if columns:
        x, t = x.t().unsqueeze(0), t.unsqueeze(0)
    got = F.cross_entropy(x, t, reduction="none", label_smoothing=smoothing).reshape(-1)
    np.testing.assert_allclose(got.numpy(), want, rtol=2e-3 if smoothing else 1e-3)


def test_ignored_rows_with_infinite_logits_agree_across_layouts():
    """PyTorch's gradient of an ignored row is 0 * softmax: NaN where its logits are not
    finite. The rows kernel and the columns kernel agree."""
    rows = dm.tensor([[math.inf, 1.0, 0.0], [0.0, 2.0, 0.0]], requires_grad=True)
    F.cross_entropy(rows, dm.tensor([-100, 1])).backward()
    cols = dm.tensor([[[math.inf, 0.0], [1.0, 2.0], [0.0, 0.0]]], requires_grad=True)
    F.cross_entropy(cols, dm.tensor([[-100, 1]])).backward()
    assert rows.grad[0].isnan().all() and cols.grad[0, :, 0].isnan().all()
    np.testing.assert_allclose(rows.grad[1].numpy(), cols.grad[0, :, 1].numpy())
    # Finite ignored rows still get exactly 0.
    x = dm.randn(4, 3, requires_grad=True)
    F.cross_entropy(x, dm.tensor([-100, 0, -100, 2]), label_smoothing=0.2).backward()
    assert x.grad[0].abs().sum().item() == 0.0 and x.grad[2].abs().sum().item() == 0.0


@pytest.mark.parametrize("shape", [(2, 3), (1, 3, 2)])
def test_double_backward_edges_match_the_fused_backward(shape):
    """create_graph gives the fused backward's gradient at the mean's edges: 0 when no target
    counts (with weights and smoothing too), NaN when counted targets weigh 0 in total."""
    t_shape = (shape[0], *shape[2:])
    cases = [
        (dm.full(t_shape, -100, dtype=dm.int64), dm.ones(3), 0.1, False),
        (dm.tensor([0, 1]).reshape(t_shape), dm.tensor([0.0, 0.0, 1.0]), 0.0, True),
    ]
    for t, w, smoothing, nan in cases:
        x = dm.randn(*shape, dtype=dm.float64, requires_grad=True)
        w = w.to(dm.float64)
        plain = dm.autograd.grad(F.cross_entropy(x, t, weight=w, label_smoothing=smoothing), [x])
        (graph,) = dm.autograd.grad(
            F.cross_entropy(x, t, weight=w, label_smoothing=smoothing), [x], create_graph=True
        )
        assert bool(graph.isnan().any()) == nan == bool(plain[0].isnan().any())
        if not nan:
            assert graph.abs().sum().item() == 0.0


def test_double_backward_with_no_classes():
    x = dm.zeros(2, 0, 3, requires_grad=True)
    t = dm.full((2, 3), -100, dtype=dm.int64)
    (g,) = dm.autograd.grad(F.cross_entropy(x, t, reduction="sum"), [x], create_graph=True)
    assert g.shape == (2, 0, 3)


@pytest.mark.parametrize(
    "shape",
    [(300, 21), (40, 1000), (700, 100), (9, 70000), (2, 21, 1000), (3, 5, 40, 40), (0, 7)],
)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_loss_without_backward_matches(shape, smoothing):
    """Under ``no_grad`` (or for logits that need no gradient) the forward keeps no softmax
    for a backward, tiling its rows through scratch buffers instead: the same losses, for
    short rows, long rows split over tasks, column blocks and empty inputs."""
    x, t = data(shape, seed=3, ignore=True)
    w = dm.tensor(np.linspace(0.5, 2.0, shape[1]))
    kw = dict(weight=w, reduction="none", label_smoothing=smoothing)
    logits = dm.tensor(x, requires_grad=True)
    kept = F.cross_entropy(logits, dm.tensor(t), **kw)
    with dm.no_grad():
        plain = F.cross_entropy(logits, dm.tensor(t), **kw)
    bare = F.cross_entropy(dm.tensor(x), dm.tensor(t), **kw)
    want = reference(x, t, np.linspace(0.5, 2.0, shape[1]), reduction="none", smoothing=smoothing)
    np.testing.assert_allclose(kept.detach().numpy(), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(plain.numpy(), kept.detach().numpy())
    np.testing.assert_array_equal(bare.numpy(), kept.detach().numpy())
    assert plain.grad_fn is None
    if kept.numel():
        kept.sum().backward()
        assert logits.grad.shape == logits.shape
