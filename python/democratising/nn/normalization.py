"""``BatchNorm1d``/``BatchNorm2d`` (running statistics, momentum, eval mode), ``LayerNorm``,
``GroupNorm`` and ``RMSNorm``."""

from __future__ import annotations

import numbers
import operator
from collections.abc import Sequence
from typing import Any, Optional, Union

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad
from ..errors import InvalidValueError, ShapeError
from . import functional as F
from ._factory import to_factory
from .module import Module
from .parameter import Parameter


def _dims(shape: Union[int, Sequence[int]]) -> tuple[int, ...]:
    """A size or sizes as a tuple of ints (NumPy integers and ``torch.Size`` taken)."""
    if isinstance(shape, numbers.Integral):
        return (int(shape),)
    return tuple(operator.index(n) for n in shape)


def _register_affine(
    module: Module, affine: bool, bias: Optional[bool], shape: Union[int, Sequence[int]]
) -> None:
    """The learnable scale (ones) and shift (zeros) of a normalisation layer, or ``None`` in
    their places (so ``state_dict`` and ``repr`` look like PyTorch's either way); a layer
    without a shift at all (``RMSNorm``) passes ``bias=None``."""
    dims = _dims(shape)
    module.register_parameter("weight", Parameter(_core.ones(dims)) if affine else None)
    if bias is not None:
        module.register_parameter("bias", Parameter(_core.zeros(dims)) if affine and bias else None)


def _reset_affine(module: Module) -> None:
    """``weight`` back to ones and ``bias`` to zeros, in place, where they exist (PyTorch's
    ``reset_parameters`` of ``LayerNorm``, ``GroupNorm`` and ``RMSNorm``)."""
    with no_grad():
        weight, bias = module._parameters.get("weight"), module._parameters.get("bias")
        if weight is not None:
            weight.fill_(1.0)
        if bias is not None:
            bias.zero_()


def affine_of(module: Module) -> tuple[Optional[Tensor], Optional[Tensor]]:
    """The layer's scale and shift as the functional ops take them (``None`` where absent);
    read as attributes, so a parametrization registered on either is applied."""
    return module._param("weight"), module._param("bias")


class _NormBase(Module):
    """What batch and instance norm share (PyTorch's ``_NormBase``): the hyperparameters, the
    affine parameters and the running-statistics buffers (``None`` when not tracked)."""

    #: PyTorch's: version 2 added ``num_batches_tracked`` (recorded in ``state_dict``'s
    #: ``_metadata``, so a checkpoint saved here reads the same in PyTorch).
    _version = 2

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: Optional[float] = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        _register_affine(self, affine, bias, num_features)  # ``bias=False``: the scale only
        if track_running_stats:
            self.register_buffer("running_mean", _core.zeros(num_features))
            self.register_buffer("running_var", _core.ones(num_features))
            self.register_buffer("num_batches_tracked", _core.zeros((), dtype=_core.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        to_factory(self, device, dtype)

    def _upgrade_state_dict(
        self, state_dict: dict[str, Any], prefix: str, version: Optional[int], error_msgs: list[str]
    ) -> None:
        """PyTorch's upgrade: a state saved before version 2 (``_metadata``) has no
        ``num_batches_tracked``, so such a load keeps this layer's current count (0 when it
        has none); a version-2 state without it reports it missing."""
        key = prefix + "num_batches_tracked"
        if (version is None or version < 2) and self.track_running_stats:
            if key not in state_dict:
                count = self._buffers.get("num_batches_tracked")
                state_dict[key] = (
                    count.clone() if count is not None else _core.zeros((), dtype=_core.int64)
                )

    def reset_running_stats(self) -> None:
        """Running mean to zeros, running variance to ones, batch count to zero."""
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1.0)
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Running statistics reset; ``weight`` to ones and ``bias`` to zeros."""
        self.reset_running_stats()
        if self.affine:
            with no_grad():
                self.weight.fill_(1.0)
                if self.bias is not None:
                    self.bias.zero_()

    def extra_repr(self) -> str:
        """PyTorch's, ``bias`` included (whether there is a learnable shift)."""
        has_bias = getattr(self, "bias", None) is not None  # (parametrized too)
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={has_bias}, "
            f"track_running_stats={self.track_running_stats}"
        )


