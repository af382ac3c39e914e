"""Session 27 fuzzing of saving and loading: ``dm.save``/``dm.load`` round trips (dtypes, views
that share storage, containers, file objects, ``map_location``), corrupt and hostile files
(every one a ``CheckpointError`` that changes nothing), failed saves that must keep the old
file, ``save_checkpoint``/``load_checkpoint`` resuming bitwise, and safetensors interop.
Expected values are constants or NumPy, checked against PyTorch 2.x when written."""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising import serialization
from democratising._safetensors import decode_tensors, parse_header, write_safetensors
from democratising.checkpoint import load_checkpoint, save_checkpoint
from democratising.errors import CheckpointError

Pair = collections.namedtuple("Pair", "a b")


def _round_trip(obj: Any, **kw: Any) -> Any:
    buf = io.BytesIO()
    dm.save(obj, buf)
    buf.seek(0)
    return dm.load(buf, **kw)


def _same_storage(a: dm.Tensor, b: dm.Tensor) -> bool:
    return bool(a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr())


# ---- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int64", "int32"])
def test_every_dtype_round_trips_exactly_incl_0d_empty_and_strided(dtype: str) -> None:
    dt = getattr(dm, dtype)
    base = (dm.arange(12.0).reshape(3, 4) * 1.375 - 4).to(dt)
    obj = {"m": base, "t": base.t(), "col": base[:, 1], "s": base[1, 2], "e": base[:0]}
    out = _round_trip(obj)
    for k, v in obj.items():
        assert out[k].dtype == dt and tuple(out[k].shape) == tuple(v.shape), k
        assert np.array_equal(out[k].float().numpy(), v.float().numpy()), k


def test_bool_tensors_round_trip() -> None:
    t = dm.tensor([True, False, True])
    out = _round_trip([t, t[1]])
    assert out[0].dtype == dm.bool and out[0].tolist() == [True, False, True]
    assert out[1].shape == () and out[1].item() is False


def test_views_sharing_storage_stay_shared_like_torch() -> None:
    x = dm.arange(12.0).reshape(3, 4)
    out = _round_trip({"x": x, "t": x.t(), "rows": x[1:], "flat": x.view(12)[2:5]})
    for k in ("t", "rows", "flat"):
        assert _same_storage(out["x"], out[k]), k
    out["x"][1, 2] = 100.0  # torch: the write shows through every view
    assert out["t"][2, 1].item() == 100.0
    assert out["rows"][0, 2].item() == 100.0
    assert out["flat"].tolist() == [2.0, 3.0, 4.0]
    assert out["t"].tolist() == [
        [0.0, 4.0, 8.0],
        [1.0, 5.0, 9.0],
        [2.0, 100.0, 10.0],
        [3.0, 7.0, 11.0],
    ]


def test_views_that_cannot_be_rebuilt_load_as_correct_copies() -> None:
    x = dm.arange(8.0).reshape(2, 4)
    out = _round_trip({"x": x, "col": x[:, 1], "e": x[0].expand(2, 4)})
    assert out["col"].tolist() == [1.0, 5.0]
    assert out["e"].tolist() == [[0.0, 1.0, 2.0, 3.0]] * 2


def test_independent_tensors_stay_independent_and_state_dicts_keep_their_keys() -> None:
    sd = dm.nn.Linear(3, 2).state_dict()
    buf = io.BytesIO()
    dm.save(sd, buf)
    assert b'"storage"' not in buf.getvalue()
    buf.seek(0)
    out = dm.load(buf)
    assert not _same_storage(out["weight"], out["bias"])


def test_parameters_and_requires_grad_survive() -> None:
    p = dm.nn.Parameter(dm.ones(2))
    q = dm.nn.Parameter(dm.ones(2), requires_grad=False)
    out = _round_trip([p, q, dm.ones(1, requires_grad=True), p])
    assert isinstance(out[0], dm.nn.Parameter) and out[0].requires_grad
    assert isinstance(out[1], dm.nn.Parameter) and not out[1].requires_grad
    assert out[2].requires_grad and out[3] is out[0]


def test_containers_torch_weights_only_accepts() -> None:
    obj = {
        (1, "a"): {1, 2},
        1 + 2j: frozenset({b"k"}),
        b"raw": bytearray(b"\x00\xff"),
        "od": collections.OrderedDict(b=1, a=[None, 2.5, float("inf")]),
        "c": complex(float("nan"), -0.0),
        "t": (1, (2,)),
    }
    out = _round_trip(obj)
    assert out[(1, "a")] == {1, 2} and out[1 + 2j] == frozenset({b"k"})
    assert type(out[b"raw"]) is bytearray and out[b"raw"] == b"\x00\xff"
    assert type(out["od"]) is collections.OrderedDict and list(out["od"]) == ["b", "a"]
    assert out["od"]["a"] == [None, 2.5, float("inf")]
    assert np.isnan(out["c"].real) and str(out["c"].imag) == "-0.0"
    assert out["t"] == (1, (2,))


