"""``SparseAdam`` with PyTorch's signature, defaults and update rule for sparse gradients.

This library has no sparse tensors, so the gradient is a dense tensor read as rows: a row
(an index along dimension 0, e.g. one embedding vector) takes part in a step when any element
of its gradient is nonzero, as the rows a sparse ``Embedding`` gradient would list. Only those
rows update their moments and values (all elements of a taking-part row, as PyTorch updates
every value of a listed row); the other rows, moments included, stay untouched. PyTorch refuses
dense gradients ("SparseAdam does not support dense gradients"); here they are the input. A row
whose true sparse gradient is listed but exactly zero is therefore skipped here and decayed in
PyTorch. The step count is per parameter and advances on every step that gives it a gradient."""

from __future__ import annotations

import math
from typing import Any

from .. import _core
from .._core import Tensor
from ._common import PerParam, check_adam, hyperparameters
from .optimizer import ParamsT

__all__ = ["SparseAdam"]


def _touched_rows(grad: Tensor) -> Tensor:
    """Bool mask shaped like ``grad``: the rows (dimension 0) with some nonzero element."""
    if grad.dim() <= 1:
        return grad != 0
    rows = (grad != 0).reshape(grad.shape[0], -1).any(1)
    return rows.reshape(grad.shape[0], *([1] * (grad.dim() - 1))).expand(grad.shape)


class SparseAdam(PerParam):
    """Lazy Adam: the moments and values of rows with a nonzero gradient step as Adam's
    (``m += (1-b1)(g - m)``, ``v += (1-b2)(g² - v)``,
    ``p -= lr sqrt(1-b2^t)/(1-b1^t) · m / (sqrt(v) + eps)``); other rows are left alone."""

    _state_keys = ("step", "exp_avg", "exp_avg_sq")
    #: PyTorch's SparseAdam keeps its step count an int in the state dict.
    _tensor_state: tuple[str, ...] = ()

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        maximize: bool = False,
    ) -> None:
        betas = check_adam(lr, eps, betas)
        super().__init__(params, hyperparameters(SparseAdam.__init__, locals()))

    def _step_param(
        self, group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]
    ) -> None:
        step = state["step"]
        b1, b2 = group["betas"]
        rows = _touched_rows(grad)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        m = exp_avg + (grad - exp_avg).mul_(1 - b1)
        v = exp_avg_sq + (grad * grad).sub_(exp_avg_sq).mul_(1 - b2)
        size = group["lr"] * math.sqrt(1 - b2**step) / (1 - b1**step)
        update = m.div(v.sqrt().add_(group["eps"])).mul_(-size)
        exp_avg.copy_(_core.where(rows, m, exp_avg))
        exp_avg_sq.copy_(_core.where(rows, v, exp_avg_sq))
        p.add_(update.masked_fill_(rows.logical_not(), 0.0))
