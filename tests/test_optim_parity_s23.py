"""Session-23 parity sweep of ``dm.optim`` and ``dm.optim.lr_scheduler`` against PyTorch 2.15.

Expected values were recorded from ``torch.optim`` (float64) on the same problems; no torch
import here. Covers param groups with different options, parameters whose gradient is ``None``,
a ``state_dict``/``load_state_dict`` round trip mid-run, Adagrad's eager state and its
``initial_accumulator_value`` taken from the constructor (as PyTorch), Muon's
``spectral_unclamped`` learning-rate adjustment, and multi-group schedules resumed mid-run."""

from __future__ import annotations

import copy
import math
from typing import Any, Callable, Optional

import numpy as np
import pytest

import democratising as dm
from democratising import optim
from democratising.optim import lr_scheduler as S

SHAPES = [(3,), (2, 3), (4, 1, 2), (), (5,)]
NO_GRAD = 4  # this parameter never gets a gradient


def _initial(dtype: Any) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.standard_normal(s).astype(dtype) for s in SHAPES]


def _grad(x: np.ndarray, k: int, i: int) -> np.ndarray:
    """The gradient fed to parameter ``i`` at step ``k`` (a function of its current value)."""
    return (np.cos(x * (k + 1) * 0.7 + i) + 0.3 * x + 0.05 * (i + 1)).astype(x.dtype)


def _build(name: str, kw: dict[str, Any], groups: list[dict[str, Any]], vals: list[np.ndarray]):
    ps = [dm.tensor(v, requires_grad=True) for v in vals]
    opt = getattr(optim, name)(
        [{"params": ps[:2], **groups[0]}, {"params": ps[2:], **groups[1]}], **kw
    )
    return ps, opt


def _run(
    name: str,
    kw: dict[str, Any],
    groups: list[dict[str, Any]],
    dtype: Any,
    steps: int = 20,
    reload_at: Optional[int] = None,
) -> list[np.ndarray]:
    ps, opt = _build(name, kw, groups, _initial(dtype))
    for k in range(steps):
        if k == reload_at:
            sd = copy.deepcopy(opt.state_dict())
            ps, opt = _build(name, kw, groups, [p.detach().numpy().copy() for p in ps])
            opt.load_state_dict(sd)
        opt.zero_grad()
        for i, p in enumerate(ps):
            if i != NO_GRAD:
                p.grad = dm.tensor(_grad(p.detach().numpy(), k, i))
        opt.step()
    return [p.detach().numpy() for p in ps]


# (optimizer, defaults, [group 0 options, group 1 options], the first four parameters after
# 20 steps in torch 2.15, float64; group 0 holds parameters 0-1, group 1 parameters 2-4)
TRAJ = [
    (
        "SGD",
        {"lr": 0.05},
        [
            {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1},
            {"lr": 0.01, "dampening": 0.5, "momentum": 0.5, "maximize": True},
        ],
        [
            [-0.1067374355574943, -0.10751957881030542, -0.10420610346448977],
            [
                -0.17438826077267777,
                -0.1769639411118333,
                -0.1772817938147881,
                0.23934687518425907,
                0.23900813102203497,
                -0.17734762838677431,
            ],
            [
                -1.2948321747367553,
                -0.5958251926399496,
                -0.01495211735347359,
                -2.418353264405627,
                -0.08920385524967071,
                -1.2718783545410437,
                -0.6997324210387749,
                -0.5288729000110035,
            ],
            [-0.22569370406260414],
        ],
    ),
    (
        "Adam",
        {"lr": 0.05},
        [{"amsgrad": True}, {"lr": 0.01, "weight_decay": 0.2, "maximize": True}],
        [
            [-0.19421774806812583, -0.09316632814450382, 0.42577420996941556],
            [
                -0.39516140465578437,
                -0.7249362124160431,
                -0.33530516050903886,
                0.8502080885361298,
                0.7203019549259357,
                -0.7709647674494616,
            ],
            [
                -1.208412632629492,
                -0.5317175335826408,
                -0.03209131932440777,
                -2.318456698585284,
                -0.0687145568815059,
                -1.1877295317451126,
                -0.6422858126896466,
                -0.4264398922563238,
            ],
            [-0.2776397338099693],
        ],
    ),
    (
        "AdamW",
        {"lr": 0.05},
        [{"amsgrad": True}, {"lr": 0.01, "weight_decay": 0.0}],
        [
            [-0.1919466578620405, -0.09108221308656542, 0.42368590120496813],
            [
                -0.3905280863786679,
                -0.7198878984242811,
                -0.334466984350923,
                0.8421402251624336,
                0.7086611798532576,
                -0.7665085152715935,
            ],
            [
                -1.258583579881515,
                -0.6707512814758302,
                0.2321097234100859,
                -2.2308645153828564,
                -0.3303898960003663,
                -1.2414791987825846,
                -0.7879395161092762,
                -0.59322493494733,
            ],
            [-0.293187947364614],
        ],
    ),
    (
        "RMSprop",
        {"lr": 0.01},
        [{"centered": True, "weight_decay": 0.1}, {"momentum": 0.7, "lr": 0.02}],
        [
            [-0.1172017242243359, -0.11515584801936704, 0.33820776255185414],
            [
                -0.1942567565479083,
                -0.21973079370784082,
                -0.19059291977164905,
                0.7653278607377366,
                0.31680169650437323,
                -0.3170302844610395,
            ],
            [
                -0.6482385199255641,
                -0.23094628863220007,
                0.17070414276654722,
                -0.6590750236644839,
                0.13728416836455398,
                -0.6480607016300541,
                -0.646587821762237,
                -0.7143325423952525,
            ],
            [0.12082377848708561],
        ],
    ),
    (
        "Adagrad",
        {"lr": 0.1, "initial_accumulator_value": 0.3},
        [{"lr_decay": 0.1}, {"initial_accumulator_value": 1.0, "eps": 1e-06}],
        [
            [-0.14877857005930958, -0.17613223055671462, 0.42828213877188753],
            [
                -0.2365780943202226,
                -0.6111392581171758,
                0.30507309610785827,
                1.1235357071484273,
                0.8013520382027052,
                -0.7193117301048608,
            ],
            [
                -1.106726846279483,
                -0.3691051465167828,
                0.1836465542733431,
                -1.9606932744860774,
                -0.2728716619645179,
                -1.080815157008199,
                -0.6695679719083656,
                -0.32059077323915885,
            ],
            [0.11070281800889695],
        ],
    ),
    (
        "Adadelta",
        {"lr": 1.0},
        [{"rho": 0.5, "weight_decay": 0.1}, {"eps": 0.001, "maximize": True}],
        [
            [0.0816915433948706, -0.14419703638851794, 0.6270686445209278],
            [
                0.11358340846412661,
                -0.5353496975181591,
                0.35834772876741283,
                1.281408313598783,
                0.9270443121573969,
                -0.699802561137418,
            ],
            [
                -0.014507768177085748,
                -0.019983692747511703,
                -0.07675172930757063,
                -3.5520672573540297,
                0.10287360048798433,
                -0.019940253486519826,
                -0.019649575222445814,
                0.06390100100088153,
            ],
            [-0.08660453953595999],
        ],
    ),
    (
        "Adamax",
        {"lr": 0.05},
        [{"betas": (0.5, 0.9)}, {"weight_decay": 0.1}],
        [
            [-0.10947227013115335, -0.10934166808204579, 0.3119612998797082],
            [
                -0.18372329747737415,
                -0.1744771630366299,
                0.24672433780398115,
                0.8148284023809796,
                0.3352127023310026,
                -0.16898590248317483,
            ],
            [
                -1.1812768931401554,
                -0.7021051037460223,
                0.2632280527008507,
                -1.9879285763283683,
                0.2535924006128624,
                -1.1682844767364071,
                -0.7768063848118932,
                -0.6199114418038784,
            ],
            [0.19490719390547395],
        ],
    ),
    (
        "NAdam",
        {"lr": 0.05},
        [{"momentum_decay": 0.1}, {"decoupled_weight_decay": True, "weight_decay": 0.5}],
        [
            [-0.11755385882937783, -0.10718458460270264, 0.32047423500803096],
            [
                -0.19171232822198908,
                -0.17424235147996514,
                0.24579491014708726,
                0.7271364164927243,
                0.26512634587026,
                -0.21347979901860129,
            ],
            [
                -0.6917511362744478,
                -0.24584333678677234,
                0.17244307057305408,
                -1.1239962864837267,
                -0.25300474804833906,
                -0.69214419442488,
                -0.24226913869410738,
                -0.2469189668406146,
            ],
            [0.10864557590702793],
        ],
    ),
    (
        "RAdam",
        {"lr": 0.05},
        [
            {"weight_decay": 0.1},
            {"decoupled_weight_decay": True, "weight_decay": 0.1, "maximize": True},
        ],
        [
            [-0.16703247288493137, -0.33576968539986324, 0.40899858148621887],
            [
                -0.0932602713129416,
                -0.7064603963495424,
                0.3058519195040507,
                1.2448150437524106,
                0.9241405938504017,
                -0.8356937156828445,
            ],
            [
                -1.0726844544463856,
                -0.48015068774073655,
                -0.037054708757466324,
                -2.172884980977207,
                -0.15667456413594327,
                -1.0527185842432552,
                -0.5687280026661964,
                -0.4122743890531231,
            ],
            [-0.4101432760800938],
        ],
    ),
    (
        "ASGD",
        {"lr": 0.05},
        [{"t0": 3}, {"lambd": 0.1, "alpha": 0.5}],
        [
            [-0.11609009876591399, -0.11610245778744731, 0.33404286393827115],
            [
                -0.19145305200460822,
                -0.19161111212309762,
                0.2586617576340852,
                0.7110148661560942,
                0.2588789430657885,
                -0.19181185666115183,
            ],
            [
                -0.7244057084783379,
                -0.2664775834486937,
                0.18273765228884395,
                -1.6067530756373956,
                -0.2660930741915883,
                -0.7236168165665453,
                -0.26676280797700247,
                -0.2663728078334721,
            ],
            [0.10775611829262177],
        ],
    ),
    (
        "Rprop",
        {"lr": 0.05},
        [{"etas": (0.3, 1.5)}, {"step_sizes": (0.001, 0.2), "maximize": True}],
        [
            [-0.1381824498050443, -0.12614574463895825, -0.11221475287703069],
            [
                -0.19060729983914776,
                -0.18713186827829853,
                -0.18763853395770286,
                1.2287250556770122,
                0.22956488646908582,
                -0.18695076412730513,
            ],
            [
                -0.3468506226344046,
                -0.03720686061735226,
                -0.019902487852756424,
                -2.439442934638834,
                -0.019766063932545753,
                -0.5135742602719453,
                -0.014521884239451784,
                -0.025268525513309943,
            ],
            [-0.0960332763691546],
        ],
    ),
    (
        "Adafactor",
        {"lr": 0.05},
        [{"d": 1.5, "weight_decay": 0.1}, {"eps": (1e-10, 0.001), "beta2_decay": -0.5}],
        [
            [-0.11986656235375556, -0.12084078745260374, 0.4022159708607323],
            [
                -0.1941555780221349,
                -0.20035679051499367,
                0.26073048012993266,
                0.786287513553712,
                0.41125910258830234,
                -0.22673766262954598,
            ],
            [
                -0.7815871892464596,
                -0.2564724505798204,
                0.16331722707983817,
                -1.7411766565045417,
                0.1732621979118281,
                -0.7714660262229204,
                -0.26643853853744126,
                -0.2548770524519193,
            ],
            [-0.34907321318241585],
        ],
    ),
]


