"""Lazy modules (PyTorch's ``LazyModuleMixin`` family): ``UninitializedParameter`` and
``UninitializedBuffer`` placeholders, ``LazyLinear``, the lazy convolutions, batch and instance
norms, whose input size is inferred from the first input; and ``Buffer``, the tensor kind that
registers itself as a buffer when assigned to a module attribute.

On its first call a lazy module reads its ``in_features`` / ``in_channels`` / ``num_features``
from the input, materialises its placeholders in place (so an optimizer built before the first
call keeps stepping the same ``Parameter`` objects, as in PyTorch) with the regular module's
initialisation, and becomes that regular module (``cls_to_become``)."""

from __future__ import annotations

from typing import Any, Callable, Optional

from .. import _core
from .._core import Tensor
from ..errors import InvalidValueError, ShapeError
from ._derived_init import derived_init
from .conv import Conv1d, Conv2d, _ConvNd
from .conv_transpose import ConvTranspose1d, ConvTranspose2d, _ConvTransposeNd
from .instance_norm import InstanceNorm1d, InstanceNorm2d, InstanceNorm3d
from .layers import Dense, Linear
from .module import Module
from .normalization import BatchNorm1d, BatchNorm2d, _NormBase
from .parameter import Parameter
from .volumetric import BatchNorm3d, Conv3d, ConvTranspose3d

__all__ = [
    "Buffer",
    "LazyBatchNorm1d",
    "LazyBatchNorm2d",
    "LazyBatchNorm3d",
    "LazyConv1d",
    "LazyConv2d",
    "LazyConv3d",
    "LazyConvTranspose1d",
    "LazyConvTranspose2d",
    "LazyConvTranspose3d",
    "LazyInstanceNorm1d",
    "LazyInstanceNorm2d",
    "LazyInstanceNorm3d",
    "LazyLinear",
    "LazyModuleMixin",
    "UninitializedBuffer",
    "UninitializedParameter",
]

_SHAPE_ERROR = (
    "Can't access the shape of an uninitialized parameter or buffer. This error usually happens "
    "in `load_state_dict` when trying to load an uninitialized parameter into an initialized "
    "one. Call `forward` to initialize the parameters before accessing their attributes."
)


class Buffer(Tensor):
    """``torch.nn.Buffer``: a tensor that, assigned to a module attribute, registers itself as
    a buffer of that module (saved in ``state_dict`` unless ``persistent=False``)."""

    _is_buffer = True

    def __new__(cls, data: Optional[Tensor] = None, *, persistent: bool = True) -> Buffer:
        if data is None:
            data = _core.empty(0)
        t = super().__new__(cls, data.detach())
        t.requires_grad_(data.requires_grad)
        t.persistent = persistent
        return t

    def __init__(self, data: Optional[Tensor] = None, *, persistent: bool = True) -> None:
        pass


class _Uninitialized:
    """What the placeholders share: no shape until ``materialize``; ``detach`` (what
    ``state_dict`` calls) returns the placeholder itself, as PyTorch's."""

    cls_to_become: type = Tensor

    @property
    def shape(self) -> Any:
        raise RuntimeError(_SHAPE_ERROR)

    def size(self, dim: Optional[int] = None) -> Any:
        """Raises: the placeholder has no size yet."""
        raise InvalidValueError(f"Attempted to use an uninitialized parameter in {type(self).size}")

    def numel(self) -> int:
        """Raises: the placeholder has no size yet."""
        raise InvalidValueError(
            f"Attempted to use an uninitialized parameter in {type(self).numel}"
        )

    def dim(self) -> int:
        """Raises: the placeholder has no size yet."""
        raise InvalidValueError(f"Attempted to use an uninitialized parameter in {type(self).dim}")

    def detach(self) -> Any:
        """The placeholder itself."""
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        """A new placeholder of the same kind, ``requires_grad``, device and dtype (as
        PyTorch's; ``Tensor.__deepcopy__`` would pass the data as ``requires_grad``)."""
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(
            self.requires_grad,  # type: ignore[attr-defined]
            Tensor.__getattribute__(self, "device"),
            Tensor.__getattribute__(self, "dtype"),
        )
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, protocol: Any) -> Any:
        """Pickles as a fresh placeholder with this one's ``requires_grad``, as PyTorch's
        (it has no values to save)."""
        return (self.__class__, (self.requires_grad,))  # type: ignore[attr-defined]


