"""``Trainer`` evaluation (issue 21 point 2): ``metrics=`` computed by ``evaluate``/``test``
and every epoch of ``fit`` (``val_<name>``), ``predict`` (batched, no grad, eval mode,
concatenated on request, and under ``mpiexec -n 2`` rank 0 gets every prediction in the
dataset's order), the best checkpoint kept by any monitored metric, and the progress bar's
running loss and throughput."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

import democratising as dm
from democratising import nn
from democratising.checkpoint import load_checkpoint
from democratising.data import TensorDataset
from democratising.metrics import AUROC, Accuracy, ConfusionMatrix, F1Score, MeanSquaredError
from democratising.train import Trainer, TrainingConfig
from test_distributed import common, needs_mpi, run_mpi


def _digits(n: int = 600) -> tuple[TensorDataset, TensorDataset]:
    x, y = dm.datasets.digits()
    return TensorDataset(x[:n], y[:n]), TensorDataset(x[n : n + 300], y[n : n + 300])


def _mlp(seed: int = 0) -> nn.Module:
    dm.manual_seed(seed)
    return nn.Sequential(nn.Dense(64, 32), nn.ReLU(), nn.Dense(32, 10))


def _cfg(**kw: Any) -> TrainingConfig:
    base: dict[str, Any] = dict(
        num_epochs=2, batch_size=32, learning_rate=3e-3, verbose=False, progress=False
    )
    base.update(kw)
    return TrainingConfig(**base)


def test_evaluate_and_fit_compute_the_metrics() -> None:
    train, val = _digits()
    metrics = {
        "f1": F1Score(num_classes=10, average="macro"),
        "top3": Accuracy(top_k=3),
        "auroc": AUROC(num_classes=10),
        "cm": ConfusionMatrix(num_classes=10),
    }
    trainer = Trainer(_mlp(), _cfg(), metrics=metrics)
    history = trainer.fit(train, val)
    for key in ("val_f1", "val_top3", "val_auroc"):
        assert len(history[key]) == 2 and all(isinstance(v, float) for v in history[key])
    assert "val_cm" not in history  # matrices are for evaluate(), not the history
    assert history["val_f1"][-1] > 0.5
    scores = trainer.evaluate(val)
    logits = np.concatenate([b.numpy() for b in trainer.predict(val)])
    y = np.asarray(val.tensors[1].numpy())
    assert scores["f1"] == pytest.approx(skm.f1_score(y, logits.argmax(1), average="macro"))
    assert scores["accuracy"] == pytest.approx(skm.accuracy_score(y, logits.argmax(1)))
    assert scores["top3"] == pytest.approx(skm.top_k_accuracy_score(y, logits, k=3))
    np.testing.assert_array_equal(
        scores["cm"].numpy(), skm.confusion_matrix(y, logits.argmax(1), labels=range(10))
    )
    assert scores["f1"] == pytest.approx(history["val_f1"][-1])  # reset, not accumulated
    assert trainer.test(val)["f1"] == pytest.approx(scores["f1"])
    assert set(trainer.test(val)) == {"loss", "accuracy", "f1", "top3", "auroc", "cm"}


def test_regression_metrics_in_the_trainer() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], dtype=np.float32))[:, None]
    data = TensorDataset(dm.from_numpy(x), dm.from_numpy(y))
    dm.manual_seed(0)
    trainer = Trainer(
        nn.Dense(3, 1), _cfg(), loss_fn=nn.MSELoss(), metrics={"mse": MeanSquaredError()}
    )
    scores = trainer.evaluate(data)
    assert scores["mse"] == pytest.approx(scores["loss"], rel=1e-5)
    with pytest.raises(TypeError, match="has no update"):
        Trainer(nn.Dense(3, 1), _cfg(), metrics={"bad": object()})


class _Recorder(nn.Module):
    """A model that records whether it ran in training mode and with gradients."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Dense(4, 3)
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, x: Any) -> Any:
        out = self.lin(x)
        self.seen.append((self.training, out.requires_grad))
        return out


