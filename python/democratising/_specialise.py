"""``specialise``: a constructor that is another one with some arguments fixed or other
defaults, and a signature that says so.

Why: ``AdamW`` is ``Adam`` with ``weight_decay=1e-2``, ``LSTM`` is ``RNNBase`` with
``mode="LSTM"``. Writing their parameter lists out again repeats every name, type and default
(and lets them drift apart); a ``*args, **kwargs`` pass-through hides them from ``help()``,
``inspect.signature`` and the training configs, which read defaults from signatures. The
wrapper keeps one declaration and still shows the real signature."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any, Callable

from .errors import ArgumentTypeError

__all__ = ["specialise"]


def specialise(
    init: Callable[..., None],
    *,
    fixed: Mapping[str, Any] = {},
    defaults: Mapping[str, Any] = {},
) -> Callable[..., None]:
    """``init`` with the ``fixed`` arguments set (and gone from its signature) and the
    ``defaults`` changed. ``init`` takes named parameters only (no ``*args``/``**kwargs``)."""
    sig = inspect.signature(init)
    unknown = (set(fixed) | set(defaults)) - set(sig.parameters)
    if unknown:
        raise ArgumentTypeError(f"{init.__qualname__} has no parameters {sorted(unknown)}")
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.parameters.values()):
        raise ArgumentTypeError(f"{init.__qualname__}: *args/**kwargs cannot be specialised")
    public = sig.replace(
        parameters=[
            p.replace(default=defaults.get(p.name, p.default))
            for p in sig.parameters.values()
            if p.name not in fixed
        ]
    )

    @functools.wraps(init)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        bound = public.bind(*args, **kwargs)
        bound.apply_defaults()
        init(**bound.arguments, **fixed)

    wrapper.__signature__ = public  # type: ignore[attr-defined]
    return wrapper
