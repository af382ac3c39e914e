"""``Module``: the base class of every layer and model. Attributes that are ``Parameter``s,
``Module``s or registered buffers are tracked automatically, as in PyTorch."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any, Callable, NamedTuple, Optional, TypeVar

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad
from ..errors import DTypeError, ShapeError, StateDictError
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


M = TypeVar("M", bound="Module")


class RemovableHandle:
    """What ``register_forward_hook`` and ``register_forward_pre_hook`` return (PyTorch's
    ``torch.utils.hooks.RemovableHandle``): ``remove()`` unregisters the hook, as does leaving
    a ``with`` block on the handle."""

    _next_id = 0

    def __init__(self, hooks: dict[int, Any]) -> None:
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        """Unregisters the hook (a no-op if it is already removed)."""
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class Module:
    """Base class for layers and models: subclass it and implement ``forward``."""

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration ------------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError("cannot assign attributes before Module.__init__() is called")
        for d in (self._parameters, self._buffers, self._modules):
            d.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self.__dict__.get("_buffer_names", ()):
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            if key in d and name in d[key]:
                return d[key][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for d in (self._parameters, self._buffers, self._modules):
            if name in d:
                del d[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Optional[Parameter]) -> None:
        if param is None:
            self._parameters[name] = None
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, tensor: Optional[Tensor], persistent: bool = True) -> None:
        """A tensor that is part of the state (saved in ``state_dict``) but not trained."""
        names = self.__dict__.setdefault("_buffer_names", set())
        names.add(name)
        if not persistent:
            self.__dict__.setdefault("_non_persistent", set()).add(name)
        self.__dict__.pop(name, None)
        self._buffers[name] = tensor

    def register_module(self, name: str, module: Optional[Module]) -> None:
        self._modules[name] = module

    add_module = register_module

    def _add_hook(
        self, kind: str, hook: Callable[..., Any], prepend: bool, kw: bool
    ) -> RemovableHandle:
        """Stores ``(hook, with_kwargs)`` in the ``kind`` dict (made on first use, so modules
        without hooks pay nothing in ``__call__``) and returns its handle."""
        hooks = self.__dict__.setdefault(kind, OrderedDict())
        handle = RemovableHandle(hooks)
        hooks[handle.id] = (hook, kw)
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
        self, hook: Callable[..., Any], *, prepend: bool = False, with_kwargs: bool = False
    ) -> RemovableHandle:
        """``hook(module, args, output)`` runs after ``forward``; a result other than ``None``
        replaces the output. With ``with_kwargs`` it is ``hook(module, args, kwargs, output)``."""
        return self._add_hook("_forward_hooks", hook, prepend, with_kwargs)

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

    # ---- traversal ---------------------------------------------------------------------------

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()

        def walk(m: Module, p: str) -> Iterator[tuple[str, Module]]:
            if id(m) in seen:
                return
            seen.add(id(m))
            yield p, m
            for n, c in m._modules.items():
                if c is not None:
                    yield from walk(c, f"{p}.{n}" if p else n)

        yield from walk(self, prefix)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for n, m in self._modules.items():
            if m is not None:
                yield n, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """Parameters by dotted name; a parameter shared by several modules (tied weights) is
        yielded once, under its first name, unless ``remove_duplicate=False``."""
        seen: set[int] = set()
        mods = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mp, m in mods:
            for n, p in m._parameters.items():
                if p is None or (remove_duplicate and id(p) in seen):
                    continue
                seen.add(id(p))
                yield (f"{mp}.{n}" if mp else n), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        mods = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mp, m in mods:
            for n, b in m._buffers.items():
                if b is not None:
                    yield (f"{mp}.{n}" if mp else n), b

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
        themselves). Written into ``destination`` when given (and returned)."""
        out: dict[str, Any] = OrderedDict() if destination is None else destination
        for mp, m in self.named_modules():
            skip = m.__dict__.get("_non_persistent", set())
            head = f"{prefix}{mp}." if mp else prefix
            for n, p in m._parameters.items():
                if p is not None:
                    out[head + n] = p if keep_vars else p.detach()
            for n, b in m._buffers.items():
                if b is not None and n not in skip:
                    out[head + n] = b if keep_vars else b.detach()
        return out

    def _complete_state_dict(self, state_dict: dict[str, Any], prefix: str) -> None:
        """Adds to ``state_dict`` (a copy made by ``load_state_dict``) the keys under
        ``prefix`` that older exports of this module lack, as PyTorch's
        ``_load_from_state_dict`` upgrades do; most modules have none."""

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> IncompatibleKeys:
        """Copies values into the existing tensors; returns ``(missing_keys, unexpected_keys)``
        as a named tuple. With ``strict``, any missing or unexpected key raises
        ``StateDictError`` (a ``RuntimeError`` and ``KeyError``) and loads nothing."""
        state_dict = OrderedDict(state_dict)  # a copy the modules may complete
        for name, m in self.named_modules():
            m._complete_state_dict(state_dict, f"{name}." if name else "")
        keys = IncompatibleKeys.between(self.state_dict(), state_dict)
        if strict and (keys.missing_keys or keys.unexpected_keys):
            raise StateDictError(
                f"error loading state_dict for {type(self).__name__}: "
                f"missing keys {keys.missing_keys}, unexpected keys {keys.unexpected_keys}"
            )
        targets: dict[str, Tensor] = dict(self.named_parameters(remove_duplicate=False))
        targets.update(self.named_buffers())
        with no_grad():
            for k, v in state_dict.items():
                if k not in targets:
                    continue
                dst = targets[k]
                src = v if isinstance(v, Tensor) else _core.from_numpy(_as_array(v))
                if tuple(src.shape) != tuple(dst.shape):
                    raise ShapeError(
                        f"size mismatch for {k}: copying a param with shape {tuple(src.shape)}, "
                        f"the shape in the current model is {tuple(dst.shape)}"
                    )
                if src.dtype.is_floating_point != dst.dtype.is_floating_point:
                    raise DTypeError(f"dtype mismatch for {k}: {src.dtype} vs {dst.dtype}")
                dst.copy_(src)
        return keys

    # ---- modes and devices -------------------------------------------------------------------

    def train(self: M, mode: bool = True) -> M:
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self: M) -> M:
        return self.train(False)

    def requires_grad_(self: M, requires_grad: bool = True) -> M:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = _core.zeros(*p.shape, dtype=p.dtype, device=p.device)

    def _apply_tensors(self, fn: Callable[[Tensor], Tensor]) -> None:
        """PyTorch's ``Module._apply``: each parameter and buffer goes through ``fn``. A
        converted parameter keeps its object (``p.data = fn(p)``, its ``.grad`` converted the
        same way), so optimizers built before ``.double()`` or ``.cuda()`` and weights tied
        across modules stay valid."""
        done: set[int] = set()  # a parameter shared by several modules converts once
        with no_grad():
            for m in self.modules():
                for p in m._parameters.values():
                    if p is not None and id(p) not in done:
                        done.add(id(p))
                        _converted(p, fn)
                for n, b in list(m._buffers.items()):
                    if b is not None:
                        m._buffers[n] = fn(b)

    def to(self: M, *args: Any, **kwargs: Any) -> M:
        """``to(device)``, ``to(dtype)`` or both: floating-point parameters and buffers move
        (which ``Parameter`` objects survive: see ``_apply_tensors``)."""

        def conv(t: Tensor) -> Tensor:
            if not t.dtype.is_floating_point:
                dev = [a for a in args if not isinstance(a, _core.dtype)]
                return t.to(*dev, **{k: v for k, v in kwargs.items() if k == "device"})
            return t.to(*args, **kwargs)

        self._apply_tensors(conv)
        return self

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

    def cpu(self: M) -> M:
        return self.to("cpu")

    def cuda(self: M, device: Any = None) -> M:
        """Moves parameters and buffers to ``cuda:device`` (device 0 by default)."""
        if device is None:
            return self.to("cuda:0")
        return self.to(_core.Device.cuda(device) if isinstance(device, int) else device)

    def apply(self: M, fn: Callable[[Module], None]) -> M:
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ---- calling -----------------------------------------------------------------------------

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``forward`` between the forward pre-hooks and forward hooks, as in PyTorch."""
        pre = self.__dict__.get("_forward_pre_hooks")
        if pre:
            for hook, kw in list(pre.values()):
                if kw:
                    result = hook(self, args, kwargs)
                    if result is not None:
                        args, kwargs = result
                else:
                    result = hook(self, args)
                    if result is not None:
                        args = result if isinstance(result, tuple) else (result,)
        out = self._call_forward(*args, **kwargs)
        post = self.__dict__.get("_forward_hooks")
        if post:
            for hook, kw in list(post.values()):
                result = hook(self, args, kwargs, out) if kw else hook(self, args, out)
                if result is not None:
                    out = result
        return out

    def _call_forward(self, *args: Any, **kwargs: Any) -> Any:
        """``forward``, checkpointed when ``enable_checkpointing`` asked for it."""
        if self.__dict__.get("_checkpointing") and _core.is_grad_enabled() and not kwargs:
            from ..utils.checkpoint import checkpoint

            return checkpoint(self.forward, *args)
        return self.forward(*args, **kwargs)

    def enable_checkpointing(self: M, enabled: bool = True) -> M:
        """Recompute this module's activations in backward instead of storing them
        (``Sequential`` checkpoints each segment of its children separately)."""
        object.__setattr__(self, "_checkpointing", enabled)
        return self

    def forward_amp(self, *args: Any, dtype: Any = None) -> Any:
        """``forward`` under ``amp.autocast`` (float16 unless ``dtype`` says otherwise)."""
        from ..amp import autocast

        with autocast(dtype=dtype or _core.float16):
            return self(*args)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = []
        for n, m in self._modules.items():
            sub = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({n}): {sub}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n" + "\n".join(lines) + "\n)"


def _converted(p: Parameter, fn: Callable[[Tensor], Tensor]) -> None:
    """Points ``p`` at ``fn(p)`` (see ``Module._apply_tensors``), its grad converted alike."""
    new = fn(p)
    if new is p:
        return
    grad = p.grad
    p.data = new
    if grad is not None:
        p.grad = fn(grad)


def _as_array(v: Any) -> Any:
    import numpy as np

    return np.ascontiguousarray(np.asarray(v))
