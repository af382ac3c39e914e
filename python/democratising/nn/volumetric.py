"""PyTorch's volumetric (3-D) layers: ``Conv3d``, ``ConvTranspose3d``, the 3-D max, average
and adaptive pools and ``BatchNorm3d``, over the composite functionals of
``nn._functional_volumetric``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

from . import _functional_volumetric as V
from .conv import _AdaptiveMaxPoolNd, _AdaptivePoolNd, _AvgPoolWithDivisor, _ConvNd, _MaxPoolNd
from .conv_transpose import _ConvTransposeNd
from .normalization import _BatchNorm

Triple = Union[int, Sequence[int]]

__all__ = [
    "AdaptiveAvgPool3d",
    "AdaptiveMaxPool3d",
    "AvgPool3d",
    "BatchNorm3d",
    "Conv3d",
    "ConvTranspose3d",
    "MaxPool3d",
]


class _Volumetric:
    """What the 3-d convolutions add to their 1-d/2-d bases: ``_ndim`` 3, each size read as
    three ints."""

    _ndim = 3

    def _tuple(self, v: Triple) -> tuple[int, ...]:
        """``v`` as three ints."""
        return V._triple(v)


class Conv3d(_Volumetric, _ConvNd):
    """3-D convolution over ``[N, C, D, H, W]`` (or ``[C, D, H, W]``) with PyTorch's parameter
    shapes ``weight [O, C/groups, kD, kH, kW]``, ``bias [O]`` and initialisation U(±1/√fan_in).
    A non-``"zeros"`` ``padding_mode`` pads explicitly with ``F.pad`` first."""


class ConvTranspose3d(_Volumetric, _ConvTransposeNd):
    """3-D transposed convolution over ``[N, C_in, D, H, W]`` (or ``[C_in, D, H, W]``),
    ``weight [C_in, C_out/groups, kD, kH, kW]``; ``forward(input, output_size=None)``."""


class MaxPool3d(_MaxPoolNd):
    """Max pooling over ``[N, C, D, H, W]`` (or ``[C, D, H, W]``); PyTorch's argument order,
    ``stride`` defaulting to ``kernel_size``; with ``return_indices`` the forward returns
    ``(values, indices)`` as ``F.max_pool3d`` does."""

    _pool = staticmethod(V.max_pool3d)


class AvgPool3d(_AvgPoolWithDivisor):
    """Average pooling over ``[N, C, D, H, W]`` (or ``[C, D, H, W]``), with PyTorch's
    ``ceil_mode``, ``count_include_pad`` and ``divisor_override``; ``stride`` defaults to
    ``kernel_size``."""

    _pool = staticmethod(V.avg_pool3d)


class AdaptiveAvgPool3d(_AdaptivePoolNd):
    """Average pooling of ``[N, C, D, H, W]`` (or ``[C, D, H, W]``) to ``output_size``."""

    _pool = staticmethod(V.adaptive_avg_pool3d)


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Max pooling of ``[N, C, D, H, W]`` (or ``[C, D, H, W]``) to ``output_size``; with
    ``return_indices`` the forward returns ``(values, indices)``."""

    _pool = staticmethod(V.adaptive_max_pool3d)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation over the channels of ``[N, C, D, H, W]`` (PyTorch's ``BatchNorm3d``:
    the shared batch norm, checking for a 5-D input)."""

    _expected_ndim = (5,)
