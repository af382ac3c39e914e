"""``dm.special``: PyTorch's ``torch.special`` namespace, the special functions by their SciPy
names. The gamma family (``gammaln``, ``digamma``/``psi``, ``polygamma``), ``erfc`` and
``exp2`` are ops of the engine's unary table (differentiable, to any order, on every
backend); the rest are written over engine ops, so their gradients come from autograd:
the modified Bessel functions ``i0``/``i0e``/``i1``/``i1e`` from their power series and
large-argument asymptotic series, ``erfcx`` and the far tail of ``log_ndtr`` from the
asymptotic series of ``erfc``, and ``ndtri``'s tails from Newton steps on ``log_ndtr``."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable, Optional

from . import _core
from ._core import Tensor
from ._function import Function, FunctionCtx
from ._igamma_host import GammaInc, host, incomplete_gamma_np, to_like
from ._math_functions import logit, sinc, xlogy
from ._tensor import full_like, ones_like, zeros_like
from ._tensor_extra import broadcast_tensors, where
from .errors import ArgumentTypeError, InvalidValueError
from .linalg._common import in_float32

__all__ = [
    "bessel_j0",
    "bessel_j1",
    "bessel_y0",
    "bessel_y1",
    "chebyshev_polynomial_t",
    "chebyshev_polynomial_u",
    "chebyshev_polynomial_v",
    "chebyshev_polynomial_w",
    "digamma",
    "entr",
    "erf",
    "erfc",
    "erfcx",
    "erfinv",
    "exp2",
    "expit",
    "expm1",
    "gammainc",
    "gammaincc",
    "gammaln",
    "hermite_polynomial_h",
    "hermite_polynomial_he",
    "i0",
    "i0e",
    "i1",
    "i1e",
    "laguerre_polynomial_l",
    "legendre_polynomial_p",
    "log1p",
    "log_ndtr",
    "log_softmax",
    "logit",
    "logsumexp",
    "modified_bessel_i0",
    "modified_bessel_i1",
    "modified_bessel_k0",
    "modified_bessel_k1",
    "multigammaln",
    "ndtr",
    "ndtri",
    "polygamma",
    "psi",
    "round",
    "scaled_modified_bessel_k0",
    "scaled_modified_bessel_k1",
    "shifted_chebyshev_polynomial_t",
    "shifted_chebyshev_polynomial_u",
    "shifted_chebyshev_polynomial_v",
    "shifted_chebyshev_polynomial_w",
    "sinc",
    "softmax",
    "spherical_bessel_j0",
    "xlog1py",
    "xlogy",
    "zeta",
]

_SQRT_HALF = math.sqrt(0.5)
_ERFCX_SWITCH = 8.0  # erfcx: direct below, asymptotic series above
_ERFCX_TERMS = 30
_LOG_NDTR_SWITCH = 10.0  # log_ndtr: asymptotic series below -10
_LOG_NDTR_TERMS = 14
_NDTRI_TAIL = 0.05  # ndtri: Newton-polished tails below this probability
_NDTRI_NEWTON = 3
_BESSEL_SWITCH = 20.0  # i0/i1 family: power series below, asymptotic series above
_BESSEL_SERIES_TERMS = 60
_BESSEL_ASYMPTOTIC_TERMS = 30
_IGAMMA_MAX_STEPS = 2000  # gammainc: enough for a up to about 40000
_IGAMMA_HOST_FROM = ((_IGAMMA_MAX_STEPS - 30) / 10) ** 2  # larger a: iterated on the host
# ``(-1)^k zeta(k) / k`` for ``k = 2..31``: ``ln Gamma(1 + a) = -gamma a + sum_k c_k a^k`` near 0.
_LGAMMA1P_TAYLOR = (
    0.8224670334241132,
    -0.40068563438653143,
    0.27058080842778454,
    -0.20738555102867398,
    0.1695571769974082,
    -0.1440498967688461,
    0.12550966952474304,
    -0.11133426586956469,
    0.1000994575127818,
    -0.09095401714582904,
    0.083353840546109,
    -0.0769325164113522,
    0.07143294629536133,
    -0.06666870588242046,
    0.06250095514121304,
    -0.058823978658684585,
    0.055555767627403614,
    -0.05263167937961666,
    0.05000004769810169,
    -0.047619070330142226,
    0.04545455629320467,
    -0.04347826605304026,
    0.04166666915034121,
    -0.04000000119214014,
    0.03846153903467518,
    -0.037037037312989324,
    0.035714285847333355,
    -0.034482758684919304,
    0.03333333336437758,
    -0.03225806453115042,
)
_POLY_MAX_DEGREE = 10_000  # orthogonal polynomials: O(n) engine ops


def _common_float(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """``a`` and ``b`` in the dtype PyTorch computes a binary op on them in: their result type
    (a 0-d tensor only raising the kind: ``float32[n]`` with a 0-d float64 stays float32), the
    default float dtype for integers and bools."""
    if a.dtype == b.dtype and a.dtype.is_floating_point:
        return a, b
    from ._functional_aliases import result_type  # (lazy: that module imports this one)

    dtype = result_type(a, b)
    dtype = dtype if dtype.is_floating_point else _core._default_dtype()
    return a.to(dtype), b.to(dtype)


def _clip(x: Tensor, lo: Optional[float], hi: Optional[float]) -> Tensor:
    """``x`` clamped to ``[lo, hi]`` for a piecewise formula's argument, with gradient 1 at
    the bounds themselves (``clamp`` passes none there, which zeroed the derivative at each
    switch point); NaN passes through."""
    if lo is not None:
        x = where(x < lo, full_like(x, lo), x)
    if hi is not None:
        x = where(x > hi, full_like(x, hi), x)
    return x


def _floating(input: Tensor) -> Tensor:
    """Integer and bool inputs as the default float dtype, as PyTorch promotes them."""
    return input if input.dtype.is_floating_point else input.to(_core._default_dtype())


def gammaln(input: Tensor) -> Tensor:
    """``ln |Gamma(x)|`` (``torch.lgamma``)."""
    return input.lgamma()


def digamma(input: Tensor) -> Tensor:
    """``d/dx ln Gamma(x)``: ``-inf`` at 0, NaN at the negative integers, as PyTorch's."""
    return input.digamma()


psi = digamma


def polygamma(n: int, input: Tensor) -> Tensor:
    """The ``n``-th derivative of digamma (``n = 0`` is digamma itself): NaN at NaN, and for
    ``n >= 1`` PyTorch's values at the poles (the non-positive integers), ``inf`` for odd
    ``n`` and ``-inf`` for even ``n`` (the engine's ``Tensor.polygamma``)."""
    return input.polygamma(n)


