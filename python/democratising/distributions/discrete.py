"""Discrete distributions of PyTorch's ``torch.distributions``: ``Poisson``, ``Geometric``,
``Binomial`` and ``OneHotCategorical``. Draws come from the engine's generator (``dm.poisson``,
``dm.rand``), so ``dm.manual_seed`` makes them reproducible; ``log_prob`` and ``entropy`` are
differentiable in the parameters."""

from __future__ import annotations

from typing import Any, Optional, Union

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad
from . import Number, ShapeLike, _as_tensor, _BinaryProbsOrLogits, _broadcast, constraints
from ._common import _Base, _binomial, _finfo, _uniform
from .exp_family import ExponentialFamily
from .wrappers import _OverCategorical

__all__ = ["Binomial", "Geometric", "OneHotCategorical", "Poisson"]

_NONNEG_INT = constraints.nonnegative_integer
_UNIT = constraints.unit_interval


class Poisson(_Base, ExponentialFamily):
    """Poisson(rate): ``sample`` through ``dm.poisson``; ``log_prob`` is
    ``xlogy(k, rate) - rate - lgamma(k + 1)``."""

    arg_constraints = {"rate": constraints.nonnegative}
    support = _NONNEG_INT
    _params = ("rate",)

    # PyTorch gives Poisson no ``_mean_carrier_measure`` (nor a closed-form entropy).
    @property
    def _natural_params(self) -> tuple[Tensor]:
        return (self.rate.log(),)

    def _log_normalizer(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return x.exp()

    def __init__(self, rate: Union[Tensor, Number], validate_args: Any = None) -> None:
        (self.rate,) = _broadcast(rate)
        super().__init__(tuple(self.rate.shape), (), validate_args)
        self._check_param("rate", self.rate)

    @property
    def mean(self) -> Tensor:
        return self.rate

    @property
    def mode(self) -> Tensor:
        return self.rate.floor()

    @property
    def variance(self) -> Tensor:
        return self.rate

    def sample(self, sample_shape: ShapeLike = ()) -> Tensor:
        from .._random_more import poisson

        shape = self._extended_shape(sample_shape)
        with no_grad():
            return poisson(self.rate.expand(shape).contiguous())

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value, self.rate)
        self._validate_sample(value)
        return value.xlogy(self.rate) - self.rate - (value + 1).lgamma()


class Geometric(_BinaryProbsOrLogits, _Base):
    """Geometric(probs=None, logits=None): the number of failures before the first success
    (support ``{0, 1, ...}``); ``sample`` is ``floor(log u / log1p(-p))``."""

    support = _NONNEG_INT

    def _check_given(self, name: str, param: Tensor) -> None:
        if name == "probs":  # ``probs`` must also be above zero
            ok = (param > 0) & (param <= 1)
            self._check("probs", param, ok, constraints.half_open_interval(0.0, 1.0))
        else:
            super()._check_given(name, param)

    @property
    def mean(self) -> Tensor:
        return 1.0 / self.probs - 1.0

    @property
    def mode(self) -> Tensor:
        return self.probs * 0

    @property
    def variance(self) -> Tensor:
        return (1.0 / self.probs - 1.0) / self.probs

    def sample(self, sample_shape: ShapeLike = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with no_grad():
            tiny = _finfo(self.probs.dtype).tiny
            u = _uniform(shape, self.probs).clamp(min=tiny)
            return (u.log() / (-self.probs).log1p()).floor()

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value, self.probs)
        self._validate_sample(value)
        value, probs = _broadcast(value, self.probs)
        safe = probs.masked_fill((probs == 1) & (value == 0), 0.0)
        return value * (-safe).log1p() + self.probs.log()

    def entropy(self) -> Tensor:
        return (self.logits.softplus() - self.probs * self.logits) / self.probs


def _clamp_by_zero(x: Tensor) -> Tensor:
    return (x.clamp(min=0) + x - x.clamp(max=0)) / 2


class _CountedBinary(_BinaryProbsOrLogits, _Base):
    """A ``total_count`` beside one success probability per element (``Binomial``,
    ``NegativeBinomial``): their constructor (``NegativeBinomial``'s signature; ``Binomial``
    defaults ``total_count`` to 1) and ``param_shape``."""

    _params = ("total_count", "probs", "logits")
    total_count: Tensor

    def __init__(
        self,
        total_count: Union[Tensor, Number],
        probs: Optional[Union[Tensor, Number]] = None,
        logits: Optional[Union[Tensor, Number]] = None,
        validate_args: Any = None,
    ) -> None:
        # Stores ``total_count`` (in the parameter's dtype) and the given ``probs``/``logits``,
        # broadcast together, and validates both.
        tc, param = self._store_param(probs, logits, total_count)
        self.total_count = tc.to(param.dtype)
        _Base.__init__(self, tuple(param.shape), (), validate_args)
        self._check_param("total_count", self.total_count)
        self._check_given("probs" if probs is not None else "logits", param)

    @property
    def param_shape(self) -> tuple[int, ...]:
        """The shape of ``probs``/``logits`` (PyTorch's ``param_shape``)."""
        return self._batch_shape


