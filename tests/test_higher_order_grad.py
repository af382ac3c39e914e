"""Higher-order gradients (``create_graph=True``): the gradient of a gradient, checked in
float64 against central finite differences of the first gradient, for the elementwise ops,
broadcasting arithmetic, matmul/linear, reductions, softmax, views and indexing; plus the
programs that need it (gradient penalties, Hessian-vector products, PDE residuals) and the
typed error for ops whose backward is not differentiable yet."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import nn

Fn = Callable[[dm.Tensor], dm.Tensor]


def _first_grad(f: Fn, x: dm.Tensor, w: np.ndarray) -> dm.Tensor:
    """d/dx sum(f(x) * w), built with a graph."""
    out = f(x)
    (g,) = dm.autograd.grad((out * dm.tensor(w)).sum(), x, create_graph=True)
    return g


def check_second_order(f: Fn, x0: np.ndarray, eps: float = 1e-6, rtol: float = 1e-5) -> None:
    """The gradient of ``sum(grad(f)(x) * v)`` against central differences of it."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal(np.shape(f(dm.tensor(x0))))
    v = rng.standard_normal(x0.shape)

    def s(xv: np.ndarray) -> float:
        x = dm.tensor(xv, requires_grad=True)
        return float((_first_grad(f, x, w) * dm.tensor(v)).sum().item())

    x = dm.tensor(x0, requires_grad=True)
    g = _first_grad(f, x, w)
    assert g.requires_grad, "the first gradient carries no graph"
    (h,) = dm.autograd.grad((g * dm.tensor(v)).sum(), x, allow_unused=True)
    got = np.zeros_like(x0) if h is None else h.numpy()
    want = np.zeros_like(x0)
    for i in np.ndindex(x0.shape):
        xp, xm = x0.copy(), x0.copy()
        xp[i] += eps
        xm[i] -= eps
        want[i] = (s(xp) - s(xm)) / (2 * eps)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6)


def _x(*shape: int, low: float = -1.5, high: float = 1.5, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, shape)


