"""Univariate continuous distributions of PyTorch's ``torch.distributions``: ``Exponential``,
``Laplace``, ``LogNormal``, ``HalfNormal``, ``Cauchy``, ``Gumbel``, ``StudentT`` (reparameterised
``rsample`` from the engine's uniforms and normals, so gradients reach ``loc``/``scale``/``rate``
and ``dm.manual_seed`` makes draws reproducible) and ``Gamma``, ``Chi2``, ``Beta`` (draws by
Marsaglia-Tsang; ``rsample`` gradients by implicit reparameterisation, as PyTorch's). Densities,
entropies and moments are engine-op composites."""

from __future__ import annotations

import math
from typing import Any, Union

from .. import _core
from .._core import Tensor
from . import (
    Normal,
    Number,
    ShapeLike,
    _broadcast,
    _CentredAtLoc,
    _LocScale,
    _ModeAtLoc,
    constraints,
)
from ._common import (
    _EULER,
    _POS,
    _Base,
    _clamp_probs,
    _finfo,
    _gammainc,
    _normal,
    _rsample_gamma,
    _uniform,
)
from .exp_family import ExponentialFamily
from .transforms import AbsTransform, ExpTransform
from .wrappers import TransformedDistribution, _base_attr

__all__ = [
    "Beta",
    "Cauchy",
    "Chi2",
    "Exponential",
    "Gamma",
    "Gumbel",
    "HalfNormal",
    "Laplace",
    "LogNormal",
    "StudentT",
]


def _nan_like(t: Tensor) -> Tensor:
    return _core.full(tuple(t.shape), float("nan"), dtype=t.dtype, device=t.device)


def _full_like(t: Tensor, v: float) -> Tensor:
    return _core.full(tuple(t.shape), v, dtype=t.dtype, device=t.device)


class Exponential(_Base, ExponentialFamily):
    """Exponential(rate): ``rsample`` is ``-log1p(-u) / rate``."""

    _mean_carrier_measure = 0

    @property
    def _natural_params(self) -> tuple[Tensor]:
        return (-self.rate,)

    def _log_normalizer(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return -((-x).log())

    arg_constraints = {"rate": _POS}
    support = constraints.nonnegative
    has_rsample = True
    _params = ("rate",)
    rate: Tensor

    def __init__(self, rate: Union[Tensor, Number], validate_args: Any = None) -> None:
        self._init_params(validate_args, rate)

    @property
    def mean(self) -> Tensor:
        return self.rate.reciprocal()

    @property
    def mode(self) -> Tensor:
        return self.rate * 0

    @property
    def stddev(self) -> Tensor:
        return self.rate.reciprocal()

    @property
    def variance(self) -> Tensor:
        return self.rate.pow(-2)

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        u = _uniform(self._extended_shape(sample_shape), self.rate)
        return -(-u).log1p() / self.rate

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value, self.rate)
        self._validate_sample(value)
        return self.rate.log() - self.rate * value

    def cdf(self, value: Any) -> Tensor:
        value = self._value(value, self.rate)
        self._validate_sample(value)
        return 1 - (-self.rate * value).exp()

    def icdf(self, value: Any) -> Tensor:
        value = self._value(value, self.rate)
        return -(-value).log1p() / self.rate

    def entropy(self) -> Tensor:
        return 1.0 - self.rate.log()


class _LocScaleBase(_LocScale, _Base):
    """``Normal``'s location-scale constructor with ``_Base``'s ``expand``: the base of
    ``Laplace``, ``Cauchy`` and ``Gumbel``."""


class Laplace(_CentredAtLoc, _LocScaleBase):
    """Laplace(loc, scale): ``rsample`` is ``loc - scale * sign(u) * log1p(-|u|)`` with
    ``u ~ U(-1 + eps, 1)``."""

    @property
    def variance(self) -> Tensor:
        return 2 * self.scale**2

    @property
    def stddev(self) -> Tensor:
        return math.sqrt(2) * self.scale

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        eps = _finfo(self.loc.dtype).eps
        u = _uniform(self._extended_shape(sample_shape), self.loc) * (2 - eps) - (1 - eps)
        return self.loc - self.scale * u.sign() * (-u.abs()).log1p()

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value, self.loc)
        self._validate_sample(value)
        return -(2 * self.scale).log() - (value - self.loc).abs() / self.scale

    def cdf(self, value: Any) -> Tensor:
        value = self._value(value, self.loc)
        self._validate_sample(value)
        z = value - self.loc
        return 0.5 - 0.5 * z.sign() * (-z.abs() / self.scale).expm1()

    def icdf(self, value: Any) -> Tensor:
        value = self._value(value, self.loc)
        term = value - 0.5
        return self.loc - self.scale * term.sign() * (-2 * term.abs()).log1p()

    def entropy(self) -> Tensor:
        return 1 + (2 * self.scale).log()


