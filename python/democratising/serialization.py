"""``dm.save(obj, f)`` / ``dm.load(f)``: PyTorch's two calls over a safe format.

A file is a safetensors file (readable by the ``safetensors`` package): its tensors are the
tensors found in ``obj``, named by their path (a state dict's tensors keep their keys), and its
``__metadata__`` holds a JSON tree of everything else: dicts (ordered or not, with str, int,
float, bool, None, bytes, complex or tuple keys), lists, tuples, named tuples, sets, ints,
floats (inf and nan too), complex numbers, bools, strings, bytes, None, dtypes and devices: the
types ``torch.load(weights_only=True)`` accepts, plus frozensets and named tuples (rebuilt as a
named tuple of the same name and fields, or as the class itself once it is allowed with
``add_safe_globals``).

Views that share memory stay shared after a load, as with ``torch.save``: each is stored under its
own name (so other safetensors readers see every tensor whole) and the tree records where it lies
in the shared storage, from which ``load`` rebuilds one storage and views of it. Only views that
tile a dense block of their storage (slices of rows, transposes, reshapes) can be rebuilt that
way; others (a strided column, an expanded tensor), and tensors that require grad, load as
separate copies. Nothing is pickled and nothing in a file can run code: loading parses JSON
and copies bytes, through the hardened reader of ``checkpoint`` (bounds checked before reading,
a SHA-256 over the whole file, every malformation a ``CheckpointError``).

A plain safetensors file (``safetensors.torch.save_file(model.state_dict(), path)``) loads as
``{name: tensor}``, which is the way across from PyTorch: a file written by ``torch.save`` is a
pickle (a zip holding ``data.pkl``, or a bare pickle), which can run arbitrary code when read,
so ``load`` refuses it with ``PickleFileError`` saying how to convert it.

``weights_only`` changes one thing only: with ``weights_only=False`` a named tuple's own class is
used when its module is already imported (as ``torch.load`` would unpickle it); otherwise it
needs ``add_safe_globals``. Nothing is ever imported or evaluated either way."""

from __future__ import annotations

import base64
import binascii
import collections
import contextlib
import io
import json
import math
import os
import struct
import sys
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import IO, Any, Callable, Optional, Union

import numpy as np

from . import _core
from ._core import Device, Tensor
from ._pytorch_compat import Size
from ._safetensors import (
    CHECKSUM_KEY,
    MAX_HEADER_SIZE,
    CheckpointFileNotFoundError,
    CheckpointReadError,
    RawTensor,
    _read_exact,
    _verify_checksum,
    bf16_to_f32,
    decode_tensors,
    f32_to_bf16_bits,
    numpy_tag,
    parse_header,
    read_safetensors,
    write_atomically,
    write_safetensors,
)
from ._tensor_compat_more import sparse_coo
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
    """As ``torch.serialization.add_safe_globals``: nothing is unpickled here, but a named tuple
    class listed here is the class ``load`` rebuilds its saved instances as."""
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


#: A shared storage is rebuilt as one buffer spanning its views; the views' holes are zeros. A
#: span this many times the views' own elements (plus a little) is not worth it: such views are
#: saved, and loaded, as separate copies, and a file claiming one is refused.
_SPAN_FACTOR = 8
_SPAN_SLACK = 4096


def _dense_order(shape: tuple[int, ...], stride: tuple[int, ...]) -> Optional[list[int]]:
    """The permutation ``p`` with ``t.permute(p)`` contiguous, when ``t`` (of this shape and
    stride) covers a dense block of its storage; ``None`` when it does not (a strided column,
    an expanded tensor). Such a tensor is ``block.view(shape[p]).permute(inverse of p)``."""
    if len(shape) != len(stride):
        return None
    order = sorted(range(len(shape)), key=lambda d: (-stride[d], d))
    expected = 1
    for d in reversed(order):
        if shape[d] == 1:
            continue  # a size-1 dimension's stride is never used
        if stride[d] != expected:
            return None
        expected *= shape[d]
    return order


