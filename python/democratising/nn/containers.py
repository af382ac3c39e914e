"""Containers: ``Sequential`` (also the seed's ``Sequential().add(..).build()``), ``ModuleList``,
``ModuleDict``, ``ParameterList``, ``ParameterDict``."""

from __future__ import annotations

import math
import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Optional, TypeVar, Union, overload

from .. import _core
from .._core import Tensor
from ..errors import ArgumentTypeError, IndexOutOfRangeError, InvalidValueError
from .module import Module, _typename
from .parameter import Parameter


class _Entries(Module):
    """What the module containers share: their entries live in the module's ``_modules``,
    which ``len`` counts. The subclasses add how entries are named and iterated (``_Listed``,
    ``_Keyed``)."""

    def _entries(self) -> dict[str, Any]:
        return self._modules

    def __len__(self) -> int:
        return len(self._entries())


class _Listed(_Entries):
    """Entries named ``0``, ``1``, ... like PyTorch's; iteration yields the entries."""

    def append(self, value: Any) -> Any:
        self._entries()[str(len(self))] = value
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
        self._entries()[key] = value

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


_L = TypeVar("_L", bound="_ModuleListed")


class _ModuleListed(_Listed):
    """What ``Sequential`` and ``ModuleList`` share with PyTorch's: integer indexing (negative
    from the end, ``IndexError`` out of range), item assignment and deletion, ``pop``; after a
    deletion the children are renumbered ``0``, ``1``, ... as PyTorch does."""

    def _abs_index(self, idx: Any) -> int:
        n = len(self._modules)
        idx = operator.index(idx)
        if not -n <= idx < n:
            raise IndexOutOfRangeError(f"index {idx} is out of range")
        return idx % n

    def _key_at(self, idx: Any) -> str:
        return list(self._modules)[self._abs_index(idx)]

    def _renumber(self, modules: Iterable[Module]) -> None:
        """Replaces the children by ``modules`` named ``0``, ``1``, ... (in place: the dict
        object stays the same)."""
        mods = list(modules)
        self._modules.clear()
        self._modules.update((str(i), m) for i, m in enumerate(mods))

    @overload
    def __getitem__(self, i: int) -> Module: ...
    @overload
    def __getitem__(self: _L, i: slice) -> _L: ...
    def __getitem__(self, i: Union[int, slice]) -> Any:
        """An entry, or for a slice a container of the same type holding those entries (how it
        names them is the subclass's ``_sliced``)."""
        if isinstance(i, slice):
            return self._sliced(i)
        return list(self._modules.values())[self._abs_index(i)]

    def _sliced(self, i: slice) -> Any:
        """The container for the entries at slice ``i``; each subclass names them its way."""
        raise NotImplementedError

    def __setitem__(self, idx: int, module: Module) -> None:
        """Replaces the entry at ``idx`` (a non-``Module`` raises ``ArgumentTypeError``)."""
        setattr(self, self._key_at(idx), module)

    def __delitem__(self, idx: Union[int, slice]) -> None:
        if isinstance(idx, slice):
            gone = set(list(self._modules)[idx])
        else:
            gone = {self._key_at(idx)}
        self._renumber(m for k, m in self._modules.items() if k not in gone)

    def pop(self, key: Union[int, slice]) -> Any:
        """Removes and returns the entry at ``key`` (for a slice, a container of them)."""
        v = self[key]  # type: ignore[index]
        del self[key]
        return v

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class Sequential(_ModuleListed):
    """Runs its children in order; children are named ``0``, ``1``, ... like PyTorch, or by
    the keys of an ``OrderedDict`` given as the only argument."""

    def __init__(self, *layers: Any) -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], OrderedDict):
            for name, layer in layers[0].items():
                self.add_module(name, layer)  # (its check: a Module or ``None``)
            return
        for layer in layers:
            self.add(layer)

    def add(self, layer: Optional[Module]) -> Sequential:
        """Appends a layer and returns ``self`` so calls chain (the seed's builder); it is
        registered by ``add_module``, as PyTorch's (so global registration hooks see it, and
        ``None`` is taken: an empty slot that ``named_children`` skips)."""
        self.add_module(str(len(self)), layer)
        return self

    def append(self, module: Optional[Module]) -> Sequential:  # type: ignore[override]
        """``add`` under PyTorch's name (and keyword: ``append(module=...)``)."""
        return self.add(module)

    def build(self) -> Sequential:
        """Ends a builder chain; the model is ready to use."""
        return self

    def forward(self, input: Any) -> Any:
        for m in self._modules.values():
            input = m(input)
        return input

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

            x = checkpoint(run, x, use_reentrant=False)
        return x

    def enable_checkpointing(self, segments: Any = True) -> Sequential:
        """Checkpoint the children in ``segments`` groups (default ≈ √len): only the segment
        boundaries are stored, each segment is recomputed during backward."""
        object.__setattr__(self, "_checkpointing", segments)
        return self

    def _sliced(self, i: slice) -> Sequential:
        """A ``Sequential`` of the sliced entries under their names (as PyTorch's, so its
        ``state_dict`` keys are the parent's)."""
        return type(self)(OrderedDict(list(self._modules.items())[i]))

    def insert(self, index: int, module: Module) -> Sequential:
        """Inserts ``module`` before ``index`` (``-len <= index <= len``, else ``IndexError``
        as PyTorch's); the children are renumbered ``0``, ``1``, ..."""
        if not isinstance(module, Module):
            raise ArgumentTypeError(f"module should be of type: Module, got {_typename(module)}")
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexOutOfRangeError(f"Index out of range: {index}")
        mods = list(self._modules.values())
        mods.insert(index + n if index < 0 else index, module)
        self._renumber(mods)
        return self

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise InvalidValueError(
                "add operator supports only objects of Sequential class, but "
                f"{type(other)} is given."
            )
        return Sequential(*self, *other)

    def __iadd__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise InvalidValueError(
                "add operator supports only objects of Sequential class, but "
                f"{type(other)} is given."
            )
        return self.extend(list(other))

    def _repeat_count(self, other: Any) -> int:
        if not isinstance(other, int) or isinstance(other, bool):
            raise ArgumentTypeError(
                f"unsupported operand type(s) for *: {type(self)} and {type(other)}"
            )
        if other <= 0:
            raise InvalidValueError(f"Non-positive multiplication factor {other} for {type(self)}")
        return other

    def __mul__(self, other: int) -> Sequential:
        """The children repeated ``other`` times (the same module objects, as PyTorch's)."""
        return Sequential(*(list(self) * self._repeat_count(other)))

    def __rmul__(self, other: int) -> Sequential:
        return self.__mul__(other)

    def __imul__(self, other: int) -> Sequential:
        mods = list(self) * (self._repeat_count(other) - 1)
        return self.extend(mods)


