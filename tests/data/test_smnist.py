"""S-MNIST and PS-MNIST: one pixel a step, in row-major order or in the one documented permutation."""

import pytest
import torch

from spikekit.data.smnist import PERMUTATION_SEED, SEQUENCE_LENGTH, SequenceSplit, permutation, sequences


def _images(count: int) -> torch.Tensor:
    return torch.randint(0, 256, (count, 784), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_smnist_presents_pixel_t_at_step_t() -> None:
    images = _images(3)
    x = sequences(images, torch.arange(3), "smnist").inputs(torch.tensor([2, 0]))
    assert x.shape == (SEQUENCE_LENGTH, 2, 1) and x.dtype == torch.float32
    torch.testing.assert_close(x[:, 0, 0], images[2].float() / 255, rtol=0, atol=0)
    torch.testing.assert_close(x[:, 1, 0], images[0].float() / 255, rtol=0, atol=0)


def test_the_permutation_is_a_fixed_permutation_of_the_784_pixels() -> None:
    order = permutation()
    assert sorted(order.tolist()) == list(range(784))
    assert torch.equal(order, permutation(PERMUTATION_SEED))
    # The task itself: pinned, so that a change of seed or of torch's generator cannot silently change PS-MNIST.
    assert order[:8].tolist() == PINNED_START


PINNED_START = [369, 780, 119, 661, 672, 16, 13, 482]  # torch.randperm(784) seeded with 28, torch 2.13


def test_psmnist_presents_pixel_order_t_at_step_t() -> None:
    images = _images(2)
    x = sequences(images, torch.arange(2), "psmnist").inputs(slice(0, 2))
    order = permutation()
    torch.testing.assert_close(x[:, 1, 0], images[1, order].float() / 255, rtol=0, atol=0)
    assert not torch.equal(x[:, 1, 0], images[1].float() / 255)


def test_hold_out_keeps_the_order_and_splits_at_the_end() -> None:
    split = sequences(_images(10), torch.arange(10), "psmnist")
    train, val = split.hold_out(3)
    assert len(train.labels) == 7 and val.labels.tolist() == [7, 8, 9] and torch.equal(val.order, split.order)
    with pytest.raises(ValueError, match="cannot hold out 10 of 10"):
        split.hold_out(10)


def test_an_unknown_task_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown sequence task 'xmnist'"):
        sequences(_images(1), torch.zeros(1), "xmnist")
    assert SequenceSplit(_images(1), torch.zeros(1)).order is None
