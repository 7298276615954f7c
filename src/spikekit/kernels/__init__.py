"""Engines: interchangeable ways to run one ``SNNLayer`` over all time steps.

Every engine has the signature ``(inputs, linear, params) -> spikes``:
    inputs: input spikes [T, B, N_in] as a dense tensor, ``SpikeEvents`` or ``LazyEvents``;
    linear: the layer's ``nn.Linear`` (synaptic weights, current = W x + b);
    params: ``LIFParams``;
    spikes: [T, B, N_out] in {0., 1.}, membrane starting at rest.
``reference`` is the definition of correct; ``fast`` must equal it forward and backward (tests).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from spikekit.dynamics.lif import LIFParams
from spikekit.kernels.event_layer import event_lif_layer
from spikekit.kernels.events import LazyEvents, SpikeEvents, as_dense, as_events, events_from_dense
from spikekit.kernels.fast import fast_layer
from spikekit.kernels.reference import reference_layer

Inputs = Tensor | SpikeEvents | LazyEvents
Engine = Callable[[Inputs, nn.Linear, LIFParams], Tensor]

ENGINES: dict[str, Engine] = {"reference": reference_layer, "fast": fast_layer}


def check_engine(name: str) -> str:
    """Return ``name`` if it names an engine, else raise ``ValueError`` listing them."""
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
    return name


__all__ = ["ENGINES", "Engine", "Inputs", "LazyEvents", "SpikeEvents", "as_dense", "as_events", "check_engine",
           "event_lif_layer", "events_from_dense"]
