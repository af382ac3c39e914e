"""Session 26 fixes of ``democratising.distributed`` beyond the fuzz's reproducers
(tests/test_mpifuzz_s26.py): ZeRO's gradient accumulation, ``zero_grad`` and unused
parameters agree with plain DDP for every kind of optimizer; the agreement check covers the
object collectives; the ``torch.distributed`` collectives give PyTorch's results (expected
values worked out by hand below); a plain optimizer under ZeRO fails fast."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import democratising as dm
from democratising import distributed as dist
from test_distributed import needs_mpi
from test_mpifuzz_s26 import _per_rank, _run

# --- ZeRO against plain DDP: accumulation, zero_grad(set_to_none=False), no_sync, unused ----
# Each step mixes what used to go wrong: two synchronised backwards without zero_grad between
# them, a zero_grad(set_to_none=False) then no_sync accumulation, a step right after
# zero_grad() (must do nothing), a layer only rank 0 uses and a layer no rank uses. Every
# stage must end with the weights of stage 0 (plain DDP), and the unused layer where it began.

ZERO_VS_DDP = """
import numpy as np
import democratising as dm
from democratising import distributed as dist, nn, optim
w = dist.World.init(timeout=20)
kind = ARGS[0]
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 6)
        self.partial = nn.Linear(6, 6)
        self.unused = nn.Linear(6, 6)
        self.b = nn.Linear(6, 2)
    def forward(self, x):
        h = self.a(x).tanh()
        if w.rank() == 0:
            h = self.partial(h).tanh()
        return self.b(h)
class Both:  # Muon (whole matrices) and AdamW (flat segments) on one model
    def __init__(self, opts):
        self.opts = opts
    def zero_grad(self, set_to_none=True):
        for o in self.opts:
            o.zero_grad(set_to_none)
    def step(self):
        for o in self.opts:
            o.step()
def make(ps, ddp, stage):
    wrap = ddp.shard_optimizer if stage else (lambda o: o)
    if kind == "adamw":
        return wrap(optim.AdamW(ps, lr=0.05, weight_decay=0.3))
    if kind == "sgd":
        return wrap(optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.2))
    if kind == "adafactor":
        return wrap(optim.Adafactor(ps, lr=0.05))
    mats = [p for p in ps if p.dim() == 2]
    rest = [p for p in ps if p.dim() != 2]
    adamw = optim.AdamW(rest, lr=0.05, weight_decay=0.3)
    return Both([wrap(optim.Muon(mats, lr=0.02)), wrap(adamw)])
rng = np.random.default_rng(w.rank())
xs = [dm.from_numpy(rng.standard_normal((3, 4)).astype(np.float32)) for _ in range(8)]
def run(stage):
    dm.manual_seed(0)
    m = M()
    ddp = dist.DistributedDataParallel(m, w, zero_stage=stage, bucket_cap_mb=1e-4)
    opt = make(list(ddp.parameters()), ddp, stage)
    start = m.unused.weight.detach().numpy().copy()
    for s in range(2):
        x1, x2, x3, x4 = xs[4 * s : 4 * s + 4]
        opt.zero_grad()
        (ddp(x1) ** 2).mean().backward()
        (ddp(x2) ** 2).mean().backward()     # accumulates onto the first
        opt.step()
        opt.zero_grad(set_to_none=False)
        with ddp.no_sync():
            (ddp(x3) ** 2).mean().backward()
        (ddp(x4) ** 2).mean().backward()
        opt.step()
        ddp.zero_grad()
        opt.step()                            # no gradient since zero_grad: nothing moves
    moved = float(np.abs(m.unused.weight.detach().numpy() - start).max())
    return {k: v.detach().numpy().copy() for k, v in m.named_parameters()}, moved
ref, moved0 = run(0)
for stage in (1, 2):
    got, moved = run(stage)
    err = max(float(np.abs(got[k] - ref[k]).max()) for k in ref)
    emit(f"err{stage}", err)
    emit(f"moved{stage}", moved)
