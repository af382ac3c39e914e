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
from decimal import Decimal
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
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ConfigError(f"Float: low and high must be finite, got {lo} and {hi}")
        if not lo <= hi:
            raise ConfigError(f"Float: low ({lo}) must be <= high ({hi})")
        if not isinstance(self.log, (bool, np.bool_)):
            raise ConfigError(f"Float: log must be True or False, got {self.log!r}")
        if self.log and lo <= 0:
            raise ConfigError(f"Float(log=True) needs low > 0, got {lo}")
        if self.log and self.step is not None:
            raise ConfigError("Float: step and log=True cannot be combined (as in Optuna)")
        if self.step is not None:
            step = _number(self.step, "Float step")
            if not (math.isfinite(step) and step > 0):
                raise ConfigError(f"Float: step must be a finite number > 0, got {self.step}")
        gp = self.grid_points
        if isinstance(gp, (bool, np.bool_)) or not isinstance(gp, (int, np.integer)) or gp < 1:
            raise ConfigError(f"Float: grid_points must be an int >= 1, got {gp!r}")

    def _steps(self) -> tuple[Decimal, Decimal, int]:
        """``(low, step, n)`` as decimals of the numbers as written, with ``n + 1`` values:
        ``low + i * step`` in decimal is what the user means (0.1 + 3 * 0.2 is 0.7, where binary
        floats give 0.7000000000000001, past ``high``)."""
        assert self.step is not None
        lo, step = Decimal(repr(float(self.low))), Decimal(repr(float(self.step)))
        n = int((Decimal(repr(float(self.high))) - lo) // step)
        return lo, step, n

    def _at(self, lo: Decimal, step: Decimal, i: int) -> float:
        return min(float(self.high), max(float(self.low), float(lo + i * step)))

    def grid(self) -> list[float]:
        if self.step is not None:
            lo, step, n = self._steps()
            return [self._at(lo, step, i) for i in range(n + 1)]
        if self.low == self.high:
            return [float(self.low)]
        if self.log:
            return [float(v) for v in np.geomspace(self.low, self.high, int(self.grid_points))]
        return [float(v) for v in np.linspace(self.low, self.high, int(self.grid_points))]

    def sample(self, rng: np.random.Generator) -> float:
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        if self.step is not None:
            # Each of the n + 1 values equally likely, as Optuna's samplers draw them (rounding
            # a uniform draw would give the two ends half the weight of the others).
            lo, step, n = self._steps()
            return self._at(lo, step, int(rng.integers(0, n + 1)))
        return float(rng.uniform(self.low, self.high))

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
        if not isinstance(self.log, (bool, np.bool_)):
            raise ConfigError(f"Int: log must be True or False, got {self.log!r}")
        if self.log and (self.low < 1 or self.step != 1):
            raise ConfigError("Int(log=True) needs low >= 1 and step = 1 (as in Optuna)")

    def grid(self) -> list[int]:
        return list(range(self.low, self.high + 1, self.step))

    def sample(self, rng: np.random.Generator) -> int:
        if self.log:
            # Optuna's draw: log-uniform over [low - 0.5, high + 0.5], rounded.
            v = math.exp(rng.uniform(math.log(self.low - 0.5), math.log(self.high + 0.5)))
            return int(min(self.high, max(self.low, round(v))))
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
        log=spec.get("log", False),
        step=spec.get("step"),
        grid_points=spec.get("grid_points", 5),
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
        """``ConfigError``, before any trial runs, for a key that is not a config field, a field
        of an optimizer or scheduler kind that no trial can have (``optimizer.momentum`` when
        every trial uses Adam), or a value the config refuses. The lowest and highest corners
        are applied, then every value a key can take (each choice; a range's two ends) one key
        at a time, under each kind the trials can have: a few config validations in all."""
        for end in (0, -1):
            params = {k: d.grid()[end] for k, d in self.params.items()}
            self._try(config, params)
        for key, dist in self.params.items():
            values = dist.grid() if isinstance(dist, Categorical) else _ends(dist)
            head, _, rest = key.partition(".")
            if key in _KINDS:
                contexts: list[dict[str, Value]] = [{}]
            elif rest and head in _KINDS:
                kinds = self._kinds(config, head)
                having = [k for k in kinds if k is not None and rest in (_fields_of(head, k) or ())]
                if not having and rest in _all_fields(head):
                    reach = ", ".join("none" if k is None else k for k in kinds)
                    raise ConfigError(
                        f"search space {key!r}: no {head} kind the search can use ({reach}) "
                        f"has the field {rest!r}, so every trial would ignore it; add a kind "
                        f"that has it to the space's {head!r} choices, or set {head} in the config"
                    )
                contexts = [{head: k} for k in having] if head in self.params and having else [{}]
            else:
                contexts = [{}]
            for value in values:
                for context in contexts:
                    self._try(config, {**context, key: value})

    @staticmethod
    def _try(config: TrainingConfig, params: Mapping[str, Any]) -> None:
        try:
            apply_params(config, params)
        except ConfigError as e:
            raise ConfigError(f"search space {dict(params)}: {e}") from None

    def _kinds(self, config: TrainingConfig, head: str) -> list[Optional[str]]:
        """The ``optimizer`` or ``scheduler`` kinds (``None``: no scheduler) trials can have."""
        dist = self.params.get(head)
        if dist is None:
            current = getattr(config, head)
            return [None if current is None else str(current.name)]
        return [None if str(v).lower() == "none" else str(v) for v in dist.grid()]

    def grid(self) -> Iterator[dict[str, Value]]:
        """Every combination, the last key varying fastest."""
        keys = list(self.params)
        for combo in itertools.product(*(self.params[k].grid() for k in keys)):
            yield dict(zip(keys, combo))

    def grid_size(self) -> int:
        return int(np.prod([len(d.grid()) for d in self.params.values()]))

    def sample(self, rng: np.random.Generator) -> dict[str, Value]:
        return {k: d.sample(rng) for k, d in self.params.items()}

    def optuna_grid(self) -> dict[str, list[Value]]:
        """The grid as Optuna's ``GridSampler`` wants it."""
        return {k: list[Value](d.grid()) for k, d in self.params.items()}

    def __iter__(self) -> Iterator[str]:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def __repr__(self) -> str:
        return f"SearchSpace({self.params!r})"


_KINDS: dict[str, Any] = {"optimizer": OptimizerConfig, "scheduler": SchedulerConfig}


def _ends(dist: Union[Float, Int]) -> list[Value]:
    grid: list[Value] = list(dist.grid())
    return [grid[0], grid[-1]] if len(grid) > 1 else grid


def _fields_of(head: str, kind_name: str) -> Optional[set[str]]:
    """The fields of the ``head`` (``"optimizer"``/``"scheduler"``) kind ``kind_name``, or
    ``None`` for a kind that does not exist."""
    cls = _KINDS[head]._registry.get(_norm(kind_name))
    return None if cls is None else {f.name for f in dataclasses.fields(cls)}


def _all_fields(head: str) -> set[str]:
    return set().union(*(_fields_of(head, k) or set() for k in _KINDS[head].kinds()))


def _kinds(config: TrainingConfig) -> dict[str, Optional[str]]:
    scheduler = config.scheduler.name if config.scheduler is not None else None
    return {"optimizer": config.optimizer.name, "scheduler": scheduler}


def _kind_first(key: str) -> bool:
    return key not in ("optimizer", "scheduler")


def _another_kinds(key: str, kinds: Mapping[str, Optional[str]]) -> bool:
    """Whether ``key`` (``"optimizer.momentum"``) is a field that the trial's kind lacks but
    another kind has: it is left out of that trial."""
    head, _, rest = key.partition(".")
    if not rest or head not in _KINDS:
        return False
    kind = kinds[head]
    own = _fields_of(head, kind) if kind is not None else None
    return (own is None or rest not in own) and rest in _all_fields(head)


def _choose_kind(kinds: dict[str, Optional[str]], key: str, value: Any) -> None:
    if key in kinds:
        kinds[key] = None if str(value).lower() == "none" else str(value)


def applicable_params(config: TrainingConfig, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` without the keys of another optimizer or scheduler kind than the trial's
    (``optimizer.momentum`` when ``optimizer = "adam"``): what the trial really ran with."""
    kinds = _kinds(config)
    for key, value in params.items():
        _choose_kind(kinds, key, value)
    return {k: v for k, v in params.items() if not _another_kinds(k, kinds)}


def suggest_params(space: SearchSpace, trial: Any, config: TrainingConfig) -> dict[str, Value]:
    """Asks an Optuna ``trial`` for the kinds first, then for the fields the chosen kinds have
    (Optuna's define-by-run: a trial on Adam is never asked for ``optimizer.momentum``)."""
    kinds = _kinds(config)
    out: dict[str, Value] = {}
    for key in sorted(space.params, key=_kind_first):
        if _another_kinds(key, kinds):
            continue
        out[key] = space.params[key].suggest(trial, key)
        _choose_kind(kinds, key, out[key])
    return out


def apply_params(config: TrainingConfig, params: Mapping[str, Any]) -> TrainingConfig:
    """A copy of ``config`` with ``params`` (``{"learning_rate": 0.01, "optimizer": "sgd",
    "optimizer.momentum": 0.9}``) applied, kind switches first. A nested key that the chosen
    optimizer or scheduler kind lacks but another kind has (``optimizer.momentum`` with
    ``optimizer = "adam"``) is left out, so one space can span several kinds."""
    kept = applicable_params(config, params)
    overrides = []
    for key, value in sorted(kept.items(), key=lambda kv: _kind_first(kv[0])):
        text = repr(value) if isinstance(value, float) else str(value)
        overrides.append(f"{key}={text}")
    return config.with_overrides(overrides)
