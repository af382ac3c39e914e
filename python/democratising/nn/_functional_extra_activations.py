"""More of ``torch.nn.functional``'s activations, as composites of engine ops (autograd comes
with them): ``selu``, ``celu``, ``softshrink``, ``hardshrink``, ``tanhshrink``, ``threshold``,
``rrelu``, and the in-place spellings ``relu_``, ``elu_``, ``leaky_relu_``, ``hardtanh_``,
``selu_``, ``celu_``, ``threshold_``, ``rrelu_`` (written into the input, see
``apply_inplace``)."""

from __future__ import annotations

from typing import Callable

from .. import _core
from .._core import Tensor
from .._opmath import in_float32
from .._tensor_extra import _takes_tensor
from ..errors import InvalidValueError
from ._factory import inplace_result

__all__ = [
    "celu",
    "celu_",
    "elu_",
    "hardshrink",
    "hardtanh_",
    "leaky_relu_",
    "relu_",
    "rrelu",
    "rrelu_",
    "selu",
    "selu_",
    "softshrink",
    "tanhshrink",
    "threshold",
    "threshold_",
]


def apply_inplace(input: Tensor, fn: Callable[[Tensor], Tensor], inplace: bool) -> Tensor:
    """``fn(input)``, written into ``input`` (and ``input`` returned) when ``inplace``. As in
    PyTorch a non-leaf input is overwritten even when autograd records through it: ``fn``
    then runs on a clone (what its backward saves), and ``copy_`` carries the gradient back
    to the input's old value. A leaf that requires grad (an error in PyTorch) keeps
    ``inplace_result``'s lenient new tensor."""
    if inplace and records_inplace(input):
        # It requires grad, so it is floating point: any result casts into it.
        copy = input.clone()
        out = fn(copy)
        if out is not copy:  # (a no-op, such as dropout in eval mode, writes nothing)
            input.copy_(out)
        return input
    out = fn(input)
    return out if out is input else inplace_result(input, out, inplace)


def records_inplace(input: Tensor) -> bool:
    """Whether an in-place write into ``input`` must go through autograd: it requires grad,
    grad mode is on, and it is not a leaf (a leaf cannot be written under autograd)."""
    return bool(input.requires_grad and _core.is_grad_enabled() and not input.is_leaf)


#: SELU's constants (Klambauer et al., 2017), as PyTorch spells them.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@_takes_tensor
def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """``scale * (max(0, x) + min(0, alpha * (exp(x) - 1)))`` with SELU's fixed constants."""
    return apply_inplace(input, _selu, inplace)


@in_float32  # half types: scale * elu(x) rounded once, as PyTorch's
def _selu(x: Tensor) -> Tensor:
    return x.elu(SELU_ALPHA) * SELU_SCALE


@in_float32  # half types: rounded once (x / alpha rounded first is magnified by exp)
def _celu(input: Tensor, alpha: float) -> Tensor:
    if alpha == 0:
        raise InvalidValueError("ZeroDivisionError: alpha cannot be 0 for CELU")
    # PyTorch's piecewise form (``x`` above 0, the exponential branch at and below 0): a sum of
    # two clamped branches would pass gradient 2 at exactly 0.
    if alpha > 0:
        # ``alpha * elu(x / alpha)``: elu's gradient ``exp(x / alpha)`` comes from its input
        # (from ``expm1``'s kept result, ``y + 1`` cancels to 0 below -17 in float32), is 1 at
        # NaN as PyTorch's, and its positive side cannot overflow.
        negative = (input / alpha).elu(1.0) * alpha
    else:
        # (A negative alpha keeps the exponential for x <= 0, as PyTorch's: zeroing the
        # positive side keeps the unselected branch from overflowing.)
        negative = (input.masked_fill(input > 0, 0.0) / alpha).expm1() * alpha
    return _core.where(input > 0, input, negative)


