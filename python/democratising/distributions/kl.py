"""PyTorch's ``register_kl`` registry and a ``kl_divergence`` that consults it before the
package's built-in closed forms (Normal, Bernoulli, Categorical, Uniform). Registered here:
PyTorch's pairs among the package's families, same-family and cross-family (infinite where the
support of ``p`` is not inside that of ``q``), with PyTorch's formulas."""

from __future__ import annotations

import math
from typing import Callable, TypeVar, cast

from .. import _core
from .._core import Tensor, stack
from ..errors import ArgumentTypeError, InvalidValueError
from . import Bernoulli, Distribution, Normal, Uniform, _broadcast, _core_broadcast_shape
from . import kl_divergence as _builtin_kl
from ._common import _EULER, _sum_rightmost
from .continuous import Beta, Cauchy, Exponential, Gamma, Gumbel, HalfNormal, Laplace
from .discrete import Binomial, Geometric, OneHotCategorical, Poisson
from .exp_family import ExponentialFamily
from .extra import ContinuousBernoulli, Pareto
from .multivariate import (
    Dirichlet,
    LowRankMultivariateNormal,
    MultivariateNormal,
    _batch_mahalanobis,
    _lowrank_logdet,
    _lowrank_mahalanobis,
)
from .wishart import Wishart, _mvdigamma
from .wrappers import Independent, TransformedDistribution

__all__ = ["kl_divergence", "register_kl"]

KLFn = Callable[..., Tensor]
_F = TypeVar("_F", bound=KLFn)
_KL_REGISTRY: dict[tuple[type, type], KLFn] = {}


def register_kl(type_p: type, type_q: type) -> Callable[[_F], _F]:
    """Decorator registering ``fn(p, q)`` as ``kl_divergence`` for ``type_p`` / ``type_q``
    (subclasses match too; the most specific registered pair wins)."""
    if not (isinstance(type_p, type) and issubclass(type_p, Distribution)):
        raise ArgumentTypeError(f"Expected type_p to be a Distribution subclass but got {type_p}")
    if not (isinstance(type_q, type) and issubclass(type_q, Distribution)):
        raise ArgumentTypeError(f"Expected type_q to be a Distribution subclass but got {type_q}")

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
        raise InvalidValueError(
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


def _infinite_like(t: Tensor) -> Tensor:
    return _core.full(tuple(t.shape), math.inf, dtype=t.dtype, device=t.device)


def _register_infinite(type_p: type, param: str, *types_q: type) -> None:
    """Register ``KL(p || q) = inf`` (shaped like ``p.<param>``) for each ``q`` whose support
    misses part of ``p``'s: one body for every such pair."""

    def kl_infinite(p: Distribution, q: Distribution) -> Tensor:
        return _infinite_like(getattr(p, param))

    for type_q in types_q:
        register_kl(type_p, type_q)(kl_infinite)


def _inf_where(result: Tensor, mask: Tensor) -> Tensor:
    """``result`` with ``inf`` where ``mask`` (broadcast together) holds."""
    result, mask = _broadcast(result, mask)
    return result.masked_fill(mask, math.inf)


def _x_log_x(t: Tensor) -> Tensor:
    return t.xlogy(t)


@register_kl(Normal, Normal)
def _kl_normal_normal(p: Normal, q: Normal) -> Tensor:
    var_ratio = (p.scale / q.scale).pow(2)
    t1 = ((p.loc - q.loc) / q.scale).pow(2)
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


# Registered (not left to the package's built-in closed form) so that it, not the generic
# exponential-family one below, is the most specific match, as in PyTorch.
@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p: Bernoulli, q: Bernoulli) -> Tensor:
    return _builtin_kl(p, q)


