"""GPU benchmark: democratising's CUDA backend beside PyTorch's eager mode, on the same GPU in
one run, each case built by the same code for both libraries.

Cases (each timed after a warm-up, best of several batches, with a device synchronize before
the clock stops):

* GEMM throughput ``a @ b`` at N = 4096 in float32, float16 and bfloat16 (GFLOP/s);
* one training step (forward, cross-entropy, zero_grad, backward, optimizer) of the MLP
  784-1024-1024-10 at batch 256, the small CNN of ``bench_train.py`` at batch 64, ResNet-18
  on CIFAR-sized images at batch 128 (SGD with momentum) and GPT-mid (6 layers, 6 heads, 384
  wide, block 256; ``bench_train.py``'s model) at batch 32 (AdamW).

The issue's targets are printed beside the ratios: GEMM >= 1x, ResNet-18 >= 1x (cuDNN),
GPT-mid >= 1.2x (PyTorch's SDPA). Without a GPU it prints why and exits 0, so ``make bench``
runs anywhere. PyTorch is optional: without a CUDA build of it, only democratising's column is
filled. ``--tiny`` shrinks every case (a smoke test, e.g. on the emulated device).

Usage::

    python benches/bench_cuda.py [--tiny]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import democratising as dm

sys.path.insert(0, str(Path(__file__).resolve().parent))

Case = tuple[Callable[[], Any], float]  # (step, flops per call or 0)

#: The issue's minimum ratio (PyTorch time / ours) per case, by name prefix.
TARGETS = {"gemm": 1.0, "step ResNet-18": 1.0, "step GPT-mid": 1.2}


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


def resnet18(nn: Any, width: int = 64, classes: int = 10) -> Any:
    """ResNet-18 for 32x32 images (a 3x3 stem, no max-pool), as in the CIFAR examples."""

    class BasicBlock(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x: Any) -> Any:
            out = self.relu(self.bn1(self.conv1(x)))
            return self.relu(self.bn2(self.conv2(out)) + self.shortcut(x))

    layers: list[Any] = [nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width)]
    layers.append(nn.ReLU())
    cin = width
    for i, stride in enumerate((1, 2, 2, 2)):
        cout = width * 2**i
        layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, classes)]
    return nn.Sequential(*layers)


def cases(lib: Any, tiny: bool) -> dict[str, Case]:
    """Every case for ``lib`` (democratising or torch: the same module API), on ``cuda``."""
    import bench_train

    nn, functional = lib.nn, lib.nn.functional
    lib.manual_seed(0)
    out: dict[str, Case] = {}
    n = 32 if tiny else 4096
    for name in ("float32", "float16", "bfloat16"):
        dt = getattr(lib, name)
        a = lib.randn(n, n, device="cuda").to(dt)
        b = lib.randn(n, n, device="cuda").to(dt)
        out[f"gemm {name} N={n}"] = (lambda a=a, b=b: a @ b, 2.0 * n**3)

    def classifier_step(model: Any, x: Any, opt: Any) -> Callable[[], None]:
        y = lib.randint(0, 10, (x.shape[0],), device="cuda")

        def step() -> None:
            opt.zero_grad()
            functional.cross_entropy(model(x), y).backward()
            opt.step()

        return step

    # --tiny: every layer kept, sizes cut so the emulated device runs a step in seconds.
    hidden, img, feats = (16, 10, 64) if tiny else (1024, 28, 1600)
    mlp = nn.Sequential(
        nn.Linear(784, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, 10),
    ).to("cuda")
    c1, c2 = (4, 4) if tiny else (32, 64)
    cnn = nn.Sequential(
        nn.Conv2d(1, c1, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(feats * c2 // 64, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    ).to("cuda")
    resnet = resnet18(nn, width=2 if tiny else 64).to("cuda")
    mb, cb, rb, side = (2, 2, 2, 8) if tiny else (256, 64, 128, 32)
    for name, model, x, opt in (
        (f"step MLP 784-{hidden}-{hidden}-10 b{mb}", mlp, lib.randn(mb, 784, device="cuda"), None),
        (f"step CNN b{cb}", cnn, lib.randn(cb, 1, img, img, device="cuda"), None),
        (
            f"step ResNet-18 CIFAR b{rb}",
            resnet,
            lib.randn(rb, 3, side, side, device="cuda"),
            lib.optim.SGD(resnet.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4),
        ),
    ):
        opt = opt or lib.optim.Adam(model.parameters(), lr=1e-3)
        out[name] = (classifier_step(model, x, opt), 0.0)

    gpt_case = bench_train.Case("gpt_mid", 2 if tiny else 32)
    sizes = (1, 2, 16, 8) if tiny else None
    gpt = bench_train.build_gpt(lib, nn, functional, gpt_case, sizes).to("cuda")
    opt = lib.optim.AdamW(gpt.parameters(), lr=3e-4, weight_decay=0.01)
    x_np, y_np = bench_train.make_gpt_data(gpt_case, None if sizes is None else sizes[3])
    tokens, targets = lib.from_numpy(x_np).to("cuda"), lib.from_numpy(y_np).to("cuda")
    vocab = bench_train.GPT_VOCAB

    def gpt_step() -> None:
        loss = functional.cross_entropy(gpt(tokens).reshape(-1, vocab), targets.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()

    label = "GPT-tiny 1L/2H/16" if tiny else "GPT-mid 6L/6H/384"
    out[f"step {label} b{gpt_case.batch}"] = (gpt_step, 0.0)
    return out


def torch_with_cuda() -> Optional[Any]:
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def target_of(case: str) -> Optional[float]:
    return next((t for prefix, t in TARGETS.items() if case.startswith(prefix)), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="shrunk cases (a smoke test)")
    args = parser.parse_args()
    if not dm.cuda.is_available():
        print(f"bench_cuda: skipped, no CUDA device ({dm.cuda.unavailable_reason()})")
        return
    budget = 0.05 if args.tiny else 0.5
    ours_cases = cases(dm, args.tiny)
    ours = {k: best_time(f, dm.cuda.synchronize, budget) for k, (f, _) in ours_cases.items()}
    flops = {k: fl for k, (_, fl) in ours_cases.items()}
    theirs: dict[str, float] = {}
    torch = torch_with_cuda()
    if torch is not None:
        theirs = {
            k: best_time(f, torch.cuda.synchronize, budget)
            for k, (f, _) in cases(torch, args.tiny).items()
        }
    print(f"{'case':36} {'democratising':>16} {'PyTorch':>16} {'ratio':>7} {'target':>7}")
    for k, t in ours.items():

        def fmt(s: float, k: str = k) -> str:
            return f"{flops[k] / s / 1e9:9.0f} GFLOP/s" if flops[k] else f"{s * 1e3:10.3f} ms"

        other = theirs.get(k)
        ratio = f"{other / t:6.2f}x" if other else "   n/a"
        target = target_of(k)
        goal = f">= {target:g}x" if target is not None else ""
        print(f"{k:36} {fmt(t):>16} {fmt(other) if other else 'n/a':>16} {ratio:>7} {goal:>7}")
    print("ratio = PyTorch time / democratising time (higher is better for democratising)")


if __name__ == "__main__":
    main()
