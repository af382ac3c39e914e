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
from ..errors import InvalidValueError
from . import (
    Number,
    ShapeLike,
    _as_tensor,
    _broadcast,
    _CentredAtLoc,
    _core_broadcast_shape,
    _shape,
    constraints,
)
from ._common import _POS, _Base, _clamp_probs, _normal, _rsample_gamma, _uniform
from .exp_family import ExponentialFamily
from .transforms import ExpTransform, SigmoidTransform
from .wrappers import TransformedDistribution, _base_attr, _OverCategorical, _OverProbsOrLogits

__all__ = [
    "Dirichlet",
    "ExpRelaxedCategorical",
    "LKJCholesky",
    "LogitRelaxedBernoulli",
    "LowRankMultivariateNormal",
    "MultivariateNormal",
    "RelaxedBernoulli",
    "RelaxedOneHotCategorical",
]


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
        "loc": constraints.real_vector,
        "covariance_matrix": constraints.positive_definite,
        "precision_matrix": constraints.positive_definite,
        "scale_tril": constraints.lower_cholesky,
    }
    support = constraints.real_vector
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
            raise InvalidValueError("loc must be at least one-dimensional.")
        given = [m is not None for m in (covariance_matrix, precision_matrix, scale_tril)]
        if sum(given) != 1:
            raise InvalidValueError(
                "Exactly one of covariance_matrix or precision_matrix or scale_tril may be "
                "specified."
            )
        mat = next(m for m in (covariance_matrix, precision_matrix, scale_tril) if m is not None)
        name = ("covariance_matrix", "precision_matrix", "scale_tril")[given.index(True)]
        mat = _as_tensor(mat, loc)
        self._given = name
        if mat.ndim < 2:
            raise InvalidValueError(
                f"{name} must be at least two-dimensional, with optional leading batch dimensions"
            )
        batch = _core_broadcast_shape(tuple(mat.shape[:-2]), tuple(loc.shape[:-1]))
        n = int(loc.shape[-1])
        mat = mat.expand((*batch, *tuple(mat.shape[-2:])))
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
        from .._grad_mode import enable_grad

        with enable_grad():  # cached: a first use under ``no_grad`` must not cut gradients
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
        self._validate_sample(value)
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


def _eye_plus(k: Tensor) -> Tensor:
    """``k + I`` over the last two dimensions."""
    from .. import _core

    n = int(k.shape[-1])
    return k + _core.eye(n, dtype=k.dtype, device=k.device)


def _capacitance_tril(w: Tensor, d: Tensor) -> Tensor:
    """The Cholesky factor of ``I + W^T D^{-1} W`` (PyTorch's capacitance matrix)."""
    from ..linalg import cholesky

    wt_dinv = w.mT / d.unsqueeze(-2)
    return cholesky(_eye_plus(wt_dinv @ w))  # type: ignore[no-any-return]


def _lowrank_logdet(d: Tensor, cap_tril: Tensor) -> Tensor:
    return 2 * _diag(cap_tril).log().sum(-1) + d.log().sum(-1)


def _lowrank_mahalanobis(w: Tensor, d: Tensor, x: Tensor, cap_tril: Tensor) -> Tensor:
    wt_dinv = w.mT / d.unsqueeze(-2)
    wt_dinv_x = (wt_dinv @ x.unsqueeze(-1)).squeeze(-1)
    return (x.pow(2) / d).sum(-1) - _batch_mahalanobis(cap_tril, wt_dinv_x)


