"""``forward`` parameter names of the ``nn`` layers: PyTorch's, in PyTorch's order and with its
defaults, so programs that call a layer by keyword (``linear(input=x)``, ``mha(query=q, ...)``)
port unchanged. The table was computed once from ``torch.nn`` (``inspect.signature``); the calls
check that keyword and positional calls give the same result."""

from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from helpers import to_numpy

_REQ = inspect.Parameter.empty

#: PyTorch's ``cls.forward`` parameters (name, default), past ``self``, -> the classes with them.
_SIGNATURES: dict[tuple[tuple[str, Any], ...], list[str]] = {
    (("input", _REQ),): [
        "AdaptiveAvgPool1d",
        "AdaptiveAvgPool2d",
        "AdaptiveAvgPool3d",
        "AdaptiveMaxPool1d",
        "AdaptiveMaxPool2d",
        "AdaptiveMaxPool3d",
        "AlphaDropout",
        "AvgPool1d",
        "AvgPool2d",
        "AvgPool3d",
        "SyncBatchNorm",
        "BatchNorm1d",
        "BatchNorm2d",
        "BatchNorm3d",
        "CELU",
        "ChannelShuffle",
        "CircularPad1d",
        "CircularPad2d",
        "CircularPad3d",
        "ConstantPad1d",
        "ConstantPad2d",
        "ConstantPad3d",
        "Conv1d",
        "Conv2d",
        "Conv3d",
        "Dropout",
        "Dropout1d",
        "Dropout2d",
        "Dropout3d",
        "ELU",
        "Embedding",
        "FeatureAlphaDropout",
        "Flatten",
        "Fold",
        "FractionalMaxPool2d",
        "FractionalMaxPool3d",
        "GELU",
        "GLU",
        "GroupNorm",
        "Hardshrink",
        "Hardsigmoid",
        "Hardswish",
        "Hardtanh",
        "Identity",
        "InstanceNorm1d",
        "InstanceNorm2d",
        "InstanceNorm3d",
        "LPPool1d",
        "LPPool2d",
        "LPPool3d",
        "LayerNorm",
        "LazyBatchNorm1d",
        "LazyBatchNorm2d",
        "LazyBatchNorm3d",
        "LazyConv1d",
        "LazyConv2d",
        "LazyConv3d",
        "LazyInstanceNorm1d",
        "LazyInstanceNorm2d",
        "LazyInstanceNorm3d",
        "LazyLinear",
        "LeakyReLU",
        "Linear",
        "LocalResponseNorm",
        "LogSigmoid",
        "LogSoftmax",
        "MaxPool1d",
        "MaxPool2d",
        "MaxPool3d",
        "Mish",
        "PReLU",
        "PixelShuffle",
        "PixelUnshuffle",
        "RReLU",
        "ReLU",
        "ReLU6",
        "ReflectionPad1d",
        "ReflectionPad2d",
        "ReflectionPad3d",
        "ReplicationPad1d",
        "ReplicationPad2d",
        "ReplicationPad3d",
        "SELU",
        "Sequential",
        "SiLU",
        "Sigmoid",
        "Softmax",
        "Softmax2d",
        "Softmin",
        "Softplus",
        "Softshrink",
        "Softsign",
        "Tanh",
        "Tanhshrink",
        "Threshold",
        "Unflatten",
        "Unfold",
        "Upsample",
        "UpsamplingBilinear2d",
        "UpsamplingNearest2d",
        "ZeroPad1d",
        "ZeroPad2d",
        "ZeroPad3d",
    ],
    (
        ("input", _REQ),
        ("target", _REQ),
    ): [
        "BCELoss",
        "BCEWithLogitsLoss",
        "CrossEntropyLoss",
        "HingeEmbeddingLoss",
        "HuberLoss",
        "KLDivLoss",
        "L1Loss",
        "MSELoss",
        "MultiLabelMarginLoss",
        "MultiLabelSoftMarginLoss",
        "MultiMarginLoss",
        "NLLLoss",
        "NLLLoss2d",
        "SmoothL1Loss",
        "SoftMarginLoss",
    ],
    (
        ("input", _REQ),
        ("output_size", None),
    ): [
        "ConvTranspose1d",
        "ConvTranspose2d",
        "ConvTranspose3d",
        "LazyConvTranspose1d",
        "LazyConvTranspose2d",
        "LazyConvTranspose3d",
    ],
    (
        ("input", _REQ),
        ("hx", None),
    ): ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNCell"],
    (
        ("input", _REQ),
        ("indices", _REQ),
        ("output_size", None),
    ): ["MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d"],
    (
        ("input1", _REQ),
        ("input2", _REQ),
        ("target", _REQ),
    ): ["CosineEmbeddingLoss", "MarginRankingLoss"],
    (
        ("x1", _REQ),
        ("x2", _REQ),
    ): ["CosineSimilarity", "PairwiseDistance"],
    (
        ("anchor", _REQ),
        ("positive", _REQ),
        ("negative", _REQ),
    ): ["TripletMarginLoss", "TripletMarginWithDistanceLoss"],
    (
        ("input_", _REQ),
        ("target_", _REQ),
    ): ["AdaptiveLogSoftmaxWithLoss"],
    (
        ("input1", _REQ),
        ("input2", _REQ),
    ): ["Bilinear"],
    (
        ("log_probs", _REQ),
        ("targets", _REQ),
        ("input_lengths", _REQ),
        ("target_lengths", _REQ),
    ): ["CTCLoss"],
    (
        ("input", _REQ),
        ("offsets", None),
        ("per_sample_weights", None),
    ): ["EmbeddingBag"],
    (
        ("input", _REQ),
        ("target", _REQ),
        ("var", _REQ),
    ): ["GaussianNLLLoss"],
    (
        ("query", _REQ),
        ("key", _REQ),
        ("value", _REQ),
        ("key_padding_mask", None),
        ("need_weights", True),
        ("attn_mask", None),
        ("average_attn_weights", True),
        ("is_causal", False),
    ): ["MultiheadAttention"],
    (
        ("log_input", _REQ),
        ("target", _REQ),
    ): ["PoissonNLLLoss"],
    (("x", _REQ),): ["RMSNorm"],
    (
        ("src", _REQ),
        ("tgt", _REQ),
        ("src_mask", None),
        ("tgt_mask", None),
        ("memory_mask", None),
        ("src_key_padding_mask", None),
        ("tgt_key_padding_mask", None),
        ("memory_key_padding_mask", None),
        ("src_is_causal", None),
        ("tgt_is_causal", None),
        ("memory_is_causal", False),
    ): ["Transformer"],
    (
        ("tgt", _REQ),
        ("memory", _REQ),
        ("tgt_mask", None),
        ("memory_mask", None),
        ("tgt_key_padding_mask", None),
        ("memory_key_padding_mask", None),
        ("tgt_is_causal", None),
        ("memory_is_causal", False),
    ): ["TransformerDecoder"],
    (
        ("tgt", _REQ),
        ("memory", _REQ),
        ("tgt_mask", None),
        ("memory_mask", None),
        ("tgt_key_padding_mask", None),
        ("memory_key_padding_mask", None),
        ("tgt_is_causal", False),
        ("memory_is_causal", False),
    ): ["TransformerDecoderLayer"],
    (
        ("src", _REQ),
        ("mask", None),
        ("src_key_padding_mask", None),
        ("is_causal", None),
    ): ["TransformerEncoder"],
    (
        ("src", _REQ),
        ("src_mask", None),
        ("src_key_padding_mask", None),
        ("is_causal", False),
    ): ["TransformerEncoderLayer"],
}

