"""Start every layer firing: scale a silent layer's weights on the first batch until it spikes.

PyTorch's default initialisation draws W ~ U(-1/sqrt(N_in), 1/sqrt(N_in)); fed sparse spikes at rate r, the
current W x has a spread of about sqrt(r/3) of the default threshold, so a layer after a sparse one (the seed
network's output layer, a second recurrent layer, any layer of a long sequence) starts nearly silent: the seed
network's output layer fires 0.1-0.3% of its steps at initialisation, and a run's first epoch goes to waking
it up. How much to scale depends on the data (its rate, its duration), so it is measured, not guessed:

    for each spiking layer, in order:
        while the layer fires less than ``low`` (spikes per neuron per step, over the batch)
              and fewer than ``MAX_ROUNDS`` doublings were made:
            W <- 2 W        (its input weights only: bias, recurrent U and neuron constants are kept)

A layer that fires enough is left as it was, so networks that start well (the seed network's hidden layer)
keep their initialisation. The output of a ``leaky`` readout does not fire and is not scaled. The batch is the
caller's (``spikekit.train.fit`` draws the first training batch's inputs from a stream of their own), so a run
stays a pure function of its seed.
"""

from __future__ import annotations

import torch

from spikekit.kernels import Inputs
from spikekit.nn.conv import ConvLayer
from spikekit.nn.network import SNN

LOW = 0.01  # spikes per neuron per step: below this a layer counts as silent
MAX_ROUNDS = 8  # at most 2**8 = 256x the initial weights


def calibrate_firing(network: SNN, inputs: Inputs, low: float = LOW) -> list[float]:
    """Scale each silent spiking layer's input weights by powers of 2 until it fires at least ``low`` on
    ``inputs`` (module docstring); returns the gain given to each spiking layer (1.0: untouched).

    Args:
        network: an ``SNN``; modified in place.
        inputs: one batch of its inputs, [T, B, ...] spikes (dense or events) or analog values.
        low: the firing rate (spikes per neuron per step) a layer must reach; 0 leaves the network as it is.
    """
    gains = []
    spiking = network.spiking_layers
    with torch.no_grad():
        for index, layer in enumerate(spiking):
            gain = 1.0
            for _ in range(MAX_ROUNDS):
                _, spikes = network.scores_and_spikes(inputs)
                if index >= len(spikes) or float(spikes[index].mean()) >= low:  # leaky readout: no spikes
                    break
                _input_weight(layer).mul_(2.0)
                gain *= 2.0
            gains.append(gain)
    return gains


def _input_weight(layer: torch.nn.Module) -> torch.Tensor:
    """The weight of a spiking layer's input product (the stored parameter, scaled in place)."""
    if isinstance(layer, ConvLayer):
        return layer.conv.weight
    linear = layer.linear
    return linear.weight_t if hasattr(linear, "weight_t") else linear.weight