class UninitializedParameter(_Uninitialized, Parameter):
    """A ``Parameter`` whose shape is not known yet; ``materialize(shape)`` gives it one (in
    place: it becomes a plain ``Parameter``, the same object)."""

    cls_to_become = Parameter

    def __new__(
        cls, requires_grad: bool = True, device: Any = None, dtype: Any = None
    ) -> UninitializedParameter:
        data = _empty0(device, dtype)
        return super().__new__(cls, data, requires_grad)  # type: ignore[return-value]

    def __init__(self, requires_grad: bool = True, device: Any = None, dtype: Any = None) -> None:
        pass

    def materialize(self, shape: Any, device: Any = None, dtype: Any = None) -> None:
        """Gives the parameter ``shape`` (uninitialised values, this placeholder's dtype and
        device unless given) and turns it into a ``Parameter``."""
        dtype = dtype or Tensor.__getattribute__(self, "dtype")
        device = device or Tensor.__getattribute__(self, "device")
        self.data = _core.empty(tuple(shape), dtype=dtype, device=device)
        self.__class__ = self.cls_to_become


class UninitializedBuffer(_Uninitialized, Tensor):
    """A buffer whose shape is not known yet; the lazy module replaces it by a real tensor
    when it learns its shape (``materialize`` returns that tensor)."""

    def __new__(
        cls, requires_grad: bool = False, device: Any = None, dtype: Any = None
    ) -> UninitializedBuffer:
        data = _empty0(device, dtype)
        t = super().__new__(cls, data)
        t.requires_grad_(requires_grad)
        return t

    def __init__(self, requires_grad: bool = False, device: Any = None, dtype: Any = None) -> None:
        pass

    def materialize(self, shape: Any, device: Any = None, dtype: Any = None) -> Tensor:
        """A new (uninitialised) tensor of ``shape``, this placeholder's dtype and device
        unless given."""
        dtype = dtype or Tensor.__getattribute__(self, "dtype")
        device = device or Tensor.__getattribute__(self, "device")
        return _core.empty(tuple(shape), dtype=dtype, device=device)


def _empty0(device: Any, dtype: Any) -> Tensor:
    """The placeholders' storage: an empty tensor of ``dtype`` (the default when ``None``) on
    ``device`` (the CPU when ``None``)."""
    kw = {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}
    return _core.empty(0, **kw)


def _is_uninitialized(t: Any) -> bool:
    return isinstance(t, _Uninitialized)


