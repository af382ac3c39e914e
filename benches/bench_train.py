"""Training-step benchmark: democratising against PyTorch (eager; ``torch.compile`` for the GPT
steps) and a ``jax.jit``-compiled step.

One step is forward, cross-entropy loss, ``zero_grad``, backward and an Adam update (lr 1e-3,
PyTorch's defaults). Measured, side by side in one run, on the CPU with 2 threads:

* float32 steps: MLP 784-128-10 at batch 32 / 128 / 1024, MLP 784-1024-1024-10 at batch 256,
  and a small CNN (Conv(1->32,3)-ReLU-MaxPool(2)-Conv(32->64,3)-ReLU-MaxPool(2)-Flatten-
  Dense(1600,128)-ReLU-Dense(128,10)) at batch 64 on 28x28 inputs. JAX runs the whole step
  (``value_and_grad`` + optax Adam) as one ``jax.jit`` function with donated parameters;
* mixed-precision steps (autocast + GradScaler) in bfloat16 and float16 for the 784-128-10 MLP
  and the CNN, democratising's ``dm.amp`` beside PyTorch's CPU ``torch.autocast``;
* half-precision GEMM throughput, ``a @ b`` at N = 1024 in float16 / bfloat16 (float32 for
  reference), democratising against PyTorch;
* transformer steps (``--only gpt``): a nanoGPT-style decoder (token + position embeddings,
  pre-norm blocks of LayerNorm -> causal ``F.scaled_dot_product_attention`` -> residual,
  LayerNorm -> MLP with GELU (tanh form, GPT-2's) -> residual, final LayerNorm, head tied to the
  token embedding) over a vocabulary of 65, trained with AdamW (lr 1e-3, weight decay 0.01) and
  gradient clipping at 1.0: GPT-small (4 layers, 4 heads, 128 wide, block 128, batch 16) and
  GPT-mid (6 layers, 6 heads, 384 wide, block 256, batch 8), in float32 and under bfloat16
  autocast (no GradScaler: bfloat16 has float32's range). PyTorch eager runs its fused
  ``scaled_dot_product_attention``; PyTorch also runs with the model under ``torch.compile``
  (inductor, default mode; loss, clipping and AdamW stay eager), compiled in the untimed
  warm-up, so compile time is excluded; the JAX step (float32) is one ``jax.jit`` function with
  optax's ``clip_by_global_norm`` + ``adamw``. ``--only gpt-mem`` adds GPT-small at block 1024
  (batch 4), a case for the peak memory of attention over long contexts;
* the peak resident memory (RSS high-water mark) of the process running the steps.

Every (framework, case) pair runs in its own subprocess (``--worker``), which imports only its
own framework: that keeps one library's allocations out of another's peak, and lets each
worker's environment pin rayon / OpenMP / MKL / XLA to the same number of threads. The peak is
``VmHWM`` from ``/proc/self/status`` over the timed steps, after a warm-up (JIT compilation
included) and a reset of the high-water mark through ``/proc/self/clear_refs``; the table also
gives the growth over the process's RSS right after its imports.

Timing follows ``bench_ops.py``: ``time.perf_counter``, a warm-up, then the best of several
timed batches of steps (each batch lasts at least ~20 ms). No step reads its loss back (no
``.item()``); JAX blocks on its results at the end of each batch only, so its asynchronous
dispatch counts, as it would in a training loop.

Usage::

    python benches/bench_train.py                    # everything (about 6 minutes)
    python benches/bench_train.py --rounds 2 --budget 0.6 --json raw.json   # best of 2 rounds
    python benches/bench_train.py --only fp32 --budget 1
    python benches/bench_train.py --only gpt gpt-mem   # the transformer cases
    python benches/bench_train.py --worker democratising --case gpt_small:16:bfloat16   # one
    python benches/bench_train.py --breakdown        # democratising/PyTorch time per phase
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

FRAMEWORKS = ("democratising", "torch", "jax")
#: PyTorch with the model under ``torch.compile``: a GPT-only worker, run wherever torch imports.
TORCH_COMPILE = "torch.compile"
GPT_FRAMEWORKS = ("democratising", "torch", TORCH_COMPILE, "jax")
GPT_AMP_FRAMEWORKS = ("democratising", "torch", TORCH_COMPILE)
THREAD_VARS = ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
LR = 1e-3
GEMM_N = 1024
WARMUP_STEPS = 5
MIN_BATCH_S = 0.02

Result = dict[str, Any]


@dataclass(frozen=True)
class Case:
    """One benchmark row: a model at a batch size and a precision."""

    model: str  # "mlp_small", "mlp_big", "cnn" or a GPT_SIZES key
    batch: int
    precision: str = "float32"  # or "bfloat16" / "float16" (autocast + GradScaler)

    @property
    def key(self) -> str:
        return f"{self.model}:{self.batch}:{self.precision}"

    @staticmethod
    def parse(key: str) -> Case:
        model, batch, precision = key.split(":")
        return Case(model, int(batch), precision)


MODEL_NAMES = {
    "mlp_small": "MLP 784-128-10",
    "mlp_big": "MLP 784-1024-1024-10",
    "cnn": "CNN 2xConv+Dense",
    "gpt_small": "GPT-small 4L/4H/128, block 128",
    "gpt_mid": "GPT-mid 6L/6H/384, block 256",
    "gpt_small_1024": "GPT-small 4L/4H/128, block 1024",
}
MLP_SIZES = {"mlp_small": (784, 128, 10), "mlp_big": (784, 1024, 1024, 10)}

FP32_CASES = (
    Case("mlp_small", 32),
    Case("mlp_small", 128),
    Case("mlp_small", 1024),
    Case("mlp_big", 256),
    Case("cnn", 64),
)
AMP_CASES = tuple(
    Case(model, batch, dt)
    for model, batch in (("mlp_small", 128), ("mlp_small", 1024), ("cnn", 64))
    for dt in ("bfloat16", "float16")
)
AMP_FRAMEWORKS = ("democratising", "torch")

#: GPT models: (layers, heads, width, block size); the vocabulary is GPT_VOCAB characters.
GPT_SIZES = {
    "gpt_small": (4, 4, 128, 128),
    "gpt_mid": (6, 6, 384, 256),
    "gpt_small_1024": (4, 4, 128, 1024),
}
GPT_VOCAB = 65
GPT_WEIGHT_DECAY = 0.01
GPT_CLIP = 1.0
GPT_WARMUP_STEPS = 2  # a GPT step lasts long enough for its caches to warm in two
GPT_CASES = tuple(
    Case(model, batch, dt)
    for model, batch in (("gpt_small", 16), ("gpt_mid", 8))
    for dt in ("float32", "bfloat16")
)
GPT_MEMORY_CASES = (Case("gpt_small_1024", 4),)

# Targets from the issue: the minimum steps/s ratio against PyTorch, and against JAX either
# "faster" (strictly), "at least" (as fast) or None (no JAX target).
TARGETS: dict[str, tuple[float, Optional[str]]] = {
    "mlp_small:32:float32": (3.0, "faster"),
    "mlp_small:128:float32": (2.5, "faster"),
    "mlp_small:1024:float32": (2.0, "faster"),
    "mlp_big:256:float32": (2.0, "at least"),
    "cnn:64:float32": (2.0, None),
}


# ----------------------------------------------------------------------------- measurement


def best_time(step: Callable[[], object], sync: Callable[[], object], budget_s: float) -> Result:
    """Seconds per step: the best (and the median) batch mean over timed batches of steps.

    ``sync`` waits for outstanding work (JAX's asynchronous dispatch); it runs once per batch.
    """
    start = time.perf_counter()
    step()
    sync()
    first = time.perf_counter() - start
    number = max(1, math.ceil(MIN_BATCH_S / max(first, 1e-9)))
    repeats = max(3, min(50, int(budget_s / max(first * number, 1e-9))))
    means = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            step()
        sync()
        means.append((time.perf_counter() - start) / number)
    return {
        "us": 1e6 * min(means),
        "us_median": 1e6 * statistics.median(means),
        "steps": repeats * number,
    }


def proc_status_kib(field: str) -> Optional[int]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Resets ``VmHWM`` to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def make_data(case: Case) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    shape = (case.batch, 1, 28, 28) if case.model == "cnn" else (case.batch, 784)
    x = rng.standard_normal(shape, dtype=np.float32)
    y = rng.integers(0, 10, case.batch).astype(np.int64)
    return x, y


def build_model(nn: Any, linear: Any, case: Case) -> Any:
    """The case's model from a PyTorch-like ``nn`` namespace (``linear`` is Dense/Linear)."""
    if case.model == "cnn":
        return nn.Sequential(
            nn.Conv2d(1, 32, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            linear(1600, 128),
            nn.ReLU(),
            linear(128, 10),
        )
    sizes = MLP_SIZES[case.model]
    layers: list[Any] = []
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        layers += [linear(n_in, n_out)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------- frameworks
#
# Each ``setup_*`` returns (step, sync, loss_value): ``step`` runs one full training step.


def setup_democratising(case: Case, threads: int) -> tuple[Callable, Callable, Callable]:
    del threads  # rayon reads RAYON_NUM_THREADS, set by the driver
    import democratising as dm
    from democratising import nn

    dm.manual_seed(0)
    model = build_model(nn, nn.Dense, case)
    opt = dm.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    x_np, y_np = make_data(case)
    x, y = dm.from_numpy(x_np), dm.from_numpy(y_np)
    last: list[Any] = [None]

    if case.precision == "float32":

        def step() -> None:
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            last[0] = loss

    else:
        dtype = getattr(dm, case.precision)
        scaler = dm.amp.GradScaler()

        def step() -> None:
            with dm.amp.autocast(dtype=dtype):
                loss = loss_fn(model(x), y)
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            last[0] = loss

    return step, lambda: None, lambda: float(last[0].item())


def setup_torch(case: Case, threads: int) -> tuple[Callable, Callable, Callable]:
    import torch
    from torch import nn

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build_model(nn, nn.Linear, case)
    opt = torch.optim.Adam(model.parameters(), lr=LR)  # PyTorch's default (for-loop) Adam
    loss_fn = nn.CrossEntropyLoss()
    x_np, y_np = make_data(case)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np)
    last: list[Any] = [None]

    if case.precision == "float32":

        def step() -> None:
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            last[0] = loss

    else:
        dtype = getattr(torch, case.precision)
        scaler = torch.amp.GradScaler("cpu")

        def step() -> None:
            with torch.autocast("cpu", dtype=dtype):
                loss = loss_fn(model(x), y)
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            last[0] = loss

    return step, lambda: None, lambda: float(last[0].item())


def setup_jax(case: Case, threads: int) -> tuple[Callable, Callable, Callable]:
    del threads  # XLA_FLAGS, set by the driver
    import jax
    import jax.numpy as jnp

    if case.precision != "float32":
        raise ValueError("the JAX step is float32 only")
    try:
        import optax
    except ImportError:
        optax = None

    rng = np.random.default_rng(0)

    def uniform(shape: tuple[int, ...], fan_in: int) -> Any:
        bound = 1.0 / math.sqrt(fan_in)
        return jnp.asarray(rng.uniform(-bound, bound, shape).astype(np.float32))

    params: dict[str, Any] = {}
    if case.model == "cnn":
        params["c1w"], params["c1b"] = uniform((32, 1, 3, 3), 9), uniform((32,), 9)
        params["c2w"], params["c2b"] = uniform((64, 32, 3, 3), 288), uniform((64,), 288)
        params["d1w"], params["d1b"] = uniform((128, 1600), 1600), uniform((128,), 1600)
        params["d2w"], params["d2b"] = uniform((10, 128), 128), uniform((10,), 128)
    else:
        sizes = MLP_SIZES[case.model]
        for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
            params[f"w{i}"], params[f"b{i}"] = uniform((n_out, n_in), n_in), uniform((n_out,), n_in)
    n_dense = len(MLP_SIZES.get(case.model, ())) - 1

    def conv_relu_pool(h: Any, w: Any, b: Any) -> Any:
        h = jax.lax.conv_general_dilated(
            h, w, (1, 1), "VALID", dimension_numbers=("NCHW", "OIHW", "NCHW")
        )
        h = jax.nn.relu(h + b[None, :, None, None])
        return jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def forward(p: dict[str, Any], x: Any) -> Any:
        if case.model == "cnn":
            h = conv_relu_pool(x, p["c1w"], p["c1b"])
            h = conv_relu_pool(h, p["c2w"], p["c2b"]).reshape(x.shape[0], -1)
            h = jax.nn.relu(h @ p["d1w"].T + p["d1b"])
            return h @ p["d2w"].T + p["d2b"]
        h = x
        for i in range(n_dense):
            h = h @ p[f"w{i}"].T + p[f"b{i}"]
            if i < n_dense - 1:
                h = jax.nn.relu(h)
        return h

    def loss_fn(p: dict[str, Any], x: Any, y: Any) -> Any:
        logits = forward(p, x)
        logp = jax.nn.log_softmax(logits)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    if optax is not None:
        opt = optax.adam(LR)
        opt_state = opt.init(params)

        def update(p: Any, g: Any, s: Any) -> tuple[Any, Any]:
            updates, s = opt.update(g, s, p)
            return optax.apply_updates(p, updates), s

    else:  # Adam by hand, PyTorch's formulation
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        opt_state = (jnp.zeros((), jnp.int32), zeros, zeros)

        def update(p: Any, g: Any, s: Any) -> tuple[Any, Any]:
            t, m, v = s
            t = t + 1
            m = jax.tree_util.tree_map(lambda m_, g_: 0.9 * m_ + 0.1 * g_, m, g)
            v = jax.tree_util.tree_map(lambda v_, g_: 0.999 * v_ + 0.001 * g_ * g_, v, g)
            c1, c2 = 1 - 0.9**t, 1 - 0.999**t

            def apply(p_: Any, m_: Any, v_: Any) -> Any:
                return p_ - LR * (m_ / c1) / (jnp.sqrt(v_ / c2) + 1e-8)

            return jax.tree_util.tree_map(apply, p, m, v), (t, m, v)

    def train_step(p: Any, s: Any, x: Any, y: Any) -> tuple[Any, Any, Any]:
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        p, s = update(p, grads, s)
        return p, s, loss

    train_step = jax.jit(train_step, donate_argnums=(0, 1))
    x_np, y_np = make_data(case)
    x, y = jnp.asarray(x_np), jnp.asarray(y_np)
    state: list[Any] = [params, opt_state, None]

    def step() -> None:
        state[0], state[1], state[2] = train_step(state[0], state[1], x, y)

    def sync() -> None:
        jax.block_until_ready(state)

    return step, sync, lambda: float(state[2])


# ----------------------------------------------------------------------------- GPT steps
#
# The same decoder for democratising and PyTorch (both take PyTorch's module API); JAX gets
# the same computation written as functions of a parameter dict.


def make_gpt_data(case: Case, block: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    block = GPT_SIZES[case.model][3] if block is None else block
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, GPT_VOCAB, (case.batch, block + 1)).astype(np.int64)
    return np.ascontiguousarray(tokens[:, :-1]), np.ascontiguousarray(tokens[:, 1:])


def build_gpt(
    lib: Any,
    nn: Any,
    functional: Any,
    case: Case,
    sizes: Optional[tuple[int, int, int, int]] = None,
) -> Any:
    """The case's GPT from a PyTorch-like library (``lib.arange``, ``nn``, ``functional``);
    ``sizes`` (layers, heads, width, block) overrides the case model's."""
    n_layer, n_head, n_embd, block = GPT_SIZES[case.model] if sizes is None else sizes

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1 = nn.LayerNorm(n_embd)
            self.c_attn = nn.Linear(n_embd, 3 * n_embd)
            self.c_proj = nn.Linear(n_embd, n_embd)
            self.ln_2 = nn.LayerNorm(n_embd)
            self.c_fc = nn.Linear(n_embd, 4 * n_embd)
            self.gelu = nn.GELU(approximate="tanh")
            self.mlp_proj = nn.Linear(4 * n_embd, n_embd)

        def forward(self, x: Any) -> Any:
            b, t, c = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
            q, k, v = (z.reshape(b, t, n_head, c // n_head).transpose(1, 2) for z in (q, k, v))
            y = functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.c_proj(y.transpose(1, 2).reshape(b, t, c))
            return x + self.mlp_proj(self.gelu(self.c_fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte = nn.Embedding(GPT_VOCAB, n_embd)
            self.wpe = nn.Embedding(block, n_embd)
            self.h = nn.ModuleList([Block() for _ in range(n_layer)])
            self.ln_f = nn.LayerNorm(n_embd)
            self.lm_head = nn.Linear(n_embd, GPT_VOCAB, bias=False)
            self.lm_head.weight = self.wte.weight  # tied
            for emb in (self.wte, self.wpe):  # GPT-2's N(0, 0.02), as the JAX step
                nn.init.normal_(emb.weight, 0.0, 0.02)

        def forward(self, idx: Any) -> Any:
            x = self.wte(idx) + self.wpe(lib.arange(idx.shape[1], device=idx.device))
            for blk in self.h:
                x = blk(x)
            return self.lm_head(self.ln_f(x))

    return GPT()


def setup_gpt_eager(
    lib: Any, case: Case, wrap: Optional[Callable[[Any], Any]] = None
) -> tuple[Callable, Callable, Callable]:
    """One GPT training step for democratising or PyTorch (``lib`` is the package); ``wrap``
    (``torch.compile``) turns the model into the forward the step calls, while the optimizer
    and the clipping keep to the model's own parameters."""
    nn, functional = lib.nn, lib.nn.functional
    lib.manual_seed(0)
    model = build_gpt(lib, nn, functional, case)
    forward = model if wrap is None else wrap(model)
    opt = lib.optim.AdamW(model.parameters(), lr=LR, weight_decay=GPT_WEIGHT_DECAY)
    x_np, y_np = make_gpt_data(case)
    x, y = lib.from_numpy(x_np), lib.from_numpy(y_np)
    if case.precision == "float32":
        autocast: Callable[[], Any] = contextlib.nullcontext
    elif lib.__name__ == "torch":
        autocast = functools.partial(lib.autocast, "cpu", dtype=getattr(lib, case.precision))
    else:
        autocast = functools.partial(lib.amp.autocast, dtype=getattr(lib, case.precision))
    last: list[Any] = [None]

    def step() -> None:
        with autocast():
            logits = forward(x)
            loss = functional.cross_entropy(logits.reshape(-1, GPT_VOCAB), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), GPT_CLIP)
        opt.step()
        last[0] = loss

    return step, lambda: None, lambda: float(last[0].item())


def setup_gpt_democratising(case: Case, threads: int) -> tuple[Callable, Callable, Callable]:
    del threads  # RAYON_NUM_THREADS, set by the driver
    import democratising as dm

    return setup_gpt_eager(dm, case)


def setup_gpt_torch(case: Case, threads: int) -> tuple[Callable, Callable, Callable]:
    import torch

    torch.set_num_threads(threads)
    return setup_gpt_eager(torch, case)


def setup_gpt_torch_compile(case: Case, threads: int) -> tuple[Callable, Callable, Callable]:
    """PyTorch's GPT step with the model under ``torch.compile`` (inductor). Compilation
    (forward and backward graphs) happens on the first step, i.e. in ``run_case``'s untimed
    warm-up; the thread count is set first, since inductor's C++ kernels bake it in."""
    import torch

    torch.set_num_threads(threads)
    return setup_gpt_eager(torch, case, wrap=torch.compile)


def setup_gpt_jax(case: Case, threads: int) -> tuple[Callable, Callable, Callable]:
    del threads  # XLA_FLAGS, set by the driver
    import jax
    import jax.numpy as jnp

    if case.precision != "float32":
        raise ValueError("the JAX step is float32 only")
    try:
        import optax
    except ImportError:
        optax = None
    n_layer, n_head, n_embd, block = GPT_SIZES[case.model]
    head_dim = n_embd // n_head
    rng = np.random.default_rng(0)

    def normal(*shape: int) -> Any:
        return jnp.asarray((0.02 * rng.standard_normal(shape)).astype(np.float32))

    def zeros(*shape: int) -> Any:
        return jnp.zeros(shape, jnp.float32)

    def ones(*shape: int) -> Any:
        return jnp.ones(shape, jnp.float32)

    params: dict[str, Any] = {
        "wte": normal(GPT_VOCAB, n_embd),
        "wpe": normal(block, n_embd),
        "ln_f": (ones(n_embd), zeros(n_embd)),
        "h": [
            {
                "ln_1": (ones(n_embd), zeros(n_embd)),
                "c_attn": (normal(3 * n_embd, n_embd), zeros(3 * n_embd)),
                "c_proj": (normal(n_embd, n_embd), zeros(n_embd)),
                "ln_2": (ones(n_embd), zeros(n_embd)),
                "c_fc": (normal(4 * n_embd, n_embd), zeros(4 * n_embd)),
                "mlp_proj": (normal(n_embd, 4 * n_embd), zeros(n_embd)),
            }
            for _ in range(n_layer)
        ],
    }

    def layer_norm(x: Any, wb: tuple[Any, Any]) -> Any:
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) * jax.lax.rsqrt(var + 1e-5) * wb[0] + wb[1]

    def linear(x: Any, wb: tuple[Any, Any]) -> Any:
        return x @ wb[0].T + wb[1]

    def attention(x: Any, p: dict[str, Any]) -> Any:
        b, t, c = x.shape
        q, k, v = jnp.split(linear(x, p["c_attn"]), 3, axis=-1)
        q, k, v = (z.reshape(b, t, n_head, head_dim).transpose(0, 2, 1, 3) for z in (q, k, v))
        scores = (q @ k.swapaxes(-1, -2)) / math.sqrt(head_dim)
        scores = jnp.where(jnp.tril(jnp.ones((t, t), bool)), scores, -jnp.inf)
        y = jax.nn.softmax(scores, axis=-1) @ v
        return linear(y.transpose(0, 2, 1, 3).reshape(b, t, c), p["c_proj"])

    def forward(p: dict[str, Any], idx: Any) -> Any:
        x = p["wte"][idx] + p["wpe"][: idx.shape[1]]
        for blk in p["h"]:
            x = x + attention(layer_norm(x, blk["ln_1"]), blk)
            h = jax.nn.gelu(linear(layer_norm(x, blk["ln_2"]), blk["c_fc"]), approximate=True)
            x = x + linear(h, blk["mlp_proj"])
        return layer_norm(x, p["ln_f"]) @ p["wte"].T

    def loss_fn(p: dict[str, Any], x: Any, y: Any) -> Any:
        logp = jax.nn.log_softmax(forward(p, x).reshape(-1, GPT_VOCAB))
        return -jnp.mean(jnp.take_along_axis(logp, y.reshape(-1, 1), axis=1))

    if optax is not None:
        opt = optax.chain(
            optax.clip_by_global_norm(GPT_CLIP),
            optax.adamw(LR, b1=0.9, b2=0.999, eps=1e-8, weight_decay=GPT_WEIGHT_DECAY),
        )
        opt_state = opt.init(params)

        def update(p: Any, g: Any, s: Any) -> tuple[Any, Any]:
            updates, s = opt.update(g, s, p)
            return optax.apply_updates(p, updates), s

    else:  # clipping and AdamW by hand, PyTorch's formulation
        tree = jax.tree_util
        zero_tree = tree.tree_map(jnp.zeros_like, params)
        opt_state = (jnp.zeros((), jnp.int32), zero_tree, zero_tree)

        def update(p: Any, g: Any, s: Any) -> tuple[Any, Any]:
            norm = jnp.sqrt(sum(jnp.sum(leaf * leaf) for leaf in tree.tree_leaves(g)))
            g = tree.tree_map(lambda g_: g_ * jnp.minimum(1.0, GPT_CLIP / (norm + 1e-6)), g)
            t, m, v = s
            t = t + 1
            m = tree.tree_map(lambda m_, g_: 0.9 * m_ + 0.1 * g_, m, g)
            v = tree.tree_map(lambda v_, g_: 0.999 * v_ + 0.001 * g_ * g_, v, g)
            c1, c2 = 1 - 0.9**t, 1 - 0.999**t

            def apply(p_: Any, m_: Any, v_: Any) -> Any:
                p_ = p_ * (1 - LR * GPT_WEIGHT_DECAY)
                return p_ - LR * (m_ / c1) / (jnp.sqrt(v_ / c2) + 1e-8)

            return tree.tree_map(apply, p, m, v), (t, m, v)

    def train_step(p: Any, s: Any, x: Any, y: Any) -> tuple[Any, Any, Any]:
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        p, s = update(p, grads, s)
        return p, s, loss

    train_step = jax.jit(train_step, donate_argnums=(0, 1))
    x_np, y_np = make_gpt_data(case)
    x, y = jnp.asarray(x_np), jnp.asarray(y_np)
    state: list[Any] = [params, opt_state, None]

    def step() -> None:
        state[0], state[1], state[2] = train_step(state[0], state[1], x, y)

    def sync() -> None:
        jax.block_until_ready(state)

    return step, sync, lambda: float(state[2])


SETUPS = {"democratising": setup_democratising, "torch": setup_torch, "jax": setup_jax}
GPT_SETUPS = {
    "democratising": setup_gpt_democratising,
    "torch": setup_gpt_torch,
    TORCH_COMPILE: setup_gpt_torch_compile,
    "jax": setup_gpt_jax,
}


def import_framework(name: str) -> str:
    """Imports the framework (so the baseline RSS includes it) and returns its version."""
    if name == "democratising":
        import democratising as dm

        return dm.__version__
    if name in ("torch", TORCH_COMPILE):
        import torch

        return torch.__version__
    import jax

    try:
        import optax

        return f"{jax.__version__} (optax {optax.__version__})"
    except ImportError:
        return f"{jax.__version__} (Adam by hand)"


def run_case(name: str, case: Case, threads: int, budget_s: float) -> Result:
    version = import_framework(name)
    rss_import = proc_status_kib("VmRSS")
    gpt = case.model in GPT_SIZES
    step, sync, loss_value = (GPT_SETUPS if gpt else SETUPS)[name](case, threads)
    for _ in range(GPT_WARMUP_STEPS if gpt else WARMUP_STEPS):
        step()
    sync()
    rss_before = proc_status_kib("VmRSS")
    peak_reset = reset_peak_rss()
    timing = best_time(step, sync, budget_s)
    peak = proc_status_kib("VmHWM")
    return {
        "framework": name,
        "version": version,
        "case": case.key,
        **timing,
        "loss": loss_value(),
        "rss_import_kib": rss_import,
        "rss_before_kib": rss_before,
        "peak_kib": peak,
        "peak_reset": peak_reset,
    }


# ----------------------------------------------------------------------------- half GEMM


def gemm_gflops(matmul: Callable[[], object], sync: Callable[[], object], budget_s: float) -> float:
    seconds = best_time(matmul, sync, budget_s)["us"] / 1e6
    return 2.0 * GEMM_N**3 / seconds / 1e9


def run_gemm(name: str, threads: int, budget_s: float) -> Result:
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32)
    b_np = rng.standard_normal((GEMM_N, GEMM_N), dtype=np.float32)
    out: Result = {"framework": name, "version": import_framework(name), "gemm": {}}
    for dtype in ("float32", "bfloat16", "float16"):
        if name == "democratising":
            import democratising as dm

            a = dm.from_numpy(a_np.copy()).to(getattr(dm, dtype))
            b = dm.from_numpy(b_np.copy()).to(getattr(dm, dtype))
            out["gemm"][dtype] = gemm_gflops(lambda a=a, b=b: a @ b, lambda: None, budget_s)
        else:
            import torch

            torch.set_num_threads(threads)
            with torch.no_grad():
                a_t = torch.from_numpy(a_np).to(getattr(torch, dtype))
                b_t = torch.from_numpy(b_np).to(getattr(torch, dtype))
                out["gemm"][dtype] = gemm_gflops(lambda a=a_t, b=b_t: a @ b, lambda: None, budget_s)
    return out


# ----------------------------------------------------------------------------- breakdown


def run_breakdown(name: str, case: Case, threads: int, steps: int) -> Result:
    """Median µs of each phase of the step (forward+loss, zero_grad, backward, optimizer)."""
    import_framework(name)
    if name == "democratising":
        import democratising as lib
        from democratising import nn

        linear: Any = nn.Dense
    else:
        import torch as lib
        from torch import nn

        linear = nn.Linear
        lib.set_num_threads(threads)
    lib.manual_seed(0)
    model = build_model(nn, linear, case)
    opt = lib.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    x_np, y_np = make_data(case)
    x, y = lib.from_numpy(x_np), lib.from_numpy(y_np)
    phases = {"forward+loss": [], "zero_grad": [], "backward": [], "optimizer": []}
    clock = time.perf_counter
    for i in range(WARMUP_STEPS + steps):
        t0 = clock()
        loss = loss_fn(model(x), y)
        t1 = clock()
        opt.zero_grad()
        t2 = clock()
        loss.backward()
        t3 = clock()
        opt.step()
        t4 = clock()
        if i >= WARMUP_STEPS:
            for key, dt in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                phases[key].append(dt)
    return {
        "framework": name,
        "case": case.key,
        "phases_us": {k: 1e6 * statistics.median(v) for k, v in phases.items()},
    }


# ----------------------------------------------------------------------------- driver


def worker_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for var in THREAD_VARS:
        env[var] = str(threads)
    for var in OPENBLAS_OVERRIDES:
        env.pop(var, None)
    xla = env.get("XLA_FLAGS", "")
    env["XLA_FLAGS"] = (
        f"{xla} --xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={threads}".strip()
    )
    env.setdefault("JAX_PLATFORMS", "cpu")
    return env


def run_worker(args: list[str], threads: int, script: Optional[Path] = None) -> Optional[Result]:
    """Runs ``script`` (this file by default) as a worker; its last stdout line is the JSON."""
    path = (script or Path(__file__)).resolve()
    cmd = [sys.executable, str(path), "--threads", str(threads), *args]
    proc = subprocess.run(cmd, env=worker_env(threads), capture_output=True, text=True)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
        print(f"worker {' '.join(args)} failed: {tail[0]}", file=sys.stderr, flush=True)
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def importable(name: str) -> bool:
    code = f"import {'democratising' if name == 'democratising' else name}"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, env=os.environ)
    return proc.returncode == 0


def fmt(value: Optional[float], digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def speed(ref_us: Optional[float], dm_us: Optional[float]) -> str:
    """Steps/s of democratising over the reference's = reference µs / democratising µs."""
    return "—" if ref_us is None or dm_us is None else f"{ref_us / dm_us:.2f}x"


def mib(kib: Optional[int]) -> Optional[float]:
    return None if kib is None else kib / 1024


def markdown_table(header: list[str], rows: list[list[str]], left: int = 2) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    align = ["-" * w if i < left else "-" * (w - 1) + ":" for i, w in enumerate(widths)]

    def line(cells: list[str]) -> str:
        padded = [
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ]
        return "| " + " | ".join(padded) + " |"

    return "\n".join([line(header), line(align), *(line(r) for r in rows)])


def us_of(results: dict[tuple[str, str], Result], fw: str, key: str) -> Optional[float]:
    res = results.get((fw, key))
    return None if res is None else res["us"]


def target_verdicts(results: dict[tuple[str, str], Result]) -> list[list[str]]:
    rows = []
    for key, (min_ratio, vs_jax) in TARGETS.items():
        case = Case.parse(key)
        label = f"{MODEL_NAMES[case.model]}, batch {case.batch}"
        dm_us, t_us, j_us = (us_of(results, fw, key) for fw in FRAMEWORKS)
        if dm_us is not None and t_us is not None:
            ok = t_us / dm_us >= min_ratio
            rows.append([label, f">= {min_ratio:g}x PyTorch", speed(t_us, dm_us), yes_no(ok)])
        if vs_jax is not None and dm_us is not None and j_us is not None:
            ok = dm_us < j_us if vs_jax == "faster" else dm_us <= j_us
            goal = "faster than JAX" if vs_jax == "faster" else "at least JAX's speed"
            rows.append([label, goal, speed(j_us, dm_us), yes_no(ok)])
        dm_res, t_res = results.get(("democratising", key)), results.get(("torch", key))
        if dm_res and t_res and dm_res["peak_kib"] and t_res["peak_kib"]:
            ok = dm_res["peak_kib"] <= t_res["peak_kib"]
            ratio = f"{dm_res['peak_kib'] / t_res['peak_kib']:.2f}x"
            rows.append([label, "peak RSS <= PyTorch's", ratio, yes_no(ok)])
    return rows


def gpt_frameworks(case: Case, available: list[str]) -> list[str]:
    """The frameworks that run ``case``: all in float32, those with autocast otherwise;
    torch.compile wherever torch imports (a failed compilation leaves its cells empty)."""
    allowed = GPT_FRAMEWORKS if case.precision == "float32" else GPT_AMP_FRAMEWORKS
    runnable = {*available, *((TORCH_COMPILE,) if "torch" in available else ())}
    return [fw for fw in allowed if fw in runnable]


def gpt_report(results: dict[tuple[str, str], Result]) -> list[str]:
    """The transformer tables: step times with tokens/s, and peak memory."""
    keys = {key for _, key in results}
    cases = [c for c in GPT_CASES + GPT_MEMORY_CASES if c.key in keys]
    if not cases:
        return []
    lines = [
        "",
        "GPT training step (forward, loss, zero_grad, backward, clip 1.0, AdamW), µs/step; "
        "'dm tok/s' is democratising's tokens per second;",
        "bfloat16 is autocast (JAX: float32 only); 'torch.compile' is PyTorch with the model "
        "under torch.compile (inductor), compile time excluded",
    ]
    rows = []
    for case in cases:
        dm_us, t_us, tc_us, j_us = (us_of(results, fw, case.key) for fw in GPT_FRAMEWORKS)
        tokens = case.batch * GPT_SIZES[case.model][3]
        rows.append(
            [
                MODEL_NAMES[case.model],
                str(case.batch),
                case.precision,
                fmt(dm_us, 0),
                fmt(t_us, 0),
                fmt(tc_us, 0),
                fmt(j_us, 0),
                fmt(None if dm_us is None else tokens / (dm_us / 1e6), 0),
                speed(t_us, dm_us),
                speed(tc_us, dm_us),
                speed(j_us, dm_us),
            ]
        )
    header = ["model", "batch", "precision", "democratising", "torch", TORCH_COMPILE, "jax (jit)"]
    ratios = ["dm tok/s", "dm/torch", "dm/compile", "dm/jax"]
    lines += [markdown_table([*header, *ratios], rows, left=3)]
    lines += [
        "",
        "GPT peak RSS of the step process, MiB (in brackets: growth over RSS after import)",
    ]
    rows = []
    for case in cases:
        row = [MODEL_NAMES[case.model], str(case.batch), case.precision]
        peaks = {}
        for fw in GPT_FRAMEWORKS:
            res = results.get((fw, case.key))
            if res is None or res["peak_kib"] is None:
                row.append("—")
                continue
            peaks[fw] = res["peak_kib"]
            grow = mib(res["peak_kib"] - res["rss_import_kib"])
            row.append(f"{fmt(mib(res['peak_kib']))} (+{fmt(grow)})")
        ratio = None
        if "democratising" in peaks and "torch" in peaks:
            ratio = f"{peaks['democratising'] / peaks['torch']:.2f}x"
        rows.append([*row, ratio or "—"])
    header = ["model", "batch", "precision", *GPT_FRAMEWORKS, "dm/torch"]
    lines += [markdown_table(header, rows, left=3)]
    return lines


def yes_no(ok: bool) -> str:
    return "met" if ok else "MISSED"


def mlp_cnn_report(results: dict[tuple[str, str], Result], gemm: dict[str, Result]) -> list[str]:
    """The MLP/CNN tables: float32 steps, peak memory, mixed precision and half GEMM."""
    lines = [
        "",
        "float32 training step (forward, loss, zero_grad, backward, Adam), µs/step "
        "(lower is better); ratios are democratising's steps/s over the other's",
    ]
    rows = []
    for case in FP32_CASES:
        dm_us, t_us, j_us = (us_of(results, fw, case.key) for fw in FRAMEWORKS)
        rows.append(
            [
                MODEL_NAMES[case.model],
                str(case.batch),
                fmt(dm_us),
                fmt(t_us),
                fmt(j_us),
                fmt(None if dm_us is None else 1e6 / dm_us, 0),
                speed(t_us, dm_us),
                speed(j_us, dm_us),
            ]
        )
    header = ["model", "batch", "democratising", "torch", "jax (jit)", "dm steps/s"]
    lines += [markdown_table([*header, "dm/torch", "dm/jax"], rows)]

    lines += ["", "Peak RSS of the step process, MiB (in brackets: growth over RSS after import)"]
    rows = []
    for case in FP32_CASES + AMP_CASES:
        row = [MODEL_NAMES[case.model], str(case.batch), case.precision]
        for fw in FRAMEWORKS:
            res = results.get((fw, case.key))
            if res is None or res["peak_kib"] is None:
                row.append("—")
            else:
                grow = mib(res["peak_kib"] - res["rss_import_kib"])
                row.append(f"{fmt(mib(res['peak_kib']))} (+{fmt(grow)})")
        rows.append(row)
    lines += [markdown_table(["model", "batch", "precision", *FRAMEWORKS], rows, left=3)]

    lines += [
        "",
        "Mixed precision (autocast + GradScaler) against float32, µs/step; "
        "'vs fp32' is each framework's speed-up over its own float32 step",
    ]
    rows = []
    for case in AMP_CASES:
        fp32_key = Case(case.model, case.batch).key
        dm_us, t_us = us_of(results, "democratising", case.key), us_of(results, "torch", case.key)
        dm32, t32 = us_of(results, "democratising", fp32_key), us_of(results, "torch", fp32_key)
        rows.append(
            [
                MODEL_NAMES[case.model],
                str(case.batch),
                case.precision,
                fmt(dm_us),
                fmt(t_us),
                speed(t_us, dm_us),
                speed(dm32, dm_us),
                speed(t32, t_us),
            ]
        )
    header = ["model", "batch", "dtype", "democratising", "torch", "dm/torch"]
    lines += [markdown_table([*header, "dm vs fp32", "torch vs fp32"], rows, left=3)]

    lines += ["", f"GEMM a @ b, {GEMM_N}x{GEMM_N}, GFLOP/s (higher is better)"]
    rows = []
    for dtype in ("float32", "bfloat16", "float16"):
        d = gemm.get("democratising", {}).get("gemm", {}).get(dtype)
        t = gemm.get("torch", {}).get("gemm", {}).get(dtype)
        rows.append(
            [dtype, str(GEMM_N), fmt(d), fmt(t), speed(1 / t if t else None, 1 / d if d else None)]
        )
    lines += [markdown_table(["dtype", "N", "democratising", "torch", "dm/torch"], rows)]

    return lines


def report(
    results: dict[tuple[str, str], Result],
    gemm: dict[str, Result],
    versions: dict[str, str],
    threads: int,
) -> str:
    lines = [
        f"date: {datetime.date.today().isoformat()}; {platform.processor() or platform.machine()},"
        f" {os.cpu_count()} logical CPUs; Python {platform.python_version()}; threads: {threads}",
        "versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        f"engine: {engine_build()}",
    ]
    keys = {key for _, key in results}
    if gemm or any(c.key in keys for c in FP32_CASES + AMP_CASES):
        lines += mlp_cnn_report(results, gemm)
    lines += gpt_report(results)

    verdicts = target_verdicts(results)
    if verdicts:
        lines += ["", "Targets (float32)"]
        lines += [markdown_table(["workload", "target", "measured", "verdict"], verdicts, left=2)]
    lines += spread_note(results, "case")
    return "\n".join(lines)


def spread_note(results: dict[tuple[str, str], dict[str, Any]], unit: str) -> list[str]:
    """The closing remark under a timing table: how far the median batch sits above the best,
    typically and at worst (``unit`` names what a row is: "case", "program")."""
    spread = {k: res["us_median"] / res["us"] - 1 for k, res in results.items()}
    if not spread:
        return []
    worst = max(spread, key=lambda k: spread[k])
    return [
        "",
        "Each figure: best of several timed batches of steps after a warm-up, one subprocess"
        f" per framework and {unit}. The median batch exceeds the best by "
        f"{100 * statistics.median(spread.values()):.0f}% typically, "
        f"{100 * spread[worst]:.0f}% at worst ({worst[0]} {worst[1]}).",
    ]


def engine_build() -> str:
    """The checkout's commit and the extension's build time: the engine changes often."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        head = "unknown"
    built = "unknown"
    try:
        import democratising

        so = next(Path(democratising.__file__).parent.glob("_core*.so"), None)
        if so is not None:
            built = datetime.datetime.fromtimestamp(so.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    except ImportError:
        pass
    return f"checkout at {head}, extension built {built}"


def load_average() -> str:
    return f"{os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "n/a"


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--budget", type=float, default=1.5, help="timed seconds per case")
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat every case, keep the fastest round"
    )
    parser.add_argument("--only", choices=("fp32", "amp", "gemm", "gpt", "gpt-mem"), nargs="+")
    parser.add_argument("--breakdown", action="store_true", help="phase times, dm and torch")
    parser.add_argument("--json", type=Path, help="also write the raw results to this file")
    parser.add_argument("--worker", choices=GPT_FRAMEWORKS, help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=200, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker is not None:
        if args.case == "gemm":
            out = run_gemm(args.worker, args.threads, args.budget)
        elif args.breakdown:
            out = run_breakdown(args.worker, Case.parse(args.case), args.threads, args.steps)
        else:
            out = run_case(args.worker, Case.parse(args.case), args.threads, args.budget)
        print(json.dumps(out))
        return

    available = [fw for fw in FRAMEWORKS if importable(fw)]
    if args.breakdown:
        for case in FP32_CASES:
            for fw in ("democratising", "torch"):
                if fw in available:
                    res = run_worker(
                        ["--worker", fw, "--case", case.key, "--breakdown"], args.threads
                    )
                    if res:
                        phases = ", ".join(f"{k} {v:.0f}" for k, v in res["phases_us"].items())
                        print(f"{case.key:24} {fw:14} µs: {phases}")
        return

    only = set(args.only or ("fp32", "amp", "gemm", "gpt", "gpt-mem"))
    load_before = load_average()
    jobs: list[tuple[str, Case]] = []
    if "fp32" in only:
        jobs += [(fw, case) for case in FP32_CASES for fw in available]
    if "amp" in only:
        jobs += [(fw, case) for case in AMP_CASES for fw in AMP_FRAMEWORKS if fw in available]
    if "gpt" in only:
        jobs += [(fw, case) for case in GPT_CASES for fw in gpt_frameworks(case, available)]
    if "gpt-mem" in only:
        jobs += [(fw, c) for c in GPT_MEMORY_CASES for fw in gpt_frameworks(c, available)]
    results: dict[tuple[str, str], Result] = {}
    versions: dict[str, str] = {}
    for rnd in range(args.rounds):
        for fw, case in jobs:
            print(f"round {rnd + 1}: {fw:14} {case.key}", file=sys.stderr, flush=True)
            cmd = ["--worker", fw, "--case", case.key, "--budget", str(args.budget)]
            res = run_worker(cmd, args.threads)
            if res is None:
                continue
            versions[fw] = res["version"]
            prev = results.get((fw, case.key))
            if prev is None or res["us"] < prev["us"]:
                results[(fw, case.key)] = res
    gemm: dict[str, Result] = {}
    if "gemm" in only:
        for fw in AMP_FRAMEWORKS:
            if fw in available:
                print(f"{fw:14} gemm", file=sys.stderr, flush=True)
                cmd = ["--worker", fw, "--case", "gemm", "--budget", str(args.budget)]
                res = run_worker(cmd, args.threads)
                if res is not None:
                    gemm[fw] = res
                    versions[fw] = res["version"]
    missing = [fw for fw in FRAMEWORKS if fw not in available]
    if args.json is not None:
        raw = {"cases": list(results.values()), "gemm": gemm, "threads": args.threads}
        args.json.write_text(json.dumps(raw, indent=1))
    print(report(results, gemm, versions, args.threads))
    if missing:
        print(f"Not importable, columns skipped: {', '.join(missing)}")
    print(f"Load average (1 min) before / after: {load_before} / {load_average()}")


if __name__ == "__main__":
    main()
