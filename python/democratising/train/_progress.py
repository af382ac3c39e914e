"""Progress notes for ``democratising launch``: how far a job got, and its newest checkpoint.

Why a file: when a rank dies, the launcher must say how much work was lost (the steps taken
since the newest complete checkpoint) and whether the job is making progress at all, but a
dead process cannot be asked. So, under the launcher (which sets ``DEMOCRATISING_LAUNCH_DIR``
to the attempt's folder), rank 0 of the trainer replaces ``progress.json`` there at most every
0.25 s and after every checkpoint it completes. A plain rename, no fsync: a note lost to a
power cut only makes the launcher's count of lost steps smaller.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Optional

__all__ = ["LAUNCH_DIR_ENV", "ProgressNotes", "read_progress"]

#: Set by ``democratising launch`` in every rank: the folder of the current attempt.
LAUNCH_DIR_ENV = "DEMOCRATISING_LAUNCH_DIR"
PROGRESS_FILE = "progress.json"
#: Seconds between two step notes (a note costs tens of microseconds).
INTERVAL = 0.25


class ProgressNotes:
    """Writes ``{"step", "epoch", "checkpoint", "checkpoint_step", "time"}`` to a folder."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / PROGRESS_FILE
        self.state: dict[str, Any] = {"step": 0, "epoch": 0, "checkpoint": None}
        self._next = 0.0

    @classmethod
    def from_env(cls) -> Optional[ProgressNotes]:
        """Notes into ``$DEMOCRATISING_LAUNCH_DIR``, or ``None`` when not under the launcher."""
        folder = os.environ.get(LAUNCH_DIR_ENV, "").strip()
        if not folder or not Path(folder).is_dir():
            return None
        return cls(Path(folder))

    def step(self, step: int, epoch: int) -> None:
        """After an optimizer step: a note at most every ``INTERVAL`` seconds."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + INTERVAL
        self.state.update(step=int(step), epoch=int(epoch))
        self._write()

    def checkpoint(self, path: Path, step: int) -> None:
        """A checkpoint at ``step`` is complete (durable) at ``path``."""
        self.state.update(checkpoint=os.fspath(path), checkpoint_step=int(step))
        self.state["step"] = max(int(self.state.get("step", 0)), int(step))
        self._write()

    def _write(self) -> None:
        self.state["time"] = time.time()
        tmp = self.path.with_name(f".{PROGRESS_FILE}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(self.state), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:  # a note is best effort: never stop training for it
            pass


def read_progress(folder: Path) -> dict[str, Any]:
    """The last note in ``folder`` (``{}`` when there is none or it cannot be read)."""
    try:
        data = json.loads((folder / PROGRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
