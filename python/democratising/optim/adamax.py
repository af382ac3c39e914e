"""``Adamax`` (Adam with the infinity norm) with PyTorch's signature, defaults and update rule."""

from __future__ import annotations

from typing import Any, Optional

from ._common import FusedRule, check_adam, hyperparameters
from .optimizer import ParamsT

__all__ = ["Adamax"]


class Adamax(FusedRule):
    """Adamax: ``m = b1 m + (1-b1) g``, ``u = max(b2 u, |g| + eps)``,
    ``p -= lr / (1 - b1^t) · m / u`` (``g`` with L2 ``weight_decay`` added)."""

    _rule = "adamax"
    _rule_states = ("exp_avg", "exp_inf")

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
        betas = check_adam(lr, eps, betas, differentiable, capturable, weight_decay=weight_decay)
        super().__init__(params, hyperparameters(Adamax.__init__, locals()))

    def _constants(self, group: dict[str, Any], state: dict[str, Any]) -> list[float]:
        b1, b2 = group["betas"]
        clr = group["lr"] / (1 - b1 ** state["step"])
        return [clr, 1 - b1, b2, group["eps"]]
