"""Instance normalisation: ``F.instance_norm`` and the layers ``InstanceNorm1d``/``2d``/``3d``
(per-sample, per-channel statistics over the spatial dims; optional running statistics and
affine parameters, as in PyTorch)."""

from __future__ import annotations

import math
import warnings
from typing import Any, Optional

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad
from .._specialise import specialise
from .._tensor_extra import _takes_tensor
from ..errors import DTypeError, InvalidValueError, ShapeError
from ._param_dtypes import check_param_dtypes
from .normalization import _NormBase, affine_of

__all__ = ["InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "instance_norm"]


def _per_channel(t: Tensor, ndim: int) -> Tensor:
    """A ``[C]`` tensor shaped ``[C, 1, ...]`` to broadcast over ``[N, C, *spatial]``."""
    return t.reshape(t.shape[0], *([1] * (ndim - 2)))


@_takes_tensor
def instance_norm(
    input: Tensor,
    running_mean: Optional[Tensor] = None,
    running_var: Optional[Tensor] = None,
    weight: Optional[Tensor] = None,
    bias: Optional[Tensor] = None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalises each ``[n, c]`` plane of ``[N, C, *spatial]`` by its own mean and (biased)
    variance, then scales by ``weight[c]`` and shifts by ``bias[c]``. With ``use_input_stats``
    and running statistics given, those are updated in place as PyTorch does (the batch mean of
    the per-instance means and unbiased variances, weighted by ``momentum``); without
    ``use_input_stats`` the running statistics normalise instead."""
    if not input.dtype.is_floating_point:
        raise DTypeError(f"instance_norm expects a floating-point input, got {input.dtype}")
    if input.ndim < 2:
        raise ShapeError(f"instance_norm: expected at least a 2-D input, got {tuple(input.shape)}")
    check_param_dtypes("instance_norm", input, running_mean, running_var, weight, bias)
    ndim, channels = input.ndim, input.shape[1]
    for name, t in (
        ("running_mean", running_mean),
        ("running_var", running_var),
        ("weight", weight),
        ("bias", bias),
    ):
        if t is not None and tuple(t.shape) != (channels,):
            raise ShapeError(
                f"instance_norm: {name} has shape {tuple(t.shape)}, expected ({channels},)"
            )
    low = input.dtype in (_core.float16, _core.bfloat16)
    x = input.float() if low else input
    if use_input_stats:
        spatial = math.prod(input.shape[2:])
        if spatial == 1:
            raise InvalidValueError(
                "Expected more than 1 spatial element when training, got input size "
                f"{list(input.shape)}"
            )
        dims = list(range(2, ndim))
        mean = x.mean(dim=dims, keepdim=True)
        centred = x - mean
        var = (centred * centred).mean(dim=dims, keepdim=True)
        y = centred * (var + eps).rsqrt()
        if running_mean is not None or running_var is not None:
            _update_running(running_mean, running_var, mean, var, spatial, momentum)
    else:
        if running_mean is None or running_var is None:
            raise InvalidValueError(
                "Expected running_mean and running_var to be defined when use_input_stats is false"
            )
        rm = _per_channel(running_mean.to(x.dtype), ndim)
        rv = _per_channel(running_var.to(x.dtype), ndim)
        y = (x - rm) * (rv + eps).rsqrt()
    # (The affine step in float32 for a half input, then back: PyTorch's result dtype.)
    if weight is not None:
        y = y * _per_channel(weight.float() if low else weight, ndim)
    if bias is not None:
        y = y + _per_channel(bias.float() if low else bias, ndim)
    return y.to(input.dtype) if low else y


def _update_running(
    running_mean: Optional[Tensor],
    running_var: Optional[Tensor],
    mean: Tensor,
    var: Tensor,
    spatial: int,
    momentum: float,
) -> None:
    """PyTorch's running-statistics update of instance norm: the batch average of the
    per-instance means and of the unbiased per-instance variances, blended in by ``momentum``."""
    with no_grad():
        n = mean.shape[0]
        if n == 0:
            return
        if running_mean is not None:
            batch_mean = mean.detach().reshape(n, -1).mean(0).to(running_mean.dtype)
            running_mean.copy_(running_mean * (1 - momentum) + batch_mean * momentum)
        if running_var is not None:
            unbiased = var.detach().reshape(n, -1) * (spatial / (spatial - 1))
            batch_var = unbiased.mean(0).to(running_var.dtype)
            running_var.copy_(running_var * (1 - momentum) + batch_var * momentum)


class _InstanceNorm(_NormBase):
    """PyTorch's ``_InstanceNorm``: ``affine=False`` and ``track_running_stats=False`` by
    default (``bias=False`` with ``affine`` keeps only the scale); the batch statistics are
    used in training and whenever running statistics are not tracked. Unbatched inputs (one
    dim fewer) are accepted."""

    _expected_ndim: tuple[int, int] = (2, 3)

    # ``_NormBase``'s constructor with PyTorch's instance-norm defaults.
    __init__ = specialise(
        _NormBase.__init__, defaults={"affine": False, "track_running_stats": False}
    )

    def _upgrade_state_dict(
        self, state_dict: dict[str, Any], prefix: str, version: Optional[int], error_msgs: list[str]
    ) -> None:
        """PyTorch's: a state without a version (saved before 0.4) that holds running
        statistics this layer does not track fails the load, naming them (they are dropped,
        so they are not also reported as unexpected)."""
        if version is None and not self.track_running_stats:
            keys = [prefix + n for n in ("running_mean", "running_var") if prefix + n in state_dict]
            if keys:
                klass = type(self).__name__
                error_msgs.append(
                    "Unexpected running stats buffer(s) {names} for {klass} with "
                    "track_running_stats=False. If state_dict is a checkpoint saved before 0.4.0, "
                    "this may be expected because {klass} does not track running stats by "
                    "default since 0.4.0. Please remove these keys from state_dict. If the "
                    "running stats are actually needed, instead set track_running_stats=True in "
                    "{klass} to enable them. See the documentation of {klass} for details.".format(
                        names=" and ".join(f'"{k}"' for k in keys), klass=klass
                    )
                )
                for key in keys:
                    state_dict.pop(key)
        super()._upgrade_state_dict(state_dict, prefix, version, error_msgs)

    def _get_no_batch_dim(self) -> int:
        """The number of dims of an unbatched input (PyTorch's hook)."""
        return self._expected_ndim[0]

    def _check_input_dim(self, input: Tensor) -> None:
        """PyTorch's hook, which ``forward`` calls first (a subclass may widen it)."""
        if input.ndim not in self._expected_ndim:
            low, high = self._expected_ndim
            raise ShapeError(f"expected {low}D or {high}D input (got {input.ndim}D input)")

    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        unbatched = input.ndim == self._get_no_batch_dim()
        feature_dim = 0 if unbatched else 1
        if input.shape[feature_dim] != self.num_features:
            if self.affine:
                raise ShapeError(
                    f"expected input's size at dim={feature_dim} to match num_features "
                    f"({self.num_features}), but got: {input.shape[feature_dim]}."
                )
            warnings.warn(
                f"input's size at dim={feature_dim} does not match num_features. You can "
                "silence this warning by not passing in num_features, which is not used "
                "because affine=False",
                stacklevel=2,
            )
        x = input.unsqueeze(0) if unbatched else input
        y = instance_norm(
            x,
            self.running_mean,
            self.running_var,
            *affine_of(self),
            self.training or not self.track_running_stats,
            self.momentum if self.momentum is not None else 0.0,
            self.eps,
        )
        return y.squeeze(0) if unbatched else y


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation over ``[N, C, L]`` (or unbatched ``[C, L]``)."""

    _expected_ndim = (2, 3)


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation over ``[N, C, H, W]`` (or unbatched ``[C, H, W]``)."""

    _expected_ndim = (3, 4)


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation over ``[N, C, D, H, W]`` (or unbatched ``[C, D, H, W]``)."""

    _expected_ndim = (4, 5)
