"""``democratising.profiler``: a wall-clock profiler with ``torch.profiler``'s interface.

``with profile() as prof:`` records, on every thread, the time spent in each
``record_function("name")`` region and in each module's forward (``nn.Module: Linear``), with
the time nested regions take subtracted for the "self" columns; ``prof.key_averages().table(
sort_by="cpu_time_total", row_limit=10)`` prints PyTorch's table. ``record_shapes=True``
keeps each module call's input shapes (``key_averages(group_by_input_shape=True)``).
``schedule``/``step``/``on_trace_ready``/``tensorboard_trace_handler`` and
``export_chrome_trace`` (Chrome's trace-event JSON) work as PyTorch's.

What it does not see: the engine's individual ops (it records no per-op events, so no
``aten::mm`` rows) and device time (the CUDA/device columns are zero: CUDA work runs
asynchronously and is timed only where the host waits for it). Outside a ``profile`` block a
``record_function`` costs one list check, and module calls nothing (the hooks that time them
are registered only while a profile records).
"""

from __future__ import annotations

import enum
import json
import os
import threading
import time
import warnings
from collections.abc import Iterable
from typing import Any, Callable, Optional

__all__ = [
    "EventList",
    "FunctionEvent",
    "FunctionEventAvg",
    "ProfilerAction",
    "ProfilerActivity",
    "kineto_available",
    "profile",
    "record_function",
    "schedule",
    "supported_activities",
    "tensorboard_trace_handler",
]


class ProfilerActivity(enum.Enum):
    """The kinds of activity PyTorch's profiler can trace; here host (CPU) time is
    measured for each of them."""

    CPU = 0
    XPU = 1
    MTIA = 2
    CUDA = 3
    HPU = 4
    PrivateUse1 = 5


class ProfilerAction(enum.Enum):
    """What a ``schedule`` asks the profiler to do at a step."""

    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def supported_activities() -> set[ProfilerActivity]:
    return {ProfilerActivity.CPU}


def kineto_available() -> bool:
    """False: there is no Kineto (device tracing) here."""
    return False


def schedule(
    *,
    wait: int,
    warmup: int,
    active: int,
    repeat: int = 0,
    skip_first: int = 0,
    skip_first_wait: int = 0,
) -> Callable[[int], ProfilerAction]:
    """PyTorch's step schedule: after ``skip_first`` steps, cycles of ``wait`` idle steps,
    ``warmup`` steps and ``active`` recorded steps (the last of each cycle saves: the
    ``on_trace_ready`` handler runs), ``repeat`` cycles (0: for ever)."""
    if not (wait >= 0 and warmup >= 0 and active > 0 and repeat >= 0 and skip_first >= 0):
        raise ValueError("Invalid profiler schedule arguments")
    if warmup == 0:
        warnings.warn(
            "Profiler won't be using warmup, this can skew profiler results", stacklevel=2
        )

    def schedule_fn(step: int) -> ProfilerAction:
        if step < 0:
            raise ValueError(f"step must be non-negative, got {step}")
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if skip_first_wait != 0:
            step += wait
        num_steps = wait + warmup + active
        if repeat > 0 and step / num_steps >= repeat:
            return ProfilerAction.NONE
        mod_step = step % num_steps
        if mod_step < wait:
            return ProfilerAction.NONE
        if mod_step < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if mod_step < num_steps - 1 else ProfilerAction.RECORD_AND_SAVE

    return schedule_fn


def _default_schedule(step: int) -> ProfilerAction:
    return ProfilerAction.RECORD


# ---- events ----------------------------------------------------------------------------------


class _CpuOnlyColumns:
    """The device and memory columns of PyTorch's events, for ``FunctionEvent`` and
    ``FunctionEventAvg``: there is no device tracing here, so they read zero (and sort so)."""

    device_time_total = self_device_time_total = cuda_time_total = self_cuda_time_total = 0.0
    cpu_memory_usage = self_cpu_memory_usage = device_memory_usage = 0


