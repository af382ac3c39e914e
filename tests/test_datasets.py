"""``datasets.mnist``: IDX files, gzipped or not, as untrusted input — a gzip bomb, absurd
header counts, short and long payloads are refused quickly and with little memory."""

from __future__ import annotations

import gzip
import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from democratising import datasets
from democratising.datasets import MAX_IDX_BYTES, DatasetError


def _images(n: int, payload: bytes | None = None, rows: int = 28, cols: int = 28) -> bytes:
    header = struct.pack(">IIII", 2051, n, rows, cols)
    return header + (
        payload
        if payload is not None
        else bytes(range(256)) * (n * rows * cols // 256) + bytes(n * rows * cols % 256)
    )


def _labels(n: int, payload: bytes | None = None) -> bytes:
    return struct.pack(">II", 2049, n) + (
        payload if payload is not None else bytes(i % 10 for i in range(n))
    )


def _write(root: Path, images: bytes, labels: bytes, gz: bool = True) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for stem, blob in (("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels)):
        if gz:
            (root / f"{stem}.gz").write_bytes(gzip.compress(blob, compresslevel=1))
        else:
            (root / stem).write_bytes(blob)


@pytest.mark.parametrize("gz", [True, False])
def test_valid_files_load(gz: bool, tmp_path: Path) -> None:
    _write(tmp_path, _images(12), _labels(12), gz)
    x, y = datasets.mnist(tmp_path)
    assert tuple(x.shape) == (12, 28, 28) and tuple(y.shape) == (12,)
    raw = np.frombuffer(_images(12)[16:], np.uint8).reshape(12, 28, 28)
    np.testing.assert_allclose(x.numpy(), raw.astype(np.float32) / 255.0)
    assert y.tolist() == [i % 10 for i in range(12)]


def test_gzip_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    """The header promises 10 images (7,840 bytes); the stream holds 50 MB of zeros. We stop
    one byte past the promise, so neither time nor memory grows with the bomb."""
    _write(tmp_path, _images(10, bytes(50 * 2**20)), _labels(10))
    assert (tmp_path / "train-images-idx3-ubyte.gz").stat().st_size < 300_000
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(DatasetError, match="more than the header declares"):
            datasets.mnist(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1.0
    assert peak < 5 * 2**20, peak


@pytest.mark.parametrize("gz", [True, False])
def test_absurd_header_counts_are_refused_before_reading(gz: bool, tmp_path: Path) -> None:
    _write(tmp_path, _images(2**31 - 1, b""), _labels(2**31 - 1, b""), gz)
    start = time.perf_counter()
    with pytest.raises(DatasetError, match=f"more than the {MAX_IDX_BYTES}-byte limit"):
        datasets.mnist(tmp_path)
    assert time.perf_counter() - start < 1.0


def test_limit_counts_the_loaded_float32_size(tmp_path: Path) -> None:
    """2,000 MB of pixels is under 4 GiB as bytes but 8 GB as float32: refused from the header
    (it used to be read, then converted with several full-size temporaries)."""
    _write(tmp_path, _images(2_000_000, bytes(8192), rows=1000, cols=1), _labels(2_000_000, b""))
    with pytest.raises(DatasetError, match=f"8000000000 once loaded.*{MAX_IDX_BYTES}-byte limit"):
        datasets.mnist(tmp_path)


def test_loading_allocates_only_the_payload_and_the_float32_array(tmp_path: Path) -> None:
    """Peak traced memory stays near the final float32 array plus the uint8 payload (it was
    the payload plus two float32 arrays: astype, division and copy)."""
    n = 50_000
    _write(tmp_path, _images(n), _labels(n))
    final = n * 28 * 28 * 4
    tracemalloc.start()
    try:
        x, _ = datasets.mnist(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert tuple(x.shape) == (n, 28, 28)
    assert peak < 1.4 * final, (peak, final)


def test_header_lying_below_the_limit_costs_only_what_is_there(tmp_path: Path) -> None:
    """A header claiming 500 MB (2 GB as float32) with 8 KB behind it: refused as short,
    without allocating what the header promised."""
    _write(tmp_path, _images(2_000_000, bytes(8192), rows=250, cols=1), _labels(2_000_000, b""))
    tracemalloc.start()
    try:
        # The labels do not match: refused from the headers alone.
        _write(tmp_path, _images(2_000_000, bytes(8192), rows=250, cols=1), _labels(5))
        with pytest.raises(DatasetError, match="2000000 images but 5 labels"):
            datasets.mnist(tmp_path)
        _write(
            tmp_path,
            _images(2_000_000, bytes(8192), rows=250, cols=1),
            _labels(2_000_000, bytes(100)),
        )
        with pytest.raises(DatasetError, match=r"expected 500000000 bytes .* found 8192"):
            datasets.mnist(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20, peak


@pytest.mark.parametrize("gz", [True, False])
def test_short_long_and_malformed_files(gz: bool, tmp_path: Path) -> None:
    cases = {
        "short payload": (_images(3, bytes(100)), "found 100"),
        "long payload": (_images(3, bytes(3 * 784 + 1)), "more than the header|found 2353"),
        "bad magic": (struct.pack(">IIII", 2049, 3, 28, 28) + bytes(3 * 784), "bad magic"),
        "truncated header": (struct.pack(">II", 2051, 3), "too short"),
    }
    for name, (blob, match) in cases.items():
        _write(tmp_path / name, blob, _labels(3), gz)
        with pytest.raises(DatasetError, match=match):
            datasets.mnist(tmp_path / name)


def test_corrupt_gzip_is_a_dataset_error(tmp_path: Path) -> None:
    _write(tmp_path, _images(3), _labels(3))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(DatasetError, match="cannot read IDX file"):
        datasets.mnist(tmp_path)
