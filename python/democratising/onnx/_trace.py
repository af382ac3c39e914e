"""The tracer behind ``democratising.onnx.export``: one forward of the model with the library's
op entry points wrapped, recording each call that reads a traced (input-derived) tensor.

While a ``Tracer`` is active, every method of ``Tensor`` (and its ``T``/``mT``/``data``
properties), every function of the engine module ``_core`` (and the ``dm.*`` names bound to
them, such as ``dm.cat``), ``F.embedding`` and the ``__call__`` of the recurrent layers are
replaced by wrappers. Only the outermost call is recorded (a Python-level op made of other ops
is one node); a call none of whose tensor arguments derives from the inputs is not recorded at
all, so its result is a constant (folded at trace time, an ONNX initializer when used).
Tensors are followed by identity; every traced one is kept alive until the trace ends so an
``id`` is never reused. Arguments of a recorded call are stored with each traced tensor
replaced by its ``Value`` (name, shape, dtype at the time of the call), so in-place ops that
rebind a tensor to a new value keep the graph correct."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import numpy as np

from .. import _core
from .._core import Tensor
from .._nested import map_tensors as _map
from ..errors import ExportError

__all__ = ["Call", "Tracer", "Value", "np_dtype"]

# Methods that only describe a tensor or run autograd: never recorded.
_NOT_OPS = frozenset(
    {"dim", "numel", "nelement", "element_size", "size", "stride", "is_contiguous",
     "is_floating_point", "data_ptr", "backward", "retain_grad", "register_hook",
     "register_post_accumulate_grad_hook", "requires_grad_", "is_complex", "is_pinned",
     "equal", "allclose", "__format__", "__reduce__", "__deepcopy__", "__copy__",
     "__dlpack__", "__dlpack_device__", "__repr__", "__hash__", "__new__", "__len__",
     "__bool__", "__int__", "__float__", "__index__"}
)  # fmt: skip
# Methods that read a traced tensor's values into Python: the graph would depend on the data.
_DATA_READS = frozenset({"item", "numpy", "tolist", "__iter__", "nonzero", "unique"})
_PROPERTIES = ("T", "mT", "data")


def np_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype of a democratising dtype (``democratising.float32`` -> float32)."""
    return np.dtype(str(dtype).rsplit(".", 1)[-1])


