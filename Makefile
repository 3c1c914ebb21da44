# point2act — `make demo` and `make test` each set up .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Wheels are kept here after the first download, so a fresh .venv on the same machine installs offline.
WHEELHOUSE ?= $(HOME)/.cache/point2act/wheelhouse
# Disk a fresh .venv takes (torch and nerfstudio's dependencies: 8.7 GB on Linux x86-64), checked before setup.
VENV_GB := 10

.PHONY: demo test test-fast bench gate sysdeps clean-venv

$(STAMP): pyproject.toml requirements.lock
	@bash scripts/sysdeps.sh
	@test -x $(PY) || bash scripts/free_space.sh . $(VENV_GB)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip wheel --quiet --find-links $(WHEELHOUSE) -w $(WHEELHOUSE) -r requirements.lock
	$(PY) -m pip install --quiet --no-index --find-links $(WHEELHOUSE) -r requirements.lock
	$(PY) -m pip install --quiet --no-index --no-deps --no-build-isolation -e '.[dev]'
	$(VENV)/bin/point2act build
	@touch $(STAMP)

## demo: synthetic scene -> ns-train point2act (short schedule) -> action point export
demo: $(STAMP)
	$(VENV)/bin/point2act demo

# pytest-xdist workers: one per CPU core (tests/conftest.py keeps tests that share a trained run or a
# module's scene in one worker; --dist loadgroup honours that). TEST_WORKERS=0: one process.
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
XDIST := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup)
# One thread per worker: with a worker per core, torch's and the extension's OpenMP pools would otherwise
# each take every core and the workers fight over them (on a clean clone of the 2-core CI machine the
# tests ran 6 min 38 s that way, 4 min 57 s not).
THREADS := $(if $(filter 0,$(TEST_WORKERS)),,OMP_NUM_THREADS=1)

## test: the whole test suite (CPU; CUDA parity tests skip without a GPU)
test: $(STAMP)
	$(THREADS) $(PY) -m pytest -q $(XDIST) --durations=25

## test-fast: everything but the end-to-end training tests
test-fast: $(STAMP)
	$(THREADS) $(PY) -m pytest -q $(XDIST) -m "not slow"

bench: $(STAMP)
	$(PY) -m benchmarks.bench_rasterizer

## gate: the 20-minute check of a change to training (docs/accuracy.md, "The gate"); SEED=1 for its noise
SEED ?= 0
gate: $(STAMP)
	$(PY) -m benchmarks.gate --seed $(SEED)

sysdeps:
	@bash scripts/sysdeps.sh

clean-venv:
	rm -rf $(VENV)
