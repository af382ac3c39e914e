"""``democratising.onnx``: ``export(model, args, f, ...)`` writes a model as an ONNX file, as
``torch.onnx.export`` does (needs the ``onnx`` extra: ``pip install 'democratising[onnx]'``).

How it works: the library has no graph compiler, so ``export`` runs the model's forward once
(in eval mode, without gradients) under a tracer (``_trace``) that wraps the op entry points
while it is active: every ``Tensor`` method and operator, every function of the engine module
(``_core._linear``, ``_core._conv2d``, ``dm.cat`` ...), ``F.embedding`` and the recurrent
layers. Each outermost call that reads a tensor derived from the inputs is recorded with its
arguments; tensors are followed by identity. Calls that read only parameters or constants are
not recorded: their results are constants (folded at trace time) and become ONNX initializers,
as parameters and buffers do (under their ``state_dict`` names). The recorded calls are then
converted to opset-17 nodes by table-driven converters (``_ops``, ``_layers``); a call with no
converter raises ``ExportError`` naming the op.

Dynamic axes: with ``dynamic_axes`` the forward is traced a second time with each dynamic input
axis one longer. Both traces must run the same ops; sizes that differ between them mark the
dynamic axes of every value, so reshapes and expands follow the batch (``0``/``-1`` entries)
and any other op given a size that follows a dynamic axis raises ``ExportError`` instead of
writing a graph that only works at the traced size.

Limits (as PyTorch's tracing exporter): Python control flow and values read from tensors
(``.item()``, ``.numpy()``, iteration) are not captured (the latter raise); the graph is that of
the traced path. The wrappers are process-wide while tracing: do not export from two threads."""

from __future__ import annotations

from ..errors import ExportError
from ._export import export

__all__ = ["ExportError", "export"]