_CASES = [(name, sig) for sig, names in _SIGNATURES.items() for name in names]


@pytest.mark.parametrize(("name", "expected"), _CASES, ids=[c[0] for c in _CASES])
def test_forward_signature_is_pytorchs(name: str, expected: tuple[tuple[str, Any], ...]) -> None:
    params = list(inspect.signature(getattr(nn, name).forward).parameters.values())
    assert params[0].name == "self"
    got = tuple((p.name, p.default) for p in params[1:])
    assert got == expected
    kinds = {p.kind for p in params}
    assert kinds == {inspect.Parameter.POSITIONAL_OR_KEYWORD}


def _x(*shape: int, seed: int = 0) -> dm.Tensor:
    return dm.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def _same(a: Any, b: Any) -> None:
    if isinstance(a, (tuple, list)):
        assert type(a) is type(b) and len(a) == len(b)
        for u, v in zip(a, b):
            _same(u, v)
    elif a is None:
        assert b is None
    else:
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


def _keyword_cases() -> list[tuple[str, Callable[[], Any], tuple[Any, ...], dict[str, Any]]]:
    """(id, layer factory, positional arguments, the same arguments by PyTorch's keywords)."""
    x4 = _x(2, 3, 4, 4)
    x3 = _x(2, 3, 5)
    q = _x(3, 2, 4)
    hx = (_x(1, 2, 5, seed=1), _x(1, 2, 5, seed=2))
    idx = dm.tensor([[1, 2], [0, 3]])
    logits = _x(4, 5)
    cls = dm.tensor([0, 4, 2, 1])
    a, b, c = _x(4, 6), _x(4, 6, seed=1), _x(4, 6, seed=2)
    pooled, where = nn.functional.max_pool2d(x4, 2, return_indices=True)
    return [
        ("Linear", lambda: nn.Linear(4, 2), (x4,), {"input": x4}),
        ("Conv2d", lambda: nn.Conv2d(3, 2, 3), (x4,), {"input": x4}),
        ("Conv1d", lambda: nn.Conv1d(3, 2, 2), (x3,), {"input": x3}),
        (
            "ConvTranspose2d",
            lambda: nn.ConvTranspose2d(3, 2, 3, stride=2),
            (x4, [9, 9]),
            {"input": x4, "output_size": [9, 9]},
        ),
        ("BatchNorm2d", lambda: nn.BatchNorm2d(3), (x4,), {"input": x4}),
        ("LayerNorm", lambda: nn.LayerNorm(4), (x4,), {"input": x4}),
        ("GroupNorm", lambda: nn.GroupNorm(1, 3), (x4,), {"input": x4}),
        ("RMSNorm", lambda: nn.RMSNorm(4), (x4,), {"x": x4}),
        ("ReLU", lambda: nn.ReLU(), (x4,), {"input": x4}),
        ("GELU", lambda: nn.GELU(), (x4,), {"input": x4}),
        ("Softplus", lambda: nn.Softplus(), (x4,), {"input": x4}),
        ("Softmax", lambda: nn.Softmax(dim=1), (x4,), {"input": x4}),
        ("PReLU", lambda: nn.PReLU(), (x4,), {"input": x4}),
        ("Dropout", lambda: nn.Dropout(0.5).eval(), (x4,), {"input": x4}),
        ("Dropout2d", lambda: nn.Dropout2d(0.5).eval(), (x4,), {"input": x4}),
        ("Identity", lambda: nn.Identity(), (x4,), {"input": x4}),
        ("Flatten", lambda: nn.Flatten(), (x4,), {"input": x4}),
        ("Unflatten", lambda: nn.Unflatten(1, (1, 3)), (x4,), {"input": x4}),
        ("MaxPool2d", lambda: nn.MaxPool2d(2), (x4,), {"input": x4}),
        ("AvgPool1d", lambda: nn.AvgPool1d(2), (x3,), {"input": x3}),
        ("AdaptiveAvgPool2d", lambda: nn.AdaptiveAvgPool2d(1), (x4,), {"input": x4}),
        ("AdaptiveMaxPool1d", lambda: nn.AdaptiveMaxPool1d(2), (x3,), {"input": x3}),
        (
            "MaxUnpool2d",
            lambda: nn.MaxUnpool2d(2),
            (pooled, where),
            {"input": pooled, "indices": where},
        ),
        ("Upsample", lambda: nn.Upsample(scale_factor=2), (x4,), {"input": x4}),
        ("Unfold", lambda: nn.Unfold(2), (x4,), {"input": x4}),
        ("Fold", lambda: nn.Fold((3, 3), 2), (_x(2, 12, 4),), {"input": _x(2, 12, 4)}),
        ("Embedding", lambda: nn.Embedding(5, 3), (idx,), {"input": idx}),
        ("EmbeddingBag", lambda: nn.EmbeddingBag(5, 3), (idx,), {"input": idx}),
        ("Sequential", lambda: nn.Sequential(nn.Linear(4, 3), nn.Tanh()), (x4,), {"input": x4}),
        ("Bilinear", lambda: nn.Bilinear(6, 6, 2), (a, b), {"input1": a, "input2": b}),
        ("CosineSimilarity", lambda: nn.CosineSimilarity(), (a, b), {"x1": a, "x2": b}),
        ("MSELoss", lambda: nn.MSELoss(), (a, b), {"input": a, "target": b}),
        (
            "CrossEntropyLoss",
            lambda: nn.CrossEntropyLoss(),
            (logits, cls),
            {"input": logits, "target": cls},
        ),
        ("PoissonNLLLoss", lambda: nn.PoissonNLLLoss(), (a, b), {"log_input": a, "target": b}),
        (
            "GaussianNLLLoss",
            lambda: nn.GaussianNLLLoss(),
            (a, b, c.abs()),
            {"input": a, "target": b, "var": c.abs()},
        ),
        (
            "TripletMarginLoss",
            lambda: nn.TripletMarginLoss(),
            (a, b, c),
            {"anchor": a, "positive": b, "negative": c},
        ),
        (
            "AdaptiveLogSoftmaxWithLoss",
            lambda: nn.AdaptiveLogSoftmaxWithLoss(5, 6, [3]),
            (logits, cls),
            {"input_": logits, "target_": cls},
        ),
        (
            "LSTM",
            lambda: nn.LSTM(3, 5),
            (x3.permute(2, 0, 1), hx),
            {"input": x3.permute(2, 0, 1), "hx": hx},
        ),
        ("GRUCell", lambda: nn.GRUCell(6, 3), (a,), {"input": a, "hx": None}),
        (
            "MultiheadAttention",
            lambda: nn.MultiheadAttention(4, 2).eval(),
            (q, q, q, None, True, None, False),
            {
                "query": q,
                "key": q,
                "value": q,
                "key_padding_mask": None,
                "need_weights": True,
                "attn_mask": None,
                "average_attn_weights": False,
                "is_causal": False,
            },
        ),
        (
            "TransformerEncoderLayer",
            lambda: nn.TransformerEncoderLayer(4, 2, 8).eval(),
            (q, None, None, False),
            {"src": q, "src_mask": None, "src_key_padding_mask": None, "is_causal": False},
        ),
        (
            "TransformerDecoderLayer",
            lambda: nn.TransformerDecoderLayer(4, 2, 8).eval(),
            (q, q),
            {"tgt": q, "memory": q, "tgt_is_causal": False},
        ),
    ]


