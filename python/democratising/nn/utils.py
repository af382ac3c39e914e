"""``democratising.nn.utils``: gradient clipping and parameter flattening."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Optional, Union

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad

Params = Union[Tensor, Iterable[Tensor]]


def _grads(parameters: Params) -> list[Tensor]:
    ps = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p.grad for p in ps if p.grad is not None]


def clip_grad_norm_(
    parameters: Params,
    max_norm: float,
    norm_type: Union[float, str] = 2.0,
    error_if_nonfinite: bool = False,
    foreach: Optional[bool] = None,
) -> Tensor:
    """Scales gradients in place so their global norm is at most ``max_norm``; returns the
    norm. As in PyTorch, a non-finite norm raises ``RuntimeError`` with
    ``error_if_nonfinite``, and otherwise scales anyway (a NaN norm makes the gradients NaN).
    ``foreach`` picks PyTorch's implementation; here there is one, so it changes nothing."""
    del foreach
    norm_type = float(norm_type)
    ps = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = _grads(ps)
    if not grads:
        return _core.zeros()
    with no_grad():
        if math.isinf(norm_type):
            total = _core.stack([g.abs().amax().float() for g in grads]).amax()
        elif norm_type == 2.0:
            flats = [g.float().reshape(-1) for g in grads]
            total = _core.stack([f @ f for f in flats]).sum().sqrt()  # dot products
        else:
            total = _core.stack([(g.float().abs() ** norm_type).sum() for g in grads]).sum() ** (
                1.0 / norm_type
            )
        norm = total.item()
        if error_if_nonfinite and not math.isfinite(norm):
            raise RuntimeError(
                f"The total norm of order {norm_type} for gradients from `parameters` is "
                "non-finite, so it cannot be clipped. To disable this error and scale the "
                "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
            )
        coef = max_norm / (norm + 1e-6)
        if coef < 1.0 or math.isnan(coef):
            for g in grads:
                g.mul_(coef)  # in place, as PyTorch: references to .grad see the clipped values
    return total


def clip_grad_value_(parameters: Params, clip_value: float, foreach: Optional[bool] = None) -> None:
    """Clamps every gradient to ``[-clip_value, clip_value]`` in place (a reference to a
    ``.grad`` sees the change, as in PyTorch); ``foreach`` is accepted and changes nothing."""
    del foreach
    ps = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    with no_grad():
        for p in ps:
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    return _core.cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    offset = 0
    with no_grad():
        for p in parameters:
            n = p.numel()
            p.copy_(vec[offset : offset + n].reshape(p.shape))
            offset += n


# isort: split
# PyTorch's other nn.utils names: parametrize, parametrizations, stateless, the hook-based
# weight_norm / spectral_norm, conv/linear + batch-norm fusion, get_total_norm, skip_init.
import sys as _sys  # noqa: E402

from . import parametrizations, parametrize  # noqa: E402
from .utils_extra import (  # noqa: E402, F401 - re-exported as nn.utils.<name>
    clip_grads_with_norm_,
    fuse_conv_bn_eval,
    fuse_conv_bn_weights,
    fuse_linear_bn_eval,
    fuse_linear_bn_weights,
    get_total_norm,
    remove_spectral_norm,
    remove_weight_norm,
    skip_init,
    spectral_norm,
    stateless,
    weight_norm,
)

for _name, _mod in (
    ("parametrize", parametrize),
    ("parametrizations", parametrizations),
    ("stateless", stateless),
):
    _sys.modules[f"{__name__}.{_name}"] = _mod
