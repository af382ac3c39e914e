"""Audit fixes: optimizers accept frozen parameters (and skip them), ``atan2``/``cdist``,
and ``lr_scheduler.CyclicLR`` (values checked against PyTorch's)."""

from __future__ import annotations

import math
import pickle
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.data import TensorDataset
from democratising.errors import DTypeError, InvalidValueError, ShapeError
from democratising.optim.lr_scheduler import CyclicLR

# ---- frozen parameters -----------------------------------------------------------------------

_OPTIMIZERS: list[tuple[str, dict[str, Any]]] = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.1, "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.1}),
    ("Adagrad", {"lr": 0.1}),
    ("RMSprop", {"lr": 0.1, "momentum": 0.5}),
    ("Adadelta", {"lr": 0.1}),
    ("Adamax", {"lr": 0.1}),
    ("NAdam", {"lr": 0.1}),
    ("RAdam", {"lr": 0.1}),
    ("ASGD", {"lr": 0.1}),
    ("Rprop", {"lr": 0.1}),
    ("SparseAdam", {"lr": 0.1}),
    ("LBFGS", {"lr": 0.1}),
    ("Muon", {"lr": 0.1}),
]


@pytest.mark.parametrize("name,kwargs", _OPTIMIZERS, ids=[n for n, _ in _OPTIMIZERS])
def test_optimizer_accepts_a_frozen_parameter_and_leaves_it_alone(
    name: str, kwargs: dict[str, Any]
) -> None:
    dm.manual_seed(0)
    frozen = dm.randn(3, 3)  # requires_grad False, as a frozen layer's weight
    live = dm.randn(3, 3).requires_grad_()
    before_frozen, before_live = frozen.clone(), live.clone()
    opt = getattr(dm.optim, name)([frozen, live], **kwargs)
    x = dm.randn(4, 3)

    def closure() -> dm.Tensor:
        opt.zero_grad()
        loss = (x @ frozen @ live).pow(2).sum()
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    assert frozen.grad is None
    assert dm.equal(frozen, before_frozen)
    assert not dm.equal(live, before_live)
    # LBFGS keeps one state for the whole flat vector; Adagrad, as PyTorch's, makes every
    # parameter's state (step 0, a zero sum) when it is built
    if name not in ("LBFGS", "Adagrad"):
        assert frozen not in opt.state
    # the state dict of an optimizer holding a frozen parameter round-trips
    opt2 = getattr(dm.optim, name)([frozen, live], **kwargs)
    opt2.load_state_dict(opt.state_dict())


def test_frozen_parameter_is_stepped_once_it_is_unfrozen() -> None:
    layer = nn.Linear(2, 2)
    layer.weight.requires_grad_(False)
    opt = dm.optim.Adam(layer.parameters(), lr=0.1)
    layer.weight.requires_grad_(True)
    before = layer.weight.clone()
    layer(dm.ones(1, 2)).sum().backward()
    opt.step()
    assert not dm.equal(layer.weight, before)


def test_non_leaf_tensors_are_still_refused() -> None:
    leaf = dm.randn(2, 2).requires_grad_()
    with pytest.raises(ValueError, match="non-leaf"):
        dm.optim.SGD([leaf * 2], lr=0.1)


def test_trainer_fits_a_model_with_a_frozen_layer() -> None:
    from democratising.train import OptimizerConfig, Trainer, TrainingConfig

    x, y = dm.datasets.digits()
    data = TensorDataset(x[:96], y[:96])
    for opt in (OptimizerConfig.SGD(), OptimizerConfig.Adam()):
        dm.manual_seed(0)
        model = nn.Sequential(nn.Dense(64, 16), nn.ReLU(), nn.Dense(16, 10))
        for p in model[0].parameters():
            p.requires_grad_(False)
        frozen, head = model[0].weight.clone(), model[2].weight.clone()
        cfg = TrainingConfig(
            verbose=False, batch_size=32, num_epochs=2, learning_rate=0.05, optimizer=opt
        )
        history = Trainer(model, cfg).fit(data)
        assert len(history["loss"]) == 2
        assert dm.equal(model[0].weight, frozen)
        assert not dm.equal(model[2].weight, head)


# ---- atan2 -----------------------------------------------------------------------------------

_Y = [0.0, -0.0, 0.0, -0.0, 1.0, -1.0, 0.0, 1.0, -1.0, 2.0, -3.0, math.inf, -math.inf, 3.0, 1.0]
_X = [0.0, 0.0, -0.0, -0.0, 0.0, 0.0, 1.0, -1.0, -1.0, 5.0, -0.5, math.inf, 2.0, -math.inf, 0.1]


