"""Distributions built from other distributions, as in PyTorch: ``Independent`` (reinterprets
batch dimensions as event dimensions), ``TransformedDistribution`` (a base distribution pushed
through ``Transform``s, with the change-of-variables ``log_prob``) and ``MixtureSameFamily``
(a ``Categorical`` mixture of one batched component distribution)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, Union

from .._core import Tensor
from .._grad_mode import no_grad
from ..errors import InvalidValueError, ShapeError
from . import Categorical, Distribution, ShapeLike, _as_tensor, _shape, constraints
from ._common import _Base, _expand_any, _sum_rightmost
from .transforms import ComposeTransform, Transform

__all__ = ["Independent", "MixtureSameFamily", "TransformedDistribution"]


class _OverBase(_Base):
    """What ``Independent`` and ``TransformedDistribution`` share as wrappers of one
    ``base_dist``: no parameters of their own, reparameterised exactly when the base is, and
    batch and event shapes cut from one full shape."""

    arg_constraints: dict[str, constraints.Constraint] = {}
    base_dist: Distribution

    def _init_over(
        self, base: Distribution, shape: tuple[int, ...], event_dim: int, validate_args: Any
    ) -> None:
        """Keeps ``base``; the last ``event_dim`` dimensions of ``shape`` make one event."""
        self.base_dist = base
        cut = len(shape) - event_dim
        Distribution.__init__(self, shape[:cut], shape[cut:], validate_args)

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return bool(self.base_dist.has_rsample)

    def _base_support(self) -> Any:
        return getattr(self.base_dist, "support", constraints.real)


class Independent(_OverBase):
    """Independent(base_distribution, reinterpreted_batch_ndims): the rightmost
    ``reinterpreted_batch_ndims`` batch dimensions of the base become event dimensions, so
    ``log_prob`` and ``entropy`` are summed over them."""

    def __init__(
        self,
        base_distribution: Distribution,
        reinterpreted_batch_ndims: int,
        validate_args: Any = None,
    ) -> None:
        n = int(reinterpreted_batch_ndims)
        shape = tuple(base_distribution.batch_shape) + tuple(base_distribution.event_shape)
        event_dim = n + len(base_distribution.event_shape)
        if n > len(base_distribution.batch_shape):
            raise InvalidValueError(
                "Expected reinterpreted_batch_ndims <= len(base_distribution.batch_shape), "
                f"actual {n} vs {len(base_distribution.batch_shape)}"
            )
        self.reinterpreted_batch_ndims = n
        self._init_over(base_distribution, shape, event_dim, validate_args)

    @property
    def support(self) -> Any:  # type: ignore[override]
        support = self._base_support()
        n = self.reinterpreted_batch_ndims
        return constraints.independent(support, n) if n else support

    def expand(self, batch_shape: ShapeLike, _instance: Any = None) -> Distribution:
        shape = _shape(batch_shape)
        extra = self._event_shape[: self.reinterpreted_batch_ndims]
        base = _expand_any(self.base_dist, shape + extra)
        return Independent(base, self.reinterpreted_batch_ndims, validate_args=False)

    @property
    def mean(self) -> Tensor:
        return self.base_dist.mean

    @property
    def mode(self) -> Tensor:
        return self.base_dist.mode

    @property
    def variance(self) -> Tensor:
        return self.base_dist.variance

    def sample(self, sample_shape: ShapeLike = ()) -> Tensor:
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        return self.base_dist.rsample(sample_shape)

    def log_prob(self, value: Any) -> Tensor:
        return _sum_rightmost(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)

    def entropy(self) -> Tensor:
        return _sum_rightmost(self.base_dist.entropy(), self.reinterpreted_batch_ndims)

    def __repr__(self) -> str:
        return f"Independent({self.base_dist!r}, {self.reinterpreted_batch_ndims})"


class TransformedDistribution(_OverBase):
    """TransformedDistribution(base_distribution, transforms): samples are the base's pushed
    through ``transforms`` in order; ``log_prob(y)`` inverts them and subtracts each
    ``log_abs_det_jacobian``."""

    def __init__(
        self,
        base_distribution: Distribution,
        transforms: Union[Transform, Sequence[Transform]],
        validate_args: Any = None,
    ) -> None:
        if isinstance(transforms, Transform):
            self.transforms = [transforms]
        elif isinstance(transforms, (list, tuple)):
            if not all(isinstance(t, Transform) for t in transforms):
                raise InvalidValueError("transforms must be a Transform or a list of Transforms")
            self.transforms = list(transforms)
        else:
            raise InvalidValueError(f"transforms must be a Transform or list, but was {transforms}")
        base_shape = tuple(base_distribution.batch_shape) + tuple(base_distribution.event_shape)
        base_event_dim = len(base_distribution.event_shape)
        transform = ComposeTransform(self.transforms)
        if len(base_shape) < transform.domain_event_dim:
            raise InvalidValueError(
                f"base_distribution needs to have shape with size at least "
                f"{transform.domain_event_dim}, but got {base_shape}."
            )
        forward_shape = transform.forward_shape(base_shape)
        expanded_base_shape = transform.inverse_shape(forward_shape)
        if base_shape != expanded_base_shape:
            cut = len(expanded_base_shape) - base_event_dim
            base_distribution = _expand_any(base_distribution, expanded_base_shape[:cut])
        reinterpreted = transform.domain_event_dim - base_event_dim
        if reinterpreted > 0:
            base_distribution = Independent(base_distribution, reinterpreted)
        event_dim = transform.codomain_event_dim + max(
            base_event_dim - transform.domain_event_dim, 0
        )
        self._init_over(base_distribution, forward_shape, event_dim, validate_args)

    @property
    def support(self) -> Any:  # type: ignore[override]
        from .transforms import _independent

        if not self.transforms:
            return self._base_support()
        return _independent(self.transforms[-1].codomain, len(self._event_shape))

    def expand(self, batch_shape: ShapeLike, _instance: Any = None) -> Distribution:
        shape = _shape(batch_shape)
        new = object.__new__(type(self)) if _instance is None else _instance
        new.__dict__.update(self.__dict__)
        extra = tuple(self.base_dist.batch_shape)[len(self._batch_shape) :]
        new.base_dist = _expand_any(self.base_dist, shape + extra)
        new._batch_shape = shape
        return new

    def sample(self, sample_shape: ShapeLike = ()) -> Tensor:
        with no_grad():
            x = self.base_dist.sample(sample_shape)
            for t in self.transforms:
                x = t(x)
            return x

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        x = self.base_dist.rsample(sample_shape)
        for t in self.transforms:
            x = t(x)
        return x

    def log_prob(self, value: Any) -> Tensor:
        y = value if isinstance(value, Tensor) else _as_tensor(value)
        self._validate_sample(y)  # outside the support, the inverses give garbage or NaN
        event_dim = len(self._event_shape)
        log_prob: Optional[Tensor] = None
        for t in reversed(self.transforms):
            x = t.inv(y)
            event_dim += t.domain_event_dim - t.codomain_event_dim
            term = _sum_rightmost(t.log_abs_det_jacobian(x, y), event_dim - t.domain_event_dim)
            log_prob = -term if log_prob is None else log_prob - term
            y = x
        base = _sum_rightmost(
            self.base_dist.log_prob(y), event_dim - len(self.base_dist.event_shape)
        )
        return base if log_prob is None else log_prob + base

    def _monotonize_cdf(self, value: Tensor) -> Tensor:
        sign: Any = 1
        for t in self.transforms:
            sign = sign * t.sign
        if isinstance(sign, int) and sign == 1:
            return value
        return sign * (value - 0.5) + 0.5

    def cdf(self, value: Any) -> Tensor:
        """The base's cdf at the inverse-transformed value (monotone transforms only)."""
        for t in reversed(self.transforms):
            value = t.inv(value)
        if self._validate_args:
            # PyTorch's check, on the base's value: a bad shape is a ``ShapeError`` even where
            # the base has no ``cdf``.
            self.base_dist._validate_sample(value)
        return self._monotonize_cdf(self.base_dist.cdf(value))  # type: ignore[attr-defined]

    def icdf(self, value: Any) -> Tensor:
        """The transformed base ``icdf`` (monotone transforms only)."""
        value = self._monotonize_cdf(value)
        value = self.base_dist.icdf(value)  # type: ignore[attr-defined]
        for t in self.transforms:
            value = t(value)
        return value

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MixtureSameFamily(_Base):
    """MixtureSameFamily(mixture_distribution, component_distribution): a ``Categorical`` over
    the rightmost batch dimension of ``component_distribution`` picks the component; ``log_prob``
    is a ``logsumexp`` over components, ``mean``/``variance`` the mixture moments."""

    arg_constraints: dict[str, constraints.Constraint] = {}
    has_rsample = False

    def __init__(
        self,
        mixture_distribution: Categorical,
        component_distribution: Distribution,
        validate_args: Any = None,
    ) -> None:
        if not isinstance(mixture_distribution, Categorical):
            raise InvalidValueError(
                " The Mixture distribution needs to be an  instance of torch.distributions."
                "Categorical"
            )
        if not isinstance(component_distribution, Distribution):
            raise InvalidValueError(
                "The Component distribution need to be an instance of torch.distributions."
                "Distribution"
            )
        mdbs = tuple(mixture_distribution.batch_shape)
        cdbs = tuple(component_distribution.batch_shape)[:-1]
        for size1, size2 in zip(reversed(mdbs), reversed(cdbs)):
            if size1 != 1 and size2 != 1 and size1 != size2:
                raise ShapeError(
                    "`mixture_distribution.batch_shape` "
                    f"({mdbs}) is not compatible with `component_distribution.batch_shape`"
                    f"({cdbs})"
                )
        km = mixture_distribution._num_events
        kc = tuple(component_distribution.batch_shape)[-1]
        if km != kc:
            raise ShapeError(
                f"`mixture_distribution component` ({km}) does not equal "
                f"`component_distribution.batch_shape[-1]` ({kc})"
            )
        self._mixture_distribution = mixture_distribution
        self._component_distribution = component_distribution
        self._num_component = km
        self._event_ndims = len(component_distribution.event_shape)
        super().__init__(cdbs, tuple(component_distribution.event_shape), validate_args)

    @property
    def mixture_distribution(self) -> Categorical:
        return self._mixture_distribution

    @property
    def component_distribution(self) -> Distribution:
        return self._component_distribution

    @property
    def support(self) -> Any:  # type: ignore[override]
        return constraints.MixtureSameFamilyConstraint(self._component_distribution.support)

    def expand(self, batch_shape: ShapeLike, _instance: Any = None) -> Distribution:
        shape = _shape(batch_shape)
        comp = _expand_any(self._component_distribution, (*shape, self._num_component))
        mix = _expand_probs_or_logits(self._mixture_distribution, shape)
        return MixtureSameFamily(mix, comp, validate_args=False)

    def _pad(self, x: Tensor) -> Tensor:
        return x.unsqueeze(-1 - self._event_ndims)

    def _mix_probs(self) -> Tensor:
        p = self._mixture_distribution.probs
        for _ in range(self._event_ndims):
            p = p.unsqueeze(-1)
        return p

    @property
    def mean(self) -> Tensor:
        return (self._mix_probs() * self._component_distribution.mean).sum(-1 - self._event_ndims)

    @property
    def variance(self) -> Tensor:
        probs = self._mix_probs()
        dim = -1 - self._event_ndims
        cond_var = (probs * self._component_distribution.variance).sum(dim)
        diff = self._component_distribution.mean - self._pad(self.mean)
        return cond_var + (probs * diff**2).sum(dim)

    def cdf(self, value: Any) -> Tensor:
        """The mixture-weighted component cdfs."""
        x = self._pad(value)
        cdf_x = self._component_distribution.cdf(x)  # type: ignore[attr-defined]
        return (cdf_x * self._mixture_distribution.probs).sum(-1)

    def log_prob(self, value: Any) -> Tensor:
        if not isinstance(value, Tensor):
            value = self._value(value, self._mixture_distribution.probs)
        self._validate_sample(value)
        x = self._pad(value)
        lp = self._component_distribution.log_prob(x)
        log_mix = self._mixture_distribution.logits.log_softmax(-1)
        return (lp + log_mix).logsumexp(-1)

    def sample(self, sample_shape: ShapeLike = ()) -> Tensor:
        shape = _shape(sample_shape)
        with no_grad():
            mix_sample = self._mixture_distribution.sample(shape)  # S + B
            comp = self._component_distribution.sample(shape)  # S + B + (K,) + E
            es = self._event_shape
            idx = mix_sample.reshape(*tuple(mix_sample.shape), 1, *([1] * len(es)))
            idx = idx.expand(*tuple(mix_sample.shape), 1, *es)
            return comp.gather(len(shape) + len(self._batch_shape), idx).squeeze(
                len(shape) + len(self._batch_shape)
            )

    def __repr__(self) -> str:
        return (
            f"MixtureSameFamily(\n  {self._mixture_distribution!r},\n  "
            f"{self._component_distribution!r})"
        )


