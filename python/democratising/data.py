"""``democratising.data``: datasets and batching."""

from __future__ import annotations

import abc
import bisect
import copy
import hashlib
import itertools
import math
import numbers
import operator
import os
import queue
import random
import threading
import traceback
import types
import warnings
import weakref
from collections.abc import (
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    MutableSequence,
    Sequence,
    Sized,
)
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import numpy as np

from . import _core, _ranks
from ._core import Tensor
from ._nested import map_tensors
from .errors import ArgumentTypeError, InvalidValueError, OverflowValueError, ShapeError


# PyTorch checks some dataset arguments with ``assert`` (and one by accident with an index):
# these typed errors are also the built-in PyTorch raises, so ``except AssertionError`` (or
# ``IndexError``, ``NotImplementedError``, ``ZeroDivisionError``) written for PyTorch still
# catches them.
class _ShapeAssertionError(ShapeError, AssertionError):
    """Tensors of a ``TensorDataset`` whose first dimensions differ."""


class _ValueAssertionError(InvalidValueError, AssertionError):
    """An empty ``ConcatDataset``."""


class _TypeAssertionError(ArgumentTypeError, AssertionError):
    """A map-style dataset in a ``ChainDataset``."""


class _NoTensorsError(InvalidValueError, IndexError):
    """``TensorDataset()`` without tensors (PyTorch's ``IndexError``)."""


class _NotATensorError(ArgumentTypeError, AttributeError):
    """A list or number given to ``TensorDataset`` (PyTorch's ``AttributeError``)."""


class _NoSampleDimError(ShapeError, IndexError):
    """A 0-d tensor given to ``TensorDataset`` (PyTorch's ``IndexError``)."""


class _NotIndexableError(ArgumentTypeError, NotImplementedError):
    """Indexing an ``IterableDataset`` (PyTorch's inherited ``NotImplementedError``)."""


class _EmptySourceError(InvalidValueError, ZeroDivisionError):
    """Samples asked of an empty dataset (PyTorch's ``ZeroDivisionError``)."""


class Dataset:
    """Map-style dataset: implement ``__len__`` and ``__getitem__``. Like PyTorch's, the base
    class has no ``__len__``: ``len()`` of a dataset without one (an ``IterableDataset``
    stream) is Python's ``TypeError``, and ``hasattr(ds, "__len__")`` tells the truth.
    Subscriptable as PyTorch's generic one (``class Pairs(Dataset[tuple[Tensor, int]])``)."""

    __class_getitem__ = classmethod(types.GenericAlias)

    if TYPE_CHECKING:  # for type checkers only: map-style subclasses define it

        def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other: Dataset) -> ConcatDataset:
        """``a + b``: the samples of ``a`` then those of ``b`` (PyTorch's ``Dataset.__add__``)."""
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the ``index``-th rows of tensors that share their first dimension."""

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors:
            raise _NoTensorsError("TensorDataset needs at least one tensor")
        for i, t in enumerate(tensors):
            shape = getattr(t, "shape", None)
            if shape is None:
                # PyTorch's AttributeError ("'list' object has no attribute 'size'") does not
                # say what to pass.
                raise _NotATensorError(
                    f"TensorDataset takes tensors, but argument {i} is a {type(t).__name__}: "
                    "convert it with dm.tensor(...) first"
                )
            if len(shape) == 0:
                raise _NoSampleDimError(
                    f"TensorDataset needs tensors with a first (sample) dimension, but argument "
                    f"{i} is 0-d"
                )
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise _ShapeAssertionError(
                f"size mismatch between tensors: {[tuple(t.shape) for t in tensors]}"
            )
        self.tensors = tensors

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)


class IterableDataset(Dataset, Iterable[Any], metaclass=abc.ABCMeta):
    """Stream-style dataset: implement ``__iter__``. ``DataLoader`` batches what it yields
    (in the calling thread: worker threads would each see the whole stream). As PyTorch's
    (an ``Iterable``), ``__iter__`` is abstract: a subclass without one cannot be
    instantiated (``TypeError``)."""

    @abc.abstractmethod
    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")

    def __getitem__(self, index: int) -> Any:
        raise _NotIndexableError(f"{type(self).__name__} is iterable-style: it cannot be indexed")

    def __add__(self, other: Dataset) -> ChainDataset:  # type: ignore[override]
        """``a + b``: the stream of ``a`` then that of ``b`` (PyTorch's ``ChainDataset``)."""
        return ChainDataset([self, other])


class ChainDataset(IterableDataset):
    """Several iterable-style datasets streamed one after the other (PyTorch's
    ``ChainDataset``); its length is the sum of theirs, where they all have one."""

    def __init__(self, datasets: Iterable[Dataset]) -> None:
        self.datasets = datasets

    def __iter__(self) -> Iterator[Any]:
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise _TypeAssertionError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self) -> int:
        total = 0
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise _TypeAssertionError("ChainDataset only supports IterableDataset")
            total += len(d)  # type: ignore[arg-type]
        return total


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``. The indices are kept as the object given (a
    list, tuple, array or tensor), as PyTorch's, and read afresh for every batch, so changing
    them in place (an active-learning pool that grows) reaches the next epoch."""

    def __init__(self, dataset: Dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def _key(self, i: Any) -> Any:
        """The parent's key at position ``i``: NumPy integers become ``int``; other keys
        (strings, tuples, tensors) pass as they are, as in PyTorch's ``Subset``."""
        key = self.indices[i]
        return int(key) if isinstance(key, np.integer) else key

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, (list, np.ndarray)):  # a batch of positions, for list-indexed datasets
            base: Any = self.dataset
            return base[[self._key(j) for j in i]]
        return self.dataset[self._key(i)]

    def __getitems__(self, indices: list[Any]) -> list[Any]:
        """The samples at ``indices`` (a batch), through the parent's ``__getitems__`` where it
        has one, as PyTorch's ``Subset`` does; the ``DataLoader`` calls this for a batch. A
        subclass that overrides only ``__getitem__`` gets it called for every sample (PyTorch
        refuses such a class; skipping the override would silently change its samples)."""
        if type(self).__getitem__ is not Subset.__getitem__:
            return [self[i] for i in indices]
        keys = [self._key(i) for i in indices]
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            return getitems(keys)  # type: ignore[no-any-return]
        return [self.dataset[k] for k in keys]


class ConcatDataset(Dataset):
    """The samples of several datasets, one after the other."""

    def __init__(self, datasets: Sequence[Dataset]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise _ValueAssertionError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise _TypeAssertionError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = self.cumsum(self.datasets)

    @staticmethod
    def cumsum(sequence: Iterable[Sized]) -> list[int]:
        """The running totals of the lengths in ``sequence`` (PyTorch's static helper)."""
        out, total = [], 0
        for e in sequence:
            total += len(e)
            out.append(total)
        return out

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, i: int) -> Any:
        n = len(self)
        if i < 0:
            if -i > n:
                raise InvalidValueError("absolute value of index should not exceed dataset length")
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {i} is out of range for a dataset of {n}")
        d = bisect.bisect_right(self.cumulative_sizes, i)
        start = self.cumulative_sizes[d - 1] if d else 0
        return self.datasets[d][i - start]


# ---- samplers (PyTorch's torch.utils.data samplers; all consumed lazily) ----------------------


def _numpy_rng(generator: Any) -> np.random.Generator:
    """The NumPy generator a sampler draws from: ``generator`` itself if it is one, one seeded
    from a ``dm.Generator``'s stream (advancing it), from an int or from a torch-style
    generator's ``initial_seed()``, or, without one, one
    seeded from the global generator (so ``dm.manual_seed`` fixes the order, and each epoch
    differs, as PyTorch's samplers do)."""
    if generator is None:
        return np.random.default_rng(_global_seed())
    if isinstance(generator, np.random.Generator):
        return generator
    active = getattr(generator, "_active", None)
    if callable(active):  # a dm.Generator: draw the seed from its stream, advancing it
        with active():
            return np.random.default_rng(_global_seed())
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    seed = getattr(generator, "initial_seed", None)
    if callable(seed):
        return np.random.default_rng(int(seed()))
    raise ArgumentTypeError(
        "generator must be None, an int seed, a numpy.random.Generator or an object with "
        f"initial_seed(); got {type(generator).__name__}"
    )


