"""Containers: ``Sequential`` (also the seed's ``Sequential().add(..).build()``), ``ModuleList``,
``ModuleDict``."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Optional

from .. import _core
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
