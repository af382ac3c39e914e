"""Session 26 acceptance fuzzing of ``democratising.train`` (training guide + API.md "Training",
"Checkpoints", "Command line", "Mixed precision", "Data"), written as a new user would.

The first tests state the correct behaviour of bugs this fuzzing found (fixed in session 26:
predict on inputs alone, evaluation over no batches, ``estimate_memory``'s ``amp`` and L-BFGS,
non-text monitors, ``GradScaler`` arguments, kind-switch overrides, ``history["lr"]``, and
accumulation over a loader without ``len()``); the others pin behaviour that works and that
no other test covered: the
trainer's real float16 ``GradScaler`` skipping an inf step, per-batch scheduling counted in
optimizer steps under accumulation, ``estimate_memory``'s per-optimizer accounting,
sample-weighted evaluation, and a failed resume leaving the trainer untouched."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.amp import GradScaler
from democratising.data import DataLoader, TensorDataset
from democratising.errors import CheckpointError
from democratising.train import (
    EarlyStopping,
    ModelCheckpoint,
    OptimizerConfig,
    SchedulerConfig,
    Trainer,
    TrainingConfig,
    estimate_memory,
)


def _data(n: int = 40, seed: int = 0) -> tuple[dm.Tensor, dm.Tensor]:
    rng = np.random.default_rng(seed)
    x = dm.tensor(rng.standard_normal((n, 5)).astype(np.float32))
    y = dm.tensor(rng.integers(0, 3, n).astype(np.int64))
    return x, y


def _mlp(seed: int = 1) -> nn.Module:
    dm.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))


def _cfg(**kw: Any) -> TrainingConfig:
    base: dict[str, Any] = dict(verbose=False, progress=False, model_summary=False)
    base.update(kw)
    return TrainingConfig(**base)


def _weights(m: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in m.state_dict().items()}


# ---- bugs found and fixed ----------------------------------------------------------------


def test_predict_on_a_dataset_of_inputs_alone() -> None:
    x, _ = _data(5)
    m = _mlp()
    t = Trainer(m, _cfg(batch_size=2))
    expected = m(x).detach().numpy()
    for data in (TensorDataset(x), DataLoader(TensorDataset(x), batch_size=2)):
        out = t.predict(data, concat=True)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_predict_on_a_bare_tensor_is_batched_or_refused() -> None:
    x, _ = _data(5)
    m = _mlp()
    t = Trainer(m, _cfg(batch_size=32))
    try:
        out = t.predict(x, concat=True)
    except TypeError:
        return  # refusing a bare tensor with a typed error is acceptable too
    assert tuple(out.shape) == (5, 3)


def test_evaluate_over_no_batches_reports_no_fake_zero_loss() -> None:
    x, y = _data(20)
    t = Trainer(_mlp(), _cfg(batch_size=8))
    empty = DataLoader(TensorDataset(x[:5], y[:5]), batch_size=8, drop_last=True)
    try:
        result = t.evaluate(empty)
    except ValueError:
        return
    assert math.isnan(result["loss"])


def test_estimate_memory_takes_the_configs_amp_spellings() -> None:
    m = nn.Linear(100, 10)
    want = estimate_memory(m, (8, 100), amp="bfloat16").activations
    for amp in ("bf16", dm.bfloat16, "bf16-mixed"):
        assert estimate_memory(m, (8, 100), amp=amp).activations == want
    for bad in ("fp8", "float64", "int64"):
        with pytest.raises(ValueError, match="amp"):
            estimate_memory(m, (8, 100), amp=bad)


def test_callbacks_reject_a_monitor_that_is_not_a_string(tmp_path: Path) -> None:
    for bad in (3, None):
        with pytest.raises(TypeError, match="monitor"):
            EarlyStopping(2, monitor=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="monitor"):
        ModelCheckpoint(str(tmp_path), monitor=3)  # type: ignore[arg-type]


def test_grad_scaler_rejects_an_unusable_init_scale() -> None:
    for bad in (0.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="init_scale"):
            GradScaler(init_scale=bad)
        with pytest.raises(ValueError, match="init_scale"):
            GradScaler().init_scale(bad)


def test_grad_scaler_rejects_a_fractional_growth_interval() -> None:
    with pytest.raises((ValueError, TypeError), match="growth_interval"):
        GradScaler(growth_interval=1.5)  # type: ignore[arg-type]


def test_estimate_memory_counts_lbfgs_by_name_as_by_instance() -> None:
    m = nn.Linear(100, 10)
    by_instance = estimate_memory(m, optimizer=dm.optim.LBFGS(m.parameters())).optimizer_state
    assert by_instance > 0
    assert estimate_memory(m, optimizer="lbfgs").optimizer_state == by_instance


def test_an_earlier_optimizer_override_survives_a_later_kind_switch() -> None:
    cfg = TrainingConfig()
    after = cfg.with_overrides(["optimizer=sgd", "optimizer.weight_decay=0.1"])
    assert after.optimizer.weight_decay == 0.1
    try:
        before = cfg.with_overrides(["optimizer.weight_decay=0.1", "optimizer=sgd"])
    except ValueError as e:  # refusing the order, naming the lost key, is acceptable too
        assert "weight_decay" in str(e)
        return
    assert before == after


def test_history_lr_is_the_rate_at_each_epochs_start_for_per_batch_schedules() -> None:
    x, y = _data(40)  # 4 batches of 10: 4 optimizer steps an epoch, 8 in all
    sched = SchedulerConfig.CosineAnnealing(T_max=None, eta_min=0.0, interval="batch")
    cfg = _cfg(num_epochs=2, batch_size=10, learning_rate=0.1, scheduler=sched)
    h = Trainer(_mlp(), cfg).fit((x, y))
    want = [0.05 * (1 + math.cos(math.pi * k / 8)) for k in (0, 4)]
    np.testing.assert_allclose(h["lr"], want, atol=1e-9)


class _NoLen:
    """The same batches as a DataLoader over ``(x, y)`` without shuffling, but no ``len()``."""

    def __init__(self, x: dm.Tensor, y: dm.Tensor, bs: int) -> None:
        self.x, self.y, self.bs = x, y, bs

    def __iter__(self) -> Iterator[tuple[dm.Tensor, dm.Tensor]]:
        for i in range(0, int(self.x.shape[0]), self.bs):
            yield self.x[i : i + self.bs], self.y[i : i + self.bs]


def test_accumulation_leftover_group_is_the_same_with_or_without_len() -> None:
    x, y = _data(40)  # 5 batches of 8, accumulation 2: groups of 2, 2, 1
    kw: dict[str, Any] = dict(
        num_epochs=1,
        batch_size=8,
        accumulation_steps=2,
        optimizer=OptimizerConfig.SGD(),
        learning_rate=0.1,
        shuffle=False,
    )
    a, b = _mlp(), _mlp()
    Trainer(a, _cfg(**kw)).fit((x, y))
    Trainer(b, _cfg(**kw)).fit(_NoLen(x, y, 8))
    wa, wb = _weights(a), _weights(b)
    for k in wa:
        np.testing.assert_allclose(wa[k], wb[k], rtol=1e-6, atol=1e-7)


# ---- working behaviour not covered elsewhere ---------------------------------------------------


class _InfOnce(nn.Module):
    """A linear model whose second forward returns inf, as an fp16 overflow would."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(5, 3)
        self.calls = 0

    def forward(self, x: dm.Tensor) -> dm.Tensor:
        self.calls += 1
        out = self.lin(x)
        return out * float("inf") if self.calls == 2 else out


