"""Field checks for the training configs: each names its allowed values, so that a bad value
becomes one ``ConfigError`` line with the key, the allowed values and what was given.

Why a table of small checkers rather than ``if`` chains: every field of every config has exactly
one declared rule (type and range), which ``validate()`` applies and error messages quote.
"""

from __future__ import annotations

import math
import reprlib
from dataclasses import dataclass
from typing import Any, Optional

from ..errors import DemocratisingError

__all__ = [
    "MAX_COUNT",
    "MAX_NUM_WORKERS",
    "MAX_SEED",
    "Bool",
    "Check",
    "Choice",
    "ConfigError",
    "Int",
    "IntList",
    "Num",
    "Text",
    "check_fields",
    "show",
]

#: Upper bound of counts (epochs, batch size, steps): the largest 32-bit signed int. Far beyond
#: any real run, and small enough that arithmetic on it never overflows the engine.
MAX_COUNT = 2**31 - 1
#: Loader threads one process may ask for; more only exhausts the machine.
MAX_NUM_WORKERS = 256
#: ``dm.manual_seed`` takes a 64-bit seed.
MAX_SEED = 2**64 - 1


class ConfigError(DemocratisingError, ValueError):
    """A configuration file, key or value that cannot be used; the message names it."""


_short = reprlib.Repr()
_short.maxstring = 40
_short.maxother = 40
_short.maxlist = 6
_short.maxlevel = 2


def show(value: Any) -> str:
    """A short ``repr`` (bounded length and depth), safe for hostile values in messages."""
    return _short.repr(value)


def _fmt(x: float) -> str:
    if isinstance(x, int) and x > 10**6:
        return f"2**{x.bit_length()}-1" if x == 2 ** x.bit_length() - 1 else str(x)
    return repr(x) if isinstance(x, float) and not x.is_integer() else str(int(x))


class Check:
    """One field's rule; ``check`` raises ``ConfigError`` naming the key and allowed values."""

    optional: bool = False

    def allowed(self) -> str:
        raise NotImplementedError

    def kind(self) -> Any:
        """The Python type of the values this rule accepts (a config field's type)."""
        raise NotImplementedError

    def hint(self) -> Any:
        """The field's type annotation: ``kind()``, or ``Optional[kind()]`` when ``None``
        is allowed."""
        return Optional[self.kind()] if self.optional else self.kind()

    def ok(self, value: Any) -> bool:
        raise NotImplementedError

    def check(self, key: str, value: Any) -> None:
        if value is None and self.optional:
            return
        if not self.ok(value):
            extra = " or None" if self.optional else ""
            raise ConfigError(f"{key} must be {self.allowed()}{extra}, got {show(value)}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@dataclass(frozen=True)
class Int(Check):
    """An int (never a bool) in ``[lo, hi]``."""

    lo: int = 0
    hi: int = MAX_COUNT
    optional: bool = False

    def allowed(self) -> str:
        return f"an int in [{_fmt(self.lo)}, {_fmt(self.hi)}]"

    def kind(self) -> Any:
        return int

    def ok(self, value: Any) -> bool:
        return _is_int(value) and self.lo <= value <= self.hi


@dataclass(frozen=True)
class Num(Check):
    """A finite real number (int or float, never a bool) between ``lo`` and ``hi``."""

    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False
    optional: bool = False

    def allowed(self) -> str:
        if self.hi == math.inf:
            if self.lo == -math.inf:
                return "a finite number"
            return f"a finite number {'>' if self.lo_open else '>='} {_fmt(self.lo)}"
        left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
        return f"a number in {left}{_fmt(self.lo)}, {_fmt(self.hi)}{right}"

    def kind(self) -> Any:
        return float

    def ok(self, value: Any) -> bool:
        if not _is_num(value) or not math.isfinite(value):
            return False
        above = value > self.lo if self.lo_open else value >= self.lo
        below = value < self.hi if self.hi_open else value <= self.hi
        return above and below


@dataclass(frozen=True)
class Bool(Check):
    """``True`` or ``False`` (not 0/1: files and overrides are coerced before the check)."""

    def allowed(self) -> str:
        return "true or false"

    def kind(self) -> Any:
        return bool

    def ok(self, value: Any) -> bool:
        return isinstance(value, bool)


@dataclass(frozen=True)
class Choice(Check):
    """One of a fixed set of values."""

    values: tuple[Any, ...] = ()

    def allowed(self) -> str:
        return "one of " + ", ".join("None" if v is None else repr(v) for v in self.values)

    def kind(self) -> Any:
        (kind,) = {type(v) for v in self.values if v is not None}
        return kind

    def hint(self) -> Any:
        return Optional[self.kind()] if None in self.values else self.kind()

    def ok(self, value: Any) -> bool:
        return any(value is v or (v is not None and type(value) is type(v) and value == v)
                   for v in self.values)  # fmt: skip


@dataclass(frozen=True)
class Text(Check):
    """A non-empty string (a path or a device name)."""

    what: str = "a non-empty string"
    optional: bool = False

    def allowed(self) -> str:
        return self.what

    def kind(self) -> Any:
        return str

    def ok(self, value: Any) -> bool:
        return isinstance(value, str) and bool(value) and "\0" not in value


@dataclass(frozen=True)
class IntList(Check):
    """A list of ints in ``[lo, hi]``, at most ``max_len`` long."""

    lo: int = 0
    hi: int = MAX_COUNT
    max_len: int = 10_000

    def allowed(self) -> str:
        return f"a list of at most {self.max_len} ints in [{_fmt(self.lo)}, {_fmt(self.hi)}]"

    def kind(self) -> Any:
        return list[int]

    def ok(self, value: Any) -> bool:
        return (
            isinstance(value, (list, tuple))
            and len(value) <= self.max_len
            and all(_is_int(v) and self.lo <= v <= self.hi for v in value)
        )


def check_fields(obj: Any, spec: dict[str, Check], prefix: str = "") -> None:
    """Applies ``spec`` to the attributes of ``obj``; ``ConfigError`` for the first bad one."""
    for key, rule in spec.items():
        rule.check(prefix + key, getattr(obj, key))
