"""``dm.special``: PyTorch's ``torch.special`` namespace, the special functions by their SciPy
names. The gamma family (``gammaln``, ``digamma``/``psi``, ``polygamma``), ``erfc`` and
``exp2`` are ops of the engine's unary table (differentiable, to any order, on every
backend); the rest are written over engine ops, so their gradients come from autograd."""

from __future__ import annotations

import math
from typing import Optional

from . import _core
from ._core import Tensor
from ._math_functions import logit, sinc, xlogy
from ._tensor import full_like, ones_like, zeros_like
from ._tensor_extra import where
from .errors import InvalidValueError

__all__ = [
    "digamma",
    "entr",
    "erf",
    "erfc",
    "erfinv",
    "exp2",
    "expit",
    "expm1",
    "gammaln",
    "log1p",
    "log_ndtr",
    "log_softmax",
    "logit",
    "logsumexp",
    "multigammaln",
    "ndtr",
    "ndtri",
    "polygamma",
    "psi",
    "round",
    "sinc",
    "softmax",
    "xlog1py",
    "xlogy",
]

_SQRT_HALF = math.sqrt(0.5)


def gammaln(input: Tensor) -> Tensor:
    """``ln |Gamma(x)|`` (``torch.lgamma``)."""
    return input.lgamma()


def digamma(input: Tensor) -> Tensor:
    """``d/dx ln Gamma(x)``: ``-inf`` at 0, NaN at the negative integers, as PyTorch's."""
    return input.digamma()


psi = digamma


def polygamma(n: int, input: Tensor) -> Tensor:
    """The ``n``-th derivative of digamma (``n = 0`` is digamma itself)."""
    return input.polygamma(n)


def multigammaln(input: Tensor, p: int) -> Tensor:
    """The log of the multivariate gamma function of dimension ``p``: ``p (p - 1) / 4 ln(pi)
    + sum_{j < p} lgamma(x - j / 2)``; every element must exceed ``(p - 1) / 2``."""
    if p < 1:
        raise InvalidValueError(f"multigammaln: p must be at least 1, got {p}")
    if input.numel() and not bool((input > (p - 1) / 2).all()):
        raise InvalidValueError(
            f"multigammaln: all elements must be greater than (p-1)/2 = {(p - 1) / 2}"
        )
    total = input.lgamma()
    for j in range(1, p):
        total = total + (input - j / 2).lgamma()
    return total + p * (p - 1) / 4 * math.log(math.pi)


def erf(input: Tensor) -> Tensor:
    """The error function."""
    return input.erf()


def erfc(input: Tensor) -> Tensor:
    """``1 - erf(x)``, keeping its precision where ``erf`` rounds to 1."""
    return input.erfc()


def erfinv(input: Tensor) -> Tensor:
    """The inverse error function on ``(-1, 1)``."""
    return input.erfinv()


def exp2(input: Tensor) -> Tensor:
    """``2 ** x``."""
    return input.exp2()


def expm1(input: Tensor) -> Tensor:
    """``exp(x) - 1``, precise near 0."""
    return input.expm1()


def log1p(input: Tensor) -> Tensor:
    """``ln(1 + x)``, precise near 0."""
    return input.log1p()


def expit(input: Tensor) -> Tensor:
    """The logistic sigmoid ``1 / (1 + exp(-x))``."""
    return input.sigmoid()


def ndtr(input: Tensor) -> Tensor:
    """The standard normal CDF ``(1 + erf(x / sqrt 2)) / 2``, from ``erfc`` so that the far
    left tail keeps its relative precision."""
    return (input * -_SQRT_HALF).erfc() * 0.5


def log_ndtr(input: Tensor) -> Tensor:
    """``ln ndtr(x)``, precise in both tails: ``ln(erfc(-x / sqrt 2) / 2)`` on the left (finite
    down to about ``x = -38``, where the CDF itself leaves float64) and ``log1p(-ndtr(-x))`` on
    the right, where the CDF rounds to 1. Each side reads its half of the line clamped at 0,
    so the side not taken stays finite and passes no NaN to the gradient."""
    left = (input.clamp(max=0.0) * -_SQRT_HALF).erfc().log() - math.log(2.0)
    right = ((input.clamp(min=0.0) * _SQRT_HALF).erfc() * -0.5).log1p()
    return where(input < 0, left, right)


def ndtri(input: Tensor) -> Tensor:
    """The inverse of ``ndtr``: the standard normal quantile of probabilities in ``[0, 1]``."""
    return (input * 2.0 - 1.0).erfinv() * math.sqrt(2.0)


def entr(input: Tensor) -> Tensor:
    """The elementwise entropy ``-x ln x``: 0 at 0, ``-inf`` below 0 (as PyTorch's)."""
    x = input if input.dtype.is_floating_point else input.to(_core.get_default_dtype())
    positive = x > 0
    # The logarithm reads 1 where x <= 0, so no NaN reaches the gradient through `where`.
    value = -x * where(positive, x, ones_like(x)).log()
    value = where(positive, value, zeros_like(x))
    return where(x < 0, full_like(x, -math.inf), value)


def xlog1py(input: Tensor, other: Tensor) -> Tensor:
    """``x * ln(1 + y)``, 0 where ``x`` is 0 unless ``y`` is NaN (``xlogy``'s rule, with
    ``log1p``'s precision for small ``y``)."""
    if not isinstance(other, Tensor):
        other = _core.tensor(other, dtype=input.dtype)
    drop = (input == 0) & ~other.isnan()
    # Where the product is dropped the logarithm reads 0, so no inf/NaN reaches the gradient.
    safe = where(drop, zeros_like(other), other)
    return where(drop, zeros_like(input * safe), input * safe.log1p())


def log_softmax(input: Tensor, dim: int, *, dtype: Optional[_core.dtype] = None) -> Tensor:
    """``log_softmax`` over ``dim``, computed in ``dtype`` when given."""
    x = input if dtype is None else input.to(dtype)
    return x.log_softmax(dim)


def softmax(input: Tensor, dim: int, *, dtype: Optional[_core.dtype] = None) -> Tensor:
    """``softmax`` over ``dim``, computed in ``dtype`` when given."""
    x = input if dtype is None else input.to(dtype)
    return x.softmax(dim)


def logsumexp(input: Tensor, dim: int | tuple[int, ...], keepdim: bool = False) -> Tensor:
    """``ln sum exp`` over ``dim``, without overflow."""
    return input.logsumexp(dim, keepdim)


def round(input: Tensor, *, decimals: int = 0) -> Tensor:
    """Rounds half to even (to ``decimals`` places)."""
    return input.round(decimals=decimals)
