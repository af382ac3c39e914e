"""The faster paths of ``named_modules``, ``state_dict``, ``F.embedding``, ``tensor`` and
``clip_grad_norm_`` give what the slower ones did (expected values from PyTorch 2.15)."""

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import nn


class _Shared(nn.Module):
    """A submodule held under two names, a non-persistent buffer and an empty parameter slot."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(2, 2)
        self.b = nn.Sequential(self.a, nn.ReLU())
        self.register_buffer("rb", dm.zeros(1))
        self.register_buffer("np_", dm.ones(1), persistent=False)
        self.register_parameter("none_p", None)


def test_named_modules_order_duplicates_prefix_and_memo() -> None:
    m = _Shared()
    assert [n for n, _ in m.named_modules()] == ["", "a", "b", "b.1"]
    assert [n for n, _ in m.named_modules(remove_duplicate=False)] == ["", "a", "b", "b.0", "b.1"]
    assert [n for n, _ in m.named_modules(prefix="root")] == [
        "root",
        "root.a",
        "root.b",
        "root.b.1",
    ]
    memo = {m.a}
    assert [n for n, _ in m.named_modules(memo=memo)] == ["", "b", "b.1"]
    assert memo == {m, m.a, m.b, m.b[1]}
    assert list(m.named_modules(memo={m})) == []


def test_named_modules_sees_children_added_while_walking() -> None:
    # A child's submodules are read when the walk reaches it, as the recursive walk did.
    outer = nn.Sequential(nn.Sequential(), nn.ReLU())
    names = []
    for n, mod in outer.named_modules():
        names.append(n)
        if n == "0":
            mod.add_module("late", nn.Tanh())
    assert names == ["", "0", "0.late", "1"]


def test_state_dict_keys_metadata_and_values() -> None:
    m = _Shared()
    sd = m.state_dict(prefix="p.")
    assert list(sd) == ["p.rb", "p.a.weight", "p.a.bias", "p.b.0.weight", "p.b.0.bias"]
    assert list(sd._metadata) == ["p", "p.a", "p.b", "p.b.0", "p.b.1"]
    assert sd["p.b.0.weight"] is not m.a.weight and not sd["p.a.weight"].requires_grad
    np.testing.assert_array_equal(sd["p.a.weight"].numpy(), m.a.weight.detach().numpy())
    kept = m.state_dict(keep_vars=True)
    assert kept["a.weight"] is m.a.weight and kept["b.0.weight"] is m.a.weight
    dest: dict = {"x": 1}
    assert m.state_dict(destination=dest) is dest and next(iter(dest)) == "x"


def test_state_dict_hooks_and_extra_state_still_used() -> None:
    class Extra(nn.Linear):
        def get_extra_state(self) -> int:
            return 7

    m = nn.Sequential(nn.ReLU(), Extra(1, 1))
    assert list(m.state_dict()) == ["1.weight", "1.bias", "1._extra_state"]
    seen = []
    m2 = nn.Sequential(nn.Linear(1, 1))
    m2[0].register_state_dict_pre_hook(lambda mod, prefix, keep: seen.append(prefix))
    assert list(m2.state_dict()) == ["0.weight", "0.bias"] and seen == ["0."]


def test_embedding_values_and_errors() -> None:
    dm.manual_seed(0)
    w = dm.randn(5, 3, requires_grad=True)
    ids = dm.tensor([[1, 4], [0, 1]])
    out = F.embedding(ids, w)
    np.testing.assert_array_equal(out.detach().numpy(), w.detach().numpy()[[[1, 4], [0, 1]]])
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[:, 0], [1.0, 2.0, 0.0, 0.0, 1.0])
    with pytest.raises(dm.IndexOutOfRangeError, match="embedding index 7 is out of range for 5"):
        F.embedding(dm.tensor([1, 7]), w)
    with pytest.raises(dm.IndexOutOfRangeError, match="embedding index -1 is out of range"):
        F.embedding(dm.tensor([1, -1]), w)
    # A bad index is reported before a bad padding_idx, as before.
    with pytest.raises(dm.IndexOutOfRangeError, match="embedding index 7"):
        F.embedding(dm.tensor([1, 7]), w, padding_idx=10)
    with pytest.raises(dm.IndexOutOfRangeError, match="Padding_idx must be within"):
        F.embedding(dm.tensor([1, 2]), w, padding_idx=10)
    with pytest.raises(dm.IndexOutOfRangeError, match="embedding index 9"):
        F.embedding(dm.tensor([1, 9]), w.detach().clone(), max_norm=0.5)
    with pytest.raises(dm.DTypeError):
        F.embedding(dm.tensor([True, False]), w)


def test_embedding_padding_and_frequency_gradients() -> None:
    w = dm.ones(5, 2, requires_grad=True)
    F.embedding(dm.tensor([1, 2, 1]), w, padding_idx=-4).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[:, 0], [0.0, 0.0, 1.0, 0.0, 0.0])
    w.grad = None
    F.embedding(dm.tensor([1, 2, 1]), w, scale_grad_by_freq=True).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[:, 0], [0.0, 1.0, 1.0, 0.0, 0.0])


def test_tensor_from_lists_and_arrays() -> None:
    assert dm.tensor([1.0, 2, 3]).dtype == dm.float32
    assert dm.tensor([np.float64(1.5), 2.0]).dtype == dm.float64
    assert dm.tensor([[1.0, 2.0], [np.float64(3.0), 4.0]]).dtype == dm.float64
    assert dm.tensor([[[1.0]], ([np.float64(2.0)],)]).dtype == dm.float64
    assert dm.tensor([(1.0, 2.0), [3.0, np.float32(4.0)]]).dtype == dm.float32
    assert dm.tensor([[1.0], [np.array([2.0])[0]]]).dtype == dm.float64
    assert dm.tensor([True, 1, 2.5]).dtype == dm.float32
    src = np.arange(6.0).reshape(2, 3)
    t = dm.tensor(src)
    src[0, 0] = 99.0  # a copy: the source's later writes are not seen
    assert t[0, 0].item() == 0.0
    f = np.asfortranarray(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(dm.tensor(f).numpy(), f)
    assert dm.tensor(2.5).shape == ()


def test_clip_grad_norm_values() -> None:
    # torch.nn.utils.clip_grad_norm_ of these gradients: 5.0 (float32) and 13.0 (float64)
    p = dm.zeros(2, requires_grad=True)
    q = dm.zeros(1, requires_grad=True)
    p.grad, q.grad = dm.tensor([3.0, 0.0]), dm.tensor([4.0])
    total = nn.utils.clip_grad_norm_([p, q], 1.0)
    assert total.dtype == dm.float32 and total.item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.0], rtol=1e-5)
    r = dm.zeros(2, dtype=dm.float64, requires_grad=True)
    r.grad = dm.tensor([5.0, 12.0], dtype=dm.float64)
    total = nn.utils.clip_grad_norm_([r], 100.0)
    assert total.dtype == dm.float64 and total.item() == 13.0
    np.testing.assert_array_equal(r.grad.numpy(), [5.0, 12.0])
