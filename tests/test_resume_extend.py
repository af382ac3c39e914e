"""Resume and extend (issue 17, point 2): resuming with more epochs than a OneCycle, cosine,
linear or polynomial schedule was built for is refused with an error naming
``extend_schedule``/``--extend`` (never ``Tried to step 691 times`` or a cosine climbing back
up), and each choice does what it says, in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import democratising as dm
from democratising.data import TensorDataset
from democratising.nn import Dense, ReLU, Sequential
from democratising.train import ConfigError, LRLogger, SchedulerConfig, Trainer, TrainingConfig

SCHEDULES = {
    "OneCycle": lambda: SchedulerConfig.OneCycle(),
    "cosine": lambda: SchedulerConfig.CosineAnnealing(),
    "linear": lambda: SchedulerConfig.LinearLR(start_factor=1.0, end_factor=0.1, total_iters=None),
    "polynomial": lambda: SchedulerConfig.PolynomialLR(power=2.0),
}


def _data() -> TensorDataset:
    dm.manual_seed(0)
    x = dm.randn(48, 4)
    return TensorDataset(x, (x.sum(dim=1) > 0).long())


def _model() -> Sequential:
    dm.manual_seed(1)
    return Sequential(Dense(4, 8), ReLU(), Dense(8, 2))


def _cfg(tmp: Path, kind: str, epochs: int, extend: str | None = None) -> TrainingConfig:
    return TrainingConfig(
        num_epochs=epochs,
        batch_size=16,
        learning_rate=0.01,
        scheduler=SCHEDULES[kind](),
        runs_dir=str(tmp / "runs"),
        verbose=False,
        extend_schedule=extend,
    )


def _lrs(trainer: Trainer) -> list[float]:
    return [float(g["lr"]) for g in trainer.optimizer.param_groups]


@pytest.mark.parametrize("kind", list(SCHEDULES))
def test_extending_without_a_choice_is_refused_by_name(kind: str, tmp_path: Path) -> None:
    Trainer(_model(), _cfg(tmp_path, kind, 2)).fit(_data())
    t = Trainer(_model(), _cfg(tmp_path, kind, 4))
    with pytest.raises(ConfigError, match=r"choose extend_schedule = 'stretch'.*'hold'.*'restart'"):
        t.fit(_data(), ckpt_path="last")
    assert t.epoch == 0 or t.history.get("epoch") in (None, [1, 2])  # nothing trained


@pytest.mark.parametrize("kind", list(SCHEDULES))
def test_stretch_ends_where_a_run_that_long_from_the_start_ends(kind: str, tmp_path: Path) -> None:
    straight = Trainer(_model(), _cfg(tmp_path / "a", kind, 4))
    straight.fit(_data())
    Trainer(_model(), _cfg(tmp_path, kind, 2)).fit(_data())
    lines: list[str] = []
    t = Trainer(_model(), _cfg(tmp_path, kind, 4, "stretch"), log=lines.append)
    t.config.verbose = True
    t.fit(_data(), ckpt_path="last")
    assert any("stretched from" in ln and "extend_schedule = 'stretch'" in ln for ln in lines)
    assert _lrs(t) == pytest.approx(_lrs(straight), rel=1e-9, abs=1e-12)
    assert t.history["epoch"] == [1, 2, 3, 4]


@pytest.mark.parametrize("kind", list(SCHEDULES))
def test_hold_keeps_the_final_rate(kind: str, tmp_path: Path) -> None:
    first = Trainer(_model(), _cfg(tmp_path, kind, 2))
    first.fit(_data())
    end = _lrs(first)
    logger = LRLogger(every="batch")
    t = Trainer(_model(), _cfg(tmp_path, kind, 4, "hold"), callbacks=[logger])
    t.fit(_data(), ckpt_path="last")
    assert all(lrs == pytest.approx(end) for _, lrs in logger.lrs)
    assert t.history["epoch"] == [1, 2, 3, 4]


def test_restart_runs_a_new_schedule_over_the_added_epochs(tmp_path: Path) -> None:
    Trainer(_model(), _cfg(tmp_path, "cosine", 2)).fit(_data())
    logger = LRLogger()
    t = Trainer(_model(), _cfg(tmp_path, "cosine", 5, "restart"), callbacks=[logger])
    t.fit(_data(), ckpt_path="last")
    # cosine over 3 epochs from 0.01: 0.0075, 0.0025, 0 at the ends of epochs 3, 4, 5
    assert [lrs[0] for _, lrs in logger.lrs] == pytest.approx([0.0075, 0.0025, 0.0], abs=1e-12)


def test_cosine_no_longer_climbs_back_up_silently(tmp_path: Path) -> None:
    """The issue's ``1.00e-03, ..., 0.00e+00, 1.46e-04, ...``: with 'hold' it stays at 0."""
    Trainer(_model(), _cfg(tmp_path, "cosine", 2)).fit(_data())
    logger = LRLogger()
    Trainer(_model(), _cfg(tmp_path, "cosine", 4, "hold"), callbacks=[logger]).fit(
        _data(), ckpt_path="last"
    )
    assert [lrs[0] for _, lrs in logger.lrs] == [0.0, 0.0]


def test_a_warm_up_linear_lr_that_the_old_run_outlived_is_left_alone(tmp_path: Path) -> None:
    def cfg(epochs: int) -> TrainingConfig:
        return TrainingConfig(
            num_epochs=epochs,
            batch_size=16,
            scheduler=SchedulerConfig.LinearLR(start_factor=0.5, total_iters=1),
            runs_dir=str(tmp_path / "runs"),
            verbose=False,
        )

    Trainer(_model(), cfg(3)).fit(_data())
    t = Trainer(_model(), cfg(5))
    t.fit(_data(), ckpt_path="last")  # no extend_schedule needed
    assert t.history["epoch"] == [1, 2, 3, 4, 5]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "democratising.cli", "train", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_onecycle_extension_is_a_usage_error_naming_extend_then_works(tmp_path: Path) -> None:
    sched = ["--set", "scheduler.name=OneCycle"]
    assert _cli("--epochs", "2", *sched, cwd=tmp_path).returncode == 0
    r = _cli("--epochs", "3", *sched, "--resume", "last", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "Tried to step" not in r.stderr
    assert "choose --extend 'stretch'" in r.stderr, r.stderr
    r = _cli("--epochs", "3", *sched, "--resume", "last", "--extend", "stretch", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Schedule: OneCycleLR stretched from 90 to 135 steps" in r.stdout
    assert "Epoch 3/3:" in r.stdout
