"""Messages a new user meets first (issue 17, point 9): each names the problem and the fix."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import democratising as dm
from democratising import nn
from democratising.data import TensorDataset
from democratising.train import ConfigError, EarlyStopping, Trainer, TrainingConfig

ROOT = Path(__file__).resolve().parent.parent


def test_misspelt_training_config_argument_gets_a_did_you_mean() -> None:
    with pytest.raises(TypeError, match="did you mean 'batch_size'"):
        TrainingConfig(batch_sise=64)  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="did you mean 'batch_size'"):
        TrainingConfig(batch_sise=64)  # type: ignore[call-arg]


def test_lr_in_the_optimizer_table_points_to_learning_rate(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text('[optimizer]\nname = "sgd"\nlr = 0.1\n')
    with pytest.raises(ConfigError, match="top-level 'learning_rate'"):
        TrainingConfig.from_file(tmp_path / "run.toml")
    with pytest.raises(ConfigError, match=r"TrainingConfig\(learning_rate=\.\.\.\)"):
        dm.train.OptimizerConfig.SGD(lr=0.1)  # type: ignore[call-arg]


def test_every_error_of_a_config_file_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "run.toml").write_text(
        'batch_sise = 64\nlearning_rate = -1\nnum_epochs = "ten"\n'
        '[optimizer]\nname = "adam"\nbeta1 = 2\n[scheduler]\nname = "StepLR"\nstep_size = 0\n'
    )
    with pytest.raises(ConfigError) as info:
        TrainingConfig.from_file(tmp_path / "run.toml")
    text = str(info.value)
    assert text.startswith("5 problems in the training config:")
    for needle in ("batch_sise", "learning_rate", "num_epochs", "optimizer.beta1", "step_size"):
        assert needle in text
    r = subprocess.run(
        [sys.executable, "-m", "democratising.cli", "train", "--config", "run.toml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 6, r.stderr


def test_conv2d_on_a_batch_without_channels_suggests_unsqueeze() -> None:
    with pytest.raises(dm.ShapeError, match=r"x\.unsqueeze\(1\).*\[8, 1, 28, 28\]"):
        nn.Conv2d(1, 4, 3)(dm.randn(8, 28, 28))
    assert nn.Conv2d(3, 4, 3)(dm.randn(3, 8, 8)).shape == (4, 6, 6)  # one unbatched image


def test_mnist_given_a_file_says_it_expected_a_directory(tmp_path: Path) -> None:
    f = tmp_path / "train-images-idx3-ubyte"
    f.write_bytes(b"\0" * 16)
    with pytest.raises(dm.DemocratisingError, match=r"expected a directory.*pass its folder"):
        dm.datasets.mnist(f)


def test_linear_prints_as_linear_and_stays_dense() -> None:
    assert repr(nn.Linear(2, 3)) == "Linear(in_features=2, out_features=3, bias=True)"
    assert repr(nn.Dense(2, 3)).startswith("Dense(")
    assert isinstance(nn.Dense(2, 3), nn.Linear) and isinstance(nn.Linear(2, 3), nn.Dense)
    assert list(nn.Linear(2, 3).state_dict()) == ["weight", "bias"]


def test_early_stopping_says_it_restored_the_best_weights() -> None:
    dm.manual_seed(0)
    x = dm.randn(32, 4)
    data = TensorDataset(x, (x.sum(dim=1) > 0).long())
    lines: list[str] = []
    cfg = TrainingConfig(num_epochs=30, learning_rate=0.5, batch_size=8, model_summary=False)
    model = nn.Sequential(nn.Linear(4, 2))
    Trainer(model, cfg, callbacks=[EarlyStopping(1, min_delta=10.0)], log=lines.append).fit(data)
    assert any(
        re.match(r"EarlyStopping: restored the best weights of epoch 1 \(loss = ", ln)
        for ln in lines
    ), lines


def test_readme_cuda_one_liner_prints_the_reason_without_raising() -> None:
    text = (ROOT / "README.md").read_text()
    line = next(
        ln for ln in text.splitlines() if ln.startswith('python -c "import democratising.cuda')
    )
    code = line.split('"', 2)[1]
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] in ("True", "False")
    if not dm.cuda.is_available():
        assert r.stdout.startswith("False 0 ") and len(r.stdout.split()) > 3  # the reason