def test_named_tuples_come_back_with_their_fields() -> None:
    value = Pair(1, dm.ones(2))
    out = _round_trip(value)
    assert out._fields == ("a", "b") and out.a == 1 and out.b.tolist() == [1.0, 1.0]
    assert type(out) is not Pair  # not allowed: a look-alike, never an arbitrary class
    assert type(_round_trip(value, weights_only=False)) is Pair
    with serialization.safe_globals([Pair]):
        assert type(_round_trip(value)) is Pair


def test_paths_and_file_objects(tmp_path: Path) -> None:
    dm.save({"a": dm.ones(2)}, str(tmp_path / "a.pt"))
    dm.save({"a": dm.ones(2)}, tmp_path / "b.pt")
    assert dm.load(tmp_path / "a.pt")["a"].tolist() == [1.0, 1.0]
    with open(tmp_path / "c.pt", "wb") as f:
        dm.save([3], f)
    with open(tmp_path / "c.pt", "rb") as r:
        assert dm.load(r) == [3]
    buf = io.BytesIO(b"JUNK")
    buf.seek(4)
    dm.save({"x": 1}, buf)
    buf.seek(4)
    assert dm.load(buf) == {"x": 1}

    class Stream(io.RawIOBase):
        """A reader that cannot seek (a pipe or socket)."""

        def __init__(self, data: bytes) -> None:
            self.data, self.pos = data, 0

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            n = min(len(b), len(self.data) - self.pos)
            b[:n] = self.data[self.pos : self.pos + n]
            self.pos += n
            return n

    assert dm.load(io.BufferedReader(Stream(buf.getvalue()[4:]))) == {"x": 1}


def test_map_location_forms() -> None:
    t = dm.arange(3.0)
    for where in ("cpu", dm.device("cpu"), {"cpu": "cpu"}, lambda s, loc: s):
        assert _round_trip(t, map_location=where).tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(CheckpointError, match="unknown device"):
        _round_trip(t, map_location="bogus")


# ---- failed saves keep the old file ----------------------------------------------------------


def test_failed_saves_keep_the_existing_file(tmp_path: Path, monkeypatch: Any) -> None:
    path = tmp_path / "keep.pt"
    dm.save({"w": dm.ones(3)}, path)
    before = path.read_bytes()
    with pytest.raises(CheckpointError):
        dm.save({"w": object()}, path)

    def torn(f: Any, *args: Any, **kw: Any) -> None:
        f.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(serialization, "write_safetensors", torn)
    with pytest.raises(CheckpointError, match=r"keep\.pt") as info:
        dm.save({"w": dm.zeros(3)}, path)
    assert isinstance(info.value, OSError) and info.value.errno == 28
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["keep.pt"]  # no temp file left behind


def test_save_to_a_directory_or_missing_folder_names_the_path(tmp_path: Path) -> None:
    for target in (tmp_path, tmp_path / "missing" / "x.pt"):
        with pytest.raises(CheckpointError, match=re.escape(target.name)) as info:
            dm.save({"a": 1}, target)
        assert isinstance(info.value, OSError) and ".tmp" not in str(info.value)


# ---- corrupt and hostile files ---------------------------------------------------------------


def _trained() -> tuple[dm.nn.Module, dm.optim.Optimizer]:
    dm.manual_seed(0)
    model = dm.nn.Sequential(dm.nn.Linear(3, 2), dm.nn.ReLU(), dm.nn.Linear(2, 1))
    opt = dm.optim.Adam(model.parameters(), lr=0.1)
    model(dm.randn(4, 3)).sum().backward()
    opt.step()
    return model, opt


def _snapshot(model: dm.nn.Module, opt: dm.optim.Optimizer) -> tuple[list[np.ndarray], str]:
    return [v.numpy().copy() for v in model.state_dict().values()], repr(opt.state_dict())


def _unchanged(a: Any, b: Any) -> bool:
    return a[1] == b[1] and all(np.array_equal(x, y) for x, y in zip(a[0], b[0]))