@pytest.mark.parametrize("reload_at", [None, 7])
@pytest.mark.parametrize("name,kw,groups,want", TRAJ, ids=[c[0] for c in TRAJ])
def test_grouped_trajectory_matches_torch(
    name: str, kw: dict[str, Any], groups: list[dict[str, Any]], want: Any, reload_at: Any
) -> None:
    got = _run(name, kw, groups, np.float64, reload_at=reload_at)
    # (NAdam's mu_product and ASGD's eta/mu are float32 tensors in torch, float64 here.)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.ravel(), w, rtol=1e-6, atol=1e-8)
    np.testing.assert_array_equal(got[NO_GRAD], _initial(np.float64)[NO_GRAD])


@pytest.mark.parametrize("name,kw,groups,want", TRAJ[:5], ids=[c[0] for c in TRAJ[:5]])
def test_grouped_trajectory_float32_keeps_dtype(
    name: str, kw: dict[str, Any], groups: list[dict[str, Any]], want: Any
) -> None:
    got = _run(name, kw, groups, np.float32)
    for g, w in zip(got, want):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g.ravel(), w, rtol=1e-4, atol=1e-5)


# ---- Adagrad: state from construction, accumulator from the constructor ---------------------


def test_adagrad_state_exists_for_every_parameter_from_construction() -> None:
    frozen = dm.ones(2, 2)  # never gets a gradient
    live = dm.ones(3).requires_grad_()
    opt = optim.Adagrad([frozen, live], lr=0.1, initial_accumulator_value=0.25)
    sd = opt.state_dict()["state"]
    assert sorted(sd) == [0, 1]
    assert float(sd[0]["step"]) == 0.0 and list(sd[0]) == ["step", "sum"]
    np.testing.assert_array_equal(sd[0]["sum"].numpy(), np.full((2, 2), 0.25, np.float32))
    live.grad = dm.full((3,), 2.0)
    opt.step()
    sd = opt.state_dict()["state"]
    assert float(sd[0]["step"]) == 0.0 and float(sd[1]["step"]) == 1.0
    np.testing.assert_allclose(sd[1]["sum"].numpy(), np.full(3, 4.25), rtol=1e-6)
    np.testing.assert_allclose(
        live.detach().numpy(), 1 - 0.1 * 2 / (math.sqrt(4.25) + 1e-10), rtol=1e-6
    )
    # a state dict listing the never-stepped parameter loads back
    opt2 = optim.Adagrad([dm.ones(2, 2), dm.ones(3).requires_grad_()], lr=0.1)
    opt2.load_state_dict(opt.state_dict())
    assert float(opt2.state_dict()["state"][1]["step"]) == 1.0


