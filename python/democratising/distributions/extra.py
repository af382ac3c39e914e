"""More of PyTorch's ``torch.distributions``: ``Weibull``, ``Pareto``, ``Kumaraswamy`` and
``HalfCauchy`` (transformed distributions, as PyTorch builds them, so ``rsample`` carries
gradients), ``NegativeBinomial`` (a gamma-Poisson mixture) and ``Multinomial`` (counts of
``total_count`` categorical draws), ``GeneralizedPareto``. Formulas follow PyTorch's."""

from __future__ import annotations

import math
from typing import Any, Optional, Union

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad
from ..errors import ArgumentTypeError
from . import (
    _VALIDATE,
    Distribution,
    Number,
    ShapeLike,
    _as_tensor,
    _BinaryProbsOrLogits,
    _broadcast,
    _CentredAtLoc,
    _ModeAtLoc,
    _shape,
    constraints,
)
from ._common import _EULER, _POS, _Base
from .continuous import Cauchy, Exponential, Gamma, _Folded
from .discrete import Binomial, OneHotCategorical, _CountedBinary
from .exp_family import ExponentialFamily
from .transforms import AbsTransform, AffineTransform, ExpTransform, PowerTransform
from .wrappers import TransformedDistribution, _OverCategorical

__all__ = [
    "ContinuousBernoulli",
    "FisherSnedecor",
    "GeneralizedPareto",
    "HalfCauchy",
    "InverseGamma",
    "Kumaraswamy",
    "LogisticNormal",
    "Multinomial",
    "NegativeBinomial",
    "OneHotCategoricalStraightThrough",
    "Pareto",
    "VonMises",
    "Weibull",
]


class _TransformedParams(TransformedDistribution):
    """A transformed distribution that keeps its own broadcast parameters (``_params``),
    validates them after building itself, takes a number given to ``log_prob`` in their dtype,
    and expands them with its base in ``expand``."""

    _params: tuple[str, ...] = ()

    def _init_transformed(
        self, base: Distribution, transforms: list[Any], validate_args: Any
    ) -> None:
        """``TransformedDistribution``'s constructor, then the check of each of ``_params``
        against ``arg_constraints``."""
        TransformedDistribution.__init__(self, base, transforms, validate_args=validate_args)
        for name in self._params:
            self._check_param(name, getattr(self, name))

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value, getattr(self, self._params[0]))
        return super().log_prob(value)

    def expand(self, batch_shape: ShapeLike, _instance: Any = None) -> Distribution:
        shape = _shape(batch_shape)
        new = super().expand(shape, _instance)
        for name in self._params:
            new.__dict__[name] = self.__dict__[name].expand(shape)
        return new


class Weibull(_TransformedParams):
    """Weibull(scale, concentration): ``scale * E ** (1 / concentration)`` for ``E`` a unit
    exponential."""

    arg_constraints = {"scale": _POS, "concentration": _POS}
    support = _POS  # type: ignore[assignment]
    _params = ("scale", "concentration")

    def __init__(
        self,
        scale: Union[Tensor, Number],
        concentration: Union[Tensor, Number],
        validate_args: Any = None,
    ) -> None:
        self.scale, self.concentration = _broadcast(scale, concentration)
        base = Exponential(self.scale * 0 + 1, validate_args=validate_args)
        transforms = [
            PowerTransform(self.concentration.reciprocal()),
            AffineTransform(0.0, self.scale),
        ]
        self._init_transformed(base, transforms, validate_args)

    @property
    def mean(self) -> Tensor:
        return self.scale * (1 + self.concentration.reciprocal()).lgamma().exp()

    @property
    def mode(self) -> Tensor:
        k = self.concentration
        return self.scale * ((k - 1) / k).pow(k.reciprocal())

    @property
    def variance(self) -> Tensor:
        r = self.concentration.reciprocal()
        return self.scale.pow(2) * ((1 + 2 * r).lgamma().exp() - (2 * (1 + r).lgamma()).exp())

    def entropy(self) -> Tensor:
        r = self.concentration.reciprocal()
        return _EULER * (1 - r) + (self.scale * r).log() + 1