class ModuleList(_ModuleListed):
    def __init__(self, modules: Optional[Iterable[Module]] = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        """Appends ``module`` (a non-``Module`` raises ``ArgumentTypeError``)."""
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        _require_iterable(modules, "ModuleList.extend")
        for m in modules:
            self.append(m)
        return self

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self, *other])

    def _sliced(self, i: slice) -> ModuleList:
        """A ``ModuleList`` of the sliced entries (renumbered, as PyTorch's)."""
        return type(self)(list(self._modules.values())[i])

    def insert(self, index: int, module: Module) -> None:
        """Inserts ``module`` before ``index`` (``list.insert``'s positions, negative ones
        included); the entries after it move up one name, as in PyTorch."""
        if not isinstance(module, Module):
            raise ArgumentTypeError(f"{_typename(module)} is not a Module subclass")
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._renumber(mods)

    def __repr__(self) -> str:
        """PyTorch's: a run of consecutive entries that print alike is one line,
        ``(0-5): 6 x TransformerEncoderLayer(...)``, as the stacks of layers are."""
        reprs = [repr(m) for m in self._modules.values()]
        if not reprs:
            return f"{type(self).__name__}()"
        runs: list[tuple[int, int]] = []  # (first, last) index of each run
        for i, r in enumerate(reprs):
            if runs and reprs[runs[-1][0]] == r:
                runs[-1] = (runs[-1][0], i)
            else:
                runs.append((i, i))
        lines = []
        for first, last in runs:
            head = f"({first})" if first == last else f"({first}-{last}): {last - first + 1} x"
            sep = ": " if first == last else " "
            lines.append(f"{head}{sep}{reprs[first]}".replace("\n", "\n  "))
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(_Keyed):
    """An ordered dict of submodules registered under their keys, with PyTorch's ``dict``
    methods (``update``, ``pop``, ``clear``, ``keys``, ``values``, ``items``)."""

    def __init__(
        self,
        modules: Optional[Union[Mapping[str, Module], Iterable[tuple[str, Module]]]] = None,
    ) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def clear(self) -> None:
        self._modules.clear()

    def pop(self, key: str) -> Module:
        """Removes ``key`` and returns its module (``KeyError`` if absent)."""
        v = self[key]
        del self[key]
        return v

    def update(self, modules: Union[Mapping[str, Module], Iterable[tuple[str, Module]]]) -> None:
        """Adds (or overwrites) the entries of a mapping, a ``ModuleDict`` or an iterable of
        ``(key, module)`` pairs, in their order, with PyTorch's errors for anything else."""
        _require_iterable(modules, "ModuleDict.update", pairs=True)
        if isinstance(modules, (Mapping, ModuleDict)):
            for key, module in modules.items():
                self[key] = module
            return
        _update_from_pairs(self, modules, "ModuleDict", "is ")


