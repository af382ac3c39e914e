"""Integer arguments read as PyTorch reads them: one value (an int, a NumPy integer or a
one-element integer tensor) or a sequence of them, for dims, shifts and repeat counts."""

from __future__ import annotations

import operator
from typing import Any


def int_tuple(value: Any) -> tuple[int, ...]:
    """``value`` as a tuple of ints: ``(value,)`` for one integer (``np.int64(1)`` included,
    which ``isinstance(v, int)`` misses), else one int per element."""
    try:
        return (operator.index(value),)
    except TypeError:
        return tuple(operator.index(v) for v in value)