def _owned_rng(owner: Any, generator: Any) -> np.random.Generator:
    """``_numpy_rng(generator)`` for a sampler or loader ``owner`` that draws once per epoch.
    An int seed (or an object with only ``initial_seed()``) has no state to advance: the NumPy
    generator seeded from it is kept on ``owner`` and advanced, so successive epochs differ
    and the sequence of epochs is still fixed by the seed (PyTorch's ``generator`` advances
    the same way). It is rebuilt when the seed changes (``generator`` reassigned, reseeded)."""
    if generator is None or isinstance(generator, np.random.Generator):
        return _numpy_rng(generator)
    if callable(getattr(generator, "_active", None)):  # a dm.Generator advances itself
        return _numpy_rng(generator)
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        seed = int(generator)
    else:
        initial = getattr(generator, "initial_seed", None)
        if not callable(initial):
            return _numpy_rng(generator)  # raises its ArgumentTypeError
        seed = int(initial())
    kept = owner.__dict__.get("_kept_rng")
    if kept is None or kept[0] != seed:
        kept = (seed, np.random.default_rng(seed))
        owner.__dict__["_kept_rng"] = kept  # not setattr: DataLoader guards its attributes
    return kept[1]


#: Indices drawn per NumPy call by the samplers that draw with replacement: large enough to
#: amortise the call, small enough that the first batch of a 1e10-sample epoch is immediate.
_CHUNK = 4096


def _check_positive_int(name: str, value: Any) -> None:
    """The samplers' check of a count argument, with PyTorch's message (a bool is no count)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidValueError(
            f"{name} should be a positive integer value, but got {name}={value}"
        )


def _check_bool(name: str, value: Any, error: type[Exception] = InvalidValueError) -> None:
    """The samplers' check of a flag, with PyTorch's message; ``error``: ``RandomSampler``
    raises a ``TypeError`` where the others raise a ``ValueError``, as PyTorch's do."""
    if not isinstance(value, bool):
        raise error(f"{name} should be a boolean value, but got {name}={value}")


class Sampler:
    """Base class: ``__iter__`` yields dataset indices (``__len__`` optional); subscriptable
    as PyTorch's generic one (``Sampler[int]``)."""

    __class_getitem__ = classmethod(types.GenericAlias)

    def __init__(self, data_source: Optional[Sized] = None) -> None:
        del data_source

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation (repeated if ``num_samples`` exceeds the dataset), or, with
    ``replacement=True``, ``num_samples`` independent uniform draws, produced chunk by chunk so
    that ``num_samples=int(1e10)`` starts at once and takes no memory."""

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples: Optional[int] = None,
        generator: Any = None,
    ) -> None:
        _check_bool("replacement", replacement, ArgumentTypeError)
        self.data_source, self.replacement, self.generator = data_source, replacement, generator
        self._num_samples = num_samples
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise InvalidValueError(
                "num_samples should be a positive integer value, but got "
                f"num_samples={self.num_samples}"
            )

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n, total = len(self.data_source), self.num_samples
        rng = _owned_rng(self, self.generator)
        if self.replacement:
            if n == 0:
                raise InvalidValueError("cannot sample with replacement from an empty dataset")
            for start in range(0, total, _CHUNK):
                yield from rng.integers(0, n, size=min(_CHUNK, total - start)).tolist()
            return
        if n == 0:
            raise _EmptySourceError(f"cannot draw {total} samples from an empty dataset")
        for _ in range(total // n):
            yield from rng.permutation(n).tolist()
        if total % n:
            yield from rng.permutation(n)[: total % n].tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order."""

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        self.indices, self.generator = indices, generator

    def __iter__(self) -> Iterator[int]:
        for i in _owned_rng(self, self.generator).permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probabilities proportional to ``weights`` (with
    replacement by default; chunked, so a huge ``num_samples`` starts at once)."""

    def __init__(
        self,
        weights: Sequence[float],
        num_samples: int,
        replacement: bool = True,
        generator: Any = None,
    ) -> None:
        _check_positive_int("num_samples", num_samples)
        _check_bool("replacement", replacement)
        w = weights.detach().cpu().double().numpy() if isinstance(weights, Tensor) else weights
        weights_array = np.asarray(w, dtype=np.float64)
        if weights_array.ndim != 1:  # PyTorch rejects anything but a 1-d sequence
            raise InvalidValueError(
                "weights should be a 1d sequence but given weights have shape "
                f"{tuple(weights_array.shape)}"
            )
        if weights_array.size == 0 or not np.all(np.isfinite(weights_array)):
            raise InvalidValueError("weights must be a non-empty sequence of finite numbers")
        # InvalidValueError: a ValueError and, like PyTorch's multinomial error, a RuntimeError.
        if np.any(weights_array < 0) or weights_array.sum() <= 0:
            raise InvalidValueError("weights must be non-negative with a positive sum")
        # ``weights`` is a float64 tensor, as PyTorch's; the draws read the NumPy copy.
        self._weights = weights_array
        self.weights = _core.from_numpy(weights_array.copy())
        if not replacement and num_samples > int((weights_array > 0).sum()):
            raise InvalidValueError(
                "cannot draw more samples than there are non-zero weights without replacement"
            )
        self.num_samples, self.replacement, self.generator = num_samples, replacement, generator

    def __iter__(self) -> Iterator[int]:
        rng = _owned_rng(self, self.generator)
        p = self._weights / self._weights.sum()
        if not self.replacement:
            yield from rng.choice(p.size, size=self.num_samples, replace=False, p=p).tolist()
            return
        cdf = np.cumsum(p)
        cdf /= cdf[-1]
        for start in range(0, self.num_samples, _CHUNK):
            u = rng.random(min(_CHUNK, self.num_samples - start))
            yield from np.minimum(np.searchsorted(cdf, u, side="right"), p.size - 1).tolist()

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups another sampler's indices into lists of ``batch_size`` (the last one shorter
    unless ``drop_last``), lazily."""

    def __init__(self, sampler: Any, batch_size: int, drop_last: bool) -> None:
        _check_positive_int("batch_size", batch_size)
        _check_bool("drop_last", drop_last)
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self) -> Iterator[list[int]]:
        it = iter(self.sampler)
        while True:
            batch = list(itertools.islice(it, self.batch_size))
            if not batch or (self.drop_last and len(batch) < self.batch_size):
                return
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class WorkerInfo:
    """What ``get_worker_info()`` tells a dataset inside a loader worker (PyTorch's fields):
    the worker's ``id``, ``num_workers``, the ``seed`` its generator was seeded with, and the
    ``dataset`` (for a map-style dataset the loader's own object: workers are threads, so it is
    not a copy; for an ``IterableDataset`` the worker's shallow copy, which
    ``worker_init_fn`` may configure, as in PyTorch)."""

    def __init__(self, id: int, num_workers: int, seed: int, dataset: Any) -> None:
        self.id, self.num_workers, self.seed, self.dataset = id, num_workers, seed, dataset

    def __repr__(self) -> str:
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed})"


_worker = threading.local()


def get_worker_info() -> Optional[WorkerInfo]:
    """In a loader worker thread, its ``WorkerInfo``; ``None`` in any other thread."""
    return getattr(_worker, "info", None)


#: Most loader threads one ``DataLoader`` may start; more only exhausts the machine.
MAX_NUM_WORKERS = 256


def _check_pcg64_state(st: Any) -> None:
    """A NumPy ``PCG64`` bit-generator state, checked field by field (NumPy itself accepts
    some out-of-range values) and then by NumPy on a scratch generator."""
    if not isinstance(st, Mapping) or set(st) != {
        "bit_generator",
        "state",
        "has_uint32",
        "uinteger",
    }:
        raise InvalidValueError(
            "loader 'rng' must be a PCG64 state {bit_generator, state, has_uint32, uinteger}"
        )
    if st["bit_generator"] != "PCG64":
        raise InvalidValueError(f"loader 'rng' must be a PCG64 state, not {st['bit_generator']!r}")
    inner = st["state"]
    if not isinstance(inner, Mapping) or set(inner) != {"state", "inc"}:
        raise InvalidValueError("loader 'rng' state must hold 'state' and 'inc'")

    def uint(v: Any, bits: int) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**bits

    if not (uint(inner["state"], 128) and uint(inner["inc"], 128)):
        raise InvalidValueError("loader 'rng' state and inc must be unsigned 128-bit ints")
    if st["has_uint32"] not in (0, 1) or isinstance(st["has_uint32"], float):
        raise InvalidValueError("loader 'rng' has_uint32 must be 0 or 1")
    if not uint(st["uinteger"], 32):
        raise InvalidValueError("loader 'rng' uinteger must be an unsigned 32-bit int")
    try:
        np.random.PCG64().state = dict(st)  # type: ignore[assignment]
    except (TypeError, ValueError, OverflowError, KeyError) as e:
        raise InvalidValueError(f"loader 'rng' is not a valid PCG64 state: {e}") from e


