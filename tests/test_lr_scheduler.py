"""Learning-rate schedulers: the sequences PyTorch 2.x produces, computed here by hand.

Expected values are literals or textbook formulas written out in the test, never taken from the
implementation. Where PyTorch uses a recursive (chainable) rule, one test also checks the exact
floating-point sequence of that documented recurrence, which differs in the last bits from the
closed form.
"""

from __future__ import annotations

import copy
import json
import math
import warnings
from typing import Any, Callable

import pytest

import democratising as dm
from democratising.optim import SGD, Adagrad, Adam, lr_scheduler
from democratising.optim.lr_scheduler import (
    ChainedScheduler,
    ConstantLR,
    CosineAnnealingLR,
    CosineAnnealingWarmRestarts,
    ExponentialLR,
    LambdaLR,
    LinearLR,
    LRScheduler,
    MultiplicativeLR,
    MultiStepLR,
    OneCycleLR,
    PolynomialLR,
    ReduceLROnPlateau,
    SequentialLR,
    StepLR,
)

REL = 1e-12
ABS = 1e-15


def _param() -> dm.Tensor:
    return dm.zeros(2, requires_grad=True)


def sgd(*lrs: float, **kw: Any) -> SGD:
    """An SGD optimizer with one parameter group per learning rate given."""
    if len(lrs) == 1:
        return SGD([_param()], lr=lrs[0], **kw)
    return SGD([{"params": [_param()], "lr": lr} for lr in lrs], **kw)


def run(sched: Any, steps: int, metrics: Any = None) -> list[list[float]]:
    """The learning rates at epoch 0 and after each of ``steps`` steps, one list per group.

    Also checks that ``get_last_lr()`` always reports what is in the optimizer.
    """
    opt = sched.optimizer

    def record() -> list[float]:
        lrs = [g["lr"] for g in opt.param_groups]
        assert sched.get_last_lr() == lrs
        return lrs

    out = [record()]
    for i in range(steps):
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[i])
        out.append(record())
    return out


def first(seq: list[list[float]]) -> list[float]:
    return [lrs[0] for lrs in seq]


def assert_seq(actual: list[float], expected: list[float], rel: float = REL) -> None:
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert a == pytest.approx(e, rel=rel, abs=ABS), f"epoch {i}: {a} != {e}"


def cosine(base: float, eta_min: float, t: float, period: float) -> float:
    return eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / period)) / 2


# --------------------------------------------------------------------------------------------
# step-shaped schedulers
# --------------------------------------------------------------------------------------------


def test_step_lr() -> None:
    s = StepLR(sgd(0.1), step_size=3, gamma=0.1)
    assert s.last_epoch == 0 and s.base_lrs == [0.1]
    assert_seq(first(run(s, 9)), [0.1] * 3 + [0.01] * 3 + [0.001] * 3 + [1e-4])


def test_multistep_lr_repeated_milestone_compounds() -> None:
    s = MultiStepLR(sgd(1.0), milestones=[5, 2, 5], gamma=0.5)
    assert_seq(first(run(s, 7)), [1.0, 1.0, 0.5, 0.5, 0.5, 0.125, 0.125, 0.125])


def test_exponential_lr() -> None:
    s = ExponentialLR(sgd(2.0), gamma=0.9)
    assert_seq(first(run(s, 6)), [2.0 * 0.9**k for k in range(7)])


def test_constant_lr() -> None:
    s = ConstantLR(sgd(0.2), factor=0.5, total_iters=3)
    assert_seq(first(run(s, 5)), [0.1, 0.1, 0.1, 0.2, 0.2, 0.2])


def test_linear_lr_default_warmup_and_decay() -> None:
    # defaults: start 1/3 -> 1 over 5 epochs
    s = LinearLR(sgd(0.3))
    assert_seq(first(run(s, 7)), [0.1, 0.14, 0.18, 0.22, 0.26, 0.3, 0.3, 0.3])
    s = LinearLR(sgd(1.0), start_factor=1.0, end_factor=0.1, total_iters=3)
    assert_seq(first(run(s, 5)), [1.0, 0.7, 0.4, 0.1, 0.1, 0.1])


