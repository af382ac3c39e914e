"""Layer parity with ``torch.nn`` found by the session-23 sweep (each value checked against
PyTorch 2.15): LP pooling's gradient on all-zero windows, ``proj_size`` on ``RNN``/``GRU``,
``LPPool`` refusing ``norm_type=0`` when built, ``RuntimeError`` for bad ``max_unpool`` and
``embedding_bag`` indices, ``prelu``'s channel check, ``kl_div``'s ``"mean"`` warning, and
PyTorch's extension points that subclasses call (``_conv_forward``, ``_check_input_dim``,
``_output_padding``, the ``RNNBase`` checks, ``_flat_weights``)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import democratising as dm
import democratising.nn as nn
import democratising.nn.functional as F

# ---- LP pooling: an all-zero window has a zero gradient, as in PyTorch (not NaN) ----------

_LP_X = np.array([[[[0.0, 0.0, 1.0, -2.0], [0.0, 0.0, 3.0, 0.5]]]], dtype=np.float32)


def _lp_reference(x: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """``(sum x**p) ** (1/p)`` over the two 2x2 windows of ``_LP_X`` and its gradient, with
    PyTorch's 0 for a window whose sum is 0."""
    out, grad = [], np.zeros_like(x)
    for w in range(2):
        win = x[0, 0, :, 2 * w : 2 * w + 2].astype(np.float64)
        s = np.sum(win**p)
        out.append(s ** (1 / p))
        if s != 0:
            grad[0, 0, :, 2 * w : 2 * w + 2] = win ** (p - 1) * s ** (1 / p - 1)
    return np.array(out), grad


@pytest.mark.parametrize("p", [2.0, 3.0])
def test_lp_pool2d_gradient_on_a_zero_window_is_zero(p: float) -> None:
    x = dm.tensor(_LP_X, requires_grad=True)
    y = nn.LPPool2d(p, 2)(x)
    y.sum().backward()
    want_out, want_grad = _lp_reference(_LP_X, p)
    np.testing.assert_allclose(y.detach().numpy().ravel(), want_out, rtol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), want_grad, rtol=1e-5, atol=1e-7)
    # PyTorch 2.15: p=2 gives [0, 0, .2649, -.5298 / 0, 0, .7947, .1325]
    if p == 2.0:
        np.testing.assert_allclose(
            x.grad.numpy().ravel(), [0, 0, 0.2649, -0.5298, 0, 0, 0.7947, 0.1325], atol=1e-4
        )


def test_lp_pool1d_fractional_norm_after_relu() -> None:
    x = dm.tensor(np.array([[[0.0, 0.0, 1.0, 2.0]]], dtype=np.float32), requires_grad=True)
    y = F.lp_pool1d(x, 1.5, 2)
    y.sum().backward()
    np.testing.assert_allclose(y.detach().numpy().ravel(), [0.0, 2.4473], atol=1e-4)
    np.testing.assert_allclose(x.grad.numpy().ravel(), [0.0, 0.0, 0.6392, 0.9040], atol=1e-4)


@pytest.mark.parametrize("cls", [nn.LPPool1d, nn.LPPool2d, nn.LPPool3d])
def test_lp_pool_refuses_norm_type_zero_when_built(cls: type) -> None:
    with pytest.raises(ValueError, match="norm_type must be a non-zero value"):
        cls(0, 2)


# ---- constructor and input errors of PyTorch's types ---------------------------------------


@pytest.mark.parametrize("cls", [nn.RNN, nn.GRU])
@pytest.mark.parametrize("proj_size", [0, 2])
def test_rnn_and_gru_refuse_proj_size_with_value_error(cls: type, proj_size: int) -> None:
    with pytest.raises(ValueError, match="only supported for LSTM") as info:
        cls(4, 5, proj_size=proj_size)
    assert isinstance(info.value, TypeError)  # still an argument the signature lacks
    assert cls(4, 5, num_layers=2).num_layers == 2  # the other arguments still bind


@pytest.mark.parametrize("n", [1, 2, 3])
def test_max_unpool_invalid_index_is_a_runtime_error(n: int) -> None:
    unpool = getattr(nn, f"MaxUnpool{n}d")(2)
    x = dm.ones([1, 1] + [2] * n)
    idx = dm.full(tuple(x.shape), 99, dtype=dm.int64)
    with pytest.raises(RuntimeError, match="invalid max index") as info:
        unpool(x, idx)
    assert isinstance(info.value, IndexError)  # still our index error


def test_embedding_bag_index_out_of_range_is_a_runtime_error() -> None:
    bag = nn.EmbeddingBag(10, 3)
    with pytest.raises(RuntimeError, match="not in the valid range") as info:
        bag(dm.tensor([1, 2, 30]), dm.tensor([0]))
    assert isinstance(info.value, IndexError)


