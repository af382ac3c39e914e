"""The seed's batch-size optimisation: double the batch size while measured throughput
(samples/s) improves, stop at the first size that is slower, runs out of memory, or exceeds a
memory limit, and keep the fastest size seen.

Why throughput and not "largest that fits": past some size a bigger batch stops being faster
(caches, memory bandwidth), and the optimiser sees fewer updates per epoch for nothing.
"""

from __future__ import annotations

import importlib
import numbers
import time
from typing import Any, Callable, Optional

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad
from ..errors import ArgumentTypeError, InvalidValueError, OutOfMemoryError

__all__ = ["MemoryLimitError", "find_batch_size", "search_batch_size"]


class MemoryLimitError(OutOfMemoryError):
    """A trial batch size used more memory than the configured limit (a ``MemoryError``)."""


#: Messages of out-of-memory errors raised as ``RuntimeError`` (PyTorch's CUDA/cuDNN/cuBLAS
#: allocation failures, as Lightning's batch-size finder recognises them) rather than as
#: ``MemoryError``; a custom model or loss may surface those.
_OOM_MESSAGES = ("out of memory", "cublas_status_alloc_failed")


def _is_oom(e: BaseException) -> bool:
    """Whether ``e`` means "this batch size does not fit", so the search may stop there."""
    if isinstance(e, MemoryError):
        return True
    msg = str(e).lower()
    return isinstance(e, RuntimeError) and any(m in msg for m in _OOM_MESSAGES)


def search_batch_size(
    measure: Callable[[int], float],
    start: int = 32,
    max_batch_size: Optional[int] = None,
    min_improvement: float = 0.0,
) -> tuple[int, dict[int, float]]:
    """The seed's search over ``measure(batch_size) -> samples/s``.

    Doubles from ``start`` while throughput beats the best so far by more than
    ``min_improvement`` (relative); a ``MemoryError`` (``dm.OutOfMemoryError`` is one),
    ``MemoryLimitError`` or a ``RuntimeError`` saying "out of memory" ends the search cleanly;
    any other error propagates. If ``start`` itself does not fit, halves
    until a size does. Returns ``(best_batch_size, {batch_size: throughput})``.
    """
    _check_int("start", start)
    if start < 1:
        raise InvalidValueError(f"start must be >= 1, got {start}")
    if max_batch_size is not None:
        _check_int("max_batch_size", max_batch_size)
        if max_batch_size < 1:
            raise InvalidValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        start = min(start, max_batch_size)
    results: dict[int, float] = {}
    best_bs, best = 0, 0.0
    bs = start
    last: Optional[BaseException] = None  # the newest out-of-memory error
    while max_batch_size is None or bs <= max_batch_size:
        try:
            tp = measure(bs)
        except (MemoryError, RuntimeError) as e:
            if not _is_oom(e):
                raise
            last = e
            break
        results[bs] = tp
        if best_bs == 0 or tp > best * (1.0 + min_improvement):
            best_bs, best = bs, tp
            bs *= 2
        else:
            break
    if best_bs:
        return best_bs, results
    bs = start // 2  # even the starting size does not fit: find one that does
    while bs >= 1:
        try:
            results[bs] = measure(bs)
            return bs, results
        except (MemoryError, RuntimeError) as e:
            if not _is_oom(e):
                raise
            last = e
            bs //= 2
    # Typed, and saying why the smallest size failed (a memory_limit below what even batch
    # size 1 uses reads differently from a device that is full).
    why = f": {last}" if last is not None else ""
    raise OutOfMemoryError(f"no batch size from 1 to {start} fits in memory{why}") from last


def _check_int(name: str, value: Any) -> None:
    """A batch size must be a whole number: 3.5 would fail later as an odd index error."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{name} must be an int, got {type(value).__name__}")


def _default_memory_usage(device: Any) -> Callable[[], int]:
    """CUDA reserved bytes on a GPU; the process's peak resident set size on the CPU."""
    if getattr(device, "type", "cpu") == "cuda":
        cuda = importlib.import_module("democratising.cuda")
        return lambda: int(cuda.memory_reserved())

    def peak_rss() -> int:
        import resource
        import sys

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(rss if sys.platform == "darwin" else rss * 1024)

    return peak_rss


