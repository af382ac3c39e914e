"""Run as a plain ``python single.py`` (no launcher): MPI's singleton mode, a world of one.
Everything must work and behave exactly like single-process code."""

from __future__ import annotations

import numpy as np
from common import make_mlp

import democratising as dm
from democratising import distributed as dist
from democratising import nn

assert not dist.launched_with_mpi()
assert dist.init_if_launched() is None and not dist.is_initialized()
assert dist.get_rank() == 0 and dist.get_world_size() == 1
assert dist.all_reduce_found_inf(True) is True  # no world: the flag itself
world = dist.World.init(timeout=10)
assert dist.World.init() is world and (world.rank(), world.size(), world.local_rank()) == (0, 1, 0)
t = dm.arange(4).float()
world.all_reduce(t, dist.ReduceOp.Mean)
assert t.tolist() == [0, 1, 2, 3]
world.barrier()
assert [x.tolist() for x in world.all_gather(t)] == [[0, 1, 2, 3]]

model = make_mlp(0)
ref = make_mlp(0)
ddp = dist.DistributedDataParallel(model, world)
x, y = dm.randn(5, 12), dm.randint(0, 5, (5,))
nn.CrossEntropyLoss()(ddp(x), y).backward()
nn.CrossEntropyLoss()(ref(x), y).backward()
for p, q in zip(model.parameters(), ref.parameters()):
    np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
assert next(iter(ddp.state_dict())) == "module.0.weight"  # PyTorch's DDP key prefix

bn = dist.convert_sync_batchnorm(nn.BatchNorm1d(3))
assert isinstance(bn, dist.SyncBatchNorm)
plain = nn.BatchNorm1d(3)
z = dm.randn(6, 3)
np.testing.assert_allclose(bn(z).detach().numpy(), plain(z).detach().numpy(), rtol=1e-6)
print("single ok")
