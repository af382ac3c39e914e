"""Trainer: accumulation, clipping, schedulers, callbacks, AMP pass-through, distributed
awareness, bit-identical resume, and the batch-size search."""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest

import democratising as dm
from democratising import _ranks, nn
from democratising.checkpoint import Checkpoint, CheckpointError
from democratising.data import DataLoader, TensorDataset
from democratising.optim import SGD
from democratising.train import (
    Callback,
    ConfigError,
    EarlyStopping,
    LRLogger,
    MemoryLimitError,
    MetricsLogger,
    ModelCheckpoint,
    OptimizerConfig,
    SchedulerConfig,
    Trainer,
    TrainingConfig,
    find_batch_size,
    latest_checkpoint,
    search_batch_size,
    train_with_config,
)
from helpers import FakeWorld


def _params(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: np.array(v.numpy(), copy=True) for k, v in model.state_dict().items()}


def _mlp(seed: int = 0, dropout: bool = False) -> nn.Sequential:
    dm.manual_seed(seed)
    layers: list[nn.Module] = [nn.Dense(64, 32), nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(0.2))
    return nn.Sequential(*layers, nn.Dense(32, 10))


@pytest.fixture(scope="module")
def digits() -> TensorDataset:
    x, y = dm.datasets.digits()
    return TensorDataset(x[:320], y[:320])


def _quiet(**kw: Any) -> TrainingConfig:
    return TrainingConfig(verbose=False, **kw)


# ---- gradient accumulation and clipping ------------------------------------------------------


def _regression(n: int) -> TensorDataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5))
    y = x @ rng.normal(size=(5, 1)) + 0.1 * rng.normal(size=(n, 1))
    return TensorDataset(dm.tensor(x), dm.tensor(y))


def _linear() -> nn.Dense:
    dm.manual_seed(3)
    return nn.Dense(5, 1).double()


def test_accumulating_four_batches_of_8_equals_one_batch_of_32() -> None:
    data = _regression(32)
    results = []
    for bs, acc in ((32, 1), (8, 4)):
        model = _linear()
        cfg = _quiet(
            batch_size=bs,
            accumulation_steps=acc,
            num_epochs=1,
            learning_rate=0.1,
            optimizer=OptimizerConfig.SGD(),
            shuffle=False,
        )
        t = Trainer(model, cfg, loss_fn=nn.MSELoss())
        t.fit(data)
        assert t.global_step == 1
        results.append(_params(model))
    for k in results[0]:
        np.testing.assert_allclose(results[1][k], results[0][k], rtol=1e-12, atol=1e-14)


def test_last_shorter_group_averages_its_own_batches() -> None:
    data = _regression(40)  # 5 batches of 8, accumulation 3: groups of 3 and 2 batches
    model = _linear()
    cfg = _quiet(
        batch_size=8,
        accumulation_steps=3,
        num_epochs=1,
        learning_rate=0.1,
        optimizer=OptimizerConfig.SGD(),
        shuffle=False,
    )
    t = Trainer(model, cfg, loss_fn=nn.MSELoss())
    t.fit(data)
    assert t.global_step == 2
    ref = _linear()
    opt = SGD(ref.parameters(), lr=0.1)
    x, y = data.tensors
    for lo, hi in ((0, 24), (24, 40)):
        nn.MSELoss()(ref(x[lo:hi]), y[lo:hi]).backward()
        opt.step()
        opt.zero_grad()
    for k, v in _params(ref).items():
        np.testing.assert_allclose(_params(model)[k], v, rtol=1e-12, atol=1e-14)


def test_gradient_clipping_bounds_the_update() -> None:
    data = _regression(16)
    x, y = data.tensors
    model = _linear()
    before = _params(model)
    cfg = _quiet(
        batch_size=16,
        num_epochs=1,
        learning_rate=1.0,
        optimizer=OptimizerConfig.SGD(),
        max_grad_norm=0.01,
        shuffle=False,
    )
    Trainer(model, cfg, loss_fn=nn.MSELoss()).fit(data)
    delta = np.concatenate([(_params(model)[k] - before[k]).ravel() for k in before])
    assert np.linalg.norm(delta) == pytest.approx(0.01, rel=1e-4)
    ref = _linear()
    nn.MSELoss()(ref(x), y).backward()
    norm = np.sqrt(sum(float((p.grad.numpy() ** 2).sum()) for p in ref.parameters()))
    assert norm > 0.1  # the clip really was active


# ---- schedulers ------------------------------------------------------------------------------