def test_float16_trainer_skips_an_inf_step_and_backs_off_the_scale() -> None:
    x, y = _data(40)
    dm.manual_seed(0)
    m = _InfOnce()
    cfg = _cfg(num_epochs=1, batch_size=20, amp="float16", shuffle=False, learning_rate=0.1)
    t = Trainer(m, cfg)
    t.fit((x, y))
    assert np.isfinite(m.lin.weight.detach().numpy()).all()
    assert t.scaler.get_scale() == 2.0**15  # one backoff from 2**16, no growth in 2 steps


def test_per_batch_cosine_counts_optimizer_steps_under_accumulation() -> None:
    x, y = _data(40)  # 4 batches of 10, accumulation 2: 2 optimizer steps an epoch, 6 in all
    lrs: list[float] = []

    class Rec(dm.train.Callback):
        def on_batch_end(self, trainer: Trainer, i: int, logs: dict[str, Any]) -> None:
            if i % 2 == 1:  # after an optimizer step (and its scheduler step)
                lrs.append(trainer.optimizer.param_groups[0]["lr"])

    sched = SchedulerConfig.CosineAnnealing(T_max=None, eta_min=0.0, interval="batch")
    cfg = _cfg(
        num_epochs=3,
        batch_size=10,
        accumulation_steps=2,
        learning_rate=0.1,
        optimizer=OptimizerConfig.SGD(),
        scheduler=sched,
    )
    Trainer(_mlp(), cfg, callbacks=[Rec()]).fit((x, y))
    want = [0.05 * (1 + math.cos(math.pi * k / 6)) for k in range(1, 7)]
    np.testing.assert_allclose(lrs, want, atol=1e-9)


