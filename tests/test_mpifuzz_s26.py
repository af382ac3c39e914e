"""Bugs found by the session-26 "new user" fuzz of ``democratising.distributed`` (DDP, ZeRO,
World collectives, the ``torch.distributed`` names). Each test runs a small script under
``mpiexec -n 2`` (through ``test_distributed.run_mpi``: hard timeout, whole process group
killed) and encodes the correct behaviour: PyTorch's, or what docs/distributed.md promises.
Every script sets a short ``World.init(timeout=...)`` so that a broken case ends in seconds.
They were strict expected failures until session 26's fixes (the comments above each test say
what was wrong and where)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from test_distributed import needs_mpi, run_mpi

# Every script starts with this: ``emit(key, value)`` appends ``key value`` to this rank's own
# file in the folder given as the first argument (stdout lines of two ranks can interleave).
PRELUDE = """
import os, sys
_OUT, ARGS = sys.argv[1], sys.argv[2:]
def emit(key, value):
    rank = os.environ.get("PMI_RANK") or os.environ.get("OMPI_COMM_WORLD_RANK") or "0"
    with open(os.path.join(_OUT, f"rank{rank}.txt"), "a") as f:
        f.write(f"{key} {value}\\n")
"""


def _run(tmp_path: Path, source: str, *args: str) -> dict[int, dict[str, str]]:
    """Runs ``source`` on 2 ranks; returns ``{rank: {key: value}}`` of what it emitted, and
    under rank -1 the job's output (``"job"``, for assertion messages) and exit status
    (``"rc"``)."""
    script = tmp_path / "job.py"
    script.write_text(PRELUDE + source)
    out = tmp_path / "out"
    out.mkdir()
    job = run_mpi(2, str(script), str(out), *args, timeout=45.0)
    result: dict[int, dict[str, str]] = {-1: {"job": repr(job), "rc": str(job.returncode)}}
    for r in range(2):
        f = out / f"rank{r}.txt"
        lines = f.read_text().splitlines() if f.exists() else []
        result[r] = dict(line.split(" ", 1) for line in lines if " " in line)
    return result


def _per_rank(result: dict[int, dict[str, str]], key: str) -> dict[int, str]:
    """``{rank: value}`` of ``key`` for the ranks that emitted it."""
    return {r: d[key] for r, d in result.items() if r >= 0 and key in d}


# --- ZeRO (stages 1 and 2) drops the gradient of an earlier synchronised backward ------------
# Two backward passes without no_sync() and without zero_grad() in between must accumulate (as
# plain DDP, stage 0, and PyTorch do). Under ZeRO each reduction overwrites the shard gradient:
# ZeroReducer._pack/_launch/_finalize (distributed/zero.py) write the new reduced gradient into
# the shard instead of adding it to the one held since the last zero_grad().

ZERO_ACCUM = """
import democratising as dm
from democratising import distributed as dist, nn, optim
w = dist.World.init(timeout=10)
stage = int(ARGS[0])
lin = nn.Linear(1, 1, bias=False)
with dm.no_grad():
    lin.weight.fill_(0.0)
ddp = dist.DistributedDataParallel(lin, w, zero_stage=stage)
opt = optim.SGD(ddp.parameters(), lr=1.0)
if stage:
    opt = ddp.shard_optimizer(opt)
opt.zero_grad()
ddp(dm.tensor([[1.0]])).sum().backward()  # d/dw = 1 on every rank
ddp(dm.tensor([[2.0]])).sum().backward()  # d/dw = 2 on every rank: accumulated grad 3
opt.step()
emit("weight", f"{lin.weight.item()}")
"""


@needs_mpi
@pytest.mark.parametrize("stage", [1, 2])
def test_zero_accumulates_gradients_of_synchronised_backwards(tmp_path: Path, stage: int) -> None:
    out = _run(tmp_path, ZERO_ACCUM, str(stage))
    assert _per_rank(out, "weight") == {0: "-3.0", 1: "-3.0"}, out


# --- ZeroOptimizer.zero_grad() leaves the stale shard gradient in place --------------------
# zero_grad(); step() with no backward in between must not move the weights (PyTorch: every
# grad is None, so the step does nothing). ZeroOptimizer.zero_grad (zero.py) only sets the
# full parameters' .grad to None; the segments' gradients (views of the reducer's shard) keep
# the last reduced gradient, and the inner optimizer steps it again.

ZERO_STALE = """
import democratising as dm
from democratising import distributed as dist, nn, optim
w = dist.World.init(timeout=10)
stage = int(ARGS[0])
lin = nn.Linear(1, 1, bias=False)
with dm.no_grad():
    lin.weight.fill_(0.0)
