"""PyTorch spellings that ported programs reach for, written over existing engine ops:
``dm.compile`` (returns its argument), ``dm.multinomial``/``Tensor.multinomial``,
``Tensor.type()``, ``Tensor.is_xpu``/``is_mps``, ``dm.is_tensor``, ``dm.finfo``/``iinfo``,
``dm.set_float32_matmul_precision`` and friends. Each exists so that ``import democratising as
torch`` runs code written for PyTorch; none changes how the engine computes."""

from __future__ import annotations

import builtins
import operator
from typing import Any, Callable, Optional, TypeVar, Union

import numpy as np

from . import _core
from ._core import Device, Tensor
from .errors import (
    ArgumentTypeError,
    DTypeError,
    IndexOutOfRangeError,
    InvalidValueError,
    ShapeError,
)

_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = [
    "Generator",
    "Size",
    "are_deterministic_algorithms_enabled",
    "as_tensor",
    "compile",
    "default_generator",
    "finfo",
    "get_float32_matmul_precision",
    "iinfo",
    "is_floating_point",
    "is_tensor",
    "multinomial",
    "set_float32_matmul_precision",
    "unique",
    "use_deterministic_algorithms",
]


# ---- torch.compile ---------------------------------------------------------------------------


def compile(
    model: Optional[_F] = None,
    *,
    fullgraph: bool = False,
    dynamic: Optional[bool] = None,
    backend: Union[str, Callable[..., Any]] = "inductor",
    mode: Optional[str] = None,
    options: Optional[dict[str, Any]] = None,
    disable: bool = False,
) -> Any:
    """Returns ``model`` (a function or module) unchanged: democratising runs eagerly and has
    no graph compiler, so ``model = torch.compile(model)`` and ``@torch.compile`` /
    ``@torch.compile(mode=...)`` keep working and compute exactly what the eager model does."""
    del fullgraph, dynamic, backend, mode, options, disable
    if model is None:
        return lambda fn: fn
    return model


# ---- dtypes and type names -------------------------------------------------------------------

#: PyTorch's legacy tensor-type names (``x.type()``) per dtype.
_TYPE_NAMES = {
    "float32": "FloatTensor",
    "float64": "DoubleTensor",
    "float16": "HalfTensor",
    "bfloat16": "BFloat16Tensor",
    "int64": "LongTensor",
    "int32": "IntTensor",
    "int16": "ShortTensor",
    "int8": "CharTensor",
    "uint8": "ByteTensor",
    "bool": "BoolTensor",
}
_NAME_TO_DTYPE = {v: k for k, v in _TYPE_NAMES.items()}


def _type_name(x: Tensor) -> str:
    """``"torch.FloatTensor"``, ``"torch.cuda.LongTensor"``...: PyTorch's exact strings, so
    that ported comparisons such as ``x.type() == "torch.cuda.FloatTensor"`` keep working."""
    base = _TYPE_NAMES[x.dtype.name]
    return f"torch.cuda.{base}" if x.device.type == "cuda" else f"torch.{base}"


def _tensor_type(
    self: Tensor, dtype: Any = None, non_blocking: bool = False, **kwargs: Any
) -> Union[str, Tensor]:
    """``x.type()`` names the type as PyTorch does (``"torch.FloatTensor"``); ``x.type(dtype)``
    converts, and accepts the type names too (``"torch.cuda.LongTensor"`` also moves the
    tensor to CUDA). Returns ``self`` when nothing changes, like PyTorch."""
    del non_blocking, kwargs
    if dtype is None:
        return _type_name(self)
    if isinstance(dtype, _core.dtype):
        return self if self.dtype == dtype else self.to(dtype)
    if isinstance(dtype, str):
        parts = dtype.split(".")
        cuda = "cuda" in parts[:-1]
        name = _NAME_TO_DTYPE.get(parts[-1])
        if name is None:
            raise DTypeError(f"invalid type: {dtype!r} (known: {sorted(_NAME_TO_DTYPE)})")
        out = self if self.dtype.name == name else self.to(getattr(_core, name))
        if cuda and out.device.type != "cuda":
            out = out.to("cuda")
        elif not cuda and out.device.type == "cuda":
            out = out.to("cpu")
        return out
    if isinstance(dtype, _LegacyTensorType):
        return _tensor_type(self, dtype.__module_name__)
    raise DTypeError(f"type(): expected a dtype or a type name, got {type(dtype).__name__}")


