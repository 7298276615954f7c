"""The leaky readout: its closed form equals stepping leaky integrators (over the whole sequence or its last part),
on both engines, with gradients."""

import pytest
import torch

from spikekit.dynamics.lif import LIFParams
from spikekit.nn.network import SNN
from spikekit.nn.readout import check_readout, check_window, leaky_scores


def _stepped(spikes: torch.Tensor, linear: torch.nn.Linear, tau: torch.Tensor | float, last: int = 0) -> torch.Tensor:
    """Mean over the ``last`` steps (0: all) of V[t] = V[t-1] + (W s[t] + b - V[t-1]) / tau, step by step."""
    membrane, kept = torch.zeros(spikes.shape[1], linear.out_features, dtype=spikes.dtype), []
    for spikes_t in spikes:
        membrane = membrane + (linear(spikes_t) - membrane) / tau
        kept.append(membrane)
    return torch.stack(kept[-last if last else 0:]).mean(0)


@pytest.mark.parametrize(("window", "last"), [(1.0, 0), (0.5, 25), (0.2, 10), (0.001, 1)])
@pytest.mark.parametrize("tau", [3.0, "per-neuron"])
def test_the_closed_form_is_the_mean_membrane_of_the_stepped_integrators(tau, window: float, last: int) -> None:
    torch.manual_seed(0)
    linear = torch.nn.Linear(6, 4).double()
    spikes = (torch.rand(50, 3, 6, dtype=torch.float64) < 0.3).double()
    tau = torch.tensor([2.0, 3.5, 10.0, 40.0], dtype=torch.float64, requires_grad=True) if tau == "per-neuron" else tau
    got, expected = leaky_scores(spikes, linear, tau, window), _stepped(spikes, linear, tau, last)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    leaves = [linear.weight, linear.bias, *([tau] if isinstance(tau, torch.Tensor) else [])]
    for mine, theirs in zip(torch.autograd.grad(got.sum(), leaves), torch.autograd.grad(expected.sum(), leaves)):
        torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-12)


def test_an_snn_with_the_leaky_readout_scores_and_reports_hidden_spikes_only() -> None:
    torch.manual_seed(1)
    net = SNN("8r-5-3", LIFParams(tau=4.0, threshold=0.3), input_shape=(4,), readout="leaky").double()
    inputs = (torch.rand(20, 2, 4, dtype=torch.float64) < 0.5).double()
    scores, spikes = net.scores_and_spikes(inputs)
    assert [s.shape[-1] for s in spikes] == [8, 5]
    torch.testing.assert_close(net(inputs), scores)
    torch.testing.assert_close(scores, _stepped(spikes[-1], net.layers[-1].linear, 4.0), rtol=1e-12, atol=1e-12)
    net.engine = "reference"
    torch.testing.assert_close(net(inputs), scores, rtol=1e-12, atol=1e-12)


def test_a_windowed_snn_scores_the_last_steps_on_both_engines() -> None:
    torch.manual_seed(2)
    net = SNN("8ra-3", LIFParams(tau=4.0, threshold=0.3), input_shape=(4,), readout="leaky",
              readout_window=0.25).double()
    inputs = (torch.rand(40, 2, 4, dtype=torch.float64) < 0.5).double()
    scores, spikes = net.scores_and_spikes(inputs)
    torch.testing.assert_close(scores, _stepped(spikes[-1], net.layers[-1].linear, 4.0, 10), rtol=1e-12, atol=1e-12)
    net.engine = "reference"
    torch.testing.assert_close(net(inputs), scores, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("window", [0, -0.5, 1.5, True, "half"])
def test_a_window_outside_the_sequence_is_refused(window) -> None:
    with pytest.raises(ValueError, match=r"readout window must be a fraction of the steps in \(0, 1\]"):
        check_window(window)


def test_a_window_needs_the_leaky_readout() -> None:
    with pytest.raises(ValueError, match="readout_window 0.5 needs the leaky readout, not 'counts'"):
        SNN("4-3", LIFParams(), input_shape=(2,), readout_window=0.5)


def test_an_unknown_readout_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown readout 'last'; choose one of counts, leaky"):
        check_readout("last")


def test_nir_export_refuses_the_leaky_readout_in_one_line() -> None:
    from spikekit.io.nir import NIRError, to_nir
    with pytest.raises(NIRError, match="the leaky readout .* has no NIR form"):
        to_nir(SNN("4-3", LIFParams(), input_shape=(2,), readout="leaky"))


def test_the_leaky_readout_needs_output_neurons_with_a_tau() -> None:
    with pytest.raises(ValueError, match="the leaky readout integrates with its output layer's tau, and brf neurons"):
        SNN("16rb-10b", input_shape=(1,), readout="leaky")
    SNN("16rb-10", input_shape=(1,), readout="leaky")  # BRF below, LIF at the output: fine
    SNN("16rb-10b", input_shape=(1,), readout="counts")  # spike counts need no tau


@pytest.mark.parametrize("window", [1.0, 0.5])
def test_a_recurrent_layer_under_the_leaky_readout_makes_its_sum_in_the_pass(window, monkeypatch) -> None:
    # Event input and one output tau: the fast engine's event-fed recurrent kernel makes sum_t w[t] s[t] itself;
    # scores, hidden spikes and every gradient equal the reference engine's, which sums the spikes after its loop.
    import spikekit.kernels.fast as fast
    from spikekit.spike_events import events_from_dense
    calls = []
    fused = fast.event_recurrent_layer
    monkeypatch.setattr(fast, "event_recurrent_layer", lambda *args: calls.append(args[5]) or fused(*args))  # w
    torch.manual_seed(3)
    net = SNN("12ra-4", LIFParams(tau=4.0, threshold=0.3), input_shape=(6,), readout="leaky",
              readout_window=window).double()
    dense = (torch.rand(30, 5, 6, dtype=torch.float64) < 0.4).double()
    scores, spikes = net.scores_and_spikes(events_from_dense(dense))
    assert len(calls) == 1 and calls[0].shape == (30,)
    grads = torch.autograd.grad(scores.sum(), list(net.parameters()))
    net.engine = "reference"
    expected, expected_spikes = net.scores_and_spikes(dense)
    assert torch.equal(spikes[0], expected_spikes[0]) and 0.02 < spikes[0].mean() < 0.5
    torch.testing.assert_close(scores, expected, rtol=1e-12, atol=1e-12)
    stepped = _stepped(expected_spikes[0], net.layers[-1].linear, 4.0, 15 if window < 1 else 0)
    torch.testing.assert_close(scores, stepped, rtol=1e-12, atol=1e-12)
    for mine, theirs in zip(grads, torch.autograd.grad(expected.sum(), list(net.parameters()))):
        torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-11)