def _global_seed() -> int:
    """A seed drawn from democratising's global generator, so that ``dm.manual_seed`` fixes
    every shuffle that is not given its own ``seed`` (PyTorch's ``RandomSampler`` draws one
    from the global generator the same way)."""
    return int(_core.randint(0, 2**62, (1,)).item())


def random_split(
    dataset: Dataset,
    lengths: Sequence[float],
    generator: Any = None,
    *,
    seed: Optional[int] = None,
) -> list[Subset]:
    """Splits into non-overlapping subsets (lengths as counts or fractions). The permutation
    comes from ``seed`` (an int, also accepted as ``generator``), from ``generator`` (a NumPy
    generator or an object with ``initial_seed()``, as PyTorch's
    ``generator=torch.Generator().manual_seed(42)``), or, without either, from the global
    generator (``dm.manual_seed``), like PyTorch's default ``generator``."""
    n = len(dataset)
    lengths = list(lengths)
    total = sum(lengths)
    # PyTorch's rule: lengths summing to 1 are fractions, even when they are also valid
    # counts (n=1 with [0.5, 0.5] or [1]); the remainder of the floors goes one by one to the
    # splits in order. PyTorch refuses a sum a rounding error above 1 ([0.34, 0.56, 0.1]);
    # here that is 1 too.
    if math.isclose(total, 1) and total <= 1 + 1e-12:
        counts = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise InvalidValueError(f"Fraction at index {i} is not between 0 and 1")
            counts.append(math.floor(n * frac))
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        for i, c in enumerate(counts):
            if c == 0:
                warnings.warn(
                    f"Length of split at index {i} is 0. This might result in an empty dataset.",
                    stacklevel=2,
                )
    else:
        if total != n:
            raise InvalidValueError(
                "Sum of input lengths does not equal the length of the input dataset! "
                f"(lengths {lengths} sum to {total}, the dataset has {n} samples)"
            )
        if any(isinstance(x, bool) or x != int(x) for x in lengths):
            raise ArgumentTypeError(
                f"random_split lengths must be integer counts or fractions, got {lengths}"
            )
        counts = [int(x) for x in lengths]
        if any(c < 0 for c in counts):
            raise InvalidValueError(f"random_split lengths must be non-negative, got {lengths}")
    rng = np.random.default_rng(seed) if seed is not None else _numpy_rng(generator)
    perm = rng.permutation(n)
    out, start = [], 0
    for c in counts:
        out.append(Subset(dataset, perm[start : start + c].tolist()))
        start += c
    return out


# NumPy dtypes the engine stores as they are; others are converted by ``tensor``.
_ENGINE_DTYPES = frozenset(
    np.dtype(t)
    for t in (
        np.float64,
        np.float32,
        np.float16,
        np.int64,
        np.int32,
        np.int16,
        np.int8,
        np.uint8,
        np.bool_,
    )
)


def _numpy_to_tensor(array: np.ndarray) -> Tensor:
    """A NumPy batch as a tensor with its dtype kept where the engine has it (float64 stays
    float64, like ``torch.as_tensor``); other integer types widen to int64."""
    if array.dtype.kind in "OSUV":  # objects, strings, void: no tensor dtype
        raise ArgumentTypeError(
            f"default_collate: cannot collate NumPy arrays of dtype {array.dtype}"
        )
    if array.dtype in _ENGINE_DTYPES:
        # reshape: ascontiguousarray turns a 0-d array into a 1-d one
        return _core.from_numpy(np.ascontiguousarray(array).reshape(array.shape))
    from ._tensor import tensor

    return tensor(array)


def _can_pin() -> bool:
    """Whether batches can be pinned: a CUDA device exists (PyTorch's warning otherwise)."""
    from . import cuda

    if cuda.is_available():
        return True
    warnings.warn(
        "'pin_memory' argument is set as true but no accelerator is found, then device "
        "pinned memory won't be used.",
        stacklevel=3,
    )
    return False


def pin_batch(batch: Any) -> Any:
    """``batch`` with every CPU tensor in it (in dicts, lists and (named) tuples) copied to
    page-locked memory; other values as they are (PyTorch's ``pin_memory`` of a batch)."""
    return map_tensors(batch, lambda t: t.pin_memory() if t.device.type == "cpu" else t)


def default_convert(data: Any) -> Any:
    """PyTorch's ``default_convert`` (the ``batch_size=None`` conversion): NumPy arrays and
    scalars become tensors, recursively through mappings, namedtuples and lists; plain tuples
    become lists (PyTorch's backward-compatible rule); strings, tensors and other values are
    returned as they are."""
    if isinstance(data, (str, bytes, Tensor)):
        return data
    if isinstance(data, np.ndarray):
        return data if data.dtype.kind in "OSUV" else _numpy_to_tensor(data)
    if isinstance(data, np.generic):
        return data if data.dtype.kind in "OSUV" else _numpy_to_tensor(np.asarray(data))
    if isinstance(data, Mapping):
        return _rebuild_mapping(data, {key: default_convert(data[key]) for key in data})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):  # a list, as PyTorch's (so ``batch[0] = ...`` works)
        return [default_convert(d) for d in data]
    if isinstance(data, Sequence):
        return _rebuild_sequence(data, [default_convert(d) for d in data])
    return data


def _rebuild_mapping(elem: Mapping[Any, Any], contents: dict[Any, Any]) -> Any:
    """``contents`` in a mapping like ``elem``: a mutable one is copied and updated, so a
    ``defaultdict``'s factory or a subclass's attributes survive (PyTorch's rule); otherwise
    built from ``contents``, or a plain dict when the type cannot be."""
    try:
        if isinstance(elem, MutableMapping):
            clone = copy.copy(elem)
            clone.update(contents)
            return clone
        return type(elem)(contents)  # type: ignore[call-arg]
    except TypeError:
        return contents


def _rebuild_sequence(elem: Sequence[Any], contents: list[Any]) -> Any:
    """``contents`` in a sequence like ``elem`` (a mutable one copied and filled in, as
    PyTorch does), or a plain list when the type cannot hold them (``range``)."""
    try:
        if isinstance(elem, MutableSequence):
            clone = copy.copy(elem)
            for i, value in enumerate(contents):
                clone[i] = value
            return clone
        return type(elem)(contents)  # type: ignore[call-arg]
    except TypeError:
        return contents


def _check_equal_shapes(batch: Sequence[Any]) -> None:
    """``ShapeError`` (also a ``RuntimeError``, as PyTorch raises) naming the first sample
    whose shape differs from the first one's, in PyTorch's words."""
    first = tuple(np.shape(batch[0]))
    for i, e in enumerate(batch):
        shape = tuple(np.shape(e))
        if shape != first:
            raise ShapeError(
                "stack expects each tensor to be equal size (the same shape), but got "
                f"{list(first)} at entry 0 and {list(shape)} at entry {i} "
                f"(shapes {[tuple(np.shape(x)) for x in batch]})"
            )


