"""``nn.AdaptiveLogSoftmaxWithLoss`` against a NumPy reference of the adaptive softmax:
PyTorch's parameter names and shapes, ``forward``/``log_prob``/``predict``, gradients
(float64 finite differences) and typed errors."""

import numpy as np
import pytest

import democratising as dm
from democratising.autograd import gradcheck


def _model(head_bias: bool = False, dtype=dm.float32) -> dm.nn.AdaptiveLogSoftmaxWithLoss:
    dm.manual_seed(0)
    return dm.nn.AdaptiveLogSoftmaxWithLoss(
        16, 20, [4, 10], div_value=2.0, head_bias=head_bias, dtype=dtype
    )


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _reference_log_prob(m, x: np.ndarray) -> np.ndarray:
    """Every class's log-probability, written from the definition."""
    sd = {k: v.detach().numpy().astype(np.float64) for k, v in m.state_dict().items()}
    head = x @ sd["head.weight"].T + sd.get("head.bias", 0.0)
    head_lp = _log_softmax(head)
    parts = [head_lp[:, :4]]
    for i in range(2):
        hidden = x @ sd[f"tail.{i}.0.weight"].T
        parts.append(_log_softmax(hidden @ sd[f"tail.{i}.1.weight"].T) + head_lp[:, 4 + i : 5 + i])
    return np.concatenate(parts, axis=1)


def test_parameters_have_pytorchs_names_and_shapes():
    m = _model(head_bias=True)
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    # torch: head 6 = 4 shortlist + 2 clusters; projections 16 // 2 and 16 // 4 wide.
    assert shapes == {
        "head.weight": (6, 16),
        "head.bias": (6,),
        "tail.0.0.weight": (8, 16),
        "tail.0.1.weight": (6, 8),
        "tail.1.0.weight": (4, 16),
        "tail.1.1.weight": (10, 4),
    }
    assert (m.shortlist_size, m.n_clusters, m.head_size, m.cutoffs) == (4, 2, 6, [4, 10, 20])


@pytest.mark.parametrize("head_bias", [False, True])
def test_forward_and_log_prob_match_the_reference(head_bias):
    m = _model(head_bias)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 16)).astype(np.float32)
    y = np.array([0, 3, 4, 9, 10, 19, 2])
    ref = _reference_log_prob(m, x.astype(np.float64))
    out = m(dm.tensor(x), dm.tensor(y))
    np.testing.assert_allclose(
        out.output.detach().numpy(), ref[np.arange(7), y], rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(out.loss.item(), -ref[np.arange(7), y].mean(), rtol=1e-5)
    assert out._fields == ("output", "loss")
    np.testing.assert_allclose(m.log_prob(dm.tensor(x)).detach().numpy(), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.exp(ref).sum(axis=1), 1.0, rtol=1e-6)
    # Unbatched: a 1-d input with a 0-d target.
    one = m(dm.tensor(x[1]), dm.tensor(y[1]))
    assert one.output.shape == ()
    np.testing.assert_allclose(one.output.item(), ref[1, y[1]], rtol=1e-5)
    assert m.log_prob(dm.tensor(x[1])).shape == (20,)


def test_predict_reads_clusters_only_when_the_head_points_there():
    m = _model(head_bias=True)
    x = np.random.default_rng(1).standard_normal((6, 16)).astype(np.float32)
    with dm.no_grad():
        m.head.bias.copy_(dm.tensor([0.0, 0.0, 0.0, 0.0, 30.0, 30.0]))  # clusters win the head
    ref = _reference_log_prob(m, x.astype(np.float64))
    np.testing.assert_array_equal(m.predict(dm.tensor(x)).numpy(), ref.argmax(axis=1))
    with dm.no_grad():
        m.head.bias.copy_(dm.tensor([30.0, 0.0, 0.0, 0.0, 0.0, 0.0]))  # class 0 wins outright
    np.testing.assert_array_equal(m.predict(dm.tensor(x)).numpy(), np.zeros(6))
    assert m.predict(dm.tensor(x[0])).shape == ()


def test_gradients_pass_finite_differences_in_float64():
    m = _model(head_bias=True, dtype=dm.float64)
    y = dm.tensor([0, 5, 12, 19, 3])
    x = dm.randn(5, 16, dtype=dm.float64, requires_grad=True)
    assert gradcheck(lambda inp: m(inp, y).loss, (x,), eps=1e-6, atol=1e-5)
    params = list(m.parameters())
    m(x, y).loss.backward()
    assert all(p.grad is not None for p in params)


def test_bad_arguments_raise_typed_errors():
    with pytest.raises(ValueError, match="cutoffs"):
        dm.nn.AdaptiveLogSoftmaxWithLoss(16, 20, [4, 20])
    with pytest.raises(ValueError, match="cutoffs"):
        dm.nn.AdaptiveLogSoftmaxWithLoss(16, 20, [10, 4])
    with pytest.raises(ValueError, match="larger than 0"):
        dm.nn.AdaptiveLogSoftmaxWithLoss(16, 20, [])
    m = _model()
    with pytest.raises(IndexError, match=r"\[0, 19\]"):
        m(dm.randn(3, 16), dm.tensor([0, 1, 25]))
    with pytest.raises(dm.ShapeError):
        m(dm.randn(3, 16), dm.tensor([0, 1]))
    with pytest.raises(dm.ShapeError):
        m(dm.randn(3, 8), dm.tensor([0, 1, 2]))
    with pytest.raises(dm.ShapeError):
        m(dm.randn(3, 16), dm.tensor([[0, 1, 2]]))
