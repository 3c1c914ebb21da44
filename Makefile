# point2act — `make demo` and `make test` each set up .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test test-fast bench sysdeps clean-venv

$(STAMP): pyproject.toml requirements.lock
	@bash scripts/sysdeps.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

## demo: synthetic scene -> ns-train point2act (short schedule) -> action point export
demo: $(STAMP)
	$(VENV)/bin/point2act demo

## test: the whole test suite (CPU; CUDA parity tests skip without a GPU)
test: $(STAMP)
	$(PY) -m pytest -q

## test-fast: everything but the end-to-end training tests
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP)
	$(PY) -m benchmarks.bench_rasterizer

sysdeps:
	@bash scripts/sysdeps.sh

clean-venv:
	rm -rf $(VENV)
