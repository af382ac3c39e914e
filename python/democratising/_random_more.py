"""More of PyTorch's random-number API, written in Python over the engine's uniform and normal
draws: the free functions ``normal`` (all four of PyTorch's overloads), ``poisson``, ``seed``,
``initial_seed`` and a ``manual_seed`` that remembers its seed; the in-place fills
``random_``/``cauchy_``/``log_normal_``/``geometric_`` (``METHODS``, merged into
``_tensor_extra.METHODS`` and installed on ``Tensor``); and ``uniform_``/``normal_`` with
PyTorch's ``from``/``to`` bounds check and ``generator=`` in place of the engine's methods
(``OVERRIDES``).

Every draw comes from the engine's global generator (``dm.rand``/``dm.randn``/``dm.randint``),
so ``dm.manual_seed`` makes them reproducible; with ``generator=`` a ``dm.Generator`` supplies
them instead (``_tensor_more._generator_scope``), leaving the global stream untouched. Values
that need more than a transform of the draws (Poisson's inversion and rejection steps) are
computed on the host with NumPy from engine uniforms. As in PyTorch, a sample is not
differentiated: ``normal``/``poisson`` of tensors that require grad give a result that requires
grad with a zero gradient."""

from __future__ import annotations

import builtins
import math
import operator
import os
import threading
import warnings
from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np

from . import _core
from ._core import Tensor
from ._grad_mode import no_grad
from ._tensor_extra import _host, _sizes, broadcast_shapes
from ._tensor_more import _generator_scope
from .errors import ArgumentTypeError, AutogradError, DTypeError, InvalidValueError

_Number = Union[int, float]

# ---- seeds -----------------------------------------------------------------------------------

#: The seed the global generator was last seeded with through ``manual_seed``/``seed``.
_INITIAL_SEED = [0]

#: Per thread: ``seed``, set in a thread that has a generator of its own (a data-loader worker,
#: ``_seed_thread``), whose ``manual_seed``/``initial_seed`` then concern that generator only,
#: as a PyTorch worker process's do.
_THREAD = threading.local()


def _seed_thread(seed: Optional[int]) -> None:
    """Gives the calling thread a generator of its own seeded with ``seed`` (``None``: back to
    the global one) and records the seed for this thread's ``initial_seed``."""
    _core._seed_thread(seed)
    _THREAD.seed = None if seed is None else int(seed) % (1 << 64)


def manual_seed(seed: int) -> Any:
    """Seeds the global generator (negative seeds wrap around to unsigned 64 bits), remembers
    the seed for ``initial_seed`` and returns ``dm.default_generator``, as PyTorch's. In a
    loader worker thread it seeds (and remembers) that worker's own generator instead."""
    from ._pytorch_compat import default_generator

    if isinstance(seed, float) and seed.is_integer():
        seed = int(seed)  # (PyTorch's ``int(seed)``: ``manual_seed(1.0)`` seeds with 1)
    _core.manual_seed(seed)
    if getattr(_THREAD, "seed", None) is not None:
        _THREAD.seed = int(seed) % (1 << 64)
    else:
        _INITIAL_SEED[0] = int(seed) % (1 << 64)
    return default_generator


def seed() -> int:
    """Seeds the global generator with a non-deterministic seed (from the operating system's
    entropy) and returns it, as ``torch.seed``."""
    new = int.from_bytes(os.urandom(8), "little") >> 1
    manual_seed(new)
    return new


def initial_seed() -> int:
    """The seed the global generator was last seeded with by ``dm.manual_seed`` or
    ``dm.seed`` (at import, a non-deterministic one, as ``torch.initial_seed``); in a loader
    worker thread, that worker's seed (``get_worker_info().seed`` unless reseeded there)."""
    own = getattr(_THREAD, "seed", None)
    return _INITIAL_SEED[0] if own is None else int(own)


# The engine seeds itself from the clock on first use; seed it now with a known seed instead,
# so that ``initial_seed`` can report it.
seed()


# ---- helpers ---------------------------------------------------------------------------------


def _float_dtype(x: Tensor, op: str) -> None:
    if not x.dtype.is_floating_point:
        raise DTypeError(f"{op} not implemented for {x.dtype}: needs a floating-point tensor")


