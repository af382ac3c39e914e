"""``democratising.utils.tensorboard.SummaryWriter``: PyTorch's TensorBoard writer for scalars
and histograms, with no dependency: it writes TensorBoard's own event files (TFRecord framing
with masked CRC-32C checksums around hand-encoded ``Event`` protocol buffers), which
``tensorboard --logdir runs`` reads.

Programs such as makemore import it at the top and log losses with ``add_scalar``. What it
does not record (images, text, graphs, embeddings, figures, audio) is accepted and dropped,
with one warning per kind, so a training script never fails over its logging."""

from __future__ import annotations

import math
import os
import socket
import struct
import time
import warnings
from collections.abc import Mapping
from datetime import datetime
from typing import IO, Any, Callable, Optional

import numpy as np

__all__ = ["SummaryWriter"]


# ---- CRC-32C (Castagnoli), as TFRecord needs -----------------------------------------------


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data: bytes) -> bytes:
    """One TFRecord: length, its masked CRC, the data, the data's masked CRC."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


# ---- the few protocol-buffer messages an event file needs ----------------------------------


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 as two's complement, as protobuf does
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field_bytes(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _field_double(field: int, value: float) -> bytes:
    return _varint(field << 3 | 1) + struct.pack("<d", value)


def _field_float(field: int, value: float) -> bytes:
    return _varint(field << 3 | 5) + struct.pack("<f", value)


def _field_varint(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _packed_doubles(field: int, values: Any) -> bytes:
    return _field_bytes(field, b"".join(struct.pack("<d", float(v)) for v in values))


def event(wall_time: float, step: int = 0, summary: Optional[bytes] = None,
          file_version: Optional[str] = None) -> bytes:  # fmt: skip
    """An ``Event``: wall_time (1), step (2), file_version (3) or summary (5)."""
    out = _field_double(1, wall_time) + _field_varint(2, int(step))
    if file_version is not None:
        out += _field_bytes(3, file_version.encode())
    if summary is not None:
        out += _field_bytes(5, summary)
    return out


def scalar_summary(tag: str, value: float) -> bytes:
    """A ``Summary`` holding one ``Value{tag (1), simple_value (2)}``."""
    return _field_bytes(1, _field_bytes(1, tag.encode()) + _field_float(2, value))


def histogram_summary(tag: str, values: np.ndarray, bins: Any = "tensorflow") -> bytes:
    """A ``Summary`` holding one ``Value{tag (1), histo (5)}`` (``HistogramProto``: min, max,
    num, sum, sum_squares, bucket_limit, bucket)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    if v.size == 0:
        v = np.zeros(1)
    n_bins = 30 if isinstance(bins, str) else bins
    counts, edges = np.histogram(v, bins=n_bins)
    histo = (
        _field_double(1, float(v.min()))
        + _field_double(2, float(v.max()))
        + _field_double(3, float(v.size))
        + _field_double(4, float(v.sum()))
        + _field_double(5, float((v * v).sum()))
        + _packed_doubles(6, edges[1:])
        + _packed_doubles(7, counts)
    )
    return _field_bytes(1, _field_bytes(1, tag.encode()) + _field_bytes(5, histo))


def _number(value: Any) -> float:
    """A Python float from a number, a NumPy scalar or a one-element tensor."""
    if hasattr(value, "item"):
        value = value.item()
    return float(value)


