"""``democratising train``: the seed's MLP on a built-in dataset (or your own model and data),
driven by a TrainingConfig.

Why here and not in ``cli.py``: the command is training logic (data, model, resume), while
``cli.py`` only parses arguments and dispatches.

Run settings come from the command line, the config file and the CLI defaults (``CLI_DEFAULTS``,
the same with and without ``--config``), never from a ``--resume`` checkpoint: a checkpoint is
untrusted input and restores state only, so a crafted file cannot choose where checkpoints are
written or which files are pruned. Each run writes into its own ``runs/<name>/version_N/``; a
resumed run into the folder of the checkpoint it continues. Every usage error (a bad config
value, a bad or unverified checkpoint) is an ``error:`` message and exit status 2; Ctrl-C saves
a checkpoint, says how to resume and exits with status 130.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable

from .. import _core, _launcher
from ..data import Dataset, TensorDataset, random_split
from ..errors import DemocratisingError
from .config import ConfigError, TrainingConfig, _read_file
from .trainer import Trainer, _resolve_data

__all__ = ["add_arguments", "run"]

#: Where ``democratising train`` puts its run folders unless told otherwise.
DEFAULT_RUNS_DIR = "runs"
#: What ``democratising train`` uses where neither the config file nor a flag says otherwise,
#: with and without ``--config``: 20 epochs, the newest 3 checkpoints kept, a folder per run.
CLI_DEFAULTS: dict[str, Any] = {"num_epochs": 20, "keep_last": 3, "runs_dir": DEFAULT_RUNS_DIR}
#: The exit status of a run stopped by Ctrl-C (128 + SIGINT), as shells report it.
EXIT_INTERRUPTED = 130


def cli_defaults() -> TrainingConfig:
    """The config ``democratising train`` runs without a config file (see ``CLI_DEFAULTS``)."""
    return TrainingConfig.from_dict(CLI_DEFAULTS)


def _add_set_argument(p: argparse.ArgumentParser, example: str = "", several: bool = False) -> None:
    """The repeatable ``--set KEY=VALUE`` config override (into ``args.overrides``).
    ``several``: one ``--set`` may also take several pairs (``--set a=1 b=2``, as API.md's
    ``[--set key=value ...]`` reads); only for commands without positional arguments, which
    the list would swallow."""
    p.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="extend" if several else "append",
        nargs="+" if several else None,
        default=[],
        dest="overrides",
        help=f"override a config value{example} (repeatable)",
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="TrainingConfig as .toml or .json")
    _add_set_argument(p, ", e.g. --set optimizer.weight_decay=1e-4", several=True)
    p.add_argument(
        "--resume",
        metavar="PATH",
        help="'last' (the newest run's newest checkpoint), 'auto' (the same, or start fresh "
        "when there is none), a checkpoint file, or a directory (its newest)",
    )
    p.add_argument(
        "--allow-unverified",
        action="store_true",
        help="resume from a checkpoint that has no checksum (e.g. from an older version)",
    )
    p.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        help="where to write checkpoints (default: the run folder's checkpoints/)",
    )
    p.add_argument("--epochs", type=int, metavar="N", help="total epochs (overrides num_epochs)")
    p.add_argument(
        "--data",
        default="digits",
        metavar="SPEC",
        help="'digits' (built in, default), 'mnist:DIR' (IDX files in DIR), or "
        "'pkg.module:factory' returning a Dataset, (train, val), (x, y) or loaders",
    )
    p.add_argument(
        "--model",
        metavar="SPEC",
        help="'pkg.module:factory' returning your model (default: the seed's MLP); it may "
        "define training_step/validation_step/configure_optimizers",
    )
    p.add_argument(
        "--name",
        metavar="NAME",
        help="run name: the run folder is runs/NAME/version_N (default: the data's name)",
    )
    p.add_argument(
        "--zero-stage",
        type=int,
        choices=(0, 1, 2),
        help="under mpirun: shard the optimizer state (1) and the gradients too (2) over the "
        "ranks (ZeRO; zero_stage in the config)",
    )
    p.add_argument(
        "--extend",
        choices=("stretch", "hold", "restart"),
        help="when --resume asks for more epochs than a OneCycle/cosine/linear/polynomial "
        "schedule was built for: stretch it, hold its final rate, or restart it",
    )
    from ..launch import add_arguments as add_launch_arguments

    # -n N / --max-restarts R: run this command under mpiexec through democratising launch.
    add_launch_arguments(p, command=False)


def _check_resume(spec: str) -> None:
    """A ``--resume`` that names nothing is a usage error before anything else is done."""
    if spec not in ("last", "auto") and not Path(spec).exists():
        raise ConfigError(f"--resume {spec}: no such file or directory")


def _config(args: argparse.Namespace, run_name: str) -> TrainingConfig:
    """``CLI_DEFAULTS`` under the config file's keys, then ``--set``, then flags; never a
    checkpoint. The run is named after the data unless the file or ``--name`` says."""
    data: dict[str, Any] = {**CLI_DEFAULTS, "run_name": run_name}
    if args.config is not None:
        data.update(_read_file(Path(args.config)))
    cfg = TrainingConfig.from_dict(data)
    extra = list(args.overrides)
    if args.epochs is not None:
        extra.append(f"num_epochs={args.epochs}")
    if args.checkpoint_dir is not None:
        extra.append(f"checkpoint_dir={args.checkpoint_dir}")
    if args.name is not None:
        extra.append(f"run_name={args.name}")
    if args.extend is not None:
        extra.append(f"extend_schedule={args.extend}")
    if getattr(args, "zero_stage", None) is not None:
        extra.append(f"zero_stage={args.zero_stage}")
    return cfg.with_overrides(extra)


def _is_factory(spec: str) -> bool:
    return ":" in spec and spec != "digits" and not spec.startswith("mnist:")


def _load_factory(spec: str, flag: str) -> Callable[..., Any]:
    """``pkg.module:name`` imported (the current directory first on the path, as ``python
    -m`` would have it) and the attribute returned; ``ConfigError`` naming what is missing."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"{flag} {spec!r}: expected 'pkg.module:factory'")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(f"{flag} {spec!r}: cannot import {module_name!r} ({e})") from e
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{flag} {spec!r}: {module_name!r} has no {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"{flag} {spec!r}: {attr!r} is not callable")
    return obj  # type: ignore[no-any-return]


