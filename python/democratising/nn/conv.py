"""``Conv1d``/``Conv2d`` and the pooling layers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

from .._core import Tensor
from ..errors import InvalidValueError, ShapeError
from . import functional as F
from ._derived_init import derived_init
from ._factory import to_factory
from .layers import _init_weight_and_bias, _reset_weight_and_bias
from .module import Module

IntPair = Union[int, Sequence[int]]
IntSingle = Union[int, Sequence[int]]
#: An adaptive pool's output size: an int, or one per axis where ``None`` keeps the input's.
AdaptiveSize = Union[int, Sequence[Optional[int]]]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _check_groups(in_channels: int, out_channels: int, groups: int) -> None:
    """PyTorch's checks that ``groups`` is positive and divides both channel counts."""
    if groups <= 0:
        raise InvalidValueError("groups must be a positive integer")
    if in_channels % groups or out_channels % groups:
        raise InvalidValueError("in_channels and out_channels must both be divisible by groups")


def _check_geometry(
    layer: str,
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    padding: Optional[tuple[int, ...]],
) -> None:
    """Refuses a kernel, stride or dilation below 1 and a negative padding when the layer is
    built (PyTorch: "negative padding is not supported"), not at its first forward."""
    for name, value, least in (
        ("kernel_size", kernel_size, 1),
        ("stride", stride, 1),
        ("dilation", dilation, 1),
        ("padding", padding, 0),
    ):
        if value is not None and min(value) < least:
            raise InvalidValueError(f"{layer}: {name} must be >= {least}, got {value}")


