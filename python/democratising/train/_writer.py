"""Writing trainer checkpoints: space checks, the atomic protocol, and writes in the background.

Why the state is encoded in the caller's thread: a checkpoint must be the state at one step
boundary. ``snapshot`` packs the metadata (JSON) and copies every tensor into host memory
(owned NumPy arrays) before it returns, so the training that goes on while the file is written
cannot change what is written. The write itself (SHA-256, temp file, fsync, rename, directory
fsync: ``_safetensors.atomic_write``) then runs in a ``CheckpointWriter`` thread.

At most one write is in flight: a new one first waits for the previous one. A failed write is
kept and raised (``CheckpointError`` from the original) at the next ``raise_if_failed`` — the
trainer calls it at every step boundary — or at ``wait``; it is never lost. The writer thread
is not a daemon, so the interpreter waits for a write in flight before it exits.

``check_space`` refuses, before a byte is written, a checkpoint the disk cannot hold.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import IO, Callable, Optional, Union

import numpy as np

from .._safetensors import RawTensor, write_safetensors
from ..checkpoint import Checkpoint, write_atomically
from ..errors import CheckpointError

__all__ = ["CheckpointWriter", "Snapshot", "check_space", "snapshot"]

PathLike = Union[str, "os.PathLike[str]"]

#: Room kept free besides the checkpoint itself (the header, the file system's own needs).
SPACE_MARGIN = 1 << 20


class Snapshot:
    """A checkpoint as bytes-to-be: owned tensor copies and the encoded metadata."""

    __slots__ = ("metadata", "nbytes", "tensors")

    def __init__(self, tensors: dict[str, RawTensor], metadata: dict[str, str]) -> None:
        self.tensors = tensors
        self.metadata = metadata
        #: About the file's size: the tensors' bytes and the metadata's text.
        self.nbytes = sum(int(r.array.nbytes) for r in tensors.values()) + sum(
            len(k) + len(v) for k, v in metadata.items()
        )

    def write(self, path: PathLike) -> None:
        """The atomic, durable write (temp file, fsync, rename, directory fsync)."""

        def body(f: IO[bytes]) -> None:
            write_safetensors(f, self.tensors, self.metadata)

        write_atomically(path, body)


def snapshot(ckpt: Checkpoint, copy: bool = True) -> Snapshot:
    """Encodes ``ckpt`` and (with ``copy``: for a background write) copies every tensor to
    host memory the checkpoint owns, so the live model and optimizer may change as soon as
    this returns. A write made before training goes on needs no copy."""
    tensors, metadata = ckpt._encode()
    if copy:
        tensors = {
            k: RawTensor(r.dtype, np.array(r.array, copy=True, order="C"))
            for k, r in tensors.items()
        }
    return Snapshot(tensors, dict(metadata))


def check_space(path: PathLike, nbytes: int, reserved: int = 0) -> None:
    """``CheckpointError`` when the file system of ``path``'s folder has less free space than a
    checkpoint of ``nbytes`` needs (plus ``reserved`` bytes another write in flight will take
    and a 1 MiB margin); nothing is written either way."""
    folder = Path(path).parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:  # cannot tell (an exotic file system): let the write itself report
        return
    need = int(nbytes) + int(reserved) + SPACE_MARGIN
    if free < need:
        raise CheckpointError(
            f"not enough disk space for checkpoint {os.fspath(path)!r}: it needs about "
            f"{_mb(need)} and {folder} has {_mb(free)} free; nothing was written. Free some "
            "space, lower keep_last, or point checkpoint_dir at a larger disk"
        )


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


class CheckpointWriter:
    """One background thread at a time writing ``Snapshot``s (see the module docstring).

    ``after(paths)`` runs in the training thread, at the first ``poll``/``wait`` after the
    files are durable (pruning, progress notes), so callbacks never race the writer."""

    def __init__(self) -> None:
        self._thread: Optional[threading.Thread] = None
        self._error: Optional[BaseException] = None
        self._paths: list[Path] = []
        self._after: Optional[Callable[[list[Path]], None]] = None
        self._pending_bytes = 0

    @property
    def busy(self) -> bool:
        """Whether a write is in flight (or finished but not yet polled)."""
        return self._thread is not None

    @property
    def pending_bytes(self) -> int:
        """Bytes of the write in flight (its whole size: what it may still need on disk)."""
        return self._pending_bytes if self._thread is not None else 0

    def submit(
        self,
        snap: Snapshot,
        paths: list[Path],
        after: Optional[Callable[[list[Path]], None]] = None,
    ) -> None:
        """Waits for the previous write (raising its failure), then writes ``snap`` to every
        path of ``paths`` (in order) in the background."""
        self.wait()
        targets = [Path(p) for p in paths]

        def run() -> None:
            try:
                for target in targets:
                    snap.write(target)
            except BaseException as e:  # kept for the training thread, never lost
                self._error = e

        self._paths, self._after, self._pending_bytes = targets, after, snap.nbytes
        self._error = None
        t = threading.Thread(target=run, name="democratising-checkpoint-writer", daemon=False)
        self._thread = t
        t.start()

    def poll(self) -> None:
        """If the write in flight has finished: raises its failure, or runs its ``after``.
        Cheap enough to call at every step."""
        t = self._thread
        if t is None or t.is_alive():
            return
        self._finish()

    def wait(self, raise_error: bool = True) -> None:
        """Blocks until no write is in flight, then finishes it as ``poll`` does (with
        ``raise_error=False`` a failure is dropped: for when another error is on its way)."""
        t = self._thread
        if t is None:
            return
        t.join()
        if raise_error:
            self._finish()
        else:
            self._thread, self._error, self._after = None, None, None

    def _finish(self) -> None:
        assert self._thread is not None
        self._thread.join()
        self._thread = None
        e, self._error = self._error, None
        after, self._after = self._after, None
        where = ", ".join(repr(os.fspath(p)) for p in self._paths)
        if e is not None:
            detail = str(e) if isinstance(e, CheckpointError) else f"{type(e).__name__}: {e}"
            raise CheckpointError(
                f"writing checkpoint {where} in the background failed: {detail}"
            ) from e
        if after is not None:
            after(self._paths)
