"""A safetensors reader and writer in pure Python + NumPy.

Why our own: a checkpoint file is untrusted input. This module never unpickles or evaluates
anything; it parses a length-prefixed JSON header, checks every bound against the real file size
before touching the data, and turns any malformation into ``CheckpointError`` — never another
exception type and never a partially decoded result.

Format (https://github.com/huggingface/safetensors): 8-byte little-endian header length ``N``,
``N`` bytes of UTF-8 JSON ``{name: {"dtype", "shape", "data_offsets": [begin, end]},
"__metadata__": {str: str}}``, then the data buffer. Offsets are relative to the buffer, which
must be covered exactly: no holes, no overlaps, no trailing bytes.

Integrity: every file we write carries a SHA-256 checksum in ``__metadata__`` under
``"democratising.sha256"`` (64 lowercase hex digits). It covers the whole file except those 64
digits — the length prefix, the rest of the header and the data — so any changed byte is caught
on read; files without the key (other writers, older versions) are read unchecked here, and
``checkpoint`` refuses such a file as a checkpoint unless told to accept it unverified.

Limits: the header is at most ``MAX_HEADER_SIZE`` bytes (as the official reader) and names at
most ``MAX_TENSORS`` tensors, counted before and during parsing, so a hostile header is refused
in well under a second instead of costing minutes and gigabytes.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import re
import socket
import stat
import struct
import tempfile
import zlib
from collections.abc import Iterable, Mapping
from typing import IO, Any, Optional

import numpy as np

from .errors import CheckpointError, DemocratisingError, FileIOError

__all__ = [
    "CHECKSUM_KEY",
    "MAX_HEADER_SIZE",
    "MAX_TENSORS",
    "CheckpointFileNotFoundError",
    "CheckpointWriteError",
    "RawTensor",
    "atomic_write",
    "bf16_to_f32",
    "f32_to_bf16_bits",
    "numpy_tag",
    "parse_header",
    "read_safetensors",
    "write_atomically",
    "write_safetensors",
]

#: The official implementation refuses headers above 100 MB; so do we (a hostile length must
#: not make us allocate gigabytes before we can tell the file is bad).
MAX_HEADER_SIZE = 100_000_000
#: At most this many tensors in one file: a checkpoint of a model with tens of thousands of
#: parameter tensors plus their optimizer state fits; a hostile header of millions of empty
#: tensors is refused before it costs seconds and gigabytes to parse.
MAX_TENSORS = 200_000
#: Bound on the commas in a header (each JSON value after the first needs one), checked before
#: parsing: a 100 MB header of tiny values would otherwise cost seconds and gigabytes.
MAX_HEADER_COMMAS = 16 * MAX_TENSORS
#: More dimensions than any real tensor; keeps hostile shapes out of NumPy and the engine.
MAX_NDIM = 32
#: Bound on the product of the (non-zero) dimensions, so that an empty tensor with an absurd
#: shape such as ``[0, 2**62]`` cannot overflow stride arithmetic downstream.
MAX_ELEMENTS = 2**56

#: The ``__metadata__`` key holding the file's SHA-256 (see the module docstring).
CHECKSUM_KEY = "democratising.sha256"
#: Where the checksum's digits sit in a header. Only a real ``__metadata__`` entry can match:
#: inside a JSON string every ``"`` is escaped, and tensor entries hold objects, not strings.
_CHECKSUM_RE = re.compile(rb'"democratising\.sha256"[ \t\n\r]*:[ \t\n\r]*"([0-9a-f]{64})"')
#: Reserves the digits' place while the header is built; they are not part of the hash.
_PLACEHOLDER = "0" * 64

# safetensors dtype tag -> little-endian NumPy storage dtype. BF16 is stored as raw 16-bit words
# because NumPy has no bfloat16.
_STORAGE: dict[str, np.dtype[Any]] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"),
    "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NUMPY_TO_TAG: dict[np.dtype[Any], str] = {
    np.dtype("float64"): "F64",
    np.dtype("float32"): "F32",
    np.dtype("float16"): "F16",
    np.dtype("int64"): "I64",
    np.dtype("int32"): "I32",
    np.dtype("int16"): "I16",
    np.dtype("int8"): "I8",
    # (NumPy values only, e.g. ``np.random.get_state()``'s uint32 key; read as a tensor they
    # widen to int32/int64, as ``from_numpy`` does)
    np.dtype("uint64"): "U64",
    np.dtype("uint32"): "U32",
    np.dtype("uint16"): "U16",
    np.dtype("uint8"): "U8",
    np.dtype("bool"): "BOOL",
}


class CheckpointFileNotFoundError(CheckpointError, FileNotFoundError):
    """A missing checkpoint: catchable both as ``CheckpointError`` and ``FileNotFoundError``."""


class RawTensor:
    """A tensor as stored: its safetensors dtype tag and a little-endian NumPy array.

    For ``BF16`` the array holds the raw ``uint16`` words; ``bf16_to_f32`` widens them exactly.
    """

    __slots__ = ("array", "dtype")

    def __init__(self, dtype: str, array: np.ndarray) -> None:
        self.dtype = dtype
        self.array = array

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    def __repr__(self) -> str:
        return f"RawTensor(dtype={self.dtype}, shape={self.shape})"


def numpy_tag(arr: np.ndarray) -> str:
    """The safetensors tag for a NumPy array, or ``CheckpointError`` for an unsupported dtype."""
    tag = _NUMPY_TO_TAG.get(arr.dtype.newbyteorder("="))
    if tag is None:
        raise CheckpointError(f"cannot store a NumPy array of dtype {arr.dtype} in safetensors")
    return tag


def bf16_to_f32(words: np.ndarray) -> np.ndarray:
    """Raw bfloat16 words -> float32: bfloat16 is the top half of a float32, so this is exact.
    (``asarray``: the shift of a 0-d array is a NumPy scalar, which ``from_numpy`` refuses.)"""
    return np.asarray(words.astype("<u4") << 16).view("<f4")


def f32_to_bf16_bits(values: np.ndarray) -> np.ndarray:
    """float32 values that are exact bfloat16 numbers -> their raw words (truncation is exact)."""
    return (np.asarray(values, dtype="<f4", order="C").view("<u4") >> 16).astype("<u2")


# ---- writing ---------------------------------------------------------------------------------


def _encode_header(
    tensors: Mapping[str, RawTensor], metadata: Optional[Mapping[str, str]], checksum: bool
) -> tuple[bytes, list[tuple[str, np.ndarray]]]:
    """Builds the header bytes and the data layout; validates names and metadata first.

    With ``checksum`` the metadata starts with a placeholder for the digest, which
    ``write_safetensors`` fills in once the rest of the file is known.
    """
    header: dict[str, Any] = {}
    meta: dict[str, str] = {CHECKSUM_KEY: _PLACEHOLDER} if checksum else {}
    for k, v in (metadata or {}).items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise CheckpointError("safetensors metadata must map str to str")
        if checksum and k == CHECKSUM_KEY:
            raise CheckpointError(f"metadata key {CHECKSUM_KEY!r} is reserved for the checksum")
        meta[k] = v
    if meta:
        header["__metadata__"] = meta
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise CheckpointError(f"tensor names must be str, got {type(name).__name__}")
        if name == "__metadata__":
            raise CheckpointError("'__metadata__' is reserved and cannot name a tensor")
        if t.dtype not in _STORAGE:
            raise CheckpointError(f"tensor {name!r}: unsupported dtype {t.dtype!r}")
    # Larger items first, then by name, as the official writer does: every tensor then starts
    # at a multiple of its item size (the header is padded to 8 bytes), which mmap readers like.
    order = sorted(tensors.items(), key=lambda kv: (-_STORAGE[kv[1].dtype].itemsize, kv[0]))
    layout: list[tuple[str, np.ndarray]] = []
    offset = 0
    for name, t in order:
        arr = np.asarray(t.array, dtype=_STORAGE[t.dtype], order="C")  # keeps 0-d shapes
        header[name] = {
            "dtype": t.dtype,
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + arr.nbytes],
        }
        offset += arr.nbytes
        layout.append((name, arr))
    try:
        text = json.dumps(header, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        raw = text.encode("utf-8")
    except (ValueError, UnicodeEncodeError) as e:
        raise CheckpointError(f"cannot encode safetensors header: {e}") from e
    raw += b" " * (-len(raw) % 8)
    if len(raw) > MAX_HEADER_SIZE:
        raise CheckpointError(f"safetensors header of {len(raw)} bytes exceeds {MAX_HEADER_SIZE}")
    return struct.pack("<Q", len(raw)) + raw, layout


def write_safetensors(
    f: IO[bytes],
    tensors: Mapping[str, RawTensor],
    metadata: Optional[Mapping[str, str]] = None,
    checksum: bool = True,
) -> None:
    """Streams a safetensors file into an open binary file, one tensor at a time (no big copy).

    With ``checksum`` (the default) the header carries the file's SHA-256 under
    ``CHECKSUM_KEY``; the data is hashed in a first pass over the arrays, without copying them.
    """
    head, layout = _encode_header(tensors, metadata, checksum)
    if checksum:
        match = _CHECKSUM_RE.search(head, 8)
        assert match is not None  # _encode_header put the placeholder there
        begin, end = match.span(1)
        digest = _sha256([head[:begin], head[end:], *(_bytes_of(arr) for _, arr in layout)])
        head = head[:begin] + digest.encode("ascii") + head[end:]
    f.write(head)
    for _, arr in layout:
        if arr.nbytes:
            f.write(_bytes_of(arr))


def _bytes_of(arr: np.ndarray) -> memoryview:
    """A C-contiguous array's bytes, without a copy."""
    return arr.data.cast("B") if arr.nbytes else memoryview(b"")


