"""torchrun's ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE`` under an MPI
launcher. PyTorch programs read them before calling ``init_process_group`` (nanoGPT decides
whether it runs data-parallel from ``RANK``), so ``import democratising`` sets them from the
launcher's own variables: no MPI call, nothing imported, each only where unset and known."""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from typing import Optional

from . import _launcher

#: MPI launchers' variables for a rank's place on its node (MPICH/Hydra, Open MPI, Slurm).
_LOCAL_RANK_ENV = ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID")
_LOCAL_SIZE_ENV = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE")


def export_torchrun_env(env: Optional[MutableMapping[str, str]] = None) -> None:
    """Sets the torchrun variables from the MPI launcher's (a no-op when not launched)."""
    env = os.environ if env is None else env
    if not _launcher.launched(env):
        return
    values = {
        "RANK": _launcher.rank(env),
        "WORLD_SIZE": _launcher.size(env),
        "LOCAL_RANK": _launcher.first_int(env, _LOCAL_RANK_ENV),
        "LOCAL_WORLD_SIZE": _launcher.first_int(env, _LOCAL_SIZE_ENV),
    }
    for name, value in values.items():
        if value is not None and name not in env:
            env[name] = str(value)
