"""The networks of ``bench_peers.py --network recurrent``: 700-256r-20 and 700-256ra-20 as each peer writes them.

The network is SHD-shaped: 700 input channels, one recurrent hidden layer of 256 neurons with
``I[t] = W x[t] + b + U s[t-1]`` (s[-1] = 0: spikekit's ``RecurrentLayer``, ``kernels/reference.py::
reference_recurrent``), LIF (``256r``) or ALIF (``256ra``), then a LIF readout of 20 whose spike counts are the
logits; spikekit's default constants (``LIFParams``, ``ALIFParams``). Every model here takes input spikes
[T, B, 700] and returns (output counts [B, 20], hidden spikes [T, B, 256]); ``load`` puts spikekit's weights
(``RecurrentWeights``) into the library's own parametrization:

- ``torch loop``: bench_peers.py's plain steps, the recurrent product added by hand, a loop over the steps.
- snnTorch ``RLeaky`` (``linear_features=256``, all to all): mem <- beta mem + X + V(s[t-1]) with
  beta = 1 - 1/tau and X = I_in / tau, as the seed's ``Leaky``. V, its ``nn.Linear``, adds unscaled, so it holds
  U / tau and, as its bias, b / tau (the input product has none). ``reset_delay=False``: V resets in the step it
  fires, as ours; by default RLeaky zeroes the next step's membrane, that step's input and feedback included.
- SpikingJelly ``layer.LinearRecurrentContainer(LIFNode, 256, 256, bias=False)``, multi-step: its child gets
  ``rc([x[t], y[t-1]])``; fed W x + b from a ``layer.Linear`` (time folded into the batch) and with
  ``rc.weight = [1 | U]``, that is ours. The identity block is how the container takes its input (a 512-wide product
  a step where ours is 256 wide); a gradient hook keeps it out of training.
- Norse ``LIFRecurrentCell`` (tau_syn_inv 1, tau_mem_inv 1/tau, dt 1): i jumps by W x[t] + U z[t-1], the membrane
  reads it in the same step, and tau_syn_inv 1 empties i after. ``autapses=True``: by default Norse zeroes U's
  diagonal. The cell has no bias; its leak potential stands in (V leaks towards v_leak + i), a learnable v_leak = b.

``NOT_COMPARABLE`` lists the peers with no network computing ours, and why; they are never timed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from spikekit.dynamics.alif import ALIFParams
from spikekit.dynamics.lif import LIFParams
from spikekit.nn.network import SNN

SIZES = (700, 256, 20)  # SHD: 700 cochlear channels, 20 classes (spoken digits 0-9, English and German)
ARCHS = {"alif": "256ra-20", "lif": "256r-20"}  # --neuron -> spikekit's layers after the input
# SHD's 700 channels binned into 100 steps of 10 ms: roughly 1-2% of the (channel, step) pairs hold a spike
# (an estimate; --density sets it).
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


class RecurrentWeights(NamedTuple):
    """One network's weights in spikekit's layout."""

    input: Tensor  # W [256, 700]
    bias: Tensor  # b [256]
    recurrent: Tensor  # U [256, 256]: I[t] = W x[t] + b + U s[t-1]
    readout: Tensor  # [20, 256]
    readout_bias: Tensor  # [20]


def input_spikes(num_steps: int, batch: int, density: float, generator: torch.Generator) -> Tensor:
    """Bernoulli(``density``) spikes [T, B, 700], float32: SHD-shaped input with no recording behind it."""
    return (torch.rand(num_steps, batch, SIZES[0], generator=generator) < density).float()


def check_weights(generator: torch.Generator) -> RecurrentWeights:
    """Weights that make both layers spike plenty on ``DENSITY`` input (the default init leaves them silent)."""
    def normal(mean: float, std: float, *shape: int) -> Tensor:
        return mean + std * torch.randn(shape, generator=generator, dtype=torch.float64)
    return RecurrentWeights(normal(0.05, 0.3, SIZES[1], SIZES[0]), normal(0.3, 0.1, SIZES[1]),
                            normal(0.0, 0.15, SIZES[1], SIZES[1]), normal(0.0, 0.3, SIZES[2], SIZES[1]),
                            normal(0.1, 0.1, SIZES[2]))


def _load_linear(linear: nn.Module, weight: Tensor, bias: Tensor | None = None) -> None:
    with torch.no_grad():
        linear.weight.copy_(weight)
        if bias is not None:
            linear.bias.copy_(bias)


def spikekit_net(neuron: str, engine: str) -> SNN:
    """spikekit's network: what ``spikekit train --arch ARCHS[neuron]`` builds for SHD."""
    return SNN(ARCHS[neuron], engine=engine, input_shape=SIZES[:1])


