"""``Tensor.share_memory_`` and ``Module.share_memory``: data in shared memory, seen by
processes forked afterwards (Hogwild training), values and identities kept."""

import multiprocessing
import sys

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
