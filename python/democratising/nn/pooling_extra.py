"""More pooling: max unpooling (``F.max_unpool1d``/``2d``/``3d``, ``MaxUnpool1d``/``2d``/``3d``),
power-average pooling (``F.lp_pool1d``/``2d``, ``LPPool1d``/``2d``) and PyTorch's
``*_with_indices`` aliases of the max pools, which always return ``(values, indices)``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

from .. import _core
from .._core import Tensor
from .._function import Function, FunctionCtx
from .._tensor_extra import _autocast_fp32, _takes_tensor
from ..errors import DTypeError, IndexOutOfRangeError, InvalidValueError, ShapeError
from . import _functional_volumetric as V
from . import functional as F
from .module import Module

__all__ = [
    "LPPool1d",
    "LPPool2d",
    "LPPool3d",
    "MaxUnpool1d",
    "MaxUnpool2d",
    "MaxUnpool3d",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d_with_indices",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "max_pool1d_with_indices",
    "max_pool2d_with_indices",
    "max_pool3d_with_indices",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
]


IntOrSeq = Union[int, Sequence[int]]


def _ints(v: IntOrSeq, n: int) -> tuple[int, ...]:
    """``n`` ints from an int (repeated) or a sequence of ``n``: ``F._ints`` with this
    module's error wording."""
    return F._ints(v, n, f"a sequence of {n} ints")


# ---- max unpooling ----


