"""Whole-pixel translation of images, compiled: the one definition used by the augmentation
(``spikekit.data.augment.random_shift``) and by the Poisson sampler's pass from raw image bytes
(``spikekit.data.poisson.poisson_byte_events``)."""

from __future__ import annotations

import numba


@numba.njit(inline="always")
def shift_image(source, out, offset_y, offset_x, channels, height, width):
    """out[c, y, x] = source[c, y + offset_y, x + offset_x], 0 where that lies outside the image.

    source, out: one image each, flat [C * H * W] (any dtype), C, H, W = channels, height, width;
    offsets in pixels, any sign."""
    for c in range(channels):
        for y in range(height):
            row = (c * height + y) * width
            source_y = y + offset_y
            if source_y < 0 or source_y >= height:
                out[row:row + width] = 0
                continue
            source_row = (c * height + source_y) * width
            for x in range(width):
                source_x = x + offset_x
                out[row + x] = source[source_row + source_x] if 0 <= source_x < width else 0


@numba.njit(parallel=True, cache=True)
def shift_images(images, offset_y, offset_x, channels, height, width, out):
    """``shift_image`` of every image, in parallel. images, out: [B, C * H * W]; offset_y, offset_x: [B]."""
    for b in numba.prange(images.shape[0]):
        shift_image(images[b], out[b], offset_y[b], offset_x[b], channels, height, width)
