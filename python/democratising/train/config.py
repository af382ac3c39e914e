"""Training configuration: the seed's ``TrainingConfig`` / ``OptimizerConfig`` /
``SchedulerConfig`` as dataclasses that load from TOML or JSON and take ``key=value`` overrides.

Why dataclasses: the field types drive override coercion (``"1e-4"`` becomes a float for a float
field), unknown keys are caught with a suggestion, and ``to_dict()`` is JSON-able, so the config
travels inside checkpoints. Optimizer and scheduler configs are tagged unions: one subclass per
kind, chosen by the ``name`` key in files (``[optimizer] name = "adamw"``) or, as serde writes
the seed's Rust enums, by a single key naming the kind (``[optimizer.AdamW]``).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import os
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional, Union

from .. import _core, optim
from ..errors import ArgumentTypeError, DeviceError, InvalidValueError
from ..optim import lr_scheduler
from . import _validate as rules
from ._fields import add_fields
from ._validate import ConfigError

__all__ = [
    "ConfigError",
    "ConfigFileNotFoundError",
    "ConfigKeyError",
    "OptimizerConfig",
    "SchedulerConfig",
    "TrainingConfig",
    "load_config",
]


def _norm(name: str) -> str:
    """``"CosineAnnealingLR"``, ``"cosine_annealing"`` and ``"cosine-annealing"`` are one name."""
    n = name.lower().replace("_", "").replace("-", "")
    return n[:-2] if n.endswith("lr") and len(n) > 2 else n


#: PyTorch's and Lightning's names for config fields, too unlike ours for difflib to match:
#: ``TrainingConfig(lr=0.01)`` should say "did you mean 'learning_rate'?", not list every field.
_FAMILIAR = {
    "lr": "learning_rate",
    "max_epochs": "num_epochs",
    "accumulate_grad_batches": "accumulation_steps",
    "gradient_accumulation_steps": "accumulation_steps",
    "gradient_clip_val": "max_grad_norm",
    "clip_grad_norm": "max_grad_norm",
    "precision": "amp",
    "default_root_dir": "runs_dir",
    "lr_scheduler": "scheduler",
}


def _unknown(kind: str, key: str, choices: Iterable[str]) -> ConfigError:
    choices = sorted(choices)
    familiar = _FAMILIAR.get(key)
    close = [familiar] if familiar in choices else difflib.get_close_matches(key, choices, n=1)
    if not close:  # "cosine" for "CosineAnnealing": the shortest name it begins
        starts = [c for c in choices if key and _norm(c).startswith(_norm(key))]
        close = sorted(starts, key=len)[:1]
    hint = f"; did you mean {close[0]!r}?" if close else f"; expected one of {choices}"
    return ConfigError(f"unknown {kind} {key!r}{hint}")


class ConfigFileNotFoundError(ConfigError, FileNotFoundError):
    """A config file that does not exist: also the ``FileNotFoundError`` ``open()`` raises."""


class ConfigDeviceError(ConfigError, DeviceError):
    """A ``device`` the config cannot name (``"gpu"``): a bad config value and a bad device."""


class ConfigKeyError(ConfigError, TypeError):
    """An unknown keyword argument of a config class: a ``TypeError`` like Python's own, with a
    did-you-mean, and a ``ConfigError`` like every other config problem."""


def _problems(errors: list[str], what: str) -> ConfigError:
    """One ``ConfigError`` listing every problem found (the single message as is), so that a
    config file is fixed in one go rather than one error per run."""
    if len(errors) == 1:
        err = ConfigError(errors[0])
    else:
        listed = "\n".join(f"  - {e}" for e in errors)
        err = ConfigError(f"{len(errors)} problems in the {what}:\n{listed}")
    err.problems = list(errors)  # type: ignore[attr-defined]
    return err


def _messages(e: ConfigError) -> list[str]:
    return list(getattr(e, "problems", None) or [str(e)])


#: Keys people write inside ``[optimizer]`` that belong elsewhere, and where they belong.
_MISPLACED = {
    "lr": "learning_rate",
    "learning_rate": "learning_rate",
}


class _Tagged:
    """Shared machinery of the optimizer and scheduler unions.

    A variant names what it builds (``_target``) and the parameters a file may set, each with
    its rule (``_spec``); its dataclass fields, their order and defaults come from the target's
    signature (see ``_fields``), so each hyperparameter is declared once, where it is used."""

    name: ClassVar[str] = ""
    _registry: ClassVar[dict[str, type[_Tagged]]]
    _kind: ClassVar[str] = ""
    #: What ``build`` constructs; its signature supplies the fields' order and defaults.
    _target: ClassVar[Callable[..., Any]]
    #: Every field's rule (type and allowed values), checked on construction.
    _spec: ClassVar[dict[str, rules.Check]] = {}
    #: Rules of the fields every variant of a union has, put first in each variant's ``_spec``.
    _common_spec: ClassVar[dict[str, rules.Check]] = {}
    #: Parameters spelled as several fields (``betas`` as ``beta1``, ``beta2``).
    _split: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: Defaults the config sets where the target has none or means another.
    _defaults: ClassVar[dict[str, Any]] = {}
    #: Config-only fields (not parameters of the target) and their defaults, placed last.
    _own: ClassVar[dict[str, Any]] = {}

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """``ConfigError`` naming the first field (``optimizer.beta1``...) with a bad value."""
        rules.check_fields(self, self._spec, f"{self._kind}.")

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if cls.__dict__.get("name"):
            cls._spec = {**cls._common_spec, **cls._spec}
            cls._registry[_norm(cls.name)] = cls
            # ``AdamConfig`` is also ``OptimizerConfig.Adam``, the seed's enum-variant spelling.
            union = next(c for c in cls.__mro__ if "_registry" in c.__dict__)
            setattr(union, cls.__name__.removesuffix("Config"), cls)
            add_fields(
                cls,
                cls._target,
                cls._spec,
                split=cls._split,
                defaults=cls._defaults,
                own=cls._own,
            )

    @classmethod
    def kinds(cls) -> list[str]:
        """The canonical names accepted in ``name``."""
        return sorted({c.name for c in cls._registry.values()})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """Builds the variant named by ``data["name"]`` from the remaining keys, or from
        serde's externally tagged form that the Rust seed's enums serialise to, one key naming
        the variant (case-insensitive) over its fields: ``{"Adam": {"beta1": 0.9}}``,
        ``[optimizer.Adam]`` in TOML."""
        data = dict(data)
        if "name" not in data and len(data) == 1:
            ((variant, fields),) = data.items()
            known = isinstance(variant, str) and _norm(variant) in cls._registry
            if known and isinstance(fields, Mapping) and "name" not in fields:
                data = {"name": variant, **fields}
        if "name" not in data:
            raise ConfigError(f"{cls._kind} config needs a 'name' (one of {cls.kinds()})")
        name = str(data.pop("name"))
        sub = cls._registry.get(_norm(name))
        if sub is None:
            raise _unknown(cls._kind, name, cls.kinds())
        return _build(sub, data, cls._kind)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **dataclasses.asdict(self)}  # type: ignore[call-overload]

    def _kwargs(self) -> dict[str, Any]:
        """The fields as the target's keyword arguments (split parameters joined again)."""
        kw = dataclasses.asdict(self)  # type: ignore[call-overload]
        for param, names in self._split.items():
            kw[param] = tuple(kw.pop(n) for n in names)
        for name in self._own:
            kw.pop(name)
        return kw


