"""Search spaces over ``TrainingConfig`` fields: ``Float``, ``Int`` and ``Categorical``
distributions (Optuna's ``suggest_float``/``suggest_int``/``suggest_categorical``), written in
Python or in a TOML table, applied to a config as ``key=value`` overrides.

Keys are the config's own names, nested ones dotted: ``learning_rate``, ``batch_size``,
``optimizer`` (switches the optimizer kind), ``optimizer.weight_decay``, ``scheduler.gamma``.
In TOML a distribution is an inline table: ``{ low = 1e-4, high = 0.1, log = true }`` (a float
range, an int range when both ends are integers), ``{ choices = ["adam", "sgd"] }``, with an
optional ``type = "float" | "int" | "categorical"`` and ``step``.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np

from ..train.config import (
    ConfigError,
    OptimizerConfig,
    SchedulerConfig,
    TrainingConfig,
    _norm,
)

__all__ = ["Categorical", "Distribution", "Float", "Int", "SearchSpace", "apply_params"]

Value = Union[float, int, str, bool]


def _number(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{what} must be a number, got {v!r}")
    return float(v)


@dataclass(frozen=True)
class Float:
    """A float in ``[low, high]``: uniform, or log-uniform with ``log=True`` (``low > 0``);
    ``step`` makes it discrete. A grid search tries ``grid_points`` values (log-spaced when
    ``log``) unless ``step`` gives them."""

    low: float
    high: float
    log: bool = False
    step: Optional[float] = None
    grid_points: int = 5

    def __post_init__(self) -> None:
        lo, hi = _number(self.low, "Float low"), _number(self.high, "Float high")
        if not lo <= hi:
            raise ConfigError(f"Float: low ({lo}) must be <= high ({hi})")
        if self.log and lo <= 0:
            raise ConfigError(f"Float(log=True) needs low > 0, got {lo}")
        if self.log and self.step is not None:
            raise ConfigError("Float: step and log=True cannot be combined (as in Optuna)")
        if self.step is not None and _number(self.step, "Float step") <= 0:
            raise ConfigError(f"Float: step must be > 0, got {self.step}")

    def grid(self) -> list[float]:
        if self.step is not None:
            n = math.floor((self.high - self.low) / self.step + 1e-9)
            return [float(self.low + i * self.step) for i in range(n + 1)]
        if self.low == self.high:
            return [float(self.low)]
        if self.log:
            return [float(v) for v in np.geomspace(self.low, self.high, self.grid_points)]
        return [float(v) for v in np.linspace(self.low, self.high, self.grid_points)]

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        v = float(rng.uniform(self.low, self.high))
        if self.step is not None:
            v = self.low + round((v - self.low) / self.step) * self.step
            v = min(v, self.high)
        return float(v)

    def suggest(self, trial: Any, name: str) -> float:
        return float(trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step))


@dataclass(frozen=True)
class Int:
    """An int in ``[low, high]`` (both included), every ``step``-th, or log-uniform."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def __post_init__(self) -> None:
        for name in ("low", "high", "step"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"Int {name} must be an int, got {v!r}")
        if self.low > self.high:
            raise ConfigError(f"Int: low ({self.low}) must be <= high ({self.high})")
        if self.step < 1:
            raise ConfigError(f"Int: step must be >= 1, got {self.step}")
        if self.log and (self.low < 1 or self.step != 1):
            raise ConfigError("Int(log=True) needs low >= 1 and step = 1 (as in Optuna)")

    def grid(self) -> list[int]:
        return list(range(self.low, self.high + 1, self.step))

    def sample(self, rng: np.random.Generator) -> int:
        if self.log:
            v = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            return int(min(self.high, max(self.low, math.floor(v))))
        n = (self.high - self.low) // self.step
        return int(self.low + self.step * int(rng.integers(0, n + 1)))

    def suggest(self, trial: Any, name: str) -> int:
        return int(trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log))


@dataclass(frozen=True)
class Categorical:
    """One of ``choices`` (strings, numbers or booleans)."""

    choices: tuple[Value, ...]

    def __init__(self, choices: Sequence[Value]) -> None:
        if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence) or not choices:
            raise ConfigError(f"Categorical needs a non-empty list of choices, got {choices!r}")
        for c in choices:
            if not isinstance(c, (str, int, float, bool)):
                raise ConfigError(
                    f"Categorical choices must be strings, numbers or booleans: {c!r}"
                )
        object.__setattr__(self, "choices", tuple(choices))

    def grid(self) -> list[Value]:
        return list(self.choices)

    def sample(self, rng: np.random.Generator) -> Value:
        return self.choices[int(rng.integers(0, len(self.choices)))]

    def suggest(self, trial: Any, name: str) -> Value:
        return trial.suggest_categorical(name, list(self.choices))  # type: ignore[no-any-return]


Distribution = Union[Float, Int, Categorical]