ddp = dist.DistributedDataParallel(lin, w, zero_stage=stage)
opt = ddp.shard_optimizer(optim.SGD(ddp.parameters(), lr=1.0))
opt.zero_grad()
ddp(dm.tensor([[1.0]])).sum().backward()
opt.step()       # weight -1
opt.zero_grad()
opt.step()       # no gradient since zero_grad(): the weight stays -1
emit("weight", f"{lin.weight.item()}")
"""


@needs_mpi
@pytest.mark.parametrize("stage", [1, 2])
def test_zero_step_after_zero_grad_does_not_reuse_the_old_gradient(
    tmp_path: Path, stage: int
) -> None:
    out = _run(tmp_path, ZERO_STALE, str(stage))
    assert _per_rank(out, "weight") == {0: "-1.0", 1: "-1.0"}, out


# --- Mismatched collectives: only all_reduce/broadcast/all_gather agree first ----------------
# World._agree (distributed/world.py) makes every rank raise the same DistributedError when the
# ranks enter different tensor collectives. barrier(), any_rank(), all_gather_object(),
# broadcast_object() and DDP construction (_fingerprint.verify_same_model) skip it, so a rank in
# one of them is matched by MPI against another rank's all_reduce: barrier returns "fine" on one
# rank, all_gather_object raises MemoryError("Unable to allocate 7.53 EiB"), any_rank crashes
# MPICH (typerep_yaksa_pack.c assertion), DDP construction raises IndexError; the job then
# aborts (or, if a rank catches the error, waits for the collective timeout: 30 min default).

MISMATCH = """
import democratising as dm
from democratising import distributed as dist, nn
w = dist.World.init(timeout=6)
ops = {
    "barrier": lambda: w.barrier(),
    "all_reduce": lambda: w.all_reduce(dm.ones(3)),
    "all_gather_object": lambda: w.all_gather_object("x" * 10),
    "any_rank": lambda: w.any_rank(True),
    "ddp": lambda: dist.DistributedDataParallel(nn.Linear(2, 2), w),
}
mine = ARGS[0] if w.rank() == 0 else ARGS[1]
try:
    ops[mine]()
    result = "no error"
except Exception as e:
    result = type(e).__name__
emit("got", f"{result}")
w.barrier()  # both ranks are in step again after the error
"""


@needs_mpi
@pytest.mark.parametrize(
    "rank0_op", ["barrier", "all_gather_object", "any_rank", "ddp"], ids=lambda s: s
)
def test_mismatched_collective_raises_distributed_error_on_every_rank(
    tmp_path: Path, rank0_op: str
) -> None:
    out = _run(tmp_path, MISMATCH, rank0_op, "all_reduce")
    got = _per_rank(out, "got")
    assert got == {0: "DistributedError", 1: "DistributedError"}, out
    assert out[-1]["rc"] == "0", out


# --- The torch.distributed names: ReduceOp.PRODUCT and the *_tensor collectives are missing --
# democratising.distributed re-exports torch.distributed's names (distributed/_torch_api.py);
# a torch program that uses ReduceOp.PRODUCT, reduce_scatter_tensor or all_gather_into_tensor
# (common in sharded training code) fails with AttributeError.

TORCH_NAMES = """
import democratising as torch
import democratising.distributed as dist
dist.init_process_group("gloo", timeout=10)
r, n = dist.get_rank(), dist.get_world_size()
case = ARGS[0]
if case == "product":
    t = torch.tensor([2.0, 3.0]) * (r + 1)
    dist.all_reduce(t, op=dist.ReduceOp.PRODUCT)     # rank 0: [2, 3], rank 1: [4, 6]
    emit("value", f"{t.tolist()}")
