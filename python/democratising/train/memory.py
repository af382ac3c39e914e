"""``estimate_memory``: what one rank will hold while training, before you run.

Per rank, in bytes: the parameters (every rank holds them all, under ZeRO 1/2 as well), the
gradients (DDP: the bucket buffers, plus the engine's gradients that stay alive until the end of
backward; ZeRO 1: the full-size send buffer plus the owned shard; ZeRO 2: only the shard, plus
the buckets in flight), the optimizer state (divided by the world size under ZeRO), and the
activations one training forward keeps for backward, measured by running the model once on a
sample of the batch (every leaf module's output, plus the input; under AMP also the 16-bit
copies of the weights that the matmuls save). ``peak`` adds the transient gradient memory of
backward; ``MemoryEstimate.table()`` gives the lines the ``Trainer`` prints at start."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Union

import numpy as np

from .. import _core
from .._core import Tensor
from .._grad_mode import no_grad
from ..errors import ArgumentTypeError, InvalidValueError

#: Optimizer state tensors per parameter element, by optimizer name (lower case), for the
#: optimizer built with its defaults, as an instance of it counts (``_state_count``).
_STATE_PER_PARAM = {
    "sgd": 0,  # momentum=0 by default: no buffer (an SGD instance with momentum counts 1)
    "adam": 2,
    "adamw": 2,
    "nadam": 2,
    "radam": 2,
    "adamax": 2,
    "adadelta": 2,
    "rmsprop": 1,
    "adagrad": 1,
    "rprop": 2,
    "asgd": 1,
    "muon": 1,
    "sparseadam": 2,
    "lbfgs": 2 * 100 + 2,  # history_size=100 pairs of vectors, plus the direction and last grad
}

#: The ``amp`` values ``estimate_memory`` measures under (after ``config._amp_name``).
_AMP_DTYPES = (None, "float16", "bfloat16")

_MIB = 2**20


def _fmt(n: float) -> str:
    if n < _MIB:
        return f"{n / 1024:,.1f} KiB"
    return f"{n / _MIB:,.1f} MiB"


@dataclass
class MemoryEstimate:
    """Bytes per rank. ``gradients`` and ``optimizer_state`` are what stays allocated between
    steps; ``gradients_transient`` is what backward adds on top at its peak."""

    parameters: int
    gradients: int
    optimizer_state: int
    activations: int
    gradients_transient: int = 0
    buffers: int = 0
    zero_stage: int = 0
    world_size: int = 1
    amp: Optional[str] = None
    optimizer: str = "adam"
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Parameters, buffers, gradients, optimizer state and activations (between steps
        the activations are gone; this is what a step needs)."""
        return (
            self.parameters
            + self.buffers
            + self.gradients
            + self.optimizer_state
            + self.activations
        )

    @property
    def peak(self) -> int:
        """``total`` plus backward's transient gradient memory: an upper bound for the peak."""
        return self.total + self.gradients_transient

    def table(self) -> list[str]:
        stage = f"ZeRO stage {self.zero_stage}" if self.zero_stage else "DDP (no sharding)"
        if self.world_size == 1 and not self.zero_stage:
            stage = "one process"
        amp = f", AMP {self.amp}" if self.amp else ""
        rows = [
            f"Memory per rank ({stage}, {self.world_size} rank(s), {self.optimizer}{amp}):",
            f"  parameters       {_fmt(self.parameters + self.buffers):>14}",
            f"  gradients        {_fmt(self.gradients):>14}"
            + (
                f"  (+{_fmt(self.gradients_transient)} during backward)"
                if self.gradients_transient
                else ""
            ),
            f"  optimizer state  {_fmt(self.optimizer_state):>14}",
            f"  activations      {_fmt(self.activations):>14}",
            f"  total            {_fmt(self.total):>14}  (peak <= {_fmt(self.peak)})",
        ]
        if not self.details.get("activations_measured", True):
            # (No sample batch: an iterable dataset, or no batch given. A 0 would read as
            # "this model needs no activation memory".)
            rows[-2] = "  activations        not measured  (no sample batch to run)"
            rows[-1] += " + activations"
        return rows

    def __str__(self) -> str:
        return "\n".join(self.table())


