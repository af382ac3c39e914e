"""``democratising.optim``: optimizers with PyTorch's names, signatures and update rules, and
``lr_scheduler``."""

from . import lr_scheduler
from .adadelta import Adadelta
from .adamax import Adamax
from .algorithms import SGD, Adagrad, Adam, AdamW, RMSprop
from .asgd import ASGD
from .lbfgs import LBFGS
from .muon import Muon
from .nadam import NAdam
from .optimizer import Optimizer
from .radam import RAdam
from .rprop import Rprop
from .sparse_adam import SparseAdam

__all__ = [
    "ASGD",
    "LBFGS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Muon",
    "NAdam",
    "Optimizer",
    "RAdam",
    "RMSprop",
    "Rprop",
    "SparseAdam",
    "lr_scheduler",
]

from . import swa_utils

__all__ += ["swa_utils"]
from .adafactor import Adafactor as Adafactor  # noqa: E402

__all__ += ["Adafactor"]
