"""Fractional max pooling (Graham, 2014): ``nn.FractionalMaxPool2d``/``3d`` and
``F.fractional_max_pool2d``/``3d``. Each plane draws one uniform per pooled dimension, which
places its windows pseudo-randomly so that the output shrinks by a non-integer ratio. The
window starts follow PyTorch's formula in the input's precision, so the same
``_random_samples`` give PyTorch's outputs and indices. The maxima are found on the host
with NumPy and gathered from the input by one differentiable ``gather``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Optional, Union

import numpy as np

from .. import _core
from .._core import Tensor
from .._tensor_extra import _autocast_fp32
from ..errors import InvalidValueError, ShapeError, not_a_tensor
from .module import Module

__all__ = [
    "FractionalMaxPool2d",
    "FractionalMaxPool3d",
    "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices",
]

Size = Union[int, Sequence[int]]


def _tuple(v: Any, n: int, name: str) -> tuple[Any, ...]:
    t = tuple(v) if isinstance(v, Sequence) else (v,) * n
    if len(t) != n:
        raise InvalidValueError(f"{name} must be one value or {n} values, got {v!r}")
    return t


def _output_ratio(
    name: str, nd: int, output_size: Any, output_ratio: Any, what: str
) -> Optional[tuple[Any, ...]]:
    """``output_ratio`` as ``nd`` values (``None`` when ``output_size`` is given instead), after
    PyTorch's checks, which both the functions and the layers' constructors make: exactly one
    of the two given, and every ratio strictly between 0 and 1."""
    if output_size is None and output_ratio is None:
        raise InvalidValueError(
            f"{name} requires specifying either an output size, or a pooling ratio"
        )
    if output_size is not None and output_ratio is not None:
        raise InvalidValueError("only one of output_size and output_ratio may be specified")
    if output_ratio is None:
        return None
    ratio = _tuple(output_ratio, nd, what)
    if not all(0 < r < 1 for r in ratio):
        raise InvalidValueError(f"output_ratio must be between 0 and 1 (got {output_ratio})")
    return ratio


def _starts(sample: np.ndarray, size: int, out: int, k: int) -> np.ndarray:
    """PyTorch's window starts for one dimension of every plane (``sample``: one uniform a
    plane), computed in the sample's precision as its kernels do."""
    starts = np.empty((sample.shape[0], out), dtype=np.int64)
    if out > 1:
        alpha = sample.dtype.type(size - k) / sample.dtype.type(out - 1)
        i = np.arange(out - 1, dtype=sample.dtype)[None, :]
        s = sample[:, None]
        starts[:, :-1] = ((i + s) * alpha).astype(np.int64) - (s * alpha).astype(np.int64)
    if out > 0:
        starts[:, -1] = size - k
    return starts


def _fractional_max_pool(
    input: Tensor,
    nd: int,
    kernel_size: Size,
    output_size: Optional[Size],
    output_ratio: Optional[Union[float, Sequence[float]]],
    return_indices: bool,
    samples: Optional[Tensor],
) -> Any:
    name = f"fractional_max_pool{nd}d"
    try:
        rank = input.ndim
    except AttributeError:  # not a tensor: PyTorch's TypeError, not an AttributeError
        raise not_a_tensor(name, "input", 1, input) from None
    if rank not in (nd + 1, nd + 2):
        raise ShapeError(
            f"{name}(): expected a {nd + 1}-d or {nd + 2}-d input, got shape {list(input.shape)}"
        )
    batched = input.ndim == nd + 2
    x = input if batched else input.unsqueeze(0)
    n, c, sizes = x.shape[0], x.shape[1], tuple(x.shape[2:])
    k = _tuple(kernel_size, nd, "kernel_size")
    ratio = _output_ratio(name, nd, output_size, output_ratio, "output_ratio")
    if ratio is not None:
        out = tuple(int(s * r) for s, r in zip(sizes, ratio))
    else:
        out = tuple(int(o) for o in _tuple(output_size, nd, "output_size"))
    if min(k) < 1 or min(out) < 0:
        # NumPy would fail below with its own reshape/size errors; say which argument is wrong.
        raise InvalidValueError(
            f"{name}(): kernel_size must be >= 1 and the output size >= 0, got "
            f"kernel_size={k}, output size={out}"
        )
    dims = ("time", "height", "width")[3 - nd :]
    # PyTorch's 2-d kernel lets the last window end at the input's edge; its 3-d kernel
    # asks for one element to spare (``outputT + poolSizeT - 1 < inputT``).
    spare = 1 if nd == 3 else 0
    for d in range(nd):
        if out[d] + k[d] - 1 + spare > sizes[d]:
            raise ShapeError(
                f"{name}(): pool {dims[d]} {k[d]} too large relative to input {dims[d]} {sizes[d]}"
            )
    if samples is None:
        samples = _core.rand(n, c, nd, dtype=x.dtype, device=x.device)
    elif samples.ndim != 3 or tuple(samples.shape[1:]) != (c, nd) or samples.shape[0] < n:
        # PyTorch reads the first N rows of a larger batch of samples.
        raise ShapeError(
            f"{name}(): _random_samples must have shape [>= {n}, {c}, {nd}], got "
            f"{list(samples.shape)}"
        )
    u_t = samples.detach().cpu()
    if u_t.dtype in (_core.float16, _core.bfloat16):  # (NumPy has no bfloat16)
        u_t = u_t.float()
    u = u_t.numpy()[:n].reshape(n * c, nd)
    # PyTorch's 2-d kernels read the samples as (width, height); the 3-d ones as (t, h, w).
    order = (1, 0) if nd == 2 else (0, 1, 2)
    planes = n * c
    strides = [int(np.prod(sizes[d + 1 :])) for d in range(nd)]
    flat = np.zeros((planes, *out, *k), dtype=np.int64)
    for d in range(nd):
        starts = _starts(u[:, order[d]], sizes[d], out[d], k[d])  # [planes, out[d]]
        pos = starts[:, :, None] + np.arange(k[d])[None, None, :]
        shape = [planes] + [1] * (2 * nd)
        shape[1 + d], shape[1 + nd + d] = out[d], k[d]
        flat = flat + pos.reshape(shape) * strides[d]
    # Explicit sizes, not -1: an empty batch (no planes) leaves -1 undetermined.
    n_out, n_in = int(np.prod(out)), int(np.prod(sizes))
    flat = flat.reshape(planes, n_out, int(np.prod(k)))
    a = x.detach()
    values = (a.float() if a.dtype == _core.bfloat16 else a).cpu().numpy().reshape(planes, n_in)
    window = np.take_along_axis(values, flat.reshape(planes, -1 if planes else 0), axis=1)
    window = window.reshape(flat.shape)
    # The first greatest value, or the last NaN: PyTorch's scan order.
    best = np.argmax(window, axis=-1)
    nan = np.isnan(window)
    last_nan = nan.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
    best = np.where(nan.any(axis=-1), last_nan, best)
    idx = np.take_along_axis(flat, best[..., None], axis=-1)[..., 0].reshape(n, c, n_out)
    index = _core.from_numpy(np.ascontiguousarray(idx)).to(x.device)
    y = x.reshape(n, c, n_in).gather(2, index).reshape(n, c, *out)
    index = index.reshape(n, c, *out)
    if not batched:
        y, index = y.squeeze(0), index.squeeze(0)
    return (y, index) if return_indices else y


