"""The exception hierarchy. Every engine error arrives as one of these classes; each also derives
from the built-in exception a Python user would catch (``ValueError``, ``TypeError``, ...) and,
where PyTorch raises ``RuntimeError`` for the same mistake (shape, dtype and value errors), from
``RuntimeError`` too, so ``except RuntimeError`` written for PyTorch still catches them."""

from __future__ import annotations

__all__ = [
    "ArgumentTypeError",
    "AutogradError",
    "CheckpointError",
    "DTypeError",
    "DemocratisingError",
    "DeviceError",
    "DistributedError",
    "ExportError",
    "FileIOError",
    "IndexOutOfRangeError",
    "IndexTypeError",
    "InvalidValueError",
    "LinAlgError",
    "OutOfMemoryError",
    "OverflowValueError",
    "ShapeError",
    "StateDictError",
    "UnsupportedShapeError",
]


class DemocratisingError(Exception):
    """Base class of every error raised by democratising. An error about operands an op cannot
    combine names them: ``op`` (``"matmul"``), ``shapes`` (a tuple of shape tuples, in argument
    order) and ``dtypes``; they are ``None``/empty where the engine does not know them."""

    op: str | None = None
    shapes: tuple[tuple[int, ...], ...] = ()
    dtypes: tuple[object, ...] = ()


class ShapeError(DemocratisingError, ValueError, RuntimeError):
    """Incompatible or invalid tensor shapes; the message names the shapes."""


class DTypeError(DemocratisingError, TypeError, NotImplementedError):
    """A dtype the operation does not accept. Also a ``NotImplementedError`` (a
    ``RuntimeError``), which PyTorch raises for an op "not implemented for 'Int'"."""


class UnsupportedShapeError(ShapeError, NotImplementedError):
    """A rank an op does not handle (reflect padding of a 1-d tensor, bilinear resizing of a
    3-d one): also PyTorch's ``NotImplementedError`` for it."""


class DeviceError(DemocratisingError, RuntimeError):
    """Tensors on different devices, or a device that is not available."""


class IndexOutOfRangeError(DemocratisingError, IndexError, RuntimeError):
    """An index or label out of range. PyTorch raises ``IndexError`` for some of these
    (``t[5]``, ``index_select``) and ``RuntimeError`` for others (``gather``, ``scatter``,
    ``narrow``, ``topk``'s ``k``), so this is both."""


class IndexTypeError(IndexOutOfRangeError, DTypeError):
    """An index of a type that cannot index (a string, a float, a float tensor): PyTorch
    raises ``IndexError`` for some of these and ``TypeError`` for others, so this is both."""


class InvalidValueError(DemocratisingError, ValueError, RuntimeError):
    """An argument with an invalid value."""


class _AssertedValueError(InvalidValueError, AssertionError):
    """An argument PyTorch checks with ``assert`` (``MultiheadAttention``'s ``embed_dim``
    divisible by ``num_heads``, ``Embedding``'s ``padding_idx`` in range): also an
    ``AssertionError``, so ``except AssertionError`` written for PyTorch still catches it."""


class LinAlgError(InvalidValueError):
    """A matrix a linear-algebra function cannot handle: singular in ``linalg.inv``/``solve``,
    not positive-definite in ``linalg.cholesky``. A ``RuntimeError`` as PyTorch's
    ``torch.linalg.LinAlgError``; also ``dm.linalg.LinAlgError``."""


class ArgumentTypeError(DemocratisingError, TypeError):
    """An argument of the wrong kind: a number where a tensor is needed, ``len()`` of a 0-d
    tensor, a CUDA tensor given to ``.numpy()``."""


def not_a_tensor(op: str, arg: str, position: int, value: object) -> ArgumentTypeError:
    """PyTorch's ``TypeError`` for a non-tensor argument (raised on the error path, where an
    ``AttributeError`` from inside ``op`` was caught)."""
    return ArgumentTypeError(
        f"{op}(): argument '{arg}' (position {position}) must be Tensor, not {type(value).__name__}"
    )


class OverflowValueError(InvalidValueError, OverflowError):
    """A number that does not fit the dtype it would be stored in (``2**40`` into ``int32``, a
    Python int beyond ``int64``, ``nan`` into an integer tensor). An ``OverflowError`` as in
    NumPy, and a ``RuntimeError`` as in PyTorch ("value cannot be converted without overflow")."""


class AutogradError(DemocratisingError, RuntimeError):
    """Misuse of autograd: backward twice, in-place on a leaf that requires grad, ..."""


class CheckpointError(DemocratisingError, RuntimeError):
    """A checkpoint file that is truncated, corrupt, hostile or does not match the model. Also
    a ``RuntimeError``, which ``torch.load``/``torch.save`` raise for these."""


class DistributedError(DemocratisingError, RuntimeError):
    """A failure of the distributed (MPI) layer."""


class OutOfMemoryError(DemocratisingError, MemoryError, RuntimeError):
    """An allocation that could not be satisfied. Also a ``RuntimeError``, as PyTorch's
    ``OutOfMemoryError`` is (batch-size finders catch ``RuntimeError`` and read the message)."""


class FileIOError(DemocratisingError, OSError):
    """An operating-system I/O failure."""


class StateDictError(DemocratisingError, KeyError, RuntimeError):
    """``load_state_dict(strict=True)`` with missing or unexpected keys. A ``RuntimeError`` as in
    PyTorch, and a ``KeyError`` since it is about keys."""

    def __str__(self) -> str:
        # KeyError would print the message in quotes.
        return str(self.args[0]) if self.args else ""


class ExportError(DemocratisingError, RuntimeError):
    """A model ``democratising.onnx.export`` cannot write as ONNX: an op with no ONNX form
    (named in the message), data-dependent Python in ``forward`` or a size that follows a
    dynamic axis where the graph needs a fixed one."""
