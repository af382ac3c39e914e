"""Engine gaps closed against PyTorch 2.15's behaviour (expected values taken from torch):
leaf hooks under ``autograd.grad`` / ``backward(inputs=)``, an empty batch through batch norm,
``ceil_mode`` windows longer than the input, adaptive average pooling of non-finite values,
and attention with ``dropout_p=1``."""

import math

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F


def test_leaf_hooks_run_under_autograd_grad_and_backward_inputs():
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    x.register_hook(lambda g: g * 10)
    assert dm.autograd.grad((x * x).sum(), x)[0].tolist() == [20.0, 40.0]
    (x * x).sum().backward(inputs=[x])
    assert x.grad.tolist() == [20.0, 40.0]
    # The same leaf twice: its hook still runs once.
    g1, g2 = dm.autograd.grad((x * x).sum(), [x, x])
    assert g1.tolist() == [20.0, 40.0] and g2.tolist() == [20.0, 40.0]


def test_leaf_hook_sees_the_summed_gradient_once():
    seen = []
    x = dm.tensor([3.0], requires_grad=True)
    x.register_hook(lambda g: seen.append(g.item()))
    (g,) = dm.autograd.grad(x * 2 + x * 5, x)
    assert seen == [7.0] and g.item() == 7.0


def test_batch_norm_of_an_empty_batch():
    m = dm.nn.BatchNorm1d(3)
    x = dm.zeros(0, 3, requires_grad=True)
    y = m(x)
    assert tuple(y.shape) == (0, 3)
    assert m.running_mean.tolist() == [0.0] * 3 and m.running_var.tolist() == [1.0] * 3
    y.sum().backward()
    assert m.weight.grad.tolist() == [0.0] * 3 and m.bias.grad.tolist() == [0.0] * 3
    assert tuple(dm.nn.BatchNorm2d(3)(dm.zeros(0, 3, 4, 4)).shape) == (0, 3, 4, 4)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        dm.nn.BatchNorm1d(3)(dm.zeros(1, 3))


def test_ceil_mode_window_longer_than_the_input():
    x = dm.arange(3.0).view(1, 1, 3)
    assert F.max_pool1d(x, 4, 4, ceil_mode=True).tolist() == [[[2.0]]]
    with pytest.raises(ValueError):
        F.max_pool1d(x, 4, 4)
    y = dm.arange(5.0).view(1, 1, 5)
    assert F.max_pool1d(y, 2, 2, ceil_mode=True).tolist() == [[[1.0, 3.0, 4.0]]]
    assert F.avg_pool1d(y, 2, 2, ceil_mode=True).tolist() == [[[0.5, 2.5, 4.0]]]


def test_adaptive_avg_pool_keeps_non_finite_values_in_their_bins():
    a = dm.tensor([[[1.0, math.nan, 3.0, 4.0]]])
    out = F.adaptive_avg_pool1d(a, 2)[0, 0].tolist()
    assert math.isnan(out[0]) and out[1] == 3.5
    b = dm.tensor([[[1.0, math.inf, 3.0, 4.0]]])
    assert F.adaptive_avg_pool1d(b, 2)[0, 0].tolist() == [math.inf, 3.5]
    # Unequal bins (5 -> 3: [0, 2), [1, 4), [3, 5)) with a NaN in the last one only.
    c = dm.tensor([[[1.0, 2.0, 3.0, 4.0, math.nan]]])
    r = F.adaptive_avg_pool1d(c, 3)[0, 0].tolist()
    assert r[:2] == [1.5, 3.0] and math.isnan(r[2])


@pytest.mark.parametrize("size,out", [((6, 6), (3, 2)), ((7, 5), (3, 2)), ((4, 4), (1, 1))])
def test_adaptive_avg_pool_matches_numpy_and_gradchecks(size, out):
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((2, 3, *size))
    x = dm.tensor(xn, dtype=dm.float64, requires_grad=True)
    y = F.adaptive_avg_pool2d(x, out)
    want = np.zeros((2, 3, *out))
    (h, w), (ho, wo) = size, out
    for i in range(ho):
        for j in range(wo):
            r0, r1 = i * h // ho, -(-(i + 1) * h // ho)
            c0, c1 = j * w // wo, -(-(j + 1) * w // wo)
            want[:, :, i, j] = xn[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-12)
    assert dm.autograd.gradcheck(lambda t: F.adaptive_avg_pool2d(t, out), (x,))