# ---- optimizers ------------------------------------------------------------------------------


class OptimizerConfig(_Tagged):
    """Which optimizer to build and its hyperparameters (the learning rate lives in
    ``TrainingConfig.learning_rate``). Construct with ``OptimizerConfig.Adam(...)`` etc.: each
    takes the optimizer's own keyword arguments and defaults (Adam's ``betas`` as ``beta1``
    and ``beta2``)."""

    _registry: ClassVar[dict[str, type[_Tagged]]] = {}
    _kind: ClassVar[str] = "optimizer"
    _common_spec: ClassVar[dict[str, rules.Check]] = {"weight_decay": rules.Num(0)}

    Adam: ClassVar[type[AdamConfig]]
    AdamW: ClassVar[type[AdamWConfig]]
    SGD: ClassVar[type[SGDConfig]]
    RMSprop: ClassVar[type[RMSpropConfig]]
    Adagrad: ClassVar[type[AdagradConfig]]

    def build(self, params: Any, lr: float) -> Any:
        """The ``democratising.optim`` optimizer for ``params``."""
        return self._target(params, lr=lr, **self._kwargs())


_ADAM_SPEC: dict[str, rules.Check] = {
    "beta1": rules.Num(0, 1, hi_open=True),
    "beta2": rules.Num(0, 1, hi_open=True),
    "eps": rules.Num(0),
    "amsgrad": rules.Bool(),
}


@dataclass
class AdamConfig(OptimizerConfig):
    name: ClassVar[str] = "adam"
    _target = optim.Adam
    _spec = _ADAM_SPEC
    _split = {"betas": ("beta1", "beta2")}


@dataclass
class AdamWConfig(AdamConfig):
    name: ClassVar[str] = "adamw"
    _target = optim.AdamW


@dataclass
class SGDConfig(OptimizerConfig):
    name: ClassVar[str] = "sgd"
    _target = optim.SGD
    _spec = {
        "momentum": rules.Num(0),
        "dampening": rules.Num(0, 1),
        "nesterov": rules.Bool(),
    }

    def validate(self) -> None:
        super().validate()
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ConfigError(
                "optimizer.nesterov = true needs optimizer.momentum > 0 and "
                f"optimizer.dampening = 0, got {self.momentum} and {self.dampening}"
            )


@dataclass
class RMSpropConfig(OptimizerConfig):
    name: ClassVar[str] = "rmsprop"
    _target = optim.RMSprop
    _spec = {
        "alpha": rules.Num(0, 1),
        "eps": rules.Num(0),
        "momentum": rules.Num(0),
        "centered": rules.Bool(),
    }


@dataclass
class AdagradConfig(OptimizerConfig):
    name: ClassVar[str] = "adagrad"
    _target = optim.Adagrad
    _spec = {
        "lr_decay": rules.Num(0),
        "eps": rules.Num(0),
        "initial_accumulator_value": rules.Num(0),
    }


# ---- schedulers ------------------------------------------------------------------------------


_INTERVAL = rules.Choice((None, "epoch", "batch"))


