"""Acceptance checks for API.md's Data / Training / Checkpoints / Command line sections, written
as a new user would call them: each test pins down a gap found that way (a PyTorch or
torchmetrics spelling that was refused, a result key that was missing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import democratising as dm
from democratising.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from democratising.metrics import AUROC, Accuracy, ConfusionMatrix, F1Score, Precision, Recall
from democratising.nn import Linear, ReLU, Sequential
from democratising.train import (
    ConfigError,
    OptimizerConfig,
    TrainingConfig,
    find_batch_size,
    search_batch_size,
)


def _config(**kw: object) -> TrainingConfig:
    fields: dict[str, object] = {"learning_rate": 0.01, "batch_size": 4, "num_epochs": 1}
    fields.update(kw)
    return TrainingConfig(device="cpu", optimizer=OptimizerConfig.SGD(), **fields)  # type: ignore[arg-type]


# ---- Training: amp takes the dtype objects autocast takes ---------------------------------------


@pytest.mark.parametrize(
    ("amp", "stored"), [(dm.bfloat16, "bfloat16"), (dm.float16, "float16"), ("bf16", "bfloat16")]
)
def test_training_config_amp_accepts_dtypes(amp: object, stored: str) -> None:
    assert _config(amp=amp).amp == stored


def test_training_config_amp_rejects_non_half_dtype() -> None:
    with pytest.raises(ConfigError, match="int64"):
        _config(amp=dm.int64)


def test_trainer_runs_with_amp_dtype() -> None:
    dm.manual_seed(0)
    model = Sequential(Linear(3, 4), ReLU(), Linear(4, 2))
    x, y = dm.randn(8, 3), dm.randint(0, 2, (8,))
    cfg = _config(amp=dm.bfloat16, verbose=False, progress=False, model_summary=False)
    history = dm.train.Trainer(model, cfg).fit((x, y))
    assert history["epoch"] == [1]


def _quiet(**kw: object) -> TrainingConfig:
    return _config(verbose=False, progress=False, model_summary=False, **kw)


@pytest.mark.parametrize("target_shape", [(32, 1), (32,)])
def test_default_loss_of_a_regression_model_is_mse(target_shape: tuple[int, ...]) -> None:
    """Cross entropy over one output is 0 whatever the weights: the default must not be it."""
    dm.manual_seed(0)
    x = dm.randn(32, 3)
    y = (x @ dm.ones(3, 1)).reshape(target_shape)
    trainer = dm.train.Trainer(Linear(3, 1), _quiet(num_epochs=3, learning_rate=0.05))
    losses = trainer.fit((x, y))["loss"]
    assert losses[0] > 0.1 and losses[2] < losses[0] / 2
    assert isinstance(trainer.loss_fn, dm.nn.MSELoss) == (len(target_shape) == 2)


def test_default_loss_of_a_classifier_is_cross_entropy() -> None:
    dm.manual_seed(0)
    model = Linear(3, 4)
    with dm.no_grad():
        model.weight.zero_()
        model.bias.zero_()
    trainer = dm.train.Trainer(model, _quiet(learning_rate=0.0))
    x, y = dm.randn(8, 3), dm.randint(0, 4, (8,))
    assert trainer.evaluate((x, y))["loss"] == pytest.approx(1.3862944, rel=1e-6)  # log(4)
    assert isinstance(trainer.loss_fn, dm.nn.CrossEntropyLoss)


# ---- Checkpoints ------------------------------------------------------------------------------


def test_load_checkpoint_returns_extras_at_top_level(tmp_path: Path) -> None:
    model = Sequential(Linear(2, 3))
    path = tmp_path / "a.ckpt"
    save_checkpoint(path, model=model, epoch=3, loss=0.5, step=7, note="hi")
    info = load_checkpoint(path, model=Sequential(Linear(2, 3)))
    assert (info["epoch"], info["loss"], info["step"], info["note"]) == (3, 0.5, 7, "hi")
    assert info["extra"] == {"step": 7, "note": "hi"}
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []


def test_fixed_result_keys_win_over_an_extra_of_the_same_name(tmp_path: Path) -> None:
    path = tmp_path / "b.ckpt"
    save_checkpoint(path, epoch=1, missing_keys="mine")
    info = load_checkpoint(path)
    assert info["missing_keys"] == [] and info["extra"]["missing_keys"] == "mine"


def test_save_checkpoint_creates_parent_directories(tmp_path: Path) -> None:
    model = Sequential(Linear(2, 3))
    path = tmp_path / "runs" / "exp1" / "last.ckpt"
    save_checkpoint(path, model=model, epoch=2)
    assert load_checkpoint(path)["epoch"] == 2
    Checkpoint(model_state=model.state_dict(), epoch=5).save(tmp_path / "new" / "c.ckpt")
    assert Checkpoint.load(tmp_path / "new" / "c.ckpt").epoch == 5
    assert sorted(p.name for p in (tmp_path / "runs" / "exp1").iterdir()) == ["last.ckpt"]


def test_save_checkpoint_accepts_the_seed_argument_order(tmp_path: Path) -> None:
    dm.manual_seed(0)
    model = Sequential(Linear(2, 3))
    opt = dm.optim.Adam(model.parameters(), lr=0.001)
    path = tmp_path / "seed.ckpt"
    save_checkpoint(
        model, opt, 4, 0.25, path
    )  # the seed's save_checkpoint(model, opt, epoch, loss, path)
    other = Sequential(Linear(2, 3))
    other_opt = dm.optim.Adam(other.parameters(), lr=0.5)
    info = load_checkpoint(path, model=other, optimizer=other_opt)
    assert (info["epoch"], info["loss"]) == (4, 0.25)
    assert other_opt.param_groups[0]["lr"] == 0.001
    assert other[0].weight.tolist() == model[0].weight.tolist()


def test_save_checkpoint_names_a_wrong_path_argument() -> None:
    model = Sequential(Linear(2, 3))
    with pytest.raises(TypeError, match=r"path must be a str or os\.PathLike, got Sequential"):
        save_checkpoint(model, None, "x.ckpt")


def test_checkpoint_dataclass_takes_the_seed_field_order(tmp_path: Path) -> None:
    """The seed builds ``Checkpoint { model_state, optimizer_state, epoch, loss }``."""
    model = Linear(2, 2)
    opt = dm.optim.Adam(model.parameters())
    model(dm.ones(3, 2)).sum().backward()
    opt.step()
    Checkpoint(model.state_dict(), opt.state_dict(), 3, 0.5).save(tmp_path / "c.ckpt")
    loaded = Checkpoint.load(tmp_path / "c.ckpt")
    assert (loaded.epoch, loaded.loss) == (3, 0.5)
    assert loaded.optimizer_state is not None
    assert sorted(loaded.optimizer_state) == ["param_groups", "state"]


def test_checkpoint_refuses_to_write_a_file_it_could_not_load(tmp_path: Path) -> None:
    path = tmp_path / "bad.ckpt"
    with pytest.raises(dm.CheckpointError, match="scheduler_state must be a dict or None"):
        Checkpoint(Linear(2, 2).state_dict(), scheduler_state=3).save(path)  # type: ignore[arg-type]
    assert not path.exists()


# ---- Metrics: torchmetrics' task= ---------------------------------------------------------------

_PROBS = [[0.9, 0.1, 0.0], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.7, 0.2, 0.1]]
_LABELS = [0, 1, 1, 0]
_BIN_PROBS = [0.9, 0.2, 0.7, 0.4]  # predicted 1, 0, 1, 0
_BIN_LABELS = [1, 0, 0, 1]


def test_metrics_accept_multiclass_task() -> None:
    p, t = dm.tensor(_PROBS), dm.tensor(_LABELS)
    assert Accuracy(task="multiclass", num_classes=3)(p, t) == 0.75
    assert Accuracy("multiclass", num_classes=3)(p, t) == 0.75
    assert F1Score(task="multiclass", num_classes=3, average="micro")(p, t) == 0.75
    macro = Precision(task="multiclass", num_classes=3, average="macro")(p, t)
    assert macro == pytest.approx(2 / 3)
    cm = ConfusionMatrix(task="multiclass", num_classes=3)(p, t)
    assert cm.tolist() == [[2, 0, 0], [0, 1, 1], [0, 0, 0]]


def test_metrics_accept_binary_task() -> None:
    p, t = dm.tensor(_BIN_PROBS), dm.tensor(_BIN_LABELS)
    assert Accuracy(task="binary")(p, t) == 0.5
    assert Precision(task="binary")(p, t) == 0.5  # tp=1, fp=1
    assert Recall("binary")(p, t) == 0.5  # tp=1, fn=1
    assert F1Score(task="binary")(p, t) == 0.5
    assert ConfusionMatrix(task="binary")(p, t).tolist() == [[1, 1], [1, 1]]
    scores, labels = dm.tensor([0.1, 0.4, 0.35, 0.8]), dm.tensor([0, 0, 1, 1])
    assert AUROC(task="binary")(scores, labels) == 0.75


def test_metrics_task_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="needs num_classes"):
        Accuracy(task="multiclass")
    with pytest.raises(ValueError, match="multilabel"):
        F1Score(task="multilabel")
    with pytest.raises(ValueError, match="2 classes"):
        Precision(task="binary", num_classes=3)
    with pytest.raises(ValueError, match="num_classes"):
        Recall()


# ---- find_batch_size: out-of-memory errors raised as RuntimeError -------------------------------


def test_search_stops_on_runtime_out_of_memory() -> None:
    def measure(bs: int) -> float:
        if bs > 64:
            raise RuntimeError("CUDA error: out of memory")
        return float(bs)

    best, results = search_batch_size(measure, start=16)
    assert best == 64 and sorted(results) == [16, 32, 64]


def test_search_propagates_other_runtime_errors() -> None:
    def measure(bs: int) -> float:
        raise RuntimeError("a real bug")

    with pytest.raises(RuntimeError, match="a real bug"):
        search_batch_size(measure, start=16)


def test_find_batch_size_stops_on_model_oom() -> None:
    class Limited(dm.nn.Module):
        """A model that runs out of memory above 128 rows, as PyTorch reports it."""

        def __init__(self) -> None:
            super().__init__()
            self.lin = Linear(3, 2)

        def forward(self, x: dm.Tensor) -> dm.Tensor:
            if x.shape[0] > 128:
                raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return self.lin(x)

    x, y = dm.randn(4, 3), dm.randint(0, 2, (4,))
    best = find_batch_size(Limited(), (x, y), start=256, max_batch_size=None)
    assert best == 128


# ---- Command line -----------------------------------------------------------------------------


def test_python_dash_m_runs_the_cli(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "democratising", "--version"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("democratising ")
