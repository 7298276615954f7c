"""spikekit: spiking neural networks trained with surrogate gradients, fast on a CPU.

Conventions, stated once for the whole package:
- tensors are time-major: spikes and currents are ``[T, B, N]`` (steps, batch, neurons), or
  ``[T, B, C, H, W]`` in conv layers (``spikekit.nn.spec`` names the layer stacks);
- ``tau`` is in time steps: one LIF step is ``V <- V + (I - V)/tau`` (``spikekit.dynamics.lif``); ALIF,
  CubaLIF and adLIF (``spikekit.dynamics.alif``, ``.cuba``, ``.adlif``) add an adaptive threshold, a synaptic
  current and an adaptation current, their time constants in steps too; BRF (``.brf``) is a damped oscillator
  whose constants are in its own time units (``dt`` a step);
- a neuron spikes when ``V >= threshold`` (default 1.0), then ``V <- reset`` (default 0.0);
- spikes are ``{0., 1.}`` in the dtype of the computation;
- the network's output is the spike count of each output neuron over the T steps, ``[B, N_out]``;
- every random draw takes an explicit ``torch.Generator``; training keys them by (seed, epoch, batch).
"""

import spikekit.numba_cache  # noqa: F401, I001  (first: every compiled function is cached under its stamp)
from spikekit.config import ModelConfig, RunConfig, TrainConfig
from spikekit.data import encoding
from spikekit.data.datasets import load_data
from spikekit.data.encoding import poisson_encode, poisson_encode_events
from spikekit.data.mnist import load_mnist
from spikekit.dynamics import (
    AdLIFParams,
    ALIFParams,
    BRFParams,
    CubaLIFParams,
    LIFParams,
    LIFState,
    lif_scan,
    lif_step,
    neuron_scan,
    spike,
)
from spikekit.errors import CheckpointError, ConfigError, DataError, SpikekitError
from spikekit.io.checkpoint import load_checkpoint, save_checkpoint
from spikekit.io.nir import NIRError, from_nir, read_nir, to_nir, write_nir
from spikekit.kernels import ENGINES, SpikeEvents
from spikekit.nn import (
    ALIF,
    BRF,
    LIF,
    SNN,
    AdLIF,
    ConvLayer,
    CubaLIF,
    Flatten,
    Pool2d,
    RecurrentLayer,
    SNNLayer,
    TimeDropout,
    parse_arch,
)
from spikekit.train import (
    Callback,
    EpochProgress,
    FitResult,
    build_model,
    build_optimizer,
    evaluate,
    fit,
    load_optimizer_state,
    optimizer_state,
    train_epoch,
)

__version__ = "0.1.0"

__all__ = [
    "AdLIF", "AdLIFParams", "ALIF", "ALIFParams", "BRF", "BRFParams", "build_model", "build_optimizer", "Callback",
    "CheckpointError", "ConfigError",
    "ConvLayer", "CubaLIF", "CubaLIFParams", "DataError", "encoding", "ENGINES", "EpochProgress", "evaluate", "fit",
    "FitResult", "Flatten", "from_nir", "LIF", "lif_scan", "lif_step", "LIFParams", "LIFState", "load_checkpoint",
    "load_data", "load_mnist", "load_optimizer_state", "ModelConfig", "neuron_scan", "NIRError", "optimizer_state",
    "parse_arch", "poisson_encode", "poisson_encode_events", "Pool2d", "read_nir", "RecurrentLayer", "RunConfig",
    "save_checkpoint", "SNN", "SNNLayer", "spike", "SpikeEvents", "SpikekitError", "TimeDropout", "to_nir",
    "train_epoch", "TrainConfig", "write_nir",
]