def test_adagrad_group_initial_accumulator_value_is_ignored_as_in_torch() -> None:
    # torch reads only ``self.defaults["initial_accumulator_value"]``: for the groups given to
    # the constructor and for a group added later (its state then starts on its first step).
    p = dm.ones(2).requires_grad_()
    q = dm.ones(2).requires_grad_()
    r = dm.ones(2).requires_grad_()
    opt = optim.Adagrad(
        [{"params": [p]}, {"params": [q], "initial_accumulator_value": 9.0}],
        lr=0.1,
        initial_accumulator_value=0.5,
    )
    opt.add_param_group({"params": [r], "initial_accumulator_value": 3.0})
    assert r not in opt.state
    for t in (p, q, r):
        t.grad = dm.ones(2)
    opt.step()
    want = 1 - 0.1 / (math.sqrt(1.5) + 1e-10)  # sum = 0.5 + 1 for all three
    for t in (p, q, r):
        np.testing.assert_allclose(t.detach().numpy(), [want, want], rtol=1e-6)
        np.testing.assert_allclose(opt.state[t]["sum"].numpy(), [1.5, 1.5], rtol=1e-6)
    # torch 2.15 after one step: p, q, r all equal 0.918350332 (float32)
    np.testing.assert_allclose(q.detach().numpy()[0], 0.918350332, rtol=1e-6)


# ---- Muon and Adafactor checks ----------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 8), (8, 2)])
def test_muon_spectral_unclamped_scales_the_step_by_sqrt_rows_over_cols(shape: Any) -> None:
    # torch's _adjust_lr: original -> sqrt(max(1, A/B)); spectral_unclamped -> sqrt(A/B)
    rng = np.random.default_rng(3)
    v0 = rng.standard_normal(shape)
    g = rng.standard_normal(shape)
    moves = {}
    for fn in ("original", "spectral_unclamped"):
        p = dm.tensor(v0, requires_grad=True)
        opt = optim.Muon([p], lr=0.02, weight_decay=0.0, adjust_lr_fn=fn)
        p.grad = dm.tensor(g)
        opt.step()
        moves[fn] = p.detach().numpy() - v0
    a, b = shape
    ratio = math.sqrt(a / b) / math.sqrt(max(1.0, a / b))
    np.testing.assert_allclose(moves["spectral_unclamped"], moves["original"] * ratio, rtol=1e-9)
    assert np.abs(moves["original"]).max() > 1e-4