class SchedulerConfig(_Tagged):
    """Which ``optim.lr_scheduler`` to build. ``interval`` is ``"epoch"`` (step after every
    epoch) or ``"batch"`` (after every optimizer step); ``None`` picks the scheduler's natural
    one (``OneCycle`` per batch, the rest per epoch). Construct with
    ``SchedulerConfig.StepLR(...)`` etc.: each takes the scheduler's own arguments and
    defaults, then ``interval``."""

    _registry: ClassVar[dict[str, type[_Tagged]]] = {}
    _kind: ClassVar[str] = "scheduler"
    _default_interval: ClassVar[str] = "epoch"
    _own: ClassVar[dict[str, Any]] = {"interval": None}
    _common_spec: ClassVar[dict[str, rules.Check]] = {"interval": _INTERVAL}

    CosineAnnealing: ClassVar[type[CosineAnnealingConfig]]
    CosineAnnealingWarmRestarts: ClassVar[type[CosineAnnealingWarmRestartsConfig]]
    StepLR: ClassVar[type[StepLRConfig]]
    MultiStepLR: ClassVar[type[MultiStepLRConfig]]
    ExponentialLR: ClassVar[type[ExponentialLRConfig]]
    LinearLR: ClassVar[type[LinearLRConfig]]
    PolynomialLR: ClassVar[type[PolynomialLRConfig]]
    OneCycle: ClassVar[type[OneCycleConfig]]
    CosineAnnealingLR: ClassVar[type[CosineAnnealingConfig]]  # PyTorch's name
    OneCycleLR: ClassVar[type[OneCycleConfig]]  # PyTorch's name
    ReduceLROnPlateau: ClassVar[type[ReduceLROnPlateauConfig]]

    interval: Optional[str]  # a field of every variant (from ``_own``), declared here for readers

    @property
    def step_interval(self) -> str:
        iv = self.interval or self._default_interval
        if iv not in ("epoch", "batch"):
            raise ConfigError(f"scheduler interval must be 'epoch' or 'batch', got {iv!r}")
        return iv

    def build(self, optimizer: Any, num_epochs: int, steps_per_epoch: int, lr: float) -> Any:
        """The scheduler; ``num_epochs``/``steps_per_epoch`` fill lengths left as ``None``."""
        kw = self._kwargs()
        self._resolve(kw, self._horizon(num_epochs, steps_per_epoch), lr)
        return self._target(optimizer, **kw)

    #: Length arguments that ``None`` sets to the run's length (in ``step_interval`` units).
    _run_length: ClassVar[tuple[str, ...]] = ()

    def _resolve(self, kw: dict[str, Any], horizon: int, lr: float) -> None:
        """Fills the arguments left to the run (a length of ``None`` is the run's length)."""
        for name in self._run_length:
            if kw[name] is None:
                kw[name] = horizon

    def _horizon(self, num_epochs: int, steps_per_epoch: int) -> int:
        return num_epochs * steps_per_epoch if self.step_interval == "batch" else num_epochs


@dataclass
class CosineAnnealingConfig(SchedulerConfig):
    name: ClassVar[str] = "CosineAnnealing"
    _target = lr_scheduler.CosineAnnealingLR
    _spec = {"T_max": rules.Int(1, optional=True), "eta_min": rules.Num(0)}
    _defaults = {"T_max": None}
    _run_length = ("T_max",)


@dataclass
class CosineAnnealingWarmRestartsConfig(SchedulerConfig):
    name: ClassVar[str] = "CosineAnnealingWarmRestarts"
    _target = lr_scheduler.CosineAnnealingWarmRestarts
    _spec = {
        "T_0": rules.Int(1),
        "T_mult": rules.Int(1),
        "eta_min": rules.Num(0),
    }
    _defaults = {"T_0": 10}


@dataclass
class StepLRConfig(SchedulerConfig):
    name: ClassVar[str] = "StepLR"
    _target = lr_scheduler.StepLR
    _spec = {"step_size": rules.Int(1), "gamma": rules.Num(0)}
    _defaults = {"step_size": 1}


@dataclass
class MultiStepLRConfig(SchedulerConfig):
    name: ClassVar[str] = "MultiStepLR"
    _target = lr_scheduler.MultiStepLR
    _spec = {"milestones": rules.IntList(0), "gamma": rules.Num(0)}
    _defaults: ClassVar[dict[str, Any]] = {"milestones": []}


@dataclass
class ExponentialLRConfig(SchedulerConfig):
    name: ClassVar[str] = "ExponentialLR"
    _target = lr_scheduler.ExponentialLR
    _spec = {"gamma": rules.Num(0, lo_open=True)}
    _defaults = {"gamma": 0.9}


@dataclass
class LinearLRConfig(SchedulerConfig):
    name: ClassVar[str] = "LinearLR"
    _target = lr_scheduler.LinearLR
    _spec = {
        "start_factor": rules.Num(0, 1, lo_open=True),
        "end_factor": rules.Num(0, 1),
        "total_iters": rules.Int(1, optional=True),
    }
    _run_length = ("total_iters",)  # ``None``: over the whole run


