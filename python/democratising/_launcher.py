"""Whether this process is one rank of an MPI job, judged from the launcher's environment
without initialising MPI, and ending the whole job when this rank fails.

MPI cannot notice a rank that fails before ``MPI_Init``: its peers wait in ``MPI_Init`` (or in
``World.init()``) for ever, and ``mpiexec`` does not end them. So importing this module (the
first thing ``import democratising`` does) installs, under a launch of more than one rank, a
``sys.excepthook`` that on an uncaught
exception initialises MPI (which pairs with the peers waiting in ``MPI_Init``) and calls
``COMM_WORLD.Abort``, and an ``atexit`` handler (:func:`join_at_exit`) by which a rank that ends
(``sys.exit`` with any status, or the end of the script) without having started MPI pairs with
its peers' ``MPI_Init`` and says goodbye, so that peers waiting in a collective end the job
naming it. This module never imports mpi4py until one of those moments: importing
``mpi4py.MPI`` initialises MPI, which must stay the program's decision."""

from __future__ import annotations

import atexit
import faulthandler
import math
import os
import sys
import time
import traceback
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Optional

#: Variables that MPICH/Hydra, Open MPI, Intel MPI, PMIx and Slurm set in every launched rank.
LAUNCHER_ENV = (
    "PMI_RANK",
    "PMI_SIZE",
    "OMPI_COMM_WORLD_SIZE",
    "OMPI_COMM_WORLD_RANK",
    "PMIX_RANK",
    "MPI_LOCALNRANKS",
    "HYDI_CONTROL_FD",
)
_RANK_ENV = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")
_SIZE_ENV = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")
_SLURM_SIZE_ENV = ("SLURM_STEP_NUM_TASKS", "SLURM_NTASKS")  # trusted only under a PMI launch

TIMEOUT_ENV = "DEMOCRATISING_DIST_TIMEOUT"
#: Seconds a collective may wait when neither ``World.init(timeout=)`` nor the environment says.
DEFAULT_TIMEOUT = 1800.0


def first_int(env: Mapping[str, str], names: tuple[str, ...]) -> Optional[int]:
    """The first of the variables ``names`` set to a whole number in ``env``, or ``None``."""
    for name in names:
        value = env.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return None


def launched(env: Optional[Mapping[str, str]] = None) -> bool:
    """True when ``mpiexec``/``mpirun``/``srun`` started this process."""
    env = os.environ if env is None else env
    return any(k in env for k in LAUNCHER_ENV)


def rank(env: Optional[Mapping[str, str]] = None) -> Optional[int]:
    """This process's rank as the launcher says, or ``None``."""
    env = os.environ if env is None else env
    return first_int(env, _RANK_ENV) if launched(env) else None


def size(env: Optional[Mapping[str, str]] = None) -> Optional[int]:
    """The number of ranks as the launcher says, or ``None`` (not launched, or not said)."""
    env = os.environ if env is None else env
    if not launched(env):
        return None
    n = first_int(env, _SIZE_ENV)
    if n is None and ("PMIX_RANK" in env or "PMI_RANK" in env):
        n = first_int(env, _SLURM_SIZE_ENV)
    return n


def multi_rank(env: Optional[Mapping[str, str]] = None) -> bool:
    """True when launched with more than one rank (or an unknown number of them)."""
    env = os.environ if env is None else env
    n = size(env)
    return launched(env) and (n is None or n > 1)


def parse_timeout(value: Any, source: str) -> float:
    """``value`` as a collective timeout in seconds; ``<= 0`` or ``inf`` means for ever.
    Raises ``DistributedError`` naming ``source`` for anything else (text, NaN)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if math.isnan(seconds):
        from .errors import DistributedError

        raise DistributedError(
            f"{source}={value!r} is not a number of seconds (use e.g. 600; 0 waits for ever)"
        )
    return math.inf if seconds <= 0 else seconds


def env_timeout() -> Optional[float]:
    """``$DEMOCRATISING_DIST_TIMEOUT`` in seconds, or ``None`` when unset or empty."""
    value = os.environ.get(TIMEOUT_ENV, "").strip()
    return parse_timeout(value, TIMEOUT_ENV) if value else None


def _lenient_timeout() -> float:
    try:
        t = env_timeout()
    except Exception:
        t = None
    return DEFAULT_TIMEOUT if t is None else t


def _write(message: str) -> None:
    try:
        sys.stdout.flush()
    except Exception:
        pass
    sys.stderr.write(f"\n{message}\n")
    sys.stderr.flush()


def abort_job(message: str, status: int = 1) -> None:
    """Prints ``message`` and ends every rank of the job with ``COMM_WORLD.Abort(status)``,
    initialising MPI first when this rank has not (that pairs with peers waiting in
    ``MPI_Init``; it waits at most the collective timeout for them, then exits this process
    alone). Returns only when MPI cannot be used (no mpi4py, MPI already finalised, or not
    launched by an MPI launcher)."""
    mpi: Any = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized():
        _write(message)
        if mpi.Is_finalized():
            return
    else:
        if not launched():
            _write(message)
            return
        seconds = _lenient_timeout()
        bounded = seconds < 1e7  # faulthandler refuses larger; inf (0 = wait forever) too
        limit = f"at most {seconds:g} s" if bounded else "with no limit"
        _write(
            f"{message} (this rank had not started MPI: it starts it now to reach the others, "
            f"waiting {limit} for them)"
        )
        if bounded:
            # MPI_Init holds the GIL, so a Python thread could not end the wait: faulthandler's
            # watchdog is a C thread. It prints where this rank was stuck, then exits.
            faulthandler.dump_traceback_later(seconds, exit=True)
        try:
            import mpi4py.MPI

            mpi = mpi4py.MPI
        except Exception as e:  # mpi4py or its MPI library is missing
            faulthandler.cancel_dump_traceback_later()
            _write(f"(cannot abort the other ranks: {type(e).__name__}: {e})")
            return
        faulthandler.cancel_dump_traceback_later()
        if not mpi.Is_initialized():  # mpi4py.rc.initialize = False: not ours to start
            return
    # The launcher forwards output asynchronously and Abort kills every process at once:
    # give it a moment to drain the pipe, or the message naming the failure can be lost.
    time.sleep(0.5)
    mpi.COMM_WORLD.Abort(status or 1)


def rank_text() -> str:
    """``"rank R of N"`` for messages (from MPI once initialised, else from the launcher)."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized():
        comm = mpi.COMM_WORLD
        return f"rank {comm.Get_rank()} of {comm.Get_size()}"
    r, n = rank(), size()
    return f"rank {'?' if r is None else r} of {'?' if n is None else n}"