class FunctionEvent(_CpuOnlyColumns):
    """One timed region: ``name``, start/end (``time_range``, microseconds), total and self
    CPU time (microseconds; self excludes nested regions), input shapes if recorded."""

    def __init__(
        self,
        id: int,
        name: str,
        thread: int,
        start_us: float,
        end_us: float,
        self_us: float,
        input_shapes: list[Any],
        depth: int,
        kind: str,
    ) -> None:
        self.id = id
        self.name = name
        self.thread = thread
        self.time_range = (start_us, end_us)
        self.cpu_time_total = end_us - start_us
        self.self_cpu_time_total = self_us
        self.input_shapes = input_shapes
        self.depth = depth
        self.kind = kind
        self.count = 1

    key = property(lambda self: self.name)
    cpu_time = property(lambda self: self.cpu_time_total)
    self_cpu_time = property(lambda self: self.self_cpu_time_total)

    def __repr__(self) -> str:
        return (
            f"<FunctionEvent id={self.id} name={self.name} cpu_time={_fmt(self.cpu_time_total)}"
            f" self_cpu_time={_fmt(self.self_cpu_time_total)} thread={self.thread}"
            f" input_shapes={self.input_shapes}>"
        )


class FunctionEventAvg(_CpuOnlyColumns):
    """The events of one name (and input shapes, when grouped by them): ``count``, summed
    ``cpu_time_total``/``self_cpu_time_total``, ``cpu_time`` (their mean per call)."""

    def __init__(self, key: str, input_shapes: Any) -> None:
        self.key = key
        self.input_shapes = input_shapes
        self.count = 0
        self.cpu_time_total = 0.0
        self.self_cpu_time_total = 0.0

    def add(self, e: Any) -> FunctionEventAvg:
        self.count += e.count
        self.cpu_time_total += e.cpu_time_total
        self.self_cpu_time_total += e.self_cpu_time_total
        return self

    cpu_time = property(lambda self: self.cpu_time_total / max(self.count, 1))
    self_cpu_time = property(lambda self: self.self_cpu_time_total / max(self.count, 1))

    def __repr__(self) -> str:
        return (
            f"<FunctionEventAvg key={self.key} self_cpu_time={_fmt(self.self_cpu_time_total)}"
            f" cpu_time={_fmt(self.cpu_time)} count={self.count}"
            f" input_shapes={self.input_shapes}>"
        )


def _fmt(us: float) -> str:
    """PyTorch's time format: seconds, milliseconds or microseconds, three decimals."""
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


