"""The reference engine: the seed's readable loop, one product and one ``lif_step`` per time step."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from spikekit.dynamics.lif import LIFParams, initial_state, lif_step
from spikekit.kernels.events import LazyEvents, SpikeEvents, as_dense


def reference_layer(inputs: Tensor | SpikeEvents | LazyEvents, linear: nn.Linear, params: LIFParams) -> Tensor:
    """Run ``linear`` then LIF, step by step; inputs [T, B, N_in] -> spikes [T, B, N_out]."""
    inputs = as_dense(inputs, linear.weight)
    state = initial_state(inputs.shape[1], linear.out_features, like=linear.weight)
    spikes = []
    for inputs_t in inputs:  # inputs_t: [B, N_in]
        spikes_t, state = lif_step(linear(inputs_t), state, params)
        spikes.append(spikes_t)
    return torch.stack(spikes)
