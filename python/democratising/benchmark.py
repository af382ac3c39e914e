"""``democratising bench``: a quick benchmark table of the installed engine (SGEMM, per-op
overhead from Python, one training step of the seed MLP), with PyTorch side by side when it is
importable. The fuller comparison (JAX, thread sweeps, memory) lives in the repo's ``benches/``."""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

from . import _core, nn, optim


def _best(fn: Callable[[], Any], repeat: int = 20, number: int = 1) -> float:
    """Best seconds per call over `repeat` batches of `number` calls, after a warm-up."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def _dm_cases() -> dict[str, float]:
    out: dict[str, float] = {}
    for n in (256, 512, 1024):
        a, b = _core.randn(n, n), _core.randn(n, n)
        out[f"sgemm {n} (GFLOP/s)"] = 2 * n**3 / _best(lambda a=a, b=b: a @ b, 5) / 1e9
    x, y = _core.ones(1), _core.ones(1)
    out["a + b, 1 element (us)"] = _best(lambda: x + y, 20, 2000) * 1e6
    t = _core.randn(4, 4, requires_grad=True)

    def chain() -> None:
        ((t * 2 + 1).relu().exp().sum() * 0.5 + t.sum()).backward()

    out["10-op fwd+bwd (us)"] = _best(chain, 20, 200) * 1e6
    loss_fn = nn.CrossEntropyLoss()
    for batch in (32, 128):
        model = nn.Sequential(nn.Dense(784, 128), nn.ReLU(), nn.Dense(128, 10))
        opt = optim.Adam(model.parameters(), 1e-3)
        xb, yb = _core.randn(batch, 784), _core.randint(0, 10, (batch,))

        def step(model: Any = model, opt: Any = opt, xb: Any = xb, yb: Any = yb) -> None:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()

        out[f"MLP step, batch {batch} (us)"] = _best(step, 20, 20) * 1e6
    return out


def _torch_cases() -> Optional[dict[str, float]]:
    try:
        import torch
    except ImportError:
        return None
    out: dict[str, float] = {}
    for n in (256, 512, 1024):
        a, b = torch.randn(n, n), torch.randn(n, n)
        out[f"sgemm {n} (GFLOP/s)"] = 2 * n**3 / _best(lambda a=a, b=b: a @ b, 5) / 1e9
    x, y = torch.ones(1), torch.ones(1)
    out["a + b, 1 element (us)"] = _best(lambda: x + y, 20, 2000) * 1e6
    t = torch.randn(4, 4, requires_grad=True)

    def chain() -> None:
        ((t * 2 + 1).relu().exp().sum() * 0.5 + t.sum()).backward()

    out["10-op fwd+bwd (us)"] = _best(chain, 20, 200) * 1e6
    loss_fn = torch.nn.CrossEntropyLoss()
    for batch in (32, 128):
        model = torch.nn.Sequential(
            torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10)
        )
        opt = torch.optim.Adam(model.parameters(), 1e-3)
        xb, yb = torch.randn(batch, 784), torch.randint(0, 10, (batch,))

        def step(model: Any = model, opt: Any = opt, xb: Any = xb, yb: Any = yb) -> None:
            loss = loss_fn(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()

        out[f"MLP step, batch {batch} (us)"] = _best(step, 20, 20) * 1e6
    return out


def run() -> int:
    """Prints the table; ratios are democratising's speed relative to PyTorch's."""
    dm = _dm_cases()
    ref = _torch_cases()
    width = max(len(k) for k in dm)
    head = f"{'benchmark':<{width}} | democratising"
    if ref is not None:
        head += " |   pytorch | speed vs pytorch"
    print(head)
    print("-" * len(head))
    for k, v in dm.items():
        line = f"{k:<{width}} | {v:13.2f}"
        if ref is not None:
            r = ref[k]
            speed = v / r if "GFLOP" in k else r / v
            line += f" | {r:9.2f} | {speed:15.2f}x"
        print(line)
    if ref is None:
        print("(PyTorch is not importable: only democratising's column is shown)")
    return 0
