"""The rest of the ``Tensor`` methods PyTorch programs call, written over the package's own
ops: in-place forms PyTorch has of ops the package had only out of place (``cumsum_``,
``eq_``, ``logical_and_``, ``sinh_``...), the queries about where and what a tensor is
(``is_cpu``, ``get_device``, ``is_signed``, ``is_same_size``...), the complex-number
methods that are the identity on real tensors (``conj``, ``resolve_conj``, ``real``, ``H``),
a few spellings (``split_with_sizes``, ``unsafe_chunk``, ``bernoulli``, ``prelu``,
``index_reduce``, ``apply_``/``map_``); and ``FUNCTIONS``, the top-level in-place functions
(``torch.relu_(x)``, ``torch.exp_(x)``, ``torch.zero_(x)``) that call the method of that
name."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Callable, NamedTuple, Optional

import numpy as np

from . import _core, _shared_memory, _tensor
from ._core import Tensor
from ._functional_ops import COMPARISONS
from .errors import ArgumentTypeError, DeviceError, DTypeError, InvalidValueError, ShapeError

# Out-of-place methods whose in-place form ``name_`` PyTorch has (written into the tensor
# through ``_tensor_more._inplace_of``, which checks the result's dtype can be cast back).
INPLACE_OF = (
    "addmm",
    "cumsum",
    "cumprod",
    "sinh",
    "cosh",
    "log10",
    "log2",
    "frac",
    "fmod",
    *COMPARISONS,
    "true_divide",
    "floor_divide",
    "sgn",
    "polygamma",
    "mvlgamma",
    "index_reduce",
    "arctan2",
    "i0",
    "igamma",
    "igammac",
)


def _is_cpu(x: Tensor) -> bool:
    """Whether the tensor is in host memory."""
    return not x.is_cuda


def get_device(x: Tensor) -> int:
    """The CUDA device's index, or -1 for a CPU tensor (PyTorch's)."""
    return x.device.index if x.is_cuda else -1


def is_signed(x: Tensor) -> bool:
    """Whether the dtype holds negative values (every dtype here but bool and uint8)."""
    return bool(x.dtype.is_signed)


def is_same_size(x: Tensor, other: Tensor) -> bool:
    """Whether both tensors have the same shape."""
    return tuple(x.shape) == tuple(other.shape)


def is_inference(x: Tensor) -> bool:
    """``torch.is_inference``: whether ``x`` was made under ``inference_mode`` (the method
    ``Tensor.is_inference`` is the engine's)."""
    return bool(x.is_inference())


def is_conj(x: Tensor) -> bool:
    """False: tensors are real, so none carries a lazy conjugation."""
    return False


def is_neg(x: Tensor) -> bool:
    """False: tensors are real, so none carries a lazy negation."""
    return False


def conj(x: Tensor) -> Tensor:
    """The complex conjugate: the tensor itself for real tensors, as PyTorch returns."""
    return x


def resolve_conj(x: Tensor) -> Tensor:
    """Materialises a lazy conjugation: the tensor itself for real tensors."""
    return x


def resolve_neg(x: Tensor) -> Tensor:
    """Materialises a lazy negation: the tensor itself for real tensors."""
    return x


def _real(x: Tensor) -> Tensor:
    """The real part: the tensor itself for real tensors, as PyTorch's ``x.real``."""
    return x


def adjoint(x: Tensor) -> Tensor:
    """The conjugate transpose of the last two dims (the transpose for real tensors)."""
    if x.ndim < 2:
        raise ShapeError(f"adjoint() is only supported for tensors of 2 or more dims, got {x.ndim}")
    return x.transpose(-2, -1)


def _h(x: Tensor) -> Tensor:
    """``x.H``: the conjugate transpose of a matrix (a 0-d tensor as it is; PyTorch deprecates
    that)."""
    if x.ndim not in (0, 2):
        raise ShapeError(
            f"tensor.H is only supported on matrices (2-D tensors). Got {x.ndim}-D tensor."
        )
    return x.t() if x.ndim == 2 else x


def split_with_sizes(x: Tensor, split_sizes: Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of the given sizes along ``dim``; they must add up to its length."""
    sizes = [int(s) for s in split_sizes]
    if sum(sizes) != x.shape[dim] or any(s < 0 for s in sizes):
        raise ShapeError(
            f"split_with_sizes expects split_sizes to sum exactly to {x.shape[dim]} "
            f"(input tensor's size at dimension {dim}), but got split_sizes={sizes}"
        )
    return tuple(x.split(sizes, dim))


def unsafe_chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """``chunk`` (PyTorch's variant skips view checks that do not exist here)."""
    return tuple(x.chunk(chunks, dim))


def unsafe_split(x: Tensor, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """``split`` (PyTorch's variant skips view checks that do not exist here)."""
    return tuple(x.split(split_size, dim))


def bernoulli(x: Tensor, p: Optional[float] = None, *, generator: Any = None) -> Tensor:
    """0/1 draws with probabilities ``x`` (or ``p`` for every element), in ``x``'s dtype."""
    from ._tensor import bernoulli as draw

    return draw(x, p, generator=generator)


def prelu(x: Tensor, weight: Tensor) -> Tensor:
    """``F.prelu``: ``x`` where positive, ``weight * x`` elsewhere (per channel)."""
    from .nn import functional as F

    return F.prelu(x, weight)


def index_reduce(
    x: Tensor,
    dim: int,
    index: Tensor,
    source: Tensor,
    reduce: str,
    *,
    include_self: bool = True,
) -> Tensor:
    """Reduces the slices of ``source`` into the slices of ``x`` that ``index`` names along
    ``dim`` (``"prod"``, ``"mean"``, ``"amax"``, ``"amin"``): ``scatter_reduce`` with the
    index broadcast over the other dims, differentiable as it is."""
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise InvalidValueError(
            f"index_reduce(): reduce must be one of prod, mean, amax, amin, got {reduce!r}"
        )
    if index.ndim != 1:
        raise ShapeError(f"index_reduce(): index must be 1-D, got {index.ndim} dims")
    if x.ndim == 0 and source.ndim <= 1:
        # A 0-d tensor is one element along dim 0, as in PyTorch.
        one = index_reduce(
            x.reshape(1), dim, index, source.reshape(-1), reduce, include_self=include_self
        )
        return one.reshape(())
    d = dim % max(x.ndim, 1)
    if source.ndim != x.ndim or source.shape[d] != index.shape[0]:
        raise ShapeError(
            f"index_reduce(): source of shape {tuple(source.shape)} does not match the index "
            f"of {index.shape[0]} entries along dim {dim} of a {x.ndim}-D tensor"
        )
    if any(s != n for i, (s, n) in enumerate(zip(source.shape, x.shape)) if i != d):
        raise ShapeError(
            "index_reduce(): source tensor shape must match self tensor shape, excluding the "
            f"specified dimension (source {tuple(source.shape)}, self {tuple(x.shape)}, dim {dim})"
        )
    view = [1] * source.ndim
    view[d] = index.shape[0]
    full = index.reshape(view).expand(source.shape)
    return x.scatter_reduce(d, full, source, reduce, include_self=include_self)


def apply_(x: Tensor, fn: Callable[[Any], Any]) -> Tensor:
    """Calls ``fn`` on every element and writes the results back (CPU tensors only, no
    gradient: slow, as PyTorch's)."""
    _host_only(x, "apply_")
    values = np.vectorize(fn, otypes=[x.numpy().dtype])(x.numpy()) if x.numel() else x.numpy()
    x.copy_(_tensor.tensor(np.asarray(values), dtype=x.dtype))
    return x


def map_(x: Tensor, other: Tensor, fn: Callable[[Any, Any], Any]) -> Tensor:
    """Writes ``fn(a, b)`` for each element ``a`` of this tensor and ``b`` of ``other``
    (broadcast to it) back into this tensor (CPU tensors only, no gradient)."""
    _host_only(x, "map_")
    _host_only(other, "map_")
    b = np.broadcast_to(other.numpy(), tuple(x.shape))
    a = x.numpy()
    values = np.vectorize(fn, otypes=[a.dtype])(a, b) if x.numel() else a
    x.copy_(_tensor.tensor(np.asarray(values), dtype=x.dtype))
    return x


def unsqueeze_(x: Tensor, dim: int) -> Tensor:
    """Inserts a size-1 dim in place: this object becomes the view ``unsqueeze(dim)``."""
    x._become(x.unsqueeze(dim), "unsqueeze_")
    return x


def squeeze_(x: Tensor, dim: Any = None) -> Tensor:
    """Removes size-1 dims (or ``dim``) in place."""
    x._become(x.squeeze() if dim is None else x.squeeze(dim), "squeeze_")
    return x


def transpose_(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swaps two dims in place."""
    x._become(x.transpose(dim0, dim1), "transpose_")
    return x


def swapaxes_(x: Tensor, axis0: int, axis1: int) -> Tensor:
    """``transpose_`` under NumPy's name."""
    x._become(x.transpose(axis0, axis1), "swapaxes_")
    return x


def swapdims_(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """``transpose_`` under another of PyTorch's names."""
    x._become(x.transpose(dim0, dim1), "swapdims_")
    return x


def t_(x: Tensor) -> Tensor:
    """Transposes a matrix in place (0-d and 1-d tensors stay as they are)."""
    x._become(x.t(), "t_")
    return x


def resize_(x: Tensor, *sizes: Any, memory_format: Any = None) -> Tensor:
    """Gives the tensor the shape ``sizes``: the first elements in row-major order are kept
    (a view when they fit in what is there), new ones are zero (PyTorch leaves them
    uninitialised). A tensor that requires grad cannot be resized, as in PyTorch."""
    from .errors import AutogradError

    if x.requires_grad:
        raise AutogradError("cannot resize variables that require grad")
    shape = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], Sequence) else sizes
    shape = tuple(int(s) for s in shape)
    if any(s < 0 for s in shape):
        raise ShapeError(f"resize_: negative size in {shape}")
    n = int(np.prod(shape)) if shape else 1
    flat = x.reshape(-1)
    if n <= flat.shape[0]:
        new = flat[:n].reshape(shape)
    else:
        pad = _core.zeros(n - flat.shape[0], dtype=x.dtype, device=x.device)
        new = _core.cat([flat, pad]).reshape(shape)
    x._become(new, "resize_")
    return x


def resize_as_(x: Tensor, other: Tensor, memory_format: Any = None) -> Tensor:
    """``resize_`` to ``other``'s shape."""
    return resize_(x, tuple(other.shape))


def set_(x: Tensor, source: Optional[Tensor] = None) -> Tensor:
    """Makes this tensor share ``source``'s data (its shape, dtype and device too); without
    a source, an empty tensor of this dtype."""
    if source is None:
        source = _core.zeros(0, dtype=x.dtype, device=x.device)
    x._become(source.detach(), "set_")
    return x


def as_strided(
    input: Tensor, size: Sequence[int], stride: Sequence[int], storage_offset: Optional[int] = None
) -> Tensor:
    """PyTorch's ``as_strided``: a view of ``input``'s storage whose element ``i`` is storage
    position ``storage_offset + sum(i[d] * stride[d])`` (the offset defaults to ``input``'s).
    Writes show through both ways; windows may overlap (their gradients add up, as in
    PyTorch), and a position past the storage raises ``IndexOutOfRangeError``."""
    size = tuple(int(s) for s in size)
    stride = tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise ShapeError(
            f"as_strided(): mismatch in length of strides and shape ({len(stride)} vs {len(size)})"
        )
    if any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise ShapeError(f"as_strided(): negative size or stride in {size}, {stride}")
    if storage_offset is not None and int(storage_offset) < 0:
        raise ShapeError(f"as_strided(): negative storage offset {storage_offset}")
    offset = None if storage_offset is None else int(storage_offset)
    return input._as_strided(size, stride, offset)


def i0(x: Tensor) -> Tensor:
    """The modified Bessel function of the first kind, order 0 (``torch.special.i0``)."""
    from .special import i0 as special_i0  # (lazy: special imports the package's methods)

    return special_i0(x)


def _host_only(x: Tensor, op: str) -> None:
    if x.is_cuda:
        raise DeviceError(f"{op}() is only implemented on CPU tensors")


def _mvlgamma(x: Tensor, p: int) -> Tensor:
    """``torch.mvlgamma``: the log of the multivariate gamma function of dimension ``p``."""
    from .special import multigammaln

    return multigammaln(x, p)


_mvlgamma.__name__ = _mvlgamma.__qualname__ = "mvlgamma"


def _mh(x: Tensor) -> Tensor:
    """The conjugate transpose of the last two dims (``mT``: tensors are real)."""
    return x.mT


def hardshrink(x: Tensor, lambd: float = 0.5) -> Tensor:
    """``F.hardshrink``: ``x`` where ``|x| > lambd``, else 0."""
    from .nn import functional as F

    return F.hardshrink(x, lambd)


def ger(x: Tensor, vec2: Tensor) -> Tensor:
    """PyTorch's old name of ``outer``."""
    return x.outer(vec2)


def matrix_exp(x: Tensor) -> Tensor:
    """``torch.linalg.matrix_exp`` of a (batch of) square matrices."""
    from .linalg import matrix_exp as linalg_matrix_exp

    return linalg_matrix_exp(x)


def igamma(x: Tensor, other: Tensor | float) -> Tensor:
    """The regularised lower incomplete gamma function (``torch.special.gammainc``)."""
    from .special import gammainc

    return gammainc(x, other)


def igammac(x: Tensor, other: Tensor | float) -> Tensor:
    """The regularised upper incomplete gamma function (``torch.special.gammaincc``)."""
    from .special import gammaincc

    return gammaincc(x, other)


def to_dense(x: Tensor, dtype: Any = None, *, masked_grad: Optional[bool] = None) -> Tensor:
    """The tensor itself (every tensor is dense, as PyTorch returns a strided one), cast when
    ``dtype`` is given."""
    return x if dtype is None or dtype == x.dtype else x.to(dtype)


def nonzero_static(x: Tensor, *, size: int, fill_value: int = -1) -> Tensor:
    """The ``(n, ndim)`` indices of ``nonzero``, cut or padded with ``fill_value`` to exactly
    ``size`` rows, so the shape does not depend on the data."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidValueError(f"nonzero_static(): size must be a non-negative int, got {size!r}")
    found = x.nonzero()
    n = found.shape[0]
    if n >= size:
        return found[:size]
    pad = _core.full((size - n, x.dim()), fill_value, dtype=_core.int64).to(x.device)
    return _core.cat([found, pad], 0)


def angle(x: Tensor) -> Tensor:
    """The argument of a real number: 0 for ``x >= 0``, pi for ``x < 0``, nan for nan; an
    integer input gives the default float dtype. The gradient is zero, as PyTorch's for real
    tensors (``0 * clamp(x)`` keeps the graph and carries nan through)."""
    import math

    fl = x if x.is_floating_point() else x.to(_core._default_dtype())
    return _core.where(fl < 0, math.pi, 0.0).to(fl.dtype) + 0 * fl.clamp(-1, 1)


def cholesky_solve(x: Tensor, input2: Tensor, upper: bool = False) -> Tensor:
    """``torch.cholesky_solve(self, input2, upper)``."""
    from ._functional_aliases import cholesky_solve as solve

    return solve(x, input2, upper)


class TriangularSolveResult(NamedTuple):
    solution: Tensor
    cloned_coefficient: Tensor


def triangular_solve(
    b: Tensor,
    A: Tensor,  # noqa: N803 - PyTorch's name
    upper: bool = True,
    transpose: bool = False,
    unitriangular: bool = False,
) -> TriangularSolveResult:
    """``(X, A.clone())`` with ``X`` the solution of ``A X = b`` (``A^T X = b`` if
    ``transpose``) for triangular ``A`` (upper by default; a unit diagonal taken as read if
    ``unitriangular``), broadcasting batch dims (``torch.triangular_solve``, which
    ``linalg.solve_triangular`` supersedes)."""
    from .linalg import solve_triangular  # (lazy: linalg builds on the tensor methods)

    if b.dtype != A.dtype:
        raise DTypeError(
            f"triangular_solve: Expected b and A to have the same dtype, but found b of type "
            f"{b.dtype} and A of type {A.dtype} instead."
        )
    factor = A.mT if transpose else A
    solution = solve_triangular(factor, b, upper=upper != transpose, unitriangular=unitriangular)
    return TriangularSolveResult(solution, A.clone())


def cholesky_inverse(x: Tensor, upper: bool = False) -> Tensor:
    """``torch.cholesky_inverse(self, upper)``."""
    from ._functional_aliases import cholesky_inverse as inverse

    return inverse(x, upper)


def lu(x: Tensor, pivot: bool = True, get_infos: bool = False) -> tuple[Tensor, ...]:
    """``torch.lu(self, pivot, get_infos)``."""
    from ._functional_aliases import lu as factor

    return factor(x, pivot, get_infos)


def lu_solve(x: Tensor, LU_data: Tensor, LU_pivots: Tensor) -> Tensor:  # noqa: N803 - PyTorch's names
    """``torch.lu_solve(self, LU_data, LU_pivots)``."""
    from ._functional_aliases import lu_solve as solve

    return solve(x, LU_data, LU_pivots)


def unsafe_split_with_sizes(
    x: Tensor, split_sizes: Sequence[int], dim: int = 0
) -> tuple[Tensor, ...]:
    """``split_with_sizes`` (no aliasing is unsafe here)."""
    return tuple(x.split_with_sizes(split_sizes, dim))


def conj_physical(x: Tensor) -> Tensor:
    """The tensor itself (a real tensor's conjugate), as PyTorch returns."""
    return x


def conj_physical_(x: Tensor) -> Tensor:
    """Nothing to do on a real tensor; returns it."""
    return x


#: name -> function(tensor, ...), installed as methods by ``_tensor_extra``.
METHODS: dict[str, Callable[..., Any]] = {
    "get_device": get_device,
    "is_signed": is_signed,
    "is_same_size": is_same_size,
    "is_conj": is_conj,
    "is_neg": is_neg,
    "conj": conj,
    "resolve_conj": resolve_conj,
    "resolve_neg": resolve_neg,
    "adjoint": adjoint,
    "split_with_sizes": split_with_sizes,
    "unsafe_chunk": unsafe_chunk,
    "unsafe_split": unsafe_split,
    "bernoulli": bernoulli,
    "prelu": prelu,
    "index_reduce": index_reduce,
    "apply_": apply_,
    "map_": map_,
    "mvlgamma": _mvlgamma,
    "unsqueeze_": unsqueeze_,
    "squeeze_": squeeze_,
    "transpose_": transpose_,
    "swapaxes_": swapaxes_,
    "swapdims_": swapdims_,
    "t_": t_,
    "resize_": resize_,
    "resize_as_": resize_as_,
    "set_": set_,
    "share_memory_": _shared_memory.share_memory_,
    "is_shared": _shared_memory.is_shared,
    "as_strided": as_strided,
    "i0": i0,
    "hardshrink": hardshrink,
    "ger": ger,
    "matrix_exp": matrix_exp,
    "igamma": igamma,
    "igammac": igammac,
    "to_dense": to_dense,
    "nonzero_static": nonzero_static,
    "angle": angle,
    "cholesky_solve": cholesky_solve,
    "cholesky_inverse": cholesky_inverse,
    "triangular_solve": triangular_solve,
    "lu": lu,
    "lu_solve": lu_solve,
    "unsafe_split_with_sizes": unsafe_split_with_sizes,
    "conj_physical": conj_physical,
    "conj_physical_": conj_physical_,
}

#: name -> property, installed next to ``METHODS``.
PROPERTIES: dict[str, property] = {
    "is_cpu": property(_is_cpu, doc=_is_cpu.__doc__),
    "real": property(_real, doc=_real.__doc__),
    "H": property(_h, doc=_h.__doc__),
    "mH": property(_mh, doc=_mh.__doc__),
}


def _wrap_copy_(engine: Callable[..., Any]) -> Callable[..., Any]:
    def copy_(self: Tensor, src: Any, non_blocking: bool = False) -> Tensor:
        """Copies (broadcasting) ``src`` into this tensor; ``non_blocking`` is accepted for
        PyTorch's code (copies here finish before the call returns)."""
        return engine(self, src)  # type: ignore[no-any-return]

    return copy_


def _wrap_numpy(engine: Callable[..., Any]) -> Callable[..., Any]:
    def numpy(self: Tensor, *, force: bool = False) -> Any:
        """A NumPy array sharing this tensor's memory; ``force=True`` first detaches and
        moves it to the host (a copy when it was on a GPU), as PyTorch's."""
        return engine(self.detach().cpu() if force else self)

    return numpy


# Engine methods wrapped to accept PyTorch's extra keywords (name -> wrapper factory).
_WRAPPED: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "copy_": _wrap_copy_,
    "numpy": _wrap_numpy,
}


def _inplace_methods() -> dict[str, Callable[..., Any]]:
    """``name_`` for each of ``INPLACE_OF``, calling the out-of-place method as ``Tensor``
    has it when called (whichever module installed it)."""
    from ._tensor_more import _inplace_of

    def method_of(name: str) -> Callable[..., Any]:
        def call(x: Tensor, *args: Any, **kwargs: Any) -> Any:
            return getattr(x, name)(*args, **kwargs)

        call.__name__ = call.__qualname__ = name
        return call

    methods = {f"{n}_": _inplace_of(method_of(n)) for n in INPLACE_OF}
    for scan in _SCANS:
        methods[f"{scan}_"] = _same_dtype_scan(methods[f"{scan}_"])
    return methods


#: The scans whose in-place form takes ``dtype=``, which must then be the tensor's own.
_SCANS = ("cumsum", "cumprod")


def _same_dtype_scan(method: Callable[..., Any]) -> Callable[..., Any]:
    """``cumsum_``/``cumprod_`` refusing a ``dtype`` other than the tensor's, as PyTorch's
    "Bad in-place call" (writing a float64 scan back into float32 would drop the dtype the
    caller asked for)."""

    def checked(x: Tensor, dim: Any, *args: Any, **kwargs: Any) -> Any:
        dtype = kwargs.get("dtype", args[0] if args else None)
        if dtype is not None and dtype != x.dtype:
            raise DTypeError(
                f"Bad in-place call: input tensor dtype {x.dtype} and output tensor dtype "
                f"{dtype} should match"
            )
        return method(x, dim, *args, **kwargs)

    functools.update_wrapper(checked, method)
    return checked


def install(cls: type) -> None:
    """Makes ``METHODS``, the in-place forms and ``PROPERTIES`` real members of the tensor
    type, leaving alone any name an earlier module (or the engine) defines."""
    from ._tensor_extra import _as_method

    for name, fn in {**METHODS, **_inplace_methods()}.items():
        if name not in vars(cls):
            setattr(cls, name, _as_method(fn))
    for name, prop in PROPERTIES.items():
        if name not in vars(cls):
            setattr(cls, name, prop)
    for name, wrap in _WRAPPED.items():
        engine = vars(cls).get(name)
        # Only the engine's own method (a descriptor, not a function): installing twice
        # must not wrap the wrapper.
        if engine is not None and not isinstance(engine, type(_wrap_numpy)):
            wrapped = wrap(engine)
            wrapped.__qualname__ = f"Tensor.{name}"
            setattr(cls, name, wrapped)


# PyTorch's top-level in-place functions: ``torch.name_(x, ...)`` is ``x.name_(...)``.
_FUNCTION_NAMES = (
    "abs_", "acos_", "acosh_", "arccos_", "arccosh_", "arcsin_", "arcsinh_", "arctan_",
    "arctanh_", "asin_", "asinh_", "atan_", "atanh_", "ceil_", "clamp_", "clamp_max_",
    "clamp_min_", "clip_", "cos_", "cosh_", "deg2rad_", "erf_", "erfc_", "exp2_", "exp_",
    "expm1_", "fill_", "fix_", "floor_", "frac_", "gcd_", "lcm_", "ldexp_", "log10_", "log1p_",
    "log2_", "log_", "logit_", "nan_to_num_", "neg_", "negative_", "rad2deg_", "reciprocal_",
    "relu_", "round_", "rsqrt_", "sigmoid_", "sin_", "sinc_", "sinh_", "sqrt_", "square_",
    "tan_", "tanh_", "trunc_", "xlogy_", "zero_", "index_put_", "resize_as_", "i0_",
    "arctan2_", "detach_",
)  # fmt: skip

# PyTorch's top-level out-of-place functions that are the method of that name.
_PLAIN_FUNCTION_NAMES = (
    "conj", "resolve_conj", "resolve_neg", "adjoint", "get_device", "split_with_sizes",
    "unsafe_split", "unsafe_chunk", "index_reduce", "ger", "matrix_exp", "igamma", "igammac",
    "hardshrink", "nonzero_static", "angle",
)  # fmt: skip

# PyTorch's ``name_copy`` functions: the view op ``name`` whose result (or each result) is a
# contiguous copy, not a view of the input.
_COPY_OF = (
    "as_strided", "detach", "diagonal", "expand", "permute", "select", "split",
    "split_with_sizes", "squeeze", "t", "transpose", "unbind", "unfold", "unsqueeze", "view",
)  # fmt: skip


def _copy_function(name: str) -> Callable[..., Any]:
    def call(input: Tensor, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(input, Tensor):
            raise ArgumentTypeError(
                f"{name}_copy(): argument 'input' must be Tensor, not {type(input).__name__}"
            )
        from ._memory_format import contiguous_format

        out = getattr(input, name)(*args, **kwargs)
        if isinstance(out, (tuple, list)):
            return tuple(o.clone(memory_format=contiguous_format) for o in out)
        return out.clone(memory_format=contiguous_format)

    call.__name__ = call.__qualname__ = f"{name}_copy"
    call.__doc__ = f"``input.{name}(...)`` as a contiguous copy, sharing no memory with ``input``."
    return call


def _function(name: str, inplace: bool = True) -> Callable[..., Any]:
    def call(input: Tensor, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(input, Tensor):
            raise ArgumentTypeError(
                f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}"
            )
        return getattr(input, name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = (
        f"``input.{name}(...)``: in place, returning ``input``."
        if inplace
        else f"``input.{name}(...)``."
    )
    return call


def functions() -> dict[str, Callable[..., Any]]:
    """The top-level in-place functions whose method exists on ``Tensor``, and
    ``as_strided``."""
    return {
        **{n: _function(n) for n in _FUNCTION_NAMES if hasattr(Tensor, n)},
        **{n: _function(n, inplace=False) for n in _PLAIN_FUNCTION_NAMES},
        **{f"{n}_copy": _copy_function(n) for n in _COPY_OF},
        "as_strided": as_strided,
    }