@pytest.mark.parametrize("dtype", [dm.float32, dm.float64])
def test_atan2_matches_numpy_in_every_quadrant_and_at_signed_zeros(dtype: Any) -> None:
    y, x = dm.tensor(_Y, dtype=dtype), dm.tensor(_X, dtype=dtype)
    want = np.arctan2(np.array(_Y), np.array(_X))
    for got in (dm.atan2(y, x), y.atan2(x), dm.arctan2(y, x)):
        assert got.dtype == dtype
        out = got.numpy().astype(np.float64)
        np.testing.assert_allclose(out, want, rtol=1e-6, atol=0)
        np.testing.assert_array_equal(np.signbit(out), np.signbit(want))
    nan = dm.atan2(dm.tensor([math.nan, 1.0]), dm.tensor([1.0, math.nan]))
    assert bool(nan.isnan().all())


def test_atan2_promotes_and_broadcasts() -> None:
    assert dm.atan2(dm.tensor([1, 2]), dm.tensor([3, 4])).dtype == dm.float32
    a = dm.tensor([1.0], dtype=dm.float32)
    b = dm.tensor([[1.0], [-1.0]], dtype=dm.float64)
    out = dm.atan2(a, b)
    assert out.dtype == dm.float64 and tuple(out.shape) == (2, 1)
    np.testing.assert_allclose(out.numpy().ravel(), [math.pi / 4, 3 * math.pi / 4])
    with pytest.raises(TypeError):
        dm.atan2(a, 2.0)  # type: ignore[arg-type]


def test_atan2_gradient_and_its_gradient() -> None:
    a = dm.tensor([1.0, -2.0, 0.5, 0.0], dtype=dm.float64, requires_grad=True)
    b = dm.tensor([[2.0], [-1.0]], dtype=dm.float64, requires_grad=True)
    dm.atan2(a, b).sum().backward()
    an, bn = a.detach().numpy(), b.detach().numpy()
    r2 = an**2 + bn**2
    np.testing.assert_allclose(a.grad.numpy(), (bn / r2).sum(0), rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), (-an / r2).sum(1, keepdims=True), rtol=1e-12)
    # at the origin the gradient is 0 (as PyTorch's), not NaN
    o1 = dm.tensor([0.0], requires_grad=True)
    o2 = dm.tensor([0.0], requires_grad=True)
    dm.atan2(o1, o2).sum().backward()
    assert o1.grad.tolist() == [0.0] and o2.grad.tolist() == [0.0]
    # second derivative d2/da2 atan2(a, b) = -2ab / (a^2 + b^2)^2
    p = dm.tensor(np.array([0.7]), requires_grad=True)  # (NumPy: exact float64 values)
    q = dm.tensor(np.array([-1.3]))
    (g,) = dm.autograd.grad(dm.atan2(p, q).sum(), [p], create_graph=True)
    (h,) = dm.autograd.grad(g.sum(), [p])
    np.testing.assert_allclose(h.item(), -2 * 0.7 * -1.3 / (0.7**2 + 1.3**2) ** 2, rtol=1e-12)


def test_atan2_in_place() -> None:
    y = dm.tensor([1.0, -1.0])
    assert y.atan2_(dm.tensor([-1.0, -1.0])) is y
    np.testing.assert_allclose(y.numpy(), [3 * math.pi / 4, -3 * math.pi / 4], rtol=1e-6)


# ---- cdist -----------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0, 2.0, 3.0, math.inf])
def test_cdist_matches_the_definition(p: float) -> None:
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=(2, 5, 3)), rng.normal(size=(2, 4, 3))
    x2[0, 1] = x1[0, 2]  # a zero distance
    diff = np.abs(x1[:, :, None, :] - x2[:, None, :, :])
    if p == 0:
        want = (diff != 0).sum(-1).astype(np.float64)
    elif p == math.inf:
        want = diff.max(-1)
    else:
        want = (diff**p).sum(-1) ** (1 / p)
    got = dm.cdist(dm.tensor(x1), dm.tensor(x2), p=p)
    assert tuple(got.shape) == (2, 5, 4) and got.dtype == dm.float64
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-15)


def test_cdist_broadcasts_batch_dims_and_is_2d_for_2d_inputs() -> None:
    assert tuple(dm.cdist(dm.ones(2, 1, 3, 2), dm.ones(4, 5, 2)).shape) == (2, 4, 3, 5)
    assert tuple(dm.cdist(dm.ones(3, 2), dm.ones(5, 2)).shape) == (3, 5)


