"""Containers: ``Sequential`` (also the seed's ``Sequential().add(..).build()``), ``ModuleList``,
``ModuleDict``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Optional

from .module import Module


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
