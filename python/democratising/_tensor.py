"""Tensor construction from Python data and NumPy, DLPack, and helpers used by the extension."""

from __future__ import annotations

import builtins
import itertools
from typing import Any, Callable, NamedTuple, Optional

import numpy as np

from . import _core
from ._core import Tensor
from ._memory_format import like_layout
from .errors import ArgumentTypeError, DTypeError, InvalidValueError, OverflowValueError, ShapeError


class MaxResult(NamedTuple):
    """``(values, indices)`` returned by ``max(dim)`` / ``min(dim)``."""

    values: Tensor
    indices: Tensor


_NP_OF = {
    "float32": np.float32,
    "float64": np.float64,
    "float16": np.float16,
    "int64": np.int64,
    "int32": np.int32,
    "int16": np.int16,
    "int8": np.int8,
    "uint8": np.uint8,
    "bool": np.bool_,
}


_INT64 = np.iinfo(np.int64)


def _numpy_array(data: Any) -> np.ndarray:
    """``np.array(data)`` with NumPy's own errors turned into the library's typed ones."""
    try:
        arr = np.array(data)
    except ValueError as e:
        raise ShapeError(
            f"could not make a tensor from ragged data (sequences of different lengths): {e}"
        ) from None
    if arr.dtype.kind == "O":
        if arr.size and all(isinstance(x, int) for x in arr.flat):
            big = max(arr.flat, key=lambda x: abs(int(x)))
            raise OverflowValueError(
                f"Python int {big} is out of range for int64, the widest integer dtype"
            )
        # (a DTypeError: PyTorch's RuntimeError, and a TypeError for the wrong type of data)
        bad = next((x for x in arr.flat if not isinstance(x, (int, float))), data)
        raise DTypeError(
            f"could not infer dtype of {type(bad).__name__}: a tensor is made from numbers, "
            "nested lists of them, tensors and NumPy data"
        )
    if arr.dtype.kind in "USVMmc":
        raise DTypeError(
            f"can't make a tensor from data of NumPy dtype {arr.dtype}: supported are float, "
            "int and bool data"
        )
    if arr.dtype.kind == "u" and arr.dtype.itemsize == 8 and arr.size and arr.max() > _INT64.max:
        raise OverflowValueError(
            f"value {int(arr.max())} is out of range for int64, the widest integer dtype"
        )
    return arr


_NUMBER_TYPES = frozenset({builtins.int, builtins.float, builtins.bool})
_SEQUENCE_TYPES = frozenset({list, tuple})


def _holds_numpy_float64(data: Any) -> builtins.bool:
    """Whether a nested list/tuple holds a NumPy float64 scalar or array: PyTorch infers
    float64 for ``tensor([np.float64(1.5), 2.0])`` (NumPy's dtype joins the promotion), the
    default dtype only for Python floats."""
    # The common lists of numbers and of rows of numbers are told apart by their types,
    # gathered in C (rows one level down joined in one pass).
    types = set(map(type, data))
    if types <= _NUMBER_TYPES:
        return False
    if types <= _SEQUENCE_TYPES:
        return _holds_numpy_float64(list(itertools.chain.from_iterable(data)))
    for x in data:
        if type(x) is float:  # (np.float64 subclasses float: exact type first)
            continue
        if isinstance(x, np.float64) or (isinstance(x, np.ndarray) and x.dtype == np.float64):
            return True
        if isinstance(x, (list, tuple)) and _holds_numpy_float64(x):
            return True
    return False


_NP_SCALAR_DTYPES = {
    "float16": "float16",
    "float32": "float32",
    "float64": "float64",
    "int32": "int32",
    "int16": "int16",
    "int8": "int8",
    "uint8": "uint8",
    "bool": "bool",
}


