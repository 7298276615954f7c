"""The check shared by the event-layer tests: same spikes and gradients as the reference layer."""

import torch

from spikekit.dynamics.lif import LIFParams
from spikekit.kernels import SpikeEvents, event_lif_layer
from spikekit.kernels.reference import reference_layer


def assert_event_layer_matches_reference(events: SpikeEvents, dense: torch.Tensor, num_outputs: int,
                                         weight_scale: float, params: LIFParams) -> None:
    """``event_lif_layer`` on ``events`` gives exactly the reference layer's spikes on ``dense`` (float64,
    the same spikes), some but not all neurons firing, and its weight and bias gradients within float
    tolerance, for a seeded ``nn.Linear`` whose weights are scaled by ``weight_scale``."""
    torch.manual_seed(3)
    linear = torch.nn.Linear(dense.shape[2], num_outputs).double()
    with torch.no_grad():
        linear.weight.mul_(weight_scale)
    got = event_lif_layer(events, linear.weight, linear.bias, params)
    expected = reference_layer(dense, linear, params)
    assert torch.equal(got, expected) and 0 < expected.mean() < 1
    grad = torch.randn(expected.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    got_grads = torch.autograd.grad((got * grad).sum(), (linear.weight, linear.bias))
    expected_grads = torch.autograd.grad((expected * grad).sum(), (linear.weight, linear.bias))
    for mine, theirs in zip(got_grads, expected_grads):
        torch.testing.assert_close(mine, theirs, rtol=1e-10, atol=1e-12)
