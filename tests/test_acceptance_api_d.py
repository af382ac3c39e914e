"""Acceptance checks for API.md's Training / Data / Distributed / Checkpoints sections, written
as a new user calls them from the seed guide and API.md: each test pins down a gap found that
way (a documented keyword that was refused, a PyTorch or Lightning spelling, a wrong input that
was not a typed ``DemocratisingError`` or crashed late with an unrelated message)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import democratising as dm
from democratising import datasets
from democratising.data import TensorDataset
from democratising.distributed import (
    DistributedDataLoader,
    DistributedDataParallel,
    DistributedModel,
    DistributedStrategy,
    World,
)
from democratising.nn import CrossEntropyLoss, Dense, ReLU, Sequential
from democratising.optim import SGD
from democratising.train import (
    ConfigError,
    EarlyStopping,
    ModelCheckpoint,
    OptimizerConfig,
    SchedulerConfig,
    Trainer,
    TrainingConfig,
    find_batch_size,
)
from test_distributed import needs_mpi, run_mpi


def _quiet(**kw: object) -> TrainingConfig:
    fields: dict[str, object] = {
        "learning_rate": 0.05,
        "batch_size": 4,
        "num_epochs": 1,
        "optimizer": OptimizerConfig.SGD(),
        "verbose": False,
        "progress": False,
        "model_summary": False,
        "shuffle": False,
    }
    fields.update(kw)
    return TrainingConfig(**fields)  # type: ignore[arg-type]


def _data() -> tuple[dm.Tensor, dm.Tensor]:
    dm.manual_seed(0)
    return dm.randn(12, 3), dm.randint(0, 2, (12,))


# ---- Trainer.fit takes API.md's keyword names -----------------------------------------------


def test_fit_takes_train_loader_and_val_loader_keywords() -> None:
    # API.md writes fit(train_loader, val_loader); the keywords were train_data/val_data.
    x, y = _data()
    history = Trainer(Dense(3, 2), _quiet()).fit(train_loader=(x, y), val_loader=(x, y))
    assert history["epoch"] == [1] and len(history["val_loss"]) == 1
    # Lightning's names for the same.
    history = Trainer(Dense(3, 2), _quiet()).fit(train_dataloaders=(x, y), val_dataloaders=(x, y))
    assert len(history["val_loss"]) == 1


def test_fit_names_missing_or_doubled_data() -> None:
    x, y = _data()
    with pytest.raises(dm.DemocratisingError, match="not both") as info:
        Trainer(Dense(3, 2), _quiet()).fit((x, y), train_dataloaders=(x, y))
    assert isinstance(info.value, TypeError)
    with pytest.raises(TypeError, match="needs the training data"):
        Trainer(Dense(3, 2), _quiet()).fit()


# ---- EarlyStopping: the seed's struct fields are typed ----------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "kind", "match"),
    [
        ({"patience": 1.5}, TypeError, "patience must be an int"),
        ({"patience": True}, TypeError, "patience must be an int"),
        ({"patience": -1}, ValueError, "patience must be >= 0"),
        ({"patience": 2, "min_delta": -0.1}, ValueError, "min_delta must be a finite"),
        ({"patience": 2, "min_delta": float("nan")}, ValueError, "min_delta must be a finite"),
        ({"patience": 2, "min_delta": "0.1"}, TypeError, "min_delta must be a number"),
    ],
)
def test_early_stopping_rejects_bad_settings(
    kwargs: dict[str, object], kind: type[Exception], match: str
) -> None:
    with pytest.raises(dm.DemocratisingError, match=match) as info:
        EarlyStopping(**kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, kind)


def test_early_stopping_seed_semantics() -> None:
    model = Dense(2, 2)
    es = EarlyStopping(2, 0.1, restore_best=True)
    assert es.step(model, 1.0) is False  # first loss is the best so far
    best = [v.clone() for v in model.state_dict().values()]
    with dm.no_grad():
        model.weight.fill_(7.0)
    # 0.95 is not better than 1.0 - 0.1: counts; the second miss reaches the patience.
    assert [es.step(model, 0.95), es.step(model, dm.tensor(2.0))] == [False, True]
    es.restore_best_model(model)
    assert [v.tolist() for v in model.state_dict().values()] == [v.tolist() for v in best]


# ---- ModelCheckpoint ---------------------------------------------------------------------------


def test_model_checkpoint_lightning_names_and_typed_settings(tmp_path: Path) -> None:
    mc = ModelCheckpoint(dirpath=tmp_path, every_n_epochs=2)
    assert (mc.dir, mc.every) == (tmp_path, 2)
    with pytest.raises(TypeError, match="every must be an int"):
        ModelCheckpoint(tmp_path, every=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"dir must be a str or os\.PathLike"):
        ModelCheckpoint(3)  # type: ignore[arg-type]
    with pytest.raises(dm.DemocratisingError, match="keep_last must be >= 1"):
        ModelCheckpoint(tmp_path, keep_last=0)


def test_trainer_with_seed_callbacks_writes_loadable_checkpoints(tmp_path: Path) -> None:
    x, y = _data()
    model = Sequential().add(Dense(3, 4)).add(ReLU()).add(Dense(4, 2)).build()
    callbacks = [
        EarlyStopping(patience=5, min_delta=0.0),
        ModelCheckpoint(tmp_path, every=1, keep_last=2, monitor="val_loss"),
    ]
    Trainer(model, _quiet(num_epochs=3), callbacks=callbacks).fit((x, y), (x, y))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["best.safetensors", "epoch_0002.safetensors", "epoch_0003.safetensors"]
    info = dm.checkpoint.load_checkpoint(tmp_path / "epoch_0003.safetensors", model=model)
    assert info["epoch"] == 3


# ---- TrainingConfig from TOML / JSON -----------------------------------------------------------

_SEED_TOML = """
learning_rate = 0.001
batch_size = 32
num_epochs = 100
device = "cpu"

