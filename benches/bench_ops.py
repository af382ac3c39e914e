"""Benchmark table: democratising against NumPy and (when importable) PyTorch, on the CPU.

Measures, side by side in one run:

* SGEMM float32 throughput (GFLOP/s) for square matrices, ``a @ b``;
* per-op overhead seen from Python: ``a + b`` on 1-element tensors, and a 10-op
  forward + backward chain on a (4, 4) tensor.

Each thread count runs in its own subprocess of this script (``--worker N``), because
democratising's thread pool (rayon) reads ``RAYON_NUM_THREADS`` once, at start-up. The
worker's environment also pins OpenMP/OpenBLAS/MKL to N threads, and drops
``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` so that NumPy's OpenBLAS picks its own kernel.

Timings use ``time.perf_counter``: a warm-up call, then the best of several repeats (the
minimum is the figure least disturbed by other processes on a shared machine).

Usage::

    python benches/bench_ops.py                     # 1 and 2 threads, N = 256 .. 2048
    python benches/bench_ops.py --threads 1 --sizes 256 512
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

DEFAULT_SIZES = (256, 512, 1024, 2048)
DEFAULT_THREADS = (1, 2)
THREAD_VARS = ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Set on this machine for old OpenBLAS builds; they slow a current NumPy down.
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
GEMM_BUDGET_S = 1.5  # time spent per (library, size) after the warm-up
CHAIN_OPS = 10

Result = dict[str, Any]


# ----------------------------------------------------------------------------- timing


def best_time(fn: Callable[[], object], budget_s: float, max_repeats: int = 25) -> float:
    """Best seconds per call of ``fn``: one warm-up call, then timed batches within a budget.

    Cheap calls are batched (like ``timeit``'s autorange) so a batch lasts at least ~20 ms;
    expensive ones get as many single-call repeats as ``budget_s`` allows (at least one).
    """
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    number = max(1, math.ceil(0.02 / max(first, 1e-9)))
    repeats = max(1, min(max_repeats, int(budget_s / max(first * number, 1e-9))))
    best = first
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def gflops(n: int, seconds: float) -> float:
    return 2.0 * n**3 / seconds / 1e9


# ----------------------------------------------------------------------------- libraries


def import_torch() -> Optional[Any]:
    try:
        import torch
    except ImportError:
        return None
    return torch


def chain_dm(x: Any) -> Any:
    """The 10-op chain: mul, add, relu, exp, mul, tanh, sigmoid, sub, abs, sum."""
    return (((x * 2 + 1).relu().exp() * 0.5).tanh().sigmoid() - 0.25).abs().sum()


chain_torch = chain_dm  # identical method names in PyTorch


def matmul_gflops(a: Any, b: Any) -> float:
    """Throughput of ``a @ b`` for square ``a`` and ``b`` (any library with ``@``)."""
    return gflops(a.shape[0], best_time(lambda: a @ b, GEMM_BUDGET_S))


def bench_gemm(sizes: list[int], torch: Optional[Any]) -> list[Result]:
    import democratising as dm

    rng = np.random.default_rng(0)
    rows: list[Result] = []
    for n in sizes:
        a_np = rng.standard_normal((n, n), dtype=np.float32)
        b_np = rng.standard_normal((n, n), dtype=np.float32)
        row: Result = {"n": n}
        row["democratising"] = matmul_gflops(dm.from_numpy(a_np.copy()), dm.from_numpy(b_np.copy()))
        row["numpy"] = matmul_gflops(a_np, b_np)
        if torch is not None:
            with torch.no_grad():
                row["torch"] = matmul_gflops(torch.from_numpy(a_np), torch.from_numpy(b_np))
        rows.append(row)
    return rows


def bench_overhead(torch: Optional[Any]) -> list[Result]:
    """Microseconds per ``a + b`` (1 element) and per 10-op forward+backward iteration."""
    import democratising as dm

    a_dm, b_dm = dm.ones(1), dm.ones(1)
    a_np, b_np = np.ones(1, np.float32), np.ones(1, np.float32)
    add: Result = {"name": "a + b, 1-element tensors"}
    add["democratising"] = 1e6 * best_time(lambda: a_dm + b_dm, 1.0)
    add["numpy"] = 1e6 * best_time(lambda: a_np + b_np, 1.0)

    x_dm = dm.randn(4, 4, requires_grad=True)
    chain: Result = {"name": f"{CHAIN_OPS}-op fwd+bwd, (4, 4)"}
    chain["democratising"] = 1e6 * best_time(lambda: chain_dm(x_dm).backward(), 1.0)

    if torch is not None:
        a_t, b_t = torch.ones(1), torch.ones(1)
        add["torch"] = 1e6 * best_time(lambda: a_t + b_t, 1.0)
        x_t = torch.randn(4, 4, requires_grad=True)
        chain["torch"] = 1e6 * best_time(lambda: chain_torch(x_t).backward(), 1.0)
    return [add, chain]


def numpy_blas() -> str:
    """NumPy's BLAS and the kernel it runs, via threadpoolctl where that is installed."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    for pool in threadpool_info():
        if pool.get("user_api") == "blas" and "numpy" in pool.get("filepath", ""):
            return f"{pool.get('internal_api')} {pool.get('version')} ({pool.get('architecture')})"
    return "unknown"


def worker(threads: int, sizes: list[int]) -> Result:
    torch = import_torch()
    if torch is not None:
        torch.set_num_threads(threads)
    import democratising as dm

    return {
        "threads": threads,
        "numpy_version": np.__version__,
        "numpy_blas": numpy_blas(),
        "torch_version": None if torch is None else torch.__version__,
        "democratising_version": dm.__version__,
        "gemm": bench_gemm(sizes, torch),
        "overhead": bench_overhead(torch),
    }


# ----------------------------------------------------------------------------- driver


def run_worker(threads: int, sizes: list[int]) -> Result:
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    for var in OPENBLAS_OVERRIDES:
        env.pop(var, None)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(threads)]
    cmd += ["--sizes", *map(str, sizes)]
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def fmt(value: Optional[float], digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def ratio(num: Optional[float], den: Optional[float]) -> str:
    return "—" if num is None or den is None else f"{num / den:.2f}x"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    align = ["-" * w if i < 2 else "-" * (w - 1) + ":" for i, w in enumerate(widths)]

    def line(cells: list[str]) -> str:
        pairs = enumerate(zip(cells, widths))
        padded = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in pairs]
        return "| " + " | ".join(padded) + " |"

    return "\n".join([line(header), line(align), *(line(r) for r in rows)])


