# democratising — the two commands a new machine needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.deps-stamp
# Serialise extension builds (helpers and humans may share one checkout; two cores only).
LOCK := flock /tmp/democratising-build.lock

.PHONY: help run test lint fmt build develop cargo-test pytest pytest-run checks bench clean wheel local-wheel smoke release-check

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install "maturin>=1.5,<2" "numpy>=1.23" "pytest>=7" "pytest-xdist>=3.5" "ruff>=0.5" "scikit-learn>=1.0" tqdm safetensors "mpi4py>=4.0" "mpich>=4.1" "nvidia-cuda-nvrtc-cu12==12.9.*" "nvidia-cuda-runtime-cu12==12.9.*" "mypy>=2.4,<2.5"
	$(PIP) install "optuna>=3.4" "tensorboard>=2.14" "matplotlib>=3.7" "onnx>=1.14" "onnxruntime>=1.16"  # extras tune/tensorboard/plot/onnx (+ onnxruntime to check exports), tested
	$(PIP) install "auditwheel>=6" "ziglang>=0.13,<0.18"  # make wheel / make smoke
	touch $(STAMP)

venv: $(STAMP)

develop: $(STAMP) ## build the extension (release) and install the package into .venv
	$(LOCK) env VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(VENV))/bin:$$PATH \
		maturin develop --release

build: develop ## alias of develop

run: develop ## train the seed MLP on the built-in digits data
	$(VENV)/bin/democratising train

lint: $(STAMP) ## cargo fmt --check, clippy -D warnings, ruff check + format --check
	cargo fmt --all -- --check
	$(LOCK) cargo clippy --release --workspace --all-targets -- -D warnings
	$(VENV)/bin/ruff check python tests benches examples
	$(VENV)/bin/ruff format --check python tests benches examples
	$(VENV)/bin/python -m mypy.stubtest democratising._core --allowlist python/democratising/stubtest-allowlist.txt

fmt: $(STAMP) ## format Rust and Python sources
	cargo fmt --all
	$(VENV)/bin/ruff format python tests benches examples
	$(VENV)/bin/ruff check --fix python tests benches examples

# Selecting democratising-py too (it has no tests) resolves the dependencies' features as the
# extension build does, so cargo reuses develop's compiled dependencies instead of rebuilding them.
cargo-test: ## Rust unit and integration tests (release profile, shared with the build)
	$(LOCK) cargo test --release -p democratising -p democratising-py

pytest: develop pytest-run ## Python test-suite

# Two workers (pytest-xdist), each test file kept on one worker for its module fixtures: most
# tests are short single-threaded Python, so two cores run the suite in ~5 min instead of ~8.5.
PYTEST_WORKERS ?= 2

pytest-run:
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile --durations=15

# cargo test compiles only the small test crates against the release build's library (the unit
# tests are compiled into it: rust/core/src/self_test.rs) and runs them in about 30 s, beside
# pytest's first minute; each one's output is printed whole when it finishes. pytest names its
# slowest tests, to keep `make test` well under 20 minutes on two cores.
checks: develop ## cargo test and pytest side by side
	$(MAKE) --no-print-directory -j2 --output-sync=target cargo-test pytest-run

test: develop lint checks smoke ## everything CI runs

DIST := dist
# Portable release wheel: abi3 (CPython >= 3.9), linked by zig against glibc 2.28 symbols so it is
# manylinux_2_28 on this newer glibc, baseline x86-64 code (no target-cpu=native: gemm picks its
# SIMD kernels at run time). Cargo reuses target/x86_64-unknown-linux-gnu/ between wheel builds.
WHEEL_FLAGS := --release --zig --compatibility manylinux_2_28

wheel: $(STAMP) ## release wheel (abi3, manylinux_2_28) and sdist into dist/
	rm -f $(DIST)/democratising-*.whl $(DIST)/democratising-*.tar.gz
	$(LOCK) env PATH=$(abspath $(VENV))/bin:$$PATH \
		maturin build $(WHEEL_FLAGS) --interpreter $(abspath $(PY)) --out $(DIST)
	$(LOCK) env PATH=$(abspath $(VENV))/bin:$$PATH maturin sdist --out $(DIST)

# `make test` smoke-tests a wheel packed from the release build `develop` already made (no second
# compile), so CI stays one release build. `make release-check` is what a release runs: the portable
# manylinux_2_28 wheel of `make wheel` (zig links it in its own target directory) and a wheel built
# from the sdist, two more full release builds (about 5 min each on 2 cores). PORTABLE=1 asks the
# smoke test for the portable wheel.
PORTABLE ?= 0

local-wheel: develop ## wheel (this machine's glibc) from develop's release build, and sdist
	rm -f $(DIST)/democratising-*.whl $(DIST)/democratising-*.tar.gz
	$(LOCK) env PATH=$(abspath $(VENV))/bin:$$PATH \
		maturin build --release --compatibility linux --interpreter $(abspath $(PY)) --out $(DIST)
	$(LOCK) env PATH=$(abspath $(VENV))/bin:$$PATH maturin sdist --out $(DIST)

smoke: $(if $(filter 1,$(PORTABLE)),wheel,local-wheel) ## the wheel in a fresh virtualenv (build/smoke-venv): train, --version; sdist check
	env LOCK="$(LOCK)" PYTHON=$(PYTHON) AUDITWHEEL=$(abspath $(VENV))/bin/auditwheel \
		SMOKE_PORTABLE=$(PORTABLE) SMOKE_SDIST_BUILD=$(if $(SDIST_BUILD),$(SDIST_BUILD),0) \
		scripts/smoke_wheel.sh $(DIST)

release-check: ## before a release: the portable wheel and a wheel built from the sdist, both smoke-tested
	$(MAKE) smoke PORTABLE=1 SDIST_BUILD=1

BENCH_VENV := .bench-venv
BENCH_STAMP := $(BENCH_VENV)/.deps-stamp

# PyTorch (and friends) live in their own virtualenv: never a dependency of the package or tests.
$(BENCH_STAMP): benches/requirements-bench.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -r benches/requirements-bench.txt
	touch $(BENCH_STAMP)

bench: develop $(BENCH_STAMP) ## benchmark tables: democratising vs NumPy and PyTorch, side by side
	$(LOCK) env PYTHONPATH=$(abspath python) $(BENCH_VENV)/bin/python benches/bench_ops.py
	@for b in benches/bench_*.py; do [ "$$b" = benches/bench_ops.py ] && continue; \
		echo "== $$b"; $(LOCK) env PYTHONPATH=$(abspath python) $(BENCH_VENV)/bin/python $$b || exit 1; done

clean: ## remove build outputs and the virtualenv
	rm -rf target $(VENV) $(BENCH_VENV) .pytest_cache build $(DIST)
