"""``GradScaler``: dynamic loss scaling with PyTorch's exact dynamics, plus the seed guide's
chained setters (``GradScaler().init_scale(2**16).growth_factor(2.0)...``).

In a data-parallel job every rank must skip the same steps, or the replicas' parameters
diverge: the found-inf flag is ORed over the ranks of the world ``World.init()`` registered in
``_ranks`` (the scaler never imports ``democratising.distributed``). Under DDP the gradients it
checks are already the averaged ones: backward finishes their synchronisation.

Misuse raises ``InvalidValueError`` (a ``RuntimeError`` and ``ValueError``, where PyTorch raises
one of those) and a bad argument ``ArgumentTypeError``: both ``DemocratisingError``s, as the API
promises for every failure."""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any, Optional

import numpy as np

from .. import _core, _ranks
from .._chain import chained
from .._core import Tensor
from ..errors import ArgumentTypeError, InvalidValueError
from ..optim.optimizer import Optimizer


class _State(Enum):
    READY = 0
    UNSCALED = 1
    STEPPED = 2


def _check_recorded(had_grads: bool) -> None:
    """PyTorch's refusal of a ``step`` over an optimizer without a single gradient (a
    forgotten ``backward()``, or a loss that reaches no parameter): it would silently step
    nothing while the scale grows. (Checked after the ranks agreed on inf, so that no rank is
    left waiting.)"""
    if not had_grads:
        raise InvalidValueError(
            "No inf checks were recorded for this optimizer: none of its parameters has a "
            "gradient (was backward() called on the scaled loss?)"
        )


def _fused(optimizer: Any) -> bool:
    """Whether the optimizer's step multiplies gradients by ``_grad_scale`` itself: it says so
    with ``_step_supports_amp_scaling`` (PyTorch's capability attribute), so a new or custom
    optimizer is fused by declaring it, not by being named here. The built-in ones also say
    ``_amp_unscale_grads_first``: their engine steps would leave ``p.grad`` scaled, where
    PyTorch's leave it unscaled, so they take the in-place ``unscale_`` path."""
    return bool(getattr(optimizer, "_step_supports_amp_scaling", False)) and not getattr(
        optimizer, "_amp_unscale_grads_first", False
    )


def _order(*names: str) -> inspect.Signature:
    """A signature binding the constructor's arguments in the order ``names``: the seed's
    (and ``torch.cuda.amp.GradScaler``'s) ends with ``device``, ``torch.amp.GradScaler``'s
    starts with it; one table of defaults serves both."""
    defaults = {
        "device": "cpu",
        "init_scale": 2.0**16,
        "growth_factor": 2.0,
        "backoff_factor": 0.5,
        "growth_interval": 2000,
        "enabled": True,
    }
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return inspect.Signature([inspect.Parameter(n, kind, default=defaults[n]) for n in names])


_FACTORS = ("init_scale", "growth_factor", "backoff_factor", "growth_interval", "enabled")
_SEED_ORDER = _order(*_FACTORS, "device")
_TORCH_ORDER = _order("device", *_FACTORS)


def _number(name: str) -> Any:
    """A converter to ``float`` that names the argument in its error (``float(None)`` would
    raise a bare ``TypeError``)."""

    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            if not (isinstance(value, Tensor) and value.numel() == 1):
                raise ArgumentTypeError(
                    f"GradScaler: {name} must be a number, got {type(value).__name__}"
                )
        return float(value)

    return convert


def _interval(value: Any) -> int:
    """``growth_interval`` as an ``int``: a whole number (``2000`` or ``2000.0``); ``1.5``
    is refused rather than truncated to 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ArgumentTypeError(
            f"GradScaler: growth_interval must be a positive integer, got {type(value).__name__}"
        )
    if isinstance(value, (float, np.floating)) and not float(value).is_integer():
        raise InvalidValueError(
            f"GradScaler: growth_interval must be a positive integer, got {value!r}"
        )
    return int(value)


def _f32(x: float) -> float:
    """``x`` rounded to float32, as PyTorch's scale tensor stores it (overflow gives inf)."""
    with np.errstate(over="ignore"):
        return float(np.float32(x))


