"""PyTorch's ``torch.nn.utils.prune`` (as ``dm.nn.utils.prune``): a pruned parameter ``name``
becomes ``<name>_orig`` (the parameter) and the buffer ``<name>_mask``; ``module.<name>`` is
``mask * orig``, recomputed by a forward pre-hook (the pruning method itself). Masks are
computed on the host in NumPy: they are not differentiable, and boolean selections are
simplest there."""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any, Optional, TypeVar, Union

import numpy as np

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad
from .._tensor_extra import _from_host
from .._tensor_extra import _host as _widened
from ..errors import ArgumentTypeError, IndexOutOfRangeError, InvalidValueError
from .module import Module, _pop_forward_pre_hook

T = TypeVar("T", bound=Module)

__all__ = [
    "BasePruningMethod",
    "CustomFromMask",
    "Identity",
    "L1Unstructured",
    "LnStructured",
    "PruningContainer",
    "RandomStructured",
    "RandomUnstructured",
    "custom_from_mask",
    "global_unstructured",
    "identity",
    "is_pruned",
    "l1_unstructured",
    "ln_structured",
    "random_structured",
    "random_unstructured",
    "remove",
]


def _host(t: Tensor) -> np.ndarray:
    """``t``'s values as a NumPy array (a copy, no autograd history; half types widened)."""
    return np.array(_widened(t))


def _like(values: np.ndarray, ref: Tensor) -> Tensor:
    """``values`` as a tensor of ``ref``'s dtype and device (0-d stays 0-d)."""
    return _from_host(values, ref.dtype, ref.device)


def _forward_pre_hooks(module: Module) -> dict[int, Any]:
    """The module's forward pre-hooks by handle id, each ``(hook, with_kwargs)``."""
    return module.__dict__.setdefault("_forward_pre_hooks", OrderedDict())  # type: ignore[no-any-return]


