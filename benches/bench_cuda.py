"""GPU benchmark: democratising's CUDA backend beside PyTorch's, on the same GPU in one run.

Cases (each timed after a warm-up, best of several batches, with a device synchronize before
the clock stops):

* GEMM throughput ``a @ b`` at N = 4096 in float32, float16 and bfloat16 (GFLOP/s);
* one training step (forward, cross-entropy, zero_grad, backward, Adam) of the MLP
  784-1024-1024-10 at batch 256 and of the small CNN of ``bench_train.py`` at batch 64.

Without a GPU it prints why and exits 0, so ``make bench`` runs anywhere. PyTorch is optional:
without a CUDA build of it, only democratising's column is filled.

Usage::

    python benches/bench_cuda.py
"""

from __future__ import annotations

import time
from typing import Any, Callable, Optional

import democratising as dm


def best_time(step: Callable[[], Any], sync: Callable[[], Any], budget: float = 0.5) -> float:
    """Seconds per call: the best of 5 batches, each at least ``budget / 5`` long."""
    for _ in range(3):
        step()
    sync()
    best = float("inf")
    for _ in range(5):
        n, start = 0, time.perf_counter()
        while True:
            step()
            n += 1
            sync()
            elapsed = time.perf_counter() - start
            if elapsed >= budget / 5:
                break
        best = min(best, elapsed / n)
    return best


def dm_cases() -> dict[str, tuple[Callable[[], Any], float]]:
    """name -> (step, flops or 0)."""
    import democratising.nn.functional as F
    from democratising import nn, optim

    cases: dict[str, tuple[Callable[[], Any], float]] = {}
    n = 4096
    for name in ("float32", "float16", "bfloat16"):
        dt = getattr(dm, name)
        a = dm.randn(n, n, device="cuda").to(dt)
        b = dm.randn(n, n, device="cuda").to(dt)
        cases[f"gemm {name} N={n}"] = (lambda a=a, b=b: a @ b, 2.0 * n**3)
    mlp = nn.Sequential(
        nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)
    ).to("cuda")
    cnn = nn.Sequential(
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(1600, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    ).to("cuda")
    for name, model, x in (
        ("step MLP 784-1024-1024-10 b256", mlp, dm.randn(256, 784, device="cuda")),
        ("step CNN b64", cnn, dm.randn(64, 1, 28, 28, device="cuda")),
    ):
        y = dm.randint(0, 10, (x.shape[0],), device="cuda")
        opt = optim.Adam(model.parameters(), lr=1e-3)

        def step(model: Any = model, opt: Any = opt, x: Any = x, y: Any = y) -> None:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()

        cases[name] = (step, 0.0)
    return cases


def torch_cases() -> Optional[dict[str, tuple[Callable[[], Any], float]]]:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    nn, functional = torch.nn, torch.nn.functional
    cases: dict[str, tuple[Callable[[], Any], float]] = {}
    n = 4096
    for name in ("float32", "float16", "bfloat16"):
        dt = getattr(torch, name)
        a = torch.randn(n, n, device="cuda", dtype=dt)
        b = torch.randn(n, n, device="cuda", dtype=dt)
        cases[f"gemm {name} N={n}"] = (lambda a=a, b=b: a @ b, 2.0 * n**3)
    mlp = nn.Sequential(
        nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)
    ).cuda()
    cnn = nn.Sequential(
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(1600, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    ).cuda()
    for name, model, x in (
        ("step MLP 784-1024-1024-10 b256", mlp, torch.randn(256, 784, device="cuda")),
        ("step CNN b64", cnn, torch.randn(64, 1, 28, 28, device="cuda")),
    ):
        y = torch.randint(0, 10, (x.shape[0],), device="cuda")
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step(model: Any = model, opt: Any = opt, x: Any = x, y: Any = y) -> None:
            opt.zero_grad()
            functional.cross_entropy(model(x), y).backward()
            opt.step()

        cases[name] = (step, 0.0)
    return cases


def main() -> None:
    if not dm.cuda.is_available():
        print(f"bench_cuda: skipped, no CUDA device ({dm.cuda.unavailable_reason()})")
        return
    ours = {k: best_time(f, lambda: dm.cuda.synchronize()) for k, (f, _) in dm_cases().items()}
    flops = {k: fl for k, (_, fl) in dm_cases().items()}
    theirs: dict[str, float] = {}
    tc = torch_cases()
    if tc is not None:
        import torch

        theirs = {k: best_time(f, torch.cuda.synchronize) for k, (f, _) in tc.items()}
    print(f"{'case':34} {'democratising':>16} {'PyTorch':>16} {'ratio':>7}")
    for k, t in ours.items():

        def fmt(s: float, k: str = k) -> str:
            return f"{flops[k] / s / 1e9:9.0f} GFLOP/s" if flops[k] else f"{s * 1e3:10.3f} ms"

        other = theirs.get(k)
        ratio = f"{other / t:6.2f}x" if other else "   n/a"
        print(f"{k:34} {fmt(t):>16} {fmt(other) if other else 'n/a':>16} {ratio:>7}")
    print("ratio = PyTorch time / democratising time (higher is better for democratising)")


if __name__ == "__main__":
    main()