@dataclass
class Value:
    """A traced tensor in the graph: its ONNX name, shape and dtype in this trace (``shape2``:
    the shape in the second trace, with the dynamic axes one longer; equal to ``shape`` when
    there is no second trace)."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    shape2: tuple[int, ...] = ()

    @property
    def dynamic(self) -> set[int]:
        """The axes whose size follows the dynamic input axes."""
        return {i for i, (a, b) in enumerate(zip(self.shape, self.shape2)) if a != b}


@dataclass
class Call:
    """One recorded op: its key (``Tensor.relu``, ``_core._linear``, ``F.embedding``,
    ``nn.LSTM``), its arguments (traced tensors replaced by ``Value``) and output values.
    ``module`` is the layer of a module-level call."""

    op: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    outputs: list[Value]
    module: Any = None
    raw: tuple[Any, ...] = field(default=(), repr=False)


def tensors_in(obj: Any) -> list[Tensor]:
    """The tensors in ``obj`` (nested tuples, lists, dicts), in order."""
    found: list[Tensor] = []
    _map(obj, found.append)
    return found


def values_in(obj: Any) -> list[Value]:
    """The traced ``Value``s in ``obj`` (a call's recorded arguments), in order."""
    found: list[Value] = []
    _map(obj, found.append, Value)
    return found


_ACTIVE: Optional[Tracer] = None
_INHERITED = object()  # marks an attribute the patched class did not define itself


class Tracer:
    """Records the calls of one forward; use ``with tracer.active(): model(*args)``."""

    def __init__(self, module_types: dict[type, str]) -> None:
        self.calls: list[Call] = []
        self.values: dict[int, tuple[Tensor, Value]] = {}
        self.created: list[Value] = []
        # constants of element-wise ops stored with these axes cut to size 1 (``_align``)
        self.shrink: dict[int, tuple[int, ...]] = {}
        self.depth = 0
        self._module_types = module_types
        self._counter = 0

    # ---- values ---------------------------------------------------------------------------

    def value(self, t: Tensor) -> Value:
        """A new traced value for ``t`` (rebinding ``t`` if it was traced before)."""
        v = Value(f"v{self._counter}", tuple(t.shape), np_dtype(t.dtype))
        self._counter += 1
        self.values[id(t)] = (t, v)
        self.created.append(v)
        return v

    def lookup(self, t: Tensor) -> Any:
        """``t``'s current ``Value`` if it is traced, else ``t`` itself (a constant)."""
        hit = self.values.get(id(t))
        return hit[1] if hit is not None and hit[0] is t else t

    def is_traced(self, obj: Any) -> bool:
        return any(isinstance(self.lookup(t), Value) for t in tensors_in(obj))

    # ---- recording ------------------------------------------------------------------------

    def record(
        self,
        op: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        fn: Callable[..., Any],
        module: Any = None,
    ) -> Any:
        """Runs ``fn(*args, **kwargs)`` (its inner op calls unrecorded) and records it when it
        reads a traced tensor."""
        traced = self.is_traced((args, kwargs))
        if traced and op.rsplit(".", 1)[-1] in _DATA_READS:
            raise ExportError(
                f"{op} reads a traced tensor's values into Python (iterating or converting it), "
                "so the exported graph would depend on this input's data; keep data-dependent "
                "logic out of forward()"
            )
        mapped = (_map(args, self.lookup), _map(kwargs, self.lookup)) if traced else None
        self.depth += 1
        try:
            out = fn(*args, **kwargs)
        finally:
            self.depth -= 1
        produced = tensors_in(out)
        if mapped is not None and produced:
            outputs = [self.value(t) for t in produced]
            self.calls.append(Call(op, mapped[0], mapped[1], outputs, module))
        return out

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """Ops run inside are not recorded (the tracer's own reads of tensors)."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    @contextmanager
    def active(self) -> Iterator[Tracer]:
        """Installs the wrappers for the duration of the block (not thread-safe: the wrappers
        are process-wide, as the ops are)."""
        global _ACTIVE
        if _ACTIVE is not None:
            raise ExportError("democratising.onnx.export is already tracing a model")
        undo = _install(self._module_types)
        _ACTIVE = self
        try:
            yield self
        finally:
            _ACTIVE = None
            for owner, name, old in reversed(undo):
                if old is _INHERITED:
                    delattr(owner, name)
                else:
                    setattr(owner, name, old)


def _wrapper(op: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def traced(*args: Any, **kwargs: Any) -> Any:
        tr = _ACTIVE
        if tr is None or tr.depth:
            return fn(*args, **kwargs)
        return tr.record(op, args, kwargs, fn)

    traced.__wrapped__ = fn  # type: ignore[attr-defined]
    return traced


def _property_wrapper(op: str, prop: Any) -> property:
    return property(_wrapper(op, prop.__get__))


def _module_call(op: str, call: Callable[..., Any]) -> Callable[..., Any]:
    def traced(self: Any, *args: Any, **kwargs: Any) -> Any:
        tr = _ACTIVE
        if tr is None or tr.depth:
            return call(self, *args, **kwargs)
        return tr.record(op, args, kwargs, lambda *a, **k: call(self, *a, **k), self)

    return traced


def _install(module_types: dict[type, str]) -> list[tuple[Any, str, Any]]:
    """Wraps the op entry points; returns ``(owner, name, original)`` to restore."""
    from .. import nn
    from ..nn import functional as F

    undo: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, name: str, new: Any) -> None:
        undo.append((owner, name, owner.__dict__.get(name, _INHERITED)))
        setattr(owner, name, new)

    for name, attr in list(Tensor.__dict__.items()):
        if name in _NOT_OPS or (name.startswith("__") and name not in _TENSOR_DUNDERS):
            continue
        if name in _PROPERTIES:
            patch(Tensor, name, _property_wrapper(f"Tensor.{name}", attr))
        elif callable(attr):
            patch(Tensor, name, _wrapper(f"Tensor.{name}", getattr(Tensor, name)))
    import democratising as dm

    for name, fn in list(vars(_core).items()):
        if name.startswith("__") or isinstance(fn, type) or not callable(fn):
            continue
        wrapped = _wrapper(f"_core.{name}", fn)
        patch(_core, name, wrapped)
        if vars(dm).get(name) is fn:
            patch(dm, name, wrapped)
    patch(F, "embedding", _wrapper("F.embedding", F.embedding))
    for cls, op in module_types.items():
        patch(cls, "__call__", _module_call(op, nn.Module.__call__))
    return undo


_TENSOR_DUNDERS = frozenset(
    {"__lt__", "__le__", "__eq__", "__ne__", "__gt__", "__ge__", "__iter__", "__add__",
     "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__mod__", "__rmod__", "__pow__",
     "__rpow__", "__neg__", "__pos__", "__abs__", "__invert__", "__and__", "__rand__",
     "__xor__", "__rxor__", "__or__", "__ror__", "__iadd__", "__isub__", "__imul__",
     "__floordiv__", "__rfloordiv__", "__truediv__", "__rtruediv__", "__itruediv__",
     "__matmul__", "__rmatmul__", "__getitem__", "__setitem__", "__delitem__"}
)  # fmt: skip
