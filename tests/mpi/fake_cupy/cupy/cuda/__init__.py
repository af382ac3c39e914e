"""``cupy.cuda``'s ``Device``, ``Stream``, ``ExternalStream`` and ``Event`` as far as
democratising's NCCL transport uses them. ``FAKE_NCCL_HANG=1``: events never complete."""

from __future__ import annotations

import os
from typing import Any

from . import nccl

__all__ = ["Device", "Event", "ExternalStream", "Stream", "nccl"]


class Device:
    def __init__(self, index: int = 0) -> None:
        self.id = index

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


class Stream:
    def __init__(self, non_blocking: bool = False) -> None:
        self.ptr = 0x5000 + id(self) % 0x1000
        self.waited: list[Event] = []

    def wait_event(self, event: Event) -> None:
        nccl.CALLS.append(("wait_event", self.ptr))
        self.waited.append(event)


class ExternalStream(Stream):
    def __init__(self, ptr: int) -> None:
        super().__init__()
        self.ptr = ptr


class Event:
    def __init__(self, disable_timing: bool = False) -> None:
        self.done = False

    def record(self, stream: Stream | None = None) -> None:
        nccl.CALLS.append(("record", None if stream is None else stream.ptr))
        self.done = os.environ.get("FAKE_NCCL_HANG") != "1"