class Pareto(_TransformedParams):
    """Pareto(scale, alpha): ``scale * exp(E)`` for ``E ~ Exponential(alpha)``."""

    arg_constraints = {"alpha": _POS, "scale": _POS}
    _params = ("scale", "alpha")

    def __init__(
        self, scale: Union[Tensor, Number], alpha: Union[Tensor, Number], validate_args: Any = None
    ) -> None:
        self.scale, self.alpha = _broadcast(scale, alpha)
        base = Exponential(self.alpha, validate_args=validate_args)
        transforms = [ExpTransform(), AffineTransform(0.0, self.scale)]
        self._init_transformed(base, transforms, validate_args)

    @property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.greater_than_eq(self.scale)

    @property
    def mean(self) -> Tensor:
        a = self.alpha.clamp(min=1)
        return a * self.scale / (a - 1)

    @property
    def mode(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        a = self.alpha.clamp(min=2)
        return self.scale.pow(2) * a / ((a - 1).pow(2) * (a - 2))

    def entropy(self) -> Tensor:
        return (self.scale / self.alpha).log() + (1 + self.alpha.reciprocal())


def _kumaraswamy_moments(a: Tensor, b: Tensor, n: int) -> Tensor:
    arg1 = 1 + n / a
    return b * (arg1.lgamma() + b.lgamma() - (arg1 + b).lgamma()).exp()


class Kumaraswamy(_TransformedParams):
    """Kumaraswamy(concentration1, concentration0): ``(1 - U ** (1 / b)) ** (1 / a)`` for
    ``U ~ Uniform(0, 1)``."""

    arg_constraints = {"concentration1": _POS, "concentration0": _POS}
    support = constraints.unit_interval  # type: ignore[assignment]
    _params = ("concentration1", "concentration0")

    def __init__(
        self,
        concentration1: Union[Tensor, Number],
        concentration0: Union[Tensor, Number],
        validate_args: Any = None,
    ) -> None:
        from . import Uniform

        self.concentration1, self.concentration0 = _broadcast(concentration1, concentration0)
        zeros = self.concentration0 * 0
        base = Uniform(zeros, zeros + 1, validate_args=validate_args)
        transforms = [
            PowerTransform(self.concentration0.reciprocal()),
            AffineTransform(1.0, -1.0),
            PowerTransform(self.concentration1.reciprocal()),
        ]
        self._init_transformed(base, transforms, validate_args)

    @property
    def mean(self) -> Tensor:
        return _kumaraswamy_moments(self.concentration1, self.concentration0, 1)

    @property
    def mode(self) -> Tensor:
        # ((a - 1) / (a b - 1)) ** (1 / a); PyTorch's log-form expression is NaN for b > 1.
        a, b = self.concentration1, self.concentration0
        mode = ((a - 1) / (a * b - 1)).pow(a.reciprocal())
        return mode.masked_fill((b < 1) | (a < 1), float("nan"))

    @property
    def variance(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        return _kumaraswamy_moments(a, b, 2) - self.mean.pow(2)

    def entropy(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        t1 = 1 - a.reciprocal()
        t0 = 1 - b.reciprocal()
        h0 = (b + 1).digamma() + _EULER
        return t0 + t1 * h0 - a.log() - b.log()


class HalfCauchy(_Folded):
    """HalfCauchy(scale): ``|x|`` for ``x ~ Cauchy(0, scale)``; ``log_prob`` is ``-inf``
    below zero."""

    def __init__(self, scale: Union[Tensor, Number], validate_args: Any = None) -> None:
        (scale_t,) = _broadcast(scale)
        base = Cauchy(scale_t * 0, scale_t, validate_args=False)
        super().__init__(base, AbsTransform(), validate_args=validate_args)
        self._check("scale", scale_t, scale_t > 0, _POS)

    def log_prob(self, value: Any) -> Tensor:
        # PyTorch's takes the value in the scale's dtype (a float64 value with float32 ``scale``
        # gives float32).
        value = self._value(value, self.scale)
        if value.dtype != self.scale.dtype:
            value = value.to(self.scale.dtype)
        return super().log_prob(value)

    @property
    def mean(self) -> Tensor:
        return _core.full(self._batch_shape, math.inf, dtype=self.scale.dtype)

    @property
    def mode(self) -> Tensor:
        return self.scale * 0

    @property
    def variance(self) -> Tensor:
        return self.base_dist.variance


class NegativeBinomial(_CountedBinary):
    """NegativeBinomial(total_count, probs=None, logits=None): the number of successes (each
    of probability ``probs``) before ``total_count`` failures; ``sample`` draws
    ``Poisson(Gamma(total_count, exp(-logits)))``."""

    arg_constraints = {
        "total_count": constraints.greater_than_eq(0),
        "probs": constraints.half_open_interval(0.0, 1.0),
        "logits": constraints.real,
    }
    support = constraints.nonnegative_integer

    @property
    def mean(self) -> Tensor:
        return self.total_count * self.logits.exp()

    @property
    def mode(self) -> Tensor:
        return ((self.total_count - 1) * self.logits.exp()).floor().clamp(min=0.0)

    @property
    def variance(self) -> Tensor:
        return self.mean / (-self.logits).sigmoid()

    def sample(self, sample_shape: ShapeLike = ()) -> Tensor:
        from .._random_more import poisson

        with no_grad():
            gamma = Gamma(self.total_count, (-self.logits).exp(), validate_args=False)
            return poisson(gamma.sample(sample_shape).contiguous())

    def log_prob(self, value: Any) -> Tensor:
        from ..nn.functional import logsigmoid

        value = self._value(value, self.logits)
        self._validate_sample(value)
        n, logits = self.total_count, self.logits
        log_unnormalized = n * logsigmoid(-logits) + value * logsigmoid(logits)
        log_normalization = -(n + value).lgamma() + (1.0 + value).lgamma() + n.lgamma()
        log_normalization = log_normalization.masked_fill(n + value == 0.0, 0.0)
        return log_unnormalized - log_normalization


class Multinomial(_OverCategorical):
    """Multinomial(total_count=1, probs=None, logits=None): counts over the last dimension's
    ``K`` categories from ``total_count`` (an int) independent categorical draws."""

    def __init__(
        self,
        total_count: int = 1,
        probs: Optional[Tensor] = None,
        logits: Optional[Tensor] = None,
        validate_args: Any = None,
    ) -> None:
        if isinstance(total_count, bool) or not isinstance(total_count, int):
            raise ArgumentTypeError("inhomogeneous total_count is not supported: pass an int")
        self.total_count = total_count
        self._init_categorical(probs, logits, validate_args)
        if total_count < 0 and _VALIDATE[0]:
            # PyTorch's inner ``Binomial`` (built with the default ``validate_args``, whatever
            # this one's) rejects it as not a ``nonnegative_integer``.
            count = _as_tensor(float(total_count), self.probs)
            self._fail("total_count", constraints.nonnegative_integer, count)

    @property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.multinomial(self.total_count)

    @property
    def mean(self) -> Tensor:
        return self.probs * self.total_count

    @property
    def variance(self) -> Tensor:
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape: ShapeLike = ()) -> Tensor:
        from ..nn.functional import one_hot

        shape = _shape(sample_shape)
        k = self._event_shape[0]
        with no_grad():
            if self.total_count == 0:
                return _core.zeros(self._extended_shape(shape), dtype=self.probs.dtype)
            idx = self._categorical.sample((self.total_count, *shape))
            return one_hot(idx, k).to(self.probs.dtype).sum(0)

    def log_prob(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.probs)
        self._validate_sample(value)
        logits, value = _broadcast(self.logits, value)
        logits = logits.masked_fill((value == 0) & (logits == -math.inf), 0.0)
        log_factorial_n = (value.sum(-1) + 1).lgamma()
        log_factorial_xs = (value + 1).lgamma().sum(-1)
        return log_factorial_n - log_factorial_xs + (logits * value).sum(-1)

    def entropy(self) -> Tensor:
        n = float(self.total_count)
        term1 = n * self._categorical.entropy() - math.lgamma(n + 1)
        binomial = Binomial(self.total_count, probs=self.probs, validate_args=False)
        support = binomial.enumerate_support(expand=False)[1:]
        binomial_probs = binomial.log_prob(support).exp()
        weights = (support + 1).lgamma()
        return term1 + (binomial_probs * weights).sum(0).sum(-1)


def _where(cond: Tensor, a: Tensor, b: Any) -> Tensor:
    from .._core import where

    return where(cond, a, b)  # type: ignore[no-any-return]


class ContinuousBernoulli(_BinaryProbsOrLogits, _Base, ExponentialFamily):
    """ContinuousBernoulli(probs=None, logits=None, lims=(0.499, 0.501)): the density on
    ``[0, 1]`` proportional to ``probs ** x (1 - probs) ** (1 - x)``; ``rsample`` inverts the
    cdf of a uniform draw. Inside ``lims`` (near ``probs = 1/2``) Taylor expansions replace
    the unstable closed forms, as in PyTorch."""

    support = constraints.unit_interval
    has_rsample = True
    _mean_carrier_measure = 0

    @property
    def _natural_params(self) -> tuple[Tensor]:
        return (self.logits,)

    def _log_normalizer(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """``log((e^x - 1) / x)``; inside ``lims`` (shifted to the natural parameter, as
        PyTorch's) its Taylor expansion about 0."""
        lo, hi = self._lims[0] - 0.5, self._lims[1] - 0.5
        outside = (x <= lo) | (x > hi)
        cut = _where(outside, x, x * 0 + lo)
        log_norm = cut.expm1().abs().log() - cut.abs().log()
        taylor = 0.5 * x + x.pow(2) / 24.0 - x.pow(4) / 2880.0
        return _where(outside, log_norm, taylor)

    def __init__(
        self,
        probs: Optional[Union[Tensor, Number]] = None,
        logits: Optional[Union[Tensor, Number]] = None,
        lims: tuple[float, float] = (0.499, 0.501),
        validate_args: Any = None,
    ) -> None:
        from ._common import _clamp_probs

        self._exactly_one(probs, logits)
        if probs is not None:
            (p,) = _broadcast(probs)
            _Base.__init__(self, tuple(p.shape), (), validate_args)
            # PyTorch checks ``probs`` only when ``validate_args`` is passed (either way);
            # by default out-of-range values are silently clamped.
            if validate_args is not None:
                constraint = self.arg_constraints["probs"]
                if not bool(constraint.check(p).all().item()):
                    self._fail("probs", constraint, p)
            self.probs = _clamp_probs(p)
        else:
            (lg,) = _broadcast(logits)
            _Base.__init__(self, tuple(lg.shape), (), validate_args)
            self._check("logits", lg, lg == lg, constraints.real)
            self.logits = lg
        self._lims = lims

    def __getattr__(self, name: str) -> Any:
        if name == "probs":
            from .._grad_mode import enable_grad
            from ._common import _clamp_probs

            with enable_grad():  # cached: see ``_ProbsOrLogits.__getattr__``
                value = _clamp_probs(self.__dict__["logits"].sigmoid())
            self.__dict__[name] = value
            return value
        return super().__getattr__(name)

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._batch_shape

    def _outside_unstable_region(self) -> Tensor:
        return (self.probs <= self._lims[0]) | (self.probs > self._lims[1])

    def _cut_probs(self) -> Tensor:
        return _where(self._outside_unstable_region(), self.probs, self.probs * 0 + self._lims[0])

    def _cont_bern_log_norm(self) -> Tensor:
        cut = self._cut_probs()
        below = _where(cut <= 0.5, cut, cut * 0)
        above = _where(cut >= 0.5, cut, cut * 0 + 1)
        log_norm = ((-cut).log1p() - cut.log()).abs().log() - _where(
            cut <= 0.5, (-2.0 * below).log1p(), (2.0 * above - 1.0).log()
        )
        x = (self.probs - 0.5).pow(2)
        taylor = math.log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * x) * x
        return _where(self._outside_unstable_region(), log_norm, taylor)

    @property
    def mean(self) -> Tensor:
        cut = self._cut_probs()
        mus = cut / (2.0 * cut - 1.0) + 1.0 / ((-cut).log1p() - cut.log())
        x = self.probs - 0.5
        taylor = 0.5 + (1.0 / 3.0 + 16.0 / 45.0 * x.pow(2)) * x
        return _where(self._outside_unstable_region(), mus, taylor)

    @property
    def variance(self) -> Tensor:
        cut = self._cut_probs()
        var = cut * (cut - 1.0) / (1.0 - 2.0 * cut).pow(2) + 1.0 / ((-cut).log1p() - cut.log()).pow(
            2
        )
        x = (self.probs - 0.5).pow(2)
        taylor = 1.0 / 12.0 - (1.0 / 15.0 - 128.0 / 945.0 * x) * x
        return _where(self._outside_unstable_region(), var, taylor)

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        from ._common import _uniform

        return self.icdf(_uniform(self._extended_shape(sample_shape), self.probs))

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value, self.probs)
        self._validate_sample(value)
        logits, value = _broadcast(self.logits, value)
        return value * logits - logits.softplus() + self._cont_bern_log_norm()

    def cdf(self, value: Any) -> Tensor:
        value = self._value(value, self.probs)
        self._validate_sample(value)
        cut = self._cut_probs()
        cdfs = (cut.pow(value) * (1.0 - cut).pow(1.0 - value) + cut - 1.0) / (2.0 * cut - 1.0)
        unbounded = _where(self._outside_unstable_region(), cdfs, value)
        # Constant fills, not value * 0: that is NaN at value = +-inf.
        shape = tuple(value.shape)
        zero = _core.full(shape, 0.0, dtype=value.dtype, device=value.device)
        one = _core.full(shape, 1.0, dtype=value.dtype, device=value.device)
        return _where(value <= 0.0, zero, _where(value >= 1.0, one, unbounded))

    def icdf(self, value: Any) -> Tensor:
        value = self._value(value, self.probs)
        cut = self._cut_probs()
        inv = ((-cut + value * (2.0 * cut - 1.0)).log1p() - (-cut).log1p()) / (
            cut.log() - (-cut).log1p()
        )
        return _where(self._outside_unstable_region(), inv, value)

    def entropy(self) -> Tensor:
        log_probs0 = (-self.probs).log1p()
        log_probs1 = self.probs.log()
        return self.mean * (log_probs0 - log_probs1) - self._cont_bern_log_norm() - log_probs0


_I0_COEF_SMALL = [1.0, 3.5156229, 3.0899424, 1.2067492, 0.2659732, 0.360768e-1, 0.45813e-2]
_I0_COEF_LARGE = [
    0.39894228,
    0.1328592e-1,
    0.225319e-2,
    -0.157565e-2,
    0.916281e-2,
    -0.2057706e-1,
    0.2635537e-1,
    -0.1647633e-1,
    0.392377e-2,
]
_I1_COEF_SMALL = [0.5, 0.87890594, 0.51498869, 0.15084934, 0.2658733e-1, 0.301532e-2, 0.32411e-3]
_I1_COEF_LARGE = [
    0.39894228,
    -0.3988024e-1,
    -0.362018e-2,
    0.163801e-2,
    -0.1031555e-1,
    0.2282967e-1,
    -0.2895312e-1,
    0.1787654e-1,
    -0.420059e-2,
]


def _eval_poly(y: Tensor, coef: list[float]) -> Tensor:
    result = y * 0 + coef[-1]
    for c in reversed(coef[:-1]):
        result = c + y * result
    return result


def _log_modified_bessel_fn(x: Tensor, order: int = 0) -> Tensor:
    """``log I_order(x)`` for ``x > 0`` and order 0 or 1 (PyTorch's polynomial
    approximations, Abramowitz & Stegun 9.8.1-9.8.4)."""
    y = (x / 3.75).pow(2)
    small = _eval_poly(y, _I1_COEF_SMALL if order else _I0_COEF_SMALL)
    if order == 1:
        small = x.abs() * small
    small = small.log()
    y = 3.75 / x
    large = x - 0.5 * x.log() + _eval_poly(y, _I1_COEF_LARGE if order else _I0_COEF_LARGE).log()
    return _where(x < 3.75, small, large)


class VonMises(_CentredAtLoc, _Base):
    """VonMises(loc, concentration): the circular normal on angles (radians, modulo 2 pi);
    ``sample`` is Best & Fisher's rejection sampler in float64, as PyTorch's. ``mean`` and
    ``variance`` are the circular ones."""

    arg_constraints = {"loc": constraints.real, "concentration": _POS}
    support = constraints.real
    has_rsample = False
    _params = ("loc", "concentration")
    loc: Tensor
    concentration: Tensor

    def __init__(
        self,
        loc: Union[Tensor, Number],
        concentration: Union[Tensor, Number],
        validate_args: Any = None,
    ) -> None:
        self._init_params(validate_args, loc, concentration)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value, self.loc)
        self._validate_sample(value)
        lp = self.concentration * (value - self.loc).cos()
        return lp - math.log(2 * math.pi) - _log_modified_bessel_fn(self.concentration, 0)

    def sample(self, sample_shape: ShapeLike = ()) -> Tensor:
        import numpy as np

        from ._common import _host, _to_like

        shape = self._extended_shape(sample_shape)
        with no_grad():
            loc = np.broadcast_to(_host(self.loc), shape).reshape(-1)
            kappa = np.broadcast_to(_host(self.concentration), shape).reshape(-1)
            with np.errstate(divide="ignore", invalid="ignore"):
                tau = 1 + np.sqrt(1 + 4 * kappa**2)
                rho = (tau - np.sqrt(2 * tau)) / (2 * kappa)
                r = np.where(kappa < 1e-5, 1 / kappa + kappa, (1 + rho**2) / (2 * rho))
            x = np.zeros(loc.size)
            todo = np.arange(loc.size)
            while todo.size:
                u = _host(_core.rand(3, todo.size, dtype=_core.float64))
                u1, u2, u3 = u[0], u[1], u[2]
                z = np.cos(math.pi * u1)
                f = (1 + r[todo] * z) / (r[todo] + z)
                c = kappa[todo] * (r[todo] - f)
                with np.errstate(divide="ignore", invalid="ignore"):
                    accept = ((c * (2 - c) - u2) > 0) | (np.log(c / u2) + 1 - c >= 0)
                x[todo[accept]] = np.sign(u3[accept] - 0.5) * np.arccos(f[accept])
                todo = todo[~accept]
            out = np.mod(x + math.pi + loc, 2 * math.pi) - math.pi
            return _to_like(out.reshape(shape), self.loc)

    @property
    def variance(self) -> Tensor:
        k = self.concentration
        return 1 - (_log_modified_bessel_fn(k, 1) - _log_modified_bessel_fn(k, 0)).exp()