@register_kl(ExponentialFamily, ExponentialFamily)
def _kl_expfamily_expfamily(p: ExponentialFamily, q: ExponentialFamily) -> Tensor:
    """The Bregman divergence of the log normalizer between the natural parameters (same
    family only), with its gradient from autograd; the fallback for exponential families
    without a closed form registered. Each parameter's term is summed over its own dimensions
    past the batch: PyTorch sums every term over ``len(event_shape)`` dimensions, which for a
    batched ``Wishart`` also sums the batch-shaped ``df`` term across the batch."""
    from .._grad_mode import enable_grad
    from ..autograd import grad

    if type(p) is not type(q):
        raise NotImplementedError(
            "The cross KL-divergence between different exponential families cannot be "
            "computed using Bregman divergences"
        )
    nb = len(_core_broadcast_shape(p.batch_shape, q.batch_shape))
    with enable_grad():
        p_nparams = [t.detach().requires_grad_() for t in p._natural_params]
        q_nparams = q._natural_params
        lg_normal = p._log_normalizer(*p_nparams)
        gradients = cast("list[Tensor]", grad(lg_normal.sum(), p_nparams, create_graph=True))
        result = q._log_normalizer(*q_nparams) - lg_normal
        for pnp, qnp, g in zip(p_nparams, q_nparams, gradients):
            term = (qnp - pnp) * g
            result = result - _sum_rightmost(term, term.ndim - nb)
    return result


@register_kl(Cauchy, Cauchy)
def _kl_cauchy_cauchy(p: Cauchy, q: Cauchy) -> Tensor:
    t1 = ((p.scale + q.scale).pow(2) + (p.loc - q.loc).pow(2)).log()
    t2 = (4 * p.scale * q.scale).log()
    return t1 - t2


@register_kl(Gumbel, Gumbel)
def _kl_gumbel_gumbel(p: Gumbel, q: Gumbel) -> Tensor:
    ct1 = p.scale / q.scale
    ct2 = q.loc / q.scale
    ct3 = p.loc / q.scale
    t1 = -ct1.log() - ct2 + ct3
    t2 = ct1 * _EULER
    t3 = (ct2 + (1 + ct1).lgamma() - ct3).exp()
    return t1 + t2 + t3 - (1 + _EULER)


@register_kl(Geometric, Geometric)
def _kl_geometric_geometric(p: Geometric, q: Geometric) -> Tensor:
    return -p.entropy() - (-q.probs).log1p() / p.probs - q.logits


@register_kl(Binomial, Binomial)
def _kl_binomial_binomial(p: Binomial, q: Binomial) -> Tensor:
    if bool((p.total_count < q.total_count).any().item()):
        raise NotImplementedError(
            "KL between Binomials where q.total_count > p.total_count is not implemented"
        )
    kl = p.total_count * (p.probs * (p.logits - q.logits) + (-p.probs).log1p() - (-q.probs).log1p())
    return _inf_where(kl, p.total_count > q.total_count)


@register_kl(OneHotCategorical, OneHotCategorical)
def _kl_onehot_onehot(p: OneHotCategorical, q: OneHotCategorical) -> Tensor:
    return kl_divergence(p._categorical, q._categorical)


@register_kl(HalfNormal, HalfNormal)
def _kl_halfnormal_halfnormal(p: HalfNormal, q: HalfNormal) -> Tensor:
    return _kl_normal_normal(p.base_dist, q.base_dist)  # type: ignore[arg-type]


@register_kl(TransformedDistribution, TransformedDistribution)
def _kl_transformed_transformed(p: TransformedDistribution, q: TransformedDistribution) -> Tensor:
    if p.transforms != q.transforms or p.event_shape != q.event_shape:
        raise NotImplementedError
    return kl_divergence(p.base_dist, q.base_dist)


@register_kl(Bernoulli, Poisson)
def _kl_bernoulli_poisson(p: Bernoulli, q: Poisson) -> Tensor:
    return -p.entropy() - (p.probs * q.rate.log() - q.rate)


_register_infinite(Poisson, "rate", Bernoulli, Binomial)


@register_kl(Beta, Exponential)
def _kl_beta_exponential(p: Beta, q: Exponential) -> Tensor:
    a, b = p.concentration1, p.concentration0
    return -p.entropy() - q.rate.log() + q.rate * (a / (a + b))


