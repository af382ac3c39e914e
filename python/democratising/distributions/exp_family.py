"""``ExponentialFamily``: PyTorch's base class of the distributions whose density is
``exp(<t(x), theta> - F(theta) + k(x))``. A family gives its natural parameters ``theta``,
its log normalizer ``F`` and the expected carrier measure ``E[k(x)]``; ``entropy`` (and the
same-family KL in ``kl``) then follow from the Bregman divergence of ``F``, with the gradient
of ``F`` taken by autograd (Nielsen and Nock, "Entropies and cross-entropies of exponential
families"). The families keep their closed-form ``entropy``, as PyTorch's do; the generic one
is reached as ``ExponentialFamily.entropy(d)``."""

from __future__ import annotations

from typing import Any, Union, cast

from .._core import Tensor
from . import Distribution

__all__ = ["ExponentialFamily"]


class ExponentialFamily(Distribution):
    """Abstract base of the exponential families (``Bernoulli``, ``Beta``,
    ``ContinuousBernoulli``, ``Dirichlet``, ``Exponential``, ``Gamma``, ``Normal``,
    ``Poisson``, ``Wishart``, as in PyTorch)."""

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        """The natural parameters ``theta``, one tensor each (set by each family)."""
        raise NotImplementedError

    def _log_normalizer(self, *natural_params: Tensor) -> Tensor:
        """``F(theta)``: the log normalizer as a function of the natural parameters (set by
        each family)."""
        raise NotImplementedError

    @property
    def _mean_carrier_measure(self) -> Union[float, Tensor]:
        """``E[k(x)]``, needed by the Bregman entropy (set by the families whose carrier
        measure has a closed-form mean; PyTorch leaves it unset for the others)."""
        raise NotImplementedError

    def entropy(self) -> Tensor:
        """``F(theta) - <theta, grad F(theta)> - E[k(x)]``, with ``grad F`` from autograd (as
        PyTorch's: the natural parameters are detached, so no gradient reaches the family's
        own parameters; its closed-form ``entropy`` is the differentiable one)."""
        from .._grad_mode import enable_grad
        from ..autograd import grad

        result: Any = -self._mean_carrier_measure
        # (Under ``no_grad`` too, where PyTorch's raises: the gradient needs a graph.)
        with enable_grad():
            nparams = [p.detach().requires_grad_() for p in self._natural_params]
            lg_normal = self._log_normalizer(*nparams)
            gradients = cast(
                "list[Tensor]", grad(lg_normal.sum(), nparams, create_graph=True)
            )  # (every parameter is used: no ``None`` gradient)
            result = result + lg_normal
            for np_, g in zip(nparams, gradients):
                result = result - (np_ * g).reshape(*self._batch_shape, -1).sum(-1)
        return cast(Tensor, result)