def load_spikekit(net: SNN, weights: RecurrentWeights) -> None:
    hidden, readout = net.spiking_layers
    _load_linear(hidden.linear, weights.input, weights.bias)
    _load_linear(hidden.recurrent, weights.recurrent)
    _load_linear(readout.linear, weights.readout, weights.readout_bias)


Step = Callable[[Tensor, tuple[Tensor, ...]], tuple[Tensor, tuple[Tensor, ...]]]


class TorchLoop(nn.Module):
    """Plain PyTorch: ``step`` (hidden neurons, ``num_states`` state tensors) on fc1(x[t]) + recurrent(s[t-1]),
    ``readout`` (LIF) on fc2(s[t]), a loop over the steps."""

    def __init__(self, step: Step, num_states: int, readout: Step) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(SIZES[0], SIZES[1]), nn.Linear(SIZES[1], SIZES[2])
        self.recurrent = nn.Linear(SIZES[1], SIZES[1], bias=False)
        self.step, self.num_states, self.readout = step, num_states, readout

    def load(self, weights: RecurrentWeights) -> None:
        _load_linear(self.fc1, weights.input, weights.bias)
        _load_linear(self.recurrent, weights.recurrent)
        _load_linear(self.fc2, weights.readout, weights.readout_bias)

    def forward(self, spikes: Tensor) -> tuple[Tensor, Tensor]:
        s1 = spikes.new_zeros(spikes.shape[1], SIZES[1])
        state1, state2 = (torch.zeros_like(s1),) * self.num_states, (spikes.new_zeros(spikes.shape[1], SIZES[2]),)
        hidden, counts = [], 0
        for x in spikes:
            s1, state1 = self.step(self.fc1(x) + self.recurrent(s1), state1)
            s2, state2 = self.readout(self.fc2(s1), state2)
            hidden.append(s1)
            counts = counts + s2
        return counts, torch.stack(hidden)


def snntorch_net(neuron: str) -> nn.Module:
    import snntorch as snn
    from snntorch import surrogate

    grad, beta = surrogate.fast_sigmoid(slope=LIF.slope), 1 - 1 / LIF.tau

    class SnnTorchRecurrentNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(SIZES[0], SIZES[1], bias=False), nn.Linear(SIZES[1], SIZES[2])
            self.lif1 = snn.RLeaky(beta=beta, linear_features=SIZES[1], threshold=LIF.threshold,
                                   reset_mechanism="zero", reset_delay=False, spike_grad=grad)
            self.lif2 = snn.Leaky(beta=beta, threshold=LIF.threshold, reset_mechanism="zero", spike_grad=grad)

        def load(self, weights: RecurrentWeights) -> None:
            _load_linear(self.fc1, weights.input)
            _load_linear(self.lif1.recurrent, weights.recurrent / LIF.tau, weights.bias / LIF.tau)
            _load_linear(self.fc2, weights.readout, weights.readout_bias)

        def forward(self, spikes: Tensor) -> tuple[Tensor, Tensor]:
            (s1, mem1), mem2 = self.lif1.reset_mem(), self.lif2.reset_mem()
            hidden, counts = [], 0
            for x in spikes:
                s1, mem1 = self.lif1(self.fc1(x) / LIF.tau, s1, mem1)
                s1 = s1.to(x.dtype)  # snnTorch's spikes come out float32 whatever the input's dtype
                s2, mem2 = self.lif2(self.fc2(s1) / LIF.tau, mem2)
                hidden.append(s1)
                counts = counts + s2.to(x.dtype)
            return counts, torch.stack(hidden)
    return {"lif": SnnTorchRecurrentNet}[neuron]()


