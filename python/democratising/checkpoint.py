"""Training checkpoints as safetensors files.

Why this shape: tensors go into a plain safetensors file (readable by the ``safetensors``
package and by anything else), while everything that is not a tensor — optimizer
hyperparameters, step counts, scheduler and scaler state, epoch, loss, RNG state, user extras —
is one JSON document in the header's ``__metadata__`` under the key ``"democratising"``. No
pickle anywhere, so loading a file can never run code.

Every file also carries a SHA-256 of its own bytes (``_safetensors.CHECKSUM_KEY``), verified
on every load: a flipped or zeroed byte anywhere — header, metadata or tensor data — raises
``CheckpointError`` instead of loading wrong weights. The document says ``"checksum":
"sha256"``, so a checkpoint whose checksum entry itself was damaged or removed is caught as
well, even with ``allow_unverified``. A checkpoint without the checksum (an older version,
another writer) is refused as unverified unless the caller passes ``allow_unverified=True``;
then it loads with a warning. Plain weight files read by
``load_file`` (e.g. a PyTorch state dict saved by ``safetensors``) need no checksum.

Layouts: a checkpoint written through ``DistributedDataParallel`` (keys ``module.0.weight``)
restores into a plain model and the reverse; the ``module.`` prefix is stripped or added when,
and only when, every key needs it.

Saving is atomic and durable (temp file in the same directory, fsync, rename, fsync the
directory): a crash at any moment leaves the previous checkpoint or the new one, never a torn
file. Loading validates the whole file, and every shape against the model and optimizer, before
changing anything; a bad file raises ``CheckpointError`` and leaves them untouched.

>>> save_checkpoint("ckpt.safetensors", model, optimizer, epoch=3, loss=0.25, step=1200)
>>> info = load_checkpoint("ckpt.safetensors", model, optimizer)
>>> info["epoch"], info["extra"]["step"]
(3, 1200)
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Optional, Union

import numpy as np

from . import _core
from ._core import Tensor
from ._safetensors import (
    CHECKSUM_KEY,
    CheckpointWriteError,
    RawTensor,
    bf16_to_f32,
    f32_to_bf16_bits,
    numpy_tag,
    read_safetensors,
    write_atomically,
    write_safetensors,
)
from ._state_match import check_like, match_prefix
from .errors import ArgumentTypeError, CheckpointError
from .nn.module import IncompatibleKeys
from .optim._state_check import prepare as prepare_optimizer_state
from .optim.optimizer import Optimizer

__all__ = [
    "FORMAT_VERSION",
    "METADATA_KEY",
    "Checkpoint",
    "CheckpointError",
    "CheckpointWriteError",
    "load_checkpoint",
    "load_file",
    "save_checkpoint",
    "save_file",
]

#: Version of the JSON document; a reader refuses documents from a newer writer.
FORMAT_VERSION = 1
#: The ``__metadata__`` key holding the JSON document.
METADATA_KEY = "democratising"
#: The document's ``"checksum"`` value: the file carries a SHA-256 under ``CHECKSUM_KEY``.
#: Not a format-version bump, because older readers load these files correctly as they are.
_CHECKSUM_KIND = "sha256"

PathLike = Union[str, "os.PathLike[str]"]

_MODEL = "model."

# ---- tensors <-> stored form -----------------------------------------------------------------


def _to_raw(value: Union[Tensor, np.ndarray]) -> RawTensor:
    """A tensor or array as stored; bfloat16 keeps its exact bits via a float32 round trip."""
    if isinstance(value, np.ndarray):
        return RawTensor(numpy_tag(value), np.asarray(value, order="C"))
    t = value.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if t.dtype == _core.bfloat16:
        return RawTensor("BF16", f32_to_bf16_bits(t.float().numpy()))
    arr = np.asarray(t.numpy(), order="C")  # not ascontiguousarray: it makes 0-d 1-d
    return RawTensor(numpy_tag(arr), arr)


def _from_raw(raw: RawTensor) -> Tensor:
    if raw.dtype == "BF16":
        return _core.from_numpy(bf16_to_f32(raw.array)).to(_core.bfloat16)
    return _core.from_numpy(raw.array)


# ---- non-tensor state <-> JSON ---------------------------------------------------------------
#
# JSON lacks tuples, non-string keys and tensors; these tagged objects carry them so that a
# state dict comes back exactly as it went in (Adam's ``betas`` stay a tuple, optimizer state
# keys stay ints). A tensor becomes {"__tensor__": name} and is stored in the tensor table under
# its dotted path, e.g. "optimizer.state.0.exp_avg".

_TAGS = ("__tensor__", "__ndarray__", "__tuple__", "__dict__")


def _pack(value: Any, path: str, tensors: dict[str, RawTensor]) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Tensor, np.ndarray)):
        if path in tensors:
            raise CheckpointError(f"two values would be stored as tensor {path!r}")
        tensors[path] = _to_raw(value)
        return {"__tensor__" if isinstance(value, Tensor) else "__ndarray__": path}
    if isinstance(value, list):
        return [_pack(v, f"{path}.{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"__tuple__": [_pack(v, f"{path}.{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, Mapping):
        if all(isinstance(k, str) and not k.startswith("__") for k in value):
            return {k: _pack(v, f"{path}.{k}", tensors) for k, v in value.items()}
        return {
            "__dict__": [
                [_pack_key(k, path), _pack(v, f"{path}.{k}", tensors)] for k, v in value.items()
            ]
        }
    raise CheckpointError(
        f"cannot store {type(value).__name__} at {path!r}: only tensors, NumPy arrays and "
        "JSON-like values (None, bool, int, float, str, list, tuple, dict) are allowed"
    )


def _pack_key(key: Any, path: str) -> Any:
    if isinstance(key, (Tensor, np.ndarray)):
        raise CheckpointError(f"a tensor cannot be a dict key (at {path!r})")
    return _pack(key, path, {})


def _unpack(value: Any, tensors: dict[str, RawTensor], used: set[str]) -> Any:
    if isinstance(value, list):
        return [_unpack(v, tensors, used) for v in value]
    if not isinstance(value, dict):
        return value
    tags = [k for k in value if k.startswith("__")]
    if not tags:
        return {k: _unpack(v, tensors, used) for k, v in value.items()}
    if len(value) != 1 or tags[0] not in _TAGS:
        raise CheckpointError(f"malformed checkpoint metadata: unknown tag in {sorted(value)}")
    tag, body = tags[0], value[tags[0]]
    if tag in ("__tensor__", "__ndarray__"):
        if not isinstance(body, str) or body not in tensors:
            raise CheckpointError(f"checkpoint metadata refers to a missing tensor {body!r}")
        if body in used:
            raise CheckpointError(f"checkpoint metadata refers to tensor {body!r} twice")
        used.add(body)
        raw = tensors[body]
        if tag == "__tensor__":
            return _from_raw(raw)
        if raw.dtype == "BF16":
            raise CheckpointError(f"tensor {body!r}: a bfloat16 value cannot be a NumPy array")
        return raw.array
    if not isinstance(body, list):
        raise CheckpointError(f"malformed checkpoint metadata: {tag} holds a non-list")
    if tag == "__tuple__":
        return tuple(_unpack(v, tensors, used) for v in body)
    out: dict[Any, Any] = {}
    for item in body:
        if not isinstance(item, list) or len(item) != 2:
            raise CheckpointError("malformed checkpoint metadata: a __dict__ item is not a pair")
        key = _unpack(item[0], tensors, set())
        try:
            hash(key)
        except TypeError as e:
            raise CheckpointError(f"malformed checkpoint metadata: unhashable key {key!r}") from e
        if key in out:
            raise CheckpointError(f"malformed checkpoint metadata: duplicate key {key!r}")
        out[key] = _unpack(item[1], tensors, used)
    return out


def _scalar(value: Any, what: str) -> Any:
    """Epoch/loss may arrive as a 0-d tensor or NumPy scalar; the file stores a plain number."""
    if isinstance(value, Tensor):
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise CheckpointError(f"{what} must be a number, got {type(value).__name__}")
    return value


# ---- the checkpoint --------------------------------------------------------------------------


@dataclass
class Checkpoint:
    """Everything needed to resume training, independent of live objects.

    ``save``/``load`` do the file I/O; ``restore`` copies the state into a model, optimizer,
    scheduler and scaler, all-or-nothing.
    """

    # The seed's field order first, so ``Checkpoint(model_sd, optim_sd, epoch, loss)`` works.
    model_state: dict[str, Tensor] = field(default_factory=dict)
    optimizer_state: Optional[dict[str, Any]] = None
    epoch: Optional[int] = None
    loss: Optional[float] = None
    scheduler_state: Optional[dict[str, Any]] = None
    scaler_state: Optional[dict[str, Any]] = None
    rng_state: Optional[list[int]] = None
    extra: dict[str, Any] = field(default_factory=dict)
    optimizer_type: Optional[str] = None

    @classmethod
    def _capture(
        cls,
        model_state: dict[str, Tensor],
        optimizer_state: Optional[dict[str, Any]],
        optimizer: Any,
        scheduler: Any,
        scaler: Any,
        epoch: Optional[int],
        loss: Optional[float],
        extra: dict[str, Any],
    ) -> Checkpoint:
        """The live training objects' state and the RNG state now: what every save path (the
        functions, the trainer, rank 0 of a sharded save) writes around its own model and
        optimizer state."""
        otype = getattr(optimizer, "wrapped_type", type(optimizer).__name__)
        return cls(
            model_state=model_state,
            optimizer_state=optimizer_state,
            scheduler_state=scheduler.state_dict() if scheduler is not None else None,
            scaler_state=scaler.state_dict() if scaler is not None else None,
            epoch=epoch,
            loss=loss,
            rng_state=list(_core.get_rng_state()),
            extra=extra,
            optimizer_type=otype if optimizer is not None else None,
        )

    # ---- writing -----------------------------------------------------------------------------

    def _encode(self) -> tuple[dict[str, RawTensor], dict[str, str]]:
        """Builds the tensor table and metadata; fails before any file is touched."""
        tensors: dict[str, RawTensor] = {}
        for k, v in self.model_state.items():
            if not isinstance(k, str):
                raise CheckpointError(f"model state keys must be str, got {k!r}")
            if getattr(v, "is_sparse", False) is True:
                # A sparse buffer (a graph's adjacency) is stored dense: a plain safetensors
                # entry; ``load_state_dict`` makes it sparse again in a sparse buffer.
                v = v.to_dense()
            if not isinstance(v, Tensor):
                raise CheckpointError(f"model state {k!r} is {type(v).__name__}, not a Tensor")
            tensors[_MODEL + k] = _to_raw(v)
        # A file that ``load`` would refuse must not be written in the first place.
        for name in ("optimizer_state", "scheduler_state", "scaler_state"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Mapping):
                raise CheckpointError(f"{name} must be a dict or None, got {type(value).__name__}")
        if not isinstance(self.extra, Mapping):
            raise CheckpointError(f"extra must be a dict, got {type(self.extra).__name__}")
        epoch = _scalar(self.epoch, "epoch")
        if isinstance(epoch, float):
            raise CheckpointError("epoch must be an int")
        rng = None
        if self.rng_state is not None:
            rng = _check_rng(list(self.rng_state))
        doc = {
            "format_version": FORMAT_VERSION,
            "model_keys": list(self.model_state),
            "optimizer": _pack(self.optimizer_state, "optimizer", tensors),
            "optimizer_type": self.optimizer_type,
            "scheduler": _pack(self.scheduler_state, "scheduler", tensors),
            "scaler": _pack(self.scaler_state, "scaler", tensors),
            "epoch": epoch,
            "loss": _scalar(self.loss, "loss"),
            "rng_state": rng,
            "extra": _pack(dict(self.extra), "extra", tensors),
            "checksum": _CHECKSUM_KIND,  # the digest itself is added by write_safetensors
        }
        try:
            # NaN/inf losses are legitimate; Python's json round-trips them inside our string.
            text = json.dumps(doc, separators=(",", ":"))
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"cannot encode checkpoint metadata: {e}") from e
        return tensors, {METADATA_KEY: text}

    def save(self, path: PathLike) -> None:
        """Writes the checkpoint atomically and durably (see the module docstring). Missing
        parent directories are created, so ``save("runs/exp1/last.ckpt")`` works in a fresh
        tree instead of failing with the name of an internal temp file."""
        tensors, metadata = self._encode()

        def write(f: IO[bytes]) -> None:
            write_safetensors(f, tensors, metadata)

        write_atomically(path, write)

    # ---- reading -----------------------------------------------------------------------------

    @classmethod
    def load(cls, path: PathLike, allow_unverified: bool = False) -> Checkpoint:
        """Reads and validates a checkpoint file; ``CheckpointError`` for anything malformed,
        and for a file without its checksum unless ``allow_unverified`` (then a warning). A
        sharded (ZeRO) checkpoint directory is read whole and consolidated."""
        from .distributed.sharded_checkpoint import is_sharded_directory, load_sharded

        _check_path(path, "Checkpoint.load", "Checkpoint.load(path)")
        if is_sharded_directory(path):
            return load_sharded(path, allow_unverified=allow_unverified)  # type: ignore[no-any-return]
        raw, metadata = read_safetensors(path)  # verifies the checksum, if there is one
        try:
            return cls._decode(raw, metadata, os.fspath(path), allow_unverified)
        except CheckpointError:
            raise
        except (ValueError, TypeError, KeyError, RecursionError, OverflowError) as e:
            raise CheckpointError(f"malformed checkpoint {os.fspath(path)!r}: {e}") from e

    @classmethod
    def _decode(
        cls,
        raw: dict[str, RawTensor],
        metadata: dict[str, str],
        path: str = "<memory>",
        allow_unverified: bool = False,
    ) -> Checkpoint:
        if METADATA_KEY not in metadata:
            raise CheckpointError(
                f"not a democratising checkpoint (no {METADATA_KEY!r} metadata); "
                "use load_file() for plain safetensors files"
            )
        doc = json.loads(metadata[METADATA_KEY])
        if not isinstance(doc, dict):
            raise CheckpointError("checkpoint metadata is not a JSON object")
        version = doc.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise CheckpointError(f"checkpoint has an invalid format_version {version!r}")
        if version > FORMAT_VERSION:
            raise CheckpointError(
                f"checkpoint format {version} is newer than this library's {FORMAT_VERSION}"
            )
        kind = doc.get("checksum")
        if kind is not None and kind != _CHECKSUM_KIND:
            raise CheckpointError(f"checkpoint {path!r} uses an unknown checksum {kind!r}")
        if kind is not None and CHECKSUM_KEY not in metadata:
            # The writer stored one, so it is the checksum entry itself that was damaged.
            raise CheckpointError(
                f"checkpoint {path!r} is corrupt: its {CHECKSUM_KEY!r} checksum is missing"
            )
        if CHECKSUM_KEY not in metadata:
            if not allow_unverified:
                raise CheckpointError(
                    f"checkpoint {path!r} is unverified: it has no {CHECKSUM_KEY!r} checksum, "
                    "so damage to it cannot be detected; pass allow_unverified=True to load "
                    "it anyway"
                )
            warnings.warn(
                f"loading unverified checkpoint {path!r} (no {CHECKSUM_KEY!r} checksum)",
                UserWarning,
                stacklevel=4,
            )
        keys = doc.get("model_keys")
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise CheckpointError("checkpoint model_keys is not a list of strings")
        stored = {n[len(_MODEL) :] for n in raw if n.startswith(_MODEL)}
        if len(set(keys)) != len(keys) or set(keys) != stored:
            raise CheckpointError(
                "checkpoint model tensors do not match its model_keys: "
                f"missing {sorted(set(keys) - stored)}, unlisted {sorted(stored - set(keys))}"
            )
        used = {_MODEL + k for k in keys}
        model_state = {k: _from_raw(raw[_MODEL + k]) for k in keys}
        parts = {
            name: _unpack(doc.get(name), raw, used)
            for name in ("optimizer", "scheduler", "scaler", "extra")
        }
        stray = sorted(set(raw) - used)
        if stray:
            raise CheckpointError(f"checkpoint has tensors no state refers to: {stray[:5]}")
        for name in ("optimizer", "scheduler", "scaler"):
            if parts[name] is not None and not isinstance(parts[name], dict):
                raise CheckpointError(f"checkpoint {name} state is not a dict")
        extra = parts["extra"]
        if not isinstance(extra, dict):
            raise CheckpointError("checkpoint extra is not a dict")
        epoch, loss = doc.get("epoch"), doc.get("loss")
        if epoch is not None and (not isinstance(epoch, int) or isinstance(epoch, bool)):
            raise CheckpointError(f"checkpoint epoch {epoch!r} is not an int")
        if loss is not None and (isinstance(loss, bool) or not isinstance(loss, (int, float))):
            raise CheckpointError(f"checkpoint loss {loss!r} is not a number")
        rng = doc.get("rng_state")
        otype = doc.get("optimizer_type")
        if otype is not None and not isinstance(otype, str):
            raise CheckpointError("checkpoint optimizer_type is not a string")
        return cls(
            model_state=model_state,
            optimizer_state=parts["optimizer"],
            scheduler_state=parts["scheduler"],
            scaler_state=parts["scaler"],
            epoch=epoch,
            loss=loss,
            rng_state=None if rng is None else _check_rng(rng),
            extra=extra,
            optimizer_type=otype,
        )

    # ---- restoring ---------------------------------------------------------------------------

    def restore(
        self,
        model: Any = None,
        optimizer: Any = None,
        scheduler: Any = None,
        scaler: Any = None,
        strict: bool = True,
        restore_rng: bool = True,
    ) -> dict[str, Any]:
        """Copies the state into the given objects: everything is checked first, and if any
        ``load_state_dict`` still fails, what was already applied is rolled back."""
        missing: list[str] = []
        unexpected: list[str] = []
        model_state = self.model_state
        if model is not None:
            model_state = match_prefix(model_state, model.state_dict().keys())
            missing, unexpected = _check_model(model, model_state, strict)
        opt_state = None
        if optimizer is not None:
            opt_state = _check_optimizer(optimizer, self.optimizer_state, self.optimizer_type)
        for obj, st, name in (
            (scheduler, self.scheduler_state, "scheduler"),
            (scaler, self.scaler_state, "scaler"),
        ):
            if obj is None:
                continue
            if st is None:
                raise CheckpointError(f"a {name} was given but the checkpoint has no {name} state")
            _check_state_like(obj, st, name)

        undo: list[Any] = []
        try:
            if model is not None:
                saved = {k: v.clone() for k, v in model.state_dict().items()}
                undo.append(lambda: model.load_state_dict(saved, strict=False))
                model.load_state_dict(model_state, strict=False)
            if optimizer is not None:
                old = optimizer.state_dict()
                undo.append(lambda: optimizer.load_state_dict(old))
                optimizer.load_state_dict(opt_state)
            for obj, st in ((scheduler, self.scheduler_state), (scaler, self.scaler_state)):
                if obj is not None:
                    prev = obj.state_dict()
                    undo.append(lambda obj=obj, prev=prev: obj.load_state_dict(prev))
                    obj.load_state_dict(st)
            if restore_rng and self.rng_state is not None:
                _core.set_rng_state(list(self.rng_state))
        except Exception as e:
            for fn in reversed(undo):
                try:
                    fn()
                except Exception:  # best effort: the original failure is what to report
                    pass
            if isinstance(e, CheckpointError):
                raise
            raise CheckpointError(f"restoring the checkpoint failed: {e}") from e
        # Extras also sit at the top level, as in a ``torch.save``d dict (``info["step"]``);
        # the fixed keys below win a name clash, and ``info["extra"]`` keeps them all. The
        # states are there too (the ``Checkpoint`` field names), for a caller that loads them
        # itself: ``model.load_state_dict(load_checkpoint(path)["model_state"])``.
        return {
            **self.extra,
            "epoch": self.epoch,
            "loss": self.loss,
            "extra": self.extra,
            "missing_keys": missing,
            "unexpected_keys": unexpected,
            "model_state": self.model_state,
            "optimizer_state": self.optimizer_state,
            "scheduler_state": self.scheduler_state,
            "scaler_state": self.scaler_state,
        }


def _check_rng(rng: Any) -> list[int]:
    if (
        not isinstance(rng, list)
        or len(rng) != 4
        or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**64 for x in rng)
    ):
        raise CheckpointError(f"RNG state must be 4 unsigned 64-bit ints, got {rng!r}")
    if not any(rng):
        raise CheckpointError("RNG state cannot be all zeros")
    return rng


def _check_model(
    model: Any, state: Mapping[str, Tensor], strict: bool
) -> tuple[list[str], list[str]]:
    own = model.state_dict()
    keys = IncompatibleKeys.between(own, state)
    if strict and (keys.missing_keys or keys.unexpected_keys):
        raise CheckpointError(
            f"checkpoint does not match {type(model).__name__}: missing keys "
            f"{keys.missing_keys}, unexpected keys {keys.unexpected_keys}"
        )
    for k, dst in own.items():
        if k not in state:
            continue
        src = state[k]
        if tuple(src.shape) != tuple(dst.shape):
            raise CheckpointError(
                f"size mismatch for {k}: checkpoint has shape {tuple(src.shape)}, "
                f"the model has {tuple(dst.shape)}"
            )
        if src.dtype.is_floating_point != dst.dtype.is_floating_point:
            raise CheckpointError(
                f"dtype mismatch for {k}: checkpoint {src.dtype}, model {dst.dtype}"
            )
    return keys.missing_keys, keys.unexpected_keys


def _check_optimizer(
    optimizer: Any, state: Optional[dict[str, Any]], saved_type: Optional[str]
) -> dict[str, Any]:
    """Checks a saved optimizer state against a live optimizer and returns it ready to load
    (tensors moved to each parameter's device)."""
    if state is None:
        raise CheckpointError("an optimizer was given but the checkpoint has no optimizer state")
    # A ZeRO optimizer is checked as the optimizer it shards (full shapes, its class).
    optimizer = getattr(optimizer, "zero_wrapped", optimizer)
    if saved_type is not None and saved_type != type(optimizer).__name__:
        raise CheckpointError(
            f"checkpoint holds {saved_type} state, cannot load it into {type(optimizer).__name__}"
        )
    groups, per_param = state.get("param_groups"), state.get("state")
    if not isinstance(groups, list) or not isinstance(per_param, dict):
        raise CheckpointError("optimizer state needs a 'param_groups' list and a 'state' dict")
    live = optimizer.param_groups
    if len(groups) != len(live):
        raise CheckpointError(
            f"checkpoint has {len(groups)} optimizer parameter groups, the optimizer {len(live)}"
        )
    for i, (g, saved) in enumerate(zip(live, groups)):
        if not isinstance(saved, dict) or not isinstance(saved.get("params"), list):
            raise CheckpointError(f"optimizer parameter group {i} is malformed")
        if len(saved["params"]) != len(g["params"]):
            raise CheckpointError(
                f"optimizer parameter group {i} has {len(saved['params'])} parameters in the "
                f"checkpoint and {len(g['params'])} in the optimizer"
            )
    params = [p for g in live for p in g["params"]]
    fixed: dict[int, dict[str, Any]] = {}
    for idx, entry in per_param.items():
        if not isinstance(idx, int) or isinstance(idx, bool) or not 0 <= idx < len(params):
            raise CheckpointError(f"optimizer state for parameter {idx!r} of {len(params)}")
        if not isinstance(entry, dict):
            raise CheckpointError(f"optimizer state for parameter {idx} is not a dict")
        p = params[idx]
        out: dict[str, Any] = {}
        for name, v in entry.items():
            if isinstance(v, Tensor):
                # Per-parameter state tensors (moments, buffers) are shaped like the parameter;
                # a 0-d tensor (a step count) is the only other shape we accept, unless the
                # optimizer checks its own layout (LBFGS keeps flat vectors of all parameters).
                own_layout = hasattr(optimizer, "_check_state_entry")
                if v.dim() > 0 and tuple(v.shape) != tuple(p.shape) and not own_layout:
                    raise CheckpointError(
                        f"optimizer state {idx}.{name} has shape {tuple(v.shape)}, "
                        f"the parameter {tuple(p.shape)}"
                    )
                if v.device != p.device:
                    v = v.to(p.device)
            out[name] = v
        fixed[idx] = out
    prepared = {"state": fixed, "param_groups": groups}
    if isinstance(optimizer, Optimizer):
        try:  # what load_state_dict would refuse, refused before anything is restored
            prepare_optimizer_state(optimizer, prepared)
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"checkpoint optimizer state: {e}") from e
    return prepared