UNARY: dict[str, tuple[Fn, tuple[float, float]]] = {
    "exp": (dm.exp, (-1.5, 1.5)),
    "log": (dm.log, (0.3, 2.0)),
    "log2": (lambda t: t.log2(), (0.3, 2.0)),
    "log1p": (lambda t: t.log1p(), (-0.5, 2.0)),
    "expm1": (lambda t: t.expm1(), (-1.5, 1.5)),
    "sqrt": (dm.sqrt, (0.3, 2.0)),
    "rsqrt": (dm.rsqrt, (0.3, 2.0)),
    "square": (lambda t: t.square(), (-1.5, 1.5)),
    "reciprocal": (lambda t: t.reciprocal(), (0.3, 2.0)),
    "sin": (dm.sin, (-2.0, 2.0)),
    "cos": (dm.cos, (-2.0, 2.0)),
    "tanh": (dm.tanh, (-1.5, 1.5)),
    "sigmoid": (dm.sigmoid, (-2.0, 2.0)),
    "gelu": (F.gelu, (-2.0, 2.0)),
    "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"), (-2.0, 2.0)),
    "silu": (F.silu, (-2.0, 2.0)),
    "softplus": (lambda t: F.softplus(t, beta=2.0), (-2.0, 2.0)),
    "elu": (lambda t: F.elu(t, alpha=0.7), (-2.0, 2.0)),
    "erf": (lambda t: t.erf(), (-1.5, 1.5)),
    "erfinv": (lambda t: t.erfinv(), (-0.8, 0.8)),
    "tan": (lambda t: t.tan(), (-1.0, 1.0)),
    "asin": (lambda t: t.asin(), (-0.8, 0.8)),
    "acos": (lambda t: t.acos(), (-0.8, 0.8)),
    "atan": (lambda t: t.atan(), (-2.0, 2.0)),
    "asinh": (lambda t: t.asinh(), (-2.0, 2.0)),
    "acosh": (lambda t: t.acosh(), (1.3, 3.0)),
    "atanh": (lambda t: t.atanh(), (-0.8, 0.8)),
    "erfc": (lambda t: t.erfc(), (-1.5, 1.5)),
    "exp2": (lambda t: t.exp2(), (-1.5, 1.5)),
    "lgamma": (lambda t: t.lgamma(), (0.3, 3.0)),
    "digamma": (lambda t: t.digamma(), (0.3, 3.0)),
    "polygamma": (lambda t: t.polygamma(1), (0.3, 3.0)),
    "abs": (dm.abs, (0.2, 1.5)),
    "relu": (dm.relu, (0.2, 1.5)),
    "leaky_relu": (lambda t: F.leaky_relu(t, 0.1), (-1.5, 1.5)),
    "clamp": (lambda t: t.clamp(-0.5, 0.5) * t, (-1.5, 1.5)),
    "pow_scalar": (lambda t: t**3, (-1.5, 1.5)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_second_derivative(name: str) -> None:
    f, (lo, hi) = UNARY[name]
    x0 = _x(2, 3, low=lo, high=hi)
    if name in ("leaky_relu", "clamp"):
        x0 = np.where(np.abs(x0) < 0.05, 0.3, x0)  # keep away from the kinks
        x0 = np.where(np.abs(np.abs(x0) - 0.5) < 0.05, 0.3, x0)
    check_second_order(lambda t: f(t) * t, x0)  # `* t`: nonzero second derivative throughout


BINARY: dict[str, Callable[[dm.Tensor, dm.Tensor], dm.Tensor]] = {
    "add": lambda a, b: (a + b) * a * b,
    "sub": lambda a, b: (a - b) * a * b,
    "mul": lambda a, b: a * b * a * b,
    "div": lambda a, b: a / b * a,
    "pow": lambda a, b: a**b,
    "maximum": lambda a, b: dm.maximum(a, b) * a * b,
}


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_second_derivative_with_broadcasting(name: str) -> None:
    op = BINARY[name]
    b0 = _x(3, low=0.5, high=1.5, seed=3)
    check_second_order(lambda a: op(a, dm.tensor(b0)), _x(2, 3, low=0.5, high=2.0))
    a0 = _x(2, 3, low=0.5, high=2.0, seed=4)
    check_second_order(lambda b: op(dm.tensor(a0), b), b0)


def test_matmul_and_linear_second_derivative() -> None:
    w = _x(4, 3, seed=5)
    check_second_order(lambda x: dm.tanh(x @ dm.tensor(w)), _x(2, 2, 4))
    x0 = _x(2, 4, seed=6)
    check_second_order(lambda m: dm.tanh(dm.tensor(x0) @ m) ** 2, w)
    b = dm.tensor(_x(3, seed=7))
    check_second_order(lambda x: dm.sigmoid(F.linear(x, dm.tensor(w.T), b)), _x(2, 2, 4))
    check_second_order(lambda m: dm.tanh(F.linear(dm.tensor(x0), m, b)), _x(3, 4, seed=8))


REDUCTIONS: dict[str, Fn] = {
    "sum": lambda t: t.sum(dim=1) ** 2,
    "mean": lambda t: t.mean(dim=0, keepdim=True) ** 2,
    "var": lambda t: t.var(dim=1),
    "std": lambda t: t.std(),
    "logsumexp": lambda t: t.logsumexp(dim=1),
    "amax": lambda t: t.amax(dim=1) ** 2,
    "softmax": lambda t: t.softmax(dim=1) * t,
    "softmax_dim0": lambda t: t.softmax(dim=0) ** 2,
    "log_softmax": lambda t: t.log_softmax(dim=-1) * t,
    "norm": lambda t: t.norm(),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_second_derivative(name: str) -> None:
    check_second_order(REDUCTIONS[name], _x(3, 4, seed=9))


VIEWS: dict[str, Fn] = {
    "slice": lambda t: t[1:, ::2] ** 2,
    "select": lambda t: t[:, 1] * t[0, 2],
    "transpose": lambda t: t.T @ t,
    "permute_reshape": lambda t: t.reshape(2, 6).permute(1, 0) ** 3,
    "expand": lambda t: t[:1].expand(3, 4) * t,
    "unsqueeze_squeeze": lambda t: t.unsqueeze(0).squeeze(0) ** 2,
    "cat_stack": lambda t: dm.cat([t, t**2], 0).sum(0) * dm.stack([t, t], 0).sum(0),
    "gather": lambda t: t.gather(1, dm.tensor([[0, 2], [1, 1], [3, 0]])) ** 2,
    "index_select": lambda t: t.index_select(1, dm.tensor([3, 0, 3])) ** 2,
    "advanced_index": lambda t: t[dm.tensor([0, 2, 2])] ** 3,
    "mask": lambda t: t[t > 0] ** 2,
    "where": lambda t: dm.where(t > 0, t**2, t**3),
    "masked_fill": lambda t: t.masked_fill(t < -0.5, 0.0) ** 2,
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_view_and_index_second_derivative(name: str) -> None:
    x0 = _x(3, 4, seed=10)
    x0 = np.where(np.abs(x0 + 0.5) < 0.05, 0.3, x0)
    check_second_order(VIEWS[name], x0)


def test_third_derivative_and_default_retain() -> None:
    x = dm.tensor([0.5, -1.0, 2.0], dtype=dm.float64, requires_grad=True)
    y = (x**4).sum()
    (g1,) = dm.autograd.grad(y, x, create_graph=True)
    (g2,) = dm.autograd.grad(g1.sum(), x, create_graph=True)
    (g3,) = dm.autograd.grad(g2.sum(), x)
    xv = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(g1.detach().numpy(), 4 * xv**3)
    np.testing.assert_allclose(g2.detach().numpy(), 12 * xv**2)
    np.testing.assert_allclose(g3.numpy(), 24 * xv)
    # create_graph keeps the graph: the first gradient's graph can be walked again.
    (again,) = dm.autograd.grad(y, x)
    np.testing.assert_allclose(again.numpy(), 4 * xv**3)


def test_hessian_vector_product_of_an_mlp_matches_the_hessian() -> None:
    dm.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 1)).double()
    x0 = _x(4, 3, seed=11)
    v = _x(4, 3, seed=12)

    def grad_of(xv: np.ndarray) -> np.ndarray:
        x = dm.tensor(xv, requires_grad=True)
        (g,) = dm.autograd.grad(net(x).sum(), x)
        return g.numpy()

    x = dm.tensor(x0, requires_grad=True)
    (g,) = dm.autograd.grad(net(x).sum(), x, create_graph=True)
    (hv,) = dm.autograd.grad(g, x, grad_outputs=dm.tensor(v))
    eps = 1e-6
    want = (grad_of(x0 + eps * v) - grad_of(x0 - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv.numpy(), want, rtol=1e-5, atol=1e-8)


def _penalty_loss(critic: nn.Module, real: dm.Tensor, fake: dm.Tensor) -> dm.Tensor:
    """WGAN-GP's critic loss: the gradient penalty at interpolated points."""
    alpha = dm.tensor(np.linspace(0.2, 0.8, real.shape[0])[:, None])
    mixed = (alpha * real + (1 - alpha) * fake).detach().requires_grad_(True)
    (g,) = dm.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    penalty = ((g.norm(2, dim=1) - 1) ** 2).mean()
    return critic(fake).mean() - critic(real).mean() + 10 * penalty


def test_gradient_penalty_trains_the_critic_with_exact_gradients() -> None:
    dm.manual_seed(1)
    critic = nn.Sequential(nn.Linear(2, 6), nn.LeakyReLU(0.2), nn.Linear(6, 1)).double()
    real, fake = dm.tensor(_x(5, 2, seed=13)), dm.tensor(_x(5, 2, seed=14))
    _penalty_loss(critic, real, fake).backward()
    w = critic[0].weight
    got = w.grad.numpy().copy()
    eps, want = 1e-6, np.zeros_like(got)
    for i in np.ndindex(got.shape):
        with dm.no_grad():
            base = w.detach().numpy().copy()
            plus, minus = base.copy(), base.copy()
            plus[i] += eps
            minus[i] -= eps
            w.copy_(dm.tensor(plus))
        lp = _penalty_loss(critic, real, fake).item()
        with dm.no_grad():
            w.copy_(dm.tensor(minus))
        lm = _penalty_loss(critic, real, fake).item()
        with dm.no_grad():
            w.copy_(dm.tensor(base))
        want[i] = (lp - lm) / (2 * eps)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_backward_with_create_graph_leaves_differentiable_grads() -> None:
    x = dm.tensor([1.0, 2.0], dtype=dm.float64, requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    assert x.grad is not None and x.grad.requires_grad
    np.testing.assert_allclose(x.grad.detach().numpy(), [3.0, 12.0])
    (h,) = dm.autograd.grad(x.grad.sum(), x)
    np.testing.assert_allclose(h.numpy(), [6.0, 12.0])


def test_autograd_backward_inputs_and_create_graph() -> None:
    a = dm.tensor([1.0, 2.0], dtype=dm.float64, requires_grad=True)
    b = dm.tensor([3.0], dtype=dm.float64, requires_grad=True)
    dm.autograd.backward((a * a * b).sum(), inputs=[a])
    assert b.grad is None
    np.testing.assert_allclose(a.grad.numpy(), [6.0, 12.0])
    dm.autograd.backward((a * a * b).sum(), inputs=[a])  # accumulates
    np.testing.assert_allclose(a.grad.numpy(), [12.0, 24.0])
    c = dm.tensor([2.0], dtype=dm.float64, requires_grad=True)
    dm.autograd.backward((c**3).sum(), create_graph=True)
    assert c.grad.requires_grad
    # Tensor.backward(inputs=...) too, a non-leaf included.
    h = a * 2
    (h * h * b).sum().backward(inputs=[h, b])
    np.testing.assert_allclose(h.grad.numpy(), [12.0, 24.0])
    np.testing.assert_allclose(b.grad.numpy(), [20.0])
    np.testing.assert_allclose(a.grad.numpy(), [12.0, 24.0])  # untouched


def test_custom_function_with_differentiable_backward() -> None:
    class XExp(dm.autograd.Function):
        """``x * exp(x)``, whose backward is written in differentiable ops."""

        @staticmethod
        def forward(ctx, x):  # type: ignore[no-untyped-def]
            ctx.save_for_backward(x)
            return x * x.exp()

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            (x,) = ctx.saved_tensors
            return g * (x + 1) * x.exp()

    xv = np.array([0.5, -2.0])
    x = dm.tensor(xv, dtype=dm.float64, requires_grad=True)
    (g,) = dm.autograd.grad(XExp.apply(x).sum(), x, create_graph=True)
    (h,) = dm.autograd.grad(g.sum(), x, create_graph=True)
    (h3,) = dm.autograd.grad(h.sum(), x)
    np.testing.assert_allclose(h.detach().numpy(), (xv + 2) * np.exp(xv))
    np.testing.assert_allclose(h3.numpy(), (xv + 3) * np.exp(xv))


def test_in_place_write_into_a_tensor_with_history_is_twice_differentiable() -> None:
    x = dm.randn(4, 3, dtype=dm.float64, requires_grad=True)
    y = x * 2
    y[0] = y[1] * 3  # an in-place write into a tensor with history (SetItemBackward)
    (g,) = dm.autograd.grad((y * y).sum(), x, create_graph=True)
    xv = x.detach().numpy()
    # y0 = 6 x1, y1..3 = 2 x1..3: d/dx1 = 72 x1 + 8 x1, d/dx0 = 0, the rest 8 x.
    want = 8 * xv
    want[0] = 0
    want[1] = 80 * xv[1]
    np.testing.assert_allclose(g.detach().numpy(), want, rtol=1e-12)
    (g2,) = dm.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(g2.numpy(), [[0.0] * 3, [80.0] * 3, [8.0] * 3, [8.0] * 3])


def _recurrent(make: Callable[[], nn.Module]) -> Fn:
    dm.manual_seed(7)
    layer = make().double()

    def run(t: dm.Tensor) -> dm.Tensor:
        out = layer(t)
        first = out[0] if isinstance(out, tuple) else out
        return first**2

    return run


RECURRENT: dict[str, Fn] = {
    "lstm": _recurrent(lambda: nn.LSTM(2, 3)),
    "gru_bidirectional": _recurrent(lambda: nn.GRU(2, 3, bidirectional=True)),
    "rnn_tanh_two_layers": _recurrent(lambda: nn.RNN(2, 3, num_layers=2)),
    "rnn_relu_no_bias": _recurrent(lambda: nn.RNN(2, 3, nonlinearity="relu", bias=False)),
    "lstm_cell": _recurrent(lambda: nn.LSTMCell(2, 3)),
    "gru_cell": _recurrent(lambda: nn.GRUCell(2, 3)),
}


@pytest.mark.parametrize("name", sorted(RECURRENT))
def test_recurrent_second_derivative(name: str) -> None:
    shape = (4, 2) if name.endswith("cell") else (3, 2, 2)
    check_second_order(RECURRENT[name], _x(*shape, seed=62))


def test_recurrent_weights_get_second_order_gradients() -> None:
    dm.manual_seed(8)
    lstm = nn.LSTM(2, 3).double()
    x = dm.tensor(_x(3, 1, 2, seed=63), requires_grad=True)
    (g,) = dm.autograd.grad(lstm(x)[0].sum(), x, create_graph=True)
    (g.norm() ** 2).backward()
    w = lstm.weight_hh_l0
    got = w.grad.numpy().copy()
    base = w.detach().numpy().copy()
    eps = 1e-6
    for i in [(0, 0), (5, 1), (11, 2)]:
        vals = []
        for sign in (1, -1):
            moved = base.copy()
            moved[i] += sign * eps
            with dm.no_grad():
                w.copy_(dm.tensor(moved))
            xi = dm.tensor(x.detach().numpy(), requires_grad=True)
            (gi,) = dm.autograd.grad(lstm(xi)[0].sum(), xi)
            vals.append(float((gi * gi).sum().item()))
        with dm.no_grad():
            w.copy_(dm.tensor(base))
        np.testing.assert_allclose(got[i], (vals[0] - vals[1]) / (2 * eps), rtol=1e-5, atol=1e-8)


POOLS: dict[str, Fn] = {
    "max_pool": lambda t: F.max_pool2d(t * t, 2) ** 2,
    "max_pool_padding_stride": lambda t: F.max_pool2d(t**3, 3, stride=2, padding=1) ** 2,
    "avg_pool": lambda t: F.avg_pool2d(t * t, 2) ** 2,
    "avg_pool_no_pad_count_ceil": lambda t: (
        F.avg_pool2d(t**3, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False) ** 2
    ),
    "adaptive_avg_pool": lambda t: F.adaptive_avg_pool2d(t * t, (2, 3)) ** 2,
}


@pytest.mark.parametrize("name", sorted(POOLS))
def test_pooling_second_derivative(name: str) -> None:
    check_second_order(POOLS[name], _x(2, 2, 5, 6, seed=61))


def test_first_order_gradients_do_not_keep_a_graph() -> None:
    x = dm.tensor([1.0, 2.0], requires_grad=True)
    (g,) = dm.autograd.grad((dm.tanh(x) * x).sum(), x)
    assert not g.requires_grad and g.grad_fn is None
    y = (dm.exp(x) @ x).sum()
    y.backward()
    assert not x.grad.requires_grad


def test_custom_function_saving_an_output_is_twice_differentiable_an_intermediate_refused() -> None:
    class Exp(dm.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[no-untyped-def]
            y = x.exp()
            ctx.save_for_backward(y)  # an output: differentiable through the Function itself
            return y

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            (y,) = ctx.saved_tensors
            return g * y

    x = dm.tensor([0.5], dtype=dm.float64, requires_grad=True)
    (g,) = dm.autograd.grad(Exp.apply(x).sum(), x)  # first order: fine
    np.testing.assert_allclose(g.numpy(), np.exp([0.5]))
    (g,) = dm.autograd.grad(Exp.apply(x).sum(), x, create_graph=True)  # as PyTorch's
    (gg,) = dm.autograd.grad(g.sum(), x)
    np.testing.assert_allclose([g.item(), gg.item()], np.exp([0.5, 0.5]))

    class Softsign(dm.autograd.Function):
        @staticmethod
        def forward(ctx, x):  # type: ignore[no-untyped-def]
            d = 1 + x.abs()
            ctx.save_for_backward(d)  # an intermediate: refused too
            return x / d

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            (d,) = ctx.saved_tensors
            return g / (d * d)

    with pytest.raises(dm.AutogradError, match="SoftsignBackward"):
        dm.autograd.grad(Softsign.apply(x).sum(), x, create_graph=True)
    (g,) = dm.autograd.grad(Softsign.apply(x).sum(), x)
    np.testing.assert_allclose(g.numpy(), [1 / 1.5**2])


def _seeded(f: Fn) -> Fn:
    """``f`` with the RNG reset first, so that dropout draws the same mask every call."""

    def g(t: dm.Tensor) -> dm.Tensor:
        dm.manual_seed(5)
        return f(t)

    return g


FUSED: dict[str, Fn] = {
    "layer_norm": lambda t: F.layer_norm(t, (4,)) * t,
    "layer_norm_affine": lambda t: (
        F.layer_norm(t, (4,), dm.tensor(_x(4, seed=20)), dm.tensor(_x(4, seed=21))) ** 2
    ),
    "batch_norm_train": lambda t: (
        F.batch_norm(
            t, None, None, dm.tensor(_x(4, seed=22)), dm.tensor(_x(4, seed=23)), training=True
        )
        ** 2
    ),
    "batch_norm_eval": lambda t: (
        F.batch_norm(
            t,
            dm.tensor(_x(4, seed=24), dtype=dm.float64),
            dm.tensor(_x(4, low=0.5, high=1.5, seed=25), dtype=dm.float64),
            training=False,
        )
        * t
    ),
    "dropout": _seeded(lambda t: F.dropout(t, 0.3, training=True) * t),
}


@pytest.mark.parametrize("name", sorted(FUSED))
def test_fused_layer_second_derivative(name: str) -> None:
    check_second_order(FUSED[name], _x(3, 4, seed=26))


def test_fused_layer_parameters_get_second_order_gradients() -> None:
    x0 = dm.tensor(_x(3, 4, seed=27))
    check_second_order(lambda w: F.layer_norm(x0 * w, (4,), w) ** 2, _x(4, seed=28))
    check_second_order(
        lambda w: F.batch_norm(x0, None, None, w, w * 2, training=True) ** 2, _x(4, seed=29)
    )


ATTENTION: dict[str, Fn] = {
    "plain": lambda t: F.scaled_dot_product_attention(t, t * 0.5, t**2),
    "causal": lambda t: F.scaled_dot_product_attention(t, t.flip(-2), t, is_causal=True),
    "bool_mask": lambda t: F.scaled_dot_product_attention(
        t,
        t,
        t,
        attn_mask=dm.tensor([[True, False, True], [True, True, False], [False, True, True]]),
    ),
    "float_mask_scale": lambda t: F.scaled_dot_product_attention(
        t, t, t, attn_mask=dm.tensor(_x(3, 3, seed=30)), scale=0.3
    ),
    "gqa": lambda t: F.scaled_dot_product_attention(t, t[:, :1], t[:, :1] * 2, enable_gqa=True),
}


@pytest.mark.parametrize("name", sorted(ATTENTION))
def test_attention_second_derivative(name: str) -> None:
    check_second_order(ATTENTION[name], _x(1, 2, 3, 2, seed=31))


_TARGET = dm.tensor([2, 0, 3])
_WEIGHT = dm.tensor([0.5, 1.0, 2.0, 1.5], dtype=dm.float64)

LOSSES: dict[str, Fn] = {
    "cross_entropy": lambda t: F.cross_entropy(t, _TARGET),
    "cross_entropy_sum_weights": lambda t: F.cross_entropy(
        t, _TARGET, weight=_WEIGHT, reduction="sum"
    ),
    "cross_entropy_none_smoothing": lambda t: F.cross_entropy(
        t, _TARGET, reduction="none", label_smoothing=0.2
    ),
    "cross_entropy_ignore_weights_smoothing": lambda t: F.cross_entropy(
        t, dm.tensor([2, -100, 1]), weight=_WEIGHT, label_smoothing=0.1
    ),
    "nll_after_log_softmax": lambda t: F.nll_loss(F.log_softmax(t, dim=1), _TARGET),
    "nll_weights_ignore": lambda t: F.nll_loss(
        F.log_softmax(t * t, dim=1), dm.tensor([1, 3, 0]), weight=_WEIGHT, ignore_index=3
    ),
}


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_classification_loss_second_derivative(name: str) -> None:
    check_second_order(LOSSES[name], _x(3, 4, seed=40))


def test_maml_inner_step_through_cross_entropy() -> None:
    """One MAML step: the outer loss after an inner SGD step, differentiated through it."""
    x, y = dm.tensor(_x(6, 3, seed=41)), dm.tensor([0, 1, 2, 1, 0, 2])

    def outer(wv: np.ndarray, create_graph: bool = True) -> tuple[dm.Tensor, dm.Tensor]:
        w = dm.tensor(wv, requires_grad=True)
        inner = F.cross_entropy(x @ w, y)
        (g,) = dm.autograd.grad(inner, w, create_graph=create_graph)
        fast = w - 0.5 * g
        return F.cross_entropy(x @ fast, y), w

    w0 = _x(3, 3, seed=42)
    loss, w = outer(w0)
    loss.backward()
    got = w.grad.numpy()
    eps, want = 1e-6, np.zeros_like(w0)
    for i in np.ndindex(w0.shape):
        p, m = w0.copy(), w0.copy()
        p[i] += eps
        m[i] -= eps
        want[i] = (outer(p, False)[0].item() - outer(m, False)[0].item()) / (2 * eps)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)


_W = _x(4, 2, 3, 3, seed=50)  # [out, in / groups, kh, kw] for groups=1 (in=2) or 2 (in=4)

CONVS: dict[str, Fn] = {
    "conv": lambda t: dm.tanh(F.conv2d(t, dm.tensor(_W))),
    "conv_stride_pad": lambda t: F.conv2d(t, dm.tensor(_W), stride=2, padding=1) ** 2,
    "conv_dilation": lambda t: F.conv2d(t, dm.tensor(_W), dilation=2, padding=2) ** 2,
    "conv_weight": lambda w: dm.tanh(F.conv2d(dm.tensor(_x(2, 2, 5, 6, seed=51)), w, padding=1)),
    "conv_transpose": lambda t: dm.tanh(
        F.conv_transpose2d(t, dm.tensor(_x(2, 3, 3, 3, seed=52)), stride=2, padding=1)
    ),
    "conv_transpose_weight": lambda w: (
        F.conv_transpose2d(dm.tensor(_x(2, 2, 5, 6, seed=53)), w, stride=2, output_padding=1) ** 2
    ),
}
_CONV_X = {
    "conv_weight": _W,
    "conv_transpose_weight": _x(2, 3, 3, 3, seed=54),
}


@pytest.mark.parametrize("name", sorted(CONVS))
def test_convolution_second_derivative(name: str) -> None:
    x0 = _CONV_X.get(name, _x(2, 2, 5, 6, seed=55))
    check_second_order(CONVS[name], x0)


def test_grouped_convolution_second_derivative() -> None:
    w = dm.tensor(_x(4, 2, 3, 3, seed=56))
    check_second_order(lambda t: F.conv2d(t, w, groups=2, stride=(1, 2)) ** 2, _x(1, 4, 5, 5))
    x = dm.tensor(_x(1, 4, 5, 5, seed=57))
    check_second_order(lambda v: dm.tanh(F.conv2d(x, v, groups=2)), _x(4, 2, 3, 3, seed=58))


def test_gradient_penalty_on_a_conv_critic() -> None:
    dm.manual_seed(2)
    critic = nn.Sequential(
        nn.Conv2d(1, 3, 3, stride=2, padding=1),
        nn.LeakyReLU(0.2),
        nn.Flatten(),
        nn.Linear(3 * 3 * 3, 1),
    ).double()
    real, fake = dm.tensor(_x(4, 1, 6, 6, seed=59)), dm.tensor(_x(4, 1, 6, 6, seed=60))

    def loss() -> dm.Tensor:
        alpha = dm.tensor(np.linspace(0.2, 0.8, 4)[:, None, None, None])
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (g,) = dm.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
        return ((g.reshape(4, -1).norm(2, dim=1) - 1) ** 2).mean()

    loss().backward()
    w = critic[0].weight
    got = w.grad.numpy().copy()
    eps, want = 1e-6, np.zeros_like(got)
    base = w.detach().numpy().copy()
    for i in [(0, 0, 0, 0), (1, 0, 1, 2), (2, 0, 2, 1)]:
        for sign in (1, -1):
            moved = base.copy()
            moved[i] += sign * eps
            with dm.no_grad():
                w.copy_(dm.tensor(moved))
            want[i] += sign * loss().item() / (2 * eps)
        with dm.no_grad():
            w.copy_(dm.tensor(base))
        np.testing.assert_allclose(got[i], want[i], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(
    "f",
    [
        dm.relu,
        lambda x: F.relu(x * 1.0, inplace=True),
        lambda x: F.leaky_relu(x, 0.2),
        F.hardtanh,
        F.relu6,
        lambda x: x.clamp(-0.5, 1.0),
    ],
    ids=["relu", "relu_inplace", "leaky_relu", "hardtanh", "relu6", "clamp"],
)
def test_piecewise_linear_gradients_stay_differentiable_with_zero_second_derivative(f: Fn) -> None:
    # As PyTorch's threshold_backward: the gradient of a ReLU is a function of x (derivative
    # zero), so differentiating it again gives zeros rather than "does not require grad".
    x = dm.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    (g,) = dm.autograd.grad(f(x).sum(), x, create_graph=True)
    assert g.requires_grad
    g.sum().backward()
    assert x.grad is not None and x.grad.tolist() == [0.0, 0.0, 0.0]
    h = dm.autograd.functional.hessian(lambda t: f(t).sum(), dm.tensor([-1.0, 0.5, 2.0]))
    assert h.shape == (3, 3) and not h.abs().sum().item()


def test_gradient_penalty_reaches_the_input_of_a_relu_critic() -> None:
    # The penalty's gradient with respect to the samples is zero for a ReLU net, and present.
    dm.manual_seed(0)
    critic = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
    x = dm.randn(2, 3, requires_grad=True)
    (g,) = dm.autograd.grad(critic(x).sum(), x, create_graph=True)
    ((g.norm(2, dim=1) - 1) ** 2).mean().backward()
    assert x.grad is not None and x.grad.abs().sum().item() == 0.0
    assert critic[0].weight.grad is not None and critic[0].weight.grad.abs().sum().item() > 0
