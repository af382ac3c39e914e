"""``Tensor.share_memory_`` and ``Module.share_memory``: data in shared memory, seen by
processes forked afterwards (Hogwild training), values and identities kept."""

import multiprocessing
import pickle
import sys
from typing import Any

import numpy as np
import pytest

import democratising as dm

fork_only = pytest.mark.skipif(sys.platform != "linux", reason="needs the fork start method")


def test_share_memory_keeps_values_object_and_flags() -> None:
    for dtype in (dm.float32, dm.float64, dm.bfloat16, dm.int64, dm.bool):
        x = dm.arange(6).reshape(2, 3).to(dtype)
        before = x.float().tolist()
        assert not x.is_shared()
        assert x.share_memory_() is x
        assert x.is_shared() and x.dtype == dtype and x.shape == (2, 3)
        assert x.float().tolist() == before
    p = dm.nn.Parameter(dm.ones(3))
    p.share_memory_()
    assert p.requires_grad and p.is_leaf and p.is_shared()
    assert dm.zeros(0).share_memory_().is_shared()


def test_module_share_memory_keeps_parameters_and_trains() -> None:
    m = dm.nn.Sequential(dm.nn.Linear(3, 4), dm.nn.BatchNorm1d(4))
    opt = dm.optim.SGD(m.parameters(), lr=0.1)
    m(dm.randn(5, 3)).pow(2).sum().backward()  # (a plain sum through BatchNorm has 0 gradient)
    params = list(m.parameters())
    assert m.share_memory() is m
    assert all(p.is_shared() for p in m.parameters()) and all(b.is_shared() for b in m.buffers())
    assert all(p.grad is not None and p.grad.is_shared() for p in m.parameters())
    assert [id(p) for p in m.parameters()] == [id(p) for p in params]
    w = m[0].weight.detach().clone()
    opt.step()
    assert not dm.equal(m[0].weight, w)


def _fill(t: dm.Tensor) -> None:
    with dm.no_grad():
        t.fill_(7.0)


@fork_only
def test_forked_process_writes_are_seen() -> None:
    m = dm.nn.Linear(3, 2).share_memory()
    ctx = multiprocessing.get_context("fork")
    p = ctx.Process(target=_fill, args=(m.weight,))
    p.start()
    p.join(30)
    assert p.exitcode == 0
    np.testing.assert_array_equal(m.weight.detach().numpy(), np.full((2, 3), 7.0, np.float32))
    # without shared memory the child's write stays in the child
    q = dm.nn.Linear(3, 2)
    before = q.weight.detach().clone()
    c = ctx.Process(target=_fill, args=(q.weight,))
    c.start()
    c.join(30)
    assert dm.equal(q.weight, before)


# ---- between processes: spawn / forkserver arguments, queues (PyTorch's reductions) ----------


def _step_and_report(model: dm.nn.Module, q: Any) -> None:
    q.put((type(model.weight).__name__, model.weight.is_shared(), model.weight.requires_grad))
    opt = dm.optim.SGD(model.parameters(), lr=0.5)
    model(dm.ones(4, 3)).pow(2).sum().backward()
    opt.step()


def _triple(qin: Any, qout: Any) -> None:
    t = qin.get()
    t.mul_(3)
    qout.put(t.is_shared())


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_hogwild_worker_started_with_spawn_steps_the_parents_parameters(method: str) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    ctx = multiprocessing.get_context(method)
    model = dm.nn.Linear(3, 2).share_memory()
    before = model.weight.detach().clone()
    q = ctx.Queue()
    p = ctx.Process(target=_step_and_report, args=(model, q))
    p.start()
    report = q.get(timeout=60)
    p.join(60)
    assert p.exitcode == 0
    assert report == ("Parameter", True, True)
    assert not dm.equal(model.weight, before)  # the child's optimizer step is seen here


def test_tensor_sent_through_a_queue_shares_its_memory_with_the_receiver() -> None:
    ctx = multiprocessing.get_context("spawn")
    qin, qout = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=_triple, args=(qin, qout))
    p.start()
    u = dm.ones(2, 2, dtype=dm.bfloat16)
    qin.put(u)
    assert qout.get(timeout=60) is True
    p.join(60)
    assert p.exitcode == 0
    assert u.is_shared()  # moved into shared memory when sent, as PyTorch's
    assert u.float().tolist() == [[3.0, 3.0], [3.0, 3.0]]


def test_multiprocessing_pickle_of_a_shared_tensor_maps_the_same_pages() -> None:
    from multiprocessing.reduction import ForkingPickler

    x = dm.arange(6.0).reshape(2, 3).share_memory_()
    p = dm.nn.Parameter(dm.zeros(2))
    y, q = pickle.loads(ForkingPickler.dumps((x[1], p)))  # (a row: its own offset)
    assert y.tolist() == [3.0, 4.0, 5.0] and y.is_shared()
    y.add_(10)
    assert x.tolist() == [[0.0, 1.0, 2.0], [13.0, 14.0, 15.0]]
    assert isinstance(q, dm.nn.Parameter) and q.requires_grad and q.is_leaf and p.is_shared()


def test_plain_pickle_and_views_still_copy() -> None:
    from multiprocessing.reduction import ForkingPickler

    x = dm.arange(4.0).share_memory_()
    y = pickle.loads(pickle.dumps(x))
    y.add_(1)
    assert x.tolist() == [0.0, 1.0, 2.0, 3.0] and not y.is_shared()
    base = dm.arange(6.0)
    view = base.reshape(2, 3).t()  # not contiguous: sent by value, base left where it was
    z = pickle.loads(ForkingPickler.dumps(view))
    assert z.tolist() == view.tolist() and not base.is_shared()
    w = dm.ones(2, requires_grad=True) * 2  # a non-leaf: by value, its graph stays behind
    assert pickle.loads(ForkingPickler.dumps(w)).tolist() == [2.0, 2.0]
