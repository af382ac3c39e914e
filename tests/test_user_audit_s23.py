"""Session 23 user audit: errors a PyTorch user meets on the training guide's paths now name the
problem and the fix (a corrupt checkpoint names its file, PyTorch/Lightning config names get a
did-you-mean, ``Adam(model.parameters)``, NumPy data given to ``Trainer.fit``, unflattened
images into ``Dense(784, ...)``)."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
from democratising.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from democratising.errors import ArgumentTypeError, CheckpointError, ShapeError
from democratising.nn import Dense, ReLU, Sequential
from democratising.optim import SGD, Adam, AdamW
from democratising.train import ConfigError, Trainer, TrainingConfig


def _mlp() -> Sequential:
    return Sequential(Dense(4, 8), ReLU(), Dense(8, 3))


@pytest.fixture
def saved(tmp_path):
    model = _mlp()
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model, Adam(model.parameters(), 1e-3), epoch=1, loss=0.5)
    return path


def test_truncated_checkpoint_names_the_file_and_says_cut_short(saved, tmp_path):
    data = saved.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) - 40])
    for load in (lambda: load_checkpoint(cut, _mlp()), lambda: Checkpoint.load(cut)):
        with pytest.raises(CheckpointError, match=r"'.*cut\.safetensors' is not a valid") as e:
            load()
        assert "cut short" in str(e.value)


def test_non_safetensors_and_empty_files_name_the_file(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"hello world, not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.safetensors.*not a safetensors file"):
        load_checkpoint(junk, _mlp())
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"empty\.safetensors.*truncated"):
        load_checkpoint(empty, _mlp())


def test_checkpoint_still_loads_after_the_error_path_change(saved):
    model = _mlp()
    info = load_checkpoint(saved, model)
    assert info["epoch"] == 1 and info["loss"] == 0.5


@pytest.mark.parametrize(
    ("given", "meant"),
    [
        ("lr", "learning_rate"),
        ("max_epochs", "num_epochs"),
        ("gradient_clip_val", "max_grad_norm"),
        ("accumulate_grad_batches", "accumulation_steps"),
        ("batch_sise", "batch_size"),  # difflib still answers the rest
    ],
)
def test_pytorch_and_lightning_config_names_get_a_did_you_mean(given, meant):
    with pytest.raises(ConfigError, match=f"did you mean '{meant}'"):
        TrainingConfig(**{given: 1})
    with pytest.raises(ConfigError, match=f"did you mean '{meant}'"):
        TrainingConfig().with_overrides([f"{given}=1"])


def test_lr_in_a_config_file_points_to_learning_rate(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("lr = 0.1\nmax_epochs = 3\n")
    with pytest.raises(ConfigError) as e:
        TrainingConfig.from_file(path)
    assert "did you mean 'learning_rate'" in str(e.value)
    assert "did you mean 'num_epochs'" in str(e.value)


@pytest.mark.parametrize("opt", [Adam, AdamW, SGD])
def test_optimizer_given_the_parameters_method_says_to_call_it(opt):
    model = _mlp()
    with pytest.raises(ArgumentTypeError, match=r"call it \(model\.parameters\(\)") as e:
        opt(model.parameters, lr=0.1)
    assert isinstance(e.value, TypeError)
    opt(model.parameters(), lr=0.1)  # the call still works


def _data() -> tuple[dm.Tensor, dm.Tensor]:
    dm.manual_seed(0)
    return dm.randn(16, 4), dm.randint(0, 3, (16,))


def test_fit_with_numpy_arrays_says_to_convert():
    x, y = _data()
    trainer = Trainer(_mlp(), TrainingConfig(num_epochs=1, verbose=False))
    with pytest.raises(ArgumentTypeError, match="from_numpy"):
        trainer.fit((x.numpy(), y.numpy()))
    trainer.fit((x, y))  # tensors still train
    assert len(trainer.history["loss"]) == 1


def test_fit_with_a_list_of_tensors_says_what_to_pass():
    x, y = _data()
    trainer = Trainer(_mlp(), TrainingConfig(num_epochs=1, verbose=False))
    with pytest.raises(ArgumentTypeError, match=r"an \(x, y\) tuple of tensors"):
        trainer.fit([x, y])


def test_unflattened_images_into_dense_say_flatten():
    layer = Dense(784, 10)
    for shape in [(4, 28, 28), (4, 1, 28, 28)]:
        with pytest.raises(ShapeError, match=r"flatten\(1\)") as e:
            layer(dm.randn(shape))
        assert e.value.op == "linear"  # the engine's structured fields survive
        assert e.value.shapes[0] == shape
    with pytest.raises(ShapeError) as e:  # a plain feature mismatch gets no flatten hint
        layer(dm.randn(4, 27))
    assert "flatten" not in str(e.value)
    assert layer(dm.randn(4, 28, 28).flatten(1)).shape == (4, 10)


def test_numpy_input_untouched_by_the_hint():
    with pytest.raises(ArgumentTypeError, match="must be Tensor, not ndarray"):
        Dense(4, 2)(np.zeros((2, 4), dtype=np.float32))


def test_accuracy_refuses_target_labels_past_the_score_columns():
    from democratising.errors import InvalidValueError
    from democratising.metrics import Accuracy

    logits = dm.tensor([[2.0, 0.1, 0.3], [0.2, 1.5, 0.1]])
    # Labels 1..3 for 3 logits (off by one) read as 0% accuracy before; now the label is named.
    with pytest.raises(InvalidValueError, match=r"target holds the label 3, outside \[0, 2\]"):
        Accuracy()(logits, dm.tensor([3, 1]))
    assert Accuracy()(logits, dm.tensor([0, 1])) == 1.0
    assert Accuracy()(dm.tensor([0, 2]), dm.tensor([0, 5])) == 0.5  # labels vs labels: no C


def _digits_like() -> tuple[dm.Tensor, dm.Tensor]:
    dm.manual_seed(1)
    return dm.randn(24, 4), dm.randint(0, 3, (24,))


def test_resume_from_a_run_folder_or_run_name_finds_its_checkpoints(tmp_path):
    # The CLI prints "Run folder: runs/<name>/version_N" and the docs resume from that folder.
    cfg = dict(runs_dir=tmp_path / "runs", run_name="exp", verbose=False)
    first = Trainer(_mlp(), TrainingConfig(num_epochs=1, **cfg))
    first.fit(_digits_like())
    version = tmp_path / "runs" / "exp" / "version_0"
    for folder in (version, version.parent):
        again = Trainer(_mlp(), TrainingConfig(num_epochs=2, **cfg))
        assert again.resolve_resume(folder) == version / "checkpoints" / "epoch_0001.safetensors"
    again = Trainer(_mlp(), TrainingConfig(num_epochs=2, **cfg))
    again.fit(_digits_like(), resume_from=version)
    assert again.epoch == 2 and again.run_dir == version
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="nor in its checkpoints/"):
        Trainer(_mlp(), TrainingConfig(**cfg)).resolve_resume(empty)


def test_a_resume_that_does_not_fit_names_the_checkpoint(tmp_path):
    cfg = dict(runs_dir=tmp_path / "runs", verbose=False)
    Trainer(_mlp(), TrainingConfig(num_epochs=1, **cfg)).fit(_digits_like())
    other = Sequential(Dense(5, 8), ReLU(), Dense(8, 3))  # another model: "last" is not its run
    _, y = _digits_like()
    with pytest.raises(CheckpointError, match=r"cannot resume from .*epoch_0001\.safetensors: "):
        Trainer(other, TrainingConfig(num_epochs=2, **cfg)).fit(
            (dm.randn(24, 5), y), ckpt_path="last"
        )


def test_config_file_names_optimizer_and_scheduler_by_a_string(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('optimizer = "sgd"\nscheduler = "StepLR"\n')  # as --set optimizer=sgd does
    cfg = TrainingConfig.from_file(path)
    assert type(cfg.optimizer).__name__ == "SGDConfig"
    assert type(cfg.scheduler).__name__ == "StepLRConfig"
    assert TrainingConfig.from_dict({"scheduler": "none"}).scheduler is None
    with pytest.raises(ConfigError, match=r"expected SchedulerConfig$"):  # not "<class '...'>"
        TrainingConfig.from_dict({"scheduler": 5})


def test_a_kind_given_by_its_first_letters_gets_a_did_you_mean():
    with pytest.raises(
        ConfigError, match="unknown scheduler 'cosine'; did you mean 'CosineAnnealing'"
    ):
        TrainingConfig.from_dict({"scheduler": {"name": "cosine"}})


def _split() -> tuple:
    from democratising.data import TensorDataset, random_split

    x, y = _digits_like()
    return tuple(random_split(TensorDataset(x, y), [0.75, 0.25], seed=0))


def test_early_stopping_on_a_misspelt_metric_raises_instead_of_watching_the_loss(tmp_path):
    from democratising.train import EarlyStopping, ModelCheckpoint, MonitorError

    train, val = _split()
    cfg = TrainingConfig(num_epochs=3, verbose=False)
    # Before: "val_acc" fell back to "loss" with mode="max", stopped at epoch 3 and restored
    # the epoch-1 weights (the highest loss), silently.
    early = EarlyStopping(patience=2, monitor="val_acc", mode="max")
    with pytest.raises(MonitorError, match="did you mean 'val_accuracy'") as e:
        Trainer(_mlp(), cfg, callbacks=[early]).fit(train, val)
    assert isinstance(e.value, KeyError) and str(e.value).startswith("EarlyStopping monitors")
    with pytest.raises(MonitorError, match="ModelCheckpoint monitors 'val_acc'"):
        Trainer(_mlp(), cfg, callbacks=[ModelCheckpoint(tmp_path, monitor="val_acc")]).fit(
            train, val
        )


def test_early_stopping_without_validation_watches_the_training_metric_of_that_name():
    from democratising.train import EarlyStopping

    train, _ = _split()
    cfg = TrainingConfig(num_epochs=2, verbose=False)
    for monitor, watched in [("val_loss", "loss"), ("val_accuracy", "accuracy")]:
        early = EarlyStopping(
            patience=5, monitor=monitor, mode="min" if "loss" in monitor else "max"
        )
        Trainer(_mlp(), cfg, callbacks=[early]).fit(train)
        assert early._watched == watched


def test_callbacks_that_are_not_callbacks_are_refused_up_front():
    with pytest.raises(
        ArgumentTypeError, match=r"callbacks holds 42 \(int\), which is not a Callback"
    ):
        Trainer(_mlp(), TrainingConfig(verbose=False), callbacks=[42])


def test_cross_entropy_on_one_output_column_says_what_fits():
    from democratising.errors import IndexOutOfRangeError
    from democratising.nn import CrossEntropyLoss

    labels = dm.tensor([0, 1, 0, 1])
    with pytest.raises(IndexOutOfRangeError, match="BCEWithLogitsLoss with float targets"):
        CrossEntropyLoss()(dm.randn(4, 1), labels)
    with pytest.raises(IndexOutOfRangeError) as e:  # several columns: the plain message
        CrossEntropyLoss()(dm.randn(4, 3), dm.tensor([0, 1, 0, 5]))
    assert "BCEWithLogitsLoss" not in str(e.value)


def test_accuracy_on_one_score_column_says_to_squeeze() -> None:
    from democratising.metrics import Accuracy

    acc = Accuracy()
    with pytest.raises(dm.ShapeError, match="squeeze"):
        acc.update(dm.tensor([[0.3], [-1.0], [2.0]]), dm.tensor([1, 0, 1]))
    acc = Accuracy()
    acc.update(dm.tensor([0.3, -1.0, 2.0]), dm.tensor([1, 0, 1]))
    assert float(acc.compute()) == 1.0
