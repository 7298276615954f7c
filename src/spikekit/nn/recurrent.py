"""RecurrentLayer: a fully connected layer of spiking neurons whose current includes their own spikes of the step
before, ``I[t] = W x[t] + b + U s[t-1]``, for any neuron model (LIF, ALIF, CubaLIF)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from spikekit.dynamics.lif import LIFParams
from spikekit.dynamics.neuron import NeuronParams
from spikekit.kernels import RECURRENT_ENGINES, Inputs, as_dense, check_engine
from spikekit.nn.layer import LayerTrace, trace_neurons
from spikekit.nn.neurons import Neuron, as_neuron


class RecurrentLayer(nn.Module):
    """``I[t] = W x[t] + b + U s[t-1]`` (s[-1] = 0), then a layer of spiking neurons; ``128r`` in a spec.

    The layer keeps no state between calls: every forward starts with the neurons at rest and no spikes.

    ``U`` (``recurrent.weight`` [N_out, N_out], no bias: ``b`` is the layer's one) starts orthogonal
    (``nn.init.orthogonal_``, gain 1), as in Yin et al. 2021's recurrent spiking networks: an orthogonal map
    keeps the norm of what it carries, so at the start the recurrent term neither drowns the input current nor
    vanishes, at any width (its entries have variance 1/N_out, and k spikes add a current of variance k/N_out),
    and gradients sent back through U over hundreds of steps keep their scale. ``W`` and ``b`` start as
    ``nn.Linear``'s.

    Args:
        in_features: N_in, inputs per step.
        out_features: N_out, neurons.
        neuron: a module of ``spikekit.nn.neurons`` or a model's Params, as ``SNNLayer``'s.
        engine: "fast" (``kernels.recurrent``: the recurrent term inside a compiled scan) or "reference".
    """

    def __init__(self, in_features: int, out_features: int, neuron: Neuron | NeuronParams = LIFParams(),
                 engine: str = "fast") -> None:
        super().__init__()
        self.engine = check_engine(engine)
        self.linear = nn.Linear(in_features, out_features)
        self.recurrent = nn.Linear(out_features, out_features, bias=False)
        nn.init.orthogonal_(self.recurrent.weight)
        self.neuron = as_neuron(neuron)

    @property
    def params(self) -> NeuronParams:
        """The neurons' constants now (``Neuron.params``)."""
        return self.neuron.params()

    def forward(self, inputs: Inputs, engine: str | None = None, time_weights: Tensor | None = None,
                readout: nn.Module | None = None, spikes: bool = True) -> Tensor | tuple[Tensor | None, Tensor]:
        """Input spikes or values [T, B, N_in] (dense or events) -> output spikes [T, B, N_out]; with
        ``time_weights`` w [T], (spikes, sum over t of w[t] s[t] [B, N_out]), which the fast engine makes inside
        its pass when the input is events (``kernels.event_recurrent``); with ``readout`` (an ``nn.Linear``
        N_out -> K, the layer above), (spikes, readout(spikes) [T, B, K]), which the fast engine makes inside its
        passes (``kernels.recurrent``, ``kernels.event_recurrent``). ``spikes=False`` (with either): None in the
        spikes' place, and the fast engine makes no [T, B, N_out] spike tensor."""
        run = RECURRENT_ENGINES[check_engine(engine or self.engine)]
        return run(inputs, self.linear, self.recurrent.weight, self.params, time_weights, readout, spikes)

    @torch.no_grad()
    def trace(self, inputs: Inputs) -> LayerTrace:
        """Spikes, membranes and state over time (reference math), for plots; no gradient."""
        inputs = as_dense(inputs, self.linear.weight)
        return trace_neurons(self.linear, inputs, self.params, (self.linear.out_features,),
                             recurrent=self.recurrent.weight)