def _expand_probs_or_logits(d: Any, shape: tuple[int, ...]) -> Any:
    """A view of a ``Bernoulli`` or ``Categorical`` ``d`` with batch shape ``shape``: the package's
    originals have no ``expand``, and the added distributions built on them need one."""
    new = object.__new__(type(d))
    new.__dict__.update(d.__dict__)
    event = () if d._binary else (d._num_events,)
    for name in ("probs", "logits"):
        if name in d.__dict__:
            new.__dict__[name] = d.__dict__[name].expand((*shape, *event))
    new._batch_shape = shape
    return new


def _base_attr(name: str) -> Any:
    """A read-only property reading ``base_dist.<name>``, so a ``TransformedDistribution``
    subclass exposes its base distribution's parameters as PyTorch's do."""
    return property(lambda self: getattr(self.base_dist, name), doc=f"``base_dist.{name}``.")


class _OverProbsOrLogits(_Base):
    """A distribution built on an inner ``Bernoulli`` or ``Categorical`` (the attribute named
    by ``_inner``): its ``probs`` and ``logits`` are the inner one's, and ``expand`` expands
    the inner one."""

    _inner: str

    @property
    def probs(self) -> Tensor:
        return getattr(self, self._inner).probs  # type: ignore[no-any-return]

    @property
    def logits(self) -> Tensor:
        return getattr(self, self._inner).logits  # type: ignore[no-any-return]

    def expand(self, batch_shape: ShapeLike, _instance: Any = None) -> Distribution:
        shape = _shape(batch_shape)
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        setattr(new, self._inner, _expand_probs_or_logits(getattr(self, self._inner), shape))
        new._batch_shape = shape
        return new


class _OverCategorical(_OverProbsOrLogits):
    """An ``_OverProbsOrLogits`` on a ``Categorical`` held in ``_categorical`` (as PyTorch's
    one-hot and relaxed categoricals and ``Multinomial``): its parameters, constraints,
    constructor and ``param_shape``."""

    arg_constraints: dict[str, constraints.Constraint] = {
        "probs": constraints.simplex,
        "logits": constraints.real_vector,
    }
    _inner = "_categorical"
    _categorical: Categorical

    def _init_categorical(self, probs: Any, logits: Any, validate_args: Any) -> None:
        """Builds the inner ``Categorical``; one event holds its ``K`` categories."""
        self._categorical = Categorical(probs, logits, validate_args=validate_args)
        k = self._categorical._num_events
        Distribution.__init__(self, self._categorical.batch_shape, (k,), validate_args)

    @property
    def param_shape(self) -> tuple[int, ...]:
        return self._categorical.param_shape
