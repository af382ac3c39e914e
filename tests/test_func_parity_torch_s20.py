"""``dm.func`` against ``torch.func``'s behaviour (values checked with NumPy, error kinds and
messages as PyTorch 2.15 gives them): ``stack_module_state`` + ``functional_call`` + ``vmap``
ensembling, per-sample gradients, ``vmap``'s ``randomness`` modes, empty batches and input
checks, pytree inputs and outputs of ``jacrev``/``jacfwd``/``hessian``/``vjp``/``jvp``,
``linearize``, and ``argnums`` and ``aux`` handling."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import democratising as dm
import democratising.func as F

RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 3)).astype(np.float32)
V = RNG.standard_normal(3).astype(np.float32)
W = RNG.standard_normal(2).astype(np.float32)


def _np(t: dm.Tensor) -> np.ndarray:
    return t.detach().numpy()


def _close(t: dm.Tensor, expected: np.ndarray) -> None:
    np.testing.assert_allclose(_np(t), expected, rtol=1e-5, atol=1e-6)


def _models(n: int = 3) -> list[dm.nn.Module]:
    dm.manual_seed(0)
    return [dm.nn.Linear(3, 2) for _ in range(n)]


# ---- stack_module_state and ensembling -------------------------------------------------------


def test_stack_module_state_stacks_new_leaves() -> None:
    models = _models()
    params, buffers = F.stack_module_state(models)
    assert list(params) == ["weight", "bias"] and buffers == {}
    _close(params["weight"], np.stack([_np(m.weight) for m in models]))
    _close(params["bias"], np.stack([_np(m.bias) for m in models]))
    assert all(p.requires_grad and p.is_leaf for p in params.values())


def test_stack_module_state_buffers_and_module_list() -> None:
    dm.manual_seed(0)
    bns = dm.nn.ModuleList([dm.nn.BatchNorm1d(3) for _ in range(2)])
    params, buffers = F.stack_module_state(bns)
    assert list(params) == ["weight", "bias"]
    assert list(buffers) == ["running_mean", "running_var", "num_batches_tracked"]
    assert tuple(buffers["running_var"].shape) == (2, 3)
    assert not buffers["running_mean"].requires_grad


def test_stack_module_state_errors() -> None:
    with pytest.raises(RuntimeError, match="Expected at least one model, got 0"):
        F.stack_module_state([])
    a, b = _models(2)
    b.eval()
    with pytest.raises(RuntimeError, match="same training/eval mode"):
        F.stack_module_state([a, b])
    with pytest.raises(RuntimeError, match="same class"):
        F.stack_module_state([a, dm.nn.Tanh()])
    b.train()
    b.weight.requires_grad_(False)
    with pytest.raises(RuntimeError, match="Expected weight from each model to have the same"):
        F.stack_module_state([a, b])


def test_ensembling_vmap_functional_call() -> None:
    models = _models()
    params, buffers = F.stack_module_state(models)
    base = copy.deepcopy(models[0])

    def run(p: dict, b: dict, x: dm.Tensor) -> dm.Tensor:
        return F.functional_call(base, (p, b), (x,))

    out = F.vmap(run, in_dims=(0, 0, None))(params, buffers, dm.tensor(X))
    expected = np.stack([X @ _np(m.weight).T + _np(m.bias) for m in models])
    _close(out, expected)
    minibatches = dm.tensor(np.stack([X, 2 * X, 3 * X]))
    out = F.vmap(run)(params, buffers, minibatches)
    _close(
        out, np.stack([k * X @ _np(m.weight).T + _np(m.bias) for k, m in zip((1, 2, 3), models)])
    )


def test_per_sample_grads_match_the_closed_form() -> None:
    (model,) = _models(1)
    params = {k: v.detach() for k, v in model.named_parameters()}
    targets = RNG.standard_normal((4, 2)).astype(np.float32)

    def loss(p: dict, x: dm.Tensor, t: dm.Tensor) -> dm.Tensor:
        out = F.functional_call(model, p, (x.unsqueeze(0),))
        return dm.nn.functional.mse_loss(out, t.unsqueeze(0))

    g = F.vmap(F.grad(loss), in_dims=(None, 0, 0), chunk_size=3)(
        params, dm.tensor(X), dm.tensor(targets)
    )
    resid = X @ _np(model.weight).T + _np(model.bias) - targets  # (4, 2)
    _close(g["bias"], resid)  # d/db of mean((xW^T + b - t)^2) over 2 outputs
    _close(g["weight"], resid[:, :, None] * X[:, None, :])


# ---- vmap ----------------------------------------------------------------------------------


def test_vmap_randomness_modes() -> None:
    x = dm.tensor(X)
    with pytest.raises(RuntimeError, match="called random operation while in randomness error"):
        F.vmap(lambda a: a + dm.rand(3))(x)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        F.vmap(lambda a: dm.nn.functional.dropout(a, 0.5))(x)
    F.vmap(lambda a: dm.nn.functional.dropout(a, 0.5, training=False))(x)  # no draw: fine
    same = _np(F.vmap(lambda a: a * 0 + dm.rand(3), randomness="same")(x))
    assert (same == same[0]).all()
    diff = _np(F.vmap(lambda a: a * 0 + dm.rand(3), randomness="different")(x))
    assert not (diff == diff[0]).all()
    with pytest.raises(RuntimeError, match="Only allowed values for randomness"):
        F.vmap(lambda a: a, randomness="x")
    with pytest.raises(RuntimeError, match="randomness error mode"):
        F.jacfwd(lambda a: a + dm.rand(3))(dm.tensor(V))


def test_vmap_empty_batch() -> None:
    out = F.vmap(lambda a: a * 2)(dm.zeros(0, 3))
    assert tuple(out.shape) == (0, 3)
    s, t = F.vmap(lambda a: (a.sum(), a), out_dims=(0, 1))(dm.zeros(0, 3))
    assert tuple(s.shape) == (0,) and tuple(t.shape) == (3, 0)


def test_vmap_inplace_into_an_unmapped_input_raises() -> None:
    z = dm.zeros(3)
    with pytest.raises(RuntimeError, match="wrote in place into an input passed whole"):
        F.vmap(lambda a, b: b.add_(a), in_dims=(0, None))(dm.tensor(X), z)
    x = dm.tensor(X)  # writing into the mapped input writes into the batch, as PyTorch
    F.vmap(lambda a: a.mul_(2))(x)
    _close(x, 2 * X)


def test_vmap_outputs_and_out_dims() -> None:
    out, tag = F.vmap(lambda a: (a * 2, "tag"), out_dims=(0, None))(dm.tensor(X))
    assert tag == "tag"
    _close(out, 2 * X)
    d = F.vmap(lambda a: {"s": a.sum(), "d": a * 2}, out_dims={"s": 0, "d": 1})(dm.tensor(X))
    _close(d["s"], X.sum(1))
    _close(d["d"], 2 * X.T)
    with pytest.raises(ValueError, match="must only return Tensors, got type <class 'int'>"):
        F.vmap(lambda a: 3)(dm.tensor(X))


def test_vmap_input_checks_raise_value_errors() -> None:
    x = dm.tensor(X)
    with pytest.raises(ValueError, match="got no inputs"):
        F.vmap(lambda: x)()
    with pytest.raises(ValueError, match="expected `in_dims` to be int or a"):
        F.vmap(lambda a: a, in_dims=0.5)(x)
    with pytest.raises(ValueError, match="in_dim must be either an integer dimension or None"):
        F.vmap(lambda a: a, in_dims=("a",))(x)
    with pytest.raises(ValueError, match="We cannot vmap over non-Tensor arguments"):
        F.vmap(lambda a: a, in_dims=0)(3.0)
    with pytest.raises(ValueError, match="expected in_dim to satisfy -2 <= in_dim < 2"):
        F.vmap(lambda a: a, in_dims=2)(x)
    with pytest.raises(ValueError, match=r"got sizes \[4, 3\] for the mapped dimension"):
        F.vmap(lambda a, b: a)(x, dm.zeros(3, 3))
    with pytest.raises(ValueError, match="chunk_size should be None or greater than 0"):
        F.vmap(lambda a: a, chunk_size=0)


# ---- grad, argnums, aux ---------------------------------------------------------------------


def test_argnums_checks() -> None:
    f = F.grad(lambda a, b: (a * b).sum(), argnums=(0, 0))
    with pytest.raises(RuntimeError, match=r"argnums elements must be unique, got \(0, 0\)"):
        f(dm.tensor(V), dm.tensor(V))
    with pytest.raises(RuntimeError, match="argnums must be int or Tuple"):
        F.grad(lambda a: a.sum(), argnums=0.0)(dm.tensor(V))
    with pytest.raises(RuntimeError, match="Got argnum=2, but only 2 positional inputs"):
        F.jacrev(lambda a, b: a, argnums=2)(dm.tensor(V), dm.tensor(V))
    with pytest.raises(ValueError, match="Thing passed to transform API must be Tensor"):
        F.grad(lambda a: a * 2)(2.0)


def test_aux_is_detached_unless_the_inputs_require_grad() -> None:
    def f(a: dm.Tensor) -> tuple[dm.Tensor, dm.Tensor]:
        return (a**2).sum(), a * 1

    assert not F.grad(f, has_aux=True)(dm.tensor(V))[1].requires_grad
    assert F.grad(f, has_aux=True)(dm.tensor(V).requires_grad_())[1].requires_grad
    j, aux = F.jacrev(lambda a: (a**2, a * 1), has_aux=True)(dm.tensor(V))
    assert not aux.requires_grad
    _close(j, np.diag(2 * V))
    assert not F.vjp(lambda a: (a**2, a * 1), dm.tensor(V), has_aux=True)[2].requires_grad


# ---- pytrees in jacrev / jacfwd / hessian / vjp / jvp ------------------------------------------


@pytest.mark.parametrize("jac", [F.jacrev, F.jacfwd])
def test_jacobians_of_pytrees(jac) -> None:
    a, b = dm.tensor(V), dm.tensor(W)
    j = jac(lambda d: d["a"] * d["b"].sum())({"a": a, "b": b})
    _close(j["a"], np.eye(3) * W.sum())
    _close(j["b"], np.outer(V, np.ones(2)))
    j = jac(lambda t: {"p": t[0] ** 2, "s": t[1].sum()})((a, b))
    assert isinstance(j, dict) and isinstance(j["p"], tuple)
    _close(j["p"][0], np.diag(2 * V))
    _close(j["p"][1], np.zeros((3, 2)))
    _close(j["s"][1], np.ones(2))
    j = jac(lambda x, y: [x * y.sum(), y], argnums=(0, 1))(a, b)
    assert isinstance(j, list) and isinstance(j[0], tuple)
    _close(j[0][1], np.outer(V, np.ones(2)))
    _close(j[1][1], np.eye(2))


def test_hessian_of_a_dict_input() -> None:
    h = F.hessian(lambda d: (d["a"] ** 2 * d["b"].sum()).sum())(
        {"a": dm.tensor(V), "b": dm.tensor(W)}
    )
    _close(h["a"]["a"], 2 * W.sum() * np.eye(3))
    _close(h["a"]["b"], np.outer(2 * V, np.ones(2)))
    _close(h["b"]["b"], np.zeros((2, 2)))


def test_vjp_and_jvp_of_pytrees() -> None:
    prim = {"a": dm.tensor(V), "b": dm.tensor(W)}
    out, fn = F.vjp(lambda d: {"o": d["a"] ** 2 * d["b"].sum()}, prim)
    _close(out["o"], V**2 * W.sum())
    (g,) = fn({"o": dm.ones(3)})
    _close(g["a"], 2 * V * W.sum())
    _close(g["b"], np.full(2, (V**2).sum()))
    with pytest.raises(RuntimeError, match="pytree structure of cotangents"):
        fn(dm.ones(3))
    out, tan = F.jvp(lambda d: {"o": d["a"] ** 2}, (prim,), ({"a": dm.ones(3), "b": dm.ones(2)},))
    _close(tan["o"], 2 * V)
    with pytest.raises(ValueError, match="same python structure"):
        F.jvp(lambda a: a, (dm.tensor(V),), (dm.tensor(V), dm.tensor(V)))


def test_linearize() -> None:
    out, jvp_fn = F.linearize(lambda a, b: dm.sin(a) * b.sum(), dm.tensor(V), dm.tensor(W))
    _close(out, np.sin(V) * W.sum())
    assert not out.requires_grad
    t = RNG.standard_normal(3).astype(np.float32)
    for k in (1.0, 3.0):  # reusable
        r = jvp_fn(dm.tensor(k * t), dm.ones(2))
        _close(r, np.cos(V) * k * t * W.sum() + np.sin(V) * 2)
    with pytest.raises(ValueError, match="doesn't match the shape"):
        jvp_fn(dm.ones(2), dm.ones(2))


def test_replace_all_batch_norm_modules_uses_batch_statistics() -> None:
    model = dm.nn.Sequential(dm.nn.Linear(3, 3), dm.nn.BatchNorm1d(3))
    assert F.replace_all_batch_norm_modules_(model) is model
    bn = model[1]
    assert not bn.track_running_stats and bn.running_mean is None
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    batches = RNG.standard_normal((2, 4, 3)).astype(np.float32)
    out = F.vmap(model)(dm.tensor(batches))
    h = batches @ _np(model[0].weight).T + _np(model[0].bias)
    mean, var = h.mean(1, keepdims=True), h.var(1, keepdims=True)
    np.testing.assert_allclose(_np(out), (h - mean) / np.sqrt(var + 1e-5), rtol=1e-4, atol=1e-5)
