"""The networks of ``bench_peers.py --network recurrent`` and ``--network smnist``, as each peer writes them.

``SHD`` (``--network recurrent``): 700 input channels, one recurrent hidden layer of 256 neurons, 20 classes;
``SMNIST`` (``--network smnist``): the S-MNIST network's layers, one input (a pixel a step), recurrent 64 then
recurrent 256, 10 classes. Each recurrent hidden layer computes ``I[t] = W x[t] + b + U s[t-1]`` (s[-1] = 0:
spikekit's ``RecurrentLayer``, ``kernels/reference.py::reference_recurrent``) with LIF (``256r``) or ALIF
(``256ra``) neurons; then a LIF readout whose spike counts are the logits; spikekit's default constants
(``LIFParams``, ``ALIFParams``). Every model here takes inputs [T, B, N_in] and returns (output counts [B, N_out],
hidden spikes [T, B, sum of the hidden widths], the hidden layers' side by side); ``load`` puts one
``Weights`` (spikekit's layout) into the library's own parametrization:

- ``torch loop``: bench_peers.py's plain steps, the recurrent product added by hand, a loop over the steps.
- snnTorch ``RLeaky`` (``linear_features=N``, all to all): mem <- beta mem + X + V(s[t-1]) with
  beta = 1 - 1/tau and X = I_in / tau, as the seed's ``Leaky``. V, its ``nn.Linear``, adds unscaled, so it holds
  U / tau and, as its bias, b / tau (the input product has none). ``reset_delay=False``: V resets in the step it
  fires, as ours; by default RLeaky zeroes the next step's membrane, that step's input and feedback included.
- SpikingJelly ``layer.LinearRecurrentContainer(LIFNode, N, N, bias=False)``, multi-step: its child gets
  ``rc([x[t], y[t-1]])``; fed W x + b from a ``layer.Linear`` (time folded into the batch) and with
  ``rc.weight = [1 | U]``, that is ours. The identity block is how the container takes its input (a 2N-wide product
  a step where ours is N wide); a gradient hook keeps it out of training.
- Norse ``LIFRecurrentCell`` (tau_syn_inv 1, tau_mem_inv 1/tau, dt 1): i jumps by W x[t] + U z[t-1], the membrane
  reads it in the same step, and tau_syn_inv 1 empties i after. ``autapses=True``: by default Norse zeroes U's
  diagonal. The cell has no bias; its leak potential stands in (V leaks towards v_leak + i), a learnable v_leak = b.

``NOT_COMPARABLE`` lists the peers with no network computing ours, and why; they are never timed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from spikekit.dynamics.alif import ALIFParams
from spikekit.dynamics.lif import LIFParams
from spikekit.nn.network import SNN


class Network(NamedTuple):
    """A network of the benchmark: its widths, input first (input, each recurrent hidden layer, readout), spikekit's
    layers after the input per ``--neuron``, and the mean and spread of the check's weights per hidden layer."""

    name: str  # bench_peers.py's --network
    sizes: tuple[int, ...]
    archs: dict[str, str]
    # (W mean, W std, b mean, b std, U std) per hidden layer: weights that make every layer spike plenty on the
    # network's input (the default init leaves them nearly silent); the readout's: W ~ N(0, 0.3), b ~ N(0.1, 0.1)
    check_init: tuple[tuple[float, float, float, float, float], ...]

    @property
    def hidden(self) -> tuple[int, ...]:
        return self.sizes[1:-1]


# SHD: 700 cochlear channels, 20 classes (spoken digits 0-9, English and German)
SHD = Network("recurrent", (700, 256, 20), {"alif": "256ra-20", "lif": "256r-20"}, ((0.05, 0.3, 0.3, 0.1, 0.15),))
# S-MNIST's layers (the spec of ``--arch smnist`` with these neurons): one pixel intensity a step
SMNIST = Network("smnist", (1, 64, 256, 10), {"alif": "64ra-256ra-10", "lif": "64r-256r-10"},
                 ((1.0, 1.0, 0.8, 0.3, 0.3), (0.02, 0.2, 0.5, 0.1, 0.15)))
