"""MPI worker: DDP training scenarios whose results tests/test_distributed.py compares with
single-process training on the global batch. Usage: ddp_train.py OUT_DIR [STEPS]."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from common import (
    PER_RANK,
    global_batches,
    grads_of,
    make_mlp,
    make_optimizer,
    params_of,
    shard,
)

import democratising as dm
from democratising import distributed as dist
from democratising import nn
from democratising.data import TensorDataset
from democratising.errors import DistributedError


def save(out: Path, name: str, rank: int, **groups: dict[str, np.ndarray]) -> None:
    flat = {f"{g}/{k}": v for g, d in groups.items() for k, v in d.items()}
    np.savez(out / f"{name}_rank{rank}.npz", **flat)


def adam_buckets(world: dist.World, out: Path, steps: int) -> None:
    """Several small buckets, Adam used as is (nothing wraps or replaces its step: backward
    returns with averaged gradients); ranks start from different weights."""
    r, n = world.rank(), world.size()
    model = make_mlp(seed=100 + r)
    ddp = dist.DistributedDataParallel(model, world, bucket_cap_mb=5e-5)
    assert len(ddp.bucket_stats()) >= 3, ddp.bucket_stats()
    init = params_of(model)
    opt = make_optimizer("adam", model.parameters())
    assert "step" not in vars(opt), "DDP must not replace optimizer.step"
    assert not hasattr(ddp, "wrap_optimizer")
    loss_fn = nn.CrossEntropyLoss()
    first: dict[str, np.ndarray] = {}
    for x, y in global_batches(steps, PER_RANK * n):
        opt.zero_grad()
        loss_fn(ddp(dm.from_numpy(shard(x, r, n))), dm.from_numpy(shard(y, r, n))).backward()
        first = first or grads_of(model)
        opt.step()
    save(out, "adam_buckets", r, init=init, grad=first, final=params_of(model))


def seed_loop(world: dist.World, out: Path, steps: int) -> None:
    """The seed guide's loop, verbatim: DistributedModel + DistributedDataLoader, step on
    rank 0 only, then broadcast_parameters(0)."""
    r, n = world.rank(), world.size()
    batches = global_batches(steps, PER_RANK * n)
    x_all = dm.from_numpy(np.concatenate([b[0] for b in batches]))
    y_all = dm.from_numpy(np.concatenate([b[1] for b in batches]))
    loader = (
        dist.DistributedDataLoader(TensorDataset(x_all, y_all))
        .batch_size(PER_RANK)
        .num_workers(2)
        .shuffle(False)
        .build()
    )
    model = make_mlp(seed=200 + r)
    opt = make_optimizer("sgd", model.parameters())
    ddp = dist.DistributedModel(
        model,
        world,
        dist.DistributedStrategy.DataParallel,
        optimizer=opt,
        loss_fn=nn.CrossEntropyLoss(),
    )
    init = params_of(model)
    first: dict[str, np.ndarray] = {}
    for batch in loader:
        ddp.zero_grad()
        loss = ddp.forward(batch)
        ddp.backward(loss)
        ddp.all_reduce_gradients(dist.ReduceOp.Mean)
        first = first or grads_of(model)
        if r == 0:
            ddp.step()
        ddp.broadcast_parameters(0)
    save(out, "seed_loop", r, init=init, grad=first, final=params_of(model))


def no_sync_accumulation(world: dist.World, out: Path, steps: int) -> None:
    """Two micro-batches per step: the first inside no_sync(), the second synchronised."""
    r, n = world.rank(), world.size()
    model = make_mlp(seed=300 + r)
    ddp = dist.DistributedDataParallel(model, world)
    opt = make_optimizer("adam", model.parameters())
    init = params_of(model)
    loss_fn = nn.CrossEntropyLoss()
    batches = global_batches(2 * steps, PER_RANK * n)
    first: dict[str, np.ndarray] = {}
    for s in range(0, len(batches), 2):
        opt.zero_grad()
        (x1, y1), (x2, y2) = batches[s], batches[s + 1]
        with ddp.no_sync():
            loss_fn(ddp(dm.from_numpy(shard(x1, r, n))), dm.from_numpy(shard(y1, r, n))).backward()
        loss_fn(ddp(dm.from_numpy(shard(x2, r, n))), dm.from_numpy(shard(y2, r, n))).backward()
        first = first or grads_of(model)
        opt.step()
    save(out, "no_sync", r, init=init, grad=first, final=params_of(model))


def unused_parameters(world: dist.World, out: Path, steps: int) -> None:
    """A head that never gets a gradient: backward's end-of-pass callback still completes the
    synchronisation (the head's gradient is zero), with a plain optimizer; only a backward
    pass that raised half-way leaves it open, and the next forward says so on every rank."""
    r, n = world.rank(), world.size()
    model = make_mlp(seed=400 + r, extra_unused=True)
    opt = make_optimizer("sgd", model.parameters())
    ddp = dist.DistributedDataParallel(model, world, bucket_cap_mb=5e-5)
    init = {k: v for k, v in params_of(model).items() if not k.startswith("unused")}
    loss_fn = nn.CrossEntropyLoss()
    first: dict[str, np.ndarray] = {}
    for x, y in global_batches(steps, PER_RANK * n):
        opt.zero_grad()
        loss_fn(ddp(dm.from_numpy(shard(x, r, n))), dm.from_numpy(shard(y, r, n))).backward()
        assert ddp.reducer.pending_names() is None  # finished by backward itself
        assert model.unused.weight.grad is None  # no rank produced one (PyTorch's DDP)
        opt.step()
        first = first or {k: v for k, v in grads_of(model).items() if not k.startswith("unused")}
    final = params_of(model)
    assert np.all(final["unused.weight"] == params_of(model)["unused.weight"])
    save(out, "unused", r, init=init, grad=first, final=final)

    bare = dist.DistributedDataParallel(make_mlp(seed=1, extra_unused=True), world)
    x, y = global_batches(1, PER_RANK * n)[0]
    xs, ys = dm.from_numpy(shard(x, r, n)), dm.from_numpy(shard(y, r, n))
    loss_fn(bare(xs), ys).backward()
    bare(xs)  # nothing left open: no error
    xg = xs.clone().requires_grad_()

    def fail(_: dm.Tensor) -> None:
        raise ValueError("hook failed")

    xg.register_hook(fail)  # raises after the parameters' gradients have started
    try:
        loss_fn(bare(xg), ys).backward()
    except ValueError:
        pass
    else:
        raise AssertionError("the failing hook did not raise")
    try:
        bare(xs)
    except DistributedError as e:
        assert "backward pass stopped" in str(e), str(e)
    else:
        raise AssertionError("forward after a failed backward did not raise")
    bare(xs)  # the open round was completed by that check


def explicit_reductions(world: dist.World) -> None:
    """all_reduce_gradients with Sum/Max/Min on local gradients (inside no_sync), and the
    shortcuts right after a synchronised backward."""
    r, n = world.rank(), world.size()
    model = make_mlp(seed=500)
    ddp = dist.DistributedDataParallel(model, world)
    x, y = global_batches(1, PER_RANK * n, seed=7)[0]
    xs, ys = dm.from_numpy(shard(x, r, n)), dm.from_numpy(shard(y, r, n))
    loss_fn = nn.CrossEntropyLoss()
    for op, combine in ((dist.ReduceOp.Max, np.max), (dist.ReduceOp.Sum, np.sum)):
        model.zero_grad()
        with ddp.no_sync():
            loss_fn(ddp(xs), ys).backward()
        local = grads_of(model)
        gathered = {
            k: world.all_gather(dm.from_numpy(v), stack=True).numpy() for k, v in local.items()
        }
        ddp.all_reduce_gradients(op)
        for k, v in grads_of(model).items():
            np.testing.assert_allclose(v, combine(gathered[k], axis=0), rtol=1e-6, atol=1e-7)
    model.zero_grad()
    loss_fn(ddp(xs), ys).backward()
    mean = grads_of(model)
    ddp.all_reduce_gradients(dist.ReduceOp.Mean)  # already averaged: a no-op
    for k, v in grads_of(model).items():
        np.testing.assert_array_equal(v, mean[k])
    ddp.all_reduce_gradients(dist.ReduceOp.Sum)
    for k, v in grads_of(model).items():
        np.testing.assert_allclose(v, mean[k] * n, rtol=1e-6)
    model.zero_grad()
    loss_fn(ddp(xs), ys).backward()
    try:
        ddp.all_reduce_gradients(dist.ReduceOp.Max)
    except DistributedError:
        pass
    else:
        raise AssertionError("Max after an averaged backward did not raise")


def grad_scaler_skips_together(world: dist.World) -> None:
    """Plain per-rank models (no DDP), GradScaler: an inf gradient on the last rank only must
    make every rank skip that step and back off the scale alike."""
    from democratising.amp import GradScaler

    r, n = world.rank(), world.size()
    model = make_mlp(seed=600)
    opt = make_optimizer("sgd", model.parameters())
    scaler = GradScaler(init_scale=2.0**10)
    x, y = global_batches(1, PER_RANK * n, seed=9)[0]
    xs, ys = dm.from_numpy(shard(x, r, n)), dm.from_numpy(shard(y, r, n))
    loss_fn = nn.CrossEntropyLoss()
    for step in range(3):
        before = params_of(model)
        opt.zero_grad()
        scaler.scale(loss_fn(model(xs), ys)).backward()
        if step == 1 and r == n - 1:
            model[0].bias.grad = model[0].bias.grad * float("inf")
        scaler.step(opt)
        scaler.update()
        after = params_of(model)
        changed = any(not np.array_equal(before[k], after[k]) for k in before)
        assert changed == (step != 1), (r, step, changed)
    scales = world.all_gather_object(scaler.get_scale())
    assert len(set(scales)) == 1, scales


def main() -> None:
    out = Path(sys.argv[1])
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    world = dist.World.init(timeout=30)
    adam_buckets(world, out, steps)
    seed_loop(world, out, steps)
    no_sync_accumulation(world, out, steps)
    unused_parameters(world, out, steps)
    explicit_reductions(world)
    grad_scaler_skips_together(world)
    world.barrier()
    if world.rank() == 0:
        (out / "done").write_text("ok")


if __name__ == "__main__":
    main()
