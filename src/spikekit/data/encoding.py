"""Poisson rate coding: each pixel spikes at each step with probability equal to its intensity.

Two samplers of the same distribution, both driven by an explicit ``torch.Generator``:
- ``poisson_encode``: dense ``[T, B, P]`` float spikes from ``torch.rand < p`` (the reference);
- ``poisson_encode_events``: ``LazyEvents`` (spike events drawn on first use) from a counter-based sampler (see
  ``spikekit.data.poisson``), ~30x faster and what the fast engine consumes;
  ``poisson_encode_byte_events`` gives the same events from raw image bytes, gathered and shifted in the pass.
They draw different random numbers, so their spikes differ sample by sample, not in distribution.
"""

from __future__ import annotations

import torch
from torch import Tensor

from spikekit.data.poisson import INTENSITY_RANGE_ERROR, poisson_byte_events, poisson_events
from spikekit.spike_events import LazyEvents


def _check_steps(num_steps: int) -> None:
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps must be an integer >= 1, got {num_steps!r}")


def _check_shape(intensity: Tensor, num_steps: int) -> None:
    _check_steps(num_steps)
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

    For training, prefer ``poisson_encode_events``: the same distribution drawn by a compiled counter-based
    sampler as the events the fast engine's event-driven layer reads, where this draws T*B*P uniforms in
    PyTorch and the network then reads a dense tensor. This form is for plots, other devices and code that
    wants a dense tensor.
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
    return poisson_events(intensity, num_steps, _draw_key(generator))


def poisson_encode_byte_events(images: Tensor, index: Tensor, byte_intensity: Tensor, num_steps: int,
                               generator: torch.Generator, shape: tuple[int, int, int] | None = None,
                               offsets: tuple[Tensor, Tensor] | None = None) -> LazyEvents:
    """``poisson_encode_events(intensity, num_steps, generator)`` for ``intensity`` = ``byte_intensity[images[index]]``
    with image b translated by (offsets[0][b], offsets[1][b]) pixels: the same events, from the same key, made
    in one pass over the raw bytes (``data.poisson.poisson_byte_events`` gives the shapes).
    """
    _check_steps(num_steps)
    return poisson_byte_events(images, index, byte_intensity, num_steps, _draw_key(generator), shape, offsets)


def _draw_key(generator: torch.Generator) -> int:
    """The events' 63-bit stream key: one draw from ``generator``."""
    return int(torch.randint(0, 2**63 - 1, (1,), generator=generator, device=generator.device))


ENCODERS = {"dense": poisson_encode, "events": poisson_encode_events}