@register_kl(Beta, Gamma)
def _kl_beta_gamma(p: Beta, q: Gamma) -> Tensor:
    a, b = p.concentration1, p.concentration0
    t1 = -p.entropy()
    t2 = q.concentration.lgamma() - q.concentration * q.rate.log()
    t3 = (q.concentration - 1) * (a.digamma() - (a + b).digamma())
    t4 = q.rate * a / (a + b)
    return t1 + t2 - t3 + t4


@register_kl(Beta, Normal)
def _kl_beta_normal(p: Beta, q: Normal) -> Tensor:
    a, b = p.concentration1, p.concentration0
    e_beta = a / (a + b)
    var_normal = q.scale.pow(2)
    t1 = -p.entropy()
    t2 = 0.5 * (var_normal * 2 * math.pi).log()
    t3 = (e_beta * (1 - e_beta) / (a + b + 1) + e_beta.pow(2)) * 0.5
    t4 = q.loc * e_beta
    t5 = q.loc.pow(2) * 0.5
    return t1 + t2 + (t3 - t4 + t5) / var_normal


_register_infinite(Beta, "concentration1", Pareto)


@register_kl(Beta, Uniform)
def _kl_beta_uniform(p: Beta, q: Uniform) -> Tensor:
    result = -p.entropy() + (q.high - q.low).log()
    return _inf_where(result, (q.low > 0) | (q.high < 1))


_register_infinite(Exponential, "rate", Beta, ContinuousBernoulli, Pareto, Uniform)


@register_kl(Exponential, Gamma)
def _kl_exponential_gamma(p: Exponential, q: Gamma) -> Tensor:
    ratio = q.rate / p.rate
    t1 = -q.concentration * ratio.log()
    return t1 + ratio + q.concentration.lgamma() + q.concentration * _EULER - (1 + _EULER)


@register_kl(Exponential, Gumbel)
def _kl_exponential_gumbel(p: Exponential, q: Gumbel) -> Tensor:
    scale_rate_prod = p.rate * q.scale
    loc_scale_ratio = q.loc / q.scale
    t1 = scale_rate_prod.log() - 1
    t2 = loc_scale_ratio.exp() * scale_rate_prod / (scale_rate_prod + 1)
    t3 = scale_rate_prod.reciprocal()
    return t1 - loc_scale_ratio + t2 + t3


@register_kl(Exponential, Normal)
def _kl_exponential_normal(p: Exponential, q: Normal) -> Tensor:
    var_normal = q.scale.pow(2)
    rate_sqr = p.rate.pow(2)
    t1 = 0.5 * (rate_sqr * var_normal * 2 * math.pi).log()
    t2 = rate_sqr.reciprocal()
    t3 = q.loc / p.rate
    t4 = q.loc.pow(2) * 0.5
    return t1 - 1 + (t2 - t3 + t4) / var_normal


_register_infinite(Gamma, "concentration", Beta, ContinuousBernoulli, Pareto, Uniform)


@register_kl(Gamma, Exponential)
def _kl_gamma_exponential(p: Gamma, q: Exponential) -> Tensor:
    return -p.entropy() - q.rate.log() + q.rate * p.concentration / p.rate


@register_kl(Gamma, Gumbel)
def _kl_gamma_gumbel(p: Gamma, q: Gumbel) -> Tensor:
    a = p.concentration
    beta_scale_prod = p.rate * q.scale
    loc_scale_ratio = q.loc / q.scale
    t1 = (a - 1) * a.digamma() - a.lgamma() - a
    t2 = beta_scale_prod.log() + a / beta_scale_prod
    t3 = loc_scale_ratio.exp() * (1 + beta_scale_prod.reciprocal()).pow(-a) - loc_scale_ratio
    return t1 + t2 + t3


@register_kl(Gamma, Normal)
def _kl_gamma_normal(p: Gamma, q: Normal) -> Tensor:
    a = p.concentration
    var_normal = q.scale.pow(2)
    beta_sqr = p.rate.pow(2)
    t1 = 0.5 * (beta_sqr * var_normal * 2 * math.pi).log() - a - a.lgamma()
    t2 = 0.5 * (a.pow(2) + a) / beta_sqr
    t3 = q.loc * a / p.rate
    t4 = 0.5 * q.loc.pow(2)
    return t1 + (a - 1) * a.digamma() + (t2 - t3 + t4) / var_normal


