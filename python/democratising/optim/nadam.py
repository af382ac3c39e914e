"""``NAdam`` (Adam with Nesterov momentum, Dozat 2016) with PyTorch's signature, defaults and
update rule, including the momentum-decay schedule and ``decoupled_weight_decay``."""

from __future__ import annotations

from typing import Any, Optional

from .._core import Tensor
from ._common import FusedRule, check_adam, full_like, hyperparameters
from .optimizer import ParamsT

__all__ = ["NAdam"]


class NAdam(FusedRule):
    """NAdam: ``mu_t = b1 (1 - 0.5 · 0.96^(t psi))`` (``psi = momentum_decay``), moments as
    Adam, ``p -= lr (1-mu_t)/(1-prod mu) · g/d + lr mu_{t+1}/(1-prod mu · mu_{t+1}) · m/d``
    with ``d = sqrt(v / (1-b2^t)) + eps``. ``mu_product`` is kept as a Python float."""

    _scalar_keys = ("mu_product",)
    _rule = "nadam"
    _rule_states = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: Optional[bool] = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        betas = check_adam(
            lr,
            eps,
            betas,
            differentiable,
            capturable,
            weight_decay=weight_decay,
            momentum_decay=momentum_decay,
        )
        order = (
            "lr betas eps weight_decay momentum_decay decoupled_weight_decay maximize foreach "
            "capturable differentiable"
        )
        super().__init__(params, hyperparameters(NAdam.__init__, locals(), order))

    def _initial_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        return {
            "step": 0,
            "mu_product": 1.0,
            "exp_avg": full_like(p, 0.0),
            "exp_avg_sq": full_like(p, 0.0),
        }

    def _constants(self, group: dict[str, Any], state: dict[str, Any]) -> list[float]:
        step = state["step"]
        lr, psi = group["lr"], group["momentum_decay"]
        b1, b2 = group["betas"]
        mu = b1 * (1.0 - 0.5 * 0.96 ** (step * psi))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
        mu_product = float(state["mu_product"]) * mu
        state["mu_product"] = mu_product
        c_grad = -lr * (1.0 - mu) / (1.0 - mu_product)
        c_avg = -lr * mu_next / (1.0 - mu_product * mu_next)
        return [1 - b1, b2, 1 - b2, 1 - b2**step, group["eps"], c_grad, c_avg]
