"""``Rprop`` (resilient backpropagation, Riedmiller & Braun 1993) with PyTorch's signature,
defaults and update rule."""

from __future__ import annotations

from typing import Any, Optional

from .._core import Tensor
from ..errors import InvalidValueError
from ._common import FusedRule, check_flags, check_lr, full_like, hyperparameters
from .optimizer import ParamsT

__all__ = ["Rprop"]


class Rprop(FusedRule):
    """Rprop: each element's step size grows by ``etas[1]`` while its gradient keeps its sign
    and shrinks by ``etas[0]`` when it flips (clamped to ``step_sizes``); the parameter moves
    by ``-sign(g) · step_size``, and a flipped gradient counts as zero (no move, no memory)."""

    _rule = "rprop"
    _rule_states = ("prev", "step_size")

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: Optional[bool] = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_lr(lr)
        if not 0.0 < etas[0] < 1.0 < etas[1]:
            raise InvalidValueError(f"Invalid eta values: {etas[0]}, {etas[1]}")
        if len(step_sizes) != 2:
            raise InvalidValueError(f"step_sizes must be a pair, got {tuple(step_sizes)!r}")
        etas = (etas[0], etas[1])
        step_sizes = (step_sizes[0], step_sizes[1])
        check_flags(differentiable, capturable)
        order = "lr etas step_sizes foreach maximize differentiable capturable"
        super().__init__(params, hyperparameters(Rprop.__init__, locals(), order))

    def _initial_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        return {"step": 0, "prev": full_like(p, 0.0), "step_size": full_like(p, group["lr"])}

    def _constants(self, group: dict[str, Any], state: dict[str, Any]) -> list[float]:
        etaminus, etaplus = group["etas"]
        lo, hi = group["step_sizes"]
        return [etaminus, etaplus, lo, hi]
