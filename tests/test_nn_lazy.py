"""Lazy modules (``nn.LazyLinear``, the lazy convolutions, batch and instance norms), their
``UninitializedParameter`` / ``UninitializedBuffer`` placeholders, and ``nn.Buffer``."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm
from democratising.errors import ShapeError

nn = dm.nn


def test_lazy_linear_before_and_after_first_call():
    m = nn.LazyLinear(3)
    assert repr(m) == "LazyLinear(in_features=0, out_features=3, bias=True)"
    assert m.has_uninitialized_params()
    assert isinstance(m.weight, nn.UninitializedParameter) and repr(m.weight) == (
        "<UninitializedParameter>"
    )
    assert list(m.state_dict()) == ["weight", "bias"]
    with pytest.raises(RuntimeError):
        _ = m.weight.shape
    w = m.weight
    x = dm.randn(2, 7)
    y = m(x)
    assert not isinstance(m.bias, nn.UninitializedParameter)
    assert type(m).__name__ == "Linear" and m.in_features == 7
    assert repr(m) == "Linear(in_features=7, out_features=3, bias=True)"
    assert m.weight is w and type(w) is nn.Parameter and w.requires_grad
    assert tuple(m.weight.shape) == (3, 7) and tuple(m.bias.shape) == (3,)
    bound = 1 / math.sqrt(7)
    for p in (m.weight, m.bias):
        assert np.abs(p.detach().numpy()).max() <= bound
    want = x.numpy() @ m.weight.detach().numpy().T + m.bias.detach().numpy()
    np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-5, atol=1e-6)


def test_lazy_linear_no_bias_and_dtype():
    m = nn.LazyLinear(2, bias=False, dtype=dm.float64)
    assert m._parameters["bias"] is None
    m(dm.randn(4, 5, dtype=dm.float64))
    assert m.weight.dtype == dm.float64 and list(m.state_dict()) == ["weight"]
    m = nn.LazyLinear(2).double()
    m(dm.randn(1, 3, dtype=dm.float64))
    assert m.weight.dtype == dm.float64


def test_lazy_init_spread_matches_kaiming_uniform():
    m = nn.LazyLinear(200)
    m(dm.randn(1, 50))
    w = m.weight.detach().numpy()
    bound = 1 / math.sqrt(50)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.05)


def test_optimizer_built_before_first_call_steps_the_materialized_parameters():
    m = nn.LazyLinear(2)
    opt = dm.optim.SGD(m.parameters(), lr=0.5)
    m(dm.randn(3, 4)).sum().backward()
    before = m.weight.detach().numpy().copy()
    grad = m.weight.grad.numpy().copy()
    opt.step()
    np.testing.assert_allclose(m.weight.detach().numpy(), before - 0.5 * grad, rtol=1e-6)


@pytest.mark.parametrize(
    "lazy, regular, x, shape",
    [
        (lambda: nn.LazyConv1d(4, 3), "Conv1d", (2, 5, 9), (4, 5, 3)),
        (lambda: nn.LazyConv1d(4, 3), "Conv1d", (5, 9), (4, 5, 3)),
        (lambda: nn.LazyConv2d(4, 3, groups=2, bias=False), "Conv2d", (1, 6, 5, 5), (4, 3, 3, 3)),
        (lambda: nn.LazyConvTranspose1d(4, 3, stride=2), "ConvTranspose1d", (2, 6, 5), (6, 4, 3)),
        (lambda: nn.LazyConvTranspose2d(4, 3, groups=2), "ConvTranspose2d", (1, 6, 5, 5),
         (6, 2, 3, 3)),
    ],
)  # fmt: skip
def test_lazy_convolutions(lazy, regular, x, shape):
    m = lazy()
    assert repr(m).startswith(f"Lazy{regular}(0, 4,")
    inp = dm.randn(x)
    y = m(inp)
    assert type(m).__name__ == regular and m.in_channels == x[1 - len(shape)]
    assert tuple(m.weight.shape) == shape
    ref = getattr(nn, regular)(m.in_channels, 4, 3, **_conv_kwargs(m))
    ref.load_state_dict(m.state_dict())
    np.testing.assert_allclose(y.detach().numpy(), ref(inp).detach().numpy(), rtol=1e-6)
    fan_in = math.prod(shape[1:])
    assert np.abs(m.weight.detach().numpy()).max() <= 1 / math.sqrt(fan_in)


def _conv_kwargs(m):
    kw = {"stride": m.stride, "groups": m.groups, "bias": m.bias is not None}
    return kw


def test_lazy_conv_bad_rank():
    with pytest.raises(ShapeError, match="Expected 3D \\(unbatched\\) or 4D"):
        nn.LazyConv2d(4, 3)(dm.randn(3, 4))


@pytest.mark.parametrize("name, x", [("BatchNorm1d", (4, 3)), ("BatchNorm2d", (2, 3, 4, 4))])
def test_lazy_batch_norm(name, x):
    m = getattr(nn, "Lazy" + name)()
    assert repr(m).startswith(f"Lazy{name}(0, eps=1e-05")
    assert isinstance(m.running_mean, nn.UninitializedBuffer)
    inp = dm.randn(x)
    y = m(inp)
    assert type(m).__name__ == name and m.num_features == 3
    assert list(m.state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"
    ]  # fmt: skip
    np.testing.assert_array_equal(m.weight.detach().numpy(), np.ones(3))
    np.testing.assert_array_equal(m.bias.detach().numpy(), np.zeros(3))
    a = inp.numpy()
    axes = (0,) if a.ndim == 2 else (0, 2, 3)
    mean = a.mean(axes)
    np.testing.assert_allclose(m.running_mean.numpy(), 0.1 * mean, rtol=1e-5, atol=1e-7)
    shape = (1, 3) + (1,) * (a.ndim - 2)
    norm = (a - mean.reshape(shape)) / np.sqrt(a.var(axes).reshape(shape) + 1e-5)
    np.testing.assert_allclose(y.detach().numpy(), norm, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "name, x", [("InstanceNorm1d", (2, 3, 5)), ("InstanceNorm2d", (2, 3, 4, 4))]
)
def test_lazy_instance_norm(name, x):
    m = getattr(nn, "Lazy" + name)()
    assert m.affine and m.track_running_stats
    m(dm.randn(x))
    assert type(m).__name__ == name and m.num_features == 3
    assert tuple(m.weight.shape) == (3,) and tuple(m.running_var.shape) == (3,)


def test_load_state_dict_materializes_from_loaded_shapes():
    ref = nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Linear(3, 2))
    lazy = nn.Sequential(nn.LazyLinear(3), nn.ReLU(), nn.LazyLinear(2))
    keys = lazy.load_state_dict(ref.state_dict())
    assert keys.missing_keys == [] and keys.unexpected_keys == []
    assert not lazy[0].has_uninitialized_params()
    assert tuple(lazy[0].weight.shape) == (3, 5)
    x = dm.randn(4, 5)
    np.testing.assert_allclose(lazy(x).detach().numpy(), ref(x).detach().numpy(), rtol=1e-6)
    assert type(lazy[0]).__name__ == "Linear" and lazy[0].in_features == 5


def test_lazy_batch_norm_load_state_dict():
    ref = nn.BatchNorm1d(4)
    ref(dm.randn(8, 4))
    m = nn.LazyBatchNorm1d()
    m.load_state_dict(ref.state_dict())
    np.testing.assert_array_equal(m.running_mean.numpy(), ref.running_mean.numpy())
    assert int(m.num_batches_tracked.item()) == 1


def test_loading_uninitialized_into_initialized_raises():
    with pytest.raises(RuntimeError, match="uninitialized"):
        nn.Linear(2, 3).load_state_dict(nn.LazyLinear(3).state_dict())


def test_uninitialized_placeholders():
    p = nn.UninitializedParameter()
    assert p.requires_grad and isinstance(p, nn.Parameter)
    p.materialize((2, 3))
    assert type(p) is nn.Parameter and tuple(p.shape) == (2, 3) and p.dtype == dm.float32
    b = nn.UninitializedBuffer(dtype=dm.float64)
    t = b.materialize((4,))
    assert tuple(t.shape) == (4,) and t.dtype == dm.float64
    with pytest.raises(ValueError):
        b.numel()


def test_buffer_assignment_registers_and_honours_persistence():
    m = nn.Module()
    m.a = nn.Buffer(dm.ones(2))
    m.b = nn.Buffer(dm.zeros(3), persistent=False)
    assert list(dict(m.named_buffers())) == ["a", "b"]
    assert list(m.state_dict()) == ["a"]
    m.b = nn.Buffer(dm.ones(3))  # re-assigned as persistent
    assert list(m.state_dict()) == ["a", "b"]
    m.a = dm.full((2,), 5.0)  # a plain tensor keeps the slot a buffer
    assert list(m.state_dict()) == ["a", "b"] and m.a.numpy().tolist() == [5.0, 5.0]
    src = dm.ones(2, requires_grad=True)
    assert nn.Buffer(src).requires_grad and not nn.Buffer(dm.ones(2)).requires_grad
    with pytest.raises(TypeError):
        m.a = 3
