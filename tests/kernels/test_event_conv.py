"""The event-driven conv layer equals the reference conv loop on the same spikes, forward and backward,
including complement-coded events (defaults with off events) from the Poisson sampler."""

import pytest
import torch

from spikekit.data.encoding import poisson_encode_events
from spikekit.dynamics.lif import LIFParams
from spikekit.kernels import events_from_dense
from spikekit.kernels.conv import reference_conv_layer
from spikekit.kernels.event_conv import ImageEvents, event_conv_layer


def _conv(in_channels: int, kernel: int, dtype=torch.float64) -> torch.nn.Conv2d:
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(in_channels, 5, kernel, padding=kernel // 2).to(dtype)
    with torch.no_grad():
        conv.weight.mul_(3.0)
    return conv


def _compare(inputs: ImageEvents, conv: torch.nn.Conv2d, params: LIFParams, rtol: float = 1e-10) -> None:
    fast = event_conv_layer(inputs, conv.weight, conv.bias, params).permute(0, 1, 4, 2, 3)
    reference = reference_conv_layer(inputs, conv, params)
    assert torch.equal(fast, reference) and 0 < reference.mean() < 1
    weights = torch.randn(reference.shape, dtype=reference.dtype, generator=torch.Generator().manual_seed(5))
    got = torch.autograd.grad((fast * weights).sum(), [conv.weight, conv.bias])
    expected = torch.autograd.grad((reference * weights).sum(), [conv.weight, conv.bias])
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=rtol, atol=rtol)


@pytest.mark.parametrize(("channels", "kernel", "params"), [
    (1, 5, LIFParams(threshold=0.5)),
    (2, 3, LIFParams(tau=3.0, threshold=0.8, reset=-0.2, surrogate="atan", slope=4.0)),
    (3, 1, LIFParams(threshold=0.3, surrogate="triangle", slope=2.0)),
])
def test_event_conv_equals_reference_on_plain_events(channels: int, kernel: int, params: LIFParams) -> None:
    dense = (torch.rand(6, 4, channels * 7 * 6, generator=torch.Generator().manual_seed(1)) < 0.3).double()
    _compare(ImageEvents(events_from_dense(dense), (channels, 7, 6)), _conv(channels, kernel), params)


@pytest.mark.parametrize("num_steps", [1, 2, 3, 25])
def test_event_conv_equals_reference_on_complement_coded_poisson_events(num_steps: int) -> None:
    generator = torch.Generator().manual_seed(2)
    intensity = torch.rand(5, 100, generator=generator, dtype=torch.float64) ** 0.5  # many p >= 1/2: defaults
    events = poisson_encode_events(intensity, num_steps, generator)
    assert int(events.events().num_defaults.sum()) > 0
    _compare(ImageEvents(events, (1, 10, 10)), _conv(1, 5), LIFParams(threshold=0.6))


def test_event_conv_inference_equals_training_forward() -> None:
    dense = (torch.rand(3, 5, 64, generator=torch.Generator().manual_seed(3)) < 0.3).float()
    inputs, conv = ImageEvents(events_from_dense(dense), (1, 8, 8)), _conv(1, 3, torch.float32)
    with torch.no_grad():
        inference = event_conv_layer(inputs, conv.weight, conv.bias, LIFParams())
    assert torch.equal(inference, event_conv_layer(inputs, conv.weight, conv.bias, LIFParams()))


def test_events_that_do_not_fit_the_conv_are_refused() -> None:
    events = events_from_dense(torch.zeros(2, 1, 50))
    with pytest.raises(ValueError, match=r"events of 50 inputs as \[1, 7, 7\] do not fit"):
        event_conv_layer(ImageEvents(events, (1, 7, 7)), torch.zeros(3, 1, 3, 3), torch.zeros(3), LIFParams())
