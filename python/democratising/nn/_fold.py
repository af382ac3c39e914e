"""``F.unfold`` (sliding blocks of an image as columns, "im2col") and its adjoint ``F.fold``
(columns summed back into an image): one index of block positions into the padded image,
built in NumPy, applied with the engine's differentiable ``index_select`` and ``index_add``."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Union

import numpy as np

from .. import _core
from .._core import Tensor
from ..errors import InvalidValueError, ShapeError, not_a_tensor

_Pair = Union[int, Sequence[int]]


def _pair(v: _Pair, name: str, least: int) -> tuple[int, int]:
    if isinstance(v, Sequence):
        p = tuple(operator.index(x) for x in v)
    else:  # an int, a NumPy integer
        p = (operator.index(v),) * 2
    if len(p) != 2 or min(p) < least:
        raise InvalidValueError(
            f"{name} must be {'an int' if least else 'ints'} >= {least} "
            f"or a pair of them, got {v!r}"
        )
    return p  # type: ignore[return-value]


def _geometry(
    kernel_size: _Pair, dilation: _Pair, padding: _Pair, stride: _Pair
) -> tuple[tuple[int, int], ...]:
    """Kernel, dilation, padding and stride as checked pairs (the first two and the last at
    least 1, padding at least 0)."""
    return (
        _pair(kernel_size, "kernel_size", 1),
        _pair(dilation, "dilation", 1),
        _pair(padding, "padding", 0),
        _pair(stride, "stride", 1),
    )


def _blocks(
    size: tuple[int, int],
    kernel: tuple[int, int],
    dilation: tuple[int, int],
    padding: tuple[int, int],
    stride: tuple[int, int],
) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """The flat index into the padded ``[Hp, Wp]`` image of every (kernel offset, block)
    pair, ``[kh * kw, L]``; the padded size; and the blocks per dim."""
    padded = (size[0] + 2 * padding[0], size[1] + 2 * padding[1])
    counts = tuple(
        (padded[i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(2)
    )
    if min(counts) <= 0:
        raise ShapeError(
            f"Given input with spatial size {tuple(size)}, kernel_size={kernel}, "
            f"dilation={dilation}, padding={padding}, calculated shape of the array of sliding "
            f"blocks as {counts}, but its components must be at least one."
        )
    ki, kj = np.meshgrid(np.arange(kernel[0]), np.arange(kernel[1]), indexing="ij")
    oi, oj = np.meshgrid(np.arange(counts[0]), np.arange(counts[1]), indexing="ij")
    rows = ki.reshape(-1, 1) * dilation[0] + oi.reshape(1, -1) * stride[0]
    cols = kj.reshape(-1, 1) * dilation[1] + oj.reshape(1, -1) * stride[1]
    return rows * padded[1] + cols, padded, counts  # type: ignore[return-value]


def _batched(input: Tensor, name: str, unbatched_ndim: int) -> tuple[Tensor, bool]:
    """``input`` checked to be a tensor of ``unbatched_ndim`` dims (PyTorch's unbatched form)
    or one more, with a batch of one added in the first case (``_with_batch``): the input
    check ``unfold`` and ``fold`` share, with PyTorch's ``TypeError`` for a non-tensor."""
    from .functional import _with_batch  # functional imports this module

    try:
        nd = input.ndim
    except AttributeError:  # not a tensor: PyTorch's TypeError, not an AttributeError
        raise not_a_tensor(name, "input", 1, input) from None
    if nd not in (unbatched_ndim, unbatched_ndim + 1):
        raise ShapeError(
            f"{name} expects a {unbatched_ndim}-D or {unbatched_ndim + 1}-D input, got {nd}-D"
        )
    return _with_batch(input, unbatched_ndim)


def unfold(
    input: Tensor,
    kernel_size: _Pair,
    dilation: _Pair = 1,
    padding: _Pair = 0,
    stride: _Pair = 1,
) -> Tensor:
    """Sliding ``kernel_size`` blocks of ``[N, C, H, W]`` (or ``[C, H, W]``) as columns:
    ``[N, C * kh * kw, L]``, channel-major as PyTorch orders them."""
    from .functional import _without_batch, pad  # functional imports this module

    x, unbatched = _batched(input, "unfold", 3)
    k, d, p, s = _geometry(kernel_size, dilation, padding, stride)
    n, c, h, w = x.shape
    idx, padded, counts = _blocks((h, w), k, d, p, s)
    if p != (0, 0):
        x = pad(x, (p[1], p[1], p[0], p[0]))
    flat = x.reshape(n, c, padded[0] * padded[1])
    cols = flat.index_select(2, _core.from_numpy(idx.reshape(-1)).to(x.device))
    return _without_batch(cols.reshape(n, c * k[0] * k[1], counts[0] * counts[1]), unbatched)


def fold(
    input: Tensor,
    output_size: _Pair,
    kernel_size: _Pair,
    dilation: _Pair = 1,
    padding: _Pair = 0,
    stride: _Pair = 1,
) -> Tensor:
    """The adjoint of ``unfold``: columns ``[N, C * kh * kw, L]`` (or unbatched) summed into
    a ``[N, C, *output_size]`` image, overlapping blocks added."""
    from .functional import _without_batch  # functional imports this module

    x, unbatched = _batched(input, "fold", 2)
    size = _pair(output_size, "output_size", 1)
    k, d, p, s = _geometry(kernel_size, dilation, padding, stride)
    n, ck, blocks = x.shape
    if ck % (k[0] * k[1]):
        raise ShapeError(
            f"Expected size of input's dimension 1 to be divisible by the product of "
            f"kernel_size, but got input.size(1)={ck} and kernel_size={k}"
        )
    idx, padded, counts = _blocks(size, k, d, p, s)
    if blocks != counts[0] * counts[1]:
        raise ShapeError(
            f"Given output_size={size}, kernel_size={k}, dilation={d}, padding={p}, "
            f"stride={s}, expected size of input's dimension 2 to match the calculated number "
            f"of sliding blocks {counts[0]} * {counts[1]} = {counts[0] * counts[1]}, "
            f"but got input.size(2)={blocks}."
        )
    c = ck // (k[0] * k[1])
    image = _core.zeros(n, c, padded[0] * padded[1], dtype=x.dtype, device=x.device)
    src = x.reshape(n, c, k[0] * k[1] * blocks)
    image = image.index_add(2, _core.from_numpy(idx.reshape(-1)).to(x.device), src)
    out = image.reshape(n, c, padded[0], padded[1])
    return _without_batch(out[:, :, p[0] : p[0] + size[0], p[1] : p[1] + size[1]], unbatched)
