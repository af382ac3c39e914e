"""``democratising tune CONFIG.toml --trials N``: a hyperparameter search from a config file.

The file is a training config (the fields ``democratising train --config`` reads) plus a
``[tune]`` table: the search's settings (``trials``, ``monitor``, ``mode``, ``search``,
``pruner``, ``storage``, ``study_name``, ``seed``, ``builtin``) and a ``[tune.space]`` table of
distributions (see ``tune.space``). Flags override the table.

Under ``mpirun -n N democratising tune ...`` every rank runs its share of the trials (trial
counts differ by at most one): with Optuna, against one study in a shared journal file (or
the ``--storage`` given), whose trial numbers are unique however the ranks interleave; with
the built-in searches, rank ``r`` takes points ``r, r + N, ...`` of the same list. The trials
themselves are single-process (MPI is only started at the end, to gather the results on rank
0), so ranks never wait for each other while training. Rank 0 prints the summary and writes
``<runs_dir>/tune/<study>/best.toml`` (the best config, for ``democratising train --config``)
and ``trials.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Callable, Optional

from .. import _core, _launcher
from .._extras import MissingExtraError
from ..errors import DemocratisingError
from ..train.command import CLI_DEFAULTS, _add_set_argument, _data, _load_factory
from ..train.config import ConfigError, TrainingConfig, _read_file
from .search import TuneResult, grid_search, random_search, result_from_study, run
from .space import SearchSpace

__all__ = ["add_arguments", "run_command"]

_TUNE_KEYS = {
    "trials",
    "monitor",
    "mode",
    "search",
    "pruner",
    "storage",
    "study_name",
    "seed",
    "builtin",
    "space",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="CONFIG", help="training config (.toml/.json) with [tune]")
    p.add_argument("--trials", type=int, metavar="N", help="number of trials (all ranks)")
    p.add_argument("--monitor", metavar="METRIC", help="metric to optimise (val_accuracy...)")
    p.add_argument("--mode", choices=("min", "max"), help="minimise or maximise it")
    p.add_argument(
        "--search",
        choices=("tpe", "random", "grid"),
        help="sampler (default tpe; random and grid also work without optuna, see --builtin)",
    )
    p.add_argument(
        "--builtin",
        action="store_true",
        help="use the built-in random/grid search (no optuna needed)",
    )
    p.add_argument("--pruner", choices=("median", "hyperband", "none"), help="default median")
    p.add_argument(
        "--storage",
        metavar="SPEC",
        help="Optuna storage: journal:PATH, a path, or sqlite:///FILE.db (default: in memory; "
        "under mpirun a journal file in the output folder)",
    )
    p.add_argument("--study", dest="study_name", metavar="NAME", help="study name")
    p.add_argument(
        "--seed",
        type=int,
        help="sampler seed (default: the config's seed); with --builtin --search grid it "
        "shuffles the grid (default: grid order)",
    )
    p.add_argument("--epochs", type=int, metavar="N", help="epochs per trial")
    p.add_argument("--data", default="digits", metavar="SPEC", help="as for democratising train")
    p.add_argument("--model", metavar="SPEC", help="'pkg.module:factory' (default: the MLP)")
    _add_set_argument(p)
    p.add_argument("--out", metavar="DIR", help="output folder (default runs_dir/tune/STUDY)")


def _settings(args: argparse.Namespace) -> tuple[TrainingConfig, dict[str, Any]]:
    data = _read_file(Path(args.config))
    table = data.pop("tune", None)
    if not isinstance(table, dict) or "space" not in table:
        raise ConfigError(
            f"{args.config}: a [tune] table with a [tune.space] table of parameters is needed"
        )
    unknown = set(table) - _TUNE_KEYS
    if unknown:
        raise ConfigError(f"[tune]: unknown keys {sorted(unknown)}; expected {sorted(_TUNE_KEYS)}")
    for key in ("trials", "monitor", "mode", "search", "pruner", "storage", "study_name", "seed"):
        value = getattr(args, key)
        if value is not None:
            table[key] = value
    if args.builtin:
        table["builtin"] = True
    table.setdefault("study_name", Path(args.config).stem)
    base = TrainingConfig.from_dict({**CLI_DEFAULTS, "run_name": table["study_name"], **data})
    extra = list(args.overrides)
    if args.epochs is not None:
        extra.append(f"num_epochs={args.epochs}")
    return base.with_overrides(extra), table


def _model_factory(args: argparse.Namespace, features: int) -> Callable[[], Any]:
    if args.model:
        return _load_factory(args.model, "--model")
    if not features:
        raise ConfigError("--data from a factory needs --model pkg.module:factory")

    def mlp() -> Any:
        from ..nn import Dense, ReLU, Sequential

        return Sequential().add(Dense(features, 128)).add(ReLU()).add(Dense(128, 10)).build()

    return mlp


def _error(e: BaseException) -> int:
    lines = str(e).strip().splitlines() or [type(e).__name__]
    print(f"democratising tune: error: {lines[0]}", file=sys.stderr)
    return 2


def run_command(args: argparse.Namespace) -> int:
    """Runs ``democratising tune``; returns the exit status."""
    try:
        return _run(args)
    except KeyboardInterrupt:
        print("democratising tune: interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    rank = _launcher.rank() or 0
    size = _launcher.size() or 1
    try:
        base, table = _settings(args)
        space = SearchSpace(table["space"])
        trials = int(table.get("trials", 20))
        if trials < 1:
            raise ConfigError(f"trials must be >= 1, got {trials}")
        _core.manual_seed(base.seed)
        train, val, features, described = _data(args.data, base)
        model = _model_factory(args, features)
        runs = Path(base.runs_dir) if base.runs_dir is not None else Path("runs")
        out = Path(args.out) if args.out else runs / "tune" / str(table["study_name"])
        builtin = bool(table.get("builtin", False))
        search = str(table.get("search", "tpe"))
        if builtin and search == "tpe":
            search = "random"
    except (ConfigError, DemocratisingError, OSError) as e:
        return _error(e)
    share = trials // size + (1 if rank < trials % size else 0)
    prefix = f"[rank {rank}] " if size > 1 else ""

    def log(line: str) -> None:
        print(prefix + line, flush=True)

    if rank == 0:
        print(
            f"Tuning on {described}; {trials} trials" + (f" over {size} ranks" if size > 1 else ""),
            flush=True,
        )
    common: dict[str, Any] = dict(
        monitor=table.get("monitor"), mode=table.get("mode"), log=log, data=(train, val)
    )
    try:
        if builtin:
            numbers = list(range(rank, trials, size))
            prune = table.get("pruner", "none") != "none"
            if search == "grid":
                seed = table.get("seed")
                result = grid_search(
                    base,
                    space,
                    model,
                    trials=trials,
                    numbers=numbers,
                    prune=prune,
                    seed=None if seed is None else int(seed),
                    **common,
                )
            else:
                seed = table.get("seed")
                result = random_search(
                    base,
                    space,
                    model,
                    trials=trials,
                    numbers=numbers,
                    seed=seed,
                    prune=prune,
                    **common,
                )
        else:
            storage = table.get("storage")
            if storage is None and size > 1:
                storage = f"journal:{out / 'study.journal'}"
            seed = table.get("seed")
            seed = (base.seed if seed is None else int(seed)) + rank
            result = run(
                base,
                space,
                model,
                trials=share,
                search=search,
                pruner=table.get("pruner", "median"),
                storage=storage,
                study_name=str(table["study_name"]),
                seed=seed,
                user_attrs={"rank": rank},
                **common,
            )
    except MissingExtraError as e:
        return _error(MissingExtraError(f"{e}; or run the built-in search: --builtin"))
    except (ConfigError, DemocratisingError, KeyError, ValueError) as e:
        return _error(e)
    gathered = _gather(result, builtin, rank) if size > 1 else result
    if gathered is not None:  # rank 0
        _report(gathered, out)
    return 0


def _gather(result: TuneResult, builtin: bool, rank: int) -> Optional[TuneResult]:
    """Every rank's trials on rank 0 (``None`` elsewhere), once all ranks are done: MPI is
    started only now, so no rank waited for another while training. With Optuna the study's
    storage holds them all; the built-in searches send theirs."""
    from ..distributed import World

    world = World.init(timeout=0)  # the other ranks may still be training: wait for them
    everyone = world.all_gather_object(result.trials if builtin else None)
    if rank != 0:
        return None
    if builtin:
        result.trials = sorted((t for ts in everyone for t in ts), key=lambda t: t.number)
        return result
    return result_from_study(result.study, result.base_config, result.monitor)


def _report(result: TuneResult, out: Path) -> None:
    done, pruned = len(result.completed), len(result.pruned)
    failed = len(result.trials) - done - pruned
    print(
        f"{len(result.trials)} trials: {done} complete, {pruned} pruned, {failed} failed",
        flush=True,
    )
    out.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "number": t.number,
            "state": t.state,
            "value": None if t.value is None or math.isnan(t.value) else t.value,
            "epochs": t.epochs,
            "params": t.params,
        }
        for t in sorted(result.trials, key=lambda t: t.number)
    ]
    summary = {"monitor": result.monitor, "direction": result.direction, "trials": rows}
    # Strict JSON (NaN is null above): other tools' parsers refuse a bare NaN.
    text = json.dumps(summary, indent=2, allow_nan=False, default=str)
    (out / "trials.json").write_text(text + "\n")
    if not done:
        print("No trial completed: no best config", flush=True)
        return
    best = result.best_trial
    params = ", ".join(f"{k}={v}" for k, v in best.params.items())
    print(f"Best trial {best.number}: {result.monitor} = {best.value:.4f} ({params})", flush=True)
    result.best_config.save(out / "best.toml")
    print(f"Best config: {out / 'best.toml'} (democratising train --config {out / 'best.toml'})")