def test_epoch_scheduler_steps_once_per_epoch(digits: TensorDataset) -> None:
    cfg = _quiet(
        num_epochs=4,
        learning_rate=0.1,
        optimizer=OptimizerConfig.SGD(momentum=0.9),
        scheduler=SchedulerConfig.StepLR(step_size=2, gamma=0.5),
    )
    t = Trainer(_mlp(), cfg)
    t.fit(digits)
    assert t.history["lr"] == pytest.approx([0.1, 0.1, 0.05, 0.05])
    assert t.scheduler.last_epoch == 4


def test_onecycle_steps_per_optimizer_step(digits: TensorDataset) -> None:
    cfg = _quiet(
        num_epochs=2,
        batch_size=32,
        accumulation_steps=3,
        scheduler=SchedulerConfig.OneCycle(max_lr=0.01),
    )
    lrs = LRLogger(every="batch")
    t = Trainer(_mlp(), cfg, callbacks=[lrs])
    t.fit(digits)  # 10 batches -> 4 optimizer steps per epoch; one more step would raise
    assert t.global_step == 8
    assert t.scheduler.total_steps == 8 and t.scheduler.last_epoch == 8
    seen = [lr[0] for _, lr in lrs.lrs]
    assert 0.009 < max(seen) <= 0.01 and min(seen) < 1e-5


def test_cosine_t_max_defaults_to_the_run_and_plateau_sees_val_loss(
    digits: TensorDataset,
) -> None:
    cfg = _quiet(num_epochs=3, scheduler=SchedulerConfig.CosineAnnealing(eta_min=1e-6))
    t = Trainer(_mlp(), cfg)
    t.fit(digits)
    assert t.scheduler.T_max == 3 and t.optimizer.param_groups[0]["lr"] == pytest.approx(1e-6)
    cfg = _quiet(num_epochs=2, scheduler=SchedulerConfig.ReduceLROnPlateau(patience=0))
    t = Trainer(_mlp(), cfg)
    t.fit(digits, digits)
    assert t.scheduler.best == pytest.approx(min(t.history["val_loss"]))


# ---- history, printing, progress -------------------------------------------------------------


