"""``derived_init``: constructors taking another's arguments, one dropped or their own added."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Optional, TypeVar

_F = TypeVar("_F", bound=Callable[..., None])


def derived_init(
    base: Callable[..., None], *, without: Optional[str] = None, before: Optional[str] = None
) -> Callable[[_F], _F]:
    """Decorator: the ``__init__(self, <own parameters>, **kwargs)`` it decorates takes
    ``base``'s arguments but ``without``, and its own named ones inserted before ``before``
    (at the end without it). Every argument reaches it by name with the defaults applied, so
    it hands ``base``'s on as ``**kwargs``; its signature is the combined one.

    Why (as ``_specialise.specialise`` says of ``AdamW`` and ``LSTM``): writing such a
    parameter list out again repeats every name, type and default and lets the copies drift
    apart, while a bare ``**kwargs`` pass-through hides the parameters from ``help()`` and
    ``inspect.signature``. For constructors (the lazy modules, ``SyncBatchNorm``, the pools
    with ``divisor_override``), not hot paths: binding the arguments costs microseconds."""
    base_sig = inspect.signature(base)
    kept = [p for p in base_sig.parameters.values() if p.name != without]

    def decorate(init: _F) -> _F:
        own = [
            p
            for p in list(inspect.signature(init).parameters.values())[1:]  # after ``self``
            if p.kind is not p.VAR_KEYWORD
        ]
        names = [p.name for p in kept]
        at = names.index(before) if before is not None else len(names)
        sig = base_sig.replace(parameters=[*kept[:at], *own, *kept[at:]])

        @functools.wraps(init)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            init(**bound.arguments)

        wrapper.__signature__ = sig  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate
