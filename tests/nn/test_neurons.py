"""Neuron modules (``spikekit.nn.neurons``) in layers, networks and a user's own model: both engines agree,
learned constants get gradients and move, bad arguments are named."""

import pytest
import torch
from torch import nn

from spikekit.dynamics.alif import ALIFParams
from spikekit.dynamics.cuba import CubaLIFParams
from spikekit.dynamics.lif import LIFParams
from spikekit.dynamics.neuron import neuron_scan
from spikekit.kernels import events_from_dense
from spikekit.nn import SNN, SNNLayer
from spikekit.nn.neurons import ALIF, LIF, CubaLIF


def _spikes(shape, density: float = 0.3, seed: int = 1) -> torch.Tensor:
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < density).double()


@pytest.mark.parametrize("module", [LIF, ALIF, CubaLIF])
def test_a_module_is_its_model_scan_and_learns_per_neuron_constants(module) -> None:
    neurons = module(shape=6, learn=("tau", "threshold"), tau=3.0, threshold=0.7).double()
    current = torch.randn(20, 3, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 2
    spikes = neurons(current)
    assert torch.equal(spikes, neuron_scan(current, neurons.params())[0])
    spikes.sum().backward()
    assert neurons.tau_raw.grad.shape == (6,) and neurons.threshold_raw.grad.abs().sum() > 0
    torch.testing.assert_close(neurons.constant("tau"), torch.full((6,), 3.0, dtype=torch.float64))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"tau_syn": 2.0}, "LIF has no constant 'tau_syn'; its constants are tau, threshold, reset"),
    ({"learn": ("beta",)}, "LIF has no constant 'beta'"),
    ({"tau": 1.0}, "tau must be > 1.0"),
    ({"tau": 0.5, "learn": ("tau",)}, "tau must be > 1.0"),
])
def test_bad_module_arguments_are_named(kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LIF(**kwargs)


def test_a_module_refuses_currents_of_another_shape() -> None:
    with pytest.raises(ValueError, match=r"expected \[T, B, 4\]"):
        ALIF(shape=4, learn=("beta",))(torch.zeros(3, 2, 5))
    with pytest.raises(ValueError, match="time-major"):
        LIF()(torch.zeros(3, 5))


def _pair(arch, params, input_shape, scale: float = 4.0) -> tuple[SNN, SNN]:
    torch.manual_seed(0)
    reference = SNN(arch, params, engine="reference", input_shape=input_shape).double()
    with torch.no_grad():
        for layer in reference.spiking_layers:
            (layer.linear if isinstance(layer, SNNLayer) else layer.conv).weight.mul_(scale)
    fast = SNN(arch, params, engine="fast", input_shape=input_shape).double()
    fast.load_state_dict(reference.state_dict())
    return reference, fast


@pytest.mark.parametrize(("arch", "input_shape", "neuron"), [
    ("16a-10", (30,), LIFParams(threshold=0.5)),
    ("16s-12a-10s", (30,), LIFParams(threshold=0.5)),
    ("16-10", (30,), ALIF(learn=("tau", "beta"), shape=(), threshold=0.5)),
    ("16-10", (30,), [CubaLIF(learn=("tau_syn", "threshold"), shape=16, threshold=0.5), LIFParams(threshold=0.5)]),
    ("3c3s-p2-10a", (1, 6, 6), CubaLIFParams(threshold=0.5)),
])
@pytest.mark.parametrize("as_events", [False, True])
def test_networks_of_every_model_agree_across_engines(arch, input_shape, neuron, as_events) -> None:
    reference, fast = _pair(arch, neuron, input_shape)
    inputs = _spikes((11, 5, 30 if len(input_shape) == 1 else 36))
    expected = reference(inputs)
    got = fast(events_from_dense(inputs) if as_events else inputs)
    assert torch.equal(got, expected) and expected.sum() > 0
    weights = torch.randn(expected.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    for mine, theirs in zip(torch.autograd.grad((got * weights).sum(), list(fast.parameters())),
                            torch.autograd.grad((expected * weights).sum(), list(reference.parameters()))):
        torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-11)


def test_a_layer_token_suffix_picks_the_model_and_keeps_the_shared_constants() -> None:
    net = SNN("32a-16s-10", LIFParams(tau=3.0), input_shape=(20,))
    kinds = [type(layer.params) for layer in net.spiking_layers]
    assert kinds == [ALIFParams, CubaLIFParams, LIFParams]
    assert all(layer.params.tau == 3.0 for layer in net.spiking_layers)
    with pytest.raises(ValueError, match="layer '32a' is alif but was given CubaLIF neurons"):
        SNN("32a-10", CubaLIF(), input_shape=(20,))


class Residual(nn.Module):
    """A user's model: spikekit layers and neurons between torch layers, with a residual sum."""

    def __init__(self) -> None:
        super().__init__()
        self.first = SNNLayer(20, 16, ALIF(threshold=0.5))
        self.dropout = nn.Dropout(0.2)
        self.second = SNNLayer(16, 16, CubaLIF(threshold=0.5))
        self.head = nn.Linear(16, 3)

    def forward(self, inputs: torch.Tensor, engine: str) -> torch.Tensor:
        hidden = self.first(inputs, engine)
        hidden = hidden + self.second(self.dropout(hidden), engine)  # sparse, not binary
        return self.head(hidden.sum(0))


def test_a_users_model_trains_the_same_on_both_engines() -> None:
    torch.manual_seed(4)
    model = Residual().double()
    with torch.no_grad():
        model.first.linear.weight.mul_(4.0)
        model.second.linear.weight.mul_(4.0)
    inputs = _spikes((10, 6, 20))
    outputs = []
    for engine in ("reference", "fast"):
        torch.manual_seed(5)  # the same dropout mask
        output = model(inputs, engine)
        grads = torch.autograd.grad(output.square().sum(), list(model.parameters()))
        outputs.append((output, grads))
    (expected, expected_grads), (got, got_grads) = outputs
    assert torch.equal(got, expected)
    for mine, theirs in zip(got_grads, expected_grads):
        torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-11)


def test_a_learned_tau_moves_in_training() -> None:
    torch.manual_seed(6)
    net = SNN("16-4", LIF(learn=("tau",), shape=(), tau=2.0, threshold=0.5), input_shape=(12,))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    inputs, labels = _spikes((15, 32, 12)).float(), torch.randint(0, 4, (32,))
    taus = [[layer.neuron.constant("tau").item() for layer in net.spiking_layers]]
    for _ in range(10):
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(events_from_dense(inputs)), labels).backward()
        optimizer.step()
    taus.append([layer.neuron.constant("tau").item() for layer in net.spiking_layers])
    assert all(abs(after - before) > 1e-3 for before, after in zip(*taus)) and min(taus[1]) > 1.0
