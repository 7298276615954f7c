"""The counter-based sampler's events: the same spikes whole or drawn per batch slice."""

import torch

from spikekit.data.encoding import poisson_encode_events
from spikekit.dynamics.lif import LIFParams
from spikekit.nn import SNN
from tests.kernels.layer_check import assert_event_layer_matches_reference


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


def test_complement_coded_events_give_the_reference_layer_spikes_and_gradients() -> None:
    # Intensities spread over [0, 1]: about half the pixels are defaults with off events. 13 samples:
    # a full group of the fused layer and a partial one.
    intensity = torch.rand(13, 50, generator=torch.Generator().manual_seed(5))
    lazy = poisson_encode_events(intensity, 20, torch.Generator().manual_seed(6))
    events = lazy.events()
    assert int(events.num_defaults.sum()) > 100 and int(events.num_off.sum()) > 0 and int(events.num_on.sum()) > 0
    dense = lazy.to_dense().double()
    assert events.num_spikes() == int(dense.sum())
    assert_event_layer_matches_reference(events, dense, 7, 3.0, LIFParams(threshold=0.5))


def test_fast_engine_on_complement_events_spikes_like_the_reference_on_dense() -> None:
    torch.manual_seed(2)
    fast, reference = SNN((50, 30, 6), engine="fast"), SNN((50, 30, 6), engine="reference")
    with torch.no_grad():
        for layer in fast.layers:
            layer.linear.weight.mul_(3)
    reference.load_state_dict(fast.state_dict())
    lazy = poisson_encode_events(torch.rand(32, 50, generator=torch.Generator().manual_seed(8)), 25,
                                 torch.Generator().manual_seed(9))
    for mine, theirs in zip(fast.layer_spikes(lazy), reference.layer_spikes(lazy.to_dense())):
        assert torch.equal(mine, theirs)
        assert mine.sum() > 0


def test_every_pixel_active_and_the_extremes() -> None:
    # Every pixel active, the last one a default: the setup's compaction writes one past the pixels.
    # p = 1 must always spike, p = 0 never; the rest keep their rates.
    intensity = torch.tensor([[0.3] * 49 + [0.9], [1.0] * 25 + [0.0] * 25, [0.5] * 50])
    events = poisson_encode_events(intensity, 400, torch.Generator().manual_seed(7)).events()
    assert events.num_defaults.tolist() == [1, 25, 50]
    rates = events.to_dense().mean(0)  # [B, P]
    assert torch.equal(rates[1], intensity[1])
    for row in (0, 2):  # 400 steps: a rate's standard error is <= 0.025, so 0.1 is 4 of them
        assert (rates[row] - intensity[row]).abs().max() < 0.1
        assert abs(rates[row].mean() - intensity[row].mean()) < 0.01


def test_inputs_wider_than_int16_indices() -> None:
    # Past 32767 inputs the event indices are int32 (events.index_dtype), and so is the sampler's
    # selection of them; spikes stay Bernoulli at each pixel's rate.
    intensity = torch.zeros(2, 40_000)
    intensity[0, -600:] = 0.25  # indices past the int16 range
    intensity[1, -300:] = 0.75
    events = poisson_encode_events(intensity, 40, torch.Generator().manual_seed(3)).events()
    assert events.indices.dtype == torch.int32
    spikes = events.to_dense()
    assert spikes[:, :, :-600].sum() == 0
    rates = spikes[:, :, -600:].mean((0, 2))  # 40 x 600 draws each: standard error <= 0.003
    assert abs(rates[0] - 0.25) < 0.015 and abs(rates[1] - 0.375) < 0.015