class BasePruningMethod(ABC):
    """A pruning method (PyTorch's ``prune.BasePruningMethod``): subclasses set
    ``PRUNING_TYPE`` (``"unstructured"``, ``"structured"`` or ``"global"``) and implement
    ``compute_mask(t, default_mask)``; ``apply`` prunes a module's tensor with it."""

    PRUNING_TYPE: str
    _tensor_name: Optional[str]

    def __call__(self, module: Module, inputs: Any) -> None:
        """The forward pre-hook: recomputes ``module.<name>`` from the mask and original."""
        setattr(module, self._tensor_name, self.apply_mask(module))  # type: ignore[arg-type]

    @abstractmethod
    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The new mask of ``t`` (its importance scores), given the mask so far."""

    def apply_mask(self, module: Module) -> Tensor:
        """``<name>_mask * <name>_orig``: the pruned tensor, differentiable in the original."""
        if getattr(self, "_tensor_name", None) is None:
            raise AssertionError(f"Module {module} has to be pruned")
        mask = getattr(module, self._tensor_name + "_mask")  # type: ignore[operator]
        orig = getattr(module, self._tensor_name + "_orig")  # type: ignore[operator]
        return mask.to(dtype=orig.dtype) * orig  # type: ignore[no-any-return]

    @classmethod
    def apply(
        cls,
        module: Module,
        name: str,
        *args: Any,
        importance_scores: Optional[Tensor] = None,
        **kwargs: Any,
    ) -> BasePruningMethod:
        """Prunes ``module.<name>`` with ``cls(*args, **kwargs)``: on a tensor pruned before,
        the methods are combined in a ``PruningContainer`` that prunes only what is left."""
        hooks = _forward_pre_hooks(module)
        old_method = None
        found = []
        for k, (hook, _) in hooks.items():
            if isinstance(hook, BasePruningMethod) and hook._tensor_name == name:
                old_method = hook
                found.append(k)
        if len(found) > 1:
            raise AssertionError(
                f"Avoid adding multiple pruning hooks to the same tensor {name} of module "
                f"{module}. Use a PruningContainer."
            )
        for k in found:
            del hooks[k]
        method: BasePruningMethod = cls(*args, **kwargs)
        method._tensor_name = name
        if isinstance(old_method, PruningContainer):
            old_method.add_pruning_method(method)
            method = old_method
        elif old_method is not None:
            container = PruningContainer(old_method)
            container.add_pruning_method(method)
            method = container

        orig = getattr(module, name)
        if importance_scores is not None:
            if tuple(importance_scores.shape) != tuple(orig.shape):
                raise AssertionError(
                    f"importance_scores should have the same shape as parameter {name} of "
                    f"{module}, got {tuple(importance_scores.shape)} vs {tuple(orig.shape)}"
                )
        else:
            importance_scores = orig
        if not isinstance(method, PruningContainer):
            module.register_parameter(name + "_orig", orig)
            del module._parameters[name]
            default_mask = _core.ones(orig.shape, dtype=orig.dtype, device=orig.device)
        else:
            default_mask = getattr(module, name + "_mask").detach().clone()
        try:
            with no_grad():
                mask = method.compute_mask(importance_scores, default_mask=default_mask)
            module.register_buffer(name + "_mask", mask)
            setattr(module, name, method.apply_mask(module))
            module.register_forward_pre_hook(method)
        except Exception:
            if not isinstance(method, PruningContainer):
                orig = getattr(module, name + "_orig")
                del module._parameters[name + "_orig"]
                module.register_parameter(name, orig)
            raise
        return method

    def prune(
        self,
        t: Tensor,
        default_mask: Optional[Tensor] = None,
        importance_scores: Optional[Tensor] = None,
    ) -> Tensor:
        """``t`` times its mask, without touching any module."""
        if importance_scores is not None:
            if tuple(importance_scores.shape) != tuple(t.shape):
                raise AssertionError(
                    "importance_scores should have the same shape as tensor t, got "
                    f"{tuple(importance_scores.shape)} vs {tuple(t.shape)}"
                )
        else:
            importance_scores = t
        if default_mask is None:
            default_mask = _core.ones(t.shape, dtype=t.dtype, device=t.device)
        return t * self.compute_mask(importance_scores, default_mask=default_mask)

    def remove(self, module: Module) -> None:
        """Makes the pruning permanent: ``<name>`` is again a parameter, holding the pruned
        values (the same object as ``<name>_orig``); mask and original go."""
        if getattr(self, "_tensor_name", None) is None:
            raise AssertionError(f"Module {module} has to be pruned before pruning can be removed")
        name: str = self._tensor_name  # type: ignore[assignment]
        with no_grad():
            weight = self.apply_mask(module)
        if name in module.__dict__:
            delattr(module, name)
        orig = module._parameters[name + "_orig"]
        orig.data = weight.detach()
        del module._parameters[name + "_orig"]
        del module._buffers[name + "_mask"]
        setattr(module, name, orig)


class PruningContainer(BasePruningMethod):
    """Pruning methods applied in turn to one tensor: each new one prunes only the entries (or,
    structured, the channels) the previous ones left."""

    def __init__(self, *args: Any) -> None:
        self._pruning_methods: tuple[BasePruningMethod, ...] = ()
        if len(args) == 1:
            self._tensor_name = args[0]._tensor_name
            self.add_pruning_method(args[0])
        else:
            for method in args:
                self.add_pruning_method(method)

    def add_pruning_method(self, method: Optional[BasePruningMethod]) -> None:
        """Appends ``method``, which must act on this container's tensor."""
        if not isinstance(method, BasePruningMethod) and method is not None:
            raise ArgumentTypeError(f"{type(method)} is not a BasePruningMethod subclass")
        if method is not None and getattr(self, "_tensor_name", None) != method._tensor_name:
            raise InvalidValueError(
                "Can only add pruning methods acting on the parameter named "
                f"'{getattr(self, '_tensor_name', None)}' to PruningContainer {self}. "
                f"Found '{method._tensor_name}'"
            )
        self._pruning_methods += (method,)  # type: ignore[operator]

    def __len__(self) -> int:
        return len(self._pruning_methods)

    def __iter__(self) -> Iterator[BasePruningMethod]:
        return iter(self._pruning_methods)

    def __getitem__(self, idx: int) -> BasePruningMethod:
        return self._pruning_methods[idx]

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        """The last method's mask computed on what the mask so far keeps: the unpruned
        entries (unstructured), the channels with an unpruned entry (structured) or all of
        ``t`` (global), merged into the mask so far."""
        method = self._pruning_methods[-1]
        t_np, mask_np = _host(t), _host(default_mask).astype(np.float64)
        slc: Any
        if method.PRUNING_TYPE == "unstructured":
            slc = mask_np == 1
        elif method.PRUNING_TYPE == "structured":
            if not hasattr(method, "dim"):
                raise AttributeError(
                    'Pruning methods of PRUNING_TYPE "structured" need to have the attribute '
                    "`dim` defined."
                )
            n_dims, dim = t_np.ndim, method.dim
            if dim < 0:
                dim += n_dims
            if dim < 0:
                raise IndexError(f"Index is out of bounds for tensor with dimensions {n_dims}")
            others = tuple(d for d in range(n_dims) if d != dim)
            keep_channel = mask_np.sum(axis=others) != 0
            slc = tuple(keep_channel if d == dim else slice(None) for d in range(n_dims))
        elif method.PRUNING_TYPE == "global":
            slc = (slice(None),) * t_np.ndim
        else:
            raise InvalidValueError(f"Unrecognized PRUNING_TYPE {method.PRUNING_TYPE}")
        partial = method.compute_mask(
            _like(t_np[slc], t), default_mask=_like(mask_np[slc], default_mask)
        )
        mask_np[slc] = _host(partial)
        return _like(mask_np, default_mask)