class _ConvBase(Module):
    """What ordinary and transposed convolutions share: the checked channels and groups, the
    geometry read as tuples of ``_ndim`` ints, and ``repr``."""

    _ndim = 1
    #: ``"same"``/``"valid"`` or ``_ndim`` ints (the transposed convolutions take ints only).
    padding: Union[tuple[int, ...], str]
    #: All zeros except on the transposed convolutions (``repr`` shows it when not).
    output_padding: tuple[int, ...] = ()
    #: PyTorch's flag telling ordinary from transposed convolutions (code such as weight
    #: initialisers and fusers reads it).
    transposed = False

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair,
        dilation: IntPair,
        groups: int,
        padding_mode: str,
    ) -> None:
        """Stores what every convolution takes, after PyTorch's checks of ``groups`` and of
        ``padding_mode`` (``_check_padding_mode``), in that order."""
        super().__init__()
        _check_groups(in_channels, out_channels, groups)
        self._check_padding_mode(padding_mode)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = self._tuple(kernel_size), self._tuple(stride)
        self.dilation, self.groups, self.padding_mode = self._tuple(dilation), groups, padding_mode
        # PyTorch stores the zeros on every convolution, not only the transposed ones.
        self.output_padding = (0,) * self._ndim

    def _check_padding_mode(self, padding_mode: str) -> None:
        """Raises PyTorch's error for a ``padding_mode`` this kind of convolution refuses."""
        raise NotImplementedError

    def _tuple(self, v: IntPair) -> tuple[int, ...]:
        """``v`` as ``_ndim`` ints."""
        return (F._single(v),) if self._ndim == 1 else F._pair(v)

    def _repr_head(self) -> str:
        """Channels, kernel size and stride: what every convolution's ``repr`` shows first."""
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )

    def extra_repr(self) -> str:
        """PyTorch's: the head, then each option that is not its default."""
        s = self._repr_head()
        zeros = (0,) * self._ndim
        if self.padding != zeros:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._ndim:
            s += f", dilation={self.dilation}"
        if any(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if getattr(self, "bias", None) is None:  # (a parametrized bias counts)
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _ConvNd(_ConvBase):
    """What ``Conv1d`` and ``Conv2d`` share: PyTorch's constructor and checks, the geometry as
    tuples of ``_ndim`` ints (``padding`` may be ``"same"``/``"valid"``), ``weight
    [O, C/groups, *kernel_size]`` and ``bias [O]`` initialised U(±1/√fan_in), and the explicit
    ``F.pad`` that a non-``"zeros"`` ``padding_mode`` applies before a valid convolution."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: Union[IntPair, str] = 0,
        dilation: IntPair = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, dilation, groups, padding_mode
        )
        self.padding = padding if isinstance(padding, str) else self._tuple(padding)
        _check_geometry(
            f"Conv{self._ndim}d",
            self.kernel_size,
            self.stride,
            self.dilation,
            None if isinstance(self.padding, str) else self.padding,
        )
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise InvalidValueError(
                    f"Invalid padding string {padding!r}, should be one of ['valid', 'same']"
                )
            if padding == "same" and any(s != 1 for s in self.stride):
                raise InvalidValueError("padding='same' is not supported for strided convolutions")
        shape = (out_channels, in_channels // groups, *self.kernel_size)
        _init_weight_and_bias(self, shape, bias)
        to_factory(self, device, dtype)

    def reset_parameters(self) -> None:
        """Re-draws ``weight`` and ``bias`` from U(±1/√fan_in), in place (PyTorch's)."""
        _reset_weight_and_bias(self)

    def _check_padding_mode(self, padding_mode: str) -> None:
        if padding_mode not in _PADDING_MODES:
            raise InvalidValueError(
                f"padding_mode must be one of {list(_PADDING_MODES)}, got {padding_mode!r}"
            )

    def _explicit_padding(self) -> tuple[int, ...]:
        """The padding for ``F.pad``: ``(left, right)`` per dimension, last dimension first
        (PyTorch puts the odd extra element of ``"same"`` padding on the right/bottom)."""
        if self.padding == "valid":
            return (0,) * (2 * self._ndim)
        pads: tuple[int, ...] = ()
        for i in reversed(range(self._ndim)):
            if isinstance(self.padding, str):
                total = self.dilation[i] * (self.kernel_size[i] - 1)
                pads += (total // 2, total - total // 2)
            else:
                pads += (self.padding[i], self.padding[i])
        return pads

    def _conv(self, x: Tensor) -> Tensor:
        """The convolution with the layer's own ``weight`` and ``bias``."""
        return self._conv_forward(x, self.weight, self._param("bias"))

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Optional[Tensor]) -> Tensor:
        """The convolution of ``x`` with ``weight`` and ``bias`` under the layer's geometry,
        after the explicit padding a non-``"zeros"`` ``padding_mode`` asks for. PyTorch's
        extension point: subclasses (weight standardisation, LoRA) pass another weight."""
        conv = (F.conv1d, F.conv2d, F.conv3d)[self._ndim - 1]
        padding: Any = self.padding
        if self.padding_mode != "zeros":
            x = F.pad(x, self._explicit_padding(), mode=self.padding_mode)
            padding = 0
        elif padding == "same" and any(
            d * (k - 1) % 2 for d, k in zip(self.dilation, self.kernel_size)
        ):
            # An even effective kernel pads one more zero on the right/bottom, as PyTorch does;
            # the functional convolutions take only symmetric padding.
            x = F.pad(x, self._explicit_padding())
            padding = 0
        return conv(x, weight, bias, self.stride, padding, self.dilation, self.groups)

    def forward(self, input: Tensor) -> Tensor:
        return self._conv(input)


class Conv1d(_ConvNd):
    """1-D convolution over ``[N, C, L]`` (or ``[C, L]``) with PyTorch's parameter shapes
    ``weight [O, C/groups, k]``, ``bias [O]`` and default initialisation U(±1/√fan_in).
    Non-``"zeros"`` ``padding_mode`` pads explicitly with ``F.pad`` before a valid convolution."""


class Conv2d(_ConvNd):
    """2-D convolution with PyTorch's parameter shapes ``weight [O, C/groups, kH, kW]`` and
    default initialisation U(±1/√fan_in). Non-``"zeros"`` ``padding_mode`` pads explicitly
    with ``F.pad`` before a valid convolution, as ``Conv1d`` does."""

    _ndim = 2

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim == 3 and input.shape[0] != self.in_channels:
            raise self._missing_channels(input)
        return self._conv(input)

    def _missing_channels(self, x: Tensor) -> ShapeError:
        """A 3-D input is one unbatched ``[C, H, W]`` image; ``[N, H, W]`` (a batch of
        grey images, MNIST's layout) is the usual mistake, so say how to add the channel."""
        n, h, w = x.shape
        c = self.in_channels
        fix = (
            f"x.unsqueeze(1) makes it a batch of {n} one-channel images [{n}, 1, {h}, {w}]"
            if c == 1
            else f"give [N, {c}, H, W] (a batch) or [{c}, H, W] (one image)"
        )
        return ShapeError(
            f"Conv2d({c}, {self.out_channels}, ...) got input [{n}, {h}, {w}]: a 3-D input is "
            f"one image [C, H, W] with C = in_channels = {c}, but it has {n}; if these are "
            f"{n} images, the channel dimension is missing: {fix}"
        )


class _PoolNd(Module):
    """What the pooling layers share: the window (``kernel_size``, ``stride``, ``padding``) and
    ``ceil_mode``, stored as ``_window`` reads them, and a ``forward`` through the functional
    op ``_pool`` with the window and then the attributes ``_pool_args`` names."""

    _pool: Callable[..., Tensor]
    _pool_args: tuple[str, ...] = ()

    def __init__(
        self, kernel_size: IntPair, stride: Optional[IntPair], padding: IntPair, ceil_mode: bool
    ) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = self._window(kernel_size, stride, padding)
        self.ceil_mode = ceil_mode

    def _window(
        self, kernel_size: IntPair, stride: Optional[IntPair], padding: IntPair
    ) -> tuple[Any, Any, Any]:
        """The window as this layer stores it: as given, but the kernel size as the stride when
        none is given (as PyTorch's ``_MaxPoolNd`` and ``_AvgPoolNd`` store it)."""
        if stride is None:
            stride = kernel_size
        return kernel_size, stride, padding

    def forward(self, input: Tensor) -> Tensor:
        rest = (getattr(self, name) for name in self._pool_args)
        return self._pool(input, self.kernel_size, self.stride, self.padding, *rest)


class _MaxPoolNd(_PoolNd):
    """PyTorch's constructor of the max pools (one for every dimension) and their ``repr``."""

    _pool_args = ("dilation", "ceil_mode", "return_indices")
    return_indices: bool = False  # for layers pickled before the option existed

    def __init__(
        self,
        kernel_size: IntPair,
        stride: Optional[IntPair] = None,
        padding: IntPair = 0,
        dilation: IntPair = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.dilation, self.return_indices = dilation, return_indices

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class _AvgPoolNd(_PoolNd):
    """PyTorch's constructor of the average pools (one for every dimension) and their
    ``repr``; the stride is stored as the kernel size when none is given, as PyTorch's."""

    _pool_args = ("ceil_mode", "count_include_pad")

    def __init__(
        self,
        kernel_size: IntPair,
        stride: Optional[IntPair] = None,
        padding: IntPair = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = count_include_pad

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AvgPoolWithDivisor(_AvgPoolNd):
    """The 2-d and 3-d average pools, which also take PyTorch's ``divisor_override`` (each
    window's sum divided by it instead of the window's size)."""

    _pool_args = ("ceil_mode", "count_include_pad", "divisor_override")
    divisor_override: Optional[int] = None  # for layers pickled before the option existed

    @derived_init(_AvgPoolNd.__init__)
    def __init__(self, divisor_override: Optional[int] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.divisor_override = divisor_override


class MaxPool2d(_MaxPoolNd):
    """Max pooling over ``[N, C, H, W]``; with ``return_indices`` the forward returns
    ``(values, indices)`` as ``F.max_pool2d`` does. PyTorch's argument order."""

    _pool = staticmethod(F.max_pool2d)


class AvgPool2d(_AvgPoolWithDivisor):
    _pool = staticmethod(F.avg_pool2d)


class _AdaptivePoolNd(Module):
    """What the adaptive pools share: the output size, kept as given and shown in ``repr``
    (as PyTorch shows it), and a forward through the functional op ``_pool``."""

    def __init__(self, output_size: AdaptiveSize) -> None:
        super().__init__()
        self.output_size = output_size

    _pool: Callable[..., Any]

    def forward(self, input: Tensor) -> Any:
        return self._pool(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    """An adaptive max pool; with ``return_indices`` the forward returns ``(values, indices)``
    as the functional op does."""

    def __init__(self, output_size: AdaptiveSize, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Any:
        return self._pool(input, self.output_size, self.return_indices)


class AdaptiveAvgPool2d(_AdaptivePoolNd):
    _pool = staticmethod(F.adaptive_avg_pool2d)


class MaxPool1d(_MaxPoolNd):
    """Max pooling over ``[N, C, L]``; ``stride`` defaults to ``kernel_size``. With
    ``return_indices`` the forward returns ``(values, indices)`` as ``F.max_pool1d`` does."""

    _pool = staticmethod(F.max_pool1d)


class AvgPool1d(_AvgPoolNd):
    """Average pooling over ``[N, C, L]``; ``stride`` defaults to ``kernel_size``."""

    _pool = staticmethod(F.avg_pool1d)

    def _window(
        self, kernel_size: IntSingle, stride: Optional[IntSingle], padding: IntSingle
    ) -> tuple[Any, Any, Any]:
        """The window as 1-tuples of checked ints, the stride defaulting to the kernel size
        (PyTorch's)."""
        k, s = F._kernel_and_stride(kernel_size, stride, F._single)
        return (k,), (s,), (F._single(padding),)


class AdaptiveAvgPool1d(_AdaptivePoolNd):
    _pool = staticmethod(F.adaptive_avg_pool1d)


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    _pool = staticmethod(F.adaptive_max_pool1d)


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    _pool = staticmethod(F.adaptive_max_pool2d)
