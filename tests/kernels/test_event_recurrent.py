"""The fused event-fed recurrent layer (``kernels.event_recurrent``) equals the reference loop forward (the same
spikes, bit for bit) and backward (the gradients of W, b, U and every learned constant, float64), for every neuron
model, complement-coded events (defaults, on and off events) and a batch that ends in a partial group; without
gradients it gives the training spikes; a frozen U gets none. With a LIF readout fused in (counts), the reference's
counts and gradients of both layers."""

import pytest
import torch

from spikekit.data.encoding import poisson_encode_events
from spikekit.dynamics.alif import ALIFParams
from spikekit.dynamics.lif import LIFParams
from spikekit.kernels.event_recurrent import (
    event_recurrent_counts,
    event_recurrent_layer,
    supports_event_recurrent,
    supports_event_recurrent_counts,
)
from spikekit.kernels.fast import fast_recurrent, fast_recurrent_counts
from spikekit.kernels.reference import reference_counts, reference_recurrent
from spikekit.nn.input_major import InputMajorLinear
from spikekit.nn.network import SNN
from spikekit.spike_events import SpikeEvents, events_from_dense
from tests.kernels.test_generic_scan import MODEL_PARAMS, _constants, _grads


def _layer(num_inputs: int, width: int, seed: int, dtype=torch.float64, gain: float = 8.0,
           recurrent_gain: float = 0.8) -> tuple[torch.nn.Linear, torch.Tensor]:
    torch.manual_seed(seed)
    linear = torch.nn.Linear(num_inputs, width).to(dtype)
    recurrent = torch.empty(width, width, dtype=dtype)
    torch.nn.init.orthogonal_(recurrent)
    with torch.no_grad():
        linear.weight.mul_(gain)
        recurrent.mul_(recurrent_gain)
    return linear, recurrent.requires_grad_()


def _on_only(num_steps: int = 11, batch: int = 19, inputs: int = 30, seed: int = 4) -> SpikeEvents:
    # 19 samples: two groups of 8 and a part of 3 (a quad of U^T products over one real sample and padding)
    generator = torch.Generator().manual_seed(seed)
    return events_from_dense((torch.rand(num_steps, batch, inputs, generator=generator) < 0.3).double())


def _complement_coded(num_steps: int = 9, batch: int = 13, inputs: int = 30, seed: int = 0) -> SpikeEvents:
    """Poisson events of intensities with many near-saturated inputs: defaults and off events both occur."""
    generator = torch.Generator().manual_seed(seed)
    intensity = torch.rand(batch, inputs, generator=generator) ** 0.3
    events = poisson_encode_events(intensity, num_steps, generator).events()
    assert int(events.num_defaults.sum()) > 0 and int(events.num_off.sum()) > 0
    return events


@pytest.mark.parametrize("params_type", MODEL_PARAMS)
@pytest.mark.parametrize("make", [_on_only, _complement_coded], ids=["on only", "complement coded"])
def test_equals_the_reference_with_gradients_of_w_b_u_and_every_constant(params_type, make) -> None:
    events = make()
    linear, recurrent = _layer(events.num_inputs, 20, seed=5)
    constants = _constants(params_type, 20, seed=6)
    params = params_type(**constants)
    _check_against_the_reference(events, linear, recurrent, params, list(constants.values()), 0.07)  # 7.7-24.8%


def _check_against_the_reference(events: SpikeEvents, linear: torch.nn.Linear, recurrent: torch.Tensor, params,
                                 constants: list[torch.Tensor], least_firing: float) -> None:
    """The fused layer's spikes are the reference's, firing in (least_firing, 0.5), and its float64 gradients of W,
    b, U and ``constants`` the reference's, none of them all zero."""
    expected = reference_recurrent(events.to_dense(torch.float64), linear, recurrent, params)
    got = event_recurrent_layer(events, linear.weight, linear.bias, recurrent, params)
    assert torch.equal(got, expected) and least_firing < expected.mean() < 0.5
    leaves = [linear.weight, linear.bias, recurrent, *constants]
    for mine, theirs in zip(_grads(got, leaves), _grads(expected, leaves)):
        torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-11)
        assert theirs.abs().sum() > 0


