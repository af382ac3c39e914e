"""``democratising.optim.swa_utils``: stochastic weight averaging and exponential moving
averages of a model (``AveragedModel``), the ``SWALR`` learning-rate schedule and ``update_bn``
(PyTorch's ``torch.optim.swa_utils``)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from copy import deepcopy
from typing import Any, Callable, Optional, Union

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad
from ..errors import InvalidValueError
from ..nn.module import Module
from ..nn.normalization import _BatchNorm
from .lr_scheduler import LRScheduler, _per_group
from .optimizer import Optimizer

__all__ = [
    "SWALR",
    "AveragedModel",
    "get_ema_avg_fn",
    "get_ema_multi_avg_fn",
    "get_swa_avg_fn",
    "get_swa_multi_avg_fn",
    "update_bn",
]

ParamList = Union[list[Tensor], tuple[Tensor, ...]]


def _check_decay(decay: float) -> None:
    if decay < 0.0 or decay > 1.0:
        raise InvalidValueError(
            f"Invalid decay value {decay} provided. Please provide a value in [0,1] range."
        )


def get_ema_multi_avg_fn(decay: float = 0.999) -> Callable[[ParamList, ParamList, Any], None]:
    """An in-place exponential-moving-average update over lists of tensors:
    ``ema = decay·ema + (1 - decay)·current``."""
    _check_decay(decay)

    def ema_update(ema_param_list: ParamList, current_param_list: ParamList, _: Any) -> None:
        with no_grad():
            if ema_param_list and ema_param_list[0].is_floating_point():
                for p_ema, p_model in zip(ema_param_list, current_param_list):
                    p_ema.copy_(p_ema + (p_model - p_ema) * (1 - decay))
            else:
                for p_ema, p_model in zip(ema_param_list, current_param_list):
                    p_ema.copy_(p_ema * decay + p_model * (1 - decay))

    return ema_update


def get_swa_multi_avg_fn() -> Callable[[ParamList, ParamList, Any], None]:
    """An in-place running-mean (SWA) update over lists of tensors:
    ``avg += (current - avg) / (n_averaged + 1)``."""

    def swa_update(
        averaged_param_list: ParamList,
        current_param_list: ParamList,
        num_averaged: Union[Tensor, int],
    ) -> None:
        with no_grad():
            n = float(num_averaged.item()) if isinstance(num_averaged, Tensor) else num_averaged
            for p_avg, p_model in zip(averaged_param_list, current_param_list):
                p_avg.copy_(p_avg + (p_model - p_avg) / (n + 1))

    return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> Callable[[Tensor, Tensor, Any], Tensor]:
    """The exponential moving average of one tensor: ``decay·ema + (1 - decay)·current``."""
    _check_decay(decay)

    def ema_update(ema_param: Tensor, current_param: Tensor, num_averaged: Any) -> Tensor:
        with no_grad():
            return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn() -> Callable[[Tensor, Tensor, Any], Tensor]:
    """The running mean of one tensor: ``avg + (current - avg) / (n_averaged + 1)``."""

    def swa_update(
        averaged_param: Tensor, current_param: Tensor, num_averaged: Union[Tensor, int]
    ) -> Tensor:
        with no_grad():
            return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


class AveragedModel(Module):
    """A copy of ``model`` whose parameters (and, with ``use_buffers``, buffers) are the
    running average (SWA by default, or ``avg_fn``/``multi_avg_fn``, e.g. an EMA) of the
    model's at every ``update_parameters(model)`` call. ``forward`` runs the averaged copy."""

    n_averaged: Tensor

    def __init__(
        self,
        model: Module,
        device: Optional[Any] = None,
        avg_fn: Optional[Callable[[Tensor, Tensor, Union[Tensor, int]], Tensor]] = None,
        multi_avg_fn: Optional[Callable[[ParamList, ParamList, Union[Tensor, int]], None]] = None,
        use_buffers: bool = False,
    ) -> None:
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        from .. import tensor

        n = tensor(0, dtype=_core.int64)
        self.register_buffer("n_averaged", n.to(device) if device is not None else n)
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Runs the averaged model."""
        return self.module(*args, **kwargs)

    def update_parameters(self, model: Module) -> None:
        """Averages ``model``'s parameters (and buffers with ``use_buffers``) into this copy;
        the first call copies them. Without ``use_buffers`` the buffers are copied as is."""
        self_param: Iterable[Tensor] = (
            itertools.chain(self.module.parameters(), self.module.buffers())
            if self.use_buffers
            else self.parameters()
        )
        model_param: Iterable[Tensor] = (
            itertools.chain(model.parameters(), model.buffers())
            if self.use_buffers
            else model.parameters()
        )
        n_avg = int(self.n_averaged.item())
        with no_grad():
            self_list: list[Tensor] = []
            model_list: list[Tensor] = []
            for p_averaged, p_model in zip(self_param, model_param):
                p_model_ = p_model.detach().to(p_averaged.device)
                self_list.append(p_averaged.detach())
                model_list.append(p_model_)
                if n_avg == 0:
                    p_averaged.detach().copy_(p_model_)
            if n_avg > 0:
                if self.avg_fn is not None:
                    for p_averaged, p_model in zip(self_list, model_list):
                        p_averaged.copy_(self.avg_fn(p_averaged, p_model, self.n_averaged))
                else:
                    multi = self.multi_avg_fn or get_swa_multi_avg_fn()
                    groups: dict[tuple[str, str], tuple[list[Tensor], list[Tensor]]] = {}
                    for a, m in zip(self_list, model_list):
                        key = (str(a.device), str(a.dtype))
                        groups.setdefault(key, ([], []))
                        groups[key][0].append(a)
                        groups[key][1].append(m)
                    for avg_params, model_params in groups.values():
                        dev = avg_params[0].device
                        multi(avg_params, model_params, self.n_averaged.to(dev))
            if not self.use_buffers:
                for b_swa, b_model in zip(self.module.buffers(), model.buffers()):
                    b_swa.detach().copy_(b_model.detach().to(b_swa.device))
            self.n_averaged.copy_(self.n_averaged + 1)


def update_bn(loader: Iterable[Any], model: Module, device: Optional[Any] = None) -> None:
    """Recomputes the running statistics of every BatchNorm layer of ``model`` with one pass
    over ``loader`` (cumulative averages, ``momentum=None``); the layers' momenta and the
    model's training mode are restored afterwards."""
    with no_grad():
        momenta: dict[Module, Optional[float]] = {}
        for module in model.modules():
            if isinstance(module, _BatchNorm):
                module.reset_running_stats()
                momenta[module] = module.momentum
        if not momenta:
            return
        was_training = model.training
        model.train()
        for module in momenta:
            module.momentum = None
        for inp in loader:
            if isinstance(inp, (list, tuple)):
                inp = inp[0]
            if device is not None:
                inp = inp.to(device)
            model(inp)
        for bn_module, momentum in momenta.items():
            bn_module.momentum = momentum
        model.train(was_training)


