"""PyTorch's volumetric (3-D) layers: ``Conv3d``, ``ConvTranspose3d``, the 3-D max, average
and adaptive pools and ``BatchNorm3d``, over the composite functionals of
``nn._functional_volumetric``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, Union

from .._core import Tensor
from ..errors import InvalidValueError
from . import _functional_volumetric as V
from . import functional as F
from .conv import _AdaptiveMaxPoolNd, _AdaptivePoolNd, _AvgPoolNd, _ConvNd, _MaxPoolNd
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


class Conv3d(_ConvNd):
    """3-D convolution over ``[N, C, D, H, W]`` (or ``[C, D, H, W]``) with PyTorch's parameter
    shapes ``weight [O, C/groups, kD, kH, kW]``, ``bias [O]`` and initialisation U(±1/√fan_in).
    A non-``"zeros"`` ``padding_mode`` pads explicitly with ``F.pad`` first."""

    _ndim = 3

    def _tuple(self, v: Triple) -> tuple[int, ...]:
        """``v`` as three ints."""
        return V._triple(v)

    def _conv(self, x: Tensor) -> Tensor:
        """The convolution, after the explicit padding a non-``"zeros"`` ``padding_mode``
        asks for."""
        padding: Any = self.padding
        if self.padding_mode != "zeros":
            x = F.pad(x, self._explicit_padding(), mode=self.padding_mode)
            padding = 0
        bias = self._param("bias")
        return V.conv3d(x, self.weight, bias, self.stride, padding, self.dilation, self.groups)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv(x)


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution over ``[N, C_in, D, H, W]`` (or ``[C_in, D, H, W]``),
    ``weight [C_in, C_out/groups, kD, kH, kW]``; ``forward(input, output_size=None)``."""

    _ndim = 3

    def _tuple(self, v: Triple) -> tuple[int, ...]:
        """``v`` as three ints."""
        return V._triple(v)

    def forward(self, input: Tensor, output_size: Optional[Sequence[int]] = None) -> Tensor:
        bias = getattr(self, "bias", None)
        padding: Any = self.padding  # always ints for the transposed convolutions
        return V.conv_transpose3d(
            input,
            self.weight,
            bias,
            self.stride,
            padding,
            self._output_padding(input, output_size),
            self.groups,
            self.dilation,
        )

    def extra_repr(self) -> str:
        """PyTorch's order: the head, then padding, dilation and output padding (each only
        when not its default), groups, a missing bias."""
        s = self._repr_head()
        if any(self.padding):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1, 1):
            s += f", dilation={self.dilation}"
        if any(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self._parameters.get("bias") is None:
            s += ", bias=False"
        return s


class MaxPool3d(_MaxPoolNd):
    """Max pooling over ``[N, C, D, H, W]`` (or ``[C, D, H, W]``); PyTorch's argument order,
    ``stride`` defaulting to ``kernel_size``. ``return_indices=True`` is not supported."""

    _pool = staticmethod(V.max_pool3d)
    _stride_from_kernel = True

    def __init__(
        self,
        kernel_size: Triple,
        stride: Optional[Triple] = None,
        padding: Triple = 0,
        dilation: Triple = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        if return_indices:
            raise InvalidValueError("MaxPool3d: return_indices=True is not supported")
        super().__init__(kernel_size, stride, padding, dilation, return_indices, ceil_mode)


class AvgPool3d(_AvgPoolNd):
    """Average pooling over ``[N, C, D, H, W]`` (or ``[C, D, H, W]``), with PyTorch's
    ``ceil_mode``, ``count_include_pad`` and ``divisor_override``."""

    _pool = staticmethod(V.avg_pool3d)

    def __init__(
        self,
        kernel_size: Triple,
        stride: Optional[Triple] = None,
        padding: Triple = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: Optional[int] = None,
    ) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        self.divisor_override = divisor_override

    def _window(
        self, kernel_size: Triple, stride: Optional[Triple], padding: Triple
    ) -> tuple[Any, Any, Any]:
        """The window as given, the stride filled in from the kernel size (PyTorch's)."""
        return kernel_size, (stride if stride is not None else kernel_size), padding

    def forward(self, x: Tensor) -> Tensor:
        return V.avg_pool3d(
            x,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool3d(_AdaptivePoolNd):
    """Average pooling of ``[N, C, D, H, W]`` (or ``[C, D, H, W]``) to ``output_size``."""

    _pool = staticmethod(V.adaptive_avg_pool3d)


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Max pooling of ``[N, C, D, H, W]`` (or ``[C, D, H, W]``) to ``output_size``;
    ``return_indices=True`` is not supported."""

    _pool = staticmethod(V.adaptive_max_pool3d)

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        if return_indices:
            raise InvalidValueError("AdaptiveMaxPool3d: return_indices=True is not supported")
        super().__init__(output_size, return_indices)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation over the channels of ``[N, C, D, H, W]`` (PyTorch's ``BatchNorm3d``:
    the shared batch norm, checking for a 5-D input)."""

    _expected_ndim = (5,)
