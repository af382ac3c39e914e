"""``export``: trace the model (twice with dynamic axes), check the traces agree, convert the
recorded calls to ONNX nodes and write the file."""

from __future__ import annotations

import os
from typing import IO, Any, Optional, Union

import numpy as np

from .. import _core
from .._core import Tensor
from .._extras import require
from ..errors import ExportError, InvalidValueError
from . import _layers  # noqa: F401  (registers the layer converters)
from ._graph import Graph
from ._ops import ELEMENTWISE, converter_for
from ._trace import Call, Tracer, Value, _map, tensors_in, values_in

__all__ = ["export"]

# Ops whose size arguments may follow a dynamic axis: their converters use the traced shapes.
_SIZED_OPS = frozenset(
    f"Tensor.{m}" for m in
    ("reshape", "view", "flatten", "squeeze", "unsqueeze", "view_as", "reshape_as", "expand",
     "expand_as", "broadcast_to")
)  # fmt: skip
DynamicAxes = dict[str, Union[dict[int, str], list[int]]]


def _trace(
    model: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Tracer, list[Value], Any]:
    """One traced forward of ``model(*args, **kwargs)``; the tensors in ``args`` (nested
    tuples and lists too, as an LSTM's ``(h, c)``) are the graph inputs, in order."""
    from .. import nn
    from .._grad_mode import no_grad

    tracer = Tracer({nn.LSTM: "nn.LSTM", nn.GRU: "nn.GRU", nn.RNN: "nn.RNN"})
    with no_grad(), tracer.active():
        values = [tracer.value(t) for t in tensors_in(args)]
        out = model(*args, **kwargs)
    return tracer, values, out


def _grown(t: Tensor, axes: list[int]) -> Tensor:
    """``t`` one longer along each of ``axes`` (its first slice repeated)."""
    a = t.detach().cpu().numpy()
    for ax in axes:
        a = np.concatenate([a, np.take(a, [0], axis=ax)], axis=ax)
    return _core.from_numpy(np.ascontiguousarray(a))


def _fixed(obj: Any, loose: bool = False) -> Any:
    """A call's arguments as compared between the two traces: traced values as placeholders,
    constant tensors as their shapes (their ranks when ``loose``), numbers and sizes as they
    are."""
    if isinstance(obj, Value):
        return "<traced>"
    if isinstance(obj, Tensor):
        return ("<constant>", obj.ndim if loose else tuple(obj.shape))
    if isinstance(obj, (list, tuple)):
        return tuple(_fixed(o, loose) for o in obj)
    if isinstance(obj, dict):
        return tuple((k, _fixed(v, loose)) for k, v in obj.items())
    return obj


def _uniform_constants(c1: Call, c2: Call) -> Optional[dict[int, tuple[int, ...]]]:
    """For an element-wise op given a constant whose shape follows a dynamic axis (``zeros(
    *mask.shape).masked_fill(mask, ...)``): when every such constant holds one value and a
    traced operand gives the output that axis, the constants shrunk to size 1 along those axes
    (``id`` -> axes) broadcast to the same result; else ``None``."""
    if c1.op not in ELEMENTWISE or _fixed(c1.args, True) != _fixed(c2.args, True):
        return None
    shrink: dict[int, tuple[int, ...]] = {}
    out = c1.outputs[0]
    traced = values_in(c1.args)
    for a, b in zip(tensors_in(c1.args), tensors_in(c2.args)):
        if tuple(a.shape) == tuple(b.shape):
            continue
        arr = a.detach().cpu().numpy()
        if arr.size == 0 or not np.all(arr == arr.flat[0]):
            return None
        axes = tuple(i for i, (x, y) in enumerate(zip(a.shape, b.shape)) if x != y)
        for i in axes:
            k = i - a.ndim + len(out.shape)
            sizes = (out.shape[k], out.shape2[k])
            if not any(
                0 <= k - len(out.shape) + len(v.shape)
                and (
                    v.shape[k - len(out.shape) + len(v.shape)],
                    v.shape2[k - len(out.shape) + len(v.shape)],
                )
                == sizes
                for v in traced
            ):
                return None
        shrink[id(a)] = axes
    return shrink


