"""event_readout: the event layer and the readout as one pass equal the two as separate nodes."""

import pytest
import torch

from spikekit.dynamics.alif import ALIFParams
from spikekit.dynamics.cuba import CubaLIFParams
from spikekit.dynamics.lif import LIFParams
from spikekit.kernels import as_dense, events_from_dense
from spikekit.kernels.event_layer import event_lif_layer
from spikekit.kernels.event_readout import event_readout_counts
from spikekit.kernels.readout import readout_counts
from spikekit.kernels.reference import reference_counts
from spikekit.nn import SNN
from spikekit.nn.input_major import InputMajorLinear

HIDDEN = LIFParams(tau=1.5, threshold=0.5, surrogate="atan", slope=3.0)
READOUT = LIFParams(tau=3.0, threshold=0.4, reset=-0.2, surrogate="triangle", slope=2.0)


def _layers(sizes, input_major: bool, dtype=torch.float64, scale: float = 4.0):
    """Seeded hidden and readout synapses, scaled so that both layers fire plenty."""
    torch.manual_seed(0)
    hidden, readout = torch.nn.Linear(sizes[0], sizes[1]), torch.nn.Linear(sizes[1], sizes[2])
    with torch.no_grad():
        hidden.weight.mul_(scale)
        readout.weight.mul_(scale)
    hidden, readout = hidden.to(dtype), readout.to(dtype)
    return (InputMajorLinear(hidden) if input_major else hidden), readout


