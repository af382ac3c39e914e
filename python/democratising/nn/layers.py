"""Layers: ``Dense``/``Linear``, activations, ``Dropout``/``Dropout2d``, ``Flatten``/``Unflatten``,
``Identity``, padding, ``Upsample``, ``CosineSimilarity``/``PairwiseDistance``."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad
from ..errors import ArgumentTypeError, IndexOutOfRangeError, InvalidValueError, ShapeError
from . import functional as F
from ._factory import to_factory
from ._functional_extra_activations import _lenient_leaf, apply_inplace
from .module import Module
from .padding_extra import _ConstantPadNd, _PadNd, _ZeroPadNd
from .parameter import Parameter


def _uniform(shape: tuple[int, ...], bound: float) -> Parameter:
    return Parameter(_core.rand(shape) * (2 * bound) - bound)


def _init_weight_and_bias(
    module: Module,
    weight_shape: tuple[int, ...],
    bias: bool,
    bias_size: Optional[int] = None,
    fan_in: Optional[int] = None,
) -> None:
    """PyTorch's default initialisation of ``Linear``, ``Bilinear`` and the convolutions
    (Kaiming-uniform with a=√5): ``weight`` and ``bias`` (one per output, ``weight_shape[0]``
    unless ``bias_size`` says otherwise, as for the transposed convolutions) both drawn from
    U(±1/√fan_in), weight first, where fan_in is ``prod(weight_shape[1:])`` unless given (as
    ``Bilinear`` gives it); without ``bias`` a ``None`` parameter, so ``state_dict`` and
    ``repr`` match PyTorch's."""
    if fan_in is None:
        fan_in = math.prod(weight_shape[1:])
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    module.weight = _uniform(weight_shape, bound)
    if bias:
        module.bias = _uniform((weight_shape[0] if bias_size is None else bias_size,), bound)
    else:
        module.register_parameter("bias", None)


def _reset_weight_and_bias(module: Module, fan_in: Optional[int] = None) -> None:
    """Re-draws ``weight`` and ``bias`` in place from U(±1/√fan_in), as
    ``_init_weight_and_bias`` drew them (PyTorch's ``reset_parameters`` of ``Linear``,
    ``Bilinear`` and the convolutions); a lazy module still waiting for its size is left
    alone, as PyTorch's lazy layers do."""
    from . import init

    has_placeholders = getattr(module, "has_uninitialized_params", None)
    if has_placeholders is not None and has_placeholders():
        return
    weight = module.weight
    if fan_in is None:
        fan_in = math.prod(tuple(weight.shape)[1:])
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    init.uniform_(weight, -bound, bound)
    bias = module._parameters.get("bias")
    if bias is not None:
        init.uniform_(bias, -bound, bound)


def _flatten_hint(err: ShapeError, x: Any, in_features: int) -> None:
    """Adds "flatten it first" to a linear layer's shape error when the input's features are
    there but not flattened: images ``[N, 28, 28]`` (``datasets.mnist``) into the seed guide's
    ``Dense(784, 128)``. Only on the error path, so the layer's call costs nothing more."""
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) > 2 and math.prod(shape[1:]) == in_features and err.args:
        err.args = (
            f"{err.args[0]}; the features are not flattened: use x.flatten(1) "
            "(or an nn.Flatten() layer before this one)",
            *err.args[1:],
        )


class Dense(Module):
    """``y = x @ weight.T + bias`` with ``weight`` of shape ``(out, in)`` and PyTorch's default
    initialisation (Kaiming-uniform, a=√5, i.e. U(±1/√in) for both weight and bias)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        _init_weight_and_bias(self, (out_features, in_features), bias)
        to_factory(self, device, dtype)

    def reset_parameters(self) -> None:
        """Re-draws ``weight`` and ``bias`` from U(±1/√in_features), in place."""
        _reset_weight_and_bias(self)

    def forward(self, input: Tensor) -> Tensor:
        try:
            return F.linear(input, self.weight, self._param("bias"))
        except ShapeError as e:
            _flatten_hint(e, input, self.in_features)
            raise

    def extra_repr(self) -> str:
        b = getattr(self, "bias", None) is not None  # (parametrized too)
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={b}"


class _AliasOfDense(type):
    """``isinstance``/``issubclass`` treat ``Linear`` and ``Dense`` as one class, so code that
    checks for ``nn.Linear`` (weight-decay groups, init loops) also finds the seed's
    ``Dense`` layers."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, Dense)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, Dense)


class Linear(Dense, metaclass=_AliasOfDense):
    """PyTorch's name for ``Dense`` (the same layer, parameters and ``state_dict``); it prints
    as ``Linear(...)``, the name it was built with."""


