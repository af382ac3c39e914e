"""``democratising.tune`` (issue 21 point 3): search spaces in Python and TOML over
``TrainingConfig`` fields, the Optuna integration with its pruning callback, the built-in
grid/random searches, and ``democratising tune`` on one process (8 trials on digits: they
finish, at least one is pruned, the best beats the default config) and on two ranks sharing
one study (no trial number twice). Studies are tiny: 2 epochs per trial."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising import nn, tune
from democratising.cli import main
from democratising.data import TensorDataset
from democratising.metrics import F1Score
from democratising.train import ConfigError, Trainer, TrainingConfig
from democratising.train.command import _data
from test_distributed import needs_mpi, run_mpi

TOML = """\
num_epochs = 2
batch_size = 32
runs_dir = "{runs}"

[tune]
trials = {trials}
monitor = "val_accuracy"

[tune.space]
learning_rate = {{ low = 1e-5, high = 0.05, log = true }}
batch_size = {{ choices = [32, 64, 128] }}
"""


def _digits() -> TensorDataset:
    x, y = dm.datasets.digits()
    return TensorDataset(x[:900], y[:900])


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Dense(64, 32), nn.ReLU(), nn.Dense(32, 10))


def test_space_from_toml_tables_and_python() -> None:
    space = tune.SearchSpace(
        {
            "learning_rate": {"low": 1e-4, "high": 0.1, "log": True},
            "batch_size": {"low": 16, "high": 64, "step": 16},
            "optimizer": ["adam", "sgd"],
            "optimizer.momentum": {"choices": [0.0, 0.9]},
            "max_grad_norm": tune.Float(0.5, 2.0, step=0.5),
        }
    )
    p = space.params
    assert next(iter(p)) == "optimizer"  # kind switches first
    assert p["learning_rate"] == tune.Float(1e-4, 0.1, log=True)
    assert p["batch_size"] == tune.Int(16, 64, step=16)
    assert p["batch_size"].grid() == [16, 32, 48, 64]
    assert p["max_grad_norm"].grid() == [0.5, 1.0, 1.5, 2.0]
    assert space.grid_size() == 2 * 5 * 4 * 2 * 4
    rng = np.random.default_rng(0)
    for _ in range(20):
        point = space.sample(rng)
        assert 1e-4 <= point["learning_rate"] <= 0.1 and point["batch_size"] in (16, 32, 48, 64)
        cfg = tune.apply_params(TrainingConfig(), point)
        assert cfg.learning_rate == point["learning_rate"]
        assert cfg.optimizer.name == point["optimizer"]
        if point["optimizer"] == "sgd":  # momentum applies to SGD only
            assert cfg.optimizer.momentum == point["optimizer.momentum"]
    space.check(TrainingConfig())
    with pytest.raises(ConfigError, match="unknown training config key 'lr'"):
        tune.SearchSpace({"lr": [0.1]}).check(TrainingConfig())
    with pytest.raises(ConfigError, match="batch_size"):
        tune.SearchSpace({"batch_size": [0, 8]}).check(TrainingConfig())
    with pytest.raises(ConfigError, match="low > 0"):
        tune.Float(0.0, 1.0, log=True)
    with pytest.raises(ConfigError, match="needs low and high"):
        tune.SearchSpace({"learning_rate": {"low": 0.1}})


def test_optuna_run_reports_every_epoch_and_prunes() -> None:
    pytest.importorskip("optuna")
    cfg = TrainingConfig(num_epochs=3, batch_size=64, val_fraction=0.3)
    space = {"learning_rate": tune.Float(1e-5, 0.05, log=True)}
    lines: list[str] = []
    result = tune.run(
        cfg,
        space,
        _mlp,
        _digits(),
        trials=8,
        monitor="val_f1",
        metrics={"f1": F1Score(num_classes=10)},
        log=lines.append,
    )
    assert result.direction == "maximize" and len(result.trials) == 8 and len(lines) == 8
    study = result.study
    for t in study.trials:
        steps = sorted(t.intermediate_values)
        if t.state.name == "COMPLETE":
            assert steps == [1, 2, 3]  # one report per epoch
            assert t.value == pytest.approx(t.intermediate_values[3])
        else:
            assert t.state.name == "PRUNED" and steps and steps[-1] < 3
    assert result.pruned and any("pruned at epoch" in line for line in lines)
    assert result.best_value == max(t.value for t in result.completed)
    assert result.best_config.learning_rate == result.best_params["learning_rate"]


def test_pruning_callback_needs_the_monitored_metric() -> None:
    optuna = pytest.importorskip("optuna")
    study = optuna.create_study()
    trial = study.ask()
    cb = tune.PruningCallback(trial, "val_typo")
    with pytest.raises(KeyError, match="val_typo"):
        cb.on_epoch_end(None, {"epoch": 1, "val_loss": 0.5})


def test_builtin_grid_and_random_search_need_no_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if not installed
    cfg = TrainingConfig(num_epochs=1, batch_size=64, val_fraction=0.3)
    space = {"learning_rate": [1e-4, 1e-2], "batch_size": [32, 64]}
    grid = tune.grid_search(cfg, space, _mlp, _digits(), monitor="val_accuracy")
    assert [t.params for t in grid.trials] == [
        {"learning_rate": 1e-4, "batch_size": 32},
        {"learning_rate": 1e-4, "batch_size": 64},
        {"learning_rate": 1e-2, "batch_size": 32},
        {"learning_rate": 1e-2, "batch_size": 64},
    ]
    assert grid.best_params["learning_rate"] == 1e-2
    rnd = tune.random_search(
        cfg, {"learning_rate": tune.Float(1e-4, 1e-1, log=True)}, _mlp, _digits(), trials=4, seed=3
    )
    assert rnd.direction == "minimize" and rnd.monitor == "val_loss"
    # Ranks share the same points by trial number.
    half = tune.random_search(
        cfg,
        {"learning_rate": tune.Float(1e-4, 1e-1, log=True)},
        _mlp,
        _digits(),
        trials=4,
        seed=3,
        numbers=[1, 3],
    )
    assert [t.params for t in half.trials] == [rnd.trials[1].params, rnd.trials[3].params]
    assert [t.value for t in half.trials] == [rnd.trials[1].value, rnd.trials[3].value]
    with pytest.raises(tune.MissingExtraError, match=r"democratising\[tune\]"):
        tune.run(cfg, space, _mlp, _digits(), trials=1)
    assert issubclass(tune.MissingExtraError, ImportError)


class _FakeTrial:
    """Optuna's trial as ``suggest_params`` sees it: each suggest takes the first choice."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def suggest_categorical(self, name: str, choices: list[Any]) -> Any:
        self.asked.append(name)
        return choices[0]

    def suggest_float(self, name: str, low: float, high: float, **_: Any) -> float:
        self.asked.append(name)
        return low