NETWORKS = {network.name: network for network in (SHD, SMNIST)}
# SHD's 700 channels binned into 100 steps of 10 ms: roughly 1-2% of the (channel, step) pairs hold a spike (an
# estimate: SHD's ~5-10 thousand spikes a sample over ~0.7 s, several in one 10 ms bin of a channel counted once,
# over 700 x 100 pairs; bench_peers' --density sets it)
DENSITY = 0.015
LIF, ALIF = LIFParams(), ALIFParams()  # spikekit's defaults, the constants of every row
NOT_COMPARABLE = {
    ("snnTorch", "alif"): "snnTorch has no adaptive-threshold neuron (RLeaky and RSynaptic are its recurrent ones)",
    ("SpikingJelly", "alif"): "SpikingJelly's adaptive neurons (AdaptBaseNode, IzhikevichNode) subtract an "
                              "adaptation current from a quadratic membrane; none raises the threshold",
    ("Norse", "alif"): "Norse's LSNNRecurrentCell delays the recurrent spikes by two steps: its membrane reads the "
                       "current of the step before, which holds the spikes of the step before that; feeding the "
                       "next step's input (as the seed's LSNNCell row does) moves the input, not the spikes",
}


class LayerWeights(NamedTuple):
    """One layer's weights in spikekit's layout."""

    input: Tensor  # W [N, N_in]
    bias: Tensor  # b [N]
    recurrent: Tensor | None  # U [N, N]: I[t] = W x[t] + b + U s[t-1]; None for the readout


Weights = tuple[LayerWeights, ...]  # the hidden layers', then the readout's


