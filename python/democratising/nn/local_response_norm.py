"""Local response normalisation across channels: ``F.local_response_norm`` and the layer
``LocalResponseNorm`` (PyTorch's formula, a composite of differentiable engine ops)."""

from __future__ import annotations

import math

from .._core import Tensor
from .._tensor_extra import _takes_tensor
from ..errors import DTypeError, InvalidValueError, ShapeError
from . import functional as F
from .module import Module

__all__ = ["LocalResponseNorm", "local_response_norm"]


@_takes_tensor
def local_response_norm(
    input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> Tensor:
    """``input / (k + alpha * mean_window(input**2)) ** beta`` over ``[N, C, *]``, the window
    of ``size`` channels around each channel, zero-padded ``size // 2`` channels before and
    ``(size - 1) // 2`` after (the mean always divides by ``size``), as in PyTorch."""
    if input.ndim < 3:
        raise ShapeError(
            f"Expected 3D or higher dimensionality input (got {input.ndim} dimensions)"
        )
    if not input.dtype.is_floating_point:
        raise DTypeError(f"local_response_norm expects a floating-point input, got {input.dtype}")
    if size < 1:
        raise InvalidValueError(f"local_response_norm: size must be >= 1, got {size}")
    if input.numel() == 0:
        return input
    n, c = input.shape[0], input.shape[1]
    rest = math.prod(input.shape[2:])
    sq = (input * input).reshape(n, 1, c, rest)
    sq = F.pad(sq, (0, 0, size // 2, (size - 1) // 2))
    div = F.avg_pool2d(sq, (size, 1), stride=1).reshape(input.shape)
    return input / (div * alpha + k) ** beta


class LocalResponseNorm(Module):
    """Applies ``F.local_response_norm`` with the layer's ``size``, ``alpha``, ``beta`` and
    ``k`` (no parameters)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input: Tensor) -> Tensor:
        return local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
