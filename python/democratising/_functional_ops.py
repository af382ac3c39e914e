"""PyTorch-style free functions (``dm.exp(t)``, ``dm.matmul(a, b)``, ...) that forward to the
corresponding ``Tensor`` methods."""

from __future__ import annotations

from typing import Any

from . import _core
from ._core import Tensor

# The element-wise comparisons and logical ops: each has a free function here and an in-place
# method (``eq_``, ``logical_and_``...) in ``_tensor_methods_torch``.
COMPARISONS = (
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "logical_and",
    "logical_or",
    "logical_xor",
    "logical_not",
)

_METHODS = [
    "abs",
    "exp",
    "log",
    "log2",
    "log1p",
    "expm1",
    "sqrt",
    "rsqrt",
    "square",
    "reciprocal",
    "sin",
    "cos",
    "tanh",
    "sigmoid",
    "relu",
    "gelu",
    "silu",
    "softplus",
    "erf",
    "sign",
    "floor",
    "ceil",
    "round",
    "trunc",
    "neg",
    "clamp",
    "clip",
    "pow",
    "maximum",
    "minimum",
    "remainder",
    "floor_divide",
    "sum",
    "mean",
    "var",
    "std",
    "max",
    "min",
    "amax",
    "amin",
    "argmax",
    "argmin",
    "logsumexp",
    "all",
    "any",
    "matmul",
    "mm",
    "dot",
    "softmax",
    "log_softmax",
    "gather",
    "scatter_add",
    "index_select",
    "masked_fill",
    "reshape",
    "flatten",
    "squeeze",
    "unsqueeze",
    "transpose",
    "permute",
    "narrow",
    "unbind",
    "split",
    "chunk",
    "nonzero",
    *COMPARISONS,
    "add",
    "sub",
    "mul",
    "div",
    "true_divide",
    "numel",
    "clone",
    "detach",
]


def _forward(name: str) -> Any:
    def fn(input: Tensor, *args: Any, **kwargs: Any) -> Any:
        if name == "pow" and not isinstance(input, Tensor) and args and isinstance(args[0], Tensor):
            return args[0].__rpow__(input)  # dm.pow(2.0, t)
        if not isinstance(input, Tensor):
            raise TypeError(
                f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}"
            )
        return getattr(input, name)(*args, **kwargs)

    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = f"Same as ``Tensor.{name}``."
    return fn


# Ops of the engine's unary table get a free function too (``dm.erf(t)``), listed or not.
_METHODS += [n for n in _core._unary_names() if n not in _METHODS]

for _name in _METHODS:
    globals()[_name] = _forward(_name)

__all__ = list(_METHODS)
