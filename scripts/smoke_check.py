"""Run by scripts/smoke_wheel.sh with the python of a fresh virtualenv that has only the built
wheel (and its dependencies) installed: checks that the installed package imports from that
environment, reports the version the wheel was built with, is portable, and trains the seed's
MLP.

usage: python smoke_check.py EXPECTED_VERSION [--import-only]
"""

from __future__ import annotations

import io
import os
import sys
import sysconfig
import time


def fail(msg: str) -> None:
    print(f"smoke: FAIL: {msg}", file=sys.stderr)
    raise SystemExit(1)


def check_install(expected: str) -> None:
    import democratising as dm

    site = os.path.realpath(sysconfig.get_paths()["purelib"])
    where = os.path.realpath(dm.__file__)
    if not where.startswith(site + os.sep):
        fail(f"democratising imported from {where}, not from the test environment ({site})")
    if dm.__version__ != expected:
        fail(f"democratising.__version__ is {dm.__version__!r}, Cargo.toml says {expected!r}")
    from importlib.metadata import version

    if version("democratising") != expected:
        fail(f"installed metadata version {version('democratising')!r} != {expected!r}")

    out = io.StringIO()
    cfg = dm.show_config(file=out)
    text = out.getvalue()
    if f"democratising {expected}" not in text or cfg["democratising"]["version"] != expected:
        fail(f"show_config() does not report {expected}:\n{text}")
    build = cfg["build"]
    if build["profile"] != "release":
        fail(f"the wheel holds a {build['profile']} build")
    if not build["abi3"]:
        fail("the extension is not an abi3 (stable ABI) build")
    wide = {"avx", "avx2", "fma", "avx512f"} & set(build["compiled_simd"])
    if wide:
        fail(f"the wheel assumes {sorted(wide)} at compile time (target-cpu=native?): not portable")
    print(
        f"smoke: democratising {dm.__version__} from {os.path.dirname(where)} "
        f"(simd {cfg['cpu']['simd_level']}, rayon threads {cfg['cpu']['rayon_threads']}, "
        f"cuda {cfg['cuda']['available']}, mpi {cfg['mpi']['available']})"
    )


def seed_data() -> tuple[object, object, str]:
    """``digits`` when scikit-learn is there, else 10 Gaussian blobs in 64 dimensions."""
    import numpy as np

    import democratising as dm

    try:
        x, y = dm.datasets.digits()
        return x, y, "digits"
    except dm.DemocratisingError:
        pass
    rng = np.random.default_rng(0)
    centres = rng.normal(0.0, 1.0, size=(10, 64)).astype(np.float32)
    labels = rng.integers(0, 10, size=1500)
    xs = centres[labels] + rng.normal(0.0, 0.7, size=(1500, 64)).astype(np.float32)
    return dm.from_numpy(np.ascontiguousarray(xs)), dm.from_numpy(labels.astype(np.int64)), "blobs"


def train() -> None:
    import democratising as dm
    from democratising.data import TensorDataset, random_split
    from democratising.prelude import Dense, ReLU, Sequential
    from democratising.train import Trainer, TrainingConfig

    dm.manual_seed(0)
    x, y, name = seed_data()
    train_set, val_set = random_split(TensorDataset(x, y), [0.8, 0.2], seed=0)
    model = Sequential().add(Dense(64, 128)).add(ReLU()).add(Dense(128, 10)).build()
    t0 = time.perf_counter()
    trainer = Trainer(model, TrainingConfig(num_epochs=3, batch_size=32, verbose=False))
    history = trainer.fit(train_set, val_set)
    seconds = time.perf_counter() - t0
    loss, acc = history["loss"], history["val_accuracy"][-1]
    if not loss[-1] < loss[0]:
        fail(f"training loss did not fall: {loss}")
    if acc < 0.8:
        fail(f"validation accuracy {acc:.3f} after 3 epochs on {name} (expected > 0.8)")
    print(
        f"smoke: seed MLP on {name}: loss {loss[0]:.3f} -> {loss[-1]:.3f}, "
        f"val accuracy {acc:.1%}, {seconds:.1f} s"
    )


def main() -> None:
    if len(sys.argv) < 2:
        fail("usage: smoke_check.py EXPECTED_VERSION [--import-only]")
    check_install(sys.argv[1])
    if "--import-only" not in sys.argv[2:]:
        train()


if __name__ == "__main__":
    main()