@dataclass
class PolynomialLRConfig(SchedulerConfig):
    name: ClassVar[str] = "PolynomialLR"
    _target = lr_scheduler.PolynomialLR
    _spec = {"total_iters": rules.Int(1, optional=True), "power": rules.Num(0)}
    _defaults = {"total_iters": None}  # the run's length
    _run_length = ("total_iters",)


@dataclass
class OneCycleConfig(SchedulerConfig):
    name: ClassVar[str] = "OneCycle"
    _target = lr_scheduler.OneCycleLR
    _default_interval: ClassVar[str] = "batch"
    _spec = {
        "max_lr": rules.Num(0, lo_open=True, optional=True),
        "pct_start": rules.Num(0, 1),
        "anneal_strategy": rules.Choice(("cos", "linear")),
        "div_factor": rules.Num(0, lo_open=True),
        "final_div_factor": rules.Num(0, lo_open=True),
        "three_phase": rules.Bool(),
        "cycle_momentum": rules.Bool(),
    }
    _defaults = {"max_lr": None}  # the run's learning rate

    def _resolve(self, kw: dict[str, Any], horizon: int, lr: float) -> None:
        if kw["max_lr"] is None:
            kw["max_lr"] = lr
        kw["total_steps"] = horizon


@dataclass
class ReduceLROnPlateauConfig(SchedulerConfig):
    """Steps once per epoch with the validation loss (the training loss without validation)."""

    name: ClassVar[str] = "ReduceLROnPlateau"
    _target = lr_scheduler.ReduceLROnPlateau
    _spec = {
        "mode": rules.Choice(("min", "max")),
        "factor": rules.Num(0, 1, hi_open=True),
        "patience": rules.Int(0),
        "threshold": rules.Num(0),
        "cooldown": rules.Int(0),
        "min_lr": rules.Num(0),
    }


# PyTorch's class names for the two variants whose seed names drop the "LR", so that
# ``SchedulerConfig.CosineAnnealingLR(T_max=...)`` works as ``CosineAnnealing`` does.
SchedulerConfig.CosineAnnealingLR = CosineAnnealingConfig
SchedulerConfig.OneCycleLR = OneCycleConfig

#: What a resume with more epochs does to a length-bound schedule (see ``train._extend``).
EXTEND_CHOICES = (None, "stretch", "hold", "restart")

_AMP = {
    "true": "float16",
    "false": None,
    "none": None,
    "fp16": "float16",
    "half": "float16",
    "float16": "float16",
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    # Lightning's precision strings, as Trainer(precision=...) takes them.
    "16": "float16",
    "16-mixed": "float16",
    "bf16-mixed": "bfloat16",
    "32": None,
    "32-true": None,
}


def _amp_name(amp: Any) -> Any:
    """``"bf16"``, ``True``, ``"none"``, ``dm.bfloat16``... as the dtype name the config stores
    (or ``None``); dtype objects are accepted because ``autocast(dtype=...)`` takes them."""
    if isinstance(amp, _core.dtype):
        amp = amp.name
    if isinstance(amp, bool) or (isinstance(amp, str) and amp.lower() in _AMP):
        return _AMP[str(amp).lower()]
    return amp


# ---- the training config ---------------------------------------------------------------------