def report(results: list[Result]) -> str:
    first = results[0]
    has_torch = first["torch_version"] is not None
    lines = [
        f"date: {datetime.date.today().isoformat()}; {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} logical CPUs; Python {platform.python_version()}",
        f"democratising {first['democratising_version']}, NumPy {first['numpy_version']} "
        f"(BLAS: {first['numpy_blas']}), PyTorch {first['torch_version'] or 'not installed'}",
    ]
    if not has_torch:
        lines.append("PyTorch is not importable: its columns are skipped.")

    gemm_rows = []
    for res in results:
        for g in res["gemm"]:
            dm_, np_, t_ = g["democratising"], g["numpy"], g.get("torch")
            row = [str(res["threads"]), str(g["n"]), fmt(dm_), fmt(np_)]
            row += [fmt(t_), ratio(dm_, np_), ratio(dm_, t_)] if has_torch else [ratio(dm_, np_)]
            gemm_rows.append(row)
    header = ["threads", "N", "democratising", "numpy"]
    header += ["torch", "dm/numpy", "dm/torch"] if has_torch else ["dm/numpy"]
    lines += ["", "SGEMM float32, square N x N, GFLOP/s (higher is better; ratio = speed)"]
    lines += [markdown_table(header, gemm_rows)]

    op_rows = []
    for res in results:
        for o in res["overhead"]:
            dm_, np_, t_ = o["democratising"], o.get("numpy"), o.get("torch")
            row = [str(res["threads"]), o["name"], fmt(dm_, 2), fmt(np_, 2)]
            # Speed ratio democratising / torch = torch time / democratising time.
            row += [fmt(t_, 2), ratio(t_, dm_)] if has_torch else []
            op_rows.append(row)
    header = ["threads", "benchmark", "democratising", "numpy"]
    header += ["torch", "dm/torch speed"] if has_torch else []
    lines += ["", "Per-op overhead from Python, µs per op / iteration (lower is better)"]
    lines += [markdown_table(header, op_rows)]
    lines += ["", "Best of several repeats after a warm-up (time.perf_counter)."]
    return "\n".join(lines)


def load_average() -> str:
    """The 1-minute load average: other processes on the machine make the numbers noisy."""
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=list(DEFAULT_THREADS))
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--worker", type=int, metavar="THREADS", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.sizes)))
        return
    load_before = load_average()
    results = []
    for threads in args.threads:
        print(f"running with {threads} thread(s)...", file=sys.stderr, flush=True)
        results.append(run_worker(threads, args.sizes))
    print(report(results))
    print(f"Load average (1 min) before / after: {load_before} / {load_average()}")


if __name__ == "__main__":
    main()