emit("moved0", moved0)
"""


@needs_mpi
@pytest.mark.parametrize("kind", ["adamw", "sgd", "adafactor", "muon+adamw"])
def test_zero_matches_ddp_with_accumulation_zero_grad_and_unused_layers(
    tmp_path: Path, kind: str
) -> None:
    out = _run(tmp_path, ZERO_VS_DDP, kind)
    for key in ("err1", "err2"):
        errs = _per_rank(out, key)
        assert set(errs) == {0, 1}, out
        assert all(float(e) < 2e-5 for e in errs.values()), (key, out)
    for key in ("moved0", "moved1", "moved2"):
        assert _per_rank(out, key) == {0: "0.0", 1: "0.0"}, (key, out)


# --- DDP (stage 0): a layer only one rank uses gets the mean on every rank -------------------

PARTIAL = """
import democratising as dm
from democratising import distributed as dist, nn
w = dist.World.init(timeout=10)
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(1, 1, bias=False)
        self.b = nn.Linear(1, 1, bias=False)
        self.c = nn.Linear(1, 1, bias=False)
    def forward(self, x):
        y = self.a(x)
        return y + self.b(x) if w.rank() == 0 else y
m = M()
ddp = dist.DistributedDataParallel(m, w)
ddp(dm.tensor([[2.0]])).sum().backward()
emit("a", m.a.weight.grad.item())
emit("b", m.b.weight.grad.item())
emit("c", m.c.weight.grad)
"""


@needs_mpi
def test_ddp_gradient_of_a_layer_one_rank_uses_is_the_mean_and_unused_is_none(
    tmp_path: Path,
) -> None:
    out = _run(tmp_path, PARTIAL)
    assert _per_rank(out, "a") == {0: "2.0", 1: "2.0"}, out
    assert _per_rank(out, "b") == {0: "1.0", 1: "1.0"}, out  # (2 + 0) / 2
    assert _per_rank(out, "c") == {0: "None", 1: "None"}, out


# --- ZeRO with a plain optimizer fails fast; clip after zero_grad is zero --------------------

ZERO_MISUSE = """
import democratising as dm
from democratising import distributed as dist, nn, optim
w = dist.World.init(timeout=10)
case = ARGS[0]
ddp = dist.DistributedDataParallel(nn.Linear(3, 2), w, zero_stage=int(ARGS[1]))
if case == "plain":
    opt = optim.SGD(ddp.parameters(), lr=0.1)
    try:
        ddp(dm.ones(2, 3)).sum().backward()
        emit("got", "no error")
    except dm.DistributedError as e:
        emit("got", "DistributedError" if "shard_optimizer" in str(e) else str(e))
    w.barrier()
else:
    opt = ddp.shard_optimizer(optim.SGD(ddp.parameters(), lr=0.1))
    ddp(dm.ones(2, 3)).sum().backward()
    emit("before", opt.clip_grad_norm_(1e9).item() > 0)
    opt.zero_grad()
    emit("after", opt.clip_grad_norm_(1e9).item())
"""


@needs_mpi
@pytest.mark.parametrize("stage", [1, 2])
def test_zero_with_a_plain_optimizer_raises_on_every_rank(tmp_path: Path, stage: int) -> None:
    out = _run(tmp_path, ZERO_MISUSE, "plain", str(stage))
    assert _per_rank(out, "got") == {0: "DistributedError", 1: "DistributedError"}, out
    assert out[-1]["rc"] == "0", out


@needs_mpi
def test_zero_gradient_norm_after_zero_grad_is_zero(tmp_path: Path) -> None:
    out = _run(tmp_path, ZERO_MISUSE, "clip", "2")
    assert _per_rank(out, "before") == {0: "True", 1: "True"}, out
    assert _per_rank(out, "after") == {0: "0.0", 1: "0.0"}, out


# --- Object collectives and barrier agree with each other ------------------------------------

OBJECTS = """
from democratising import distributed as dist
w = dist.World.init(timeout=6)
ops = {
    "barrier": lambda: w.barrier(),
    "broadcast_object": lambda: w.broadcast_object({"x": 1}, 0),
    "broadcast_object1": lambda: w.broadcast_object({"x": 1}, 1),
    "all_gather_object": lambda: w.all_gather_object([1, 2, 3]),
}
try:
    ops[ARGS[w.rank()]]()
    result = "no error"
