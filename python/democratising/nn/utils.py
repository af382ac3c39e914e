"""``democratising.nn.utils``: gradient clipping and parameter flattening."""

from __future__ import annotations

import warnings
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
    norm. As PyTorch, it is ``get_total_norm`` of the gradients (the norm of the per-gradient
    norms, in the gradients' dtype; ``-inf`` the smallest ``|g|``) followed by
    ``clip_grads_with_norm_``. A non-finite norm raises ``RuntimeError`` with
    ``error_if_nonfinite``, and otherwise scales anyway (a NaN norm makes the gradients NaN).
    ``foreach`` picks PyTorch's implementation; here there is one, so it changes nothing."""
    ps = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = _grads(ps)
    if not grads:
        return _core.zeros()
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(ps, max_norm, total, foreach)
    return total


def clip_grad_norm(
    parameters: Params,
    max_norm: float,
    norm_type: Union[float, str] = 2.0,
    error_if_nonfinite: bool = False,
    foreach: Optional[bool] = None,
) -> Tensor:
    """Deprecated alias of ``clip_grad_norm_`` kept, as PyTorch, for old code: warns a
    ``FutureWarning``, then clips in place the same way."""
    warnings.warn(
        "`nn.utils.clip_grad_norm` is now deprecated in favor of `nn.utils.clip_grad_norm_`.",
        FutureWarning,
        stacklevel=2,
    )
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters: Params, clip_value: float, foreach: Optional[bool] = None) -> None:
    """Clamps every gradient to ``[-clip_value, clip_value]`` in place (a reference to a
    ``.grad`` sees the change, as in PyTorch); ``foreach`` is accepted and changes nothing."""
    del foreach
    ps = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    with no_grad():
        for p in ps:
            if p.grad is not None:
                p.grad.clamp_(-clip_value, clip_value)


def _typename(obj: object) -> str:
    """The type's name as ``torch.typename`` writes it (``list``, ``numpy.ndarray``)."""
    cls = type(obj)
    module = cls.__module__
    return cls.__qualname__ if module in ("", "builtins") else f"{module}.{cls.__qualname__}"


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All ``parameters`` flattened and concatenated into one vector."""
    ps = list(parameters)
    for p in ps:
        if not isinstance(p, Tensor):
            raise TypeError(f"expected Tensor parameters, but got: {_typename(p)}")
    return _core.cat([p.reshape(-1) for p in ps])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Makes each parameter's ``.data`` the next slice of ``vec``, viewed in its shape. As
    PyTorch, the parameters then share ``vec``'s memory and take its dtype (a later in-place
    change of ``vec`` shows in them); ``vec``'s autograd history is not followed."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected torch.Tensor, but got: {_typename(vec)}")
    offset = 0
    flat = vec.detach()
    for p in parameters:
        if not isinstance(p, Tensor):
            raise TypeError(f"expected Tensor parameters, but got: {_typename(p)}")
        n = p.numel()
        p.data = flat[offset : offset + n].view_as(p)
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
