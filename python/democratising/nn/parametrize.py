"""``democratising.nn.utils.parametrize``: PyTorch's parametrizations of a module's tensors.

``register_parametrization(module, "weight", P)`` stores the tensor as
``module.parametrizations.weight.original`` (or ``original0``, ``original1``, ... when ``P``'s
``right_inverse`` returns a sequence) and makes ``module.weight`` a property that computes
``P(original)`` on every access, differentiably, as ``torch.nn.utils.parametrize`` does: the
module's class becomes a subclass ``Parametrized<Class>`` holding the property."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Optional, Union

from .._core import Tensor
from .._grad_mode import no_grad
from ..errors import InvalidValueError
from .containers import ModuleDict, ModuleList
from .module import Module
from .parameter import Parameter

__all__ = [
    "ParametrizationList",
    "cached",
    "is_parametrized",
    "register_parametrization",
    "remove_parametrizations",
    "transfer_parametrizations_and_params",
    "type_before_parametrizations",
]

_cache_enabled = 0
_cache: dict[tuple[int, str], Tensor] = {}


@contextmanager
def cached() -> Iterator[None]:
    """Within the block each parametrized tensor is computed once, on first access, and the
    result reused (PyTorch's ``parametrize.cached``); the cache is cleared on leaving."""
    global _cache_enabled, _cache
    _cache_enabled += 1
    try:
        yield
    finally:
        _cache_enabled -= 1
        if not _cache_enabled:
            _cache = {}


def _register_parameter_or_buffer(module: Module, name: str, x: Tensor) -> None:
    """Registers ``x`` on ``module`` as a parameter if it is a ``Parameter``, else a buffer."""
    if isinstance(x, Parameter):
        module.register_parameter(name, x)
    else:
        module.register_buffer(name, x)


def _set_data(dst: Tensor, src: Tensor) -> None:
    """Points ``dst`` at ``src``'s values (PyTorch's ``original.set_(new)``): the tensor object,
    and so any optimizer holding it, stays the same."""
    dst.data = src.detach()


def _check_like(
    x: Any, dtype: Any, shape: tuple[int, ...], what: str, flag: str = "the `unsafe` flag"
) -> None:
    """PyTorch's checks that ``what`` (a parametrization's output) is a tensor of the
    unparametrized ``dtype`` and ``shape``, each raising ``ValueError``; ``flag`` is how the
    message names ``unsafe`` (PyTorch words it two ways)."""
    if not isinstance(x, Tensor):
        raise InvalidValueError(f"{what} must return a tensor. Got {type(x).__name__}.")
    for prop, old, new in (("dtype", dtype, x.dtype), ("shape", shape, tuple(x.shape))):
        if new != old:
            raise InvalidValueError(
                f"Registering a parametrization may not change the {prop} of the tensor, unless "
                f"{flag} is enabled.\nunparametrized {prop}: {old}\nparametrized {prop}: {new}"
            )


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, in order, holding the unparametrized tensor as
    ``original`` (or ``original0``, ``original1``, ...); calling it computes the parametrized
    tensor. ``module.parametrizations[name]`` is one of these, as in PyTorch."""

    def __init__(self, modules: Sequence[Module], original: Tensor, unsafe: bool = False) -> None:
        if len(modules) == 0:
            raise InvalidValueError("ParametrizationList requires one or more modules.")
        super().__init__(modules)
        object.__setattr__(self, "unsafe", unsafe)
        original_shape, original_dtype = tuple(original.shape), original.dtype
        new: Any = original
        with no_grad():
            for module in reversed(list(self)):
                if hasattr(module, "right_inverse"):
                    try:
                        new = module.right_inverse(new)
                    except NotImplementedError:
                        pass  # as PyTorch: a right_inverse that cannot be is the identity
        if not isinstance(new, (Tensor, Sequence)):
            raise InvalidValueError(
                "'right_inverse' must return a Tensor or a Sequence of tensors (list, tuple...). "
                f"Got {type(new).__name__}"
            )
        object.__setattr__(self, "is_tensor", isinstance(new, Tensor))
        object.__setattr__(self, "ntensors", 1 if self.is_tensor else len(new))
        if isinstance(new, Tensor):
            if original.dtype != new.dtype:
                raise InvalidValueError(
                    "When `right_inverse` outputs one tensor, it may not change the dtype.\n"
                    f"original.dtype: {original.dtype}\nright_inverse(original).dtype: "
                    f"{new.dtype}"
                )
            with no_grad():
                _set_data(original, new)
            _register_parameter_or_buffer(self, "original", original)
        else:
            for i, originali in enumerate(new):
                if not isinstance(originali, Tensor):
                    raise InvalidValueError(
                        "'right_inverse' must return a Tensor or a Sequence of tensors "
                        f"(list, tuple...). Got element {i} of the sequence with type "
                        f"{type(originali).__name__}."
                    )
                if isinstance(original, Parameter):
                    originali = Parameter(originali.detach(), original.requires_grad)
                else:
                    originali = originali.detach().requires_grad_(original.requires_grad)
                _register_parameter_or_buffer(self, f"original{i}", originali)
        if not self.unsafe:
            _check_like(
                self(), original_dtype, original_shape, "A parametrization", "`unsafe` flag"
            )

    def right_inverse(self, value: Tensor) -> None:
        """Sets the originals so that the parametrized tensor is ``value``, through each
        parametrization's ``right_inverse`` in reverse order (what assigning to
        ``module.<name>`` does); a parametrization without one raises ``RuntimeError``."""
        with no_grad():
            out: Any = value
            for module in reversed(list(self)):
                if not hasattr(module, "right_inverse"):
                    raise RuntimeError(
                        f"parametrization {type(module).__name__} does not implement right_inverse."
                    )
                out = module.right_inverse(out)
            if self.is_tensor:
                if not isinstance(out, Tensor):
                    raise InvalidValueError(
                        f"`right_inverse` should return a tensor. Got {type(out).__name__}"
                    )
                if out.dtype != self.original.dtype:
                    raise InvalidValueError(
                        f"The tensor returned by `right_inverse` has dtype {out.dtype} while "
                        f"`original` has dtype {self.original.dtype}"
                    )
                _set_data(self.original, out)
                return
            if not isinstance(out, Sequence):
                raise InvalidValueError(
                    f"'right_inverse' must return a sequence of tensors. Got {type(out).__name__}."
                )
            if len(out) != self.ntensors:
                raise InvalidValueError(
                    "'right_inverse' must return a sequence of tensors of length "
                    f"{self.ntensors}. Got a sequence of length {len(out)}."
                )
            for i, t in enumerate(out):
                original_i = getattr(self, f"original{i}")
                if not isinstance(t, Tensor):
                    raise InvalidValueError(
                        f"`right_inverse` must return a sequence of tensors. Got element {i} "
                        f"of type {type(t).__name__}"
                    )
                if original_i.dtype != t.dtype:
                    raise InvalidValueError(
                        f"Tensor {i} returned by `right_inverse` has dtype {t.dtype} while "
                        f"`original{i}` has dtype {original_i.dtype}"
                    )
                _set_data(original_i, t)

    def forward(self) -> Tensor:  # type: ignore[override]
        """The parametrized tensor: the first parametrization on the original(s), then each
        following one on the previous result."""
        mods = list(self)
        if self.is_tensor:
            x = mods[0](self.original)
        else:
            x = mods[0](*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for m in mods[1:]:
            x = m(x)
        return x  # type: ignore[no-any-return]


def _parametrized_deepcopy(self: Module, memo: dict[int, Any]) -> Module:
    """``copy.deepcopy`` of a parametrized module: a new instance of the same class with a deep
    copy of the state (PyTorch's ``default_deepcopy``)."""
    obj = memo.get(id(self))
    if obj is not None:
        return obj  # type: ignore[no-any-return]
    replica = self.__class__.__new__(self.__class__)
    memo[id(self)] = replica
    object.__setattr__(replica, "__dict__", copy.deepcopy(self.__dict__, memo))
    return replica


def _refuse_pickle(self: Module) -> None:
    """PyTorch's refusal to pickle a parametrized module (its class is made on the fly)."""
    raise RuntimeError(
        "Serialization of parametrized modules is only supported through state_dict(). See:\n"
        "https://pytorch.org/tutorials/beginner/saving_loading_models.html"
        "#saving-loading-a-general-checkpoint-for-inference-and-or-resuming-training"
    )


def _inject_new_class(module: Module) -> None:
    """Gives ``module`` a class of its own, ``Parametrized<Class>``, to hold the properties."""
    cls = module.__class__
    attrs: dict[str, Any] = {"__module__": cls.__module__, "__getstate__": _refuse_pickle}
    if not hasattr(cls, "__deepcopy__"):
        attrs["__deepcopy__"] = _parametrized_deepcopy
    module.__class__ = type(f"Parametrized{cls.__name__}", (cls,), attrs)


def _inject_property(module: Module, tensor_name: str) -> None:
    """Adds the property ``tensor_name`` to the module's injected class: reading computes the
    parametrization (once per ``cached()`` block), assigning goes through ``right_inverse``."""
    if hasattr(module.__class__, tensor_name):
        raise AssertionError(f"Module already has an attribute named '{tensor_name}'")

    def get_parametrized(self: Module) -> Tensor:
        parametrization = self.parametrizations[tensor_name]
        if _cache_enabled:
            key = (id(self), tensor_name)
            tensor = _cache.get(key)
            if tensor is None:
                tensor = parametrization()
                _cache[key] = tensor
            return tensor
        return parametrization()  # type: ignore[no-any-return]

    def set_original(self: Module, value: Tensor) -> None:
        self.parametrizations[tensor_name].right_inverse(value)

    setattr(module.__class__, tensor_name, property(get_parametrized, set_original))


def is_parametrized(module: Module, tensor_name: Optional[str] = None) -> bool:
    """Whether ``module`` has any parametrization, or one on ``tensor_name`` when given."""
    parametrizations = module._modules.get("parametrizations")
    if parametrizations is None or not isinstance(parametrizations, ModuleDict):
        return False
    if tensor_name is None:
        return len(parametrizations) > 0
    return tensor_name in parametrizations


def register_parametrization(
    module: Module, tensor_name: str, parametrization: Module, *, unsafe: bool = False
) -> Module:
    """Parametrizes ``module.<tensor_name>`` (a parameter or buffer) by ``parametrization``, or
    appends it to the tensor's existing parametrizations; returns ``module``. Unless
    ``unsafe``, the result must keep the tensor's dtype and shape (else ``ValueError``). A
    ``right_inverse`` method of the parametrization initialises the stored original(s)."""
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        if not unsafe:
            y = getattr(module, tensor_name)
            x = parametrization(y)
            _check_like(x, y.dtype, tuple(y.shape), "A parametrization")
            if hasattr(parametrization, "right_inverse"):
                try:
                    z = parametrization.right_inverse(x)
                except NotImplementedError:
                    pass
                else:
                    _check_like(z, y.dtype, tuple(y.shape), "parametrization.right_inverse")
        plist = module.parametrizations[tensor_name]
        plist.append(parametrization)
        object.__setattr__(plist, "unsafe", plist.unsafe or unsafe)
    elif tensor_name in module._buffers or tensor_name in module._parameters:
        original = getattr(module, tensor_name)
        parametrizations = ParametrizationList([parametrization], original, unsafe=unsafe)
        delattr(module, tensor_name)
        if not is_parametrized(module):
            _inject_new_class(module)
            module.parametrizations = ModuleDict()
        _inject_property(module, tensor_name)
        module.parametrizations[tensor_name] = parametrizations
    else:
        raise InvalidValueError(
            f"Module '{module}' does not have a parameter, a buffer, or a parametrized "
            f"element with name '{tensor_name}'"
        )
    return module


def remove_parametrizations(
    module: Module, tensor_name: str, leave_parametrized: bool = True
) -> Module:
    """Removes the parametrizations on ``module.<tensor_name>``: the tensor becomes a plain
    parameter (or buffer) again, holding the current parametrized value if
    ``leave_parametrized`` (the original object keeps its identity when it is a single
    tensor), else the unparametrized original. Returns ``module``."""
    if not is_parametrized(module, tensor_name):
        raise InvalidValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    parametrizations = module.parametrizations[tensor_name]
    original: Union[Tensor, Parameter]
    if parametrizations.is_tensor:
        original = parametrizations.original
        if leave_parametrized:
            with no_grad():
                t = getattr(module, tensor_name)
                _set_data(original, t)
    else:
        if not leave_parametrized:
            raise InvalidValueError(
                "Cannot leave unparametrized (`leave_parametrized=False`) a tensor that is "
                "parametrized in terms of a sequence of tensors."
            )
        t = getattr(module, tensor_name)
        original = Parameter(t.detach(), t.requires_grad) if t.requires_grad else t.detach()
    delattr(module.__class__, tensor_name)
    del module.parametrizations[tensor_name]
    _register_parameter_or_buffer(module, tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = module.__class__.__bases__[0]
    return module


def type_before_parametrizations(module: Module) -> type:
    """The module's class before any parametrization was registered (its own otherwise)."""
    if is_parametrized(module):
        return module.__class__.__bases__[0]
    return module.__class__


def transfer_parametrizations_and_params(
    from_module: Module, to_module: Module, tensor_name: Optional[str] = None
) -> Module:
    """Registers ``from_module``'s parametrizations (of ``tensor_name``, or of every
    parametrized tensor) on ``to_module`` too, creating the parameter there if it is missing,
    and makes ``to_module`` share ``from_module``'s originals (PyTorch's; used to carry a
    parametrized layer over to a converted copy). Returns ``to_module``."""
    if not is_parametrized(from_module):
        return to_module
    names = list(from_module.parametrizations) if tensor_name is None else [tensor_name]
    for name in names:
        if not hasattr(to_module, name):
            setattr(to_module, name, Parameter(getattr(from_module, name).detach()))
        source = from_module.parametrizations[name]
        for parametrization in source:
            register_parametrization(to_module, name, parametrization)
        target = to_module.parametrizations[name]
        if source.is_tensor:
            target.original = source.original
        else:
            for i in range(source.ntensors):
                setattr(target, f"original{i}", getattr(source, f"original{i}"))
    return to_module
