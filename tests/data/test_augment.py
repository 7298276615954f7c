import pytest
import torch
import torch.nn.functional as F

from spikekit.data.augment import _gather_shift, random_shift


def _loop_shift(images: torch.Tensor, shape: tuple[int, int, int], max_shift: int, seed: int) -> torch.Tensor:
    """The same offsets as random_shift (two draws of B integers), applied one image at a time."""
    generator = torch.Generator().manual_seed(seed)
    span, batch = 2 * max_shift + 1, images.shape[0]
    dy = torch.randint(0, span, (batch,), generator=generator)
    dx = torch.randint(0, span, (batch,), generator=generator)
    padded = F.pad(images.reshape(batch, *shape), (max_shift,) * 4)
    _, height, width = shape
    return torch.stack([padded[b, :, dy[b]:dy[b] + height, dx[b]:dx[b] + width] for b in range(batch)]).reshape(
        batch, -1)


@pytest.mark.parametrize("shape, max_shift", [((1, 28, 28), 1), ((2, 6, 7), 2), ((3, 5, 5), 3)])
def test_shift_matches_a_per_image_loop(shape: tuple[int, int, int], max_shift: int) -> None:
    images = torch.rand(9, shape[0] * shape[1] * shape[2])
    shifted = random_shift(images, shape, max_shift, torch.Generator().manual_seed(4))
    expected = _loop_shift(images, shape, max_shift, 4)
    assert torch.equal(shifted, expected)
    # The torch path (other devices and dtypes) gives the same images from the same offsets.
    generator, batch = torch.Generator().manual_seed(4), images.shape[0]
    dy, dx = (torch.randint(0, 2 * max_shift + 1, (batch,), generator=generator) - max_shift for _ in range(2))
    assert torch.equal(_gather_shift(images, shape, max_shift, dy, dx), expected)
    assert torch.equal(random_shift(images.double(), shape, max_shift, torch.Generator().manual_seed(4)),
                       expected.double())
    assert torch.equal(random_shift(images.bfloat16(), shape, max_shift, torch.Generator().manual_seed(4)),
                       _loop_shift(images.bfloat16(), shape, max_shift, 4))


def test_a_centred_digit_moves_whole_and_offsets_cover_the_range() -> None:
    image = torch.zeros(1, 28, 28)
    image[0, 10:18, 12:16] = 1.0  # far from the border: a shift loses nothing
    images = image.reshape(1, -1).repeat(400, 1)
    shifted = random_shift(images, (1, 28, 28), 2, torch.Generator().manual_seed(0)).reshape(400, 28, 28)
    assert torch.equal(shifted.sum((1, 2)), images.sum(1))
    rows = shifted.sum(2).argmax(1) - 10  # first lit row moved by dy - 2
    cols = shifted.sum(1).argmax(1) - 12
    assert set(rows.tolist()) == set(range(-2, 3)) and set(cols.tolist()) == set(range(-2, 3))


def test_no_shift_and_flat_inputs_are_unchanged() -> None:
    images = torch.rand(3, 784)
    generator = torch.Generator().manual_seed(0)
    assert random_shift(images, (1, 28, 28), 0, generator) is images
    assert random_shift(images, (784,), 2, generator) is images
    with pytest.raises(ValueError, match="max_shift"):
        random_shift(images, (1, 28, 28), -1, generator)
    with pytest.raises(ValueError, match=r"must be \[B, 784\] for images of shape \[1, 28, 28\], got \[3, 700\]"):
        random_shift(images[:, :700], (1, 28, 28), 1, generator)