def _check_amp(amp: Any) -> Optional[str]:
    """``amp`` as ``TrainingConfig`` spells it (``"bf16"``, ``True``, ``dm.bfloat16``,
    ``"bf16-mixed"``...) normalised to ``None``, ``"float16"`` or ``"bfloat16"``; anything else
    (``"fp8"``, ``"float64"``) is an error, not a dtype looked up on ``_core``."""
    from .config import _amp_name

    name = _amp_name(amp)
    if name not in _AMP_DTYPES:
        raise InvalidValueError(
            f"amp must be None, 'float16' or 'bfloat16' (or 'fp16', 'bf16', True...), got {amp!r}"
        )
    return name  # type: ignore[no-any-return]


def _state_count(optimizer: Any) -> tuple[str, int]:
    """``(name, state tensors per parameter element)`` of an optimizer name, instance or
    ``OptimizerConfig``."""
    from .config import OptimizerConfig

    if isinstance(optimizer, OptimizerConfig):
        # cfg.optimizer: counted as the optimizer it builds (momentum, amsgrad... included).
        target = type(optimizer)._target
        return _count(target.__name__, optimizer._kwargs())
    if isinstance(optimizer, str):
        name = optimizer.lower()
        if name not in _STATE_PER_PARAM:
            raise InvalidValueError(
                f"unknown optimizer {optimizer!r}; expected one of {sorted(_STATE_PER_PARAM)}"
            )
        return name, _STATE_PER_PARAM[name]
    inner = getattr(optimizer, "zero_wrapped", optimizer)
    return _count(type(inner).__name__, getattr(inner, "defaults", {}))


def _count(cls_name: str, defaults: Any) -> tuple[str, int]:
    """The state count of the optimizer class ``cls_name`` with these hyperparameters."""
    name = cls_name.lower()
    count = _STATE_PER_PARAM.get(name, 2)
    if name == "sgd":
        count = 1 if defaults.get("momentum", 0) else 0  # the momentum buffer
    if name == "rmsprop":
        count = 1 + bool(defaults.get("momentum", 0)) + bool(defaults.get("centered", False))
    if name in ("adam", "adamw") and defaults.get("amsgrad", False):
        count = 3
    if name == "lbfgs":
        count = 2 * int(defaults.get("history_size", 100)) + 2
    return cls_name, count


def _sample(batch: Any) -> Optional[Tensor]:
    """The model input: a shape (zeros), a tensor/array, or the first item of an (x, y)."""
    if batch is None:
        return None
    if isinstance(batch, (tuple, list)) and batch and all(isinstance(d, int) for d in batch):
        return _core.zeros([int(d) for d in batch])
    if isinstance(batch, (tuple, list)) and batch:
        return _sample(batch[0])
    if isinstance(batch, dict):
        return _sample(next(iter(batch.values())))
    if isinstance(batch, np.ndarray):
        return _core.from_numpy(np.ascontiguousarray(batch))
    if isinstance(batch, Tensor):
        return batch
    raise ArgumentTypeError(
        f"batch must be an input shape, a tensor or a sample batch, got {type(batch).__name__}"
    )


def _nbytes(out: Any, seen: dict[int, Tensor]) -> int:
    if isinstance(out, Tensor):
        if id(out) in seen:
            return 0
        seen[id(out)] = out  # kept alive while measuring, so that no id is reused
        return int(out.numel() * out.element_size())
    if isinstance(out, (tuple, list)):
        return sum(_nbytes(o, seen) for o in out)
    if isinstance(out, dict):
        return sum(_nbytes(o, seen) for o in out.values())
    return 0


def measure_activations(model: Any, sample: Tensor, amp: Any = None) -> int:
    """Bytes of the tensors one training forward keeps: the input and every leaf module's
    output (read by wrapping each leaf's ``forward`` for one call)."""
    from .. import autograd  # noqa: F401 - the engine must be importable here

    amp = _check_amp(amp)
    module = getattr(model, "module", model)  # a DDP wrapper: run the model itself, no comms
    leaves = [m for m in module.modules() if not list(m.children())]
    seen: dict[int, Tensor] = {}
    total = [_nbytes(sample, seen)]

    def wrap(m: Any) -> None:
        orig = m.forward

        def forward(*args: Any, **kwargs: Any) -> Any:
            out = orig(*args, **kwargs)
            total[0] += _nbytes(out, seen)
            return out

        object.__setattr__(m, "forward", forward)

    for m in leaves:
        wrap(m)
    was_training = module.training
    # The measuring forward must not change the run: the RNG (dropout) and the buffers
    # (BatchNorm running statistics) are put back afterwards.
    rng = _core.get_rng_state()
    buffers = [(b, b.detach().clone()) for b in module.buffers()]
    try:
        module.train()
        if amp:
            from ..amp import autocast

            with autocast(dtype=getattr(_core, amp)):
                out = module(sample)
        else:
            out = module(sample)
        del out
    finally:
        for m in leaves:
            m.__dict__.pop("forward", None)
        module.train(was_training)
        _core.set_rng_state(rng)
        with no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        seen.clear()
    return total[0]


