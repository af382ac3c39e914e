"""More of PyTorch's ``torch.nn.utils``: the hook-based ``weight_norm`` / ``spectral_norm`` (and
their removal), conv/linear + batch-norm fusion, ``get_total_norm`` /
``clip_grads_with_norm_``, ``skip_init`` and ``stateless.functional_call``."""

from __future__ import annotations

import copy
import inspect
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import ModuleType
from typing import Any, Callable, Optional, TypeVar, Union

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad
from ..errors import ArgumentTypeError, InvalidValueError, StateDictError
from . import functional as F
from .module import Module, _pop_forward_pre_hook
from .parameter import Parameter
from .parametrizations import (
    _random_unit_vectors,
    _spectral_norm_dim,
    _weight_matrix,
    _weight_norm,
    norm_except_dim,
)

__all__ = [
    "clip_grads_with_norm_",
    "convert_conv2d_weight_memory_format",
    "convert_conv3d_weight_memory_format",
    "functional_call",
    "fuse_conv_bn_eval",
    "fuse_conv_bn_weights",
    "fuse_linear_bn_eval",
    "fuse_linear_bn_weights",
    "get_total_norm",
    "remove_spectral_norm",
    "remove_weight_norm",
    "skip_init",
    "spectral_norm",
    "stateless",
    "weight_norm",
]

T = TypeVar("T", bound=Module)
Tensors = Union[Tensor, Iterable[Tensor]]


def _pre_hooks(module: Module) -> dict[int, Any]:
    """The module's forward pre-hooks by handle id, each ``(hook, with_kwargs)``."""
    return module.__dict__.get("_forward_pre_hooks", {})  # type: ignore[no-any-return]


# ---- weight_norm (the forward-pre-hook version) --------------------------------------------


class WeightNorm:
    """The forward pre-hook of ``weight_norm``: recomputes ``module.<name>`` from
    ``<name>_g`` and ``<name>_v`` before each forward (PyTorch's ``WeightNorm``)."""

    def __init__(self, name: str, dim: int) -> None:
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module: Module) -> Tensor:
        """``v * g / ||v||`` from the module's ``<name>_g`` and ``<name>_v``."""
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return _weight_norm(v, g, self.dim)

    @staticmethod
    def apply(module: Module, name: str, dim: Optional[int]) -> WeightNorm:
        """Replaces parameter ``name`` by ``<name>_g`` and ``<name>_v`` and installs the hook."""
        for hook, _ in _pre_hooks(module).values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(
                    f"Cannot register two weight_norm hooks on the same parameter {name}"
                )
        fn = WeightNorm(name, -1 if dim is None else dim)
        weight = getattr(module, name)
        del module._parameters[name]
        module.register_parameter(name + "_g", Parameter(norm_except_dim(weight, fn.dim).detach()))
        module.register_parameter(name + "_v", Parameter(weight.detach()))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module: Module) -> None:
        """Puts back ``name`` as one parameter holding the current weight."""
        with no_grad():
            weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module))


def _remove_hook(
    module: T, name: str, kind: Union[type[WeightNorm], type[SpectralNorm]], what: str
) -> T:
    """Undoes ``weight_norm`` or ``spectral_norm``: both find their pre-hook the same way."""
    if _pop_forward_pre_hook(module, lambda hook: isinstance(hook, kind) and hook.name == name):
        return module
    raise InvalidValueError(f"{what} of '{name}' not found in {module}")


def weight_norm(module: T, name: str = "weight", dim: Optional[int] = 0) -> T:
    """Weight normalization by a forward pre-hook (PyTorch's deprecated
    ``nn.utils.weight_norm``): parameter ``name`` is replaced by ``<name>_g`` (its norm over all
    dims but ``dim``; ``None``: the whole tensor) and ``<name>_v`` (its direction), and
    ``module.<name>`` is recomputed from them before each forward. Returns ``module``."""
    warnings.warn(
        "`torch.nn.utils.weight_norm` is deprecated in favor of "
        "`torch.nn.utils.parametrizations.weight_norm`.",
        FutureWarning,
        stacklevel=2,
    )
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module: T, name: str = "weight") -> T:
    """Undoes ``weight_norm``: ``name`` is again one parameter; ``ValueError`` if absent."""
    return _remove_hook(module, name, WeightNorm, "weight_norm")


