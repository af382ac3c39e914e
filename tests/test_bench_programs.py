"""benches/bench_programs.py: every program trains a few steps on democratising at shrunk sizes
(no PyTorch needed), and the ratio table reports the issue's targets."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHES = Path(__file__).resolve().parent.parent / "benches"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    sys.path.insert(0, str(BENCHES))  # bench_programs imports bench_train from its folder
    try:
        return importlib.import_module("bench_programs")
    finally:
        sys.path.remove(str(BENCHES))


PROGRAMS = (
    "classifier",
    "vae",
    "lstm_classifier",
    "time_sequence",
    "word_lm",
    "dcgan",
    "char_mlp",
    "char_gru",
)


@pytest.mark.parametrize("program", PROGRAMS)
def test_program_trains_on_democratising(bench: ModuleType, program: str) -> None:
    res = bench.run_program("democratising", program, 1, 0.005, tiny=True)
    assert res["program"] == program
    assert math.isfinite(res["loss"]) and res["us"] > 0


def test_every_program_is_tested(bench: ModuleType) -> None:
    assert set(PROGRAMS) == set(bench.PROGRAMS)


def test_report_shows_targets_and_geomean(bench: ModuleType) -> None:
    results = {}
    for name in bench.PROGRAMS:
        results[("democratising", name)] = {"us": 1000.0, "us_median": 1100.0}
        results[("torch", name)] = {"us": 1200.0, "us_median": 1300.0}
    results[("torch", "word_lm")] = {"us": 3000.0, "us_median": 3000.0}
    text = bench.report(results, {"democratising": "0", "torch": "0"}, 2)
    lines = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("|")}
    assert "1.20x" in lines["MNIST classifier (2 conv + dropout + 2 linear)"]
    assert "MISSED" in lines["LSTM classifier (LSTM(28, 64) + BatchNorm1d)"]  # 1.2x < 1.5x
    assert "3.00x" in lines["word language model (2-layer LSTM, vocab 10k)"]
    assert lines["word language model (2-layer LSTM, vocab 10k)"].rstrip(" |").endswith("met")
    geomean = math.exp((7 * math.log(1.2) + math.log(3.0)) / 8)
    assert f"{geomean:.2f}x" in lines["geometric mean"] and "MISSED" in lines["geometric mean"]