def _infer_list_dtype(data: Any) -> Optional[_core.dtype]:
    """PyTorch's ``tensor()`` inference for a list holding tensors or NumPy values: each
    element's own dtype (a tensor's, a NumPy scalar's or array's; bool, int64, or the default
    float dtype for Python numbers), joined by ``promote_types``. NumPy's joining differs
    (``[tensor(1., dtype=float16), 2]`` would be float64; PyTorch keeps float16). Other
    integer NumPy dtypes count as int64, the type such data gets alone. ``None`` for elements
    of other types (NumPy then raises its typed error). Gathered per element type, so a long
    list of NumPy scalars costs no Python call per element."""
    from ._functional_aliases import promote_types  # (lazy: that module imports this one)

    found: set[Any] = set()
    stack = [data]
    while stack:
        seq = stack.pop()
        if not seq:
            found.add(_core._default_dtype())
        for t in set(map(type, seq)):
            if issubclass(t, (list, tuple)):
                stack.extend(x for x in seq if isinstance(x, (list, tuple)))
            elif issubclass(t, Tensor):
                found.update(x.dtype for x in seq if isinstance(x, Tensor))
            elif issubclass(t, np.ndarray):
                found.update(_numpy_dtype(x.dtype) for x in seq if isinstance(x, np.ndarray))
            elif issubclass(t, np.generic):  # (before float: np.float64 subclasses it)
                found.add(_numpy_dtype(np.dtype(t)))
            elif t is builtins.bool:
                found.add(_core.bool)
            elif issubclass(t, builtins.int):
                found.add(_core.int64)
            elif issubclass(t, builtins.float):
                found.add(_core._default_dtype())
            else:
                return None
    if None in found:
        return None
    out = None
    for d in found:
        out = d if out is None else promote_types(out, d)
    return out


def _numpy_dtype(d: np.dtype) -> Optional[_core.dtype]:
    """The tensor dtype NumPy data of dtype ``d`` takes in an inferred list (``None``: none)."""
    name = _NP_SCALAR_DTYPES.get(d.name)
    if name is not None:
        return getattr(_core, name)
    return _core.int64 if d.kind in "iu" else None


_PLAIN_TYPES = frozenset({builtins.int, builtins.float, builtins.bool, list, tuple})
_MIXED_TYPES = (Tensor, np.generic)


def _holds(data: Any, cls: Any) -> builtins.bool:
    """Whether the list ``data`` has an element of type ``cls`` (its types gathered in C: a
    generator over a long list of numbers would cost more than converting it)."""
    types = set(map(type, data))
    return not types <= _PLAIN_TYPES and builtins.any(issubclass(t, cls) for t in types)


def _mixed(data: Any) -> builtins.bool:
    """Whether the list ``data`` holds tensors or NumPy scalars, whose dtypes PyTorch's
    inference joins (looked for among its elements and down its first elements: a full walk
    of nested lists of numbers would cost more than their conversion)."""
    if _holds(data, _MIXED_TYPES):
        return True
    while isinstance(data, (list, tuple)) and data:
        data = data[0]
    return isinstance(data, _MIXED_TYPES)


def _one_element_scalars(data: Any) -> Any:
    """``data`` with each one-element tensor inside it made 0-d: PyTorch reads those as
    numbers (``tensor([tensor([1.]), tensor([2.])])`` has shape ``(2,)``), as it does NumPy
    scalars; other tensors are kept (joined as nested data)."""
    if isinstance(data, Tensor):
        return data.reshape(()) if data.ndim and data.numel() == 1 else data
    if isinstance(data, (list, tuple)) and not set(map(type, data)) <= _NUMBER_TYPES:
        return [_one_element_scalars(x) for x in data]
    return data


def _to_array(
    data: Any, default_float: builtins.bool = True, deep: builtins.bool = False
) -> np.ndarray:
    """``data`` as a NumPy array; Python floats become float32 (the default dtype) unless
    ``default_float`` is off, when a requested dtype will be applied to the exact values
    (``tensor([0.7], dtype=float64)`` must hold 0.7, not float32's nearest), or the list holds
    NumPy float64 values (which keep float64, as in PyTorch). ``deep``: convert nested lists
    element by element (they may hold tensors, which NumPy cannot join, bfloat16 ones)."""
    if isinstance(data, Tensor):
        t = data.detach().cpu()
        if t.dtype == _core.bfloat16:
            t = t.float()
        return np.array(t.numpy(), copy=True)
    if isinstance(data, (list, tuple)) and (
        _holds(data, Tensor) or (deep and not set(map(type, data)).isdisjoint((list, tuple)))
    ):
        return _numpy_array([_to_array(x, default_float, deep) for x in data])
    arr = _numpy_array(data)
    is_numpy = isinstance(data, (np.ndarray, np.generic))
    if (
        default_float
        and not is_numpy
        and arr.dtype == np.float64
        and not (isinstance(data, (list, tuple)) and _holds_numpy_float64(data))
    ):
        # Python floats take the default dtype (float32 unless `set_default_dtype` changed
        # it); `tensor` casts to a half default.
        if _core._default_dtype() != _core.float64:
            arr = arr.astype(np.float32)
    if arr.dtype.kind in "iu" and arr.dtype != np.int32 and not is_numpy:
        arr = arr.astype(np.int64)
    if arr.dtype == np.uint16:
        # The unsigned integers the engine lacks widen, as from_numpy's: uint16 to int32,
        # wider ones to int64 (uint8, int8 and int16 are dtypes of their own).
        arr = arr.astype(np.int32)
    elif arr.dtype.kind == "u" and arr.dtype != np.uint8:
        arr = arr.astype(np.int64)
    return arr


