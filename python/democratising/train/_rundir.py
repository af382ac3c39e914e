"""Run folders: ``runs_dir/<name>/version_N/`` holds one run's config, metrics, log and
checkpoints, so that two runs started in one directory never touch each other's files.

Why versions rather than timestamps: they sort, they are short to type (``--resume
runs/digits/version_3``), and ``mkdir`` without ``exist_ok`` claims a number atomically, so
two runs starting at once still get two folders. A resumed run keeps writing into the folder
of the checkpoint it continues (found from the path the user gave, never from the file).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable, Optional, Union

from ..checkpoint import Checkpoint
from ..errors import CheckpointError
from .callbacks import _epoch_files

__all__ = [
    "candidates",
    "find_last",
    "load_problem",
    "new_version_dir",
    "run_dir_of",
    "version_checkpoint_dirs",
]

PathLike = Union[str, "os.PathLike[str]"]

_VERSION = re.compile(r"^version_(\d+)$")
#: The subfolder of a run folder that holds its checkpoints.
CHECKPOINTS = "checkpoints"


def new_version_dir(runs_dir: PathLike, name: str) -> Path:
    """Creates and returns ``runs_dir/name/version_N`` with the next free ``N``."""
    parent = Path(runs_dir) / name
    parent.mkdir(parents=True, exist_ok=True)
    taken = [int(m.group(1)) for p in parent.iterdir() if (m := _VERSION.match(p.name))]
    n = max(taken, default=-1) + 1
    while True:
        path = parent / f"version_{n}"
        try:
            path.mkdir()  # atomic: a concurrent run that took this number makes us go on
            return path
        except FileExistsError:
            n += 1


def run_dir_of(checkpoint: PathLike) -> Optional[Path]:
    """The run folder a checkpoint file lives in (``.../version_N/checkpoints/x``), if any."""
    p = Path(checkpoint)
    if p.parent.name == CHECKPOINTS and _VERSION.match(p.parent.parent.name):
        return p.parent.parent
    return None


def _loads(path: Path) -> bool:
    """Whether ``path`` is a complete, verified checkpoint (a torn or foreign file is not)."""
    try:
        Checkpoint.load(path)
        return True
    except (CheckpointError, OSError, ValueError):
        return False


def find_last(
    *roots: PathLike, on_skip: Optional[Callable[[Path, str], None]] = None
) -> Optional[Path]:
    """The newest complete checkpoint of the newest run: run folders under each of ``roots``
    (``root/<name>/version_N/checkpoints``, or plain checkpoint folders given as roots) are
    ordered by the time of their newest checkpoint, and within the newest, files by epoch and
    step; the first one that loads is returned. ``on_skip(path, problem)`` hears of each newer
    file passed over (torn or corrupt), so that a resume does not lose epochs unannounced."""
    folders: list[tuple[float, Path]] = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        candidates = [root, *root.glob(f"*/version_*/{CHECKPOINTS}")]
        for d in candidates:
            files = _epoch_files(d)
            if files:
                newest = max(f.stat().st_mtime for _, f in files)
                folders.append((newest, d))
    for _, d in sorted(folders, key=lambda t: t[0], reverse=True):
        for _, f in reversed(_epoch_files(d)):
            if on_skip is None:
                if _loads(f):
                    return f
                continue
            problem = load_problem(f)
            if problem is None:
                return f
            on_skip(f, problem)
    return None


def version_checkpoint_dirs(parent: Path) -> list[Path]:
    """``parent/version_N/checkpoints`` for every ``N`` (folders that exist)."""
    if not parent.is_dir():
        return []
    return [
        p / CHECKPOINTS
        for p in parent.iterdir()
        if _VERSION.match(p.name) and (p / CHECKPOINTS).is_dir()
    ]


def candidates(folders: list[Path]) -> list[Path]:
    """Every checkpoint of the folder whose newest checkpoint is newest, newest first (by
    epoch and step), then those of the next folder, and so on."""
    found: list[tuple[float, list[Path]]] = []
    for d in folders:
        files = [f for _, f in _epoch_files(d)]
        if files:
            found.append((max(_mtime(f) for f in files), files))
    out: list[Path] = []
    for _, files in sorted(found, key=lambda t: t[0], reverse=True):
        out.extend(reversed(files))
    return out


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except OSError:  # removed meanwhile (pruned)
        return 0.0


def load_problem(path: Path) -> Optional[str]:
    """Why ``path`` is not a complete, verified checkpoint (``None`` when it is one): a torn,
    corrupt or foreign file, or a sharded folder without its index."""
    from ..distributed.sharded_checkpoint import is_sharded_directory

    if path.is_dir() and not is_sharded_directory(path):
        return "a folder without index.json (an unfinished sharded checkpoint)"
    try:
        Checkpoint.load(path)  # a sharded folder is consolidated (every shard read)
        return None
    except (CheckpointError, OSError, ValueError) as e:
        return f"{type(e).__name__}: {e}"