def _check_state_like(obj: Any, state: dict[str, Any], name: str) -> None:
    """A scheduler's or scaler's saved state must look like its live one (see
    ``_state_match.check_like``; nothing to compare against when the live state is empty),
    and hold values the object takes (its ``check_state_dict``, where it has one: a scaler's
    NaN scale would skip every later step)."""
    live = obj.state_dict()
    try:
        if live:
            check_like(state, live, f"{name} state", owner=obj)
        check = getattr(obj, "check_state_dict", None)
        if callable(check) and live:
            check(state)
    except ValueError as e:
        raise CheckpointError(f"checkpoint {e}") from e


# ---- public functions ------------------------------------------------------------------------


def save_checkpoint(
    path: PathLike,
    model: Any = None,
    optimizer: Any = None,
    scheduler: Any = None,
    scaler: Any = None,
    epoch: Optional[int] = None,
    loss: Optional[float] = None,
    **extra: Any,
) -> None:
    """Saves model, optimizer, scheduler and scaler state, epoch, loss, the RNG state and any
    JSON-able (or tensor) ``extra`` values to ``path``, atomically. The seed guide's positional
    order ``save_checkpoint(model, optimizer, epoch, loss, path)`` is accepted too.

    With a ZeRO model (``DistributedDataParallel(..., zero_stage=1|2)``) or a
    ``ZeroOptimizer``, ``path`` is a directory and every rank must call this: each writes its
    shard, rank 0 publishes the index last (see ``distributed.sharded_checkpoint``)."""
    from .distributed.sharded_checkpoint import is_sharded_target, save_sharded

    if not isinstance(path, (str, os.PathLike)):
        # The seed guide's order, ``save_checkpoint(model, optimizer, epoch, loss, path)``.
        if isinstance(scaler, (str, os.PathLike)) and epoch is None and loss is None:
            path, model, optimizer, epoch, loss = scaler, path, model, optimizer, scheduler
            scheduler = scaler = None
        else:
            raise ArgumentTypeError(
                f"save_checkpoint: path must be a str or os.PathLike, got {type(path).__name__}; "
                "call save_checkpoint(path, model=..., optimizer=..., epoch=..., loss=...)"
            )
    if is_sharded_target(model, optimizer):
        save_sharded(path, model, optimizer, scheduler, scaler, epoch, loss, extra)
        return
    Checkpoint._capture(
        dict(model.state_dict()) if model is not None else {},
        optimizer.state_dict() if optimizer is not None else None,
        optimizer,
        scheduler,
        scaler,
        epoch,
        loss,
        extra,
    ).save(path)


