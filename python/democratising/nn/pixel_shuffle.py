"""Channel/space rearrangements as reshape-permute composites: ``pixel_shuffle``,
``pixel_unshuffle``, ``channel_shuffle`` and their layers ``PixelShuffle``,
``PixelUnshuffle``, ``ChannelShuffle``."""

from __future__ import annotations

import math
from typing import Callable

from .._core import Tensor
from .._tensor_extra import _takes_tensor
from ..errors import InvalidValueError, ShapeError
from .module import Module

__all__ = [
    "ChannelShuffle",
    "PixelShuffle",
    "PixelUnshuffle",
    "channel_shuffle",
    "native_channel_shuffle",
    "pixel_shuffle",
    "pixel_unshuffle",
]


def _check_image(input: Tensor, factor: int, name: str, what: str) -> None:
    if input.ndim < 3:
        raise ShapeError(
            f"{name} expects input to have at least 3 dimensions, but got input with "
            f"{input.ndim} dimension(s)"
        )
    if factor <= 0:
        raise InvalidValueError(f"{name} expects a positive {what}, but got {factor}")


@_takes_tensor
def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """``(*, C * r^2, H, W)`` -> ``(*, C, H * r, W * r)`` with ``r = upscale_factor``."""
    r = upscale_factor
    _check_image(input, r, "pixel_shuffle", "upscale_factor")
    *lead, c, h, w = input.shape
    if c % (r * r):
        raise ShapeError(
            "pixel_shuffle expects its input's 'channel' dimension to be divisible by the square "
            f"of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}"
        )
    b, oc = math.prod(lead), c // (r * r)
    x = input.reshape(b, oc, r, r, h, w).permute(0, 1, 4, 2, 5, 3)
    return x.reshape(*lead, oc, h * r, w * r)


@_takes_tensor
def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """``(*, C, H * r, W * r)`` -> ``(*, C * r^2, H, W)`` with ``r = downscale_factor``, the
    inverse of ``pixel_shuffle``."""
    r = downscale_factor
    _check_image(input, r, "pixel_unshuffle", "downscale_factor")
    *lead, c, h, w = input.shape
    for side, size, dim in (("height", h, -2), ("width", w, -1)):
        if size % r:
            raise ShapeError(
                f"pixel_unshuffle expects {side} to be divisible by downscale_factor, but "
                f"input.size({dim})={size} is not divisible by {r}"
            )
    b, oh, ow = math.prod(lead), h // r, w // r
    x = input.reshape(b, c, oh, r, ow, r).permute(0, 1, 3, 5, 2, 4)
    return x.reshape(*lead, c * r * r, oh, ow)


@_takes_tensor
def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """Splits the channels (dim 1) of ``(N, C, *)`` into ``groups`` groups and interleaves
    them: channel ``g * (C // groups) + k`` moves to position ``k * groups + g``."""
    if input.ndim <= 2:
        raise ShapeError(
            f"channel_shuffle expects input with > 2 dims, but got input with sizes "
            f"{list(input.shape)}"
        )
    if groups <= 0:
        raise InvalidValueError(
            f"Number of groups to divide channels in must be positive. Value of groups:{groups}"
        )
    n, c, *rest = input.shape
    if c % groups:
        raise ShapeError(
            f"Number of channels must be divisible by groups. Got {c} channels and {groups} groups."
        )
    x = input.reshape(n, groups, c // groups, *rest).transpose(1, 2)
    return x.reshape(n, c, *rest)


def native_channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """``channel_shuffle`` under PyTorch's other name for it."""
    return channel_shuffle(input, groups)


class _ShuffleLayer(Module):
    """The three shuffle layers: a functional applied with the one option the layer stores
    (the attribute ``_option`` names it, as it is shown in ``repr``)."""

    _option: str
    _shuffle: Callable[[Tensor, int], Tensor]

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._shuffle(input, getattr(self, self._option))

    def extra_repr(self) -> str:
        return f"{self._option}={getattr(self, self._option)}"


class PixelShuffle(_ShuffleLayer):
    """``F.pixel_shuffle`` as a layer: ``(*, C * r^2, H, W)`` -> ``(*, C, H * r, W * r)``."""

    _option = "upscale_factor"
    _shuffle = staticmethod(pixel_shuffle)

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor


class PixelUnshuffle(_ShuffleLayer):
    """``F.pixel_unshuffle`` as a layer: ``(*, C, H * r, W * r)`` -> ``(*, C * r^2, H, W)``."""

    _option = "downscale_factor"
    _shuffle = staticmethod(pixel_unshuffle)

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor


class ChannelShuffle(_ShuffleLayer):
    """``F.channel_shuffle`` as a layer: interleaves ``groups`` groups of channels."""

    _option = "groups"
    _shuffle = staticmethod(channel_shuffle)

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups
