"""``RAdam`` (rectified Adam, Liu et al. 2019) with PyTorch's signature, defaults and update
rule, including ``decoupled_weight_decay``."""

from __future__ import annotations

import math
from typing import Any, Optional

from ._common import FusedRule, check_adam, hyperparameters
from .optimizer import ParamsT

__all__ = ["RAdam"]


class RAdam(FusedRule):
    """RAdam: Adam's moments; while the variance estimate is too short-lived
    (``rho_t <= 5``) the step is SGD with momentum ``lr · m / (1-b1^t)``, afterwards it is
    scaled by ``sqrt(1-b2^t) / (sqrt(v) + eps)`` and the rectification term ``r_t``."""

    _rule = "radam"
    _rule_states = ("exp_avg", "exp_avg_sq")

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
        betas = check_adam(lr, eps, betas, differentiable, capturable, weight_decay=weight_decay)
        order = (
            "lr betas eps weight_decay maximize foreach capturable decoupled_weight_decay "
            "differentiable"
        )
        super().__init__(params, hyperparameters(RAdam.__init__, locals(), order))

    def _constants(self, group: dict[str, Any], state: dict[str, Any]) -> list[float]:
        step, lr = state["step"], group["lr"]
        b1, b2 = group["betas"]
        bias1, bias2 = 1 - b1**step, 1 - b2**step
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * step * (b2**step) / bias2
        rect = 0.0  # not yet rectified: a momentum-SGD step
        if rho_t > 5.0:
            rect = math.sqrt(
                (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
            )
        return [1 - b1, b2, 1 - b2, bias1, lr, math.sqrt(bias2), group["eps"], rect]
