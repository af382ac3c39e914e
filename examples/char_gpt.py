"""Train a character-level GPT on a text file, then sample from it.

A nanoGPT-style decoder: token and position embeddings, ``--n-layer`` pre-norm blocks
(LayerNorm -> causal self-attention through ``F.scaled_dot_product_attention(is_causal=True)``
-> residual, LayerNorm -> MLP with GELU -> residual), a final LayerNorm and a language-model
head whose weight is tied to the token embedding. It is trained with democratising's
``Trainer``: AdamW with nanoGPT's weight-decay groups, a linear warm-up followed by cosine decay
(a ``LambdaLR`` stepped after every optimizer step), gradient clipping at 1.0, bfloat16
autocast and a resumable checkpoint after every ``--eval-every`` steps. At the end it prints
text sampled with a temperature and top-k.

Run it from the repository root (the package installed, nothing else needed)::

    python examples/char_gpt.py                       # about a minute on 2 CPU cores
    python examples/char_gpt.py --data input.txt --steps 2000 --n-layer 6 --n-embd 192
    python examples/char_gpt.py --steps 600 --resume  # continue from --out's newest checkpoint
    python examples/char_gpt.py --device cuda --no-bf16

Without ``--data`` it trains on the source of a few modules of Python's standard library,
found through ``sysconfig``, so it runs on any machine.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

import democratising as dm
import democratising.nn.functional as F
from democratising import nn
from democratising.optim import AdamW
from democratising.optim.lr_scheduler import LambdaLR
from democratising.train import Callback, Trainer, TrainingConfig
from democratising.train.callbacks import latest_checkpoint

#: Standard-library modules whose source is the default training text (about 600 kB).
DEFAULT_MODULES = (
    "argparse.py",
    "dataclasses.py",
    "functools.py",
    "inspect.py",
    "pathlib.py",
    "textwrap.py",
    "shutil.py",
    "typing.py",
)


# ----------------------------------------------------------------------------- data


def default_text() -> str:
    """The source of ``DEFAULT_MODULES`` (those this Python has), concatenated."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts = []
    for name in DEFAULT_MODULES:
        path = stdlib / name
        if not path.is_file():  # e.g. pathlib is a package from Python 3.13 on
            path = stdlib / name.removesuffix(".py") / "__init__.py"
        if path.is_file():
            parts.append(path.read_text(encoding="utf-8", errors="replace"))
    if not parts:
        raise SystemExit(f"no standard-library sources found under {stdlib}; pass --data FILE")
    return "\n".join(parts)