def spikingjelly_net(neuron: str) -> nn.Module:
    from spikingjelly.activation_based import functional, layer, surrogate
    from spikingjelly.activation_based import neuron as neurons

    def lif(step_mode: str) -> nn.Module:
        return neurons.LIFNode(tau=LIF.tau, v_threshold=LIF.threshold, v_reset=LIF.reset,
                               surrogate_function=surrogate.SuperSpike(alpha=LIF.slope), step_mode=step_mode)

    class SpikingJellyRecurrentNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1 = layer.Linear(SIZES[0], SIZES[1], step_mode="m")
            self.lif1 = layer.LinearRecurrentContainer(lif("s"), SIZES[1], SIZES[1], bias=False, step_mode="m")
            self.fc2, self.lif2 = layer.Linear(SIZES[1], SIZES[2], step_mode="m"), lif("m")
            self.input_block = torch.zeros_like(self.lif1.rc.weight, dtype=torch.bool)
            self.input_block[:, :SIZES[1]] = True  # rc.weight = [1 | U]: the identity block passes W x + b on
            self.lif1.rc.weight.register_hook(lambda grad: grad.masked_fill(self.input_block, 0))
            self._reset = functional.reset_net

        def load(self, weights: RecurrentWeights) -> None:
            _load_linear(self.fc1, weights.input, weights.bias)
            identity = torch.eye(SIZES[1], dtype=weights.recurrent.dtype)
            _load_linear(self.lif1.rc, torch.cat([identity, weights.recurrent], dim=1))
            _load_linear(self.fc2, weights.readout, weights.readout_bias)

        def forward(self, spikes: Tensor) -> tuple[Tensor, Tensor]:
            self._reset(self)
            hidden = self.lif1(self.fc1(spikes))
            return self.lif2(self.fc2(hidden)).sum(0), hidden
    return {"lif": SpikingJellyRecurrentNet}[neuron]()


def norse_net(neuron: str) -> nn.Module:
    import norse.torch as norse

    class NorseRecurrentNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bias = nn.Parameter(torch.zeros(SIZES[1]))  # b, as the cell's leak potential
            self.lif1 = norse.LIFRecurrentCell(SIZES[0], SIZES[1], norse.LIFParameters(
                tau_syn_inv=torch.tensor(1.0), tau_mem_inv=torch.tensor(1 / LIF.tau), v_leak=self.bias,
                v_th=torch.tensor(LIF.threshold), v_reset=torch.tensor(LIF.reset), method="super",
                alpha=torch.tensor(LIF.slope)), autapses=True, dt=1.0)
            box = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(1 / LIF.tau), v_th=torch.tensor(LIF.threshold),
                                         v_reset=torch.tensor(LIF.reset), v_leak=torch.tensor(0.0), method="super",
                                         alpha=torch.tensor(LIF.slope))
            self.fc2, self.lif2 = nn.Linear(SIZES[1], SIZES[2]), norse.LIFBoxCell(box, dt=1.0)

        def load(self, weights: RecurrentWeights) -> None:
            with torch.no_grad():
                self.lif1.input_weights.copy_(weights.input)
                self.lif1.recurrent_weights.copy_(weights.recurrent)
                self.bias.copy_(weights.bias)
            _load_linear(self.fc2, weights.readout, weights.readout_bias)

        def forward(self, spikes: Tensor) -> tuple[Tensor, Tensor]:
            rest = spikes.new_zeros(spikes.shape[1], SIZES[1])  # V = 0, not the cell's rest (v_leak)
            state1, state2 = norse.LIFState(z=rest, v=rest, i=rest), None
            hidden, counts = [], 0
            for x in spikes:
                s1, state1 = self.lif1(x, state1)
                s2, state2 = self.lif2(self.fc2(s1), state2)
                hidden.append(s1)
                counts = counts + s2
            return counts, torch.stack(hidden)
    return {"lif": NorseRecurrentNet}[neuron]()