# A distribution on the whole real line against one on a bounded or half line.
for _real_line in (Gumbel, Laplace, Normal):
    _register_infinite(
        _real_line, "loc", Beta, ContinuousBernoulli, Pareto, Exponential, Gamma, Uniform
    )


@register_kl(Gumbel, Normal)
def _kl_gumbel_normal(p: Gumbel, q: Normal) -> Tensor:
    param_ratio = p.scale / q.scale
    t1 = (param_ratio / math.sqrt(2 * math.pi)).log()
    t2 = (math.pi * param_ratio * 0.5).pow(2) / 3
    t3 = ((p.loc + p.scale * _EULER - q.loc) / q.scale).pow(2) * 0.5
    return -t1 + t2 + t3 - (_EULER + 1)


@register_kl(Laplace, Normal)
def _kl_laplace_normal(p: Laplace, q: Normal) -> Tensor:
    var_normal = q.scale.pow(2)
    scale_sqr_var_ratio = p.scale.pow(2) / var_normal
    t1 = 0.5 * (2 * scale_sqr_var_ratio / math.pi).log()
    t2 = 0.5 * p.loc.pow(2)
    t3 = p.loc * q.loc
    t4 = 0.5 * q.loc.pow(2)
    return -t1 + scale_sqr_var_ratio + (t2 - t3 + t4) / var_normal - 1


@register_kl(Normal, Gumbel)
def _kl_normal_gumbel(p: Normal, q: Gumbel) -> Tensor:
    mean_scale_ratio = p.loc / q.scale
    var_scale_sqr_ratio = (p.scale / q.scale).pow(2)
    loc_scale_ratio = q.loc / q.scale
    t1 = var_scale_sqr_ratio.log() * 0.5
    t2 = mean_scale_ratio - loc_scale_ratio
    t3 = (-mean_scale_ratio + 0.5 * var_scale_sqr_ratio + loc_scale_ratio).exp()
    return -t1 + t2 + t3 - (0.5 * (1 + math.log(2 * math.pi)))


@register_kl(Normal, Laplace)
def _kl_normal_laplace(p: Normal, q: Laplace) -> Tensor:
    loc_diff = p.loc - q.loc
    scale_ratio = p.scale / q.scale
    loc_diff_scale_ratio = loc_diff / p.scale
    t1 = scale_ratio.log()
    t2 = math.sqrt(2 / math.pi) * p.scale * (-0.5 * loc_diff_scale_ratio.pow(2)).exp()
    t3 = loc_diff * (math.sqrt(0.5) * loc_diff_scale_ratio).erf()
    return -t1 + (t2 + t3) / q.scale - (0.5 * (1 + math.log(0.5 * math.pi)))


@register_kl(Uniform, Beta)
def _kl_uniform_beta(p: Uniform, q: Beta) -> Tensor:
    common_term = p.high - p.low
    t1 = common_term.log()
    a, b = q.concentration1, q.concentration0
    t2 = (a - 1) * (_x_log_x(p.high) - _x_log_x(p.low) - common_term) / common_term
    t3 = (b - 1) * (_x_log_x(1 - p.high) - _x_log_x(1 - p.low) + common_term) / common_term
    t4 = a.lgamma() + b.lgamma() - (a + b).lgamma()
    result = t3 + t4 - t1 - t2
    return _inf_where(result, (p.high > 1) | (p.low < 0))


@register_kl(Uniform, Exponential)
def _kl_uniform_exponential(p: Uniform, q: Exponential) -> Tensor:
    result = q.rate * (p.high + p.low) / 2 - ((p.high - p.low) * q.rate).log()
    return _inf_where(result, p.low < 0)


