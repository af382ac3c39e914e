"""``Trainer`` under ``mpiexec -n N`` with a plain model (no DDP wrapper): every rank trains its
shard, so the trainer must keep the ranks' copies equal (rank 0's start, averaged gradients,
rank 0's BatchNorm statistics). The same run with a ``DistributedDataParallel`` model is the
reference. Each rank writes ``plain_rank<r>.npz`` (both runs' final state) into ``sys.argv[1]``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from common import IN, OUT

import democratising as dm
from democratising import distributed as dist
from democratising import nn
from democratising.data import TensorDataset
from democratising.train import OptimizerConfig, Trainer, TrainingConfig


def model(seed: int) -> nn.Module:
    dm.manual_seed(seed)  # each rank starts from its own weights
    return nn.Sequential(nn.Dense(IN, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dense(8, OUT))


def state(m: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}


def main() -> None:
    out = Path(sys.argv[1])
    world = dist.World.init(timeout=30)
    r = world.rank()
    rng = np.random.default_rng(5)
    x = dm.from_numpy(rng.standard_normal((48, IN)).astype(np.float32))
    y = dm.from_numpy(rng.integers(0, OUT, 48))
    cfg = dict(num_epochs=2, batch_size=4, shuffle=False, progress=False, verbose=False)
    cfg.update(model_summary=False, optimizer=OptimizerConfig.Adam(), learning_rate=0.05)
    cfg.update(max_grad_norm=1.0, accumulation_steps=2)
    plain = model(100 + r)
    Trainer(plain, TrainingConfig(**cfg), world=world).fit(TensorDataset(x, y))
    wrapped = model(100 + r)
    ddp = dist.DistributedDataParallel(wrapped, world)
    Trainer(ddp, TrainingConfig(**cfg), world=world).fit(TensorDataset(x, y))
    flat = {f"plain/{k}": v for k, v in state(plain).items()}
    flat.update({f"ddp/{k}": v for k, v in state(wrapped).items()})
    np.savez(out / f"plain_rank{r}.npz", **flat)


if __name__ == "__main__":
    main()
