"""MPI worker for failure modes. Usage: faults.py MODE [OUT_DIR].

- ``mismatch``: rank 1 builds different models; DDP must raise DistributedError on every rank
  (each writes ``mismatch_rank{r}.txt``), after which a matching model still works.
- ``crash``: the last rank raises while the others wait in all_reduce: the job must end.
- ``timeout``: rank 0 waits in a barrier (timeout 1.5 s) that rank 1 never joins.
- ``timeout_ddp``: the same for DDP's gradient all-reduce during backward.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from common import make_mlp

import democratising as dm
from democratising import distributed as dist
from democratising import nn
from democratising.errors import DistributedError


def mismatch(out: Path) -> None:
    world = dist.World.init(timeout=20)
    r = world.rank()
    variants = {
        "shape": lambda: nn.Sequential(
            nn.Dense(4, 8 if r == 0 else 9), nn.Dense(8 if r == 0 else 9, 2)
        ),
        "count": lambda: make_mlp(0, extra_unused=(r == 1)),
        "dtype": lambda: make_mlp(0).double() if r == 1 else make_mlp(0),
    }
    lines = []
    for name, build in variants.items():
        try:
            dist.DistributedDataParallel(build(), world)
        except DistributedError as e:
            lines.append(f"{name}: {e}")
        else:
            raise AssertionError(f"{name}: mismatched models were accepted on rank {r}")
    dist.DistributedDataParallel(make_mlp(0), world)  # the world is still usable
    (out / f"mismatch_rank{r}.txt").write_text("\n".join(lines))


def crash() -> None:
    world = dist.World.init(timeout=60)
    if world.rank() == world.size() - 1:
        raise RuntimeError("deliberate failure on the last rank")
    world.all_reduce(dm.ones(3))  # would wait for the dead rank for 60 s without the abort
    raise AssertionError("all_reduce completed although a rank died")


def timeout() -> None:
    # Start-up (imports, MPI init) may be slow on a loaded machine: only the barrier under test
    # runs with the short timeout.
    world = dist.World.init(timeout=60)
    world.barrier()
    world.timeout = 1.5
    if world.rank() == 0:
        world.barrier()
    time.sleep(30)


def timeout_ddp() -> None:
    """Rank 1 skips backward: rank 0's gradient all-reduce (inside backward) times out."""
    world = dist.World.init(timeout=60)
    ddp = dist.DistributedDataParallel(make_mlp(0), world)  # construction has its collectives
    world.barrier()
    world.timeout = 1.5
    if world.rank() == 0:
        ddp(dm.randn(4, 12)).sum().backward()
    time.sleep(30)


def main() -> None:
    mode = sys.argv[1]
    if mode == "mismatch":
        mismatch(Path(sys.argv[2]))
    elif mode == "crash":
        crash()
    elif mode == "timeout":
        timeout()
    elif mode == "timeout_ddp":
        timeout_ddp()
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
