"""Multivariate and relaxed distributions of PyTorch's ``torch.distributions``:
``MultivariateNormal`` (``loc`` with one of ``covariance_matrix``, ``precision_matrix``,
``scale_tril``; ``rsample = loc + L @ eps``, ``log_prob`` through ``dm.linalg``'s triangular
solve), ``Dirichlet`` (normalised reparameterised gamma draws), and the Concrete / Gumbel-softmax
relaxations ``LogitRelaxedBernoulli``, ``RelaxedBernoulli``, ``ExpRelaxedCategorical`` and
``RelaxedOneHotCategorical`` (reparameterised ``rsample``)."""

from __future__ import annotations

import math
from typing import Any, Optional, Union

from .._core import Tensor
from . import (
    Categorical,
    ShapeLike,
    _as_tensor,
    _broadcast,
    _CentredAtLoc,
    _core_broadcast_shape,
    _shape,
)
from ._common import _Base, _clamp_probs, _normal, _rsample_gamma, _uniform
from .transforms import ExpTransform, SigmoidTransform
from .wrappers import TransformedDistribution, _base_attr, _OverCategorical, _OverProbsOrLogits

__all__ = [
    "Dirichlet",
    "ExpRelaxedCategorical",
    "LogitRelaxedBernoulli",
    "MultivariateNormal",
    "RelaxedBernoulli",
    "RelaxedOneHotCategorical",
]

Number = Union[int, float]
_POS = "GreaterThan(lower_bound=0.0)"


def _batch_mahalanobis(b_l: Tensor, bx: Tensor) -> Tensor:
    """``|L^{-1} x|^2`` over the last dimension, batch dimensions broadcast."""
    from ..linalg import solve_triangular

    shape = _core_broadcast_shape(tuple(bx.shape[:-1]), tuple(b_l.shape[:-2]))
    n = int(bx.shape[-1])
    tril = b_l.expand(*shape, n, n)
    x = bx.expand(*shape, n).unsqueeze(-1)
    sol = solve_triangular(tril, x, upper=False).squeeze(-1)
    return sol.pow(2).sum(-1)


def _diag(m: Tensor) -> Tensor:
    return m.diagonal(dim1=-2, dim2=-1)


