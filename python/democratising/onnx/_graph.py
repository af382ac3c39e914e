"""The ONNX graph under construction: nodes, initializers and helpers the op converters share
(names for traced values and constants, reshape targets that keep the dynamic axes)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from .._core import Tensor
from ..errors import ExportError
from ._trace import Call, Tracer, Value

__all__ = ["Graph", "arg"]


def arg(call: Call, index: int, name: str, default: Any = None) -> Any:
    """Argument ``index`` (counting ``self`` for methods) or keyword ``name`` of ``call``."""
    if index < len(call.args):
        return call.args[index]
    return call.kwargs.get(name, default)


class Graph:
    """Nodes and initializers of the exported model; ``param_names`` maps ``id`` of each
    parameter and buffer to its qualified name (used as the initializer's name)."""

    def __init__(self, onnx: Any, tracer: Tracer, param_names: dict[int, str]) -> None:
        self.onnx = onnx
        self.helper = onnx.helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._tracer = tracer
        self._params = param_names
        self._consts: dict[int, tuple[Tensor, str]] = {}
        self._count = 0

    def fresh(self, hint: str = "t") -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def node(
        self,
        op: str,
        inputs: list[str],
        outputs: Optional[list[str]] = None,
        n_out: int = 1,
        **attrs: Any,
    ) -> list[str]:
        """Adds an ``op`` node; returns its output names (fresh ones unless given)."""
        outs = outputs if outputs is not None else [self.fresh(op.lower()) for _ in range(n_out)]
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(self.helper.make_node(op, inputs, outs, **attrs))
        return outs

    def array(self, value: Any, dtype: Any = None, hint: str = "const") -> str:
        """An initializer holding ``value`` (a NumPy array or number)."""
        name = self.fresh(hint)
        arr = np.asarray(value, dtype=dtype)
        self.initializers.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def ints(self, values: Any) -> str:
        """An int64 initializer (shapes, axes, starts...)."""
        return self.array(np.asarray(list(values), dtype=np.int64), hint="ints")

    def name(self, x: Any, like: Any = None) -> str:
        """The graph name of an argument: a traced ``Value``, a constant tensor (parameters and
        buffers under their qualified name) or a Python number (in ``like``'s dtype)."""
        if isinstance(x, Value):
            return x.name
        if isinstance(x, Tensor):
            hit = self._consts.get(id(x))
            if hit is not None:
                return hit[1]
            with self._tracer.quiet():
                arr = x.detach().cpu().numpy()
            for axis in self._tracer.shrink.get(id(x), ()):
                arr = arr.take([0], axis=axis)  # one value: broadcasts along the dynamic axis
            name = self._params.get(id(x)) or self.fresh("const")
            self.initializers.append(self.onnx.numpy_helper.from_array(np.array(arr), name))
            self._consts[id(x)] = (x, name)
            return name
        if isinstance(x, (bool, int, float)):
            dtype = like.dtype if isinstance(like, Value) else np.float32
            return self.array(x, dtype=dtype, hint="scalar")
        raise ExportError(f"cannot use {type(x).__name__} {x!r} as a tensor in the ONNX graph")

    def elem_type(self, dtype: np.dtype) -> int:
        return int(self.helper.np_dtype_to_tensor_dtype(np.dtype(dtype)))

    # ---- shapes ------------------------------------------------------------------------------

    def target_shape(
        self, out: Value, src: Optional[Value] = None, broadcast: bool = False, op: str = "reshape"
    ) -> str:
        """An int64 shape for ``Reshape``/``Expand`` giving ``out``'s shape: an axis that follows
        a dynamic input axis becomes ``0`` (copy ``src``'s same axis) where it is that axis,
        ``1`` for ``Expand`` (broadcast keeps it), otherwise ``-1`` (inferred; one at most)."""
        target = list(out.shape)
        inferred = False
        for i in sorted(out.dynamic):
            same = (
                src is not None
                and i < len(src.shape)
                and (src.shape[i], src.shape2[i]) == (out.shape[i], out.shape2[i])
            )
            if broadcast:
                k = i - len(out.shape) + len(src.shape) if src is not None else -1
                sizes = (out.shape[i], out.shape2[i])
                if src is None or k < 0 or (src.shape[k], src.shape2[k]) != sizes:
                    raise ExportError(f"{op}: a size that follows a dynamic axis is not a copy")
                target[i] = 1
            elif same:
                target[i] = 0
            elif not inferred:
                target[i], inferred = -1, True
            else:
                raise ExportError(
                    f"{op} to {list(out.shape)}: more than one size follows the dynamic axes "
                    "in a way ONNX Reshape cannot express"
                )
        return self.ints(target)
