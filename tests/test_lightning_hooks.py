"""Lightning-style use of the Trainer (issue 17, point 7): hooks on the model
(``training_step``, ``validation_step``, ``test_step``, ``predict_step``,
``configure_optimizers`` in its three return forms), keyword settings, the model summary."""

from __future__ import annotations

from typing import Any

import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import nn, optim
from democratising.data import DataLoader, TensorDataset
from democratising.train import ConfigError, Trainer, TrainingConfig


def _data() -> TensorDataset:
    dm.manual_seed(0)
    x = dm.randn(64, 4)
    return TensorDataset(x, (x.sum(dim=1) > 0).long())


class LitModel(nn.Module):
    def __init__(self, form: str = "optimizer") -> None:
        super().__init__()
        dm.manual_seed(1)
        self.net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
        self.form = form
        self.calls: dict[str, int] = {}

    def forward(self, x: dm.Tensor) -> dm.Tensor:
        return self.net(x)

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def training_step(self, batch: Any, batch_idx: int) -> dm.Tensor:
        self._count("training_step")
        x, y = batch
        return F.cross_entropy(self(x), y)

    def validation_step(self, batch: Any, batch_idx: int) -> dict[str, Any]:
        self._count("validation_step")
        x, y = batch
        out = self(x)
        acc = (out.argmax(dim=1) == y).float().mean()
        return {"loss": F.cross_entropy(out, y), "acc": acc}

    def test_step(self, batch: Any, batch_idx: int) -> dm.Tensor:
        x, y = batch
        return F.cross_entropy(self(x), y)

    def predict_step(self, batch: Any, batch_idx: int) -> dm.Tensor:
        return self(batch[0]).argmax(dim=1)

    def configure_optimizers(self) -> Any:
        opt = optim.SGD(self.parameters(), lr=0.5)
        sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
        if self.form == "optimizer":
            return opt
        if self.form == "lists":
            return [opt], [sched]
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def test_hooks_drive_training_validation_test_and_predict() -> None:
    model = LitModel()
    t = Trainer(model, max_epochs=3, batch_size=16, verbose=False)
    assert isinstance(t.optimizer, optim.SGD) and t.optimizer.param_groups[0]["lr"] == 0.5
    hist = t.fit(_data(), _data())
    assert model.calls == {"training_step": 12, "validation_step": 12}
    assert hist["loss"][-1] < hist["loss"][0]
    assert set(hist) >= {"val_loss", "val_acc"} and 0 <= hist["val_acc"][-1] <= 1
    assert set(t.test(_data())) == {"loss"}
    preds = t.predict(DataLoader(_data(), batch_size=32))
    assert len(preds) == 2 and preds[0].shape == (32,)


def test_configure_optimizers_lists_form_steps_per_epoch() -> None:
    t = Trainer(LitModel("lists"), max_epochs=2, batch_size=16, verbose=False)
    t.fit(_data())
    assert t.history["lr"] == [0.5, 0.25]  # the rate each epoch ran with
    assert t.optimizer.param_groups[0]["lr"] == 0.125


def test_configure_optimizers_dict_form_with_step_interval() -> None:
    t = Trainer(LitModel("dict"), max_epochs=1, batch_size=16, verbose=False)
    t.fit(_data())
    assert t.optimizer.param_groups[0]["lr"] == 0.5 * 0.5**4  # 4 optimizer steps


def test_keyword_settings_and_lightning_names() -> None:
    t = Trainer(
        LitModel(),
        max_epochs=2,
        lr=0.1,
        accumulate_grad_batches=2,
        gradient_clip_val=1.0,
        precision="bf16-mixed",
        enable_progress_bar=False,
    )
    c = t.config
    assert (c.num_epochs, c.learning_rate, c.accumulation_steps) == (2, 0.1, 2)
    assert (c.max_grad_norm, c.amp, c.progress) == (1.0, "bfloat16", False)
    base = TrainingConfig(batch_size=8)
    assert Trainer(LitModel(), base, max_epochs=4).config.batch_size == 8
    assert base.num_epochs == 10  # the given config is not changed
    with pytest.raises(TypeError, match="did you mean 'max_epochs'"):
        Trainer(LitModel(), max_epoch=3)
    with pytest.raises(ConfigError):
        Trainer(LitModel(), max_epochs=-1)


def test_model_summary_lists_layers_parameters_and_memory() -> None:
    lines: list[str] = []
    Trainer(LitModel(), max_epochs=1, batch_size=32, log=lines.append).fit(_data())
    text = "\n".join(lines)
    assert "Model LitModel: 114 parameters (114 trainable, 0 frozen)" in text
    assert "  net   Sequential         114" in text
    assert "MB" in text
    lines.clear()
    Trainer(LitModel(), max_epochs=1, model_summary=False, log=lines.append).fit(_data())
    assert not any(ln.startswith("Model ") for ln in lines)