class _InplaceActivation(Module):
    """An activation with PyTorch's ``inplace`` flag: ``forward`` is ``_act(x, *options)``, the
    options being the attributes ``_option_names`` names, written into the input with
    ``inplace=True`` (also under autograd, as PyTorch does); ``repr`` shows ``_options()``
    (by default those options) and then ``inplace=True`` when set."""

    _act: Callable[..., Tensor]
    _option_names: tuple[str, ...] = ()

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        if self.inplace and not _lenient_leaf(input):
            out = self._engine_inplace(input)
            if out is not None:
                return out
        options = [getattr(self, name) for name in self._option_names]
        return apply_inplace(input, lambda t: self._act(t, *options), self.inplace)

    def _engine_inplace(self, x: Tensor) -> Optional[Tensor]:
        """The engine's own in-place op for this activation (no clone, see
        ``apply_inplace``), or ``None`` where there is none. Those ops record autograd
        through the overwritten input, so ``x`` changes even when it requires grad (a leaf
        that requires grad raises), as in PyTorch."""
        return None

    def _options(self) -> str:
        return ", ".join(f"{name}={getattr(self, name)}" for name in self._option_names)

    def extra_repr(self) -> str:
        inplace = "inplace=True" if self.inplace else ""
        return ", ".join(s for s in (self._options(), inplace) if s)


class ReLU(_InplaceActivation):
    """``max(x, 0)``; ``inplace=True`` writes the result into the input."""

    def _act(self, x: Tensor) -> Tensor:
        return x.relu()

    def _engine_inplace(self, x: Tensor) -> Optional[Tensor]:
        return x.relu_()


class LeakyReLU(_InplaceActivation):
    _act = staticmethod(F.leaky_relu)
    _option_names = ("negative_slope",)

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.negative_slope = negative_slope

    def _engine_inplace(self, x: Tensor) -> Optional[Tensor]:
        # A negative slope flips the sign the engine's backward reads: clone instead.
        return x.leaky_relu_(self.negative_slope) if self.negative_slope >= 0 else None


class _AlphaActivation(_InplaceActivation):
    """``ELU`` and ``CELU``: the one option ``alpha``, 1.0 by default (PyTorch's)."""

    _option_names = ("alpha",)

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(inplace)
        self.alpha = alpha


class ELU(_AlphaActivation):
    _act = staticmethod(F.elu)


