"""Containers: ``Sequential`` (also the seed's ``Sequential().add(..).build()``), ``ModuleList``,
``ModuleDict``, ``ParameterList``, ``ParameterDict``."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar, Optional, Union, overload

from .. import _core
from .._core import Tensor
from .module import Module
from .parameter import Parameter


class _Entries(Module):
    """What every container shares: its entries live in one of the module's own dicts
    (``_modules``, or ``_parameters`` for the parameter containers), which ``len`` counts. The
    subclasses add how entries are named and iterated (``_Listed``, ``_Keyed``)."""

    _holds_parameters: ClassVar[bool] = False

    def _entries(self) -> dict[str, Any]:
        return self._parameters if self._holds_parameters else self._modules

    def _convert(self, value: Any) -> Any:
        """An entry as stored (parameter containers turn tensors into ``Parameter``s)."""
        return _as_parameter(value) if self._holds_parameters else value

    def __len__(self) -> int:
        return len(self._entries())


class _Listed(_Entries):
    """Entries named ``0``, ``1``, ... like PyTorch's; iteration yields the entries."""

    def append(self, value: Any) -> Any:
        self._entries()[str(len(self))] = self._convert(value)
        return self

    def extend(self, values: Iterable[Any]) -> Any:
        for v in values:
            self.append(v)
        return self

    def __iter__(self) -> Iterator[Any]:
        return iter(self._entries().values())


class _Keyed(_Entries):
    """Entries under string keys; the read side of a ``dict`` (iteration yields the keys)."""

    def __setitem__(self, key: str, value: Any) -> None:
        self._entries()[key] = self._convert(value)

    def __getitem__(self, key: str) -> Any:
        return self._entries()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._entries()

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries())

    def keys(self) -> Iterable[str]:
        return self._entries().keys()

    def values(self) -> Iterable[Any]:
        return self._entries().values()

    def items(self) -> Iterable[tuple[str, Any]]:
        return self._entries().items()