# ---- spectral_norm (the forward-pre-hook version) ------------------------------------------


class SpectralNorm:
    """The forward pre-hook of ``spectral_norm``: ``module.<name>`` is ``<name>_orig`` divided
    by its spectral norm, estimated by power iteration on the buffers ``<name>_u`` and
    ``<name>_v`` (updated in training), as PyTorch's ``SpectralNorm``."""

    def __init__(
        self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12
    ) -> None:
        self.name = name
        self.dim = dim
        if n_power_iterations <= 0:
            raise InvalidValueError(
                "Expected n_power_iterations to be positive, but got "
                f"n_power_iterations={n_power_iterations}"
            )
        self.n_power_iterations = n_power_iterations
        self.eps = eps

    def reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        """The weight as a matrix with dimension ``dim`` as its rows."""
        return _weight_matrix(weight, self.dim)

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        """``<name>_orig / sigma``, after the power-iteration steps when asked."""
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        weight_mat = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            with no_grad():
                wm = weight_mat.detach()
                for _ in range(self.n_power_iterations):
                    v.copy_(F.normalize(wm.T.mv(u), dim=0, eps=self.eps))
                    u.copy_(F.normalize(wm.mv(v), dim=0, eps=self.eps))
                u = u.clone()
                v = v.clone()
        sigma = u @ weight_mat.mv(v)
        return weight / sigma  # type: ignore[no-any-return]

    def remove(self, module: Module) -> None:
        """Puts back ``name`` as one parameter holding the current normalized weight."""
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        module.__dict__.pop(self.name, None)
        delattr(module, self.name + "_u")
        delattr(module, self.name + "_v")
        delattr(module, self.name + "_orig")
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module, do_power_iteration=module.training))

    @staticmethod
    def apply(
        module: Module, name: str, n_power_iterations: int, dim: int, eps: float
    ) -> SpectralNorm:
        """Replaces parameter ``name`` by ``<name>_orig`` with buffers ``<name>_u`` and
        ``<name>_v`` and installs the hook."""
        for hook, _ in _pre_hooks(module).values():
            if isinstance(hook, SpectralNorm) and hook.name == name:
                raise RuntimeError(
                    f"Cannot register two spectral_norm hooks on the same parameter {name}"
                )
        fn = SpectralNorm(name, n_power_iterations, dim, eps)
        weight = module._parameters.get(name)
        if weight is None:
            raise InvalidValueError(
                f"`SpectralNorm` cannot be applied as parameter `{name}` is None"
            )
        with no_grad():
            u, v = _random_unit_vectors(fn.reshape_weight_to_matrix(weight), fn.eps)
        delattr(module, fn.name)
        module.register_parameter(fn.name + "_orig", weight)
        object.__setattr__(module, fn.name, weight.detach())
        module.register_buffer(fn.name + "_u", u)
        module.register_buffer(fn.name + "_v", v)
        module.register_forward_pre_hook(fn)
        return fn


def spectral_norm(
    module: T,
    name: str = "weight",
    n_power_iterations: int = 1,
    eps: float = 1e-12,
    dim: Optional[int] = None,
) -> T:
    """Spectral normalization by a forward pre-hook (PyTorch's ``nn.utils.spectral_norm``):
    parameter ``name`` becomes ``<name>_orig`` with power-iteration buffers ``<name>_u`` and
    ``<name>_v``; before each forward ``module.<name>`` is set to ``<name>_orig / sigma``.
    ``dim`` defaults to 1 for transposed convolutions, else 0. Returns ``module``."""
    SpectralNorm.apply(module, name, n_power_iterations, _spectral_norm_dim(module, dim), eps)
    return module


def remove_spectral_norm(module: T, name: str = "weight") -> T:
    """Undoes ``spectral_norm``: ``name`` is again one parameter; ``ValueError`` if absent."""
    return _remove_hook(module, name, SpectralNorm, "spectral_norm")


def _zeros_like(t: Tensor) -> Tensor:
    return _core.zeros(t.shape, dtype=t.dtype, device=t.device)