def _require_iterable(value: Any, call: str, pairs: bool = False, tensor_ok: bool = True) -> None:
    """PyTorch's ``TypeError`` when a container's ``extend`` or ``update`` (``call``) is given
    something that is not an iterable (of key/value ``pairs`` for ``update``); a tensor is one,
    but ``ParameterList.extend`` rejects it (``tensor_ok=False``) as PyTorch's does."""
    if not isinstance(value, Iterable) or (not tensor_ok and isinstance(value, Tensor)):
        expected = "an iterable of key/value pairs" if pairs else "an iterable"
        raise ArgumentTypeError(
            f"{call} should be called with {expected}, but got " + type(value).__name__
        )


def _update_from_pairs(target: Any, pairs: Iterable[Any], name: str, is_: str) -> None:
    """Sets each ``(key, value)`` of ``pairs`` in ``target``: what ``ModuleDict.update`` and
    ``ParameterDict.update`` do with a sequence, with PyTorch's errors (``is_`` is how each
    spells the "is" before a type name)."""
    for j, item in enumerate(pairs):
        if not isinstance(item, Iterable):
            raise ArgumentTypeError(
                f"{name} update sequence element #{j} should be Iterable; {is_}"
                + type(item).__name__
            )
        pair: list[Any] = list(item)
        if len(pair) != 2:
            raise InvalidValueError(
                f"{name} update sequence element #{j} has length {len(pair)}; 2 is required"
            )
        target[pair[0]] = pair[1]


def _as_parameter(value: Any) -> Any:
    """Plain tensors become ``Parameter``s, as PyTorch's parameter containers do; other values
    (``None``, strings, numbers) are kept as they are, as plain attributes."""
    if isinstance(value, Tensor) and not isinstance(value, Parameter):
        return Parameter(value)
    return value


def _describe(p: Any, dtype_name: str) -> str:
    """PyTorch's one-line summary of an entry, e.g. ``Parameter containing: [torch.float32 of
    size 2x3]`` (``dtype_name`` is how the container names the dtype), or ``Object of type:
    str`` for a value that is not a tensor."""
    if not isinstance(p, Tensor):
        return f"Object of type: {type(p).__name__}"
    size = "x".join(str(n) for n in p.shape)
    device = f" ({p.device})" if p.is_cuda else ""
    kind = "Parameter" if isinstance(p, Parameter) else "Tensor"
    return f"{kind} containing: [{dtype_name} of size {size}{device}]"


def _container_repr(name: str, lines: list[str]) -> str:
    """PyTorch's ``Module.__repr__`` of a container whose ``extra_repr`` lists ``lines``."""
    if not lines:
        return f"{name}()"
    if len(lines) == 1:
        return f"{name}({lines[0]})"
    return f"{name}(\n  " + "\n  ".join(lines) + "\n)"


class ParameterList(Module):
    """A list of parameters registered as ``0``, ``1``, ... (so ``state_dict`` keys match
    PyTorch's). Tensors are wrapped in ``Parameter``s; other values are held as plain
    attributes (listed, but not in ``state_dict``), as PyTorch's."""

    def __init__(self, values: Optional[Iterable[Any]] = None) -> None:
        super().__init__()
        self._size = 0
        if values is not None:
            self += values

    def _key(self, idx: Any) -> str:
        """The attribute name of entry ``idx`` (negative from the end; ``IndexError`` out of
        range, as PyTorch's)."""
        idx = operator.index(idx)
        if not -len(self) <= idx < len(self):
            raise IndexOutOfRangeError(f"index {idx} is out of range")
        return str(idx % len(self))

    @overload
    def __getitem__(self, idx: int) -> Any: ...
    @overload
    def __getitem__(self, idx: slice) -> ParameterList: ...
    def __getitem__(self, idx: Union[int, slice]) -> Any:
        """An entry, or for a slice a new ``ParameterList`` of the same objects."""
        if isinstance(idx, slice):
            out = type(self)()
            for i in range(*idx.indices(len(self))):
                out.append(self[i])
            return out
        return getattr(self, self._key(idx))

    def __setitem__(self, idx: int, value: Any) -> None:
        setattr(self, self._key(idx), _as_parameter(value))

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[Any]:
        return iter([self[i] for i in range(len(self))])

    def __iadd__(self, values: Iterable[Any]) -> ParameterList:
        return self.extend(values)

    def __dir__(self) -> list[str]:
        return [k for k in super().__dir__() if not k.isdigit()]

    def append(self, value: Any) -> ParameterList:
        """Appends ``value`` (a tensor becomes a ``Parameter``) and returns ``self``."""
        self._size += 1
        self[self._size - 1] = value
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        """Appends each of ``values``: an iterable, not a tensor (PyTorch's ``TypeError``)."""
        _require_iterable(values, "ParameterList.extend", tensor_ok=False)
        for v in values:
            self.append(v)
        return self

    def extra_repr(self) -> str:
        return "\n".join(
            f"  ({i}): {_describe(p, str(p.dtype) if isinstance(p, Tensor) else '')}"
            for i, p in enumerate(self)
        )

    def __repr__(self) -> str:
        lines = self.extra_repr().split("\n") if len(self) else []
        return _container_repr(type(self).__name__, lines)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ParameterList should not be called.")


