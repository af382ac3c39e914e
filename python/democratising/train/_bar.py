"""A plain progress bar on stderr for when the optional ``tqdm`` is not installed, so the
Trainer and the CLI show their progress on any terminal: ``epoch 2/5  37/100 [####....]
12.3 batch/s  loss=0.412``, redrawn at most ten times a second and erased when done, as
``tqdm(leave=False)`` is. Only the calls the Trainer makes: ``update``, ``set_postfix`` and
``close``."""

from __future__ import annotations

import sys
import time
from typing import Any, Optional

_WIDTH = 20  # characters of the bar itself
_EVERY = 0.1  # seconds between redraws


class TextBar:
    def __init__(self, total: Optional[int], desc: str) -> None:
        self.total, self.desc, self.n = total, desc, 0
        self.start = self.last = time.monotonic()
        self.postfix = ""
        self.drawn = 0  # characters on the line, for erasing it

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= _EVERY or (self.total is not None and self.n >= self.total):
            self.last = now
            self._draw(now)

    def set_postfix(self, values: Any = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(dict(values) if values else {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())
        if refresh:
            self._draw(time.monotonic())

    def _draw(self, now: float) -> None:
        rate = self.n / max(now - self.start, 1e-9)
        if self.total:
            filled = min(_WIDTH, _WIDTH * self.n // self.total)
            count = f"{self.n}/{self.total} [{'#' * filled}{'.' * (_WIDTH - filled)}]"
        else:
            count = f"{self.n}"
        line = f"{self.desc}  {count} {rate:.1f} batch/s"
        if self.postfix:
            line += f"  {self.postfix}"
        pad = " " * max(0, self.drawn - len(line))
        sys.stderr.write(f"\r{line}{pad}")
        sys.stderr.flush()
        self.drawn = len(line)

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\r" + " " * self.drawn + "\r")
            sys.stderr.flush()
            self.drawn = 0
