"""PyTorch's ``torch.distributions.utils``: the helpers custom distributions are written with
(``broadcast_all``, ``probs_to_logits``, ``logits_to_probs``, ``clamp_probs``,
``lazy_property``)."""

from __future__ import annotations

import numbers
from typing import Any, Callable, Generic, Optional, TypeVar, overload

import democratising as _dm

from .._core import Tensor
from .._grad_mode import enable_grad
from .._tensor import tensor as _tensor
from ..errors import ArgumentTypeError

_T = TypeVar("_T")


def broadcast_all(*values: Any) -> tuple[Tensor, ...]:
    """The values (tensors or numbers) as tensors broadcast to one shape; numbers take the
    dtype and device of the first tensor among them (the default float dtype without one)."""
    if not all(isinstance(v, (Tensor, numbers.Number)) for v in values):
        raise ArgumentTypeError(
            "Input arguments must all be instances of numbers.Number or Tensor."
        )
    like: Optional[Tensor] = next((v for v in values if isinstance(v, Tensor)), None)
    dtype = like.dtype if like is not None else _dm.get_default_dtype()
    device = like.device if like is not None else None
    tensors = [
        v if isinstance(v, Tensor) else _tensor(v, dtype=dtype, device=device) for v in values
    ]
    return tuple(_dm.broadcast_tensors(*tensors))


def clamp_probs(probs: Tensor) -> Tensor:
    """Probabilities kept inside ``[eps, 1 - eps]`` of their dtype (finite logs)."""
    eps = _dm.finfo(probs.dtype).eps
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """Log-odds of Bernoulli probabilities (``is_binary``), else log-probabilities."""
    p = clamp_probs(probs)
    if is_binary:
        return p.log() - (-p).log1p()
    return p.log()


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """The sigmoid of log-odds (``is_binary``), else the softmax over the last dim."""
    if is_binary:
        return logits.sigmoid()
    return logits.softmax(-1)


class lazy_property(Generic[_T]):  # noqa: N801 (PyTorch's name)
    """An attribute computed on first use and then stored on the instance (computed under
    ``enable_grad``, so that a distribution built inside ``no_grad`` still differentiates)."""

    def __init__(self, wrapped: Callable[[Any], _T]) -> None:
        self.wrapped = wrapped
        self.__doc__ = wrapped.__doc__
        self.__name__ = wrapped.__name__

    @overload
    def __get__(self, instance: None, obj_type: Any = None) -> lazy_property[_T]: ...
    @overload
    def __get__(self, instance: object, obj_type: Any = None) -> _T: ...
    def __get__(self, instance: Any, obj_type: Any = None) -> Any:
        if instance is None:
            return self
        with enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


__all__ = ["broadcast_all", "clamp_probs", "lazy_property", "logits_to_probs", "probs_to_logits"]
