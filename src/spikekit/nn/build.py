"""Build the network a ``ModelConfig`` describes: the one place where a spec becomes modules."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from spikekit.nn.network import SNN

if TYPE_CHECKING:  # config imports nn (for the grammar); nn needs only the type
    from spikekit.config import ModelConfig


def build_network(model: ModelConfig, engine: str, seed: int) -> SNN:
    """``SNN(model.arch, model.layer_neurons(), engine, model.input_shape)`` with weights initialised from
    ``seed`` (PyTorch's default initialisation), leaving the global random state as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SNN(model.arch, model.layer_neurons(), engine, model.input_shape)