def test_polynomial_lr() -> None:
    s = PolynomialLR(sgd(1.0), total_iters=4, power=2.0)
    assert_seq(first(run(s, 6)), [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0, 0.0])


def test_lambda_lr_per_group_and_multiplicative_lr() -> None:
    opt = sgd(1.0, 0.5)
    s = LambdaLR(opt, lr_lambda=[lambda e: e // 2, lambda e: 0.5**e])
    seq = run(s, 4)
    assert_seq([g[0] for g in seq], [0.0, 0.0, 1.0, 1.0, 2.0])
    assert_seq([g[1] for g in seq], [0.5, 0.25, 0.125, 0.0625, 0.03125])

    # MultiplicativeLR multiplies the current rate by f(epoch) from epoch 1 on.
    s = MultiplicativeLR(sgd(1.0), lr_lambda=lambda e: 1.0 / (e + 1))
    assert_seq(first(run(s, 4)), [1.0, 1 / 2, 1 / 6, 1 / 24, 1 / 120])


# --------------------------------------------------------------------------------------------
# cosine annealing
# --------------------------------------------------------------------------------------------

C8 = (1 + math.cos(math.pi / 4)) / 2  # 0.8535533905932737


def test_cosine_annealing_hand_values_past_t_max() -> None:
    s = CosineAnnealingLR(sgd(1.0), T_max=4)
    # Past T_max PyTorch's rule climbs back along the cosine (period 2 * T_max).
    expected = [1.0, C8, 0.5, 1 - C8, 0.0, 1 - C8, 0.5, C8, 1.0, C8, 0.5]
    assert_seq(first(run(s, 10)), expected)


def test_cosine_annealing_long_run_matches_pytorch_recurrence_exactly() -> None:
    base, eta_min, t_max, steps = 0.1, 1e-4, 7, 60
    s = CosineAnnealingLR(sgd(base), t_max, eta_min)
    got = first(run(s, steps))

    # PyTorch's documented recursive form, with its special case when leaving the minimum.
    ref = [base]
    for t in range(1, steps + 1):
        prev = ref[-1]
        if (t - 1 - t_max) % (2 * t_max) == 0:
            ref.append(prev + (base - eta_min) * (1 - math.cos(math.pi / t_max)) / 2)
        else:
            ratio = (1 + math.cos(math.pi * t / t_max)) / (1 + math.cos(math.pi * (t - 1) / t_max))
            ref.append(ratio * (prev - eta_min) + eta_min)
    assert got == ref  # bit for bit

    closed = [cosine(base, eta_min, t, t_max) for t in range(steps + 1)]
    assert_seq(got, closed, rel=1e-11)
    assert got != closed  # the recursion rounds differently: a closed form would fail above
    assert got[t_max] == eta_min and got[3 * t_max] == pytest.approx(eta_min, abs=1e-15)


def test_cosine_seed_positional_form() -> None:
    num_epochs = 10
    opt = Adam([_param()], 0.001)
    s = CosineAnnealingLR(opt, num_epochs, 1e-6)
    assert (s.T_max, s.eta_min) == (10, 1e-6)
    seq = first(run(s, num_epochs))
    assert_seq(seq, [cosine(0.001, 1e-6, t, 10) for t in range(11)], rel=1e-11)
    assert seq[-1] == 1e-6


def test_cosine_warm_restarts_t_mult_2() -> None:
    s = CosineAnnealingWarmRestarts(sgd(1.0), T_0=2, T_mult=2)
    # cycles of 2, 4, 8 epochs starting at epochs 0, 2, 6
    expected = [1.0, 0.5]
    expected += [1.0, C8, 0.5, 1 - C8]
    expected += [(1 + math.cos(math.pi * k / 8)) / 2 for k in range(8)]
    expected += [1.0]
    seq = first(run(s, len(expected) - 1))
    assert_seq(seq, expected)
    assert (s.T_i, s.T_cur, s.last_epoch) == (16, 0, 14)


def test_cosine_warm_restarts_eta_min_and_fractional_epochs() -> None:
    s = CosineAnnealingWarmRestarts(sgd(1.0), T_0=3, eta_min=0.1)
    half = 0.1 + 0.9 * (1 + math.cos(math.pi / 3)) / 2
    low = 0.1 + 0.9 * (1 + math.cos(2 * math.pi / 3)) / 2
    assert_seq(first(run(s, 7)), [1.0, half, low, 1.0, half, low, 1.0, half])

    s = CosineAnnealingWarmRestarts(sgd(1.0), T_0=2, T_mult=2)
    s.step(5.5)  # cycle 2..6 (T_i = 4), T_cur = 3.5
    assert (s.T_i, s.T_cur, s.last_epoch) == (4, 3.5, 5)
    assert s.get_last_lr()[0] == pytest.approx((1 + math.cos(math.pi * 3.5 / 4)) / 2, rel=REL)
    s.step()  # epoch 6, but T_cur continues from 3.5: 4.5 wraps to 0.5 in a cycle of 8
    assert (s.T_i, s.T_cur, s.last_epoch) == (8, 0.5, 6)
    assert s.get_last_lr()[0] == pytest.approx((1 + math.cos(math.pi * 0.5 / 8)) / 2, rel=REL)
    with pytest.raises(ValueError, match="non-negative epoch"):
        s.step(-1)


# --------------------------------------------------------------------------------------------
# one-cycle
# --------------------------------------------------------------------------------------------


def test_one_cycle_two_phase_cos_with_sgd_momentum() -> None:
    opt = sgd(0.5)  # momentum 0: OneCycle installs its own, as in PyTorch
    s = OneCycleLR(opt, max_lr=1.0, total_steps=10)  # pct 0.3, div 25, final_div 1e4
    assert opt.param_groups[0]["initial_lr"] == 0.04
    assert opt.param_groups[0]["min_lr"] == pytest.approx(4e-6, rel=REL)
    lrs, moms = [], []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        moms.append(opt.param_groups[0]["momentum"])
        s.step()
    # warm-up ends at step 2 (= 0.3 * 10 - 1), then cosine to min_lr at step 9
    exp_lr = [0.04, 0.52, 1.0] + [cosine(1.0, 4e-6, k, 7) for k in range(1, 8)]
    exp_m = [0.95, 0.9, 0.85] + [0.95 - cosine(0.1, 0.0, k, 7) for k in range(1, 8)]
    assert_seq(lrs, exp_lr, rel=1e-12)
    assert_seq(moms, exp_m, rel=1e-12)
    with pytest.raises(ValueError, match="Tried to step 11 times"):
        s.step()


def test_one_cycle_three_phase_linear_adam_betas() -> None:
    opt = Adam([_param()], lr=0.123, betas=(0.9, 0.99))
    s = OneCycleLR(
        opt,
        max_lr=1.0,
        epochs=5,
        steps_per_epoch=2,
        pct_start=0.4,
        anneal_strategy="linear",
        div_factor=10.0,
        final_div_factor=100.0,
        three_phase=True,
    )
    assert s.total_steps == 10
    lrs, b1, b2 = [], [], []
    for _ in range(10):
        g = opt.param_groups[0]
        lrs.append(g["lr"])
        b1.append(g["betas"][0])
        b2.append(g["betas"][1])
        s.step()
    # phases end at steps 3, 6 and 9: up to max_lr, back to initial_lr, down to min_lr
    assert_seq(lrs, [0.1, 0.4, 0.7, 1.0, 0.7, 0.4, 0.1, 0.067, 0.034, 0.001])
    third = 0.1 / 3
    assert_seq(
        b1,
        [
            0.95,
            0.95 - third,
            0.85 + third,
            0.85,
            0.85 + third,
            0.95 - third,
            0.95,
            0.95,
            0.95,
            0.95,
        ],
    )
    assert b2 == [0.99] * 10  # only beta1 cycles


def test_one_cycle_per_group_max_lr_and_no_momentum_optimizer() -> None:
    opt = sgd(0.1, 0.1, momentum=0.9)
    s = OneCycleLR(opt, max_lr=[1.0, 2.0], total_steps=4, pct_start=0.5, cycle_momentum=False)
    seq = run(s, 3)
    # warm-up ends at step 1, then cosine over steps 1..3
    assert_seq([g[0] for g in seq], [0.04, 1.0, cosine(1.0, 4e-6, 1, 2), 4e-6])
    assert_seq([g[1] for g in seq], [0.08, 2.0, cosine(2.0, 8e-6, 1, 2), 8e-6])
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.9]
    with pytest.raises(ValueError, match="momentum or beta1"):
        OneCycleLR(Adagrad([_param()]), max_lr=1.0, total_steps=10)
    with pytest.raises(ValueError, match="max_lr must have the same length"):
        OneCycleLR(opt, max_lr=[1.0], total_steps=10)


# --------------------------------------------------------------------------------------------
# plateau
# --------------------------------------------------------------------------------------------


def test_reduce_on_plateau_patience_cooldown_min_lr() -> None:
    opt = sgd(0.1)
    s = ReduceLROnPlateau(opt, factor=0.5, patience=2, cooldown=1, min_lr=0.02)
    metrics = [1.0, 0.9] + [0.95] * 16
    expected = [0.1] * 5  # epochs 1-4: best 0.9 at epoch 2, then 2 bad epochs (= patience)
    expected += [0.05] * 4  # 3rd bad epoch (5) reduces; epoch 6 is cooldown; 7, 8 bad
    expected += [0.025] * 4  # epoch 9 reduces, 10 cooldown, 11-12 bad
    expected += [0.02] * 6  # epoch 13 reduces to min_lr; epoch 17 would reduce but is at min
    seq = first(run(s, len(metrics), metrics))
    assert_seq(seq, expected)
    assert s.best == 0.9 and s.last_epoch == 18


def test_reduce_on_plateau_max_abs_threshold_eps_and_groups() -> None:
    opt = sgd(1.0, 1e-8)
    s = ReduceLROnPlateau(
        opt, mode="max", factor=0.1, patience=0, threshold=0.5, threshold_mode="abs", min_lr=[0, 0]
    )
    # 1.0 sets best; 1.4 is not better by 0.5 (bad); 2.0 is; 2.4 is bad again
    seq = run(s, 4, [1.0, 1.4, 2.0, 2.4])
    assert_seq([g[0] for g in seq], [1.0, 1.0, 0.1, 0.1, 0.01])
    # group 1's reduction 1e-8 -> 1e-9 is below eps=1e-8 and is skipped
    assert [g[1] for g in seq] == [1e-8] * 5

    # relative threshold in min mode: 0.95 is not better than 1.0 * (1 - 0.1)
    s = ReduceLROnPlateau(sgd(1.0), patience=0, threshold=0.1)
    assert first(run(s, 3, [1.0, 0.95, 0.89])) == [1.0, 1.0, 0.1, 0.1]


# --------------------------------------------------------------------------------------------
# chaining, sequencing, chainable semantics
# --------------------------------------------------------------------------------------------


def test_sequential_lr_warmup_then_cosine() -> None:
    opt = sgd(1.0)
    warm = LinearLR(opt, start_factor=0.25, total_iters=4)
    cos = CosineAnnealingLR(opt, T_max=4)
    s = SequentialLR(opt, schedulers=[warm, cos], milestones=[4])
    expected = [0.25, 0.4375, 0.625, 0.8125]  # warm-up
    expected += [1.0, C8, 0.5, 1 - C8, 0.0, 1 - C8]  # cosine restarted at its epoch 0
    assert_seq(first(run(s, len(expected) - 1)), expected)
    assert cos.last_epoch == 5 and s.last_epoch == 9


def test_sequential_lr_pytorch_doc_example() -> None:
    opt = sgd(0.05)
    s = SequentialLR(
        opt,
        schedulers=[ConstantLR(opt, factor=0.1, total_iters=2), ExponentialLR(opt, gamma=0.9)],
        milestones=[2],
    )
    assert_seq(first(run(s, 4)), [0.005, 0.005, 0.05, 0.045, 0.0405])


def test_chained_scheduler_composes_multiplicatively() -> None:
    opt = sgd(1.0)
    s = ChainedScheduler([ConstantLR(opt, factor=0.1, total_iters=2), ExponentialLR(opt, 0.9)])
    assert_seq(first(run(s, 4)), [0.1, 0.09, 0.81, 0.729, 0.6561])


def test_chainable_rules_follow_manual_lr_changes() -> None:
    opt = sgd(1.0)
    s = ExponentialLR(opt, gamma=0.5)
    s.step()
    s.step()
    opt.param_groups[0]["lr"] = 1.0  # edit by hand: the next step decays from here
    s.step()
    assert s.get_last_lr() == [0.5]

    opt = sgd(1.0)
    s = StepLR(opt, step_size=2, gamma=0.1)
    s.step()
    opt.param_groups[0]["lr"] = 3.0
    s.step()
    assert s.get_last_lr() == [pytest.approx(0.3, rel=REL)]


def test_step_with_epoch_uses_closed_form_and_warns() -> None:
    opt = sgd(1.0)
    s = CosineAnnealingLR(opt, T_max=10)
    opt.param_groups[0]["lr"] = 123.0  # ignored by the closed form
    with pytest.warns(UserWarning, match="deprecated"):
        s.step(5)
    assert s.last_epoch == 5 and s.get_last_lr() == [pytest.approx(0.5, rel=REL)]

    s = MultiStepLR(sgd(1.0), milestones=[2, 4], gamma=0.1)
    with pytest.warns(UserWarning):
        s.step(4)
    assert s.get_last_lr() == [pytest.approx(0.01, rel=REL)]


def test_get_lr_outside_step_warns() -> None:
    opt = sgd(1.0)
    s = StepLR(opt, step_size=1)
    with pytest.warns(UserWarning, match="get_last_lr"):
        s.get_lr()
    opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.step()  # no warning from inside step
        s.step()


def test_scheduler_step_before_optimizer_step_warns_once_as_torch() -> None:
    opt = sgd(1.0)
    s = StepLR(opt, step_size=1)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        s.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.step()  # only the first step is checked
        opt.step()
        s.step()


# --------------------------------------------------------------------------------------------
# parameter groups, initial_lr, resuming
# --------------------------------------------------------------------------------------------


def test_multiple_groups_and_initial_lr() -> None:
    opt = sgd(1.0, 0.1)
    s = StepLR(opt, step_size=1, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == [1.0, 0.1]
    assert s.base_lrs == [1.0, 0.1]
    seq = run(s, 2)
    assert_seq([g[0] for g in seq], [1.0, 0.5, 0.25])
    assert_seq([g[1] for g in seq], [0.1, 0.05, 0.025])
    # a second scheduler on the same optimizer keeps the original base learning rates
    s2 = ExponentialLR(opt, gamma=0.9)
    assert s2.base_lrs == [1.0, 0.1]


def test_resume_with_last_epoch() -> None:
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(sgd(1.0), step_size=2, last_epoch=3)
    opt = sgd(0.25)
    opt.param_groups[0]["initial_lr"] = 1.0
    s = ExponentialLR(opt, gamma=0.5, last_epoch=1)
    # the construction step does not decay again (PyTorch >= 2.8 fixed this, issue 102261)
    assert s.get_last_lr() == [0.25] and s.base_lrs == [1.0]


class _Decay:
    """A callable object: its state is saved by LambdaLR.state_dict, unlike a plain lambda."""

    def __init__(self, gamma: float) -> None:
        self.gamma = gamma

    def __call__(self, epoch: int) -> float:
        return self.gamma**epoch


def _adam(lr: float = 0.1) -> Adam:
    return Adam([_param()], lr=lr)


FACTORIES: dict[str, Callable[[], Any]] = {
    "step": lambda: StepLR(sgd(1.0), step_size=3, gamma=0.5),
    "multistep": lambda: MultiStepLR(sgd(1.0), milestones=[4, 7, 7], gamma=0.5),
    "linear": lambda: LinearLR(sgd(1.0), start_factor=0.1, total_iters=8),
    "cosine": lambda: CosineAnnealingLR(sgd(1.0), T_max=6, eta_min=0.01),
    "warm_restarts": lambda: CosineAnnealingWarmRestarts(sgd(1.0), T_0=2, T_mult=2),
    "one_cycle": lambda: OneCycleLR(_adam(), max_lr=0.5, total_steps=20, three_phase=True),
    "lambda_obj": lambda: LambdaLR(sgd(1.0), lr_lambda=_Decay(0.8)),
    "sequential": lambda: (
        lambda o: SequentialLR(
            o, [LinearLR(o, 0.2, total_iters=3), CosineAnnealingLR(o, T_max=8)], [3]
        )
    )(sgd(1.0)),
    "chained": lambda: (lambda o: ChainedScheduler([StepLR(o, 2, 0.5), ExponentialLR(o, 0.9)]))(
        sgd(1.0)
    ),
    "plateau": lambda: ReduceLROnPlateau(sgd(1.0), factor=0.5, patience=1, cooldown=1),
}


def _lrs_and_momenta(opt: Any) -> list[Any]:
    return [(g["lr"], g.get("betas"), g.get("momentum")) for g in opt.param_groups]


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_state_dict_round_trip_resumes_same_sequence(name: str) -> None:
    metrics = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85]
    plateau = name == "plateau"

    def advance(sched: Any, n: int, offset: int) -> list[Any]:
        out = []
        for i in range(n):
            if plateau:
                sched.step(metrics[offset + i])
            else:
                sched.step()
            out.append(_lrs_and_momenta(sched.optimizer))
        return out

    s1 = FACTORIES[name]()
    advance(s1, 5, 0)
    opt_state = copy.deepcopy(s1.optimizer.state_dict())
    # through JSON: checkpoints store scheduler state as data, never as pickled objects
    sched_state = json.loads(json.dumps(s1.state_dict()))
    expected = advance(s1, 9, 5)
    assert len({lr for step in expected for lr, _, _ in step}) > 1  # the rate does change

    s2 = FACTORIES[name]()
    s2.optimizer.load_state_dict(opt_state)
    s2.load_state_dict(sched_state)
    assert advance(s2, 9, 5) == expected


def test_state_dict_is_a_snapshot() -> None:
    s = CosineAnnealingLR(sgd(1.0), T_max=5)
    state = s.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 0
    s.step()
    assert state["last_epoch"] == 0 and state["_last_lr"] == [1.0]


def test_lambda_state_dict_skips_plain_functions() -> None:
    opt = sgd(1.0, 1.0)
    s = LambdaLR(opt, lr_lambda=[lambda e: 1.0, _Decay(0.5)])
    assert s.state_dict()["lr_lambdas"] == [None, {"gamma": 0.5}]


# --------------------------------------------------------------------------------------------
# argument checking
# --------------------------------------------------------------------------------------------

BAD_ARGS: list[tuple[Callable[[SGD], Any], str]] = [
    (lambda o: StepLR(o, step_size=0), "step_size"),
    (lambda o: StepLR(o, step_size=2.5), "step_size"),
    (lambda o: MultiStepLR(o, milestones=[2, -1]), "milestone"),
    (lambda o: ExponentialLR(o, gamma=-0.5), "gamma"),
    (lambda o: ConstantLR(o, factor=1.5), "factor"),
    (lambda o: ConstantLR(o, factor=0.0), "factor"),
    (lambda o: LinearLR(o, start_factor=0.0), "Starting multiplicative factor"),
    (lambda o: LinearLR(o, end_factor=1.5), "Ending multiplicative factor"),
    (lambda o: LinearLR(o, total_iters=-1), "total_iters"),
    (lambda o: CosineAnnealingLR(o, T_max=0), "T_max"),
    (lambda o: CosineAnnealingLR(o, 10, "small"), "eta_min"),
    (lambda o: CosineAnnealingWarmRestarts(o, T_0=0), "T_0"),
    (lambda o: CosineAnnealingWarmRestarts(o, T_0=5, T_mult=0), "T_mult"),
    (lambda o: OneCycleLR(o, max_lr=1.0), "total_steps OR"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=0), "total_steps"),
    (lambda o: OneCycleLR(o, max_lr=1.0, epochs=2, steps_per_epoch=0), "steps_per_epoch"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=1.5), "pct_start"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=10, anneal_strategy="exp"), "anneal"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=10, div_factor=0), "div_factor"),
    (lambda o: OneCycleLR(o, max_lr=1.0, total_steps=10, pct_start=0.1), "phase 0 is empty"),
    (lambda o: LambdaLR(o, lr_lambda=[lambda e: 1.0] * 2), "lr_lambdas"),
    (lambda o: ReduceLROnPlateau(o, factor=1.0), "Factor"),
    (lambda o: ReduceLROnPlateau(o, mode="median"), "mode"),
    (lambda o: ReduceLROnPlateau(o, threshold_mode="pct"), "threshold mode"),
    (lambda o: ReduceLROnPlateau(o, patience=-1), "patience"),
    (lambda o: ReduceLROnPlateau(o, min_lr=[0.0, 0.0]), "min_lrs"),
    (lambda o: SequentialLR(o, [StepLR(o, 2)], milestones=[3]), "one more"),
    (lambda o: SequentialLR(o, [StepLR(o, 2), StepLR(o, 3), StepLR(o, 4)], [5, 5]), "increasing"),
    (lambda o: SequentialLR(o, [ReduceLROnPlateau(o), StepLR(o, 2)], [3]), "ReduceLROnPlateau"),
    (lambda o: SequentialLR(o, [StepLR(sgd(1.0), 2), StepLR(o, 2)], [3]), "same optimizer"),
    (lambda o: SequentialLR(o, [], []), "at least one"),
    (lambda o: ChainedScheduler([]), "at least one"),
    (lambda o: ChainedScheduler([StepLR(o, 2), ReduceLROnPlateau(o)]), "ReduceLROnPlateau"),
]


