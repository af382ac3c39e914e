"""``utils.tensorboard.SummaryWriter`` writes TensorBoard event files: TFRecord framing with
masked CRC-32C, ``Event``/``Summary`` protocol buffers. Read back here with an independent
decoder (TensorBoard itself is not installed in the test environment)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import democratising as torch
from democratising.utils.tensorboard import SummaryWriter, crc32c, masked_crc32c


def _records(path: Path) -> list[bytes]:
    data, out, i = path.read_bytes(), [], 0
    while i < len(data):
        (n,) = struct.unpack("<Q", data[i : i + 8])
        assert struct.unpack("<I", data[i + 8 : i + 12])[0] == masked_crc32c(data[i : i + 8])
        body = data[i + 12 : i + 12 + n]
        crc = struct.unpack("<I", data[i + 12 + n : i + 16 + n])[0]
        assert crc == masked_crc32c(body)
        out.append(body)
        i += 16 + n
    return out


def _fields(buf: bytes) -> list[tuple[int, Any]]:
    """(field number, value) of a protobuf message: varints as ints, fixed64 as doubles,
    fixed32 as floats, length-delimited as bytes."""
    out, i = [], 0

    def varint() -> int:
        nonlocal i
        shift = result = 0
        while True:
            b = buf[i]
            i += 1
            result |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return result

    while i < len(buf):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            out.append((field, varint()))
        elif wire == 1:
            out.append((field, struct.unpack("<d", buf[i : i + 8])[0]))
            i += 8
        elif wire == 5:
            out.append((field, struct.unpack("<f", buf[i : i + 4])[0]))
            i += 4
        elif wire == 2:
            n = varint()
            out.append((field, buf[i : i + n]))
            i += n
        else:
            raise AssertionError(f"unexpected wire type {wire}")
    return out


def _scalars(path: Path) -> list[tuple[str, int, float]]:
    got = []
    for rec in _records(path)[1:]:
        ev = dict(_fields(rec))
        value = dict(_fields(dict(_fields(ev[5]))[1]))
        if 2 in value:
            got.append((value[1].decode(), ev.get(2, 0), value[2]))
    return got


def test_crc32c_known_vector() -> None:
    assert crc32c(b"123456789") == 0xE3069283


def test_scalars_are_written_as_tensorboard_events(tmp_path: Path) -> None:
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        writer.add_scalar("Loss/train", 2.5, 0)
        writer.add_scalar("Loss/train", torch.tensor(1.25), 10)
        writer.add_scalar("lr", np.float32(0.001), global_step=10)
        writer.flush()
    (path,) = tmp_path.glob("events.out.tfevents.*")
    first = dict(_fields(_records(path)[0]))
    assert first[3] == b"brain.Event:2"
    assert _scalars(path) == [
        ("Loss/train", 0, 2.5),
        ("Loss/train", 10, 1.25),
        ("lr", 10, pytest.approx(0.001)),
    ]


def test_add_scalars_histograms_and_dropped_kinds(tmp_path: Path) -> None:
    writer = SummaryWriter(log_dir=str(tmp_path))
    writer.add_scalars("loss", {"train": 1.0, "val": 2.0}, 3)
    writer.add_histogram("w", torch.randn(100), 1)
    with pytest.warns(UserWarning, match="add_image"):
        writer.add_image("img", np.zeros((3, 4, 4)))
    writer.add_image("img", np.zeros((3, 4, 4)))  # warned once
    writer.close()
    (train,) = (tmp_path / "loss_train").glob("events.*")
    assert _scalars(train) == [("loss", 3, 2.0 - 1.0)]
    (main,) = tmp_path.glob("events.*")
    ev = dict(_fields(_records(main)[1]))
    value = dict(_fields(dict(_fields(ev[5]))[1]))
    histo = dict(_fields(value[5]))
    assert value[1] == b"w" and histo[3] == 100.0  # num


def test_default_log_dir_is_under_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    writer = SummaryWriter(comment="_x")
    assert writer.get_logdir().startswith("runs") and writer.get_logdir().endswith("_x")
    writer.close()