class CharVocab:
    """Characters <-> integer ids, in sorted order."""

    def __init__(self, chars: list[str]) -> None:
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}

    @classmethod
    def of(cls, text: str) -> CharVocab:
        return cls(sorted(set(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        return np.array([self.index[c] for c in text if c in self.index], dtype=np.int64)

    def decode(self, ids: Any) -> str:
        return "".join(self.chars[int(i)] for i in ids)


class RandomWindows:
    """``batches`` batches ``(x, y)`` per epoch of ``batch_size`` random windows of
    ``block_size`` characters, ``y`` being ``x`` shifted by one.

    The windows of epoch ``e`` are drawn from a generator seeded with ``(seed, e)``: the
    ``Trainer`` calls ``set_epoch`` before each epoch, so a resumed run sees the same batches
    as an uninterrupted one."""

    def __init__(
        self, data: np.ndarray, block_size: int, batch_size: int, batches: int, seed: int
    ) -> None:
        if len(data) <= block_size + 1:
            raise SystemExit(
                f"the text has {len(data)} characters: it needs more than --block-size + 1 "
                f"({block_size + 1}); use a longer text or a smaller --block-size"
            )
        self.data, self.block_size, self.batch_size = data, block_size, batch_size
        self.batches, self.seed, self.epoch = batches, seed, 0
        self.offsets = np.arange(block_size + 1)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Any:
        rng = np.random.default_rng([self.seed, self.epoch])
        for _ in range(self.batches):
            starts = rng.integers(0, len(self.data) - self.block_size - 1, self.batch_size)
            chunk = self.data[starts[:, None] + self.offsets]  # [B, T + 1]
            x = dm.from_numpy(np.ascontiguousarray(chunk[:, :-1]))
            y = dm.from_numpy(np.ascontiguousarray(chunk[:, 1:]))
            yield x, y


# ----------------------------------------------------------------------------- model


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        if n_embd % n_head:
            raise SystemExit(f"--n-embd ({n_embd}) must be a multiple of --n-head ({n_head})")
        self.n_head, self.dropout = n_head, dropout
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)  # q, k and v in one matmul
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: dm.Tensor) -> dm.Tensor:
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        # [B, T, C] -> [B, heads, T, head_dim]
        q, k, v = (
            z.reshape(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v)
        )
        p = self.dropout if self.training else 0.0  # dropout_p applies as given, as in PyTorch
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        y = y.transpose(1, 2).reshape(b, t, c)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, n_embd: int, dropout: float) -> None:
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(4 * n_embd, n_embd)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: dm.Tensor) -> dm.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(ln(x))``, then ``x + mlp(ln(x))``."""

    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = MLP(n_embd, dropout)

    def forward(self, x: dm.Tensor) -> dm.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """Token ids ``[B, T]`` -> next-token logits ``[B, T, vocab]``."""

    def __init__(
        self,
        vocab_size: int,
        block_size: int,
        n_layer: int,
        n_head: int,
        n_embd: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.block_size = block_size
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList([Block(n_embd, n_head, dropout) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        # GPT-2's initialisation: N(0, 0.02), residual projections scaled by 1/sqrt(2 n_layer).
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer))
            elif name.endswith("weight") and p.ndim == 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith("bias") and ".ln_" not in name and not name.startswith("ln_"):
                nn.init.zeros_(p)
        self.tie_weights()

    def tie_weights(self) -> None:
        """One parameter for the token embedding and the output projection (weight tying).

        ``main`` calls it again after ``.to(device)``: a no-op where ``Module.to`` keeps shared
        parameters shared, a repair with versions that converted each module's separately."""
        self.lm_head.weight = self.wte.weight

    def forward(self, idx: dm.Tensor) -> dm.Tensor:
        t = idx.shape[1]
        if t > self.block_size:
            raise ValueError(f"sequence of {t} tokens, the block size is {self.block_size}")
        pos = dm.arange(t, device=idx.device)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def lm_loss(logits: dm.Tensor, targets: dm.Tensor) -> dm.Tensor:
    """Cross-entropy of every position's next-token prediction."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """nanoGPT's groups: every parameter with 2 or more dims (matmul weights and embeddings,
    the tied head included) decays; biases and LayerNorm weights do not."""
    params = list(model.parameters())  # each tied parameter once
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def warmup_cosine(warmup: int, total: int, min_lr_ratio: float) -> Callable[[int], float]:
    """nanoGPT's schedule as a factor on the peak rate, for ``LambdaLR``: linear warm-up over
    ``warmup`` steps, then cosine decay to ``min_lr_ratio`` at step ``total``, flat after.

    Up to step ``total``, ``SequentialLR`` of ``LinearLR(start_factor=1 / (warmup + 1),
    total_iters=warmup)`` and ``CosineAnnealingLR(T_max=total - warmup)`` gives the same rates
    (docs/transformers.md checks it). A function of the step suits ``--resume`` better: the
    checkpoint stores only the step count, so a resumed run with a larger ``--steps`` stretches
    the remaining decay instead of restarting a cosine saved with the old length."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_lr_ratio + 0.5 * (1.0 + math.cos(math.pi * progress)) * (1.0 - min_lr_ratio)

    return factor


# ----------------------------------------------------------------------------- sampling


def multinomial(probs: dm.Tensor, rng: np.random.Generator) -> int:
    """One draw from a probability vector (``dm.multinomial`` when the library has it)."""
    if hasattr(dm, "multinomial"):
        return int(dm.multinomial(probs, 1).item())
    p = probs.detach().cpu().to(dtype=dm.float64).numpy()
    return int(rng.choice(len(p), p=p / p.sum()))


def generate(
    model: GPT,
    idx: list[int],
    new_tokens: int,
    temperature: float = 1.0,
    top_k: Optional[int] = None,
    device: str = "cpu",
    seed: int = 0,
) -> list[int]:
    """Appends ``new_tokens`` sampled ids to ``idx`` (a prompt of at least one id)."""
    rng = np.random.default_rng(seed)
    out = list(idx)
    was_training = model.training
    model.eval()
    with dm.no_grad():
        for _ in range(new_tokens):
            context = dm.tensor([out[-model.block_size :]], dtype=dm.int64, device=device)
            logits = model(context)[0, -1].float() / max(temperature, 1e-6)
            if top_k is not None and top_k < logits.shape[0]:
                kth = dm.topk(logits, top_k).values[-1]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            out.append(multinomial(logits.softmax(-1), rng))
    model.train(was_training)
    return out


# ----------------------------------------------------------------------------- training