class FisherSnedecor(_Base):
    """FisherSnedecor(df1, df2): the F distribution; ``rsample`` is the ratio of two
    reparameterised gamma draws ``Gamma(df / 2, df)``, so gradients reach both ``df``."""

    arg_constraints = {"df1": _POS, "df2": _POS}
    support = _POS
    has_rsample = True
    _params = ("df1", "df2")
    df1: Tensor
    df2: Tensor

    def __init__(
        self, df1: Union[Tensor, Number], df2: Union[Tensor, Number], validate_args: Any = None
    ) -> None:
        self._init_params(validate_args, df1, df2)

    @property
    def mean(self) -> Tensor:
        df2 = self.df2.masked_fill(self.df2 <= 2, float("nan"))
        return df2 / (df2 - 2)

    @property
    def mode(self) -> Tensor:
        mode = (self.df1 - 2) / self.df1 * self.df2 / (self.df2 + 2)
        return mode.masked_fill(self.df1 <= 2, float("nan"))

    @property
    def variance(self) -> Tensor:
        df2 = self.df2.masked_fill(self.df2 <= 4, float("nan"))
        return 2 * df2.pow(2) * (self.df1 + df2 - 2) / (self.df1 * (df2 - 2).pow(2) * (df2 - 4))

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        from ._common import _finfo

        shape = self._extended_shape(sample_shape)
        x1 = Gamma(self.df1 * 0.5, self.df1, validate_args=False).rsample(sample_shape)
        x2 = Gamma(self.df2 * 0.5, self.df2, validate_args=False).rsample(sample_shape)
        tiny = _finfo(x2.dtype).tiny
        return (x1.expand(shape) / x2.expand(shape).clamp(min=tiny)).clamp(min=tiny)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value, self.df1)
        self._validate_sample(value)
        ct1, ct2 = self.df1 * 0.5, self.df2 * 0.5
        ct3 = self.df1 / self.df2
        t1 = (ct1 + ct2).lgamma() - ct1.lgamma() - ct2.lgamma()
        t2 = ct1 * ct3.log() + (ct1 - 1) * value.log()
        t3 = (ct1 + ct2) * (ct3 * value).log1p()
        return t1 + t2 - t3


