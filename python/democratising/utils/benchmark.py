"""``democratising.utils.benchmark``: PyTorch's micro-benchmark timer. ``Timer`` runs a statement
(a string executed in ``globals``, or a callable) in blocks sized so that the timer's own
overhead is negligible, with the engine's thread count pinned to ``num_threads``; the result is
a ``Measurement`` (median, mean, interquartile range, a PyTorch-shaped ``repr``), and
``Compare`` lays many of them out as one table.

Scripts ported with ``import democratising as torch`` keep their statements: a statement's
globals have ``torch`` (this package) unless the caller gives its own."""

from __future__ import annotations

import dataclasses
import math
import textwrap
import timeit as _timeit
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Callable, Optional, Union

import numpy as np

from ..errors import InvalidValueError

__all__ = [
    "Compare",
    "Language",
    "Measurement",
    "TaskSpec",
    "Timer",
    "select_unit",
    "trim_sigfig",
    "unit_to_english",
]

# Below this spread a time is known well enough for any figure (PyTorch's floor, 25 ns).
_MIN_CONFIDENCE_INTERVAL = 25e-9
_MAX_SIGNIFICANT_FIGURES = 4
_IQR_WARN_THRESHOLD = 0.1
_IQR_GROSS_WARN_THRESHOLD = 0.25
_UNITS = (("ns", 1e-9), ("us", 1e-6), ("ms", 1e-3), ("s", 1.0))


class Language:
    """The statement's language: only Python statements run here (PyTorch also times C++)."""

    PYTHON = "python"


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    """What was timed and how it is labelled (everything of a ``Timer`` but its globals)."""

    stmt: str
    setup: str
    global_setup: str = ""
    label: Optional[str] = None
    sub_label: Optional[str] = None
    description: Optional[str] = None
    env: Optional[str] = None
    num_threads: int = 1

    @property
    def title(self) -> str:
        """The label (or the one-line statement), with the sub-label after a colon."""
        sub = f": {self.sub_label}" if self.sub_label else ""
        if self.label is not None:
            return self.label + sub
        if "\n" not in self.stmt:
            return self.stmt + sub
        return f"stmt:{f' ({self.sub_label})' if self.sub_label else ''}\n" + textwrap.indent(
            self.stmt, "  "
        )

    def setup_str(self) -> str:
        """``setup: ...`` for a setup other than ``pass``, indented when it has several lines."""
        if not self.setup or self.setup == "pass":
            return ""
        if "\n" in self.setup:
            return "setup:\n" + textwrap.indent(self.setup, "  ")
        return f"setup: {self.setup}"

    def summarize(self) -> str:
        """The header lines of a ``Measurement``'s repr: title, description, setup."""
        parts = [s for s in (self.title, self.description or "", self.setup_str()) if s]
        return "\n".join(f"{s}\n" if "\n" in s else s for s in parts)


_TASK_FIELDS = frozenset(f.name for f in dataclasses.fields(TaskSpec))


