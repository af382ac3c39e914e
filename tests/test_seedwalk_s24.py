"""A new user's walk through the seed guide (session 24): the mistakes found there now raise
typed errors that name the problem, before any training is spent on them."""

from __future__ import annotations

import errno
from pathlib import Path

import numpy as np
import pytest

import democratising as dm
from democratising.checkpoint import (
    Checkpoint,
    CheckpointWriteError,
    load_checkpoint,
    save_checkpoint,
)
from democratising.cli import main
from democratising.data import TensorDataset
from democratising.errors import ArgumentTypeError, CheckpointError, FileIOError
from democratising.nn import Dense, ReLU, Sequential
from democratising.train import (
    Callback,
    ConfigError,
    EarlyStopping,
    MetricsLogger,
    ModelCheckpoint,
    OptimizerConfig,
    Trainer,
    TrainingConfig,
    find_batch_size,
    load_config,
    train_with_config,
)
from democratising.train.batch_size import MemoryLimitError, search_batch_size


def _data(n: int = 64) -> TensorDataset:
    dm.manual_seed(0)
    return TensorDataset(dm.randn(n, 8), dm.randint(0, 3, (n,)))


def _model() -> Sequential:
    return Sequential(Dense(8, 16), ReLU(), Dense(16, 3))


def _quiet(**kw: object) -> TrainingConfig:
    settings: dict[str, object] = {"num_epochs": 1, "batch_size": 16, "verbose": False}
    return TrainingConfig(model_summary=False, **{**settings, **kw})


class _Epochs(Callback):
    """Counts the epochs that ran, to show that a bad path fails before the first one."""

    def __init__(self) -> None:
        self.ran = 0

    def on_epoch_end(self, trainer: Trainer, metrics: dict) -> None:
        self.ran += 1


def test_resume_from_a_folder_without_checkpoints_is_a_checkpoint_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    trainer = Trainer(_model(), _quiet())
    with pytest.raises(CheckpointError, match=r"no epoch_NNNN\.safetensors checkpoint in") as e:
        trainer.fit(_data(), resume_from=tmp_path / "empty")
    assert isinstance(e.value, FileNotFoundError)  # still what code that caught it expects
    cfg = _quiet(runs_dir=str(tmp_path / "runs"))
    with pytest.raises(CheckpointError, match="'last': no complete checkpoint under"):
        Trainer(_model(), cfg).fit(_data(), ckpt_path="last")


def test_resume_with_other_settings_names_them_and_the_runs_config(tmp_path: Path) -> None:
    runs = str(tmp_path / "runs")
    sgd = _quiet(runs_dir=runs, run_name="r", optimizer=OptimizerConfig.SGD(momentum=0.9))
    Trainer(_model(), sgd).fit(_data())
    adam = TrainingConfig(
        num_epochs=2, batch_size=16, verbose=False, model_summary=False, runs_dir=runs, run_name="r"
    )
    with pytest.raises(CheckpointError) as e:
        Trainer(_model(), adam).fit(_data(), ckpt_path="last")
    msg = str(e.value)
    assert "cannot load it into Adam" in msg
    assert "the checkpoint's run used other settings for optimizer" in msg
    assert str(Path(runs) / "r" / "version_0" / "config.toml") in msg


def test_cli_resume_with_other_settings_suggests_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--epochs", "1", "--set", "optimizer=sgd"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", "last", "--epochs", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].endswith(
        "other settings for optimizer: add --config runs/digits/version_0/config.toml"
    )


