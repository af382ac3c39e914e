"""``dm.random`` as ``torch.random``: seeds, state, and ``fork_rng`` restoring the state."""

from __future__ import annotations

import numpy as np
import pytest

import democratising as dm


def test_fork_rng_restores_the_state_after_the_block() -> None:
    dm.random.manual_seed(3)
    with dm.random.fork_rng():
        inside = dm.rand(4).tolist()
    after = dm.rand(4).tolist()
    assert inside == after  # the block's draws did not advance the outer stream
    dm.manual_seed(3)
    assert dm.rand(4).tolist() == after


def test_fork_rng_restores_on_error_and_can_be_disabled() -> None:
    dm.manual_seed(5)
    state = dm.random.get_rng_state().tolist()
    with pytest.raises(KeyError), dm.random.fork_rng(devices=[], device_type="cuda"):
        dm.rand(3)
        raise KeyError("boom")
    assert dm.random.get_rng_state().tolist() == state
    with dm.random.fork_rng(enabled=False):
        dm.rand(3)
    assert dm.random.get_rng_state().tolist() != state


def test_rng_state_is_a_tensor_that_restores_the_stream() -> None:
    dm.manual_seed(7)
    state = dm.random.get_rng_state()
    # PyTorch's type: a uint8 byte tensor (here the engine's four 64-bit words)
    assert isinstance(state, dm.Tensor) and state.dtype == dm.uint8 and state.shape == (32,)
    first = dm.rand(5).tolist()
    dm.random.set_rng_state(state)
    assert dm.rand(5).tolist() == first
    dm.random.set_rng_state(state.tolist())  # (its values as a list)
    assert dm.rand(5).tolist() == first
    words = state.numpy().view("<u8").view(np.int64)  # the int64 words of earlier versions
    dm.random.set_rng_state(dm.from_numpy(words.copy()))
    assert dm.rand(5).tolist() == first
    dm.random.set_rng_state(words.tolist())
    assert dm.rand(5).tolist() == first
    with pytest.raises(ValueError):
        dm.random.set_rng_state(state[:8])


def test_seed_functions_are_the_top_level_ones() -> None:
    dm.random.manual_seed(11)
    assert dm.random.initial_seed() == 11 == dm.initial_seed()
    s = dm.random.seed()
    assert dm.random.initial_seed() == s
    import democratising.random as r

    assert r.fork_rng is dm.random.fork_rng
    assert "random" not in dm.__all__  # (as torch's: a star import keeps the stdlib's random)
