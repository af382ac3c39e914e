"""``democratising.tune``: hyperparameter search over ``TrainingConfig`` fields.

* ``tune.run(config, space, model, data, trials=..., monitor="val_accuracy")``: an Optuna study
  (the ``tune`` extra) with TPE, random or grid sampling, a pruner fed each epoch's monitored
  metric (``PruningCallback``, as Optuna's Lightning integration), and a shared storage
  (journal file or SQLite) so several processes, e.g. the ranks of ``mpirun``, run trials of
  one study;
* ``tune.grid_search`` and ``tune.random_search``: built in, no extra, with an optional median
  rule that stops bad trials;
* ``Float``, ``Int``, ``Categorical`` and ``SearchSpace``: the space, in Python or in a TOML
  ``[tune.space]`` table (``democratising tune config.toml --trials N``).

Each returns a ``TuneResult``: every trial, ``best_trial``, ``best_params``, ``best_value`` and
``best_config`` (the base config with the best parameters)."""

from __future__ import annotations

from .._extras import MissingExtraError
from ._optuna import PruningCallback, make_storage
from ._trial import TrialResult
from .search import TuneResult, grid_search, random_search, result_from_study, run
from .space import Categorical, Float, Int, SearchSpace, apply_params

__all__ = [
    "Categorical",
    "Float",
    "Int",
    "MissingExtraError",
    "PruningCallback",
    "SearchSpace",
    "TrialResult",
    "TuneResult",
    "apply_params",
    "grid_search",
    "make_storage",
    "random_search",
    "result_from_study",
    "run",
]
