"""``dm.random``, as ``torch.random``: the global generator's seed and state, and
``fork_rng``, which runs a block with the generator's state restored afterwards. The engine
has one generator for every device (CUDA kernels draw from the same counter-based stream), so
forking it forks the random state of every device."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from . import _core
from ._pytorch_compat import state_tensor, state_words
from ._random_more import initial_seed, manual_seed, seed

__all__ = ["fork_rng", "get_rng_state", "initial_seed", "manual_seed", "seed", "set_rng_state"]


def get_rng_state() -> _core.Tensor:
    """The global generator's state as a tensor (int64 words; PyTorch's is a uint8 tensor),
    for ``set_rng_state``."""
    return state_tensor(_core.get_rng_state())


def set_rng_state(new_state: Any) -> None:
    """Restores a state from ``get_rng_state`` (a tensor, or the list of words that earlier
    versions returned); the engine validates it."""
    _core.set_rng_state(state_words(new_state))


@contextlib.contextmanager
def fork_rng(
    devices: Iterable[Any] | None = None,
    enabled: bool = True,
    _caller: str = "fork_rng",
    _devices_kw: str = "devices",
    device_type: str = "cuda",
) -> Iterator[None]:
    """Saves the generator's state on entry and restores it on exit (also when the block
    raises), so random draws inside the block do not change what is drawn after it. The
    arguments are PyTorch's; ``devices`` and ``device_type`` need no separate handling here
    (one generator for every device), and ``enabled=False`` makes it a no-op."""
    del devices, _caller, _devices_kw, device_type
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)
