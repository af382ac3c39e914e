"""MPI worker: World collectives, dtypes, found-inf, and the data partition of
DistributedSampler / DistributedDataLoader. Usage: collectives.py OUT_DIR.

Asserts what one rank can check and writes ``rank{r}.json`` (topology and sampled indices)
for tests/test_distributed.py to check across ranks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import democratising as dm
from democratising import distributed as dist
from democratising.data import TensorDataset

N_SAMPLES = 23  # not a multiple of 2 or 4: padding is exercised


def check_collectives(world: dist.World) -> None:
    r, n = world.rank(), world.size()
    ranks = np.arange(n, dtype=np.float64) + 1
    for dtype in (dm.float32, dm.float64, dm.int64, dm.int32):
        t = dm.full((2, 3), r + 1, dtype=dtype)
        assert world.all_reduce(t) is t
        assert np.all(t.numpy() == ranks.sum()), (dtype, t)
    for op, expect in (("mean", ranks.mean()), ("max", n), ("min", 1)):
        t = dm.full((5,), float(r + 1))
        world.all_reduce(t, dist.ReduceOp.parse(op))
        np.testing.assert_allclose(t.numpy(), expect, rtol=1e-6)
    t = dm.full((4,), float(r + 1)).half()  # staged through float32
    world.all_reduce(t, dist.ReduceOp.Sum)
    assert t.dtype == dm.float16 and np.all(t.float().numpy() == ranks.sum())
    strided = dm.arange(12).float().reshape(3, 4).T * (r + 1)  # non-contiguous
    world.all_reduce(strided)
    np.testing.assert_allclose(strided.numpy(), np.arange(12).reshape(3, 4).T * ranks.sum())
    # zero copy: the reduction writes into the tensor's own memory
    t = dm.ones(8)
    view = t.numpy()
    world.all_reduce(t)
    assert view[0] == n
    for root in range(n):
        b = dm.full((3,), float(r * 10))
        world.broadcast(b, root)
        assert np.all(b.numpy() == root * 10)
    g = world.all_gather(dm.tensor([r, r * r]))
    assert [x.tolist() for x in g] == [[i, i * i] for i in range(n)]
    s = world.all_gather(dm.full((2,), float(r)), stack=True)
    assert s.shape == (n, 2)
    assert world.all_gather_object({"rank": r}) == [{"rank": i} for i in range(n)]
    assert world.broadcast_object(["x", r], root=n - 1) == ["x", n - 1]
    assert dist.all_reduce_found_inf(r == n - 1) is True
    assert dist.all_reduce_found_inf(False) is False
    world.barrier()


def sampled_indices(world: dist.World) -> dict[str, list[int]]:
    x = dm.arange(N_SAMPLES).float().reshape(N_SAMPLES, 1)
    ds = TensorDataset(x, dm.arange(N_SAMPLES))
    out: dict[str, list[int]] = {}
    loader = dist.DistributedDataLoader(ds).batch_size(4).num_workers(2).seed(3).build()
    for epoch in range(2):
        out[f"loader_epoch{epoch}"] = [int(i) for _, yb in loader for i in yb.tolist()]
    no_shuffle = dist.DistributedDataLoader(ds, world).batch_size(5).shuffle(False).build()
    out["no_shuffle"] = [int(i) for _, yb in no_shuffle for i in yb.tolist()]
    dropping = dist.DistributedDataLoader(ds).batch_size(2).drop_last().build()
    out["drop_last"] = [int(i) for _, yb in dropping for i in yb.tolist()]
    from democratising import data

    if hasattr(data, "DistributedSampler"):  # reads num_replicas/rank from the world
        out["sampler"] = [int(i) for i in data.DistributedSampler(ds, shuffle=True, seed=5)]
    return out


def main() -> None:
    out = Path(sys.argv[1])
    world = dist.World.init(timeout=30)
    assert dist.is_initialized() and dist.current_world() is world
    assert dist.get_rank() == world.rank() and dist.get_world_size() == world.size()
    check_collectives(world)
    result = {
        "rank": world.rank(),
        "size": world.size(),
        "local_rank": world.local_rank(),
        "local_size": world.local_size(),
        "indices": sampled_indices(world),
    }
    (out / f"rank{world.rank()}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
