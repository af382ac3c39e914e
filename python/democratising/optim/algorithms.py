"""SGD, Adam, AdamW, RMSprop and Adagrad with PyTorch's exact update rules, each one fused
engine call per parameter group.

The hyperparameters are declared once, in each ``__init__`` signature: the group defaults are
read from it (``_common.hyperparameters``), and the engine call takes them from the group by name
(``_hyper``), so adding one means adding a parameter, not editing three lists.

PyTorch's implementation-selection keywords are accepted where PyTorch's optimizer has them
and kept in the param groups as PyTorch keeps them: ``foreach``/``fused`` only pick PyTorch's
kernels and are ignored; ``capturable=True``/``differentiable=True`` raise ``ValueError``
(``_common.check_flags``)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence
from typing import Any, Optional

from .. import _core
from .._core import Tensor
from .._specialise import specialise
from ..errors import InvalidValueError
from ._common import (
    check_adam,
    check_flags,
    check_lr,
    check_non_negative,
    full_like,
    hyperparameters,
    stepped_state,
)
from .optimizer import Optimizer, ParamsT


class _Fused(Optimizer):
    """An optimizer whose step is one engine call per group that also applies AMP's
    ``_grad_scale``."""

    _step_supports_amp_scaling = True
    #: The engine's steps read ``grad * _grad_scale`` but do not write the unscaled gradient
    #: back, and PyTorch's steps (fused or not) leave ``p.grad`` unscaled: ``GradScaler``
    #: therefore unscales these gradients in place in its inf/NaN pass (a vectorised
    #: read-write pass, faster than the engine's check-only one) and hands over 1.0.
    _amp_unscale_grads_first = True
    _tensor_state: tuple[str, ...] = ("step",)
    #: Group keys that choose PyTorch's implementation, not the update: not for the engine.
    _IMPLEMENTATION = ("foreach", "fused", "capturable", "differentiable")

    def _hyper(self, g: dict[str, Any], *skip: str) -> dict[str, Any]:
        """The group's hyperparameters as keyword arguments of the engine call (a key missing
        from an older state dict takes its default), with ``grad_scale``."""
        skip += self._IMPLEMENTATION
        kw = {k: g.get(k, v) for k, v in self.defaults.items() if k not in skip}
        for k in _flags(type(self)):  # a flag given as 0/1 (argparse, YAML) counts as a bool
            if k in kw:
                kw[k] = bool(kw[k])
        kw["grad_scale"] = self._grad_scale
        return kw

    #: ``(params, fresh)`` of the step being taken once ``_stepped_states`` has advanced the
    #: group's step counts (``fresh``: the parameters whose state it created), else ``None``.
    _advanced: Optional[tuple[list[Tensor], list[Tensor]]] = None

    def _update(self, g: dict[str, Any]) -> None:
        params = [p for p in g["params"] if p.grad is not None]
        if params:
            self._advanced = None
            try:
                self._step(g, params, [p.grad for p in params])
            except Exception:
                # A step the engine refuses (a state that no longer fits its parameter, after
                # ``model.double()``) must change nothing: the engine checks every tensor
                # before writing any, so only the step counts need to go back.
                self._undo_advance()
                raise
            finally:
                self._advanced = None

    def _undo_advance(self) -> None:
        """Takes back what ``_stepped_states`` did in a step that then failed: each step count
        goes down by one, and the states it created are dropped."""
        if self._advanced is None:
            return
        params, fresh = self._advanced
        created = {id(p) for p in fresh}
        for p in params:
            if id(p) in created:
                self.state.pop(p, None)
            else:
                self.state[p]["step"] -= 1

    def _step(self, g: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        raise NotImplementedError

    def _stepped_state(
        self, p: Tensor, buffers: Sequence[str], fill: float, fresh: list[Tensor]
    ) -> dict[str, Any]:
        """``p``'s state with its step count advanced. A first step starts the count at 0 and
        creates the named buffers like ``p``, filled with ``fill``, in PyTorch's key order (and
        lists ``p`` in ``fresh``)."""

        def start() -> dict[str, Any]:
            fresh.append(p)
            return {"step": 0, **{name: full_like(p, fill) for name in buffers}}

        return stepped_state(self.state, p, start)

    def _stepped_states(
        self, params: list[Tensor], buffers: Sequence[str], fill: float = 0.0
    ) -> dict[str, list[Any]]:
        """Every parameter's ``_stepped_state``, gathered per key (``step`` and each of
        ``buffers``) into lists in ``params`` order: the per-key lists the engine calls take."""
        fresh: list[Tensor] = []
        states = [self._stepped_state(p, buffers, fill, fresh) for p in params]
        self._advanced = (params, fresh)
        return {key: [st[key] for st in states] for key in ("step", *buffers)}


@functools.cache
def _flags(cls: type) -> tuple[str, ...]:
    """The constructor arguments of ``cls`` whose default is a bool: the engine takes them as
    bools, where PyTorch takes any truthy value."""
    params = inspect.signature(cls.__init__).parameters.values()
    return tuple(p.name for p in params if isinstance(p.default, bool))


class SGD(_Fused):
    """SGD with momentum, dampening, Nesterov momentum and ``maximize`` (gradient ascent)."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: Optional[bool] = None,
        differentiable: bool = False,
        fused: Optional[bool] = None,
    ) -> None:
        check_lr(lr)
        check_non_negative(momentum=momentum, weight_decay=weight_decay)
        check_flags(differentiable)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise InvalidValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, hyperparameters(SGD.__init__, locals()))

    def _step(self, g: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        bufs, init = [], []
        if g["momentum"]:
            for p in params:
                st = self.state.setdefault(p, {})
                buf = st.get("momentum_buffer")
                init.append(buf is not None)
                if buf is None:
                    buf = st["momentum_buffer"] = full_like(p, 0.0)
                bufs.append(buf)
        try:
            _core._sgd_step(params, grads, bufs, init, **self._hyper(g))
        except Exception:
            # A refused step wrote nothing: drop the buffers it created, so that the next
            # step still starts them from the gradient (PyTorch's first momentum step).
            for p, had in zip(params, init):
                st = self.state.get(p)
                if not had and st is not None:
                    st.pop("momentum_buffer", None)
                    if not st:
                        del self.state[p]
            raise


class Adam(_Fused):
    """Adam (and, with ``decoupled_weight_decay=True``, AdamW's decoupled weight decay)."""

    _decoupled = False  # for groups of state dicts saved before ``decoupled_weight_decay``

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: Optional[bool] = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: Optional[bool] = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        # PyTorch's checks, order and messages ("Invalid beta parameter at index 0: 1.0").
        pair = check_adam(lr, eps, betas, differentiable, capturable, weight_decay=weight_decay)
        if isinstance(betas[0], Tensor) != isinstance(betas[1], Tensor):
            # PyTorch's Adam/AdamW refuse a tensor beta next to a number (it also refuses int
            # betas, which are accepted here: a config may spell 0 for 0.0).
            raise InvalidValueError("betas must be either both floats or both Tensors")
        betas = pair
        order = (
            "lr betas eps weight_decay amsgrad maximize foreach capturable differentiable fused "
            "decoupled_weight_decay"
        )
        super().__init__(params, hyperparameters(Adam.__init__, locals(), order))

    def _step(self, g: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        buffers = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if g["amsgrad"] else [])
        st = self._stepped_states(params, buffers)
        moments = st["exp_avg"], st["exp_avg_sq"], st.get("max_exp_avg_sq", [])
        b1, b2 = g["betas"]
        kw = self._hyper(g, "betas", "decoupled_weight_decay")
        decoupled = bool(g.get("decoupled_weight_decay", self._decoupled))
        _core._adam_step(
            params, grads, *moments, st["step"], beta1=b1, beta2=b2, decoupled=decoupled, **kw
        )


class AdamW(Adam):
    """Adam with decoupled weight decay, by default ``weight_decay=1e-2`` (PyTorch's: ``Adam``
    with ``decoupled_weight_decay=True``)."""

    _decoupled = True
    __init__ = specialise(
        Adam.__init__, fixed={"decoupled_weight_decay": True}, defaults={"weight_decay": 1e-2}
    )


class RMSprop(_Fused):
    """RMSprop (optionally centered, with momentum)."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: Optional[bool] = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_lr(lr)
        check_non_negative(eps=eps, momentum=momentum, weight_decay=weight_decay, alpha=alpha)
        check_flags(differentiable, capturable)
        order = (
            "lr momentum alpha eps centered weight_decay capturable foreach maximize differentiable"
        )
        super().__init__(params, hyperparameters(RMSprop.__init__, locals(), order))

    def _step(self, g: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        buffers = ["square_avg"]
        buffers += ["momentum_buffer"] if g["momentum"] > 0 else []
        buffers += ["grad_avg"] if g["centered"] else []
        st = self._stepped_states(params, buffers)
        grad_avgs, bufs = st.get("grad_avg", []), st.get("momentum_buffer", [])
        _core._rmsprop_step(params, grads, st["square_avg"], grad_avgs, bufs, **self._hyper(g))


class Adagrad(_Fused):
    """Adagrad with learning-rate decay."""

    def __init__(
        self,
        params: ParamsT,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: Optional[bool] = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: Optional[bool] = None,
    ) -> None:
        check_lr(lr)
        check_non_negative(
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )
        check_flags(differentiable)
        order = (
            "lr lr_decay eps weight_decay initial_accumulator_value foreach maximize "
            "differentiable fused"
        )
        super().__init__(params, hyperparameters(Adagrad.__init__, locals(), order))
        # As PyTorch: every parameter's state exists from the start (so ``state_dict()`` lists
        # parameters that never get a gradient), and the accumulator starts at the
        # constructor's ``initial_accumulator_value`` whatever a group says (PyTorch reads
        # only ``self.defaults`` for it, in ``__init__`` and for groups added later).
        for g in self.param_groups:
            for p in g["params"]:
                self.state[p] = {"step": 0, "sum": full_like(p, initial_accumulator_value)}

    def _step(self, g: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        st = self._stepped_states(params, ["sum"], self.defaults["initial_accumulator_value"])
        kw = self._hyper(g, "initial_accumulator_value")
        _core._adagrad_step(params, grads, st["sum"], st["step"], **kw)


__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "RMSprop", "Tensor"]
