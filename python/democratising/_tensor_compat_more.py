"""More PyTorch spellings for ported programs: ``dm.layout``/``dm.strided`` and
``Tensor.layout``; the backend queries that are False here (``is_nested``, ``is_xla``,
``is_mkldnn``...); ``Tensor.untyped_storage()``/``storage()``, whose ``data_ptr()`` is the same
for every view of one memory block (what checkpoint code compares to find shared tensors);
and top-level functions PyTorch has (``typename``, ``is_signed``, ``binomial``, ``fill``,
``to_dlpack``, ``set_default_tensor_type``, ``get_device_module``...)."""

from __future__ import annotations

import abc
import builtins
import types
import warnings
from typing import Any, Optional, Union

from . import _core
from ._core import Device, Tensor
from ._memory_format import _NamedConstant
from ._tensor_methods_torch import is_conj, is_inference, is_neg, is_same_size, is_signed
from .errors import ArgumentTypeError, DeviceError, DTypeError, InvalidValueError, ShapeError

__all__ = [
    "TypedStorage",
    "UntypedStorage",
    "binomial",
    "fill",
    "get_device_module",
    "is_conj",
    "is_inference",
    "is_neg",
    "is_same_size",
    "is_signed",
    "is_storage",
    "layout",
    "set_default_tensor_type",
    "sparse_coo",
    "strided",
    "to_dlpack",
    "typename",
]


# ---- layouts ---------------------------------------------------------------------------------


class layout(_NamedConstant):  # noqa: N801 - PyTorch's name
    """How a tensor's elements are stored (``torch.layout``). Every tensor here is dense
    (``strided``); ``sparse_coo`` exists as a name so that comparisons such as
    ``x.layout == torch.sparse_coo`` keep working (they are False)."""

    __slots__ = ()


strided = layout("strided")
sparse_coo = layout("sparse_coo")


# ---- storages --------------------------------------------------------------------------------


def _extent(x: Tensor) -> int:
    """Elements of the memory block from its start to the last one ``x`` reaches."""
    if x.numel() == 0:
        return 0
    last = x.storage_offset() + builtins.sum((n - 1) * abs(s) for n, s in zip(x.shape, x.stride()))
    return int(last) + 1


class _Storage(abc.ABC):
    """What both storage views share: the tensor they stand for (keeping its memory alive),
    its device, the block's start and whether it is shared."""

    def __init__(self, tensor: Tensor) -> None:
        self._tensor = tensor

    @property
    def device(self) -> Device:
        return self._tensor.device

    @property
    def is_cuda(self) -> builtins.bool:
        return self._tensor.device.type == "cuda"

    def data_ptr(self) -> int:
        x = self._tensor
        return int(x.data_ptr() - x.storage_offset() * x.element_size())

    @abc.abstractmethod
    def size(self) -> int:
        """The block's length in this view's unit (bytes, or elements of the dtype)."""

    @abc.abstractmethod
    def element_size(self) -> int:
        """Bytes per unit of ``size()``."""

    def nbytes(self) -> int:
        return _extent(self._tensor) * int(self._tensor.element_size())

    def __len__(self) -> int:
        return self.size()

    def is_shared(self) -> builtins.bool:
        return builtins.bool(self._tensor.is_shared())


class UntypedStorage(_Storage):
    """The memory block under a tensor, as bytes (``Tensor.untyped_storage()``). Views of one
    tensor share a ``data_ptr()`` (the block's start: the tensor's own start less its
    ``storage_offset``). ``nbytes()`` counts the block up to the last byte this tensor reaches
    (the engine does not report a block's full length, so a view ending before its base's
    end reports less than the base)."""

    def size(self) -> int:
        return self.nbytes()

    def element_size(self) -> int:
        return 1

    def __repr__(self) -> str:
        return (
            f"UntypedStorage(data_ptr={self.data_ptr():#x}, nbytes={self.nbytes()}, "
            f"device={self.device})"
        )


