"""Spatial transformers: ``F.affine_grid`` (2-D and 3-D affine sampling grids) and
``F.grid_sample`` (bilinear, nearest or bicubic sampling of ``[N, C, H, W]`` images, and
trilinear or nearest sampling of ``[N, C, D, H, W]`` volumes, at grid points, with PyTorch's
padding modes and ``align_corners`` conventions). Both are composites of engine arithmetic and
gathers, so gradients reach ``theta``, the image and the grid."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from fractions import Fraction
from typing import Optional

import numpy as np

from .. import _core
from .._core import Tensor
from .._function import Function, FunctionCtx
from .._tensor_extra import _AUTOCAST_ELIGIBLE, _autocast_disabled, _autocast_fp32, _takes_tensor
from ..errors import DTypeError, InvalidValueError, ShapeError, UnsupportedShapeError

__all__ = ["affine_grid", "grid_sample"]

_ALIGN_WARNING = (
    "Default grid_sample and affine_grid behavior has changed to align_corners=False since "
    "1.3.0. Please specify align_corners=True if the old behavior is desired. See the "
    "documentation of grid_sample for details."
)


class _ZeroGridGrad(Function):
    """Links nearest sampling's output to the grid it read: PyTorch gives the grid a zero
    gradient there (the output is piecewise constant in it), not none."""

    @staticmethod
    def forward(ctx: FunctionCtx, out: Tensor, grid: Tensor) -> Tensor:  # type: ignore[override]
        ctx.grid_shape, ctx.grid_dtype = tuple(grid.shape), grid.dtype
        return out.clone()

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        return g, _core.zeros(ctx.grid_shape, dtype=ctx.grid_dtype, device=g.device)


def _align(align_corners: Optional[bool]) -> bool:
    """``align_corners`` with PyTorch's default: ``None`` warns and means ``False``."""
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, UserWarning, stacklevel=4)
        return False
    return bool(align_corners)