def select_unit(t: float) -> tuple[str, float]:
    """The unit (``ns``, ``us``, ``ms`` or ``s``) and its scale in which ``t`` seconds read
    as a number from 1 to 999."""
    if not t > 0:
        return _UNITS[0]
    return _UNITS[min(max(int(math.log10(t) // 3) + 3, 0), 3)]


def unit_to_english(u: str) -> str:
    """``"us"`` -> ``"microsecond"``."""
    return {"ns": "nanosecond", "us": "microsecond", "ms": "millisecond", "s": "second"}[u]


def trim_sigfig(x: float, n: int) -> float:
    """``x`` rounded to ``n`` significant figures (``3.14159, 2 -> 3.1``)."""
    if n != int(n):
        raise InvalidValueError(f"the number of significant figures must be an integer, got {n}")
    if x == 0 or not math.isfinite(x):
        return float(x)
    scale = 10.0 ** (math.ceil(math.log10(abs(x))) - n)
    return float(round(x / scale) * scale)


@dataclasses.dataclass(repr=False)
class Measurement:
    """One or more timings of a task: ``raw_times`` are seconds per block of
    ``number_per_run`` executions; ``times`` are seconds per execution, summarised by
    ``median``, ``mean`` and ``iqr``. The task's fields (``stmt``, ``label``, ``num_threads``...)
    read through; ``metadata`` is the caller's."""

    number_per_run: int
    raw_times: list[float]
    task_spec: TaskSpec
    metadata: Optional[dict[Any, Any]] = None

    def __getattr__(self, name: str) -> Any:
        if name in _TASK_FIELDS:
            return getattr(self.task_spec, name)
        raise AttributeError(f"'Measurement' object has no attribute '{name}'")

    @property
    def times(self) -> list[float]:
        """Seconds per execution, one per block."""
        return [t / self.number_per_run for t in self.raw_times]

    def _quantile(self, q: float) -> float:
        times = self.times
        return float(np.quantile(np.asarray(times, dtype=np.float64), q)) if times else math.nan

    @property
    def median(self) -> float:
        return self._quantile(0.5)

    @property
    def mean(self) -> float:
        times = self.times
        return float(np.mean(times)) if times else math.nan

    @property
    def iqr(self) -> float:
        """The interquartile range of ``times`` (75th minus 25th percentile)."""
        return self._quantile(0.75) - self._quantile(0.25)

    def meets_confidence(self, threshold: float = _IQR_WARN_THRESHOLD) -> bool:
        """Whether the spread is below ``threshold`` of the median (``iqr / median``)."""
        return self.iqr / self.median < threshold

    @property
    def significant_figures(self) -> int:
        """How many figures of the median the spread of its middle half supports (1 to 4)."""
        ordered = sorted(self.times)
        middle = ordered[len(ordered) // 4 : math.ceil(3 * len(ordered) / 4)]
        spread = 1.645 * float(np.std(middle)) / math.sqrt(len(middle))
        figures = math.floor(math.log10(self.median / max(spread, _MIN_CONFIDENCE_INTERVAL)))
        return min(max(figures, 1), _MAX_SIGNIFICANT_FIGURES)

    @property
    def _warnings(self) -> tuple[str, ...]:
        if len(self.times) < 2 or self.meets_confidence(_IQR_WARN_THRESHOLD):
            return ()
        gross = not self.meets_confidence(_IQR_GROSS_WARN_THRESHOLD)
        why = "significant environmental influence" if gross else "system fluctuation"
        verb = "suggests" if gross else "could indicate"
        return (
            f"  WARNING: Interquartile range is {self.iqr / self.median * 100:.1f}% of the "
            f"median measurement.\n           This {verb} {why}.",
        )

    @property
    def has_warnings(self) -> bool:
        """Whether the spread is large (``iqr`` at least a tenth of the median)."""
        return bool(self._warnings)

    @property
    def title(self) -> str:
        return self.task_spec.title

    @property
    def env(self) -> str:
        return self.task_spec.env if self.task_spec.env is not None else "Unspecified env"

    @property
    def as_row_name(self) -> str:
        """The name of this task's row in a ``Compare`` table."""
        return self.task_spec.sub_label or self.task_spec.stmt or "[Unknown]"

    def __repr__(self) -> str:
        n = len(self.raw_times)
        unit, scale = select_unit(self.median)
        lines = [object.__repr__(self), self.task_spec.summarize()]
        lines.append(f"  {'Median: ' if n > 1 else ''}{self.median / scale:.2f} {unit}")
        if n >= 4:
            lo, hi = self._quantile(0.25) / scale, self._quantile(0.75) / scale
            lines.append(f"  IQR:    {self.iqr / scale:.2f} {unit} ({lo:.2f} to {hi:.2f})")
        per = "per measurement," if n > 1 else ","
        threads = f"{self.num_threads} thread{'s' if self.num_threads > 1 else ''}"
        lines.append(
            f"  {n} measurement{'s' if n > 1 else ''}, {self.number_per_run} runs {per} {threads}"
        )
        lines.extend(self._warnings)
        return "\n".join(line for line in "\n".join(lines).splitlines() if line.strip())

    @staticmethod
    def merge(measurements: Iterable[Measurement]) -> list[Measurement]:
        """Replicates of one task pooled into one ``Measurement`` of single runs (their
        ``times``), in first-seen order; metadata is dropped."""
        pooled: dict[TaskSpec, list[float]] = defaultdict(list)
        for m in measurements:
            pooled[m.task_spec].extend(m.times)
        return [Measurement(1, times, spec) for spec, times in pooled.items()]


@contextmanager
def _threads(n: int) -> Iterator[None]:
    """The engine's intra-op thread count set to ``n`` for the block, then restored."""
    from .. import get_num_threads, set_num_threads

    before = get_num_threads()
    set_num_threads(n)
    try:
        yield
    finally:
        set_num_threads(before)


class Timer:
    """Times ``stmt`` after ``setup`` (strings run in ``globals``, or callables), as PyTorch's
    ``torch.utils.benchmark.Timer``: ``timeit(number)`` for one block, ``blocked_autorange``
    for blocks until ``min_run_time`` seconds have passed, ``adaptive_autorange`` until the
    spread falls below ``threshold`` of the median. ``global_setup`` runs once, first."""

    def __init__(
        self,
        stmt: Union[str, Callable[[], Any]] = "pass",
        setup: Union[str, Callable[[], Any]] = "pass",
        global_setup: str = "",
        timer: Callable[[], float] = _timeit.default_timer,
        globals: Optional[dict[str, Any]] = None,
        label: Optional[str] = None,
        sub_label: Optional[str] = None,
        description: Optional[str] = None,
        env: Optional[str] = None,
        num_threads: int = 1,
        language: str = Language.PYTHON,
    ) -> None:
        if str(getattr(language, "value", language)).lower() not in ("python", "py"):
            raise InvalidValueError(f"only Python statements can be timed, got {language!r}")
        if not isinstance(num_threads, int) or num_threads < 1:
            raise InvalidValueError(f"num_threads must be a positive int, got {num_threads!r}")
        namespace = dict(globals or {})
        if "torch" not in namespace:
            import democratising

            namespace["torch"] = democratising
        if global_setup:
            exec(global_setup, namespace)  # the caller's own benchmark code
        self._timer = _timeit.Timer(stmt=stmt, setup=setup, timer=timer, globals=namespace)
        self._task_spec = TaskSpec(
            stmt=_text(stmt),
            setup=_text(setup),
            global_setup=global_setup,
            label=label,
            sub_label=sub_label,
            description=description,
            env=env,
            num_threads=num_threads,
        )

    def _run(self, number: int) -> float:
        """Seconds for ``number`` executions (at least 1 ns, so ratios stay finite)."""
        return max(self._timer.timeit(number), 1e-9)

    def _measurement(self, number: int, raw_times: list[float]) -> Measurement:
        return Measurement(number_per_run=number, raw_times=raw_times, task_spec=self._task_spec)

    def timeit(self, number: int = 1000000) -> Measurement:
        """One block of ``number`` executions, after a warm-up of a hundredth of them."""
        with _threads(self._task_spec.num_threads):
            self._run(max(number // 100, 2))
            return self._measurement(number, [self._run(number)])

    def _block_size(self, min_run_time: float) -> int:
        """Executions per block: grown tenfold until the timer's overhead is under 1e-4 of a
        block and a block lasts a thousandth of ``min_run_time`` (or all of it)."""
        overhead = float(np.median([self._run(0) for _ in range(5)]))
        number = 1
        while number < 2**31 // 10:
            took = self._run(number)
            if took > min_run_time or (overhead / took <= 1e-4 and took >= min_run_time / 1000):
                break
            number *= 10
        return number

    def _blocks(
        self,
        number: int,
        min_run_time: float,
        done: Callable[[list[float]], bool],
        max_run_time: Optional[float] = None,
        callback: Optional[Callable[[int, float], None]] = None,
    ) -> list[float]:
        """Timed blocks until ``min_run_time`` has passed and ``done(times)``, or past
        ``max_run_time``; ``callback(number, seconds)`` after each."""
        times: list[float] = []
        total = 0.0
        while True:
            took = self._run(number)
            times.append(took)
            total += took
            if callback is not None:
                callback(number, took)
            if (total >= min_run_time and done(times)) or (max_run_time and total > max_run_time):
                return times

    def blocked_autorange(
        self, callback: Optional[Callable[[int, float], None]] = None, min_run_time: float = 0.2
    ) -> Measurement:
        """Blocks of a fixed size (see ``_block_size``) until ``min_run_time`` seconds."""
        with _threads(self._task_spec.num_threads):
            number = self._block_size(min_run_time)
            times = self._blocks(number, min_run_time, lambda _: True, callback=callback)
        return self._measurement(number, times)

    def adaptive_autorange(
        self,
        threshold: float = 0.1,
        *,
        min_run_time: float = 0.01,
        max_run_time: float = 10.0,
        callback: Optional[Callable[[int, float], None]] = None,
    ) -> Measurement:
        """Blocks until more than three are in and their spread (``iqr / median``) is below
        ``threshold``, at least ``min_run_time`` and at most ``max_run_time`` seconds."""

        def confident(times: list[float]) -> bool:
            return len(times) > 3 and self._measurement(number, times).meets_confidence(threshold)

        with _threads(self._task_spec.num_threads):
            number = self._block_size(0.05)
            times = self._blocks(number, min_run_time, confident, max_run_time, callback)
        return self._measurement(number, times)


def _text(code: Union[str, Callable[[], Any]]) -> str:
    """A statement as the task records it: the string, or a callable's name."""
    if isinstance(code, str):
        return code
    return getattr(code, "__qualname__", None) or repr(code)


from ._benchmark_compare import Compare  # noqa: E402 - Compare reads Measurement from here