[optimizer.Adam]
beta1 = 0.9
beta2 = 0.999
weight_decay = 1e-4

[scheduler.CosineAnnealing]
T_max = 100
eta_min = 1e-6
"""


def test_training_config_from_toml_and_json_text_or_path(tmp_path: Path) -> None:
    seed = TrainingConfig(
        learning_rate=0.001,
        batch_size=32,
        num_epochs=100,
        device="cpu",
        optimizer=OptimizerConfig.Adam(beta1=0.9, beta2=0.999, weight_decay=1e-4),
        scheduler=SchedulerConfig.CosineAnnealing(T_max=100, eta_min=1e-6),
    )
    assert TrainingConfig.from_toml(_SEED_TOML) == seed
    (tmp_path / "c.toml").write_text(_SEED_TOML)
    assert TrainingConfig.from_toml(tmp_path / "c.toml") == seed
    assert TrainingConfig.load(str(tmp_path / "c.toml")) == seed
    seed.save(tmp_path / "c.json")
    assert TrainingConfig.from_json(tmp_path / "c.json") == seed
    text = (tmp_path / "c.json").read_text()
    assert TrainingConfig.from_json(text) == seed
    with pytest.raises(ConfigError, match="cannot parse config text"):
        TrainingConfig.from_toml("learning_rate = = 1\n")


def test_missing_config_or_dataset_file_is_also_file_not_found(tmp_path: Path) -> None:
    for call in (
        lambda: TrainingConfig.from_file(tmp_path / "none.toml"),
        lambda: TrainingConfig.from_toml(str(tmp_path / "none.toml")),
        lambda: datasets.mnist(tmp_path / "missing"),
        lambda: datasets.mnist(tmp_path),  # the folder exists, its files do not
    ):
        with pytest.raises(FileNotFoundError) as info:
            call()
        assert isinstance(info.value, dm.DemocratisingError)
        assert "none.toml" in str(info.value) or "mnist" in str(info.value).lower()


def test_scheduler_config_takes_pytorchs_class_names() -> None:
    cfg = SchedulerConfig.CosineAnnealingLR(T_max=10, eta_min=1e-6)
    assert cfg == SchedulerConfig.CosineAnnealing(T_max=10, eta_min=1e-6)
    assert SchedulerConfig.OneCycleLR is SchedulerConfig.OneCycle


# ---- find_batch_size ---------------------------------------------------------------------------


def test_find_batch_size_names_misplaced_and_bad_arguments() -> None:
    model, batch = Dense(3, 2), _data()
    with pytest.raises(TypeError, match="loss_fn must be callable, got int"):
        find_batch_size(model, batch, 64)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="start must be an int"):
        find_batch_size(model, batch, start=3.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="steps must be >= 1"):
        find_batch_size(model, batch, steps=0)
    assert find_batch_size(model, list(batch), start=2, max_batch_size=8) in (2, 4, 8)


# ---- Distributed, in one process ---------------------------------------------------------------


@pytest.fixture
def one_process_world(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lets a test call ``World.init()`` in the pytest process and forgets that world after it
    (other test files check that no world is initialised)."""
    from democratising import _ranks
    from democratising.distributed import world as world_module

    monkeypatch.setattr(world_module, "_current", None)
    monkeypatch.setattr(_ranks, "_group", None)


