"""Training-time augmentation of image intensities, drawn from an explicit generator (so resume stays exact)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def random_shift(intensity: Tensor, shape: tuple[int, ...], max_shift: int, generator: torch.Generator) -> Tensor:
    """Translate each image by its own whole-pixel offset (dy, dx), each uniform in [-max_shift, max_shift].

    Pixels shifted in from outside the image are 0 (MNIST's background), pixels shifted out are lost.

    Args:
        intensity: [B, P] images, P = C * H * W flattened from ``shape``.
        shape: (C, H, W) of one image; a 1-D shape (a non-image input) is returned unchanged.
        max_shift: largest offset in pixels (0: no change).
        generator: source of the offsets (on the device of ``intensity``); two draws of B integers.
    Returns:
        [B, P] tensor of the same dtype.
    """
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    if max_shift == 0 or len(shape) != 3 or intensity.shape[0] == 0:
        return intensity
    batch = intensity.shape[0]
    channels, height, width = shape
    device = intensity.device
    padded = F.pad(intensity.reshape(batch, channels, height, width), (max_shift,) * 4)
    span = 2 * max_shift + 1
    dy = torch.randint(0, span, (batch,), generator=generator, device=device)
    dx = torch.randint(0, span, (batch,), generator=generator, device=device)
    # One flat gather: sample b's window starts at padded[b, 0, dy_b, dx_b]; the window's own layout is the
    # same for every sample. (4-way advanced indexing measured 3-4 ms a batch of 128, this ~0.3 ms.)
    padded_h, padded_w = height + 2 * max_shift, width + 2 * max_shift
    starts = torch.arange(batch, device=device) * (channels * padded_h * padded_w) + dy * padded_w + dx
    window = (torch.arange(channels, device=device)[:, None, None] * (padded_h * padded_w)
              + torch.arange(height, device=device)[:, None] * padded_w + torch.arange(width, device=device))
    return torch.take(padded, starts[:, None] + window.reshape(1, -1))
