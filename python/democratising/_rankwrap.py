"""One rank of a ``democratising launch`` job: runs the rank's command as a child process and
records how it ended.

Why a wrapper: a rank killed by a signal (SIGKILL from the kernel's OOM killer, a node going
away) cannot say anything about itself, and ``mpiexec``'s own report differs between MPICH and
Open MPI. ``mpiexec`` starts this script in place of each rank (run by its path, so importing
it never imports ``democratising`` or MPI); it starts the real command with the same
environment and file descriptors (the MPI launcher's PMI connection is an inherited file
descriptor), passes its standard error through while keeping the last lines, and writes
``rank_<R>.json`` into the attempt's folder: ``{"rank", "pid", "returncode", "signal",
"stderr_tail", "time"}``. It then exits with the child's status (128 + the signal number for a
signal), so ``mpiexec`` ends the job as it would have.

The child is killed when this wrapper dies (``PR_SET_PDEATHSIG`` on Linux), so ``mpiexec``
ending the job never leaves an orphaned rank. SIGINT and SIGTERM are passed to the child (a
repeated SIGINT within a second is passed once: the launcher and ``mpiexec`` may both send
one for a single Ctrl-C, and a second one tells the trainer to stop at once).

Usage: ``python _rankwrap.py ATTEMPT_DIR -- COMMAND...``
"""

from __future__ import annotations

import collections
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Optional

#: Lines of the child's standard error kept for the report.
TAIL_LINES = 60
_RANK_ENV = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")


def _rank() -> int:
    for name in _RANK_ENV:
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return 0


def _child_setup() -> None:
    """In the child, before exec: its own process group (signals reach it only through this
    wrapper, once) and, on Linux, SIGKILL when the wrapper dies."""
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    except Exception:
        pass


def _write_status(folder: str, status: dict[str, Any]) -> None:
    path = os.path.join(folder, f"rank_{status['rank']}.json")
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(status, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        pass


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: _rankwrap.py ATTEMPT_DIR -- COMMAND...\n")
        return 2
    folder, command = argv[0], argv[2:]
    rank = _rank()
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    try:
        child = subprocess.Popen(
            command,
            stderr=subprocess.PIPE,
            close_fds=False,  # the MPI launcher's PMI descriptor must reach the rank
            preexec_fn=_child_setup,
        )
    except OSError as e:
        _write_status(
            folder,
            {"rank": rank, "pid": None, "returncode": 127, "signal": None,
             "stderr_tail": [f"cannot start {command[0]!r}: {e}"], "time": time.time()},
        )  # fmt: skip
        sys.stderr.write(f"democratising launch: rank {rank}: cannot start {command!r}: {e}\n")
        return 127
    last_int = [0.0]

    def forward(signum: int, frame: Any) -> None:
        if signum == signal.SIGINT:
            now = time.monotonic()
            if now - last_int[0] < 1.0:
                return
            last_int[0] = now
        try:
            child.send_signal(signum)
        except OSError:
            pass

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)

    def pump() -> None:
        assert child.stderr is not None
        out = sys.stderr.buffer
        for line in iter(child.stderr.readline, b""):
            try:
                out.write(line)
                out.flush()
            except OSError:
                pass
            tail.append(line.decode("utf-8", "replace").rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    code = child.wait()
    ended = time.time()
    reader.join(timeout=2.0)
    sig: Optional[int] = -code if code < 0 else None
    _write_status(
        folder,
        {"rank": rank, "pid": child.pid, "returncode": code, "signal": sig,
         "stderr_tail": list(tail), "time": ended},
    )  # fmt: skip
    return 128 + sig if sig is not None else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