#: Set by ``democratising launch`` (the attempt's folder): a rank's uncaught exception is
#: recorded there as ``rank_<R>.exception.json`` before the job is aborted, since MPI's abort
#: may kill this process before its error output reaches anyone.
LAUNCH_DIR_ENV = "DEMOCRATISING_LAUNCH_DIR"


def record_failure(lines: list[str]) -> None:
    """Under ``democratising launch``: writes ``lines`` (a traceback, an error message) with
    this rank and the time to the attempt's folder. Never raises."""
    folder = os.environ.get(LAUNCH_DIR_ENV, "").strip()
    if not folder:
        return
    try:
        import json

        r = rank()
        r = 0 if r is None else r
        path = os.path.join(folder, f"rank_{r}.exception.json")
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"rank": r, "time": time.time(), "lines": lines[-200:]}, f)
        os.replace(tmp, path)
    except Exception:
        pass


_installed = False


def install_abort_hook() -> None:
    """Chains ``sys.excepthook`` to :func:`abort_job` (exceptions in other threads are left
    alone: a dying helper thread does not stop the main one). Idempotent."""
    global _installed
    if _installed:
        return
    _installed = True
    previous = sys.excepthook

    def hook(
        exc_type: type[BaseException], exc: BaseException, tb: Optional[TracebackType]
    ) -> None:
        try:
            previous(exc_type, exc, tb)
        except Exception:
            traceback.print_exception(exc_type, exc, tb)
        if issubclass(exc_type, SystemExit):
            return
        text = "".join(traceback.format_exception(exc_type, exc, tb))
        record_failure(text.splitlines())
        abort_job(
            f"democratising: uncaught {exc_type.__name__} on {rank_text()}; "
            "aborting every rank of the job"
        )

    sys.excepthook = hook


def _world_created() -> bool:
    world = sys.modules.get("democratising.distributed.world")
    return world is not None and getattr(world, "_current", None) is not None


def _mpi_started() -> bool:
    mpi: Any = sys.modules.get("mpi4py.MPI")
    try:
        return mpi is not None and bool(mpi.Is_initialized())
    except Exception:
        return True  # cannot tell: leave MPI alone


def join_at_exit() -> None:
    """The at-exit half of the rule that no rank leaves its peers waiting in ``MPI_Init``: a
    rank of a multi-rank launch that ends (any exit status, including the end of the script)
    without ever starting MPI starts it now with ``World.init()`` (pairing with peers waiting
    in ``MPI_Init`` and in ``World.init``'s duplication of ``COMM_WORLD``) and says goodbye on
    the peers' channel, so a peer waiting in a collective aborts the job within seconds naming
    this rank, and ranks that all end without MPI simply pair up and exit. Waits at most the
    collective timeout for the peers (faulthandler's watchdog then exits this process with
    status 1). Does nothing when this process started MPI itself (its own business) or already
    has a ``World`` (then ``World.init``'s own goodbye runs at exit). Never raises."""
    if _world_created() or _mpi_started():
        return
    seconds = _lenient_timeout()
    bounded = seconds < 1e7  # faulthandler refuses larger; inf (0 = wait forever) too
    try:
        if bounded:
            # MPI_Init holds the GIL: only faulthandler's C watchdog can end the wait.
            faulthandler.dump_traceback_later(seconds, exit=True)
        try:
            from .distributed import _peers
            from .distributed.world import World

            World.init(timeout=seconds)
        finally:
            if bounded:
                faulthandler.cancel_dump_traceback_later()
        peers = _peers.current()
        if peers is not None:
            # atexit handlers registered while atexit runs are not reliably run: call it.
            peers.goodbye()
    except BaseException as e:  # at exit, never raise
        try:
            _write(f"democratising: {rank_text()} could not reach its peers at exit ({e})")
        except Exception:
            pass


_join_registered = False


def install_join_at_exit() -> None:
    """Registers :func:`join_at_exit` with ``atexit``. Idempotent."""
    global _join_registered
    if not _join_registered:
        _join_registered = True
        atexit.register(join_at_exit)


def install_abort_hook_if_launched() -> None:
    """What ``import democratising`` does under a launch of several ranks: the abort hook and
    the at-exit join (:func:`join_at_exit`)."""
    if multi_rank():
        install_abort_hook()
        install_join_at_exit()


install_abort_hook_if_launched()
