"""``democratising.nn.utils``: gradient clipping and parameter flattening."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from types import GeneratorType
from typing import Any, Optional, Union

from .. import _core
from .._core import Tensor
from .._deprecation import deprecated_alias
from .._grad_mode import no_grad
from ..errors import ArgumentTypeError, InvalidValueError

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
    ``foreach`` picks PyTorch's implementation; here there is one, so it changes nothing.
    An empty generator warns, as PyTorch's: usually ``model.parameters()`` consumed before."""
    if isinstance(parameters, Tensor):
        ps = [parameters]
    else:
        ps = list(parameters)
        if not ps and isinstance(parameters, GeneratorType):
            warnings.warn(
                "`parameters` is an empty generator, no gradient clipping will occur.",
                stacklevel=2,
            )
    owner = _zero_owner(ps)
    if owner is not None:  # ZeRO stage 1/2: the gradients live in the sharded optimizer
        return owner.clip_grad_norm_(max_norm, float(norm_type))
    grads = _grads(ps)
    if not grads:
        return _core.zeros(())
    total = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(ps, max_norm, total, foreach)
    return total


def _zero_owner(ps: list[Tensor]) -> Any:
    """The live ZeRO optimizer that holds the gradients of ``ps`` (set on each parameter by
    ``ZeroOptimizer``), or ``None``; ``ValueError`` unless ``ps`` hold all its parameters
    (it clips all of them at once, with a norm computed over every rank) and otherwise only
    parameters without a gradient (frozen ones, left out of the optimizer)."""
    owners = {getattr(p, "_zero_optimizer", lambda: None)() for p in ps} - {None}
    if not owners:
        return None
    (owner,) = owners if len(owners) == 1 else (None,)
    held = {id(p) for g in owner.optimizer.param_groups for p in g["params"]} if owner else set()
    extra = [p for p in ps if id(p) not in held]
    if owner is None or not held <= {id(p) for p in ps} or any(p.grad is not None for p in extra):
        raise InvalidValueError(
            "clip_grad_norm_: under ZeRO stage 1/2 the gradients live in the sharded "
            "optimizer; clip all of its parameters at once with its clip_grad_norm_(max_norm)"
        )
    return owner


clip_grad_norm = deprecated_alias(
    clip_grad_norm_,
    "nn.utils",
    doc="""Deprecated alias of ``clip_grad_norm_`` kept, as PyTorch, for old code: warns a
    ``FutureWarning``, then clips in place the same way.""",
)


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
            raise ArgumentTypeError(f"expected Tensor parameters, but got: {_typename(p)}")
    return _core.cat([p.reshape(-1) for p in ps])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Makes each parameter's ``.data`` the next slice of ``vec``, viewed in its shape. As
    PyTorch, the parameters then share ``vec``'s memory and take its dtype (a later in-place
    change of ``vec`` shows in them); ``vec``'s autograd history is not followed."""
    if not isinstance(vec, Tensor):
        raise ArgumentTypeError(f"expected torch.Tensor, but got: {_typename(vec)}")
    offset = 0
    flat = vec.detach()
    for p in parameters:
        if not isinstance(p, Tensor):
            raise ArgumentTypeError(f"expected Tensor parameters, but got: {_typename(p)}")
        n = p.numel()
        p.data = flat[offset : offset + n].view_as(p)
        offset += n


# isort: split
# PyTorch's other nn.utils names: parametrize, parametrizations, stateless, the hook-based
# weight_norm / spectral_norm, conv/linear + batch-norm fusion, get_total_norm, skip_init.
import sys as _sys  # noqa: E402
from types import ModuleType as _ModuleType  # noqa: E402

from . import _prune as prune  # noqa: E402
from . import parametrizations, parametrize  # noqa: E402
from .utils_extra import (  # noqa: E402, F401 - re-exported as nn.utils.<name>
    clip_grads_with_norm_,
    convert_conv2d_weight_memory_format,
    convert_conv3d_weight_memory_format,
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


def _submodule(name: str, **members: object) -> _ModuleType:
    """One of PyTorch's ``torch.nn.utils.<name>`` modules, holding the same functions as
    here, so ``from torch.nn.utils.fusion import fuse_conv_bn_eval``-style imports port."""
    mod = _ModuleType(f"{__name__}.{name}", f"PyTorch's ``torch.nn.utils.{name}``.")
    for key, value in members.items():
        setattr(mod, key, value)
    mod.__all__ = list(members)  # type: ignore[attr-defined]
    return mod


clip_grad = _submodule(
    "clip_grad",
    clip_grad_norm=clip_grad_norm,
    clip_grad_norm_=clip_grad_norm_,
    clip_grad_value_=clip_grad_value_,
    get_total_norm=get_total_norm,
    clip_grads_with_norm_=clip_grads_with_norm_,
)
convert_parameters = _submodule(
    "convert_parameters",
    parameters_to_vector=parameters_to_vector,
    vector_to_parameters=vector_to_parameters,
)
fusion = _submodule(
    "fusion",
    fuse_conv_bn_eval=fuse_conv_bn_eval,
    fuse_conv_bn_weights=fuse_conv_bn_weights,
    fuse_linear_bn_eval=fuse_linear_bn_eval,
    fuse_linear_bn_weights=fuse_linear_bn_weights,
)
init = _submodule("init", skip_init=skip_init)
memory_format = _submodule(
    "memory_format",
    convert_conv2d_weight_memory_format=convert_conv2d_weight_memory_format,
    convert_conv3d_weight_memory_format=convert_conv3d_weight_memory_format,
)

for _name, _mod in (
    ("parametrize", parametrize),
    ("parametrizations", parametrizations),
    ("stateless", stateless),
    ("clip_grad", clip_grad),
    ("convert_parameters", convert_parameters),
    ("fusion", fusion),
    ("init", init),
    ("memory_format", memory_format),
    ("prune", prune),
):
    _sys.modules[f"{__name__}.{_name}"] = _mod
