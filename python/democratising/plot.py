"""``democratising plot RUN_DIR... -o FILE.png``: the loss, metric and learning-rate curves of
one or more runs, side by side in one PNG, so runs are compared at a glance.

A run is a folder holding the ``metrics.csv`` (or ``metrics.jsonl``) the trainer writes into
its run folder (``runs_dir``); a folder that holds no such file directly stands for every run
below it (``runs/digits`` plots each ``version_N``). Each metric gets a panel, its training
curve solid and its ``val_`` curve dashed, one colour per run; the learning rate is drawn on a
log scale. Rendering uses matplotlib's Agg canvas directly (the optional extra ``plot``), so
no display is needed and no global backend is changed."""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Optional, Union

from ._extras import require
from .errors import InvalidValueError

__all__ = ["find_runs", "plot_runs", "read_metrics"]

PathLike = Union[str, "os.PathLike[str]"]
METRIC_FILES = ("metrics.csv", "metrics.jsonl")
#: Columns that are not curves worth a panel by default.
_SKIP = {"epoch", "time", "step", "throughput"}


def _float(v: object) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def read_metrics(path: PathLike) -> dict[str, list[float]]:
    """A ``metrics.csv``/``.jsonl`` file (or a run folder holding one) as columns of floats
    (NaN where a row has no value)."""
    p = Path(path)
    if p.is_dir():
        p = next((p / f for f in METRIC_FILES if (p / f).exists()), p / METRIC_FILES[0])
    if not p.exists():
        raise FileNotFoundError(f"no metrics.csv or metrics.jsonl in {p.parent}")
    rows: list[dict[str, object]] = []
    if p.suffix == ".jsonl":
        for line in p.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line))
    else:
        with p.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    return {k: [_float(r.get(k)) for r in rows] for k in keys}


def find_runs(paths: Sequence[PathLike]) -> list[Path]:
    """The run folders named by ``paths``: each folder with a metrics file, or every folder
    below it that has one. ``FileNotFoundError`` naming a path with none."""
    runs: list[Path] = []
    for path in paths:
        p = Path(path)
        if p.is_file() and p.name in METRIC_FILES:
            runs.append(p.parent)
            continue
        if not p.is_dir():
            raise FileNotFoundError(f"{p}: no such run folder")
        if any((p / f).exists() for f in METRIC_FILES):
            runs.append(p)
            continue
        below = sorted({f.parent for name in METRIC_FILES for f in p.rglob(name)})
        if not below:
            raise FileNotFoundError(f"{p}: no metrics.csv or metrics.jsonl in it or below it")
        runs += below
    return runs


def _label(run: Path, runs: list[Path]) -> str:
    """The shortest trailing part of the path that tells the runs apart."""
    for depth in range(1, len(run.parts) + 1):
        tails = ["/".join(r.parts[-depth:]) for r in runs]
        if len(set(tails)) == len(tails):
            return "/".join(run.parts[-depth:])
    return str(run)


def plot_runs(
    paths: Sequence[PathLike],
    output: PathLike,
    metrics: Optional[Sequence[str]] = None,
    title: Optional[str] = None,
    dpi: int = 100,
) -> Path:
    """Renders the runs under ``paths`` to the PNG ``output``; returns its path.

    ``metrics`` chooses the panels by base name (``["loss", "f1", "lr"]``; ``val_`` curves
    join their training curve's panel); by default every recorded metric but the epoch,
    time and throughput columns, loss first and the learning rate last."""
    require("matplotlib", "plot", "democratising plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    runs = find_runs(paths)
    data = [read_metrics(r) for r in runs]
    found: list[str] = []
    for columns in data:
        for k in columns:
            base = k[4:] if k.startswith("val_") else k
            if base not in _SKIP and base not in found:
                found.append(base)
    if metrics:
        panels = [m[4:] if m.startswith("val_") else m for m in metrics]
        missing = [m for m in panels if m not in found]
        if missing:
            raise InvalidValueError(
                f"metrics {missing} are not recorded in these runs (found {found})"
            )
    else:
        rest = sorted(m for m in found if m not in ("loss", "lr"))
        panels = [m for m in ("loss",) if m in found] + rest + [m for m in ("lr",) if m in found]
    if not panels:
        raise InvalidValueError("the runs record no metric to plot")
    ncols = min(3, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig = Figure(figsize=(5.0 * ncols, 3.6 * nrows), dpi=dpi)
    FigureCanvasAgg(fig)
    colors = [f"C{i % 10}" for i in range(len(runs))]
    names = [_label(run, runs) for run in runs]
    xs = []  # each run's epochs (1, 2, ... where it records none)
    for cols_ in data:
        n = max((len(v) for v in cols_.values()), default=0)
        xs.append(cols_.get("epoch") or [float(e + 1) for e in range(n)])
    for i, panel in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for name, x, cols_, color in zip(names, xs, data, colors):
            for key, style, suffix in ((panel, "-", ""), (f"val_{panel}", "--", " (val)")):
                y = cols_.get(key, [])
                if any(not math.isnan(v) for v in y):
                    ax.plot(
                        x[: len(y)],
                        y,
                        style,
                        color=color,
                        marker="o",
                        markersize=3,
                        label=name + suffix,
                    )
        ax.set_title(panel)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if panel == "lr":
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        if i == 0:
            ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(out), format="png")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``democratising plot`` arguments."""
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders (or their parents)")
    p.add_argument("-o", "--output", required=True, metavar="FILE.png", help="PNG to write")
    p.add_argument("--metrics", metavar="A,B", help="panels, e.g. loss,accuracy,lr")
    p.add_argument("--title", help="a title over the panels")


def run_command(args: argparse.Namespace) -> int:
    """Runs ``democratising plot``; returns the exit status."""
    chosen = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    try:
        runs = find_runs(args.runs)
        out = plot_runs(runs, args.output, chosen, args.title)
    except (FileNotFoundError, ValueError, ImportError) as e:
        print(f"democratising plot: error: {e}", file=sys.stderr)
        return 2
    print(f"Wrote {out} ({len(runs)} run{'s' if len(runs) != 1 else ''})")
    return 0