def test_estimate_memory_counts_parameters_gradients_and_optimizer_state() -> None:
    dm.manual_seed(0)
    m = nn.Sequential(nn.Linear(100, 50), nn.ReLU(), nn.Linear(50, 10))
    n = 100 * 50 + 50 + 50 * 10 + 10
    for opt, per in (("adam", 2), ("adamw", 2), ("rmsprop", 1), ("adagrad", 1)):
        e = estimate_memory(m, optimizer=opt)
        assert (e.parameters, e.gradients, e.optimizer_state) == (4 * n, 4 * n, 4 * n * per)
        assert e.activations == 0 and e.total == 4 * n * (2 + per)
    plain = dm.optim.SGD(m.parameters(), lr=0.1)
    assert estimate_memory(m, optimizer=plain).optimizer_state == 0
    momentum = dm.optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    assert estimate_memory(m, optimizer=momentum).optimizer_state == 4 * n
    amsgrad = dm.optim.Adam(m.parameters(), amsgrad=True)
    assert estimate_memory(m, optimizer=amsgrad).optimizer_state == 3 * 4 * n
    shaped = estimate_memory(m, (32, 100))
    assert (
        shaped.activations > 0
        and shaped.activations == estimate_memory(m, dm.randn(32, 100)).activations
    )
    m[0].weight.requires_grad_(False)
    frozen = estimate_memory(m)
    assert frozen.parameters == 4 * n and frozen.gradients == 4 * (n - 5000)


def test_evaluate_is_the_sample_weighted_mean_over_uneven_batches() -> None:
    x, y = _data(10)
    m = _mlp()
    t = Trainer(m, _cfg(batch_size=4))  # batches of 4, 4, 2
    r = t.evaluate((x, y))
    full = nn.CrossEntropyLoss()(m(x), y).item()
    assert r["loss"] == pytest.approx(full, rel=1e-5)
    assert r["accuracy"] == pytest.approx((m(x).argmax(1) == y).float().mean().item())


def test_a_corrupt_resume_leaves_model_epoch_and_history_untouched(tmp_path: Path) -> None:
    x, y = _data(40)
    t = Trainer(_mlp(), _cfg(num_epochs=1, checkpoint_dir=str(tmp_path / "ck")))
    t.fit((x, y))
    good = t.find_last_checkpoint()
    assert good is not None
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(Path(good).read_bytes()[:-100])
    m = _mlp(seed=3)
    before = _weights(m)
    t2 = Trainer(m, _cfg(num_epochs=3))
    with pytest.raises(CheckpointError):
        t2.fit((x, y), resume_from=bad)
    after = _weights(m)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert (t2.epoch, t2.global_step, t2.history) == (0, 0, {})


def test_early_stopping_in_max_mode_keeps_the_best_accuracy_weights() -> None:
    x, y = _data(40)
    es = EarlyStopping(patience=1, monitor="val_accuracy")
    assert es.mode == "max"
    cfg = _cfg(num_epochs=30, learning_rate=5.0, batch_size=8, optimizer=OptimizerConfig.SGD())
    t = Trainer(_mlp(), cfg, callbacks=[es])
    h = t.fit((x, y), (x[:12], y[:12]))
    best = max(h["val_accuracy"])
    assert es.best_score == best
    assert es.best_epoch == 1 + h["val_accuracy"].index(best)
    assert t.evaluate((x[:12], y[:12]))["accuracy"] == pytest.approx(best)