@in_float32  # half types: the lgamma terms summed in float32 and rounded once
def multigammaln(input: Tensor, p: int) -> Tensor:
    """The log of the multivariate gamma function of dimension ``p``: ``p (p - 1) / 4 ln(pi)
    + sum_{j < p} lgamma(x - j / 2)``, defined for elements above ``(p - 1) / 2``; below,
    the same sum of ``lgamma``s, as PyTorch 2.15 gives it (NaN stays NaN)."""
    if isinstance(p, bool) or not isinstance(p, int):
        raise ArgumentTypeError(f"multigammaln: p must be an int, got {type(p).__name__}")
    if p < 1:
        raise InvalidValueError(f"multigammaln: p must be at least 1, got {p}")
    if input.numel() == 0:
        # Nothing to sum: without this a huge ``p`` loops ``p`` times over an empty tensor.
        return input.lgamma()
    if p > 1024:
        # One broadcast ``[..., p]`` term tensor instead of ``p`` passes, as PyTorch computes
        # it: an absurd ``p`` then fails the engine's allocation check instead of hanging.
        x = input if input.is_floating_point() else input.float()
        halves = _core.arange(0, p, 1, dtype=x.dtype) / 2
        total = (x.unsqueeze(-1) - halves).lgamma().sum(-1)
    else:
        total = input.lgamma()
        for j in range(1, p):
            total = total + (input - j / 2).lgamma()
    return total + p * (p - 1) / 4 * math.log(math.pi)


def _at_infinities(input: Tensor, value: Tensor, at_pos: float, at_neg: float) -> Tensor:
    """``value`` with its limits written at ``+inf``/``-inf`` (the engine's ``erf``/``erfc``
    return NaN there)."""
    if not input.dtype.is_floating_point:
        return value
    return where(input == math.inf, at_pos, where(input == -math.inf, at_neg, value))


def erf(input: Tensor) -> Tensor:
    """The error function (``±1`` at ``±inf``)."""
    return _at_infinities(input, input.erf(), 1.0, -1.0)


def erfc(input: Tensor) -> Tensor:
    """``1 - erf(x)``, keeping its precision where ``erf`` rounds to 1 (0 at ``inf``, 2 at
    ``-inf``)."""
    return _at_infinities(input, input.erfc(), 0.0, 2.0)


@in_float32  # half types: float32 range and precision inside
def erfcx(input: Tensor) -> Tensor:
    """The scaled complementary error function ``exp(x^2) erfc(x)``: directly up to
    ``x = 8`` and by its asymptotic series ``1 / (x sqrt(pi)) sum (-1)^k (2k-1)!! /
    (2x^2)^k`` above, where ``exp(x^2)`` would overflow and ``erfc`` underflow."""
    x = _floating(input)
    near = _clip(x, None, _ERFCX_SWITCH)
    direct = (near * near).exp() * erfc(near)
    far = _clip(x, _ERFCX_SWITCH, None)
    inv2x2 = 0.5 / (far * far)
    series = ones_like(far)
    for k in range(_ERFCX_TERMS, 0, -1):  # 1 - 1/(2x^2) (1 - 3/(2x^2) (1 - ...))
        series = 1.0 - series * ((2 * k - 1) * inv2x2)
    asymptotic = series / (far * math.sqrt(math.pi))
    return where(x > _ERFCX_SWITCH, asymptotic, direct)


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
    return erfc(input * -_SQRT_HALF) * 0.5


def _log_ndtr_far_left(x: Tensor) -> Tensor:
    """``ln ndtr(x)`` for ``x <= -_LOG_NDTR_SWITCH`` from the asymptotic series of Mills'
    ratio, ``-x^2/2 - ln(-x) - ln(2 pi)/2 + ln(sum (-1)^k (2k-1)!! / x^(2k))``: finite where
    ``erfc`` underflows (below about -13 in float32, -38 in float64)."""
    inv_x2 = 1.0 / (x * x)
    series = ones_like(x)
    for k in range(_LOG_NDTR_TERMS, 0, -1):
        series = 1.0 - series * ((2 * k - 1) * inv_x2)
    return -0.5 * x * x - (-x).log() - 0.5 * math.log(2 * math.pi) + series.log()


@in_float32  # half types: float32 range and precision inside
def log_ndtr(input: Tensor) -> Tensor:
    """``ln ndtr(x)``, precise in both tails: the asymptotic series below ``-10``,
    ``ln(erfc(-x / sqrt 2) / 2)`` up to 0 and ``log1p(-ndtr(-x))`` on the right, where the
    CDF rounds to 1. Each piece reads its part of the line clamped to it, so the pieces not
    taken stay finite and pass no NaN to the gradient."""
    x = _floating(input)
    far = _log_ndtr_far_left(_clip(x, None, -_LOG_NDTR_SWITCH))
    left = erfc(_clip(x, -_LOG_NDTR_SWITCH, 0.0) * -_SQRT_HALF).log() - math.log(2.0)
    right = (erfc(_clip(x, 0.0, None) * _SQRT_HALF) * -0.5).log1p()
    return where(x < -_LOG_NDTR_SWITCH, far, where(x < 0, left, right))


def _tiny(dtype: object) -> float:
    """The smallest positive (subnormal) value of a floating ``dtype``: a clamp floor that
    leaves every positive input as it is. Half types are computed in float32 here."""
    return 5e-324 if dtype == _core.float64 else 1e-45


@in_float32  # half types: float32 range and precision inside
def ndtri(input: Tensor) -> Tensor:
    """The inverse of ``ndtr``: the standard normal quantile of probabilities in ``[0, 1]``.
    In the centre ``sqrt 2 erfinv(2p - 1)``; in the tails (``min(p, 1 - p) < 0.05``, where
    ``2p - 1`` loses the digits of a small ``p``) the Abramowitz-Stegun 26.2.23 start
    polished by Newton steps on ``log_ndtr(x) = ln q``, which keep full relative precision
    down to the smallest ``p``; autograd through the converged steps gives the derivative
    ``sqrt(2 pi) exp(x^2 / 2)``."""
    p = _floating(input)
    near = where(p < 0.5, p, 1.0 - p)
    edge = (p == 0) | (p == 1) | p.isnan()
    # The centre formula only where it is chosen (and at the edges, for its inf and NaN):
    # in a tail ``2p - 1`` rounds to -1, whose infinite slope times the ``where``'s zero
    # would make the gradient NaN.
    in_centre = (near >= _NDTRI_TAIL) | edge
    centre = (where(in_centre, p, 0.5) * 2.0 - 1.0).erfinv() * math.sqrt(2.0)
    # Clamp to the dtype's smallest subnormal (only 0 lies below), so subnormal p keep theirs.
    q = near.clamp(min=_tiny(p.dtype))
    q = q.clamp(max=_NDTRI_TAIL)
    t = (q.log() * -2.0).sqrt()
    x = -(
        t
        - (2.515517 + t * (0.802853 + t * 0.010328))
        / (1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308)))
    )
    log_q = q.log()
    for _ in range(_NDTRI_NEWTON):
        lp = log_ndtr(x)
        log_pdf = -0.5 * x * x - 0.5 * math.log(2 * math.pi)
        x = x - (lp - log_q) * (lp - log_pdf).exp()
    tail = where(p < 0.5, x, -x)
    value = where(in_centre, centre, tail)
    # Outside [0, 1] there is no quantile; erfinv(2p - 1) would round a tiny negative p to -inf.
    return where((p < 0) | (p > 1), full_like(value, math.nan), value)