def test_unwritable_checkpoint_dir_fails_before_training(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    count = _Epochs()
    saver = ModelCheckpoint(blocker / "ck")
    with pytest.raises(CheckpointWriteError, match="ModelCheckpoint cannot create its folder"):
        Trainer(_model(), _quiet(), callbacks=[saver, count]).fit(_data())
    assert count.ran == 0
    with pytest.raises(CheckpointWriteError) as e:
        Trainer(_model(), _quiet(checkpoint_dir=str(blocker))).fit(_data())
    assert isinstance(e.value, OSError) and e.value.errno == errno.EEXIST
    assert "a file is in the way" in str(e.value)


def test_cli_unwritable_checkpoint_dir_is_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("")
    assert main(["train", "--epochs", "1", "--checkpoint-dir", "afile"]) == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.err and "Epoch 1/1" not in out.out
    assert "ModelCheckpoint cannot create its folder 'afile'" in out.err


def test_save_checkpoint_write_errors_name_the_checkpoint(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("")
    with pytest.raises(CheckpointWriteError, match="cannot create its folder") as e:
        save_checkpoint(blocker / "x.safetensors", _model())
    assert isinstance(e.value, FileIOError) and isinstance(e.value, OSError)
    assert str(blocker / "x.safetensors") in str(e.value)
    (tmp_path / "adir").mkdir()
    with pytest.raises(CheckpointWriteError) as e:
        save_checkpoint(tmp_path / "adir", _model())
    assert ".tmp" not in str(e.value)  # the atomic write's temp file is an internal detail
    assert str(tmp_path / "adir") in str(e.value)


def test_metrics_logger_path_that_cannot_be_written_fails_before_training(
    tmp_path: Path,
) -> None:
    (tmp_path / "m.csv").mkdir()  # a folder where the file should go
    count = _Epochs()
    logger = MetricsLogger(tmp_path / "m.csv")
    with pytest.raises(FileIOError, match="MetricsLogger cannot write"):
        Trainer(_model(), _quiet(), callbacks=[logger, count]).fit(_data())
    assert count.ran == 0


def test_find_batch_size_that_fits_nowhere_is_a_typed_oom_saying_why() -> None:
    assert issubclass(MemoryLimitError, dm.OutOfMemoryError)
    data = _data()
    with pytest.raises(dm.OutOfMemoryError, match="over memory_limit=1") as e:
        find_batch_size(_model(), (data.tensors[0], data.tensors[1]), start=4, memory_limit=1)
    assert isinstance(e.value, MemoryError)

    def measure(bs: int) -> float:
        raise MemoryError(f"{bs} is too many")

    with pytest.raises(dm.OutOfMemoryError, match="from 1 to 8 fits in memory: 1 is too many"):
        search_batch_size(measure, 8)


def test_override_that_is_not_a_number_says_so(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("num_epochs = 2\n")
    for key in ("num_epochs", "learning_rate"):
        with pytest.raises(ConfigError) as e:
            load_config(tmp_path / "c.toml", [f"{key}=abc"])
        assert str(e.value).endswith(
            f"for '{key}': expected {'int' if 'epochs' in key else 'float'} (not a number)"
        )
        assert "string to float" not in str(e.value)


def test_resume_last_says_which_corrupt_checkpoint_it_skips(tmp_path: Path) -> None:
    ck = tmp_path / "ck"
    Trainer(_model(), _quiet(num_epochs=2, checkpoint_dir=str(ck))).fit(_data())
    newest = ck / "epoch_0002.safetensors"
    raw = bytearray(newest.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    newest.write_bytes(bytes(raw))
    lines: list[str] = []
    cfg = TrainingConfig(num_epochs=2, batch_size=16, model_summary=False, checkpoint_dir=str(ck))
    trainer = Trainer(_model(), cfg, log=lines.append)
    trainer.fit(_data(), ckpt_path="last")
    assert any(line.startswith(f"Skipping checkpoint {newest}: CheckpointError") for line in lines)
    assert any(line.startswith(f"Resumed from {ck / 'epoch_0001.safetensors'}") for line in lines)


def test_train_with_config_takes_a_dict_or_file_and_names_numpy() -> None:
    data = _data()
    x, y = data.tensors
    trainer = train_with_config(_model(), (x, y), {"num_epochs": 1, "verbose": False})
    assert len(trainer.history["loss"]) == 1
    with pytest.raises(ArgumentTypeError, match="tuple of NumPy arrays; convert them"):
        train_with_config(_model(), (x.numpy(), y.numpy()), _quiet())
    with pytest.raises(ConfigError, match="num_epoch"):
        train_with_config(_model(), (x, y), {"num_epoch": 1})
    assert np.isfinite(trainer.history["loss"][0])


def test_cli_data_factory_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "walk_s24_data.py").write_text(
        "from democratising.nn import Dense\n"
        "def model():\n    return Dense(64, 10)\n"
        "def broken():\n    raise RuntimeError('my data is broken')\n"
        "def nothing():\n    return None\n"
        "def text():\n    return 'digits'\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    expected = {
        "broken": "--data walk_s24_data:broken: RuntimeError: my data is broken",
        "nothing": "--data walk_s24_data:nothing returned NoneType; expected a Dataset",
        "text": "--data walk_s24_data:text returned str; expected a Dataset",
    }
    for factory, message in expected.items():
        spec = f"walk_s24_data:{factory}"
        assert main(["train", "--data", spec, "--model", "walk_s24_data:model"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert err.startswith(f"democratising train: error: {message}"), err


def test_accuracy_monitored_without_a_mode_keeps_the_best_not_the_worst(tmp_path: Path) -> None:
    # Accuracies that rise: the best epoch is the last. mode left out used to mean "min",
    # which kept (and restored) epoch 1, the least accurate.
    model = _model()
    early = EarlyStopping(patience=5, monitor="accuracy")
    saver = ModelCheckpoint(tmp_path, monitor="val_accuracy", every=None)
    assert early.mode == "max" and saver.mode == "max"
    for epoch, acc in enumerate([0.3, 0.6, 0.9], start=1):
        assert early.on_epoch_end(_Fake(model), {"epoch": epoch, "accuracy": acc}) is False
    assert early.best_epoch == 3
    # Losses and unknown names keep Lightning's default; an explicit mode always wins.
    assert EarlyStopping(patience=1).mode == "min"
    assert EarlyStopping(patience=1, monitor="epoch").mode == "min"
    assert EarlyStopping(patience=1, monitor="val_f1").mode == "max"
    assert EarlyStopping(patience=1, monitor="val_accuracy", mode="min").mode == "min"
    assert ModelCheckpoint(tmp_path).mode == "min"
    with pytest.raises(dm.errors.InvalidValueError, match="mode must be 'min' or 'max'"):
        ModelCheckpoint(tmp_path, monitor="accuracy", mode="maximum")


class _Fake:
    """The part of a Trainer that EarlyStopping reads."""

    def __init__(self, model: Sequential) -> None:
        self.model = model


def test_load_checkpoint_with_its_arguments_swapped_says_how_to_call_it(tmp_path: Path) -> None:
    model = _model()
    optimizer = dm.optim.Adam(model.parameters())
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, model, optimizer, epoch=1)
    with pytest.raises(ArgumentTypeError, match=r"path must be .*got Sequential; call load_chec"):
        load_checkpoint(model, path)  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match="model is Adam, an optimizer"):
        load_checkpoint(path, optimizer)
    with pytest.raises(ArgumentTypeError, match=r"Checkpoint\.load: path must be"):
        Checkpoint.load(3)  # type: ignore[arg-type]
    assert load_checkpoint(path, model, optimizer)["epoch"] == 1


def test_training_config_amp_takes_lightning_precision_strings() -> None:
    from democratising.train import TrainingConfig

    assert TrainingConfig(amp="bf16-mixed").amp == "bfloat16"
    assert TrainingConfig(amp="16-mixed").amp == "float16"
    assert TrainingConfig(amp="32-true").amp is None


def test_early_stopping_best_score_is_the_reported_value_in_either_mode() -> None:
    from democratising.train import EarlyStopping

    model = dm.nn.Linear(1, 1)
    up = EarlyStopping(patience=2, monitor="val_accuracy")
    for acc in (0.5, 0.83, 0.7):
        up.step(model, acc)
    assert up.mode == "max" and up.best_score == 0.83 and up.best_loss == -0.83
    down = EarlyStopping(patience=2)
    down.step(model, 0.4)
    assert down.best_score == 0.4