def test_distributed_data_loader_takes_keywords_and_iterates_without_build(
    one_process_world: None,
) -> None:
    ds = TensorDataset(dm.arange(10, dtype=dm.float32))
    built = DistributedDataLoader(ds).batch_size(4).num_workers(2).shuffle(False).build()
    loader = DistributedDataLoader(ds, batch_size=4, num_workers=2, shuffle=False)
    assert len(loader) == len(built) == 3
    assert [b[0].tolist() for b in loader] == [b[0].tolist() for b in built]
    shuffled = DistributedDataLoader(ds, batch_size=10, seed=3)
    first, second = [next(iter(shuffled))[0].tolist() for _ in range(2)]
    assert sorted(first) == sorted(second) == list(range(10))
    assert first != second  # every pass is a new epoch, as with build()


def test_distributed_model_seed_loop_in_one_process(one_process_world: None) -> None:
    world = World.init()
    dm.manual_seed(0)
    model = DistributedModel(Sequential(Dense(3, 2)), world, "DataParallel")
    assert model.strategy is DistributedStrategy.DataParallel
    opt = SGD(model.parameters(), lr=0.1)
    x, y = _data()
    before = model.module[0].weight.tolist()
    loss = CrossEntropyLoss().forward(model.forward(x), y)
    model.backward(loss)
    model.all_reduce_gradients(dm.distributed.ReduceOp.Mean)
    model.step(opt)  # the seed's model.step(), given the optimizer it steps
    model.broadcast_parameters(0)
    assert model.module[0].weight.tolist() != before
    with pytest.raises(ValueError, match="unsupported distributed strategy 'Pipeline'"):
        DistributedModel(Dense(2, 2), world, "Pipeline")


def test_distributed_model_forward_of_a_batch_returns_the_default_loss(
    one_process_world: None,
) -> None:
    # The seed's `let loss = model.forward(&batch)` with no loss function named: the Trainer's
    # default (cross entropy for class labels, MSE for one float output).
    world = World.init()
    model = DistributedModel(Sequential(Dense(3, 2)), world, DistributedStrategy.DataParallel)
    x, y = _data()
    loss = model.forward((x, y))
    expected = CrossEntropyLoss()(model.module(x), y)
    assert loss.shape == () and abs(loss.item() - expected.item()) < 1e-6
    model.backward(loss)
    assert model.module[0].weight.grad is not None
    reg = DistributedModel(Sequential(Dense(3, 1)), world)
    target = dm.randn(12)
    mse = ((reg.module(x).reshape(12) - target) ** 2).mean()
    assert abs(reg.forward([x, target]).item() - mse.item()) < 1e-6
    assert reg.forward(x).shape == (12, 1)  # a lone input is the module's own forward


def test_distributed_argument_errors_are_typed(one_process_world: None) -> None:
    world = World.init()
    calls = [
        (lambda: world.all_reduce(dm.ones(2), "prod"), ValueError),
        (lambda: world.all_reduce([1.0]), TypeError),
        (lambda: DistributedDataParallel("model", world), TypeError),  # type: ignore[arg-type]
        (lambda: DistributedDataParallel(Dense(2, 2), world, bucket_cap_mb=0), ValueError),
    ]
    for call, kind in calls:
        with pytest.raises(dm.DemocratisingError) as info:
            call()
        assert isinstance(info.value, kind)