class StepLogger(Callback):
    """Prints the loss, learning rate and speed every ``every`` optimizer steps."""

    def __init__(self, every: int, total: int) -> None:
        self.every, self.total = every, total
        self.last: Optional[float] = None

    def on_batch_end(self, trainer: Trainer, batch: int, logs: dict[str, Any]) -> None:
        step = logs["step"]
        if step % self.every and step != self.total:
            return
        now = time.perf_counter()
        speed = "" if self.last is None else f"  {1e3 * (now - self.last) / self.every:.0f} ms/step"
        self.last = now
        lr = trainer.optimizer.param_groups[0]["lr"]
        print(f"step {step:5d}/{self.total}: loss {logs['loss']:.4f}  lr {lr:.2e}{speed}")


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, help="a text file (default: stdlib sources)")
    p.add_argument("--steps", type=int, default=300, help="optimizer steps in all")
    p.add_argument("--epochs", type=int, help="train for EPOCHS x --eval-every steps instead")
    p.add_argument("--eval-every", type=int, default=100, help="steps per epoch (val + ckpt)")
    p.add_argument("--block-size", type=int, default=64, help="context length in characters")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--n-layer", type=int, default=2)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    p.add_argument("--min-lr-ratio", type=float, default=0.1, help="final lr / peak lr")
    p.add_argument("--warmup", type=int, help="warm-up steps (default: 10%% of the steps)")
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-clip", type=float, default=1.0)
    p.add_argument("--out", type=Path, default=Path("char_gpt_out"), help="checkpoint directory")
    p.add_argument("--resume", action="store_true", help="continue from --out's newest checkpoint")
    p.add_argument("--sample-tokens", type=int, default=300, help="characters to sample at the end")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--top-k", type=int, default=20)
    p.add_argument("--prompt", default="\n", help="text the sample starts from")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--no-bf16", action="store_true", help="train in float32 (no autocast)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=10, help="print the loss every N steps")
    return p.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    text = args.data.read_text(encoding="utf-8", errors="replace") if args.data else default_text()
    vocab = CharVocab.of(text)
    data = vocab.encode(text)
    n_val = max(len(data) // 10, args.block_size + 2)
    train_data, val_data = data[:-n_val], data[-n_val:]
    source = args.data or "stdlib sources"
    print(f"data: {source}, {len(data):,} characters, vocabulary {len(vocab)}")

    steps_per_epoch = max(1, min(args.eval_every, args.steps))
    epochs = args.epochs if args.epochs is not None else math.ceil(args.steps / steps_per_epoch)
    total_steps = epochs * steps_per_epoch
    warmup = args.warmup if args.warmup is not None else total_steps // 10

    # The vocabulary and the model's shape must match on --resume.
    meta = {
        "chars": vocab.chars,
        "block_size": args.block_size,
        "n_layer": args.n_layer,
        "n_head": args.n_head,
        "n_embd": args.n_embd,
    }
    meta_path = args.out / "meta.json"
    resume_from = None
    if args.resume:
        if meta_path.is_file() and json.loads(meta_path.read_text()) != meta:
            print(f"--resume: {meta_path} describes another vocabulary or model", file=sys.stderr)
            return 2
        if args.out.is_dir() and latest_checkpoint(args.out) is not None:
            resume_from = args.out
        else:
            print(f"--resume: no checkpoint in {args.out}, starting from scratch")
    args.out.mkdir(parents=True, exist_ok=True)
    meta_path.write_text(json.dumps(meta))

    dm.manual_seed(args.seed)
    model = GPT(len(vocab), args.block_size, args.n_layer, args.n_head, args.n_embd, args.dropout)
    if args.device != "cpu":
        model.to(args.device)
        model.tie_weights()
    print(f"model: {model.num_parameters():,} parameters")
    optimizer = AdamW(param_groups(model, args.weight_decay), lr=args.lr, betas=(0.9, 0.95))
    scheduler = LambdaLR(optimizer, warmup_cosine(warmup, total_steps, args.min_lr_ratio))

    config = TrainingConfig(
        learning_rate=args.lr,
        batch_size=args.batch_size,
        num_epochs=epochs,
        device=args.device,
        max_grad_norm=args.grad_clip if args.grad_clip > 0 else None,
        amp=None if args.no_bf16 else "bfloat16",
        seed=args.seed,
        checkpoint_dir=str(args.out),
        keep_last=2,
        progress=False,
    )
    train = RandomWindows(train_data, args.block_size, args.batch_size, steps_per_epoch, args.seed)
    val = RandomWindows(val_data, args.block_size, args.batch_size, 4, args.seed + 1)
    trainer = Trainer(
        model,
        config,
        loss_fn=lm_loss,
        callbacks=[StepLogger(args.log_every, total_steps)],
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_interval="batch",
    )
    precision = "float32" if args.no_bf16 else "bfloat16 autocast"
    print(f"training {total_steps} steps ({epochs} epochs of {steps_per_epoch}) in {precision}")
    start = time.perf_counter()
    history = trainer.fit(train, val, resume_from=resume_from)
    elapsed = time.perf_counter() - start
    if history.get("loss"):
        print(
            f"done in {elapsed:.1f} s: train loss {history['loss'][-1]:.4f}, "
            f"val loss {history['val_loss'][-1]:.4f} (ln {len(vocab)} = {math.log(len(vocab)):.2f}"
            " for a uniform guess)"
        )
    print(f"checkpoint: {latest_checkpoint(args.out)}")

    if args.sample_tokens > 0:
        prompt = vocab.encode(args.prompt).tolist() or [int(data[0])]
        ids = generate(
            model,
            prompt,
            args.sample_tokens,
            args.temperature,
            args.top_k,
            args.device,
            args.seed,
        )
        print(f"--- sample (temperature {args.temperature}, top-k {args.top_k}) ---")
        print(vocab.decode(ids))
        print("---")
    return 0


if __name__ == "__main__":
    sys.exit(main())
