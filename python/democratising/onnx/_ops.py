"""Op converters: each recorded call key (``Tensor.relu``, ``_core._linear``, ...) maps to a
function writing its ONNX nodes (opset 17). Element-wise, binary, reduction, cast and layout
ops come from tables; layers (linear, convolution, pooling, normalisation, attention,
embedding) have one converter each. In-place variants (``relu_``, ``__iadd__``) use the
converter of the op they update with."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..errors import ExportError
from ._graph import Graph, arg
from ._trace import Call, Value

__all__ = ["CONVERTERS", "ELEMENTWISE", "converter_for"]

Converter = Callable[[Graph, Call], None]
CONVERTERS: dict[str, Converter] = {}

_UNARY = {
    "relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "log": "Log",
    "sqrt": "Sqrt", "neg": "Neg", "__neg__": "Neg", "abs": "Abs", "__abs__": "Abs", "erf": "Erf",
    "reciprocal": "Reciprocal", "sin": "Sin", "cos": "Cos", "floor": "Floor", "ceil": "Ceil",
    "sign": "Sign", "round": "Round", "logical_not": "Not", "__invert__": "Not",
    "isnan": "IsNaN", "__pos__": "Identity", "contiguous": "Identity", "clone": "Identity",
    "detach": "Identity", "cpu": "Identity", "cuda": "Identity", "data": "Identity",
}  # fmt: skip
_BINARY = {
    "add": "Add", "__add__": "Add", "__iadd__": "Add", "sub": "Sub", "__sub__": "Sub",
    "__isub__": "Sub", "mul": "Mul", "__mul__": "Mul", "__imul__": "Mul", "div": "Div",
    "true_divide": "Div", "__truediv__": "Div", "__itruediv__": "Div", "matmul": "MatMul",
    "__matmul__": "MatMul", "mm": "MatMul", "bmm": "MatMul", "mv": "MatMul", "pow": "Pow",
    "__pow__": "Pow", "maximum": "Max", "minimum": "Min", "eq": "Equal", "__eq__": "Equal",
    "lt": "Less", "__lt__": "Less", "gt": "Greater", "__gt__": "Greater",
    "le": "LessOrEqual", "__le__": "LessOrEqual", "ge": "GreaterOrEqual",
    "__ge__": "GreaterOrEqual", "logical_and": "And", "__and__": "And", "logical_or": "Or",
    "__or__": "Or", "remainder": "Mod", "__mod__": "Mod",
}  # fmt: skip
_REFLECTED = {
    "__radd__": "Add", "__rsub__": "Sub", "__rmul__": "Mul", "__rtruediv__": "Div",
    "__rmatmul__": "MatMul", "__rpow__": "Pow",
}  # fmt: skip
_REDUCE = {"mean": "ReduceMean", "sum": "ReduceSum", "amax": "ReduceMax",
           "amin": "ReduceMin", "logsumexp": "ReduceLogSumExp", "prod": "ReduceProd"}  # fmt: skip
# Broadcasting ops: a one-valued constant operand may shrink to size 1 (``_export._align``).
ELEMENTWISE = frozenset(
    f"Tensor.{k}" for k, v in {**_BINARY, **_REFLECTED}.items() if v != "MatMul"
) | {"Tensor.masked_fill", "Tensor.where", "_core.where"}
_CASTS = ("to", "float", "double", "half", "long", "int", "bool", "type_as", "type")
_RESHAPES = ("reshape", "view", "flatten", "squeeze", "unsqueeze", "view_as", "reshape_as")
_SOFTMAX = {"softmax": "Softmax", "log_softmax": "LogSoftmax"}


def _out(call: Call, i: int = 0) -> list[str]:
    return [call.outputs[i].name]


def _register(keys: Any, fn: Converter) -> None:
    for key in keys:
        CONVERTERS[key if "." in key else f"Tensor.{key}"] = fn


def _unary(op: str) -> Converter:
    def convert(g: Graph, c: Call) -> None:
        g.node(op, [g.name(c.args[0])], _out(c))

    return convert


def _binary(op: str, reflected: bool = False) -> Converter:
    def convert(g: Graph, c: Call) -> None:
        a, b = c.args[0], arg(c, 1, "other")
        pair = [g.name(b, like=a), g.name(a)] if reflected else [g.name(a), g.name(b, like=a)]
        alpha = c.kwargs.get("alpha", 1)
        if alpha != 1:
            pair[1] = g.node("Mul", [pair[1], g.name(alpha, like=a)])[0]
        g.node(op, pair, _out(c))

    return convert


def _reduce(op: str) -> Converter:
    def convert(g: Graph, c: Call) -> None:
        x: Value = c.args[0]
        dim = arg(c, 1, "dim")
        keep = int(bool(arg(c, 2, "keepdim", False)))
        axes = (
            list(range(len(x.shape)))
            if dim is None
            else ([dim] if isinstance(dim, int) else list(dim))
        )
        if op == "ReduceSum":
            g.node(op, [x.name, g.ints(axes)], _out(c), keepdims=keep)
        else:
            g.node(op, [x.name], _out(c), axes=axes, keepdims=keep)

    return convert


def _cast(g: Graph, c: Call) -> None:
    src, out = c.args[0], c.outputs[0]
    if isinstance(src, Value) and src.dtype == out.dtype:
        g.node("Identity", [src.name], _out(c))
    else:
        g.node("Cast", [g.name(src)], _out(c), to=g.elem_type(out.dtype))


def _reshape(g: Graph, c: Call) -> None:
    src = c.args[0]
    g.node("Reshape", [g.name(src), g.target_shape(c.outputs[0], src)], _out(c))


def _softmax(op: str) -> Converter:
    def convert(g: Graph, c: Call) -> None:
        g.node(op, [g.name(c.args[0])], _out(c), axis=arg(c, 1, "dim", -1))

    return convert


def _transpose(g: Graph, c: Call) -> None:
    x: Value = c.args[0]
    n = len(x.shape)
    method = c.op.rsplit(".", 1)[-1]
    perm = list(range(n))
    if method == "permute":
        dims = (
            c.args[1:]
            if len(c.args) > 2 or isinstance(arg(c, 1, "dims"), int)
            else arg(c, 1, "dims")
        )
        perm = [d % n for d in dims]
    else:
        a, b = (-2, -1) if method in ("mT",) else (arg(c, 1, "dim0", 0), arg(c, 2, "dim1", 1))
        if method == "T":
            perm.reverse()
        else:
            a, b = a % n, b % n
            perm[a], perm[b] = perm[b], perm[a]
    g.node("Transpose", [x.name], _out(c), perm=perm)


def _activation(op: str, **attrs: tuple[int, str, float]) -> Converter:
    """A one-input ONNX op whose attributes are read from the call (``name=(index, kwarg,
    default)``)."""

    def convert(g: Graph, c: Call) -> None:
        values: dict[str, Any] = {k: float(arg(c, i, kw, d)) for k, (i, kw, d) in attrs.items()}
        g.node(op, [g.name(c.args[0])], _out(c), **values)

    return convert


def _gelu(g: Graph, c: Call) -> None:
    x: Value = c.args[0]
    half = g.name(0.5, like=x)
    if arg(c, 1, "approximate", "none") == "tanh":
        cube = g.node("Mul", [x.name, g.node("Mul", [x.name, x.name])[0]])[0]
        inner = g.node("Add", [x.name, g.node("Mul", [cube, g.name(0.044715, like=x)])[0]])[0]
        scaled = g.node("Mul", [inner, g.name(math.sqrt(2.0 / math.pi), like=x)])[0]
        core = g.node("Tanh", [scaled])[0]
    else:
        core = g.node("Erf", [g.node("Div", [x.name, g.name(math.sqrt(2.0), like=x)])[0]])[0]
    one_plus = g.node("Add", [core, g.name(1.0, like=x)])[0]
    g.node("Mul", [g.node("Mul", [x.name, half])[0], one_plus], _out(c))


def _softplus(g: Graph, c: Call) -> None:
    """``log(1 + exp(beta * x)) / beta`` (ONNX's Softplus has no ``threshold``: above it
    PyTorch returns ``x``, which the formula matches to float precision)."""
    x, beta = c.args[0], float(arg(c, 1, "beta", 1.0))
    if beta == 1.0:
        g.node("Softplus", [g.name(x)], _out(c))
        return
    scaled = g.node("Mul", [g.name(x), g.name(beta, like=x)])[0]
    g.node("Div", [g.node("Softplus", [scaled])[0], g.name(beta, like=x)], _out(c))


def _silu(g: Graph, c: Call) -> None:
    x = g.name(c.args[0])
    g.node("Mul", [x, g.node("Sigmoid", [x])[0]], _out(c))


def _clamp(g: Graph, c: Call) -> None:
    x = c.args[0]
    lo, hi = arg(c, 1, "min"), arg(c, 2, "max")
    bounds = [g.name(v, like=x) if v is not None else "" for v in (lo, hi)]
    g.node("Clip", [g.name(x), *bounds], _out(c))


def _where(g: Graph, c: Call) -> None:
    if c.op == "_core.where":
        cond, a, b = c.args[0], arg(c, 1, "input"), arg(c, 2, "other")
    else:  # x.where(cond, other)
        a, cond, b = c.args[0], arg(c, 1, "condition"), arg(c, 2, "other")
    like = a if isinstance(a, Value) else b
    g.node("Where", [g.name(cond), g.name(a, like=like), g.name(b, like=like)], _out(c))


def _masked_fill(g: Graph, c: Call) -> None:
    x, mask, value = c.args[0], arg(c, 1, "mask"), arg(c, 2, "value")
    g.node("Where", [g.name(mask), g.name(value, like=x), g.name(x)], _out(c))


def _concat(g: Graph, c: Call) -> None:
    parts, dim = arg(c, 0, "tensors"), arg(c, 1, "dim", 0)
    like = next(p for p in parts if isinstance(p, Value))
    names = [g.name(p, like=like) for p in parts]
    if c.op == "_core.stack":
        axis = dim % (len(like.shape) + 1)
        names = [g.node("Unsqueeze", [n, g.ints([axis])])[0] for n in names]
        dim = axis
    g.node("Concat", names, _out(c), axis=dim)


def _split(g: Graph, c: Call) -> None:
    x: Value = c.args[0]
    method = c.op.rsplit(".", 1)[-1]
    dim = arg(c, 2, "dim", 0) if method != "unbind" else arg(c, 1, "dim", 0)
    axis = dim % len(x.shape)
    if axis in x.dynamic:
        raise ExportError(f"{c.op} along a dynamic axis has no fixed ONNX form")
    sizes = [o.shape[axis] for o in c.outputs] if method != "unbind" else [1] * len(c.outputs)
    outs = [o.name for o in c.outputs]
    parts = g.node("Split", [x.name, g.ints(sizes)], n_out=len(outs), axis=axis)
    for part, out in zip(parts, c.outputs):
        if method == "unbind":
            g.node("Squeeze", [part, g.ints([axis])], [out.name])
        else:
            g.node("Identity", [part], [out.name])


def _slice(
    g: Graph, x: str, axis: int, start: int, stop: int, step: int = 1, out: Any = None
) -> str:
    ins = [x, g.ints([start]), g.ints([stop]), g.ints([axis]), g.ints([step])]
    return g.node("Slice", ins, out)[0]


def _narrow(g: Graph, c: Call) -> None:
    x: Value = c.args[0]
    dim, start, length = arg(c, 1, "dim"), arg(c, 2, "start"), arg(c, 3, "length")
    _slice(g, x.name, dim % len(x.shape), start, start + length, out=_out(c))


def _select(g: Graph, c: Call) -> None:
    x: Value = c.args[0]
    dim, index = arg(c, 1, "dim"), arg(c, 2, "index")
    g.node("Gather", [x.name, g.array(index, np.int64)], _out(c), axis=dim % len(x.shape))


def _getitem(g: Graph, c: Call) -> None:
    """Basic indexing: integers, slices, ``None`` and ``...``."""
    x: Value = c.args[0]
    key = c.args[1] if isinstance(c.args[1], tuple) else (c.args[1],)
    if any(not isinstance(k, (int, slice, type(None), type(Ellipsis))) for k in key):
        raise ExportError("Tensor.__getitem__ with tensor or list indices has no ONNX form here")
    real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if Ellipsis in key:
        at = key.index(Ellipsis)
        key = key[:at] + (slice(None),) * (len(x.shape) - real) + key[at + 1 :]
    name, axis, drops = x.name, 0, []
    for k in key:
        if k is None:
            continue
        if isinstance(k, slice) and k != slice(None):
            start, stop, step = k.start or 0, k.stop, k.step or 1
            stop = stop if stop is not None else np.iinfo(np.int64).max
            name = _slice(g, name, axis, start, stop, step)
        elif isinstance(k, int):
            name = _slice(g, name, axis, k, k + 1 if k != -1 else np.iinfo(np.int64).max)
            drops.append(axis)
        axis += 1
    if drops:
        name = g.node("Squeeze", [name, g.ints(drops)])[0]
    if None in key:  # new axes: a reshape to the indexed shape
        g.node("Reshape", [name, g.target_shape(c.outputs[0], x)], _out(c))
    else:
        g.node("Identity", [name], _out(c))


def _expand(g: Graph, c: Call) -> None:
    x: Value = c.args[0]
    out = c.outputs[0]
    g.node("Expand", [x.name, g.target_shape(out, x, broadcast=True, op=c.op)], [out.name])


def _index_select(g: Graph, c: Call) -> None:
    x, dim, index = c.args[0], arg(c, 1, "dim"), arg(c, 2, "index")
    g.node("Gather", [g.name(x), g.name(index)], _out(c), axis=dim)


def _embedding(g: Graph, c: Call) -> None:
    g.node("Gather", [g.name(arg(c, 1, "weight")), g.name(c.args[0])], _out(c), axis=0)


for _keys, _make in (
    (_UNARY, _unary),
    (_BINARY, _binary),
    (_REDUCE, _reduce),
    (_SOFTMAX, _softmax),
):
    for _k, _v in _keys.items():
        _register([_k], _make(_v))
for _k, _v in _REFLECTED.items():
    _register([_k], _binary(_v, reflected=True))
_register(_CASTS, _cast)
_register(_RESHAPES, _reshape)
_register(("transpose", "swapaxes", "t", "permute", "T", "mT"), _transpose)
_register(("gelu",), _gelu)
_register(("silu",), _silu)
_register(("clamp", "clip"), _clamp)
_register(("where", "_core.where"), _where)
_register(("masked_fill",), _masked_fill)
_register(("_core.cat", "_core.stack"), _concat)
_register(("split", "chunk", "unbind"), _split)
_register(("narrow",), _narrow)
_register(("select",), _select)
_register(("__getitem__",), _getitem)
_register(("expand", "expand_as", "broadcast_to"), _expand)
_register(("index_select",), _index_select)
_register(("F.embedding",), _embedding)
_register(("leaky_relu",), _activation("LeakyRelu", alpha=(1, "negative_slope", 0.01)))
_register(("elu",), _activation("Elu", alpha=(1, "alpha", 1.0)))
_register(("softplus",), _softplus)


def converter_for(op: str) -> Converter:
    """The converter of a recorded call, or ``ExportError`` naming the op."""
    fn = CONVERTERS.get(op)
    if fn is None and op.endswith("_") and not op.endswith("__"):
        fn = CONVERTERS.get(op[:-1])  # in-place variant: the op it updates with
    if fn is None:
        raise ExportError(
            f"democratising.onnx.export: the op {op!r} has no ONNX form in this exporter "
            f"({len(CONVERTERS)} ops have one: democratising.onnx._ops.CONVERTERS; see the "
            "'ONNX export' section of docs/pytorch.md)"
        )
    return fn
