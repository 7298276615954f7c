"""The reference engine: the seed's readable loop, one product and one ``lif_step`` per time step."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from spikekit.dynamics.neuron import NeuronParams, model_of, rest_state
from spikekit.spike_events import LazyEvents, SpikeEvents, as_dense


def reference_layer(inputs: Tensor | SpikeEvents | LazyEvents, linear: nn.Linear, params: NeuronParams) -> Tensor:
    """Run ``linear`` then the neurons of ``params`` (any model), step by step; inputs [T, B, N_in] -> spikes
    [T, B, N_out]."""
    inputs = as_dense(inputs, linear.weight)
    model = model_of(params)
    state = rest_state(model, inputs.shape[1], (linear.out_features,), like=linear.weight)
    spikes = []
    for inputs_t in inputs:  # inputs_t: [B, N_in]
        spikes_t, state = model.step(linear(inputs_t), state, params)
        spikes.append(spikes_t)
    return torch.stack(spikes)


Layers = Sequence[tuple[nn.Linear, NeuronParams]]  # a feed-forward stack: each layer's synapses and LIF constants


def layerwise_counts(engine: Callable[[Tensor | SpikeEvents | LazyEvents, nn.Linear, NeuronParams], Tensor],
                     inputs: Tensor | SpikeEvents | LazyEvents, layers: Layers) -> Tensor:
    """Output spike counts [B, N_out] of ``layers`` run one after another by a layer ``engine`` from
    input spikes [T, B, N_in]: the last layer's spikes summed over the T steps."""
    for linear, params in layers:
        inputs = engine(inputs, linear, params)
    return inputs.sum(0)


def reference_counts(inputs: Tensor | SpikeEvents | LazyEvents, layers: Layers) -> Tensor:
    """The reference engine's spike counts: ``layerwise_counts`` of ``reference_layer``."""
    return layerwise_counts(reference_layer, inputs, layers)


def reference_recurrent(inputs: Tensor | SpikeEvents | LazyEvents, linear: nn.Linear, recurrent: Tensor,
                        params: NeuronParams, time_weights: Tensor | None = None,
                        readout: nn.Module | None = None, spikes: bool = True) -> Tensor | tuple[Tensor | None, Tensor]:
    """A recurrent layer step by step: ``I[t] = W x[t] + b + U s[t-1]`` (U = ``recurrent`` [N, N], s[-1] = 0),
    then the neurons of ``params``; inputs [T, B, N_in] -> spikes [T, B, N]; with ``time_weights`` w [T],
    (spikes, ``weighted_sum``); with ``readout`` (an ``nn.Linear`` N -> K; not with ``time_weights``), (spikes, its
    current ``readout(spikes)`` [T, B, K]); ``spikes=False`` (with either): None in the spikes' place."""
    check_recurrent_outputs(time_weights, readout, spikes)
    layer_spikes = _recurrent_spikes(inputs, linear, recurrent, params)
    if time_weights is None and readout is None:
        return layer_spikes
    second = readout(layer_spikes) if readout is not None else weighted_sum(layer_spikes, time_weights)
    return (layer_spikes if spikes else None), second


def check_recurrent_outputs(time_weights: Tensor | None, readout: nn.Module | None, spikes: bool) -> None:
    """The recurrent engines' refusals of outputs they cannot give together: a time-weighted sum and a readout's
    current; no spikes and neither of them."""
    if time_weights is not None and readout is not None:
        raise ValueError("a recurrent layer returns its time-weighted sum or a readout's current, not both")
    if not spikes and time_weights is None and readout is None:
        raise ValueError("a recurrent layer without its spikes needs time_weights or a readout: its only output")


def reference_recurrent_counts(inputs: Tensor | SpikeEvents | LazyEvents, linear: nn.Linear, recurrent: Tensor,
                               params: NeuronParams, layers: Layers) -> Tensor:
    """Output spike counts [B, N_out] of the fully connected ``layers`` on a recurrent layer: ``reference_recurrent``,
    then ``reference_counts``."""
    return reference_counts(reference_recurrent(inputs, linear, recurrent, params), layers)


def weighted_sum(spikes: Tensor, time_weights: Tensor) -> Tensor:
    """sum over t of w[t] s[t]: spikes [T, B, N], w [T] -> [B, N] (one product over time)."""
    return torch.einsum("t,tbn->bn", time_weights.to(spikes.dtype), spikes)


def _recurrent_spikes(inputs: Tensor | SpikeEvents | LazyEvents, linear: nn.Linear, recurrent: Tensor,
                      params: NeuronParams) -> Tensor:
    inputs = as_dense(inputs, linear.weight)
    model = model_of(params)
    state = rest_state(model, inputs.shape[1], (linear.out_features,), like=linear.weight)
    spikes_t = linear.weight.new_zeros(inputs.shape[1], linear.out_features)
    spikes = []
    for inputs_t in inputs:
        spikes_t, state = model.step(linear(inputs_t) + spikes_t @ recurrent.t(), state, params)
        spikes.append(spikes_t)
    return torch.stack(spikes)