def default_collate(batch: list[Any]) -> Any:
    """Merges a list of samples into a batch, recursively, like PyTorch's ``default_collate``:
    tensors and NumPy arrays are stacked, Python ints/floats/bools become int64/float64/bool
    tensors, strings and bytes stay a list, mappings and (named) tuples/lists are collated
    field by field. Tuples become lists, as in PyTorch (and the ``TensorDataset`` fast path)."""
    elem = batch[0]
    elem_type: Any = type(elem)  # rebuilt around the collated fields (dict, list, OrderedDict...)
    if isinstance(elem, Tensor):
        try:
            return _core.stack(batch)
        except ShapeError:
            _check_equal_shapes(batch)  # names the differing sample, in PyTorch's words
            raise
    if isinstance(elem, (str, bytes)):  # before NumPy: np.str_ and np.bytes_ are strings too
        return batch
    if isinstance(elem, np.ndarray):
        try:
            stacked = np.stack(batch)
        except ValueError:
            _check_equal_shapes(batch)
            raise
        return _numpy_to_tensor(stacked)
    if isinstance(elem, np.generic):  # NumPy scalars keep their dtype, like torch.as_tensor
        return _numpy_to_tensor(np.array(batch))
    if isinstance(elem, float):
        # Not ``tensor(batch)``: that rounds Python floats to float32 first. Every element
        # must be a number: NumPy would parse '2.5' and turn None into NaN.
        for v in batch:
            if not isinstance(v, (numbers.Real, np.bool_)) and not (
                isinstance(v, (np.ndarray, Tensor)) and v.ndim == 0
            ):
                raise ArgumentTypeError(
                    f"default_collate: a batch of floats holds a {type(v).__name__} ({v!r})"
                )
        return _core.from_numpy(np.array([float(v) for v in batch], dtype=np.float64))
    if isinstance(elem, int):  # bool is an int: ``tensor`` infers bool or int64
        from ._tensor import tensor

        for v in batch:  # PyTorch's ValueError, not a silent float tensor
            if isinstance(v, int) and not -(2**63) <= v < 2**63:
                raise OverflowValueError(
                    f"default_collate: Python int {v} is out of range for int64"
                )

        return tensor(batch)
    if isinstance(elem, Mapping):
        fields = {key: default_collate([d[key] for d in batch]) for key in elem}
        return _rebuild_mapping(elem, fields)
    # Fields are collated as the tuples zip() makes, as in PyTorch: a field of strings
    # comes back as a tuple of them.
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(default_collate(field) for field in zip(*batch)))  # type: ignore[arg-type]
    if isinstance(elem, Sequence):
        sizes = {len(e) for e in batch}
        if len(sizes) > 1:  # zip() would silently drop the extra fields
            raise RuntimeError(
                "default_collate: each element in list of batch should be of equal size, "
                f"got sizes {sorted(sizes)}"
            )
        columns = [default_collate(field) for field in zip(*batch)]  # type: ignore[arg-type]
        if isinstance(elem, tuple):
            return columns  # a list, as PyTorch's (``batch[0] = batch[0].to(device)`` works)
        return _rebuild_sequence(elem, columns)
    raise ArgumentTypeError(
        "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        f"found {elem_type}"
    )


#: Attributes PyTorch's ``DataLoader`` refuses to change once built: the batching they define
#: is fixed at construction (``batch_sampler`` is built from ``batch_size``, ``sampler``...).
_FROZEN_LOADER_ATTRS = frozenset(
    ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")
)


class _Zero(int):
    """The default ``num_workers``: 0, told apart from a 0 passed positionally."""


_DEFAULT_WORKERS = _Zero(0)