def test_history_and_printed_lines(digits: TensorDataset, capsys: pytest.CaptureFixture) -> None:
    lines: list[str] = []
    t = Trainer(_mlp(), TrainingConfig(num_epochs=2), log=lines.append)
    hist = t.fit(DataLoader(digits, 32, shuffle=True, seed=0), digits)
    assert set(hist) >= {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert hist["epoch"] == [1, 2] and all(tp > 0 for tp in hist["throughput"])
    assert hist["loss"][1] < hist["loss"][0]
    assert 0 <= hist["accuracy"][0] <= 1
    summary = [ln for ln in lines if not ln.startswith("Epoch ")]
    lines = [ln for ln in lines if ln.startswith("Epoch ")]
    assert any("2,410 parameters (2,410 trainable" in ln for ln in summary), summary
    assert len(lines) == 2 and lines[0].startswith("Epoch 1/2: loss = ")
    assert "samples/s" in lines[0] and "val_accuracy" in lines[0]
    assert capsys.readouterr().err == ""  # no progress bar when stderr is not a terminal


def test_train_with_config_data_forms(digits: TensorDataset) -> None:
    cfg = _quiet(num_epochs=1, val_fraction=0.25)
    t = train_with_config(_mlp(), digits, cfg)
    assert "val_loss" in t.history
    x, y = digits.tensors
    t = train_with_config(_mlp(), (x, y), _quiet(num_epochs=1, val_fraction=0.0))
    assert "val_loss" not in t.history
    t = train_with_config(_mlp(), (DataLoader(digits, 64), None), _quiet(num_epochs=1))
    assert t.history["epoch"] == [1]


# ---- callbacks -------------------------------------------------------------------------------


def test_early_stopping_seed_semantics() -> None:
    model = nn.Dense(2, 1)
    es = EarlyStopping(patience=3)
    assert [es.step(model, v) for v in (1.0, 0.9, 0.95, 0.92, 0.91)] == [
        False,
        False,
        False,
        False,
        True,
    ]
    assert es.best_loss == 0.9 and es.counter == 3
    es = EarlyStopping(patience=2, min_delta=0.05)
    assert [es.step(model, v) for v in (1.0, 0.96, 0.90, 0.89, 0.88)] == [
        False,
        False,
        False,
        False,
        True,
    ]


def test_early_stopping_keeps_a_deep_copy_and_restores_it() -> None:
    model = nn.Dense(2, 1)
    es = EarlyStopping(patience=1)
    es.restore_best_model(model)  # nothing recorded yet: a no-op
    es.step(model, 1.0)
    best = _params(model)
    with dm.no_grad():
        model.weight.fill_(7.0)
    assert not np.array_equal(_params(model)["weight"], best["weight"])
    assert es.step(model, 2.0)
    es.restore_best_model(model)
    np.testing.assert_array_equal(_params(model)["weight"], best["weight"])


def test_early_stopping_as_a_callback_stops_and_restores(digits: TensorDataset) -> None:
    snapshots: dict[int, dict[str, np.ndarray]] = {}

    class Snap(Callback):
        def on_epoch_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
            snapshots[metrics["epoch"]] = _params(trainer.model)

    # "epoch" only grows, so it never improves after epoch 1: stop after 1 + patience epochs.
    es = EarlyStopping(patience=2, monitor="epoch", verbose=False)
    t = Trainer(_mlp(), _quiet(num_epochs=10), callbacks=[es, Snap()])
    t.fit(digits)
    assert t.epoch == 3 and es.stopped_epoch == 3 and es.best_epoch == 1
    for k, v in _params(t.model).items():
        np.testing.assert_array_equal(v, snapshots[1][k])


def test_model_checkpoint_every_keep_last_and_best(digits: TensorDataset, tmp_path: Path) -> None:
    mc = ModelCheckpoint(tmp_path / "ck", every=1, keep_last=2, monitor="val_loss")
    t = Trainer(_mlp(), _quiet(num_epochs=5), callbacks=[mc])
    t.fit(digits, digits)
    names = sorted(p.name for p in (tmp_path / "ck").iterdir())
    assert names == ["best.safetensors", "epoch_0004.safetensors", "epoch_0005.safetensors"]
    assert latest_checkpoint(tmp_path / "ck") == tmp_path / "ck" / "epoch_0005.safetensors"
    assert mc.best == pytest.approx(min(t.history["val_loss"]))
    t = Trainer(
        _mlp(), _quiet(num_epochs=5, checkpoint_dir=str(tmp_path / "c2"), checkpoint_every=2)
    )
    t.fit(digits)
    assert sorted(p.name for p in (tmp_path / "c2").iterdir()) == [
        "epoch_0002.safetensors",
        "epoch_0004.safetensors",
    ]


def test_metrics_and_lr_loggers(digits: TensorDataset, tmp_path: Path) -> None:
    lr_epoch, lr_batch = LRLogger(), LRLogger(every="batch")
    cbs = [
        MetricsLogger(tmp_path / "m.csv"),
        MetricsLogger(tmp_path / "m.jsonl"),
        lr_epoch,
        lr_batch,
    ]
    cfg = _quiet(num_epochs=3, scheduler=SchedulerConfig.ExponentialLR(gamma=0.5))
    Trainer(_mlp(), cfg, callbacks=cbs).fit(digits)
    with (tmp_path / "m.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and "loss" in rows[0]
    jl = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in jl] == pytest.approx([1e-3, 5e-4, 2.5e-4])
    assert [s for s, _ in lr_epoch.lrs] == [1, 2, 3]
    assert len(lr_batch.lrs) == 30 and lr_batch.lrs[-1][0] == 30


# ---- resume ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheduler", "amp"),
    [
        (SchedulerConfig.StepLR(step_size=1, gamma=0.7), None),
        (SchedulerConfig.OneCycle(), None),
        (SchedulerConfig.StepLR(step_size=1, gamma=0.7), "float16"),
    ],
)
def test_resume_is_bit_identical(
    digits: TensorDataset, tmp_path: Path, scheduler: SchedulerConfig, amp: Optional[str]
) -> None:
    if amp is not None:
        pytest.importorskip("democratising.amp")

    def config(ckdir: Optional[Path]) -> TrainingConfig:
        return _quiet(
            num_epochs=4,
            accumulation_steps=2,
            max_grad_norm=1.0,
            optimizer=OptimizerConfig.AdamW(),
            scheduler=scheduler,
            seed=11,
            amp=amp,
            checkpoint_dir=str(ckdir) if ckdir else None,
        )

    full = Trainer(_mlp(0, dropout=True), config(tmp_path / "a"), callbacks=[EarlyStopping(50)])
    full.fit(digits, digits)
    resumed = Trainer(_mlp(99, dropout=True), config(None), callbacks=[EarlyStopping(50)])
    resumed.fit(digits, digits, resume_from=tmp_path / "a" / "epoch_0002.safetensors")
    for k, v in _params(full.model).items():
        np.testing.assert_array_equal(_params(resumed.model)[k], v)
    for key in ("loss", "accuracy", "val_loss", "lr"):
        assert resumed.history[key] == full.history[key]
    assert resumed.global_step == full.global_step
    es_full, es_res = full.callbacks[0], resumed.callbacks[0]
    assert (es_res.counter, es_res.best_loss) == (es_full.counter, es_full.best_loss)
    # Resuming from a directory picks its newest checkpoint: nothing is left to train.
    done = Trainer(_mlp(5, dropout=True), config(None))
    done.fit(digits, digits, resume_from=tmp_path / "a")
    assert done.epoch == 4 and len(done.history["loss"]) == 4


