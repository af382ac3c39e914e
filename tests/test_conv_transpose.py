"""``F.conv_transpose1d/2d`` and ``nn.ConvTranspose1d/2d`` against a direct NumPy
implementation (each input pixel scatters ``x * w`` into the output), float64 gradients,
PyTorch's parameter layout and ``output_size``, typed errors, and a small DCGAN-style
generator that learns."""

from __future__ import annotations

from typing import Optional

import numpy as np
import pytest

import democratising as dm
import democratising.nn.functional as F
from democratising import nn
from democratising.errors import ShapeError
from helpers import gradcheck

rng = np.random.default_rng(0)


def reference(
    x: np.ndarray,
    w: np.ndarray,
    b: Optional[np.ndarray],
    s: tuple[int, int],
    p: tuple[int, int],
    op: tuple[int, int],
    g: int,
    d: tuple[int, int],
) -> np.ndarray:
    n, c_in, h, wd = x.shape
    _, cog, kh, kw = w.shape
    ho = (h - 1) * s[0] - 2 * p[0] + d[0] * (kh - 1) + op[0] + 1
    wo = (wd - 1) * s[1] - 2 * p[1] + d[1] * (kw - 1) + op[1] + 1
    full = np.zeros((n, cog * g, ho + 2 * p[0], wo + 2 * p[1]))
    per = c_in // g
    for ci in range(c_in):
        grp = ci // per
        for a in range(kh):
            for c in range(kw):
                rows = np.arange(h) * s[0] + a * d[0]
                cols = np.arange(wd) * s[1] + c * d[1]
                ok_r, ok_c = rows < full.shape[2], cols < full.shape[3]
                contrib = (
                    x[:, ci][:, ok_r][:, :, ok_c][:, None] * w[ci, :, a, c][None, :, None, None]
                )
                full[:, grp * cog : (grp + 1) * cog][
                    :, :, rows[ok_r][:, None], cols[ok_c][None, :]
                ] += contrib
    out = full[:, :, p[0] : p[0] + ho, p[1] : p[1] + wo]
    return out if b is None else out + b[None, :, None, None]


CASES = [
    # (N, C_in, H, W, C_out, k, stride, padding, output_padding, groups, dilation)
    (2, 4, 5, 6, 6, 3, 2, 1, 1, 2, 1),
    (1, 3, 4, 4, 2, 4, 2, 1, 0, 1, 1),
    (2, 2, 3, 5, 4, 2, 1, 0, 0, 1, 2),
    (1, 4, 3, 3, 4, 3, 3, 2, 2, 4, 1),
]


@pytest.mark.parametrize("case", CASES)
def test_matches_the_direct_scatter(case: tuple[int, ...]) -> None:
    n, c_in, h, w_, c_out, k, s, p, op, g, d = case
    x = rng.standard_normal((n, c_in, h, w_))
    w = rng.standard_normal((c_in, c_out // g, k, k))
    b = rng.standard_normal(c_out)
    got = F.conv_transpose2d(dm.tensor(x), dm.tensor(w), dm.tensor(b), s, p, op, g, d)
    want = reference(x, w, b, (s, s), (p, p), (op, op), g, (d, d))
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)
    got32 = F.conv_transpose2d(
        *(dm.tensor(a.astype(np.float32)) for a in (x, w, b)), s, p, op, g, d
    )
    np.testing.assert_allclose(got32.numpy(), want, atol=1e-4)


@pytest.mark.parametrize("case", CASES[:2] + CASES[3:])
def test_gradcheck(case: tuple[int, ...]) -> None:
    _, c_in, h, w_, c_out, k, s, p, op, g, d = case
    ts = [
        dm.tensor(rng.standard_normal(shape), requires_grad=True)
        for shape in ((1, c_in, h, w_), (c_in, c_out // g, k, k), (c_out,))
    ]
    gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, s, p, op, g, d), ts)


def test_one_dimensional_and_unbatched() -> None:
    x, w = rng.standard_normal((2, 3, 7)), rng.standard_normal((3, 5, 4))
    got = F.conv_transpose1d(dm.tensor(x), dm.tensor(w), stride=2, padding=1)
    want = reference(x[:, :, None], w[:, :, None], None, (1, 2), (0, 1), (0, 0), 1, (1, 1))[:, :, 0]
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)
    single = F.conv_transpose2d(dm.tensor(x[0][:, None]), dm.tensor(w[:, :, None]), stride=(1, 2))
    assert tuple(single.shape) == (5, 1, 16)
    ts = [dm.tensor(rng.standard_normal(s), requires_grad=True) for s in ((1, 2, 5), (2, 3, 3))]
    gradcheck(lambda a, b: F.conv_transpose1d(a, b, stride=3, output_padding=1), ts)


def test_layer_parameters_output_size_and_repr() -> None:
    m = nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1, groups=2, bias=True)
    assert tuple(m.weight.shape) == (16, 4, 4, 4) and tuple(m.bias.shape) == (8,)
    assert list(m.state_dict()) == ["weight", "bias"]
    bound = 1 / np.sqrt(4 * 16)
    assert np.abs(m.weight.detach().numpy()).max() <= bound
    x = dm.randn(2, 16, 8, 8)
    assert tuple(m(x).shape) == (2, 8, 16, 16)
    assert tuple(m(x, output_size=[2, 8, 17, 17]).shape) == (2, 8, 17, 17)
    with pytest.raises(ShapeError, match="valid sizes"):
        m(x, output_size=[19, 19])
    assert repr(m) == (
        "ConvTranspose2d(16, 8, kernel_size=(4, 4), stride=(2, 2), padding=(1, 1), groups=2)"
    )
    m1 = nn.ConvTranspose1d(3, 5, 3, stride=2, output_padding=1, bias=False)
    assert tuple(m1(dm.randn(2, 3, 7)).shape) == (2, 5, 16) and m1.bias is None


def test_errors_are_typed() -> None:
    x, w = dm.randn(1, 4, 5, 5), dm.randn(4, 2, 3, 3)
    with pytest.raises(ShapeError, match="channels"):
        F.conv_transpose2d(dm.randn(1, 3, 5, 5), w)
    with pytest.raises(ValueError, match="output padding"):
        F.conv_transpose2d(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2d(4, 2, 3, stride=1, output_padding=1)
    with pytest.raises(ShapeError, match="too small"):
        F.conv_transpose2d(dm.randn(1, 4, 1, 1), w, padding=3)
    with pytest.raises(ValueError, match="zeros"):
        nn.ConvTranspose2d(4, 2, 3, padding_mode="reflect")
    with pytest.raises(dm.errors.DTypeError):
        F.conv_transpose2d(x, w.double())


def test_a_dcgan_style_generator_learns() -> None:
    dm.manual_seed(0)
    gen = nn.Sequential(
        nn.ConvTranspose2d(8, 16, 4, 1, 0, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(True),
        nn.ConvTranspose2d(16, 1, 4, 2, 1, bias=False),
        nn.Tanh(),
    )
    z = dm.randn(16, 8, 1, 1)
    target = dm.tensor(np.tile(np.linspace(-0.8, 0.8, 8, dtype=np.float32), (16, 1, 8, 1)))
    opt = dm.optim.Adam(gen.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        out = gen(z)
        assert tuple(out.shape) == (16, 1, 8, 8)
        loss = ((out - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
