"""``dm.save`` / ``dm.load``: round trips of the structures PyTorch users save, a safe format
(safetensors + a JSON tree, never pickle), refusal of ``torch.save`` files, typed errors on
damaged files."""

from __future__ import annotations

import io
import json
import math
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.checkpoint import load_file, save_file
from democratising.serialization import PickleFileError
from helpers import to_numpy


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))


def _trained() -> tuple[nn.Module, dm.optim.Optimizer]:
    dm.manual_seed(0)
    m = _model()
    opt = dm.optim.Adam(m.parameters(), lr=0.01)
    m(dm.randn(5, 3)).sum().backward()
    opt.step()
    return m, opt


def _same(a: object, b: object) -> None:
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, dm.Tensor):
        assert isinstance(b, dm.Tensor)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b)
    else:
        assert a == b


def test_round_trip_of_nested_structures_by_path_and_file_object(tmp_path: Path) -> None:
    m, opt = _trained()
    obj = {
        "model": m.state_dict(),
        "optimizer": opt.state_dict(),
        "epoch": 3,
        "best": 0.25,
        "inf": -math.inf,
        "nan": math.nan,
        "flag": True,
        "name": "run-1",
        "nothing": None,
        "nested": [1, (2.5, "x"), {"t": dm.arange(4), 7: None}],
        "dtypes": (dm.float16, dm.bfloat16, dm.int32),
        "device": dm.device("cpu"),
        "bf16": dm.tensor([1.5, -2.0], dtype=dm.bfloat16),
        "f64": dm.tensor([1e-300], dtype=dm.float64),
        "bool": dm.tensor([True, False]),
        "scalar": dm.tensor(3.0),
        "empty": dm.zeros(0, 3),
        "numpy": np.arange(6, dtype=np.int32).reshape(2, 3),
    }
    path = tmp_path / "ckpt.pt"
    dm.save(obj, path)
    buf = io.BytesIO()
    dm.save(obj, buf)
    buf.seek(0)
    for loaded in (dm.load(path), dm.load(str(path), weights_only=True), dm.load(buf)):
        arr = loaded.pop("numpy")
        np.testing.assert_array_equal(arr, obj["numpy"])
        _same({k: v for k, v in obj.items() if k != "numpy"}, loaded)
        assert isinstance(loaded["model"], OrderedDict)
        assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
        assert set(loaded["optimizer"]["state"]) == {0, 1, 2, 3}  # int keys stay ints
    # The file is a plain safetensors file whose tensors keep their state-dict paths.
    names = set(load_file(path))
    assert {"model.0.weight", "model.2.bias", "optimizer.state.0.exp_avg"} <= names


def test_loaded_state_dicts_restore_a_model_and_its_optimizer(tmp_path: Path) -> None:
    m, opt = _trained()
    dm.save({"model": m.state_dict(), "opt": opt.state_dict()}, tmp_path / "a.pt")
    ckpt = dm.load(tmp_path / "a.pt", map_location="cpu")
    m2 = _model()
    m2.load_state_dict(ckpt["model"])
    opt2 = dm.optim.Adam(m2.parameters(), lr=0.01)
    opt2.load_state_dict(ckpt["opt"])
    x = dm.randn(4, 3)
    np.testing.assert_array_equal(to_numpy(m(x)), to_numpy(m2(x)))
    for o, model in ((opt, m), (opt2, m2)):
        o.zero_grad()
        model(x).pow(2).sum().backward()
        o.step()
    np.testing.assert_allclose(to_numpy(m(x)), to_numpy(m2(x)), rtol=1e-6)


def test_a_bare_state_dict_and_a_single_tensor() -> None:
    m = _model()
    buf = io.BytesIO()
    dm.save(m.state_dict(), buf)
    buf.seek(0)
    sd = dm.load(buf)
    assert list(sd) == list(m.state_dict())
    buf = io.BytesIO()
    t = dm.randn(2, 3)
    dm.save(t, buf)
    buf.seek(0)
    _same(t, dm.load(buf))


def test_shared_tensors_stay_shared_and_parameters_stay_parameters() -> None:
    p = nn.Parameter(dm.randn(3))
    buf = io.BytesIO()
    dm.save({"a": p, "b": p, "g": dm.ones(2).requires_grad_()}, buf)
    buf.seek(0)
    out = dm.load(buf)
    assert out["a"] is out["b"]
    assert isinstance(out["a"], nn.Parameter) and out["a"].requires_grad
    assert out["g"].requires_grad and not isinstance(out["g"], nn.Parameter)


