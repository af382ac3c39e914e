"""1-D convolution/pooling and the recurrent layers against NumPy references, with float64
finite-difference gradient checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.nn import functional as F
from helpers import assert_close, gradcheck, to_numpy

RNG = np.random.default_rng(0)


def f64(a: np.ndarray, requires_grad: bool = False) -> dm.Tensor:
    return dm.tensor(np.asarray(a, dtype=np.float64), dtype=dm.float64, requires_grad=requires_grad)


# ---- 1-D convolution and pooling ---------------------------------------------------------------


def conv1d_ref(x, w, b, stride, pad, dil, groups):  # type: ignore[no-untyped-def]
    """Direct loop over output positions: ``pad`` is ``(left, right)``."""
    n, _, length = x.shape
    o, cg, k = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), pad))
    lo = (length + pad[0] + pad[1] - dil * (k - 1) - 1) // stride + 1
    out = np.zeros((n, o, lo))
    og = o // groups
    for g in range(groups):
        xs = xp[:, g * cg : (g + 1) * cg]
        for j in range(lo):
            win = xs[:, :, j * stride : j * stride + dil * (k - 1) + 1 : dil]  # [N, cg, k]
            out[:, g * og : (g + 1) * og, j] = np.einsum(
                "nck,ock->no", win, w[g * og : (g + 1) * og]
            )
    return out + (0 if b is None else b[None, :, None])


@pytest.mark.parametrize(
    ("stride", "padding", "dilation", "groups", "k", "pad"),
    [
        (1, 0, 1, 1, 3, (0, 0)),
        (2, 1, 2, 2, 3, (1, 1)),
        (1, "same", 1, 1, 4, (1, 2)),  # even kernel: the extra element goes on the right
        (1, "same", 2, 1, 3, (2, 2)),
        (3, "valid", 1, 2, 2, (0, 0)),
    ],
)
def test_conv1d_matches_reference(stride, padding, dilation, groups, k, pad) -> None:  # type: ignore[no-untyped-def]
    x, w, b = RNG.normal(size=(2, 4, 11)), RNG.normal(size=(6, 4 // groups, k)), RNG.normal(size=6)
    got = F.conv1d(f64(x), f64(w), f64(b), stride, padding, dilation, groups)
    assert_close(got, conv1d_ref(x, w, b, stride, pad, dilation, groups), atol=1e-12)
    unbatched = F.conv1d(f64(x[0]), f64(w), None, stride, padding, dilation, groups)
    assert_close(
        unbatched, conv1d_ref(x[:1], w, None, stride, pad, dilation, groups)[0], atol=1e-12
    )


def test_conv1d_module_shapes_init_repr_and_padding_mode() -> None:
    dm.manual_seed(0)
    m = nn.Conv1d(4, 6, 3, groups=2)
    assert tuple(m.weight.shape) == (6, 2, 3) and tuple(m.bias.shape) == (6,)
    bound = 1 / np.sqrt(2 * 3)
    assert np.abs(to_numpy(m.weight)).max() <= bound and np.abs(to_numpy(m.bias)).max() <= bound
    assert repr(m) == "Conv1d(4, 6, kernel_size=(3,), stride=(1,), groups=2)"
    assert repr(nn.Conv1d(2, 3, 4, padding="same", bias=False, padding_mode="reflect")) == (
        "Conv1d(2, 3, kernel_size=(4,), stride=(1,), padding=same, bias=False, "
        "padding_mode=reflect)"
    )
    assert nn.Conv1d(2, 3, 3, bias=False).bias is None

    m = nn.Conv1d(2, 3, 3, padding=2, padding_mode="circular").double()
    x = RNG.normal(size=(1, 2, 7))
    xp = np.concatenate([x[..., -2:], x, x[..., :2]], axis=-1)
    expected = conv1d_ref(xp, to_numpy(m.weight), to_numpy(m.bias), 1, (0, 0), 1, 1)
    assert_close(m(f64(x)), expected, atol=1e-12)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv1d(2, 3, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv1d(2, 3, 3, padding_mode="mirror")


def test_conv1d_gradcheck() -> None:
    x, w, b = RNG.normal(size=(2, 2, 6)), RNG.normal(size=(4, 1, 3)), RNG.normal(size=4)
    gradcheck(
        lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=2, groups=2),
        [f64(x, True), f64(w, True), f64(b, True)],
    )
    gradcheck(
        lambda x, w: F.conv1d(x, w, padding="same"),
        [f64(x, True), f64(RNG.normal(size=(3, 2, 2)), True)],
    )


def pool1d_ref(x, k, s, p, dil, ceil, op, count_include_pad=True):  # type: ignore[no-untyped-def]
    """PyTorch's output length rule (a ceil-mode window must start inside the input or the left
    padding); ``op`` is ``"max"`` or ``"avg"``."""
    length = x.shape[-1]
    span = dil * (k - 1) + 1
    num = length + 2 * p - span
    lo = (-(-num // s) if ceil else num // s) + 1
    if ceil and (lo - 1) * s >= length + p:
        lo -= 1
    out = np.zeros((*x.shape[:-1], lo))
    for j in range(lo):
        idx = np.arange(j * s - p, j * s - p + span, dil)
        inside = idx[(idx >= 0) & (idx < length)]
        if op == "max":
            out[..., j] = x[..., inside].max(-1)
        else:
            end = min(j * s - p + k, length + p)  # the padded extent counts, past it does not
            div = (end - (j * s - p)) if count_include_pad else len(inside)
            out[..., j] = x[..., inside].sum(-1) / div
    return out


@pytest.mark.parametrize(
    ("k", "s", "p", "ceil"),
    [(2, None, 0, False), (3, 2, 1, True), (4, 3, 2, True), (3, 1, 1, False)],
)
def test_pool1d_matches_reference(k, s, p, ceil) -> None:  # type: ignore[no-untyped-def]
    x = RNG.normal(size=(2, 3, 10))
    stride = s or k
    assert_close(
        F.max_pool1d(f64(x), k, s, p, 1, ceil),
        pool1d_ref(x, k, stride, p, 1, ceil, "max"),
        atol=1e-12,
    )
    for cip in (True, False):
        got = F.avg_pool1d(f64(x), k, s, p, ceil, cip)
        assert_close(got, pool1d_ref(x, k, stride, p, 1, ceil, "avg", cip), atol=1e-12)
    dil = F.max_pool1d(f64(x[0]), 3, 2, 1, dilation=2)
    assert_close(dil, pool1d_ref(x[0], 3, 2, 1, 2, False, "max"), atol=1e-12)
    assert_close(
        nn.MaxPool1d(k, s, p, ceil_mode=ceil)(f64(x)), pool1d_ref(x, k, stride, p, 1, ceil, "max")
    )
    assert_close(nn.AvgPool1d(k, s, p, ceil)(f64(x)), pool1d_ref(x, k, stride, p, 1, ceil, "avg"))


def test_adaptive_avg_pool1d_and_pool_reprs() -> None:
    x = RNG.normal(size=(2, 3, 10))
    for o in (1, 3, 4, 10):
        bins = [(i * 10 // o, -(-(i + 1) * 10 // o)) for i in range(o)]
        expected = np.stack([x[..., a:b].mean(-1) for a, b in bins], -1)
        assert_close(nn.AdaptiveAvgPool1d(o)(f64(x)), expected, atol=1e-12)
        assert_close(F.adaptive_avg_pool1d(f64(x[0]), o), expected[0], atol=1e-12)
    assert (
        repr(nn.MaxPool1d(3))
        == "MaxPool1d(kernel_size=3, stride=3, padding=0, dilation=1, ceil_mode=False)"
    )
    assert repr(nn.AvgPool1d(3, 2)) == "AvgPool1d(kernel_size=(3,), stride=(2,), padding=(0,))"
    assert repr(nn.AdaptiveAvgPool1d(5)) == "AdaptiveAvgPool1d(output_size=5)"


def test_pool1d_gradcheck() -> None:
    x = f64(RNG.normal(size=(1, 2, 7)), True)
    gradcheck(lambda t: F.max_pool1d(t, 3, 2, 1, ceil_mode=True), [x])
    gradcheck(lambda t: F.avg_pool1d(t, 3, 2, 1, count_include_pad=False), [x])
    gradcheck(lambda t: F.adaptive_avg_pool1d(t, 3), [x])


# ---- recurrent layers --------------------------------------------------------------------------


def test_rnn_parameter_names_shapes_and_init() -> None:
    dm.manual_seed(0)
    m = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    expected = {}
    for layer, in_size in ((0, 3), (1, 10)):
        for sfx in ("", "_reverse"):
            expected[f"weight_ih_l{layer}{sfx}"] = (20, in_size)
            expected[f"weight_hh_l{layer}{sfx}"] = (20, 5)
            expected[f"bias_ih_l{layer}{sfx}"] = (20,)
            expected[f"bias_hh_l{layer}{sfx}"] = (20,)
    assert shapes == expected and list(shapes) == list(expected)  # PyTorch's order too
    assert all(np.abs(to_numpy(p)).max() <= 1 / np.sqrt(5) for p in m.parameters())
    dm.manual_seed(0)
    again = nn.LSTM(3, 5, num_layers=2, bidirectional=True).state_dict()
    assert all(np.array_equal(to_numpy(v), to_numpy(again[k])) for k, v in m.state_dict().items())

    gru = nn.GRU(4, 6, bias=False)
    assert {k: tuple(v.shape) for k, v in gru.state_dict().items()} == {
        "weight_ih_l0": (18, 4),
        "weight_hh_l0": (18, 6),
    }
    proj = nn.LSTM(4, 6, proj_size=2)
    assert tuple(proj.weight_hh_l0.shape) == (24, 2) and tuple(proj.weight_hr_l0.shape) == (2, 6)
    cell = nn.GRUCell(4, 6)
    assert [(k, tuple(v.shape)) for k, v in cell.state_dict().items()] == [
        ("weight_ih", (18, 4)),
        ("weight_hh", (18, 6)),
        ("bias_ih", (18,)),
        ("bias_hh", (18,)),
    ]
    assert (
        repr(nn.RNN(3, 4, 2, "relu", batch_first=True))
        == "RNN(3, 4, num_layers=2, batch_first=True)"
    )
    assert repr(nn.RNNCell(3, 4, nonlinearity="relu")) == "RNNCell(3, 4, nonlinearity=relu)"
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")


def sigmoid(v: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-v))


def lstm_ref(x, h, c, w_ih, w_hh, b_ih, b_hh):  # type: ignore[no-untyped-def]
    """One-layer LSTM over ``x [T, N, I]``, gates stacked ``i, f, g, o``."""
    ys = []
    for xt in x:
        i, f, g, o = np.split(xt @ w_ih.T + b_ih + h @ w_hh.T + b_hh, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        ys.append(h)
    return np.stack(ys), h, c


def gru_ref(x, h, w_ih, w_hh, b_ih, b_hh):  # type: ignore[no-untyped-def]
    """One-layer GRU over ``x [T, N, I]``: ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``."""
    ys = []
    for xt in x:
        i_r, i_z, i_n = np.split(xt @ w_ih.T + b_ih, 3, axis=-1)
        h_r, h_z, h_n = np.split(h @ w_hh.T + b_hh, 3, axis=-1)
        r, z = sigmoid(i_r + h_r), sigmoid(i_z + h_z)
        n = np.tanh(i_n + r * h_n)
        h = (1 - z) * n + z * h
        ys.append(h)
    return np.stack(ys), h


def test_lstm_and_gru_match_numpy_reference() -> None:
    x, h0, c0 = RNG.normal(size=(4, 2, 3)), RNG.normal(size=(1, 2, 5)), RNG.normal(size=(1, 2, 5))
    lstm = nn.LSTM(3, 5).double()
    p = {k: to_numpy(v) for k, v in lstm.state_dict().items()}
    ws = (p["weight_ih_l0"], p["weight_hh_l0"], p["bias_ih_l0"], p["bias_hh_l0"])
    ys, h, c = lstm_ref(x, h0[0], c0[0], *ws)
    out, (h_n, c_n) = lstm(f64(x), (f64(h0), f64(c0)))
    assert_close(out, ys, atol=1e-12)
    assert_close(h_n, h[None], atol=1e-12)
    assert_close(c_n, c[None], atol=1e-12)
    # The cell with the same weights, stepped by hand, agrees; hx=None means zeros.
    cell = nn.LSTMCell(3, 5).double()
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in lstm.state_dict().items()})
    hc = None
    for t in range(4):
        hc = cell(f64(x[t]), hc)
    ys0, h, c = lstm_ref(x, 0 * h0[0], 0 * c0[0], *ws)
    assert_close(hc[0], h, atol=1e-12)
    assert_close(lstm(f64(x))[0], ys0, atol=1e-12)

    gru = nn.GRU(3, 5, bidirectional=True).double()
    p = {k: to_numpy(v) for k, v in gru.state_dict().items()}
    h0 = RNG.normal(size=(2, 2, 5))
    fwd, hf = gru_ref(
        x, h0[0], *(p[f"{n}_l0"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    )
    bwd, hb = gru_ref(
        x[::-1],
        h0[1],
        *(p[f"{n}_l0_reverse"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")),
    )
    out, h_n = gru(f64(x), f64(h0))
    assert_close(out, np.concatenate([fwd, bwd[::-1]], -1), atol=1e-12)
    assert_close(h_n, np.stack([hf, hb]), atol=1e-12)
    cell = nn.GRUCell(3, 5).double()
    cell.load_state_dict(
        {k.removesuffix("_l0"): v for k, v in gru.state_dict().items() if "reverse" not in k}
    )
    assert_close(cell(f64(x[0, 0]), f64(h0[0, 0])), fwd[0, 0], atol=1e-12)  # unbatched cell


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_recurrent_gradcheck(mode: str) -> None:
    m = getattr(nn, mode)(2, 3, num_layers=2, bidirectional=(mode != "RNN")).double()
    d = 2 if mode != "RNN" else 1
    x, h0 = f64(RNG.normal(size=(3, 1, 2)), True), f64(RNG.normal(size=(2 * d, 1, 3)), True)
    if mode == "LSTM":
        c0 = f64(RNG.normal(size=(2 * d, 1, 3)), True)
        gradcheck(lambda x, h, c: m(x, (h, c))[0], [x, h0, c0])
    else:
        gradcheck(lambda x, h: m(x, h)[0], [x, h0])
    # Weight gradients against central differences of the loss.
    x0 = to_numpy(x)
    w = m.weight_hh_l1
    (m(f64(x0))[0] ** 2).sum().backward()
    analytic, base = to_numpy(w.grad), to_numpy(w)
    numeric = np.zeros_like(base)
    for idx in np.ndindex(base.shape):
        vals = []
        for eps in (1e-6, -1e-6):
            bumped = base.copy()
            bumped[idx] += eps
            with dm.no_grad():
                w.copy_(f64(bumped))
                vals.append(float((to_numpy(m(f64(x0))[0]) ** 2).sum()))
        numeric[idx] = (vals[0] - vals[1]) / 2e-6
    with dm.no_grad():
        w.copy_(f64(base))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


def test_recurrent_output_shapes() -> None:
    x = dm.randn(5, 2, 3)  # [T, N, I]
    out, h = nn.GRU(3, 4, num_layers=3)(x)
    assert tuple(out.shape) == (5, 2, 4) and tuple(h.shape) == (3, 2, 4)
    out, h = nn.RNN(3, 4, num_layers=2, bidirectional=True, batch_first=True)(x)  # [N=5, T=2]
    assert tuple(out.shape) == (5, 2, 8) and tuple(h.shape) == (4, 5, 4)
    out, (h, c) = nn.LSTM(3, 4, bidirectional=True, proj_size=2)(x)
    assert (
        tuple(out.shape) == (5, 2, 4)
        and tuple(h.shape) == (2, 2, 2)
        and tuple(c.shape) == (2, 2, 4)
    )
    out, (h, c) = nn.LSTM(3, 4, num_layers=2, batch_first=True)(
        x[0], (dm.zeros(2, 4), dm.zeros(2, 4))
    )
    assert tuple(out.shape) == (2, 4) and tuple(h.shape) == (2, 4)  # unbatched [T, I]
    lstm, time_major = nn.LSTM(3, 4, batch_first=True), nn.LSTM(3, 4)
    time_major.load_state_dict(lstm.state_dict())
    out_bf, (h_bf, _) = lstm(x.transpose(0, 1))
    out_tm, (h_tm, _) = time_major(x)
    assert_close(out_bf.transpose(0, 1), to_numpy(out_tm), atol=1e-6)
    assert_close(h_bf, to_numpy(h_tm), atol=1e-6)  # h_n stays [L*D, N, H] with batch_first
    h1, _ = nn.LSTMCell(3, 4)(x[0])
    assert tuple(h1.shape) == (2, 4) and tuple(nn.RNNCell(3, 4)(x[0, 0]).shape) == (4,)
    with pytest.raises(ValueError, match="input_size"):
        nn.LSTM(2, 4)(x)
    with pytest.raises(ValueError, match="hidden"):
        nn.GRU(3, 4)(x, dm.zeros(1, 3, 4))


def test_dropout_between_layers_only_in_training() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = nn.GRU(3, 4, num_layers=2, dropout=0.5)
    x = dm.randn(4, 2, 3)
    m.eval()
    a, b = to_numpy(m(x)[0]), to_numpy(m(x)[0])
    np.testing.assert_array_equal(a, b)
    m.train()
    assert not np.allclose(to_numpy(m(x)[0]), a)
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.LSTM(3, 4, dropout=0.2)


def test_tiny_lstm_learns_to_add_the_last_two_inputs() -> None:
    dm.manual_seed(0)
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(6, 16, 1)).astype(np.float32)  # [T, N, 1]
    target = dm.tensor(xs[-1] + xs[-2])  # needs one step of memory
    lstm, head = nn.LSTM(1, 8), nn.Linear(8, 1)
    opt = dm.optim.Adam([*lstm.parameters(), *head.parameters()], lr=0.05)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        out, _ = lstm(dm.tensor(xs))
        loss = F.mse_loss(head(out[-1]), target)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    assert losses[-1] < 0.1 * losses[0], losses
