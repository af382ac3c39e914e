"""``democratising.cuda``'s streams and events, PyTorch's API: ``Stream``, ``Event``,
``stream()``, ``current_stream()``, ``default_stream()``, ``set_stream()``.

The engine queues all of a device's work, in order, on one CUDA stream, so every ``Stream`` of
a device names that queue: work issued under different streams runs one after the other (a
correct, if serial, schedule of what separate streams allow), and ``wait_event`` /
``wait_stream`` have nothing left to order. What a program observes is PyTorch's: events
mark points in the queue (``query``, ``synchronize``, ``elapsed_time`` between two timed
events), ``Stream.synchronize`` / ``query`` wait for or ask about the queue, and
``cuda_stream`` is the raw handle other libraries (CuPy, NCCL) can queue their work behind.
Nothing here synchronises the host except ``synchronize``, ``elapsed_time`` and reading
values (``.item()``, ``.cpu()``)."""

from __future__ import annotations

import threading
from typing import Any, Optional

from . import _core
from ._core import Device
from .cuda import _index

__all__ = [
    "Event",
    "Stream",
    "StreamContext",
    "current_stream",
    "default_stream",
    "set_stream",
    "stream",
]


class Stream:
    """A CUDA stream of ``device`` (the current device by default). ``priority`` is accepted
    and has no effect (one queue per device). Raises ``DeviceError`` without a GPU."""

    def __init__(self, device: Any = None, priority: int = 0, **kwargs: Any) -> None:
        index = _index(device)
        self._handle = _core._cuda_stream_handle(index)  # DeviceError without that device
        self.device = Device(f"cuda:{index}")
        self.priority = priority

    @property
    def cuda_stream(self) -> int:
        """The raw ``CUstream`` handle (0: the legacy default stream)."""
        return self._handle

    def query(self) -> bool:
        """Whether all the work queued so far has completed."""
        return _core._cuda_record_event(self.device.index or 0).query()

    def synchronize(self) -> None:
        """Waits for all the work queued so far."""
        _core._cuda_synchronize(self.device.index or 0)

    def wait_event(self, event: Event) -> None:
        """Makes later work wait for ``event`` (already so: one queue per device)."""
        event.wait(self)

    def wait_stream(self, stream: Stream) -> None:
        """Makes later work wait for ``stream``'s work so far (already so: one queue)."""
        _check_same_device(self, stream)

    def record_event(self, event: Optional[Event] = None) -> Event:
        """Records ``event`` (a new one by default) at the current end of the queue."""
        event = Event() if event is None else event
        event.record(self)
        return event

    def __enter__(self) -> Stream:
        self._context = StreamContext(self)
        self._context.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._context.__exit__(*exc)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stream) and other.device == self.device

    def __hash__(self) -> int:
        return hash(("cuda-stream", self.device.index))

    def __repr__(self) -> str:
        return f"<democratising.cuda.Stream device={self.device} cuda_stream={self._handle:#x}>"


def _check_same_device(a: Stream, b: Stream) -> None:
    if a.device != b.device:
        from .errors import DeviceError

        raise DeviceError(f"streams of different devices: {a.device} and {b.device}")


class Event:
    """A marker in a device's queue (``torch.cuda.Event``): ``record`` it, then ``query`` /
    ``synchronize`` it, or time the work between two events with ``elapsed_time``
    (milliseconds; both created with ``enable_timing=True``). ``blocking`` and
    ``interprocess`` are accepted and change nothing."""

    def __init__(
        self, enable_timing: bool = False, blocking: bool = False, interprocess: bool = False
    ) -> None:
        self.enable_timing = enable_timing
        self._recorded: Optional[_core._CudaEvent] = None
        self.device: Optional[Device] = None

    def record(self, stream: Optional[Stream] = None) -> None:
        """Marks the work queued so far on ``stream`` (the current stream by default)."""
        stream = current_stream() if stream is None else stream
        self._recorded = _core._cuda_record_event(stream.device.index or 0)
        self.device = stream.device

    def query(self) -> bool:
        """Whether the work before the event has completed (True if never recorded)."""
        return True if self._recorded is None else self._recorded.query()

    def synchronize(self) -> None:
        """Waits for the work before the event."""
        if self._recorded is not None:
            self._recorded.synchronize()

    def wait(self, stream: Optional[Stream] = None) -> None:
        """Makes ``stream``'s later work wait for the event (already so: one queue)."""

    def elapsed_time(self, end_event: Event) -> float:
        """Milliseconds from this event to ``end_event``, waiting for both."""
        if not (self.enable_timing and end_event.enable_timing):
            raise RuntimeError("Both events must be created with argument 'enable_timing=True'")
        if self._recorded is None or end_event._recorded is None:
            raise RuntimeError("Both events must be recorded before calculating elapsed time")
        return float(self._recorded.elapsed_ms(end_event._recorded))

    def __repr__(self) -> str:
        state = "recorded" if self._recorded is not None else "not recorded"
        return f"<democratising.cuda.Event {state} on {self.device}>"


_local = threading.local()
_defaults: dict[int, Stream] = {}


def default_stream(device: Any = None) -> Stream:
    """The default stream of ``device``."""
    index = _index(device)
    if index not in _defaults:
        _defaults[index] = Stream(index)
    return _defaults[index]


def current_stream(device: Any = None) -> Stream:
    """The stream selected for ``device`` on this thread (``stream()`` / ``set_stream``), or
    its default stream."""
    index = _index(device)
    chosen: dict[int, Stream] = getattr(_local, "streams", {})
    return chosen.get(index) or default_stream(index)


def set_stream(stream: Stream) -> None:
    """Selects ``stream`` as its device's current stream on this thread."""
    if not hasattr(_local, "streams"):
        _local.streams = {}
    _local.streams[stream.device.index or 0] = stream


class StreamContext:
    """Selects a stream for the ``with`` block and restores the previous one after it; a
    ``None`` stream changes nothing (as in PyTorch)."""

    def __init__(self, stream: Optional[Stream]) -> None:
        self.stream = stream
        self._previous: Optional[Stream] = None

    def __enter__(self) -> Optional[Stream]:
        if self.stream is not None:
            self._previous = current_stream(self.stream.device)
            set_stream(self.stream)
        return self.stream

    def __exit__(self, *exc: Any) -> None:
        if self.stream is not None and self._previous is not None:
            set_stream(self._previous)


def stream(stream: Optional[Stream]) -> StreamContext:
    """``with dm.cuda.stream(s):`` selects ``s`` for the block."""
    return StreamContext(stream)
