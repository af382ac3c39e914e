"""``ConvTranspose1d``/``ConvTranspose2d``: PyTorch's transposed convolutions ("deconvolutions",
the upsampling layers of GAN generators and decoders) over the engine's fused op."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, Union

from .._core import Tensor
from ..errors import ArgumentTypeError, InvalidValueError, ShapeError
from . import functional as F
from ._factory import to_factory
from .conv import _check_geometry, _ConvBase
from .layers import _init_weight_and_bias, _reset_weight_and_bias

IntPair = Union[int, Sequence[int]]


class _ConvTransposeNd(_ConvBase):
    """What the transposed convolutions share: PyTorch's constructor, ``weight [C_in,
    C_out/groups, *kernel_size]`` and ``bias [C_out]`` drawn from U(±1/√fan_in) (fan_in =
    ``C_out/groups * prod(kernel_size)``, as PyTorch computes it from the weight), and
    ``forward(input, output_size=None)``."""

    _ndim = 2
    transposed = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair = 0,
        output_padding: IntPair = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: IntPair = 1,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, dilation, groups, padding_mode
        )
        name = type(self).__name__
        if isinstance(padding, str):
            # PyTorch fails at the first forward ("must be tuple of ints"); say why, here.
            raise ArgumentTypeError(
                f"{name} takes padding as ints, not {padding!r}: a transposed convolution has "
                "no 'same'/'valid' padding"
            )
        self.padding, self.output_padding = self._tuple(padding), self._tuple(output_padding)
        _check_geometry(name, self.kernel_size, self.stride, self.dilation, self.padding)
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op < 0 or (op >= s and op >= d):
                raise InvalidValueError(
                    f"{name}: output_padding must be smaller than either stride or dilation, "
                    f"got output_padding={self.output_padding}, stride={self.stride}, "
                    f"dilation={self.dilation}"
                )
        shape = (in_channels, out_channels // groups, *self.kernel_size)
        _init_weight_and_bias(self, shape, bias, bias_size=out_channels)
        to_factory(self, device, dtype)

    def reset_parameters(self) -> None:
        """Re-draws ``weight`` and ``bias`` from U(±1/√fan_in), fan_in from the weight's
        ``[in, out / groups, *kernel]`` layout as PyTorch computes it, in place."""
        _reset_weight_and_bias(self)

    def _check_padding_mode(self, padding_mode: str) -> None:
        if padding_mode != "zeros":
            raise InvalidValueError(
                f'Only "zeros" padding mode is supported for {type(self).__name__}'
            )

    def _output_padding(
        self,
        x: Tensor,
        output_size: Optional[Sequence[int]],
        stride: Optional[Sequence[int]] = None,
        padding: Optional[Sequence[int]] = None,
        kernel_size: Optional[Sequence[int]] = None,
        num_spatial_dims: Optional[int] = None,
        dilation: Optional[Sequence[int]] = None,
    ) -> Sequence[int]:
        """The output padding that gives ``output_size`` (its last ``num_spatial_dims``
        entries), checked against the sizes this geometry can produce; the layer's own
        without it. PyTorch's signature: subclasses pass the geometry explicitly, and what
        they leave out is the layer's."""
        if output_size is None:
            return self.output_padding
        nd = self._ndim if num_spatial_dims is None else num_spatial_dims
        stride = self.stride if stride is None else tuple(stride)
        padding = self.padding if padding is None else tuple(padding)
        kernel_size = self.kernel_size if kernel_size is None else tuple(kernel_size)
        dilation = self.dilation if dilation is None else tuple(dilation)
        # PyTorch's rule: the spatial sizes, or all of the output's sizes (batch and channels
        # first, or channels only for an unbatched input); any other length raises.
        want = list(output_size)
        leading = 2 if x.ndim == nd + 2 else 1
        if len(want) == leading + nd:
            want = want[leading:]
        if len(want) != nd:
            raise InvalidValueError(
                f"ConvTranspose{nd}D: for {x.ndim}D input, output_size must have {nd} or "
                f"{leading + nd} elements (got {len(want)})"
            )
        pads = []
        for i, size in enumerate(want):
            n = x.shape[x.ndim - nd + i]
            least = (n - 1) * stride[i] - 2 * padding[i] + dilation[i] * (kernel_size[i] - 1) + 1
            if not least <= size < least + stride[i]:
                raise ShapeError(
                    f"requested an output size of {want}, but valid sizes range from "
                    f"{least} to {least + stride[i] - 1} (for an input of {n})"
                )
            pads.append(size - least)
        return pads  # a list, as PyTorch's

    def forward(self, input: Tensor, output_size: Optional[Sequence[int]] = None) -> Tensor:
        op = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[self._ndim - 1]
        bias = self._param("bias")
        return op(
            input,
            self.weight,
            bias,
            self.stride,
            self.padding,
            self._output_padding(input, output_size),
            self.groups,
            self.dilation,
        )


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution over ``[N, C_in, L]`` (or ``[C_in, L]``), ``weight [C_in,
    C_out/groups, k]``."""

    _ndim = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution over ``[N, C_in, H, W]`` (or ``[C_in, H, W]``), ``weight
    [C_in, C_out/groups, kH, kW]`` (DCGAN's generator layer)."""

    _ndim = 2