def _array(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach()
        if getattr(values, "device", None) is not None and values.device.type != "cpu":
            values = values.cpu()
        if str(values.dtype).endswith(("bfloat16", "float16")):
            values = values.float()
        values = values.numpy()
    return np.asarray(values, dtype=np.float64)


class _EventFile:
    def __init__(self, log_dir: str, suffix: str) -> None:
        os.makedirs(log_dir, exist_ok=True)
        name = (
            f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
            f"{os.getpid()}.{next(_UIDS)}{suffix}"
        )
        self.path = os.path.join(log_dir, name)
        self._f: Optional[IO[bytes]] = open(self.path, "ab")
        self.write(event(time.time(), 0, file_version="brain.Event:2"))

    def write(self, record: bytes) -> None:
        if self._f is not None:
            self._f.write(tfrecord(record))

    def flush(self) -> None:
        if self._f is not None:
            self._f.flush()

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def _uids() -> Any:
    n = 0
    while True:
        n += 1
        yield n


_UIDS = _uids()


def _not_recorded(kind: str) -> Callable[..., None]:
    """A ``SummaryWriter`` method PyTorch's has but this one does not record: it takes any
    arguments and warns, once per kind, that nothing was written."""

    def method(self: SummaryWriter, *args: Any, **kwargs: Any) -> None:
        self._drop(kind)

    method.__name__, method.__qualname__ = kind, f"SummaryWriter.{kind}"
    return method


class SummaryWriter:
    """``SummaryWriter(log_dir=None, comment="", ...)``: ``add_scalar``, ``add_scalars``,
    ``add_histogram``, ``flush``, ``close``, a context manager. ``log_dir`` defaults to
    PyTorch's ``runs/<date>_<host><comment>``. Other ``add_*`` calls are accepted and not
    recorded (one warning per kind)."""

    def __init__(
        self,
        log_dir: Optional[str] = None,
        comment: str = "",
        purge_step: Optional[int] = None,
        max_queue: int = 10,
        flush_secs: int = 120,
        filename_suffix: str = "",
    ) -> None:
        del purge_step, max_queue
        if log_dir is None:
            stamp = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", f"{stamp}_{socket.gethostname()}{comment}")
        self.log_dir = str(log_dir)
        self._suffix = filename_suffix
        self._flush_secs = flush_secs
        self._last_flush = time.monotonic()
        self._file = _EventFile(self.log_dir, filename_suffix)
        self._children: dict[str, _EventFile] = {}
        self._warned: set[str] = set()

    def get_logdir(self) -> str:
        return self.log_dir

    def _write(self, summary: bytes, step: Optional[int], walltime: Optional[float],
               file: Optional[_EventFile] = None) -> None:  # fmt: skip
        wall = time.time() if walltime is None else float(walltime)
        (file or self._file).write(event(wall, 0 if step is None else int(step), summary))
        if time.monotonic() - self._last_flush > self._flush_secs:
            self.flush()

    def add_scalar(
        self,
        tag: str,
        scalar_value: Any,
        global_step: Optional[int] = None,
        walltime: Optional[float] = None,
        new_style: bool = False,
        double_precision: bool = False,
    ) -> None:
        """Logs one number (a float, a NumPy scalar or a one-element tensor) under ``tag``."""
        del new_style, double_precision
        self._write(scalar_summary(tag, _number(scalar_value)), global_step, walltime)

    def add_scalars(
        self,
        main_tag: str,
        tag_scalar_dict: Mapping[str, Any],
        global_step: Optional[int] = None,
        walltime: Optional[float] = None,
    ) -> None:
        """Several curves on one chart: as PyTorch, each in its own run folder
        ``<log_dir>/<main_tag>_<tag>``."""
        for tag, value in tag_scalar_dict.items():
            folder = os.path.join(self.log_dir, f"{main_tag}_{tag}".replace("/", "_"))
            child = self._children.get(folder)
            if child is None:
                child = self._children[folder] = _EventFile(folder, self._suffix)
            self._write(scalar_summary(main_tag, _number(value)), global_step, walltime, child)

    def add_histogram(
        self,
        tag: str,
        values: Any,
        global_step: Optional[int] = None,
        bins: Any = "tensorflow",
        walltime: Optional[float] = None,
        max_bins: Optional[int] = None,
    ) -> None:
        del max_bins
        self._write(histogram_summary(tag, _array(values), bins), global_step, walltime)

    def _drop(self, kind: str) -> None:
        if kind not in self._warned:
            self._warned.add(kind)
            warnings.warn(
                f"SummaryWriter.{kind} is not recorded by democratising (scalars and "
                "histograms are)",
                UserWarning,
                stacklevel=3,
            )

    add_text = _not_recorded("add_text")
    add_image = _not_recorded("add_image")
    add_images = _not_recorded("add_images")
    add_figure = _not_recorded("add_figure")
    add_graph = _not_recorded("add_graph")
    add_embedding = _not_recorded("add_embedding")
    add_audio = _not_recorded("add_audio")

    def add_hparams(self, hparam_dict: Mapping[str, Any], metric_dict: Mapping[str, Any],
                    *args: Any, **kwargs: Any) -> None:  # fmt: skip
        """The metrics are logged as scalars (hyperparameters are not recorded)."""
        for tag, value in metric_dict.items():
            if isinstance(value, (int, float)) and math.isfinite(float(value)):
                self.add_scalar(tag, value)

    def flush(self) -> None:
        self._file.flush()
        for child in self._children.values():
            child.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        self._file.close()
        for child in self._children.values():
            child.close()

    def __enter__(self) -> SummaryWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass
