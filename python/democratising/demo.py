"""``python -m democratising.demo``: kept for old scripts; it is ``democratising train``
(the seed MLP on the built-in digits data) with the same arguments."""

from __future__ import annotations

from .cli import main as _cli_main


def main(argv: list[str] | None = None) -> int:
    return _cli_main(["train", *(argv or [])])


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