class _LegacyTensorType(type):
    """Metaclass of PyTorch's legacy tensor types (``torch.FloatTensor``,
    ``torch.cuda.LongTensor``...): calling one builds a tensor of its dtype (from data, or
    uninitialised from sizes), and ``isinstance`` checks the dtype and device kind."""

    dtype_name: str
    is_cuda: builtins.bool
    __module_name__: str

    def __instancecheck__(cls, obj: Any) -> builtins.bool:
        return (
            isinstance(obj, Tensor)
            and obj.dtype.name == cls.dtype_name
            and (obj.device.type == "cuda") == cls.is_cuda
        )

    def __call__(cls, *args: Any, device: Any = None) -> Tensor:
        from ._tensor import tensor

        dtype = getattr(_core, cls.dtype_name)
        if len(args) == 1 and not isinstance(args[0], (int, Size)):  # data, as PyTorch reads it
            data = args[0]
            out = data.to(dtype) if isinstance(data, Tensor) else tensor(data, dtype=dtype)
        else:
            sizes = args[0] if len(args) == 1 and isinstance(args[0], Size) else args
            out = _core.zeros([int(n) for n in sizes], dtype=dtype)
        target = device if device is not None else ("cuda" if cls.is_cuda else None)
        return out if target is None else out.to(target)


def _legacy_types(cuda: builtins.bool) -> dict[str, type]:
    """``{"FloatTensor": <type>, ...}`` for the CPU (``torch.X``) or CUDA (``torch.cuda.X``)."""
    prefix = "torch.cuda." if cuda else "torch."
    out: dict[str, type] = {}
    for dtype_name, name in _TYPE_NAMES.items():
        cls = _LegacyTensorType(
            name,
            (),
            {
                "dtype_name": dtype_name,
                "is_cuda": cuda,
                "__module_name__": prefix + name,
                "__doc__": f"PyTorch's legacy ``{prefix}{name}``: a {dtype_name} tensor.",
            },
        )
        out[name] = cls
    return out


#: ``torch.FloatTensor``, ``torch.LongTensor``, ... (zeros when built from sizes).
LEGACY_TENSOR_TYPES = _legacy_types(cuda=False)
#: ``torch.cuda.FloatTensor``, ... (their tensors live on CUDA).
LEGACY_CUDA_TENSOR_TYPES = _legacy_types(cuda=True)


def is_tensor(obj: Any) -> builtins.bool:
    """Whether ``obj`` is a tensor (PyTorch's ``torch.is_tensor``)."""
    return isinstance(obj, Tensor)


