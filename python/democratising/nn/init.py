"""``democratising.nn.init``: PyTorch's parameter initialisers. Each fills its tensor in place
without recording autograd history (so it works on ``Parameter``s that require grad) and returns
it. Random values come from ``dm.rand``/``dm.randn``, so ``dm.manual_seed`` makes them
reproducible; the distributions and their scales follow PyTorch's formulas."""

from __future__ import annotations

import functools
import inspect
import math
import warnings
from typing import Any, Callable, Optional, TypeVar

import numpy as np

from .. import _core
from .._core import Tensor
from .._deprecation import deprecated_alias
from .._grad_mode import no_grad
from .._tensor_more import _generator_scope
from ..errors import DTypeError, InvalidValueError

_F = TypeVar("_F", bound=Callable[..., Any])


def _takes_generator(fn: _F) -> _F:
    """Adds PyTorch's trailing ``generator=`` parameter: the draws come from that
    ``dm.Generator`` instead of the global one (``None``: the global one)."""
    sig = inspect.signature(fn)
    n_params = len(sig.parameters)

    @functools.wraps(fn)
    def wrapper(*args: Any, generator: Any = None, **kwargs: Any) -> Any:
        if len(args) > n_params:  # ``generator`` given by position, as PyTorch allows
            args, generator = args[:n_params], args[n_params]
        with _generator_scope(generator, fn.__name__):
            return fn(*args, **kwargs)

    extra = inspect.Parameter("generator", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
    wrapper.__signature__ = sig.replace(parameters=[*sig.parameters.values(), extra])  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


_LINEAR_FNS = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)


def calculate_gain(nonlinearity: str, param: Optional[float] = None) -> float:
    """The recommended scale for weights feeding ``nonlinearity`` (PyTorch's table): 1 for
    linear/conv/sigmoid, 5/3 for tanh, √2 for relu, √(2/(1+slope²)) for leaky_relu, 3/4 for selu."""
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1  # (an int, as PyTorch returns)
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            negative_slope = param
        else:
            raise InvalidValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise InvalidValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight laid out ``[out, in, *kernel]`` (Linear, Conv):
    ``in * prod(kernel)`` and ``out * prod(kernel)``."""
    if tensor.ndim < 2:
        raise InvalidValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise InvalidValueError(
            f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']"
        )
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _refuse_non_float(tensor: Tensor, name: str) -> None:
    """PyTorch's ``normal_`` refuses integer and bool tensors; initialisers that draw float64
    values on the host and cast them must refuse them too, or they would fill silently."""
    if not tensor.dtype.is_floating_point:
        raise DTypeError(f"{name}: expected a floating point tensor, got {tensor.dtype}")


def _fill_from(tensor: Tensor, values: Tensor) -> Tensor:
    """Copies ``values`` into ``tensor`` without autograd history and returns ``tensor``."""
    with no_grad():
        tensor.copy_(values.to(tensor.device).to(tensor.dtype))
    return tensor


@_takes_generator
def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fills with samples from U(a, b), by ``Tensor.uniform_``, which keeps the range
    half-open in every dtype (``rand * (b - a) + a`` in bfloat16 rounds up to ``b``) and
    checks the bounds (``a > b``, bounds outside the dtype)."""
    with no_grad():
        tensor.uniform_(a, b)
    return tensor


