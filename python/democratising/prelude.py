"""``from democratising.prelude import *``: the seed guide's names in one import."""

from .data import DataLoader, TensorDataset
from .nn import (
    GELU,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    Dense,
    Dropout,
    Flatten,
    Linear,
    Module,
    MSELoss,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from .optim import SGD, Adam, AdamW

__all__ = [
    "GELU",
    "SGD",
    "Adam",
    "AdamW",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "DataLoader",
    "Dense",
    "Dropout",
    "Flatten",
    "Linear",
    "MSELoss",
    "Module",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "TensorDataset",
]