class DataLoader:
    """Iterates a dataset in batches, with PyTorch's arguments (positionally too; a bool in
    the fourth place takes API.md's order, ``(dataset, batch_size, shuffle, drop_last,
    num_workers, seed, collate_fn)``); ``TensorDataset`` batches (also
    through ``Subset``/``random_split``) are gathered with one index op, unless a subclass
    overrides ``__getitem__``/``__getitems__`` (then those are called, as PyTorch's fetcher
    does) or the keys are not plain integers.

    The order comes from ``batch_sampler``, else ``sampler`` grouped by ``batch_size``, else
    ``shuffle``; samplers are consumed lazily, batch by batch, so a ``RandomSampler`` of
    ``int(1e10)`` samples yields its first batch at once. ``batch_size=None`` yields single
    samples, each passed through ``collate_fn`` (default: ``default_convert``, as in
    PyTorch). An ``IterableDataset`` is batched as it streams; with ``num_workers=k > 0``
    each of ``k`` threads streams its own copy of it, as PyTorch's worker processes do
    (see ``_StreamPool``: shard it by ``get_worker_info()``, or every worker yields it all).

    With ``num_workers=k > 0``, batches are built ahead of time by ``k`` background threads (the
    engine releases the GIL on large ops) and yielded in sampler order, so the batches are the
    same, bit for bit, as with ``num_workers=0``; the sampler itself is read in the consuming
    thread, at most ``prefetch_factor`` batches per worker ahead. A dataset whose
    ``__getitem__`` draws from the engine's generator (``dm.rand``, random transforms) gets
    the same batches for the same ``manual_seed``: worker ``i`` draws from a generator of its
    own seeded with ``base_seed + i`` (``get_worker_info().seed``, also ``dm.initial_seed()``
    there; ``base_seed`` derived from ``generator``, or the main generator, when the workers
    start), as in PyTorch, though not the draws of ``num_workers=0``. Python's ``random`` and
    NumPy's global generator are shared by the threads, so draws from them are not
    reproducible across workers. Threads pay off when
    building a batch waits without the GIL (file or network reads, decoding in C); in-memory
    ``TensorDataset`` batches are one index op, fastest with ``num_workers=0``. The threads
    (and each worker's shallow copy of the dataset, as PyTorch's worker processes each hold
    one, so a file a dataset opens lazily is opened per worker) are kept between epochs only
    with ``persistent_workers=True``. An exception
    raised in a worker is raised in its batch's place, and ``next()`` then goes on with the
    next batch, as in PyTorch; ``timeout > 0`` raises PyTorch's ``RuntimeError`` when a
    worker's batch takes longer than that many seconds.
    Once built, ``batch_size``, ``sampler``, ``batch_sampler``, ``drop_last``, ``dataset`` and
    ``persistent_workers`` cannot be reassigned (``ValueError``, as in PyTorch).
    ``pin_memory=True`` puts every batch's tensors in page-locked host memory (in the worker
    threads when there are any), so copying them to a GPU is a DMA transfer; without a CUDA
    device it warns, as PyTorch does, and changes nothing (the attribute keeps the value
    given). ``multiprocessing_context`` and ``pin_memory_device`` are accepted for PyTorch
    programs and change nothing (no processes); ``worker_init_fn(worker_id)`` runs once in
    each worker thread as it starts; what it does to Python's ``random`` and NumPy's global
    generator (seeding them, as PyTorch's reproducibility recipe does) is undone for the main
    thread once the workers have started.

    ``seed`` makes shuffling reproducible: the loader owns a NumPy generator that advances once
    per epoch; ``state_dict()``/``load_state_dict()`` save and restore it so that a resumed run
    sees the same order as an uninterrupted one. Without ``seed``, each shuffled epoch draws its
    seed from ``generator`` (a ``dm.Generator``, a NumPy generator, or an int or an object with
    ``initial_seed()``, which seed a NumPy generator kept and advanced by the loader) or from
    the global generator, as PyTorch's ``RandomSampler`` does: epochs differ, and
    ``dm.manual_seed`` (or the generator's seed) makes the whole sequence reproducible.
    ``seed`` shuffles the default sampler only: a ``sampler`` or ``batch_sampler`` given
    draws its own order (seed it: ``RandomSampler(ds, generator=dm.Generator().manual_seed(
    s))``); with one, ``seed`` changes nothing but what ``state_dict()`` holds.
    """

    __class_getitem__ = classmethod(types.GenericAlias)

    def __init__(
        self,
        dataset: Dataset,
        batch_size: Optional[int] = 1,
        shuffle: Optional[bool] = None,
        sampler: Optional[Any] = None,
        batch_sampler: Optional[Any] = None,
        num_workers: int = _DEFAULT_WORKERS,
        collate_fn: Optional[Callable[[list[Any]], Any]] = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Optional[Callable[[int], None]] = None,
        multiprocessing_context: Any = None,
        generator: Any = None,
        *,
        prefetch_factor: Optional[int] = None,
        persistent_workers: Optional[bool] = None,
        pin_memory_device: str = "",
        in_order: bool = True,
        seed: Optional[int] = None,
    ) -> None:
        if isinstance(sampler, bool):
            # API.md's positional order, (dataset, batch_size, shuffle, drop_last, num_workers,
            # seed, collate_fn): a bool where PyTorch's order has the sampler (never a bool).
            # Positional arguments are contiguous: without a fifth (API.md's num_workers), the
            # sixth slot holds the default or a num_workers given by keyword.
            drop_last, sampler = sampler, None
            if batch_sampler is not None:
                if seed is not None:
                    raise ArgumentTypeError("DataLoader() got multiple values for argument 'seed'")
                seed = None if num_workers is _DEFAULT_WORKERS else num_workers
                num_workers, batch_sampler = batch_sampler, None
        del pin_memory_device
        self.in_order = in_order
        # The attribute keeps the value given, as PyTorch's; batches are pinned only where a
        # CUDA device exists (``_can_pin`` warns otherwise).
        self.pin_memory = pin_memory
        self._pin = bool(pin_memory) and _can_pin()
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
        ):
            # PyTorch's wording, with the value's repr: "got 4" hides that it was the string "4".
            raise InvalidValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size!r}"
            )
        if not 0 <= num_workers <= MAX_NUM_WORKERS:
            raise InvalidValueError(
                f"num_workers must be in [0, {MAX_NUM_WORKERS}] (each is a thread), "
                f"got {num_workers}"
            )
        if num_workers == 0 and prefetch_factor is not None:
            raise InvalidValueError(
                "prefetch_factor option could only be specified in multiprocessing. "
                "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor "
                "to None."
            )
        if prefetch_factor is not None and prefetch_factor < 1:
            raise InvalidValueError(f"prefetch_factor must be positive, got {prefetch_factor}")
        if timeout < 0:
            raise InvalidValueError("timeout option should be non-negative")
        if persistent_workers and num_workers == 0:  # PyTorch's check, with its message
            raise InvalidValueError("persistent_workers option needs num_workers > 0")
        iterable = isinstance(dataset, IterableDataset)
        if iterable and (shuffle or sampler is not None or batch_sampler is not None):
            raise InvalidValueError(
                "DataLoader with IterableDataset: expected unspecified shuffle, sampler and "
                "batch_sampler options"
            )
        if batch_size is not None and batch_sampler is None:
            _check_bool("drop_last", drop_last)  # PyTorch's BatchSampler check (None too)
        if batch_size is None and drop_last:
            raise InvalidValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive with "
                "drop_last"
            )
        if sampler is not None and shuffle:
            raise InvalidValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None and (
            batch_size != 1 or shuffle or sampler is not None or drop_last
        ):
            raise InvalidValueError(
                "batch_sampler option is mutually exclusive with batch_size, shuffle, "
                "sampler, and drop_last"
            )
        self.dataset, self.shuffle = dataset, bool(shuffle)
        self.batch_size = None if batch_sampler is not None else batch_size
        self.drop_last, self.num_workers = drop_last, num_workers
        # PyTorch's attribute: the default is ``default_collate`` when batching, else
        # ``default_convert``. Only the default may take the one-gather ``TensorDataset`` path
        # (an explicit ``collate_fn=default_collate`` reads sample by sample).
        self._fast_collate = collate_fn is None
        auto_batch = self.batch_size is not None or batch_sampler is not None
        self.collate_fn: Callable[[Any], Any] = (
            collate_fn
            if collate_fn is not None
            else default_collate
            if auto_batch
            else default_convert
        )
        # PyTorch's attribute: None without workers, else the batches each worker runs ahead.
        self.prefetch_factor: Optional[int] = (
            None if num_workers == 0 else 2 if prefetch_factor is None else prefetch_factor
        )
        self.seed, self.generator = seed, generator
        self.timeout, self.worker_init_fn = timeout, worker_init_fn
        self.multiprocessing_context = _check_mp_context(multiprocessing_context, num_workers)
        # As PyTorch's default, workers (and their copies of the dataset) are started anew
        # each epoch, so ``worker_init_fn`` runs every epoch.
        self.persistent_workers = bool(persistent_workers)
        self._user_sampler = sampler is not None
        if sampler is None and not iterable:
            sampler = (
                RandomSampler(dataset, generator=generator)
                if self.shuffle
                else SequentialSampler(dataset)
            )
        self.sampler: Any = sampler
        self._user_batch_sampler = batch_sampler is not None
        if batch_sampler is None and batch_size is not None and not iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_sampler: Any = batch_sampler
        self._pool: Optional[_WorkerPool] = None
        # Stream workers are kept between epochs only when asked (``persistent_workers=True``):
        # each worker's copy of the dataset then lasts, as in PyTorch; by default every epoch
        # starts from fresh copies, as PyTorch's default does.
        self._stream_pool: Optional[_StreamPool] = None
        self._persist_streams = bool(persistent_workers) and iterable
        self._pools_started = 0  # mixed into each new pool's base seed
        # The loader's own shuffling generator; ``None``: one per epoch from the global one.
        self._rng: Optional[np.random.Generator] = (
            None if seed is None else np.random.default_rng(seed)
        )
        self._initialized = True

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _FROZEN_LOADER_ATTRS and self.__dict__.get("_initialized", False):
            raise InvalidValueError(
                f"{name} attribute should not be set after {type(self).__name__} is initialized"
            )
        super().__setattr__(name, value)

    def _order(self) -> Union[np.ndarray, range]:
        """The default sampler's epoch order: a lazy ``range`` unshuffled (a dataset of
        ``sys.maxsize`` samples yields its first batch at once), else a permutation drawn at
        once (O(dataset) in NumPy), with the loader's ``seed`` the resumable generator, else
        ``generator`` or the global one."""
        n = len(self.dataset)
        if not self.shuffle:
            return range(n)
        rng = self._rng if self._rng is not None else _owned_rng(self, self.generator)
        return rng.permutation(n)

    def __len__(self) -> int:
        if isinstance(self.dataset, IterableDataset):
            n = len(self.dataset)  # type: ignore[arg-type]  # TypeError without a __len__
        elif self._user_batch_sampler:
            return len(self.batch_sampler)
        else:
            n = len(self.sampler) if self._user_sampler else len(self.dataset)
        if self.batch_size is None:
            return n
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Forwards to the sampler (``DistributedSampler`` reshuffles per epoch)."""
        if self.sampler is not None and hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(epoch)

    def state_dict(self) -> dict[str, Any]:
        """The shuffling generator's state (JSON-able), for bit-identical resumption; ``None``
        without ``seed``, where the order follows the global generator's state instead."""
        return {"rng": None if self._rng is None else self._rng.bit_generator.state}

    @staticmethod
    def check_state_dict(state: Any) -> None:
        """``ValueError`` naming the problem unless ``state`` is what ``state_dict`` returns:
        ``{"rng": None}`` or ``{"rng": <a PCG64 state>}``. Checks without changing anything,
        so a resume can validate every part of a checkpoint before applying any."""
        if not isinstance(state, Mapping) or "rng" not in state:
            raise InvalidValueError("a DataLoader state must be a dict with an 'rng' entry")
        if state["rng"] is not None:
            _check_pcg64_state(state["rng"])

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores ``state_dict()``'s result; ``ValueError`` (and no change) if malformed."""
        self.check_state_dict(state)
        if state["rng"] is None:
            self._rng = None
            return
        rng = np.random.default_rng()
        rng.bit_generator.state = dict(state["rng"])
        self._rng = rng

    def _index_batches(self) -> Iterator[Any]:
        """This epoch's batches of indices (single indices with ``batch_size=None``). The
        default order is drawn now, so shuffling state advances when ``iter()`` is called,
        whatever the number of workers; user samplers are started now and read lazily."""
        if self._user_batch_sampler:
            return iter(self.batch_sampler)
        if not self._user_sampler:
            order = self._order()
            if self.batch_size is None:
                return iter(order if isinstance(order, range) else order.tolist())
            bs, n = self.batch_size, len(order)
            stop = n - n % bs if self.drop_last else n
            if isinstance(order, range):
                return (list(order[s : s + bs]) for s in range(0, stop, bs))
            return (order[s : s + bs] for s in range(0, stop, bs))
        it = iter(self.sampler)
        if self.batch_size is None:
            return it
        return self._chunks(it, self.batch_size, self.drop_last)

    @staticmethod
    def _chunks(it: Iterator[Any], size: int, drop_last: bool) -> Iterator[list[Any]]:
        """The sampler's keys in lists of ``size``, kept as they are: a map-style dataset
        may be keyed by strings or tuples, as in PyTorch."""
        while True:
            chunk = list(itertools.islice(it, size))
            if not chunk or (drop_last and len(chunk) < size):
                return
            yield chunk

    def _fetch(self, idx: Any, dataset: Any = None) -> Any:
        """Batch ``idx`` of ``dataset`` (the loader's, or a worker's copy of it)."""
        if dataset is None:
            dataset = self.dataset
        if self.batch_size is None and not self._user_batch_sampler:  # one sample
            return self.collate_fn(dataset[idx])
        if self._fast_collate and self.collate_fn is default_collate:
            batch = _gather(dataset, idx)
            if batch is not None:
                return batch
        # The default sampler's batches are int64 arrays: their keys go in as Python ints.
        keys = idx.tolist() if isinstance(idx, np.ndarray) else idx
        getitems = getattr(dataset, "__getitems__", None)
        if callable(getitems):  # PyTorch's fetcher: one call for the whole batch
            items = getitems(list(keys))
        else:
            # (the comprehension closes over ``dataset``, not ``self``: a worker error's
            # traceback keeps this frame's function, which must not keep the loader alive)
            items = [dataset[i] for i in keys]
        return self.collate_fn(items)

    def _iterable_batches(self, dataset: Any = None) -> Iterator[Any]:
        """An ``IterableDataset``'s stream (``dataset``, default the loader's), batched and
        collated in the calling thread."""
        it = iter(self.dataset if dataset is None else dataset)
        if self.batch_size is None:
            yield from map(self.collate_fn, it)
            return
        collate = self.collate_fn
        while True:
            chunk = list(itertools.islice(it, self.batch_size))
            if not chunk or (self.drop_last and len(chunk) < self.batch_size):
                return
            yield collate(chunk)

    def iter_from(self, start: int) -> Iterator[Any]:
        """This epoch's batches from batch ``start`` on, as ``iter()`` would yield them after
        ``start`` batches: the sampler and the shuffling generator advance exactly as for a
        full epoch, and the skipped batches are never loaded (a mid-epoch resume)."""
        if start < 0:
            raise InvalidValueError(f"start must be >= 0, got {start}")
        if isinstance(self.dataset, IterableDataset):
            return itertools.islice(self._stream(), start, None)
        return self._iter_batches(itertools.islice(self._index_batches(), start, None))

    def __iter__(self) -> Iterator[Any]:
        if isinstance(self.dataset, IterableDataset):
            return _SizedIter(self._stream(), self)
        return _SizedIter(self._iter_batches(self._index_batches()), self)

    def _stream(self) -> Iterator[Any]:
        """An ``IterableDataset``'s batches: read in this thread, or, with workers, by a
        ``_StreamPool`` (kept between epochs with ``persistent_workers=True``)."""
        if self.num_workers == 0:
            return self._worker_stream(self.dataset)
        pool = self._stream_pool
        if pool is not None and pool.pid != os.getpid():  # threads do not survive fork()
            pool = self._stream_pool = None
        if not self._persist_streams or (pool is not None and pool.busy):
            return _StreamEpoch(self._new_stream_pool(), self._worker_stream, self.timeout, True)
        if pool is None:
            pool = self._stream_pool = self._new_stream_pool()
            weakref.finalize(self, pool.close)
        return _StreamEpoch(pool, self._worker_stream, self.timeout, close_pool=False)

    def _worker_stream(self, dataset: Any) -> Iterator[Any]:
        """``dataset``'s stream batched, collated and pinned when asked (in a worker, its copy)."""
        it = self._iterable_batches(dataset)
        return map(pin_batch, it) if self._pin else it

    def _load(self, idx: Any, dataset: Any = None) -> Any:
        """Batch ``idx``, pinned when asked (in the worker that built it, from its copy of
        the dataset)."""
        batch = self._fetch(idx, dataset)
        return pin_batch(batch) if self._pin else batch

    def _next_base_seed(self) -> int:
        """The base seed of this loader's next worker pool: each new pool gets another one, so
        non-persistent workers do not repeat the previous epoch's random draws."""
        self._pools_started += 1
        return _base_seed(self._pools_started, self.generator)

    def _new_pool(self) -> _WorkerPool:
        """Worker threads for an epoch (or, persistent, for all of them)."""
        return _WorkerPool(
            self.num_workers, self.worker_init_fn, self.dataset, self._next_base_seed()
        )

    def _new_stream_pool(self) -> _StreamPool:
        """Stream worker threads for an epoch (or, persistent, for all of them)."""
        return _StreamPool(
            self.num_workers,
            self.dataset,
            self.worker_init_fn,
            self._next_base_seed(),
            self.prefetch_factor or 2,
        )

    def _iter_batches(self, batches: Iterator[Any]) -> Iterator[Any]:
        if self.num_workers == 0:
            return map(self._load, batches)
        pool = self._pool
        if pool is not None and pool.pid != os.getpid():  # threads do not survive fork()
            pool = self._pool = None
        depth = self.prefetch_factor or 2
        if not self.persistent_workers or (pool is not None and pool.busy):
            return _Epoch(self._new_pool(), self._load, batches, depth, self.timeout, True)
        if pool is None:
            pool = self._pool = self._new_pool()
            weakref.finalize(self, pool.close)
        return _Epoch(pool, self._load, batches, depth, self.timeout, close_pool=False)


