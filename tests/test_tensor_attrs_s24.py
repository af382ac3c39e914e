"""Instance attributes on plain tensors and ``Tensor.as_subclass``, as in PyTorch."""

import copy
import pickle

import pytest

import democratising as dm


def test_plain_tensor_takes_attributes_and_keeps_them_through_pickle_and_copies():
    t = dm.arange(3.0)
    t.tag = {"kind": "mask"}
    assert t.tag == {"kind": "mask"}
    assert t.__dict__ == {"tag": {"kind": "mask"}}
    for other in (pickle.loads(pickle.dumps(t)), copy.deepcopy(t), copy.copy(t)):
        assert other.tag == {"kind": "mask"}
        assert other.tolist() == [0.0, 1.0, 2.0]
    assert copy.deepcopy(t).tag is not t.tag
    with pytest.raises(AttributeError):
        dm.arange(3.0).tag  # noqa: B018 (another tensor has no such attribute)


class _Tagged(dm.Tensor):
    init_calls = 0

    def __init__(self, *args):
        type(self).init_calls += 1


def test_as_subclass_shares_data_and_graph_without_running_init():
    x = dm.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (x * 2).as_subclass(_Tagged)
    assert type(y) is _Tagged and _Tagged.init_calls == 0
    assert y.requires_grad and y.grad_fn is not None
    (y * y).sum().backward()
    assert x.grad.tolist() == [8.0, 16.0, 24.0]

    base = dm.zeros(2)
    alias = base.as_subclass(_Tagged)
    alias.add_(1.0)
    assert base.tolist() == [1.0, 1.0]
    plain = dm.nn.Parameter(dm.ones(2)).as_subclass(dm.Tensor)
    assert type(plain) is dm.Tensor and plain.requires_grad


def test_as_subclass_refuses_a_class_that_is_not_a_tensor():
    with pytest.raises(TypeError, match="subclass of Tensor"):
        dm.ones(1).as_subclass(int)


def test_legacy_new_follows_the_tensor_dtype_and_reads_sizes_or_data():
    x = dm.ones(2, dtype=dm.float64)
    assert x.new().shape == (0,) and x.new().dtype == dm.float64
    assert x.new(3, 1).shape == (3, 1) and x.new(3, 1).dtype == dm.float64
    assert x.new(dm.Size([2, 2])).shape == (2, 2)
    assert x.new((2, 3)).tolist() == [2.0, 3.0]  # a tuple is data, as in PyTorch
    assert x.new([1, 2]).dtype == dm.float64
    assert x.new(dm.arange(3)).tolist() == [0.0, 1.0, 2.0]
    assert dm.ones(1, dtype=dm.int64).new([2**40, 3]).tolist() == [2**40, 3]
    with pytest.raises(TypeError):
        x.new([1.0], 2)
