"""Sparse COO tensors: construction and its checks, conversions, the products with dense
matrices (against NumPy), their gradients (float64 finite differences) and arithmetic."""

from __future__ import annotations

import io

import numpy as np
import pytest

import democratising as dm

INDICES = [[0, 1, 1, 0], [2, 0, 2, 2]]  # (0, 2) stored twice: its values add
VALUES = [3.0, 4.0, 5.0, 1.0]
DENSE = np.array([[0.0, 0.0, 4.0], [4.0, 0.0, 5.0]])


def _adj(dtype=dm.float32) -> dm.sparse.SparseTensor:  # type: ignore[no-untyped-def]
    return dm.sparse_coo_tensor(INDICES, VALUES, (2, 3), dtype=dtype)


def test_construction_and_queries() -> None:
    a = _adj()
    assert a.is_sparse and a.layout == dm.sparse_coo and a.shape == (2, 3)
    assert a.size(1) == 3 and a.dim() == 2 and a.dtype == dm.float32
    assert a.sparse_dim() == 2 and a.dense_dim() == 0 and a._nnz() == 4
    assert not a.is_coalesced()
    np.testing.assert_array_equal(a.to_dense().numpy(), DENSE)
    # The size defaults to the smallest that holds every coordinate.
    assert dm.sparse_coo_tensor(INDICES, VALUES).shape == (2, 3)
    legacy = dm.sparse.FloatTensor(dm.tensor(INDICES), dm.tensor(VALUES, dtype=dm.float64), (2, 3))
    assert legacy.dtype == dm.float64  # (tensor values keep their dtype, as PyTorch 2's)
    assert dm.sparse.FloatTensor(INDICES, VALUES).dtype == dm.float32
    assert dm.sparse.FloatTensor(2, 3).shape == (2, 3) and dm.sparse.FloatTensor(2, 3)._nnz() == 0
    assert dm.sparse_coo_tensor((4, 5)).shape == (4, 5)
    assert dm.sparse_coo_tensor([[], []], [], (2, 3))._nnz() == 0
    one = dm.sparse_coo_tensor([[0], [1]], [5.0], (2, 2))
    assert one.is_coalesced() and one.indices().tolist() == [[0], [1]]
    small = dm.tensor([[0, 1]], dtype=dm.int16)
    assert dm.sparse_coo_tensor(small, [1.0, 2.0])._indices().dtype == dm.int64
    assert "nnz=4" in repr(a) and "sparse_coo" in repr(a)


def test_construction_refuses_bad_coordinates() -> None:
    with pytest.raises(IndexError):
        dm.sparse_coo_tensor(INDICES, VALUES, (2, 2))  # column 2 of 2
    with pytest.raises(IndexError):
        dm.sparse_coo_tensor([[0, -1]], [1.0, 2.0], (3,))
    with pytest.raises(RuntimeError):
        dm.sparse_coo_tensor(INDICES, VALUES[:3], (2, 3))  # 4 coordinates, 3 values
    with pytest.raises(RuntimeError):
        dm.sparse_coo_tensor([0.5, 1.0], [1.0, 2.0])


def test_coalesce_sums_duplicates_in_order() -> None:
    c = _adj().coalesce()
    assert c.is_coalesced()
    assert c.indices().tolist() == [[0, 1, 1], [2, 0, 2]]
    assert c.values().tolist() == [4.0, 4.0, 5.0]
    with pytest.raises(RuntimeError, match="coalesce"):
        _adj().indices()


def test_to_sparse_round_trips_with_dense_dims() -> None:
    x = dm.tensor([[0.0, 1.0], [0.0, 0.0], [2.0, 3.0]])
    s = x.to_sparse()
    assert s.indices().tolist() == [[0, 2, 2], [1, 0, 1]]
    np.testing.assert_array_equal(s.to_dense().numpy(), x.numpy())
    rows = x.to_sparse(1)  # whole rows kept dense
    assert rows.indices().tolist() == [[0, 2]] and rows.values().shape == (2, 2)
    np.testing.assert_array_equal(rows.to_dense().numpy(), x.numpy())
    assert x.to_sparse_coo().shape == (3, 2)


@pytest.mark.parametrize(
    "product",
    [
        lambda a, b: dm.sparse.mm(a, b),
        lambda a, b: dm.spmm(a, b),
        lambda a, b: dm.mm(a, b),
        lambda a, b: dm.matmul(a, b),
        lambda a, b: a @ b,
        lambda a, b: a.mm(b),
        lambda a, b: (b.t() @ a.t()).t(),
    ],
    ids=["sparse.mm", "spmm", "mm", "matmul", "matmul-op", "method", "dense-at-sparse"],
)
def test_products_match_numpy(product) -> None:  # type: ignore[no-untyped-def]
    b = np.arange(12.0).reshape(3, 4)
    out = product(_adj(dm.float64), dm.tensor(b))
    np.testing.assert_allclose(out.numpy(), DENSE @ b)


