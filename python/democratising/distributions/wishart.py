"""PyTorch's ``torch.distributions.Wishart``: the distribution of ``X X^T`` for ``df`` columns
``X`` drawn from ``N(0, covariance_matrix)``, on positive-definite matrices. ``rsample`` is the
Bartlett decomposition (chi draws on the diagonal, normals below it, both differentiable:
gradients reach ``df`` through the reparameterised gamma draw and the scale matrix through the
product), and ``log_prob``/``entropy``/``mean``/``mode``/``variance`` are PyTorch's formulas."""

from __future__ import annotations

import math
import warnings
from typing import Any, Optional, Union

from .. import _core
from .._core import Tensor
from .._grad_mode import enable_grad
from .._tensor import tensor as _tensor
from ..errors import InvalidValueError
from . import Number, ShapeLike, _as_tensor, _core_broadcast_shape, _shape, constraints
from ._common import _Base, _finfo
from .constraints import _AssertionValueError
from .continuous import Chi2
from .exp_family import ExponentialFamily

__all__ = ["Wishart"]

_LOG_2 = math.log(2)
_MATRICES = ("covariance_matrix", "precision_matrix", "scale_tril")


def _diag(m: Tensor) -> Tensor:
    return m.diagonal(dim1=-2, dim2=-1)


def _mvdigamma(x: Tensor, p: int) -> Tensor:
    """The multivariate digamma ``sum_i digamma(x - i / 2)``, ``i < p`` (of the entropy)."""
    half = _core.arange(p, dtype=x.dtype, device=x.device) / 2
    return (x.unsqueeze(-1) - half).digamma().sum(-1)


def _precision_to_scale_tril(p: Tensor) -> Tensor:
    """The lower Cholesky factor of ``p^{-1}`` without forming the inverse (PyTorch's route:
    the flipped Cholesky factor of the flipped matrix, then a triangular solve)."""
    from .. import flip
    from ..linalg import cholesky, solve_triangular

    lf = cholesky(flip(p, (-2, -1)))
    l_inv = flip(lf, (-2, -1)).mT
    eye = _core.eye(int(p.shape[-1]), dtype=p.dtype, device=p.device)
    return solve_triangular(l_inv, eye, upper=False)  # type: ignore[no-any-return]


