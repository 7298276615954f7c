"""spikekit against the SNN libraries people use, on the seed network or a recurrent one, side by side in one run.

    make bench-peers          # sets up .venv-bench (the peers, torch pinned) and runs this
    python benchmarks/bench_peers.py [--neuron lif|alif|cuba] [--repeats 20] [--quick] [--check-only]
    python benchmarks/bench_peers.py --network recurrent [--neuron alif|lif] [--density 0.015] [--check-only]
    python benchmarks/bench_peers.py --network smnist [--neuron alif|lif] [--check-only]

The seed network (784-128-10, LIF tau = 2 steps, threshold 1, reset to 0, Bernoulli-coded MNIST, output
spike counts, cross-entropy, Adam lr 2e-3) written the way each library's users write it:
- ``torch loop``: plain PyTorch, our own code, a Python loop over the T steps (what every peer computes);
- ``snnTorch`` 1.0: ``snn.Leaky`` (beta 0.5, reset to zero, fast-sigmoid surrogate slope 5), stepped in a
  loop as its tutorials do; its input is the current scaled by 1/tau (its V <- beta V + I has no 1/tau);
- ``SpikingJelly`` 2.0 multi-step: ``layer.Linear`` + ``neuron.LIFNode(tau=2, step_mode="m")`` (time
  folded into the batch for the products, the LIF scanned over T; SuperSpike surrogate, alpha 5);
- ``Norse`` 1.1: ``LIFBoxCell`` (tau_mem_inv 0.5, dt 1, SuperSpike alpha 5), stepped in a loop;
- ``spikekit fast``: the fast engine's training step (its own Poisson sampler, events);
- ``spikekit train``: the CLI's epoch throughput (``samples_per_second`` of metrics.jsonl), 200 batches at
  T=25, 100 at T=100, default options otherwise, in a subprocess (``cli_samples_per_second``).
``--neuron alif`` and ``--neuron cuba`` make the hidden layer ALIF (784-128a-10) or CubaLIF (784-128s-10),
the readout staying LIF, with spikekit's default constants (``ALIFParams``: tau_adapt 20, beta 1;
``CubaLIFParams``: tau_syn 2), each peer through the neuron its users would pick:
- ALIF: ``torch loop`` writes it out; Norse's ``LSNNCell`` (tau_syn_inv 1, tau_adapt_inv 1/20, beta
  1/19: its threshold decays before the comparison and jumps by beta, so beta / (tau_adapt - 1) gives ours;
  its membrane reads the previous step's input, so each step is fed the next step's current, the first one
  standing as the initial synaptic state). snnTorch has no adaptive-threshold neuron, and SpikingJelly's
  adaptive neurons (``AdaptBaseNode``, ``IzhikevichNode``) subtract an adaptation current from a quadratic
  membrane instead of raising the threshold: listed with that reason, not timed (``UNMATCHED``);
- CubaLIF: ``torch loop``; snnTorch's ``Synaptic`` (alpha 1 - 1/tau_syn, beta 1 - 1/tau, input scaled by
  1/(tau_syn tau), ``reset_delay=False``: V resets in the step it fires, as ours; by default it zeroes the
  next step's V, that step's input included); SpikingJelly's ``CUBALIFNode`` (c_decay 1 - 1/tau_syn,
  v_decay 1 - 1/tau, same input scale, multi-step); Norse's ``LIFCell`` (tau_syn_inv 1/2, tau_mem_inv 1/2,
  input scaled by 1/tau_syn: its current jumps, then the membrane reads it, as ours).
Every peer gets the same weights; a check first runs all of them in float64 on the same input spikes and
requires the same hidden spikes and output counts as spikekit's reference engine (the update is written
differently by each library, so they agree up to float rounding, which in float64 flips no spike here).
``--network recurrent`` runs the SHD-shaped recurrent network instead: 700-256ra-20 (recurrent ALIF hidden layer,
I[t] = W x[t] + b + U s[t-1], LIF readout; the default) or, with ``--neuron lif``, 700-256r-20, each peer through
its recurrent layer (``peers_recurrent.py`` says how each maps onto ours, and which cannot express it). Its input is
synthetic: Bernoulli spikes at ``--density`` (1.5%, an estimate of SHD's in 100 steps of 10 ms), T=100, batch 128
in both modes, the same spikes every batch, made before timing (data, not an encoding): dense for the peers and
spikekit's reference engine, events for the fast one (what spikekit's SHD path hands its engines on the CPU). Its
rows add ``spikekit reference`` beside ``spikekit fast`` (the recurrent engine's fast / reference ratio); its
``spikekit train`` row trains on SHD-format files of such recordings, written for the run (``synthetic_shd``:
real SHD cannot be downloaded here), with ``--dataset shd -T 100``; it is written under ``recurrent-<neuron>``.
``--network smnist`` runs the S-MNIST network's layers: 1-64ra-256ra-10 (the default) or 1-64r-256r-10, two
recurrent layers fed one pixel intensity a step, on MNIST's first 32 training (test, for inference) images read
as S-MNIST sequences, T=784, batch 32 (its preset's) in both modes, written under ``smnist-<neuron>``. Every
implementation there runs the same weights (``timing_weights``: its layers fire on ~25% of the steps with LIF,
~14% with ALIF, as a trained preset's do; the default init, fed one pixel a step, leaves them nearly silent, and the
fast engine's work grows with the spikes). The check runs 8 test sequences, all 784 steps. Constants, readout
(counts of a LIF layer) and neurons are the other recurrent network's, not the preset's (its learned time
constants, its leaky readout and adLIF neurons, which no peer has): the rows time the recurrent scan at the
S-MNIST shape. Its ``spikekit train`` row trains ``--dataset smnist`` at batch 32 from the CLI's init, raised on the
first batch until each layer fires at least the timing weights' rate (``--init-firing``); every ``spikekit train``
row of a recurrent network notes how much its layers fired on the run's test pass.
``--check-only`` runs just that check. Timing: median of ``repeats`` batches (10 at T=100) after 2 warm-up
batches, batch 128, training = encode + forward + loss + backward + Adam, inference = encode + forward
without gradients (batch 1000). Peak RSS: a fresh process running 3 batches of the row alone (Linux). A peer
that does not import, or has no neuron computing ours, is listed with the reason, not timed.
After the table, ``--pairs`` rounds (default 3) alternate every training peer's step and a ``spikekit train``
epoch, per T, and print each round's ratio to that round's fastest peer and their median (``paired``).
The check, the rows and the rounds are written, with the host and the peers' versions, into ``--results``
(default ``benchmarks/results/peers.json``) under the neuron's name, replacing that neuron's earlier run
(``--quick`` runs are not written).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import peers_recurrent  # benchmarks/, the script's directory, is on sys.path
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spikekit.allocator import keep_freed_memory
from spikekit.config import RunConfig, TrainConfig
from spikekit.data.mnist import load_mnist
from spikekit.data.shd import write_shd
from spikekit.data.smnist import SEQUENCE_LENGTH, sequences
from spikekit.dynamics.alif import ALIFParams
from spikekit.dynamics.cuba import CubaLIFParams
from spikekit.nn.network import SNN
from spikekit.nn.spec import PRESETS
from spikekit.spike_events import events_from_dense
from spikekit.train.distributed import set_threads
from spikekit.train.loop import build_optimizer, encode_batch

TAU, THRESHOLD, SLOPE, LR = 2.0, 1.0, 5.0, 2e-3
TAU_ADAPT, BETA = ALIFParams().tau_adapt, ALIFParams().beta  # spikekit's defaults, which `spikekit train` runs
TAU_SYN = CubaLIFParams().tau_syn
SIZES = (784, 128, 10)
ARCHS = {"lif": "128-10", "alif": "128a-10", "cuba": "128s-10"}  # --neuron -> spikekit's layers after the input
RESULTS = Path(__file__).parent / "results" / "peers.json"


class FastSigmoidSpike(torch.autograd.Function):
    """Heaviside forward (V >= threshold), fast-sigmoid derivative 1 / (1 + slope |V - threshold|)^2 backward."""

    @staticmethod
    def forward(ctx, shifted: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(shifted)
        return (shifted >= 0).to(shifted.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (shifted,) = ctx.saved_tensors
        return grad / (1 + SLOPE * shifted.abs()) ** 2


def lif_step(current: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
    """V <- V + (I - V) / tau, spike at threshold, reset to 0; state (V,)."""
    (v,) = state
    v = v + (current - v) / TAU
    s = FastSigmoidSpike.apply(v - THRESHOLD)
    return s, (v * (1 - s),)


def alif_step(current: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
    """``lif_step`` against threshold + beta a, then a <- a + (S - a) / tau_adapt; state (V, a)."""
    v, a = state
    v = v + (current - v) / TAU
    s = FastSigmoidSpike.apply(v - THRESHOLD - BETA * a)
    return s, (v * (1 - s), a + (s - a) / TAU_ADAPT)


def cuba_step(current: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
    """J <- J + (I - J) / tau_syn, then ``lif_step`` driven by J; state (J, V)."""
    j, v = state
    j = j + (current - j) / TAU_SYN
    s, (v,) = lif_step(j, (v,))
    return s, (j, v)


TORCH_STEPS = {"lif": (lif_step, 1), "alif": (alif_step, 2), "cuba": (cuba_step, 2)}  # step, its state tensors


class TorchLoop(nn.Module):
    """Plain PyTorch: the hidden neurons' step (``TORCH_STEPS``) and a LIF readout, a loop over the steps."""

    def __init__(self, neuron: str = "lif") -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(SIZES[0], SIZES[1]), nn.Linear(SIZES[1], SIZES[2])
        self.hidden_step, self.hidden_states = TORCH_STEPS[neuron]

    def forward(self, spikes: Tensor) -> tuple[Tensor, Tensor]:
        state1 = (spikes.new_zeros(spikes.shape[1], SIZES[1]),) * self.hidden_states
        state2 = (spikes.new_zeros(spikes.shape[1], SIZES[2]),)
        hidden, counts = [], 0
        for x in spikes:
            s1, state1 = self.hidden_step(self.fc1(x), state1)
            s2, state2 = lif_step(self.fc2(s1), state2)
            hidden.append(s1)
            counts = counts + s2
        return counts, torch.stack(hidden)