# ---- TrainingConfig fields as the seed writes them ----------------------------------------------


def test_training_config_takes_a_device_object_and_still_saves(tmp_path: Path) -> None:
    # ``device: Device::cuda(0)?`` in the seed; the Device object made save() a TypeError.
    cfg = TrainingConfig(device=dm.Device.cuda(1), optimizer=OptimizerConfig.Adam())
    assert cfg.device == "cuda:1"
    cfg.save(tmp_path / "c.json")
    cfg.save(tmp_path / "c.toml")
    assert TrainingConfig.from_file(tmp_path / "c.json") == cfg
    assert TrainingConfig.from_file(tmp_path / "c.toml") == cfg
    assert TrainingConfig(device=dm.Device.cpu()).device == "cpu"


def test_training_config_runs_dir_takes_a_path(tmp_path: Path) -> None:
    # A pathlib.Path was refused for runs_dir (checkpoint_dir took one).
    x, y = _data()
    cfg = _quiet(runs_dir=tmp_path, run_name="exp")
    assert cfg.runs_dir == str(tmp_path)
    Trainer(Dense(3, 2), cfg).fit((x, y))
    assert (tmp_path / "exp" / "version_0" / "config.toml").exists()


def test_training_config_takes_optimizer_and_scheduler_names() -> None:
    cfg = TrainingConfig(optimizer="SGD", scheduler={"name": "StepLR", "step_size": 3})
    assert cfg.optimizer == OptimizerConfig.SGD()
    assert cfg.scheduler == SchedulerConfig.StepLR(step_size=3)
    assert TrainingConfig(scheduler="none").scheduler is None
    with pytest.raises(ConfigError, match="unknown optimizer 'adamx'"):
        TrainingConfig(optimizer="adamx")


# ---- The seed's distributed loop on two ranks --------------------------------------------------

_SEED_LOOP = textwrap.dedent(
    """
    import json, sys
    import democratising as dm
    from democratising.prelude import *

    world = World.init(timeout=30)
    rank = world.rank()
    dm.manual_seed(rank)  # different initial weights: the model must broadcast rank 0's
    model = DistributedModel(Sequential(Dense(4, 2)), world, DistributedStrategy.DataParallel)
    opt = SGD(model.parameters(), 0.1)
    ds = TensorDataset(dm.arange(40, dtype=dm.float32).reshape(10, 4) / 40, dm.tensor([0, 1] * 5))
    loader = DistributedDataLoader(ds, batch_size=2, shuffle=False)
    seen = []
    for x, y in loader:
        seen.append(x[:, 0].tolist())
        loss = CrossEntropyLoss().forward(model.forward(x), y)
        model.zero_grad()
        model.backward(loss)
        model.all_reduce_gradients(ReduceOp.Mean)
        if rank == 0:
            model.step(opt)
        model.broadcast_parameters(0)
    out = {"seen": seen, "w": model.module[0].weight.tolist()}
    with open(f"{sys.argv[1]}/rank{rank}.json", "w") as f:
        json.dump(out, f)
    """
)


@needs_mpi
def test_seed_distributed_loop_with_keyword_loader(tmp_path: Path) -> None:
    script = tmp_path / "seed_loop.py"
    script.write_text(_SEED_LOOP)
    job = run_mpi(2, str(script), str(tmp_path), via_mpi4py=False, timeout=60)
    assert job.returncode == 0, job
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    # Each rank got its own share of the rows (rows 0, 2, 4... and 1, 3, 5...), in order.
    assert [v for b in r0["seen"] for v in b] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
    assert [v for b in r1["seen"] for v in b] == pytest.approx([0.1, 0.3, 0.5, 0.7, 0.9])
    assert r0["w"] == r1["w"]  # stepped on rank 0, broadcast to rank 1


