"""``tune.run`` (Optuna), ``tune.grid_search`` and ``tune.random_search`` (built in): a study
over ``TrainingConfig`` fields, each trial a fresh model trained with the trial's config, the
objective the monitored metric of its last epoch. All return a ``TuneResult``.

Why the trial's value is the last epoch's: it is what the pruner saw last and what the trained
model is; a best-epoch value would reward configs whose later epochs get worse. Under
``mpirun`` each rank calls ``run`` with its share of the trials and the same ``storage`` and
``study_name``: Optuna's storage numbers the trials, so ranks never repeat one (the
``democratising tune`` command does this)."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Optional, Union

import numpy as np

from ..errors import ArgumentTypeError, InvalidValueError
from ..train._monitor import infer_mode
from ..train.callbacks import Callback, MonitorError
from ..train.config import ConfigError, TrainingConfig
from . import _optuna
from ._builtin import MedianStopper, TrialPrunedError
from ._trial import MonitorNotRecordedError, TrialResult, split_data, train_trial, trial_config
from .space import SearchSpace, applicable_params, apply_params, suggest_params

__all__ = ["TuneResult", "grid_search", "random_search", "result_from_study", "run"]

Log = Optional[Callable[[str], None]]


@dataclass
class TuneResult:
    """The trials of a search (every rank's, for a shared study) and the best of them."""

    trials: list[TrialResult]
    monitor: str
    direction: str  # "maximize" or "minimize"
    base_config: TrainingConfig
    study: Any = None  # the Optuna study, for tune.run

    @property
    def completed(self) -> list[TrialResult]:
        return [
            t
            for t in self.trials
            if t.state == "complete" and t.value is not None and not math.isnan(t.value)
        ]

    @property
    def pruned(self) -> list[TrialResult]:
        return [t for t in self.trials if t.state == "pruned"]

    @property
    def best_trial(self) -> TrialResult:
        done = self.completed
        if not done:
            failed = [t for t in self.trials if t.state == "failed" and t.error]
            why = f" (trial {failed[0].number} failed: {failed[0].error})" if failed else ""
            raise InvalidValueError(f"no trial completed, so there is no best trial{why}")
        sign = 1.0 if self.direction == "maximize" else -1.0
        return max(done, key=lambda t: (sign * float(t.value or 0.0), -t.number))

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params)

    @property
    def best_value(self) -> float:
        return float(self.best_trial.value)  # type: ignore[arg-type]

    @property
    def best_config(self) -> TrainingConfig:
        """The base config with the best trial's parameters (verbose and folders as given)."""
        return apply_params(self.base_config, self.best_params)

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per trial, by number: ``number``, ``state``, ``value`` (``None`` when
        failed or NaN), ``epochs``, ``error`` and a ``params_<key>`` entry per parameter (the
        columns of Optuna's ``trials_dataframe``). Plain data: ``pandas.DataFrame(records)``,
        ``csv.DictWriter`` or ``json.dumps`` take it as it is, with no pandas needed here."""
        rows = []
        for t in sorted(self.trials, key=lambda t: t.number):
            value = None if t.value is None or math.isnan(t.value) else float(t.value)
            row: dict[str, Any] = {
                "number": t.number,
                "state": t.state,
                "value": value,
                "epochs": t.epochs,
                "error": t.error,
            }
            row.update({f"params_{k}": v for k, v in t.params.items()})
            rows.append(row)
        return rows

    def summary(self) -> str:
        """One line per trial, then the best."""
        lines = [describe(t, self.monitor) for t in sorted(self.trials, key=lambda t: t.number)]
        if self.completed:
            b = self.best_trial
            lines.append(
                f"Best trial {b.number}: {self.monitor} = {b.value:.4f} ({_params(b.params)})"
            )
        return "\n".join(lines)


def _params(params: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def describe(t: TrialResult, monitor: str) -> str:
    """``Trial 3 complete: val_accuracy = 0.9611 (learning_rate=0.0123, ...)``."""
    if t.state == "pruned":
        what = f"pruned at epoch {t.epochs}"
    elif t.state == "failed":
        what = "failed" + (f" ({t.error})" if t.error else "")
    else:
        what = "complete"
    value = f": {monitor} = {t.value:.4f}" if t.value is not None else ""
    return f"Trial {t.number} {what}{value} ({_params(t.params)})"


class _Setup(NamedTuple):
    """What every search derives from its arguments before the first trial."""

    base: TrainingConfig
    quiet: TrainingConfig
    space: SearchSpace
    train: Any
    val: Any
    name: str
    maximize: bool


def _setup(
    config: Optional[TrainingConfig],
    space: Union[SearchSpace, Mapping[str, Any]],
    data: Any,
    monitor: Optional[str],
    mode: Optional[str],
    metrics: Optional[Mapping[str, Any]],
) -> _Setup:
    base = config if config is not None else TrainingConfig()
    sp = SearchSpace.of(space)
    sp.check(base)
    quiet = trial_config(base)
    train, val = split_data(data, quiet)
    name = monitor or base.monitor or ("val_loss" if val is not None else "loss")
    # base.monitor_mode is the direction of base.monitor: another metric infers its own.
    if mode is None and (monitor is None or monitor == base.monitor):
        mode = base.monitor_mode
    maximize = infer_mode(name, mode, metrics) == "max"
    return _Setup(base, quiet, sp, train, val, name, maximize)


def run(
    config: Optional[TrainingConfig],
    space: Union[SearchSpace, Mapping[str, Any]],
    model: Callable[..., Any],
    data: Any,
    trials: int = 20,
    monitor: Optional[str] = None,
    mode: Optional[str] = None,
    search: Any = "tpe",
    pruner: Any = "median",
    storage: Any = None,
    study_name: Optional[str] = None,
    seed: Optional[int] = None,
    metrics: Optional[Mapping[str, Any]] = None,
    loss_fn: Optional[Callable[[Any, Any], Any]] = None,
    callbacks: Sequence[Callback] = (),
    timeout: Optional[float] = None,
    log: Log = None,
    user_attrs: Optional[Mapping[str, Any]] = None,
) -> TuneResult:
    """An Optuna study of ``trials`` trials over ``space`` (needs the ``tune`` extra).

    ``model`` builds a fresh model (``model(config)`` or ``model()``); ``data`` is what
    ``train_with_config`` takes (``(train, val)``, or one dataset split by ``val_fraction``).
    ``monitor`` defaults to ``config.monitor``, else ``"val_loss"``; ``mode`` (``"min"`` or
    ``"max"``) is inferred from the name (or the metric object in ``metrics``) when not given.
    Every epoch reports the monitored value to the trial, and ``pruner`` (``"median"``,
    ``"hyperband"``, ``"none"`` or an Optuna pruner) may stop it. ``search`` is ``"tpe"``,
    ``"random"``, ``"grid"`` or an Optuna sampler (seeded with ``seed``, default
    ``config.seed``). With ``storage`` (``"journal:PATH"``, a path, ``"sqlite:///tune.db"`` or
    an Optuna storage) and ``study_name``, the study is created or joined, so several processes
    run trials of one study; a stored study of the other direction is a ``ConfigError``.
    ``log`` gets one line per finished trial. The result's ``trials`` are the study's (other
    processes' included). A trial that raises is marked failed in the study and its exception
    raised again, as Optuna's ``optimize`` does by default (the built-in searches record it and
    go on)."""
    _check_trials(trials)
    opt = _optuna.optuna()
    base, quiet, sp, train, val, name, maximize = _setup(
        config, space, data, monitor, mode, metrics
    )
    opt.logging.set_verbosity(opt.logging.WARNING)
    study = opt.create_study(
        study_name=study_name,
        storage=_optuna.make_storage(storage),
        sampler=_optuna.make_sampler(search, sp, base.seed if seed is None else seed),
        pruner=_optuna.make_pruner(pruner),
        direction="maximize" if maximize else "minimize",
        load_if_exists=True,
    )
    # load_if_exists joins a stored study whatever its direction: refuse the opposite one,
    # which would minimise an accuracy (or maximise a loss) without a word.
    wanted = "maximize" if maximize else "minimize"
    found = str(study.direction.name).lower()
    if found != wanted:
        raise ConfigError(
            f"study {study.study_name!r} in the storage has direction {found!r}, but monitor "
            f"{name!r} needs {wanted!r}: use another study_name, or mode= to match"
        )

    def objective(trial: Any) -> float:
        for k, v in (user_attrs or {}).items():
            trial.set_user_attr(k, v)
        params = suggest_params(sp, trial, quiet)
        cfg = apply_params(quiet, params)
        cbs = [*callbacks, _optuna.PruningCallback(trial, name)]
        value, history = train_trial(cfg, model, train, val, name, cbs, loss_fn, metrics)
        trial.set_user_attr("epochs", len(history.get("epoch", [])))
        return value

    def report(study: Any, frozen: Any) -> None:
        if log is not None:
            log(describe(_from_frozen(frozen), name))

    if trials > 0:
        study.optimize(objective, n_trials=trials, timeout=timeout, callbacks=[report])
    return result_from_study(study, base, name)


def _from_frozen(t: Any) -> TrialResult:
    state = str(t.state.name).lower()
    state = {"complete": "complete", "pruned": "pruned", "fail": "failed"}.get(state, state)
    steps = sorted(t.intermediate_values)
    value = t.value
    if state == "pruned" and steps:
        value = t.intermediate_values[steps[-1]]
    return TrialResult(
        number=int(t.number),
        params=dict(t.params),
        value=None if value is None else float(value),
        state=state,
        epochs=int(t.user_attrs.get("epochs", steps[-1] if steps else 0)),
        history={"reported": [t.intermediate_values[s] for s in steps]},
        error=t.system_attrs.get("fail_reason") if state == "failed" else None,
    )


def result_from_study(study: Any, base: TrainingConfig, monitor: str) -> TuneResult:
    """A ``TuneResult`` of every finished trial of an Optuna ``study``."""
    direction = "maximize" if str(study.direction.name).lower() == "maximize" else "minimize"
    trials = [_from_frozen(t) for t in study.trials if t.state.is_finished()]
    return TuneResult(trials, monitor, direction, base, study)


def _builtin(
    points: Any,
    setup: _Setup,
    model: Callable[..., Any],
    prune: bool,
    metrics: Optional[Mapping[str, Any]],
    loss_fn: Optional[Callable[[Any, Any], Any]],
    callbacks: Sequence[Callback],
    log: Log,
    numbers: Optional[Sequence[int]],
) -> TuneResult:
    base, quiet, _, train, val, name, maximize = setup
    results: list[TrialResult] = []
    finished: list[list[float]] = []  # per-epoch values of completed trials (the median rule)
    for number, point in enumerate(points):
        if numbers is not None and number not in numbers:
            continue
        params = applicable_params(quiet, point)  # (what the trial runs with, as recorded)
        stopper = MedianStopper(name, maximize, finished)
        cbs = [*callbacks, stopper] if prune else list(callbacks)
        try:
            cfg = apply_params(quiet, params)
            value, history = train_trial(cfg, model, train, val, name, cbs, loss_fn, metrics)
            vals = [float(v) for v in history[name]]
            if math.isnan(value):  # as Optuna: a NaN objective is a failed trial
                result = TrialResult(
                    number, dict(params), None, "failed", len(vals), history, f"{name} is NaN"
                )
            else:
                finished.append(vals)
                result = TrialResult(number, dict(params), value, "complete", len(vals), history)
        except TrialPrunedError as p:
            last = stopper.values[-1] if stopper.values else None
            result = TrialResult(number, dict(params), last, "pruned", p.epoch)
        except (MonitorNotRecordedError, MonitorError):
            raise  # a misspelt monitor: every trial would fail the same way
        except Exception as e:  # this trial's failure (its model, its config): go on
            epochs = len(stopper.values) if prune else 0
            error = f"{type(e).__name__}: {e}"
            result = TrialResult(number, dict(params), None, "failed", epochs, error=error)
        results.append(result)
        if log is not None:
            log(describe(result, name))
    return TuneResult(results, name, "maximize" if maximize else "minimize", base)


def grid_search(
    config: Optional[TrainingConfig],
    space: Union[SearchSpace, Mapping[str, Any]],
    model: Callable[..., Any],
    data: Any,
    trials: Optional[int] = None,
    monitor: Optional[str] = None,
    mode: Optional[str] = None,
    prune: bool = False,
    metrics: Optional[Mapping[str, Any]] = None,
    loss_fn: Optional[Callable[[Any, Any], Any]] = None,
    callbacks: Sequence[Callback] = (),
    log: Log = None,
    numbers: Optional[Sequence[int]] = None,
    seed: Optional[int] = None,
) -> TuneResult:
    """Trains every point of the space's grid (the first ``trials`` of them, when given; a
    ``Float`` without ``step`` contributes ``grid_points`` values), with no extra needed.
    The points go in grid order (the last key varying fastest), or, with ``seed``, in an order
    shuffled by it (as Optuna's ``GridSampler(seed=)``), so that ``trials`` takes a random
    subset of the grid. ``prune=True`` stops trials by the median rule (see
    ``MedianStopper``); ``numbers`` restricts the run to those trial numbers (how ranks share
    a grid). A trial that raises is recorded as ``"failed"`` (its ``error`` says why) and the
    search goes on."""
    if trials is not None:
        _check_trials(trials)
    setup = _setup(config, space, data, monitor, mode, metrics)
    points = list(setup.space.grid())
    if seed is not None:
        order = np.random.default_rng(_seed(seed)).permutation(len(points))
        points = [points[int(i)] for i in order]
    if trials is not None:
        points = points[:trials]
    return _builtin(points, setup, model, prune, metrics, loss_fn, callbacks, log, numbers)


def random_search(
    config: Optional[TrainingConfig],
    space: Union[SearchSpace, Mapping[str, Any]],
    model: Callable[..., Any],
    data: Any,
    trials: int = 20,
    monitor: Optional[str] = None,
    mode: Optional[str] = None,
    seed: Optional[int] = None,
    prune: bool = False,
    metrics: Optional[Mapping[str, Any]] = None,
    loss_fn: Optional[Callable[[Any, Any], Any]] = None,
    callbacks: Sequence[Callback] = (),
    log: Log = None,
    numbers: Optional[Sequence[int]] = None,
) -> TuneResult:
    """``trials`` points drawn at random from the space (log-uniform where ``log=True``),
    seeded with ``seed`` (default ``config.seed``): the same seed draws the same points on
    every rank, so ranks can share them by ``numbers``. No extra needed. A trial that raises
    is recorded as ``"failed"`` and the search goes on."""
    _check_trials(trials)
    setup = _setup(config, space, data, monitor, mode, metrics)
    rng = np.random.default_rng(setup.base.seed if seed is None else _seed(seed))
    points = [setup.space.sample(rng) for _ in range(trials)]
    return _builtin(points, setup, model, prune, metrics, loss_fn, callbacks, log, numbers)


def _check_trials(trials: Any) -> None:
    """``trials`` is a count: a negative one would silently drop grid points (``[:-1]``) or
    run nothing."""
    if isinstance(trials, bool) or not isinstance(trials, (int, np.integer)):
        raise ArgumentTypeError(f"trials must be an int, got {trials!r}")
    if trials < 0:
        raise InvalidValueError(f"trials must be >= 0, got {trials}")


def _seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ArgumentTypeError(f"seed must be an int or None, got {seed!r}")
    return int(seed)


def wait_for_trials(study: Any, total: int, timeout: float, poll: float = 0.5) -> int:
    """Waits until ``study`` (shared through its storage) has ``total`` finished trials, or
    ``timeout`` seconds; returns how many are finished."""
    end = time.monotonic() + timeout
    while True:
        done = sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished())
        if done >= total or time.monotonic() > end:
            return done
        time.sleep(poll)