def test_a_plain_safetensors_file_loads_as_a_dict(tmp_path: Path) -> None:
    save_file({"w": dm.ones(2, 2), "b": dm.zeros(2)}, tmp_path / "m.safetensors")
    out = dm.load(tmp_path / "m.safetensors")
    assert sorted(out) == ["b", "w"]
    np.testing.assert_array_equal(to_numpy(out["w"]), np.ones((2, 2)))


def test_map_location_forms() -> None:
    buf = io.BytesIO()
    dm.save({"x": dm.ones(2)}, buf)
    for loc in ("cpu", dm.device("cpu"), {"cpu": "cpu"}, lambda t, where: t * 2):
        buf.seek(0)
        out = dm.load(buf, map_location=loc)
        assert out["x"].device.type == "cpu"
    buf.seek(0)
    np.testing.assert_array_equal(to_numpy(dm.load(buf, map_location=lambda t, w: t * 2)["x"]), 2)


@pytest.mark.skipif(dm.cuda.is_available(), reason="checks the message without CUDA")
def test_a_tensor_saved_on_cuda_needs_map_location_without_cuda() -> None:
    buf = io.BytesIO()
    dm.save({"x": dm.ones(2)}, buf)
    raw = buf.getvalue()
    # Rewrite the tree to say the tensor lived on CUDA (no GPU needed to make such a file).
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    tree = json.loads(header["__metadata__"]["democratising.save.tree"])
    tree["__dict__"][0][1]["device"] = "cuda:0"
    fixed = io.BytesIO()
    from democratising._safetensors import RawTensor, write_safetensors

    meta = {k: v for k, v in header["__metadata__"].items() if k != "democratising.sha256"}
    meta["democratising.save.tree"] = json.dumps(tree)
    write_safetensors(fixed, {"x": RawTensor("F32", np.ones(2, np.float32))}, meta)
    fixed.seek(0)
    with pytest.raises(dm.DeviceError, match="map_location"):
        dm.load(fixed)
    fixed.seek(0)
    assert dm.load(fixed, map_location="cpu")["x"].device.type == "cpu"


def test_torch_save_files_are_refused_never_unpickled(tmp_path: Path) -> None:
    zpath = tmp_path / "model.pt"
    with zipfile.ZipFile(zpath, "w") as z:  # the layout torch.save writes
        z.writestr("archive/data.pkl", pickle.dumps({"w": [1.0]}))
        z.writestr("archive/version", "3\n")
    with pytest.raises(PickleFileError, match="safetensors") as info:
        dm.load(zpath)
    assert isinstance(info.value, dm.CheckpointError)
    assert "save_file" in str(info.value)
    legacy = io.BytesIO(pickle.dumps({"w": 1}, protocol=2))
    with pytest.raises(PickleFileError, match="never unpickles"):
        dm.load(legacy)


class _Boom:
    def __reduce__(self) -> tuple[object, ...]:  # would run if anything unpickled it
        raise AssertionError("unpickled")


def test_unsupported_objects_are_refused_on_save() -> None:
    with pytest.raises(dm.CheckpointError, match="state_dict"):
        dm.save(_model(), io.BytesIO())
    with pytest.raises(dm.CheckpointError, match="_Boom"):
        dm.save({"x": _Boom()}, io.BytesIO())
    with pytest.raises(dm.CheckpointError, match="key"):  # (tuple keys save, as in PyTorch)
        dm.save({dm.ones(1): 3}, io.BytesIO())


def test_truncated_and_corrupt_files_raise_checkpoint_error(tmp_path: Path) -> None:
    buf = io.BytesIO()
    dm.save({"w": dm.randn(8, 8), "step": 3}, buf)
    raw = buf.getvalue()
    for bad in (raw[:5], raw[:40], raw[:-7], raw[:-1] + bytes([raw[-1] ^ 1]), b"", b"{}" * 9):
        with pytest.raises(dm.CheckpointError):
            dm.load(io.BytesIO(bad))
        p = tmp_path / "bad.pt"
        p.write_bytes(bad)
        with pytest.raises(dm.CheckpointError):
            dm.load(p)
    with pytest.raises(dm.CheckpointError) as info:
        dm.load(tmp_path / "missing.pt")
    assert isinstance(info.value, FileNotFoundError)