class TypedStorage(_Storage):
    """A tensor's memory block in elements of its dtype (``Tensor.storage()``): ``size()``
    elements of ``element_size()`` bytes, the same ``data_ptr()`` as its untyped storage."""

    @property
    def dtype(self) -> _core.dtype:
        return self._tensor.dtype

    def untyped(self) -> UntypedStorage:
        return UntypedStorage(self._tensor)

    def size(self) -> int:
        return _extent(self._tensor)

    def element_size(self) -> int:
        return int(self._tensor.element_size())

    def __repr__(self) -> str:
        return (
            f"TypedStorage(dtype={self.dtype}, size={self.size()}, "
            f"data_ptr={self.data_ptr():#x}, device={self.device})"
        )


def is_storage(obj: Any) -> builtins.bool:
    """Whether ``obj`` is a storage (``Tensor.untyped_storage()`` or ``storage()``)."""
    return isinstance(obj, (UntypedStorage, TypedStorage))


# ---- Tensor members --------------------------------------------------------------------------


def _false(doc: str) -> property:
    return property(lambda self: False, doc=doc)


#: Installed on ``Tensor`` unless the engine (or an earlier module) defines the name.
PROPERTIES: dict[str, property] = {
    "layout": property(lambda self: strided, doc="Always ``strided``: tensors are dense."),
    "is_nested": _false("Always False: no nested (jagged) tensors."),
    "is_xla": _false("Always False: no XLA backend."),
    "is_mkldnn": _false("Always False: no MKL-DNN tensors."),
    "is_sparse_csr": _false("Always False: tensors are dense."),
    "is_ipu": _false("Always False: no IPU backend."),
    "is_vulkan": _false("Always False: no Vulkan backend."),
    "is_mtia": _false("Always False: no MTIA backend."),
    "is_maia": _false("Always False: no MAIA backend."),
}

METHODS: dict[str, Any] = {
    "untyped_storage": lambda self: UntypedStorage(self),
    "storage": lambda self: TypedStorage(self),
}


def install(cls: type) -> None:
    for name, value in {**PROPERTIES, **METHODS}.items():
        if name not in vars(cls):
            setattr(cls, name, value)


# ---- top-level functions ---------------------------------------------------------------------


def typename(obj: Any) -> str:
    """PyTorch's type name of ``obj``: ``x.type()`` for a tensor (``"torch.FloatTensor"``),
    else ``module.QualifiedName`` (builtins without their module)."""
    if isinstance(obj, Tensor):
        return str(obj.type())
    module = getattr(obj, "__module__", "") or ""
    if hasattr(obj, "__qualname__"):
        qualname = obj.__qualname__
    elif hasattr(obj, "__name__"):
        qualname = obj.__name__
    else:
        module = type(obj).__module__ or ""
        qualname = type(obj).__qualname__
    if module in ("", "builtins"):
        return str(qualname)
    return f"{module}.{qualname}"


def set_default_tensor_type(t: Union[type, str]) -> None:
    """PyTorch's legacy default: a floating tensor type (``dm.DoubleTensor``,
    ``"torch.cuda.FloatTensor"``) sets the default dtype and device (CUDA for the
    ``torch.cuda`` types, else the CPU). Deprecated in PyTorch for
    ``set_default_dtype``/``set_default_device``, and warns as there."""
    from ._pytorch_compat import _NAME_TO_DTYPE

    name = t if isinstance(t, str) else getattr(t, "__module_name__", None)
    if not isinstance(name, str):
        raise ArgumentTypeError(f"invalid type: {t!r} (expected a tensor type or its name)")
    parts = name.split(".")
    dtype_name = _NAME_TO_DTYPE.get(parts[-1])
    if parts[0] != "torch" or dtype_name is None or len(parts) not in (2, 3):
        raise ArgumentTypeError(f"invalid type: {name!r}")
    cuda = len(parts) == 3
    if cuda and parts[1] != "cuda":
        raise ArgumentTypeError(f"invalid type: {name!r}")
    dtype = getattr(_core, dtype_name)
    if not dtype.is_floating_point:
        raise DTypeError("only floating-point types are supported as the default type")
    warnings.warn(
        "torch.set_default_tensor_type() is deprecated as of PyTorch 2.1, please use "
        "torch.set_default_dtype() and torch.set_default_device() as alternatives.",
        UserWarning,
        stacklevel=2,
    )
    if cuda and not _core._cuda_is_available():
        raise DeviceError("type torch.cuda." + parts[-1] + " not available: CUDA is not available")
    _core._set_default_dtype(dtype)
    _core.set_default_device("cuda" if cuda else "cpu")