def is_floating_point(input: Tensor) -> builtins.bool:
    return builtins.bool(input.dtype.is_floating_point)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a tensor, sharing memory where it can: a tensor of the requested dtype and
    device is returned as is, a NumPy array of an engine dtype is wrapped (``from_numpy``),
    another library's tensor (PyTorch, CuPy, JAX: anything with ``__dlpack__``) is shared
    through DLPack, on its own device."""
    from ._tensor import tensor

    if isinstance(data, Tensor):
        out = data
        if dtype is not None and out.dtype != dtype:
            out = out.to(dtype)
        if device is not None and out.device != Device(str(device)):
            out = out.to(device)
        return out
    if isinstance(data, np.ndarray) and dtype is None and data.dtype.kind in "fiub":
        try:
            out = _core.from_numpy(data)
        except (TypeError, ValueError, RuntimeError):
            out = tensor(data)
        # The array's memory is shared on the CPU; another device (`device=`, or the one
        # `set_default_device` chose, as PyTorch's) gets a copy there.
        if device is None:
            device = _core.get_default_device()
            return out if device.type == "cpu" else out.to(device)
        return out.to(device)
    if not isinstance(data, np.ndarray) and hasattr(data, "__dlpack__"):
        # Another library's tensor (PyTorch, CuPy, JAX), on the CPU or a GPU: shared.
        from ._tensor import from_dlpack

        return as_tensor(from_dlpack(data), dtype=dtype, device=device)
    return tensor(data, dtype=dtype, device=device)


class Size(_core._SizeBase):
    """``torch.Size``: a tensor's ``shape`` and ``size()``, a tuple with ``numel()``; like
    PyTorch's it holds only integers (anything with ``__index__``). The engine makes shapes
    with ``tuple.__new__`` (no check here on that hot path); a slice, a join with a tuple and
    a repeat of one are ``Size`` again (the base's C-level slots, as fast as a tuple's)."""

    def __new__(cls, sizes: Any = ()) -> Size:
        items = tuple(sizes)
        for i, s in enumerate(items):
            if not hasattr(type(s), "__index__"):
                raise TypeError(
                    f"Size() takes an iterable of 'int' (item {i} is '{type(s).__name__}')"
                )
        return super().__new__(cls, (operator.index(s) for s in items))

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= int(s)
        return n

    def __repr__(self) -> str:
        return f"democratising.Size({list(self)})"


class finfo:  # noqa: N801 - PyTorch's name
    """``torch.finfo(dtype)``: machine limits of a floating dtype (``bits``, ``eps``, ``max``,
    ``min``, ``tiny``/``smallest_normal``, ``resolution``), from NumPy (bfloat16 from its
    definition: 8 exponent bits, 7 mantissa bits)."""

    def __init__(self, type: Any = None) -> None:
        d = _core.float32 if type is None else type
        if not isinstance(d, _core.dtype) or not d.is_floating_point:
            raise DTypeError(f"finfo: expected a floating dtype, got {d}")
        self.dtype = d.name
        if d.name == "bfloat16":
            self.bits, self.eps, self.resolution = 16, 2.0**-7, 0.01
            self.max = float((2 - 2.0**-7) * 2.0**127)
            self.tiny = self.smallest_normal = 2.0**-126
        else:
            fi = np.finfo(np.dtype(d.name))
            # (``10 ** -precision`` as PyTorch's: NumPy's is a float32 1e-6, not quite 1e-6)
            self.bits, self.eps, self.resolution = int(fi.bits), float(fi.eps), 10.0**-fi.precision
            self.max, self.tiny = float(fi.max), float(fi.tiny)
            self.smallest_normal = float(fi.smallest_normal)
        self.min = -self.max

    def __repr__(self) -> str:
        return (
            f"finfo(resolution={self.resolution}, min={self.min}, max={self.max}, "
            f"eps={self.eps}, smallest_normal={self.smallest_normal}, tiny={self.tiny}, "
            f"dtype={self.dtype})"
        )


class iinfo:  # noqa: N801 - PyTorch's name
    """``torch.iinfo(dtype)``: ``bits``, ``max``, ``min`` of an integer dtype."""

    def __init__(self, type: Any) -> None:
        if not isinstance(type, _core.dtype) or type.is_floating_point or type.name == "bool":
            raise DTypeError(f"iinfo: expected an integer dtype, got {type}")
        ii = np.iinfo(np.dtype(type.name))
        self.bits, self.max, self.min, self.dtype = (
            int(ii.bits),
            int(ii.max),
            int(ii.min),
            type.name,
        )

    def __repr__(self) -> str:
        return f"iinfo(min={self.min}, max={self.max}, bits={self.bits}, dtype={self.dtype})"


# ---- float32 matmul precision (a setting without effect here) -------------------------------

_MATMUL_PRECISION = ["highest"]


def set_float32_matmul_precision(precision: str) -> None:
    """Accepted for PyTorch programs (``"highest"``, ``"high"``, ``"medium"``); the engine
    always multiplies float32 in full precision (it has no TF32 path)."""
    if precision not in ("highest", "high", "medium"):
        raise InvalidValueError(
            f"invalid precision {precision!r}: expected 'highest', 'high' or 'medium'"
        )
    _MATMUL_PRECISION[0] = precision


def get_float32_matmul_precision() -> str:
    return _MATMUL_PRECISION[0]


# ---- torch.Generator (a private stream of the engine's generator) -----------------------------

#: PyTorch's default seed of a new generator.
_DEFAULT_SEED = 67280421310721


#: Bytes of the engine's generator state: four 64-bit words.
_STATE_BYTES = 32


def state_tensor(words: Any) -> Tensor:
    """The engine's generator state (four unsigned 64-bit words) as the uint8 byte tensor
    PyTorch's ``get_rng_state``/``Generator.get_state`` return (little-endian words)."""
    arr = np.array([int(w) % (1 << 64) for w in words], dtype="<u8").view(np.uint8)
    return _core.from_numpy(arr)