def load_checkpoint(
    path: PathLike,
    model: Any = None,
    optimizer: Any = None,
    scheduler: Any = None,
    scaler: Any = None,
    strict: bool = True,
    restore_rng: bool = True,
    allow_unverified: bool = False,
) -> dict[str, Any]:
    """Restores a checkpoint written by ``save_checkpoint`` into the given objects.

    Returns ``{"epoch", "loss", "extra", "missing_keys", "unexpected_keys", "model_state",
    "optimizer_state", "scheduler_state", "scaler_state"}`` plus each extra under its own name
    (``info["step"]`` as well as ``info["extra"]["step"]``). Raises
    ``CheckpointError`` — with nothing modified — for a missing, truncated, corrupt or
    mismatching file, and for one without its checksum unless ``allow_unverified``. Model
    keys with or without the ``module.`` prefix of a data-parallel wrapper both load. A
    sharded directory (saved under ZeRO at any rank count) is consolidated and loads into a
    single process, DDP or ZeRO at any rank count.
    """
    usage = "load_checkpoint(path, model=..., optimizer=...)"
    _check_path(path, "load_checkpoint", usage)
    if isinstance(model, Optimizer):
        raise ArgumentTypeError(
            f"load_checkpoint: model is {type(model).__name__}, an optimizer; call {usage}"
        )
    return Checkpoint.load(path, allow_unverified=allow_unverified).restore(
        model, optimizer, scheduler, scaler, strict=strict, restore_rng=restore_rng
    )


