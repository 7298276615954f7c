"""RecurrentLayer: the grammar's ``r`` suffix builds it, its U starts orthogonal, both engines agree inside an SNN
(hidden and output positions), its trace replays the same spikes."""

import torch

from spikekit.dynamics.alif import ALIFParams
from spikekit.dynamics.lif import LIFParams
from spikekit.nn.network import SNN
from spikekit.nn.recurrent import RecurrentLayer
from spikekit.nn.spec import parse_arch


def test_the_r_suffix_makes_a_recurrent_layer_of_the_named_model() -> None:
    specs = parse_arch("64ra-256r-10")
    assert [(spec.recurrent, spec.neuron) for spec in specs] == [(True, "alif"), (True, ""), (False, "")]
    net = SNN("6ra-5r-3", LIFParams(), input_shape=(1,))
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == ["RecurrentLayer", "RecurrentLayer", "SNNLayer"]
    assert isinstance(net.layers[0].params, ALIFParams) and isinstance(net.layers[1].params, LIFParams)
    assert net.sizes == (1, 6, 5, 3) and net.ann_macs() == [(1 + 6) * 6, (6 + 5) * 5, 5 * 3]


def test_u_starts_orthogonal() -> None:
    torch.manual_seed(0)
    weight = RecurrentLayer(3, 16).recurrent.weight.detach()
    torch.testing.assert_close(weight @ weight.t(), torch.eye(16), atol=1e-5, rtol=0)


def _gradients(net: SNN, inputs: torch.Tensor, engine: str) -> tuple[torch.Tensor, list[torch.Tensor]]:
    net.engine = engine
    net.zero_grad()
    counts = net(inputs)
    (counts * torch.arange(1, counts.shape[1] + 1, dtype=counts.dtype)).sum().backward()
    return counts.detach(), [parameter.grad.clone() for parameter in net.parameters()]


def _check_engines_agree(net: SNN, inputs: torch.Tensor, num_parameters: int) -> None:
    """Counts equal and float64 gradients of every parameter within rounding, fast against reference, weights x4
    first so that every layer spikes."""
    with torch.no_grad():
        for layer in net.layers:
            layer.linear.weight.mul_(4.0)
    expected_counts, expected = _gradients(net, inputs, "reference")
    counts, grads = _gradients(net, inputs, "fast")
    assert torch.equal(counts, expected_counts) and expected_counts.sum() > 0
    assert len(grads) == len(expected) == num_parameters
    for mine, theirs in zip(grads, expected):
        torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-11)
        assert theirs.abs().sum() > 0


def test_engines_agree_for_recurrent_hidden_and_output_layers() -> None:
    torch.manual_seed(1)
    net = SNN("12ra-7-5r", ALIFParams(tau=3.0, tau_adapt=6.0, beta=0.4, threshold=0.3), input_shape=(4,)).double()
    inputs = (torch.rand(40, 6, 4, dtype=torch.float64) < 0.5).double()
    _check_engines_agree(net, inputs, 8)  # W, b, U of the two recurrent layers; W, b of the middle one


def test_a_recurrent_layer_under_two_readout_layers_goes_to_the_recurrent_count_engine() -> None:
    # the network hands the recurrent layer and the stack above it to RECURRENT_COUNT_ENGINES: both engines agree
    torch.manual_seed(2)
    net = SNN("10r-6-4", LIFParams(tau=3.0, threshold=0.3), input_shape=(5,)).double()
    inputs = (torch.rand(30, 5, 5, dtype=torch.float64) < 0.4).double()
    _check_engines_agree(net, inputs, 7)  # W, b, U of the recurrent layer; W, b of the two above it


def test_trace_replays_the_layers_spikes() -> None:
    torch.manual_seed(2)
    layer = RecurrentLayer(3, 8, LIFParams(tau=2.0, threshold=0.5))
    with torch.no_grad():
        layer.linear.weight.mul_(3.0)
    inputs = (torch.rand(30, 2, 3) < 0.5).float()
    with torch.no_grad():
        spikes = layer(inputs)
    trace = layer.trace(inputs)
    assert torch.equal(trace.spikes, spikes) and spikes.sum() > 0
    assert trace.membrane.shape == (30, 2, 8)


def test_a_recurrent_layer_fed_events_agrees_with_the_reference() -> None:
    """The fast engine makes the input current from the events themselves (kernels/event_linear.py)."""
    from spikekit.spike_events import events_from_dense

    torch.manual_seed(3)
    net = SNN("16ra-5", ALIFParams(tau=3.0, tau_adapt=6.0, beta=0.4, threshold=0.3), input_shape=(30,)).double()
    with torch.no_grad():
        net.layers[0].linear.weight.mul_(4.0)
    events = events_from_dense((torch.rand(25, 6, 30, dtype=torch.float64) < 0.2).double())
    expected_counts, expected = _gradients(net, events, "reference")
    counts, grads = _gradients(net, events, "fast")
    assert torch.equal(counts, expected_counts) and expected_counts.sum() > 0
    for mine, theirs in zip(grads, expected):
        torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-11)


def test_a_recurrent_layer_fed_dense_spikes_makes_the_counts_readouts_current_in_its_scan(monkeypatch) -> None:
    # the second recurrent layer is fed the first's dense spikes: the recurrent scan makes the LIF readout's current
    # (its ``readout``), whose counts run after it (counts_from_current); both engines agree
    import spikekit.kernels.fast as fast
    calls, counts_from_current = [], fast.counts_from_current
    monkeypatch.setattr(fast, "counts_from_current", lambda *args: calls.append(args) or counts_from_current(*args))
    torch.manual_seed(3)
    net = SNN("8ra-6ra-4", LIFParams(tau=3.0, threshold=0.3), input_shape=(5,)).double()  # a plain LIF readout
    inputs = (torch.rand(30, 6, 5, dtype=torch.float64) < 0.5).double()
    _check_engines_agree(net, inputs, 8)  # W, b, U of the two recurrent layers; W, b of the readout
    assert len(calls) == 1 and calls[0][0].shape == (30, 6, 4)