def state_words(state: Any) -> list[int]:
    """The engine's state words of a state from ``state_tensor`` (its 32 bytes, as a tensor
    or a list), or of the int64 words (tensor or list) that earlier versions returned, for
    ``_core.set_rng_state``, which validates them; a negative word is its bits read as
    signed."""
    if isinstance(state, Tensor):
        if state.dtype.is_floating_point or state.dtype == _core.bool:
            raise DTypeError(f"RNG state must be an integer tensor, got {state.dtype}")
        if state.dtype == _core.uint8:
            state = state.detach().cpu().reshape(-1)
            if state.numel() != _STATE_BYTES:
                raise InvalidValueError(
                    f"RNG state must be {_STATE_BYTES} bytes, got {state.numel()}"
                )
            return [int(w) for w in np.ascontiguousarray(state.numpy()).view("<u8")]
        state = state.detach().cpu().reshape(-1).tolist()
    values = [int(v) for v in state]
    if len(values) == _STATE_BYTES and all(0 <= v < 256 for v in values):  # a byte list
        return [int(w) for w in np.array(values, dtype=np.uint8).view("<u8")]
    return [w + (1 << 64) if -(1 << 63) <= w < 0 else w for w in values]


def _state_for_seed(seed: int) -> list[int]:
    """The state ``manual_seed(seed)`` gives, made on this thread's own stream (the global one,
    which other threads draw from, is never touched)."""
    outer = _core._swap_thread_rng(None)
    try:
        _core._seed_thread(seed)
        return list(_core.get_rng_state())
    finally:
        _core._swap_thread_rng(outer)


class Generator:
    """``torch.Generator(device="cpu")``: its own random stream, for the functions here that
    take ``generator=`` (``multinomial``, the samplers, ``random_split``, ``DataLoader``).
    ``manual_seed`` returns the generator, so ``generator=dm.Generator().manual_seed(42)``
    works as in PyTorch. Draws use the generator's state as the drawing thread's own stream
    while they run (the same numbers as ``dm.manual_seed(seed)`` would give): other threads'
    draws are untouched, but do not share one generator between threads."""

    def __init__(self, device: Any = "cpu") -> None:
        if device is None:
            device = "cpu"
        self.device = device if isinstance(device, Device) else Device(str(device))
        self._seed = _DEFAULT_SEED
        self._state = _state_for_seed(self._seed)

    def manual_seed(self, seed: int) -> Generator:
        """Reseeds; a negative seed wraps around to unsigned 64 bits (``-1`` is 2**64 - 1),
        as PyTorch's ``initial_seed`` reports it; outside [-2**63, 2**64) it is refused, as
        PyTorch refuses it."""
        if isinstance(seed, (str, bytes, float, bool)):
            raise ArgumentTypeError(
                f"manual_seed expected an int, got {type(seed).__name__} {seed!r}"
            )
        if not -(1 << 63) <= int(seed) < (1 << 64):
            raise InvalidValueError(f"manual_seed: seed {seed} is outside [-2**63, 2**64)")
        self._seed = int(seed) % (1 << 64)
        self._state = _state_for_seed(self._seed)
        return self

    def initial_seed(self) -> int:
        return self._seed

    def seed(self) -> int:
        """Reseeds from the operating system's entropy and returns the new seed."""
        import os

        new = int.from_bytes(os.urandom(8), "little") >> 1
        self.manual_seed(new)
        return new

    def get_state(self) -> Tensor:
        """The generator's state, as a tensor (``state_tensor``) for ``set_state``."""
        return state_tensor(self._state)

    def set_state(self, new_state: Any) -> Generator:
        """Restores a state from ``get_state`` (a tensor, or the list of words that earlier
        versions returned)."""
        state = state_words(new_state)
        _core._swap_thread_rng(_core._swap_thread_rng(state))  # validated by the engine
        self._state = state
        return self

    def _active(self) -> Any:
        """A context in which the global generator draws from (and advances) this one."""
        import contextlib

        @contextlib.contextmanager
        def swap() -> Any:
            outer = _core._swap_thread_rng(self._state)
            try:
                yield
            finally:
                self._state = list(_core._swap_thread_rng(outer) or self._state)

        return swap()

    def __repr__(self) -> str:
        return f"Generator(device={self.device}, initial_seed={self._seed})"


class _DefaultGenerator(Generator):
    """``torch.default_generator``: the engine's global generator itself (what ``dm.randn``
    and friends draw from), as a ``Generator``; ``dm.manual_seed`` returns it."""

    def __init__(self) -> None:
        self.device = Device("cpu")

    def manual_seed(self, seed: int) -> Generator:
        from ._random_more import manual_seed

        manual_seed(seed)
        return self

    def initial_seed(self) -> int:
        from ._random_more import initial_seed

        return initial_seed()

    def seed(self) -> int:
        from ._random_more import seed

        return seed()

    def get_state(self) -> Tensor:
        return state_tensor(_core.get_rng_state())

    def set_state(self, new_state: Any) -> Generator:
        _core.set_rng_state(state_words(new_state))
        return self

    def _active(self) -> Any:
        import contextlib

        return contextlib.nullcontext()  # draws come from the global generator anyway

    def __repr__(self) -> str:
        return f"Generator(device=cpu, initial_seed={self.initial_seed()}) (the default one)"