@_takes_tensor
def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))``; ``alpha`` must not be 0."""
    return apply_inplace(input, lambda x: _celu(x, alpha), inplace)


@_takes_tensor
def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, 0 in between."""
    if lambd < 0:
        raise InvalidValueError(f"lambda must be greater or equal to 0, but found {lambd}")
    # Selected, not ``x - clamp(x)``: no gradient at |x| == lambd itself, as PyTorch's.
    shrunk = _core.where(input > lambd, input - lambd, input + lambd)
    return _core.where(input.abs() > lambd, shrunk, input * 0)


@_takes_tensor
def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x`` where ``|x| > lambd``, 0 elsewhere."""
    return input * (input.abs() > lambd).to(input.dtype)


@_takes_tensor
def tanhshrink(input: Tensor) -> Tensor:
    """``x - tanh(x)``."""
    return input - input.tanh()


@_takes_tensor
def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``x`` where ``x > threshold``, ``value`` elsewhere (NaN stays NaN)."""
    if inplace and records_inplace(input):  # the engine's op records the overwritten input
        return input.masked_fill_(input <= threshold, value)
    return inplace_result(input, input.masked_fill(input <= threshold, value), inplace)


def _rrelu(input: Tensor, lower: float, upper: float, training: bool) -> Tensor:
    if lower > upper:
        raise InvalidValueError("Lower bound should be less than or equal to the upper bound")
    if not training:
        return input.leaky_relu((lower + upper) / 2)
    dtype = input.dtype if input.dtype.is_floating_point else _core._default_dtype()
    slopes = _core.rand(input.shape, dtype=dtype, device=input.device) * (upper - lower) + lower
    return input * _core.where(input >= 0, 1.0, slopes)


@_takes_tensor
def rrelu(
    input: Tensor,
    lower: float = 1.0 / 8,
    upper: float = 1.0 / 3,
    training: bool = False,
    inplace: bool = False,
) -> Tensor:
    """Randomized leaky ReLU: while training each negative element gets its own slope drawn
    from U(lower, upper) (the global generator, so ``manual_seed`` repeats it); otherwise the
    fixed slope ``(lower + upper) / 2``."""
    return apply_inplace(input, lambda x: _rrelu(x, lower, upper, training), inplace)


def _lenient_leaf(input: Tensor) -> bool:
    """A leaf that requires grad, under autograd: PyTorch refuses to write into it; here the
    in-place form returns a new tensor instead (``inplace_result``)."""
    return bool(input.requires_grad and input.is_leaf and _core.is_grad_enabled())


@_takes_tensor
def relu_(input: Tensor) -> Tensor:
    """In-place ``relu``: the engine's op, written straight into ``input``; under autograd its
    backward reads the output, so no copy of the input is kept."""
    if _lenient_leaf(input):
        return input.relu()
    return input.relu_()


@_takes_tensor
def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place ``elu``."""
    return apply_inplace(input, lambda x: x.elu(alpha), True)


@_takes_tensor
def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """In-place ``leaky_relu`` (the engine's op, as ``relu_``; a negative slope, whose output
    sign does not tell the input's, works on a clone)."""
    if _lenient_leaf(input) or negative_slope < 0:
        return apply_inplace(input, lambda x: x.leaky_relu(negative_slope), True)
    return input.leaky_relu_(negative_slope)


@_takes_tensor
def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """In-place ``hardtanh``."""
    if min_val > max_val:
        raise InvalidValueError("min_val cannot be greater than max_val")
    if records_inplace(input):
        return input.clamp_(min_val, max_val)
    return inplace_result(input, input.clamp(min_val, max_val), True)


@_takes_tensor
def selu_(input: Tensor) -> Tensor:
    """In-place ``selu``."""
    return selu(input, inplace=True)


@_takes_tensor
def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place ``celu``."""
    return celu(input, alpha, inplace=True)


@_takes_tensor
def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """In-place ``threshold``."""
    if records_inplace(input):
        return input.masked_fill_(input <= threshold, value)
    return inplace_result(input, input.masked_fill(input <= threshold, value), True)


@_takes_tensor
def rrelu_(
    input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False
) -> Tensor:
    """In-place ``rrelu``."""
    return rrelu(input, lower, upper, training, inplace=True)
