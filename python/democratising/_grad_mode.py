"""``no_grad`` / ``enable_grad`` / ``set_grad_enabled``: context managers and decorators over the
engine's thread-local grad mode."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Generator
from typing import Any, Callable, Optional, TypeVar

from . import _core
from .errors import ArgumentTypeError

F = TypeVar("F", bound=Callable[..., Any])


def _decorate(fn: F, mode: Callable[[], Any]) -> F:
    """``fn`` run inside the context manager ``mode()``. A generator function is wrapped as
    in PyTorch: the mode is set around each resume of the generator and restored at each
    yield, so the caller's mode between ``next()`` calls is untouched."""
    if not inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with mode():
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    @functools.wraps(fn)
    def generator(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        gen = fn(*args, **kwargs)
        try:
            with mode():
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with mode():
                        gen.close()
                    raise
                except BaseException as exc:  # (thrown in by the caller: pass it on)
                    with mode():
                        response = gen.throw(exc)
                else:
                    with mode():
                        response = gen.send(request)
        except StopIteration as stop:
            return stop.value

    return generator  # type: ignore[return-value]


class _GradMode:
    _enabled: bool = True

    def __init__(self) -> None:
        self._prev: list[bool] = []

    def __enter__(self) -> None:
        self._prev.append(_core._set_grad_enabled(self._enabled))

    def __exit__(self, *exc: object) -> None:
        _core._set_grad_enabled(self._prev.pop())

    def __call__(self, fn: F) -> F:
        return _decorate(fn, type(self))

    def clone(self) -> _GradMode:
        """A fresh manager with the same setting (PyTorch's decorators call it per use)."""
        return type(self)()


class _NoParamGradMode(_GradMode):
    """Also usable as a bare decorator: ``@no_grad`` as well as ``@no_grad()``."""

    def __new__(cls, orig_func: Optional[Callable[..., Any]] = None) -> Any:
        if orig_func is None:
            return super().__new__(cls)
        return cls()(orig_func)

    def __init__(self, orig_func: Optional[Callable[..., Any]] = None) -> None:
        super().__init__()


class no_grad(_NoParamGradMode):  # noqa: N801 - PyTorch's name
    """Disables gradient recording inside the block (or the decorated function)."""

    _enabled = False


class enable_grad(_NoParamGradMode):  # noqa: N801
    """Re-enables gradient recording inside a ``no_grad`` block."""

    _enabled = True


class set_grad_enabled(_GradMode):  # noqa: N801
    """Sets grad mode to ``mode``; usable as a function, context manager or decorator."""

    def __init__(self, mode: bool) -> None:
        super().__init__()
        if not isinstance(mode, bool):  # PyTorch takes only a bool (not 1, None, np.bool_)
            raise ArgumentTypeError(
                "set_grad_enabled(): argument 'enabled' (position 1) must be bool, not "
                f"{type(mode).__name__}"
            )
        self._enabled = mode
        self._prev.append(_core._set_grad_enabled(self._enabled))
        self._entered = False

    def __enter__(self) -> None:
        self._entered = True

    def __exit__(self, *exc: object) -> None:
        _core._set_grad_enabled(self._prev.pop())

    def __call__(self, fn: F) -> F:
        _core._set_grad_enabled(self._prev.pop())
        enabled = self._enabled
        return _decorate(fn, lambda: set_grad_enabled(enabled))

    def clone(self) -> set_grad_enabled:
        """A fresh ``set_grad_enabled(mode)``; like the constructor, it sets the mode now."""
        return set_grad_enabled(self._enabled)


class inference_mode(_GradMode):  # noqa: N801 - PyTorch's name
    """``torch.inference_mode``: no graph is recorded, not even under a nested
    ``enable_grad``, and the tensors made inside are inference tensors (``is_inference()``;
    outside the block they may not be written in place). ``inference_mode(False)`` leaves
    inference mode and, as in PyTorch, turns grad mode on inside its block (even within
    ``no_grad``). A context manager and a decorator, bare (``@inference_mode``) or called."""

    def __new__(cls, mode: Any = True) -> Any:
        if callable(mode):  # the bare decorator form
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: Any = True) -> None:
        super().__init__()
        self.mode = bool(mode)
        self._prev_inference: list[bool] = []

    def __enter__(self) -> None:
        self._prev_inference.append(_core._set_inference_mode(self.mode))
        self._prev.append(_core._set_grad_enabled(not self.mode))

    def __exit__(self, *exc: object) -> None:
        _core._set_inference_mode(self._prev_inference.pop())
        _core._set_grad_enabled(self._prev.pop())

    def __call__(self, fn: F) -> F:
        mode = self.mode
        return _decorate(fn, lambda: inference_mode(mode))

    def clone(self) -> inference_mode:
        return inference_mode(self.mode)


def is_inference_mode_enabled() -> bool:
    """Whether this thread is inside an enabled ``inference_mode`` block (and not inside a
    nested ``inference_mode(False)``)."""
    return _core._is_inference_mode()


def is_grad_enabled() -> bool:
    """``torch.is_grad_enabled``: the grad-mode switch. Inside ``inference_mode`` an
    ``enable_grad`` turns it on although nothing is recorded there."""
    return _core._grad_mode_flag()