# PyTorch 2.15's gradients of cdist(x, y, p).sum() for x = [[0, 0], [1, 1]], y = [[0, 0], [2, 3]]
_CDIST_GRADS = {
    0.0: [[0.0, 0.0], [0.0, 0.0]],
    0.5: [[-2.2247447967529297, -1.8164966106414795], [-0.4142136573791504, 0.2928931713104248]],
    1.0: [[-1.0, -1.0], [0.0, 0.0]],
    2.0: [[-0.5547001957893372, -0.8320503234863281], [0.25989317893981934, -0.18732041120529175]],
    3.0: [[-0.37383610010147095, -0.8411312699317932], [0.398840069770813, -0.2945212125778198]],
}


@pytest.mark.parametrize("p", sorted(_CDIST_GRADS))
def test_cdist_gradient_matches_pytorch_including_zero_distances(p: float) -> None:
    x = dm.tensor([[0.0, 0.0], [1.0, 1.0]], requires_grad=True)
    y = dm.tensor([[0.0, 0.0], [2.0, 3.0]])
    dm.cdist(x, y, p=p).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), _CDIST_GRADS[p], rtol=1e-5, atol=1e-7)


def test_cdist_errors() -> None:
    with pytest.raises(ShapeError, match="at least 2D"):
        dm.cdist(dm.ones(3), dm.ones(3, 3))
    with pytest.raises(ShapeError, match="same number of columns"):
        dm.cdist(dm.ones(2, 3), dm.ones(2, 4))
    with pytest.raises(DTypeError, match="floating-point"):
        dm.cdist(dm.ones(2, 3, dtype=dm.int64), dm.ones(2, 3, dtype=dm.int64))
    with pytest.raises(InvalidValueError, match="non-negative"):
        dm.cdist(dm.ones(2, 3), dm.ones(2, 3), p=-1.0)


# ---- CyclicLR --------------------------------------------------------------------------------


def _sgd(lr: float = 0.5) -> dm.optim.SGD:
    groups = [{"params": [dm.zeros(2).requires_grad_()]} for _ in range(2)]
    return dm.optim.SGD(groups, lr=lr, momentum=0.9)


def _run(opt: Any, sched: CyclicLR, n: int) -> tuple[list[list[float]], list[list[float]]]:
    lrs, moms = [], []
    for _ in range(n):
        lrs.append(sched.get_last_lr())
        moms.append([g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups])
        opt.step()
        sched.step()
    return lrs, moms


def test_cyclic_lr_triangular_follows_the_formula() -> None:
    opt = _sgd()
    sched = CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=4)
    lrs, moms = _run(opt, sched, 20)
    for it, (lr, mom) in enumerate(zip(lrs, moms)):
        cycle = math.floor(1 + it / 8)
        x = abs(it / 4 - 2 * cycle + 1)
        frac = max(0.0, 1 - x)
        assert lr == pytest.approx([0.01 + 0.09 * frac] * 2, rel=1e-12, abs=1e-15)
        assert mom == pytest.approx([0.9 - 0.1 * frac] * 2, rel=1e-12, abs=1e-15)


# Checked once against torch.optim.lr_scheduler.CyclicLR (PyTorch 2.15), first 12 steps.
_TRIANGULAR2_LRS = [0.01, 0.04, 0.07, 0.1, 0.082, 0.064, 0.046000000000000006]
_TRIANGULAR2_LRS += [0.028000000000000004, 0.01, 0.025, 0.04, 0.05500000000000001]
_TRIANGULAR2_MOMS = [0.9, 0.8666666666666667, 0.8333333333333334, 0.8, 0.8200000000000001]
_TRIANGULAR2_MOMS += [0.8400000000000001, 0.86, 0.88, 0.9, 0.8833333333333333]
_TRIANGULAR2_MOMS += [0.8666666666666667, 0.8500000000000001]
_EXP_RANGE_LRS = [
    [0.001, 0.002],
    [0.005050000000000001, 0.005600000000000001],
    [0.008290000000000002, 0.008480000000000001],
    [0.004280500000000001, 0.004916],
    [0.001, 0.002],
    [0.0036572050000000006, 0.00436196],
    [0.005782969000000001, 0.006251528],
    [0.0031523360500000006, 0.0039131876000000005],
    [0.001, 0.002],
    [0.0027433922005000006, 0.0035496819560000004],
    [0.0041381059609000015, 0.004789427520800001],
    [0.0024121476824050005, 0.0032552423843600006],
]
_EXP_RANGE_BETA1 = [0.95, 0.9049999999999999, 0.869, 0.91355, 0.95, 0.9204755]
_EXP_RANGE_BETA1 += [0.8968558999999999, 0.926085155, 0.95, 0.9306289755499999]
_EXP_RANGE_BETA1 += [0.91513215599, 0.9343094701954999]


