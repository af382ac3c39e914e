"""ZeRO stage 1/2, sharded checkpoints, the deterministic mode and 16-bit gradient
communication (issue 19). Three real MPI jobs (``mpiexec -n 4``, ``-n 2``, ``-n 1`` running
tests/mpi/zero.py, each with a hard timeout) share their outputs through a module fixture; the
single-process consolidating load and the corrupt/missing shard checks run here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.checkpoint import load_checkpoint
from democratising.distributed.zero import pack16, tree_sum, unpack16
from democratising.errors import CheckpointError
from democratising.optim import Adam
from test_distributed import needs_mpi, run_mpi

TIMEOUT = 120.0


def _worker() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "zero_worker", Path(__file__).parent / "mpi" / "zero.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---- no MPI needed --------------------------------------------------------------------------


def test_bfloat16_packing_rounds_to_nearest_even() -> None:
    x = np.array([1.0, 1.00390625, 1.01171875, -3.4e38, 1e-40, np.inf, np.nan], np.float32)
    words = np.empty(x.size, np.uint16)
    pack16(x, "bfloat16", words)
    back = unpack16(words, "bfloat16")
    # 1 + 2^-8 is a tie: rounds to even (1.0); 1 + 3 * 2^-8 rounds up to 1 + 2^-6.
    assert back[0] == 1.0 and back[1] == 1.0 and back[2] == np.float32(1.015625)
    assert back[3] == -np.inf and np.isinf(back[5]) and np.isnan(back[6])
    ref = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    w = np.empty(ref.size, np.uint16)
    pack16(ref, "bfloat16", w)
    assert np.max(np.abs(unpack16(w, "bfloat16") - ref) / np.abs(ref)) <= 2.0**-8
    pack16(ref, "float16", w)
    assert np.array_equal(unpack16(w, "float16"), ref.astype(np.float16).astype(np.float32))


def test_tree_sum_is_split_invariant() -> None:
    rows = np.random.default_rng(1).standard_normal((8, 33)).astype(np.float32) * 1e3
    whole = np.empty(33, np.float32)
    tree_sum(list(rows), whole)
    halves = [np.empty(33, np.float32) for _ in range(2)]
    tree_sum(list(rows[:4]), halves[0])
    tree_sum(list(rows[4:]), halves[1])
    split = np.empty(33, np.float32)
    tree_sum(halves, split)
    assert np.array_equal(whole, split)


def test_zero_arguments_are_checked() -> None:
    from democratising import distributed as dist

    with pytest.raises(ValueError, match="zero_stage"):
        dist.DistributedDataParallel(nn.Linear(2, 2), _FakeWorld(), zero_stage=3)
    with pytest.raises(ValueError, match="comm_dtype"):
        dist.DistributedDataParallel(nn.Linear(2, 2), _FakeWorld(), comm_dtype="int8")


class _FakeWorld:
    """Fails the test if DDP gets as far as communicating (argument checks come first)."""

    def size(self) -> int:
        raise AssertionError("argument checks must come before any collective")


# ---- MPI jobs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("zero")
    for n, tasks in (
        (4, "equal,det,mismatch,save"),
        (2, "equal,det,resume,compress,trainer"),
        (1, "det,resume,trainer_resume"),
    ):
        job = run_mpi(n, "zero.py", str(out), tasks, timeout=TIMEOUT)
        assert job.returncode == 0 and job.stdout.count(" ok") == n, job
    return out


@needs_mpi
@pytest.mark.parametrize("n", [4, 2])
def test_zero_matches_ddp_to_float32_rounding(jobs: Path, n: int) -> None:
    for r in range(n):
        diffs = json.loads((jobs / f"equal_{n}_rank{r}.json").read_text())
        scales = {k: diffs.pop(k) for k in list(diffs) if k.startswith("amp_scale/")}
        assert len(diffs) == 20  # 5 scenarios x stages 1, 2, and the 10 other optimizers
        for name, d in diffs.items():
            assert d <= 2e-6, (n, r, name, d)
        # float16 overflowed at 2^18: steps were skipped (the same ones as DDP's: equal weights)
        assert all(s < 2.0**18 for s in scales.values()) and len(scales) == 2, scales


@needs_mpi
def test_deterministic_weights_are_bitwise_equal_at_1_2_4_ranks(jobs: Path) -> None:
    results = {
        n: [dict(np.load(jobs / f"det_{n}_rank{r}.npz")) for r in range(n)] for n in (1, 2, 4)
    }
    ref = results[1][0]
    assert len(ref) == 8
    for n, ranks in results.items():
        for got in ranks:
            for k in ref:
                assert np.array_equal(ref[k], got[k]), (n, k)
    init = _worker().weights(_worker().make_model())
    assert not np.array_equal(ref["stage0/0.weight"], init["0.weight"])


@needs_mpi
def test_mismatched_model_raises_on_every_rank(jobs: Path) -> None:
    for r in range(4):
        outcome, muon = json.loads((jobs / f"mismatch_4_rank{r}.json").read_text())
        assert outcome.startswith("DistributedError") and "different models" in outcome
        assert muon.startswith("ValueError") and "LBFGS" in muon


@needs_mpi
def test_compressed_gradients_stay_close_and_replicas_agree(jobs: Path) -> None:
    ranks = [dict(np.load(jobs / f"compress_2_rank{r}.npz")) for r in range(2)]
    for k, v in ranks[0].items():
        assert np.array_equal(v, ranks[1][k]), k  # replicas never drift apart
        if not k.startswith("ref/"):
            ref = ranks[0]["ref/" + k.split("/", 2)[2]]
            assert np.max(np.abs(v - ref)) < 2e-2, k
            assert not np.array_equal(v, ref) or "float16" in k


@needs_mpi
def test_resharded_resume_4_to_2_to_1_is_bitwise(jobs: Path) -> None:
    saved = dict(np.load(jobs / "saved_state.npz"))
    assert any(k.startswith("s/") for k in saved)
    for n in (2, 1):
        got = dict(np.load(jobs / f"resumed_{n}.npz"))
        assert got.keys() == saved.keys()
        for k, v in saved.items():
            if k.startswith("after/"):  # training continues (other rank count: rounding)
                assert np.max(np.abs(v - got[k])) < 1e-5, (n, k)
            else:
                assert np.array_equal(v, got[k]), (n, k)


def _single(saved: dict[str, np.ndarray]) -> tuple[nn.Module, Adam]:
    model = _worker().make_model(seed=7)
    return model, Adam(model.parameters(), 1e-2)


@needs_mpi
def test_sharded_checkpoint_consolidates_into_one_process(jobs: Path) -> None:
    saved = dict(np.load(jobs / "saved_state.npz"))
    model, opt = _single(saved)
    info = load_checkpoint(jobs / "ckpt", model=model, optimizer=opt)
    assert info["epoch"] == 3
    for n, p in model.named_parameters():
        assert np.array_equal(p.detach().numpy(), saved[f"w/{n}"])
    for idx, st in opt.state_dict()["state"].items():
        for key, v in st.items():
            want = saved[f"s/{idx}/{key}"]
            assert np.array_equal(np.asarray(v.numpy() if hasattr(v, "numpy") else v), want)
    data = _worker().batches(8, seed=2)[4:]
    for x, y in data:  # and training goes on in a single process
        opt.zero_grad()
        nn.functional.cross_entropy(model(dm.from_numpy(x)), dm.from_numpy(y)).backward()
        opt.step()
    for n, p in model.named_parameters():
        assert np.max(np.abs(p.detach().numpy() - saved[f"after/{n}"])) < 1e-5


@needs_mpi
@pytest.mark.parametrize("damage", ["corrupt", "missing", "truncated"])
def test_damaged_shard_raises_and_modifies_nothing(jobs: Path, tmp_path: Path, damage: str) -> None:
    ckpt = tmp_path / "ckpt"
    shutil.copytree(jobs / "ckpt", ckpt)
    shard = sorted(ckpt.glob("shard-00002-*"))[0]
    if damage == "missing":
        shard.unlink()
    elif damage == "truncated":
        shard.write_bytes(shard.read_bytes()[:-10])
    else:
        data = bytearray(shard.read_bytes())
        data[-5] ^= 0xFF
        shard.write_bytes(bytes(data))
    model, opt = _single({})
    before = {n: p.detach().numpy().copy() for n, p in model.named_parameters()}
    with pytest.raises(CheckpointError):
        load_checkpoint(ckpt, model=model, optimizer=opt)
    for n, p in model.named_parameters():
        assert np.array_equal(p.detach().numpy(), before[n])
    assert opt.state_dict()["state"] == {}


@needs_mpi
def test_trainer_shards_prints_the_estimate_and_resumes_anywhere(jobs: Path) -> None:
    log = json.loads((jobs / "trainer_log.json").read_text())
    assert any(line.startswith("Memory per rank (ZeRO stage 2, 2 rank(s), Adam)") for line in log)
    assert any("optimizer state" in line for line in log)
    # keep_last=1: the sharded epoch-2 directory was pruned once epoch 3 was written
    names = sorted(p.name for p in (jobs / "trainer_ckpt").iterdir())
    assert names == ["epoch_0003.safetensors"], names
    assert (jobs / "trainer_ckpt" / "epoch_0003.safetensors").is_file()  # single process
    saved = dict(np.load(jobs / "trainer_weights.npz"))
    resumed = dict(np.load(jobs / "trainer_resumed.npz"))
    assert saved.keys() == resumed.keys()
    assert any(not np.array_equal(saved[k], resumed[k]) for k in saved)  # one more epoch


def test_zero_stage_is_a_config_field_and_a_cli_flag() -> None:
    import argparse

    from democratising.train import ConfigError, TrainingConfig
    from democratising.train.command import _config, add_arguments

    assert TrainingConfig(zero_stage=2).zero_stage == 2
    assert TrainingConfig().with_overrides(["zero_stage=1"]).zero_stage == 1
    with pytest.raises(ConfigError, match="zero_stage"):
        TrainingConfig(zero_stage=3)
    ap = argparse.ArgumentParser()
    add_arguments(ap)
    args = ap.parse_args(["--zero-stage", "2"])
    assert _config(args, "run").zero_stage == 2


def test_estimate_memory_per_stage() -> None:
    from democratising.train import estimate_memory

    model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 8))
    n = sum(p.numel() for p in model.parameters())
    est = [
        estimate_memory(model, (16, 64), "adam", zero_stage=s, world_size=4, bucket_cap_mb=0.01)
        for s in range(3)
    ]
    assert all(e.parameters == 4 * n for e in est)
    assert est[0].optimizer_state == 8 * n and est[1].optimizer_state == est[2].optimizer_state
    assert est[1].optimizer_state == pytest.approx(2 * n, rel=0.01)
    assert est[2].gradients < est[1].gradients < 2 * est[0].gradients
    # activations: the input, both Linear outputs and the ReLU output, float32
    assert est[0].activations == 4 * 16 * (64 + 256 + 256 + 8)
    sgd = estimate_memory(model, dm.zeros(16, 64), dm.optim.SGD(model.parameters(), 0.1))
    assert sgd.optimizer_state == 0 and sgd.world_size == 1
    amp = estimate_memory(model, (16, 64), "sgd", amp="bfloat16")
    assert amp.activations < est[0].activations + 2 * n + 1 and "AMP bfloat16" in str(amp)
    with pytest.raises(ValueError, match="unknown optimizer"):
        estimate_memory(model, None, "adamz")
    # No sample batch: the activations are said to be unmeasured, not printed as 0 bytes.
    table = str(estimate_memory(model, None, "adam"))
    assert "not measured" in table and "+ activations" in table
    assert "not measured" not in str(est[0])


@needs_mpi
def test_cli_zero_stage_under_mpiexec_then_resume_last_in_one_process(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from test_distributed import MPIEXEC

    assert MPIEXEC is not None
    cli = [sys.executable, "-m", "democratising.cli", "train"]
    env = dict(os.environ, RAYON_NUM_THREADS="1")
    first = subprocess.run(
        [MPIEXEC, "-n", "2", *cli, "--epochs", "1", "--zero-stage", "2"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
    )
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Memory per rank (ZeRO stage 2, 2 rank(s)" in first.stdout
    ckpt = next(tmp_path.glob("runs/*/version_0/checkpoints/epoch_0001.safetensors"))
    assert (ckpt / "index.json").is_file() and len(list(ckpt.glob("shard-*"))) == 2
    again = subprocess.run(
        [*cli, "--epochs", "2", "--resume", "last"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Resumed from" in again.stdout and "Epoch 2/2" in again.stdout
