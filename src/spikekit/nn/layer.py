"""SNNLayer: synaptic weights (``nn.Linear``) followed by a layer of LIF neurons."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from spikekit.dynamics.lif import LIFParams, charge, check_params, initial_state, lif_step
from spikekit.kernels import ENGINES, Inputs, as_dense, check_engine
from spikekit.nn.input_major import InputMajorLinear


class LayerTrace(NamedTuple):
    spikes: Tensor  # [T, B, N] in {0., 1.}
    membrane: Tensor  # [T, B, N], membrane V_pre[t] before the reset (what crosses threshold)


class SNNLayer(nn.Module):
    """``current = W x + b``, then LIF (``spikekit.dynamics.lif``) over every time step.

    The layer keeps no state between calls: every forward starts with the membrane at rest.

    Args:
        in_features: N_in, number of input neurons.
        out_features: N_out, number of LIF neurons.
        params: LIF constants shared by the layer's neurons.
        input_major: store the weight as W^T (``InputMajorLinear``), the layout the fast engine's event
            kernel reads and writes; ``SNN`` sets it for a first layer, the one fed input events. The
            same values (and initialisation) either way.
    """

    def __init__(self, in_features: int, out_features: int, params: LIFParams = LIFParams(),
                 input_major: bool = False) -> None:
        super().__init__()
        linear = nn.Linear(in_features, out_features)
        self.linear = InputMajorLinear(linear) if input_major else linear
        self.params = check_params(params)

    def forward(self, inputs: Inputs, engine: str = "fast") -> Tensor:
        """Input spikes [T, B, N_in] (dense or events) -> output spikes [T, B, N_out]."""
        return ENGINES[check_engine(engine)](inputs, self.linear, self.params)

    @torch.no_grad()
    def trace(self, inputs: Inputs) -> LayerTrace:
        """Spikes and membranes over time (reference math), for plots; no gradient."""
        inputs = as_dense(inputs, self.linear.weight)
        state = initial_state(inputs.shape[1], self.linear.out_features, like=self.linear.weight)
        spikes, membranes = [], []
        for inputs_t in inputs:
            current = self.linear(inputs_t)
            membranes.append(charge(current, state, self.params))
            spikes_t, state = lif_step(current, state, self.params)
            spikes.append(spikes_t)
        return LayerTrace(torch.stack(spikes), torch.stack(membranes))

    def extra_repr(self) -> str:
        p = self.params
        return f"tau={p.tau}, threshold={p.threshold}, reset={p.reset}, surrogate={p.surrogate}"