def _sha256(parts: Iterable[Any]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.hexdigest()


def atomic_write(path: str | os.PathLike[str], write: Any) -> None:
    """Runs ``write(file)`` into a temp file beside ``path`` and renames it over ``path``.

    Why: a crash (even ``kill -9`` or power loss) at any moment leaves either the old file or
    the new one at ``path``, never a torn mix. The data is fsynced before the rename, and the
    directory after it, so the rename itself is durable. A writer killed mid-save leaves its
    temp file behind; the next successful save removes those of dead processes.
    """
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    prefix = _temp_prefix(os.path.basename(target))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f"{prefix}{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            _set_normal_mode(f.fileno(), target)
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)
    _remove_stale_temps(directory, prefix)


class CheckpointWriteError(CheckpointError, FileIOError):
    """A checkpoint that could not be written (no such folder, a file in the way, no
    permission): a ``CheckpointError`` naming the checkpoint rather than the temp file the
    atomic write uses, and still an ``OSError`` (with its ``errno``) for code that catches one."""


class CheckpointReadError(CheckpointError, FileIOError):
    """A checkpoint path that cannot be opened for reading (a folder, no permission): a
    ``CheckpointError`` and still an ``OSError`` with the original's ``errno``, ``strerror``
    and ``filename`` (``torch.load`` raises the ``IsADirectoryError``/``PermissionError``
    itself; catch ``OSError`` for both)."""