def _check_path(path: Any, where: str, usage: str) -> None:
    """A path first: ``load_checkpoint(model, path)`` would otherwise fail deep in ``open``
    with "expected str, bytes or os.PathLike object, not Sequential"."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise ArgumentTypeError(
            f"{where}: path must be a str or os.PathLike, got {type(path).__name__}; call {usage}"
        )


def save_file(
    tensors: Mapping[str, Union[Tensor, np.ndarray]],
    path: PathLike,
    metadata: Optional[Mapping[str, str]] = None,
) -> None:
    """Writes plain ``{name: tensor}`` as a safetensors file (atomically), like
    ``safetensors.numpy.save_file``; NumPy arrays are accepted too. The metadata gains a
    SHA-256 checksum that ``load_file`` verifies."""
    raw: dict[str, RawTensor] = {}
    for name, t in tensors.items():
        if not isinstance(t, (Tensor, np.ndarray)):
            raise CheckpointError(f"{name!r} is {type(t).__name__}, not a Tensor or NumPy array")
        raw[name] = _to_raw(t)
    meta = dict(metadata) if metadata is not None else None

    def write(f: IO[bytes]) -> None:
        write_safetensors(f, raw, meta)

    write_atomically(path, write, parents=False)


def load_file(path: PathLike) -> dict[str, Tensor]:
    """Reads any safetensors file of supported dtypes into ``{name: Tensor}`` (CPU); a file that
    carries our checksum must match it, others (e.g. from ``safetensors.torch``) load as is."""
    raw, _ = read_safetensors(path)
    return {name: _from_raw(r) for name, r in raw.items()}
