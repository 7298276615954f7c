"""The fast engine: time folded into the batch, event-driven input layers, a fused LIF scan.

Profile of the reference at T=100, batch 128 (see benchmarks/bench_engines.py): Poisson sampling,
100 small products per layer and ~6 autograd nodes per step dominate; the unavoidable arithmetic
is a small part. Here a layer fed by spike events sums weight rows and runs its LIF in the same
compiled pass (``event_layer``); any other layer is one product over all T*B rows (made from the nonzeros
when the input is mostly zeros: ``sparse_linear``), then one compiled scan over time (``scan``). When only the
output counts are wanted, the last layer adds its spikes up as it goes (``readout``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from spikekit.dynamics.neuron import NeuronParams
from spikekit.kernels.event_layer import event_lif_layer, supports_event_layer
from spikekit.kernels.event_linear import event_linear, supports_event_linear
from spikekit.kernels.event_readout import event_readout_counts, supports_event_readout
from spikekit.kernels.event_recurrent import (
    event_recurrent_counts,
    event_recurrent_layer,
    supports_event_recurrent,
    supports_event_recurrent_counts,
)
from spikekit.kernels.readout import counts_from_current, readout_counts, supports_fused_readout, supports_readout
from spikekit.kernels.recurrent import recurrent_scan, supports_recurrent_scan
from spikekit.kernels.reference import (
    Layers,
    check_recurrent_outputs,
    layerwise_counts,
    reference_recurrent,
    weighted_sum,
)
from spikekit.kernels.scan import plain_lif, scan_neurons
from spikekit.kernels.sparse_linear import sparse_linear, supports_sparse_linear
from spikekit.spike_events import LazyEvents, SpikeEvents, as_dense, as_events


def fast_layer(inputs: Tensor | SpikeEvents | LazyEvents, linear: nn.Linear, params: NeuronParams) -> Tensor:
    """Same contract as ``reference_layer``: inputs [T, B, N_in] -> spikes [T, B, N_out]."""
    weight = linear.weight
    events = as_events(inputs)
    if events is not None and supports_event_layer(weight):
        return event_lif_layer(events, weight, linear.bias, params)
    return scan_neurons(input_current(inputs, linear), params)


def input_current(inputs: Tensor | SpikeEvents | LazyEvents, linear: nn.Linear) -> Tensor:
    """``W x + b`` [T, B, N] for inputs [T, B, N_in]: from the events themselves when the input is spike events
    (``event_linear``), made from the nonzeros when a dense input has few of them (spikes, spikes after dropout,
    residual sums: ``sparse_linear``), else one GEMM over the T*B rows."""
    events = as_events(inputs)
    if events is not None and supports_event_linear(linear.weight, linear.bias):
        return event_linear(events, linear.weight, linear.bias)
    dense = as_dense(inputs, linear.weight)
    if supports_sparse_linear(dense, linear.weight, linear.bias):
        return sparse_linear(dense, linear.weight, linear.bias)
    return linear(dense)


def fast_recurrent(inputs: Tensor | SpikeEvents | LazyEvents, linear: nn.Linear, recurrent: Tensor,
                   params: NeuronParams, time_weights: Tensor | None = None,
                   readout: nn.Module | None = None, spikes: bool = True) -> Tensor | tuple[Tensor | None, Tensor]:
    """Same contract as ``reference_recurrent``: fed by events, one fused pass (``event_recurrent``, which also makes
    the ``time_weights`` sum or the ``readout``'s current); else the input part (``input_current``), then the
    recurrent scan (which also makes the ``readout``'s current). With ``spikes=False`` the fused kernels make no
    [T, B, N] spike tensor."""
    check_recurrent_outputs(time_weights, readout, spikes)
    if readout is not None and not supports_fused_readout(linear.weight, readout):
        layer_spikes = fast_recurrent(inputs, linear, recurrent, params)
        return (layer_spikes if spikes else None), readout(layer_spikes)
    events = as_events(inputs)
    constant = time_weights is None or not time_weights.requires_grad
    if events is not None and supports_event_recurrent(linear.weight, recurrent, linear.bias) and constant:
        return event_recurrent_layer(events, linear.weight, linear.bias, recurrent, params, time_weights, readout,
                                     spikes)
    current = input_current(inputs, linear)
    if supports_recurrent_scan(current, recurrent):
        if readout is not None:
            return recurrent_scan(current, recurrent, params, readout, spikes)
        layer_spikes = recurrent_scan(current, recurrent, params)
        if time_weights is None:
            return layer_spikes
        return (layer_spikes if spikes else None), weighted_sum(layer_spikes, time_weights)
    return reference_recurrent(inputs, linear, recurrent, params, time_weights, readout, spikes)


def fast_counts(inputs: Tensor | SpikeEvents | LazyEvents, layers: Layers) -> Tensor:
    """Same contract as ``reference_counts``: input spikes [T, B, N_in] -> output spike counts [B, N_out].

    Every layer but the last runs as ``fast_layer``; the last, fed dense spikes, as ``readout_counts``.
    Two layers fed by events run as one pass, ``event_readout_counts``.
    """
    *hidden, (linear, params) = layers
    if (len(hidden) == 1 and (events := as_events(inputs)) is not None and supports_event_readout(hidden[0][0], linear)
            and plain_lif(params)):
        return event_readout_counts(events, *hidden[0], linear, params)
    for hidden_linear, hidden_params in hidden:
        inputs = fast_layer(inputs, hidden_linear, hidden_params)
    if supports_readout(inputs, linear) and plain_lif(params):
        return readout_counts(inputs, linear, params)
    return layerwise_counts(fast_layer, inputs, [(linear, params)])


def fast_recurrent_counts(inputs: Tensor | SpikeEvents | LazyEvents, linear: nn.Linear, recurrent: Tensor,
                          params: NeuronParams, layers: Layers) -> Tensor:
    """Same contract as ``reference_recurrent_counts``. One LIF readout layer on a recurrent layer fed by events runs
    as one fused pass each way (``event_recurrent_counts``: no [T, B, N] spike gradient, the readout's current and
    weight gradient made at the spiking neurons); on one fed a dense input, the recurrent scan makes the readout's
    current in its passes (``fast_recurrent``'s ``readout``) and its LIF counts run after (``counts_from_current``);
    else ``fast_recurrent`` then ``fast_counts``.

    Measured on 700-256ra-20 (SHD's shape, T = 100, batch 128, counts): see the changelog."""
    events = as_events(inputs)
    if len(layers) == 1:
        readout, readout_params = layers[0]
        if events is not None and supports_event_recurrent_counts(linear, recurrent, readout, readout_params):
            return event_recurrent_counts(events, linear, recurrent, params, readout, readout_params)
        weight = readout.weight
        if plain_lif(readout_params) and weight.device.type == "cpu" and weight.dtype in (torch.float32,
                                                                                             torch.float64):
            _, current = fast_recurrent(inputs, linear, recurrent, params, readout=readout, spikes=False)
            return counts_from_current(current, readout_params)
    return fast_counts(fast_recurrent(inputs, linear, recurrent, params), layers)
