"""PyTorch's ``torch.nn.attention.SDPBackend`` and ``sdpa_kernel``, which code uses to pin
``scaled_dot_product_attention`` to one implementation (``with sdpa_kernel(SDPBackend.MATH):``
for exact reference runs, ``FLASH_ATTENTION`` for speed).

Here each device has one attention kernel, fused and exact (no approximation to switch off),
so every backend computes the same thing: the context checks its argument as PyTorch does and
records the choice (``allowed_backends()``), and attention runs as always."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator
from enum import IntEnum
from typing import Union

from ..errors import ArgumentTypeError


class SDPBackend(IntEnum):
    """The attention implementations PyTorch can choose between."""

    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4


_ALL = tuple(b for b in SDPBackend if b is not SDPBackend.ERROR)
_state = threading.local()


def allowed_backends() -> tuple[SDPBackend, ...]:
    """The backends the innermost ``sdpa_kernel`` of this thread allows (all outside one)."""
    return getattr(_state, "allowed", _ALL)


@contextlib.contextmanager
def sdpa_kernel(
    backends: Union[SDPBackend, Iterable[SDPBackend]], set_priority: bool = False
) -> Iterator[None]:
    """Within the block, attention may use only ``backends`` (one or a list); ``set_priority``
    is accepted as PyTorch's (the order of preference)."""
    del set_priority
    chosen = [backends] if isinstance(backends, SDPBackend) else list(backends)
    if not chosen or not all(isinstance(b, SDPBackend) for b in chosen):
        raise ArgumentTypeError(
            f"sdpa_kernel expects an SDPBackend or a non-empty list of them, got {backends!r}"
        )
    before = allowed_backends()
    _state.allowed = tuple(chosen)
    try:
        yield
    finally:
        _state.allowed = before


__all__ = ["SDPBackend", "allowed_backends", "sdpa_kernel"]