def _align(first: Tracer, second: Tracer) -> None:
    """Gives every value of ``first`` its shape in ``second`` (traced with the dynamic axes
    grown), after checking that both traces ran the same ops with the same fixed sizes."""
    ops1, ops2 = [c.op for c in first.calls], [c.op for c in second.calls]
    if ops1 != ops2:
        at = next(
            (i for i, (a, b) in enumerate(zip(ops1, ops2)) if a != b), min(map(len, (ops1, ops2)))
        )
        raise ExportError(
            "the forward runs different ops when a dynamic axis changes size (first difference "
            f"at op {at}: {ops1[at : at + 1]} vs {ops2[at : at + 1]}); it cannot be one ONNX graph"
        )
    for v1, v2 in zip(first.created, second.created):
        v1.shape2 = v2.shape
    for c1, c2 in zip(first.calls, second.calls):
        if c1.op in _SIZED_OPS or _fixed((c1.args, c1.kwargs)) == _fixed((c2.args, c2.kwargs)):
            continue
        shrink = _uniform_constants(c1, c2)
        if shrink is None:
            raise ExportError(
                f"{c1.op} takes a size or constant that follows a dynamic axis; ONNX needs it "
                "fixed here (export without that dynamic axis, or compute it from tensor ops)"
            )
        first.shrink.update(shrink)


def _names(given: Optional[list[str]], n: int, stem: str) -> list[str]:
    if given is not None:
        if len(given) < n:
            given = list(given) + [f"{stem}_{i}" for i in range(len(given), n)]
        return list(given[:n])
    return [stem] if n == 1 else [f"{stem}_{i}" for i in range(n)]


def _axes(dynamic_axes: DynamicAxes, name: str) -> dict[int, str]:
    spec = dynamic_axes.get(name, {})
    if isinstance(spec, dict):
        return {int(k): str(v) for k, v in spec.items()}
    return {int(k): f"{name}_dynamic_axes_{k + 1}" for k in spec}


def _value_info(g: Graph, name: str, v: Value, labels: dict[int, str]) -> Any:
    dims: list[Any] = list(v.shape)
    for i in v.dynamic | set(labels):
        dims[i] = labels.get(i, f"{name}_dim_{i}")
    return g.helper.make_tensor_value_info(name, g.elem_type(v.dtype), dims)


def _live(calls: list[Call], wanted: set[str]) -> list[Call]:
    """The calls the outputs depend on, in order (unused ops are not converted)."""
    keep: list[Call] = []
    for call in reversed(calls):
        if any(o.name in wanted for o in call.outputs):
            keep.append(call)
            wanted |= {v.name for v in values_in((call.args, call.kwargs))}
    return keep[::-1]


