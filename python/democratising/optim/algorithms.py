"""SGD, Adam, AdamW, RMSprop and Adagrad with PyTorch's exact update rules."""

from __future__ import annotations

from typing import Any

from .. import _core
from .._core import Tensor
from .optimizer import Optimizer, ParamsT


def _check(lr: float, **kw: float) -> None:
    if lr < 0.0:
        raise ValueError(f"invalid learning rate: {lr}")
    for k, v in kw.items():
        if v < 0.0:
            raise ValueError(f"invalid {k} value: {v}")


class SGD(Optimizer):
    _step_supports_amp_scaling = True  # _core._sgd_step takes grad_scale

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
    ) -> None:
        _check(lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                dampening=dampening,
                weight_decay=weight_decay,
                nesterov=nesterov,
                maximize=maximize,
            ),
        )

    def _update(self, g: dict[str, Any]) -> None:
        params = [p for p in g["params"] if p.grad is not None]
        if not params:
            return
        bufs, init = [], []
        if g["momentum"]:
            for p in params:
                st = self.state.setdefault(p, {})
                buf = st.get("momentum_buffer")
                init.append(buf is not None)
                if buf is None:
                    buf = _core.zeros(*p.shape, dtype=p.dtype, device=p.device)
                    st["momentum_buffer"] = buf
                bufs.append(buf)
        _core._sgd_step(
            params,
            [p.grad for p in params],
            bufs,
            init,
            lr=g["lr"],
            momentum=g["momentum"],
            dampening=g["dampening"],
            weight_decay=g["weight_decay"],
            nesterov=g["nesterov"],
            maximize=g["maximize"],
            grad_scale=self._grad_scale,
        )


class Adam(Optimizer):
    """Adam (and, with ``decoupled=True``, AdamW's decoupled weight decay)."""

    _decoupled = False
    _step_supports_amp_scaling = True  # _core._adam_step takes grad_scale

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        maximize: bool = False,
    ) -> None:
        _check(lr, eps=eps, weight_decay=weight_decay)
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise ValueError(f"invalid betas: {betas}")
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=tuple(betas),
                eps=eps,
                weight_decay=weight_decay,
                amsgrad=amsgrad,
                maximize=maximize,
            ),
        )

    def _update(self, g: dict[str, Any]) -> None:
        params = [p for p in g["params"] if p.grad is not None]
        if not params:
            return
        ms, vs, vmaxs, steps = [], [], [], []
        for p in params:
            st = self.state.setdefault(p, {})
            if not st:
                st["step"] = 0
                st["exp_avg"] = _core.zeros(*p.shape, dtype=p.dtype, device=p.device)
                st["exp_avg_sq"] = _core.zeros(*p.shape, dtype=p.dtype, device=p.device)
                if g["amsgrad"]:
                    st["max_exp_avg_sq"] = _core.zeros(*p.shape, dtype=p.dtype, device=p.device)
            st["step"] += 1
            ms.append(st["exp_avg"])
            vs.append(st["exp_avg_sq"])
            if g["amsgrad"]:
                vmaxs.append(st["max_exp_avg_sq"])
            steps.append(st["step"])
        b1, b2 = g["betas"]
        _core._adam_step(
            params,
            [p.grad for p in params],
            ms,
            vs,
            vmaxs,
            steps,
            lr=g["lr"],
            beta1=b1,
            beta2=b2,
            eps=g["eps"],
            weight_decay=g["weight_decay"],
            decoupled=self._decoupled,
            amsgrad=g["amsgrad"],
            maximize=g["maximize"],
            grad_scale=self._grad_scale,
        )


class AdamW(Adam):
    _decoupled = True

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize)


class RMSprop(Optimizer):
    """RMSprop (optionally centered, with momentum): one fused engine call per group."""

    _step_supports_amp_scaling = True  # _core._rmsprop_step takes grad_scale

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        maximize: bool = False,
    ) -> None:
        _check(lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum)
        super().__init__(
            params,
            dict(
                lr=lr,
                alpha=alpha,
                eps=eps,
                weight_decay=weight_decay,
                momentum=momentum,
                centered=centered,
                maximize=maximize,
            ),
        )

    def _update(self, g: dict[str, Any]) -> None:
        params = [p for p in g["params"] if p.grad is not None]
        if not params:
            return
        square_avgs, grad_avgs, bufs = [], [], []
        for p in params:
            st = self.state.setdefault(p, {})
            if not st:
                st["step"] = 0
                st["square_avg"] = _core.zeros(*p.shape, dtype=p.dtype, device=p.device)
                if g["momentum"] > 0:
                    st["momentum_buffer"] = _core.zeros(*p.shape, dtype=p.dtype, device=p.device)
                if g["centered"]:
                    st["grad_avg"] = _core.zeros(*p.shape, dtype=p.dtype, device=p.device)
            st["step"] += 1
            square_avgs.append(st["square_avg"])
            if g["centered"]:
                grad_avgs.append(st["grad_avg"])
            if g["momentum"] > 0:
                bufs.append(st["momentum_buffer"])
        _core._rmsprop_step(
            params,
            [p.grad for p in params],
            square_avgs,
            grad_avgs,
            bufs,
            lr=g["lr"],
            alpha=g["alpha"],
            eps=g["eps"],
            weight_decay=g["weight_decay"],
            momentum=g["momentum"],
            centered=g["centered"],
            maximize=g.get("maximize", False),
            grad_scale=self._grad_scale,
        )


class Adagrad(Optimizer):
    """Adagrad with learning-rate decay: one fused engine call per group."""

    _step_supports_amp_scaling = True  # _core._adagrad_step takes grad_scale

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        maximize: bool = False,
    ) -> None:
        _check(lr, lr_decay=lr_decay, weight_decay=weight_decay, eps=eps)
        super().__init__(
            params,
            dict(
                lr=lr,
                lr_decay=lr_decay,
                weight_decay=weight_decay,
                initial_accumulator_value=initial_accumulator_value,
                eps=eps,
                maximize=maximize,
            ),
        )

    def _update(self, g: dict[str, Any]) -> None:
        params = [p for p in g["params"] if p.grad is not None]
        if not params:
            return
        sums, steps = [], []
        for p in params:
            st = self.state.setdefault(p, {})
            if not st:
                st["step"] = 0
                st["sum"] = _core.full(
                    tuple(p.shape), g["initial_accumulator_value"], dtype=p.dtype, device=p.device
                )
            st["step"] += 1
            sums.append(st["sum"])
            steps.append(st["step"])
        _core._adagrad_step(
            params,
            [p.grad for p in params],
            sums,
            steps,
            lr=g["lr"],
            lr_decay=g["lr_decay"],
            weight_decay=g["weight_decay"],
            eps=g["eps"],
            maximize=g.get("maximize", False),
            grad_scale=self._grad_scale,
        )


__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "RMSprop", "Tensor"]