@dataclass
class TrainingConfig:
    """Everything a training run needs besides the model and the data.

    ``amp`` is ``None`` (off), ``"float16"`` or ``"bfloat16"``; float16 also uses a
    ``GradScaler``. ``seed`` seeds ``dm.manual_seed`` and the shuffling of loaders the trainer
    builds. ``val_fraction`` is the share held out when ``train_with_config`` is given a single
    dataset. ``checkpoint_dir`` (with ``checkpoint_every``/``keep_last``) makes the trainer
    save resumable checkpoints.

    ``runs_dir`` gives every ``fit`` its own folder ``runs_dir/run_name/version_N/`` (the
    config, ``metrics.csv``, ``train.log`` and, unless ``checkpoint_dir`` says otherwise,
    ``checkpoints/``); a resumed run keeps writing into the folder of the checkpoint it
    resumes. ``extend_schedule`` says what a resume with more epochs does to a schedule whose
    length was the old run's (``"stretch"``, ``"hold"`` or ``"restart"``; ``None`` refuses
    with an error that names them). ``model_summary`` logs the layers and parameter counts at
    the start of ``fit``. ``monitor`` names the metric (``"val_loss"``, ``"val_f1"``...) whose
    best epoch the checkpointer also keeps as ``best.safetensors``, and that ``tune`` optimises;
    ``monitor_mode`` is ``"min"`` or ``"max"`` (``None``: ``"min"`` for losses and errors,
    ``"max"`` otherwise). ``zero_stage`` (0, 1 or 2) shards the optimizer state (1) and the
    gradients too (2) over the ranks of an MPI run (see docs/distributed.md); the trainer wraps
    the optimizer of a ``DistributedDataParallel(..., zero_stage=N)`` model itself.

    ``checkpoint_every_n_steps`` also checkpoints every N optimizer steps, mid-epoch (a resume
    continues at the next batch and ends with the same weights, bit for bit, as a run never
    stopped); ``keep_best`` keeps the N best epoch checkpoints by ``monitor`` besides the
    newest ``keep_last`` (1 when unset); ``async_checkpoint`` copies the state to host memory
    at the step and writes the file in a background thread (see docs/distributed.md, "When
    things fail").
    """

    learning_rate: float = 1e-3
    batch_size: int = 32
    num_epochs: int = 10
    device: str = "cpu"
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig.Adam)
    scheduler: Optional[SchedulerConfig] = None
    accumulation_steps: int = 1
    max_grad_norm: Optional[float] = None
    amp: Optional[str] = None
    seed: int = 0
    shuffle: bool = True
    drop_last: bool = False
    num_workers: int = 0
    val_fraction: float = 0.2
    checkpoint_dir: Optional[str] = None
    checkpoint_every: int = 1
    keep_last: Optional[int] = None
    verbose: bool = True
    progress: bool = True
    runs_dir: Optional[str] = None
    run_name: str = "run"
    extend_schedule: Optional[str] = None
    model_summary: bool = True
    monitor: Optional[str] = None
    monitor_mode: Optional[str] = None
    zero_stage: int = 0
    checkpoint_every_n_steps: Optional[int] = None
    keep_best: Optional[int] = None
    async_checkpoint: bool = False

    #: Every scalar field's rule: its type and allowed values (see ``_validate``).
    _spec: ClassVar[dict[str, rules.Check]] = {
        "learning_rate": rules.Num(0),
        "batch_size": rules.Int(1),
        "num_epochs": rules.Int(0),
        "accumulation_steps": rules.Int(1),
        "max_grad_norm": rules.Num(0, lo_open=True, optional=True),
        "amp": rules.Choice((None, "float16", "bfloat16")),
        "seed": rules.Int(0, rules.MAX_SEED),
        "shuffle": rules.Bool(),
        "drop_last": rules.Bool(),
        "num_workers": rules.Int(0, rules.MAX_NUM_WORKERS),
        "val_fraction": rules.Num(0, 1, hi_open=True),
        "checkpoint_dir": rules.Text("a directory path (a non-empty string)", optional=True),
        "checkpoint_every": rules.Int(1),
        "keep_last": rules.Int(1, optional=True),
        "verbose": rules.Bool(),
        "progress": rules.Bool(),
        "runs_dir": rules.Text("a directory path (a non-empty string)", optional=True),
        "run_name": rules.Text("a run name (a non-empty string without '/' or '..')"),
        "extend_schedule": rules.Choice(EXTEND_CHOICES),
        "model_summary": rules.Bool(),
        "monitor": rules.Text("a metric name such as 'val_loss' or 'val_f1'", optional=True),
        "monitor_mode": rules.Choice((None, "min", "max")),
        "zero_stage": rules.Choice((0, 1, 2)),
        "checkpoint_every_n_steps": rules.Int(1, optional=True),
        "keep_best": rules.Int(1, optional=True),
        "async_checkpoint": rules.Bool(),
    }

    def __post_init__(self) -> None:
        self.amp = _amp_name(self.amp)
        if isinstance(self.checkpoint_dir, os.PathLike):
            self.checkpoint_dir = os.fspath(self.checkpoint_dir)
        if isinstance(self.runs_dir, os.PathLike):
            self.runs_dir = os.fspath(self.runs_dir)
        # A name or a table, as a config file holds them: ``optimizer="SGD"``,
        # ``scheduler={"name": "StepLR", "step_size": 5}``.
        if isinstance(self.optimizer, (str, Mapping)):
            self.optimizer = _variant(OptimizerConfig, self.optimizer)
        if isinstance(self.scheduler, str) and self.scheduler.lower() == "none":
            self.scheduler = None
        elif isinstance(self.scheduler, (str, Mapping)):
            self.scheduler = _variant(SchedulerConfig, self.scheduler)
        if isinstance(self.device, _core.Device):
            # The seed's ``device: Device::cuda(0)``: kept as its name, so that the config
            # still saves to TOML/JSON and compares equal to one read back.
            self.device = str(self.device)
        self.validate()

    def validate(self) -> None:
        """Rejects values no run could use, early: ``ConfigError`` naming the field and its
        allowed values. ``num_workers`` is capped at ``MAX_NUM_WORKERS`` (256) loader threads."""
        rules.check_fields(self, self._spec)
        if "/" in self.run_name or "\\" in self.run_name or self.run_name in (".", ".."):
            raise ConfigError(
                f"run_name must be a plain name (a folder under runs_dir), got {self.run_name!r}"
            )
        device = self.device
        if not (isinstance(device, str) and device) and not hasattr(device, "type"):
            raise ConfigError(
                f"device must be a device name such as 'cpu' or 'cuda:0', got {rules.show(device)}"
            )
        if isinstance(device, str):
            try:  # the name's form now; whether that device exists is checked by fit
                _core.Device(device)
            except DeviceError as e:
                raise ConfigDeviceError(f"device: {e}") from None
        if not isinstance(self.optimizer, OptimizerConfig):
            raise ConfigError("optimizer must be an OptimizerConfig (e.g. OptimizerConfig.Adam())")
        self.optimizer.validate()
        if self.scheduler is not None:
            if not isinstance(self.scheduler, SchedulerConfig):
                raise ConfigError("scheduler must be a SchedulerConfig or None")
            self.scheduler.validate()

    # ---- dict / file forms ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; ``from_dict(to_dict())`` round-trips."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["optimizer"] = self.optimizer.to_dict()
        out["scheduler"] = self.scheduler.to_dict() if self.scheduler is not None else None
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainingConfig:
        """Builds a config from plain values (a parsed file); ``ConfigError`` for anything
        that is not a valid config, never another exception."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"a training config must be a table/object, got {rules.show(data)}")
        try:
            return cls._from_dict(data)
        except RecursionError as e:
            raise ConfigError("training config is nested too deeply") from e

    @classmethod
    def _from_dict(cls, data: Mapping[str, Any]) -> TrainingConfig:
        data = dict(data)
        errors: list[str] = []
        for key, union in (("optimizer", OptimizerConfig), ("scheduler", SchedulerConfig)):
            value = data.get(key)
            if isinstance(value, str) and value.lower() != "none":
                # ``optimizer = "sgd"``: that kind with its defaults, as ``--set optimizer=sgd``.
                data[key] = {"name": value}
            if isinstance(data.get(key), Mapping):
                try:
                    data[key] = union.from_dict(data[key])
                except ConfigError as e:  # reported with the top-level problems below
                    errors.extend(_messages(e))
                    del data[key]
        if isinstance(data.get("scheduler"), str) and data["scheduler"].lower() == "none":
            data["scheduler"] = None
        try:
            built: TrainingConfig = _build(cls, data, "training config")
        except ConfigError as e:
            raise _problems(errors + _messages(e), "training config") from None
        if errors:
            raise _problems(errors, "training config")
        return built

    @classmethod
    def from_file(cls, path: Union[str, os.PathLike[str]]) -> TrainingConfig:
        """Reads ``.toml`` or ``.json``; the top level holds the fields, ``[optimizer]`` and
        ``[scheduler]`` tables hold ``name`` plus that kind's fields."""
        return cls.from_dict(_read_file(Path(path)))

    @classmethod
    def load(cls, path: Union[str, os.PathLike[str]]) -> TrainingConfig:
        """``from_file``: a ``.toml`` or ``.json`` file."""
        return cls.from_file(path)

    @classmethod
    def from_toml(cls, source: Union[str, os.PathLike[str]]) -> TrainingConfig:
        """A config from a TOML file, or from TOML text (a string that is not an existing
        path and holds a newline or ``=``), as the seed's ``toml::from_str`` reads it."""
        return cls._from_text_or_file(source, "toml")

    @classmethod
    def from_json(cls, source: Union[str, os.PathLike[str]]) -> TrainingConfig:
        """A config from a JSON file, or from JSON text (a string starting with ``{`` or ``[``)."""
        return cls._from_text_or_file(source, "json")

    @classmethod
    def _from_text_or_file(cls, source: Union[str, os.PathLike[str]], fmt: str) -> TrainingConfig:
        if isinstance(source, str) and not os.path.exists(source):
            text = source.strip()
            # "[1, 2]" is JSON text too (refused below as not an object), not a file name.
            is_text = text[:1] in ("{", "[") if fmt == "json" else ("\n" in text or "=" in text)
            if is_text:
                return cls.from_dict(_parse_text(text, fmt, "config text"))
        if not isinstance(source, (str, os.PathLike)):
            raise ArgumentTypeError(
                f"from_{fmt} takes a path or {fmt.upper()} text, got {type(source).__name__}"
            )
        return cls.from_dict(_read_file(Path(source), fmt))

    def save(self, path: Union[str, os.PathLike[str]]) -> None:
        """Writes the format the suffix names, ``.toml`` or ``.json``, so that ``from_file``
        reads back an equal config. TOML has no null: ``None`` fields are left out and come
        back as their defaults, which are ``None``."""
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix == ".json":
            text = json.dumps(self.to_dict(), indent=2) + "\n"
        elif suffix == ".toml":
            text = _to_toml(self.to_dict())
        else:
            raise ConfigError(f"config file {p} must end in .toml or .json, not {p.suffix!r}")
        p.write_text(text, encoding="utf-8")

    def with_overrides(self, overrides: Iterable[str]) -> TrainingConfig:
        """A copy with ``key=value`` strings applied, e.g. ``optimizer.weight_decay=1e-4``,
        ``scheduler.name=StepLR``, ``scheduler=none``; values are coerced to the field type.

        As in Hydra, the order does not matter: kind switches apply first, then the values
        (``optimizer.weight_decay=0.1 optimizer=sgd`` is SGD with weight decay 0.1).
        ``optimizer=sgd`` selects SGD with its defaults (Hydra's group choice);
        ``optimizer.name=sgd`` changes the name, keeping the current settings SGD also has. A
        value the chosen kind has no key for is an error naming that key."""
        data = self.to_dict()
        parsed = []
        for item in overrides:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"override {item!r} is not of the form key=value")
            parsed.append((key.strip(), value.strip()))
        kinds = [kv for kv in parsed if kv[0] in _KIND_KEYS]
        for key, value in kinds + [kv for kv in parsed if kv[0] not in _KIND_KEYS]:
            _apply_override(data, key, value)
        return TrainingConfig.from_dict(data)


