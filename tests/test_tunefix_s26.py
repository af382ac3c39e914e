"""Session 26 tunefix: the fixes to ``democratising.tune`` beyond the tunefuzz cases (see
tests/test_tunefuzz_s26.py): metric directions, callbacks that start afresh each run, the
grid's seed, ``TuneResult.to_records``, failed trials and the space checks. Trials are one
epoch of a 16-unit MLP on 300 digits, so the file runs in seconds."""

from __future__ import annotations

import collections
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising import nn, tune
from democratising.data import TensorDataset
from democratising.errors import ArgumentTypeError
from democratising.train import ConfigError, EarlyStopping, ModelCheckpoint, Trainer, TrainingConfig
from democratising.train._monitor import callback_mode, infer_mode

x, y = dm.datasets.digits()
DATA = (TensorDataset(x[:300], y[:300]), TensorDataset(x[300:400], y[300:400]))
BASE = TrainingConfig(num_epochs=1, verbose=False)


def mlp(config: Any = None) -> nn.Module:
    return nn.Sequential(nn.Dense(64, 16), nn.ReLU(), nn.Dense(16, 10))


@pytest.mark.parametrize(
    "name", ["val_nll", "val_ce", "val_wer", "val_cer", "val_bpc", "test_cross_entropy", "ppl"]
)
def test_loss_like_names_are_minimised_by_tune_and_callbacks(name: str) -> None:
    assert infer_mode(name) == "min"
    assert callback_mode(name) == "min"


@pytest.mark.parametrize("name", ["val_dice", "val_balanced_accuracy", "val_f1", "val_auroc"])
def test_short_words_do_not_match_inside_other_names(name: str) -> None:
    # "ce" is inside "dice" and "balanced": whole words only.
    assert infer_mode(name) == "max"
    assert callback_mode(name) == "max"


def test_base_monitor_mode_still_applies_to_its_own_monitor() -> None:
    base = BASE.with_overrides(["monitor=val_accuracy", "monitor_mode=min"])
    r = tune.grid_search(base, {"learning_rate": [1e-3]}, mlp, DATA)
    assert r.direction == "minimize"  # the user's explicit choice for val_accuracy
    r = tune.grid_search(base, {"learning_rate": [1e-3]}, mlp, DATA, monitor="val_accuracy")
    assert r.direction == "minimize"


def _fit(callbacks: list[Any], epochs: int = 3, lr: float = 1e-2) -> dict[str, list[Any]]:
    dm.manual_seed(0)
    cfg = BASE.with_overrides([f"num_epochs={epochs}", f"learning_rate={lr}", "runs_dir=none"])
    return Trainer(mlp(), cfg, callbacks=callbacks).fit(*DATA)


def test_early_stopping_starts_afresh_in_a_new_run() -> None:
    alone = _fit([EarlyStopping(patience=1, verbose=False)])
    es = EarlyStopping(patience=1, verbose=False)
    _fit([es], epochs=4, lr=1e-2)
    assert es.best_model_state is not None
    again = _fit([es])
    assert again["val_loss"] == pytest.approx(alone["val_loss"])
    assert es.best_epoch == int(np.argmin(again["val_loss"])) + 1


def test_early_stopping_keeps_its_state_when_a_trainer_continues() -> None:
    es = EarlyStopping(patience=5, verbose=False)
    dm.manual_seed(0)
    cfg = BASE.with_overrides(["num_epochs=2", "runs_dir=none"])
    trainer = Trainer(mlp(), cfg, callbacks=[es])
    trainer.fit(*DATA)
    es.best_loss, es.counter = -1.0, 0  # a best no epoch beats: kept only if not reset
    trainer.config = cfg.with_overrides(["num_epochs=3"])
    trainer.fit(*DATA)  # epoch 3 of the same run, not a new one
    assert len(trainer.history["val_loss"]) == 3
    assert (es.best_loss, es.counter) == (-1.0, 1)


