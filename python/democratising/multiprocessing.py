"""``democratising.multiprocessing``: ``torch.multiprocessing``'s names.

Python's ``multiprocessing`` is re-exported (``Process``, ``Queue``, ``get_context``,
``set_start_method``...), plus PyTorch's ``spawn``/``start_processes``: run ``fn(i, *args)``
in ``nprocs`` processes and, when one fails, stop the others and raise
``ProcessRaisedException`` carrying the child's traceback (``ProcessExitedException`` when it
died without one, from a signal or ``sys.exit``). As PyTorch's reductions, a CPU tensor sent
between processes (arguments, queues, pipes) travels as a shared memory file, moved there
first, so both sides see each other's in-place writes (``_shared_memory``); the sharing
strategy is recorded for programs that set it (a memory file serves both).

Processes start with ``"spawn"`` by default, as in PyTorch: the engine runs a thread pool,
which a ``fork`` would copy in whatever state it was.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import tempfile
import time
import traceback
import types
from multiprocessing import (
    Array,
    AuthenticationError,
    Barrier,
    BoundedSemaphore,
    BufferTooShort,
    Condition,
    Event,
    JoinableQueue,
    Lock,
    Manager,
    Pipe,
    Pool,
    Process,
    ProcessError,
    Queue,
    RawArray,
    RawValue,
    RLock,
    Semaphore,
    SimpleQueue,
    TimeoutError,
    Value,
    active_children,
    allow_connection_pickling,
    cpu_count,
    current_process,
    freeze_support,
    get_all_start_methods,
    get_context,
    get_logger,
    get_start_method,
    log_to_stderr,
    parent_process,
    set_executable,
    set_forkserver_preload,
    set_start_method,
)
from typing import Any, Callable, Optional

from .errors import DemocratisingError, InvalidValueError

__all__ = [
    "Array",
    "AuthenticationError",
    "Barrier",
    "BoundedSemaphore",
    "BufferTooShort",
    "Condition",
    "Event",
    "JoinableQueue",
    "Lock",
    "Manager",
    "Pipe",
    "Pool",
    "Process",
    "ProcessContext",
    "ProcessError",
    "ProcessExitedException",
    "ProcessRaisedException",
    "Queue",
    "RLock",
    "RawArray",
    "RawValue",
    "Semaphore",
    "SimpleQueue",
    "TimeoutError",
    "Value",
    "active_children",
    "allow_connection_pickling",
    "cpu_count",
    "current_process",
    "freeze_support",
    "get_all_sharing_strategies",
    "get_all_start_methods",
    "get_context",
    "get_logger",
    "get_sharing_strategy",
    "get_start_method",
    "log_to_stderr",
    "parent_process",
    "set_executable",
    "set_forkserver_preload",
    "set_sharing_strategy",
    "set_start_method",
    "spawn",
    "start_processes",
]

# ---- sharing strategy (recorded: tensors are pickled, not shared) ----------------------------

_STRATEGIES = {"file_descriptor", "file_system"} if sys.platform != "darwin" else {"file_system"}
_STRATEGY = ["file_descriptor" if sys.platform != "darwin" else "file_system"]


def get_all_sharing_strategies() -> set[str]:
    return set(_STRATEGIES)


def get_sharing_strategy() -> str:
    return _STRATEGY[0]


def set_sharing_strategy(new_strategy: str) -> None:
    """Records PyTorch's tensor-sharing strategy; an unknown one raises as in PyTorch."""
    if new_strategy not in _STRATEGIES:
        raise InvalidValueError(
            f"invalid sharing strategy {new_strategy!r}: expected one of {sorted(_STRATEGIES)}"
        )
    _STRATEGY[0] = new_strategy


# ---- spawn -----------------------------------------------------------------------------------


class ProcessException(DemocratisingError):  # noqa: N818 - PyTorch's name  # noqa: N818 - PyTorch's name
    """A process started by ``spawn`` failed: ``error_index`` is its ``i``, ``error_pid`` its
    process id."""

    def __init__(self, msg: str, error_index: int, error_pid: int) -> None:
        super().__init__(msg)
        self.msg = msg
        self.error_index = error_index
        self.error_pid = error_pid

    def __reduce__(self) -> Any:
        return type(self), (self.msg, self.error_index, self.error_pid)


class ProcessRaisedException(ProcessException):
    """The process's ``fn`` raised: the message ends with the child's traceback."""


class ProcessExitedException(ProcessException):
    """The process ended with a nonzero ``exit_code`` (negative: killed by ``signal_name``)
    without raising in ``fn``."""

    def __init__(
        self,
        msg: str,
        error_index: int,
        error_pid: int,
        exit_code: int,
        signal_name: Optional[str] = None,
    ) -> None:
        super().__init__(msg, error_index, error_pid)
        self.exit_code = exit_code
        self.signal_name = signal_name

    def __reduce__(self) -> Any:
        args = (self.msg, self.error_index, self.error_pid, self.exit_code, self.signal_name)
        return type(self), args


