"""``democratising bench`` prints a table with every benchmark row."""

from __future__ import annotations

import pytest

from democratising.cli import main


def test_bench_prints_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench"]) == 0
    out = capsys.readouterr().out
    for row in ("sgemm 1024", "a + b, 1 element", "MLP step, batch 32"):
        assert row in out