def _validate_pruning_amount_init(amount: Any) -> None:
    """``amount``: a fraction in [0, 1] or a non-negative count (PyTorch's checks)."""
    if not isinstance(amount, numbers.Real):
        raise ArgumentTypeError(f"Invalid type for amount: {amount}. Must be int or float.")
    integral = isinstance(amount, numbers.Integral)
    if (integral and amount < 0) or (not integral and not 0.0 <= float(amount) <= 1.0):
        raise InvalidValueError(
            f"amount={amount} should either be a float in the range [0, 1] or a non-negative "
            "integer"
        )


def _compute_nparams_toprune(amount: Union[int, float], tensor_size: int) -> int:
    """A count as given, a fraction rounded (half to even) to a count of ``tensor_size``."""
    if isinstance(amount, numbers.Integral):
        if amount > tensor_size:
            raise InvalidValueError(
                f"amount={amount} should be smaller than the number of parameters to "
                f"prune={tensor_size}"
            )
        return int(amount)
    return round(amount * tensor_size)


def _validate_structured(t: Tensor, dim: int) -> None:
    if t.dim() <= 1:
        raise InvalidValueError(
            "Structured pruning can only be applied to multidimensional tensors. Found tensor "
            f"of shape {tuple(t.shape)} with {t.dim()} dims"
        )
    if dim >= t.dim():
        raise IndexOutOfRangeError(f"Invalid index {dim} for tensor of size {tuple(t.shape)}")


def _channel_mask(t: Tensor, dim: int, keep: np.ndarray, default_mask: Tensor) -> Tensor:
    """Ones on the kept channels of ``dim`` (``keep``: booleans or indices), times the mask."""
    dim %= t.dim()  # (a negative dim, PyTorch's default -1, named no axis here)
    mask = np.zeros(tuple(t.shape))
    mask[tuple(keep if d == dim else slice(None) for d in range(t.dim()))] = 1.0
    return _like(mask * _host(default_mask), default_mask)


class Identity(BasePruningMethod):
    """Prunes nothing: the mask is all ones (to get ``_orig``/``_mask`` without pruning)."""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        return default_mask

    @classmethod
    def apply(cls, module: Module, name: str) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name)


class _Unstructured(BasePruningMethod):
    """Prunes ``amount`` (a fraction or a count) of the entries with the lowest scores."""

    PRUNING_TYPE = "unstructured"

    def __init__(self, amount: Union[int, float]) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount

    @abstractmethod
    def _scores(self, t: Tensor) -> np.ndarray:
        """One score per entry of ``t`` (flattened); the lowest ``k`` are pruned."""

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        k = _compute_nparams_toprune(self.amount, t.numel())
        mask = _host(default_mask).reshape(-1)
        if k:
            mask[np.argsort(self._scores(t), kind="stable")[:k]] = 0
        return _like(mask.reshape(tuple(t.shape)), default_mask)


class RandomUnstructured(_Unstructured):
    """Prunes ``amount`` (a fraction or a count) of the entries, chosen at random."""

    def _scores(self, t: Tensor) -> np.ndarray:
        return -_core.rand(t.numel(), dtype=_core.float64).numpy()

    @classmethod
    def apply(cls, module: Module, name: str, amount: Union[int, float]) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name, amount=amount)


class L1Unstructured(_Unstructured):
    """Prunes ``amount`` of the entries with the smallest absolute value."""

    def _scores(self, t: Tensor) -> np.ndarray:
        return np.abs(_host(t).reshape(-1))  # type: ignore[no-any-return]

    @classmethod
    def apply(  # type: ignore[override]
        cls,
        module: Module,
        name: str,
        amount: Union[int, float],
        importance_scores: Optional[Tensor] = None,
    ) -> BasePruningMethod:
        return super().apply(module, name, amount=amount, importance_scores=importance_scores)


