"""The counter-based sampler's events: the same spikes whole or drawn per batch slice."""

import torch

from spikekit.data.encoding import poisson_encode_events
from spikekit.nn import SNN


def _intensity(batch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(batch, 50, generator=generator) * (torch.rand(batch, 50, generator=generator) < 0.6)


def test_a_slice_draws_the_spikes_of_the_whole() -> None:
    lazy = poisson_encode_events(_intensity(10), 7, torch.Generator().manual_seed(3))
    whole = lazy.to_dense()
    for start, stop in ((0, 4), (4, 10), (3, 5), (9, 10)):
        assert torch.equal(lazy.batch_slice(start, stop).to_dense(), whole[:, start:stop])
    assert lazy.shape == (7, 10, 50) and whole.sum() > 0


def test_chunked_inference_equals_the_whole_batch() -> None:
    torch.manual_seed(0)
    model = SNN((50, 20, 4), engine="fast")
    with torch.no_grad():
        for layer in model.layers:
            layer.linear.weight.mul_(3)
    lazy = poisson_encode_events(_intensity(300), 12, torch.Generator().manual_seed(4))  # 3 chunks of <= 128
    with torch.no_grad():
        chunked = model(lazy)
    whole = model(lazy).detach()  # with gradients on: one pass over all 300 samples
    assert torch.equal(chunked, whole) and whole.sum() > 0
