"""Edge cases of the distributed layer (run by tests/test_torch_distributed.py under
``mpiexec -n 2``): all-to-all split sizes that disagree between ranks raise on every rank,
a receive into a buffer too small raises ``DistributedError``, and under ZeRO stage 1
``nn.utils.clip_grad_norm_(model.parameters())`` clips through the sharded optimizer."""

import democratising as dm
import democratising.distributed as dist
from democratising import nn
from democratising.errors import DistributedError

dist.init_process_group()
rank = dist.get_rank()

out, inp = dm.full((4,), -1.0), dm.arange(4.0) + 10 * rank
splits = [1, 3] if rank == 0 else [2, 2]  # rank 0 expects 3 from rank 1, which sends it 2
try:
    dist.all_to_all_single(out, inp, output_split_sizes=splits, input_split_sizes=splits)
    raise AssertionError("mismatched split sizes were accepted")
except DistributedError as e:
    assert "split sizes disagree" in str(e), e
even = dm.full((4,), -1.0)
dist.all_to_all_single(even, inp)  # the world goes on after the refusal
assert even.tolist() == ([0.0, 1.0, 10.0, 11.0] if rank == 0 else [2.0, 3.0, 12.0, 13.0])

try:
    if rank == 0:
        dist.send(dm.arange(4.0), dst=1)
    else:
        dist.recv(dm.zeros(3), src=0)
        raise AssertionError("a receive into too small a buffer succeeded")
except DistributedError as e:
    assert rank == 1 and "receive buffer" in str(e), e
dist.barrier()

dm.manual_seed(0)
ddp = dist.DistributedDataParallel(nn.Linear(5, 3), zero_stage=1)
opt = ddp.shard_optimizer(dm.optim.SGD(ddp.parameters(), lr=0.1))
ddp(dm.randn(4, 5) + rank).pow(2).sum().backward()
norm = nn.utils.clip_grad_norm_(ddp.parameters(), 1e9)  # no clipping: only the norm
assert norm.item() > 0 and abs(norm.item() - opt.clip_grad_norm_(1e9).item()) < 1e-3, norm
try:
    nn.utils.clip_grad_norm_([ddp.module.weight], 1.0)  # a part of the sharded parameters
    raise AssertionError("a partial clip under ZeRO was accepted")
except ValueError:
    pass

# A frozen parameter left out of the optimizer does not stop the usual clipping line.
dm.manual_seed(0)
frozen = nn.Sequential(nn.Linear(5, 3), nn.Linear(3, 2))
frozen[0].weight.requires_grad_(False)
fddp = dist.DistributedDataParallel(frozen, zero_stage=1)
fopt = fddp.shard_optimizer(dm.optim.SGD([p for p in fddp.parameters() if p.requires_grad], lr=0.1))
fddp(dm.randn(4, 5) + rank).pow(2).sum().backward()
assert nn.utils.clip_grad_norm_(fddp.parameters(), 1e9).item() > 0

dist.destroy_process_group()
if rank == 0:
    print("distributed edges ok")
