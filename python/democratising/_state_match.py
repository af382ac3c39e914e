"""Matching saved state to live objects: the ``module.`` prefix of data-parallel wrappers, and
the structure of scheduler/scaler/callback state.

Why here: checkpoints are untrusted and move between layouts. A checkpoint written by a
``DistributedDataParallel`` run names its tensors ``module.0.weight``, a single-process model
``0.weight``; both must resume either way. And a saved state is applied with
``__dict__.update`` by schedulers, so it has to look like the live state (same keys, same kinds
of values) before anything is applied, or a bad file breaks training later, far from its cause.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from .errors import InvalidValueError

__all__ = ["PREFIX", "check_like", "match_prefix"]

#: What ``DistributedDataParallel`` and ``DataParallel`` put before their module's keys.
PREFIX = "module."

V = TypeVar("V")


def match_prefix(state: Mapping[str, V], own: Iterable[str]) -> dict[str, V]:
    """``state`` with its keys adapted to ``own``'s layout: ``module.`` stripped when every
    saved key has it and no live key does, added when every live key has it and no saved key
    does; unchanged otherwise (including when the keys already match)."""
    own = list(own)
    keys = list(state)
    if not keys or not own:
        return dict(state)
    saved_wrapped = all(k.startswith(PREFIX) for k in keys)
    live_wrapped = all(k.startswith(PREFIX) for k in own)
    if saved_wrapped and not any(k.startswith(PREFIX) for k in own):
        return {k[len(PREFIX) :]: v for k, v in state.items()}
    if live_wrapped and not any(k.startswith(PREFIX) for k in keys):
        return {PREFIX + k: v for k, v in state.items()}
    return dict(state)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _plain(v: Any, depth: int = 0) -> bool:
    """JSON-like data (what a checkpoint can hold besides tensors), bounded in depth."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if depth > 32:
        return False
    if isinstance(v, (list, tuple)):
        return all(_plain(x, depth + 1) for x in v)
    if isinstance(v, Mapping):
        return all(_plain(k, depth + 1) and _plain(x, depth + 1) for k, x in v.items())
    return False


def check_like(saved: Any, live: Any, what: str, owner: Any = None) -> None:
    """Raises ``ValueError`` naming the path unless ``saved`` has the structure of ``live``:
    the same kind of value at every position (numbers for numbers, bools for bools, strings,
    sequences, dicts), every key ``live`` has, and, at the top level of ``owner``'s state, no
    key that would overwrite one of its attributes outside its state (a method, the
    optimizer). Values of kinds we cannot judge (``live`` is ``None``, a callable...) must be
    plain JSON-like data."""
    _check(saved, live, what, owner, 0)


def _check(saved: Any, live: Any, what: str, owner: Any, depth: int) -> None:
    if depth > 32:
        raise InvalidValueError(f"{what} is nested too deeply")
    if isinstance(live, bool):
        if not isinstance(saved, bool):
            raise InvalidValueError(f"{what} must be true or false, got {_short(saved)}")
    elif _is_num(live):
        if not _is_num(saved):
            raise InvalidValueError(f"{what} must be a number, got {_short(saved)}")
        if isinstance(live, int) and isinstance(saved, float) and not math.isfinite(saved):
            raise InvalidValueError(f"{what} must be a finite number, got {_short(saved)}")
    elif isinstance(live, str):
        if not isinstance(saved, str):
            raise InvalidValueError(f"{what} must be a string, got {_short(saved)}")
    elif isinstance(live, (list, tuple)):
        if not isinstance(saved, (list, tuple)):
            raise InvalidValueError(f"{what} must be a list, got {_short(saved)}")
        for i, item in enumerate(saved):
            if live:
                _check(item, live[min(i, len(live) - 1)], f"{what}[{i}]", None, depth + 1)
            elif not _plain(item):
                raise InvalidValueError(f"{what}[{i}] is not plain data")
    elif isinstance(live, Mapping):
        if not isinstance(saved, Mapping):
            raise InvalidValueError(f"{what} must be a dict, got {_short(saved)}")
        missing = [k for k in live if k not in saved]
        if missing and owner is not None:
            raise InvalidValueError(f"{what} lacks {sorted(map(str, missing))}")
        record = bool(live) and all(isinstance(k, str) for k in live)
        for k, item in saved.items():
            if k in live:
                _check(item, live[k], f"{what}.{k}", None, depth + 1)
            elif owner is not None:
                # The top level of a state that ``__dict__.update`` applies: a new key must
                # not replace an attribute outside the state (a method, the optimizer).
                if not isinstance(k, str) or k.startswith("__") or hasattr(owner, k):
                    raise InvalidValueError(f"{what} has an unexpected key {k!r}")
                if not _plain(item):
                    raise InvalidValueError(f"{what}.{k} is not plain data")
            elif record:
                raise InvalidValueError(f"{what} has an unexpected key {_short(k)}")
            elif live:
                # Keys that vary (a Counter of milestones): like any live value.
                _check(item, next(iter(live.values())), f"{what}.{k}", None, depth + 1)
            elif not _plain(item):
                raise InvalidValueError(f"{what}.{k} is not plain data")
    elif not _plain(saved) and type(saved) is not type(live):
        raise InvalidValueError(f"{what} is not plain data")


def _short(v: Any) -> str:
    text = repr(v) if isinstance(v, (bool, int, float, str, type(None))) else type(v).__name__
    return text if len(text) <= 60 else text[:57] + "..."
