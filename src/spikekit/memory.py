"""Will a run fit in memory? An estimate of a training run's peak, checked before anything large is allocated.

Training keeps every time step of a batch for back-propagation through time, so memory grows with
T x batch: ``-T 100000`` asks for tens of GB, and without a check the run dies after its data loaded, with
PyTorch's allocator traceback. The estimate, in bytes:

    peak ~ BASE + T * max(B * (input + K_train * N),      # a training batch, kept for the backward pass
                          E * input + C * K_eval * N)     # a test batch's inputs (E = 1000 images), run in
                                                          # no-grad chunks of C (model.inference_chunk)

with ``N`` the neurons of all layers, ``input`` the bytes of one sample's input at one step (2 per
input of an event index, 4 per input of a dense tensor for the reference engine) and ``K`` the bytes a
neuron keeps per step. The constants are calibrated on peak RSS (``resource.getrusage``) measured at T = 50
and T = 200, where the growth per sample-step was 1.1 KB for 784-128-10 on the fast engine, 10 KB on the
reference engine, 105 KB for 12c5-p2-32c5-p2-10 and 6.3 KB for the recurrent ALIF 1-64ra-256ra-10 at T = 784
(19 bytes per neuron-step: membrane, adaptation and surrogate inputs), and up to 3.3 KB more (29 bytes in all)
once the process keeps its large buffers in the heap (``spikekit.allocator``: freed blocks leave holes). They
are chosen to err high (the fast engine's seed network estimates ~5x its growth), since the check only refuses
runs whose estimate exceeds all the memory available.
"""

from __future__ import annotations

import os
import re

from spikekit.config import TrainConfig
from spikekit.dynamics.neuron import MODELS
from spikekit.errors import ConfigError
from spikekit.kernels.neurons import SHAPES
from spikekit.nn.network import SNN
from spikekit.nn.spec import parse_arch

BASE = 600 << 20  # the interpreter, PyTorch, numba's kernels and MNIST itself (~430-530 MB measured)
K_TRAIN = {"fast": 32, "reference": 64}  # bytes per neuron per step kept for the backward pass
K_EVAL = 8  # bytes per neuron per step of a no-grad chunk (spikes and statistics)
# float32 rows a neuron keeps per step for the backward pass, counted as at least this many for every model: the
# bound of ALIF, CubaLIF and adLIF (2), with which the heap threshold of ``spikekit.allocator`` was measured; BRF
# keeps 3 (``spikekit.kernels.neurons``' SHAPES)
SAVED_ROWS = 2
LIMIT_VARIABLE = "SPIKEKIT_MEMORY_LIMIT"  # e.g. 8G: use as the available memory (tests; shared machines)


def estimate_peak_bytes(model: SNN, config: TrainConfig, training: bool = True) -> int:
    """The estimated peak memory of training ``model`` with ``config`` (formula in the module docstring);
    ``training=False``: of evaluating it only."""
    train, test = _per_step(model, config, training)
    return BASE + _steps(config) * max(train, test)


def _steps(config: TrainConfig) -> int:
    return max(config.num_steps, config.eval_steps or 0)


def _per_step(model: SNN, config: TrainConfig, training: bool) -> tuple[int, int]:
    """Bytes per time step of a training batch (0 unless ``training``) and of a test batch."""
    neurons = sum(model.sizes[1:])
    input_bytes = model.sizes[0] * (4 if config.engine == "reference" else 2)
    train = config.batch_size * (input_bytes + K_TRAIN.get(config.engine, K_TRAIN["reference"]) * neurons
                                 ) if training else 0
    chunk = model.inference_chunk(_steps(config), limit=config.eval_batch_size)
    return train, config.eval_batch_size * input_bytes + chunk * K_EVAL * neurons


def available_bytes() -> int | None:
    """Memory this process may use: ``$SPIKEKIT_MEMORY_LIMIT`` (bytes, or with a K/M/G/T suffix) if set, else
    the OS's available memory (Linux ``MemAvailable``), else the physical memory; ``None`` if unknown."""
    limit = os.environ.get(LIMIT_VARIABLE)
    if limit:
        return parse_size(limit)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def parse_size(text: str) -> int:
    """``"8G"`` -> 8 * 2**30 bytes; ``ConfigError`` for anything else than a number with an optional K/M/G/T."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", text, flags=re.IGNORECASE)
    if match is None:
        raise ConfigError(f"${LIMIT_VARIABLE} must be a size such as 8G or 512M, got {text!r}")
    return int(float(match.group(1)) * 1024 ** " KMGT".index(match.group(2).upper() or " "))


def check_fits(model: SNN, config: TrainConfig, training: bool = True) -> int:
    """``ConfigError`` with the estimate when a run of ``config`` (``training=False``: a test pass) cannot fit
    in the available memory; else the estimate in bytes (CPU runs only: a GPU's memory is its own)."""
    need = estimate_peak_bytes(model, config, training)
    have = available_bytes() if config.device == "cpu" else None
    if have is not None and need > have:
        train, test = _per_step(model, config, training)
        what = (f"training batches of {config.batch_size}" if train >= test
                else f"test batches of {config.eval_batch_size} samples")
        raise ConfigError(f"this run needs about {_gib(need)} of memory (T = {_steps(config)}, {what}, "
                          f"{sum(model.sizes[1:]):,} neurons; spikekit.memory) but {_gib(have)} is available; "
                          + ("lower -T or --batch-size" if train >= test else "lower -T"))
    return need


def _gib(size: int) -> str:
    return f"{size / 2**30:.1f} GiB"


def largest_buffer_bytes(arch: str, input_shape: tuple[int, ...], num_steps: int, batch_size: int,
                         neuron: str = "lif") -> int:
    """Bytes of the largest buffer a training step keeps: the saved rows of the widest layer of ``arch``,
    T x B x rows x width float32, the width being a fully connected layer's neurons, or a conv layer's channels
    over the input's pixels (a bound: pooling only shrinks them), rows its model's saved rows (at least
    ``SAVED_ROWS``; ``neuron``: the model of layers whose token names none). What entry points pass to
    ``allocator.keep_large_buffers``.

    >>> largest_buffer_bytes("64ra-256ra-10", (1,), 784, 128) // 2**20   # S-MNIST: 784 x 128 x 2 x 256 float32
    196
    >>> largest_buffer_bytes("256rb-10", (1,), 784, 32) // 2**20         # BRF keeps 3 rows: 784 x 32 x 3 x 256
    73
    """
    pixels = input_shape[1] * input_shape[2] if len(input_shape) == 3 else 1
    sizes = [spec.size * (pixels if spec.kind == "conv" else 1)
             * max(SAVED_ROWS, SHAPES[MODELS[spec.neuron or neuron].code][2]) for spec in parse_arch(arch)]
    return num_steps * batch_size * max(sizes, default=0) * 4