def test_the_fast_engine_runs_it_for_events_and_an_input_major_weight_gives_the_same() -> None:
    events = _on_only(batch=9)
    linear, recurrent = _layer(events.num_inputs, 12, seed=7)
    params = ALIFParams(tau=3.0, tau_adapt=6.0, beta=0.4, threshold=0.8)
    major = InputMajorLinear(linear)  # W^T as its own leaf, b shared
    expected = reference_recurrent(events, linear, recurrent, params)
    assert 0.05 < expected.mean() < 0.5
    theirs = _grads(expected, [linear.weight, linear.bias, recurrent])
    for layer, weight in ((linear, linear.weight), (major, major.weight_t)):
        got = fast_recurrent(events, layer, recurrent, params)
        assert torch.equal(got, expected)
        mine = _grads(got, [weight, layer.bias, recurrent])
        torch.testing.assert_close(mine[0], theirs[0] if weight is linear.weight else theirs[0].t(), rtol=1e-9,
                                   atol=1e-11)
        for grad, reference in zip(mine[1:], theirs[1:]):
            torch.testing.assert_close(grad, reference, rtol=1e-9, atol=1e-11)


def test_float32_plain_lif_gives_the_float64_spikes_and_a_frozen_u_gets_no_gradient() -> None:
    events = _on_only(num_steps=14, batch=10, inputs=40, seed=8)
    linear, recurrent = _layer(events.num_inputs, 256, seed=9, dtype=torch.float32, recurrent_gain=0.3)
    recurrent.requires_grad_(False)
    params = LIFParams(tau=3.0, threshold=1.0)
    got = event_recurrent_layer(events, linear.weight, linear.bias, recurrent, params)
    expected = reference_recurrent(events, linear.double(), recurrent.double(), params)
    assert torch.equal(got.double(), expected) and 0.05 < expected.mean() < 0.5
    got.sum().backward()
    assert recurrent.grad is None and linear.weight.grad is not None


def test_without_gradients_it_gives_the_training_spikes_and_sum() -> None:
    events = _complement_coded()
    linear, recurrent = _layer(events.num_inputs, 16, seed=10)
    params = ALIFParams(tau=2.5, tau_adapt=5.0, beta=0.5)
    weights = torch.linspace(0.1, 1.0, events.shape[0], dtype=torch.float64)
    with torch.no_grad():
        inferred = event_recurrent_layer(events, linear.weight, linear.bias, recurrent, params)
        inferred_sum = event_recurrent_layer(events, linear.weight, linear.bias, recurrent, params, weights)
    trained, trained_sum = event_recurrent_layer(events, linear.weight, linear.bias, recurrent, params, weights)
    assert torch.equal(inferred, trained) and torch.equal(inferred_sum[0], trained)
    assert torch.equal(inferred_sum[1], trained_sum.detach()) and trained_sum.abs().sum() > 0


def test_plain_lif_in_float64_has_the_reference_gradients_of_w_b_and_u() -> None:
    # LIF with one float per constant runs the uniform rows (no margin row: dU's neurons come from the spikes)
    events = _on_only(batch=12, seed=18)
    linear, recurrent = _layer(events.num_inputs, 24, seed=19)
    _check_against_the_reference(events, linear, recurrent, LIFParams(tau=3.0, threshold=0.6), [], 0.05)


def test_bad_shapes_and_weights_are_refused() -> None:
    events = _on_only(batch=2)
    linear, recurrent = _layer(events.num_inputs, 6, seed=11)
    params = LIFParams()
    with pytest.raises(ValueError, match="events have 30 inputs"):
        event_recurrent_layer(events, linear.weight[:, :29], linear.bias, recurrent, params)
    with pytest.raises(ValueError, match=r"U must be \[6, 6\]"):
        event_recurrent_layer(events, linear.weight, linear.bias, recurrent[:5, :5], params)
    assert not supports_event_recurrent(linear.weight, recurrent.float(), linear.bias)
    assert not supports_event_recurrent(linear.weight, recurrent, None)
    with pytest.raises(ValueError, match="one dtype"):
        event_recurrent_layer(events, linear.weight, linear.bias, recurrent.float(), params)


def test_a_layer_without_a_bias_takes_the_unfused_path_and_equals_the_reference() -> None:
    events = _on_only(batch=3)
    linear, recurrent = _layer(events.num_inputs, 7, seed=17)
    linear.bias = None
    params = LIFParams(threshold=0.5)
    torch.testing.assert_close(fast_recurrent(events, linear, recurrent, params),
                               reference_recurrent(events, linear, recurrent, params))


