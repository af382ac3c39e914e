"""Acceptance checks (tensors, modules, optimizers, mixed precision, errors) written as a new
user reads API.md: every failure is a typed ``DemocratisingError``."""

from __future__ import annotations

import inspect

import pytest

import democratising as dm
from democratising import errors, nn
from democratising.amp import GradScaler
from democratising.optim import SGD


def _stepped_scaler() -> tuple[GradScaler, SGD]:
    """A scaler that has scaled one loss and stepped once (so misuse can be provoked)."""
    model = nn.Linear(3, 1)
    opt = SGD(model.parameters(), lr=0.1)
    scaler = GradScaler()
    scaler.scale(model(dm.ones(2, 3)).sum()).backward()
    scaler.step(opt)
    return scaler, opt


@pytest.mark.parametrize("dtype", [dm.int64, dm.bool, "float32"])
def test_layer_dtype_argument_must_be_floating_dtype(dtype: object) -> None:
    # The layers' dtype= check raises the documented DTypeError (still a TypeError).
    for make in (
        lambda: nn.Linear(2, 2, dtype=dtype),
        lambda: nn.Conv2d(1, 1, 3, dtype=dtype),
        lambda: nn.LayerNorm(3, dtype=dtype),
    ):
        with pytest.raises(dm.DTypeError, match="floating-point dtypes only"):
            make()
    assert nn.Linear(2, 2, dtype=dm.float64).weight.dtype == dm.float64


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"growth_factor": 0.5}, "growth_factor"),
        ({"backoff_factor": 1.5}, "backoff_factor"),
        ({"growth_interval": 0}, "growth_interval"),
    ],
)
def test_grad_scaler_bad_factors_are_typed(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(dm.DemocratisingError, match=match) as info:
        GradScaler(**kwargs)
    assert isinstance(info.value, ValueError)


def test_grad_scaler_bad_arguments_are_typed() -> None:
    with pytest.raises(dm.DemocratisingError) as info:
        GradScaler(init_scale=2.0, bogus=1)
    assert isinstance(info.value, TypeError)
    with pytest.raises(TypeError, match="device must be a str"):
        GradScaler(device=0)


def test_grad_scaler_misuse_is_typed_runtime_error() -> None:
    # PyTorch raises RuntimeError here; ours is also a DemocratisingError.
    opt = SGD([nn.Parameter(dm.ones(1))], lr=0.1)
    with pytest.raises(dm.DemocratisingError, match="scale is not initialised") as info:
        GradScaler().step(opt)
    assert isinstance(info.value, RuntimeError)
    scaler, opt = _stepped_scaler()
    with pytest.raises(dm.DemocratisingError, match=r"step\(\) has already been called"):
        scaler.step(opt)
    with pytest.raises(dm.DemocratisingError, match=r"unscale_\(\) is being called after step"):
        scaler.unscale_(opt)
    scaler.update()
    with pytest.raises(dm.DemocratisingError, match="No inf checks"):
        scaler.update()
    with pytest.raises(dm.DemocratisingError, match="Closure"):
        scaler.scale(dm.tensor(1.0))
        scaler.step(opt, closure=lambda: None)
    assert scaler.get_scale() == 65536.0


def test_every_error_class_is_exported_and_typed() -> None:
    # `from democratising.errors import *` must give every class the library raises
    # (InvalidValueError and FileIOError were missing from __all__).
    defined = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, Exception) and not name.startswith("_")
    }
    assert {"InvalidValueError", "FileIOError", "ShapeError", "DTypeError"} <= defined
    assert defined == set(errors.__all__)
    for name in defined:
        assert issubclass(getattr(errors, name), errors.DemocratisingError), name
    with pytest.raises(errors.InvalidValueError):
        dm.ones(2).item()
