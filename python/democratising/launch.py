"""``democratising launch``: run an ``mpiexec`` job, and when it fails, say why and relaunch it.

Why a launcher around ``mpiexec`` rather than inside the ranks: when one rank dies (killed for
memory, a node rebooting, a full disk) MPI ends the whole job, and nothing inside it survives
to restart anything. So the launcher starts ``mpiexec`` (MPICH/Hydra, Intel MPI or Open MPI,
with each one's flags), waits, and when the job fails:

* names the rank that failed first, how (exit code or signal) and the last lines of its error
  output (each rank runs under ``_rankwrap.py``, which records how its process ended);
* says how much work was lost: the steps taken since the newest complete checkpoint (rank 0 of
  the ``Trainer`` notes its step and checkpoints in the attempt's folder, ``_progress``);
* relaunches the same command, up to ``max_restarts`` times; a script that calls
  ``trainer.fit(..., resume_from="auto")`` (``democratising train`` is given ``--resume
  auto``) continues from the newest complete checkpoint;
* stops instead of looping when the job fails the same way twice without a new checkpoint.

Ctrl-C (SIGINT) is passed to ``mpiexec``, which passes it to every rank: the trainer finishes
its step, writes a checkpoint and exits; the launcher does not relaunch. Should the job not end
within ``grace`` seconds, a second SIGINT (``mpiexec``'s forced abort) and then SIGKILL follow;
checkpoints are written atomically, so none is ever left torn.

Each attempt has a folder ``LOG_DIR/attempt_K`` holding ``rank_R.json`` (how each rank ended),
``progress.json`` and the launcher's report; ``LOG_DIR`` defaults to
``runs/launch/<time>-<pid>``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

from .errors import InvalidValueError
from .train._progress import LAUNCH_DIR_ENV, read_progress

__all__ = [
    "Failure",
    "LaunchResult",
    "add_arguments",
    "build_command",
    "diagnose",
    "find_mpiexec",
    "launch",
    "mpi_flavour",
    "run_command",
]

#: Set in every rank: which attempt this is (0 for the first launch).
RESTART_ENV = "DEMOCRATISING_RESTART"
#: Exit status of a launch stopped by Ctrl-C.
EXIT_INTERRUPTED = 130
_WRAPPER = Path(__file__).with_name("_rankwrap.py")


# ---- MPI --------------------------------------------------------------------------------------


def find_mpiexec() -> Optional[str]:
    """``mpiexec`` beside this Python (a virtual environment's), else on ``PATH``."""
    for name in ("mpiexec", "mpirun"):
        beside = Path(sys.executable).parent / name
        if beside.exists() and os.access(beside, os.X_OK):
            return str(beside)
    for name in ("mpiexec", "mpirun"):
        found = shutil.which(name)
        if found:
            return found
    return None


def mpi_flavour(mpiexec: str) -> str:
    """``"openmpi"``, ``"mpich"`` (MPICH's Hydra, also Intel MPI's) or ``"unknown"``, from
    ``mpiexec --version``."""
    try:
        out = subprocess.run(
            [mpiexec, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = out.stdout + out.stderr
    if "Open MPI" in text or "OpenRTE" in text or "open-mpi" in text:
        return "openmpi"
    if "HYDRA" in text or "MPICH" in text or "Intel(R) MPI" in text:
        return "mpich"
    return "unknown"


def _rank_command(command: Sequence[str]) -> list[str]:
    """What each rank runs: a ``.py`` script (or ``-m module``) with this Python, anything
    else as given."""
    cmd = list(command)
    if not cmd:
        raise InvalidValueError("nothing to launch: give a script (script.py args...)")
    if cmd[0].endswith(".py") or cmd[0] in ("-m", "-c"):
        return [sys.executable, *cmd]
    return cmd


def build_command(
    mpiexec: str,
    flavour: str,
    n: int,
    command: Sequence[str],
    attempt_dir: Path,
    hostfile: Optional[str] = None,
) -> list[str]:
    """The ``mpiexec`` line of one attempt: each rank is ``_rankwrap.py`` around ``command``."""
    cmd = [mpiexec, "-n", str(n)]
    if flavour == "openmpi":
        if hostfile:
            cmd += ["--hostfile", hostfile]
        elif n > (os.cpu_count() or 1):
            cmd += ["--oversubscribe"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd += ["--allow-run-as-root"]
        # Open MPI does not pass the environment to remote nodes unless told.
        for name in (LAUNCH_DIR_ENV, RESTART_ENV, "PYTHONPATH"):
            cmd += ["-x", name]
    elif hostfile:  # Hydra (MPICH, Intel MPI) passes the whole environment by default
        cmd += ["-f", hostfile]
    wrapper = [sys.executable, str(_WRAPPER), str(attempt_dir), "--"]
    return cmd + wrapper + _rank_command(command)


# ---- what went wrong --------------------------------------------------------------------------


@dataclasses.dataclass
class Failure:
    """How an attempt failed: the first rank to fail, how, and its last error lines."""

    rank: Optional[int]
    returncode: Optional[int]
    signal: Optional[int]
    lines: list[str]
    mpiexec_status: int
    #: The exception's type name, when the rank recorded an uncaught exception.
    exception: Optional[str] = None

    @property
    def how(self) -> str:
        if self.exception is not None:
            code = f" (exit status {self.returncode})" if self.returncode is not None else ""
            return f"raised {self.exception}{code}"
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"was killed by signal {self.signal} ({name})"
        if self.returncode is not None:
            return f"exited with status {self.returncode}"
        return f"failed (mpiexec exited with status {self.mpiexec_status})"

    @property
    def signature(self) -> tuple[Any, ...]:
        """Two failures with equal signatures failed 'the same way'."""
        last = self.lines[-1] if self.lines else ""
        return (self.rank, self.returncode, self.signal, last)

    def describe(self) -> str:
        who = f"rank {self.rank}" if self.rank is not None else "an unknown rank"
        text = f"{who} {self.how}"
        if self.lines:
            text += ":\n" + "\n".join(f"    {ln}" for ln in self.lines)
        return text


def _last_lines(tail: list[str], keep: int = 6) -> list[str]:
    """The end of the last traceback in ``tail`` (else its last non-empty lines)."""
    lines = [ln for ln in tail if ln.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("Traceback (most recent call last)"):
            block = lines[i:]
            # The exception line(s) end a traceback; what follows is the abort chatter.
            end = next(
                (j for j in range(1, len(block)) if not block[j].startswith((" ", "\t"))),
                len(block) - 1,
            )
            return block[max(1, end - keep + 1) : end + 1]
    return lines[-keep:]


def _read_json(p: Path) -> Optional[dict[str, Any]]:
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("rank"), int) else None


def diagnose(attempt_dir: Path, mpiexec_status: int) -> Failure:
    """The first rank to fail in ``attempt_dir``: by the time its process ended
    (``rank_R.json``, from ``_rankwrap``) or it recorded an uncaught exception
    (``rank_R.exception.json``, from the abort hook: MPI's abort may kill the wrappers before
    they can write)."""
    events: list[tuple[float, int, dict[str, Any], str]] = []
    ended: dict[int, dict[str, Any]] = {}
    for p in attempt_dir.glob("rank_*.json"):
        st = _read_json(p)
        if st is None:
            continue
        kind = "exception" if p.name.endswith(".exception.json") else "status"
        if kind == "status":
            ended[st["rank"]] = st
            if st.get("returncode") in (0, None):
                continue
        events.append((float(st.get("time") or 0.0), st["rank"], st, kind))
    if not events:
        return Failure(None, None, None, [], mpiexec_status)
    _, rank, first, kind = min(events, key=lambda e: (e[0], e[3] != "exception"))
    status = ended.get(rank, first if kind == "status" else {})
    code, sig = status.get("returncode"), status.get("signal")
    code = int(code) if isinstance(code, int) else None
    sig = int(sig) if isinstance(sig, int) else None
    if kind == "exception":
        lines = _last_lines([str(x) for x in first.get("lines") or []])
        last = lines[-1] if lines else ""
        name = last.split(":", 1)[0].strip() if ":" in last else "an exception"
        return Failure(rank, code, sig, lines, mpiexec_status, exception=name or None)
    tail = [str(x) for x in first.get("stderr_tail") or []]
    return Failure(rank, code, sig, _last_lines(tail), mpiexec_status)


# ---- the loop ---------------------------------------------------------------------------------


@dataclasses.dataclass
class LaunchResult:
    """What ``launch`` did: its exit status, every attempt's failure, and why it stopped."""

    status: int
    attempts: int
    failures: list[Failure]
    reason: str
    log_dir: Path


def _default_log_dir() -> Path:
    return Path("runs") / "launch" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"


def launch(
    command: Sequence[str],
    n: int,
    max_restarts: int = 0,
    hostfile: Optional[str] = None,
    log_dir: Optional[os.PathLike[str] | str] = None,
    mpiexec: Optional[str] = None,
    grace: float = 60.0,
    out: Optional[TextIO] = None,
    env: Optional[dict[str, str]] = None,
    restart_command: Optional[Sequence[str]] = None,
) -> LaunchResult:
    """Runs ``command`` (``script.py args``, ``-m module args`` or a program) on ``n`` ranks
    under ``mpiexec``, relaunching it (as ``restart_command`` when given) up to
    ``max_restarts`` times when it fails (see the module docstring). Reports go to ``out``
    (standard error)."""
    out = out if out is not None else sys.stderr
    if n < 1:
        raise InvalidValueError(f"-n must be >= 1, got {n}")
    if max_restarts < 0:
        raise InvalidValueError(f"--max-restarts must be >= 0, got {max_restarts}")
    mpiexec = mpiexec or find_mpiexec()
    if mpiexec is None:
        raise FileNotFoundError("no mpiexec found (install MPICH or Open MPI, or give --mpiexec)")
    flavour = mpi_flavour(mpiexec)
    root = Path(log_dir) if log_dir is not None else _default_log_dir()
    root.mkdir(parents=True, exist_ok=True)

    def say(message: str) -> None:
        out.write(f"democratising launch: {message}\n")
        out.flush()

    failures: list[Failure] = []
    best_checkpoint: Optional[int] = None  # the newest complete checkpoint's step, all attempts
    status = 1
    for attempt in range(max_restarts + 1):
        adir = root / f"attempt_{attempt}"
        adir.mkdir(parents=True, exist_ok=True)
        this = command if attempt == 0 or restart_command is None else restart_command
        cmd = build_command(mpiexec, flavour, n, this, adir.resolve(), hostfile)
        run_env = dict(os.environ if env is None else env)
        run_env[LAUNCH_DIR_ENV] = str(adir.resolve())
        run_env[RESTART_ENV] = str(attempt)
        if attempt:
            say(f"relaunching (restart {attempt} of {max_restarts})")
        started = time.time()
        status, interrupted = _run_job(cmd, run_env, grace, say)
        notes = read_progress(adir)
        if status == 0:
            say(f"the job finished after {attempt + 1} attempt(s) ({time.time() - started:.1f} s)")
            return LaunchResult(0, attempt + 1, failures, "finished", root)
        if interrupted:
            say(
                "stopped by Ctrl-C: every rank was asked to stop; checkpoints written so far are "
                "intact (the next launch resumes from the newest)"
            )
            return LaunchResult(EXIT_INTERRUPTED, attempt + 1, failures, "interrupted", root)
        failure = diagnose(adir, status)
        failures.append(failure)
        ckpt_step = notes.get("checkpoint_step")
        progressed = isinstance(ckpt_step, int) and (
            best_checkpoint is None or ckpt_step > best_checkpoint
        )
        resume_step = ckpt_step if isinstance(ckpt_step, int) else best_checkpoint
        if progressed:
            best_checkpoint = ckpt_step
        lines = [f"attempt {attempt + 1} failed: {failure.describe()}"]
        lines.append(_lost_text(notes, resume_step))
        lines.append(f"its logs: {adir}")  # attempt_0 is the first attempt
        report = "\n".join(lines)
        say(report)
        try:
            (adir / "failure.txt").write_text(report + "\n", encoding="utf-8")
        except OSError:
            pass
        if len(failures) >= 2 and failures[-2].signature == failure.signature and not progressed:
            say(
                "the job failed the same way twice without writing a new checkpoint in "
                "between; not relaunching (fix the cause, then launch again: it resumes from "
                "the newest checkpoint)"
            )
            return LaunchResult(status, attempt + 1, failures, "no progress", root)
    say(f"giving up after {max_restarts} restart(s)")
    return LaunchResult(status, max_restarts + 1, failures, "max restarts", root)


def _lost_text(notes: dict[str, Any], resume_step: Optional[int]) -> str:
    step = notes.get("step")
    if not isinstance(step, int):
        return "work lost: unknown (the job reported no training steps)"
    base = resume_step if resume_step is not None else 0
    lost = max(0, step - base)
    where = (
        f"the checkpoint at step {resume_step}"
        if resume_step is not None
        else "the start (no checkpoint was written)"
    )
    age = ""
    when = notes.get("time")
    if isinstance(when, (int, float)):
        ago = max(0.0, time.time() - when)
        age = f"; the last progress note was {ago:.1f} s before this report"
    return f"work lost: at least {lost} optimizer step(s), from step {step} back to {where}{age}"


def _run_job(
    cmd: list[str], env: dict[str, str], grace: float, say: Callable[[str], None]
) -> tuple[int, bool]:
    """Runs one ``mpiexec``; returns ``(status, interrupted)``. SIGINT to this process is
    passed to ``mpiexec`` (which passes it to the ranks); after ``grace`` seconds a second
    SIGINT forces the abort, and 10 s later the whole process group is killed."""
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    interrupted_at: list[float] = []

    def on_sigint(signum: int, frame: Any) -> None:
        if not interrupted_at:
            say("Ctrl-C: asking every rank to finish its step, save and stop")
        interrupted_at.append(time.monotonic())
        try:
            proc.send_signal(signal.SIGINT)
        except OSError:
            pass

    old = None
    try:
        old = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:  # not the main thread: Ctrl-C is the caller's business
        pass
    forced = killed = False
    try:
        while True:
            try:
                return proc.wait(timeout=0.2), bool(interrupted_at)
            except subprocess.TimeoutExpired:
                pass
            if not interrupted_at:
                continue
            waited = time.monotonic() - interrupted_at[0]
            if waited > grace and not forced:
                forced = True
                say(f"the job did not stop within {grace:g} s; forcing it")
                try:
                    proc.send_signal(signal.SIGINT)
                except OSError:
                    pass
            if waited > grace + 10 and not killed:
                killed = True
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except OSError:
                    pass
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
        if proc.poll() is None:  # an exception here (a second Ctrl-C in our own code)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.wait()


# ---- command line -----------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser, command: bool = True) -> None:
    """The launcher's options (and, with ``command``, the command to launch)."""
    p.add_argument("-n", "--np", dest="ranks", type=int, metavar="N", help="number of ranks")
    p.add_argument(
        "--max-restarts",
        type=int,
        default=None,
        metavar="R",
        help="relaunch a failed job up to R times (default 3 for launch)",
    )
    p.add_argument("--hostfile", metavar="FILE", help="hosts for mpiexec (-f / --hostfile)")
    p.add_argument(
        "--log-dir",
        metavar="DIR",
        help="where each attempt's rank reports go (default runs/launch/<time>-<pid>)",
    )
    p.add_argument("--mpiexec", metavar="PATH", help="the mpiexec to use (default: found)")
    if command:
        p.add_argument(
            "launch_command",
            metavar="command",
            nargs=argparse.REMAINDER,
            help="script.py args... (or -m module args..., or a program); put -- before it",
        )


def run_command(
    args: argparse.Namespace,
    command: Optional[Sequence[str]] = None,
    restart_command: Optional[Sequence[str]] = None,
) -> int:
    """``democratising launch`` (and ``democratising train -n N``); returns the exit status."""
    cmd = list(command if command is not None else args.launch_command)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        print("democratising launch: error: give the script (-- script.py args)", file=sys.stderr)
        return 2
    if args.ranks is None or args.ranks < 1:
        print("democratising launch: error: give the number of ranks, -n N", file=sys.stderr)
        return 2
    restarts = 3 if args.max_restarts is None else args.max_restarts
    try:
        result = launch(
            cmd,
            args.ranks,
            max_restarts=restarts,
            hostfile=args.hostfile,
            log_dir=args.log_dir,
            mpiexec=args.mpiexec,
            restart_command=restart_command,
        )
    except (ValueError, FileNotFoundError) as e:
        print(f"democratising launch: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C between two attempts: no job is running
        print("democratising launch: stopped by Ctrl-C", file=sys.stderr)
        return EXIT_INTERRUPTED
    return result.status


#: The launcher's own options of ``democratising train`` and how many values each takes.
_LAUNCH_FLAGS = {"-n": 1, "--np": 1, "--max-restarts": 1, "--hostfile": 1, "--log-dir": 1,
                 "--mpiexec": 1}  # fmt: skip


def strip_launch_flags(argv: Sequence[str], drop: Sequence[str] = ()) -> list[str]:
    """``argv`` without the launcher's options (and the options ``drop``, with their value)."""
    flags = dict(_LAUNCH_FLAGS, **{d: 1 for d in drop})
    out: list[str] = []
    skip = 0
    for a in argv:
        if skip:
            skip -= 1
            continue
        name = a.split("=", 1)[0]
        if name in flags:
            if "=" not in a:
                skip = flags[name]
            continue
        if a.startswith("-n") and a[2:].isdigit():  # -n2
            continue
        out.append(a)
    return out
