"""``Trainer.predict``/``evaluate`` with metrics under ``mpiexec -n N``: each rank predicts its
shard, rank 0 gets the predictions in the dataset's order; the metrics are summed over the
ranks. Rank 0 writes ``predict.npz`` into ``sys.argv[1]``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from common import IN, OUT, make_mlp

import democratising as dm
from democratising import distributed as dist
from democratising.data import TensorDataset
from democratising.metrics import AUROC, Accuracy, ConfusionMatrix, F1Score
from democratising.train import Trainer, TrainingConfig


def data(n: int) -> TensorDataset:
    rng = np.random.default_rng(11)
    x = rng.standard_normal((n, IN)).astype(np.float32)
    y = rng.integers(0, OUT, n)
    return TensorDataset(dm.from_numpy(x), dm.from_numpy(y))


def main() -> None:
    out = Path(sys.argv[1])
    world = dist.World.init(timeout=30)
    metrics = {
        "acc": Accuracy(),
        "f1": F1Score(num_classes=OUT, average="macro"),
        "cm": ConfusionMatrix(num_classes=OUT),
        "auroc": AUROC(num_classes=OUT),
    }
    cfg = TrainingConfig(batch_size=4, verbose=False, progress=False)
    trainer = Trainer(make_mlp(0), cfg, world=world, metrics=metrics)
    batches = trainer.predict(data(23))  # 23: the sampler pads one rank's shard
    joined = trainer.predict(data(23), concat=True)
    scores = trainer.evaluate(data(23))  # the padded sample is left out: each counts once
    if world.rank() != 0:
        assert batches is None and joined is None
        return
    assert [int(b.shape[0]) for b in batches] == [4, 4, 4, 4, 4, 3]
    np.savez(
        out / "predict.npz",
        batches=np.concatenate([b.numpy() for b in batches]),
        joined=joined.numpy(),
        acc=scores["acc"],
        f1=scores["f1"],
        cm=scores["cm"].numpy(),
        auroc=scores["auroc"],
        loss=scores["loss"],
    )


if __name__ == "__main__":
    main()