def _ones_like(t: Tensor) -> Tensor:
    return _core.ones(t.shape, dtype=t.dtype, device=t.device)


# ---- fusion --------------------------------------------------------------------------------


def fuse_conv_bn_weights(
    conv_w: Tensor,
    conv_b: Optional[Tensor],
    bn_rm: Tensor,
    bn_rv: Tensor,
    bn_eps: float,
    bn_w: Optional[Tensor],
    bn_b: Optional[Tensor],
    transpose: bool = False,
) -> tuple[Parameter, Parameter]:
    """The weight and bias of one convolution doing a convolution then an eval-mode batch norm
    (running statistics ``bn_rm`` / ``bn_rv``), as PyTorch's; ``transpose`` for transposed
    convolutions (output channels in dimension 1)."""
    w_dtype = conv_w.dtype
    b_dtype = conv_b.dtype if conv_b is not None else w_dtype
    if conv_b is None:
        conv_b = _zeros_like(bn_rm)
    if bn_w is None:
        bn_w = _ones_like(bn_rm)
    if bn_b is None:
        bn_b = _zeros_like(bn_rm)
    bn_var_rsqrt = (bn_rv + bn_eps).rsqrt()
    shape = [1, -1] if transpose else [-1, 1]
    shape += [1] * (conv_w.dim() - 2)
    fused_w = (conv_w * (bn_w * bn_var_rsqrt).reshape(shape)).to(w_dtype)
    fused_b = ((conv_b - bn_rm) * bn_var_rsqrt * bn_w + bn_b).to(b_dtype)
    return (
        Parameter(fused_w.detach(), conv_w.requires_grad),
        Parameter(fused_b.detach(), conv_b.requires_grad),
    )


def fuse_conv_bn_eval(conv: T, bn: Module, transpose: bool = False) -> T:
    """A copy of ``conv`` (in eval mode, as ``bn``) whose output equals ``bn(conv(x))``."""
    if conv.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    return _fused_copy(conv, bn, fuse_conv_bn_weights, transpose)


def _fused_copy(
    layer: T, bn: Module, fuse: Callable[..., tuple[Parameter, Parameter]], *extra: Any
) -> T:
    """What ``fuse_conv_bn_eval`` and ``fuse_linear_bn_eval`` share once their checks pass: a
    copy of ``layer`` whose weight and bias are ``fuse``'s, from its own and ``bn``'s (running
    statistics, ``eps``, affine parameters), ``extra`` passed after them."""
    if bn.running_mean is None or bn.running_var is None:
        raise AssertionError("the batch norm must track running statistics")
    fused = copy.deepcopy(layer)
    fused.weight, fused.bias = fuse(
        fused.weight,
        fused._parameters.get("bias"),
        bn.running_mean,
        bn.running_var,
        bn.eps,
        bn._parameters.get("weight"),
        bn._parameters.get("bias"),
        *extra,
    )
    return fused


def fuse_linear_bn_weights(
    linear_w: Tensor,
    linear_b: Optional[Tensor],
    bn_rm: Tensor,
    bn_rv: Tensor,
    bn_eps: float,
    bn_w: Tensor,
    bn_b: Tensor,
) -> tuple[Parameter, Parameter]:
    """The weight and bias of one linear layer doing a linear layer then an eval-mode batch
    norm over its output features, as PyTorch's."""
    w_dtype = linear_w.dtype
    b_dtype = linear_b.dtype if linear_b is not None else w_dtype
    if linear_b is None:
        linear_b = _zeros_like(bn_rm)
    bn_scale = bn_w * (bn_rv + bn_eps).rsqrt()
    fused_w = linear_w * bn_scale.unsqueeze(-1).to(w_dtype)
    fused_b = ((linear_b - bn_rm) * bn_scale + bn_b).to(b_dtype)
    return (
        Parameter(fused_w.detach(), linear_w.requires_grad),
        Parameter(fused_b.detach(), linear_b.requires_grad),
    )