def _events(num_steps, batch, num_inputs, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return events_from_dense((torch.rand(num_steps, batch, num_inputs, generator=generator) < 0.3).double())


def _two_nodes(events, hidden, readout):
    return readout_counts(event_lif_layer(events, hidden.weight, hidden.bias, HIDDEN), readout, READOUT)


def _parameters(hidden, readout):
    return [hidden.weight_t if isinstance(hidden, InputMajorLinear) else hidden.weight, hidden.bias,
            readout.weight, readout.bias]


@pytest.mark.parametrize("input_major", [True, False])
@pytest.mark.parametrize(("num_steps", "batch", "sizes"), [
    (7, 13, (33, 9, 3)),  # a partial group of samples; widths not multiples of a vector
    (1, 4, (20, 16, 17)),  # one step; K past one 16-wide vector (padded to 32)
    (12, 9, (40, 130, 10)),  # the seed's K = 10; N past one block of the row intrinsics
])
def test_equals_the_two_nodes_forward_and_backward(input_major, num_steps, batch, sizes) -> None:
    hidden, readout = _layers(sizes, input_major)
    events = _events(num_steps, batch, sizes[0])
    expected = _two_nodes(events, hidden, readout)
    got = event_readout_counts(events, hidden, HIDDEN, readout, READOUT)
    assert torch.equal(got, expected) and 0 < expected.mean() < num_steps
    weights = torch.randn(expected.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    parameters = _parameters(hidden, readout)
    expected_grads = torch.autograd.grad((expected * weights).sum(), parameters)
    got_grads = torch.autograd.grad((got * weights).sum(), parameters)
    for mine, theirs in zip(got_grads, expected_grads):
        assert mine.shape == theirs.shape
        torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-12)
    assert all(g.abs().sum() > 0 for g in expected_grads)
    with torch.no_grad():
        assert torch.equal(event_readout_counts(events, hidden, HIDDEN, readout, READOUT), expected)


def test_float32_agrees_with_the_two_nodes_up_to_rounding() -> None:
    # The readout's sums run in another order than the GEMMs': in float32 a membrane within rounding of
    # the threshold may fall the other way, so counts may differ, rarely, by a spike; gradients are close.
    hidden, readout = _layers((200, 128, 10), True, torch.float32, scale=3.0)
    events = _events(25, 64, 200)
    expected = _two_nodes(events, hidden, readout)
    got = event_readout_counts(events, hidden, HIDDEN, readout, READOUT)
    assert (got - expected).abs().sum() <= 0.001 * expected.sum() and expected.sum() > 0
    parameters = _parameters(hidden, readout)
    expected_grads = torch.autograd.grad(expected.sum(), parameters)
    got_grads = torch.autograd.grad(got.sum(), parameters)
    for mine, theirs in zip(got_grads, expected_grads):
        torch.testing.assert_close(mine, theirs, rtol=1e-3, atol=1e-3)


def test_the_network_runs_an_event_fed_pair_as_one_node() -> None:
    network = SNN((30, 12, 4), engine="fast").double()
    events = _events(5, 3, 30)
    assert type(network(events).grad_fn).__name__ == "_EventReadoutBackward"
    assert type(network(events.to_dense(torch.float64)).grad_fn).__name__ != "_EventReadoutBackward"
    deeper = SNN((30, 12, 8, 4), engine="fast").double()  # three layers: the layers one by one, as before
    assert type(deeper(events).grad_fn).__name__ != "_EventReadoutBackward"


def test_refuses_a_width_mismatch_and_unsupported_weights() -> None:
    hidden, readout = _layers((6, 5, 3), False)
    with pytest.raises(ValueError, match="events have 7 inputs but the weight expects 6"):
        event_readout_counts(_events(2, 1, 7), hidden, HIDDEN, readout, READOUT)
    with pytest.raises(ValueError, match=r"needs float32/float64 CPU weights of one dtype, the readout's \[K, 5\]"):
        event_readout_counts(_events(2, 1, 6), hidden, HIDDEN, readout.float(), READOUT)
    with pytest.raises(ValueError, match="the readout's"):
        event_readout_counts(_events(2, 1, 6), hidden, HIDDEN, torch.nn.Linear(4, 3).double(), READOUT)


@pytest.mark.parametrize(("num_steps", "batch"), [(0, 3), (3, 0)])
def test_no_steps_or_no_samples_give_zero_counts_and_gradients(num_steps, batch) -> None:
    # Edge shapes once crashed: B = 0 divided by zero in backward; T = 0 in the no-grad pass's chunk size.
    network = SNN((30, 12, 4), engine="fast").double()
    events = _events(num_steps, batch, 30)
    counts = network(events)
    assert counts.shape == (batch, 4) and not counts.any()
    counts.sum().backward()
    assert all(p.grad is not None and not p.grad.any() for p in network.parameters())
    with torch.no_grad():
        assert network(events).shape == (batch, 4)


@pytest.mark.parametrize("hidden_params", [
    ALIFParams(tau=1.5, threshold=0.5, tau_adapt=3.0, beta=0.7, surrogate="atan"),
    CubaLIFParams(tau=1.5, threshold=0.5, tau_syn=2.5),
    LIFParams(tau=torch.linspace(1.2, 3.0, 130, dtype=torch.float64), threshold=0.5),  # per-neuron, not learned
], ids=["alif", "cuba", "lif-per-neuron"])
def test_every_hidden_model_equals_the_reference_network(hidden_params) -> None:
    # Constants not learned: the kernels' lean adjoint loops (no constants' gradient), against the reference
    # engine's autograd of the model's own step.
    hidden, readout = _layers((40, 130, 10), input_major=True)
    events = _events(12, 9, 40)
    expected = reference_counts(as_dense(events, hidden.weight), [(hidden, hidden_params), (readout, READOUT)])
    got = event_readout_counts(events, hidden, hidden_params, readout, READOUT)
    assert torch.equal(got, expected) and 0 < expected.mean() < 12
    weights = torch.randn(expected.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    parameters = _parameters(hidden, readout)
    expected_grads = torch.autograd.grad((expected * weights).sum(), parameters)
    got_grads = torch.autograd.grad((got * weights).sum(), parameters)
    for mine, theirs in zip(got_grads, expected_grads):
        torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-12)
        assert theirs.abs().sum() > 0