class _Structured(BasePruningMethod):
    """Prunes ``amount`` of the channels along ``dim`` with the lowest scores."""

    PRUNING_TYPE = "structured"

    def __init__(self, amount: Union[int, float], dim: int = -1) -> None:
        _validate_pruning_amount_init(amount)
        self.amount = amount
        self.dim = dim

    @abstractmethod
    def _scores(self, t: Tensor) -> np.ndarray:
        """One score per channel of ``t`` along ``dim``; the lowest ``k`` are pruned."""

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        _validate_structured(t, self.dim)
        size = t.shape[self.dim]
        k = _compute_nparams_toprune(self.amount, size)
        if not k:
            return default_mask
        keep = np.argsort(-self._scores(t), kind="stable")[: size - k]
        return _channel_mask(t, self.dim, keep, default_mask)


class RandomStructured(_Structured):
    """Prunes ``amount`` of the channels along ``dim``, chosen at random."""

    def _scores(self, t: Tensor) -> np.ndarray:
        return _core.rand(t.shape[self.dim], dtype=_core.float64).numpy()

    @classmethod
    def apply(  # type: ignore[override]
        cls, module: Module, name: str, amount: Union[int, float], dim: int = -1
    ) -> BasePruningMethod:
        return super().apply(module, name, amount=amount, dim=dim)


def _compute_norm(t: np.ndarray, n: Union[int, float, str], dim: int) -> np.ndarray:
    """The ``n``-norm of each channel along ``dim`` (PyTorch's ``_compute_norm``: ``"fro"``
    is the 2-norm, ``"nuc"`` the nuclear norm of each channel's matrix)."""
    dims = list(range(t.ndim))
    dim = dims[dim]
    dims.remove(dim)
    if n == "nuc":
        if len(dims) != 2:
            raise InvalidValueError("n='nuc' needs a 3-dimensional tensor (a matrix per channel)")
        return np.asarray(np.linalg.norm(np.moveaxis(t, dim, 0), "nuc", axis=(1, 2)))
    x = np.abs(np.moveaxis(t, dim, 0).reshape(t.shape[dim], -1).astype(np.float64))
    p = 2.0 if n == "fro" else float(n)
    if p == math.inf:
        return x.max(axis=1)
    if p == -math.inf:
        return x.min(axis=1)
    if p == 0:
        return (x != 0).sum(axis=1).astype(np.float64)
    return np.asarray((x**p).sum(axis=1) ** (1.0 / p))


class LnStructured(_Structured):
    """Prunes ``amount`` of the channels along ``dim`` with the smallest ``n``-norm."""

    def __init__(self, amount: Union[int, float], n: Union[int, float, str], dim: int = -1) -> None:
        super().__init__(amount, dim)
        self.n = n

    def _scores(self, t: Tensor) -> np.ndarray:
        return _compute_norm(_host(t), self.n, self.dim)

    @classmethod
    def apply(  # type: ignore[override]
        cls,
        module: Module,
        name: str,
        amount: Union[int, float],
        n: Union[int, float, str],
        dim: int,
        importance_scores: Optional[Tensor] = None,
    ) -> BasePruningMethod:
        return super().apply(
            module, name, amount=amount, n=n, dim=dim, importance_scores=importance_scores
        )


class CustomFromMask(BasePruningMethod):
    """Prunes where the given ``mask`` is zero."""

    PRUNING_TYPE = "global"

    def __init__(self, mask: Tensor) -> None:
        self.mask = mask

    def compute_mask(self, t: Tensor, default_mask: Tensor) -> Tensor:
        if tuple(default_mask.shape) != tuple(self.mask.shape):
            raise AssertionError(
                f"default_mask shape {tuple(default_mask.shape)} must match self.mask shape "
                f"{tuple(self.mask.shape)}"
            )
        return default_mask * self.mask.to(device=default_mask.device, dtype=default_mask.dtype)

    @classmethod
    def apply(cls, module: Module, name: str, mask: Tensor) -> BasePruningMethod:  # type: ignore[override]
        return super().apply(module, name, mask=mask)


def identity(module: T, name: str) -> T:
    """Reparametrizes ``module.<name>`` as ``_orig`` and an all-ones ``_mask``."""
    Identity.apply(module, name)
    return module


