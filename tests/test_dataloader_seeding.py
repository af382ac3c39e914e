"""Loader worker threads draw from generators of their own, seeded ``base_seed + id`` as
PyTorch seeds its worker processes: random ``__getitem__`` draws are reproducible under
``manual_seed`` with ``num_workers > 0``, ``get_worker_info()`` describes the worker, and the
main thread's own stream is not disturbed by the workers' draws."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

import democratising as dm
from democratising.data import DataLoader, Dataset, get_worker_info


class Noisy(Dataset):
    def __init__(self) -> None:
        self.seen: list[Any] = []
        self.lock = threading.Lock()

    def __len__(self) -> int:
        return 48

    def __getitem__(self, i: int) -> dm.Tensor:
        info = get_worker_info()
        with self.lock:
            self.seen.append(info)
        return dm.rand(3) + i


def run(seed: int, workers: int = 2, persistent: bool = True, **kw: Any) -> list[np.ndarray]:
    dm.manual_seed(seed)
    loader = DataLoader(
        Noisy(), batch_size=4, num_workers=workers, persistent_workers=persistent, **kw
    )
    batches = [b.numpy() for b in loader] + [b.numpy() for b in loader]
    batches.append(dm.rand(2).numpy())  # the main thread's next draw
    return batches


@pytest.mark.parametrize("persistent", [True, False])
def test_random_items_are_reproducible_with_worker_threads(persistent: bool) -> None:
    a, b = run(7, persistent=persistent), run(7, persistent=persistent)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = run(8, persistent=persistent)
    assert not np.array_equal(a[0], c[0])


def test_worker_info_and_a_worker_init_fn_that_reseeds() -> None:
    ds = Noisy()
    dm.manual_seed(3)
    list(DataLoader(ds, batch_size=4, num_workers=3))
    infos = {i.id: i for i in ds.seen}
    assert sorted(infos) == [0, 1, 2]
    assert all(i.num_workers == 3 for i in infos.values())
    # Each worker's own shallow copy of the dataset, as PyTorch's worker processes hold one.
    assert all(i.dataset is not ds and i.dataset.seen is ds.seen for i in infos.values())
    assert len({i.seed - i.id for i in infos.values()}) == 1  # base_seed + id
    assert get_worker_info() is None

    def reseed(worker_id: int) -> None:
        dm.manual_seed(100 + worker_id)

    a = run(5, worker_init_fn=reseed)
    b = run(6, worker_init_fn=reseed)  # the workers' own seeds decide their draws
    for x, y in zip(a[:-1], b[:-1]):
        np.testing.assert_array_equal(x, y)


def test_the_main_threads_stream_is_not_consumed_by_the_workers() -> None:
    dm.manual_seed(11)
    loader = DataLoader(Noisy(), batch_size=4, num_workers=2)
    it = iter(loader)
    next(it)
    after_start = dm.rand(4).numpy()
    list(it)
    dm.manual_seed(11)  # starting the workers took no draw from the main generator
    np.testing.assert_array_equal(after_start, dm.rand(4).numpy())


def test_non_persistent_workers_draw_anew_each_epoch() -> None:
    dm.manual_seed(4)
    loader = DataLoader(Noisy(), batch_size=4, num_workers=2, persistent_workers=False)
    first, second = [b.numpy() for b in loader], [b.numpy() for b in loader]
    assert not np.array_equal(first[0], second[0])
