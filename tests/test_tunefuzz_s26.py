"""Session 26 tunefuzz: bugs found in ``democratising.tune`` as a new user, each encoded as the
behaviour it should have (fixed by tunefix, session 26). Trials are tiny (one epoch of a 16-unit
MLP on 300 digits) so the file runs in a few seconds."""

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
from democratising.train import ConfigError, EarlyStopping, TrainingConfig
from democratising.tune._builtin import MedianStopper, TrialPrunedError

x, y = dm.datasets.digits()
DATA = (TensorDataset(x[:300], y[:300]), TensorDataset(x[300:400], y[300:400]))
BASE = TrainingConfig(num_epochs=1, verbose=False)


def mlp(config: Any = None) -> nn.Module:
    return nn.Sequential(nn.Dense(64, 16), nn.ReLU(), nn.Dense(16, 10))


class _Counting:
    """A model factory that counts the models it built (how many trials started)."""

    def __init__(self) -> None:
        self.built = 0

    def __call__(self, config: TrainingConfig) -> nn.Module:
        self.built += 1
        return mlp()


def test_base_monitor_mode_does_not_leak_to_another_monitor() -> None:
    base = BASE.with_overrides(["monitor=val_loss", "monitor_mode=min"])
    r = tune.grid_search(base, {"learning_rate": [1e-3, 1e-2]}, mlp, DATA, monitor="val_accuracy")
    assert r.direction == "maximize"
    assert r.best_value == max(t.value for t in r.trials if t.value is not None)


def test_callbacks_do_not_carry_state_between_trials() -> None:
    def es() -> EarlyStopping:
        return EarlyStopping(patience=1, monitor="val_loss", verbose=False)

    base = BASE.with_overrides(["num_epochs=3"])
    alone = tune.grid_search(base, {"learning_rate": [1e-2]}, mlp, DATA, callbacks=[es()])
    after = tune.grid_search(
        base, {"learning_rate": [1e-2, 1e-3, 1e-2]}, mlp, DATA, callbacks=[es()]
    )
    # The same config from the same seed must give the same trial wherever it runs.
    assert after.trials[2].epochs == alone.trials[0].epochs
    assert after.trials[2].value == pytest.approx(alone.trials[0].value)


def test_failing_trial_is_recorded_not_fatal() -> None:
    def model(config: TrainingConfig) -> nn.Module:
        if config.learning_rate > 5e-3:
            raise RuntimeError("boom")
        return mlp()

    r = tune.grid_search(BASE, {"learning_rate": [1e-3, 1e-2, 2e-3]}, model, DATA)
    assert [t.state for t in r.trials] == ["complete", "failed", "complete"]
    assert "boom" in (r.trials[1].error or "")
    assert r.best_params["learning_rate"] in (1e-3, 2e-3)


@pytest.mark.parametrize(
    "space",
    [{"optimizer": ["adam", "bogus", "sgd"]}, {"learning_rate": [1e-3, -1.0, 1e-2]}],
    ids=["optimizer", "learning_rate"],
)
def test_every_choice_is_checked_before_any_trial(space: dict[str, Any]) -> None:
    model = _Counting()
    with pytest.raises(ConfigError):
        tune.grid_search(BASE, space, model, DATA)
    assert model.built == 0


@pytest.mark.parametrize(
    "space", [{"optimizer.momentum": [0.0, 0.9]}, {"scheduler.gamma": [0.1, 0.9]}]
)
def test_field_of_a_kind_never_selected_is_an_error(space: dict[str, Any]) -> None:
    model = _Counting()
    with pytest.raises(ConfigError):
        tune.grid_search(BASE, space, model, DATA)  # base: Adam, no scheduler
    assert model.built == 0


def test_joining_a_study_of_the_other_direction_is_an_error(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    storage = f"journal:{tmp_path / 'study.journal'}"
    space = {"learning_rate": [1e-3, 1e-2]}
    kw: dict[str, Any] = dict(trials=1, storage=storage, study_name="s", pruner="none")
    tune.run(BASE, space, mlp, DATA, monitor="val_loss", **kw)
    with pytest.raises(ValueError, match=r"direction|minimi|maximi"):
        tune.run(BASE, space, mlp, DATA, monitor="val_accuracy", **kw)


def test_median_rule_ignores_nan_trials() -> None:
    stopper = MedianStopper("val_loss", maximize=False, finished=[[math.nan], [1.0], [1.0]])
    with pytest.raises(TrialPrunedError):
        stopper.on_epoch_end(None, {"val_loss": 5.0, "epoch": 1})


class _NanOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = mlp()

    def forward(self, inp: Any) -> Any:
        return self.inner(inp) * float("nan")


def test_nan_trial_is_failed() -> None:
    def model(config: TrainingConfig) -> nn.Module:
        return _NanOut() if config.learning_rate > 5e-3 else mlp()

    r = tune.grid_search(BASE, {"learning_rate": [1e-3, 1e-2]}, model, DATA)
    assert [t.state for t in r.trials] == ["complete", "failed"]


def test_trials_json_is_strict_json(tmp_path: Path) -> None:
    from democratising.tune.command import _report

    trials = [
        tune.TrialResult(0, {"learning_rate": 0.1}, math.nan, "complete", 1),
        tune.TrialResult(1, {"learning_rate": 0.01}, 0.5, "complete", 1),
    ]
    _report(tune.TuneResult(trials, "val_loss", "minimize", TrainingConfig()), tmp_path)

    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    json.loads((tmp_path / "trials.json").read_text(), parse_constant=refuse)


@pytest.mark.parametrize("search", ["grid", "random"])
def test_negative_trials_is_an_error(search: str) -> None:
    fn = tune.grid_search if search == "grid" else tune.random_search
    with pytest.raises(ValueError, match="trials"):
        fn(BASE, {"learning_rate": [1e-3, 1e-2, 1e-1]}, mlp, DATA, trials=-1)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(low=0.0, high=1.0, grid_points=0),
        dict(low=0.0, high=1.0, grid_points=2.5),
        dict(low=0.0, high=1.0, step=math.nan),
        dict(low=0.0, high=math.inf),
    ],
    ids=["grid_points=0", "grid_points=2.5", "step=nan", "high=inf"],
)
def test_float_arguments_are_checked(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        tune.Float(**kwargs)


def test_float_step_grid_stays_within_high() -> None:
    for f in (tune.Float(0.0, 0.3, step=0.1), tune.Float(0.1, 0.7, step=0.2)):
        assert all(f.low <= v <= f.high for v in f.grid())


def test_float_step_sample_is_uniform() -> None:
    rng = np.random.default_rng(0)
    f = tune.Float(0.0, 1.0, step=0.5)
    counts = collections.Counter(f.sample(rng) for _ in range(6000))
    assert sorted(counts) == [0.0, 0.5, 1.0]
    assert all(abs(c / 6000 - 1 / 3) < 0.03 for c in counts.values())


def test_misspelt_monitor_with_pruning_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        tune.grid_search(BASE, {"learning_rate": [1e-3]}, mlp, DATA, monitor="val_acc", prune=True)