elif case == "reduce_scatter_tensor":
    inp = torch.arange(4.0) + 10 * r                  # rank 0: 0..3, rank 1: 10..13
    out = torch.zeros(2)
    dist.reduce_scatter_tensor(out, inp)              # sum, then rank r keeps chunk r
    emit("value", f"{out.tolist()}")
elif case == "all_gather_into_tensor":
    out = torch.zeros(4)
    dist.all_gather_into_tensor(out, torch.tensor([1.0, 2.0]) * (r + 1))
    emit("value", f"{out.tolist()}")
"""


@needs_mpi
def test_torch_style_all_reduce_product(tmp_path: Path) -> None:
    out = _run(tmp_path, TORCH_NAMES, "product")
    assert _per_rank(out, "value") == {0: "[8.0, 18.0]", 1: "[8.0, 18.0]"}, out


@needs_mpi
def test_torch_style_reduce_scatter_tensor(tmp_path: Path) -> None:
    out = _run(tmp_path, TORCH_NAMES, "reduce_scatter_tensor")
    assert _per_rank(out, "value") == {0: "[10.0, 12.0]", 1: "[14.0, 16.0]"}, out


@needs_mpi
def test_torch_style_all_gather_into_tensor(tmp_path: Path) -> None:
    out = _run(tmp_path, TORCH_NAMES, "all_gather_into_tensor")
    expected = "[1.0, 2.0, 2.0, 4.0]"
    assert _per_rank(out, "value") == {0: expected, 1: expected}, out


# --- A parameter no rank uses gets a zero gradient, so weight decay moves it -----------------
# PyTorch's DDP (find_unused_parameters=True) leaves the .grad of a parameter that no rank used
# as None, so AdamW/SGD-with-weight-decay leave it alone, as one process does. Here the
# end-of-backward callback (_reducer.GradientReducer.finish -> _pack) packs zeros for it and
# _unpack sets .grad to a zero tensor, so AdamW decays it and DDP no longer matches one process
# over the global batch (docs/distributed.md documents the zero gradient).

UNUSED = """
import numpy as np
import democratising as dm
from democratising import distributed as dist, nn, optim
w = dist.World.init(timeout=10)
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.used = nn.Linear(3, 3)
        self.unused = nn.Linear(3, 3)
    def forward(self, x):
        return self.used(x)
dm.manual_seed(0)
m = M()
ddp = dist.DistributedDataParallel(m, w)
opt = optim.AdamW(m.parameters(), lr=0.1, weight_decay=0.5)
before = m.unused.weight.detach().numpy().copy()
for _ in range(2):
    opt.zero_grad()
    ddp(dm.ones(2, 3)).sum().backward()
    opt.step()
moved = float(np.abs(m.unused.weight.detach().numpy() - before).max())
emit("grad", f"{'None' if m.unused.weight.grad is None else 'tensor'}")
emit("moved", f"{moved}")
"""


@needs_mpi
def test_ddp_leaves_globally_unused_parameters_alone(tmp_path: Path) -> None:
    out = _run(tmp_path, UNUSED)
    assert _per_rank(out, "grad") == {0: "None", 1: "None"}, out
    assert _per_rank(out, "moved") == {0: "0.0", 1: "0.0"}, out


# --- ZeRO shards Adafactor elementwise, which changes its update -----------------------------
# Adafactor factors the second moment of a matrix into row and column statistics and scales its
# step by the parameter's RMS: it needs whole parameters. ZeroOptimizer (distributed/zero.py,
# ``_WHOLE_PARAMETER = ("Muon", "SparseAdam")``) gives it 1-D segments instead, so the weights
# differ from one process over the same global batch by ~5e-4 after two steps (at one rank too).
# It should be sharded by whole parameters like Muon (or refused like LBFGS).

ADAFACTOR = """
import numpy as np
import democratising as dm
from democratising import distributed as dist, nn, optim
w = dist.World.init(timeout=10)
x = dm.from_numpy(np.linspace(-1, 1, 8 * 4, dtype=np.float32).reshape(8, 4))
def train(zero):
    dm.manual_seed(0)
    m = nn.Linear(4, 3, bias=False)
    d = dist.DistributedDataParallel(m, w, zero_stage=1) if zero else m
    opt = optim.Adafactor(d.parameters(), lr=0.01)
    if zero:
        opt = d.shard_optimizer(opt)
    xb = x[w.rank() * 4 : (w.rank() + 1) * 4] if zero else x  # the same global batch of 8
    for _ in range(2):
        opt.zero_grad()
        (d(xb) ** 2).mean().backward()
        opt.step()
    return m.weight.detach().numpy()
