"""More of PyTorch's activation layers: ``SELU``, ``CELU``, ``Softshrink``, ``Hardshrink``,
``Tanhshrink``, ``Threshold``, ``RReLU`` and ``Softmax2d`` (over the functions of
``nn._functional_extra_activations``)."""

from __future__ import annotations

from typing import Optional

from .._core import Tensor
from ..errors import ShapeError
from . import _functional_extra_activations as _fx
from .layers import _AlphaActivation, _InplaceActivation
from .module import Module

__all__ = [
    "CELU",
    "SELU",
    "Hardshrink",
    "RReLU",
    "Softmax2d",
    "Softshrink",
    "Tanhshrink",
    "Threshold",
]


class SELU(_InplaceActivation):
    """``scale * elu(x, alpha)`` with SELU's fixed constants (``F.selu``)."""

    _act = staticmethod(_fx.selu)


class CELU(_AlphaActivation):
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))`` (``F.celu``)."""

    _act = staticmethod(_fx.celu)


class Threshold(_InplaceActivation):
    """``x`` where ``x > threshold``, ``value`` elsewhere (``F.threshold``)."""

    _act = staticmethod(_fx.threshold)
    _option_names = ("threshold", "value")

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.threshold, self.value = threshold, value

    def _engine_inplace(self, x: Tensor) -> Optional[Tensor]:
        return x.masked_fill_(x <= self.threshold, self.value)


class RReLU(Module):
    """Randomized leaky ReLU (``F.rrelu``): random slopes in U(lower, upper) for negative
    elements while training, the mean slope ``(lower + upper) / 2`` in eval mode."""

    def __init__(
        self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False
    ) -> None:
        super().__init__()
        self.lower, self.upper, self.inplace = lower, upper, inplace

    def forward(self, input: Tensor) -> Tensor:
        return _fx.rrelu(input, self.lower, self.upper, self.training, self.inplace)

    def extra_repr(self) -> str:
        inplace = ", inplace=True" if self.inplace else ""
        return f"lower={self.lower}, upper={self.upper}{inplace}"


class _Shrink(Module):
    """A shrinkage layer with PyTorch's ``lambd`` (shown bare by ``repr``)."""

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def extra_repr(self) -> str:
        return str(self.lambd)


class Softshrink(_Shrink):
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, 0 in between."""

    def forward(self, input: Tensor) -> Tensor:
        return _fx.softshrink(input, self.lambd)


class Hardshrink(_Shrink):
    """``x`` where ``|x| > lambd``, 0 elsewhere."""

    def forward(self, input: Tensor) -> Tensor:
        return _fx.hardshrink(input, self.lambd)


class Tanhshrink(Module):
    """``x - tanh(x)``."""

    def forward(self, input: Tensor) -> Tensor:
        return _fx.tanhshrink(input)


class Softmax2d(Module):
    """Softmax over the channels of ``[N, C, H, W]`` or ``[C, H, W]`` (dim -3)."""

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim not in (3, 4):
            raise ShapeError(f"Softmax2d: expected input to be 3D or 4D, got {input.ndim}D instead")
        return input.softmax(-3)
