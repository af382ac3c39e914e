"""``dm.amp`` against PyTorch 2.15's ``torch.autocast("cpu", ...)`` and
``torch.amp.GradScaler("cpu", ...)``: every expected value below was produced by running the
same program under PyTorch (the suite does not import torch)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import nn
from democratising.amp import GradScaler, autocast
from democratising.optim import SGD, Adam, AdamW

rng = np.random.default_rng(0)
A = rng.standard_normal((4, 8)).astype(np.float32)
B = rng.standard_normal((8, 3)).astype(np.float32)


def _t(a: np.ndarray) -> dm.Tensor:
    return dm.tensor(a)


# ---- autocast: which dtype each op runs in (torch CPU autocast gives the same) ----------------

_OPS = {
    "linear": lambda low: F.linear(_t(A), _t(B.T.copy()), _t(B[0].copy())),
    "matmul": lambda low: dm.matmul(_t(A), _t(B)),
    "@": lambda low: _t(A) @ _t(B),
    "mm": lambda low: dm.mm(_t(A), _t(B)),
    "bmm": lambda low: dm.bmm(_t(A).reshape(2, 2, 8), _t(B).reshape(1, 8, 3).expand(2, 8, 3)),
    "conv1d": lambda low: F.conv1d(_t(A).reshape(1, 4, 8), dm.ones(2, 4, 3)),
    "conv2d": lambda low: F.conv2d(_t(A).reshape(1, 1, 4, 8), dm.ones(2, 1, 3, 3)),
    "softmax": lambda low: F.softmax(_t(A), dim=-1),
    "log_softmax": lambda low: F.log_softmax(_t(A), dim=-1),
    "layer_norm": lambda low: F.layer_norm(_t(A), (8,)),
    "batch_norm": lambda low: F.batch_norm(_t(A), None, None, training=True),
    "cross_entropy_low_input": lambda low: F.cross_entropy(_t(A).to(low), dm.tensor([0, 1, 2, 0])),
    "mse_loss_low_input": lambda low: F.mse_loss(_t(A).to(low), _t(A).to(low)),
    "l1_loss_low_input": lambda low: F.l1_loss(_t(A).to(low), _t(A).to(low)),
    "sum": lambda low: _t(A).sum(),
    "exp_low_input": lambda low: dm.exp(_t(A).to(low)),
    "log_low_input": lambda low: dm.log(_t(np.abs(A) + 1).to(low)),
    "pow_low_input": lambda low: dm.pow(_t(A).to(low), 2),
    "relu_low_input": lambda low: F.relu(_t(A).to(low)),
    "low_plus_float32": lambda low: _t(A).to(low) + _t(A),
    "low_times_float32": lambda low: _t(A).to(low) * _t(A),
    "low_plus_python_float": lambda low: _t(A).to(low) + 1.0,
    "linear_of_low_input": lambda low: F.linear(_t(A).to(low), _t(B.T.copy())),
    "int_matmul": lambda low: dm.tensor([[1, 2], [3, 4]]) @ dm.tensor([[1, 2], [3, 4]]),
    "embedding": lambda low: F.embedding(dm.tensor([1, 2]), _t(A)),
}
# torch 2.15, torch.autocast("cpu", dtype=low): "low" = the autocast dtype.
_TORCH_DTYPES = {
    "linear": "low",
    "matmul": "low",
    "@": "low",
    "mm": "low",
    "bmm": "low",
    "conv1d": "low",
    "conv2d": "low",
    "softmax": "f32",
    "log_softmax": "f32",
    "layer_norm": "f32",
    "batch_norm": "f32",
    "cross_entropy_low_input": "f32",
    "mse_loss_low_input": "f32",
    "l1_loss_low_input": "f32",
    "sum": "f32",
    "exp_low_input": "low",
    "log_low_input": "low",
    "pow_low_input": "low",
    "relu_low_input": "low",
    "low_plus_float32": "f32",
    "low_times_float32": "f32",
    "low_plus_python_float": "low",
    "linear_of_low_input": "low",
    "int_matmul": "int64",
    "embedding": "f32",
}


@pytest.mark.parametrize("low", [dm.bfloat16, dm.float16], ids=["bf16", "f16"])
@pytest.mark.parametrize("op", sorted(_OPS))
def test_autocast_op_dtype_matches_torch_cpu(op: str, low: dm.dtype) -> None:
    with autocast("cpu", dtype=low):
        out = _OPS[op](low)
    want = {"low": low, "f32": dm.float32, "int64": dm.int64}[_TORCH_DTYPES[op]]
    assert out.dtype == want


def test_autocast_linear_values_equal_torch_bfloat16() -> None:
    """bfloat16 inputs with float32 accumulation: bit-equal to torch's CPU result."""
    x = np.array([[0.1, -1.3, 2.7], [3.3, 0.01, -0.5]], np.float32)
    w = np.array([[1.1, 0.2, -0.7], [0.33, -2.1, 0.9]], np.float32)
    with autocast("cpu", dtype=dm.bfloat16):
        y = F.linear(_t(x), _t(w))
    # torch.autocast("cpu", dtype=torch.bfloat16): F.linear(x, w).float()
    np.testing.assert_array_equal(
        y.float().numpy(), np.array([[-2.046875, 5.1875], [3.984375, 0.6171875]], np.float32)
    )