def _uniforms(shape: Sequence[int], dtype: Any, device: Any) -> Tensor:
    """Uniforms in [0, 1) from the active generator, float64 for float64 else float32."""
    udtype = _core.float64 if dtype == _core.float64 else _core.float32
    return _core.rand(shape, dtype=udtype, device=device)


def _zero_grad_link(out: Tensor, inputs: Sequence[Any]) -> Tensor:
    """``out`` recorded as a function of the tensors among ``inputs`` that require grad, with a
    zero gradient (PyTorch's derivative of a sample with respect to its parameters)."""
    ins = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not ins or not _core.is_grad_enabled():
        return out

    def backward(grad: Tensor) -> list[Any]:
        return [_core.zeros(t.shape, dtype=t.dtype, device=t.device) for t in ins]

    return _core._record_function(out, ins, backward, differentiable=True)


def check_out(out: Any, inputs: Sequence[Any], op: str) -> None:
    """PyTorch's refusals for ``out=``: not a tensor, or autograd asked of it (``out`` or an
    input requiring grad while grad mode is on)."""
    if not isinstance(out, Tensor):
        raise ArgumentTypeError(f"{op}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if _core.is_grad_enabled() and (
        out.requires_grad or builtins.any(isinstance(t, Tensor) and t.requires_grad for t in inputs)
    ):
        raise AutogradError(
            f"{op}(): functions with out=... arguments don't support automatic "
            "differentiation, but one of the arguments requires grad."
        )


def write_out(value: Tensor, out: Tensor, op: str) -> Tensor:
    """Writes ``value`` into ``out`` (converted to ``out``'s dtype) and returns ``out``. An
    empty ``out`` is resized to ``value``'s shape, as PyTorch does; one that holds elements
    must already have that shape (PyTorch resizes it too, with a deprecation warning)."""
    shape = tuple(value.shape)
    if tuple(out.shape) != shape:
        if out.numel() != 0:
            warnings.warn(
                f"{op}(): an output with one or more elements was resized since it had shape "
                f"{list(out.shape)}, which does not match the required output shape "
                f"{list(shape)}. This behavior is deprecated; resize it with "
                "Tensor.resize_(0) first.",
                UserWarning,
                stacklevel=3,
            )
        out.resize_(*shape)
    with no_grad():
        out.copy_(value.detach().to(out.dtype))
    return out


def _write_out(value: Tensor, out: Optional[Tensor], op: str) -> Tensor:
    return value if out is None else write_out(value, out, op)


# ---- normal and poisson ----------------------------------------------------------------------


