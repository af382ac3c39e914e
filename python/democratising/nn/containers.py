"""Containers: ``Sequential`` (also the seed's ``Sequential().add(..).build()``), ``ModuleList``,
``ModuleDict``, ``ParameterList``, ``ParameterDict``."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Optional, Union, overload

from .. import _core
from .._core import Tensor
from .module import Module
from .parameter import Parameter


class Sequential(Module):
    """Runs its children in order; children are named ``0``, ``1``, ... like PyTorch."""

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        for layer in layers:
            self.add(layer)

    def add(self, layer: Module) -> Sequential:
        """Appends a layer and returns ``self`` so calls chain (the seed's builder)."""
        if not isinstance(layer, Module):
            raise TypeError(f"Sequential.add expects a Module, got {type(layer).__name__}")
        self._modules[str(len(self._modules))] = layer
        return self

    append = add

    def build(self) -> Sequential:
        """Ends a builder chain; the model is ready to use."""
        return self

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
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

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, i: int) -> Module:
        mods = list(self._modules.values())
        return mods[i]


class ModuleList(Module):
    def __init__(self, modules: Optional[Iterable[Module]] = None) -> None:
        super().__init__()
        for m in modules or []:
            self.append(m)

    def append(self, m: Module) -> ModuleList:
        self._modules[str(len(self._modules))] = m
        return self

    def extend(self, ms: Iterable[Module]) -> ModuleList:
        for m in ms:
            self.append(m)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]


class ModuleDict(Module):
    def __init__(self, modules: Optional[Mapping[str, Module]] = None) -> None:
        super().__init__()
        for k, m in (modules or {}).items():
            self[k] = m

    def __setitem__(self, key: str, m: Module) -> None:
        self._modules[key] = m

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()


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


class ParameterList(Module):
    """A list of parameters registered as ``0``, ``1``, ... (so ``state_dict`` keys match
    PyTorch's)."""

    def __init__(self, values: Optional[Iterable[Tensor]] = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def append(self, value: Tensor) -> ParameterList:
        self._parameters[str(len(self._parameters))] = _as_parameter(value)
        return self

    def extend(self, values: Iterable[Tensor]) -> ParameterList:
        for v in values:
            self.append(v)
        return self

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

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def __iadd__(self, values: Iterable[Tensor]) -> ParameterList:
        return self.extend(values)

    def __repr__(self) -> str:
        return _container_repr(type(self).__name__, list(self._parameters.items()))


class ParameterDict(Module):
    """An ordered dict of parameters registered under their keys (``state_dict`` keys match
    PyTorch's)."""

    def __init__(
        self, parameters: Optional[Union[Mapping[str, Tensor], Iterable[tuple[str, Tensor]]]] = None
    ) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __setitem__(self, key: str, value: Tensor) -> None:
        self._parameters[key] = _as_parameter(value)

    def __getitem__(self, key: str) -> Parameter:
        return self._parameters[key]

    def __delitem__(self, key: str) -> None:
        del self._parameters[key]

    def __contains__(self, key: object) -> bool:
        return key in self._parameters

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def keys(self) -> Iterable[str]:
        return self._parameters.keys()

    def values(self) -> Iterable[Parameter]:
        return self._parameters.values()

    def items(self) -> Iterable[tuple[str, Parameter]]:
        return self._parameters.items()

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