def fuse_linear_bn_eval(linear: T, bn: Module) -> T:
    """A copy of ``linear`` (in eval mode, as ``bn``) whose output equals ``bn(linear(x))``;
    ``bn.num_features`` must be ``linear.out_features`` or 1."""
    if linear.training or bn.training:
        raise AssertionError("Fusion only for eval!")
    if not (linear.out_features == bn.num_features or bn.num_features == 1):
        raise AssertionError(
            "To fuse, linear.out_features == bn.num_features or bn.num_features == 1"
        )
    return _fused_copy(linear, bn, fuse_linear_bn_weights)


# ---- gradient norms ------------------------------------------------------------------------


def _norm_of(t: Tensor, p: float) -> Tensor:
    """``linalg.vector_norm(t, p)`` of every element, in ``t``'s dtype, accumulated in float32
    (float64 for float64): a few engine ops, where ``vector_norm`` records a differentiable
    custom function (``clip_grad_norm_`` calls this once per parameter, every step)."""
    if t.numel() == 0:
        from ..linalg import vector_norm

        return vector_norm(t, p)  # (its value, or PyTorch's error for max/min of nothing)
    x = t.detach()
    flat = (x if x.dtype == _core.float64 else x.float()).reshape(-1)
    if p == 2.0:
        out = (flat @ flat).sqrt()
    elif p == math.inf:
        out = flat.abs().amax()
    elif p == -math.inf:
        out = flat.abs().amin()
    elif p == 0.0:
        out = (flat != 0).sum().to(flat.dtype)
    elif p == 1.0:
        out = flat.abs().sum()
    else:
        out = (flat.abs() ** p).sum() ** (1.0 / p)
    # (keyword dtype: the engine's positional ``to`` also tries the argument as a device)
    return out.to(dtype=x.dtype)


def get_total_norm(
    tensors: Tensors,
    norm_type: Union[float, str] = 2.0,
    error_if_nonfinite: bool = False,
    foreach: Optional[bool] = None,
) -> Tensor:
    """The ``norm_type`` norm of all ``tensors`` together (the norm of their norms), as
    PyTorch's; 0 for none. A non-finite norm raises ``RuntimeError`` with
    ``error_if_nonfinite``. ``foreach`` picks PyTorch's implementation; it changes nothing."""
    del foreach
    ts = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    norm_type = float(norm_type)
    if not ts:
        return _core.zeros(())
    # Autocast off: ``_norm_of``'s dot product would otherwise run as a bfloat16/float16
    # matmul, and PyTorch's norms are float32 ops.
    amp = _core._set_autocast(None)
    try:
        with no_grad():
            norms = [_norm_of(t, norm_type) for t in ts]
            total = _norm_of(_core.stack(norms), norm_type)  # stack promotes mixed dtypes
    finally:
        _core._set_autocast(amp)
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the "
            "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    return total


def clip_grads_with_norm_(
    parameters: Tensors,
    max_norm: float,
    total_norm: Tensor,
    foreach: Optional[bool] = None,
) -> None:
    """Scales the gradients of ``parameters`` in place by ``min(1, max_norm / (total_norm +
    1e-6))``, given their precomputed ``total_norm`` (PyTorch's ``clip_grads_with_norm_``)."""
    del foreach
    if not isinstance(total_norm, Tensor):  # PyTorch's clamp of a number: TypeError
        raise ArgumentTypeError(
            "total_norm must be a Tensor (get_total_norm's result), got "
            f"{type(total_norm).__name__}"
        )
    ps = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    grads = [p.grad for p in ps if p.grad is not None]
    max_norm = float(max_norm)
    if not grads:
        return
    with no_grad():
        coef = (max_norm / (total_norm + 1e-6)).clamp(max=1.0)
        if coef.device.type == "cpu" and coef.item() == 1.0:
            return  # (multiplying by one changes nothing; on the host the check costs no sync)
        # The coefficient keeps the norm's dtype, as PyTorch's: a float16 gradient clipped by a
        # float64 norm (mixed-dtype parameters) is scaled in float32 and rounded once.
        moved: dict[Any, Tensor] = {}
        for g in grads:
            if g.device not in moved:
                moved[g.device] = coef.to(g.device)
            g.mul_(moved[g.device])


# ---- memory format -------------------------------------------------------------------------