emit("maxerr", float(np.abs(train(False) - train(True)).max()))
"""


@needs_mpi
def test_zero_adafactor_matches_one_process(tmp_path: Path) -> None:
    out = _run(tmp_path, ADAFACTOR)
    errs = _per_rank(out, "maxerr")
    assert set(errs) == {0, 1}, out
    assert all(float(e) < 1e-6 for e in errs.values()), out


# --- A layer frozen after wrapping keeps training (weight decay) ------------------------------
# Fine-tuning code freezes layers with requires_grad_(False). Done after wrapping, DDP still
# packs the frozen parameter (a zero gradient from GradientReducer.finish/_pack, see above) and
# ZeRO still steps its segments (their .grad views the shard), so SGD's weight decay moves a
# frozen layer. One process leaves it alone (no .grad); PyTorch's DDP refuses the changed
# parameter set. Either is fine here: unchanged weights, or a DistributedError naming it.

FREEZE_AFTER_WRAP = """
import numpy as np
import democratising as dm
from democratising import distributed as dist, nn, optim
w = dist.World.init(timeout=10)
stage = int(ARGS[0])
dm.manual_seed(0)
m = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 1))
ddp = dist.DistributedDataParallel(m, w, zero_stage=stage)
opt = optim.SGD(ddp.parameters(), lr=0.1, weight_decay=0.5)
if stage:
    opt = ddp.shard_optimizer(opt)
for p in m[0].parameters():
    p.requires_grad_(False)
before = m[0].weight.detach().numpy().copy()
try:
    opt.zero_grad()
    ddp(dm.ones(2, 3)).sum().backward()
    opt.step()
    emit("result", float(np.abs(m[0].weight.detach().numpy() - before).max()))
except dm.DistributedError:
    emit("result", "DistributedError")
"""


@needs_mpi
@pytest.mark.parametrize("stage", [0, 1])
def test_layer_frozen_after_wrapping_is_not_updated(tmp_path: Path, stage: int) -> None:
    out = _run(tmp_path, FREEZE_AFTER_WRAP, str(stage))
    results = _per_rank(out, "result")
    assert set(results) == {0, 1}, out
    assert all(r in ("0.0", "DistributedError") for r in results.values()), out


# --- The mismatch message blames bucket_cap_mb when zero_stage differs -----------------------
# _fingerprint._first_difference falls back to "the DDP settings (bucket_cap_mb) differ" for
# any difference in the settings tuple, naming the wrong setting.

STAGES = """
import democratising as dm
from democratising import distributed as dist, nn
w = dist.World.init(timeout=10)
try:
    dist.DistributedDataParallel(nn.Linear(3, 4), w, zero_stage=w.rank())
    emit("message", "none")
except dm.DistributedError as e:
    emit("message", f"{str(e)}")
"""


@needs_mpi
def test_mismatched_zero_stage_is_named_in_the_error(tmp_path: Path) -> None:
    out = _run(tmp_path, STAGES)
    messages = _per_rank(out, "message")
    assert set(messages) == {0, 1}, out
    for text in messages.values():
        assert "zero_stage" in text and "bucket_cap_mb" not in text, out


# --- get_rank/get_world_size do not take PyTorch's ``group`` argument; no ``dist.group`` -------
# torch.distributed.get_rank(group=None) and get_world_size(group=None) take the group, and
# torch code passes ``dist.group.WORLD``; here both are zero-argument helpers (distributed/
# __init__.py) and ``dist.group`` does not exist (only ``GroupMember``), so such a call raises
# TypeError/AttributeError. No MPI needed: before init they answer rank 0 of 1.


def test_get_rank_and_world_size_accept_a_group() -> None:
    import democratising.distributed

    dist: Any = democratising.distributed  # PyTorch's signatures, which the stubs lack today
    assert dist.get_rank(group=None) == dist.get_rank()
    assert dist.get_world_size(dist.group.WORLD) == dist.get_world_size()
