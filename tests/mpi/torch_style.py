"""A data-parallel program written for ``torchrun`` (nanoGPT's pattern), with only
``import torch`` changed: run under ``mpiexec -n N``. ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` come
from the MPI launcher, ``init_process_group(backend="nccl")`` runs over MPI."""

from __future__ import annotations

import os

import democratising as torch
import democratising.distributed as dist
from democratising.distributed import destroy_process_group, init_process_group
from democratising.nn.parallel import DistributedDataParallel as DDP  # noqa: N817

ddp = int(os.environ.get("RANK", -1)) != -1  # as nanoGPT decides, before init_process_group
assert ddp, "RANK is not set under mpiexec"
assert dist.is_available() and not dist.is_initialized()
init_process_group(backend="nccl")
rank = int(os.environ["RANK"])
local_rank = int(os.environ["LOCAL_RANK"])
world_size = int(os.environ["WORLD_SIZE"])
assert dist.is_initialized() and dist.get_backend() == "mpi"
assert (rank, world_size) == (dist.get_rank(), dist.get_world_size()), os.environ
assert 0 <= local_rank < world_size
device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"

t = torch.tensor([float(rank + 1)])
dist.all_reduce(t, op=dist.ReduceOp.SUM)
assert t.item() == world_size * (world_size + 1) / 2, t
m = torch.tensor([float(rank)])
dist.all_reduce(m, op=dist.ReduceOp.MAX)
assert m.item() == world_size - 1
b = torch.tensor([float(rank)] * 3)
dist.broadcast(b, src=world_size - 1)
assert b.tolist() == [float(world_size - 1)] * 3
gathered = [torch.zeros(2) for _ in range(world_size)]
dist.all_gather(gathered, torch.full((2,), float(rank)))
assert [g.tolist() for g in gathered] == [[float(r)] * 2 for r in range(world_size)]
objs: list[object] = [None] * world_size
dist.all_gather_object(objs, {"rank": rank})
assert objs == [{"rank": r} for r in range(world_size)]
work = dist.all_reduce(torch.ones(1), async_op=True)
assert work is not None and work.wait()
dist.barrier()

torch.manual_seed(1337 + rank)  # different initial weights: DDP broadcasts rank 0's
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
model = DDP(model, device_ids=[local_rank] if device != "cpu" else None)
assert isinstance(model, DDP)
raw_model = model.module if ddp else model
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for _step in range(3):
    x = torch.randn(5, 4)  # every rank its own data
    loss = model(x).pow(2).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
flat = torch.cat([p.detach().reshape(-1) for p in raw_model.parameters()])
replicas = [torch.zeros_like(flat) for _ in range(world_size)]
dist.all_gather(replicas, flat)
for r in replicas[1:]:
    assert torch.equal(r, replicas[0]), "replicas diverged"

destroy_process_group()
assert not dist.is_initialized()
if rank == 0:
    print(f"torch-style ok on {world_size} ranks")