def test_model_checkpoint_starts_afresh_in_a_new_run(tmp_path: Path) -> None:
    ckpt = ModelCheckpoint(tmp_path / "ck", monitor="val_loss", every=None)
    ckpt.best = -1.0  # a value no run of this model reaches: as if a far better run came first
    ckpt.written = ["epoch_0099.safetensors"]
    history = _fit([ckpt], epochs=2)
    assert ckpt.best == pytest.approx(min(history["val_loss"]))
    assert ckpt.written == []
    assert (tmp_path / "ck" / "best.safetensors").exists()


def test_grid_search_seed_shuffles_the_grid() -> None:
    space = {"learning_rate": [1e-3, 2e-3, 3e-3, 4e-3, 5e-3, 6e-3]}
    plain = tune.grid_search(BASE, space, mlp, DATA, trials=0)
    assert plain.trials == []
    r1 = tune.grid_search(BASE, space, mlp, DATA, trials=3, seed=1)
    r2 = tune.grid_search(BASE, space, mlp, DATA, trials=3, seed=1)
    lrs = [t.params["learning_rate"] for t in r1.trials]
    assert lrs == [t.params["learning_rate"] for t in r2.trials]
    order = np.random.default_rng(1).permutation(6)[:3]
    assert lrs == [space["learning_rate"][int(i)] for i in order]
    grid = tune.grid_search(BASE, space, mlp, DATA, trials=3)
    assert [t.params["learning_rate"] for t in grid.trials] == [1e-3, 2e-3, 3e-3]
    with pytest.raises(ArgumentTypeError):
        tune.grid_search(BASE, space, mlp, DATA, seed=True)


def test_to_records_is_plain_strict_json_data() -> None:
    trials = [
        tune.TrialResult(1, {"learning_rate": 0.1}, math.nan, "complete", 1),
        tune.TrialResult(0, {"learning_rate": 0.01}, 0.5, "complete", 2),
        tune.TrialResult(2, {"learning_rate": 1.0}, None, "failed", 0, error="boom"),
    ]
    records = tune.TuneResult(trials, "val_loss", "minimize", TrainingConfig()).to_records()
    assert records == [
        {
            "number": 0,
            "state": "complete",
            "value": 0.5,
            "epochs": 2,
            "error": None,
            "params_learning_rate": 0.01,
        },
        {
            "number": 1,
            "state": "complete",
            "value": None,
            "epochs": 1,
            "error": None,
            "params_learning_rate": 0.1,
        },
        {
            "number": 2,
            "state": "failed",
            "value": None,
            "epochs": 0,
            "error": "boom",
            "params_learning_rate": 1.0,
        },
    ]
    json.dumps(records, allow_nan=False)


def test_random_search_records_a_failing_trial_and_goes_on() -> None:
    calls = []

    def model(config: TrainingConfig) -> nn.Module:
        calls.append(config.batch_size)
        if config.batch_size == 64:
            raise ValueError("no batches of 64 here")
        return mlp()

    r = tune.random_search(BASE, {"batch_size": [32, 64]}, model, DATA, trials=6, seed=3)
    assert len(calls) == 6
    states = {t.params["batch_size"]: t.state for t in r.trials}
    assert states == {32: "complete", 64: "failed"}
    failed = next(t for t in r.trials if t.state == "failed")
    assert failed.value is None and failed.error == "ValueError: no batches of 64 here"
    assert "failed (ValueError: no batches of 64 here)" in r.summary()
    assert r.best_params == {"batch_size": 32}


def test_no_completed_trial_names_the_first_failure() -> None:
    def model(config: TrainingConfig) -> nn.Module:
        raise RuntimeError("no model today")

    r = tune.grid_search(BASE, {"learning_rate": [1e-3, 1e-2]}, model, DATA)
    assert [t.state for t in r.trials] == ["failed", "failed"]
    with pytest.raises(ValueError, match="trial 0 failed: RuntimeError: no model today"):
        _ = r.best_trial