def test_a_field_of_another_optimizer_kind_is_left_out_of_the_trial(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from democratising.tune.space import applicable_params, suggest_params

    cfg = TrainingConfig(num_epochs=1, batch_size=64, val_fraction=0.3)
    space = {"optimizer": ["adam", "sgd"], "optimizer.momentum": [0.5]}
    assert applicable_params(cfg, {"optimizer": "adam", "optimizer.momentum": 0.5}) == {
        "optimizer": "adam"
    }
    keep = {"optimizer": "sgd", "optimizer.momentum": 0.5, "learning_rate": 0.1}
    assert applicable_params(cfg, keep) == keep
    # Optuna is asked for the kind first, and never for a field the chosen kind lacks.
    trial = _FakeTrial()
    params = suggest_params(tune.SearchSpace(space), trial, cfg)
    assert params == {"optimizer": "adam"} and trial.asked == ["optimizer"]
    monkeypatch.setitem(sys.modules, "optuna", None)
    grid = tune.grid_search(cfg, space, _mlp, _digits(), monitor="val_accuracy")
    assert [t.params for t in grid.trials] == [
        {"optimizer": "adam"},
        {"optimizer": "sgd", "optimizer.momentum": 0.5},
    ]


def _default_val_accuracy(tmp_path: Path) -> float:
    """The default config (TrainingConfig's learning rate and batch size, the test's epochs)
    on the command's own digits split."""
    cfg = TrainingConfig(num_epochs=2, verbose=False, progress=False)
    train, val, features, _ = _data("digits", cfg)
    dm.manual_seed(cfg.seed)
    model = nn.Sequential(nn.Dense(features, 128), nn.ReLU(), nn.Dense(128, 10))
    return float(Trainer(model, cfg).fit(train, val)["val_accuracy"][-1])


def test_cli_tune_eight_trials_prunes_and_beats_the_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("optuna")
    config = tmp_path / "digits.toml"
    config.write_text(TOML.format(runs=tmp_path / "runs", trials=8))
    assert main(["tune", str(config)]) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "runs/tune/digits/trials.json").read_text())
    trials = report["trials"]
    assert len(trials) == 8 and [t["number"] for t in trials] == list(range(8))
    assert any(t["state"] == "pruned" for t in trials), out
    best = max(t["value"] for t in trials if t["state"] == "complete")
    assert best > _default_val_accuracy(tmp_path) + 0.01, out
    assert "Best trial" in out and "8 trials:" in out
    best_cfg = TrainingConfig.from_file(tmp_path / "runs/tune/digits/best.toml")
    best_trial = next(t for t in trials if t["value"] == best and t["state"] == "complete")
    assert best_cfg.learning_rate == pytest.approx(best_trial["params"]["learning_rate"])