def _torch_linspace_neg_one(n: int, dt: type) -> np.ndarray:
    """``torch.linspace(-1, 1, n)`` bit for bit on CPU (``n >= 2``): the step is rounded in
    the dtype, and each point is ``-1 + step * i`` (first half) or ``1 - step * (n - 1 - i)``
    (second half) with one rounding (a fused multiply-add), not the engine's f64 arithmetic,
    which differs by an ulp at many sizes and so drifts spatial transformers."""
    i = np.arange(n)
    if dt is np.float32:
        step = float(np.float32(2.0) / np.float32(n - 1))
        # step * i and its sum with +-1 are exact in f64 (well under 53 bits), so the one
        # rounding is the final cast to f32: a fused multiply-add.
        lo = -1.0 + step * i
        hi = 1.0 - step * (n - 1 - i)
        return np.where(i < n // 2, lo, hi).astype(np.float32)
    step_q = Fraction(2.0 / (n - 1))
    vals = [float(-1 + step_q * k) if k < n // 2 else float(1 - step_q * (n - 1 - k)) for k in i]
    return np.asarray(vals, dtype=np.float64)


def _linspace_from_neg_one(n: int, align_corners: bool, like: Tensor) -> Tensor:
    """PyTorch's base-grid coordinates along one axis: ``n`` steps over ``[-1, 1]`` (pixel
    corners) or shrunk by ``(n - 1) / n`` (pixel centres); a single step is 0. float32 and
    float64 follow PyTorch's CPU rounding exactly (``grid * (n - 1) / n`` with two roundings
    in the dtype), so ``affine_grid`` matches it bit for bit."""
    if n <= 1:
        return _core.zeros(n, dtype=like.dtype, device=like.device)
    dt = {_core.float32: np.float32, _core.float64: np.float64}.get(like.dtype)
    if dt is None:
        r = _core.linspace(-1.0, 1.0, n, dtype=like.dtype, device=like.device)
        return r if align_corners else r * (n - 1) / n
    r_np = _torch_linspace_neg_one(n, dt)
    if not align_corners:
        r_np = (r_np * dt(n - 1)) / dt(n)
    return _core.from_numpy(np.ascontiguousarray(r_np, dtype=dt)).to(like.device)


@_takes_tensor
def affine_grid(theta: Tensor, size: Sequence[int], align_corners: Optional[bool] = None) -> Tensor:
    """The sampling grid of the affine maps ``theta``: ``[N, H, W, 2]`` for 2-D maps
    ``[N, 2, 3]`` and ``size = (N, C, H, W)``, or ``[N, D, H, W, 3]`` for 3-D maps ``[N, 3, 4]``
    and ``size = (N, C, D, H, W)``; each output point's normalised ``(x, y[, z])`` in ``[-1, 1]``
    (see ``align_corners``) mapped by ``theta``. Differentiable in ``theta``. Under autocast
    the grid comes out in the low dtype, as PyTorch's (its ``bmm`` is on the autocast list);
    a float16/bfloat16 grid is summed in float32 and rounded once, as PyTorch's ``bmm``."""
    align = _align(align_corners)
    if not theta.dtype.is_floating_point:
        raise InvalidValueError(
            f"Expected theta to have floating point type, but got {theta.dtype}"
        )
    size = [int(s) for s in size]
    if len(size) not in (4, 5):
        raise UnsupportedShapeError(
            "affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
            f"respectively. Got size {size}."
        )
    k = len(size) - 2  # spatial dims
    if theta.ndim != 3 or theta.shape[-2] != k or theta.shape[-1] != k + 1:
        raise ShapeError(
            f"Expected a batch of {k}D affine matrices of shape Nx{k}x{k + 1} for size {size}. "
            f"Got {tuple(theta.shape)}."
        )
    n, spatial = size[0], size[2:]
    if align and min(spatial) == 1:
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
    low = theta.dtype
    amp = _core._get_autocast()
    if amp is not None and low in _AUTOCAST_ELIGIBLE:
        low = amp  # (PyTorch's bmm is on the autocast list)
    if low in (_core.float16, _core.bfloat16):
        # PyTorch's bmm rounds theta and the base grid to ``low``, accumulates in float32
        # and rounds the sums: the same products here in float32, rounded on both ends.
        with _autocast_disabled():
            return _affine_grid(theta.to(low).float(), size, align, low).to(low)
    return _affine_grid(theta, size, align, None)


def _affine_grid(
    theta: Tensor, size: Sequence[int], align: bool, low: Optional[_core.dtype]
) -> Tensor:
    """``affine_grid`` with ``align_corners`` resolved; ``low``: the dtype the base grid's
    coordinates are rounded to first (autocast's, as PyTorch's ``bmm`` rounds them)."""
    n, spatial = size[0], size[2:]
    k = len(size) - 2
    # One coordinate per spatial axis, x (the last axis) first as PyTorch orders them.
    axes = []
    for comp in range(k):
        a = k - 1 - comp  # the spatial axis this component runs along
        shape = [1] * k
        shape[a] = spatial[a]
        axis = _linspace_from_neg_one(spatial[a], align, theta).reshape(shape)
        axes.append(axis if low is None else axis.to(low).to(theta.dtype))
    # grid = base @ theta^T summed term by term, each product and sum rounded on its own, as
    # PyTorch's CPU bmm does for these short rows (a fused matmul differs by an ulp).
    # Each output component is its own [n, points] sum (row-broadcast products, the engine's
    # fast pattern), stacked last.
    points = math.prod(spatial)
    coords = [a.expand(spatial).reshape(1, points) for a in axes]
    cols = []
    for j in range(k):
        acc = coords[0] * theta[:, j, 0].reshape(n, 1)
        for comp in range(1, k):
            acc = acc + coords[comp] * theta[:, j, comp].reshape(n, 1)
        cols.append(acc + theta[:, j, k].reshape(n, 1))
    return _core.stack(cols, -1).reshape(n, *spatial, k)


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
    x = _unnormalize(coord, size, align_corners)
    if padding_mode == "border":
        x = _clip(x, size)
    elif padding_mode == "reflection":
        x = _reflect(x, 0, 2 * (size - 1)) if align_corners else _reflect(x, -1, 2 * size - 1)
        x = _clip(x, size)
    return x


def _tap(flat: Tensor, idx: Sequence[Tensor], sizes: Sequence[int]) -> Tensor:
    """``flat [N, C, prod(sizes)]`` read at the integer points ``idx`` (one ``[N, P]`` int64
    tensor per spatial axis, outermost first) as ``[N, C, P]``, zero where a point lies outside
    the input."""
    n, c = flat.shape[0], flat.shape[1]
    valid = None
    lin = None
    for i, size in zip(idx, sizes):
        inside = (i >= 0) & (i < size)
        valid = inside if valid is None else valid & inside
        clamped = i.clamp(0, size - 1)
        lin = clamped if lin is None else lin * size + clamped
    assert valid is not None and lin is not None
    p = lin.shape[1]
    vals = flat.gather(2, lin.reshape(n, 1, p).expand(n, c, p))
    return vals.masked_fill(~valid.reshape(n, 1, p), 0.0)


def _unnormalize(coord: Tensor, size: int, align_corners: bool) -> Tensor:
    """Normalised ``[-1, 1]`` coordinates to pixel coordinates (PyTorch's
    ``grid_sampler_unnormalize``)."""
    if align_corners:
        return (coord + 1.0) * ((size - 1) / 2)
    return ((coord + 1.0) * size - 1.0) / 2


def _bound_tap(x: Tensor, size: int, padding_mode: str, align_corners: bool) -> Tensor:
    """The integer pixel the bicubic filter reads for tap ``x`` (PyTorch's
    ``compute_coordinates``): clamped for "border", mirrored then clamped for "reflection"."""
    if padding_mode == "border":
        x = x.clamp(0.0, size - 1)
    elif padding_mode == "reflection":
        x = _reflect(x, 0, 2 * (size - 1)) if align_corners else _reflect(x, -1, 2 * size - 1)
        x = x.clamp(0.0, size - 1)
    return x.long()


def _cubic_coefficients(t: Tensor) -> list[Tensor]:
    """The four cubic-convolution weights (``A = -0.75``) of the taps at offsets -1, 0, 1, 2
    from the floor, for the fraction ``t`` (differentiable in ``t``)."""
    a = -0.75

    def near(x: Tensor) -> Tensor:  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: Tensor) -> Tensor:  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1.0), near(t), near(1.0 - t), far(2.0 - t)]


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
    ``align_corners``) giving ``[N, C, H_out, W_out]``; a 5-D ``input [N, C, D, H, W]`` with
    ``grid [N, D_out, H_out, W_out, 3]`` (``(x, y, z)``) gives ``[N, C, D_out, H_out, W_out]``.
    ``mode`` "bilinear" (trilinear on 5-D inputs), "nearest" (ties to even) or "bicubic" (4-D
    only); ``padding_mode`` "zeros" (points outside read 0), "border" (clamped) or "reflection"
    (mirrored). Bilinear and bicubic sampling are differentiable in ``input`` and ``grid``;
    nearest in ``input`` (the grid's gradient is zero, as PyTorch's). Under autocast it runs
    in float32, as PyTorch's (``grid_sampler`` is on its float32 list): a float32 image with
    a bfloat16 grid from ``affine_grid`` samples in float32."""
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise InvalidValueError(
            "nn.functional.grid_sample(): expected mode to be 'bilinear', 'nearest' or "
            f"'bicubic', but got: '{mode}'"
        )
    if padding_mode not in ("zeros", "border", "reflection"):
        raise InvalidValueError(
            "nn.functional.grid_sample(): expected padding_mode to be 'zeros', 'border', or "
            f"'reflection', but got: '{padding_mode}'"
        )
    align = _align(align_corners)
    if _core._get_autocast() is not None:
        sampled: Tensor = _autocast_fp32(grid_sample, input, grid, mode, padding_mode, align)
        return sampled
    if input.ndim not in (4, 5) or grid.ndim != input.ndim:
        raise ShapeError(
            f"grid_sampler(): expected 4D or 5D input and grid with same number of dimensions, "
            f"but got input with sizes {list(input.shape)} and grid with sizes "
            f"{list(grid.shape)}"
        )
    k = input.ndim - 2  # spatial dims
    if grid.shape[-1] != k:
        raise ShapeError(
            f"grid_sampler(): expected grid to have size {k} in last dimension and "
            f"{input.ndim} dims, but got grid with sizes {list(grid.shape)}"
        )
    if mode == "bicubic" and k == 3:
        raise InvalidValueError("grid_sampler(): bicubic interpolation only supports 4D input")
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
    n, c = input.shape[0], input.shape[1]
    sizes = list(input.shape[2:])  # outermost first: [H, W] or [D, H, W]
    if min(sizes) == 0:
        raise ShapeError(
            "grid_sampler(): expected input to have non-empty spatial dimensions, but input "
            f"has sizes {list(input.shape)}"
        )
    out_spatial = list(grid.shape[1:-1])
    p = math.prod(out_spatial)
    pts = grid.reshape(n, p, k)
    # Grid component j runs along spatial axis k - 1 - j (x is the last axis).
    comps = [pts[:, :, k - 1 - a] for a in range(k)]
    flat = input.reshape(n, c, math.prod(sizes))
    if mode == "bicubic":
        out = _bicubic(flat, comps, sizes, padding_mode, align)
        return out.reshape(n, c, *out_spatial)
    src = [_source_index(co, size, padding_mode, align) for co, size in zip(comps, sizes)]
    if mode == "nearest":
        out = _tap(flat, [s.detach().round().long() for s in src], sizes)
        if grid.requires_grad and _core.is_grad_enabled():
            out = _ZeroGridGrad.apply(out, grid)
        return out.reshape(n, c, *out_spatial)
    floors = [s.detach().floor() for s in src]
    lows = [f.long() for f in floors]
    fracs = [s - f for s, f in zip(src, floors)]  # distances from the low corner
    out = None
    for corner in itertools.product((0, 1), repeat=k):
        weight = None
        for bit, frac in zip(corner, fracs):
            wt = frac if bit else 1.0 - frac
            weight = wt if weight is None else weight * wt
        assert weight is not None
        term = _tap(flat, [lo + bit for lo, bit in zip(lows, corner)], sizes) * weight.unsqueeze(1)
        out = term if out is None else out + term
    assert out is not None
    return out.reshape(n, c, *out_spatial)


def _bicubic(
    flat: Tensor, comps: list[Tensor], sizes: list[int], padding_mode: str, align: bool
) -> Tensor:
    """Bicubic sampling of ``flat [N, C, H * W]`` at the normalised ``(y, x)`` ``comps``
    (PyTorch's rule: the 4x4 taps around the unpadded source point, each tap mapped by
    ``padding_mode``, weighted by cubic convolution of the fractional offsets)."""
    src = [_unnormalize(co, size, align) for co, size in zip(comps, sizes)]
    floors = [s.detach().floor() for s in src]
    coeffs = [_cubic_coefficients(s - f) for s, f in zip(src, floors)]
    taps = [
        [_bound_tap(f + (i - 1), size, padding_mode, align) for i in range(4)]
        for f, size in zip(floors, sizes)
    ]
    out = None
    for i in range(4):  # rows (y)
        for j in range(4):  # columns (x)
            vals = _tap(flat, [taps[0][i], taps[1][j]], sizes)
            term = vals * (coeffs[0][i] * coeffs[1][j]).unsqueeze(1)
            out = term if out is None else out + term
    assert out is not None
    return out