class Wishart(_Base, ExponentialFamily):
    """Wishart(df, covariance_matrix=None, precision_matrix=None, scale_tril=None): exactly one
    matrix parameter (``scale_tril``, the Cholesky factor, is what every computation uses; the
    other two are factorised once), ``df > p - 1`` for ``p x p`` events. ``df`` in
    ``(p - 1, p)`` warns, as PyTorch: singular draws are then likely."""

    support = constraints.positive_definite
    has_rsample = True
    _mean_carrier_measure = 0

    @property
    def _natural_params(self) -> tuple[Tensor, Tensor]:
        p = self._event_shape[-1]
        return -self.precision_matrix / 2, (self.df - p - 1) / 2

    def _log_normalizer(self, x: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        from .. import mvlgamma
        from ..linalg import slogdet

        p = self._event_shape[-1]
        return (y + (p + 1) / 2) * (-slogdet(-2 * x).logabsdet + _LOG_2 * p) + mvlgamma(
            y + (p + 1) / 2, p=p
        )

    @property
    def arg_constraints(self) -> dict[str, constraints.Constraint]:  # type: ignore[override]
        return {
            "covariance_matrix": constraints.positive_definite,
            "precision_matrix": constraints.positive_definite,
            "scale_tril": constraints.lower_cholesky,
            "df": constraints.greater_than(self._event_shape[-1] - 1),
        }

    def __init__(
        self,
        df: Union[Tensor, Number],
        covariance_matrix: Optional[Tensor] = None,
        precision_matrix: Optional[Tensor] = None,
        scale_tril: Optional[Tensor] = None,
        validate_args: Any = None,
    ) -> None:
        given = [m is not None for m in (covariance_matrix, precision_matrix, scale_tril)]
        if sum(given) != 1:
            raise _AssertionValueError(
                "Exactly one of covariance_matrix or precision_matrix or scale_tril may be "
                "specified."
            )
        name = _MATRICES[given.index(True)]
        param = next(m for m in (covariance_matrix, precision_matrix, scale_tril) if m is not None)
        if not isinstance(param, Tensor):  # nested lists, as the other matrix distributions
            from .. import get_default_dtype

            param = _tensor(param)
            if not param.dtype.is_floating_point:
                param = param.to(get_default_dtype())
        if param.ndim < 2:
            raise InvalidValueError(
                "scale_tril must be at least two-dimensional, with optional leading batch "
                "dimensions"
            )
        if isinstance(df, Tensor):
            batch = _core_broadcast_shape(tuple(param.shape[:-2]), tuple(df.shape))
            self.df = df.expand(batch)  # (a tuple: ``expand()`` of an empty shape fails)
        else:
            batch = tuple(param.shape[:-2])
            # Expanded to the batch (PyTorch's is left 0-d, so its ``mean``/``mode``/
            # ``variance`` fail for a number ``df`` with batched matrices).
            self.df = _as_tensor(df, param).expand(batch)
        p = int(param.shape[-1])
        event = (int(param.shape[-2]), p)
        if bool((self.df <= p - 1).any().item()):
            raise InvalidValueError(
                f"Value of df={df} expected to be greater than ndim - 1 = {p - 1}."
            )
        self.__dict__[name] = param.expand((*batch, *event))
        if bool((self.df < p).any().item()):
            warnings.warn(
                "Low df values detected. Singular samples are highly likely to occur for "
                "ndim - 1 < df < ndim.",
                stacklevel=2,
            )
        super().__init__(batch, event, validate_args)
        if self._validate_args:
            # PyTorch's order: the matrix given, then ``df``.
            self._check_param(name, self.__dict__[name])
            self._check_param("df", self.df)
        if name == "scale_tril":
            self._unbroadcasted_scale_tril = param
        elif name == "covariance_matrix":
            from ..linalg import cholesky

            self._unbroadcasted_scale_tril = cholesky(param)
        else:
            self._unbroadcasted_scale_tril = _precision_to_scale_tril(param)
        self._dist_chi2 = self._chi2(batch)

    def _chi2(self, batch: tuple[int, ...]) -> Chi2:
        """The Bartlett decomposition's diagonal: ``Chi2(df - i)`` for row ``i``."""
        tril = self._unbroadcasted_scale_tril
        p = self._event_shape[-1]
        steps = _core.arange(p, dtype=tril.dtype, device=tril.device).expand(*batch, p)
        return Chi2(self.df.unsqueeze(-1) - steps)

    def __getattr__(self, name: str) -> Any:
        # PyTorch's lazy properties: computed from the Cholesky factor on first use (under
        # ``enable_grad``, so a first use inside ``sample`` does not cut later gradients), kept.
        if name not in _MATRICES or "_unbroadcasted_scale_tril" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        tril: Tensor = self.__dict__["_unbroadcasted_scale_tril"]
        with enable_grad():
            if name == "scale_tril":
                value = tril
            elif name == "covariance_matrix":
                value = tril @ tril.mT
            else:
                from .. import cholesky_solve

                eye = _core.eye(int(tril.shape[-1]), dtype=tril.dtype, device=tril.device)
                value = cholesky_solve(eye, tril)
            value = value.expand((*self._batch_shape, *self._event_shape))
        self.__dict__[name] = value
        return value

    def expand(self, batch_shape: ShapeLike, _instance: Any = None) -> Wishart:
        """A view with batch shape ``batch_shape`` (parameters expanded, not copied)."""
        shape = _shape(batch_shape)
        new = _instance if _instance is not None else object.__new__(Wishart)
        new.__dict__.update(self.__dict__)
        cov_shape = (*shape, *self._event_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril.expand(cov_shape)
        new.df = self.df.expand(shape)
        for name in _MATRICES:
            if name in self.__dict__:
                new.__dict__[name] = self.__dict__[name].expand(cov_shape)
        new._batch_shape = shape
        new._dist_chi2 = new._chi2(shape)
        return new  # type: ignore[no-any-return]

    def _df_matrix(self) -> Tensor:
        """``df`` shaped to scale a batch of matrices."""
        return self.df.reshape(*self._batch_shape, 1, 1)

    @property
    def mean(self) -> Tensor:
        return self._df_matrix() * self.covariance_matrix

    @property
    def mode(self) -> Tensor:
        factor = self.df - self._event_shape[-1] - 1
        factor = factor.masked_fill(factor <= 0, float("nan"))
        return factor.reshape(*self._batch_shape, 1, 1) * self.covariance_matrix

    @property
    def variance(self) -> Tensor:
        v = self.covariance_matrix
        d = _diag(v)
        return self._df_matrix() * (v.pow(2) + d.unsqueeze(-1) * d.unsqueeze(-2))

    def _bartlett_sampling(self, sample_shape: tuple[int, ...]) -> Tensor:
        """One Bartlett draw per ``sample_shape + batch_shape``: ``(L A)(L A)^T`` with ``A``
        lower triangular, ``sqrt(chi2(df - i))`` on the diagonal (clamped to ``eps``, as
        PyTorch) and standard normals below it."""
        tril = self._unbroadcasted_scale_tril
        eps = _finfo(tril.dtype).eps
        chi = self._dist_chi2.rsample(sample_shape).sqrt().clamp(min=eps)
        shape = self._extended_shape(sample_shape)
        below = _core.randn(shape, dtype=tril.dtype, device=tril.device).tril(-1)
        chol = tril @ (chi.diag_embed() + below)
        return chol @ chol.mT

    def _singular(self, sample: Tensor) -> Tensor:
        """Per draw of ``sample_shape``: whether any matrix of its batch is not positive
        definite."""
        bad = ~self.support.check(sample)
        nb = len(self._batch_shape)
        return bad.reshape(*tuple(bad.shape)[: bad.ndim - nb], -1).any(-1) if nb else bad

    def rsample(
        self, sample_shape: ShapeLike = (), max_try_correction: Optional[int] = None
    ) -> Tensor:
        """Bartlett draws of shape ``sample_shape + batch_shape + event_shape``. A draw that is
        not positive definite (likely when ``df < p``) warns and is redrawn, whole batch at
        once, up to ``max_try_correction`` times (default 10, as PyTorch); one still singular
        after that is returned as it is (its ``log_prob`` may be ``-inf``)."""
        shape = _shape(sample_shape)
        tries = 10 if max_try_correction is None else int(max_try_correction)
        sample = self._bartlett_sampling(shape)
        singular = self._singular(sample)
        if not bool(singular.any().item()):
            return sample
        warnings.warn("Singular sample detected.", stacklevel=2)
        tail = (1,) * (len(self._batch_shape) + 2)
        for _ in range(tries):
            fresh = self._bartlett_sampling(shape)
            sample = _core.where(singular.reshape((*shape, *tail)), fresh, sample)
            singular = singular & self._singular(fresh)
            if not bool(singular.any().item()):
                break
        return sample

    def log_prob(self, value: Any) -> Tensor:
        from .. import cholesky_solve, mvlgamma
        from ..linalg import slogdet

        tril = self._unbroadcasted_scale_tril
        value = _as_tensor(value, tril)
        self._validate_sample(value)
        nu = self.df
        p = self._event_shape[-1]
        half_log_det = _diag(tril).log().sum(-1)
        trace = _diag(cholesky_solve(value, tril)).sum(-1)
        return (
            -nu * (p * _LOG_2 / 2 + half_log_det)
            - mvlgamma(nu / 2, p=p)
            + (nu - p - 1) / 2 * slogdet(value).logabsdet
            - trace / 2
        )

    def entropy(self) -> Tensor:
        from .. import mvlgamma

        nu = self.df
        p = self._event_shape[-1]
        half_log_det = _diag(self._unbroadcasted_scale_tril).log().sum(-1)
        return (
            (p + 1) * (p * _LOG_2 / 2 + half_log_det)
            + mvlgamma(nu / 2, p=p)
            - (nu - p - 1) / 2 * _mvdigamma(nu / 2, p)
            + nu * p / 2
        )

    def __repr__(self) -> str:
        parts = [f"{k}: {tuple(self.__dict__[k].shape)}" for k in _MATRICES if k in self.__dict__]
        df = self.df
        parts.append(f"df: {df.item() if df.numel() == 1 else tuple(df.shape)}")
        return f"Wishart({', '.join(parts)})"