def test_cli_tune_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("num_epochs = 1\n")
    assert main(["tune", str(config)]) == 2
    assert "[tune] table" in capsys.readouterr().err
    config.write_text("num_epochs = 1\n[tune]\nspace = { lr = [0.1] }\n")
    assert main(["tune", str(config)]) == 2
    assert "unknown training config key 'lr'" in capsys.readouterr().err


def test_cli_without_optuna_names_the_extra_and_builtin_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)
    config = tmp_path / "digits.toml"
    config.write_text(TOML.format(runs=tmp_path / "runs", trials=2))
    assert main(["tune", str(config)]) == 2
    err = capsys.readouterr().err
    assert "democratising[tune]" in err and "--builtin" in err
    assert main(["tune", str(config), "--builtin", "--epochs", "1"]) == 0
    assert "2 trials: 2 complete" in capsys.readouterr().out


def _journal_trials(path: Path) -> list[Any]:
    optuna = pytest.importorskip("optuna")
    storage = tune._optuna.make_storage(f"journal:{path}")
    return optuna.load_study(study_name="digits", storage=storage).trials


@needs_mpi
def test_two_ranks_share_one_study(tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    config = tmp_path / "digits.toml"
    config.write_text(TOML.format(runs=tmp_path / "runs", trials=6))
    out = tmp_path / "out"
    job = run_mpi(
        2, "tune_cli.py", "tune", str(config), "--out", str(out), via_mpi4py=False, timeout=120
    )
    assert job.returncode == 0, job
    trials = _journal_trials(out / "study.journal")
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(6))  # six trials, none twice
    ranks = [t.user_attrs["rank"] for t in trials]
    assert sorted(ranks) == [0, 0, 0, 1, 1, 1]
    assert all(t.state.is_finished() for t in trials)
    assert job.stdout.count("6 trials:") == 1  # rank 0 reports, once, all six
    report = json.loads((out / "trials.json").read_text())
    assert [t["number"] for t in report["trials"]] == list(range(6))


@needs_mpi
def test_two_ranks_split_a_builtin_grid(tmp_path: Path) -> None:
    config = tmp_path / "digits.toml"
    config.write_text(
        TOML.format(runs=tmp_path / "runs", trials=4).replace(
            "learning_rate = { low = 1e-5, high = 0.05, log = true }",
            "learning_rate = [1e-3, 1e-2]",
        )
    )
    out = tmp_path / "out"
    job = run_mpi(
        2,
        "tune_cli.py",
        "tune",
        str(config),
        "--builtin",
        "--search",
        "grid",
        "--out",
        str(out),
        "--set",
        "num_epochs=1",
        via_mpi4py=False,
        timeout=120,
    )
    assert job.returncode == 0, job
    report = json.loads((out / "trials.json").read_text())
    assert [t["number"] for t in report["trials"]] == [0, 1, 2, 3]
    assert "[rank 1] Trial 1 complete" in job.stdout and "[rank 0] Trial 2 complete" in job.stdout