def test_resumed_lambda_lr_takes_this_runs_function_from_the_first_step(
    digits: TensorDataset, tmp_path: Path
) -> None:
    # A LambdaLR written as a function of the planned steps (char_gpt's warm-up + cosine):
    # resumed with more epochs, the very first step already runs at the longer schedule's rate.
    from democratising.optim.lr_scheduler import LambdaLR

    class FirstLr(Callback):
        def __init__(self) -> None:
            self.lrs: list[float] = []

        def on_epoch_begin(self, trainer: Trainer, epoch: int) -> None:
            self.lrs.append(float(trainer.optimizer.param_groups[0]["lr"]))

    def run(epochs: int, resume: Optional[Path]) -> FirstLr:
        model = _mlp(0)
        opt = SGD(model.parameters(), lr=0.1)
        total = epochs * 10  # 320 samples, batch 32
        sched = LambdaLR(opt, lambda step: 1.0 - step / total)
        seen = FirstLr()
        cfg = _quiet(num_epochs=epochs, batch_size=32, checkpoint_dir=str(tmp_path / "a"))
        trainer = Trainer(
            model,
            cfg,
            optimizer=opt,
            scheduler=sched,
            scheduler_interval="batch",
            callbacks=[seen],
        )
        trainer.fit(digits, resume_from=resume)
        return seen

    assert run(2, None).lrs == pytest.approx([0.1, 0.05])
    longer = run(4, tmp_path / "a")
    assert longer.lrs == pytest.approx([0.1 * (1 - 20 / 40), 0.1 * (1 - 30 / 40)])


def _resume_config(ckdir: Optional[Path] = None, **kw: Any) -> TrainingConfig:
    return _quiet(
        num_epochs=kw.pop("num_epochs", 2),
        scheduler=SchedulerConfig.StepLR(step_size=1, gamma=0.5),
        seed=3,
        checkpoint_dir=str(ckdir) if ckdir else None,
        **kw,
    )


def _bad_trainer_meta(edit: Any) -> Any:
    def fn(ck: Any) -> None:
        edit(ck.extra["trainer"])

    return fn


_BAD_PCG64 = {
    "bit_generator": "PCG64",
    "state": {"state": -1, "inc": 1},
    "has_uint32": 0,
    "uinteger": 0,
}

#: Bad trainer metadata of a checkpoint that is otherwise valid and checksummed (anyone can
#: compute a checksum): each must be refused with CheckpointError naming the key.
BAD_RESUMES: dict[str, tuple[Any, str]] = {
    "trainer_not_dict": (lambda ck: ck.extra.update(trainer=[1, 2]), "'trainer' must be a dict"),
    "history_values_not_lists": (
        _bad_trainer_meta(lambda t: t.update(history={"loss": 5})),
        "trainer.history.loss",
    ),
    "history_not_dict": (_bad_trainer_meta(lambda t: t.update(history=[1])), "trainer.history"),
    "loader_without_rng": (_bad_trainer_meta(lambda t: t.update(loader={})), "trainer.loader"),
    "bad_pcg64_state": (
        _bad_trainer_meta(lambda t: t.update(loader={"rng": _BAD_PCG64})),
        "trainer.loader",
    ),
    "pcg64_wrong_generator": (
        _bad_trainer_meta(
            lambda t: t.update(loader={"rng": {**_BAD_PCG64, "bit_generator": "MT"}})
        ),
        "trainer.loader",
    ),
    "config_not_dict": (_bad_trainer_meta(lambda t: t.update(config="x")), "trainer.config"),
    "global_step_negative": (
        _bad_trainer_meta(lambda t: t.update(global_step=-5)),
        "trainer.global_step",
    ),
    "callbacks_not_dict": (_bad_trainer_meta(lambda t: t.update(callbacks=3)), "callbacks"),
    "early_stopping_counter_str": (
        _bad_trainer_meta(lambda t: t["callbacks"]["0:EarlyStopping"].update(counter="2")),
        "EarlyStopping",
    ),
    "early_stopping_wrong_shapes": (
        _bad_trainer_meta(
            lambda t: t["callbacks"]["0:EarlyStopping"].update(
                best_model_state={"0.weight": dm.zeros(2)}
            )
        ),
        "best_model_state",
    ),
    "lr_is_a_string": (
        lambda ck: ck.optimizer_state["param_groups"][0].update(lr="0.1"),
        "'lr' must be a finite number",
    ),
    "optimizer_state_without_step": (
        lambda ck: ck.optimizer_state["state"][0].pop("step"),
        "missing keys \\['step'\\]",
    ),
    "epoch_negative": (lambda ck: setattr(ck, "epoch", -1), "'epoch' must be an int"),
    "epoch_huge": (lambda ck: setattr(ck, "epoch", 10**30), "'epoch' must be an int"),
    "scheduler_last_epoch_str": (
        lambda ck: ck.scheduler_state.update(last_epoch="1"),
        "last_epoch must be a number",
    ),
}