class _Unpool(Function):
    """Writes each value of ``x [P, M]`` at its index of ``index [P, M]`` in a zero ``[P,
    size]`` (where indices repeat, the last value written stays, as PyTorch's CPU kernel);
    the backward gathers the output gradient at every index, as PyTorch's does."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, index: Tensor, size: int) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(index)
        out = _core.zeros(x.shape[0], size, dtype=x.dtype, device=x.device)
        return out.scatter(1, index, x)

    @staticmethod
    def backward(  # type: ignore[override]
        ctx: FunctionCtx, g: Tensor
    ) -> tuple[Optional[Tensor], None, None]:
        (index,) = ctx.saved_tensors
        return g.gather(1, index), None, None


def _unpool_output_size(
    input: Tensor,
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    padding: tuple[int, ...],
    output_size: Optional[Sequence[int]],
) -> tuple[int, ...]:
    """PyTorch's ``_unpool_output_size``: ``(in - 1) * stride + kernel - 2 * padding`` per
    axis, or the given ``output_size`` (its last axes when it also names batch and channels),
    which must lie strictly within ``stride`` of that default."""
    n = len(kernel_size)
    in_sizes = input.shape[input.ndim - n :]
    default = [
        (i - 1) * s + k - 2 * p for i, s, k, p in zip(in_sizes, stride, kernel_size, padding)
    ]
    if output_size is None:
        return tuple(default)
    sizes = [int(o) for o in output_size]
    if len(sizes) == n + 2:
        sizes = sizes[2:]
    if len(sizes) != n:
        raise InvalidValueError(
            f"output_size should be a sequence containing {n} or {n + 2} elements, but it has "
            f"a length of '{len(sizes)}'"
        )
    for d in range(n):
        low, high = default[d] - stride[d], default[d] + stride[d]
        if not low < sizes[d] < high:
            raise InvalidValueError(
                f'invalid output_size "{list(output_size)}" (dim {d} must be between {low} and '
                f"{high})"
            )
    return tuple(sizes)


def _max_unpool(
    input: Tensor,
    indices: Tensor,
    out_sizes: tuple[int, ...],
    name: str,
) -> Tensor:
    """Scatters ``input [*, C, *in]`` to zeros ``[*, C, *out_sizes]`` at the flat in-plane
    positions ``indices`` (same shape as ``input``)."""
    n = len(out_sizes)
    if input.ndim not in (n + 1, n + 2):
        raise ShapeError(
            f"{name}: expected a {n + 1}-D or {n + 2}-D input, got shape {tuple(input.shape)}"
        )
    if indices.dtype != _core.int64:
        raise DTypeError(f"{name}: elements of indices should be type int64, got {indices.dtype}")
    if tuple(indices.shape) != tuple(input.shape):
        raise ShapeError(
            f"{name}: expected the shape of indices {tuple(indices.shape)} to match that of the "
            f"input {tuple(input.shape)}"
        )
    if min(out_sizes) < 0:
        raise InvalidValueError(f"{name}: output_size must be non-negative, got {out_sizes}")
    plane = math.prod(out_sizes)
    lead = tuple(input.shape[: input.ndim - n])
    planes = math.prod(lead)
    per_plane = math.prod(input.shape[input.ndim - n :])
    idx = indices.reshape(planes, per_plane)
    host = idx.cpu().numpy()
    if host.size and (host.min() < 0 or host.max() >= plane):
        bad = host[(host < 0) | (host >= plane)].flat[0]
        raise IndexOutOfRangeError(
            f"{name}: Found an invalid max index: {int(bad)} (output volumes are of size "
            f"{'x'.join(map(str, out_sizes))})"
        )
    x = input.reshape(planes, per_plane)
    out = _Unpool.apply(x, idx.to(input.device), plane)
    return out.reshape((*lead, *out_sizes))


def _max_unpool_nd(n: int, doc: str) -> Callable[..., Tensor]:
    """``max_unpool1d``/``2d``/``3d`` differ only in their number of window dims: one
    builder."""
    name = f"max_unpool{n}d"

    def max_unpool(
        input: Tensor,
        indices: Tensor,
        kernel_size: IntOrSeq,
        stride: Optional[IntOrSeq] = None,
        padding: IntOrSeq = 0,
        output_size: Optional[Sequence[int]] = None,
    ) -> Tensor:
        if _core._get_autocast() is not None:  # on PyTorch's autocast float32 list
            out_fp32: Tensor = _autocast_fp32(
                max_unpool, input, indices, kernel_size, stride, padding, output_size
            )
            return out_fp32
        k = _ints(kernel_size, n)
        s = _ints(stride, n) if stride is not None else k
        out = _unpool_output_size(input, k, s, _ints(padding, n), output_size)
        return _max_unpool(input, indices, out, name)

    max_unpool.__name__ = max_unpool.__qualname__ = name
    max_unpool.__doc__ = doc
    return _takes_tensor(max_unpool)


max_unpool1d = _max_unpool_nd(
    1,
    """The partial inverse of ``max_pool1d``: ``[N, C, L]`` (or ``[C, L]``) placed at the
    positions ``indices`` (from ``max_pool1d(..., return_indices=True)``) of a zero signal of
    length ``(L - 1) * stride + kernel_size - 2 * padding`` or ``output_size``.""",
)
max_unpool2d = _max_unpool_nd(
    2,
    """The partial inverse of ``max_pool2d``: ``[N, C, H, W]`` (or ``[C, H, W]``) placed at
    the in-plane positions ``indices`` (``h * W_out + w``, from ``max_pool2d(...,
    return_indices=True)``) of a zero image of PyTorch's default size or ``output_size``.""",
)
max_unpool3d = _max_unpool_nd(
    3,
    """The partial inverse of ``max_pool3d``: ``[N, C, D, H, W]`` (or ``[C, D, H, W]``) placed
    at the in-volume positions ``indices`` (``(d * H_out + h) * W_out + w``, from
    ``max_pool3d(..., return_indices=True)``) of a zero volume of PyTorch's default size or
    ``output_size``.""",
)


