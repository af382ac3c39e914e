"""Type stubs for ``democratising._core``, the PyO3 extension module (rust/python/src/*.rs).

Keep in sync with the ``#[pymethods]`` / ``#[pyfunction]`` signatures; ``make lint`` runs
``mypy.stubtest`` against the built extension, which flags any drift.

The module defines dtype constants named ``bool`` (and ``Tensor`` has methods named ``bool``,
``int`` and ``float``), so the builtins are spelled ``_bool``, ``_int`` and ``_float`` here.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator, Sequence
from types import EllipsisType
from typing import (
    Any,
    ClassVar,
    Literal,
    Protocol,
    SupportsIndex,
    TypedDict,
    TypeVar,
    final,
    overload,
)

import numpy as np
import numpy.typing as npt
from typing_extensions import Self, TypeAlias, disjoint_base

from ._tensor import MaxResult
from ._tensor_compat_more import TypedStorage, UntypedStorage
from ._tensor_compat_more import layout as _layout
from ._tensor_extra import KthvalueResult, SortResult, TopkResult
from ._tensor_methods_torch import TriangularSolveResult
from ._tensor_more import CummaxResult, MedianResult
from .linalg._common import QRResult, SlogdetResult, TorchSVDResult
from .sparse._coo import SparseTensor

_TensorT = TypeVar("_TensorT", bound=Tensor)

#: The names the extension lists in its own ``__all__`` (PyO3 adds every class, constant and
#: function it registers); stubtest checks that the two agree.
__all__ = [
    "AccumulateGrad",
    "Device",
    "GradFn",
    "RemovableHandle",
    "Tensor",
    "_CudaEvent",
    "_SizeBase",
    "__engine_version__",
    "_adagrad_step",
    "_adam_step",
    "_adaptive_avg_pool2d",
    "_amp_unscale",
    "_assign",
    "_avg_pool2d",
    "_batch_norm",
    "_conv2d",
    "_conv_transpose2d",
    "_cross_entropy",
    "_cuda_add_search_paths",
    "_cuda_device_count",
    "_cuda_empty_cache",
    "_cuda_get_memory_info",
    "_cuda_is_available",
    "_cuda_kernel_table",
    "_cuda_load_all_kernels",
    "_cuda_max_memory_allocated",
    "_cuda_max_memory_reserved",
    "_cuda_memory_allocated",
    "_cuda_memory_reserved",
    "_cuda_record_event",
    "_cuda_reset_peak_memory_stats",
    "_cuda_stream_handle",
    "_cuda_synchronize",
    "_cuda_unavailable_reason",
    "_default_dtype",
    "_dropout",
    "_fill_shared",
    "_from_dlpack",
    "_get_autocast",
    "_grad_mode_flag",
    "_group_norm",
    "_is_inference_mode",
    "_layer_norm",
    "_linear",
    "_max_pool2d",
    "_optim_rule_step",
    "_pop_saved_tensors_hooks",
    "_push_saved_tensors_hooks",
    "_queue_callback",
    "_rebase_history",
    "_record_function",
    "_register_helpers",
    "_rmsprop_step",
    "_rnn_sequence",
    "_scaled_dot_product_attention",
    "_scan",
    "_seed_thread",
    "_set_anomaly_nan_check",
    "_set_autocast",
    "_set_default_dtype",
    "_set_grad_enabled",
    "_set_inference_mode",
    "_sgd_step",
    "_swap_thread_rng",
    "_system_info",
    "_unary",
    "_unary_names",
    "arange",
    "autograd_grad",
    "bfloat16",
    "bool",
    "cat",
    "dtype",
    "empty",
    "eye",
    "float16",
    "float32",
    "float64",
    "from_numpy",
    "full",
    "get_default_device",
    "get_num_threads",
    "get_rng_state",
    "int8",
    "int16",
    "int32",
    "int64",
    "is_grad_enabled",
    "linspace",
    "manual_seed",
    "ones",
    "rand",
    "randint",
    "randn",
    "randperm",
    "set_default_device",
    "set_num_threads",
    "set_rng_state",
    "stack",
    "uint8",
    "where",
    "zeros",
]

_bool: TypeAlias = builtins.bool
_int: TypeAlias = builtins.int
_float: TypeAlias = builtins.float
#: ``Tensor.dtype`` (a property) shadows the class inside ``Tensor``'s body.
_dtype: TypeAlias = dtype
_Shape: TypeAlias = _int | Sequence[_int]

#: A Python number (``bool`` is an ``int`` subtype, listed for clarity).
_Scalar: TypeAlias = _bool | _int | _float
#: A single value: a number, a NumPy scalar or a one-element tensor (``fill_``, ``masked_fill``).
_Value: TypeAlias = _Scalar | np.generic | Tensor
#: What binary ops accept for ``other``: a tensor, or a number / NumPy scalar / array / nested
#: list or tuple that is promoted to one (``democratising._tensor._as_operand``).
_Operand: TypeAlias = _Value | npt.NDArray[Any] | list[Any] | tuple[Any, ...]
#: ``dm.float32``, ``"float32"``, a NumPy dtype or scalar type, or Python's ``float``, ``int``
#: or ``bool``.
_DTypeLike: TypeAlias = (
    dtype | str | type[_float] | type[_int] | type[_bool] | np.dtype[Any] | type[np.generic]
)
#: ``Device(...)``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, or a CUDA device index.
_DeviceLike: TypeAlias = Device | str | _int
#: A shape given as one argument: a tuple or list of ints, or an integer tensor.
_ShapeArg: TypeAlias = tuple[_int, ...] | list[_int] | Tensor
#: A ``dim`` argument that may name several dimensions.
_Dims: TypeAlias = _int | Sequence[_int]
#: One element of an index key: ints, slices (positive steps), ``None``, ``...``, bools,
#: integer/bool tensors, lists and arrays (advanced indexing).
_IndexItem: TypeAlias = (
    SupportsIndex | slice | EllipsisType | Tensor | list[Any] | npt.NDArray[Any] | None
)
_Index: TypeAlias = _IndexItem | tuple[_IndexItem, ...]

__engine_version__: str

class _SizeBase(tuple[int, ...]):
    """The tuple subclass ``democratising.Size`` derives from: slicing, joining with a tuple
    and repeating give the subclass again (C-level slots)."""

    @overload
    def __getitem__(self, key: SupportsIndex, /) -> int: ...
    @overload
    def __getitem__(self, key: slice, /) -> Self: ...
    def __add__(self, other: tuple[int, ...], /) -> Self: ...  # type: ignore[override]
    def __radd__(self, other: tuple[int, ...], /) -> Self: ...
    def __mul__(self, n: SupportsIndex, /) -> Self: ...
    def __rmul__(self, n: SupportsIndex, /) -> Self: ...

@final
class dtype:  # noqa: N801 - PyTorch's name
    """A tensor element type (``dm.float32``, ...)."""

    @property
    def name(self) -> str:
        """The dtype's name: ``"float32"``, ``"int64"``, ``"bool"``, ..."""
    @property
    def is_floating_point(self) -> _bool:
        """True for float32, float64, float16 and bfloat16."""
    @property
    def is_signed(self) -> _bool:
        """True for every dtype but ``bool``."""
    @property
    def is_complex(self) -> _bool:
        """Always False: there are no complex dtypes."""
    @property
    def itemsize(self) -> _int:
        """Bytes per element."""
    def __eq__(self, other: object, /) -> _bool: ...
    def __ne__(self, other: object, /) -> _bool: ...
    def __hash__(self) -> _int: ...
    def __reduce__(self) -> tuple[Callable[[str], dtype], tuple[str]]: ...

float32: dtype
float64: dtype
float16: dtype
bfloat16: dtype
int64: dtype
int32: dtype
int16: dtype
int8: dtype
uint8: dtype
bool: dtype

@final
class Device:
    """A device: ``Device("cpu")``, ``Device("cuda", 1)``, ``Device.cpu()``, ``Device.cuda(0)``."""

    def __new__(cls, spec: _DeviceLike, index: _int | None = None) -> Self: ...
    @staticmethod
    def cpu() -> Device:
        """The CPU device."""
    @staticmethod
    def cuda(index: _int = 0) -> Device:
        """The CUDA device ``index``."""
    @staticmethod
    def cuda_all() -> list[Device]:
        """Every CUDA device; raises ``DeviceError`` when there is none."""
    @property
    def type(self) -> str:
        """``"cpu"`` or ``"cuda"``."""
    @property
    def index(self) -> _int | None:
        """The CUDA device index; None for the CPU."""
    def __eq__(self, other: object, /) -> _bool: ...
    def __ne__(self, other: object, /) -> _bool: ...
    def __hash__(self) -> _int: ...
    def __reduce__(self) -> tuple[builtins.type[Device], tuple[str]]: ...
    def __enter__(self) -> Self:
        """``with dm.Device("cuda"):`` makes the device the factories' default in the block."""
    def __exit__(self, ty: object, value: object, tb: object) -> _bool: ...

@final
class GradFn:
    """The node that produced a tensor (``t.grad_fn``), for inspecting the graph."""

    def name(self) -> str:
        """The backward node's name, e.g. ``"MulBackward"``."""
    @property
    def next_functions(self) -> tuple[tuple[GradFn | AccumulateGrad | None, _int], ...]:
        """One ``(function, 0)`` pair per input: its node, an ``AccumulateGrad`` for a leaf
        that requires grad, or None (as PyTorch's)."""
    def register_prehook(
        self, hook: Callable[[tuple[Tensor, ...]], tuple[Tensor | None, ...] | None]
    ) -> RemovableHandle:
        """``hook(grad_outputs)`` before this node's backward; may return replacements."""
    def register_hook(
        self,
        hook: Callable[
            [tuple[Tensor | None, ...], tuple[Tensor, ...]], tuple[Tensor | None, ...] | None
        ],
    ) -> RemovableHandle:
        """``hook(grad_inputs, grad_outputs)`` after this node's backward; may return
        replacement input gradients."""
    @property
    def metadata(self) -> dict[Any, Any]:
        """A dict kept with the node (PyTorch's ``Node.metadata``)."""

@final
class AccumulateGrad:
    """Where a leaf's gradient ends up (``.grad``); ``variable`` is the leaf."""

    def name(self) -> str: ...
    @property
    def variable(self) -> Tensor: ...
    @property
    def next_functions(self) -> tuple[()]: ...
    # Added by ``democratising._accumulate_grad``.
    def register_hook(self, hook: Callable[[tuple[()], tuple[Tensor, ...]], Any]) -> Any: ...
    def register_prehook(
        self, hook: Callable[[tuple[Tensor, ...]], tuple[Tensor, ...] | None]
    ) -> Any: ...
    @property
    def metadata(self) -> dict[Any, Any]: ...