@pytest.fixture(scope="module")
def resume_source(digits: TensorDataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    ckdir = tmp_path_factory.mktemp("resume_source")
    Trainer(_mlp(0), _resume_config(ckdir, num_epochs=1), callbacks=[EarlyStopping(5)]).fit(
        digits, digits
    )
    return ckdir / "epoch_0001.safetensors"


def _trainer_state(t: Trainer) -> dict[str, Any]:
    opt = t.optimizer.state_dict()
    return {
        "params": _params(t.model),
        "opt_state": {
            (i, k): (v.numpy().copy() if isinstance(v, dm.Tensor) else v)
            for i, st in opt["state"].items()
            for k, v in st.items()
        },
        "opt_groups": opt["param_groups"],
        "scheduler": t.scheduler.state_dict(),
        "rng": dm.get_rng_state().tolist(),
        "loader": json.dumps(t.train_loader.state_dict()),
        "counters": (t.epoch, t.global_step, json.dumps(t.history)),
        "es": (t.callbacks[0].counter, t.callbacks[0].best_loss),
    }


def _assert_same_state(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for k in a["params"]:
        np.testing.assert_array_equal(a["params"][k], b["params"][k])
    assert a["opt_state"].keys() == b["opt_state"].keys()
    for k in a["opt_state"]:
        np.testing.assert_array_equal(a["opt_state"][k], b["opt_state"][k])
    for key in ("opt_groups", "scheduler", "rng", "loader", "counters", "es"):
        assert a[key] == b[key], key


@pytest.mark.parametrize("case", sorted(BAD_RESUMES))
def test_bad_resume_metadata_raises_and_changes_nothing(
    case: str, resume_source: Path, digits: TensorDataset, tmp_path: Path
) -> None:
    edit, match = BAD_RESUMES[case]
    ck = Checkpoint.load(resume_source)
    edit(ck)
    bad = tmp_path / "bad.safetensors"
    ck.save(bad)
    # A trainer in the middle of its own run, with state in every part.
    trainer = Trainer(_mlp(7), _resume_config(num_epochs=1), callbacks=[EarlyStopping(5)])
    trainer.fit(digits, digits)
    dm.manual_seed(1234)
    before = _trainer_state(trainer)
    with pytest.raises(CheckpointError, match=match):
        trainer.load_checkpoint(bad)
    _assert_same_state(before, _trainer_state(trainer))
    # The same through fit(): refused before any epoch runs.
    trainer.config.num_epochs = 5
    with pytest.raises(CheckpointError, match=match):
        trainer.fit(digits, digits, resume_from=bad)
    assert trainer.epoch == 1 and _params(trainer.model).keys() == before["params"].keys()
    for k, v in before["params"].items():
        np.testing.assert_array_equal(_params(trainer.model)[k], v)


def test_user_callback_failing_to_load_rolls_everything_back(
    resume_source: Path, digits: TensorDataset
) -> None:
    """A callback whose own ``load_state_dict`` fails after validation: the whole resume is
    rolled back, not left half applied."""

    class Fragile(Callback):
        def state_dict(self) -> dict[str, Any]:
            return {"x": 1}

        def load_state_dict(self, state: dict[str, Any]) -> None:
            raise RuntimeError("cannot load")

    trainer = Trainer(
        _mlp(7), _resume_config(num_epochs=1), callbacks=[EarlyStopping(5), Fragile()]
    )
    trainer.fit(digits, digits)
    ck = Checkpoint.load(resume_source)
    ck.extra["trainer"]["callbacks"]["1:Fragile"] = {"x": 2}
    trainer_state = _trainer_state(trainer)
    path = resume_source.parent / "fragile.safetensors"
    ck.save(path)
    with pytest.raises(CheckpointError, match="cannot load"):
        trainer.load_checkpoint(path)
    _assert_same_state(trainer_state, _trainer_state(trainer))


def test_resume_never_takes_settings_or_paths_from_the_checkpoint(
    resume_source: Path, digits: TensorDataset, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    for i in range(1, 4):
        (victim / f"epoch_{i:04d}.safetensors").write_bytes(b"precious")
    ck = Checkpoint.load(resume_source)
    ck.extra["trainer"]["config"].update(
        checkpoint_dir=str(victim), keep_last=1, batch_size=7, num_epochs=9
    )
    evil = tmp_path / "evil.safetensors"
    ck.save(evil)
    logs: list[str] = []
    mine = tmp_path / "mine"
    cfg = TrainingConfig(
        num_epochs=3,
        scheduler=SchedulerConfig.StepLR(step_size=1, gamma=0.5),
        seed=3,
        checkpoint_dir=str(mine),
        keep_last=2,
    )
    trainer = Trainer(_mlp(0), cfg, callbacks=[EarlyStopping(5)], log=logs.append)
    trainer.fit(digits, digits, resume_from=evil)
    assert trainer.epoch == 3 and trainer.config.batch_size == 32
    assert sorted(p.name for p in victim.iterdir()) == [
        "epoch_0001.safetensors",
        "epoch_0002.safetensors",
        "epoch_0003.safetensors",
    ]
    assert all(p.read_bytes() == b"precious" for p in victim.iterdir())
    assert sorted(p.name for p in mine.iterdir()) == [
        "epoch_0002.safetensors",
        "epoch_0003.safetensors",
    ]
    notes = [line for line in logs if line.startswith("Note:")]
    assert len(notes) == 1 and "batch_size" in notes[0] and str(victim) not in notes[0]


def test_unverified_resume_needs_allow_unverified(
    resume_source: Path, digits: TensorDataset, tmp_path: Path
) -> None:
    blob = resume_source.read_bytes()
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8 : 8 + n])
    meta = header["__metadata__"]
    del meta["democratising.sha256"]
    doc = json.loads(meta["democratising"])
    del doc["checksum"]
    meta["democratising"] = json.dumps(doc)
    raw = json.dumps(header).encode()
    path = tmp_path / "unverified.safetensors"
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + blob[8 + n :])
    trainer = Trainer(_mlp(0), _resume_config(num_epochs=2), callbacks=[EarlyStopping(5)])
    with pytest.raises(CheckpointError, match="unverified"):
        trainer.fit(digits, digits, resume_from=path)
    with pytest.warns(UserWarning, match="unverified"):
        trainer.fit(digits, digits, resume_from=path, allow_unverified=True)
    assert trainer.epoch == 2


