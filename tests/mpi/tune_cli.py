"""``democratising tune ...`` as one rank of an MPI job: the command line's ``main`` with this
script's arguments (the CLI entry point, without needing the installed console script)."""

from __future__ import annotations

import sys

from democratising.cli import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
