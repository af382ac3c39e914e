"""``StackDataset``: several datasets of equal length indexed together, each sample a tuple
(datasets given positionally) or a dict (given by keyword), as PyTorch's
``torch.utils.data.StackDataset``."""

from __future__ import annotations

from typing import Any, Union

from .data import Dataset
from .errors import InvalidValueError

__all__ = ["StackDataset"]


class StackDataset(Dataset):
    """``StackDataset(images, labels)[i] == (images[i], labels[i])``;
    ``StackDataset(image=images, label=labels)[i] == {"image": images[i], "label": labels[i]}``."""

    datasets: Union[tuple[Any, ...], dict[str, Any]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args:
            if kwargs:
                raise InvalidValueError(
                    "Supported either ``tuple``- (via ``args``) or``dict``- (via ``kwargs``) "
                    "like input/output, but both types are given."
                )
            self._length = len(args[0])
            if any(self._length != len(dataset) for dataset in args):
                raise InvalidValueError("Size mismatch between datasets")
            self.datasets = args
        elif kwargs:
            tmp = list(kwargs.values())
            self._length = len(tmp[0])
            if any(self._length != len(dataset) for dataset in tmp):
                raise InvalidValueError("Size mismatch between datasets")
            self.datasets = kwargs
        else:
            raise InvalidValueError("At least one dataset should be passed")

    def __getitem__(self, index: int) -> Any:
        if isinstance(self.datasets, dict):
            return {k: dataset[index] for k, dataset in self.datasets.items()}
        return tuple(dataset[index] for dataset in self.datasets)

    def __getitems__(self, indices: list[int]) -> list[Any]:
        """A batch of samples, using each dataset's own ``__getitems__`` where it has one."""

        def column(dataset: Any) -> list[Any]:
            if callable(getattr(dataset, "__getitems__", None)):
                items = dataset.__getitems__(indices)
                if len(items) != len(indices):
                    raise InvalidValueError(
                        "Nested dataset's output size mismatch. Expected "
                        f"{len(indices)}, got {len(items)}"
                    )
                return list(items)
            return [dataset[idx] for idx in indices]

        if isinstance(self.datasets, dict):
            cols = {k: column(d) for k, d in self.datasets.items()}
            return [{k: cols[k][n] for k in cols} for n in range(len(indices))]
        tcols = [column(d) for d in self.datasets]
        return [tuple(c[n] for c in tcols) for n in range(len(indices))]

    def __len__(self) -> int:
        return self._length