def test_prelu_with_channels_needs_a_matching_channel_dim() -> None:
    m = nn.PReLU(3, init=0.1)
    # PyTorch: a 1-D input has channel size 1, so 3 weights do not fit it.
    with pytest.raises(RuntimeError, match="parameter numbers = 3 and channel size = 1"):
        m(dm.tensor([-1.0, 2.0, -3.0]))
    with pytest.raises(ValueError, match="channel size = 4"):
        F.prelu(dm.ones(2, 4), dm.ones(3))
    got = m(dm.tensor([[-1.0, 2.0, -3.0]])).detach().numpy()
    np.testing.assert_allclose(got, [[-0.1, 2.0, -0.3]], rtol=1e-6)
    one = nn.PReLU(1, init=0.5)(dm.tensor([-2.0, 4.0])).detach().numpy()
    np.testing.assert_allclose(one, [-1.0, 4.0])


def test_kl_div_mean_warns_as_pytorch_and_batchmean_does_not() -> None:
    inp, tgt = dm.tensor([[-1.0, -2.0]]), dm.tensor([[0.3, 0.7]])
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        nn.KLDivLoss()(inp, tgt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = F.kl_div(inp, tgt, reduction="batchmean").item()
    want = 0.3 * (np.log(0.3) + 1.0) + 0.7 * (np.log(0.7) + 2.0)
    assert got == pytest.approx(want, rel=1e-5)


# ---- PyTorch's extension points -----------------------------------------------------------


def test_upsample_layers_carry_their_name() -> None:
    assert nn.Upsample(scale_factor=2).name == "Upsample"
    assert nn.UpsamplingNearest2d(scale_factor=2).name == "UpsamplingNearest2d"
    assert nn.UpsamplingBilinear2d(size=3).name == "UpsamplingBilinear2d"


@pytest.mark.parametrize("n", [1, 2, 3])
def test_conv_forward_is_the_hook_forward_goes_through(n: int) -> None:
    class DoubledWeight(getattr(nn, f"Conv{n}d")):  # type: ignore[misc]
        def _conv_forward(self, x, weight, bias):  # type: ignore[no-untyped-def]
            return super()._conv_forward(x, weight * 2, bias)

    dm.manual_seed(0)
    m = DoubledWeight(2, 3, 3, padding=1, padding_mode="reflect", bias=False)
    x = dm.randn(1, 2, *([5] * n))
    plain = getattr(nn, f"Conv{n}d")(2, 3, 3, padding=1, padding_mode="reflect", bias=False)
    plain.load_state_dict(m.state_dict())
    np.testing.assert_allclose(
        m(x).detach().numpy(), 2 * plain(x).detach().numpy(), rtol=1e-5, atol=1e-6
    )
    direct = plain._conv_forward(x, plain.weight * 2, None)
    np.testing.assert_allclose(direct.detach().numpy(), m(x).detach().numpy(), rtol=1e-6)


def test_norm_layers_check_input_dim_through_the_overridable_hook() -> None:
    with pytest.raises(RuntimeError, match="expects a 4-D"):
        nn.BatchNorm2d(3)(dm.ones(3, 4, 4))

    class AnyDim(nn.BatchNorm2d):
        def _check_input_dim(self, input):  # type: ignore[no-untyped-def]
            pass

    # BatchNorm2d's arithmetic on a [N, C] batch once the subclass accepts it
    x = np.array([[1.0, 2.0, 3.0], [3.0, 6.0, 9.0]], dtype=np.float32)
    got = AnyDim(3)(dm.tensor(x)).detach().numpy()
    np.testing.assert_allclose(got, [[-1, -1, -1], [1, 1, 1]], atol=1e-2)
    inorm = nn.InstanceNorm2d(3)
    assert inorm._get_no_batch_dim() == 3
    with pytest.raises(ValueError, match="expected 3D or 4D input"):
        inorm._check_input_dim(dm.ones(2, 3))


def test_conv_transpose_output_padding_takes_pytorchs_signature() -> None:
    m = nn.ConvTranspose2d(3, 4, 3, stride=2)
    x = dm.zeros(1, 3, 5, 5)
    assert m._output_padding(x, [12, 12], [2, 2], [0, 0], [3, 3], 2, [1, 1]) == [1, 1]
    assert m._output_padding(x, [1, 4, 11, 12]) == [0, 1]
    assert m._output_padding(x, None) == (0, 0)
    assert tuple(m(x, output_size=[12, 11]).shape) == (1, 4, 12, 11)


def test_rnn_base_checking_helpers_match_pytorch() -> None:
    r = nn.LSTM(3, 4, num_layers=2, batch_first=True)
    assert r.get_expected_hidden_size(dm.zeros(5, 7, 3), None) == (2, 5, 4)
    assert r.get_expected_hidden_size(dm.zeros(6, 3), dm.tensor([5, 2])) == (2, 5, 4)
    assert r.get_expected_cell_size(dm.zeros(5, 7, 3), None) == (2, 5, 4)
    r.check_forward_args(dm.zeros(5, 7, 3), (dm.zeros(2, 5, 4), dm.zeros(2, 5, 4)), None)
    with pytest.raises(
        RuntimeError, match=r"Expected hidden\[1\] size \(2, 5, 4\), got \[2, 5, 3\]"
    ):
        r.check_forward_args(dm.zeros(5, 7, 3), (dm.zeros(2, 5, 4), dm.zeros(2, 5, 3)), None)
    with pytest.raises(RuntimeError, match="input must have 3 dimensions, got 2"):
        r.check_input(dm.zeros(5, 3), None)
    with pytest.raises(RuntimeError, match="Expected 3, got 5"):
        r.check_input(dm.zeros(5, 7, 5), None)
    g = nn.GRU(3, 4, bidirectional=True)
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(2, 6, 4\), got \[2, 5, 4\]"):
        g.check_forward_args(dm.zeros(7, 6, 3), dm.zeros(2, 5, 4), None)
    h = dm.tensor(np.arange(6, dtype=np.float32).reshape(1, 3, 2))
    perm = g.permute_hidden(h, dm.tensor([2, 0, 1]))
    np.testing.assert_array_equal(perm.numpy()[0], [[4, 5], [0, 1], [2, 3]])
    assert g.permute_hidden(h, None) is h


def test_rnn_flat_weights_in_pytorchs_order() -> None:
    m = nn.LSTM(4, 5, num_layers=2, bidirectional=True, proj_size=2)
    # PyTorch 2.15's ``_flat_weights_names`` for the same layer
    want = [
        f"{kind}_l{layer}{sfx}"
        for layer in (0, 1)
        for sfx in ("", "_reverse")
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
    ]
    assert m._flat_weights_names == want
    assert all(w is getattr(m, n) for w, n in zip(m._flat_weights, want))


def test_embedding_bag_fill_padding_idx_with_zero() -> None:
    bag = nn.EmbeddingBag(5, 3, padding_idx=2)
    with dm.no_grad():
        bag.weight.fill_(1.0)
    bag._fill_padding_idx_with_zero()
    w = bag.weight.detach().numpy()
    assert (w[2] == 0).all() and (np.delete(w, 2, axis=0) == 1).all()


# ---- batch norm reads its buffers, as PyTorch's does ---------------------------------------

_BN_X = np.array([[1.0, -2.0], [3.0, 0.0], [2.0, 4.0], [-1.0, 1.0]], dtype=np.float32)


def test_batch_norm_eval_uses_running_stats_after_tracking_is_switched_off() -> None:
    bn = nn.BatchNorm1d(2)
    bn(dm.tensor(_BN_X))  # one update: mean 0.1 * batch mean, var 0.9 + 0.1 * unbiased var
    mean = 0.1 * _BN_X.mean(0)
    var = 0.9 + 0.1 * _BN_X.var(0, ddof=1)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-6)
    bn.track_running_stats = False  # PyTorch still normalises with the buffers in eval
    bn.eval()
    got = bn(dm.tensor(_BN_X)).detach().numpy()
    np.testing.assert_allclose(got, (_BN_X - mean) / np.sqrt(var + 1e-5), rtol=1e-5, atol=1e-6)
    bn.train()  # training without tracking: batch statistics, buffers left alone
    got = bn(dm.tensor(_BN_X)).detach().numpy()
    batch = (_BN_X - _BN_X.mean(0)) / np.sqrt(_BN_X.var(0) + 1e-5)
    np.testing.assert_allclose(got, batch, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-6)
    assert int(bn.num_batches_tracked) == 1