def _resolve_dtype(dtype: Any) -> _core.dtype:
    """``dtype`` as written by the user (``dm.int32``, ``"int32"``, ``np.int32``) as a dtype,
    through the engine's own parser (an unknown name raises ``DTypeError`` naming it)."""
    return dtype if isinstance(dtype, _core.dtype) else _core.empty(0, dtype=dtype).dtype


def _check_fits(arr: np.ndarray, dtype: Any) -> None:
    """Values that an integer ``dtype`` cannot hold raise instead of wrapping (the same rule as
    ``full``, ``fill_`` and integer ops: ``tensor([2**40], dtype=int32)`` is an error)."""
    name = getattr(dtype, "name", None)
    if (
        name not in ("uint8", "int8", "int16", "int32", "int64")
        or arr.size == 0
        or arr.dtype.kind not in "iuf"
    ):
        return
    info = np.iinfo(name)
    lo, hi = arr.min(), arr.max()
    if arr.dtype.kind == "f":
        bad = not (np.isfinite(lo) and np.isfinite(hi)) or lo <= info.min - 1.0
        bad = bad or hi >= info.max + 1.0
    else:  # (uint8 takes -255..-1 too, wrapped: PyTorch's rule, `tensor([-1], dtype=uint8)`)
        bad = int(lo) < (-255 if name == "uint8" else info.min) or int(hi) > info.max
    if bad:
        worst = lo if (arr.dtype.kind == "f" and not np.isfinite(lo)) or lo < info.min else hi
        raise OverflowValueError(
            f"value {worst} cannot be converted to {name} without overflow "
            f"(its range is [{info.min}, {info.max}])"
        )


_CPU = _core.Device("cpu")
# NumPy dtypes (native byte order) that `tensor` keeps as they are.
_KEPT_NP_DTYPES = frozenset(map(np.dtype, _NP_OF.values()))


#: Lists up to this long are checked for one Python number type first (a scan that costs
#: less than the general path's inference; longer lists go straight to NumPy's).
_SHORT_LIST = 64


def _short_list_array(data: list[Any]) -> Optional[np.ndarray]:
    """A flat list of Python floats (default dtype float32) or of Python ints as its array,
    built in one NumPy call; ``None`` for anything else (the general path decides)."""
    kinds = set(map(type, data))
    if kinds == {float} and _core._default_dtype() == _core.float32:
        return np.array(data, dtype=np.float32)
    if kinds == {int}:
        try:
            return np.array(data, dtype=np.int64)
        except OverflowError:
            return None  # (the general path names the value that int64 can't hold)
    return None


