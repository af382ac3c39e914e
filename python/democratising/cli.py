"""The ``democratising`` command line: ``democratising train ...``, ``bench`` and ``--version``."""

from __future__ import annotations

import argparse
import sys


def _parser() -> argparse.ArgumentParser:
    from .train.command import add_arguments

    ap = argparse.ArgumentParser(
        prog="democratising", description="Train models with democratising."
    )
    ap.add_argument("--version", action="store_true", help="print the version and exit")
    sub = ap.add_subparsers(dest="command")
    train = sub.add_parser(
        "train",
        help="train the seed MLP (digits by default) from a TrainingConfig",
        description="Train the seed guide's MLP (Dense-ReLU-Dense, 128 hidden) with Adam on "
        "the built-in digits data (or MNIST), printing per-epoch loss, accuracy and "
        "throughput and writing resumable checkpoints.",
    )
    add_arguments(train)
    sub.add_parser("demo", help="alias of 'train' with the default settings")
    sub.add_parser(
        "bench",
        help="print a benchmark table (SGEMM, per-op overhead, MLP step; PyTorch if installed)",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
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
    if args.command in ("train", "demo"):
        if args.command == "train" and rest:
            ap.error(f"unrecognized arguments: {' '.join(rest)}")
        from .train.command import run

        if args.command == "demo":
            return main(["train", *rest])
        return run(args)
    ap.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