@pytest.mark.parametrize("make,match", BAD_ARGS)
def test_invalid_arguments_raise_value_error(make: Callable[[SGD], Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make(sgd(0.1))


def test_type_errors() -> None:
    with pytest.raises(TypeError, match="not an Optimizer"):
        StepLR("optimizer", step_size=2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="lr_lambda should be a function"):
        MultiplicativeLR(sgd(0.1), lr_lambda=0.9)  # type: ignore[arg-type]


def test_module_exports() -> None:
    import democratising.optim as optim

    assert optim.lr_scheduler is lr_scheduler
    for name in lr_scheduler.__all__:
        cls = getattr(lr_scheduler, name)
        assert cls is LRScheduler or issubclass(cls, LRScheduler)


def test_zero_total_iters_keeps_the_start_factor_as_torch() -> None:
    """``total_iters=0`` (a zero-length warm-up) is legal in PyTorch: the factor stays."""
    # torch 2.15: LinearLR's step(5) divides by zero (we keep the start); ConstantLR's gives 0.1.
    for make, factor, at_5 in (
        (lambda o: LinearLR(o, start_factor=0.25, total_iters=0), 0.25, 0.025),
        (lambda o: ConstantLR(o, factor=0.5, total_iters=0), 0.5, 0.1),
    ):
        opt = SGD([dm.zeros(1, requires_grad=True)], lr=0.1)
        s = make(opt)
        for _ in range(3):
            assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * factor)
            opt.step()
            s.step()
        with pytest.warns(UserWarning):  # step(epoch) is deprecated, as in PyTorch
            s.step(5)  # the closed form
        assert opt.param_groups[0]["lr"] == pytest.approx(at_5)