class InverseGamma(TransformedDistribution):
    """InverseGamma(concentration, rate): ``1 / X`` for ``X ~ Gamma(concentration, rate)``
    (``PowerTransform(-1)``, as PyTorch), reparameterised through the gamma draw."""

    arg_constraints = {"concentration": _POS, "rate": _POS}
    support = _POS  # type: ignore[assignment]

    def __init__(
        self,
        concentration: Union[Tensor, Number],
        rate: Union[Tensor, Number],
        validate_args: Any = None,
    ) -> None:
        base = Gamma(concentration, rate, validate_args=validate_args)
        neg_one = _core.full((), -1.0, dtype=base.rate.dtype, device=base.rate.device)
        super().__init__(base, PowerTransform(neg_one), validate_args=validate_args)

    @property
    def concentration(self) -> Tensor:
        return self.base_dist.concentration  # type: ignore[attr-defined, no-any-return]

    @property
    def rate(self) -> Tensor:
        return self.base_dist.rate  # type: ignore[attr-defined, no-any-return]

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value, self.rate)
        return super().log_prob(value)

    @property
    def mean(self) -> Tensor:
        a = self.concentration
        return (self.rate / (a - 1)).masked_fill(a <= 1, math.inf)

    @property
    def mode(self) -> Tensor:
        return self.rate / (self.concentration + 1)

    @property
    def variance(self) -> Tensor:
        a = self.concentration
        var = self.rate.pow(2) / ((a - 1).pow(2) * (a - 2))
        return var.masked_fill(a <= 2, math.inf)

    def entropy(self) -> Tensor:
        a = self.concentration
        return a + self.rate.log() + a.lgamma() - (1 + a) * a.digamma()


