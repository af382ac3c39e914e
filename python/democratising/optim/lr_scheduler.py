"""``democratising.optim.lr_scheduler``: PyTorch's learning-rate schedulers, value for value.

Every scheduler here reproduces the learning-rate sequence of ``torch.optim.lr_scheduler`` for the
same arguments. That means copying PyTorch's *recursive* ("chainable") update rules where PyTorch
uses them, not the textbook closed forms: the recursive rules multiply the learning rate that is
currently in the optimizer, so they compose with other schedulers (``ChainedScheduler``) and with
manual edits of ``param_groups[i]["lr"]``, and they round differently from the closed forms. The
closed forms are still used where PyTorch uses them: ``step(epoch)`` (deprecated in PyTorch) and
the moment ``SequentialLR`` hands over to the next scheduler.

Conventions shared with PyTorch:

* constructing a scheduler performs an initial step, so ``last_epoch`` is 0 and the optimizer
  holds the epoch-0 learning rate right after construction;
* ``initial_lr`` is stored in every parameter group (on first construction) and ``base_lrs`` is
  read from it, so several schedulers on one optimizer agree on the base learning rate;
* ``state_dict()`` holds every attribute except the optimizer; ``load_state_dict()`` restores them.

Arguments that PyTorch would accept only to fail later (a zero ``step_size``, a zero ``T_max``...)
or that make no sense (negative counts, unsorted ``SequentialLR`` milestones) raise ``ValueError``
at construction with a message naming the argument.
"""

from __future__ import annotations

import copy
import math
import numbers
import types
import warnings
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Callable, Optional, SupportsFloat, Union

from .._core import Tensor
from ..errors import ArgumentTypeError, InvalidValueError
from .optimizer import Optimizer

__all__ = [
    "ChainedScheduler",
    "ConstantLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "LinearLR",
    "MultiStepLR",
    "MultiplicativeLR",
    "OneCycleLR",
    "PolynomialLR",
    "ReduceLROnPlateau",
    "SequentialLR",
    "StepLR",
]

#: PyTorch's warning for ``scheduler.step()`` before any ``optimizer.step()``: the first
#: value of the schedule would be skipped.
_STEP_ORDER_WARNING = (
    "Detected call of `lr_scheduler.step()` before `optimizer.step()`. In PyTorch 1.1.0 and "
    "later, you should call them in the opposite order: `optimizer.step()` before "
    "`lr_scheduler.step()`.  Failure to do this will result in PyTorch skipping the first "
    "value of the learning rate schedule. See more details at "
    "https://pytorch.org/docs/stable/optim.html#how-to-adjust-learning-rate"
)
EPOCH_DEPRECATION_WARNING = (
    "The epoch parameter in `scheduler.step()` is deprecated (as in PyTorch): call "
    "`scheduler.step()` without it. When an epoch is given, the closed form of the schedule is "
    "used instead of the chainable form, where a closed form exists."
)

_GET_LR_WARNING = (
    "To get the last learning rate computed by the scheduler, please use `get_last_lr()`."
)


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------


def _check_optimizer(optimizer: Any) -> Optimizer:
    if not isinstance(optimizer, Optimizer):
        raise ArgumentTypeError(f"{type(optimizer).__name__} is not an Optimizer")
    return optimizer


def _int_arg(name: str, value: Any, minimum: int, strict: bool = False) -> int:
    """``value`` as an ``int`` no smaller than ``minimum``; bools are refused. A whole float
    (``StepLR(opt, 1.0)``, as PyTorch's own tutorials write it) is accepted where PyTorch
    accepts it; ``strict`` refuses floats, as PyTorch does for ``T_0`` or ``total_steps``."""
    whole_float = isinstance(value, float) and value.is_integer() and not strict
    if isinstance(value, bool) or not (isinstance(value, numbers.Integral) or whole_float):
        raise InvalidValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise InvalidValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _real_arg(name: str, value: Any) -> float:
    """``value`` unchanged if it is a real number, or a one-element tensor (PyTorch accepts
    learning rates and their bounds as tensors); NaN and anything else are refused."""
    if isinstance(value, Tensor):
        if value.numel() != 1 or value.is_complex():
            raise InvalidValueError(
                f"{name} must be a real number or a one-element tensor, got {value!r}"
            )
        if math.isnan(float(value.item())):
            raise InvalidValueError(f"{name} must not be NaN")
        return value  # type: ignore[return-value]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidValueError(f"{name} must be a real number, got {value!r}")
    if math.isnan(float(value)):
        raise InvalidValueError(f"{name} must not be NaN")
    return value  # type: ignore[return-value]  # keep ints as ints: PyTorch does no conversion


def _cycles_beta1(optimizer: Any) -> bool:
    """Whether a momentum-cycling scheduler cycles ``betas[0]`` (Adam-like) rather than
    ``momentum``; an optimizer with neither is refused."""
    if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
        raise InvalidValueError(
            "optimizer must support momentum or beta1 with `cycle_momentum` option "
            f"enabled ({type(optimizer).__name__} has neither); pass cycle_momentum=False"
        )
    return "betas" in optimizer.defaults


