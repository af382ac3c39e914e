"""A 2-rank ``Trainer`` job for ``democratising launch`` (tests/test_launch.py): DDP, shuffled
data read by 2 loader workers, dropout, a per-batch scheduler, background checkpoints every 2
steps, ``fit(resume_from="auto")``. ``argv``: checkpoint folder, output ``.npz``, and a kill
plan ``attempt:rank:delta,...``: in attempt ``attempt`` (``$DEMOCRATISING_RESTART``), rank
``rank`` kills itself with SIGKILL ``delta`` optimizer steps after the step it resumed at.
``raise`` as the plan makes rank 1 raise at its first step, in every attempt. An optional
fourth argument is the number of epochs (4)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import numpy as np

import democratising as dm
from democratising import distributed as dist
from democratising import nn
from democratising.data import TensorDataset
from democratising.train import Callback, Trainer, TrainingConfig
from democratising.train.config import SchedulerConfig


class Killer(Callback):
    def __init__(self, plan: str) -> None:
        attempt = int(os.environ.get("DEMOCRATISING_RESTART", "0"))
        self.raise_now = plan == "raise"
        self.kill: Any = None
        for item in plan.split(",") if plan not in ("", "raise") else []:
            a, r, d = (int(v) for v in item.split(":"))
            if a == attempt:
                self.kill = (r, d)
        self.start = 0

    def on_train_begin(self, trainer: Trainer) -> None:
        self.start = trainer.global_step

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict[str, Any]) -> None:
        if self.raise_now and trainer.rank == 1:
            raise RuntimeError("the data on rank 1 is broken")
        if self.kill is not None and trainer.rank == self.kill[0]:
            if trainer.global_step == self.start + self.kill[1]:
                os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    ckpt, out, plan = sys.argv[1], sys.argv[2], sys.argv[3]
    epochs = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    world = dist.World.init(timeout=30)
    rng = np.random.default_rng(5)
    x = dm.from_numpy(rng.standard_normal((96, 8)).astype(np.float32))
    y = dm.from_numpy(rng.integers(0, 3, 96).astype(np.int64))
    dm.manual_seed(1)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
    cfg = TrainingConfig(
        num_epochs=epochs,
        batch_size=4,
        learning_rate=0.05,
        num_workers=2,
        seed=3,
        checkpoint_dir=ckpt,
        checkpoint_every_n_steps=2,
        async_checkpoint=True,
        keep_last=3,
        scheduler=SchedulerConfig.StepLR(step_size=5, gamma=0.9, interval="batch"),
        verbose=False,
        progress=False,
        model_summary=False,
    )
    ddp = dist.DistributedDataParallel(model, world)
    trainer = Trainer(ddp, cfg, world=world, callbacks=[Killer(plan)])
    trainer.fit(TensorDataset(x, y), resume_from="auto")
    if world.rank() == 0:
        weights = {k: v.detach().numpy() for k, v in model.state_dict().items()}
        np.savez(out, step=trainer.global_step, **weights)


if __name__ == "__main__":
    main()