class _MaxUnpoolNd(Module):
    """PyTorch's max-unpooling layers: the window stored as tuples and shown in ``repr``."""

    _ndim = 1
    _unpool: Callable[..., Tensor]

    def __init__(
        self, kernel_size: IntOrSeq, stride: Optional[IntOrSeq] = None, padding: IntOrSeq = 0
    ) -> None:
        super().__init__()
        self.kernel_size = _ints(kernel_size, self._ndim)
        self.stride = _ints(stride if stride is not None else kernel_size, self._ndim)
        self.padding = _ints(padding, self._ndim)

    def forward(
        self, input: Tensor, indices: Tensor, output_size: Optional[Sequence[int]] = None
    ) -> Tensor:
        return type(self)._unpool(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """``F.max_unpool1d`` as a layer: ``forward(input, indices, output_size=None)``."""

    _ndim = 1
    _unpool = staticmethod(max_unpool1d)


class MaxUnpool2d(_MaxUnpoolNd):
    """``F.max_unpool2d`` as a layer: ``forward(input, indices, output_size=None)``."""

    _ndim = 2
    _unpool = staticmethod(max_unpool2d)


class MaxUnpool3d(_MaxUnpoolNd):
    """``F.max_unpool3d`` as a layer: ``forward(input, indices, output_size=None)``."""

    _ndim = 3
    _unpool = staticmethod(max_unpool3d)


# ---- power-average pooling ----


def _check_norm_type(norm_type: float) -> None:
    if norm_type == 0:
        raise InvalidValueError(f"norm_type must be a non-zero value, but got {norm_type}")


def _lp_pool(
    input: Tensor,
    norm_type: Union[int, float],
    kernel_size: IntOrSeq,
    stride: Optional[IntOrSeq],
    ceil_mode: bool,
    n: int,
) -> Tensor:
    """``lp_pool1d``/``2d``/``3d``: the same steps through the ``n``-d max and average pools;
    the finite case is PyTorch's ``(sign(avg) * relu(|avg|) * area) ** (1 / p)``, the window
    sum of ``x ** p`` to the power ``1 / p``."""
    max_pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[n - 1]
    avg_pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[n - 1]
    _check_norm_type(norm_type)
    if norm_type == math.inf:
        return max_pool(input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    if norm_type == -math.inf:
        return -max_pool(-input.abs(), kernel_size, stride, 0, 1, ceil_mode)
    k = _ints(kernel_size, n)
    out = avg_pool(input.pow(norm_type), k, stride, 0, ceil_mode)
    # ``sign(out) * relu(|out|)`` is ``out`` with a zero gradient where ``out`` is 0 (relu's
    # mask stops the infinite slope of ``** (1 / p)`` at 0). ``where`` selects as that mask
    # does; a product with a zero derivative would give ``inf * 0 = nan`` for an all-zero
    # window, which PyTorch's backward gives as 0.
    out = _core.where(out != 0, out, 0.0)
    return out.mul(math.prod(k)).pow(1.0 / norm_type)


def _lp_pool_nd(n: int, doc: str) -> Callable[..., Tensor]:
    """``lp_pool1d``/``2d``/``3d`` differ only in their number of window dims: one builder."""

    def lp_pool(
        input: Tensor,
        norm_type: Union[int, float],
        kernel_size: IntOrSeq,
        stride: Optional[IntOrSeq] = None,
        ceil_mode: bool = False,
    ) -> Tensor:
        return _lp_pool(input, norm_type, kernel_size, stride, ceil_mode, n)

    lp_pool.__name__ = lp_pool.__qualname__ = f"lp_pool{n}d"
    lp_pool.__doc__ = doc
    return _takes_tensor(lp_pool)


lp_pool1d = _lp_pool_nd(
    1,
    """``(sum over each window of x ** p) ** (1 / p)`` over ``[N, C, L]`` (or ``[C, L]``),
    computed as PyTorch does through ``avg_pool1d``; ``p = inf`` is the max of ``|x|``.""",
)
lp_pool2d = _lp_pool_nd(
    2,
    """``(sum over each window of x ** p) ** (1 / p)`` over ``[N, C, H, W]`` (or ``[C, H,
    W]``), computed as PyTorch does through ``avg_pool2d``; ``p = inf`` is the max of ``|x|``.""",
)
lp_pool3d = _lp_pool_nd(
    3,
    """``(sum over each window of x ** p) ** (1 / p)`` over ``[N, C, D, H, W]`` (or ``[C, D, H,
    W]``), computed as PyTorch does through ``avg_pool3d``; ``p = inf`` is the max of ``|x|``.""",
)


class _LPPoolNd(Module):
    """PyTorch's power-average pooling layers (the arguments kept as given, as ``repr`` shows
    them)."""

    _pool: Callable[..., Tensor]

    def __init__(
        self,
        norm_type: float,
        kernel_size: IntOrSeq,
        stride: Optional[IntOrSeq] = None,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__()
        _check_norm_type(norm_type)  # PyTorch rejects ``p = 0`` when the layer is built
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        return type(self)._pool(
            input, self.norm_type, self.kernel_size, self.stride, self.ceil_mode
        )

    def extra_repr(self) -> str:
        return (
            f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, ceil_mode={self.ceil_mode}"
        )


class LPPool1d(_LPPoolNd):
    """``F.lp_pool1d`` as a layer."""

    _pool = staticmethod(lp_pool1d)


class LPPool2d(_LPPoolNd):
    """``F.lp_pool2d`` as a layer."""

    _pool = staticmethod(lp_pool2d)


class LPPool3d(_LPPoolNd):
    """``F.lp_pool3d`` as a layer."""

    _pool = staticmethod(lp_pool3d)


# ---- PyTorch's ``*_with_indices`` spellings of the max pools ----


def _named_with_indices(fn: Callable[..., Any], pool: Callable[..., Any]) -> Callable[..., Any]:
    """Names and documents one ``<pool>_with_indices`` (its type error names it too)."""
    fn.__name__ = fn.__qualname__ = f"{pool.__name__}_with_indices"
    fn.__doc__ = (
        f"``{pool.__name__}`` returning ``(values, indices)`` whatever ``return_indices`` says."
    )
    return _takes_tensor(fn)


def _max_pool_with_indices(pool: Callable[..., Any]) -> Callable[..., Any]:
    """``max_pool1d``/``2d``/``3d`` share PyTorch's signature: one builder for the aliases."""

    def with_indices(
        input: Tensor,
        kernel_size: IntOrSeq,
        stride: Optional[IntOrSeq] = None,
        padding: IntOrSeq = 0,
        dilation: IntOrSeq = 1,
        ceil_mode: bool = False,
        return_indices: bool = False,
    ) -> tuple[Tensor, Tensor]:
        del return_indices
        out: tuple[Tensor, Tensor] = pool(
            input, kernel_size, stride, padding, dilation, ceil_mode, True
        )
        return out

    return _named_with_indices(with_indices, pool)


def _adaptive_max_pool_with_indices(pool: Callable[..., Any]) -> Callable[..., Any]:
    """``adaptive_max_pool1d``/``2d``/``3d`` share PyTorch's signature: one builder."""

    def with_indices(
        input: Tensor, output_size: Any, return_indices: bool = False
    ) -> tuple[Tensor, Tensor]:
        del return_indices
        out: tuple[Tensor, Tensor] = pool(input, output_size, True)
        return out

    return _named_with_indices(with_indices, pool)


max_pool1d_with_indices = _max_pool_with_indices(F.max_pool1d)
max_pool2d_with_indices = _max_pool_with_indices(F.max_pool2d)
adaptive_max_pool1d_with_indices = _adaptive_max_pool_with_indices(F.adaptive_max_pool1d)
adaptive_max_pool2d_with_indices = _adaptive_max_pool_with_indices(F.adaptive_max_pool2d)
max_pool3d_with_indices = _max_pool_with_indices(V.max_pool3d)
adaptive_max_pool3d_with_indices = _adaptive_max_pool_with_indices(V.adaptive_max_pool3d)