class GradScaler:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """``GradScaler(init_scale=2.**16, growth_factor=2.0, backoff_factor=0.5,
        growth_interval=2000, enabled=True, device="cpu")``, or PyTorch 2's device-first
        ``GradScaler("cuda", init_scale, growth_factor, ...)`` when the first positional
        argument is a string. The scaler works for tensors on every device, so the default
        (``"cpu"``) stays enabled everywhere; an explicit ``"cuda"`` on a machine without CUDA
        warns and disables it, as PyTorch's does."""
        order = _TORCH_ORDER if args and isinstance(args[0], str) else _SEED_ORDER
        try:
            bound = order.bind(*args, **kwargs)
        except TypeError as e:
            raise ArgumentTypeError(f"GradScaler(): {e}") from None
        bound.apply_defaults()
        a = bound.arguments
        if not isinstance(a["device"], str):
            raise ArgumentTypeError(
                f"GradScaler(): device must be a str, got {type(a['device']).__name__}"
            )
        self._enabled = bool(a["enabled"])
        if self._enabled and a["device"].startswith("cuda") and not _core._cuda_is_available():
            # PyTorch's scaler for a CUDA device disables itself where there is none, so a
            # CUDA script run on the CPU trains in float32 with loss and scale unchanged.
            warnings.warn(
                "torch.cuda.amp.GradScaler is enabled, but CUDA is not available.  Disabling.",
                UserWarning,
                stacklevel=2,
            )
            self._enabled = False
        self._scale = _number("init_scale")(a["init_scale"])
        self._growth_factor = _number("growth_factor")(a["growth_factor"])
        self._backoff_factor = _number("backoff_factor")(a["backoff_factor"])
        self._growth_interval = _interval(a["growth_interval"])
        self._growth_tracker = 0
        # PyTorch keeps the scale in a float32 tensor created by the first `scale()`; before
        # it, `step`/`unscale_`/`update` raise (a forgotten `scale(loss)` is a bug).
        self._scale_ready = False
        if self._enabled:
            self._check_scale()
            self._check_factors()
        self._per_optimizer: dict[int, dict[str, Any]] = {}

    def _check_scale(self) -> None:
        # 0 would divide by zero in step(); inf or NaN would make every gradient inf/NaN, so
        # every step would be skipped without a word.
        if not (math.isfinite(self._scale) and self._scale > 0.0):
            raise InvalidValueError(
                f"init_scale should be a finite number > 0, got {self._scale!r}"
            )

    def _check_factors(self) -> None:
        if self._growth_factor <= 1.0:
            raise InvalidValueError("growth_factor should be > 1")
        if not 0.0 < self._backoff_factor < 1.0:
            raise InvalidValueError("backoff_factor should be in (0, 1)")
        if self._growth_interval <= 0:
            raise InvalidValueError("growth_interval should be a positive integer")

    # ---- the seed's chained setters -----------------------------------------------------------

    init_scale = chained("_scale", _number("init_scale"), check="_check_scale")
    growth_factor = chained("_growth_factor", _number("growth_factor"), check="_check_factors")
    backoff_factor = chained("_backoff_factor", _number("backoff_factor"), check="_check_factors")
    growth_interval = chained("_growth_interval", _interval, check="_check_factors")
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
        self._growth_interval = _interval(v)

    def scale(self, outputs: Any) -> Any:
        """Multiplies a loss (or an iterable of them, nested) by the current scale, held as a
        float32 0-d tensor as in PyTorch: a 0-d float16/bfloat16 loss becomes float32, so the
        scaled loss itself does not overflow float16."""
        if not self._enabled:
            return outputs
        if not self._scale_ready:
            self._scale, self._scale_ready = _f32(self._scale), True
        return self._apply_scale(outputs)

    def _apply_scale(self, value: Any) -> Any:
        if isinstance(value, Tensor):
            scale = _core.full((), self._scale, dtype=_core.float32, device=value.device)
            return value * scale
        if isinstance(value, (list, tuple)):
            return type(value)(self._apply_scale(v) for v in value)
        if isinstance(value, Iterable) and not isinstance(value, (str, bytes)):
            return map(self._apply_scale, value)
        raise InvalidValueError("outputs must be a Tensor or an iterable of Tensors")

    def _check_ready(self, funcname: str) -> None:
        if not self._scale_ready:
            raise InvalidValueError(
                f"Attempted {funcname} but the scale is not initialised. This may indicate your "
                "script did not use scaler.scale(loss or outputs) earlier in the iteration."
            )

    def _opt_state(self, optimizer: Optimizer) -> dict[str, Any]:
        return self._per_optimizer.setdefault(
            id(optimizer), {"stage": _State.READY, "found_inf": False}
        )

    @staticmethod
    def _grads(optimizer: Optimizer) -> list[Tensor]:
        """The optimizer's gradients, each made contiguous first (the engine unscales in
        place over contiguous memory; a gradient assigned as a transposed view is legal)."""
        grads = []
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.dtype == _core.float16:
                    # As PyTorch's: a float16 gradient scaled up may already have overflowed;
                    # the scaler is for float32 parameters under float16 autocast.
                    raise InvalidValueError("Attempting to unscale FP16 gradients.")
                if not p.grad.is_contiguous():
                    p.grad = p.grad.contiguous()
                grads.append(p.grad)
        return grads

    def unscale_(self, optimizer: Optimizer) -> None:
        """Divides the optimizer's gradients by the scale in place (one fused pass that also
        detects inf/NaN), e.g. before ``clip_grad_norm_``."""
        if not self._enabled:
            return
        self._check_ready("unscale_")
        st = self._opt_state(optimizer)
        if st["stage"] is _State.UNSCALED:
            raise InvalidValueError(
                "unscale_() has already been called on this optimizer since the last update()."
            )
        if st["stage"] is _State.STEPPED:
            raise InvalidValueError("unscale_() is being called after step().")
        grads = self._grads(optimizer)
        inv = 1.0 / self._scale if self._scale else math.inf
        found = _core._amp_unscale(grads, inv, True) if grads else False
        st["found_inf"] = _ranks.any_rank(found)
        st["checked"] = bool(grads)
        st["stage"] = _State.UNSCALED

    def step(self, optimizer: Optimizer, *args: Any, **kwargs: Any) -> Optional[Any]:
        """Unscales (if not done yet) and steps, unless a gradient is inf/NaN: then the step
        is skipped on every rank and ``update`` backs the scale off."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if "closure" in kwargs:
            # The closure would recompute an unscaled loss and its gradients after the check.
            raise InvalidValueError(
                "Closure use is not currently supported if GradScaler is enabled."
            )
        self._check_ready("step")
        st = self._opt_state(optimizer)
        if st["stage"] is _State.STEPPED:
            raise InvalidValueError("step() has already been called since the last update().")
        # (a scale backed off to float32's 0 by ~165 skipped steps in a row: inf, as PyTorch)
        inv = 1.0 / self._scale if self._scale else math.inf
        if st["stage"] is _State.READY:
            grads = self._grads(optimizer)
            if _fused(optimizer):
                # Check only; the fused Rust step multiplies by 1/scale itself (no extra pass).
                found = _core._amp_unscale(grads, inv, False) if grads else False
                st["found_inf"] = _ranks.any_rank(found)
                _check_recorded(bool(grads))
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
        _check_recorded(st.get("checked", True))
        retval = None if st["found_inf"] else optimizer.step(*args, **kwargs)
        st["stage"] = _State.STEPPED
        return retval

    def update(self, new_scale: Optional[float | Tensor] = None) -> None:
        """Backs off after any skipped step, grows after ``growth_interval`` clean steps;
        ``new_scale`` (a float or a one-element tensor) sets the scale instead. The scale is
        kept in float32, as PyTorch's scale tensor (a growth past float32's range is skipped)."""
        if not self._enabled:
            return
        self._check_ready("update")
        if new_scale is not None:
            if isinstance(new_scale, Tensor):
                if new_scale.numel() != 1 or new_scale.requires_grad:
                    raise InvalidValueError(
                        "new_scale should be a float or a 1-element Tensor with "
                        "requires_grad=False."
                    )
                new_scale = new_scale.item()
            self._scale = _f32(float(new_scale))
        else:
            if not self._per_optimizer:
                raise InvalidValueError("No inf checks were recorded prior to update.")
            found = any(s["found_inf"] for s in self._per_optimizer.values())
            if found:
                self._scale = _f32(self._scale * self._backoff_factor)
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    grown = _f32(self._scale * self._growth_factor)
                    if math.isfinite(grown):
                        self._scale = grown
                    self._growth_tracker = 0
        self._per_optimizer = {}

    def state_dict(self) -> dict[str, Any]:
        if not self._enabled:
            return {}
        return {
            "scale": self.get_scale(),
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._growth_tracker,
        }

    @staticmethod
    def check_state_dict(state: Any) -> None:
        """``InvalidValueError`` unless ``state``'s numbers are ones the constructor takes:
        a NaN, infinite or non-positive scale (every step skipped for good), or factors and
        interval that the constructor refuses. Checks without changing anything, so a
        checkpoint can be validated whole before any part of it is applied."""
        if not isinstance(state, Mapping) or not state:
            return  # (an empty state is load_state_dict's own error; a disabled scaler's)
        probe = GradScaler.__new__(GradScaler)
        try:
            probe._scale = float(state["scale"])
            probe._growth_factor = float(state["growth_factor"])
            probe._backoff_factor = float(state["backoff_factor"])
            probe._growth_interval = int(state["growth_interval"])
        except (TypeError, ValueError, OverflowError) as e:  # (a missing key: KeyError)
            raise InvalidValueError(f"GradScaler state: {e!r}") from None
        probe._check_scale()
        probe._check_factors()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not self._enabled:
            return
        if not state:
            raise InvalidValueError(
                "The source state dict is empty, possibly because it was saved from a disabled "
                "instance of GradScaler."
            )
        self.check_state_dict(state)
        scale = float(state["scale"])
        self._scale = _f32(scale) if self._scale_ready else scale
        self._growth_factor = float(state["growth_factor"])
        self._backoff_factor = float(state["backoff_factor"])
        self._growth_interval = int(state["growth_interval"])
        self._growth_tracker = int(state["_growth_tracker"])