def test_autocast_default_dtype_follows_the_device_type() -> None:
    x = dm.ones(2, 2)
    with autocast("cpu"):
        assert (x @ x).dtype == dm.bfloat16  # torch's CPU default
    with dm.autocast(device_type="cpu", enabled=True, cache_enabled=False):
        assert (x @ x).dtype == dm.bfloat16
    with autocast():
        assert (x @ x).dtype == dm.float16  # the seed's default when no device is named
    assert dm.amp.get_autocast_dtype("cpu") == dm.bfloat16
    assert dm.amp.get_autocast_dtype("cuda") == dm.float16
    assert dm.amp.get_autocast_dtype() is None
    with autocast("cpu", dtype=dm.float16):
        assert dm.amp.get_autocast_dtype("cpu") == dm.float16


def test_nested_and_disabled_regions_follow_torch() -> None:
    x = dm.ones(3, 3)
    seen = []
    with autocast("cpu", dtype=dm.bfloat16):
        seen.append((x @ x).dtype)
        with autocast("cpu", dtype=dm.float16):
            seen.append((x @ x).dtype)
            with autocast("cpu", enabled=False):
                seen.append((x @ x).dtype)
                assert not dm.amp.is_autocast_enabled("cpu")
            seen.append((x @ x).dtype)
        seen.append((x @ x).dtype)
    seen.append((x @ x).dtype)
    assert seen == [dm.bfloat16, dm.float16, dm.float32, dm.float16, dm.bfloat16, dm.float32]


def test_autocast_restores_after_exceptions_and_reuse() -> None:
    x = dm.ones(2, 2)
    with pytest.raises(KeyError):
        with autocast("cpu", dtype=dm.bfloat16):
            raise KeyError
    assert (x @ x).dtype == dm.float32
    ac = autocast("cpu", dtype=dm.bfloat16)
    with ac:
        with ac:  # one object entered twice: each exit restores its own entry's state
            pass
        assert (x @ x).dtype == dm.bfloat16
    assert (x @ x).dtype == dm.float32


def test_autocast_decorator_is_reentrant() -> None:
    @autocast("cpu", dtype=dm.bfloat16)
    def depth(n: int) -> dm.dtype:
        return (dm.ones(2, 2) @ dm.ones(2, 2)).dtype if n == 0 else depth(n - 1)

    assert depth.__name__ == "depth"
    assert depth(3) == dm.bfloat16
    assert not dm.amp.is_autocast_enabled()
    assert (dm.ones(2, 2) @ dm.ones(2, 2)).dtype == dm.float32


