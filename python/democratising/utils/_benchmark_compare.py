"""``Compare``: many ``Measurement``s as text tables, PyTorch's layout: one table per label,
a row per sub-label (or statement) grouped by thread count, a column per description, medians
in one unit per table, optionally trimmed to their significant figures and coloured."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Optional

from .benchmark import Measurement, select_unit, trim_sigfig, unit_to_english

_BEST, _GOOD = "\033[92m\033[1m", "\033[34m\033[1m"
_BAD, _VERY_BAD = "\033[2m\033[91m", "\033[31m\033[1m"
_END = "\033[0m\033[0m"


def _colour(text: str, value: float, best: float) -> str:
    """``text`` coloured by how far ``value`` is from the best of its row or column."""
    if value <= best * 1.01 or value <= best + 100e-9:
        return _BEST + text + _END
    if value <= best * 1.1:
        return _GOOD + text + _END
    if value >= best * 5:
        return _VERY_BAD + text + _END
    if value >= best * 2:
        return _BAD + text + _END
    return text


class Compare:
    """Tables of ``results`` (``Measurement``s): ``print()`` or ``str()``; ``colorize``,
    ``trim_significant_figures`` and ``highlight_warnings`` change how they render."""

    def __init__(self, results: Iterable[Measurement]) -> None:
        self._results: list[Measurement] = []
        self._trim = False
        self._colorize: Optional[str] = None
        self._highlight = False
        self.extend_results(results)

    def extend_results(self, results: Iterable[Measurement]) -> None:
        """Adds more measurements (each must be a ``Measurement``)."""
        results = list(results)
        for r in results:
            if not isinstance(r, Measurement):
                raise TypeError(f"Expected an instance of `Measurement`, got {type(r)} instead.")
        self._results.extend(results)

    def trim_significant_figures(self) -> None:
        """Shows each median only to the figures its spread supports."""
        self._trim = True

    def colorize(self, rowwise: bool = False) -> None:
        """Colours each time against the best of its column (or of its row)."""
        self._colorize = "row" if rowwise else "column"

    def highlight_warnings(self) -> None:
        """Marks noisy measurements with their spread, ``(! XX%)``."""
        self._highlight = True

    def print(self) -> None:
        print(str(self))

    def __str__(self) -> str:
        merged = Measurement.merge(self._results)
        labels: dict[Optional[str], list[Measurement]] = {}
        for m in merged:
            labels.setdefault(m.label, []).append(m)
        return "\n".join(self._table(group) for group in labels.values())

    def _cell(self, m: Optional[Measurement], scale: float, decimals: int) -> str:
        if m is None:
            return ""
        value = m.median / scale
        if self._trim:
            value = trim_sigfig(value, m.significant_figures)
        text = f"{value:.{decimals}f}"
        if self._highlight and m.has_warnings:
            text += f" (! {m.iqr / m.median * 100:.0f}%)"
        return text

    def _decimals(self, column: list[Measurement], scale: float) -> int:
        """One decimal, or with trimming as few as every entry of the column needs."""
        if not self._trim:
            return 1
        needed = [m.significant_figures - math.ceil(math.log10(m.median / scale)) for m in column]
        return max(min(needed), 0)

    def _table(self, results: list[Measurement]) -> str:
        unit, scale = select_unit(min(m.median for m in results))
        rows: list[tuple[int, str, str]] = []
        columns: list[Optional[str]] = []
        cells: dict[tuple[tuple[int, str, str], Optional[str]], Measurement] = {}
        for m in results:
            row = (m.num_threads, m.env, m.as_row_name)
            if row not in rows:
                rows.append(row)
            if m.description not in columns:
                columns.append(m.description)
            cells[row, m.description] = m
        rows.sort(key=lambda r: r[:2])  # thread groups, keeping statement order within one
        show_env = len({r[1] for r in rows}) > 1
        env_width = max(len(r[1]) for r in rows) if show_env else 0
        decimals = [
            self._decimals([cells[r, c] for r in rows if (r, c) in cells], scale) for c in columns
        ]
        text_rows = [["", *(c or "" for c in columns)]]
        for r in rows:
            env = f"({r[1]})" if show_env else ""
            name = "  " + env.ljust(env_width + 4) + r[2]
            text_rows.append(
                [
                    name,
                    *(self._cell(cells.get((r, c)), scale, d) for c, d in zip(columns, decimals)),
                ]
            )
        widths = [max(len(t[i]) for t in text_rows) for i in range(len(columns) + 1)]
        header = "  |  ".join(t.center(w) for t, w in zip(text_rows[0], widths))
        lines = [f"[{(' ' + (results[0].label or '') + ' ').center(len(header) - 2, '-')}]", header]
        threads = None
        for r, text in zip(rows, text_rows[1:]):
            if r[0] != threads:
                threads = r[0]
                lines.append(f"{threads} threads: ".ljust(len(header), "-"))
            out = [text[0].ljust(widths[0])]
            for j, c in enumerate(columns):
                cell, here = text[j + 1].center(widths[j + 1]), cells.get((r, c))
                if self._colorize and here is not None:
                    if self._colorize == "row":
                        peers = [cells[r, k] for k in columns if (r, k) in cells]
                    else:
                        peers = [cells[q, c] for q in rows if q[0] == r[0] and (q, c) in cells]
                    cell = _colour(cell, here.median, min(p.median for p in peers))
                out.append(cell)
            lines.append("  |  ".join(out))
        lines += ["", f"Times are in {unit_to_english(unit)}s ({unit})."]
        if self._highlight and any(m.has_warnings for m in results):
            lines.append(
                "(! XX%) Measurement has high variance, where XX is the IQR / median * 100."
            )
        return "\n".join(lines) + "\n"
