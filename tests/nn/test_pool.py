"""Pooling and flattening of spikes over time: values on binary spikes, gradients by finite differences."""

import pytest
import torch

from spikekit.nn import Flatten, Pool2d


def _spikes(shape, seed: int = 0) -> torch.Tensor:
    return (torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < 0.3).double()


def test_pooled_spikes_are_or_mean_and_count_of_each_window() -> None:
    spikes = _spikes((3, 2, 4, 6, 6))
    windows = spikes.reshape(3, 2, 4, 3, 2, 3, 2)  # [T, B, C, H/2, 2, W/2, 2]
    counts = windows.sum((4, 6))
    assert torch.equal(Pool2d("max", 2)(spikes), (counts > 0).double())
    assert torch.equal(Pool2d("avg", 2)(spikes), counts / 4)
    assert torch.equal(Pool2d("sum", 2)(spikes), counts)


def test_a_remainder_row_and_column_are_dropped() -> None:
    assert Pool2d("max", 2)(_spikes((1, 1, 1, 5, 7))).shape == (1, 1, 1, 2, 3)


@pytest.mark.parametrize("kind", ["avg", "sum"])
def test_linear_pools_match_finite_differences(kind: str) -> None:
    x = torch.randn(2, 2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: Pool2d(kind, 2)(t), (x,))


def test_max_pool_matches_finite_differences_away_from_ties() -> None:
    x = torch.randperm(2 * 3 * 4 * 4).double().reshape(1, 2, 3, 4, 4).requires_grad_()  # distinct values
    assert torch.autograd.gradcheck(lambda t: Pool2d("max", 2)(t), (x,))


def test_max_pool_sends_the_gradient_to_one_spike_of_a_window() -> None:
    spikes = torch.ones(1, 1, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    Pool2d("max", 2)(spikes).sum().backward()
    assert spikes.grad.sum() == 1 and spikes.grad.flatten()[0] == 1  # the first maximum, row-major


def test_flatten_is_row_major_per_step_and_sample() -> None:
    x = torch.arange(2 * 3 * 2 * 2 * 2.).reshape(2, 3, 2, 2, 2)
    assert torch.equal(Flatten()(x), x.reshape(2, 3, 8))


@pytest.mark.parametrize(("kind", "size", "message"), [("min", 2, "unknown pooling 'min'"),
                                                       ("max", 1, "kernel_size must be >= 2")])
def test_bad_pools_are_refused(kind: str, size: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Pool2d(kind, size)


def test_pool_needs_time_major_images() -> None:
    with pytest.raises(ValueError, match=r"max pooling takes spikes \[T, B, C, H, W\]"):
        Pool2d("max", 2)(torch.zeros(3, 2, 16))
