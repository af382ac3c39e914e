"""PyTorch-compatibility fixes across the Python layer: ``Tensor.norm`` at zero, checkpointing
with keywords/tuple outputs and ``checkpoint_sequential``, grad-mode decorators on generators,
``bernoulli``/``randint_like``, optimizer implementation keywords, ``Dataset + Dataset`` and
serde-style tagged configs."""

from __future__ import annotations

import math

import numpy as np
import pytest

import democratising as dm

# ---- 1. Tensor.norm ------------------------------------------------------------------------


def _np_norm_and_grad(a: np.ndarray, p: float, axis: object, keepdim: bool) -> tuple:
    """Value of the p-norm and the gradient of its sum, PyTorch's subgradient 0 at 0."""
    n = np.sum(np.abs(a) ** p, axis=axis, keepdims=True) ** (1.0 / p)
    safe = np.where(n == 0, 1.0, n)
    with np.errstate(divide="ignore", invalid="ignore"):  # (0 ** negative, masked next)
        g = np.sign(a) * (np.abs(a) / safe) ** (p - 1)
    g = np.where(a == 0, 0.0, g)
    return (n if keepdim else np.squeeze(n, axis=axis)), g


@pytest.mark.parametrize("p", [2, "fro", 1, 3, 0.5])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), (1, True), ((0, 1), True)])
def test_norm_values_and_gradients_match_numpy(p: object, dim: object, keepdim: bool) -> None:
    a = np.array([[3.0, -4.0, 0.0], [0.0, 0.0, 0.0], [1.5, 0.0, -2.0]])
    x = dm.tensor(a, dtype=dm.float64, requires_grad=True)
    out = x.norm(p, dim=dim, keepdim=keepdim) if dim is not None else x.norm(p)
    pf = 2.0 if p == "fro" else float(p)  # type: ignore[arg-type]
    axis = (0, 1) if dim is None else dim
    want, want_grad = _np_norm_and_grad(a, pf, axis, keepdim and dim is not None)
    np.testing.assert_allclose(out.detach().numpy(), want, rtol=1e-12)
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), want_grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("p", [2, 1, 3, math.inf])
def test_norm_of_all_zero_input_has_zero_gradient(p: float) -> None:
    x = dm.zeros(3, requires_grad=True)
    x.norm(p).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(3, np.float32))
    y = dm.zeros(2, 3, dtype=dm.float64, requires_grad=True)
    y.norm(p, dim=1, keepdim=True).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), np.zeros((2, 3)))


def test_free_norm_at_zero_and_its_value_agree_with_vector_norm() -> None:
    x = dm.zeros(4, requires_grad=True)
    dm.norm(x).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(4, np.float32))
    v = dm.tensor([3.0, 4.0])
    assert v.norm().item() == 5.0
    assert dm.linalg.vector_norm(v).item() == 5.0


# ---- 2. checkpoint with keywords and several outputs; checkpoint_sequential -------------------


def _grads(*ts: dm.Tensor) -> list[np.ndarray]:
    out = [t.grad.numpy().copy() for t in ts]
    for t in ts:
        t.grad = None
    return out


def test_checkpoint_passes_keyword_arguments_and_differentiates_keyword_tensors() -> None:
    from democratising.utils.checkpoint import checkpoint

    dm.manual_seed(0)
    lin = dm.nn.Linear(4, 3)
    x = dm.randn(2, 4, requires_grad=True)
    s = dm.randn(2, 3, requires_grad=True)

    def fn(t: dm.Tensor, *, shift: dm.Tensor, scale: float = 1.0) -> dm.Tensor:
        return (lin(t) * scale + shift).tanh()

    fn(x, shift=s, scale=2.0).square().sum().backward()
    want = _grads(x, s, lin.weight, lin.bias)
    out = checkpoint(fn, x, shift=s, scale=2.0, use_reentrant=False)
    assert out.requires_grad
    out.square().sum().backward()
    for got, w in zip(_grads(x, s, lin.weight, lin.bias), want):
        np.testing.assert_allclose(got, w, rtol=1e-6)