@register_kl(Uniform, Gamma)
def _kl_uniform_gamma(p: Uniform, q: Gamma) -> Tensor:
    common_term = p.high - p.low
    t1 = common_term.log()
    t2 = q.concentration.lgamma() - q.concentration * q.rate.log()
    t3 = (1 - q.concentration) * (_x_log_x(p.high) - _x_log_x(p.low) - common_term) / common_term
    t4 = q.rate * (p.high + p.low) / 2
    return _inf_where(-t1 + t2 + t3 + t4, p.low < 0)


@register_kl(Uniform, Gumbel)
def _kl_uniform_gumbel(p: Uniform, q: Gumbel) -> Tensor:
    common_term = q.scale / (p.high - p.low)
    high_loc_diff = (p.high - q.loc) / q.scale
    low_loc_diff = (p.low - q.loc) / q.scale
    t1 = common_term.log() + 0.5 * (high_loc_diff + low_loc_diff)
    t2 = common_term * ((-high_loc_diff).exp() - (-low_loc_diff).exp())
    return t1 - t2


@register_kl(Uniform, Normal)
def _kl_uniform_normal(p: Uniform, q: Normal) -> Tensor:
    common_term = p.high - p.low
    t1 = (math.sqrt(math.pi * 2) * q.scale / common_term).log()
    t2 = common_term.pow(2) / 12
    t3 = ((p.high + p.low - 2 * q.loc) / 2).pow(2)
    return t1 + 0.5 * (t2 + t3) / q.scale.pow(2)


@register_kl(Pareto, Pareto)
def _kl_pareto_pareto(p: Pareto, q: Pareto) -> Tensor:
    scale_ratio = p.scale / q.scale
    alpha_ratio = q.alpha / p.alpha
    t1 = q.alpha * scale_ratio.log()
    t2 = -alpha_ratio.log()
    return _inf_where(t1 + t2 + alpha_ratio - 1, p.scale < q.scale)


_register_infinite(Pareto, "scale", Beta, ContinuousBernoulli, Uniform)


@register_kl(Pareto, Exponential)
def _kl_pareto_exponential(p: Pareto, q: Exponential) -> Tensor:
    scale_rate_prod = p.scale * q.rate
    t1 = (p.alpha / scale_rate_prod).log()
    t2 = p.alpha.reciprocal()
    t3 = p.alpha * scale_rate_prod / (p.alpha - 1)
    return _inf_where(t1 - t2 + t3 - 1, p.alpha <= 1)


@register_kl(Pareto, Gamma)
def _kl_pareto_gamma(p: Pareto, q: Gamma) -> Tensor:
    common_term = p.scale.log() + p.alpha.reciprocal()
    t1 = p.alpha.log() - common_term
    t2 = q.concentration.lgamma() - q.concentration * q.rate.log()
    t3 = (1 - q.concentration) * common_term
    t4 = q.rate * p.alpha * p.scale / (p.alpha - 1)
    return _inf_where(t1 + t2 + t3 + t4 - 1, p.alpha <= 1)


@register_kl(Pareto, Normal)
def _kl_pareto_normal(p: Pareto, q: Normal) -> Tensor:
    var_normal = 2 * q.scale.pow(2)
    common_term = p.scale / (p.alpha - 1)
    t1 = (math.sqrt(2 * math.pi) * q.scale * p.alpha / p.scale).log()
    t2 = p.alpha.reciprocal()
    t3 = p.alpha * common_term.pow(2) / (p.alpha - 2)
    t4 = (p.alpha * common_term - q.loc).pow(2)
    return _inf_where(t1 - t2 + (t3 + t4) / var_normal - 1, p.alpha <= 2)


@register_kl(Uniform, Pareto)
def _kl_uniform_pareto(p: Uniform, q: Pareto) -> Tensor:
    support_uniform = p.high - p.low
    t1 = (q.alpha * q.scale.pow(q.alpha) * support_uniform).log()
    t2 = (_x_log_x(p.high) - _x_log_x(p.low) - support_uniform) / support_uniform
    return _inf_where(t2 * (q.alpha + 1) - t1, p.low < q.scale)