def _plain_subset(ds: Any) -> bool:
    """A ``Subset`` whose sample access is ``Subset``'s own (no subclass override)."""
    cls = type(ds)
    return (
        isinstance(ds, Subset)
        and cls.__getitem__ is Subset.__getitem__
        and cls.__getitems__ is Subset.__getitems__
    )


def _plain_tensor_dataset(ds: Any) -> bool:
    """A ``TensorDataset`` whose samples are ``TensorDataset``'s own rows (no subclass
    ``__getitem__``/``__getitems__`` to call instead)."""
    cls = type(ds)
    return (
        isinstance(ds, TensorDataset)
        and cls.__getitem__ is TensorDataset.__getitem__
        and getattr(cls, "__getitems__", None) is None
    )


def _int_keys(keys: Any) -> Optional[np.ndarray]:
    """``keys`` as a 1-d int64 array when they are plain integers, else ``None`` (floats,
    bools, nested lists, tensors of keys: the dataset itself decides what those mean)."""
    try:
        array = keys if isinstance(keys, np.ndarray) else np.asarray(keys)
    except (TypeError, ValueError):
        return None
    if array.ndim != 1 or array.dtype.kind != "i":
        return None
    return array.astype(np.int64, copy=False)


def _subset_keys(indices: Any, pos: np.ndarray) -> Optional[np.ndarray]:
    """A subset's keys at positions ``pos``, read from its ``indices`` now (they may have
    changed since the last batch) in O(batch), or ``None`` where they are no plain integers.
    Out-of-range positions raise ``IndexError``, as ``indices[i]`` does."""
    if isinstance(indices, np.ndarray):
        return _int_keys(indices[pos]) if indices.ndim == 1 else None
    if isinstance(indices, Tensor):
        if indices.ndim != 1 or indices.dtype not in (_core.int64, _core.int32):
            return None
        return _int_keys(indices[_core.from_numpy(pos)].cpu().numpy())
    positions = pos.tolist()
    if len(positions) < 2:  # itemgetter of one position returns the item, not a tuple
        return _int_keys([indices[i] for i in positions])
    return _int_keys(operator.itemgetter(*positions)(indices))  # the fastest O(batch) gather


def _gather(dataset: Any, idx: Any) -> Optional[list[Tensor]]:
    """A ``TensorDataset`` batch (also through ``Subset``/``random_split`` levels) gathered
    with one index op per tensor, as ``default_collate`` of its samples would give; ``None``
    where that would not be the same: a subclass that overrides ``__getitem__`` or
    ``__getitems__`` at any level, or keys that are not plain integers."""
    levels, base = [], dataset
    while _plain_subset(base):
        levels.append(base)
        base = base.dataset
    if not _plain_tensor_dataset(base):
        return None
    pos = _int_keys(idx)
    for sub in levels:
        if pos is None:
            return None
        pos = _subset_keys(sub.indices, pos)
    if pos is None:
        return None
    it = _core.from_numpy(np.ascontiguousarray(pos))
    return [t[it] for t in base.tensors]  # a list, as default_collate's


def _check_mp_context(context: Any, num_workers: int) -> Any:
    """PyTorch's checks of ``multiprocessing_context`` (kept as the attribute; workers here are
    threads, so it changes nothing): only with ``num_workers > 0``; a start method's name
    becomes that context."""
    if context is None:
        return None
    if num_workers == 0:
        raise InvalidValueError(
            "multiprocessing_context can only be used with multi-process loading "
            f"(num_workers > 0), but got num_workers={num_workers}"
        )
    import multiprocessing
    import multiprocessing.context

    if isinstance(context, str):
        methods = multiprocessing.get_all_start_methods()
        if context not in methods:
            raise InvalidValueError(
                f"multiprocessing_context option should specify a valid start method in "
                f"{methods!r}, but got multiprocessing_context={context!r}"
            )
        context = multiprocessing.get_context(context)
    if not isinstance(context, multiprocessing.context.BaseContext):
        raise ArgumentTypeError(
            "multiprocessing_context option should be a valid context object or a string "
            f"specifying the start method, but got multiprocessing_context={context}"
        )
    return context


def _generator_state(generator: Any) -> list[Any]:
    """What the workers' base seed is derived from: the state of the loader's ``generator``
    (a ``dm.Generator``'s or NumPy generator's state, an int seed, an ``initial_seed()``), or
    without one the global generator's, read without drawing from it."""
    if generator is None:
        return list(_core.get_rng_state())
    if isinstance(generator, np.random.Generator):
        return [repr(generator.bit_generator.state)]
    get_state = getattr(generator, "get_state", None)
    if callable(get_state) and callable(getattr(generator, "_active", None)):  # dm.Generator
        return ["dm", *get_state()]
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        return ["int", int(generator)]
    initial = getattr(generator, "initial_seed", None)
    if callable(initial):
        return ["seed", int(initial())]
    return list(_core.get_rng_state())