class LowRankMultivariateNormal(_CentredAtLoc, _Base):
    """LowRankMultivariateNormal(loc, cov_factor, cov_diag): covariance
    ``cov_factor @ cov_factor.mT + diag(cov_diag)``; ``log_prob`` and ``entropy`` go through
    the ``m x m`` capacitance matrix (Woodbury), so they cost ``O(n m^2)``, as PyTorch's."""

    arg_constraints = {
        "loc": constraints.real_vector,
        "cov_factor": constraints.independent(constraints.real, 2),
        "cov_diag": constraints.independent(constraints.positive, 1),
    }
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self, loc: Tensor, cov_factor: Tensor, cov_diag: Tensor, validate_args: Any = None
    ) -> None:
        loc = _as_tensor(loc)
        if loc.ndim < 1:
            raise InvalidValueError("loc must be at least one-dimensional.")
        cov_factor = _as_tensor(cov_factor, loc)
        cov_diag = _as_tensor(cov_diag, loc)
        n = int(loc.shape[-1])
        if cov_factor.ndim < 2:
            raise InvalidValueError(
                "cov_factor must be at least two-dimensional, with optional leading batch "
                "dimensions"
            )
        if int(cov_factor.shape[-2]) != n:
            raise InvalidValueError(f"cov_factor must be a batch of matrices with shape {n} x m")
        if cov_diag.ndim < 1 or int(cov_diag.shape[-1]) != n:
            raise InvalidValueError(f"cov_diag must be a batch of vectors with shape {(n,)}")
        m = int(cov_factor.shape[-1])
        try:
            batch = _core_broadcast_shape(
                _core_broadcast_shape(tuple(loc.shape[:-1]), tuple(cov_factor.shape[:-2])),
                tuple(cov_diag.shape[:-1]),
            )
        except ValueError as e:
            raise InvalidValueError(
                f"Incompatible batch shapes: loc {tuple(loc.shape)}, "
                f"cov_factor {tuple(cov_factor.shape)}, cov_diag {tuple(cov_diag.shape)}"
            ) from e
        self.loc = loc.expand(*batch, n)
        self.cov_factor = cov_factor.expand(*batch, n, m)
        self.cov_diag = cov_diag.expand(*batch, n)
        super().__init__(batch, (n,), validate_args)
        for name in ("loc", "cov_factor", "cov_diag"):
            self._check_param(name, getattr(self, name))
        self._unbroadcasted_cov_factor = cov_factor
        self._unbroadcasted_cov_diag = cov_diag
        self._capacitance_tril = _capacitance_tril(cov_factor, cov_diag)

    def expand(self, batch_shape: ShapeLike, _instance: Any = None) -> LowRankMultivariateNormal:
        shape = _shape(batch_shape)
        new = object.__new__(LowRankMultivariateNormal)
        new.__dict__.update(self.__dict__)
        n, m = self._event_shape[0], int(self.cov_factor.shape[-1])
        new.loc = self.loc.expand(*shape, n)
        new.cov_factor = self.cov_factor.expand(*shape, n, m)
        new.cov_diag = self.cov_diag.expand(*shape, n)
        for k in ("covariance_matrix", "precision_matrix", "scale_tril"):
            new.__dict__.pop(k, None)
        new._batch_shape = shape
        return new

    @property
    def variance(self) -> Tensor:
        var = self._unbroadcasted_cov_factor.pow(2).sum(-1) + self._unbroadcasted_cov_diag
        return var.expand((*self._batch_shape, *self._event_shape))

    def _full(self, mat: Tensor) -> Tensor:
        n = self._event_shape[0]
        return mat.expand(*self._batch_shape, n, n)

    @property
    def scale_tril(self) -> Tensor:
        from ..linalg import cholesky

        d_sqrt = self._unbroadcasted_cov_diag.sqrt().unsqueeze(-1)
        dinvsqrt_w = self._unbroadcasted_cov_factor / d_sqrt
        k = _eye_plus(dinvsqrt_w @ dinvsqrt_w.mT)
        return self._full(d_sqrt * cholesky(k))

    @property
    def covariance_matrix(self) -> Tensor:
        from .. import diag_embed

        w = self._unbroadcasted_cov_factor
        return self._full(w @ w.mT + diag_embed(self._unbroadcasted_cov_diag))

    @property
    def precision_matrix(self) -> Tensor:
        from .. import diag_embed
        from ..linalg import solve_triangular

        w, d = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        wt_dinv = w.mT / d.unsqueeze(-2)
        a = solve_triangular(self._capacitance_tril, wt_dinv, upper=False)
        return self._full(diag_embed(d.reciprocal()) - a.mT @ a)

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        m = int(self.cov_factor.shape[-1])
        eps_w = _normal((*shape[:-1], m), self._unbroadcasted_cov_factor)
        eps_d = _normal(shape, self.loc)
        w_eps = (self._unbroadcasted_cov_factor @ eps_w.unsqueeze(-1)).squeeze(-1)
        return self.loc + w_eps + self._unbroadcasted_cov_diag.sqrt() * eps_d

    def log_prob(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.loc)
        self._validate_sample(value)
        diff = value - self.loc
        w, d = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        m = _lowrank_mahalanobis(w, d, diff, self._capacitance_tril)
        log_det = _lowrank_logdet(d, self._capacitance_tril)
        return -0.5 * (self._event_shape[0] * math.log(2 * math.pi) + log_det + m)

    def entropy(self) -> Tensor:
        log_det = _lowrank_logdet(self._unbroadcasted_cov_diag, self._capacitance_tril)
        h = 0.5 * (self._event_shape[0] * (1.0 + math.log(2 * math.pi)) + log_det)
        return h.expand(self._batch_shape)

    def __repr__(self) -> str:
        return (
            f"LowRankMultivariateNormal(loc: {tuple(self.loc.shape)}, cov_factor: "
            f"{tuple(self.cov_factor.shape)}, cov_diag: {tuple(self.cov_diag.shape)})"
        )


