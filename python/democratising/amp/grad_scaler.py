"""``GradScaler``: dynamic loss scaling with PyTorch's exact dynamics, plus the seed guide's
chained setters (``GradScaler().init_scale(2**16).growth_factor(2.0)...``).

In a data-parallel job every rank must skip the same steps, or the replicas' parameters
diverge: the found-inf flag is ORed over the ranks of the world ``World.init()`` registered in
``_ranks`` (the scaler never imports ``democratising.distributed``). Under DDP the gradients it
checks are already the averaged ones: backward finishes their synchronisation."""

from __future__ import annotations

import math
from enum import Enum
from typing import Any, Optional

from .. import _core, _ranks
from .._chain import chained
from .._core import Tensor
from ..optim.optimizer import Optimizer


class _State(Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _fused(optimizer: Any) -> bool:
    """Whether the optimizer's step multiplies gradients by ``_grad_scale`` itself: it says so
    with ``_step_supports_amp_scaling`` (PyTorch's capability attribute), so a new or custom
    optimizer is fused by declaring it, not by being named here."""
    return bool(getattr(optimizer, "_step_supports_amp_scaling", False))


class GradScaler:
    def __init__(
        self,
        init_scale: float | str = 2.0**16,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
        device: str = "cpu",
    ) -> None:
        if isinstance(init_scale, str):
            # PyTorch 2's `torch.amp.GradScaler("cuda", ...)`: the device comes first.
            init_scale = 2.0**16
        del device  # one scaler works for tensors on any device
        self._enabled = enabled
        self._scale = float(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._check_factors()
        self._per_optimizer: dict[int, dict[str, Any]] = {}

    def _check_factors(self) -> None:
        if self._growth_factor <= 1.0:
            raise ValueError("growth_factor should be > 1")
        if not 0.0 < self._backoff_factor < 1.0:
            raise ValueError("backoff_factor should be in (0, 1)")
        if self._growth_interval <= 0:
            raise ValueError("growth_interval should be a positive integer")

    # ---- the seed's chained setters -----------------------------------------------------------

    init_scale = chained("_scale", float)
    growth_factor = chained("_growth_factor", float, check="_check_factors")
    backoff_factor = chained("_backoff_factor", float, check="_check_factors")
    growth_interval = chained("_growth_interval", int, check="_check_factors")
    enabled = chained("_enabled", bool, default=True)

    # ---- PyTorch API -------------------------------------------------------------------------

    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        return self._scale if self._enabled else 1.0

    def get_growth_factor(self) -> float:
        return self._growth_factor

    def set_growth_factor(self, v: float) -> None:
        self._growth_factor = float(v)

    def get_backoff_factor(self) -> float:
        return self._backoff_factor

    def set_backoff_factor(self, v: float) -> None:
        self._backoff_factor = float(v)

    def get_growth_interval(self) -> int:
        return self._growth_interval

    def set_growth_interval(self, v: int) -> None:
        self._growth_interval = int(v)

    def scale(self, outputs: Any) -> Any:
        """Multiplies a loss (or a list/tuple of them) by the current scale."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            return outputs * self._scale
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise TypeError("outputs must be a Tensor or a list/tuple of Tensors")

    def _opt_state(self, optimizer: Optimizer) -> dict[str, Any]:
        return self._per_optimizer.setdefault(
            id(optimizer), {"stage": _State.READY, "found_inf": False}
        )

    @staticmethod
    def _grads(optimizer: Optimizer) -> list[Tensor]:
        return [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]

    def unscale_(self, optimizer: Optimizer) -> None:
        """Divides the optimizer's gradients by the scale in place (one fused pass that also
        detects inf/NaN), e.g. before ``clip_grad_norm_``."""
        if not self._enabled:
            return
        st = self._opt_state(optimizer)
        if st["stage"] is _State.UNSCALED:
            raise RuntimeError(
                "unscale_() has already been called on this optimizer since the last update()"
            )
        if st["stage"] is _State.STEPPED:
            raise RuntimeError("unscale_() is being called after step()")
        grads = self._grads(optimizer)
        found = _core._amp_unscale(grads, 1.0 / self._scale, True) if grads else False
        st["found_inf"] = _ranks.any_rank(found)
        st["stage"] = _State.UNSCALED

    def step(self, optimizer: Optimizer, *args: Any, **kwargs: Any) -> Optional[Any]:
        """Unscales (if not done yet) and steps, unless a gradient is inf/NaN: then the step
        is skipped on every rank and ``update`` backs the scale off."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        st = self._opt_state(optimizer)
        if st["stage"] is _State.STEPPED:
            raise RuntimeError("step() has already been called since the last update()")
        inv = 1.0 / self._scale
        if st["stage"] is _State.READY:
            grads = self._grads(optimizer)
            if _fused(optimizer):
                # Check only; the fused Rust step multiplies by 1/scale itself (no extra pass).
                found = _core._amp_unscale(grads, inv, False) if grads else False
                st["found_inf"] = _ranks.any_rank(found)
                retval = None
                if not st["found_inf"]:
                    optimizer._grad_scale = inv
                    try:
                        retval = optimizer.step(*args, **kwargs)
                    finally:
                        optimizer._grad_scale = 1.0
                st["stage"] = _State.STEPPED
                return retval
            self.unscale_(optimizer)
        retval = None if st["found_inf"] else optimizer.step(*args, **kwargs)
        st["stage"] = _State.STEPPED
        return retval

    def update(self, new_scale: Optional[float] = None) -> None:
        """Backs off after any skipped step, grows after ``growth_interval`` clean steps."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale)
        else:
            found = any(s["found_inf"] for s in self._per_optimizer.values())
            if not self._per_optimizer:
                raise RuntimeError("no inf checks were recorded prior to update()")
            if found:
                self._scale *= self._backoff_factor
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    grown = self._scale * self._growth_factor
                    if math.isfinite(grown):
                        self._scale = grown
                    self._growth_tracker = 0
        self._per_optimizer = {}

    def state_dict(self) -> dict[str, Any]:
        if not self._enabled:
            return {}
        return {
            "scale": self._scale,
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._growth_tracker,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not self._enabled:
            return
        if not state:
            raise RuntimeError("the source state dict is empty, possibly from a disabled scaler")
        self._scale = float(state["scale"])
        self._growth_factor = float(state["growth_factor"])
        self._backoff_factor = float(state["backoff_factor"])
        self._growth_interval = int(state["growth_interval"])
        self._growth_tracker = int(state["_growth_tracker"])
