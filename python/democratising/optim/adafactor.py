"""``Adafactor`` (Shazeer & Stern 2018, in PyTorch's variant) with PyTorch's signature, defaults,
state and update rule: factored (row and column) second moments for parameters of two or more
dimensions, a step size relative to the parameter's RMS, and update clipping by ``d``."""

from __future__ import annotations

import math
from typing import Any, Optional

from .._core import Tensor
from ..errors import InvalidValueError, ShapeError, StateDictError
from ._common import PerParam, full_like, hyperparameters
from .optimizer import ParamsT

__all__ = ["Adafactor"]

#: ``torch.finfo(dtype).eps`` for the floating dtypes (``eps[0] = None`` means this).
_FINFO_EPS = {"float16": 2.0**-10, "bfloat16": 2.0**-7, "float32": 2.0**-23, "float64": 2.0**-52}


def _dtype_eps(t: Tensor) -> float:
    """The machine epsilon of ``t``'s dtype."""
    return _FINFO_EPS.get(str(t.dtype).rsplit(".", 1)[-1], 2.0**-23)


def _rms(t: Tensor) -> float:
    """``‖t‖₂ / √numel`` as a Python float (0 for an empty tensor)."""
    n = t.numel()
    return math.sqrt(float((t * t).sum().item())) / math.sqrt(n) if n else 0.0


class Adafactor(PerParam):
    """Adafactor: with ``1 - beta2_t = t^beta2_decay``, ``rho_t = min(lr, 1/sqrt(t))`` and
    ``alpha = max(eps[1], RMS(p)) * rho_t``, the parameter (first shrunk by
    ``1 - lr * weight_decay``) moves by ``-alpha / max(1, RMS(u)/d) * u`` where
    ``u = g / sqrt(max(v, eps[0]**2))``. For a tensor of two or more dimensions
    ``v = R @ C / mean(R)`` from the running row means ``R`` and column means ``C`` of ``g**2``
    (over the last two dimensions; the state keys ``row_var`` and ``col_var``), otherwise ``v``
    is the running ``variance`` of ``g**2``; ``eps[0] = None`` is the dtype's epsilon."""

    _state_keys = ("step", "row_var", "col_var", "variance")
    _scalar_keys = ("step",)

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[Optional[float], float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        foreach: Optional[bool] = None,
        maximize: bool = False,
    ) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise InvalidValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise InvalidValueError(f"Learning rate should be >= 0 but is: {lr}")
        if not 0.0 >= beta2_decay:
            raise InvalidValueError(f"beta2_decay should be <= 0 but is: {beta2_decay}")
        if eps[0] is not None and not 0.0 <= eps[0]:
            raise InvalidValueError(f"epsilon1 should be >= 0 but is: {eps[0]}")
        if not 0.0 <= eps[1]:
            raise InvalidValueError(f"epsilon2 should be >= 0 but is: {eps[1]}")
        if not 1.0 <= d:
            raise InvalidValueError(f"Clipping threshold d should be >= 1 but is: {d}")
        if not 0.0 <= weight_decay:
            raise InvalidValueError(f"weight_decay should be >= 0 but is: {weight_decay}")
        super().__init__(params, hyperparameters(Adafactor.__init__, locals()))

    def _initial_state(self, group: dict[str, Any], p: Tensor) -> dict[str, Any]:
        """``step`` 0 and zero ``row_var`` (last dimension 1) and ``col_var`` (second-to-last
        dimension 1) for a tensor of two or more dimensions, else a zero ``variance``."""
        if p.dim() > 1:
            z = full_like(p, 0.0)
            return {
                "step": 0,
                "row_var": z.sum(-1, keepdim=True).contiguous(),
                "col_var": z.sum(-2, keepdim=True).contiguous(),
            }
        return {"step": 0, "variance": full_like(p, 0.0)}

    @classmethod
    def _state_rule(cls, group: dict[str, Any]) -> tuple[set[str], set[str], set[str]]:
        """``step`` is required; either the factored pair or ``variance`` accompanies it."""
        return {"step"}, set(cls._state_keys), {"step"}

    def _step_param(
        self, group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]
    ) -> None:
        step = float(state["step"])
        lr = float(group["lr"])
        eps1, eps2 = group["eps"]
        if eps1 is None:
            eps1 = _dtype_eps(p)
        one_minus_beta2 = step ** group["beta2_decay"]
        rho = min(lr, 1.0 / math.sqrt(step))
        alpha = max(eps2, _rms(p)) * rho
        # The new statistics and the update are computed before anything is written: a state
        # that no longer fits the parameter (its shape changed) then fails with the parameter
        # and the statistics as they were.
        g2 = grad * grad
        if grad.dim() > 1:
            row_var, col_var = state["row_var"], state["col_var"]
            new = [row_var.lerp(g2.mean(-1, keepdim=True), one_minus_beta2)]
            new.append(col_var.lerp(g2.mean(-2, keepdim=True), one_minus_beta2))
            var_est = (new[0] @ new[1]) / new[0].mean(-2, keepdim=True).clamp(min=eps1)
            stats = [row_var, col_var]
        else:
            stats, new = [state["variance"]], [state["variance"].lerp(g2, one_minus_beta2)]
            var_est = new[0]
        update = var_est.clamp(min=eps1 * eps1).rsqrt() * grad
        denom = max(1.0, _rms(update) / group["d"]) if update.numel() else 1.0
        if group["weight_decay"] != 0:
            p.mul_(1.0 - lr * group["weight_decay"])
        for old, value in zip(stats, new):
            old.copy_(value)
        p.sub_(update * (alpha / denom))

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """As ``Optimizer.load_state_dict``; the factored ``row_var``/``col_var`` (whose shapes
        are the parameter's with the last, resp. second-to-last, dimension 1) are checked here
        against their parameter before anything is loaded."""
        params: list[Tensor] = []
        for g in self.param_groups:
            params.extend(p for p in g["params"] if all(p is not q for q in params))
        states = {k: dict(v) for k, v in dict(state_dict.get("state", {})).items()}
        factored: dict[Any, dict[str, Tensor]] = {}
        for k, st in states.items():
            pulled = {n: st.pop(n) for n in ("row_var", "col_var") if n in st}
            if not pulled:
                continue
            if not isinstance(k, int) or not 0 <= k < len(params):
                raise StateDictError(f"state of parameter {k!r}: no such parameter")
            p = params[k]
            for n, v in pulled.items():
                want = list(p.shape)
                if len(want) < 2 or not isinstance(v, Tensor):
                    raise ShapeError(f"state of parameter {k}: unexpected {n!r}")
                want[-1 if n == "row_var" else -2] = 1
                if tuple(v.shape) != tuple(want):
                    raise ShapeError(
                        f"state of parameter {k}: {n!r} has shape {tuple(v.shape)}, "
                        f"expected {tuple(want)}"
                    )
                pulled[n] = v.to(p.dtype).to(p.device).clone()
            factored[k] = pulled
        super().load_state_dict({**state_dict, "state": states})
        for k, pulled in factored.items():
            self.state[params[k]].update(pulled)