def test_batch_norm_eval_without_running_buffers_uses_the_batch() -> None:
    bn = nn.BatchNorm1d(2).eval()
    bn.running_mean = None
    bn.running_var = None
    got = bn(dm.tensor(_BN_X)).detach().numpy()
    batch = (_BN_X - _BN_X.mean(0)) / np.sqrt(_BN_X.var(0) + 1e-5)
    np.testing.assert_allclose(got, batch, rtol=1e-5, atol=1e-6)


def test_dropout2d_warns_about_a_3d_input_even_in_eval() -> None:
    with pytest.warns(UserWarning, match="interpreted as shape \\(N, C, L\\)"):
        nn.Dropout2d().eval()(dm.ones(2, 3, 4))
    with pytest.warns(UserWarning, match="Received a 5-D input to dropout2d"):
        F.dropout2d(dm.ones(2, 3, 4, 4, 2), 0.5, training=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.dropout2d(dm.ones(2, 3, 4, 4), 0.5)


@pytest.mark.parametrize("size", ["33", "3", (3.5, 3)])
def test_conv_and_pool_sizes_must_be_integers(size: object) -> None:
    # PyTorch raises TypeError; "33" must not be read as (3, 3) digit by digit
    with pytest.raises(TypeError, match="expected an int or a pair of ints"):
        nn.Conv2d(3, 4, size)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        F.max_pool2d(dm.ones(1, 1, 4, 4), size)  # type: ignore[arg-type]
    assert nn.Conv2d(3, 4, (np.int64(3), 2)).kernel_size == (3, 2)