def _convert_weight_memory_format(module: T, memory_format: Any, kinds: tuple[type, ...]) -> T:
    """Re-lays out the weight of every ``kinds`` layer in ``module`` (itself included) in
    ``memory_format``, keeping each parameter object (its ``.data`` is replaced)."""
    if isinstance(module, kinds):
        weight = module.weight
        weight.data = weight.detach().clone(memory_format=memory_format)
    for child in module.children():
        _convert_weight_memory_format(child, memory_format, kinds)
    return module


def convert_conv2d_weight_memory_format(module: T, memory_format: Any) -> T:
    """Lays out the weights of ``module``'s ``Conv2d`` / ``ConvTranspose2d`` layers (``module``
    itself included, recursively) in ``memory_format`` (e.g. ``dm.channels_last``); returns
    ``module``, as PyTorch's."""
    from .conv import Conv2d
    from .conv_transpose import ConvTranspose2d

    return _convert_weight_memory_format(module, memory_format, (Conv2d, ConvTranspose2d))


def convert_conv3d_weight_memory_format(module: T, memory_format: Any) -> T:
    """``convert_conv2d_weight_memory_format`` for ``Conv3d`` / ``ConvTranspose3d`` layers
    (e.g. ``dm.channels_last_3d``)."""
    from .volumetric import Conv3d, ConvTranspose3d

    return _convert_weight_memory_format(module, memory_format, (Conv3d, ConvTranspose3d))


# ---- skip_init -----------------------------------------------------------------------------


def skip_init(module_cls: type[T], *args: Any, **kwargs: Any) -> T:
    """An instance of ``module_cls(*args, **kwargs)`` whose parameters and buffers hold
    unspecified values, for the caller to fill in (PyTorch's ``skip_init``; here the module is
    built normally, so the values are its default initialisation). The class must take a
    ``device`` argument, as PyTorch requires."""
    if "device" not in inspect.signature(module_cls).parameters:
        raise RuntimeError("Module must support a 'device' arg to skip initialization")
    final_device = kwargs.pop("device", "cpu")
    cls: Any = module_cls
    return cls(*args, device=final_device, **kwargs)  # type: ignore[no-any-return]


# ---- stateless.functional_call -------------------------------------------------------------


_MISSING = object()


def _swap_tensor(module: Module, name: str, tensor: Any) -> Any:
    """Puts ``tensor`` in ``module``'s slot ``name`` (a parameter, buffer or plain tensor
    attribute; ``_MISSING`` deletes it) and returns what was there (``_MISSING`` if nothing)."""
    if tensor is not _MISSING and tensor is not None and not isinstance(tensor, Tensor):
        raise ArgumentTypeError(f"{tensor} is not an instance of torch.Tensor")
    for registry in (module._parameters, module._buffers):
        if name in registry:
            orig = registry[name]
            if tensor is _MISSING:
                del registry[name]
            else:
                registry[name] = tensor
            return orig
    orig = getattr(module, name) if hasattr(module, name) else _MISSING
    if orig is not _MISSING and orig is not None and not isinstance(orig, Tensor):
        raise ArgumentTypeError(f"attribute `{name}`: {orig} is not an instance of torch.Tensor")
    if tensor is not _MISSING:
        setattr(module, name, tensor)
    elif hasattr(module, name):
        delattr(module, name)
    return orig


def _swap_all(module: Module, tensors: Mapping[str, Any]) -> dict[str, Any]:
    """Swaps each dotted name's tensor in, returning the originals; on an error the ones
    already swapped are put back."""
    done: dict[str, Any] = {}
    try:
        for name, t in tensors.items():
            prefix, _, attr = name.rpartition(".")
            done[name] = _swap_tensor(module.get_submodule(prefix), attr, t)
    except Exception:
        _restore(module, done)
        raise
    return done


def _restore(module: Module, originals: Mapping[str, Any]) -> None:
    """Puts the ``originals`` returned by ``_swap_all`` back."""
    for name, t in originals.items():
        prefix, _, attr = name.rpartition(".")
        _swap_tensor(module.get_submodule(prefix), attr, t)


