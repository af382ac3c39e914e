"""``RAdam`` (rectified Adam, Liu et al. 2019) with PyTorch's signature, defaults and update
rule, including ``decoupled_weight_decay``."""

from __future__ import annotations

import math
from typing import Any, Optional

from .._core import Tensor
from ._common import PerParam, adam_moments, apply_weight_decay, check_adam
from .algorithms import _arguments
from .optimizer import ParamsT

__all__ = ["RAdam"]


class RAdam(PerParam):
    """RAdam: Adam's moments; while the variance estimate is too short-lived
    (``rho_t <= 5``) the step is SGD with momentum ``lr · m / (1-b1^t)``, afterwards it is
    scaled by ``sqrt(1-b2^t) / (sqrt(v) + eps)`` and the rectification term ``r_t``."""

    _state_keys = ("step", "exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: Optional[bool] = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        betas = check_adam(lr, eps, betas, differentiable, weight_decay=weight_decay)
        super().__init__(params, _arguments(RAdam.__init__, locals()))

    def _step_param(
        self, group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]
    ) -> None:
        step, lr = state["step"], group["lr"]
        b1, b2 = group["betas"]
        grad = apply_weight_decay(group, p, grad, group["decoupled_weight_decay"])
        exp_avg, exp_avg_sq = adam_moments(state, grad, (b1, b2))
        bias1, bias2 = 1 - b1**step, 1 - b2**step
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * step * (b2**step) / bias2
        if rho_t > 5.0:
            rect = math.sqrt(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
            adaptive = exp_avg_sq.sqrt().add_(group["eps"]).reciprocal_().mul_(math.sqrt(bias2))
            p.add_(exp_avg.div(bias1).mul_(adaptive), alpha=-lr * rect)
        else:
            p.add_(exp_avg.div(bias1), alpha=-lr)
