"""``Adamax`` (Adam with the infinity norm) with PyTorch's signature, defaults and update rule."""

from __future__ import annotations

from typing import Any, Optional

from .._core import Tensor
from ._common import PerParam, addcdiv_, apply_weight_decay, check_adam, lerp_
from .algorithms import _arguments
from .optimizer import ParamsT

__all__ = ["Adamax"]


class Adamax(PerParam):
    """Adamax: ``m = b1 m + (1-b1) g``, ``u = max(b2 u, |g| + eps)``,
    ``p -= lr / (1 - b1^t) · m / u`` (``g`` with L2 ``weight_decay`` added)."""

    _state_keys = ("step", "exp_avg", "exp_inf")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: Optional[bool] = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        betas = check_adam(lr, eps, betas, differentiable, weight_decay=weight_decay)
        super().__init__(params, _arguments(Adamax.__init__, locals()))

    def _step_param(
        self, group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]
    ) -> None:
        b1, b2 = group["betas"]
        grad = apply_weight_decay(group, p, grad)
        exp_avg, exp_inf = state["exp_avg"], state["exp_inf"]
        lerp_(exp_avg, grad, 1 - b1)
        exp_inf.mul_(b2).maximum_(grad.abs().add_(group["eps"]))
        clr = group["lr"] / (1 - b1 ** state["step"])
        addcdiv_(p, exp_avg, exp_inf, -clr)