class Cauchy(_ModeAtLoc, _LocScaleBase):
    """Cauchy(loc, scale): ``rsample`` is ``loc + scale * tan(pi (u - 1/2))``; the mean is NaN
    and the variance infinite, as in PyTorch."""

    @property
    def mean(self) -> Tensor:
        return _nan_like(self.loc)

    @property
    def variance(self) -> Tensor:
        return _full_like(self.loc, float("inf"))

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        u = _uniform(self._extended_shape(sample_shape), self.loc)
        return self.loc + self.scale * (math.pi * (u - 0.5)).tan()

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value, self.loc)
        self._validate_sample(value)
        z = (value - self.loc) / self.scale
        return -math.log(math.pi) - self.scale.log() - (z**2).log1p()

    def cdf(self, value: Any) -> Tensor:
        value = self._value(value, self.loc)
        self._validate_sample(value)
        return ((value - self.loc) / self.scale).atan() / math.pi + 0.5

    def icdf(self, value: Any) -> Tensor:
        value = self._value(value, self.loc)
        return (math.pi * (value - 0.5)).tan() * self.scale + self.loc

    def entropy(self) -> Tensor:
        return math.log(4 * math.pi) + self.scale.log()


class Gumbel(_ModeAtLoc, _LocScaleBase):
    """Gumbel(loc, scale): ``rsample`` is ``loc - scale * log(-log u)``."""

    @property
    def mean(self) -> Tensor:
        return self.loc + self.scale * _EULER

    @property
    def stddev(self) -> Tensor:
        return (math.pi / math.sqrt(6)) * self.scale

    @property
    def variance(self) -> Tensor:
        return self.stddev.pow(2)

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        fi = _finfo(self.loc.dtype)
        u = _uniform(self._extended_shape(sample_shape), self.loc).clamp(fi.tiny, 1 - fi.eps)
        return self.loc - self.scale * (-(u.log())).log()

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value, self.loc)
        self._validate_sample(value)
        z = (value - self.loc) / self.scale
        return -(z + (-z).exp()) - self.scale.log()

    def cdf(self, value: Any) -> Tensor:
        value = self._value(value, self.loc)
        self._validate_sample(value)
        return (-(-(value - self.loc) / self.scale).exp()).exp()

    def icdf(self, value: Any) -> Tensor:
        value = self._value(value, self.loc)
        return self.loc - self.scale * (-(value.log())).log()

    def entropy(self) -> Tensor:
        return self.scale.log() + (1 + _EULER)


class LogNormal(TransformedDistribution):
    """LogNormal(loc, scale): ``exp`` of ``Normal(loc, scale)`` (a ``TransformedDistribution``
    with ``ExpTransform``, as in PyTorch)."""

    arg_constraints = {"loc": constraints.real, "scale": _POS}
    support = constraints.positive  # type: ignore[assignment]

    def __init__(
        self, loc: Union[Tensor, Number], scale: Union[Tensor, Number], validate_args: Any = None
    ) -> None:
        base = Normal(loc, scale, validate_args=validate_args)
        super().__init__(base, ExpTransform(), validate_args=validate_args)

    loc = _base_attr("loc")
    scale = _base_attr("scale")

    @property
    def mean(self) -> Tensor:
        return (self.loc + self.scale.pow(2) / 2).exp()

    @property
    def mode(self) -> Tensor:
        return (self.loc - self.scale.pow(2)).exp()

    @property
    def variance(self) -> Tensor:
        s2 = self.scale.pow(2)
        return s2.expm1() * (2 * self.loc + s2).exp()

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value, self.loc)
        return super().log_prob(value)

    def entropy(self) -> Tensor:
        return self.base_dist.entropy() + self.loc