class ParameterDict(Module):
    """An ordered dict of parameters registered under their keys (``state_dict`` keys match
    PyTorch's), with ``dict``'s methods. Tensors are wrapped in ``Parameter``s; other values
    are held as plain attributes, as PyTorch's."""

    def __init__(self, parameters: Any = None) -> None:
        super().__init__()
        self._keys: dict[str, None] = {}
        if parameters is not None:
            self.update(parameters)

    @staticmethod
    def _key_to_attr(key: Any) -> str:
        if not isinstance(key, str):
            raise ArgumentTypeError(
                "Index given to ParameterDict cannot be used as a key as it is not a string "
                f"(type is '{type(key).__name__}'). Open an issue on github if you need "
                "non-string keys."
            )
        return key

    def __getitem__(self, key: str) -> Any:
        """The entry ``key``; a missing key raises ``AttributeError``, as PyTorch's."""
        return getattr(self, self._key_to_attr(key))

    def __setitem__(self, key: str, value: Any) -> None:
        attr = self._key_to_attr(key)
        self._keys[key] = None
        setattr(self, attr, _as_parameter(value))

    def __delitem__(self, key: str) -> None:
        del self._keys[key]
        delattr(self, self._key_to_attr(key))

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __reversed__(self) -> Iterator[str]:
        return reversed(list(self._keys))

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def copy(self) -> ParameterDict:
        """A new ``ParameterDict`` holding the same objects (a shallow copy)."""
        return ParameterDict(OrderedDict((k, self[k]) for k in self._keys))

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def clear(self) -> None:
        for k in list(self._keys):
            del self[k]

    def pop(self, key: str) -> Any:
        """Removes ``key`` and returns its value."""
        v = self[key]
        del self[key]
        return v

    def popitem(self) -> tuple[str, Any]:
        """Removes and returns the last ``(key, value)`` pair (``KeyError`` when empty)."""
        if not self._keys:
            raise KeyError("popitem(): dictionary is empty")
        k = next(reversed(self._keys))
        return k, self.pop(k)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self else default

    def fromkeys(self, keys: Iterable[str], default: Any = None) -> ParameterDict:
        """A new ``ParameterDict`` with each of ``keys`` set to ``default``."""
        return ParameterDict((k, default) for k in keys)

    def keys(self) -> Iterable[str]:
        return self._keys.keys()

    def items(self) -> Iterable[tuple[str, Any]]:
        return [(k, self[k]) for k in self._keys]

    def values(self) -> Iterable[Any]:
        return [self[k] for k in self._keys]

    def update(self, parameters: Any) -> None:
        """Adds (or overwrites) entries from an ``OrderedDict`` or ``ParameterDict`` (in their
        order), another mapping (in sorted key order, as PyTorch's) or an iterable of
        ``(key, value)`` pairs, with PyTorch's errors for anything else."""
        _require_iterable(parameters, "ParametersDict.update", pairs=True)  # PyTorch's spelling
        if isinstance(parameters, (OrderedDict, ParameterDict)):
            for key, value in parameters.items():
                self[key] = value
            return
        if isinstance(parameters, Mapping):
            for key, value in sorted(parameters.items()):
                self[key] = value
            return
        _update_from_pairs(self, parameters, "ParameterDict", "is")

    def __or__(self, other: ParameterDict) -> ParameterDict:
        out = self.copy()
        out.update(other)
        return out

    def __ror__(self, other: ParameterDict) -> ParameterDict:
        out = other.copy()
        out.update(self)
        return out

    def __ior__(self, other: ParameterDict) -> ParameterDict:
        self.update(other)
        return self

    def extra_repr(self) -> str:
        return "\n".join(
            f"  ({k}): {_describe(p, _typename(p) if isinstance(p, Tensor) else '')}"
            for k, p in self.items()
        )

    def __repr__(self) -> str:
        lines = self.extra_repr().split("\n") if len(self) else []
        return _container_repr(type(self).__name__, lines)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("ParameterDict should not be called.")