def _per_group(
    name: str, optimizer: Optimizer, value: Any, error: type[ValueError] = ValueError
) -> list[Any]:
    """One value per parameter group: a scalar is repeated, a list must match the group count
    (else ``error``, a ``ValueError`` of the caller's choice). Tensors are cloned, so no two
    groups (nor the caller) share one."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise error(
                f"{name} must have the same length as optimizer.param_groups: {name} has "
                f"{len(value)} values, param_groups has {len(optimizer.param_groups)}"
            )
        return [_copy_value(v) for v in value]
    return [_copy_value(value) for _ in optimizer.param_groups]


def _copy_value(value: Any) -> Any:
    """``value``, cloned when it is a tensor: a learning rate given as a tensor is held by the
    optimizer, and the scheduler's own records (``base_lrs``, ``get_last_lr()``) must not
    alias it, or they would change with it (as in PyTorch)."""
    return value.clone() if isinstance(value, Tensor) else value


def _group_values(optimizer: Optimizer, key: str) -> list[Any]:
    """Every group's ``key`` (tensors cloned)."""
    return [_copy_value(group[key]) for group in optimizer.param_groups]


def _set_group_value(group: dict[str, Any], key: str, value: Any) -> None:
    """``group[key] = value``, except that a tensor already there is filled in place: code
    holding that tensor (a captured or compiled step) sees the new rate, as in PyTorch."""
    current = group[key]
    if isinstance(current, Tensor):
        current.fill_(float(value.item()) if isinstance(value, Tensor) else value)
    else:
        group[key] = value


# --------------------------------------------------------------------------------------------
# base class
# --------------------------------------------------------------------------------------------


class LRScheduler:
    """Base class: adjusts ``optimizer.param_groups[i]["lr"]`` once per ``step()``.

    Subclasses implement ``get_lr()`` (the chainable rule, reading the current learning rates)
    and optionally ``_get_closed_form_lr()`` (a function of ``last_epoch`` and ``base_lrs``).
    The schedulers of this module write their rule as ``_next_lrs()`` (see ``_RuleScheduler``).
    """

    # Class-level defaults; the context in ``step`` / ``_initial_step`` sets instance copies,
    # which therefore also appear in ``state_dict()`` exactly as they do in PyTorch.
    _get_lr_called_within_step: bool = False
    _is_initial: bool = False

    optimizer: Optimizer
    base_lrs: list[float]
    last_epoch: int
    _last_lr: list[float]
    _step_count: int

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        self.optimizer = _check_optimizer(optimizer)
        last_epoch = _int_arg("last_epoch", last_epoch, -1)
        if last_epoch == -1:
            # First construction: remember the optimizer's learning rate as the base. setdefault,
            # so a second scheduler on the same optimizer sees the same base as the first.
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", _copy_value(group["lr"]))
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(
                        f"param 'initial_lr' is not specified in param_groups[{i}] when resuming "
                        f"an optimizer (last_epoch={last_epoch}); load the optimizer's state_dict "
                        "first or construct the scheduler with last_epoch=-1"
                    )
        self.base_lrs = _group_values(optimizer, "initial_lr")
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """The construction-time step: moves ``last_epoch`` to 0 and sets the epoch-0 rates."""
        if isinstance(self.optimizer, Optimizer):
            # Our optimizers' step() sets it (a duck-typed optimizer is not checked).
            self.optimizer.__dict__.setdefault("_opt_called", False)
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    # ---- public API ---------------------------------------------------------------------

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the latest ``step()``, one per parameter group."""
        return list(self._last_lr)

    def get_lr(self) -> list[float]:
        """The chainable rule: next learning rates computed from the current ones."""
        raise NotImplementedError

    def step(self, epoch: Optional[int] = None) -> None:
        """Advance one epoch (or, deprecated, jump to ``epoch`` using the closed form)."""
        if self._step_count == 1 and not getattr(self.optimizer, "_opt_called", True):
            warnings.warn(_STEP_ORDER_WARNING, UserWarning, stacklevel=2)
        self._step_count += 1
        if epoch is not None:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self._update_lr(epoch)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute except the optimizer (copied, so later steps do not alter it)."""
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore attributes saved by ``state_dict()``; load the optimizer's state as well."""
        self.__dict__.update(copy.deepcopy(dict(state_dict)))

    # ---- internals ----------------------------------------------------------------------

    def _update_lr(self, epoch: Optional[float] = None) -> None:
        self._get_lr_called_within_step = True
        try:
            if epoch is None:
                self.last_epoch += 1
                values = self.get_lr()
            else:
                self.last_epoch = epoch  # type: ignore[assignment]
                closed_form = getattr(self, "_get_closed_form_lr", None)
                values = closed_form() if closed_form is not None else self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        self._set_lrs(values)

    def _set_lrs(self, values: Iterable[float]) -> None:
        """Puts this step's rates into the optimizer's groups and remembers them for
        ``get_last_lr()``."""
        values = list(values)
        groups = self.optimizer.param_groups
        if len(values) != len(groups):
            # A parameter group added after the scheduler was built has no base rate here.
            raise InvalidValueError(
                f"{type(self).__name__} computed {len(values)} learning rates for "
                f"{len(groups)} parameter groups: a group added to the optimizer after the "
                "scheduler was created is not scheduled; create the scheduler after adding it"
            )
        for group, lr in zip(groups, values):
            _set_group_value(group, "lr", lr)
        self._last_lr = self._current_lrs()

    def _warn_if_outside_step(self) -> None:
        # The chainable rules advance from the *current* rates, so calling get_lr() by hand
        # does not return the current rate; PyTorch warns about this and so do we.
        if not self._get_lr_called_within_step:
            warnings.warn(_GET_LR_WARNING, UserWarning, stacklevel=3)

    def _current_lrs(self) -> list[float]:
        """Every group's current rate (tensors cloned, so the list does not follow them)."""
        return _group_values(self.optimizer, "lr")

    def _scaled_lrs(self, factor: float) -> list[float]:
        """Every group's current rate times ``factor``: the step of the multiplicative
        chainable rules (``StepLR``, ``ExponentialLR``, ``LinearLR``...)."""
        return [group["lr"] * factor for group in self.optimizer.param_groups]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={getattr(self, 'last_epoch', None)})"


