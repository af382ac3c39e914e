"""Session 28 autocast dtype fixes, checked against PyTorch 2.x's CPU autocast (values and
dtypes recorded once; the suite does not import torch): the 3-D pools and the 1-d/2-d
reflection and 1-3-d replication pad layers are on PyTorch's float32 list (a low input gives
float32), ReflectionPad3d and the circular pads are on no list, conv3d/conv_transpose3d on the
lower-precision list, and GRU/GRUCell/LSTMCell blend their low gates into a float32 state, so
float32 inputs give float32 (while LSTM and RNN layers and RNNCell give the low dtype)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import democratising as dm

F = dm.nn.functional
LOWS = [dm.bfloat16, dm.float16]


def _np(t: dm.Tensor) -> np.ndarray:
    return np.asarray(t.detach().float().tolist(), dtype=np.float32)


def _x(*shape: int) -> dm.Tensor:
    return dm.tensor(np.random.default_rng(sum(shape)).standard_normal(shape).astype(np.float32))


_POOL_X = (np.arange(64, dtype=np.float32).reshape(1, 1, 4, 4, 4) * 0.37 - 5).astype(np.float32)
#: F.avg_pool3d(_POOL_X.to(low), 2) under autocast (float32, summed in float32): PyTorch's.
_AVG3 = {
    "bfloat16": [-1.1142578125, -0.373046875, 1.8438720703125, 2.58642578125, 10.7265625,
                 11.47265625, 13.703125, 14.4375],
    "float16": [-1.1148681640625, -0.375244140625, 1.84521484375, 2.5849456787109375,
                10.72509765625, 11.46435546875, 13.6845703125, 14.423828125],
}  # fmt: skip
#: The first six of F.adaptive_avg_pool3d(_POOL_X.to(low), 3) under autocast: PyTorch's.
_ADA3 = {
    "bfloat16": [-1.1142578125, -0.7451171875, -0.373046875, 0.36328125, 0.734375, 1.1083984375],
    "float16": [-1.1148681640625, -0.7449951171875, -0.375244140625, 0.365234375,
                0.7352294921875, 1.10504150390625],
}  # fmt: skip


@pytest.mark.parametrize("low", LOWS)
def test_3d_pools_under_autocast_run_in_float32(low: dm.dtype) -> None:
    x = dm.tensor(_POOL_X).to(low)
    name = str(low).split(".")[-1]
    with dm.autocast("cpu", dtype=low):
        avg = F.avg_pool3d(x, 2)
        ada = F.adaptive_avg_pool3d(x, 3)
        mx = F.max_pool3d(x, 2)
        mx_i, idx = F.max_pool3d(x, 2, return_indices=True)
        amx = F.adaptive_max_pool3d(x, 3)
        amx_i, aidx = F.adaptive_max_pool3d(x, 3, return_indices=True)
        mod = [dm.nn.MaxPool3d(2)(x), dm.nn.AvgPool3d(2)(x), dm.nn.AdaptiveMaxPool3d(2)(x)]
    for y in (avg, ada, mx, mx_i, amx, amx_i, *mod):
        assert y.dtype == dm.float32
    assert (idx.dtype, aidx.dtype) == (dm.int64, dm.int64)
    assert _np(avg).ravel().tolist() == _AVG3[name]
    assert _np(ada).ravel().tolist()[:6] == _ADA3[name]
    wide = x.float()
    np.testing.assert_array_equal(_np(mx), _np(F.max_pool3d(wide, 2)))
    np.testing.assert_array_equal(_np(amx_i), _np(F.adaptive_max_pool3d(wide, 3)))
    assert idx.tolist() == F.max_pool3d(wide, 2, return_indices=True)[1].tolist()
    # float32 inputs stay float32; outside autocast a low input stays low (no list applies)
    with dm.autocast("cpu", dtype=low):
        assert F.max_pool3d(_x(1, 2, 4, 4, 4), 2).dtype == dm.float32
    assert F.max_pool3d(x, 2).dtype == low


def test_3d_pools_under_autocast_are_differentiable_into_the_low_input() -> None:
    x = dm.tensor(_POOL_X).to(dm.bfloat16).requires_grad_()
    with dm.autocast("cpu", dtype=dm.bfloat16):
        (F.max_pool3d(x, 2).sum() + F.avg_pool3d(x, 2).sum()).backward()
    assert x.grad is not None and x.grad.dtype == dm.bfloat16
    assert float(x.grad.float().sum()) == 8.0 + 8.0  # one per max, 8 * (8 * 1/8) for the means


@pytest.mark.parametrize("low", LOWS)
def test_conv3d_under_autocast_runs_in_the_low_dtype(low: dm.dtype) -> None:
    x, w, wt = _x(1, 2, 4, 4, 4), _x(3, 2, 2, 2, 2), _x(2, 3, 2, 2, 2)
    with dm.autocast("cpu", dtype=low):
        ys = [F.conv3d(x, w), F.conv_transpose3d(x, wt), F.conv3d(x.to(low), w)]
    assert [y.dtype for y in ys] == [low] * 3
    ref = F.conv3d(x.to(low), w.to(low))
    np.testing.assert_allclose(_np(ys[0]), _np(ref), rtol=2e-2, atol=2e-2)


# (layer, input shape, PyTorch's dtype for a low input under autocast: None = the low dtype)
_PADS: list[tuple[Callable[[], Any], tuple[int, ...], Any]] = [
    (lambda: dm.nn.ReflectionPad1d(2), (1, 2, 6), dm.float32),
    (lambda: dm.nn.ReflectionPad2d(2), (1, 2, 5, 5), dm.float32),
    (lambda: dm.nn.ReflectionPad3d(1), (1, 2, 4, 4, 4), None),
    (lambda: dm.nn.ReplicationPad1d(2), (1, 2, 6), dm.float32),
    (lambda: dm.nn.ReplicationPad2d(2), (1, 2, 5, 5), dm.float32),
    (lambda: dm.nn.ReplicationPad3d(1), (1, 2, 4, 4, 4), dm.float32),
    (lambda: dm.nn.CircularPad2d(1), (1, 2, 5, 5), None),
    (lambda: dm.nn.ZeroPad3d(1), (1, 2, 4, 4, 4), None),
]


@pytest.mark.parametrize("low", LOWS)
@pytest.mark.parametrize("make, shape, want", _PADS)
def test_pad_layers_under_autocast_follow_pytorchs_lists(
    low: dm.dtype, make: Callable[[], Any], shape: tuple[int, ...], want: Any
) -> None:
    layer, x = make(), _x(*shape).to(low)
    with dm.autocast("cpu", dtype=low):
        y = layer(x)
        y32 = layer(_x(*shape))
    assert y.dtype == (low if want is None else want)
    assert y32.dtype == dm.float32
    np.testing.assert_array_equal(_np(y), _np(layer(x)))  # a copy: exact either way
    assert layer(x).dtype == low  # outside autocast


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_functional_pad_under_autocast_runs_in_float32(mode: str) -> None:
    with dm.autocast("cpu", dtype=dm.bfloat16):
        y = F.pad(_x(1, 2, 6).to(dm.bfloat16), (2, 1), mode=mode)
    assert y.dtype == dm.float32


# ---- recurrent cells and layers: the same weights and inputs in PyTorch -------------------------


def _rnn_data() -> tuple[dict[str, list[np.ndarray]], list[np.ndarray]]:
    rng = np.random.default_rng(3)

    def arr(*s: int) -> np.ndarray:
        return (rng.standard_normal(s) * 0.5).astype(np.float32)

    x, h, c, seq = arr(2, 3), arr(2, 4), arr(2, 4), arr(3, 2, 3)
    gru = [arr(12, 3), arr(12, 4), arr(12), arr(12)]
    lstm = [arr(16, 3), arr(16, 4), arr(16), arr(16)]
    return {"gru": gru, "lstm": lstm}, [x, h, c, seq]


def _load(m: dm.nn.Module, ws: list[np.ndarray], sfx: str = "") -> None:
    with dm.no_grad():
        for n, w in zip(["weight_ih", "weight_hh", "bias_ih", "bias_hh"], ws):
            getattr(m, n + sfx).copy_(dm.tensor(w))


#: GRUCell(x, h), LSTMCell(x, (h, c)) and GRU(seq)'s output at t = 0 with _rnn_data()'s weights
#: under bfloat16/float16 autocast: PyTorch's (float32).
_TORCH_RNN = {
    "bfloat16": {
        "gru_cell": [-0.5547106266021729, 0.481003075838089, -0.3540741205215454,
                     1.1689343452453613, -0.057258397340774536, -0.29971063137054443,
                     -0.08738762140274048, 0.2524021863937378],
        "lstm_h": [-0.1222689226269722, -0.2611040472984314, -0.021931903436779976,
                   0.06363186240196228, 0.20798511803150177, 0.046099983155727386,
                   0.10293610394001007, 0.17514045536518097],
        "lstm_c": [-0.13754579424858093, -0.367500364780426, -0.4358476996421814,
                   0.3176206052303314, 0.5555714964866638, 0.07252933830022812,
                   0.28643831610679626, 0.39629310369491577],
        "gru_t0": [-0.1772308349609375, -0.06317901611328125, 0.0400543212890625,
                   0.1846160888671875, -0.247802734375, -0.281982421875,
                   -0.009525299072265625, 0.3713951110839844],
    },
    "float16": {
        "gru_cell": [-0.5545063018798828, 0.4802408516407013, -0.3552929162979126,
                     1.1678441762924194, -0.05618658661842346, -0.2986835837364197,
                     -0.08776909112930298, 0.2541757822036743],
        "lstm_h": [-0.1228218525648117, -0.26024776697158813, -0.02193918637931347,
                   0.06312013417482376, 0.2086753249168396, 0.04614819958806038,
                   0.10245252400636673, 0.17390820384025574],
        "lstm_c": [-0.1384819746017456, -0.366184264421463, -0.4357300400733948,
                   0.3168881833553314, 0.5570157170295715, 0.07277347892522812,
                   0.2864176034927368, 0.3941233158111572],
        "gru_t0": [-0.17710769176483154, -0.06309151649475098, 0.0395740270614624,
                   0.18424862623214722, -0.247650146484375, -0.2827286720275879,
                   -0.00981152057647705, 0.37103065848350525],
    },
}  # fmt: skip


@pytest.mark.parametrize("low", LOWS)
def test_gru_and_lstm_cells_under_autocast_match_pytorch(low: dm.dtype) -> None:
    ws, (x, h, c, seq) = _rnn_data()
    gru_cell, lstm_cell, gru = dm.nn.GRUCell(3, 4), dm.nn.LSTMCell(3, 4), dm.nn.GRU(3, 4)
    _load(gru_cell, ws["gru"])
    _load(lstm_cell, ws["lstm"])
    _load(gru, ws["gru"], "_l0")
    with dm.autocast("cpu", dtype=low):
        g = gru_cell(dm.tensor(x), dm.tensor(h))
        lh, lc = lstm_cell(dm.tensor(x), (dm.tensor(h), dm.tensor(c)))
        out, h_n = gru(dm.tensor(seq))
    assert [t.dtype for t in (g, lh, lc, out, h_n)] == [dm.float32] * 5
    want = _TORCH_RNN[str(low).split(".")[-1]]
    # bfloat16: PyTorch's values to a float32 tanh ulp; float16: an ulp of the float16 gates
    tol = 1e-7 if low == dm.bfloat16 else 5e-4
    got = {"gru_cell": g, "lstm_h": lh, "lstm_c": lc, "gru_t0": out[0]}
    for key, t in got.items():
        np.testing.assert_allclose(_np(t).ravel(), want[key], rtol=0, atol=tol, err_msg=key)


@pytest.mark.parametrize("low", LOWS)
def test_recurrent_layers_under_autocast_dtypes(low: dm.dtype) -> None:
    seq, x, h = _x(5, 2, 3), _x(2, 3), _x(2, 4)
    with dm.autocast("cpu", dtype=low):
        lstm_out, (lh, lc) = dm.nn.LSTM(3, 4)(seq)  # PyTorch's oneDNN LSTM: the low dtype
        rnn_out, rh = dm.nn.RNN(3, 4, num_layers=2)(seq)
        cell = dm.nn.RNNCell(3, 4)(x, h)
        gru_out, gh = dm.nn.GRU(3, 4, num_layers=2, bidirectional=True)(seq)
        low_in = [
            dm.nn.GRU(3, 4)(seq.to(low))[0],
            dm.nn.GRUCell(3, 4)(x.to(low)),
            dm.nn.LSTMCell(3, 4)(x.to(low))[0],
        ]
    assert [t.dtype for t in (lstm_out, lh, lc, rnn_out, rh, cell)] == [low] * 6
    assert (gru_out.dtype, gh.dtype, gru_out.shape) == (dm.float32, dm.float32, (5, 2, 8))
    assert [t.dtype for t in low_in] == [low] * 3  # a low state: the fused op's low dtype


def test_gru_under_autocast_is_differentiable() -> None:
    gru = dm.nn.GRU(3, 4)
    x = _x(4, 2, 3).requires_grad_()
    with dm.autocast("cpu", dtype=dm.bfloat16):
        out, _ = gru(x)
    out.sum().backward()
    assert x.grad is not None and x.grad.dtype == dm.float32
    assert gru.weight_hh_l0.grad is not None and gru.weight_hh_l0.grad.dtype == dm.float32
    assert np.isfinite(_np(x.grad)).all()