_KEYWORD_CASES = _keyword_cases()


@pytest.mark.parametrize("case", _KEYWORD_CASES, ids=[c[0] for c in _KEYWORD_CASES])
def test_keyword_call_matches_positional(case: tuple[Any, ...]) -> None:
    _, make, args, kwargs = case
    dm.manual_seed(0)
    layer = make()
    _same(layer(**kwargs), layer(*args))


def test_linear_keyword_call_from_the_issue() -> None:
    out = nn.Linear(2, 1)(input=dm.ones(1, 2))
    assert tuple(out.shape) == (1, 1)


def test_old_name_is_rejected_like_pytorch() -> None:
    # PyTorch has no ``x=`` on ``Linear.forward``: the call is a TypeError, not a silent alias.
    with pytest.raises(TypeError):
        nn.Linear(2, 1)(x=dm.ones(1, 2))


def test_functional_normalize_takes_out() -> None:
    # PyTorch's ``F.normalize(input, p, dim, eps, out=None)``: the result written into ``out``.
    x = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    out = dm.empty(1)
    got = nn.functional.normalize(dm.tensor(x), 2.0, 1, 1e-12, out=out)
    assert got is out
    np.testing.assert_allclose(to_numpy(out), [[0.6, 0.8], [0.0, 0.0]], rtol=1e-6)
    assert list(inspect.signature(nn.functional.normalize).parameters) == [
        "input", "p", "dim", "eps", "out",
    ]  # fmt: skip
    with pytest.raises(RuntimeError, match="automatic differentiation"):
        nn.functional.normalize(dm.tensor(x, requires_grad=True), out=dm.empty(2, 2))