def _fractional_max_pool_nd(nd: int, doc: str) -> Callable[..., Any]:
    """``fractional_max_pool2d``/``3d`` differ only in their number of pooled dims: one
    builder (as for ``max_unpool1d``/``2d``/``3d``)."""

    def fractional_max_pool(
        input: Tensor,
        kernel_size: Size,
        output_size: Optional[Size] = None,
        output_ratio: Optional[Union[float, Sequence[float]]] = None,
        return_indices: bool = False,
        _random_samples: Optional[Tensor] = None,
    ) -> Any:
        if _core._get_autocast() is not None:  # on PyTorch's autocast float32 list
            return _autocast_fp32(
                _fractional_max_pool,
                input,
                nd,
                kernel_size,
                output_size,
                output_ratio,
                return_indices,
                _random_samples,
            )
        return _fractional_max_pool(
            input, nd, kernel_size, output_size, output_ratio, return_indices, _random_samples
        )

    fractional_max_pool.__name__ = fractional_max_pool.__qualname__ = f"fractional_max_pool{nd}d"
    fractional_max_pool.__doc__ = doc
    return fractional_max_pool


fractional_max_pool2d = _fractional_max_pool_nd(
    2,
    """Fractional max pooling over ``[N, C, H, W]`` or ``[C, H, W]`` to ``output_size`` (or
    ``output_ratio`` of the input); ``_random_samples`` (``[N, C, 2]`` uniforms) fixes the
    windows, else they are drawn with ``dm.rand``.""",
)
fractional_max_pool3d = _fractional_max_pool_nd(
    3,
    """``fractional_max_pool2d`` over ``[N, C, T, H, W]`` or ``[C, T, H, W]`` (samples
    ``[N, C, 3]``).""",
)


def fractional_max_pool2d_with_indices(*args: Any, **kwargs: Any) -> tuple[Tensor, Tensor]:
    """``fractional_max_pool2d`` returning ``(output, indices)``."""
    return fractional_max_pool2d(*args, **{**kwargs, "return_indices": True})


def fractional_max_pool3d_with_indices(*args: Any, **kwargs: Any) -> tuple[Tensor, Tensor]:
    """``fractional_max_pool3d`` returning ``(output, indices)``."""
    return fractional_max_pool3d(*args, **{**kwargs, "return_indices": True})


class _FractionalMaxPoolNd(Module):
    """The layer over ``_fractional_max_pool``; the constructor checks the sizes, as
    PyTorch's does."""

    nd = 2

    def __init__(
        self,
        kernel_size: Size,
        output_size: Optional[Size] = None,
        output_ratio: Optional[Union[float, Sequence[float]]] = None,
        return_indices: bool = False,
        _random_samples: Optional[Tensor] = None,
    ) -> None:
        super().__init__()
        self.kernel_size = _tuple(kernel_size, self.nd, "kernel_size")
        self.return_indices = return_indices
        self.output_size = None if output_size is None else _tuple(output_size, self.nd, "")
        name = type(self).__name__
        self.output_ratio = _output_ratio(name, self.nd, output_size, output_ratio, "")
        # A buffer, as PyTorch's (``state_dict`` holds it when one is given).
        self.register_buffer("_random_samples", _random_samples)

    def forward(self, input: Tensor) -> Any:
        return _fractional_max_pool(
            input,
            self.nd,
            self.kernel_size,
            self.output_size,
            self.output_ratio,
            self.return_indices,
            self._random_samples,
        )


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """``FractionalMaxPool2d(kernel_size, output_size=None, output_ratio=None,
    return_indices=False)``: see ``F.fractional_max_pool2d``."""

    nd = 2


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """``FractionalMaxPool3d``: see ``F.fractional_max_pool3d``."""

    nd = 3