def test_a_conv_first_layer_fed_events_under_a_recurrent_layer_and_the_leaky_readout() -> None:
    # T comes from the inputs as given (a conv layer takes them as ImageEvents, which have no step axis): 5 steps
    # and 2 channels, where reading the channels as the steps once gave the sum weights of the wrong length
    from spikekit.spike_events import events_from_dense
    torch.manual_seed(4)
    net = SNN("2c3-6r-3", LIFParams(tau=4.0, threshold=0.3), input_shape=(2, 4, 4), readout="leaky").double()
    dense = (torch.rand(5, 3, 2 * 4 * 4, dtype=torch.float64) < 0.5).double()
    scores, spikes = net.scores_and_spikes(events_from_dense(dense))
    net.engine = "reference"
    expected, expected_spikes = net.scores_and_spikes(dense.reshape(5, 3, 2, 4, 4))
    torch.testing.assert_close(scores, expected, rtol=1e-12, atol=1e-12)
    assert torch.equal(spikes[1], expected_spikes[1])


@pytest.mark.parametrize("fed", ["dense", "events"])
def test_a_recurrent_layer_under_a_learned_tau_makes_the_readouts_current_in_its_passes(fed: str, monkeypatch) -> None:
    # One learned tau per output neuron (weights [T, C] that want a gradient): the fast engine's recurrent kernels make
    # the output layer's current W2 s[t] + b2 themselves; scores and every gradient (tau's included) equal the
    # reference engine's, which runs the output's linear after its loop.
    import spikekit.kernels.fast as fast
    from spikekit.dynamics.alif import ALIFParams
    from spikekit.nn.neurons import LIF
    from spikekit.spike_events import events_from_dense
    kernel = "event_recurrent_layer" if fed == "events" else "recurrent_scan"
    calls, fused = [], getattr(fast, kernel)
    monkeypatch.setattr(fast, kernel, lambda *args: calls.append(args[-2:]) or fused(*args))  # (readout, spikes)
    torch.manual_seed(5)
    output = LIF(learn=("tau",), shape=4, tau=torch.tensor([2.0, 3.5, 10.0, 40.0]))  # per-neuron, learned
    net = SNN("12ra-4", [ALIFParams(tau=4.0, threshold=0.3), output], input_shape=(6,), readout="leaky",
              readout_window=0.5).double()
    dense = (torch.rand(30, 5, 6, dtype=torch.float64) < 0.4).double()
    inputs = events_from_dense(dense) if fed == "events" else dense
    scores, spikes = net.scores_and_spikes(inputs)
    assert len(calls) == 1 and calls[0][0] is net.layers[-1].linear and calls[0][1] is True
    assert torch.equal(net(inputs), scores.detach()) and calls[1][1] is False  # scores alone: no spike tensor made
    grads = torch.autograd.grad((scores * torch.arange(1.0, 5.0, dtype=torch.float64)).sum(), list(net.parameters()))
    net.engine = "reference"
    expected, expected_spikes = net.scores_and_spikes(dense)
    assert torch.equal(spikes[0], expected_spikes[0]) and 0.02 < spikes[0].mean() < 0.5
    torch.testing.assert_close(scores, expected, rtol=1e-12, atol=1e-12)
    stepped = _stepped(expected_spikes[0], net.layers[-1].linear, net.layers[-1].neuron.constant("tau"), 15)
    torch.testing.assert_close(scores, stepped, rtol=1e-12, atol=1e-12)
    names = [name for name, _ in net.named_parameters()]
    theirs = torch.autograd.grad((expected * torch.arange(1.0, 5.0, dtype=torch.float64)).sum(), list(net.parameters()))
    assert any("tau" in name for name in names)
    for name, mine, reference in zip(names, grads, theirs):
        torch.testing.assert_close(mine, reference, rtol=1e-9, atol=1e-11, msg=name)
        assert reference.abs().sum() > 0, name
