"""``autocast``: mixed-precision regions (a thread-local mode of the engine)."""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, TypeVar

from .. import _core

F = TypeVar("F", bound=Callable[..., Any])


class autocast:  # noqa: N801 - PyTorch's name
    """Inside the block matmul/linear/conv run in ``dtype`` (float16 or bfloat16, float32
    accumulation) while softmax, losses, norms and reductions run in float32.

    ``device_type`` is accepted for PyTorch compatibility (``"cpu"``/``"cuda"``)."""

    def __init__(
        self,
        device_type: Optional[str] = None,
        dtype: Optional[_core.dtype] = None,
        enabled: bool = True,
        cache_enabled: Optional[bool] = None,
    ) -> None:
        if isinstance(device_type, _core.dtype) and dtype is None:
            device_type, dtype = None, device_type
        del cache_enabled
        self.device_type = device_type or "cpu"
        self.dtype = dtype if dtype is not None else _core.float16
        if self.dtype not in (_core.float16, _core.bfloat16):
            raise TypeError(f"autocast dtype must be float16 or bfloat16, got {self.dtype}")
        self.enabled = enabled
        self._prev: list[Optional[_core.dtype]] = []

    def __enter__(self) -> autocast:
        self._prev.append(_core._set_autocast(self.dtype if self.enabled else None))
        return self

    def __exit__(self, *exc: object) -> None:
        _core._set_autocast(self._prev.pop())

    def __call__(self, fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with autocast(self.device_type, self.dtype, self.enabled):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def is_autocast_enabled() -> bool:
    return _core._get_autocast() is not None


def get_autocast_dtype() -> Optional[_core.dtype]:
    return _core._get_autocast()
