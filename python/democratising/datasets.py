"""Built-in datasets: ``digits()`` (the real 8x8 handwritten digits that scikit-learn ships, read
offline from its data file) and ``mnist(root)`` (the standard IDX files, gzipped or not).

IDX files are untrusted input: their headers are checked (magic, a size limit on the arrays they
become, images against labels) before any payload is read, and gzipped payloads are
decompressed as a stream that stops one byte past what the header declares, so a gzip bomb is
refused without expanding it.
"""

from __future__ import annotations

import gzip
import importlib.util
import math
import os
import struct
import zlib
from pathlib import Path
from typing import Any, Union

import numpy as np

from . import _core
from ._core import Tensor
from .errors import DemocratisingError


class DatasetError(DemocratisingError, OSError):
    """A dataset file that is missing or malformed."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """A dataset file or folder that does not exist; also a ``FileNotFoundError``, as
    ``open()`` would raise."""


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


#: Largest array an IDX file may load into (4 GiB), counted after conversion (float32 images
#: take 4 bytes a pixel, int64 labels 8): far above MNIST's 188 MB and EMNIST's 2.6 GB, and
#: checked against the header before anything is decompressed or allocated. Loading holds the
#: payload (1 byte an element) and the converted array, nothing else of that size.
MAX_IDX_BYTES = 2**32
_CHUNK = 1 << 20


class _Idx:
    """An open IDX file (gzipped or not) whose header has been read and checked.

    Why streaming: a gzip file does not say how large it expands, so a few MB can hold GBs
    (a gzip bomb). The header does say how many bytes follow, so we never decompress more than
    that plus one byte, the byte that proves the file is longer than it claims.
    """

    def __init__(self, path: Path, magic: int, itemsize: int) -> None:
        self.path = path
        gz = path.suffix == ".gz"
        try:
            self.file: Any = gzip.open(path, "rb") if gz else open(path, "rb")
        except OSError as e:
            raise DatasetError(f"cannot read IDX file {path}: {e}") from e
        try:
            head = self._read(4)
            if len(head) < 4:
                raise DatasetError(f"{path} is too short to be an IDX file")
            (m,) = struct.unpack(">I", head)
            if m != magic:
                raise DatasetError(f"{path}: bad magic number {m} (expected {magic})")
            ndim = magic & 0xFF
            raw_dims = self._read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise DatasetError(f"{path} is too short to be an IDX file")
            self.dims = struct.unpack(">" + "I" * ndim, raw_dims)
            self.nbytes = math.prod(self.dims)
            if self.nbytes * itemsize > MAX_IDX_BYTES:
                raise DatasetError(
                    f"{path}: header declares shape {self.dims} ({self.nbytes} bytes, "
                    f"{self.nbytes * itemsize} once loaded), more than the {MAX_IDX_BYTES}-byte "
                    "limit for an IDX file"
                )
            if not gz:
                size = os.fstat(self.file.fileno()).st_size
                if size != 4 + 4 * ndim + self.nbytes:
                    self._mismatch(size - 4 - 4 * ndim)
        except BaseException:
            self.file.close()
            raise

    def _read(self, n: int) -> bytes:
        try:
            data: bytes = self.file.read(n)
        except (OSError, EOFError, zlib.error) as e:
            raise DatasetError(f"cannot read IDX file {self.path}: {e}") from e
        return data

    def _mismatch(self, found: str | int) -> None:
        raise DatasetError(
            f"{self.path}: expected {self.nbytes} bytes of data for shape {self.dims}, "
            f"found {found}"
        )

    def read(self) -> np.ndarray:
        """The payload as a ``uint8`` array of the declared shape; closes the file."""
        try:
            # Grown as data arrives, so a header that lies about a huge size costs nothing
            # until the bytes are really there.
            out = bytearray()
            while len(out) < self.nbytes:
                chunk = self._read(min(_CHUNK, self.nbytes - len(out)))
                if not chunk:
                    self._mismatch(len(out))
                out += chunk
            if self._read(1):
                self._mismatch("more than the header declares")
        finally:
            self.file.close()
        return np.frombuffer(out, dtype=np.uint8).reshape(self.dims)

    def close(self) -> None:
        self.file.close()


def _read_idx(path: Path, magic: int) -> np.ndarray:
    return _Idx(path, magic, 1).read()


def _find(root: Path, stem: str) -> Path:
    # Also torchvision's layout (``root/MNIST/raw``), so that a folder it downloaded into works.
    for folder in (root, root / "MNIST" / "raw", root / "raw"):
        for name in (stem, stem + ".gz"):
            p = folder / name
            if p.exists():
                return p
    raise DatasetNotFoundError(
        f"MNIST file {stem}[.gz] not found in {root} (nor in {root}/MNIST/raw)"
    )


def mnist(root: Union[str, os.PathLike], train: bool = True) -> tuple[Tensor, Tensor]:
    """MNIST from ``root`` (or torchvision's ``root/MNIST/raw``): images ``[N, 28, 28]`` float32
    in [0, 1], labels int64."""
    r = Path(root)
    if r.is_file():  # a common slip: the path of one of the files rather than their folder
        raise DatasetError(
            f"mnist() expected a directory holding the MNIST IDX files, got the file {r}; "
            f"pass its folder: mnist({str(r.parent)!r})"
        )
    if not r.exists():
        raise DatasetNotFoundError(f"MNIST directory {r} does not exist")
    prefix = "train" if train else "t10k"
    image_file = _Idx(_find(r, f"{prefix}-images-idx3-ubyte"), 2051, 4)
    try:
        label_file = _Idx(_find(r, f"{prefix}-labels-idx1-ubyte"), 2049, 8)
    except BaseException:
        image_file.close()
        raise
    # Both headers are checked before either payload is read.
    if image_file.dims[0] != label_file.dims[0]:
        image_file.close()
        label_file.close()
        raise DatasetError(f"{image_file.dims[0]} images but {label_file.dims[0]} labels in {r}")
    try:
        images = image_file.read()
    except BaseException:
        label_file.close()
        raise
    labels = label_file.read()
    # Only the final array is allocated: the ufunc casts uint8 to float32 in small buffers.
    x = np.empty(images.shape, dtype=np.float32)
    np.divide(images, np.float32(255.0), out=x, dtype=np.float32)
    del images
    return _core.from_numpy(x), _core.from_numpy(labels.astype(np.int64))
