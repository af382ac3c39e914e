"""Spatial transformers: ``F.affine_grid`` (2-D affine sampling grids) and ``F.grid_sample``
(bilinear or nearest sampling of ``[N, C, H, W]`` images at grid points, with PyTorch's
padding modes and ``align_corners`` conventions). Both are composites of engine arithmetic and
gathers, so gradients reach ``theta``, the image and the grid. The 3-D (5-D input) forms and
``mode="bicubic"`` are not provided: they raise ``InvalidValueError``."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Optional

from .. import _core
from .._core import Tensor
from .._tensor_extra import _takes_tensor
from ..errors import DTypeError, InvalidValueError, ShapeError

__all__ = ["affine_grid", "grid_sample"]

_ALIGN_WARNING = (
    "Default grid_sample and affine_grid behavior has changed to align_corners=False since "
    "1.3.0. Please specify align_corners=True if the old behavior is desired. See the "
    "documentation of grid_sample for details."
)


def _align(align_corners: Optional[bool]) -> bool:
    """``align_corners`` with PyTorch's default: ``None`` warns and means ``False``."""
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, UserWarning, stacklevel=4)
        return False
    return bool(align_corners)


def _linspace_from_neg_one(n: int, align_corners: bool, like: Tensor) -> Tensor:
    """PyTorch's base-grid coordinates along one axis: ``n`` steps over ``[-1, 1]`` (pixel
    corners) or shrunk by ``(n - 1) / n`` (pixel centres); a single step is 0."""
    if n <= 1:
        return _core.zeros(n, dtype=like.dtype, device=like.device)
    r = _core.linspace(-1.0, 1.0, n, dtype=like.dtype, device=like.device)
    return r if align_corners else r * ((n - 1) / n)


@_takes_tensor
def affine_grid(theta: Tensor, size: Sequence[int], align_corners: Optional[bool] = None) -> Tensor:
    """The sampling grid ``[N, H, W, 2]`` of the 2-D affine maps ``theta [N, 2, 3]`` for an
    output of ``size = (N, C, H, W)``: each output pixel's normalised ``(x, y)`` in ``[-1, 1]``
    (see ``align_corners``) mapped by ``theta``. Differentiable in ``theta``."""
    align = _align(align_corners)
    if not theta.dtype.is_floating_point:
        raise InvalidValueError(
            f"Expected theta to have floating point type, but got {theta.dtype}"
        )
    size = [int(s) for s in size]
    if len(size) == 5:
        raise InvalidValueError(
            "affine_grid: 5-D sizes (3-D affine transforms) are not supported; only 4-D sizes "
            "(N, C, H, W)"
        )
    if len(size) != 4:
        raise ShapeError(
            "affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
            f"respectively. Got size {size}."
        )
    if theta.ndim != 3 or theta.shape[-2] != 2 or theta.shape[-1] != 3:
        raise ShapeError(
            f"Expected a batch of 2D affine matrices of shape Nx2x3 for size {size}. Got "
            f"{tuple(theta.shape)}."
        )
    n, _, h, w = size
    if align and min(h, w) == 1:
        warnings.warn(
            "Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
            "align_corners=True. This is not an intended use case of affine_grid. See the "
            "documentation of affine_grid for details.",
            UserWarning,
            stacklevel=3,
        )
    elif min(size) <= 0:
        raise InvalidValueError(f"Expected non-zero, positive output size. Got {size}")
    if theta.shape[0] != n:
        raise ShapeError(
            f"affine_grid: theta holds {theta.shape[0]} matrices for a size with batch {n}"
        )
    xs = _linspace_from_neg_one(w, align, theta).reshape(1, w).expand(h, w)
    ys = _linspace_from_neg_one(h, align, theta).reshape(h, 1).expand(h, w)
    ones = _core.ones(h, w, dtype=theta.dtype, device=theta.device)
    base = _core.stack([xs, ys, ones], dim=-1).reshape(1, h * w, 3)
    grid = base.expand(n, h * w, 3).matmul(theta.transpose(1, 2))
    return grid.reshape(n, h, w, 2)


def _reflect(coord: Tensor, twice_low: int, twice_high: int) -> Tensor:
    """PyTorch's ``reflect_coordinates``: ``coord`` reflected off the bounds ``twice_low / 2``
    and ``twice_high / 2`` until it lies between them (the gradient flips sign with each
    reflection)."""
    if twice_low == twice_high:
        return coord * 0.0
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    d = (coord - low).abs()
    flips = (d.detach() / span).floor()
    extra = d - flips * span
    even = (flips.remainder(2.0) == 0.0).detach()
    return _core.where(even, extra + low, span - extra + low)


def _clip(x: Tensor, size: int) -> Tensor:
    """``x`` clamped to ``[0, size - 1]``; as PyTorch's ``clip_coordinates_set_grad``, the
    gradient passes only strictly inside (a point on the bound gets none)."""
    d = x.detach()
    inside = (d > 0) & (d < size - 1)
    return _core.where(inside, x, d.clamp(0.0, size - 1))