def test_muon_unknown_lr_adjustment_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="Adjust learning rate function bogus is not supported"):
        optim.Muon([dm.ones(2, 2).requires_grad_()], adjust_lr_fn="bogus")


def test_adafactor_learning_rate_errors_as_torch() -> None:
    p = [dm.ones(2).requires_grad_()]
    with pytest.raises(ValueError, match=r"^Learning rate should be >= 0 but is: -1\.0$"):
        optim.Adafactor(p, lr=-1.0)
    with pytest.raises(TypeError):
        optim.Adafactor(p, lr="0.1")  # type: ignore[arg-type]


# ---- schedulers: three groups, resumed mid-run ------------------------------------------------

LRS = [0.1, 0.05, 0.2]
METRICS = [1.0 / (1 + k) if k < 15 else 0.1 + 0.001 * ((k * 7) % 5) for k in range(80)]


def _opt(kind: str) -> optim.Optimizer:
    ps = [dm.ones(2).requires_grad_() for _ in LRS]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(ps, LRS)]
    if kind == "SGD":
        return optim.SGD(groups, lr=0.1, momentum=0.9)
    return getattr(optim, kind)(groups, lr=0.1)


SCHEDULERS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "OneCycle-linear-True": (
        lambda o: S.OneCycleLR(
            o,
            max_lr=[0.5, 0.3, 1.0],
            total_steps=61,
            anneal_strategy="linear",
            three_phase=True,
            pct_start=0.25,
            div_factor=10,
            final_div_factor=100,
        ),
        "SGD",
    ),
    "OneCycle-epochs": (
        lambda o: S.OneCycleLR(
            o, max_lr=0.5, epochs=3, steps_per_epoch=21, base_momentum=0.8, max_momentum=0.95
        ),
        "SGD",
    ),
    "Cyclic-exp_range": (
        lambda o: S.CyclicLR(
            o,
            base_lr=[0.01, 0.02, 0.03],
            max_lr=0.3,
            step_size_up=4,
            step_size_down=6,
            mode="exp_range",
            gamma=0.97,
        ),
        "SGD",
    ),
    "CAWR": (lambda o: S.CosineAnnealingWarmRestarts(o, 5, T_mult=2, eta_min=0.01), "SGD"),
    "Sequential": (
        lambda o: S.SequentialLR(
            o,
            [
                S.LinearLR(o, 0.1, total_iters=5),
                S.CosineAnnealingLR(o, 20, 0.001),
                S.StepLR(o, 4, 0.5),
            ],
            milestones=[5, 25],
        ),
        "SGD",
    ),
    "Chained-opt": (
        lambda o: S.ChainedScheduler(
            [S.StepLR(o, 5, 0.5), S.MultiplicativeLR(o, lambda e: 0.99)], optimizer=o
        ),
        "SGD",
    ),
    "Plateau-max-abs": (
        lambda o: S.ReduceLROnPlateau(
            o,
            mode="max",
            factor=0.5,
            patience=2,
            threshold=0.01,
            threshold_mode="abs",
            cooldown=1,
            min_lr=[0.001, 0.01, 0.0],
            eps=1e-4,
        ),
        "SGD",
    ),
    "Plateau-min-rel": (
        lambda o: S.ReduceLROnPlateau(
            o,
            mode="min",
            factor=0.5,
            patience=2,
            threshold=0.01,
            threshold_mode="rel",
            cooldown=1,
            min_lr=[0.001, 0.01, 0.0],
            eps=1e-4,
        ),
        "SGD",
    ),
    "PolynomialLR": (lambda o: S.PolynomialLR(o, total_iters=40, power=2.0), "SGD"),
    "Cyclic-adam-mom": (
        lambda o: S.CyclicLR(
            o, base_lr=0.01, max_lr=0.1, step_size_up=5, base_momentum=0.8, max_momentum=0.9
        ),
        "Adam",
    ),
}

# (lr of each group, momentum or beta1 of each group) at some steps, from torch 2.15
SCHED = {
    "OneCycle-linear-True": {
        0: ([0.05, 0.03, 0.1], [0.95, 0.95, 0.95]),
        1: (
            [0.081578947368421, 0.048947368421053, 0.163157894736842],
            [0.942982456140351, 0.942982456140351, 0.942982456140351],
        ),
        10: (
            [0.36578947368421, 0.219473684210526, 0.731578947368421],
            [0.879824561403509, 0.879824561403509, 0.879824561403509],
        ),
        24: (
            [0.192105263157895, 0.115263157894737, 0.384210526315789],
            [0.918421052631579, 0.918421052631579, 0.918421052631579],
        ),
        25: (
            [0.160526315789474, 0.096315789473684, 0.321052631578947],
            [0.925438596491228, 0.925438596491228, 0.925438596491228],
        ),
        26: (
            [0.128947368421053, 0.077368421052632, 0.257894736842105],
            [0.932456140350877, 0.932456140350877, 0.932456140350877],
        ),
        40: ([0.031928571428571, 0.019157142857143, 0.063857142857143], [0.95, 0.95, 0.95]),
        60: ([0.0005, 0.0003, 0.001], [0.95, 0.95, 0.95]),
    },
    "OneCycle-epochs": {
        0: ([0.02, 0.02, 0.02], [0.95, 0.95, 0.95]),
        1: (
            [0.023686887141524, 0.023686887141524, 0.023686887141524],
            [0.948847847768274, 0.948847847768274, 0.948847847768274],
        ),
        10: (
            [0.303978099855713, 0.303978099855713, 0.303978099855713],
            [0.86125684379509, 0.86125684379509, 0.86125684379509],
        ),
        24: (
            [0.476764845584912, 0.476764845584912, 0.476764845584912],
            [0.806970574206823, 0.806970574206823, 0.806970574206823],
        ),
        25: (
            [0.468698209162531, 0.468698209162531, 0.468698209162531],
            [0.80939057481354, 0.80939057481354, 0.80939057481354],
        ),
        26: (
            [0.459522188134855, 0.459522188134855, 0.459522188134855],
            [0.812143392133112, 0.812143392133112, 0.812143392133112],
        ),
        40: (
            [0.249110531336651, 0.249110531336651, 0.249110531336651],
            [0.875267141667571, 0.875267141667571, 0.875267141667571],
        ),
        60: (
            [0.002535121672487, 0.002535121672487, 0.002535121672487],
            [0.949240060458496, 0.949240060458496, 0.949240060458496],
        ),
    },
    "Cyclic-exp_range": {
        0: ([0.01, 0.02, 0.03], [0.9, 0.9, 0.9]),
        1: ([0.080325, 0.0879, 0.095475], [0.87575, 0.87575, 0.87575]),
        10: ([0.01, 0.02, 0.03], [0.9, 0.9, 0.9]),
        24: (
            [0.1496109943544, 0.154796822135282, 0.159982649916165],
            [0.851858277808828, 0.851858277808828, 0.851858277808828],
        ),
        25: (
            [0.122852220436473, 0.128960764559353, 0.135069308682234],
            [0.861085441228802, 0.861085441228802, 0.861085441228802],
        ),
        26: (
            [0.097573323058703, 0.104553553298058, 0.111533783537413],
            [0.869802302393551, 0.869802302393551, 0.869802302393551],
        ),
        40: ([0.01, 0.02, 0.03], [0.9, 0.9, 0.9]),
        60: ([0.01, 0.02, 0.03], [0.9, 0.9, 0.9]),
    },
    "CAWR": {
        0: ([0.1, 0.05, 0.2], [0.9, 0.9, 0.9]),
        1: ([0.091405764746873, 0.046180339887499, 0.18185661446562], [0.9, 0.9, 0.9]),
        10: ([0.055, 0.03, 0.105], [0.9, 0.9, 0.9]),
        24: ([0.06203955092681, 0.033128689300805, 0.119861274178822], [0.9, 0.9, 0.9]),
        25: ([0.055, 0.03, 0.105], [0.9, 0.9, 0.9]),
        26: ([0.04796044907319, 0.026871310699195, 0.090138725821178], [0.9, 0.9, 0.9]),
        40: ([0.096574578963008, 0.048477590650226, 0.192768555588572], [0.9, 0.9, 0.9]),
        60: ([0.037779245543571, 0.022346331352698, 0.068645073925316], [0.9, 0.9, 0.9]),
    },
    "Sequential": {
        0: ([0.01, 0.005, 0.02], [0.9, 0.9, 0.9]),
        1: ([0.028, 0.014, 0.056], [0.9, 0.9, 0.9]),
        10: ([0.085501785668734, 0.04282411613907, 0.170857124728061], [0.9, 0.9, 0.9]),
        24: ([0.001609427140541, 0.001301635655419, 0.002225010110784], [0.9, 0.9, 0.9]),
        25: ([0.1, 0.05, 0.2], [0.9, 0.9, 0.9]),
        26: ([0.1, 0.05, 0.2], [0.9, 0.9, 0.9]),
        40: ([0.0125, 0.00625, 0.025], [0.9, 0.9, 0.9]),
        60: ([0.000390625, 0.0001953125, 0.00078125], [0.9, 0.9, 0.9]),
    },
    "Chained-opt": {
        0: ([0.1, 0.05, 0.2], [0.9, 0.9, 0.9]),
        1: ([0.099, 0.0495, 0.198], [0.9, 0.9, 0.9]),
        10: ([0.02260955187522, 0.01130477593761, 0.04521910375044], [0.9, 0.9, 0.9]),
        24: ([0.004910488380045, 0.002455244190023, 0.00982097676009], [0.9, 0.9, 0.9]),
        25: ([0.002430691748122, 0.001215345874061, 0.004861383496245], [0.9, 0.9, 0.9]),
        26: ([0.002406384830641, 0.001203192415321, 0.004812769661282], [0.9, 0.9, 0.9]),
        40: ([0.000261317093191, 0.000130658546596, 0.000522634186383], [0.9, 0.9, 0.9]),
        60: ([1.3358316465e-05, 6.679158232e-06, 2.6716632929e-05], [0.9, 0.9, 0.9]),
    },
    "Plateau-max-abs": {
        0: ([0.1, 0.05, 0.2], [0.9, 0.9, 0.9]),
        1: ([0.1, 0.05, 0.2], [0.9, 0.9, 0.9]),
        10: ([0.1, 0.05, 0.2], [0.9, 0.9, 0.9]),
        24: ([0.025, 0.0125, 0.05], [0.9, 0.9, 0.9]),
        25: ([0.0125, 0.01, 0.025], [0.9, 0.9, 0.9]),
        26: ([0.0125, 0.01, 0.025], [0.9, 0.9, 0.9]),
        40: ([0.0015625, 0.01, 0.003125], [0.9, 0.9, 0.9]),
        60: ([0.001, 0.01, 0.0001953125], [0.9, 0.9, 0.9]),
    },
    "Plateau-min-rel": {
        0: ([0.1, 0.05, 0.2], [0.9, 0.9, 0.9]),
        1: ([0.1, 0.05, 0.2], [0.9, 0.9, 0.9]),
        10: ([0.1, 0.05, 0.2], [0.9, 0.9, 0.9]),
        24: ([0.025, 0.0125, 0.05], [0.9, 0.9, 0.9]),
        25: ([0.025, 0.0125, 0.05], [0.9, 0.9, 0.9]),
        26: ([0.0125, 0.01, 0.025], [0.9, 0.9, 0.9]),
        40: ([0.0015625, 0.01, 0.003125], [0.9, 0.9, 0.9]),
        60: ([0.001, 0.01, 0.0001953125], [0.9, 0.9, 0.9]),
    },
    "PolynomialLR": {
        0: ([0.1, 0.05, 0.2], [0.9, 0.9, 0.9]),
        1: ([0.0950625, 0.04753125, 0.190125], [0.9, 0.9, 0.9]),
        10: ([0.05625, 0.028125, 0.1125], [0.9, 0.9, 0.9]),
        24: ([0.016, 0.008, 0.032], [0.9, 0.9, 0.9]),
        25: ([0.0140625, 0.00703125, 0.028125], [0.9, 0.9, 0.9]),
        26: ([0.01225, 0.006125, 0.0245], [0.9, 0.9, 0.9]),
        40: ([0.0, 0.0, 0.0], [0.9, 0.9, 0.9]),
        60: ([0.0, 0.0, 0.0], [0.9, 0.9, 0.9]),
    },
    "Cyclic-adam-mom": {
        0: ([0.01, 0.01, 0.01], [0.9, 0.9, 0.9]),
        1: ([0.028, 0.028, 0.028], [0.88, 0.88, 0.88]),
        10: ([0.01, 0.01, 0.01], [0.9, 0.9, 0.9]),
        24: ([0.082, 0.082, 0.082], [0.82, 0.82, 0.82]),
        25: ([0.1, 0.1, 0.1], [0.8, 0.8, 0.8]),
        26: ([0.082, 0.082, 0.082], [0.82, 0.82, 0.82]),
        40: ([0.01, 0.01, 0.01], [0.9, 0.9, 0.9]),
        60: ([0.01, 0.01, 0.01], [0.9, 0.9, 0.9]),
    },
}