class MultivariateNormal(_CentredAtLoc, _Base):
    """MultivariateNormal(loc, covariance_matrix=None, precision_matrix=None, scale_tril=None):
    exactly one of the three matrix parameters; the Cholesky factor ``scale_tril`` is derived
    and used for ``rsample`` (``loc + L @ eps``) and ``log_prob`` (triangular solve)."""

    arg_constraints = {
        "loc": "IndependentConstraint(Real(), 1)",
        "covariance_matrix": "PositiveDefinite()",
        "precision_matrix": "PositiveDefinite()",
        "scale_tril": "LowerCholesky()",
    }
    support = "IndependentConstraint(Real(), 1)"
    has_rsample = True

    def __init__(
        self,
        loc: Tensor,
        covariance_matrix: Optional[Tensor] = None,
        precision_matrix: Optional[Tensor] = None,
        scale_tril: Optional[Tensor] = None,
        validate_args: Any = None,
    ) -> None:
        from ..linalg import cholesky, inv

        loc = _as_tensor(loc)
        if loc.ndim < 1:
            raise ValueError("loc must be at least one-dimensional.")
        given = [m is not None for m in (covariance_matrix, precision_matrix, scale_tril)]
        if sum(given) != 1:
            raise ValueError(
                "Exactly one of covariance_matrix or precision_matrix or scale_tril may be "
                "specified."
            )
        mat = next(m for m in (covariance_matrix, precision_matrix, scale_tril) if m is not None)
        name = ("covariance_matrix", "precision_matrix", "scale_tril")[given.index(True)]
        mat = _as_tensor(mat, loc)
        self._given = name
        if mat.ndim < 2:
            raise ValueError(
                f"{name} must be at least two-dimensional, with optional leading batch dimensions"
            )
        batch = _core_broadcast_shape(tuple(mat.shape[:-2]), tuple(loc.shape[:-1]))
        n = int(loc.shape[-1])
        mat = mat.expand(*batch, *tuple(mat.shape[-2:]))
        self.loc = loc.expand(*batch, n)
        super().__init__(batch, (n,), validate_args)
        self.__dict__[name] = mat
        if self._validate_args:
            if name == "scale_tril":
                ok = (mat == mat.tril()).all() & (_diag(mat) > 0).all()
                self._check(name, mat, ok, self.arg_constraints[name])
            else:
                sym = ((mat - mat.mT).abs() <= 1e-6 * (1 + mat.abs())).all()
                self._check(name, mat, sym, self.arg_constraints[name])
        if name == "covariance_matrix":
            self.scale_tril = self._chol(cholesky, mat, name)
        elif name == "precision_matrix":
            self.scale_tril = self._chol(cholesky, inv(mat), name)
        self._unbroadcasted_scale_tril = self.scale_tril

    def _chol(self, cholesky: Any, mat: Tensor, name: str) -> Tensor:
        try:
            return cholesky(mat)  # type: ignore[no-any-return]
        except ValueError:
            if self._validate_args:
                self._fail(name, self.arg_constraints[name], mat)
            raise

    def __getattr__(self, name: str) -> Any:
        if name == "covariance_matrix" and "scale_tril" in self.__dict__:
            tril = self.__dict__["scale_tril"]
            value = tril @ tril.mT
        elif name == "precision_matrix" and "scale_tril" in self.__dict__:
            from ..linalg import inv

            value = inv(self.covariance_matrix)
        else:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self.__dict__[name] = value
        return value

    def expand(self, batch_shape: ShapeLike, _instance: Any = None) -> MultivariateNormal:
        shape = _shape(batch_shape)
        new = object.__new__(MultivariateNormal)
        new.__dict__.update(self.__dict__)
        n = self._event_shape[0]
        new.loc = self.loc.expand(*shape, n)
        for k in ("scale_tril", "covariance_matrix", "precision_matrix"):
            if k in self.__dict__:
                new.__dict__[k] = self.__dict__[k].expand(*shape, n, n)
        new._unbroadcasted_scale_tril = new.scale_tril
        new._batch_shape = shape
        return new

    @property
    def variance(self) -> Tensor:
        return self.scale_tril.pow(2).sum(-1)

    def _half_log_det(self) -> Tensor:
        return _diag(self.scale_tril).log().sum(-1)

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        eps = _normal(shape, self.loc)
        return self.loc + (self.scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def log_prob(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.loc)
        diff = value - self.loc
        m = _batch_mahalanobis(self.scale_tril, diff)
        n = self._event_shape[0]
        return -0.5 * (n * math.log(2 * math.pi) + m) - self._half_log_det()

    def entropy(self) -> Tensor:
        n = self._event_shape[0]
        return 0.5 * n * (1.0 + math.log(2 * math.pi)) + self._half_log_det()

    def __repr__(self) -> str:
        mat = self.__dict__[self._given]
        return (
            f"MultivariateNormal(loc: {tuple(self.loc.shape)}, {self._given}: {tuple(mat.shape)})"
        )


class Dirichlet(_Base):
    """Dirichlet(concentration): over the simplex of the last dimension; ``rsample`` normalises
    gamma draws (Marsaglia-Tsang) that carry implicit-reparameterisation gradients."""

    arg_constraints = {"concentration": "IndependentConstraint(GreaterThan(lower_bound=0.0), 1)"}
    support = "Simplex()"
    has_rsample = True
    _params = ("concentration",)

    def __init__(self, concentration: Tensor, validate_args: Any = None) -> None:
        concentration = _as_tensor(concentration)
        if concentration.ndim < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        shape = tuple(concentration.shape)
        super().__init__(shape[:-1], shape[-1:], validate_args)
        self._check(
            "concentration", concentration, concentration > 0, self.arg_constraints["concentration"]
        )

    @property
    def mean(self) -> Tensor:
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self) -> Tensor:
        from ..nn.functional import one_hot

        c = self.concentration
        cm1 = (c - 1).clamp(min=0)
        mode = cm1 / cm1.sum(-1, keepdim=True)
        corner = one_hot(c.argmax(-1), int(c.shape[-1])).to(c.dtype)
        mask = (c < 1).all(-1, keepdim=True)
        return mode.masked_fill(mask, 0.0) + corner * mask.to(c.dtype)

    @property
    def variance(self) -> Tensor:
        c = self.concentration
        c0 = c.sum(-1, keepdim=True)
        return c * (c0 - c) / (c0.pow(2) * (c0 + 1))

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        g = _rsample_gamma(self.concentration.expand(*shape))
        return _clamp_probs(g / g.sum(-1, keepdim=True))

    def log_prob(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.concentration)
        if self._validate_args:
            ok = (value >= 0).all(-1) & ((value.sum(-1) - 1).abs() < 1e-6)
            self._check_value(value, ok, self.support)
        c = self.concentration
        return (c - 1).xlogy(value).sum(-1) + c.sum(-1).lgamma() - c.lgamma().sum(-1)

    def entropy(self) -> Tensor:
        c = self.concentration
        k = int(c.shape[-1])
        a0 = c.sum(-1)
        return (
            c.lgamma().sum(-1)
            - a0.lgamma()
            - (k - a0) * a0.digamma()
            - ((c - 1.0) * c.digamma()).sum(-1)
        )


def _temperature(t: Any, like: Tensor) -> Tensor:
    return _as_tensor(t, like)


class LogitRelaxedBernoulli(_OverProbsOrLogits):
    """LogitRelaxedBernoulli(temperature, probs=None, logits=None): the logit of a
    ``RelaxedBernoulli`` draw; ``rsample`` is ``(logits + log u - log1p(-u)) / temperature``."""

    arg_constraints = {"probs": "Interval(lower_bound=0.0, upper_bound=1.0)", "logits": "Real()"}
    has_rsample = True
    _params = ("probs", "logits")
    _inner = "_bern"

    def __init__(
        self,
        temperature: Union[Tensor, Number],
        probs: Optional[Union[Tensor, Number]] = None,
        logits: Optional[Union[Tensor, Number]] = None,
        validate_args: Any = None,
    ) -> None:
        from . import Bernoulli

        self._bern = Bernoulli(probs, logits, validate_args=validate_args)
        param = self._bern.probs if probs is not None else self._bern.logits
        self.temperature = _temperature(temperature, param)
        super().__init__(tuple(param.shape), (), validate_args)

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        logits = self.logits
        u = _clamp_probs(_uniform(shape, logits))
        return (logits + u.log() - (-u).log1p()) / self.temperature

    def log_prob(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.logits)
        logits, value = _broadcast(self.logits, value)
        diff = logits - value * self.temperature
        return self.temperature.log() + diff - 2 * diff.softplus()


class _RelaxedTransformed(TransformedDistribution):
    """The shared shape of ``RelaxedBernoulli`` and ``RelaxedOneHotCategorical``: a ``_transform``
    of a ``_base_cls(temperature, probs, logits)`` draw, exposing its parameters."""

    _base_cls: Any
    _transform: Any

    def __init__(
        self,
        temperature: Union[Tensor, Number],
        probs: Optional[Union[Tensor, Number]] = None,
        logits: Optional[Union[Tensor, Number]] = None,
        validate_args: Any = None,
    ) -> None:
        base = self._base_cls(temperature, probs, logits, validate_args=validate_args)
        super().__init__(base, self._transform(), validate_args=validate_args)

    temperature = _base_attr("temperature")
    probs = _base_attr("probs")
    logits = _base_attr("logits")


class RelaxedBernoulli(_RelaxedTransformed):
    """RelaxedBernoulli(temperature, probs=None, logits=None): ``sigmoid`` of a
    ``LogitRelaxedBernoulli`` (the binary Concrete distribution), reparameterised."""

    arg_constraints = {"probs": "Interval(lower_bound=0.0, upper_bound=1.0)", "logits": "Real()"}
    support = "Interval(lower_bound=0.0, upper_bound=1.0)"  # type: ignore[assignment]
    _base_cls = LogitRelaxedBernoulli
    _transform = SigmoidTransform


class ExpRelaxedCategorical(_OverCategorical):
    """ExpRelaxedCategorical(temperature, probs=None, logits=None): the log of a
    ``RelaxedOneHotCategorical`` draw; ``rsample`` is ``log_softmax((logits + g) / temperature)``
    with Gumbel noise ``g``."""

    support = "IndependentConstraint(Real(), 1)"
    has_rsample = True

    def __init__(
        self,
        temperature: Union[Tensor, Number],
        probs: Optional[Tensor] = None,
        logits: Optional[Tensor] = None,
        validate_args: Any = None,
    ) -> None:
        self._categorical = Categorical(probs, logits, validate_args=validate_args)
        self.temperature = _temperature(temperature, self._categorical.logits)
        k = self._categorical._num_events
        super().__init__(self._categorical.batch_shape, (k,), validate_args)

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        logits = self.logits
        u = _clamp_probs(_uniform(shape, logits))
        gumbels = -((-(u.log())).log())
        scores = (logits + gumbels) / self.temperature
        return scores - scores.logsumexp(-1, keepdim=True)

    def log_prob(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.logits)
        k = self._categorical._num_events
        t = self.temperature
        log_scale = math.lgamma(k) + (k - 1) * t.log()
        score = self.logits - value * t
        score = (score - score.logsumexp(-1, keepdim=True)).sum(-1)
        return score + log_scale


class RelaxedOneHotCategorical(_RelaxedTransformed):
    """RelaxedOneHotCategorical(temperature, probs=None, logits=None): the Concrete /
    Gumbel-softmax distribution, ``exp`` of an ``ExpRelaxedCategorical``; reparameterised."""

    arg_constraints = {"probs": "Simplex()", "logits": "IndependentConstraint(Real(), 1)"}
    support = "Simplex()"  # type: ignore[assignment]
    _base_cls = ExpRelaxedCategorical
    _transform = ExpTransform