def tensor(
    data: Any,
    dtype: Optional[_core.dtype] = None,
    device: Any = None,
    requires_grad: builtins.bool = False,
) -> Tensor:
    """A new tensor holding a copy of ``data`` (nested lists, scalars, NumPy arrays, tensors)."""
    arr = None
    if type(data) is np.ndarray and dtype is None and data.dtype in _KEPT_NP_DTYPES:
        # The common case of a NumPy batch, its dtype kept: one copy, shared with the engine.
        arr = data.copy(order="C")
    elif type(data) is list and dtype is None and 0 < len(data) <= _SHORT_LIST:
        arr = _short_list_array(data)
    if arr is not None:
        t = _core.from_numpy(arr)
        if device is not None or _core.get_default_device() != _CPU:
            t = t.to(_core.get_default_device() if device is None else device)
        return t.requires_grad_(True) if requires_grad else t
    mixed = isinstance(data, (list, tuple)) and _mixed(data)
    if mixed:
        data = _one_element_scalars(data)
    if mixed and dtype is None:
        dtype = _infer_list_dtype(data)
    arr = _to_array(data, default_float=dtype is None, deep=mixed)
    if dtype is not None and not isinstance(data, Tensor):
        dtype = _resolve_dtype(dtype)
        _check_fits(arr, dtype)
    # `from_numpy` shares memory: `arr` is already a private copy (`_to_array` always makes
    # one), so only a non-C-ordered one is copied again (np.ascontiguousarray would turn 0-d
    # data into 1-d).
    t = _core.from_numpy(arr if arr.flags.c_contiguous else np.array(arr, order="C"))
    if dtype is None and isinstance(data, Tensor):
        dtype = data.dtype
    elif dtype is None and arr.dtype.kind == "f" and not isinstance(data, (np.ndarray, np.generic)):
        default = _core._default_dtype()
        dtype = default if default in (_core.float16, _core.bfloat16) else None
    if dtype is not None:
        t = t.to(dtype=dtype)
    if device is None:
        device = _core.get_default_device()  # `set_default_device` (the CPU unless changed)
    if device != _CPU:
        t = t.to(device)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _as_operand(obj: Any) -> Tensor:
    """Converts a non-tensor operand (NumPy scalar/array, list) for a binary op."""
    if isinstance(obj, np.generic):
        return tensor(obj.item()) if obj.dtype.kind != "f" else _core.from_numpy(np.array(obj))
    return tensor(obj)


def from_dlpack(ext: Any) -> Tensor:
    """A tensor sharing memory with ``ext``: any object with ``__dlpack__`` (a NumPy array,
    a PyTorch, CuPy or JAX tensor), on the CPU or a CUDA device, or a DLPack capsule. No copy
    (except of memory its producer marks read-only); the tensor keeps the producer's memory
    alive, and writes through either are seen by both. A CUDA producer is handed the
    engine's stream, so its pending work is ordered before ours."""
    if isinstance(ext, Tensor):
        return ext
    if type(ext).__name__ == "PyCapsule":
        return _core._from_dlpack(ext)
    if not hasattr(ext, "__dlpack__"):
        raise ArgumentTypeError(
            f"from_dlpack expects an object with __dlpack__ (a tensor or array) or a DLPack "
            f"capsule, got {type(ext).__name__}"
        )
    device_type, device_id = getattr(ext, "__dlpack_device__", lambda: (1, 0))()
    # DLPack's stream for CUDA: our queue's handle, or 1 (the legacy default stream) for 0.
    stream = (_core._cuda_stream_handle(device_id) or 1) if device_type == 2 else None
    try:
        capsule = ext.__dlpack__(stream=stream, max_version=(1, 0))
    except TypeError:  # a producer from before DLPack 1.0's keywords
        capsule = ext.__dlpack__() if stream is None else ext.__dlpack__(stream=stream)
    except BufferError:
        if device_type != 1:
            raise
        # NumPy refuses to export read-only arrays through the legacy protocol: copy those.
        return _core.from_numpy(np.array(ext, copy=True))
    return _core._from_dlpack(capsule)


def _check_input(input: Any, name: str) -> None:
    """PyTorch's ``TypeError`` for a ``*_like`` given no tensor (not an ``AttributeError``
    from deep inside)."""
    if not isinstance(input, Tensor):
        raise ArgumentTypeError(
            f"{name}(): argument 'input' (position 1) must be Tensor, not {type(input).__name__}"
        )


def _like(factory: Callable[..., Tensor], name: str) -> Callable[..., Tensor]:
    """``zeros_like`` and its kin: ``factory`` (``_core.zeros``...) called with ``t``'s shape,
    and its dtype and device unless given. One definition for the five of them."""

    def like(
        input: Tensor,
        dtype: Optional[_core.dtype] = None,
        requires_grad: builtins.bool = False,
        device: Any = None,
        *,
        layout: Any = None,
        memory_format: Any = None,
    ) -> Tensor:
        del layout  # (strided, the only layout)
        _check_input(input, name)
        out = factory(input.shape, dtype=dtype or input.dtype, device=device or input.device)
        out = like_layout(out, input, memory_format)
        return out.requires_grad_() if requires_grad else out

    like.__name__ = like.__qualname__ = name
    like.__doc__ = (
        f"``{factory.__name__}`` with the shape (and by default the dtype and device) of ``input``."
    )
    return like