class EventList(list):  # type: ignore[type-arg]
    """A list of events (``FunctionEvent`` or averages) with PyTorch's ``table``,
    ``key_averages``, ``total_average`` and ``export_chrome_trace``."""

    def key_averages(self, group_by_input_shape: bool = False) -> EventList:
        groups: dict[Any, FunctionEventAvg] = {}
        for e in self:
            shapes = str(e.input_shapes) if group_by_input_shape else None
            k = (e.key, shapes)
            if k not in groups:
                groups[k] = FunctionEventAvg(
                    e.key, e.input_shapes if group_by_input_shape else None
                )
            groups[k].add(e)
        return EventList(groups.values())

    def total_average(self) -> FunctionEventAvg:
        total = FunctionEventAvg("Total", None)
        for e in self:
            total.add(e)
        return total

    def self_cpu_time_total(self) -> float:
        return float(sum(e.self_cpu_time_total for e in self))

    def table(
        self,
        sort_by: Optional[str] = None,
        row_limit: int = 100,
        max_src_column_width: int = 75,
        max_name_column_width: int = 55,
        max_shapes_column_width: int = 80,
        header: Optional[str] = None,
        top_level_events_only: bool = False,
        time_unit: Optional[str] = None,
    ) -> str:
        """PyTorch's table: Name, Self CPU %, Self CPU, CPU total %, CPU total, CPU time avg,
        # of Calls (and Input Shapes when grouped by them), sorted by the attribute
        ``sort_by`` (``"cpu_time_total"``, ``"self_cpu_time_total"``, ``"count"``...),
        largest first; ``row_limit`` rows (negative: all)."""
        del max_src_column_width, time_unit
        events = [e for e in self if not top_level_events_only or getattr(e, "depth", 0) == 0]
        if sort_by is not None:
            events.sort(key=lambda e: getattr(e, sort_by), reverse=True)
        if row_limit is not None and row_limit >= 0:
            events = events[:row_limit]
        total_self = self.self_cpu_time_total()
        show_shapes = any(getattr(e, "input_shapes", None) for e in events)

        def trim(s: str, width: int) -> str:
            return s if len(s) <= width else s[: width - 3] + "..."

        name_w = min(max([len(e.key) for e in events] + [4]) + 4, max_name_column_width)
        widths = [name_w] + [12] * 6
        heads = [
            "Name",
            "Self CPU %",
            "Self CPU",
            "CPU total %",
            "CPU total",
            "CPU time avg",
            "# of Calls",
        ]
        if show_shapes:
            shapes_w = min(
                max(len(str(e.input_shapes)) for e in events) + 4, max_shapes_column_width
            )
            widths.append(shapes_w)
            heads.append("Input Shapes")

        def row(cells: list[str]) -> str:
            return "".join(f"{c:>{w}}  " for c, w in zip(cells, widths))

        line = "".join("-" * w + "  " for w in widths)
        out = [header] if header else []
        out += [line, row(heads), line]

        def pct(us: float) -> str:
            return f"{100.0 * us / total_self:.2f}%" if total_self > 0 else "0.00%"

        for e in events:
            cells = [
                trim(e.key, name_w - 1),
                pct(e.self_cpu_time_total),
                _fmt(e.self_cpu_time_total),
                pct(e.cpu_time_total),
                _fmt(e.cpu_time_total),
                _fmt(e.cpu_time),
                str(e.count),
            ]
            if show_shapes:
                cells.append(trim(str(e.input_shapes), widths[-1] - 1))
            out.append(row(cells))
        out.append(line)
        out.append(f"Self CPU time total: {_fmt(total_self)}")
        return "\n".join(out) + "\n"

    def __str__(self) -> str:
        return self.table()

    def export_chrome_trace(self, path: str) -> None:
        """Writes the events in Chrome's trace-event format (chrome://tracing, Perfetto)."""
        pid = os.getpid()
        trace = [
            {
                "ph": "X",
                "cat": e.kind,
                "name": e.name,
                "pid": pid,
                "tid": e.thread,
                "ts": e.time_range[0],
                "dur": e.cpu_time_total,
                "args": {"Input Dims": e.input_shapes} if e.input_shapes else {},
            }
            for e in self
            if isinstance(e, FunctionEvent)
        ]
        with open(path, "w", encoding="utf-8") as f:
            json.dump({"traceEvents": trace, "displayTimeUnit": "ms"}, f)


# ---- recording -------------------------------------------------------------------------------

#: The profiles currently recording (a region is recorded into each).
_ACTIVE: list[profile] = []


class _Frame:
    __slots__ = ("children_ns", "kind", "name", "shapes", "start_ns")

    def __init__(self, name: str, shapes: list[Any], kind: str) -> None:
        self.name = name
        self.shapes = shapes
        self.kind = kind
        self.children_ns = 0
        self.start_ns = time.perf_counter_ns()


class _Stacks(threading.local):
    def __init__(self) -> None:
        self.frames: list[_Frame] = []


_STACKS = _Stacks()


def _open(name: str, shapes: list[Any], kind: str) -> _Frame:
    frame = _Frame(name, shapes, kind)
    _STACKS.frames.append(frame)
    return frame


def _close(frame: _Frame) -> None:
    end = time.perf_counter_ns()
    frames = _STACKS.frames
    # (a frame opened before a profile started, or left open by an exception, is unwound too)
    while frames and frames[-1] is not frame:
        frames.pop()
    if frames:
        frames.pop()
    dur = end - frame.start_ns
    if frames:
        frames[-1].children_ns += dur
    for prof in list(_ACTIVE):
        prof._add(frame, end, dur, len(frames))