class _GradOnly(Function):
    """Zero in the forward, ``g * slope`` in the backward: gives a formula the derivative it
    has at points where its value is pinned by a ``where`` (``xlog1py`` at ``x = 0``, ``entr``
    at and below 0), which a ``where`` alone would zero."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, slope: Tensor) -> Tensor:
        ctx.save_for_backward(slope)
        return zeros_like(x)

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (slope,) = ctx.saved_tensors
        return g * slope, None


def entr(input: Tensor) -> Tensor:
    """The elementwise entropy ``-x ln x``: 0 at 0, ``-inf`` below 0 (as PyTorch's)."""
    x = input if input.dtype.is_floating_point else input.to(_core._default_dtype())
    positive = x > 0
    # The logarithm reads 1 where x <= 0, so no NaN reaches the gradient through `where`.
    value = -x * where(positive, x, ones_like(x)).log()
    value = where(positive | x.isnan(), value, zeros_like(x))  # NaN stays NaN, as PyTorch's
    value = where(x < 0, full_like(x, -math.inf), value)
    if not x.requires_grad:
        return value
    # PyTorch's derivative -(1 + ln x) there too: +inf at 0, NaN below 0 and at NaN.
    off = (x < 0) | x.isnan()
    slope = where(x == 0, full_like(x, math.inf), where(off, full_like(x, math.nan), zeros_like(x)))
    return value + _GradOnly.apply(x, slope.detach())


def xlog1py(input: Tensor | float, other: Tensor | float) -> Tensor:
    """``x * ln(1 + y)``, 0 where ``x`` is 0 unless ``y`` is NaN (``xlogy``'s rule, with
    ``log1p``'s precision for small ``y``); either argument may be a Python number."""
    if not isinstance(input, Tensor):
        if not isinstance(other, Tensor):
            raise ArgumentTypeError("xlog1py: at least one argument must be a Tensor")
        dtype = other.dtype if other.dtype.is_floating_point else _core._default_dtype()
        input = _core.full((), float(input), dtype=dtype, device=other.device)
    if not isinstance(other, Tensor):
        dtype = input.dtype if input.dtype.is_floating_point else _core._default_dtype()
        other = _core.full((), float(other), dtype=dtype, device=input.device)
    # (float16 with an integer y stays float16; log1p alone would make y float32)
    input, other = _common_float(input, other)
    drop = (input == 0) & ~other.isnan()
    # Where the product is dropped the logarithm reads 0, so no inf/NaN reaches the gradient.
    safe = where(drop, zeros_like(other), other)
    value = where(drop, zeros_like(input * safe), input * safe.log1p())
    if not input.requires_grad:
        return value
    # d/dx there is still ln(1 + y), as PyTorch's (0 where y <= -1), with the derivatives of
    # x * ln(1 + y) (so the mixed second derivative 1/(1 + y) survives); the y side is 0 there.
    from ._math_functions import _ZeroProduct

    slope = where(other > -1, other, zeros_like(other)).log1p()
    x_full, slope = broadcast_tensors(input, where(drop, slope, zeros_like(slope)))
    return value + _ZeroProduct.apply(x_full, slope)


def log_softmax(input: Tensor, dim: int, *, dtype: Optional[_core.dtype] = None) -> Tensor:
    """``log_softmax`` over ``dim``, computed in ``dtype`` when given."""
    return input.log_softmax(dim, dtype=dtype)


def softmax(input: Tensor, dim: int, *, dtype: Optional[_core.dtype] = None) -> Tensor:
    """``softmax`` over ``dim``, computed in ``dtype`` when given."""
    return input.softmax(dim, dtype=dtype)


def logsumexp(input: Tensor, dim: int | tuple[int, ...], keepdim: bool = False) -> Tensor:
    """``ln sum exp`` over ``dim``, without overflow."""
    return input.logsumexp(dim, keepdim)


def round(input: Tensor, *, decimals: int = 0) -> Tensor:
    """Rounds half to even (to ``decimals`` places)."""
    return input.round(decimals=decimals)


def _bessel_series(y: Tensor, order: int) -> Tensor:
    """``sum_k y^k / (k! (k + order)!)`` times ``order!``, nested as
    ``1 + y/(1 (1+order)) (1 + y/(2 (2+order)) (...))`` so no tiny coefficient underflows."""
    total = ones_like(y)
    for k in range(_BESSEL_SERIES_TERMS, 0, -1):
        total = 1.0 + total * y / float(k * (k + order))
    return total


def _bessel_asymptotic(ax: Tensor, order: int) -> Tensor:
    """``sqrt(2 pi x) exp(-x) I_order(x)`` for large ``x``: ``sum_k (-1)^k prod_{j<=k}
    (4 order^2 - (2j-1)^2) / (k! (8x)^k)``."""
    mu = 4.0 * order * order
    total = ones_like(ax)
    for k in range(_BESSEL_ASYMPTOTIC_TERMS, 0, -1):
        total = 1.0 - total * ((mu - (2 * k - 1) ** 2) / (8.0 * k)) / ax
    return total


@in_float32  # half types: float32 range and precision inside
def _bessel_i(input: Tensor, order: int, scaled: bool) -> Tensor:
    """``I_order(x)`` (``order`` 0 or 1), times ``exp(-|x|)`` if ``scaled``: the power series
    for ``|x| <= 20`` and the asymptotic series above, each on its side of the switch."""
    x = _floating(input)
    ax = x.abs()
    # The series reads x itself (not |x|), so the odd I1 keeps its slope 1/2 at 0.
    near = _clip(x, -_BESSEL_SWITCH, _BESSEL_SWITCH)
    series = _bessel_series(near * near * 0.25, order)
    if order == 1:
        series = series * near * 0.5
    far = _clip(ax, _BESSEL_SWITCH, None)
    # sqrt(x) sqrt(2 pi), not sqrt(2 pi x): the product overflows float32 near its max.
    asym = _bessel_asymptotic(far, order) / (far.sqrt() * math.sqrt(2 * math.pi))
    if order == 1:
        asym = asym * x.sign()
    if scaled:
        small, large = series * (-near.abs()).exp(), asym
    else:
        # exp(x/2)^2 keeps the product finite until I(x) itself overflows.
        half = (far * 0.5).exp()
        small, large = series, asym * half * half
    return where(ax > _BESSEL_SWITCH, large, small)


def i0(input: Tensor) -> Tensor:
    """The modified Bessel function of the first kind, order 0 (``torch.special.i0``)."""
    return _bessel_i(input, 0, scaled=False)


def i0e(input: Tensor) -> Tensor:
    """``exp(-|x|) I0(x)``, finite for every finite ``x``."""
    return _bessel_i(input, 0, scaled=True)


def i1(input: Tensor) -> Tensor:
    """The modified Bessel function of the first kind, order 1 (odd in ``x``)."""
    return _bessel_i(input, 1, scaled=False)


def i1e(input: Tensor) -> Tensor:
    """``exp(-|x|) I1(x)``."""
    return _bessel_i(input, 1, scaled=True)


def modified_bessel_i0(input: Tensor) -> Tensor:
    """``torch.special.modified_bessel_i0``: ``i0``."""
    return i0(input)


def modified_bessel_i1(input: Tensor) -> Tensor:
    """``torch.special.modified_bessel_i1``: ``i1``."""
    return i1(input)


@in_float32  # half types: sin(x) / x rounded once
def spherical_bessel_j0(input: Tensor) -> Tensor:
    """``sin(x) / x``, 1 at 0 and 0 at ``±inf`` (PyTorch's); the quotient reads 1 at 0 so no
    NaN reaches the gradient."""
    x = _floating(input)
    zero = x == 0
    safe = where(zero, ones_like(x), x)
    value = where(zero, ones_like(x), safe.sin() / safe)
    return where(x.isinf(), zeros_like(x), value)


def _bernoulli_ratios(count: int) -> tuple[float, ...]:
    """``B_2j / (2j)!`` for ``j = 1..count`` (1/12, -1/720, ...), the Euler-Maclaurin
    coefficients, from the Akiyama-Tanigawa recurrence in exact fractions."""
    n_max = 2 * count
    row = [Fraction(0)] * (n_max + 1)
    bern = []
    for m in range(n_max + 1):
        row[m] = Fraction(1, m + 1)
        for j in range(m, 0, -1):
            row[j - 1] = j * (row[j - 1] - row[j])
        bern.append(row[0])  # B_m (B_1 = +1/2, unused)
    return tuple(float(bern[2 * j] / math.factorial(2 * j)) for j in range(1, count + 1))


_ZETA_TAIL = _bernoulli_ratios(12)
_ZETA_SHIFT = 10  # direct terms, at least; more when q is below -_ZETA_SHIFT


@in_float32  # half types: float32 range and precision inside
def zeta(input: Tensor | float, other: Tensor | float) -> Tensor:
    """The Hurwitz zeta function ``sum_k (q + k)^(-x)`` of ``x = input`` and ``q = other``
    (``torch.special.zeta``), by Euler-Maclaurin summation as Cephes: the first terms
    directly, the rest as an integral plus twelve Bernoulli corrections. As PyTorch's: inf at
    ``x = 1`` and at non-positive integer ``q``, NaN for ``x < 1`` and for negative ``q`` with
    a non-integer ``x``. Differentiable through autograd (``d/dq = -x zeta(x + 1, q)``)."""
    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        raise ArgumentTypeError("zeta: at least one argument must be a Tensor")
    like = input if isinstance(input, Tensor) else other
    assert isinstance(like, Tensor)
    dtype = like.dtype if like.dtype.is_floating_point else _core._default_dtype()
    x = input if isinstance(input, Tensor) else _core.full((), float(input), dtype=dtype)
    q = other if isinstance(other, Tensor) else _core.full((), float(other), dtype=dtype)
    x, q = _common_float(x.to(like.device), q.to(like.device))
    x, q = broadcast_tensors(x, q)
    pole = x == 1
    domain = (x < 1) | ((q < 0) & (q != q.floor()) & (x != x.floor())) | x.isnan() | q.isnan()
    domain = domain | (q == math.inf)
    q_pole = (q <= 0) & (q == q.floor())
    # Read safe values where the answer is fixed, so nothing non-finite reaches the gradient.
    fixed = pole | domain | q_pole | (x == math.inf)
    xs = where(fixed, full_like(x, 2.0), x)
    qs = where(fixed, ones_like(q), q)
    lowest = float(qs.min().item()) if qs.numel() else 0.0
    n = _ZETA_SHIFT + max(0, math.ceil(-lowest))
    total = zeros_like(qs)
    for k in range(n):
        total = total + (qs + float(k)) ** (-xs)
    w = qs + float(n)
    b = w ** (-xs)
    total = total + 0.5 * b + b * w / (xs - 1.0)
    # One running term x (x + 1) ... (x + 2j - 2) w^(-x - 2j + 1): the rising product and
    # the power kept apart overflow and underflow for a large x (inf * 0 = NaN in float32).
    term = xs * b / w
    for j, coef in enumerate(_ZETA_TAIL):
        total = total + term * coef
        term = term * ((xs + float(2 * j + 1)) / w) * ((xs + float(2 * j + 2)) / w)
    value = where(pole | q_pole, full_like(total, math.inf), total)
    # x = inf: only the first term, q^-inf, survives.
    at_inf = where(q == 1, ones_like(q), where(q > 1, zeros_like(q), full_like(q, math.inf)))
    value = where(x == math.inf, at_inf, value)
    return where(domain & ~pole, full_like(total, math.nan), value)


# ---- orthogonal polynomials ------------------------------------------------------------------


def _poly_args(op: str, input: Tensor | float, n: Tensor | float) -> tuple[Tensor, Tensor, int]:
    """``x`` (floating) and ``trunc(n)`` broadcast together, and the largest degree."""
    if not isinstance(input, Tensor) and not isinstance(n, Tensor):
        raise ArgumentTypeError(f"{op}: at least one of input and n must be a Tensor")
    like = input if isinstance(input, Tensor) else n
    assert isinstance(like, Tensor)
    x = input if isinstance(input, Tensor) else _core.full((), float(input), device=like.device)
    if isinstance(n, Tensor):
        x, deg = _common_float(x, n)
        deg = deg.trunc()
    else:
        x = _floating(x)
        deg = _core.full((), float(math.trunc(n)), dtype=x.dtype, device=x.device)
    # PyTorch casts a NaN or infinite degree to INT64_MIN: a negative degree, so 0.
    deg = where(deg.isfinite(), deg, full_like(deg, -1.0))
    x, deg = broadcast_tensors(x, deg)
    top = int(deg.max().item()) if deg.numel() else 0
    if top > _POLY_MAX_DEGREE:
        raise InvalidValueError(
            f"{op}: degree {top} is above {_POLY_MAX_DEGREE}, the most the recurrence (one "
            "step per degree) evaluates"
        )
    return x, deg, top


def _three_term(
    op: str,
    input: Tensor | float,
    n: Tensor | float,
    first: Callable[[Tensor], Tensor],
    step: Callable[[Tensor, Tensor, Tensor, int], Tensor],
) -> Tensor:
    """``p_n(x)`` of a family with ``p_0 = 1``, ``p_1 = first(x)`` and
    ``p_(k+1) = step(x, p_k, p_(k-1), k)``, elementwise in ``n`` (truncated to an integer;
    0 for negative ``n``, as PyTorch's). ``O(max n)`` engine ops."""
    x, deg, top = _poly_args(op, input, n)
    one = ones_like(x)
    result = where(deg < 0, zeros_like(x), one)
    if top < 1:
        return result
    prev, cur = one, first(x)
    result = where(deg == 1, cur, result)
    for k in range(1, top):
        prev, cur = cur, step(x, cur, prev, k)
        result = where(deg == k + 1, cur, result)
    return result


def _chebyshev_step(x: Tensor, cur: Tensor, prev: Tensor, k: int) -> Tensor:
    return 2.0 * x * cur - prev


def chebyshev_polynomial_t(input: Tensor | float, n: Tensor | float) -> Tensor:
    """The Chebyshev polynomial of the first kind ``T_n(x)``."""
    return _three_term("chebyshev_polynomial_t", input, n, lambda x: x, _chebyshev_step)


def chebyshev_polynomial_u(input: Tensor | float, n: Tensor | float) -> Tensor:
    """The Chebyshev polynomial of the second kind ``U_n(x)``."""
    return _three_term("chebyshev_polynomial_u", input, n, lambda x: 2.0 * x, _chebyshev_step)


def chebyshev_polynomial_v(input: Tensor | float, n: Tensor | float) -> Tensor:
    """The Chebyshev polynomial of the third kind ``V_n(x)``."""
    return _three_term("chebyshev_polynomial_v", input, n, lambda x: 2.0 * x - 1.0, _chebyshev_step)


def chebyshev_polynomial_w(input: Tensor | float, n: Tensor | float) -> Tensor:
    """The Chebyshev polynomial of the fourth kind ``W_n(x)``."""
    return _three_term("chebyshev_polynomial_w", input, n, lambda x: 2.0 * x + 1.0, _chebyshev_step)


def _shifted(input: Tensor | float) -> Tensor | float:
    """``2x - 1``: the shifted polynomials live on ``[0, 1]``."""
    return input * 2.0 - 1.0


def shifted_chebyshev_polynomial_t(input: Tensor | float, n: Tensor | float) -> Tensor:
    """``T_n(2x - 1)``."""
    return chebyshev_polynomial_t(_shifted(input), n)


def shifted_chebyshev_polynomial_u(input: Tensor | float, n: Tensor | float) -> Tensor:
    """``U_n(2x - 1)``."""
    return chebyshev_polynomial_u(_shifted(input), n)


def shifted_chebyshev_polynomial_v(input: Tensor | float, n: Tensor | float) -> Tensor:
    """``V_n(2x - 1)``."""
    return chebyshev_polynomial_v(_shifted(input), n)


def shifted_chebyshev_polynomial_w(input: Tensor | float, n: Tensor | float) -> Tensor:
    """``W_n(2x - 1)``."""
    return chebyshev_polynomial_w(_shifted(input), n)


def hermite_polynomial_h(input: Tensor | float, n: Tensor | float) -> Tensor:
    """The physicists' Hermite polynomial ``H_n(x)``."""
    return _three_term(
        "hermite_polynomial_h",
        input,
        n,
        lambda x: 2.0 * x,
        lambda x, cur, prev, k: 2.0 * x * cur - 2.0 * k * prev,
    )


def hermite_polynomial_he(input: Tensor | float, n: Tensor | float) -> Tensor:
    """The probabilists' Hermite polynomial ``He_n(x)``."""
    return _three_term(
        "hermite_polynomial_he", input, n, lambda x: x, lambda x, cur, prev, k: x * cur - k * prev
    )


def laguerre_polynomial_l(input: Tensor | float, n: Tensor | float) -> Tensor:
    """The Laguerre polynomial ``L_n(x)``."""
    return _three_term(
        "laguerre_polynomial_l",
        input,
        n,
        lambda x: 1.0 - x,
        lambda x, cur, prev, k: ((2 * k + 1 - x) * cur - k * prev) / (k + 1),
    )


def legendre_polynomial_p(input: Tensor | float, n: Tensor | float) -> Tensor:
    """The Legendre polynomial ``P_n(x)``."""
    return _three_term(
        "legendre_polynomial_p",
        input,
        n,
        lambda x: x,
        lambda x, cur, prev, k: ((2 * k + 1) * x * cur - k * prev) / (k + 1),
    )


# ---- regularised incomplete gamma --------------------------------------------------------------


@in_float32  # half types: float32 range and precision inside
def _incomplete_gamma(op: str, a: Tensor | float, x: Tensor | float) -> tuple[Tensor, Tensor]:
    """``(P(a, x), Q(a, x))``, the regularised lower and upper incomplete gamma functions, as
    Numerical Recipes' ``gser``/``gcf``: the power series where ``x < a + 1`` and the
    continued fraction (modified Lentz) above, each reading values clamped to its side, with
    as many steps as the largest ``a`` needs (about ``10 sqrt(a)``). Edges as PyTorch's
    (Cephes): NaN for negative arguments, ``P(0, x > 0) = 1``, ``P(a, 0) = 0``,
    ``P(a, inf) = 1``, ``P(inf, finite x) = 0``."""
    if not isinstance(a, Tensor) and not isinstance(x, Tensor):
        raise ArgumentTypeError(f"{op}: at least one of input and other must be a Tensor")
    like = a if isinstance(a, Tensor) else x
    assert isinstance(like, Tensor)
    dtype = like.dtype if like.dtype.is_floating_point else _core._default_dtype()
    a_t = a if isinstance(a, Tensor) else _core.full((), float(a), dtype=dtype, device=like.device)
    x_t = x if isinstance(x, Tensor) else _core.full((), float(x), dtype=dtype, device=like.device)
    a_t, x_t = _common_float(a_t, x_t)
    a_t, x_t = broadcast_tensors(a_t, x_t)
    if a_t.dtype == _core.float32 and a_t.device.type in ("cpu", "cuda"):
        # float32's lgamma(a) is off by ~eps * a ln a, all of it landing in the prefactor
        # exp(a ln x - x - lgamma(a)): compute in float64 and round once.
        p64, q64 = _incomplete_gamma(op, a_t.to(_core.float64), x_t.to(_core.float64))
        return p64.to(_core.float32), q64.to(_core.float32)
    nan = (a_t < 0) | (x_t < 0) | a_t.isnan() | x_t.isnan() | ((a_t == 0) & (x_t == 0))
    nan = nan | ((a_t == math.inf) & (x_t == math.inf))
    p_one = ((a_t == 0) & (x_t > 0)) | ((x_t == math.inf) & (a_t < math.inf))
    p_zero = ((x_t == 0) & (a_t > 0)) | ((a_t == math.inf) & (x_t < math.inf))
    fixed = nan | p_one | p_zero
    av = where(fixed, ones_like(a_t), a_t)
    xv = where(fixed, ones_like(x_t), x_t)
    biggest = float(av.max().item()) if av.numel() else 1.0
    large = None
    if biggest > _IGAMMA_HOST_FROM:
        # Those elements go to the host below; the series here sees 1s in their place (its
        # steps would fall short, and NaN derivatives times a masked 0 are still NaN).
        large = (av, xv, av > _IGAMMA_HOST_FROM)
        av, xv = where(large[2], ones_like(av), av), where(large[2], ones_like(xv), xv)
        biggest = float(av.max().item())
    steps = min(_IGAMMA_MAX_STEPS, 30 + int(10 * math.sqrt(max(biggest, 1.0))))
    tiny = 1e-300 if av.dtype == _core.float64 else 1e-30
    series_side = xv < av + 1.0
    # exp(-x + a ln x - lgamma(a)): the common prefactor.
    xs = where(series_side, xv, av)  # the series' side: x < a + 1
    xc = where(series_side, av + 1.0, xv)  # the fraction's side: x >= a + 1
    term = 1.0 / av
    total = term
    for k in range(1, steps):
        term = term * xs / (av + float(k))
        total = total + term
    p_series = total * (-xs + av * xs.log() - av.lgamma()).exp()
    b = xc + 1.0 - av
    c = full_like(b, 1.0 / tiny)
    d = 1.0 / b
    h = d
    for i in range(1, steps):
        an = -float(i) * (float(i) - av)
        b = b + 2.0
        d = an * d + b
        d = where(d.abs() < tiny, full_like(d, tiny), d)
        c = b + an / c
        c = where(c.abs() < tiny, full_like(c, tiny), c)
        d = 1.0 / d
        h = h * d * c
    q_fraction = (-xc + av * xc.log() - av.lgamma()).exp() * h
    p = where(series_side, p_series, 1.0 - q_fraction)
    q = where(series_side, 1.0 - p_series, q_fraction)
    # Small x with a not much larger: 1 - P cancels, Q has a series of its own (Cephes' igamc).
    log_x = xv.log()
    q_side = (xv <= 1.1) & where(xv <= 0.5, av <= -0.4 / log_x, av <= 1.1 * xv)
    q = where(q_side, _igamc_series(av, xv, log_x, steps), q)
    if large is not None:
        p, q = _incomplete_gamma_large(*large, p, q)
    return _incomplete_gamma_edges(p, q, nan, p_one, p_zero)


def _incomplete_gamma_large(
    av: Tensor, xv: Tensor, big: Tensor, p: Tensor, q: Tensor
) -> tuple[Tensor, Tensor]:
    """``(P, Q)`` with the elements ``big`` (``a > _IGAMMA_HOST_FROM``, more steps than
    ``_incomplete_gamma`` takes) iterated to convergence on the host, still differentiable
    (``Q``'s value from the host, its gradient that of ``-P``)."""
    ab, xb = where(big, av, ones_like(av)), where(big, xv, ones_like(xv))
    p_host = GammaInc.apply(ab, xb)
    q_values = to_like(incomplete_gamma_np(host(ab), host(xb))[1].reshape(tuple(ab.shape)), ab)
    q_host = q_values - (p_host - p_host.detach())
    return where(big, p_host, p), where(big, q_host, q)


def _incomplete_gamma_edges(
    p: Tensor, q: Tensor, nan: Tensor, p_one: Tensor, p_zero: Tensor
) -> tuple[Tensor, Tensor]:
    """``(P, Q)`` with the edge values (NaN, 0 and 1) written over the computed ones."""
    p = where(p_one, ones_like(p), where(p_zero, zeros_like(p), p))
    q = where(p_one, zeros_like(q), where(p_zero, ones_like(q), q))
    return where(nan, full_like(p, math.nan), p), where(nan, full_like(q, math.nan), q)


def _igamc_series(a: Tensor, x: Tensor, log_x: Tensor, steps: int) -> Tensor:
    """``Q(a, x) = -expm1(a ln x - ln Gamma(1 + a)) - x^a / Gamma(a) sum_n (-x)^n / (n! (a + n))``
    (DLMF 8.7.3), accurate where ``Q`` is small because ``a`` is: no ``1 - P`` cancellation."""
    fac = ones_like(x)
    total = zeros_like(x)
    for n in range(1, min(steps, 60)):  # x <= 1.1: 1.1^n / n! is below 1e-30 by n = 35
        fac = fac * (-x / float(n))
        total = total + fac / (a + float(n))
    lead = -(a * log_x - _lgamma1p(a)).expm1()
    return lead - (a * log_x - a.lgamma()).exp() * total


def _lgamma1p(a: Tensor) -> Tensor:
    """``ln Gamma(1 + a)`` without forming ``1 + a`` for small ``a`` (its rounding would cost
    ``a``'s low digits): the Taylor series about 0 where ``|a| <= 0.2``."""
    near = a.abs() <= 0.2
    z = where(near, a, zeros_like(a))
    tail = zeros_like(z)
    for c in reversed(_LGAMMA1P_TAYLOR):
        tail = tail * z + c
    return where(near, z * (z * tail - _EULER_GAMMA), (a + 1.0).lgamma())


def gammainc(input: Tensor | float, other: Tensor | float) -> Tensor:
    """The regularised lower incomplete gamma function ``P(a, x)`` of ``a = input`` and
    ``x = other``."""
    return _incomplete_gamma("gammainc", input, other)[0]


def gammaincc(input: Tensor | float, other: Tensor | float) -> Tensor:
    """The regularised upper incomplete gamma function ``Q(a, x) = 1 - P(a, x)``, without the
    cancellation of the subtraction where ``P`` is close to 1."""
    return _incomplete_gamma("gammaincc", input, other)[1]


# ---- modified Bessel functions of the second kind ---------------------------------------------

_EULER_GAMMA = 0.57721566490153286061
_K_SMALL = 1e-4  # below: the leading terms of the series about 0
_K_STEP = 0.1  # trapezoid step in t of K_v(x) = int_0^inf exp(-x cosh t) cosh(v t) dt
_K_NODES = 166  # t up to 16.5, where exp(-1e-4 cosh t) has decayed below 1e-300


@in_float32  # half types: float32 range and precision inside
def _bessel_k(input: Tensor, order: int, scaled: bool) -> Tensor:
    """``K_order(x)`` (``order`` 0 or 1), times ``exp(x)`` if ``scaled``: the series about 0
    below ``1e-4``, the trapezoid rule on ``int_0^inf exp(-x (cosh t - 1)) cosh(v t) dt``
    (exponentially accurate for this analytic, doubly-exponentially decaying integrand) up
    to 20, and the asymptotic series above. ``inf`` at 0, NaN below 0, as PyTorch's."""
    x = _floating(input)
    small = _clip(x, 1e-300, _K_SMALL)
    log_half = (small * 0.5).log()
    if order == 0:
        # K0 = -(ln(x/2) + gamma) (1 + x^2/4) + x^2/4 + O(x^4 ln x)
        y = small * small * 0.25
        near0 = -(log_half + _EULER_GAMMA) * (1.0 + y) + y
    else:
        # K1 = 1/x + (x/2)(ln(x/2) + gamma) - x/4 + O(x^3 ln x)
        near0 = 1.0 / small + small * 0.5 * (log_half + _EULER_GAMMA) - small * 0.25
    if scaled:
        near0 = near0 * small.exp()
    mid = _clip(x, _K_SMALL, _BESSEL_SWITCH)
    total = zeros_like(mid)
    for k in range(_K_NODES):
        t = k * _K_STEP
        weight = (0.5 if k == 0 else 1.0) * (math.cosh(order * t))
        total = total + weight * (mid * (-2.0 * math.sinh(t / 2) ** 2)).exp()
    quad = total * _K_STEP  # exp(x) K(x)
    if not scaled:
        quad = quad * (-mid).exp()
    far = _clip(x, _BESSEL_SWITCH, None)
    mu = 4.0 * order * order
    series = ones_like(far)
    for k in range(_BESSEL_ASYMPTOTIC_TERMS, 0, -1):
        series = 1.0 + series * ((mu - (2 * k - 1) ** 2) / (8.0 * k)) / far
    asym = series * (math.pi / 2 / far).sqrt()
    if not scaled:
        asym = asym * (-far).exp()
    value = where(x < _K_SMALL, near0, where(x <= _BESSEL_SWITCH, quad, asym))
    value = where(x == 0, full_like(value, math.inf), value)
    return where((x < 0) | x.isnan(), full_like(value, math.nan), value)


def modified_bessel_k0(input: Tensor) -> Tensor:
    """The modified Bessel function of the second kind, order 0."""
    return _bessel_k(input, 0, scaled=False)


def modified_bessel_k1(input: Tensor) -> Tensor:
    """The modified Bessel function of the second kind, order 1."""
    return _bessel_k(input, 1, scaled=False)


def scaled_modified_bessel_k0(input: Tensor) -> Tensor:
    """``exp(x) K0(x)``."""
    return _bessel_k(input, 0, scaled=True)


def scaled_modified_bessel_k1(input: Tensor) -> Tensor:
    """``exp(x) K1(x)``."""
    return _bessel_k(input, 1, scaled=True)


# ---- Bessel functions of the first kind ----------------------------------------------------------

_J_SMALL = 1.0  # below: the power series about 0
_J_SWITCH = 25.0  # above: Hankel's asymptotic expansion
_J_NODES = 64  # trapezoid nodes over a period of Bessel's integral (aliasing error ~ J_64(25))


def _hankel(far: Tensor, order: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Hankel's asymptotic ``P``, ``Q`` and ``cos``/``sin`` of ``chi = x - (2n + 1) pi / 4``
    for ``J_n`` and ``Y_n`` of order 0 or 1 at large ``x``."""
    mu = 4.0 * order * order
    p_sum, q_sum = zeros_like(far), zeros_like(far)
    coef = ones_like(far)  # a_k(order) / x^k
    for k in range(2 * _BESSEL_ASYMPTOTIC_TERMS):
        if k:
            coef = coef * ((mu - (2 * k - 1) ** 2) / (8.0 * k)) / far
        sign = -1.0 if (k // 2) % 2 else 1.0
        if k % 2 == 0:
            p_sum = p_sum + sign * coef
        else:
            q_sum = q_sum + sign * coef
    # cos/sin(x - phi) from cos x and sin x: x - phi itself would round (float32: ~x eps).
    phi = (2 * order + 1) * math.pi / 4
    cos_x, sin_x = far.cos(), far.sin()
    cos_chi = cos_x * math.cos(phi) + sin_x * math.sin(phi)
    sin_chi = sin_x * math.cos(phi) - cos_x * math.sin(phi)
    return p_sum, q_sum, cos_chi, sin_chi


@in_float32  # half types: float32 range and precision inside
def _bessel_j(input: Tensor, order: int) -> Tensor:
    """``J_order(x)`` (``order`` 0 or 1): the power series about 0 below 1; Bessel's integral
    ``(1/2pi) int_0^2pi cos(n t - x sin t) dt`` by the trapezoid rule up to 25 (spectrally
    accurate for a periodic integrand); Hankel's expansion ``sqrt(2/(pi x)) (P cos(chi) -
    Q sin(chi))``, ``chi = x - (2n + 1) pi / 4``, above. ``J_1`` is odd, ``J_0`` even."""
    x = _floating(input)
    ax = x.abs()
    tiny = _clip(x, -_J_SMALL, _J_SMALL)  # signed: J1 odd through 0 (and -0)
    # The alternating power series sum (-x^2/4)^k / (k! (k + n)!): below 1 its terms fall
    # fast and keep J1's relative precision near 0, which the quadrature (an O(1) sum whose
    # result is x/2) loses in float32.
    near0 = _bessel_series(tiny * tiny * -0.25, order)
    if order == 1:
        near0 = near0 * tiny * 0.5
    mid = _clip(ax, _J_SMALL, _J_SWITCH)
    total = zeros_like(mid)
    for k in range(_J_NODES):
        t = 2 * math.pi * k / _J_NODES
        total = total + (order * t - mid * math.sin(t)).cos()
    quad = total / float(_J_NODES)
    far = _clip(ax, _J_SWITCH, None)
    p_sum, q_sum, cos_chi, sin_chi = _hankel(far, order)
    asym = (2.0 / math.pi / far).sqrt() * (p_sum * cos_chi - q_sum * sin_chi)
    away = where(ax <= _J_SWITCH, quad, asym)
    away = where(ax == math.inf, zeros_like(away), away)
    if order == 1:
        away = away * where(x < 0, -ones_like(x), ones_like(x))
    return where(ax < _J_SMALL, near0, away)


def bessel_j0(input: Tensor) -> Tensor:
    """The Bessel function of the first kind, order 0."""
    return _bessel_j(input, 0)


def bessel_j1(input: Tensor) -> Tensor:
    """The Bessel function of the first kind, order 1."""
    return _bessel_j(input, 1)


# ---- Bessel functions of the second kind ---------------------------------------------------------

_Y_TERMS = 36  # Neumann series terms: J_72(25) ~ 1e-23
_Y_NODES = 160  # trapezoid nodes: aliasing error ~ J_(160 - 72)(25), far below float64's eps


def _neumann_weights() -> list[tuple[float, float, float, float, float]]:
    """The trapezoid rule's nodes ``t`` folded onto the distinct ``|sin t|`` (a quarter of
    them: ``cos(x sin t)`` is even in ``sin t``, ``sin(x sin t)`` odd): per ``s = |sin t|``,
    the weights of ``cos(x s)`` and ``sin(x s)`` in ``S = sum_k c_k J_2k(x)`` and in ``S'``,
    where ``c_k = (-1)^(k+1) / k`` and ``J_2k(x) = mean over t of cos(2k t - x sin t)``."""
    quarter = _Y_NODES // 4
    folded = [[0.0, 0.0, 0.0, 0.0] for _ in range(quarter + 1)]
    for j in range(_Y_NODES):
        t = 2 * math.pi * j / _Y_NODES
        a = sum((-1.0) ** (k + 1) / k * math.cos(2 * k * t) for k in range(1, _Y_TERMS + 1))
        b = sum((-1.0) ** (k + 1) / k * math.sin(2 * k * t) for k in range(1, _Y_TERMS + 1))
        half = _Y_NODES // 2
        m = j % half
        m = m if m <= quarter else half - m
        sg = -1.0 if j > half else 1.0
        st = math.sin(2 * math.pi * m / _Y_NODES)
        w = folded[m]
        # cos(2kt - x sin t) = cos 2kt cos(x sin t) + sin 2kt sin(x sin t); its x-derivative
        # is sin t (sin 2kt cos(x sin t) - cos 2kt sin(x sin t)).
        w[0] += a
        w[1] += sg * b
        w[2] += sg * st * b
        w[3] -= st * a
    return [
        (math.sin(2 * math.pi * m / _Y_NODES), *(v / _Y_NODES for v in w))  # type: ignore[misc]
        for m, w in enumerate(folded)
    ]


_NEUMANN: list[list[tuple[float, float, float, float, float]]] = []


@in_float32  # half types: float32 range and precision inside
def _bessel_y(input: Tensor, order: int) -> Tensor:
    """``Y_order(x)`` (``order`` 0 or 1; ``-inf`` at 0, NaN below, 0 at ``inf``): Neumann's
    series ``Y0 = (2/pi) ((ln(x/2) + gamma) J0 + 2 sum_k (-1)^(k+1) J_2k / k)`` up to 25,
    its sum taken in one pass of the trapezoid rule over Bessel's integral for ``J_2k``
    (``Y1 = -Y0'``, differentiated term by term); Hankel's expansion ``sqrt(2/(pi x))
    (P sin(chi) + Q cos(chi))`` above."""
    if not _NEUMANN:
        _NEUMANN.append(_neumann_weights())
    x = _floating(input)
    mid = _clip(x, _tiny(x.dtype), _J_SWITCH)  # subnormal x keep their logarithm
    sum_s, sum_d = zeros_like(mid), zeros_like(mid)  # S = sum c_k J_2k and S'
    for st, c_s, s_s, c_d, s_d in _NEUMANN[0]:
        if st == 0.0:
            sum_s = sum_s + c_s  # (cos 0 = 1, sin 0 = 0)
            continue
        arg = mid * st
        c, s_ = arg.cos(), arg.sin()
        if order == 0:
            sum_s = sum_s + (c * c_s + s_ * s_s)
        else:
            sum_d = sum_d + (c * c_d + s_ * s_d)
    log_term = mid.log() + (_EULER_GAMMA - math.log(2.0))  # not ln(x/2): x/2 may round to 0
    if order == 0:
        near = (log_term * bessel_j0(mid) + 2.0 * sum_s) * (2.0 / math.pi)
    else:
        near = (bessel_j0(mid) / mid - log_term * bessel_j1(mid) + 2.0 * sum_d) * (-2.0 / math.pi)
    far = _clip(x, _J_SWITCH, None)
    p_sum, q_sum, cos_chi, sin_chi = _hankel(far, order)
    asym = (2.0 / math.pi / far).sqrt() * (p_sum * sin_chi + q_sum * cos_chi)
    value = where(x <= _J_SWITCH, near, asym)
    value = where(x == math.inf, zeros_like(value), value)
    value = where(x == 0, full_like(value, -math.inf), value)
    return where(x < 0, full_like(value, math.nan), value)


def bessel_y0(input: Tensor) -> Tensor:
    """The Bessel function of the second kind, order 0 (``torch.special.bessel_y0``)."""
    return _bessel_y(input, 0)


def bessel_y1(input: Tensor) -> Tensor:
    """The Bessel function of the second kind, order 1 (``torch.special.bessel_y1``)."""
    return _bessel_y(input, 1)


def _take_out() -> None:
    """Every function here takes PyTorch's ``out=`` (``torch.special.erf(x, out=buf)``),
    but ``softmax`` and ``log_softmax``, which take none there either."""
    from ._out_param import with_out

    namespace = globals()
    for name in __all__:
        if name not in ("softmax", "log_softmax"):
            namespace[name] = with_out(namespace[name], name)


_take_out()
