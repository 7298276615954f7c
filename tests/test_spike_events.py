"""``binary_events``: a dense tensor of 0s and 1s as events, and ``None`` for anything the event path cannot take."""

import torch

from spikekit.spike_events import binary_events, events_from_dense


def _spikes(shape=(4, 3, 50), density=0.2, seed=0, dtype=torch.float32) -> torch.Tensor:
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < density).to(dtype)


def test_binary_spikes_become_the_same_events() -> None:
    for dtype in (torch.float32, torch.float64):
        spikes = _spikes(dtype=dtype)
        events = binary_events(spikes)
        assert torch.equal(events.to_dense(dtype), spikes)
        reference = events_from_dense(spikes)
        assert torch.equal(events.num_on, reference.num_on)
        assert torch.equal(events.to_dense(dtype), reference.to_dense(dtype))
    silent = torch.zeros(3, 2, 10)
    assert torch.equal(binary_events(silent).to_dense(), silent)


def test_anything_else_stays_dense() -> None:
    spikes = _spikes()
    assert binary_events(spikes * 0.5) is None  # analog values
    odd = spikes.clone()
    odd[3, 2, 49] = 2.0  # one value other than 0 and 1, in the last place
    assert binary_events(odd) is None
    assert binary_events(spikes.clone().requires_grad_()) is None  # its gradient would be lost
    assert binary_events(spikes.to(torch.int64)) is None
    assert binary_events(spikes[0]) is None  # not [T, B, N]
    assert binary_events(torch.zeros(0, 3, 5)) is None
