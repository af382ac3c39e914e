"""Session 26 fixes of the training layer beyond the fuzz tests (tests/test_trainfuzz_s26.py):
the edges of each fix — what stays accepted, what is now refused and with which message — and
the parts the fuzz tests did not reach (DDP's ``no_sync`` on a stream's last group, the
float16 scaler on that group, validation-step models over no batches, ``OptimizerConfig`` in
``estimate_memory``, ``GradScaler`` argument types)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.amp import GradScaler
from democratising.data import DataLoader, TensorDataset
from democratising.errors import ArgumentTypeError, InvalidValueError
from democratising.train import (
    ConfigError,
    ModelCheckpoint,
    OptimizerConfig,
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


class _Stream:
    """``(x, y)`` in batches of ``bs``, in order, without ``len()``."""

    def __init__(self, x: dm.Tensor, y: dm.Tensor, bs: int) -> None:
        self.x, self.y, self.bs = x, y, bs

    def __iter__(self) -> Iterator[tuple[dm.Tensor, dm.Tensor]]:
        for i in range(0, int(self.x.shape[0]), self.bs):
            yield self.x[i : i + self.bs], self.y[i : i + self.bs]


# ---- predict and fit on inputs alone ------------------------------------------------------------


def test_predict_on_a_bare_tensor_batches_it_by_the_configured_size() -> None:
    x, _ = _data(10)
    m = _mlp()
    out = Trainer(m, _cfg(batch_size=4)).predict(x)
    assert [tuple(o.shape) for o in out] == [(4, 3), (4, 3), (2, 3)]


def test_fit_on_inputs_alone_says_the_target_is_missing() -> None:
    x, _ = _data(10)
    t = Trainer(_mlp(), _cfg(num_epochs=1, batch_size=4))
    for data in (x, TensorDataset(x)):
        with pytest.raises(ArgumentTypeError, match="inputs without a target"):
            t.fit(data)


# ---- evaluation over no batches -----------------------------------------------------------------


def test_fit_refuses_an_empty_validation_loader_before_training() -> None:
    x, y = _data(20)
    m = _mlp()
    before = _weights(m)
    t = Trainer(m, _cfg(num_epochs=2, batch_size=8))
    empty = DataLoader(TensorDataset(x[:5], y[:5]), batch_size=8, drop_last=True)
    with pytest.raises(InvalidValueError, match="validation data yielded no batches"):
        t.fit((x, y), empty)
    after = _weights(m)
    assert all(np.array_equal(before[k], after[k]) for k in before) and t.history == {}


def test_a_validation_step_model_over_no_batches_raises_too() -> None:
    class Lit(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(5, 3)

        def forward(self, x: dm.Tensor) -> dm.Tensor:
            return self.lin(x)

        def validation_step(self, batch: Any, i: int) -> dict[str, Any]:
            x, y = batch
            return {"loss": nn.functional.cross_entropy(self(x), y)}

    x, y = _data(8)
    t = Trainer(Lit(), _cfg(batch_size=4))
    assert t.evaluate((x, y))["loss"] > 0
    with pytest.raises(InvalidValueError, match="no batches"):
        t.evaluate([])


# ---- accumulation over a stream -----------------------------------------------------------------


def test_a_streams_last_short_group_ends_with_a_synchronising_backward() -> None:
    events: list[str] = []

    class FakeDDP(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.module = _mlp()

        def forward(self, x: dm.Tensor) -> dm.Tensor:
            return self.module(x)

        @contextlib.contextmanager
        def no_sync(self) -> Iterator[None]:
            events.append("no_sync")
            yield

    x, y = _data(40)
    t = Trainer(FakeDDP(), _cfg(num_epochs=1, accumulation_steps=2, batch_size=8))
    t.fit(_Stream(x, y, 8))  # 5 batches: groups of 2, 2, 1
    # Only the first batch of each full group is local; the lone last batch synchronises.
    assert events.count("no_sync") == 2 and t.global_step == 3


def test_float16_accumulation_over_a_stream_matches_the_same_batches_with_len() -> None:
    x, y = _data(40)
    kw: dict[str, Any] = dict(
        num_epochs=2,
        batch_size=8,
        accumulation_steps=3,  # groups of 3 and 2 each epoch
        amp="float16",
        max_grad_norm=1.0,
        optimizer=OptimizerConfig.SGD(momentum=0.9),
        learning_rate=0.1,
        shuffle=False,
    )
    a, b = _mlp(), _mlp()
    ta = Trainer(a, _cfg(**kw))
    ta.fit((x, y))
    tb = Trainer(b, _cfg(**kw))
    tb.fit(_Stream(x, y, 8))
    assert ta.global_step == tb.global_step == 4
    wa, wb = _weights(a), _weights(b)
    for k in wa:  # float16 rounding apart (dividing a group by 3 instead of 2 moves ~1e-2)
        np.testing.assert_allclose(wa[k], wb[k], rtol=1e-3, atol=1e-4)


# ---- estimate_memory ----------------------------------------------------------------------------


def test_estimate_memory_by_name_is_the_optimizer_with_its_defaults() -> None:
    m = nn.Linear(100, 10)
    n = 100 * 10 + 10
    assert estimate_memory(m, optimizer="sgd").optimizer_state == 0
    assert estimate_memory(m, optimizer=dm.optim.SGD(m.parameters(), lr=0.1)).optimizer_state == 0
    momentum = OptimizerConfig.SGD(momentum=0.9)
    assert estimate_memory(m, optimizer=momentum).optimizer_state == 4 * n
    assert estimate_memory(m, optimizer=OptimizerConfig.Adam(amsgrad=True)).optimizer_state == (
        3 * 4 * n
    )
    e = estimate_memory(m, optimizer=TrainingConfig().optimizer)
    assert (e.optimizer, e.optimizer_state) == ("Adam", 2 * 4 * n)


def test_estimate_memory_normalises_amp_and_checks_it_without_a_batch() -> None:
    m = nn.Linear(100, 10)
    assert estimate_memory(m, amp="bf16").amp == "bfloat16"
    assert "AMP float16" in str(estimate_memory(m, amp=True))
    assert estimate_memory(m, amp="32").amp is None
    with pytest.raises(InvalidValueError, match="amp must be"):
        estimate_memory(m, amp="fp8")


# ---- monitors -----------------------------------------------------------------------------------


def test_model_checkpoint_monitor_none_is_the_default_and_0_is_refused(tmp_path: Path) -> None:
    assert ModelCheckpoint(str(tmp_path), monitor=None).mode == "min"
    with pytest.raises(ArgumentTypeError, match="monitor must be a metric name"):
        ModelCheckpoint(str(tmp_path), monitor=0)  # type: ignore[arg-type]


# ---- GradScaler arguments -----------------------------------------------------------------------


def test_grad_scaler_arguments_are_typed_and_whole_intervals_accepted() -> None:
    assert GradScaler(growth_interval=100.0).get_growth_interval() == 100
    assert GradScaler(init_scale=np.float32(8.0)).get_scale() == 8.0
    with pytest.raises(ArgumentTypeError, match="growth_interval"):
        GradScaler(growth_interval=True)
    with pytest.raises(ArgumentTypeError, match="init_scale"):
        GradScaler(init_scale=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="init_scale"):
        GradScaler(init_scale=-2.0)
    s = GradScaler()
    with pytest.raises(InvalidValueError, match="growth_interval"):
        s.set_growth_interval(2.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidValueError, match="growth_interval"):
        s.growth_interval(0)


def test_a_scale_backed_off_to_zero_skips_steps_without_dividing_by_zero() -> None:
    s = GradScaler(init_scale=2.0**-149, backoff_factor=0.5)  # float32's smallest
    p = nn.Parameter(dm.ones(3))
    opt = dm.optim.SGD([p], lr=0.1)
    for _ in range(2):
        s.scale((p * float("inf")).sum()).backward()
        s.step(opt)
        s.update()
        opt.zero_grad()
    assert s.get_scale() == 0.0
    np.testing.assert_array_equal(p.detach().numpy(), np.ones(3, dtype=np.float32))


# ---- config overrides and text ------------------------------------------------------------------


def test_kind_switch_resets_the_base_but_keeps_the_lists_values_in_any_order() -> None:
    cfg = TrainingConfig(optimizer=OptimizerConfig.Adam(weight_decay=0.1))
    # "optimizer=sgd" is Hydra's group choice: SGD's defaults, whatever the base had...
    assert cfg.with_overrides(["optimizer=sgd"]).optimizer == OptimizerConfig.SGD()
    # ...while "optimizer.name=sgd" keeps the base's settings SGD also has.
    assert cfg.with_overrides(["optimizer.name=sgd"]).optimizer.weight_decay == 0.1
    want = OptimizerConfig.SGD(momentum=0.9, nesterov=True)
    for order in (
        ["optimizer.nesterov=true", "optimizer.momentum=0.9", "optimizer=sgd"],
        ["optimizer=sgd", "optimizer.momentum=0.9", "optimizer.nesterov=true"],
        ["optimizer.momentum=0.9", "optimizer.name=sgd", "optimizer.nesterov=true"],
    ):
        got = cfg.with_overrides(order).optimizer
        assert got.momentum == want.momentum and got.nesterov
    with pytest.raises(ConfigError, match="beta1"):
        cfg.with_overrides(["optimizer.beta1=0.5", "optimizer=sgd"])
    with pytest.raises(ConfigError, match=r"scheduler\.name first"):
        cfg.with_overrides(["scheduler.step_size=3", "scheduler=none"])
    sched = cfg.with_overrides(["scheduler.step_size=3", "scheduler=StepLR"]).scheduler
    assert sched is not None and sched.step_size == 3


def test_from_json_reads_non_object_text_as_text() -> None:
    for text in ("[1, 2]", " [] "):
        with pytest.raises(ConfigError, match="config text must hold a table/object"):
            TrainingConfig.from_json(text)
    assert TrainingConfig.from_json('{"num_epochs": 2}').num_epochs == 2
