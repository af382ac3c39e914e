"""``democratising.utils.benchmark``: PyTorch's ``Timer``/``Measurement``/``Compare``."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm
from democratising.utils import benchmark as bm


def counting_timer(step: float):
    """A fake clock advancing ``step`` seconds per reading, so timings are exact."""
    now = [0.0]

    def clock() -> float:
        now[0] += step
        return now[0]

    return clock


def test_timeit_runs_the_statement_number_times_in_its_globals_after_setup():
    calls: list[int] = []
    m = bm.Timer("f(y)", setup="y = 3", globals={"f": calls.append}).timeit(500)
    # A warm-up of max(number // 100, 2) runs, then the timed block.
    assert calls == [3] * (5 + 500)
    assert m.number_per_run == 500 and len(m.raw_times) == 1
    assert m.times == [m.raw_times[0] / 500]
    assert m.median == m.mean == m.times[0] > 0


def test_statement_sees_democratising_as_torch_unless_given():
    x = dm.ones(3)
    m = bm.Timer("torch.add(x, x)", globals={"x": x}).timeit(10)
    assert m.stmt == "torch.add(x, x)"
    seen = []
    bm.Timer("seen.append(torch)", globals={"seen": seen, "torch": 7}).timeit(1)
    assert set(seen) == {7}


def test_callable_statement_and_fake_clock():
    m = bm.Timer(lambda: None, timer=counting_timer(0.5)).timeit(4)
    assert m.raw_times == [0.5] and m.times == [0.125]
    assert m.stmt == "test_callable_statement_and_fake_clock.<locals>.<lambda>"


def test_blocked_autorange_runs_blocks_until_min_run_time():
    seen: list[tuple[int, float]] = []
    m = bm.Timer("x = 1").blocked_autorange(
        callback=lambda n, t: seen.append((n, t)), min_run_time=0.02
    )
    assert sum(m.raw_times) >= 0.02
    assert len(seen) == len(m.raw_times) and all(n == m.number_per_run for n, _ in seen)
    assert m.number_per_run >= 10  # grown until the clock's overhead is negligible


def test_adaptive_autorange_stops_once_confident_or_at_max_run_time():
    m = bm.Timer("x = 1").adaptive_autorange(threshold=0.5, max_run_time=2.0)
    assert len(m.times) > 3 and (m.meets_confidence(0.5) or sum(m.raw_times) > 2.0)


def test_statistics_are_numpys_quantiles():
    spec = bm.TaskSpec(stmt="s", setup="pass", label="L", sub_label="sub", num_threads=2)
    raw = [4.0, 1.0, 3.0, 2.0, 10.0]
    m = bm.Measurement(number_per_run=2, raw_times=raw, task_spec=spec)
    t = np.array(raw) / 2
    assert m.times == list(t)
    assert m.median == pytest.approx(np.median(t)) and m.mean == pytest.approx(t.mean())
    assert m.iqr == pytest.approx(np.quantile(t, 0.75) - np.quantile(t, 0.25))
    assert m.meets_confidence(1.0) and not m.meets_confidence(0.1) and m.has_warnings
    assert 1 <= m.significant_figures <= 4
    assert (m.label, m.sub_label, m.num_threads, m.title) == ("L", "sub", 2, "L: sub")
    assert m.env == "Unspecified env" and m.as_row_name == "sub"
    with pytest.raises(AttributeError):
        m.nope  # noqa: B018


def test_repr_has_pytorchs_lines():
    spec = bm.TaskSpec(stmt="x + y", setup="pass", description="small")
    one = bm.Measurement(100, [2.5e-4], spec)
    lines = repr(one).splitlines()
    assert lines[0].startswith("<democratising.utils.benchmark.Measurement object at")
    assert lines[1:] == ["x + y", "small", "  2.50 us", "  1 measurement, 100 runs , 1 thread"]
    many = repr(bm.Measurement(10, [1e-3, 1e-3, 1.1e-3, 1e-3, 1e-3], spec)).splitlines()
    assert many[3] == "  Median: 100.00 us"
    assert many[4].startswith("  IQR:    0.00 us (100.00 to 100.00)")
    assert many[5] == "  5 measurements, 10 runs per measurement, 1 thread"


def test_merge_pools_replicates_of_a_task():
    a, b = bm.TaskSpec("a", "pass"), bm.TaskSpec("b", "pass")
    merged = bm.Measurement.merge(
        [bm.Measurement(2, [2.0], a), bm.Measurement(1, [3.0], b), bm.Measurement(4, [4.0], a)]
    )
    assert [(m.stmt, m.number_per_run, m.raw_times) for m in merged] == [
        ("a", 1, [1.0, 1.0]),
        ("b", 1, [3.0]),
    ]


def test_compare_lays_out_rows_columns_and_thread_groups():
    def m(sub, desc, seconds, threads=1):
        spec = bm.TaskSpec(
            "s", "pass", label="add", sub_label=sub, description=desc, num_threads=threads
        )
        return bm.Measurement(1, [seconds], spec)

    c = bm.Compare([m("10", "dm", 1e-6), m("10", "torch", 2e-6), m("100", "torch", 3e-6, 2)])
    text = str(c).splitlines()
    assert text[0].startswith("[") and " add " in text[0] and text[0].endswith("]")
    assert text[1].split("|")[1].strip() == "dm" and text[1].split("|")[2].strip() == "torch"
    assert text[2].startswith("1 threads: ---")
    assert [cell.strip() for cell in text[3].split("|")] == ["10", "1.0", "2.0"]
    assert text[4].startswith("2 threads: ---")
    assert [cell.strip() for cell in text[5].split("|")] == ["100", "", "3.0"]
    assert text[-1] == "Times are in microseconds (us)."
    c.colorize()
    assert "\033[" in str(c)
    with pytest.raises(TypeError):
        c.extend_results([1.0])


def test_num_threads_is_pinned_while_timing_and_restored():
    before = dm.get_num_threads()
    seen: list[int] = []
    bm.Timer("seen.append(torch.get_num_threads())", globals={"seen": seen}, num_threads=1).timeit(
        3
    )
    assert set(seen) == {1} and dm.get_num_threads() == before


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        bm.Timer("x", language="c++")
    with pytest.raises(ValueError):
        bm.Timer("x", num_threads=0)
    with pytest.raises(SyntaxError):
        bm.Timer("x +")


def test_helpers():
    assert bm.select_unit(3e-5) == ("us", 1e-6) and bm.select_unit(2.0) == ("s", 1.0)
    assert bm.select_unit(5e-10)[0] == "ns" and bm.unit_to_english("ms") == "millisecond"
    assert bm.trim_sigfig(3.14159, 2) == pytest.approx(3.1)
    assert dm.utils.benchmark is bm
