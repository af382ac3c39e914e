"""``democratising.compiler``: ``torch.compiler``'s names for a library that runs eagerly.

Nothing is ever compiled (``compile`` returns its argument, as ``dm.compile`` does), so
``is_compiling()`` is False and the decorators that steer a graph compiler (``disable``,
``allow_in_graph``, ``assume_constant_result``, ``nonstrict_trace``) return the function as it
is. ``wrap_numpy`` works eagerly, as PyTorch's: tensors in, NumPy inside, tensors out.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Optional, TypeVar, Union

import numpy as np

from ._core import Tensor
from ._pytorch_compat import compile

__all__ = [
    "allow_in_graph",
    "assume_constant_result",
    "compile",
    "cudagraph_mark_step_begin",
    "disable",
    "get_default_backend",
    "is_compiling",
    "is_dynamo_compiling",
    "is_exporting",
    "nonstrict_trace",
    "reset",
    "set_default_backend",
    "set_stance",
    "wrap_numpy",
]

_F = TypeVar("_F", bound=Callable[..., Any])


def is_compiling() -> bool:
    """False: code here always runs eagerly (no graph capture)."""
    return False


def is_dynamo_compiling() -> bool:
    return False


def is_exporting() -> bool:
    return False


def disable(
    fn: Optional[_F] = None, recursive: bool = True, *, reason: Optional[str] = None
) -> Any:
    """``@disable`` / ``@disable(recursive=False)`` / ``disable(fn)``: the function itself
    (it already runs eagerly)."""
    del recursive, reason
    if fn is None:
        return lambda f: f
    return fn


def allow_in_graph(fn: _F) -> _F:
    return fn


def assume_constant_result(fn: _F) -> _F:
    return fn


def nonstrict_trace(traceable_fn: _F) -> _F:
    return traceable_fn


def reset() -> None:
    """Clears compilation caches: there are none."""


def cudagraph_mark_step_begin() -> None:
    """Marks a new iteration for CUDA graphs; nothing is captured into graphs here."""


_DEFAULT_BACKEND: list[Union[str, Callable[..., Any]]] = ["inductor"]


def set_default_backend(backend: Union[str, Callable[..., Any], None]) -> None:
    """Records the backend ``compile`` would default to (``None`` restores "inductor");
    ``compile`` ignores backends, so this changes no result."""
    _DEFAULT_BACKEND[0] = "inductor" if backend is None else backend


def get_default_backend() -> Union[str, Callable[..., Any]]:
    return _DEFAULT_BACKEND[0]


class _Stance(contextlib.ContextDecorator):
    """What ``set_stance`` returns: usable as a call, a context manager or a decorator."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_STANCES = (
    "default",
    "force_eager",
    "eager_on_recompile",
    "fail_on_recompile",
    "eager_then_compile",
    "aot_eager_then_compile",
)


def set_stance(
    stance: str = "default",
    *,
    skip_guard_eval_unsafe: bool = False,
    force_backend: Union[str, Callable[..., Any], None] = None,
) -> _Stance:
    """Accepts PyTorch's stances (every one runs eagerly here); an unknown one raises."""
    del skip_guard_eval_unsafe, force_backend
    if stance not in _STANCES:
        raise ValueError(f"invalid stance {stance!r}: expected one of {list(_STANCES)}")
    return _Stance()


def _to_numpy(x: Any) -> Any:
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, (list, tuple)):
        return type(x)(_to_numpy(v) for v in x)
    if isinstance(x, dict):
        return {k: _to_numpy(v) for k, v in x.items()}
    return x


def _to_tensor(x: Any) -> Any:
    from ._pytorch_compat import as_tensor

    if isinstance(x, (np.ndarray, np.generic)):
        return as_tensor(np.asarray(x))
    if isinstance(x, (list, tuple)):
        return type(x)(_to_tensor(v) for v in x)
    if isinstance(x, dict):
        return {k: _to_tensor(v) for k, v in x.items()}
    return x


def wrap_numpy(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turns a function of NumPy arrays into one of tensors: tensor arguments (also inside
    lists, tuples, dicts) arrive as arrays, array results come back as tensors. Eagerly no
    gradient flows through NumPy, as in PyTorch without ``compile``."""

    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return _to_tensor(fn(*_to_numpy(args), **_to_numpy(kwargs)))

    return wrapped