def test_optimizer_config_takes_pytorchs_betas() -> None:
    # Adam's ``betas=(b1, b2)`` (PyTorch's argument) was an unknown key; the config splits it.
    assert OptimizerConfig.Adam(betas=(0.8, 0.99)) == OptimizerConfig.Adam(beta1=0.8, beta2=0.99)
    cfg = TrainingConfig.from_toml('[optimizer]\nname = "AdamW"\nbetas = [0.85, 0.95]\n')
    assert (cfg.optimizer.beta1, cfg.optimizer.beta2) == (0.85, 0.95)  # type: ignore[attr-defined]
    over = TrainingConfig().with_overrides(["optimizer.betas=0.5,0.6"]).optimizer
    assert (over.beta1, over.beta2) == (0.5, 0.6)  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="not both"):
        OptimizerConfig.Adam(betas=(0.9, 0.99), beta1=0.8)
    with pytest.raises(ConfigError, match="sequence of 2 values"):
        OptimizerConfig.Adam(betas=0.9)


# ---- Command line ------------------------------------------------------------------------------


def test_train_set_takes_several_pairs_after_one_flag() -> None:
    # API.md's ``[--set key=value ...]``: ``--set a=1 b=2`` was "unrecognized arguments".
    from democratising.cli import _parser

    args = _parser().parse_args(
        ["train", "--set", "num_epochs=1", "batch_size=8", "--set=seed=3", "--set", "amp=bf16"]
    )
    assert args.overrides == ["num_epochs=1", "batch_size=8", "seed=3", "amp=bf16"]
    # ``tune`` has a positional config file, which a multi-value --set would swallow.
    tune = _parser().parse_args(["tune", "--set", "num_epochs=1", "cfg.toml"])
    assert tune.overrides == ["num_epochs=1"] and tune.config == "cfg.toml"


# ---- Every failure is a DemocratisingError (API.md, Errors) -------------------------------------


@pytest.mark.parametrize(
    ("call", "kind"),
    [
        (lambda: ModelCheckpoint("ck", every=0), ValueError),
        (lambda: ModelCheckpoint("ck", mode="best"), ValueError),
        (lambda: EarlyStopping(2, mode="up"), ValueError),
        (lambda: find_batch_size(Dense(3, 2), (dm.ones(0, 3), dm.ones(0))), ValueError),
        (lambda: dm.checkpoint.save_checkpoint(Dense(2, 2), None, "x.ckpt"), TypeError),
        (lambda: dm.save({"a": dm.ones(1)}, 3), TypeError),
        (lambda: Trainer(Dense(3, 2), _quiet()).fit([dm.ones(4, 3)]), TypeError),
    ],
)
def test_misuse_of_training_apis_is_a_typed_democratising_error(
    call: object, kind: type[Exception]
) -> None:
    # These were bare ValueError/TypeError: right for PyTorch users, but not catchable as the
    # library's errors.
    with pytest.raises(dm.DemocratisingError) as info:
        call()  # type: ignore[operator]
    assert isinstance(info.value, kind)


def test_trainer_arguments_in_the_forms_users_write(tmp_path: Path) -> None:
    x, y = _data()
    cfg = _quiet()
    # One callback alone (Lightning accepts it); a dict of config fields; a config file path.
    assert Trainer(Dense(3, 2), cfg, callbacks=EarlyStopping(2)).fit((x, y))["epoch"] == [1]
    fields = {"batch_size": 4, "num_epochs": 1, "verbose": False, "model_summary": False}
    assert Trainer(Dense(3, 2), fields).config.batch_size == 4
    cfg.save(tmp_path / "c.toml")
    assert Trainer(Dense(3, 2), tmp_path / "c.toml").config == cfg


@pytest.mark.parametrize(
    ("make", "match"),
    [
        # The callbacks list given positionally lands in loss_fn: say so, not "not callable".
        (lambda: Trainer(Dense(3, 2), _quiet(), [EarlyStopping(2)]), "pass callbacks by keyword"),
        (lambda: Trainer(Dense(3, 2), _quiet(), callbacks=[EarlyStopping]), "not an instance"),
        (lambda: Trainer("model", _quiet()), "Trainer trains an nn.Module"),
        (lambda: Trainer(Dense(3, 2), 5), "config must be a TrainingConfig"),
    ],
)
def test_trainer_names_misplaced_arguments(make: object, match: str) -> None:
    with pytest.raises(dm.DemocratisingError, match=match) as info:
        make()  # type: ignore[operator]
    assert isinstance(info.value, TypeError)


