"""``_specialise.specialise``: constructors declared once (``AdamW`` from ``Adam``, ``LSTM`` and
``GRU`` from ``RNNBase``) still show, take and check their own arguments."""

from __future__ import annotations

import inspect

import pytest

import democratising as dm
from democratising._specialise import specialise


def test_specialised_constructors_show_their_own_signatures() -> None:
    lstm = inspect.signature(dm.nn.LSTM)
    assert "mode" not in lstm.parameters and lstm.parameters["proj_size"].default == 0
    assert list(inspect.signature(dm.nn.GRU).parameters)[:2] == ["input_size", "hidden_size"]
    assert "proj_size" not in inspect.signature(dm.nn.GRU).parameters
    assert inspect.signature(dm.optim.AdamW).parameters["weight_decay"].default == 1e-2
    assert inspect.signature(dm.optim.Adam).parameters["weight_decay"].default == 0.0


def test_specialised_constructors_bind_like_the_original() -> None:
    m = dm.nn.LSTM(3, 4, 2, True, True, proj_size=2)
    assert (m.mode, m.num_layers, m.batch_first, m.proj_size) == ("LSTM", 2, True, 2)
    assert dm.nn.GRU(3, 4).mode == "GRU"
    with pytest.raises(TypeError):
        dm.nn.GRU(3, 4, proj_size=2)  # not a GRU argument, as in the old explicit signature
    with pytest.raises(TypeError):
        dm.nn.LSTM(3, 4, mode="GRU")
    p = [dm.zeros(2, requires_grad=True)]
    assert dm.optim.AdamW(p, 0.1, (0.8, 0.9)).defaults["weight_decay"] == 1e-2


def test_specialise_refuses_what_it_cannot_keep() -> None:
    def f(self: object, a: int, b: int = 1) -> None:
        del self, a, b

    with pytest.raises(TypeError, match="no parameters"):
        specialise(f, fixed={"c": 1})

    def g(self: object, *args: int) -> None:
        del self, args

    with pytest.raises(TypeError, match=r"\*args"):
        specialise(g, fixed={})
