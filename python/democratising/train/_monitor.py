"""Which way a monitored metric improves, and the ``metrics=`` argument of ``Trainer`` checked.

``Trainer`` keeps the best checkpoint of any monitored metric (``TrainingConfig.monitor``),
and ``democratising.tune`` optimises it; both need ``"min"`` or ``"max"``. When the config
does not say, a metric object knows (``higher_is_better``); otherwise losses, errors,
perplexities, entropies, NLL, CE, WER/CER and bits per character are minimised and everything
else (accuracy, F1, AUROC, R²) maximised."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional

from ..errors import ArgumentTypeError, InvalidValueError

__all__ = ["callback_mode", "check_metrics", "check_monitor", "infer_mode"]

_LOWER_IS_BETTER = ("loss", "error", "perplexity", "mse", "mae", "rmse", "entropy")
#: Short lower-is-better names matched as whole ``_``-separated words only: as substrings they
#: occur in other names ("ce" in "dice" and "variance", "wer" in "power").
_LOWER_IS_BETTER_WORDS = ("nll", "ce", "xent", "wer", "cer", "bpc", "bpd", "ppl", "kl", "kld")


def _lower_is_better(base: str) -> bool:
    """Whether the metric ``base`` (no ``val_``/``test_`` prefix) is a loss-like name."""
    lowered = base.lower()
    if any(word in lowered for word in _LOWER_IS_BETTER):
        return True
    return any(word in _LOWER_IS_BETTER_WORDS for word in lowered.replace("-", "_").split("_"))


def infer_mode(
    name: str, mode: Optional[str] = None, metrics: Optional[Mapping[str, Any]] = None
) -> str:
    """``mode`` if given, else ``"min"`` or ``"max"`` for the metric ``name`` (``val_`` and
    ``test_`` prefixes are the evaluated metrics' names)."""
    check_monitor(name)
    if mode is not None:
        if mode not in ("min", "max"):
            raise InvalidValueError(f"mode must be 'min' or 'max', got {mode!r}")
        return mode
    base = name
    for prefix in ("val_", "test_"):
        if base.startswith(prefix):
            base = base[len(prefix) :]
    metric = (metrics or {}).get(base)
    if metric is not None and hasattr(metric, "higher_is_better"):
        return "max" if metric.higher_is_better else "min"
    return "min" if _lower_is_better(base) else "max"


def check_monitor(name: Any) -> None:
    """``ArgumentTypeError`` for a ``monitor`` that is not a metric name (``monitor=3``),
    before any string method is called on it."""
    if not isinstance(name, str):
        raise ArgumentTypeError(
            f"monitor must be a metric name such as 'val_loss', got {name!r} "
            f"({type(name).__name__})"
        )


#: Names of metrics whose larger values are better, for ``callback_mode``.
_HIGHER_IS_BETTER = ("acc", "f1", "auroc", "auc", "precision", "recall", "r2", "iou", "dice")


def callback_mode(name: str, mode: Optional[str] = None) -> str:
    """``EarlyStopping``/``ModelCheckpoint``'s ``mode``: as given, else ``"max"`` for a metric
    whose name says higher is better (accuracy, F1, AUROC, ...) and ``"min"`` for anything else
    (Lightning's default). Why not plain ``"min"``: ``monitor="val_accuracy"`` without a mode
    would keep, and restore, the epoch with the *lowest* accuracy without a word."""
    check_monitor(name)
    if mode is not None:
        return infer_mode(name, mode)  # checks it
    base = name
    for prefix in ("val_", "test_"):
        if base.startswith(prefix):
            base = base[len(prefix) :]
    if _lower_is_better(base):
        return "min"
    lowered = base.lower()
    return "max" if any(word in lowered for word in _HIGHER_IS_BETTER) else "min"


def check_metrics(metrics: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """``metrics`` as a dict of name to metric; ``TypeError`` for a name that is not a string
    or an object without ``update``/``compute``/``reset``."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise ArgumentTypeError(
            "metrics must be a dict of name to metric, e.g. "
            f"{{'f1': F1Score(num_classes=10)}}, got {type(metrics).__name__}"
        )
    out: dict[str, Any] = {}
    for name, metric in metrics.items():
        if not isinstance(name, str) or not name:
            raise ArgumentTypeError(f"a metric's name must be a non-empty string, got {name!r}")
        missing = [
            m for m in ("update", "compute", "reset") if not callable(getattr(metric, m, None))
        ]
        if missing:
            raise ArgumentTypeError(
                f"metric {name!r} ({type(metric).__name__}) has no {', '.join(missing)}: give "
                "a democratising.metrics object or one with update/compute/reset"
            )
        out[name] = metric
    return out