@pytest.mark.parametrize("dtype", [dm.float32, dm.bfloat16])
def test_global_adaptive_avg_pool_is_each_planes_mean_in_the_input_dtype(dtype):
    """Output size 1 (a ResNet's head) is each plane's mean: 3-D and 4-D inputs, a
    channels-last view, a double backward, and the input's dtype kept under autocast."""
    rng = np.random.default_rng(1)
    xn = rng.standard_normal((2, 3, 5, 7)).astype(np.float32)
    x = dm.tensor(xn, dtype=dtype)
    want = x.float().numpy().mean(axis=(2, 3), keepdims=True)
    tol = 1e-6 if dtype == dm.float32 else 1e-2
    for inp in (x, x.contiguous(memory_format=dm.channels_last)):
        y = F.adaptive_avg_pool2d(inp, 1)
        assert y.dtype == dtype and tuple(y.shape) == (2, 3, 1, 1)
        np.testing.assert_allclose(y.float().numpy(), want, rtol=tol, atol=tol)
    assert tuple(F.adaptive_avg_pool2d(x[0], (1, 1)).shape) == (3, 1, 1)
    with dm.amp.autocast(dtype=dm.bfloat16):
        assert F.adaptive_avg_pool2d(x, 1).dtype == dtype
    t = dm.tensor(xn[:1, :2, :3, :2], dtype=dm.float64, requires_grad=True)
    assert dm.autograd.gradgradcheck(lambda v: F.adaptive_avg_pool2d(v, 1) ** 2, (t,))


def test_attention_with_every_weight_dropped_is_zero():
    q = dm.ones(1, 2, 3, 8, requires_grad=True)
    y = F.scaled_dot_product_attention(q, q, q, dropout_p=1.0)
    assert y.abs().sum().item() == 0.0
    y.sum().backward()
    assert q.grad.abs().sum().item() == 0.0
    with pytest.raises(ValueError, match="dropout_p"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=1.5)


class _Split(dm.autograd.Function):
    calls = 0

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * 2, x * x

    @staticmethod
    def backward(ctx, ga, gb):
        _Split.calls += 1
        (x,) = ctx.saved_tensors
        return ga * 2 + gb * 2 * x


def test_multi_output_function_runs_its_backward_once():
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    _Split.calls = 0
    a, b = _Split.apply(x)
    (a.sum() + (b * 3).sum()).backward()
    assert _Split.calls == 1 and x.grad.tolist() == [2 + 6 * 1, 2 + 6 * 2]
    # An unused output's gradient arrives as zeros (materialize_grads), still one call.
    x.grad, _Split.calls = None, 0
    a, _ = _Split.apply(x)
    a.sum().backward()
    assert _Split.calls == 1 and x.grad.tolist() == [2.0, 2.0]


def test_multi_output_function_gradchecks_in_float64():
    x = dm.tensor([0.5, -1.5, 2.0], dtype=dm.float64, requires_grad=True)
    assert dm.autograd.gradcheck(lambda t: _Split.apply(t), (x,))


def test_manual_seed_returns_the_default_generator():
    g = dm.manual_seed(3)
    assert g is dm.default_generator and g.initial_seed() == 3
    dm.randn(2)
    state = g.get_state()
    b = dm.randn(4)
    g.set_state(state)
    assert dm.randn(4).tolist() == b.tolist()
    g.manual_seed(5)
    first = dm.randn(3, generator=dm.default_generator).tolist()
    dm.manual_seed(5)
    assert dm.randn(3).tolist() == first


def test_out_keyword_writes_into_the_given_tensor():
    t = dm.ones(2, 2)
    z = dm.empty(2, 2)
    assert dm.mul(t, t * 3, out=z) is z and z.tolist() == [[3.0, 3.0], [3.0, 3.0]]
    y = dm.empty(0)
    dm.matmul(t, t.T, out=y)  # resized to the result, as PyTorch
    assert y.shape == (2, 2) and y.tolist() == [[2.0, 2.0], [2.0, 2.0]]
    with pytest.raises(TypeError):
        dm.add(t, 1.5, out=dm.empty(2, 2, dtype=dm.int64))
    w = dm.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError):
        dm.mul(w, w, out=dm.empty(2))


