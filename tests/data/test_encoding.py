import pytest
import torch

from spikekit.data.augment import shift_offsets
from spikekit.data.encoding import poisson_encode, poisson_encode_byte_events, poisson_encode_events
from spikekit.data.shift import shift_images

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


def _events_equal(mine, theirs) -> bool:
    a, b = mine.events(), theirs.events()
    return (a.shape == b.shape and torch.equal(a.num_on, b.num_on) and torch.equal(a.num_off, b.num_off)
            and torch.equal(a.num_defaults, b.num_defaults) and torch.equal(mine.to_dense(), theirs.to_dense()))


@pytest.mark.parametrize(("shape", "max_shift"), [((1, 28, 28), 1), ((2, 5, 7), 3), ((1, 1, 70), 0)])
def test_byte_events_equal_the_float_path(shape, max_shift) -> None:
    channels, height, width = shape
    generator = torch.Generator().manual_seed(11)
    images = torch.randint(0, 256, (40, channels * height * width), dtype=torch.uint8, generator=generator)
    images[0, :256 if images.shape[1] >= 256 else None] = torch.arange(256, dtype=torch.uint8)[:images.shape[1]]
    images[1] = 0  # an empty image
    byte_intensity = torch.arange(256).float() / 255
    index = torch.tensor([0, 1, 39, 7, 7, 2, 0, 13, 21, 5, 30])  # repeats, any order
    offsets = shift_offsets(len(index), max_shift, torch.Generator().manual_seed(12)) if max_shift else None
    mine = poisson_encode_byte_events(images, index, byte_intensity, 9, torch.Generator().manual_seed(13), shape,
                                      offsets)
    intensity = byte_intensity[images[index].long()]
    if offsets is not None:
        shifted = torch.empty_like(intensity)
        shift_images(intensity.numpy(), offsets[0].numpy(), offsets[1].numpy(), *shape, shifted.numpy())
        assert not torch.equal(shifted, intensity)
        intensity = shifted
    theirs = poisson_encode_events(intensity, 9, torch.Generator().manual_seed(13))
    assert _events_equal(mine, theirs) and mine.events().num_spikes() > 0


def test_byte_events_refuse_bad_input() -> None:
    images, table, generator = torch.zeros(4, 6, dtype=torch.uint8), torch.linspace(0, 1, 256), torch.Generator()
    with pytest.raises(IndexError, match="1 image indices out of range for 4 images"):
        poisson_encode_byte_events(images, torch.tensor([0, 4]), table, 3, generator)
    with pytest.raises(IndexError, match="2 image indices out of range"):
        poisson_encode_byte_events(images, torch.tensor([-1, 2, 9]), table, 3, generator)
    with pytest.raises(ValueError, match=r"\[N, P\] uint8"):
        poisson_encode_byte_events(images.float(), torch.tensor([0]), table, 3, generator)
    with pytest.raises(ValueError, match="256 values in"):
        poisson_encode_byte_events(images, torch.tensor([0]), table[:255], 3, generator)
    with pytest.raises(ValueError, match="128 are not"):
        poisson_encode_byte_events(images, torch.tensor([0]), table * 2, 3, generator)
    with pytest.raises(ValueError, match="1 are not"):
        poisson_encode_byte_events(images, torch.tensor([0]), torch.cat([table[:255], torch.tensor([float("nan")])]),
                                   3, generator)
    with pytest.raises(ValueError, match=r"is not \(C, H, W\) of 6 pixels"):
        poisson_encode_byte_events(images, torch.tensor([0]), table, 3, generator, (1, 2, 2))
    with pytest.raises(ValueError, match="num_steps"):
        poisson_encode_byte_events(images, torch.tensor([0]), table, 0, generator)