@final
class RemovableHandle:
    """Returned by ``register_hook``: ``handle.remove()`` unregisters the hook."""

    def remove(self) -> None:
        """Unregisters the hook (a no-op if it is already removed)."""
    def __enter__(self) -> Self: ...
    def __exit__(self, ty: Any, value: Any, tb: Any, /) -> _bool: ...
    def __copy__(self) -> RemovableHandle: ...
    def __deepcopy__(self, _memo: Any, /) -> RemovableHandle: ...

@disjoint_base
class Tensor:
    """A multi-dimensional array with autograd."""

    __array_priority__: ClassVar[_float]
    def __new__(cls, *args: Any) -> Self:
        """PyTorch's legacy constructor: ``Tensor(2, 3)`` zeros of that size, ``Tensor(data)``
        the data in the default float dtype, ``Tensor(tensor)`` a detached alias."""

    # ---- attributes --------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[_int, ...]:
        """The size of each dimension."""
    @property
    def ndim(self) -> _int:
        """The number of dimensions."""
    @property
    def dtype(self) -> _dtype:
        """The element type."""
    @property
    def device(self) -> Device:
        """The device holding the data."""
    @property
    def is_cuda(self) -> _bool:
        """True if the tensor lives on a CUDA device."""
    @property
    def requires_grad(self) -> _bool:
        """Whether autograd records operations on this tensor."""
    @requires_grad.setter
    def requires_grad(self, flag: _bool) -> None: ...
    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient (leaves and tensors that called ``retain_grad``)."""
    @grad.setter
    def grad(self, g: Tensor | None) -> None: ...
    @property
    def _version(self) -> _int:
        """The in-place version counter shared by a storage's views (PyTorch's ``_version``)."""
    @property
    def is_leaf(self) -> _bool:
        """True for tensors not produced by a recorded operation."""
    @property
    def grad_fn(self) -> GradFn | None:
        """The node that produced this tensor, or None for leaves."""
    @property
    def data(self) -> Tensor:
        """The same data, detached from the graph."""
    @data.setter
    def data(self, value: Tensor) -> None: ...
    @property
    def T(self) -> Tensor:  # noqa: N802 - PyTorch's name
        """All dimensions reversed."""
    @property
    def mT(self) -> Tensor:  # noqa: N802 - PyTorch's name
        """The last two dimensions swapped."""
    @property
    def __array_interface__(self) -> dict[str, Any]:
        """NumPy's array interface: ``numpy.asarray(t)`` views this tensor's memory (CPU only)."""
    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        """The CUDA Array Interface (v3) of a CUDA tensor, for CuPy, Numba and CUDA-aware MPI."""
    def dim(self) -> _int:
        """The number of dimensions."""
    def requires_grad_(self, requires_grad: _bool = True) -> Self:
        """Sets ``requires_grad`` in place and returns self."""
    def numel(self) -> _int:
        """The number of elements."""
    def nelement(self) -> _int:
        """The number of elements."""
    def element_size(self) -> _int:
        """Bytes per element."""
    @overload
    def size(self, dim: None = None) -> tuple[_int, ...]:
        """The shape, or the size of dimension ``dim``."""
    @overload
    def size(self, dim: _int) -> _int: ...
    @overload
    def stride(self, dim: None = None) -> tuple[_int, ...]:
        """The strides in elements, or the stride of dimension ``dim``."""
    @overload
    def stride(self, dim: _int) -> _int: ...
    def is_contiguous(self, memory_format: Any = None) -> _bool:
        """True if the elements are laid out densely in row-major order (or in
        ``memory_format``'s order, e.g. ``dm.channels_last``)."""
    def is_floating_point(self) -> _bool:
        """True if the dtype is a floating-point type."""
    def storage_offset(self) -> _int:
        """Where this view starts in its storage, in elements."""
    def data_ptr(self) -> _int:
        """The address of the first element."""

    # ---- Python protocols --------------------------------------------------------------------
    def __len__(self) -> _int: ...
    def __hash__(self) -> _int: ...
    def __repr__(self) -> str: ...
    def __float__(self) -> _float: ...
    def __int__(self) -> _int: ...
    def __index__(self) -> _int: ...
    def __contains__(self, element: Any) -> _bool:
        """Whether any entry equals ``element`` (a number or a tensor)."""
    def __reversed__(self) -> Tensor:
        """``flip(0)``."""
    def __array_wrap__(self, array: Any, context: Any = None, return_scalar: _bool = False) -> Any:
        """A NumPy ufunc's result on a tensor, as a tensor."""
    def __array__(self, dtype: Any = None, copy: _bool | None = None) -> Any:
        """The values as a NumPy array (the array-like protocol scikit-learn checks for)."""
    def __bool__(self) -> _bool: ...
    def __iter__(self) -> Iterator[Tensor]: ...
    def __getitem__(self, key: _Index, /) -> Tensor: ...
    def __setitem__(self, key: _Index, value: _Operand, /) -> None: ...
    def __dlpack__(
        self,
        *,
        stream: Any = None,
        max_version: tuple[_int, _int] | None = None,
        dl_device: tuple[_int, _int] | None = None,
        copy: _bool | None = None,
    ) -> Any:
        """A DLPack capsule sharing this tensor's memory (any dtype, CPU or CUDA; a CUDA
        tensor's queued work is finished first). ``copy=True`` exports a copy."""
    def __dlpack_device__(self) -> tuple[_int, _int]:
        """``(device_type, device_id)``: ``(1, 0)`` for the CPU, ``(2, i)`` for CUDA device i."""

    # ---- conversion --------------------------------------------------------------------------
    def item(self) -> _int | _float | _bool:
        """The value of a one-element tensor as a Python number."""
    def numpy(self, *, force: _bool = False) -> npt.NDArray[Any]:
        """A NumPy array sharing this tensor's memory (not for tensors that require grad,
        unless ``force``, which detaches and copies to the host first)."""
    def tolist(self) -> Any:
        """The data as (nested) Python lists, or a number for a 0-d tensor."""
    def to(
        self,
        *args: Tensor | _DTypeLike | _DeviceLike,
        dtype: _DTypeLike | None = None,
        device: _DeviceLike | None = None,
        copy: _bool = False,
        non_blocking: _bool = False,
        memory_format: Any = None,
    ) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)`` or keywords."""
    def float(self) -> Tensor:
        """Converted to float32."""
    def double(self) -> Tensor:
        """Converted to float64."""
    def half(self) -> Tensor:
        """Converted to float16."""
    def bfloat16(self) -> Tensor:
        """Converted to bfloat16."""
    def long(self) -> Tensor:
        """Converted to int64."""
    def int(self) -> Tensor:
        """Converted to int32."""
    def short(self) -> Tensor:
        """Converted to int16."""
    def char(self) -> Tensor:
        """Converted to int8."""
    def byte(self) -> Tensor:
        """Converted to uint8."""
    def bool(self) -> Tensor:
        """Converted to bool."""
    def type_as(self, other: Tensor) -> Tensor:
        """Converted to ``other``'s dtype and moved to its device."""
    def cpu(self, memory_format: Any = None) -> Tensor:
        """This tensor on the CPU."""
    def cuda(
        self,
        device: _DeviceLike | None = None,
        non_blocking: _bool = False,
        memory_format: Any = None,
    ) -> Tensor:
        """This tensor on a CUDA device (raises ``DeviceError`` where CUDA is unavailable)."""
    def pin_memory(self) -> Tensor:
        """A copy in page-locked host memory (itself when already pinned, or when there is no
        CUDA device to pin for)."""
    def is_pinned(self) -> _bool:
        """Whether the memory is page-locked (made by ``pin_memory``)."""

    # ---- autograd ----------------------------------------------------------------------------
    def backward(
        self,
        gradient: Tensor | None = None,
        retain_graph: _bool | None = None,
        create_graph: _bool = False,
        inputs: Tensor | Sequence[Tensor] | None = None,
    ) -> None:
        """Accumulates the gradient of this tensor into the leaves' ``.grad`` (with
        ``inputs``, into those tensors' ``.grad`` only)."""
    def detach(self) -> Tensor:
        """The same data, detached from the graph."""
    def detach_(self) -> Self:
        """Detaches in place: a leaf over the same data with ``requires_grad=False``. A view
        raises ``AutogradError`` (use ``detach()``), as in PyTorch."""
    def _is_view(self) -> _bool:
        """True for a view of another tensor's storage."""
    @property
    def _base(self) -> Tensor | None:
        """The tensor this one is a view of; None where it owns its memory."""
    def clone(self, *, memory_format: Any = None) -> Tensor:
        """A copy with its own memory (differentiable); channels-last tensors stay so."""
    def __deepcopy__(self, memo: Any) -> Self: ...
    def __copy__(self) -> Self: ...
    def as_subclass(self, cls: builtins.type[_TensorT]) -> _TensorT:
        """This tensor as an object of ``cls``, sharing its data and its autograd graph."""
    @property
    def retains_grad(self) -> _bool:
        """Whether ``retain_grad()`` was called on this non-leaf tensor."""
    def retain_grad(self) -> None:
        """Keeps ``.grad`` for this non-leaf tensor during backward."""
    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """Calls ``hook(grad)`` during backward; a returned tensor replaces the gradient."""
    def register_post_accumulate_grad_hook(
        self, hook: Callable[[Tensor], object]
    ) -> RemovableHandle:
        """Calls ``hook(tensor)`` once this leaf's ``.grad`` is final for the backward pass."""

    # ---- elementwise -------------------------------------------------------------------------
    def neg(self) -> Tensor: ...
    def abs(self) -> Tensor: ...
    def exp(self) -> Tensor: ...
    def log(self) -> Tensor: ...
    def log2(self) -> Tensor: ...
    def log1p(self) -> Tensor: ...
    def expm1(self) -> Tensor: ...
    def sqrt(self) -> Tensor: ...
    def rsqrt(self) -> Tensor: ...
    def square(self) -> Tensor: ...
    def reciprocal(self) -> Tensor: ...
    def sin(self) -> Tensor: ...
    def cos(self) -> Tensor: ...
    def tanh(self) -> Tensor: ...
    def sigmoid(self) -> Tensor: ...
    def relu(self) -> Tensor: ...
    def silu(self) -> Tensor: ...
    def erf(self) -> Tensor: ...
    def erfinv(self) -> Tensor:
        """The inverse error function, elementwise (defined on ``(-1, 1)``)."""
    def hardsigmoid(self) -> Tensor:
        """``relu6(x + 3) / 6``, elementwise (``nn.functional.hardsigmoid``)."""
    def hardswish(self) -> Tensor:
        """``x * relu6(x + 3) / 6``, elementwise (``nn.functional.hardswish``)."""
    def tan(self) -> Tensor: ...
    def asin(self) -> Tensor: ...
    def acos(self) -> Tensor: ...
    def atan(self) -> Tensor: ...
    def asinh(self) -> Tensor: ...
    def acosh(self) -> Tensor: ...
    def atanh(self) -> Tensor: ...
    def erfc(self) -> Tensor:
        """``1 - erf(x)``, precise where ``erf`` rounds to 1."""
    def exp2(self) -> Tensor: ...
    def lgamma(self) -> Tensor:
        """``ln |Gamma(x)|``, elementwise."""
    def digamma(self) -> Tensor:
        """``d/dx ln Gamma(x)``, elementwise."""
    def polygamma(self, n: _int) -> Tensor:
        """The ``n``-th derivative of digamma (``n = 0`` is digamma)."""
    def sign(self) -> Tensor: ...
    def floor(self) -> Tensor: ...
    def ceil(self) -> Tensor: ...
    def round(self, *, decimals: _int = 0) -> Tensor:
        """Rounds half to even; with ``decimals``, to that many decimal places."""
    def trunc(self) -> Tensor: ...
    def logical_not(self) -> Tensor: ...
    @overload
    def nonzero(self, *, as_tuple: Literal[False] = False) -> Tensor:
        """The indices of the non-zero elements, shape ``(n, ndim)``; with ``as_tuple=True``
        one index tensor per dim."""
    @overload
    def nonzero(self, *, as_tuple: Literal[True]) -> tuple[Tensor, ...]: ...
    def add(self, other: _Operand, alpha: _float = 1.0) -> Tensor:
        """``self + alpha * other``."""
    def sub(self, other: _Operand, alpha: _float = 1.0) -> Tensor:
        """``self - alpha * other``."""
    def mul(self, other: _Operand) -> Tensor: ...
    def div(
        self, other: _Operand, *, rounding_mode: Literal["floor", "trunc"] | None = None
    ) -> Tensor: ...
    def true_divide(self, other: _Operand) -> Tensor: ...
    def maximum(self, other: _Operand) -> Tensor: ...
    def minimum(self, other: _Operand) -> Tensor: ...
    def remainder(self, other: _Operand) -> Tensor: ...
    def floor_divide(self, other: _Operand) -> Tensor: ...
    def matmul(self, other: _Operand) -> Tensor: ...
    def pow(self, exponent: _Operand) -> Tensor: ...
    def eq(self, other: _Operand) -> Tensor: ...
    def ne(self, other: _Operand) -> Tensor: ...
    def lt(self, other: _Operand) -> Tensor: ...
    def le(self, other: _Operand) -> Tensor: ...
    def gt(self, other: _Operand) -> Tensor: ...
    def ge(self, other: _Operand) -> Tensor: ...
    def logical_and(self, other: _Operand) -> Tensor: ...
    def logical_or(self, other: _Operand) -> Tensor: ...
    def logical_xor(self, other: _Operand) -> Tensor: ...
    def clamp(
        self, min: _float | Tensor | None = None, max: _float | Tensor | None = None
    ) -> Tensor:
        """Elementwise clamp into ``[min, max]`` (either bound may be None)."""
    clip = clamp
    """Alias of ``clamp``."""
    def gelu(self, approximate: Literal["none", "tanh"] = "none") -> Tensor:
        """GELU, exact (erf) or with the tanh approximation."""
    def leaky_relu(self, negative_slope: _float = 0.01) -> Tensor:
        """``x`` where positive, ``negative_slope * x`` elsewhere."""
    def elu(self, alpha: _float = 1.0) -> Tensor:
        """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere."""
    def softplus(self, beta: _float = 1.0, threshold: _float = 20.0) -> Tensor:
        """``log(1 + exp(beta * x)) / beta``, linear above ``threshold``."""

    # ---- operators ---------------------------------------------------------------------------
    def __add__(self, other: _Operand, /) -> Tensor: ...
    def __radd__(self, other: _Operand, /) -> Tensor: ...
    def __sub__(self, other: _Operand, /) -> Tensor: ...
    def __rsub__(self, other: _Operand, /) -> Tensor: ...
    def __mul__(self, other: _Operand, /) -> Tensor: ...
    def __rmul__(self, other: _Operand, /) -> Tensor: ...
    def __truediv__(self, other: _Operand, /) -> Tensor: ...
    def __rtruediv__(self, other: _Operand, /) -> Tensor: ...
    def __floordiv__(self, other: _Operand, /) -> Tensor: ...
    def __rfloordiv__(self, other: _Operand, /) -> Tensor: ...
    def __mod__(self, other: _Operand, /) -> Tensor: ...
    def __rmod__(self, other: _Operand, /) -> Tensor: ...
    def __matmul__(self, other: _Operand, /) -> Tensor: ...
    def __rmatmul__(self, other: _Operand, /) -> Tensor: ...
    def __pow__(self, other: _Operand, modulo: None = None, /) -> Tensor: ...
    def __rpow__(self, other: _Operand, modulo: None = None, /) -> Tensor: ...
    def __and__(self, other: _Operand, /) -> Tensor:
        """Logical AND of bool operands, bitwise AND of integer ones (PyTorch)."""
    def __or__(self, other: _Operand, /) -> Tensor: ...
    def __xor__(self, other: _Operand, /) -> Tensor: ...
    def __rand__(self, other: _Operand, /) -> Tensor: ...
    def __ror__(self, other: _Operand, /) -> Tensor: ...
    def __rxor__(self, other: _Operand, /) -> Tensor: ...
    def __neg__(self) -> Tensor: ...
    def __pos__(self) -> Tensor: ...
    def __abs__(self) -> Tensor: ...
    def __invert__(self) -> Tensor:
        """Logical NOT of a bool tensor, bitwise NOT of an integer one (floats raise)."""
    def __eq__(self, other: _Operand | None, /) -> Tensor: ...  # type: ignore[override]
    def __ne__(self, other: _Operand | None, /) -> Tensor: ...  # type: ignore[override]
    def __format__(self, spec: str, /) -> str: ...
    # ---- written in Python over the engine's ops (democratising._tensor_extra) ----
    def isnan(self) -> Tensor: ...
    def isinf(self) -> Tensor: ...
    def isfinite(self) -> Tensor: ...
    def equal(self, other: Tensor) -> _bool: ...
    def isclose(
        self, other: Tensor, rtol: _float = 1e-05, atol: _float = 1e-08, equal_nan: _bool = False
    ) -> Tensor: ...
    def allclose(
        self, other: Tensor, rtol: _float = 1e-05, atol: _float = 1e-08, equal_nan: _bool = False
    ) -> _bool: ...
    def sort(
        self, dim: _int = -1, descending: _bool = False, stable: _bool = False
    ) -> SortResult: ...
    def argsort(
        self, dim: _int = -1, descending: _bool = False, stable: _bool = False
    ) -> Tensor: ...
    def topk(
        self, k: _int, dim: _int = -1, largest: _bool = True, sorted: _bool = True
    ) -> TopkResult: ...
    def kthvalue(self, k: _int, dim: _int = -1, keepdim: _bool = False) -> KthvalueResult: ...
    def norm(
        self,
        p: _float | str | None = "fro",
        dim: _Shape | None = None,
        keepdim: _bool = False,
        dtype: _dtype | None = None,
    ) -> Tensor: ...
    def prod(
        self, dim: _int | None = None, keepdim: _bool = False, dtype: _dtype | None = None
    ) -> Tensor: ...
    def cumsum(self, dim: _int, dtype: _dtype | None = None) -> Tensor: ...
    def diff(
        self,
        n: _int = 1,
        dim: _int = -1,
        prepend: Tensor | None = None,
        append: Tensor | None = None,
    ) -> Tensor: ...
    def trace(self) -> Tensor: ...
    # Linear algebra (democratising.linalg._aliases), torch's method spellings.
    def det(self) -> Tensor: ...
    def logdet(self) -> Tensor: ...
    def slogdet(self) -> SlogdetResult: ...
    def inverse(self) -> Tensor: ...
    def cholesky(self, upper: _bool = False) -> Tensor: ...
    def qr(self, some: _bool = True) -> QRResult: ...
    def svd(self, some: _bool = True, compute_uv: _bool = True) -> TorchSVDResult: ...
    def pinverse(self, rcond: _float = 1e-15) -> Tensor: ...
    def matrix_power(self, n: _int) -> Tensor: ...
    def cross(self, other: Tensor, dim: _int | None = None) -> Tensor: ...
    def diagonal(self, offset: _int = 0, dim1: _int = 0, dim2: _int = 1) -> Tensor: ...
    def flip(self, *dims_: _int | Sequence[_int], dims: _Shape | None = None) -> Tensor: ...
    def fliplr(self) -> Tensor: ...
    def flipud(self) -> Tensor: ...
    def roll(self, shifts: _Shape, dims: _Shape | None = None) -> Tensor: ...
    def repeat(self, *sizes: Any, repeats: _Shape | None = None) -> Tensor: ...
    def tile(self, *dims_: _int | Sequence[_int], dims: _Shape | None = None) -> Tensor: ...
    def repeat_interleave(
        self,
        repeats: _int | Tensor | None = None,
        dim: _int | None = None,
        *,
        output_size: _int | None = None,
    ) -> Tensor: ...
    def broadcast_to(self, *sizes: Any, size: Sequence[_int] | None = None) -> Tensor: ...
    def triu(self, diagonal: _int = 0) -> Tensor: ...
    def tril(self, diagonal: _int = 0) -> Tensor: ...
    def diag(self, diagonal: _int = 0) -> Tensor: ...
    def outer(self, vec2: Tensor) -> Tensor: ...
    def masked_select(self, mask: Tensor) -> Tensor: ...
    def log10(self) -> Tensor: ...
    def frac(self) -> Tensor: ...
    def lerp(self, end: Tensor, weight: _float | Tensor) -> Tensor: ...
    def bmm(self, mat2: Tensor) -> Tensor: ...
    def mv(self, vec: Tensor) -> Tensor: ...
    def addmm(self, mat1: Tensor, mat2: Tensor, beta: _float = 1, alpha: _float = 1) -> Tensor: ...
    def new_zeros(
        self,
        *sizes: _int | Sequence[_int],
        size: _int | Sequence[_int] | None = None,
        dtype: _dtype | None = None,
        device: _DeviceLike | None = None,
        requires_grad: _bool = False,
    ) -> Tensor: ...
    new_ones = new_zeros
    new_empty = new_zeros
    def new_full(
        self,
        size: Sequence[_int],
        fill_value: _float,
        dtype: _dtype | None = None,
        device: _DeviceLike | None = None,
        requires_grad: _bool = False,
    ) -> Tensor: ...
    def new(self, *args: Any, device: _DeviceLike | None = None) -> Tensor:
        """PyTorch's legacy constructor with this tensor's dtype and device."""
    def new_tensor(
        self,
        data: Any,
        dtype: _dtype | None = None,
        device: _DeviceLike | None = None,
        requires_grad: _bool = False,
    ) -> Tensor: ...
    def exp_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def log_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def log1p_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def expm1_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def exp2_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def tan_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def asin_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def acos_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def atan_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def asinh_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def acosh_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def atanh_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def erf_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def erfc_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def erfinv_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def lgamma_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def digamma_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def sqrt_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def rsqrt_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def abs_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def neg_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def sigmoid_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def tanh_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def sin_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def cos_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def floor_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def ceil_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def round_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def trunc_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def reciprocal_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def square_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def sign_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def pow_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def masked_fill_(self, mask: Tensor, value: Any) -> Tensor: ...
    def clip_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def maximum_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def minimum_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def remainder_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def gelu_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def silu_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    # ---- more of them (democratising._tensor_more) ----
    @property
    def nbytes(self) -> _int:
        """The bytes the elements take: ``numel() * element_size()``."""
    @property
    def itemsize(self) -> _int:
        """Bytes per element (``element_size()``)."""
    def addcmul(self, tensor1: Tensor, tensor2: Tensor, *, value: _Scalar = 1) -> Tensor:
        """``self + value * tensor1 * tensor2`` (broadcasting)."""
    def addcmul_(self, tensor1: Tensor, tensor2: Tensor, *, value: _Scalar = 1) -> Self: ...
    def addcdiv(self, tensor1: Tensor, tensor2: Tensor, *, value: _Scalar = 1) -> Tensor:
        """``self + value * tensor1 / tensor2`` (broadcasting)."""
    def addcdiv_(self, tensor1: Tensor, tensor2: Tensor, *, value: _Scalar = 1) -> Self: ...
    def lerp_(self, end: Tensor, weight: _float | Tensor) -> Self: ...
    def clamp_min(self, min: _Scalar | Tensor) -> Tensor: ...
    def clamp_min_(self, min: _Scalar | Tensor) -> Self: ...
    def clamp_max(self, max: _Scalar | Tensor) -> Tensor: ...
    def clamp_max_(self, max: _Scalar | Tensor) -> Self: ...
    def sgn(self) -> Tensor: ...
    def fmod(self, other: _Scalar | Tensor) -> Tensor:
        """Remainder with the sign of ``self`` (C's ``fmod``)."""
    def sinh(self) -> Tensor: ...
    def cosh(self) -> Tensor: ...
    def mish(self) -> Tensor: ...
    def logaddexp(self, other: Tensor | _Scalar) -> Tensor:
        """``log(exp(self) + exp(other))``, computed stably."""
    def nan_to_num(
        self, nan: _float = 0.0, posinf: _float | None = None, neginf: _float | None = None
    ) -> Tensor:
        """NaN and infinities replaced by finite values (the dtype's extremes by default)."""
    def nan_to_num_(
        self, nan: _float = 0.0, posinf: _float | None = None, neginf: _float | None = None
    ) -> Self: ...
    def dist(self, other: Tensor, p: _float = 2) -> Tensor:
        """The ``p``-norm of ``self - other``."""
    def atan2(self, other: Tensor) -> Tensor:
        """The angle of the point ``(other, self)``, in ``[-pi, pi]`` (all quadrants)."""
    def atan2_(self, other: Tensor) -> Self: ...
    def arctan2(self, other: Tensor) -> Tensor: ...
    def nansum(
        self,
        dim: _Dims | None = None,
        keepdim: _bool = False,
        *,
        dtype: _DTypeLike | None = None,
    ) -> Tensor:
        """``sum`` with NaN counted as zero."""
    nanmean = nansum
    """The mean of the non-NaN elements."""
    def count_nonzero(self, dim: _Dims | None = None, *dims: _int) -> Tensor: ...
    @overload
    def median(self, dim: None = None, keepdim: _bool = False) -> Tensor:
        """``median()``: the lower median of all elements; ``median(dim)``: ``(values,
        indices)`` along ``dim``."""
    @overload
    def median(self, dim: _int, keepdim: _bool = False) -> MedianResult: ...
    def cumprod(self, dim: _int, *, dtype: _DTypeLike | None = None) -> Tensor: ...
    def logcumsumexp(self, dim: _int) -> Tensor: ...
    def cummax(self, dim: _int) -> CummaxResult: ...
    def cummin(self, dim: _int) -> CummaxResult: ...
    def index_fill(self, dim: _int, index: Tensor, value: _Scalar | Tensor) -> Tensor: ...
    def index_fill_(self, dim: _int, index: Tensor, value: _Scalar | Tensor) -> Self: ...
    def index_add(
        self, dim: _int, index: Tensor, source: Tensor, *, alpha: _Scalar = 1
    ) -> Tensor: ...
    def index_add_(
        self, dim: _int, index: Tensor, source: Tensor, *, alpha: _Scalar = 1
    ) -> Self: ...
    def index_copy(self, dim: _int, index: Tensor, source: Tensor) -> Tensor: ...
    def index_copy_(self, dim: _int, index: Tensor, source: Tensor) -> Self: ...
    def scatter(
        self,
        dim: _int,
        index: Tensor,
        src: Tensor | _Scalar | None = None,
        value: _Scalar | None = None,
        *,
        reduce: Literal["add", "multiply"] | None = None,
    ) -> Tensor:
        """A copy with ``src`` (or ``value``) written at ``index`` along ``dim``."""
    def scatter_(
        self,
        dim: _int,
        index: Tensor,
        src: Tensor | _Scalar | None = None,
        value: _Scalar | None = None,
        *,
        reduce: Literal["add", "multiply"] | None = None,
    ) -> Self: ...
    def scatter_add_(self, dim: _int, index: Tensor, src: Tensor) -> Self: ...
    def take_along_dim(self, indices: Tensor, dim: _int | None = None) -> Tensor: ...
    def fill_diagonal_(self, fill_value: _Scalar | Tensor, wrap: _bool = False) -> Self: ...
    def tril_(self, diagonal: _int = 0) -> Self: ...
    def triu_(self, diagonal: _int = 0) -> Self: ...
    def ravel(self) -> Tensor: ...
    def sum_to_size(self, *size: _int | Sequence[_int], **kwargs: Any) -> Tensor:
        """Summed down to ``size``, which must broadcast to this tensor's shape."""
    def tensor_split(
        self,
        indices_or_sections: _int | Sequence[_int] | Tensor | None = None,
        dim: _int = 0,
        *,
        sections: _int | None = None,
        indices: Sequence[_int] | None = None,
        tensor_indices_or_sections: Tensor | None = None,
    ) -> tuple[Tensor, ...]: ...
    def movedim(self, source: _Dims, destination: _Dims) -> Tensor: ...
    def moveaxis(self, source: _Dims, destination: _Dims) -> Tensor: ...
    def unflatten(self, dim: _int, sizes: Sequence[_int]) -> Tensor: ...
    def bernoulli_(self, p: _float | Tensor = 0.5, *, generator: Any = None) -> Self: ...
    def exponential_(self, lambd: _float = 1.0, *, generator: Any = None) -> Self: ...
    # PyTorch compatibility (installed by _pytorch_compat at import).
    def is_complex(self) -> _bool: ...
    @property
    def is_meta(self) -> _bool: ...
    @property
    def is_mps(self) -> _bool: ...
    @property
    def is_quantized(self) -> _bool: ...
    @property
    def is_sparse(self) -> _bool: ...
    @property
    def is_xpu(self) -> _bool: ...
    # Installed by _tensor_compat_more at import.
    @property
    def layout(self) -> _layout: ...
    @property
    def is_nested(self) -> _bool: ...
    @property
    def is_xla(self) -> _bool: ...
    @property
    def is_mkldnn(self) -> _bool: ...
    @property
    def is_sparse_csr(self) -> _bool: ...
    @property
    def is_ipu(self) -> _bool: ...
    @property
    def is_vulkan(self) -> _bool: ...
    @property
    def is_mtia(self) -> _bool: ...
    @property
    def is_maia(self) -> _bool: ...
    def untyped_storage(self) -> UntypedStorage: ...
    def storage(self) -> TypedStorage: ...
    def multinomial(
        self, num_samples: _int, replacement: _bool = False, *, generator: Any = None
    ) -> Tensor: ...
    def unique(
        self,
        sorted: _bool = True,
        return_inverse: _bool = False,
        return_counts: _bool = False,
        dim: _int | None = None,
    ) -> Any: ...
    def type(
        self, dtype: Any = None, non_blocking: _bool = False, **kwargs: Any
    ) -> str | Tensor: ...
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]: ...
    def __lt__(self, other: _Operand, /) -> Tensor: ...
    def __le__(self, other: _Operand, /) -> Tensor: ...
    def __gt__(self, other: _Operand, /) -> Tensor: ...
    def __ge__(self, other: _Operand, /) -> Tensor: ...
    def __iadd__(self, other: _Operand, /) -> Self: ...
    def __isub__(self, other: _Operand, /) -> Self: ...
    def __imul__(self, other: _Operand, /) -> Self: ...
    def __itruediv__(self, other: _Operand, /) -> Self: ...
    def __ifloordiv__(self, other: _Operand, /) -> Tensor: ...
    def __imod__(self, other: _Operand, /) -> Tensor: ...
    def __ipow__(self, other: _Operand, /) -> Tensor: ...  # type: ignore[misc]
    def __iand__(self, other: _Operand, /) -> Tensor: ...
    def __ior__(self, other: _Operand, /) -> Tensor: ...
    def __ixor__(self, other: _Operand, /) -> Tensor: ...
    def __ilshift__(self, other: _Operand, /) -> Tensor: ...
    def __irshift__(self, other: _Operand, /) -> Tensor: ...
    def __lshift__(self, other: _Operand, /) -> Tensor: ...
    def __rlshift__(self, other: _Operand, /) -> Tensor: ...
    def __rshift__(self, other: _Operand, /) -> Tensor: ...
    def __rrshift__(self, other: _Operand, /) -> Tensor: ...

    # ---- reductions --------------------------------------------------------------------------
    # Reductions that take the same arguments (the engine generates them from one macro arm
    # per signature, rust/python/src/tensor/reductions.rs) are written out once and aliased:
    # ``mean = sum`` types ``mean`` as ``sum``; the docstring under an alias is its own.
    def sum(
        self,
        dim: _Dims | None = None,
        keepdim: _bool = False,
        dtype: _DTypeLike | None = None,
        *,
        axis: _Dims | None = None,
        keepdims: _bool | None = None,
    ) -> Tensor:
        """Sum over ``dim`` (all dimensions when None), optionally in ``dtype``."""
    mean = sum
    """Mean over ``dim`` (all dimensions when None), optionally in ``dtype``."""
    def var(
        self,
        dim: _Dims | None = None,
        unbiased: _bool | None = None,
        keepdim: _bool = False,
        *,
        correction: _float | None = None,
        axis: _Dims | None = None,
        keepdims: _bool | None = None,
    ) -> Tensor:
        """Variance over ``dim``; ``correction`` (default 1, or 0 if not ``unbiased``)."""
    # ``std`` is written out, not aliased: ``_tensor_more`` reads ``Tensor.std`` at import, inside
    # the import cycle with this stub, where mypy cannot yet infer an alias's type.
    def std(
        self,
        dim: _Dims | None = None,
        unbiased: _bool | None = None,
        keepdim: _bool = False,
        *,
        correction: _float | None = None,
        axis: _Dims | None = None,
        keepdims: _bool | None = None,
    ) -> Tensor:
        """Standard deviation over ``dim``; ``correction`` as for ``var``."""
    def amax(
        self,
        dim: _Dims | None = None,
        keepdim: _bool = False,
        *,
        axis: _Dims | None = None,
        keepdims: _bool | None = None,
    ) -> Tensor:
        """Maximum over ``dim`` (all dimensions when None)."""
    amin = amax
    """Minimum over ``dim`` (all dimensions when None)."""
    logsumexp = amax
    """``log(sum(exp(x)))`` over ``dim``, computed stably."""
    all = amax
    """True where every element (along ``dim``) is non-zero."""
    any = amax
    """True where some element (along ``dim``) is non-zero."""
    def argmax(
        self,
        dim: _int | None = None,
        keepdim: _bool = False,
        *,
        axis: _int | None = None,
        keepdims: _bool | None = None,
    ) -> Tensor:
        """Index of the maximum (of the flattened tensor when ``dim`` is None)."""
    argmin = argmax
    """Index of the minimum (of the flattened tensor when ``dim`` is None)."""
    @overload
    def max(
        self,
        dim: None = None,
        keepdim: _bool = False,
        *,
        other: Tensor | None = None,
        axis: None = None,
        keepdims: _bool | None = None,
    ) -> Tensor:
        """``max()``: a scalar tensor; ``max(dim)``: ``(values, indices)``; ``max(other)``:
        the elementwise maximum."""
    @overload
    def max(self, dim: Tensor, keepdim: _bool = False) -> Tensor: ...
    @overload
    def max(self, dim: _int, keepdim: _bool = False) -> MaxResult: ...
    @overload
    def max(
        self, *, axis: _int, keepdim: _bool = False, keepdims: _bool | None = None
    ) -> MaxResult: ...
    min = max
    """``min()``: a scalar tensor; ``min(dim)``: ``(values, indices)``; ``min(other)``:
    the elementwise minimum."""

    # ---- shape -------------------------------------------------------------------------------
    @overload
    def reshape(self, shape: _ShapeArg, /) -> Tensor:
        """The same data with a new shape (a view when possible); one size may be -1."""
    @overload
    def reshape(self, *shape: _int) -> Tensor: ...
    @overload
    def reshape(self, *, shape: _ShapeArg) -> Tensor: ...
    @overload
    def view(self, shape: _ShapeArg | _dtype, /) -> Tensor:
        """A view with a new shape (one size may be -1); ``view(dtype)`` only for its own dtype."""
    @overload
    def view(self, *shape: _int) -> Tensor: ...
    @overload
    def view(self, *, size: _ShapeArg) -> Tensor: ...
    @overload
    def view(self, *, dtype: _dtype) -> Tensor: ...
    def view_as(self, other: Tensor) -> Tensor:
        """A view with ``other``'s shape."""
    def reshape_as(self, other: Tensor) -> Tensor:
        """Reshaped to ``other``'s shape."""
    @overload
    def permute(self, dims: _ShapeArg, /) -> Tensor:
        """A view with the dimensions reordered."""
    @overload
    def permute(self, *dims: _int) -> Tensor: ...
    @overload
    def permute(self, *, dims: _ShapeArg) -> Tensor: ...
    def transpose(self, dim0: _int, dim1: _int) -> Tensor:
        """A view with ``dim0`` and ``dim1`` swapped."""
    def swapaxes(self, axis0: _int, axis1: _int) -> Tensor:
        """Alias of ``transpose``."""
    def t(self) -> Tensor:
        """Transpose of a tensor with at most 2 dimensions."""
    @overload
    def expand(self, sizes: _ShapeArg, /) -> Tensor:
        """A broadcast view to ``sizes`` (-1 keeps a dimension)."""
    @overload
    def expand(self, *sizes: _int) -> Tensor: ...
    @overload
    def expand(self, *, size: _ShapeArg) -> Tensor: ...
    def expand_as(self, other: Tensor) -> Tensor:
        """A broadcast view to ``other``'s shape."""
    def squeeze(self, *dims: _Dims, dim: _Dims | None = None, axis: _Dims | None = None) -> Tensor:
        """Drops size-1 dimensions (all of them, or those in ``dim``: one, a sequence, or
        several given positionally)."""
    def unsqueeze(self, dim: _int | None = None, *, axis: _int | None = None) -> Tensor:
        """Inserts a size-1 dimension at ``dim``."""
    def flatten(self, start_dim: _int = 0, end_dim: _int = -1) -> Tensor:
        """Merges dimensions ``start_dim..=end_dim`` into one."""
    def narrow(self, dim: _int, start: _int, length: _int) -> Tensor:
        """A view of ``length`` elements of ``dim`` from ``start``."""
    def select(self, dim: _int, index: _int) -> Tensor:
        """A view of element ``index`` of ``dim``, with that dimension removed."""
    def unbind(self, dim: _int | None = None, *, axis: _int | None = None) -> tuple[Tensor, ...]:
        """The slices along ``dim``, each with that dimension removed."""
    def split(self, split_size: _int | Sequence[_int], dim: _int = 0) -> tuple[Tensor, ...]:
        """Views of ``split_size`` elements along ``dim`` (the last may be smaller)."""
    def chunk(self, chunks: _int, dim: _int = 0) -> tuple[Tensor, ...]:
        """At most ``chunks`` views of (nearly) equal size along ``dim``."""
    def contiguous(self, memory_format: Any = None) -> Tensor:
        """This tensor if dense in ``memory_format`` (row-major by default), else a copy
        that is."""

    # ---- structured ops ----------------------------------------------------------------------
    def softmax(self, dim: _int = -1, dtype: _DTypeLike | None = None) -> Tensor:
        """Softmax along ``dim``, optionally computed in ``dtype``."""
    def log_softmax(self, dim: _int = -1, dtype: _DTypeLike | None = None) -> Tensor:
        """Log-softmax along ``dim``, optionally computed in ``dtype``."""
    def gather(self, dim: _int, index: Tensor, *, sparse_grad: _bool = False) -> Tensor:
        """Values at ``index`` along ``dim``."""
    def scatter_add(self, dim: _int, index: Tensor, src: Tensor) -> Tensor:
        """A copy with ``src`` added at ``index`` along ``dim``."""
    def _put_along(self, op: str, dim: _int, index: Tensor, source: Tensor) -> Tensor:
        """The engine's ``index_add`` or ``scatter`` (``op``), the index already checked."""
    def _index_put(self, indices: list[Tensor], values: Tensor, accumulate: _bool) -> Tensor:
        """The engine's out-of-place ``index_put``: integer indices of the leading dims,
        already checked."""
    def _constant_pad(self, pads: list[tuple[_int, _int]], value: _float) -> Tensor:
        """The engine's constant padding: ``(before, after)`` per dim, the last dim first."""
    def _flip(self, dims: list[_int]) -> Tensor:
        """The engine's ``flip`` over ``dims`` (already checked)."""
    def _tri(self, diagonal: _int, upper: _bool) -> Tensor:
        """The engine's ``triu`` (``upper``) or ``tril``, ``diagonal`` already clamped."""
    def index_select(self, dim: _int, index: Tensor) -> Tensor:
        """The entries ``index`` of dimension ``dim``."""
    def masked_fill(self, mask: Tensor, value: _Value) -> Tensor:
        """A copy with ``value`` where ``mask`` is true."""
    def where(self, condition: Tensor, other: _Operand) -> Tensor:
        """``self`` where ``condition`` is true, else ``other``."""
    def dot(self, tensor: Tensor) -> Tensor:
        """Inner product of two 1-D tensors."""
    def mm(self, mat2: Tensor) -> Tensor:
        """Matrix product of two 2-D tensors."""

    # ---- in place (no new tensor; return self) -----------------------------------------------
    def add_(self, other: _Operand, alpha: _float = 1.0) -> Self:
        """``self += alpha * other``."""
    def sub_(self, other: _Operand, alpha: _float = 1.0) -> Self:
        """``self -= alpha * other``."""
    def mul_(self, other: _Operand) -> Self: ...
    def div_(self, other: _Operand, *, rounding_mode: str | None = None) -> Self: ...
    def relu_(self) -> Self:
        """ReLU in place; under autograd the backward reads the output (no copy kept)."""
    def leaky_relu_(self, negative_slope: _float = 0.01) -> Self:
        """Leaky ReLU in place (a negative slope is refused under autograd)."""
    def zero_(self) -> Self:
        """Fills with zeros."""
    def fill_(self, value: _Value) -> Self:
        """Fills with ``value``."""
    def copy_(self, src: _Operand, non_blocking: _bool = False) -> Self:
        """Copies (broadcasting) ``src`` into this tensor (``non_blocking`` changes nothing)."""
    def clamp_(
        self, min: _float | Tensor | None = None, max: _float | Tensor | None = None
    ) -> Self:
        """Clamps into ``[min, max]`` in place."""

    # ---- math, shape and statistics methods (_math_functions, _shape_functions,
    # _stats_functions; installed through _tensor_extra.METHODS) ----
    def absolute(self) -> Tensor: ...
    def arccos(self) -> Tensor: ...
    def arcsin(self) -> Tensor: ...
    def arctan(self) -> Tensor: ...
    def arccosh(self) -> Tensor: ...
    def arcsinh(self) -> Tensor: ...
    def arctanh(self) -> Tensor: ...
    def negative(self) -> Tensor: ...
    def positive(self) -> Tensor: ...
    def multiply(self, other: Tensor | _Scalar) -> Tensor: ...
    def subtract(self, other: Tensor | _Scalar, *, alpha: _Scalar = 1) -> Tensor: ...
    def divide(
        self, other: Tensor | _Scalar, *, rounding_mode: Literal["trunc", "floor"] | None = None
    ) -> Tensor: ...
    def greater(self, other: Tensor | _Scalar) -> Tensor: ...
    def greater_equal(self, other: Tensor | _Scalar) -> Tensor: ...
    def less(self, other: Tensor | _Scalar) -> Tensor: ...
    def less_equal(self, other: Tensor | _Scalar) -> Tensor: ...
    def not_equal(self, other: Tensor | _Scalar) -> Tensor: ...
    def swapdims(self, dim0: _int, dim1: _int) -> Tensor: ...
    def msort(self) -> Tensor: ...
    def fix(self) -> Tensor: ...
    def deg2rad(self) -> Tensor: ...
    def rad2deg(self) -> Tensor: ...
    def logaddexp2(self, other: Tensor) -> Tensor: ...
    def hypot(self, other: Tensor) -> Tensor: ...
    def fmax(self, other: Tensor) -> Tensor: ...
    def fmin(self, other: Tensor) -> Tensor: ...
    def sinc(self) -> Tensor: ...
    def copysign(self, other: Tensor | _Scalar) -> Tensor: ...
    def xlogy(self, other: Tensor | _Scalar) -> Tensor: ...
    def float_power(self, exponent: Tensor | _Scalar) -> Tensor: ...
    def ldexp(self, other: Tensor) -> Tensor: ...
    def logit(self, eps: _float | None = None) -> Tensor: ...
    def signbit(self) -> Tensor: ...
    def heaviside(self, values: Tensor) -> Tensor: ...
    def isposinf(self) -> Tensor: ...
    def isneginf(self) -> Tensor: ...
    def isreal(self) -> Tensor: ...
    def is_nonzero(self) -> _bool: ...
    def frexp(self) -> tuple[Tensor, Tensor]: ...
    def gcd(self, other: Tensor) -> Tensor: ...
    def lcm(self, other: Tensor) -> Tensor: ...
    def bitwise_and(self, other: Tensor | _Scalar) -> Tensor: ...
    def bitwise_or(self, other: Tensor | _Scalar) -> Tensor: ...
    def bitwise_xor(self, other: Tensor | _Scalar) -> Tensor: ...
    def bitwise_not(self) -> Tensor: ...
    def bitwise_left_shift(self, other: Tensor | _Scalar) -> Tensor: ...
    def bitwise_right_shift(self, other: Tensor | _Scalar) -> Tensor: ...
    def nextafter(self, other: Tensor) -> Tensor: ...
    def absolute_(self) -> Self: ...
    def arccos_(self) -> Self: ...
    def arcsin_(self) -> Self: ...
    def arctan_(self) -> Self: ...
    def arccosh_(self) -> Self: ...
    def arcsinh_(self) -> Self: ...
    def arctanh_(self) -> Self: ...
    def negative_(self) -> Self: ...
    def multiply_(self, other: Tensor | _Scalar) -> Self: ...
    def subtract_(self, other: Tensor | _Scalar, *, alpha: _Scalar = 1) -> Self: ...
    def divide_(
        self, other: Tensor | _Scalar, *, rounding_mode: Literal["trunc", "floor"] | None = None
    ) -> Self: ...
    def greater_(self, other: Tensor | _Scalar) -> Self: ...
    def greater_equal_(self, other: Tensor | _Scalar) -> Self: ...
    def less_(self, other: Tensor | _Scalar) -> Self: ...
    def less_equal_(self, other: Tensor | _Scalar) -> Self: ...
    def not_equal_(self, other: Tensor | _Scalar) -> Self: ...
    def fix_(self) -> Self: ...
    def deg2rad_(self) -> Self: ...
    def rad2deg_(self) -> Self: ...
    def hypot_(self, other: Tensor) -> Self: ...
    def sinc_(self) -> Self: ...
    def copysign_(self, other: Tensor | _Scalar) -> Self: ...
    def xlogy_(self, other: Tensor | _Scalar) -> Self: ...
    def ldexp_(self, other: Tensor) -> Self: ...
    def logit_(self, eps: _float | None = None) -> Self: ...
    def heaviside_(self, values: Tensor) -> Self: ...
    def gcd_(self, other: Tensor) -> Self: ...
    def lcm_(self, other: Tensor) -> Self: ...
    def bitwise_and_(self, other: Tensor | _Scalar) -> Self: ...
    def bitwise_or_(self, other: Tensor | _Scalar) -> Self: ...
    def bitwise_xor_(self, other: Tensor | _Scalar) -> Self: ...
    def bitwise_not_(self) -> Self: ...
    def bitwise_left_shift_(self, other: Tensor | _Scalar) -> Self: ...
    def bitwise_right_shift_(self, other: Tensor | _Scalar) -> Self: ...
    def nextafter_(self, other: Tensor) -> Self: ...
    def float_power_(self, exponent: Tensor | _Scalar) -> Self: ...
    def hsplit(
        self,
        indices_or_sections: _int | Sequence[_int] | None = None,
        *,
        sections: _int | None = None,
        indices: Sequence[_int] | None = None,
    ) -> tuple[Tensor, ...]: ...
    def vsplit(
        self,
        indices_or_sections: _int | Sequence[_int] | None = None,
        *,
        sections: _int | None = None,
        indices: Sequence[_int] | None = None,
    ) -> tuple[Tensor, ...]: ...
    def dsplit(
        self,
        indices_or_sections: _int | Sequence[_int] | None = None,
        *,
        sections: _int | None = None,
        indices: Sequence[_int] | None = None,
    ) -> tuple[Tensor, ...]: ...
    def rot90(self, k: _int = 1, dims: Sequence[_int] = (0, 1)) -> Tensor: ...
    def diag_embed(self, offset: _int = 0, dim1: _int = -2, dim2: _int = -1) -> Tensor: ...
    def diagflat(self, offset: _int = 0) -> Tensor: ...
    def kron(self, other: Tensor) -> Tensor: ...
    def inner(self, other: Tensor) -> Tensor: ...
    def vdot(self, other: Tensor) -> Tensor: ...
    def addbmm(
        self, batch1: Tensor, batch2: Tensor, *, beta: _Scalar = 1, alpha: _Scalar = 1
    ) -> Tensor: ...
    baddbmm = addbmm
    def addmv(
        self, mat: Tensor, vec: Tensor, *, beta: _Scalar = 1, alpha: _Scalar = 1
    ) -> Tensor: ...
    def addr(
        self, vec1: Tensor, vec2: Tensor, *, beta: _Scalar = 1, alpha: _Scalar = 1
    ) -> Tensor: ...
    def narrow_copy(self, dim: _int, start: _int, length: _int) -> Tensor: ...
    def take(self, index: Tensor) -> Tensor: ...
    def argwhere(self) -> Tensor: ...
    def aminmax(
        self, *, dim: _int | None = None, keepdim: _bool = False
    ) -> tuple[Tensor, Tensor]: ...
    def addbmm_(
        self, batch1: Tensor, batch2: Tensor, *, beta: _Scalar = 1, alpha: _Scalar = 1
    ) -> Self: ...
    baddbmm_ = addbmm_
    def addmv_(
        self, mat: Tensor, vec: Tensor, *, beta: _Scalar = 1, alpha: _Scalar = 1
    ) -> Self: ...
    def addr_(
        self, vec1: Tensor, vec2: Tensor, *, beta: _Scalar = 1, alpha: _Scalar = 1
    ) -> Self: ...
    def cov(
        self,
        *,
        correction: _int = 1,
        fweights: Tensor | None = None,
        aweights: Tensor | None = None,
    ) -> Tensor: ...
    def corrcoef(self) -> Tensor: ...
    def quantile(
        self,
        q: _float | Tensor,
        dim: _int | None = None,
        keepdim: _bool = False,
        *,
        interpolation: str = "linear",
    ) -> Tensor: ...
    nanquantile = quantile
    @overload
    def nanmedian(self, dim: None = None, keepdim: _bool = False) -> Tensor:
        """``nanmedian()``: the lower median of the non-NaN elements; ``nanmedian(dim)``:
        ``(values, indices)`` along ``dim``."""
    @overload
    def nanmedian(self, dim: _int, keepdim: _bool = False) -> MedianResult: ...
    def mode(self, dim: _int = -1, keepdim: _bool = False) -> tuple[Tensor, Tensor]: ...
    def renorm(self, p: _float, dim: _int, maxnorm: _float) -> Tensor: ...
    def histc(self, bins: _int = 100, min: _Scalar = 0, max: _Scalar = 0) -> Tensor: ...
    def histogram(
        self,
        bins: _int | Tensor = 100,
        *,
        range: Sequence[_float] | None = None,
        weight: Tensor | None = None,
        density: _bool = False,
    ) -> tuple[Tensor, Tensor]: ...
    def bincount(self, weights: Tensor | None = None, minlength: _int = 0) -> Tensor: ...
    def unique_consecutive(
        self, return_inverse: _bool = False, return_counts: _bool = False, dim: _int | None = None
    ) -> Any: ...
    def renorm_(self, p: _float, dim: _int, maxnorm: _float) -> Self: ...
    # ---- random fills and scatter ops (installed by _random_more and _index_functions) -------
    def uniform_(
        self, from_: _float = 0.0, to: _float = 1.0, *, generator: Any = None, **kwargs: Any
    ) -> Self:
        """Fills with samples from U(from_, to) (not recorded by autograd)."""
    def normal_(self, mean: _float = 0.0, std: _float = 1.0, *, generator: Any = None) -> Self:
        """Fills with samples from N(mean, std²) (not recorded by autograd)."""
    def random_(
        self,
        from_: _int = ...,
        to: _int | None = ...,
        *,
        generator: Any = None,
        **kwargs: Any,
    ) -> Self: ...
    def cauchy_(
        self, median: _float = 0.0, sigma: _float = 1.0, *, generator: Any = None
    ) -> Self: ...
    def log_normal_(
        self, mean: _float = 1.0, std: _float = 2.0, *, generator: Any = None
    ) -> Self: ...
    def geometric_(self, p: _float, *, generator: Any = None) -> Self: ...
    def index_put(
        self, indices: tuple[Tensor, ...] | list[Tensor], values: Tensor, accumulate: _bool = False
    ) -> Tensor: ...
    def index_put_(
        self, indices: tuple[Tensor, ...] | list[Tensor], values: Tensor, accumulate: _bool = False
    ) -> Self: ...
    def put(self, index: Tensor, source: Tensor, accumulate: _bool = False) -> Tensor: ...
    def put_(self, index: Tensor, source: Tensor, accumulate: _bool = False) -> Self: ...
    def masked_scatter(self, mask: Tensor, source: Tensor) -> Tensor: ...
    def masked_scatter_(self, mask: Tensor, source: Tensor) -> Self: ...
    def scatter_reduce(
        self, dim: _int, index: Tensor, src: Tensor, reduce: str, *, include_self: _bool = True
    ) -> Tensor: ...
    def scatter_reduce_(
        self, dim: _int, index: Tensor, src: Tensor, reduce: str, *, include_self: _bool = True
    ) -> Self: ...
    def select_scatter(self, src: Tensor, dim: _int, index: _int) -> Tensor: ...
    def slice_scatter(
        self,
        src: Tensor,
        dim: _int = 0,
        start: _int | None = None,
        end: _int | None = None,
        step: _int = 1,
    ) -> Tensor: ...
    def diagonal_scatter(
        self, src: Tensor, offset: _int = 0, dim1: _int = 0, dim2: _int = 1
    ) -> Tensor: ...
    def _as_strided(
        self, size: Sequence[_int], stride: Sequence[_int], storage_offset: _int | None = None
    ) -> Tensor:
        """The view of this tensor's storage with ``size``, ``stride`` and ``storage_offset``."""
    def unfold(self, dimension: _int, size: _int, step: _int) -> Tensor:
        """The windows of ``size`` elements ``step`` apart along ``dimension``, as a view: that
        dim counts the windows, a new last dim runs through each (overlapping windows sum
        their gradients)."""
    def ndimension(self) -> _int: ...

    # ---- the remaining PyTorch methods (installed by _tensor_methods_torch) -----------------
    @property
    def is_cpu(self) -> _bool:
        """Whether the tensor is in host memory."""
    @property
    def real(self) -> Tensor:
        """The real part: the tensor itself (tensors are real)."""
    @property
    def H(self) -> Tensor:  # noqa: N802 - PyTorch's name
        """The conjugate transpose of a matrix (the transpose; 0-d and 1-d as they are)."""
    def get_device(self) -> _int:
        """The CUDA device's index, or -1 for a CPU tensor."""
    def is_signed(self) -> _bool: ...
    def is_same_size(self, other: Tensor) -> _bool: ...
    def is_inference(self) -> _bool:
        """Whether this tensor was made under ``inference_mode`` (an inference tensor)."""
    def is_conj(self) -> _bool: ...
    def is_neg(self) -> _bool: ...
    def conj(self) -> Tensor: ...
    def resolve_conj(self) -> Tensor: ...
    def resolve_neg(self) -> Tensor: ...
    def adjoint(self) -> Tensor: ...
    def split_with_sizes(
        self, split_sizes: Sequence[_int], dim: _int = 0
    ) -> tuple[Tensor, ...]: ...
    def unsafe_chunk(self, chunks: _int, dim: _int = 0) -> tuple[Tensor, ...]: ...
    def unsafe_split(self, split_size: Any, dim: _int = 0) -> tuple[Tensor, ...]: ...
    def bernoulli(self, p: _float | None = None, *, generator: Any = None) -> Tensor: ...
    def prelu(self, weight: Tensor) -> Tensor: ...
    def index_reduce(
        self, dim: _int, index: Tensor, source: Tensor, reduce: str, *, include_self: _bool = True
    ) -> Tensor: ...
    def apply_(self, fn: Callable[[Any], Any]) -> Tensor: ...
    def map_(self, other: Tensor, fn: Callable[[Any, Any], Any]) -> Tensor: ...
    def as_strided(
        self, size: Sequence[_int], stride: Sequence[_int], storage_offset: _int | None = None
    ) -> Tensor: ...
    def orgqr(self, tau: Tensor) -> Tensor: ...
    def i0(self) -> Tensor: ...
    def mvlgamma(self, p: _int) -> Tensor: ...
    @property
    def mH(self) -> Tensor:  # noqa: N802 - PyTorch's name
        """The conjugate transpose of the last two dims (``mT``: tensors are real)."""
    def hardshrink(self, lambd: _float = 0.5) -> Tensor: ...
    def ger(self, vec2: Tensor) -> Tensor: ...
    def matrix_exp(self) -> Tensor: ...
    def igamma(self, other: Tensor | _float) -> Tensor: ...
    def igammac(self, other: Tensor | _float) -> Tensor: ...
    def to_dense(self, dtype: Any = None, *, masked_grad: _bool | None = None) -> Tensor: ...
    def nonzero_static(self, *, size: _int, fill_value: _int = -1) -> Tensor: ...
    def angle(self) -> Tensor: ...
    def cholesky_solve(self, input2: Tensor, upper: _bool = False) -> Tensor: ...
    def cholesky_inverse(self, upper: _bool = False) -> Tensor: ...
    def lu(self, pivot: _bool = True, get_infos: _bool = False) -> tuple[Tensor, ...]: ...
    def lu_solve(self, LU_data: Tensor, LU_pivots: Tensor) -> Tensor: ...  # noqa: N803
    def triangular_solve(
        self,
        A: Tensor,  # noqa: N803
        upper: _bool = True,
        transpose: _bool = False,
        unitriangular: _bool = False,
    ) -> TriangularSolveResult: ...
    def to_sparse(self, sparse_dim: _int | None = None) -> SparseTensor: ...
    def to_sparse_coo(self, sparse_dim: _int | None = None) -> SparseTensor: ...
    def unsafe_split_with_sizes(
        self, split_sizes: Sequence[_int], dim: _int = 0
    ) -> tuple[Tensor, ...]: ...
    def conj_physical(self) -> Tensor: ...
    def conj_physical_(self) -> Tensor: ...
    def _become(self, view: Tensor, op: str) -> None:
        """Makes this object stand for ``view`` (the in-place metadata ops)."""
    def unsqueeze_(self, dim: _int) -> Tensor: ...
    def squeeze_(self, dim: Any = None) -> Tensor: ...
    def transpose_(self, dim0: _int, dim1: _int) -> Tensor: ...
    def swapaxes_(self, axis0: _int, axis1: _int) -> Tensor: ...
    def swapdims_(self, dim0: _int, dim1: _int) -> Tensor: ...
    def t_(self) -> Tensor: ...
    def resize_(self, *sizes: Any, memory_format: Any = None) -> Tensor: ...
    def resize_as_(self, other: Tensor, memory_format: Any = None) -> Tensor: ...
    def set_(self, source: Tensor | None = None) -> Tensor: ...
    def share_memory_(self) -> Tensor:
        """Moves the data into shared memory, seen by processes forked afterwards."""
    def is_shared(self) -> _bool: ...
    def addmm_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def cumsum_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def cumprod_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def sinh_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def cosh_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def log10_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def log2_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def frac_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def fmod_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def eq_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def ne_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def lt_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def le_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def gt_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def ge_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def logical_and_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def logical_or_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def logical_xor_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def logical_not_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def true_divide_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def floor_divide_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def sgn_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def polygamma_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def mvlgamma_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def index_reduce_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def arctan2_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def i0_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def igamma_(self, *args: Any, **kwargs: Any) -> Tensor: ...
    def igammac_(self, *args: Any, **kwargs: Any) -> Tensor: ...