class LazyModuleMixin:
    """PyTorch's ``LazyModuleMixin``: the module's first call infers the missing input size
    (``initialize_parameters``), materialises the placeholders with the regular module's
    initialisation and swaps the class to ``cls_to_become``. ``load_state_dict`` into a module
    that is still uninitialised materialises the placeholders from the loaded shapes."""

    cls_to_become: Optional[type] = None
    #: The regular module's attribute (its first constructor argument) read from the input.
    _lazy_attr: str = ""
    #: The regular module's buffers that wait for the size too (placeholders until then).
    _lazy_buffers: tuple[str, ...] = ()
    _parameters: dict[str, Any]
    _buffers: dict[str, Any]

    def _lazy_setup(self, **kwargs: Any) -> None:
        """Builds the regular module with a size of 0, remembers the arguments that rebuild
        it once the size is known, and turns its weight, bias and ``_lazy_buffers`` into
        placeholders: every lazy module's constructor but ``LazyLinear``'s (see
        ``_lazy_init``)."""
        assert self.cls_to_become is not None
        self.cls_to_become.__init__(self, 0, **kwargs)
        # (all by name here; ``LazyLinear`` passes some by position)
        self.__dict__["_lazy_args"] = ()
        self.__dict__["_lazy_kwargs"] = {k: v for k, v in kwargs.items() if k != "dtype"}
        _to_placeholders(self, ("weight", "bias"), self._lazy_buffers)  # type: ignore[arg-type]

    def has_uninitialized_params(self) -> bool:
        """Whether a parameter or buffer is still a placeholder."""
        tensors = [*self._parameters.values(), *self._buffers.values()]
        return any(_is_uninitialized(t) for t in tensors)

    def _infer_size(self, input: Tensor) -> int:
        """The regular module's inferred size from the first input."""
        return int(input.shape[1])

    def initialize_parameters(self, input: Tensor, *args: Any, **kwargs: Any) -> None:
        """Reads the input size from ``input`` and, while placeholders remain, materialises
        them with the regular module's initialisation."""
        size = self._infer_size(input)
        if not self.has_uninitialized_params():
            self.__dict__[self._lazy_attr] = size
            return
        placeholders = [
            t for t in [*self._parameters.values(), *self._buffers.values()] if t is not None
        ]
        ref = placeholders[0]
        dtype, device = (
            Tensor.__getattribute__(ref, "dtype"),
            Tensor.__getattribute__(ref, "device"),
        )
        assert self.cls_to_become is not None
        fresh = self.cls_to_become(size, *self._lazy_args, **self._lazy_kwargs, dtype=dtype)
        fresh.to(device)
        for name, new in fresh._parameters.items():
            own = self._parameters.get(name)
            if isinstance(own, UninitializedParameter):
                own.materialize(tuple(new.shape))
                own.data = new.detach()
        for name, new in fresh._buffers.items():
            if _is_uninitialized(self._buffers.get(name)):
                self._buffers[name] = new
        for k, v in fresh.__dict__.items():
            if k not in ("_parameters", "_buffers", "_modules", "training"):
                if not k.startswith("_"):
                    self.__dict__[k] = v

    def _complete_state_dict(self, state_dict: dict[str, Any], prefix: str) -> None:
        """Materialises each placeholder whose key is in ``state_dict`` with the loaded
        shape (then the load copies the values in), as PyTorch's lazy load hook."""
        for registry in (self._parameters, self._buffers):
            for name, t in list(registry.items()):
                key = prefix + name
                if not _is_uninitialized(t) or key not in state_dict:
                    continue
                src = state_dict[key]
                if _is_uninitialized(src):
                    continue
                shape = tuple(src.shape) if isinstance(src, Tensor) else tuple(_shape_of(src))
                if isinstance(t, UninitializedParameter):
                    t.materialize(shape)
                else:
                    registry[name] = t.materialize(shape)
        super()._complete_state_dict(state_dict, prefix)  # type: ignore[misc]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if type(self).cls_to_become is not None and isinstance(self, LazyModuleMixin):
            self.initialize_parameters(*args, **kwargs)
            if not self.has_uninitialized_params():
                self.__dict__.pop("_lazy_args", None)
                self.__dict__.pop("_lazy_kwargs", None)
                self.__class__ = self.cls_to_become
        return Module.__call__(self, *args, **kwargs)  # type: ignore[arg-type]


def _shape_of(value: Any) -> tuple[int, ...]:
    import numpy as np

    return tuple(np.shape(value))


def _to_placeholders(module: Module, params: tuple[str, ...], buffers: tuple[str, ...]) -> None:
    """Replaces the named (non-``None``) parameters and buffers of a module built with a zero
    input size by placeholders of the same dtype, device and ``requires_grad``."""
    for name in params:
        p = module._parameters.get(name)
        if p is not None:
            module._parameters[name] = UninitializedParameter(
                p.requires_grad, device=p.device, dtype=p.dtype
            )
    for name in buffers:
        b = module._buffers.get(name)
        if b is not None:
            module._buffers[name] = UninitializedBuffer(device=b.device, dtype=b.dtype)


class LazyLinear(LazyModuleMixin, Dense):
    """``Linear`` whose ``in_features`` is inferred from the first input's last dimension."""

    cls_to_become = Linear
    _lazy_attr = "in_features"

    def __init__(
        self, out_features: int, bias: bool = True, device: Any = None, dtype: Any = None
    ) -> None:
        Dense.__init__(self, 0, out_features, False, device, dtype)
        self.__dict__["_lazy_args"] = (out_features, bias)
        self.__dict__["_lazy_kwargs"] = {"device": device}
        self.weight = UninitializedParameter(device=self.weight.device, dtype=self.weight.dtype)
        if bias:
            self.bias = UninitializedParameter(device=self.weight.device, dtype=self.weight.dtype)

    def _infer_size(self, input: Tensor) -> int:
        return int(input.shape[-1])