class _Folded(TransformedDistribution):
    """``|x|`` for a distribution symmetric about zero with a ``scale`` (HalfNormal,
    HalfCauchy): twice the base density on ``[0, inf)``, ``-inf`` below zero. The subclasses
    share their one parameter, the base's positive ``scale``, and their support."""

    arg_constraints = {"scale": _POS}
    support = constraints.nonnegative  # type: ignore[assignment]
    scale = _base_attr("scale")

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value, self.scale)
        self._validate_sample(value)
        lp = self.base_dist.log_prob(value) + math.log(2)
        return lp.masked_fill(value < 0, -math.inf)

    def cdf(self, value: Any) -> Tensor:
        value = self._value(value, self.scale)
        self._validate_sample(value)
        return 2 * self.base_dist.cdf(value) - 1  # type: ignore[attr-defined, no-any-return]

    def icdf(self, prob: Any) -> Tensor:
        prob = self._value(prob, self.scale)
        return self.base_dist.icdf((prob + 1) / 2)  # type: ignore[attr-defined, no-any-return]

    def entropy(self) -> Tensor:
        return self.base_dist.entropy() - math.log(2)


class HalfNormal(_Folded):
    """HalfNormal(scale): ``|x|`` for ``x ~ Normal(0, scale)`` (``AbsTransform``, as in
    PyTorch); ``log_prob`` is ``-inf`` below zero."""

    def __init__(self, scale: Union[Tensor, Number], validate_args: Any = None) -> None:
        (scale_t,) = _broadcast(scale)
        base = Normal(scale_t * 0, scale_t, validate_args=validate_args)
        super().__init__(base, AbsTransform(), validate_args=validate_args)

    @property
    def mean(self) -> Tensor:
        return self.scale * math.sqrt(2 / math.pi)

    @property
    def mode(self) -> Tensor:
        return self.scale * 0

    @property
    def variance(self) -> Tensor:
        return self.scale.pow(2) * (1 - 2 / math.pi)


class Gamma(_Base, ExponentialFamily):
    """Gamma(concentration, rate): draws by Marsaglia-Tsang from the engine's normals and
    uniforms; ``rsample`` differentiates them in ``concentration`` by implicit
    reparameterisation (``dx/da = -(dF/da) / f``, as PyTorch) and in ``rate`` directly."""

    arg_constraints = {"concentration": _POS, "rate": _POS}
    support = constraints.nonnegative
    has_rsample = True
    _params = ("concentration", "rate")
    concentration: Tensor
    rate: Tensor
    _mean_carrier_measure = 0

    @property
    def _natural_params(self) -> tuple[Tensor, Tensor]:
        return (self.concentration - 1, -self.rate)

    def _log_normalizer(self, x: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        return (x + 1).lgamma() + (x + 1) * (-y.reciprocal()).log()

    def __init__(
        self,
        concentration: Union[Tensor, Number],
        rate: Union[Tensor, Number],
        validate_args: Any = None,
    ) -> None:
        # Gamma's own constraints, also when a subclass (Chi2) names other parameters.
        self._init_params(validate_args, concentration, rate, arg_constraints=Gamma.arg_constraints)

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.rate

    @property
    def mode(self) -> Tensor:
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self) -> Tensor:
        return self.concentration / self.rate.pow(2)

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        value = _rsample_gamma(self.concentration.expand(shape)) / self.rate.expand(shape)
        return value.clamp(min=_finfo(value.dtype).tiny)

    def log_prob(self, value: Any) -> Tensor:
        a, r = self.concentration, self.rate
        value = self._value(value, r)
        if value.dtype != r.dtype:  # PyTorch's takes the value in the parameters' dtype
            value = value.to(r.dtype)
        self._validate_sample(value)
        return a.xlogy(r) + (a - 1).xlogy(value) - r * value - a.lgamma()

    def cdf(self, value: Any) -> Tensor:
        """The regularised lower incomplete gamma ``P(concentration, rate * value)``;
        differentiable in ``value`` and ``rate`` (not in ``concentration``, as in PyTorch)."""
        value = self._value(value, self.rate)
        self._validate_sample(value)
        return _gammainc(self.concentration, self.rate * value)

    def entropy(self) -> Tensor:
        a = self.concentration
        return a - self.rate.log() + a.lgamma() + (1.0 - a) * a.digamma()


class Chi2(Gamma):
    """Chi2(df): ``Gamma(df / 2, 1 / 2)``."""

    arg_constraints = {"df": _POS}

    def __init__(self, df: Union[Tensor, Number], validate_args: Any = None) -> None:
        (df_t,) = _broadcast(df)
        super().__init__(0.5 * df_t, _full_like(df_t, 0.5), validate_args)

    @property
    def df(self) -> Tensor:
        return self.concentration * 2


