"""``NAdam`` (Adam with Nesterov momentum, Dozat 2016) with PyTorch's signature, defaults and
update rule, including the momentum-decay schedule and ``decoupled_weight_decay``."""

from __future__ import annotations

from typing import Any, Optional

from .._core import Tensor
from ._common import (
    PerParam,
    addcdiv_,
    addcmul_,
    check_betas,
    check_flags,
    check_lr,
    check_non_negative,
    full_like,
    lerp_,
)
from .algorithms import _arguments
from .optimizer import ParamsT

__all__ = ["NAdam"]


class NAdam(PerParam):
    """NAdam: ``mu_t = b1 (1 - 0.5 · 0.96^(t psi))`` (``psi = momentum_decay``), moments as
    Adam, ``p -= lr (1-mu_t)/(1-prod mu) · g/d + lr mu_{t+1}/(1-prod mu · mu_{t+1}) · m/d``
    with ``d = sqrt(v / (1-b2^t)) + eps``. ``mu_product`` is kept as a Python float."""

    _state_keys = ("step", "mu_product", "exp_avg", "exp_avg_sq")
    _scalar_keys = ("mu_product",)

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
        check_lr(lr)
        check_non_negative(eps=eps)
        betas = check_betas(betas)
        check_non_negative(weight_decay=weight_decay, momentum_decay=momentum_decay)
        check_flags(differentiable)
        super().__init__(params, _arguments(NAdam.__init__, locals()))

    def _step_param(
        self, group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]
    ) -> None:
        if not state:
            state["step"] = 0
            state["mu_product"] = 1.0
            state["exp_avg"] = full_like(p, 0.0)
            state["exp_avg_sq"] = full_like(p, 0.0)
        state["step"] += 1
        step = state["step"]
        lr, wd, psi = group["lr"], group["weight_decay"], group["momentum_decay"]
        b1, b2 = group["betas"]
        if wd != 0:
            if group["decoupled_weight_decay"]:
                p.mul_(1 - lr * wd)
            else:
                grad = grad.add(p, alpha=wd)
        mu = b1 * (1.0 - 0.5 * 0.96 ** (step * psi))
        mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * psi))
        mu_product = float(state["mu_product"]) * mu
        state["mu_product"] = mu_product
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        lerp_(exp_avg, grad, 1 - b1)
        addcmul_(exp_avg_sq.mul_(b2), grad, grad, 1 - b2)
        denom = exp_avg_sq.div(1 - b2**step).sqrt_().add_(group["eps"])
        addcdiv_(p, grad, denom, -lr * (1.0 - mu) / (1.0 - mu_product))
        addcdiv_(p, exp_avg, denom, -lr * mu_next / (1.0 - mu_product * mu_next))