def test_every_truncation_and_byte_flip_raises_and_changes_nothing(tmp_path: Path) -> None:
    model, opt = _trained()
    good = tmp_path / "good.ckpt"
    save_checkpoint(good, model, opt, epoch=1, loss=0.5)
    data = good.read_bytes()
    before = _snapshot(model, opt)
    bad = tmp_path / "bad.ckpt"
    rng = np.random.default_rng(0)
    flips = [bytes(b ^ (1 << int(rng.integers(8))) if i == k else b for i, b in enumerate(data))
             for k in rng.integers(0, len(data), 150)]  # fmt: skip
    for corrupt in [data[:n] for n in range(0, len(data), 3)] + flips:
        bad.write_bytes(corrupt)
        with pytest.raises(CheckpointError):
            load_checkpoint(bad, model, opt)
    assert _unchanged(_snapshot(model, opt), before)
    buf = io.BytesIO()
    dm.save({"m": model.state_dict(), "o": opt.state_dict()}, buf)
    saved = buf.getvalue()
    for n in range(len(saved)):
        with pytest.raises(CheckpointError):
            dm.load(io.BytesIO(saved[:n]))


def _safetensors(header: Any, data: bytes = b"") -> bytes:
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + data


@pytest.mark.parametrize(
    "blob",
    [
        struct.pack("<Q", 2**64 - 1) + b"{}      ",  # a "negative" (huge) header length
        struct.pack("<Q", 2**40) + b"{}      ",
        _safetensors({"a": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
        _safetensors({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 400]}}, b"\0" * 4),
        _safetensors({"a": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}}, b"\0" * 4),
        _safetensors(
            {
                "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
            },
            b"\0" * 4,
        ),
        _safetensors({"a": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 4]}}),
        b"",
        pickle.dumps({"a": 1}, protocol=4),
    ],
)
def test_malformed_headers_raise_checkpoint_error(blob: bytes, tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    path.write_bytes(blob)
    with pytest.raises(CheckpointError):
        dm.load(path)
    with pytest.raises(CheckpointError):
        dm.load(io.BytesIO(blob))


class _Evil:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("touch ckptfuzz_s27_pwned",))