def test_checkpoint_tuple_and_list_outputs_with_non_tensor_values() -> None:
    from democratising.utils.checkpoint import checkpoint

    dm.manual_seed(0)
    lin = dm.nn.Linear(3, 3)
    x = dm.randn(4, 3, requires_grad=True)
    calls = [0]

    def fn(t: dm.Tensor) -> tuple:
        calls[0] += 1
        h = lin(t)
        return h.relu(), "tag", h.sum(1), dm.tensor([1, 2]), None

    def loss(o: tuple) -> dm.Tensor:
        return o[0].square().sum() + (o[2] * 3).sum()

    loss(fn(x)).backward()
    want = _grads(x, lin.weight)
    out = checkpoint(fn, x)
    assert isinstance(out, tuple) and len(out) == 5
    assert out[1] == "tag" and out[4] is None
    assert out[3].tolist() == [1, 2] and not out[3].requires_grad
    assert out[0].shape == (4, 3) and out[2].shape == (4,)
    calls[0] = 0
    loss(out).backward()
    assert calls[0] == 1  # both outputs backpropagate through one recomputation
    for got, w in zip(_grads(x, lin.weight), want):
        np.testing.assert_allclose(got, w, rtol=1e-6)
    listed = checkpoint(lambda t: [t * 2, t.sum()], x)
    assert isinstance(listed, list)
    (listed[0].sum() + listed[1]).backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((4, 3), 3.0, np.float32))