def test_predict_is_batched_without_grad_in_eval_mode() -> None:
    x = dm.randn(10, 4)
    data = TensorDataset(x, dm.zeros(10, dtype=dm.int64))
    model = _Recorder()
    trainer = Trainer(model, _cfg(batch_size=4))
    out = trainer.predict(data)
    assert [tuple(o.shape) for o in out] == [(4, 3), (4, 3), (2, 3)]
    assert model.seen == [(False, False)] * 3 and model.training
    joined = trainer.predict(data, concat=True)
    with dm.no_grad():
        want = model.lin(x).numpy()
    np.testing.assert_allclose(joined.numpy(), want, rtol=1e-6)
    # Batches of inputs only (no target) work too.
    only_x = trainer.predict([x[:5], x[5:]], concat=True)
    np.testing.assert_allclose(only_x.numpy(), want, rtol=1e-6)


def test_best_checkpoint_by_a_monitored_metric(tmp_path: Path) -> None:
    train, val = _digits(300)
    cfg = _cfg(num_epochs=3, checkpoint_dir=str(tmp_path), monitor="val_f1")
    trainer = Trainer(_mlp(), cfg, metrics={"f1": F1Score(num_classes=10)})
    assert trainer.monitor_mode == "max"  # F1 is higher-is-better
    history = trainer.fit(train, val)
    best_epoch = int(np.argmax(history["val_f1"])) + 1
    info = load_checkpoint(tmp_path / "best.safetensors", model=_mlp())
    assert info["epoch"] == best_epoch
    assert Trainer(_mlp(), _cfg(monitor="val_loss")).monitor_mode == "min"
    assert Trainer(_mlp(), _cfg(monitor="val_f1", monitor_mode="min")).monitor_mode == "min"
    # The config round-trips through TOML with the new fields.
    cfg.save(tmp_path / "c.toml")
    assert TrainingConfig.from_file(tmp_path / "c.toml").monitor == "val_f1"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_shows_running_loss_and_throughput(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tqdm")
    err = _Tty()
    monkeypatch.setattr(sys, "stderr", err)
    train, _ = _digits(200)
    Trainer(_mlp(), _cfg(num_epochs=1, progress=True, verbose=True), log=lambda s: None).fit(train)
    text = err.getvalue()
    assert "loss=" in text and "samples/s=" in text, text[-500:]


def test_progress_bar_without_tqdm_is_the_plain_one(monkeypatch: pytest.MonkeyPatch) -> None:
    err = _Tty()
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setitem(sys.modules, "tqdm", None)  # ``import tqdm`` raises ImportError
    train, _ = _digits(200)
    Trainer(_mlp(), _cfg(num_epochs=1, progress=True, verbose=True), log=lambda s: None).fit(train)
    text = err.getvalue()
    assert "epoch 1/1" in text and "batch/s" in text and "loss=" in text, text[-500:]
    assert text.endswith("\r")  # erased when the epoch ends, as tqdm(leave=False)


def _predict_data(n: int) -> TensorDataset:
    """tests/mpi/predict.py's data (not imported: that would start MPI in this process)."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((n, common.IN)).astype(np.float32)
    return TensorDataset(dm.from_numpy(x), dm.from_numpy(rng.integers(0, common.OUT, n)))


@needs_mpi
def test_two_rank_predict_returns_the_dataset_order(tmp_path: Path) -> None:
    job = run_mpi(2, "predict.py", str(tmp_path), timeout=60)
    assert job.returncode == 0, job
    got = np.load(tmp_path / "predict.npz")
    model = common.make_mlp(0)
    x, _ = _predict_data(23).tensors
    with dm.no_grad():
        want = model(x).numpy()
    np.testing.assert_allclose(got["batches"], want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["joined"], want, rtol=1e-5, atol=1e-6)
    x23, y23 = _predict_data(23).tensors
    with dm.no_grad():
        logits = model(x23).numpy()
    labels = np.asarray(y23.numpy())
    ce = nn.CrossEntropyLoss()(dm.from_numpy(logits), y23).item()
    assert float(got["loss"]) == pytest.approx(ce, rel=1e-5)  # the padded sample not counted
    assert float(got["acc"]) == pytest.approx(skm.accuracy_score(labels, logits.argmax(1)))
    assert float(got["f1"]) == pytest.approx(
        skm.f1_score(labels, logits.argmax(1), average="macro", zero_division=0)
    )
    np.testing.assert_array_equal(
        got["cm"], skm.confusion_matrix(labels, logits.argmax(1), labels=range(5))
    )
    e = np.exp(logits - logits.max(1, keepdims=True))
    probs = e / e.sum(1, keepdims=True)
    present = np.unique(labels)
    want_auc = np.mean([skm.roc_auc_score(labels == c, probs[:, c]) for c in present])
    assert float(got["auroc"]) == pytest.approx(want_auc, abs=1e-6)
