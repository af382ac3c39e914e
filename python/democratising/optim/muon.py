"""``Muon`` (MomentUm Orthogonalized by Newton-Schulz, Jordan et al. 2024) with the signature,
defaults and update rule of PyTorch's ``torch.optim.Muon``, for 2-D parameters.

Difference from PyTorch: PyTorch runs the Newton-Schulz iteration in bfloat16; here it runs in
the parameter's dtype (float32 or float64 on CPU and CUDA), which is more accurate and slower."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Optional

from .._core import Tensor
from ..errors import InvalidValueError
from ._common import PerParam, check_lr, check_non_negative, hyperparameters, lerp_
from .optimizer import ParamsT

__all__ = ["Muon", "zeropower_via_newtonschulz"]

_LR_ADJUSTMENTS = ("original", "match_rms_adamw", "spectral_unclamped")


def zeropower_via_newtonschulz(
    grad: Tensor, ns_coefficients: Sequence[float], ns_steps: int, eps: float
) -> Tensor:
    """An approximately orthogonal matrix with ``grad``'s row and column spaces (``U Vᵀ`` of its
    SVD, singular values pushed towards 1): ``X = G / max(‖G‖_F, eps)`` (on the wide side), then
    ``ns_steps`` times ``A = X Xᵀ``, ``X = a X + (b A + c A²) X``."""
    if ns_steps >= 100:
        raise InvalidValueError(
            "Number of steps must be less than 100 for computational efficiency"
        )
    if grad.dim() != 2:
        raise InvalidValueError("Input tensor gradient must be a 2D matrix")
    if len(ns_coefficients) != 3:
        raise InvalidValueError("Coefficients must be a tuple of exactly 3 values")
    a, b, c = ns_coefficients
    tall = grad.shape[0] > grad.shape[1]
    x = grad.T if tall else grad
    x = x / x.norm().clamp(min=eps)
    for _ in range(ns_steps):
        gram = x @ x.T
        x = (gram * b).add_(gram @ gram, alpha=c) @ x + x * a
    return x.T if tall else x


def _adjusted_lr(lr: float, adjust_lr_fn: Optional[str], shape: Sequence[int]) -> float:
    """``original``: ``lr · sqrt(max(1, A/B))``; ``match_rms_adamw``: ``lr · 0.2 sqrt(max(A, B))``
    (so the update's RMS matches AdamW's); ``spectral_unclamped``: ``lr · sqrt(A/B)``, for an
    ``A x B`` parameter."""
    rows, cols = shape[0], shape[1]
    if adjust_lr_fn is None or adjust_lr_fn == "original":
        return lr * math.sqrt(max(1.0, rows / cols))
    if adjust_lr_fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, cols))
    if adjust_lr_fn == "spectral_unclamped":
        return lr * math.sqrt(rows / cols)
    return lr


class Muon(PerParam):
    """Muon: ``buf = momentum · buf + (1-momentum) g``; the update ``u`` is ``buf`` (or, with
    ``nesterov``, ``g + momentum (buf - g)``) orthogonalised by Newton-Schulz; then
    ``p *= 1 - lr · weight_decay`` and ``p -= adjusted_lr · u``. Only 2-D parameters: use
    AdamW for the others (biases, norms, embeddings) as PyTorch advises."""

    _state_keys = ("momentum_buffer",)

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = (3.4445, -4.775, 2.0315),
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: Optional[str] = None,
    ) -> None:
        check_lr(lr)
        check_non_negative(momentum=momentum, weight_decay=weight_decay)
        if adjust_lr_fn is not None and adjust_lr_fn not in _LR_ADJUSTMENTS:
            raise InvalidValueError(
                f"Adjust learning rate function {adjust_lr_fn} is not supported"
            )
        if len(ns_coefficients) != 3:
            raise InvalidValueError("Coefficients must be a tuple of exactly 3 values")
        if not 0 <= ns_steps < 100:
            raise InvalidValueError(
                "Number of steps must be less than 100 for computational efficiency"
            )
        ns_coefficients = (ns_coefficients[0], ns_coefficients[1], ns_coefficients[2])
        super().__init__(params, hyperparameters(Muon.__init__, locals()))

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        for p in self.param_groups[-1]["params"]:
            if p.dim() != 2:
                self.param_groups.pop()
                raise InvalidValueError(
                    "Muon only supports 2D parameters whereas we found a parameter with size: "
                    f"{tuple(p.shape)}"
                )

    def _step_param(
        self, group: dict[str, Any], p: Tensor, grad: Tensor, state: dict[str, Any]
    ) -> None:
        # Every number first: a bad group value (``lr`` set to a string) then fails before the
        # buffer or the parameter is written, and the refused step changes nothing.
        momentum, lr = group["momentum"], group["lr"]
        keep = 1 - momentum
        decay = 1 - lr * group["weight_decay"]
        alpha = -_adjusted_lr(lr, group["adjust_lr_fn"], tuple(p.shape))
        buf = lerp_(state["momentum_buffer"], grad, keep)
        update = grad.lerp(buf, momentum) if group["nesterov"] else buf
        update = zeropower_via_newtonschulz(
            update, group["ns_coefficients"], group["ns_steps"], group["eps"]
        )
        p.mul_(decay)
        p.add_(update, alpha=alpha)