default_generator: Generator = _DefaultGenerator()


# ---- deterministic algorithms (a setting recorded for PyTorch programs) -----------------------

_DETERMINISTIC = {"mode": False, "warn_only": False}


def use_deterministic_algorithms(mode: builtins.bool, *, warn_only: builtins.bool = False) -> None:
    """Accepted and recorded: the engine has no nondeterministic alternatives to switch off
    (no autotuning; reductions have a fixed order for a given device and thread count)."""
    _DETERMINISTIC.update(mode=builtins.bool(mode), warn_only=builtins.bool(warn_only))


def are_deterministic_algorithms_enabled() -> builtins.bool:
    return _DETERMINISTIC["mode"]


def is_deterministic_algorithms_warn_only_enabled() -> builtins.bool:
    return _DETERMINISTIC["warn_only"]


# ---- multinomial -----------------------------------------------------------------------------


def multinomial(
    input: Tensor,
    num_samples: int,
    replacement: builtins.bool = False,
    *,
    generator: Any = None,
    out: Optional[Tensor] = None,
) -> Tensor:
    """Draws ``num_samples`` category indices from each row of (unnormalised, non-negative)
    probabilities ``input`` (1-D or 2-D), as int64 on ``input``'s device. Uniforms come from
    the engine's global generator (``dm.rand``), so ``dm.manual_seed`` makes draws
    reproducible; a ``dm.Generator`` draws from its own stream instead. With replacement:
    inverse CDF; without: the Gumbel-top-k trick (keys ``log(u) / p``, largest
    ``num_samples`` kept), which samples sequentially without replacement in distribution."""
    if isinstance(generator, Generator):
        with generator._active():
            return multinomial(input, num_samples, replacement, out=out)
    if not isinstance(input, Tensor):
        raise ArgumentTypeError(
            f"multinomial(): argument 'input' must be Tensor, not {type(input).__name__}"
        )
    if input.ndim not in (1, 2):
        raise InvalidValueError(f"prob_dist must be 1 or 2 dim, got {input.ndim}")
    if not input.dtype.is_floating_point:
        raise DTypeError(
            f"multinomial only supports floating-point dtypes for input, got {input.dtype}"
        )
    try:  # (an int, a NumPy integer, an integer 0-d tensor; not 2.0 or True, as PyTorch)
        if isinstance(num_samples, builtins.bool):
            raise TypeError
        k = operator.index(num_samples)
    except TypeError:
        raise ArgumentTypeError(
            f"multinomial(): argument 'num_samples' must be int, not {type(num_samples).__name__}"
        ) from None
    if k <= 0:
        raise InvalidValueError(f"cannot sample n_sample <= 0 samples, got {k}")
    if out is not None:
        from ._random_more import check_out

        check_out(out, (), "multinomial")
        if out.dtype != _core.int64:
            raise DTypeError(f"multinomial expects Long tensor out, got: {out.dtype}")
    n = input.shape[-1]
    if not replacement and k > n:
        raise InvalidValueError(
            f"cannot sample n_sample > prob_dist.size(-1) samples without replacement ({k} > {n})"
        )
    if n == 0:  # (with replacement: nothing to draw from)
        raise InvalidValueError("invalid multinomial distribution (sum of probabilities <= 0)")
    p = input.detach().cpu().to(_core.float64).numpy().reshape(-1, n)
    rows = p.shape[0]
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise InvalidValueError("probability tensor contains either `inf`, `nan` or element < 0")
    if np.any(p.sum(axis=1) <= 0):
        raise InvalidValueError("invalid multinomial distribution (sum of probabilities <= 0)")
    if rows == 0:  # (a batch of no distributions: no samples, as PyTorch)
        idx = np.zeros((0, k), dtype=np.int64)
    elif replacement:
        u = _core.rand(rows, k, dtype=_core.float64).numpy()
        cdf = np.cumsum(p, axis=1)
        cdf /= cdf[:, -1:]
        idx = np.stack([np.searchsorted(cdf[r], u[r], side="right") for r in range(rows)])
        # A category of probability zero is never drawn, even at the cdf's flat steps.
        idx = np.minimum(idx, n - 1)
    else:
        if np.any((p > 0).sum(axis=1) < k):
            raise InvalidValueError(
                "invalid multinomial distribution (with replacement=False, not enough "
                "non-negative category to sample)"
            )
        u = _core.rand(rows, n, dtype=_core.float64).numpy()
        u = np.clip(u, np.finfo(np.float64).tiny, None)
        with np.errstate(divide="ignore"):
            keys = np.where(p > 0, np.log(u) / p, -np.inf)
        idx = np.argsort(-keys, axis=1, kind="stable")[:, :k]
    res = _core.from_numpy(np.ascontiguousarray(idx.astype(np.int64)))
    if input.ndim == 1:
        res = res.reshape(k)
    if input.device.type != "cpu":
        res = res.to(input.device)
    if out is not None:
        from ._random_more import write_out

        return write_out(res, out, "multinomial")
    return res


