"""``democratising train``: the seed's MLP on a built-in dataset, driven by a TrainingConfig.

Why here and not in ``cli.py``: the command is training logic (data, model, resume), while
``cli.py`` only parses arguments and dispatches.

Run settings come from the command line, the config file and the CLI defaults, never from a
``--resume`` checkpoint: a checkpoint is untrusted input and restores state only, so a crafted
file cannot choose where checkpoints are written or which files are pruned. Every usage error
(a bad config value, a bad or unverified checkpoint) is one ``error:`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Any

from .. import _core, _launcher
from ..data import TensorDataset, random_split
from ..errors import DemocratisingError
from .callbacks import latest_checkpoint
from .config import ConfigError, TrainingConfig
from .trainer import Trainer

__all__ = ["add_arguments", "run"]

#: Where ``democratising train`` writes checkpoints unless told otherwise.
DEFAULT_CHECKPOINT_DIR = "checkpoints"


def cli_defaults() -> TrainingConfig:
    """What ``democratising train`` uses when no config file says otherwise: the library's
    defaults with 20 epochs, checkpoints in ``checkpoints/``, the newest 3 kept."""
    return TrainingConfig(num_epochs=20, checkpoint_dir=DEFAULT_CHECKPOINT_DIR, keep_last=3)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="TrainingConfig as .toml or .json")
    p.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="override a config value, e.g. --set optimizer.weight_decay=1e-4 (repeatable)",
    )
    p.add_argument("--resume", metavar="PATH", help="checkpoint file, or a directory (newest)")
    p.add_argument(
        "--allow-unverified",
        action="store_true",
        help="resume from a checkpoint that has no checksum (e.g. from an older version)",
    )
    p.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help=f"where to write checkpoints (default: {DEFAULT_CHECKPOINT_DIR}/)",
    )
    p.add_argument("--epochs", type=int, metavar="N", help="total epochs (overrides num_epochs)")
    p.add_argument(
        "--data",
        default="digits",
        metavar="SPEC",
        help="'digits' (built in, default) or 'mnist:DIR' (IDX files in DIR)",
    )


def _resume_path(spec: str) -> Path:
    path = Path(spec)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise ConfigError(f"--resume {spec}: no epoch_NNNN.safetensors checkpoint there")
        return found
    if not path.exists():
        raise ConfigError(f"--resume {spec}: no such file or directory")
    return path


def _config(args: argparse.Namespace) -> TrainingConfig:
    """The config file (or the CLI defaults), then ``--set``, then flags; never a checkpoint."""
    if args.config is not None:
        cfg = TrainingConfig.from_file(args.config)
    else:
        cfg = cli_defaults()
    extra = list(args.overrides)
    if args.epochs is not None:
        extra.append(f"num_epochs={args.epochs}")
    if args.checkpoint_dir is not None:
        extra.append(f"checkpoint_dir={args.checkpoint_dir}")
    cfg = cfg.with_overrides(extra)
    if cfg.checkpoint_dir is None:
        cfg = cfg.with_overrides([f"checkpoint_dir={DEFAULT_CHECKPOINT_DIR}"])
    return cfg


def _dataset(spec: str) -> tuple[Any, Any, int]:
    from .. import datasets

    if spec == "digits":
        x, y = datasets.digits()
    elif spec.startswith("mnist:"):
        x, y = datasets.mnist(spec.split(":", 1)[1], train=True)
        x = x.reshape(x.shape[0], -1)
    else:
        raise ConfigError(f"--data {spec!r}: expected 'digits' or 'mnist:DIR'")
    return x, y, int(x.shape[1])


def _distributed(model: Any) -> tuple[Any, Any]:
    """Under ``mpirun -n N``: init the world and wrap the model data-parallel, so each rank
    trains on its shard and gradients are averaged. A single process is left unchanged."""
    try:
        dist = importlib.import_module("democratising.distributed")
    except ImportError:
        return model, None
    world = dist.init_if_launched()
    if world is None or world.size() == 1:
        return model, world
    return dist.DistributedDataParallel(model, world), world


def _usage_error(e: BaseException) -> int:
    """One line on stderr (the first line of the message) and exit status 2."""
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    # The library's advice names the keyword argument; here it is the flag.
    text = text.replace("allow_unverified=True", "--allow-unverified")
    print(f"democratising train: error: {text}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Runs ``democratising train``; returns the exit status."""
    from ..nn import Dense, ReLU, Sequential

    try:
        resume = _resume_path(args.resume) if args.resume else None
        cfg = _config(args)
        x, y, features = _dataset(args.data)
        if _launcher.launched():  # a bad $DEMOCRATISING_DIST_TIMEOUT is a usage error too
            _launcher.env_timeout()
    except (ConfigError, DemocratisingError, OSError) as e:
        return _usage_error(e)
    _core.manual_seed(cfg.seed)
    model = Sequential().add(Dense(features, 128)).add(ReLU()).add(Dense(128, 10)).build()
    try:
        model, world = _distributed(model)
    except DemocratisingError as e:  # e.g. mpi4py missing
        return _usage_error(e)
    train, val = random_split(
        TensorDataset(x, y), [1 - cfg.val_fraction, cfg.val_fraction], cfg.seed
    )
    try:
        trainer = Trainer(model, cfg, world=world)  # a bad device fails here, before training
        trainer.log(f"{args.data}: {len(train)} train / {len(val)} validation samples")
        trainer.log(repr(model))
        # A bad --resume file is a usage error too: it is read and checked before training.
        loaders = trainer._setup_fit(
            train,
            val if len(val) else None,
            resume,
            allow_unverified=getattr(args, "allow_unverified", False),
        )
    except (ConfigError, DemocratisingError, OSError) as e:
        return _usage_error(e)
    try:
        trainer._run_fit(*loaders)
    except (ConfigError, DemocratisingError) as e:
        print(f"democratising train: error: {e}", file=sys.stderr)
        return 1
    latest = latest_checkpoint(cfg.checkpoint_dir) if cfg.checkpoint_dir else None
    if latest is not None:
        trainer.log(f"Checkpoint: {latest}")
    return 0
