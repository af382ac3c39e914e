"""Config fields taken from the signature of the class a config builds.

Why: an optimizer's or scheduler's hyperparameters (their names, order and defaults) are
declared once, in its own ``__init__``. A config class only says which of them a file may set
(the keys of its ``_spec``, each with the rule its values must pass); this module turns that
into dataclass fields: the signature's order and default, the rule's type. So a default changed
in ``optim.AdamW`` is the config's default too, and a ``_spec`` key that is not a parameter
fails when the module is imported instead of when someone builds the optimizer.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping
from typing import Any, Callable

from ..errors import ArgumentTypeError
from ._validate import Check

__all__ = ["add_fields"]

_EMPTY = inspect.Parameter.empty


def _cast(rule: Check, value: Any) -> Any:
    """A signature default as the field's type (``min_lr=0`` is the float ``0.0``)."""
    if value is None or isinstance(value, bool):
        return value
    kind = rule.kind()
    return float(value) if kind is float and isinstance(value, int) else value


def _own_annotations(cls: type) -> dict[str, Any]:
    """A copy of the annotations ``cls`` itself declares (not its bases')."""
    get = getattr(inspect, "get_annotations", None)  # Python 3.10+
    if get is not None:
        return dict(get(cls))
    return dict(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063 - Python 3.9


def add_fields(
    cls: type,
    target: Callable[..., Any],
    spec: Mapping[str, Check],
    *,
    split: Mapping[str, tuple[str, ...]],
    defaults: Mapping[str, Any],
    own: Mapping[str, Any],
) -> None:
    """Declares on ``cls`` (before ``@dataclass`` runs) one field per ``spec`` key.

    Fields follow ``target``'s parameter order, then ``own`` (config-only fields such as a
    scheduler's ``interval``, with their defaults). ``split`` names parameters a config spells
    as several fields (``betas`` as ``beta1``, ``beta2``: the default tuple is split too);
    ``defaults`` gives a default where the signature has none or the config means another
    (``T_max=None``: the run's length)."""
    found: list[tuple[str, Any]] = []
    for param in inspect.signature(target).parameters.values():
        names = split.get(param.name, (param.name,))
        if not any(n in spec for n in names):
            continue
        values = param.default if len(names) > 1 and param.default is not _EMPTY else None
        for i, n in enumerate(names):
            found.append((n, param.default if values is None else values[i]))
    found += list(own.items())
    unknown = set(spec) - {n for n, _ in found}
    if unknown:
        raise ArgumentTypeError(
            f"{cls.__name__}: {sorted(unknown)} not parameters of {target.__qualname__}"
        )
    annotations = _own_annotations(cls)
    for name, value in found:
        value = defaults.get(name, value)
        if value is _EMPTY:
            raise ArgumentTypeError(f"{cls.__name__}.{name}: a config field needs a default")
        rule = spec[name]
        annotations[name] = rule.hint()
        if isinstance(value, list):
            setattr(cls, name, dataclasses.field(default_factory=value.copy))
        else:
            setattr(cls, name, _cast(rule, value))
    cls.__annotations__ = annotations
