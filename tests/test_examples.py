"""The scripts in ``examples/`` run end to end (as subprocesses, tiny settings)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAR_GPT = ROOT / "examples" / "char_gpt.py"
TINY = [
    "--block-size", "16", "--batch-size", "8", "--n-layer", "1", "--n-head", "2",
    "--n-embd", "32", "--lr", "1e-2", "--eval-every", "4", "--log-every", "1",
    "--sample-tokens", "40", "--prompt", "the",
]  # fmt: skip
STEP = re.compile(r"^step\s+(\d+)/(\d+): loss (\S+)", re.M)


def _run(*args: str, cwd: Path) -> str:
    proc = subprocess.run(
        [sys.executable, str(CHAR_GPT), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_char_gpt_trains_checkpoints_resumes_and_samples(tmp_path: Path) -> None:
    text = tmp_path / "input.txt"
    text.write_text("the quick brown fox jumps over the lazy dog.\n" * 60)
    out = tmp_path / "ckpt"
    vocab = len(set(text.read_text()))

    first = _run("--data", str(text), "--out", str(out), "--steps", "8", *TINY, cwd=tmp_path)
    losses = [float(m[2]) for m in STEP.findall(first)]
    assert [int(m[0]) for m in STEP.findall(first)] == list(range(1, 9))
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0] < math.log(vocab) + 0.5  # starts near uniform, then learns
    assert (out / "epoch_0002.safetensors").is_file()
    assert "--- sample" in first
    sample = first.split("--- sample", 1)[1].split("\n", 1)[1].rsplit("---", 1)[0]
    assert sample.startswith("the") and len(sample.strip()) >= 40

    # Resume: epochs 1-2 come from the checkpoint, epoch 3 (steps 9-12) is trained.
    again = _run(
        "--data", str(text), "--out", str(out), "--steps", "12", "--resume", *TINY, cwd=tmp_path
    )
    assert "Resumed from" in again
    assert [int(m[0]) for m in STEP.findall(again)] == [9, 10, 11, 12]
    assert all(math.isfinite(float(m[2])) for m in STEP.findall(again))
    assert (out / "epoch_0003.safetensors").is_file()
    assert "--- sample" in again


def test_char_gpt_float32_without_sampling(tmp_path: Path) -> None:
    text = tmp_path / "input.txt"
    text.write_text("abcdefghij" * 50)
    out = _run(
        "--data", str(text), "--out", str(tmp_path / "ckpt"), "--steps", "2", "--no-bf16",
        *TINY[:-4], "--sample-tokens", "0", cwd=tmp_path,
    )  # fmt: skip
    assert "in float32" in out and "--- sample" not in out
    assert len(STEP.findall(out)) == 2
