"""A PyTorch ``state_dict`` saved as safetensors (same key names and layouts as PyTorch:
``Linear.weight`` is ``(out, in)``, ``Sequential`` children ``0, 1, ...``, BatchNorm buffers)
loads into the equivalent democratising model and gives the same outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import democratising as dm
from democratising import nn
from democratising.checkpoint import load_file


def test_pytorch_style_safetensors_state_dict_loads_and_matches(tmp_path: Path) -> None:
    st = pytest.importorskip("safetensors.numpy")
    rng = np.random.default_rng(0)
    sd = {
        "0.weight": rng.normal(size=(8, 1, 3, 3)).astype(np.float32),
        "0.bias": rng.normal(size=(8,)).astype(np.float32),
        "1.weight": rng.normal(size=(8,)).astype(np.float32),
        "1.bias": rng.normal(size=(8,)).astype(np.float32),
        "1.running_mean": rng.normal(size=(8,)).astype(np.float32),
        "1.running_var": rng.uniform(0.5, 2.0, size=(8,)).astype(np.float32),
        "1.num_batches_tracked": np.array(7, dtype=np.int64),
        "4.weight": rng.normal(size=(10, 8 * 3 * 3)).astype(np.float32),
        "4.bias": rng.normal(size=(10,)).astype(np.float32),
    }
    path = tmp_path / "model.safetensors"
    st.save_file(
        sd, str(path)
    )  # what torch's safetensors.torch.save_file(model.state_dict()) writes

    model = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dense(8 * 3 * 3, 10),
    )
    # The layout must be exactly PyTorch's for the file to load strictly.
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == {
        k: v.shape for k, v in sd.items()
    }
    model.load_state_dict(load_file(path))
    model.eval()

    x = rng.normal(size=(2, 1, 3, 3)).astype(np.float32)
    got = model(dm.tensor(x)).detach().numpy()

    # Reference forward in NumPy with PyTorch's definitions.
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((2, 8, 3, 3), dtype=np.float64)
    for i in range(3):
        for j in range(3):
            patch = xp[:, :, i : i + 3, j : j + 3]
            conv[:, :, i, j] = np.einsum("nchw,ochw->no", patch, sd["0.weight"]) + sd["0.bias"]
    bn = (conv - sd["1.running_mean"][None, :, None, None]) / np.sqrt(
        sd["1.running_var"][None, :, None, None] + 1e-5
    ) * sd["1.weight"][None, :, None, None] + sd["1.bias"][None, :, None, None]
    h = np.maximum(bn, 0).reshape(2, -1)
    ref = h @ sd["4.weight"].T + sd["4.bias"]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
    assert model[1].num_batches_tracked.item() == 7