except Exception as e:
    result = type(e).__name__
emit("got", result)
emit("after", w.all_gather_object(w.rank()))  # in step again
"""


@needs_mpi
@pytest.mark.parametrize(
    "pair",
    [
        ("broadcast_object", "barrier"),
        ("broadcast_object", "broadcast_object1"),
        ("all_gather_object", "broadcast_object"),
    ],
    ids=lambda p: "-".join(p),
)
def test_mismatched_object_collectives_raise_on_every_rank(
    tmp_path: Path, pair: tuple[str, str]
) -> None:
    out = _run(tmp_path, OBJECTS, *pair)
    assert _per_rank(out, "got") == {0: "DistributedError", 1: "DistributedError"}, out
    assert _per_rank(out, "after") == {0: "[0, 1]", 1: "[0, 1]"}, out


# --- torch.distributed collectives ------------------------------------------------------------

TORCH_API = """
import democratising as torch
import democratising.distributed as dist
dist.init_process_group("gloo", timeout=10)
r, n = dist.get_rank(), dist.get_world_size()
def show(key, value):
    emit(key, repr(value).replace(" ", ""))
t = torch.tensor([6, 5]) if r == 0 else torch.tensor([3, 9])
a, b, c = t.clone(), t.clone(), t.clone()
dist.all_reduce(a, op=dist.ReduceOp.BAND)
dist.all_reduce(b, op=dist.ReduceOp.BOR)
dist.all_reduce(c, op=dist.ReduceOp.BXOR)
show("bits", (a.tolist(), b.tolist(), c.tolist()))
o = torch.zeros(2)
dist.reduce_scatter(o, [torch.ones(2) * (r + 1), torch.ones(2) * 10 * (r + 1)])
show("rs", o.tolist())
o = torch.zeros(1, 2)
dist.reduce_scatter_tensor(o, torch.arange(4.0).reshape(2, 2) * (r + 1), op=dist.ReduceOp.AVG)
show("rst", o.tolist())
gl = [torch.zeros(2) for _ in range(n)] if r == 1 else None
dist.gather(torch.full((2,), float(r)), gl, dst=1)
show("gather", None if gl is None else [g.tolist() for g in gl])
o = torch.zeros(3)
dist.scatter(o, [torch.full((3,), 5.0), torch.full((3,), 7.0)] if r == 0 else None, src=0)
show("scatter", o.tolist())
outs = [torch.zeros(q + 1) for q in range(n)]
dist.all_to_all(outs, [torch.full((r + 1,), float(10 * r + q)) for q in range(n)])
show("a2a", [x.tolist() for x in outs])
o = torch.zeros(3, 2)
splits = [1, 2] if r == 0 else [2, 1]
inp = torch.arange(6.0).reshape(3, 2) + 100 * r
dist.all_to_all_single(o, inp, [1, 2] if r == 0 else [2, 1], splits)
show("a2as", o.tolist())
if r == 0:
    dist.send(torch.tensor([1.0, 2.0]), dst=1)
    dist.isend(torch.tensor([3, 4]), dst=1, tag=7).wait()
    x = torch.zeros(1)
    show("sender", dist.recv(x))
    show("recv", x.tolist())
else:
    x, y = torch.zeros(2), torch.zeros(2, dtype=torch.int64)
    dist.recv(x, src=0)
    dist.irecv(y, src=0, tag=7).wait()
    show("recv", (x.tolist(), y.tolist()))
    dist.send(torch.tensor([9.0]), dst=0)
