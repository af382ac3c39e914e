"""The ``democratising`` command line: ``democratising train ...``, ``tune``, ``plot``,
``bench`` and ``--version``."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _parser() -> argparse.ArgumentParser:
    from .train.command import add_arguments

    ap = argparse.ArgumentParser(
        prog="democratising", description="Train models with democratising."
    )
    ap.add_argument("--version", action="store_true", help="print the version and exit")
    sub = ap.add_subparsers(dest="command")
    train = sub.add_parser(
        "train",
        help="train the seed MLP (digits by default), or your own model, from a TrainingConfig",
        description="Train the seed guide's MLP (Dense-ReLU-Dense, 128 hidden) with Adam on "
        "the built-in digits data (or MNIST), or your own model and data (--model, --data "
        "pkg.module:factory), printing per-epoch loss, accuracy and throughput and writing "
        "resumable checkpoints into a folder per run (runs/NAME/version_N). Ctrl-C saves a "
        "checkpoint and exits with status 130; --resume last continues.",
    )
    add_arguments(train)
    from .tune.command import add_arguments as add_tune_arguments

    tune = sub.add_parser(
        "tune",
        help="hyperparameter search over TrainingConfig fields (Optuna, or built-in grid/random)",
        description="Run a hyperparameter search from a training config with a [tune] table "
        "(settings) and a [tune.space] table (distributions). Under mpirun -n N every rank runs "
        "its share of the trials against one shared study. Writes best.toml and trials.json "
        "into runs/tune/STUDY (or --out).",
    )
    add_tune_arguments(tune)
    from .plot import add_arguments as add_plot_arguments

    plot = sub.add_parser(
        "plot",
        help="render the loss/metric/LR curves of runs to a PNG (matplotlib)",
        description="Plot the metrics.csv curves of one or more run folders (or folders of "
        "runs) side by side: one panel per metric, training solid, validation dashed, one "
        "colour per run.",
    )
    add_plot_arguments(plot)
    from .launch import add_arguments as add_launch_arguments

    launch = sub.add_parser(
        "launch",
        help="run a script under mpiexec, relaunching it after a failure (resume auto)",
        description="Start 'mpiexec -n N' (MPICH or Open MPI) on a script, watch the job and, "
        "when it fails, report which rank failed, why and how many steps were lost, then "
        "relaunch it up to --max-restarts times; a Trainer with fit(resume_from='auto') "
        "continues from the newest complete checkpoint. Ctrl-C stops every rank.",
    )
    add_launch_arguments(launch)
    sub.add_parser("demo", help="alias of 'train' with the default settings")
    sub.add_parser(
        "bench",
        help="print a benchmark table (SGEMM, per-op overhead, MLP step; PyTorch if installed)",
    )
    return ap


class _LastLine:
    """Forwards to a text stream and remembers the last non-empty line written through it."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.line = ""

    def write(self, text: str) -> int:
        lines = [ln for ln in str(text).splitlines() if ln.strip()]
        if lines:
            self.line = lines[-1].strip()
        return int(self._stream.write(text) or 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def main(argv: list[str] | None = None) -> int:
    """The ``democratising`` command; returns the exit status. Under an MPI launch of more than
    one rank, a failure on this rank (a non-zero status, including argparse's) aborts every
    rank of the job, naming this rank and its error, instead of leaving the others waiting."""
    from . import _launcher

    if not _launcher.multi_rank():
        return _run(argv)
    tee = _LastLine(sys.stderr)
    sys.stderr = tee  # type: ignore[assignment]  # a forwarding proxy
    try:
        try:
            status = _run(argv)
        except SystemExit as e:
            status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if not status:
                raise
    finally:
        if sys.stderr is tee:
            sys.stderr = tee._stream
    if status and status != 130:  # 130: Ctrl-C, which every rank saw and stopped for
        command = next((a for a in (argv or sys.argv[1:]) if not a.startswith("-")), "")
        name = f"democratising {command}".strip()
        line = tee.line.removeprefix(f"{name}: ").removeprefix("democratising: ")
        line = line.removeprefix("error: ")
        error = f" ({line})" if line else ""
        _launcher.record_failure([f"{name}: exit status {status}{error}"])
        _launcher.abort_job(
            f"{name}: {_launcher.rank_text()} failed with exit status {status}{error}; "
            "aborting every rank of the job",
            status,
        )
    return status


def _run(argv: list[str] | None) -> int:
    ap = _parser()
    args, rest = ap.parse_known_args(argv)
    if args.version:
        from . import __version__

        print(f"democratising {__version__}")
        return 0
    if args.command == "bench":
        if rest:
            ap.error(f"unrecognized arguments: {' '.join(rest)}")
        from .benchmark import run as bench

        return bench()
    if args.command == "plot":
        if rest:
            ap.error(f"unrecognized arguments: {' '.join(rest)}")
        from .plot import run_command as plot_command

        return plot_command(args)
    if args.command == "tune":
        if rest:
            ap.error(f"unrecognized arguments: {' '.join(rest)}")
        from .tune.command import run_command

        return run_command(args)
    if args.command == "launch":
        from .launch import run_command as launch_command

        return launch_command(args, [*args.launch_command, *rest] if rest else None)
    if args.command == "train" and (args.ranks is not None or args.max_restarts is not None):
        from . import _launcher

        if not _launcher.launched():  # the launch form: mpiexec around 'train', resume auto
            from .launch import run_command as launch_command
            from .launch import strip_launch_flags

            if rest:
                ap.error(f"unrecognized arguments: {' '.join(rest)}")
            given = list(sys.argv[1:] if argv is None else argv)
            own = strip_launch_flags(given[given.index("train") :])
            base = ["-m", "democratising.cli", *own]
            again = ["-m", "democratising.cli", *strip_launch_flags(own, ("--resume",))]
            args.ranks = 1 if args.ranks is None else args.ranks
            return launch_command(args, base, [*again, "--resume", "auto"])
    if args.command in ("train", "demo"):
        if args.command == "train" and rest:
            ap.error(f"unrecognized arguments: {' '.join(rest)}")
        from .train.command import run

        if args.command == "demo":
            return _run(["train", *rest])
        return run(args)
    ap.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
