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


def _cases(lib: Any, lib_nn: Any, lib_optim: Any) -> dict[str, float]:
    """The table's rows, timed with one library: democratising (``_core``, ``nn``, ``optim``)
    or PyTorch (``torch``, ``torch.nn``, ``torch.optim``), the same code for both."""
    out: dict[str, float] = {}
    for n in (256, 512, 1024):
        a, b = lib.randn(n, n), lib.randn(n, n)
        out[f"sgemm {n} (GFLOP/s)"] = 2 * n**3 / _best(lambda a=a, b=b: a @ b, 5) / 1e9
    x, y = lib.ones(1), lib.ones(1)
    out["a + b, 1 element (us)"] = _best(lambda: x + y, 20, 2000) * 1e6
    t = lib.randn(4, 4, requires_grad=True)

    def chain() -> None:
        ((t * 2 + 1).relu().exp().sum() * 0.5 + t.sum()).backward()

    out["10-op fwd+bwd (us)"] = _best(chain, 20, 200) * 1e6
    loss_fn = lib_nn.CrossEntropyLoss()
    for batch in (32, 128):
        model = lib_nn.Sequential(lib_nn.Linear(784, 128), lib_nn.ReLU(), lib_nn.Linear(128, 10))
        opt = lib_optim.Adam(model.parameters(), 1e-3)
        xb, yb = lib.randn(batch, 784), lib.randint(0, 10, (batch,))

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
    return _cases(torch, torch.nn, torch.optim)


def run() -> int:
    """Prints the table; ratios are democratising's speed relative to PyTorch's."""
    dm = _cases(_core, nn, optim)
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