def _run_name(args: argparse.Namespace) -> str:
    if args.model is not None:
        return args.model.partition(":")[2].split(".")[-1] or "model"
    if _is_factory(args.data):
        return args.data.partition(":")[2].split(".")[-1] or "data"
    return args.data.split(":", 1)[0]


def _dataset(spec: str) -> tuple[Any, Any, int]:
    from .. import datasets

    if spec == "digits":
        x, y = datasets.digits()
    elif spec.startswith("mnist:"):
        x, y = datasets.mnist(spec.split(":", 1)[1], train=True)
        x = x.reshape(x.shape[0], -1)
    else:
        raise ConfigError(
            f"--data {spec!r}: expected 'digits', 'mnist:DIR' or 'pkg.module:factory'"
        )
    return x, y, int(x.shape[1])


def _check_made_data(made: Any, spec: str) -> None:
    """A data factory's result must be something to train on: ``None`` or a string would
    otherwise fail later as "'NoneType' object is not iterable" or a batch of characters."""
    usable = isinstance(made, (Dataset, tuple, list)) or (
        hasattr(made, "__iter__") and not isinstance(made, (str, bytes, Mapping))
    )
    if not usable:
        raise ConfigError(
            f"--data {spec} returned {type(made).__name__}; expected a Dataset, a "
            "(train, val) pair, an (x, y) pair of tensors or a DataLoader"
        )


def _data(spec: str, cfg: TrainingConfig) -> tuple[Any, Any, int, str]:
    """``(train, val or None, input features or 0, description)`` for ``--data``."""
    if _is_factory(spec):
        factory = _load_factory(spec, "--data")
        try:
            made = factory()
        except Exception as e:  # the user's code: its error, as for --model, not a traceback
            raise ConfigError(f"--data {spec}: {type(e).__name__}: {e}") from e
        _check_made_data(made, spec)
        train, val = _resolve_data(made, cfg)
        sizes = [
            f"{len(d)} {what}"
            for d, what in ((train, "train"), (val, "validation"))
            if d is not None and hasattr(d, "__len__")
        ]
        return train, val, 0, f"{spec}: " + (" / ".join(sizes) or "data")
    x, y, features = _dataset(spec)
    train, val = random_split(
        TensorDataset(x, y), [1 - cfg.val_fraction, cfg.val_fraction], cfg.seed
    )
    desc = f"{spec}: {len(train)} train / {len(val)} validation samples"
    return train, (val if len(val) else None), features, desc