def audio_recordings(count: int, num_steps: int, density: float, rng: np.random.Generator
                     ) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` synthetic SHD-shaped recordings: each (step, channel) pair of ``num_steps`` x 700 holds one spike
    with probability ``density`` (Bernoulli); per recording, the steps and channels of its spikes, in step order.
    The one draw behind every benchmark's recurrent input: dense here (``input_spikes``), binned events in
    ``bench_engines``, SHD-format files in ``bench_peers``."""
    return [np.nonzero(rng.random((num_steps, SHD.sizes[0])) < density) for _ in range(count)]


def input_spikes(num_steps: int, batch: int, density: float, rng: np.random.Generator) -> Tensor:
    """``audio_recordings`` as dense spikes [T, B, 700], float32."""
    spikes = torch.zeros(num_steps, batch, SHD.sizes[0])
    for sample, (steps, channels) in enumerate(audio_recordings(batch, num_steps, density, rng)):
        spikes[torch.from_numpy(steps), sample, torch.from_numpy(channels)] = 1.0
    return spikes


def check_weights(network: Network, generator: torch.Generator) -> Weights:
    """Float64 weights that make every layer of ``network`` spike plenty on its input (``Network.check_init``)."""
    def normal(mean: float, std: float, *shape: int) -> Tensor:
        return mean + std * torch.randn(shape, generator=generator, dtype=torch.float64)
    layers = []
    for n_in, n, (w_mean, w_std, b_mean, b_std, u_std) in zip(network.sizes, network.hidden, network.check_init):
        layers.append(LayerWeights(normal(w_mean, w_std, n, n_in), normal(b_mean, b_std, n), normal(0.0, u_std, n, n)))
    layers.append(LayerWeights(normal(0.0, 0.3, network.sizes[-1], network.sizes[-2]),
                               normal(0.1, 0.1, network.sizes[-1]), None))
    return tuple(layers)


def _load_linear(linear: nn.Module, weight: Tensor, bias: Tensor | None = None) -> None:
    with torch.no_grad():
        linear.weight.copy_(weight)
        if bias is not None:
            linear.bias.copy_(bias)


def spikekit_net(network: Network, neuron: str, engine: str) -> SNN:
    """spikekit's network: what ``spikekit train --arch ARCHS[neuron]`` builds for the network's input."""
    return SNN(network.archs[neuron], engine=engine, input_shape=network.sizes[:1])


def load_spikekit(net: SNN, weights: Weights) -> None:
    for layer, layer_weights in zip(net.spiking_layers, weights):
        _load_linear(layer.linear, layer_weights.input, layer_weights.bias)
        if layer_weights.recurrent is not None:
            _load_linear(layer.recurrent, layer_weights.recurrent)


def spikekit_hidden(net: SNN, inputs: Tensor) -> Tensor:
    """spikekit's hidden spikes as every peer model here returns them: [T, B, sum of the hidden widths]."""
    return torch.cat(net.layer_spikes(inputs)[:-1], dim=-1)


Step = Callable[[Tensor, tuple[Tensor, ...]], tuple[Tensor, tuple[Tensor, ...]]]


class TorchLoop(nn.Module):
    """Plain PyTorch: ``step`` (hidden neurons, ``num_states`` state tensors) on fc(x[t]) + recurrent(s[t-1]) per
    hidden layer, ``readout`` (LIF) on the last layer's spikes, a loop over the steps."""

    def __init__(self, network: Network, step: Step, num_states: int, readout: Step) -> None:
        super().__init__()
        sizes = network.sizes
        self.fcs = nn.ModuleList(nn.Linear(n_in, n) for n_in, n in zip(sizes[:-1], sizes[1:]))
        self.recurrents = nn.ModuleList(nn.Linear(n, n, bias=False) for n in network.hidden)
        self.step, self.num_states, self.readout = step, num_states, readout

    def load(self, weights: Weights) -> None:
        for fc, layer_weights in zip(self.fcs, weights):
            _load_linear(fc, layer_weights.input, layer_weights.bias)
        for recurrent, layer_weights in zip(self.recurrents, weights):
            _load_linear(recurrent, layer_weights.recurrent)

    def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        batch = inputs.shape[1]
        spikes = [inputs.new_zeros(batch, layer.in_features) for layer in self.recurrents]
        states = [(torch.zeros_like(s),) * self.num_states for s in spikes]
        readout_state = (inputs.new_zeros(batch, self.fcs[-1].out_features),)
        hidden, counts = [], 0
        for x in inputs:
            for index, (fc, recurrent) in enumerate(zip(self.fcs, self.recurrents)):
                spikes[index], states[index] = self.step(fc(x) + recurrent(spikes[index]), states[index])
                x = spikes[index]
            out, readout_state = self.readout(self.fcs[-1](x), readout_state)
            hidden.append(torch.cat(spikes, dim=-1))
            counts = counts + out
        return counts, torch.stack(hidden)


def snntorch_net(network: Network, neuron: str) -> nn.Module:
    import snntorch as snn
    from snntorch import surrogate

    grad, beta = surrogate.fast_sigmoid(slope=LIF.slope), 1 - 1 / LIF.tau

    class SnnTorchRecurrentNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            sizes = network.sizes
            self.fcs = nn.ModuleList(nn.Linear(n_in, n, bias=False) for n_in, n in zip(sizes[:-2], network.hidden))
            self.lifs = nn.ModuleList(
                snn.RLeaky(beta=beta, linear_features=n, threshold=LIF.threshold, reset_mechanism="zero",
                           reset_delay=False, spike_grad=grad) for n in network.hidden)
            self.fc_out = nn.Linear(sizes[-2], sizes[-1])
            self.lif_out = snn.Leaky(beta=beta, threshold=LIF.threshold, reset_mechanism="zero", spike_grad=grad)

        def load(self, weights: Weights) -> None:
            for fc, lif, layer_weights in zip(self.fcs, self.lifs, weights):
                _load_linear(fc, layer_weights.input)
                _load_linear(lif.recurrent, layer_weights.recurrent / LIF.tau, layer_weights.bias / LIF.tau)
            _load_linear(self.fc_out, weights[-1].input, weights[-1].bias)

        def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
            states, mem_out = [list(lif.reset_mem()) for lif in self.lifs], self.lif_out.reset_mem()
            hidden, counts = [], 0
            for x in inputs:
                layer_spikes = []
                for fc, lif, state in zip(self.fcs, self.lifs, states):
                    s, mem = lif(fc(x) / LIF.tau, *state)
                    x = s.to(inputs.dtype)  # snnTorch's spikes come out float32 whatever the input's dtype
                    state[:] = x, mem
                    layer_spikes.append(x)
                out, mem_out = self.lif_out(self.fc_out(x) / LIF.tau, mem_out)
                hidden.append(torch.cat(layer_spikes, dim=-1))
                counts = counts + out.to(inputs.dtype)
            return counts, torch.stack(hidden)
    return {"lif": SnnTorchRecurrentNet}[neuron]()


def spikingjelly_net(network: Network, neuron: str) -> nn.Module:
    from spikingjelly.activation_based import functional, layer, surrogate
    from spikingjelly.activation_based import neuron as neurons

    def lif(step_mode: str) -> nn.Module:
        return neurons.LIFNode(tau=LIF.tau, v_threshold=LIF.threshold, v_reset=LIF.reset,
                               surrogate_function=surrogate.SuperSpike(alpha=LIF.slope), step_mode=step_mode)

    class SpikingJellyRecurrentNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            sizes = network.sizes
            self.fcs = nn.ModuleList(layer.Linear(n_in, n, step_mode="m")
                                     for n_in, n in zip(sizes[:-2], network.hidden))
            self.lifs = nn.ModuleList(layer.LinearRecurrentContainer(lif("s"), n, n, bias=False, step_mode="m")
                                      for n in network.hidden)
            self.fc_out, self.lif_out = layer.Linear(sizes[-2], sizes[-1], step_mode="m"), lif("m")
            for container in self.lifs:
                width = container.rc.weight.shape[0]
                input_block = torch.zeros_like(container.rc.weight, dtype=torch.bool)
                input_block[:, :width] = True  # rc.weight = [1 | U]: the identity block passes W x + b on
                container.rc.weight.register_hook(lambda grad, block=input_block: grad.masked_fill(block, 0))
            self._reset = functional.reset_net

        def load(self, weights: Weights) -> None:
            for fc, container, layer_weights in zip(self.fcs, self.lifs, weights):
                _load_linear(fc, layer_weights.input, layer_weights.bias)
                identity = torch.eye(len(layer_weights.bias), dtype=layer_weights.recurrent.dtype)
                _load_linear(container.rc, torch.cat([identity, layer_weights.recurrent], dim=1))
            _load_linear(self.fc_out, weights[-1].input, weights[-1].bias)

        def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
            self._reset(self)
            hidden, x = [], inputs
            for fc, container in zip(self.fcs, self.lifs):
                x = container(fc(x))
                hidden.append(x)
            return self.lif_out(self.fc_out(x)).sum(0), torch.cat(hidden, dim=-1)
    return {"lif": SpikingJellyRecurrentNet}[neuron]()


def norse_net(network: Network, neuron: str) -> nn.Module:
    import norse.torch as norse

    class NorseRecurrentNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            sizes = network.sizes
            self.biases = nn.ParameterList(nn.Parameter(torch.zeros(n)) for n in network.hidden)  # b: v_leak
            self.lifs = nn.ModuleList(norse.LIFRecurrentCell(n_in, n, norse.LIFParameters(
                tau_syn_inv=torch.tensor(1.0), tau_mem_inv=torch.tensor(1 / LIF.tau), v_leak=bias,
                v_th=torch.tensor(LIF.threshold), v_reset=torch.tensor(LIF.reset), method="super",
                alpha=torch.tensor(LIF.slope)), autapses=True, dt=1.0)
                for n_in, n, bias in zip(sizes[:-2], network.hidden, self.biases))
            box = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(1 / LIF.tau), v_th=torch.tensor(LIF.threshold),
                                         v_reset=torch.tensor(LIF.reset), v_leak=torch.tensor(0.0), method="super",
                                         alpha=torch.tensor(LIF.slope))
            self.fc_out, self.lif_out = nn.Linear(sizes[-2], sizes[-1]), norse.LIFBoxCell(box, dt=1.0)

        def load(self, weights: Weights) -> None:
            with torch.no_grad():
                for cell, bias, layer_weights in zip(self.lifs, self.biases, weights):
                    cell.input_weights.copy_(layer_weights.input)
                    cell.recurrent_weights.copy_(layer_weights.recurrent)
                    bias.copy_(layer_weights.bias)
            _load_linear(self.fc_out, weights[-1].input, weights[-1].bias)

        def forward(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
            rests = [inputs.new_zeros(inputs.shape[1], len(bias)) for bias in self.biases]  # V = 0, not v_leak
            states, state_out = [norse.LIFState(z=rest, v=rest, i=rest) for rest in rests], None
            hidden, counts = [], 0
            for x in inputs:
                layer_spikes = []
                for index, cell in enumerate(self.lifs):
                    x, states[index] = cell(x, states[index])
                    layer_spikes.append(x)
                out, state_out = self.lif_out(self.fc_out(x), state_out)
                hidden.append(torch.cat(layer_spikes, dim=-1))
                counts = counts + out
            return counts, torch.stack(hidden)
    return {"lif": NorseRecurrentNet}[neuron]()
