"""SNNLayer: synaptic weights (``nn.Linear``) followed by a layer of spiking neurons (LIF, ALIF, CubaLIF)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from spikekit.dynamics.lif import LIFParams
from spikekit.dynamics.neuron import NeuronParams, model_of, rest_state
from spikekit.kernels import ENGINES, Inputs, as_dense, check_engine
from spikekit.nn.input_major import InputMajorLinear
from spikekit.nn.neurons import Neuron, as_neuron


class LayerTrace(NamedTuple):
    spikes: Tensor  # [T, B, N] in {0., 1.}
    membrane: Tensor  # [T, B, N], membrane V_pre[t] before the reset (what crosses threshold)
    # The model's State NamedTuple (LIFState, ALIFState, CubaLIFState, ...) with every field stacked over time,
    # [T, B, N]: the state after step t (after the reset), e.g. ALIF's adaptation a[t], CubaLIF's synaptic J[t].
    state: Any


class SNNLayer(nn.Module):
    """``current = W x + b``, then a layer of spiking neurons (``spikekit.nn.neurons``) over every time step.

    The layer keeps no state between calls: every forward starts with the neurons at rest.

    Args:
        in_features: N_in, number of input neurons.
        out_features: N_out, number of neurons.
        neuron: the neurons: a module (``LIF``, ``ALIF``, ``CubaLIF``, with per-neuron or learned constants),
            or a model's Params (``LIFParams``: the seed's LIF), shared by the layer's neurons.
        input_major: store the weight as W^T (``InputMajorLinear``), the layout the fast engine's event
            kernel reads and writes; ``SNN`` sets it for a first layer, the one fed input events. The
            same values (and initialisation) either way.
        engine: the engine ``forward`` runs (a key of ``spikekit.kernels.ENGINES``: "fast", or "reference", the
            step loop every engine must equal); ``nn.use_engine`` sets it on every layer of a model.
    """

    def __init__(self, in_features: int, out_features: int, neuron: Neuron | NeuronParams = LIFParams(),
                 input_major: bool = False, engine: str = "fast") -> None:
        super().__init__()
        self.engine = check_engine(engine)
        linear = nn.Linear(in_features, out_features)
        self.linear = InputMajorLinear(linear) if input_major else linear
        self.neuron = as_neuron(neuron)

    @property
    def params(self) -> NeuronParams:
        """The neurons' constants now (``Neuron.params``)."""
        return self.neuron.params()

    def forward(self, inputs: Inputs, engine: str | None = None) -> Tensor:
        """Input spikes [T, B, N_in] (dense or events) -> output spikes [T, B, N_out]. ``engine`` overrides the
        layer's own for this call."""
        return ENGINES[check_engine(engine or self.engine)](inputs, self.linear, self.params)

    @torch.no_grad()
    def trace(self, inputs: Inputs) -> LayerTrace:
        """Spikes, membranes and the neurons' other state over time (reference math), for plots; no gradient."""
        inputs = as_dense(inputs, self.linear.weight)
        return trace_neurons(self.linear, inputs, self.params, (self.linear.out_features,))


def trace_neurons(synapses: nn.Module, inputs: Tensor, params: NeuronParams, shape: tuple[int, ...],
                  recurrent: Tensor | None = None) -> LayerTrace:
    """Spikes, membranes before reset and every state variable of ``synapses`` then the neurons of ``params``,
    step by step (the model's own ``step``), each flattened to [T, B, N]. The membrane before reset is the one a
    step leaves with the threshold raised out of reach (the same charge, no fire); the state is whatever the
    model's State holds, so a new model is traced with nothing added here. ``recurrent`` U [N, N] adds U s[t-1] to
    the current (``RecurrentLayer``)."""
    model = model_of(params)
    state = rest_state(model, inputs.shape[1], shape, like=inputs)
    silent = params._replace(threshold=math.inf, **({"reset": 0.0} if "reset" in params._fields else {}))
    spikes, membranes, states = [], [], []
    for inputs_t in inputs:
        current = synapses(inputs_t)
        if recurrent is not None and spikes:
            current = current + spikes[-1] @ recurrent.t()
        membranes.append(model.step(current, state, silent)[1].membrane.flatten(1))
        spikes_t, state = model.step(current, state, params)
        spikes.append(spikes_t.flatten(1))
        states.append(state)
    # states is T States of [B, *shape] fields; zip(*states) regroups them field by field
    stacked = model.state(*(torch.stack([value.flatten(1) for value in field]) for field in zip(*states)))
    return LayerTrace(torch.stack(spikes), torch.stack(membranes), stacked)