class _LRScheduler(LRScheduler):
    """Old PyTorch name of ``LRScheduler``, kept so ``isinstance`` checks in ported code work."""


class _RuleScheduler(LRScheduler):
    """A scheduler with a rule of its own (every one here but ``SequentialLR``,
    ``ChainedScheduler`` and ``ReduceLROnPlateau``): ``get_lr()`` runs it, warning first when
    called outside ``step()``, as PyTorch's schedulers do."""

    def get_lr(self) -> list[float]:
        self._warn_if_outside_step()
        return self._next_lrs()

    def _next_lrs(self) -> list[float]:
        """The rule: the next learning rates (the chainable ones computed from the current)."""
        raise NotImplementedError


# --------------------------------------------------------------------------------------------
# lambda-based schedulers
# --------------------------------------------------------------------------------------------


def _lambdas(optimizer: Any, lr_lambda: Any) -> list[Callable[[int], float]]:
    _check_optimizer(optimizer)
    if isinstance(lr_lambda, (list, tuple)):
        if len(lr_lambda) != len(optimizer.param_groups):
            raise InvalidValueError(
                f"Expected {len(optimizer.param_groups)} lr_lambdas (one per parameter group), "
                f"but got {len(lr_lambda)}"
            )
        fns = list(lr_lambda)
    else:
        fns = [lr_lambda] * len(optimizer.param_groups)
    for fn in fns:
        if not callable(fn):
            raise ArgumentTypeError(f"lr_lambda should be a function, but got {type(fn).__name__}")
    return fns


