"""spikekit: spiking neural networks trained with surrogate gradients, fast on a CPU.

Conventions, stated once for the whole package:
- tensors are time-major: spikes and currents are ``[T, B, N]`` (steps, batch, neurons), or
  ``[T, B, C, H, W]`` in conv layers (``spikekit.nn.spec`` names the layer stacks);
- ``tau`` is in time steps: one LIF step is ``V <- V + (I - V)/tau`` (``spikekit.dynamics.lif``); ALIF and
  CubaLIF (``spikekit.dynamics.alif``, ``.cuba``) add an adaptive threshold and a synaptic current, their time
  constants in steps too;
- a neuron spikes when ``V >= threshold`` (default 1.0), then ``V <- reset`` (default 0.0);
- spikes are ``{0., 1.}`` in the dtype of the computation;
- the network's output is the spike count of each output neuron over the T steps, ``[B, N_out]``;
- every random draw takes an explicit ``torch.Generator``; training keys them by (seed, epoch, batch).
"""

from spikekit.config import ModelConfig, RunConfig, TrainConfig
from spikekit.data import encoding
from spikekit.data.encoding import poisson_encode, poisson_encode_events
from spikekit.data.mnist import load_mnist
from spikekit.dynamics import (
    ALIFParams,
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
    LIF,
    SNN,
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
    EpochProgress,
    build_model,
    build_optimizer,
    evaluate,
    load_optimizer_state,
    optimizer_state,
    train_epoch,
)

__version__ = "0.1.0"

__all__ = [
    "ALIF", "ALIFParams", "CubaLIF", "CubaLIFParams", "LIF", "neuron_scan",
    "ENGINES", "SNN", "CheckpointError", "ConfigError", "ConvLayer", "DataError", "EpochProgress", "Flatten",
    "LIFParams", "LIFState", "Pool2d", "RecurrentLayer", "TimeDropout", "parse_arch",
    "NIRError", "from_nir", "read_nir", "to_nir", "write_nir",
    "ModelConfig", "RunConfig", "SNNLayer", "SpikeEvents", "SpikekitError", "TrainConfig", "build_model",
    "build_optimizer", "encoding", "evaluate", "lif_scan", "lif_step", "load_checkpoint", "load_mnist",
    "load_optimizer_state", "optimizer_state",
    "poisson_encode", "poisson_encode_events", "save_checkpoint", "spike", "train_epoch",
]