def _random_like(factory: Callable[..., Tensor], name: str) -> Callable[..., Tensor]:
    """``rand_like``/``randn_like``: ``_like`` with PyTorch's keyword-only ``generator=`` (a
    ``dm.Generator`` supplying the draws instead of the global generator)."""
    plain = _like(factory, name)

    def like(
        input: Tensor,
        dtype: Optional[_core.dtype] = None,
        requires_grad: builtins.bool = False,
        device: Any = None,
        *,
        generator: Any = None,
        layout: Any = None,
        memory_format: Any = None,
    ) -> Tensor:
        fmt = {"layout": layout, "memory_format": memory_format}
        if generator is None:
            return plain(input, dtype, requires_grad, device, **fmt)
        from ._tensor_more import _generator_scope  # (lazy: it imports the package's methods)

        with _generator_scope(generator, name):
            return plain(input, dtype, requires_grad, device, **fmt)

    like.__name__ = like.__qualname__ = name
    like.__doc__ = plain.__doc__ + " ``generator=`` draws from that ``dm.Generator``."
    return like


zeros_like = _like(_core.zeros, "zeros_like")
ones_like = _like(_core.ones, "ones_like")
empty_like = _like(_core.empty, "empty_like")
rand_like = _random_like(_core.rand, "rand_like")
randn_like = _random_like(_core.randn, "randn_like")


def randint_like(
    input: Tensor,
    low: builtins.int = 0,
    high: Optional[builtins.int] = None,
    *,
    generator: Any = None,
    dtype: Optional[_core.dtype] = None,
    layout: Any = None,
    device: Any = None,
    requires_grad: builtins.bool = False,
    memory_format: Any = None,
) -> Tensor:
    """``torch.randint_like``: integers uniform in ``[low, high)`` with ``input``'s shape (and
    by default its dtype and device). ``randint_like(x, high)`` or ``randint_like(x, low,
    high)``, as in PyTorch; draws come from ``dm.randint`` (so ``dm.manual_seed`` holds), or
    from ``generator`` (a ``dm.Generator``)."""
    _check_input(input, "randint_like")
    for name, v in (("low", low), ("high", high)):
        if v is None:
            continue
        if isinstance(v, (builtins.bool, builtins.float)) or not hasattr(v, "__index__"):
            raise ArgumentTypeError(
                f"randint_like(): argument '{name}' must be int, not {type(v).__name__}"
            )
    if high is None:
        low, high = 0, low
    from ._random import check_randint_range
    from ._tensor_more import _generator_scope  # (lazy: it imports the package's methods)

    check_randint_range(low, high, dtype or input.dtype)
    with _generator_scope(generator, "randint_like"):
        out = _core.randint(
            low,
            high,
            tuple(input.shape),
            dtype=dtype or input.dtype,
            device=device or input.device,
        )
    del layout  # (strided, the only layout)
    out = like_layout(out, input, memory_format)
    return out.requires_grad_() if requires_grad else out


