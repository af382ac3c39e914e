"""Curves people look at (issue 21 point 4): ``TensorBoardLogger`` event files read back by
TensorBoard's own loader (``EventAccumulator``), and ``democratising plot`` rendering two
runs' curves to a PNG that is read back and checked for both runs' colours."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.cli import main
from democratising.data import TensorDataset
from democratising.metrics import F1Score
from democratising.plot import find_runs, read_metrics
from democratising.train import TensorBoardLogger, Trainer, TrainingConfig
from democratising.tune import MissingExtraError


def _data() -> tuple[TensorDataset, TensorDataset]:
    x, y = dm.datasets.digits()
    return TensorDataset(x[:400], y[:400]), TensorDataset(x[400:600], y[400:600])


def _mlp() -> nn.Module:
    dm.manual_seed(0)
    return nn.Sequential(nn.Dense(64, 32), nn.ReLU(), nn.Dense(32, 10))


def _accumulator(log_dir: Path) -> Any:
    ea_mod = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    ea = ea_mod.EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "histograms": 0})
    ea.Reload()
    return ea


def test_tensorboard_logger_is_read_by_tensorboard(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    logger = TensorBoardLogger(tmp_path / "tb", histograms=True, log_every_n_steps=4)
    cfg = TrainingConfig(num_epochs=3, batch_size=50, verbose=False, progress=False)
    trainer = Trainer(_mlp(), cfg, callbacks=[logger], metrics={"f1": F1Score(num_classes=10)})
    history = trainer.fit(*_data())
    ea = _accumulator(tmp_path / "tb")
    scalars = set(ea.Tags()["scalars"])
    assert {"loss", "val_loss", "val_f1", "lr", "throughput", "train/loss_step"} <= scalars
    for tag in ("loss", "val_loss", "val_f1", "lr"):
        events = ea.Scalars(tag)
        assert [e.step for e in events] == [1, 2, 3]
        np.testing.assert_allclose([e.value for e in events], history[tag], rtol=1e-6)
    steps = [e.step for e in ea.Scalars("train/loss_step")]
    assert steps == list(range(4, 3 * 8 + 1, 4))  # 8 steps an epoch, every 4th
    histos = ea.Tags()["histograms"]
    assert "weights/0.weight" in histos and "weights/2.bias" in histos
    h = ea.Histograms("weights/0.weight")[-1].histogram_value
    w = trainer.model.state_dict()["0.weight"].numpy()
    assert h.num == w.size and h.min == pytest.approx(float(w.min()), rel=1e-6)


def test_tensorboard_logger_defaults_to_the_run_folder(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    cfg = TrainingConfig(num_epochs=1, runs_dir=str(tmp_path), verbose=False, progress=False)
    trainer = Trainer(_mlp(), cfg, callbacks=[TensorBoardLogger()])
    trainer.fit(*_data())
    assert trainer.run_dir is not None
    assert _accumulator(trainer.run_dir / "tensorboard").Scalars("val_loss")


def test_missing_extras_name_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(MissingExtraError, match=r"democratising\[tensorboard\]"):
        TensorBoardLogger()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    (tmp_path / "metrics.csv").write_text("epoch,loss\n1,0.5\n")
    assert main(["plot", str(tmp_path), "-o", str(tmp_path / "x.png")]) == 2


def _run(runs_dir: Path, lr: float) -> None:
    cfg = TrainingConfig(
        num_epochs=3,
        learning_rate=lr,
        runs_dir=str(runs_dir),
        run_name="digits",
        verbose=False,
        progress=False,
    )
    Trainer(_mlp(), cfg).fit(*_data())


def _has_colour(img: np.ndarray, hex_colour: str) -> int:
    rgb = np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255.0
    return int((np.abs(img[..., :3] - rgb).max(axis=-1) < 0.02).sum())


def test_plot_two_runs_to_a_png(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mpl_image = pytest.importorskip("matplotlib.image")
    _run(tmp_path / "runs", 1e-3)
    _run(tmp_path / "runs", 3e-2)
    runs = find_runs([tmp_path / "runs"])
    assert [r.name for r in runs] == ["version_0", "version_1"]
    assert read_metrics(runs[0])["epoch"] == [1.0, 2.0, 3.0]
    out = tmp_path / "curves.png"
    assert main(["plot", str(runs[0]), str(runs[1]), "-o", str(out)]) == 0
    assert "Wrote" in capsys.readouterr().out
    img = mpl_image.imread(str(out))
    assert img.ndim == 3 and img.shape[0] > 200 and img.shape[1] > 600  # loss, accuracy, lr
    # Both runs drawn: matplotlib's first two colours (C0 blue, C1 orange) are there.
    assert _has_colour(img, "#1f77b4") > 100 and _has_colour(img, "#ff7f0e") > 100
    # A parent folder stands for its runs; --metrics picks the panels.
    one = tmp_path / "loss.png"
    assert main(["plot", str(tmp_path / "runs"), "-o", str(one), "--metrics", "loss"]) == 0
    small = mpl_image.imread(str(one))
    assert small.shape[1] < img.shape[1]
    assert _has_colour(small, "#1f77b4") > 50 and _has_colour(small, "#ff7f0e") > 50
    assert main(["plot", str(tmp_path / "nothing"), "-o", str(one)]) == 2
    assert "no such run folder" in capsys.readouterr().err
    assert main(["plot", str(runs[0]), "-o", str(one), "--metrics", "f1"]) == 2