class Sequential(_Listed):
    """Runs its children in order; children are named ``0``, ``1``, ... like PyTorch, or by
    the keys of an ``OrderedDict`` given as the only argument."""

    def __init__(self, *layers: Any) -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], OrderedDict):
            for name, layer in layers[0].items():
                self.add_module(name, _checked_module(layer))
            return
        for layer in layers:
            self.add(layer)

    def add(self, layer: Module) -> Sequential:
        """Appends a layer and returns ``self`` so calls chain (the seed's builder)."""
        super().append(_checked_module(layer))
        return self

    append = add

    def build(self) -> Sequential:
        """Ends a builder chain; the model is ready to use."""
        return self

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x

    def _call_forward(self, *args: Any, **kwargs: Any) -> Any:
        segments = self.__dict__.get("_checkpointing")
        if not segments or not _core.is_grad_enabled() or len(args) != 1 or kwargs:
            return self.forward(*args, **kwargs)
        from ..utils.checkpoint import checkpoint

        mods = list(self._modules.values())
        n = max(1, round(math.sqrt(len(mods)))) if segments is True else int(segments)
        size = -(-len(mods) // n)
        x = args[0]
        for start in range(0, len(mods), size):
            chunk = mods[start : start + size]

            def run(inp: Any, chunk: list[Module] = chunk) -> Any:
                for m in chunk:
                    inp = m(inp)
                return inp

            x = checkpoint(run, x)
        return x

    def enable_checkpointing(self, segments: Any = True) -> Sequential:
        """Checkpoint the children in ``segments`` groups (default ≈ √len): only the segment
        boundaries are stored, each segment is recomputed during backward."""
        object.__setattr__(self, "_checkpointing", segments)
        return self

    @overload
    def __getitem__(self, i: int) -> Module: ...
    @overload
    def __getitem__(self, i: slice) -> Sequential: ...
    def __getitem__(self, i: Union[int, slice]) -> Union[Module, Sequential]:
        """An entry, or for a slice a ``Sequential`` of those entries under their names (as
        PyTorch's, so its ``state_dict`` keys are the parent's)."""
        if isinstance(i, slice):
            return type(self)(OrderedDict(list(self._modules.items())[i]))
        return list(self._modules.values())[i]


class ModuleList(_Listed):
    def __init__(self, modules: Optional[Iterable[Module]] = None) -> None:
        super().__init__()
        self.extend(modules or [])

    @overload
    def __getitem__(self, i: int) -> Module: ...
    @overload
    def __getitem__(self, i: slice) -> ModuleList: ...
    def __getitem__(self, i: Union[int, slice]) -> Union[Module, ModuleList]:
        """An entry, or for a slice a ``ModuleList`` of those entries (renumbered, as
        PyTorch's)."""
        if isinstance(i, slice):
            return type(self)(list(self._modules.values())[i])
        return list(self._modules.values())[i]

    def insert(self, index: int, module: Module) -> None:
        """Inserts ``module`` before ``index`` (``list.insert``'s positions, negative ones
        included); the entries after it move up one name, as in PyTorch."""
        n = len(self._modules)
        index = max(0, min(n, index + n if index < 0 else index))
        for i in range(n, index, -1):
            self._modules[str(i)] = self._modules[str(i - 1)]
        self._modules[str(index)] = module


class ModuleDict(_Keyed):
    def __init__(self, modules: Optional[Mapping[str, Module]] = None) -> None:
        super().__init__()
        for k, m in (modules or {}).items():
            self[k] = m


def _checked_module(layer: Any) -> Module:
    if not isinstance(layer, Module):
        raise TypeError(f"Sequential.add expects a Module, got {type(layer).__name__}")
    return layer


def _as_parameter(value: Tensor) -> Parameter:
    """Plain tensors become ``Parameter``s, as PyTorch's parameter containers do."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value)
    raise TypeError(f"expected a Tensor or Parameter, got {type(value).__name__}")


def _describe(p: Tensor) -> str:
    """PyTorch's one-line summary, e.g. ``Parameter containing: [float32 of size 2x3]``."""
    size = "x".join(str(n) for n in p.shape)
    device = f" ({p.device})" if p.is_cuda else ""
    kind = "Parameter" if isinstance(p, Parameter) else "Tensor"
    return f"{kind} containing: [{p.dtype} of size {size}{device}]"


def _container_repr(name: str, entries: list[tuple[str, Tensor]]) -> str:
    lines = [f"  ({k}): {_describe(p)}" for k, p in entries]
    if not lines:
        return f"{name}()"
    if len(lines) == 1:
        return f"{name}({lines[0]})"
    return f"{name}(\n  " + "\n  ".join(lines) + "\n)"


class ParameterList(_Listed):
    """A list of parameters registered as ``0``, ``1``, ... (so ``state_dict`` keys match
    PyTorch's)."""

    _holds_parameters = True

    def __init__(self, values: Optional[Iterable[Tensor]] = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def _key(self, idx: int) -> str:
        n = len(self._parameters)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range")
        return str(idx % n)

    @overload
    def __getitem__(self, idx: int) -> Parameter: ...
    @overload
    def __getitem__(self, idx: slice) -> ParameterList: ...
    def __getitem__(self, idx: Union[int, slice]) -> Union[Parameter, ParameterList]:
        if isinstance(idx, slice):
            return ParameterList(list(self._parameters.values())[idx])
        return self._parameters[self._key(idx)]

    def __setitem__(self, idx: int, value: Tensor) -> None:
        self._parameters[self._key(idx)] = _as_parameter(value)

    def __iadd__(self, values: Iterable[Tensor]) -> ParameterList:
        return self.extend(values)

    def __repr__(self) -> str:
        return _container_repr(type(self).__name__, list(self._parameters.items()))


class ParameterDict(_Keyed):
    """An ordered dict of parameters registered under their keys (``state_dict`` keys match
    PyTorch's)."""

    _holds_parameters = True

    def __init__(
        self, parameters: Optional[Union[Mapping[str, Tensor], Iterable[tuple[str, Tensor]]]] = None
    ) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __delitem__(self, key: str) -> None:
        del self._parameters[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self._parameters.get(key, default)

    def pop(self, key: str) -> Parameter:
        return self._parameters.pop(key)

    def clear(self) -> None:
        self._parameters.clear()

    def update(self, parameters: Union[Mapping[str, Tensor], Iterable[tuple[str, Tensor]]]) -> None:
        pairs = parameters.items() if isinstance(parameters, Mapping) else parameters
        for k, v in pairs:
            self[k] = v

    def __repr__(self) -> str:
        return _container_repr(type(self).__name__, list(self._parameters.items()))
