"""Built-in datasets: ``digits()`` (the real 8x8 handwritten digits that scikit-learn ships, read
offline from its data file) and ``mnist(root)`` (the standard IDX files, gzipped or not)."""

from __future__ import annotations

import gzip
import importlib.util
import os
import struct
from pathlib import Path
from typing import Union

import numpy as np

from . import _core
from ._core import Tensor
from .errors import DemocratisingError


class DatasetError(DemocratisingError, OSError):
    """A dataset file that is missing or malformed."""


def _digits_file() -> Path:
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError(
            "digits() reads the 8x8 digits data file shipped with scikit-learn; "
            "scikit-learn (a dependency of democratising) is missing: `pip install scikit-learn`"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "digits.csv.gz"
    if not path.exists():
        raise DatasetError(f"scikit-learn is installed but its digits data is missing: {path}")
    return path


def digits() -> tuple[Tensor, Tensor]:
    """The 1,797 8x8 handwritten digits: images ``[1797, 64]`` float32 in [0, 1], labels int64."""
    raw = np.loadtxt(_digits_file(), delimiter=",", dtype=np.float32)
    x = np.ascontiguousarray(raw[:, :-1] / 16.0, dtype=np.float32)
    y = raw[:, -1].astype(np.int64)
    return _core.from_numpy(x), _core.from_numpy(y)


def _read_idx(path: Path, magic: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DatasetError(f"cannot read IDX file {path}: {e}") from e
    if len(data) < 8:
        raise DatasetError(f"{path} is too short to be an IDX file")
    (m,) = struct.unpack(">I", data[:4])
    if m != magic:
        raise DatasetError(f"{path}: bad magic number {m} (expected {magic})")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    dims = struct.unpack(">" + "I" * ndim, data[4:header])
    count = int(np.prod(dims))
    if len(data) - header != count:
        raise DatasetError(
            f"{path}: expected {count} bytes of data for shape {dims}, found {len(data) - header}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _find(root: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        p = root / name
        if p.exists():
            return p
    raise DatasetError(f"MNIST file {stem}[.gz] not found in {root}")


def mnist(root: Union[str, os.PathLike], train: bool = True) -> tuple[Tensor, Tensor]:
    """MNIST from ``root``: images ``[N, 28, 28]`` float32 in [0, 1], labels int64."""
    r = Path(root)
    prefix = "train" if train else "t10k"
    images = _read_idx(_find(r, f"{prefix}-images-idx3-ubyte"), 2051)
    labels = _read_idx(_find(r, f"{prefix}-labels-idx1-ubyte"), 2049)
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(f"{images.shape[0]} images but {labels.shape[0]} labels in {r}")
    x = (images.astype(np.float32) / 255.0).copy()
    return _core.from_numpy(x), _core.from_numpy(labels.astype(np.int64))