# ---- factories -------------------------------------------------------------------------------

class _SizeFactory(Protocol):
    """``zeros``/``ones``/``empty``/``rand``/``randn``: the shape as ints, as one sequence or
    as PyTorch's ``size=`` keyword."""

    @overload
    def __call__(
        self,
        size: _ShapeArg,
        /,
        *,
        dtype: _DTypeLike | None = None,
        device: _DeviceLike | None = None,
        requires_grad: _bool = False,
    ) -> Tensor: ...
    @overload
    def __call__(
        self,
        *size: _int,
        dtype: _DTypeLike | None = None,
        device: _DeviceLike | None = None,
        requires_grad: _bool = False,
    ) -> Tensor: ...
    @overload
    def __call__(
        self,
        *,
        size: _ShapeArg,
        dtype: _DTypeLike | None = None,
        device: _DeviceLike | None = None,
        requires_grad: _bool = False,
        out: None = None,
        layout: None = None,
        pin_memory: _bool = False,
    ) -> Tensor: ...

zeros: _SizeFactory
"""A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""

ones: _SizeFactory
"""A tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))``."""

empty: _SizeFactory
"""An uninitialised tensor (zero-filled in practice): ``empty(2, 3)`` or ``empty((2, 3))``."""

def full(
    size: _int | _ShapeArg,
    fill_value: _Value,
    *,
    dtype: _DTypeLike | None = None,
    device: _DeviceLike | None = None,
    requires_grad: _bool = False,
) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value`` (dtype follows the value)."""