def test_schedulers_take_whole_floats_and_loaders_give_lists():
    opt = dm.optim.SGD([dm.zeros(1, requires_grad=True)], lr=1.0)
    sched = dm.optim.lr_scheduler.StepLR(opt, 1.0, gamma=0.1)  # the torchtext tutorial's call
    opt.step()
    sched.step()
    assert abs(opt.param_groups[0]["lr"] - 0.1) < 1e-12
    with pytest.raises(ValueError):
        dm.optim.lr_scheduler.StepLR(opt, 1.5)
    ds = dm.data.TensorDataset(dm.arange(4.0), dm.arange(4))
    batch = next(iter(dm.data.DataLoader(ds, batch_size=2)))
    assert isinstance(batch, list)
    batch[0] = batch[0] * 2  # PyTorch code reassigns batch items
    assert batch[0].tolist() == [0.0, 2.0]


def test_legacy_tensor_constructor_as_torch():
    assert dm.Tensor().shape == (0,) and dm.Tensor().dtype == dm.float32
    assert dm.Tensor(2, 3).shape == (2, 3) and dm.Tensor(3).shape == (3,)
    assert dm.Tensor(dm.Size([2, 3])).shape == (2, 3)
    t = dm.Tensor([1, 2])
    assert t.dtype == dm.float32 and t.tolist() == [1.0, 2.0]
    assert dm.Tensor([True, False]).dtype == dm.float32
    assert dm.Tensor((2, 3)).tolist() == [2.0, 3.0]  # a tuple is data, as in PyTorch
    assert dm.Tensor(np.array([1, 2])).dtype == dm.float32
    with pytest.raises(TypeError):
        dm.Tensor(2, [3])
    p = dm.nn.Parameter(dm.randn(2))
    assert isinstance(p, dm.Tensor) and p.requires_grad


def test_other_device_names_raise_device_errors():
    for name in ("meta", "xla", "mps"):
        with pytest.raises(dm.DeviceError):
            dm.ones(2).to(name)


def test_torch_cpu_amp_spellings():
    import democratising.cpu.amp as cpu_amp

    x = dm.randn(4, 4)
    with cpu_amp.autocast():
        assert (x @ x).dtype == dm.bfloat16
    with dm.cpu.amp.autocast(enabled=False):
        assert (x @ x).dtype == dm.float32
    assert dm.cpu.is_available() and dm.cpu.device_count() == 1
    assert dm.cpu.amp.GradScaler().is_enabled()


def test_next_functions_as_pytorch_tutorials_walk_them():
    lin = dm.nn.Linear(3, 1)
    loss = (lin(dm.randn(2, 3)).relu() ** 2).sum()
    first, index = loss.grad_fn.next_functions[0]
    assert index == 0 and "Pow" in first.name()
    # Down to the weight: the last node's inputs end in AccumulateGrad for each parameter.
    node, leaves = loss.grad_fn, []
    stack = [node]
    while stack:
        n = stack.pop()
        for f, _ in n.next_functions:
            if f is None:
                continue
            if f.name() == "torch::autograd::AccumulateGrad":  # (PyTorch's name)
                leaves.append(f.variable)
            else:
                stack.append(f)
    assert sorted(tuple(t.shape) for t in leaves) == [(1,), (1, 3)]


def test_softshrink_has_no_gradient_at_lambda():
    # Values from PyTorch 2.15: F.softshrink(x, 0.5) at [-0.5, 0.5, 0.7, 0.2].
    x = dm.tensor([-0.5, 0.5, 0.7, 0.2, -0.9], requires_grad=True)
    y = F.softshrink(x, 0.5)
    np.testing.assert_allclose(y.detach().numpy(), [0.0, 0.0, 0.2, 0.0, -0.4], atol=1e-6)
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 1.0, 0.0, 1.0]


def test_forward_amp_passes_keywords_and_prelude_has_the_common_names():
    class Scaled(dm.nn.Module):
        def forward(self, x, scale=1.0):
            return x * scale

    assert Scaled().forward_amp(dm.ones(2), scale=3.0).tolist() == [3.0, 3.0]
    import democratising.prelude as prelude

    for name in ("Softmax", "ModuleList", "MultiheadAttention", "RMSprop", "Optimizer", "cuda"):
        assert name in prelude.__all__ and hasattr(prelude, name)


def test_same_padding_with_a_wrong_weight_rank_is_a_shape_error():
    with pytest.raises(dm.ShapeError):
        F.conv2d(dm.ones(1, 1, 4, 4), dm.ones(1, 1, 3), padding="same")