def _variant(union: type[_Tagged], value: Union[str, Mapping[str, Any]]) -> Any:
    """The optimizer/scheduler config a name (``"Adam"``) or a table describes."""
    return union.from_dict({"name": value} if isinstance(value, str) else value)


def load_config(
    path: Optional[Union[str, os.PathLike[str]]] = None, overrides: Iterable[str] = ()
) -> TrainingConfig:
    """``TrainingConfig`` from a file (or the defaults) with ``key=value`` overrides."""
    cfg = TrainingConfig.from_file(path) if path is not None else TrainingConfig()
    return cfg.with_overrides(overrides)


# ---- helpers ---------------------------------------------------------------------------------


def _read_file(path: Path, fmt: Optional[str] = None) -> dict[str, Any]:
    """The parsed file; its format is ``fmt`` (``"toml"``/``"json"``) or its suffix's."""
    try:
        text = path.read_text(encoding="utf-8")  # what TOML mandates and ``save`` writes
    except FileNotFoundError as e:
        raise ConfigFileNotFoundError(f"cannot read config file {path}: {e}") from e
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e}") from e
    if fmt is None:
        fmt = path.suffix.lower().lstrip(".")
        if fmt not in ("json", "toml"):
            raise ConfigError(f"config file {path} must end in .toml or .json")
    return _parse_text(text, fmt, f"config file {path}")