def test_a_hostile_tree_is_refused_cleanly() -> None:
    from democratising._safetensors import write_safetensors

    for tree in ('{"__evil__": 1}', "[" * 5000 + "]" * 5000, '{"__float__": "1e999"}', "NaN"):
        buf = io.BytesIO()
        meta = {"format": "democratising.save", "democratising.save": "1"}
        meta["democratising.save.tree"] = tree
        write_safetensors(buf, {}, meta)
        buf.seek(0)
        with pytest.raises(dm.CheckpointError):
            dm.load(buf)


def test_safe_globals_is_a_harmless_context() -> None:
    with dm.serialization.safe_globals([int, dict]):
        buf = io.BytesIO()
        dm.save([1, 2], buf)
        buf.seek(0)
        assert dm.load(buf, weights_only=True) == [1, 2]
    dm.serialization.add_safe_globals([float])
    assert float in dm.serialization.get_safe_globals()
    dm.serialization.clear_safe_globals()


def test_state_dict_metadata_survives_save_and_load() -> None:
    """A state dict's ``_metadata`` (per-module versions) round-trips, so a module's
    ``_load_from_state_dict`` can still upgrade a checkpoint saved by an older version."""
    seen: list[object] = []

    class Versioned(nn.Linear):
        _version = 3

        def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args):  # type: ignore[no-untyped-def]
            seen.append(local_metadata.get("version"))
            super()._load_from_state_dict(state_dict, prefix, local_metadata, *args)

    model = nn.Sequential(Versioned(2, 2))
    sd = model.state_dict()
    sd._metadata["0"]["version"] = 1  # as an older release would have saved it
    buf = io.BytesIO()
    dm.save(sd, buf)
    buf.seek(0)
    loaded = dm.load(buf)
    assert loaded._metadata["0"] == {"version": 1}
    assert list(loaded._metadata) == list(sd._metadata)
    nn.Sequential(Versioned(2, 2)).load_state_dict(loaded)
    assert seen == [1]
    # a plain dict saves and loads without any metadata
    buf = io.BytesIO()
    dm.save({"a": 1}, buf)
    buf.seek(0)
    assert not hasattr(dm.load(buf), "_metadata")


def test_lazy_placeholders_save_and_load_uninitialized() -> None:
    """A lazy module saved before its first forward keeps its placeholders (as PyTorch saves
    them): the loaded state dict loads into a fresh lazy module, which still infers its shape."""
    buf = io.BytesIO()
    dm.save(nn.LazyLinear(3).state_dict(), buf)
    buf.seek(0)
    sd = dm.load(buf)
    assert isinstance(sd["weight"], nn.UninitializedParameter)
    assert sd["weight"].requires_grad
    fresh = nn.LazyLinear(3)
    fresh.load_state_dict(sd)
    assert fresh(dm.ones(2, 5)).shape == (2, 3)
    assert fresh.weight.shape == (3, 5)
    bad = {"__uninitialized__": "parameter", "requires_grad": "yes", "dtype": "float32"}
    with pytest.raises(dm.CheckpointError, match="placeholder"):
        dm.serialization._placeholder(bad)


def test_packed_sequence_loads_as_itself() -> None:
    """The package's own ``PackedSequence`` comes back as that class (an RNN takes it)."""
    ps = nn.utils.rnn.pack_sequence([dm.ones(3, 2), dm.ones(1, 2)])
    buf = io.BytesIO()
    dm.save(ps, buf)
    buf.seek(0)
    loaded = dm.load(buf)
    assert type(loaded) is nn.utils.rnn.PackedSequence
    out, _ = nn.GRU(2, 3)(loaded)
    assert out.data.shape == (4, 3)


def test_checkpoint_os_errors_keep_their_types(tmp_path: Path) -> None:
    """Reading a folder is an ``OSError`` (with its errno) and a ``CheckpointError``; every
    ``CheckpointError`` is a ``RuntimeError`` too, as ``torch.load``'s errors are."""
    with pytest.raises(OSError) as info:
        dm.load(tmp_path)
    assert isinstance(info.value, dm.CheckpointError)
    assert info.value.errno is not None and info.value.strerror
    assert info.value.filename == str(tmp_path)
    with pytest.raises(dm.CheckpointError, match="placeholder"):
        dm.serialization._placeholder({"__uninitialized__": ["p"], "requires_grad": True})
    with pytest.raises(RuntimeError):
        dm.save(dm.ones(1), tmp_path / "missing" / "x.pt")
    assert issubclass(dm.CheckpointError, RuntimeError)
