"""PyTorch's volumetric (3-D) functionals: ``conv3d``, ``conv_transpose3d`` and the 3-D max,
average and adaptive pools, written as composites over the 2-D engine ops (each depth slice
goes through the 2-D op; the depth axis is then combined with ``index_select``, sums and
maxima), so autograd and every backend work without a 3-D kernel."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

import numpy as np

from .. import _core
from .._core import Tensor
from .._tensor_extra import _autocast_fp32, _host
from ..errors import InvalidValueError, ShapeError, not_a_tensor
from . import functional as F

Triple = Union[int, Sequence[int]]

__all__ = [
    "adaptive_avg_pool3d",
    "adaptive_max_pool3d",
    "avg_pool3d",
    "conv3d",
    "conv_transpose3d",
    "max_pool3d",
]


def _triple(v: Triple) -> tuple[int, int, int]:
    """``v`` as three ints (an int is repeated)."""
    return F._ints(v, 3, "a triple of ints")  # type: ignore[return-value]


def _batched(input: Tensor, name: str) -> tuple[Tensor, bool]:
    """``input`` as ``[N, C, D, H, W]``, a batch of one added to an unbatched ``[C, D, H, W]``;
    also whether it was added."""
    try:
        nd = input.ndim
    except AttributeError:  # not a tensor: PyTorch's TypeError, not an AttributeError
        raise not_a_tensor(name, "input", 1, input) from None
    if nd not in (4, 5):
        raise ShapeError(
            f"{name}: expected a 4-D (unbatched) or 5-D (batched) input, got shape "
            f"{tuple(input.shape)}"
        )
    return F._with_batch(input, 4)


def _take_depth(x: Tensor, index: Sequence[int]) -> Tensor:
    """The depth slices ``index`` of ``[N, C, D, H, W]`` ``x`` (differentiable)."""
    idx = _core.from_numpy(np.asarray(index, dtype=np.int64)).to(x.device)
    return x.index_select(2, idx)


def _pad_depth(x: Tensor, lo: int, hi: int, value: float = 0.0) -> Tensor:
    """``x`` padded with ``value`` on the depth axis (dim 2 of 5)."""
    if lo == 0 and hi == 0:
        return x
    return F.pad(x, (0, 0, 0, 0, lo, hi), value=value)


def _fold_depth(x: Tensor) -> Tensor:
    """``[N, C, D, H, W]`` as ``[N * D, C, H, W]``: each depth slice one 2-D image."""
    n, c, d, h, w = x.shape
    return x.permute(0, 2, 1, 3, 4).reshape(n * d, c, h, w)


def _unfold_depth(y: Tensor, n: int, depth: int) -> Tensor:
    """Undoes ``_fold_depth``: ``[N * D, C, H, W]`` back to ``[N, C, D, H, W]``."""
    _, c, h, w = y.shape
    return y.reshape(n, depth, c, h, w).permute(0, 2, 1, 3, 4)


def conv3d(
    input: Tensor,
    weight: Tensor,
    bias: Optional[Tensor] = None,
    stride: Triple = 1,
    padding: Union[Triple, str] = 0,
    dilation: Triple = 1,
    groups: int = 1,
) -> Tensor:
    """3-D convolution over ``[N, C, D, H, W]`` or ``[C, D, H, W]`` with ``weight [O, C/groups,
    kD, kH, kW]``: output depth slice ``o`` is the sum over ``kd`` of the 2-D convolution of
    input slice ``o * sD + kd * dD`` (after zero-padding the depth) with ``weight[:, :, kd]``.
    ``padding="same"`` puts the odd extra element on the far side, as PyTorch does."""
    x, unbatched = _batched(input, "conv3d")
    if weight.ndim != 5:
        raise ShapeError(f"conv3d: expected a 5-D weight, got shape {tuple(weight.shape)}")
    if x.shape[1] != weight.shape[1] * groups:
        raise ShapeError(
            f"conv3d: input has {x.shape[1]} channels but weight {tuple(weight.shape)} with "
            f"groups={groups} expects {weight.shape[1] * groups}"
        )
    s, d = _triple(stride), _triple(dilation)
    k = tuple(weight.shape[2:])
    if isinstance(padding, str):
        if padding == "valid":
            p: tuple[int, ...] = (0, 0, 0)
        elif padding == "same":
            if s != (1, 1, 1):
                raise InvalidValueError("padding='same' is not supported for strided convolutions")
            pads: list[int] = []
            for i in (2, 1, 0):  # F.pad's order: last dim first
                span = d[i] * (k[i] - 1)
                pads += [span // 2, span - span // 2]
            x = F.pad(x, pads)
            p = (0, 0, 0)
        else:
            raise InvalidValueError(
                f"Invalid padding string {padding!r}, should be one of ['valid', 'same']"
            )
    else:
        p = _triple(padding)
    if min(s) < 1 or min(d) < 1 or min(p) < 0:
        raise InvalidValueError(
            f"conv3d: stride and dilation must be >= 1 and padding >= 0, got stride={s}, "
            f"padding={p}, dilation={d}"
        )
    x = _pad_depth(x, p[0], p[0])
    depth = x.shape[2]
    out_d = (depth - d[0] * (k[0] - 1) - 1) // s[0] + 1
    if out_d < 1:
        raise ShapeError(
            f"conv3d: kernel depth {k[0]} (dilation {d[0]}) is larger than the padded input "
            f"depth {depth}"
        )
    n = x.shape[0]
    total: Optional[Tensor] = None
    for kd in range(k[0]):
        sl = _take_depth(x, [o * s[0] + kd * d[0] for o in range(out_d)])
        part = F.conv2d(_fold_depth(sl), weight[:, :, kd], None, s[1:], p[1:], d[1:], groups)
        total = part if total is None else total + part
    assert total is not None
    y = _unfold_depth(total, n, out_d)
    if bias is not None:
        y = y + bias.reshape(-1, 1, 1, 1).to(y.dtype)  # (autocast: y is half)
    return F._without_batch(y, unbatched)


def conv_transpose3d(
    input: Tensor,
    weight: Tensor,
    bias: Optional[Tensor] = None,
    stride: Triple = 1,
    padding: Triple = 0,
    output_padding: Triple = 0,
    groups: int = 1,
    dilation: Triple = 1,
) -> Tensor:
    """3-D transposed convolution over ``[N, C_in, D, H, W]`` or ``[C_in, D, H, W]`` with
    ``weight [C_in, C_out/groups, kD, kH, kW]`` (PyTorch's argument order): the adjoint of
    ``conv3d``. Each kernel depth ``kd`` sends input slice ``j`` through the 2-D transposed
    convolution to output depth ``j * sD + kd * dD - pD``."""
    x, unbatched = _batched(input, "conv_transpose3d")
    if weight.ndim != 5:
        raise ShapeError(
            f"conv_transpose3d: expected a 5-D weight, got shape {tuple(weight.shape)}"
        )
    if x.shape[1] != weight.shape[0]:
        raise ShapeError(
            f"conv_transpose3d: input has {x.shape[1]} channels but weight "
            f"{tuple(weight.shape)} expects {weight.shape[0]}"
        )
    s, p, op, d = _triple(stride), _triple(padding), _triple(output_padding), _triple(dilation)
    if min(s) < 1 or min(d) < 1 or min(p) < 0 or min(op) < 0:
        raise InvalidValueError(
            f"conv_transpose3d: stride and dilation must be >= 1, padding and output_padding "
            f">= 0, got stride={s}, padding={p}, output_padding={op}, dilation={d}"
        )
    n, _, depth = x.shape[:3]
    k = weight.shape[2]
    full = (depth - 1) * s[0] + d[0] * (k - 1) + 1 + op[0]  # before cropping the padding
    out_d = full - 2 * p[0]
    if out_d < 1:
        raise ShapeError(
            f"conv_transpose3d: the output depth would be {out_d}: output size is too small"
        )
    folded = _fold_depth(x)
    total: Optional[Tensor] = None
    for kd in range(k):
        z = F.conv_transpose2d(folded, weight[:, :, kd], None, s[1:], p[1:], op[1:], groups, d[1:])
        z = _unfold_depth(z, n, depth)  # [N, C_out, D, H', W']
        if s[0] > 1:  # slice j to depth j * s: interleave s - 1 zero slices
            zeros = _core.zeros(
                (*z.shape[:3], s[0] - 1, *z.shape[3:]), dtype=z.dtype, device=z.device
            )
            z = _core.cat([z.unsqueeze(3), zeros], 3)
            # The depth spelled out: -1 is undetermined for an empty batch.
            z = z.reshape(z.shape[0], z.shape[1], depth * s[0], *z.shape[4:])
            z = z.narrow(2, 0, (depth - 1) * s[0] + 1)
        lo = kd * d[0]
        z = _pad_depth(z, lo, full - lo - z.shape[2])
        total = z if total is None else total + z
    assert total is not None
    y = total.narrow(2, p[0], out_d)
    if bias is not None:
        y = y + bias.reshape(-1, 1, 1, 1).to(y.dtype)  # (autocast: y is half)
    return F._without_batch(y, unbatched)


def _depth_windows(
    y: Tensor, k: int, s: int, d: int, out: int, combine: Callable[[Tensor, Tensor], Tensor]
) -> Tensor:
    """The depth half of the separable 3-d pools: output depth ``o`` combines (``combine``:
    ``_first_max`` or sum, in kernel order) the ``k`` depth slices ``o * s + kd * d`` of ``y``."""
    total = _take_depth(y, [o * s for o in range(out)])
    for kd in range(1, k):
        total = combine(total, _take_depth(y, [o * s + kd * d for o in range(out)]))
    return total


def _first_max(a: Tensor, b: Tensor) -> Tensor:
    """``maximum(a, b)`` for ``a`` the earlier slice, as a ``where`` so that backward gives a
    tie's gradient whole to ``a`` (``maximum`` splits it); a NaN in ``b`` replaces ``a``, as in
    PyTorch's scan (``val > max || isnan(val)``)."""
    return _core.where((b > a) | b.isnan(), b, a)


def _depth_max(y: Tensor, windows: list[list[int]]) -> Tensor:
    """The depth half of the separable 3-d max pools: output depth ``o`` is the maximum of the
    depth slices ``windows[o]`` of ``y [N, C, D, H, W]`` (positions outside ``[0, D)`` are
    padding, skipped; each window must hold a slice of ``y``), combined in order by
    ``_first_max`` so the gradient goes to the first maximum (or last NaN) alone, as PyTorch's."""
    depth = y.shape[2]
    width = max(len(win) for win in windows)
    cols = []
    for win in windows:
        inside = [j for j in win if 0 <= j < depth]
        # A padding position repeats the window's first (before it) or last (after it) slice:
        # a tie with itself, so the same element keeps the gradient.
        col = [inside[0] if j < 0 else inside[-1] if j >= depth else j for j in win]
        cols.append(col + [inside[-1]] * (width - len(col)))
    # Without a gradient to route, ``maximum`` (one kernel) gives the same values.
    tracked = y.requires_grad and _core.is_grad_enabled()
    combine = _first_max if tracked else Tensor.maximum
    total = _take_depth(y, [col[0] for col in cols])
    for t in range(1, width):
        total = combine(total, _take_depth(y, [col[t] for col in cols]))
    return total


def _pool_size(length: int, k: int, s: int, p: int, d: int, ceil_mode: bool, name: str) -> int:
    """PyTorch's pooled size of an axis (with ``ceil_mode``, a last window must start inside
    the input or its left padding)."""
    if p * 2 > k:
        raise InvalidValueError(
            f"{name}: pad should be at most half of effective kernel size, but got pad={p} and "
            f"kernel_size={k}"
        )
    span = length + 2 * p - d * (k - 1) - 1
    out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= length + p:
        out -= 1
    if out < 1:
        raise ShapeError(
            f"{name}: the output size is too small (input size {length}, kernel {k}, "
            f"padding {p}, dilation {d})"
        )
    return out


def _pool_window(
    kernel_size: Triple, stride: Optional[Triple], padding: Triple, name: str
) -> tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]:
    """A 3-D pool's kernel, stride (defaulting to the kernel, also for an empty sequence, as
    PyTorch reads it) and padding, checked."""
    k = _triple(kernel_size)
    s = (
        k
        if stride is None or (not isinstance(stride, int) and len(stride) == 0)
        else _triple(stride)
    )
    p = _triple(padding)
    if min(k) < 1 or min(s) < 1 or min(p) < 0:
        raise InvalidValueError(
            f"{name}: kernel_size and stride must be >= 1 and padding >= 0, got "
            f"kernel_size={k}, stride={s}, padding={p}"
        )
    return k, s, p


