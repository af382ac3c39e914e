"""Converters of the layer ops: the engine's fused linear, convolution, pooling, normalisation
and attention entry points (``_core._linear`` ...), and the recurrent layers ``nn.LSTM`` /
``nn.GRU`` as ONNX ``LSTM``/``GRU`` nodes (gates reordered: PyTorch stacks LSTM gates
``i, f, g, o`` and GRU gates ``r, z, n``; ONNX wants ``i, o, f, c`` and ``z, r, h``)."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from ..errors import ExportError
from ._graph import Graph, arg
from ._ops import CONVERTERS
from ._trace import Call, Value

__all__: list[str] = []


def _optional(g: Graph, x: Any) -> str:
    return "" if x is None else g.name(x)


def _linear(g: Graph, c: Call) -> None:
    x, w, b = c.args[0], arg(c, 1, "weight"), arg(c, 2, "bias")
    out = c.outputs[0].name
    if len(x.shape) == 2:
        g.node("Gemm", [x.name, g.name(w), _optional(g, b)], [out], transB=1)
        return
    wt = g.node("Transpose", [g.name(w)], perm=[1, 0])[0]
    if b is None:
        g.node("MatMul", [x.name, wt], [out])
    else:
        g.node("Add", [g.node("MatMul", [x.name, wt])[0], g.name(b)], [out])


def _pads(p: Any) -> list[int]:
    return list(p) + list(p)


def _conv_node(g: Graph, c: Call, op: str, stride: Any, pad: Any, **attrs: Any) -> None:
    """An ONNX convolution node ``op`` over the call's input, weight and (optional) bias with
    its strides and pads, plus ``attrs``."""
    x, w, b = (arg(c, i, "") for i in range(3))
    ins = [x.name, g.name(w), _optional(g, b)]
    g.node(op, ins, [c.outputs[0].name], strides=list(stride), pads=_pads(pad), **attrs)


def _conv(g: Graph, c: Call) -> None:
    stride, pad, dilation, groups = (arg(c, i, "") for i in range(3, 7))
    _conv_node(g, c, "Conv", stride, pad, dilations=list(dilation), group=groups)


def _conv_transpose(g: Graph, c: Call) -> None:
    stride, pad, out_pad, groups, dilation = (arg(c, i, "") for i in range(3, 8))
    _conv_node(
        g,
        c,
        "ConvTranspose",
        stride,
        pad,
        output_padding=list(out_pad),
        group=groups,
        dilations=list(dilation),
    )


def _pool(g: Graph, c: Call, op: str, **attrs: Any) -> None:
    """An ONNX pooling node ``op`` over the call's input with its kernel, strides and pads
    (the call's first four arguments), plus ``attrs``."""
    x, k, s, pad = (arg(c, i, "") for i in range(4))
    out = [c.outputs[0].name]
    g.node(op, [x.name], out, kernel_shape=list(k), strides=list(s), pads=_pads(pad), **attrs)


def _max_pool(g: Graph, c: Call) -> None:
    dilation, ceil = arg(c, 4, ""), arg(c, 5, "")
    _pool(g, c, "MaxPool", dilations=list(dilation), ceil_mode=int(ceil))


def _avg_pool(g: Graph, c: Call) -> None:
    ceil, include = arg(c, 4, ""), arg(c, 5, "")
    _pool(g, c, "AveragePool", ceil_mode=int(ceil), count_include_pad=int(include))


def _adaptive_avg_pool(g: Graph, c: Call) -> None:
    x: Value = c.args[0]
    size = tuple(arg(c, 1, "output_size"))
    hw = x.shape[-2:]
    if size == (1, 1):
        g.node("GlobalAveragePool", [x.name], [c.outputs[0].name])
    elif all(i % o == 0 for i, o in zip(hw, size)):
        k = [i // o for i, o in zip(hw, size)]
        g.node("AveragePool", [x.name], [c.outputs[0].name], kernel_shape=k, strides=k)
    else:
        raise ExportError(
            f"_core._adaptive_avg_pool2d from {tuple(hw)} to {size}: only output sizes that "
            "divide the input have an ONNX form (AveragePool)"
        )


def _batch_norm(g: Graph, c: Call) -> None:
    x, mean, var, w, b, training, _momentum, eps = (arg(c, i, "") for i in range(8))
    if training or mean is None:
        raise ExportError(
            "_core._batch_norm with batch statistics (training mode or "
            "track_running_stats=False) has no ONNX form here; export in eval mode"
        )
    n = x.shape[1]
    scale = g.name(w) if w is not None else g.array(np.ones(n, x.dtype))
    shift = g.name(b) if b is not None else g.array(np.zeros(n, x.dtype))
    ins = [x.name, scale, shift, g.name(mean), g.name(var)]
    g.node("BatchNormalization", ins, [c.outputs[0].name], epsilon=float(eps))


def _layer_norm(g: Graph, c: Call) -> None:
    x, shape, w, b, eps = (arg(c, i, "") for i in range(5))
    scale = g.name(w) if w is not None else g.array(np.ones(shape, x.dtype))
    ins = [x.name, scale, _optional(g, b)]
    g.node("LayerNormalization", ins, [c.outputs[0].name], axis=-len(shape), epsilon=float(eps))


def _group_norm(g: Graph, c: Call) -> None:
    """``[N, groups, -1]`` through ``InstanceNormalization`` (each group's row normalised over
    its positions), back to the input's own shape (``Shape``: spatial axes may be dynamic),
    then the per-channel affine (opset 17 has no per-channel ``GroupNormalization``)."""
    x, groups, w, b, eps = (arg(c, i, "") for i in range(5))
    rows = g.node("Reshape", [x.name, g.ints([0, groups, -1])])[0]
    unit = [g.array(np.ones(groups, x.dtype)), g.array(np.zeros(groups, x.dtype))]
    y = g.node("InstanceNormalization", [rows, *unit], epsilon=float(eps))[0]
    steps = [("Reshape", g.node("Shape", [x.name])[0])]
    per_channel = g.ints([x.shape[1]] + [1] * (len(x.shape) - 2))
    for op, p in (("Mul", w), ("Add", b)):
        if p is not None:
            steps.append((op, g.node("Reshape", [g.name(p), per_channel])[0]))
    for k, (op, operand) in enumerate(steps):
        last = k == len(steps) - 1
        y = g.node(op, [y, operand], [c.outputs[0].name] if last else None)[0]


def _attention(g: Graph, c: Call) -> None:
    """``softmax(q @ k^T * scale + mask) @ v`` as MatMul/Softmax nodes."""
    q, k, v, mask, _p, causal, scale, gqa = (arg(c, i, "") for i in range(8))
    if gqa and k.shape[-3] != q.shape[-3]:
        raise ExportError("_core._scaled_dot_product_attention with enable_gqa: no ONNX form here")
    n = len(k.shape)
    kt = g.node("Transpose", [g.name(k)], perm=[*range(n - 2), n - 1, n - 2])[0]
    factor = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    scores = g.node("Mul", [g.node("MatMul", [g.name(q), kt])[0], g.name(factor, like=q)])[0]
    bias: Optional[np.ndarray] = None
    if causal:
        lq, lk = q.shape[-2], k.shape[-2]
        bias = np.where(np.tril(np.ones((lq, lk), dtype=bool)), 0.0, -np.inf).astype(q.dtype)
        scores = g.node("Add", [scores, g.array(bias)])[0]
    if mask is not None:
        is_bool = mask.dtype == np.bool_ if isinstance(mask, Value) else "bool" in str(mask.dtype)
        if is_bool:
            fill = g.node("Where", [g.name(mask), g.name(0.0, like=q), g.name(-np.inf, like=q)])
            scores = g.node("Add", [scores, fill[0]])[0]
        else:
            scores = g.node("Add", [scores, g.name(mask)])[0]
    weights = g.node("Softmax", [scores], axis=-1)[0]
    g.node("MatMul", [weights, g.name(v)], [c.outputs[0].name])


# ---- recurrent layers ----------------------------------------------------------------------

# PyTorch's gate blocks in ONNX's order
_GATE_ORDER = {"nn.LSTM": [0, 3, 1, 2], "nn.GRU": [1, 0, 2], "nn.RNN": [0]}


def _gates(g: Graph, tensors: list[Any], order: list[int]) -> str:
    """The per-direction weights stacked ``[D, G*H, ...]`` with the gate blocks reordered."""
    arrays = []
    for t in tensors:
        with g._tracer.quiet():
            a = t.detach().cpu().numpy()
        blocks = np.split(a, len(order), axis=0)
        arrays.append(np.concatenate([blocks[i] for i in order], axis=0))
    return g.array(np.stack(arrays), hint="rnn_w")


def _rnn(g: Graph, c: Call) -> None:
    m = c.module
    if getattr(m, "proj_size", 0):
        raise ExportError(f"{c.op} with proj_size has no ONNX form here")
    x: Value = c.args[0]
    if len(x.shape) != 3:
        raise ExportError(f"{c.op}: only batched 3-D inputs are exported")
    hx = arg(c, 1, "hx")
    states = [] if hx is None else (list(hx) if c.op == "nn.LSTM" else [hx])
    order = _GATE_ORDER[c.op]
    d = 2 if m.bidirectional else 1
    h = m.hidden_size
    layer_in = x.name
    if m.batch_first:
        layer_in = g.node("Transpose", [layer_in], perm=[1, 0, 2])[0]
    finals: list[list[str]] = [[] for _ in range(1 + (c.op == "nn.LSTM"))]
    for layer in range(m.num_layers):
        sfx = [f"_l{layer}" + ("_reverse" if k else "") for k in range(d)]
        p = m._parameters
        w = _gates(g, [p[f"weight_ih{s}"] for s in sfx], order)
        r = _gates(g, [p[f"weight_hh{s}"] for s in sfx], order)
        b = ""
        if m.bias:
            bw = [p[f"bias_ih{s}"] for s in sfx]
            br = [p[f"bias_hh{s}"] for s in sfx]
            bw_name, br_name = _gates(g, bw, order), _gates(g, br, order)
            b = g.node("Concat", [bw_name, br_name], axis=1)[0]
        span = [g.ints([layer * d]), g.ints([layer * d + d]), g.ints([0])]
        init = [g.node("Slice", [g.name(s), *span])[0] for s in states]
        ins = [layer_in, w, r, b, ""] + (init or [""] * len(finals))
        attrs: dict[str, Any] = {"hidden_size": h}
        if d == 2:
            attrs["direction"] = "bidirectional"
        if c.op == "nn.GRU":
            attrs["linear_before_reset"] = 1
        if c.op == "nn.RNN":
            attrs["activations"] = [m.nonlinearity.capitalize()] * d
        outs = g.node(c.op.split(".")[1], ins, n_out=1 + len(finals), **attrs)
        # Y [T, D, N, H] -> [T, N, D*H]
        y = g.node("Transpose", [outs[0]], perm=[0, 2, 1, 3])[0]
        layer_in = g.node("Reshape", [y, g.ints([0, 0, -1])])[0]
        for k, name in enumerate(outs[1:]):
            finals[k].append(name)
    out = c.outputs[0].name
    if m.batch_first:
        g.node("Transpose", [layer_in], [out], perm=[1, 0, 2])
    else:
        g.node("Identity", [layer_in], [out])
    for k, names in enumerate(finals):
        g.node("Concat", names, [c.outputs[1 + k].name], axis=0)


for _key, _fn in {
    "_core._linear": _linear,
    "_core._conv2d": _conv,
    "_core._conv_transpose2d": _conv_transpose,
    "_core._max_pool2d": _max_pool,
    "_core._avg_pool2d": _avg_pool,
    "_core._adaptive_avg_pool2d": _adaptive_avg_pool,
    "_core._batch_norm": _batch_norm,
    "_core._layer_norm": _layer_norm,
    "_core._group_norm": _group_norm,
    "_core._scaled_dot_product_attention": _attention,
    "nn.LSTM": _rnn,
    "nn.GRU": _rnn,
    "nn.RNN": _rnn,
}.items():
    CONVERTERS[_key] = _fn
