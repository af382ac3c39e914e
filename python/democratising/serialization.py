"""``dm.save(obj, f)`` / ``dm.load(f)``: PyTorch's two calls over a safe format.

A file is a safetensors file (readable by the ``safetensors`` package): its tensors are the
tensors found in ``obj``, named by their path (a state dict's tensors keep their keys), and its
``__metadata__`` holds a JSON tree of everything else: dicts (ordered or not, with str, int,
float, bool or None keys), lists, tuples, ints, floats (inf and nan too), bools, strings, None,
dtypes and devices. Nothing is pickled and nothing in a file can run code: loading parses JSON
and copies bytes, through the hardened reader of ``checkpoint`` (bounds checked before reading,
a SHA-256 over the whole file, every malformation a ``CheckpointError``).

A plain safetensors file (``safetensors.torch.save_file(model.state_dict(), path)``) loads as
``{name: tensor}``, which is the way across from PyTorch: a file written by ``torch.save`` is a
pickle (a zip holding ``data.pkl``, or a bare pickle), which can run arbitrary code when read,
so ``load`` refuses it with ``PickleFileError`` saying how to convert it.

``weights_only`` is accepted and has no effect: this format can only hold data."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import struct
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import IO, Any, Callable, Optional, Union

import numpy as np

from . import _core
from ._core import Device, Tensor
from ._safetensors import (
    CHECKSUM_KEY,
    MAX_HEADER_SIZE,
    CheckpointFileNotFoundError,
    RawTensor,
    _read_exact,
    _verify_checksum,
    atomic_write,
    bf16_to_f32,
    decode_tensors,
    f32_to_bf16_bits,
    numpy_tag,
    parse_header,
    read_safetensors,
    write_safetensors,
)
from .errors import ArgumentTypeError, CheckpointError, DeviceError

__all__ = [
    "FORMAT",
    "PickleFileError",
    "add_safe_globals",
    "clear_safe_globals",
    "get_safe_globals",
    "load",
    "safe_globals",
    "save",
]

#: ``__metadata__`` key naming the format; its value is the format version.
FORMAT = "democratising.save"
_VERSION = "1"
#: ``__metadata__`` key holding the JSON tree.
_TREE = "democratising.save.tree"
#: Deepest nesting accepted on load (a hostile tree must not exhaust the stack).
MAX_DEPTH = 200

FileLike = Union[str, "os.PathLike[str]", IO[bytes]]


class PickleFileError(CheckpointError, ValueError):
    """The file was written by ``torch.save`` (a pickle); it is refused, never unpickled."""


# ---- torch.serialization's allow-list (nothing to allow: no pickle here) ----------------------

_SAFE_GLOBALS: list[Any] = []


def add_safe_globals(safe_globals: list[Any]) -> None:
    """Accepted for PyTorch programs; nothing is unpickled here, so nothing needs allowing."""
    _SAFE_GLOBALS.extend(safe_globals)


def get_safe_globals() -> list[Any]:
    return list(_SAFE_GLOBALS)


def clear_safe_globals() -> None:
    _SAFE_GLOBALS.clear()


@contextlib.contextmanager
def safe_globals(safe_globals: list[Any]) -> Iterator[None]:
    """``with torch.serialization.safe_globals([...]):``: a no-op context (no pickle here)."""
    saved = list(_SAFE_GLOBALS)
    _SAFE_GLOBALS.extend(safe_globals)
    try:
        yield
    finally:
        _SAFE_GLOBALS[:] = saved


# ---- obj -> (tensors, JSON tree) ---------------------------------------------------------------


class _Packer:
    """Walks ``obj`` once; each distinct tensor is stored once (a tensor reached twice, such as
    a tied weight in a state dict, comes back as one tensor, as with ``torch.save``)."""

    def __init__(self) -> None:
        self.tensors: dict[str, RawTensor] = {}
        self.seen: dict[int, str] = {}
        self.keep: list[Any] = []  # keeps ids stable while packing

    def _name(self, path: str) -> str:
        name = path or "tensor"
        n = 1
        while name in self.tensors or name == "__metadata__":
            n += 1
            name = f"{path or 'tensor'}#{n}"
        return name

    def tensor(self, value: Union[Tensor, np.ndarray], path: str) -> dict[str, Any]:
        if isinstance(value, np.ndarray):
            try:
                raw = RawTensor(numpy_tag(value), np.asarray(value, order="C"))
            except CheckpointError as e:
                raise CheckpointError(f"cannot save the NumPy array at {path!r}: {e}") from e
            name = self._name(path)
            self.tensors[name] = raw
            return {"__ndarray__": name}
        key = id(value)
        if key in self.seen:
            return {"__tensor__": self.seen[key]}
        self.keep.append(value)
        t = value.detach()
        device = str(value.device)
        if t.device.type != "cpu":
            t = t.cpu()
        if t.dtype == _core.bfloat16:
            raw = RawTensor("BF16", f32_to_bf16_bits(t.float().numpy()))
        else:
            arr = np.asarray(t.numpy(), order="C")
            raw = RawTensor(numpy_tag(arr), arr)
        name = self._name(path)
        self.tensors[name] = raw
        self.seen[key] = name
        node: dict[str, Any] = {"__tensor__": name}
        if device != "cpu":
            node["device"] = device
        if value.requires_grad:
            node["requires_grad"] = True
        from .nn.parameter import Parameter

        if isinstance(value, Parameter):
            node["parameter"] = True
        return node

    def pack(self, value: Any, path: str) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, np.generic):
            return self.pack(value.item(), path)
        if isinstance(value, (Tensor, np.ndarray)):
            return self.tensor(value, path)
        if isinstance(value, _core.dtype):
            return {"__dtype__": value.name}
        if isinstance(value, Device):
            return {"__device__": str(value)}
        if isinstance(value, list):
            return [self.pack(v, _join(path, i)) for i, v in enumerate(value)]
        if isinstance(value, tuple) and not hasattr(value, "_fields"):
            return {"__tuple__": [self.pack(v, _join(path, i)) for i, v in enumerate(value)]}
        if isinstance(value, Mapping):
            items = []
            for k, v in value.items():
                if k is not None and not isinstance(k, (str, int, float, bool)):
                    raise CheckpointError(
                        f"cannot save a dict key of type {type(k).__name__} at {path!r}: keys "
                        "must be str, int, float, bool or None"
                    )
                items.append([self.pack(k, path), self.pack(v, _join(path, k))])
            node: dict[str, Any] = {"__dict__": items}
            if isinstance(value, OrderedDict):
                node["ordered"] = True
            metadata = getattr(value, "_metadata", None)
            if isinstance(metadata, Mapping):
                # A state dict's per-module versions (`_metadata`), which `load_state_dict`
                # hands to `_load_from_state_dict` to upgrade older checkpoints.
                node["metadata"] = self.pack(metadata, _join(path, "_metadata"))
            return node
        from .nn.module import Module

        hint = (
            "; save its state_dict() and load it into a new instance with load_state_dict()"
            if isinstance(value, Module)
            else ""
        )
        raise CheckpointError(
            f"dm.save cannot store {type(value).__name__} at {path or 'the top level'!r}: only "
            "tensors, NumPy arrays, None, bool, int, float, str, dtypes, devices and "
            f"lists, tuples and dicts of them (no pickling){hint}"
        )


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def save(
    obj: Any,
    f: FileLike,
    pickle_module: Any = None,
    pickle_protocol: int = 2,
    _use_new_zipfile_serialization: bool = True,
    _disable_byteorder_record: bool = False,
) -> None:
    """Writes ``obj`` (tensors, numbers, strings, None, and dicts/lists/tuples of them, such
    as ``model.state_dict()`` and ``optimizer.state_dict()``) to ``f``, a path (written
    atomically) or a binary file object. The pickle arguments are accepted and unused."""
    del pickle_module, pickle_protocol, _use_new_zipfile_serialization, _disable_byteorder_record
    packer = _Packer()
    tree = packer.pack(obj, "")
    try:
        text = json.dumps(tree, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:  # pragma: no cover - pack produces JSON values only
        raise CheckpointError(f"cannot encode the saved structure: {e}") from e
    metadata = {"format": FORMAT, FORMAT: _VERSION, _TREE: text}

    def write(out: IO[bytes]) -> None:
        write_safetensors(out, packer.tensors, metadata)

    if isinstance(f, (str, os.PathLike)):
        atomic_write(f, write)
    elif hasattr(f, "write"):
        write(f)  # type: ignore[arg-type]
    else:
        raise ArgumentTypeError(
            f"save(): f must be a path or a binary file object, got {type(f).__name__}"
        )


# ---- reading -----------------------------------------------------------------------------------

_ZIP_MAGIC = b"PK\x03\x04"


def _refuse_pickle(head: bytes, name: str) -> None:
    """Raises ``PickleFileError`` when ``head`` starts a ``torch.save`` file."""
    if head.startswith(_ZIP_MAGIC):
        kind = "a zip archive (torch.save's format: a pickle, data.pkl, plus tensor storages)"
    elif head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        kind = "a pickle (torch.save's legacy format)"
    else:
        return
    raise PickleFileError(
        f"{name} is {kind}. democratising never unpickles files: unpickling can run arbitrary "
        "code. Convert it once, in PyTorch, to safetensors:\n"
        "    import torch; from safetensors.torch import save_file\n"
        f"    save_file(torch.load({name}, weights_only=True), 'model.safetensors')\n"
        "(for a dict of state dicts, save each state dict to its own file), then "
        "dm.load('model.safetensors') returns {name: tensor}."
    )


def _read_bytes(buf: bytes, name: str) -> tuple[dict[str, RawTensor], dict[str, str]]:
    """``read_safetensors`` for bytes already in memory (a file object's contents)."""
    size = len(buf)
    if size < 8:
        raise CheckpointError(f"{name} is truncated: {size} bytes, no safetensors header")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > MAX_HEADER_SIZE:
        raise CheckpointError(f"{name}: safetensors header length {n} exceeds {MAX_HEADER_SIZE}")
    if 8 + n > size:
        raise CheckpointError(f"{name} is truncated: header claims {n} bytes but it has {size}")
    stream = io.BytesIO(buf)
    stream.seek(8)
    raw = _read_exact(stream, n, "header")
    entries, metadata = parse_header(raw, size - 8 - n)
    data = buf[8 + n :]
    digest = _verify_checksum(name, raw, data)
    if metadata.get(CHECKSUM_KEY) != digest:
        raise CheckpointError(f"{name} is corrupt: its checksum is malformed or misplaced")
    return decode_tensors(entries, data), metadata


MapLocation = Union[None, str, Device, Mapping[str, Any], Callable[..., Any]]


def _target(stored: str, map_location: MapLocation) -> Any:
    """Where a tensor saved on ``stored`` goes."""
    if map_location is None:
        return stored
    if isinstance(map_location, (str, Device)):
        return str(map_location)
    if isinstance(map_location, Mapping):
        return str(map_location.get(stored, stored))
    return None  # a callable: applied to the tensor itself


class _Unpacker:
    def __init__(self, tensors: dict[str, RawTensor], map_location: MapLocation) -> None:
        self.tensors, self.map_location = tensors, map_location
        self.made: dict[str, Tensor] = {}

    def tensor(self, node: dict[str, Any]) -> Tensor:
        name = node["__tensor__"]
        if not isinstance(name, str) or name not in self.tensors:
            raise CheckpointError(f"saved structure refers to a missing tensor {name!r}")
        if name in self.made:
            return self.made[name]
        raw = self.tensors[name]
        if raw.dtype == "BF16":
            t = _core.from_numpy(bf16_to_f32(raw.array)).to(_core.bfloat16)
        else:
            t = _core.from_numpy(raw.array)
        stored = node.get("device", "cpu")
        if not isinstance(stored, str):
            raise CheckpointError(f"tensor {name!r}: malformed device {stored!r}")
        if callable(self.map_location) and not isinstance(self.map_location, (str, Device)):
            moved = self.map_location(t, stored)
            t = moved if isinstance(moved, Tensor) else t
        else:
            target = _target(stored, self.map_location)
            try:
                dev = Device(target)
            except Exception as e:
                raise CheckpointError(f"tensor {name!r}: unknown device {target!r}") from e
            if dev.type == "cuda" and not _core._cuda_is_available():
                raise DeviceError(
                    f"tensor {name!r} was saved on {stored} but CUDA is not available; pass "
                    "map_location='cpu' (or a device) to dm.load"
                )
            if dev.type != "cpu":
                t = t.to(dev)
        if node.get("parameter"):
            from .nn.parameter import Parameter

            t = Parameter(t, requires_grad=bool(node.get("requires_grad", False)))
        elif node.get("requires_grad"):
            t.requires_grad_(True)
        self.made[name] = t
        return t

    def unpack(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise CheckpointError(f"saved structure is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, list):
            return [self.unpack(v, depth + 1) for v in value]
        if not isinstance(value, dict):
            return value
        if "__tensor__" in value:
            return self.tensor(value)
        if "__ndarray__" in value:
            name = value["__ndarray__"]
            if not isinstance(name, str) or name not in self.tensors:
                raise CheckpointError(f"saved structure refers to a missing array {name!r}")
            return self.tensors[name].array
        if "__float__" in value:
            text = value["__float__"]
            if text not in ("inf", "-inf", "nan"):
                raise CheckpointError(f"malformed float {text!r} in the saved structure")
            return float(text)
        if "__dtype__" in value:
            dt = getattr(_core, str(value["__dtype__"]), None)
            if not isinstance(dt, _core.dtype):
                raise CheckpointError(f"unknown dtype {value['__dtype__']!r}")
            return dt
        if "__device__" in value:
            try:
                return Device(str(value["__device__"]))
            except Exception as e:
                raise CheckpointError(f"unknown device {value['__device__']!r}") from e
        if "__tuple__" in value and isinstance(value["__tuple__"], list):
            return tuple(self.unpack(v, depth + 1) for v in value["__tuple__"])
        if "__dict__" in value and isinstance(value["__dict__"], list):
            out: dict[Any, Any] = OrderedDict() if value.get("ordered") else {}
            for item in value["__dict__"]:
                if not isinstance(item, list) or len(item) != 2:
                    raise CheckpointError("malformed saved structure: a dict item is not a pair")
                key = self.unpack(item[0], depth + 1)
                if key is not None and not isinstance(key, (str, int, float, bool)):
                    raise CheckpointError(f"malformed saved structure: dict key {key!r}")
                out[key] = self.unpack(item[1], depth + 1)
            if isinstance(out, OrderedDict) and "metadata" in value:
                metadata = self.unpack(value["metadata"], depth + 1)
                if not isinstance(metadata, dict):
                    raise CheckpointError("malformed saved structure: _metadata is not a dict")
                out._metadata = metadata  # type: ignore[attr-defined]
            return out
        raise CheckpointError(f"malformed saved structure: unknown node {sorted(value)[:4]}")


def _reject_constant(name: str) -> Any:
    raise CheckpointError(f"malformed saved structure: {name} is not JSON")


def load(
    f: FileLike,
    map_location: MapLocation = None,
    pickle_module: Any = None,
    *,
    weights_only: Optional[bool] = None,
    mmap: Optional[bool] = None,
    **pickle_load_args: Any,
) -> Any:
    """Reads what ``save`` wrote (or any safetensors file, as ``{name: tensor}``) from a path
    or a binary file object. ``map_location`` (``"cpu"``, a device, a ``{saved: target}`` dict
    or a function ``(tensor, saved_location) -> tensor``) says where tensors go; without it
    they return to the device they were saved from. A ``torch.save`` file raises
    ``PickleFileError``; a truncated or corrupt file ``CheckpointError``."""
    del pickle_module, weights_only, mmap, pickle_load_args
    if isinstance(f, (str, os.PathLike)):
        name = repr(os.fspath(f))
        try:
            with open(f, "rb") as fh:
                head = fh.read(8)
        except FileNotFoundError as e:
            raise CheckpointFileNotFoundError(f"no file at {name}") from e
        except OSError as e:
            raise CheckpointError(f"cannot read {name}: {e}") from e
        _refuse_pickle(head, name)
        tensors, metadata = read_safetensors(f)
    elif hasattr(f, "read"):
        name = "the file object"
        buf = f.read()  # type: ignore[union-attr]
        if not isinstance(buf, (bytes, bytearray, memoryview)):
            raise ArgumentTypeError("load(): the file object must be opened in binary mode")
        buf = bytes(buf)
        _refuse_pickle(buf[:8], name)
        tensors, metadata = _read_bytes(buf, name)
    else:
        raise ArgumentTypeError(
            f"load(): f must be a path or a binary file object, got {type(f).__name__}"
        )
    if FORMAT not in metadata:  # a plain safetensors file: {name: tensor}
        unpacker = _Unpacker(tensors, map_location)
        return {k: unpacker.tensor({"__tensor__": k}) for k in tensors}
    if CHECKSUM_KEY not in metadata:
        # ``save`` always writes one: its absence means the checksum entry itself was damaged
        # (the reader then had nothing to verify), so nothing in the file can be trusted.
        raise CheckpointError(f"{name} is corrupt: its {CHECKSUM_KEY!r} checksum is missing")
    if metadata[FORMAT] != _VERSION or _TREE not in metadata:
        raise CheckpointError(
            f"{name}: unsupported {FORMAT} version {metadata[FORMAT]!r} (this reads {_VERSION})"
        )
    try:
        tree = json.loads(metadata[_TREE], parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{name}: malformed saved structure: {e}") from e
    try:
        return _Unpacker(tensors, map_location).unpack(tree)
    except RecursionError as e:
        raise CheckpointError(f"{name}: saved structure is nested too deeply") from e