class LogisticNormal(TransformedDistribution):
    """LogisticNormal(loc, scale): a ``Normal(loc, scale)`` vector of length ``K - 1`` mapped to
    the ``K``-simplex by ``StickBreakingTransform``."""

    arg_constraints = {"loc": constraints.real, "scale": _POS}
    support = constraints.simplex  # type: ignore[assignment]

    def __init__(
        self, loc: Union[Tensor, Number], scale: Union[Tensor, Number], validate_args: Any = None
    ) -> None:
        from . import Normal
        from .transforms import StickBreakingTransform

        base: Distribution = Normal(loc, scale, validate_args=validate_args)
        if not base.batch_shape:
            base = base.expand((1,))  # type: ignore[attr-defined]
        super().__init__(base, StickBreakingTransform(), validate_args=validate_args)

    @property
    def loc(self) -> Tensor:
        return self.base_dist.base_dist.loc  # type: ignore[attr-defined, no-any-return]

    @property
    def scale(self) -> Tensor:
        return self.base_dist.base_dist.scale  # type: ignore[attr-defined, no-any-return]


class OneHotCategoricalStraightThrough(OneHotCategorical):
    """OneHotCategorical with the straight-through gradient: ``rsample`` is a one-hot draw
    whose gradient is that of ``probs`` (``sample + probs - probs.detach()``)."""

    has_rsample = True

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        samples = self.sample(sample_shape)
        probs = self._categorical.probs
        return samples + (probs - probs.detach())