def test_data_parallel_takes_one_device_alone() -> None:
    # "cpu" was read as the devices 'c', 'p', 'u'; device 0 (falsy) fell back to the CPU.
    from democratising.distributed import DataParallel

    model = Dense(3, 2)
    for devices in ("cpu", dm.Device.cpu()):
        dp = DataParallel(model, devices)
        assert [str(d) for d in dp.devices] == ["cpu"]
        assert tuple(dp(dm.ones(4, 3)).shape) == (4, 2)
    if not dm.cuda.is_available():
        with pytest.raises(dm.DeviceError, match="cuda:0"):
            DataParallel(model, 0)


def test_unknown_config_device_is_a_config_and_a_device_error() -> None:
    with pytest.raises(dm.DeviceError, match='unknown device "gpu"') as info:
        TrainingConfig(device="gpu")
    assert isinstance(info.value, ConfigError)


def test_train_with_config_result_reads_like_fits_history() -> None:
    # train_with_config returns the Trainer; reading it as fit's history raised TypeError.
    x, y = _data()
    result = dm.train.train_with_config(Dense(3, 2), (x, y), _quiet(num_epochs=2))
    assert result["loss"] == result.history["loss"] and len(result["loss"]) == 2
    assert "val_loss" in result and "nope" not in result
    assert list(result.keys()) == list(result.history)
    assert dict(result) == result.history  # type: ignore[call-overload]


# ---- Checkpoints -------------------------------------------------------------------------------


def test_load_checkpoint_returns_the_states_for_a_manual_restore(tmp_path: Path) -> None:
    # The PyTorch pattern ``ck = load(path); model.load_state_dict(ck[...])`` had no states.
    dm.manual_seed(0)
    model = Sequential(Dense(3, 2))
    opt = dm.optim.Adam(model.parameters(), lr=0.01)
    model(dm.ones(2, 3)).sum().backward()
    opt.step()
    dm.checkpoint.save_checkpoint(tmp_path / "a.ckpt", model=model, optimizer=opt, epoch=2)
    ck = dm.checkpoint.load_checkpoint(tmp_path / "a.ckpt")
    other = Sequential(Dense(3, 2))
    other_opt = dm.optim.Adam(other.parameters(), lr=0.5)
    other.load_state_dict(ck["model_state"])
    other_opt.load_state_dict(ck["optimizer_state"])
    assert other[0].weight.tolist() == model[0].weight.tolist()
    assert other_opt.param_groups[0]["lr"] == 0.01
    assert ck["epoch"] == 2 and ck["scheduler_state"] is None and ck["scaler_state"] is None


def test_mnist_reads_torchvisions_folder_layout(tmp_path: Path) -> None:
    import gzip
    import struct

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = struct.pack(">IIII", 2051, 2, 28, 28) + bytes(range(256)) * 6 + bytes(32)
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(images))
    (raw / "t10k-labels-idx1-ubyte").write_bytes(struct.pack(">II", 2049, 2) + bytes([3, 9]))
    x, y = datasets.mnist(tmp_path, train=False)
    assert tuple(x.shape) == (2, 28, 28) and y.tolist() == [3, 9]
    assert x.dtype == dm.float32 and y.dtype == dm.int64
    assert float(x.max()) == 1.0 and float(x.min()) == 0.0


def test_prelude_has_what_a_seed_style_script_reaches_for() -> None:
    import democratising.prelude as prelude

    wanted = {"Dataset", "random_split", "no_grad", "manual_seed", "MultiStepLR", "SequentialLR"}
    wanted |= {"convert_sync_batchnorm", "CosineAnnealingWarmRestarts"}
    assert wanted <= set(prelude.__all__)
    assert all(hasattr(prelude, name) for name in prelude.__all__)
    assert prelude.manual_seed is dm.manual_seed and prelude.no_grad is dm.no_grad
