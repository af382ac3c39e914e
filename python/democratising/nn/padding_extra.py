"""The 1-d and 3-d padding layers, and the circular ones, over ``F.pad``: ``ConstantPad1d``/
``3d``, ``ZeroPad1d``/``3d``, ``ReflectionPad1d``/``3d``, ``ReplicationPad1d``/``3d`` and
``CircularPad1d``/``2d``/``3d`` (the 2-d constant, zero, reflection and replication layers
are in ``nn.layers``, built on the same bases ``_PadNd``, ``_ConstantPadNd``, ``_ZeroPadNd``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

from .. import _core
from .._core import Tensor
from .._tensor_extra import _autocast_fp32
from ..errors import InvalidValueError, ShapeError
from . import functional as F
from .module import Module

__all__ = [
    "CircularPad1d",
    "CircularPad2d",
    "CircularPad3d",
    "ConstantPad1d",
    "ConstantPad3d",
    "ReflectionPad1d",
    "ReflectionPad3d",
    "ReplicationPad1d",
    "ReplicationPad3d",
    "ZeroPad1d",
    "ZeroPad3d",
]

_SIDES = {
    1: "(left, right)",
    2: "(left, right, top, bottom)",
    3: "(left, right, top, bottom, front, back)",
}


class _PadNd(Module):
    """Pads the last ``_dims`` dims by ``padding`` (an int for every side, or ``2 * _dims``
    ints, last dim first) in ``F.pad``'s ``mode``; ``repr`` shows the padding tuple."""

    _dims: int
    mode = "constant"

    def __init__(self, padding: Union[int, Sequence[int]]) -> None:
        super().__init__()
        if not isinstance(padding, int) and len(padding) != 2 * self._dims:
            # A RuntimeError in PyTorch (at forward); ``InvalidValueError`` is one too.
            raise InvalidValueError(
                f"expected an int or {_SIDES[self._dims]}, got {padding!r}"
                + (": Padding length must be divisible by 2" if len(padding) % 2 else "")
            )
        self.padding = F._ints(padding, 2 * self._dims, _SIDES[self._dims])

    def forward(self, input: Tensor) -> Tensor:
        # PyTorch's autocast float32 list holds reflection_pad1d/2d and replication_pad1d/2d/3d
        # (not reflection_pad3d, circular or constant): those widen a low input to float32.
        if _core._get_autocast() is not None and (
            self.mode == "replicate" or (self.mode == "reflect" and self._dims < 3)
        ):
            out_fp32: Tensor = _autocast_fp32(F.pad, input, self.padding, self.mode)
            return out_fp32
        return F.pad(input, self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    """Constant padding with ``value``."""

    def __init__(self, padding: Union[int, Sequence[int]], value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pads the last dim with ``value``; ``padding`` is an int or ``(left, right)``."""

    _dims = 1


class ConstantPad3d(_ConstantPadNd):
    """Pads the last three dims with ``value``; ``padding`` is an int or
    ``(left, right, top, bottom, front, back)``."""

    _dims = 3


class _ZeroPadNd(_ConstantPadNd):
    """What the zero pads share (each also subclasses its dimension's ``ConstantPad``, as
    PyTorch's): constant padding with 0, ``repr`` showing the padding tuple only."""

    def __init__(self, padding: Union[int, Sequence[int]]) -> None:
        super().__init__(padding, 0.0)

    extra_repr = _PadNd.extra_repr


class ZeroPad1d(_ZeroPadNd, ConstantPad1d):
    """Pads the last dim with zeros."""


class ZeroPad3d(_ZeroPadNd, ConstantPad3d):
    """Pads the last three dims with zeros."""


class ReflectionPad1d(_PadNd):
    """Mirrors ``(N, C, W)`` or ``(C, W)`` at its edges (edge not repeated)."""

    _dims, mode = 1, "reflect"


class ReflectionPad3d(_PadNd):
    """Mirrors ``(N, C, D, H, W)`` or ``(C, D, H, W)`` at its edges (edge not repeated)."""

    _dims, mode = 3, "reflect"


class ReplicationPad1d(_PadNd):
    """Repeats the edge values of ``(N, C, W)`` or ``(C, W)``."""

    _dims, mode = 1, "replicate"


class ReplicationPad3d(_PadNd):
    """Repeats the edge values of ``(N, C, D, H, W)`` or ``(C, D, H, W)``."""

    _dims, mode = 3, "replicate"


class _CircularPadNd(_PadNd):
    """Wraps around (the padding comes from the opposite edge); the input must be batched or
    unbatched, as PyTorch's layers check."""

    mode = "circular"

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (self._dims + 1, self._dims + 2):
            raise ShapeError(
                f"expected {self._dims + 1}D or {self._dims + 2}D input (got {input.ndim}D input)"
            )
        return super().forward(input)


class CircularPad1d(_CircularPadNd):
    """Circular padding of ``(N, C, W)`` or ``(C, W)``."""

    _dims = 1


class CircularPad2d(_CircularPadNd):
    """Circular padding of ``(N, C, H, W)`` or ``(C, H, W)``."""

    _dims = 2


class CircularPad3d(_CircularPadNd):
    """Circular padding of ``(N, C, D, H, W)`` or ``(C, D, H, W)``."""

    _dims = 3