def _from_table(key: str, spec: Any) -> Distribution:
    """One TOML/dict entry as a distribution (a list is a categorical's choices)."""
    if isinstance(spec, (Float, Int, Categorical)):
        return spec
    if isinstance(spec, (list, tuple)):
        return Categorical(list(spec))
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"search space {key!r}: expected {{ low = ..., high = ... }}, {{ choices = [...] }} "
            f"or a list, got {spec!r}"
        )
    spec = dict(spec)
    kind = spec.pop("type", None)
    if "choices" in spec or kind == "categorical":
        extra = set(spec) - {"choices"}
        if extra:
            raise ConfigError(f"search space {key!r}: unknown keys {sorted(extra)} for choices")
        return Categorical(spec.get("choices", []))
    allowed = {"low", "high", "log", "step", "grid_points"}
    extra = set(spec) - allowed
    if extra or "low" not in spec or "high" not in spec:
        raise ConfigError(
            f"search space {key!r}: a range needs low and high (and may have log, step), "
            f"got keys {sorted(spec)}"
        )
    ints = all(
        isinstance(spec.get(k), int) and not isinstance(spec.get(k), bool) for k in ("low", "high")
    ) and isinstance(spec.get("step", 1), int)
    if kind == "int" or (kind is None and ints):
        spec.pop("grid_points", None)
        return Int(**spec)
    if kind not in (None, "float"):
        raise ConfigError(f"search space {key!r}: type must be float, int or categorical")
    return Float(
        _number(spec["low"], f"{key} low"),
        _number(spec["high"], f"{key} high"),
        log=bool(spec.get("log", False)),
        step=spec.get("step"),
        grid_points=int(spec.get("grid_points", 5)),
    )


class SearchSpace:
    """Config keys mapped to distributions, in a fixed order (the kind switches ``optimizer``
    and ``scheduler`` first, so that their fields apply to the new kind)."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        if not isinstance(params, Mapping) or not params:
            raise ConfigError("a search space needs at least one parameter")
        items = {str(k): _from_table(str(k), v) for k, v in params.items()}
        order = sorted(items, key=lambda k: (k not in ("optimizer", "scheduler"), 0))
        self.params: dict[str, Distribution] = {k: items[k] for k in order}

    @classmethod
    def of(cls, space: Union[SearchSpace, Mapping[str, Any]]) -> SearchSpace:
        return space if isinstance(space, SearchSpace) else cls(space)

    def check(self, config: TrainingConfig) -> None:
        """``ConfigError`` naming a key that is not a config field (or a value the config
        refuses), before any trial runs: the lowest and the highest corner are applied."""
        for end in (0, -1):
            params = {k: d.grid()[end] for k, d in self.params.items()}
            try:
                apply_params(config, params)
            except ConfigError as e:
                raise ConfigError(f"search space {params}: {e}") from None

    def grid(self) -> Iterator[dict[str, Value]]:
        """Every combination, the last key varying fastest."""
        keys = list(self.params)
        for combo in itertools.product(*(self.params[k].grid() for k in keys)):
            yield dict(zip(keys, combo))

    def grid_size(self) -> int:
        return int(np.prod([len(d.grid()) for d in self.params.values()]))

    def sample(self, rng: np.random.Generator) -> dict[str, Value]:
        return {k: d.sample(rng) for k, d in self.params.items()}

    def suggest(self, trial: Any) -> dict[str, Value]:
        """Asks an Optuna ``trial`` for every parameter."""
        return {k: d.suggest(trial, k) for k, d in self.params.items()}

    def optuna_grid(self) -> dict[str, list[Value]]:
        """The grid as Optuna's ``GridSampler`` wants it."""
        return {k: list[Value](d.grid()) for k, d in self.params.items()}

    def __iter__(self) -> Iterator[str]:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def __repr__(self) -> str:
        return f"SearchSpace({self.params!r})"


def _fields_of(union: Any, kind_name: str) -> Optional[set[str]]:
    cls = union._registry.get(_norm(kind_name))
    return None if cls is None else {f.name for f in dataclasses.fields(cls)}


def apply_params(config: TrainingConfig, params: Mapping[str, Any]) -> TrainingConfig:
    """A copy of ``config`` with ``params`` (``{"learning_rate": 0.01, "optimizer": "sgd",
    "optimizer.momentum": 0.9}``) applied, kind switches first. A nested key that the chosen
    optimizer or scheduler kind lacks but another kind has (``optimizer.momentum`` with
    ``optimizer = "adam"``) is left out, so one space can span several kinds."""
    ordered = sorted(params.items(), key=lambda kv: kv[0] not in ("optimizer", "scheduler"))
    scheduler = config.scheduler.name if config.scheduler is not None else None
    kinds: dict[str, Optional[str]] = {"optimizer": config.optimizer.name, "scheduler": scheduler}
    unions = {"optimizer": OptimizerConfig, "scheduler": SchedulerConfig}
    overrides = []
    for key, value in ordered:
        head, _, rest = key.partition(".")
        if key in kinds:
            kinds[key] = None if str(value).lower() == "none" else str(value)
        elif rest and head in unions:
            union = unions[head]
            kind = kinds[head]
            own = _fields_of(union, kind) if kind is not None else None
            anywhere = set().union(*(_fields_of(union, k) or set() for k in union.kinds()))
            if (own is None or rest not in own) and rest in anywhere:
                continue  # a field of another kind than this trial's
        text = repr(value) if isinstance(value, float) else str(value)
        overrides.append(f"{key}={text}")
    return config.with_overrides(overrides)