class record_function:  # noqa: N801 - PyTorch's name
    """A named region timed by any recording ``profile`` (a context manager, or a decorator
    timing each call). ``args`` is accepted as PyTorch's (a string shown with the event)."""

    def __init__(self, name: str, args: Optional[str] = None) -> None:
        self.name = name
        self.args = args
        self._frames: list[Optional[_Frame]] = []

    def __enter__(self) -> record_function:
        self._frames.append(_open(self.name, [], "user_annotation") if _ACTIVE else None)
        return self

    def __exit__(self, *exc: object) -> None:
        frame = self._frames.pop() if self._frames else None
        if frame is not None:
            _close(frame)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        import functools

        name = self.name

        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with record_function(name):
                return fn(*args, **kwargs)

        return wrapped


def _shapes(values: Iterable[Any]) -> list[Any]:
    from ._core import Tensor

    return [list(v.shape) if isinstance(v, Tensor) else [] for v in values]


class _ModuleTimer:
    """Global module hooks, registered while any profile records: each forward is a region
    named ``nn.Module: <class>``."""

    def __init__(self) -> None:
        self.handles: list[Any] = []
        self.record_shapes = False
        self.open = threading.local()  # .frames: {id(module): [frame, ...]} per thread

    def start(self, record_shapes: bool) -> None:
        from .nn.module import register_module_forward_hook, register_module_forward_pre_hook

        self.record_shapes = self.record_shapes or record_shapes
        if self.handles:
            return
        self.handles = [
            register_module_forward_pre_hook(self._pre),
            register_module_forward_hook(self._post, always_call=True),
        ]

    def stop(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []
        self.record_shapes = False

    def _pre(self, module: Any, args: tuple[Any, ...]) -> None:
        shapes = _shapes(args) if self.record_shapes else []
        frame = _open(f"nn.Module: {type(module).__name__}", shapes, "python_function")
        if not hasattr(self.open, "frames"):
            self.open.frames = {}
        self.open.frames.setdefault(id(module), []).append(frame)

    def _post(self, module: Any, args: tuple[Any, ...], out: Any) -> None:
        frames = getattr(self.open, "frames", {}).get(id(module))
        if frames:
            _close(frames.pop())
            if not frames:
                del self.open.frames[id(module)]


_MODULES = _ModuleTimer()


class profile:  # noqa: N801 - PyTorch's name
    """``torch.profiler.profile``: records regions while active (``with``, or
    ``start()``/``stop()``), following ``schedule`` over ``step()`` calls; ``on_trace_ready``
    receives the profile at the end of each recorded cycle (and at ``stop``).
    ``activities``, ``profile_memory``, ``with_stack``, ``with_flops``, ``with_modules`` are
    accepted; only host time is measured, and module forwards are always timed."""

    def __init__(
        self,
        *,
        activities: Optional[Iterable[ProfilerActivity]] = None,
        schedule: Optional[Callable[[int], ProfilerAction]] = None,
        on_trace_ready: Optional[Callable[[profile], Any]] = None,
        record_shapes: bool = False,
        profile_memory: bool = False,
        with_stack: bool = False,
        with_flops: bool = False,
        with_modules: bool = False,
        experimental_config: Any = None,
        execution_trace_observer: Any = None,
        acc_events: bool = False,
        custom_trace_id_callback: Any = None,
        post_processing_timeout_s: Optional[float] = None,
        use_cuda: Optional[bool] = None,
    ) -> None:
        del profile_memory, with_stack, with_flops, with_modules, experimental_config
        del execution_trace_observer, acc_events, custom_trace_id_callback
        del post_processing_timeout_s, use_cuda
        self.activities = set(activities) if activities is not None else supported_activities()
        for a in self.activities:
            if not isinstance(a, ProfilerActivity):
                raise TypeError(f"activities must be ProfilerActivity values, got {a!r}")
        self.schedule = schedule if schedule is not None else _default_schedule
        self.on_trace_ready = on_trace_ready
        self.record_shapes = record_shapes
        self.step_num = 0
        self.current_action = ProfilerAction.NONE
        self._events: list[FunctionEvent] = []
        self._saved: Optional[list[FunctionEvent]] = None
        self._lock = threading.Lock()
        self._origin_ns = 0
        self._running = False

    # -- lifecycle --

    def __enter__(self) -> profile:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.step_num = 0
        self._origin_ns = time.perf_counter_ns()
        self._running = True
        self._transit(self.schedule(0))

    def stop(self) -> None:
        if not self._running:
            return
        was = self.current_action
        self._set_recording(False)
        self._running = False
        self.current_action = ProfilerAction.NONE
        if was in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE):
            self._save()

    def step(self) -> None:
        """Ends a training step: moves to the schedule's next action, handing a finished
        cycle to ``on_trace_ready``."""
        if not self._running:
            return
        prev = self.current_action
        self.step_num += 1
        if prev == ProfilerAction.RECORD_AND_SAVE:
            self._set_recording(False)
            self._save()
            self.current_action = ProfilerAction.NONE
        self._transit(self.schedule(self.step_num))

    def _transit(self, action: ProfilerAction) -> None:
        recording = action in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)
        was = self.current_action in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)
        if recording and not was:
            with self._lock:
                self._events = []
        self.current_action = action
        self._set_recording(recording)

    def _set_recording(self, on: bool) -> None:
        if on and self not in _ACTIVE:
            _ACTIVE.append(self)
            _MODULES.start(self.record_shapes)
        elif not on and self in _ACTIVE:
            _ACTIVE.remove(self)
            if not _ACTIVE:
                _MODULES.stop()
                # Regions still open here (a profile stopped inside a forward) would never
                # close now that the hooks are gone: forget this thread's.
                _STACKS.frames.clear()
                _MODULES.open.frames = {}

    def _save(self) -> None:
        with self._lock:
            self._saved = list(self._events)
        if self.on_trace_ready is not None:
            self.on_trace_ready(self)

    def _add(self, frame: _Frame, end_ns: int, dur_ns: int, depth: int) -> None:
        if frame.start_ns < self._origin_ns:
            return  # opened before this profile started: not wholly inside it
        with self._lock:
            self._events.append(
                FunctionEvent(
                    id=len(self._events),
                    name=frame.name,
                    thread=threading.get_ident(),
                    start_us=(frame.start_ns - self._origin_ns) / 1e3,
                    end_us=(end_ns - self._origin_ns) / 1e3,
                    self_us=(dur_ns - frame.children_ns) / 1e3,
                    input_shapes=frame.shapes,
                    depth=depth,
                    kind=frame.kind,
                )
            )

    # -- results --

    def events(self) -> EventList:
        """The recorded events: the last saved cycle's, else those recorded so far."""
        with self._lock:
            chosen = self._saved if self._saved is not None else self._events
            return EventList(sorted(chosen, key=lambda e: e.time_range[0]))

    def key_averages(
        self, group_by_input_shape: bool = False, group_by_stack_n: int = 0
    ) -> EventList:
        del group_by_stack_n
        return self.events().key_averages(group_by_input_shape)

    def export_chrome_trace(self, path: str) -> None:
        self.events().export_chrome_trace(path)


def tensorboard_trace_handler(
    dir_name: str, worker_name: Optional[str] = None, use_gzip: bool = False
) -> Callable[[profile], None]:
    """An ``on_trace_ready`` handler writing each cycle as
    ``<dir_name>/<worker_name>.<ms>.pt.trace.json[.gz]`` (TensorBoard's profile plugin and
    Perfetto read it)."""

    def handler(prof: profile) -> None:
        import socket

        os.makedirs(dir_name, exist_ok=True)
        name = worker_name or f"{socket.gethostname()}_{os.getpid()}"
        path = os.path.join(dir_name, f"{name}.{time.time_ns() // 1_000_000}.pt.trace.json")
        prof.export_chrome_trace(path)
        if use_gzip:
            import gzip
            import shutil

            with open(path, "rb") as src, gzip.open(path + ".gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.remove(path)

    return handler
