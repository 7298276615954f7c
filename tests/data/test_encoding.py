import pytest
import torch

from spikekit.data.encoding import poisson_encode, poisson_encode_events

PROBABILITIES = torch.tensor([[0.0, 0.05, 0.13, 0.5, 0.87, 1.0, 3 / 256, 255 / 256]])


def _within_binomial_bounds(rate: torch.Tensor, p: torch.Tensor, trials: int) -> bool:
    sigma = torch.sqrt(p * (1 - p) / trials)
    return bool(((rate - p).abs() <= 5 * sigma + 1e-12).all())


@pytest.mark.parametrize("encoder", [poisson_encode, poisson_encode_events])
def test_rate_matches_intensity_within_binomial_bounds(encoder) -> None:
    intensity = PROBABILITIES.repeat(50, 1)  # [50, 8]
    spikes = encoder(intensity, 400, torch.Generator().manual_seed(1))
    dense = spikes if isinstance(spikes, torch.Tensor) else spikes.to_dense()
    assert dense.shape == (400, 50, 8)
    rate = dense.mean((0, 1))
    assert _within_binomial_bounds(rate, PROBABILITIES[0], 400 * 50)
    assert rate[0] == 0 and rate[5] == 1  # p = 0 never fires, p = 1 always


@pytest.mark.parametrize("encoder", [poisson_encode, poisson_encode_events])
def test_generator_is_honoured(encoder) -> None:
    intensity = torch.rand(4, 30, generator=torch.Generator().manual_seed(0))
    def draw(seed: int) -> torch.Tensor:
        spikes = encoder(intensity, 20, torch.Generator().manual_seed(seed))
        return spikes if isinstance(spikes, torch.Tensor) else spikes.to_dense()
    assert torch.equal(draw(3), draw(3))
    assert not torch.equal(draw(3), draw(4))


def test_steps_are_independent() -> None:
    # Consecutive steps of one pixel with p = 1/2 agree half the time, not always.
    spikes = poisson_encode_events(torch.full((1, 64), 0.5), 2000, torch.Generator().manual_seed(0)).to_dense()
    agreement = (spikes[1:] == spikes[:-1]).double().mean().item()
    assert abs(agreement - 0.5) < 0.01


@pytest.mark.parametrize("encoder", [poisson_encode, poisson_encode_events])
@pytest.mark.parametrize(("intensity", "steps", "message"), [
    (torch.full((1, 3), 1.5), 5, r"\[0, 1\]"), (torch.full((1, 3), float("nan")), 5, "NaN"),
    (torch.tensor([[0.2, -0.1, 0.5]]), 5, r"\[0, 1\]"),
    (torch.zeros(3), 5, r"\[B, P\]"), (torch.zeros(1, 3), 0, "num_steps must be an integer >= 1"),
])
def test_bad_input_is_refused(encoder, intensity, steps, message) -> None:
    with pytest.raises(ValueError, match=message):
        encoder(intensity, steps, torch.Generator())