def max_pool3d(
    input: Tensor,
    kernel_size: Triple,
    stride: Optional[Triple] = None,
    padding: Triple = 0,
    dilation: Triple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Any:
    """Max pooling over ``[N, C, D, H, W]`` or ``[C, D, H, W]`` (padding counts as ``-inf``).
    The maximum is separable: a 2-D max pool over ``H, W`` of every depth slice, then the
    maximum over each depth window. With ``return_indices`` also the flat ``d * H * W + h * W +
    w`` position of each maximum (the first in scan order, as PyTorch's), ``(values, indices)``,
    the values then read at those positions so the gradient goes to them alone."""
    if _core._get_autocast() is not None:  # on PyTorch's autocast float32 list
        return _autocast_fp32(
            max_pool3d, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices
        )
    x, unbatched = _batched(input, "max_pool3d")
    k, s, p = _pool_window(kernel_size, stride, padding, "max_pool3d")
    d = _triple(dilation)
    if min(d) < 1:
        raise InvalidValueError(f"max_pool3d: dilation must be >= 1, got {d}")
    n, c, depth, h, w = x.shape
    out_d = _pool_size(depth, k[0], s[0], p[0], d[0], ceil_mode, "max_pool3d")
    for i in (1, 2):
        _pool_size(x.shape[2 + i], k[i], s[i], p[i], d[i], ceil_mode, "max_pool3d")
    flat = x.reshape(n, c * depth, h, w)
    if return_indices:
        planes, where = F.max_pool2d(
            flat, k[1:], s[1:], p[1:], d[1:], ceil_mode, return_indices=True
        )
        windows = [[o * s[0] - p[0] + kd * d[0] for kd in range(k[0])] for o in range(out_d)]
        return _gather_max(x, planes, where, windows, unbatched)
    planes = F.max_pool2d(flat, k[1:], s[1:], p[1:], d[1:], ceil_mode)
    y = planes.reshape(n, c, depth, *planes.shape[2:])
    windows = [[o * s[0] - p[0] + kd * d[0] for kd in range(k[0])] for o in range(out_d)]
    if all(any(0 <= j < depth for j in win) for win in windows):
        out = _depth_max(y, windows)
    else:  # a dilated window of padding alone: -inf there, as PyTorch's
        need = (out_d - 1) * s[0] + d[0] * (k[0] - 1) + 1
        y = _pad_depth(y, p[0], max(need - depth - p[0], 0), -math.inf)
        out = _depth_windows(y, k[0], s[0], d[0], out_d, _first_max)
    return F._without_batch(out, unbatched)


def _gather_max(
    x: Tensor, planes: Tensor, where: Tensor, windows: list[list[int]], unbatched: bool
) -> tuple[Tensor, Tensor]:
    """The indices half of the separable 3-d max pools: ``planes``/``where`` are the 2-D max
    pool of every depth slice of ``x [N, C, D, H, W]`` and its in-plane indices; output depth
    ``o`` takes the first slice of ``windows[o]`` (depth positions, those outside the input
    skipped) holding the window's maximum. Returns ``(values, indices)``, the values gathered
    from ``x`` at the indices (differentiable in ``x``)."""
    n, c, depth, h, w = x.shape
    oh, ow = planes.shape[2], planes.shape[3]
    vals = _host(planes).astype(np.float64).reshape(n, c, depth, oh, ow)
    plane_idx = where.cpu().numpy().reshape(n, c, depth, oh, ow)
    width = max(len(win) for win in windows)
    table = np.zeros((len(windows), width), dtype=np.int64)
    valid = np.zeros((len(windows), width), dtype=bool)
    for o, win in enumerate(windows):
        for t, j in enumerate(win):
            if 0 <= j < depth:
                table[o, t], valid[o, t] = j, True
    cand = vals[:, :, table]  # [N, C, D_out, width, H_out, W_out]
    cand = np.where(valid[None, None, :, :, None, None], cand, -np.inf)
    # PyTorch's scan keeps the first greatest value, but every NaN replaces what it holds
    # (``val > max || isnan(val)``): the last NaN when there is one, else the first maximum.
    nan = np.isnan(cand)
    first_max = np.argmax(np.where(nan, -np.inf, cand), axis=3)
    last_nan = width - 1 - np.argmax(nan[:, :, :, ::-1], axis=3)
    best = np.where(nan.any(axis=3), last_nan, first_max)
    slice_of = np.take_along_axis(
        np.broadcast_to(table[None, None, :, :, None, None], cand.shape), best[:, :, :, None], 3
    )[:, :, :, 0]
    in_plane = np.take_along_axis(plane_idx, slice_of, 2)
    index = slice_of * (h * w) + in_plane
    idx = _core.from_numpy(np.ascontiguousarray(index, dtype=np.int64)).to(x.device)
    # The index count spelled out: -1 is undetermined for an empty batch.
    values = x.reshape(n, c, depth * h * w).gather(
        2, idx.reshape(n, c, int(np.prod(index.shape[2:])))
    )
    values = values.reshape(idx.shape)
    return F._without_batch(values, unbatched), F._without_batch(idx, unbatched)


def avg_pool3d(
    input: Tensor,
    kernel_size: Triple,
    stride: Optional[Triple] = None,
    padding: Triple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: Optional[int] = None,
) -> Tensor:
    """Average pooling over ``[N, C, D, H, W]`` or ``[C, D, H, W]``: window sums (a 2-D
    pool of each zero-padded depth slice, then sums over depth windows) divided by PyTorch's
    divisor — ``divisor_override``, else the window clipped to the padded input
    (``count_include_pad``) or to the input itself."""
    if _core._get_autocast() is not None:  # on PyTorch's autocast float32 list
        out_fp32: Tensor = _autocast_fp32(
            avg_pool3d,
            input,
            kernel_size,
            stride,
            padding,
            ceil_mode,
            count_include_pad,
            divisor_override,
        )
        return out_fp32
    if isinstance(input, Tensor) and not input.is_floating_point():
        # Integers average in float64, truncated toward zero as PyTorch's integer division
        # (and int64 again, as avg_pool2d keeps them).
        args = (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        return avg_pool3d(input.double(), *args).trunc().to(input.dtype)
    x, unbatched = _batched(input, "avg_pool3d")
    k, s, p = _pool_window(kernel_size, stride, padding, "avg_pool3d")
    if divisor_override is not None and divisor_override == 0:
        raise InvalidValueError("avg_pool3d: divisor must be not zero")
    sizes = x.shape[2:]
    outs = [_pool_size(sizes[i], k[i], s[i], p[i], 1, ceil_mode, "avg_pool3d") for i in range(3)]
    # zero-pad every axis far enough for all windows, then sum the windows without padding
    pads: list[int] = []
    for i in (2, 1, 0):
        pads += [p[i], max((outs[i] - 1) * s[i] + k[i] - sizes[i] - p[i], 0)]
    xp = F.pad(x, pads)
    n, c, depth, h, w = xp.shape
    sums = F.avg_pool2d(xp.reshape(n, c * depth, h, w), k[1:], s[1:], 0) * float(k[1] * k[2])
    sums = sums.reshape(n, c, depth, *sums.shape[2:])
    sums = sums.narrow(3, 0, outs[1]).narrow(4, 0, outs[2])
    total = _depth_windows(sums, k[0], s[0], 1, outs[0], Tensor.__add__)
    if divisor_override is not None:
        return F._without_batch(total / float(divisor_override), unbatched)
    counts = []
    for i in range(3):
        start = np.arange(outs[i]) * s[i] - p[i]
        end = np.minimum(start + k[i], sizes[i] + p[i])
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, sizes[i])
        counts.append((end - start).astype(np.float64))
    div = counts[0][:, None, None] * counts[1][None, :, None] * counts[2][None, None, :]
    div_t = _core.from_numpy(np.ascontiguousarray(div)).to(total.device).to(total.dtype)
    return F._without_batch(total / div_t, unbatched)


def _adaptive_bounds(length: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows of an axis: cell ``i`` covers ``[floor(i * L / O),
    ceil((i + 1) * L / O))``."""
    return [(i * length // out, -(-(i + 1) * length // out)) for i in range(out)]


def _adaptive_mean(x: Tensor, dim: int, out: int) -> Tensor:
    """The mean over each of PyTorch's adaptive windows along ``dim`` (counted from the front):
    a reshape when the windows tile the axis, else the windows gathered side by side with the
    repeated filler positions masked out by ``where``. Unlike a pooling-matrix product (the
    engine's ``_adaptive_avg_pool2d``, where ``0 * nan`` is ``nan``), a NaN or inf reaches
    only the windows that contain it, as in PyTorch."""
    length = x.shape[dim]
    if length % out == 0:
        return x.unflatten(dim, (out, length // out)).mean(dim + 1)
    windows = F._adaptive_windows(length, out)
    widths = np.array([hi - lo for lo, hi in _adaptive_bounds(length, out)])
    trailing = (1,) * (x.ndim - dim - 1)
    valid = np.arange(windows.shape[1])[None, :] < widths[:, None]
    idx = _core.from_numpy(np.ascontiguousarray(windows.reshape(-1), np.int64)).to(x.device)
    gathered = x.index_select(dim, idx).unflatten(dim, windows.shape)
    mask = _core.from_numpy(valid.reshape((*valid.shape, *trailing))).to(x.device)
    sums = _core.where(mask, gathered, 0.0).sum(dim + 1)
    counts = _core.from_numpy(widths.reshape(out, *trailing)).to(x.device, x.dtype)
    return sums / counts


def _check_nonempty(x: Tensor, name: str) -> None:
    """PyTorch's check for the adaptive 3-D pools: an empty channel or spatial dim has no
    window to pool (the separable means would average nothing and return garbage)."""
    if 0 in tuple(x.shape[1:]):
        raise ShapeError(
            f"{name}(): Expected input to have non-zero size for non-batch dimensions, but "
            f"input has sizes {list(x.shape)}"
        )


def _adaptive3d(
    input: Tensor, output_size: Union[int, Sequence[Optional[int]]], name: str, use_max: bool
) -> Tensor:
    """The separable adaptive pool: the maximum of each depth slice's 2-D adaptive max pool, or
    the mean over the adaptive windows of each axis in turn, then over each adaptive depth
    window."""
    x, unbatched = _batched(input, name)
    _check_nonempty(x, name)
    n, c, depth, h, w = x.shape
    od, oh, ow = F._adaptive_size(output_size, (depth, h, w), name, empty_ok=True)
    if 0 in (od, oh, ow):  # PyTorch's pools give an empty result for a size of 0
        return F._without_batch(F._empty_adaptive(x, (od, oh, ow), name), unbatched)
    bounds = _adaptive_bounds(depth, od)
    if use_max:
        y = F.adaptive_max_pool2d(x.reshape(n, c * depth, h, w), (oh, ow))
        y = y.reshape(n, c, depth, oh, ow)
        out = _depth_max(y, [list(range(lo, hi)) for lo, hi in bounds])
        return F._without_batch(out, unbatched)
    y = _adaptive_mean(_adaptive_mean(x, 4, ow), 3, oh)
    cells = [y.narrow(2, lo, hi - lo).mean(2, keepdim=True) for lo, hi in bounds]
    return F._without_batch(_core.cat(cells, 2), unbatched)


def adaptive_avg_pool3d(input: Tensor, output_size: Union[int, Sequence[Optional[int]]]) -> Tensor:
    """Average pooling of ``[N, C, D, H, W]`` or ``[C, D, H, W]`` to ``output_size`` (a
    ``None`` there keeps that input size), with PyTorch's adaptive windows. On PyTorch's
    autocast float32 list: computed and returned in float32 inside a region."""
    if _core._get_autocast() is not None:
        out_fp32: Tensor = _autocast_fp32(adaptive_avg_pool3d, input, output_size)
        return out_fp32
    return _adaptive3d(input, output_size, "adaptive_avg_pool3d", use_max=False)


def adaptive_max_pool3d(
    input: Tensor,
    output_size: Union[int, Sequence[Optional[int]]],
    return_indices: bool = False,
) -> Any:
    """Max pooling of ``[N, C, D, H, W]`` or ``[C, D, H, W]`` to ``output_size`` (a ``None``
    there keeps that input size), with PyTorch's adaptive windows. With ``return_indices``
    also the flat ``d * H * W + h * W + w`` position of each maximum: ``(values, indices)``."""
    if _core._get_autocast() is not None:  # on PyTorch's autocast float32 list
        return _autocast_fp32(adaptive_max_pool3d, input, output_size, return_indices)
    if not return_indices:
        return _adaptive3d(input, output_size, "adaptive_max_pool3d", use_max=True)
    x, unbatched = _batched(input, "adaptive_max_pool3d")
    _check_nonempty(x, "adaptive_max_pool3d")
    n, c, depth, h, w = x.shape
    od, oh, ow = F._adaptive_size(output_size, (depth, h, w), "adaptive_max_pool3d", empty_ok=True)
    if 0 in (od, oh, ow):
        empty = F._empty_adaptive(x, (od, oh, ow), "adaptive_max_pool3d")
        out = F._without_batch(empty, unbatched)
        return out, out.detach().to(_core.int64)
    planes, where = F.adaptive_max_pool2d(
        x.reshape(n, c * depth, h, w), (oh, ow), return_indices=True
    )
    windows = [list(range(lo, hi)) for lo, hi in _adaptive_bounds(depth, od)]
    return _gather_max(x, planes, where, windows, unbatched)
