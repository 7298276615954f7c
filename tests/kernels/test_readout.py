"""The readout's LIF counts (``kernels.readout``): ``counts_from_current`` of a readout's current equals
``readout_counts`` of its input spikes, forward and backward (float64)."""

import pytest
import torch

from spikekit.dynamics.lif import LIFParams
from spikekit.kernels.readout import counts_from_current, readout_counts


def test_counts_from_a_current_equal_the_readouts_with_gradients() -> None:
    torch.manual_seed(0)
    spikes = (torch.rand(40, 7, 12, dtype=torch.float64) < 0.3).double().requires_grad_()
    linear = torch.nn.Linear(12, 5).double()
    with torch.no_grad():
        linear.weight.mul_(3.0)
    params = LIFParams(tau=3.0, threshold=0.8)
    expected = readout_counts(spikes, linear, params)
    got = counts_from_current(linear(spikes), params)
    assert torch.equal(got, expected) and 0 < expected.mean() < 30
    scale = torch.randn(7, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    leaves = [spikes, linear.weight, linear.bias]
    for mine, theirs in zip(torch.autograd.grad((got * scale).sum(), leaves),
                            torch.autograd.grad((expected * scale).sum(), leaves)):
        torch.testing.assert_close(mine, theirs, rtol=1e-12, atol=1e-12)
        assert theirs.abs().sum() > 0


def test_a_current_that_is_not_float_cpu_t_b_k_is_refused() -> None:
    for current in (torch.zeros(4, 3, dtype=torch.float64), torch.zeros(4, 3, 2, dtype=torch.int64)):
        with pytest.raises(ValueError, match="counts_from_current needs a float32/float64 CPU current"):
            counts_from_current(current, LIFParams())
