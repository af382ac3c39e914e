"""``democratising.train``: the seed guide's training features as a library.

``TrainingConfig`` (TOML/JSON, ``key=value`` overrides) describes a run; ``Trainer`` runs it
with gradient accumulation, clipping, AMP, schedulers, callbacks, progress and resumable
checkpoints; ``train_with_config`` is the one-call form; ``find_batch_size`` is the seed's
throughput-based batch-size search.
"""

from .batch_size import MemoryLimitError, find_batch_size, search_batch_size
from .callbacks import (
    Callback,
    EarlyStopping,
    LRLogger,
    MetricsLogger,
    ModelCheckpoint,
    MonitorError,
    latest_checkpoint,
)
from .config import ConfigError, OptimizerConfig, SchedulerConfig, TrainingConfig, load_config
from .loggers import TensorBoardLogger
from .memory import MemoryEstimate, estimate_memory
from .trainer import Trainer, train_with_config

__all__ = [
    "Callback",
    "ConfigError",
    "EarlyStopping",
    "LRLogger",
    "MemoryEstimate",
    "MemoryLimitError",
    "MetricsLogger",
    "ModelCheckpoint",
    "MonitorError",
    "OptimizerConfig",
    "SchedulerConfig",
    "TensorBoardLogger",
    "Trainer",
    "TrainingConfig",
    "estimate_memory",
    "find_batch_size",
    "latest_checkpoint",
    "load_config",
    "search_batch_size",
    "train_with_config",
]