@pytest.mark.parametrize("dtype", [dm.float32, dm.float64])
def test_autocast_unsupported_dtype_warns_and_disables_like_torch(dtype: dm.dtype) -> None:
    with pytest.warns(UserWarning, match="Disabling autocast"):
        ctx = autocast("cpu", dtype=dtype)
    with ctx:
        assert (dm.ones(2, 2) @ dm.ones(2, 2)).dtype == dm.float32
        assert not dm.amp.is_autocast_enabled("cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        autocast("cpu", dtype=dtype, enabled=False)  # no check when disabled, as in torch


def test_autocast_rejects_bad_arguments() -> None:
    with pytest.raises(RuntimeError, match="unsupported autocast device_type 'tpu'"):
        autocast("tpu", dtype=dm.bfloat16)
    with pytest.raises(dm.DeviceError):
        autocast("CPU")
    with pytest.raises(ValueError, match="device_type"):
        autocast(3)  # type: ignore[arg-type]
    with pytest.raises(dm.DTypeError):
        autocast("cpu", dtype="bfloat16")  # type: ignore[arg-type]
    assert dm.amp.is_autocast_available("cpu") and dm.amp.is_autocast_available("cuda:0")
    assert not dm.amp.is_autocast_available("meta")
    with pytest.raises(dm.DeviceError):
        dm.amp.is_autocast_enabled("tpu")


@pytest.mark.skipif(dm.cuda.is_available(), reason="checks the no-CUDA fallback")
def test_autocast_cuda_without_cuda_warns_and_runs_float32() -> None:
    with pytest.warns(UserWarning, match="CUDA is not available"):
        ctx = dm.autocast("cuda", dtype=dm.float16)
    with ctx:
        assert nn.Linear(2, 2)(dm.randn(1, 2)).dtype == dm.float32


def test_gradients_after_autocast_backward_have_torch_dtypes() -> None:
    lin = nn.Linear(3, 2)
    x = dm.ones(4, 3, requires_grad=True)
    with autocast("cpu", dtype=dm.bfloat16):
        y = lin(x)
        loss = (y.float() ** 2).sum()
    loss.backward()
    assert (y.dtype, loss.dtype) == (dm.bfloat16, dm.float32)
    assert lin.weight.grad.dtype == dm.float32 and lin.bias.grad.dtype == dm.float32
    assert x.grad.dtype == dm.float32
    low_leaf = dm.ones(4, 3).to(dm.bfloat16).requires_grad_()
    with autocast("cpu", dtype=dm.bfloat16):
        lin(low_leaf).sum().backward()
    assert low_leaf.grad.dtype == dm.bfloat16  # a leaf's gradient keeps the leaf's dtype
    conv = nn.Conv2d(1, 2, 3)
    with autocast("cpu", dtype=dm.float16):
        out = conv(dm.ones(1, 1, 5, 5))
        mse = F.mse_loss(out, dm.zeros(out.shape))
    mse.backward()
    assert (out.dtype, mse.dtype, conv.weight.grad.dtype) == (dm.float16, dm.float32, dm.float32)


def test_custom_fwd_cast_inputs_low_matches_torch() -> None:
    seen: dict[str, object] = {}

    class MM(dm.autograd.Function):
        @staticmethod
        @dm.amp.custom_fwd(device_type="cpu", cast_inputs=dm.bfloat16)
        def forward(ctx, a, b):  # type: ignore[no-untyped-def]
            seen["f"] = (a.dtype, b.dtype, dm.amp.is_autocast_enabled("cpu"))
            ctx.save_for_backward(a, b)
            return a.mm(b)

        @staticmethod
        @dm.amp.custom_bwd(device_type="cpu")
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            seen["b"] = (g.dtype, dm.amp.is_autocast_enabled("cpu"))
            a, b = ctx.saved_tensors
            return g.mm(b.t()), a.t().mm(g)

    a, b = dm.ones(2, 3, requires_grad=True), dm.ones(3, 2, requires_grad=True)
    with autocast("cpu", dtype=dm.bfloat16):
        out = MM.apply(a, b)
    out.sum().backward()
    assert out.dtype == dm.bfloat16
    assert seen == {"f": (dm.bfloat16, dm.bfloat16, False), "b": (dm.bfloat16, False)}
    assert a.grad.dtype == dm.float32 and b.grad.dtype == dm.float32


# ---- GradScaler -------------------------------------------------------------------------------


def _scaler_run(injections: list[float | None], **kw: float) -> list[tuple]:
    p = dm.tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([p], lr=0.1)
    s = GradScaler("cpu", **kw)
    out = []
    for inj in injections:
        opt.zero_grad()
        s.scale((p * p).sum()).backward()
        if inj is not None:
            p.grad = dm.tensor([inj, 1.0])
        s.step(opt)
        s.update()
        vals = [round(v, 6) for v in p.detach().tolist()]
        out.append((s.get_scale(), s.state_dict()["_growth_tracker"], vals))
    return out


def test_grad_scaler_device_first_positional_arguments_like_torch_amp() -> None:
    s = GradScaler("cpu", 1024.0, 3.0, 0.25, 10)
    assert (s.get_scale(), s.get_growth_factor(), s.get_backoff_factor()) == (1024.0, 3.0, 0.25)
    assert s.get_growth_interval() == 10
    assert GradScaler("cpu", init_scale=8.0).get_scale() == 8.0
    assert GradScaler(8.0, 3.0).get_growth_factor() == 3.0  # the seed's order still works
    with pytest.raises(TypeError, match="GradScaler"):
        GradScaler("cpu", 1.0, bad_name=1)


def test_grad_scaler_inf_nan_sequence_matches_torch() -> None:
    got = _scaler_run(
        [None, None, math.inf, None, math.nan, None], init_scale=8.0, growth_interval=2
    )
    assert got == [
        (8.0, 1, [0.8, 1.6]),
        (16.0, 0, [0.64, 1.28]),
        (8.0, 0, [0.64, 1.28]),
        (8.0, 1, [0.512, 1.024]),
        (4.0, 0, [0.512, 1.024]),
        (4.0, 1, [0.4096, 0.8192]),
    ]
    assert _scaler_run([-math.inf], init_scale=8.0) == [(4.0, 0, [1.0, 2.0])]
    got = _scaler_run(
        [None, math.inf, None],
        init_scale=10.0,
        growth_factor=3.0,
        backoff_factor=0.3,
        growth_interval=1,
    )
    assert got == [(30.0, 0, [0.8, 1.6]), (9.0, 0, [0.8, 1.6]), (27.0, 0, [0.64, 1.28])]


def test_grad_scaler_keeps_the_scale_in_float32_like_torch() -> None:
    assert GradScaler("cpu", init_scale=0.1).get_scale() == 0.1  # before the first scale()
    got = _scaler_run([None, None], init_scale=0.1, growth_interval=1)
    assert [g[0] for g in got] == [0.20000000298023224, 0.4000000059604645]
    # a growth past float32's range is skipped; the scaled gradients overflow first
    got = _scaler_run([None, None, None], init_scale=2.0**126, growth_interval=1)
    assert [g[0] for g in got] == [2.0**125, 2.0**126, 2.0**127]
    assert got[-1][2] == [0.64, 1.28]


def test_grad_scaler_growth_interval_matches_torch() -> None:
    p = dm.tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([p], lr=0.1)
    s = GradScaler("cpu", init_scale=2.0, growth_interval=3)
    scales = []
    for _ in range(7):
        opt.zero_grad()
        s.scale((p * p).sum()).backward()
        s.step(opt)
        s.update()
        scales.append(s.get_scale())
    assert scales == [2.0, 2.0, 4.0, 4.0, 4.0, 8.0, 8.0]


def test_grad_scaler_scaled_loss_dtype_matches_torch() -> None:
    s = GradScaler("cpu")
    for low in (dm.bfloat16, dm.float16):
        assert s.scale(dm.tensor(1.0, dtype=low)).dtype == dm.float32  # 0-d scale tensor
    assert s.scale(dm.tensor(2.0, dtype=dm.float16)).item() == 131072.0  # no float16 overflow
    assert s.scale(dm.ones(2, dtype=dm.bfloat16)).dtype == dm.bfloat16
    assert s.scale(dm.tensor(2.0, dtype=dm.float64)).dtype == dm.float64
    assert s.scale(dm.tensor(3)).dtype == dm.float32


def test_grad_scaler_scales_lists_tuples_and_iterables() -> None:
    s = GradScaler("cpu", init_scale=4.0)
    a, b = dm.tensor(1.0), dm.tensor([2.0, 3.0])
    r1 = s.scale([a, b])
    assert type(r1) is list and r1[0].item() == 4.0 and r1[1].tolist() == [8.0, 12.0]
    r2 = s.scale((a, [b]))
    assert type(r2) is tuple and type(r2[1]) is list and r2[1][0].tolist() == [8.0, 12.0]
    r3 = s.scale(x for x in [a])
    assert not isinstance(r3, (list, tuple)) and [x.item() for x in r3] == [4.0]
    with pytest.raises(ValueError, match="iterable of Tensors"):
        s.scale(2.0)
    with pytest.raises(ValueError, match="iterable of Tensors"):
        s.scale([a, 2.0])


def test_grad_scaler_call_order_errors_match_torch() -> None:
    p = dm.tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([p], lr=0.1)
    s = GradScaler("cpu")
    p.grad = dm.ones(2)
    for call in (lambda: s.step(opt), lambda: s.unscale_(opt), s.update, lambda: s.update(4.0)):
        with pytest.raises(RuntimeError, match=r"scaler\.scale"):
            call()  # no scale(loss) yet: the gradients would be unscaled by mistake
    s.scale((p * p).sum()).backward()
    with pytest.raises(RuntimeError, match="Closure use is not currently supported"):
        s.step(opt, closure=lambda: (p * p).sum())
    s.unscale_(opt)
    with pytest.raises(RuntimeError, match="already been called on this optimizer"):
        s.unscale_(opt)
    s.step(opt)
    with pytest.raises(RuntimeError, match=r"unscale_\(\) is being called after step\(\)"):
        s.unscale_(opt)
    with pytest.raises(RuntimeError, match=r"step\(\) has already been called"):
        s.step(opt)
    s.update()
    with pytest.raises(RuntimeError, match="No inf checks were recorded prior to update"):
        s.update()


def test_grad_scaler_update_with_new_scale() -> None:
    def run(new_scale: object) -> tuple:
        p = dm.tensor([1.0, 2.0], requires_grad=True)
        opt = SGD([p], lr=0.1)
        s = GradScaler("cpu")
        s.scale((p * p).sum()).backward()
        s.step(opt)
        s.update(new_scale)  # type: ignore[arg-type]
        return s.get_scale(), s.state_dict()["_growth_tracker"]

    assert run(3.3) == (3.299999952316284, 0)  # float32, as torch's scale tensor
    assert run(dm.tensor(5.0)) == (5.0, 0)
    with pytest.raises(ValueError, match="1-element"):
        run(dm.tensor([5.0, 1.0]))
    with pytest.raises(ValueError, match="requires_grad"):
        run(dm.tensor(5.0, requires_grad=True))


def test_grad_scaler_state_dict_and_load_match_torch() -> None:
    s = GradScaler(
        "cpu", init_scale=16.0, growth_factor=3.0, backoff_factor=0.25, growth_interval=7
    )
    sd = s.state_dict()
    assert sd == {
        "scale": 16.0,
        "growth_factor": 3.0,
        "backoff_factor": 0.25,
        "growth_interval": 7,
        "_growth_tracker": 0,
    }
    assert [type(sd[k]) for k in sorted(sd)] == [int, float, float, int, float]
    other = GradScaler("cpu")
    other.load_state_dict(
        {
            "scale": 32.0,
            "growth_factor": 4.0,
            "backoff_factor": 0.125,
            "growth_interval": 3,
            "_growth_tracker": 2,
        }
    )
    p = dm.tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([p], lr=0.1)
    other.scale((p * p).sum()).backward()
    other.step(opt)
    other.update()
    assert other.state_dict() == {
        "scale": 128.0,
        "growth_factor": 4.0,
        "backoff_factor": 0.125,
        "growth_interval": 3,
        "_growth_tracker": 0,
    }
    with pytest.raises(RuntimeError, match="state dict is empty"):
        other.load_state_dict({})
    with pytest.raises(KeyError):
        other.load_state_dict({"scale": 1.0})


def test_grad_scaler_getters_setters_and_disabled_behaviour() -> None:
    s = GradScaler("cpu")
    s.set_growth_factor(3.0)
    s.set_backoff_factor(0.1)
    s.set_growth_interval(9)
    assert (s.get_growth_factor(), s.get_backoff_factor(), s.get_growth_interval()) == (3.0, 0.1, 9)
    assert s.is_enabled() and s.get_scale() == 65536.0

    off = GradScaler("cpu", enabled=False, backoff_factor=1.0)  # torch checks only when enabled
    p = dm.tensor([1.0, 2.0], requires_grad=True)
    opt = SGD([p], lr=0.1)
    loss = (p * p).sum()
    assert off.scale(loss) is loss
    loss.backward()
    off.unscale_(opt)
    assert off.step(opt) is None
    off.update()
    off.update(5.0)
    off.load_state_dict({})
    assert (off.get_scale(), off.state_dict(), off.is_enabled()) == (1.0, {}, False)
    np.testing.assert_allclose(p.detach().numpy(), [0.8, 1.6], rtol=1e-6)
    with pytest.raises(ValueError):
        GradScaler("cpu", growth_factor=1.0)
    with pytest.raises(ValueError):
        GradScaler("cpu", backoff_factor=1.0)


@pytest.mark.parametrize("inf_in_second", [False, True])
def test_grad_scaler_with_two_optimizers_matches_torch(inf_in_second: bool) -> None:
    p = dm.tensor([1.0, 2.0], requires_grad=True)
    q = dm.tensor([3.0], requires_grad=True)
    o1, o2 = SGD([p], lr=0.1), SGD([q], lr=0.1)
    s = GradScaler("cpu", init_scale=8.0, growth_interval=1)
    s.scale((p * p).sum() + (q * q).sum()).backward()
    if inf_in_second:
        q.grad = dm.tensor([math.inf])
    s.step(o1)
    s.step(o2)
    s.update()
    np.testing.assert_allclose(p.detach().numpy(), [0.8, 1.6], rtol=1e-6)
    if inf_in_second:  # the clean optimizer steps, the other skips, the scale backs off
        assert q.item() == 3.0 and s.get_scale() == 4.0
    else:
        assert q.item() == pytest.approx(2.4) and s.get_scale() == 16.0


def test_grad_scaler_adam_sequence_and_unscaled_adamw_match_torch() -> None:
    p = dm.tensor([1.0, -2.0, 3.0], requires_grad=True)
    opt = Adam([p], lr=0.1)
    s = GradScaler("cpu", init_scale=64.0, growth_interval=2)
    for i in range(4):
        opt.zero_grad()
        s.scale((p**2).sum()).backward()
        if i == 1:
            p.grad = dm.tensor([math.nan, 0.0, 0.0])
        s.step(opt)
        s.update()
    np.testing.assert_allclose(p.detach().numpy(), [0.70159, -1.70062, 2.70038], atol=1e-5)
    assert s.get_scale() == 64.0

    w = dm.tensor([1.0, -2.0, 3.0], requires_grad=True)
    opt2 = AdamW([w], lr=0.1)
    s2 = GradScaler("cpu", init_scale=64.0)
    s2.scale((w**2).sum()).backward()
    s2.unscale_(opt2)
    assert w.grad.tolist() == [2.0, -4.0, 6.0]
    s2.step(opt2)
    s2.update()
    np.testing.assert_allclose(w.detach().numpy(), [0.899, -1.898, 2.897], atol=1e-5)


@pytest.mark.parametrize("opt_cls", [SGD, Adam])
def test_grad_scaler_unscales_non_contiguous_gradients(opt_cls: type) -> None:
    """A gradient assigned as a transposed view: torch unscales and steps on it."""
    p = dm.ones(2, 3, requires_grad=True)
    opt = opt_cls([p], lr=0.1)
    s = GradScaler("cpu", init_scale=4.0)
    s.scale((p * p).sum()).backward()
    p.grad = (dm.ones(3, 2) * 8.0).t()
    assert not p.grad.is_contiguous()
    if opt_cls is SGD:
        s.unscale_(opt)
        np.testing.assert_array_equal(p.grad.numpy(), np.full((2, 3), 2.0, np.float32))
    s.step(opt)
    s.update()
    want = 0.8 if opt_cls is SGD else 0.9  # torch: SGD 1 - 0.1 * 2; Adam 1 - 0.1 * sign
    np.testing.assert_allclose(p.detach().numpy(), np.full((2, 3), want), rtol=1e-6)
    assert s.get_scale() == 4.0


def test_float64_ops_stay_float64_under_autocast_like_torch() -> None:
    """PyTorch casts only float16/32/bfloat16 tensors ("eligible"): a double op stays double."""
    a = dm.ones(2, 2, dtype=dm.float64)
    with dm.autocast("cpu", dtype=dm.bfloat16):
        assert (a @ a).dtype == dm.float64
        assert F.linear(a, dm.ones(3, 2, dtype=dm.float64)).dtype == dm.float64
        x, k = dm.ones(1, 2, 5, dtype=dm.float64), dm.ones(3, 2, 2, dtype=dm.float64)
        assert F.conv1d(x, k).dtype == dm.float64
        assert (dm.ones(2, 2) @ dm.ones(2, 2)).dtype == dm.bfloat16


def test_top_level_mode_queries_like_torch() -> None:
    assert dm.is_autocast_enabled() is False and dm.is_anomaly_enabled() is False
    assert dm.get_autocast_dtype("cpu") == dm.bfloat16
    with dm.autocast("cpu", dtype=dm.float16):
        assert dm.is_autocast_enabled("cpu") and dm.get_autocast_dtype("cpu") == dm.float16
    with dm.autograd.detect_anomaly(check_nan=False):
        assert dm.is_anomaly_enabled() and not dm.is_anomaly_check_nan_enabled()


def test_addmm_family_stays_low_and_prod_runs_in_float32_under_autocast() -> None:
    """torch 2.15 CPU autocast: addmm/baddbmm/addbmm are low-precision ops (the float32 input
    is cast too), prod is a float32 op."""
    x, a, b = dm.ones(2, 2), dm.ones(2, 2), dm.ones(3, 2, 2)
    with dm.autocast("cpu", dtype=dm.bfloat16):
        assert dm.addmm(x, a, a).dtype == dm.bfloat16
        assert dm.baddbmm(x, b, b).dtype == dm.bfloat16
        assert dm.addbmm(x, b, b).dtype == dm.bfloat16
        assert dm.addbmm(x, b, b).float().tolist() == [[7.0, 7.0], [7.0, 7.0]]
        assert dm.ones(3, dtype=dm.bfloat16).prod().dtype == dm.float32
        assert dm.addmm(x.double(), a.double(), a.double()).dtype == dm.float64
    assert dm.addmm(x, a, a).dtype == dm.float32
