"""``democratising bench`` prints a table with every benchmark row; benches/bench_train.py's
GPT cases run (shrunk) and report."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

from democratising.cli import main


def test_bench_prints_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench"]) == 0
    out = capsys.readouterr().out
    for row in ("sgemm 1024", "a + b, 1 element", "MLP step, batch 32"):
        assert row in out


def _bench_train() -> ModuleType:
    path = Path(__file__).resolve().parent.parent / "benches" / "bench_train.py"
    spec = importlib.util.spec_from_file_location("bench_train", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_train"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_bench_train_gpt_worker_runs(precision: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """benches/bench_train.py's democratising GPT step, shrunk to a tiny model."""
    bench = _bench_train()
    monkeypatch.setitem(bench.GPT_SIZES, "gpt_small", (1, 2, 16, 8))
    res = bench.run_case("democratising", bench.Case("gpt_small", 2, precision), 1, 0.01)
    assert res["case"] == f"gpt_small:2:{precision}"
    assert math.isfinite(res["loss"]) and res["us"] > 0


def test_bench_train_gpt_report() -> None:
    bench = _bench_train()
    cases = bench.GPT_CASES + bench.GPT_MEMORY_CASES
    assert {c.model for c in cases} == set(bench.GPT_SIZES)
    assert all(bench.Case.parse(c.key) == c for c in cases)
    results = {}
    for case in cases:
        for fw in bench.gpt_frameworks(case, list(bench.FRAMEWORKS)):
            fake = {"us": 1e5, "us_median": 1.1e5, "peak_kib": 200_000, "rss_import_kib": 50_000}
            results[(fw, case.key)] = fake
    text = "\n".join(bench.gpt_report(results))
    for name in ("GPT-small 4L/4H/128, block 128", "GPT-mid 6L/6H/384, block 256", "block 1024"):
        assert name in text
    assert "1.00x" in text  # democratising against itself: equal times and peaks
    full = bench.report(results, {}, {"democratising": "0"}, 2)
    assert "GPT training step" in full and "MLP 784-128-10" not in full  # only what ran
    results[("democratising", bench.FP32_CASES[0].key)] = {**fake, "us": 100.0}
    assert "MLP 784-128-10" in bench.report(results, {}, {"democratising": "0"}, 2)
