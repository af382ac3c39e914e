"""Shared by the MPI worker scripts and tests/test_distributed.py: the models, the data and the
single-process reference training that DDP must reproduce."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

import democratising as dm
from democratising import nn
from democratising.optim import SGD, Adam

IN, HIDDEN, OUT = 12, 16, 5
PER_RANK = 6  # samples per rank and step in ddp_train.py


class _WithUnusedHead(nn.Sequential):
    """The MLP plus a layer ``unused`` that forward never calls (it never gets a gradient)."""

    def forward(self, x: Any) -> Any:
        for m in list(self.children())[:3]:
            x = m(x)
        return x


def make_mlp(seed: int, extra_unused: bool = False) -> nn.Module:
    """The seed's Dense-ReLU-Dense MLP (optionally with a head that is never used)."""
    dm.manual_seed(seed)
    cls = _WithUnusedHead if extra_unused else nn.Sequential
    m = cls(nn.Dense(IN, HIDDEN), nn.ReLU(), nn.Dense(HIDDEN, OUT))
    if extra_unused:
        m.add_module("unused", nn.Dense(HIDDEN, 3))
    return m


def make_optimizer(kind: str, params: Any) -> Any:
    return Adam(params, 1e-2) if kind == "adam" else SGD(params, 0.1, momentum=0.9)


def global_batches(steps: int, global_batch: int, seed: int = 0) -> list[tuple[Any, Any]]:
    """``steps`` deterministic global batches as NumPy ``(x, y)``."""
    rng = np.random.default_rng(seed)
    return [
        (
            rng.standard_normal((global_batch, IN)).astype(np.float32),
            rng.integers(0, OUT, global_batch).astype(np.int64),
        )
        for _ in range(steps)
    ]


def shard(arr: np.ndarray, rank: int, size: int) -> np.ndarray:
    """Rank ``rank``'s contiguous slice of a global batch."""
    n = arr.shape[0] // size
    return np.ascontiguousarray(arr[rank * n : (rank + 1) * n])


def params_of(model: nn.Module) -> dict[str, np.ndarray]:
    return {n: np.array(p.detach().numpy(), copy=True) for n, p in model.named_parameters()}


def grads_of(model: nn.Module) -> dict[str, np.ndarray]:
    return {
        n: np.array(p.grad.numpy(), copy=True)
        for n, p in model.named_parameters()
        if p.grad is not None
    }


def reference_training(
    init: dict[str, np.ndarray],
    batches: list[tuple[np.ndarray, np.ndarray]],
    optimizer: str,
    micro: int = 1,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One process, global batches: returns (first-step gradients, final parameters).

    With ``micro > 1`` each optimizer step accumulates ``micro`` consecutive batches (the sum
    of their mean losses), which is what DDP with ``no_sync`` computes."""
    model = make_mlp(0)
    model.load_state_dict({k: dm.from_numpy(v.copy()) for k, v in init.items()})
    opt = make_optimizer(optimizer, model.parameters())
    loss_fn = nn.CrossEntropyLoss()
    first: dict[str, np.ndarray] = {}
    for s in range(0, len(batches), micro):
        opt.zero_grad()
        for x, y in batches[s : s + micro]:
            loss_fn(model(dm.from_numpy(x)), dm.from_numpy(y)).backward()
        if not first:
            first = grads_of(model)
        opt.step()
    return first, params_of(model)


def run_rank_steps(
    forward_backward: Callable[[np.ndarray, np.ndarray], None],
    batches: list[tuple[np.ndarray, np.ndarray]],
    rank: int,
    size: int,
) -> None:
    for x, y in batches:
        forward_backward(shard(x, rank, size), shard(y, rank, size))
