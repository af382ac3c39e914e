"""``democratising.autograd.graph``: hooks on the tensors saved for backward
(``saved_tensors_hooks``, ``save_on_cpu``, ``disable_saved_tensors_hooks``) and
``register_multi_grad_hook``, as in ``torch.autograd.graph``."""

from __future__ import annotations

import abc
import functools
import threading
from collections.abc import Sequence
from typing import Any, Callable, Optional, TypeVar

from . import (
    _accumulate_grad,  # noqa: F401 - AccumulateGrad's hooks and metadata
    _core,
)
from ._core import AccumulateGrad, GradFn, Tensor
from .errors import AutogradError, InvalidValueError

__all__ = [
    "Node",
    "disable_saved_tensors_hooks",
    "register_multi_grad_hook",
    "save_on_cpu",
    "saved_tensors_hooks",
]

_F = TypeVar("_F", bound=Callable[..., Any])


class Node(abc.ABC):  # noqa: B024 - an isinstance target, as PyTorch's
    """``torch.autograd.graph.Node``: what ``grad_fn`` and the ``AccumulateGrad`` ends of
    ``next_functions`` are (``isinstance(fn, Node)`` holds for both). Nodes have ``name()``,
    ``next_functions``, ``register_hook``, ``register_prehook`` and ``metadata``."""


Node.register(GradFn)
Node.register(AccumulateGrad)

_state = threading.local()


def _disabled_message() -> Optional[str]:
    return getattr(_state, "disabled", None)


# The saved-tensor hook pairs in force on each thread, innermost last, as the engine's own
# stack (which has no getter): custom Functions' ``save_for_backward`` packs with the same pair.
_hook_state = threading.local()
_hooks_in_force = 0  # on all threads: while 0, ``current_saved_tensors_hooks`` looks nothing up
_hooks_lock = threading.Lock()


def current_saved_tensors_hooks() -> Optional[
    tuple[Callable[[Tensor], Any], Callable[[Any], Tensor]]
]:
    """The innermost ``(pack_hook, unpack_hook)`` in force on this thread, if any."""
    if not _hooks_in_force:
        return None
    stack = getattr(_hook_state, "stack", None)
    return stack[-1] if stack else None


def _count_hooks(delta: int) -> None:
    global _hooks_in_force
    with _hooks_lock:
        _hooks_in_force += delta


def modified_inplace(what: str, t: Tensor, expected: int) -> AutogradError:
    """PyTorch's error for a tensor a backward needs that was written in place since it was
    saved (``what`` says which: "a tensor saved by save_for_backward", ...)."""
    return AutogradError(
        "one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: {what} of shape {list(t.shape)} is at version {t._version}; "
        f"expected version {expected} instead"
    )


class saved_tensors_hooks:  # noqa: N801 (PyTorch's name)
    """Within this context every tensor an op saves for its backward goes through
    ``pack_hook(tensor) -> packed`` (any object, kept instead of the tensor) and comes back
    through ``unpack_hook(packed) -> tensor`` when the backward reads it: offload activations,
    compress them, or count them. The hooks are per thread and nest (the innermost wins); they
    apply to ops recorded inside the context, whenever their backward runs."""

    def __init__(
        self, pack_hook: Callable[[Tensor], Any], unpack_hook: Callable[[Any], Tensor]
    ) -> None:
        self.pack_hook = pack_hook
        self.unpack_hook = unpack_hook

    def __enter__(self) -> saved_tensors_hooks:
        message = _disabled_message()
        if message is not None:
            raise RuntimeError(message)
        _core._push_saved_tensors_hooks(self.pack_hook, self.unpack_hook)
        stack = getattr(_hook_state, "stack", None)
        if stack is None:
            stack = _hook_state.stack = []
        stack.append((self.pack_hook, self.unpack_hook))
        _count_hooks(1)
        return self

    def __exit__(self, *exc: object) -> None:
        _core._pop_saved_tensors_hooks()
        stack = getattr(_hook_state, "stack", None)
        if stack:
            stack.pop()
            _count_hooks(-1)


class save_on_cpu(saved_tensors_hooks):  # noqa: N801 (PyTorch's name)
    """Keeps the tensors saved for backward in host memory and moves each back to its device
    when the backward needs it: GPU memory for activations traded for copies. As PyTorch's,
    a CPU tensor is saved as a copy too (so an in-place change after forward is not seen)."""

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda") -> None:
        del device_type  # (the device comes from each tensor)

        def pack(t: Tensor) -> tuple[Any, Tensor]:
            host = _core.empty(tuple(t.shape), dtype=t.dtype, device="cpu")
            host.copy_(t)
            if pin_memory and hasattr(host, "pin_memory"):
                host = host.pin_memory()
            return (t.device, host)

        def unpack(packed: tuple[Any, Tensor]) -> Tensor:
            device, host = packed
            return host.to(device)

        super().__init__(pack, unpack)


class disable_saved_tensors_hooks:  # noqa: N801 (PyTorch's name)
    """Within this context (or a function it decorates), entering ``saved_tensors_hooks``
    raises ``RuntimeError(error_message)``: for code whose saved tensors must not be packed."""

    def __init__(self, error_message: str) -> None:
        self.error_message = error_message
        self._previous: list[Optional[str]] = []

    def __enter__(self) -> None:
        self._previous.append(_disabled_message())
        _state.disabled = self.error_message

    def __exit__(self, *exc: object) -> None:
        _state.disabled = self._previous.pop()

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with disable_saved_tensors_hooks(self.error_message):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


class _MultiHandle:
    """What ``register_multi_grad_hook`` returns: ``remove()`` removes every tensor hook."""

    def __init__(self, handles: list[Any]) -> None:
        self._handles = handles

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> _MultiHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def register_multi_grad_hook(
    tensors: Sequence[Tensor], fn: Callable[..., Any], *, mode: str = "all"
) -> _MultiHandle:
    """Calls ``fn`` once per backward over several tensors. ``mode="all"``: with the list of
    their gradients (``None`` for a tensor the backward did not reach) once the backward has
    computed them; ``mode="any"``: with the first of their gradients computed. ``fn``'s result
    is ignored (it cannot replace gradients)."""
    if mode not in ("all", "any"):
        raise InvalidValueError(
            f"register_multi_grad_hook: mode must be 'all' or 'any', got {mode!r}"
        )
    tensors = list(tensors)
    # (the hooks keep the count, not the list: a hook held by a tensor must not hold the
    # tensors, a cycle through the engine that the collector cannot see)
    count = len(tensors)
    if not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError("register_multi_grad_hook: expected a sequence of Tensors")
    pending: dict[str, Any] = {"grads": None, "fired": False}

    def finish() -> None:
        grads, pending["grads"], pending["fired"] = pending["grads"], None, False
        if mode == "all" and grads is not None:
            fn(grads)

    def make(i: int) -> Callable[[Tensor], None]:
        def hook(grad: Tensor) -> None:
            if mode == "any":
                if not pending["fired"]:
                    pending["fired"] = True
                    _core._queue_callback(finish)
                    fn(grad)
                return
            if pending["grads"] is None:
                pending["grads"] = [None] * count
                _core._queue_callback(finish)
            pending["grads"][i] = grad

        return hook

    return _MultiHandle([t.register_hook(make(i)) for i, t in enumerate(tensors)])
