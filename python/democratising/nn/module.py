"""``Module``: the base class of every layer and model. Attributes that are ``Parameter``s,
``Module``s or registered buffers are tracked automatically, as in PyTorch."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Callable, NamedTuple, Optional, TypeVar, cast

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad
from ..errors import (
    ArgumentTypeError,
    AutogradError,
    DTypeError,
    InvalidValueError,
    ShapeError,
    StateDictError,
)
from . import _load_state
from .parameter import Parameter


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns (PyTorch's ``_IncompatibleKeys``)."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    @classmethod
    def between(cls, own: Iterable[str], given: Iterable[str]) -> IncompatibleKeys:
        """The keys of ``own`` (a model's state) missing from ``given`` (a state to load), and
        those of ``given`` the model does not have, each in its own order."""
        own, given = list(own), list(given)
        have, want = set(given), set(own)
        return cls([k for k in own if k not in have], [k for k in given if k not in want])

    def all_matched(self) -> bool:
        return not self.missing_keys and not self.unexpected_keys

    def __repr__(self) -> str:
        if self.all_matched():
            return "<All keys matched successfully>"
        return (
            f"_IncompatibleKeys(missing_keys={self.missing_keys!r}, "
            f"unexpected_keys={self.unexpected_keys!r})"
        )

    def __str__(self) -> str:
        return self.__repr__()

    def messages(self) -> list[str]:
        """PyTorch's lines for a strict load: the missing keys, then the unexpected ones."""
        out = []
        for what, keys in (("Missing", self.missing_keys), ("Unexpected", self.unexpected_keys)):
            if keys:
                listed = ", ".join(f'"{k}"' for k in keys)
                out.append(f"{what} key(s) in state_dict: {listed}. ")
        return out

    def raise_if_any(self, error: type[Exception], context: str) -> None:
        """Raises ``error`` listing both kinds of keys after ``context`` when either list is
        non-empty, in PyTorch's words: what a strict load does before it copies anything."""
        if self.missing_keys or self.unexpected_keys:
            raise error(_load_error(context, self.messages()))


M = TypeVar("M", bound="Module")

#: PyTorch's per-module hook tables and non-persistent buffer set, which code reads or clears
#: directly (``m._forward_hooks.clear()``): made on first access (``__getattr__``), as the
#: registration methods make them, so modules without hooks stay cheap to call. Name: (the
#: ``__dict__`` key holding it, its type).
_LAZY_TABLES: dict[str, tuple[str, Callable[[], Any]]] = {
    **{
        name: (name, OrderedDict)
        for name in (
            "_forward_hooks",
            "_forward_pre_hooks",
            "_forward_hooks_always_called",
            "_backward_hooks",
            "_backward_pre_hooks",
            "_state_dict_hooks",
            "_state_dict_pre_hooks",
            "_load_state_dict_pre_hooks",
            "_load_state_dict_post_hooks",
        )
    },
    "_non_persistent_buffers_set": ("_non_persistent", set),
}


def _load_error(context: str, messages: list[str]) -> str:
    """PyTorch's ``load_state_dict`` error: ``Error(s) in loading state_dict for X:`` then
    each message on its own tab-indented line."""
    return f"{context}:\n\t" + "\n\t".join(messages)


class _SizeMismatchError(StateDictError, ShapeError):
    """A load with values of the wrong shape: a ``RuntimeError`` as PyTorch's, and a
    ``ShapeError`` as democratising's shape checks."""


def _overrides(m: Module, name: str) -> bool:
    """Whether ``m``'s class overrides ``Module.name`` (``get_extra_state``, ...)."""
    return getattr(type(m), name) is not getattr(Module, name)


class RemovableHandle:
    """What ``register_forward_hook`` and ``register_forward_pre_hook`` return (PyTorch's
    ``torch.utils.hooks.RemovableHandle``): ``remove()`` unregisters the hook, as does leaving
    a ``with`` block on the handle."""

    _next_id = 0

    def __init__(self, hooks: dict[int, Any], extra_dict: Optional[dict[int, Any]] = None) -> None:
        self._hooks = hooks
        # Tables of per-hook flags (``always_call``) the hook's entry is removed from too.
        self._extra = extra_dict
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        """Unregisters the hook (a no-op if it is already removed)."""
        self._hooks.pop(self.id, None)
        if self._extra is not None:
            self._extra.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _has_hooks(m: Module, *kinds: str) -> bool:
    return any(m.__dict__.get(kind) for kind in kinds)


def _pop_forward_pre_hook(m: Module, matches: Callable[[Any], bool]) -> bool:
    """Undoes and unregisters (``hook.remove(m)``) the first forward pre-hook of ``m`` that
    ``matches``; whether there was one. Removing a pruning, a weight norm or a spectral norm
    is this same search."""
    hooks = m.__dict__.get("_forward_pre_hooks", {})
    for k, (hook, _) in list(hooks.items()):
        if matches(hook):
            hook.remove(m)
            del hooks[k]
            return True
    return False


def _save_tensors(m: Module, out: dict[str, Any], prefix: str, keep_vars: bool) -> None:
    """``m``'s own parameters and persistent buffers into ``out`` under ``prefix`` (detached
    unless ``keep_vars``): ``_save_to_state_dict``'s step, which ``state_dict``'s fast path
    takes per module without the method call."""
    skip = m.__dict__.get("_non_persistent", ())
    for n, p in m._parameters.items():
        if p is not None:
            out[prefix + n] = p if keep_vars else p.detach()
    for n, b in m._buffers.items():
        if b is not None and n not in skip:
            out[prefix + n] = b if keep_vars else b.detach()


def _post_order(m: Module) -> Iterator[Module]:
    """``m``'s submodules (every path to a shared one, as ``load_state_dict`` visits them)
    before ``m`` itself: the order PyTorch runs load-state-dict post-hooks in."""
    for child in m._modules.values():
        if child is not None:
            yield from _post_order(child)
    yield m


def _owner_of(root: Module, target: str, must_have: bool = True) -> tuple[Module, str]:
    """The submodule of ``root`` at dotted path ``target`` less its last part, and that part:
    the lookup ``get_parameter``/``get_buffer``/``set_submodule`` share. With ``must_have``,
    PyTorch's ``AttributeError`` when that submodule has no such attribute."""
    path, _, name = target.rpartition(".")
    mod = root.get_submodule(path)
    if must_have and not hasattr(mod, name):
        raise AttributeError(f"{type(mod).__name__} has no attribute `{name}`")
    return mod, name


class Module:
    """Base class for layers and models: subclass it and implement ``forward``."""

    training: bool
    #: Saved in ``state_dict``'s ``_metadata`` for each module; a class whose saved state
    #: changes layout raises it, and its ``_load_from_state_dict`` reads the saved one from
    #: ``local_metadata["version"]`` to upgrade older checkpoints (PyTorch's).
    _version: int = 1

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration ------------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        """As PyTorch's: a ``Parameter`` or ``Module`` value registers it (replacing whatever
        held the name); a parameter's or child module's name accepts only another of its kind
        or ``None`` (anything else raises ``ArgumentTypeError``, a ``TypeError``); a buffer's
        name accepts a tensor or ``None``."""
        d = self.__dict__
        if "_parameters" not in d:  # before ``Module.__init__``: plain attributes only
            for kind, what in ((Parameter, "parameters"), (Module, "module")):
                if isinstance(value, kind):
                    raise AttributeError(f"cannot assign {what} before Module.__init__() call")
            object.__setattr__(self, name, value)
            return
        params, buffers, modules = d["_parameters"], d["_buffers"], d["_modules"]
        if isinstance(value, Parameter):
            target = params
        elif name in params:
            _clear_slot(params, name, value, "parameter", "torch.nn.Parameter")
            return
        elif isinstance(value, Module):
            target = modules
        elif name in modules:
            _clear_slot(modules, name, value, "child module", "torch.nn.Module")
            return
        elif (
            getattr(value, "_is_buffer", False)
            or name in buffers
            or name in d.get("_buffer_names", ())
        ):
            if value is not None and not _is_buffer_value(value):
                raise _assign_error(value, "buffer", name, "torch.nn.Buffer, torch.Tensor")
            if getattr(value, "_is_buffer", False):  # an ``nn.Buffer``: its persistence rules
                d.setdefault("_buffer_names", set()).add(name)
                skip = d.setdefault("_non_persistent", set())
                skip.discard(name) if getattr(value, "persistent", True) else skip.add(name)
            target = buffers
        else:
            object.__setattr__(self, name, value)
            return
        if target is not buffers:  # a buffer's name taken over is no buffer's any more
            d.get("_buffer_names", set()).discard(name)
            d.get("_non_persistent", set()).discard(name)
        if target is params or target is buffers:  # (child modules' names go unchecked)
            # PyTorch's register_parameter/register_buffer checks, once the name is freed
            # of the other kinds: no ".", and no class attribute or property of that name.
            for registry in (params, buffers, modules):
                if registry is not target:
                    registry.pop(name, None)
            d.pop(name, None)
            self._check_new_name(name, "parameter" if target is params else "buffer", target)
        hooks = (
            _global_parameter_registration_hooks
            if target is params
            else _global_module_registration_hooks
            if target is modules
            else _global_buffer_registration_hooks
        )
        if hooks:
            value = _registered(hooks, self, name, value)
        for registry in (params, buffers, modules):
            if registry is not target:
                registry.pop(name, None)
        target[name] = value
        d.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        if name in _LAZY_TABLES and "_parameters" in d:  # PyTorch's always-present tables
            key, make = _LAZY_TABLES[name]
            return d.setdefault(key, make())
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        """Unregisters a parameter, buffer or child module (a buffer's name then takes plain
        attributes again, and a later ``register_buffer`` is persistent unless told
        otherwise, as PyTorch's); else deletes the plain attribute."""
        for d in (self._parameters, self._buffers, self._modules):
            if name in d:
                del d[name]
                if d is self._buffers:
                    for key in ("_buffer_names", "_non_persistent"):
                        self.__dict__.get(key, set()).discard(name)
                return
        object.__delattr__(self, name)

    def _check_new_name(self, name: Any, kind: str, registry: dict[str, Any]) -> None:
        """PyTorch's checks on the name a parameter, buffer or child module is registered
        under: a string (else ``TypeError``), without ``"."``, not empty, and not already an
        attribute of another kind (else ``KeyError``)."""
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise ArgumentTypeError(f"{kind} name should be a string. Got {_typename(name)}")
        if "." in name:
            got = f", got: {name}" if kind == "module" else ""
            raise KeyError(f'{kind} name can\'t contain "."{got}')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')
        if name not in registry and hasattr(self, name):
            raise KeyError(f"attribute '{name}' already exists")

    def register_parameter(self, name: str, param: Optional[Parameter]) -> None:
        """Registers ``param`` (a ``Parameter`` or ``None``) under ``name``, with PyTorch's
        checks on the name (see ``_check_new_name``) and the value."""
        self._check_new_name(name, "parameter", self._parameters)
        if param is None:
            self._parameters[name] = None
        elif not isinstance(param, Parameter):
            raise ArgumentTypeError(
                f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                "(torch.nn.Parameter or None required)"
            )
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, tensor: Optional[Tensor], persistent: bool = True) -> None:
        """A tensor that is part of the state (saved in ``state_dict`` unless not
        ``persistent``) but not trained; the name is checked as PyTorch's."""
        self._check_new_name(name, "buffer", self._buffers)
        if tensor is not None and not _is_buffer_value(tensor):
            raise ArgumentTypeError(
                f"cannot assign '{_typename(tensor)}' object to buffer '{name}' "
                "(torch Tensor or None required)"
            )
        names = self.__dict__.setdefault("_buffer_names", set())
        names.add(name)
        skip = self.__dict__.setdefault("_non_persistent", set())
        skip.discard(name) if persistent else skip.add(name)
        if _global_buffer_registration_hooks:
            tensor = _registered(_global_buffer_registration_hooks, self, name, tensor)
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor

    def register_module(self, name: str, module: Optional[Module]) -> None:
        """Registers ``module`` (or ``None``) as the child ``name``, as PyTorch's
        ``add_module``; anything else raises ``ArgumentTypeError`` (a ``TypeError``)."""
        if module is not None and not isinstance(module, Module):
            raise ArgumentTypeError(f"{_typename(module)} is not a Module subclass")
        self._check_new_name(name, "module", self._modules)
        if _global_module_registration_hooks:
            module = _registered(_global_module_registration_hooks, self, name, module)
        self._modules[name] = module

    add_module = register_module

    def _add_hook(
        self,
        kind: str,
        hook: Callable[..., Any],
        prepend: bool,
        kw: bool,
        always_call: bool = False,
    ) -> RemovableHandle:
        """Stores ``(hook, with_kwargs)`` in the ``kind`` dict (made on first use, so modules
        without hooks pay nothing in ``__call__``) and returns its handle. An ``always_call``
        hook's id also goes in ``_forward_hooks_always_called`` (PyTorch's name)."""
        hooks = self.__dict__.setdefault(kind, OrderedDict())
        always = None
        if always_call:
            always = self.__dict__.setdefault("_forward_hooks_always_called", OrderedDict())
        handle = RemovableHandle(hooks, always)
        hooks[handle.id] = (hook, kw)
        if always is not None:
            always[handle.id] = True
        if prepend:
            hooks.move_to_end(handle.id, last=False)
        return handle

    def register_forward_pre_hook(
        self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """``hook(module, args)`` runs before ``forward``; a result other than ``None``
        replaces the positional arguments (a single value is wrapped in a tuple). With
        ``with_kwargs``, ``hook(module, args, kwargs)`` may return ``(args, kwargs)``."""
        return self._add_hook("_forward_pre_hooks", hook, prepend, with_kwargs)

    def register_forward_hook(
        self,
        hook: Callable[..., Any],
        *,
        prepend: bool = False,
        with_kwargs: bool = False,
        always_call: bool = False,
    ) -> RemovableHandle:
        """``hook(module, args, output)`` runs after ``forward``; a result other than ``None``
        replaces the output. With ``with_kwargs`` it is ``hook(module, args, kwargs, output)``.
        With ``always_call`` it also runs when the call raises (a pre-hook, ``forward`` or an
        earlier forward hook), with the output so far (``None`` if ``forward`` did not return);
        the error is then re-raised, and an error of the hook itself only warned about."""
        return self._add_hook("_forward_hooks", hook, prepend, with_kwargs, always_call)

    def register_full_backward_hook(
        self, hook: Callable[..., Any], prepend: bool = False
    ) -> RemovableHandle:
        """``hook(module, grad_input, grad_output)`` runs once the gradients with respect to
        the module's positional tensor inputs are computed, as PyTorch's: both are tuples, one
        entry per positional input / output (``None`` for non-tensors and tensors without a
        gradient); a result other than ``None`` (a tuple as long as ``grad_input``) replaces
        ``grad_input``. When no input requires grad, it runs with ``grad_input`` all ``None``
        as soon as ``grad_output`` is known."""
        self._set_backward_hook_kind(True)
        return self._add_hook("_backward_hooks", hook, prepend, False)

    def _set_backward_hook_kind(self, full: bool) -> None:
        """PyTorch's ``_is_full_backward_hook``: a module takes regular (deprecated) backward
        hooks or full ones, not both (``RuntimeError`` on the second kind)."""
        if self.__dict__.get("_is_full_backward_hook", full) is not full:
            raise AutogradError(
                "Cannot use both regular backward hooks and full backward hooks on a single "
                "Module. Please use only one of them."
            )
        self.__dict__["_is_full_backward_hook"] = full

    def register_backward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """PyTorch's deprecated backward hook, run as ``register_full_backward_hook``'s (what
        PyTorch's deprecation warning points to): the same ``grad_output``, and ``grad_input``
        with respect to the module's inputs rather than to its last operation's."""
        import warnings

        self._set_backward_hook_kind(False)
        warnings.warn(
            "register_backward_hook is deprecated: democratising runs it as "
            "register_full_backward_hook (grad_input holds the gradients with respect to the "
            "module's positional inputs). Use register_full_backward_hook.",
            FutureWarning,
            stacklevel=2,
        )
        return self._add_hook("_backward_hooks", hook, False, False)

    def register_full_backward_pre_hook(
        self, hook: Callable[..., Any], prepend: bool = False
    ) -> RemovableHandle:
        """``hook(module, grad_output)`` runs when the gradients with respect to the module's
        outputs are computed, before they flow into it; a result other than ``None`` (a tuple
        as long as ``grad_output``) replaces ``grad_output``."""
        return self._add_hook("_backward_pre_hooks", hook, prepend, False)

    def _add_state_hook(self, kind: str, hook: Callable[..., Any]) -> RemovableHandle:
        """Stores a ``state_dict``/``load_state_dict`` hook in the ``kind`` dict (made on
        first use) and returns its handle."""
        hooks = self.__dict__.setdefault(kind, OrderedDict())
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def register_state_dict_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """``hook(module, prefix, keep_vars)`` runs before ``state_dict`` saves this module."""
        return self._add_state_hook("_state_dict_pre_hooks", hook)

    def register_state_dict_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """``hook(module, state_dict, prefix, local_metadata)`` runs once ``state_dict`` has
        saved this module and its submodules; it edits ``state_dict`` in place (a returned
        value raises ``RuntimeError``, as PyTorch)."""
        return self._add_state_hook("_state_dict_hooks", hook)

    def register_load_state_dict_pre_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """``hook(module, state_dict, prefix, local_metadata, strict, missing_keys,
        unexpected_keys, error_msgs)`` runs before ``load_state_dict`` loads this module: it
        may rename or add keys of ``state_dict`` (a copy of the caller's) in place, and append
        to the three lists (a message in ``error_msgs`` fails the load)."""
        return self._add_state_hook("_load_state_dict_pre_hooks", hook)

    def _register_load_state_dict_pre_hook(
        self, hook: Callable[..., Any], with_module: bool = False
    ) -> RemovableHandle:
        """PyTorch's older load pre-hook: as ``register_load_state_dict_pre_hook``'s, but
        called without the module (``hook(state_dict, prefix, ...)``) unless
        ``with_module``."""
        if with_module:
            return self.register_load_state_dict_pre_hook(hook)

        def run(module: Module, *args: Any) -> Any:
            return hook(*args)

        return self._add_state_hook("_load_state_dict_pre_hooks", run)

    def register_load_state_dict_post_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """``hook(module, incompatible_keys)`` runs after ``load_state_dict`` loaded this
        module and its submodules; it may edit ``incompatible_keys.missing_keys`` and
        ``.unexpected_keys`` in place, which decides what a strict load then rejects. As in
        PyTorch, a load with such hooks copies the matching values before that check."""
        return self._add_state_hook("_load_state_dict_post_hooks", hook)

    def get_submodule(self, target: str) -> Module:
        """The submodule at dotted path ``target`` (``""`` is the module itself), as in
        PyTorch; a missing part raises ``AttributeError`` naming it."""
        mod: Module = self
        for item in target.split(".") if target else []:
            if not hasattr(mod, item):
                raise AttributeError(f"{type(mod).__name__} has no attribute `{item}`")
            mod = getattr(mod, item)
            if not isinstance(mod, Module):
                raise AttributeError(f"`{item}` is not an nn.Module")
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at dotted path ``target`` (``"fc.weight"``), as PyTorch's; a missing
        part, or an attribute that is not a ``Parameter``, raises ``AttributeError``."""
        mod, name = _owner_of(self, target)
        param = getattr(mod, name)
        if not isinstance(param, Parameter):
            raise AttributeError(f"`{name}` is not an nn.Parameter")
        return param

    def get_buffer(self, target: str) -> Tensor:
        """The buffer at dotted path ``target``, as PyTorch's; a missing part, or an attribute
        that is not a registered buffer, raises ``AttributeError``."""
        mod, name = _owner_of(self, target)
        if name not in mod._buffers:
            raise AttributeError(f"`{name}` is not a buffer")
        return cast(Tensor, getattr(mod, name))

    def set_submodule(self, target: str, module: Module, strict: bool = False) -> None:
        """Puts ``module`` at dotted path ``target``, as PyTorch's: the parent must exist; the
        last part may be new unless ``strict``, and may only replace a module."""
        if target == "":
            raise InvalidValueError("Cannot set the submodule without a target name!")
        if not isinstance(module, Module):
            raise InvalidValueError(f"`module` is not an nn.Module, found {type(module)}")
        parent, name = _owner_of(self, target, must_have=strict)
        if hasattr(parent, name) and not isinstance(getattr(parent, name), Module):
            raise AttributeError(f"`{name}` is not an nn.Module")
        setattr(parent, name, module)

    # ---- traversal ---------------------------------------------------------------------------

    def named_modules(
        self, memo: Optional[set[Module]] = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        """This module and every submodule by dotted name; a module reachable by several paths
        is yielded once, under its first name, unless ``remove_duplicate=False`` (then under
        each of its names, as ``state_dict`` lists it). ``memo`` (PyTorch's) holds modules to
        skip and is filled with those yielded."""
        if isinstance(memo, str):  # the old positional ``named_modules(prefix)``
            memo, prefix = None, memo
        seen: set[int] = {id(m) for m in memo} if memo is not None else set()
        # Pre-order walk with a stack of child iterators (not nested generators, whose
        # ``yield from`` chain costs per level on every step); each child's ``_modules`` is
        # read after it is yielded, as the recursive walk did. It starts at a parent whose one
        # child is this module under ``prefix``, so the root is deduplicated, yielded and
        # descended into as every other module is.
        stack = [("", iter([(prefix, self)]))]
        while stack:
            p, children = stack[-1]
            for n, c in children:
                if c is None:
                    continue
                if remove_duplicate:
                    if id(c) in seen:
                        continue
                    seen.add(id(c))
                    if memo is not None:
                        memo.add(c)
                cp = f"{p}.{n}" if p else n
                yield cp, c
                stack.append((cp, iter(c._modules.items())))
                break
            else:
                stack.pop()

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct submodules by name; one held under several names is yielded once,
        under its first (as PyTorch's)."""
        seen: set[int] = set()
        for n, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield n, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _param(self, name: str) -> Optional[Tensor]:
        """The parameter ``name`` for a forward pass: straight from the registry (no attribute
        fallback on the hot path), or, once a parametrization has moved it out, through the
        attribute that computes it; ``None`` where there is none."""
        params = self._parameters
        return params[name] if name in params else getattr(self, name, None)

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """Parameters by dotted name; a parameter shared by several modules (tied weights) is
        yielded once, under its first name, unless ``remove_duplicate=False``."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        if type(self).named_parameters is not Module.named_parameters:
            # (an override of ``named_parameters`` decides, as in PyTorch)
            for _, p in self.named_parameters(recurse=recurse):
                yield p
            return
        # ``named_parameters``' walk without building the names nobody reads.
        seen: set[int] = set()
        for _, m in self.named_modules() if recurse else (("", self),):
            for p in m._parameters.values():
                if p is None or id(p) in seen:
                    continue
                seen.add(id(p))
                yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Tensor]]:
        """Buffers by dotted name; one shared by several modules is yielded once unless
        ``remove_duplicate=False``."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def _named_members(
        self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool
    ) -> Iterator[tuple[str, Any]]:
        """The tensors of each module's ``registry`` dict (``_parameters`` or ``_buffers``) by
        dotted name, skipping ``None`` slots and, with ``remove_duplicate``, tensors already
        yielded: ``named_parameters`` and ``named_buffers`` walk the modules alike."""
        seen: set[int] = set()
        mods = (
            self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
            if recurse
            else iter([(prefix, self)])
        )
        for mp, m in mods:
            for n, t in getattr(m, registry).items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                seen.add(id(t))
                yield (f"{mp}.{n}" if mp else n), t

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def num_parameters(self, only_trainable: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not only_trainable)

    # ---- state -------------------------------------------------------------------------------

    def state_dict(
        self,
        destination: Optional[dict[str, Any]] = None,
        prefix: str = "",
        keep_vars: bool = False,
    ) -> dict[str, Any]:
        """Parameters and persistent buffers by dotted name (PyTorch's keys), each key after
        ``prefix``; detached unless ``keep_vars`` (then the ``Parameter``s and buffers
        themselves). A submodule held under several names is listed under each, as in
        PyTorch. Written into ``destination`` when given (and returned)."""
        out: dict[str, Any] = OrderedDict() if destination is None else destination
        if destination is None:
            out._metadata = OrderedDict()  # type: ignore[attr-defined]
        # One walk serves the hook check, the metadata and the tensors (the keys and order
        # of ``_save_with_hooks``, which runs instead while a module has state-dict hooks or
        # overrides ``get_extra_state`` or ``_save_to_state_dict``).
        mods = list(self.named_modules(remove_duplicate=False))
        base_extra, base_save = Module.get_extra_state, Module._save_to_state_dict
        for _, m in mods:
            d = m.__dict__
            cls = type(m)
            if (
                d.get("_state_dict_pre_hooks")
                or d.get("_state_dict_hooks")
                or cls.get_extra_state is not base_extra
                or cls._save_to_state_dict is not base_save
            ):
                self._save_with_hooks(out, prefix, keep_vars)
                return out
        meta = getattr(out, "_metadata", None)
        if meta is not None:  # each module's version under its key, as PyTorch's
            for mp, m in mods:
                meta[f"{prefix}{mp}" if mp else prefix[:-1]] = {"version": m._version}
        for mp, m in mods:  # no override, hook or extra state: each module's own tensors
            _save_tensors(m, out, f"{prefix}{mp}." if mp else prefix, keep_vars)
        return out

    def _save_with_hooks(self, out: dict[str, Any], prefix: str, keep_vars: bool) -> None:
        """``state_dict`` as PyTorch's recursion: this module's pre-hooks, its
        ``_save_to_state_dict``, its submodules, then its post-hooks."""
        meta = {"version": self._version}
        if hasattr(out, "_metadata"):
            out._metadata[prefix[:-1]] = meta
        for pre in list(self.__dict__.get("_state_dict_pre_hooks", {}).values()):
            pre(self, prefix, keep_vars)
        self._save_to_state_dict(out, prefix, keep_vars)
        for name, child in self._modules.items():
            if child is not None:
                child._save_with_hooks(out, f"{prefix}{name}.", keep_vars)
        for post in list(self.__dict__.get("_state_dict_hooks", {}).values()):
            if post(self, out, prefix, meta) is not None:
                raise RuntimeError("state_dict post-hook must return None")

    def _save_to_state_dict(
        self, destination: dict[str, Any], prefix: str, keep_vars: bool
    ) -> None:
        """PyTorch's per-module saving step, for subclasses to override: this module's own
        parameters and persistent buffers (detached unless ``keep_vars``), then its extra
        state, each under ``prefix``; not its submodules'. ``state_dict`` takes a slower path
        (PyTorch's recursion with the hooks) only while some module overrides it."""
        _save_tensors(self, destination, prefix, keep_vars)
        if _overrides(self, "get_extra_state"):
            destination[prefix + _load_state.EXTRA_STATE] = self.get_extra_state()

    def get_extra_state(self) -> Any:
        """Override (with ``set_extra_state``) to save any picklable value in ``state_dict``
        under ``_extra_state``, after this module's tensors (PyTorch's extra state)."""
        raise RuntimeError(
            "Reached a code path in Module.get_extra_state() that should never be called. "
            "Please file an issue at https://github.com/pytorch/pytorch/issues/new?template="
            "bug-report.yml to report this bug."
        )

    def set_extra_state(self, state: Any) -> None:
        """Override (with ``get_extra_state``) to restore what it saved; ``load_state_dict``
        calls it with the ``_extra_state`` entry."""
        raise RuntimeError(
            "Reached a code path in Module.set_extra_state() that should never be called. "
            "Please file an issue at https://github.com/pytorch/pytorch/issues/new?template="
            "bug-report.yml to report this bug."
        )

    #: PyTorch's per-module loading step, which ``load_state_dict`` calls for each module
    #: (parents first); see ``_load_state.load_own``. An override may edit ``state_dict`` or
    #: read ``local_metadata["version"]`` before calling ``super()``, or load its own way
    #: without it (then nothing of this module is loaded or reported).
    _load_from_state_dict = _load_state.load_own

    def _register_state_dict_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """PyTorch's older ``state_dict`` post-hook: ``hook(module, state_dict, prefix,
        local_metadata)`` may also return a dict, whose entries then replace the state."""

        def run(module: Module, out: dict[str, Any], prefix: str, meta: Any) -> None:
            result = hook(module, out, prefix, meta)
            if result is not None and result is not out:
                out.clear()
                out.update(result)

        return self._add_state_hook("_state_dict_hooks", run)

    def _upgrade_state_dict(
        self, state_dict: dict[str, Any], prefix: str, version: Optional[int], error_msgs: list[str]
    ) -> None:
        """Edits ``state_dict`` (the copy ``load_state_dict`` made) before this module's load
        pre-hooks, as PyTorch's ``_load_from_state_dict`` overrides do before calling
        ``super()``: upgrades a layout saved by an older ``_version`` (``version``, from the
        state's ``_metadata``; ``None`` when it has none), or reports one it cannot load in
        ``error_msgs``. A hook rather than an override, so such a module's copies still wait
        for the end of the load; most modules have none."""

    def _complete_state_dict(self, state_dict: dict[str, Any], prefix: str) -> None:
        """Adds to ``state_dict`` (a copy made by ``load_state_dict``) the keys under
        ``prefix`` that older exports of this module lack, as PyTorch's load pre-hooks do
        (called by ``_load_from_state_dict`` after them); most modules have none."""

    def load_state_dict(
        self, state_dict: Any, strict: bool = True, assign: bool = False
    ) -> IncompatibleKeys:
        """Copies values into the existing tensors; returns ``(missing_keys, unexpected_keys)``
        as a named tuple. Each module loads its own keys (``_load_from_state_dict``, which
        subclasses may override). With ``strict``, any missing or unexpected key raises
        ``StateDictError`` (a ``RuntimeError`` and ``KeyError``) and loads nothing (but what
        ``_load_from_state_dict`` overrides loaded themselves, and unless load-state-dict
        post-hooks are registered: see ``register_load_state_dict_post_hook``, and its
        pre-hook counterpart for renaming keys). A value of the wrong shape is not loaded and
        raises once the others are (``strict=False``). With ``assign``, the loaded tensors
        replace the module's instead (as PyTorch's: a parameter becomes a ``Parameter`` of
        the loaded tensor, keeping its ``requires_grad``)."""
        if not isinstance(state_dict, Mapping):
            raise ArgumentTypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        metadata = getattr(state_dict, "_metadata", None)
        state_dict = OrderedDict(state_dict)  # a copy the modules (and hooks) may complete
        if metadata is not None:
            state_dict._metadata = metadata  # type: ignore[attr-defined]
        missing: list[str] = []
        reported: list[str] = []  # unexpected keys that hooks and overrides append
        errors: list[str] = []
        run = _load_state.LoadRun(state_dict)
        outer, _load_state.active.run = _load_state.active.run, run
        base = Module._load_from_state_dict
        try:
            for name, m in self.named_modules(remove_duplicate=False):
                # The module's saved metadata (its ``version``); empty for a state without any.
                meta = {} if metadata is None else metadata.get(name, {})
                if assign:
                    meta["assign_to_params_buffers"] = assign
                run.defer = m if type(m)._load_from_state_dict is base else None
                m._load_from_state_dict(
                    state_dict, f"{name}." if name else "", meta, True, missing, reported, errors
                )
        finally:
            _load_state.active.run = outer
        keys = IncompatibleKeys(missing, [*run.unexpected(), *reported])
        # Post-hooks may forgive keys, so with them the check comes after the copy, as in
        # PyTorch; without, a strict load checks first and changes nothing.
        posts = [m for m in _post_order(self) if _has_hooks(m, "_load_state_dict_post_hooks")]
        context = f"Error(s) in loading state_dict for {type(self).__name__}"
        error = _SizeMismatchError if run.mismatched else StateDictError
        if strict and not posts and (errors or not keys.all_matched()):
            raise error(_load_error(context, [*keys.messages(), *errors]))
        run.finish()
        for m in posts:
            for hook in list(m.__dict__["_load_state_dict_post_hooks"].values()):
                if hook(m, keys) is not None:
                    raise RuntimeError(
                        "Hooks registered with ``register_load_state_dict_post_hook`` are not "
                        "expected to return new values, if incompatible_keys need to be "
                        "modified, it should be done inplace."
                    )
        if strict and not keys.all_matched():
            raise error(_load_error(context, [*keys.messages(), *errors]))
        if errors:  # PyTorch lists the keys only when ``strict``
            raise error(_load_error(context, errors))
        return keys

    # ---- modes and devices -------------------------------------------------------------------

    def train(self: M, mode: bool = True) -> M:
        """Sets ``training`` here and calls ``train(mode)`` on each child, as PyTorch's (so
        a submodule that overrides ``train`` is honoured); returns ``self``."""
        if not isinstance(mode, bool):
            raise InvalidValueError("training mode is expected to be boolean")
        object.__setattr__(self, "training", mode)
        for m in self.children():
            m.train(mode)
        return self

    def eval(self: M) -> M:
        return self.train(False)

    def requires_grad_(self: M, requires_grad: bool = True) -> M:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drops each parameter's ``.grad`` or, without ``set_to_none``, zeroes it in place
        (the same tensor, detached first, as PyTorch's and the optimizers')."""
        for p in self.parameters():
            grad = p.grad
            if grad is None:
                continue
            if set_to_none:
                p.grad = None
                continue
            if grad.grad_fn is not None:
                grad.detach_()
            else:
                grad.requires_grad_(False)
            grad.zero_()

    def _apply(self: M, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> M:
        """PyTorch's: each child's ``_apply(fn)`` (with ``recurse``), then each of this
        module's parameters and buffers goes through ``fn``; ``to``, ``float``, ``cuda``, ...
        call it, so an override (moving a plain tensor attribute too) is honoured. A
        converted parameter keeps its object (``p.data = fn(p)``, its ``.grad`` converted the
        same way), so optimizers built before ``.double()`` or ``.cuda()`` and weights tied
        across modules stay valid (a tied one's later visits find it converted: ``fn``
        returns it as it is)."""
        if _core.is_grad_enabled():  # one ``no_grad`` for the whole walk
            with no_grad():
                return self._apply(fn, recurse)
        if recurse and self._modules:
            seen: set[int] = set()  # a child held under several names runs once
            for m in self._modules.values():
                if m is not None and id(m) not in seen:
                    seen.add(id(m))
                    m._apply(fn)
        for p in self._parameters.values():
            if p is not None:
                _converted(p, fn)
        buffers = self._buffers
        for n, b in buffers.items():
            if b is not None:
                out = fn(b)
                if hasattr(b, "materialize") and type(out) is not type(b):
                    # A lazy module's placeholder stays one, in the new dtype and device.
                    out = type(b)(b.requires_grad, out.device, out.dtype)
                buffers[n] = out
        return self

    def to(self: M, *args: Any, **kwargs: Any) -> M:
        """``to(device)``, ``to(dtype)`` or both: floating-point parameters and buffers move
        (which ``Parameter`` objects survive: see ``_apply``). ``memory_format=`` is
        checked and accepted, but parameters and buffers stay row-major: the fused optimizers
        step dense row-major memory, and a layout changes no value (convolutions take
        channels-last inputs as they come)."""
        fmt = kwargs.pop("memory_format", None)
        if "tensor" in kwargs:  # ``to(tensor=t)``: t's device and dtype, as ``to(t)``
            args = (kwargs.pop("tensor"), *args)
        _check_to_args(args)
        for dt in [*args, kwargs.get("dtype")]:
            if isinstance(dt, _core.dtype) and not (
                dt.is_floating_point or getattr(dt, "is_complex", False)
            ):
                raise DTypeError(
                    "nn.Module.to only accepts floating point or complex dtypes, but got "
                    f"desired dtype={dt}"
                )
        if fmt is not None:
            _core.empty(0).is_contiguous(memory_format=fmt)  # (a TypeError naming a bad value)

        def conv(t: Tensor) -> Tensor:
            if not t.dtype.is_floating_point:
                dev = [a for a in args if not isinstance(a, _core.dtype)]
                return t.to(*dev, **{k: v for k, v in kwargs.items() if k == "device"})
            return t.to(*args, **kwargs)

        return self._apply(conv)

    def to_empty(self: M, *, device: Any, recurse: bool = True) -> M:
        """Moves the parameters and buffers to ``device`` without copying their values, as
        PyTorch's (they are left uninitialised: call ``reset_parameters`` or load a state
        next); with ``recurse=False``, only this module's own."""
        return self._apply(lambda t: _core.empty(t.shape, dtype=t.dtype, device=device), recurse)

    def to_device(self: M, device: Any) -> M:
        return self.to(device)

    def float(self: M) -> M:
        return self.to(_core.float32)

    def double(self: M) -> M:
        return self.to(_core.float64)

    def half(self: M) -> M:
        return self.to(_core.float16)

    def bfloat16(self: M) -> M:
        return self.to(_core.bfloat16)

    def type(self: M, dst_type: Any) -> M:
        """Casts every parameter and buffer to ``dst_type`` (a dtype or a name such as
        ``"torch.DoubleTensor"``), as PyTorch's ``Module.type``."""
        return self._apply(lambda t: cast(Tensor, t.type(dst_type)))

    def cpu(self: M) -> M:
        return self.to("cpu")

    def share_memory(self: M) -> M:
        """Moves parameters, their gradients and buffers into shared memory
        (``Tensor.share_memory_``), so that processes forked afterwards train the same weights
        (Hogwild)."""
        for t in [*self.parameters(), *self.buffers()]:
            t.share_memory_()
            grad = t.grad
            if grad is not None:
                t.grad = grad.share_memory_()
        return self

    def cuda(self: M, device: Any = None) -> M:
        """Moves parameters and buffers to ``cuda:device`` (device 0 by default)."""
        if device is None:
            return self.to("cuda:0")
        return self.to(_core.Device.cuda(device) if isinstance(device, int) else device)

    def compile(self, *args: Any, **kwargs: Any) -> None:
        """PyTorch's ``Module.compile``: takes ``torch.compile``'s arguments and returns
        ``None``. democratising runs eagerly (see ``democratising.compile``), so calls keep
        computing exactly what ``forward`` does."""
        from .._pytorch_compat import compile as _compile

        _compile(self, *args, **kwargs)

    def apply(self: M, fn: Callable[[Module], None]) -> M:
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- calling -----------------------------------------------------------------------------

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function'
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``forward`` between the forward pre-hooks and forward hooks, as in PyTorch. A module
        without hooks goes straight to ``forward``; while a global hook is registered
        (``register_module_forward_hook``...), ``Module.__call__`` is ``_call_with_globals``."""
        d = self.__dict__
        if (
            d.get("_forward_pre_hooks")
            or d.get("_forward_hooks")
            or d.get("_backward_hooks")
            or d.get("_backward_pre_hooks")
        ):
            return self._call_hooked(args, kwargs, False)
        return self._call_forward(*args, **kwargs)

    def _call_with_globals(self, *args: Any, **kwargs: Any) -> Any:
        """``Module.__call__`` while global module hooks are registered."""
        return self._call_hooked(args, kwargs, True)

    def _call_hooked(self, args: tuple[Any, ...], kwargs: dict[str, Any], glob: bool) -> Any:
        """A call with hooks, as PyTorch's ``_call_impl``: the global hooks (with ``glob``)
        before the module's own, forward pre-hooks, ``forward``, forward hooks, and gates for
        the full backward (pre-)hooks when grad mode is on."""
        d = self.__dict__
        pre = d.get("_forward_pre_hooks")
        pre = list(pre.values()) if pre else []
        if glob and _global_forward_pre_hooks:
            pre[:0] = _global_forward_pre_hooks.values()
        post = None  # read after ``forward``, as PyTorch (a pre-hook may add forward hooks)
        out = None
        ran: Any = ()  # ids of the forward hooks started so far
        try:
            for hook, kw in pre:
                if kw:
                    result = hook(self, args, kwargs)
                    if result is not None:
                        if not (isinstance(result, tuple) and len(result) == 2):
                            raise RuntimeError(
                                "forward pre-hook must return None or a tuple of "
                                f"(new_args, new_kwargs), but got {result}."
                            )
                        args, kwargs = result
                else:
                    result = hook(self, args)
                    if result is not None:
                        args = result if isinstance(result, tuple) else (result,)
            backward = None
            if (
                d.get("_backward_hooks")
                or d.get("_backward_pre_hooks")
                or (glob and (_global_backward_hooks or _global_backward_pre_hooks))
            ) and _core.is_grad_enabled():
                backward = _BackwardHooks(self, glob)
                args = backward.setup_inputs(args)
            out = self._call_forward(*args, **kwargs)
            post = _hook_list(_global_forward_hooks, d.get("_forward_hooks"), glob)
            if post:
                ran = set()
            for hid, (hook, kw) in post:
                ran.add(hid)
                result = hook(self, args, kwargs, out) if kw else hook(self, args, out)
                if result is not None:
                    out = result
            if backward is not None:
                out = backward.setup_outputs(out)
            return out
        except Exception:
            always = d.get("_forward_hooks_always_called")
            if always or (glob and _global_forward_hooks_always_called):
                always = {**_global_forward_hooks_always_called, **(always or {})}
                if post is None:
                    post = _hook_list(_global_forward_hooks, d.get("_forward_hooks"), glob)
                _run_always_called_hooks(self, post, always, args, kwargs, out, ran)
            raise

    def _call_forward(self, *args: Any, **kwargs: Any) -> Any:
        """``forward``, checkpointed when ``enable_checkpointing`` asked for it."""
        if self.__dict__.get("_checkpointing") and _core.is_grad_enabled():
            # (The hook-based path directly: the forward's keywords, ``src_mask=`` of a
            # transformer layer, cannot clash with ``checkpoint()``'s own.)
            from ..utils._checkpoint_hooked import _checkpoint_hooked
            from ..utils.checkpoint import noop_context_fn

            return _checkpoint_hooked(
                self.forward,
                args,
                kwargs,
                preserve_rng_state=True,
                context_fn=noop_context_fn,
                check=True,
                early_stop=True,
            )
        try:
            return self.forward(*args, **kwargs)
        except AttributeError as e:
            # ``layer(None)`` or ``layer([1, 2])``: the forward's first tensor method fails on
            # the non-tensor. Named as PyTorch's TypeError, on the error path only.
            x = args[0] if args else None
            if (
                args
                and not isinstance(x, Tensor)
                and type(x).__name__ in str(e)
                and type(self).__module__.startswith("democratising.")
            ):
                raise ArgumentTypeError(
                    f"{type(self).__name__}.forward(): expected a Tensor input, got "
                    f"{type(x).__name__}"
                ) from e
            raise

    def enable_checkpointing(self: M, enabled: bool = True) -> M:
        """Recompute this module's activations in backward instead of storing them
        (``Sequential`` checkpoints each segment of its children separately)."""
        object.__setattr__(self, "_checkpointing", enabled)
        return self

    def forward_amp(self, *args: Any, dtype: Any = None, **kwargs: Any) -> Any:
        """``forward`` under ``amp.autocast``: in float16 unless ``dtype`` says otherwise;
        inside an enclosing ``autocast`` block (enabled or not), as that block says."""
        from ..amp import autocast

        if dtype is None and _core._get_autocast() is not None:
            return self(*args, **kwargs)
        with autocast(dtype=dtype or _core.float16):
            return self(*args, **kwargs)

    def extra_repr(self) -> str:
        return ""

    def _get_name(self) -> str:
        """The class name ``__repr__`` starts with (PyTorch's; custom reprs call it)."""
        return type(self).__name__

    def __repr__(self) -> str:
        """PyTorch's: a one-line ``extra_repr`` of a module without children stays inline;
        otherwise each line of it, then each child, on its own indented line."""
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        n_extra = len(lines)
        for n, m in self._modules.items():
            lines.append(f"({n}): " + repr(m).replace("\n", "\n  "))
        head = f"{self._get_name()}("
        if not lines:
            return head + ")"
        if n_extra == 1 and len(lines) == 1:
            return head + lines[0] + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"

    def __dir__(self) -> list[str]:
        """PyTorch's: the class's and instance's attributes plus the registered parameters,
        buffers and children, without names that are not identifiers (``0``, ``1``, ...)."""
        keys = [
            *dir(type(self)),
            *self.__dict__,
            *self._parameters,
            *self._modules,
            *self._buffers,
        ]
        return sorted({k for k in keys if not k[:1].isdigit()})


_load_state.base_set_extra = Module.set_extra_state


def _hook_list(
    global_hooks: dict[int, Any], own: Optional[dict[int, Any]], glob: bool
) -> list[tuple[int, Any]]:
    """A snapshot of ``(id, entry)`` for a call: the global hooks first (with ``glob``), then
    the module's own, as PyTorch runs them."""
    items = list(own.items()) if own else []
    if glob and global_hooks:
        items[:0] = global_hooks.items()
    return items


def _run_always_called_hooks(
    module: Module,
    post: list[tuple[int, Any]],
    always: Mapping[int, Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    out: Any,
    ran: set[int],
) -> None:
    """After a call raised: the ``always_call`` forward hooks of ``post`` that have not run
    yet, in order, each given the previous one's replacement output. Their own errors become
    warnings, so the call's error is the one raised (as PyTorch)."""
    import warnings

    for hid, (hook, kw) in post:
        if hid not in always or hid in ran:
            continue
        try:
            result = hook(module, args, kwargs, out) if kw else hook(module, args, out)
        except Exception as e:
            warnings.warn(
                "module forward hook with ``always_call=True`` raised an exception that "
                f"was silenced as another error was raised in forward: {e}",
                stacklevel=4,
            )
            continue
        if result is not None:
            out = result


# PyTorch's global module hooks (``nn.modules.module.register_module_forward_hook``...), run
# for every module before its own hooks, each ``{id: (hook, with_kwargs)}`` as a module's.
_global_forward_pre_hooks: OrderedDict[int, Any] = OrderedDict()
_global_forward_hooks: OrderedDict[int, Any] = OrderedDict()
_global_forward_hooks_always_called: OrderedDict[int, bool] = OrderedDict()
_global_backward_hooks: OrderedDict[int, Any] = OrderedDict()
_global_backward_pre_hooks: OrderedDict[int, Any] = OrderedDict()


# PyTorch's global registration hooks, ``{id: hook}``: ``hook(module, name, value)`` runs as a
# parameter, buffer or child module is registered, and may return a replacement value.
_global_parameter_registration_hooks: OrderedDict[int, Any] = OrderedDict()
_global_buffer_registration_hooks: OrderedDict[int, Any] = OrderedDict()
_global_module_registration_hooks: OrderedDict[int, Any] = OrderedDict()


def _registered(hooks: dict[int, Any], module: Module, name: str, value: Any) -> Any:
    """``value`` after each registration hook of ``hooks`` (a result other than ``None``
    replaces it for the next)."""
    for hook in list(hooks.values()):
        result = hook(module, name, value)
        if result is not None:
            value = result
    return value


def _add_registration_hook(hooks: dict[int, Any], hook: Callable[..., Any]) -> RemovableHandle:
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    return handle


def register_module_parameter_registration_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """PyTorch's global ``hook(module, name, param)``, run as any module registers a
    parameter (``register_parameter`` or assigning a ``Parameter``); a result other than
    ``None`` is registered instead."""
    return _add_registration_hook(_global_parameter_registration_hooks, hook)


def register_module_buffer_registration_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """PyTorch's global ``hook(module, name, buffer)``, run as any module registers a buffer
    (``register_buffer`` or assigning to a buffer's name); a result other than ``None`` is
    registered instead."""
    return _add_registration_hook(_global_buffer_registration_hooks, hook)


def register_module_module_registration_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """PyTorch's global ``hook(module, name, submodule)``, run as any module registers a
    child (``add_module`` or assigning a ``Module``); a result other than ``None`` is
    registered instead."""
    return _add_registration_hook(_global_module_registration_hooks, hook)


def _sync_global_call() -> None:
    """Points ``Module.__call__`` at the variant that runs global hooks while any is
    registered, and back at the plain one (which never looks at them) once none is."""
    active = (
        _global_forward_pre_hooks
        or _global_forward_hooks
        or _global_backward_hooks
        or _global_backward_pre_hooks
    )
    Module.__call__ = Module._call_with_globals if active else _plain_call  # type: ignore[method-assign]


class _GlobalHandle(RemovableHandle):
    """The handle of a global module hook: removing it may restore the plain ``__call__``."""

    def remove(self) -> None:
        super().remove()
        _sync_global_call()


def _add_global_hook(
    hooks: OrderedDict[int, Any], hook: Callable[..., Any], kw: bool, always_call: bool = False
) -> RemovableHandle:
    always = _global_forward_hooks_always_called if always_call else None
    handle = _GlobalHandle(hooks, always)
    hooks[handle.id] = (hook, kw)
    if always is not None:
        always[handle.id] = True
    _sync_global_call()
    return handle


def register_module_forward_pre_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """PyTorch's global forward pre-hook: ``hook(module, args)`` before every module's own
    forward pre-hooks (a result other than ``None`` replaces the arguments)."""
    return _add_global_hook(_global_forward_pre_hooks, hook, False)


def register_module_forward_hook(
    hook: Callable[..., Any], *, with_kwargs: bool = False, always_call: bool = False
) -> RemovableHandle:
    """PyTorch's global forward hook: ``hook(module, args, output)`` (with ``with_kwargs``,
    ``hook(module, args, kwargs, output)``) after every module's ``forward``, before its own
    forward hooks; ``always_call`` as ``Module.register_forward_hook``'s."""
    return _add_global_hook(_global_forward_hooks, hook, with_kwargs, always_call)


def register_module_full_backward_pre_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """PyTorch's global ``hook(module, grad_output)``, run for every module before its own
    (see ``Module.register_full_backward_pre_hook``)."""
    return _add_global_hook(_global_backward_pre_hooks, hook, False)


def register_module_full_backward_hook(hook: Callable[..., Any]) -> RemovableHandle:
    """PyTorch's global ``hook(module, grad_input, grad_output)``, run for every module
    before its own (see ``Module.register_full_backward_hook``)."""
    return _add_global_hook(_global_backward_hooks, hook, False)


def consume_prefix_in_state_dict_if_present(state_dict: dict[str, Any], prefix: str) -> None:
    """Strips ``prefix`` from the keys of ``state_dict`` that start with it, in place, and
    from its ``_metadata`` keys, as PyTorch's ``nn.modules.utils`` function: how a state saved
    from a wrapped model (``"module."`` of ``DataParallel``/DDP) loads into the bare one."""
    for key in list(state_dict):
        if key.startswith(prefix):
            state_dict[key[len(prefix) :]] = state_dict.pop(key)
    metadata = getattr(state_dict, "_metadata", None)
    if metadata is not None:
        for key in list(metadata):
            # '' is the wrapper's own entry; the wrapped model's is the bare prefix
            if key and (key == prefix.replace(".", "") or key.startswith(prefix)):
                metadata[key[len(prefix) :]] = metadata.pop(key)


def _gate(values: tuple[Any, ...], on_grads: Callable[[tuple[Any, ...]], Any]) -> Any:
    """``values`` with each tensor that requires grad replaced by an identity of it whose
    gradients, once all of them are known, go through ``on_grads`` together (a tuple as long
    as ``values``, ``None`` where there is none; it returns the gradients to pass on, alike).
    The identities feed one gate node, which the engine runs after all of them, and the gate
    hands the gradients to the original tensors. Returns ``(new values, positions)``, or
    ``(values, None)`` when no tensor requires grad (PyTorch's ``BackwardHook`` nodes)."""
    pos = [i for i, v in enumerate(values) if isinstance(v, Tensor) and v.requires_grad]
    if not pos:
        return values, None
    tensors = [values[i] for i in pos]
    grads: list[Any] = [None] * len(values)
    zero = _core.zeros(1, device=tensors[0].device)

    def gate_backward(_: Tensor) -> list[Any]:
        got = tuple(grads)
        grads[:] = [None] * len(values)
        res = on_grads(got)
        return [res[i] for i in pos]

    gate = _core._record_function(zero, tensors, gate_backward, differentiable=True)

    def identity(i: int) -> Tensor:
        def backward(g: Tensor) -> list[Tensor]:
            grads[i] = g
            return [zero]

        return _core._record_function(values[i], [gate], backward, differentiable=True)

    new = list(values)
    for i in pos:
        new[i] = identity(i)
    return tuple(new), pos


class _BackwardHooks:
    """One call's full backward (pre-)hooks, as PyTorch's ``torch.utils.hooks.BackwardHook``:
    gates on the positional inputs and on the outputs collect ``grad_input`` and
    ``grad_output`` and run the module's hooks on them."""

    def __init__(self, module: Module, glob: bool = False) -> None:
        self.module = module
        d = module.__dict__
        self.hooks = [
            h for _, (h, _) in _hook_list(_global_backward_hooks, d.get("_backward_hooks"), glob)
        ]
        self.pre_hooks = [
            h
            for _, (h, _) in _hook_list(
                _global_backward_pre_hooks, d.get("_backward_pre_hooks"), glob
            )
        ]
        self.grad_outputs: Optional[tuple[Any, ...]] = None
        self.n_inputs = 0
        self.input_pos: Optional[list[int]] = None
        self.input_specs: dict[int, tuple[tuple[int, ...], Any, Any]] = {}
        self.output_specs: list[Any] = []

    def setup_inputs(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        self.n_inputs = len(args)
        new, self.input_pos = _gate(args, self._on_input_grads)
        # PyTorch's hook node materialises zeros for the tensor inputs that got no gradient.
        self.input_specs = {
            i: (tuple(a.shape), a.dtype, a.device)
            for i, a in enumerate(args)
            if isinstance(a, Tensor)
        }
        return new  # type: ignore[no-any-return]

    def setup_outputs(self, out: Any) -> Any:
        outs = out if isinstance(out, tuple) else (out,)
        new, pos = _gate(outs, self._on_output_grads)
        if pos is None:
            return out
        self.output_specs = [
            (tuple(o.shape), o.dtype, o.device)
            if isinstance(o, Tensor) and o.requires_grad
            else None
            for o in outs
        ]
        return new if isinstance(out, tuple) else new[0]

    def _on_output_grads(self, grads: tuple[Any, ...]) -> tuple[Any, ...]:
        local = _run_grad_hooks(
            self.pre_hooks,
            lambda hook, g: hook(self.module, g),
            grads,
            "Backward pre hook returned an invalid number of grad_output",
        )
        self.grad_outputs = local
        if self.input_pos is None:  # no input requires grad: the hooks run now
            none = (None,) * self.n_inputs
            for hook in self.hooks:
                result = hook(self.module, none, self.grad_outputs)
                if result is not None and not all(r is None for r in result):
                    raise AutogradError(
                        "Backward hook for Modules where no input requires gradient should "
                        "always return None or None for all gradients."
                    )
            self.grad_outputs = None
        # A ``None`` gradient (a pre-hook's) flows on as zeros, as PyTorch's hook node makes
        # it, so the input gate still fires and the backward hooks run.
        return tuple(
            _core.zeros(spec[0], dtype=spec[1], device=spec[2])
            if g is None and spec is not None
            else g
            for g, spec in zip(local, self.output_specs)
        )

    def _on_input_grads(self, grads: tuple[Any, ...]) -> tuple[Any, ...]:
        if self.grad_outputs is None:  # the gradient did not come through the outputs
            return grads
        grad_outputs = self.grad_outputs
        grads = tuple(
            _core.zeros(
                self.input_specs[i][0], dtype=self.input_specs[i][1], device=self.input_specs[i][2]
            )
            if g is None and i in self.input_specs
            else g
            for i, g in enumerate(grads)
        )
        res = _run_grad_hooks(
            self.hooks,
            lambda hook, g: hook(self.module, g, grad_outputs),
            grads,
            "Backward hook returned an invalid number of grad_input",
        )
        self.grad_outputs = None
        return res


def _run_grad_hooks(
    hooks: list[Any], call: Callable[[Any, tuple[Any, ...]], Any], grads: tuple[Any, ...], what: str
) -> tuple[Any, ...]:
    """Runs backward hooks in order, each as ``call(hook, grads)``: a result other than
    ``None`` (checked to keep the number and shapes of the gradients, else ``what`` is raised
    as PyTorch words it) replaces ``grads`` for the next hook. Returns the final gradients;
    the pre hooks on ``grad_output`` and the hooks on ``grad_input`` chain alike."""
    for hook in hooks:
        result = call(hook, grads)
        if result is None:
            continue
        if len(result) != len(grads):
            raise AutogradError(f"{what}, got {len(result)}, but expected {len(grads)}")
        _check_sizes(hook, grads, result)
        grads = tuple(result)
    return grads


def _check_sizes(hook: Any, before: tuple[Any, ...], after: Any) -> None:
    """PyTorch's check that a backward hook kept each gradient's shape."""
    for old, new in zip(before, after):
        if isinstance(old, Tensor) and isinstance(new, Tensor) and old.shape != new.shape:
            name = getattr(hook, "__name__", repr(hook))
            raise ShapeError(f"hook '{name}' has changed the size of value")


def _check_to_args(args: tuple[Any, ...]) -> None:
    """PyTorch's positional forms of ``Module.to``: ``(device, dtype, non_blocking)``,
    ``(dtype, non_blocking)`` or ``(tensor, non_blocking)``, each part optional but in that
    order; anything else (a second dtype, ...) raises ``TypeError``."""
    rank = 0  # 1: a device or tensor seen, 2: a dtype, 3, 4: the flags
    for a in args:
        if isinstance(a, bool):  # ``non_blocking``, then ``copy``
            got = 4 if rank == 3 else 3
        elif isinstance(a, _core.dtype):
            got = 2
        elif a is None or isinstance(a, (str, int, Tensor, _core.Device)):
            got = 1
        else:
            got = 0
        if got <= rank or (got == 2 and isinstance(args[0], Tensor)):
            raise ArgumentTypeError(
                "to() received an invalid combination of arguments - got "
                f"({', '.join(type(x).__name__ for x in args)})"
            )
        rank = got


def _converted(p: Parameter, fn: Callable[[Tensor], Tensor]) -> None:
    """Points ``p`` at ``fn(p)`` (see ``Module._apply``), its grad converted alike."""
    new = fn(p)
    if new is p:
        return
    grad = p.grad
    p.data = new
    if grad is not None:
        p.grad = fn(grad)


def _is_buffer_value(value: Any) -> bool:
    """What a buffer may hold: a tensor, or a sparse COO tensor (``dm.sparse.SparseTensor``,
    not a ``Tensor`` subclass: an adjacency matrix kept with a graph model, as in PyTorch)."""
    return isinstance(value, Tensor) or getattr(value, "is_sparse", False) is True


def _assign_error(value: Any, kind: str, name: str, expected: str) -> ArgumentTypeError:
    """PyTorch's error for assigning ``value`` to the registered ``kind`` slot ``name`` (a
    parameter, child module or buffer) that takes only ``expected`` or ``None``."""
    return ArgumentTypeError(
        f"cannot assign '{_typename(value)}' as {kind} '{name}' ({expected} or None expected)"
    )


def _clear_slot(registry: dict[str, Any], name: str, value: Any, kind: str, expected: str) -> None:
    """Assigning to a parameter's or child module's name something not of its kind: ``None``
    empties the slot (the name stays registered), anything else is refused."""
    if value is not None:
        raise _assign_error(value, kind, name, expected)
    registry[name] = None


def _typename(value: Any) -> str:
    """PyTorch's ``torch.typename``: ``torch.FloatTensor`` for a tensor, ``int`` for a
    built-in, ``module.Class`` otherwise (names errors about a value of the wrong kind)."""
    if isinstance(value, Tensor):
        return str(value.type())
    cls = type(value)
    module = cls.__module__ or ""
    return cls.__qualname__ if module in ("", "builtins") else f"{module}.{cls.__qualname__}"


_plain_call = Module.__call__
