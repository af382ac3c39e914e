"""``Adadelta`` (Zeiler 2012) with PyTorch's signature, defaults and update rule."""

from __future__ import annotations

from typing import Any, Optional

from ..errors import InvalidValueError
from ._common import FusedRule, check_flags, check_lr, check_non_negative, hyperparameters
from .optimizer import ParamsT

__all__ = ["Adadelta"]


class Adadelta(FusedRule):
    """Adadelta: ``v = rho v + (1-rho) g²``, ``Δ = sqrt(u+eps)/sqrt(v+eps) · g``,
    ``u = rho u + (1-rho) Δ²``, ``p -= lr Δ`` (``g`` with L2 ``weight_decay`` added)."""

    _rule = "adadelta"
    _rule_states = ("square_avg", "acc_delta")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: Optional[bool] = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_lr(lr)
        if not 0.0 <= rho <= 1.0:
            raise InvalidValueError(f"Invalid rho value: {rho}")
        check_non_negative(eps=eps, weight_decay=weight_decay)
        check_flags(differentiable, capturable)
        order = "lr rho eps weight_decay maximize capturable foreach differentiable"
        super().__init__(params, hyperparameters(Adadelta.__init__, locals(), order))

    def _constants(self, group: dict[str, Any], state: dict[str, Any]) -> list[float]:
        rho = group["rho"]
        return [group["lr"], rho, 1 - rho, group["eps"]]
