"""Second-order autograd fuzz (session 28): ``dm.autograd.gradgradcheck`` over ops that
``test_higher_order_grad.py`` does not cover, WGAN-GP critic gradients and a Hessian against
values PyTorch 2.x gave for the same programs (pasted; the suite has no torch), nested
``dm.func`` transforms that must not leave a graph on their results, and the known wrong
double backwards (strict xfails naming the code to fix)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import nn

Fn = Callable[..., dm.Tensor]


def _r(seed: int, *shape: int, lo: float = -1.5, hi: float = 1.5) -> np.ndarray:
    return np.random.default_rng(seed).uniform(lo, hi, shape)


def _t(a: np.ndarray, requires_grad: bool = False) -> dm.Tensor:
    return dm.tensor(a, dtype=dm.float64, requires_grad=requires_grad)


def _idx(a: list) -> dm.Tensor:  # type: ignore[type-arg]
    return dm.tensor(np.asarray(a, dtype=np.int64))


_E3 = dm.eye(3, dtype=dm.float64)

# name -> (function of the differentiated tensors, their shapes, sampling range)
CASES: dict[str, tuple[Fn, list[tuple[int, ...]], tuple[float, float]]] = {
    "mish": (F.mish, [(3, 4)], (-1.5, 1.5)),
    "selu": (F.selu, [(3, 4)], (-1.5, 1.5)),
    "celu": (lambda x: F.celu(x, alpha=1.3), [(3, 4)], (-1.5, 1.5)),
    "hardswish": (F.hardswish, [(3, 4)], (-1.5, 1.5)),
    "logsigmoid": (F.logsigmoid, [(3, 4)], (-1.5, 1.5)),
    "softsign": (F.softsign, [(3, 4)], (-1.5, 1.5)),
    "softplus_threshold": (lambda x: F.softplus(x, beta=2.0, threshold=1.0), [(3, 4)], (-1, 1)),
    "atan2_broadcast": (lambda a, b: dm.atan2(a - 1, b), [(2, 3, 4), (3, 1)], (0.3, 1.8)),
    "pow_tensor_broadcast": (lambda a, b: b**a, [(2, 3, 4), (3, 1)], (0.3, 1.8)),
    "xlogy": (lambda a, b: dm.xlogy(a, b), [(2, 3), (3,)], (0.3, 1.8)),
    "hypot": (lambda a, b: dm.hypot(a, b), [(2, 3), (3,)], (0.3, 1.8)),
    "clamp_tensor_bounds": (
        lambda x: dm.clamp(x, min=x * 0 - 0.5, max=x * x) * x,
        [(3, 4)],
        (-1, 1),
    ),
    "prod_with_zero": (
        lambda x: (x * _t(np.array([[1.0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 1, 1]]))).prod(1),
        [(3, 4)],
        (-1.5, 1.5),
    ),
    "cumprod_with_zero": (
        lambda x: (x * _t(np.array([[1.0, 0, 1, 1], [1, 1, 1, 1], [0, 1, 0, 1]]))).cumprod(1),
        [(3, 4)],
        (-1.5, 1.5),
    ),
    "norm_p1": (lambda x: x.norm(1, dim=1) * x.sum(1), [(3, 4)], (-1.5, 1.5)),
    "norm_inf": (lambda x: x.norm(float("inf"), dim=1) ** 2, [(3, 4)], (-1.5, 1.5)),
    "norm_p3": (lambda x: x.norm(3, dim=0), [(3, 4)], (-1.5, 1.5)),
    "std_mean": (lambda x: dm.std_mean(x, 1)[0] + dm.std_mean(x, 1)[1] ** 2, [(3, 4)], (-1, 1)),
    "logcumsumexp": (lambda x: x.logcumsumexp(1), [(3, 4)], (-1.5, 1.5)),
    "cdist": (lambda x: dm.cdist(x, x * 0.5 + 0.1), [(3, 4)], (-1.5, 1.5)),
    "einsum_batched": (
        lambda a, b: dm.einsum("bij,bjk->bik", a, b) ** 2,
        [(2, 3, 4), (2, 4, 2)],
        (-1.5, 1.5),
    ),
    "bilinear": (
        lambda a, b: F.bilinear(a, a[:, :3], b, b[:, 0, 0]) ** 2,
        [(3, 4), (2, 4, 3)],
        (-1.5, 1.5),
    ),
    "huber": (lambda a, b: F.huber_loss(a * a, b, delta=0.7), [(3, 4), (3, 4)], (-1.5, 1.5)),
    "smooth_l1": (lambda a, b: F.smooth_l1_loss(a, b, beta=0.5), [(3, 4), (3, 4)], (-1.5, 1.5)),
    "bce": (
        lambda a, b: F.binary_cross_entropy(dm.sigmoid(a), dm.sigmoid(b)),
        [(3, 4), (3, 4)],
        (-1.5, 1.5),
    ),
    "bce_with_logits_pos_weight": (
        lambda a, b: F.binary_cross_entropy_with_logits(
            a, dm.sigmoid(b), pos_weight=_t(np.array([0.5, 1, 2, 1.5]))
        ),
        [(3, 4), (3, 4)],
        (-1.5, 1.5),
    ),
    "kl_div_log_target": (
        lambda a, b: F.kl_div(a.log_softmax(1), b.log_softmax(1), reduction="sum", log_target=True),
        [(3, 4), (3, 4)],
        (-1.5, 1.5),
    ),
    "cross_entropy_probs_smoothing": (
        lambda a, b: F.cross_entropy(
            a, b.softmax(1), label_smoothing=0.1, weight=_t(np.array([0.5, 1, 2, 1.5]))
        ),
        [(3, 4), (3, 4)],
        (-1.5, 1.5),
    ),
    "cosine_similarity": (
        lambda a, b: F.cosine_similarity(a, b[:1], dim=1),
        [(3, 4), (2, 4)],
        (-1.5, 1.5),
    ),
    "group_norm": (lambda x, w: F.group_norm(x, 2, w, w * 0.3) ** 2, [(2, 4, 3), (4,)], (-1, 1)),
    "instance_norm": (
        lambda x, w: F.instance_norm(x, weight=w, bias=x[0, :, 0]) ** 2,
        [(2, 3, 4), (3,)],
        (-1.5, 1.5),
    ),
    "conv1d_stride_dilation": (
        lambda x, w: F.conv1d(x, w, stride=2, dilation=2, padding=2) ** 2,
        [(1, 2, 7), (3, 2, 2)],
        (-1.5, 1.5),
    ),
    "conv_transpose2d_groups": (
        lambda x, w: F.conv_transpose2d(x, w, groups=2) ** 2,
        [(1, 4, 2, 2), (4, 1, 2, 2)],
        (-1.5, 1.5),
    ),
    "interpolate_bicubic": (
        lambda x: F.interpolate(x, size=(5, 4), mode="bicubic") ** 2,
        [(1, 1, 3, 3)],
        (-1.5, 1.5),
    ),
    "embedding": (lambda w: F.embedding(_idx([[0, 2], [2, 1]]), w) ** 3, [(3, 4)], (-1.5, 1.5)),
    "scatter_reduce_prod": (
        lambda x: x.scatter_reduce(1, _idx([[0, 0], [2, 1], [1, 1]]), x[:, 2:] ** 2, "prod") ** 2,
        [(3, 4)],
        (-1.5, 1.5),
    ),
    "pad_circular": (lambda x: F.pad(x[None], (2, 1), mode="circular") ** 2, [(3, 4)], (-1, 1)),
    "pad_reflect_2d": (
        lambda x: F.pad(x[None, None], (1, 1, 2, 1), mode="reflect") ** 2,
        [(3, 4)],
        (-1.5, 1.5),
    ),
    "inplace_sigmoid_on_view": (lambda x: _inplace_chain(x), [(3, 4)], (-1.5, 1.5)),
    "solve": (lambda a: dm.linalg.solve(a[:, :3] + 3 * _E3, a[:, 3:]), [(3, 5)], (-1.5, 1.5)),
    "cholesky": (lambda a: dm.linalg.cholesky(a @ a.T + _E3), [(3, 3)], (-1.5, 1.5)),
    "eigvalsh": (lambda a: dm.linalg.eigvalsh(a + a.T), [(3, 3)], (-1.5, 1.5)),
    "det_batched": (lambda a: dm.linalg.det(a), [(2, 3, 3)], (-1.5, 1.5)),
    "slogdet": (lambda a: dm.linalg.slogdet(a + 3 * _E3).logabsdet, [(2, 3, 3)], (-1, 1)),
    "logdet": (lambda a: dm.logdet(a @ a.mT + _E3), [(2, 3, 3)], (-1.5, 1.5)),
}


def _inplace_chain(x: dm.Tensor) -> dm.Tensor:
    y = x * 1.0
    y[:, 1:].mul_(x[:, :3])
    y.sigmoid_()
    return y**2


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradgradcheck(name: str) -> None:
    f, shapes, (lo, hi) = CASES[name]
    inputs = tuple(_t(_r(100 + k, *s, lo=lo, hi=hi), True) for k, s in enumerate(shapes))
    with dm.no_grad():
        out = f(*[t.detach() for t in inputs])
    grad_out = _t(_r(200, *tuple(out.shape)), True)
    assert dm.autograd.gradgradcheck(f, inputs, (grad_out,))


def _wgan_critic_grads(kind: str) -> list[np.ndarray]:
    """One WGAN-GP critic step (gradient penalty with create_graph, then backward): the
    parameters' gradients and the mixed samples' gradient."""
    if kind == "mlp":
        critic = nn.Sequential(
            nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1)
        )
        real, fake = _t(_r(50, 6, 3)), _t(_r(51, 6, 3))
    elif kind == "conv":
        critic = nn.Sequential(
            nn.Conv2d(2, 3, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(3, 4, 3, padding=1),
            nn.LayerNorm([4, 3, 3]),
            nn.ELU(),
            nn.AvgPool2d(3),
            nn.Flatten(),
            nn.Linear(4, 1),
        )
        real, fake = _t(_r(50, 3, 2, 6, 6)), _t(_r(51, 3, 2, 6, 6))
    else:
        critic = nn.Sequential(
            nn.Conv2d(2, 4, 3, padding=1),
            nn.GroupNorm(2, 4),
            nn.GELU(approximate="tanh"),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 4, 3),
            nn.Softplus(),
            nn.Flatten(),
            nn.Linear(4, 1),
        )
        real, fake = _t(_r(50, 3, 2, 6, 6)), _t(_r(51, 3, 2, 6, 6))
    critic = critic.double()
    params = list(critic.parameters())
    with dm.no_grad():
        for i, p in enumerate(params):
            p.copy_(_t(_r(70 + i, *tuple(p.shape), lo=-0.6, hi=0.6)))
    alpha = _t(_r(52, real.shape[0], *([1] * (real.dim() - 1)), lo=0, hi=1))
    mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (g,) = dm.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    penalty = (g.reshape(g.shape[0], -1).norm(2, dim=1) - 1).pow(2).mean()
    (critic(fake).mean() - critic(real).mean() + 10 * penalty).backward()
    return [p.grad.numpy() for p in params] + [mixed.grad.numpy()]


# PyTorch's gradients for the same programs, each projected on a fixed random direction
# (np.random.default_rng(1000 + k).standard_normal(shape)) to keep the constants short.
_WGAN_TORCH = {
    "mlp": [-1.16831950287223, 0.45146137637513, 0.54990541809993, -0.03698858540243,
            -3.05722961214451, 0.0, 0.85924569615714],
    "conv": [-1.57066898313115, 0.04273708074628, 1.28362700329123, -0.17181127655034,
             -1.1723927836107, 0.31133978598974, 0.53807409287046, 0.0, -0.01443983470358],
    "conv_groupnorm_maxpool": [1.38339070303595, -1.16106666780344, -0.97072632204072,
                               3.28765267349123, -1.45821899651727, 0.43809701304505,
                               -8.37055437274377, 0.0, -0.30219536897421],
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(_WGAN_TORCH))
def test_wgan_gradient_penalty_matches_pytorch(kind: str) -> None:
    grads = _wgan_critic_grads("conv2" if kind == "conv_groupnorm_maxpool" else kind)
    got = [
        float((np.random.default_rng(1000 + k).standard_normal(g.shape) * g).sum())
        for k, g in enumerate(grads)
    ]
    np.testing.assert_allclose(got, _WGAN_TORCH[kind], rtol=1e-9, atol=1e-12)


def test_functional_hessian_matches_pytorch() -> None:
    def f(x: dm.Tensor) -> dm.Tensor:
        return (dm.sin(x) * x.pow(3)).sum() + (x[0] * x[1]).exp() + dm.logsumexp(x * x, 0)

    x = _t(np.array([0.3, -0.7, 1.1]))
    want = [
        [1.8500801484893685, 0.6809466408431202, -0.13102469225568106],
        [0.6809466408431202, 5.7282202904369335, 0.456087034451701],
        [-0.13102469225568106, 0.45608703445170107, 10.289135949341196],
    ]
    h = dm.autograd.functional.hessian(f, x)
    np.testing.assert_allclose(h.numpy(), want, rtol=1e-12)
    v = _t(np.array([0.5, -1.0, 2.0]))
    _, hv = dm.autograd.functional.hvp(f, x, v)
    np.testing.assert_allclose(hv.numpy(), np.asarray(want) @ v.numpy(), rtol=1e-12)
    # Hessian rows in one call: is_grads_batched over the identity, then a third derivative.
    xr = _t(x.numpy(), True)
    (g,) = dm.autograd.grad(f(xr), xr, create_graph=True)
    (rows,) = dm.autograd.grad(g, xr, _E3, is_grads_batched=True, create_graph=True)
    np.testing.assert_allclose(rows.detach().numpy(), want, rtol=1e-12)
    (third,) = dm.autograd.grad(rows.trace(), xr)
    third_fd = np.zeros(3)
    eps = 1e-6
    for i in range(3):
        xp, xm = x.numpy().copy(), x.numpy().copy()
        xp[i] += eps
        xm[i] -= eps
        tp = np.trace(dm.autograd.functional.hessian(f, _t(xp)).numpy())
        tm = np.trace(dm.autograd.functional.hessian(f, _t(xm)).numpy())
        third_fd[i] = (tp - tm) / (2 * eps)
    np.testing.assert_allclose(third.numpy(), third_fd, rtol=1e-6)


def test_materialized_zero_gradients_take_part_in_the_graph() -> None:
    x, y = _t(np.array([0.5, -1.0]), True), _t(np.array([2.0]), True)
    gx, gy = dm.autograd.grad((x**3).sum(), (x, y), materialize_grads=True, create_graph=True)
    assert gy.requires_grad and gy.tolist() == [0.0]
    hx, hy = dm.autograd.grad(gx.sum() + gy.sum(), (x, y), materialize_grads=True)
    np.testing.assert_allclose(hx.numpy(), [3.0, -6.0])
    assert hy.tolist() == [0.0]


def _inner_transforms() -> dict[str, Callable[[dm.Tensor, dm.Tensor], dm.Tensor]]:
    """Functions of ``w`` that differentiate, with respect to ``x`` (another argument, not
    requiring grad), a function of both."""
    func = dm.func

    def f(w: dm.Tensor, x: dm.Tensor) -> dm.Tensor:
        return dm.sin(w * x) * x

    def ones(x: dm.Tensor) -> dm.Tensor:
        return dm.ones_like(x)

    return {
        "grad": lambda w, x: func.grad(lambda w, x: f(w, x).sum(), argnums=1)(w, x),
        "jacrev": lambda w, x: func.jacrev(f, argnums=1)(w, x).sum(0),
        "jacfwd": lambda w, x: func.jacfwd(f, argnums=1)(w, x).sum(0),
        "jvp": lambda w, x: func.jvp(lambda x: f(w, x), (x,), (ones(x),))[1],
        "vjp": lambda w, x: func.vjp(lambda x: f(w, x), x)[1](ones(x))[0],
        "linearize": lambda w, x: func.linearize(lambda x: f(w, x), x)[1](ones(x)),
    }


@pytest.mark.parametrize("inner", sorted(_inner_transforms()))
def test_nested_transform_results_keep_no_graph(inner: str) -> None:
    # grad over a transform taken with respect to another argument: the inner transform's own
    # input copies must not count as leaves of the outer one (PyTorch's levels end with the
    # transform), so a top-level result has no graph; under an outer autograd it keeps one.
    h = _inner_transforms()[inner]
    x = _t(np.array([0.3, -0.7, 1.1]))
    w0 = np.array([0.5, 1.5, -2.0])
    want = [0.34928779, 0.16412562, -3.16156824]  # PyTorch (torch.func.grad over each)
    g = dm.func.grad(lambda w: h(w, x).pow(2).sum())(_t(w0))
    np.testing.assert_allclose(g.numpy(), want, rtol=1e-7)
    assert not g.requires_grad and g.grad_fn is None
    w = _t(w0, True)
    g = dm.func.grad(lambda v: h(v, x).pow(2).sum())(w)
    assert g.requires_grad
    (gg,) = dm.autograd.grad(g.sum(), w)
    assert np.all(np.isfinite(gg.numpy()))


def test_vjp_and_linearize_functions_can_be_called_again() -> None:
    x = _t(np.array([0.3, -0.7, 1.1]))
    w = _t(np.array([0.5, 1.5, -2.0]))
    _, vjp_fn = dm.func.vjp(lambda x: dm.sin(w * x) * x, x)
    a, b = vjp_fn(dm.ones_like(x))[0], vjp_fn(dm.ones_like(x) * 2)[0]
    np.testing.assert_allclose(a.numpy(), [0.29775379, -1.38987283, 0.48620605], rtol=1e-7)
    np.testing.assert_allclose(b.numpy(), 2 * a.numpy(), rtol=1e-12)
    _, jvp_fn = dm.func.linearize(lambda x: dm.sin(w * x) * x, x)
    np.testing.assert_allclose(jvp_fn(dm.ones_like(x)).numpy(), a.numpy(), rtol=1e-12)
    np.testing.assert_allclose(jvp_fn(dm.ones_like(x) * 2).numpy(), b.numpy(), rtol=1e-12)


# ---- known wrong or missing double backwards -------------------------------------------------

_X = _r(0, 3, 4)
_W = _r(1, 4)


def _affine_norm(kind: str, x: dm.Tensor, w: dm.Tensor) -> dm.Tensor:
    """A normalisation whose bias is computed from its weight (one input an ancestor of
    another)."""
    if kind == "layer_norm":
        return F.layer_norm(x, (4,), w, w * 0.5)
    zeros, ones = _t(np.zeros(4)), _t(np.ones(4))
    return F.batch_norm(x, zeros, ones, w, w * 0.5, training=kind == "batch_norm_train")


@pytest.mark.parametrize("kind", ["layer_norm", "batch_norm_train", "batch_norm_eval"])
def test_norm_with_bias_computed_from_weight_under_create_graph(kind: str) -> None:
    grads = []
    for create_graph in (False, True):
        x, w = _t(_X, True), _t(_W, True)
        out = _affine_norm(kind, x, w) ** 2
        (g,) = dm.autograd.grad(out.sum(), w, create_graph=create_graph)
        grads.append(g.detach().numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-10)


def test_det_second_derivative() -> None:
    a = _t(_r(3, 3, 3), True)
    # d²det/dA² contracted: grad of sum(grad det) — for 3x3, d det/dA = cof(A), and
    # d(sum cof(A))/dA_ij is the sum of signed 2x2 minors, checked by central differences.
    (g,) = dm.autograd.grad(dm.linalg.det(a + 2 * _E3), a, create_graph=True)
    (h,) = dm.autograd.grad(g.sum(), a)

    def cof_sum(m: np.ndarray) -> float:
        return float((np.linalg.det(m) * np.linalg.inv(m).T).sum())

    base, eps, want = a.detach().numpy() + 2 * np.eye(3), 1e-6, np.zeros((3, 3))
    for i in np.ndindex(3, 3):
        p, m = base.copy(), base.copy()
        p[i] += eps
        m[i] -= eps
        want[i] = (cof_sum(p) - cof_sum(m)) / (2 * eps)
    np.testing.assert_allclose(h.numpy(), want, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    ("check", "flags", "message"),
    [
        ("gradgradcheck", {"check_rev_over_rev": False}, "check_fwd_over_rev or check_rev_over"),
        ("gradcheck", {"check_backward_ad": False}, "check_forward_ad or check_backward_ad"),
        (
            "gradcheck",
            {"check_batched_grad": True, "check_backward_ad": False, "check_forward_ad": True},
            "check_batched_grad=True requires check_backward_ad",
        ),
        (
            "gradcheck",
            {"check_batched_forward_grad": True},
            "check_batched_forward_grad=True requires check_forward_ad",
        ),
    ],
)
def test_checks_that_would_check_nothing_are_refused(
    check: str, flags: dict[str, bool], message: str
) -> None:
    # As PyTorch (an AssertionError there); a check of nothing would always pass.
    x = _t(np.array([1.0, 2.0]), True)
    with pytest.raises(AssertionError, match=message) as info:
        getattr(dm.autograd, check)(lambda t: t.sin() * t, (x,), **flags)
    assert isinstance(info.value, dm.InvalidValueError)


@pytest.mark.parametrize("loss", ["smooth_l1", "huber"])
def test_smooth_loss_second_derivative_where_input_equals_target(loss: str) -> None:
    a = _t(np.array([0.0, 0.3]), True)
    b = _t(np.zeros(2))
    if loss == "smooth_l1":
        out, curvature = F.smooth_l1_loss(a, b, beta=0.5, reduction="sum"), 2.0
    else:
        out, curvature = F.huber_loss(a, b, delta=0.5, reduction="sum"), 1.0
    (g,) = dm.autograd.grad(out, a, create_graph=True)
    (h,) = dm.autograd.grad(g.sum(), a)
    np.testing.assert_allclose(h.numpy(), [curvature, curvature])


def test_gradient_penalty_through_checkpoint() -> None:
    from democratising.utils.checkpoint import checkpoint

    def block(x: dm.Tensor, w: dm.Tensor) -> dm.Tensor:
        return (dm.sin(x * w) * x).sum()

    results = []
    for use_checkpoint in (False, True):
        x = _t(np.array([0.3, -0.7, 1.1]), True)
        w = _t(np.array([0.5, 1.5, -2.0]), True)
        y = checkpoint(block, x, w, use_reentrant=False) if use_checkpoint else block(x, w)
        (g,) = dm.autograd.grad(y, x, create_graph=True)
        (h,) = dm.autograd.grad(g.pow(2).sum(), w)
        results.append(h.numpy())
    np.testing.assert_allclose(results[0], [0.34928779, 0.16412562, -3.16156824], rtol=1e-7)
    np.testing.assert_allclose(results[1], results[0], rtol=1e-12)


_KINKS = np.array([0.0, 0.3, 0.5, -0.5, 0.7, -2.0, 1e-9])

# PyTorch's first and second derivatives (gradient, then the gradient of its sum) at
# ``_KINKS``: input equal to target, inside, on the bounds (first derivative +-1 or +-delta,
# second 0 there, as PyTorch) and outside.
_SMOOTH_TORCH = {
    "smooth_l1_sum": (
        lambda x: F.smooth_l1_loss(x, _t(np.zeros(7)), beta=0.5, reduction="sum"),
        [0.0, 0.6, 1.0, -1.0, 1.0, -1.0, 2e-09],
        [2.0, 2.0, 0.0, 0.0, 0.0, 0.0, 2.0],
    ),
    "huber_sum": (
        lambda x: F.huber_loss(x, _t(np.zeros(7)), delta=0.5, reduction="sum"),
        [0.0, 0.3, 0.5, -0.5, 0.5, -0.5, 1e-09],
        [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0],
    ),
    "smooth_l1_none": (
        lambda x: (
            F.smooth_l1_loss(x, _t(np.full(7, 0.25)), beta=0.5, reduction="none")
            * _t(np.arange(1.0, 8.0))
        ).sum(),
        [-0.5, 0.2, 1.5, -4.0, 4.5, -6.0, -3.499999986],
        [2.0, 4.0, 6.0, 0.0, 10.0, 0.0, 14.0],
    ),
    "huber_mean": (
        lambda x: F.huber_loss(x, _t(np.full(7, 0.25)), delta=0.5),
        [-0.5 / 14, 0.1 / 14, 0.5 / 14, -1 / 14, 0.9 / 14, -1 / 14, -0.499999998 / 14],
        [1 / 7, 1 / 7, 1 / 7, 0.0, 1 / 7, 0.0, 1 / 7],
    ),
    "smooth_l1_beta0": (
        lambda x: F.smooth_l1_loss(x, _t(np.zeros(7)), beta=0.0, reduction="sum"),
        [0.0, 1.0, 1.0, -1.0, 1.0, -1.0, 1.0],
        [0.0] * 7,
    ),
}


@pytest.mark.parametrize("case", sorted(_SMOOTH_TORCH))
def test_smooth_losses_first_and_second_derivatives_match_pytorch(case: str) -> None:
    f, grad_want, hess_want = _SMOOTH_TORCH[case]
    x = _t(_KINKS, True)
    (g,) = dm.autograd.grad(f(x), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), grad_want, rtol=1e-12, atol=1e-15)
    (h,) = dm.autograd.grad(g.sum(), x, materialize_grads=True)
    np.testing.assert_allclose(h.numpy(), hess_want, rtol=1e-12, atol=1e-15)


def _np_cofactor(m: np.ndarray) -> np.ndarray:
    """The cofactor matrix by minors (exact for singular matrices too)."""
    n = m.shape[0]
    out = np.zeros_like(m)
    for i, j in np.ndindex(n, n):
        minor = np.delete(np.delete(m, i, 0), j, 1)
        out[i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return out


def test_det_second_derivative_at_singular_matrices_in_a_batch() -> None:
    # Invertible, rank 2, rank 1 (repeated zero singular values, where an SVD-based double
    # backward is NaN), diag(1, 1, 0) (a repeated nonzero one) and zero: the Hessian
    # contracted with a direction, against central differences of the cofactor.
    full = _r(5, 3, 3)
    rank2 = _r(6, 3, 3)
    rank2[2] = rank2[0] - 2 * rank2[1]
    batch = np.stack([full, rank2, np.diag([2.0, 0, 0]), np.diag([1.0, 1, 0]), np.zeros((3, 3))])
    w = _r(7, 5, 3, 3)
    a = _t(batch, True)
    (g,) = dm.autograd.grad(dm.linalg.det(a).sum(), a, create_graph=True)
    cof = np.stack([_np_cofactor(m) for m in batch])
    np.testing.assert_allclose(g.detach().numpy(), cof, rtol=1e-10, atol=1e-12)
    (h,) = dm.autograd.grad((g * _t(w)).sum(), a)
    want, eps = np.zeros_like(batch), 1e-6
    for idx in np.ndindex(*batch.shape):
        p, m = batch.copy(), batch.copy()
        p[idx] += eps
        m[idx] -= eps
        k = idx[0]
        want[idx] = ((_np_cofactor(p[k]) - _np_cofactor(m[k])) * w[k]).sum() / (2 * eps)
    np.testing.assert_allclose(h.numpy(), want, rtol=1e-6, atol=1e-8)
    # The first derivative without create_graph is unchanged: the cofactor, from the SVD.
    b = _t(batch, True)
    dm.linalg.det(b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), cof, rtol=1e-10, atol=1e-12)


def _checkpointed_block(x: dm.Tensor, w: dm.Tensor) -> dm.Tensor:
    return F.dropout(dm.tanh(x * w), 0.4, True) * x


@pytest.mark.parametrize("how", ["third_order", "backward_create_graph"])
def test_checkpoint_matches_plain_run_under_create_graph(how: str) -> None:
    from democratising.utils.checkpoint import checkpoint

    results = []
    for use_checkpoint in (False, True):
        dm.manual_seed(11)  # dropout inside: the recomputation must replay the same mask
        x, w = _t(_r(8, 3, 4), True), _t(_r(9, 4), True)
        y = (
            checkpoint(_checkpointed_block, x, w, use_reentrant=False)
            if use_checkpoint
            else _checkpointed_block(x, w)
        )
        if how == "third_order":
            (g,) = dm.autograd.grad(y.pow(2).sum(), x, create_graph=True)
            (h,) = dm.autograd.grad(g.pow(3).sum(), (x,), create_graph=True)
            got = [g, h, *dm.autograd.grad(h.sum(), (x, w))]
        else:
            y.pow(2).sum().backward(create_graph=True)
            gx, gw = x.grad, w.grad
            got = [gx, gw, *dm.autograd.grad(gx.pow(2).sum() + gw.sum(), (x, w))]
        results.append([t.detach().numpy() for t in got])
    assert np.count_nonzero(results[0][0]) < results[0][0].size  # dropout zeroed some
    for plain, ckpt in zip(*results):
        np.testing.assert_allclose(ckpt, plain, rtol=1e-12, atol=1e-14)
