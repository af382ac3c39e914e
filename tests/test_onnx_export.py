"""``democratising.onnx.export``: each supported model is exported, checked by ``onnx.checker``
and run by onnxruntime at two batch sizes (a dynamic batch axis) against our own forward."""

from __future__ import annotations

import io
import sys
from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import nn
from democratising.errors import ExportError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


class MLP(nn.Module):
    """The seed guide's MLP: layers called from a hand-written forward with ``F.relu``."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(12, 32), nn.Linear(32, 5)

    def forward(self, x: dm.Tensor) -> dm.Tensor:
        return F.log_softmax(self.fc2(F.dropout(F.relu(self.fc1(x)), 0.1, self.training)), -1)


class RNNClassifier(nn.Module):
    def __init__(self, rnn: Any) -> None:
        super().__init__()
        self.emb, self.rnn = nn.Embedding(20, 8), rnn
        self.head = nn.Linear(rnn.hidden_size * (2 if rnn.bidirectional else 1), 3)

    def forward(self, tokens: dm.Tensor) -> dm.Tensor:
        out, _ = self.rnn(self.emb(tokens))
        return self.head(out[:, -1])


def _cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 4, 3, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10),
    )  # fmt: skip


MODELS: dict[str, tuple[Callable[[], nn.Module], Callable[[int], dm.Tensor]]] = {
    "mlp": (
        lambda: nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 5)),
        lambda b: dm.randn(b, 12),
    ),
    "seed_mlp": (MLP, lambda b: dm.randn(b, 12)),
    "cnn": (_cnn, lambda b: dm.randn(b, 3, 12, 12)),
    "transformer": (
        lambda: nn.TransformerEncoderLayer(16, 4, 32, batch_first=True),
        lambda b: dm.randn(b, 7, 16),
    ),
    "transformer_gelu_norm_first": (
        lambda: nn.TransformerEncoderLayer(
            16, 2, 24, activation="gelu", norm_first=True, batch_first=True
        ),
        lambda b: dm.randn(b, 5, 16),
    ),
    "lstm": (
        lambda: RNNClassifier(nn.LSTM(8, 12, num_layers=2, batch_first=True)),
        lambda b: dm.randint(0, 20, (b, 6)),
    ),
    "gru": (
        lambda: RNNClassifier(nn.GRU(8, 12, batch_first=True, bidirectional=True)),
        lambda b: dm.randint(0, 20, (b, 6)),
    ),
}


def _export(model: nn.Module, x: dm.Tensor, **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    dm.onnx.export(
        model,
        (x,),
        buf,
        input_names=["x"],
        output_names=["y"],
        dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
        **kwargs,
    )
    return buf.getvalue()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_matches_onnxruntime_at_two_batch_sizes(name: str) -> None:
    dm.manual_seed(0)
    build, make = MODELS[name]
    model = build().eval()
    data = _export(model, make(3))
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    for batch in (1, 4):
        x = make(batch)
        (got,) = session.run(None, {"x": x.numpy()})
        with dm.no_grad():
            want = model(x).numpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_parameters_are_initializers_under_their_names(tmp_path: Any) -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    path = tmp_path / "mlp.onnx"
    dm.onnx.export(model, dm.randn(2, 3), str(path))
    names = {i.name for i in onnx.load(str(path)).graph.initializer}
    assert {"0.weight", "0.bias", "2.weight", "2.bias"} <= names


def test_training_mode_exports_eval_and_restores_the_mode() -> None:
    """As PyTorch's default ``training=TrainingMode.EVAL``: dropout is the identity in the file
    and the model is back in training mode afterwards."""
    model = nn.Sequential(nn.Linear(6, 6), nn.Dropout(0.5), nn.Linear(6, 2)).train()
    data = _export(model, dm.randn(2, 6))
    assert model.training and model[1].training
    x = dm.randn(3, 6)
    (got,) = ort.InferenceSession(data).run(None, {"x": x.numpy()})
    with dm.no_grad():
        want = model.eval()(x).numpy()
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_an_op_without_onnx_form_raises_naming_it() -> None:
    class Cumulative(nn.Module):
        def forward(self, x: dm.Tensor) -> dm.Tensor:
            return x.cumsum(1) * 2

    with pytest.raises(ExportError, match=r"'Tensor\.cumsum' has no ONNX form"):
        dm.onnx.export(Cumulative(), dm.randn(2, 3), io.BytesIO())


def test_reading_values_in_forward_raises() -> None:
    class DataDependent(nn.Module):
        def forward(self, x: dm.Tensor) -> dm.Tensor:
            return x * float(x.sum().item())

    with pytest.raises(ExportError, match=r"Tensor\.item"):
        dm.onnx.export(DataDependent(), dm.randn(2, 3), io.BytesIO())


def test_a_size_baked_from_the_dynamic_axis_raises() -> None:
    class BatchNoise(nn.Module):
        def forward(self, x: dm.Tensor) -> dm.Tensor:
            return x + dm.ones(x.shape[0], 1)

    with pytest.raises(ExportError, match="follows a dynamic axis"):
        _export(BatchNoise(), dm.randn(2, 3))
    dm.onnx.export(BatchNoise(), dm.randn(2, 3), io.BytesIO())  # a fixed batch is fine


def test_wrappers_are_removed_after_export() -> None:
    before = dm.Tensor.__dict__["relu"], dm.cat, F.embedding
    _export(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), dm.randn(2, 2))
    assert (dm.Tensor.__dict__["relu"], dm.cat, F.embedding) == before


def test_missing_onnx_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from democratising._extras import MissingExtraError

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingExtraError, match=r"democratising\[onnx\]"):
        dm.onnx.export(nn.Linear(2, 2), dm.randn(1, 2), io.BytesIO())
