"""PyTorch's ``register_kl`` registry and a ``kl_divergence`` that consults it before the
package's built-in closed forms (Normal, Bernoulli, Categorical, Uniform). Registered here:
Exponential, Laplace, Gamma, Beta, Dirichlet, Poisson, MultivariateNormal and Independent pairs
of the same family."""

from __future__ import annotations

from typing import Callable, TypeVar

from .._core import Tensor, stack
from . import Distribution
from . import kl_divergence as _builtin_kl
from ._common import _sum_rightmost
from .continuous import Beta, Exponential, Gamma, Laplace
from .discrete import Poisson
from .multivariate import Dirichlet, MultivariateNormal, _batch_mahalanobis
from .wrappers import Independent

__all__ = ["kl_divergence", "register_kl"]

KLFn = Callable[..., Tensor]
_F = TypeVar("_F", bound=KLFn)
_KL_REGISTRY: dict[tuple[type, type], KLFn] = {}


def register_kl(type_p: type, type_q: type) -> Callable[[_F], _F]:
    """Decorator registering ``fn(p, q)`` as ``kl_divergence`` for ``type_p`` / ``type_q``
    (subclasses match too; the most specific registered pair wins)."""
    if not (isinstance(type_p, type) and issubclass(type_p, Distribution)):
        raise TypeError(f"Expected type_p to be a Distribution subclass but got {type_p}")
    if not (isinstance(type_q, type) and issubclass(type_q, Distribution)):
        raise TypeError(f"Expected type_q to be a Distribution subclass but got {type_q}")

    def decorator(fn: _F) -> _F:
        _KL_REGISTRY[type_p, type_q] = fn
        return fn

    return decorator


def _lookup(tp: type, tq: type) -> KLFn | None:
    best: tuple[int, int] | None = None
    found: KLFn | None = None
    mro_p, mro_q = tp.__mro__, tq.__mro__
    for (a, b), fn in _KL_REGISTRY.items():
        if a in mro_p and b in mro_q:
            rank = (mro_p.index(a), mro_q.index(b))
            if best is None or rank < best:
                best, found = rank, fn
    return found


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """KL(p || q) in closed form: a registered pair (``register_kl``) or one of the built-in
    families; ``NotImplementedError`` for other pairs, as in PyTorch."""
    fn = _lookup(type(p), type(q))
    if fn is not None:
        return fn(p, q)
    return _builtin_kl(p, q)


@register_kl(Exponential, Exponential)
def _kl_exponential_exponential(p: Exponential, q: Exponential) -> Tensor:
    rate_ratio = q.rate / p.rate
    return -rate_ratio.log() + rate_ratio - 1


@register_kl(Laplace, Laplace)
def _kl_laplace_laplace(p: Laplace, q: Laplace) -> Tensor:
    scale_ratio = p.scale / q.scale
    loc_abs_diff = (p.loc - q.loc).abs()
    t1 = -scale_ratio.log()
    t2 = loc_abs_diff / q.scale
    t3 = scale_ratio * (-loc_abs_diff / p.scale).exp()
    return t1 + t2 + t3 - 1


@register_kl(Gamma, Gamma)
def _kl_gamma_gamma(p: Gamma, q: Gamma) -> Tensor:
    t1 = q.concentration * (p.rate / q.rate).log()
    t2 = q.concentration.lgamma() - p.concentration.lgamma()
    t3 = (p.concentration - q.concentration) * p.concentration.digamma()
    t4 = (q.rate - p.rate) * (p.concentration / p.rate)
    return t1 + t2 + t3 + t4


def _kl_dirichlet(pc: Tensor, qc: Tensor) -> Tensor:
    sum_p = pc.sum(-1)
    sum_q = qc.sum(-1)
    t1 = sum_p.lgamma() - sum_q.lgamma()
    t2 = (pc.lgamma() - qc.lgamma()).sum(-1)
    t3 = pc - qc
    t4 = pc.digamma() - sum_p.digamma().unsqueeze(-1)
    return t1 - t2 + (t3 * t4).sum(-1)


@register_kl(Dirichlet, Dirichlet)
def _kl_dirichlet_dirichlet(p: Dirichlet, q: Dirichlet) -> Tensor:
    return _kl_dirichlet(p.concentration, q.concentration)


@register_kl(Beta, Beta)
def _kl_beta_beta(p: Beta, q: Beta) -> Tensor:
    pc = stack([p.concentration1, p.concentration0], -1)
    qc = stack([q.concentration1, q.concentration0], -1)
    return _kl_dirichlet(pc, qc)


@register_kl(Poisson, Poisson)
def _kl_poisson_poisson(p: Poisson, q: Poisson) -> Tensor:
    return p.rate * (p.rate.log() - q.rate.log()) - (p.rate - q.rate)


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_mvn_mvn(p: MultivariateNormal, q: MultivariateNormal) -> Tensor:
    from ..linalg import solve_triangular

    if p.event_shape != q.event_shape:
        raise ValueError(
            "KL-divergence between two Multivariate Normals with different event shapes "
            "cannot be computed"
        )
    n = p.event_shape[0]
    half_term1 = q._half_log_det() - p._half_log_det()
    shape = tuple(p.batch_shape)
    from . import _core_broadcast_shape

    shape = _core_broadcast_shape(shape, tuple(q.batch_shape))
    lq = q.scale_tril.expand(*shape, n, n)
    lp = p.scale_tril.expand(*shape, n, n)
    term2 = solve_triangular(lq, lp, upper=False).pow(2).sum((-2, -1))
    term3 = _batch_mahalanobis(q.scale_tril, q.loc - p.loc)
    return half_term1 + 0.5 * (term2 + term3 - n)


@register_kl(Independent, Independent)
def _kl_independent_independent(p: Independent, q: Independent) -> Tensor:
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError
    result = kl_divergence(p.base_dist, q.base_dist)
    return _sum_rightmost(result, p.reinterpreted_batch_ndims)