def _span_ok(span: int, numels: list[int]) -> bool:
    return span <= _SPAN_FACTOR * sum(numels) + _SPAN_SLACK


def _key_ok(key: Any) -> bool:
    """Dict keys and set items a file can hold: what JSON can name, and tuples of them."""
    if key is None or isinstance(key, (bool, int, float, str, bytes, complex)):
        return True
    return isinstance(key, (tuple, frozenset)) and all(_key_ok(k) for k in key)


class _Packer:
    """Walks ``obj`` once; each distinct tensor is stored once (a tensor reached twice, such as
    a tied weight in a state dict, comes back as one tensor, as with ``torch.save``)."""

    def __init__(self) -> None:
        self.tensors: dict[str, RawTensor] = {}
        self.seen: dict[int, str] = {}
        self.keep: list[Any] = []  # keeps ids stable while packing
        #: Tensors by the storage they view: ``(device, address) -> [(tensor, node)]``.
        self.storages: dict[tuple[str, int], list[tuple[Tensor, dict[str, Any]]]] = {}

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
        elif not value.requires_grad and value.numel() > 0:
            storage = (device, value.untyped_storage().data_ptr())
            self.storages.setdefault(storage, []).append((value, node))
        return node

    def link_shared(self) -> None:
        """Marks the tensors that view one storage with their place in it, ``"storage": [group,
        offset, stride]`` (offset from the group's first element), so that ``load`` makes them
        views of one storage again. Views that cannot be rebuilt so stay separate copies."""
        group = 0
        for members in self.storages.values():
            dense = [
                (t, node)
                for t, node in members
                if _dense_order(tuple(t.shape), tuple(t.stride())) is not None
            ]
            if len(dense) < 2 or len({t.dtype for t, _ in dense}) != 1:
                continue
            low = min(t.storage_offset() for t, _ in dense)
            span = max(t.storage_offset() + t.numel() for t, _ in dense) - low
            if not _span_ok(span, [t.numel() for t, _ in dense]):
                continue
            for t, node in dense:
                node["storage"] = [group, t.storage_offset() - low, list(t.stride())]
            group += 1

    def pack(self, value: Any, path: str) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            return value if math.isfinite(value) else {"__float__": repr(value)}
        if isinstance(value, complex):
            return {"__complex__": [self.pack(value.real, path), self.pack(value.imag, path)]}
        if isinstance(value, (bytes, bytearray)):
            tag = "__bytes__" if isinstance(value, bytes) else "__bytearray__"
            return {tag: base64.b64encode(value).decode("ascii")}
        if isinstance(value, np.generic):
            return self.pack(value.item(), path)
        kind = _uninitialized_kind(value)
        if kind is not None:
            # A lazy module's placeholder has no values: saved as what it is, as PyTorch does.
            dtype = Tensor.__getattribute__(value, "dtype")
            return {
                "__uninitialized__": kind,
                "requires_grad": bool(value.requires_grad),
                "dtype": dtype.name,
            }
        if isinstance(value, (Tensor, np.ndarray)):
            return self.tensor(value, path)
        if getattr(value, "layout", None) is sparse_coo:
            return self.sparse(value, path)
        if isinstance(value, _core.dtype):
            return {"__dtype__": value.name}
        if isinstance(value, Device):
            return {"__device__": str(value)}
        if isinstance(value, list):
            return [self.pack(v, _join(path, i)) for i, v in enumerate(value)]
        if isinstance(value, tuple):
            items = [self.pack(v, _join(path, i)) for i, v in enumerate(value)]
            if isinstance(value, Size):  # `torch.Size` loads back as one, as in PyTorch
                return {"__size__": items}
            if hasattr(value, "_fields"):
                return self.named_tuple(value, items)
            return {"__tuple__": items}
        if isinstance(value, (set, frozenset)):
            tag = "__set__" if isinstance(value, set) else "__frozenset__"
            return {tag: [self.key(v, path) for v in value]}
        if isinstance(value, Mapping):
            items = [[self.key(k, path), self.pack(v, _join(path, k))] for k, v in value.items()]
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
            "tensors, NumPy arrays, None, bool, int, float, complex, str, bytes, dtypes, "
            f"devices and lists, tuples, named tuples, sets and dicts of them (no pickling){hint}"
        )

    def sparse(self, value: Any, path: str) -> dict[str, Any]:
        """A sparse COO tensor: its coordinates and values as two tensors, with its size."""
        return {
            "__sparse_coo__": [
                self.tensor(value._indices(), _join(path, "indices")),
                self.tensor(value._values(), _join(path, "values")),
            ],
            "size": list(value.shape),
            "coalesced": bool(value.is_coalesced()),
        }

    def key(self, key: Any, path: str) -> Any:
        """A dict key or set item: hashable values only (no tensors, as ``torch.save`` keeps
        them by identity, which a file cannot)."""
        if not _key_ok(key):
            raise CheckpointError(
                f"cannot save a dict key or set item of type {type(key).__name__} at {path!r}: "
                "they must be str, int, float, complex, bool, bytes, None or tuples of them"
            )
        return self.pack(key, path)

    def named_tuple(self, value: tuple[Any, ...], items: list[Any]) -> dict[str, Any]:
        """A named tuple: its class's module, name and fields, and its items."""
        cls = type(value)
        fields = [str(f) for f in value._fields]  # type: ignore[attr-defined]
        if len(fields) != len(items):
            raise CheckpointError(f"cannot save {cls.__name__}: its _fields do not match it")
        return {"__namedtuple__": [cls.__module__, cls.__qualname__, fields], "items": items}


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
    packer.link_shared()
    try:
        text = json.dumps(tree, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:  # pragma: no cover - pack produces JSON values only
        raise CheckpointError(f"cannot encode the saved structure: {e}") from e
    metadata = {"format": FORMAT, FORMAT: _VERSION, _TREE: text}

    def write(out: IO[bytes]) -> None:
        write_safetensors(out, packer.tensors, metadata)

    if isinstance(f, (str, os.PathLike)):
        # Atomic: a failed save leaves the file that was there; an OSError becomes a
        # CheckpointWriteError naming ``f`` (not the temp file). No folders are created, as
        # ``torch.save``.
        write_atomically(f, write, parents=False)
    elif hasattr(f, "write"):
        write(f)  # type: ignore[arg-type]
    else:
        raise ArgumentTypeError(
            f"save(): f must be a path or a binary file object, got {type(f).__name__}"
        )


# ---- reading -----------------------------------------------------------------------------------

_ZIP_MAGIC = b"PK\x03\x04"


def _refuse_pickle(head: bytes, name: str) -> None:
    """Raises ``PickleFileError`` when ``head`` (the first 9 bytes) starts a ``torch.save``
    file. A safetensors header, JSON, begins with ``{`` after its 8-byte length, and that
    length may itself begin with a pickle's bytes (``\x80\x02`` is a 640-byte header)."""
    if head[8:9] == b"{":
        return
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
    """Rebuilds what ``_Packer`` wrote, treating every node as untrusted: anything malformed is
    a ``CheckpointError``. ``trust`` (``weights_only=False``) lets a named tuple find its class
    among the modules already imported; nothing is ever imported or evaluated."""

    def __init__(
        self, tensors: dict[str, RawTensor], map_location: MapLocation, trust: bool = False
    ) -> None:
        self.tensors, self.map_location, self.trust = tensors, map_location, trust
        self.made: dict[str, Tensor] = {}
        #: Views of shared storages: ``group -> {name: (offset, stride, stored device)}``.
        self.groups: dict[int, dict[str, tuple[int, list[int], str]]] = {}
        self.group_of: dict[str, int] = {}
        self.bases: dict[int, Tensor] = {}
        self.classes: dict[tuple[str, str, tuple[str, ...]], type] = {}

    # ---- tensors --------------------------------------------------------------------------

    def collect_views(self, tree: Any) -> None:
        """Finds every tensor node placed in a shared storage (see ``_Packer.link_shared``)
        before any is made, since a storage is rebuilt from all of its views at once."""
        stack = [tree]
        while stack:
            value = stack.pop()
            if isinstance(value, list):
                stack.extend(value)
            elif isinstance(value, dict):
                if "__tensor__" in value and "storage" in value:
                    self._add_view(value)
                stack.extend(value.values())

    def _add_view(self, node: dict[str, Any]) -> None:
        name, place = node["__tensor__"], node["storage"]
        device = node.get("device", "cpu")
        if (
            not isinstance(name, str)
            or not isinstance(place, list)
            or len(place) != 3
            or not all(_is_int(x) and x >= 0 for x in place[:2])
            or not isinstance(place[2], list)
            or not all(_is_int(x) and x >= 0 for x in place[2])
            or not isinstance(device, str)
        ):
            raise CheckpointError(f"malformed shared-storage entry {place!r} for tensor {name!r}")
        group = self.groups.setdefault(place[0], {})
        entry = (place[1], place[2], device)
        if group.setdefault(name, entry) != entry or self.group_of.get(name, place[0]) != place[0]:
            raise CheckpointError(f"tensor {name!r} is placed in two shared storages")
        self.group_of[name] = place[0]

    def _base(self, group: int) -> Tensor:
        """The storage of ``group``, rebuilt from its views' bytes (which must agree where
        they overlap) and placed on its device once."""
        if group in self.bases:
            return self.bases[group]
        views = self.groups[group]
        raws = {name: self._raw(name) for name in views}
        tags = {r.dtype for r in raws.values()}
        devices = {v[2] for v in views.values()}
        if len(tags) != 1 or len(devices) != 1:
            raise CheckpointError(f"the views of shared storage {group} differ in dtype or device")
        spans = [(views[n][0], raws[n].array.size) for n in views]
        span = max(o + n for o, n in spans)
        if not _span_ok(span, [n for _, n in spans]):
            raise CheckpointError(
                f"shared storage {group} spans {span} elements, far more than its views"
            )
        first = next(iter(raws.values())).array
        flat = np.zeros(span, dtype=first.dtype)
        written = np.zeros(span, dtype=bool)
        bits = np.dtype(f"u{first.dtype.itemsize}")
        for name, (offset, stride, _) in views.items():
            arr = raws[name].array
            order = _dense_order(arr.shape, tuple(stride)) if len(stride) == arr.ndim else None
            if order is None:
                raise CheckpointError(f"tensor {name!r}: stride {stride} is not a dense view")
            block = np.ascontiguousarray(arr.transpose(order)).reshape(-1)
            seg = slice(offset, offset + block.size)
            overlap = written[seg]
            if overlap.any() and not np.array_equal(
                flat[seg][overlap].view(bits), block[overlap].view(bits)
            ):
                raise CheckpointError(
                    f"tensor {name!r} disagrees with the views it shares storage with"
                )
            flat[seg] = block
            written[seg] = True
        base = self._place(
            self._materialise(RawTensor(tags.pop(), flat)), devices.pop(), f"storage {group}"
        )
        self.bases[group] = base
        return base

    def _view(self, name: str) -> Tensor:
        """Tensor ``name`` as a view of its group's storage."""
        group = self.group_of[name]
        base = self._base(group)  # first: it validates every view of the group
        offset, stride, _ = self.groups[group][name]
        shape = self.tensors[name].shape
        order = _dense_order(shape, tuple(stride))
        assert order is not None
        block = base[offset : offset + math.prod(shape)]
        t = block.view([shape[d] for d in order])
        if order != sorted(order):
            t = t.permute([order.index(d) for d in range(len(order))])
        return t

    def _raw(self, name: Any) -> RawTensor:
        if not isinstance(name, str) or name not in self.tensors:
            raise CheckpointError(f"saved structure refers to a missing tensor {name!r}")
        return self.tensors[name]

    @staticmethod
    def _materialise(raw: RawTensor) -> Tensor:
        if raw.dtype == "BF16":
            return _core.from_numpy(bf16_to_f32(raw.array)).to(_core.bfloat16)
        return _core.from_numpy(raw.array)

    def _place(self, t: Tensor, stored: str, name: str) -> Tensor:
        """``t`` (saved on ``stored``) moved where ``map_location`` says."""
        if callable(self.map_location) and not isinstance(self.map_location, (str, Device)):
            moved = self.map_location(t, stored)
            return moved if isinstance(moved, Tensor) else t
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
        return t.to(dev) if dev.type != "cpu" else t

    def tensor(self, node: dict[str, Any]) -> Tensor:
        name = node["__tensor__"]
        raw = self._raw(name)
        if name in self.made:
            return self.made[name]
        stored = node.get("device", "cpu")
        if not isinstance(stored, str):
            raise CheckpointError(f"tensor {name!r}: malformed device {stored!r}")
        if name in self.group_of:
            t = self._view(name)
        else:
            t = self._place(self._materialise(raw), stored, name)
        grad = bool(node.get("requires_grad", False))
        if grad and not (t.dtype.is_floating_point or t.dtype.is_complex):
            raise CheckpointError(f"tensor {name!r}: a {t.dtype} tensor cannot require grad")
        if node.get("parameter"):
            from .nn.parameter import Parameter

            t = Parameter(t, requires_grad=grad)
        elif grad:
            t.requires_grad_(True)
        self.made[name] = t
        return t

    # ---- everything else ------------------------------------------------------------------

    def unpack(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise CheckpointError(f"saved structure is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, list):
            return [self.unpack(v, depth + 1) for v in value]
        if not isinstance(value, dict):
            return value
        if "__tensor__" in value:
            return self.tensor(value)
        if "__uninitialized__" in value:
            return _placeholder(value)
        if "__sparse_coo__" in value:
            return self.sparse(value)
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
        if "__complex__" in value:
            return self.complex_number(value["__complex__"], depth)
        if "__bytes__" in value:
            return _b64(value["__bytes__"])
        if "__bytearray__" in value:
            return bytearray(_b64(value["__bytearray__"]))
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
        if isinstance(value.get("__size__"), list):
            dims = [self.unpack(v, depth + 1) for v in value["__size__"]]
            if not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
                raise CheckpointError(f"malformed saved structure: a size {dims!r}")
            return Size(dims)
        if "__namedtuple__" in value:
            return self.named_tuple(value, depth)
        if isinstance(value.get("__set__"), list):
            return {self.key(v, depth + 1) for v in value["__set__"]}
        if isinstance(value.get("__frozenset__"), list):
            return frozenset(self.key(v, depth + 1) for v in value["__frozenset__"])
        if "__dict__" in value and isinstance(value["__dict__"], list):
            return self.mapping(value, depth)
        raise CheckpointError(f"malformed saved structure: unknown node {sorted(value)[:4]}")

    def sparse(self, node: dict[str, Any]) -> Any:
        """A sparse COO tensor, its coordinates checked against its size as
        ``sparse_coo_tensor`` checks them (a damaged file is a ``CheckpointError``)."""
        from .sparse import sparse_coo_tensor

        parts, size = node["__sparse_coo__"], node.get("size")
        if (
            not isinstance(parts, list)
            or len(parts) != 2
            or not all(isinstance(p, dict) and "__tensor__" in p for p in parts)
            or not isinstance(size, list)
            or not all(_is_int(n) and n >= 0 for n in size)
        ):
            raise CheckpointError(f"malformed sparse tensor in the saved structure: {node!r:.200}")
        indices, values = (self.tensor(p) for p in parts)
        if indices.dtype != _core.int64:
            raise CheckpointError(f"sparse tensor: indices of dtype {indices.dtype}, not int64")
        try:
            out = sparse_coo_tensor(indices, values, size)
        except (ValueError, TypeError, IndexError, RuntimeError) as e:
            raise CheckpointError(f"malformed sparse tensor in the saved structure: {e}") from e
        # Marked coalesced again only by coalescing (a damaged flag cannot lie).
        return out.coalesce() if node.get("coalesced") is True else out

    def key(self, value: Any, depth: int) -> Any:
        """A dict key or set item, which must be hashable data (see ``_key_ok``)."""
        key = self.unpack(value, depth)
        if not _key_ok(key):
            raise CheckpointError(f"malformed saved structure: a key or set item {key!r}")
        return key

    def complex_number(self, parts: Any, depth: int) -> complex:
        if isinstance(parts, list) and len(parts) == 2:
            re, im = (self.unpack(p, depth + 1) for p in parts)
            if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (re, im)):
                return complex(re, im)
        raise CheckpointError(f"malformed complex number {parts!r} in the saved structure")

    def mapping(self, value: dict[str, Any], depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = OrderedDict() if value.get("ordered") else {}
        for item in value["__dict__"]:
            if not isinstance(item, list) or len(item) != 2:
                raise CheckpointError("malformed saved structure: a dict item is not a pair")
            key = self.key(item[0], depth + 1)
            out[key] = self.unpack(item[1], depth + 1)
        if isinstance(out, OrderedDict) and "metadata" in value:
            metadata = self.unpack(value["metadata"], depth + 1)
            if not isinstance(metadata, dict):
                raise CheckpointError("malformed saved structure: _metadata is not a dict")
            out._metadata = metadata  # type: ignore[attr-defined]
        return out

    def named_tuple(self, value: dict[str, Any], depth: int) -> tuple[Any, ...]:
        spec, items = value["__namedtuple__"], value.get("items")
        if (
            not isinstance(spec, list)
            or len(spec) != 3
            or not all(isinstance(s, str) for s in spec[:2])
            or not isinstance(spec[2], list)
            or not all(isinstance(f, str) for f in spec[2])
            or not isinstance(items, list)
            or len(items) != len(spec[2])
        ):
            raise CheckpointError(f"malformed named tuple {spec!r} in the saved structure")
        cls = self.named_class(spec[0], spec[1], tuple(spec[2]))
        values = [self.unpack(v, depth + 1) for v in items]
        make = getattr(cls, "_make", None)
        return make(values) if callable(make) else cls(*values)  # type: ignore[no-any-return]

    def named_class(self, module: str, qualname: str, fields: tuple[str, ...]) -> type:
        """The class of a saved named tuple: one allowed with ``add_safe_globals``, else (with
        ``weights_only=False``) one already imported, else a new named tuple of that name and
        those fields. Only a tuple class with exactly those fields is taken."""
        key = (module, qualname, fields)
        if key in self.classes:
            return self.classes[key]
        candidates = [*_SAFE_GLOBALS, *_own_named_tuples()]
        if self.trust:
            candidates.append(_imported(module, qualname))
        found = [c for c in candidates if _is_class_of(c, module, qualname, fields)]
        cls = found[0] if found else _new_named_tuple(qualname, fields)
        self.classes[key] = cls
        return cls


def _new_named_tuple(qualname: str, fields: tuple[str, ...]) -> type:
    """A new named tuple class of that name and fields (``namedtuple`` checks that they are
    identifiers, so nothing in the file reaches the code it generates)."""
    try:
        return collections.namedtuple(qualname.rsplit(".", 1)[-1], fields)  # type: ignore[misc]
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"malformed named tuple {qualname!r}{fields}: {e}") from e


def _own_named_tuples() -> list[type]:
    """This package's own named tuples, always loaded as themselves (they run no code)."""
    from .nn._rnn_utils import PackedSequence

    return [PackedSequence]


def _uninitialized_kind(value: Any) -> Optional[str]:
    """``"parameter"``/``"buffer"`` for a lazy module's placeholder, else ``None``."""
    if not isinstance(value, Tensor):
        return None
    from .nn.lazy import UninitializedBuffer, UninitializedParameter

    if isinstance(value, UninitializedParameter):
        return "parameter"
    return "buffer" if isinstance(value, UninitializedBuffer) else None


def _placeholder(node: dict[str, Any]) -> Tensor:
    """A fresh lazy placeholder from its saved node (``load_state_dict`` of a lazy module
    keeps it uninitialised)."""
    from .nn.lazy import UninitializedBuffer, UninitializedParameter

    kind, grad, dtype = node["__uninitialized__"], node.get("requires_grad"), node.get("dtype")
    kinds = {"parameter": UninitializedParameter, "buffer": UninitializedBuffer}
    cls = kinds.get(kind) if isinstance(kind, str) else None
    dt = getattr(_core, dtype, None) if isinstance(dtype, str) else None
    if cls is None or not isinstance(grad, bool) or not isinstance(dt, _core.dtype):
        raise CheckpointError(
            f"malformed uninitialized placeholder {node!r} in the saved structure"
        )
    return cls(grad, dtype=dt)  # type: ignore[no-any-return]


def _is_class_of(cls: Any, module: str, qualname: str, fields: tuple[str, ...]) -> bool:
    """Whether ``cls`` is the tuple class a named tuple was saved from."""
    return (
        isinstance(cls, type)
        and issubclass(cls, tuple)
        and cls.__module__ == module
        and cls.__qualname__ == qualname
        and tuple(getattr(cls, "_fields", ())) == fields
    )


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _b64(text: Any) -> bytes:
    if isinstance(text, str):
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            pass
    raise CheckpointError("malformed bytes in the saved structure")


def _imported(module: str, qualname: str) -> Any:
    """``module.qualname`` if that module is already imported (nothing is imported here)."""
    obj: Any = sys.modules.get(module)
    for part in qualname.split("."):
        if obj is None or part.startswith("<"):
            return None
        obj = getattr(obj, part, None)
    return obj


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
    del pickle_module, mmap, pickle_load_args
    if isinstance(f, (str, os.PathLike)):
        name = repr(os.fspath(f))
        try:
            with open(f, "rb") as fh:
                head = fh.read(9)
        except FileNotFoundError as e:
            raise CheckpointFileNotFoundError(f"no file at {name}") from e
        except OSError as e:
            err = CheckpointReadError(f"cannot read {name}: {e.strerror or e}")
            err.errno, err.strerror, err.filename = e.errno, e.strerror, e.filename
            raise err from e
        _refuse_pickle(head, name)
        tensors, metadata = read_safetensors(f)
    elif hasattr(f, "read"):
        name = "the file object"
        buf = f.read()  # type: ignore[union-attr]
        if not isinstance(buf, (bytes, bytearray, memoryview)):
            raise ArgumentTypeError("load(): the file object must be opened in binary mode")
        buf = bytes(buf)
        _refuse_pickle(buf[:9], name)
        tensors, metadata = _read_bytes(buf, name)
    else:
        raise ArgumentTypeError(
            f"load(): f must be a path or a binary file object, got {type(f).__name__}"
        )
    unpacker = _Unpacker(tensors, map_location, trust=weights_only is False)
    if FORMAT not in metadata:  # a plain safetensors file: {name: tensor}
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
        unpacker.collect_views(tree)
        return unpacker.unpack(tree)
    except RecursionError as e:
        raise CheckpointError(f"{name}: saved structure is nested too deeply") from e