def write_atomically(path: str | os.PathLike[str], write: Any, parents: bool = True) -> None:
    """``atomic_write(path, write)``, creating missing parent folders first (``parents``);
    an ``OSError`` becomes ``CheckpointWriteError`` saying which checkpoint and why."""
    name = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(name))
    step = ""
    try:
        if parents:
            step = f"cannot create its folder {folder!r}: "
            os.makedirs(folder, exist_ok=True)
            step = ""
        atomic_write(path, write)
    except DemocratisingError:
        raise
    except OSError as e:
        reason = e.strerror or str(e)
        if isinstance(e, (FileExistsError, NotADirectoryError)) and step:
            reason += " (a file is in the way of the folder)"
        err = CheckpointWriteError(f"cannot write checkpoint {name!r}: {step}{reason}")
        err.errno = e.errno
        raise err from e


def _temp_prefix(base: str) -> str:
    """``.<name>.<host>-``: the host tag keeps us from judging another machine's pids (on a
    shared file system) by our own process table."""
    host = zlib.crc32(socket.gethostname().encode("utf-8", "replace"))
    return f".{base}.{host:08x}-"


def _remove_stale_temps(directory: str, prefix: str) -> None:
    """Deletes temp files left by killed writers of this host (POSIX only: there ``kill(pid,
    0)`` merely probes; on Windows it would terminate the process)."""
    if os.name != "posix":
        return
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".tmp")):
            continue
        pid_text = name[len(prefix) :].split(".", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _alive(int(pid_text)):
            continue
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists but is not ours (EPERM), or we cannot tell: keep its file
    return True


def _set_normal_mode(fd: int, target: str) -> None:
    """mkstemp makes 0600 files; give the checkpoint the mode a plain ``open`` would have."""
    if not hasattr(os, "fchmod"):
        return
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    try:
        os.fchmod(fd, mode)
    except OSError:
        pass


def _fsync_dir(directory: str) -> None:
    """Makes the rename durable; a no-op where directories cannot be opened (Windows)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        dfd = os.open(directory, flags)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# ---- reading ---------------------------------------------------------------------------------


class _Objects:
    """JSON object hook: refuses duplicate keys and stops the parse once the header holds
    more objects than ``MAX_TENSORS`` entries could need (each tensor entry is one object)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        self.count += 1
        if self.count > MAX_TENSORS + 2:  # + the top level and __metadata__
            raise CheckpointError(f"safetensors header holds more than {MAX_TENSORS} tensors")
        out = dict(pairs)
        if len(out) != len(pairs):
            seen: set[str] = set()
            for k, _ in pairs:
                if k in seen:
                    raise CheckpointError(f"duplicate key {k!r} in safetensors header")
                seen.add(k)
        return out


def _reject_constant(name: str) -> Any:
    raise CheckpointError(f"invalid JSON constant {name} in safetensors header")


def _check_text(s: str, what: str) -> None:
    """JSON may smuggle lone surrogates in ``\\ud800`` escapes; they are not valid UTF-8."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise CheckpointError(f"{what} {s!r} is not valid Unicode") from e


def parse_header(
    raw: bytes, buffer_len: int
) -> tuple[dict[str, tuple[str, list[int], int, int]], dict[str, str]]:
    """Validates a header against a data buffer of ``buffer_len`` bytes.

    Returns ``({name: (dtype, shape, begin, end)}, metadata)``; raises ``CheckpointError``.
    """
    if not raw.startswith(b"{"):
        raise CheckpointError("safetensors header does not start with '{'")
    if len(raw) > MAX_HEADER_SIZE:
        raise CheckpointError(f"safetensors header of {len(raw)} bytes exceeds {MAX_HEADER_SIZE}")
    # Cheap counts before the parse, so a hostile header is refused in milliseconds. An entry
    # spelled with escapes evades the first count; the object hook still stops the parse.
    if raw.count(b'"data_offsets"') > MAX_TENSORS:
        raise CheckpointError(f"safetensors header holds more than {MAX_TENSORS} tensors")
    if raw.count(b",") > MAX_HEADER_COMMAS:
        raise CheckpointError(
            f"safetensors header holds more than {MAX_HEADER_COMMAS} JSON values; "
            f"at most {MAX_TENSORS} tensors are allowed"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CheckpointError(f"safetensors header is not valid UTF-8: {e}") from e
    # The parse allocates an object per entry and makes no reference cycles: with the cyclic
    # collector paused it does not rescan every live object of the program as it goes (a
    # 200k-entry header took twice as long inside a large test run).
    collecting = gc.isenabled()
    gc.disable()
    try:
        header = json.loads(text, object_pairs_hook=_Objects(), parse_constant=_reject_constant)
    except CheckpointError:
        raise
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"safetensors header is not valid JSON: {e}") from e
    finally:
        if collecting:
            gc.enable()
    if not isinstance(header, dict):
        raise CheckpointError("safetensors header is not a JSON object")
    # Valid UTF-8 holds no lone surrogates; only a \u escape can smuggle one into a string.
    escapes = b"\\u" in raw

    metadata: dict[str, str] = {}
    if "__metadata__" in header:
        meta = header.pop("__metadata__")
        if not isinstance(meta, dict):
            raise CheckpointError("safetensors '__metadata__' is not a JSON object")
        for k, v in meta.items():
            if not isinstance(v, str):
                raise CheckpointError(f"safetensors metadata value for {k!r} is not a string")
            if escapes:
                _check_text(k, "metadata key")
                _check_text(v, "metadata value")
        metadata = meta

    if len(header) > MAX_TENSORS:
        raise CheckpointError(f"safetensors header holds more than {MAX_TENSORS} tensors")
    entries: dict[str, tuple[str, list[int], int, int]] = {}
    fields = {"dtype", "shape", "data_offsets"}
    for name, info in header.items():
        if escapes:
            _check_text(name, "tensor name")
        if not isinstance(info, dict) or info.keys() != fields:
            raise CheckpointError(
                f"tensor {name!r}: entry must have exactly 'dtype', 'shape' and 'data_offsets'"
            )
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        storage = _STORAGE.get(dtype) if type(dtype) is str else None
        if storage is None:
            raise CheckpointError(f"tensor {name!r}: unsupported dtype {dtype!r}")
        # type(...) is int: exact ints only (bool is a subclass, floats are not).
        if type(shape) is not list or not all(type(d) is int and d >= 0 for d in shape):
            raise CheckpointError(f"tensor {name!r}: shape {shape!r} is not a list of ints >= 0")
        if len(shape) > MAX_NDIM:
            raise CheckpointError(f"tensor {name!r}: {len(shape)} dimensions (max {MAX_NDIM})")
        numel, bound = 1, 1
        for d in shape:
            numel *= d
            bound *= d or 1
            if bound > MAX_ELEMENTS:
                raise CheckpointError(f"tensor {name!r}: shape {shape} is absurdly large")
        if type(offsets) is not list or len(offsets) != 2:
            raise CheckpointError(f"tensor {name!r}: data_offsets {offsets!r} is not [begin, end]")
        begin, end = offsets
        if type(begin) is not int or type(end) is not int:
            raise CheckpointError(f"tensor {name!r}: data_offsets {offsets!r} is not [begin, end]")
        if not 0 <= begin <= end <= buffer_len:
            # Past the end is what a file cut short (a copy or download that stopped) looks like.
            cause = ""
            if 0 <= begin <= end:
                cause = " (the file is cut short, or its header is damaged)"
            raise CheckpointError(
                f"tensor {name!r}: data_offsets [{begin}, {end}] outside the {buffer_len}-byte "
                f"data buffer{cause}"
            )
        if end - begin != numel * storage.itemsize:
            raise CheckpointError(
                f"tensor {name!r}: {end - begin} bytes do not hold shape {shape} of {dtype}"
            )
        entries[name] = (dtype, shape, begin, end)

    # The buffer must be tiled exactly: sorted by position, each tensor starts where the last
    # one ended, and the last one ends at the end of the file.
    pos = 0
    for begin, end, name in sorted((e[2], e[3], n) for n, e in entries.items()):
        if begin != pos:
            kind = "overlaps the previous tensor" if begin < pos else "leaves a hole before it"
            raise CheckpointError(f"tensor {name!r}: data_offsets [{begin}, {end}] {kind}")
        pos = end
    if pos != buffer_len:
        raise CheckpointError(
            f"safetensors data buffer has {buffer_len - pos} trailing bytes not owned by any tensor"
        )
    return entries, metadata


def _read_exact(f: IO[bytes], n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise CheckpointError(f"file is truncated: expected {n} bytes of {what}, got {len(data)}")
    return data


def _verify_checksum(path: str, raw: bytes, data: bytes) -> Optional[str]:
    """Checks the SHA-256 of a file that carries one, before anything in it is trusted.

    Returns the verified digest, or ``None`` when the header holds no well-formed checksum (the
    caller then compares that with what the parsed metadata says).
    """
    matches = list(_CHECKSUM_RE.finditer(raw))
    if not matches:
        return None
    if len(matches) > 1:
        raise CheckpointError(f"{path!r} is corrupt: it holds two checksums")
    begin, end = matches[0].span(1)
    stored = raw[begin:end].decode("ascii")
    view = memoryview(raw)
    actual = _sha256([struct.pack("<Q", len(raw)), view[:begin], view[end:], data])
    if actual != stored:
        raise CheckpointError(
            f"{path!r} is corrupt: checksum mismatch (its contents hash to SHA-256 {actual}, "
            f"the file records {stored}); it changed after it was written"
        )
    return stored


def read_safetensors(path: str | os.PathLike[str]) -> tuple[dict[str, RawTensor], dict[str, str]]:
    """Reads and fully validates a file; returns ``({name: RawTensor}, metadata)``.

    Every array is an owned, aligned, writable copy, so nothing aliases the file buffer.
    """
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except FileNotFoundError as e:
        raise CheckpointFileNotFoundError(f"no checkpoint file at {p!r}") from e
    except OSError as e:
        raise CheckpointError(f"cannot read {p!r}: {e}") from e
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(f"{p!r} is not a regular file")
    try:
        with open(p, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 8:
                raise CheckpointError(f"file is truncated: {size} bytes, no safetensors header")
            (n,) = struct.unpack("<Q", _read_exact(f, 8, "header length"))
            if n > MAX_HEADER_SIZE:
                raise CheckpointError(
                    f"safetensors header length {n} exceeds {MAX_HEADER_SIZE}: not a "
                    "safetensors file, or its first 8 bytes are damaged"
                )
            if 8 + n > size:
                raise CheckpointError(
                    f"file is truncated: header claims {n} bytes but the file has {size}"
                )
            raw = _read_exact(f, n, "header")
            # The header must account for every byte of the file before any of its data is
            # read: a small header on a huge (or sparse) file is refused here, in O(header).
            entries, metadata = parse_header(raw, size - 8 - n)
            data = _read_exact(f, size - 8 - n, "data")
    except CheckpointError as e:
        # The messages above describe the damage, not the file: name it, so a user loading
        # several checkpoints (or resuming from a folder) knows which one is bad.
        e.args = (f"{p!r} is not a valid checkpoint: {e}", *e.args[1:])
        raise
    except OSError as e:
        raise CheckpointError(f"cannot read {p!r}: {e}") from e
    digest = _verify_checksum(p, raw, data)
    if metadata.get(CHECKSUM_KEY) != digest:
        # The key is there but its digits are malformed (or the key is spelled with JSON
        # escapes): we never write that, so the header was damaged.
        raise CheckpointError(
            f"{p!r} is corrupt: its {CHECKSUM_KEY!r} checksum is malformed or misplaced"
        )
    return decode_tensors(entries, data), metadata


def decode_tensors(
    entries: Mapping[str, tuple[str, list[int], int, int]], data: bytes
) -> dict[str, RawTensor]:
    """The tensors ``parse_header`` listed, each an owned copy of its bytes of ``data``;
    ``CheckpointError`` for bytes that do not decode (a BOOL byte other than 0 or 1)."""
    tensors: dict[str, RawTensor] = {}
    for name, (dtype, shape, begin, end) in entries.items():
        storage = _STORAGE[dtype]
        try:
            arr = (
                np.frombuffer(
                    data, dtype=storage, count=(end - begin) // storage.itemsize, offset=begin
                )
                .reshape(shape)
                .copy()
            )
        except (ValueError, MemoryError) as e:
            raise CheckpointError(f"tensor {name!r}: cannot decode: {e}") from e
        if dtype == "BOOL" and arr.size and int(arr.view(np.uint8).max()) > 1:
            raise CheckpointError(f"tensor {name!r}: BOOL bytes must be 0 or 1")
        tensors[name] = RawTensor(dtype, arr)
    return tensors