# torch's own resume quirk, reproduced: a SequentialLR rebuilt on the reloaded optimizer runs its
# sub-schedulers' first steps on the loaded rates, so after resuming at 25 the StepLR phase
# continues from a tenth of its rate (LinearLR's start_factor applied once more).
RESUMED = {
    ("Sequential", 25): {
        26: [0.01, 0.005, 0.02],
        40: [0.00125, 0.000625, 0.0025],
        60: [3.90625e-05, 1.953125e-05, 7.8125e-05],
    }
}


def _momentum(g: dict[str, Any]) -> float:
    return float(g["momentum"]) if "momentum" in g else float(g["betas"][0])


@pytest.mark.parametrize("resume_at", [None, 25, 1])
@pytest.mark.parametrize("name", list(SCHED))
def test_multi_group_schedule_matches_torch_and_resumes(name: str, resume_at: Any) -> None:
    make, kind = SCHEDULERS[name]
    opt = _opt(kind)
    sched = make(opt)
    plateau = isinstance(sched, S.ReduceLROnPlateau)
    want = SCHED[name]
    seen = {}
    for k in range(61):
        if k in want:
            seen[k] = (
                [float(g["lr"]) for g in opt.param_groups],
                [_momentum(g) for g in opt.param_groups],
            )
            np.testing.assert_allclose(sched.get_last_lr(), seen[k][0], rtol=1e-12)
        if k == 60:
            break
        if k == resume_at:
            osd, ssd = opt.state_dict(), sched.state_dict()
            opt = _opt(kind)
            opt.load_state_dict(osd)
            sched = make(opt)
            sched.load_state_dict(ssd)
        opt.step()
        if plateau:
            sched.step(-METRICS[k] if sched.mode == "max" else METRICS[k])
        else:
            sched.step()
    for k, (lrs, moms) in want.items():
        lrs = RESUMED.get((name, resume_at), {}).get(k, lrs)
        np.testing.assert_allclose(seen[k][0], lrs, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(seen[k][1], moms, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_adam_refuses_a_tensor_beta_next_to_a_number_as_torch(name: str) -> None:
    p = [dm.ones(2).requires_grad_()]
    cls = getattr(optim, name)
    for betas in [(dm.tensor(0.9), 0.999), (0.9, dm.tensor(0.999))]:
        with pytest.raises(ValueError, match=r"^betas must be either both floats or both Tensors$"):
            cls(p, betas=betas)
    cls(p, betas=(dm.tensor(0.9), dm.tensor(0.999)))  # both tensors: accepted, as torch
    cls(p, betas=(0.9, 0.999))
