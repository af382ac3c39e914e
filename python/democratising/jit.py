"""``democratising.jit``: ``torch.jit``'s names for a library that runs eagerly.

There is no TorchScript compiler here, so ``script``/``trace``/``trace_module`` return what
they are given (a module or function that computes exactly what it did), the decorators
(``ignore``, ``unused``, ``export``, ``interface``, ``script_method``) leave their function as
it is, and ``is_scripting()``/``is_tracing()`` are always False, so the eager branch of code
written for both is the one taken. ``annotate``, ``Attribute``, ``Final`` and ``isinstance``
behave as torch's do outside TorchScript. ``save``/``load`` store a whole module (its classes
must be importable when loading), with ``_extra_files`` and ``map_location`` as in PyTorch.
"""

from __future__ import annotations

import builtins
import collections.abc
import contextlib
import io
import os
import pickle
import types
import typing
from collections.abc import Iterator
from typing import IO, Any, Callable, NamedTuple, Optional, TypeVar, Union

from . import nn
from .errors import ArgumentTypeError, CheckpointError

__all__ = [
    "Attribute",
    "Final",
    "Future",
    "ScriptFunction",
    "ScriptModule",
    "annotate",
    "enable_onednn_fusion",
    "export",
    "fork",
    "freeze",
    "ignore",
    "interface",
    "is_scripting",
    "is_tracing",
    "isinstance",
    "load",
    "onednn_fusion_enabled",
    "optimize_for_inference",
    "save",
    "script",
    "script_if_tracing",
    "script_method",
    "set_fusion_strategy",
    "strict_fusion",
    "trace",
    "trace_module",
    "unused",
    "wait",
]

_T = TypeVar("_T")
_F = TypeVar("_F", bound=Callable[..., Any])

#: ``torch.jit.Final``: a constant attribute's annotation (``typing.Final``, as in torch).
Final = typing.Final


# ---- compiling: the identity ----------------------------------------------------------------


def script(
    obj: _T,
    optimize: None = None,
    _frames_up: int = 0,
    _rcb: Optional[Callable[[str], Any]] = None,
    example_inputs: Any = None,
) -> _T:
    """Returns ``obj`` (module, function or class) itself: it runs eagerly as written."""
    del optimize, _frames_up, _rcb, example_inputs
    return obj


def trace(
    func: _T,
    example_inputs: Any = None,
    optimize: None = None,
    check_trace: bool = True,
    check_inputs: Any = None,
    check_tolerance: float = 1e-5,
    strict: bool = True,
    _force_outplace: bool = False,
    _module_class: Any = None,
    _compilation_unit: Any = None,
    example_kwarg_inputs: Any = None,
    _store_inputs: bool = True,
) -> _T:
    """Returns ``func`` (module or function) itself, not a recording of one run: calling it
    computes with the inputs given, including the data-dependent branches a trace would
    have frozen."""
    del example_inputs, optimize, check_trace, check_inputs, check_tolerance, strict
    del _force_outplace, _module_class, _compilation_unit, example_kwarg_inputs, _store_inputs
    return func


def trace_module(
    mod: _T,
    inputs: Any = None,
    optimize: None = None,
    check_trace: bool = True,
    check_inputs: Any = None,
    check_tolerance: float = 1e-5,
    strict: bool = True,
    _force_outplace: bool = False,
    _module_class: Any = None,
    _compilation_unit: Any = None,
    example_inputs_is_kwarg: bool = False,
    _store_inputs: bool = True,
) -> _T:
    """Returns the module itself (see ``trace``); ``inputs`` maps method names to inputs."""
    del inputs, optimize, check_trace, check_inputs, check_tolerance, strict, _force_outplace
    del _module_class, _compilation_unit, example_inputs_is_kwarg, _store_inputs
    return mod


def script_if_tracing(fn: _F) -> _F:
    return fn


def freeze(
    mod: _T, preserved_attrs: Optional[list[str]] = None, optimize_numerics: bool = True
) -> _T:
    """Returns the module: there is no graph to inline its attributes into. As in PyTorch it
    must be in eval mode (freezing bakes in inference behaviour such as dropout's)."""
    del preserved_attrs, optimize_numerics
    if getattr(mod, "training", False):
        raise RuntimeError(
            "Freezing is currently only implemented for modules in eval mode. Please call "
            ".eval() on your module before freezing."
        )
    return mod


