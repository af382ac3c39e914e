"""The ``democratising`` command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="democratising")
    ap.add_argument("--version", action="store_true", help="print the version and exit")
    sub = ap.add_subparsers(dest="command")
    sub.add_parser("demo", help="train the seed MLP on the digits data")
    args, rest = ap.parse_known_args(argv)
    if args.version:
        from . import __version__

        print(f"democratising {__version__}")
        return 0
    if args.command == "demo":
        from .demo import main as demo

        return demo(rest)
    ap.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