def find_batch_size(
    model: Any,
    sample_batch: Any,
    loss_fn: Optional[Callable[[Any, Any], Tensor]] = None,
    start: int = 32,
    max_batch_size: Optional[int] = 4096,
    optimizer: Any = None,
    steps: int = 3,
    warmup: int = 1,
    memory_limit: Optional[int] = None,
    memory_usage: Optional[Callable[[], int]] = None,
    min_improvement: float = 0.0,
    log: Optional[Callable[[str], None]] = None,
) -> int:
    """The fastest batch size for training ``model``, by the seed's throughput-doubling search.

    ``sample_batch`` is ``(x, y)`` (or just ``x``); its rows are repeated to build batches of
    any size. Each trial times ``steps`` forward+backward passes (plus ``optimizer.step()`` if
    an optimizer is given; the model and optimizer state are restored afterwards) after
    ``warmup`` untimed ones. ``memory_limit`` (bytes) is compared with ``memory_usage()`` after
    each trial (default: see ``_default_memory_usage``); exceeding it, or an out-of-memory
    error, ends the search cleanly.
    """
    if loss_fn is not None and not callable(loss_fn):
        # ``find_batch_size(model, batch, 64)`` meant ``start=64``: say so, not "not callable".
        raise ArgumentTypeError(
            f"loss_fn must be callable, got {type(loss_fn).__name__}; "
            "pass the other settings by keyword: find_batch_size(model, batch, start=...)"
        )
    for name, value in (("steps", steps), ("warmup", warmup)):
        _check_int(name, value)
    if steps < 1 or warmup < 0:
        raise InvalidValueError(
            f"steps must be >= 1 and warmup >= 0, got steps={steps}, warmup={warmup}"
        )
    if isinstance(sample_batch, Tensor):
        xs, y = (sample_batch,), None
    else:
        *rest, y = sample_batch
        xs = tuple(rest)
    n = int(xs[0].shape[0])
    if n < 1:
        raise InvalidValueError("sample_batch is empty")
    if loss_fn is None and y is not None:
        from ..nn import CrossEntropyLoss, MSELoss

        classes = not y.dtype.is_floating_point and y.dtype != _core.bool
        loss_fn = CrossEntropyLoss() if classes else MSELoss()
    device = next(iter(model.parameters())).device
    usage = memory_usage
    if memory_limit is not None and usage is None:
        usage = _default_memory_usage(device)

    def batch(bs: int) -> tuple[tuple[Tensor, ...], Optional[Tensor]]:
        idx = _core.arange(bs, device=device) % n if bs != n else None
        if idx is None:
            return xs, y
        return tuple(x[idx] for x in xs), (y[idx] if y is not None else None)

    def one_step(bx: tuple[Tensor, ...], by: Optional[Tensor]) -> None:
        out = model(*bx)
        loss = loss_fn(out, by) if (loss_fn is not None and by is not None) else out.float().mean()
        loss.backward()
        if optimizer is not None:
            optimizer.step()
        model.zero_grad()

    def measure(bs: int) -> float:
        bx, by = batch(bs)
        for _ in range(warmup):
            one_step(bx, by)
        t0 = time.perf_counter()
        for _ in range(steps):
            one_step(bx, by)
        dt = time.perf_counter() - t0
        if memory_limit is not None and usage is not None:
            used = usage()
            if used > memory_limit:
                raise MemoryLimitError(
                    f"batch size {bs} used {used:,} bytes, over memory_limit={memory_limit:,}"
                )
        tp = bs * steps / dt if dt > 0 else float("inf")
        if log is not None:
            log(f"batch size {bs}: {tp:,.0f} samples/s")
        return tp

    # The model as it was: the trial steps run in training mode, so even without an optimizer
    # (whose steps change the weights too) a BatchNorm's running statistics move.
    if optimizer is None:
        saved_model = {k: v.clone() for k, v in model.named_buffers()}
    else:
        saved_model = {k: v.clone() for k, v in model.state_dict().items()}
    saved_opt = None if optimizer is None else _clone_state(optimizer.state_dict())
    try:
        best, _ = search_batch_size(measure, start, max_batch_size, min_improvement)
    finally:
        model.zero_grad()
        if optimizer is None:
            with no_grad():
                for name, buffer in model.named_buffers():
                    buffer.copy_(saved_model[name])
        else:
            model.load_state_dict(saved_model)
            optimizer.load_state_dict(saved_opt)
    return best


def _clone_state(state: Any) -> Any:
    """A copy of a state dict whose tensors will not see later in-place updates."""
    if isinstance(state, Tensor):
        return state.clone()
    if isinstance(state, dict):
        return {k: _clone_state(v) for k, v in state.items()}
    if isinstance(state, list):
        return [_clone_state(v) for v in state]
    return state
