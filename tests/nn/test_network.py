import pytest
import torch

from spikekit.dynamics.lif import LIFParams
from spikekit.nn import SNN


def test_forward_returns_counts_and_layer_spikes_are_binary() -> None:
    net = SNN((12, 6, 3), engine="reference")
    inputs = (torch.rand(10, 4, 12) < 0.5).float()
    counts = net(inputs)
    layers = net.layer_spikes(inputs)
    assert counts.shape == (4, 3)
    assert [tuple(s.shape) for s in layers] == [(10, 4, 6), (10, 4, 3)]
    assert torch.equal(counts, layers[-1].sum(0))
    assert all(set(s.unique().tolist()) <= {0.0, 1.0} for s in layers)


def test_state_is_reset_every_forward() -> None:
    net = SNN((12, 6, 3))
    with torch.no_grad():
        for layer in net.layers:
            layer.linear.weight.mul_(5)
    inputs = (torch.rand(10, 4, 12) < 0.5).float()
    assert torch.equal(net(inputs), net(inputs))


def test_trace_matches_the_engine_spikes() -> None:
    per_layer = [LIFParams(threshold=0.5), LIFParams(tau=3.0, threshold=0.8)]
    net = SNN((12, 6, 3), per_layer, engine="reference")
    inputs = (torch.rand(10, 4, 12) < 0.5).float()
    traces = net.trace(inputs)
    for trace, spikes, params in zip(traces, net.layer_spikes(inputs), per_layer):
        assert torch.equal(trace.spikes, spikes)
        assert torch.equal(trace.spikes.bool(), trace.membrane >= params.threshold)


def test_one_params_per_layer_or_an_error() -> None:
    with pytest.raises(ValueError, match="2 spiking layers need as many neurons \\(Params or modules\\), got 1"):
        SNN((12, 6, 3), [LIFParams()])


@pytest.mark.parametrize("sizes", [(784,), (784, 0, 10), (784, -3, 10), ()])
def test_bad_sizes_are_refused(sizes) -> None:
    with pytest.raises(ValueError, match="layer sizes must be"):
        SNN(sizes)


def test_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown engine 'turbo'; choose one of reference, fast"):
        SNN((4, 2), engine="turbo")