def unique(
    input: Tensor,
    sorted: builtins.bool = True,
    return_inverse: builtins.bool = False,
    return_counts: builtins.bool = False,
    dim: Optional[int] = None,
) -> Any:
    """The distinct values of ``input`` (sorted), as ``torch.unique``: with ``return_inverse``
    also each element's index into them, with ``return_counts`` how often each occurs (int64);
    with ``dim``, the distinct slices along it. Computed on the host with NumPy; like
    PyTorch's, the result carries no gradient."""
    del sorted  # NumPy's unique is always sorted, which PyTorch allows for sorted=False too
    if not isinstance(input, Tensor):
        raise ArgumentTypeError(
            f"unique(): argument 'input' must be Tensor, not {type(input).__name__}"
        )
    host = input.detach().cpu()
    low = host.dtype in (_core.float16, _core.bfloat16)
    arr = np.asarray((host.float() if low else host).numpy()).reshape(tuple(input.shape))
    if dim is not None:
        if arr.ndim == 0:
            raise IndexOutOfRangeError(f"unique(): dim {dim} is out of range for a 0-d tensor")
        if not -arr.ndim <= dim < arr.ndim:
            raise IndexOutOfRangeError(
                f"unique(): dim {dim} is out of range for a tensor of {arr.ndim} dims"
            )
        dim = dim % arr.ndim
        if any(size == 0 for i, size in enumerate(arr.shape) if i != dim):
            raise ShapeError(
                "unique(): there are 0 sized dimensions, and they aren't selected, so unique "
                "cannot be applied"
            )
    # equal_nan=False: as in PyTorch, every NaN is a distinct value (sorted last).
    values, inverse, counts = np.unique(
        arr, return_inverse=True, return_counts=True, axis=dim, equal_nan=False
    )

    def back(a: np.ndarray, dtype: Any) -> Tensor:
        t = _core.from_numpy(np.ascontiguousarray(a)).reshape(a.shape)  # (keeps a 0-d shape)
        if dtype is not None and t.dtype != dtype:
            t = t.to(dtype)
        return t if input.device.type == "cpu" else t.to(input.device)

    out = back(values, input.dtype)
    extra = []
    if return_inverse:
        shape = input.shape if dim is None else (input.shape[dim],)
        extra.append(back(inverse.reshape(shape).astype(np.int64), None))
    if return_counts:
        extra.append(back(counts.astype(np.int64), None))
    return (out, *extra) if extra else out


def _install(cls: type) -> None:
    """Adds the tensor methods and properties (unless the engine already defines them)."""
    extra: dict[str, Any] = {
        "type": _tensor_type,
        "multinomial": lambda self, num_samples, replacement=False, *, generator=None: multinomial(
            self, num_samples, replacement, generator=generator
        ),
        "is_xpu": property(lambda self: False, doc="Always False: no Intel GPU backend."),
        "is_mps": property(lambda self: False, doc="Always False: no Apple GPU backend."),
        "is_meta": property(lambda self: False, doc="Always False: no meta tensors."),
        "is_sparse": property(lambda self: False, doc="Always False: tensors are dense."),
        "is_quantized": property(lambda self: False, doc="Always False."),
        "is_complex": lambda self: False,
        "unique": lambda self, sorted=True, return_inverse=False, return_counts=False, dim=None: (
            unique(self, sorted, return_inverse, return_counts, dim)
        ),
    }
    for name, value in extra.items():
        if name not in vars(cls):
            setattr(cls, name, value)


_install(Tensor)