class Dirichlet(_Base, ExponentialFamily):
    """Dirichlet(concentration): over the simplex of the last dimension; ``rsample`` normalises
    gamma draws (Marsaglia-Tsang) that carry implicit-reparameterisation gradients."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True
    _params = ("concentration",)

    # PyTorch gives Dirichlet no ``_mean_carrier_measure``: only the KL uses these two.
    @property
    def _natural_params(self) -> tuple[Tensor]:
        return (self.concentration,)

    def _log_normalizer(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return x.lgamma().sum(-1) - x.sum(-1).lgamma()

    def __init__(self, concentration: Tensor, validate_args: Any = None) -> None:
        concentration = _as_tensor(concentration)
        if concentration.ndim < 1:
            raise InvalidValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        shape = tuple(concentration.shape)
        super().__init__(shape[:-1], shape[-1:], validate_args)
        self._check_param("concentration", concentration)

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
        g = _rsample_gamma(self.concentration.expand(shape))
        return _clamp_probs(g / g.sum(-1, keepdim=True))

    def log_prob(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.concentration)
        self._validate_sample(value)
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

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
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
        self._validate_sample(value)
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

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval  # type: ignore[assignment]
    _base_cls = LogitRelaxedBernoulli
    _transform = SigmoidTransform


class ExpRelaxedCategorical(_OverCategorical):
    """ExpRelaxedCategorical(temperature, probs=None, logits=None): the log of a
    ``RelaxedOneHotCategorical`` draw; ``rsample`` is ``log_softmax((logits + g) / temperature)``
    with Gumbel noise ``g``."""

    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self,
        temperature: Union[Tensor, Number],
        probs: Optional[Tensor] = None,
        logits: Optional[Tensor] = None,
        validate_args: Any = None,
    ) -> None:
        self._init_categorical(probs, logits, validate_args)
        self.temperature = _temperature(temperature, self._categorical.logits)

    def rsample(self, sample_shape: ShapeLike = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        logits = self.logits
        u = _clamp_probs(_uniform(shape, logits))
        gumbels = -((-(u.log())).log())
        scores = (logits + gumbels) / self.temperature
        return scores - scores.logsumexp(-1, keepdim=True)

    def log_prob(self, value: Any) -> Tensor:
        value = _as_tensor(value, self.logits)
        self._validate_sample(value)
        k = self._categorical._num_events
        t = self.temperature
        log_scale = math.lgamma(k) + (k - 1) * t.log()
        score = self.logits - value * t
        score = (score - score.logsumexp(-1, keepdim=True)).sum(-1)
        return score + log_scale


class RelaxedOneHotCategorical(_RelaxedTransformed):
    """RelaxedOneHotCategorical(temperature, probs=None, logits=None): the Concrete /
    Gumbel-softmax distribution, ``exp`` of an ``ExpRelaxedCategorical``; reparameterised."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.simplex  # type: ignore[assignment]
    _base_cls = ExpRelaxedCategorical
    _transform = ExpTransform