def test_malicious_pickle_is_never_run(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pt"
    for protocol in (0, 2, 5):
        path.write_bytes(pickle.dumps(_Evil(), protocol=protocol))
        for weights_only in (True, False):
            with pytest.raises(CheckpointError):
                dm.load(path, weights_only=weights_only)
    assert not (tmp_path / "ckptfuzz_s27_pwned").exists()
    with pytest.raises(CheckpointError):
        dm.load(tmp_path)  # a directory


def _forged(obj: Any, edit: Any) -> io.BytesIO:
    """``obj`` saved, its structure edited, and the file rewritten with a valid checksum:
    what a hostile writer can produce."""
    buf = io.BytesIO()
    dm.save(obj, buf)
    data = buf.getvalue()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header["__metadata__"]
    tree = json.loads(meta[serialization._TREE])
    edit(tree)
    meta[serialization._TREE] = json.dumps(tree)
    del meta["democratising.sha256"]
    entries, _ = parse_header(data[8 : 8 + n], len(data) - 8 - n)
    out = io.BytesIO()
    write_safetensors(out, decode_tensors(entries, data[8 + n :]), meta)
    out.seek(0)
    return out


def _set_value(node: Any) -> Any:
    return lambda tree: tree["__dict__"][0].__setitem__(1, node)


def _set_place(place: Any) -> Any:
    return lambda tree: tree["__dict__"][1][1].__setitem__("storage", place)


@pytest.mark.parametrize(
    "edit",
    [
        _set_place([0, 2**60, [1, 4]]),  # a storage of absurd span
        _set_place([0, 1, [1, 4]]),  # views that disagree about shared bytes
        _set_place([0, 0, [1, 5]]),  # not a dense view
        _set_place([0, 0, [1]]),
        _set_place([True, 0, [1, 4]]),
        _set_place("x"),
        _set_value({"__namedtuple__": ["os", "x", ["a b"]], "items": [1]}),
        _set_value({"__namedtuple__": ["os", "x", ["a"]], "items": []}),
        _set_value({"__set__": [[1, 2]]}),
        _set_value({"__bytes__": "!!"}),
        _set_value({"__complex__": [1, "a"]}),
        lambda tree: tree["__dict__"][0].__setitem__(0, {"__tuple__": [[1]]}),
    ],
)
def test_forged_structures_raise_checkpoint_error(edit: Any) -> None:
    x = dm.arange(12.0).reshape(3, 4)
    with pytest.raises(CheckpointError):
        dm.load(_forged({"x": x, "t": x.t()}, edit))


def test_a_forged_named_tuple_never_reaches_the_real_class() -> None:
    out = dm.load(
        _forged({"a": 1}, _set_value({"__namedtuple__": ["os", "system", ["a"]], "items": [1]}))
    )
    assert out["a"] == (1,) and type(out["a"]).__module__ != "os"


# ---- state dicts and resuming ----------------------------------------------------------------


def test_load_state_dict_reports_keys_and_refuses_shapes_changing_nothing() -> None:
    model = dm.nn.Sequential(dm.nn.Linear(3, 2), dm.nn.Linear(2, 1))
    sd = dict(model.state_dict())
    sd.pop("0.bias")
    sd["extra"] = dm.ones(1)
    keys = model.load_state_dict(sd, strict=False)
    assert keys.missing_keys == ["0.bias"] and keys.unexpected_keys == ["extra"]
    with pytest.raises(RuntimeError, match=r"0\.bias"):
        model.load_state_dict(sd)
    before = [v.numpy().copy() for v in model.state_dict().values()]
    wrong = dict(model.state_dict())
    wrong["1.bias"] = dm.full((1,), 7.0)
    wrong["0.weight"] = dm.ones(5, 5)
    with pytest.raises(RuntimeError, match=r"size mismatch for 0\.weight"):
        model.load_state_dict(wrong)
    after = [v.numpy() for v in model.state_dict().values()]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_resume_from_checkpoint_continues_bitwise(tmp_path: Path) -> None:
    def make() -> tuple[Any, Any, Any]:
        dm.manual_seed(3)
        model = dm.nn.Sequential(dm.nn.Linear(4, 8), dm.nn.Dropout(0.3), dm.nn.Linear(8, 1))
        opt = dm.optim.AdamW(model.parameters(), lr=0.01)
        return model, opt, dm.optim.lr_scheduler.StepLR(opt, 2, 0.5)

    def step(model: Any, opt: Any, sched: Any) -> None:
        opt.zero_grad()
        (model(dm.randn(16, 4)) ** 2).mean().backward()
        opt.step()
        sched.step()

    a = make()
    for _ in range(3):
        step(*a)
    save_checkpoint(tmp_path / "r.ckpt", *a, epoch=2, loss=0.1)
    for _ in range(4):
        step(*a)
    b = make()
    dm.manual_seed(999)
    info = load_checkpoint(tmp_path / "r.ckpt", *b)
    assert info["epoch"] == 2
    for _ in range(4):
        step(*b)
    for x, y in zip(a[0].state_dict().values(), b[0].state_dict().values()):
        assert np.array_equal(x.numpy(), y.numpy())


def test_safetensors_package_reads_ours_and_we_read_its(tmp_path: Path) -> None:
    st = pytest.importorskip("safetensors.numpy")
    x = dm.arange(6.0).reshape(2, 3)
    dm.save(
        {"x": x, "t": x.t(), "i": dm.arange(3, dtype=dm.int32), "b": dm.tensor(True)},
        tmp_path / "o.st",
    )
    theirs = st.load_file(str(tmp_path / "o.st"))
    assert np.array_equal(theirs["t"], x.numpy().T) and theirs["i"].dtype == np.int32
    assert theirs["b"].shape == () and bool(theirs["b"])
    arrays: dict[str, np.ndarray] = {
        "w": np.arange(6, dtype=np.float16).reshape(2, 3),
        "e": np.zeros((0, 2), np.int64),
    }
    st.save_file(arrays, str(tmp_path / "t.st"))
    ours = dm.load(tmp_path / "t.st")
    assert ours["w"].dtype == dm.float16 and np.array_equal(ours["w"].numpy(), arrays["w"])
    assert tuple(ours["e"].shape) == (0, 2)


def test_bfloat16_bits_are_exact_on_disk(tmp_path: Path) -> None:
    words = np.array([0x3F80, 0xC2F7, 0x7F80, 0x0001, 0x8000], dtype="<u2")
    value = dm.from_numpy((words.astype("<u4") << 16).view("<f4")).to(dm.bfloat16)
    dm.save({"v": value}, tmp_path / "b.st")
    data = (tmp_path / "b.st").read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    begin, end = header["v"]["data_offsets"]
    assert header["v"]["dtype"] == "BF16"
    assert data[8 + n + begin : 8 + n + end] == words.tobytes()


def test_as_strided_is_a_view_like_torch() -> None:
    x = dm.arange(6.0)
    y = x.as_strided((3,), (2,), 0)
    y[1] = 50.0
    assert x[2].item() == 50.0


def test_a_forged_grad_flag_on_an_integer_tensor_is_a_checkpoint_error() -> None:
    def flag(tree: Any) -> None:
        tree["__dict__"][0][1]["requires_grad"] = True

    with pytest.raises(CheckpointError, match="cannot require grad"):
        dm.load(_forged({"i": dm.arange(3)}, flag))


def test_optimizer_loads_state_whose_tri_state_flags_are_none() -> None:
    params = list(dm.nn.Linear(2, 1).parameters())
    saved = dm.optim.SGD(params, lr=0.1).state_dict()
    live = dm.optim.SGD(params, lr=0.1, fused=False)
    live.load_state_dict(saved)
    assert live.param_groups[0]["fused"] is None
