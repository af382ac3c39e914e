"""MPI worker: SyncBatchNorm on each rank's shard equals BatchNorm on the global batch
(outputs, input/weight/bias gradients, running statistics), alone and inside DDP training.
Every rank also computes the single-process reference itself (the data is deterministic)."""

from __future__ import annotations

import numpy as np
from common import shard

import democratising as dm
from democratising import distributed as dist
from democratising import nn
from democratising.optim import SGD

TOL = {"rtol": 2e-4, "atol": 2e-5}


def arr(t: dm.Tensor) -> np.ndarray:
    return np.array(t.detach().numpy(), copy=True)


def check_layer(world: dist.World, shape: tuple[int, ...], bn_cls: type, seed: int) -> None:
    r, n = world.rank(), world.size()
    rng = np.random.default_rng(seed)
    c = shape[1]
    ref = bn_cls(c, momentum=0.2)
    with dm.no_grad():
        ref.weight.copy_(dm.from_numpy(rng.uniform(0.5, 1.5, c).astype(np.float32)))
        ref.bias.copy_(dm.from_numpy(rng.standard_normal(c).astype(np.float32)))
    model = nn.Sequential(bn_cls(c, momentum=0.2))
    model.load_state_dict({f"0.{k}": v for k, v in ref.state_dict().items()})
    model = dist.convert_sync_batchnorm(model)
    assert isinstance(model[0], dist.SyncBatchNorm)
    for _ in range(2):  # the second pass checks the running-statistics update again
        gshape = (shape[0] * n, *shape[1:])
        x = (rng.standard_normal(gshape) * 2 + 5).astype(np.float32)  # offset: numerics
        cot = rng.standard_normal(gshape).astype(np.float32)
        xg = dm.from_numpy(x).requires_grad_()
        yg = ref(xg)
        (yg * dm.from_numpy(cot)).sum().backward()
        xs = dm.from_numpy(shard(x, r, n)).requires_grad_()
        ys = model(xs)
        (ys * dm.from_numpy(shard(cot, r, n))).sum().backward()
        np.testing.assert_allclose(arr(ys), shard(arr(yg), r, n), **TOL)
        np.testing.assert_allclose(arr(xs.grad), shard(arr(xg.grad), r, n), **TOL)
        for name in ("weight", "bias"):
            g = world.all_reduce(getattr(model[0], name).grad.clone(), dist.ReduceOp.Sum)
            np.testing.assert_allclose(arr(g), arr(getattr(ref, name).grad), **TOL)
            getattr(model[0], name).grad = None
            getattr(ref, name).grad = None
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            np.testing.assert_allclose(arr(getattr(model[0], name)), arr(getattr(ref, name)), **TOL)
    model.eval()
    ref.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(arr(model(dm.from_numpy(x))), arr(ref(dm.from_numpy(x))), **TOL)


def make_bn_mlp() -> nn.Module:
    dm.manual_seed(11)
    return nn.Sequential(nn.Dense(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dense(8, 3))


def check_ddp_training(world: dist.World) -> None:
    r, n = world.rank(), world.size()
    rng = np.random.default_rng(1)
    batches = [
        (
            rng.standard_normal((4 * n, 6)).astype(np.float32),
            rng.integers(0, 3, 4 * n).astype(np.int64),
        )
        for _ in range(3)
    ]
    loss_fn = nn.CrossEntropyLoss()
    ref = make_bn_mlp()
    ref_opt = SGD(ref.parameters(), 0.1)
    for x, y in batches:
        ref_opt.zero_grad()
        loss_fn(ref(dm.from_numpy(x)), dm.from_numpy(y)).backward()
        ref_opt.step()
    model = dist.convert_sync_batchnorm(make_bn_mlp())
    ddp = dist.DistributedDataParallel(model, world)
    opt = SGD(ddp.parameters(), 0.1)
    for x, y in batches:
        opt.zero_grad()
        loss_fn(ddp(dm.from_numpy(shard(x, r, n))), dm.from_numpy(shard(y, r, n))).backward()
        opt.step()
    got, want = model.state_dict(), ref.state_dict()
    for k in want:
        np.testing.assert_allclose(arr(got[k]), arr(want[k]), err_msg=k, **TOL)


def main() -> None:
    world = dist.World.init(timeout=30)
    check_layer(world, (3, 4, 5, 6), nn.BatchNorm2d, seed=0)
    check_layer(world, (5, 7), nn.BatchNorm1d, seed=1)
    check_layer(world, (2, 3, 9), nn.BatchNorm1d, seed=2)
    check_ddp_training(world)
    world.barrier()
    if world.rank() == 0:
        print("syncbn ok")


if __name__ == "__main__":
    main()