def _cb_cross_term(q: ContinuousBernoulli, mean: Tensor) -> Tensor:
    return -mean * q.logits - (-q.probs).log1p() - q._cont_bern_log_norm()


@register_kl(ContinuousBernoulli, ContinuousBernoulli)
def _kl_cb_cb(p: ContinuousBernoulli, q: ContinuousBernoulli) -> Tensor:
    t1 = p.mean * (p.logits - q.logits)
    t2 = p._cont_bern_log_norm() + (-p.probs).log1p()
    t3 = -q._cont_bern_log_norm() - (-q.probs).log1p()
    return t1 + t2 + t3


@register_kl(Beta, ContinuousBernoulli)
def _kl_beta_cb(p: Beta, q: ContinuousBernoulli) -> Tensor:
    return -p.entropy() + _cb_cross_term(q, p.mean)


@register_kl(Uniform, ContinuousBernoulli)
def _kl_uniform_cb(p: Uniform, q: ContinuousBernoulli) -> Tensor:
    result = -p.entropy() + _cb_cross_term(q, p.mean)
    return _inf_where(result, (p.high >= 1) | (p.low <= 0))


_register_infinite(ContinuousBernoulli, "probs", Pareto)


@register_kl(ContinuousBernoulli, Exponential)
def _kl_cb_exponential(p: ContinuousBernoulli, q: Exponential) -> Tensor:
    return -p.entropy() - q.rate.log() + q.rate * p.mean


@register_kl(ContinuousBernoulli, Normal)
def _kl_cb_normal(p: ContinuousBernoulli, q: Normal) -> Tensor:
    t1 = -p.entropy()
    t2 = 0.5 * (math.log(2.0 * math.pi) + (q.loc / q.scale).pow(2)) + q.scale.log()
    t3 = (p.variance + p.mean.pow(2) - 2.0 * q.loc * p.mean) / (2.0 * q.scale.pow(2))
    return t1 + t2 + t3


@register_kl(ContinuousBernoulli, Uniform)
def _kl_cb_uniform(p: ContinuousBernoulli, q: Uniform) -> Tensor:
    result = -p.entropy() + (q.high - q.low).log()
    return _inf_where(result, (q.low >= 0) | (q.high <= 1))


def _trace_xxt(m: Tensor) -> Tensor:
    """``trace(M @ M.mT)`` over the last two dimensions."""
    return m.pow(2).sum((-2, -1))


def _check_event_shapes(p: Distribution, q: Distribution) -> None:
    if p.event_shape != q.event_shape:
        raise InvalidValueError(
            "KL-divergence between two (Low Rank) Multivariate Normals with different event "
            "shapes cannot be computed"
        )


