"""MPI worker for ranks that end early. Usage: early.py MODE [ARG]. Every failure is announced on
stdout with ``FAILING <time.monotonic()>`` first, so the test can measure how long the job took to
end after it (the monotonic clock is one for the whole host, and a wall-clock step can't skew it).

- ``raise_before_init``: the last rank raises after ``import democratising`` but before
  ``World.init``; the others wait in ``World.init`` (MPI_Init) and then in a barrier.
- ``exit_after_init CODE``: the last rank calls ``sys.exit(CODE)`` after a first barrier while
  the others wait in an all_reduce (timeout 60 s).
- ``finish_early``: the last rank completes its final all_reduce and leaves at once; rank 0
  joins that all_reduce 1.5 s later (after the goodbye arrived) and must still succeed.
- ``cli_after_init``: the last rank runs ``democratising train`` with a bad ``--data`` after
  ``World.init`` (so the CLI's error return, not an exception); the others wait in a barrier.
- ``raise_alone``: rank 0 ends without ever starting MPI (``os._exit``, so without its at-exit
  join) and the last rank raises: its abort
  hook waits in MPI_Init for peers that never come, and must give up after the collective
  timeout (``$DEMOCRATISING_DIST_TIMEOUT``) instead of hanging.
- ``exit_before_init CODE``: the last rank leaves after ``import democratising`` but before
  ``World.init`` (``sys.exit(CODE)``; CODE ``end`` lets the script simply end) while the others
  call ``World.init`` and an all_reduce (timeout 60 s).
- ``no_mpi``: every rank ends without ever using MPI; the job must exit 0.
- ``exit_alone``: rank 0 ends without its at-exit handlers (``os._exit``), the last rank calls
  ``sys.exit(1)`` before ``World.init``: its at-exit join waits in MPI_Init for a peer that never
  comes and must give up after the collective timeout.
- ``timeout_names_missing``: every rank but the last waits in a barrier with a 1.5 s timeout;
  the message must name the last rank as the one that never arrived.
"""

from __future__ import annotations

import sys
import time

import democratising as dm
from democratising import distributed as dist


def failing(what: str) -> None:
    print(f"FAILING {time.monotonic():.3f} {what}", flush=True)


def raise_before_init() -> None:
    import os

    rank, size = int(os.environ["PMI_RANK"]), int(os.environ["PMI_SIZE"])
    if rank == size - 1:
        time.sleep(1.0)  # let the peers reach MPI_Init first
        failing("raise")
        raise RuntimeError(f"deliberate failure before World.init on rank {rank}")
    world = dist.World.init(timeout=60)
    world.barrier()
    raise AssertionError("the barrier completed although a rank died before World.init")


def raise_alone() -> None:
    import os

    rank, size = int(os.environ["PMI_RANK"]), int(os.environ["PMI_SIZE"])
    if rank == size - 1:
        failing("raise")
        raise RuntimeError(f"deliberate failure on rank {rank}, with no peer in MPI_Init")
    sys.stdout.flush()
    os._exit(0)


def _launch_rank() -> tuple[int, int]:
    import os

    return int(os.environ["PMI_RANK"]), int(os.environ["PMI_SIZE"])


def exit_before_init(code: str) -> None:
    rank, size = _launch_rank()
    if rank == size - 1:
        time.sleep(1.0)  # let the peers reach MPI_Init first
        failing(f"exit before World.init ({code})")
        if code == "end":
            return
        sys.exit(int(code))
    world = dist.World.init(timeout=60)
    world.all_reduce(dm.ones(3))
    raise AssertionError("all_reduce completed although a rank left before World.init")


def no_mpi() -> None:
    print(f"no_mpi ok {_launch_rank()[0]}", flush=True)


def exit_alone() -> None:
    import os

    rank, size = _launch_rank()
    if rank == size - 1:
        failing("sys.exit(1) alone")
        sys.exit(1)
    sys.stdout.flush()
    os._exit(0)


def exit_after_init(code: int) -> None:
    world = dist.World.init(timeout=60)
    world.barrier()
    if world.rank() == world.size() - 1:
        time.sleep(0.5)  # the others are inside all_reduce by now
        failing(f"sys.exit({code})")
        sys.exit(code)
    world.all_reduce(dm.ones(3))
    raise AssertionError("all_reduce completed although a rank had left")


def finish_early() -> None:
    world = dist.World.init(timeout=60)
    world.barrier()
    if world.rank() != 0:
        world.all_reduce(dm.ones(3))
        return
    time.sleep(1.5)
    t = world.all_reduce(dm.ones(3))
    assert t.tolist() == [float(world.size())] * 3, t.tolist()
    time.sleep(1.0)  # no collective left: the departed peers must not matter now
    print("finish_early ok", flush=True)


def cli_after_init() -> None:
    world = dist.World.init(timeout=60)
    world.barrier()
    if world.rank() == world.size() - 1:
        from democratising import cli

        failing("cli")
        sys.exit(cli.main(["train", "--data", "mnist:/nonexistent/early"]))
    world.barrier()
    raise AssertionError("the barrier completed although a rank had failed")


def timeout_names_missing() -> None:
    world = dist.World.init(timeout=60)
    world.barrier()
    world.timeout = 1.5
    if world.rank() != world.size() - 1:
        world.barrier()
    time.sleep(30)


def main() -> None:
    mode = sys.argv[1]
    if mode == "raise_before_init":
        raise_before_init()
    elif mode == "raise_alone":
        raise_alone()
    elif mode == "exit_after_init":
        exit_after_init(int(sys.argv[2]))
    elif mode == "finish_early":
        finish_early()
    elif mode == "cli_after_init":
        cli_after_init()
    elif mode == "exit_before_init":
        exit_before_init(sys.argv[2])
    elif mode == "no_mpi":
        no_mpi()
    elif mode == "exit_alone":
        exit_alone()
    elif mode == "timeout_names_missing":
        timeout_names_missing()
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