@pytest.mark.parametrize("spikes_too", ["alone", "and spikes", "no spike tensor"])
@pytest.mark.parametrize("output", ["time weights", "readout"])
@pytest.mark.parametrize("neuron", ["ALIF", "plain LIF"])
def test_a_sum_or_readout_current_made_in_the_pass_equals_the_reference_with_gradients(neuron: str, output: str,
                                                                                      spikes_too: str) -> None:
    # The leaky readout's paths: sum over t of w[t] s[t] (constant w), or a readout's current [T, B, K] (learned time
    # constants), made in the pass; their gradient reaches the spikes step by step (with no gradient on the spikes
    # themselves when only the sum or current is read: the backward's empty-gradient case; without a spike tensor,
    # spikes=False, who spiked re-derived from the margin, but for plain LIF, whose spikes are kept).
    events = _complement_coded(num_steps=12, batch=11)
    linear, recurrent = _layer(events.num_inputs, 20, seed=12)
    constants = _constants(ALIFParams, 20, seed=13) if neuron == "ALIF" else {}
    params = ALIFParams(**constants) if neuron == "ALIF" else LIFParams(tau=3.0, threshold=0.5)
    weights = torch.rand(12, dtype=torch.float64, generator=torch.Generator().manual_seed(14))
    readout = _readout(20, 7, seed=22)
    extra = {"time_weights": weights} if output == "time weights" else {"readout": readout}
    expected, expected_out = reference_recurrent(events.to_dense(torch.float64), linear, recurrent, params, **extra)
    if spikes_too == "no spike tensor":
        got, got_out = event_recurrent_layer(events, linear.weight, linear.bias, recurrent, params, **extra,
                                             spikes=False)
        assert got is None
        got = expected  # read by no loss below
    else:
        got, got_out = event_recurrent_layer(events, linear.weight, linear.bias, recurrent, params, **extra)
    assert torch.equal(got, expected) and 0.05 < expected.mean() < 0.5
    if output == "time weights":
        torch.testing.assert_close(got_out, torch.einsum("t,tbn->bn", weights, expected), rtol=1e-12, atol=1e-12)
    else:
        assert got_out.shape == (12, 11, 7)
        torch.testing.assert_close(got_out, readout(expected), rtol=1e-12, atol=1e-12)
    scale = torch.randn(got_out.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(15))
    leaves = [linear.weight, linear.bias, recurrent, *constants.values()]
    leaves += [readout.weight, readout.bias] if output == "readout" else []

    def loss(spikes, out):
        return (out * scale).sum() + ((spikes * spikes.flip(0)).sum() if spikes_too == "and spikes" else 0)
    for grad, reference in zip(torch.autograd.grad(loss(got, got_out), leaves),
                               torch.autograd.grad(loss(expected, expected_out), leaves)):
        torch.testing.assert_close(grad, reference, rtol=1e-9, atol=1e-11)
        assert reference.abs().sum() > 0


def test_time_weights_must_be_constants_of_one_per_step() -> None:
    events = _on_only(batch=2)
    linear, recurrent = _layer(events.num_inputs, 6, seed=16)
    with pytest.raises(ValueError, match=r"time_weights must be constants \[T\] = \[11\]"):
        event_recurrent_layer(events, linear.weight, linear.bias, recurrent, LIFParams(), torch.ones(10))
    learned = torch.ones(11, requires_grad=True)
    with pytest.raises(ValueError, match="requiring a gradient"):
        event_recurrent_layer(events, linear.weight, linear.bias, recurrent, LIFParams(), learned)
    with pytest.raises(ValueError, match="needs time_weights or a readout"):
        event_recurrent_layer(events, linear.weight, linear.bias, recurrent, LIFParams(), spikes=False)
    # the engine takes learned weights the other way (the sum made after the pass), so their gradient is kept
    spikes, summed = fast_recurrent(events, linear, recurrent, LIFParams(threshold=0.3), learned.double())
    summed.sum().backward()
    torch.testing.assert_close(learned.grad, spikes.detach().sum((1, 2)).float())


def _readout(width: int, outputs: int, seed: int, dtype=torch.float64) -> torch.nn.Linear:
    torch.manual_seed(seed)
    readout = torch.nn.Linear(width, outputs).to(dtype)
    with torch.no_grad():
        readout.weight.mul_(6.0)
    return readout


@pytest.mark.parametrize("params_type", MODEL_PARAMS)
def test_the_readout_fused_in_gives_the_reference_counts_and_gradients(params_type) -> None:
    """A LIF readout on the layer as one pass: the reference's counts (float64) and its gradients of W, b, U, every
    constant, W2 and b2, for complement-coded events and a batch that ends in a partial group."""
    events = _complement_coded(num_steps=12, batch=13)
    linear, recurrent = _layer(events.num_inputs, 20, seed=5)
    constants = _constants(params_type, 20, seed=6)
    params, readout_params = params_type(**constants), LIFParams(tau=2.0, threshold=0.5)
    readout = _readout(20, 7, seed=7)
    spikes = reference_recurrent(events.to_dense(torch.float64), linear, recurrent, params)
    expected = reference_counts(spikes, [(readout, readout_params)])
    got = event_recurrent_counts(events, linear, recurrent, params, readout, readout_params)
    assert torch.equal(got, expected) and 0 < expected.mean() < 12 and 0.05 < spikes.mean() < 0.5
    leaves = [linear.weight, linear.bias, recurrent, *constants.values(), readout.weight, readout.bias]
    for mine, theirs in zip(_grads(got, leaves), _grads(expected, leaves)):
        torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-11)
        assert theirs.abs().sum() > 0