def arange(
    start: _Value | None = None,
    end: _Value | None = None,
    step: _Value | None = None,
    *,
    dtype: _DTypeLike | None = None,
    device: _DeviceLike | None = None,
    requires_grad: _bool = False,
) -> Tensor:
    """``arange(end)`` or ``arange(start, end, step)``: int64 unless a bound is a float."""

def linspace(
    start: _float,
    end: _float,
    steps: _int,
    *,
    dtype: _DTypeLike | None = None,
    device: _DeviceLike | None = None,
    requires_grad: _bool = False,
) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` inclusive."""

def eye(
    n: _int,
    m: _int | None = None,
    *,
    dtype: _DTypeLike | None = None,
    device: _DeviceLike | None = None,
    requires_grad: _bool = False,
) -> Tensor:
    """An ``n x m`` (default ``n x n``) identity matrix."""

rand: _SizeFactory
"""Samples from U(0, 1): ``rand(2, 3)`` or ``rand((2, 3))``."""

randn: _SizeFactory
"""Samples from N(0, 1): ``randn(2, 3)`` or ``randn((2, 3))``."""

@overload
def randint(
    high: _int,
    shape: Sequence[_int],
    /,
    *,
    size: None = None,
    dtype: _DTypeLike | None = None,
    device: _DeviceLike | None = None,
) -> Tensor:
    """Integers uniform in ``[low, high)`` (``low`` defaults to 0): ``randint(10, (3,))``,
    ``randint(2, 10, (3,))`` or ``randint(10, size=(3,))``."""

@overload
def randint(
    low: _int,
    high: _int,
    shape: Sequence[_int],
    /,
    *,
    size: None = None,
    dtype: _DTypeLike | None = None,
    device: _DeviceLike | None = None,
) -> Tensor: ...
@overload
def randint(
    high: _int,
    /,
    *,
    size: Sequence[_int],
    dtype: _DTypeLike | None = None,
    device: _DeviceLike | None = None,
) -> Tensor: ...
@overload
def randint(
    low: _int,
    high: _int,
    /,
    *,
    size: Sequence[_int],
    dtype: _DTypeLike | None = None,
    device: _DeviceLike | None = None,
) -> Tensor: ...
@overload
def randint(
    *,
    low: _int = 0,
    high: _int,
    size: Sequence[_int],
    dtype: _DTypeLike | None = None,
    device: _DeviceLike | None = None,
) -> Tensor: ...
def randperm(n: _int) -> Tensor:
    """A random permutation of ``0..n`` (int64)."""

def from_numpy(array: npt.NDArray[Any]) -> Tensor:
    """A tensor sharing the memory of a NumPy array (copied only when it cannot be shared).

    Integer dtypes the engine lacks are copied: uint16 into int32, uint32/uint64 into int64.
    """

# ---- RNG and grad mode -----------------------------------------------------------------------

def manual_seed(seed: _int) -> None:
    """Seeds the global generator (negative seeds wrap around to unsigned 64 bits)."""

def _set_default_dtype(dtype: dtype | str) -> None: ...
def set_default_device(device: _DeviceLike | None) -> None:
    """Where factories build when not given ``device=`` (None: the CPU); a CUDA device that is
    not there raises ``DeviceError`` now."""

def get_default_device() -> Device:
    """The device factories build on when not given ``device=``."""

def _default_dtype() -> dtype: ...
def _seed_thread(seed: _int | None = None) -> None:
    """Gives the calling thread its own generator seeded with ``seed`` (None: the global)."""

def set_num_threads(num: _int) -> None:
    """Sets the number of threads the engine's kernels use (PyTorch's name)."""

def get_num_threads() -> _int:
    """The number of threads the engine's kernels use."""

def get_rng_state() -> list[_int]:
    """The global generator's state: 4 unsigned 64-bit integers."""

def set_rng_state(state: Sequence[_int]) -> None:
    """Restores a state returned by ``get_rng_state``."""

def is_grad_enabled() -> _bool:
    """Whether autograd records operations on this thread."""

def _set_grad_enabled(enabled: _bool) -> _bool:
    """Sets grad mode for this thread and returns the previous mode."""

def _grad_mode_flag() -> _bool:
    """The grad-mode switch itself: on under ``enable_grad`` inside inference mode too."""

def _set_inference_mode(on: _bool) -> _bool:
    """Enters or leaves inference mode for this thread and returns the previous state."""

def _is_inference_mode() -> _bool:
    """Whether this thread is in inference mode."""

# ---- joins, selection, autograd --------------------------------------------------------------

def cat(
    tensors: Sequence[Tensor],
    dim: _int | None = None,
    *,
    axis: _int | None = None,
    out: Tensor | None = None,
) -> Tensor:
    """Concatenates along an existing dimension (into ``out`` when given)."""

stack = cat
"""Stacks along a new dimension (into ``out`` when given)."""

def where(condition: Tensor, input: _Operand, other: _Operand) -> Tensor:
    """``input`` where ``condition`` is true, else ``other`` (broadcasting)."""

def autograd_grad(
    outputs: Sequence[Tensor],
    inputs: Sequence[Tensor],
    grad_outputs: Sequence[Tensor | None] | None = None,
    retain_graph: _bool | None = None,
    create_graph: _bool = False,
    allow_unused: _bool = False,
) -> list[Tensor | None]:
    """The gradients of ``outputs`` with respect to ``inputs`` (``autograd.grad``)."""

def _push_saved_tensors_hooks(
    pack: Callable[[Tensor], object], unpack: Callable[[Any], Tensor]
) -> None:
    """Makes ``pack``/``unpack`` this thread's saved-tensor hooks until the matching pop."""

def _pop_saved_tensors_hooks() -> None:
    """Removes this thread's innermost saved-tensor hooks."""

def _queue_callback(callback: Callable[[], object]) -> None:
    """Runs ``callback()`` when the backward pass in progress ends (autograd.queue_callback)."""

def _record_function(
    output: Tensor,
    inputs: Sequence[Tensor],
    backward: Callable[[Tensor], Tensor | Sequence[Tensor | None] | None],
    differentiable: _bool = False,
    name: str | None = None,
) -> Tensor:
    """``output`` detached and re-attached with a Python ``backward(grad)`` that returns one
    gradient (or None) per tensor in ``inputs``; ``differentiable``: written in recorded ops,
    so ``create_graph=True`` may run it; ``name``: the node's (``"<Class>Backward"``)."""

def _set_anomaly_nan_check(on: _bool) -> None:
    """Turns the engine's anomaly-mode NaN check of every node's gradients on or off."""

def _assign(tensor: Tensor, result: Tensor) -> None:
    """Writes ``result`` into ``tensor``, which takes ``result``'s node as its own (the last
    step of an in-place op composed in Python: ``y.exp_()`` shows ExpBackward0)."""

def _swap_thread_rng(state: list[int] | None = None) -> list[int] | None:
    """Makes ``state`` this thread's own random stream (``None``: none) and returns the one
    it replaces (``None`` when the thread drew from the global stream)."""

def _fill_shared(tensor: Tensor, mask: Tensor, value: Tensor) -> None:
    """Writes ``value`` where ``mask`` holds into ``tensor``, an expanded view, without
    autograd (``masked_fill_`` and ``index_fill_`` accept one, as PyTorch's do)."""

def _rebase_history(tensor: Tensor, output: Tensor) -> None:
    """``tensor`` takes the history of ``output``, ``_record_function``'s result for it (a
    custom Function's ``mark_dirty`` input becomes its output)."""

# ---- fused ops (nn.functional, optim, amp) ---------------------------------------------------

def _dropout(input: Tensor, p: float) -> Tensor:
    """Zeroes elements with probability ``p`` and scales the rest by ``1/(1-p)``."""

def _linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias`` as one fused op."""

def _conv2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: tuple[_int, _int],
    padding: tuple[_int, _int],
    dilation: tuple[_int, _int],
    groups: _int,
) -> Tensor: ...
def _conv_transpose2d(
    input: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    stride: tuple[_int, _int],
    padding: tuple[_int, _int],
    output_padding: tuple[_int, _int],
    groups: _int,
    dilation: tuple[_int, _int],
) -> Tensor: ...
def _max_pool2d(
    input: Tensor,
    kernel: tuple[_int, _int],
    stride: tuple[_int, _int],
    padding: tuple[_int, _int],
    dilation: tuple[_int, _int],
    ceil_mode: _bool,
) -> Tensor: ...
def _avg_pool2d(
    input: Tensor,
    kernel: tuple[_int, _int],
    stride: tuple[_int, _int],
    padding: tuple[_int, _int],
    ceil_mode: _bool,
    count_include_pad: _bool,
) -> Tensor: ...
def _adaptive_avg_pool2d(input: Tensor, output_size: tuple[_int, _int]) -> Tensor: ...
def _group_norm(
    input: Tensor,
    num_groups: _int,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: _float = 1e-5,
) -> Tensor: ...
def _layer_norm(
    input: Tensor,
    normalized_shape: Sequence[_int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: _float = 1e-5,
) -> Tensor: ...
def _scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: _float = 0.0,
    is_causal: _bool = False,
    scale: _float | None = None,
    enable_gqa: _bool = False,
) -> Tensor: ...
def _rnn_sequence(
    gi: Tensor,
    h0: Tensor,
    c0: Tensor | None,
    w_hh: Tensor,
    b_hh: Tensor | None,
    mode: str,
    reverse: _bool = False,
) -> Tensor: ...
def _batch_norm(
    input: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None,
    bias: Tensor | None,
    training: _bool,
    momentum: _float,
    eps: _float,
) -> Tensor: ...
def _cross_entropy(
    input: Tensor,
    target: Tensor,
    weight: Tensor | None = None,
    ignore_index: _int = -100,
    reduction: Literal["mean", "sum", "none"] = "mean",
    label_smoothing: _float = 0.0,
    log_probs: _bool = False,
) -> Tensor:
    """Cross-entropy of ``[N, C]`` logits, or with ``log_probs`` ``nll_loss`` of
    log-probabilities."""

def _adam_step(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    exp_avgs: Sequence[Tensor],
    exp_avg_sqs: Sequence[Tensor],
    max_exp_avg_sqs: Sequence[Tensor],
    steps: Sequence[_int],
    **hyper: _float | _bool,
) -> None:
    """One fused Adam/AdamW step over a parameter group, in place."""

def _sgd_step(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    buffers: Sequence[Tensor],
    initialized: Sequence[_bool],
    **hyper: _float | _bool,
) -> None:
    """One fused SGD step over a parameter group, in place."""

def _rmsprop_step(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    square_avgs: Sequence[Tensor],
    grad_avgs: Sequence[Tensor],
    momentum_buffers: Sequence[Tensor],
    **hyper: _float | _bool,
) -> None:
    """One fused RMSprop step over a parameter group, in place (``grad_avgs`` only when
    centered, ``momentum_buffers`` only with momentum)."""

def _optim_rule_step(
    rule: str,
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    states: Sequence[Sequence[Tensor]],
    consts: Sequence[Sequence[_float]],
) -> None:
    """One fused step of an element-wise optimizer rule (``"adadelta"``, ``"adamax"``,
    ``"nadam"``, ``"radam"``, ``"asgd"``, ``"rprop"``) over a parameter group, in place:
    ``states[i]`` are parameter i's state tensors and ``consts[i]`` its per-step constants,
    ``scale, l2, decay`` then the rule's."""

def _adagrad_step(
    params: Sequence[Tensor],
    grads: Sequence[Tensor],
    sums: Sequence[Tensor],
    steps: Sequence[_int],
    **hyper: _float | _bool,
) -> None:
    """One fused Adagrad step over a parameter group, in place; ``steps`` are the step counts
    after this step."""

def _set_autocast(dtype: _DTypeLike | None = None) -> dtype | None:
    """Sets autocast's dtype for this thread (None disables it); returns the previous one."""

def _get_autocast() -> dtype | None:
    """Autocast's dtype on this thread, or None when autocast is off."""

def _amp_unscale(grads: Sequence[Tensor], inv_scale: _float, apply: _bool = True) -> _bool:
    """Multiplies the gradients by ``inv_scale`` in place (if ``apply``); True if any is inf/NaN."""

# ---- build information -----------------------------------------------------------------------

class _SystemInfo(TypedDict):
    engine_version: str
    profile: Literal["debug", "release"]
    target: str
    compiled_features: list[str]
    cpu_features: dict[str, _bool]
    simd_level: str
    cpus: _int
    rayon_threads: _int

def _scan(input: Tensor, dim: _int, prod: _bool = False, reverse: _bool = False) -> Tensor:
    """Running sums (products) along ``dim``: one engine pass."""

def _unary(input: Tensor, name: str) -> Tensor:
    """A parameterless op of the engine's unary table, by its Python name."""

def _unary_names() -> list[str]:
    """The Python names of the unary table's parameterless ops."""

def _register_helpers(helpers: dict[str, Any]) -> None:
    """Called once by the package's ``__init__``: the Python helpers the extension calls."""

def _system_info() -> _SystemInfo:
    """What this build of the engine is and what the CPU under it offers."""

# ---- democratising.cuda (rust/python/src/cuda.rs) ---------------------------------------------

def _cuda_is_available() -> _bool: ...
def _cuda_device_count() -> _int: ...
def _cuda_unavailable_reason() -> str | None: ...
def _cuda_get_memory_info(device: _int) -> tuple[_int, _int]: ...
def _cuda_memory_allocated(device: _int) -> _int: ...
def _cuda_memory_reserved(device: _int) -> _int: ...
def _cuda_max_memory_allocated(device: _int) -> _int: ...
def _cuda_max_memory_reserved(device: _int) -> _int: ...
def _cuda_reset_peak_memory_stats(device: _int) -> None: ...
def _cuda_empty_cache() -> None: ...
def _cuda_synchronize(device: _int) -> None: ...
def _from_dlpack(capsule: object) -> Tensor:
    """A tensor sharing the memory of an unconsumed DLPack capsule (``dltensor`` or
    ``dltensor_versioned``), which it consumes."""

@final
class _CudaEvent:
    """A recorded device event (``democratising.cuda.Event`` holds one)."""

    def query(self) -> _bool:
        """Whether the work before the event has completed."""
    def synchronize(self) -> None:
        """Waits for the work before the event."""
    def elapsed_ms(self, end: _CudaEvent) -> _float:
        """Milliseconds from this event to ``end``."""

def _cuda_record_event(device: _int) -> _CudaEvent:
    """An event marking the work queued on ``device`` so far."""

def _cuda_stream_handle(device: _int) -> _int:
    """The raw ``CUstream`` the engine queues ``device``'s work on (0 on the emulated device)."""

def _cuda_add_search_paths(
    library: str | None = None, include_dir: str | None = None, cublas_dir: str | None = None
) -> None: ...
def _cuda_kernel_table() -> list[tuple[str, str, _int]]: ...
def _cuda_load_all_kernels(device: _int) -> _int: ...
