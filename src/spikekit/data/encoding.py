"""Poisson rate coding: each pixel spikes at each step with probability equal to its intensity.

Two samplers of the same distribution, both driven by an explicit ``torch.Generator``:
- ``poisson_encode``: dense ``[T, B, P]`` float spikes from ``torch.rand < p`` (the reference);
- ``poisson_encode_events``: ``LazyEvents`` (spike events drawn on first use) from a counter-based sampler (see
  ``spikekit.kernels.poisson``), ~30x faster and what the fast engine consumes.
They draw different random numbers, so their spikes differ sample by sample, not in distribution.
"""

from __future__ import annotations

import torch
from torch import Tensor

from spikekit.kernels.events import LazyEvents
from spikekit.kernels.poisson import INTENSITY_RANGE_ERROR, poisson_events


def _check_shape(intensity: Tensor, num_steps: int) -> None:
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}")
    if intensity.dim() != 2:
        raise ValueError(f"intensity must be [B, P], got shape {list(intensity.shape)}")


def _check_range(intensity: Tensor) -> None:
    if intensity.numel():
        low, high = torch.aminmax(intensity)  # one pass (this check runs on every training batch)
        if not (low >= 0 and high <= 1):
            raise ValueError(INTENSITY_RANGE_ERROR)


def poisson_encode(intensity: Tensor, num_steps: int, generator: torch.Generator) -> Tensor:
    """Bernoulli spikes: ``spikes[t, b, p] = 1`` with probability ``intensity[b, p]``, independently.

    Args:
        intensity: [B, P] float in [0, 1], e.g. pixel byte / 255.
        num_steps: T >= 1.
        generator: source of randomness (on the device of ``intensity``).
    Returns:
        spikes [T, B, P] in {0., 1.}, dtype of ``intensity``.
    """
    _check_shape(intensity, num_steps)
    _check_range(intensity)
    draws = torch.rand((num_steps, *intensity.shape), generator=generator, device=intensity.device,
                       dtype=intensity.dtype)
    return (draws < intensity).to(intensity.dtype)


def poisson_encode_events(intensity: Tensor, num_steps: int, generator: torch.Generator) -> LazyEvents:
    """The same distribution as ``poisson_encode`` (to within 2**-17 in p), as ``LazyEvents``.

    One 63-bit key is drawn from ``generator``; the events are a pure function of it. The sampler checks
    the range of the intensities itself, in the pass that reads them.
    """
    _check_shape(intensity, num_steps)
    key = int(torch.randint(0, 2**63 - 1, (1,), generator=generator, device=generator.device))
    return poisson_events(intensity, num_steps, key)


ENCODERS = {"dense": poisson_encode, "events": poisson_encode_events}
