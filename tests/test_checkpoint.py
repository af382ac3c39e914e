"""Checkpoints: round trips, bit-identical resume, every dtype, hostile files, and kill -9.

The hostile corpus matters because a checkpoint is untrusted input: every malformation must
raise ``CheckpointError`` (never another exception, never a crash) and leave the model alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm
from democratising import _safetensors
from democratising._safetensors import CHECKSUM_KEY
from democratising.checkpoint import (
    METADATA_KEY,
    Checkpoint,
    CheckpointError,
    load_checkpoint,
    load_file,
    save_checkpoint,
    save_file,
)

try:
    import safetensors
    import safetensors.numpy as st_numpy
except ImportError:  # the official package is optional: only the cross-checks need it
    safetensors = None
    st_numpy = None

needs_safetensors = pytest.mark.skipif(safetensors is None, reason="safetensors not installed")


# ---- helpers ---------------------------------------------------------------------------------


def make_model() -> dm.nn.Module:
    return dm.nn.Sequential(dm.nn.Dense(4, 8), dm.nn.ReLU(), dm.nn.Dense(8, 2))


def train_steps(model: dm.nn.Module, opt: Any, n: int) -> None:
    """Each step draws its batch from the global RNG, so a resume must restore the RNG too."""
    for _ in range(n):
        x = dm.randn(6, 4)
        y = dm.randn(6, 2)
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()


def params_np(model: dm.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def assert_bitwise_equal(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert a[k].tobytes() == b[k].tobytes(), k


def trained(seed: int = 0, steps: int = 2) -> tuple[dm.nn.Module, Any]:
    dm.manual_seed(seed)
    model = make_model()
    opt = dm.optim.Adam(model.parameters(), lr=1e-2)
    train_steps(model, opt, steps)
    return model, opt


def opt_state_np(opt: Any) -> dict[tuple[int, str], Any]:
    out = {}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            out[(i, k)] = v.numpy().copy() if isinstance(v, dm.Tensor) else v
    return out


_DIGITS = re.compile(rb'"democratising\.sha256"\s*:\s*"([0-9a-f]{64})"')


def reseal(blob: bytes) -> bytes:
    """Recomputes a file's checksum after an edit, from the format's definition: SHA-256 of
    the whole file minus the 64 digits. Hostile edits are resealed so that they get past the
    checksum and exercise the structural checks behind it."""
    m = _DIGITS.search(blob, 8)
    if m is None:
        return blob
    begin, end = m.span(1)
    digest = hashlib.sha256(blob[:begin] + blob[end:]).hexdigest().encode()
    return blob[:begin] + digest + blob[end:]


def build(header: Any, data: bytes = b"", raw_header: bytes | None = None) -> bytes:
    """A safetensors file from a header object (or raw header bytes) and a data buffer."""
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


# ---- round trips -----------------------------------------------------------------------------


def test_model_and_adam_round_trip(tmp_path: Path) -> None:
    model, opt = trained()
    path = tmp_path / "ckpt.safetensors"
    save_checkpoint(path, model, opt, epoch=3, loss=0.5, step=12, note="hi", sizes=(1, 2))

    dm.manual_seed(123)
    model2 = make_model()
    opt2 = dm.optim.Adam(model2.parameters(), lr=0.5, betas=(0.5, 0.6))
    info = load_checkpoint(path, model2, opt2)

    assert info["epoch"] == 3 and info["loss"] == 0.5
    assert info["extra"] == {"step": 12, "note": "hi", "sizes": (1, 2)}
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    assert_bitwise_equal(params_np(model), params_np(model2))
    s1, s2 = opt_state_np(opt), opt_state_np(opt2)
    assert s1.keys() == s2.keys()
    for k in s1:
        np.testing.assert_array_equal(s1[k], s2[k])
    assert s2[(0, "step")] == 2 and s2[(0, "step")].shape == ()  # a 0-d tensor, as torch's
    assert all(isinstance(st["step"], int) for st in opt2.state.values())
    g = opt2.param_groups[0]
    assert g["lr"] == 1e-2 and g["betas"] == (0.9, 0.999) and isinstance(g["betas"], tuple)


def test_resume_is_bit_identical_to_uninterrupted_run(tmp_path: Path) -> None:
    model, opt = trained(seed=7, steps=6)
    expected = params_np(model)

    model, opt = trained(seed=7, steps=3)
    path = tmp_path / "mid.safetensors"
    save_checkpoint(path, model, opt, epoch=3)

    dm.manual_seed(999)  # a different init and RNG stream, both overwritten by the load
    resumed = make_model()
    opt2 = dm.optim.Adam(resumed.parameters(), lr=1e-2)
    dm.randn(17)
    assert load_checkpoint(path, resumed, opt2)["epoch"] == 3
    train_steps(resumed, opt2, 3)
    assert_bitwise_equal(expected, params_np(resumed))


def test_restore_rng_false_keeps_current_stream(tmp_path: Path) -> None:
    model, opt = trained()
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, model, opt)
    target = make_model()
    dm.manual_seed(5)
    state = dm.get_rng_state().tolist()
    load_checkpoint(path, target, restore_rng=False)
    assert dm.get_rng_state().tolist() == state


def test_checkpoint_dataclass_round_trip(tmp_path: Path) -> None:
    model, opt = trained()
    ck = Checkpoint(
        model_state=dict(model.state_dict()),
        optimizer_state=opt.state_dict(),
        epoch=4,
        loss=float("nan"),
        extra={"tensor": dm.arange(5), "array": np.eye(2), "ints": {1: "a", 2: "b"}},
    )
    path = tmp_path / "dc.safetensors"
    ck.save(path)
    back = Checkpoint.load(path)
    assert back.epoch == 4 and np.isnan(back.loss) and back.rng_state is None
    assert back.model_state.keys() == ck.model_state.keys()
    for k, v in ck.model_state.items():
        np.testing.assert_array_equal(v.numpy(), back.model_state[k].numpy())
    assert back.extra["tensor"].tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(back.extra["array"], np.eye(2))
    assert back.extra["ints"] == {1: "a", 2: "b"}
    fresh = make_model()
    back.restore(fresh)
    assert_bitwise_equal(params_np(model), params_np(fresh))


class _Sched:
    """A stand-in scheduler/scaler: anything with state_dict/load_state_dict works."""

    def __init__(self, **state: Any) -> None:
        self.state = dict(state)

    def state_dict(self) -> dict[str, Any]:
        return dict(self.state)

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        self.state = dict(sd)


def test_scheduler_and_scaler_state(tmp_path: Path) -> None:
    model, opt = trained()
    path = tmp_path / "s.safetensors"
    sched = _Sched(last_epoch=5, base_lrs=[0.1], milestones=(2, 4))
    scaler = _Sched(scale=65536.0, growth_tracker=3)
    save_checkpoint(path, model, opt, sched, scaler, epoch=1, loss=dm.tensor(0.25))
    s2, c2 = _Sched(), _Sched()
    info = load_checkpoint(path, make_model(), scheduler=s2, scaler=c2)
    assert s2.state == sched.state and c2.state == scaler.state and info["loss"] == 0.25
    save_checkpoint(path, model)
    with pytest.raises(CheckpointError, match="no scheduler"):
        load_checkpoint(path, make_model(), scheduler=_Sched())


def test_strict_false_reports_missing_and_unexpected(tmp_path: Path) -> None:
    model, _ = trained()
    sd = dict(model.state_dict())
    sd.pop("2.bias")
    sd["extra.weight"] = dm.zeros(3)
    path = tmp_path / "p.safetensors"
    Checkpoint(model_state=sd).save(path)
    target = make_model()
    before = params_np(target)
    with pytest.raises(CheckpointError, match="missing keys"):
        load_checkpoint(path, target)
    assert_bitwise_equal(before, params_np(target))
    info = load_checkpoint(path, target, strict=False)
    assert info["missing_keys"] == ["2.bias"] and info["unexpected_keys"] == ["extra.weight"]
    np.testing.assert_array_equal(target.state_dict()["2.bias"].numpy(), before["2.bias"])
    np.testing.assert_array_equal(target.state_dict()["0.weight"].numpy(), sd["0.weight"].numpy())


# ---- dtypes and the official package ---------------------------------------------------------

ALL_DTYPES = [dm.float32, dm.float64, dm.float16, dm.bfloat16, dm.int64, dm.int32, dm.bool]


def sample_tensors() -> dict[str, dm.Tensor]:
    vals = np.array([[0.0, -0.0, 1.5, -2.25], [3.0e4, 1e-3, np.inf, -np.inf]], dtype=np.float32)
    out = {}
    for dt in ALL_DTYPES:
        name = str(dt).split(".")[-1]
        if dt == dm.bool:
            out[name] = dm.from_numpy(vals != 0)
        elif dt in (dm.int64, dm.int32):
            out[name] = dm.from_numpy(np.array([[1, -2, 2**31 - 1, -(2**31)]])).to(dt)
        else:
            out[name] = dm.from_numpy(vals).to(dt)
    out["scalar"] = dm.tensor(3.5)
    out["empty"] = dm.zeros(0, 3)
    out["noncontig"] = dm.arange(6, dtype=dm.float32).reshape(2, 3).T
    return out


def as_bits(t: dm.Tensor) -> tuple[str, tuple[int, ...], bytes]:
    """dtype, shape and exact bytes (bfloat16 through its float32 widening, which is exact)."""
    arr = t.float().numpy() if t.dtype == dm.bfloat16 else t.numpy()
    return str(t.dtype), tuple(t.shape), np.ascontiguousarray(arr).tobytes()


def test_all_dtypes_round_trip_bit_exact(tmp_path: Path) -> None:
    tensors = sample_tensors()
    path = tmp_path / "dtypes.safetensors"
    save_file(tensors, path, metadata={"k": "v"})
    back = load_file(path)
    assert back.keys() == tensors.keys()
    for k, t in tensors.items():
        assert as_bits(back[k]) == as_bits(t), k
    # Data offsets are aligned to the item size, as the official writer does.
    _, meta = _safetensors.read_safetensors(path)
    assert re.fullmatch("[0-9a-f]{64}", meta.pop(CHECKSUM_KEY))
    assert meta == {"k": "v"}
    header_len = struct.unpack("<Q", path.read_bytes()[:8])[0]
    assert header_len % 8 == 0


def test_bfloat16_raw_words() -> None:
    words = np.array([0x0000, 0x8000, 0x3F80, 0xBFC0, 0x7F80, 0xFF80, 0x7FC0, 0x0001], "<u2")
    f = _safetensors.bf16_to_f32(words)
    assert f[2] == 1.0 and f[3] == -1.5 and np.isinf(f[4]) and np.isnan(f[6])
    np.testing.assert_array_equal(_safetensors.f32_to_bf16_bits(f), words)


@needs_safetensors
def test_official_package_reads_our_files(tmp_path: Path) -> None:
    tensors = sample_tensors()
    path = tmp_path / "o.safetensors"
    save_file(tensors, path, metadata={"k": "v"})
    parsed = dict(safetensors.deserialize(path.read_bytes()))
    for k, t in tensors.items():
        _, shape, data = as_bits(t)
        assert parsed[k]["shape"] == list(shape)
        if t.dtype == dm.bfloat16:
            words = np.frombuffer(bytes(parsed[k]["data"]), "<u2")
            assert _safetensors.bf16_to_f32(words).tobytes() == data
        else:
            assert bytes(parsed[k]["data"]) == data, k
    plain = {k: v for k, v in tensors.items() if v.dtype != dm.bfloat16}
    save_file(plain, path)
    loaded = st_numpy.load_file(str(path))
    for k, t in plain.items():
        np.testing.assert_array_equal(loaded[k], t.numpy())

    model, opt = trained()
    save_checkpoint(path, model, opt, epoch=1)
    loaded = st_numpy.load_file(str(path))
    assert set(loaded) >= {"model.0.weight", "optimizer.state.0.exp_avg"}
    np.testing.assert_array_equal(loaded["model.0.weight"], params_np(model)["0.weight"])
    with safetensors.safe_open(str(path), "np") as f:
        assert json.loads(f.metadata()[METADATA_KEY])["epoch"] == 1


@needs_safetensors
def test_we_read_official_files(tmp_path: Path) -> None:
    arrays = {
        "a": np.arange(12, dtype=np.float32).reshape(3, 4),
        "b": np.array([1, 2], dtype=np.int64),
        "c": np.array([True, False]),
        "d": np.zeros((0,), np.float16),
    }
    path = tmp_path / "official.safetensors"
    st_numpy.save_file(arrays, str(path), metadata={"m": "1"})
    back = load_file(path)
    for k, a in arrays.items():
        np.testing.assert_array_equal(back[k].numpy(), a)


# ---- hostile files ---------------------------------------------------------------------------


def _valid_checkpoint(tmp_path: Path) -> bytes:
    model, opt = trained()
    path = tmp_path / "valid.safetensors"
    save_checkpoint(path, model, opt, epoch=1, loss=0.1)
    return path.read_bytes()


def _split(blob: bytes) -> tuple[dict[str, Any], bytes]:
    n = struct.unpack("<Q", blob[:8])[0]
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def _edit(fn: Callable[[dict[str, Any], bytes], tuple[Any, bytes]]) -> Callable[[bytes], bytes]:
    def mutate(blob: bytes) -> bytes:
        header, data = _split(blob)
        h, d = fn(header, data)
        return reseal(build(h, d))

    return mutate


def _first_tensor(h: dict[str, Any]) -> str:
    return min((k for k in h if k != "__metadata__"), key=lambda k: h[k]["data_offsets"][0])


def _set(name_fn: Callable[[dict[str, Any]], str], field: str, value: Any) -> Callable:
    def fn(h: dict[str, Any], d: bytes) -> tuple[Any, bytes]:
        h[name_fn(h)][field] = value
        return h, d

    return _edit(fn)


def _doc(fn: Callable[[dict[str, Any]], Any]) -> Callable[[bytes], bytes]:
    """Edits the JSON document inside ``__metadata__``."""

    def outer(h: dict[str, Any], d: bytes) -> tuple[Any, bytes]:
        doc = json.loads(h["__metadata__"][METADATA_KEY])
        res = fn(doc)
        h["__metadata__"][METADATA_KEY] = res if isinstance(res, str) else json.dumps(doc)
        return h, d

    return _edit(outer)


def _raw_header(text: bytes) -> Callable[[bytes], bytes]:
    return lambda blob: build(None, _split(blob)[1], raw_header=text)


def _dup_key(blob: bytes) -> bytes:
    h, d = _split(blob)
    name = _first_tensor(h)
    text = json.dumps(h)
    entry = json.dumps(h[name])
    text = text[:-1] + f", {json.dumps(name)}: {entry}}}"
    return reseal(build(None, d, raw_header=text.encode()))


def _swap_shapes(h: dict[str, Any], d: bytes) -> tuple[Any, bytes]:
    # Transposed shape: same byte size, valid file, but it no longer fits the model.
    h["model.0.weight"]["shape"] = h["model.0.weight"]["shape"][::-1]
    return h, d


def _opt_shape(h: dict[str, Any], d: bytes) -> tuple[Any, bytes]:
    h["optimizer.state.0.exp_avg"]["shape"] = h["optimizer.state.0.exp_avg"]["shape"][::-1]
    return h, d


def _stray(h: dict[str, Any], d: bytes) -> tuple[Any, bytes]:
    h["junk"] = {"dtype": "F32", "shape": [1], "data_offsets": [len(d), len(d) + 4]}
    return h, d + b"\0\0\0\0"


def _bool_byte(h: dict[str, Any], d: bytes) -> tuple[Any, bytes]:
    h["extra.flags"] = {"dtype": "BOOL", "shape": [2], "data_offsets": [len(d), len(d) + 2]}
    return h, d + b"\x01\x02"


def _rng(value: Any) -> Callable[[bytes], bytes]:
    def fn(doc: dict[str, Any]) -> None:
        doc["rng_state"] = value

    return _doc(fn)


HOSTILE: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda b: b"",
    "seven_bytes": lambda b: b[:7],
    "header_len_only": lambda b: b[:8],
    "truncated_header": lambda b: b[:20],
    "truncated_data": lambda b: b[:-1],
    "header_len_huge": lambda b: struct.pack("<Q", 2**64 - 1) + b[8:],
    "header_len_over_100MB": lambda b: struct.pack("<Q", 100_000_001) + b[8:],
    "header_len_past_eof": lambda b: struct.pack("<Q", len(b)) + b[8:],
    "trailing_garbage": lambda b: b + b"garbage!",
    "invalid_utf8": _raw_header(b'{"a\xff\xfe": 1}'),
    "invalid_json": _raw_header(b'{"a": '),
    "header_is_list": _raw_header(b"[1, 2, 3]"),
    "header_not_brace": _raw_header(b' {"a": 1}'),
    "nan_constant": _raw_header(b'{"a": NaN}'),
    "deep_nesting": _raw_header(b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "lone_surrogate_name": _raw_header(
        b'{"\\ud800":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}'
    ),
    "unknown_dtype": _set(_first_tensor, "dtype", "F8_E4M3"),
    "dtype_not_str": _set(_first_tensor, "dtype", 7),
    "negative_shape": _set(_first_tensor, "shape", [-1, 8]),
    "float_shape": _set(_first_tensor, "shape", [8.0, 4]),
    "bool_shape": _set(_first_tensor, "shape", [True, 32]),
    "shape_not_list": _set(_first_tensor, "shape", "8x4"),
    "too_many_dims": _set(_first_tensor, "shape", [1] * 40),
    "absurd_empty_shape": _set(_first_tensor, "shape", [0, 2**62, 2**62]),
    "offsets_out_of_range": _set(_first_tensor, "data_offsets", [0, 10**9]),
    "offsets_negative": _set(_first_tensor, "data_offsets", [-8, 0]),
    "offsets_reversed": _set(_first_tensor, "data_offsets", [8, 0]),
    "offsets_three": _set(_first_tensor, "data_offsets", [0, 4, 8]),
    "offsets_float": _set(_first_tensor, "data_offsets", [0.0, 32.0]),
    "dtype_null": _set(_first_tensor, "dtype", None),
    "entry_not_dict": _edit(lambda h, d: ({**h, _first_tensor(h): [0, 1]}, d)),
    "extra_entry_field": _set(_first_tensor, "endian", "big"),
    "size_mismatch": _set(_first_tensor, "shape", [1]),
    "overlapping_offsets": lambda b: build(
        {
            "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
        },
        bytes(12),
    ),
    "hole_in_buffer": lambda b: build(
        {
            "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
            "b": {"dtype": "F32", "shape": [2], "data_offsets": [12, 20]},
        },
        bytes(20),
    ),
    "duplicate_tensor_key": _dup_key,
    "metadata_not_dict": _edit(lambda h, d: ({**h, "__metadata__": ["x"]}, d)),
    "metadata_value_not_str": _edit(lambda h, d: ({**h, "__metadata__": {"x": 1}}, d)),
    "no_democratising_metadata": _edit(lambda h, d: ({**h, "__metadata__": {"x": "1"}}, d)),
    "metadata_doc_invalid_json": _doc(lambda doc: "{nope"),
    "metadata_doc_not_object": _doc(lambda doc: "[]"),
    "format_version_newer": _doc(lambda doc: doc.update(format_version=99)),
    "format_version_missing": _doc(lambda doc: doc.pop("format_version")),
    "model_keys_mismatch": _doc(lambda doc: doc["model_keys"].append("ghost")),
    "unknown_tag": _doc(lambda doc: doc.update(extra={"__pickle__": "os.system"})),
    "missing_tensor_ref": _doc(lambda doc: doc.update(extra={"x": {"__tensor__": "nope"}})),
    "epoch_not_int": _doc(lambda doc: doc.update(epoch="3")),
    "rng_wrong_length": _rng([1, 2, 3]),
    "rng_negative": _rng([1, 2, 3, -4]),
    "rng_too_big": _rng([1, 2, 3, 2**64]),
    "stray_tensor": _edit(_stray),
    "bool_byte_not_0_or_1": _edit(_bool_byte),
    "model_shape_mismatch": _edit(_swap_shapes),
    "optimizer_state_shape_mismatch": _edit(_opt_shape),
    "optimizer_groups_mismatch": _doc(
        lambda doc: doc["optimizer"]["param_groups"].append(doc["optimizer"]["param_groups"][0])
    ),
}


#: Raw byte edits of a valid file that the checksum, checked first, is what catches.
_UNSEALED_BYTE_EDITS = {"trailing_garbage", "truncated_data"}


@pytest.fixture(scope="module")
def valid_blob(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return _valid_checkpoint(tmp_path_factory.mktemp("valid"))


def _target() -> tuple[dm.nn.Module, Any, dict[str, np.ndarray], dict[Any, Any], list[int]]:
    dm.manual_seed(42)
    model = make_model()
    opt = dm.optim.Adam(model.parameters(), lr=0.3)
    train_steps(model, opt, 1)
    return model, opt, params_np(model), opt_state_np(opt), dm.get_rng_state()


def _assert_untouched(model: Any, opt: Any, params: Any, ostate: Any, rng: list[int]) -> None:
    assert_bitwise_equal(params, params_np(model))
    now = opt_state_np(opt)
    assert now.keys() == ostate.keys()
    for k in now:
        np.testing.assert_array_equal(now[k], ostate[k])
    assert opt.param_groups[0]["lr"] == 0.3
    assert dm.get_rng_state().tolist() == rng.tolist()


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_file_raises_and_loads_nothing(
    case: str, valid_blob: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(HOSTILE[case](valid_blob))
    model, opt, params, ostate, rng = _target()
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path, model, opt)
    _assert_untouched(model, opt, params, ostate, rng)
    if case not in _UNSEALED_BYTE_EDITS:
        assert "checksum" not in str(e.value)  # the resealed edit reached the check it targets


def test_sanity_the_valid_file_loads(valid_blob: bytes, tmp_path: Path) -> None:
    path = tmp_path / "ok.safetensors"
    path.write_bytes(valid_blob)
    model, opt, *_ = _target()
    assert load_checkpoint(path, model, opt)["epoch"] == 1


def test_every_truncation_is_rejected(valid_blob: bytes, tmp_path: Path) -> None:
    path = tmp_path / "t.safetensors"
    model, opt, params, ostate, rng = _target()
    for n in range(len(valid_blob)):
        path.write_bytes(valid_blob[:n])
        with pytest.raises(CheckpointError):
            load_checkpoint(path, model, opt)
    _assert_untouched(model, opt, params, ostate, rng)


def test_random_corruption_never_escapes_as_another_error(
    valid_blob: bytes, tmp_path: Path
) -> None:
    """Random byte edits: each file either loads or raises CheckpointError; when we accept a
    file, so does the official parser (we are the stricter of the two)."""
    rnd = random.Random(1234)
    path = tmp_path / "f.safetensors"
    header_end = 8 + struct.unpack("<Q", valid_blob[:8])[0]
    model, opt, *_ = _target()
    for _ in range(300):
        blob = bytearray(valid_blob)
        for _ in range(rnd.randint(1, 4)):
            pos = rnd.randrange(header_end + 16)
            blob[pos] = rnd.randrange(256)
        path.write_bytes(bytes(blob))
        try:
            _safetensors.read_safetensors(path)
        except CheckpointError:
            continue
        if safetensors is not None:
            safetensors.deserialize(bytes(blob))
        try:
            load_checkpoint(path, model, opt, restore_rng=False)
        except CheckpointError:
            pass


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path / "nope.safetensors", make_model())
    assert isinstance(e.value, FileNotFoundError)
    with pytest.raises(CheckpointError):
        load_file(tmp_path)


def test_wrong_optimizer_type_is_rejected(tmp_path: Path) -> None:
    model, opt = trained()
    path = tmp_path / "a.safetensors"
    save_checkpoint(path, model, opt)
    sgd = dm.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    before = params_np(model)
    with pytest.raises(CheckpointError, match="Adam"):
        load_checkpoint(path, model, sgd)
    assert_bitwise_equal(before, params_np(model))


def test_plain_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file({"w": dm.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="load_file"):
        load_checkpoint(path, make_model())


# ---- checksum --------------------------------------------------------------------------------


def test_checksum_covers_the_file_minus_its_digits(valid_blob: bytes) -> None:
    """The stored digest is what the format defines (see ``reseal``), so other tools can
    verify our files too."""
    header, _ = _split(valid_blob)
    assert re.fullmatch("[0-9a-f]{64}", header["__metadata__"][CHECKSUM_KEY])
    assert json.loads(header["__metadata__"][METADATA_KEY])["checksum"] == "sha256"
    assert reseal(valid_blob) == valid_blob


@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
def test_every_single_byte_change_is_detected(mask: int, valid_blob: bytes, tmp_path: Path) -> None:
    """Every byte of the file — length prefix, header, metadata, checksum, tensor data, last
    byte — changed on its own: each must raise, and nothing may be loaded."""
    path = tmp_path / "flip.safetensors"
    header_end = 8 + struct.unpack("<Q", valid_blob[:8])[0]
    model, opt, params, ostate, rng = _target()
    for pos in range(len(valid_blob)):
        blob = bytearray(valid_blob)
        blob[pos] ^= mask
        path.write_bytes(bytes(blob))
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(path, model, opt)
        if pos >= header_end:  # tensor data: always reported as a checksum mismatch
            assert "corrupt: checksum mismatch" in str(e.value) and str(path) in str(e.value)
    _assert_untouched(model, opt, params, ostate, rng)


def test_zeroed_tail_is_detected(valid_blob: bytes, tmp_path: Path) -> None:
    assert any(valid_blob[-20:])  # otherwise zeroing would change nothing
    path = tmp_path / "zeroed.safetensors"
    path.write_bytes(valid_blob[:-20] + bytes(20))
    model, opt, params, ostate, rng = _target()
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(path, model, opt)
    _assert_untouched(model, opt, params, ostate, rng)
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_file(path)
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        Checkpoint.load(path)


def test_corrupt_file_leaves_scheduler_and_scaler_alone(tmp_path: Path) -> None:
    model, opt = trained()
    path = tmp_path / "s.safetensors"
    save_checkpoint(path, model, opt, _Sched(last_epoch=5), _Sched(scale=2.0), epoch=1)
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0x01
    path.write_bytes(bytes(blob))
    sched, scaler = _Sched(last_epoch=0), _Sched(scale=1.0)
    model2, opt2, params, ostate, rng = _target()
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(path, model2, opt2, sched, scaler)
    _assert_untouched(model2, opt2, params, ostate, rng)
    assert sched.state == {"last_epoch": 0} and scaler.state == {"scale": 1.0}


def test_plain_file_changes_raise_or_load_the_same_tensors(tmp_path: Path) -> None:
    """``save_file`` output has no checkpoint document to insist on the checksum, so a change
    to the checksum's key name reads as a file without one — but then the tensors are intact.
    Every other single-byte change raises."""
    tensors = {"w": dm.arange(12, dtype=dm.float32).reshape(3, 4), "b": dm.tensor([1, -2])}
    path = tmp_path / "plain.safetensors"
    save_file(tensors, path)
    blob = path.read_bytes()
    key_at = blob.index(CHECKSUM_KEY.encode())
    for pos in range(len(blob)):
        edited = bytearray(blob)
        edited[pos] ^= 0x01
        path.write_bytes(bytes(edited))
        try:
            back = load_file(path)
        except CheckpointError:
            continue
        assert key_at <= pos < key_at + len(CHECKSUM_KEY), pos
        assert {k: as_bits(v) for k, v in back.items()} == {
            k: as_bits(v) for k, v in tensors.items()
        }


def test_checksum_key_is_reserved(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="reserved"):
        save_file({"w": dm.zeros(2)}, tmp_path / "r.safetensors", metadata={CHECKSUM_KEY: "x"})


def test_checkpoint_without_checksum_is_refused_unless_allowed(tmp_path: Path) -> None:
    """Checkpoints written before the checksum existed (no key, no ``"checksum"`` in the
    document) are unverified: refused by default, loaded with a warning on request."""
    model, opt = trained()
    ck = Checkpoint(model_state=dict(model.state_dict()), optimizer_state=opt.state_dict())
    ck.epoch, ck.optimizer_type = 2, "Adam"
    tensors, metadata = ck._encode()
    doc = json.loads(metadata[METADATA_KEY])
    del doc["checksum"]
    path = tmp_path / "old.safetensors"
    with open(path, "wb") as f:
        _safetensors.write_safetensors(f, tensors, {METADATA_KEY: json.dumps(doc)}, checksum=False)
    assert CHECKSUM_KEY.encode() not in path.read_bytes()
    model2, opt2, params, ostate, rng = _target()
    with pytest.raises(CheckpointError, match=r"unverified.*allow_unverified=True"):
        load_checkpoint(path, model2, opt2)
    with pytest.raises(CheckpointError, match="unverified"):
        Checkpoint.load(path)
    _assert_untouched(model2, opt2, params, ostate, rng)
    with pytest.warns(UserWarning, match="unverified"):
        info = load_checkpoint(path, model2, opt2, restore_rng=False, allow_unverified=True)
    assert info["epoch"] == 2
    assert_bitwise_equal(params_np(model), params_np(model2))


def _strip_checksum(blob: bytes) -> bytes:
    """What someone gets past the checksum with: the digest and the document's claim both
    removed, the rest of the file intact."""
    header, data = _split(blob)
    meta = header["__metadata__"]
    del meta[CHECKSUM_KEY]
    doc = json.loads(meta[METADATA_KEY])
    del doc["checksum"]
    meta[METADATA_KEY] = json.dumps(doc)
    return build(header, data)


def test_stripping_the_checksum_is_not_a_way_around_it(valid_blob: bytes, tmp_path: Path) -> None:
    path = tmp_path / "stripped.safetensors"
    path.write_bytes(_strip_checksum(valid_blob))
    model, opt, params, ostate, rng = _target()
    with pytest.raises(CheckpointError, match="unverified"):
        load_checkpoint(path, model, opt)
    _assert_untouched(model, opt, params, ostate, rng)
    with pytest.warns(UserWarning, match="unverified"):
        assert load_checkpoint(path, model, opt, allow_unverified=True)["epoch"] == 1
    # Plain weight files are not checkpoints: they load without a checksum, no warning.
    plain = tmp_path / "weights.safetensors"
    with open(plain, "wb") as f:
        raw = {"w": _safetensors.RawTensor("F32", np.ones(3, np.float32))}
        _safetensors.write_safetensors(f, raw, checksum=False)
    assert load_file(plain)["w"].tolist() == [1.0, 1.0, 1.0]


def test_document_demanding_a_missing_checksum_is_corrupt(tmp_path: Path) -> None:
    model, _ = trained()
    tensors, metadata = Checkpoint(model_state=dict(model.state_dict()))._encode()
    path = tmp_path / "nosum.safetensors"
    with open(path, "wb") as f:
        _safetensors.write_safetensors(f, tensors, metadata, checksum=False)
    with pytest.raises(CheckpointError, match=r"corrupt: .*checksum is missing"):
        load_checkpoint(path, make_model())


@needs_safetensors
def test_files_from_the_official_package_load_without_checksum(tmp_path: Path) -> None:
    """A PyTorch-style state dict written by the ``safetensors`` package carries no checksum
    and loads as before: it is a weight file. A checkpoint written that way is unverified."""
    model, _ = trained()
    arrays = {k: v for k, v in params_np(model).items()}
    path = tmp_path / "torch_style.safetensors"
    st_numpy.save_file(arrays, str(path))
    back = load_file(path)
    assert_bitwise_equal(arrays, {k: v.numpy() for k, v in back.items()})

    doc = json.dumps({"format_version": 1, "model_keys": sorted(arrays), "extra": {}, "epoch": 4})
    st_numpy.save_file(
        {"model." + k: v for k, v in arrays.items()}, str(path), metadata={METADATA_KEY: doc}
    )
    target = make_model()
    with pytest.raises(CheckpointError, match="unverified"):
        load_checkpoint(path, target, restore_rng=False)
    with pytest.warns(UserWarning, match="unverified"):
        info = load_checkpoint(path, target, restore_rng=False, allow_unverified=True)
    assert info["epoch"] == 4
    assert_bitwise_equal(arrays, params_np(target))


@needs_safetensors
def test_official_package_reads_our_checksummed_files(tmp_path: Path) -> None:
    model, opt = trained()
    path = tmp_path / "ours.safetensors"
    save_checkpoint(path, model, opt, epoch=1)
    loaded = st_numpy.load_file(str(path))
    np.testing.assert_array_equal(loaded["model.2.weight"], params_np(model)["2.weight"])
    with safetensors.safe_open(str(path), "np") as f:
        meta = f.metadata()
        assert re.fullmatch("[0-9a-f]{64}", meta[CHECKSUM_KEY])
        np.testing.assert_array_equal(f.get_tensor("model.0.bias"), params_np(model)["0.bias"])


# ---- resource limits -------------------------------------------------------------------------


def _many_empty(n: int, key: str = "data_offsets") -> bytes:
    entry = '{"dtype":"F32","shape":[0],"' + key + '":[0,0]}'
    body = ",".join(f'"t{i}":{entry}' for i in range(n))
    return build(None, raw_header=("{" + body + "}").encode())


@pytest.mark.parametrize("key", ["data_offsets", "data\\u005foffsets"])
def test_header_with_too_many_tensors_is_refused_quickly(key: str, tmp_path: Path) -> None:
    """1.5 M empty tensors in an 89 MB header once took a minute and 1.8 GB; the count is now
    bounded before (or, for escaped keys, while) the header is parsed."""
    path = tmp_path / "many.safetensors"
    path.write_bytes(_many_empty(_safetensors.MAX_TENSORS + 1000, key))
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match=f"more than {_safetensors.MAX_TENSORS} tensors"):
        load_file(path)
    # Generous beside the minute it once took: pytest runs two workers on two cores.
    assert time.perf_counter() - start < 6.0


def test_header_of_tiny_values_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "commas.safetensors"
    path.write_bytes(build(None, raw_header=b'{"a":[' + b"0," * 4_000_000 + b"0]}"))
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="JSON values"):
        load_file(path)
    assert time.perf_counter() - start < 1.0


def test_many_tensors_within_the_limit_load_in_linear_time(tmp_path: Path) -> None:
    path = tmp_path / "ok.safetensors"
    path.write_bytes(_many_empty(50_000))
    start = time.perf_counter()
    assert len(load_file(path)) == 50_000
    assert time.perf_counter() - start < 6.0  # ~1 s; a quadratic reader takes minutes


# ---- layouts: DistributedDataParallel's ``module.`` prefix -----------------------------------


class _Wrapped(dm.nn.Module):
    """The key layout of ``DistributedDataParallel``/``DataParallel``: ``module.<key>``."""

    def __init__(self, module: dm.nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: dm.Tensor) -> dm.Tensor:
        return self.module(x)


def test_wrapped_checkpoint_loads_into_a_plain_model_and_back(tmp_path: Path) -> None:
    model, opt = trained()
    wrapped = _Wrapped(model)
    assert next(iter(wrapped.state_dict())) == "module.0.weight"
    path = tmp_path / "ddp.safetensors"
    save_checkpoint(path, wrapped, opt, epoch=2)
    plain = make_model()
    plain_opt = dm.optim.Adam(plain.parameters(), lr=0.3)
    assert load_checkpoint(path, plain, plain_opt)["epoch"] == 2
    assert_bitwise_equal(params_np(model), params_np(plain))

    save_checkpoint(path, plain, plain_opt, epoch=3)
    target = _Wrapped(make_model())
    assert load_checkpoint(path, target, restore_rng=False)["epoch"] == 3
    assert_bitwise_equal(params_np(model), params_np(target.module))


def test_prefix_is_adapted_only_when_every_key_needs_it(tmp_path: Path) -> None:
    model, _ = trained()
    sd = {("module." + k if k.startswith("0.") else k): v for k, v in model.state_dict().items()}
    path = tmp_path / "mixed.safetensors"
    Checkpoint(model_state=sd).save(path)
    target = make_model()
    before = params_np(target)
    with pytest.raises(CheckpointError, match="unexpected keys"):
        load_checkpoint(path, target)
    assert_bitwise_equal(before, params_np(target))


# ---- scheduler and scaler state ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda st: st.update(last_epoch="3"), "last_epoch must be a number"),
        (lambda st: st.update(base_lrs="x"), "base_lrs must be a list"),
        (lambda st: st.update(step=5), "unexpected key 'step'"),
        (lambda st: st.update(optimizer=None), "unexpected key 'optimizer'"),
        (lambda st: st.pop("gamma"), "lacks"),
    ],
)
def test_bad_scheduler_state_is_refused_before_anything_changes(
    edit: Callable[[dict[str, Any]], Any], match: str, tmp_path: Path
) -> None:
    model, opt = trained()
    sched = dm.optim.lr_scheduler.StepLR(opt, step_size=2)
    ck = Checkpoint(
        model_state=dict(model.state_dict()),
        optimizer_state=opt.state_dict(),
        scheduler_state=sched.state_dict(),
        optimizer_type="Adam",
    )
    edit(ck.scheduler_state)
    path = tmp_path / "s.safetensors"
    ck.save(path)
    model2, opt2, params, ostate, rng = _target()
    sched2 = dm.optim.lr_scheduler.StepLR(opt2, step_size=5)
    before = sched2.state_dict()
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path, model2, opt2, sched2)
    _assert_untouched(model2, opt2, params, ostate, rng)
    assert sched2.state_dict() == before


# ---- atomic saving ---------------------------------------------------------------------------


def test_failed_save_leaves_old_file_and_no_temp(tmp_path: Path, monkeypatch: Any) -> None:
    model, opt = trained()
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, model, opt, epoch=1)
    old = path.read_bytes()

    with pytest.raises(CheckpointError, match="cannot store object"):
        save_checkpoint(path, model, opt, epoch=2, bad=object())

    def broken(f: Any, tensors: Any, metadata: Any = None) -> None:
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr("democratising.checkpoint.write_safetensors", broken)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, opt, epoch=3)
    assert path.read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == ["c.safetensors"]


_WRITER = textwrap.dedent(
    """
    import sys
    import democratising as dm
    from democratising.checkpoint import save_checkpoint

    path = sys.argv[1]
    start = int(sys.argv[2])
    model = dm.nn.Sequential(dm.nn.Dense(256, 512), dm.nn.Dense(512, 256))
    i = start
    while True:
        with dm.no_grad():
            for p in model.parameters():
                p.fill_(float(i))
        save_checkpoint(path, model, epoch=i)
        if i == start:
            print("saved", flush=True)
        i += 1
    """
)


def test_kill_9_never_leaves_a_torn_file(tmp_path: Path) -> None:
    """A writer saving in a loop is SIGKILLed at random moments; the file must always load, and
    every parameter must hold the value of one single save (the epoch it records)."""
    path = tmp_path / "loop.safetensors"
    rnd = random.Random(99)
    model = dm.nn.Sequential(dm.nn.Dense(256, 512), dm.nn.Dense(512, 256))
    start = 0
    for _ in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"saved\n", proc.stderr.read() if proc.stderr else ""
            time.sleep(rnd.uniform(0.0, 0.3))
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        epoch = load_checkpoint(path, model, restore_rng=False)["epoch"]
        assert epoch >= start
        for p in model.parameters():
            assert np.all(p.detach().numpy() == float(epoch))
        start = epoch + 1000
    # Each new writer's first save removed the temp files of the killed ones.
    assert len([n for n in os.listdir(tmp_path) if n.endswith(".tmp")]) <= 1


_HUGE_SPARSE = textwrap.dedent(
    """
    import resource, sys, time
    from democratising import checkpoint
    from democratising.errors import CheckpointError

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    try:
        checkpoint.load_file(sys.argv[1])
    except CheckpointError as e:
        print("refused", e)
    seconds = time.monotonic() - start
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(f"seconds {seconds:.3f} grew_kib {grew}")
    """
)


def test_small_header_on_a_huge_sparse_file_is_refused_before_reading(tmp_path: Path) -> None:
    """A valid 8-byte tensor followed by a 3 GB hole: the header does not account for the file's
    size, so it is refused before the data region is read (it read 3 GB, 5.9 GB of RSS)."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    path = tmp_path / "sparse.safetensors"
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + bytes(8))
        f.truncate(3 * 10**9)
    # Through a shell that forks: a child exec'd straight from pytest inherits pytest's own peak
    # RSS as its ru_maxrss (Linux keeps it across exec), which would hide any growth.
    cmd = ["/bin/sh", "-c", '"$@"; exit $?', "sh", sys.executable, "-c", _HUGE_SPARSE, str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out
    assert "refused" in out.stdout and "trailing bytes" in out.stdout, out
    seconds, grew_kib = out.stdout.split()[-3], out.stdout.split()[-1]
    assert float(seconds) < 1.0, out
    assert int(grew_kib) < 100 * 1024, out  # under 100 MiB of extra peak memory