def optimize_for_inference(mod: _T, other_methods: Optional[list[str]] = None) -> _T:
    """The module in eval mode (what PyTorch's does before freezing it)."""
    del other_methods
    eval_ = getattr(mod, "eval", None)
    return eval_() if callable(eval_) else mod


# ---- decorators and queries -----------------------------------------------------------------


def ignore(drop: Any = False, **kwargs: Any) -> Any:
    """``@torch.jit.ignore`` and ``@torch.jit.ignore(drop=True)``: the function, unchanged."""
    del kwargs
    if callable(drop):
        return drop
    return lambda fn: fn


def unused(fn: _F) -> _F:
    return fn


def export(fn: _F) -> _F:
    return fn


def interface(obj: _T) -> _T:
    return obj


def script_method(fn: _F) -> _F:
    """For ``ScriptModule`` subclasses: the method, unchanged."""
    return fn


def is_scripting() -> bool:
    """False: code never runs under the TorchScript compiler here."""
    return False


def is_tracing() -> bool:
    """False: no tracer records the ops."""
    return False


def annotate(the_type: Any, the_value: _T) -> _T:
    """Returns ``the_value`` (the annotation is for the TorchScript compiler only)."""
    del the_type
    return the_value


class Attribute(NamedTuple):
    """``torch.jit.Attribute(value, type)``: outside TorchScript, the pair itself."""

    value: Any
    type: Any


class ScriptModule(nn.Module):
    """Base of PyTorch's compiled modules. ``script`` returns the module itself, so nothing
    is an instance of this unless its class derives from it, as old code's ``class
    M(torch.jit.ScriptModule)`` does: such a module is an ordinary eager module."""


class ScriptFunction:
    """PyTorch's compiled function type; ``script`` returns functions unchanged, so no
    function is one (``isinstance(f, jit.ScriptFunction)`` is False, as for eager code)."""

    def __init__(self) -> None:
        raise TypeError("ScriptFunction cannot be constructed: jit.script returns the function")


# ---- torch.jit.isinstance: checks against container types -----------------------------------


def _matches(obj: Any, tp: Any) -> bool:
    if tp is Any or tp is typing.Any:
        return True
    if tp is None or tp is type(None):
        return obj is None
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is None:
        return builtins.isinstance(obj, tp)
    if origin is Union or origin is getattr(types, "UnionType", Union):  # (3.10's int | None)
        return any(_matches(obj, a) for a in args)
    if origin is list:
        return builtins.isinstance(obj, list) and all(_matches(v, args[0]) for v in obj)
    if origin is dict:
        return builtins.isinstance(obj, dict) and all(
            _matches(k, args[0]) and _matches(v, args[1]) for k, v in obj.items()
        )
    if origin is tuple:
        if not builtins.isinstance(obj, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_matches(v, args[0]) for v in obj)
        return len(obj) == len(args) and all(_matches(v, a) for v, a in zip(obj, args))
    return builtins.isinstance(obj, origin)


def isinstance(obj: Any, target_type: Any) -> bool:
    """Whether ``obj`` is of ``target_type``, which may be a parameterised container
    (``List[int]``, ``Dict[str, Tensor]``, ``Optional[Tuple[int, str]]``): elements are
    checked too, as TorchScript's refinement does."""
    return _matches(obj, target_type)


# ---- fork / wait: run now ------------------------------------------------------------------


