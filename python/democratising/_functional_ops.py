"""PyTorch-style free functions (``dm.exp(t)``, ``dm.matmul(a, b)``, ...) that forward to the
corresponding ``Tensor`` methods."""

from __future__ import annotations

import builtins
from typing import Any

from . import _core
from ._core import Tensor
from .errors import ArgumentTypeError

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


# The arithmetic ops that PyTorch also accepts with a Python number first (``dm.remainder(5, t)``,
# ``dm.sub(1, t, alpha=2)``; ``pow`` goes through ``__rpow__``). The comparisons, ``maximum``...
# refuse it there too.
NUMBER_FIRST = frozenset({"add", "sub", "mul", "div", "true_divide", "floor_divide", "remainder"})


def number_first(name: str, input: Any, other: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    """``name(input, other, ...)`` for a Python number ``input``: the number becomes a 0-d
    tensor of the dtype PyTorch's promotion gives the pair (a wrapped number does not widen
    ``other``'s dtype: ``5`` and an ``int32`` tensor stay ``int32``), on ``other``'s device."""
    from ._tensor_more import _result_dtype
    from .errors import DTypeError

    if name == "sub" and (isinstance(input, bool) or other.dtype == _core.bool):
        raise DTypeError(
            "Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
            "trying to invert a mask, use the `~` or `logical_not()` operator instead."
        )
    dtype = _result_dtype(input, other)
    true_division = name in ("div", "true_divide", "divide") and kwargs.get("rounding_mode") is None
    if true_division and not dtype.is_floating_point:
        # ``dm.div(-2, uint8)`` divides the number itself (-2 / 1 = -2.0), as ``-2 / t`` does.
        dtype = _core._default_dtype()
    elif isinstance(input, int) and not dtype.is_floating_point:
        input = wrap_int(input, dtype)
    first = _core.full((), input, dtype=dtype, device=other.device)
    return getattr(first, name)(other, *args, **kwargs)  # type: ignore[no-any-return]


def wrap_int(value: int, dtype: Any) -> Any:
    """A Python int as an integer op of ``dtype`` reads it: modulo the dtype's width (``~1`` is
    254 in uint8, ``0xFF`` is -1 in int8), as PyTorch converts a number for such an op; a bool
    ``dtype`` takes the number's truth."""
    if not -(1 << 63) <= value < 1 << 64:
        from .errors import OverflowValueError

        raise OverflowValueError(f"int too big to convert: {value} is beyond 64 bits")
    if dtype == _core.bool:
        return builtins.bool(value)
    bits = 8 * dtype.itemsize
    value &= (1 << bits) - 1
    if dtype.is_signed and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


def _into_out(name: str, input: Tensor, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Tensor:
    """PyTorch's ``out=`` (``torch.mul(a, b, out=c)``, as in its Tensors tutorial): the result
    is computed as usual, then written into ``out`` by ``_out_param.write`` (PyTorch's rules:
    nothing differentiable, the result's dtype castable to ``out``'s)."""
    from ._out_param import dtype_from_out, write
    from .errors import AutogradError

    out = kwargs.pop("out")
    operands = (input, *args, *kwargs.values())
    # (``any`` here is this module's ``dm.any``: the builtin is spelled out)
    if _core.is_grad_enabled() and builtins.any(
        isinstance(a, Tensor) and a.requires_grad for a in operands
    ):
        raise AutogradError(
            f"{name}(): functions with out=... arguments don't support automatic "
            "differentiation, but one of the arguments requires grad."
        )
    dtype_from_out(name, out, kwargs)
    return write(name, getattr(input, name)(*args, **kwargs), out)


def _forward(name: str) -> Any:
    def fn(input: Tensor, *args: Any, **kwargs: Any) -> Any:
        if name == "pow" and not isinstance(input, Tensor) and args and isinstance(args[0], Tensor):
            out = args[0].__rpow__(input)  # dm.pow(2.0, t)
            if out is NotImplemented:  # (a list or tuple base, as PyTorch refuses it)
                raise ArgumentTypeError(
                    f"pow(): argument 'self' must be Number or Tensor, not {type(input).__name__}"
                )
            return out
        if name in NUMBER_FIRST and isinstance(input, (int, float)):
            other = args[0] if args else kwargs.pop("other", None)
            if isinstance(other, Tensor):
                return number_first(name, input, other, *args[1:], **kwargs)
        if not isinstance(input, Tensor):
            if getattr(input, "is_sparse", False) and hasattr(input, name):
                return getattr(input, name)(*args, **kwargs)  # dm.mm(sparse, dense)
            raise ArgumentTypeError(
                f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}"
            )
        try:
            return getattr(input, name)(*args, **kwargs)
        except TypeError:
            if builtins.any(getattr(a, "is_sparse", False) for a in args):
                from . import sparse  # dm.mm(dense, sparse), dm.addmm(dense, sparse, dense)

                if name in ("mm", "matmul", "addmm"):
                    return getattr(sparse, name)(input, *args, **kwargs)
            if "out" not in kwargs:  # (out= is handled here, off the common path)
                raise
        return _into_out(name, input, args, kwargs)

    fn.__name__ = name
    fn.__qualname__ = name
    fn.__doc__ = f"Same as ``Tensor.{name}``."
    return fn


# Ops of the engine's unary table get a free function too (``dm.erf(t)``), listed or not.
_METHODS += [n for n in _core._unary_names() if n not in _METHODS]

for _name in _METHODS:
    globals()[_name] = _forward(_name)


def split(tensor: Tensor, split_size_or_sections: Any, dim: int = 0) -> Any:
    """PyTorch's ``torch.split``: its first argument is named ``tensor``, not ``input``."""
    if not isinstance(tensor, Tensor):
        raise ArgumentTypeError(
            f"split(): argument 'tensor' must be Tensor, not {type(tensor).__name__}"
        )
    return tensor.split(split_size_or_sections, dim)


__all__ = list(_METHODS)