def test_matrix_vector_and_addmm() -> None:
    v = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose((_adj(dm.float64) @ dm.tensor(v)).numpy(), DENSE @ v)
    np.testing.assert_allclose(
        (dm.tensor([1.0, 2.0], dtype=dm.float64) @ _adj(dm.float64)).numpy(), [8.0, 0, 14]
    )
    b = np.ones((3, 2))
    out = dm.addmm(dm.ones(2, 2, dtype=dm.float64), _adj(dm.float64), dm.tensor(b))
    np.testing.assert_allclose(out.numpy(), 1.0 + DENSE @ b)
    out = dm.sparse.addmm(
        dm.ones(2, 2, dtype=dm.float64), _adj(dm.float64), dm.tensor(b), beta=0.5, alpha=2
    )
    np.testing.assert_allclose(out.numpy(), 0.5 + 2 * DENSE @ b)


def test_product_checks() -> None:
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        dm.sparse.mm(_adj(), dm.ones(2, 2))
    with pytest.raises(TypeError):
        dm.sparse.mm(_adj(), dm.ones(3, 2, dtype=dm.float64))


def test_gradients_reach_the_values_and_the_dense_operand() -> None:
    values = dm.tensor(VALUES, dtype=dm.float64, requires_grad=True)
    dense = dm.randn(3, 2, dtype=dm.float64, requires_grad=True)

    def product(v: dm.Tensor, d: dm.Tensor) -> dm.Tensor:
        return dm.sparse.mm(dm.sparse_coo_tensor(INDICES, v, (2, 3)), d)

    assert dm.autograd.gradcheck(product, (values, dense))
    assert dm.autograd.gradcheck(
        lambda v: dm.sparse_coo_tensor(INDICES, v, (2, 3)).to_dense(), (values,)
    )


def test_a_sparse_leaf_gets_a_sparse_grad() -> None:
    a = dm.sparse_coo_tensor(INDICES, VALUES, (2, 3), requires_grad=True)
    assert a.requires_grad and a.is_leaf
    (a @ dm.ones(3, 1)).sum().backward()
    # Each stored coordinate once (the duplicate (0, 2) is not counted twice), as PyTorch's.
    assert a.grad.is_sparse and a.grad.to_dense().tolist() == [[0.0, 0.0, 1.0], [1.0, 0.0, 1.0]]
    values = dm.tensor(VALUES, requires_grad=True)
    b = dm.sparse_coo_tensor(INDICES, values, (2, 3), requires_grad=True)
    (b @ dm.ones(3, 1)).sum().backward()
    assert values.grad.tolist() == [1.0] * 4  # (the graph to the values is kept)


def test_arithmetic() -> None:
    a = _adj(dm.float64)
    np.testing.assert_allclose((a * 2).to_dense().numpy(), 2 * DENSE)
    np.testing.assert_allclose((2 * a / 4).to_dense().numpy(), DENSE / 2)
    np.testing.assert_allclose((a + a).to_dense().numpy(), 2 * DENSE)
    np.testing.assert_allclose((a - a).to_dense().numpy(), 0 * DENSE)
    np.testing.assert_allclose((a + dm.ones(2, 3, dtype=dm.float64)).numpy(), DENSE + 1)
    masked = a * dm.tensor([[1.0, 1.0, 2.0]], dtype=dm.float64)
    np.testing.assert_allclose(masked.to_dense().numpy(), DENSE * [1, 1, 2])
    assert a.sum().item() == DENSE.sum()
    assert a.sum(1).to_dense().tolist() == DENSE.sum(1).tolist()
    assert (-a).to_dense().tolist() == (-DENSE).tolist()
    assert a.t().shape == (3, 2)
    np.testing.assert_allclose(a.t().to_dense().numpy(), DENSE.T)


def test_conversions() -> None:
    a = _adj()
    assert a.double().dtype == dm.float64 and a.to(dm.float64).dtype == dm.float64
    assert a.cpu().device == dm.device("cpu")
    assert a.detach().requires_grad is False
    c = a.clone()
    assert c._values().tolist() == VALUES


def test_empty() -> None:
    e = dm.sparse_coo_tensor(dm.zeros(2, 0, dtype=dm.int64), dm.zeros(0), (2, 3))
    assert e._nnz() == 0 and e.to_dense().tolist() == [[0.0] * 3] * 2
    assert e.coalesce()._nnz() == 0
    assert dm.sparse.mm(e, dm.ones(3, 2)).tolist() == [[0.0, 0.0]] * 2
    assert dm.zeros(2, 2).to_sparse()._nnz() == 0