def _lowrank_terms(q: LowRankMultivariateNormal, p_loc: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``q``'s log-determinant, ``p``'s mean's Mahalanobis term, and ``A`` with
    ``inv(q.cov) = inv(D) - A.mT @ A``."""
    from ..linalg import solve_triangular

    w, d = q._unbroadcasted_cov_factor, q._unbroadcasted_cov_diag
    logdet = _lowrank_logdet(d, q._capacitance_tril)
    maha = _lowrank_mahalanobis(w, d, q.loc - p_loc, q._capacitance_tril)
    a = solve_triangular(q._capacitance_tril, w.mT / d.unsqueeze(-2), upper=False)
    return logdet, maha, a


@register_kl(LowRankMultivariateNormal, LowRankMultivariateNormal)
def _kl_lowrank_lowrank(p: LowRankMultivariateNormal, q: LowRankMultivariateNormal) -> Tensor:
    _check_event_shapes(p, q)
    q_logdet, term3, a = _lowrank_terms(q, p.loc)
    p_logdet = _lowrank_logdet(p._unbroadcasted_cov_diag, p._capacitance_tril)
    pw, pd = p._unbroadcasted_cov_factor, p._unbroadcasted_cov_diag
    qd = q._unbroadcasted_cov_diag
    term21 = (pd / qd).sum(-1)
    term22 = _trace_xxt(pw * qd.rsqrt().unsqueeze(-1))
    term23 = _trace_xxt(a * pd.sqrt().unsqueeze(-2))
    term24 = _trace_xxt(a @ pw)
    term2 = term21 + term22 - term23 - term24
    return 0.5 * (q_logdet - p_logdet + term2 + term3 - p.event_shape[0])


@register_kl(MultivariateNormal, LowRankMultivariateNormal)
def _kl_mvn_lowrank(p: MultivariateNormal, q: LowRankMultivariateNormal) -> Tensor:
    _check_event_shapes(p, q)
    q_logdet, term3, a = _lowrank_terms(q, p.loc)
    p_tril = p._unbroadcasted_scale_tril
    term1 = q_logdet - 2 * p_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    term21 = _trace_xxt(p_tril * q._unbroadcasted_cov_diag.rsqrt().unsqueeze(-1))
    term22 = _trace_xxt(a @ p_tril)
    return 0.5 * (term1 + term21 - term22 + term3 - p.event_shape[0])


@register_kl(LowRankMultivariateNormal, MultivariateNormal)
def _kl_lowrank_mvn(p: LowRankMultivariateNormal, q: MultivariateNormal) -> Tensor:
    from .. import diag_embed
    from ..linalg import solve_triangular

    _check_event_shapes(p, q)
    q_tril = q._unbroadcasted_scale_tril
    term1 = 2 * q_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1) - _lowrank_logdet(
        p._unbroadcasted_cov_diag, p._capacitance_tril
    )
    term3 = _batch_mahalanobis(q_tril, q.loc - p.loc)
    pw = p._unbroadcasted_cov_factor
    from . import _core_broadcast_shape

    batch = _core_broadcast_shape(tuple(q_tril.shape[:-2]), tuple(pw.shape[:-2]))
    n, m = p.event_shape[0], int(pw.shape[-1])
    q_tril = q_tril.expand(*batch, n, n)
    p_w = pw.expand(*batch, n, m)
    p_d = diag_embed(p._unbroadcasted_cov_diag.sqrt()).expand(*batch, n, n)
    term21 = _trace_xxt(solve_triangular(q_tril, p_w, upper=False))
    term22 = _trace_xxt(solve_triangular(q_tril, p_d, upper=False))
    return 0.5 * (term1 + term21 + term22 + term3 - p.event_shape[0])


@register_kl(Wishart, Wishart)
def _kl_wishart_wishart(p: Wishart, q: Wishart) -> Tensor:
    """The closed form of PyTorch's exponential-family (Bregman) divergence for the pair:
    ``nu_q / 2 (log|S_q| - log|S_p|) + nu_p / 2 (tr(S_q^{-1} S_p) - d)
    + log G_d(nu_q / 2) - log G_d(nu_p / 2) + (nu_p - nu_q) / 2 psi_d(nu_p / 2)``, per batch
    element, differentiable in both (PyTorch's generic route sums the ``df`` term over batch
    dimensions and detaches ``p``)."""
    from .. import mvlgamma
    from ..linalg import solve_triangular

    if p.event_shape != q.event_shape:
        raise InvalidValueError(
            "KL-divergence between two Wisharts with different event shapes cannot be computed"
        )
    from . import _core_broadcast_shape

    d = p.event_shape[-1]
    shape = _core_broadcast_shape(tuple(p.batch_shape), tuple(q.batch_shape))
    lp = p._unbroadcasted_scale_tril.expand(*shape, d, d)
    lq = q._unbroadcasted_scale_tril.expand(*shape, d, d)
    half_log_det_p = lp.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    half_log_det_q = lq.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    trace = solve_triangular(lq, lp, upper=False).pow(2).sum((-2, -1))
    nu_p, nu_q = p.df, q.df
    return (
        nu_q * (half_log_det_q - half_log_det_p)
        + nu_p / 2 * (trace - d)
        + mvlgamma(nu_q / 2, p=d)
        - mvlgamma(nu_p / 2, p=d)
        + (nu_p - nu_q) / 2 * _mvdigamma(nu_p / 2, d)
    )
