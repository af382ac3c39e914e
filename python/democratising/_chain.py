"""``chained``: the seed guide's builder-style setters, declared in one line each.

Why: ``GradScaler().init_scale(2**16).growth_factor(2.0)`` and
``DistributedDataLoader(ds).batch_size(32).num_workers(4).build()`` are setters that store a
value (converted, maybe checked) and return the object so calls chain. Written out, each is the
same four lines; as a descriptor the class says only which attribute each one sets."""

from __future__ import annotations

from typing import Any, Callable, Optional

from .errors import ArgumentTypeError

__all__ = ["chained"]

_REQUIRED: Any = object()


class chained:  # noqa: N801 - used like a decorator-made method
    """A method ``obj.<name>(value)`` that sets ``obj.<attr> = convert(value)``, then runs
    ``obj.<check>()`` when given, and returns ``obj``. ``default`` makes the value optional
    (``loader.shuffle()`` means ``shuffle(True)``)."""

    def __init__(
        self,
        attr: str,
        convert: Optional[Callable[[Any], Any]] = None,
        *,
        default: Any = _REQUIRED,
        check: Optional[str] = None,
    ) -> None:
        self.attr, self.convert, self.default, self.check = attr, convert, default, check
        self.name = attr

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: Optional[type] = None) -> Any:
        if obj is None:
            return self

        def set_value(value: Any = self.default) -> Any:
            if value is _REQUIRED:
                raise ArgumentTypeError(f"{self.name}() missing its value")
            setattr(obj, self.attr, value if self.convert is None else self.convert(value))
            if self.check is not None:
                getattr(obj, self.check)()
            return obj

        set_value.__name__ = self.name
        set_value.__doc__ = f"Sets ``{self.attr.lstrip('_')}`` and returns the object (chains)."
        return set_value