def to_dlpack(tensor: Tensor) -> Any:
    """A DLPack capsule sharing ``tensor``'s memory (``torch.utils.dlpack.to_dlpack``), for
    libraries that take capsules; newer ones take the tensor itself (``__dlpack__``)."""
    if not isinstance(tensor, Tensor):
        raise ArgumentTypeError(f"to_dlpack(): expected a Tensor, got {type(tensor).__name__}")
    return tensor.__dlpack__()


def binomial(count: Tensor, prob: Tensor, generator: Any = None) -> Tensor:
    """One draw of Binomial(``count``, ``prob``) per element (broadcast), as
    ``torch.binomial``: both floating point, ``count >= 0``, ``prob`` in [0, 1]; the result
    has ``count``'s dtype. Draws come from the global generator (``dm.manual_seed``) or
    ``generator``; like PyTorch's, the sample carries no gradient."""
    from ._tensor_extra import _host, broadcast_tensors
    from ._tensor_more import _generator_scope
    from .distributions._common import _binomial

    for name, t in (("count", count), ("prob", prob)):
        if not isinstance(t, Tensor):
            raise ArgumentTypeError(
                f"binomial(): argument '{name}' must be Tensor, not {type(t).__name__}"
            )
        if not t.dtype.is_floating_point:
            raise DTypeError(
                f"binomial only supports floating-point dtypes for {name}, got: {t.dtype}"
            )
    if count.device != prob.device:
        raise DeviceError(
            f"binomial(): count and prob must be on one device, got {count.device} and "
            f"{prob.device}"
        )
    n, p = broadcast_tensors(count.detach(), prob.detach())
    hn, hp = _host(n), _host(p)
    if hn.size and not ((hn >= 0).all() and (hn == hn.round()).all()):
        raise InvalidValueError("binomial: count must hold non-negative whole numbers")
    if hp.size and not ((hp >= 0).all() and (hp <= 1).all()):
        raise InvalidValueError("binomial: prob must be in [0, 1]")
    with _generator_scope(generator, "binomial"):
        out = _binomial(n, p)
    return out.to(count.dtype)


def fill(input: Tensor, value: Any) -> Tensor:
    """A new tensor of ``input``'s shape, dtype and device holding ``value`` (a number or a
    0-d tensor), as ``torch.fill``; ``input`` itself is left as it is."""
    if not isinstance(input, Tensor):
        raise ArgumentTypeError(
            f"fill(): argument 'input' must be Tensor, not {type(input).__name__}"
        )
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ShapeError(
                "fill only supports 0-dimension value tensor but got tensor with "
                f"{value.ndim} dimensions."
            )
    out = _core.empty(tuple(input.shape), dtype=input.dtype, device=input.device)
    return out.fill_(value)


def get_device_module(device: Optional[Union[Device, str]] = None) -> types.ModuleType:
    """The module of a device type (``dm.cuda`` for ``"cuda"``/``"cuda:1"``, ``dm.cpu`` for
    ``"cpu"``); without one, the accelerator's (``dm.cuda`` when CUDA is available, else
    ``dm.cpu``)."""
    from . import cpu, cuda

    if device is None:
        return cuda if _core._cuda_is_available() else cpu
    kind = device.type if isinstance(device, Device) else str(device).split(":")[0]
    modules = {"cpu": cpu, "cuda": cuda}
    if kind not in modules:
        raise DeviceError(
            f"Device '{kind}' does not have a corresponding module registered as "
            f"'democratising.{kind}'."
        )
    return modules[kind]


install(Tensor)