def _parse_text(text: str, fmt: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if fmt == "json" else _toml().loads(text)
    except ValueError as e:  # json.JSONDecodeError and tomllib.TOMLDecodeError
        raise ConfigError(f"cannot parse {what}: {e}") from e
    except RecursionError as e:
        raise ConfigError(f"cannot parse {what}: nested too deeply") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{what} must hold a table/object at the top level")
    return data


def _to_toml(data: Mapping[str, Any], table: str = "") -> str:
    """A small TOML writer for config dicts: scalars, lists of scalars and nested tables.

    The standard library only reads TOML. Plain keys come first, because in TOML every key
    after a ``[table]`` header belongs to that table; ``None`` values are omitted.
    """
    lines = [f"[{table}]"] if table else []
    tables = []
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            tables.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value, key)}")
    text = "\n".join(lines) + "\n" if lines else ""
    for key, value in tables:
        name = f"{table}.{_toml_key(key)}" if table else _toml_key(key)
        text += "\n" + _to_toml(value, name)
    return text


def _toml_key(key: str) -> str:
    """Bare keys where TOML allows them (``T_max``), quoted strings otherwise."""
    bare = bool(key) and all(c.isascii() and (c.isalnum() or c in "_-") for c in key)
    return key if bare else _toml_str(key)


def _toml_str(s: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped (TOML does not
    accept JSON's surrogate-pair escapes, so non-ASCII text is written as is)."""
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any, key: str) -> str:
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # repr round-trips exactly and is valid TOML ("1e-08", "inf", "-inf", "nan").
        return repr(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v, key) for v in value) + "]"
    raise ConfigError(f"cannot write {key!r} = {value!r} to TOML")


def _toml() -> Any:
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        try:
            import tomli as tomllib  # type: ignore[no-redef,import-not-found]
        except ImportError as e:
            raise ConfigError(
                "reading TOML needs Python 3.11+ or the 'tomli' package (pip install tomli)"
            ) from e
    return tomllib


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(cls: type, data: dict[str, Any], kind: str) -> Any:
    """``cls(**data)`` with values coerced to field types; every unknown key, uncoercible and
    out-of-range value is reported in one ``ConfigError`` (see ``_problems``)."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = _hints(cls)
    spec: dict[str, rules.Check] = getattr(cls, "_spec", {})
    prefix = "" if cls is TrainingConfig else f"{kind}."
    kw: dict[str, Any] = {}
    errors: list[str] = []
    data = _join_split(cls, data)
    for key, value in data.items():
        if key not in fields:
            home = _MISPLACED.get(key) if kind in ("optimizer", "scheduler") else None
            if home is not None:
                errors.append(
                    f"{kind} key {key!r}: the learning rate is the top-level {home!r} "
                    f"(write {home} = ... above the [{kind}] table, or --set {home}=...)"
                )
            else:
                errors.append(str(_unknown(f"{kind} key", key, fields)))
            continue
        try:
            kw[key] = _coerce(value, hints[key], key)
            if key == "amp" and cls is TrainingConfig:
                kw[key] = _amp_name(kw[key])
            if key in spec:
                spec[key].check(prefix + key, kw[key])
        except ConfigError as e:
            errors.extend(_messages(e))
            kw.pop(key, None)
    if errors:
        raise _problems(errors, kind)
    try:
        return cls(**kw)
    except TypeError as e:
        raise ConfigError(f"invalid {kind}: {e}") from e


def _join_split(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    """PyTorch's spelling of a parameter the config splits (``betas=(0.9, 0.999)`` for
    ``beta1``/``beta2``), spread over its fields; a string (``--set optimizer.betas=0.9,0.99``)
    is read as a comma-separated list."""
    split: dict[str, tuple[str, ...]] = getattr(cls, "_split", {})
    if not any(param in data for param in split):
        return data
    data = dict(data)
    for param, names in split.items():
        if param not in data:
            continue
        value = data.pop(param)
        if isinstance(value, str):
            value = [v for v in value.strip("()[] ").replace(" ", "").split(",") if v]
        if not isinstance(value, (list, tuple)) or len(value) != len(names):
            raise ConfigError(
                f"{cls.__name__}: {param} must be a sequence of {len(names)} values "
                f"({', '.join(names)}), got {rules.show(value)}"
            )
        both = [n for n in names if n in data]
        if both:
            raise ConfigKeyError(f"{cls.__name__}: give {param} or {', '.join(both)}, not both")
        data.update(zip(names, value))
    return data


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Converts a parsed value (or an override string) to the field's declared type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Union:
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        inner = [a for a in args if a is not type(None)]
        if len(inner) == 1:
            return _coerce(value, inner[0], key)
        return value
    if hint is str and isinstance(value, str):
        v = value.strip()
        return v[1:-1] if len(v) >= 2 and v[0] == v[-1] and v[0] in "'\"" else v
    if isinstance(hint, type) and isinstance(value, hint) and not isinstance(value, bool):
        return value
    try:
        if hint is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on"):
                return True
            if isinstance(value, str) and value.lower() in ("false", "0", "no", "off"):
                return False
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise InvalidValueError("not a boolean")
        if hint is int:
            if isinstance(value, bool):
                raise InvalidValueError("a boolean is not an int")
            if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
                return int(value)  # exact, even beyond float precision
            f = _number(value)
            if not f.is_integer():
                raise InvalidValueError("not an integer")
            return int(f)
        if hint is float:
            if isinstance(value, bool):
                raise InvalidValueError("a boolean is not a float")
            return _number(value)
        if hint is str and isinstance(value, (int, float)):
            return str(value)
        if origin is list:
            (elem,) = args or (Any,)
            if isinstance(value, str):
                text = value.strip().strip("[]")
                value = [v.strip() for v in text.split(",") if v.strip()]
            return [_coerce(v, elem, key) if elem is not Any else v for v in value]
    except (TypeError, ValueError, OverflowError) as e:
        name = getattr(hint, "__name__", str(hint))
        raise ConfigError(
            f"invalid value {rules.show(value)} for {key!r}: expected {name} ({e})"
        ) from e
    if isinstance(value, (OptimizerConfig, SchedulerConfig)) or hint is Any:
        return value
    name = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"invalid value {rules.show(value)} for {key!r}: expected {name}")


def _number(value: Any) -> float:
    """``float(value)``, but a word (``--set num_epochs=abc``) is "not a number" rather than
    Python's "could not convert string to float", which names a type the key does not have."""
    try:
        return float(value)
    except ValueError:
        if isinstance(value, str):
            raise InvalidValueError("not a number") from None
        raise