class SWALR(LRScheduler):
    """Anneals each parameter group's learning rate to a fixed ``swa_lr`` over
    ``anneal_epochs`` epochs (cosine or linear), then keeps it there."""

    def __init__(
        self,
        optimizer: Optimizer,
        swa_lr: Union[float, Sequence[float]],
        anneal_epochs: int = 10,
        anneal_strategy: str = "cos",
        last_epoch: int = -1,
    ) -> None:
        swa_lrs = _per_group("swa_lr", optimizer, swa_lr, InvalidValueError)
        for lr, group in zip(swa_lrs, optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ["cos", "linear"]:
            raise InvalidValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
            )
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise InvalidValueError(
                f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}"
            )
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t: float) -> float:
        return t

    @staticmethod
    def _cosine_anneal(t: float) -> float:
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def _set_anneal_func(self, anneal_strategy: str) -> None:
        self._anneal_strategy = anneal_strategy
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" else self._linear_anneal

    def get_lr(self) -> list[float]:
        """The next learning rates: the current ones moved toward ``swa_lr``."""
        self._warn_if_outside_step()
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_t = max(0, min(1, (step - 1) / max(1, self.anneal_epochs)))
        prev_alpha = self.anneal_func(prev_t)
        prev_lrs = [
            self._get_initial_lr(group["lr"], group["swa_lr"], prev_alpha)
            for group in self.optimizer.param_groups
        ]
        t = max(0, min(1, step / max(1, self.anneal_epochs)))
        alpha = self.anneal_func(t)
        return [
            group["swa_lr"] * alpha + lr * (1 - alpha)
            for group, lr in zip(self.optimizer.param_groups, prev_lrs)
        ]

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer and the annealing function."""
        return {
            k: deepcopy(v)
            for k, v in self.__dict__.items()
            if k not in ("optimizer", "anneal_func")
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restores the attributes saved by ``state_dict()``."""
        self.__dict__.update(deepcopy(dict(state_dict)))
        self._set_anneal_func(self._anneal_strategy)