def test_cyclic_lr_triangular2_matches_pytorch() -> None:
    opt = _sgd()
    sched = CyclicLR(
        opt, base_lr=0.01, max_lr=0.1, step_size_up=3, step_size_down=5, mode="triangular2"
    )
    lrs, moms = _run(opt, sched, 12)
    np.testing.assert_allclose(lrs, [[v, v] for v in _TRIANGULAR2_LRS], rtol=1e-14)
    np.testing.assert_allclose(moms, [[v, v] for v in _TRIANGULAR2_MOMS], rtol=1e-14)


def test_cyclic_lr_exp_range_cycles_adams_beta1_per_group() -> None:
    groups = [{"params": [dm.zeros(2).requires_grad_()]} for _ in range(2)]
    opt = dm.optim.Adam(groups, lr=0.5, betas=(0.5, 0.999))
    sched = CyclicLR(
        opt,
        base_lr=[0.001, 0.002],
        max_lr=0.01,
        step_size_up=2,
        mode="exp_range",
        gamma=0.9,
        base_momentum=0.85,
        max_momentum=0.95,
    )
    lrs, moms = _run(opt, sched, 12)
    np.testing.assert_allclose(lrs, _EXP_RANGE_LRS, rtol=1e-14)
    np.testing.assert_allclose(moms, [[v, v] for v in _EXP_RANGE_BETA1], rtol=1e-14)
    assert all(g["betas"][1] == 0.999 for g in opt.param_groups)


class _Halving:
    def __init__(self) -> None:
        self.rate = 0.5

    def __call__(self, x: float) -> float:
        return float(self.rate**x)


def test_cyclic_lr_custom_scale_fn_and_state_dict() -> None:
    opt = _sgd()
    fn = _Halving()
    sched = CyclicLR(
        opt, 0.0, 1.0, step_size_up=2, scale_fn=fn, scale_mode="iterations", cycle_momentum=False
    )
    lrs, moms = _run(opt, sched, 5)
    # iterations mode: lr = base + height * fn(iteration)
    assert [v[0] for v in lrs] == pytest.approx([0.0, 0.5 * 0.5, 1.0 * 0.25, 0.5 * 0.125, 0.0])
    assert all(m == [0.9, 0.9] for m in moms)  # cycle_momentum=False leaves momentum alone
    state = pickle.loads(pickle.dumps(sched.state_dict()))
    assert state["_scale_fn_custom"] == {"rate": 0.5}
    fn.rate = 0.1
    sched.load_state_dict(state)
    assert fn.rate == 0.5 and sched.last_epoch == 5
    with pytest.raises(ValueError, match="mode is invalid"):
        CyclicLR(_sgd(), 0.01, 0.1, mode="sawtooth")
    with pytest.raises(ValueError, match="momentum"):
        CyclicLR(dm.optim.Adagrad([dm.zeros(1).requires_grad_()]), 0.01, 0.1)


# ---- round(decimals=) ------------------------------------------------------------------------


def test_round_decimals_matches_pytorch() -> None:
    t = dm.tensor([1.25, -2.5, 0.5, 1.5, 2.675, 0.125])
    np.testing.assert_array_equal(t.round().numpy(), np.float32([1, -2, 0, 2, 3, 0]))
    # PyTorch 2.15's values (round(x * 10**d) / 10**d in float32, halves to even)
    np.testing.assert_array_equal(
        t.round(decimals=1).numpy(), np.float32([1.2, -2.5, 0.5, 1.5, 2.7, 0.1])
    )
    np.testing.assert_array_equal(
        dm.round(t, decimals=2).numpy(), np.float32([1.25, -2.5, 0.5, 1.5, 2.68, 0.12])
    )
    np.testing.assert_array_equal(
        dm.round(dm.tensor([1234.5, 15.0, 25.0]), decimals=-1).numpy(),
        np.float32([1230, 20, 20]),
    )
    x = dm.tensor([1.26])
    assert x.round_(decimals=1) is x
    np.testing.assert_array_equal(x.numpy(), np.float32([1.3]))
    assert dm.round(dm.tensor([15, 25])).tolist() == [15, 25]
    with pytest.raises(DTypeError):
        dm.round(dm.tensor([15, 25]), decimals=-1)
    g = dm.tensor([1.26], requires_grad=True)
    dm.round(g, decimals=1).sum().backward()
    assert g.grad.tolist() == [0.0]