def _wrap(fn: Callable[..., Any], i: int, args: tuple[Any, ...], error_file: str) -> None:
    """The child's entry point: runs ``fn(i, *args)``; on an exception, writes the formatted
    traceback to ``error_file`` for the parent and exits with status 1."""
    try:
        fn(i, *args)
    except KeyboardInterrupt:
        pass  # the parent is stopping the job (SIGINT): not an error of this process
    except Exception:
        with open(error_file, "w", encoding="utf-8") as fh:
            fh.write(traceback.format_exc())
        sys.exit(1)


class ProcessContext:
    """The processes of one ``spawn(..., join=False)``: ``join()`` waits for them."""

    def __init__(self, processes: list[Any], error_files: list[str]) -> None:
        self.processes = processes
        self.error_files = error_files
        self.sentinels = {p.sentinel: i for i, p in enumerate(processes)}

    def pids(self) -> list[int]:
        return [int(p.pid) for p in self.processes]

    def _join_all(self, timeout: float) -> None:
        end = time.monotonic() + timeout
        for p in self.processes:
            p.join(max(0.0, end - time.monotonic()))

    def join(self, timeout: Optional[float] = None, grace_period: Optional[float] = None) -> bool:
        """Waits (up to ``timeout`` seconds) for processes to end; True once all have ended
        successfully. When one failed, the others are stopped (SIGTERM after
        ``grace_period``, then SIGKILL) and its error raised."""
        if not self.sentinels:
            return True
        ready = multiprocessing.connection.wait(list(self.sentinels), timeout=timeout)
        failed: Optional[int] = None
        for sentinel in ready:
            index = self.sentinels.pop(sentinel)
            process = self.processes[index]
            process.join()
            if process.exitcode != 0:
                failed = index
                break
        if failed is None:
            if not self.sentinels:
                self._remove_error_files()
            return not self.sentinels
        if grace_period is not None:
            self._join_all(grace_period)
        for p in self.processes:
            if p.is_alive():
                p.terminate()
        self._join_all(30.0 if grace_period is None else grace_period)
        for p in self.processes:
            if p.is_alive():
                p.kill()
            p.join()
        self.sentinels.clear()
        raise self._error(failed)

    def _error(self, index: int) -> ProcessException:
        process = self.processes[index]
        path = self.error_files[index]
        trace = None
        if os.path.exists(path):
            with open(path, encoding="utf-8") as fh:
                trace = fh.read()
        self._remove_error_files()
        if trace:
            msg = f"\n\n-- Process {index:d} terminated with the following error:\n{trace}"
            return ProcessRaisedException(msg, index, process.pid)
        code = process.exitcode
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"<Unknown signal {-code}>"
            return ProcessExitedException(
                f"process {index:d} terminated with signal {name}", index, process.pid, code, name
            )
        return ProcessExitedException(
            f"process {index:d} terminated with exit code {code:d}", index, process.pid, code
        )

    def _remove_error_files(self) -> None:
        for path in self.error_files:
            if os.path.exists(path):
                os.unlink(path)


def start_processes(
    fn: Callable[..., Any],
    args: tuple[Any, ...] = (),
    nprocs: int = 1,
    join: bool = True,
    daemon: bool = False,
    start_method: str = "spawn",
) -> Optional[ProcessContext]:
    """Starts ``nprocs`` processes (``start_method``: "spawn", "fork" or "forkserver"), the
    ``i``-th running ``fn(i, *args)``; with ``join`` waits for all and raises the first
    failure, else returns their ``ProcessContext``. ``fn`` must be importable by the children
    (defined at a module's top level) under "spawn"."""
    if int(nprocs) < 1:
        raise InvalidValueError(f"nprocs must be at least 1, got {nprocs}")
    ctx: Any = multiprocessing.get_context(start_method)
    processes, error_files = [], []
    for i in range(int(nprocs)):
        # A fresh name per process; the child creates the file only if fn raises.
        fd, path = tempfile.mkstemp(prefix="democratising-errorfile-", suffix=".txt")
        os.close(fd)
        os.unlink(path)
        process = ctx.Process(target=_wrap, args=(fn, i, tuple(args), path), daemon=daemon)
        process.start()
        processes.append(process)
        error_files.append(path)
    context = ProcessContext(processes, error_files)
    if not join:
        return context
    while not context.join():
        pass
    return None


def _renamed(fn: Callable[..., Any], name: str, doc: str) -> Callable[..., Any]:
    """``fn`` itself (its code, defaults and signature) under another public name and doc,
    for a PyTorch function that is another's exact pass-through: no wrapper call."""
    new = types.FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    new.__kwdefaults__ = fn.__kwdefaults__
    new.__annotations__ = dict(fn.__annotations__)
    new.__qualname__, new.__module__, new.__doc__ = name, fn.__module__, doc
    return new


spawn = _renamed(
    start_processes,
    "spawn",
    """``torch.multiprocessing.spawn``: ``start_processes`` (with "spawn" unless told).""",
)