def normal(
    mean: Union[Tensor, _Number],
    std: Union[Tensor, _Number] = 1.0,
    size: Optional[Sequence[int]] = None,
    *,
    generator: Any = None,
    out: Optional[Tensor] = None,
    dtype: Any = None,
    layout: Any = None,
    device: Any = None,
    pin_memory: bool = False,
    requires_grad: bool = False,
) -> Tensor:
    """Samples of normal distributions, as ``torch.normal``:

    * ``normal(mean, std)`` with either or both tensors: one sample per element of their
      broadcast shape, in their (promoted, floating-point) dtype;
    * ``normal(mean, std, size, *, dtype=None, device=None, requires_grad=False)`` with two
      numbers: a tensor of ``size`` (the default dtype unless given).

    ``std`` must be >= 0 (``InvalidValueError``). Values are ``mean + std * eps`` with ``eps``
    from ``dm.randn`` (or ``generator``); ``out=`` receives them. A result of tensors that
    require grad requires grad too, with a zero gradient, as in PyTorch."""
    del layout, pin_memory  # strided, pageable: the only kinds there are
    tensors = [v for v in (mean, std) if isinstance(v, Tensor)]
    for name, v in (("mean", mean), ("std", std)):
        if not isinstance(v, (Tensor, int, float)) or isinstance(v, bool):
            raise ArgumentTypeError(
                f"normal(): argument '{name}' must be Tensor or float, not {type(v).__name__}"
            )
    if not tensors:
        if size is None:
            raise ArgumentTypeError(
                "normal(): with a float mean and std, the size argument is required"
            )
        if not std >= 0:  # type: ignore[operator]
            raise InvalidValueError(f"normal expects std >= 0.0, but found std {std}")
        shape = _sizes((size,))
        if out is not None:
            check_out(out, (), "normal")
            if dtype is not None and dtype != out.dtype:
                raise DTypeError(
                    f"normal(): dtype {dtype} does not match dtype of out parameter ({out.dtype})"
                )
            dtype = out.dtype  # (PyTorch samples in out's dtype)
        dt = dtype or _core._default_dtype()
        if not dt.is_floating_point:
            raise DTypeError(f"normal: expected a floating-point dtype, got {dt}")
        with _generator_scope(generator, "normal"):
            eps = _core.randn(shape, dtype=dt, device=device)
        value = eps * float(std) + float(mean)  # type: ignore[arg-type]
        value = _write_out(value, out, "normal")
        return value.requires_grad_() if requires_grad and out is None else value
    if size is not None or dtype is not None or device is not None or requires_grad:
        raise ArgumentTypeError(
            "normal(): size, dtype, device and requires_grad go only with a float mean and std"
        )
    # PyTorch samples in mean's dtype (std's when mean is a number).
    dt = mean.dtype if isinstance(mean, Tensor) else std.dtype  # type: ignore[union-attr]
    if not dt.is_floating_point:
        raise DTypeError(f"normal not implemented for {dt}: needs a floating-point mean or std")
    if out is not None:
        check_out(out, tensors, "normal")
        if not out.dtype.is_floating_point:
            raise DTypeError(f"normal not implemented for out of dtype {out.dtype}")
        dt = out.dtype  # (PyTorch samples in out's dtype)
    if isinstance(std, Tensor):
        s = _host(std)
        if s.size and not np.all(s >= 0):
            raise InvalidValueError("normal expects all elements of std >= 0.0")
    elif not std >= 0:
        raise InvalidValueError(f"normal expects std >= 0.0, but found std {std}")
    shape = broadcast_shapes(*(t.shape for t in tensors))
    dev = tensors[0].device
    with _generator_scope(generator, "normal"):
        eps = _core.randn(shape, dtype=dt, device=dev)
    m = mean.detach().to(dt) if isinstance(mean, Tensor) else float(mean)
    sd = std.detach().to(dt) if isinstance(std, Tensor) else float(std)
    value = eps * sd + m
    if tuple(value.shape) != tuple(shape):  # (two numbers-as-0-d: keep the broadcast shape)
        value = value.expand(shape)
    value = _zero_grad_link(value.contiguous(), tensors)
    return _write_out(value, out, "normal")


