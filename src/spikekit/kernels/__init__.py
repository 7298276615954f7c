"""Engines: interchangeable ways to run one ``SNNLayer`` over all time steps.

Every engine has the signature ``(inputs, linear, params) -> spikes``:
    inputs: input spikes [T, B, N_in] as a dense tensor, ``SpikeEvents`` or ``LazyEvents``;
    linear: the layer's ``nn.Linear`` (synaptic weights, current = W x + b);
    params: ``NeuronParams``;
    spikes: [T, B, N_out] in {0., 1.}, membrane starting at rest.
``reference`` is the definition of correct; ``fast`` must equal it forward and backward (tests).

``RECURRENT_ENGINES`` holds the same two engines for a recurrent layer, ``(inputs, linear, recurrent, params,
time_weights=None, readout=None, spikes=True) -> spikes`` with ``recurrent`` the layer's U [N_out, N_out]
(``spikekit.kernels.recurrent``); given time weights w [T], ``-> (spikes, sum over t of w[t] s[t])`` (what the leaky
readout reads when its weights over time are constants); given a ``readout`` ``nn.Linear`` N_out -> K instead,
``-> (spikes, readout(spikes) [T, B, K])`` (what it reads when they are learned), which the fast engine makes in the
layer's own passes. ``spikes=False`` (with either) puts None in the spikes' place: a caller that reads only the sum
or the current, for which the fast engine then makes no [T, B, N_out] spike tensor.

``CONV_ENGINES`` holds the same two engines for a conv layer (``spikekit.kernels.conv``).

``COUNT_ENGINES`` holds the same engines for a whole stack when only the output is wanted,
``(inputs, layers) -> counts``: the last layer's spikes summed over time (``reference_counts``), and
``RECURRENT_COUNT_ENGINES`` for such a stack on a recurrent layer, ``(inputs, linear, recurrent, params, layers)
-> counts`` (``reference_recurrent_counts``).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from spikekit.dynamics.neuron import NeuronParams
from spikekit.kernels.conv import CONV_ENGINES
from spikekit.kernels.event_layer import event_lif_layer
from spikekit.kernels.fast import fast_counts, fast_layer, fast_recurrent, fast_recurrent_counts
from spikekit.kernels.reference import (
    Layers,
    reference_counts,
    reference_layer,
    reference_recurrent,
    reference_recurrent_counts,
)
from spikekit.spike_events import LazyEvents, SpikeEvents, as_dense, as_events, events_from_dense

Inputs = Tensor | SpikeEvents | LazyEvents
Engine = Callable[[Inputs, nn.Linear, NeuronParams], Tensor]

# (inputs, linear, U, params, time_weights=None, readout=None, spikes=True)
RecurrentEngine = Callable[..., Tensor | tuple[Tensor, Tensor]]
CountEngine = Callable[[Inputs, Layers], Tensor]

ENGINES: dict[str, Engine] = {"reference": reference_layer, "fast": fast_layer}
RECURRENT_ENGINES: dict[str, RecurrentEngine] = {"reference": reference_recurrent, "fast": fast_recurrent}
COUNT_ENGINES: dict[str, CountEngine] = {"reference": reference_counts, "fast": fast_counts}
RecurrentCountEngine = Callable[[Inputs, nn.Linear, Tensor, NeuronParams, Layers], Tensor]
RECURRENT_COUNT_ENGINES: dict[str, RecurrentCountEngine] = {"reference": reference_recurrent_counts,
                                                             "fast": fast_recurrent_counts}


def check_engine(name: str) -> str:
    """Return ``name`` if it names an engine, else raise ``ValueError`` listing them."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    return name


__all__ = ["CONV_ENGINES", "COUNT_ENGINES", "ENGINES", "RECURRENT_COUNT_ENGINES", "RECURRENT_ENGINES", "CountEngine",
           "Engine", "Inputs", "Layers", "LazyEvents", "RecurrentCountEngine", "RecurrentEngine", "SpikeEvents",
           "as_dense", "as_events", "check_engine", "event_lif_layer", "events_from_dense"]
