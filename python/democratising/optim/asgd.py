"""``ASGD`` (averaged SGD, Polyak & Juditsky 1992) with PyTorch's signature, defaults and update
rule: the parameters take SGD steps with a decaying rate ``eta``; ``state["ax"]`` holds their
running average, which starts after ``t0`` steps."""

from __future__ import annotations

from typing import Any, Optional

from .._core import Tensor
from ._common import (
    FusedRule,
    check_flags,
    check_lr,
    check_non_negative,
    full_like,
    hyperparameters,
)
from .optimizer import ParamsT

__all__ = ["ASGD"]


class ASGD(FusedRule):
    """ASGD: ``p *= 1 - lambd eta``, ``p -= eta g``; ``ax += mu (p - ax)``; then
    ``eta = lr / (1 + lambd lr t)^alpha`` and ``mu = 1 / max(1, t - t0)``. ``eta`` and ``mu``
    are kept as Python floats."""

    _scalar_keys = ("eta", "mu")
    _rule = "asgd"
    _rule_states = ("ax",)

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: Optional[bool] = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        check_lr(lr)
        check_non_negative(lambd=lambd, alpha=alpha, weight_decay=weight_decay)
        check_flags(differentiable, capturable)
        super().__init__(params, hyperparameters(ASGD.__init__, locals()))

    def _initial_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        return {"step": 0, "eta": float(group["lr"]), "mu": 1.0, "ax": full_like(p, 0.0)}

    def _prefix(self, group: dict[str, Any], state: dict[str, Any]) -> list[float]:
        scale, l2, _ = super()._prefix(group, state)
        return [scale, l2, 1 - group["lambd"] * float(state["eta"])]

    def _constants(self, group: dict[str, Any], state: dict[str, Any]) -> list[float]:
        lr, lambd, step = group["lr"], group["lambd"], state["step"]
        eta, mu = float(state["eta"]), float(state["mu"])
        state["eta"] = lr / ((1 + lambd * lr * step) ** group["alpha"])
        state["mu"] = 1 / max(1, step - group["t0"])
        return [eta, mu]
