"""What Lightning users bring to the ``Trainer``: hooks defined on the model, keyword
settings, and a model summary.

Why here: ``trainer.py`` runs the loop; this module only translates. A model may define
``training_step(batch, batch_idx)`` (returning the loss, or a dict with ``"loss"``),
``validation_step``/``test_step`` (a loss or a dict of numbers), ``predict_step`` and
``configure_optimizers()``; the trainer calls them instead of ``model(*inputs)`` and
``loss_fn``. ``Trainer(model, max_epochs=3, lr=1e-3)`` maps Lightning's names onto
``TrainingConfig`` fields.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional

from .._core import Tensor
from ..errors import ArgumentTypeError
from .config import ConfigError, ConfigKeyError, TrainingConfig

__all__ = ["apply_settings", "find_hook", "model_summary", "parse_optimizers"]

#: Lightning's (and PyTorch users') names for ``TrainingConfig`` fields.
ALIASES = {
    "max_epochs": "num_epochs",
    "epochs": "num_epochs",
    "lr": "learning_rate",
    "accumulate_grad_batches": "accumulation_steps",
    "gradient_clip_val": "max_grad_norm",
    "precision": "amp",
    "enable_progress_bar": "progress",
    "enable_model_summary": "model_summary",
    "default_root_dir": "runs_dir",
    "name": "run_name",
}
#: Lightning's ``precision`` strings as ``amp`` values.
_PRECISION = {
    "32": None,
    "32-true": None,
    "16": "float16",
    "16-mixed": "float16",
    "bf16": "bfloat16",
    "bf16-mixed": "bfloat16",
}


def apply_settings(config: Optional[TrainingConfig], settings: Mapping[str, Any]) -> TrainingConfig:
    """``config`` (or the defaults) with keyword settings applied; ``ConfigKeyError`` with a
    did-you-mean for a name that is neither a field nor one of ``ALIASES``."""
    cfg = config if config is not None else TrainingConfig()
    if not settings:
        return cfg
    fields = {f.name for f in dataclasses.fields(TrainingConfig)}
    changes: dict[str, Any] = {}
    for key, value in settings.items():
        name = ALIASES.get(key, key)
        if name not in fields:
            close = difflib.get_close_matches(key, sorted(fields | set(ALIASES)), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigKeyError(
                f"Trainer got an unknown setting {key!r}{hint} (settings are TrainingConfig "
                "fields, or Lightning's max_epochs, lr, accumulate_grad_batches, "
                "gradient_clip_val, precision, enable_progress_bar, default_root_dir)"
            )
        if key == "precision":
            value = _PRECISION.get(str(value), value)
        if name in changes:
            raise ConfigError(f"Trainer got {name!r} twice (as {key!r} and under another name)")
        changes[name] = value
    return dataclasses.replace(cfg, **changes)


def find_hook(model: Any, name: str) -> Optional[Callable[..., Any]]:
    """``model.<name>`` or, for a wrapper such as ``DistributedDataParallel``, the wrapped
    module's; ``None`` when neither defines it."""
    for obj in (model, getattr(model, "module", None)):
        if obj is None:
            continue
        fn = getattr(type(obj), name, None)
        if callable(fn):
            return getattr(obj, name)  # type: ignore[no-any-return]
    return None


def parse_optimizers(result: Any) -> tuple[Any, Any, Optional[str]]:
    """``configure_optimizers()``'s result as ``(optimizer, scheduler or None, interval or
    None)``: an optimizer; ``([optimizer], [scheduler])``; a dict with ``"optimizer"`` and
    ``"lr_scheduler"`` (a scheduler or ``{"scheduler", "interval": "step"|"epoch"}``)."""
    sched: Any = None
    interval: Optional[str] = None
    if isinstance(result, Mapping):
        if "optimizer" not in result:
            raise ConfigError("configure_optimizers() returned a dict without 'optimizer'")
        opt, sched = result["optimizer"], result.get("lr_scheduler")
    elif (
        isinstance(result, (tuple, list))
        and len(result) == 2
        and isinstance(result[0], (list, tuple))
    ):
        opts, scheds = list(result[0]), list(result[1])
        if len(opts) != 1 or len(scheds) > 1:
            raise ConfigError(
                "configure_optimizers() returned several optimizers or schedulers; the "
                "Trainer drives one of each (combine parameter groups in one optimizer)"
            )
        opt, sched = opts[0], (scheds[0] if scheds else None)
    elif isinstance(result, (tuple, list)):
        if len(result) != 1:
            raise ConfigError("configure_optimizers() returned several optimizers; return one")
        opt = result[0]
    else:
        opt = result
    if isinstance(sched, Mapping):
        if "scheduler" not in sched:
            raise ConfigError("configure_optimizers()'s 'lr_scheduler' dict needs 'scheduler'")
        iv = sched.get("interval", "epoch")
        if iv not in ("step", "epoch", "batch"):
            raise ConfigError(f"lr_scheduler 'interval' must be 'step' or 'epoch', got {iv!r}")
        interval = "batch" if iv in ("step", "batch") else "epoch"
        sched = sched["scheduler"]
    if not hasattr(opt, "step") or not hasattr(opt, "param_groups"):
        raise ConfigError(
            f"configure_optimizers() must return an optimizer, got {type(opt).__name__}"
        )
    return opt, sched, interval


