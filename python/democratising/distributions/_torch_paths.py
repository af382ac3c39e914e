"""PyTorch's per-distribution module paths (``torch.distributions.normal.Normal``,
``.categorical.Categorical``...), which RL code such as CleanRL's imports from. The classes
live in a few files here; each of PyTorch's file names is a module holding every public name
of ``democratising.distributions``, so any ``from torch.distributions.<file> import <Class>``
of a class we have resolves."""

from __future__ import annotations

from typing import Any

from .._module_paths import path_module

#: PyTorch's files under ``torch/distributions`` that have no file of the same name here.
FILES = (
    "bernoulli",
    "beta",
    "binomial",
    "categorical",
    "cauchy",
    "chi2",
    "continuous_bernoulli",
    "dirichlet",
    "distribution",
    "exponential",
    "fishersnedecor",
    "gamma",
    "generalized_pareto",
    "geometric",
    "gumbel",
    "half_cauchy",
    "half_normal",
    "independent",
    "inverse_gamma",
    "kumaraswamy",
    "laplace",
    "lkj_cholesky",
    "log_normal",
    "logistic_normal",
    "lowrank_multivariate_normal",
    "mixture_same_family",
    "multinomial",
    "multivariate_normal",
    "negative_binomial",
    "normal",
    "one_hot_categorical",
    "pareto",
    "poisson",
    "relaxed_bernoulli",
    "relaxed_categorical",
    "studentT",
    "transformed_distribution",
    "uniform",
    "von_mises",
    "weibull",
)


def install(package: str, public: dict[str, Any]) -> dict[str, Any]:
    """Registers ``<package>.<file>`` for each of ``FILES``, each holding ``public``; returns
    them to be set as attributes of the package."""
    return {
        name: path_module(
            f"{package}.{name}", public, f"PyTorch's ``torch.distributions.{name}`` path."
        )
        for name in FILES
    }