def test_ddp_checkpoint_resumes_in_one_process_and_back(
    resume_source: Path, digits: TensorDataset, tmp_path: Path
) -> None:
    """A real DistributedDataParallel run (a world of one, in a subprocess so that MPI is not
    initialised here) writes ``module.`` keys; a plain trainer resumes from it, and a DDP
    trainer resumes from a plain checkpoint."""
    pytest.importorskip("mpi4py")
    script = tmp_path / "ddp.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import democratising as dm
            from democratising import nn
            from democratising.data import TensorDataset
            from democratising.distributed import DistributedDataParallel, World
            from democratising.train import (
                EarlyStopping, SchedulerConfig, Trainer, TrainingConfig,
            )
            dm.manual_seed(0)
            x, y = dm.datasets.digits()
            data = TensorDataset(x[:320], y[:320])
            model = nn.Sequential(nn.Dense(64, 32), nn.ReLU(), nn.Dense(32, 10))
            ddp = DistributedDataParallel(model, World.init(timeout=30))
            cfg = TrainingConfig(
                num_epochs=2, verbose=False, seed=3, checkpoint_dir={str(tmp_path / "ddp")!r},
                scheduler=SchedulerConfig.StepLR(step_size=1, gamma=0.5),
            )
            t = Trainer(ddp, cfg, callbacks=[EarlyStopping(5)])
            t.fit(data, data, resume_from={str(resume_source)!r})
            assert t.epoch == 2, t.epoch
            print("ddp ok")
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_"))}
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0 and "ddp ok" in proc.stdout, proc.stderr
    written = tmp_path / "ddp" / "epoch_0002.safetensors"
    assert all(
        k.startswith("model.module.")
        for k in dm.checkpoint.load_file(written)
        if k.startswith("model.")
    )
    plain = Trainer(_mlp(5), _resume_config(num_epochs=3), callbacks=[EarlyStopping(5)])
    plain.fit(digits, digits, resume_from=written)
    assert plain.epoch == 3


# ---- AMP and distributed ---------------------------------------------------------------------


def _fake_amp(calls: list[str]) -> types.ModuleType:
    mod = types.ModuleType("democratising.amp")

    @contextlib.contextmanager
    def autocast(dtype: Any = None, enabled: bool = True) -> Any:
        calls.append(f"autocast:{dtype}")
        yield

    class GradScaler:
        def scale(self, loss: Any) -> Any:
            calls.append("scale")
            return loss * 1.0

        def unscale_(self, opt: Any) -> None:
            calls.append("unscale_")

        def step(self, opt: Any) -> None:
            calls.append("step")
            opt.step()

        def update(self) -> None:
            calls.append("update")

        def state_dict(self) -> dict[str, Any]:
            return {"scale": 1.0}

        def load_state_dict(self, state: dict[str, Any]) -> None:
            calls.append("load")

    mod.autocast, mod.GradScaler = autocast, GradScaler  # type: ignore[attr-defined]
    return mod