def estimate_memory(
    model: Any,
    batch: Any = None,
    optimizer: Union[str, Any] = "adam",
    zero_stage: Optional[int] = None,
    world_size: Optional[int] = None,
    amp: Any = None,
    bucket_cap_mb: Optional[float] = None,
    deterministic: Optional[bool] = None,
    comm_dtype: Optional[str] = None,
) -> MemoryEstimate:
    """Memory per rank of training ``model`` with ``optimizer`` (an optimizer, an
    ``OptimizerConfig``, or a name such as ``"adam"``: that optimizer with its defaults, so
    ``"sgd"`` has no momentum buffer) at ``zero_stage`` on ``world_size`` ranks. ``amp`` is
    ``None``, ``"float16"`` or ``"bfloat16"`` in any spelling ``TrainingConfig`` takes.
    ``batch``: the per-rank input shape, or a sample batch, run once to measure the
    activations (``None``: activations not counted).
    ``zero_stage``/``world_size``/``bucket_cap_mb``/``deterministic``/``comm_dtype`` default to
    those of a ``DistributedDataParallel`` model (else 0, 1, 25, False, None).
    ``peak`` includes backward's transient gradients and MPI's reduction scratch (about one
    bucket); measured peak RSS growth on the benchmark MLP is within 15% of it."""
    reducer = getattr(model, "reducer", None)
    if zero_stage is None:
        zero_stage = zero_stage_of(model)
    if world_size is None:
        world = getattr(model, "world", None)
        world_size = int(world.size()) if world is not None else 1
    if bucket_cap_mb is None:
        bucket_cap_mb = float(getattr(model, "bucket_cap_mb", 25.0))
    if zero_stage not in (0, 1, 2):
        raise InvalidValueError(f"zero_stage must be 0, 1 or 2, got {zero_stage!r}")
    if world_size < 1:
        raise InvalidValueError(f"world_size must be >= 1, got {world_size}")
    amp = _check_amp(amp)
    module = getattr(model, "module", model)
    params = [p for p in module.parameters()]
    trainable = [p for p in params if p.requires_grad]
    item = max((p.element_size() for p in trainable), default=4)
    n = sum(p.numel() for p in trainable)
    param_bytes = sum(p.numel() * p.element_size() for p in params)
    buffer_bytes = sum(b.numel() * b.element_size() for b in module.buffers())
    name, per = _state_count(optimizer)
    w = world_size
    largest = max((p.numel() for p in trainable), default=0) * item
    cap = int(bucket_cap_mb * _MIB)
    # Buckets close once they reach the cap, so one can exceed it by a parameter.
    bucket = min(n * item, cap + largest) if trainable else 0
    pad = w * item * max(1, -(-n * item // max(cap, 1)))  # padding of the buckets
    shard = -(-n // w) * item + pad // max(w, 1)
    # MPI's reduction scratch: about one bucket while a bucket is being reduced.
    scratch = bucket if w > 1 else 0
    if deterministic is None:
        deterministic = bool(getattr(model, "deterministic", False))
    if comm_dtype is None:
        comm_dtype = getattr(model, "comm_dtype", None)
    if zero_stage == 0 and not (deterministic or comm_dtype):
        grads = n * item  # buckets (p.grad views them after backward)
        # the engine's gradients until the end (one process: p.grad only)
        transient = n * item + scratch if w > 1 else 0
    elif zero_stage == 0:  # DDP through the ZeRO reducer: full gradient buffer + owned shard
        grads = n * item + shard
        if deterministic:  # a micro-batch buffer, then the all-to-all receive buffers
            transient = largest + 2 * n * item
        else:  # 16-bit packed send and receive buffers
            transient = largest + n * 2
    elif zero_stage == 1:
        grads = n * item  # the full-size buffers, reduce-scattered in place
        transient = largest + scratch  # each gradient is freed once packed
    else:
        from ..distributed.zero import STAGE2_BUCKET_BYTES, STAGING_BUFFERS

        staging = min(cap, STAGE2_BUCKET_BYTES, -(-n // w) * w * item)
        staged = min(STAGING_BUFFERS, -(-n * item // max(staging, 1)))
        grads = shard + staged * staging  # the shard and the reused staging buffers
        # a gradient, then the staging buffers of all its buckets in flight and MPI's scratch
        # for each of them
        transient = largest + 2 * min(bucket, largest + staging)
    state = per * n * item if zero_stage == 0 else -(-per * n // w) * item
    activations = 0
    sample = _sample(batch)
    if sample is not None:
        activations = measure_activations(model, sample, amp)
        if amp:
            activations += n * 2  # 16-bit weight copies the matmuls save for backward
    details = {
        "parameters_trainable": n,
        "state_tensors_per_parameter": per,
        "activations_measured": sample is not None,
    }
    if reducer is not None and hasattr(reducer, "memory"):
        details["measured"] = reducer.memory()
    return MemoryEstimate(
        parameters=param_bytes,
        gradients=grads,
        optimizer_state=state,
        activations=activations,
        gradients_transient=transient,
        buffers=buffer_bytes,
        zero_stage=zero_stage,
        world_size=w,
        amp=amp,
        optimizer=name,
        details=details,
    )


def prepare_zero(model: Any, optimizer: Any, zero_stage: int = 0) -> Any:
    """The optimizer the trainer steps: sharded with ``ZeroOptimizer`` when ``model`` is a
    ``DistributedDataParallel(..., zero_stage=1|2)`` (unless it already is). A config asking
    for another stage than the model's is an error; in one process without a DDP wrapper
    there is nothing to shard and ``zero_stage`` changes nothing."""
    from .config import ConfigError

    have = zero_stage_of(model)
    if zero_stage and have != zero_stage and hasattr(model, "reducer"):
        raise ConfigError(
            f"zero_stage={zero_stage} but the model is DistributedDataParallel(zero_stage="
            f"{have}); wrap it with DistributedDataParallel(model, world, zero_stage="
            f"{zero_stage})"
        )
    if have == 0 or hasattr(optimizer, "zero_wrapped"):
        return optimizer
    return model.shard_optimizer(optimizer)


def describe_for_trainer(trainer: Any, loader: Any) -> list[str]:
    """The estimate's lines for the trainer's start (activations from one sample of the
    training data at the configured batch size; none when no sample can be read)."""
    cfg = trainer.config
    batch: Any = None
    try:
        sample = loader.dataset[0]
        x = sample[0] if isinstance(sample, (tuple, list)) else sample
        if isinstance(x, Tensor):
            per = max(1, int(getattr(loader, "batch_size", None) or cfg.batch_size))
            batch = (per, *tuple(x.shape))
    except Exception:  # an iterable dataset, a dict sample...: parameters and state only
        batch = None
    try:
        # A plain model under several ranks trains data-parallel too (the trainer averages
        # its gradients): the summary names that, as for a DDP wrapper.
        ranks = trainer.world_size if trainer.world_size > 1 else None
        est = estimate_memory(
            trainer.model, batch, trainer.optimizer, amp=cfg.amp, world_size=ranks
        )
    except Exception as e:  # the estimate must never stop a run
        return [f"Memory estimate unavailable: {type(e).__name__}: {e}"]
    return est.table()


def clip_gradients(model: Any, optimizer: Any, max_norm: float) -> Any:
    """Clips to the global gradient norm: over the shards of every rank under ZeRO."""
    if hasattr(optimizer, "clip_grad_norm_"):
        return optimizer.clip_grad_norm_(max_norm)
    from ..nn.utils import clip_grad_norm_

    return clip_grad_norm_(model.parameters(), max_norm)


def zero_stage_of(model: Any) -> int:
    return int(getattr(model, "zero_stage", 0) or 0)


__all__ = ["MemoryEstimate", "estimate_memory", "measure_activations"]