def test_a_misspelt_monitor_stops_the_search_at_once() -> None:
    built = []

    def model(config: TrainingConfig) -> nn.Module:
        built.append(1)
        return mlp()

    with pytest.raises(ConfigError, match="val_accuracy"):
        tune.grid_search(BASE, {"learning_rate": [1e-3, 1e-2]}, model, DATA, monitor="val_acc")
    assert len(built) == 1  # not every trial recorded as failed
    with pytest.raises(KeyError):  # what the pruning callbacks raised before
        tune.grid_search(BASE, {"learning_rate": [1e-3]}, mlp, DATA, monitor="val_acc", prune=True)


def test_tune_run_reraises_a_failing_trial_as_optuna_does() -> None:
    pytest.importorskip("optuna")

    def model(config: TrainingConfig) -> nn.Module:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        tune.run(BASE, {"learning_rate": [1e-3]}, model, DATA, trials=1, pruner="none")


def test_tune_run_misspelt_monitor_with_pruner_is_a_config_error() -> None:
    pytest.importorskip("optuna")
    with pytest.raises(ConfigError, match="did you mean 'val_accuracy'"):
        tune.run(BASE, {"learning_rate": [1e-3]}, mlp, DATA, trials=1, monitor="val_acc")


@pytest.mark.parametrize("trials", [True, 2.0, "3"])
def test_trials_must_be_an_int(trials: Any) -> None:
    with pytest.raises(ArgumentTypeError, match="trials"):
        tune.random_search(BASE, {"learning_rate": [1e-3]}, mlp, DATA, trials=trials)


def test_float_step_values_are_the_decimal_ones() -> None:
    assert tune.Float(0.0, 0.3, step=0.1).grid() == [0.0, 0.1, 0.2, 0.3]
    assert tune.Float(0.1, 0.7, step=0.2).grid() == [0.1, 0.3, 0.5, 0.7]
    assert tune.Float(0.0, 1.0, step=0.3).grid() == [0.0, 0.3, 0.6, 0.9]
    rng = np.random.default_rng(0)
    f = tune.Float(0.1, 0.7, step=0.2)
    assert {f.sample(rng) for _ in range(200)} == {0.1, 0.3, 0.5, 0.7}


def test_int_log_sample_matches_optunas_distribution() -> None:
    # Optuna draws exp(U[log 0.5, log 4.5]) rounded: P(k) = log((k + .5) / (k - .5)) / log 9.
    rng = np.random.default_rng(0)
    counts = collections.Counter(tune.Int(1, 4, log=True).sample(rng) for _ in range(20000))
    for k in (1, 2, 3, 4):
        expected = math.log((k + 0.5) / (k - 0.5)) / math.log(9)
        assert abs(counts[k] / 20000 - expected) < 0.015


@pytest.mark.parametrize(
    "spec",
    [
        {"low": 1e-4, "high": 1e-1, "log": "no"},
        {"low": 1e-4, "high": 1e-1, "grid_points": 2.5},
        {"low": 1, "high": 8, "log": "yes"},
    ],
)
def test_table_ranges_are_checked_not_coerced(spec: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        tune.SearchSpace({"learning_rate": spec})


def test_space_checks_each_kinds_fields_before_any_trial() -> None:
    built = []

    def model(config: TrainingConfig) -> nn.Module:
        built.append(1)
        return mlp()

    space = {"optimizer": ["adam", "sgd"], "optimizer.momentum": [0.0, -0.5, 0.9]}
    with pytest.raises(ConfigError, match="momentum"):
        tune.grid_search(BASE, space, model, DATA)
    assert built == []
    # A field of a kind that some trials use is fine: Adam's trials leave it out.
    tune.SearchSpace({"optimizer": ["adam", "sgd"], "optimizer.momentum": [0.0, 0.9]}).check(BASE)
    sgd = BASE.with_overrides(["optimizer=sgd"])
    tune.SearchSpace({"optimizer.momentum": [0.0, 0.9]}).check(sgd)
    with pytest.raises(ConfigError, match="gamma"):
        tune.SearchSpace({"scheduler": ["none"], "scheduler.gamma": [0.5]}).check(BASE)