def test_dense_first_products() -> None:
    a = dm.sparse_coo_tensor([[0, 1], [1, 0]], [1.0, 2.0], (2, 2))
    expected = [[2.0, 1.0], [2.0, 1.0]]
    for product in (dm.mm, dm.matmul, dm.sparse.mm, dm.sparse.matmul):
        assert product(dm.ones(2, 2), a).tolist() == expected
    batched = dm.ones(4, 5, 2) @ a
    assert batched.shape == (4, 5, 2) and batched[3, 4].tolist() == [2.0, 1.0]
    assert (a @ a).to_dense().tolist() == [[2.0, 0.0], [0.0, 2.0]]


def test_sparse_sums_and_products_stay_sparse() -> None:
    h = dm.sparse_coo_tensor([[0, 1], [1, 1]], [[1.0, 2.0], [3.0, 4.0]], (2, 2, 2))
    rows = h.sum(0)
    assert rows.is_sparse and (rows.sparse_dim(), rows.dense_dim()) == (1, 1)
    np.testing.assert_allclose(rows.to_dense().numpy(), h.to_dense().sum(0).numpy())
    assert not dm.sparse.sum(h, (0, 1)).is_sparse
    np.testing.assert_allclose(dm.sparse.sum(h, 2).to_dense().numpy(), h.to_dense().sum(2).numpy())
    a = _adj(dm.float64)
    b = dm.sparse_coo_tensor([[0, 1], [2, 1]], [2.0, 7.0], (2, 3), dtype=dm.float64)
    both = a * b
    assert both._nnz() == 1 and both.to_dense().tolist() == [[0, 0, 8.0], [0, 0, 0]]
    with pytest.raises(RuntimeError):
        a * dm.sparse_coo_tensor([[0]], [[1.0, 2.0, 3.0]], (2, 3), dtype=dm.float64)
    with pytest.raises(IndexError):
        a.transpose(0, 2)


def test_addmm_with_beta_zero_ignores_the_input() -> None:
    a = dm.sparse_coo_tensor([[0, 1], [1, 0]], [1.0, 2.0], (2, 2))
    out = dm.sparse.addmm(dm.full((2, 2), float("nan")), a, dm.ones(2, 2), beta=0)
    assert out.tolist() == [[1.0, 1.0], [2.0, 2.0]]


def test_a_custom_function_saves_a_sparse_tensor() -> None:
    class SpMM(dm.autograd.Function):
        @staticmethod
        def forward(ctx, a, b):  # type: ignore[no-untyped-def]
            ctx.save_for_backward(a, b)
            return dm.sparse.mm(a, b)

        @staticmethod
        def backward(ctx, g):  # type: ignore[no-untyped-def]
            a, _ = ctx.saved_tensors
            return None, dm.sparse.mm(a.t(), g)

    b = dm.ones(3, 2, requires_grad=True)
    SpMM.apply(_adj(), b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), DENSE.T @ np.ones((2, 2)))


def test_zero_sparse_dims() -> None:
    s = dm.tensor(3.0).to_sparse()
    assert s.to_dense().item() == 3.0
    with pytest.raises(ValueError):
        dm.ones(2, 2).to_sparse(0)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_over_the_stored_entries(dim: int) -> None:
    indices, values = [[0, 0, 1, 2, 2, 2], [0, 2, 1, 0, 1, 2]], [1.0, 2.0, 3.0, -1.0, 0.5, 4.0]
    a = dm.sparse_coo_tensor(indices, values, (3, 3), dtype=dm.float64)
    # Reference: a dense softmax with the unstored entries at -inf (NaN-free: none is empty).
    dense = np.full((3, 3), -np.inf)
    dense[tuple(indices)] = values
    e = np.exp(dense - dense.max(axis=dim, keepdims=True))
    expected = e / e.sum(axis=dim, keepdims=True)
    out = dm.sparse.softmax(a, dim)
    assert out.is_sparse and out._nnz() == 6
    np.testing.assert_allclose(out.to_dense().numpy(), expected, rtol=1e-12)
    logs = dm.sparse.log_softmax(a, dim)._values().numpy()
    np.testing.assert_allclose(logs, np.log(expected[tuple(indices)]), rtol=1e-12)

    def probabilities(v: dm.Tensor) -> dm.Tensor:
        return dm.sparse.softmax(dm.sparse_coo_tensor(indices, v, (3, 3)), dim).to_dense()

    leaf = dm.tensor(values, dtype=dm.float64, requires_grad=True)
    assert dm.autograd.gradcheck(probabilities, (leaf,))


