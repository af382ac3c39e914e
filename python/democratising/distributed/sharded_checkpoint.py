"""Sharded checkpoints of ZeRO training: one safetensors file per rank plus an index.

``save_checkpoint(directory, model=zero_ddp, optimizer=zero_opt, ...)`` lands here. Every rank
writes the parameter elements and optimizer state it owns (its ZeRO segments) to
``shard-RRRRR-of-WWWWW.<token>.safetensors``, in parallel, each file through a temp file,
fsync and rename; rank 0 also writes ``common.<token>.safetensors`` (buffers, parameter
groups, scheduler, scaler, epoch, loss, RNG, extras) as an ordinary checkpoint. Once every
rank has reported success, rank 0 publishes ``index.json`` (atomically, fsynced) naming the
files of this save and only then removes the files of the previous one: until the index is
replaced a reader sees the old checkpoint, after it the new one, never a mix. The ``token`` is
new for each save, so a new shard never overwrites a file the old index names.

``load_checkpoint(directory, ...)`` reads the index and every shard (each checked against its
SHA-256 and the size the index recorded), consolidates the full weights and optimizer state
and restores them into whatever it is given: a single-process model and optimizer, DDP, or a
ZeRO model at any rank count and stage (a ``ZeroOptimizer`` keeps its own part). A missing,
truncated or corrupt file raises ``CheckpointError`` before anything is modified."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from typing import IO, Any, Optional

import numpy as np

from .. import _core
from .._safetensors import (
    RawTensor,
    _fsync_dir,
    atomic_write,
    numpy_tag,
    read_safetensors,
    write_safetensors,
)
from ..errors import CheckpointError, DistributedError

INDEX = "index.json"
FORMAT = "democratising-sharded"
VERSION = 1


def is_sharded_target(model: Any, optimizer: Any) -> bool:
    """Whether ``save_checkpoint`` should write a sharded directory for these objects."""
    from .zero import ZeroOptimizer, ZeroReducer

    if isinstance(optimizer, ZeroOptimizer):
        return True
    reducer = getattr(model, "reducer", None)
    return isinstance(reducer, ZeroReducer) and reducer.stage > 0


def is_sharded_directory(path: Any) -> bool:
    p = os.fspath(path)
    return os.path.isdir(p) and os.path.isfile(os.path.join(p, INDEX))


def _scalar_json(v: Any) -> Any:
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    if isinstance(v, tuple) and len(v) == 3 and v[0] == "tensor0":
        return {"tensor0": [v[1], v[2]]}
    raise CheckpointError(f"cannot store optimizer state value of type {type(v).__name__}")


def save_sharded(
    directory: Any,
    model: Any,
    optimizer: Any,
    scheduler: Any = None,
    scaler: Any = None,
    epoch: Optional[int] = None,
    loss: Optional[float] = None,
    extra: Optional[dict[str, Any]] = None,
) -> None:
    """Writes a sharded checkpoint (collective: every rank calls it with its objects)."""
    from ..checkpoint import Checkpoint
    from .zero import ZeroOptimizer, ZeroReducer

    reducer = getattr(model, "reducer", None)
    if not isinstance(reducer, ZeroReducer):
        raise CheckpointError(
            "a sharded checkpoint needs model= the ZeRO DistributedDataParallel model"
        )
    if optimizer is not None and not isinstance(optimizer, ZeroOptimizer):
        raise CheckpointError("with a ZeRO model, pass the ZeroOptimizer (ddp.shard_optimizer)")
    world = reducer.world
    rank, size = world.rank(), world.size()
    # Rank 0's directory and a fresh token for this save's file names, on every rank (a
    # trainer's run folder is known on rank 0 only).
    directory, token = world.broadcast_object(
        (os.path.abspath(os.fspath(directory)), secrets.token_hex(8)) if rank == 0 else None, 0
    )
    shard_name = f"shard-{rank:05d}-of-{size:05d}.{token}.safetensors"
    common_name = f"common.{token}.safetensors"
    error: Optional[str] = None
    nbytes = 0
    groups: Optional[list[dict[str, Any]]] = None
    # Everything local happens inside the try: a failure on one rank is reported to all of
    # them below, so that every rank raises instead of some waiting for ever.
    try:
        groups = optimizer.group_state() if optimizer is not None else None
        state = optimizer.shard_state() if optimizer is not None else {}
        os.makedirs(directory, exist_ok=True)
        tensors: dict[str, RawTensor] = {}
        segments = []
        for s in reducer.segments:
            arr = np.array(reducer.flat[s.flat : s.flat + s.length], copy=True)
            tensors[f"p/{s.param}/{s.start}"] = RawTensor(numpy_tag(arr), arr)
            segments.append([s.param, s.start, s.length])
        scalars: dict[str, list[Any]] = {}
        for k, segs in state.items():
            for start, length, entry in segs:
                small = {}
                for key, v in entry.items():
                    if isinstance(v, np.ndarray):
                        tensors[f"s/{k}/{key}/{start}"] = RawTensor(numpy_tag(v), v)
                    else:
                        small[key] = _scalar_json(v)
                scalars.setdefault(str(k), []).append([start, length, sorted(entry), small])
        meta = {"rank": rank, "world_size": size, "segments": segments, "state": scalars}
        path = os.path.join(directory, shard_name)

        def write(f: IO[bytes]) -> None:
            write_safetensors(f, tensors, {"democratising_shard": json.dumps(meta)})

        atomic_write(path, write)
        nbytes = os.path.getsize(path)
        if rank == 0:
            own = set(reducer.names)
            rest = {k: v for k, v in model.module.state_dict().items() if k not in own}
            Checkpoint._capture(
                rest,
                None if groups is None else {"state": {}, "param_groups": groups},
                optimizer,
                scheduler,
                scaler,
                epoch,
                loss,
                dict(extra or {}),
            ).save(os.path.join(directory, common_name))
    except Exception as e:  # reported to every rank below, so that all of them raise
        error = f"rank {rank}: {type(e).__name__}: {e}"
    reports = world.all_gather_object((error, shard_name, nbytes))
    failures = [r[0] for r in reports if r[0] is not None]
    if failures:
        _remove(
            [os.path.join(directory, shard_name)]
            + ([os.path.join(directory, common_name)] if rank == 0 else [])
        )
        raise CheckpointError("sharded checkpoint not written: " + "; ".join(failures))
    if rank == 0:
        try:
            index = {
                "format": FORMAT,
                "version": VERSION,
                "world_size": size,
                "zero_stage": reducer.stage,
                "token": token,
                "common": common_name,
                "shards": [{"file": r[1], "bytes": r[2]} for r in reports],
                "params": [
                    {"name": n, "shape": list(p.shape), "dtype": np.dtype(reducer.dtype).name}
                    for n, p in zip(reducer.names, reducer.params)
                ],
                "optimizer_order": list(optimizer._order) if optimizer is not None else None,
            }
            text = json.dumps(index, indent=1).encode()
            atomic_write(os.path.join(directory, INDEX), lambda f: f.write(text))
            _fsync_dir(directory)
            keep = {INDEX, common_name, *(r[1] for r in reports)}
            for name in os.listdir(directory):
                if name not in keep and (name.startswith(("shard-", "common."))):
                    _remove([os.path.join(directory, name)])
            error = None
        except Exception as e:
            error = f"rank 0 could not publish the index: {e}"
    error = world.broadcast_object(error, 0)
    if error is not None:
        raise CheckpointError(error)


def _remove(paths: list[str]) -> None:
    for p in paths:
        try:
            os.unlink(p)
        except OSError:
            pass


def load_sharded(directory: Any, allow_unverified: bool = False) -> Any:
    """The consolidated ``Checkpoint`` of a sharded directory (reads every shard; checks each
    file's checksum and size against the index and that every element is present)."""
    from ..checkpoint import Checkpoint
    from .zero import assemble_state

    directory = os.fspath(directory)
    try:
        with open(os.path.join(directory, INDEX), "rb") as f:
            index = json.loads(f.read())
        if index.get("format") != FORMAT or index.get("version") != VERSION:
            raise CheckpointError(f"{directory!r}: not a sharded checkpoint index")
        params = index["params"]
        shards = index["shards"]
        order = index["optimizer_order"]
        if not isinstance(params, list) or not isinstance(shards, list) or not shards:
            raise CheckpointError(f"{directory!r}: malformed index")
    except CheckpointError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"cannot read the index of {directory!r}: {e}") from e
    common = Checkpoint.load(os.path.join(directory, index["common"]), allow_unverified)
    full = [np.zeros(int(np.prod(p["shape"])), dtype=np.dtype(p["dtype"])) for p in params]
    covered = [0] * len(params)
    parts: list[dict[int, list[tuple[int, int, dict[str, Any]]]]] = []
    try:
        for entry in shards:
            path = os.path.join(directory, entry["file"])
            if not os.path.isfile(path):
                raise CheckpointError(f"shard {entry['file']!r} of {directory!r} is missing")
            if os.path.getsize(path) != entry["bytes"]:
                raise CheckpointError(
                    f"shard {entry['file']!r} has {os.path.getsize(path)} bytes, the index "
                    f"says {entry['bytes']}"
                )
            raw, meta = read_safetensors(path)
            if "democratising_shard" not in meta:
                raise CheckpointError(f"shard {entry['file']!r} has no shard metadata")
            info = json.loads(meta["democratising_shard"])
            for param, start, length in info["segments"]:
                arr = raw[f"p/{param}/{start}"].array
                if arr.shape != (length,):
                    raise CheckpointError(f"shard {entry['file']!r}: bad segment p/{param}")
                full[param][start : start + length] = arr
                covered[param] += length
            part: dict[int, list[tuple[int, int, dict[str, Any]]]] = {}
            for k, segs in info["state"].items():
                for start, length, keys, small in segs:
                    values: dict[str, Any] = {}
                    for key in keys:
                        if key in small:
                            v = small[key]
                            if isinstance(v, dict) and "tensor0" in v:
                                v = ("tensor0", v["tensor0"][0], v["tensor0"][1])
                            values[key] = v
                        else:
                            arr = raw[f"s/{k}/{key}/{start}"].array
                            if arr.shape != (length,):
                                raise CheckpointError(f"shard {entry['file']!r}: bad state s/{k}")
                            values[key] = arr
                    part.setdefault(int(k), []).append((int(start), int(length), values))
            parts.append(part)
    except CheckpointError:
        raise
    except (KeyError, ValueError, TypeError, IndexError) as e:
        raise CheckpointError(f"malformed sharded checkpoint {directory!r}: {e}") from e
    for p, n, c in zip(params, full, covered):
        if c != n.size:
            raise CheckpointError(
                f"sharded checkpoint {directory!r} holds {c} of the {n.size} elements of "
                f"{p['name']!r}"
            )
    model_state = dict(common.model_state)
    for p, arr in zip(params, full):
        model_state[p["name"]] = _core.from_numpy(arr.reshape(tuple(p["shape"])))
    optimizer_state = None
    if common.optimizer_state is not None and order is not None:
        shapes = [(tuple(params[i]["shape"]), np.dtype(params[i]["dtype"])) for i in order]
        try:
            state = assemble_state(parts, shapes)
        except DistributedError as e:
            raise CheckpointError(f"sharded checkpoint {directory!r}: {e}") from e
        optimizer_state = {"state": state, "param_groups": common.optimizer_state["param_groups"]}
    return dataclasses.replace(common, model_state=model_state, optimizer_state=optimizer_state)
