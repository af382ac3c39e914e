"""Regressions for session 49: in-place writes into any view of a transposed or channels-last
result under autograd, and constant writes into expanded views. PyTorch's values are written
out as constants or rebuilt with NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm

# ---- in-place writes into views of permuted results -------------------------------------------


def test_reshaped_view_of_a_transposed_result_takes_an_inplace_write() -> None:
    # y's storage is x.t()'s order; y.t().reshape(-1) is a view of it along that order.
    x = dm.arange(6.0).reshape(2, 3).requires_grad_()
    y = x.t() * 2
    z = y.t().reshape(-1)
    z.mul_(2)
    np.testing.assert_allclose(y.detach().numpy(), [[0, 12], [4, 16], [8, 20]])
    assert z.grad_fn is not None
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 3), 4.0))


def test_inplace_write_into_views_of_a_channels_last_result_gradchecks() -> None:
    def f(x: dm.Tensor) -> dm.Tensor:
        y = (x * 1.5).contiguous(memory_format=dm.channels_last)
        flat = y.permute(0, 2, 3, 1).reshape(-1)  # memory order of y
        flat[1:7].mul_(flat[:6] + 2.0)
        y[:, 1].exp_()
        return y

    x = dm.randn(2, 3, 2, 2, dtype=dm.float64, requires_grad=True)
    assert dm.autograd.gradcheck(f, (x,))
    ref = (x.detach().numpy() * 1.5).transpose(0, 2, 3, 1).copy()
    flat = ref.reshape(-1)
    flat[1:7] *= flat[:6].copy() + 2.0
    ref = ref.transpose(0, 3, 1, 2)
    ref[:, 1] = np.exp(ref[:, 1])
    np.testing.assert_allclose(f(x).detach().numpy(), ref, rtol=1e-12)


def test_inplace_write_into_a_strided_view_of_a_transposed_result_double_backward() -> None:
    x = dm.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype=dm.float64, requires_grad=True)
    y = x.t() * 1.0  # strides of x.t()
    y.t().reshape(-1)[::2].pow_(2)
    (g,) = dm.autograd.grad(y.sum(), x, create_graph=True)
    # y.t() in memory: [1, 2, 3, 4, 5, 6]; every other element squared: 1, 3, 5.
    np.testing.assert_allclose(g.detach().numpy(), [[2, 1, 6], [1, 10, 1]])
    (gg,) = dm.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), [[2, 0, 2], [0, 2, 0]])


# ---- constant writes into expanded views ------------------------------------------------------


@pytest.mark.parametrize(
    ("write", "expected"),
    [
        (lambda x: x.fill_(1.0), [1, 1, 1]),
        (lambda x: x.zero_(), [0, 0, 0]),
        (lambda x: x.masked_fill_(dm.tensor([True, False, True]), 2.0), [2, 5, 2]),
        (
            lambda x: x.masked_fill_(dm.tensor([[True, False, False], [False, False, True]]), 2.0),
            [2, 5, 2],
        ),
        (lambda x: x.masked_fill_(dm.tensor([False, True, False]), dm.tensor(7.0)), [5, 7, 5]),
        (lambda x: x.index_fill_(1, dm.tensor([0, 2]), 3.0), [3, 5, 3]),
        (lambda x: x.index_fill_(0, dm.tensor([1]), 3.0), [3, 3, 3]),
        (lambda x: x.__setitem__(slice(None), 4.0), [4, 4, 4]),
        (lambda x: x.__setitem__((0, 1), 4.0), [5, 4, 5]),
        (
            lambda x: x.__setitem__(dm.tensor([[False, True, False], [False, False, False]]), 6.0),
            [5, 6, 5],
        ),
    ],
    ids=[
        "fill",
        "zero",
        "mask1d",
        "mask2d",
        "mask-tensor-value",
        "index_fill",
        "index_fill-bdim",
        "setitem-all",
        "setitem-one",
        "setitem-mask",
    ],
)
def test_constant_writes_into_an_expanded_view(write, expected) -> None:  # type: ignore[no-untyped-def]
    base = dm.full((3,), 5.0)
    x = base.expand(2, 3)
    write(x)
    np.testing.assert_array_equal(base.numpy(), np.array(expected, dtype=np.float32))


@pytest.mark.parametrize(
    "write",
    [
        lambda x: x.add_(1),
        lambda x: x.copy_(dm.ones(2, 3)),
        lambda x: x.__setitem__(slice(None), dm.ones(3)),
        lambda x: x.__setitem__(slice(None), dm.tensor(1.0)),
        lambda x: x.clamp_(min=1),
    ],
    ids=["add_", "copy_", "setitem-tensor", "setitem-0d", "clamp_"],
)
def test_other_writes_into_an_expanded_view_still_raise(write) -> None:  # type: ignore[no-untyped-def]
    x = dm.zeros(3).expand(2, 3)
    with pytest.raises(RuntimeError, match="single memory location"):
        write(x)


def test_expanded_fill_keeps_its_checks() -> None:
    x = dm.zeros(3).expand(2, 3)
    with pytest.raises(RuntimeError):
        x.masked_fill_(dm.tensor([1, 0, 1]), 1.0)  # not a bool mask
    with pytest.raises(IndexError):
        x.index_fill_(1, dm.tensor([3]), 1.0)
    # Recorded by autograd: refused, as the write has no single-valued gradient.
    a = dm.zeros(3, requires_grad=True) * 1
    with pytest.raises(RuntimeError):
        a.expand(2, 3).fill_(1.0)
    with dm.inference_mode():
        t = dm.zeros(3)
    with pytest.raises(RuntimeError):
        t.expand(2, 3).fill_(1.0)


# ---- hooks and retain_grad on a view written through its base ---------------------------------


def test_retain_grad_and_hooks_of_a_stale_view_see_its_current_history() -> None:
    x = dm.arange(3.0).requires_grad_()
    y = x * 2
    v = y[:2]
    y.mul_(3)  # v now holds 6 * x[:2]
    seen: list[list[float]] = []
    v.retain_grad()
    v.register_hook(lambda g: seen.append(g.tolist()))
    assert v.grad_fn is not None and "AsStrided" in v.grad_fn.name()
    (v * v).sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), [0.0, 12.0])
    assert seen == [[0.0, 12.0]]
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 72.0, 0.0])


def test_bilinear_refuses_operands_of_two_dtypes() -> None:
    x32 = dm.randn(4, 3)
    with pytest.raises(TypeError, match="same dtype"):
        dm.nn.functional.bilinear(x32, x32.double(), dm.randn(2, 3, 3))
    with pytest.raises(RuntimeError):
        dm.nn.Bilinear(3, 3, 2)(x32.double(), x32.double())
    out = dm.nn.functional.bilinear(x32.double(), x32.double(), dm.randn(2, 3, 3).double())
    assert out.dtype == dm.float64


# ---- random numbers ---------------------------------------------------------------------------


def test_normal_samples_in_means_dtype_as_pytorch() -> None:
    assert dm.normal(dm.zeros(3, dtype=dm.bfloat16), dm.ones(3)).dtype == dm.bfloat16
    assert dm.normal(dm.tensor(0.0, dtype=dm.float64), dm.ones(3)).dtype == dm.float64
    assert dm.normal(dm.zeros(3), dm.ones(3, dtype=dm.float64)).dtype == dm.float32
    assert dm.normal(dm.zeros(3), dm.ones(3, dtype=dm.int64)).dtype == dm.float32
    assert dm.normal(0.0, dm.ones(2, dtype=dm.float64)).dtype == dm.float64


@pytest.mark.filterwarnings("ignore:.*resized")
def test_random_out_of_another_shape_is_resized() -> None:
    assert dm.normal(0.0, 1.0, (3,), out=dm.empty(5)).shape == (3,)
    assert dm.bernoulli(dm.full((3,), 0.5), out=dm.empty(5)).shape == (3,)
    assert dm.multinomial(dm.ones(3), 2, out=dm.empty(5, dtype=dm.int64)).shape == (2,)


def test_generator_and_seed_arguments_as_pytorch() -> None:
    assert dm.Generator(device=None).device.type == "cpu"
    dm.manual_seed(1.0)
    a = dm.rand(3)
    dm.manual_seed(1)
    np.testing.assert_array_equal(a.numpy(), dm.rand(3).numpy())
    for bad in ("7", 1.0):
        with pytest.raises((TypeError, RuntimeError)):
            dm.Generator().manual_seed(bad)
    x = dm.empty(1000).uniform_(**{"from": 2.0, "to": 3.0})
    assert 2.0 <= float(x.min()) and float(x.max()) < 3.0
    assert not dm.nn.Embedding(4, 2, _freeze=True).weight.requires_grad


def test_an_all_zero_rng_state_is_refused() -> None:
    state = dm.get_rng_state()
    with pytest.raises(ValueError, match="all zeros"):
        dm.set_rng_state(dm.zeros_like(state))
    with pytest.raises(ValueError, match="all zeros"):
        dm.Generator().set_state(dm.zeros_like(state))
    np.testing.assert_array_equal(dm.get_rng_state().numpy(), state.numpy())


def test_a_generator_in_one_thread_leaves_other_threads_streams_alone() -> None:
    import threading

    dm.manual_seed(0)
    expected = dm.rand(2000, dtype=dm.float64).tolist()
    dm.manual_seed(0)
    seen: list[float] = []
    stop = threading.Event()

    def global_draws() -> None:
        while not stop.is_set() and len(seen) < 2000:
            seen.append(dm.rand(1, dtype=dm.float64).item())

    worker = threading.Thread(target=global_draws)
    worker.start()
    g = dm.Generator().manual_seed(1)
    got = [dm.rand(1, generator=g, dtype=dm.float64).item() for _ in range(3000)]
    stop.set()
    worker.join()
    ref = dm.Generator().manual_seed(1)
    assert got == [dm.rand(1, generator=ref, dtype=dm.float64).item() for _ in range(3000)]
    assert seen == expected[: len(seen)]  # the global stream, unbroken


def test_dropout_refuses_an_integer_tensor_in_training() -> None:
    with pytest.raises(RuntimeError):
        dm.nn.functional.dropout(dm.ones(4, dtype=dm.int64), 0.5)
    assert (
        dm.nn.functional.dropout(dm.ones(4, dtype=dm.int64), 0.5, training=False).dtype == dm.int64
    )


# ---- mixed precision --------------------------------------------------------------------------


def test_conv3d_with_bias_stays_half_under_autocast() -> None:
    x = dm.randn(1, 2, 4, 4, 4)
    with dm.autocast("cpu", dtype=dm.bfloat16):
        assert dm.nn.functional.conv3d(x, dm.randn(3, 2, 2, 2, 2), dm.randn(3)).dtype == dm.bfloat16
        assert dm.nn.Conv3d(2, 3, 2)(x).dtype == dm.bfloat16
        assert dm.nn.ConvTranspose3d(2, 3, 2)(x).dtype == dm.bfloat16


def test_grad_scaler_refuses_float16_gradients() -> None:
    m = dm.nn.Linear(3, 1).half()
    opt = dm.optim.SGD(m.parameters(), lr=0.1)
    scaler = dm.amp.GradScaler("cpu")
    scaler.scale(m(dm.ones(2, 3, dtype=dm.float16)).float().sum()).backward()
    with pytest.raises(ValueError, match="FP16"):
        scaler.unscale_(opt)


def test_pytorchs_older_autocast_spellings() -> None:
    assert not dm.is_autocast_cpu_enabled()
    with dm.autocast("cpu", dtype=dm.bfloat16):
        assert dm.is_autocast_cpu_enabled()
        assert dm.get_autocast_cpu_dtype() == dm.bfloat16
    dm.set_autocast_cpu_dtype(dm.float16)
    dm.set_autocast_cpu_enabled(True)
    try:
        assert dm.nn.Linear(2, 2)(dm.ones(1, 2)).dtype == dm.float16
    finally:
        dm.set_autocast_cpu_enabled(False)
        dm.set_autocast_cpu_dtype(dm.bfloat16)
    assert dm.get_autocast_gpu_dtype() == dm.float16


# ---- keywords and argument kinds --------------------------------------------------------------


def test_numpy_integer_sizes_build_norm_layers_and_cells() -> None:
    n = np.int64(4)
    for layer in (
        dm.nn.BatchNorm1d(n),
        dm.nn.LayerNorm(n),
        dm.nn.GroupNorm(np.int64(2), n),
        dm.nn.RMSNorm(n),
        dm.nn.LayerNorm([np.int64(2), n]),
    ):
        assert all(isinstance(d, int) for d in layer.weight.shape)
    assert dm.nn.LSTMCell(np.int64(3), n)(dm.ones(2, 3))[0].shape == (2, 4)


def test_pytorchs_keyword_names() -> None:
    a = dm.eye(3, dtype=dm.float64) * 4
    np.testing.assert_allclose(dm.linalg.cholesky(input=a).numpy(), np.eye(3) * 2)
    assert dm.linalg.lstsq(input=a, b=dm.ones(3, 1, dtype=dm.float64)).solution.shape == (3, 1)
    assert float(dm.linalg.vector_norm(input=dm.ones(4))) == 2.0
    x = dm.arange(16.0).reshape(4, 4)
    assert [t.shape for t in dm.hsplit(x, sections=2)] == [(4, 2), (4, 2)]
    assert [t.shape for t in x.vsplit(indices=[1])] == [(1, 4), (3, 4)]
    with pytest.raises(TypeError):
        dm.hsplit(x, 2, sections=2)
    assert dm.concatenate([x, x], dim=1).shape == (4, 8)
    assert len(dm.nn.Sequential().append(module=dm.nn.ReLU())) == 1
    lin = dm.nn.Linear(2, 2).to(tensor=dm.ones(1, dtype=dm.float64))
    assert lin.weight.dtype == dm.float64
    assert dm.ones(2, 6).sum_to_size(size=(1, 6)).tolist() == [[2.0] * 6]


def test_normal_log_prob_keeps_float64_precision_with_number_parameters() -> None:
    d = dm.distributions.Normal(0.0, 1.0)
    v = dm.tensor([0.0, 0.5], dtype=dm.float64)
    assert d.log_prob(v)[0].item() == pytest.approx(-0.9189385332046727, rel=1e-15)
    assert d.cdf(v)[1].item() == pytest.approx(0.6914624612740131, rel=1e-14)


# ---- NaN gradients through a zero derivative --------------------------------------------------


def test_a_nan_gradient_passes_a_zero_derivative_as_pytorch() -> None:
    nan = float("nan")
    for f in (lambda z: z.abs(), lambda z: z**2, lambda z: z.square()):
        z = dm.tensor([0.0, 1.0], requires_grad=True)
        f(z).backward(dm.tensor([nan, 1.0]))
        assert np.isnan(z.grad[0].item())
    z = dm.zeros(2, requires_grad=True)
    dm.sqrt((z**2).sum()).backward()
    assert np.isnan(z.grad.numpy()).all()
    # A masking backward (relu, clamp, the rounding ops) stops it, as PyTorch's.
    for f in (lambda z: z.relu(), lambda z: z.clamp(0.5, 2.0), lambda z: z.floor()):
        z = dm.tensor([0.0, 1.0], requires_grad=True)
        f(z).backward(dm.tensor([nan, 1.0]))
        assert z.grad[0].item() == 0.0
    z = dm.tensor([0.0, 1.0], dtype=dm.bfloat16, requires_grad=True)
    (z.abs() * 1).backward(dm.tensor([nan, 1.0], dtype=dm.bfloat16))
    assert np.isnan(z.grad.float()[0].item())


def test_regression_losses_run_in_float32_under_autocast_for_every_reduction() -> None:
    f = dm.nn.functional
    x = dm.randn(4, 3).bfloat16()
    with dm.autocast("cpu", dtype=dm.bfloat16):
        for loss in (f.mse_loss, f.l1_loss, f.smooth_l1_loss, f.huber_loss):
            assert loss(x, x * 0.5, reduction="none").dtype == dm.float32
    assert f.mse_loss(x, x * 0.5, reduction="none").dtype == dm.bfloat16  # outside: as given


def test_custom_fwd_casts_only_under_its_own_devices_autocast() -> None:
    from democratising.amp import custom_bwd, custom_fwd

    seen: list[object] = []

    def function(device: str) -> type:
        class Double(dm.autograd.Function):
            @staticmethod
            @custom_fwd(device_type=device, cast_inputs=dm.float32)
            def forward(ctx, x):  # type: ignore[no-untyped-def]
                seen.append(x.dtype)
                return x * 2

            @staticmethod
            @custom_bwd(device_type=device)
            def backward(ctx, g):  # type: ignore[no-untyped-def]
                return g * 2

        return Double

    x = dm.randn(3).bfloat16()
    with dm.autocast("cpu", dtype=dm.bfloat16):
        function("cpu").apply(x)
        if not dm.cuda.is_available():
            function("cuda").apply(x)  # CUDA's autocast is off here: nothing cast
    assert seen[0] == dm.float32
    assert seen[1:] in ([], [dm.bfloat16])


def test_retain_grad_before_the_base_is_written_stays_on_the_view() -> None:
    x = dm.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = x * 2
    v = y[:2]
    v.retain_grad()
    y.mul_(3)
    (v * dm.tensor([5.0, 7.0])).sum().backward()
    assert v.retains_grad
    np.testing.assert_allclose(v.grad.numpy(), [5.0, 7.0])
    np.testing.assert_allclose(x.grad.numpy(), [30.0, 42.0, 0.0, 0.0])


def test_hardswish_multiplies_its_gradient_inside_its_range() -> None:
    x = dm.tensor([-1.5, 4.0], requires_grad=True)
    dm.nn.functional.hardswish(x).backward(dm.tensor([float("nan"), 1.0]))
    assert np.isnan(x.grad[0].item()) and x.grad[1].item() == 1.0
    with pytest.raises(TypeError):
        dm.Generator().manual_seed(True)
