"""``democratising.distributions``: PyTorch's ``torch.distributions`` (``Normal``,
``Bernoulli``, ``Categorical`` and ``Uniform`` here; the other families, transforms, wrappers and
the ``kl_divergence`` registry in the submodules; ``constraints`` and ``biject_to``/``transform_to``
as PyTorch's) with ``sample``, ``rsample`` (reparameterised:
gradients flow to the parameters), ``log_prob``, ``entropy``, ``mean``/``stddev``/``variance``,
``expand``, ``batch_shape``, argument validation, and ``kl_divergence``.

Written over differentiable engine ops, so ``log_prob`` and ``rsample`` train through autograd
(policy gradients, VAEs). Random draws come from the global generator, so ``dm.manual_seed``
makes them reproducible."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Optional, Union

from .. import _core
from .._core import Tensor
from .._grad_mode import enable_grad, no_grad
from .._pytorch_compat import Size
from .._tensor import tensor as _tensor
from ..errors import InvalidValueError, ShapeError
from . import constraints

__all__ = [
    "Bernoulli",
    "Categorical",
    "Distribution",
    "ExponentialFamily",
    "Normal",
    "Uniform",
    "kl_divergence",
]

Number = Union[int, float]
ShapeLike = Union[Sequence[int], tuple[int, ...]]

_VALIDATE = [True]


def _as_tensor(x: Any, like: Optional[Tensor] = None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    dtype = like.dtype if like is not None and like.dtype.is_floating_point else _core.float32
    t = _tensor(float(x), dtype=dtype)
    return t if like is None or like.device.type == "cpu" else t.to(like.device)


def _broadcast(*xs: Any) -> list[Tensor]:
    like = next((x for x in xs if isinstance(x, Tensor)), None)
    ts = [_as_tensor(x, like) for x in xs]
    if len({tuple(t.shape) for t in ts}) == 1:
        return ts
    return list(_core_broadcast(ts))


def _core_broadcast(ts: list[Tensor]) -> tuple[Tensor, ...]:
    from .._tensor_extra import broadcast_tensors

    return tuple(broadcast_tensors(*ts))


def _shape(sample_shape: ShapeLike) -> tuple[int, ...]:
    return tuple(int(s) for s in sample_shape)


class Distribution:
    """Base class: ``batch_shape`` (independent distributions), ``event_shape`` (one draw's
    shape), ``sample``/``rsample``/``log_prob``/``entropy``. ``validate_args`` (default on,
    as in PyTorch; ``Distribution.set_default_validate_args(False)`` turns it off) checks the
    parameters and the values given to ``log_prob``."""

    has_rsample = False
    #: Whether ``enumerate_support`` lists every value (the finite discrete families set it).
    has_enumerate_support = False
    arg_constraints: dict[str, constraints.Constraint] = {}
    #: The ``constraints`` object values lie in (set by each family; PyTorch's ``support``).
    support: Any
    _params: tuple[str, ...] = ()

    def __init__(
        self,
        batch_shape: ShapeLike = (),
        event_shape: ShapeLike = (),
        validate_args: Optional[bool] = None,
    ) -> None:
        self._batch_shape = _shape(batch_shape)
        self._event_shape = _shape(event_shape)
        self._validate_args = _VALIDATE[0] if validate_args is None else bool(validate_args)

    def _init_params(
        self,
        validate_args: Any,
        *values: Any,
        arg_constraints: Optional[dict[str, constraints.Constraint]] = None,
    ) -> None:
        """The constructor shared by the scalar-parameter families: broadcasts ``values`` into
        the attributes named by ``_params``, takes their shape as the batch shape (no event
        dimensions) and validates each against its entry in ``arg_constraints`` (by default
        the class's)."""
        table = self.arg_constraints if arg_constraints is None else arg_constraints
        tensors = _broadcast(*values)
        for name, t in zip(self._params, tensors):
            setattr(self, name, t)
        Distribution.__init__(self, tuple(tensors[0].shape), (), validate_args)
        if self._validate_args:
            for name, t in zip(self._params, tensors):
                constraint = table[name]
                self._check(name, t, constraint.check(t), constraint)

    def _expand_params(self, batch_shape: ShapeLike, _instance: Any = None) -> Distribution:
        """A view of this distribution with batch shape ``batch_shape``: the tensors named in
        ``_params`` (those present) are expanded, keeping their trailing event dimensions."""
        shape = _shape(batch_shape)
        new = _instance if _instance is not None else object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        nb = len(self._batch_shape)
        for name in self._params:
            if name in self.__dict__:
                v = self.__dict__[name]
                new.__dict__[name] = v.expand((*shape, *tuple(v.shape)[nb:]))
        new._batch_shape = shape
        return new

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        _VALIDATE[0] = bool(value)

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return self._batch_shape

    @property
    def event_shape(self) -> tuple[int, ...]:
        return self._event_shape

    def _extended_shape(self, sample_shape: ShapeLike = ()) -> tuple[int, ...]:
        return _shape(sample_shape) + self._batch_shape + self._event_shape

    def sample(self, sample_shape: ShapeLike = ()) -> Tensor:
        """A draw of shape ``sample_shape + batch_shape + event_shape``, without gradient."""
        with no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no reparameterised sampler")

    def sample_n(self, n: int) -> Tensor:
        return self.sample((n,))

    def log_prob(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def entropy(self) -> Tensor:
        raise NotImplementedError

    # PyTorch's base class defines these for every distribution (a family without them raises
    # NotImplementedError, not AttributeError), so ``hasattr`` and ``except NotImplementedError``
    # behave the same here.
    def cdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no cdf")

    def icdf(self, value: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no icdf")

    def enumerate_support(self, expand: bool = True) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no finite support to enumerate")

    def perplexity(self) -> Tensor:
        return self.entropy().exp()

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError

    @property
    def mode(self) -> Tensor:
        raise NotImplementedError

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def _validate_sample(self, value: Tensor) -> None:
        """PyTorch's checks of a ``log_prob``/``cdf`` argument (when ``validate_args``): its
        right-most sizes must equal ``event_shape``, its shape must broadcast with
        ``batch_shape + event_shape``, and every event must lie in ``support``."""
        if not self._validate_args:
            return
        shape = tuple(value.shape)
        expected = self._batch_shape + self._event_shape
        if shape != expected:  # the usual exact match passes both shape checks
            self._validate_sample_shape(value, shape, expected)
        support = self.support
        self._check_value(value, support.check(value), support)

    def _validate_sample_shape(
        self, value: Tensor, shape: tuple[int, ...], expected: tuple[int, ...]
    ) -> None:
        """PyTorch's two shape conditions, exactly (its slice with a possibly negative start,
        then the sizes walked from the right, where a 1 on either side broadcasts)."""
        event = self._event_shape
        if shape[len(shape) - len(event) :] != event:
            raise ShapeError(
                f"The right-most size of value must match event_shape: {value.shape} vs "
                f"{Size(event)}."
            )
        for i, j in zip(reversed(shape), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ShapeError(
                    "Value is not broadcastable with batch_shape+event_shape: "
                    f"{value.shape} vs {Size(expected)}."
                )

    def _check_param(self, name: str, value: Tensor) -> None:
        """Validates parameter ``name`` (given as ``value``) with its ``arg_constraints`` entry's
        ``check`` (when ``validate_args``)."""
        if self._validate_args:
            constraint = self.arg_constraints[name]
            self._check(name, value, constraint.check(value), constraint)

    def _fail(self, name: str, constraint: Any, value: Tensor) -> None:
        raise InvalidValueError(
            f"Expected parameter {name} (Tensor of shape {tuple(value.shape)}) of distribution "
            f"{self!r} to satisfy the constraint {constraint}, but found invalid values:\n{value}"
        )

    def _check(self, name: str, value: Tensor, ok: Tensor, constraint: Any) -> None:
        if self._validate_args and not bool(ok.all().item()):
            self._fail(name, constraint, value)

    def _check_value(self, value: Tensor, ok: Tensor, support: Any) -> None:
        if self._validate_args and not bool(ok.all().item()):
            raise InvalidValueError(
                f"Expected value argument (Tensor of shape {tuple(value.shape)}) to be within "
                f"the support ({support}) of the distribution {self!r}, but found invalid "
                f"values:\n{value}"
            )

    def __repr__(self) -> str:
        parts = []
        for k in self.arg_constraints:
            if k in self.__dict__:
                v = self.__dict__[k]
                parts.append(f"{k}: {v.item() if v.numel() == 1 else tuple(v.shape)}")
        params = ", ".join(parts)
        return f"{type(self).__name__}({params})"


# Needs ``Distribution`` above; ``Normal`` and ``Bernoulli`` below derive from it, as PyTorch's.
from .exp_family import ExponentialFamily  # noqa: E402


class _ModeAtLoc:
    """Mixin for the families whose ``mode`` is their ``loc`` (``Cauchy``, ``Gumbel``,
    ``StudentT``, ``GeneralizedPareto`` and, through ``_CentredAtLoc``, the symmetric ones)."""

    loc: Tensor

    @property
    def mode(self) -> Tensor:
        return self.loc


class _CentredAtLoc(_ModeAtLoc):
    """Mixin for the families symmetric and unimodal about ``loc``: both ``mean`` and ``mode``
    are ``loc`` (shared by ``Normal`` and the added ``Laplace``, ``VonMises`` and
    ``MultivariateNormal``)."""

    @property
    def mean(self) -> Tensor:
        return self.loc


class _LocScale(Distribution):
    """The constraints and constructor shared by the reparameterised location-scale families
    (``Normal`` here; ``Laplace``, ``Cauchy`` and ``Gumbel`` in ``continuous``): real ``loc``
    and positive ``scale``, broadcast."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support: Any = constraints.real
    has_rsample = True
    _params = ("loc", "scale")
    loc: Tensor
    scale: Tensor

    def __init__(
        self, loc: Union[Tensor, Number], scale: Union[Tensor, Number], validate_args: Any = None
    ) -> None:
        self._init_params(validate_args, loc, scale)

    def expand(self, batch_shape: ShapeLike, _instance: Any = None) -> Distribution:
        """A view with batch shape ``batch_shape`` (parameters expanded, not copied)."""
        return self._expand_params(batch_shape, _instance)


_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class Normal(_CentredAtLoc, _LocScale, ExponentialFamily):
    """Normal(loc, scale): ``rsample`` is ``loc + scale * eps`` with ``eps ~ N(0, 1)``."""

    _mean_carrier_measure = 0

    @property
    def _natural_params(self) -> tuple[Tensor, Tensor]:
        return (self.loc / self.scale.pow(2), -0.5 * self.scale.pow(2).reciprocal())

    def _log_normalizer(self, x: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        return -0.25 * x.pow(2) / y + 0.5 * (-math.pi / y).log()

    @property
    def stddev(self) -> Tensor:
        return self.scale

    @property
    def variance(self) -> Tensor:
        return self.scale**2

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        eps = _core.randn(shape, dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + eps * self.scale

    def log_prob(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.loc)
        self._validate_sample(value)
        var = self.scale**2
        # The constant last, as PyTorch's: folded into a float32 scale first, it would cost a
        # float64 value its precision.
        return -((value - self.loc) ** 2) / (2 * var) - self.scale.log() - _HALF_LOG_2PI

    def entropy(self) -> Tensor:
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()

    def cdf(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.loc)
        self._validate_sample(value)
        return 0.5 * (1 + ((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)).erf())

    def icdf(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.loc)
        return self.loc + self.scale * (2 * value - 1).erfinv() * math.sqrt(2)


def _probs_to_logits(probs: Tensor, binary: bool) -> Tensor:
    from .._pytorch_compat import finfo

    eps = finfo(probs.dtype).eps  # PyTorch's ``clamp_probs``
    p = probs.clamp(eps, 1 - eps)
    return p.log() - (-p).log1p() if binary else p.log()


class _ProbsOrLogits(Distribution):
    """A distribution given by exactly one of ``probs`` and ``logits``; the other is derived
    from it on first use and kept, as in PyTorch. ``_binary``: a Bernoulli's log-odds
    (``sigmoid``) rather than a categorical's normalised last dimension (``softmax``)."""

    _binary: bool

    @staticmethod
    def _exactly_one(probs: Any, logits: Any) -> None:
        if (probs is None) == (logits is None):
            raise InvalidValueError("Either `probs` or `logits` must be specified, but not both.")

    def __getattr__(self, name: str) -> Any:
        # Computed under ``enable_grad`` (as PyTorch's ``lazy_property``): the value is cached,
        # so a first use inside ``sample``'s ``no_grad`` must not cut later gradients.
        with enable_grad():
            if name == "probs":
                logits = self.__dict__["logits"]
                value = logits.sigmoid() if self._binary else logits.softmax(-1)
            elif name == "logits":
                value = _probs_to_logits(self.__dict__["probs"], binary=self._binary)
            else:
                raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self.__dict__[name] = value
        return value

    def _store_param(self, probs: Any, logits: Any, *others: Any) -> list[Tensor]:
        """The common start of the constructors: checks that exactly one of ``probs``/``logits``
        is given, broadcasts it after ``others``, stores it under its name, and returns the
        broadcast ``others`` followed by the stored parameter."""
        self._exactly_one(probs, logits)
        name, given = ("probs", probs) if probs is not None else ("logits", logits)
        # ``Bernoulli``/``Geometric`` (built per step in RL loops) have nothing to broadcast.
        ts = _broadcast(*others, given) if others else [_as_tensor(given)]
        self.__dict__[name] = ts[-1]
        return ts


class _BinaryProbsOrLogits(_ProbsOrLogits):
    """One success probability per element, given as ``probs`` or ``logits``: ``Bernoulli``'s
    parameters and constructor, shared by ``Geometric`` (the parameters also by ``Binomial``,
    ``NegativeBinomial`` and ``ContinuousBernoulli``)."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    _binary = True
    _params = ("probs", "logits")

    def __init__(
        self,
        probs: Optional[Union[Tensor, Number]] = None,
        logits: Optional[Union[Tensor, Number]] = None,
        validate_args: Any = None,
    ) -> None:
        (param,) = self._store_param(probs, logits)
        Distribution.__init__(self, tuple(param.shape), (), validate_args)
        self._check_given("probs" if probs is not None else "logits", param)

    def _check_given(self, name: str, param: Tensor) -> None:
        """Validates the given ``probs`` or ``logits`` with its ``arg_constraints`` entry (a
        hook: ``Geometric`` also rejects a zero ``probs``)."""
        self._check_param(name, param)


class Bernoulli(_BinaryProbsOrLogits, ExponentialFamily):
    """Bernoulli(probs=None, logits=None): exactly one. ``log_prob`` is
    ``value * logits - softplus(logits)`` (stable for large logits)."""

    support: Any = constraints.boolean
    has_enumerate_support = True
    _mean_carrier_measure = 0

    @property
    def _natural_params(self) -> tuple[Tensor]:
        from .._math_functions import logit

        return (logit(self.probs),)  # PyTorch's ``torch.logit(probs)`` (unclamped)

    def _log_normalizer(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return x.exp().log1p()

    def expand(self, batch_shape: ShapeLike, _instance: Any = None) -> Distribution:
        """A view with batch shape ``batch_shape`` (parameters expanded, not copied)."""
        return self._expand_params(batch_shape, _instance)

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._batch_shape

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """The values ``0, 1`` (shape ``(2,) + batch_shape`` when ``expand``)."""
        param: Tensor = self.__dict__["probs" if "probs" in self.__dict__ else "logits"]
        values = _core.arange(2, dtype=param.dtype, device=param.device)
        values = values.reshape(2, *([1] * len(self._batch_shape)))
        return values.expand(2, *self._batch_shape) if expand else values

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def mode(self) -> Tensor:
        # PyTorch: ``probs == 0.5`` has no single mode, so it is NaN there.
        mode = (self.probs > 0.5).to(self.probs.dtype)
        return mode.masked_fill(self.probs == 0.5, float("nan"))

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape: ShapeLike = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with no_grad():
            p = self.probs.expand(shape)
            u = _core.rand(shape, dtype=p.dtype, device=p.device)
            return (u < p).to(p.dtype)

    def log_prob(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.logits)
        self._validate_sample(value)
        return value * self.logits - self.logits.softplus()

    def entropy(self) -> Tensor:
        return self.logits.softplus() - self.probs * self.logits


class Categorical(_ProbsOrLogits):
    """Categorical(probs=None, logits=None) over the last dimension (``probs`` need not sum
    to one; ``logits`` are normalised with ``logsumexp``). Samples are int64 indices."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    has_enumerate_support = True
    _binary = False
    _params = ("probs", "logits")

    def __init__(
        self,
        probs: Optional[Tensor] = None,
        logits: Optional[Tensor] = None,
        validate_args: Any = None,
    ) -> None:
        self._exactly_one(probs, logits)
        param = _as_tensor(probs if probs is not None else logits)
        if param.ndim < 1:
            raise InvalidValueError(
                "`probs` or `logits` parameter must be at least one-dimensional."
            )
        super().__init__(tuple(param.shape[:-1]), (), validate_args)
        self._num_events = int(param.shape[-1])
        if probs is not None:
            ok = (param >= 0).all() & (param.sum(-1) > 0).all()
            self._check("probs", param, ok, constraints.simplex)
            self.probs = param / param.sum(-1, keepdim=True)
        else:
            self._check("logits", param, (param == param), constraints.real_vector)
            self.logits = param - param.logsumexp(-1, keepdim=True)

    @property
    def param_shape(self) -> tuple[int, ...]:
        return (*self._batch_shape, self._num_events)

    @property
    def support(self) -> constraints.Constraint:
        return constraints.integer_interval(0, self._num_events - 1)

    def expand(self, batch_shape: ShapeLike, _instance: Any = None) -> Distribution:
        """A view with batch shape ``batch_shape`` (parameters expanded, not copied)."""
        return self._expand_params(batch_shape, _instance)

    def enumerate_support(self, expand: bool = True) -> Tensor:
        """The indices ``0..K-1`` (int64, shape ``(K,) + batch_shape`` when ``expand``)."""
        k = self._num_events
        param: Tensor = self.__dict__["probs" if "probs" in self.__dict__ else "logits"]
        values = _core.arange(k, dtype=_core.int64, device=param.device)
        values = values.reshape(k, *([1] * len(self._batch_shape)))
        return values.expand(k, *self._batch_shape) if expand else values

    @property
    def mean(self) -> Tensor:
        return _core.full(self._batch_shape, float("nan"), dtype=self.probs.dtype)

    @property
    def mode(self) -> Tensor:
        return self.probs.argmax(-1)

    @property
    def variance(self) -> Tensor:
        return _core.full(self._batch_shape, float("nan"), dtype=self.probs.dtype)

    def sample(self, sample_shape: ShapeLike = ()) -> Tensor:
        from .._pytorch_compat import multinomial

        shape = _shape(sample_shape)
        n = math.prod(shape)
        with no_grad():
            flat = self.probs.reshape(-1, self._num_events)
            draws = multinomial(flat, max(n, 1), replacement=True)  # [batch, n]
            if n == 0:
                return _core.zeros((*shape, *self._batch_shape), dtype=_core.int64)
            draws = draws.transpose(0, 1).contiguous()  # [n, batch]
            return draws.reshape((*shape, *self._batch_shape))

    def log_prob(self, value: Any) -> Tensor:
        raw = value if isinstance(value, Tensor) else _as_tensor(value)
        self._validate_sample(raw)  # ``integer_interval``: 1.5 is rejected too, as PyTorch's
        value = raw.long()
        shape = tuple(_core_broadcast_shape(tuple(value.shape), self._batch_shape))
        logits = self.logits.expand(*shape, self._num_events)
        idx = value.expand(shape).unsqueeze(-1)
        return logits.gather(-1, idx).squeeze(-1)

    def entropy(self) -> Tensor:
        lo = -1.7976931348623157e308 if self.logits.dtype == _core.float64 else -3.4028234e38
        logits = self.logits.clamp(min=lo)
        return -(self.probs * logits).sum(-1)


def _core_broadcast_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    from .._tensor_extra import broadcast_shapes

    return tuple(broadcast_shapes(a, b))


class Uniform(Distribution):
    """Uniform(low, high) on ``[low, high)``: ``rsample`` is ``low + u * (high - low)``."""

    has_rsample = True
    _params = ("low", "high")

    @property
    def arg_constraints(self) -> dict[str, constraints.Constraint]:  # type: ignore[override]
        return {"low": constraints.less_than(self.high), "high": constraints.greater_than(self.low)}

    def __init__(
        self, low: Union[Tensor, Number], high: Union[Tensor, Number], validate_args: Any = None
    ) -> None:
        self.low, self.high = _broadcast(low, high)
        super().__init__(tuple(self.low.shape), (), validate_args)
        self._check_param("low", self.low)

    def expand(self, batch_shape: ShapeLike, _instance: Any = None) -> Distribution:
        """A view with batch shape ``batch_shape`` (parameters expanded, not copied)."""
        return self._expand_params(batch_shape, _instance)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self) -> constraints.Constraint:
        return constraints.interval(self.low, self.high)

    @property
    def mean(self) -> Tensor:
        return (self.high + self.low) / 2

    @property
    def mode(self) -> Tensor:
        return _core.full(self._batch_shape, float("nan"), dtype=self.low.dtype)

    @property
    def variance(self) -> Tensor:
        return (self.high - self.low) ** 2 / 12

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        u = _core.rand(shape, dtype=self.low.dtype, device=self.low.device)
        return self.low + u * (self.high - self.low)

    def log_prob(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.low)
        # The support is the closed interval (as PyTorch's), the density ``[low, high)``.
        self._validate_sample(value)
        inside = (value >= self.low) & (value < self.high)
        lp = -(self.high - self.low).log()
        zero = value * 0  # broadcasts to the value's shape, in the bounds' dtype (as PyTorch)
        lp = lp + (zero if zero.dtype == lp.dtype else zero.to(lp.dtype))
        return lp.masked_fill(inside == False, float("-inf"))  # noqa: E712 - elementwise

    def entropy(self) -> Tensor:
        return (self.high - self.low).log()

    def cdf(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.low)
        self._validate_sample(value)
        return ((value - self.low) / (self.high - self.low)).clamp(0, 1)

    def icdf(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.low)
        return value * (self.high - self.low) + self.low


def _fill(t: Tensor, mask: Tensor, value: float) -> Tensor:
    """``t`` with ``value`` where ``mask`` (broadcast to ``t``'s shape) holds."""
    if tuple(mask.shape) != tuple(t.shape):
        mask = mask.expand(tuple(t.shape))
    return t.masked_fill(mask, value)


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """KL(p || q) in closed form for two distributions of the same family (Normal, Bernoulli,
    Categorical, Uniform); ``NotImplementedError`` for other pairs, as in PyTorch."""
    if isinstance(p, Normal) and isinstance(q, Normal):
        var_ratio = (p.scale / q.scale) ** 2
        t1 = ((p.loc - q.loc) / q.scale) ** 2
        return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())
    if isinstance(p, Bernoulli) and isinstance(q, Bernoulli):
        # As PyTorch: infinite where q has no mass on an outcome p can take (the clamped
        # logits would give a finite -log(eps)), zero where p itself has none.
        inf = float("inf")
        t1 = p.probs * ((-q.logits).softplus() - (-p.logits).softplus())
        t1 = _fill(_fill(t1, q.probs == 0, inf), p.probs == 0, 0.0)
        t2 = (1 - p.probs) * (q.logits.softplus() - p.logits.softplus())
        t2 = _fill(_fill(t2, q.probs == 1, inf), p.probs == 1, 0.0)
        return t1 + t2
    if isinstance(p, Categorical) and isinstance(q, Categorical):
        t = p.probs * (p.logits - q.logits)
        t = _fill(_fill(t, q.probs == 0, float("inf")), p.probs == 0, 0.0)
        return t.sum(-1)
    if isinstance(p, Uniform) and isinstance(q, Uniform):
        result = ((q.high - q.low) / (p.high - p.low)).log()
        outside = (q.low > p.low) | (q.high < p.high)
        return result.masked_fill(outside, float("inf"))
    raise NotImplementedError(f"no KL divergence for {type(p).__name__} and {type(q).__name__}")


# More distributions, transforms and the ``register_kl`` registry (``kl_divergence`` is
# rebound to the registry-aware version, which falls back to the closed forms above).
from . import constraint_registry, transforms  # noqa: E402
from .constraint_registry import biject_to, transform_to  # noqa: E402
from .continuous import (  # noqa: E402
    Beta,
    Cauchy,
    Chi2,
    Exponential,
    Gamma,
    Gumbel,
    HalfNormal,
    Laplace,
    LogNormal,
    StudentT,
)
from .discrete import Binomial, Geometric, OneHotCategorical, Poisson  # noqa: E402
from .extra import (  # noqa: E402
    ContinuousBernoulli,
    FisherSnedecor,
    GeneralizedPareto,
    HalfCauchy,
    InverseGamma,
    Kumaraswamy,
    LogisticNormal,
    Multinomial,
    NegativeBinomial,
    OneHotCategoricalStraightThrough,
    Pareto,
    VonMises,
    Weibull,
)
from .kl import kl_divergence, register_kl  # noqa: E402, F811
from .multivariate import (  # noqa: E402
    Dirichlet,
    ExpRelaxedCategorical,
    LKJCholesky,
    LogitRelaxedBernoulli,
    LowRankMultivariateNormal,
    MultivariateNormal,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
)
from .transforms import *  # noqa: E402, F403 - re-exported: see ``transforms.__all__`` below
from .wishart import Wishart  # noqa: E402
from .wrappers import Independent, MixtureSameFamily, TransformedDistribution  # noqa: E402

__all__ += [
    "Beta",
    "Binomial",
    "Cauchy",
    "Chi2",
    "ContinuousBernoulli",
    "Dirichlet",
    "ExpRelaxedCategorical",
    "Exponential",
    "FisherSnedecor",
    "Gamma",
    "GeneralizedPareto",
    "Geometric",
    "Gumbel",
    "HalfCauchy",
    "HalfNormal",
    "Independent",
    "InverseGamma",
    "Kumaraswamy",
    "LKJCholesky",
    "Laplace",
    "LogNormal",
    "LogisticNormal",
    "LogitRelaxedBernoulli",
    "LowRankMultivariateNormal",
    "MixtureSameFamily",
    "Multinomial",
    "MultivariateNormal",
    "NegativeBinomial",
    "OneHotCategorical",
    "OneHotCategoricalStraightThrough",
    "Pareto",
    "Poisson",
    "RelaxedBernoulli",
    "RelaxedOneHotCategorical",
    "StudentT",
    "TransformedDistribution",
    "VonMises",
    "Weibull",
    "Wishart",
    "biject_to",
    "constraint_registry",
    "constraints",
    "register_kl",
    "transform_to",
    "transforms",
]
__all__ += transforms.__all__  # every transform, re-exported

from . import utils  # noqa: E402
from ._torch_paths import install as _install_torch_paths  # noqa: E402

globals().update(
    _install_torch_paths(__name__, {name: globals()[name] for name in __all__ if name in globals()})
)
__all__ += ["utils"]