def test_amp_uses_autocast_and_grad_scaler(
    digits: TensorDataset, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[str] = []
    monkeypatch.setitem(sys.modules, "democratising.amp", _fake_amp(calls))
    cfg = _quiet(num_epochs=1, amp="float16", max_grad_norm=1.0, checkpoint_dir=str(tmp_path))
    t = Trainer(_mlp(), cfg)
    t.fit(DataLoader(digits, 160))
    assert calls.count("scale") == 2 and calls.count("step") == 2 and calls.count("update") == 2
    assert calls.count("unscale_") == 2 and calls[0] == f"autocast:{dm.float16}"
    t2 = Trainer(_mlp(), cfg)
    t2.fit(DataLoader(digits, 160), resume_from=tmp_path)
    assert "load" in calls  # the scaler's state travels in the checkpoint
    calls.clear()
    Trainer(_mlp(), _quiet(num_epochs=1, amp="bf16")).fit(DataLoader(digits, 160))
    assert "scale" not in calls and calls[0] == f"autocast:{dm.bfloat16}"


def test_amp_requested_but_unavailable_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "democratising.amp", None)
    with pytest.raises(ConfigError, match=r"democratising\.amp"):
        Trainer(_mlp(), _quiet(amp="float16"))


def test_real_amp_if_available(digits: TensorDataset) -> None:
    pytest.importorskip("democratising.amp")
    t = Trainer(_mlp(), _quiet(num_epochs=1, amp="bfloat16"))
    t.fit(digits)
    assert np.isfinite(t.history["loss"][0])


def test_only_rank_zero_logs_and_checkpoints(
    digits: TensorDataset, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_ranks, "_group", FakeWorld(2, 1))  # as World.init() registers it
    lines: list[str] = []
    cfg = TrainingConfig(num_epochs=1, checkpoint_dir=str(tmp_path / "ck"))
    t = Trainer(_mlp(), cfg, log=lines.append, callbacks=[MetricsLogger(tmp_path / "m.csv")])
    t.fit(digits)
    assert not t.is_main and lines == [] and not (tmp_path / "ck").exists()
    assert not (tmp_path / "m.csv").exists()
    sampler = t.train_loader.sampler
    assert (sampler.num_replicas, sampler.rank) == (2, 1) and len(t.train_loader) == 5


def test_data_parallel_model_no_sync_is_used_and_the_optimizer_left_alone(
    digits: TensorDataset,
) -> None:
    events: list[str] = []

    class FakeDDP(nn.Module):
        """Stands in for DistributedDataParallel: no_sync (its backward synchronises by
        itself, so the trainer has nothing to wrap)."""

        def __init__(self) -> None:
            super().__init__()
            self.module = _mlp()

        def forward(self, x: dm.Tensor) -> dm.Tensor:
            return self.module(x)

        @contextlib.contextmanager
        def no_sync(self) -> Any:
            events.append("no_sync")
            yield

    model = FakeDDP()
    opt = dm.optim.SGD(model.parameters(), lr=0.01)
    t = Trainer(model, _quiet(num_epochs=1, accumulation_steps=3, batch_size=64), optimizer=opt)
    t.fit(digits)  # 5 batches: groups of 3 and 2 -> 2 steps, 3 local-only backwards
    assert events.count("no_sync") == 3 and t.global_step == 2
    assert t.optimizer is opt and "step" not in vars(opt)  # step() is the class's own


def test_plain_iterables_and_custom_compute_loss(digits: TensorDataset) -> None:
    x, y = digits.tensors
    batches = [(x[i : i + 64], y[i : i + 64]) for i in range(0, 320, 64)]

    class Gen:
        def __iter__(self) -> Any:
            return iter(batches)

    t = Trainer(_mlp(), _quiet(num_epochs=1, accumulation_steps=2))
    t.fit(Gen())
    assert t.global_step == 3  # 2 full groups, then the leftover batch is applied
    with pytest.raises(ConfigError, match="len"):
        Trainer(_mlp(), _quiet(scheduler=SchedulerConfig.OneCycle())).fit(Gen())

    class DictTrainer(Trainer):
        def compute_loss(self, batch: Any) -> Any:
            out = self.model(batch["x"])
            return self.loss_fn(out, batch["y"]), out, batch["y"]

    t = DictTrainer(_mlp(), _quiet(num_epochs=1))
    dicts = [{"x": bx, "y": by} for bx, by in batches]
    t.fit(dicts, dicts)
    assert t.history["accuracy"][0] > 0 and "val_accuracy" in t.history