def _count(params: Sequence[Any]) -> tuple[int, int, int]:
    """``(parameters, trainable, bytes)`` counting each shared tensor once."""
    seen: set[int] = set()
    total = trainable = size = 0
    for p in params:
        if id(p) in seen:
            continue
        seen.add(id(p))
        n = int(p.numel())
        total += n
        size += n * int(getattr(p, "element_size", lambda: 4)())
        if p.requires_grad:
            trainable += n
    return total, trainable, size


def _mb(n: float) -> str:
    return f"{n / 2**20:.2f} MB"


def model_summary(model: Any, optimizer: Any = None) -> list[str]:
    """A table of the model's top-level layers with their parameter counts, then the totals
    and an estimate of the memory that training holds for them: parameters, gradients of the
    trainable ones and the optimizer's per-parameter state (Adam keeps two tensors)."""
    inner = getattr(model, "module", model)
    rows = []
    children = list(inner.named_children()) if hasattr(inner, "named_children") else []
    for name, child in children:
        total, _, _ = _count(list(child.parameters()))
        rows.append((name, type(child).__name__, total))
    total, trainable, size = _count(list(inner.parameters()))
    states = 0
    if optimizer is not None:
        kind = type(optimizer).__name__.lower()
        states = (
            2 if "adam" in kind else 1 if ("sgd" in kind or "rms" in kind or "grad" in kind) else 0
        )
    grad_bytes = size * (trainable / total) if total else 0
    est = size + grad_bytes * (1 + states)
    lines = [
        f"Model {type(inner).__name__}: {total:,} parameters ({trainable:,} trainable, "
        f"{total - trainable:,} frozen), {_mb(size)}; training holds ~{_mb(est)} for them "
        "(with gradients and optimizer state; activations come on top)"
    ]
    if rows:
        w_name = max(4, *(len(r[0]) for r in rows))
        w_type = max(4, *(len(r[1]) for r in rows))
        lines.append(f"  {'name':<{w_name}}  {'type':<{w_type}}  {'params':>10}")
        for name, kind, n in rows:
            lines.append(f"  {name:<{w_name}}  {kind:<{w_type}}  {n:>10,}")
    return lines


def loss_of(result: Any, hook: str) -> Tensor:
    """The loss a ``training_step`` returned (a tensor, or a dict with ``"loss"``)."""
    if isinstance(result, Mapping):
        result = result.get("loss")
    if not isinstance(result, Tensor):
        raise ArgumentTypeError(
            f"{hook}() must return the loss tensor or a dict with 'loss', got "
            f"{type(result).__name__}"
        )
    return result


def loss_triple(result: Any) -> tuple[Tensor, Any, Any]:
    """What an overridden ``Trainer.compute_loss`` returned as ``(loss, outputs, targets)``: the
    triple itself, or the loss alone (a tensor, or a dict with ``"loss"``, as a
    ``training_step`` returns), whose outputs and targets are then unknown (``None``)."""
    if isinstance(result, (tuple, list)) and len(result) == 3:
        loss, out, target = result
    elif isinstance(result, (Tensor, Mapping)):
        loss, out, target = result, None, None
    else:
        loss = None
    if isinstance(loss, Mapping):
        loss = loss.get("loss")
    if not isinstance(loss, Tensor):
        raise ArgumentTypeError(
            "compute_loss() must return (loss, outputs, targets), the loss tensor, or a dict "
            f"with 'loss'; got {type(result).__name__}"
        )
    return loss, out, target


def metrics_of(result: Any) -> dict[str, float]:
    """A ``validation_step``/``test_step`` result as numbers: a tensor is the ``loss``."""
    if result is None:
        return {}
    if isinstance(result, Mapping):
        out = {}
        for k, v in result.items():
            out[str(k)] = float(v.item() if isinstance(v, Tensor) else v)
        return out
    return {"loss": float(result.item() if isinstance(result, Tensor) else result)}