def _resume_hint(args: argparse.Namespace, ranks: int = 1) -> str:
    """The command that continues this run, ``{path}`` standing for the checkpoint."""
    parts = ["mpirun", "-n", str(ranks)] if ranks > 1 else []
    parts += ["democratising", "train"]
    for flag, value in (
        ("--config", args.config),
        ("--data", None if args.data == "digits" else args.data),
        ("--model", args.model),
        ("--epochs", args.epochs),
        ("--checkpoint-dir", args.checkpoint_dir),
        ("--name", args.name),
        ("--extend", args.extend),
    ):
        if value is not None:
            parts += [flag, str(value)]
    for item in args.overrides:
        parts += ["--set", item]
    return shlex.join(parts).replace("{", "{{").replace("}", "}}") + " --resume {path}"


def _distributed(model: Any, zero_stage: int = 0) -> tuple[Any, Any]:
    """Under ``mpirun -n N``: init the world and wrap the model data-parallel (ZeRO stage
    ``zero_stage``), so each rank trains on its shard and gradients are averaged. A single
    process is left unchanged."""
    try:
        dist = importlib.import_module("democratising.distributed")
    except ImportError:
        return model, None
    world = dist.init_if_launched()
    if world is None or world.size() == 1:
        return model, world
    return dist.DistributedDataParallel(model, world, zero_stage=zero_stage), world


def _usage_error(e: BaseException) -> int:
    """One line on stderr (the first line of the message; every problem of a config file,
    one per line) and exit status 2."""
    lines = str(e).strip().splitlines() or [type(e).__name__]
    text = "\n".join(lines) if getattr(e, "problems", None) else lines[0]
    # The library's advice names the keyword argument; here it is the flag.
    text = text.replace("allow_unverified=True", "--allow-unverified")
    text = text.replace("choose extend_schedule = ", "choose --extend ")
    text = text.replace("(num_epochs, or --epochs on the command line)", "(--epochs N)")
    text = re.sub(r": resume it with them \(they are in (.+)\)$", r": add --config \1", text)
    print(f"democratising train: error: {text}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Runs ``democratising train``; returns the exit status."""
    try:
        return _run(args)
    except KeyboardInterrupt:  # Ctrl-C before training started, or a second Ctrl-C
        print("democratising train: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _run(args: argparse.Namespace) -> int:
    from ..nn import Dense, ReLU, Sequential

    try:
        if args.resume:
            _check_resume(args.resume)
        cfg = _config(args, _run_name(args))
        _core.manual_seed(cfg.seed)  # a data factory that draws random numbers repeats them
        train, val, features, described = _data(args.data, cfg)
        if _launcher.launched():  # a bad $DEMOCRATISING_DIST_TIMEOUT is a usage error too
            _launcher.env_timeout()
        factory = _load_factory(args.model, "--model") if args.model else None
    except (ConfigError, DemocratisingError, OSError) as e:
        return _usage_error(e)
    _core.manual_seed(cfg.seed)
    if factory is not None:
        try:
            model = factory()
        except Exception as e:  # the user's code: its error, without our traceback
            return _usage_error(ConfigError(f"--model {args.model}: {type(e).__name__}: {e}"))
    elif features:
        model = Sequential().add(Dense(features, 128)).add(ReLU()).add(Dense(128, 10)).build()
    else:
        return _usage_error(ConfigError("--data from a factory needs --model pkg.module:factory"))
    try:
        model, world = _distributed(model, cfg.zero_stage)
    except DemocratisingError as e:  # e.g. mpi4py missing
        return _usage_error(e)
    try:
        trainer = Trainer(model, cfg, world=world)  # a bad device fails here, before training
        trainer.resume_hint = _resume_hint(args, trainer.world_size)
        trainer.log(described)
        trainer.log(repr(model))
        # A bad --resume file is a usage error too: it is read and checked before training.
        loaders = trainer._setup_fit(
            train,
            val,
            args.resume,
            allow_unverified=getattr(args, "allow_unverified", False),
        )
    except (ConfigError, DemocratisingError, OSError) as e:
        return _usage_error(e)
    try:
        trainer._run_fit(*loaders)
    except KeyboardInterrupt:  # the trainer saved and said how to resume
        return EXIT_INTERRUPTED
    except (ConfigError, DemocratisingError) as e:
        print(f"democratising train: error: {e}", file=sys.stderr)
        return 1
    ckpt = trainer._checkpointer
    newest = ckpt.last_path if ckpt is not None and ckpt.last_path is not None else None
    if newest is None:
        newest = trainer.resumed_from
    if newest is not None:
        trainer.log(f"Checkpoint: {newest}")
    else:
        trainer.log("No checkpoint written (no epoch was trained)")
    return 0