class GeneralizedPareto(_ModeAtLoc, _Base):
    """GeneralizedPareto(loc, scale, concentration): the tail family behind peaks-over-threshold
    models (``concentration`` 0 is a shifted exponential, -1 a uniform); ``rsample`` is the
    ``icdf`` of a uniform draw. Formulas and the ``|concentration| <= 1e-8`` switch to the
    exponential limit follow PyTorch's (after TensorFlow Probability)."""

    arg_constraints = {"loc": constraints.real, "scale": _POS, "concentration": constraints.real}
    has_rsample = True
    _params = ("loc", "scale", "concentration")
    loc: Tensor
    scale: Tensor
    concentration: Tensor

    def __init__(
        self,
        loc: Union[Tensor, Number],
        scale: Union[Tensor, Number],
        concentration: Union[Tensor, Number],
        validate_args: Any = None,
    ) -> None:
        self._init_params(validate_args, loc, scale, concentration)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        c = self.concentration
        upper = _core.where(c < 0, self.loc - self.scale / c, float("inf"))
        return constraints.interval(self.loc, upper)

    def _safe_concentration(self) -> tuple[Tensor, Tensor]:
        """Whether each concentration is (numerically) zero, and the concentration with those
        replaced by 1 so the non-zero branch stays finite (and its gradient too)."""
        c = self.concentration
        zero = c.abs() <= 1e-8
        return zero, _core.where(zero, 1.0, c)

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value, self.loc)
        self._validate_sample(value)
        z = (value - self.loc) / self.scale
        zero, c = self._safe_concentration()
        y = 1 / c + 1
        nonzero = _core.where(y == 0, y, y * (c * z).log1p())
        return -self.scale.log() - _core.where(zero, z, nonzero)

    def log_survival_function(self, value: Any) -> Tensor:
        """``log(1 - cdf(value))``, computed directly."""
        value = self._value(value, self.loc)
        self._validate_sample(value)
        z = (value - self.loc) / self.scale
        zero, c = self._safe_concentration()
        return _core.where(zero, -z, -(c * z).log1p() / c)

    def log_cdf(self, value: Any) -> Tensor:
        return (-self.log_survival_function(value).exp()).log1p()

    def cdf(self, value: Any) -> Tensor:
        return self.log_cdf(value).exp()

    def icdf(self, value: Any) -> Tensor:
        value = self._value(value, self.loc)
        zero, c = self._safe_concentration()
        logu = (-value).log1p()
        nonzero = self.loc + self.scale / c * (-c * logu).expm1()
        return _core.where(zero, self.loc - self.scale * logu, nonzero)

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        u = _core.rand(shape, dtype=self.loc.dtype, device=self.loc.device)
        return self.icdf(u)

    @property
    def mean(self) -> Tensor:
        c = self.concentration
        valid = c < 1
        result = self.loc + self.scale / (1 - _core.where(valid, c, 0.5))
        return _core.where(valid, result, float("nan"))

    @property
    def variance(self) -> Tensor:
        c = self.concentration
        valid = c < 0.5
        safe = _core.where(valid, c, 0.25)
        result = self.scale**2 / ((1 - safe) ** 2 * (1 - 2 * safe))
        return _core.where(valid, result, float("nan"))

    def entropy(self) -> Tensor:
        return self.scale.log() + self.concentration + 1