def test_the_readout_fused_in_on_plain_lif_gives_the_reference_counts_and_gradients() -> None:
    """Plain LIF (one float per constant, ``UNIFORM_LIF``) saves no margin row: its backward reads the spikes the
    forward kept, where every other model's re-derives them (and the counts' forward keeps none)."""
    events = _on_only(num_steps=12, batch=13, seed=9)
    linear, recurrent = _layer(events.num_inputs, 20, seed=5)
    params, readout_params = LIFParams(tau=3.0, threshold=0.5), LIFParams(tau=2.0, threshold=0.5)
    readout = _readout(20, 7, seed=7)
    spikes = reference_recurrent(events.to_dense(torch.float64), linear, recurrent, params)
    expected = reference_counts(spikes, [(readout, readout_params)])
    got = event_recurrent_counts(events, linear, recurrent, params, readout, readout_params)
    assert torch.equal(got, expected) and 0 < expected.mean() < 12 and 0.05 < spikes.mean() < 0.5
    leaves = [linear.weight, linear.bias, recurrent, readout.weight, readout.bias]
    for mine, theirs in zip(_grads(got, leaves), _grads(expected, leaves)):
        torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-11)
        assert theirs.abs().sum() > 0


def test_the_network_takes_the_fused_readout_for_events_and_gives_the_same_counts_without_gradients() -> None:
    events = _on_only(num_steps=14, batch=10, inputs=40, seed=8)
    torch.manual_seed(3)
    hidden, output = ALIFParams(tau=3.0, tau_adapt=6.0, beta=0.4, threshold=0.3), LIFParams(tau=2.0, threshold=0.5)
    net = SNN("16ra-5", [hidden, output], "fast", (40,)).double()
    with torch.no_grad():
        net.layers[0].linear.weight.mul_(4.0)
        net.layers[1].linear.weight.mul_(4.0)
    counts = net(events)
    assert type(counts.grad_fn).__name__.startswith("_EventRecurrentCounts") and counts.sum() > 0
    with torch.no_grad():
        assert torch.equal(net(events), counts.detach())
    net.engine = "reference"
    assert torch.equal(net(events), counts.detach())


def test_refusals_and_the_unfused_path_for_a_readout_it_does_not_take() -> None:
    events = _on_only(batch=5)
    linear, recurrent = _layer(events.num_inputs, 12, seed=7)
    params = ALIFParams(tau=3.0, tau_adapt=6.0, beta=0.4, threshold=0.8)
    readout = _readout(12, 4, seed=8)
    learned = LIFParams(tau=torch.full((4,), 2.0, dtype=torch.float64, requires_grad=True), threshold=0.5)
    assert not supports_event_recurrent_counts(linear, recurrent, readout, learned)
    expected = reference_counts(reference_recurrent(events, linear, recurrent, params), [(readout, learned)])
    got = fast_recurrent_counts(events, linear, recurrent, params, [(readout, learned)])
    assert not type(got.grad_fn).__name__.startswith("_EventRecurrentCounts") and torch.equal(got, expected)
    with pytest.raises(ValueError, match="plain LIF"):
        event_recurrent_counts(events, linear, recurrent, params, readout, learned)
    with pytest.raises(ValueError, match="events have"):
        event_recurrent_counts(_on_only(inputs=9), linear, recurrent, params, readout, LIFParams())
    with pytest.raises(ValueError, match="readout"):
        event_recurrent_counts(events, linear, recurrent, params, _readout(11, 4, seed=8), LIFParams())


def test_a_readout_with_time_weights_or_of_another_dtype_is_refused() -> None:
    events = _on_only(batch=2)
    linear, recurrent = _layer(events.num_inputs, 6, seed=24)
    for readout, weights, message in ((_readout(6, 3, seed=25), torch.ones(11, dtype=torch.float64), "not both"),
                                      (_readout(6, 3, seed=25, dtype=torch.float32), None, "readout must be")):
        with pytest.raises(ValueError, match=message):
            event_recurrent_layer(events, linear.weight, linear.bias, recurrent, LIFParams(), weights, readout)
    with pytest.raises(ValueError, match="not both"):
        reference_recurrent(events.to_dense(torch.float64), linear, recurrent, LIFParams(),
                            torch.ones(11, dtype=torch.float64), _readout(6, 3, seed=25))