class Binomial(_CountedBinary):
    """Binomial(total_count=1, probs=None, logits=None): ``sample`` counts engine uniforms below
    ``probs`` among ``total_count`` per element (cost grows with ``total_count``); ``log_prob``
    is PyTorch's logits form."""

    arg_constraints = {
        "total_count": constraints.nonnegative_integer,
        "probs": _UNIT,
        "logits": constraints.real,
    }
    has_enumerate_support = True

    def __init__(
        self,
        total_count: Union[Tensor, Number] = 1,
        probs: Optional[Union[Tensor, Number]] = None,
        logits: Optional[Union[Tensor, Number]] = None,
        validate_args: Any = None,
    ) -> None:
        super().__init__(total_count, probs, logits, validate_args)

    @property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.integer_interval(0, self.total_count)

    @property
    def mean(self) -> Tensor:
        return self.total_count * self.probs

    @property
    def mode(self) -> Tensor:
        return ((self.total_count + 1) * self.probs).floor().clamp(max=self.total_count)

    @property
    def variance(self) -> Tensor:
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape: ShapeLike = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with no_grad():
            return _binomial(self.total_count.expand(shape), self.probs.expand(shape))

    def log_prob(self, value: Any) -> Tensor:
        value = self._value(value, self.logits)
        self._validate_sample(value)
        n, logits = self.total_count, self.logits
        log_fact_n = (n + 1).lgamma()
        log_fact_k = (value + 1).lgamma()
        log_fact_nmk = (n - value + 1).lgamma()
        normalize = n * _clamp_by_zero(logits) + n * (-logits.abs()).exp().log1p() - log_fact_n
        return value * logits - log_fact_k - log_fact_nmk - normalize

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """The values ``0..total_count`` (shape ``(total_count + 1,) + batch_shape`` when
        ``expand``); all ``total_count`` must be equal, as in PyTorch."""
        top = float(self.total_count.max().item()) if self.total_count.numel() else 0.0
        if self.total_count.numel() and not bool((self.total_count == top).all().item()):
            raise NotImplementedError(
                "Inhomogeneous total count not supported by `enumerate_support`."
            )
        k = int(top)
        values = _core.arange(k + 1, dtype=self.total_count.dtype, device=self.total_count.device)
        values = values.reshape(k + 1, *([1] * len(self._batch_shape)))
        return values.expand(k + 1, *self._batch_shape) if expand else values

    def entropy(self) -> Tensor:
        support = self.enumerate_support(expand=False)
        lp = self.log_prob(support)
        return -(lp.exp() * lp).sum(0)


class OneHotCategorical(_OverCategorical):
    """OneHotCategorical(probs=None, logits=None): ``Categorical`` draws as one-hot vectors
    (``event_shape == (K,)``)."""

    support = constraints.one_hot
    has_enumerate_support = True

    def __init__(
        self,
        probs: Optional[Tensor] = None,
        logits: Optional[Tensor] = None,
        validate_args: Any = None,
    ) -> None:
        self._init_categorical(probs, logits, validate_args)

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        from ..nn.functional import one_hot

        k = self._event_shape[0]
        return one_hot(self.probs.argmax(-1), k).to(self.probs.dtype)

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape: ShapeLike = ()) -> Tensor:
        from ..nn.functional import one_hot

        k = self._event_shape[0]
        with no_grad():
            idx = self._categorical.sample(sample_shape)
            return one_hot(idx, k).to(self.probs.dtype)

    def log_prob(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.probs)
        self._validate_sample(value)
        indices = value.max(-1)[1]
        return self._categorical.log_prob(indices)

    def entropy(self) -> Tensor:
        return self._categorical.entropy()

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """The ``K`` one-hot vectors, shape ``(K,) + batch_shape + (K,)`` when ``expand``."""
        k = self._event_shape[0]
        values = _core.eye(k, dtype=self.probs.dtype, device=self.probs.device)
        values = values.reshape(k, *([1] * len(self._batch_shape)), k)
        return values.expand(k, *self._batch_shape, k) if expand else values
