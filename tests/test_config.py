"""TrainingConfig: the seed's construction, building optimizers/schedulers, TOML/JSON files,
``key=value`` overrides with type coercion, and clear errors."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from democratising import nn, optim
from democratising.optim import lr_scheduler
from democratising.train import (
    ConfigError,
    OptimizerConfig,
    SchedulerConfig,
    TrainingConfig,
    load_config,
)

TOML = """
learning_rate = 0.01
batch_size = 64
num_epochs = 7
max_grad_norm = 1.5
accumulation_steps = 2

[optimizer]
name = "AdamW"
beta2 = 0.98
weight_decay = 0.05

[scheduler]
name = "cosine_annealing"
T_max = 7
eta_min = 1e-6
"""


def _params() -> list:
    return list(nn.Dense(3, 2).parameters())


def test_seed_style_construction() -> None:
    cfg = TrainingConfig(
        learning_rate=0.001,
        batch_size=32,
        num_epochs=100,
        device="cpu",
        optimizer=OptimizerConfig.Adam(beta1=0.9, beta2=0.999, weight_decay=1e-4),
        scheduler=SchedulerConfig.CosineAnnealing(T_max=100, eta_min=1e-6),
    )
    opt = cfg.optimizer.build(_params(), cfg.learning_rate)
    assert isinstance(opt, optim.Adam) and not isinstance(opt, optim.AdamW)
    g = opt.param_groups[0]
    assert (g["lr"], g["betas"], g["weight_decay"]) == (0.001, (0.9, 0.999), 1e-4)
    sched = cfg.scheduler.build(opt, cfg.num_epochs, 10, cfg.learning_rate)
    assert isinstance(sched, lr_scheduler.CosineAnnealingLR)
    assert (sched.T_max, sched.eta_min) == (100, 1e-6)
    assert cfg.accumulation_steps == 1 and cfg.max_grad_norm is None and cfg.amp is None


def test_every_optimizer_kind_builds() -> None:
    cases = [
        (OptimizerConfig.AdamW(), optim.AdamW, {"weight_decay": 1e-2}),
        (OptimizerConfig.SGD(momentum=0.9, nesterov=True), optim.SGD, {"momentum": 0.9}),
        (OptimizerConfig.RMSprop(alpha=0.9), optim.RMSprop, {"alpha": 0.9}),
        (OptimizerConfig.Adagrad(lr_decay=0.1), optim.Adagrad, {"lr_decay": 0.1}),
    ]
    for cfg, cls, expect in cases:
        opt = cfg.build(_params(), 0.5)
        assert type(opt) is cls and opt.param_groups[0]["lr"] == 0.5
        for k, v in expect.items():
            assert opt.param_groups[0][k] == v


def test_every_scheduler_kind_builds_its_lr_scheduler() -> None:
    cases = [
        (SchedulerConfig.CosineAnnealing(), lr_scheduler.CosineAnnealingLR),
        (
            SchedulerConfig.CosineAnnealingWarmRestarts(T_0=3),
            lr_scheduler.CosineAnnealingWarmRestarts,
        ),
        (SchedulerConfig.StepLR(step_size=2), lr_scheduler.StepLR),
        (SchedulerConfig.MultiStepLR(milestones=[2, 4]), lr_scheduler.MultiStepLR),
        (SchedulerConfig.ExponentialLR(gamma=0.9), lr_scheduler.ExponentialLR),
        (SchedulerConfig.LinearLR(), lr_scheduler.LinearLR),
        (SchedulerConfig.OneCycle(), lr_scheduler.OneCycleLR),
        (SchedulerConfig.ReduceLROnPlateau(patience=2), lr_scheduler.ReduceLROnPlateau),
    ]
    for cfg, cls in cases:
        opt = optim.SGD(_params(), lr=0.1, momentum=0.9)
        assert type(cfg.build(opt, 5, 4, 0.1)) is cls
    one = SchedulerConfig.OneCycle()
    assert one.step_interval == "batch" and SchedulerConfig.StepLR(1).step_interval == "epoch"
    sched = one.build(optim.SGD(_params(), lr=0.1, momentum=0.9), 5, 4, 0.1)
    assert sched.total_steps == 20
    cos = SchedulerConfig.CosineAnnealing(interval="batch")
    assert cos.build(optim.SGD(_params(), lr=0.1), 5, 4, 0.1).T_max == 20


_OPTIMIZER_VARIANTS = ["Adam", "AdamW", "SGD", "RMSprop", "Adagrad"]


@pytest.mark.parametrize("kind", _OPTIMIZER_VARIANTS)
def test_optimizer_config_defaults_are_the_optimizers_own(kind: str) -> None:
    # Declared once: a config built with no arguments builds the optimizer exactly as the
    # optimizer's own defaults would.
    cfg = getattr(OptimizerConfig, kind)()
    assert cfg.build(_params(), 0.5).defaults == getattr(optim, kind)(_params(), 0.5).defaults


def test_scheduler_config_defaults_are_the_schedulers_own() -> None:
    opt = optim.SGD(_params(), lr=0.1, momentum=0.9)
    lin = SchedulerConfig.LinearLR().build(opt, 5, 4, 0.1)
    ref = lr_scheduler.LinearLR(optim.SGD(_params(), lr=0.1, momentum=0.9))
    assert (lin.start_factor, lin.end_factor, lin.total_iters) == (
        ref.start_factor,
        ref.end_factor,
        ref.total_iters,
    )
    plateau = SchedulerConfig.ReduceLROnPlateau()
    ref_plateau = lr_scheduler.ReduceLROnPlateau(opt)
    assert (plateau.factor, plateau.patience, plateau.threshold, plateau.cooldown) == (
        ref_plateau.factor,
        ref_plateau.patience,
        ref_plateau.threshold,
        ref_plateau.cooldown,
    )


def test_config_fields_follow_the_target_signature() -> None:
    from democratising.train import _fields
    from democratising.train import _validate as rules

    def target(params: object, lr: float, first: int = 3, betas: tuple = (0.5, 0.25)) -> None:
        del params, lr, first, betas

    spec = {"b1": rules.Num(0), "b2": rules.Num(0), "first": rules.Num(0), "tag": rules.Bool()}

    class Made:
        pass

    split = {"betas": ("b1", "b2")}
    _fields.add_fields(Made, target, spec, split=split, defaults={}, own={"tag": False})
    made = dataclasses.dataclass(Made)
    assert [(f.name, f.default) for f in dataclasses.fields(made)] == [
        ("first", 3.0),  # the rule's type: a float field gets a float default
        ("b1", 0.5),
        ("b2", 0.25),
        ("tag", False),
    ]

    class Typo:
        pass

    with pytest.raises(TypeError, match="firts"):
        _fields.add_fields(Typo, target, {"firts": rules.Int(0)}, split={}, defaults={}, own={})


def test_toml_and_json_files_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text(TOML)
    cfg = TrainingConfig.from_file(path)
    assert (cfg.learning_rate, cfg.batch_size, cfg.num_epochs) == (0.01, 64, 7)
    assert isinstance(cfg.max_grad_norm, float) and cfg.accumulation_steps == 2
    assert cfg.optimizer == OptimizerConfig.AdamW(beta2=0.98, weight_decay=0.05)
    assert cfg.scheduler == SchedulerConfig.CosineAnnealing(T_max=7, eta_min=1e-6)
    cfg.save(tmp_path / "run.json")
    assert TrainingConfig.from_file(tmp_path / "run.json") == cfg
    assert json.loads((tmp_path / "run.json").read_text())["optimizer"]["name"] == "adamw"
    assert TrainingConfig.from_dict(cfg.to_dict()) == cfg


def test_overrides_nested_and_coerced(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text(TOML)
    cfg = load_config(
        path,
        [
            "optimizer.weight_decay=1e-4",
            "batch_size=16",
            "learning_rate=3",
            "max_grad_norm=none",
            "shuffle=false",
            "device='cpu'",
            "scheduler.T_max=12",
            "amp=bf16",
        ],
    )
    assert cfg.optimizer.weight_decay == 1e-4 and isinstance(cfg.optimizer.weight_decay, float)
    assert cfg.batch_size == 16 and isinstance(cfg.batch_size, int)
    assert cfg.learning_rate == 3.0 and isinstance(cfg.learning_rate, float)
    assert cfg.max_grad_norm is None and cfg.shuffle is False and cfg.device == "cpu"
    assert cfg.scheduler.T_max == 12 and cfg.amp == "bfloat16"
    assert cfg.optimizer.beta2 == 0.98  # untouched keys survive


def test_overrides_switch_kinds() -> None:
    cfg = TrainingConfig(optimizer=OptimizerConfig.Adam(weight_decay=0.1))
    sgd = cfg.with_overrides(["optimizer.name=SGD", "optimizer.momentum=0.9"])
    assert sgd.optimizer == OptimizerConfig.SGD(momentum=0.9, weight_decay=0.1)
    assert cfg.with_overrides(["optimizer=rmsprop"]).optimizer == OptimizerConfig.RMSprop()
    ms = cfg.with_overrides(["scheduler.name=MultiStepLR", "scheduler.milestones=[3, 6]"])
    assert ms.scheduler == SchedulerConfig.MultiStepLR(milestones=[3, 6])
    assert ms.with_overrides(["scheduler.milestones=2,5"]).scheduler.milestones == [2, 5]
    assert ms.with_overrides(["scheduler=none"]).scheduler is None
    assert cfg.with_overrides(["scheduler=OneCycleLR"]).scheduler == SchedulerConfig.OneCycle()
    assert cfg.with_overrides(["scheduler.name=steplr"]).scheduler.name == "StepLR"


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("batch_sise=3", "did you mean 'batch_size'"),
        ("batch_size=3.5", "batch_size"),
        ("batch_size=many", "batch_size"),
        ("shuffle=maybe", "shuffle"),
        ("optimizer.beta3=1", "did you mean 'beta1'|beta2"),
        ("optimizer.name=adamax", "unknown optimizer"),
        ("scheduler.T_max=3", "scheduler.name first"),
        ("num_epochs", "key=value"),
        ("learning_rate.x=1", "nested"),
        ("batch_size=0", r"batch_size must be an int in \[1, "),
        ("amp=fp8", "amp"),
    ],
)
def test_override_errors_name_the_problem(override: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TrainingConfig().with_overrides([override])


def test_file_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        TrainingConfig.from_file(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("learning_rate = = 1")
    with pytest.raises(ConfigError, match="cannot parse"):
        TrainingConfig.from_file(bad)
    yaml = tmp_path / "c.yaml"
    yaml.write_text("a: 1")
    with pytest.raises(ConfigError, match=r"\.toml or \.json"):
        TrainingConfig.from_file(yaml)
    noname = tmp_path / "n.json"
    noname.write_text(json.dumps({"optimizer": {"momentum": 0.9}}))
    with pytest.raises(ConfigError, match="needs a 'name'"):
        TrainingConfig.from_file(noname)
    good = tmp_path / "g.toml"
    good.write_text(TOML)
    monkeypatch.setitem(sys.modules, "tomllib", None)
    monkeypatch.setitem(sys.modules, "tomli", None)
    with pytest.raises(ConfigError, match="tomli"):
        TrainingConfig.from_file(good)


_OPTIMIZERS = [
    OptimizerConfig.Adam(beta1=0.8, beta2=0.95, weight_decay=1e-4, eps=1e-7, amsgrad=True),
    OptimizerConfig.AdamW(weight_decay=0.05),
    OptimizerConfig.SGD(momentum=0.9, weight_decay=5e-4, dampening=0.0, nesterov=True),
    OptimizerConfig.RMSprop(alpha=0.9, centered=True),
    OptimizerConfig.Adagrad(lr_decay=0.01, initial_accumulator_value=0.1),
]
_SCHEDULERS = [
    None,
    SchedulerConfig.CosineAnnealing(),  # T_max and interval None: omitted from TOML
    SchedulerConfig.CosineAnnealing(T_max=30, eta_min=1e-6, interval="batch"),
    SchedulerConfig.CosineAnnealingWarmRestarts(T_0=3, T_mult=2),
    SchedulerConfig.StepLR(step_size=2, gamma=0.5, interval="epoch"),
    SchedulerConfig.MultiStepLR(milestones=[3, 6, 9]),
    SchedulerConfig.MultiStepLR(milestones=[]),
    SchedulerConfig.ExponentialLR(gamma=0.97),
    SchedulerConfig.LinearLR(start_factor=0.1, total_iters=4),
    SchedulerConfig.OneCycle(max_lr=0.3, anneal_strategy="linear", three_phase=True),
    SchedulerConfig.ReduceLROnPlateau(mode="max", patience=3, min_lr=1e-7),
]


def _every_field_changed(optimizer: OptimizerConfig, scheduler: object) -> TrainingConfig:
    return TrainingConfig(
        learning_rate=3e-4,
        batch_size=17,
        num_epochs=0,
        device="cuda:1",
        optimizer=optimizer,
        scheduler=scheduler,  # type: ignore[arg-type]
        accumulation_steps=4,
        max_grad_norm=0.5,
        amp="bfloat16",
        seed=1234,
        shuffle=False,
        drop_last=True,
        num_workers=2,
        val_fraction=0.0,
        checkpoint_dir='runs/"quoted" \\ dir é',
        checkpoint_every=3,
        keep_last=2,
        verbose=False,
        progress=False,
        runs_dir="experiments",
        run_name="mlp-1",
        extend_schedule="stretch",
        model_summary=False,
        monitor="val_f1",
        monitor_mode="max",
        zero_stage=2,
        checkpoint_every_n_steps=50,
        keep_best=2,
        async_checkpoint=True,
    )


def _round_trip_cases() -> list[TrainingConfig]:
    cases = [TrainingConfig()]  # defaults: scheduler, max_grad_norm, amp... are all None
    for i, sched in enumerate(_SCHEDULERS):
        cases.append(_every_field_changed(_OPTIMIZERS[i % len(_OPTIMIZERS)], sched))
    return cases


def test_round_trip_case_covers_every_field() -> None:
    default, changed = TrainingConfig(), _every_field_changed(_OPTIMIZERS[0], _SCHEDULERS[2])
    for f in dataclasses.fields(TrainingConfig):
        assert getattr(changed, f.name) != getattr(default, f.name), f.name


@pytest.mark.parametrize("suffix", [".toml", ".json", ".TOML"])
@pytest.mark.parametrize("index", range(len(_SCHEDULERS) + 1))
def test_save_then_from_file_round_trips(suffix: str, index: int, tmp_path: Path) -> None:
    cfg = _round_trip_cases()[index]
    path = tmp_path / f"run{suffix}"
    cfg.save(path)
    back = TrainingConfig.from_file(path)
    assert back == cfg
    assert back.to_dict() == cfg.to_dict()
    assert type(back.optimizer) is type(cfg.optimizer)
    assert type(back.scheduler) is type(cfg.scheduler)


def test_toml_save_writes_toml(tmp_path: Path) -> None:
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    cfg = _every_field_changed(OptimizerConfig.SGD(momentum=0.9), SchedulerConfig.StepLR(2))
    path = tmp_path / "run.toml"
    cfg.save(path)
    data = tomllib.loads(path.read_text(encoding="utf-8"))  # not JSON: tomllib parses it
    assert data["optimizer"] == {"name": "sgd", **dataclasses.asdict(cfg.optimizer)}
    assert data["scheduler"]["name"] == "StepLR" and "interval" not in data["scheduler"]
    assert data["batch_size"] == 17 and data["shuffle"] is False
    TrainingConfig().save(path)
    assert "scheduler" not in tomllib.loads(path.read_text(encoding="utf-8"))


def test_save_rejects_other_suffixes(tmp_path: Path) -> None:
    for name in ("run.yaml", "run"):
        with pytest.raises(ConfigError, match=r"\.toml or \.json"):
            TrainingConfig().save(tmp_path / name)
        assert not (tmp_path / name).exists()


# ---- every field's type and range ------------------------------------------------------------

#: (field=value, text the message must hold): the key and its allowed values.
_BAD_FIELDS = [
    ("seed=-1", r"seed must be an int in \[0, 2\*\*64-1\], got -1"),
    ("seed=1e30", r"seed must be an int in \[0, 2\*\*64-1\]"),
    ("seed=18446744073709551616", r"seed must be an int in \[0, 2\*\*64-1\]"),
    ("learning_rate=-0.1", r"learning_rate must be a finite number >= 0"),
    ("learning_rate=nan", r"learning_rate must be a finite number >= 0"),
    ("learning_rate=inf", r"learning_rate must be a finite number >= 0"),
    ("num_epochs=-3", r"num_epochs must be an int in \[0, 2\*\*31-1\]"),
    ("num_epochs=1e30", r"num_epochs must be an int in \[0, 2\*\*31-1\]"),
    ("batch_size=1e12", r"batch_size must be an int in \[1, 2\*\*31-1\]"),
    ("accumulation_steps=0", r"accumulation_steps must be an int in \[1, "),
    ("max_grad_norm=0", r"max_grad_norm must be a finite number > 0 or None"),
    ("val_fraction=1", r"val_fraction must be a number in \[0, 1\)"),
    ("num_workers=100000", r"num_workers must be an int in \[0, 256\]"),
    ("num_workers=-1", r"num_workers must be an int in \[0, 256\]"),
    ("checkpoint_every=0", r"checkpoint_every must be an int in \[1, "),
    ("keep_last=0", r"keep_last must be an int in \[1, .*or None"),
    ("optimizer.beta1=5", r"optimizer.beta1 must be a number in \[0, 1\), got 5"),
    ("optimizer.beta2=-0.1", r"optimizer.beta2 must be a number in \[0, 1\)"),
    ("optimizer.eps=-1", r"optimizer.eps must be a finite number >= 0"),
    ("optimizer.weight_decay=-1", r"optimizer.weight_decay must be a finite number >= 0"),
]


@pytest.mark.parametrize(("override", "match"), _BAD_FIELDS)
def test_every_field_is_checked_with_its_allowed_values(override: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TrainingConfig().with_overrides([override])


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (
            ["scheduler=StepLR", "scheduler.step_size=0"],
            r"scheduler.step_size must be an int in \[1,",
        ),
        (
            ["scheduler=StepLR", "scheduler.gamma=-1"],
            r"scheduler.gamma must be a finite number >= 0",
        ),
        (
            ["scheduler=MultiStepLR", "scheduler.milestones=[1,-2]"],
            r"scheduler.milestones must be a list",
        ),
        (
            ["scheduler=CosineAnnealing", "scheduler.T_max=0"],
            r"scheduler.T_max must be an int in \[1,",
        ),
        (
            ["scheduler=LinearLR", "scheduler.start_factor=0"],
            r"scheduler.start_factor must be a number in \(0, 1\]",
        ),
        (
            ["scheduler=OneCycle", "scheduler.anneal_strategy=cubic"],
            r"scheduler.anneal_strategy must be one of 'cos', 'linear'",
        ),
        (
            ["scheduler=OneCycle", "scheduler.pct_start=2"],
            r"scheduler.pct_start must be a number in \[0, 1\]",
        ),
        (
            ["scheduler=ReduceLROnPlateau", "scheduler.factor=1"],
            r"scheduler.factor must be a number in \[0, 1\)",
        ),
        (
            ["scheduler=StepLR", "scheduler.interval=hourly"],
            r"scheduler.interval must be one of None, 'epoch', 'batch'",
        ),
        (
            ["optimizer=sgd", "optimizer.nesterov=true"],
            r"nesterov = true needs optimizer.momentum > 0",
        ),
        (
            ["optimizer=rmsprop", "optimizer.alpha=2"],
            r"optimizer.alpha must be a number in \[0, 1\]",
        ),
    ],
)
def test_optimizer_and_scheduler_fields_are_checked(overrides: list[str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        TrainingConfig().with_overrides(overrides)


def test_direct_construction_is_checked_too() -> None:
    with pytest.raises(ConfigError, match="batch_size must be an int"):
        TrainingConfig(batch_size=32.5)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="shuffle must be true or false"):
        TrainingConfig(shuffle=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="seed must be an int"):
        TrainingConfig(seed=True)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="device must be a device name"):
        TrainingConfig(device="")
    with pytest.raises(ConfigError, match=r"optimizer.beta1 must be a number in \[0, 1\)"):
        OptimizerConfig.Adam(beta1=5)
    with pytest.raises(ConfigError, match=r"scheduler\.step_size must be an int"):
        SchedulerConfig.StepLR(step_size=0)
    cfg = TrainingConfig(checkpoint_dir=Path("ck"), seed=2**64 - 1)  # type: ignore[arg-type]
    assert cfg.checkpoint_dir == "ck" and json.dumps(cfg.to_dict())


def test_config_errors_are_democratising_errors() -> None:
    import democratising as dm

    assert issubclass(ConfigError, dm.DemocratisingError) and issubclass(ConfigError, ValueError)


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_deeply_nested_file_is_a_config_error(suffix: str, tmp_path: Path) -> None:
    path = tmp_path / f"deep{suffix}"
    depth = 100_000
    if suffix == ".json":
        path.write_text('{"a": ' + "[" * depth + "]" * depth + "}")
    else:
        path.write_text("a = " + "[" * depth + "]" * depth + "\n")
    with pytest.raises(ConfigError, match=r"nested too deeply|cannot parse"):
        TrainingConfig.from_file(path)


def test_from_dict_refuses_non_mappings() -> None:
    with pytest.raises(ConfigError, match="table/object"):
        TrainingConfig.from_dict([1, 2])  # type: ignore[arg-type]


def test_an_unknown_device_name_is_refused_when_the_config_is_made() -> None:
    from democratising.train import ConfigError, TrainingConfig

    for bad in ("gpu", "mps", "cuda:x"):
        with pytest.raises(ConfigError, match="device"):
            TrainingConfig(device=bad)
    assert TrainingConfig(device="cuda:1").device == "cuda:1"  # whether it exists: at fit
