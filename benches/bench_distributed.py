"""Distributed benchmark (not a test): MPI gradient all-reduce and data-parallel scaling.

1. All-reduce throughput, 2 ranks: a raw mpi4py ``Allreduce`` of one flat buffer; the same
   followed by the division that turns the sum into a mean ("raw + mean"); DDP's communication
   path alone (one ``Iallreduce`` per ~25 MB bucket, polled with the timeout, buckets already
   packed); DDP end to end (``ddp.all_reduce_gradients()`` on gradients set by hand: pack each
   gradient into its bucket pre-divided by the world size, all-reduce, point ``p.grad`` at the
   bucket); and "in backward": the time a synchronised backward takes beyond a ``no_sync()``
   one, when the buckets fill and start from the post-accumulate hooks.
2. Scaling: samples/s of the seed MLP (64-128-10, digits-sized batches of 32 per rank) and of
   a bigger MLP (784-1024-1024-10, 128 per rank) trained with Adam, on 1 and 2 ranks, each
   rank with one engine thread (``RAYON_NUM_THREADS=1``); the 1-rank run with 2 threads is
   shown as well, since that is what one process gets from this 2-core machine.

Each configuration runs as its own ``mpiexec`` job of this script (``--worker ...``); rank 0
prints one JSON line that the parent collects. Timings: best of several repeats after a
warm-up (``time.perf_counter``).

3. ZeRO (``--zero``, issue 19): MLP 784-4096-4096-10, float32 Adam, 32 samples per rank, at
   2 and 4 ranks (one engine thread each): DDP vs ZeRO stage 1 vs stage 2 vs the
   deterministic mode (DDP, one micro-batch per rank). Per rank: parameter, gradient-buffer
   and optimizer-state bytes as allocated (``ddp.memory_bytes()`` and the optimizer's state
   tensors), peak RSS over the timed steps and its growth above the RSS before the model was
   built (compared with ``dm.train.estimate_memory(...).peak``), and the median step time.

Usage::

    python benches/bench_distributed.py            # sections 1 and 2, a Markdown table
    python benches/bench_distributed.py --sizes 4 25 100
    python benches/bench_distributed.py --zero     # section 3 only
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPEATS = 25


def best(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


# ---- workers (run under mpiexec) ---------------------------------------------------------


def _sized_module(total_mb: float) -> Any:
    """A module whose float32 parameters add up to ``total_mb`` MiB, in layer-like pieces
    (a 1:4 mix of 1-D and 2-D tensors, as in an MLP)."""
    import democratising as dm
    from democratising import nn

    class Params(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            left = int(total_mb * 2**20 / 4)
            i = 0
            while left > 0:
                n = min(left, 1 << 20)  # up to 4 MiB per tensor
                setattr(self, f"w{i}", nn.Parameter(dm.zeros(n)))
                setattr(self, f"b{i}", nn.Parameter(dm.zeros(min(1024, n))))
                left -= n + min(1024, n)
                i += 1

        def forward(self, x: Any) -> Any:
            return sum((p.sum() for p in self.parameters()), x)

    return Params()


def best_interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best seconds per call of each function, timed round-robin so that background load on a
    shared machine hits every variant alike. Every call starts right after a barrier."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        comm.Barrier()
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            comm.Barrier()
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {k: min(v) for k, v in times.items()}


def _allreduce_row(world: Any, mb: float) -> dict[str, float]:
    """Times every variant for one gradient size (see the module docstring)."""
    from mpi4py import MPI

    import democratising as dm
    from democratising import distributed as dist
    from democratising.distributed.reduce_op import ReduceOp

    comm = MPI.COMM_WORLD
    module = _sized_module(mb)
    ddp = dist.DistributedDataParallel(module, world, bucket_cap_mb=25)
    reducer = ddp.reducer
    params = list(module.parameters())
    nbytes = sum(p.numel() for p in params) * 4
    grads = [dm.randn(p.shape) for p in params]
    flat = np.random.default_rng(0).standard_normal(nbytes // 4).astype(np.float32)
    x = dm.zeros(())

    def set_grads() -> None:
        for p, g in zip(params, grads):
            p.grad = g

    def raw() -> None:
        comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)

    def raw_mean() -> None:
        comm.Allreduce(MPI.IN_PLACE, flat, op=MPI.SUM)
        np.multiply(flat, 0.5, out=flat)

    def ddp_comm() -> None:  # the buckets' Iallreduces and timed waits, buckets packed
        reducer._open_round()
        for b in reducer.buckets:
            b.pending = 0
        reducer._launch_ready(ReduceOp.Sum)
        reducer._complete()

    def ddp_full() -> None:  # pack (pre-divided) + Iallreduce per bucket + wait + views
        set_grads()
        ddp.all_reduce_gradients(dist.ReduceOp.Mean)

    def backward_synced() -> None:
        module.zero_grad()
        ddp(x).backward()  # returns with every bucket reduced

    def backward_local() -> None:
        module.zero_grad()
        with ddp.no_sync():
            ddp(x).backward()

    t = best_interleaved(
        {
            "raw": raw,
            "raw_mean": raw_mean,
            "ddp_comm": ddp_comm,
            "ddp_full": ddp_full,
            "set": set_grads,
            "bwd": backward_synced,
            "bwd_local": backward_local,
        },
        REPEATS,
    )
    full = t["ddp_full"] - t["set"]
    bwd_comm = max(t["bwd"] - t["bwd_local"], 1e-9)
    return {
        "mb": nbytes / 2**20,
        "buckets": len(ddp.bucket_stats()),
        "raw": nbytes / t["raw"] / 1e9,
        "raw_mean": nbytes / t["raw_mean"] / 1e9,
        "ddp_comm": nbytes / t["ddp_comm"] / 1e9,
        "ddp_full": nbytes / full / 1e9,
        "bwd": nbytes / bwd_comm / 1e9,
    }


def worker_allreduce(sizes: list[float]) -> None:
    from democratising import distributed as dist

    world = dist.World.init(timeout=300)
    rows = [_allreduce_row(world, mb) for mb in sizes]
    if world.rank() == 0:
        print(json.dumps({"allreduce": rows, "size": world.size()}))


def worker_scaling(model_name: str, steps: int) -> None:
    import democratising as dm
    from democratising import distributed as dist
    from democratising import nn
    from democratising.optim import Adam

    world = dist.World.init(timeout=300)
    if model_name == "seed":
        dims, per_rank = (64, 128, 10), 32
    else:
        dims, per_rank = (784, 1024, 1024, 10), 128
    dm.manual_seed(0)
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Dense(a, b), nn.ReLU()]
    model = nn.Sequential(*layers[:-1])
    ddp = dist.DistributedDataParallel(model, world) if world.size() > 1 else model
    opt = Adam(model.parameters(), 1e-3)
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(world.rank())
    xs = [dm.from_numpy(rng.standard_normal((per_rank, dims[0])).astype(np.float32))] * 4
    ys = [dm.from_numpy(rng.integers(0, 10, per_rank).astype(np.int64))] * 4

    def epoch() -> None:
        for i in range(steps):
            opt.zero_grad()
            loss_fn(ddp(xs[i % 4]), ys[i % 4]).backward()
            opt.step()

    world.barrier()
    t = best(lambda: (world.barrier(), epoch()), repeats=5)
    if world.rank() == 0:
        samples = steps * per_rank * world.size()
        print(json.dumps({"model": model_name, "size": world.size(), "sps": samples / t}))


# ---- parent ------------------------------------------------------------------------------


def _proc_kib(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def worker_zero(mode: str, steps: int, batch: int) -> None:
    """One ZeRO benchmark configuration (run under mpiexec): memory per rank and step time."""
    import statistics

    import democratising as dm
    from democratising import distributed as dist
    from democratising import nn
    from democratising.distributed.zero import state_bytes
    from democratising.optim import Adam
    from democratising.train import estimate_memory

    world = dist.World.init()
    r, n = world.rank(), world.size()
    base_kib = _proc_kib("VmRSS")  # before the model exists
    dm.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(784, 4096), nn.ReLU(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 10)
    )
    stage = {"ddp": 0, "zero1": 1, "zero2": 2, "det": 0}[mode]
    ddp = dist.DistributedDataParallel(model, world, zero_stage=stage, deterministic=mode == "det")
    opt: Any = Adam(ddp.parameters(), 1e-4)
    if stage:
        opt = ddp.shard_optimizer(opt)
    rng = np.random.default_rng(r)
    x = dm.from_numpy(rng.standard_normal((batch, 784)).astype(np.float32))
    y = dm.from_numpy(rng.integers(0, 10, batch))
    loss_fn = nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad()
        loss_fn(ddp(x), y).backward()
        opt.step()

    step()
    step()  # warm-up: optimizer state allocated, buffers touched
    world.barrier()
    _reset_peak()
    times = []
    for _ in range(steps):
        world.barrier()
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    peak_kib = _proc_kib("VmHWM")
    mem = ddp.memory_bytes()
    est = estimate_memory(ddp, (batch, 784), opt)
    row = {
        "mode": mode,
        "ranks": n,
        "param_bytes": mem["parameters"],
        "grad_bytes": mem["gradients"],
        "state_bytes": state_bytes(opt),
        "peak_rss": peak_kib * 1024,
        "peak_growth": (peak_kib - base_kib) * 1024,
        "estimate_peak": est.peak,
        "estimate_total": est.total,
        "step_s": statistics.median(times),
    }
    rows = world.all_gather_object(row)
    if r == 0:
        worst = max(rows, key=lambda q: q["peak_rss"])
        worst["step_s"] = max(q["step_s"] for q in rows)
        print(json.dumps(worst))


def zero_section(steps: int, batch: int) -> list[str]:
    lines = [
        "ZeRO, MLP 784-4096-4096-10 (20.0 M parameters), float32 Adam, "
        f"{batch} samples per rank, one engine thread per rank; per rank, MiB",
        "| ranks | mode | parameters | gradients | optimizer state | grad+state vs DDP "
        "| peak RSS | peak growth | estimate (peak) | growth / estimate | step (s) | vs DDP |",
        "| ----: | ---- | ---------: | --------: | --------------: | ----------------: "
        "| -------: | ----------: | --------------: | ----------------: | -------: | -----: |",
    ]
    mib = 2**20
    for n in (2, 4):
        res = {
            m: run_job(
                n, 1, "--worker", "zero", "--mode", m, "--steps", str(steps), "--batch", str(batch)
            )
            for m in ("ddp", "zero1", "zero2", "det")
        }
        ddp = res["ddp"]
        ddp_gs = ddp["grad_bytes"] + ddp["state_bytes"]
        for m, q in res.items():
            gs = q["grad_bytes"] + q["state_bytes"]
            lines.append(
                f"| {n} | {m} | {q['param_bytes'] / mib:.1f} | {q['grad_bytes'] / mib:.1f} "
                f"| {q['state_bytes'] / mib:.1f} | {gs / ddp_gs:.2f}x "
                f"| {q['peak_rss'] / mib:.0f} | {q['peak_growth'] / mib:.0f} "
                f"| {q['estimate_peak'] / mib:.0f} | {q['peak_growth'] / q['estimate_peak']:.2f} "
                f"| {q['step_s']:.3f} | {q['step_s'] / ddp['step_s']:.2f}x |"
            )
    return lines


def _mpiexec() -> str:
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which("mpiexec", path=search)
    if not found:
        raise SystemExit("mpiexec not found: pip install mpi4py mpich")
    return found


def run_job(n: int, threads: int, *args: str) -> dict[str, Any]:
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    cmd = [_mpiexec(), "-n", str(n), sys.executable, "-m", "mpi4py", __file__, *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", choices=["allreduce", "scaling", "zero"])
    ap.add_argument("--zero", action="store_true", help="only the ZeRO section")
    ap.add_argument("--mode", default="ddp", choices=["ddp", "zero1", "zero2", "det"])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--sizes", type=float, nargs="+", default=[1.0, 4.0, 25.0, 100.0])
    ap.add_argument("--model", default="seed")
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args()
    if args.worker == "allreduce":
        return worker_allreduce(args.sizes)
    if args.worker == "scaling":
        return worker_scaling(args.model, args.steps)
    if args.worker == "zero":
        return worker_zero(args.mode, args.steps, args.batch)
    if args.zero:
        load0 = os.getloadavg()[0]
        lines = zero_section(min(args.steps, 8), args.batch)
        lines += [
            "",
            f"Load average (1 min) before / after: {load0:.2f} / {os.getloadavg()[0]:.2f}",
        ]
        print("\n".join(lines))
        return None

    import mpi4py

    mpi4py.rc.initialize = False  # this parent only launches jobs: no MPI of its own
    from mpi4py import MPI

    load0 = os.getloadavg()[0]
    lines = [
        f"date: {datetime.date.today()}; {platform.machine()}, {os.cpu_count()} logical CPUs; "
        f"Python {platform.python_version()}; {MPI.Get_library_version().splitlines()[0]}",
        "",
        "Gradient all-reduce, 2 ranks, float32: GB/s of gradient bytes (higher is better);",
        "DDP ratios are against the raw Allreduce of one flat buffer of the same bytes.",
        "| MiB   | buckets | raw Allreduce | raw + mean | DDP comm path | ratio "
        "| DDP end to end | ratio | in backward | ratio |",
        "| ----: | ------: | ------------: | ---------: | ------------: | ----: "
        "| -------------: | ----: | ----------: | ----: |",
    ]
    sizes = [str(s) for s in args.sizes]
    res = run_job(2, 1, "--worker", "allreduce", "--sizes", *sizes)
    for r in res["allreduce"]:
        lines.append(
            f"| {r['mb']:5.1f} | {r['buckets']:7d} | {r['raw']:13.2f} | {r['raw_mean']:10.2f} "
            f"| {r['ddp_comm']:13.2f} | {r['ddp_comm'] / r['raw'] * 100:4.0f}% "
            f"| {r['ddp_full']:14.2f} | {r['ddp_full'] / r['raw'] * 100:4.0f}% "
            f"| {r['bwd']:11.2f} | {r['bwd'] / r['raw'] * 100:4.0f}% |"
        )
    lines += [
        "",
        "Data-parallel training throughput, Adam (samples/s, higher is better)",
        "| model                   | batch/rank | 1 rank, 2 threads | 1 rank, 1 thread "
        "| 2 ranks x 1 thread | 2 ranks / 1 rank (1 thread) |",
        "| ----------------------- | ---------: | ----------------: | ---------------: "
        "| -----------------: | --------------------------: |",
    ]
    for model, label, batch in (
        ("seed", "seed MLP 64-128-10", 32),
        ("big", "MLP 784-1024-1024-10", 128),
    ):
        base = ["--worker", "scaling", "--model", model, "--steps", str(args.steps)]
        one2 = run_job(1, 2, *base)["sps"]
        one1 = run_job(1, 1, *base)["sps"]
        two = run_job(2, 1, *base)["sps"]
        lines.append(
            f"| {label:23s} | {batch:10d} | {one2:17,.0f} | {one1:16,.0f} | {two:18,.0f} "
            f"| {two / one1:26.2f}x |"
        )
    lines += ["", f"Load average (1 min) before / after: {load0:.2f} / {os.getloadavg()[0]:.2f}"]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