def _base_seed(serial: int, generator: Any = None) -> int:
    """Worker ``i``'s generator seed is this plus ``i``: a hash of the loader's ``generator``
    (as PyTorch's base seed comes from it; else the global generator's) state and the
    loader's pool count. Hashing draws nothing, so the shuffle order with workers is the one
    without them, and the same generator seed gives the same worker seeds."""
    state = ",".join(map(str, [*_generator_state(generator), serial])).encode()
    return int.from_bytes(hashlib.blake2b(state, digest_size=8).digest(), "little") >> 2


def _timed_out(timeout: float) -> RuntimeError:
    """PyTorch's error for a worker batch that took longer than ``timeout`` seconds."""
    return RuntimeError(f"DataLoader timed out after {timeout} seconds")


def _enter_worker(info: WorkerInfo) -> None:
    """Makes the calling thread loader worker ``info``: its own generator seeded with
    ``info.seed`` (also what ``dm.initial_seed()`` reports there) and ``get_worker_info()``."""
    from ._random_more import _seed_thread

    _seed_thread(info.seed)
    _worker.info = info


def _start_worker(
    info: WorkerInfo, init_fn: Optional[Callable[[int], None]]
) -> Optional[BaseException]:
    """Makes this thread worker ``info`` (``_enter_worker``) and runs ``init_fn(info.id)``;
    what it raised, for the caller to report in that worker's place."""
    _enter_worker(info)
    if init_fn is not None:
        try:
            init_fn(info.id)
        except BaseException as e:
            _drop_frame_locals(e)
            return e
    return None


def _drop_frame_locals(error: BaseException) -> None:
    """Clears the locals of the finished frames in ``error``'s tracebacks (and its chained
    exceptions'): a worker's error may sit unconsumed in a persistent pool's queue after an
    epoch is abandoned, and its frames (the loader's own methods among them) would keep the
    ``DataLoader`` alive, so its finalizer never stopped the threads. PyTorch's workers send
    only the traceback's text; the file and line of every frame stay here."""
    seen: set[int] = set()
    e: Optional[BaseException] = error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        traceback.clear_frames(e.__traceback__)  # (running frames are skipped)
        e = e.__cause__ or e.__context__


#: What a stream worker puts after its last batch.
_STREAM_END = object()


def _worker_copy(dataset: Any) -> Any:
    """Worker ``i``'s own shallow copy of the dataset, as each of PyTorch's worker processes
    unpickles its own: attributes a worker sets (a file ``__getitem__`` opens lazily, state
    ``worker_init_fn`` puts on ``get_worker_info().dataset``) are its own, while the data the
    dataset holds (tensors, arrays) stays shared. A dataset that cannot be copied is shared."""
    try:
        return copy.copy(dataset)
    except Exception:
        return dataset


class _MainRandomState:
    """Around starting a pool's threads: when a ``worker_init_fn`` runs in them, waits until
    each worker has run it and then restores Python's ``random`` and NumPy's global generator
    as the main thread had them, so that seeding them in ``worker_init_fn`` (PyTorch's
    reproducibility recipe, harmless there, where each worker is a process) does not reseed
    the main program's streams. The context value is the semaphore each worker releases."""

    def __init__(self, workers: int, init_fn: Optional[Callable[[int], None]]) -> None:
        self.waits = workers if init_fn is not None else 0
        self.started = threading.Semaphore(0)

    def __enter__(self) -> threading.Semaphore:
        if self.waits:
            self.states = (random.getstate(), np.random.get_state())
        return self.started

    def __exit__(self, *exc: object) -> None:
        if not self.waits:
            return
        for _ in range(self.waits):  # (a worker_init_fn that hangs is not waited for long)
            if not self.started.acquire(timeout=30):
                break
        random.setstate(self.states[0])
        np.random.set_state(self.states[1])


class _Pool:
    """What both worker pools share: the per-worker task queues, the epoch generation (bumped
    to abandon an epoch, whose leftovers the workers then skip) and closing."""

    def _init_pool(self, workers: int) -> None:
        self.workers = workers
        self._tasks: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in range(workers)]
        self._gen = 0
        self.busy = False
        self.pid = os.getpid()

    def close(self) -> None:
        self._gen += 1
        for t in self._tasks:
            t.put(None)


class _PoolEpoch(Iterator[Any]):
    """What both pools' epoch iterators share: claiming the pool for a new generation, waiting
    for this generation's results, and releasing the pool exactly once (also when dropped).
    (``Iterator`` gives ``__iter__``, returning the epoch itself, and abstract-method checks.)"""

    pool: Any

    def _claim(self, pool: Any, timeout: float, close_pool: bool) -> None:
        pool.busy = True
        pool._gen += 1
        self.pool, self.gen, self.timeout = pool, pool._gen, timeout
        self.close_pool, self.finished = close_pool, False

    def _receive(self, q: Any) -> Any:
        """The next result of this epoch from queue ``q`` (a ``(gen, ...)`` tuple)."""
        while True:
            try:
                item = q.get(timeout=self.timeout or None)
            except queue.Empty:
                raise _timed_out(self.timeout) from None
            if item[0] == self.gen:  # older generations are leftovers of an abandoned epoch
                return item

    @abc.abstractmethod
    def _pending(self) -> bool:
        """Whether the workers may still have work of this epoch (then it is abandoned)."""

    @abc.abstractmethod
    def _drop_refs(self) -> None:
        """Forgets what the epoch holds once it is over (the loader, the sampler)."""

    def close(self) -> None:
        if self.finished:
            return
        self.finished, pool = True, self.pool
        if self._pending() or self.close_pool:
            pool._gen += 1  # the workers stop (skip) the rest of this epoch's work
        pool.busy = False
        self._drop_refs()
        if self.close_pool:
            pool.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to clean up
            pass