class _LambdaScheduler(_RuleScheduler):
    """A scheduler driven by user callables, one per parameter group (or one for all).

    Its ``state_dict``: plain functions and lambdas cannot be restored from data, so (as in
    PyTorch) only the ``__dict__`` of callable *objects* is saved; functions are saved as
    ``None``.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Union[Callable[[int], float], Sequence[Callable[[int], float]]],
        last_epoch: int = -1,
    ) -> None:
        self.optimizer = optimizer
        self.lr_lambdas = _lambdas(optimizer, lr_lambda)
        super().__init__(optimizer, last_epoch)

    def state_dict(self) -> dict[str, Any]:
        state = {
            k: copy.deepcopy(v)
            for k, v in self.__dict__.items()
            if k not in ("optimizer", "lr_lambdas")
        }
        state["lr_lambdas"] = [
            None if isinstance(fn, types.FunctionType) else copy.deepcopy(fn.__dict__)
            for fn in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = copy.deepcopy(dict(state_dict))
        saved = state.pop("lr_lambdas", None) or []
        self.__dict__.update(state)
        for fn, fn_state in zip(self.lr_lambdas, saved):
            if fn_state is not None:
                fn.__dict__.update(fn_state)


class LambdaLR(_LambdaScheduler):
    """``lr = base_lr * lr_lambda(epoch)`` (not chainable: it always starts from ``base_lr``)."""

    #: The rate is this object's function of the step alone: a resumed ``Trainer`` sets it from
    #: the function at the step reached (this run's function, which may be a longer schedule
    #: than the checkpoint's) instead of keeping the saved rate until the next step.
    rate_is_function_of_step = True

    def _next_lrs(self) -> list[float]:
        return [
            base_lr * fn(self.last_epoch) for fn, base_lr in zip(self.lr_lambdas, self.base_lrs)
        ]


class MultiplicativeLR(_LambdaScheduler):
    """``lr *= lr_lambda(epoch)`` at every step after the initial one (chainable)."""

    def _next_lrs(self) -> list[float]:
        if self._is_initial:
            return self._current_lrs()
        return [
            group["lr"] * fn(self.last_epoch)
            for fn, group in zip(self.lr_lambdas, self.optimizer.param_groups)
        ]


# --------------------------------------------------------------------------------------------
# step-shaped schedulers
# --------------------------------------------------------------------------------------------


class StepLR(_RuleScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs."""

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        self.step_size = _int_arg("step_size", step_size, 1)
        self.gamma = _real_arg("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return self._scaled_lrs(self.gamma)

    def _get_closed_form_lr(self) -> list[float]:
        return [
            base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs
        ]


class MultiStepLR(_RuleScheduler):
    """Multiply the learning rate by ``gamma`` at each milestone (repeated milestones compound)."""

    def __init__(
        self,
        optimizer: Optimizer,
        milestones: Iterable[int],
        gamma: float = 0.1,
        last_epoch: int = -1,
    ) -> None:
        ms = list(milestones)
        for m in ms:
            _int_arg("each milestone", m, 0)
        self.milestones = Counter(int(m) for m in ms)
        self.gamma = _real_arg("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return self._scaled_lrs(factor)

    def _get_closed_form_lr(self) -> list[float]:
        milestones = sorted(self.milestones.elements())
        return [
            base_lr * self.gamma ** bisect_right(milestones, self.last_epoch)
            for base_lr in self.base_lrs
        ]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        # A state dict that went through JSON has string keys; milestones are epoch numbers.
        self.milestones = Counter({int(k): int(v) for k, v in dict(self.milestones).items()})


class _Warmup(_RuleScheduler):
    """``ConstantLR`` and ``LinearLR``: a factor on the rate for the first ``total_iters``
    epochs; each subclass checks and stores its factors before calling this constructor."""

    def __init__(self, optimizer: Optimizer, total_iters: int, last_epoch: int) -> None:
        # 0 is allowed, as in PyTorch: the factor then stays (a zero-length warm-up phase).
        self.total_iters = _int_arg("total_iters", total_iters, 0)
        super().__init__(optimizer, last_epoch)


class ConstantLR(_Warmup):
    """Multiply the learning rate by ``factor`` for the first ``total_iters`` epochs."""

    def __init__(
        self,
        optimizer: Optimizer,
        factor: float = 1.0 / 3,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        factor = _real_arg("factor", factor)
        # PyTorch accepts factor == 0 but then divides by it when the phase ends.
        if not 0.0 < factor <= 1.0:
            raise InvalidValueError(
                f"Constant multiplicative factor must be in (0, 1], got {factor}"
            )
        self.factor = factor
        super().__init__(optimizer, total_iters, last_epoch)

    def _next_lrs(self) -> list[float]:
        if self.last_epoch == 0:
            return self._scaled_lrs(self.factor)
        if self.last_epoch != self.total_iters:
            return self._current_lrs()
        return self._scaled_lrs(1.0 / self.factor)

    def _get_closed_form_lr(self) -> list[float]:
        return [
            base_lr * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
            for base_lr in self.base_lrs
        ]


class LinearLR(_Warmup):
    """Scale the learning rate by a factor going linearly from ``start_factor`` to ``end_factor``
    over ``total_iters`` epochs (a warm-up when ``start_factor < end_factor``)."""

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        start_factor = _real_arg("start_factor", start_factor)
        end_factor = _real_arg("end_factor", end_factor)
        if start_factor > 1.0 or start_factor <= 0:
            raise InvalidValueError(
                "Starting multiplicative factor expected to be greater than 0 and less or equal "
                f"to 1, got start_factor={start_factor}"
            )
        if end_factor > 1.0 or end_factor < 0:
            raise InvalidValueError(
                f"Ending multiplicative factor expected to be between 0 and 1, got {end_factor}"
            )
        self.start_factor = start_factor
        self.end_factor = end_factor
        super().__init__(optimizer, total_iters, last_epoch)

    def _next_lrs(self) -> list[float]:
        if self.last_epoch == 0:
            return self._scaled_lrs(self.start_factor)
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        # Ratio of consecutive factors: f(e) / f(e-1) with f linear in e.
        delta = self.end_factor - self.start_factor
        ratio = 1.0 + delta / (self.total_iters * self.start_factor + (self.last_epoch - 1) * delta)
        return self._scaled_lrs(ratio)

    def _get_closed_form_lr(self) -> list[float]:
        if self.total_iters == 0:  # PyTorch divides by zero here; its step() keeps the start
            return [base_lr * self.start_factor for base_lr in self.base_lrs]
        return [
            base_lr
            * (
                self.start_factor
                + (self.end_factor - self.start_factor)
                * min(self.total_iters, self.last_epoch)
                / self.total_iters
            )
            for base_lr in self.base_lrs
        ]


class ExponentialLR(_RuleScheduler):
    """Multiply the learning rate by ``gamma`` every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        gamma = _real_arg("gamma", gamma)
        if gamma < 0:
            raise InvalidValueError(f"gamma must be non-negative, got {gamma}")
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self) -> list[float]:
        # The construction step must not decay: resuming with last_epoch=k would otherwise
        # apply gamma once more than the closed form (PyTorch issue 102261).
        if self._is_initial:
            return self._current_lrs()
        return self._scaled_lrs(self.gamma)

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


class PolynomialLR(_RuleScheduler):
    """Decay the learning rate as ``(1 - epoch / total_iters) ** power`` down to zero."""

    def __init__(
        self,
        optimizer: Optimizer,
        total_iters: int = 5,
        power: float = 1.0,
        last_epoch: int = -1,
    ) -> None:
        self.total_iters = _int_arg("total_iters", total_iters, 1)
        self.power = _real_arg("power", power)
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self) -> list[float]:
        if self._is_initial or self.last_epoch > self.total_iters:
            return self._current_lrs()
        decay = (
            (1.0 - self.last_epoch / self.total_iters)
            / (1.0 - (self.last_epoch - 1) / self.total_iters)
        ) ** self.power
        return self._scaled_lrs(decay)

    def _get_closed_form_lr(self) -> list[float]:
        return [
            base_lr
            * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
            for base_lr in self.base_lrs
        ]


# --------------------------------------------------------------------------------------------
# cosine schedules
# --------------------------------------------------------------------------------------------


class CosineAnnealingLR(_RuleScheduler):
    """Cosine annealing from the base rate to ``eta_min`` over ``T_max`` epochs, without restarts.

    The rate follows PyTorch's recursive form, ``eta_{t+1} = eta_min + (eta_t - eta_min) *
    (1 + cos(pi (t+1) / T_max)) / (1 + cos(pi t / T_max))``; past ``T_max`` it keeps following
    the cosine back up (period ``2 T_max``), as PyTorch's does. The seed's positional form
    ``CosineAnnealingLR(optimizer, num_epochs, 1e-6)`` is ``T_max=num_epochs, eta_min=1e-6``.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        T_max: int,  # noqa: N803 - PyTorch's argument name
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        T_max = _real_arg("T_max", T_max)  # noqa: N806
        if T_max <= 0:
            raise InvalidValueError(f"T_max must be positive, got {T_max}")
        self.T_max = T_max
        self.eta_min = _real_arg("eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self) -> list[float]:
        t, period, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if self._step_count == 1 and t > 0:
            return [
                eta_min + (base_lr - eta_min) * (1 + math.cos(t * math.pi / period)) / 2
                for base_lr in self.base_lrs
            ]
        if (t - 1 - period) % (2 * period) == 0:
            # Leaving the minimum: the ratio below would be 0/0, so step up by the first
            # increment of the cosine instead.
            return [
                group["lr"] + (base_lr - eta_min) * (1 - math.cos(math.pi / period)) / 2
                for base_lr, group in zip(self.base_lrs, self.optimizer.param_groups)
            ]
        return [
            (1 + math.cos(math.pi * t / period))
            / (1 + math.cos(math.pi * (t - 1) / period))
            * (group["lr"] - eta_min)
            + eta_min
            for group in self.optimizer.param_groups
        ]

    def _get_closed_form_lr(self) -> list[float]:
        return [
            self.eta_min
            + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
            for base_lr in self.base_lrs
        ]


class CosineAnnealingWarmRestarts(_RuleScheduler):
    """SGDR: cosine annealing restarted every ``T_i`` epochs, with ``T_i`` growing by ``T_mult``.

    Not chainable: every step computes ``eta_min + (base_lr - eta_min)(1 + cos(pi T_cur/T_i))/2``.
    ``step(epoch)`` accepts fractional epochs (call it per batch with ``epoch + i / iters``).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        T_0: int,  # noqa: N803 - PyTorch's argument name
        T_mult: int = 1,  # noqa: N803
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        self.T_0 = _int_arg("T_0", T_0, 1, strict=True)
        self.T_i = self.T_0
        self.T_mult = _int_arg("T_mult", T_mult, 1, strict=True)
        self.eta_min = _real_arg("eta_min", eta_min)
        self.T_cur: float = last_epoch
        super().__init__(optimizer, last_epoch)

    def _next_lrs(self) -> list[float]:
        return [
            self.eta_min
            + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
            for base_lr in self.base_lrs
        ]

    def step(self, epoch: Optional[float] = None) -> None:
        """Advance one epoch, or jump to (possibly fractional) ``epoch``."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:
                self.T_cur = self.T_cur % self.T_i
                self.T_i = self.T_i * self.T_mult
        else:
            if epoch < 0:
                raise InvalidValueError(f"Expected non-negative epoch, but got {epoch}")
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    # Index n of the cycle containing epoch: T_0 (T_mult^n - 1)/(T_mult - 1)
                    # epochs precede it.
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult**n
            else:
                self.T_i = self.T_0
                self.T_cur = epoch
        self.last_epoch = math.floor(epoch)
        self._get_lr_called_within_step = True
        try:
            values = self.get_lr()
        finally:
            self._get_lr_called_within_step = False
        self._set_lrs(values)


# --------------------------------------------------------------------------------------------
# one-cycle
# --------------------------------------------------------------------------------------------


class OneCycleLR(_RuleScheduler):
    """The 1cycle policy: warm up from ``max_lr / div_factor`` to ``max_lr``, then anneal to
    ``max_lr / div_factor / final_div_factor`` (with ``three_phase``, come back down to the
    initial rate first, then anneal). Momentum (SGD's ``momentum`` or Adam's ``betas[0]``) is
    cycled inversely between ``max_momentum`` and ``base_momentum`` when ``cycle_momentum``.

    Step it once per batch; ``total_steps`` (or ``epochs * steps_per_epoch``) steps are allowed
    after construction, one more raises ``ValueError``, as in PyTorch.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: Union[float, Sequence[float]],
        total_steps: Optional[int] = None,
        epochs: Optional[int] = None,
        steps_per_epoch: Optional[int] = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: Union[float, Sequence[float]] = 0.85,
        max_momentum: Union[float, Sequence[float]] = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ) -> None:
        self.optimizer = _check_optimizer(optimizer)
        if total_steps is not None:
            self.total_steps = _int_arg("total_steps", total_steps, 1, strict=True)
        elif epochs is not None and steps_per_epoch is not None:
            epochs = _int_arg("epochs", epochs, 1, strict=True)
            steps_per_epoch = _int_arg("steps_per_epoch", steps_per_epoch, 1, strict=True)
            self.total_steps = epochs * steps_per_epoch
        else:
            raise InvalidValueError(
                "You must define either total_steps OR (epochs AND steps_per_epoch)"
            )
        if (
            isinstance(pct_start, bool)
            or not isinstance(pct_start, numbers.Real)
            or not 0.0 <= pct_start <= 1.0
        ):
            raise InvalidValueError(
                f"Expected float between 0 and 1 pct_start, but got {pct_start!r}"
            )
        pct_start = float(pct_start)
        if anneal_strategy not in ("cos", "linear"):
            raise InvalidValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy!r}"
            )
        self._anneal_func_type = anneal_strategy
        for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
            if _real_arg(name, value) <= 0:
                raise InvalidValueError(f"{name} must be positive, got {value}")

        # Phase boundaries are step indices (floats, as in PyTorch): phase i covers the steps
        # after the previous end_step up to its own end_step.
        first_end = float(pct_start * self.total_steps) - 1
        if three_phase:
            self._schedule_phases: list[dict[str, Any]] = [
                _phase(first_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                _phase(
                    float(2 * pct_start * self.total_steps) - 2,
                    "max_lr",
                    "initial_lr",
                    "base_momentum",
                    "max_momentum",
                ),
                _phase(
                    self.total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"
                ),
            ]
        else:
            self._schedule_phases = [
                _phase(first_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                _phase(self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"),
            ]

        max_lrs = _per_group("max_lr", optimizer, max_lr)
        for v in max_lrs:
            if _real_arg("max_lr", v) < 0:
                raise InvalidValueError(f"max_lr must be non-negative, got {v}")
        if last_epoch == -1:
            for group, group_max in zip(optimizer.param_groups, max_lrs):
                group["initial_lr"] = group_max / div_factor
                group["max_lr"] = group_max
                group["min_lr"] = group["initial_lr"] / final_div_factor

        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            self.use_beta1 = _cycles_beta1(optimizer)
            max_moms = _per_group("max_momentum", optimizer, max_momentum)
            base_moms = _per_group("base_momentum", optimizer, base_momentum)
            for name, values in (("max_momentum", max_moms), ("base_momentum", base_moms)):
                for v in values:
                    _real_arg(name, v)
            if last_epoch == -1:
                for group, m_max, m_base in zip(optimizer.param_groups, max_moms, base_moms):
                    self._set_momentum(group, m_max)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)

    def _set_momentum(self, group: dict[str, Any], value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":
            return self._annealing_cos(start, end, pct)
        return self._annealing_linear(start, end, pct)

    @staticmethod
    def _annealing_cos(start: float, end: float, pct: float) -> float:
        """Cosine from ``start`` (pct 0) to ``end`` (pct 1)."""
        cos_out = math.cos(math.pi * pct) + 1
        return end + (start - end) / 2.0 * cos_out

    @staticmethod
    def _annealing_linear(start: float, end: float, pct: float) -> float:
        """Straight line from ``start`` (pct 0) to ``end`` (pct 1)."""
        return (end - start) * pct + start

    def _next_lrs(self) -> list[float]:
        step_num = self.last_epoch
        if step_num > self.total_steps:
            raise InvalidValueError(
                f"Tried to step {step_num} times. The specified number of total steps is "
                f"{self.total_steps}"
            )
        lrs = []
        last = len(self._schedule_phases) - 1
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end_step = phase["end_step"]
                if step_num <= end_step or i == last:
                    if end_step == start_step:
                        # PyTorch divides by zero here (ZeroDivisionError).
                        raise InvalidValueError(
                            f"OneCycleLR phase {i} is empty (it starts and ends at step "
                            f"{end_step}) with pct_start and total_steps={self.total_steps}; "
                            "choose pct_start so that pct_start * total_steps != 1"
                        )
                    pct = (step_num - start_step) / (end_step - start_step)
                    lr = self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct)
                    if self.cycle_momentum:
                        momentum = self._anneal(
                            group[phase["start_momentum"]], group[phase["end_momentum"]], pct
                        )
                        self._set_momentum(group, momentum)
                    break
                start_step = end_step
            lrs.append(lr)
        return lrs


class CyclicLR(_RuleScheduler):
    """The cyclical learning rate policy (Smith, 2017): the rate goes from ``base_lr`` up to
    ``max_lr`` in ``step_size_up`` steps and back down in ``step_size_down`` (default: the
    same), the cycle's amplitude scaled by ``mode``: ``"triangular"`` (constant),
    ``"triangular2"`` (halved every cycle) or ``"exp_range"`` (``gamma ** iteration``), or by
    a custom ``scale_fn`` of the cycle number (``scale_mode="cycle"``) or of the iteration
    (``"iterations"``). With ``cycle_momentum``, SGD's ``momentum`` (or Adam's ``betas[0]``)
    moves inversely between ``max_momentum`` and ``base_momentum``. Step it once per batch.
    The values are PyTorch's, step for step; ``state_dict`` saves a custom ``scale_fn`` only as
    the ``__dict__`` of a callable object (a function is saved as ``None``), as PyTorch does.
    """

    _MODES = ("triangular", "triangular2", "exp_range")

    def __init__(
        self,
        optimizer: Optimizer,
        base_lr: Union[float, Sequence[float]],
        max_lr: Union[float, Sequence[float]],
        step_size_up: int = 2000,
        step_size_down: Optional[int] = None,
        mode: str = "triangular",
        gamma: float = 1.0,
        scale_fn: Optional[Callable[[float], float]] = None,
        scale_mode: str = "cycle",
        cycle_momentum: bool = True,
        base_momentum: Union[float, Sequence[float]] = 0.8,
        max_momentum: Union[float, Sequence[float]] = 0.9,
        last_epoch: int = -1,
    ) -> None:
        self.optimizer = _check_optimizer(optimizer)
        base_lrs = _per_group("base_lr", optimizer, base_lr)
        for v in base_lrs:
            _real_arg("base_lr", v)
        self.max_lrs = _per_group("max_lr", optimizer, max_lr)
        for v in self.max_lrs:
            _real_arg("max_lr", v)
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                _set_group_value(group, "lr", lr)
        up = float(_real_arg("step_size_up", step_size_up))
        down = up if step_size_down is None else float(_real_arg("step_size_down", step_size_down))
        if up < 0 or down < 0 or up + down <= 0:
            # PyTorch divides by zero at the first step instead.
            raise InvalidValueError(
                "step_size_up and step_size_down must be non-negative with a positive sum, got "
                f"{step_size_up} and {step_size_down}"
            )
        self.total_size = up + down
        self.step_ratio = up / self.total_size
        if mode not in self._MODES and scale_fn is None:
            raise InvalidValueError("mode is invalid and scale_fn is None")
        if scale_fn is not None and scale_mode not in ("cycle", "iterations"):
            raise InvalidValueError(
                f"scale_mode must be 'cycle' or 'iterations', got {scale_mode!r}"
            )
        self.mode = mode
        self.gamma = _real_arg("gamma", gamma)
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode
        self._init_scale_fn()
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            self.use_beta1 = _cycles_beta1(optimizer)
            self.base_momentums = _per_group("base_momentum", optimizer, base_momentum)
            self.max_momentums = _per_group("max_momentum", optimizer, max_momentum)
            for name, values in (
                ("base_momentum", self.base_momentums),
                ("max_momentum", self.max_momentums),
            ):
                for v in values:
                    _real_arg(name, v)
            if last_epoch == -1:
                for m_max, m_base, group in zip(
                    self.max_momentums, self.base_momentums, optimizer.param_groups
                ):
                    self._set_momentum(group, m_max)
                    group["max_momentum"] = m_max
                    group["base_momentum"] = m_base
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_fn(self) -> None:
        """The built-in modes fix ``scale_mode`` (PyTorch overrides the argument the same way)."""
        if self._scale_fn_custom is None:
            self.scale_mode = "iterations" if self.mode == "exp_range" else "cycle"

    def scale_fn(self, x: float) -> float:
        """The amplitude's scale at cycle (or iteration) ``x``."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x  # type: ignore[no-any-return]

    def _set_momentum(self, group: dict[str, Any], value: float) -> None:
        if self.use_beta1:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _next_lrs(self) -> list[float]:
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle
        if x <= self.step_ratio:
            scale_factor = x / self.step_ratio
        else:
            scale_factor = (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        # (PyTorch's order of operations: the height first, then its scale.)
        lrs = [
            base_lr + ((max_lr - base_lr) * scale_factor) * scale
            for base_lr, max_lr in zip(self.base_lrs, self.max_lrs)
        ]
        if self.cycle_momentum:
            for group, m_base, m_max in zip(
                self.optimizer.param_groups, self.base_momentums, self.max_momentums
            ):
                self._set_momentum(group, m_max - ((m_max - m_base) * scale_factor) * scale)
        return lrs

    def state_dict(self) -> dict[str, Any]:
        state = {
            k: copy.deepcopy(v)
            for k, v in self.__dict__.items()
            if k not in ("optimizer", "_scale_fn_custom")
        }
        fn = self._scale_fn_custom
        state["_scale_fn_custom"] = (
            None if fn is None or isinstance(fn, types.FunctionType) else copy.deepcopy(fn.__dict__)
        )
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = copy.deepcopy(dict(state_dict))
        fn_state = state.pop("_scale_fn_custom", None)
        self.__dict__.update(state)
        if fn_state is not None and self._scale_fn_custom is not None:
            self._scale_fn_custom.__dict__.update(fn_state)
        self._init_scale_fn()


def _phase(
    end_step: float, start_lr: str, end_lr: str, start_momentum: str, end_momentum: str
) -> dict[str, Any]:
    """One OneCycleLR phase; the names are keys of the parameter group, read at every step."""
    return {
        "end_step": end_step,
        "start_lr": start_lr,
        "end_lr": end_lr,
        "start_momentum": start_momentum,
        "end_momentum": end_momentum,
    }


# --------------------------------------------------------------------------------------------
# combinators
# --------------------------------------------------------------------------------------------


def _check_children(
    owner: str, optimizer: Optimizer, schedulers: Sequence[Any], what: str
) -> list[Any]:
    children = list(schedulers)
    if len(children) < 1:
        raise InvalidValueError(
            f"{owner} expects at least one scheduler{what}, but got no scheduler"
        )
    for i, s in enumerate(children):
        if not hasattr(s, "optimizer"):
            raise ArgumentTypeError(
                f"{owner} at index {i} should have `optimizer` as its attribute"
            )
        if isinstance(s, ReduceLROnPlateau):
            raise InvalidValueError(
                f"{owner} does not support `ReduceLROnPlateau` scheduler as it requires a metric "
                f"in `step`, but got one at index {i} in the given schedulers sequence"
            )
        if s.optimizer is not optimizer:
            raise InvalidValueError(
                f"{owner} expects all schedulers to belong to the same optimizer, but scheduler "
                f"{type(s).__name__} at index {i} has a different one"
            )
    return children


class _ContainerStateMixin:
    """``state_dict`` for schedulers that own sub-schedulers: their states are nested."""

    _schedulers: list[Any]

    def state_dict(self) -> dict[str, Any]:
        state = {
            k: copy.deepcopy(v)
            for k, v in self.__dict__.items()
            if k not in ("optimizer", "_schedulers")
        }
        state["_schedulers"] = [s.state_dict() for s in self._schedulers]
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = copy.deepcopy(dict(state_dict))
        children = state.pop("_schedulers")
        self.__dict__.update(state)
        for s, s_state in zip(self._schedulers, children):
            s.load_state_dict(s_state)


class SequentialLR(_ContainerStateMixin, LRScheduler):
    """Run ``schedulers[0]`` until ``milestones[0]``, then ``schedulers[1]`` (restarted at its
    epoch 0, using its closed form), and so on — e.g. a ``LinearLR`` warm-up then cosine decay."""

    def __init__(
        self,
        optimizer: Optimizer,
        schedulers: Sequence[LRScheduler],
        milestones: Sequence[int],
        last_epoch: int = -1,
    ) -> None:
        _check_optimizer(optimizer)
        children = _check_children(type(self).__name__, optimizer, schedulers, "")
        ms = list(milestones)
        if len(ms) != len(children) - 1:
            raise InvalidValueError(
                "Sequential Schedulers expects number of schedulers provided to be one more than "
                f"the number of milestone points, but got number of schedulers {len(children)} "
                f"and the number of milestones to be equal to {len(ms)}"
            )
        for m in ms:
            _int_arg("each milestone", m, 0)
        if any(b <= a for a, b in zip(ms, ms[1:])):
            raise InvalidValueError(f"milestones must be strictly increasing, got {ms}")
        self._schedulers = children
        self._milestones = [int(m) for m in ms]
        self.last_epoch = _int_arg("last_epoch", last_epoch, -1) + 1
        self.optimizer = optimizer

        # Each child stepped once when it was constructed; undo that and restart from the
        # base rates so that only the first child's epoch 0 is in effect.
        for group in optimizer.param_groups:
            _set_group_value(group, "lr", group["initial_lr"])
        self.recursive_undo()
        # A milestone 0 skips the schedulers before it (e.g. a warm-up of zero steps).
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def recursive_undo(self, sched: Any = None) -> None:
        """Move every (nested) child back by the step its constructor performed."""
        target = self if sched is None else sched
        if hasattr(target, "_schedulers"):
            for s in target._schedulers:
                self.recursive_undo(s)
        elif hasattr(target, "last_epoch"):
            target.last_epoch -= 1

    def step(self) -> None:  # type: ignore[override]
        """Advance one epoch, handing over to the next scheduler at a milestone."""
        self.last_epoch += 1
        idx = bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler._update_lr(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class ChainedScheduler(_ContainerStateMixin, LRScheduler):
    """Step several chainable schedulers together; their multiplicative effects compose."""

    def __init__(
        self, schedulers: Sequence[LRScheduler], optimizer: Optional[Optimizer] = None
    ) -> None:
        children = list(schedulers)
        if not children:
            raise InvalidValueError(
                "ChainedScheduler expects at least one scheduler to be chained, but got no "
                "scheduler"
            )
        optimizer = _check_optimizer(optimizer or getattr(children[0], "optimizer", None))
        self._schedulers = _check_children(
            type(self).__name__, optimizer, children, " to be chained"
        )
        self.optimizer = optimizer
        self._last_lr = _group_values(self._schedulers[-1].optimizer, "lr")

    def step(self) -> None:  # type: ignore[override]
        """Step every chained scheduler, in order."""
        for scheduler in self._schedulers:
            scheduler.step()
        self._last_lr = _group_values(self._schedulers[-1].optimizer, "lr")


# --------------------------------------------------------------------------------------------
# metric-driven
# --------------------------------------------------------------------------------------------


class ReduceLROnPlateau(LRScheduler):
    """Multiply the learning rate by ``factor`` when a metric stops improving.

    A step is "bad" when the metric does not beat the best seen so far by ``threshold``
    (relative or absolute). After more than ``patience`` bad steps in a row the rate is reduced
    (never below ``min_lr``; reductions smaller than ``eps`` are skipped), then ``cooldown``
    steps pass during which bad steps are not counted.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: Union[float, Sequence[float]] = 0,
        eps: float = 1e-8,
    ) -> None:
        factor = _real_arg("factor", factor)
        if factor >= 1.0:
            raise InvalidValueError(f"Factor should be < 1.0, got {factor}")
        if factor < 0:
            raise InvalidValueError(f"Factor should be >= 0, got {factor}")
        self.factor = factor
        self.optimizer = _check_optimizer(optimizer)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise InvalidValueError(
                    f"expected {len(optimizer.param_groups)} min_lrs (one per parameter group), "
                    f"got {len(min_lr)}"
                )
            self.default_min_lr: Optional[float] = None
            self.min_lrs = list(min_lr)
        else:
            self.default_min_lr = min_lr
            self.min_lrs = [min_lr] * len(optimizer.param_groups)
        for v in self.min_lrs:
            if _real_arg("min_lr", v) < 0:
                raise InvalidValueError(f"min_lr must be non-negative, got {v}")
        self.patience = _int_arg("patience", patience, 0)
        self.cooldown = _int_arg("cooldown", cooldown, 0)
        if _real_arg("eps", eps) < 0:
            raise InvalidValueError(f"eps must be non-negative, got {eps}")
        self.eps = eps
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self._init_is_better(mode=mode, threshold=threshold, threshold_mode=threshold_mode)
        self._reset()

    def _reset(self) -> None:
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def step(self, metrics: SupportsFloat, epoch: Optional[int] = None) -> None:  # type: ignore[override]
        """Record this epoch's metric and reduce the learning rate if it has plateaued."""
        current = float(metrics)
        if epoch is None:
            epoch = self.last_epoch + 1
        else:
            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
        self.last_epoch = epoch

        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1

        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs during cooldown do not count

        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

        self._last_lr = self._current_lrs()

    def _reduce_lr(self) -> None:
        if len(self.optimizer.param_groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"The number of param groups in the optimizer "
                    f"({len(self.optimizer.param_groups)}) differs from when ReduceLROnPlateau "
                    f"was initialized ({len(self.min_lrs)}), usually because a param group was "
                    "added; set `min_lrs` to one value per group"
                )
            self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
        for i, group in enumerate(self.optimizer.param_groups):
            old_lr = float(group["lr"])
            new_lr = max(old_lr * self.factor, self.min_lrs[i])
            if old_lr - new_lr > self.eps:
                _set_group_value(group, "lr", new_lr)

    @property
    def in_cooldown(self) -> bool:
        """Whether the scheduler is still ignoring bad epochs after a reduction."""
        return self.cooldown_counter > 0

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min" and self.threshold_mode == "abs":
            return a < best - self.threshold
        if self.mode == "max" and self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        if mode not in ("min", "max"):
            raise InvalidValueError(f"mode {mode!r} is unknown! Expected 'min' or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise InvalidValueError(
                f"threshold mode {threshold_mode!r} is unknown! Expected 'rel' or 'abs'"
            )
        if _real_arg("threshold", threshold) < 0:
            raise InvalidValueError(f"threshold must be non-negative, got {threshold}")
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode = mode
        self.threshold = threshold
        self.threshold_mode = threshold_mode

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the counters and best metric, then re-validate the comparison settings."""
        super().load_state_dict(state_dict)
        self._init_is_better(
            mode=self.mode, threshold=self.threshold, threshold_mode=self.threshold_mode
        )