#: Overrides that choose a kind; ``with_overrides`` applies them before the values.
_KIND_KEYS = ("optimizer", "scheduler", "optimizer.name", "scheduler.name")


def _apply_override(data: dict[str, Any], key: str, value: str) -> None:
    head, _, rest = key.partition(".")
    if not rest:
        if head in ("optimizer", "scheduler") and value.lower() not in ("none", "null"):
            data[head] = {"name": value}  # "optimizer=sgd": switch kind, defaults for the rest
        elif head == "scheduler":
            data[head] = None
        else:
            if head not in data:
                raise _unknown("training config key", head, data)
            data[head] = value
        return
    if head not in ("optimizer", "scheduler"):
        raise ConfigError(f"{key!r}: only 'optimizer.' and 'scheduler.' keys are nested")
    sub = data.get(head)
    union: Any = OptimizerConfig if head == "optimizer" else SchedulerConfig
    if rest == "name":
        # Switching kind keeps the settings the new kind also has (weight_decay, interval...).
        new_cls = union._registry.get(_norm(value))
        if new_cls is None:
            raise _unknown(head, value, union.kinds())
        keep = {f.name for f in dataclasses.fields(new_cls)}
        old = {k: v for k, v in (sub or {}).items() if k in keep}
        data[head] = {"name": value, **old}
        return
    if sub is None:
        raise ConfigError(f"{key!r}: set {head}.name first (no {head} is configured)")
    variant = union._registry.get(_norm(str(sub.get("name", ""))))
    for name in getattr(variant, "_split", {}).get(rest, ()):
        sub.pop(name, None)  # "optimizer.betas=0.8,0.99" replaces beta1 and beta2
    sub[rest] = value  # a key the kind lacks is named by from_dict's unknown-key error


def _suggest_unknown_kwargs(cls: Any) -> None:
    """Wraps the dataclass ``__init__`` of ``cls`` so that a misspelt keyword argument
    (``TrainingConfig(batch_sise=64)``) raises ``ConfigKeyError`` with a did-you-mean instead
    of Python's bare ``unexpected keyword argument``."""
    init: Callable[..., None] = cls.__init__
    names = [f.name for f in dataclasses.fields(cls)]

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:  # noqa: N807
        kwargs = _join_split(cls, kwargs)
        for key in kwargs:
            if key not in names:
                if key in _MISPLACED and issubclass(cls, _Tagged):
                    raise ConfigKeyError(
                        f"{cls.__name__} has no {key!r}: the learning rate is "
                        "TrainingConfig(learning_rate=...)"
                    ) from None
                err = _unknown(f"{cls.__name__} argument", key, names)
                raise ConfigKeyError(str(err)) from None
        init(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[misc]


for _cls in (
    TrainingConfig,
    *OptimizerConfig._registry.values(),
    *SchedulerConfig._registry.values(),
):
    _suggest_unknown_kwargs(_cls)
