"""Build the network a ``ModelConfig`` describes: the one place where a spec becomes modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from spikekit.nn.layer import SNNLayer
from spikekit.nn.network import SNN
from spikekit.nn.recurrent import RecurrentLayer

if TYPE_CHECKING:  # config imports nn (for the grammar); nn needs only the type
    from spikekit.config import ModelConfig


def build_network(model: ModelConfig, engine: str, seed: int) -> SNN:
    """``SNN(model.arch, model.layer_neurons(), engine, model.input_shape, model.readout, model.readout_window)``
    with weights initialised from ``seed`` (PyTorch's default initialisation; fully connected layers' W times
    ``model.init_gain``), leaving the global random state as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = SNN(model.arch, model.layer_neurons(), engine, model.input_shape, model.readout,
                      model.readout_window)
    if model.init_gain != 1.0:
        with torch.no_grad():
            for layer in network.layers:
                if isinstance(layer, (SNNLayer, RecurrentLayer)):
                    layer.linear.weight.mul_(model.init_gain)
    return network