def _untie(module: Module, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``tensors`` completed with every name tied (the same tensor) to a given name, as
    PyTorch's ``_untie_named_tensors_map``; different values for tied names raise."""
    named: dict[str, Tensor] = dict(module.named_parameters(remove_duplicate=False))
    named.update(module.named_buffers(remove_duplicate=False))
    by_tensor: dict[int, set[str]] = {}
    for n, t in named.items():
        by_tensor.setdefault(id(t), set()).add(n)
    tied = {n: names for names in by_tensor.values() if len(names) > 1 for n in names}
    given = [n for n in tensors if n in tied]
    for n in given:
        names = tied[n]
        if (
            len(names.intersection(given)) > 1
            and len({id(tensors[m]) for m in names if m in tensors}) != 1
        ):
            raise InvalidValueError(
                f"functional_call got multiple values for keys {sorted(names)}, which are "
                "tied. Consider using tie_weights=False"
            )
    out = dict(tensors)
    for n in given:
        for m in tied[n]:
            out[m] = tensors[n]
    return out


@contextmanager
def _reparametrize(
    module: Module, tensors: Mapping[str, Tensor], tie_weights: bool, strict: bool
) -> Iterator[None]:
    """Within the block ``module`` uses ``tensors`` (by dotted name) for its parameters and
    buffers; the originals come back on leaving, even on an error."""
    untied = _untie(module, tensors) if tie_weights else dict(tensors)
    if strict:
        valid = {n for n, _ in module.named_parameters(remove_duplicate=False)}
        valid |= {n for n, _ in module.named_buffers(remove_duplicate=False)}
        missing, unexpected = sorted(valid - set(untied)), sorted(set(untied) - valid)
        msgs = []
        if unexpected:
            msgs.append(f"Unexpected key(s): {', '.join(map(repr, unexpected))}.")
        if missing:
            msgs.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
        if msgs:
            raise StateDictError(
                f"Error(s) in reparametrizing for {type(module).__name__}:\n\t" + "\n\t".join(msgs)
            )
    originals = _swap_all(module, untied)
    try:
        yield
    finally:
        _restore(module, originals)


def _functional_call(
    module: Module,
    parameters_and_buffers: Mapping[str, Tensor],
    args: Any,
    kwargs: Optional[dict[str, Any]],
    tie_weights: bool,
    strict: bool,
) -> Any:
    """``module(*args, **kwargs)`` with ``parameters_and_buffers`` swapped in for the call: the
    body of both public ``functional_call``s, which own the defaults."""
    if kwargs is None:
        kwargs = {}
    if args is None:
        args = ()
    elif not isinstance(args, tuple):
        args = (args,)
    with _reparametrize(module, parameters_and_buffers, tie_weights, strict):
        return module(*args, **kwargs)


def functional_call(
    module: Module,
    parameters_and_buffers: dict[str, Tensor],
    args: Any = None,
    kwargs: Optional[dict[str, Any]] = None,
    *,
    tie_weights: bool = True,
    strict: bool = False,
) -> Any:
    """Calls ``module(*args, **kwargs)`` with the tensors of ``parameters_and_buffers`` (by
    dotted name) in place of its parameters and buffers for this one call, the module left
    unchanged afterwards even on an error (PyTorch's deprecated
    ``nn.utils.stateless.functional_call``; see ``dm.func.functional_call``). ``args`` that is
    not a tuple is the single positional argument. With ``tie_weights``, a value given for one
    of several tied names is used for all of them; ``strict`` requires exactly the module's
    names (else ``RuntimeError``)."""
    warnings.warn(
        "`torch.nn.utils.stateless.functional_call` is deprecated as of PyTorch 2.0 and will "
        "be removed in a future version of PyTorch. Please use `torch.func.functional_call` "
        "instead which is a drop-in replacement.",
        FutureWarning,
        stacklevel=2,
    )
    return _functional_call(
        module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict
    )


#: ``nn.utils.stateless``: PyTorch's module holding ``functional_call``.
stateless = ModuleType(
    "democratising.nn.utils.stateless", "PyTorch's ``torch.nn.utils.stateless``."
)
stateless.functional_call = functional_call  # type: ignore[attr-defined]
