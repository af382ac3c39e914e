"""``torch.autograd.profiler`` (the legacy profiler's names) over ``democratising.profiler``:
``profile(enabled=..., use_cuda=...)`` as a ``with`` block, ``record_function`` regions,
``function_events`` and ``table()``."""

from __future__ import annotations

from democratising.autograd.profiler import EventList, profile, record_function

import democratising as dm


def _step(model: dm.nn.Module) -> None:
    model(dm.randn(2, 4)).sum().backward()


def test_records_regions_and_module_forwards():
    model = dm.nn.Linear(4, 3)
    with dm.autograd.profiler.profile(use_cuda=True, record_shapes=True) as prof:
        with record_function("train_step"):
            _step(model)
    names = {e.name for e in prof.function_events}
    assert {"train_step", "nn.Module: Linear"} <= names
    assert isinstance(prof.key_averages(), EventList)
    table = prof.table(sort_by="self_cpu_time_total", row_limit=5)
    assert "train_step" in table and "Self CPU time total" in table


def test_disabled_profile_records_nothing():
    model = dm.nn.Linear(4, 3)
    with profile(enabled=False) as prof:
        with record_function("ignored"):
            _step(model)
    assert len(prof.function_events) == 0


def test_importable_as_pytorch_names_it():
    import democratising.autograd.profiler as legacy

    assert legacy.profile is profile and legacy.record_function is dm.profiler.record_function