class _StreamPool(_Pool):
    """``workers`` threads reading an ``IterableDataset`` as PyTorch's worker processes read
    it: worker ``i`` iterates its own (shallow) copy of the dataset, made once, with
    ``get_worker_info()`` telling it ``i`` and ``worker_init_fn(i)`` run once first, and
    batches (and collates) its own stream, so a dataset that does not shard itself by
    ``get_worker_info()`` is read once per worker, and each worker may end with a short
    batch. Each epoch is a task with a generation number; results carry it, so a consumer
    that stops early bumps the generation and the workers stop and their leftovers are
    dropped. The batching function travels with each task, so between epochs the threads
    hold no reference to the ``DataLoader``."""

    def __init__(
        self,
        workers: int,
        dataset: Any,
        init_fn: Optional[Callable[[int], None]],
        base_seed: int,
        depth: int,
    ) -> None:
        self._init_pool(workers)
        self._results: list[queue.Queue[Any]] = [queue.Queue(maxsize=depth) for _ in range(workers)]
        with _MainRandomState(workers, init_fn) as started:
            for w in range(workers):
                threading.Thread(
                    target=self._work,
                    args=(w, _worker_copy(dataset), init_fn, base_seed + w, started),
                    name=f"dm-stream-{w}",
                    daemon=True,
                ).start()

    def _put(self, w: int, gen: int, item: Any) -> bool:
        """Hands ``item`` over, waiting for room; False once epoch ``gen`` is abandoned."""
        while self._gen == gen:
            try:
                self._results[w].put((gen, item), timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _work(
        self,
        w: int,
        dataset: Any,
        init_fn: Optional[Callable[[int], None]],
        seed: int,
        started: threading.Semaphore,
    ) -> None:
        # (an error of init_fn is reported in place of this worker's stream)
        init_error = _start_worker(WorkerInfo(w, self.workers, seed, dataset), init_fn)
        started.release()
        while True:
            task = self._tasks[w].get()
            if task is None:
                return
            gen, batches = task
            del task
            if self._gen == gen:
                self._run(w, gen, batches, dataset, init_error)
            del batches

    def _run(
        self,
        w: int,
        gen: int,
        batches: Callable[[Any], Iterator[Any]],
        dataset: Any,
        init_error: Optional[BaseException],
    ) -> None:
        """One epoch of worker ``w``: its batches, then ``_STREAM_END``; an exception is put
        in the next batch's place and ends this worker's stream (the others go on)."""
        error = init_error
        if error is None:
            try:
                for batch in batches(dataset):
                    if not self._put(w, gen, (True, batch)):
                        return
            except BaseException as e:  # raised in the consumer, in this batch's place
                error = e
                _drop_frame_locals(e)
                del batches  # this frame stays in the traceback: not the loader's method
        if error is None or self._put(w, gen, (False, error)):
            self._put(w, gen, _STREAM_END)


class _StreamEpoch(_PoolEpoch):
    """Iterator over one epoch of a ``_StreamPool``: batches come round-robin over the
    workers still streaming (worker 0's first, worker 1's first, ..., worker 0's second). A
    worker's exception is raised in its place and ends only that worker's stream, so
    ``next()`` after it goes on with the others, as PyTorch's does; dropping the iterator
    (``break``, garbage collection) stops the workers' epoch."""

    def __init__(
        self,
        pool: _StreamPool,
        batches: Callable[[Any], Iterator[Any]],
        timeout: float,
        close_pool: bool,
    ) -> None:
        self._claim(pool, timeout, close_pool)
        self.active, self.k = list(range(pool.workers)), 0
        for t in pool._tasks:
            t.put((self.gen, batches))

    def _get(self, w: int) -> Any:
        return self._receive(self.pool._results[w])[1]

    def __next__(self) -> Any:
        while not self.finished and self.active:
            if self.k >= len(self.active):
                self.k = 0
            item = self._get(self.active[self.k])
            if item is _STREAM_END:
                del self.active[self.k]
                continue
            self.k += 1
            ok, value = item
            if not ok:
                raise value
            return value
        self.close()
        raise StopIteration

    def _pending(self) -> bool:
        return bool(self.active)  # workers still streaming

    def _drop_refs(self) -> None:
        return None  # it holds only the pool (the batching function went with the tasks)


class _WorkerPool(_Pool):
    """``workers`` daemon threads that build batches ahead of the consumer.

    The consumer (``_Epoch``) reads the sampler and hands batch ``j`` of an epoch to worker
    ``j % workers`` through that worker's task queue, keeping at most ``depth`` batches per
    worker in flight; each worker puts results in its own queue, which the consumer reads
    round-robin, so order is preserved with one hand-off per batch. The threads outlive an
    epoch because starting threads costs milliseconds on a busy machine, more than a small
    epoch takes. Each epoch has a generation number: a consumer that stops early bumps it, the
    workers skip that epoch's remaining tasks, and results of an old generation are dropped.

    The fetch function travels with each task, so between epochs the threads hold no
    reference to the ``DataLoader``: an unused loader is collected and its threads end.
    """

    def __init__(
        self,
        workers: int,
        init_fn: Optional[Callable[[int], None]] = None,
        dataset: Any = None,
        base_seed: int = 0,
    ) -> None:
        self._init_pool(workers)
        # As PyTorch seeds worker i with base_seed + i: a dataset drawing random numbers
        # then gives the same batches for the same manual_seed (each worker thread draws
        # from its own generator, and worker i always builds batches i, i + workers, ...).
        # base_seed is a hash of the generator's state, not a draw from it (``_base_seed``).
        self._results: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in range(workers)]
        with _MainRandomState(workers, init_fn) as started:
            for w in range(workers):
                name = f"dm-loader-{w}"
                info = WorkerInfo(w, workers, base_seed + w, _worker_copy(dataset))
                threading.Thread(
                    target=self._work, args=(info, init_fn, started), name=name, daemon=True
                ).start()

    def _work(
        self,
        info: WorkerInfo,
        init_fn: Optional[Callable[[int], None]],
        started: threading.Semaphore,
    ) -> None:
        w = info.id
        # (an error of init_fn is reported with each of this worker's batches)
        init_error = _start_worker(info, init_fn)
        started.release()
        while True:
            task = self._tasks[w].get()
            if task is None:
                return
            gen, idx, fetch = task
            del task
            if self._gen != gen:  # an abandoned epoch's leftover
                del fetch
                continue
            if init_error is not None:
                item: Any = (gen, False, init_error)
            else:
                try:
                    item = (gen, True, fetch(idx, info.dataset))
                except BaseException as e:  # handed to the consumer, raised there
                    _drop_frame_locals(e)
                    item = (gen, False, e)
            self._results[w].put(item)
            del item, fetch, idx


class _Epoch(_PoolEpoch):
    """Iterator over one epoch of a ``_WorkerPool``: reads the batch iterator as results are
    consumed (``depth`` batches per worker ahead), yields batches in order, raises a worker's
    exception in its batch's place (``next()`` then goes on with the next batch, as PyTorch's
    and ``num_workers=0`` do), raises PyTorch's ``RuntimeError`` when a batch takes longer
    than ``timeout`` seconds (> 0; ``next()`` may then wait for it again), and, if dropped
    early (``break``, garbage collection), tells the workers to skip the rest so the pool is
    reusable."""

    def __init__(
        self,
        pool: _WorkerPool,
        fetch: Callable[[Any], Any],
        batches: Iterator[Any],
        depth: int,
        timeout: float,
        close_pool: bool,
    ) -> None:
        self._claim(pool, timeout, close_pool)
        self.fetch: Optional[Callable[[Any], Any]] = fetch  # keeps the loader alive
        self.batches: Optional[Iterator[Any]] = batches
        self.sent = self.j = 0
        try:
            for _ in range(pool.workers * depth):
                if not self._dispatch():
                    break
        except BaseException:  # the sampler failed: free the pool for the next epoch
            self.close()
            raise

    def _dispatch(self) -> bool:
        """Hands the next batch to its worker; False once the sampler is exhausted."""
        if self.batches is None:
            return False
        try:
            idx = next(self.batches)
        except StopIteration:
            self.batches = None
            return False
        self.pool._tasks[self.sent % self.pool.workers].put((self.gen, idx, self.fetch))
        self.sent += 1
        return True

    def __next__(self) -> Any:
        if self.finished or self.j >= self.sent:
            self.close()
            raise StopIteration
        _, ok, value = self._receive(self.pool._results[self.j % self.pool.workers])
        self.j += 1
        try:
            self._dispatch()
        except BaseException:
            self.close()
            raise
        if not ok:
            raise value
        return value

    def _pending(self) -> bool:
        return self.j < self.sent  # tasks not yet consumed

    def _drop_refs(self) -> None:
        self.fetch = self.batches = None


# ---- distributed sampling --------------------------------------------------------------------


class _SizedIter(Iterator[Any]):
    """A loader's epoch iterator with ``len()`` (PyTorch's ``len(iter(loader))``: the
    loader's number of batches)."""

    def __init__(self, it: Iterator[Any], loader: DataLoader) -> None:
        self._it, self._loader = it, loader

    def __next__(self) -> Any:
        return next(self._it)

    def __len__(self) -> int:
        return len(self._loader)


class DistributedSampler(Sampler):
    """Gives each of ``num_replicas`` processes a disjoint slice of the dataset, exactly like
    PyTorch's: shuffle with ``seed + epoch`` (call ``set_epoch`` every epoch), then pad by
    repeating indices from the start (or, with ``drop_last``, trim the tail) so that every rank
    gets ``ceil(len / num_replicas)`` samples and stays in lock-step, then take every
    ``num_replicas``-th index from ``rank``. ``num_replicas`` and ``rank`` default to the
    world ``democratising.distributed.World.init()`` registered (one process, rank 0, before
    that)."""

    def __init__(
        self,
        dataset: Sized,
        num_replicas: Optional[int] = None,
        rank: Optional[int] = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        if num_replicas is None:
            num_replicas = _ranks.world_size()
        if rank is None:
            rank = _ranks.rank()
        if num_replicas < 1:
            raise InvalidValueError(f"num_replicas must be positive, got {num_replicas}")
        if not 0 <= rank < num_replicas:
            raise InvalidValueError(
                f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]"
            )
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, seed, drop_last, 0
        n = len(dataset)
        if drop_last and n % num_replicas != 0:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self) -> Iterator[int]:
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n).tolist()
        else:
            indices = list(range(n))
        if not self.drop_last:
            pad = self.total_size - len(indices)
            if pad <= len(indices):
                indices += indices[:pad]
            elif indices:
                indices += (indices * math.ceil(pad / len(indices)))[:pad]
        else:
            indices = indices[: self.total_size]
        assert len(indices) == self.total_size
        return iter(indices[self.rank : self.total_size : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch mixed into the shuffle seed, so every epoch has a new order that
        every rank agrees on."""
        self.epoch = epoch


from ._stack_dataset import StackDataset  # noqa: E402, F401