def export(
    model: Any,
    args: Union[Tensor, tuple[Any, ...]],
    f: Union[str, os.PathLike[str], IO[bytes]],
    export_params: bool = True,
    verbose: bool = False,
    training: str = "eval",
    input_names: Optional[list[str]] = None,
    output_names: Optional[list[str]] = None,
    opset_version: Optional[int] = 17,
    dynamic_axes: Optional[DynamicAxes] = None,
    do_constant_folding: bool = True,
    kwargs: Optional[dict[str, Any]] = None,
) -> Any:
    """Writes ``model`` run on ``args`` as an ONNX file ``f`` (PyTorch's ``torch.onnx.export``
    arguments; returns the ``onnx.ModelProto``). ``dynamic_axes`` maps an input or output name
    to the axes whose size may change (``{"input": {0: "batch"}}`` or ``{"input": [0]}``).
    The model runs in eval mode during the export (PyTorch's default
    ``training=TrainingMode.EVAL``) and gets its mode back after. Raises ``ExportError`` naming
    an op with no ONNX form, and ``MissingExtraError`` without the ``onnx`` package."""
    onnx = require("onnx", "onnx", "democratising.onnx.export")
    if opset_version is None:
        opset_version = 17
    if opset_version < 17:
        raise InvalidValueError(
            f"opset_version {opset_version}: this exporter writes opset 17 or newer"
        )
    if str(training).lower().rsplit(".", 1)[-1] not in ("eval", "0", "false"):
        raise InvalidValueError("training: only eval-mode export is supported (training='eval')")
    if not export_params:
        raise InvalidValueError("export_params=False is not supported: the weights go in the file")
    if isinstance(args, Tensor):
        args = (args,)
    args = tuple(args)
    call_kwargs = dict(kwargs or {})
    if args and isinstance(args[-1], dict):
        call_kwargs.update(args[-1])
        args = args[:-1]
    inputs = tensors_in(args)
    if not inputs:
        raise ExportError(
            "export: args hold no tensor (a tensor, or a tuple of them and of "
            "tuples of them, with a dict of keyword arguments last)"
        )
    dynamic_axes = dynamic_axes or {}
    was_training = getattr(model, "training", False)
    if was_training:
        model.eval()
    try:
        tracer, in_values, out = _trace(model, args, call_kwargs)
        in_names = _names(input_names, len(inputs), "input")
        grow = [sorted(_axes(dynamic_axes, n)) for n in in_names]
        if any(grow):
            grown = {id(t): _grown(t, ax) for t, ax in zip(inputs, grow) if ax}
            second, _, _ = _trace(model, _map(args, lambda t: grown.get(id(t), t)), call_kwargs)
            _align(tracer, second)
        else:
            for v in tracer.created:
                v.shape2 = v.shape
        proto = _build(
            onnx, model, tracer, in_values, in_names, out, output_names, dynamic_axes, opset_version
        )
    finally:
        if was_training:
            model.train()
    onnx.checker.check_model(proto)
    if verbose:
        print(onnx.helper.printable_graph(proto.graph))
    onnx.save(proto, f)
    return proto


def _build(
    onnx: Any,
    model: Any,
    tracer: Tracer,
    in_values: list[Value],
    in_names: list[str],
    out: Any,
    output_names: Optional[list[str]],
    dynamic_axes: DynamicAxes,
    opset: int,
) -> Any:
    params: dict[int, str] = {}
    if hasattr(model, "named_parameters"):
        params.update({id(p): n for n, p in model.named_parameters()})
        params.update({id(b): n for n, b in model.named_buffers() if b is not None})
    g = Graph(onnx, tracer, params)
    outs = tensors_in(out)
    if not outs:
        raise ExportError("export: the model returned no tensor")
    out_names = _names(output_names, len(outs), "output")
    for v, name in zip(in_values, in_names):
        v.name = name
    out_refs = [tracer.lookup(t) for t in outs]
    wanted = {r.name for r in out_refs if isinstance(r, Value)}
    for call in _live(tracer.calls, wanted):
        converter_for(call.op)(g, call)
    infos = []
    for ref, name in zip(out_refs, out_names):
        g.node("Identity", [g.name(ref)], [name])
        if isinstance(ref, Value):
            infos.append(_value_info(g, name, ref, _axes(dynamic_axes, name)))
        else:
            with tracer.quiet():
                shape, dtype = tuple(ref.shape), ref.dtype
            const = Value(name, shape, np.dtype(str(dtype).rsplit(".", 1)[-1]), shape)
            infos.append(_value_info(g, name, const, {}))
    inputs = [_value_info(g, n, v, _axes(dynamic_axes, n)) for v, n in zip(in_values, in_names)]
    graph = g.helper.make_graph(g.nodes, type(model).__name__, inputs, infos, g.initializers)
    proto = g.helper.make_model(
        graph, opset_imports=[g.helper.make_opsetid("", opset)], producer_name="democratising"
    )
    proto.ir_version = min(proto.ir_version, 8)
    return proto
