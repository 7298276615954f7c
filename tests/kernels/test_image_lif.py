"""The LIF scan with max pooling fused in equals the reference LIF scan followed by torch's max pooling,
forward (same pooled spikes) and backward (same current gradients), ties and remainder rows included."""

import pytest
import torch
import torch.nn.functional as F

from spikekit.dynamics.lif import LIFParams, LIFState, lif_scan
from spikekit.kernels.image_lif import pooled_lif_scan


def _reference(current: torch.Tensor, params: LIFParams, pool: int) -> torch.Tensor:
    num_steps, batch, height, width, channels = current.shape
    spikes, _ = lif_scan(current, LIFState(torch.zeros(current.shape[1:], dtype=current.dtype)), params)
    images = spikes.permute(0, 1, 4, 2, 3).reshape(num_steps * batch, channels, height, width)
    pooled = F.max_pool2d(images, pool)
    return pooled.reshape(num_steps, batch, *pooled.shape[1:]).permute(0, 1, 3, 4, 2)


@pytest.mark.parametrize(("shape", "pool", "params"), [
    ((6, 3, 8, 8, 4), 2, LIFParams(threshold=0.5)),
    ((5, 2, 7, 9, 3), 2, LIFParams(tau=3.0, threshold=0.4, reset=-0.1, surrogate="atan", slope=3.0)),
    ((4, 3, 9, 10, 2), 3, LIFParams(threshold=0.3, surrogate="sigmoid", slope=8.0)),
])
def test_pooled_scan_equals_scan_then_max_pool(shape, pool: int, params: LIFParams) -> None:
    current = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_()
    got, expected = pooled_lif_scan(current, params, pool), _reference(current, params, pool)
    assert torch.equal(got, expected) and 0 < expected.mean() < 1
    assert (expected.sum((0, 1)) > 0).any()  # windows with several spikes: ties are exercised
    weights = torch.randn(expected.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (grad_got,) = torch.autograd.grad((got * weights).sum(), current)
    (grad_expected,) = torch.autograd.grad((expected * weights).sum(), current)
    torch.testing.assert_close(grad_got, grad_expected, rtol=1e-12, atol=1e-14)


def test_inference_equals_training_forward() -> None:
    current = torch.randn(3, 5, 6, 6, 2, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        inference = pooled_lif_scan(current, LIFParams(threshold=0.5), 2)
    assert torch.equal(inference, pooled_lif_scan(current.requires_grad_(), LIFParams(threshold=0.5), 2))