dist.monitored_barrier(timeout=5)
ol = [None, None] if r == 0 else None
dist.gather_object({"r": r}, ol, dst=0)
show("gobj", ol)
sl = [None]
dist.scatter_object_list(sl, ["a", "b"] if r == 1 else None, src=1)
show("sobj", sl[0])
g1 = dist.new_group([1])
show("g1", (dist.get_rank(g1), dist.get_world_size(g1), dist.get_process_group_ranks(g1)))
if r == 1:
    t = torch.ones(2)
    dist.all_reduce(t, group=g1)
    show("g1sum", t.tolist())
g = dist.new_group([0, 1])
t = torch.tensor([float(r)])
dist.broadcast(t, src=1, group=g)
show("gb", t.tolist())
try:
    dist.gather(torch.zeros(1), [torch.zeros(1), torch.zeros(1)], dst=r)
    show("mismatch", "none")
except dist.DistributedError:
    show("mismatch", "DistributedError")
dist.destroy_process_group(g)
dist.barrier()
"""


@needs_mpi
def test_torch_distributed_collectives(tmp_path: Path) -> None:
    out = _run(tmp_path, TORCH_API)
    expected = {
        # 6 & 3, 5 & 9; 6 | 3, 5 | 9; 6 ^ 3, 5 ^ 9
        "bits": ("([2,1],[7,13],[5,12])", "([2,1],[7,13],[5,12])"),
        # rank 0: 1 + 2 (each rank's list[0]); rank 1: 10 + 20
        "rs": ("[3.0,3.0]", "[30.0,30.0]"),
        # mean of [[0,1],[2,3]] and twice it, chunk r
        "rst": ("[[0.0,1.5]]", "[[3.0,4.5]]"),
        "gather": ("None", "[[0.0,0.0],[1.0,1.0]]"),
        "scatter": ("[5.0,5.0,5.0]", "[7.0,7.0,7.0]"),
        "a2a": ("[[0.0],[10.0,10.0]]", "[[1.0],[11.0,11.0]]"),
        "a2as": (
            "[[0.0,1.0],[100.0,101.0],[102.0,103.0]]",
            "[[2.0,3.0],[4.0,5.0],[104.0,105.0]]",
        ),
        "recv": ("[9.0]", "([1.0,2.0],[3,4])"),
        "gobj": ("[{'r':0},{'r':1}]", "None"),
        "sobj": ("'a'", "'b'"),
        "g1": ("(-1,1,[1])", "(0,1,[1])"),
        "gb": ("[1.0]", "[1.0]"),
        "mismatch": ("'DistributedError'", "'DistributedError'"),
    }
    for key, (v0, v1) in expected.items():
        assert _per_rank(out, key) == {0: v0, 1: v1}, (key, out)
    assert _per_rank(out, "sender") == {0: "1"}, out
    assert _per_rank(out, "g1sum") == {1: "[1.0,1.0]"}, out
    assert out[-1]["rc"] == "0", out


# --- Without MPI --------------------------------------------------------------------------------


def test_reduce_op_torch_members() -> None:
    op = dist.ReduceOp
    assert op.PRODUCT is op.Product and op.parse("product") is op.Product
    assert op.BAND is op.BAnd and op.BOR is op.BOr and op.BXOR is op.BXor
    assert op.BXor.bitwise and not op.Product.bitwise
    with pytest.raises(ValueError, match="unknown reduce op"):
        op.parse("median")


def test_group_arguments_before_init() -> None:
    api: Any = dist  # (PyTorch's signatures; the stubs may lag)
    assert api.group.WORLD is api.GroupMember.WORLD is None
    assert api.get_rank(api.group.WORLD) == 0 and api.get_world_size(None) == 1
    with pytest.raises(dm.DistributedError, match="group"):
        api.get_rank("not a group")