def _snntorch(neuron: str) -> nn.Module:
    import snntorch as snn
    from snntorch import surrogate

    grad = surrogate.fast_sigmoid(slope=SLOPE)

    def leaky() -> nn.Module:
        return snn.Leaky(beta=1 - 1 / TAU, threshold=THRESHOLD, reset_mechanism="zero", spike_grad=grad)

    class SnnTorchNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(SIZES[0], SIZES[1]), nn.Linear(SIZES[1], SIZES[2])
            self.lif1, self.lif2 = leaky(), leaky()

        def initial(self) -> tuple[Tensor, ...]:
            return (self.lif1.reset_mem(),)

        def hidden(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
            s1, mem1 = self.lif1(self.fc1(x) / TAU, *state)
            return s1, (mem1,)

        def forward(self, spikes: Tensor) -> tuple[Tensor, Tensor]:
            state1, mem2 = self.initial(), self.lif2.reset_mem()
            hidden, counts = [], 0
            for x in spikes:
                s1, state1 = self.hidden(x, state1)
                s1 = s1.to(x.dtype)  # snnTorch's spikes come out float32 whatever the input's dtype
                s2, mem2 = self.lif2(self.fc2(s1) / TAU, mem2)
                hidden.append(s1)
                counts = counts + s2.to(x.dtype)
            return counts, torch.stack(hidden)

    class SnnTorchCubaNet(SnnTorchNet):
        def __init__(self) -> None:
            super().__init__()
            self.lif1 = snn.Synaptic(alpha=1 - 1 / TAU_SYN, beta=1 - 1 / TAU, threshold=THRESHOLD,
                                     reset_mechanism="zero", reset_delay=False, spike_grad=grad)

        def initial(self) -> tuple[Tensor, ...]:
            return self.lif1.reset_mem()  # (syn, mem)

        def hidden(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
            # syn <- alpha syn + X, mem <- beta mem + syn: with X = I / (tau_syn tau), syn = J / tau and mem = V
            s1, syn1, mem1 = self.lif1(self.fc1(x) / (TAU_SYN * TAU), *state)
            return s1, (syn1, mem1)
    return {"lif": SnnTorchNet, "cuba": SnnTorchCubaNet}[neuron]()


def _spikingjelly(neuron: str) -> nn.Module:
    from spikingjelly.activation_based import functional, layer, surrogate
    from spikingjelly.activation_based import neuron as neurons

    def lif() -> nn.Module:
        return neurons.LIFNode(tau=TAU, v_threshold=THRESHOLD, v_reset=0.0,
                               surrogate_function=surrogate.SuperSpike(alpha=SLOPE), step_mode="m")

    class SpikingJellyNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.lif1 = layer.Linear(SIZES[0], SIZES[1], step_mode="m"), lif()
            self.fc2, self.lif2 = layer.Linear(SIZES[1], SIZES[2], step_mode="m"), lif()
            self._reset = functional.reset_net

        def hidden(self, spikes: Tensor) -> Tensor:
            return self.lif1(self.fc1(spikes))

        def forward(self, spikes: Tensor) -> tuple[Tensor, Tensor]:
            self._reset(self)
            hidden = self.hidden(spikes)
            return self.lif2(self.fc2(hidden)).sum(0), hidden

    class SpikingJellyCubaNet(SpikingJellyNet):
        def __init__(self) -> None:
            super().__init__()
            self.lif1 = neurons.CUBALIFNode(c_decay=1 - 1 / TAU_SYN, v_decay=1 - 1 / TAU, v_threshold=THRESHOLD,
                                            v_reset=0.0, surrogate_function=surrogate.SuperSpike(alpha=SLOPE))
            functional.set_step_mode(self.lif1, "m")  # its constructor takes no step_mode

        def hidden(self, spikes: Tensor) -> Tensor:
            # c <- c_decay c + X, v <- v_decay v + c: with X = I / (tau_syn tau), c = J / tau and v = V
            return self.lif1(self.fc1(spikes) / (TAU_SYN * TAU))
    return {"lif": SpikingJellyNet, "cuba": SpikingJellyCubaNet}[neuron]()


def _norse(neuron: str) -> nn.Module:
    import norse.torch as norse

    class NorseNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            parameters = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(1 / TAU), v_th=torch.tensor(THRESHOLD),
                                                v_reset=torch.tensor(0.0), v_leak=torch.tensor(0.0),
                                                method="super", alpha=torch.tensor(SLOPE))
            self.fc1, self.fc2 = nn.Linear(SIZES[0], SIZES[1]), nn.Linear(SIZES[1], SIZES[2])
            self.lif1, self.lif2 = norse.LIFBoxCell(parameters, dt=1.0), norse.LIFBoxCell(parameters, dt=1.0)

        def initial(self, spikes: Tensor) -> object:
            return None  # the cell's own rest state

        def current(self, spikes: Tensor, t: int) -> Tensor:
            return self.fc1(spikes[t])

        def forward(self, spikes: Tensor) -> tuple[Tensor, Tensor]:
            state1, state2 = self.initial(spikes), None
            hidden, counts = [], 0
            for t in range(len(spikes)):
                s1, state1 = self.lif1(self.current(spikes, t), state1)
                s2, state2 = self.lif2(self.fc2(s1), state2)
                hidden.append(s1)
                counts = counts + s2
            return counts, torch.stack(hidden)

    class NorseCubaNet(NorseNet):
        def __init__(self) -> None:
            super().__init__()
            self.lif1 = norse.LIFCell(norse.LIFParameters(
                tau_syn_inv=torch.tensor(1 / TAU_SYN), tau_mem_inv=torch.tensor(1 / TAU), v_leak=torch.tensor(0.0),
                v_th=torch.tensor(THRESHOLD), v_reset=torch.tensor(0.0), method="super", alpha=torch.tensor(SLOPE)),
                dt=1.0)

        def current(self, spikes: Tensor, t: int) -> Tensor:
            # i jumps by X, v leaks towards i, i decays by 1 - 1/tau_syn: with X = I / tau_syn, i = J
            return self.fc1(spikes[t]) / TAU_SYN

    class NorseALIFNet(NorseNet):
        def __init__(self) -> None:
            super().__init__()
            # b <- b + (v_th - b) / tau_adapt, fire at v >= b, b <- b + beta z: with beta = ours / (tau_adapt - 1),
            # b = v_th + beta tau_adapt a, and the threshold fired against is ours, 1 + BETA a[t-1]
            self.lif1 = norse.LSNNCell(norse.LSNNParameters(
                tau_syn_inv=torch.tensor(1.0), tau_mem_inv=torch.tensor(1 / TAU),
                tau_adapt_inv=torch.tensor(1 / TAU_ADAPT), v_leak=torch.tensor(0.0), v_th=torch.tensor(THRESHOLD),
                v_reset=torch.tensor(0.0), beta=torch.tensor(BETA / (TAU_ADAPT - 1)), method="super",
                alpha=SLOPE), dt=1.0)

        def initial(self, spikes: Tensor) -> object:
            current = self.fc1(spikes[0])  # LSNN's membrane reads last step's i: the first current stands in it
            return norse.LSNNFeedForwardState(v=torch.zeros_like(current), i=current,
                                              b=torch.full_like(current, THRESHOLD))

        def current(self, spikes: Tensor, t: int) -> Tensor:
            # tau_syn_inv 1 (dt 1) empties i each step, so i holds just this input, for the next step's membrane
            return self.fc1(spikes[t + 1]) if t + 1 < len(spikes) else spikes.new_zeros(spikes.shape[1], SIZES[1])
    return {"lif": NorseNet, "alif": NorseALIFNet, "cuba": NorseCubaNet}[neuron]()


PEERS: dict[str, Callable[[str], nn.Module]] = {"torch loop": TorchLoop, "snnTorch": _snntorch,
                                                "SpikingJelly": _spikingjelly, "Norse": _norse}
# (peer, neuron) -> why the peer has no neuron that computes ours: listed with this reason, never timed
UNMATCHED = {
    ("snnTorch", "alif"): "snnTorch has no adaptive-threshold neuron (Leaky, Synaptic, Alpha, Lapicque, "
                          "RLeaky, RSynaptic, ...; learn_threshold trains a constant one)",
    ("SpikingJelly", "alif"): "SpikingJelly's adaptive neurons (AdaptBaseNode, IzhikevichNode) subtract an "
                              "adaptation current from a quadratic membrane; none raises the threshold",
}


# the recurrent networks' peers: each builds ``peers_recurrent.Network`` with ``neuron`` hidden neurons
RECURRENT_PEERS: dict[str, Callable[[peers_recurrent.Network, str], nn.Module]] = {
    "torch loop": lambda network, neuron: peers_recurrent.TorchLoop(network, *TORCH_STEPS[neuron], lif_step),
    "snnTorch": peers_recurrent.snntorch_net, "SpikingJelly": peers_recurrent.spikingjelly_net,
    "Norse": peers_recurrent.norse_net}
# --network -> (T, batch) of its rows, both modes: SHD's ~1 s recordings in steps of 10 ms at the seed's batch;
# S-MNIST's 784 pixels at the batch its preset trains with
RECURRENT_SHAPES = {"recurrent": (100, 128), "smnist": (SEQUENCE_LENGTH, PRESETS["smnist"].batch_size)}


def _peer(name: str, neuron: str, network: str = "seed") -> nn.Module | str:
    """The peer's network (``--network``) with ``neuron`` hidden neurons, or why it cannot be built here."""
    if network != "seed" and (name, neuron) in peers_recurrent.NOT_COMPARABLE:
        return f"not comparable: {peers_recurrent.NOT_COMPARABLE[name, neuron]}"
    if network == "seed" and (name, neuron) in UNMATCHED:
        return f"no such neuron: {UNMATCHED[name, neuron]}"
    try:
        if network == "seed":
            return PEERS[name](neuron)
        return RECURRENT_PEERS[name](peers_recurrent.NETWORKS[network], neuron)
    except Exception as error:  # noqa: BLE001 (an optional library: report any reason it fails)
        return f"{type(error).__name__}: {str(error).splitlines()[0][:100]}"


def _spikekit(neuron: str, engine: str) -> SNN:
    """spikekit's network for ``--neuron``: what ``spikekit train --arch ARCHS[neuron]`` builds, inputs flat."""
    return SNN(ARCHS[neuron], engine=engine, input_shape=SIZES[:1])


def _linears(model: nn.Module) -> list[nn.Module]:
    return [layer.linear for layer in model.spiking_layers] if isinstance(model, SNN) else [model.fc1, model.fc2]


def _copy_weights(source: nn.Module, target: nn.Module) -> None:
    with torch.no_grad():
        for mine, theirs in zip(_linears(source), _linears(target)):
            theirs.weight.copy_(mine.weight)
            theirs.bias.copy_(mine.bias)


def check_same_spikes(images: Tensor, neuron: str = "lif") -> dict[str, str]:
    """Every implementation on the same float64 weights and input spikes as spikekit's reference engine:
    'same', what differs, or why it was not run."""
    torch.manual_seed(0)
    weights = TorchLoop(neuron).double()
    with torch.no_grad():  # weights that make both layers spike plenty (the default init leaves outputs silent)
        generator = torch.Generator().manual_seed(2)
        for layer, (mean, std) in ((weights.fc1, (0.005, 0.1)), (weights.fc2, (0.3, 0.5))):
            layer.weight.copy_(mean + std * torch.randn(layer.weight.shape, generator=generator))
    spikes = (torch.rand(25, len(images), SIZES[0], generator=torch.Generator().manual_seed(1),
                         dtype=torch.float64) < images.double()).double()
    with torch.no_grad():
        reference = _spikekit(neuron, "reference").double()
        _copy_weights(weights, reference)
        counts, hidden = reference(spikes), reference.layer_spikes(spikes)[0]
        results = {}
        for name in PEERS:
            peer = _peer(name, neuron)
            if isinstance(peer, str):
                results[name] = f"not run ({peer})"
                continue
            peer = peer.double()
            _copy_weights(weights, peer)
            results[name] = _verdict(counts, hidden, *peer(spikes))
        ours = _spikekit(neuron, "fast").double()
        _copy_weights(weights, ours)
        ours_hidden = ours.layer_spikes(spikes)[0]
        results["spikekit fast"] = "same" if torch.equal(ours(spikes), counts) and torch.equal(ours_hidden, hidden) \
            else "DIFFERENT"
    print(f"check: {float(hidden.mean()):.3f} hidden spikes per neuron per step, {float(counts.sum()):.0f} "
          f"output spikes over {len(images)} samples x 25 steps")
    return results


def _verdict(counts: Tensor, hidden: Tensor, peer_counts: Tensor, peer_hidden: Tensor) -> str:
    flips = int((peer_hidden != hidden).sum())
    return "same" if flips == 0 and torch.equal(peer_counts, counts) else \
        f"DIFFERENT: {flips} hidden spikes, counts differ by {float((peer_counts - counts).abs().max())}"


def check_recurrent(neuron: str, network: str = "recurrent", inputs: Tensor | None = None,
                    density: float = peers_recurrent.DENSITY, batch: int = 16) -> dict[str, str]:
    """``check_same_spikes`` for a recurrent ``network`` (``--network``), in float64 with
    ``peers_recurrent.check_weights``, on ``inputs`` [T, B, N_in] (None: ``batch`` samples of T=100 steps of
    ``density`` input spikes, SHD-shaped); 'same', what differs, or why it was not run, per implementation."""
    shape = peers_recurrent.NETWORKS[network]
    weights = peers_recurrent.check_weights(shape, torch.Generator().manual_seed(2))
    if inputs is None:
        inputs = peers_recurrent.input_spikes(RECURRENT_SHAPES[network][0], batch, density,
                                              np.random.default_rng(1))
    inputs = inputs.double()
    with torch.no_grad():
        reference = peers_recurrent.spikekit_net(shape, neuron, "reference").double()
        peers_recurrent.load_spikekit(reference, weights)
        counts, hidden = reference(inputs), peers_recurrent.spikekit_hidden(reference, inputs)
        results = {}
        for name in RECURRENT_PEERS:
            peer = _peer(name, neuron, network)
            if isinstance(peer, str):
                results[name] = f"not run ({peer})"
                continue
            peer = peer.double()
            peer.load(weights)
            results[name] = _verdict(counts, hidden, *peer(inputs))
        ours = peers_recurrent.spikekit_net(shape, neuron, "fast").double()
        peers_recurrent.load_spikekit(ours, weights)
        results["spikekit fast"] = _verdict(counts, hidden, ours(inputs), peers_recurrent.spikekit_hidden(ours, inputs))
    print(f"check: {float(hidden.mean()):.3f} hidden spikes per neuron per step, {float(counts.sum()):.0f} "
          f"output spikes over {inputs.shape[1]} samples x {inputs.shape[0]} steps")
    return results


def _median_ms(step: Callable[[int], None], repeats: int) -> float:
    for index in range(2):
        step(index)
    times = []
    for index in range(repeats):
        start = time.perf_counter()
        step(2 + index)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _step(name: str, neuron: str, mode: str, num_steps: int, batch: tuple[Tensor, Tensor]
          ) -> Callable[[int], None] | str:
    """One batch of ``name`` (a peer or "spikekit fast") with ``neuron`` hidden neurons, or why it cannot run."""
    images, labels = batch
    if name == "spikekit fast":
        config = RunConfig(train=TrainConfig(num_steps=num_steps))
        model = _spikekit(neuron, "fast")
        def encode(index: int):
            return encode_batch(images, config.train, "bench", index)
        def outputs(inputs) -> Tensor:
            return model(inputs)
    else:
        model = _peer(name, neuron)
        if isinstance(model, str):
            return model
        def encode(index: int) -> Tensor:  # the Bernoulli coding every peer's tutorial uses
            generator = torch.Generator().manual_seed(index)
            return (torch.rand(num_steps, *images.shape, generator=generator) < images).float()
        def outputs(inputs) -> Tensor:
            return model(inputs)[0]
    return _timed(model, lambda index: outputs(encode(index)), labels, mode)


def _recurrent_step(name: str, neuron: str, mode: str, batch: tuple[Tensor, Tensor], network: str = "recurrent"
                    ) -> Callable[[int], None] | str:
    """One batch of a recurrent ``network`` for ``name`` (a peer, "spikekit fast" or "spikekit reference") on the
    inputs of ``batch`` (dense [T, B, N_in]; SHD's spikes go to the fast engine as events, as its SHD path hands
    them over), or why it cannot run. S-MNIST's rows run every implementation from the same weights
    (``timing_weights``); SHD's from each library's own initialisation."""
    inputs, labels = batch
    shape = peers_recurrent.NETWORKS[network]
    if name.startswith("spikekit "):
        engine = name.removeprefix("spikekit ")
        model = peers_recurrent.spikekit_net(shape, neuron, engine)
        if network == "smnist":
            peers_recurrent.load_spikekit(model, timing_weights(shape))
        if engine == "fast" and network == "recurrent":
            inputs = events_from_dense(inputs)
        return _timed(model, lambda index: model(inputs), labels, mode)
    model = _peer(name, neuron, network)
    if isinstance(model, str):
        return model
    if network == "smnist":
        model.load(timing_weights(shape))
    return _timed(model, lambda index: model(inputs)[0], labels, mode)


def timing_rate(args: argparse.Namespace, data) -> float:
    """The fraction of (hidden neuron, step) pairs that spike in spikekit's network with ``timing_weights`` on the
    training rows' batch."""
    shape = peers_recurrent.NETWORKS[args.network]
    model = peers_recurrent.spikekit_net(shape, args.neuron, "fast")
    peers_recurrent.load_spikekit(model, timing_weights(shape))
    with torch.no_grad():
        return float(peers_recurrent.spikekit_hidden(model, _row_batch(args, "train", SEQUENCE_LENGTH, data)[0]).mean())


def timing_weights(shape: peers_recurrent.Network) -> peers_recurrent.Weights:
    """The check's weights in float32: on S-MNIST's sequences its layers fire about as often as the trained
    preset's (``timing_rate`` measures it), where the default init leaves the first layer, fed one pixel a step,
    nearly silent, and a spikekit row would time a silent network."""
    weights = peers_recurrent.check_weights(shape, torch.Generator().manual_seed(2))
    return tuple(peers_recurrent.LayerWeights(*(None if w is None else w.float() for w in layer))
                 for layer in weights)


def _timed(model: nn.Module, logits: Callable[[int], Tensor], labels: Tensor, mode: str) -> Callable[[int], None]:
    """Batch ``index`` as timed: ``logits(index)`` without gradients ("infer"), or with the loss, backward and an
    Adam step ("train")."""
    if mode == "infer":
        @torch.no_grad()
        def infer(index: int) -> None:
            logits(index)
        return infer
    optimizer = build_optimizer(model, TrainConfig(lr=LR))

    def train(index: int) -> None:
        loss = F.cross_entropy(logits(index), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return train


def _repeats(repeats: int, num_steps: int) -> int:
    """Timed batches of a row: ``--repeats`` at T=25, half that (at least 3) at T=100."""
    return repeats if num_steps == 25 else max(3, repeats // 2)


def cli_samples_per_second(args: argparse.Namespace, num_steps: int, init_firing: float | None = None
                           ) -> tuple[float, list[float]]:
    """``spikekit train``'s own epoch throughput (``samples_per_second`` of metrics.jsonl) and its layers' firing
    rates (spikes per neuron per step, on its test pass), one epoch in a subprocess:

    - the seed network: ``--arch ARCHS[neuron]`` on MNIST, 200 batches of 128 at T=25, 100 at T=100;
    - ``--network recurrent``: its layers on SHD-format files of synthetic recordings at the rows' input density
      (``synthetic_shd``), ``--dataset shd``, T=100, 100 batches of 128;
    - ``--network smnist``: its layers on S-MNIST, 100 batches of 32, with ``--init-firing init_firing`` (the
      timing weights' rate: the other rows time layers that fire that much, and the first batch's calibration
      raises each layer's bias until it does).

    Every other option is the CLI's default (Adam lr 2e-3, spike-count readout, spikekit's default constants: the
    rows' own), so the row is what a user's ``spikekit train`` of that network runs."""
    with tempfile.TemporaryDirectory() as directory:
        command = [sys.executable, "-m", "spikekit", "train", "--epochs", "1", "--out", f"{directory}/run"]
        if args.network == "seed":
            batches = 200 if num_steps == 25 else 100
            command += ["--arch", ARCHS[args.neuron], "-T", str(num_steps), "--limit-train", str(128 * batches),
                        "--limit-test", "1000", *(["--data-dir", args.data_dir] if args.data_dir else [])]
        else:
            shape = peers_recurrent.NETWORKS[args.network]
            num_steps, batch = RECURRENT_SHAPES[args.network]
            command += ["--arch", shape.archs[args.neuron], "--batch-size", str(batch), "--limit-train",
                        str(100 * batch), "--limit-test", str(batch)]
            if args.network == "recurrent":
                synthetic_shd(Path(directory), 100 * batch, batch, args.density)
                command += ["--dataset", "shd", "--data-dir", directory, "-T", str(num_steps)]
            else:
                command += ["--dataset", "smnist", *(["--data-dir", args.data_dir] if args.data_dir else [])]
            if init_firing is not None:
                command += ["--init-firing", f"{init_firing:.3f}"]
        subprocess.run(command, check=True, capture_output=True)
        record = json.loads(Path(f"{directory}/run/metrics.jsonl").read_text().splitlines()[-1])
        return record["samples_per_second"], record["firing_rate"]


def synthetic_shd(directory: Path, train: int, test: int, density: float) -> None:
    """``directory``/shd_train.h5 and shd_test.h5 (``train`` and ``test`` recordings) in SHD's layout, each
    recording the rows' kind of input: Bernoulli(``density``) spikes on (10 ms bin, channel) pairs of 100 bins
    over 1 s, each spike at its bin's centre (float16 seconds, as the official files: within 0.25 ms of it), a
    random label of 20."""
    rng, num_steps = np.random.default_rng(0), RECURRENT_SHAPES["recurrent"][0]
    for name, count in (("train", train), ("test", test)):
        recordings = peers_recurrent.audio_recordings(count, num_steps, density, rng)
        write_shd(directory / f"shd_{name}.h5", [(steps + 0.5) / num_steps for steps, _ in recordings],
                  [channels for _, channels in recordings], rng.integers(0, peers_recurrent.SHD.sizes[-1], count))


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_in_fresh_process(row: tuple, args: argparse.Namespace) -> float:
    command = [sys.executable, __file__, "--threads", str(args.threads), "--network", args.network, "--neuron",
               args.neuron, "--density", str(args.density), "--peak-of", json.dumps(row)]
    result = subprocess.run(command, capture_output=True, text=True)
    return float(result.stdout.split()[-1]) if result.returncode == 0 else float("nan")


def _batch(mode: str, data) -> tuple[Tensor, Tensor]:
    split, size = (data.train, 128) if mode == "train" else (data.test, 1000)
    return split.intensity(slice(0, size)), split.labels[:size]


def _row_batch(args: argparse.Namespace, mode: str, num_steps: int, data) -> tuple[Tensor, Tensor]:
    """A row's batch: MNIST images (``_batch``); ``--network recurrent``'s input spikes [T, 128, 700] and labels;
    ``--network smnist``'s MNIST sequences [784, 32, 1] (training or test images, as the mode) and labels."""
    if args.network == "seed":
        return _batch(mode, data)
    batch = RECURRENT_SHAPES[args.network][1]
    if args.network == "smnist":
        split = data.train if mode == "train" else data.test
        return sequences(split.images[:batch], split.labels[:batch], "smnist").inputs(slice(0, batch)), \
            split.labels[:batch]
    spikes = peers_recurrent.input_spikes(num_steps, batch, args.density, np.random.default_rng(0))
    return spikes, torch.randint(peers_recurrent.SHD.sizes[-1], (batch,), generator=torch.Generator().manual_seed(0))


def _row_step(args: argparse.Namespace, name: str, mode: str, num_steps: int, batch: tuple[Tensor, Tensor]
              ) -> Callable[[int], None] | str:
    if args.network == "seed":
        return _step(name, args.neuron, mode, num_steps, batch)
    return _recurrent_step(name, args.neuron, mode, batch, args.network)


def network_name(args: argparse.Namespace) -> str:
    """The network's layers, input first: 784-128-10, 700-256ra-20, ..."""
    if args.network == "seed":
        return f"{SIZES[0]}-{ARCHS[args.neuron]}"
    shape = peers_recurrent.NETWORKS[args.network]
    return f"{shape.sizes[0]}-{shape.archs[args.neuron]}"


def run_name(args: argparse.Namespace) -> str:
    """The run's key in ``--results``: the neuron's name for the seed network, <network>-<neuron> else
    (recurrent-alif, smnist-lif, ...)."""
    return args.neuron if args.network == "seed" else f"{args.network}-{args.neuron}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", choices=["seed", *peers_recurrent.NETWORKS], default="seed",
                        help="seed: 784-N-10 on MNIST; recurrent: 700-256r-20 (SHD-shaped, synthetic input spikes); "
                             "smnist: 1-64r-256r-10 on S-MNIST's sequences (T=784, batch 32)")
    parser.add_argument("--neuron", choices=list(ARCHS),
                        help="hidden neurons: lif (784-128-10, the seed's default), alif (784-128a-10) or cuba "
                             "(784-128s-10); recurrent and smnist: alif (700-256ra-20, 1-64ra-256ra-10: their "
                             "default) or lif")
    parser.add_argument("--density", type=float, default=peers_recurrent.DENSITY,
                        help="recurrent: the fraction of (channel, step) pairs with an input spike")
    parser.add_argument("--repeats", type=int, default=20, help="timed batches at T=25 (half that at T=100)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--quick", action="store_true",
                        help="seed network: T=25 only; no peak memory, nothing written to --results (a smoke run)")
    parser.add_argument("--check-only", action="store_true", help="only the float64 check of the same spikes")
    parser.add_argument("--data-dir", help="MNIST IDX folder for the spikekit train rows (default: its sources)")
    parser.add_argument("--pairs", type=int, default=3,
                        help="rounds of every training peer's step, then a spikekit train epoch, per T (0: none)")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="JSON file the run is merged into, under the neuron's name (recurrent: recurrent-NEURON)")
    parser.add_argument("--peak-of", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    archs = ARCHS if args.network == "seed" else peers_recurrent.NETWORKS[args.network].archs
    args.neuron = args.neuron or ("lif" if args.network == "seed" else "alif")
    if args.neuron not in archs:
        parser.error(f"--network {args.network} takes --neuron {' or '.join(archs)}, not {args.neuron}")
    if not 0 < args.density < 1:
        parser.error(f"--density must be in (0, 1), got {args.density}")
    return args


def main() -> None:
    args = parse_args()
    set_threads(args.threads)
    keep_freed_memory()
    recurrent = args.network != "seed"
    data = None if args.network == "recurrent" else load_mnist(args.data_dir)
    if args.peak_of:
        name, mode, num_steps = json.loads(args.peak_of)
        step = _row_step(args, name, mode, num_steps, _row_batch(args, mode, num_steps, data))
        for index in range(3):
            step(index)
        print(_peak_rss_mb())
        return
    print(f"torch {torch.__version__}, {args.threads} threads, {network_name(args)}; same forward spikes "
          "(float64, same weights and input):")
    if args.network == "smnist":  # 8 test sequences: 784 steps a sample in float64
        check = check_recurrent(args.neuron, "smnist", _row_batch(args, "infer", SEQUENCE_LENGTH, data)[0][:, :8])
    elif recurrent:
        check = check_recurrent(args.neuron, args.network, density=args.density)
    else:
        check = check_same_spikes(data.test.intensity(slice(0, 32)), args.neuron)
    for name, verdict in check.items():
        print(f"  {name}: {verdict}")
    if args.check_only:
        return
    extra = {}
    if args.network == "smnist":
        extra["hidden_rate"] = timing_rate(args, data)
        print(f"timing weights: the hidden layers fire at {extra['hidden_rate']:.3f} of the steps on the training "
              "batch")
    rows = []
    names = [*PEERS, "spikekit fast", *(["spikekit reference"] if recurrent else [])]
    for num_steps in (RECURRENT_SHAPES[args.network][0],) if recurrent else (25,) if args.quick else (25, 100):
        repeats = _repeats(args.repeats, num_steps)
        for mode in ("train", "infer"):
            batch = _row_batch(args, mode, num_steps, data)
            for name in names:
                step = _row_step(args, name, mode, num_steps, batch)
                if isinstance(step, str):
                    rows.append((name, mode, num_steps, None, None, step))
                    continue
                rate = 1000 * len(batch[1]) / _median_ms(step, repeats)
                peak = float("nan") if args.quick else _peak_in_fresh_process((name, mode, num_steps), args)
                rows.append((name, mode, num_steps, rate, peak, ""))
            if mode == "train":
                rate, firing = cli_samples_per_second(args, num_steps, extra.get("hidden_rate"))
                rows.append(("spikekit train (CLI epoch)", mode, num_steps, rate, float("nan"),
                             "its layers fired " + ", ".join(f"{r:.3f}" for r in firing) + " of their steps"
                             if recurrent else ""))
    ratios = [_x_fastest_peer(row, rows) for row in rows]
    print("\n| implementation | mode | T | samples/s | peak RSS MB | x fastest peer | note |")
    print("|---|---|---|---|---|---|---|")
    for (name, mode, num_steps, rate, peak, note), ratio in zip(rows, ratios):
        cells = ("-", "-") if rate is None else (f"{rate:,.0f}", f"{peak:.0f}")
        print(f"| {name} | {mode} | {num_steps} | {cells[0]} | {cells[1]} | "
              f"{'-' if ratio is None else f'{ratio:.1f}'} | {note} |")
    rounds = paired(rows, args, data, extra.get("hidden_rate")) if args.pairs else []
    if not args.quick:
        write_results(args.results, run_name(args), run_record(args, check, rows, ratios, rounds, extra))
        print(f"\nwritten to {args.results} under {run_name(args)!r}")


def _x_fastest_peer(row: tuple, rows: list[tuple]) -> float | None:
    """A row's samples/s over the fastest peer's in the same mode and T (None without both)."""
    name, mode, num_steps, rate = row[:4]
    peers = [r[3] for r in rows if r[1:3] == (mode, num_steps) and r[0] in PEERS and r[3] is not None]
    return rate / max(peers) if rate is not None and peers else None


def paired(rows: list[tuple], args: argparse.Namespace, data, init_firing: float | None = None
           ) -> list[dict]:
    """``spikekit train`` over the fastest peer, measured in alternation: this host's speed drifts by up to
    a third over seconds, all code alike, so the table's two figures, taken half a minute apart, can put
    the ratio anywhere from 6x to 12x. Each round times every peer's training step (as in the table), then
    one ``spikekit train`` epoch, and takes the ratio to the fastest peer of that round; their median is
    printed. Returns the rounds, one dict each."""
    print(f"\nPaired: every training peer, then a spikekit train epoch, {args.pairs} rounds per T")
    print("| T | fastest peer of the round | its samples/s | spikekit train samples/s | ratio |")
    print("|---|---|---|---|---|")
    rounds = []
    for num_steps in sorted({r[2] for r in rows if r[1] == "train"}):
        names = [r[0] for r in rows if r[1:3] == ("train", num_steps) and r[0] in PEERS and r[3] is not None]
        if not names:
            continue
        repeats = _repeats(args.repeats, num_steps)
        ratios = []
        batch = _row_batch(args, "train", num_steps, data)
        for _ in range(args.pairs):
            rates = {name: 1000 * len(batch[1]) / _median_ms(_row_step(args, name, "train", num_steps, batch),
                                                            repeats)
                     for name in names}
            name = max(rates, key=rates.get)
            cli, _ = cli_samples_per_second(args, num_steps, init_firing)
            ratios.append(cli / rates[name])
            rounds.append({"T": num_steps, "fastest_peer": name, "peer_samples_per_s": rates[name],
                           "train_samples_per_s": cli, "ratio": ratios[-1]})
            print(f"| {num_steps} | {name} | {rates[name]:,.0f} | {cli:,.0f} | {ratios[-1]:.1f} |")
        print(f"| {num_steps} | median of {len(ratios)} | | | **{statistics.median(ratios):.1f}** |")
    return rounds


def run_record(args: argparse.Namespace, check: dict[str, str], rows: list[tuple], ratios: list[float | None],
               rounds: list[dict], extra: dict | None = None) -> dict:
    """One run as JSON: when, where, the check's verdicts, the table's rows, the paired rounds, and ``extra``."""
    extra = extra or {}
    versions = {}
    for package in ("spikekit", "snntorch", "spikingjelly", "norse"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
               platform.processor() or platform.machine())
    def number(value: float | None) -> float | None:  # JSON has no NaN
        return None if value is None or math.isnan(value) else value
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "network": network_name(args),
            "host": {"cpu": cpu, "machine": platform.machine(), "torch": torch.__version__,
                     "python": platform.python_version(), **versions},
            **({"input_density": args.density} if args.network == "recurrent" else {}),
            **extra,
            "threads": args.threads, "repeats": args.repeats, "pairs": args.pairs, "check": check,
            "rows": [{"implementation": name, "mode": mode, "T": num_steps,
                      "batch": RECURRENT_SHAPES[args.network][1] if args.network != "seed"
                      else 128 if mode == "train" else 1000,
                      "samples_per_s": rate, "peak_rss_mb": number(peak), "x_fastest_peer": ratio, "note": note}
                     for (name, mode, num_steps, rate, peak, note), ratio in zip(rows, ratios)],
            "paired": rounds}


def write_results(path: Path, name: str, record: dict) -> None:
    """Merge ``record`` into ``path`` (JSON) under ``runs[name]`` (``run_name``), replacing that run's earlier one."""
    data = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    data["runs"][name] = record
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