# ---- batch-size search -----------------------------------------------------------------------


def test_search_doubles_while_throughput_improves() -> None:
    curve = {32: 100.0, 64: 180.0, 128: 250.0, 256: 240.0, 512: 400.0}
    tried: list[int] = []

    def measure(bs: int) -> float:
        tried.append(bs)
        return curve[bs]

    best, results = search_batch_size(measure, start=32)
    assert best == 128 and tried == [32, 64, 128, 256] and results[256] == 240.0
    assert search_batch_size(measure, start=32, max_batch_size=64)[0] == 64
    assert search_batch_size(measure, start=32, min_improvement=0.5)[0] == 64


def test_search_stops_cleanly_on_out_of_memory_and_limits() -> None:
    def oom_above_128(bs: int) -> float:
        if bs > 128:
            raise dm.OutOfMemoryError(f"cannot allocate a batch of {bs}")
        return float(bs)

    assert search_batch_size(oom_above_128, start=16)[0] == 128
    assert search_batch_size(oom_above_128, start=1024)[0] == 128  # halves until it fits

    def limited(bs: int) -> float:
        if bs * 1000 > 100_000:
            raise MemoryLimitError("over")
        return float(bs)

    assert search_batch_size(limited, start=8)[0] == 64

    def never(bs: int) -> float:
        raise MemoryError

    with pytest.raises(MemoryError, match="no batch size"):
        search_batch_size(never, start=4)


def test_find_batch_size_on_a_model(digits: TensorDataset) -> None:
    model = _mlp()
    x, y = digits.tensors
    opt = dm.optim.Adam(model.parameters())
    before = _params(model)
    best = find_batch_size(model, (x[:50], y[:50]), start=8, max_batch_size=64, optimizer=opt)
    assert best in (8, 16, 32, 64)
    for k, v in before.items():
        np.testing.assert_array_equal(_params(model)[k], v)
    assert not opt.state and all(p.grad is None for p in model.parameters())

    class Greedy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = _mlp()

        def forward(self, xb: dm.Tensor) -> dm.Tensor:
            if xb.shape[0] > 32:
                raise dm.OutOfMemoryError("out of memory")
            return self.inner(xb)

    assert find_batch_size(Greedy(), (x[:10], y[:10]), start=8, steps=1) <= 32
    usage = {"bytes": 0}

    def fake_usage() -> int:
        return usage["bytes"]

    class Counting(Greedy):
        def forward(self, xb: dm.Tensor) -> dm.Tensor:
            usage["bytes"] = xb.shape[0] * 1000
            return self.inner(xb)

    got = find_batch_size(
        Counting(), (x[:10], y[:10]), start=4, memory_limit=20_000, memory_usage=fake_usage
    )
    assert got <= 16


def test_fit_on_a_loader_without_batches_raises_a_typed_error() -> None:
    from democratising.errors import InvalidValueError

    empty = dm.data.TensorDataset(dm.zeros(0, 3), dm.zeros(0, dtype=dm.int64))
    short = dm.data.TensorDataset(dm.zeros(3, 3), dm.zeros(3, dtype=dm.int64))
    model = dm.nn.Sequential(dm.nn.Linear(3, 2))
    before = [p.detach().numpy().copy() for p in model.parameters()]
    for loader in (
        dm.data.DataLoader(empty, batch_size=4),
        dm.data.DataLoader(short, batch_size=4, drop_last=True),
    ):
        trainer = dm.train.Trainer(model, dm.train.TrainingConfig(num_epochs=2))
        with pytest.raises(InvalidValueError, match="no batches"):
            trainer.fit(loader)
    assert all(np.array_equal(a, p.detach().numpy()) for a, p in zip(before, model.parameters()))


def test_fit_on_a_stream_without_len() -> None:
    """A ``DataLoader`` over an ``IterableDataset`` without ``__len__`` has a ``__len__`` that
    raises ``TypeError`` (as PyTorch's): the Trainer trains without a batch count."""

    class Stream(dm.data.IterableDataset):
        def __iter__(self) -> Any:
            rng = np.random.default_rng(0)
            for i in range(48):
                yield dm.tensor(rng.standard_normal(4), dtype=dm.float32), i % 3

    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    cfg = TrainingConfig(learning_rate=1e-2, batch_size=8, num_epochs=2, progress=False)
    history = Trainer(model, cfg).fit(
        DataLoader(Stream(), batch_size=8), DataLoader(Stream(), batch_size=8)
    )
    assert history["epoch"] == [1, 2] and len(history["val_loss"]) == 2
    assert all(math.isfinite(v) for v in history["loss"])