def _source_index(coord: Tensor, size: int, padding_mode: str, align_corners: bool) -> Tensor:
    """Normalised grid coordinates to input pixel coordinates (PyTorch's
    ``grid_sampler_compute_source_index``), clipped or reflected by ``padding_mode``."""
    if align_corners:
        x = (coord + 1.0) * ((size - 1) / 2)
    else:
        x = ((coord + 1.0) * size - 1.0) / 2
    if padding_mode == "border":
        x = _clip(x, size)
    elif padding_mode == "reflection":
        x = _reflect(x, 0, 2 * (size - 1)) if align_corners else _reflect(x, -1, 2 * size - 1)
        x = _clip(x, size)
    return x


def _tap(flat: Tensor, xi: Tensor, yi: Tensor, h: int, w: int) -> Tensor:
    """``flat [N, C, H * W]`` read at the integer pixels ``(xi, yi)`` (``[N, P]``, int64) as
    ``[N, C, P]``, zero where a pixel lies outside the image."""
    n, c = flat.shape[0], flat.shape[1]
    valid = (xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)
    idx = yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)
    p = idx.shape[1]
    vals = flat.gather(2, idx.reshape(n, 1, p).expand(n, c, p))
    return vals.masked_fill(~valid.reshape(n, 1, p), 0.0)


@_takes_tensor
def grid_sample(
    input: Tensor,
    grid: Tensor,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
    align_corners: Optional[bool] = None,
) -> Tensor:
    """Samples ``input [N, C, H, W]`` at the normalised points ``grid [N, H_out, W_out, 2]``
    (``(x, y)`` with ``-1``/``1`` the image's edges, or its corner pixels' centres with
    ``align_corners``) giving ``[N, C, H_out, W_out]``. ``mode`` "bilinear" or "nearest"
    (ties to even); ``padding_mode`` "zeros" (points outside read 0), "border" (clamped) or
    "reflection" (mirrored). Bilinear sampling is differentiable in ``input`` and ``grid``;
    nearest in ``input`` only. 5-D inputs and "bicubic" raise ``InvalidValueError``."""
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(
            "nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or "
            f"'bicubic', but got: '{mode}'"
        )
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(
            "nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
            f"'reflection', but got: '{padding_mode}'"
        )
    align = _align(align_corners)
    if mode == "bicubic":
        raise InvalidValueError("grid_sample: mode='bicubic' is not supported here")
    if input.ndim == 5:
        raise InvalidValueError("grid_sample: 5-D (volumetric) inputs are not supported here")
    if input.ndim != 4:
        raise ShapeError(
            f"grid_sampler(): expected 4D or 5D input and grid with same number of dimensions, "
            f"but got input with sizes {list(input.shape)} and grid with sizes "
            f"{list(grid.shape)}"
        )
    if grid.ndim != 4 or grid.shape[-1] != 2:
        raise ShapeError(
            "grid_sampler(): expected grid to have size 2 in last dimension and 4 dims, but got "
            f"grid with sizes {list(grid.shape)}"
        )
    if input.shape[0] != grid.shape[0]:
        raise ShapeError(
            "grid_sampler(): expected grid and input to have same batch size, but got input "
            f"with sizes {list(input.shape)} and grid with sizes {list(grid.shape)}"
        )
    if not input.dtype.is_floating_point or input.dtype != grid.dtype:
        raise DTypeError(
            "grid_sampler(): expected input and grid to have the same floating-point dtype, "
            f"but input has {input.dtype} and grid has {grid.dtype}"
        )
    n, c, h, w = input.shape
    if h == 0 or w == 0:
        raise ShapeError(
            "grid_sampler(): expected input to have non-empty spatial dimensions, but input "
            f"has sizes {list(input.shape)}"
        )
    ho, wo = grid.shape[1], grid.shape[2]
    pts = grid.reshape(n, ho * wo, 2)
    ix = _source_index(pts[:, :, 0], w, padding_mode, align)
    iy = _source_index(pts[:, :, 1], h, padding_mode, align)
    flat = input.reshape(n, c, h * w)
    if mode == "nearest":
        out = _tap(flat, ix.detach().round().long(), iy.detach().round().long(), h, w)
        return out.reshape(n, c, ho, wo)
    fx, fy = ix.detach().floor(), iy.detach().floor()
    x0, y0 = fx.long(), fy.long()
    x1, y1 = x0 + 1, y0 + 1
    ax, ay = ix - fx, iy - fy  # distances from the north-west corner
    bx, by = 1.0 - ax, 1.0 - ay
    out = (
        _tap(flat, x0, y0, h, w) * (bx * by).unsqueeze(1)
        + _tap(flat, x1, y0, h, w) * (ax * by).unsqueeze(1)
        + _tap(flat, x0, y1, h, w) * (bx * ay).unsqueeze(1)
        + _tap(flat, x1, y1, h, w) * (ax * ay).unsqueeze(1)
    )
    return out.reshape(n, c, ho, wo)