def _mvlgamma(a: Tensor, p: int) -> Tensor:
    """The multivariate log-gamma ``log Gamma_p(a)`` (``torch.mvlgamma``)."""
    total = a * 0 + p * (p - 1) / 4 * math.log(math.pi)
    for j in range(1, p + 1):
        total = total + (a + (1 - j) / 2).lgamma()
    return total


class LKJCholesky(_Base):
    """LKJCholesky(dim, concentration=1.0): the Cholesky factor of an LKJ-distributed
    ``dim x dim`` correlation matrix; ``sample`` is the onion method (a beta draw per row and
    a uniform direction on the hypersphere), with every off-diagonal correlation marginally
    ``2 Beta(b, b) - 1``, ``b = concentration - 1 + dim / 2``; ``log_prob`` is PyTorch's."""

    arg_constraints = {"concentration": _POS}
    support = constraints.corr_cholesky
    _params = ("concentration",)

    def __init__(
        self, dim: int, concentration: Union[Tensor, Number] = 1.0, validate_args: Any = None
    ) -> None:
        from .. import _core
        from .continuous import Beta

        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
            raise InvalidValueError(
                f"Expected dim to be an integer greater than or equal to 2. Found dim={dim}."
            )
        self.dim = dim
        (self.concentration,) = _broadcast(concentration)
        c = self.concentration
        super().__init__(tuple(c.shape), (dim, dim), validate_args)
        self._check("concentration", c, c > 0, _POS)
        marginal_conc = c + 0.5 * (dim - 2)
        offset = _core.arange(dim - 1, dtype=c.dtype, device=c.device)
        offset = _core.cat([_core.zeros(1, dtype=c.dtype, device=c.device), offset])
        # Row i >= 1 draws y ~ Beta(i / 2, marginal - (i - 1) / 2) (Lewandowski et al. 2009,
        # onion method). PyTorch uses ``offset + 0.5`` = (2i - 1) / 2 for the first
        # concentration, which skews the correlations of rows i >= 2.
        self._beta: Any = Beta(0.5 * (offset + 1), marginal_conc.unsqueeze(-1) - 0.5 * offset)

    def expand(self, batch_shape: ShapeLike, _instance: Any = None) -> LKJCholesky:
        shape = _shape(batch_shape)
        new = object.__new__(LKJCholesky)
        new.__dict__.update(self.__dict__)
        new.concentration = self.concentration.expand(shape)
        new._beta = self._beta.expand((*shape, self.dim))
        new._batch_shape = shape
        return new

    def sample(self, sample_shape: ShapeLike = ()) -> Tensor:
        from .. import diag_embed
        from .._grad_mode import no_grad
        from ._common import _finfo

        with no_grad():
            y = self._beta.sample(sample_shape).unsqueeze(-1)
            u = _normal(self._extended_shape(sample_shape), y).tril(-1)
            norm = u.pow(2).sum(-1, keepdim=True).sqrt()
            # The first row is all zeros: keep it zero rather than 0 / 0.
            u = u / norm.masked_fill(norm == 0, 1.0)
            w = y.sqrt() * u
            tiny = _finfo(w.dtype).tiny
            diag = (1 - w.pow(2).sum(-1)).clamp(min=tiny).sqrt()
            return w + diag_embed(diag)

    def log_prob(self, value: Any) -> Tensor:
        from .. import _core

        value = _as_tensor(value, self.concentration)
        self._validate_sample(value)
        diag_elems = _diag(value)[..., 1:]
        c = self.concentration
        order = _core.arange(2, self.dim + 1, dtype=c.dtype, device=c.device)
        order = 2 * (c - 1).unsqueeze(-1) + self.dim - order
        unnormalized = (order * diag_elems.log()).sum(-1)
        dm1 = self.dim - 1
        alpha = c + 0.5 * dm1
        denominator = alpha.lgamma() * dm1
        numerator = _mvlgamma(alpha - 0.5, dm1)
        pi_constant = 0.5 * dm1 * math.log(math.pi)
        return unnormalized - (pi_constant + numerator - denominator)
