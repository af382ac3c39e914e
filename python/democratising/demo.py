"""``make run``: trains the seed guide's MLP (Dense-ReLU-Dense, 128 hidden) on the built-in
``digits`` data, printing per-epoch loss, accuracy and throughput with a progress bar."""

from __future__ import annotations

import argparse
import sys
import time

import democratising as dm
from democratising.data import DataLoader, TensorDataset, random_split
from democratising.nn import CrossEntropyLoss, Dense, ReLU, Sequential
from democratising.optim import Adam


def _progress(it, total: int, desc: str):  # type: ignore[no-untyped-def]
    if not sys.stderr.isatty():
        return it
    try:
        from tqdm import tqdm
    except ImportError:
        return it
    return tqdm(it, total=total, desc=desc, leave=False, unit="batch")


def evaluate(model: Sequential, x: dm.Tensor, y: dm.Tensor) -> float:
    with dm.no_grad():
        pred = model(x).argmax(dim=1)
    return (pred == y).float().mean().item()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    dm.manual_seed(args.seed)
    x, y = dm.datasets.digits()
    data = TensorDataset(x, y)
    train, val = random_split(data, [0.8, 0.2], seed=args.seed)
    tx, ty = x[dm.tensor(train.indices)], y[dm.tensor(train.indices)]
    vx, vy = x[dm.tensor(val.indices)], y[dm.tensor(val.indices)]
    loader = DataLoader(TensorDataset(tx, ty), batch_size=args.batch_size, shuffle=True, seed=0)

    model = Sequential().add(Dense(64, 128)).add(ReLU()).add(Dense(128, 10)).build()
    optimizer = Adam(model.parameters(), args.lr)
    loss_fn = CrossEntropyLoss()
    print(f"digits: {len(train.indices)} train / {len(val.indices)} validation samples")
    print(model)
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        total, batches, seen = 0.0, 0, 0
        for xb, yb in _progress(loader, len(loader), f"epoch {epoch + 1}"):
            loss = loss_fn.forward(model(xb), yb)
            model.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
            seen += xb.shape[0]
        dt = time.perf_counter() - t0
        acc = evaluate(model, vx, vy)
        print(
            f"Epoch {epoch + 1}/{args.epochs}: loss = {total / batches:.4f}  "
            f"val accuracy = {acc * 100:.2f}%  throughput = {seen / dt:,.0f} samples/s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