class Softplus(Module):
    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, input: Tensor) -> Tensor:
        return input.softplus(beta=self.beta, threshold=self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class GELU(Module):
    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return input.gelu(approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(_InplaceActivation):
    def _act(self, x: Tensor) -> Tensor:
        return x.silu()

    def _engine_inplace(self, x: Tensor) -> Optional[Tensor]:
        return x.silu_()


class _Elementwise(Module):
    """A layer with no options applying the function ``_fn``."""

    _fn: Callable[[Tensor], Tensor]

    def forward(self, input: Tensor) -> Tensor:
        return self._fn(input)


class Tanh(_Elementwise):
    _fn = staticmethod(Tensor.tanh)


class Sigmoid(_Elementwise):
    _fn = staticmethod(Tensor.sigmoid)


class _DropoutNd(Module):
    """What the dropout layers share (PyTorch's ``_DropoutNd``): ``p``, ``inplace``, and a
    ``forward`` that applies ``_drop(x, p, training)`` only while training with ``p > 0``."""

    _drop: Callable[[Tensor, float, bool], Tensor]

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        F._check_dropout_p(p)
        self.p, self.inplace = p, inplace

    def forward(self, input: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return input
        return apply_inplace(input, lambda t: self._drop(t, self.p, self.training), self.inplace)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    _drop = staticmethod(F.dropout)


class Flatten(Module):
    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Tensor) -> Tensor:
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    """Returns its input. Takes and ignores any arguments, as PyTorch's does, so it can stand in
    for a layer built with arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Tensor) -> Tensor:
        return input


# ---- more activations (``inplace=True`` writes into the input, see ``apply_inplace``) ----


class Hardtanh(_InplaceActivation):
    _act = staticmethod(F.hardtanh)
    _option_names = ("min_val", "max_val")

    def __init__(
        self,
        min_val: float = -1.0,
        max_val: float = 1.0,
        inplace: bool = False,
        min_value: Optional[float] = None,
        max_value: Optional[float] = None,
    ) -> None:
        # PyTorch still accepts the old ``min_value``/``max_value`` names, with a warning.
        if min_value is not None:
            warnings.warn(
                "keyword argument `min_value` is deprecated and renamed to `min_val`",
                FutureWarning,
                stacklevel=2,
            )
            min_val = min_value
        if max_value is not None:
            warnings.warn(
                "keyword argument `max_value` is deprecated and renamed to `max_val`",
                FutureWarning,
                stacklevel=2,
            )
            max_val = max_value
        if not max_val > min_val:
            raise InvalidValueError(f"max_val ({max_val}) must be greater than min_val ({min_val})")
        super().__init__(inplace)
        self.min_val, self.max_val = min_val, max_val

    def _engine_inplace(self, x: Tensor) -> Optional[Tensor]:
        return x.clamp_(self.min_val, self.max_val)


class ReLU6(Hardtanh):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def _options(self) -> str:
        return ""


class Mish(_InplaceActivation):
    _act = staticmethod(F.mish)


class _SilentInplace(_InplaceActivation):
    """PyTorch prints no ``inplace`` for ``Hardswish`` and ``Hardsigmoid``."""

    def extra_repr(self) -> str:
        return ""


class Hardswish(_SilentInplace):
    _act = staticmethod(F.hardswish)


class Hardsigmoid(_SilentInplace):
    _act = staticmethod(F.hardsigmoid)


class Softsign(_Elementwise):
    _fn = staticmethod(F.softsign)


class LogSigmoid(_Elementwise):
    _fn = staticmethod(F.logsigmoid)


class _OverDim(Module):
    """A layer applying ``_fn(x, dim)``."""

    _fn: Callable[[Tensor, Any], Tensor]

    def __init__(self, dim: Optional[int]) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return self._fn(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class _OverOptionalDim(_OverDim):
    """The softmax family: ``dim`` may be left out (``None``: PyTorch's deprecated implicit
    choice, with its warning)."""

    def __init__(self, dim: Optional[int] = None) -> None:
        super().__init__(dim)


class Softmin(_OverOptionalDim):
    _fn = staticmethod(F.softmin)


class Softmax(_OverOptionalDim):
    _fn = staticmethod(F.softmax)


class LogSoftmax(_OverOptionalDim):
    _fn = staticmethod(F.log_softmax)


class GLU(_OverDim):
    _fn = staticmethod(F.glu)

    def __init__(self, dim: int = -1) -> None:
        super().__init__(dim)


class PReLU(Module):
    """Leaky ReLU with a learnt slope: one shared (``num_parameters=1``) or one per channel."""

    def __init__(
        self, num_parameters: int = 1, init: float = 0.25, device: Any = None, dtype: Any = None
    ) -> None:
        super().__init__()
        # PyTorch's attribute; on this layer it shadows ``Module.num_parameters()``.
        self.num_parameters = num_parameters  # type: ignore[method-assign,assignment]
        self.init = init
        self.weight = Parameter(_core.full((num_parameters,), init))
        to_factory(self, device, dtype)

    def reset_parameters(self) -> None:
        """Sets every slope back to ``init``, in place."""
        with no_grad():
            self.weight.fill_(self.init)

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


# ---- shape, dropout, padding, resampling, distances ----------------------------------------


class Unflatten(Module):
    """Splits dim ``dim`` into ``unflattened_size`` (which may hold one -1)."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        # PyTorch's check: a tuple or list of ints, kept as given (its repr shows it so).
        if not isinstance(unflattened_size, (tuple, list)):
            raise ArgumentTypeError(
                "unflattened_size must be a tuple of ints, but found type "
                f"{type(unflattened_size).__name__}"
            )
        for i, n in enumerate(unflattened_size):
            if not isinstance(n, int):
                raise ArgumentTypeError(
                    "unflattened_size must be tuple of ints, but found element of type "
                    f"{type(n).__name__} at pos {i}"
                )
        self.dim, self.unflattened_size = dim, unflattened_size

    def forward(self, input: Tensor) -> Tensor:
        # Checked, not ``dim % ndim``: a modulo silently picked another dim for one out of
        # range, and divided by zero on a 0-d input.
        d, n = self.dim, input.ndim
        if d < 0:
            d += n
        if not 0 <= d < n:
            raise IndexOutOfRangeError(
                f"Unflatten: dim {self.dim} is out of range for an input of shape "
                f"{tuple(input.shape)}"
            )
        return input.reshape((*input.shape[:d], *self.unflattened_size, *input.shape[d + 1 :]))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"


class Dropout2d(_DropoutNd):
    """Zeroes whole channels of ``[N, C, H, W]`` (or ``[N, C, L]``) while training."""

    _drop = staticmethod(F.dropout2d)

    def forward(self, input: Tensor) -> Tensor:
        # ``F.dropout2d`` in every mode, so that its warnings about the input's rank come in
        # eval mode too, as PyTorch's do (it returns ``x`` itself when not training).
        return F.dropout2d(input, self.p, self.training, self.inplace)


class ConstantPad2d(_ConstantPadNd):
    _dims = 2


class ZeroPad2d(_ZeroPadNd, ConstantPad2d):
    """Pads the last two dims with zeros."""


class ReflectionPad2d(_PadNd):
    _dims, mode = 2, "reflect"


class ReplicationPad2d(_PadNd):
    _dims, mode = 2, "replicate"


class Upsample(Module):
    """Resizing of the spatial dims by ``F.interpolate`` (nearest by default; linear,
    bilinear, bicubic and trilinear too)."""

    def __init__(
        self,
        size: Optional[Union[int, Sequence[int]]] = None,
        scale_factor: Optional[Union[float, Sequence[float]]] = None,
        mode: str = "nearest",
        align_corners: Optional[bool] = None,
        recompute_scale_factor: Optional[bool] = None,
    ) -> None:
        super().__init__()
        self.name = type(self).__name__  # PyTorch's attribute, read by some export code
        self.size = size
        self.scale_factor: Optional[Union[float, tuple[float, ...]]]
        if scale_factor is None or isinstance(scale_factor, (int, float)):
            self.scale_factor = float(scale_factor) if scale_factor else None
        else:
            self.scale_factor = tuple(float(f) for f in scale_factor)
        self.mode, self.align_corners = mode, align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.interpolate(
            input,
            self.size,
            self.scale_factor,
            self.mode,
            self.align_corners,
            recompute_scale_factor=self.recompute_scale_factor,
        )

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return f"{info}, mode={self.mode!r}"


class _FixedModeUpsample(Upsample):
    """PyTorch's older upsampling layers: ``Upsample`` taking only ``size`` and
    ``scale_factor``, with the ``_mode`` (and ``_align_corners``) the layer fixes."""

    _mode: str
    _align_corners: Optional[bool] = None

    def __init__(
        self,
        size: Optional[Union[int, Sequence[int]]] = None,
        scale_factor: Optional[Union[float, Sequence[float]]] = None,
    ) -> None:
        super().__init__(size, scale_factor, mode=self._mode, align_corners=self._align_corners)


class UpsamplingNearest2d(_FixedModeUpsample):
    """``Upsample`` in nearest mode (PyTorch's older name)."""

    _mode = "nearest"


class UpsamplingBilinear2d(_FixedModeUpsample):
    """``Upsample`` in bilinear mode with ``align_corners=True``, as PyTorch's."""

    _mode, _align_corners = "bilinear", True


class _SlidingBlocks(Module):
    """What ``Unfold`` and ``Fold`` share: the block geometry both of PyTorch's constructors
    take (``Unfold``'s constructor), stored as given and shown by ``repr`` in that order."""

    def __init__(
        self,
        kernel_size: Union[int, Sequence[int]],
        dilation: Union[int, Sequence[int]] = 1,
        padding: Union[int, Sequence[int]] = 0,
        stride: Union[int, Sequence[int]] = 1,
    ) -> None:
        super().__init__()
        self.kernel_size, self.dilation = kernel_size, dilation
        self.padding, self.stride = padding, stride

    def _geometry(self) -> tuple[Any, Any, Any, Any]:
        """The geometry in the functional ops' order (after the input and ``output_size``)."""
        return self.kernel_size, self.dilation, self.padding, self.stride

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
            f"padding={self.padding}, stride={self.stride}"
        )


class Unfold(_SlidingBlocks):
    """Sliding blocks as columns (``F.unfold``): ``[N, C, H, W]`` -> ``[N, C * kh * kw, L]``."""

    def forward(self, input: Tensor) -> Tensor:
        return F.unfold(input, *self._geometry())


class Fold(_SlidingBlocks):
    """Columns summed back into an image (``F.fold``), the adjoint of ``Unfold``."""

    def __init__(
        self,
        output_size: Union[int, Sequence[int]],
        kernel_size: Union[int, Sequence[int]],
        dilation: Union[int, Sequence[int]] = 1,
        padding: Union[int, Sequence[int]] = 0,
        stride: Union[int, Sequence[int]] = 1,
    ) -> None:
        super().__init__(kernel_size, dilation, padding, stride)
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        return F.fold(input, self.output_size, *self._geometry())

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, {super().extra_repr()}"


class CosineSimilarity(Module):
    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