class Future:
    """The result of ``fork``: computed when forked (eagerly, as PyTorch's fork does outside
    TorchScript), so ``wait()`` returns it at once, or raises the call's exception."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self._error: Optional[BaseException] = None
        self._value: Any = None
        try:
            self._value = fn(*args, **kwargs)
        except Exception as e:
            self._error = e

    def done(self) -> bool:
        return True

    def wait(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._value

    value = wait

    def then(self, callback: Callable[[Future], Any]) -> Future:
        """A future of ``callback(self)``."""
        return Future(callback, (self,), {})


def fork(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Future:
    return Future(func, args, kwargs)


def wait(future: Future) -> Any:
    return future.wait()


# ---- fusion settings (no fuser here: recorded, returned) --------------------------------------

_ONEDNN = [False]
_FUSION_STRATEGY: list[list[tuple[str, int]]] = [[("STATIC", 2), ("DYNAMIC", 10)]]


def enable_onednn_fusion(enabled: bool) -> None:
    _ONEDNN[0] = bool(enabled)


def onednn_fusion_enabled() -> bool:
    return _ONEDNN[0]


def set_fusion_strategy(strategy: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Records the strategy and returns the previous one, as PyTorch's."""
    for kind, depth in strategy:
        if kind not in ("STATIC", "DYNAMIC") or int(depth) < 0:
            raise ValueError(f"invalid fusion strategy entry {(kind, depth)!r}")
    previous = _FUSION_STRATEGY[0]
    _FUSION_STRATEGY[0] = [(str(k), int(d)) for k, d in strategy]
    return previous


@contextlib.contextmanager
def strict_fusion() -> Iterator[None]:
    """A region PyTorch requires to fuse into one kernel; eager here, so it just runs."""
    yield


# ---- save / load ---------------------------------------------------------------------------

#: First bytes of a file ``save`` writes (then a pickle of ``{"module": ..., "extra": ...}``).
_MAGIC = b"DMJIT\x001\n"


def _open(f: Any, mode: str) -> Any:
    if builtins.isinstance(f, (str, os.PathLike)):
        return open(f, mode)
    return contextlib.nullcontext(f)


def save(m: Any, f: Union[str, os.PathLike[str], IO[bytes]], _extra_files: Any = None) -> None:
    """Writes the module ``m`` (structure, parameters, buffers, attributes) to a path or a
    binary file; ``_extra_files`` ({name: str or bytes}) are stored beside it. The classes are
    stored by name (Python's pickle), so ``load`` needs them importable, as ``torch.save`` of
    a module does; a file from ``torch.jit.save`` (TorchScript) cannot be read here."""
    extra = {
        str(k): (v.encode() if builtins.isinstance(v, str) else bytes(v))
        for k, v in dict(_extra_files or {}).items()
    }
    payload = pickle.dumps({"module": m, "extra": extra}, protocol=pickle.HIGHEST_PROTOCOL)
    with _open(f, "wb") as out:
        out.write(_MAGIC)
        out.write(payload)


def load(
    f: Union[str, os.PathLike[str], IO[bytes]],
    map_location: Any = None,
    _extra_files: Optional[dict[str, Any]] = None,
    _restore_shapes: bool = False,
) -> Any:
    """Reads a module written by ``save``, moved to ``map_location`` (a device or its name)
    if given; the names in ``_extra_files`` get the stored files' bytes, as in PyTorch.
    Loading unpickles, which can run code named in the file: load only files you trust
    (as with ``torch.jit.load``)."""
    del _restore_shapes
    with _open(f, "rb") as src:
        data = src.read()
    name = f if builtins.isinstance(f, (str, os.PathLike)) else "<file>"
    if not data.startswith(_MAGIC):
        if data[:2] == b"PK":
            raise CheckpointError(
                f"{name}: a TorchScript archive (torch.jit.save) holds TorchScript code, which "
                "democratising cannot run; save the model's state_dict and load it into the "
                "model class instead"
            )
        raise CheckpointError(f"{name}: not a file written by democratising.jit.save")
    try:
        stored = pickle.load(io.BytesIO(data[len(_MAGIC) :]))
    except (pickle.UnpicklingError, EOFError) as e:
        raise CheckpointError(f"{name}: the file is truncated or corrupt ({e})") from e
    module = stored["module"]
    if _extra_files is not None:
        if not builtins.isinstance(_extra_files, collections.abc.MutableMapping):
            raise ArgumentTypeError("_extra_files must be a dict of file names")
        for key in list(_extra_files):
            if key in stored["extra"]:
                _extra_files[key] = stored["extra"][key]
    if map_location is not None:
        module = module.to(map_location)
    return module