def test_softmax_of_a_hybrid_tensor_normalises_each_dense_column() -> None:
    values = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 4.0]])
    h = dm.sparse_coo_tensor([[0, 2, 3]], values, (4, 2), dtype=dm.float64)
    out = dm.sparse.softmax(h, 0, dm.float64)._values().numpy()
    # One sparse dim: the three entries form one group, normalised per dense column.
    e = np.exp(values - values.max(0))
    np.testing.assert_allclose(out, e / e.sum(0), rtol=1e-12)


def test_sparse_sum_dims() -> None:
    s = dm.sparse_coo_tensor([[0, 1], [1, 1]], [1.0, 2.0], (2, 2))
    assert s.sum(np.int64(1)).to_dense().tolist() == [1.0, 2.0]
    with pytest.raises(ValueError):
        s.sum((0, -2))


# ---- sparse tensors as module buffers and in saved files --------------------------------------


class _GraphModel(dm.nn.Module):
    def __init__(self, adj: object) -> None:
        super().__init__()
        self.lin = dm.nn.Linear(3, 2)
        self.register_buffer("adj", adj)

    def forward(self, x: dm.Tensor) -> dm.Tensor:
        return self.lin(dm.sparse.mm(self.adj, x))


def _adjacency() -> object:
    return dm.sparse_coo_tensor(
        dm.tensor([[0, 1, 2, 2], [1, 2, 0, 2]]), dm.tensor([1.0, 2.0, 3.0, 4.0]), (3, 3)
    )


def test_a_sparse_buffer_converts_saves_and_loads_with_its_module(tmp_path) -> None:  # type: ignore[no-untyped-def]
    m = _GraphModel(_adjacency())
    assert m.adj.is_sparse and m.state_dict()["adj"].is_sparse
    x = dm.randn(3, 3)
    dm.save(m.state_dict(), tmp_path / "g.pt")
    state = dm.load(tmp_path / "g.pt")
    assert state["adj"].is_sparse and not state["adj"].is_coalesced()  # kept as it was
    buf = io.BytesIO()
    dm.save({"a": m.adj.coalesce()}, buf)
    buf.seek(0)
    assert dm.load(buf)["a"].is_coalesced()
    np.testing.assert_array_equal(state["adj"].to_dense().numpy(), m.adj.to_dense().numpy())
    empty = dm.sparse_coo_tensor(dm.zeros(2, 0, dtype=dm.int64), dm.zeros(0), (3, 3))
    m2 = _GraphModel(empty)
    m2.load_state_dict(state)
    assert m2.adj._nnz() == 4  # the loaded entries replace the buffer's, as PyTorch's copy_
    np.testing.assert_allclose(m2(x).detach().numpy(), m(x).detach().numpy(), rtol=1e-6)
    assert m2.double().adj.dtype == dm.float64
    dense = _GraphModel(dm.zeros(3, 3))
    dense.load_state_dict(state)  # into a dense buffer: the entries written dense
    np.testing.assert_array_equal(dense.adj.numpy(), m.adj.to_dense().numpy())
    copy = __import__("copy").deepcopy(m)
    assert copy.adj.is_sparse and copy.adj._values() is not m.adj._values()


def test_a_damaged_sparse_entry_is_a_checkpoint_error() -> None:
    from democratising import serialization

    packer = serialization._Packer()
    node = packer.pack(_adjacency(), "adj")
    node["size"] = [2, 2]  # coordinates beyond it
    with pytest.raises(dm.CheckpointError, match="sparse"):
        serialization._Unpacker(packer.tensors, None).unpack(node)
    node["size"] = "3x3"
    with pytest.raises(dm.CheckpointError, match="sparse"):
        serialization._Unpacker(packer.tensors, None).unpack(node)


def test_dense_parts_broadcasts_a_sparse_buffer_through_its_values() -> None:
    from democratising.sparse._coo import dense_parts

    adj, w = _adjacency(), dm.ones(2)
    parts = dense_parts([w, adj])
    assert parts[0] is w and parts[1] is adj._values()


def test_a_training_checkpoint_keeps_a_sparse_buffer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from democratising.checkpoint import load_checkpoint, save_checkpoint

    m = _GraphModel(_adjacency())
    save_checkpoint(tmp_path / "c.safetensors", m, epoch=1)
    empty = dm.sparse_coo_tensor(dm.zeros(2, 0, dtype=dm.int64), dm.zeros(0), (3, 3))
    m2 = _GraphModel(empty)
    load_checkpoint(tmp_path / "c.safetensors", m2)
    assert m2.adj.is_sparse
    np.testing.assert_array_equal(m2.adj.to_dense().numpy(), m.adj.to_dense().numpy())