@_takes_generator
def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fills with samples from N(mean, std²)."""
    if std < 0:
        raise InvalidValueError(f"normal expects std >= 0.0, but found std {std}")
    return _fill_from(tensor, _core.randn(tensor.shape, dtype=tensor.dtype) * std + mean)


@_takes_generator
def trunc_normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0
) -> Tensor:
    """Fills with N(mean, std²) truncated to ``[a, b]`` (absolute bounds, not in units of
    ``std``), by PyTorch's inverse-CDF method: uniform samples between the normal CDF at the
    bounds, mapped back through the inverse CDF (``erfinv``, from SciPy, which scikit-learn, a
    base dependency, requires)."""
    from scipy.special import erfinv  # type: ignore[import-untyped]

    if not tensor.dtype.is_floating_point:
        # PyTorch's normal_ refuses integer tensors; without this the samples would be cast.
        raise DTypeError(f"trunc_normal_: expected a floating point tensor, got {tensor.dtype}")

    def norm_cdf(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    if a > b:
        raise InvalidValueError(f"trunc_normal_ expects a <= b, but found a={a} > b={b}")
    if (mean < a - 2 * std) or (mean > b + 2 * std):
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=2,
        )
    lo, hi = 2 * norm_cdf((a - mean) / std) - 1, 2 * norm_cdf((b - mean) / std) - 1
    u = _core.rand(tensor.shape, dtype=_core.float64).numpy() * (hi - lo) + lo
    values = np.clip(erfinv(u) * (std * math.sqrt(2.0)) + mean, a, b)
    # reshape: ascontiguousarray makes a 0-d array 1-d.
    values = np.ascontiguousarray(values).reshape(tuple(tensor.shape))
    return _fill_from(tensor, _core.from_numpy(values))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fills with ``val``."""
    with no_grad():
        tensor.fill_(val)
    return tensor


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def eye_(tensor: Tensor) -> Tensor:
    """Fills a 2-D tensor with the identity (ones on the main diagonal, also when not square),
    so a Linear layer passes its inputs through."""
    if tensor.ndim != 2:
        raise InvalidValueError("Only tensors with 2 dimensions are supported")
    return _fill_from(tensor, _core.eye(*tensor.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fills a 3-, 4- or 5-D conv weight with the Dirac delta, so the convolution keeps as many
    input channels as possible (per group) unchanged."""
    if tensor.ndim not in (3, 4, 5):
        raise InvalidValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tuple(tensor.shape)
    if sizes[0] % groups != 0:
        raise InvalidValueError("dim 0 must be divisible by groups")
    out_per_group = sizes[0] // groups
    centre = tuple(k // 2 for k in sizes[2:])
    values = np.zeros(sizes)
    for g in range(groups):
        for d in range(min(out_per_group, sizes[1])):
            values[(g * out_per_group + d, d, *centre)] = 1.0
    return _fill_from(tensor, _core.from_numpy(values))


@_takes_generator
def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """U(-a, a) with ``a = gain * √(6 / (fan_in + fan_out))`` (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


@_takes_generator
def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """N(0, std²) with ``std = gain * √(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))


def _kaiming_std(tensor: Tensor, a: float, mode: str, nonlinearity: str) -> Optional[float]:
    """``gain / √fan``, or None (with PyTorch's warning) for a tensor with no elements."""
    if 0 in tuple(tensor.shape):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    fan = _calculate_correct_fan(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


@_takes_generator
def kaiming_uniform_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    """U(-bound, bound) with ``bound = gain * √(3 / fan)`` (He et al., 2015); ``a`` is the
    negative slope of the leaky ReLU that follows."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


@_takes_generator
def kaiming_normal_(
    tensor: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    """N(0, std²) with ``std = gain / √fan``."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std)


@_takes_generator
def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """A (semi-)orthogonal matrix, viewed as ``[shape[0], rest]``: the Q of the QR decomposition
    of a Gaussian matrix, with signs fixed by R's diagonal so Q is uniformly distributed
    (Saxe et al., 2013), times ``gain``."""
    if tensor.ndim < 2:
        raise InvalidValueError("Only tensors with 2 or more dimensions are supported")
    if tensor.numel() == 0:
        return tensor
    _refuse_non_float(tensor, "orthogonal_")
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _core.randn(rows, cols, dtype=_core.float64).numpy()
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    values = np.ascontiguousarray(q.reshape(tuple(tensor.shape)) * gain)
    return _fill_from(tensor, _core.from_numpy(values))


@_takes_generator
def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01) -> Tensor:
    """A 2-D matrix drawn from N(0, std²) with ``ceil(sparsity * rows)`` entries of each column
    set to zero, the rows chosen at random per column (Martens, 2010), as PyTorch's."""
    if tensor.ndim != 2:
        raise InvalidValueError("Only tensors with 2 dimensions are supported")
    if tensor.numel():  # (an empty tensor has nothing to draw, as in PyTorch)
        _refuse_non_float(tensor, "sparse_")
    rows, cols = tensor.shape
    zeros = math.ceil(sparsity * rows)
    values = (_core.randn(rows, cols, dtype=_core.float64) * std).numpy()
    for col in range(cols):
        values[_core.randperm(rows).numpy()[:zeros], col] = 0.0
    return _fill_from(tensor, _core.from_numpy(np.ascontiguousarray(values)))


uniform = deprecated_alias(uniform_, "nn.init")
normal = deprecated_alias(normal_, "nn.init")
constant = deprecated_alias(constant_, "nn.init")
eye = deprecated_alias(eye_, "nn.init")
dirac = deprecated_alias(dirac_, "nn.init")
xavier_uniform = deprecated_alias(xavier_uniform_, "nn.init")
xavier_normal = deprecated_alias(xavier_normal_, "nn.init")
kaiming_uniform = deprecated_alias(kaiming_uniform_, "nn.init")
kaiming_normal = deprecated_alias(kaiming_normal_, "nn.init")
orthogonal = deprecated_alias(orthogonal_, "nn.init")
sparse = deprecated_alias(sparse_, "nn.init")

__all__ = [
    "calculate_gain",
    "constant_",
    "dirac_",
    "eye_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "sparse_",
    "trunc_normal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]
