"""Regressions from session 45's differential fuzzing against PyTorch: 0-d tensors in the
index ops, attention with featureless values, what the unary and power ops save for their
backward, host-computed outputs taking in-place changes, source gradients of scatters that
pick nothing, reductions down middle dims, and optimizer checkpoints a scheduler wrote."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising.errors import ShapeError

# ---- 0-d tensors in the index ops -----------------------------------------------------------


def test_index_select_of_a_0d_tensor() -> None:
    x = dm.tensor(1.5, requires_grad=True)
    for idx in (dm.tensor([0]), dm.tensor(0)):
        y = x.index_select(0, idx)
        assert y.shape == () and y.item() == 1.5
    x.index_select(-1, dm.tensor([0])).backward()
    assert x.grad.item() == 1.0
    for bad in ([-1], [1]):
        with pytest.raises(IndexError):
            x.index_select(0, dm.tensor(bad))
    for many in ([0, 0], []):
        with pytest.raises(IndexError, match="only 1 value"):
            x.index_select(0, dm.tensor(many, dtype=dm.int64))
    with pytest.raises(IndexError):
        x.index_select(1, dm.tensor([0]))


def test_gather_and_scatter_of_a_0d_tensor() -> None:
    x = dm.tensor(1.5)
    assert x.gather(0, dm.tensor([0])).tolist() == [1.5]
    assert x.gather(0, dm.tensor([0, 0])).tolist() == [1.5, 1.5]
    assert x.gather(0, dm.tensor(0)).item() == 1.5
    with pytest.raises(IndexError):
        x.gather(0, dm.tensor([1]))
    y = x.clone().scatter_add_(0, dm.tensor([0]), dm.tensor([2.0]))
    assert y.shape == () and y.item() == 3.5
    assert x.clone().scatter_(0, dm.tensor([0]), dm.tensor([2.0])).item() == 2.0
    got = x.clone().index_reduce_(0, dm.tensor([0]), dm.tensor(2.0), "prod")
    assert got.shape == () and got.item() == 3.0


def test_unfold_of_a_0d_tensor_checks_its_dim() -> None:
    x = dm.tensor(2.5)
    assert x.unfold(0, 1, 1).tolist() == [2.5]
    assert x.unfold(-1, 1, 1).tolist() == [2.5]
    for dim in (1, 3, -2, -5):
        with pytest.raises(IndexError):
            x.unfold(dim, 1, 1)


def test_index_reduce_checks_the_other_dims_of_source() -> None:
    x = dm.ones(2, 3)
    with pytest.raises(ShapeError, match="excluding the specified dimension"):
        x.index_reduce_(0, dm.tensor([0]), dm.full((1, 1), 5.0), "amax")
    got = x.index_reduce(0, dm.tensor([0]), dm.full((1, 3), 5.0), "amax")
    assert got.tolist() == [[5.0] * 3, [1.0] * 3]


# ---- attention with featureless values ------------------------------------------------------


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("lead", [(), (2,), (2, 3)])
def test_attention_backward_with_zero_value_features(causal: bool, lead: tuple) -> None:
    q = dm.randn(*lead, 3, 4, dtype=dm.float64, requires_grad=True)
    k = dm.randn(*lead, 5, 4, dtype=dm.float64, requires_grad=True)
    v = dm.randn(*lead, 5, 0, dtype=dm.float64, requires_grad=True)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    assert out.shape == (*lead, 3, 0)
    out.sum().backward()
    assert not q.grad.any() and not k.grad.any()
    assert q.grad.shape == q.shape and k.grad.shape == k.shape and v.grad.shape == v.shape


# ---- what the backward keeps ----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, f, df",
    [
        ("sqrt", dm.sqrt, lambda x: 0.5 / np.sqrt(x)),
        ("rsqrt", dm.rsqrt, lambda x: -0.5 * x**-1.5),
        ("reciprocal", dm.reciprocal, lambda x: -1.0 / x**2),
        ("exp2", dm.exp2, lambda x: np.exp2(x) * math.log(2)),
        ("expm1", dm.expm1, lambda x: np.exp(x)),
    ],
)
def test_ops_that_keep_their_output_let_the_input_change(name, f, df) -> None:
    """``sqrt``, ``rsqrt``, ``reciprocal``, ``exp2`` and ``expm1`` keep their result, as
    PyTorch's: changing the input in place afterwards is no error, changing the output is,
    and first and second derivatives hold."""
    xv = np.array([0.3, 1.7, 4.0])
    x = dm.tensor(xv, requires_grad=True)
    z = x * 1.0
    y = f(z)
    z.add_(1.0)  # the input moves on; the gradient is still the one at the old values
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), df(xv), rtol=1e-12)
    y2 = f(x * 1.0)
    y2.mul_(2.0)  # (in place on the output, which the backward reads)
    with pytest.raises(RuntimeError, match="in-place operation"):
        y2.sum().backward()
    assert dm.autograd.gradcheck(f, (dm.tensor(xv, requires_grad=True),))
    assert dm.autograd.gradgradcheck(f, (dm.tensor(xv, requires_grad=True),))


def test_power_by_a_number_keeps_only_its_base() -> None:
    x = dm.tensor([1.0, 4.0], requires_grad=True)
    for e in (0.5, 3.0, -1.0):
        o = x**e
        o2 = o * 1
        o.add_(1)
        o2.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), e * np.array([1.0, 4.0]) ** (e - 1))
        x.grad = None
    base = dm.tensor([2.0, 3.0], requires_grad=True)
    e = dm.tensor([1.5, 2.0], requires_grad=True)
    (base**e).sum().backward()  # the exponent's gradient still reads the result
    np.testing.assert_allclose(e.grad.numpy(), np.array([2.0, 3.0]) ** [1.5, 2.0] * np.log([2, 3]))


@pytest.mark.parametrize("op", ["atan2", "nextafter"])
def test_host_computed_outputs_take_in_place_changes(op: str) -> None:
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    y = getattr(dm, op)(x, dm.full((2,), 5.0))
    assert not y._is_view()
    y.mul_(2.0)
    y.sum().backward()
    want = [2 * 5 / 26, 2 * 5 / 29] if op == "atan2" else [2.0, 2.0]
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-6)
    assert dm.atan2(dm.tensor(1.0), dm.tensor(2.0)).shape == ()


def test_masked_scatter_that_picks_nothing_gives_the_source_zeros() -> None:
    x = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    s = dm.tensor([4.0, 5.0, 6.0], requires_grad=True)
    y = x.masked_scatter(dm.tensor([False, False, False]), s)
    assert y.tolist() == [1.0, 2.0, 3.0]
    y.sum().backward()
    assert s.grad.tolist() == [0.0, 0.0, 0.0]
    assert x.grad.tolist() == [1.0, 1.0, 1.0]


# ---- reductions down middle dims ------------------------------------------------------------


@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin"])
@pytest.mark.parametrize(
    "shape, dims",
    [((3, 5, 7), (1,)), ((2, 3, 4, 5), (1, 2)), ((2, 300, 70), (1,)), ((4, 1, 3), (1,))],
)
def test_middle_dim_reductions_match_numpy(op: str, shape: tuple, dims: tuple) -> None:
    rng = np.random.default_rng(0)
    xv = rng.standard_normal(shape)
    xv.flat[5] = np.nan if op in ("amax", "amin") else xv.flat[5]
    want = getattr(np, {"amax": "max", "amin": "min"}.get(op, op))(xv, axis=dims)
    for dt, tol in ((dm.float64, 1e-12), (dm.float32, 1e-5)):
        x = dm.tensor(xv, dtype=dt)
        got = getattr(x, op)(dims)
        np.testing.assert_allclose(got.double().numpy(), want, rtol=tol, atol=tol)
        kept = getattr(x, op)(dims, keepdim=True)
        assert kept.shape == tuple(1 if i in dims else n for i, n in enumerate(shape))
    xb = dm.tensor(xv, dtype=dm.bfloat16)
    got = getattr(xb, op)(dims).float().numpy()
    np.testing.assert_allclose(got, want, rtol=3e-2, atol=3e-2)


def test_middle_dim_reductions_of_empty_dims() -> None:
    x = dm.zeros(2, 0, 3)
    assert x.sum(1).tolist() == [[0.0] * 3] * 2
    assert all(math.isnan(v) for v in x.mean(1).reshape(-1).tolist())
    with pytest.raises(IndexError):
        x.amax(1)


# ---- optimizer checkpoints ------------------------------------------------------------------


def test_checkpoint_of_a_scheduled_optimizer_loads() -> None:
    """LinearLR to 0 leaves lr at -4e-19 (as PyTorch's arithmetic does), and int flags the
    constructor took are saved as given: both load, as in PyTorch."""
    p = dm.zeros(2, requires_grad=True)
    opt = dm.optim.SGD([p], lr=0.1)
    sched = dm.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, end_factor=0.0, total_iters=5)
    for _ in range(5):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] <= 0
    new = dm.optim.SGD([p], lr=0.1)
    new.load_state_dict(opt.state_dict())
    assert new.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    dm.optim.Adam([p], lr=0.1).load_state_dict(dm.optim.Adam([p], amsgrad=0).state_dict())
    sd = dm.optim.SGD([p], lr=0.1).state_dict()
    for bad in (-1e-6, math.nan, math.inf, "fast"):  # (beyond rounding: a corrupt checkpoint)
        sd["param_groups"][0]["lr"] = bad
        with pytest.raises(ValueError, match="'lr'"):
            dm.optim.SGD([p], lr=0.1).load_state_dict(sd)


def test_celu_gradient_far_below_zero_and_at_nan() -> None:
    x = dm.tensor([-10.0, -15.0, -20.0, math.nan, 0.0, 2.0], requires_grad=True)
    F.celu(x, alpha=1.0).sum().backward()
    want = [math.exp(-10), math.exp(-15), math.exp(-20), 1.0, 1.0, 1.0]
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-5)
    x = dm.tensor([-20.0, 3.0], dtype=dm.float64, requires_grad=True)
    y = F.celu(x, alpha=0.5)
    assert y[1].item() == 3.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [math.exp(-40), 1.0], rtol=1e-12)
    x = dm.tensor([-1.0, 1.0], dtype=dm.float64, requires_grad=True)
    np.testing.assert_allclose(F.celu(x, alpha=-2.0).detach().numpy(), [-2 * math.expm1(0.5), 1])


# ---- the Trainer --------------------------------------------------------------------------


def _digits_subset():
    from democratising.data import TensorDataset

    x, y = dm.datasets.digits()
    return TensorDataset(x[:64], y[:64])


def test_compute_loss_may_return_the_loss_alone() -> None:
    from democratising.nn import Dense
    from democratising.train import Trainer, TrainingConfig

    class LossOnly(Trainer):
        def compute_loss(self, batch):
            x, y = batch
            return F.cross_entropy(self.model(x), y)

    dm.manual_seed(0)
    trainer = LossOnly(Dense(64, 10), TrainingConfig(num_epochs=1, batch_size=16, verbose=False))
    trainer.fit(_digits_subset())
    assert math.isfinite(trainer.evaluate(_digits_subset())["loss"])

    class Wrong(Trainer):
        def compute_loss(self, batch):
            return 3.0

    wrong = Wrong(Dense(64, 10), TrainingConfig(num_epochs=1, verbose=False))
    with pytest.raises(TypeError, match=r"\(loss, outputs, targets\)"):
        wrong.fit(_digits_subset())


def test_fit_on_an_empty_dataset_says_so() -> None:
    from democratising.data import TensorDataset
    from democratising.nn import Dense
    from democratising.train import Trainer, TrainingConfig

    x, y = dm.datasets.digits()
    trainer = Trainer(Dense(64, 10), TrainingConfig(num_epochs=1, verbose=False))
    with pytest.raises(ValueError, match="yielded no batches"):
        trainer.fit(TensorDataset(x[:0], y[:0]))


# ---- convolution and pooling arguments ------------------------------------------------------


def test_numpy_integers_as_geometry_arguments() -> None:
    x = dm.ones(1, 1, 5, 5)
    assert F.conv2d(x, dm.ones(1, 1, 3, 3), stride=np.int64(2)).shape == (1, 1, 2, 2)
    assert F.max_pool2d(dm.ones(1, 1, 4, 4), np.int64(2)).shape == (1, 1, 2, 2)
    assert dm.nn.Conv2d(1, 1, np.int64(3)).weight.shape == (1, 1, 3, 3)
    assert F.unfold(dm.ones(1, 1, 4, 4), np.int64(2)).shape == (1, 4, 9)
    assert F.unfold(dm.ones(1, 1, 4, 4), (np.int32(2), 2)).shape == (1, 4, 9)
    with pytest.raises(TypeError):
        F.conv2d(x, dm.ones(1, 1, 3, 3), stride=2.0)


def test_avg_pool3d_of_integers_stays_integer() -> None:
    x = dm.tensor([[[[[1, 2], [3, 5]]]]])
    y = F.avg_pool3d(x, (1, 2, 2))
    assert y.dtype == dm.int64 and y.tolist() == [[[[[2]]]]]
    y = F.avg_pool3d(-x, (1, 2, 2))
    assert y.tolist() == [[[[[-2]]]]]  # toward zero, as PyTorch's integer division


def test_pool_stride_given_as_an_empty_sequence_is_the_kernel() -> None:
    x = dm.randn(1, 1, 4, 4)
    assert F.max_pool2d(x, 2, stride=[]).shape == (1, 1, 2, 2)
    assert F.avg_pool2d(x, 2, stride=()).shape == (1, 1, 2, 2)
    assert F.max_pool1d(dm.randn(1, 1, 4), 2, stride=[]).shape == (1, 1, 2)


def test_interpolate_refuses_recompute_scale_factor_with_a_size() -> None:
    with pytest.raises(ValueError, match="not meaningful with an explicit size"):
        F.interpolate(dm.ones(1, 1, 4), size=8, recompute_scale_factor=True)
    assert F.interpolate(dm.ones(1, 1, 4), size=8, recompute_scale_factor=False).shape == (1, 1, 8)


@pytest.mark.parametrize("pad", [0, 1, 2])
def test_conv_tbc_matches_a_numpy_reference(pad: int) -> None:
    rng = np.random.default_rng(pad)
    x, w, b = rng.standard_normal((7, 3, 4)), rng.standard_normal((3, 4, 5)), rng.standard_normal(5)
    xp = np.pad(x, ((pad, pad), (0, 0), (0, 0)))
    t_out = xp.shape[0] - w.shape[0] + 1
    want = np.stack([sum(xp[t + k] @ w[k] for k in range(w.shape[0])) + b for t in range(t_out)])
    args = [dm.tensor(a, requires_grad=True) for a in (x, w, b)]
    got = dm.conv_tbc(*args, pad)
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-12)
    assert dm.autograd.gradcheck(lambda *a: F.conv_tbc(*a, pad), args)
    with pytest.raises(ShapeError):
        F.conv_tbc(dm.zeros(7, 3, 5), dm.zeros(3, 4, 5), dm.zeros(5))


def test_native_channel_shuffle_is_channel_shuffle() -> None:
    x = dm.arange(24.0).reshape(1, 6, 2, 2)
    assert dm.equal(F.native_channel_shuffle(x, 3), F.channel_shuffle(x, 3))
    assert dm.equal(dm.native_channel_shuffle(x, 2), F.channel_shuffle(x, 2))


def test_1d_convolution_errors_name_the_1d_op() -> None:
    from democratising.errors import DTypeError

    with pytest.raises(DTypeError, match=r"^conv1d: input dtype float64 .* float32"):
        F.conv1d(dm.randn(1, 2, 5, dtype=dm.float64), dm.randn(3, 2, 3))
    with pytest.raises(ShapeError, match=r"^conv_transpose1d: input has 2 channels"):
        F.conv_transpose1d(dm.randn(1, 2, 5), dm.randn(3, 2, 3))
    with dm.amp.autocast(dtype=dm.bfloat16):  # (autocast casts both: no dtype error)
        assert F.conv1d(dm.randn(1, 2, 5), dm.randn(3, 2, 3)).dtype == dm.bfloat16


# ---- float16 arithmetic widened per element -------------------------------------------------


def _f16_values(n: int = 4096) -> np.ndarray:
    rng = np.random.default_rng(7)
    v = np.concatenate(
        [
            rng.standard_normal(n) * 10,
            rng.standard_normal(64) * 1e-6,  # subnormals
            [0.0, -0.0, np.inf, -np.inf, np.nan, 65504.0, -65504.0, 6e-8, 1e-4, 3e4],
        ]
    )
    return v.astype(np.float16)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_float16_arithmetic_is_float32_rounded_once(op: str) -> None:
    """float16 ``+ - * /`` widen each element and round the float32 result once: what casting
    to float32, computing and casting back gives (NumPy's float16 arithmetic too)."""
    a, b = _f16_values(), _f16_values()[::-1].copy()
    f = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}[op]
    with np.errstate(all="ignore"):
        want = f(a.astype(np.float32), b.astype(np.float32)).astype(np.float16)
        want_num = f(a.astype(np.float32), np.float32(3)).astype(np.float16)
        want_mixed = f(a.astype(np.float32), b.astype(np.float32))
    da, db = dm.tensor(a), dm.tensor(b)
    got = getattr(da, op)(db)
    assert got.dtype == dm.float16
    np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(getattr(da, op)(3).numpy(), want_num)
    mixed = getattr(da, op)(db.float())
    assert mixed.dtype == dm.float32
    np.testing.assert_array_equal(mixed.numpy(), want_mixed)
    # broadcast and strided operands take the same path
    m = dm.tensor(a[:4096].reshape(64, 64))
    np.testing.assert_array_equal(
        getattr(m.t(), op)(m[0]).numpy(),
        f(a[:4096].reshape(64, 64).T.astype(np.float32), a[:64].astype(np.float32)).astype(
            np.float16
        ),
    )


#: f'(x) from what each op keeps for its backward: its float16 output ``y`` (rounded, as
#: PyTorch's half kernels keep it) or its input ``x``.
_F16_DERIVATIVE = {
    "relu": lambda x, y: np.where(y <= 0, 0, 1).astype(np.float32),  # (1 at NaN)
    "exp": lambda x, y: y,
    "sqrt": lambda x, y: np.float32(0.5) / y,
    "tanh": lambda x, y: 1 - y * y,
    "sigmoid": lambda x, y: y * (1 - y),
    "neg": lambda x, y: -np.ones_like(x),
    "abs": lambda x, y: np.nan_to_num(np.sign(x)),  # (0 at NaN)
}


@pytest.mark.parametrize("name", sorted(_F16_DERIVATIVE))
def test_float16_unary_ops_and_gradients_match_float32_rounded(name: str) -> None:
    a = _f16_values()
    x = dm.tensor(a, requires_grad=True)
    y = getattr(dm, name)(x)
    wide = getattr(dm, name)(dm.tensor(a.astype(np.float32)))
    np.testing.assert_array_equal(y.detach().numpy(), wide.numpy().astype(np.float16))
    g = np.linspace(-2, 2, a.size).astype(np.float16)
    y.backward(dm.tensor(g))
    with np.errstate(all="ignore"):
        xs, ys = a.astype(np.float32), y.detach().numpy().astype(np.float32)
        d = _F16_DERIVATIVE[name](xs, ys)
        want = np.where(d == 0, 0, g.astype(np.float32) * d).astype(np.float16)
    np.testing.assert_allclose(x.grad.numpy().astype(np.float32), want, rtol=2e-3, atol=1e-7)


# ---- fills with a value that requires grad --------------------------------------------------


def test_fill_and_masked_fill_pass_gradient_to_a_tensor_value() -> None:
    w = dm.tensor([1.0, 2.0, 3.0, 4.0])
    z = dm.tensor(0.5, requires_grad=True)
    x = dm.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = x * 1
    y.fill_(z)
    (y * w).sum().backward()
    assert z.grad.item() == 10.0 and x.grad.tolist() == [0.0] * 4
    z.grad = None
    mask = dm.tensor([True, False, True, False])
    (x.masked_fill(mask, z) * w).sum().backward()
    assert z.grad.item() == 4.0
    z.grad = None
    y = x * 1
    y.masked_fill_(mask, z)
    (y * w).sum().backward()
    assert z.grad.item() == 4.0
    base = dm.full((4,), 2.0)
    base.fill_(z)
    assert base.requires_grad and base.tolist() == [0.5] * 4
    with dm.no_grad():  # (a number again: nothing to record)
        assert x.masked_fill(mask, z).tolist() == [0.5, 2.0, 0.5, 4.0]


def test_pruning_a_0d_parameter_keeps_its_shape() -> None:
    m = dm.nn.Linear(2, 2)
    m.register_parameter("s", dm.nn.Parameter(dm.tensor(2.0)))
    dm.nn.utils.prune.l1_unstructured(m, "s", amount=0)
    assert m.s.shape == () and m.s_mask.shape == () and m.s_orig.shape == ()


# ---- linalg and statistics edge cases -------------------------------------------------------


def test_svd_of_an_infinite_matrix_is_nan_not_a_hang() -> None:
    from democratising.errors import LinAlgError

    inf = math.inf
    x = dm.tensor([[inf, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]], dtype=dm.float64)
    assert all(math.isnan(v) for v in dm.linalg.svdvals(x).tolist())
    assert math.isnan(dm.linalg.matrix_norm(x, ord=2).item())
    assert math.isnan(dm.norm(x, p="nuc").item())
    batch = dm.linalg.svdvals(dm.stack([x, dm.eye(3, dtype=dm.float64)]))
    assert math.isnan(batch[0, 0].item()) and batch[1].tolist() == [1.0, 1.0, 1.0]
    u, s, vh = dm.linalg.svd(dm.randn(4, 5).masked_fill(dm.eye(4, 5).bool(), inf))
    assert u.isnan().all() and s.isnan().all() and vh.isnan().all()
    with pytest.raises(LinAlgError, match="non-finite"):
        dm.linalg.svdvals(x.masked_fill(x == inf, math.nan))  # (PyTorch's error for NaN)


def test_nanmedian_of_an_infinite_median_with_grad() -> None:
    x = dm.tensor([1.0, math.inf, math.inf, math.nan], requires_grad=True)
    y = dm.nanmedian(x)
    assert y.item() == math.inf
    y.backward()
    assert x.grad.tolist() == [0.0, 0.5, 0.5, 0.0]
    assert dm.nanmedian(dm.tensor([0.0, -math.inf], requires_grad=True)).item() == -math.inf


def test_dims_out_of_range_are_refused() -> None:
    a, b = dm.arange(6.0).reshape(2, 3), dm.arange(6.0).reshape(3, 2)
    for bad in (([5], [0]), ([0], [2])):
        with pytest.raises(IndexError):
            dm.tensordot(a, b, dims=bad)
    with pytest.raises(IndexError):
        dm.tensordot(dm.tensor(2.0), dm.tensor(3.0), dims=([0], [0]))
    assert dm.tensordot(a, b, dims=([-1], [-2])).tolist() == [[10.0, 13.0], [28.0, 40.0]]
    for dim in (2, (0, 5), -3):
        with pytest.raises(IndexError):
            dm.linalg.vector_norm(dm.ones(2, 3), dim=dim)
    with pytest.raises(IndexError):
        dm.norm(dm.ones(2, 3, requires_grad=True), p=2, dim=3)
    assert dm.linalg.vector_norm(dm.tensor(3.0), dim=0).item() == 3.0


def test_small_tensor_function_gaps() -> None:
    assert dm.inner(dm.zeros(0), dm.zeros(0)).item() == 0.0
    assert dm.inner(dm.zeros(2, 0), dm.zeros(3, 0)).tolist() == [[0.0] * 3] * 2
    t = dm.tile(dm.tensor(1.5), ())
    assert t.shape == () and t.item() == 1.5
    x = dm.arange(6)
    assert [p.tolist() for p in dm.tensor_split(x, sections=2)] == [[0, 1, 2], [3, 4, 5]]
    assert [p.tolist() for p in dm.tensor_split(x, indices=[1, 3])] == [[0], [1, 2], [3, 4, 5]]
    parts = dm.tensor_split(x, tensor_indices_or_sections=dm.tensor([2]))
    assert [p.tolist() for p in parts] == [[0, 1], [2, 3, 4, 5]]
    with pytest.raises(TypeError):
        dm.tensor_split(x, 2, sections=2)


def test_empty_products_stay_in_the_graph() -> None:
    x = dm.zeros(0, requires_grad=True)
    y = dm.prod(x)
    assert y.item() == 1.0 and y.requires_grad
    y.backward()
    assert x.grad.shape == (0,)
    x = dm.zeros(2, 0, requires_grad=True)
    y = x.prod(1)
    assert y.tolist() == [1.0, 1.0] and y.requires_grad
    y.sum().backward()
    assert x.grad.shape == (2, 0)
    assert dm.zeros(2, 0, dtype=dm.int64).prod(1).tolist() == [1, 1]
