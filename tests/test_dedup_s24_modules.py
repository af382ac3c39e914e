"""Pins what the session-24 deduplication of ``nn/containers.py`` and ``nn/module.py`` kept:
the exact ``update`` type errors (PyTorch's messages, ``ParametersDict`` spelling included) and
``named_modules`` treating the root like every other module."""

from __future__ import annotations

from typing import Any, Callable

import pytest

import democratising as dm
from democratising import nn
from democratising.errors import ArgumentTypeError


@pytest.mark.parametrize(
    ("call", "arg", "message"),
    [
        (
            lambda a: nn.ModuleList().extend(a),
            3,
            "ModuleList.extend should be called with an iterable, but got int",
        ),
        (
            lambda a: nn.ParameterList().extend(a),
            3,
            "ParameterList.extend should be called with an iterable, but got int",
        ),
        (
            lambda a: nn.ParameterList().extend(a),
            dm.ones(2),
            "ParameterList.extend should be called with an iterable, but got Tensor",
        ),
        (
            lambda a: nn.ModuleDict().update(a),
            3,
            "ModuleDict.update should be called with an iterable of key/value pairs, but got int",
        ),
        (
            lambda a: nn.ParameterDict().update(a),
            3.5,
            "ParametersDict.update should be called "
            "with an iterable of key/value pairs, but got float",
        ),
    ],
)
def test_extend_and_update_reject_a_non_iterable_with_pytorchs_message(
    call: Callable[[Any], Any], arg: Any, message: str
) -> None:
    with pytest.raises(TypeError) as info:
        call(arg)
    assert str(info.value) == message
    assert isinstance(info.value, ArgumentTypeError)


def test_parameter_list_extend_still_takes_a_list_of_tensors() -> None:
    p = nn.ParameterList().extend([dm.ones(2), dm.zeros(3)])
    assert [tuple(t.shape) for t in p] == [(2,), (3,)]


def test_named_modules_root_is_skipped_by_memo_and_named_by_prefix() -> None:
    inner = nn.Linear(2, 2)
    outer = nn.Sequential(inner, nn.ReLU())
    # the root in ``memo``: nothing at all, not even its children
    assert list(outer.named_modules(memo={outer})) == []
    # a prefix names the root itself, and its children below it
    names = [n for n, _ in outer.named_modules(prefix="net", remove_duplicate=False)]
    assert names == ["net", "net.0", "net.1"]
    # a child in ``memo`` is skipped; the root is added to it once yielded
    memo = {inner}
    assert [n for n, _ in outer.named_modules(memo=memo)] == ["", "1"]
    assert outer in memo