def random_unstructured(module: T, name: str, amount: Union[int, float]) -> T:
    """Prunes ``amount`` of ``module.<name>``'s entries at random."""
    RandomUnstructured.apply(module, name, amount)
    return module


def l1_unstructured(
    module: T, name: str, amount: Union[int, float], importance_scores: Optional[Tensor] = None
) -> T:
    """Prunes ``amount`` of ``module.<name>``'s entries, the smallest in absolute value (of
    ``importance_scores`` when given)."""
    L1Unstructured.apply(module, name, amount=amount, importance_scores=importance_scores)
    return module


def random_structured(module: T, name: str, amount: Union[int, float], dim: int) -> T:
    """Prunes ``amount`` of ``module.<name>``'s channels along ``dim`` at random."""
    RandomStructured.apply(module, name, amount, dim)
    return module


def ln_structured(
    module: T,
    name: str,
    amount: Union[int, float],
    n: Union[int, float, str],
    dim: int,
    importance_scores: Optional[Tensor] = None,
) -> T:
    """Prunes ``amount`` of ``module.<name>``'s channels along ``dim``, those of smallest
    ``n``-norm."""
    LnStructured.apply(module, name, amount, n, dim, importance_scores=importance_scores)
    return module


def custom_from_mask(module: T, name: str, mask: Tensor) -> T:
    """Prunes ``module.<name>`` where ``mask`` is zero."""
    CustomFromMask.apply(module, name, mask)
    return module


def _mask_or_ones(module: Module, name: str) -> Tensor:
    """The tensor's pruning mask so far, or ones where it is not pruned yet."""
    mask = getattr(module, name + "_mask", None)
    if isinstance(mask, Tensor):
        return mask
    t = getattr(module, name)
    return _core.ones(t.shape, dtype=t.dtype, device=t.device)


def global_unstructured(
    parameters: Iterable[tuple[Module, str]],
    pruning_method: type[BasePruningMethod],
    importance_scores: Optional[dict[tuple[Module, str], Tensor]] = None,
    **kwargs: Any,
) -> None:
    """Prunes the ``(module, name)`` tensors together, as if one vector (``amount`` then
    counts across all of them), with an unstructured ``pruning_method``."""
    from .utils import parameters_to_vector

    if not isinstance(parameters, Iterable):
        raise ArgumentTypeError("global_unstructured(): parameters is not an Iterable")
    parameters = list(parameters)
    importance_scores = importance_scores if importance_scores is not None else {}
    if not isinstance(importance_scores, dict):
        raise ArgumentTypeError("global_unstructured(): importance_scores must be of type dict")
    with no_grad():
        scores = parameters_to_vector(
            [importance_scores.get((m, n), getattr(m, n)) for m, n in parameters]
        )
        default_mask = parameters_to_vector([_mask_or_ones(m, n) for m, n in parameters])
    container = PruningContainer()
    container._tensor_name = "temp"
    method = pruning_method(**kwargs)
    method._tensor_name = "temp"
    if method.PRUNING_TYPE != "unstructured":
        raise ArgumentTypeError(
            'Only "unstructured" PRUNING_TYPE supported for the `pruning_method`. Found method '
            f"{pruning_method} of type {method.PRUNING_TYPE}"
        )
    container.add_pruning_method(method)
    final_mask = container.compute_mask(scores, default_mask)
    pointer = 0
    for module, name in parameters:
        param = getattr(module, name)
        num = param.numel()
        param_mask = final_mask[pointer : pointer + num].reshape(tuple(param.shape))
        custom_from_mask(module, name, mask=param_mask.to(device=param.device))
        pointer += num


def remove(module: T, name: str) -> T:
    """Makes the pruning of ``module.<name>`` permanent (see ``BasePruningMethod.remove``);
    ``ValueError`` if it is not pruned."""
    if _pop_forward_pre_hook(
        module, lambda hook: isinstance(hook, BasePruningMethod) and hook._tensor_name == name
    ):
        return module
    raise InvalidValueError(
        f"Parameter '{name}' of module {module} has to be pruned before pruning can be removed"
    )


def is_pruned(module: Module) -> bool:
    """Whether ``module`` or a submodule has a pruning hook."""
    for _, sub in module.named_modules():
        for hook, _ in sub.__dict__.get("_forward_pre_hooks", {}).values():
            if isinstance(hook, BasePruningMethod):
                return True
    return False