def bernoulli(
    input: Tensor,
    p: Optional[builtins.float] = None,
    *,
    generator: Any = None,
    out: Optional[Tensor] = None,
) -> Tensor:
    """``torch.bernoulli``: 1 with probability ``input`` (or with probability ``p`` when it is
    given, ``input`` then only supplying shape, dtype and device), else 0, in ``input``'s
    dtype (``out``'s with ``out=``, which is returned). Probabilities must be floating point
    (``DTypeError`` otherwise, as PyTorch refuses integer and bool ones). Uniforms come from
    ``dm.rand`` (``dm.manual_seed`` makes draws reproducible); a ``dm.Generator`` draws from
    its own stream instead. As in PyTorch, the sample of an ``input`` that requires grad
    requires grad too, with a zero gradient."""
    if generator is not None:
        from ._tensor_more import _generator_scope  # (lazy: it imports the package's methods)

        with _generator_scope(generator, "bernoulli"):
            return bernoulli(input, p, out=out)
    if not isinstance(input, Tensor):
        raise ArgumentTypeError(
            f"bernoulli(): argument 'input' must be Tensor, not {type(input).__name__}"
        )
    if out is not None:
        from ._random_more import check_out, write_out  # (lazy: it builds on this module)

        check_out(out, (input,), "bernoulli")
        return write_out(bernoulli(input, p), out, "bernoulli")
    # float64 uniforms for float64 probabilities; float32 otherwise (half types are too coarse).
    udtype = _core.float64 if input.dtype == _core.float64 else _core.float32
    probs: Any = p
    if p is None:
        if not input.dtype.is_floating_point:
            raise DTypeError(f"bernoulli not implemented for probabilities of dtype {input.dtype}")
        probs = input.detach().to(udtype)
        if builtins.bool(((probs < 0) | (probs > 1) | (probs != probs)).any().item()):
            raise InvalidValueError("bernoulli(): all elements of input must be in [0, 1]")
    elif not 0 <= p <= 1:
        raise InvalidValueError(f"bernoulli(): p must be in [0, 1], got {p}")
    u = _core.rand(input.shape, dtype=udtype, device=input.device)
    sample = (u < probs).to(input.dtype)
    if input.requires_grad:
        from ._random_more import _zero_grad_link  # (lazy: it builds on this module)

        return _zero_grad_link(sample, [input])
    return sample


def full_like(
    input: Tensor,
    fill_value: Any,
    dtype: Optional[_core.dtype] = None,
    requires_grad: builtins.bool = False,
    device: Any = None,
    *,
    layout: Any = None,
    memory_format: Any = None,
) -> Tensor:
    del layout  # (strided, the only layout)
    _check_input(input, "full_like")
    out = _core.full(
        input.shape, fill_value, dtype=dtype or input.dtype, device=device or input.device
    )
    out = like_layout(out, input, memory_format)
    return out.requires_grad_() if requires_grad else out


def frombuffer(
    buffer: Any,
    *,
    dtype: Any,
    count: builtins.int = -1,
    offset: builtins.int = 0,
    requires_grad: builtins.bool = False,
) -> Tensor:
    """``torch.frombuffer``: a 1-d tensor over the bytes of ``buffer`` (any object with the
    buffer protocol: ``bytearray``, ``memoryview``, ``array.array``, a NumPy array), from
    ``offset`` bytes in, ``count`` elements (all that remain when negative). It shares the
    buffer's memory, so writes through either are seen by both."""
    d = _resolve_dtype(dtype)
    try:
        nbytes = memoryview(buffer).nbytes
    except TypeError:
        raise ArgumentTypeError(
            f"frombuffer(): {type(buffer).__name__} object does not implement the Python "
            "buffer protocol"
        ) from None
    np_dtype = np.dtype(np.uint16) if d == _core.bfloat16 else np.dtype(_NP_OF[d.name])
    size = np_dtype.itemsize
    if nbytes == 0 or count == 0:
        raise InvalidValueError(
            f"frombuffer(): both buffer length ({nbytes}) and count ({count}) must not be 0"
        )
    if not 0 <= offset < nbytes:
        raise InvalidValueError(
            f"frombuffer(): offset ({offset} bytes) must be non-negative and no greater than "
            f"buffer length ({nbytes} bytes) minus 1"
        )
    if count < 0:
        if (nbytes - offset) % size:
            raise InvalidValueError(
                f"frombuffer(): buffer length ({nbytes - offset} bytes) after offset ({offset} "
                f"bytes) must be a multiple of element size ({size})"
            )
        count = (nbytes - offset) // size
    elif offset + count * size > nbytes:
        raise InvalidValueError(
            f"frombuffer(): requested buffer length ({count} * {size} bytes) after offset "
            f"({offset} bytes) must not be greater than actual buffer length ({nbytes} bytes)"
        )
    arr = np.frombuffer(buffer, dtype=np_dtype, count=count, offset=offset)
    if d == _core.bfloat16:  # (NumPy has no bfloat16: its 2-byte words, re-typed in place)
        t = _core.from_numpy(arr.view(np.float16)).view(d)
    else:
        t = _core.from_numpy(arr)
    return t.requires_grad_(True) if requires_grad else t
