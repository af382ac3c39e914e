"""MPI worker: DDP with every rank's model on its own CUDA device (cuda:rank; the emulated
device under make test). Gradients come back to the device after the all-reduce; the test
compares the result with single-process training on the global batch. With
DEMOCRATISING_CUDA_AWARE_MPI=1 the gradient buckets are device tensors handed to MPI through
the CUDA Array Interface (the emulated device's memory is host memory, so any MPI can read it);
otherwise they are staged through host buffers; with tests/mpi/fake_cupy on PYTHONPATH they go
through the (fake) NCCL of cupy.cuda.nccl. EXPECT_TRANSPORT names the transport the reducer
must have chosen. Usage: ddp_cuda.py OUT_DIR [STEPS [TIMEOUT]]."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from common import PER_RANK, global_batches, make_mlp, make_optimizer, params_of, shard

import democratising as dm
from democratising import distributed as dist
from democratising import nn


def main() -> None:
    out, steps = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 3
    world = dist.World.init(timeout=float(sys.argv[3]) if len(sys.argv) > 3 else None)
    r, n = world.rank(), world.size()
    device = dm.Device.cuda(r % dm.cuda.device_count())
    model = make_mlp(seed=0)
    init = params_of(model)
    model.to(device)
    ddp = dist.DistributedDataParallel(model, world)
    aware = os.environ.get("DEMOCRATISING_CUDA_AWARE_MPI") == "1"
    expected = os.environ.get("EXPECT_TRANSPORT") or ("mpi" if aware else "host")
    assert ddp.reducer.transport == expected, (ddp.reducer.transport, expected)
    assert (ddp.reducer.device is not None) == (expected in ("nccl", "mpi"))
    opt = make_optimizer("sgd", model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    for x, y in global_batches(steps, PER_RANK * n):
        opt.zero_grad()
        xb = dm.from_numpy(shard(x, r, n)).to(device)
        yb = dm.from_numpy(shard(y, r, n)).to(device)
        loss_fn(ddp(xb), yb).backward()
        assert all(p.grad.device == device for p in model.parameters())
        opt.step()
    final = {k: np.array(p.detach().cpu().numpy()) for k, p in model.named_parameters()}
    if expected == "nccl":  # the fake CuPy (tests/mpi/fake_cupy) logged its calls
        from cupy.cuda import nccl

        buckets = ddp.reducer.buckets
        reduces = [c for c in nccl.CALLS if c[0] == "allReduce"]
        assert len(reduces) == steps * len(buckets), (len(reduces), len(buckets))
        for call, b in zip(reduces, buckets * steps):
            ptr = b.buffer.__cuda_array_interface__["data"][0]
            assert call[1] == call[2] == ptr and call[3] == b.numel, (call, ptr, b.numel)
            assert call[4] == nccl.NCCL_FLOAT32 and call[5] == nccl.NCCL_SUM, call
        # The engine's stream waited on every reduction before the optimizer ran.
        assert sum(c[0] == "wait_event" for c in nccl.CALLS) == 2 * len(reduces)
    np.savez(
        out / f"ddp_cuda_rank{r}.npz",
        **{f"init/{k}": v for k, v in init.items()},
        **{f"final/{k}": v for k, v in final.items()},
    )
    world.barrier()


if __name__ == "__main__":
    main()
