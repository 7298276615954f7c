"""Counter-based Poisson (Bernoulli-per-step) sampler that writes ``SpikeEvents`` directly (lazily).

Why not ``torch.rand(...) < p``: that draws one float per pixel per step, ~10M per T=100 batch, on
one thread, and is ~40% of a training step in every SNN library. Here:
- only pixels with p > 0 are visited (~19% of MNIST pixels); the rest can never spike;
- pixels with p >= 1/2 are written as per-sample defaults with an event only where they stay
  silent (``SpikeEvents``), so a row holds ~21 events instead of ~103 on MNIST;
- one 64-bit draw serves four pixels: each takes 16 bits ``u`` and spikes iff ``u < round(p*65536)``,
  so the spike probability is p to within 2**-17 (exact for p = k/256, e.g. raw MNIST bytes / 256);
- every (step, sample) row has its own stream, ``splitmix64(key, row, draw)``, so rows run in
  parallel on every core and the result does not depend on the thread count.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import Tensor

from spikekit.data.shift import shift_image
from spikekit.kernels.intrinsics.select import LANES, select_lanes, select_levels
from spikekit.spike_events import LazyEvents, SpikeEvents, index_dtype

INTENSITY_RANGE_ERROR = "intensity must lie in [0, 1] (NaN is not allowed)"
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_HALF = np.uint32(32768)  # level of p = 1/2: pixels at or above it are defaults
_ALWAYS = np.uint32(65537)  # past the largest level, 65536 (p = 1)


@numba.njit(inline="always")
def _splitmix64(z):
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@numba.njit(inline="always")
def _level(x):
    """A pixel's level: round(x * 65536), half to even as ``torch.round`` (exact: the product by a power of two is
    exact in float32); x a float32 intensity in [0, 1]."""
    return np.uint32(np.rint(x * np.float32(65536)))


@numba.njit(inline="always")
def _checked_level(x):
    """(``_level(x)``, 0) for x in [0, 1]; (0, 1) for x outside it or NaN: the samplers count such inputs in the
    pass that reads them anyway and refuse the batch."""
    valid = x >= 0 and x <= 1  # False for NaN
    return _level(x if valid else np.float32(0)), np.int64(not valid)


@numba.njit(inline="always")
def _select_active(levels, active, active_levels, num_pixels):
    """Keep the pixels of one image with level > 0 (levels: [P + LANES], padded for ``select_levels``' reads):
    active[:n] = first the defaults (level >= 1/2), then the others, each group in pixel order, with their
    levels in active_levels; 16 pixels a test (``kernels.intrinsics.select.select_levels``).
    Returns (num_defaults, n)."""
    n = 0
    for start in range(0, num_pixels, LANES):
        n += select_levels(active, active_levels, n, levels, start, num_pixels - start, _HALF, _ALWAYS)
    num_defaults = n
    for start in range(0, num_pixels, LANES):
        n += select_levels(active, active_levels, n, levels, start, num_pixels - start, 1, _HALF)
    return num_defaults, n


@numba.njit(parallel=True, cache=True)
def _active_pixels(intensity, active, active_levels, num_active, num_defaults, num_invalid):
    """``_select_active`` of every image of ``intensity`` [B, P] (float32), in parallel, into active,
    active_levels [B, P + LANES] and num_defaults, num_active [B]. num_invalid[b]: how many intensities of
    image b lie outside [0, 1] or are NaN (checked here, in the pass that reads them anyway; their levels
    are 0)."""
    num_pixels = intensity.shape[1]
    for b in numba.prange(intensity.shape[0]):
        levels = np.empty(num_pixels + LANES, np.uint32)
        invalid = 0
        for pixel in range(num_pixels):
            levels[pixel], bad = _checked_level(intensity[b, pixel])
            invalid += bad
        num_invalid[b] = invalid
        num_defaults[b], num_active[b] = _select_active(levels, active[b], active_levels[b], num_pixels)


@numba.njit(parallel=True, cache=True)
def _active_bytes(images, index, byte_intensity, offset_y, offset_x, channels, height, width, active, active_levels,
                  num_active, num_defaults):
    """``_active_pixels`` of the images ``images[index]`` translated by (offset_y, offset_x) (``shift.shift_image``),
    with intensities ``byte_intensity[byte]``. images: [N, P] uint8 (P = C * H * W); index, offset_y, offset_x:
    [B]; byte_intensity: [256] float32. Returns (how many byte intensities lie outside [0, 1] or are NaN, how
    many indices lie outside [0, N)); nothing is written unless both are 0."""
    byte_levels = np.empty(256, np.uint32)  # a pixel's level is then one load (no multiply and round per pixel)
    bad_intensities = 0
    for byte in range(256):
        byte_levels[byte], bad = _checked_level(byte_intensity[byte])
        bad_intensities += bad
    bad_indices = 0
    for b in range(index.shape[0]):
        bad_indices += np.int64(not (0 <= index[b] < images.shape[0]))
    if bad_intensities or bad_indices:
        return bad_intensities, bad_indices
    num_pixels = images.shape[1]
    for b in numba.prange(index.shape[0]):
        shifted = np.empty(num_pixels, np.uint8)
        shift_image(images[index[b]], shifted, offset_y[b], offset_x[b], channels, height, width)
        levels = np.empty(num_pixels + LANES, np.uint32)
        for pixel in range(num_pixels):
            levels[pixel] = byte_levels[shifted[pixel]]
        num_defaults[b], num_active[b] = _select_active(levels, active[b], active_levels[b], num_pixels)
    return 0, 0


@numba.njit(parallel=True, cache=True)
def _sample(active_levels, active, num_active, num_defaults, key, num_steps, first, total, num_parts, indices, num_on,
            num_off):
    """active, active_levels: [B, P + LANES] as ``_active_pixels``; out: indices [T*B, C], num_on/num_off [T*B].

    Defaults (``SpikeEvents``) that stay silent are off events, written from the back of the row;
    the other pixels' spikes are on events, from the front. The B samples are ``first:first+B`` of a
    batch of ``total``; the stream of (t, b) is keyed by t * total + first + b, so a sample draws the
    same spikes in any slice. Active pixel k of a row takes 16-bit lane k % 4 of the row's draw
    number k // 4 + 1.
    """
    batch_size, capacity = active.shape[0], indices.shape[1]
    rows = num_steps * batch_size
    per_part = (rows + num_parts - 1) // num_parts
    for part in numba.prange(num_parts):
        words = np.empty((active.shape[1] + 3) // 4, np.uint64)
        uniforms = words.view(np.uint16)  # lane k % 4 of word k // 4 (little-endian; big-endian: other lanes)
        silent = np.empty(active.shape[1], active.dtype)
        for row in range(part * per_part, min(rows, (part + 1) * per_part)):
            t, b = row // batch_size, row % batch_size
            stream = _splitmix64(key + np.uint64(t * total + first + b) * _GOLDEN)
            # Draw all the row's words first: without the compaction below in the same loop, this
            # loop vectorises (measured 0.43 -> 0.29 ms to draw a T=25 batch of 128).
            for word in range((num_active[b] + 3) // 4):
                words[word] = _splitmix64(stream + np.uint64(word + 1) * _GOLDEN)
            # The row's events, 16 pixels a test (``kernels.intrinsics.select.select_lanes``): the silent defaults into
            # ``silent`` first, then copied to the back of the row, last slot first (the order the
            # event kernels sum them in); the spikes of the others straight to the front.
            off = 0
            for k in range(0, num_defaults[b], LANES):
                off += select_lanes(silent, off, active[b], uniforms, active_levels[b], k, num_defaults[b] - k, True)
            for e in range(off):
                indices[row, capacity - 1 - e] = silent[e]
            on = 0
            for k in range(num_defaults[b], num_active[b], LANES):
                on += select_lanes(indices[row], on, active[b], uniforms, active_levels[b], k, num_active[b] - k,
                                   False)
            num_on[row] = on
            num_off[row] = off


def _active_buffers(batch_size: int, num_pixels: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Empty active [B, P + LANES] (padded for ``select_lanes``), active_levels (the same shape, int32 holding
    uint32 levels), num_active and num_defaults [B] int32, for ``_active_pixels`` or ``_active_bytes``."""
    active = torch.empty(batch_size, num_pixels + LANES, dtype=index_dtype(num_pixels))
    active_levels = torch.empty(active.shape, dtype=torch.int32)
    return active, active_levels, torch.empty(batch_size, dtype=torch.int32), torch.empty(batch_size, dtype=torch.int32)


def poisson_events(intensity: Tensor, num_steps: int, key: int) -> LazyEvents:
    """Sample Poisson spike events for intensities in [0, 1] (``ValueError`` for any outside, or NaN).

    Args:
        intensity: spike probability per step, shape [B, P], float, values in [0, 1].
        num_steps: T, number of time steps (>= 1).
        key: 64-bit stream key; the same (intensity, num_steps, key) always gives the same events.
    Returns:
        events standing for spikes of shape [T, B, P], drawn when first used (whole or per slice).
    """
    intensity = intensity.detach().cpu().float().contiguous()
    active, active_levels, num_active, num_defaults = _active_buffers(*intensity.shape)
    num_invalid = torch.empty(intensity.shape[0], dtype=torch.int32)
    _active_pixels(intensity.numpy(), active.numpy(), active_levels.numpy().view(np.uint32), num_active.numpy(),
                   num_defaults.numpy(), num_invalid.numpy())
    if num_invalid.any():
        raise ValueError(INTENSITY_RANGE_ERROR)
    return _lazy_events(active, active_levels, num_active, num_defaults, intensity.shape[1], num_steps, key)


def poisson_byte_events(images: Tensor, index: Tensor, byte_intensity: Tensor, num_steps: int, key: int,
                        shape: tuple[int, int, int] | None = None,
                        offsets: tuple[Tensor, Tensor] | None = None) -> LazyEvents:
    """``poisson_events(intensity, num_steps, key)`` for the intensities ``byte_intensity[images[index]]``, each
    image translated by its offsets: the same events, straight from the raw bytes in one compiled pass.

    Why: in the training loop, gathering the batch as floats, translating it and reading it again to find the
    active pixels took ~0.35 ms of a ~2.9 ms batch (784-128-10, T=25); this pass takes ~0.25 there (0.13 ms
    against 0.20 alone, with the offsets' and key's draws).

    Args:
        images: [N, P] uint8 raw images.
        index: [B] integer, the images of the batch.
        byte_intensity: [256] float32 in [0, 1], the intensity of each byte value (e.g. byte / 255).
        num_steps, key: as ``poisson_events``.
        shape: (C, H, W) of one image, C * H * W = P (needed with ``offsets``).
        offsets: (dy, dx), [B] integers each: image b is shifted as ``data.shift.shift_image`` with
            offsets (dy[b], dx[b]) pixels; None: no shift.
    Returns:
        ``LazyEvents`` of shape [T, B, P].
    """
    if images.dtype != torch.uint8 or images.dim() != 2:
        raise ValueError(f"images must be [N, P] uint8, got {images.dtype} of shape {list(images.shape)}")
    byte_intensity = byte_intensity.detach().cpu().float().contiguous()
    if byte_intensity.shape != (256,):
        raise ValueError(f"byte_intensity must be 256 values in [0, 1], got shape {list(byte_intensity.shape)}")
    num_pixels = images.shape[1]
    shape = (1, 1, num_pixels) if shape is None else tuple(shape)
    if len(shape) != 3 or shape[0] * shape[1] * shape[2] != num_pixels:
        raise ValueError(f"shape {list(shape)} is not (C, H, W) of {num_pixels} pixels")
    index = index.detach().cpu().long().contiguous()
    if offsets is None:
        offsets = (torch.zeros_like(index), torch.zeros_like(index))
    offset_y, offset_x = (offset.detach().cpu().long().contiguous() for offset in offsets)
    active, active_levels, num_active, num_defaults = _active_buffers(len(index), num_pixels)
    # The range checks run inside the kernel (~15 us of Python and torch ops a batch, in the training loop)
    bad_intensities, bad_indices = _active_bytes(
        images.contiguous().numpy(), index.numpy(), byte_intensity.numpy(), offset_y.numpy(), offset_x.numpy(), *shape,
        active.numpy(), active_levels.numpy().view(np.uint32), num_active.numpy(), num_defaults.numpy())
    if bad_intensities:
        raise ValueError(f"byte_intensity must be 256 values in [0, 1]; {bad_intensities} are not (or are NaN)")
    if bad_indices:
        raise IndexError(f"{bad_indices} image indices out of range for {len(images)} images")
    return _lazy_events(active, active_levels, num_active, num_defaults, num_pixels, num_steps, key)


def _lazy_events(active: Tensor, active_levels: Tensor, num_active: Tensor, num_defaults: Tensor, num_pixels: int,
                 num_steps: int, key: int) -> LazyEvents:
    """The ``LazyEvents`` [T, B, P] whose draws ``_sample`` makes from the active pixels of a batch."""
    batch_size = active.shape[0]
    num_parts = numba.get_num_threads()
    capacity = max(1, int(num_active.max())) if batch_size else 1

    def draw(start: int, stop: int) -> SpikeEvents:
        rows = num_steps * (stop - start)
        indices = torch.empty(rows, capacity, dtype=index_dtype(num_pixels))
        num_on, num_off = torch.empty(rows, dtype=torch.int32), torch.empty(rows, dtype=torch.int32)
        _sample(active_levels[start:stop].numpy().view(np.uint32), active[start:stop].numpy(),
                num_active[start:stop].numpy(), num_defaults[start:stop].numpy(), np.uint64(key % 2**64),
                num_steps, start, batch_size, num_parts, indices.numpy(), num_on.numpy(), num_off.numpy())
        shape = (num_steps, stop - start)
        return SpikeEvents(indices.reshape(*shape, capacity), num_on.reshape(shape), num_off.reshape(shape),
                           active[start:stop], num_defaults[start:stop], num_pixels)  # defaults lead ``active``
    return LazyEvents((num_steps, batch_size, num_pixels), draw)
