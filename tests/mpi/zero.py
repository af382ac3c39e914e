"""MPI worker for tests/test_zero.py: ZeRO stage 1/2 against DDP, the deterministic mode, a
model mismatch, and sharded checkpoints saved at one rank count and resumed at another.

Usage: zero.py OUT_DIR TASK[,TASK...] with tasks ``equal`` (ZeRO-1/2 vs DDP after 20 steps),
``det`` (deterministic weights), ``mismatch``, ``save`` (train, save a sharded checkpoint and
the consolidated state) and ``resume`` (load the checkpoint saved by another rank count, dump
the consolidated state, train on). Results go to OUT_DIR/<task>_<size>_rank<r>.{json,npz}."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

import democratising as dm
from democratising import distributed as dist
from democratising import nn
from democratising.amp import GradScaler, autocast
from democratising.checkpoint import load_checkpoint, save_checkpoint
from democratising.errors import DistributedError
from democratising.optim import SGD, Adam, AdamW

GLOBAL = 8
STEPS = 20


def make_model(seed: int = 0, hidden: int = 16) -> nn.Module:
    dm.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, hidden), nn.Tanh(), nn.Linear(hidden, 5))


def batches(steps: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [
        (
            rng.standard_normal((GLOBAL, 12)).astype(np.float32),
            rng.integers(0, 5, GLOBAL).astype(np.int64),
        )
        for _ in range(steps)
    ]


def weights(model: nn.Module) -> dict[str, np.ndarray]:
    return {n: np.array(p.detach().numpy(), copy=True) for n, p in model.named_parameters()}


OPTIMIZERS: dict[str, Callable[[Any], Any]] = {
    "sgd_momentum": lambda ps: SGD(ps, 0.05, momentum=0.9),
    "adam": lambda ps: Adam(ps, 1e-2),
    "adamw_clip": lambda ps: AdamW(ps, 1e-2, weight_decay=0.1),
    "amp": lambda ps: Adam(ps, 1e-2),
    "groups_accum": lambda ps: Adam(ps, 1e-2),
}


#: The other optimizers of democratising.optim, 6 steps each (Muon, for the matrices, with
#: AdamW for the rest: two ZeroOptimizers over one model; Muon and SparseAdam are sharded by
#: whole parameters).
OTHERS = (
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "NAdam",
    "RAdam",
    "ASGD",
    "Rprop",
    "Muon",
    "SparseAdam",
)


def train_other(world: dist.World, name: str, stage: int) -> dict[str, np.ndarray]:
    r, n = world.rank(), world.size()
    model = make_model()
    ddp = dist.DistributedDataParallel(model, world, bucket_cap_mb=2e-4, zero_stage=stage)
    ps = list(ddp.parameters())
    if name == "Muon":
        opts: list[Any] = [
            dm.optim.Muon([p for p in ps if p.dim() == 2], lr=0.02),
            AdamW([p for p in ps if p.dim() != 2], 1e-2),
        ]
    else:
        opts = [getattr(dm.optim, name)(ps, lr=1.0 if name == "Adadelta" else 1e-2)]
    if stage:
        opts = [ddp.shard_optimizer(o) for o in opts]
    per = GLOBAL // n
    for x, y in batches(6):
        for o in opts:
            o.zero_grad()
        xs = dm.from_numpy(np.ascontiguousarray(x[r * per : (r + 1) * per]))
        ys = dm.from_numpy(np.ascontiguousarray(y[r * per : (r + 1) * per]))
        nn.functional.cross_entropy(ddp(xs), ys).backward()
        if stage:
            opts[0].clip_grad_norm_(0.5)
        else:
            nn.utils.clip_grad_norm_([p for g in opts[0].param_groups for p in g["params"]], 0.5)
        for o in opts:
            o.step()
    out = weights(model)
    for idx, st in opts[0].state_dict()["state"].items():  # collective under ZeRO
        for key, v in st.items():
            if isinstance(v, dm.Tensor):
                out[f"state/{idx}/{key}"] = np.asarray(v.numpy()).reshape(-1)
    return out


def train(world: dist.World, kind: str, stage: int) -> dict[str, np.ndarray]:
    r, n = world.rank(), world.size()
    model = make_model()
    ddp = dist.DistributedDataParallel(model, world, bucket_cap_mb=2e-4, zero_stage=stage)
    params = list(ddp.parameters())
    if kind == "groups_accum":  # two groups with different hyperparameters
        opt = Adam(
            [{"params": params[:2]}, {"params": params[2:], "lr": 3e-3, "weight_decay": 0.01}],
            1e-2,
        )
    else:
        opt = OPTIMIZERS[kind](params)
    if stage:
        opt = ddp.shard_optimizer(opt)
    # float16 with a scale that overflows at first: the first steps are skipped on every rank
    scaler = GradScaler(init_scale=2.0**18) if kind == "amp" else None
    per = GLOBAL // n
    for x, y in batches(STEPS):
        xs = dm.from_numpy(np.ascontiguousarray(x[r * per : (r + 1) * per]))
        ys = dm.from_numpy(np.ascontiguousarray(y[r * per : (r + 1) * per]))
        opt.zero_grad()
        if kind == "groups_accum":  # two micro-batches, the first without communication
            h = per // 2
            with ddp.no_sync():
                nn.functional.cross_entropy(ddp(xs[:h]), ys[:h]).backward()
            nn.functional.cross_entropy(ddp(xs[h:]), ys[h:]).backward()
        elif kind == "amp":
            with autocast(dtype=dm.float16):
                loss = nn.functional.cross_entropy(ddp(xs), ys)
            assert scaler is not None
            scaler.scale(loss).backward()
        else:
            nn.functional.cross_entropy(ddp(xs), ys).backward()
        if kind == "adamw_clip":
            if stage:
                opt.clip_grad_norm_(0.3)
            else:
                nn.utils.clip_grad_norm_(params, 0.3)
        if scaler is not None:
            scaler.unscale_(opt)  # then clip the true gradients, as the Trainer does
            if stage:
                opt.clip_grad_norm_(1.0)
            else:
                nn.utils.clip_grad_norm_(params, 1.0)
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
    out = weights(model)
    if scaler is not None:
        out["scale"] = np.array([scaler.get_scale()])
    return out


def task_equal(world: dist.World, out: Path) -> None:
    diffs: dict[str, float] = {}
    for kind in OPTIMIZERS:
        ref = train(world, kind, 0)
        for stage in (1, 2):
            got = train(world, kind, stage)
            diffs[f"{kind}/stage{stage}"] = max(float(np.abs(ref[k] - got[k]).max()) for k in ref)
            if kind == "amp":
                diffs[f"amp_scale/stage{stage}"] = float(got["scale"][0])
    for name in OTHERS:
        ref = train_other(world, name, 0)
        got = train_other(world, name, 2)
        diffs[f"{name}/stage2"] = max(float(np.abs(ref[k] - got[k]).max()) for k in ref)
    (out / f"equal_{world.size()}_rank{world.rank()}.json").write_text(json.dumps(diffs))


def task_det(world: dist.World, out: Path) -> None:
    """Deterministic training: 4 fixed micro-batches per global batch of 8, whatever the
    rank count (each rank runs 4 / size backward passes per step)."""
    r, n = world.rank(), world.size()
    result: dict[str, np.ndarray] = {}
    for stage in (0, 2):
        model = make_model()
        ddp = dist.DistributedDataParallel(
            model, world, bucket_cap_mb=2e-4, zero_stage=stage, deterministic=True, partitions=4
        )
        opt: Any = Adam(ddp.parameters(), 1e-2)
        if stage:
            opt = ddp.shard_optimizer(opt)
        micro = ddp.micro_batches
        assert micro == 4 // n
        for x, y in batches(6, seed=1):
            opt.zero_grad()
            for j in range(micro):
                part = r * micro + j  # fixed micro-batch j of this rank: samples 2*part..
                xs = dm.from_numpy(np.ascontiguousarray(x[2 * part : 2 * part + 2]))
                ys = dm.from_numpy(np.ascontiguousarray(y[2 * part : 2 * part + 2]))
                nn.functional.cross_entropy(ddp(xs), ys).backward()
            opt.step()
        for k, v in weights(model).items():
            result[f"stage{stage}/{k}"] = v
    np.savez(out / f"det_{n}_rank{r}.npz", **result)


def task_compress(world: dist.World, out: Path) -> None:
    """16-bit gradient communication: DDP (stage 0) and ZeRO-2 against full-precision DDP."""
    ref = train(world, "adam", 0)
    result: dict[str, np.ndarray] = {}
    for comm in ("bfloat16", "float16"):
        for stage in (0, 2):
            r, n = world.rank(), world.size()
            model = make_model()
            ddp = dist.DistributedDataParallel(
                model, world, bucket_cap_mb=2e-4, zero_stage=stage, comm_dtype=comm
            )
            opt: Any = Adam(ddp.parameters(), 1e-2)
            if stage:
                opt = ddp.shard_optimizer(opt)
            per = GLOBAL // n
            for x, y in batches(STEPS):
                opt.zero_grad()
                xs = dm.from_numpy(np.ascontiguousarray(x[r * per : (r + 1) * per]))
                ys = dm.from_numpy(np.ascontiguousarray(y[r * per : (r + 1) * per]))
                nn.functional.cross_entropy(ddp(xs), ys).backward()
                opt.step()
            for k, v in weights(model).items():
                result[f"{comm}/{stage}/{k}"] = v
    for k, v in ref.items():
        result[f"ref/{k}"] = v
    np.savez(out / f"compress_{world.size()}_rank{world.rank()}.npz", **result)


def task_mismatch(world: dist.World, out: Path) -> None:
    r = world.rank()
    outcome = "no error"
    try:
        dist.DistributedDataParallel(make_model(hidden=16 if r else 17), world, zero_stage=2)
    except DistributedError as e:
        outcome = f"DistributedError: {e}"
    ddp = dist.DistributedDataParallel(make_model(), world, zero_stage=1)
    muon = "accepted"
    try:  # LBFGS couples all parameters in every step: it cannot be sharded
        ddp.shard_optimizer(dm.optim.LBFGS(ddp.parameters()))
    except ValueError as e:
        muon = f"ValueError: {e}"
    (out / f"mismatch_{world.size()}_rank{r}.json").write_text(json.dumps([outcome, muon]))


def _zero_run(world: dist.World, stage: int) -> tuple[Any, Any, Any]:
    model = make_model()
    ddp = dist.DistributedDataParallel(model, world, bucket_cap_mb=2e-4, zero_stage=stage)
    opt = ddp.shard_optimizer(Adam(ddp.parameters(), 1e-2))
    return model, ddp, opt


def _steps(world: dist.World, ddp: Any, opt: Any, data: list[Any]) -> None:
    r, n = world.rank(), world.size()
    per = GLOBAL // n
    for x, y in data:
        opt.zero_grad()
        xs = dm.from_numpy(np.ascontiguousarray(x[r * per : (r + 1) * per]))
        ys = dm.from_numpy(np.ascontiguousarray(y[r * per : (r + 1) * per]))
        nn.functional.cross_entropy(ddp(xs), ys).backward()
        opt.step()


def _dump(model: nn.Module, opt: Any) -> dict[str, np.ndarray]:
    flat = {f"w/{k}": v for k, v in weights(model).items()}
    for idx, st in opt.state_dict()["state"].items():  # collective
        for key, v in st.items():
            flat[f"s/{idx}/{key}"] = np.asarray(v.numpy() if hasattr(v, "numpy") else v)
    return flat


def task_save(world: dist.World, out: Path) -> None:
    model, ddp, opt = _zero_run(world, 2)
    data = batches(8, seed=2)
    _steps(world, ddp, opt, data[:4])
    save_checkpoint(out / "ckpt", model=ddp, optimizer=opt, epoch=3, note="zero")
    state = _dump(model, opt)
    _steps(world, ddp, opt, data[4:])  # the reference continuation
    state.update({f"after/{k}": v for k, v in weights(model).items()})
    if world.rank() == 0:
        np.savez(out / "saved_state.npz", **state)


def task_resume(world: dist.World, out: Path) -> None:
    model, ddp, opt = _zero_run(world, 1)
    info = load_checkpoint(out / "ckpt", model=ddp, optimizer=opt)
    assert info["epoch"] == 3 and info["extra"]["note"] == "zero", info
    state = _dump(model, opt)
    _steps(world, ddp, opt, batches(8, seed=2)[4:])
    state.update({f"after/{k}": v for k, v in weights(model).items()})
    if world.rank() == 0:
        np.savez(out / f"resumed_{world.size()}.npz", **state)


def _trainer_data() -> Any:
    from democratising.data import TensorDataset

    rng = np.random.default_rng(3)
    x = rng.standard_normal((32, 12)).astype(np.float32)
    return TensorDataset(dm.from_numpy(x), dm.from_numpy(rng.integers(0, 5, 32)))


def _trainer_config(out: Path, epochs: int, stage: int) -> Any:
    from democratising.train import TrainingConfig

    return TrainingConfig(
        batch_size=4,
        num_epochs=epochs,
        max_grad_norm=1.0,
        accumulation_steps=2,
        zero_stage=stage,
        checkpoint_dir=str(out / "trainer_ckpt"),
        keep_last=1,
        progress=False,
        val_fraction=0.25,
    )


def task_trainer(world: dist.World, out: Path) -> None:
    """The Trainer under ZeRO-2: it shards the optimizer, clips over the shards, accumulates
    with no_sync, prints the memory estimate and writes sharded epoch checkpoints."""
    from democratising.train import Trainer

    ddp = dist.DistributedDataParallel(make_model(), world, zero_stage=2)
    lines: list[str] = []
    trainer = Trainer(ddp, _trainer_config(out, 2, 2), world=world, log=lines.append)
    trainer.fit(_trainer_data())
    assert type(trainer.optimizer).__name__ == "ZeroOptimizer"
    if world.rank() == 0:
        (out / "trainer_log.json").write_text(json.dumps(lines))
        np.savez(out / "trainer_weights.npz", **weights(ddp.module))


def task_trainer_resume(world: dist.World, out: Path) -> None:
    """A plain single-process Trainer resumes the sharded checkpoint and trains one more
    epoch."""
    from democratising.train import Trainer

    model = make_model(seed=5)
    trainer = Trainer(model, _trainer_config(out, 3, 0), log=lambda _: None)
    trainer.fit(_trainer_data(), ckpt_path=str(out / "trainer_ckpt" / "epoch_0002.safetensors"))
    assert trainer.epoch == 3 and len(trainer.history["loss"]) == 3, trainer.history
    np.savez(out / "trainer_resumed.npz", **weights(model))


def main() -> None:
    out = Path(sys.argv[1])
    world = dist.World.init()
    tasks = {
        "equal": task_equal,
        "det": task_det,
        "mismatch": task_mismatch,
        "compress": task_compress,
        "trainer": task_trainer,
        "trainer_resume": task_trainer_resume,
        "save": task_save,
        "resume": task_resume,
    }
    for name in sys.argv[2].split(","):
        tasks[name](world, out)
    world.barrier()
    print(f"rank {world.rank()} ok", flush=True)


if __name__ == "__main__":
    main()
