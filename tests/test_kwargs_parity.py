"""PyTorch's keyword and call forms for the Python-level functions (input=, axis=/keepdims=,
size=, varargs dims, torch.split's tensor=), checked against NumPy."""

import numpy as np
import pytest

import democratising as dm

A = np.arange(6, dtype=np.float32).reshape(2, 3) - 2.5


def t() -> dm.Tensor:
    return dm.tensor(A.copy())


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: dm.tril(input=t(), diagonal=0), np.tril(A)),
        (lambda: dm.sort(input=t(), dim=1, descending=True).values, -np.sort(-A, 1)),
        (lambda: dm.isnan(input=t()), np.isnan(A)),
        (lambda: dm.cumsum(input=t(), dim=0), np.cumsum(A, 0)),
        (lambda: dm.subtract(input=t(), other=t()), A - A),
        (lambda: dm.multiply(input=t(), other=t()), A * A),
        (lambda: dm.divide(input=t(), other=2.0), A / 2),
        (lambda: dm.det(input=dm.tensor([[2.0, 1.0], [1.0, 3.0]])), np.float32(5.0)),
        (lambda: dm.diagonal(input=t(), offset=1), np.diagonal(A, 1)),
        (lambda: dm.xlogy(input=dm.tensor([0.0, 2.0]), other=dm.tensor([3.0, 1.0])), [0.0, 0.0]),
    ],
)
def test_input_keyword(call, expected):
    np.testing.assert_allclose(call().numpy(), expected, rtol=1e-6)


def test_input_keyword_twice_is_a_type_error():
    with pytest.raises(TypeError, match="multiple values for argument 'input'"):
        dm.sort(t(), input=t())


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: t().cumsum(axis=1), np.cumsum(A, 1)),
        (lambda: t().prod(axis=1, keepdims=True), np.prod(A, 1, keepdims=True)),
        (lambda: dm.sort(t(), axis=0).values, np.sort(A, 0)),
        (lambda: dm.nansum(t(), axis=0, keepdims=True), np.sum(A, 0, keepdims=True)),
        (lambda: dm.concat([t(), t()], axis=1), np.concatenate([A, A], 1)),
    ],
)
def test_numpy_axis_keepdims_aliases(call, expected):
    np.testing.assert_allclose(call().numpy(), expected, rtol=1e-6)


def test_dim_and_axis_together_is_a_type_error():
    with pytest.raises(TypeError, match="multiple values"):
        t().cumsum(1, axis=1)


def test_size_keywords():
    assert t().new_zeros(size=(2, 4)).shape == (2, 4)
    assert t().new_ones(size=[3], dtype=dm.int64).dtype == dm.int64
    assert t().new_empty(size=(1, 2)).shape == (1, 2)
    assert t().new_zeros(2, 4).shape == t().new_zeros((2, 4)).shape == (2, 4)
    np.testing.assert_array_equal(t().repeat(repeats=(2, 1)).numpy(), np.tile(A, (2, 1)))
    col = dm.tensor(A[:, :1].copy())
    np.testing.assert_array_equal(
        dm.broadcast_to(col, size=(2, 3)).numpy(), np.broadcast_to(A[:, :1], (2, 3))
    )


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda: t().flip(0, 1), A[::-1, ::-1]),
        (lambda: t().flip((0, 1)), A[::-1, ::-1]),
        (lambda: t().flip(dims=[1]), A[:, ::-1]),
        (lambda: dm.flip(t(), dims=(0,)), A[::-1]),
        (lambda: t().tile(2, 1), np.tile(A, (2, 1))),
        (lambda: t().tile(dims=(1, 2)), np.tile(A, (1, 2))),
        (lambda: dm.tile(t(), (2,)), np.tile(A, (1, 2))),
    ],
)
def test_varargs_dims(call, expected):
    np.testing.assert_array_equal(call().numpy(), expected)


def test_split_keyword_names():
    x = dm.tensor(np.arange(10.0, dtype=np.float32))
    assert [p.shape for p in x.split(split_size=4)] == [(4,), (4,), (2,)]
    parts = dm.split(tensor=x, split_size_or_sections=[3, 7], dim=0)
    assert [p.shape for p in parts] == [(3,), (7,)]
    with pytest.raises(TypeError, match="argument 'tensor' must be Tensor"):
        dm.split([1, 2], 1)


def test_engine_methods_take_torch_keyword_names():
    x = dm.arange(6.0).view(2, 3)
    xn = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(x.sum(axis=1).numpy(), xn.sum(axis=1))
    assert x.mean(axis=0, keepdims=True).shape == (1, 3)
    np.testing.assert_allclose(x.var(axis=1).numpy(), xn.var(axis=1, ddof=1))
    assert x.max(axis=1).values.tolist() == [2.0, 5.0]
    assert x.max(other=x * 0 + 2).tolist() == [[2.0, 2.0, 2.0], [3.0, 4.0, 5.0]]
    assert x.min(other=x * 0 + 2).tolist() == [[0.0, 1.0, 2.0], [2.0, 2.0, 2.0]]
    assert x.argmax(axis=1).tolist() == [2, 2] and x.all(axis=1).tolist() == [False, True]
    np.testing.assert_allclose(x.softmax(axis=1).sum(1).numpy(), [1.0, 1.0], rtol=1e-6)
    assert dm.cat([x, x], axis=1).shape == (2, 6) and dm.stack([x, x], axis=0).shape == (2, 2, 3)
    assert x.reshape(shape=(3, 2)).shape == (3, 2) and x.view(size=(6,)).shape == (6,)
    assert x.view(dtype=dm.float32).shape == (2, 3) and x.expand(size=(2, 2, 3)).shape == (2, 2, 3)
    assert x.unsqueeze(axis=0).shape == (1, 2, 3) and x.unbind(axis=1)[0].tolist() == [0.0, 3.0]
    assert x.mm(mat2=x.t()).shape == (2, 2) and x[0].dot(tensor=x[1]).item() == 14.0
    assert x.swapaxes(axis0=0, axis1=1).shape == (3, 2)
    assert x.gather(1, dm.tensor([[0], [1]]), sparse_grad=False).tolist() == [[0.0], [4.0]]
    assert dm.sum(x, axis=1).tolist() == [3.0, 12.0]


def test_engine_keyword_errors_are_type_errors():
    x = dm.ones(2, 3)
    with pytest.raises(TypeError, match="multiple values"):
        x.sum(dim=0, axis=1)
    with pytest.raises(TypeError, match="missing 1 required"):
        x.unsqueeze()
    with pytest.raises(TypeError, match="shape="):
        x.reshape(foo=3)
    with pytest.raises(TypeError, match="dim or other"):
        x.max(0, other=x)
