"""More of PyTorch's dropouts: channel-wise ``dropout1d``/``dropout3d`` and the
self-normalising ``alpha_dropout``/``feature_alpha_dropout`` (which keep SELU's zero mean and
unit variance), with their layers ``Dropout1d``, ``Dropout3d``, ``AlphaDropout`` and
``FeatureAlphaDropout``. Masks come from the global generator (``manual_seed`` repeats them)."""

from __future__ import annotations

import math
import warnings
from typing import Callable

from .. import _core
from .._core import Tensor
from .._tensor_extra import _takes_tensor
from ..errors import DTypeError, ShapeError
from ._functional_extra_activations import apply_inplace
from .functional import _check_dropout_p, _keep_scaled
from .layers import _DropoutNd

__all__ = [
    "AlphaDropout",
    "Dropout1d",
    "Dropout3d",
    "FeatureAlphaDropout",
    "alpha_dropout",
    "dropout1d",
    "dropout3d",
    "feature_alpha_dropout",
]

#: ``-SELU_SCALE * SELU_ALPHA``: the value SELU saturates to, which alpha dropout sets.
_ALPHA = 1.7580993408473766


def _feature_keep(input: Tensor, p: float) -> Tensor:
    """A 0/1 mask of shape ``(N, C, 1, ...)``: one draw per channel of each sample."""
    if input.ndim < 2:
        raise ShapeError("Feature dropout requires at least 2 dimensions in the input")
    shape = (*input.shape[:2], *([1] * (input.ndim - 2)))
    return (_core.rand(shape, device=input.device) >= p).to(input.dtype)


def _feature_dropout(input: Tensor, p: float, training: bool, batched: bool) -> Tensor:
    """Channel-wise dropout of ``(N, C, *)``, or of ``(C, *)`` when not ``batched``."""
    if not training or p == 0.0 or input.numel() == 0:
        return input
    x = input if batched else input.unsqueeze(0)
    out = _keep_scaled(x, _feature_keep(x, p), p)
    return out if batched else out.squeeze(0)


@_takes_tensor
def dropout1d(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
) -> Tensor:
    """Zeroes whole channels of ``(N, C, L)`` or ``(C, L)`` with probability ``p`` and scales
    the rest by ``1/(1-p)``."""
    _check_dropout_p(p)
    if input.ndim not in (2, 3):
        raise ShapeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that "
            "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial "
            "dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D "
            "inputs)."
        )
    return apply_inplace(input, lambda t: _feature_dropout(t, p, training, t.ndim == 3), inplace)


@_takes_tensor
def dropout3d(
    input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False
) -> Tensor:
    """Zeroes whole channels of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` with probability ``p``
    and scales the rest by ``1/(1-p)``; other ranks warn, as PyTorch's, and are taken as
    unbatched (channels first)."""
    _check_dropout_p(p)
    if input.ndim not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {input.ndim}-D input to dropout3d, which is deprecated and "
            "will result in an error in a future release. To retain the behavior and silence "
            "this warning, please use dropout instead. Note that dropout3d exists to provide "
            "channel-wise dropout on inputs with 3 spatial dimensions, a channel dimension, and "
            "an optional batch dimension (i.e. 4D or 5D inputs).",
            stacklevel=2,
        )
    return apply_inplace(input, lambda t: _feature_dropout(t, p, training, t.ndim == 5), inplace)


def _alpha_dropout(
    input: Tensor, p: float, training: bool, inplace: bool, mask: Callable[[Tensor, float], Tensor]
) -> Tensor:
    """PyTorch's alpha dropout: dropped elements are set to SELU's saturation ``-alpha``, then
    all are scaled by ``a`` and shifted by ``b`` so that zero mean and unit variance stay."""
    _check_dropout_p(p)
    if not training or p == 0.0 or input.numel() == 0:
        return input
    if not input.dtype.is_floating_point:
        raise DTypeError(f"alpha dropout needs a floating-point input, got {input.dtype}")

    def drop(x: Tensor) -> Tensor:
        if p == 1.0:
            return x * 0.0
        keep = mask(x, p)
        a = 1.0 / math.sqrt((_ALPHA * _ALPHA * p + 1.0) * (1.0 - p))
        return (x * keep + (keep + (p - 1.0)) * _ALPHA) * a

    return apply_inplace(input, drop, inplace)


def _element_keep(input: Tensor, p: float) -> Tensor:
    return (_core.rand(input.shape, device=input.device) >= p).to(input.dtype)


@_takes_tensor
def alpha_dropout(
    input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False
) -> Tensor:
    """Dropout for SELU networks: each element is set to SELU's saturation value with
    probability ``p``, then an affine map restores the input's mean and variance."""
    return _alpha_dropout(input, p, training, inplace, _element_keep)


@_takes_tensor
def feature_alpha_dropout(
    input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False
) -> Tensor:
    """``alpha_dropout`` of whole channels (dim 1 of ``(N, C, *)``)."""
    return _alpha_dropout(input, p, training, inplace, _feature_keep)


class _FunctionalDropout(_DropoutNd):
    """A dropout layer whose ``forward`` is ``_fn(x, p, training, inplace)`` in every mode,
    so that the function's input checks apply in eval mode too, as PyTorch's do."""

    _fn: Callable[[Tensor, float, bool, bool], Tensor]

    def forward(self, input: Tensor) -> Tensor:
        return self._fn(input, self.p, self.training, self.inplace)


class Dropout1d(_FunctionalDropout):
    """Zeroes whole channels of ``(N, C, L)`` or ``(C, L)`` while training (``F.dropout1d``)."""

    _fn = staticmethod(dropout1d)


class Dropout3d(_FunctionalDropout):
    """Zeroes whole channels of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` while training
    (``F.dropout3d``)."""

    _fn = staticmethod(dropout3d)


class AlphaDropout(_FunctionalDropout):
    """``F.alpha_dropout`` while training; like PyTorch's layer it never works in place."""

    def forward(self, input: Tensor) -> Tensor:
        return alpha_dropout(input, self.p, self.training)


class FeatureAlphaDropout(_FunctionalDropout):
    """``F.feature_alpha_dropout`` while training; like PyTorch's layer it never works in
    place."""

    def forward(self, input: Tensor) -> Tensor:
        return feature_alpha_dropout(input, self.p, self.training)
