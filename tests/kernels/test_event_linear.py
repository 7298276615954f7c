"""event_linear: W x + b from spike events equals the dense product, forward and backward (float64)."""

import pytest
import torch
import torch.nn.functional as F

from spikekit.data.encoding import poisson_encode_events
from spikekit.kernels.event_linear import event_linear, supports_event_linear
from spikekit.spike_events import SpikeEvents, events_from_dense


def _complement_coded(num_steps=7, batch=5, inputs=30, seed=0) -> SpikeEvents:
    """Poisson events of intensities with many near-saturated inputs: defaults and off events both occur."""
    generator = torch.Generator().manual_seed(seed)
    intensity = torch.rand(batch, inputs, generator=generator) ** 0.3
    events = poisson_encode_events(intensity, num_steps, generator).events()
    assert int(events.num_defaults.sum()) > 0 and int(events.num_off.sum()) > 0
    return events


def _on_only(num_steps=6, batch=4, inputs=25, seed=1) -> SpikeEvents:
    spikes = (torch.rand(num_steps, batch, inputs, generator=torch.Generator().manual_seed(seed)) < 0.2).double()
    return events_from_dense(spikes)


@pytest.mark.parametrize("make", [_complement_coded, _on_only], ids=["complement coded", "on only"])
def test_forward_and_gradients_equal_the_dense_product(make) -> None:
    events = make()
    torch.manual_seed(2)
    weight = torch.randn(9, events.num_inputs, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(9, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(*events.shape[:2], 9, dtype=torch.float64)
    got = event_linear(events, weight, bias)
    expected = F.linear(events.to_dense(torch.float64), weight, bias)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    got_grads = torch.autograd.grad((got * upstream).sum(), (weight, bias))
    expected_grads = torch.autograd.grad((expected * upstream).sum(), (weight, bias))
    for mine, theirs in zip(got_grads, expected_grads):
        torch.testing.assert_close(mine, theirs, rtol=1e-12, atol=1e-12)


def test_float32_agrees_and_unsupported_weights_are_declined() -> None:
    events = _complement_coded()
    weight, bias = torch.randn(4, events.num_inputs), torch.randn(4)
    torch.testing.assert_close(event_linear(events, weight, bias), F.linear(events.to_dense(), weight, bias),
                               rtol=1e-5, atol=1e-5)
    assert supports_event_linear(weight, bias) and not supports_event_linear(weight, None)
    assert not supports_event_linear(weight.half(), bias.half())
    assert not supports_event_linear(weight, bias.double())