class StudentT(_ModeAtLoc, _Base):
    """StudentT(df, loc=0.0, scale=1.0): ``rsample`` is ``loc + scale * x / sqrt(z / df)`` with
    ``x ~ N(0, 1)`` and ``z ~ Chi2(df)``; gradients reach ``df`` (through the reparameterised
    gamma draw), ``loc`` and ``scale``."""

    arg_constraints = {"df": _POS, "loc": constraints.real, "scale": _POS}
    has_rsample = True
    _params = ("df", "loc", "scale")
    df: Tensor
    loc: Tensor
    scale: Tensor

    def __init__(
        self,
        df: Union[Tensor, Number],
        loc: Union[Tensor, Number] = 0.0,
        scale: Union[Tensor, Number] = 1.0,
        validate_args: Any = None,
    ) -> None:
        self._init_params(validate_args, df, loc, scale)

    @property
    def mean(self) -> Tensor:
        return self.loc.masked_fill(self.df <= 1, float("nan"))

    @property
    def variance(self) -> Tensor:
        df = self.df
        v = self.scale.pow(2) * df / (df - 2)
        v = v.masked_fill((df <= 2) & (df > 1), float("inf"))
        return v.masked_fill(df <= 1, float("nan"))

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        x = _normal(shape, self.df)
        z = 2 * _rsample_gamma(0.5 * self.df.expand(shape))
        y = x * (z / self.df).rsqrt()
        return self.loc + self.scale * y

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value, self.loc)
        self._validate_sample(value)
        y = (value - self.loc) / self.scale
        z = (
            self.scale.log()
            + 0.5 * self.df.log()
            + 0.5 * math.log(math.pi)
            + (0.5 * self.df).lgamma()
            - (0.5 * (self.df + 1.0)).lgamma()
        )
        return -0.5 * (self.df + 1.0) * (y**2 / self.df).log1p() - z

    def entropy(self) -> Tensor:
        df = self.df
        lbeta = (0.5 * df).lgamma() + math.lgamma(0.5) - (0.5 * (df + 1)).lgamma()
        return (
            self.scale.log()
            + 0.5 * (df + 1) * ((0.5 * (df + 1)).digamma() - (0.5 * df).digamma())
            + 0.5 * df.log()
            + lbeta
        )


class Beta(_Base, ExponentialFamily):
    """Beta(concentration1, concentration0): ``rsample`` is ``X / (X + Y)`` for reparameterised
    gamma draws ``X ~ Gamma(concentration1)``, ``Y ~ Gamma(concentration0)``."""

    arg_constraints = {"concentration1": _POS, "concentration0": _POS}
    support = constraints.unit_interval
    has_rsample = True
    _params = ("concentration1", "concentration0")
    concentration1: Tensor
    concentration0: Tensor

    # PyTorch gives Beta no ``_mean_carrier_measure``: only the KL uses these two.
    @property
    def _natural_params(self) -> tuple[Tensor, Tensor]:
        return (self.concentration1, self.concentration0)

    def _log_normalizer(self, x: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        return x.lgamma() + y.lgamma() - (x + y).lgamma()

    def __init__(
        self,
        concentration1: Union[Tensor, Number],
        concentration0: Union[Tensor, Number],
        validate_args: Any = None,
    ) -> None:
        self._init_params(validate_args, concentration1, concentration0)

    @property
    def mean(self) -> Tensor:
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        am1, bm1 = (a - 1).clamp(min=0), (b - 1).clamp(min=0)
        mode = am1 / (am1 + bm1)
        return mode.masked_fill((a < 1) & (b < 1), 1.0)

    @property
    def variance(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        total = a + b
        return a * b / (total.pow(2) * (total + 1))

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        x = _rsample_gamma(self.concentration1.expand(shape))
        y = _rsample_gamma(self.concentration0.expand(shape))
        return _clamp_probs(x / (x + y))

    def _lbeta(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        return a.lgamma() + b.lgamma() - (a + b).lgamma()

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value, self.concentration1)
        self._validate_sample(value)
        a, b = self.concentration1, self.concentration0
        return (a - 1).xlogy(value) + (b - 1).xlogy(1 - value) - self._lbeta()

    def entropy(self) -> Tensor:
        a, b = self.concentration1, self.concentration0
        return (
            self._lbeta()
            - (a - 1) * a.digamma()
            - (b - 1) * b.digamma()
            + (a + b - 2) * (a + b).digamma()
        )