def _lazy_init(regular: Callable[..., None], size: str) -> Callable[..., None]:
    """A lazy module's constructor: the regular one's (``regular``) arguments but ``size``,
    which the first input gives (PyTorch's lazy signatures); see ``_lazy_setup``."""

    @derived_init(regular, without=size)
    def init(self: LazyModuleMixin, **kwargs: Any) -> None:
        self._lazy_setup(**kwargs)

    return init


class _LazyConvMixin(LazyModuleMixin):
    """The lazy convolutions: ``in_channels`` from the input's channel dimension (dimension 1
    when batched, 0 when not); the constructor takes the regular one's arguments but
    ``in_channels``."""

    _lazy_attr = "in_channels"
    __init__ = _lazy_init(_ConvNd.__init__, "in_channels")

    def _infer_size(self, input: Tensor) -> int:
        no_batch = len(self.kernel_size) + 1  # type: ignore[attr-defined]
        if input.dim() not in (no_batch, no_batch + 1):
            raise ShapeError(
                f"Expected {no_batch}D (unbatched) or {no_batch + 1}D (batched) input to "
                f"{type(self).__name__}, but got input of size: {tuple(input.shape)}"
            )
        return int(input.shape[1] if input.dim() == no_batch + 1 else input.shape[0])


class _LazyConvTransposeMixin(_LazyConvMixin):
    """The lazy transposed convolutions: the transposed constructor's arguments but
    ``in_channels``."""

    __init__ = _lazy_init(_ConvTransposeNd.__init__, "in_channels")


class _LazyNormMixin(LazyModuleMixin):
    """The lazy batch and instance norms: ``num_features`` from the input's dimension 1; the
    running statistics are placeholders too. The constructor takes batch norm's arguments but
    ``num_features``, with its defaults for the instance norms too (as PyTorch's)."""

    _lazy_attr = "num_features"
    _lazy_buffers = ("running_mean", "running_var")
    __init__ = _lazy_init(_NormBase.__init__, "num_features")


class LazyConv1d(_LazyConvMixin, Conv1d):
    """``Conv1d`` whose ``in_channels`` is inferred from the first input."""

    cls_to_become = Conv1d


class LazyConv2d(_LazyConvMixin, Conv2d):
    """``Conv2d`` whose ``in_channels`` is inferred from the first input."""

    cls_to_become = Conv2d


class LazyConvTranspose1d(_LazyConvTransposeMixin, ConvTranspose1d):
    """``ConvTranspose1d`` whose ``in_channels`` is inferred from the first input."""

    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvTransposeMixin, ConvTranspose2d):
    """``ConvTranspose2d`` whose ``in_channels`` is inferred from the first input."""

    cls_to_become = ConvTranspose2d


class LazyBatchNorm1d(_LazyNormMixin, BatchNorm1d):
    """``BatchNorm1d`` whose ``num_features`` is inferred from the first input's dimension 1."""

    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyNormMixin, BatchNorm2d):
    """``BatchNorm2d`` whose ``num_features`` is inferred from the first input's dimension 1."""

    cls_to_become = BatchNorm2d


class LazyInstanceNorm1d(_LazyNormMixin, InstanceNorm1d):
    """``InstanceNorm1d`` whose ``num_features`` is inferred from the first input's dimension 1."""

    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyNormMixin, InstanceNorm2d):
    """``InstanceNorm2d`` whose ``num_features`` is inferred from the first input's dimension 1."""

    cls_to_become = InstanceNorm2d


class LazyConv3d(_LazyConvMixin, Conv3d):
    """``Conv3d`` whose ``in_channels`` is inferred from the first input."""

    cls_to_become = Conv3d


class LazyConvTranspose3d(_LazyConvTransposeMixin, ConvTranspose3d):
    """``ConvTranspose3d`` whose ``in_channels`` is inferred from the first input."""

    cls_to_become = ConvTranspose3d


class LazyBatchNorm3d(_LazyNormMixin, BatchNorm3d):
    """``BatchNorm3d`` whose ``num_features`` is inferred from the first input's dimension 1."""

    cls_to_become = BatchNorm3d


class LazyInstanceNorm3d(_LazyNormMixin, InstanceNorm3d):
    """``InstanceNorm3d`` whose ``num_features`` is inferred from the first input's dimension 1."""

    cls_to_become = InstanceNorm3d