def test_checkpoint_same_tensor_twice_gets_its_gradient_once() -> None:
    from democratising.utils.checkpoint import checkpoint

    x = dm.tensor([1.0, 2.0], requires_grad=True)
    checkpoint(lambda a, b: a * b, x, x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


@pytest.mark.parametrize("segments", [1, 2, 3, 4])
@pytest.mark.parametrize("as_list", [False, True])
def test_checkpoint_sequential_matches_the_plain_model(segments: int, as_list: bool) -> None:
    from democratising.utils.checkpoint import checkpoint_sequential

    dm.manual_seed(0)
    model = dm.nn.Sequential(
        dm.nn.Linear(5, 8), dm.nn.Tanh(), dm.nn.Dropout(0.2), dm.nn.Linear(8, 8), dm.nn.ReLU()
    )
    x = dm.randn(3, 5, requires_grad=True)
    params = list(model.parameters())
    dm.manual_seed(7)
    plain = model(x)
    plain.sum().backward()
    want = _grads(x, *params)
    dm.manual_seed(7)
    out = checkpoint_sequential(
        list(model.children()) if as_list else model, segments, x, use_reentrant=False
    )
    np.testing.assert_allclose(out.detach().numpy(), plain.detach().numpy(), rtol=1e-6)
    out.sum().backward()
    for got, w in zip(_grads(x, *params), want):
        np.testing.assert_allclose(got, w, rtol=1e-6)


def test_checkpoint_sequential_rejects_bad_segments_and_keywords() -> None:
    from democratising.utils.checkpoint import checkpoint_sequential

    model = dm.nn.Sequential(dm.nn.Linear(2, 2), dm.nn.ReLU())
    with pytest.raises(ValueError, match="segments"):
        checkpoint_sequential(model, 3, dm.ones(1, 2))
    with pytest.raises(ValueError, match="Unexpected keyword"):
        checkpoint_sequential(model, 1, dm.ones(1, 2), bogus=1)


def test_checkpoint_sequential_recomputes_all_but_the_last_segment() -> None:
    from democratising.utils.checkpoint import checkpoint_sequential

    calls = [0] * 4

    def step(k: int):  # type: ignore[no-untyped-def]
        def f(t: dm.Tensor) -> dm.Tensor:
            calls[k] += 1
            return (t * (k + 2)).sin()

        return f

    x = dm.tensor([0.1, 0.2], requires_grad=True)
    checkpoint_sequential([step(k) for k in range(4)], 2, x).sum().backward()
    assert calls == [2, 2, 1, 1]


# ---- 3. grad-mode decorators on generator functions -------------------------------------------


def _modes_of(deco: object, start: bool) -> tuple[list[bool], list[bool], object]:
    """Runs a decorated generator with the caller in grad mode ``start``; returns the mode
    seen inside at each step, the caller's mode between steps, and the returned value."""
    w = dm.ones(2, requires_grad=True)
    inside: list[bool] = []

    @deco  # type: ignore[misc]
    def gen(n: int):  # type: ignore[no-untyped-def]
        for _ in range(n):
            inside.append(dm.is_grad_enabled())
            got = yield w * 2
            assert got is None
        return "done"

    outside: list[bool] = []
    with dm.set_grad_enabled(start):
        g = gen(3)
        results = []
        while True:
            try:
                results.append(next(g))
            except StopIteration as stop:
                value = stop.value
                break
            outside.append(dm.is_grad_enabled())
            dm.ones(1)  # the caller keeps computing in its own mode
    assert all(r.requires_grad == inside[0] for r in results)
    return inside, outside, value


@pytest.mark.parametrize("deco", [dm.no_grad(), dm.no_grad, dm.inference_mode()])
def test_no_grad_decorated_generator_runs_without_grad(deco: object) -> None:
    inside, outside, value = _modes_of(deco, True)
    assert inside == [False] * 3
    assert outside == [True] * 3
    assert value == "done"
    assert dm.is_grad_enabled()


@pytest.mark.parametrize("deco", [dm.enable_grad(), dm.set_grad_enabled(True)])
def test_enable_grad_decorated_generator_runs_with_grad(deco: object) -> None:
    inside, outside, _ = _modes_of(deco, False)
    assert inside == [True] * 3
    assert outside == [False] * 3


def test_decorated_generator_receives_thrown_exceptions_and_close() -> None:
    seen: list[object] = []

    @dm.no_grad()
    def gen():  # type: ignore[no-untyped-def]
        try:
            while True:
                try:
                    yield 1
                except KeyError as e:
                    seen.append((str(e), dm.is_grad_enabled()))
        finally:
            seen.append(("closed", dm.is_grad_enabled()))

    g = gen()
    next(g)
    assert g.throw(KeyError("k")) == 1
    assert dm.is_grad_enabled()
    g.close()
    assert seen == [("'k'", False), ("closed", False)]
    assert dm.is_grad_enabled()


# ---- 4. bernoulli and randint_like -----------------------------------------------------------


def test_bernoulli_draws_zero_one_in_the_input_dtype_with_the_given_probabilities() -> None:
    dm.manual_seed(0)
    probs = dm.tensor([0.0, 1.0, 0.25] * 20000, dtype=dm.float64)
    out = dm.bernoulli(probs)
    assert out.dtype == dm.float64 and out.shape == probs.shape and not out.requires_grad
    a = out.numpy().reshape(-1, 3)
    assert set(np.unique(a)) <= {0.0, 1.0}
    assert a[:, 0].sum() == 0 and a[:, 1].min() == 1
    assert abs(a[:, 2].mean() - 0.25) < 0.01  # 6 standard errors
    with_p = dm.bernoulli(dm.zeros(40000, dtype=dm.float32), 0.75)
    assert with_p.dtype == dm.float32
    assert abs(with_p.numpy().mean() - 0.75) < 0.015


def test_bernoulli_follows_manual_seed_and_generators() -> None:
    x = dm.full((3, 7), 0.5)
    dm.manual_seed(5)
    a = dm.bernoulli(x)
    dm.manual_seed(5)
    b = dm.bernoulli(x)
    dm.manual_seed(5)
    u = dm.rand(3, 7)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(a.numpy(), (u.numpy() < 0.5).astype(np.float32))
    g1, g2 = dm.Generator().manual_seed(9), dm.Generator().manual_seed(9)
    np.testing.assert_array_equal(
        dm.bernoulli(x, generator=g1).numpy(), dm.bernoulli(x, generator=g2).numpy()
    )
    # A generator seeded 9 draws what the global stream seeded 9 draws, and leaves it alone.
    dm.manual_seed(9)
    before = dm.random.get_rng_state().tolist()
    from_gen = dm.bernoulli(x, generator=dm.Generator().manual_seed(9))
    assert dm.random.get_rng_state().tolist() == before
    np.testing.assert_array_equal(dm.bernoulli(x).numpy(), from_gen.numpy())


def test_bernoulli_rejects_bad_probabilities() -> None:
    with pytest.raises(ValueError):
        dm.bernoulli(dm.tensor([0.5, 1.5]))
    with pytest.raises(ValueError):
        dm.bernoulli(dm.ones(2), -0.1)
    with pytest.raises(TypeError):
        dm.bernoulli([0.5])  # type: ignore[arg-type]


def test_randint_like_signatures_dtype_and_reproducibility() -> None:
    x = dm.zeros(50, 40)
    dm.manual_seed(1)
    a = dm.randint_like(x, 7)
    assert a.shape == (50, 40) and a.dtype == dm.float32
    vals = a.numpy()
    assert vals.min() >= 0 and vals.max() <= 6 and np.all(vals == np.round(vals))
    assert set(np.unique(vals)) == set(range(7))
    dm.manual_seed(1)
    np.testing.assert_array_equal(dm.randint(0, 7, (50, 40)).numpy(), vals)
    dm.manual_seed(1)
    np.testing.assert_array_equal(dm.randint_like(x, high=7).numpy(), vals)
    b = dm.randint_like(dm.zeros(1000, dtype=dm.int32), 3, 6)
    assert b.dtype == dm.int32 and set(np.unique(b.numpy())) == {3, 4, 5}
    c = dm.randint_like(x, -2, 2, dtype=dm.int64)
    assert c.dtype == dm.int64 and c.numpy().min() >= -2 and c.numpy().max() <= 1
    assert "bernoulli" in dm.__all__ and "randint_like" in dm.__all__


# ---- 5. optimizers: PyTorch's implementation keywords and maximize ----------------------------

optim = dm.optim
#: Each optimizer's implementation keywords in PyTorch (besides ``maximize``, which all have).
_FLAGS = {
    optim.SGD: ("foreach", "differentiable", "fused"),
    optim.Adam: ("foreach", "capturable", "differentiable", "fused"),
    optim.AdamW: ("foreach", "capturable", "differentiable", "fused"),
    optim.RMSprop: ("foreach", "capturable", "differentiable"),
    optim.Adagrad: ("foreach", "differentiable", "fused"),
    optim.Adadelta: ("foreach", "capturable", "differentiable"),
    optim.Adamax: ("foreach", "capturable", "differentiable"),
    optim.ASGD: ("foreach", "capturable", "differentiable"),
    optim.NAdam: ("foreach", "capturable", "differentiable"),
    optim.RAdam: ("foreach", "capturable", "differentiable"),
    optim.Rprop: ("foreach", "capturable", "differentiable"),
    optim.SparseAdam: (),
}


def _steps(cls: type, grads: list[np.ndarray], **kw: object) -> np.ndarray:
    p = dm.tensor([0.5, -1.0, 2.0], dtype=dm.float64, requires_grad=True)
    opt = cls([p], lr=0.1, **kw)
    for g in grads:
        p.grad = dm.tensor(g, dtype=dm.float64)
        opt.step()
    return p.detach().numpy()


_GRADS = [np.array([0.3, -0.2, 0.1]), np.array([0.1, 0.4, -0.5]), np.array([-0.2, 0.2, 0.3])]


@pytest.mark.parametrize("cls", list(_FLAGS), ids=lambda c: c.__name__)
def test_foreach_and_fused_are_accepted_stored_and_change_nothing(cls: type) -> None:
    flags = {k: True for k in ("foreach", "fused") if k in _FLAGS[cls]}
    plain = _steps(cls, _GRADS)
    np.testing.assert_array_equal(_steps(cls, _GRADS, **flags), plain)
    p = dm.ones(2, requires_grad=True)
    opt = cls([p], lr=0.1, **flags)
    group = opt.param_groups[0]
    for key in ("maximize", *_FLAGS[cls]):
        assert key in group and key in opt.state_dict()["param_groups"][0]
    for key, value in flags.items():
        assert group[key] is value


@pytest.mark.parametrize("cls", list(_FLAGS), ids=lambda c: c.__name__)
def test_capturable_and_differentiable_are_refused_by_name(cls: type) -> None:
    p = dm.ones(2, requires_grad=True)
    for flag in ("capturable", "differentiable"):
        if flag in _FLAGS[cls]:
            with pytest.raises(ValueError, match=flag):
                cls([p], lr=0.1, **{flag: True})
            cls([p], lr=0.1, **{flag: False})
        else:  # as PyTorch: not a keyword of this optimizer
            with pytest.raises(TypeError):
                cls([p], lr=0.1, **{flag: False})


@pytest.mark.parametrize("cls", list(_FLAGS), ids=lambda c: c.__name__)
def test_maximize_is_gradient_ascent(cls: type) -> None:
    ascent = _steps(cls, _GRADS, maximize=True)
    np.testing.assert_allclose(ascent, _steps(cls, [-g for g in _GRADS]), rtol=1e-12)
    assert not np.allclose(ascent, _steps(cls, _GRADS))


def test_sgd_and_adam_maximize_by_hand() -> None:
    g = _GRADS[0]
    p0 = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(_steps(optim.SGD, [g], maximize=True), p0 + 0.1 * g)
    # Adam's first step is lr * m_hat / (sqrt(v_hat) + eps) with m_hat = g, v_hat = g^2.
    np.testing.assert_allclose(
        _steps(optim.Adam, [g], maximize=True), p0 + 0.1 * g / (np.abs(g) + 1e-8), rtol=1e-12
    )


def test_state_dict_without_implementation_keys_loads_and_refused_flags_do_not() -> None:
    p = dm.ones(2, requires_grad=True)
    opt = optim.Adam([p], lr=0.1, foreach=True)
    p.grad = dm.ones(2)
    opt.step()
    sd = opt.state_dict()
    old = {
        "state": sd["state"],
        "param_groups": [
            {k: v for k, v in g.items() if k not in ("foreach", "fused", "capturable")}
            for g in sd["param_groups"]
        ],
    }
    fresh = optim.Adam([p], lr=0.5)
    fresh.load_state_dict(old)
    assert fresh.param_groups[0]["lr"] == 0.1 and fresh.param_groups[0]["foreach"] is None
    assert fresh.param_groups[0]["capturable"] is False
    bad = {"state": {}, "param_groups": [dict(sd["param_groups"][0], capturable=True)]}
    with pytest.raises(ValueError, match="capturable"):
        fresh.load_state_dict(bad)
    assert fresh.param_groups[0]["lr"] == 0.1


# ---- 6. Dataset + Dataset ---------------------------------------------------------------------


class _Range(dm.data.Dataset):
    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi

    def __len__(self) -> int:
        return self.hi - self.lo

    def __getitem__(self, i: int) -> int:
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.lo + i


def test_dataset_plus_dataset_is_a_concat_dataset() -> None:
    a, b, c = _Range(0, 3), _Range(10, 12), _Range(20, 21)
    ab = a + b
    assert isinstance(ab, dm.data.ConcatDataset) and ab.datasets == [a, b]
    assert len(ab) == 5 and [ab[i] for i in range(5)] == [0, 1, 2, 10, 11]
    abc = ab + c
    assert len(abc) == 6 and abc[-1] == 20
    t = dm.data.TensorDataset(dm.arange(4))
    mixed = t + a
    assert len(mixed) == 7 and mixed[5] == 1 and mixed[1][0].item() == 1
    batches = list(dm.data.DataLoader(a + b, batch_size=5))
    assert batches[0].tolist() == [0, 1, 2, 10, 11]


class _Stream(dm.data.IterableDataset):
    def __init__(self, items: list[int]) -> None:
        self.items = items

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def test_iterable_dataset_plus_iterable_dataset_chains_them() -> None:
    chained = _Stream([1, 2]) + _Stream([3])
    assert isinstance(chained, dm.data.ChainDataset)
    assert list(chained) == [1, 2, 3] and len(chained) == 3
    with pytest.raises(TypeError):
        list(_Stream([1]) + _Range(0, 2))


# ---- 7. serde-style tagged configs -------------------------------------------------------------


def _serde_and_named() -> tuple[dict, dict]:
    serde = {
        "learning_rate": 0.01,
        "optimizer": {"AdamW": {"beta1": 0.8, "beta2": 0.99, "weight_decay": 1e-4}},
        "scheduler": {"CosineAnnealing": {"T_max": 100, "eta_min": 1e-6}},
    }
    named = {
        "learning_rate": 0.01,
        "optimizer": {"name": "adamw", "beta1": 0.8, "beta2": 0.99, "weight_decay": 1e-4},
        "scheduler": {"name": "CosineAnnealing", "T_max": 100, "eta_min": 1e-6},
    }
    return serde, named


def test_config_accepts_serde_enum_form_in_json_and_toml(tmp_path: object) -> None:
    import json
    from pathlib import Path

    from democratising.train import TrainingConfig

    serde, named = _serde_and_named()
    want = TrainingConfig.from_dict(named)
    assert want.optimizer.beta1 == 0.8 and want.scheduler.T_max == 100
    assert TrainingConfig.from_dict(serde) == want
    path = Path(str(tmp_path)) / "c.json"
    path.write_text(json.dumps(serde))
    assert TrainingConfig.from_file(path) == want
    toml = Path(str(tmp_path)) / "c.toml"
    toml.write_text(
        "learning_rate = 0.01\n"
        "[optimizer.AdamW]\nbeta1 = 0.8\nbeta2 = 0.99\nweight_decay = 1e-4\n"
        "[scheduler.CosineAnnealing]\nT_max = 100\neta_min = 1e-6\n"
    )
    assert TrainingConfig.from_file(toml) == want
    over = TrainingConfig.from_file(toml).with_overrides(["optimizer.beta1=0.5"])
    assert over.optimizer.beta1 == 0.5 and type(over.optimizer).__name__ == "AdamWConfig"


@pytest.mark.parametrize("key", ["adam", "ADAM", "Adam"])
def test_serde_variant_names_are_case_insensitive_and_default_the_rest(key: str) -> None:
    from democratising.train import OptimizerConfig, SchedulerConfig, TrainingConfig

    cfg = TrainingConfig.from_dict({"optimizer": {key: {}}, "scheduler": {"step_lr": {}}})
    assert cfg.optimizer == OptimizerConfig.Adam()
    assert cfg.scheduler == SchedulerConfig.StepLR()
    sgd = OptimizerConfig.from_dict({"Sgd": {"momentum": 0.9, "nesterov": True}})
    assert sgd == OptimizerConfig.SGD(momentum=0.9, nesterov=True)


@pytest.mark.parametrize(
    "optimizer,match",
    [
        ({"Adamm": {"beta1": 0.9}}, "needs a 'name'"),  # unknown variant
        ({"Adam": {}, "SGD": {}}, "needs a 'name'"),  # ambiguous
        ({"Adam": 3}, "needs a 'name'"),  # not a table of fields
        ({"Adam": {"name": "sgd"}}, "needs a 'name'"),  # two kinds at once
        ({"Adam": {"beta1": 2.0}}, "beta1"),  # a bad value still names its field
        ({"Adam": {"learning_rate": 0.1}}, "top-level 'learning_rate'"),
    ],
)
def test_bad_serde_forms_keep_the_existing_errors(optimizer: dict, match: str) -> None:
    from democratising.train import TrainingConfig
    from democratising.train.config import ConfigError

    with pytest.raises(ConfigError, match=match):
        TrainingConfig.from_dict({"optimizer": optimizer})


def test_index_select_refuses_negative_indices_like_pytorch() -> None:
    t = dm.arange(12.0).reshape(3, 4)
    with pytest.raises(IndexError, match="index -1 is out of range"):
        t.index_select(0, dm.tensor([0, -1]))
    assert t[dm.tensor([-1])].tolist() == [[8.0, 9.0, 10.0, 11.0]]  # [] still wraps, as in PyTorch
    assert t.index_select(1, dm.tensor([3, 0])).tolist() == [[3.0, 0.0], [7.0, 4.0], [11.0, 8.0]]