class _BatchNorm(_NormBase):
    _expected_ndim: tuple[int, ...] = ()

    def _check_input_dim(self, input: Tensor) -> None:
        """PyTorch's hook, which ``forward`` calls first (a subclass may widen it)."""
        if input.ndim not in self._expected_ndim:
            raise ShapeError(
                f"{type(self).__name__} expects a {' or '.join(map(str, self._expected_ndim))}-D "
                f"input, got shape {tuple(input.shape)}"
            )

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        if input.shape[1] != self.num_features:
            raise ShapeError(
                f"{type(self).__name__}({self.num_features}) got input with {input.shape[1]} "
                f"channels (shape {tuple(input.shape)})"
            )
        # PyTorch's rules, which read the buffers, not only the flag: eval mode normalises
        # with the running statistics whenever they exist (even after ``track_running_stats``
        # was set to False on a trained layer) and with the batch's when they are ``None``;
        # training passes them for updating only while ``track_running_stats`` is set.
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        momentum = self._momentum()
        give_stats = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if give_stats else None,
            self.running_var if give_stats else None,
            *affine_of(self),
            use_batch,
            momentum,
            self.eps,
        )

    def _momentum(self) -> float:
        """This forward's running-statistics momentum; in training with running statistics it
        counts the batch first (``momentum=None`` is a cumulative average: 1 / batches seen)."""
        if not (self.training and self.track_running_stats) or self.num_batches_tracked is None:
            return 0.0 if self.momentum is None else self.momentum
        with no_grad():
            self.num_batches_tracked.add_(1)
        if self.momentum is None:
            return 1.0 / float(self.num_batches_tracked.item())
        return self.momentum


class BatchNorm1d(_BatchNorm):
    _expected_ndim = (2, 3)


class BatchNorm2d(_BatchNorm):
    _expected_ndim = (4,)


class _TrailingNorm(Module):
    """What ``LayerNorm`` and ``RMSNorm`` share: the trailing ``normalized_shape`` they
    normalise over (kept as a tuple), ``eps`` and the elementwise ``weight`` (and ``bias``
    unless it is ``None``)."""

    def __init__(
        self,
        normalized_shape: Union[int, Sequence[int]],
        eps: Optional[float],
        elementwise_affine: bool,
        bias: Optional[bool],
        device: Any,
        dtype: Any,
    ) -> None:
        super().__init__()
        self.normalized_shape, self.eps = _dims(normalized_shape), eps
        self.elementwise_affine = elementwise_affine
        _register_affine(self, elementwise_affine, bias, self.normalized_shape)
        to_factory(self, device, dtype)

    def reset_parameters(self) -> None:
        """``weight`` to ones and ``bias`` to zeros, in place."""
        _reset_affine(self)


class LayerNorm(_TrailingNorm):
    def __init__(
        self,
        normalized_shape: Union[int, Sequence[int]],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(normalized_shape, eps, elementwise_affine, bias, device, dtype)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, *affine_of(self), self.eps)

    def extra_repr(self) -> str:
        has_bias = getattr(self, "bias", None) is not None
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={has_bias}"
        )


class GroupNorm(Module):
    """Normalises channel groups of ``[N, C, *]`` per sample (no running statistics, so train
    and eval behave alike); ``weight``/``bias`` are per channel."""

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        *,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        if num_groups <= 0:
            raise InvalidValueError(f"Expected num groups to be greater than 0, got {num_groups}")
        if num_channels % num_groups != 0:
            raise InvalidValueError(
                f"num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.num_groups, self.num_channels = num_groups, num_channels
        self.eps, self.affine = eps, affine
        _register_affine(self, affine, bias, num_channels)
        to_factory(self, device, dtype)

    def reset_parameters(self) -> None:
        """``weight`` to ones and ``bias`` to zeros, in place."""
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return F.group_norm(input, self.num_groups, *affine_of(self), self.eps)

    def extra_repr(self) -> str:
        has_bias = getattr(self, "bias", None) is not None
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={has_bias}"
        )


class RMSNorm(_TrailingNorm):
    """Root-mean-square layer normalisation over the trailing ``normalized_shape`` dims
    (PyTorch's ``nn.RMSNorm``): ``x / sqrt(mean(x**2) + eps) * weight`` with ``weight``
    initialised to ones; ``eps=None`` uses the input dtype's machine epsilon."""

    def __init__(
        self,
        normalized_shape: Union[int, Sequence[int]],
        eps: Optional[float] = None,
        elementwise_affine: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(normalized_shape, eps, elementwise_affine, None, device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        # ``x``, not ``input``: PyTorch's ``RMSNorm.forward`` names it so.
        return F.rms_norm(x, self.normalized_shape, self._parameters.get("weight"), self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
