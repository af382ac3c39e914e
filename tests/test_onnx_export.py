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


def _group_norm_net() -> nn.Module:
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3), nn.GroupNorm(4, 8), nn.SiLU(), nn.GroupNorm(2, 8, affine=False)
    )
    nn.init.normal_(net[1].weight)
    nn.init.normal_(net[1].bias)
    return net


MODELS: dict[str, tuple[Callable[[], nn.Module], Callable[[int], dm.Tensor]]] = {
    "mlp": (
        lambda: nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 5)),
        lambda b: dm.randn(b, 12),
    ),
    "seed_mlp": (MLP, lambda b: dm.randn(b, 12)),
    "group_norm": (_group_norm_net, lambda b: dm.randn(b, 3, 7, 6)),
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


def test_group_norm_exports_with_dynamic_spatial_axes() -> None:
    """Group norm's rows and its reshape back follow the input's run-time shape."""
    dm.manual_seed(0)
    model = _group_norm_net().eval()
    axes = {0: "b", 2: "h", 3: "w"}
    buf = io.BytesIO()
    dm.onnx.export(
        model, (dm.randn(2, 3, 7, 6),), buf, input_names=["x"], output_names=["y"],
        dynamic_axes={"x": axes, "y": axes},
    )  # fmt: skip
    onnx.checker.check_model(onnx.load_from_string(buf.getvalue()), full_check=True)
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    for shape in ((1, 3, 5, 9), (3, 3, 8, 4)):
        x = dm.randn(*shape)
        (got,) = session.run(None, {"x": x.numpy()})
        with dm.no_grad():
            np.testing.assert_allclose(got, model(x).numpy(), atol=1e-5, rtol=1e-5)


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
    class BatchPositions(nn.Module):
        def forward(self, x: dm.Tensor) -> dm.Tensor:
            return x + dm.arange(x.shape[0]).float().unsqueeze(1)

    with pytest.raises(ExportError, match="follows a dynamic axis"):
        _export(BatchPositions(), dm.randn(2, 3))
    dm.onnx.export(BatchPositions(), dm.randn(2, 3), io.BytesIO())  # a fixed batch is fine


def test_one_valued_constants_sized_by_the_batch_broadcast() -> None:
    """``zeros(mask.shape).masked_fill(mask, -inf)`` (MultiheadAttention's boolean key padding
    mask) and ``x + ones(batch, 1)`` follow the batch in the exported graph."""

    class Masked(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mha = nn.MultiheadAttention(16, 4, batch_first=True)

        def forward(self, x: dm.Tensor, pad: dm.Tensor) -> tuple[dm.Tensor, dm.Tensor]:
            out, weights = self.mha(x, x, x, key_padding_mask=pad)
            return out + dm.ones(x.shape[0], 1, 1), weights

    def make(b: int) -> tuple[dm.Tensor, dm.Tensor]:
        pad = np.zeros((b, 5), dtype=bool)
        pad[:, -1] = True
        return dm.randn(b, 5, 16), dm.from_numpy(pad)

    model = Masked().eval()
    buf = io.BytesIO()
    dm.onnx.export(model, make(2), buf, input_names=["x", "pad"],
                   dynamic_axes={"x": [0], "pad": [0]})  # fmt: skip
    session = ort.InferenceSession(buf.getvalue())
    x, pad = make(5)
    got = session.run(None, {"x": x.numpy(), "pad": pad.numpy()})
    with dm.no_grad():
        want = model(x, pad)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), atol=1e-5)


def test_seq_first_encoder_stack_with_a_causal_mask() -> None:
    """``nn.TransformerEncoder`` (two layers, a final norm) over ``[S, N, E]`` with a fixed
    causal mask, the batch on axis 1; softplus with ``beta`` after it."""
    layer = nn.TransformerEncoderLayer(16, 2, 32)
    model = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(16)).eval()
    mask = nn.Transformer.generate_square_subsequent_mask(6)

    class Wrapped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = model

        def forward(self, x: dm.Tensor) -> dm.Tensor:
            return F.softplus(self.encoder(x, mask=mask), beta=2.0)

    wrapped = Wrapped().eval()
    buf = io.BytesIO()
    dm.onnx.export(wrapped, dm.randn(6, 2, 16), buf, dynamic_axes={"input": {1: "batch"}})
    session = ort.InferenceSession(buf.getvalue())
    x = dm.randn(6, 5, 16)
    (got,) = session.run(None, {"input": x.numpy()})
    with dm.no_grad():
        np.testing.assert_allclose(got, wrapped(x).numpy(), atol=1e-5)


class WordLM(nn.Module):
    """PyTorch's examples/word_language_model RNNModel (seq-first, hidden state in and out)."""

    def __init__(self, kind: str, ntoken: int = 30, nhid: int = 10, nlayers: int = 2) -> None:
        super().__init__()
        self.ntoken, self.kind = ntoken, kind
        self.drop, self.encoder = nn.Dropout(0.5), nn.Embedding(ntoken, 8)
        if kind in ("LSTM", "GRU"):
            self.rnn = getattr(nn, kind)(8, nhid, nlayers, dropout=0.5)
        else:
            self.rnn = nn.RNN(8, nhid, nlayers, nonlinearity=kind, dropout=0.5)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, input: dm.Tensor, hidden: Any) -> tuple[dm.Tensor, Any]:
        output, hidden = self.rnn(self.drop(self.encoder(input)), hidden)
        decoded = self.decoder(self.drop(output)).view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "tanh", "relu"])
def test_word_language_model_exports_with_its_hidden_state(kind: str) -> None:
    """As its main.py does: ``torch.onnx.export(model, (dummy_input, hidden), path)``."""
    model = WordLM(kind).eval()
    seq_len, batch = 5, 3
    dummy = dm.LongTensor(seq_len * batch).zero_().view(-1, batch)
    shape = (2, batch, 10)
    hidden: Any = (dm.zeros(shape), dm.zeros(shape)) if kind == "LSTM" else dm.zeros(shape)
    buf = io.BytesIO()
    dm.onnx.export(model, (dummy, hidden), buf)
    session = ort.InferenceSession(buf.getvalue())
    x = dm.randint(0, 30, (seq_len, batch))
    states = [dm.randn(shape) for _ in range(2 if kind == "LSTM" else 1)]
    feed = dict(zip((i.name for i in session.get_inputs()), (t.numpy() for t in [x, *states])))
    got = session.run(None, feed)
    with dm.no_grad():
        out, h = model(x, tuple(states) if kind == "LSTM" else states[0])
    want = [out, *(h if kind == "LSTM" else (h,))]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), atol=1e-5)


def test_wrappers_are_removed_after_export() -> None:
    before = dm.Tensor.__dict__["relu"], dm.cat, F.embedding
    _export(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), dm.randn(2, 2))
    assert (dm.Tensor.__dict__["relu"], dm.cat, F.embedding) == before


def test_missing_onnx_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from democratising._extras import MissingExtraError

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(MissingExtraError, match=r"democratising\[onnx\]"):
        dm.onnx.export(nn.Linear(2, 2), dm.randn(1, 2), io.BytesIO())