def _poisson_small(lam: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inversion (sequential search of the CDF), one uniform per rate; for rates below 10."""
    k = np.zeros(lam.shape, dtype=np.float64)
    p = np.exp(-lam)
    cdf = p.copy()
    active = u > cdf
    while active.any():
        k[active] += 1
        p[active] *= lam[active] / k[active]
        cdf[active] += p[active]
        active &= (u > cdf) & (p > 0)
    return k


_lgamma = np.frompyfunc(math.lgamma, 1, 1)


def _poisson_large(lam: np.ndarray) -> np.ndarray:
    """Hörmann's transformed rejection (PTRS, as NumPy's) for rates of 10 or more: rounds of
    two engine uniforms per still-rejected rate until every rate has a sample."""
    k = np.zeros(lam.shape, dtype=np.float64)
    todo = np.arange(lam.size)
    slam, loglam = np.sqrt(lam), np.log(lam)
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    invalpha = 1.1239 + 1.1328 / (b - 3.4)
    vr = 0.9277 - 3.6224 / (b - 2)
    while todo.size:
        uv = _host(_core.rand(2 * todo.size, dtype=_core.float64)).reshape(2, -1)
        uu, v = uv[0] - 0.5, uv[1]
        us = 0.5 - np.abs(uu)
        at = (a[todo], b[todo], lam[todo], invalpha[todo], vr[todo], loglam[todo])
        ai, bi, li, ia, vri, lli = at
        kk = np.floor((2 * ai / np.maximum(us, 1e-300) + bi) * uu + li + 0.43)
        quick = (us >= 0.07) & (v <= vri)
        possible = ~quick & (kk >= 0) & ~((us < 0.013) & (v > us))
        ok = quick.copy()
        if possible.any():
            kp = kk[possible]
            lhs = np.log(v[possible]) + np.log(ia[possible])
            lhs -= np.log(ai[possible] / (us[possible] ** 2) + bi[possible])
            rhs = -li[possible] + kp * lli[possible] - _lgamma(kp + 1).astype(np.float64)
            ok[possible] = lhs <= rhs
        k[todo[ok]] = kk[ok]
        todo = todo[~ok]
    return k


def poisson(input: Tensor, generator: Any = None) -> Tensor:
    """One sample of the Poisson distribution of each rate in ``input`` (a floating-point
    tensor of non-negative, finite rates), in ``input``'s dtype, shape and device, as
    ``torch.poisson``. Rates below 10 are sampled by inversion from one uniform each, larger
    ones by transformed rejection (PTRS); the uniforms come from ``dm.rand`` (``dm.manual_seed``)
    or ``generator``, so draws are reproducible."""
    if not isinstance(input, Tensor):
        raise ArgumentTypeError(
            f"poisson(): argument 'input' must be Tensor, not {type(input).__name__}"
        )
    _float_dtype(input, "poisson")
    lam = np.asarray(_host(input), dtype=np.float64).reshape(-1)
    if lam.size and not np.all(lam >= 0):
        raise InvalidValueError("invalid Poisson rate, expected rate to be non-negative")
    if lam.size and not np.all(np.isfinite(lam)):
        raise InvalidValueError("invalid Poisson rate, expected a finite rate")
    k = np.zeros(lam.size, dtype=np.float64)
    small = lam < 10
    with _generator_scope(generator, "poisson"):
        n_small = int(small.sum())
        if n_small:
            u = _host(_core.rand(n_small, dtype=_core.float64))
            k[small] = _poisson_small(lam[small], u)
        if n_small < lam.size:
            k[~small] = _poisson_large(lam[~small])
    value = _core.from_numpy(k.reshape(tuple(input.shape))).to(input.dtype)
    if str(input.device) != "cpu":
        value = value.to(input.device)
    return _zero_grad_link(value, [input])


# ---- in-place fills --------------------------------------------------------------------------

_ENGINE_UNIFORM = Tensor.uniform_
_ENGINE_NORMAL = Tensor.normal_

#: float dtype -> its largest finite value: ``uniform_``'s bounds must lie within it.
_FLOAT_MAX = {
    _core.float64: 1.7976931348623157e308,
    _core.float32: 3.4028234663852886e38,
    _core.float16: 65504.0,
    _core.bfloat16: 3.3895313892515355e38,
}


def uniform_(
    self: Tensor, from_: float = 0.0, to: float = 1.0, *, generator: Any = None, **kwargs: Any
) -> Tensor:
    """Fills with samples of U(``from_``, ``to``) (PyTorch's ``uniform_(from, to)``), drawn
    from the global generator or ``generator``. As PyTorch, raises ``InvalidValueError`` for
    ``from_ > to``, a bound that is not finite in the tensor's dtype (which would fill inf or
    NaN) and ``to - from_`` beyond the dtype's largest value. PyTorch's keyword ``from``
    (``**{"from": 2.0}``) is accepted as well as ``from_``."""
    if kwargs:
        if set(kwargs) != {"from"}:
            extra = ", ".join(sorted(set(kwargs) - {"from"}))
            raise ArgumentTypeError(f"uniform_() got an unexpected keyword argument {extra}")
        from_ = kwargs["from"]
    if from_ > to:
        raise InvalidValueError(
            f"uniform_ expects to return a [from, to) range, but found from={from_} > to={to}"
        )
    top = _FLOAT_MAX.get(self.dtype)
    if top is not None:
        for name, v in (("from", from_), ("to", to)):
            if not -top <= v <= top:  # (also NaN)
                raise InvalidValueError(f"uniform_: {name} is out of bounds for {self.dtype}")
        if to - from_ > top:
            raise InvalidValueError(
                f"uniform_ expects to-from <= the largest {self.dtype}, but found to={to} and "
                f"from={from_} which result in to-from to exceed the limit"
            )
    with _generator_scope(generator, "uniform_"):
        _ENGINE_UNIFORM(self, from_, to)
    return self


def normal_(self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
    """Fills with samples of N(``mean``, ``std``²), drawn from the global generator or
    ``generator``; ``std < 0`` raises ``InvalidValueError``."""
    if not std >= 0:
        raise InvalidValueError(f"normal expects std >= 0.0, but found std {std}")
    with _generator_scope(generator, "normal_"):
        _ENGINE_NORMAL(self, mean, std)
    return self


class _Unset(int):
    """The default of ``random_``'s bounds (an ``int``, as the stubs type them): tells
    ``random_(to)`` from ``random_(from, None)``."""

    def __repr__(self) -> str:
        return "<unset>"


_UNSET: Any = _Unset(0)

_INT_RANGES = {
    _core.int64: (-(1 << 63), (1 << 63) - 1),
    _core.int32: (-(1 << 31), (1 << 31) - 1),
    _core.int16: (-(1 << 15), (1 << 15) - 1),
    _core.int8: (-(1 << 7), (1 << 7) - 1),
    _core.uint8: (0, (1 << 8) - 1),
    _core.bool: (0, 1),
}
#: float dtype -> 2**digits: the largest range of integers it holds exactly.
_FLOAT_TOPS = {
    _core.float64: 1 << 53,
    _core.float32: 1 << 24,
    _core.float16: 1 << 11,
    _core.bfloat16: 1 << 8,
}

#: The largest finite value of each floating dtype: ``random_``'s bounds must lie within it
#: (``random_(0, 70000)`` on float16 would write infinities).
_FLOAT_MAX = {
    _core.float64: 1.7976931348623157e308,
    _core.float32: 3.4028234663852886e38,
    _core.float16: 65504.0,
    _core.bfloat16: 3.3895313892515355e38,
}


def _random_ints(low: int, high: int, shape: Sequence[int], device: Any) -> Tensor:
    """int64 integers uniform in [low, high] (inclusive), any bounds within int64."""
    if high < (1 << 63) - 1:
        return _core.randint(low, high + 1, tuple(shape), dtype=_core.int64, device=device)
    if low > -(1 << 63):  # high is int64's max: shift the range down by one
        return _core.randint(low - 1, high, tuple(shape), dtype=_core.int64, device=device) + 1
    halves = _host(_core.randint(0, 1 << 32, (2, *shape), dtype=_core.int64))
    bits = (halves[0].astype(np.uint64) << np.uint64(32)) | halves[1].astype(np.uint64)
    return _core.from_numpy(np.ascontiguousarray(bits.view(np.int64))).to(device)


def random_(
    self: Tensor,
    from_: Any = _UNSET,
    to: Any = _UNSET,
    *,
    generator: Any = None,
    **kwargs: Any,
) -> Tensor:
    """Fills with integers uniform in [``from_``, ``to``), as PyTorch's ``random_``:
    ``random_(to)`` draws from [0, ``to``); ``random_(from, None)`` from [``from``, the largest
    value of the dtype] (for floating-point dtypes, ``2**digits``: 2**24 for float32);
    ``random_()`` from [0, that largest value]. PyTorch's keyword ``from`` (a Python keyword,
    so passed as ``**{"from": 2}``, with ``to``) is accepted as well as ``from_``. Bounds must
    be integers (``ArgumentTypeError``, a ``TypeError``, otherwise); bounds outside the dtype,
    or ``from >= to``, raise ``InvalidValueError``."""
    if kwargs:
        if set(kwargs) != {"from"} or from_ is not _UNSET:
            extra = ", ".join(sorted(set(kwargs) - {"from"})) or "from (given twice)"
            raise ArgumentTypeError(f"random_() got an unexpected keyword argument: {extra}")
        if to is _UNSET:
            raise ArgumentTypeError("random_(): keyword 'from' needs 'to' as well")
        from_ = kwargs["from"]
    if to is _UNSET:
        from_, to = (0, None) if from_ is _UNSET else (0, from_)
    elif from_ is _UNSET:
        from_ = 0
    for name, v in (("from", from_), ("to", to)):
        if v is None:
            continue
        try:
            if isinstance(v, bool):
                raise TypeError
            operator.index(v)  # (ints, NumPy integers, integer 0-d tensors; not 5.0)
        except TypeError:
            raise ArgumentTypeError(
                f"random_(): argument '{name}' must be int, not {type(v).__name__}"
            ) from None
    dt = self.dtype
    if dt in _INT_RANGES:
        lo, top = _INT_RANGES[dt]
    else:
        lo, top = -_FLOAT_TOPS[dt], _FLOAT_TOPS[dt]
    low = int(from_)
    high = top if to is None else int(to) - 1
    if to is not None and low >= int(to):
        raise InvalidValueError(
            f"random_ expects 'from' to be less than 'to', but got from={low} >= to={int(to)}"
        )
    if dt in _INT_RANGES and not lo <= low <= top:
        raise InvalidValueError(f"random_: from={low} is out of bounds for {dt}")
    if dt in _INT_RANGES and not lo <= high <= top:
        raise InvalidValueError(f"random_: to - 1 = {high} is out of bounds for {dt}")
    if dt in _FLOAT_MAX and not -_FLOAT_MAX[dt] <= low <= high <= _FLOAT_MAX[dt]:
        bound = "from" if not -_FLOAT_MAX[dt] <= low <= _FLOAT_MAX[dt] else "to - 1"
        raise InvalidValueError(f"random_: {bound} is out of bounds for {dt}")
    if not -(1 << 63) <= low <= high <= (1 << 63) - 1:
        raise InvalidValueError(f"random_: the range [{low}, {high}] is outside int64")
    with _generator_scope(generator, "random_"):
        ints = _random_ints(low, high, tuple(self.shape), self.device)
    self.copy_(ints.to(dt))
    return self


def _from_host(values: np.ndarray, like: Tensor) -> Tensor:
    """Host samples as a tensor of ``like``'s shape, dtype and device (``from_numpy`` makes a
    0-d array a 1-element vector, which ``copy_`` would not accept into a 0-d tensor)."""
    t = _core.from_numpy(np.ascontiguousarray(values)).reshape(tuple(like.shape))
    return t.to(like.dtype).to(like.device)


def cauchy_(
    self: Tensor, median: float = 0.0, sigma: float = 1.0, *, generator: Any = None
) -> Tensor:
    """Fills with samples of the Cauchy distribution ``median + sigma * tan(pi * (u - 1/2))``
    (``u`` uniform from the global generator or ``generator``); ``sigma`` must be > 0."""
    _float_dtype(self, "cauchy_")
    if not sigma > 0:
        raise InvalidValueError(f"cauchy_ expects sigma > 0.0, but found sigma={sigma}")
    with _generator_scope(generator, "cauchy_"):
        u = _host(_uniforms(self.shape, self.dtype, "cpu")).astype(np.float64)
    value = median + sigma * np.tan(np.pi * (u - 0.5))
    self.copy_(_from_host(value, self))
    return self


def log_normal_(
    self: Tensor, mean: float = 1.0, std: float = 2.0, *, generator: Any = None
) -> Tensor:
    """Fills with samples of the log-normal distribution ``exp(mean + std * eps)`` (``eps``
    standard normal from the global generator or ``generator``); ``std`` must be > 0."""
    _float_dtype(self, "log_normal_")
    if not std > 0:
        raise InvalidValueError(f"log_normal_ expects std > 0.0, but found std={std}")
    with _generator_scope(generator, "log_normal_"):
        eps = _core.randn(self.shape, dtype=self.dtype, device=self.device)
    self.copy_((eps * float(std) + float(mean)).exp())
    return self


def geometric_(self: Tensor, p: float, *, generator: Any = None) -> Tensor:
    """Fills with samples of the geometric distribution (the number of Bernoulli trials up to
    and including the first success, success probability ``p`` in (0, 1)): ``ceil(log(1 - u)
    / log(1 - p))``, at least 1, for ``u`` uniform from the global generator or
    ``generator``. Integer tensors too, as in PyTorch."""
    if not 0 < p < 1:
        raise InvalidValueError(f"geometric_ expects p to be in (0, 1), but got p={p}")
    with _generator_scope(generator, "geometric_"):
        u = _host(_uniforms(self.shape, _core.float64, "cpu"))
    k = np.maximum(np.ceil(np.log1p(-u) / math.log1p(-p)), 1.0)
    self.copy_(_from_host(k, self))
    return self


#: name -> method replacing the engine's method of that name on ``Tensor`` (installed below):
#: ``uniform_``/``normal_`` with PyTorch's checks and ``generator=``.
OVERRIDES: dict[str, Any] = {"uniform_": uniform_, "normal_": normal_}
for _name, _method in OVERRIDES.items():
    setattr(Tensor, _name, _method)

#: name -> function(tensor, ...), merged into ``_tensor_extra.METHODS``.
METHODS: dict[str, Any] = {f.__name__: f for f in (random_, cauchy_, log_normal_, geometric_)}
